"""The certificate lifecycle through the service layer, on SQLite and on PostgreSQL.

Every verb: apply (CSR and platform-held key), pay, approve, reject, revoke, freeze/unfreeze,
report loss/restore, reissue, renew, rekey, change, expire, stop for unpaid fees; each one is
checked in the database, in the certificate it produces, and in the audit trail. Also the fee
amounts, serial-number quality and the schema (Alembic migrations match the models).

The helpers at the top are shared with ``test_ca_refusals`` and ``test_ca_tools``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.x509.oid import NameOID
from sqlalchemy import inspect, select

from yinxin.app import Platform
from yinxin.errors import Forbidden, IllegalTransition, ValidationError
from yinxin.identity import id_card_check_char, org_code_check_char, uscc_check_char
from yinxin.pki.pinkeys import open_private_key
from yinxin.registry.fees import PLANS
from yinxin.registry.views import CertificateView, SubscriberView
from yinxin.store.models import (
    AgreementAcceptance,
    Application,
    AuditEvent,
    Base,
    Certificate,
    Payment,
    PlatformKey,
    StatusRevision,
    Subscriber,
)

YEAR = dt.timedelta(days=365)
PIN = "Secr3t-PIN-482915"


# --- shared helpers ------------------------------------------------------------------------------
def id_number(n: int) -> str:
    body = f"11010519900307{n % 1000:03d}"
    return body + id_card_check_char(body)


def uscc(n: int) -> str:
    org = f"MA{n % 10**6:06d}"
    body = "91110108" + org + org_code_check_char(org)
    return body + uscc_check_char(body)


def new_key(algorithm: str = "ec-p256") -> PrivateKeyTypes:
    if algorithm == "rsa-3072":
        return rsa.generate_private_key(65537, 3072)
    return ec.generate_private_key(ec.SECP256R1())


def make_csr(
    key: PrivateKeyTypes | None = None, cn: str = "ignored by the CA", der: bool = False
) -> bytes:
    key = key or new_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.DER if der else serialization.Encoding.PEM)


def compressed_csr(key: ec.EllipticCurvePrivateKey) -> bytes:
    """A DER CSR for ``key`` whose SubjectPublicKeyInfo holds the point compressed (02/03 ‖ X),
    as RFC 5480 allows and ``cryptography`` reads but never writes; signed by ``key``."""
    from yinxin.pki import der as d

    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    ec_p256 = d.seq(d.oid("1.2.840.10045.2.1"), d.oid("1.2.840.10045.3.1.7"))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ignored by the CA")])
    key_info = d.seq(ec_p256, d.tlv(0x03, b"\0" + point))
    info = d.seq(d.integer(0), name.public_bytes(), key_info, d.tlv(0xA0))  # no attributes
    signature = key.sign(info, ec.ECDSA(hashes.SHA256()))
    return d.seq(info, d.seq(d.oid("1.2.840.10045.4.3.2")), d.tlv(0x03, b"\0" + signature))


def spki(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load(cert: CertificateView) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert.pem.encode())


@dataclass
class Subs:
    person: SubscriberView
    org: SubscriberView
    device: SubscriberView


def enrol(p: Platform, n: int = 0, accept: bool = True) -> Subs:
    s = p.subscribers
    person = s.add_person(
        name=f"张三{n}", id_number=id_number(n), phone=f"1380013{n % 10**4:04d}", actor="ra-officer"
    )
    org = s.add_organization(
        name=f"北京印信示范科技有限公司{n}",
        uscc=uscc(n),
        legal_representative="李四",
        contact_name="王五",
        contact_phone="010-62345678",
        phone="13900139000",
    )
    device = s.add_device(device_name=f"门禁网关-{n}", organization_id=org.id)
    if accept:
        for sub in (person, org, device):
            s.accept_agreement(sub.id, accepted_by=sub.name)
    return Subs(person, org, device)


def issue(
    p: Platform,
    subscriber_id: int,
    profile: str = "person-signing",
    *,
    csr: bytes | None = None,
    pin: str | None = None,
    plan: str = "standard",
    years: int = 1,
    validity_years: int | None = None,
    dns_names: list[str] | None = None,
    algorithm: str = "ec-p256",
) -> CertificateView:
    if csr is None and pin is None:
        csr = make_csr()
    app = p.certificates.apply(
        subscriber_id=subscriber_id,
        profile=profile,
        csr=csr,
        pin=pin,
        plan=plan,
        dns_names=dns_names,
        algorithm=algorithm,
    )
    p.certificates.pay(application_id=app.id, years=years)
    return p.certificates.approve(app.id, officer="受理员 陈静", validity_years=validity_years)


def audit_log(p: Platform) -> list[AuditEvent]:
    with p.db.read() as s:
        return list(s.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars())


def last_events(p: Platform, n: int) -> list[tuple[str, str, str, dict]]:
    return [(e.action, e.subject_id, e.actor, json.loads(e.data)) for e in audit_log(p)[-n:]]


def cert_row(p: Platform, serial: str) -> Certificate:
    with p.db.read() as s:
        return s.execute(select(Certificate).where(Certificate.serial_hex == serial)).scalar_one()


def revision(p: Platform, role: str = "issuing") -> int:
    with p.db.read() as s:
        return s.get(StatusRevision, role).revision


# --- application, payment, review ---------------------------------------------------------------
def test_apply_with_a_csr_pay_and_approve(any_platform: Platform, clock) -> None:
    p = any_platform
    subs = enrol(p)
    key = new_key()
    csr = make_csr(key, cn="Someone Else Entirely")
    app = p.certificates.apply(
        subscriber_id=subs.person.id, profile="person-signing", csr=csr, actor="张三0"
    )
    assert app.state == "pending" and app.key_mode == "csr"
    assert [a.id for a in p.certificates.applications()] == [app.id]
    assert last_events(p, 1) == [
        (
            "application.submitted",
            str(app.id),
            "张三0",
            {
                "subscriber_id": subs.person.id,
                "profile": "person-signing",
                "plan": "standard",
                "years": 1,
                "key_mode": "csr",
            },
        )
    ]
    with p.db.read() as s:
        row = s.get(Application, app.id)
        assert row.csr_der == x509.load_pem_x509_csr(csr).public_bytes(serialization.Encoding.DER)
        assert row.public_key_der == spki(key.public_key())

    clock.advance(hours=1)
    pay = p.certificates.pay(application_id=app.id, reference="BANK-1", actor="出纳")
    assert (pay.kind, pay.amount_fen, pay.amount_yuan) == ("new", 12000, "120.00")
    action, subject, actor, data = last_events(p, 1)[0]
    assert (action, subject, actor) == ("payment.new", str(pay.id), "出纳")
    assert data["amount_yuan"] == "120.00" and data["reference"] == "BANK-1"

    clock.advance(hours=1)
    cert = p.certificates.approve(app.id, officer="受理员 陈静")
    now = clock.now()
    c = load(cert)
    assert cert.status == "active" and cert.key == "subscriber"
    assert spki(c.public_key()) == spki(key.public_key())
    # the subject comes from the vetted subscriber record, not from the CSR
    assert c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "张三0"
    assert "Someone Else" not in c.subject.rfc4514_string()
    pid = c.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value
    assert pid.startswith("PID-") and id_number(0) not in c.subject.rfc4514_string()
    assert c.issuer == p.ca.certificate("issuing").subject
    assert c.not_valid_before_utc == now and c.not_valid_after_utc == now + YEAR
    assert cert.paid_until == (now + YEAR)
    assert format(c.serial_number, "x") == cert.serial
    assert p.certificates.applications() == []
    approved = p.certificates.applications("approved")[0]
    assert approved.officer == "受理员 陈静" and approved.decided_at == now
    events = last_events(p, 2)
    assert events[0][:3] == ("application.approved", str(app.id), "受理员 陈静")
    assert events[0][3] == {"serial": cert.serial}
    assert events[1][:3] == ("certificate.issued", cert.serial, "受理员 陈静")
    assert events[1][3]["acceptance_point"] == "总部受理点"
    with p.db.read() as s:
        payment = s.get(Payment, pay.id)
        assert payment.consumed_at == now and payment.certificate_id is not None
    assert p.certificates.get(cert.serial) == cert
    assert p.verify_audit().ok


def test_csr_may_be_der_and_the_organization_subject_carries_the_credit_code(
    any_platform: Platform,
) -> None:
    p = any_platform
    subs = enrol(p, 3)
    cert = issue(p, subs.org.id, "organization-signing", csr=make_csr(der=True))
    subject = load(cert).subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == subs.org.name
    assert (
        subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value
        == f"NTRCN-{uscc(3)}"
    )
    dev = issue(p, subs.device.id, "device-tls", dns_names=["gw3.example.cn"])
    dc = load(dev)
    assert dc.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "门禁网关-3"
    assert dc.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == subs.org.name
    san = dc.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["gw3.example.cn"]


def test_a_long_chinese_name_is_certified_as_registered(platform: Platform) -> None:
    """An organization's name of 40 characters (a Chinese branch's name is often longer than
    21) is its certificate's O and CN, whole: RFC 5280 bounds them at 64 characters, and
    cryptography's check counts UTF-8 bytes — the approval failed with a 500 after payment.
    A name longer than a subject holds is refused at registration, naming the field."""
    p = platform
    long_name = "福建省某某某某某某某某某某某某某某某某某某某某某某某某某某某某某信息技术有限公司"
    assert len(long_name) == 40 and len(long_name.encode()) > 64
    org = p.subscribers.add_organization(
        name=long_name,
        uscc=uscc(40),
        legal_representative="李四",
        contact_name="王五",
        contact_phone="010-62345678",
        email="ops@example.cn",  # no mobile: notices go by e-mail
    )
    p.subscribers.accept_agreement(org.id, accepted_by="王五")
    cert = load(issue(p, org.id, "organization-signing", pin=PIN))
    for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        assert cert.subject.get_attributes_for_oid(oid)[0].value == long_name
    with pytest.raises(ValidationError) as e:
        p.subscribers.add_organization(
            name="某" * 65,
            uscc=uscc(41),
            legal_representative="李四",
            contact_name="王五",
            contact_phone="010-62345678",
        )
    assert e.value.field == "name"
    # a name registered before that bound (up to 100 characters) is refused at approval, with a
    # code of its own the desk page words in Chinese, and nothing issued
    with p.db.transaction() as s:
        s.get(Subscriber, org.id).name = "某" * 65
    app = p.certificates.apply(subscriber_id=org.id, profile="organization-signing", pin=PIN)
    p.certificates.pay(application_id=app.id)
    issued = p.certificates.list(limit=1000)
    with pytest.raises(ValidationError) as e:
        p.certificates.approve(app.id, officer="受理员")
    assert (e.value.code, e.value.field) == ("name_too_long", "name")
    assert p.certificates.application(app.id).state == "pending"
    assert p.certificates.list(limit=1000) == issued


def test_apply_with_a_platform_held_key(any_platform: Platform) -> None:
    p = any_platform
    subs = enrol(p)
    app = p.certificates.apply(subscriber_id=subs.person.id, profile="person-signing", pin=PIN)
    assert app.key_mode == "platform" and last_events(p, 1)[0][3]["key_mode"] == "platform"
    p.certificates.pay(application_id=app.id)
    cert = p.certificates.approve(app.id, officer="受理员")
    assert cert.key == "platform"
    with p.db.read() as s:
        pk = s.execute(select(PlatformKey)).scalar_one()
    key = open_private_key(pk.sealed_key, PIN, pk.label, kek=p.kek)  # the PIN (and KEK)
    assert spki(key.public_key()) == spki(load(cert).public_key()) == pk.public_key_der
    with pytest.raises(Forbidden):
        open_private_key(pk.sealed_key, PIN + "x", pk.label, kek=p.kek)


def test_reject_with_a_reason(any_platform: Platform, clock) -> None:
    p = any_platform
    subs = enrol(p)
    app = p.certificates.apply(
        subscriber_id=subs.person.id, profile="person-signing", csr=make_csr()
    )
    clock.advance(minutes=5)
    with pytest.raises(ValidationError) as e:  # the applicant reads it: nothing hidden
        p.certificates.reject(app.id, officer="受理员 陈静", reason="复印件\u200b不清晰")
    assert e.value.field == "reason" and "U+200B" in e.value.message
    out = p.certificates.reject(app.id, officer="受理员 陈静", reason="身份证复印件不清晰")
    assert out.state == "rejected" and out.reason == "身份证复印件不清晰"
    assert out.decided_at == clock.now() and out.officer == "受理员 陈静"
    assert last_events(p, 1) == [
        ("application.rejected", str(app.id), "受理员 陈静", {"reason": "身份证复印件不清晰"})
    ]
    with pytest.raises(IllegalTransition):
        p.certificates.approve(app.id, officer="受理员 陈静")
    assert p.certificates.count() == 0


# --- revocation and holds ------------------------------------------------------------------------
def test_revoke_records_request_time_and_effective_time(any_platform: Platform, clock) -> None:
    p = any_platform
    subs = enrol(p)
    cert = issue(p, subs.person.id)
    rev0 = revision(p)
    clock.advance(days=10)
    requested = clock.now() - dt.timedelta(hours=3)
    out = p.certificates.revoke(
        cert.serial,
        reason="key_compromise",
        actor="张三（书面申请）",
        requested_at=requested.astimezone(dt.timezone(dt.timedelta(hours=8))),
    )
    now = clock.now()
    assert out.status == "revoked" and out.revocation_reason == "key_compromise"
    assert out.revoked_at == now
    assert out.revocation_requested_at == requested
    assert p.certificates.get(cert.serial).revocation_requested_at == requested
    assert dt.timedelta(0) <= now - requested <= dt.timedelta(hours=24)  # 001 §一.3
    row = cert_row(p, cert.serial)
    assert row.revocation_requested_by == "张三（书面申请）" and row.status_version == 2
    assert revision(p) == rev0 + 1  # CRL/OCSP publishers are told
    action, subject, actor, data = last_events(p, 1)[0]
    assert (action, subject, actor) == ("certificate.revoke", cert.serial, "张三（书面申请）")
    assert data["reason"] == "key_compromise" and data["rfc5280"] == "key_compromise"
    assert dt.datetime.fromisoformat(data["requested_at"]) == requested
    assert dt.datetime.fromisoformat(data["effective_at"]) == now
    assert (data["from"], data["to"]) == ("active", "revoked")


def test_revoke_refuses_a_request_time_before_the_certificate_was_issued(
    any_platform: Platform, clock
) -> None:
    """A request time before the certificate's notBefore was recorded as given."""
    p = any_platform
    subs = enrol(p)
    clock.advance(days=1)
    cert = issue(p, subs.person.id)
    clock.advance(hours=2)
    rev0, events = revision(p), last_events(p, 1)
    with pytest.raises(ValidationError) as e:
        p.certificates.revoke(
            cert.serial,
            reason="key_compromise",
            actor="ra",
            requested_at=cert.not_before - dt.timedelta(minutes=1),
        )
    assert e.value.field == "requested_at"
    row = cert_row(p, cert.serial)
    assert (row.status, row.revoked_at, row.revocation_requested_at) == ("active", None, None)
    assert revision(p) == rev0 and last_events(p, 1) == events
    # the moment of issue itself is a request time it can carry
    out = p.certificates.revoke(
        cert.serial, reason="key_compromise", actor="ra", requested_at=cert.not_before
    )
    assert out.revocation_requested_at == cert.not_before


