"""One person one record, names without hidden characters, payments once, seal scans bounded,
and a PIN race that reveals nothing (issue 9, items 3, 4 and 11), one call at a time.

The parallel versions of these guarantees are in ``tests/stress``; here each rule is driven
through the services exactly as a desk would, and every refusal is shown to write nothing.
"""

from __future__ import annotations

import datetime as dt
import io
import threading
import time

import pytest
from PIL import Image, ImageFile

from tests.integration.test_ca_lifecycle import id_number, make_csr, uscc
from tests.integration.test_seals import (
    PIN_ZHANG,
    ZHANG,
    form,
    key_row,
    refused,
    world,
)
from yinxin.errors import Conflict, Forbidden, ValidationError
from yinxin.seals import render
from yinxin.seals.pin import MAX_PIN_FAILURES

HIDDEN = ["\u202e", "\u200b", "\u2028", "\x07"]


# --- one person, one record ---------------------------------------------------------------------
def test_an_id_number_registers_one_person(any_platform):
    p = any_platform
    first = p.subscribers.add_person(name="张三", id_number=id_number(1), phone="13800138000")
    e = refused(
        p,
        lambda: p.subscribers.add_person(name="张叁", id_number=id_number(1), phone="13900139000"),
        Conflict,
        "duplicate",
    )
    assert e.field == "id_number" and f"#{first.id}" in e.message
    # the same number typed in lower case is the same document
    low = id_number(2)
    p.subscribers.add_person(name="李四", id_number=low, phone="13800138001")
    if low.endswith("X"):
        refused(
            p,
            lambda: p.subscribers.add_person(
                name="李四", id_number=low.lower(), phone="13800138001"
            ),
            Conflict,
            "duplicate",
        )


def test_a_credit_code_registers_one_organization(any_platform):
    p = any_platform
    org = dict(
        legal_representative="李四",
        contact_name="王五",
        contact_phone="010-62345678",
        email="ops@example.cn",
    )
    p.subscribers.add_organization(name="甲公司", uscc=uscc(1), **org)
    e = refused(
        p,
        lambda: p.subscribers.add_organization(name="乙公司", uscc=uscc(1), **org),
        Conflict,
        "duplicate",
    )
    assert e.field == "uscc"


# --- names without hidden characters ------------------------------------------------------------
@pytest.mark.parametrize("char", HIDDEN)
def test_hidden_characters_are_refused_in_every_name_field(platform, char):
    p = platform
    w = world(p)
    subs, seals = p.subscribers, p.seals
    org = dict(
        uscc=uscc(7),
        legal_representative="李四",
        contact_name="王五",
        contact_phone="010-62345678",
        email="ops@example.cn",
    )
    cases = [
        (
            "name",
            lambda: subs.add_person(
                name=f"张{char}三", id_number=id_number(9), phone="13800138000"
            ),
        ),
        ("name", lambda: subs.add_organization(name=f"某{char}公司", **org)),
        (
            "legal_representative",
            lambda: subs.add_organization(
                name="某公司", **{**org, "legal_representative": f"李{char}四"}
            ),
        ),
        (
            "contact_name",
            lambda: subs.add_organization(name="某公司", **{**org, "contact_name": f"王{char}五"}),
        ),
        (
            "device_name",
            lambda: subs.add_device(device_name=f"网关{char}01", organization_id=w.org.id),
        ),
        ("accepted_by", lambda: subs.accept_agreement(w.zhang.id, accepted_by=f"张{char}三")),
        (
            "name",
            lambda: p.certificates.change(
                w.zhang_cert.serial, actor="受理员", updates={"name": f"张{char}三"}
            ),
        ),
        (
            "holder_name",
            lambda: seals.apply(
                subscriber_id=w.zhang.id,
                kind="personal",
                certificate_serial=w.zhang_cert.serial,
                **form(ZHANG, holder_name=f"张{char}三"),
            ),
        ),
        (
            "project",
            lambda: seals.apply(
                subscriber_id=w.zhang.id,
                kind="personal",
                certificate_serial=w.zhang_cert.serial,
                **form(ZHANG, project=f"项目{char}一"),
            ),
        ),
    ]
    for field, call in cases:
        e = refused(p, call, ValidationError)
        assert e.field == field, (field, e.to_dict())
        assert f"U+{ord(char):04X}" in e.message


