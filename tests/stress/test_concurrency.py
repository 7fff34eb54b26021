"""Parallel attempts at one thing: exactly one winner, counters exact (issue 9, items 1–4).

Each competitor is a separate process (``spawn``) with its own ``Platform`` on the same
database — SQLite file or PostgreSQL — and all of them are released at once by a barrier, so
the database, not Python, decides who wins. What is asserted does not depend on who wins: the
count of winners, the refusals the losers get, and what the database holds afterwards.
"""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import pytest
from sqlalchemy import select

from tests.conftest import PASSPHRASE
from tests.dbdump import count
from tests.integration.test_ca_lifecycle import id_number, make_csr
from tests.stress import workers
from yinxin.app import Platform
from yinxin.seals.pin import MAX_PIN_FAILURES
from yinxin.store.models import Application, AuditEvent, Certificate, Payment, PlatformKey
from yinxin.store.models.seals import Seal

WORKERS = 8
OFFICER = "受理员 陈静"
PIN = "246810"
WRONG = "000000"


@pytest.fixture(scope="module")
def pool() -> Iterator[tuple[ProcessPoolExecutor, object]]:
    """Worker processes started once for the module (a spawned interpreter takes a while)."""
    ctx = mp.get_context("spawn")
    manager = ctx.Manager()
    ex = ProcessPoolExecutor(max_workers=WORKERS, mp_context=ctx)
    list(ex.map(_warm, range(WORKERS)))
    yield ex, manager
    ex.shutdown(cancel_futures=True)
    manager.shutdown()


def _warm(_: int) -> bool:
    return workers.warm()


def race(pool, p: Platform, verb: str, kwargs_list: list[dict]) -> list[dict]:
    """Run ``verb`` once per kwargs in parallel processes, all started together."""
    ex, manager = pool
    assert len(kwargs_list) <= WORKERS
    barrier = manager.Barrier(len(kwargs_list))
    at = p.clock.now().isoformat()
    futures = [
        ex.submit(
            workers.run,
            str(p.settings.home),
            p.settings.database_url,
            at,
            PASSPHRASE,
            barrier,
            verb,
            kw,
        )
        for kw in kwargs_list
    ]
    return [f.result(timeout=120) for f in futures]


NAMES = {101: "赵一", 102: "钱二", 103: "孙三", 104: "李四", 105: "周五"}


def person(p: Platform, n: int) -> dict:
    sub = p.subscribers.add_person(name=NAMES[n], id_number=id_number(n), phone=f"1380013{n:04d}")
    p.subscribers.accept_agreement(sub.id, accepted_by=sub.name)
    return sub


def codes(results: list[dict]) -> Counter:
    return Counter("ok" if "ok" in r else r["error"] for r in results)


# --- 1. one paid application, parallel approvals ------------------------------------------------
def test_parallel_approvals_issue_one_certificate(pool, any_platform):
    p = any_platform
    sub = person(p, 101)
    app = p.certificates.apply(subscriber_id=sub.id, profile="person-signing", csr=make_csr())
    p.certificates.pay(application_id=app.id, years=1)
    results = race(pool, p, "approve", [{"application_id": app.id, "officer": OFFICER}] * 6)
    assert codes(results) == {"ok": 1, "illegal_transition": 5}, results
    serial = next(r["ok"]["serial"] for r in results if "ok" in r)
    with p.db.read() as s:
        certs = (
            s.execute(select(Certificate).where(Certificate.application_id == app.id))
            .scalars()
            .all()
        )
        assert [c.serial_hex for c in certs] == [serial]
        a = s.get(Application, app.id)
        assert a.state == "approved" and a.certificate_id == certs[0].id
        pays = s.execute(select(Payment).where(Payment.application_id == app.id)).scalars()
        assert [(x.consumed_at is not None, x.certificate_id) for x in pays] == [
            (True, certs[0].id)
        ]
    assert count(p, AuditEvent, AuditEvent.action == "certificate.issued") == 1
    assert p.verify_audit().ok


