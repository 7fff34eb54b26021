"""The open login routes do not tell who is registered: a login-code request for a registered
phone and one for a phone no one registered are answered alike (status, body keys, headers),
whatever happens behind the answer — the SMS gateway down, the phone's code limit reached —
and what did happen is recorded for the operator (audit trail, send log), never the code."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.codes import wrong_code
from tests.fixtures.samples import contract_pdf
from tests.integration.signing_flow import World, outbox_lines, read_code
from yinxin.notify.gateways import DeliveryError

CODES = "/api/v1/sessions/subscriber/codes"
REGISTERED = "13800138000"  # the world's person
UNKNOWN = "13512345678"  # no one's
# headers that differ between any two answers, whoever asked
_VARYING = {"date", "x-request-id"}


def same_answer(a, b) -> None:
    """Two answers an outsider cannot tell apart: status, body keys, header names and values
    (but those that differ between any two requests)."""
    assert a.status_code == b.status_code, (a.status_code, a.text, b.status_code, b.text)
    ja, jb = a.json(), b.json()
    assert set(ja) == set(jb), (ja, jb)
    ha = {k: v for k, v in a.headers.items() if k not in _VARYING}
    hb = {k: v for k, v in b.headers.items() if k not in _VARYING}
    assert ha == hb, (ha, hb)


class Down:
    """An SMS gateway whose provider cannot be reached (the codes it was given kept, so that a
    test can type one that is surely wrong)."""

    channel = "sms"

    def __init__(self) -> None:
        self.codes: list[str] = []

    def send(self, message):
        if "code" in message.values:
            self.codes.append(message.values["code"])
        raise DeliveryError("provider unreachable")


def test_a_login_code_when_the_sms_gateway_is_down_does_not_tell_a_registered_phone(
    world: World, client: TestClient
) -> None:
    """With the SMS gateway down, a login code for a registered phone was refused 502
    delivery_failed while one for an unknown phone was answered 202 as always: during an outage
    anyone could learn which numbers are registered. Both are now 202 alike, and the failed
    delivery is in the audit trail (intent.code_undelivered, with the send log's error) and the
    send log, without the code."""
    down = world.p.notifier.gateways["sms"] = Down()
    world.clock.advance(seconds=61)
    before = outbox_lines(world.outbox)
    known = client.post(CODES, json={"phone": REGISTERED})
    unknown = client.post(CODES, json={"phone": UNKNOWN})
    assert known.status_code == 202, known.text
    same_answer(known, unknown)
    assert known.json()["sent_to_masked"] == "138****8000"
    assert outbox_lines(world.outbox) == before
    # the operator sees the failure
    [undelivered] = world.p.audit_events(action="intent.code_undelivered")
    assert undelivered.actor == f"subscriber:{world.person.id}"
    assert "provider unreachable" in undelivered.data["error"]
    [requested] = world.p.audit_events(action="intent.code_requested")
    assert requested.data["purpose"] == "login"
    sent = world.p.notifier.log(world.person.id, limit=1)[0]
    assert (sent.template_id, sent.status) == ("login_code", "failed")
    assert "provider unreachable" in (sent.error or "")
    # the answer's challenge is no code that works; the login says wrong code, as for a stranger
    wrong = wrong_code(*down.codes)
    r = client.post(
        "/api/v1/sessions/subscriber",
        json={"challenge_id": known.json()["challenge_id"], "code": wrong},
    )
    s = client.post(
        "/api/v1/sessions/subscriber",
        json={"challenge_id": unknown.json()["challenge_id"], "code": wrong},
    )
    assert (r.status_code, r.json()["code"]) == (401, "wrong_code"), r.text
    same_answer(r, s)


def test_the_code_limit_answers_a_registered_and_an_unknown_phone_alike(
    world: World, client: TestClient
) -> None:
    """A second login code within the minute was refused 429 for a registered phone (its
    subscriber's code limit) and answered 202 for an unknown one (no subscriber, no limit):
    two requests told anyone whether a number is registered. The limit is now the phone
    number's, whoever it belongs to — the same 429, the same wait — and where the subscriber's
    own limit refuses a code the number's let through (a signing code sent a moment ago), the
    answer is the stranger's 202 and the refusal is audited (intent.code_refused)."""
    world.clock.advance(seconds=61)
    first_known = client.post(CODES, json={"phone": REGISTERED})
    first_unknown = client.post(CODES, json={"phone": UNKNOWN})
    same_answer(first_known, first_unknown)
    world.clock.advance(seconds=10)
    known = client.post(CODES, json={"phone": REGISTERED})
    unknown = client.post(CODES, json={"phone": UNKNOWN})
    assert (known.status_code, known.json()["code"]) == (429, "rate_limited"), known.text
    same_answer(known, unknown)
    assert known.json() == unknown.json()
    assert known.headers["retry-after"] == unknown.headers["retry-after"] == "50"
    # naming an account not of the phone is answered as a stranger's number, limit included
    world.clock.advance(seconds=61)
    other = {"phone": REGISTERED, "subscriber_id": world.org.id}
    stranger = {"phone": "13512345679", "subscriber_id": world.org.id}
    same_answer(client.post(CODES, json=other), client.post(CODES, json=stranger))
    same_answer(client.post(CODES, json=other), client.post(CODES, json=stranger))
    # the subscriber's own limit (a signing code a moment ago) answers as a stranger's phone
    world.clock.advance(seconds=61)
    before = outbox_lines(world.outbox)
    world.p.signing.request_confirmation(
        signer_subscriber_id=world.person.id,
        document=contract_pdf(),
        document_name="合同.pdf",
    )
    refused_before = len(world.p.audit_events(action="intent.code_refused"))
    known = client.post(CODES, json={"phone": REGISTERED})
    unknown = client.post(CODES, json={"phone": "13512345670"})
    assert known.status_code == 202, known.text
    same_answer(known, unknown)
    assert outbox_lines(world.outbox) == before + 1  # the signing code only
    refused = world.p.audit_events(action="intent.code_refused")
    assert len(refused) == refused_before + 1
    assert refused[-1].data["reason"] == "rate_limited"
    assert refused[-1].data["purpose"] == "login"


def test_the_answer_for_an_unknown_phone_is_shaped_as_a_registered_ones(
    world: World, client: TestClient
) -> None:
    """The answer for an unknown phone gave itself away by its shape: its challenge id began
    with "x" (a real one is 32 hex digits) and it expired in 5 minutes whatever
    YINXIN_OTP_TTL_SECONDS said (a real code expires after that). Now it is 32 hex digits and
    expires when a real code would."""
    import datetime as dt
    import re

    world.p.intent.ttl = dt.timedelta(seconds=600)  # YINXIN_OTP_TTL_SECONDS=600
    world.clock.advance(seconds=61)
    known = client.post(CODES, json={"phone": REGISTERED}).json()
    unknown = client.post(CODES, json={"phone": UNKNOWN}).json()
    for answer in (known, unknown):
        assert re.fullmatch(r"[0-9a-f]{32}", answer["challenge_id"]), answer
    assert unknown["expires_at"] == known["expires_at"], (known, unknown)
    expected = world.clock.now() + dt.timedelta(seconds=600)
    assert dt.datetime.fromisoformat(known["expires_at"]) == expected


def test_a_wrong_login_code_is_answered_alike_for_a_registered_and_an_unknown_phone(
    world: World, client: TestClient
) -> None:
    """A wrong code for a registered phone's challenge was refused 403 wrong_code "4 more
    attempt(s) allowed" (then challenge_dead, code_expired, code_used), and for an unknown
    phone's 401 wrong_code: asking for a code and typing any six digits told anyone whether
    the number is registered. Every refusal of a login code is now the one 401 wrong_code
    (验证码错误或已失效 on the page), and the true reason is in the audit trail
    (intent.confirm_failed)."""
    login = "/api/v1/sessions/subscriber"
    world.clock.advance(seconds=61)
    before = outbox_lines(world.outbox)
    known = client.post(CODES, json={"phone": REGISTERED}).json()["challenge_id"]
    code = read_code(world.outbox, REGISTERED, after=before)
    unknown = client.post(CODES, json={"phone": UNKNOWN}).json()["challenge_id"]
    wrong = wrong_code(code)

    def both(given: str, known_id: str = known) -> None:
        a = client.post(login, json={"challenge_id": known_id, "code": given})
        b = client.post(login, json={"challenge_id": unknown, "code": given})
        assert (a.status_code, a.json()["code"], a.json()["field"]) == (401, "wrong_code", "code")
        same_answer(a, b)
        assert a.json() == b.json()

    for _ in range(6):  # wrong codes, the fifth kills the code, the sixth finds it dead
        both(wrong)
    both(code)  # the right code of a dead challenge

    def reasons(cid: str) -> list[str]:
        failed = world.p.audit_events(action="intent.confirm_failed")
        return [e.data["reason"] for e in failed if e.subject_id == cid]

    assert reasons(known) == ["wrong_code"] * 4 + ["challenge_dead"] * 3
    # an expired code, and a used one
    world.clock.advance(seconds=61)
    before = outbox_lines(world.outbox)
    known = client.post(CODES, json={"phone": REGISTERED}).json()["challenge_id"]
    code = read_code(world.outbox, REGISTERED, after=before)
    world.clock.advance(seconds=301)
    both(code, known)
    assert reasons(known) == ["code_expired"]
    before = outbox_lines(world.outbox)
    known = client.post(CODES, json={"phone": REGISTERED}).json()["challenge_id"]
    code = read_code(world.outbox, REGISTERED, after=before)
    assert client.post(login, json={"challenge_id": known, "code": code}).status_code == 201
    both(code, known)
    assert reasons(known) == ["code_used"]


def test_a_staff_lockout_does_not_tell_a_staff_username(world: World, client: TestClient) -> None:
    """Five wrong passwords locked a staff account and the next attempts were refused 403
    account_locked, while a username no one has was refused 401 bad_credentials however often
    it was tried: six guesses told anyone whether a staff username exists. A locked account's
    attempts (the fifth wrong one included) are now refused as any wrong password is, 401
    bad_credentials, whose words say an account may be locked; the lock is audited as before
    (staff.locked, staff.login_failed reason locked)."""
    import pyotp

    new = world.p.staff.add(
        "desk1", password="correct horse 1", role="ra_officer", actor="test", display_name="甲"
    )
    totp = pyotp.TOTP(new.totp_uri.split("secret=")[1].split("&")[0])
    staff = "/api/v1/sessions/staff"
    for _ in range(6):
        a = client.post(staff, json={"username": "desk1", "password": "wrong", "code": "123456"})
        b = client.post(staff, json={"username": "nobody", "password": "wrong", "code": "123456"})
        assert (a.status_code, a.json()["code"], a.json()["field"]) == (
            401,
            "bad_credentials",
            "password",
        ), a.text
        same_answer(a, b)
        assert a.json() == b.json()
    assert "locked" in a.json()["detail"]
    # the right password and code while locked: still the stranger's answer
    right = {"username": "desk1", "password": "correct horse 1", "code": totp.at(world.clock.now())}
    a = client.post(staff, json=right)
    b = client.post(staff, json={**right, "username": "nobody"})
    same_answer(a, b)
    assert a.json() == b.json()
    [locked] = world.p.audit_events(action="staff.locked")
    assert locked.subject_id == "desk1"
    reasons = [e.data["reason"] for e in world.p.audit_events(action="staff.login_failed")]
    assert reasons.count("locked") == 2  # the sixth wrong attempt and the right one
    world.clock.advance(minutes=16)
    right["code"] = totp.at(world.clock.now())
    assert client.post(staff, json=right).status_code == 201


def test_every_staff_login_refusal_costs_one_password_hash(
    world: World, client: TestClient, monkeypatch
) -> None:
    """An unknown username costs the same scrypt as a known one (so the time of the answer does
    not tell), but a disabled or locked account was refused before its password was hashed:
    answered in microseconds where any other refusal takes the scrypt's tens of milliseconds,
    which told such accounts apart by the clock. Every refusal now hashes the password once."""
    from yinxin.access import staff as staff_module

    world.p.staff.add("desk1", password="correct horse 1", role="ra_officer", actor="test")
    world.p.staff.add("desk2", password="correct horse 2", role="ra_officer", actor="test")
    world.p.staff.disable("desk2", actor="test")
    hashed: list[str] = []
    real = staff_module.check_password

    def counted(password: str, stored: str) -> bool:
        hashed.append(stored)
        return real(password, stored)

    monkeypatch.setattr(staff_module, "check_password", counted)
    staff = "/api/v1/sessions/staff"

    def tries(name: str) -> int:
        hashed.clear()
        r = client.post(staff, json={"username": name, "password": "wrong", "code": "123456"})
        assert r.status_code == 401, r.text
        return len(hashed)

    assert tries("nobody") == 1
    assert tries("desk2") == 1  # disabled
    for _ in range(5):
        assert tries("desk1") == 1  # the fifth locks it
    assert tries("desk1") == 1  # locked


def test_a_login_code_is_answered_before_its_sms_is_sent(world: World) -> None:
    """A registered phone's login code was answered only once the SMS provider had taken the
    message — a round trip of tens or hundreds of milliseconds an unknown phone's answer never
    waits for — so the time of the answer told a registered number. The answer now goes out
    first (its challenge id chosen beforehand), and the code is sent after it."""
    import asyncio
    import json
    import threading

    from yinxin.adapters.http.server import create_app

    class Slow:
        """A gateway that takes the message only when let go (or after 3 s)."""

        channel = "sms"

        def __init__(self) -> None:
            self.go, self.taken = threading.Event(), threading.Event()

        def send(self, message):
            self.go.wait(3)
            self.taken.set()
            return "provider-1"

    gateway = Slow()
    world.p.notifier.gateways["sms"] = gateway
    world.clock.advance(seconds=61)
    app = create_app(world.p, jobs=False)
    answered: dict = {}

    async def ask() -> None:
        body = json.dumps({"phone": REGISTERED}).encode()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": CODES,
            "raw_path": CODES.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1:8000"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        sent = False

        async def receive():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(5)
            return {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                answered["body"] = json.loads(message.get("body", b"") or b"{}")
                answered["sms_taken_first"] = gateway.taken.is_set()
                gateway.go.set()  # the provider may take it now

        await app(scope, receive, send)

    asyncio.run(ask())
    assert answered["status"] == 202, answered
    assert answered["sms_taken_first"] is False, "the answer waited for the SMS"
    assert gateway.taken.is_set()  # sent after the answer, with the id the answer gave
    [sent] = world.p.audit_events(action="intent.code_requested")
    assert sent.subject_id == answered["body"]["challenge_id"]


def test_a_wrong_login_code_is_audited_whoever_the_challenge_is(
    world: World, client: TestClient
) -> None:
    """A wrong code for a registered phone's challenge was written down (the try counted,
    intent.confirm_failed audited) while one for an unknown phone's challenge was only looked
    up: the write made the first answer measurably slower, and the operator saw no guessing at
    challenges that name no code. Both are now audited intent.confirm_failed (the unknown one
    with reason no_challenge), in one write each."""
    login = "/api/v1/sessions/subscriber"
    world.clock.advance(seconds=61)
    sent = outbox_lines(world.outbox)
    known = client.post(CODES, json={"phone": REGISTERED}).json()["challenge_id"]
    unknown = client.post(CODES, json={"phone": UNKNOWN}).json()["challenge_id"]
    wrong = wrong_code(read_code(world.outbox, REGISTERED, after=sent))
    for cid, reason in ((known, "wrong_code"), (unknown, "no_challenge")):
        before = len(world.p.audit_events())
        r = client.post(login, json={"challenge_id": cid, "code": wrong})
        assert r.status_code == 401, r.text
        [failed] = world.p.audit_events()[before:]
        assert failed.action == "intent.confirm_failed", failed
        assert (failed.subject_id, failed.data["reason"]) == (cid, reason)
        assert wrong not in str(failed.data)
    assert world.p.verify_audit().ok


def test_the_phone_limit_counts_a_written_code_from_its_own_time(
    world: World, client: TestClient
) -> None:
    """The login-code limit per phone number counts a request whose code was written from the
    code's own time in the database, so moving the codes back (as the e2e suite does to wait
    out the minute against a server in another process) lets the next one through."""
    import datetime as dt

    from yinxin.store.models.notify import IntentChallenge

    world.clock.advance(seconds=61)
    assert client.post(CODES, json={"phone": REGISTERED}).status_code == 202
    assert client.post(CODES, json={"phone": REGISTERED}).status_code == 429
    with world.p.db.transaction() as s:  # as tests/e2e/test_web_signing.codes_a_minute_ago
        for ch in s.query(IntentChallenge).filter_by(subscriber_id=world.person.id):
            ch.created_at = ch.created_at - dt.timedelta(minutes=2)
    assert client.post(CODES, json={"phone": REGISTERED}).status_code == 202


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_phone_limit_is_shared_by_every_server_on_the_database(make_platform, clock, db):
    """The login-code limit per phone number was kept in one server process's memory: behind
    several processes (or after a restart) a number was limited by each apart, so the minute's
    second code — or the hour's eleventh — went out from another one. It is now in the
    database: a second platform on the same database and home refuses the number's second
    request within the minute, registered or not, in the same words and wait, and so does a
    platform started afterwards; the number itself is written nowhere."""
    from sqlalchemy import select

    from yinxin.signing.intent import RateLimited
    from yinxin.store.models.access import LoginCodeAsk

    first = make_platform(db)
    first.subscribers.add_person(
        name="张三", id_number="11010519491231002X", phone=REGISTERED, actor="test"
    )
    url, home = first.settings.database_url, first.settings.home
    second = make_platform(url=url, home=home)
    for number in (REGISTERED, UNKNOWN):
        first.sessions.request_login_code(number)
    clock.advance(seconds=10)
    waits = []
    for number in (REGISTERED, UNKNOWN):
        with pytest.raises(RateLimited) as refused:
            second.sessions.request_login_code(number)
        waits.append((refused.value.code, refused.value.retry_after, str(refused.value)))
    assert waits[0] == waits[1] and waits[0][:2] == ("rate_limited", 50)
    first.close()
    later = make_platform(url=url, home=home)  # a restart forgets nothing
    with pytest.raises(RateLimited):
        later.sessions.request_login_code(UNKNOWN)
    clock.advance(seconds=51)
    later.sessions.request_login_code(UNKNOWN)
    with later.db.read() as s:
        rows = s.execute(select(LoginCodeAsk)).scalars().all()
    assert len(rows) == 2
    assert not any(n in r.phone_key + r.asked for r in rows for n in (REGISTERED, UNKNOWN))