def test_revoke_without_a_request_time_takes_effect_now(any_platform: Platform, clock) -> None:
    p = any_platform
    cert = issue(p, enrol(p).person.id)
    clock.advance(hours=2)
    out = p.certificates.revoke(cert.serial, reason="no_longer_needed", actor="ra")
    assert out.revoked_at == out.revocation_requested_at == clock.now()
    assert last_events(p, 1)[0][3]["rfc5280"] == "cessation_of_operation"


def test_freeze_and_unfreeze(any_platform: Platform, clock) -> None:
    p = any_platform
    cert = issue(p, enrol(p).person.id)
    rev0 = revision(p)
    clock.advance(days=1)
    frozen = p.certificates.freeze(cert.serial, actor="张三", note="出差")
    assert (frozen.status, frozen.hold_kind) == ("on_hold", "frozen")
    assert cert_row(p, cert.serial).held_at == clock.now()
    assert last_events(p, 1) == [
        (
            "certificate.freeze",
            cert.serial,
            "张三",
            {"from": "active", "to": "on_hold", "note": "出差", "hold_by": "ca"},
        )
    ]
    clock.advance(days=1)
    back = p.certificates.unfreeze(cert.serial, actor="受理员")
    assert (back.status, back.hold_kind) == ("active", None)
    assert cert_row(p, cert.serial).held_at is None
    assert last_events(p, 1) == [
        ("certificate.unfreeze", cert.serial, "受理员", {"from": "on_hold", "to": "active"})
    ]
    assert revision(p) == rev0 + 2
    assert back.pem == cert.pem  # the same certificate throughout


