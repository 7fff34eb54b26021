"""A CA never certifies a key known to be compromised.

Rekey and reissue refused a CSR for the key being replaced (``same_key``), but a key from an
older certificate — revoked for key compromise (or stolen/forged), revoked as compromised by a
reissue after a loss, or on hold reported lost — came back through a CSR: a fresh application,
a rekey or a reissue of another certificate, anyone's. Now every issuance path refuses it, 422
``compromised_key`` naming ``csr`` (the service layer, the API, the CLI: exit 2), nothing
written, found through the certificates' indexed key fingerprint (``spki_sha256``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from cryptography import x509
from sqlalchemy import select, text, update
from starlette.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import cli_env
from tests.dbdump import diff, dump
from tests.integration.signing_flow import World
from tests.integration.test_ca_lifecycle import (
    compressed_csr,
    enrol,
    issue,
    make_csr,
    new_key,
)
from yinxin.adapters.cli import app as cli_app
from yinxin.app import Platform
from yinxin.errors import ValidationError
from yinxin.registry.certificates import key_sha256
from yinxin.store.db import alembic_config
from yinxin.store.models import Certificate


def refused(p: Platform, act, field: str = "csr") -> str:
    """``act()`` is refused ``compromised_key`` naming ``field``, and writes nothing."""
    before = dump(p)
    with pytest.raises(ValidationError) as e:
        act()
    assert (e.value.field, e.value.code, e.value.http_status) == (field, "compromised_key", 422)
    assert diff(before, dump(p)) == []
    return str(e.value)


@pytest.mark.parametrize("reason", ["key_compromise", "stolen_or_forged"])
def test_a_key_revoked_as_compromised_is_never_certified_again(
    any_platform: Platform, reason: str
) -> None:
    p = any_platform
    subs, other = enrol(p), enrol(p, n=1)
    key = new_key()
    old = issue(p, subs.person.id, csr=make_csr(key))
    p.certificates.revoke(old.serial, reason=reason, actor="受理员")
    active = issue(p, subs.person.id)
    lost = issue(p, subs.person.id)
    p.certificates.report_loss(lost.serial, actor="张三")

    def apply(sub_id: int, csr: bytes):
        return lambda: p.certificates.apply(subscriber_id=sub_id, profile="person-signing", csr=csr)

    message = refused(p, apply(subs.person.id, make_csr(key)))
    assert old.serial in message and "compromised" in message
    refused(p, apply(other.person.id, make_csr(key)))  # anyone's, not only the holder's
    refused(p, apply(subs.person.id, compressed_csr(key)))  # however the CSR encodes it
    refused(p, lambda: p.certificates.rekey(active.serial, actor="张三", csr=make_csr(key)))
    refused(p, lambda: p.certificates.reissue(lost.serial, actor="张三", csr=make_csr(key)))
    assert p.certificates.get(lost.serial).hold_kind == "lost"
    # another key goes through every path
    assert p.certificates.rekey(active.serial, actor="张三", csr=make_csr()).certificate
    assert p.certificates.reissue(lost.serial, actor="张三", csr=make_csr()).certificate


def test_a_key_lost_stays_refused_until_found_and_a_reissue_after_the_loss_seals_it(
    any_platform: Platform,
) -> None:
    """Reported lost, the key is refused; restored (the medium found), it is the holder's
    again; lost once more and reissued, it was revoked as compromised: refused for good."""
    p = any_platform
    subs = enrol(p)
    key = new_key()
    old = issue(p, subs.person.id, csr=make_csr(key))
    p.certificates.report_loss(old.serial, actor="张三")
    message = refused(
        p,
        lambda: p.certificates.apply(
            subscriber_id=subs.person.id, profile="person-signing", csr=make_csr(key)
        ),
    )
    assert "reported lost" in message
    p.certificates.restore(old.serial, actor="张三")
    app = p.certificates.apply(
        subscriber_id=subs.person.id, profile="person-signing", csr=make_csr(key)
    )
    p.certificates.reject(app.id, officer="受理员", reason="重复申请")
    p.certificates.report_loss(old.serial, actor="张三")
    out = p.certificates.reissue(old.serial, actor="张三", csr=make_csr())
    assert out.previous.revocation_reason == "key_compromise"
    refused(
        p,
        lambda: p.certificates.apply(
            subscriber_id=subs.person.id, profile="person-signing", csr=make_csr(key)
        ),
    )
    refused(
        p, lambda: p.certificates.rekey(out.certificate.serial, actor="张三", csr=make_csr(key))
    )


def test_an_application_made_before_the_compromise_is_not_approved(
    any_platform: Platform,
) -> None:
    """The key was clean when applied for and reported compromised (in another certificate)
    before the review: approval is refused, the fee not consumed; the officer rejects it."""
    p = any_platform
    subs = enrol(p)
    key = new_key()
    app = p.certificates.apply(
        subscriber_id=subs.org.id, profile="organization-signing", csr=make_csr(key)
    )
    p.certificates.pay(application_id=app.id, years=1)
    old = issue(p, subs.person.id, csr=make_csr(key))
    p.certificates.revoke(old.serial, reason="key_compromise", actor="受理员")
    message = refused(p, lambda: p.certificates.approve(app.id, officer="受理员"))
    assert f"reject application {app.id}" in message
    assert p.certificates.application(app.id).state == "pending"


def test_a_key_retired_for_other_reasons_is_no_compromised_key(any_platform: Platform) -> None:
    """Superseded by a rekey, or revoked as no longer needed: the key is not known to be
    compromised, and is certified as before. Every certificate records its key's fingerprint."""
    p = any_platform
    subs = enrol(p)
    key = new_key()
    old = issue(p, subs.person.id, csr=make_csr(key))
    p.certificates.rekey(old.serial, actor="张三", csr=make_csr())
    again = issue(p, subs.person.id, csr=make_csr(key))
    p.certificates.revoke(again.serial, reason="no_longer_needed", actor="张三")
    third = issue(p, subs.person.id, csr=make_csr(key))
    with p.db.read() as s:
        rows = s.execute(select(Certificate.serial_hex, Certificate.spki_sha256)).all()
    assert all(fp and len(fp) == 64 for _, fp in rows)
    assert dict(rows)[third.serial] == key_sha256(key.public_key())


