"""Browser sessions on the API, in-process on a frozen clock: staff login with password and
TOTP (refusals per field, replay, lockout), the cookies' flags, CSRF on unsafe methods, idle
and absolute expiry, logout; subscriber login by phone and one-time code, and what a
subscriber's session may see (itself; an organization: itself and its people); the public
routes (fees, agreement, status addresses, verification without a key, its rate limit)."""

from __future__ import annotations

import datetime as dt
import json
import os
import pty
import re
import select
import subprocess
import sys
import time

import pyotp
import pytest
from starlette.testclient import TestClient

from tests import dbdump
from tests.codes import wrong_code, wrong_totp
from tests.fixtures.samples import contract_pdf
from tests.integration.api_world import id_card
from tests.integration.server import yinxin_json
from tests.integration.signing_flow import (
    World,
    new_platform,
    outbox_lines,
    read_code,
    sign_as,
)
from tests.integration.terminal import yinxin_at
from yinxin.access.keys import Unauthenticated
from yinxin.adapters.http.server import create_app
from yinxin.errors import ValidationError
from yinxin.store.models.access import WebSession

PASSWORD = "correct horse 1"
PHONE = "13800138000"  # the person's, who logs in by phone


def staff(world: World, name: str = "desk1", role: str = "ra_officer") -> pyotp.TOTP:
    new = world.p.staff.add(name, password=PASSWORD, role=role, actor="test", display_name="甲")
    secret = re.search(r"secret=([A-Z2-7]+)", new.totp_uri)
    assert secret and new.totp_uri.startswith("otpauth://totp/")
    return pyotp.TOTP(secret.group(1))


def code_now(world: World, totp: pyotp.TOTP) -> str:
    return totp.at(world.p.clock.now())


def login_staff(c: TestClient, world: World, totp: pyotp.TOTP, name: str = "desk1"):
    return c.post(
        "/api/v1/sessions/staff",
        json={"username": name, "password": PASSWORD, "code": code_now(world, totp)},
    )


def problem(r, status: int, code: str, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == code, body
    if field is not None:
        assert body["field"] == field, body
    return body


def actions(world: World) -> list[str]:
    return [e.action for e in world.p.audit_events()]


# --- staff ----------------------------------------------------------------------------------
def test_staff_login_needs_password_and_code_and_sets_safe_cookies(world, client):
    totp = staff(world)
    r = client.post(
        "/api/v1/sessions/staff", json={"username": "desk1", "password": "nope", "code": "1"}
    )
    problem(r, 401, "bad_credentials", "password")
    r = client.post(
        "/api/v1/sessions/staff",
        json={
            "username": "desk1",
            "password": PASSWORD,
            "code": wrong_totp(totp, world.p.clock.now()),
        },
    )
    problem(r, 401, "wrong_code", "code")
    r = client.post(
        "/api/v1/sessions/staff", json={"username": "ghost", "password": PASSWORD, "code": "1"}
    )
    problem(r, 401, "bad_credentials", "password")

    r = login_staff(client, world, totp)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["session"]["kind"] == "staff" and body["session"]["role"] == "ra_officer"
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("yx_session="))
    csrf = next(c for c in cookies if c.startswith("yx_csrf="))
    assert "HttpOnly" in session and "samesite=strict" in session.lower()
    assert "HttpOnly" not in csrf and body["csrf_token"] in csrf
    assert "Secure" not in session  # http base URL
    # the database keeps a hash of the secret only
    secret = session.split(";")[0].split("=", 1)[1]
    with world.p.db.read() as s:
        stored = [row.secret_sha256 for row in s.query(WebSession)]
    assert stored and secret not in stored and all(len(h) == 64 for h in stored)

    me = client.get("/api/v1/sessions/current").json()
    assert me["display_name"] == "甲" and me["staff_user_id"]
    # an RA officer's session may do what an RA officer's key may: the review queue
    assert client.get("/api/v1/applications?state=pending").status_code == 200
    assert client.get("/api/v1/api-keys").status_code == 403  # not an administrator
    # the same TOTP code again (a replay) is refused even with the right password
    r = login_staff(client, world, totp)
    problem(r, 401, "wrong_code", "code")
    seen = actions(world)
    assert "staff.login" in seen and "session.opened" in seen
    assert seen.count("staff.login_failed") >= 3


def test_secure_cookie_behind_https(tmp_path, clock):
    p = new_platform(tmp_path, clock, base_url="https://ca.example.cn")
    try:
        new = p.staff.add("desk1", password=PASSWORD, role="administrator", actor="test")
        secret = re.search(r"secret=([A-Z2-7]+)", new.totp_uri).group(1)  # type: ignore[union-attr]
        with TestClient(create_app(p, jobs=False), base_url="https://ca.example.cn") as c:
            r = c.post(
                "/api/v1/sessions/staff",
                json={
                    "username": "desk1",
                    "password": PASSWORD,
                    "code": pyotp.TOTP(secret).at(clock.now()),
                },
            )
            assert r.status_code == 201, r.text
            assert all("Secure" in c for c in r.headers.get_list("set-cookie"))
    finally:
        p.close()


