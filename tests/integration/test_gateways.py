"""Real e-mail and SMS delivery, against real servers on this host.

E-mail: an in-process SMTP server (aiosmtpd) — plain, STARTTLS with a throwaway certificate and
AUTH, implicit TLS — and the delivered bytes are read back with the standard ``email`` parser.
SMS: a local HTTP server stands in for Aliyun's dysmsapi and re-computes the request signature
from the documented algorithm (written here independently, byte by byte, without importing the
gateway's signer) and refuses mismatches; another stands in for a generic HTTP provider and
checks the bearer token or the HMAC.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import email
import email.policy
import hashlib
import hmac
import json
import re
import socket
import socketserver
import ssl
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import PASSPHRASE
from tests.integration.test_notify_intent import sqlite_cells
from yinxin.app import Platform, build_notify
from yinxin.clock import FrozenClock
from yinxin.errors import ConfigurationError, ValidationError
from yinxin.notify.email import SmtpConfig, SmtpGateway
from yinxin.notify.gateways import FileGateway
from yinxin.notify.service import Notifier, Outgoing, RetryPolicy
from yinxin.notify.sms import AliyunSmsGateway, HttpSmsFields, HttpSmsGateway
from yinxin.notify.templates import TemplateCodes
from yinxin.settings import MessageSettings, Settings
from yinxin.store.models.notify import Notification

PHONE = "13800138000"
SENDER = "印信电子签章平台 <noreply@yinxin.test>"
SMTP_USER, SMTP_PASSWORD = "mailer", "s3cret-Pässword"
ACCESS_KEY_ID, ACCESS_KEY_SECRET = "LTAI5tTestKeyId", "TestAccessKeySecret+/=0123"
SIGN_NAME = "印信"
HTTP_TOKEN = "tok-0123456789abcdef"
PDF = (
    b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
REPORT = json.dumps({"报告": "签署证据", "sha256": hashlib.sha256(PDF).hexdigest()}).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- a throwaway CA and a server certificate for 127.0.0.1 ------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> SimpleNamespace:
    """A CA (its PEM is what the client trusts) and a server key and certificate it issued."""
    d = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("throwaway test CA"))
        .issuer_name(_name("throwaway test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]
            ),
            False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (d / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (d / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(d / "server.pem", d / "server.key")
    return SimpleNamespace(ca=d / "ca.pem", server=server)


# --- the SMTP server ---------------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler keeping what it is given; ``nobody@`` is an unknown user (550),
    ``later@`` a mailbox that is busy (451)."""

    def __init__(self) -> None:
        self.delivered: list[SimpleNamespace] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 <nobody>: Recipient address rejected: User unknown"
        if address.startswith("later@"):
            return "451 4.2.1 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.delivered.append(
            SimpleNamespace(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                raw=envelope.original_content or envelope.content,
                tls=session.ssl is not None,
                authenticated=bool(session.authenticated),
            )
        )
        return "250 2.0.0 Message accepted"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            self.logins.append((mechanism, login))
            if (login, password) == (SMTP_USER, SMTP_PASSWORD):
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def parsed(self, i: int = -1) -> email.message.EmailMessage:
        return email.message_from_bytes(self.delivered[i].raw, policy=email.policy.default)


@contextlib.contextmanager
def smtp_server(mailbox: Mailbox, port: int | None = None, **kwargs) -> Iterator[int]:
    port = port or free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def notifier_with(platform: Platform, *gateways, **kwargs) -> Notifier:
    """A notifier over ``gateways`` with the platform's attachment store."""
    n, _ = build_notify(platform, gateways=gateways)
    if kwargs:
        n = Notifier(
            platform.db, platform.clock, gateways, attachments=n.attachment_store, **kwargs
        )
    return n


SIGN_VALUES = {
    "name": "张三 <b>&",
    "requester": "印信科技有限公司",
    "document": "房屋买卖合同（2025 版）",
    "url": "https://yinxin.test/s/abc?x=1&y=2",
}


# --- e-mail ------------------------------------------------------------------------------------