def test_report_loss_is_an_immediate_hold_and_restore_lifts_it(
    any_platform: Platform, clock
) -> None:
    p = any_platform
    cert = issue(p, enrol(p).person.id)
    clock.advance(days=3)
    lost = p.certificates.report_loss(cert.serial, actor="张三（电话挂失）")
    assert (lost.status, lost.hold_kind) == ("on_hold", "lost")
    assert cert_row(p, cert.serial).held_at == clock.now()
    assert last_events(p, 1)[0][:3] == (
        "certificate.report_loss",
        cert.serial,
        "张三（电话挂失）",
    )
    with pytest.raises(IllegalTransition):  # a loss is lifted by restore, not unfreeze
        p.certificates.unfreeze(cert.serial, actor="x")
    restored = p.certificates.restore(cert.serial, actor="受理员")
    assert (restored.status, restored.hold_kind) == ("active", None)
    assert last_events(p, 1)[0][:3] == ("certificate.restore", cert.serial, "受理员")


def test_a_loss_is_reported_over_a_freeze_and_restore_goes_back_to_it(
    any_platform: Platform, clock
) -> None:
    """A loss could be reported only on an active certificate: a frozen one's holder whose key
    was then lost could only revoke it, or reissue it — recorded as superseded, not as a
    compromise. Now the loss is recorded over the freeze (the hold, held since the freeze,
    goes on), and restore goes back to the freeze, not to active."""
    p = any_platform
    cert = issue(p, enrol(p).person.id)
    frozen_at = clock.now()
    p.certificates.freeze(cert.serial, actor="受理员", note="核查中")
    clock.advance(days=1)
    lost = p.certificates.report_loss(cert.serial, actor="张三（电话挂失）")
    assert (lost.status, lost.hold_kind) == ("on_hold", "lost")
    assert last_events(p, 1) == [
        (
            "certificate.report_loss",
            cert.serial,
            "张三（电话挂失）",
            {"from": "on_hold", "to": "on_hold", "previous_hold_kind": "frozen"},
        )
    ]
    row = cert_row(p, cert.serial)
    assert (row.held_at, row.previous_hold_kind) == (frozen_at, "frozen")
    st = p.status.lookup(int(cert.serial, 16))  # held since the freeze, as before the loss
    assert (st.status, st.reason, st.revoked_at) == ("revoked", "certificate_hold", frozen_at)
    for again in (p.certificates.unfreeze, p.certificates.report_loss):
        with pytest.raises(IllegalTransition, match="on hold \\(lost\\)"):
            again(cert.serial, actor="受理员")
    back = p.certificates.restore(cert.serial, actor="受理员")
    assert (back.status, back.hold_kind) == ("on_hold", "frozen")
    assert last_events(p, 1)[0][3] == {"from": "on_hold", "to": "on_hold", "hold_kind": "frozen"}
    row = cert_row(p, cert.serial)
    assert (row.held_at, row.previous_hold_kind) == (frozen_at, None)
    assert p.certificates.unfreeze(cert.serial, actor="受理员").status == "active"

    # stopped for unpaid fees, then lost: restored, it is still stopped until paid for
    unpaid = issue(p, enrol(p, n=2).person.id, years=1, validity_years=2)
    clock.advance(days=366)
    assert p.certificates.suspend_unpaid() == [unpaid.serial]
    p.certificates.report_loss(unpaid.serial, actor="张三")
    assert p.certificates.restore(unpaid.serial, actor="受理员").hold_kind == "unpaid"
    with pytest.raises(Forbidden):
        p.certificates.unfreeze(unpaid.serial, actor="受理员")

    # lost over a freeze, then reissued: the old key is revoked as compromised
    other = issue(p, enrol(p, n=3).person.id)
    p.certificates.freeze(other.serial, actor="受理员")
    p.certificates.report_loss(other.serial, actor="张三")
    prev = p.certificates.reissue(other.serial, actor="受理员", csr=make_csr()).previous
    assert (prev.status, prev.revocation_reason, prev.hold_kind) == (
        "revoked",
        "key_compromise",
        None,
    )
    assert cert_row(p, other.serial).previous_hold_kind is None
    assert p.verify_audit().ok