def test_the_api_refuses_a_compromised_key_naming_csr(world: World, client: TestClient) -> None:
    p = world.p
    secret = p.api_keys.create(name="desk", role="ra_officer", actor="test").secret
    h = {"Authorization": f"Bearer {secret}"}
    key = new_key()
    old = issue(p, world.person.id, csr=make_csr(key))
    p.certificates.revoke(old.serial, reason="key_compromise", actor="受理员")
    csr = make_csr(key).decode()
    before = dump(p)
    for url, body in (
        ("/api/v1/applications", {"subscriber_id": world.person.id, "profile": "person-signing"}),
        (f"/api/v1/certificates/{world.person_cert.serial}/rekey", {}),
        (f"/api/v1/certificates/{world.org_cert.serial}/reissue", {}),
    ):
        r = client.post(url, json={**body, "csr": csr}, headers=h)
        assert r.status_code == 422, (url, r.text)
        assert (r.json()["field"], r.json()["code"]) == ("csr", "compromised_key"), r.json()
    assert diff(before, dump(p)) == []


def test_the_cli_refuses_a_compromised_key(platform: Platform, tmp_path: Path) -> None:
    p = platform
    subs = enrol(p)
    key = new_key()
    old = issue(p, subs.person.id, csr=make_csr(key))
    p.certificates.revoke(old.serial, reason="key_compromise", actor="受理员")
    active = issue(p, subs.person.id)
    f = tmp_path / "req.csr"
    f.write_bytes(make_csr(key))
    env = cli_env(p, YINXIN_PIN=None)
    before = dump(p)
    for args in (
        ["cert", "apply", "--subscriber-id", str(subs.person.id), "--profile", "person-signing"],
        ["cert", "rekey", active.serial],
    ):
        res = CliRunner().invoke(cli_app, [*args, "--csr", str(f)], env=env)
        assert res.exit_code == 2, (args, res.stdout, res.stderr)
        assert "[csr]" in res.stderr and "compromised" in res.stderr
        res = CliRunner().invoke(cli_app, [*args, "--csr", str(f), "--json"], env=env)
        out = json.loads(res.stdout)
        assert (res.exit_code, out["field"], out["error"]) == (2, "csr", "compromised_key"), out
    assert diff(before, dump(p)) == []


