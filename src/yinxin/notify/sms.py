"""SMS through providers: Aliyun SMS (阿里云短信, dysmsapi ``SendSms``) and a generic HTTP API.

Mainland providers send only templates registered and approved with them: the request names
the provider's template code and gives the template's values as parameters, and the provider
puts in its own wording and the approved signature (签名, e.g. 【印信】). Our template ids are
mapped to those codes by ``TemplateCodes`` (``YINXIN_SMS_TEMPLATES``); the parameters are the
template's fields, by our field names — register the provider's templates with the same
variable names (``${code}``, ``${minutes}``, ``${document}``…), or name the subset a provider
template takes (``one_time_code=SMS_123:code``).

Aliyun requests are signed as the provider documents for its RPC API ("Signature Version 1.0"):
every parameter but ``Signature``, sorted by name, names and values percent-encoded (UTF-8; only
``A–Z a–z 0–9 - _ . ~`` left as they are, space as ``%20``), joined as ``k=v&…``; the string to
sign is ``POST&%2F&`` followed by that string percent-encoded once more; the signature is the
base64 HMAC-SHA1 of it under the key ``AccessKeySecret + "&"``. Each request has a fresh
``SignatureNonce`` and a UTC ``Timestamp`` (``YYYY-MM-DDThh:mm:ssZ``) from the platform clock.
An answer whose ``Code`` is not ``OK`` is a failure; codes that say the request itself is wrong
(bad number, template or signature not approved, bad parameters) are permanent, the rest (flow
control, balance, the provider's own errors, our credentials) retryable.

Every request carries the message's key (``yx-<id>-<nonce>``, the same on every attempt of one
send-log row): Aliyun as ``OutId`` (外部流水扩展字段, signed with the other parameters and echoed
in its delivery receipts — Aliyun documents that SendSms is not idempotent, so the key is how a
re-sent message is recognised, not something Aliyun drops), the generic HTTP adapter as a JSON
field (``message_id`` unless configured) and an ``Idempotency-Key`` header, for a provider that
drops repeats.

The timeout bounds each connect, write and read, not the request: a provider trickling its
answer a byte at a time, each inside the timeout, would hold the message — and the notifier's
run behind it — past the send log's ``stale_seconds`` (10 minutes), after which another process
sends the SMS again. So one request, from connecting to the last byte of the answer, has a limit
(``limit_seconds``, 1 minute): then its connection is cut (``notify.deadline``, on a fresh
connection per request) and the send fails, retryable, with "no complete answer within N s".

Neither the AccessKey secret nor the bearer/HMAC secret ever appears in an error or a log line:
errors name the provider's answer, or the kind of network failure, never the request.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from yinxin.clock import Clock, SystemClock
from yinxin.errors import ConfigurationError
from yinxin.notify.deadline import Deadline
from yinxin.notify.gateways import DeliveryError, Message
from yinxin.notify.templates import TemplateCodes, TemplateLibrary, default_library
from yinxin.settings import MessageSettings

ALIYUN_ENDPOINT = "https://dysmsapi.aliyuncs.com"
ALIYUN_API_VERSION = "2017-05-25"
# One request's whole exchange; well under the send log's stale_seconds (600), so a row is never
# sent again by another process while a trickling provider still holds it.
SMS_LIMIT_SECONDS = 60.0
# Codes in the SendSms answer after which sending the same request again cannot succeed.
ALIYUN_PERMANENT = frozenset(
    {
        "isv.MOBILE_NUMBER_ILLEGAL",  # not a valid mobile number
        "isv.MOBILE_COUNT_OVER_LIMIT",
        "isv.SMS_TEMPLATE_ILLEGAL",  # template code unknown or not approved
        "isv.SMS_SIGNATURE_ILLEGAL",  # sign name unknown or not approved
        "isv.SMS_SIGN_ILLEGAL",
        "isv.SIGN_NAME_ILLEGAL",
        "isv.TEMPLATE_MISSING_PARAMETERS",
        "isv.TEMPLATE_PARAMS_ILLEGAL",
        "isv.INVALID_PARAMETERS",
        "isv.INVALID_JSON_PARAM",
        "isv.BLACK_KEY_CONTROL_LIMIT",  # a value holds a blocked word
        "isv.PARAM_LENGTH_LIMIT",  # a value is too long for its variable
        "isv.PARAM_NOT_SUPPORT_URL",  # a link in a variable the template did not declare
        "isv.SMS_CONTENT_ILLEGAL",
        "isv.DOMESTIC_NUMBER_NOT_SUPPORTED",
        "isv.EXTEND_CODE_ERROR",
    }
)


def percent_encode(value: str) -> str:
    """Aliyun's encoding: UTF-8, everything but ``A–Z a–z 0–9 - _ . ~`` as %XY (upper-case
    hex), so a space is %20 (not +), ``*`` is %2A and ``~`` stays."""
    return urllib.parse.quote(value, safe="")


def aliyun_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    canonical = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items())
    )
    return f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"


def aliyun_signature(secret: str, method: str, params: Mapping[str, str]) -> str:
    """Base64 HMAC-SHA1 of the string to sign, keyed by ``secret + "&"``."""
    digest = hmac.new(
        (secret + "&").encode("utf-8"),
        aliyun_string_to_sign(method, params).encode("utf-8"),
        hashlib.sha1,
    ).digest()
    return base64.b64encode(digest).decode("ascii")


class SmsGateway:
    """What the provider adapters share: the "sms" channel, the template codes, the template
    parameters and an HTTP client with timeouts, each request under ``limit_seconds`` in all."""

    channel = "sms"

    def __init__(
        self,
        *,
        codes: TemplateCodes | Mapping[str, str] | None = None,
        templates: TemplateLibrary | None = None,
        timeout: float = 10.0,
        limit_seconds: float = SMS_LIMIT_SECONDS,
        clock: Clock | None = None,
    ):
        if limit_seconds <= 0:
            raise ConfigurationError(
                "the SMS limit per request must be positive", field="limit_seconds"
            )
        self.codes = codes if isinstance(codes, TemplateCodes) else TemplateCodes(dict(codes or {}))
        self.templates = templates or default_library
        self.clock = clock or SystemClock()
        self.timeout = timeout
        self.limit_seconds = limit_seconds
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self._client.close()

    def parameters(self, template_id: str | None, values: Mapping[str, object] | None) -> dict:
        """The template's values by field name, as strings (providers refuse numbers); only
        those the provider's template takes, where ``YINXIN_SMS_TEMPLATES`` narrows them."""
        if not template_id:
            return {}
        names = self.codes.variables_of(self.templates.get(template_id))
        vals = values or {}
        return {k: str(vals[k]) for k in names if k in vals}

    def _post(self, url: str, *, headers: Mapping[str, str], **kwargs) -> httpx.Response:
        """POST and read the whole answer within ``limit_seconds``: the timeout alone bounds each
        read, so a trickling provider could hold the message past the send log's stale mark and
        have it sent twice. A fresh connection per request (``Connection: close``) is handed to
        the deadline as it connects, and cut when the limit is reached."""
        deadline = Deadline(self.limit_seconds)
        try:
            with deadline:
                return self._client.post(
                    url,
                    headers={**headers, "Connection": "close"},
                    extensions={"trace": deadline.trace},
                    **kwargs,
                )
        except httpx.HTTPError as e:
            if deadline.expired:  # the error is the cut connection's: say why it was cut
                raise DeliveryError(f"the SMS provider gave {deadline.reason()}") from None
            if isinstance(e, httpx.TimeoutException):
                raise DeliveryError(
                    f"the SMS provider did not answer in time ({type(e).__name__})"
                ) from None
            # The exception's text may hold the URL; its kind is enough to act on.
            raise DeliveryError(f"cannot reach the SMS provider ({type(e).__name__})") from None