def test_chinese_mail_with_html_alternative_and_attachments(platform: Platform) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        gw = SmtpGateway(SmtpConfig("127.0.0.1", SENDER, port=port, security="none"))
        notifier = notifier_with(platform, gw)
        row = notifier.send(
            Outgoing(
                "email",
                "zhangsan@example.com",
                "signature_requested",
                SIGN_VALUES,
                attachments=(
                    ("房屋买卖合同.pdf", "application/pdf", PDF),
                    ("evidence-report.json", "application/json", REPORT),
                ),
            )
        )
    assert row.status == "sent" and row.error is None
    got = mailbox.delivered[0]
    assert got.mail_from == "noreply@yinxin.test" and got.rcpt_tos == ["zhangsan@example.com"]
    # 7-bit on the wire: the Chinese subject and sender name are RFC 2047 encoded words
    got.raw.decode("ascii")
    assert re.search(rb"^Subject: =\?utf-8\?[bq]\?", got.raw, re.M | re.I)
    assert re.search(rb"^From: =\?utf-8\?[bq]\?.*<noreply@yinxin.test>", got.raw, re.M | re.I)

    msg = mailbox.parsed()
    assert msg["Subject"] == "您有一份文件待签署"
    assert msg["From"].addresses[0].display_name == "印信电子签章平台"
    assert msg["Message-ID"].strip("<>") == row.provider_message_id
    # the Message-ID is the message key at the sender's domain: the same on any re-send
    assert re.fullmatch(r"yx-\d+-[0-9a-f]{12}", row.message_key)
    assert msg["Message-ID"] == f"<{row.message_key}@yinxin.test>"
    assert msg.get_content_type() == "multipart/mixed"
    plain = msg.get_body(("plain",)).get_content()
    assert "张三 <b>&，印信科技有限公司 邀请您签署《房屋买卖合同（2025 版）》" in plain
    assert SIGN_VALUES["url"] in plain
    html_part = msg.get_body(("html",))
    assert html_part.get_content_charset() == "utf-8"
    page = html_part.get_content()
    assert "张三 &lt;b&gt;&amp;" in page and "<b>&" not in page  # values escaped
    assert '<a href="https://yinxin.test/s/abc?x=1&amp;y=2">' in page
    files = {
        p.get_filename(): (p.get_content_type(), p.get_content()) for p in msg.iter_attachments()
    }
    assert files == {
        "房屋买卖合同.pdf": ("application/pdf", PDF),
        "evidence-report.json": ("application/json", REPORT),
    }

    # the send log names the attachments and their hashes, and holds none of their bytes
    assert [(a.filename, a.size, a.sha256) for a in row.attachments] == [
        ("房屋买卖合同.pdf", len(PDF), hashlib.sha256(PDF).hexdigest()),
        ("evidence-report.json", len(REPORT), hashlib.sha256(REPORT).hexdigest()),
    ]
    with platform.db.read() as s:
        n = s.get(Notification, row.id)
        assert len(n.values_json) < 600 and "%PDF" not in n.values_json
        assert base64.b64encode(PDF)[:20].decode() not in n.values_json


def test_starttls_and_auth_configured_from_settings(
    make_platform, tmp_path: Path, tls, clock: FrozenClock
) -> None:
    mailbox = Mailbox()
    kwargs = dict(
        tls_context=tls.server,
        require_starttls=True,
        auth_required=True,
        authenticator=mailbox.authenticate,
    )
    with smtp_server(mailbox, **kwargs) as port:
        messages = MessageSettings(
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_tls="starttls",
            smtp_user=SMTP_USER,
            smtp_password=SMTP_PASSWORD,
            smtp_from=SENDER,
            smtp_cafile=str(tls.ca),
            smtp_timeout=5,
        )
        home = tmp_path / "home"
        settings = Settings(home=home, database_url=f"sqlite:///{home / 'y.db'}", messages=messages)
        platform = Platform(settings, clock=clock, passphrase=PASSPHRASE)
        try:
            notifier = platform.notifier
            assert type(notifier.gateways["email"]).__name__ == "SmtpGateway"
            assert type(notifier.gateways["sms"]).__name__ == "FileGateway"
            values = {"name": "李四", "serial": "7F3A", "not_after": "2027-01-01"}
            ok = notifier.send(Outgoing("email", "lisi@example.com", "certificate_issued", values))
            assert ok.status == "sent", ok.error
            assert mailbox.delivered[-1].tls and mailbox.delivered[-1].authenticated
            assert mailbox.logins[-1][1] == SMTP_USER
            assert mailbox.parsed()["Subject"] == "数字证书已签发"

            # a wrong password: refused, retryable, and the password is nowhere
            bad = SmtpGateway(
                replace(SmtpConfig.from_settings(messages), password="wrong-Geheimnis"),
                ssl_context=ssl.create_default_context(cafile=str(tls.ca)),
            )
            row = notifier_with(platform, bad).send(
                Outgoing("email", "lisi@example.com", "certificate_issued", values)
            )
            assert row.status == "failed" and row.retryable and "login" in row.error

            # a certificate nobody vouches for: TLS fails and nothing is sent in clear
            untrusted = SmtpGateway(
                replace(SmtpConfig.from_settings(messages), cafile=None),
                ssl_context=ssl.create_default_context(),
            )
            before = len(mailbox.delivered)
            row = notifier_with(platform, untrusted).send(
                Outgoing("email", "lisi@example.com", "certificate_issued", values)
            )
            assert row.status == "failed" and row.retryable and "TLS" in row.error
            assert len(mailbox.delivered) == before
            for text in (repr(settings), repr(messages), repr(SmtpConfig.from_settings(messages))):
                assert SMTP_PASSWORD not in text
            cells = sqlite_cells(home / "y.db")
            for secret in (SMTP_PASSWORD, "wrong-Geheimnis"):
                assert not [c for c in cells if secret in str(c[2])]
        finally:
            platform.close()


def test_server_without_starttls_is_not_used_in_clear(platform: Platform) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        gw = SmtpGateway(SmtpConfig("127.0.0.1", SENDER, port=port, security="starttls"))
        row = notifier_with(platform, gw).send(
            Outgoing("email", "a@example.com", "seal_created", {"name": "甲", "seal_name": "公章"})
        )
    assert row.status == "failed" and row.retryable and "STARTTLS" in row.error.upper()
    assert mailbox.delivered == []


