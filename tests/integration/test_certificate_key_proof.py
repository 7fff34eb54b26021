"""A holder's own rekey (更新密钥) or reissue (补办) online needs proof, not just the session.

Before, a subscriber's web session or a key bound to an organization was enough: whoever held
a stolen session got a new certificate in the holder's name, under a PIN of their choosing, with
no RA review. Now a holder's rekey of a platform-held key needs the current PIN of that key
(``current_pin``; a wrong one counts toward the key's lock), and a reissue the code sent by SMS
to the registered phone (``202 code_required``, then the same request with ``challenge_id`` and
``code``, used up with the issuance). The desk (staff, keys bound to no organization) is
unchanged."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from tests.clear_text import in_clear
from tests.codes import wrong_code
from tests.dbdump import diff, dump
from tests.integration.signing_flow import ORG_PIN, PERSON_PIN, World, outbox_lines, read_code
from tests.integration.test_ca_lifecycle import uscc
from tests.integration.test_web_selfservice_api import subscriber_session
from yinxin.errors import ValidationError
from yinxin.store.models import Certificate, PlatformKey
from yinxin.store.models.notify import IntentChallenge

NEW_PIN = "135792"
PHONE = "13800138000"  # 张三, who holds world.person_cert


def desk(w: World) -> dict[str, str]:
    secret = w.p.api_keys.create(name="desk", role="ra_officer", actor="test").secret
    return {"Authorization": f"Bearer {secret}"}


def holder(w: World, client: TestClient) -> dict[str, str]:
    return {"X-CSRF-Token": subscriber_session(client, w, PHONE)}


def reported_lost(client: TestClient, serial: str, h: dict[str, str]) -> str:
    """Report ``serial`` lost as its holder; the address of its reissue."""
    r = client.post(f"/api/v1/certificates/{serial}/report-loss", headers=h)
    assert r.status_code == 200, r.text
    return f"/api/v1/certificates/{serial}/reissue"


def key_row(w: World, serial: str) -> tuple[int, bool]:
    with w.p.db.read() as s:
        c = s.execute(select(Certificate).where(Certificate.serial_hex == serial)).scalar_one()
        k = s.get(PlatformKey, c.platform_key_id)
        return k.failed_attempts, k.locked


def refused(r, status: int, field: str, code: str | None = None) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["field"] == field, body
    if code is not None:
        assert body["code"] == code, body


def test_a_holder_rekeys_a_platform_key_only_with_its_current_pin(
    world: World, client: TestClient
) -> None:
    p, serial = world.p, world.person_cert.serial
    h = holder(world, client)
    url = f"/api/v1/certificates/{serial}/rekey"

    before = dump(p)
    r = client.post(url, json={"pin": NEW_PIN}, headers=h)
    refused(r, 422, "current_pin", "current_pin_required")
    assert diff(before, dump(p)) == []

    r = client.post(url, json={"pin": NEW_PIN, "current_pin": "000000"}, headers=h)
    refused(r, 403, "current_pin", "wrong_pin")
    assert "000000" not in r.text
    assert key_row(world, serial) == (1, False)  # counted, as a wrong seal PIN is
    assert p.certificates.get(serial).status == "active"
    changed = [t for t in diff(before, dump(p)) if "platform_keys" not in str(t)]
    assert changed == [], changed

    r = client.post(url, json={"pin": NEW_PIN, "current_pin": PERSON_PIN}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["previous"]["status"] == "revoked"
    assert key_row(world, serial) == (0, False)
    new = r.json()["certificate"]["serial"]
    assert p.certificates.get(new).status == "active"


def test_wrong_current_pins_lock_the_key_and_then_even_the_right_one_is_refused(
    world: World, client: TestClient
) -> None:
    p, serial = world.p, world.person_cert.serial
    h = holder(world, client)
    url = f"/api/v1/certificates/{serial}/rekey"
    for n in range(1, 5):
        r = client.post(url, json={"pin": NEW_PIN, "current_pin": f"99999{n}"}, headers=h)
        refused(r, 403, "current_pin", "wrong_pin")
    r = client.post(url, json={"pin": NEW_PIN, "current_pin": "999995"}, headers=h)
    refused(r, 403, "current_pin", "pin_locked")
    assert key_row(world, serial) == (5, True)
    assert p.audit_events(action="certificate.pin_locked", subject_id=serial)
    before = dump(p)
    r = client.post(url, json={"pin": NEW_PIN, "current_pin": PERSON_PIN}, headers=h)
    refused(r, 403, "current_pin", "pin_locked")
    assert diff(before, dump(p)) == []


def test_a_holder_reissues_only_with_the_code_sent_to_the_registered_phone(
    world: World, client: TestClient
) -> None:
    p, serial = world.p, world.person_cert.serial
    h = holder(world, client)
    url = reported_lost(client, serial, h)

    world.clock.advance(seconds=61)  # past the login code's rate limit
    mark = outbox_lines(world.outbox)
    before = dump(p)
    r = client.post(url, json={"pin": NEW_PIN}, headers=h)
    assert r.status_code == 202, r.text
    assert "x-yinxin-not-kept" not in r.headers  # the guard's mark is not the client's
    ask = r.json()
    assert ask["status"] == "code_required" and ask["sent_to_masked"] == "138****8000"
    code = read_code(world.outbox, PHONE, after=mark)
    # nothing issued: only the challenge (and its audit) was written
    with p.db.read() as s:
        assert (
            s.execute(
                select(Certificate).where(Certificate.predecessor_id == world.person_cert.id)
            ).first()
            is None
        )
    assert p.certificates.get(serial).hold_kind == "lost"
    written = {str(t).split(",")[0] for t in diff(before, dump(p))}
    assert not any("certificates" in w for w in written), written

    wrong = wrong_code(code)
    r = client.post(
        url,
        json={"pin": NEW_PIN, "challenge_id": ask["challenge_id"], "code": wrong},
        headers=h,
    )
    refused(r, 403, "code", "wrong_code")
    r = client.post(url, json={"pin": NEW_PIN, "code": code}, headers=h)
    refused(r, 422, "challenge_id")
    assert p.certificates.get(serial).hold_kind == "lost"

    # a refusal on the way (a short new PIN) gives the code back
    r = client.post(
        url, json={"pin": "12", "challenge_id": ask["challenge_id"], "code": code}, headers=h
    )
    refused(r, 422, "pin")
    r = client.post(
        url, json={"pin": NEW_PIN, "challenge_id": ask["challenge_id"], "code": code}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json()["previous"]["revocation_reason"] == "key_compromise"
    with p.db.read() as s:
        assert s.get(IntentChallenge, ask["challenge_id"]).state == "consumed"
    # the code is used up: it issues nothing more
    new = r.json()["certificate"]["serial"]
    r = client.post(f"/api/v1/certificates/{new}/report-loss", headers=h)
    assert r.status_code == 200, r.text
    before = dump(p)
    r = client.post(
        f"/api/v1/certificates/{new}/reissue",
        json={"pin": NEW_PIN, "challenge_id": ask["challenge_id"], "code": code},
        headers=h,
    )
    assert r.status_code == 403, r.text  # bound to the other certificate
    assert p.certificates.get(new).hold_kind == "lost"


def test_the_desk_rekeys_and_reissues_without_the_holders_proof(
    world: World, client: TestClient
) -> None:
    p, serial = world.p, world.person_cert.serial
    officer = desk(world)
    r = client.post(f"/api/v1/certificates/{serial}/rekey", json={"pin": NEW_PIN}, headers=officer)
    assert r.status_code == 200, r.text
    new = r.json()["certificate"]["serial"]
    p.certificates.report_loss(new, actor="desk")
    r = client.post(f"/api/v1/certificates/{new}/reissue", json={"pin": NEW_PIN}, headers=officer)
    assert r.status_code == 200, r.text
    # the registry's own callers (the CLI) are the desk too
    latest = r.json()["certificate"]["serial"]
    assert p.certificates.rekey(latest, actor="desk1", pin=NEW_PIN).certificate.status == "active"


def test_a_key_bound_to_the_organization_is_a_holder_too(world: World, client: TestClient) -> None:
    p, serial = world.p, world.org_cert.serial
    secret = p.api_keys.create(
        name="org", role="organization_admin", actor="test", organization_id=world.org.id
    ).secret
    h = {"Authorization": f"Bearer {secret}"}
    url = f"/api/v1/certificates/{serial}/rekey"
    before = dump(p)
    r = client.post(url, json={"pin": NEW_PIN}, headers=h)
    refused(r, 422, "current_pin", "current_pin_required")
    assert diff(before, dump(p)) == []
    r = client.post(url, json={"pin": NEW_PIN, "current_pin": ORG_PIN}, headers=h)
    assert r.status_code == 200, r.text


def test_the_code_asked_for_does_not_use_up_the_idempotency_key(
    world: World, client: TestClient
) -> None:
    """The 202 that asks for the code is no answer to keep: the same Idempotency-Key completes
    the reissue with the code (it was refused as "used for a different request"), and a retry
    of the completion gets the completion back, issuing nothing more."""
    p, serial = world.p, world.person_cert.serial
    h = holder(world, client)
    url = reported_lost(client, serial, h)
    world.clock.advance(seconds=61)  # past the login code's rate limit
    mark = outbox_lines(world.outbox)
    k = {**h, "Idempotency-Key": "reissue-1"}
    r = client.post(url, json={"pin": NEW_PIN}, headers=k)
    assert r.status_code == 202, r.text
    assert "idempotent-replayed" not in r.headers and "x-yinxin-not-kept" not in r.headers
    ask = r.json()
    code = read_code(world.outbox, PHONE, after=mark)
    done = {"pin": NEW_PIN, "challenge_id": ask["challenge_id"], "code": code}
    r = client.post(url, json=done, headers=k)
    assert r.status_code == 200, r.text
    new = r.json()["certificate"]["serial"]
    again = client.post(url, json=done, headers=k)
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["certificate"]["serial"] == new
    with p.db.read() as s:
        successors = s.execute(
            select(Certificate).where(Certificate.predecessor_id == world.person_cert.id)
        ).all()
    assert len(successors) == 1
    # the first request sent again once completed: a different request under a used key
    r = client.post(url, json={"pin": NEW_PIN}, headers=k)
    refused(r, 422, "Idempotency-Key", "idempotency_key_reused")


def org_key(w: World, organization_id: int) -> dict[str, str]:
    secret = w.p.api_keys.create(
        name=f"org-{organization_id}",
        role="organization_admin",
        actor="test",
        organization_id=organization_id,
    ).secret
    return {"Authorization": f"Bearer {secret}"}


def test_a_device_certificate_is_reissued_with_the_code_sent_to_its_organization(
    world: World, client: TestClient
) -> None:
    """A device has no phone (its notices go to its organization), so the code for its
    organization's own reissue of its certificate was asked of the device's record and always
    refused 422 ``no_phone``: a device certificate could be reissued only at the desk. The code
    now goes to the organization's registered phone, and proves the reissue."""
    p, org = world.p, world.org
    device = p.subscribers.add_device(device_name="门禁网关", organization_id=org.id)
    p.subscribers.accept_agreement(device.id, accepted_by="王五（经办人）")
    app = p.certificates.apply(subscriber_id=device.id, profile="device-tls", pin=ORG_PIN)
    p.certificates.pay(application_id=app.id, years=1, reference=f"T-{app.id}")
    serial = p.certificates.approve(app.id, officer="受理员").serial
    h = org_key(world, org.id)
    url = reported_lost(client, serial, h)
    mark = outbox_lines(world.outbox)
    r = client.post(url, json={"pin": NEW_PIN}, headers=h)
    assert r.status_code == 202, r.text
    ask = r.json()
    assert ask["sent_to_masked"] == "139****9000"  # the organization's registered phone
    code = read_code(world.outbox, "13900139000", after=mark)
    r = client.post(
        url, json={"pin": NEW_PIN, "challenge_id": ask["challenge_id"], "code": code}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json()["previous"]["revocation_reason"] == "key_compromise"


def test_no_registered_phone_says_what_to_do(world: World, client: TestClient) -> None:
    """An organization registered at the desk with a landline contact phone has no mobile
    phone for the code: refused 422 ``no_phone`` (field ``phone``), nothing issued, saying what
    to do — register a mobile phone, or have the desk do it. Its landline contact phone takes
    no SMS, and a contact phone changed online is proved by nothing, so the code never goes
    there."""
    p = world.p
    org = p.subscribers.add_organization(
        name="北京无手机示范有限公司",
        uscc=uscc(61),
        legal_representative="赵六",
        contact_name="孙七",
        contact_phone="010-62345679",
        email="ops@example.cn",  # no mobile: notices go by e-mail
    )
    assert p.subscribers.get(org.id).phone is None
    p.subscribers.accept_agreement(org.id, accepted_by="孙七（经办人）")
    app = p.certificates.apply(subscriber_id=org.id, profile="organization-signing", pin=ORG_PIN)
    p.certificates.pay(application_id=app.id, years=1, reference=f"T-{app.id}")
    serial = p.certificates.approve(app.id, officer="受理员").serial
    h = org_key(world, org.id)
    # a contact phone changed online to a mobile is no registered phone either
    r = client.patch(
        f"/api/v1/subscribers/{org.id}", json={"contact_phone": "13600136000"}, headers=h
    )
    assert r.status_code == 200, r.text
    before = dump(p)
    r = client.post(f"/api/v1/certificates/{serial}/reissue", json={"pin": NEW_PIN}, headers=h)
    refused(r, 422, "phone", "no_phone")
    detail = r.json()["detail"]
    assert "受理点" in detail and "register a mobile phone" in detail, detail
    changed = [t for t in diff(before, dump(p)) if not str(t).startswith("audit_")]
    assert changed == [], changed  # the refusal is audited, nothing else written
    assert p.certificates.get(serial).status == "active"


def test_the_audit_of_a_rekey_or_reissue_says_which_proof_was_given(
    world: World, client: TestClient
) -> None:
    """The audit events of a rekey or reissue did not say how it was proved: a holder's own
    with the key's current PIN, with the code sent by SMS, or the desk's after checking the
    holder in person looked the same in the trail. Each now records ``proof`` — ``current_pin``,
    ``sms_code`` or ``in_person`` — and never the PIN or the code itself; the audit trail
    (``GET /audit/events``, the desk's 审计日志 page) shows it with the event's data."""
    p, serial = world.p, world.person_cert.serial
    h = holder(world, client)
    r = client.post(
        f"/api/v1/certificates/{serial}/rekey",
        json={"pin": NEW_PIN, "current_pin": PERSON_PIN},
        headers=h,
    )
    assert r.status_code == 200, r.text
    rekeyed = r.json()["certificate"]["serial"]
    [ev] = p.audit_events(action="certificate.rekey", subject_id=serial)
    assert ev.data["proof"] == "current_pin", ev.data

    url = reported_lost(client, rekeyed, h)
    world.clock.advance(seconds=61)
    mark = outbox_lines(world.outbox)
    ask = client.post(url, json={"pin": NEW_PIN}, headers=h).json()
    code = read_code(world.outbox, PHONE, after=mark)
    body = {"pin": NEW_PIN, "challenge_id": ask["challenge_id"], "code": code}
    r = client.post(url, json=body, headers=h)
    assert r.status_code == 200, r.text
    reissued = r.json()["certificate"]["serial"]
    [ev] = p.audit_events(action="certificate.reissue", subject_id=rekeyed)
    assert ev.data["proof"] == "sms_code", ev.data

    officer = desk(world)
    r = client.post(
        f"/api/v1/certificates/{reissued}/rekey", json={"pin": "246810"}, headers=officer
    )
    assert r.status_code == 200, r.text
    [ev] = p.audit_events(action="certificate.rekey", subject_id=reissued)
    assert ev.data["proof"] == "in_person", ev.data
    # the trail shows it, and never the PIN or the code
    trail = [e.data for e in p.audit_events() if e.action.startswith("certificate.")]
    text = repr(trail)
    assert not any(in_clear(secret, text) for secret in (PERSON_PIN, NEW_PIN, "246810", code))


def csr_not_verifying() -> str:
    """A CSR for 张三 whose signature no longer verifies (the last bit of its s flipped), PEM."""
    from tests.integration.test_ca_lifecycle import make_csr

    der = bytearray(make_csr(cn="张三", der=True))
    der[-1] ^= 0x01
    b64 = base64.b64encode(bytes(der)).decode()
    return "".join(
        ["-----BEGIN CERTIFICATE REQUEST-----\n"]
        + [b64[i : i + 64] + "\n" for i in range(0, len(b64), 64)]
        + ["-----END CERTIFICATE REQUEST-----\n"]
    )


def test_a_request_refused_for_its_input_uses_no_try_of_the_code(
    world: World, client: TestClient
) -> None:
    """A holder's reissue with the code and a bad new key — a CSR that is no CSR or whose
    signature does not verify, a CSR and a PIN together, a PIN too short, an unknown algorithm —
    checked the code first: a wrong one used one of its five tries, and the request was then
    refused as ``wrong_code`` though it would have been refused for its input anyway (five such
    requests killed the code). The input is checked before the code now: refused 422 naming the
    field, the try counter as it was. A wrong code with a good request still uses a try."""
    from tests.integration.test_ca_lifecycle import make_csr

    p, serial = world.p, world.person_cert.serial
    h = holder(world, client)
    url = reported_lost(client, serial, h)
    world.clock.advance(seconds=61)  # past the login code's rate limit
    mark = outbox_lines(world.outbox)
    r = client.post(url, json={"pin": NEW_PIN}, headers=h)
    assert r.status_code == 202, r.text
    challenge = r.json()["challenge_id"]
    code = read_code(world.outbox, PHONE, after=mark)
    wrong = wrong_code(code)

    def tries() -> int:
        with p.db.read() as s:
            return s.get(IntentChallenge, challenge).failed_attempts

    pem = make_csr(cn="张三").decode()
    flipped = csr_not_verifying()
    cases = [
        ({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nnot one\n"}, "csr"),
        ({"csr": flipped}, "csr"),
        ({"csr": pem, "pin": NEW_PIN}, "csr"),
        ({"pin": "12"}, "pin"),
        ({"pin": NEW_PIN, "algorithm": "nope"}, "algorithm"),
    ]
    before = dump(p)
    for body, field in cases:
        r = client.post(url, json={**body, "challenge_id": challenge, "code": wrong}, headers=h)
        refused(r, 422, field)
        assert tries() == 0, body
    assert diff(before, dump(p)) == []
    # a wrong code with a request that is right uses a try, as before
    r = client.post(url, json={"pin": NEW_PIN, "challenge_id": challenge, "code": wrong}, headers=h)
    refused(r, 403, "code", "wrong_code")
    assert tries() == 1 and "4 more attempt" in r.text, r.text
    r = client.post(url, json={"pin": NEW_PIN, "challenge_id": challenge, "code": code}, headers=h)
    assert r.status_code == 200, r.text


def test_the_code_is_not_sent_for_a_csr_that_is_none(world: World, client: TestClient) -> None:
    """A holder asking for the code of a reissue with a CSR that is no CSR, or whose signature
    does not verify, or an algorithm that is none, was sent the SMS (202 code_required, a
    challenge written), only for the reissue to refuse the new key once the code came. The
    code request checks the new key as the submission does (``check_new_key``) and refuses it
    422 naming the field, no SMS sent and nothing written; a good request then gets its code
    (no rate limit was spent). A CSR for a key the issuance refuses: below."""
    from tests.integration.test_ca_lifecycle import make_csr

    p, serial = world.p, world.person_cert.serial
    h = holder(world, client)
    url = reported_lost(client, serial, h)
    world.clock.advance(seconds=61)  # past the login code's rate limit
    flipped = csr_not_verifying()
    cases = [
        ({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nnot one\n"}, "csr"),
        ({"csr": "hello"}, "csr"),
        ({"csr": flipped}, "csr"),
        ({"pin": NEW_PIN, "algorithm": "nope"}, "algorithm"),
    ]
    mark = outbox_lines(world.outbox)
    before = dump(p)
    for body, field in cases:
        r = client.post(url, json=body, headers=h)
        refused(r, 422, field)
    assert outbox_lines(world.outbox) == mark  # no SMS sent
    # nothing written but the session's last_seen_at (the clock moved past its touch)
    assert [t for t in diff(before, dump(p)) if "web_sessions" not in str(t)] == []
    r = client.post(url, json={"csr": make_csr(cn="张三").decode()}, headers=h)
    assert r.status_code == 202, r.text
    read_code(world.outbox, PHONE, after=mark)


def test_the_code_is_not_sent_for_a_key_the_issuance_refuses(
    world: World, client: TestClient
) -> None:
    """A holder asking for the code of a rekey or reissue with a CSR for a key the CA will not
    certify — the key of a certificate revoked for key compromise (or reported lost), or the
    key the rekey or reissue replaces — was sent the SMS (202 code_required, a challenge
    written), only for the submission to refuse the key once the code came (``compromised_key``
    or ``same_key``). The code request refuses it now as the submission does (422 naming
    ``csr``, the same code and message), no SMS sent and nothing written; the submission still
    refuses it (a CSR changed after the code was sent), before the code is checked."""
    from tests.integration.test_ca_lifecycle import issue, make_csr, new_key

    p = world.p
    stolen, own = new_key(), new_key()
    # someone's certificate of ``stolen`` revoked for key compromise; 张三's on his own key
    older = issue(p, world.org.id, "organization-signing", csr=make_csr(stolen))
    p.certificates.revoke(older.serial, reason="key_compromise", actor="desk")
    mine = p.certificates.rekey(world.person_cert.serial, actor="desk", csr=make_csr(own))
    serial = mine.certificate.serial
    h = holder(world, client)
    world.clock.advance(seconds=61)  # past the login code's rate limit
    with pytest.raises(ValidationError) as at_issue:
        p.certificates.rekey(serial, actor="desk", csr=make_csr(stolen))
    rekey, reissue = (f"/api/v1/certificates/{serial}/{verb}" for verb in ("rekey", "reissue"))
    cases = [(rekey, stolen, "compromised_key"), (rekey, own, "same_key")]
    mark = outbox_lines(world.outbox)
    before = dump(p)
    for url, key, code in cases:
        r = client.post(url, json={"csr": make_csr(key).decode()}, headers=h)
        refused(r, 422, "csr", code)
        if code == "compromised_key":
            assert r.json()["detail"] == str(at_issue.value), r.json()
    assert outbox_lines(world.outbox) == mark  # no SMS sent
    # nothing written but the session's last_seen_at (the clock moved past its touch)
    assert [t for t in diff(before, dump(p)) if "web_sessions" not in str(t)] == []

    reported_lost(client, serial, h)  # the holder's own key is now reported lost too
    mark = outbox_lines(world.outbox)
    before = dump(p)
    for key, code in ((stolen, "compromised_key"), (own, "same_key")):
        r = client.post(reissue, json={"csr": make_csr(key).decode()}, headers=h)
        refused(r, 422, "csr", code)
    assert outbox_lines(world.outbox) == mark
    assert [t for t in diff(before, dump(p)) if "web_sessions" not in str(t)] == []

    # a good CSR gets its code (no rate limit was spent); a CSR changed to a refused key
    # before the submission is refused there, before the code is checked: no try used
    good = make_csr(new_key()).decode()
    r = client.post(reissue, json={"csr": good}, headers=h)
    assert r.status_code == 202, r.text
    challenge = r.json()["challenge_id"]
    code = read_code(world.outbox, PHONE, after=mark)
    wrong = "000000" if code != "000000" else "111111"
    for key, refusal in ((stolen, "compromised_key"), (own, "same_key")):
        for given in (wrong, code):
            body = {"csr": make_csr(key).decode(), "challenge_id": challenge, "code": given}
            r = client.post(reissue, json=body, headers=h)
            refused(r, 422, "csr", refusal)
    with p.db.read() as s:
        assert s.get(IntentChallenge, challenge).failed_attempts == 0
    body = {"csr": good, "challenge_id": challenge, "code": code}
    r = client.post(reissue, json=body, headers=h)
    assert r.status_code == 200, r.text
