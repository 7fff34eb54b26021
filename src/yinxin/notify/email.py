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

The timeout bounds each connect and each reply, not the message: a relay trickling its replies
a byte at a time, each inside the timeout, would hold the message — and the notifier's run
behind it — past the send log's ``stale_seconds`` (10 minutes), after which another process
sends the row again. So one message's whole exchange, from connecting to QUIT, has a limit
(``SmtpConfig.limit_seconds``, 5 minutes): then its connection is cut (``notify.deadline``) and
the send fails, retryable, with "no complete answer within N s".
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
from typing import Any

from yinxin.clock import Clock, SystemClock
from yinxin.errors import ConfigurationError
from yinxin.notify.deadline import Deadline
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
    timeout: float = 30.0  # each connect and reply
    # one message's whole exchange; well under the send log's stale_seconds (600), so a row is
    # never sent again by another process while a trickling relay still holds it
    limit_seconds: float = 300.0
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
        if self.limit_seconds <= 0:
            raise ConfigurationError(
                "the SMTP limit per message must be positive", field="limit_seconds"
            )

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
        deadline = Deadline(self.config.limit_seconds)
        try:
            with deadline:
                self._hand_over(msg, recipient, deadline)
        except DeliveryError:
            if deadline.expired:  # the error is the cut connection's: say why it was cut
                raise DeliveryError(
                    f"the mail server {self.config.host}:{self.config.effective_port} gave "
                    f"{deadline.reason()}"
                ) from None
            raise
        return message_id

    def _hand_over(self, msg: EmailMessage, recipient: str, deadline: Deadline) -> None:
        """One SMTP session for ``msg``, its connection cut by ``deadline``; raises
        ``DeliveryError`` sorted as the module says."""
        try:
            with self._connect(deadline) as smtp:
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

    def _connect(self, deadline: Deadline) -> smtplib.SMTP:
        c = self.config
        # the constructors connect and read the greeting, already under the deadline
        if c.security == "tls":
            smtp: smtplib.SMTP = _WatchedSMTPSSL(
                deadline,
                c.host,
                c.effective_port,
                local_hostname=c.local_hostname,
                timeout=c.timeout,
                context=self.ssl_context(),
            )
        else:
            smtp = _WatchedSMTP(
                deadline,
                c.host,
                c.effective_port,
                local_hostname=c.local_hostname,
                timeout=c.timeout,
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


class _WatchedSMTP(smtplib.SMTP):
    """``smtplib.SMTP`` handing its connection to a ``Deadline`` as soon as it is open, before
    the greeting is read. The deadline gets a duplicate of the TCP socket: shutting that down
    ends the connection, also after STARTTLS or implicit TLS has wrapped (and detached) the
    socket smtplib first opened."""

    def __init__(self, deadline: Deadline, *args: Any, **kwargs: Any):
        self.deadline = deadline  # before the constructor connects
        super().__init__(*args, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = super()._get_socket(host, port, timeout)
        try:
            self.deadline.watch(sock.dup(), own=True)
        except BaseException:
            sock.close()
            raise
        return sock


class _WatchedSMTPSSL(smtplib.SMTP_SSL, _WatchedSMTP):
    """Implicit TLS: ``SMTP_SSL._get_socket`` wraps what ``_WatchedSMTP._get_socket`` opened
    (the method order is SMTP_SSL, _WatchedSMTP, SMTP), so the TLS handshake is under the
    deadline too."""

    def __init__(self, deadline: Deadline, *args: Any, **kwargs: Any):
        self.deadline = deadline  # before SMTP_SSL's constructor connects
        smtplib.SMTP_SSL.__init__(self, *args, **kwargs)


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
