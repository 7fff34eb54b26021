"""Settings from the environment, with safe embedded defaults (SQLite, file-held keys)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from yinxin.errors import ConfigurationError


@dataclass(frozen=True)
class MessageSettings:
    """Where messages go (``docs/operator-guide.md``, "Messages"). With nothing set, e-mail and
    SMS go to the file outbox. Secrets are left out of ``repr``, so a logged setting never
    shows them."""

    smtp_host: str = ""  # YINXIN_SMTP_HOST: empty keeps e-mail in the file outbox
    smtp_port: int = 0  # YINXIN_SMTP_PORT: 0 = 587 (starttls), 465 (tls), 25 (none)
    smtp_user: str = ""  # YINXIN_SMTP_USER
    smtp_password: str = field(default="", repr=False)  # YINXIN_SMTP_PASSWORD
    smtp_tls: str = "starttls"  # YINXIN_SMTP_TLS: starttls | tls | none
    smtp_from: str = ""  # YINXIN_SMTP_FROM: 印信 <noreply@example.com>
    smtp_timeout: float = 30.0  # YINXIN_SMTP_TIMEOUT (seconds)
    smtp_cafile: str = ""  # YINXIN_SMTP_CAFILE: trust this CA for the server's certificate
    sms_provider: str = "file"  # YINXIN_SMS_PROVIDER: aliyun | http | file
    sms_templates: str = ""  # YINXIN_SMS_TEMPLATES: one_time_code=SMS_123,sign_request=SMS_456
    sms_timeout: float = 10.0  # YINXIN_SMS_TIMEOUT (seconds)
    aliyun_access_key_id: str = ""  # YINXIN_ALIYUN_ACCESS_KEY_ID
    aliyun_access_key_secret: str = field(default="", repr=False)  # …_ACCESS_KEY_SECRET
    aliyun_sign_name: str = ""  # YINXIN_ALIYUN_SIGN_NAME: the approved 签名, e.g. 印信
    aliyun_endpoint: str = "https://dysmsapi.aliyuncs.com"  # YINXIN_ALIYUN_ENDPOINT
    aliyun_region: str = "cn-hangzhou"  # YINXIN_ALIYUN_REGION
    sms_http_url: str = ""  # YINXIN_SMS_HTTP_URL
    sms_http_token: str = field(default="", repr=False)  # YINXIN_SMS_HTTP_TOKEN
    sms_http_auth: str = "bearer"  # YINXIN_SMS_HTTP_AUTH: bearer | hmac | none
    sms_http_fields: str = ""  # YINXIN_SMS_HTTP_FIELDS: to=mobile,text=content,…
    sms_http_id_field: str = "id"  # YINXIN_SMS_HTTP_ID_FIELD

    @classmethod
    def from_env(cls, env) -> MessageSettings:
        def s(name: str, default: str = "") -> str:
            return (env.get(name) or default).strip()

        values = dict(
            smtp_host=s("YINXIN_SMTP_HOST"),
            smtp_port=_number(env, "YINXIN_SMTP_PORT", int),
            smtp_user=s("YINXIN_SMTP_USER"),
            smtp_password=env.get("YINXIN_SMTP_PASSWORD") or "",
            smtp_tls=s("YINXIN_SMTP_TLS", "starttls").lower(),
            smtp_from=s("YINXIN_SMTP_FROM"),
            smtp_timeout=_number(env, "YINXIN_SMTP_TIMEOUT", float),
            smtp_cafile=s("YINXIN_SMTP_CAFILE"),
            sms_provider=s("YINXIN_SMS_PROVIDER", "file").lower(),
            sms_templates=s("YINXIN_SMS_TEMPLATES"),
            sms_timeout=_number(env, "YINXIN_SMS_TIMEOUT", float),
            aliyun_access_key_id=s("YINXIN_ALIYUN_ACCESS_KEY_ID"),
            aliyun_access_key_secret=env.get("YINXIN_ALIYUN_ACCESS_KEY_SECRET") or "",
            aliyun_sign_name=s("YINXIN_ALIYUN_SIGN_NAME"),
            aliyun_endpoint=s("YINXIN_ALIYUN_ENDPOINT", "https://dysmsapi.aliyuncs.com"),
            aliyun_region=s("YINXIN_ALIYUN_REGION", "cn-hangzhou"),
            sms_http_url=s("YINXIN_SMS_HTTP_URL"),
            sms_http_token=env.get("YINXIN_SMS_HTTP_TOKEN") or "",
            sms_http_auth=s("YINXIN_SMS_HTTP_AUTH", "bearer").lower(),
            sms_http_fields=s("YINXIN_SMS_HTTP_FIELDS"),
            sms_http_id_field=s("YINXIN_SMS_HTTP_ID_FIELD", "id"),
        )
        return cls(**{k: v for k, v in values.items() if v is not None})


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    base_url: str = "http://127.0.0.1:8000"
    keystore: str = "file"  # one of KEYSTORES
    pkcs11_module: str | None = None
    pkcs11_token: str | None = None
    pkcs11_pin: str | None = None
    ca_algorithm: str = "ec-p256"
    # the cipher new sealed secrets are written with (docs/national-algorithms.md):
    # aes-256-gcm | sm4-gcm | sm4-cbc-hmac-sm3; blobs under the others stay readable
    data_cipher: str = "aes-256-gcm"
    # how long a one-time code (login, signing, phone change, rekey) lives: 60 to 3600 seconds
    otp_ttl_seconds: int = 300
    api_rate: float = 20.0  # API requests a second per caller on average (0: no limit)
    api_burst: int = 100  # … and at once
    api_max_body: int = 60 * 1024 * 1024  # a 50 MiB PDF with room for its JSON envelope
    sweep_seconds: float = 60.0  # how often the server expires sign flows past their deadline
    # days before a certificate's paid service ends that its holder is reminded to pay (the
    # ``notices.payment`` job; 0: no reminders), at most 3650
    payment_reminder_days: int = 7
    # webhooks may go to loopback and private networks (a receiver on the same host or LAN)
    webhook_allow_private: bool = False
    log_format: str = "text"  # "json": one JSON object per log line, with the request id
    access_log: bool = False  # one line per HTTP request (JSON when log_format is json)
    metrics_token: str | None = None  # if set, /metrics wants "Authorization: Bearer <it>"
    messages: MessageSettings = field(default_factory=MessageSettings)  # SMTP and SMS
    extra: dict = field(default_factory=dict)

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def documents_dir(self) -> Path:
        """Signed documents kept for archive renewal (content-addressed)."""
        return self.home / "documents"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @classmethod
    def from_env(cls, home: str | Path | None = None, **overrides) -> Settings:
        env = os.environ
        h = Path(home or env.get("YINXIN_HOME") or "var").resolve()
        values = dict(
            home=h,
            database_url=env.get("YINXIN_DATABASE_URL") or f"sqlite:///{h / 'yinxin.db'}",
            base_url=_base_url(env),
            keystore=_choice(env, "YINXIN_KEYSTORE", KEYSTORES),
            pkcs11_module=env.get("YINXIN_PKCS11_MODULE"),
            pkcs11_token=env.get("YINXIN_PKCS11_TOKEN"),
            pkcs11_pin=env.get("YINXIN_PKCS11_PIN"),
            ca_algorithm=env.get("YINXIN_CA_ALGORITHM", "ec-p256"),
            data_cipher=_data_cipher(env),
            otp_ttl_seconds=_whole(env, "YINXIN_OTP_TTL_SECONDS", 60, 3600, "seconds"),
            api_rate=_number(env, "YINXIN_API_RATE", float),
            api_burst=_number(env, "YINXIN_API_BURST", int),
            sweep_seconds=_number(env, "YINXIN_SWEEP_SECONDS", float),
            payment_reminder_days=_days(env, "YINXIN_PAYMENT_REMINDER_DAYS"),
            webhook_allow_private=_flag(env, "YINXIN_WEBHOOK_ALLOW_PRIVATE"),
            log_format=_choice(env, "YINXIN_LOG_FORMAT", LOG_FORMATS),
            access_log=_flag(env, "YINXIN_ACCESS_LOG"),
            metrics_token=env.get("YINXIN_METRICS_TOKEN") or None,
            messages=MessageSettings.from_env(env),
        )
        values.update(overrides)
        # a variable not set (None) keeps the field's default
        return cls(**{k: v for k, v in values.items() if v is not None})


def _number(env, name: str, kind: type):
    """A number from the environment, or None to keep the default; a bad one is refused."""
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {raw!r}", field=name) from None
    if value < 0:
        raise ConfigurationError(f"{name} must not be negative", field=name)
    return value


def _days(env, name: str):
    """A whole number of days from 0 to 3650 from the environment, or None for the default."""
    return _whole(env, name, 0, 3650, "days")


def _whole(env, name: str, low: int, high: int, unit: str):
    """A whole number from ``low`` to ``high`` from the environment, or None for the default;
    anything else is refused naming the variable."""
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.strip().isascii() and raw.strip().isdigit()) or not low <= int(raw) <= high:
        raise ConfigurationError(
            f"{name} must be a whole number of {unit} from {low} to {high}, not {raw!r}",
            field=name,
        )
    return int(raw)


# The data-at-rest ciphers by name (``yinxin.pki.ciphers`` implements exactly these; a unit test
# holds the two lists equal). Named here so that settings, in the core layer, need not import pki.
DATA_CIPHERS = ("aes-256-gcm", "sm4-gcm", "sm4-cbc-hmac-sm3")


#: the key stores there are (``yinxin.pki.keystores``), by the name ``YINXIN_KEYSTORE`` gives
KEYSTORES = ("file", "pkcs11")


LOG_FORMATS = ("text", "json")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _base_url(env) -> str:
    """``YINXIN_BASE_URL``: where relying parties fetch CRLs, OCSP answers and CA certificates.
    It is written into every certificate the CA issues (CRL distribution points, authority
    information access) and a root lasts twenty years, so a malformed one — no scheme
    (``ca.example.cn``), another scheme, a space, a user, a query — is refused before anything
    is issued rather than published in certificates nobody can follow."""
    from urllib.parse import urlsplit

    raw = (env.get("YINXIN_BASE_URL") or "http://127.0.0.1:8000").strip()
    parts = urlsplit(raw)
    try:
        parts.port  # noqa: B018 — a port that is no number raises here
        good = (
            raw.isascii()
            and not any(c.isspace() for c in raw)
            and parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and not (parts.username or parts.password or parts.query or parts.fragment)
        )
    except ValueError:
        good = False
    if not good:
        raise ConfigurationError(
            "YINXIN_BASE_URL must be an http:// or https:// address such as "
            f"https://ca.example.cn (ASCII, no user, query or fragment), not {raw!r}",
            field="YINXIN_BASE_URL",
        )
    return raw.rstrip("/")


def _choice(env, name: str, choices: tuple[str, ...]) -> str | None:
    """One of ``choices`` (case folded), or None for the default; anything else is refused
    before anything starts, naming the variable: a typo must not quietly mean the default —
    ``YINXIN_KEYSTORE=pkcs-11`` would keep the CA's keys in files."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    if raw.lower() not in choices:
        raise ConfigurationError(f"{name} must be {' or '.join(choices)}, not {raw!r}", field=name)
    return raw.lower()


def _flag(env, name: str) -> bool | None:
    """A yes/no variable (1/true/yes/on, 0/false/no/off), or None for the default."""
    value = _choice(env, name, _TRUE + _FALSE)
    return None if value is None else value in _TRUE


def _data_cipher(env) -> str | None:
    """``YINXIN_DATA_CIPHER`` by its canonical name, or None for the default; unknown refused."""
    raw = (env.get("YINXIN_DATA_CIPHER") or "").strip()
    if not raw:
        return None
    name = raw.lower()
    if name not in DATA_CIPHERS:
        raise ConfigurationError(
            f"unknown data cipher {raw!r}: {', '.join(DATA_CIPHERS)}",
            field="YINXIN_DATA_CIPHER",
            code="unknown_cipher",
        )
    return name