def test_reissue_after_a_loss_revokes_the_old_as_key_compromise(
    any_platform: Platform, clock
) -> None:
    p = any_platform
    old = issue(p, enrol(p).person.id)
    p.certificates.report_loss(old.serial, actor="张三")
    clock.advance(days=2)
    key = new_key()
    out = p.certificates.reissue(old.serial, actor="受理员", csr=make_csr(key))
    prev, new = out.previous, out.certificate
    assert (prev.status, prev.revocation_reason, prev.hold_kind) == (
        "revoked",
        "key_compromise",
        None,
    )
    assert prev.revoked_at == clock.now()
    assert new.status == "active" and new.serial != old.serial
    assert spki(load(new).public_key()) == spki(key.public_key())
    assert spki(load(new).public_key()) != spki(load(old).public_key())
    assert new.not_after == old.not_after and new.paid_until == old.paid_until
    assert new.predecessor_id == cert_row(p, old.serial).id
    assert load(new).subject == load(old).subject
    ev = last_events(p, 2)
    assert ev[0][:3] == ("certificate.reissue", old.serial, "受理员")
    assert ev[0][3]["successor"] == new.serial and ev[0][3]["reason"] == "key_compromise"
    assert ev[1][:2] == ("certificate.issued", new.serial)
    assert ev[1][3]["via"] == "reissue" and ev[1][3]["predecessor"] == old.serial


def test_a_new_key_must_be_new(any_platform: Platform) -> None:
    """A reissue after a loss revoked the old certificate as compromised and certified the same
    key again when the CSR was for it: the key reported lost was back in force under a fresh
    certificate. A rekey took the old key as its "new" one. Both are now refused at the CSR
    (422 ``same_key``), nothing written; a CSR for another key is taken."""
    from tests.dbdump import diff, dump

    p = any_platform
    key = new_key()
    old = issue(p, enrol(p).person.id, csr=make_csr(key))
    before = dump(p)
    with pytest.raises(ValidationError) as e:
        p.certificates.rekey(old.serial, actor="张三", csr=make_csr(key))
    assert (e.value.field, e.value.code) == ("csr", "same_key")
    assert diff(before, dump(p)) == []
    p.certificates.report_loss(old.serial, actor="张三")
    before = dump(p)
    with pytest.raises(ValidationError) as e:
        p.certificates.reissue(old.serial, actor="张三", csr=make_csr(key))
    assert (e.value.field, e.value.code) == ("csr", "same_key")
    assert diff(before, dump(p)) == []
    assert p.certificates.get(old.serial).hold_kind == "lost"
    out = p.certificates.reissue(old.serial, actor="张三", csr=make_csr())
    assert out.certificate.status == "active" and out.previous.status == "revoked"


def test_the_old_key_is_refused_however_its_csr_encodes_it(any_platform: Platform) -> None:
    """The check compared the CSR's SubjectPublicKeyInfo bytes with the certificate's: a CSR
    carrying the same EC point compressed (02/03 ‖ X, which RFC 5480 allows) differed in its
    bytes, and the key being replaced was certified again — after a loss, the lost key was
    back in force. The keys are compared now: refused (422 ``same_key``), nothing written."""
    from tests.dbdump import diff, dump

    p = any_platform
    key = new_key()
    old = issue(p, enrol(p).person.id, csr=make_csr(key))
    assert x509.load_der_x509_csr(compressed_csr(key)).is_signature_valid
    before = dump(p)
    with pytest.raises(ValidationError) as e:
        p.certificates.rekey(old.serial, actor="张三", csr=compressed_csr(key))
    assert (e.value.field, e.value.code) == ("csr", "same_key")
    assert diff(before, dump(p)) == []
    p.certificates.report_loss(old.serial, actor="张三")
    before = dump(p)
    with pytest.raises(ValidationError) as e:
        p.certificates.reissue(old.serial, actor="张三", csr=compressed_csr(key))
    assert (e.value.field, e.value.code) == ("csr", "same_key")
    assert diff(before, dump(p)) == []
    # a compressed point of a new key is a new key: taken, certified with its point written out
    other = new_key()
    out = p.certificates.reissue(old.serial, actor="张三", csr=compressed_csr(other))
    assert spki(load(out.certificate).public_key()) == spki(other.public_key())


def test_no_new_key_past_unpaid_service(any_platform: Platform, clock) -> None:
    """A certificate whose paid service ran out (stopped for unpaid fees, or not yet swept) was
    rekeyed, or reported lost over the stop and reissued, into an active certificate carrying
    the same unpaid date: in force without the fee until the next sweep (never, where no
    worker runs). Now rekey, reissue and change are refused (403 ``unpaid``, field
    ``payment``) until the service is paid; paid, they go through."""
    from tests.dbdump import diff, dump

    p = any_platform
    old = issue(p, enrol(p).person.id, validity_years=3)
    clock.advance(days=400)  # the year paid for is over, the certificate runs two more
    before = dump(p)
    with pytest.raises(Forbidden) as e:
        p.certificates.rekey(old.serial, actor="张三", csr=make_csr())
    assert (e.value.field, e.value.code) == ("payment", "unpaid")
    assert diff(before, dump(p)) == []
    assert p.certificates.suspend_unpaid() == [old.serial]
    p.certificates.report_loss(old.serial, actor="张三")
    before = dump(p)
    with pytest.raises(Forbidden) as e:
        p.certificates.reissue(old.serial, actor="张三", csr=make_csr())
    assert (e.value.field, e.value.code) == ("payment", "unpaid")
    assert diff(before, dump(p)) == []
    p.certificates.pay(serial=old.serial, years=1, reference="R-1")
    out = p.certificates.reissue(old.serial, actor="张三", csr=make_csr())
    assert out.certificate.status == "active" and out.certificate.paid_until > clock.now()