def test_an_officer_with_hidden_characters_is_refused(platform):
    p = platform
    w = world(p)
    app = p.certificates.apply(subscriber_id=w.zhang.id, profile="person-signing", csr=make_csr())
    p.certificates.pay(application_id=app.id)
    for char in HIDDEN:
        e = refused(
            p, lambda c=char: p.certificates.approve(app.id, officer=f"陈{c}静"), ValidationError
        )
        assert e.field == "officer"
        e = refused(
            p,
            lambda c=char: p.certificates.reject(app.id, officer=f"陈{c}静", reason="资料不清晰"),
            ValidationError,
        )
        assert e.field == "officer"


# --- payments once ------------------------------------------------------------------------------
def test_an_application_is_paid_once_and_a_retry_is_not_charged_again(any_platform):
    p = any_platform
    w = world(p)
    app = p.certificates.apply(subscriber_id=w.li.id, profile="person-signing", csr=make_csr())
    paid = p.certificates.pay(application_id=app.id, years=2, reference="BANK-001")
    again = p.certificates.pay(application_id=app.id, years=2, reference="BANK-001")
    assert again.replayed and again.id == paid.id
    assert again.amount_fen == paid.amount_fen
    e = refused(
        p,
        lambda: p.certificates.pay(application_id=app.id, years=2, reference="BANK-002"),
        Conflict,
        "already_paid",
    )
    assert e.field == "application_id" and "BANK-001" in e.message
    refused(
        p,
        lambda: p.certificates.pay(application_id=app.id, years=1, reference="BANK-001"),
        Conflict,
        "already_paid",
    )
    refused(p, lambda: p.certificates.pay(application_id=app.id), Conflict, "already_paid")
    cert = p.certificates.approve(app.id, officer="受理员")
    # renewal payments of a certificate add up: each one is a year more
    p.certificates.pay(serial=cert.serial, years=1)
    p.certificates.pay(serial=cert.serial, years=1)
    assert p.verify_audit().ok


def test_a_renewal_payment_retried_with_its_reference_is_charged_once(any_platform, clock):
    """A cashier's retry of a renewal payment (the reply lost) charged and extended the
    certificate a second year. Now the certificate's latest renewal repeated exactly (same
    reference and years, within a day) is that payment: returned marked replayed, nothing
    charged, audited or extended. Another reference, other years, no reference, or the same
    reference a day later are new renewals."""
    from tests.dbdump import count
    from yinxin.store.models import AuditEvent, Payment

    p = any_platform
    w = world(p)
    app = p.certificates.apply(subscriber_id=w.li.id, profile="person-signing", csr=make_csr())
    p.certificates.pay(application_id=app.id, years=1, reference="BANK-001")
    cert = p.certificates.approve(app.id, officer="受理员")
    start = p.certificates.get(cert.serial).paid_until
    paid = p.certificates.pay(serial=cert.serial, years=1, reference="RENEW-001")
    assert not paid.replayed
    events = count(p, AuditEvent)
    clock.advance(minutes=5)
    again = p.certificates.pay(serial=cert.serial, years=1, reference="RENEW-001")
    assert again.replayed and again.id == paid.id and again.amount_fen == paid.amount_fen
    assert p.certificates.get(cert.serial).paid_until == start + dt.timedelta(days=365)
    assert count(p, Payment, Payment.certificate_id == cert.id, Payment.kind == "renewal") == 1
    assert count(p, AuditEvent) == events
    # not the same payment: each is charged and extends the service a year (or two) more
    assert not p.certificates.pay(serial=cert.serial, years=2, reference="RENEW-001").replayed
    assert not p.certificates.pay(serial=cert.serial, years=1, reference="RENEW-002").replayed
    assert not p.certificates.pay(serial=cert.serial, years=1).replayed
    assert not p.certificates.pay(serial=cert.serial, years=1).replayed
    assert not p.certificates.pay(serial=cert.serial, years=1, reference="RENEW-002").replayed
    clock.advance(hours=24, seconds=1)  # RENEWAL_REPLAY_WINDOW
    assert not p.certificates.pay(serial=cert.serial, years=1, reference="RENEW-002").replayed
    assert count(p, Payment, Payment.certificate_id == cert.id, Payment.kind == "renewal") == 7
    assert p.certificates.get(cert.serial).paid_until == start + dt.timedelta(days=365 * 8)
    assert p.verify_audit().ok


