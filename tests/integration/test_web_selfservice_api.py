"""The API routes the self-service, seal and desk pages added (issue 13, part 3), in-process on a
frozen clock: public self-registration (the phone proven with a code first, answered alike
whether or not it is registered; checked as at the desk, nothing written on a refusal, the
session it opens scoped to the new subscriber alone, per-address limits), the agreement
acceptances and an application's payments (scoped), and the seal picture preview from form
fields (scoped, creating nothing, refusals per field)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading

import pytest
from httpx2 import Response  # what starlette's TestClient answers with
from sqlalchemy import select
from starlette.testclient import TestClient

from tests.integration.api_world import id_card
from tests.integration.signing_flow import World, read_code
from tests.integration.signing_flow import outbox_lines as lines
from yinxin.identity import uscc_check_char

USCC17 = "91350100MA2XYW000"
BAD_USCC = USCC17 + ("1" if uscc_check_char(USCC17) != "1" else "2")
ZHANG = "13800138000"  # 张三's phone (the world's person)
PERSON = {"name": "赵六", "id_number": id_card("11010519880808123"), "phone": "13600136000"}


def problem(r, status: int, code: str, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code, body
    if field is not None:
        assert body["field"] == field, body
    return body


def count_subscribers(world: World) -> int:
    return len(world.p.subscribers.list())


def login(c: TestClient, world: World, challenge_id: str, phone: str, after: int) -> str:
    code = read_code(world.outbox, phone, after=after)
    r = c.post("/api/v1/sessions/subscriber", json={"challenge_id": challenge_id, "code": code})
    assert r.status_code == 201, r.text
    return r.json()["csrf_token"]


def code_for(c: TestClient, world: World, phone: str) -> tuple[str, str]:
    """Step 1 of a registration: the challenge id answered for ``phone`` and the code the SMS
    brought (a minute on, so the number's limit of one code a minute never refuses it)."""
    world.clock.advance(seconds=61)
    before = lines(world.outbox)
    r = c.post("/api/v1/public/registrations/code", json={"phone": phone})
    assert r.status_code == 202, r.text
    return r.json()["challenge_id"], read_code(world.outbox, phone, after=before)


def register(c: TestClient, world: World, kind: str, body: dict):
    challenge_id, code = code_for(c, world, body["phone"])
    return c.post(
        f"/api/v1/public/registrations/{kind}",
        json={**body, "challenge_id": challenge_id, "code": code},
    )


def other_than(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def registration_events(world: World, action: str) -> list:
    return [e for e in world.p.audit_events() if e.action == action]


def test_a_person_registers_itself_and_sees_only_itself(world, client):
    n = count_subscribers(world)
    cid, code = code_for(client, world, PERSON["phone"])
    url = "/api/v1/public/registrations/persons"
    proof = {"challenge_id": cid, "code": code}
    wrong = PERSON["id_number"][:17] + ("0" if PERSON["id_number"][17] != "0" else "1")
    r = client.post(url, json={**PERSON, **proof, "id_number": wrong})
    problem(r, 422, "invalid", "id_number")
    assert "check digit" in r.json()["detail"]
    r = client.post(url, json={**PERSON, **proof, "id_number": "110105199003071239"})
    problem(r, 409, "duplicate", "id_number")  # 张三's ID number: one document, one subscriber
    r = client.post(url, json={**PERSON, **proof, "organization_id": 3})
    problem(r, 422, "invalid", "organization_id")  # joining an organization is not self-service
    r = client.post(url, json=PERSON)
    problem(r, 422, "invalid", "challenge_id")  # the phone proven first
    assert count_subscribers(world) == n  # nothing written by a refusal

    # the code still works after those refusals (they were said to the number's holder)
    r = client.post(url, json={**PERSON, **proof})
    assert r.status_code == 201, r.text
    out = r.json()
    assert set(out) == {
        "subscriber_id",
        "kind",
        "name",
        "session",
        "csrf_token",
        "email_confirmation",
    }
    assert out["email_confirmation"] is None  # no e-mail given
    assert out["kind"] == "person" and out["name"] == "赵六"
    assert out["session"]["subscriber_id"] == out["subscriber_id"]
    assert count_subscribers(world) == n + 1
    event = next(e for e in reversed(world.p.audit_events()) if e.action == "subscriber.registered")
    assert event.actor == "self-registration" and event.subject_id == str(out["subscriber_id"])
    assert registration_events(world, "registration.code_used")[-1].subject_id == cid
    r = client.post(url, json={**PERSON, **proof})  # used: as a wrong code
    problem(r, 401, "wrong_code", "code")

    # the session is open at once (the phone is proven): no second code
    token = out["csrf_token"]
    me = client.get(f"/api/v1/subscribers/{out['subscriber_id']}")
    assert me.status_code == 200 and me.json()["name"] == "赵六"
    assert "****" in me.json()["id_number"]  # masked even to itself
    listed = client.get("/api/v1/subscribers").json()["items"]
    assert [s["id"] for s in listed] == [out["subscriber_id"]]
    problem(client.get(f"/api/v1/subscribers/{world.person.id}"), 404, "not_found")
    assert client.get("/api/v1/certificates").json()["items"] == []
    # and registers no one else, even signed in
    r = client.post(
        "/api/v1/subscribers/persons",
        json={**PERSON, "id_number": id_card("11010519880808124"), "phone": "13600136002"},
        headers={"X-CSRF-Token": token},
    )
    problem(r, 403, "forbidden")


@pytest.mark.parametrize("url", ["/api/v1/subscribers/persons", "/api/v1/subscribers/devices"])
def test_a_subscriber_session_registering_others_is_refused_before_the_shape(world, client, url):
    """A subscriber's session registers no one else, a refusal that depends on the session
    alone but was made in the handler, after the body was read: a body that was not JSON, gave
    a member twice or missed the fields got ``422`` naming a person's (or a device's) fields,
    now the ``403``."""
    cid, code = code_for(client, world, PERSON["phone"])
    r = client.post(
        "/api/v1/public/registrations/persons", json={**PERSON, "challenge_id": cid, "code": code}
    )
    assert r.status_code == 201, r.text
    headers = {"X-CSRF-Token": r.json()["csrf_token"], "content-type": "application/json"}
    n = count_subscribers(world)
    for body in [b'{"name": ', b'{"name": "a", "name": "b"}', b"{}"]:
        refusal = problem(client.post(url, content=body, headers=headers), 403, "forbidden")
        assert "cannot register other subscribers" in refusal["detail"], refusal
        assert refusal.get("field") == "role", refusal  # named no field before
        assert "errors" not in refusal, refusal
    assert count_subscribers(world) == n


def test_a_registration_refuses_an_idempotency_key_before_it_uses_the_code(world, client):
    """The registration's second step sent with an Idempotency-Key kept its answer without
    the session cookies: a retry got a 201 that logged no one in, while the first had used
    the code. The key is refused up front (422 naming it), nothing written, the code unused;
    without it the same code registers and opens the session."""
    n = count_subscribers(world)
    cid, code = code_for(client, world, PERSON["phone"])
    key = {"Idempotency-Key": "reg-1"}
    for kind in ("persons", "organizations"):
        r = client.post(
            f"/api/v1/public/registrations/{kind}",
            json={**PERSON, "challenge_id": cid, "code": code},
            headers=key,
        )
        problem(r, 422, "idempotency_not_supported", "Idempotency-Key")
        assert "set-cookie" not in r.headers and "idempotent-replayed" not in r.headers
    assert count_subscribers(world) == n
    assert registration_events(world, "registration.code_used") == []
    r = client.post(
        "/api/v1/public/registrations/persons", json={**PERSON, "challenge_id": cid, "code": code}
    )
    assert r.status_code == 201 and "yx_session=" in r.headers["set-cookie"], r.text
    assert count_subscribers(world) == n + 1


def test_an_unknown_and_a_registered_phone_get_the_same_answer(world, client):
    """Step 1 tells no one whether a number is registered: the same status, the same fields in
    the same shape; the SMS says the rest to the number's holder — a code to a new number, to a
    registered one (张三's) no code but the word to log in instead."""
    answers = {}
    for phone in ("13600136000", ZHANG):
        world.clock.advance(seconds=61)
        before = lines(world.outbox)
        r = client.post("/api/v1/public/registrations/code", json={"phone": phone})
        assert r.status_code == 202, r.text
        answers[phone] = r.json()
        sent = [json.loads(x) for x in world.outbox.read_text("utf-8").splitlines()[before:]]
        assert [m["to"] for m in sent] == [phone]
        answers[phone]["template"] = sent[0]["template_id"]
        expires = dt.datetime.fromisoformat(answers[phone].pop("expires_at"))
        answers[phone]["ttl"] = expires - world.clock.now()
        # limited per number alike, registered or not: a second request within the minute
        again = client.post("/api/v1/public/registrations/code", json={"phone": phone})
        problem(again, 429, "rate_limited")
    new, known = answers["13600136000"], answers[ZHANG]
    assert set(new) == set(known) == {"challenge_id", "sent_to_masked", "ttl", "template"}
    assert re.fullmatch(r"[0-9a-f]{32}", new["challenge_id"])
    assert re.fullmatch(r"[0-9a-f]{32}", known["challenge_id"])
    assert new["sent_to_masked"] == "136****6000"
    assert known["sent_to_masked"] == "138****8000"
    assert new["ttl"] == known["ttl"] == world.p.intent.ttl  # the expiry: a code's
    assert new["template"] == "registration_code"
    assert known["template"] == "registration_registered"  # no code in it
    r = client.post("/api/v1/public/registrations/code", json={"phone": "1360013600"})
    problem(r, 422, "invalid", "phone")


def test_the_sms_gateway_down_changes_no_answer_and_is_audited(world, client):
    """With the SMS gateway down, step 1 answers 202 as always, for a new and a registered number
    alike; the operator sees the failure (registration.code_undelivered, with the gateway's
    error), and the code that was not delivered opens nothing."""
    from tests.integration.test_login_enumeration import Down

    world.p.notifier.gateways["sms"] = Down()
    world.clock.advance(seconds=61)
    answers = [
        client.post("/api/v1/public/registrations/code", json={"phone": phone})
        for phone in (PERSON["phone"], ZHANG)
    ]
    assert [r.status_code for r in answers] == [202, 202]
    assert set(answers[0].json()) == set(answers[1].json())
    failed = registration_events(world, "registration.code_undelivered")
    assert [e.data["template"] for e in failed] == ["registration_code", "registration_registered"]
    assert all("provider unreachable" in e.data["error"] for e in failed)
    assert [e.subject_id for e in failed] == [r.json()["challenge_id"] for r in answers]


def test_a_wrong_code_is_refused_as_the_login_does_with_nothing_written(world, client):
    n = count_subscribers(world)
    cid, code = code_for(client, world, PERSON["phone"])
    url = "/api/v1/public/registrations/persons"
    r = client.post(url, json={**PERSON, "challenge_id": cid, "code": other_than(code)})
    body = problem(r, 401, "wrong_code", "code")
    # another number with this code, a made-up challenge: the same answer
    other = {**PERSON, "phone": "13600136009", "challenge_id": cid, "code": code}
    assert client.post(url, json=other).json() == body
    made_up = {**PERSON, "challenge_id": "0" * 32, "code": code}
    assert client.post(url, json=made_up).json() == body
    assert count_subscribers(world) == n
    reasons = [e.data["reason"] for e in registration_events(world, "registration.confirm_failed")]
    assert reasons == ["wrong_code", "wrong_phone", "no_challenge"]
    # five wrong codes in all kill it: the right one is refused after
    for _ in range(4):
        r = client.post(url, json={**PERSON, "challenge_id": cid, "code": other_than(code)})
        problem(r, 401, "wrong_code", "code")
    r = client.post(url, json={**PERSON, "challenge_id": cid, "code": code})
    problem(r, 401, "wrong_code", "code")
    # and an expired one
    cid, code = code_for(client, world, PERSON["phone"])
    world.clock.advance(seconds=world.p.intent.ttl.total_seconds() + 1)
    r = client.post(url, json={**PERSON, "challenge_id": cid, "code": code})
    problem(r, 401, "wrong_code", "code")
    assert count_subscribers(world) == n


def test_a_registered_phone_is_refused_only_once_proven(world, client):
    """A registered number gets no code: whatever is typed with the id it was answered with is
    a wrong code, the same as anyone's, never 409 phone_registered. A number registered while
    its code was on its way (at the desk, say): proven, so the holder is told."""
    n = count_subscribers(world)
    url = "/api/v1/public/registrations/persons"
    world.clock.advance(seconds=61)
    r = client.post("/api/v1/public/registrations/code", json={"phone": ZHANG})
    body = {**PERSON, "phone": ZHANG, "challenge_id": r.json()["challenge_id"]}
    problem(client.post(url, json={**body, "code": "123456"}), 401, "wrong_code", "code")
    assert count_subscribers(world) == n

    cid, code = code_for(client, world, "13600136001")
    world.p.subscribers.add_person(
        name="孙十", id_number=id_card("11010519900101666"), phone="13600136001"
    )
    n = count_subscribers(world)
    r = client.post(url, json={**PERSON, "phone": "13600136001", "challenge_id": cid, "code": code})
    problem(r, 409, "phone_registered", "phone")
    assert count_subscribers(world) == n


def test_a_session_that_cannot_be_opened_undoes_the_whole_registration(world, client, monkeypatch):
    """The database failing once the subscriber is inserted — as the code is marked used by it
    and its session opened: the subscriber was written in a transaction of its own and stayed
    registered with no session, its code given back, so a retry got 409 phone_registered. Now
    the subscriber, the code's use and the session are written in one transaction: nothing of
    it stays (no subscriber, no session, no audit event), the code is pending again and
    registers the retry."""
    from sqlalchemy.exc import OperationalError

    from tests.dbdump import count
    from yinxin.store.models.access import WebSession

    n, sessions = count_subscribers(world), count(world.p, WebSession)
    cid, code = code_for(client, world, PERSON["phone"])
    last = world.p.audit_events(after=0, limit=1000)[-1].seq
    url = "/api/v1/public/registrations/persons"

    def broken(s, subscriber_id: int):
        raise OperationalError("INSERT INTO web_sessions", {}, Exception("disk I/O error"))

    monkeypatch.setattr(world.p.sessions, "_open_subscriber", broken)
    with pytest.raises(OperationalError):
        client.post(url, json={**PERSON, "challenge_id": cid, "code": code})
    assert count_subscribers(world) == n
    assert count(world.p, WebSession) == sessions
    assert [e.action for e in world.p.audit_events(after=last, limit=1000)] == []
    assert registration_rows(world)[cid] == ("pending", None)

    monkeypatch.undo()
    r = client.post(url, json={**PERSON, "challenge_id": cid, "code": code})
    assert r.status_code == 201, r.text
    sid = r.json()["subscriber_id"]
    assert count_subscribers(world) == n + 1
    assert count(world.p, WebSession) == sessions + 1
    actions = [e.action for e in world.p.audit_events(after=last, limit=1000)]
    assert actions.count("subscriber.registered") == 1
    assert actions.count("registration.code_used") == 1
    assert registration_rows(world)[cid] == ("used", sid)
    assert world.p.verify_audit().ok


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_registrations_of_one_number_at_once_register_one(make_platform, clock, db):
    """Two self-registrations of one mobile number, each with its own code and another ID
    document, sent at the same moment: both found the number free before either was written,
    and both registered (there is no unique index on the phone: at the desk a person and an
    organization may share one). Now the number is claimed under a lock in the registration's
    own transaction: one registers, the other is refused 409 phone_registered — the answer a
    registration sent after it gets — with nothing of it written: no subscriber, no session, its
    code given back."""
    from types import SimpleNamespace

    from sqlalchemy import event

    from tests.dbdump import count
    from tests.integration.test_races import Meeting, join
    from yinxin.adapters.http.server import create_app
    from yinxin.store.models import Subscriber
    from yinxin.store.models.access import WebSession

    p = make_platform(db)
    w = SimpleNamespace(p=p, clock=clock, outbox=p.settings.outbox_dir / "sms.jsonl")
    url = "/api/v1/public/registrations/persons"
    forms = [PERSON, {**PERSON, "name": "钱七", "id_number": id_card("11010519880808124")}]
    both_checked = Meeting(2)

    def written_after_both_checked(mapper, connection, target) -> None:
        # both held here, each with the number found free — unless the other waits for the
        # one already here (its lock), which goes on after 3 s and commits first
        both_checked.wait()

    with TestClient(create_app(p, jobs=False), base_url="http://127.0.0.1:8000") as c:
        proofs = []
        for _ in forms:
            cid, code = code_for(c, w, PERSON["phone"])
            proofs.append({"challenge_id": cid, "code": code})
        answers: dict[int, Response] = {}

        def send(i: int) -> None:
            answers[i] = c.post(url, json={**forms[i], **proofs[i]})

        threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
        event.listen(Subscriber, "before_insert", written_after_both_checked)
        try:
            for t in threads:
                t.start()
            for t in threads:
                join(t, 60)
        finally:
            event.remove(Subscriber, "before_insert", written_after_both_checked)
        statuses = sorted(r.status_code for r in answers.values())
        assert statuses == [201, 409], [r.text for r in answers.values()]
        won = next(i for i, r in answers.items() if r.status_code == 201)
        lost = 1 - won
        body = problem(answers[lost], 409, "phone_registered", "phone")
        # the same answer as a registration sent afterwards, the loser's code still good for it
        assert c.post(url, json={**forms[lost], **proofs[lost]}).json() == body
    with p.db.read() as s:
        holders = s.scalars(select(Subscriber).where(Subscriber.phone == PERSON["phone"])).all()
    assert [(x.id, x.name) for x in holders] == [
        (answers[won].json()["subscriber_id"], forms[won]["name"])
    ]
    assert count(p, WebSession) == 1
    registered = [e for e in p.audit_events() if e.action == "subscriber.registered"]
    assert [e.subject_id for e in registered] == [str(holders[0].id)]
    rows = registration_rows(SimpleNamespace(p=p))
    assert rows == {
        proofs[won]["challenge_id"]: ("used", holders[0].id),
        proofs[lost]["challenge_id"]: ("pending", None),
    }
    assert p.verify_audit().ok


def test_an_organization_registers_itself(world, client):
    org = {
        "name": "福州印信测试有限公司",
        "uscc": BAD_USCC,
        "legal_representative": "陈七",
        "contact_name": "林八",
        "contact_phone": "0591-87760022",
        "phone": "13500135000",
    }
    r = register(client, world, "organizations", org)
    problem(r, 422, "invalid", "uscc")
    org["uscc"] = BAD_USCC[:17] + uscc_check_char(BAD_USCC[:17])
    r = register(client, world, "organizations", org)
    assert r.status_code == 201, r.text
    out = r.json()
    me = client.get("/api/v1/sessions/current").json()
    assert me["subscriber_id"] == out["subscriber_id"] == me["organization_id"]
    problem(client.get(f"/api/v1/subscribers/{world.org.id}"), 404, "not_found")


def mails_to(world: World, address: str, after: int) -> list[dict]:
    text = world.mailbox.read_text("utf-8") if world.mailbox.exists() else ""
    return [m for m in map(json.loads, text.splitlines()[after:]) if m["to"] == address]


def test_an_email_given_at_registration_is_registered_only_with_its_code(world, client):
    """The e-mail address typed into the registration was taken on the form's word: an
    address nobody proved (a typo, or someone else's) stood as the holder's, and the notice of
    a later e-mail change, with the holder's name, went to it. Now the subscriber is
    registered without it and a code is sent to it (the answer's ``email_confirmation``); the
    address is registered, and gets notices, only when the holder types that code in its new
    session (the contact change's ``email_challenge_id`` and ``email_code``). A malformed
    address is refused naming ``email``, nothing written, the phone's code still good."""
    url = "/api/v1/public/registrations/persons"
    n = count_subscribers(world)
    cid, code = code_for(client, world, PERSON["phone"])
    proof = {"challenge_id": cid, "code": code}
    r = client.post(url, json={**PERSON, **proof, "email": "zl@"})
    problem(r, 422, "invalid", "email")
    assert count_subscribers(world) == n

    mark = lines(world.mailbox)
    r = client.post(url, json={**PERSON, **proof, "email": "zl@example.cn"})
    assert r.status_code == 201, r.text
    out = r.json()
    sid, token = out["subscriber_id"], out["csrf_token"]
    pending = out["email_confirmation"]
    assert pending["status"] == "email_confirmation_required"
    assert pending["email_sent_to_masked"] == "z***@example.cn"
    assert world.p.subscribers.get(sid).email is None  # not registered on the form's word
    [mail] = mails_to(world, "zl@example.cn", mark)
    # the code, and nothing else, goes there, in the registration's words: nothing is changed
    assert mail["template_id"] == "email_confirm_code"
    assert "您正在将本邮箱登记为印信平台账户的电子邮箱" in mail["body"]
    assert "更换" not in mail["body"]
    assert count_subscribers(world) == n + 1

    # the holder confirms it in its session, as a new address on the contact page
    me, h = f"/api/v1/subscribers/{sid}", {"X-CSRF-Token": token}
    given = read_code(world.mailbox, "zl@example.cn", after=mark)
    body = {"email": "zl@example.cn", "email_challenge_id": pending["email_challenge_id"]}
    r = client.patch(me, json={**body, "email_code": other_than(given)}, headers=h)
    problem(r, 403, "wrong_code", "email_code")
    assert world.p.subscribers.get(sid).email is None
    r = client.patch(me, json={**body, "email_code": given}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["email"] == "zl@example.cn"
    assert world.p.subscribers.get(sid).email == "zl@example.cn"

    # a later change of it is said to be one
    world.clock.advance(seconds=61)
    mark = lines(world.mailbox)
    r = client.patch(me, json={"email": "zl@new.example.cn"}, headers=h)
    assert r.status_code == 202, r.text
    [mail] = mails_to(world, "zl@new.example.cn", mark)
    assert mail["template_id"] == "email_change_code"
    assert "您正在将印信平台登记的电子邮箱更换为本邮箱" in mail["body"]


def test_an_organization_registering_with_an_email_waits_for_its_code_too(world, client):
    """The same for an organization's e-mail; and an address the mail gateway cannot take is
    answered ``email_not_sent`` — the registration (its phone proven) stands, without it."""
    from yinxin.notify.gateways import DeliveryError

    class MailDown:
        channel = "email"

        def send(self, message):
            raise DeliveryError("mail server unreachable")

    org = {
        "name": "福州印信邮箱有限公司",
        "uscc": USCC17 + uscc_check_char(USCC17),
        "legal_representative": "陈七",
        "contact_name": "林八",
        "contact_phone": "0591-87760022",
        "phone": "13500135000",
        "email": "office@example.cn",
    }
    world.p.notifier.gateways["email"] = MailDown()
    r = register(client, world, "organizations", org)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["email_confirmation"] == {
        "status": "email_not_sent",
        "email_challenge_id": None,
        "email_sent_to_masked": "o***@example.cn",
        "expires_at": None,
    }
    assert world.p.subscribers.get(out["subscriber_id"]).email is None


def registration_rows(world: World) -> dict[str, tuple[str, int | None]]:
    from sqlalchemy import select

    from yinxin.store.models.access import RegistrationCode

    with world.p.db.read() as s:
        rows = s.scalars(select(RegistrationCode))
        return {r.id: (r.state, r.subscriber_id) for r in rows}


def test_codes_that_registered_no_one_are_deleted_a_day_after_they_expired(
    world, client, monkeypatch
):
    """registration_codes does not grow with every code asked for: a code that registered no
    one (left pending, or dead) is deleted a day after it expired, when a later code is asked
    for — at most REGISTRATION_PURGE_BATCH at a time; the code that registered someone stays,
    and so does every fresh one, the subscribers and the audit log."""
    from yinxin.access import sessions

    monkeypatch.setattr(sessions, "REGISTRATION_PURGE_BATCH", 1)
    url = "/api/v1/public/registrations/persons"
    cid, code = code_for(client, world, PERSON["phone"])
    r = client.post(url, json={**PERSON, "challenge_id": cid, "code": code})
    assert r.status_code == 201, r.text
    registered = (cid, ("used", r.json()["subscriber_id"]))
    pending, _ = code_for(client, world, "13600136001")  # never typed
    dead, code = code_for(client, world, "13600136002")
    for _ in range(5):  # five wrong codes kill it
        wrong = {"challenge_id": dead, "code": other_than(code)}
        r = client.post(url, json={**PERSON, "phone": "13600136002", **wrong})
        problem(r, 401, "wrong_code", "code")
    rows = registration_rows(world)
    assert rows == {
        registered[0]: registered[1],
        pending: ("pending", None),
        dead: ("dead", None),
    }
    n, events = count_subscribers(world), len(world.p.audit_events())
    ttl = world.p.intent.ttl

    # less than a day after they expired: kept (each code asked for moves the clock 61 s on)
    world.clock.advance(seconds=(ttl + dt.timedelta(days=1)).total_seconds() - 3 * 61)
    later, _ = code_for(client, world, "13600136003")
    assert registration_rows(world) == {**rows, later: ("pending", None)}
    # then one a request (the batch), the registered code never
    newer, _ = code_for(client, world, "13600136004")
    newest, _ = code_for(client, world, "13600136005")
    left = registration_rows(world)
    assert left == {
        registered[0]: registered[1],
        later: ("pending", None),
        newer: ("pending", None),
        newest: ("pending", None),
    }
    assert count_subscribers(world) == n
    # the audit log still tells the deleted codes' story (and only the new requests were added)
    audited = world.p.audit_events()
    assert len(audited) == events + 3
    assert {e.subject_id for e in audited} >= {pending, dead}


def purge_plans(p, phone: str) -> list[str]:
    """The database's plan of the purge of registration codes that registered no one, run as
    asking for a code for ``phone`` runs it (PostgreSQL told to avoid a table scan where it
    can, as it would on a table of some size)."""
    from sqlalchemy import event

    pg = p.db.engine.dialect.name == "postgresql"
    plans: list[str] = []

    def explain(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().startswith("DELETE FROM registration_codes"):
            if pg:
                cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(("EXPLAIN " if pg else "EXPLAIN QUERY PLAN ") + statement, parameters)
            plans.append(" ".join(str(row) for row in cursor.fetchall()))

    event.listen(p.db.engine, "before_cursor_execute", explain)
    try:
        p.clock.advance(seconds=61)
        p.sessions.request_registration_code(phone)
    finally:
        event.remove(p.db.engine, "before_cursor_execute", explain)
    assert len(plans) == 1, plans
    return plans


def test_the_purge_of_expired_codes_reads_an_index_not_the_whole_table(any_platform):
    """registration_codes had no index on expires_at: the purge that runs with every code asked
    for (codes that registered no one, a day after they expired) read the whole table, the
    codes kept for every subscriber they registered included. Migration 0031 indexes the codes
    by subscriber and expiry, which the purge's query reads — the registered ones apart — and
    its downgrade drops the index again."""
    from alembic import command
    from sqlalchemy import inspect

    from yinxin.store.db import alembic_config

    p = any_platform
    index = "ix_registration_codes_subscriber_id_expires_at"

    def indexes() -> dict[str, list[str]]:
        found = inspect(p.db.engine).get_indexes("registration_codes")
        return {x["name"]: x["column_names"] for x in found}

    assert indexes().get(index) == ["subscriber_id", "expires_at"]
    (plan,) = purge_plans(p, "13600136007")
    assert index in plan, plan
    cfg = alembic_config(p.db.url)
    with p.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0030")
    p.db.engine.dispose()
    assert index not in indexes()
    p.db.migrate()
    assert indexes().get(index) == ["subscriber_id", "expires_at"]


def test_public_registration_is_limited_per_address(world, client):
    bad = {**PERSON, "challenge_id": "0" * 32, "code": "123456"}
    codes = [
        client.post("/api/v1/public/registrations/persons", json=bad).status_code for _ in range(12)
    ]
    assert codes[:10] == [401] * 10 and codes[-1] == 429
    asked = [
        client.post(
            "/api/v1/public/registrations/code", json={"phone": f"136001370{i:02d}"}
        ).status_code
        for i in range(12)
    ]
    assert asked[:10] == [202] * 10 and asked[-1] == 429


def subscriber_session(c: TestClient, world: World, phone: str) -> str:
    world.clock.advance(seconds=61)
    before = lines(world.outbox)
    r = c.post("/api/v1/sessions/subscriber/codes", json={"phone": phone})
    return login(c, world, r.json()["challenge_id"], phone, before)


def test_acceptances_and_payments_are_read_in_scope(world, client):
    p = world.p
    fresh = p.subscribers.add_person(
        name="钱九", id_number=id_card("11010519900101555"), phone="13300133000"
    )
    token = subscriber_session(client, world, "13300133000")
    h = {"X-CSRF-Token": token}
    assert client.get(f"/api/v1/subscribers/{fresh.id}/agreement-acceptances").json() == []
    r = client.post(
        "/api/v1/applications",
        json={"subscriber_id": fresh.id, "profile": "person-signing", "pin": "135790"},
        headers=h,
    )
    problem(r, 403, "agreement_required", "agreement")
    r = client.post(
        f"/api/v1/subscribers/{fresh.id}/agreement-acceptances",
        json={"accepted_by": "钱九"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    acc = client.get(f"/api/v1/subscribers/{fresh.id}/agreement-acceptances").json()
    assert [a["accepted_by"] for a in acc] == ["钱九"]
    problem(
        client.get(f"/api/v1/subscribers/{world.person.id}/agreement-acceptances"), 404, "not_found"
    )
    r = client.post(
        "/api/v1/applications",
        json={"subscriber_id": fresh.id, "profile": "person-signing", "pin": "135790"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    app_id = r.json()["id"]
    assert client.get(f"/api/v1/applications/{app_id}/payments").json() == []
    r = client.post(f"/api/v1/applications/{app_id}/payments", json={"years": 1}, headers=h)
    assert r.status_code == 201, r.text
    paid = client.get(f"/api/v1/applications/{app_id}/payments").json()
    assert [(x["kind"], x["amount_yuan"]) for x in paid] == [("new", r.json()["amount_yuan"])]
    # another subscriber's application is not there
    other = p.certificates.applications(None, organization_id=world.org.id)
    assert other
    problem(client.get(f"/api/v1/applications/{other[0].id}/payments"), 404, "not_found")


def test_seal_preview_draws_from_the_form_and_creates_nothing(world, client):
    token = subscriber_session(client, world, "13900139000")  # the organization's contact
    h = {"X-CSRF-Token": token}
    events = len(world.p.audit_events())
    seals = len(world.p.seals.list())
    form = {"subscriber_id": world.org.id, "kind": "finance"}
    a = client.post("/api/v1/seal-previews", json=form, headers=h)
    assert a.status_code == 200 and a.headers["content-type"] == "image/png"
    assert a.content.startswith(b"\x89PNG")
    b = client.post("/api/v1/seal-previews", json={**form, "code": "3501020000001"}, headers=h)
    c = client.post("/api/v1/seal-previews", json={**form, "code": "3501020000001"}, headers=h)
    assert b.status_code == 200 and a.content != b.content
    assert hashlib.sha256(b.content).digest() == hashlib.sha256(c.content).digest()  # stable
    r = client.post("/api/v1/seal-previews", json={**form, "code": "编码"}, headers=h)
    problem(r, 422, "invalid", "code")
    r = client.post("/api/v1/seal-previews", json={**form, "kind": "personal"}, headers=h)
    problem(r, 422, "invalid", "kind")
    # a person of another scope is not there
    r = client.post(
        "/api/v1/seal-previews",
        json={"subscriber_id": world.person.id, "kind": "personal"},
        headers=h,
    )
    problem(r, 404, "not_found", "subscriber_id")
    assert len(world.p.audit_events()) == events and len(world.p.seals.list()) == seals
    # without a session: refused
    client.cookies.clear()
    problem(client.post("/api/v1/seal-previews", json=form), 401, "unauthenticated")


def test_a_member_sees_the_seals_granted_to_them_while_the_grant_and_the_seal_live(world, client):
    """王五 holds a grant (用印授权) for the organization's contract seal: his listing offers
    it, marked ``via_grant`` and without the holder's own details, so that the signing pages
    can; a withdrawn grant, or a frozen seal, takes it out again. The seal itself stays the
    organization's: reading it by its code is still answered as a seal that does not exist."""
    p, seal = world.p, world.jia.seal
    token = subscriber_session(client, world, world.jia.phone)
    h = {"X-CSRF-Token": token}

    def listed() -> list[dict]:
        r = client.get("/api/v1/seals", params={"limit": 200})
        assert r.status_code == 200, r.text
        return r.json()["items"]

    [got] = listed()
    assert got["es_id"] == seal.es_id and got["subscriber_id"] == world.org.id
    assert got["via_grant"] is True and got["usable"] is True and got["state"] == "active"
    assert got["holder_id_number"] is None and got["authorized_members"] == []
    assert got["failed_pin_attempts"] is None and got["files"] is None
    assert "350102" not in client.get("/api/v1/seals").text  # the holder's ID number, at all
    problem(client.get(f"/api/v1/seals/{seal.es_id}"), 404, "not_found", "seal")
    r = client.post(f"/api/v1/seals/{seal.es_id}/freeze", json={}, headers=h)
    problem(r, 404, "not_found", "seal")

    p.seals.freeze(seal.es_id, actor="test")
    assert listed() == []
    p.seals.unfreeze(seal.es_id, actor="test")
    assert [s["es_id"] for s in listed()] == [seal.es_id]
    narrowed = client.get("/api/v1/seals", params={"subscriber_id": world.org.id})
    assert [s["es_id"] for s in narrowed.json()["items"]] == [seal.es_id], narrowed.text
    p.seals.withdraw(seal.es_id, world.member.id, actor="test")
    assert listed() == []
    r = client.get("/api/v1/seals", params={"subscriber_id": world.org.id})
    problem(r, 404, "not_found", "subscriber_id")  # nothing of it his to see: as a stranger

    # the organization itself still sees its seal as its own, whole
    world.clock.advance(seconds=61)
    client.cookies.clear()
    subscriber_session(client, world, "13900139000")
    [own] = listed()
    assert own["via_grant"] is False and own["holder_id_number"] is not None


def test_a_member_reads_the_picture_of_a_seal_granted_to_him_while_the_grant_lives(world, client):
    """我的印章 shows a granted seal with its picture: 王五, holding a live grant (用印授权) for
    the organization's contract seal, reads ``/seals/{id}/image`` (PNG, SVG) — and nothing
    more of it (its page, its record, its files stay the organization's). Once the grant is
    withdrawn, or the seal frozen, the picture answers 404 exactly as to a stranger."""
    p, seal = world.p, world.jia.seal
    own = p.seals.artifacts(seal.id)
    subscriber_session(client, world, world.jia.phone)
    r = client.get(f"/api/v1/seals/{seal.id}/image")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png" and r.content == own["seal.png"]
    r = client.get(f"/api/v1/seals/{seal.es_id}/image", params={"format": "svg"})
    assert r.status_code == 200 and r.content == own["seal.svg"]
    for other in ("", "/seseal", "/check", "/records", "/applications", "/usability"):
        problem(client.get(f"/api/v1/seals/{seal.id}{other}"), 404, "not_found", "seal")

    stranger = client.get("/api/v1/seals/999999/image")
    p.seals.freeze(seal.es_id, actor="test")
    r = problem(client.get(f"/api/v1/seals/{seal.id}/image"), 404, "not_found", "seal")
    p.seals.unfreeze(seal.es_id, actor="test")
    assert client.get(f"/api/v1/seals/{seal.id}/image").status_code == 200
    p.seals.withdraw(seal.es_id, world.member.id, actor="test")
    r = problem(client.get(f"/api/v1/seals/{seal.id}/image"), 404, "not_found", "seal")
    assert r["detail"] == f"no seal {seal.id}" and stranger.json()["code"] == "not_found"