def test_0027_fills_the_fingerprint_of_every_certificate(any_platform: Platform) -> None:
    """Down to 0026 and up again: each certificate issued before 0027 gets its key's
    fingerprint from its DER — EC, RSA and SM2 alike — and a key compromised before the
    upgrade is refused after it."""
    p = any_platform
    subs = enrol(p)
    ec_key, rsa_key = new_key(), new_key("rsa-3072")
    compromised = issue(p, subs.person.id, csr=make_csr(ec_key))
    issue(p, subs.person.id, csr=make_csr(rsa_key))
    issue(p, subs.person.id, pin="Secr3t-PIN-482915")
    p.certificates.revoke(compromised.serial, reason="key_compromise", actor="受理员")
    with p.db.read() as s:
        want = dict(s.execute(select(Certificate.id, Certificate.spki_sha256)).all())
    assert all(want.values())
    cfg = alembic_config(p.db.url)
    with p.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0026")
    with p.db.engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM certificates")).scalar_one()
    assert count == len(want)
    p.db.migrate()
    with p.db.read() as s:
        assert dict(s.execute(select(Certificate.id, Certificate.spki_sha256)).all()) == want
    refused(
        p,
        lambda: p.certificates.apply(
            subscriber_id=subs.person.id, profile="person-signing", csr=make_csr(ec_key)
        ),
    )


def test_0027_fills_an_sm2_certificate_as_issuance_does(any_platform: Platform) -> None:
    """An SM2 key, which ``cryptography`` cannot load, is fingerprinted from its SPKI as the
    certificate holds it: the same as at issuance."""
    p = any_platform
    p.ca.add_hierarchy("sm2")
    subs = enrol(p)
    cert = issue(p, subs.person.id, pin="Secr3t-PIN-482915", algorithm="sm2")
    with p.db.transaction() as s:
        want = s.execute(
            select(Certificate.spki_sha256).where(Certificate.serial_hex == cert.serial)
        ).scalar_one()
        s.execute(update(Certificate).values(spki_sha256=None))
    cfg = alembic_config(p.db.url)
    with p.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0026")
    p.db.migrate()
    with p.db.read() as s:
        got = s.execute(
            select(Certificate.spki_sha256).where(Certificate.serial_hex == cert.serial)
        ).scalar_one()
    assert got == want and len(got) == 64


def test_a_certificate_sharing_a_compromised_key_is_not_renewed_or_changed(
    any_platform: Platform,
) -> None:
    """Two subscribers once sent CSRs for the same key; one's certificate was revoked for key
    compromise by an older release, whose revocation reached only its own certificates of that
    key (now it reaches the other's too). The other's renewal, or change, would certify the
    compromised key again: refused naming ``serial``, pointing to a rekey, which goes through."""
    p = any_platform
    a, b = enrol(p), enrol(p, n=1)
    key = new_key()
    mine = issue(p, a.person.id, csr=make_csr(key))
    theirs = issue(p, b.person.id, csr=make_csr(key))
    with p.db.transaction() as s:  # as an older release left it
        s.execute(
            update(Certificate)
            .where(Certificate.serial_hex == mine.serial)
            .values(status="revoked", revocation_reason="key_compromise", revoked_at=p.clock.now())
        )
    p.certificates.pay(serial=theirs.serial, years=1)
    message = refused(p, lambda: p.certificates.renew(theirs.serial, actor="受理员"), "serial")
    assert f"rekey certificate {theirs.serial}" in message
    refused(
        p,
        lambda: p.certificates.change(theirs.serial, actor="受理员", updates={"name": "李雷"}),
        "serial",
    )
    assert p.certificates.rekey(theirs.serial, actor="受理员", csr=make_csr()).certificate


def revoke_notices(p: Platform) -> list[tuple[int | None, str]]:
    from yinxin.store.models.notify import Notification

    with p.db.read() as s:
        rows = s.execute(
            select(Notification.subscriber_id, Notification.values_json)
            .where(Notification.template_id == "certificate_revoked")
            .order_by(Notification.id)
        ).all()
    return [(sub, json.loads(v)["serial"]) for sub, v in rows]


