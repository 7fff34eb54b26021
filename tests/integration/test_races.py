"""Races between a use and the verb that forbids it, on a real database (SQLite file and
PostgreSQL): whatever is committed first decides, and nothing is used after it was stopped.

Each race is driven the same way: the use (a signature, a batch) runs up to the point where its
work is done but not yet recorded; there, a second thread — its own transaction, committed —
carries out the stopping verb (a seal frozen or revoked, a member's grant withdrawn, the
certificate frozen); then the use goes on. The outcome must be the one a serial order gives:
the use refused, nothing recorded, the one-time code still unused.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from tests.dbdump import count
from tests.fixtures.samples import contract_pdf
from tests.integration.signing_flow import OFFICER, World, build_world, confirm, sign_as
from yinxin.app import Platform
from yinxin.clock import stopped
from yinxin.errors import Forbidden
from yinxin.signing import batch as batch_module
from yinxin.signing import service as service_module
from yinxin.store.models.notify import IntentChallenge
from yinxin.store.models.signing import SignatureRecord


class Meeting:
    """``threading.Barrier(parties).wait(timeout=seconds)`` without a timed wait: whether all
    parties came in time. The suite also runs under libfaketime (+400 days), where a timed
    wait never times out (``yinxin.clock.stopped`` says why), and several races here rely on
    the wait giving up: on SQLite the other party is held at the write lock this one has."""

    def __init__(self, parties: int = 2, seconds: float = 3.0) -> None:
        self.parties, self.seconds = parties, seconds
        self._lock, self._arrived, self._all = threading.Lock(), 0, threading.Event()

    def wait(self) -> bool:
        with self._lock:
            self._arrived += 1
            if self._arrived >= self.parties:
                self._all.set()
        return stopped(self._all, self.seconds, tick=0.01)


def join(t: threading.Thread, seconds: float) -> None:
    """``t.join(seconds)`` in short sleeps: under libfaketime a timed join never gives up, and a
    thread waiting for a lock its caller holds would be waited for for ever."""
    end = time.monotonic() + seconds
    while t.is_alive() and time.monotonic() < end:
        time.sleep(0.01)


@pytest.fixture
def world(any_platform: Platform, clock) -> World:
    return build_world(any_platform, clock)


def in_another_thread(action: Callable[[], object]) -> None:
    """Run ``action`` in a thread of its own (its own connection and transaction) and wait."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as e:  # pragma: no cover - reported below
            failure.append(e)

    t = threading.Thread(target=run)
    t.start()
    join(t, 60)
    assert not t.is_alive(), "the racing verb did not finish"
    assert not failure, failure


STOPS: dict[str, tuple[Callable[[World], object], str]] = {
    "seal frozen": (
        lambda w: w.p.seals.freeze(w.jia.seal.es_id, actor=OFFICER, note="争议"),
        "seal_not_active",
    ),
    "seal revoked": (
        lambda w: w.p.seals.revoke(w.jia.seal.es_id, reason="holder_request", actor=OFFICER),
        "seal_not_active",
    ),
    "grant withdrawn": (
        lambda w: w.p.seals.withdraw(w.jia.seal.es_id, w.member.id, actor="单位管理员"),
        "not_authorized",
    ),
    "certificate frozen": (
        lambda w: w.p.certificates.freeze(w.org_cert.serial, actor=OFFICER),
        "certificate_not_valid",
    ),
}


@pytest.mark.parametrize("stop", list(STOPS))
def test_a_seal_stopped_while_a_document_is_signed_is_not_used(world, monkeypatch, stop):
    w = world
    action, code = STOPS[stop]
    doc = contract_pdf(1, title="买卖合同")
    token = confirm(w, w.jia, doc)
    real = service_module.sign_pdf_detailed

    def sign_then_stop(req):
        made = real(req)
        in_another_thread(lambda: action(w))  # committed before the signature is recorded
        return made

    monkeypatch.setattr(service_module, "sign_pdf_detailed", sign_then_stop)
    with pytest.raises(Forbidden) as refused:
        sign_as(w, w.jia, doc, token=token)
    assert refused.value.code == code, refused.value
    assert count(w.p, SignatureRecord) == 0
    with w.p.db.read() as s:
        assert {c.state for c in s.query(IntentChallenge)} == {"confirmed"}  # not used up
    assert w.p.verify_audit().ok


