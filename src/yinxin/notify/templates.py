"""Message templates per scenario, kept as data so new scenarios and wordings plug in.

Chinese comes first; an English wording is given where a message may reach someone who reads
English (e-mail). SMS bodies start with the 【印信】 signature because mainland SMS carriers
refuse unsigned messages. A template names the values that are secret (the one-time code): the
send log stores the message rendered with those masked, so the code never reaches the database.

E-mail also goes out as HTML, rendered from the same template: a wording may carry its own HTML
form (``Wording.html``, for links and emphasis), otherwise the plain body is turned into HTML.
Either way every value is HTML-escaped before it is put in, so a name like ``<script>`` arrives
as text. SMS providers on the mainland send only templates registered with them, so each of our
template ids maps to the provider's template code (``TemplateCodes``, from
``YINXIN_SMS_TEMPLATES``).
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from yinxin.errors import ConfigurationError, NotFound, ValidationError

LANGS = ("zh", "en", "zh-en")
MASK = "******"


@dataclass(frozen=True)
class Wording:
    subject: str
    body: str
    # The HTML form of ``body`` (a fragment: what goes inside <body>), for e-mail; the same
    # fields, whose values are escaped. Without one, the plain body is turned into HTML.
    html: str | None = None


_URL = re.compile(r"https?://[^\s<>\"']+")
_HTML_PAGE = (
    '<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
    "</head>\n<body>\n{body}\n</body></html>\n"
)


def _fields(text: str) -> list[str]:
    return [name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name is not None]


# The one field whose value the platform makes (its own address: a signing link, a page of
# the site) and an e-mail may show as a link. Every other value — a title, a name, a reason —
# may be typed by a stranger, and was made a link whenever it looked like one.
_LINK_FIELDS = frozenset({"url"})


def _html_from_text(text: str, vals: Mapping[str, str]) -> str:
    """A plain-text body as HTML: literal text and values escaped, the platform's link
    (``url``) made a link, paragraphs (blank lines) into <p> and single line breaks into <br>.
    A flow titled "https://evil.example/pay" stays text: the platform's e-mail does not
    vouch for an address someone typed."""
    out: list[str] = []
    for literal, name, spec, _conv in string.Formatter().parse(text):
        out.append(html.escape(literal, quote=False))
        if name is None:
            continue
        value = format(vals[name], spec or "")
        shown = html.escape(value, quote=True)
        if name in _LINK_FIELDS and _URL.fullmatch(value):
            out.append(f'<a href="{shown}">{shown}</a>')
        else:
            out.append(shown)
    paragraphs = "".join(out).split("\n\n")
    return "\n".join("<p>" + p.replace("\n", "<br>\n") + "</p>" for p in paragraphs if p)


@dataclass(frozen=True)
class Template:
    id: str
    description: str
    zh: Wording
    en: Wording | None = None
    secret: tuple[str, ...] = ()
    fields: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        names: list[str] = []
        for w in (self.zh, self.en):
            if w is None:
                continue
            for text in (w.subject, w.body):
                for name in _fields(text):
                    # Only plain names: "{x.attr}" or "{x[0]}" would let a plugged-in template
                    # reach into the objects it is given.
                    if not name.isidentifier():
                        raise ValueError(f"template {self.id}: field {name!r} is not a plain name")
                    if name not in names:
                        names.append(name)
            # The HTML form says the same as the text: it may use no value the text lacks.
            extra = [n for n in _fields(w.html or "") if n not in names]
            if extra:
                raise ValueError(f"template {self.id}: the HTML form uses {extra[0]!r}")
        object.__setattr__(self, "fields", tuple(names))

    def render(self, values: Mapping[str, object], lang: str = "zh") -> tuple[str, str]:
        if lang not in LANGS:
            raise ValidationError(f"language must be one of {', '.join(LANGS)}", field="lang")
        for name in self.fields:
            v = values.get(name)
            if v is None or (isinstance(v, str) and not v.strip()):
                raise ValidationError(f"template {self.id} needs a value for {name}", field=name)
        vals = {k: str(values[k]) for k in self.fields}
        zh = Wording(self.zh.subject.format(**vals), self.zh.body.format(**vals))
        if lang == "zh" or self.en is None:
            return zh.subject, zh.body
        en = Wording(self.en.subject.format(**vals), self.en.body.format(**vals))
        if lang == "en":
            return en.subject, en.body
        return f"{zh.subject} / {en.subject}", f"{zh.body}\n\n{en.body}"

    def render_html(self, values: Mapping[str, object], lang: str = "zh") -> str:
        """The message as an HTML page (the e-mail's HTML alternative), every value escaped."""
        subject, _body = self.render(values, lang)  # checks the language and the values
        vals = {k: str(values[k]) for k in self.fields}
        escaped = {k: html.escape(v, quote=True) for k, v in vals.items()}

        def fragment(w: Wording) -> str:
            return w.html.format(**escaped) if w.html else _html_from_text(w.body, vals)

        if lang == "zh" or self.en is None:
            body = fragment(self.zh)
        elif lang == "en":
            body = fragment(self.en)
        else:
            body = fragment(self.zh) + '\n<hr>\n<div lang="en">\n' + fragment(self.en) + "\n</div>"
        return _HTML_PAGE.format(
            lang="en" if lang == "en" else "zh-CN", title=html.escape(subject), body=body
        )

    def render_masked(self, values: Mapping[str, object], lang: str = "zh") -> tuple[str, str]:
        """The form that may be stored: every secret value replaced by a mask."""
        return self.render({**values, **{k: MASK for k in self.secret}}, lang)

    def public_values(self, values: Mapping[str, object]) -> dict[str, object]:
        return {k: v for k, v in values.items() if k not in self.secret}


class TemplateLibrary:
    def __init__(self, templates: Iterable[Template] = ()):
        self._by_id: dict[str, Template] = {}
        for t in templates:
            self.register(t)

    def register(self, template: Template, *, replace: bool = False) -> None:
        if template.id in self._by_id and not replace:
            raise ValueError(f"template {template.id} is already registered")
        self._by_id[template.id] = template

    def get(self, template_id: str) -> Template:
        try:
            return self._by_id[template_id]
        except KeyError:
            raise NotFound(f"no message template {template_id!r}", field="template_id") from None

    def ids(self) -> list[str]:
        return sorted(self._by_id)

    def render(self, template_id: str, /, *, lang: str = "zh", **values: object) -> tuple[str, str]:
        return self.get(template_id).render(values, lang)


@dataclass(frozen=True)
class TemplateCodes:
    """Our template ids → an SMS provider's template codes (registered and approved with the
    provider, e.g. Aliyun ``SMS_123456``). A template without a code cannot go by that
    provider's SMS. ``variables`` narrows what a provider template is given where it declares
    fewer variables than ours (an Aliyun 验证码 template takes only ``${code}``)."""

    codes: Mapping[str, str] = field(default_factory=dict)
    variables: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def get(self, template_id: str) -> str | None:
        return self.codes.get(template_id)

    def variables_of(self, template: Template) -> tuple[str, ...]:
        """The fields the provider's template is given: all of ours unless narrowed."""
        return tuple(self.variables.get(template.id) or template.fields)

    def __bool__(self) -> bool:
        return bool(self.codes)

    @classmethod
    def parse(
        cls,
        text: str | None,
        library: TemplateLibrary | None = None,
        *,
        name: str = "YINXIN_SMS_TEMPLATES",
    ) -> TemplateCodes:
        """``one_time_code=SMS_123:code,sign_request=SMS_456`` (commas or whitespace between
        pairs; ``:a+b`` after a code: the provider's template takes only these of our fields);
        an unknown template id or field or a malformed pair is refused, naming the variable."""
        library = library or default_library
        known = set(library.ids())
        codes: dict[str, str] = {}
        variables: dict[str, tuple[str, ...]] = {}
        for pair in re.split(r"[,\s]+", (text or "").strip()):
            if not pair:
                continue
            tid, eq, rest = pair.partition("=")
            code, colon, names = rest.partition(":")
            tid, code = tid.strip(), code.strip()
            if not eq or not tid or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", code):
                raise ConfigurationError(
                    f"{name}: {pair[:60]!r} is not template_id=TEMPLATE_CODE[:field+field]",
                    field=name,
                )
            if tid not in known:
                raise ConfigurationError(f"{name}: no message template {tid!r}", field=name)
            if tid in codes:
                raise ConfigurationError(f"{name}: {tid} is given twice", field=name)
            codes[tid] = code
            if colon:
                chosen = tuple(n for n in names.split("+") if n)
                fields = library.get(tid).fields
                unknown = [n for n in chosen if n not in fields]
                if not chosen or unknown:
                    raise ConfigurationError(
                        f"{name}: template {tid} has no field {(unknown or [''])[0]!r} "
                        f"(its fields: {', '.join(fields)})",
                        field=name,
                    )
                variables[tid] = chosen
        return cls(codes, variables)


APPLICATION_RECEIVED = "application_received"
APPLICATION_REJECTED = "application_rejected"
CERTIFICATE_ISSUED = "certificate_issued"
CERTIFICATE_EXPIRING = "certificate_expiring"
CERTIFICATE_REVOKED = "certificate_revoked"
CERTIFICATE_FROZEN = "certificate_frozen"
CERTIFICATE_UNPAID = "certificate_unpaid"
CERTIFICATE_RELEASED = "certificate_released"
CERTIFICATE_RESTORED = "certificate_restored"
CERTIFICATE_EXPIRED = "certificate_expired"
CERTIFICATE_PAYMENT_DUE = "certificate_payment_due"
SUBSCRIBER_PHONE_CHANGED = "subscriber_phone_changed"
SUBSCRIBER_EMAIL_CHANGED = "subscriber_email_changed"
SUBSCRIBER_EMAIL_REMOVED = "subscriber_email_removed"
SEAL_CREATED = "seal_created"
SEAL_FROZEN = "seal_frozen"
SEAL_RELEASED = "seal_released"
SEAL_EXPIRED = "seal_expired"
SEAL_CHANGED = "seal_changed"
SEAL_REVOKED = "seal_revoked"
SIGNATURE_REQUESTED = "signature_requested"
ONE_TIME_CODE = "one_time_code"
LOGIN_CODE = "login_code"
REGISTRATION_CODE = "registration_code"
REGISTRATION_REGISTERED = "registration_registered"
PHONE_CHANGE_CODE = "phone_change_code"
PHONE_CHANGE_CURRENT_CODE = "phone_change_current_code"
EMAIL_CHANGE_CODE = "email_change_code"
EMAIL_CONFIRM_CODE = "email_confirm_code"
EMAIL_CHANGE_CURRENT_CODE = "email_change_current_code"
CERTIFICATE_KEY_CODE = "certificate_key_code"
SIGN_REQUEST = "sign_request"
SIGN_URGE = "sign_urge"
FLOW_COMPLETED = "flow_completed"
OBLIGATION_DUE = "obligation_due"

DEFAULT_TEMPLATES: tuple[Template, ...] = (
    Template(
        APPLICATION_RECEIVED,
        "证书申请已受理 — an application was accepted for review",
        Wording(
            "证书申请已受理",
            "【印信】{name}，您的数字证书申请（受理号 {application_id}）已受理，"
            "审核完成后将另行通知。",
        ),
        Wording(
            "Certificate application received",
            "{name}, your certificate application (no. {application_id}) has been received "
            "and will be reviewed; we will let you know the outcome.",
        ),
    ),
    Template(
        APPLICATION_REJECTED,
        "证书申请未通过审核 — an application was rejected, with the reason",
        Wording(
            "证书申请未通过审核",
            "【印信】{name}，您的数字证书申请（受理号 {application_id}）未通过审核，"
            "原因：{reason}。请补正后重新申请。",
        ),
        Wording(
            "Certificate application rejected",
            "{name}, your certificate application (no. {application_id}) was rejected; reason: "
            "{reason}. Please correct it and apply again.",
        ),
    ),
    Template(
        CERTIFICATE_ISSUED,
        "证书已签发 — a certificate was issued",
        Wording(
            "数字证书已签发",
            "【印信】{name}，您的数字证书（序列号 {serial}）已签发，有效期至 {not_after}。",
        ),
        Wording(
            "Certificate issued",
            "{name}, your certificate (serial {serial}) has been issued and is valid until "
            "{not_after}.",
        ),
    ),
    Template(
        CERTIFICATE_EXPIRING,
        "证书即将到期的更新提示 — renewal notice before expiry (001 §二.6)",
        Wording(
            "数字证书即将到期",
            "【印信】{name}，您的数字证书（序列号 {serial}）将于 {not_after} 到期（剩余 {days} "
            "天），请在到期前办理证书更新，以免影响使用。",
        ),
        Wording(
            "Your certificate expires soon",
            "{name}, your certificate (serial {serial}) expires on {not_after} (in {days} "
            "days). Please renew it before then to keep using it.",
        ),
    ),
    Template(
        CERTIFICATE_REVOKED,
        "证书已撤销 — a certificate was revoked",
        Wording(
            "数字证书已撤销",
            "【印信】{name}，您的数字证书（序列号 {serial}）已于 {at} 撤销，原因：{reason}。"
            "如非本人操作，请立即联系我们。",
        ),
        Wording(
            "Certificate revoked",
            "{name}, your certificate (serial {serial}) was revoked at {at} (Beijing time); "
            "reason: {reason}. If you did not ask for this, contact us at once.",
        ),
    ),
    Template(
        CERTIFICATE_FROZEN,
        "证书已冻结 — a certificate was put on hold",
        Wording(
            "数字证书已冻结",
            "【印信】{name}，您的数字证书（序列号 {serial}）已于 {at} 冻结，冻结期间不能用于"
            "签名。如非本人操作，请立即联系我们。",
        ),
        Wording(
            "Certificate on hold",
            "{name}, your certificate (serial {serial}) was put on hold at {at} (Beijing time) "
            "and cannot sign until it is released. If you did not ask for this, contact us at "
            "once.",
        ),
    ),
    Template(
        CERTIFICATE_UNPAID,
        "证书因服务费未缴停止服务 — a certificate was stopped for unpaid fees (000 篇七)",
        Wording(
            "数字证书因服务费未缴已停止服务",
            "【印信】{name}，您的数字证书（序列号 {serial}）的服务费已缴至 {paid_until}，"
            "证书已于 {at} 停止服务，停止期间不能用于签名。请缴纳续费后办理解冻。",
        ),
        Wording(
            "Certificate stopped: fees unpaid",
            "{name}, the service of your certificate (serial {serial}) was paid until "
            "{paid_until}; it was stopped at {at} (Beijing time) and cannot sign until the "
            "renewal fee is paid and it is released.",
        ),
    ),
    Template(
        CERTIFICATE_RELEASED,
        "证书已解冻 — a hold (freeze, or a stop for unpaid fees) was lifted",
        Wording(
            "数字证书已解冻",
            "【印信】{name}，您的数字证书（序列号 {serial}）已于 {at} 解冻，恢复正常使用。"
            "如非本人操作，请立即联系我们。",
        ),
        Wording(
            "Certificate released",
            "{name}, your certificate (serial {serial}) was released from hold at {at} "
            "(Beijing time) and can sign again. If you did not ask for this, contact us at once.",
        ),
    ),
    Template(
        CERTIFICATE_RESTORED,
        "证书已解除挂失 — a loss report was withdrawn (the certificate is usable again, or "
        "back on the hold it had before)",
        Wording(
            "数字证书已解除挂失",
            "【印信】{name}，您的数字证书（序列号 {serial}）已于 {at} 解除挂失，{outcome}。"
            "如非本人操作，请立即联系我们。",
        ),
        Wording(
            "Loss report withdrawn",
            "{name}, the loss report on your certificate (serial {serial}) was withdrawn at "
            "{at} (Beijing time); {outcome_en}. If you did not ask for this, contact us at once.",
        ),
    ),
    Template(
        CERTIFICATE_EXPIRED,
        "证书已到期失效 — a certificate reached its end of validity",
        Wording(
            "数字证书已到期",
            "【印信】{name}，您的数字证书（序列号 {serial}）已于 {not_after} 到期失效，"
            "不能再用于签名。如需继续使用，请重新申请数字证书。",
        ),
        Wording(
            "Certificate expired",
            "{name}, your certificate (serial {serial}) expired on {not_after} and can no "
            "longer sign. Apply for a new certificate to go on signing.",
        ),
    ),
    Template(
        CERTIFICATE_PAYMENT_DUE,
        "证书服务费到期缴费提醒 — the paid service period ends soon: pay, or the certificate "
        "is stopped (000 篇七)",
        Wording(
            "数字证书服务费即将到期",
            "【印信】{name}，您的数字证书（序列号 {serial}）的服务费已缴至 {paid_until}（剩余 "
            "{days} 天）。请在此之前缴纳续费，逾期未缴证书将停止服务，停止期间不能用于签名。",
        ),
        Wording(
            "Certificate fee due",
            "{name}, the service of your certificate (serial {serial}) is paid until "
            "{paid_until} (in {days} days). Please pay the renewal fee before then; unpaid, "
            "the certificate is stopped and cannot sign.",
        ),
    ),
    Template(
        SUBSCRIBER_PHONE_CHANGED,
        "订户手机号码已变更（发往原号码的安全提醒） — the registered mobile number was changed; "
        "told to the old number",
        Wording(
            "手机号码已变更",
            "【印信】{name}，您在印信平台登记的手机号码已于 {at} 变更为 {new_phone}，此后通知与"
            "验证码将发往新号码。如非本人操作，请立即联系我们。",
        ),
        Wording(
            "Mobile number changed",
            "{name}, the mobile number registered with Yinxin was changed to {new_phone} at {at} "
            "(Beijing time); notices and codes now go to the new number. If you did not ask for "
            "this, contact us at once.",
        ),
    ),
    Template(
        SUBSCRIBER_EMAIL_CHANGED,
        "订户电子邮箱已变更（发往原邮箱的安全提醒） — the e-mail address was changed; told to "
        "the old address",
        Wording(
            "电子邮箱已变更",
            "【印信】{name}，您在印信平台登记的电子邮箱已于 {at} 变更为 {new_email}，此后通知将"
            "发往新邮箱。如非本人操作，请立即联系我们。",
        ),
        Wording(
            "E-mail address changed",
            "{name}, the e-mail address registered with Yinxin was changed to {new_email} at "
            "{at} (Beijing time); notices now go to the new address. If you did not ask for this, "
            "contact us at once.",
        ),
    ),
    Template(
        SUBSCRIBER_EMAIL_REMOVED,
        "订户电子邮箱已删除（发往原邮箱的安全提醒） — the e-mail address was removed; told to "
        "the removed address",
        Wording(
            "电子邮箱已删除",
            "【印信】{name}，您在印信平台登记的电子邮箱已于 {at} 删除，此后通知将发往登记手机号，"
            "不再发往本邮箱。如非本人操作，请立即联系我们。",
        ),
        Wording(
            "E-mail address removed",
            "{name}, the e-mail address registered with Yinxin was removed at {at} "
            "(Beijing time); notices now go to the registered mobile number, no longer to this "
            "address. If you did not ask for this, contact us at once.",
        ),
    ),
    Template(
        SEAL_CREATED,
        "电子印章已制作 — an electronic seal was made",
        Wording("电子印章已制作", "【印信】{name}，电子印章「{seal_name}」已制作完成并可使用。"),
        Wording(
            "Electronic seal created",
            '{name}, the electronic seal "{seal_name}" has been made and is ready to use.',
        ),
    ),
    Template(
        SEAL_FROZEN,
        "电子印章已冻结 — an electronic seal was frozen",
        Wording(
            "电子印章已冻结",
            "【印信】{name}，电子印章「{seal_name}」已于 {at} 冻结，冻结期间不能用于签章。"
            "如非本单位操作，请立即联系我们。",
        ),
        Wording(
            "Electronic seal frozen",
            '{name}, the electronic seal "{seal_name}" was frozen at {at} (Beijing time) and '
            "cannot be used until it is released. If you did not ask for this, contact us at "
            "once.",
        ),
    ),
    Template(
        SEAL_RELEASED,
        "电子印章已解冻 — a frozen electronic seal was released",
        Wording(
            "电子印章已解冻",
            "【印信】{name}，电子印章「{seal_name}」已于 {at} 解冻，恢复正常使用。"
            "如非本人或本单位操作，请立即联系我们。",
        ),
        Wording(
            "Electronic seal released",
            '{name}, the electronic seal "{seal_name}" was released at {at} (Beijing time) and '
            "can be used again. If you did not ask for this, contact us at once.",
        ),
    ),
    Template(
        SEAL_EXPIRED,
        "电子印章已到期失效 — a seal reached its end of validity",
        Wording(
            "电子印章已到期",
            "【印信】{name}，电子印章「{seal_name}」已于 {valid_end} 到期失效，不能再用于签章。"
            "如需继续使用，请重新申请制作电子印章。",
        ),
        Wording(
            "Electronic seal expired",
            '{name}, the electronic seal "{seal_name}" expired on {valid_end} and can no '
            "longer be used. Apply for a new seal to go on sealing.",
        ),
    ),
    Template(
        SEAL_CHANGED,
        "电子印章续费/变更已办理 — a seal was renewed or changed (004 §七)",
        Wording(
            "电子印章业务已办理",
            "【印信】{name}，电子印章「{seal_name}」的{business}业务已办理完毕，有效期至 "
            "{valid_end}。如非本人或本单位申请，请立即联系我们。",
        ),
        Wording(
            "Electronic seal updated",
            '{name}, the electronic seal "{seal_name}" was updated ({business}); it is valid '
            "until {valid_end}. If you did not ask for this, contact us at once.",
        ),
    ),
    Template(
        SEAL_REVOKED,
        "电子印章已注销/废止 — a seal was cancelled or revoked, for good (004 §七, §十一)",
        Wording(
            "电子印章已{ended}",
            "【印信】{name}，电子印章「{seal_name}」已于 {at} {ended}，原因：{reason}。"
            "此后不能再用于签章。如非本人或本单位申请，请立即联系我们。",
        ),
        Wording(
            "Electronic seal ended",
            '{name}, the electronic seal "{seal_name}" was ended ({ended}) at {at} '
            "(Beijing time); reason: {reason}. It can no longer be used. If you did not ask for "
            "this, contact us at once.",
        ),
    ),
    Template(
        SIGNATURE_REQUESTED,
        "待签署提醒 — someone asks the recipient to sign a document",
        Wording(
            "您有一份文件待签署",
            "【印信】{name}，{requester} 邀请您签署《{document}》，请登录 {url} 查看并签署。",
            "<p>{name}，您好：</p>\n<p>{requester} 邀请您签署《{document}》。</p>\n"
            '<p><a href="{url}">查看并签署</a></p>',
        ),
        Wording(
            "A document awaits your signature",
            '{name}, {requester} asks you to sign "{document}". Open {url} to read and sign it.',
            "<p>{name},</p>\n<p>{requester} asks you to sign &ldquo;{document}&rdquo;.</p>\n"
            '<p><a href="{url}">Read and sign it</a></p>',
        ),
    ),
    Template(
        ONE_TIME_CODE,
        "签署意愿认证验证码 — one-time code confirming the intent to sign",
        Wording(
            "印信验证码",
            "【印信】您的验证码为 {code}，{minutes} 分钟内有效，用于签署《{document}》。请勿泄露。",
            "<p>您的验证码为 <strong>{code}</strong>，{minutes} 分钟内有效，"
            "用于签署《{document}》。</p>\n<p>请勿泄露。</p>",
        ),
        Wording(
            "Yinxin verification code",
            'Your code is {code}, valid for {minutes} minutes, to sign "{document}". '
            "Do not share it.",
            "<p>Your code is <strong>{code}</strong>, valid for {minutes} minutes, to sign "
            "&ldquo;{document}&rdquo;.</p>\n<p>Do not share it.</p>",
        ),
        secret=("code",),
    ),
    # A subscriber's login code (purpose ``login``): it signs nothing, so it says so — the
    # signing wording ("用于签署《登录印信平台》") would teach people to read a code request
    # as a signature.
    Template(
        LOGIN_CODE,
        "登录验证码 — one-time code for a subscriber's login to the web pages",
        Wording(
            "印信登录验证码",
            "【印信】您的登录验证码为 {code}，{minutes} 分钟内有效，仅用于登录印信平台。"
            "如非本人操作，请忽略本短信。请勿泄露。",
        ),
        Wording(
            "Yinxin login code",
            "Your login code is {code}, valid for {minutes} minutes, only for logging in to "
            "Yinxin. If you did not ask for it, ignore this message. Do not share it.",
        ),
        secret=("code",),
    ),
    # The public self-registration's proof of the mobile number (``access.sessions``): sent to
    # a number no one is registered with; a registered one is told so instead, with no code.
    Template(
        REGISTRATION_CODE,
        "注册验证码 — one-time code proving the mobile number of a self-registration",
        Wording(
            "印信注册验证码",
            "【印信】您的注册验证码为 {code}，{minutes} 分钟内有效，仅用于在印信平台注册。"
            "如非本人操作，请忽略本短信。请勿泄露。",
        ),
        Wording(
            "Yinxin registration code",
            "Your registration code is {code}, valid for {minutes} minutes, only for "
            "registering with Yinxin. If you did not ask for it, ignore this message. Do not "
            "share it.",
        ),
        secret=("code",),
    ),
    Template(
        REGISTRATION_REGISTERED,
        "注册时手机号已注册 — a self-registration was asked for a number already registered",
        Wording(
            "印信：本手机号已注册",
            "【印信】有人申请使用本手机号码（{phone}）在印信平台注册，但本号码已注册，无需再次"
            "注册，请直接使用本手机号码登录。如非本人操作，请忽略本短信。",
        ),
        Wording(
            "Yinxin: this number is already registered",
            "Someone asked to register with Yinxin using this mobile number ({phone}), which is "
            "already registered: there is no need to register again, log in with this number "
            "instead. If it was not you, ignore this message.",
        ),
    ),
    # Sent to the NEW number of a holder's own phone change: the change waits for this code.
    Template(
        PHONE_CHANGE_CODE,
        "更换登记手机号验证码（发往新号码） — one-time code proving the new mobile number",
        Wording(
            "印信手机号变更验证码",
            "【印信】您正在将印信平台登记的手机号码更换为本号码，验证码为 {code}，"
            "{minutes} 分钟内有效。如非本人操作，请忽略本短信。请勿泄露。",
        ),
        Wording(
            "Yinxin phone change code",
            "You are changing the mobile number registered with Yinxin to this number; your "
            "code is {code}, valid for {minutes} minutes. If you did not ask for it, ignore "
            "this message. Do not share it.",
        ),
        secret=("code",),
    ),
    # Sent by e-mail to the NEW address of a holder's own e-mail change: the change waits for it.
    Template(
        EMAIL_CHANGE_CODE,
        "更换电子邮箱验证码（发往新邮箱） — one-time code proving the new e-mail address",
        Wording(
            "印信电子邮箱变更验证码",
            "【印信】您正在将印信平台登记的电子邮箱更换为本邮箱，验证码为 {code}，"
            "{minutes} 分钟内有效。如非本人操作，请忽略本邮件。请勿泄露。",
        ),
        Wording(
            "Yinxin e-mail change code",
            "You are changing the e-mail address registered with Yinxin to this address; your "
            "code is {code}, valid for {minutes} minutes. If you did not ask for it, ignore "
            "this message. Do not share it.",
        ),
        secret=("code",),
    ),
    # The same code, by e-mail, to the address of a holder who has none registered yet: the
    # address given at registration (在线注册), or a first one added later. Nothing is changed.
    Template(
        EMAIL_CONFIRM_CODE,
        "登记电子邮箱验证码（首次登记，如在线注册时填写的邮箱） — one-time code proving an "
        "e-mail address registered for the first time",
        Wording(
            "印信电子邮箱验证码",
            "【印信】您正在将本邮箱登记为印信平台账户的电子邮箱，验证码为 {code}，"
            "{minutes} 分钟内有效。如非本人操作，请忽略本邮件。请勿泄露。",
        ),
        Wording(
            "Yinxin e-mail confirmation code",
            "You are registering this address as the e-mail address of your Yinxin account; "
            "your code is {code}, valid for {minutes} minutes. If you did not ask for it, "
            "ignore this message. Do not share it.",
        ),
        secret=("code",),
    ),
    # Sent by e-mail to the CURRENT address of a holder's own e-mail change when the notices go
    # there (no mobile phone), with the new address's: the change waits for both ({document}
    # names the new address, masked). A holder who did not ask is warned here, before anything
    # changes.
    Template(
        EMAIL_CHANGE_CURRENT_CODE,
        "更换电子邮箱验证码（发往原邮箱） — one-time code proving the registered e-mail address "
        "for its change",
        Wording(
            "印信电子邮箱变更验证码（原邮箱）",
            "【印信】您正在{document}，验证码为 {code}，{minutes} 分钟内有效。"
            "如非本人操作，请勿将验证码告诉任何人，并立即联系受理点。",
        ),
        Wording(
            "Yinxin e-mail change code (current address)",
            "You are changing the e-mail address registered with Yinxin ({document}); your code "
            "is {code}, valid for {minutes} minutes. If you did not ask for it, tell no one the "
            "code and contact the registration desk at once.",
        ),
        secret=("code",),
    ),
    # Sent to the CURRENT registered number of a holder's own phone change, with the new one's:
    # the change waits for both ({document} names the new number, masked). A holder who did not
    # ask is warned here, before anything changes.
    Template(
        PHONE_CHANGE_CURRENT_CODE,
        "更换登记手机号验证码（发往原号码） — one-time code proving the registered mobile number "
        "for its change",
        Wording(
            "印信手机号变更验证码（原号码）",
            "【印信】您正在{document}，验证码为 {code}，{minutes} 分钟内有效。"
            "如非本人操作，请勿将验证码告诉任何人，并立即联系受理点。",
        ),
        Wording(
            "Yinxin phone change code (current number)",
            "You are changing the mobile number registered with Yinxin ({document}); your code "
            "is {code}, valid for {minutes} minutes. If you did not ask for it, tell no one the "
            "code and contact the registration desk at once.",
        ),
        secret=("code",),
    ),
    # Sent to the registered number when the holder rekeys or reissues a certificate online:
    # the new certificate waits for this code ({document} says which, with its serial).
    Template(
        CERTIFICATE_KEY_CODE,
        "证书更新密钥/补办验证码 — one-time code for a holder's own rekey or reissue",
        Wording(
            "印信证书密钥验证码",
            "【印信】您正在{document}，验证码为 {code}，{minutes} 分钟内有效。"
            "如非本人操作，请立即修改登录方式并联系受理点。请勿泄露。",
        ),
        Wording(
            "Yinxin certificate key code",
            "You are asking for a new certificate key ({document}); your code is {code}, valid "
            "for {minutes} minutes. If you did not ask for it, contact the registration desk at "
            "once. Do not share it.",
        ),
        secret=("code",),
    ),
    # The signing link is a bearer secret (its token opens one signer's turn in a sign flow):
    # it is masked in the send log like a code, and such messages are sent, never queued.
    Template(
        SIGN_REQUEST,
        "签署流程邀请 — a sign flow asks the recipient to sign (with their signing link)",
        Wording(
            "您有一份文件待签署",
            "【印信】{name}，您有待签署的文件《{title}》（{documents} 份），请于 {deadline} 前"
            "打开 {url} 签署。",
            "<p>{name}，您好：</p>\n<p>您有待签署的文件《{title}》（{documents} 份），"
            "请于 {deadline} 前签署。</p>\n"
            '<p><a href="{url}">打开签署页面</a></p>\n'
            "<p>此链接仅供您本人使用，请勿转发。</p>",
        ),
        Wording(
            "Documents await your signature",
            '{name}, "{title}" ({documents} document(s)) awaits your signature. Open {url} '
            "to sign before {deadline} (Beijing time).",
            "<p>{name},</p>\n<p>&ldquo;{title}&rdquo; ({documents} document(s)) awaits your "
            "signature; please sign before {deadline} (Beijing time).</p>\n"
            '<p><a href="{url}">Open the signing page</a></p>\n'
            "<p>This link is for you alone; do not forward it.</p>",
        ),
        secret=("url",),
    ),
    Template(
        SIGN_URGE,
        "催签提醒 — a reminder to sign in a sign flow",
        Wording(
            "催签提醒",
            "【印信】{name}，《{title}》尚待您签署，截止时间 {deadline}，请尽快打开 {url} 签署。",
        ),
        Wording(
            "Reminder: please sign",
            '{name}, "{title}" still awaits your signature (deadline {deadline}, Beijing time). '
            "Open {url} to sign.",
        ),
        secret=("url",),
    ),
    Template(
        FLOW_COMPLETED,
        "签署流程已完成 — every party of a sign flow has signed",
        Wording(
            "文件已签署完成",
            "【印信】{name}，《{title}》已由全部 {signers} 方签署完成（流程 {flow_id}）。",
        ),
        Wording(
            "Signing completed",
            '{name}, all {signers} parties have signed "{title}" (flow {flow_id}).',
        ),
    ),
    # a contract obligation's reminder point (docs/obligations.md): 7 and 1 working days
    # before its due date, and the first day overdue; sent once each, through the outbox
    Template(
        OBLIGATION_DUE,
        "合同履约提醒 — a contract obligation falls due (issue 14)",
        Wording(
            "合同履约提醒",
            "【印信】{name}，合同《{title}》（{number}）约定的{label}{when}。{detail}。",
        ),
        Wording(
            "Contract obligation due",
            '{name}, contract "{title}" ({number}): {label} — {when}. {detail}.',
        ),
    ),
)

default_library = TemplateLibrary(DEFAULT_TEMPLATES)


def render(template_id: str, /, *, lang: str = "zh", **values: object) -> tuple[str, str]:
    """(subject, body) from the default library; a missing value names its field."""
    return default_library.render(template_id, lang=lang, **values)