def test_implicit_tls(platform: Platform, tls) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox, ssl_context=tls.server) as port:
        gw = SmtpGateway(
            SmtpConfig("127.0.0.1", SENDER, port=port, security="tls", cafile=str(tls.ca))
        )
        row = notifier_with(platform, gw).send(
            Outgoing(
                "email", "a@example.com", "seal_created", {"name": "甲", "seal_name": "合同章"}
            )
        )
    assert row.status == "sent", row.error
    assert (
        mailbox.parsed().get_body(("plain",)).get_content().strip().endswith("已制作完成并可使用。")
    )


def test_refused_recipient_is_permanent_and_busy_mailbox_retried(
    platform: Platform, clock: FrozenClock
) -> None:
    mailbox = Mailbox()
    values = {"name": "王五", "application_id": "A-9"}
    with smtp_server(mailbox) as port:
        gw = SmtpGateway(SmtpConfig("127.0.0.1", SENDER, port=port, security="none"))
        notifier = notifier_with(platform, gw)
        gone = notifier.send(
            Outgoing("email", "nobody@example.com", "application_received", values)
        )
        busy = notifier.send(Outgoing("email", "later@example.com", "application_received", values))
        assert gone.status == "failed" and not gone.retryable and gone.next_attempt_at is None
        assert "550" in gone.error and "refused the recipient" in gone.error
        assert busy.status == "failed" and busy.retryable and "451" in busy.error
        clock.advance(hours=1)
        retried = notifier.retry_failed()
    assert [r.id for r in retried] == [busy.id]  # the refused one is never tried again
    assert notifier.get(gone.id).attempts == 1
    assert mailbox.delivered == []


def test_server_down_then_retry_delivers_the_same_attachment(
    platform: Platform, clock: FrozenClock
) -> None:
    port = free_port()  # nothing listens there yet
    gw = SmtpGateway(SmtpConfig("127.0.0.1", SENDER, port=port, security="none", timeout=3))
    notifier = notifier_with(platform, gw, retry=RetryPolicy(max_attempts=3, base_seconds=60))
    row = notifier.send(
        Outgoing(
            "email",
            "zhaoliu@example.com",
            "flow_completed",
            {"name": "赵六", "title": "采购合同", "signers": 3, "flow_id": "F-1"},
            attachments=(("采购合同-已签署.pdf", "application/pdf", PDF),),
        )
    )
    assert row.status == "failed" and row.retryable and "cannot reach" in row.error
    assert str(port) in row.error and row.next_attempt_at == clock.now() + dt.timedelta(minutes=1)
    mailbox = Mailbox()
    with smtp_server(mailbox, port=port):
        assert notifier.retry_failed() == []  # back-off not over
        clock.advance(minutes=1)
        done = notifier.retry_failed()
    assert [(r.id, r.status, r.attempts) for r in done] == [(row.id, "sent", 2)]
    msg = mailbox.parsed()
    assert msg["Message-ID"] == f"<{row.message_key}@yinxin.test>"  # attempt 2, same key
    assert msg["Subject"] == "文件已签署完成"
    (part,) = list(msg.iter_attachments())
    assert part.get_filename() == "采购合同-已签署.pdf" and part.get_content() == PDF


class TrickleHandler(socketserver.BaseRequestHandler):
    """A relay that writes its 220 greeting one byte every 0.2 s: each byte well inside the
    client's timeout, the whole far beyond the limit on one message."""

    greeting = b"220 slow.relay.test ESMTP trickling its replies\r\n"

    def handle(self) -> None:
        try:
            for byte in self.greeting:
                self.request.sendall(bytes([byte]))
                time.sleep(0.2)
            self.request.recv(1024)
        except OSError:  # the client cut the connection
            pass


@contextlib.contextmanager
def trickling(handler: type[socketserver.BaseRequestHandler]) -> Iterator[int]:
    """A real server on 127.0.0.1 answering with ``handler`` in its own threads; its port."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads, server.block_on_close = True, False
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_relay_trickling_its_replies_cannot_hold_a_message_past_its_limit(
    platform: Platform, clock: FrozenClock
) -> None:
    """The timeout bounds each reply, not the message: without a limit on the whole exchange,
    the trickling relay holds the send (and the run behind it) as long as it likes, past the
    send log's stale mark, when another process sends the row again."""
    with trickling(TrickleHandler) as port:
        gw = SmtpGateway(
            SmtpConfig("127.0.0.1", SENDER, port=port, security="none", timeout=5, limit_seconds=1)
        )
        notifier = notifier_with(platform, gw, retry=RetryPolicy(max_attempts=3, base_seconds=60))
        row = notifier.send(
            Outgoing(
                "email",
                "slow@example.com",
                "application_received",
                {"name": "王五", "application_id": "A-7"},
            )
        )
    assert row.status == "failed" and row.retryable, row
    assert row.error == f"the mail server 127.0.0.1:{port} gave no complete answer within 1 s"
    assert row.next_attempt_at == clock.now() + dt.timedelta(minutes=1)  # retried, backing off