def test_a_seal_frozen_while_a_batch_is_signed_signs_none_of_it(world, monkeypatch):
    w = world
    items = [
        batch_module.BatchItem(contract_pdf(1, title=f"批量合同{i}"), f"批量{i}.pdf", None, "甲方")
        for i in range(3)
    ]
    w.clock.advance(minutes=7)
    ch = w.p.batch.request_code(signer_subscriber_id=w.jia.id, items=items)
    from tests.integration.signing_flow import read_code

    code = read_code(w.outbox, w.jia.phone)
    real = batch_module.BatchSigning._sign_all

    def sign_then_freeze(self, checked, unlocked, level):
        out = real(self, checked, unlocked, level)
        in_another_thread(lambda: w.p.seals.freeze(w.jia.seal.es_id, actor=OFFICER))
        return out

    monkeypatch.setattr(batch_module.BatchSigning, "_sign_all", sign_then_freeze)
    with pytest.raises(Forbidden) as refused:
        w.p.batch.sign(
            items,
            seal=w.jia.seal.es_id,
            pin=w.jia.pin,
            signer_subscriber_id=w.jia.id,
            challenge_id=ch.challenge_id,
            code=code,
        )
    assert refused.value.code == "seal_not_active", refused.value
    assert count(w.p, SignatureRecord) == 0
    with w.p.db.read() as s:
        assert s.get(IntentChallenge, ch.challenge_id).state == "pending"
    assert w.p.verify_audit().ok