# --- 3. one application, parallel payments ------------------------------------------------------
def test_parallel_payments_are_accepted_once(pool, any_platform):
    p = any_platform
    sub = person(p, 102)
    app = p.certificates.apply(subscriber_id=sub.id, profile="person-signing", csr=make_csr())
    results = race(pool, p, "pay", [{"application_id": app.id}] * 7)
    assert codes(results) == {"ok": 1, "already_paid": 6}, results
    assert all(
        (r["type"], r["field"]) == ("Conflict", "application_id") for r in results if "error" in r
    )
    assert count(p, Payment, Payment.application_id == app.id) == 1
    assert p.verify_audit().ok


# --- 2. one holder, parallel seal creation -----------------------------------------------------
def test_parallel_seal_creation_leaves_one_live_seal(pool, any_platform):
    p = any_platform
    sub = person(p, 103)
    cert = _issued(p, sub)
    form = {
        "business_type": "new",
        "project": "并发测试",
        "holder_name": sub.name,
        "id_type": "id_card",
        "id_number": id_number(103),
        "declaration_accepted": True,
    }
    kw = {
        "subscriber_id": sub.id,
        "kind": "personal",
        "certificate_serial": cert.serial,
        "form": form,
    }
    results = race(pool, p, "seal_create", [kw] * 6)
    assert codes(results) == {"ok": 1, "duplicate": 5}, results
    assert all((r["type"], r["field"]) == ("Conflict", "kind") for r in results if "error" in r)
    with p.db.read() as s:
        live = s.execute(select(Seal.es_id).where(Seal.subscriber_id == sub.id)).scalars().all()
    assert live == [next(r["ok"]["es_id"] for r in results if "ok" in r)]
    seal_dirs = sorted(x.name for x in (p.settings.home / "seals").iterdir())
    assert seal_dirs == live  # no files of a loser, no temporary folder left behind
    assert p.verify_audit().ok


def _issued(p: Platform, sub: dict) -> dict:
    app = p.certificates.apply(subscriber_id=sub.id, profile="person-signing", pin=PIN)
    p.certificates.pay(application_id=app.id, years=1)
    return p.certificates.approve(app.id, officer=OFFICER)


def _seal(p: Platform, n: int) -> tuple[dict, dict]:
    sub = person(p, n)
    cert = _issued(p, sub)
    seal = p.seals.create(
        subscriber_id=sub.id,
        kind="personal",
        certificate_serial=cert.serial,
        form={
            "business_type": "new",
            "project": "并发测试",
            "holder_name": sub.name,
            "id_type": "id_card",
            "id_number": id_number(n),
            "declaration_accepted": True,
        },
    )
    return seal, cert


def _key(p: Platform, serial: str) -> PlatformKey:
    with p.db.read() as s:
        cert = s.execute(select(Certificate).where(Certificate.serial_hex == serial)).scalar_one()
        return s.get(PlatformKey, cert.platform_key_id)


def _locks(p: Platform) -> int:
    return count(p, AuditEvent, AuditEvent.action == "seal.pin_locked")


# --- 4. parallel PIN guesses ----------------------------------------------------------------------
def test_parallel_wrong_pins_are_counted_exactly(pool, any_platform):
    p = any_platform
    seal, cert = _seal(p, 104)
    results = race(pool, p, "unlock", [{"seal": seal.es_id, "pin": WRONG}] * WORKERS)
    # exactly MAX_PIN_FAILURES guesses were judged; the rest met a locked seal
    judged = [r for r in results if r["error"] == "wrong_pin" or "now locked" in r["message"]]
    assert len(judged) == MAX_PIN_FAILURES, results
    assert codes(results) == {
        "wrong_pin": MAX_PIN_FAILURES - 1,
        "seal_locked": WORKERS - MAX_PIN_FAILURES + 1,
    }, results
    key = _key(p, cert.serial)
    assert (key.failed_attempts, key.locked) == (MAX_PIN_FAILURES, True)
    assert _locks(p) == 1
    after = race(pool, p, "unlock", [{"seal": seal.es_id, "pin": PIN}])  # the right one
    assert after[0]["error"] == "seal_locked"
    assert _key(p, cert.serial).failed_attempts == MAX_PIN_FAILURES
    assert p.verify_audit().ok


