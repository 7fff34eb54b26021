"""E-mail over SMTP: Chinese subjects and bodies, an HTML alternative, attachments.

Built on the standard library (``smtplib``, ``email.message.EmailMessage``), so no extra
dependency stands between the platform and the mail server. Headers with Chinese text are
encoded per RFC 2047 (``=?utf-8?b?…?=``), attachment names per RFC 2231, and both bodies travel
as base64 UTF-8, so the message passes any 7-bit relay unchanged.

The connection is STARTTLS (port 587, the default), implicit TLS (465) or plain (25, only for a
relay on this host); certificates are checked against the system's trust store or a CA file.
Credentials are sent only over TLS, or in clear to a loopback relay.

Each message's ``Message-ID`` is made from its key (``<yx-<id>-<nonce>@<sender's domain>>``),
the same on every attempt, so a message sent again after an interrupted attempt reaches the
mailbox as the same message: mail servers and clients that drop repeated Message-IDs drop it,
and a reader can see it is one message.

Errors are sorted for the send log: a recipient the server refuses with 5xx (no such mailbox)
is permanent — retrying cannot help; a 4xx answer, a dropped or refused connection and a
timeout are retryable. No error text carries the password.
"""

from __future__ import annotations

import base64
import ipaddress
import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid, parseaddr

from yinxin.clock import Clock, SystemClock
from yinxin.errors import ConfigurationError
from yinxin.notify.gateways import Attachment, DeliveryError, Message, check_attachments
from yinxin.settings import MessageSettings

SECURITY = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


@dataclass(frozen=True)
class SmtpConfig:
    """How to reach the mail server (``YINXIN_SMTP_*``). The password is left out of ``repr``
    so a logged configuration never shows it."""

    host: str
    sender: str  # the From header: "印信 <noreply@example.com>" or a bare address
    port: int | None = None  # None: 587, 465 or 25 by ``security``
    security: str = "starttls"  # starttls | tls | none
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    cafile: str | None = None  # trust this CA instead of the system's (a private relay)
    local_hostname: str | None = None  # what we say in EHLO (default: this host's FQDN)

    def __post_init__(self) -> None:
        if not self.host:
            raise ConfigurationError("YINXIN_SMTP_HOST is empty", field="YINXIN_SMTP_HOST")
        if self.security not in SECURITY:
            raise ConfigurationError(
                f"YINXIN_SMTP_TLS must be one of {', '.join(SECURITY)}", field="YINXIN_SMTP_TLS"
            )
        _name, addr = parseaddr(self.sender or "")
        if "@" not in addr:
            raise ConfigurationError(
                "YINXIN_SMTP_FROM must be an e-mail address, e.g. 印信 <noreply@example.com>",
                field="YINXIN_SMTP_FROM",
            )
        if bool(self.username) != bool(self.password):
            raise ConfigurationError(
                "YINXIN_SMTP_USER and YINXIN_SMTP_PASSWORD go together", field="YINXIN_SMTP_USER"
            )
        if self.username and self.security == "none" and not _is_loopback(self.host):
            raise ConfigurationError(
                "SMTP credentials are sent in clear only to a relay on this host; "
                "set YINXIN_SMTP_TLS=starttls or tls",
                field="YINXIN_SMTP_TLS",
            )
        if self.timeout <= 0:
            raise ConfigurationError("the SMTP timeout must be positive", field="timeout")

    @classmethod
    def from_settings(cls, m: MessageSettings) -> SmtpConfig:
        """From ``YINXIN_SMTP_*``; a missing or contradictory value names its variable."""
        if not m.smtp_from:
            raise ConfigurationError(
                "YINXIN_SMTP_HOST is set, so YINXIN_SMTP_FROM is needed", field="YINXIN_SMTP_FROM"
            )
        return cls(
            host=m.smtp_host,
            sender=m.smtp_from,
            port=m.smtp_port or None,
            security=m.smtp_tls or "starttls",
            username=m.smtp_user or None,
            password=m.smtp_password or None,
            timeout=m.smtp_timeout,
            cafile=m.smtp_cafile or None,
        )

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.security]

    @property
    def envelope_sender(self) -> str:
        return parseaddr(self.sender)[1]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_message(
    *,
    sender: str,
    recipient: str,
    subject: str,
    body: str,
    html: str | None = None,
    attachments: Sequence[Attachment] = (),
    message_id: str | None = None,
    date: object = None,
) -> EmailMessage:
    """The MIME message: text/plain, with text/html as its alternative when given, inside
    multipart/mixed with the attachments when there are any."""
    msg = EmailMessage(policy=SMTP_POLICY)
    name, addr = parseaddr(sender)
    # Address() keeps a Chinese display name as text; the policy encodes it (RFC 2047).
    msg["From"] = Address(display_name=name, addr_spec=addr) if name else addr
    msg["To"] = recipient
    msg["Subject"] = subject
    if date is not None:
        msg["Date"] = format_datetime(date)  # type: ignore[arg-type]
    msg["Message-ID"] = message_id or make_msgid(domain=addr.rpartition("@")[2] or None)
    msg["MIME-Version"] = "1.0"
    msg.set_content(body, subtype="plain", charset="utf-8", cte="base64")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
    for a in attachments:
        maintype, _, subtype = a.content_type.partition("/")
        msg.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
    return msg