def test_a_code_in_other_digits_is_a_wrong_code_not_a_crash(world, client):
    """``\\d`` also took ``１２３４５６`` and ``١٢٣٤٥٦``, which ``hmac.compare_digest`` then
    refused with a TypeError: a 500 instead of a wrong code, and the attempt went uncounted."""
    totp = staff(world)
    right = code_now(world, totp)
    for digits in ("０１２３４５６７８９", "٠١٢٣٤٥٦٧٨٩"):
        typed = right.translate(str.maketrans("0123456789", digits))
        r = client.post(
            "/api/v1/sessions/staff",
            json={"username": "desk1", "password": PASSWORD, "code": typed},
        )
        problem(r, 401, "wrong_code", "code")
    assert actions(world).count("staff.login_failed") == 2
    assert login_staff(client, world, totp).status_code == 201


def test_lockout_after_five_wrong_attempts(world, client, clock):
    totp = staff(world)
    for _ in range(4):
        r = client.post(
            "/api/v1/sessions/staff",
            json={"username": "desk1", "password": "wrong password", "code": "123456"},
        )
        problem(r, 401, "bad_credentials", "password")
    r = client.post(
        "/api/v1/sessions/staff",
        json={
            "username": "desk1",
            "password": PASSWORD,
            "code": wrong_totp(totp, world.p.clock.now()),
        },
    )
    problem(r, 401, "wrong_code", "code")  # the fifth locks, which is not said
    problem(login_staff(client, world, totp), 401, "bad_credentials", "password")
    assert "staff.locked" in actions(world)
    clock.advance(minutes=16)
    assert login_staff(client, world, totp).status_code == 201


def test_csrf_is_required_for_unsafe_methods_with_the_cookie(world, client):
    totp = staff(world, "admin1", "administrator")
    token = login_staff(client, world, totp, "admin1").json()["csrf_token"]
    person = {"name": "测试", "id_number": "11010519491231002X", "phone": "13600136000"}
    r = client.post("/api/v1/subscribers/persons", json=person)
    problem(r, 403, "csrf", "x-csrf-token")
    r = client.post("/api/v1/subscribers/persons", json=person, headers={"X-CSRF-Token": "x" * 64})
    problem(r, 403, "csrf")
    # a token with a byte outside ASCII (²) is a wrong token, not a crash in compare_digest
    r = client.post(
        "/api/v1/subscribers/persons", json=person, headers={"X-CSRF-Token": b"\xb2" * 64}
    )
    problem(r, 403, "csrf")
    assert client.get("/api/v1/subscribers").status_code == 200  # safe: no token needed
    r = client.post("/api/v1/subscribers/persons", json=person, headers={"X-CSRF-Token": token})
    assert r.status_code == 201, r.text
    # the audit names the staff member, not a key
    assert world.p.audit_events()[-1].actor == "staff:admin1"
    # a retried POST with the same Idempotency-Key (a double click, a dropped answer) acts once
    h = {"X-CSRF-Token": token, "Idempotency-Key": "web-form-1"}
    other = {**person, "id_number": id_card("11010519800101001")}
    first = client.post("/api/v1/subscribers/persons", json=other, headers=h)
    again = client.post("/api/v1/subscribers/persons", json=other, headers=h)
    assert first.status_code == 201 and again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert first.json()["id"] == again.json()["id"]


def test_idle_and_absolute_expiry_and_logout(world, client, clock):
    totp = staff(world)
    token = login_staff(client, world, totp).json()["csrf_token"]
    for _ in range(3):  # activity keeps it alive past the idle limit
        clock.advance(minutes=20)
        assert client.get("/api/v1/sessions/current").status_code == 200
    clock.advance(minutes=31)
    problem(client.get("/api/v1/sessions/current"), 401, "session_expired", "session")
    problem(client.get("/api/v1/applications"), 401, "session_expired")

    clock.advance(minutes=1)
    token = login_staff(client, world, totp).json()["csrf_token"]
    for _ in range(12 * 3):  # busy all day: the absolute limit still ends it
        clock.advance(minutes=20)
        r = client.get("/api/v1/sessions/current")
        if r.status_code != 200:
            break
    problem(r, 401, "session_expired")
    opened = newest_session(world).created_at
    assert dt.timedelta(hours=12) <= clock.now() - opened < dt.timedelta(hours=12, minutes=21)

    clock.advance(minutes=1)
    token = login_staff(client, world, totp).json()["csrf_token"]
    problem(client.delete("/api/v1/sessions/current"), 403, "csrf")
    r = client.delete("/api/v1/sessions/current", headers={"X-CSRF-Token": token})
    assert r.status_code == 204
    problem(client.get("/api/v1/sessions/current"), 401, "unauthenticated")
    assert "session.closed" in actions(world)


def test_a_kept_answer_is_not_replayed_to_a_session_ended_since(world, client):
    """An Idempotency-Key's kept answer went back to whoever sent the same cookie and
    request, even after the session had been logged out: a page left open (or a cookie
    copied) read it back for 24 hours. It needs a live session, and its CSRF token."""
    totp = staff(world)
    token = login_staff(client, world, totp).json()["csrf_token"]
    body = {"name": "测试", "id_number": "11010519491231002X", "phone": "13600136000"}
    sent = {"X-CSRF-Token": token, "Idempotency-Key": "p-1"}
    first = client.post("/api/v1/subscribers/persons", json=body, headers=sent)
    assert first.status_code == 201, first.text
    again = client.post("/api/v1/subscribers/persons", json=body, headers=sent)
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    no_token = {"Idempotency-Key": "p-1"}
    problem(client.post("/api/v1/subscribers/persons", json=body, headers=no_token), 403, "csrf")
    stale = client.cookies["yx_session"]
    assert client.delete("/api/v1/sessions/current", headers={"X-CSRF-Token": token}).status_code
    client.cookies.set("yx_session", stale)  # a browser that kept it (a page left open)
    late = client.post("/api/v1/subscribers/persons", json=body, headers=sent)
    problem(late, 401, "unauthenticated")
    assert "idempotent-replayed" not in late.headers and "136****6000" not in late.text
    # a route that checks no caller (a login, a code) still replays with the stale cookie sent
    world.clock.advance(seconds=61)
    ask = {"Idempotency-Key": "code-1"}
    first = client.post("/api/v1/sessions/subscriber/codes", json={"phone": PHONE}, headers=ask)
    again = client.post("/api/v1/sessions/subscriber/codes", json={"phone": PHONE}, headers=ask)
    assert first.status_code == 202, first.text
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"