def test_reissue_of_a_frozen_certificate_supersedes_it(any_platform: Platform) -> None:
    p = any_platform
    old = issue(p, enrol(p).person.id, pin=PIN)
    p.certificates.freeze(old.serial, actor="张三")
    out = p.certificates.reissue(old.serial, actor="受理员", pin=PIN + "-new")
    assert out.previous.revocation_reason == "superseded"
    assert out.certificate.key == "platform"
    with p.db.read() as s:
        keys = s.execute(select(PlatformKey).order_by(PlatformKey.id)).scalars().all()
    assert len(keys) == 2
    newest = open_private_key(keys[1].sealed_key, PIN + "-new", keys[1].label, kek=p.kek)
    assert spki(newest.public_key()) == spki(load(out.certificate).public_key())


# --- renew, rekey, change ------------------------------------------------------------------------
def test_renew_needs_a_renewal_payment_and_extends_to_the_paid_date(
    any_platform: Platform, clock
) -> None:
    p = any_platform
    old = issue(p, enrol(p).person.id)
    clock.advance(days=340)  # renewal notice time
    assert [c.serial for c in p.certificates.expiring(30)] == [old.serial]
    with pytest.raises(Forbidden) as info:
        p.certificates.renew(old.serial, actor="张三")
    assert info.value.field == "payment"
    pay = p.certificates.pay(serial=old.serial, years=1, actor="出纳")
    assert (pay.kind, pay.amount_fen) == ("renewal", 7000)
    assert last_events(p, 1)[0][0] == "payment.renewal"
    paid_until = old.not_after + YEAR
    assert p.certificates.get(old.serial).paid_until == paid_until
    out = p.certificates.renew(old.serial, actor="张三")
    new = out.certificate
    c_new, c_old = load(new), load(old)
    assert spki(c_new.public_key()) == spki(c_old.public_key())  # same key
    assert c_new.subject == c_old.subject and new.serial != old.serial
    assert c_new.not_valid_before_utc == clock.now()
    assert c_new.not_valid_after_utc == paid_until  # validity extended to the paid date
    assert new.paid_until == paid_until
    assert new.predecessor_id == cert_row(p, old.serial).id
    ev = last_events(p, 2)
    assert ev[0][:3] == ("certificate.renew", old.serial, "张三")
    assert ev[0][3]["successor"] == new.serial
    assert ev[1][:2] == ("certificate.issued", new.serial) and ev[1][3]["via"] == "renew"
    assert p.verify_audit().ok


def test_one_renewal_payment_pays_for_one_renewal(any_platform: Platform) -> None:
    """Renewing the same (still active) predecessor again issues nothing: it was renewed, and
    further renewals (and their payments) go to its successor."""
    p = any_platform
    old = issue(p, enrol(p).person.id)
    p.certificates.pay(serial=old.serial, years=1)
    new = p.certificates.renew(old.serial, actor="张三").certificate
    before = p.certificates.count()
    with pytest.raises(IllegalTransition, match="already renewed"):
        p.certificates.renew(old.serial, actor="张三")
    assert p.certificates.count() == before
    # …and so is a second fee on it: it paid for a renewal that could never be made
    events = len(audit_log(p))
    with pytest.raises(IllegalTransition, match=f"already renewed as {new.serial}"):
        p.certificates.pay(serial=old.serial, years=1)
    assert cert_row(p, old.serial).paid_until == new.paid_until
    assert len(audit_log(p)) == events
    with p.db.read() as s:
        assert len(s.execute(select(Payment)).scalars().all()) == 2  # first fee, one renewal
    with pytest.raises(Forbidden):  # the successor is paid only to its own end
        p.certificates.renew(new.serial, actor="张三")
    assert p.certificates.count() == before


def test_what_befalls_a_key_befalls_every_certificate_in_force_for_it(
    any_platform: Platform,
) -> None:
    """A renewal keeps the key, and the certificate it renewed stays valid until its own end:
    a loss reported, a key compromise, a reissue after a loss must reach both, or the lost key
    stayed usable under the other one (each was applied to the one serial named). Found again,
    both come back. A revocation for another reason, and a freeze, stay with the one named."""
    p = any_platform
    person = enrol(p).person.id
    old = issue(p, person)
    p.certificates.pay(serial=old.serial, years=1)
    new = p.certificates.renew(old.serial, actor="张三").certificate
    other = issue(p, person)  # another key of the same holder: never touched

    def states() -> dict[str, tuple[str, str | None]]:
        return {c.serial: (c.status, c.hold_kind) for c in p.certificates.list()}

    p.certificates.report_loss(old.serial, actor="受理员")
    assert states()[old.serial] == states()[new.serial] == ("on_hold", "lost")
    assert states()[other.serial] == ("active", None)
    ev = last_events(p, 2)
    assert [e[:2] for e in ev] == [
        ("certificate.report_loss", old.serial),
        ("certificate.report_loss", new.serial),
    ]
    assert ev[1][3]["same_key_as"] == old.serial
    p.certificates.restore(new.serial, actor="受理员")
    assert states()[old.serial] == states()[new.serial] == ("active", None)

    p.certificates.freeze(new.serial, actor="受理员")  # administrative: the one named
    assert states()[old.serial] == ("active", None)
    p.certificates.unfreeze(new.serial, actor="受理员")

    p.certificates.revoke(new.serial, reason="key_compromise", actor="受理员")
    assert states()[old.serial][0] == states()[new.serial][0] == "revoked"
    assert p.certificates.get(old.serial).revocation_reason == "key_compromise"
    assert states()[other.serial] == ("active", None)
    crl = x509.load_der_x509_crl(p.status.current_crl("issuing"))
    for serial in (old.serial, new.serial):
        entry = crl.get_revoked_certificate_by_serial_number(int(serial, 16))
        assert (
            entry is not None
            and entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
            == x509.ReasonFlags.key_compromise
        )
    assert crl.get_revoked_certificate_by_serial_number(int(other.serial, 16)) is None

    # a reissue after a loss revokes the lost one as compromised: its renewal sibling too
    first = issue(p, person)
    p.certificates.pay(serial=first.serial, years=1)
    second = p.certificates.renew(first.serial, actor="张三").certificate
    p.certificates.report_loss(second.serial, actor="受理员")
    fresh = p.certificates.reissue(second.serial, actor="受理员", csr=make_csr()).certificate
    for serial in (first.serial, second.serial):
        c = p.certificates.get(serial)
        assert (c.status, c.revocation_reason) == ("revoked", "key_compromise"), serial
    assert states()[fresh.serial] == ("active", None)

    # another reason (superseded, no longer needed…) is about that certificate alone
    a = issue(p, person)
    p.certificates.pay(serial=a.serial, years=1)
    b = p.certificates.renew(a.serial, actor="张三").certificate
    p.certificates.revoke(a.serial, reason="superseded", actor="受理员")
    assert states()[b.serial] == ("active", None)
    assert p.verify_audit().ok