def start_racing(action: Callable[[], object], wait: float = 2.0) -> threading.Thread:
    """Start ``action`` in a thread of its own and give it ``wait`` seconds to finish; one that
    waits for a lock the caller holds goes on waiting (join it after the caller's commit)."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as e:  # pragma: no cover - reported by the test
            failure.append(e)

    t = threading.Thread(target=run)
    t.failure = failure  # type: ignore[attr-defined]
    t.start()
    join(t, wait)
    return t


def test_a_pin_leak_reported_while_another_seal_on_the_key_is_revoked_keeps_it_revoked(
    world, monkeypatch
):
    """A PIN leak freezes every live seal the PIN opens. A seal on that key revoked while the
    leak is being reported must stay revoked — not be brought back to frozen (and then to
    active by an unfreeze) by the leak writing over a state it read before the revocation."""
    from tests.integration.signing_flow import _form
    from yinxin.seals import holds as holds_module

    w = world
    finance = w.p.seals.create(
        subscriber_id=w.org.id,
        kind="finance",
        certificate_serial=w.org_cert.serial,
        form=_form("王五", "350102198511223455"),
        code="1101080012347",
    )
    real = holds_module.seals_on_key
    racing: list[threading.Thread] = []

    def listed_then_revoked(s, row, **kw):
        found = real(s, row, **kw)
        racing.append(
            start_racing(
                lambda: w.p.seals.revoke(finance.es_id, reason="holder_request", actor=OFFICER)
            )
        )
        return found

    monkeypatch.setattr(holds_module, "seals_on_key", listed_then_revoked)
    w.p.seals.report_pin_leak(w.jia.seal.es_id, actor="王五", note="印章密码疑似泄漏")
    (t,) = racing
    join(t, 60)
    assert not t.is_alive() and not t.failure, t.failure  # type: ignore[attr-defined]
    after = w.p.seals.get(finance.es_id)
    assert after.state == "revoked", after
    assert w.p.seals.get(w.jia.seal.es_id).state == "frozen"
    assert w.p.verify_audit().ok


@pytest.mark.parametrize("stop", ["seal frozen", "grant withdrawn"])
def test_an_authorization_granted_while_the_seal_is_stopped_is_not_made(world, monkeypatch, stop):
    """Granting automatic signing unlocks the seal with its PIN (every usability check), then
    writes the authorization with a copy of the key. A seal frozen, or the granting member's
    grant withdrawn, in between must not leave an active authorization that signs without a
    PIN: the grant is refused and nothing is written."""
    import datetime as dt

    from yinxin.store.models.authorizations import SigningAuthorization

    w = world
    action, code = STOPS[stop]
    real = w.p.seals.unlock_for_signing

    def unlock_then_stop(*a, **kw):
        unlocked = real(*a, **kw)
        in_another_thread(lambda: action(w))
        return unlocked

    monkeypatch.setattr(w.p.seals, "unlock_for_signing", unlock_then_stop)
    with pytest.raises(Forbidden) as refused:
        w.p.authorizations.grant(
            w.jia.seal.es_id,
            pin=w.jia.pin,
            granted_by_subscriber_id=w.member.id,
            max_documents=5,
            valid_until=w.clock.now() + dt.timedelta(days=30),
            actor="王五（管理员）",
        )
    assert refused.value.code == code, refused.value
    assert count(w.p, SigningAuthorization) == 0
    assert w.p.verify_audit().ok


@pytest.mark.postgres
def test_first_facts_recorded_at_once_on_an_untracked_contract_both_count(
    make_platform, clock, monkeypatch
):
    """A newly signed contract is tracked by whichever comes first: the reminder job, a
    delivery recorded, a payment. Two of them at once must not end in a database error for
    one (two tracking rows for one contract are refused by the unique index): the second
    waits for the first and finds the contract tracked."""
    from tests.integration.test_obligations import SIGNED, bj, sign_both
    from yinxin.contracts import obligations as obligations_module
    from yinxin.store.models.obligations import ContractTracking, ObligationPayment

    clock.set(SIGNED)
    p = make_platform("postgres")
    w = build_world(p, clock)
    cid = sign_both(p, clock, w, "platform-integration", {})
    clock.set(bj(2026, 2, 12))
    both_checked = Meeting(2)
    real = obligations_module.Obligations._track_in

    def track_in(self, s, contract, actor, now):
        # both callers found the contract untracked: let them write at once (or, in time, the
        # other one waits for this one's lock: it will find the contract tracked)
        both_checked.wait()
        return real(self, s, contract, actor, now)

    monkeypatch.setattr(obligations_module.Obligations, "_track_in", track_in)
    failures: list[BaseException] = []

    def run(action: Callable[[], object]) -> None:
        try:
            action()
        except BaseException as e:
            failures.append(e)

    threads = [
        threading.Thread(
            target=run, args=(lambda: p.obligations.record(cid, "delivered", "2026-02-12"),)
        ),
        threading.Thread(target=run, args=(lambda: p.obligations.pay(cid, "1000", "2026-02-12"),)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        join(t, 60)
    assert not failures, failures
    assert count(p, ContractTracking, ContractTracking.contract_id == cid) == 1
    assert count(p, ObligationPayment) == 1
    assert p.obligations.view(cid).delivered_on is not None
    assert p.verify_audit().ok


def _seq(p: Platform, action: str, subject: str) -> int | None:
    from sqlalchemy import select

    from yinxin.store.models import AuditEvent

    with p.db.read() as s:
        return s.scalar(
            select(AuditEvent.seq).where(
                AuditEvent.action == action, AuditEvent.subject_id == subject
            )
        )


def test_a_seal_made_while_its_certificate_is_revoked_is_made_before_or_not_at_all(
    world, monkeypatch
):
    """A seal needs a valid certificate (004 填表说明); creation checks it, draws the picture,
    then checks again in the transaction that writes the seal and its CA-signed record. A
    revocation of that certificate committed between the check and the commit must not let
    the seal be made on a revoked certificate: either the seal is made first (and the
    revocation after it), or it is refused."""
    from tests.integration.signing_flow import _form
    from yinxin.seals import issuance as issuance_module

    w = world
    real = issuance_module.certificate_for
    calls: list[int] = []
    racing: list[threading.Thread] = []

    def checked_then_revoked(*a, **kw):
        cert = real(*a, **kw)
        calls.append(1)
        if len(calls) == 2:  # the check inside the writing transaction
            racing.append(
                start_racing(
                    lambda: w.p.certificates.revoke(
                        w.org_cert.serial, reason="no_longer_needed", actor=OFFICER
                    )
                )
            )
        return cert

    monkeypatch.setattr(issuance_module, "certificate_for", checked_then_revoked)
    try:
        made = w.p.seals.create(
            subscriber_id=w.org.id,
            kind="finance",
            certificate_serial=w.org_cert.serial,
            form=_form("王五", "350102198511223455"),
            code="1101080012347",
        )
    except Forbidden as e:
        assert e.code == "certificate_not_valid", e
        made = None
    (t,) = racing
    join(t, 60)
    assert not t.is_alive() and not t.failure, t.failure  # type: ignore[attr-defined]
    revoked = _seq(w.p, "certificate.revoke", w.org_cert.serial)
    assert revoked is not None
    if made is not None:
        created = _seq(w.p, "seal.create", made.es_id)
        assert created is not None and created < revoked, (created, revoked)
    assert w.p.verify_audit().ok


def desk_contract(p: Platform, number: str, starts_on, ends_on) -> object:
    """An O&M contract put under the service desk (the same parties and fee each time)."""
    return p.desk.add_contract(
        number,
        title="运维服务合同",
        party_a="北京印信示范科技有限公司",
        party_b="某运维公司",
        annual_fee="120000",
        starts_on=starts_on,
        ends_on=ends_on,
        actor="运维主管",
    )


def added_twice_at_once(p: Platform, model: type, add: Callable[[], object], field: str) -> None:
    """``add`` run by two threads at once, each held where it makes its ``model`` row until the
    other has made its own — both checked and found none — (or, in time, the other waits for
    this one's lock and finds the row): one row, and the other call refused 409 naming
    ``field``, never a database error."""
    from sqlalchemy import event

    from yinxin.errors import Conflict

    both_checked = Meeting(2)

    def made_after_both_checked(target, args, kwargs) -> None:
        both_checked.wait()

    results: list[object] = []

    def run() -> None:
        try:
            results.append(add())
        except BaseException as e:
            results.append(e)

    event.listen(model, "init", made_after_both_checked)
    threads = [threading.Thread(target=run) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            join(t, 60)
    finally:
        event.remove(model, "init", made_after_both_checked)
    refusals = [r for r in results if isinstance(r, BaseException)]
    assert len(results) == 2 and len(refusals) == 1, results
    assert isinstance(refusals[0], Conflict) and refusals[0].field == field, refusals
    assert count(p, model) == 1
    assert p.verify_audit().ok


def test_one_contract_put_under_service_twice_at_once_is_added_once(any_platform):
    """Two operators add the same O&M contract to the service desk at the same moment (or one
    double-clicks): one adds it, the other is told it is already under service (409), never a
    database error."""
    import datetime as dt

    from yinxin.store.models.desk import DeskContract

    p = any_platform
    added_twice_at_once(
        p,
        DeskContract,
        lambda: desk_contract(p, "HT-2026-003", dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
        "number",
    )


def test_one_flow_signer_signed_automatically_twice_at_once_signs_once(world, monkeypatch):
    """An API client asks for a flow signer's automatic signature and, not hearing back in
    time, asks again: the two run at once. The signer signs once — one signature recorded,
    one use of the authorization counted, one current version of each document kept — and
    the other call is refused with nothing of it left behind. (Both batches were recorded
    and counted before the flow noticed the signer had signed.)"""
    import datetime as dt

    from yinxin.errors import YinxinError
    from yinxin.signing.flows import SignerSpec
    from yinxin.store.models.archive import ArchivedDocument

    w = world
    made = w.p.flows.create(
        "自动签署合同",
        documents=[("合同.pdf", contract_pdf(1))],
        signers=[SignerSpec(x.id, x.role, x.seal.es_id) for x in (w.jia, w.yi)],
        order="parallel",
        deadline=w.clock.now() + dt.timedelta(days=2),
    )
    started = w.p.flows.start(made.id)
    org_signer = next(x.signer_id for x in started.links if x.role == "甲方")
    auth = w.p.authorizations.grant(
        w.jia.seal.es_id,
        pin=w.jia.pin,
        granted_by_subscriber_id=w.member.id,
        max_documents=5,
        valid_until=w.clock.now() + dt.timedelta(days=30),
        actor="王五（管理员）",
    )

    def sign_automatically():
        return w.p.flows.sign_authorized(made.id, org_signer, auth.id, actor="api:合同系统")

    real = batch_module.BatchSigning._sign_all
    racing: list[threading.Thread] = []
    calls: list[int] = []

    def signed_then_the_retry_runs(self, checked, unlocked, level):
        out = real(self, checked, unlocked, level)
        calls.append(1)
        if len(calls) == 1:  # the first call: its retry runs now, to its end
            racing.append(start_racing(sign_automatically, wait=60))
        return out

    monkeypatch.setattr(batch_module.BatchSigning, "_sign_all", signed_then_the_retry_runs)
    with pytest.raises(YinxinError) as second:
        sign_automatically()
    assert second.value.code in ("already_signed", "illegal_transition"), second.value
    (t,) = racing
    assert not t.is_alive() and not t.failure, t.failure  # type: ignore[attr-defined]
    assert w.p.authorizations.get(auth.id).used_documents == 1
    assert count(w.p, SignatureRecord) == 1
    assert count(w.p, ArchivedDocument, ArchivedDocument.state == "active") == 1
    assert w.p.verify_audit().ok


def test_one_months_inspection_recorded_twice_at_once_is_recorded_once(any_platform):
    """The monthly on-site inspection is one per contract and month: two engineers recording
    it at the same moment get one record and one 409 naming ``month``, never a database
    error."""
    import datetime as dt

    from yinxin.store.models.desk import ServiceInspection

    p = any_platform
    desk_contract(p, "HT-2026-004", dt.date(2020, 1, 1), dt.date(2199, 12, 31))
    added_twice_at_once(
        p,
        ServiceInspection,
        lambda: p.desk.record_inspection(
            "HT-2026-004", inspector="工程师 李工", findings="系统运行正常"
        ),
        "month",
    )


def test_one_staff_account_added_twice_at_once_is_added_once(any_platform):
    """Two administrators add the same staff account at the same moment (or a form is sent
    twice): one account, and one 409 naming ``username``, never a database error."""
    from yinxin.store.models.access import StaffUser

    p = any_platform
    added_twice_at_once(
        p,
        StaffUser,
        lambda: p.staff.add(
            "desk1", password="一个足够长的口令 long enough", role="ra_officer", actor="admin"
        ),
        "username",
    )


def test_the_audit_chain_checked_while_events_are_written_is_found_intact(any_platform):
    """``yinxin audit verify`` (and ``GET /api/v1/audit/verify``) on a live platform: an event
    committed by another process while the chain is being walked must not be reported as a
    deleted tail ("events after N were deleted (head says N+1)") — a false alarm of
    tampering. The chain is walked up to the head as it was when the check began."""
    from yinxin.store import audit as audit_module

    p = any_platform
    written: list[int] = []

    def write_one() -> None:
        with p.db.transaction() as s:
            audit_module.record(
                s,
                at=p.clock.now(),
                actor="其他进程",
                action="test.written",
                subject_type="t",
                subject_id=len(written),
            )
        written.append(1)

    with p.db.read() as s:
        real_get = s.get

        def get(model, ident, *a, **kw):
            if model is audit_module.AuditHead and not written:
                # another process appends an event just before the head row is read
                in_another_thread(write_one)
            return real_get(model, ident, *a, **kw)

        s.get = get  # type: ignore[method-assign]
        verdict = audit_module.verify(s)
    assert written, "the concurrent event was not written"
    assert verdict.ok, verdict
    assert p.verify_audit().ok


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_one_contract_payment_sent_twice_at_once_is_recorded_once(make_platform, clock, db):
    """A double click sends the same payment (reference, amount, day) twice at the same
    moment: one payment is recorded, the other call answers with it, marked replayed."""
    from tests.integration.test_obligations import SIGNED, bj, sign_both
    from yinxin.store.models.obligations import ObligationPayment

    clock.set(SIGNED)
    p = make_platform(db)
    w = build_world(p, clock)
    cid = sign_both(p, clock, w, "platform-integration", {})
    clock.set(bj(2026, 2, 12))
    p.obligations.track(cid)
    results: list[object] = []
    start = Meeting(2, seconds=10)

    def pay() -> None:
        start.wait()
        try:
            results.append(p.obligations.pay(cid, "1000", "2026-02-12", reference="网银 0212"))
        except BaseException as e:
            results.append(e)

    threads = [threading.Thread(target=pay) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        join(t, 60)
    assert len(results) == 2 and not [r for r in results if isinstance(r, BaseException)], results
    assert sorted(r.replayed for r in results) == [False, True]  # type: ignore[attr-defined]
    assert count(p, ObligationPayment) == 1
    assert p.verify_audit().ok


def test_one_draft_revised_by_two_editors_at_once_keeps_one_and_refuses_the_other(
    any_platform, monkeypatch
):
    """Two editors revise the same version of a draft at the same moment: both pass the first
    check and render their PDF, then one is saved and the other is refused as stale (409,
    ``based_on``) under the contract's row lock — the second no longer replaces the first
    unseen."""
    from yinxin.contracts import render as render_module
    from yinxin.contracts.templates import get_template
    from yinxin.errors import Conflict

    p = any_platform
    t = get_template("om-service")
    c = p.contracts.draft(t.code, t.example_values(), actor="t")
    both_rendered = Meeting(2, seconds=10)
    real = render_module.render_contract

    def render_then_wait(*a, **kw):
        pdf = real(*a, **kw)
        both_rendered.wait()
        return pdf

    monkeypatch.setattr(render_module, "render_contract", render_then_wait)
    results: list[object] = []

    def revise(fee: str, who: str) -> None:
        try:
            results.append(
                p.contracts.revise(
                    c.id, c.values | {"annual_fee": fee}, based_on=c.pdf_sha256, actor=who
                )
            )
        except BaseException as e:
            results.append(e)

    threads = [
        threading.Thread(target=revise, args=("30000", "王五")),
        threading.Thread(target=revise, args=("40000", "赵六")),
    ]
    for th in threads:
        th.start()
    for th in threads:
        join(th, 60)
    refusals = [r for r in results if isinstance(r, BaseException)]
    assert len(results) == 2 and len(refusals) == 1, results
    assert isinstance(refusals[0], Conflict) and refusals[0].code == "stale", refusals
    (saved,) = [r for r in results if not isinstance(r, BaseException)]
    assert p.contracts.get(c.id).values["annual_fee"] == saved.values["annual_fee"]  # type: ignore[attr-defined]
    assert p.verify_audit().ok


def test_a_seal_frozen_while_an_authorized_batch_is_recorded_is_frozen_after_it(world, monkeypatch):
    """Signing under an authorization checks the seal again in the recording transaction.
    That check read the seal without holding it: on PostgreSQL a freeze committed between the
    check and the commit, and the signatures were recorded as made with a seal frozen before
    them. Now the seal's and its certificate's rows are held (``hold_usable``) as on the other
    signing paths: the freeze waits for the recording and comes after it in the audit chain,
    or (frozen first) the batch is refused."""
    import datetime as dt

    from yinxin.signing import authorizations as authorizations_module

    w = world
    auth = w.p.authorizations.grant(
        w.jia.seal.es_id,
        pin=w.jia.pin,
        granted_by_subscriber_id=w.org.id,
        max_documents=5,
        valid_until=w.clock.now() + dt.timedelta(days=30),
    )
    items = [
        batch_module.BatchItem(contract_pdf(1, title=f"授权合同{i}"), f"授权{i}.pdf", None, "甲方")
        for i in range(2)
    ]
    cls = authorizations_module.SigningAuthorizations
    real = cls._audit
    racing: list[threading.Thread] = []

    def checked_then_frozen(s, r, verb, *a, **kw):
        if verb == "used" and not racing:  # the use is checked, not yet recorded
            freeze = lambda: w.p.seals.freeze(w.jia.seal.es_id, actor=OFFICER, note="争议")  # noqa: E731
            racing.append(start_racing(freeze))
        return real(s, r, verb, *a, **kw)

    monkeypatch.setattr(cls, "_audit", staticmethod(checked_then_frozen))
    w.p.batch.sign_authorized(items, authorization_id=auth.id)
    assert len(racing) == 1
    (t,) = racing
    join(t, 60)
    assert not t.is_alive() and not t.failure, t.failure  # type: ignore[attr-defined]
    used = _seq(w.p, "authorization.used", str(auth.id))
    frozen = _seq(w.p, "seal.freeze", w.jia.seal.es_id)
    assert used is not None and frozen is not None
    assert used < frozen, "the seal was frozen before the signatures made with it were recorded"
    assert count(w.p, SignatureRecord) == 2
    assert w.p.seals.get(w.jia.seal.es_id).state == "frozen"
    assert w.p.verify_audit().ok


@pytest.mark.postgres
def test_two_signings_at_once_for_a_grants_last_use_sign_once(make_platform, clock, monkeypatch):
    """王五's grant allows one more signing (用印次数) and he signs two contracts at once (two
    tabs). The first holds the grant's row while its signature is recorded; the second waits
    for it there — seen waiting on a lock in ``pg_stat_activity``, no timed wait — and then
    finds the use spent: one signature, one use counted, the other refused naming the grant.
    (Read without the lock, both saw one use left and both signed.)"""
    from dataclasses import replace

    from sqlalchemy import text

    from yinxin.errors import YinxinError
    from yinxin.store.models.seals import SealGrant

    p = make_platform("postgres")
    w = build_world(p, clock)
    p.seals.withdraw(w.jia.seal.es_id, w.member.id, actor="单位管理员")
    grant = p.seals.grant(w.jia.seal.es_id, w.member.id, actor="单位管理员", max_uses=1)
    docs = [contract_pdf(1, title=f"最后一次用印{i}") for i in range(2)]
    tokens = [confirm(w, w.jia, docs[0], name="最后一次用印0.pdf")]
    clock.advance(seconds=61)  # the next code past the one-a-minute limit, the token still good
    tokens.append(confirm(replace(w, clock=None), w.jia, docs[1], name="最后一次用印1.pdf"))
    real = service_module.SigningService.record_signatures
    second: list[threading.Thread] = []
    outcome: list[BaseException | object] = []

    def sign_second() -> None:
        try:
            outcome.append(sign_as(w, w.jia, docs[1], token=tokens[1], name="最后一次用印1.pdf"))
        except BaseException as e:
            outcome.append(e)

    def waiting_on_a_lock() -> int:
        with p.db.engine.connect() as c:
            return c.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                )
            ).scalar_one()

    def record_while_the_other_comes(self, s, entries, **kw):
        if not second:  # the first signing, holding the grant: the second one runs now
            t = threading.Thread(target=sign_second)
            second.append(t)
            t.start()
            end = time.monotonic() + 60
            while t.is_alive() and not waiting_on_a_lock() and time.monotonic() < end:
                time.sleep(0.01)
            assert t.is_alive(), outcome  # it waits for this transaction, not done without it
        return real(self, s, entries, **kw)

    monkeypatch.setattr(
        service_module.SigningService, "record_signatures", record_while_the_other_comes
    )
    first = sign_as(w, w.jia, docs[0], token=tokens[0], name="最后一次用印0.pdf")
    (t,) = second
    join(t, 60)
    assert not t.is_alive()
    (refused,) = outcome
    assert isinstance(refused, YinxinError) and refused.code == "grant_used_up", refused
    assert f"grant #{grant.id}" in refused.message
    assert count(p, SignatureRecord) == 1 and first.record.id
    with p.db.read() as s:
        assert s.get(SealGrant, grant.id).uses == 1
    assert p.verify_audit().ok


def _apply_for(p: Platform, subscriber_id: int, csr: bytes) -> int:
    app = p.certificates.apply(subscriber_id=subscriber_id, profile="person-signing", csr=csr)
    p.certificates.pay(application_id=app.id, years=1)
    return app.id


def test_a_key_compromised_while_a_certificate_is_issued_for_it_revokes_that_one_too(
    any_platform, monkeypatch
):
    """The issuance checks the key (``refuse_compromised``) and is about to commit its
    certificate when a revocation for key compromise of another certificate of that key
    commits: the revocation, not seeing the certificate not yet committed, left it valid — a
    compromised key certified. Now both take a lock on the key's fingerprint: the revocation
    waits for the issuance and revokes its certificate too."""
    from tests.integration.test_ca_lifecycle import enrol, issue, make_csr, new_key
    from yinxin.registry import certificates as certificates_module

    p = any_platform
    a, b = enrol(p), enrol(p, n=1)
    key = new_key()
    mine = issue(p, a.person.id, csr=make_csr(key))
    app_id = _apply_for(p, b.person.id, make_csr(key))
    real = certificates_module.refuse_compromised
    racing: list[threading.Thread] = []

    def checked_then_compromised(*args, **kw):
        real(*args, **kw)
        if not racing:
            racing.append(
                start_racing(
                    lambda: p.certificates.revoke(
                        mine.serial, reason="key_compromise", actor=OFFICER
                    )
                )
            )

    monkeypatch.setattr(certificates_module, "refuse_compromised", checked_then_compromised)
    theirs = p.certificates.approve(app_id, officer=OFFICER)
    (t,) = racing
    join(t, 60)
    assert not t.is_alive() and not t.failure, t.failure  # type: ignore[attr-defined]
    c = p.certificates.get(theirs.serial)
    assert (c.status, c.revocation_reason) == ("revoked", "key_compromise")
    assert p.verify_audit().ok


def test_a_certificate_issued_while_its_key_is_revoked_as_compromised_is_refused(
    any_platform, monkeypatch
):
    """The other way round: the revocation for key compromise has found the certificates of
    the key and is about to commit when an issuance for that key checks it. It saw no
    compromise yet and issued. Now it waits for the revocation and is refused
    (``compromised_key``), nothing issued."""
    from tests.integration.test_ca_lifecycle import enrol, issue, make_csr, new_key
    from yinxin.errors import ValidationError
    from yinxin.registry.certificates import Certificates

    p = any_platform
    a, b = enrol(p), enrol(p, n=1)
    key = new_key()
    mine = issue(p, a.person.id, csr=make_csr(key))
    app_id = _apply_for(p, b.person.id, make_csr(key))
    real = Certificates._same_key
    racing: list[threading.Thread] = []

    def found_then_issued(self, s, c, *, anyone=False):
        rows = real(self, s, c, anyone=anyone)
        if anyone and not racing:
            racing.append(start_racing(lambda: p.certificates.approve(app_id, officer=OFFICER)))
        return rows

    monkeypatch.setattr(Certificates, "_same_key", found_then_issued)
    out = p.certificates.revoke(mine.serial, reason="key_compromise", actor=OFFICER)
    (t,) = racing
    join(t, 60)
    assert not t.is_alive()
    failure = t.failure  # type: ignore[attr-defined]
    assert len(failure) == 1 and isinstance(failure[0], ValidationError), failure
    assert failure[0].code == "compromised_key"
    assert out.same_key_revoked == []
    assert p.certificates.application(app_id).state == "pending"
    assert [c.serial for c in p.certificates.list()] == [mine.serial]
    assert p.verify_audit().ok