def test_outbox_row_with_attachment_is_sent_after_commit(platform: Platform) -> None:
    """``enqueue`` keeps the bytes in the attachment store; the file outbox lists them."""
    notifier, _ = build_notify(platform)
    values = {"name": "甲", "title": "合同", "signers": 2, "flow_id": "F-2"}
    with platform.db.transaction() as s:
        notifier.enqueue(
            s,
            Outgoing(
                "email",
                "a@example.com",
                "flow_completed",
                values,
                attachments=(("合同.pdf", "application/pdf", PDF),),
            ),
        )
    (sent,) = notifier.send_pending()
    assert sent.status == "sent"
    line = FileGateway(platform.settings.outbox_dir, "email").read()[-1]
    assert line["message_key"] == sent.message_key and line["id"] == sent.provider_message_id
    assert line["attachments"] == [
        {
            "filename": "合同.pdf",
            "content_type": "application/pdf",
            "size": len(PDF),
            "sha256": hashlib.sha256(PDF).hexdigest(),
        }
    ]


def test_bad_attachments_and_sms_attachments_are_refused(platform: Platform) -> None:
    notifier, _ = build_notify(platform)
    values = {"name": "甲", "seal_name": "公章"}
    for bad in (
        ("../etc/passwd", "text/plain", b"x"),
        ("a.pdf", "pdf", b"x"),
        ("a.pdf", "application/pdf", "not bytes"),
    ):
        with pytest.raises(ValidationError) as e:
            notifier.send(
                Outgoing("email", "a@example.com", "seal_created", values, None, "zh", (bad,))
            )
        assert e.value.field == "attachments"
    with pytest.raises(ValidationError):
        notifier.send(
            Outgoing(
                "sms",
                PHONE,
                "seal_created",
                values,
                attachments=(("a.pdf", "application/pdf", PDF),),
            )
        )
    assert notifier.log() == []  # refused before anything was written


# --- the Aliyun dysmsapi stand-in ---------------------------------------------------------------


def _aliyun_encode(text: str) -> str:
    """Aliyun's documented percent-encoding, byte by byte: A–Z a–z 0–9 - _ . ~ as they are,
    every other UTF-8 byte as %XY with upper-case hex."""
    keep = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
    return "".join(chr(b) if b in keep else f"%{b:02X}" for b in text.encode("utf-8"))


def _aliyun_expected_signature(method: str, params: dict[str, str], secret: str) -> str:
    pairs = sorted((k, v) for k, v in params.items() if k != "Signature")
    canonical = "&".join(_aliyun_encode(k) + "=" + _aliyun_encode(v) for k, v in pairs)
    to_sign = method + "&" + _aliyun_encode("/") + "&" + _aliyun_encode(canonical)
    mac = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