@pytest.mark.parametrize("reason", ["key_compromise", "stolen_or_forged"])
def test_a_key_compromise_revokes_every_certificate_of_the_key(
    any_platform: Platform, reason: str
) -> None:
    """Two subscribers once sent CSRs for the same key. A revocation for key compromise reached
    the holder's own certificates of that key only: the other subscriber's stayed valid,
    certifying a key known to be compromised. Now every certificate in force for the key —
    anyone's, active or on hold — is revoked with it, in the same transaction, as
    key_compromise: each audited (``same_key_as``), its holder told, on the CRL and in OCSP;
    the result names them (``same_key_revoked``)."""
    p = any_platform
    a, b = enrol(p), enrol(p, n=1)
    key = new_key()
    mine = issue(p, a.person.id, csr=make_csr(key))
    theirs = issue(p, b.person.id, csr=make_csr(key))
    held = issue(p, b.org.id, "organization-signing", csr=make_csr(key))
    p.certificates.freeze(held.serial, actor="受理员")
    other = issue(p, b.person.id)  # another key: untouched
    notices = len(revoke_notices(p))

    out = p.certificates.revoke(mine.serial, reason=reason, actor="受理员")

    assert (out.status, out.revocation_reason) == ("revoked", reason)
    assert out.same_key_revoked == [theirs.serial, held.serial]
    for serial in (theirs.serial, held.serial):
        c = p.certificates.get(serial)
        assert (c.status, c.revocation_reason, c.hold_kind) == ("revoked", "key_compromise", None)
        assert c.revoked_at == out.revoked_at
    assert p.certificates.get(other.serial).status == "active"
    ev = p.audit_events(action="certificate.revoke")
    data = {e.subject_id: e.data for e in ev}
    assert data[mine.serial]["reason"] == reason
    for serial in (theirs.serial, held.serial):
        assert data[serial]["same_key_as"] == mine.serial
        assert (data[serial]["reason"], data[serial]["to"]) == ("key_compromise", "revoked")
    assert revoke_notices(p)[notices:] == [
        (a.person.id, mine.serial),
        (b.person.id, theirs.serial),
        (b.org.id, held.serial),
    ]
    crl = x509.load_der_x509_crl(p.status.current_crl("issuing"))
    for serial in (mine.serial, theirs.serial, held.serial):
        entry = crl.get_revoked_certificate_by_serial_number(int(serial, 16))
        assert entry is not None, serial
        st = p.status.lookup(int(serial, 16))
        assert (st.status, st.reason) == ("revoked", "key_compromise"), serial
    assert p.status.lookup(int(other.serial, 16)).status == "good"
    assert p.verify_audit().ok


def test_a_key_compromise_over_the_api_and_the_cli_names_the_certificates_revoked_with_it(
    world: World, client: TestClient, tmp_path: Path
) -> None:
    p = world.p
    secret = p.api_keys.create(name="desk", role="ra_officer", actor="test").secret
    h = {"Authorization": f"Bearer {secret}"}
    key = new_key()
    mine = issue(p, world.person.id, csr=make_csr(key))
    theirs = issue(p, world.org.id, "organization-signing", csr=make_csr(key))
    r = client.post(
        f"/api/v1/certificates/{mine.serial}/revoke", json={"reason": "key_compromise"}, headers=h
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["same_key_revoked"]) == ("revoked", [theirs.serial])
    crl = x509.load_der_x509_crl(client.get("/crl/issuing.crl").content)
    entry = crl.get_revoked_certificate_by_serial_number(int(theirs.serial, 16))
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise
    )
    # a revocation for another reason names none
    lone = issue(p, world.person.id)
    r = client.post(
        f"/api/v1/certificates/{lone.serial}/revoke", json={"reason": "no_longer_needed"}, headers=h
    )
    assert r.status_code == 200 and r.json()["same_key_revoked"] == [], r.text

    env = cli_env(p, YINXIN_PIN=None)
    key = new_key()
    mine = issue(p, world.person.id, csr=make_csr(key))
    theirs = issue(p, world.org.id, "organization-signing", csr=make_csr(key))
    res = CliRunner().invoke(
        cli_app, ["cert", "revoke", mine.serial, "--reason", "stolen_or_forged"], env=env
    )
    assert res.exit_code == 0, (res.stdout, res.stderr)
    assert mine.serial in res.stdout and theirs.serial in res.stdout
    assert "same key" in res.stdout and "key_compromise" in res.stdout
    assert p.certificates.get(theirs.serial).status == "revoked"
    key = new_key()
    mine = issue(p, world.person.id, csr=make_csr(key))
    theirs = issue(p, world.org.id, "organization-signing", csr=make_csr(key))
    res = CliRunner().invoke(
        cli_app, ["cert", "revoke", mine.serial, "--reason", "key_compromise", "--json"], env=env
    )
    assert res.exit_code == 0, (res.stdout, res.stderr)
    out = json.loads(res.stdout)
    assert (out["serial"], out["same_key_revoked"]) == (mine.serial, [theirs.serial])