def test_a_login_refuses_an_idempotency_key_before_it_uses_the_code(world, client):
    """A login sent with an Idempotency-Key had its answer kept (status, type, body): a retry
    got the session's body back without its Set-Cookie headers — a 201 that logged no one in —
    while the first had used the one-time code. The key is refused up front, 422 naming it,
    before anything is checked or used; without it the same code logs in."""
    totp = staff(world)
    key = {"Idempotency-Key": "login-1"}
    body = {"username": "desk1", "password": PASSWORD, "code": code_now(world, totp)}
    r = client.post("/api/v1/sessions/staff", json=body, headers=key)
    problem(r, 422, "idempotency_not_supported", "Idempotency-Key")
    assert "set-cookie" not in r.headers and "idempotent-replayed" not in r.headers
    assert "staff.login" not in actions(world)
    r = client.post("/api/v1/sessions/staff", json=body)  # the same TOTP code: not used up
    assert r.status_code == 201 and "yx_session=" in r.headers["set-cookie"], r.text

    world.clock.advance(seconds=61)
    before = outbox_lines(world.outbox)
    sent = client.post("/api/v1/sessions/subscriber/codes", json={"phone": PHONE}, headers=key)
    assert sent.status_code == 202, sent.text  # asking for a code still takes a key
    proof = {
        "challenge_id": sent.json()["challenge_id"],
        "code": read_code(world.outbox, PHONE, after=before),
    }
    for _ in range(2):  # a retry is refused alike, never a replay
        r = client.post("/api/v1/sessions/subscriber", json=proof, headers=key)
        problem(r, 422, "idempotency_not_supported", "Idempotency-Key")
        assert "set-cookie" not in r.headers and "idempotent-replayed" not in r.headers
    r = client.post("/api/v1/sessions/subscriber", json=proof)
    assert r.status_code == 201 and "yx_session=" in r.headers["set-cookie"], r.text
    assert r.json()["session"]["subscriber_id"] == world.person.id


def newest_session(world: World) -> WebSession:
    with world.p.db.read() as s:
        return s.query(WebSession).order_by(WebSession.id.desc()).first()


def test_disabled_staff_loses_its_sessions(world, client):
    totp = staff(world)
    assert login_staff(client, world, totp).status_code == 201
    world.p.staff.disable("desk1", actor="test")
    problem(client.get("/api/v1/sessions/current"), 401, "unauthenticated")


def test_a_disabled_account_is_enabled_again_its_sessions_staying_ended(world, client, clock):
    """A disabled account could never be used again (``staff unlock`` answered exit 0 showing
    it still disabled). ``enable`` lets it sign in again, audited; the sessions it had when
    disabled stay ended (they were refused only while the account was disabled)."""
    totp = staff(world)
    assert login_staff(client, world, totp).status_code == 201
    old_cookies = dict(client.cookies)
    world.p.staff.disable("desk1", actor="test")
    assert world.p.staff.unlock("desk1", actor="test").disabled_at is not None
    view = world.p.staff.enable("desk1", actor="admin")
    assert view.disabled_at is None
    client.cookies.clear()
    client.cookies.update(old_cookies)
    problem(client.get("/api/v1/sessions/current"), 401, "unauthenticated")
    enabled = [e for e in world.p.audit_events() if e.action == "staff.enabled"]
    assert [(e.actor, e.subject_id) for e in enabled] == [("admin", "desk1")]
    assert enabled[0].data == {"sessions_ended": 1}
    # enabling an account in use changes nothing and writes nothing
    world.p.staff.enable("desk1", actor="admin")
    assert actions(world).count("staff.enabled") == 1
    client.cookies.clear()
    clock.advance(seconds=60)  # the code used above is spent
    assert login_staff(client, world, totp).status_code == 201
    assert client.get("/api/v1/sessions/current").status_code == 200


