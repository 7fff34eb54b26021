"""变更 (certificate change) over HTTP: ``POST /api/v1/certificates/{serial}/change``.

Before, a change was the CLI's only (``yinxin cert change``): the desk's web page and any
integration had no way to it, and its answer (``same_key_revoked``, the other certificates of
the key revoked with it) was shown by the CLI alone. Now the route takes what may change, the
desk's only — a holder's session or a key bound to an organization is refused, an officer
checks the documents behind a new name — and answers the service's ``Successor``."""

from __future__ import annotations

from sqlalchemy import select
from starlette.testclient import TestClient

from tests.dbdump import diff, dump
from tests.integration.signing_flow import World
from tests.integration.test_web_selfservice_api import subscriber_session
from yinxin.store.models import Certificate

PHONE = "13800138000"  # 张三, who holds world.person_cert


def desk(w: World) -> dict[str, str]:
    secret = w.p.api_keys.create(name="desk", role="ra_officer", actor="test").secret
    return {"Authorization": f"Bearer {secret}"}


def refused(r, status: int, field: str, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["field"] == field, body
    if code is not None:
        assert body["code"] == code, body
    return body


def successors(w: World, serial: str) -> list[str]:
    with w.p.db.read() as s:
        old = s.execute(select(Certificate).where(Certificate.serial_hex == serial)).scalar_one()
        rows = s.execute(select(Certificate).where(Certificate.predecessor_id == old.id))
        return [c.serial_hex for c in rows.scalars()]


def test_the_desk_changes_a_renewal_and_is_told_which_certificates_of_the_key_it_revoked(
    world: World, client: TestClient
) -> None:
    p, old = world.p, world.person_cert.serial
    p.certificates.pay(serial=old, years=1)
    renewal = p.certificates.renew(old, actor="张三").certificate.serial
    url = f"/api/v1/certificates/{renewal}/change"
    r = client.post(url, json={"name": "张三丰", "phone": "13900001111"}, headers=desk(world))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["same_key_revoked"] == [old]
    prev, new = out["previous"], out["certificate"]
    assert (prev["serial"], prev["status"]) == (renewal, "revoked")
    assert prev["revocation_reason"] == "subject_changed"
    assert new["status"] == "active" and "张三丰" in new["subject"]
    for serial in (old, renewal):
        c = p.certificates.get(serial)
        assert (c.status, c.revocation_reason) == ("revoked", "subject_changed"), serial
    sub = p.subscribers.get(world.person.id, reveal=True)
    assert (sub.name, sub.phone) == ("张三丰", "13900001111")
    (ev,) = p.audit_events(action="certificate.change", subject_id=renewal)
    assert ev.actor.startswith("api:") and ev.data["successor"] == new["serial"]
    assert ev.data["updates"]["name"] == "张三丰" and ev.data["reason"] == "subject_changed"
    assert "13900001111" not in str(ev.data)  # the phone number is masked in the audit trail
    (same,) = p.audit_events(action="certificate.revoke", subject_id=old)
    assert same.data["same_key_as"] == renewal and same.data["reason"] == "subject_changed"
    assert p.verify_audit().ok


def test_a_holder_is_sent_to_the_desk_and_nothing_changes(world: World, client: TestClient) -> None:
    p = world.p
    session = {"X-CSRF-Token": subscriber_session(client, world, PHONE)}
    secret = p.api_keys.create(
        name="org", role="organization_admin", actor="test", organization_id=world.org.id
    ).secret
    org_key = {"Authorization": f"Bearer {secret}"}
    for serial, h in ((world.person_cert.serial, session), (world.org_cert.serial, org_key)):
        before = dump(p)
        r = client.post(f"/api/v1/certificates/{serial}/change", json={"name": "新名"}, headers=h)
        body = refused(r, 403, "serial", "desk_only")
        assert "受理点" in str(body)
        assert diff(before, dump(p)) == []
    # a holder may change no certificate at all: another subscriber's certificate, which the
    # key does not see, is refused as one that does not exist is, and as its own is (the
    # refusal, made before the serial is looked up, tells nothing of whether it exists)
    for serial in (world.person_cert.serial, "7a3f01"):
        url = f"/api/v1/certificates/{serial}/change"
        r = client.post(url, json={"name": "新名"}, headers=org_key)
        refused(r, 403, "serial", "desk_only")
    assert p.audit_events(action="certificate.change") == []


def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    world: World, client: TestClient
) -> None:
    p, serial = world.p, world.person_cert.serial
    officer = desk(world)
    url = f"/api/v1/certificates/{serial}/change"
    cases = [
        ({}, "name", None),  # nothing to change
        ({"name": None}, "name", None),
        ({"nmae": "张三丰"}, "nmae", None),  # a misspelt field is refused, not ignored
        ({"phone": "13900001111"}, "phone", "not_in_subject"),  # not in the certificate
        ({"device_name": "打印机"}, "device_name", None),  # not a person's
        ({"name": "  "}, "name", None),
        ({"name": "张" * 201}, "name", None),
        ({"name": "张三丰", "phone": "12345"}, "phone", None),
    ]
    before = dump(p)
    for body, field, code in cases:
        refused(client.post(url, json=body, headers=officer), 422, field, code)
    assert diff(before, dump(p)) == []
    # a certificate already revoked is not changed
    p.certificates.revoke(serial, reason="no_longer_needed", actor="test")
    before = dump(p)
    r = client.post(url, json={"name": "张三丰"}, headers=officer)
    assert 400 <= r.status_code < 500 and r.json()["field"] == "serial", r.text
    assert diff(before, dump(p)) == []