class AliyunStub:
    """What dysmsapi checks, as documented: the signature over every parameter, the common
    parameters, a fresh nonce, a recent UTC timestamp, the sign name and the template's
    variables. ``templates`` maps approved template codes to their variables; ``fail`` holds
    error codes to answer next, one per request."""

    def __init__(self, clock: FrozenClock, templates: dict[str, set[str]]):
        self.clock, self.templates = clock, templates
        self.secrets = {ACCESS_KEY_ID: ACCESS_KEY_SECRET}
        self.nonces: set[str] = set()
        self.accepted: list[dict[str, str]] = []
        self.refused: list[str] = []
        self.fail: list[str] = []
        self.out_ids: list[str | None] = []  # OutId of every correctly signed request

    def answer(self, method: str, params: dict[str, str]) -> tuple[int, dict]:
        rid = uuid.uuid4().hex.upper()

        def no(status: int, code: str, message: str) -> tuple[int, dict]:
            self.refused.append(code)
            return status, {"Code": code, "Message": message, "RequestId": rid}

        secret = self.secrets.get(params.get("AccessKeyId", ""))
        if secret is None:
            return no(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        given = params.get("Signature", "")
        if not hmac.compare_digest(given, _aliyun_expected_signature(method, params, secret)):
            return no(400, "SignatureDoesNotMatch", "Specified signature is not matched.")
        self.out_ids.append(params.get("OutId"))
        if len(params.get("OutId", "")) >= 256:
            return no(400, "InvalidParameter", "OutId must be shorter than 256")
        common = {
            "Action": "SendSms",
            "Version": "2017-05-25",
            "Format": "JSON",
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
        }
        for k, v in common.items():
            if params.get(k) != v:
                return no(400, "MissingParameter", f"{k} must be {v}")
        ts = params.get("Timestamp", "")
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", ts):
            return no(400, "InvalidTimeStamp.Format", "Timestamp is not UTC ISO 8601")
        at = dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        if abs(at - self.clock.now()) > dt.timedelta(minutes=15):
            return no(400, "InvalidTimeStamp.Expired", "Timestamp is too far off")
        nonce = params.get("SignatureNonce", "")
        if not nonce or nonce in self.nonces:
            return no(400, "SignatureNonceUsed", "The nonce has been used")
        self.nonces.add(nonce)
        if self.fail:
            code = self.fail.pop(0)
            return no(200, code, f"stub refuses with {code}")
        if params.get("SignName") != SIGN_NAME:
            return no(200, "isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        variables = self.templates.get(params.get("TemplateCode", ""))
        if variables is None:
            return no(200, "isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        if not re.fullmatch(r"1[3-9]\d{9}", params.get("PhoneNumbers", "")):
            return no(200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        try:
            values = json.loads(params.get("TemplateParam", ""))
        except ValueError:
            return no(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法")
        if set(values) != variables or not all(isinstance(v, str) for v in values.values()):
            return no(200, "isv.TEMPLATE_MISSING_PARAMETERS", "模板变量缺少对应参数值")
        self.accepted.append(params)
        return 200, {
            "Code": "OK",
            "Message": "OK",
            "BizId": f"9{len(self.accepted)}^0",
            "RequestId": rid,
        }


@contextlib.contextmanager
def http_server(respond) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 in a thread; ``respond(handler, body)`` answers a POST
    with (status, JSON document)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, doc = respond(self, body)
            out = json.dumps(doc, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def aliyun(stub: AliyunStub) -> Iterator[str]:
    def respond(handler, body: bytes):
        assert handler.path == "/"
        assert handler.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
        params = dict(urllib.parse.parse_qsl(body.decode("ascii"), keep_blank_values=True))
        return stub.answer("POST", params)

    with http_server(respond) as url:
        yield url


OTP_VARS = {"code", "minutes", "document"}
ISSUED_VARS = {"name", "serial", "not_after"}


def test_aliyun_signature_stub_checks_a_known_vector() -> None:
    """The stub's verifier is itself checked with a request signed by the gateway and with a
    request changed after signing, so a stub that accepted anything would fail here."""
    clock = FrozenClock(dt.datetime(2025, 3, 1, 8, 30, tzinfo=dt.UTC))
    gw = AliyunSmsGateway(
        access_key_id=ACCESS_KEY_ID,
        access_key_secret=ACCESS_KEY_SECRET,
        sign_name=SIGN_NAME,
        codes={"one_time_code": "SMS_100"},
        clock=clock,
    )
    values = {"code": "123456", "minutes": "5", "document": "房屋 买卖*合同~v2 (final)"}
    p = gw.request_parameters(PHONE, "SMS_100", values)
    assert p["Timestamp"] == "2025-03-01T08:30:00Z"
    assert json.loads(p["TemplateParam"]) == values
    assert p["Signature"] == _aliyun_expected_signature("POST", p, ACCESS_KEY_SECRET)
    assert p["Signature"] != _aliyun_expected_signature("GET", p, ACCESS_KEY_SECRET)
    assert p["Signature"] != _aliyun_expected_signature(
        "POST", p | {"PhoneNumbers": "13900139000"}, ACCESS_KEY_SECRET
    )
    assert "OutId" not in p
    q = gw.request_parameters(PHONE, "SMS_100", values, out_id="yx-7-0123456789ab")
    assert q["OutId"] == "yx-7-0123456789ab"  # signed with the rest
    assert q["Signature"] == _aliyun_expected_signature("POST", q, ACCESS_KEY_SECRET)
    assert q["Signature"] != _aliyun_expected_signature(
        "POST", q | {"OutId": "yx-8-0123456789ab"}, ACCESS_KEY_SECRET
    )
    assert _aliyun_encode("a b*c~/中") == "a%20b%2Ac~%2F%E4%B8%AD"
    gw.close()


def aliyun_platform(make_platform, url: str, **more) -> Platform:
    platform = make_platform("sqlite", init=False)
    messages = MessageSettings(
        sms_provider="aliyun",
        sms_templates="one_time_code=SMS_100, certificate_issued=SMS_200",
        aliyun_access_key_id=ACCESS_KEY_ID,
        aliyun_access_key_secret=more.pop("secret", ACCESS_KEY_SECRET),
        aliyun_sign_name=SIGN_NAME,
        aliyun_endpoint=url,
    )
    platform.settings = replace(platform.settings, messages=messages)
    return platform


def test_one_time_code_goes_out_through_aliyun(make_platform, clock: FrozenClock) -> None:
    stub = AliyunStub(clock, {"SMS_100": OTP_VARS})
    with aliyun(stub) as url:
        platform = aliyun_platform(make_platform, url)
        assert type(platform.notifier.gateways["sms"]).__name__ == "AliyunSmsGateway"
        sid = platform.subscribers.add_person(
            name="张三", id_number="11010519491231002X", phone=PHONE
        ).id
        doc = hashlib.sha256(PDF).hexdigest()
        ch = platform.intent.request_code(
            sid, purpose="sign", document_sha256=doc, document_name="房屋 买卖*合同~v2"
        )
    (req,) = stub.accepted
    assert stub.refused == []
    assert req["PhoneNumbers"] == PHONE and req["TemplateCode"] == "SMS_100"
    assert req["SignName"] == SIGN_NAME
    param = json.loads(req["TemplateParam"])
    assert param["document"] == "房屋 买卖*合同~v2" and param["minutes"] == "5"
    code = param["code"]
    assert re.fullmatch(r"\d{6}", code)
    ok = platform.intent.confirm(ch.challenge_id, code, subscriber_id=sid, document_sha256=doc)
    assert ok.document_sha256 == doc
    (row,) = platform.notifier.log()
    assert row.status == "sent" and row.gateway == "AliyunSmsGateway"
    assert row.provider_message_id == "91^0"
    assert "******" in row.body and code not in row.body
    cells = sqlite_cells(platform.settings.home / "yinxin.db")
    assert not [c for c in cells if ACCESS_KEY_SECRET in str(c[2])]
    assert not [c for c in cells if f"为 {code}" in str(c[2]) or f'"{code}"' in str(c[2])]


def test_provider_template_taking_only_the_code(make_platform, clock: FrozenClock) -> None:
    """An Aliyun 验证码 template declares ``${code}`` alone: it is given that and nothing else
    (the stub refuses a TemplateParam whose keys differ from the template's variables)."""
    stub = AliyunStub(clock, {"SMS_101": {"code"}})
    with aliyun(stub) as url:
        platform = aliyun_platform(make_platform, url)
        platform.settings = replace(
            platform.settings,
            messages=replace(
                platform.settings.messages, sms_templates="one_time_code=SMS_101:code"
            ),
        )
        sid = platform.subscribers.add_person(
            name="张三", id_number="11010519491231002X", phone=PHONE
        ).id
        platform.intent.request_code(
            sid, purpose="sign", document_sha256="ab" * 32, document_name="合同"
        )
    (req,) = stub.accepted
    assert list(json.loads(req["TemplateParam"])) == ["code"]
    with pytest.raises(ConfigurationError) as e:
        TemplateCodes.parse("one_time_code=SMS_101:code+nonesuch")
    assert e.value.field == "YINXIN_SMS_TEMPLATES" and "nonesuch" in e.value.message


def test_wrong_secret_is_refused_by_the_signature_check(make_platform, clock: FrozenClock) -> None:
    stub = AliyunStub(clock, {"SMS_200": ISSUED_VARS})
    with aliyun(stub) as url:
        platform = aliyun_platform(make_platform, url, secret="not-the-secret")
        values = {"name": "张三", "serial": "01AB", "not_after": "2027-01-01"}
        row = platform.notifier.send(Outgoing("sms", PHONE, "certificate_issued", values))
    assert stub.refused == ["SignatureDoesNotMatch"] and stub.accepted == []
    assert row.status == "failed" and row.retryable  # the operator can fix the key
    assert "SignatureDoesNotMatch" in row.error and "not-the-secret" not in row.error


def test_aliyun_error_codes_permanent_and_retryable(make_platform, clock: FrozenClock) -> None:
    stub = AliyunStub(clock, {"SMS_200": ISSUED_VARS})
    values = {"name": "张三", "serial": "01AB", "not_after": "2027-01-01"}
    with aliyun(stub) as url:
        platform = aliyun_platform(make_platform, url)
        notifier = platform.notifier
        stub.fail = ["isv.MOBILE_NUMBER_ILLEGAL", "isv.BUSINESS_LIMIT_CONTROL"]
        dead = notifier.send(Outgoing("sms", PHONE, "certificate_issued", values))
        later = notifier.send(Outgoing("sms", "13900139000", "certificate_issued", values))
        # a template the provider never approved, and one with no code configured
        sms = notifier.gateways["sms"]
        sms.codes = TemplateCodes({"certificate_issued": "SMS_999"})
        unknown = notifier.send(Outgoing("sms", PHONE, "certificate_issued", values))
        sms.codes = TemplateCodes({"certificate_issued": "SMS_200"})
        nocode = notifier.send(
            Outgoing("sms", PHONE, "seal_created", {"name": "甲", "seal_name": "公章"})
        )
        assert (
            dead.status == "failed" and not dead.retryable and "MOBILE_NUMBER_ILLEGAL" in dead.error
        )
        assert later.status == "failed" and later.retryable and "BUSINESS_LIMIT" in later.error
        assert not unknown.retryable and "SMS_TEMPLATE_ILLEGAL" in unknown.error
        assert not nocode.retryable and "YINXIN_SMS_TEMPLATES" in nocode.error
        clock.advance(hours=1)
        retried = notifier.retry_failed()
    assert [(r.id, r.status) for r in retried] == [(later.id, "sent")]
    assert [a["PhoneNumbers"] for a in stub.accepted] == ["13900139000"]
    # the retry carried the first attempt's OutId: one message, one key
    assert stub.accepted[0]["OutId"] == later.message_key
    assert stub.out_ids.count(later.message_key) == 2
    assert len({dead.message_key, later.message_key, unknown.message_key}) == 3
    assert notifier.get(dead.id).attempts == 1 and notifier.get(unknown.id).attempts == 1


def test_aliyun_unreachable_is_retryable(make_platform) -> None:
    platform = aliyun_platform(make_platform, f"http://127.0.0.1:{free_port()}")
    values = {"name": "张三", "serial": "01AB", "not_after": "2027-01-01"}
    row = platform.notifier.send(Outgoing("sms", PHONE, "certificate_issued", values))
    assert row.status == "failed" and row.retryable and "ConnectError" in row.error


# --- the generic HTTP adapter ------------------------------------------------------------------


class HttpStub:
    """A provider that wants ``mobile``/``content``/``tpl``/``vars`` and either a bearer token
    or an HMAC-SHA256 over ``timestamp.body``; ``13900000000`` is an unknown number (422)."""

    def __init__(self, auth: str):
        self.auth = auth
        self.accepted: list[dict] = []
        self.status: list[int] = []
        self.keys: list[str] = []  # the message key of every authenticated request

    def __call__(self, handler, body: bytes):
        if self.auth == "bearer":
            if handler.headers.get("Authorization") != f"Bearer {HTTP_TOKEN}":
                return self._no(401, "bad token")
        else:
            ts = handler.headers.get("X-Yinxin-Timestamp", "")
            want = hmac.new(HTTP_TOKEN.encode(), ts.encode() + b"." + body, hashlib.sha256)
            if handler.headers.get("X-Yinxin-Signature") != f"sha256={want.hexdigest()}":
                return self._no(401, "bad signature")
        doc = json.loads(body)
        if set(doc) != {"mobile", "content", "tpl", "vars", "message_id"}:
            return self._no(400, f"fields {sorted(doc)}")
        if handler.headers.get("Idempotency-Key") != doc["message_id"]:
            return self._no(400, "Idempotency-Key differs from message_id")
        self.keys.append(doc["message_id"])
        if doc["mobile"] == "13900000000":
            return self._no(422, "unknown number")
        if self.status:
            return self._no(self.status.pop(0), "busy")
        self.accepted.append(doc)
        return 200, {"msgid": f"m-{len(self.accepted)}"}

    def _no(self, status: int, why: str):
        return status, {"error": why}


def http_gateway(
    url: str, auth: str = "bearer", token: str = HTTP_TOKEN, clock=None
) -> HttpSmsGateway:
    return HttpSmsGateway(
        url=url + "/sms/send",
        token=token,
        auth=auth,
        fields=HttpSmsFields.parse("to=mobile,text=content,template=tpl,params=vars"),
        id_field="msgid",
        codes=TemplateCodes.parse("sign_request=TPL-7"),
        clock=clock,
    )


@pytest.mark.parametrize("auth", ["bearer", "hmac"])
def test_signing_link_through_generic_http(platform: Platform, auth: str) -> None:
    stub = HttpStub(auth)
    values = {
        "name": "张三",
        "title": "采购合同",
        "documents": 2,
        "deadline": "2025-04-01 18:00",
        "url": "https://yinxin.test/s/tok123",
    }
    with http_server(stub) as url:
        notifier = notifier_with(platform, http_gateway(url, auth, clock=platform.clock))
        row = notifier.send(Outgoing("sms", PHONE, "sign_request", values))
        bad = notifier_with(platform, http_gateway(url, auth, token="wrong", clock=platform.clock))
        refused = bad.send(Outgoing("sms", PHONE, "sign_request", values))
    assert row.status == "sent" and row.provider_message_id == "m-1"
    (doc,) = stub.accepted
    assert doc["mobile"] == PHONE and doc["tpl"] == "TPL-7"
    assert doc["vars"]["url"] == "https://yinxin.test/s/tok123" and doc["vars"]["documents"] == "2"
    assert "https://yinxin.test/s/tok123" in doc["content"] and doc["content"].startswith(
        "【印信】"
    )
    assert "tok123" not in row.body  # the link is a bearer secret: masked in the log
    assert refused.status == "failed" and "401" in refused.error and "wrong" not in refused.error


def test_generic_http_errors_permanent_and_retryable(
    platform: Platform, clock: FrozenClock
) -> None:
    stub = HttpStub("bearer")
    values = {"name": "张三", "serial": "01AB", "not_after": "2027-01-01"}
    with http_server(stub) as url:
        notifier = notifier_with(platform, http_gateway(url, clock=clock))
        dead = notifier.send(Outgoing("sms", "13900000000", "certificate_issued", values))
        stub.status = [503]
        later = notifier.send(Outgoing("sms", PHONE, "certificate_issued", values))
        assert not dead.retryable and "422" in dead.error
        assert later.retryable and "503" in later.error
        clock.advance(hours=1)
        retried = notifier.retry_failed()
    assert [(r.id, r.status) for r in retried] == [(later.id, "sent")]
    assert stub.accepted[0]["tpl"] == "certificate_issued"  # no code mapped: our template id
    # 503 then 200: both attempts carried the same key, in the body and Idempotency-Key
    assert stub.keys == [dead.message_key, later.message_key, later.message_key]
    assert stub.accepted[0]["message_id"] == later.message_key


class TrickleHttpHandler(socketserver.BaseRequestHandler):
    """An SMS provider that reads the request and writes its answer one byte every 0.2 s: each
    byte well inside the client's timeout, the whole far beyond the limit on one request."""

    body = b'{"Code":"OK","BizId":"1","id":"m-1"}'
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )

    def handle(self) -> None:
        try:
            self.request.recv(65536)
            for byte in self.answer:
                self.request.sendall(bytes([byte]))
                time.sleep(0.2)
        except OSError:  # the client cut the connection
            pass


@pytest.mark.parametrize("provider", ["http", "aliyun"])
def test_a_provider_trickling_its_answer_cannot_hold_an_sms_past_its_limit(
    platform: Platform, clock: FrozenClock, provider: str
) -> None:
    """The timeout bounds each read, not the request: without a limit on the whole exchange,
    the trickling provider holds the send (and the run behind it) as long as it likes, past the
    send log's stale mark, when another process sends the SMS again."""
    with trickling(TrickleHttpHandler) as port:
        url = f"http://127.0.0.1:{port}"
        gw: HttpSmsGateway | AliyunSmsGateway
        if provider == "http":
            gw = HttpSmsGateway(url=url, token=HTTP_TOKEN, timeout=5, limit_seconds=1, clock=clock)
        else:
            gw = AliyunSmsGateway(
                access_key_id=ACCESS_KEY_ID,
                access_key_secret=ACCESS_KEY_SECRET,
                sign_name=SIGN_NAME,
                codes=TemplateCodes.parse("certificate_issued=SMS_200"),
                endpoint=url,
                timeout=5,
                limit_seconds=1,
                clock=clock,
            )
        try:
            notifier = notifier_with(
                platform, gw, retry=RetryPolicy(max_attempts=3, base_seconds=60)
            )
            values = {"name": "张三", "serial": "01AB", "not_after": "2027-01-01"}
            row = notifier.send(Outgoing("sms", PHONE, "certificate_issued", values))
        finally:
            gw.close()
    assert row.status == "failed" and row.retryable, row
    assert row.error == "the SMS provider gave no complete answer within 1 s"
    assert row.next_attempt_at == clock.now() + dt.timedelta(minutes=1)  # retried, backing off


def test_generic_http_message_key_field_renamed_or_left_out() -> None:
    """The key's JSON field follows ``YINXIN_SMS_HTTP_FIELDS`` (``message_id=`` leaves it out
    for a provider with a strict schema); the ``Idempotency-Key`` header is always sent."""
    key = "yx-3-00ff00ff00ff"
    for spec, field_name in (
        ("", "message_id"),
        ("message_id=outId", "outId"),
        ("message_id=", None),
    ):
        gw = HttpSmsGateway(
            url="http://127.0.0.1:9/sms", auth="none", fields=HttpSmsFields.parse(spec)
        )
        doc = json.loads(gw.request_body(PHONE, "text", "certificate_issued", {}, key))
        if field_name:
            assert doc[field_name] == key
        else:
            assert key not in json.dumps(doc)
        assert gw.headers(b"{}", key)["Idempotency-Key"] == key
        assert "Idempotency-Key" not in gw.headers(b"{}")
        gw.close()
    with pytest.raises(ConfigurationError) as e:
        HttpSmsFields.parse("msgid=x")
    assert "message_id=" in e.value.message


# --- configuration -----------------------------------------------------------------------------


def test_configuration_from_the_environment(monkeypatch, tmp_path: Path) -> None:
    env = {
        "YINXIN_SMTP_HOST": "smtp.example.com",
        "YINXIN_SMTP_PORT": "2525",
        "YINXIN_SMTP_USER": "u",
        "YINXIN_SMTP_PASSWORD": "smtp-pw-secret",
        "YINXIN_SMTP_TLS": "tls",
        "YINXIN_SMTP_FROM": SENDER,
        "YINXIN_SMS_PROVIDER": "aliyun",
        "YINXIN_SMS_TEMPLATES": "one_time_code=SMS_1,sign_request=SMS_2",
        "YINXIN_ALIYUN_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "YINXIN_ALIYUN_ACCESS_KEY_SECRET": "aliyun-secret-value",
        "YINXIN_ALIYUN_SIGN_NAME": SIGN_NAME,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    s = Settings.from_env(tmp_path)
    m = s.messages
    assert (m.smtp_port, m.smtp_tls, m.sms_provider) == (2525, "tls", "aliyun")
    assert "smtp-pw-secret" not in repr(s) and "aliyun-secret-value" not in repr(s)
    platform = Platform(s, migrate=True)
    try:
        gws = platform.notifier.gateways
        assert type(gws["email"]).__name__ == "SmtpGateway" and gws["email"].config.port == 2525
        assert gws["sms"].codes.get("sign_request") == "SMS_2"
        assert "aliyun-secret-value" not in repr(gws["sms"])
    finally:
        platform.close()

    with pytest.raises(ConfigurationError) as e:
        TemplateCodes.parse("one_time_code=SMS_1,no_such_template=SMS_2")
    assert e.value.field == "YINXIN_SMS_TEMPLATES"
    with pytest.raises(ConfigurationError) as e:
        AliyunSmsGateway(access_key_id="x", access_key_secret="", sign_name="印信")
    assert e.value.field == "YINXIN_ALIYUN_ACCESS_KEY_SECRET"
    with pytest.raises(ConfigurationError) as e:
        SmtpConfig("smtp.example.com", SENDER, security="none", username="u", password="p")
    assert e.value.field == "YINXIN_SMTP_TLS"  # no password in clear over the network
    with pytest.raises(ConfigurationError) as e:
        HttpSmsGateway(url="ftp://x", token="t")
    assert e.value.field == "YINXIN_SMS_HTTP_URL"


def test_nothing_configured_keeps_the_file_outbox(platform: Platform) -> None:
    gws = platform.notifier.gateways
    assert {c: type(g).__name__ for c, g in gws.items()} == {
        "sms": "FileGateway",
        "email": "FileGateway",
    }


def test_html_of_every_template_escapes_its_values() -> None:
    from yinxin.notify.templates import DEFAULT_TEMPLATES

    for t in DEFAULT_TEMPLATES:
        values = {f: f"<i>{f}&\"'</i>" for f in t.fields}
        for lang in ("zh", "en", "zh-en"):
            page = t.render_html(values, lang)
            assert "<i>" not in page and "&lt;i&gt;" in page, (t.id, lang)
            assert page.startswith("<!DOCTYPE html>")
