"""Notifications with a send log, and intent confirmation by one-time code, on real databases.

The one-time code must reach the gateway and nothing else: these tests read it from the file
outbox and then look for it in every table, the audit trail, the send log and every error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import stat
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.clear_text import in_clear
from yinxin.app import Platform, build_notify
from yinxin.clock import FrozenClock
from yinxin.errors import Conflict, Forbidden, NotFound, ValidationError, YinxinError
from yinxin.identity import uscc_check_char
from yinxin.notify.gateways import DeliveryError, FileGateway, Message
from yinxin.notify.service import Notifier, Outgoing, RetryPolicy
from yinxin.notify.templates import DEFAULT_TEMPLATES, render
from yinxin.results import plain
from yinxin.signing.intent import Challenge, IntentConfirmation, RateLimited
from yinxin.store.models import AuditEvent, Subscriber
from yinxin.store.models.notify import IntentChallenge

DOC = b"%PDF-1.7 contract between A and B"
DOC_SHA = hashlib.sha256(DOC).hexdigest()
DOC_NAME = "房屋买卖合同"
PHONE = "13800138000"


class FlakyGateway:
    """Fails the first ``failures`` sends, echoing the body the way careless providers do."""

    def __init__(self, channel: str, failures: int, *, crash: bool = False):
        self.channel, self.failures, self.crash = channel, failures, crash
        self.sent: list[tuple[str, str, str]] = []

    def send(self, message: Message) -> str:
        if self.failures:
            self.failures -= 1
            if self.crash:
                raise RuntimeError(f"provider blew up on {message.body!r}")
            raise DeliveryError(f"provider answered 503 for {message.body!r}")
        self.sent.append((message.recipient, message.subject, message.body))
        return f"prov-{len(self.sent)}"


def person(platform: Platform) -> int:
    return platform.subscribers.add_person(
        name="张三", id_number="11010519491231002X", phone=PHONE
    ).id


def outbox(platform: Platform, channel: str = "sms") -> list[dict]:
    return FileGateway(platform.settings.outbox_dir, channel).read()


def last_code(platform: Platform) -> str:
    body = outbox(platform)[-1]["body"]
    return body.split("验证码为 ")[1][:6]


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def request(intent: IntentConfirmation, sid: int) -> Challenge:
    return intent.request_code(sid, purpose="sign", document_sha256=DOC_SHA, document_name=DOC_NAME)


def sqlite_cells(path: Path) -> list[tuple[str, str, object]]:
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        out = []
        for t in tables:
            cur = con.execute(f'SELECT * FROM "{t}"')
            cols = [d[0] for d in cur.description]
            for row in cur:
                out += [(t, c, v) for c, v in zip(cols, row, strict=True)]
        return out
    finally:
        con.close()


def holds(value: object, code: str) -> bool:
    """The code in a cell: anywhere in bytes (six given bytes turn up by chance in a blob of
    n once in 2**48 / n), in clear in text (six digits turn up inside a hex digest, a serial or
    an id in JSON by chance: tests/clear_text.py)."""
    if isinstance(value, bytes):
        return code.encode() in value
    return in_clear(code, str(value))


# --- templates --------------------------------------------------------------------------------


def test_templates_render_chinese_first_and_name_missing_values() -> None:
    subject, body = render("one_time_code", code="123456", minutes=5, document=DOC_NAME)
    assert body == (
        "【印信】您的验证码为 123456，5 分钟内有效，用于签署《房屋买卖合同》。请勿泄露。"
    )
    assert subject == "印信验证码"
    with pytest.raises(ValidationError) as e:
        render("one_time_code", code="123456", minutes=5)
    assert e.value.field == "document"
    with pytest.raises(NotFound):
        render("no_such_template")
    for t in DEFAULT_TEMPLATES:
        values = {f: "x" for f in t.fields}
        zh_subject, zh_body = render(t.id, **values)
        assert zh_subject and any("\u4e00" <= c <= "\u9fff" for c in zh_body)
        both = render(t.id, lang="zh-en", **values)[1]
        assert both.startswith(zh_body)
    assert render(
        "certificate_expiring",
        lang="en",
        name="Zhang San",
        serial="1a",
        not_after="2027-01-01",
        days=30,
    )[1].startswith("Zhang San, your certificate")


# --- send log, failures and retries -----------------------------------------------------------


def test_a_holder_with_a_phone_gets_its_notices_by_sms_not_at_its_email(platform: Platform):
    """Why a holder with a mobile number changes its e-mail with the new address's code alone
    (``signing.phone_change``): its notices go to the registered number whatever its e-mail is,
    with the gateways the platform always has; only a holder with no number gets them by
    e-mail (and its change asks the current address's code too)."""
    sub = platform.subscribers.add_person(
        name="张三", id_number="11010519491231002X", phone=PHONE, email="zs@example.cn"
    )
    org = platform.subscribers.add_organization(
        name="福州无手机有限公司",
        uscc="91350100MA2XYW000" + uscc_check_char("91350100MA2XYW000"),
        legal_representative="陈七",
        contact_name="林八",
        contact_phone="0591-87760022",
        email="office@example.cn",
    )
    assert set(platform.notifier.gateways) == {"sms", "email"}
    with platform.db.read() as s:
        to_person = platform.notifier.to_subscriber(s, sub.id, "x", {})
        to_org = platform.notifier.to_subscriber(s, org.id, "x", {})
    assert (to_person.channel, to_person.recipient) == ("sms", PHONE)
    assert (to_org.channel, to_org.recipient) == ("email", "office@example.cn")


def test_send_log_masks_phone_and_keeps_the_full_number(platform: Platform) -> None:
    notifier, _ = build_notify(platform)
    sid = person(platform)
    row = notifier.send(
        Outgoing(
            "sms",
            PHONE,
            "certificate_issued",
            {"name": "张三", "serial": "1a2b", "not_after": "2027-11-21"},
            sid,
        )
    )
    assert row.status == "sent" and row.recipient == "138****8000"
    assert row.provider_message_id == outbox(platform)[-1]["id"]
    assert outbox(platform)[-1]["to"] == PHONE
    assert "1a2b" in outbox(platform)[-1]["body"]
    listed = notifier.log(subscriber_id=sid)
    assert [r.id for r in listed] == [row.id]
    assert listed[0].recipient == "138****8000"
    assert notifier.log(subscriber_id=sid, reveal=True)[0].recipient == PHONE
    assert notifier.log(subscriber_id=sid + 1) == []
    with pytest.raises(ValidationError) as e:
        notifier.send(Outgoing("sms", "12345", "certificate_issued", {}, sid))
    assert e.value.field == "recipient"
    with pytest.raises(ValidationError) as e:
        notifier.send(Outgoing("sms", PHONE, "certificate_issued", {"name": "张三"}, sid))
    assert e.value.field == "serial"
    mode = stat.S_IMODE((platform.settings.outbox_dir / "sms.jsonl").stat().st_mode)
    assert mode == 0o600


def test_failed_send_is_logged_and_retried_with_backoff(
    platform: Platform, clock: FrozenClock
) -> None:
    gateway = FlakyGateway("email", failures=2)
    notifier = Notifier(
        platform.db, platform.clock, [gateway], retry=RetryPolicy(max_attempts=3, base_seconds=30)
    )
    values = {"name": "张三", "application_id": "A-7"}
    row = notifier.send(Outgoing("email", "zhangsan@example.com", "application_received", values))
    assert row.status == "failed" and row.attempts == 1 and row.retryable
    assert "503" in row.error and row.recipient == "z***@example.com"
    assert notifier.log(status="failed")[0].id == row.id

    assert notifier.retry_failed() == []  # back-off not over yet
    clock.advance(seconds=30)
    again = notifier.retry_failed()
    assert [(r.id, r.status, r.attempts) for r in again] == [(row.id, "failed", 2)]
    clock.advance(seconds=59)
    assert notifier.retry_failed() == []
    clock.advance(seconds=1)
    done = notifier.retry_failed()
    assert [(r.status, r.attempts, r.error) for r in done] == [("sent", 3, None)]
    assert done[0].provider_message_id == "prov-1"
    assert gateway.sent[0][0] == "zhangsan@example.com" and "A-7" in gateway.sent[0][2]
    assert notifier.get(row.id, reveal=True).recipient == "zhangsan@example.com"
    clock.advance(hours=2)
    assert notifier.retry_failed() == []  # sent rows are never re-sent


def test_retries_stop_after_max_attempts_and_crashing_gateways_are_recorded(
    platform: Platform, clock: FrozenClock
) -> None:
    gateway = FlakyGateway("email", failures=10, crash=True)
    notifier = Notifier(
        platform.db, platform.clock, [gateway], retry=RetryPolicy(max_attempts=2, base_seconds=1)
    )
    row = notifier.send(
        Outgoing(
            "email",
            "a@example.com",
            "application_received",
            {"name": "张三", "application_id": "A-8"},
        )
    )
    assert row.status == "failed" and row.error.startswith("RuntimeError")
    assert notifier.retry_failed(ignore_backoff=True)[0].next_attempt_at is None
    clock.advance(hours=1)
    assert notifier.retry_failed() == []
    assert notifier.get(row.id).attempts == 2


def test_a_slow_gateway_does_not_get_a_batchs_later_rows_sent_twice(
    platform: Platform, clock: FrozenClock
) -> None:
    """Five outbox rows and a gateway taking four minutes a message (a slow relay). While the
    fourth is being sent the outbox job runs elsewhere: it may take what nobody has begun,
    but not rows the first sender claimed with its batch twelve minutes before and has not
    reached — which it took as interrupted and sent, and then the batch sent them again."""
    sent: list[str] = []
    notifier: Notifier

    class SlowGateway:
        channel = "email"

        def send(self, message: Message) -> str:
            clock.advance(minutes=4)
            sent.append(message.message_key or "")
            if len(sent) == 4:
                elsewhere.extend(notifier.retry_failed())  # the notify.outbox job, meanwhile
            return f"prov-{len(sent)}"

    elsewhere: list = []
    notifier = Notifier(platform.db, platform.clock, [SlowGateway()])
    with platform.db.transaction() as s:
        for n in range(5):
            notifier.enqueue(
                s,
                Outgoing(
                    "email",
                    f"holder{n}@example.com",
                    "application_received",
                    {"name": "张三", "application_id": f"A-{n}"},
                ),
            )
    first = notifier.send_pending()
    assert len(sent) == len(set(sent)) == 5, sent
    assert sorted(r.status for r in first + elsewhere) == ["sent"] * 5
    assert [r.attempts for r in notifier.log()] == [1] * 5


# --- intent confirmation ----------------------------------------------------------------------


def test_intent_code_confirm_once_and_consume_once(any_platform: Platform) -> None:
    platform = any_platform
    notifier, intent = build_notify(platform)
    sid = person(platform)
    ch = request(intent, sid)
    assert ch.sent_to_masked == "138****8000"
    line = outbox(platform)[-1]
    assert line["to"] == PHONE and DOC_NAME in line["body"] and "5 分钟内有效" in line["body"]
    code = last_code(platform)
    assert code.isdigit() and len(code) == 6

    ok = intent.confirm(ch.challenge_id, code, subscriber_id=sid, document_sha256=DOC_SHA)
    assert ok.purpose == "sign" and ok.document_sha256 == DOC_SHA
    token = ok.confirmation_token
    assert code not in token
    with pytest.raises(Conflict) as e:
        intent.confirm(ch.challenge_id, code, subscriber_id=sid, document_sha256=DOC_SHA)
    assert e.value.code == "code_used"

    # A signing transaction that fails gives the confirmation back.
    with pytest.raises(RuntimeError), platform.db.transaction() as s:
        intent.consume(token, subscriber_id=sid, document_sha256=DOC_SHA, session=s)
        raise RuntimeError("signing failed")
    with pytest.raises(Forbidden):
        intent.consume(token, subscriber_id=sid, document_sha256="0" * 64)
    with pytest.raises(Forbidden):
        intent.consume(token, subscriber_id=sid + 1, document_sha256=DOC_SHA)
    used = intent.consume(token, subscriber_id=sid, document_sha256=DOC_SHA, purpose="sign")
    assert used.challenge_id == ch.challenge_id
    with pytest.raises(Conflict) as e:
        intent.consume(token, subscriber_id=sid, document_sha256=DOC_SHA)
    assert e.value.code == "confirmation_used"

    log = notifier.log(subscriber_id=sid)
    assert log[0].template_id == "one_time_code" and log[0].status == "sent"
    assert not in_clear(code, json.dumps(plain(log), ensure_ascii=False))
    assert "******" in log[0].body
    with platform.db.read() as s:
        audit_text = " ".join(f"{e.action} {e.data}" for e in s.query(AuditEvent))
        actions = [e.action for e in s.query(AuditEvent).order_by(AuditEvent.seq)]
    assert not in_clear(code, audit_text)
    assert actions[-4:] == [
        "intent.code_requested",
        "intent.confirmed",
        "intent.confirm_failed",
        "intent.consumed",
    ]
    assert platform.verify_audit().ok


def test_five_wrong_codes_kill_the_challenge(any_platform: Platform) -> None:
    platform = any_platform
    _, intent = build_notify(platform)
    sid = person(platform)
    ch = request(intent, sid)
    code = last_code(platform)
    for left in (4, 3, 2, 1):
        with pytest.raises(Forbidden) as e:
            intent.confirm(
                ch.challenge_id, other_code(code), subscriber_id=sid, document_sha256=DOC_SHA
            )
        assert e.value.code == "wrong_code" and f"{left} more" in e.value.message
        assert code not in str(e.value) and code not in json.dumps(e.value.to_dict())
    with pytest.raises(Forbidden) as e:
        intent.confirm(ch.challenge_id, "abc", subscriber_id=sid, document_sha256=DOC_SHA)
    assert e.value.code == "challenge_dead"
    with pytest.raises(Forbidden) as e:
        intent.confirm(ch.challenge_id, code, subscriber_id=sid, document_sha256=DOC_SHA)
    assert e.value.code == "challenge_dead" and code not in str(e.value)
    assert platform.verify_audit().ok


def test_code_expires_after_five_minutes(any_platform: Platform, clock: FrozenClock) -> None:
    platform = any_platform
    _, intent = build_notify(platform)
    sid = person(platform)
    ch = request(intent, sid)
    code = last_code(platform)
    clock.advance(seconds=301)
    with pytest.raises(Forbidden) as e:
        intent.confirm(ch.challenge_id, code, subscriber_id=sid, document_sha256=DOC_SHA)
    assert e.value.code == "code_expired"
    with pytest.raises(Forbidden) as e:
        intent.confirm(ch.challenge_id, code, subscriber_id=sid, document_sha256=DOC_SHA)
    assert e.value.code == "code_expired"


def test_code_is_bound_to_subscriber_and_document(platform: Platform) -> None:
    _, intent = build_notify(platform)
    sid = person(platform)
    other = platform.subscribers.add_person(
        name="李四", id_number="110105198001010016", phone="13900139000"
    ).id
    ch = request(intent, sid)
    code = last_code(platform)
    with pytest.raises(Forbidden) as e:
        intent.confirm(ch.challenge_id, code, subscriber_id=other, document_sha256=DOC_SHA)
    assert e.value.code == "wrong_subscriber"
    with pytest.raises(Forbidden) as e:
        intent.confirm(ch.challenge_id, code, subscriber_id=sid, document_sha256="a" * 64)
    assert e.value.code == "wrong_document"
    with pytest.raises(NotFound):
        intent.confirm("nope", code, subscriber_id=sid, document_sha256=DOC_SHA)
    # None of those refusals spent an attempt or the code.
    assert intent.confirm(
        ch.challenge_id, code, subscriber_id=sid, document_sha256=DOC_SHA.upper()
    ).confirmation_token


def test_rate_limits(any_platform: Platform, clock: FrozenClock) -> None:
    platform = any_platform
    _, intent = build_notify(platform)
    sid = person(platform)
    request(intent, sid)
    clock.advance(seconds=20)
    with pytest.raises(RateLimited) as e:
        request(intent, sid)
    assert isinstance(e.value, YinxinError)
    assert (e.value.code, e.value.http_status, e.value.retry_after) == ("rate_limited", 429, 40)
    assert e.value.to_dict()["retry_after"] == 40
    assert len(outbox(platform)) == 1
    clock.advance(seconds=40)
    request(intent, sid)
    for _ in range(8):
        clock.advance(seconds=60)
        request(intent, sid)
    assert len(outbox(platform)) == 10
    clock.advance(seconds=60)
    with pytest.raises(RateLimited) as e:
        request(intent, sid)
    # The hour's oldest code was sent 9 × 60 + 60 s = 600 s ago.
    assert e.value.retry_after == 3000
    clock.advance(seconds=3000)
    request(intent, sid)
    assert platform.verify_audit().ok


def test_code_appears_nowhere_but_the_outbox(
    platform: Platform, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, intent = build_notify(platform)
    sid = person(platform)
    db_file = platform.settings.home / "yinxin.db"
    before = {v for _t, _c, v in sqlite_cells(db_file)}
    codes = []
    for i in range(3):
        ch = request(intent, sid)
        codes.append(last_code(platform))
        if i == 0:
            with pytest.raises(Forbidden):
                intent.confirm(
                    ch.challenge_id,
                    other_code(codes[-1]),
                    subscriber_id=sid,
                    document_sha256=DOC_SHA,
                )
        intent.confirm(ch.challenge_id, codes[-1], subscriber_id=sid, document_sha256=DOC_SHA)
        clock.advance(seconds=60)
    cells = sqlite_cells(db_file)
    assert {t for t, _c, _v in cells} >= {"intent_challenges", "notifications", "audit_events"}
    for code in codes:
        leaks = [(t, c) for t, c, v in cells if holds(v, code) and v not in before]
        assert leaks == [], f"the code leaked into {leaks}"
        assert not in_clear(code, caplog.text)
    with platform.db.read() as s:
        assert all(code not in e.data for e in s.query(AuditEvent) for code in codes)
    key = platform.settings.home / "intent.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(bytes.fromhex(key.read_text().strip())) == 32


def test_undeliverable_code_is_refused_and_logged(
    platform: Platform, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway = FlakyGateway("sms", failures=1)
    notifier, intent = build_notify(platform, gateways=[gateway])
    sid = person(platform)
    with pytest.raises(DeliveryError) as e:
        request(intent, sid)
    assert e.value.http_status == 502
    row = notifier.log(subscriber_id=sid)[0]
    assert row.status == "failed" and not row.retryable and row.next_attempt_at is None
    assert "******" in row.error  # the provider echoed the body; the code was masked
    with platform.db.read() as s:
        ch = s.query(IntentChallenge).one()
        assert ch.state == "dead" and ch.notification_id == row.id
    clock.advance(hours=1)
    assert notifier.retry_failed() == []  # a one-time code is never re-sent later
    request(intent, sid)  # the failed attempt counted; an hour later a new one goes through
    code = gateway.sent[-1][2].split("验证码为 ")[1][:6]
    assert not in_clear(code, caplog.text)
    assert not any(in_clear(code, str(r)) for r in notifier.log())
    assert platform.verify_audit().ok


def test_subscriber_without_phone_is_refused(platform: Platform) -> None:
    _, intent = build_notify(platform)
    sid = person(platform)
    with platform.db.transaction() as s:
        s.execute(update(Subscriber).where(Subscriber.id == sid).values(phone=None))
    with pytest.raises(ValidationError) as e:
        request(intent, sid)
    assert (e.value.field, e.value.code) == ("phone", "no_phone")
    with pytest.raises(NotFound):
        request(intent, sid + 100)
    with pytest.raises(ValidationError) as e:
        intent.request_code(sid, purpose="sign", document_sha256="xyz", document_name="a")
    assert e.value.field == "document_sha256"
    assert outbox(platform) == []
    assert platform.verify_audit().ok


def test_send_interrupted_by_a_crash_is_retried(platform: Platform, clock: FrozenClock) -> None:
    from yinxin.store.models.notify import Notification

    gateway = FlakyGateway("email", failures=0)
    notifier = Notifier(platform.db, platform.clock, [gateway])
    row = notifier.send(
        Outgoing(
            "email",
            "a@example.com",
            "application_received",
            {"name": "张三", "application_id": "A-9"},
        )
    )
    # As if the process died between writing the row and hearing from the gateway.
    with platform.db.transaction() as s:
        s.execute(
            update(Notification)
            .where(Notification.id == row.id)
            .values(status="queued", sent_at=None)
        )
    assert notifier.retry_failed() == []
    clock.advance(seconds=601)
    again = notifier.retry_failed()
    assert [(r.status, r.attempts) for r in again] == [("sent", 2)]
    assert len(gateway.sent) == 2


def test_a_document_name_with_hidden_characters_is_refused_not_sent(platform: Platform) -> None:
    """The document's name goes into the signing code's SMS ("用于签署《…》"). A bidi override
    (U+202E: ``合同<RLO>fdp.exe`` reads ``合同exe.pdf``) or a zero-width character went into
    the message as given, and a line break or tab was silently folded into a space: the signer
    confirmed a name other than the one sent. Such a name is now refused naming
    ``document_name``, no code sent, no challenge written."""
    _, intent = build_notify(platform)
    sid = person(platform)
    for bad in (
        "合同\u202efdp.exe",
        "合同\u200b.pdf",
        "合同\n第二行.pdf",
        "合同\t.pdf",
        "\x1c合同",
    ):
        with pytest.raises(ValidationError) as e:
            intent.request_code(sid, purpose="sign", document_sha256=DOC_SHA, document_name=bad)
        assert e.value.field == "document_name", bad
    assert outbox(platform) == []
    with platform.db.read() as s:
        assert s.execute(select(IntentChallenge)).first() is None
    ch = intent.request_code(
        sid, purpose="sign", document_sha256=DOC_SHA, document_name="  房屋  买卖合同.pdf "
    )
    assert ch.challenge_id and "《房屋 买卖合同.pdf》" in outbox(platform)[-1]["body"]


def test_cli_notify_log_refuses_a_subscriber_that_does_not_exist(platform: Platform) -> None:
    """``yinxin notify log --subscriber-id 99999`` (a mistyped id) printed "(none)", as if
    nothing had ever been sent to that holder; it is refused naming the option, exit 2, as
    ``jobs runs --job`` refuses a job that does not exist. A holder sent nothing is "(none)"."""
    from tests.integration.server import yinxin_cli

    home = platform.settings.home
    sid = person(platform)
    for given in ("99999", "0", "-3"):
        out = yinxin_cli(["notify", "log", "--subscriber-id", given, "--json"], home, check=False)
        assert out.returncode == 2, (given, out.stdout, out.stderr)
        refused = json.loads(out.stdout)
        assert refused["field"] == "subscriber_id" and given in refused["message"]
    out = yinxin_cli(["notify", "log", "--subscriber-id", str(sid), "--json"], home)
    assert json.loads(out.stdout) == []
