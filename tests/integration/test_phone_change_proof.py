"""A holder's own phone change needs the CURRENT phone too (换绑手机需验证原手机号).

Before, the change was proved only by the code sent to the NEW number: whoever held a stolen
browser session or organization key put their own phone in, and from then on passed every SMS
check in the holder's name (a reissued certificate under a PIN of their choosing, signing
codes); the old number was only told afterwards. Now the ``202`` answer sends two codes — one
to the registered phone, one to the new number — and the change needs both, used up in its
transaction. A holder with no registered mobile phone is sent to the desk. The desk's change
(identity checked in person) stays immediate."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from tests.codes import wrong_code
from tests.dbdump import diff, dump
from tests.integration.signing_flow import World, outbox_lines, read_code
from tests.integration.test_ca_lifecycle import uscc
from tests.integration.test_certificate_key_proof import desk, org_key, refused
from tests.integration.test_web_selfservice_api import subscriber_session

OLD, NEW = "13800138000", "13900139555"  # 张三's registered phone; the one put in its place


def messages(w: World, after: int) -> list[dict]:
    lines = w.outbox.read_text("utf-8").splitlines()[after:] if w.outbox.exists() else []
    return [json.loads(line) for line in lines]


def changed_rows(before, w: World) -> list:
    """What a refused change wrote beyond the audit trail, the code requests it counted and
    the session's last use."""
    return [
        t
        for t in diff(before, dump(w.p))
        if not any(
            x in str(t) for x in ("audit_", "intent_challenges", "notifications", "web_sessions")
        )
    ]


def test_a_stolen_session_with_only_the_new_phones_code_changes_nothing(
    world: World, client: TestClient
) -> None:
    p, me = world.p, world.person
    h = {"X-CSRF-Token": subscriber_session(client, world, OLD)}
    url = f"/api/v1/subscribers/{me.id}"
    world.clock.advance(seconds=61)
    before, mark = dump(p), outbox_lines(world.outbox)
    r = client.patch(url, json={"phone": NEW}, headers=h)
    assert r.status_code == 202, r.text
    ask = r.json()
    assert ask["status"] == "phone_confirmation_required"
    assert (ask["sent_to_masked"], ask["current_phone_sent_to_masked"]) == (
        "139****9555",
        "138****8000",
    )
    # the registered phone hears of it now, before anything changes, naming the new number
    warned = [m for m in messages(world, mark) if m["to"] == OLD]
    assert [m["template_id"] for m in warned] == ["phone_change_current_code"]
    assert "139****9555" in warned[0]["body"] and NEW not in warned[0]["body"]
    thief_code = read_code(world.outbox, NEW, after=mark)  # the thief holds the new phone
    with_new = {"phone": NEW, "phone_challenge_id": ask["challenge_id"], "phone_code": thief_code}
    r = client.patch(url, json=with_new, headers=h)
    refused(r, 422, "current_phone_challenge_id")
    guess = {"current_phone_challenge_id": ask["current_phone_challenge_id"]}
    wrong = wrong_code(read_code(world.outbox, OLD, after=mark))
    r = client.patch(url, json={**with_new, **guess, "current_phone_code": wrong}, headers=h)
    refused(r, 403, "current_phone_code", "wrong_code")
    # the new number's code swapped in for the current one's proves nothing either
    swapped = {"current_phone_challenge_id": ask["challenge_id"], "current_phone_code": thief_code}
    r = client.patch(url, json={**with_new, **swapped}, headers=h)
    refused(r, 403, "current_phone_challenge_id", "wrong_document")
    assert p.subscribers.get(me.id, reveal=True).phone == OLD
    assert p.audit_events(action="subscriber.updated") == []
    assert changed_rows(before, world) == []
    assert p.verify_audit().ok


def test_a_stolen_organization_key_cannot_put_its_own_phone_in_either(
    world: World, client: TestClient
) -> None:
    p, org = world.p, world.org
    h = org_key(world, org.id)
    url = f"/api/v1/subscribers/{org.id}"
    world.clock.advance(seconds=61)
    mark = outbox_lines(world.outbox)
    r = client.patch(url, json={"phone": NEW}, headers=h)
    assert r.status_code == 202, r.text
    ask = r.json()
    assert ask["current_phone_sent_to_masked"] == "139****9000"
    code = read_code(world.outbox, NEW, after=mark)
    body = {"phone": NEW, "phone_challenge_id": ask["challenge_id"], "phone_code": code}
    refused(client.patch(url, json=body, headers=h), 422, "current_phone_challenge_id")
    assert p.subscribers.get(org.id, reveal=True).phone == "13900139000"