def test_bearer_key_still_works_and_wins_over_a_cookie(world, client):
    key = world.p.api_keys.create(name="oa", role="integration", actor="test").secret
    r = client.get("/api/v1/subscribers", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200
    totp = staff(world)
    login_staff(client, world, totp)
    # with both, the key decides (and needs no CSRF token)
    r = client.post(
        "/api/v1/subscribers/persons",
        json={"name": "测试", "id_number": "11010519491231002X", "phone": "13600136000"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 201, r.text
    assert world.p.audit_events()[-1].actor.startswith("api:")


def test_subscriber_role_cannot_be_given_to_a_key(world):
    from yinxin.errors import ValidationError

    with pytest.raises(ValidationError) as e:
        world.p.api_keys.create(name="x", role="subscriber", actor="test")
    assert e.value.field == "role"


def test_names_that_go_into_actors_are_refused_with_hidden_characters(world):
    """A key's name is in every actor it writes (api:prefix:name), which the services check
    like any name: a zero-width space in it let the key be made, then failed its first
    approval or seal move with "actor contains an invisible character". A staff member's
    display name was cut at 100 characters without a word. Both are refused when made,
    nothing written."""
    from yinxin.errors import ValidationError
    from yinxin.store.models.access import ApiKey, StaffUser

    before = (dbdump.count(world.p, ApiKey), dbdump.count(world.p, StaffUser))
    with pytest.raises(ValidationError) as e:
        world.p.api_keys.create(name="ERP\u200b集成", role="integration", actor="test")
    assert e.value.field == "name" and "U+200B" in e.value.message
    for display in ("李\u202e受理", "李" * 101):
        with pytest.raises(ValidationError) as e:
            world.p.staff.add(
                "li.clerk",
                password="a long password 1",
                role="ra_officer",
                actor="t",
                display_name=display,
            )
        assert e.value.field == "display_name", e.value.message
    assert (dbdump.count(world.p, ApiKey), dbdump.count(world.p, StaffUser)) == before


# --- subscribers ----------------------------------------------------------------------------
def login_subscriber(c: TestClient, world: World, phone: str) -> dict:
    world.clock.advance(seconds=61)  # one code a minute per subscriber
    before = outbox_lines(world.outbox)
    r = c.post("/api/v1/sessions/subscriber/codes", json={"phone": phone})
    assert r.status_code == 202, r.text
    sent = r.json()
    assert sent["sent_to_masked"] == phone[:3] + "****" + phone[-4:]
    code = read_code(world.outbox, phone, after=before)
    r = c.post(
        "/api/v1/sessions/subscriber",
        json={"challenge_id": sent["challenge_id"], "code": code},
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_person_session_sees_itself_only(world, client):
    out = login_subscriber(client, world, "13800138000")
    me = out["session"]
    assert me["kind"] == "subscriber" and me["subscriber_id"] == world.person.id
    ids = [s["id"] for s in client.get("/api/v1/subscribers").json()["items"]]
    assert ids == [world.person.id]
    problem(client.get(f"/api/v1/subscribers/{world.org.id}"), 404, "not_found")
    certs = client.get("/api/v1/certificates").json()["items"]
    assert [c["serial"] for c in certs] == [world.person_cert.serial]
    problem(client.get(f"/api/v1/certificates/{world.org_cert.serial}"), 404, "not_found")
    seals = client.get("/api/v1/seals").json()["items"]
    assert [s["es_id"] for s in seals] == [world.yi.seal.es_id]
    problem(client.get(f"/api/v1/seals/{world.jia.seal.es_id}"), 404, "not_found")
    # registering other people is not a subscriber's business
    h = {"X-CSRF-Token": out["csrf_token"]}
    r = client.post(
        "/api/v1/subscribers/persons",
        json={"name": "测试", "id_number": "11010519491231002X", "phone": "13600136000"},
        headers=h,
    )
    problem(r, 403, "forbidden")
    # nor are officers' and administrators' acts
    problem(client.get("/api/v1/audit/events"), 403, "not_permitted")
    assert world.p.audit_events()[-1].action in ("session.opened", "intent.consumed")


def test_organization_session_sees_its_organization(world, client):
    out = login_subscriber(client, world, "13900139000")
    assert out["session"]["organization_id"] == world.org.id
    seals = client.get("/api/v1/seals").json()["items"]
    assert [s["es_id"] for s in seals] == [world.jia.seal.es_id]
    certs = client.get("/api/v1/certificates").json()["items"]
    assert [c["serial"] for c in certs] == [world.org_cert.serial]
    problem(client.get(f"/api/v1/subscribers/{world.person.id}"), 404, "not_found")


def test_a_phone_shared_by_two_accounts_chooses_after_the_code(world, client):
    """张三 is also the contact of his own studio, registered with the same phone: both
    accounts are his. The login page said 该手机号登记了多个用户，请联系受理点 and sent no code —
    neither account could be opened. Now the code goes to the phone as for any other, the right
    code is answered with the accounts to choose from (only to whoever has the phone), and the
    chosen one is opened; a wrong code still counts, and no one learns from the phone number
    alone who is registered with it."""
    from tests.integration.test_ca_lifecycle import uscc

    p = world.p
    studio = p.subscribers.add_organization(
        name="张三设计工作室",
        uscc=uscc(77),
        legal_representative="张三",
        contact_name="张三",
        contact_phone="13800138000",
        phone="13800138000",
    )
    world.clock.advance(seconds=61)
    before = outbox_lines(world.outbox)
    r = client.post("/api/v1/sessions/subscriber/codes", json={"phone": "13800138000"})
    assert r.status_code == 202, r.text  # as for a phone of one account: nothing said of two
    assert set(r.json()) == {"challenge_id", "sent_to_masked", "expires_at"}
    cid = r.json()["challenge_id"]
    code = read_code(world.outbox, "13800138000", after=before)
    login = "/api/v1/sessions/subscriber"
    body = problem(
        client.post(login, json={"challenge_id": cid, "code": wrong_code(code)}), 401, "wrong_code"
    )
    assert "choices" not in body  # counted as always (audited), and no choice shown
    failed = world.p.audit_events(action="intent.confirm_failed")[-1]
    assert failed.data["failed_attempts"] == 1
    body = problem(
        client.post(login, json={"challenge_id": cid, "code": code}),
        409,
        "choose_account",
        "subscriber_id",
    )
    assert body["choices"] == [
        {"subscriber_id": world.person.id, "kind": "person", "name": "张三"},
        {"subscriber_id": studio.id, "kind": "organization", "name": "张三设计工作室"},
    ]
    # an account of another phone is not one of them; the code still works after that
    r = client.post(login, json={"challenge_id": cid, "code": code, "subscriber_id": world.org.id})
    problem(r, 422, "invalid", "subscriber_id")
    r = client.post(login, json={"challenge_id": cid, "code": code, "subscriber_id": studio.id})
    assert r.status_code == 201, r.text
    me = r.json()["session"]
    assert me["subscriber_id"] == studio.id and me["display_name"] == "张三设计工作室"
    ids = [s["id"] for s in client.get("/api/v1/subscribers").json()["items"]]
    assert ids == [studio.id]  # the studio's data only
    # the code is used up
    r = client.post(
        login, json={"challenge_id": cid, "code": code, "subscriber_id": world.person.id}
    )
    problem(r, 401, "wrong_code", "code")  # used up: refused as any wrong code
    assert world.p.audit_events(action="intent.confirm_failed")[-1].data["reason"] == "code_used"


def test_subscriber_login_refusals(world, client):
    # an unknown phone gets the same answer as a known one, and no code
    before = outbox_lines(world.outbox)
    r = client.post("/api/v1/sessions/subscriber/codes", json={"phone": "13512345678"})
    assert r.status_code == 202 and r.json()["sent_to_masked"] == "135****5678"
    assert outbox_lines(world.outbox) == before
    r = client.post(
        "/api/v1/sessions/subscriber", json={"challenge_id": r.json()["challenge_id"], "code": "1"}
    )
    problem(r, 401, "wrong_code", "code")
    r = client.post("/api/v1/sessions/subscriber/codes", json={"phone": "12345"})
    problem(r, 422, "invalid", "phone")
    # a wrong code is counted; a second request within the minute is rate limited
    world.clock.advance(seconds=61)
    before = outbox_lines(world.outbox)
    r = client.post("/api/v1/sessions/subscriber/codes", json={"phone": "13800138000"})
    cid = r.json()["challenge_id"]
    wrong = wrong_code(read_code(world.outbox, "13800138000", after=before))
    r = client.post("/api/v1/sessions/subscriber", json={"challenge_id": cid, "code": wrong})
    problem(r, 401, "wrong_code", "code")  # as for the unknown phone's challenge
    assert world.p.audit_events(action="intent.confirm_failed")[-1].data["failed_attempts"] == 1
    r = client.post("/api/v1/sessions/subscriber/codes", json={"phone": "13800138000"})
    problem(r, 429, "rate_limited")
    assert "retry-after" in r.headers
    # a signing code cannot open a session
    world.clock.advance(seconds=61)
    before = outbox_lines(world.outbox)
    ch = world.p.signing.request_confirmation(
        signer_subscriber_id=world.person.id,
        document=contract_pdf(),
        document_name="合同.pdf",
    )
    code = read_code(world.outbox, "13800138000", after=before)
    r = client.post(
        "/api/v1/sessions/subscriber", json={"challenge_id": ch.challenge_id, "code": code}
    )
    problem(r, 401, "wrong_code")


# --- public ---------------------------------------------------------------------------------
def test_public_routes(world, client):
    fees = client.get("/api/v1/public/fees").json()
    plans = {p["code"]: p for p in fees["plans"]}
    assert plans["standard"]["annual_yuan"] == "70.00"
    assert plans["standard"]["medium_yuan"] == "50.00"
    assert plans["standard"]["first_year_yuan"] == "120.00"
    assert plans["premium"]["annual_yuan"] == "650.00" and plans["premium"]["includes_hardware"]
    from yinxin.agreements import current_agreement

    a = client.get("/api/v1/public/agreement").json()
    assert a["sha256"] == current_agreement().sha256 and "协议" in a["text"]
    st = client.get("/api/v1/public/status").json()
    assert st["ocsp"].endswith("/ocsp") and st["tsa"].endswith("/tsa")
    assert st["crl"][0].endswith("/crl/issuing.crl")
    roles = {c["role"] for c in st["ca_certificates"]}
    assert {"root", "issuing"} <= roles
    # the agreement behind a key stays as it was
    assert client.get("/api/v1/agreements/current").status_code == 401


def test_public_verification_without_a_key(world, client):
    from tests.fixtures.samples import contract_pdf

    signed = sign_as(world, world.jia, contract_pdf()).pdf
    r = client.post(
        "/api/v1/public/verifications?file_name=c.pdf",
        content=signed,
        headers={"Content-Type": "application/pdf"},
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["valid"] and len(report["signatures"]) == 1
    r = client.post(
        "/api/v1/public/verifications?format=pdf",
        content=signed,
        headers={"Content-Type": "application/pdf"},
    )
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    # the keyed route still wants a key
    r = client.post(
        "/api/v1/verifications", content=signed, headers={"Content-Type": "application/pdf"}
    )
    assert r.status_code == 401
    # an address sending too many documents is told to wait
    statuses = [
        client.post("/api/v1/public/verifications", content=b"").status_code for _ in range(12)
    ]
    assert 429 in statuses, statuses


def test_a_verification_is_not_kept_under_its_idempotency_key(world, client):
    """ "Nothing is kept": but the verification page sends every file with an
    ``Idempotency-Key``, and the guard kept the whole answer — the file's name and hash, who
    signed it with which seal — for 24 hours, the PDF report too. Reading a document changes
    nothing, so nothing is kept: a repeat with the same key verifies again."""
    from tests.fixtures.samples import contract_pdf
    from yinxin.store.models.access import IdempotencyRecord

    signed = sign_as(world, world.jia, contract_pdf()).pdf
    key = world.p.api_keys.create(name="oa", role="integration", actor="test").secret
    for route, auth in (
        ("/api/v1/public/verifications", {}),
        ("/api/v1/verifications", {"Authorization": f"Bearer {key}"}),
    ):
        for fmt in ("json", "pdf"):
            for _ in range(2):
                r = client.post(
                    f"{route}?file_name=机密合同.pdf&format={fmt}",
                    content=signed,
                    headers={
                        "Content-Type": "application/pdf",
                        "Idempotency-Key": f"verify-{fmt}",
                        **auth,
                    },
                )
                assert r.status_code == 200, r.text
                assert "idempotent-replayed" not in r.headers
                assert "x-yinxin-not-kept" not in r.headers
    with world.p.db.read() as s:
        assert s.query(IdempotencyRecord).count() == 0


# --- the command line -----------------------------------------------------------------------
def test_staff_cli(tmp_path):
    from tests.integration.server import yinxin_cli

    p = new_platform(tmp_path)
    p.close()
    env = {"YINXIN_STAFF_PASSWORD": PASSWORD}
    out = yinxin_cli(
        ["staff", "add", "desk9", "--role", "ra_officer", "--name", "王受理"], tmp_path, env=env
    )
    assert "staff user desk9 (ra_officer)" in out.stdout
    assert re.search(r"^otpauth://totp/.*secret=[A-Z2-7]+", out.stdout, re.M)
    assert PASSWORD not in out.stdout + out.stderr
    listed = yinxin_json(["staff", "list"], tmp_path)
    assert [s["username"] for s in listed] == ["desk9"] and "totp" not in str(listed)
    bad = yinxin_cli(["staff", "add", "x9", "--role", "subscriber"], tmp_path, env=env, check=False)
    assert bad.returncode == 2 and "role" in bad.stdout + bad.stderr
    short = yinxin_cli(
        ["staff", "add", "desk8", "--role", "ra_officer"],
        tmp_path,
        env={"YINXIN_STAFF_PASSWORD": "short"},
        check=False,
    )
    assert short.returncode == 2 and "password" in short.stdout + short.stderr
    assert yinxin_json(["staff", "unlock", "desk9"], tmp_path)["locked_until"] is None
    assert yinxin_json(["staff", "disable", "desk9"], tmp_path)["disabled_at"] is not None
    # unlock does not enable a disabled account, and says so
    still = yinxin_cli(["staff", "unlock", "desk9"], tmp_path)
    assert "disabled" in still.stderr and "staff enable desk9" in still.stderr
    assert yinxin_json(["staff", "enable", "desk9"], tmp_path)["disabled_at"] is None
    enabled = yinxin_cli(["staff", "enable", "desk9"], tmp_path)
    assert "disabled_at" in enabled.stdout


def test_staff_add_refuses_a_blank_name(tmp_path):
    """``staff add desk6 --name "  "`` was accepted and the name dropped (the account showed
    its username): a blank name is refused, naming the option, and nothing written."""
    from tests.integration.server import yinxin_cli

    p = new_platform(tmp_path)
    try:
        with pytest.raises(ValidationError) as e:
            p.staff.add(
                "desk6", password=PASSWORD, role="ra_officer", display_name=" \t", actor="t"
            )
        assert e.value.field == "display_name"
    finally:
        p.close()
    env = {"YINXIN_STAFF_PASSWORD": PASSWORD}
    args = ["staff", "add", "desk6", "--role", "ra_officer", "--name", "  "]
    bad = yinxin_cli([*args, "--json"], tmp_path, env=env, check=False)
    assert bad.returncode == 2
    assert json.loads(bad.stdout)["field"] == "name"
    bad = yinxin_cli(args, tmp_path, env=env, check=False)
    assert bad.returncode == 2 and "name" in bad.stderr and "blank" in bad.stderr
    assert yinxin_json(["staff", "list"], tmp_path) == []
    # left out, the account shows its username, as before
    yinxin_cli(["staff", "add", "desk6", "--role", "ra_officer"], tmp_path, env=env)
    assert yinxin_json(["staff", "list"], tmp_path)[0]["display_name"] == "desk6"


def test_staff_verbs_refuse_a_username_no_account_can_have_before_looking(tmp_path):
    """``staff unlock ""`` (a script's empty variable), ``staff disable " "``, ``staff enable
    "a b"`` said "no staff user ''" (exit 3, not found), as if the name were right and the
    account gone; they are refused as ``staff add`` refuses such a name (exit 2 naming
    ``username``). A well-formed name of no account is still exit 3."""
    from tests.integration.server import yinxin_cli

    new_platform(tmp_path).close()
    for verb in ("unlock", "disable", "enable"):
        for name in ("", " ", "a b", "9desk"):
            bad = yinxin_cli(["staff", verb, name, "--json"], tmp_path, check=False)
            assert bad.returncode == 2, (verb, name, bad.stdout, bad.stderr)
            refusal = json.loads(bad.stdout)
            assert refusal["field"] == "username" and "2 to 50" in refusal["message"], refusal
        gone = yinxin_cli(["staff", verb, "desk7", "--json"], tmp_path, check=False)
        assert gone.returncode == 3 and json.loads(gone.stdout)["field"] == "username"


def test_staff_add_refuses_capitals_and_a_long_username_naming_it(tmp_path):
    """``yinxin staff add Admin`` made the account ``admin``, saying so only by the name in its
    output: the operator handed on "Admin". It is refused now (exit 2 naming ``username``, in
    both languages, telling the name to type); a name over 50 characters is refused saying
    so. Nothing is written. Lookups still match in any case (``staff unlock Admin``)."""
    from tests.integration.server import yinxin_cli

    new_platform(tmp_path).close()
    env = {"YINXIN_STAFF_PASSWORD": PASSWORD}
    add = ["staff", "add", "--role", "ra_officer"]
    bad = yinxin_cli([*add, "Admin", "--json"], tmp_path, env=env, check=False)
    assert bad.returncode == 2, (bad.stdout, bad.stderr)
    refusal = json.loads(bad.stdout)
    assert refusal["field"] == "username", refusal
    assert "lower case" in refusal["message"] and "小写" in refusal["message"], refusal
    assert "'admin'" in refusal["message"], refusal
    said = yinxin_cli([*add, "Admin"], tmp_path, env=env, check=False)
    assert said.returncode == 2 and "lower case" in said.stderr, said.stderr
    long = yinxin_cli([*add, "d" * 51, "--json"], tmp_path, env=env, check=False)
    assert long.returncode == 2, (long.stdout, long.stderr)
    refusal = json.loads(long.stdout)
    assert refusal["field"] == "username" and "at most 50" in refusal["message"], refusal
    assert yinxin_json(["staff", "list"], tmp_path) == []
    made = yinxin_json([*add, "admin"], tmp_path, env=env)
    assert made["staff"]["username"] == "admin"
    assert yinxin_json(["staff", "unlock", "Admin"], tmp_path)["username"] == "admin"


def test_a_staff_login_matches_any_case_but_not_a_longer_name(world, client):
    """A login typed ``Desk1`` still signs in to ``desk1``. A name one letter longer than a
    50-character account's was cut to 50 and signed in to that account: it is no account's
    now, refused as an unknown name (the audit trail keeping its first 50 characters)."""
    totp = staff(world)
    assert login_staff(client, world, totp, name="Desk1").status_code == 201
    fifty = "d" + "e" * 49
    totp = staff(world, fifty)
    clock = world.p.clock
    with pytest.raises(Unauthenticated) as refused:
        world.p.sessions.login_staff(fifty + "x", PASSWORD, totp.at(clock.now()))
    assert refused.value.code == "bad_credentials"
    failed = [e for e in world.p.audit_events() if e.action == "staff.login_failed"]
    assert failed[-1].subject_id == fifty and failed[-1].data == {"reason": "unknown_user"}
    assert world.p.sessions.login_staff(fifty, PASSWORD, totp.at(clock.now()))
    with pytest.raises(ValidationError) as e:  # as the CLI refuses it
        world.p.staff.add("Desk2", password=PASSWORD, role="ra_officer", actor="test")
    assert e.value.field == "username"


def _at_terminal(
    args: list[str], home, answers: list[tuple[str, str]]
) -> subprocess.CompletedProcess[str]:
    """``yinxin ARGS`` with a terminal as its standard input (and controlling terminal), as an
    operator types at one: each answer is typed once its prompt has appeared on standard error
    (typing ahead would be flushed when the terminal's echo is turned off). Standard output and
    error are captured apart."""
    from tests.integration.server import ROOT, yinxin_env

    master, slave = pty.openpty()
    try:
        proc = yinxin_at(slave, args, yinxin_env(home), str(ROOT), pipes=True)
        assert proc.stderr is not None
        err = b""
        for prompt, answer in answers:
            deadline = time.monotonic() + 60
            while prompt.encode() not in err:
                ready, _, _ = select.select([proc.stderr], [], [], 1)
                if ready:
                    err += os.read(proc.stderr.fileno(), 4096)
                assert time.monotonic() < deadline, f"no prompt {prompt!r}: {err!r}"
            err = err.split(prompt.encode(), 1)[1]  # the next prompt comes after this one
            time.sleep(0.2)  # the prompt is written before the echo is turned off
            os.write(master, (answer + "\n").encode())
        out, rest = proc.communicate(timeout=60)
    finally:
        os.close(master)
        os.close(slave)
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), (err + rest).decode())


def test_staff_add_password_prompt_keeps_json_clean(tmp_path):
    """``yinxin staff add … --json > file`` at a terminal, or with the password on standard
    input: the prompts went to standard output, so the file began with "Password (10 characters
    at least):Repeat for confirmation:" and was no JSON. Prompts go to standard error."""
    p = new_platform(tmp_path)
    p.close()
    args = ["staff", "add", "desk7", "--role", "ra_officer", "--json"]
    asked = [("Password (10 characters at least)", PASSWORD), ("Repeat for confirmation", PASSWORD)]
    typed = _at_terminal(args, tmp_path, asked)
    assert typed.returncode == 0, typed.stderr
    assert json.loads(typed.stdout)["staff"]["username"] == "desk7"
    assert PASSWORD not in typed.stdout + typed.stderr

    from tests.integration.server import yinxin_env

    piped = subprocess.run(
        [sys.executable, "-m", "yinxin.adapters.cli", "staff", "add", "desk5", "--role"]
        + ["administrator", "--json"],
        env=yinxin_env(tmp_path),
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["staff"]["role"] == "administrator"
    assert PASSWORD not in piped.stdout + piped.stderr
    empty = subprocess.run(
        [sys.executable, "-m", "yinxin.adapters.cli", "staff", "add", "desk4", "--role"]
        + ["ra_officer"],
        env=yinxin_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert empty.returncode == 2
    assert "YINXIN_STAFF_PASSWORD" in empty.stderr and "--pin-stdin" not in empty.stderr
    listed = yinxin_json(["staff", "list"], tmp_path)
    assert sorted(s["username"] for s in listed) == ["desk5", "desk7"]


def test_staff_add_refuses_a_bad_account_before_asking_for_its_password(tmp_path):
    """``yinxin staff add "Bad Name" --role ra_officer`` at a terminal asked for the password
    twice and only then said the username was wrong (the same for a bad role, display name,
    or a username already taken); without a terminal it said only that the password was
    missing, hiding the real mistake. The account is checked first; the password is asked
    for only when nothing else is wrong."""
    from tests.integration.server import yinxin_cli, yinxin_env

    p = new_platform(tmp_path)
    p.close()
    env = {"YINXIN_STAFF_PASSWORD": PASSWORD}
    yinxin_cli(["staff", "add", "desk9", "--role", "ra_officer"], tmp_path, env=env)
    for args, field, code in (
        (["Bad Name", "--role", "ra_officer"], "username", 2),
        (["desk8", "--role", "subscriber"], "role", 2),
        (["desk8", "--role", "ra_officer", "--name", "王\x1b[8m"], "name", 2),  # --name
        (["desk9", "--role", "ra_officer"], "username", 6),  # taken
    ):
        out = subprocess.run(  # no terminal, no YINXIN_STAFF_PASSWORD, nothing on stdin
            [sys.executable, "-m", "yinxin.adapters.cli", "staff", "add", *args, "--json"],
            env={k: v for k, v in yinxin_env(tmp_path).items() if k != "YINXIN_STAFF_PASSWORD"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == code, (args, out.stdout, out.stderr)
        assert json.loads(out.stdout)["field"] == field, (args, out.stdout)
    assert [s["username"] for s in yinxin_json(["staff", "list"], tmp_path)] == ["desk9"]


def test_staff_and_apikey_commands_record_the_actor_given(tmp_path):
    """``apikey create``, ``apikey revoke``, ``staff add``, ``unlock``, ``disable`` and
    ``enable`` recorded every change as made by ``operator`` and took no ``--actor``: two
    officers were one in the audit trail. They record ``--actor`` now (``operator`` when it is
    left out), and a blank one is refused before anything is written."""
    from sqlalchemy import select

    from tests.integration.server import yinxin_cli
    from yinxin.app import Platform
    from yinxin.settings import Settings
    from yinxin.store.models.access import StaffUser

    def reopened() -> Platform:
        db = f"sqlite:///{tmp_path / 'yinxin.db'}"
        return Platform(Settings(home=tmp_path, database_url=db))

    p = new_platform(tmp_path)
    p.close()
    env = {"YINXIN_STAFF_PASSWORD": PASSWORD}
    who = ["--actor", "运维 张三"]
    key = ["apikey", "create", "--role", "integration", "--name"]
    made = yinxin_json([*key, "k1", *who], tmp_path)
    assert made["key"]["created_by"] == "运维 张三"
    yinxin_json(["apikey", "revoke", str(made["key"]["id"]), *who], tmp_path)
    other = yinxin_json([*key, "k2"], tmp_path)
    assert other["key"]["created_by"] == "operator"
    yinxin_json(["apikey", "revoke", str(other["key"]["id"])], tmp_path)
    yinxin_cli(["staff", "add", "desk5", "--role", "ra_officer", *who], tmp_path, env=env)
    yinxin_cli(["staff", "add", "desk4", "--role", "ra_officer"], tmp_path, env=env)
    for verb in ("unlock", "disable", "enable"):
        yinxin_json(["staff", verb, "desk5", *who], tmp_path)
        yinxin_json(["staff", verb, "desk4"], tmp_path)
    p = reopened()
    try:
        with p.db.read() as s:
            by = dict(s.execute(select(StaffUser.username, StaffUser.created_by)).all())
        assert by == {"desk5": "运维 张三", "desk4": "operator"}
        keys = [(e.action, e.actor) for e in p.audit_events(subject_type="api_key")]
        assert keys == [
            ("api_key.created", "运维 张三"),
            ("api_key.revoked", "运维 张三"),
            ("api_key.created", "operator"),
            ("api_key.revoked", "operator"),
        ]
        staff = [(e.subject_id, e.actor) for e in p.audit_events(subject_type="staff_user")]
        assert {a for u, a in staff if u == "desk5"} == {"运维 张三"}
        assert {a for u, a in staff if u == "desk4"} == {"operator"}
        assert len(staff) >= 6
        before = len(p.audit_events())
    finally:
        p.close()
    for args in (
        ["apikey", "create", "--name", "k3", "--role", "integration"],
        ["apikey", "revoke", str(made["key"]["id"])],
        ["staff", "add", "desk3", "--role", "ra_officer"],
        ["staff", "unlock", "desk5"],
        ["staff", "disable", "desk5"],
        ["staff", "enable", "desk5"],
    ):
        bad = yinxin_cli([*args, "--actor", " ", "--json"], tmp_path, env=env, check=False)
        assert bad.returncode == 2, args
        body = json.loads(bad.stdout)
        assert body["field"] == "actor" and "name who acts" in body["message"], body
    p = reopened()
    try:
        assert len(p.audit_events()) == before
        assert sorted(v.username for v in p.staff.list()) == ["desk4", "desk5"]
    finally:
        p.close()