def test_a_reissue_after_a_loss_revokes_anyones_certificate_of_the_lost_key(
    any_platform: Platform,
) -> None:
    """A reissue after a loss revokes the lost certificate as keyCompromise: every other
    certificate of that key, anyone's, goes with it."""
    p = any_platform
    a, b = enrol(p), enrol(p, n=1)
    key = new_key()
    mine = issue(p, a.person.id, csr=make_csr(key))
    theirs = issue(p, b.person.id, csr=make_csr(key))
    p.certificates.report_loss(mine.serial, actor="张三")
    assert p.certificates.get(theirs.serial).status == "active"
    out = p.certificates.reissue(mine.serial, actor="受理员", csr=make_csr())
    assert out.previous.revocation_reason == "key_compromise"
    c = p.certificates.get(theirs.serial)
    assert (c.status, c.revocation_reason) == ("revoked", "key_compromise")
    assert p.certificates.get(out.certificate.serial).status == "active"
    assert p.verify_audit().ok


@pytest.mark.parametrize("reason", ["no_longer_needed", "superseded", "fees_unpaid"])
def test_a_lost_certificate_revoked_for_another_reason_keeps_its_key_refused(
    any_platform: Platform, reason: str
) -> None:
    """Reported lost, then revoked for a reason other than key compromise (no reissue): the
    revocation cleared the lost hold and recorded the reason given, so the lost key — which
    may be in anyone's hands — was certified again from a CSR. A lost key is a compromised
    key: the revocation is recorded, published and told as key_compromise (the reason asked
    for kept in the audit event, ``requested_reason``), the key stays refused, and the
    renewal of the same key goes with it."""
    p = any_platform
    subs = enrol(p)
    key = new_key()
    old = issue(p, subs.person.id, csr=make_csr(key))
    p.certificates.pay(serial=old.serial, years=1)
    renewal = p.certificates.renew(old.serial, actor="张三").certificate
    p.certificates.freeze(renewal.serial, actor="受理员")
    p.certificates.report_loss(renewal.serial, actor="张三")  # over the freeze: both lost

    out = p.certificates.revoke(renewal.serial, reason=reason, actor="受理员")

    assert (out.status, out.revocation_reason, out.hold_kind) == ("revoked", "key_compromise", None)
    assert out.same_key_revoked == [old.serial]
    assert p.certificates.get(old.serial).revocation_reason == "key_compromise"
    ev = p.audit_events(action="certificate.revoke")
    data = ev[0].data
    assert ev[0].subject_id == renewal.serial
    assert (data["reason"], data["requested_reason"]) == ("key_compromise", reason)
    crl = x509.load_der_x509_crl(p.status.current_crl("issuing"))
    for serial in (old.serial, renewal.serial):
        entry = crl.get_revoked_certificate_by_serial_number(int(serial, 16))
        assert entry is not None
        assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
            x509.ReasonFlags.key_compromise
        )
    message = refused(
        p,
        lambda: p.certificates.apply(
            subscriber_id=subs.person.id, profile="person-signing", csr=make_csr(key)
        ),
    )
    assert "compromised" in message
    # a certificate not lost keeps the reason given
    other = issue(p, subs.person.id)
    assert p.certificates.revoke(other.serial, reason=reason, actor="受理员").revocation_reason == (
        reason
    )