def test_a_frozen_certificate_cannot_release_a_key_reported_lost(any_platform: Platform) -> None:
    """A loss reported on a renewal left the certificate it renewed frozen, not lost, when it
    was frozen then (the loss reaches only certificates it may move); unfreezing that one made
    the lost key sign again under it, with nothing restored. A loss now reaches a frozen
    certificate too: it is lost, its freeze remembered; restoring the lost key puts it back on
    that freeze. A frozen one beside a lost one (written before that) still cannot be unfrozen
    while the key is reported lost."""
    p = any_platform
    old = issue(p, enrol(p).person.id)
    p.certificates.pay(serial=old.serial, years=1)
    new = p.certificates.renew(old.serial, actor="张三").certificate
    p.certificates.freeze(old.serial, actor="受理员")
    p.certificates.report_loss(new.serial, actor="张三")
    held = {c.serial: c.hold_kind for c in p.certificates.list()}
    assert (held[old.serial], held[new.serial]) == ("lost", "lost")
    assert last_events(p, 1)[0][3]["previous_hold_kind"] == "frozen"
    with pytest.raises(IllegalTransition, match="on hold \\(lost\\)"):
        p.certificates.unfreeze(old.serial, actor="受理员")
    p.certificates.restore(new.serial, actor="受理员")  # found again: the freeze stays
    held = {c.serial: (c.status, c.hold_kind) for c in p.certificates.list()}
    assert (held[old.serial], held[new.serial]) == (("on_hold", "frozen"), ("active", None))
    assert p.certificates.unfreeze(old.serial, actor="受理员").status == "active"

    # a frozen one beside a lost one, as a loss reported before this change left them
    p.certificates.freeze(old.serial, actor="受理员")
    p.certificates.report_loss(new.serial, actor="张三")
    with p.db.transaction() as s:
        q = select(Certificate).where(Certificate.serial_hex == old.serial)
        row = s.execute(q).scalar_one()
        row.hold_kind, row.previous_hold_kind = "frozen", None
    events = len(audit_log(p))
    with pytest.raises(IllegalTransition, match=f"reported lost \\(certificate {new.serial}\\)"):
        p.certificates.unfreeze(old.serial, actor="受理员")
    assert cert_row(p, old.serial).status == "on_hold" and len(audit_log(p)) == events


@pytest.mark.parametrize(
    "verb,reason",
    [("rekey", "superseded"), ("change", "subject_changed"), ("reissue", "superseded")],
)
def test_replacing_a_renewal_revokes_the_certificate_it_renewed(
    any_platform: Platform, verb: str, reason: str
) -> None:
    """A renewal's predecessor stays valid beside it (same key). A rekey, change or reissue of
    the renewal revoked the renewal alone: the predecessor went on certifying the replaced key,
    or the old name, until its own end — the branch the refusal to act on the predecessor was
    meant to prevent. Now it is revoked with the renewal, for the same reason."""
    p = any_platform
    person = enrol(p).person.id
    old = issue(p, person)
    p.certificates.pay(serial=old.serial, years=1)
    renewal = p.certificates.renew(old.serial, actor="张三").certificate
    other = issue(p, person)  # another key of the holder: untouched
    if verb == "change":
        out = p.certificates.change(renewal.serial, actor="受理员", updates={"name": "张三丰"})
    else:
        out = getattr(p.certificates, verb)(renewal.serial, actor="受理员", csr=make_csr())
    for serial in (old.serial, renewal.serial):
        c = p.certificates.get(serial)
        assert (c.status, c.revocation_reason) == ("revoked", reason), serial
    assert p.certificates.get(out.certificate.serial).status == "active"
    assert p.certificates.get(other.serial).status == "active"
    ev = last_events(p, 1)[0]
    assert ev[:2] == ("certificate.revoke", old.serial)
    assert ev[3]["same_key_as"] == renewal.serial and ev[3]["reason"] == reason
    crl = x509.load_der_x509_crl(p.status.current_crl("issuing"))
    assert crl.get_revoked_certificate_by_serial_number(int(old.serial, 16)) is not None
    assert p.verify_audit().ok


def test_rekey_with_a_csr_revokes_the_old_as_superseded(any_platform: Platform, clock) -> None:
    p = any_platform
    old = issue(p, enrol(p).org.id, "organization-signing")
    clock.advance(days=30)
    key = new_key()
    out = p.certificates.rekey(old.serial, actor="王五", csr=make_csr(key))
    prev, new = out.previous, out.certificate
    assert (prev.status, prev.revocation_reason) == ("revoked", "superseded")
    assert prev.revoked_at == clock.now()
    assert spki(load(new).public_key()) == spki(key.public_key())
    assert spki(load(new).public_key()) != spki(load(old).public_key())
    assert new.not_after == old.not_after  # a new key does not buy more time
    assert last_events(p, 2)[0][:2] == ("certificate.rekey", old.serial)
    assert last_events(p, 2)[0][3]["reason"] == "superseded"


def test_rekey_with_a_platform_key(any_platform: Platform) -> None:
    p = any_platform
    old = issue(p, enrol(p).person.id, pin=PIN)
    out = p.certificates.rekey(old.serial, actor="张三", pin=PIN)
    assert out.certificate.key == "platform"
    assert spki(load(out.certificate).public_key()) != spki(load(old).public_key())
    assert out.previous.status == "revoked"


def test_change_of_subject_data(any_platform: Platform, clock) -> None:
    p = any_platform
    subs = enrol(p)
    old = issue(p, subs.person.id)
    clock.advance(days=5)
    out = p.certificates.change(
        old.serial, actor="受理员", updates={"name": "张三丰", "phone": "+86 139 0000 1111"}
    )
    prev, new = out.previous, out.certificate
    assert (prev.status, prev.revocation_reason) == ("revoked", "subject_changed")
    c_new = load(new)
    assert c_new.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "张三丰"
    assert spki(c_new.public_key()) == spki(load(old).public_key())
    sub = p.subscribers.get(subs.person.id, reveal=True)
    assert (sub.name, sub.phone) == ("张三丰", "13900001111")
    ev = last_events(p, 2)
    assert ev[0][:2] == ("certificate.change", old.serial)
    assert ev[0][3]["updates"]["name"] == "张三丰"
    # the device subject follows a device-name change too
    dev = issue(p, subs.device.id, "device-tls", dns_names=["gw.example.cn"])
    out = p.certificates.change(dev.serial, actor="受理员", updates={"device_name": "网关-02"})
    c = load(out.certificate)
    assert c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "网关-02"
    san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["gw.example.cn"]