def test_refusals_name_what_an_http_caller_can_send(world: World, client: TestClient) -> None:
    """A contact detail alone was refused over HTTP with "run ``yinxin subscriber update``",
    a CLI command an integration cannot run. The refusal now names the HTTP route to change
    it on the record and the CLI verb both; a device's empty change names ``device_name``."""
    p, officer = world.p, desk(world)
    sub = world.org.id
    url = f"/api/v1/certificates/{world.org_cert.serial}/change"
    before = dump(p)
    r = client.post(url, json={"legal_representative": "赵七"}, headers=officer)
    body = refused(r, 422, "legal_representative", "not_in_subject")
    assert f"PATCH /api/v1/subscribers/{sub} with legal_representative" in body["detail"]
    assert f"yinxin subscriber update {sub} --legal-representative" in body["detail"]
    assert "updates" not in body["detail"]
    assert diff(before, dump(p)) == []
    # the route's advice works: the record changes, no certificate is revoked
    r = client.patch(
        f"/api/v1/subscribers/{sub}", json={"legal_representative": "赵七"}, headers=officer
    )
    assert r.status_code == 200, r.text
    assert p.certificates.get(world.org_cert.serial).status == "active"


def test_a_retry_with_the_same_idempotency_key_issues_nothing_more(
    world: World, client: TestClient
) -> None:
    serial = world.org_cert.serial
    h = {**desk(world), "Idempotency-Key": "change-1"}
    url = f"/api/v1/certificates/{serial}/change"
    body = {"name": "北京新名称科技有限公司", "legal_representative": "赵六"}
    r = client.post(url, json=body, headers=h)
    assert r.status_code == 200, r.text
    new = r.json()["certificate"]["serial"]
    again = client.post(url, json=body, headers=h)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["certificate"]["serial"] == new
    assert successors(world, serial) == [new]
    # without the key, a second change of the certificate replaced is refused (changed already)
    r = client.post(url, json=body, headers=desk(world))
    assert r.status_code in (409, 422), r.text
    assert successors(world, serial) == [new]


def test_the_desk_can_ask_beforehand_which_certificates_a_change_revokes_with_it(
    world: World, client: TestClient
) -> None:
    """``GET /certificates?same_key_as=`` answers the query the change runs (the desk's
    question named them from the browser before, up the line of predecessors): the holder's
    other certificates in force for the key, not the certificate itself, not another
    certificate of the holder's, not one revoked — and the change then revokes exactly those."""
    p, old = world.p, world.person_cert.serial
    p.certificates.pay(serial=old, years=1)
    renewal = p.certificates.renew(old, actor="张三").certificate.serial
    h = desk(world)

    def same_key(serial: str) -> list[str]:
        r = client.get("/api/v1/certificates", params={"same_key_as": serial}, headers=h)
        assert r.status_code == 200, r.text
        return [c["serial"] for c in r.json()["items"]]

    assert same_key(renewal) == [old]
    assert same_key(old) == [renewal]
    assert same_key(world.org_cert.serial) == []  # another key (and holder): none
    assert same_key(renewal.upper()) == [old]  # a serial is hex in any case
    named = same_key(renewal)
    r = client.post(f"/api/v1/certificates/{renewal}/change", json={"name": "张三丰"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["same_key_revoked"] == named  # what was named is what it revoked
    assert same_key(r.json()["certificate"]["serial"]) == []  # both revoked now


def test_same_key_as_names_its_field_for_a_bad_unknown_or_foreign_serial(
    world: World, client: TestClient
) -> None:
    p = world.p
    url = "/api/v1/certificates"
    refused(client.get(url, params={"same_key_as": "xyz"}, headers=desk(world)), 422, "same_key_as")
    r = client.get(url, params={"same_key_as": "ab" * 10}, headers=desk(world))
    refused(r, 404, "same_key_as", "not_found")
    other = p.subscribers.add_organization(
        name="另一公司",
        uscc="91310000MA1FL0000N",
        legal_representative="王五",
        contact_name="王五",
        contact_phone="13700001111",
        phone="13700001111",
    )
    secret = p.api_keys.create(
        name="other", role="organization_admin", actor="test", organization_id=other.id
    ).secret
    r = client.get(
        url,
        params={"same_key_as": world.person_cert.serial},
        headers={"Authorization": f"Bearer {secret}"},
    )
    refused(r, 404, "same_key_as", "not_found")