def test_the_holder_changes_the_phone_with_both_codes(world: World, client: TestClient) -> None:
    p, me = world.p, world.person
    h = {"X-CSRF-Token": subscriber_session(client, world, OLD)}
    url = f"/api/v1/subscribers/{me.id}"
    world.clock.advance(seconds=61)
    mark = outbox_lines(world.outbox)
    ask = client.patch(url, json={"phone": NEW}, headers=h).json()
    new_code = read_code(world.outbox, NEW, after=mark)
    current_code = read_code(world.outbox, OLD, after=mark)
    [ev] = p.audit_events(
        action="intent.code_requested", subject_id=ask["current_phone_challenge_id"]
    )
    assert (ev.data["sent_to"], ev.data["purpose"]) == ("138****8000", "phone_change_current")
    body = {
        "phone": NEW,
        "current_phone_challenge_id": ask["current_phone_challenge_id"],
        "current_phone_code": current_code,
        "phone_challenge_id": ask["challenge_id"],
    }
    # a wrong code for the new number is refused naming it; the right current one is kept
    wrong = wrong_code(new_code)
    r = client.patch(url, json={**body, "phone_code": wrong}, headers=h)
    refused(r, 403, "phone_code", "wrong_code")
    assert p.subscribers.get(me.id, reveal=True).phone == OLD
    r = client.patch(url, json={**body, "phone_code": new_code}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["phone"] == "139****9555"
    assert p.subscribers.get(me.id, reveal=True).phone == NEW
    used = {e.subject_id for e in p.audit_events(action="intent.consumed")}
    assert {ask["challenge_id"], ask["current_phone_challenge_id"]} <= used
    assert client.get("/api/v1/sessions/current").status_code == 200
    assert p.verify_audit().ok


def test_a_holder_with_no_registered_phone_is_sent_to_the_desk(
    world: World, client: TestClient
) -> None:
    """An organization registered at the desk with a landline contact phone has no registered
    mobile phone: a first one added online would be proved only by its own code — what a
    stolen organization key has. It is refused, saying to go to the desk; the desk adds it."""
    p = world.p
    org = p.subscribers.add_organization(
        name="北京无手机示范有限公司",
        uscc=uscc(62),
        legal_representative="赵六",
        contact_name="孙七",
        contact_phone="010-62345679",
        email="ops@example.cn",  # no mobile: notices go by e-mail
    )
    h = org_key(world, org.id)
    url = f"/api/v1/subscribers/{org.id}"
    world.clock.advance(seconds=61)
    before, mark = dump(p), outbox_lines(world.outbox)
    r = client.patch(url, json={"phone": NEW}, headers=h)
    refused(r, 403, "phone", "phone_change_at_desk")
    assert "受理点" in r.json()["detail"] and "desk" in r.json()["detail"]
    proof = {
        "phone_challenge_id": "x" * 32,
        "phone_code": "123456",
        "current_phone_challenge_id": "y" * 32,
        "current_phone_code": "123456",
    }
    r = client.patch(url, json={"phone": NEW, **proof}, headers=h)
    refused(r, 403, "phone", "phone_change_at_desk")
    assert diff(before, dump(p)) == [] and messages(world, mark) == []
    assert p.subscribers.get(org.id).phone is None
    r = client.patch(url, json={"phone": NEW}, headers=desk(world))
    assert r.status_code == 200, r.text
    assert p.subscribers.get(org.id, reveal=True).phone == NEW


def test_the_desks_change_stays_immediate(world: World, client: TestClient) -> None:
    p, me = world.p, world.person
    mark = outbox_lines(world.outbox)
    r = client.patch(f"/api/v1/subscribers/{me.id}", json={"phone": NEW}, headers=desk(world))
    assert r.status_code == 200, r.text
    assert p.subscribers.get(me.id, reveal=True).phone == NEW
    sent = [m["template_id"] for m in messages(world, mark)]
    assert sent == ["subscriber_phone_changed"], sent  # no code: the old number is told


def test_an_hour_with_room_for_one_code_sends_neither(world: World, client: TestClient) -> None:
    """The change sends two codes, so the hour's ten must have room for both before the first
    goes out. Before, the new number's code was sent and only the current phone's refused: an
    SMS sent, and a code counted, for a request answered 429."""
    p, me = world.p, world.person
    h = {"X-CSRF-Token": subscriber_session(client, world, OLD)}  # the hour's first code
    for i in range(8):  # and eight more, a minute apart: nine in the hour
        world.clock.advance(seconds=61)
        p.intent.request_code(
            me.id, purpose="login", document_sha256=f"{i:064x}", document_name="登录"
        )
    world.clock.advance(seconds=61)  # the hour's first code was sent 9 × 61 s ago
    url = f"/api/v1/subscribers/{me.id}"
    before, mark = dump(p), outbox_lines(world.outbox)
    r = client.patch(url, json={"phone": NEW}, headers=h)
    assert r.status_code == 429, r.text
    body = r.json()
    assert body["code"] == "rate_limited" and "10 codes an hour" in body["detail"], body
    assert r.headers["Retry-After"] == str(3600 - 9 * 61)
    assert body["retry_after"] == int(r.headers["Retry-After"]), body  # in the body too
    assert messages(world, mark) == []  # no SMS to either number
    # nothing written but the refusal's audit event and the session's last use
    assert [
        t for t in diff(before, dump(p)) if "audit_" not in str(t) and "web_sessions" not in str(t)
    ] == []
    [ev] = p.audit_events(action="intent.code_refused")
    assert (ev.data["reason"], ev.data["purpose"]) == ("rate_limited", "phone_change")
    assert p.subscribers.get(me.id, reveal=True).phone == OLD
    # with room in the hour for both (and a fresh session: the first one has gone idle), both
    # go out
    world.clock.advance(seconds=3600 - 9 * 61)
    h = {"X-CSRF-Token": subscriber_session(client, world, OLD)}
    world.clock.advance(seconds=61)
    mark = outbox_lines(world.outbox)
    r = client.patch(url, json={"phone": NEW}, headers=h)
    assert r.status_code == 202, r.text
    assert {m["to"] for m in messages(world, mark)} == {OLD, NEW}
    assert p.verify_audit().ok