class AliyunSmsGateway(SmsGateway):
    """Aliyun SMS ``SendSms`` (API version 2017-05-25) with the documented RPC signature."""

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        codes: TemplateCodes | Mapping[str, str] | None = None,
        endpoint: str = ALIYUN_ENDPOINT,
        region: str = "cn-hangzhou",
        templates: TemplateLibrary | None = None,
        timeout: float = 10.0,
        limit_seconds: float = SMS_LIMIT_SECONDS,
        clock: Clock | None = None,
    ):
        missing = [
            n
            for n, v in (
                ("YINXIN_ALIYUN_ACCESS_KEY_ID", access_key_id),
                ("YINXIN_ALIYUN_ACCESS_KEY_SECRET", access_key_secret),
                ("YINXIN_ALIYUN_SIGN_NAME", sign_name),
            )
            if not v
        ]
        if missing:
            raise ConfigurationError(f"Aliyun SMS needs {', '.join(missing)}", field=missing[0])
        super().__init__(
            codes=codes,
            templates=templates,
            timeout=timeout,
            limit_seconds=limit_seconds,
            clock=clock,
        )
        self.access_key_id, self.sign_name, self.region = access_key_id, sign_name, region
        self._secret = access_key_secret
        self.endpoint = _check_url(endpoint, "YINXIN_ALIYUN_ENDPOINT").rstrip("/") + "/"

    def __repr__(self) -> str:
        return f"AliyunSmsGateway({self.endpoint}, key id {self.access_key_id})"

    def request_parameters(
        self,
        recipient: str,
        template_code: str,
        params: Mapping[str, str],
        out_id: str | None = None,
    ) -> dict[str, str]:
        """Every parameter of the request, signature included; ``out_id`` (the message key) is
        sent as ``OutId`` and signed like the rest."""
        p = {
            "AccessKeyId": self.access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "PhoneNumbers": recipient,
            "RegionId": self.region,
            "SignName": self.sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "TemplateCode": template_code,
            "TemplateParam": json.dumps(params, ensure_ascii=False, separators=(",", ":")),
            "Timestamp": self.clock.now().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": ALIYUN_API_VERSION,
        }
        if out_id:
            p["OutId"] = out_id[:255]  # documented: a string shorter than 256
        p["Signature"] = aliyun_signature(self._secret, "POST", p)
        return p

    def send(self, message: Message) -> str:
        template_id = message.template_id
        code = self.codes.get(template_id or "")
        if not code:
            raise DeliveryError(
                f"no Aliyun template code for message template {template_id!r} "
                "(set YINXIN_SMS_TEMPLATES)",
                permanent=True,
            )
        p = self.request_parameters(
            message.recipient,
            code,
            self.parameters(template_id, message.values),
            out_id=message.message_key,
        )
        form = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in p.items())
        r = self._post(
            self.endpoint,
            content=form.encode("ascii"),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        answer = _json(r)
        if not isinstance(answer, dict) or "Code" not in answer:
            raise DeliveryError(
                f"Aliyun SMS answered HTTP {r.status_code} without a result",
                permanent=False,
            )
        result = str(answer.get("Code"))
        if result == "OK":
            return str(answer.get("BizId") or answer.get("RequestId") or "")
        message = " ".join(str(answer.get("Message") or "").split())[:300]
        raise DeliveryError(
            f"Aliyun SMS refused: {result} {message} (request {answer.get('RequestId', '?')})",
            permanent=result in ALIYUN_PERMANENT,
        )


@dataclass(frozen=True)
class HttpSmsFields:
    """The JSON field names of the generic HTTP provider's request; an empty name leaves that
    part out. ``to``: the mobile number; ``text``: the full message text; ``template``: the
    provider's template code (our template id when none is mapped); ``params``: the values;
    ``message_id``: the message key, the same on every attempt (also sent as the
    ``Idempotency-Key`` header, which stays when the field is left out)."""

    to: str = "to"
    text: str = "text"
    template: str = "template"
    params: str = "params"
    message_id: str = "message_id"

    @classmethod
    def parse(cls, text: str | None, *, name: str = "YINXIN_SMS_HTTP_FIELDS") -> HttpSmsFields:
        """``to=mobile,text=content,template=templateId,params=,message_id=outId`` (empty:
        leave out)."""
        out: dict[str, str] = {}
        for pair in (text or "").replace(" ", "").split(","):
            if not pair:
                continue
            key, eq, value = pair.partition("=")
            if not eq or key not in cls.__dataclass_fields__:
                raise ConfigurationError(
                    f"{name}: {pair[:40]!r} is not one of to=, text=, template=, params=, "
                    "message_id=",
                    field=name,
                )
            out[key] = value
        return cls(**out)


HTTP_AUTH = ("bearer", "hmac", "none")
RETRYABLE_HTTP = frozenset({401, 403, 408, 425, 429})


class HttpSmsGateway(SmsGateway):
    """POSTs one JSON object a message to a configured URL (an in-house SMS platform, another
    provider's simple API). Authenticated by ``Authorization: Bearer <token>``, or by an HMAC:
    ``X-Yinxin-Timestamp`` (Unix seconds) and ``X-Yinxin-Signature: sha256=<hex>``, the
    HMAC-SHA256 under the secret of ``<timestamp>.<body>``. A 2xx answer is success (the id is
    read from the answer's ``id_field``); other 4xx answers say the message itself is refused
    and are permanent, except 401/403 (our credentials: fixed, a retry passes), 408 and 429;
    those, 5xx and network failures are retryable. The message key goes in the body's
    ``message_id`` field and the ``Idempotency-Key`` header, the same on every attempt, so a
    provider that keeps keys drops a repeat and one that does not lets the receiver spot it."""

    def __init__(
        self,
        *,
        url: str,
        token: str | None = None,
        auth: str = "bearer",
        fields: HttpSmsFields | None = None,
        id_field: str = "id",
        codes: TemplateCodes | Mapping[str, str] | None = None,
        templates: TemplateLibrary | None = None,
        timeout: float = 10.0,
        limit_seconds: float = SMS_LIMIT_SECONDS,
        clock: Clock | None = None,
    ):
        if auth not in HTTP_AUTH:
            raise ConfigurationError(
                f"YINXIN_SMS_HTTP_AUTH must be one of {', '.join(HTTP_AUTH)}",
                field="YINXIN_SMS_HTTP_AUTH",
            )
        if auth != "none" and not token:
            raise ConfigurationError(
                f"YINXIN_SMS_HTTP_AUTH={auth} needs YINXIN_SMS_HTTP_TOKEN",
                field="YINXIN_SMS_HTTP_TOKEN",
            )
        super().__init__(
            codes=codes,
            templates=templates,
            timeout=timeout,
            limit_seconds=limit_seconds,
            clock=clock,
        )
        self.url = _check_url(url, "YINXIN_SMS_HTTP_URL")
        self.auth, self._token = auth, token or ""
        self.fields = fields or HttpSmsFields()
        self.id_field = id_field

    def __repr__(self) -> str:
        return f"HttpSmsGateway({_without_credentials(self.url)}, {self.auth})"

    def request_body(
        self,
        recipient: str,
        body: str,
        template_id: str | None,
        values: Mapping[str, object],
        message_key: str | None = None,
    ) -> bytes:
        f = self.fields
        doc: dict[str, object] = {}
        if f.message_id and message_key:
            doc[f.message_id] = message_key
        if f.to:
            doc[f.to] = recipient
        if f.text:
            doc[f.text] = body
        if f.template:
            doc[f.template] = self.codes.get(template_id or "") or template_id
        if f.params:
            doc[f.params] = self.parameters(template_id, values)
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def headers(self, content: bytes, message_key: str | None = None) -> dict[str, str]:
        h = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
        if message_key:
            h["Idempotency-Key"] = message_key
        if self.auth == "bearer":
            h["Authorization"] = f"Bearer {self._token}"
        elif self.auth == "hmac":
            ts = str(int(self.clock.now().timestamp()))
            mac = hmac.new(self._token.encode(), ts.encode() + b"." + content, hashlib.sha256)
            h["X-Yinxin-Timestamp"] = ts
            h["X-Yinxin-Signature"] = "sha256=" + mac.hexdigest()
        return h

    def send(self, message: Message) -> str:
        key = message.message_key
        content = self.request_body(
            message.recipient, message.body, message.template_id, message.values, key
        )
        r = self._post(self.url, content=content, headers=self.headers(content, key))
        if 200 <= r.status_code < 300:
            answer = _json(r)
            found = answer.get(self.id_field) if isinstance(answer, dict) else None
            return str(found) if found is not None else ""
        detail = " ".join(r.text.split())[:200]
        raise DeliveryError(
            f"the SMS provider answered HTTP {r.status_code}: {detail}",
            permanent=400 <= r.status_code < 500 and r.status_code not in RETRYABLE_HTTP,
        )


def sms_gateway(
    config: MessageSettings,
    *,
    clock: Clock | None = None,
    templates: TemplateLibrary | None = None,
) -> SmsGateway:
    """The configured provider's gateway (``YINXIN_SMS_PROVIDER`` ``aliyun`` or ``http``)."""
    codes = TemplateCodes.parse(config.sms_templates, templates)
    if config.sms_provider == "aliyun":
        return AliyunSmsGateway(
            access_key_id=config.aliyun_access_key_id,
            access_key_secret=config.aliyun_access_key_secret,
            sign_name=config.aliyun_sign_name,
            codes=codes,
            endpoint=config.aliyun_endpoint or ALIYUN_ENDPOINT,
            region=config.aliyun_region or "cn-hangzhou",
            templates=templates,
            timeout=config.sms_timeout,
            clock=clock,
        )
    if config.sms_provider == "http":
        return HttpSmsGateway(
            url=config.sms_http_url,
            token=config.sms_http_token,
            auth=config.sms_http_auth or "bearer",
            fields=HttpSmsFields.parse(config.sms_http_fields),
            id_field=config.sms_http_id_field or "id",
            codes=codes,
            templates=templates,
            timeout=config.sms_timeout,
            clock=clock,
        )
    raise ConfigurationError(
        f"YINXIN_SMS_PROVIDER must be aliyun, http or file, not {config.sms_provider!r}",
        field="YINXIN_SMS_PROVIDER",
    )


def _json(r: httpx.Response) -> object:
    """The provider's answer as JSON data, or ``None`` when it is not JSON (a proxy's error page):
    the caller then reports the HTTP status alone."""
    try:
        return r.json()
    except ValueError:
        return None


def _check_url(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{name} must be an http(s) URL", field=name)
    return url


def _without_credentials(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