def test_organization_phones_are_masked_like_a_persons(any_platform: Platform) -> None:
    """The listing masked a person's phone but showed an organization's two in full."""
    p = any_platform
    subs = enrol(p)
    listed = {v.id: v for v in p.subscribers.list("organization")}
    org = listed[subs.org.id]
    assert (org.contact_phone, org.phone) == ("010*****5678", "139****9000")
    assert p.subscribers.get(subs.person.id).phone == "138****0000"
    shown = p.subscribers.get(subs.org.id, reveal=True)
    assert (shown.contact_phone, shown.phone) == ("010-62345678", "13900139000")


# --- time: expiry and unpaid fees ----------------------------------------------------------------
def test_expire_when_the_clock_passes_not_after(any_platform: Platform, clock) -> None:
    p = any_platform
    subs = enrol(p)
    a = issue(p, subs.person.id)
    clock.advance(days=100)
    b = issue(p, subs.org.id, "organization-signing")
    p.certificates.freeze(b.serial, actor="王五")
    clock.advance(days=265)
    assert p.certificates.expire_due() == [a.serial]
    assert p.certificates.get(a.serial).status == "expired"
    action, subject, actor, data = last_events(p, 1)[0]
    assert (action, subject, actor, data) == (
        "certificate.expire",
        a.serial,
        "scheduler",
        {"from": "active", "to": "expired"},
    )
    assert p.certificates.expire_due() == []  # idempotent
    clock.advance(days=101)
    assert p.certificates.expire_due() == [b.serial]  # a held certificate expires too
    with pytest.raises(IllegalTransition):
        p.certificates.freeze(a.serial, actor="x")


def test_a_certificate_past_its_end_is_expired_before_the_sweep_marks_it(
    any_platform: Platform, clock
) -> None:
    """The verbs read the stored state, and the expiry sweep runs hourly (never, where no
    worker runs): a certificate months past its end was paid for and renewed — a new
    certificate for its key with no new application — and frozen. Past its notAfter it is
    expired to every verb; the sweep still records the expiry."""
    p = any_platform
    subs = enrol(p)
    a = issue(p, subs.person.id)
    b = issue(p, subs.person.id, pin=PIN)
    clock.advance(days=500)
    assert p.certificates.get(a.serial).status == "active"  # not swept yet
    count, events = p.certificates.count(), len(audit_log(p))
    with pytest.raises(IllegalTransition, match="is expired; apply for a new one"):
        p.certificates.pay(serial=a.serial, years=1)
    for act in (
        lambda: p.certificates.renew(a.serial, actor="张三"),
        lambda: p.certificates.rekey(a.serial, actor="张三", csr=make_csr()),
        lambda: p.certificates.reissue(b.serial, actor="张三", pin=PIN),
        lambda: p.certificates.change(a.serial, actor="张三", updates={"name": "张三丰"}),
        lambda: p.certificates.freeze(a.serial, actor="张三"),
        lambda: p.certificates.report_loss(b.serial, actor="张三"),
    ):
        with pytest.raises(IllegalTransition, match="it is expired"):
            act()
    assert (p.certificates.count(), len(audit_log(p))) == (count, events)
    assert p.subscribers.get(subs.person.id).name == subs.person.name
    assert sorted(p.certificates.expire_due()) == sorted([a.serial, b.serial])


def test_a_two_year_certificate_paid_for_one_year_is_stopped_then_paid(
    any_platform: Platform, clock
) -> None:
    p = any_platform
    cert = issue(p, enrol(p).person.id, years=1, validity_years=2)
    start = clock.now()
    assert cert.not_after == (start + 2 * YEAR)
    assert cert.paid_until == (start + YEAR)
    clock.advance(days=364)
    assert p.certificates.suspend_unpaid() == []
    clock.advance(days=2)
    assert p.certificates.suspend_unpaid() == [cert.serial]
    got = p.certificates.get(cert.serial)
    assert (got.status, got.hold_kind) == ("on_hold", "unpaid")
    assert last_events(p, 1)[0] == (
        "certificate.suspend_unpaid",
        cert.serial,
        "scheduler",
        {"from": "active", "to": "on_hold"},
    )
    assert p.certificates.suspend_unpaid() == []
    assert p.certificates.expire_due() == []
    with pytest.raises(Forbidden) as info:
        p.certificates.unfreeze(cert.serial, actor="受理员")
    assert info.value.field == "payment"
    pay = p.certificates.pay(serial=cert.serial, years=1)
    assert pay.amount_fen == 7000
    assert p.certificates.get(cert.serial).paid_until == (clock.now() + YEAR)
    assert p.certificates.unfreeze(cert.serial, actor="受理员").status == "active"


# --- fees ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("plan", "years", "first", "renewal"),
    [
        ("standard", 1, 7000 + 5000, 7000),
        ("standard", 2, 2 * 7000 + 5000, 2 * 7000),
        ("premium", 1, 65000, 60000),
        ("premium", 3, 3 * 65000, 3 * 60000),
    ],
)
def test_fee_amounts_in_fen(
    any_platform: Platform, plan: str, years: int, first: int, renewal: int
) -> None:
    p = any_platform
    subs = enrol(p)
    app = p.certificates.apply(
        subscriber_id=subs.person.id, profile="person-signing", csr=make_csr(), plan=plan
    )
    pay = p.certificates.pay(application_id=app.id, years=years)
    assert (pay.plan, pay.amount_fen) == (plan, first)
    cert = p.certificates.approve(app.id, officer="受理员")
    assert cert.plan == plan
    assert p.certificates.pay(serial=cert.serial, years=years).amount_fen == renewal
    with p.db.read() as s:
        amounts = s.execute(select(Payment.kind, Payment.amount_fen).order_by(Payment.id)).all()
    assert [tuple(a) for a in amounts] == [("new", first), ("renewal", renewal)]


def test_the_plans_are_the_seed_prices() -> None:
    assert (
        PLANS["standard"].annual_fen,
        PLANS["standard"].medium_fen,
        PLANS["standard"].renewal_fen,
    ) == (7000, 5000, 7000)
    assert (
        PLANS["premium"].annual_fen,
        PLANS["premium"].medium_fen,
        PLANS["premium"].renewal_fen,
    ) == (65000, 0, 60000)