def test_a_right_pin_among_wrong_ones_is_judged_as_in_some_serial_order(pool, any_platform):
    p = any_platform
    seal, cert = _seal(p, 105)
    tries = [{"seal": seal.es_id, "pin": WRONG}] * (WORKERS - 1)
    tries.insert(WORKERS // 2, {"seal": seal.es_id, "pin": PIN})
    results = race(pool, p, "unlock", tries)
    right, wrongs = results[WORKERS // 2], results[: WORKERS // 2] + results[WORKERS // 2 + 1 :]
    judged = [r for r in wrongs if r["error"] == "wrong_pin" or "now locked" in r["message"]]
    met_lock = [r for r in wrongs if r not in judged]
    key = _key(p, cert.serial)
    assert key.locked == (key.failed_attempts == MAX_PIN_FAILURES)
    assert key.failed_attempts <= MAX_PIN_FAILURES
    if "ok" in right:
        # wrong guesses before the right one were forgiven by it; those after count afresh
        before = len(judged) - key.failed_attempts
        assert 0 <= before < MAX_PIN_FAILURES
        assert key.failed_attempts == min(len(wrongs) - before, MAX_PIN_FAILURES)
        assert len(met_lock) == len(wrongs) - before - key.failed_attempts
    else:
        # the right PIN came after the lock: its reply is a locked seal's, word for word
        assert len(judged) == MAX_PIN_FAILURES and key.locked
        assert met_lock, results
        assert {k: right[k] for k in ("error", "message", "field")} == {
            k: met_lock[0][k] for k in ("error", "message", "field")
        }
    assert _locks(p) == (1 if key.locked else 0)
    assert p.verify_audit().ok


# --- parallel signing with one confirmation -------------------------------------------------------
def test_parallel_signings_with_one_confirmation_sign_once(pool, any_platform, tmp_path):
    """Eight processes sign one document with one confirmation (a double-clicked button, a
    retrying client): one signature is made; the others get that signature back (replayed) or
    are told the confirmation is used; no second record, and after a sweep no stray file."""
    import datetime as dt

    from tests.fixtures.samples import contract_pdf
    from tests.integration.signing_flow import outbox_lines, read_code
    from yinxin.store.models.signing import SignatureRecord

    p = any_platform
    seal, _cert = _seal(p, 105)
    sub = p.subscribers.find_person(id_number(105))
    doc = contract_pdf(1, title="并发签署")
    src = tmp_path / "contract.pdf"
    src.write_bytes(doc)
    outbox = p.settings.outbox_dir / "sms.jsonl"
    before = outbox_lines(outbox)
    ch = p.signing.request_confirmation(
        signer_subscriber_id=sub.id, document=doc, document_name="并发签署.pdf"
    )
    code = read_code(outbox, f"1380013{105:04d}", after=before)
    token = p.signing.confirm(
        ch.challenge_id, code, signer_subscriber_id=sub.id, document=doc
    ).confirmation_token
    results = race(
        pool,
        p,
        "sign",
        [{"pdf": str(src), "seal": seal.es_id, "pin": PIN, "signer": sub.id, "token": token}]
        * WORKERS,
    )
    made = [r["ok"] for r in results if "ok" in r]
    assert [m["replayed"] for m in made].count(False) == 1, results
    assert len({m["sha256"] for m in made}) == 1 and len({m["record"] for m in made}) == 1
    assert set(codes(results)) <= {"ok", "confirmation_used"}, results
    assert count(p, SignatureRecord, SignatureRecord.intent_challenge == ch.challenge_id) == 1
    p.archive.sweep(older_than=dt.timedelta(0))
    assert {k for k, _ in p.archive.files.keys()} == {d.sha256 for d in p.archive.documents(None)}
    assert p.verify_audit().ok