class SmtpGateway:
    """The "email" channel over SMTP; one connection per message (a notifier sends messages
    one at a time and between them may wait minutes, longer than servers keep a session)."""

    channel = "email"
    takes_attachments = True

    def __init__(
        self,
        config: SmtpConfig,
        *,
        clock: Clock | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ):
        self.config = config
        self.clock = clock or SystemClock()
        self._ssl_context = ssl_context

    def __repr__(self) -> str:
        c = self.config
        return f"SmtpGateway({c.host}:{c.effective_port}, {c.security})"

    def ssl_context(self) -> ssl.SSLContext:
        """Certificates and host names are checked (the system's trust store, or the CA file)."""
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context(cafile=self.config.cafile)
        return self._ssl_context

    def send(self, message: Message) -> str:
        """Hand the message to the server; return its Message-ID or raise ``DeliveryError``.
        The Message-ID is made from ``message_key`` when given (stable across retries)."""
        files = check_attachments(message.attachments)
        recipient, key = message.recipient, message.message_key
        msg = build_message(
            sender=self.config.sender,
            recipient=recipient,
            subject=message.subject,
            body=message.body,
            html=message.html,
            attachments=files,
            message_id=self.message_id(key) if key else None,
            date=self.clock.now(),
        )
        message_id = str(msg["Message-ID"]).strip("<>")
        try:
            with self._connect() as smtp:
                smtp.send_message(msg, from_addr=self.config.envelope_sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as e:
            code, text = next(iter(e.recipients.values()), (0, b""))
            raise DeliveryError(
                f"the mail server refused the recipient: {code} {_text(text)}",
                permanent=500 <= code < 600,
                field="recipient",
            ) from None
        except smtplib.SMTPNotSupportedError as e:
            raise DeliveryError(
                f"{e} (YINXIN_SMTP_TLS={self.config.security}); nothing was sent in clear"
            ) from None
        except smtplib.SMTPResponseException as e:
            raise _refusal(e) from None
        except ssl.SSLError as e:
            raise DeliveryError(
                f"TLS with the mail server failed: {e.reason or type(e).__name__}"
            ) from None
        except (smtplib.SMTPException, OSError) as e:
            reason = (
                "timed out"
                if isinstance(e, socket.timeout | TimeoutError)
                else (getattr(e, "strerror", None) or type(e).__name__)
            )
            raise DeliveryError(
                f"cannot reach the mail server {self.config.host}:"
                f"{self.config.effective_port}: {reason}"
            ) from None
        except Exception as e:
            # Anything else: its text might quote what we sent (a credential), so only its kind.
            raise DeliveryError(f"SMTP failure ({type(e).__name__})") from None
        return message_id

    def message_id(self, message_key: str) -> str:
        """``<key@domain>``, the domain the sender's (as IDNA when it is not ASCII): the same
        key always gives the same Message-ID."""
        domain = self.config.envelope_sender.rpartition("@")[2].strip().lower() or "localhost"
        if not domain.isascii():
            try:
                domain = domain.encode("idna").decode("ascii")
            except UnicodeError:
                domain = "localhost"
        return f"<{message_key}@{domain}>"

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        if c.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                c.host,
                c.effective_port,
                local_hostname=c.local_hostname,
                timeout=c.timeout,
                context=self.ssl_context(),
            )
        else:
            smtp = smtplib.SMTP(
                c.host, c.effective_port, local_hostname=c.local_hostname, timeout=c.timeout
            )
        try:
            smtp.ehlo()
            if c.security == "starttls":
                # Refuses (SMTPNotSupportedError) rather than go on in clear when the server
                # does not offer STARTTLS.
                smtp.starttls(context=self.ssl_context())
                smtp.ehlo()
            if c.username:
                _login(smtp, c.username, c.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """``smtplib`` encodes credentials as ASCII; a Chinese user name or password goes by AUTH
    PLAIN in UTF-8 (RFC 4616) instead."""
    if user.isascii() and password.isascii():
        smtp.login(user, password)
        return
    if "plain" not in smtp.esmtp_features.get("auth", "").lower().split():
        raise smtplib.SMTPException("the server does not offer AUTH PLAIN for UTF-8 credentials")
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    code, resp = smtp.docmd("AUTH", "PLAIN " + token)
    if code not in (235, 503):  # 503: already authenticated
        raise smtplib.SMTPAuthenticationError(code, resp)


# What a reply of the server means, by its kind (the first that matches), and whether a 5xx one
# is permanent. A refused sender or login is our configuration: fixing it lets a retry pass.
_REPLIES: tuple[tuple[type[smtplib.SMTPResponseException], str, bool], ...] = (
    (smtplib.SMTPSenderRefused, "the mail server refused the sender:", False),
    (smtplib.SMTPDataError, "the mail server refused the message:", True),
    (
        smtplib.SMTPAuthenticationError,
        "the mail server refused our login (YINXIN_SMTP_USER/PASSWORD):",
        False,
    ),
    (smtplib.SMTPResponseException, "the mail server answered", False),
)


def _refusal(e: smtplib.SMTPResponseException) -> DeliveryError:
    """The send-log error for a reply of the server: its code and text, never what we sent."""
    what, permanent_5xx = next((w, p) for kind, w, p in _REPLIES if isinstance(e, kind))
    return DeliveryError(
        f"{what} {e.smtp_code} {_text(e.smtp_error)}",
        permanent=permanent_5xx and 500 <= e.smtp_code < 600,
    )


def _text(value: bytes | str) -> str:
    s = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return " ".join(s.split())[:300]