# --- agreement -----------------------------------------------------------------------------------
def test_agreement_acceptance_is_recorded(any_platform: Platform, clock) -> None:
    p = any_platform
    subs = enrol(p, accept=False)
    out = p.subscribers.accept_agreement(subs.person.id, accepted_by="张三0", version="1")
    with p.db.read() as s:
        row = s.execute(select(AgreementAcceptance)).scalar_one()
    assert (row.subscriber_id, row.version, row.accepted_by, row.accepted_at) == (
        subs.person.id,
        "1",
        "张三0",
        clock.now(),
    )
    assert len(row.text_sha256) == 64 and row.text_sha256 == out.text_sha256
    assert last_events(p, 1)[0][:3] == (
        "subscriber.agreement_accepted",
        str(subs.person.id),
        "张三0",
    )


# --- one full story, on both databases -----------------------------------------------------------
def test_every_verb_in_one_story(any_platform: Platform, clock) -> None:
    p = any_platform
    c = p.certificates
    subs = enrol(p)
    person = issue(p, subs.person.id, pin=PIN)
    org = issue(p, subs.org.id, "organization-signing", plan="premium")
    dev = issue(p, subs.device.id, "device-tls", dns_names=["gw.example.cn"])
    c.freeze(person.serial, actor="a")
    c.unfreeze(person.serial, actor="a")
    c.report_loss(person.serial, actor="a")
    c.restore(person.serial, actor="a")
    c.report_loss(person.serial, actor="a")
    person2 = c.reissue(person.serial, actor="a", pin=PIN).certificate
    org2 = c.rekey(org.serial, actor="a", csr=make_csr()).certificate
    org3 = c.change(
        org2.serial, actor="a", updates={"name": "北京印信示范新名称有限公司"}
    ).certificate
    c.pay(serial=dev.serial)
    dev2 = c.renew(dev.serial, actor="a").certificate
    c.revoke(dev.serial, reason="superseded", actor="a")
    rejected = c.apply(subscriber_id=subs.person.id, profile="person-signing", pin=PIN)
    c.reject(rejected.id, officer="o", reason="资料不全")
    clock.advance(days=366)
    expired = set(c.expire_due())
    assert expired == {person2.serial, org3.serial}
    statuses = {x.serial: x.status for x in c.list()}
    assert statuses == {
        person.serial: "revoked",
        person2.serial: "expired",
        org.serial: "revoked",
        org2.serial: "revoked",
        org3.serial: "expired",
        dev.serial: "revoked",
        dev2.serial: "active",
    }
    actions = [e.action for e in audit_log(p)]
    for verb in (
        "freeze",
        "unfreeze",
        "report_loss",
        "restore",
        "reissue",
        "rekey",
        "change",
        "renew",
        "revoke",
        "expire",
        "issued",
    ):
        assert f"certificate.{verb}" in actions, verb
    for a in (
        "application.submitted",
        "application.approved",
        "application.rejected",
        "payment.new",
        "payment.renewal",
        "subscriber.registered",
        "subscriber.agreement_accepted",
        "authority.certificate_created",
    ):
        assert a in actions, a
    v = p.verify_audit()
    assert v.ok and v.events == len(actions)
    assert len(c.list(status="revoked")) == 4
    assert {x.serial for x in c.list(subscriber_id=subs.device.id)} == {
        dev.serial,
        dev2.serial,
    }


# --- serial numbers ------------------------------------------------------------------------------
def test_serial_numbers_are_unique_positive_and_unpredictable(platform: Platform) -> None:
    p = platform
    subs = enrol(p)
    key = new_key()
    csr = make_csr(key)
    n = 200
    serials = []
    for _ in range(n):
        cert = issue(p, subs.person.id, csr=csr)
        c = load(cert)
        assert format(c.serial_number, "x") == cert.serial
        serials.append(c.serial_number)
    serials += [p.ca.certificate(r).serial_number for r in ("root", "issuing", "ocsp", "tsa")]
    assert len(set(serials)) == len(serials)
    assert all(0 < s < 2**159 for s in serials)  # positive, at most 20 octets (RFC 5280)
    assert sum(s.bit_length() >= 64 for s in serials) >= 0.95 * len(serials)
    assert min(s.bit_length() for s in serials) >= 64
    # at least 64 random bits: the low 64 bits and the bits above them are each all distinct
    assert len({s & (2**64 - 1) for s in serials}) == len(serials)
    assert len({s >> 64 for s in serials}) == len(serials)
    # no sequential pattern: not sorted, steps are not constant, about half the steps go up
    issued = serials[:n]
    assert issued != sorted(issued) and issued != sorted(issued, reverse=True)
    steps = [b - a for a, b in zip(issued, issued[1:], strict=False)]
    assert len(set(steps)) == len(steps)
    ups = sum(d > 0 for d in steps)
    assert 0.3 * len(steps) < ups < 0.7 * len(steps)
    # every bit position below 120 varies; about half of the bits are set on average
    for bit in range(120):
        ones = sum((s >> bit) & 1 for s in issued)
        assert 0 < ones < n, bit
    mean = sum(bin(s & (2**120 - 1)).count("1") for s in issued) / n
    assert 55 < mean < 65, mean


# --- storage: migrations match the models -------------------------------------------------------
def import_all_models() -> None:
    """Every ``yinxin.*.models`` module registers its tables on the one ``Base.metadata``;
    ``yinxin.store.models`` loads its table modules on demand, ``load_all()`` all of them."""
    import importlib
    import pkgutil

    import yinxin
    from yinxin.store.models import load_all

    for mod in pkgutil.walk_packages(yinxin.__path__, "yinxin."):
        if mod.name.rsplit(".", 1)[-1] == "models":
            importlib.import_module(mod.name)
    load_all()


def _check_schema(url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from yinxin.store.db import Database

    import_all_models()
    db = Database(url)
    try:
        db.migrate()
        db.migrate()  # idempotent
        names = set(inspect(db.engine).get_table_names())
        assert set(Base.metadata.tables) <= names, set(Base.metadata.tables) - names
        assert "alembic_version" in names
        with db.engine.connect() as conn:
            mc = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": False}
            )
            diff = compare_metadata(mc, Base.metadata)
        assert diff == [], diff
    finally:
        db.dispose()


def test_migrations_build_every_table_and_match_the_models_sqlite(tmp_path) -> None:
    _check_schema(f"sqlite:///{tmp_path / 'fresh.db'}")


@pytest.mark.postgres
def test_migrations_build_every_table_and_match_the_models_postgres(pg_cluster) -> None:
    _check_schema(pg_cluster.new_database())