# --- seal scans bounded before decoding ---------------------------------------------------------
def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("1", (width, height), 1).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def test_a_huge_seal_scan_is_refused_before_it_is_decoded(monkeypatch):
    side = render.MAX_SCAN_SIDE_PX
    bombs = [_png(side + 1, 64), _png(64, side + 1), _png(side, side + 1)]
    assert all(len(b) < 64 * 1024 for b in bombs)

    def never(self, *a, **k):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(Image.Image, "load", never)
    monkeypatch.setattr(ImageFile.ImageFile, "load", never)
    for data in bombs:
        t0 = time.monotonic()
        with pytest.raises(ValidationError) as err:
            render.image_from_scan(data)
        assert time.monotonic() - t0 < 1
        assert err.value.field == "image" and "pixels" in err.value.message
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * render.MAX_SCAN_BYTES
    with pytest.raises(ValidationError) as err:
        render.image_from_scan(big)
    assert err.value.field == "image" and "MiB" in err.value.message


def test_the_seal_service_refuses_an_oversized_scan(platform):
    p = platform
    w = world(p)
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * render.MAX_SCAN_BYTES
    e = refused(
        p,
        lambda: p.seals.apply(
            subscriber_id=w.zhang.id,
            kind="personal",
            certificate_serial=w.zhang_cert.serial,
            scan=big,
            **form(ZHANG),
        ),
        ValidationError,
    )
    assert e.field == "scan"
    e = refused(
        p,
        lambda: p.seals.apply(
            subscriber_id=w.zhang.id,
            kind="personal",
            certificate_serial=w.zhang_cert.serial,
            scan=_png(5000, 5000),
            **form(ZHANG),
        ),
        ValidationError,
    )
    assert e.field == "image" and "pixels" in e.message


# --- a PIN race reveals nothing -----------------------------------------------------------------
def test_a_right_pin_that_loses_the_race_gets_the_locked_reply(platform, monkeypatch):
    """The right PIN is judged, then five wrong ones lock the seal before its verdict is
    recorded: it must be refused exactly as any attempt on a locked seal is, and not counted."""
    import yinxin.seals.pin as service

    p = platform
    w = world(p)
    seal = p.seals.apply(
        subscriber_id=w.zhang.id,
        kind="personal",
        certificate_serial=w.zhang_cert.serial,
        **form(ZHANG),
    )
    judged, go_on = threading.Event(), threading.Event()
    real_open = service.open_sealed

    def slow_open(blob, pin, label, **kw):
        out = real_open(blob, pin, label, **kw)
        if pin == PIN_ZHANG:
            judged.set()
            assert go_on.wait(30)
        return out

    monkeypatch.setattr(service, "open_sealed", slow_open)
    outcome: dict = {}

    def right() -> None:
        try:
            p.seals.unlock_for_signing(seal.es_id, PIN_ZHANG)
            outcome["ok"] = True
        except Forbidden as e:
            outcome["error"] = e.to_dict()

    t = threading.Thread(target=right)
    t.start()
    assert judged.wait(30)
    for _ in range(MAX_PIN_FAILURES):
        with pytest.raises(Forbidden):
            p.seals.unlock_for_signing(seal.es_id, "000000")
    go_on.set()
    t.join(30)
    with pytest.raises(Forbidden) as late_wrong:
        p.seals.unlock_for_signing(seal.es_id, "000000")
    assert outcome == {"error": late_wrong.value.to_dict()}
    assert "meanwhile" not in late_wrong.value.message
    assert key_row(p, w.zhang_cert.serial)[:2] == (MAX_PIN_FAILURES, True)
    assert p.verify_audit().ok


# --- upgrading a database that already holds duplicates ------------------------------------------
def test_the_upgrade_names_duplicates_instead_of_failing_obscurely(tmp_path):
    """Migration 0006 adds the unique indexes; a database the old races left with duplicates
    is named row by row and left as it was (still at 0005), for the operator to settle."""
    from alembic import command
    from sqlalchemy import text

    from yinxin.store.db import Database, alembic_config

    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        cfg = alembic_config(db.url)
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0005")
        with db.engine.begin() as conn:
            for name in ("张三", "张叁"):
                conn.execute(
                    text(
                        "INSERT INTO subscribers (kind, name, id_type, id_number, phone,"
                        " created_at, updated_at) VALUES ('person', :n, 'id_card', :num,"
                        " '13800138000', '2020-01-01 00:00:00', '2020-01-01 00:00:00')"
                    ),
                    {"n": name, "num": id_number(3)},
                )
        with pytest.raises(RuntimeError) as err:
            db.migrate()
        assert "uq_subscribers_person_id" in str(err.value) and id_number(3) in str(err.value)
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0005"
    finally:
        db.dispose()
