"""The electronic seal service on a real database (SQLite; the main flow on PostgreSQL too).

Subscribers, certificates and payments go through the registry services exactly as a desk
would use them. Every refusal is checked against a full dump of the database, the audit chain
length and the seal directory: a refused action must leave all three as they were (the one
exception, a wrong PIN, may move nothing but the failure counter).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from PIL import Image, ImageDraw
from sqlalchemy import MetaData, Table, inspect, select, text

from tests.clear_text import in_clear
from yinxin.app import Platform
from yinxin.clock import beijing_day
from yinxin.errors import (
    Conflict,
    Forbidden,
    IllegalTransition,
    NotFound,
    ValidationError,
    YinxinError,
)
from yinxin.registry.views import CertificateView, SubscriberView
from yinxin.seals.catalogue import DECLARATION_SHA256
from yinxin.seals.pin import MAX_PIN_FAILURES
from yinxin.seals.service import Seals, SealView
from yinxin.seals.seseal import SEAL_TYPE_ORGANIZATION, SEAL_TYPE_PERSONAL, verify_seseal
from yinxin.store.models import AuditEvent

PIN_ZHANG = "246810"
PIN_ORG = "135790"
OFFICER = "受理员 陈静"
PROJECT = "百城e采平台项目"


@dataclass(frozen=True)
class Person:
    name: str
    id_number: str
    phone: str


ZHANG = Person("张三", "110105199003071239", "13800138000")
LI = Person("李四", "11010519920815234X", "13900139000")
WANG = Person("王五", "350102198511223455", "13700137000")
ORG_NAME = "北京印信示范科技有限公司"
ORG_USCC = "91110108MA01YX0030"


# --- helpers --------------------------------------------------------------------------------------
def seals_of(p: Platform) -> Seals:
    return p.seals


def issue(p: Platform, subscriber_id: int, profile: str, **key) -> CertificateView:
    app = p.certificates.apply(subscriber_id=subscriber_id, profile=profile, **key)
    p.certificates.pay(application_id=app.id, years=1)
    return p.certificates.approve(app.id, officer=OFFICER)


def form(who: Person, business_type: str = "new", **over) -> dict:
    out = {
        "business_type": business_type,
        "project": PROJECT,
        "holder_name": who.name,
        "id_type": "id_card",
        "id_number": who.id_number,
        "declaration_accepted": True,
    }
    out.update(over)
    return out


@dataclass
class World:
    p: Platform
    seals: Seals
    zhang: SubscriberView
    li: SubscriberView
    org: SubscriberView
    zhang_cert: CertificateView
    org_cert: CertificateView


def world(p: Platform) -> World:
    subs = p.subscribers
    zhang = subs.add_person(name=ZHANG.name, id_number=ZHANG.id_number, phone=ZHANG.phone)
    li = subs.add_person(name=LI.name, id_number=LI.id_number, phone=LI.phone)
    org = subs.add_organization(
        name=ORG_NAME,
        uscc=ORG_USCC,
        legal_representative="赵六",
        contact_name=WANG.name,
        contact_phone="010-62345678",
        email="ops@example.cn",  # no mobile: notices go by e-mail
    )
    for sub, by in ((zhang, ZHANG.name), (li, LI.name), (org, WANG.name)):
        subs.accept_agreement(sub.id, accepted_by=by)
    zhang_cert = issue(p, zhang.id, "person-signing", pin=PIN_ZHANG)
    org_cert = issue(p, org.id, "organization-signing", pin=PIN_ORG)
    return World(p, seals_of(p), zhang, li, org, zhang_cert, org_cert)


def personal_seal(w: World, **over) -> SealView:
    return w.seals.apply(
        subscriber_id=w.zhang.id,
        kind="personal",
        certificate_serial=w.zhang_cert.serial,
        **form(ZHANG, **over),
    )


def org_seal(w: World, kind: str = "contract", **kw) -> SealView:
    return w.seals.apply(
        subscriber_id=w.org.id,
        kind=kind,
        certificate_serial=w.org_cert.serial,
        **form(WANG),
        **kw,
    )


def db_dump(p: Platform, mask: tuple[str, str] | None = None) -> dict[str, list]:
    """Every row of every table; ``mask`` = (table, column) to blank out before comparing."""
    out: dict[str, list] = {}
    with p.db.engine.connect() as conn:
        md = MetaData()
        for name in sorted(inspect(conn).get_table_names()):
            table = Table(name, md, autoload_with=conn)
            cols = [c.name for c in table.columns]
            rows = []
            for r in conn.execute(select(table)):
                row = [bytes(v) if isinstance(v, memoryview) else v for v in r]
                if mask and mask[0] == name:
                    row[cols.index(mask[1])] = None
                rows.append(tuple(row))
            out[name] = sorted(rows, key=repr)
        conn.rollback()
    return out


def seal_files(p: Platform) -> list[str]:
    root = p.settings.home / "seals"
    return sorted(str(x.relative_to(root)) for x in root.rglob("*")) if root.exists() else []


def snapshot(p: Platform, mask: tuple[str, str] | None = None) -> tuple:
    return db_dump(p, mask), seal_files(p), p.verify_audit().events


def refused(
    p: Platform,
    fn,
    exc: type[YinxinError],
    code: str | None = None,
    mask: tuple[str, str] | None = None,
) -> YinxinError:
    """Run ``fn``, expect the refusal, and prove it left database, audit and files unchanged."""
    before = snapshot(p, mask)
    with pytest.raises(exc) as info:
        fn()
    if code is not None:
        assert info.value.code == code, info.value.to_dict()
    after = snapshot(p, mask)
    assert after[1] == before[1], "files changed"
    assert after[2] == before[2], "audit chain length changed"
    for table in before[0]:
        assert after[0][table] == before[0][table], f"table {table} changed"
    return info.value


def audit_actions(p: Platform) -> list[tuple[str, str, dict]]:
    with p.db.read() as s:
        return [
            (e.action, e.subject_id, json.loads(e.data))
            for e in s.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars()
        ]


def key_row(p: Platform, serial: str) -> tuple[int, bool, bytes]:
    """(failed_attempts, locked, sealed_key) of the platform key behind a certificate."""
    with p.db.engine.connect() as conn:
        r = conn.execute(
            text(
                "SELECT k.failed_attempts, k.locked, k.sealed_key FROM platform_keys k "
                "JOIN certificates c ON c.platform_key_id = k.id WHERE c.serial_hex = :serial"
            ),
            {"serial": serial},
        ).one()
        return int(r[0]), bool(r[1]), bytes(r[2])


def sign_check(unlocked, data: bytes = b"contract text") -> None:
    sig = unlocked.key.sign(data, hashes.SHA256())
    unlocked.certificate.public_key().verify(sig, data, ec.ECDSA(hashes.SHA256()))


def issuing_der(p: Platform) -> bytes:
    return p.ca.certificate("issuing").public_bytes(serialization.Encoding.DER)


def scan_png() -> bytes:
    img = Image.new("RGB", (400, 400), "white")
    d = ImageDraw.Draw(img)
    d.ellipse((20, 20, 380, 380), outline=(220, 20, 30), width=18)
    d.rectangle((150, 150, 250, 250), fill=(220, 20, 30))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


# --- the main flow (SQLite and PostgreSQL) --------------------------------------------------------
def test_person_and_organization_seals_end_to_end(any_platform, clock):
    p = any_platform
    w = world(p)
    seals = w.seals

    # 新申请, personal seal: drawn by software, SESeal made by the issuing CA
    mine = personal_seal(w)
    assert mine.state == "active" and mine.usable and mine.key == "platform"
    assert mine.kind == "personal" and mine.name == ZHANG.name
    assert mine.holder_id_number != ZHANG.id_number  # masked unless revealed
    assert seals.get(mine.id, reveal=True).holder_id_number == ZHANG.id_number
    es_id = mine.es_id
    # region 110000, the year of issue (two digits, from the platform's clock), a sequence
    year = f"{clock.now().year % 100:02d}"
    assert len(es_id) == 14 and es_id.isdigit() and es_id.startswith("110000" + year)
    assert seals.get(es_id).id == mine.id
    apps = seals.applications(es_id)
    assert [a.business_type for a in apps] == ["new"]
    assert apps[0].declaration_sha256 == DECLARATION_SHA256 and apps[0].project == PROJECT

    art = seals.artifacts(es_id)
    folder = p.settings.home / "seals" / es_id
    assert sorted(x.name for x in folder.iterdir()) == [
        "seal.pdf",
        "seal.png",
        "seal.ses",
        "seal.svg",
    ]
    for name, data in art.items():
        assert (folder / name).read_bytes() == data
    assert art["seal.png"].startswith(b"\x89PNG") and art["seal.pdf"].startswith(b"%PDF")

    parsed = verify_seseal(art["seal.ses"], [issuing_der(p)], at=clock.now())
    cert_der = x509.load_pem_x509_certificate(w.zhang_cert.pem.encode()).public_bytes(
        serialization.Encoding.DER
    )
    assert parsed.info.es_id == es_id and parsed.info.name == ZHANG.name
    assert parsed.info.seal_type == SEAL_TYPE_PERSONAL
    assert parsed.info.cert_list == [cert_der]
    assert parsed.info.picture_type == "png" and parsed.info.picture_data == art["seal.png"]
    assert (parsed.info.width_mm, parsed.info.height_mm) == (18, 18)
    assert parsed.info.valid_end == mine.valid_end
    assert parsed.info.valid_end <= x509.load_der_x509_certificate(cert_der).not_valid_after_utc
    assert seals.verify_record(es_id).ok

    # the holder signs with his own seal and PIN
    u = seals.unlock_for_signing(es_id, PIN_ZHANG)
    sign_check(u)
    assert u.stamp.png == art["seal.png"] and u.stamp.seseal == art["seal.ses"]
    assert (u.stamp.width_mm, u.stamp.height_mm) == (18.0, 18.0)
    assert u.stamp.name == ZHANG.name and u.stamp.kind == "personal"
    assert u.certificate.public_bytes(serialization.Encoding.DER) == cert_der
    refused(
        p,
        lambda: seals.unlock_for_signing(es_id, PIN_ZHANG, w.li.id),
        Forbidden,
        "not_authorized",
    )

    # an organization's contract seal; the organization decides who may use it
    contract = org_seal(w, "contract", code="1101080012345")
    assert contract.name == ORG_NAME + "合同专用章" and contract.center_text == "合同专用章"
    info = verify_seseal(seals.artifacts(contract.id)["seal.ses"], [issuing_der(p)]).info
    assert info.seal_type == SEAL_TYPE_ORGANIZATION and (info.width_mm, info.height_mm) == (40, 40)
    cid = contract.es_id
    refused(p, lambda: seals.unlock_for_signing(cid, PIN_ORG, w.li.id), Forbidden, "not_authorized")
    assert not seals.can_use(cid, w.li.id)
    grant = seals.grant(cid, w.li.id, actor=WANG.name, note="合同签署")
    assert grant.active and seals.can_use(cid, w.li.id)
    assert seals.get(cid).authorized_members == [w.li.id]
    sign_check(seals.unlock_for_signing(cid, PIN_ORG, w.li.id))
    refused(
        p,
        lambda: seals.unlock_for_signing(cid, PIN_ZHANG, w.li.id),
        Forbidden,
        "wrong_pin",
        mask=("platform_keys", "failed_attempts"),
    )

    seals.withdraw(cid, w.li.id, actor=WANG.name)
    assert not seals.can_use(cid, w.li.id)
    refused(p, lambda: seals.unlock_for_signing(cid, PIN_ORG, w.li.id), Forbidden, "not_authorized")
    seals.grant(cid, w.li.id, actor=WANG.name)

    # the certificate's status is read at use time: a freeze stops the seal at once
    org_serial = w.org_cert.serial
    p.certificates.freeze(org_serial, actor=OFFICER)
    refused(
        p,
        lambda: seals.unlock_for_signing(cid, PIN_ORG, w.li.id),
        Forbidden,
        "certificate_not_valid",
    )
    shown = seals.get(cid)
    assert shown.state == "active" and not shown.usable
    assert shown.certificate_status == "on_hold"
    assert shown.unusable_code == "certificate_not_valid"  # for a page to word it
    p.certificates.unfreeze(org_serial, actor=OFFICER)
    sign_check(seals.unlock_for_signing(cid, PIN_ORG, w.li.id))
    p.certificates.revoke(org_serial, reason="key_compromise", actor=OFFICER)
    refused(
        p,
        lambda: seals.unlock_for_signing(cid, PIN_ORG, w.li.id),
        Forbidden,
        "certificate_not_valid",
    )
    refused(p, lambda: seals.unlock_for_signing(cid, PIN_ORG), Forbidden, "certificate_not_valid")
    assert seals.usable(cid).code == "certificate_not_valid"
    assert seals.get(cid).unusable_code == "certificate_not_valid"

    acts = [a for a, _, _ in audit_actions(p) if a.startswith("seal.")]
    assert acts == [
        "seal.application",
        "seal.create",
        "seal.application",
        "seal.create",
        "seal.grant",
        "seal.withdraw",
        "seal.grant",
    ]
    assert p.verify_audit().ok


# --- refusals write nothing -----------------------------------------------------------------------
def test_refused_applications_leave_no_trace(platform):
    p = platform
    w = world(p)
    seals = w.seals
    z, org = w.zhang, w.org

    def mk(**over):
        args = dict(
            subscriber_id=z.id,
            kind="personal",
            certificate_serial=w.zhang_cert.serial,
            **form(ZHANG),
        )
        args.update(over)
        return lambda: seals.apply(**args)

    refused(p, mk(certificate_serial=None), ValidationError, "certificate_required")
    e = refused(p, mk(certificate_serial="abc123"), NotFound)
    assert (e.message, e.field) == ("no certificate with serial abc123", "certificate_serial")
    refused(p, mk(certificate_serial=w.org_cert.serial), ValidationError, "certificate_mismatch")
    refused(p, mk(id_number="110105199003071238"), ValidationError)  # bad check digit
    e = refused(p, mk(declaration_accepted=False), ValidationError, "declaration_required")
    assert e.field == "declaration_accepted"
    refused(p, mk(holder_name=LI.name), ValidationError, "holder_mismatch")
    refused(p, mk(id_number=LI.id_number), ValidationError, "holder_mismatch")
    refused(p, mk(kind="stamp"), ValidationError)
    refused(p, mk(kind="contract"), ValidationError)  # a person gets no contract seal
    refused(p, mk(business_type="reissue"), ValidationError)
    refused(p, mk(project=""), ValidationError)
    refused(p, mk(center_text="合同专用章"), ValidationError)
    refused(p, mk(scan=b"not an image"), ValidationError)
    refused(p, mk(subscriber_id=999), NotFound)
    refused(
        p,
        lambda: seals.apply(
            subscriber_id=org.id,
            kind="personal",
            certificate_serial=w.org_cert.serial,
            **form(WANG),
        ),
        ValidationError,
    )
    refused(
        p,
        lambda: seals.apply(
            subscriber_id=org.id,
            kind="contract",
            certificate_serial=w.org_cert.serial,
            **form(WANG, id_type="passport", id_number="@@"),
        ),
        ValidationError,
    )

    # a frozen, then a revoked certificate: no seal can be made on it
    p.certificates.freeze(w.zhang_cert.serial, actor=OFFICER)
    refused(p, mk(), Forbidden, "certificate_not_valid")
    p.certificates.unfreeze(w.zhang_cert.serial, actor=OFFICER)
    made = personal_seal(w)
    refused(p, mk(), Conflict, "duplicate")
    p.certificates.revoke(w.zhang_cert.serial, reason="no_longer_needed", actor=OFFICER)
    seals.cancel(made.id, actor=OFFICER)
    refused(p, mk(), Forbidden, "certificate_not_valid")

    # verbs on a missing seal, renew/change/cancel forms for the wrong holder
    refused(p, lambda: seals.freeze(424242, actor=OFFICER), NotFound)
    refused(p, lambda: seals.get("11000026999999"), NotFound)
    # isdigit() took "²" (int() then crashed: ValueError) and "１" (read as seal 1): neither is
    # a seal's number nor its esID as anyone wrote it
    refused(p, lambda: seals.get("²"), NotFound)
    refused(p, lambda: seals.freeze("１", actor=OFFICER), NotFound)
    assert p.verify_audit().ok


def test_grants_and_illegal_moves(platform):
    p = platform
    w = world(p)
    seals = w.seals
    contract = org_seal(w, "contract")
    finance = org_seal(w, "finance")
    assert finance.name == ORG_NAME + "财务专用章"
    official = org_seal(w, "organization")
    assert official.name == ORG_NAME and official.center_text is None
    mine = personal_seal(w)
    cid = contract.id

    refused(p, lambda: org_seal(w, "contract"), Conflict, "duplicate")
    refused(p, lambda: seals.grant(mine.id, w.li.id, actor=WANG.name), ValidationError)
    refused(p, lambda: seals.grant(cid, w.org.id, actor=WANG.name), ValidationError)
    refused(p, lambda: seals.grant(cid, 999, actor=WANG.name), NotFound)
    refused(p, lambda: seals.withdraw(cid, w.li.id, actor=WANG.name), NotFound, "not_granted")
    seals.grant(cid, w.li.id, actor=WANG.name)
    refused(p, lambda: seals.grant(cid, w.li.id, actor=WANG.name), Conflict, "already_granted")
    # a grant is per seal: the finance seal stays closed to the member
    assert seals.can_use(cid, w.li.id) and not seals.can_use(finance.id, w.li.id)

    # the table of allowed moves
    refused(p, lambda: seals.unfreeze(cid, actor=OFFICER), IllegalTransition)
    refused(p, lambda: seals.unlock(cid, officer=OFFICER), IllegalTransition)
    refused(p, lambda: seals.revoke(cid, reason="lost", actor=OFFICER), ValidationError)
    refused(p, lambda: seals.revoke(cid, reason="other", actor=OFFICER), ValidationError)
    bad_note = refused(
        p, lambda: seals.freeze(cid, actor=OFFICER, note="离职\x1b[8m"), ValidationError
    )
    assert bad_note.field == "note"
    frozen = seals.freeze(cid, actor=OFFICER, note="经办人离职，暂停用印")
    assert frozen.state == "frozen" and frozen.hold_kind == "frozen"
    assert not frozen.usable
    refused(
        p, lambda: seals.unlock_for_signing(cid, PIN_ORG, w.li.id), Forbidden, "seal_not_active"
    )
    refused(p, lambda: seals.freeze(cid, actor=OFFICER), IllegalTransition)
    refused(p, lambda: seals.renew(cid, actor=OFFICER), IllegalTransition)
    refused(
        p, lambda: seals.change(cid, software=True, code="123", actor=OFFICER), IllegalTransition
    )
    assert seals.unfreeze(cid, actor=OFFICER).state == "active"
    sign_check(seals.unlock_for_signing(cid, PIN_ORG, w.li.id))

    revoked = seals.revoke(cid, reason="breach_of_agreement", actor=OFFICER)
    assert revoked.state == "revoked" and revoked.revocation_reason == "breach_of_agreement"
    for fn in (
        lambda: seals.unfreeze(cid, actor=OFFICER),
        lambda: seals.freeze(cid, actor=OFFICER),
        lambda: seals.cancel(cid, actor=OFFICER),
        lambda: seals.revoke(cid, reason="other", note="x", actor=OFFICER),
        lambda: seals.renew(cid, actor=OFFICER),
        lambda: seals.report_pin_leak(cid, actor=OFFICER),
        lambda: seals.grant(cid, w.zhang.id, actor=WANG.name),
        lambda: seals.change_pin(cid, old_pin=PIN_ORG, new_pin="999999"),
    ):
        refused(p, fn, IllegalTransition)
    refused(
        p, lambda: seals.unlock_for_signing(cid, PIN_ORG, w.li.id), Forbidden, "seal_not_active"
    )

    # 注销 through the form, from frozen; final
    seals.freeze(finance.id, actor=OFFICER)
    cancelled = seals.apply(seal=finance.es_id, **form(WANG, "cancel"))
    assert cancelled.state == "cancelled" and cancelled.ended_at
    refused(p, lambda: seals.unfreeze(finance.id, actor=OFFICER), IllegalTransition)
    assert [a.business_type for a in seals.applications(finance.id)] == ["new", "cancel"]
    # a personal seal's form must come from its holder
    refused(
        p,
        lambda: seals.apply(seal=mine.id, **form(LI, "cancel")),
        ValidationError,
        "holder_mismatch",
    )
    refused(
        p,
        lambda: seals.apply(seal=mine.id, **form(ZHANG, "cancel", declaration_accepted=False)),
        ValidationError,
        "declaration_required",
    )

    events = {a: d for a, sid, d in audit_actions(p) if sid == revoked.es_id}
    assert events["seal.revoke"]["reason"] == "breach_of_agreement"
    assert events["seal.freeze"]["note"] == "经办人离职，暂停用印"
    assert p.verify_audit().ok


# --- the seal PIN ---------------------------------------------------------------------------------
def test_wrong_pins_are_counted_and_lock_the_seal(platform):
    p = platform
    w = world(p)
    seals = w.seals
    mine = personal_seal(w)
    sid = mine.id
    serial = w.zhang_cert.serial

    # a success resets the counter
    refused(
        p,
        lambda: seals.unlock_for_signing(sid, "000000"),
        Forbidden,
        "wrong_pin",
        mask=("platform_keys", "failed_attempts"),
    )
    assert key_row(p, serial)[0] == 1
    seals.unlock_for_signing(sid, PIN_ZHANG)
    assert key_row(p, serial)[0] == 0

    for i in range(1, MAX_PIN_FAILURES):
        e = refused(
            p,
            lambda: seals.unlock_for_signing(sid, "000000"),
            Forbidden,
            "wrong_pin",
            mask=("platform_keys", "failed_attempts"),
        )
        assert f"{MAX_PIN_FAILURES - i} attempt" in e.message
        assert key_row(p, serial)[:2] == (i, False)
        assert "000000" not in e.message

    events_before = p.verify_audit().events
    seal_rows_before = db_dump(p)["seals"]
    with pytest.raises(Forbidden) as info:
        seals.unlock_for_signing(sid, "000000")
    assert info.value.code == "seal_locked"
    assert key_row(p, serial)[:2] == (MAX_PIN_FAILURES, True)
    assert db_dump(p)["seals"] == seal_rows_before  # the seal itself is untouched
    assert p.verify_audit().events == events_before + 1
    assert audit_actions(p)[-1][0] == "seal.pin_locked"
    shown = seals.get(sid)
    assert shown.locked and not shown.usable and shown.failed_pin_attempts == 5

    # locked: even the right PIN is refused, and nothing more is counted
    refused(p, lambda: seals.unlock_for_signing(sid, PIN_ZHANG), Forbidden, "seal_locked")
    refused(
        p,
        lambda: seals.change_pin(sid, old_pin=PIN_ZHANG, new_pin="112233"),
        Forbidden,
        "seal_locked",
    )
    refused(p, lambda: seals.unlock(sid, officer=""), ValidationError)

    unlocked = seals.unlock(sid, officer=OFFICER, note="核验身份证原件后解锁")
    assert not unlocked.locked and unlocked.usable
    assert audit_actions(p)[-1][:2] == ("seal.unlock", mine.es_id)
    sign_check(seals.unlock_for_signing(sid, PIN_ZHANG))
    assert p.verify_audit().ok


def test_pin_change_and_leaked_pin(platform, clock):
    p = platform
    w = world(p)
    seals = w.seals
    contract = org_seal(w, "contract")
    finance = org_seal(w, "finance")
    cid = contract.id
    new_pin = "975310"

    refused(p, lambda: seals.change_pin(cid, old_pin=PIN_ORG, new_pin="12"), ValidationError)
    refused(p, lambda: seals.change_pin(cid, old_pin=PIN_ORG, new_pin=PIN_ORG), ValidationError)
    refused(
        p,
        lambda: seals.change_pin(cid, old_pin="000000", new_pin=new_pin),
        Forbidden,
        "wrong_pin",
        mask=("platform_keys", "failed_attempts"),
    )

    blob_before = key_row(p, w.org_cert.serial)[2]
    out = seals.change_pin(cid, old_pin=PIN_ORG, new_pin=new_pin, actor=WANG.name)
    assert sorted(out.seals) == sorted([contract.es_id, finance.es_id])
    assert key_row(p, w.org_cert.serial)[2] != blob_before
    assert key_row(p, w.org_cert.serial)[0] == 0  # the earlier wrong PIN is forgiven
    refused(
        p,
        lambda: seals.unlock_for_signing(cid, PIN_ORG),
        Forbidden,
        "wrong_pin",
        mask=("platform_keys", "failed_attempts"),
    )
    sign_check(seals.unlock_for_signing(cid, new_pin))
    sign_check(seals.unlock_for_signing(finance.id, new_pin))  # one key, one PIN

    # PINs never reach the audit trail or the database in clear (each value on its own: a
    # digest in it may hold the six digits by chance, tests/clear_text.py)
    for _, _, data in audit_actions(p):
        text = json.dumps(data, ensure_ascii=False)
        assert not in_clear(PIN_ORG, text) and not in_clear(new_pin, text)
    for rows in db_dump(p).values():
        for row in rows:
            for v in row:
                if isinstance(v, bytes | str):
                    assert not in_clear(new_pin, v) and not in_clear(PIN_ORG, v)

    # a leaked PIN freezes every seal that PIN opens
    leak = seals.report_pin_leak(cid, actor=WANG.name, note="印章密码疑似泄漏")
    assert leak.state == "frozen" and leak.hold_kind == "pin_leak"
    assert leak.also_frozen == [finance.es_id]
    assert seals.get(finance.id).hold_kind == "pin_leak"
    refused(p, lambda: seals.unlock_for_signing(cid, new_pin), Forbidden, "seal_not_active")
    refused(p, lambda: seals.unfreeze(cid, actor=OFFICER), Forbidden, "pin_change_required")

    clock.advance(minutes=5)
    seals.change_pin(cid, old_pin=new_pin, new_pin="864200", actor=WANG.name)
    assert seals.unfreeze(cid, actor=OFFICER).state == "active"
    assert seals.unfreeze(finance.id, actor=OFFICER).state == "active"
    sign_check(seals.unlock_for_signing(cid, "864200"))
    # a change in the very second of the report counts (clocks keep whole seconds)
    seals.report_pin_leak(cid, actor=WANG.name)
    refused(p, lambda: seals.unfreeze(cid, actor=OFFICER), Forbidden, "pin_change_required")
    seals.change_pin(cid, old_pin="864200", new_pin="531864", actor=WANG.name)
    assert seals.unfreeze(cid, actor=OFFICER).state == "active"
    assert p.verify_audit().ok


# --- renew, change, expiry ------------------------------------------------------------------------
def test_renew_change_and_expiry(platform, clock):
    p = platform
    w = world(p)
    seals = w.seals
    mine = personal_seal(w, years=3)
    sid = mine.id
    cert_end = w.zhang_cert.not_after
    assert mine.valid_end == cert_end  # capped: a seal cannot outlast its certificate

    # renewal cannot go past the certificate; renew the certificate, then the seal onto it
    refused(p, lambda: seals.renew(sid, actor=OFFICER), ValidationError, "certificate_ends")
    clock.advance(days=300)
    p.certificates.pay(serial=w.zhang_cert.serial, years=1)
    renewed_cert = p.certificates.renew(w.zhang_cert.serial, actor=OFFICER).certificate
    refused(
        p,
        lambda: seals.renew(sid, certificate_serial=w.org_cert.serial, actor=OFFICER),
        ValidationError,
        "certificate_mismatch",
    )
    renewed = seals.apply(
        seal=sid, certificate_serial=renewed_cert.serial, years=1, **form(ZHANG, "renew")
    )
    assert renewed.version == 2 and renewed.certificate_serial == renewed_cert.serial
    assert renewed.valid_end > mine.valid_end
    assert renewed.valid_end <= renewed_cert.not_after
    ses = seals.artifacts(sid)["seal.ses"]
    info = verify_seseal(ses, [issuing_der(p)], at=clock.now()).info
    assert info.cert_list == [
        x509.load_pem_x509_certificate(renewed_cert.pem.encode()).public_bytes(
            serialization.Encoding.DER
        )
    ]
    assert (p.settings.home / "seals" / mine.es_id / "seal.ses").read_bytes() == ses
    records = seals.records(sid)
    assert [(r.version, r.verb) for r in records] == [(1, "create"), (2, "renew")]
    assert renewed.png_sha256 == mine.png_sha256  # renewal keeps the image

    # 变更 to an uploaded scan: new image, new record, files replaced
    refused(p, lambda: seals.change(sid, actor=OFFICER), ValidationError, "nothing_to_change")
    refused(p, lambda: seals.change(sid, scan=b"\x89PNG broken", actor=OFFICER), ValidationError)
    changed = seals.apply(seal=sid, scan=scan_png(), **form(ZHANG, "change"))
    assert changed.image_source == "scan" and changed.version == 3
    assert changed.png_sha256 != renewed.png_sha256
    assert changed.es_id == mine.es_id
    files = seals.artifacts(sid)
    folder = p.settings.home / "seals" / mine.es_id
    assert (folder / "seal.png").read_bytes() == files["seal.png"]
    assert sorted(x.name for x in folder.iterdir()) == [
        "seal.pdf",
        "seal.png",
        "seal.ses",
        "seal.svg",
    ]
    assert [x for x in folder.parent.iterdir() if x.name.startswith(".")] == []
    assert verify_seseal(files["seal.ses"], [issuing_der(p)]).info.picture_data == files["seal.png"]
    assert seals.verify_record(sid).ok
    back = seals.change(sid, software=True, actor=OFFICER)
    assert back.image_source == "software" and back.version == 4
    assert back.png_sha256 == mine.png_sha256  # the same drawing, byte for byte

    # expiry: the scheduler marks it; an expired seal cannot sign or be renewed
    clock.advance(days=800)
    assert not seals.usable(sid).usable
    assert seals.expire_due() == [mine.es_id]
    assert seals.get(sid).state == "expired"
    # the holder is told, as for a certificate (an expiry sent nothing)
    [told] = [
        r for r in p.notifier.log(subscriber_id=w.zhang.id) if r.template_id == "seal_expired"
    ]
    assert told.status == "sent" and mine.name in told.body and "到期" in told.body
    assert beijing_day(seals.get(sid).valid_end).isoformat() in told.body
    refused(p, lambda: seals.unlock_for_signing(sid, PIN_ZHANG), Forbidden, "seal_not_active")
    refused(p, lambda: seals.renew(sid, actor=OFFICER), IllegalTransition)
    assert seals.expire_due() == []
    assert p.verify_audit().ok


def test_change_follows_a_certificate_change(platform):
    p = platform
    w = world(p)
    seals = w.seals
    contract = org_seal(w, "contract")
    cid = contract.id
    # the organization is renamed: its certificate is changed (the old one revoked)…
    new_name = "北京印信数字科技有限公司"
    new_cert = p.certificates.change(
        w.org_cert.serial, actor=OFFICER, updates={"name": new_name}
    ).certificate
    # …so the seal stops at once, until it is changed onto the new certificate and name
    refused(p, lambda: seals.unlock_for_signing(cid, PIN_ORG), Forbidden, "certificate_not_valid")
    changed = seals.change(cid, certificate_serial=new_cert.serial, actor=OFFICER)
    assert changed.name == new_name + "合同专用章" and changed.version == 2
    assert changed.png_sha256 != contract.png_sha256  # redrawn with the new name
    assert changed.es_id == contract.es_id and changed.usable
    sign_check(seals.unlock_for_signing(cid, PIN_ORG))  # same key, same seal PIN
    info = verify_seseal(seals.artifacts(cid)["seal.ses"], [issuing_der(p)]).info
    assert info.name == new_name + "合同专用章"
    events = [d for a, _, d in audit_actions(p) if a == "seal.change"]
    assert events[-1]["changes"]["name"]["to"] == new_name + "合同专用章"
    assert p.verify_audit().ok


def _csr(common_name: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )


def test_seal_on_subscriber_held_key_signs_locally(platform):
    p = platform
    w = world(p)
    seals = w.seals
    own = issue(p, w.org.id, "organization-signing", csr=_csr(ORG_NAME))
    seal = seals.apply(
        subscriber_id=w.org.id, kind="finance", certificate_serial=own.serial, **form(WANG)
    )
    assert seal.key == "subscriber" and not seal.usable
    e = refused(
        p, lambda: seals.unlock_for_signing(seal.id, PIN_ORG), Forbidden, "subscriber_held_key"
    )
    assert "sign locally" in e.message
    refused(
        p,
        lambda: seals.change_pin(seal.id, old_pin=PIN_ORG, new_pin="111222"),
        Forbidden,
        "subscriber_held_key",
    )
    assert seals.verify_record(seal.id).ok  # the record is still made for local use


def test_migration_matches_the_models(platform):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from yinxin.store.models import Base

    ours = {"seals", "seal_records", "seal_applications", "seal_grants"}
    with platform.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)

    def touches(d) -> bool:
        for item in d if isinstance(d, list) else [d]:
            for part in item:
                name = getattr(part, "name", None)
                table = getattr(getattr(part, "table", None), "name", None)
                if name in ours or table in ours:
                    return True
        return False

    assert [d for d in diffs if touches(d)] == []


# --- CLI ------------------------------------------------------------------------------------------
def test_cli_seal_commands(tmp_path: Path, monkeypatch):
    from typer.testing import CliRunner

    from tests.conftest import PASSPHRASE
    from yinxin.adapters.cli.common import platform as cli_platform
    from yinxin.adapters.cli.seals import seal_app

    home = tmp_path / "cli-home"
    monkeypatch.setenv("YINXIN_HOME", str(home))
    monkeypatch.setenv("YINXIN_CA_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("YINXIN_DATABASE_URL", raising=False)
    p = cli_platform(home)
    p.ca.init("ec-p256")
    w = world(p)
    runner = CliRunner()

    def cli(*args: str, env: dict | None = None, code: int = 0) -> dict:
        r = runner.invoke(seal_app, [*args, "--json"], env=env)
        assert r.exit_code == code, r.output
        return json.loads(r.stdout)

    made = cli(
        "create",
        "--subscriber-id",
        str(w.org.id),
        "--kind",
        "contract",
        "--certificate",
        w.org_cert.serial,
        "--project",
        PROJECT,
        "--holder",
        WANG.name,
        "--id-number",
        WANG.id_number,
        "--declaration-accepted",
        "--code",
        "1101080012345",
    )
    es_id = made["es_id"]
    assert made["name"] == ORG_NAME + "合同专用章"
    before = snapshot(p)
    err = cli(
        "create",
        "--subscriber-id",
        str(w.org.id),
        "--kind",
        "finance",
        "--certificate",
        w.org_cert.serial,
        "--project",
        PROJECT,
        "--holder",
        WANG.name,
        "--id-number",
        WANG.id_number,
        code=2,
    )
    assert err["error"] == "declaration_required"
    out_png = tmp_path / "contract.png"
    shown = cli("show", es_id, "--png", str(out_png))
    assert out_png.read_bytes() == p.seals.artifacts(es_id)["seal.png"]
    assert shown["exported"] == {"seal.png": str(out_png)}
    assert snapshot(p) == before  # show writes nothing
    # a refused export writes no file: the bad option is named, the good --png not left behind
    png, svg = tmp_path / "all-or-nothing.png", tmp_path / "no-such-folder" / "seal.svg"
    refused = cli("show", es_id, "--png", str(png), "--svg", str(svg), code=2)
    assert refused["field"] == "svg" and not png.exists()
    assert cli("show", es_id, "--seseal", str(tmp_path), code=2)["field"] == "seseal"
    # two exports to one file: the SVG replaced the PNG, both reported exported (exit 0)
    same = tmp_path / "seal-image"
    refused = cli("show", es_id, "--png", str(same), "--svg", str(same), code=2)
    assert refused["field"] == "svg" and "--png" in refused["message"] and not same.exists()
    assert not list(tmp_path.glob("*.part"))

    # 授权期限 and 用印次数: a bad one is refused naming the option, nothing written
    import datetime as dt

    before_grant = snapshot(p)
    li = str(w.li.id)
    past = "2020-01-01T00:00:00+08:00"
    assert cli("grant", es_id, "--member", li, "--valid-until", past, code=2)["field"] == (
        "valid_until"
    )
    assert cli("grant", es_id, "--member", li, "--valid-until", "soon", code=2)["field"] == (
        "valid_until"
    )
    for bad in ("0", "1.5"):
        r = runner.invoke(seal_app, ["grant", es_id, "--member", li, "--max-uses", bad])
        assert r.exit_code == 2 and "--max-uses" in r.output, r.output
    assert snapshot(p) == before_grant
    end = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).replace(microsecond=0)
    made = cli(
        "grant", es_id, "--member", li, "--actor", WANG.name, "--valid-until", end.isoformat(),
        "--max-uses", "5",
    )  # fmt: skip
    assert (made["max_uses"], made["remaining_uses"], made["state"]) == (5, 5, "active")
    text = runner.invoke(seal_app, ["grants", es_id]).stdout
    assert "remaining_uses" in text and f"valid_until={end:%Y-%m-%d %H:%M} UTC" in text, text
    ok = cli(
        "check", es_id, "--member", str(w.li.id), "--with-pin", env={"YINXIN_SEAL_PIN": PIN_ORG}
    )
    assert ok["usable"] and ok["pin_ok"]
    r = runner.invoke(
        seal_app, ["check", es_id, "--with-pin", "--json"], env={"YINXIN_SEAL_PIN": "000000"}
    )
    assert r.exit_code == 5 and json.loads(r.stdout)["error"] == "wrong_pin"
    assert "000000" not in r.output
    changed = cli(
        "change-pin", es_id, env={"YINXIN_SEAL_PIN": PIN_ORG, "YINXIN_SEAL_NEW_PIN": "975310"}
    )
    assert es_id in changed["seals"] and PIN_ORG not in json.dumps(changed)
    cli("withdraw", es_id, "--member", str(w.li.id))
    assert cli("check", es_id, "--member", str(w.li.id), code=1)["code"] == "not_authorized"
    assert cli("freeze", es_id, "--note", "test")["state"] == "frozen"
    cli("renew", es_id, code=4)
    assert cli("unfreeze", es_id)["state"] == "active"
    assert cli("report-pin-leak", es_id)["hold_kind"] == "pin_leak"
    assert cli("verify", es_id)["ok"]
    listed = cli("list")  # a page: {"items", "next_after"}, as every paged list
    assert [x["es_id"] for x in listed["items"]] == [es_id] and listed["next_after"] is None
    assert cli("revoke", es_id, "--reason", "holder_request")["state"] == "revoked"
    assert cli("unlock", es_id, "--officer", OFFICER, code=4)["error"] == "illegal_transition"
    assert p.verify_audit().ok


def test_the_holder_is_told_of_each_seal_business_done(platform, clock):
    """004 §七: a change, freeze or cancellation is handled "并通知用户", and the form asks for
    the phone "以接收电子印章领取通知". Seal notices existed as templates but no seal move sent
    one: the holder learnt of a seal frozen, revoked or made only by trying to use it."""

    def sent() -> list[tuple[str, str]]:
        path = p.settings.home / "outbox" / "sms.jsonl"
        lines = path.read_text("utf-8").splitlines() if path.exists() else []
        return [(m["to"], m["body"]) for m in map(json.loads, lines)]

    p = platform
    w = world(p)
    before = len(sent())
    mine = personal_seal(w)
    assert sent()[before:] == [
        (ZHANG.phone, f"【印信】张三，电子印章「{mine.name}」已制作完成并可使用。")
    ]
    w.seals.freeze(mine.id, actor=OFFICER, note="持章人申请")
    assert "已于" in sent()[-1][1] and "冻结" in sent()[-1][1]
    # a release is told too, as for certificates (it sent nothing: a holder whose seal was
    # released by someone else learnt of it only from a document sealed with it)
    released = w.seals.unfreeze(mine.id, actor=OFFICER)
    to, body = sent()[-1]
    assert to == ZHANG.phone and "已于" in body and "解冻，恢复正常使用" in body, body
    assert mine.name in body and released.state == "active"
    w.seals.report_pin_leak(mine.id, actor=ZHANG.name)
    assert "冻结" in sent()[-1][1] and len(sent()) == before + 4
    w.seals.change_pin(mine.id, old_pin=PIN_ZHANG, new_pin="975310")
    w.seals.unfreeze(mine.id, actor=OFFICER)
    assert "解冻" in sent()[-1][1] and len(sent()) == before + 5
    clock.advance(days=300)
    p.certificates.pay(serial=w.zhang_cert.serial, years=1)
    renewed = p.certificates.renew(w.zhang_cert.serial, actor=OFFICER).certificate
    seal = w.seals.apply(seal=mine.id, certificate_serial=renewed.serial, **form(ZHANG, "renew"))
    to, body = sent()[-1]
    assert to == ZHANG.phone and "续费业务已办理完毕" in body
    assert f"有效期至 {beijing_day(seal.valid_end).isoformat()}" in body
    w.seals.revoke(mine.id, reason="holder_ceased_to_exist", actor=OFFICER)
    to, body = sent()[-1]
    assert to == ZHANG.phone and "废止" in body and "用户主体消亡" in body
    log = p.notifier.log(subscriber_id=w.zhang.id)
    seal_notices = [r.template_id for r in log if r.template_id.startswith("seal_")]
    assert sorted(seal_notices) == sorted(
        [
            "seal_created",
            "seal_frozen",
            "seal_released",
            "seal_frozen",
            "seal_released",
            "seal_changed",
            "seal_revoked",
        ]
    )
    assert {r.status for r in log} == {"sent"}

    # an organization seal's notice goes to the organization; one without a mobile phone on
    # record is skipped and logged, and the seal is made all the same
    contract = org_seal(w)
    assert contract.state == "active" and all(contract.name not in b for _t, b in sent())
    w.seals.cancel(contract.id, actor=OFFICER)
    assert w.seals.get(contract.id).state == "cancelled"
    assert p.verify_audit().ok


@pytest.mark.parametrize(
    "new_pin",
    [
        "２４６８１０ab",  # full-width digits, as a Chinese input method types them
        "abc\u200bdefg",  # an invisible character
        "abc\tdefg",  # a control character
        "abcdefgh ",  # a space at the end, lost by a form or a shell that trims it
        " abcdefgh",
    ],
)
def test_a_new_pin_no_keyboard_types_back_the_same_way_is_refused(platform, new_pin):
    """A new seal PIN with full-width digits, an invisible or control character, or a space
    at either end was taken: the holder who next typed it with the ASCII digits, or a form
    that trims, was told "wrong seal PIN" five times and the seal locked. Now it is refused
    naming new_pin, without echoing it, and the key stays under the old PIN."""
    p = platform
    w = world(p)
    cid = org_seal(w, "contract").id
    err = refused(
        p, lambda: w.seals.change_pin(cid, old_pin=PIN_ORG, new_pin=new_pin), ValidationError
    )
    assert err.field == "new_pin"
    assert new_pin.strip() not in err.message and "2468" not in err.message
    assert w.seals.unlock_for_signing(cid, PIN_ORG)  # the old PIN still opens it


def test_a_seal_frozen_for_a_lost_pin_is_changed_onto_a_new_key(platform):
    """004 §七: a PIN leaked or lost is handled by 变更, 冻结 or 撤销. Frozen for a lost PIN, a
    seal could never be used again: unfreezing needs a PIN change, a PIN change needs the lost
    PIN, and a change was refused on a frozen seal — only cancelling it (and its esID) was left.
    Now a change onto the certificate of a new key (rekey, new PIN) lifts the hold."""
    p = platform
    w = world(p)
    seals = w.seals
    mine = personal_seal(w)
    seals.report_pin_leak(mine.id, actor=ZHANG.name, note="印章密码遗失")
    forgotten = "999999"
    refused(
        p,
        lambda: seals.change_pin(mine.id, old_pin=forgotten, new_pin="112233"),
        Forbidden,
        "wrong_pin",
        mask=("platform_keys", "failed_attempts"),
    )
    # not onto the key the lost PIN opens (nothing new certified)
    refused(
        p,
        lambda: seals.change(mine.id, certificate_serial=w.zhang_cert.serial, actor=OFFICER),
        Forbidden,
        "pin_change_required",
    )
    new_pin = "357913"
    rekeyed = p.certificates.rekey(w.zhang_cert.serial, actor=OFFICER, pin=new_pin).certificate
    changed = seals.apply(seal=mine.id, certificate_serial=rekeyed.serial, **form(ZHANG, "change"))
    assert (changed.state, changed.hold_kind, changed.es_id) == ("active", None, mine.es_id)
    assert changed.certificate_serial == rekeyed.serial and changed.version == 2
    sign_check(seals.unlock_for_signing(mine.id, new_pin))
    action, _, data = audit_actions(p)[-1]
    assert (action, data["from"], data["to"]) == ("seal.change", "frozen (pin_leak)", "active")

    # an officer's or holder's freeze is not lifted by a change: unfreeze it
    seals.freeze(mine.id, actor=OFFICER)
    again = p.certificates.rekey(rekeyed.serial, actor=OFFICER, pin="246813").certificate
    refused(
        p,
        lambda: seals.change(mine.id, certificate_serial=again.serial, actor=OFFICER),
        IllegalTransition,
    )
    assert seals.verify_record(mine.id).ok
    assert p.verify_audit().ok


def test_cli_seal_list_offers_only_the_states_it_accepts():
    """``seal list --state`` offered "none (applied for)", which ``listed`` refuses: no seal
    row is ever in the state before it exists (an application is ``seal applications``)."""
    from typer.main import get_command

    from yinxin.adapters.cli.seals import seal_app
    from yinxin.seals.lifecycle import SealState
    from yinxin.transitions import filter_values

    state = next(p for p in get_command(seal_app).commands["list"].params if p.name == "state")
    offered = state.help.rstrip(".").replace(" or ", ", ").split(", ")
    assert offered == list(filter_values(SealState))