def test_a_rekey_or_reissue_over_the_api_and_the_cli_names_the_certificates_revoked_with_it(
    world: World, client: TestClient, tmp_path: Path
) -> None:
    """A rekey, or a reissue after a loss, also revokes the other certificates in force of the
    old key (a reissue: anyone's, as key_compromise), but its answer named only the old
    certificate and the new one: now ``same_key_revoked`` lists them, as ``revoke``'s does."""
    p = world.p
    secret = p.api_keys.create(name="desk", role="ra_officer", actor="test").secret
    h = {"Authorization": f"Bearer {secret}"}
    key = new_key()
    mine = issue(p, world.person.id, csr=make_csr(key))
    also_mine = issue(p, world.person.id, csr=make_csr(key))
    r = client.post(
        f"/api/v1/certificates/{mine.serial}/rekey",
        json={"csr": make_csr(new_key()).decode()},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["same_key_revoked"] == [also_mine.serial]
    assert p.certificates.get(also_mine.serial).status == "revoked"

    key = new_key()
    lost = issue(p, world.person.id, csr=make_csr(key))
    theirs = issue(p, world.org.id, "organization-signing", csr=make_csr(key))
    r = client.post(f"/api/v1/certificates/{lost.serial}/report-loss", headers=h)
    assert r.status_code == 200, r.text
    r = client.post(
        f"/api/v1/certificates/{lost.serial}/reissue",
        json={"csr": make_csr(new_key()).decode()},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["same_key_revoked"] == [theirs.serial]
    assert p.certificates.get(theirs.serial).revocation_reason == "key_compromise"

    # one with no other certificate of its key names none
    lone = issue(p, world.person.id)
    r = client.post(
        f"/api/v1/certificates/{lone.serial}/rekey",
        json={"csr": make_csr(new_key()).decode()},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["same_key_revoked"] == [], r.text

    # the CLI says them too
    key = new_key()
    mine = issue(p, world.person.id, csr=make_csr(key))
    also_mine = issue(p, world.person.id, csr=make_csr(key))
    csr = tmp_path / "new.csr"
    csr.write_bytes(make_csr(new_key()))
    env = cli_env(p, YINXIN_PIN=None)
    res = CliRunner().invoke(cli_app, ["cert", "rekey", mine.serial, "--csr", str(csr)], env=env)
    assert res.exit_code == 0, (res.stdout, res.stderr)
    assert "also revoked (same key)" in res.stdout and also_mine.serial in res.stdout


def test_a_loss_report_names_the_certificates_it_put_on_hold_over_the_api_and_the_cli(
    world: World, client: TestClient
) -> None:
    """A loss report holds the holder's own other certificates of the key (a renewal keeps
    it), not another subscriber's — yet its answer was the certificate alone, so neither the
    desk nor the holder learnt which others stopped. Now ``same_key_held`` lists them (as
    ``same_key_revoked`` does for a revocation) and ``cert report-loss`` prints each; another
    subscriber's certificate of the key stays active but the key gets no new certificate."""
    p = world.p
    secret = p.api_keys.create(name="desk", role="ra_officer", actor="test").secret
    h = {"Authorization": f"Bearer {secret}"}
    key = new_key()
    mine = issue(p, world.person.id, csr=make_csr(key))
    p.certificates.pay(serial=mine.serial, years=1)
    renewal = p.certificates.renew(mine.serial, actor="张三").certificate
    theirs = issue(p, world.org.id, "organization-signing", csr=make_csr(key))
    r = client.post(f"/api/v1/certificates/{mine.serial}/report-loss", headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["status"], out["hold_kind"]) == ("on_hold", "lost")
    assert out["same_key_held"] == [renewal.serial]
    assert p.certificates.get(renewal.serial).hold_kind == "lost"
    assert p.certificates.get(theirs.serial).status == "active"
    refused(
        p,
        lambda: p.certificates.apply(
            subscriber_id=world.org.id, profile="organization-signing", csr=make_csr(key)
        ),
    )
    # a certificate alone for its key: none named
    lone = issue(p, world.person.id)
    r = client.post(f"/api/v1/certificates/{lone.serial}/report-loss", headers=h)
    assert r.status_code == 200 and r.json()["same_key_held"] == [], r.text

    env = cli_env(p)
    key = new_key()
    mine = issue(p, world.person.id, csr=make_csr(key))
    p.certificates.pay(serial=mine.serial, years=1)
    renewal = p.certificates.renew(mine.serial, actor="张三").certificate
    res = CliRunner().invoke(cli_app, ["cert", "report-loss", renewal.serial], env=env)
    assert res.exit_code == 0, (res.stdout, res.stderr)
    assert renewal.serial in res.stdout and mine.serial in res.stdout
    assert "also on hold (same key, lost)" in res.stdout
    p.certificates.restore(renewal.serial, actor="受理员")
    res = CliRunner().invoke(cli_app, ["cert", "report-loss", mine.serial, "--json"], env=env)
    assert res.exit_code == 0, (res.stdout, res.stderr)
    got = json.loads(res.stdout)
    assert (got["serial"], got["same_key_held"]) == (mine.serial, [renewal.serial])


def test_a_restore_names_the_certificates_it_released_over_the_api_and_the_cli(
    world: World, client: TestClient
) -> None:
    """A loss report names the holder's other certificates of the key it held
    (``same_key_held``); restoring the certificate releases them too, but its answer was the
    certificate alone, so neither the desk nor the holder learnt which came back. Now
    ``same_key_released`` lists them (the service, the API) and ``cert restore`` prints each;
    another subscriber's certificate of the key, never held, is not among them."""
    p = world.p
    secret = p.api_keys.create(name="desk", role="ra_officer", actor="test").secret
    h = {"Authorization": f"Bearer {secret}"}

    def lost_with_renewal() -> tuple:
        key = new_key()
        mine = issue(p, world.person.id, csr=make_csr(key))
        p.certificates.pay(serial=mine.serial, years=1)
        renewal = p.certificates.renew(mine.serial, actor="张三").certificate
        theirs = issue(p, world.org.id, "organization-signing", csr=make_csr(key))
        held = p.certificates.report_loss(mine.serial, actor="张三").same_key_held
        assert held == [renewal.serial]
        return mine, renewal, theirs

    # the service
    mine, renewal, theirs = lost_with_renewal()
    out = p.certificates.restore(mine.serial, actor="受理员")
    assert (out.serial, out.status, out.same_key_released) == (
        mine.serial,
        "active",
        [renewal.serial],
    )
    assert p.certificates.get(renewal.serial).status == "active"
    assert p.certificates.get(theirs.serial).status == "active"

    # the API
    mine, renewal, theirs = lost_with_renewal()
    r = client.post(f"/api/v1/certificates/{renewal.serial}/restore", headers=h)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["serial"], got["status"]) == (renewal.serial, "active")
    assert got["same_key_released"] == [mine.serial]
    assert p.certificates.get(mine.serial).status == "active"
    # a certificate alone for its key: none named
    lone = issue(p, world.person.id)
    p.certificates.report_loss(lone.serial, actor="张三")
    r = client.post(f"/api/v1/certificates/{lone.serial}/restore", headers=h)
    assert r.status_code == 200 and r.json()["same_key_released"] == [], r.text
    schema = client.get("/api/v1/openapi.json").json()
    answer = schema["paths"]["/api/v1/certificates/{serial}/restore"]["post"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/RestoredCertificate")

    # the CLI: each printed, and in --json
    env = cli_env(p)
    mine, renewal, theirs = lost_with_renewal()
    res = CliRunner().invoke(cli_app, ["cert", "restore", mine.serial], env=env)
    assert res.exit_code == 0, (res.stdout, res.stderr)
    assert f"also restored (same key): {renewal.serial}" in res.stdout
    assert theirs.serial not in res.stdout
    mine, renewal, theirs = lost_with_renewal()
    res = CliRunner().invoke(cli_app, ["cert", "restore", renewal.serial, "--json"], env=env)
    assert res.exit_code == 0, (res.stdout, res.stderr)
    got = json.loads(res.stdout)
    assert (got["serial"], got["same_key_released"]) == (renewal.serial, [mine.serial])
