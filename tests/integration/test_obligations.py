"""Contract obligations tracked after signing (issue 14 §3) on a real platform: a SQLite file,
the official calendar, contracts drafted from the template library and signed by both parties
through a sign flow.

The signed contracts are made once per module (the slow part: a CA, two certificates, two
seals, two sign flows) with every clock frozen on 2026-01-05 09:00 Beijing — a fixed day, so
the 2026 official calendar (Spring Festival, make-up Saturdays, Qingming) is what the due dates
cross, whatever the real date (the suite also runs under ``faketime +400d``). Each test works on
its own copy of that data directory with its own frozen clock.

* the 002 schedule: delivery due 40 days after signing, acceptance deemed after 7 working days
  and 3 more after a reminder across Spring Festival, the 75 % instalment due 30 working days
  after (checked against ``terms.payment_schedule``), the 25 % one after go-live;
* a partial payment, then the overdue penalty counted to the day by hand, and its cap;
* reminders by the ``obligations.remind`` job: 7 and 1 working days before and the first day
  overdue, each sent exactly once though the job runs twice, the ``obligation.due`` audit event
  turned into a webhook delivery; nothing after payment;
* refusals (unknown contract, unsigned contract, too much money, a day before the contract,
  malformed amounts, an event out of order) naming the field, every table unchanged;
* the CLI (``yinxin obligation … --json``) and the HTTP API.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from decimal import Decimal

import pytest

from tests import dbdump
from tests.conftest import PASSPHRASE, cli_env
from tests.integration.signing_flow import build_world, new_platform, outbox_lines, read_code
from yinxin.app import Platform
from yinxin.clock import FrozenClock
from yinxin.contracts.obligations import STATUSES, read_milestone
from yinxin.contracts.service import ContractSigner
from yinxin.contracts.templates import get_template
from yinxin.contracts.terms import PLATFORM_002, payment_schedule
from yinxin.errors import Conflict, IllegalTransition, NotFound, ValidationError
from yinxin.jobs.registry import by_name, default_jobs
from yinxin.settings import Settings
from yinxin.store.models import AuditEvent

BJ = dt.timezone(dt.timedelta(hours=8))
SIGNED = dt.datetime(2026, 1, 5, 9, 0, tzinfo=BJ)
D = dt.date


def bj(y: int, m: int, d: int, h: int = 10) -> dt.datetime:
    return dt.datetime(y, m, d, h, 0, tzinfo=BJ)


def sign_both(p: Platform, clock: FrozenClock, w, code: str, extra: dict) -> int:
    """A contract from template ``code`` drafted for the organization and signed by 甲方 and
    乙方 through a sign flow, as the signers do it (code from the outbox, PIN)."""
    t = get_template(code)
    values = t.example_values()
    # the world's parties, whose seals sign: a seal must be the party's the contract names
    values[t.party("甲方").name], values[t.party("乙方").name] = w.org.name, w.person.name
    values |= {b.name: w.org.uscc for b in t.blanks if b.type == "uscc" and b.party == "甲方"}
    values |= extra
    c = p.contracts.draft(code, values, owner_subscriber_id=w.org.id, actor="合同管理员")
    sent = p.contracts.start_signing(
        c.id,
        [
            ContractSigner("甲方", w.jia.id, w.jia.seal.es_id),
            ContractSigner("乙方", w.yi.id, w.yi.seal.es_id),
        ],
        deadline=clock.now() + dt.timedelta(days=3),
    )
    for link in sent.links:
        party = w.jia if link.role == "甲方" else w.yi
        clock.advance(minutes=7)
        before = outbox_lines(w.outbox)
        ch = p.flows.request_code(link.token)
        code_ = read_code(w.outbox, party.phone, after=before)
        p.flows.sign(link.token, pin=party.pin, challenge_id=ch.challenge_id, code=code_)
    assert p.contracts.get(c.id).state == "signed"
    return c.id


@pytest.fixture(scope="module")
def golden(tmp_path_factory) -> dict:
    """A data directory with a 002 contract and a 003 contract, both signed on 2026-01-05 by
    甲方 (the organization's contract seal) and 乙方, and a 002 contract left as a draft."""
    home = tmp_path_factory.mktemp("obligations") / "home"
    clock = FrozenClock(SIGNED)
    p = new_platform(home, clock)
    w = build_world(p, clock)
    ids = {}
    for name, code, extra in (
        ("002", "platform-integration", {}),
        (
            "003",
            "om-service",
            # 003 第十条(一)2 says 千分之五 (5‰) a day, as the template's example
            {"start_date": "2026-01-01", "end_date": "2027-12-31", "late_rate": "5‰"},
        ),
    ):
        ids[name] = sign_both(p, clock, w, code, extra)
    draft = p.contracts.draft(
        "platform-integration",
        get_template("platform-integration").example_values(),
        owner_subscriber_id=w.org.id,
    )
    ids["draft"] = draft.id
    ids["org"], ids["person"] = w.org.id, w.person.id
    p.close()
    return {"home": home, **ids}


@pytest.fixture
def world(golden, tmp_path):
    """A copy of the golden data directory, a platform on it, its clock frozen the next day."""
    home = tmp_path / "home"
    shutil.copytree(golden["home"], home)
    clock = FrozenClock(bj(2026, 1, 6))
    p = Platform(
        Settings(home=home, database_url=f"sqlite:///{home / 'yinxin.db'}"),
        clock=clock,
        passphrase=PASSPHRASE,
    )
    yield p, clock, golden
    p.close()


def by_label(view, label: str):
    (o,) = [o for o in view.obligations if o.label.startswith(label)]
    return o


def obligation_messages(p: Platform) -> list[dict]:
    path = p.settings.outbox_dir / "sms.jsonl"
    lines = path.read_text("utf-8").splitlines() if path.exists() else []
    return [m for m in map(json.loads, lines) if m.get("template_id") == "obligation_due"]


def audit_actions(p: Platform, action: str) -> list[dict]:
    from sqlalchemy import select

    with p.db.read() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
        return [json.loads(r.data) for r in rows]


# --- reading the terms ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "words, rule",
    [
        ("甲乙双方签署项目验收合格报告后 30 个工作日内", ("acceptance", 0, 30, 0)),
        (
            "双方签署项目验收合格报告后，系统上线运行满 12 个月的 30 个工作日内",
            ("go_live", 12, 30, 0),
        ),
        ("协议生效后十日内", ("signing", 0, 0, 10)),
        ("验收合格后十五日内", ("acceptance", 0, 0, 15)),
        ("验收后满一年保证期，无质量问题", ("acceptance", 12, 0, 0)),
        ("合同签订后，甲方支付软件预付款", ("signing", 0, 0, 0)),
        ("收到发票后付款", (None, 0, 0, 0)),
        # a period in months without 满: not due on the event's own day
        ("验收合格后两个月内", ("acceptance", 2, 0, 0)),
        ("系统上线后 12 个月", ("go_live", 12, 0, 0)),
        ("验收合格后一年内", ("acceptance", 12, 0, 0)),
        # a period the rules cannot read stays pending for a person, never "due that day"
        ("验收合格后两周内", (None, 0, 0, 0)),
        ("项目验收后半年内", (None, 0, 0, 0)),
        ("验收合格后，于 2026 年 12 月 31 日前支付", (None, 0, 0, 0)),
        ("合同签订之日起，甲方支付预付款", ("signing", 0, 0, 0)),
        ("第1年运维费，合同签订后十日内", ("signing", 0, 0, 10)),  # an ordinal, not a period
    ],
)
def test_schedule_words_read_into_rules(words: str, rule: tuple) -> None:
    assert read_milestone(words) == rule


# --- the 002 schedule -----------------------------------------------------------------------------
def test_002_schedule_deemed_acceptance_across_spring_festival(world) -> None:
    p, clock, g = world
    cid = g["002"]
    v = p.obligations.view(cid)  # a signed contract is tracked when first read
    assert v.effective_on == D(2026, 1, 5) and v.stage == "signed"
    assert [o.kind for o in v.obligations] == ["delivery", "acceptance", "payment", "payment"]
    delivery = by_label(v, "完成集成及调测")
    # 2026-01-05 + 40 days = 2026-02-14, a make-up working Saturday before Spring Festival
    assert delivery.due_on == D(2026, 2, 14) and delivery.status == "due"
    assert p.obligations.calendar.day(D(2026, 2, 14)).kind == "makeup_workday"
    first, second = by_label(v, "第1期"), by_label(v, "第2期")
    assert (first.amount, second.amount) == (Decimal("1305000.00"), Decimal("435000.00"))
    assert first.status == second.status == "pending" and first.due_on is None
    assert v.total_due == Decimal("1740000.00")

    clock.set(bj(2026, 2, 12))
    p.obligations.record(cid, "delivered", "2026-02-12", actor="乙方项目经理")
    v = p.obligations.view(cid)
    assert by_label(v, "完成集成及调测").status == "met"
    # 7 working days after 02-12: 13 (Fri), 14 (make-up Sat), then Spring Festival 15–23 off,
    # 24, 25, 26, 27, 28 (make-up Sat) → 2026-02-28
    assert by_label(v, "组织验收").due_on == D(2026, 2, 28)
    clock.set(bj(2026, 2, 26))
    p.obligations.record(cid, "reminded", D(2026, 2, 26))
    # 3 working days after the reminder: 27, 28 (make-up Sat), 03-02 (Mon) → the later window
    assert by_label(p.obligations.view(cid), "组织验收").due_on == D(2026, 3, 2)
    clock.set(bj(2026, 3, 2, 23))
    assert p.obligations.view(cid).stage == "reminded"  # the last day of the window
    assert audit_actions(p, "obligation.deemed") == []
    clock.set(bj(2026, 3, 3, 0))
    v = p.obligations.view(cid)
    assert v.stage == "accepted" and v.acceptance_deemed and v.accepted_on == D(2026, 3, 3)
    assert "自 2026-03-03 起视为验收通过" in v.acceptance_explanation
    assert by_label(v, "组织验收").state == "deemed"
    # the first instalment: 30 working days after acceptance, as the terms module counts it
    (expected, _) = payment_schedule(
        "1740000", PLATFORM_002, {"acceptance": D(2026, 3, 3)}, p.obligations.calendar
    )
    first = by_label(v, "第1期")
    assert first.due_on == expected.due == D(2026, 4, 15) and first.status == "due"
    assert "其后第 30 个工作日为 2026-04-15" in first.due_explanation
    p.obligations.view(cid)  # read again: deemed once only
    assert len(audit_actions(p, "obligation.deemed")) == 1

    clock.set(bj(2026, 3, 10))
    v = p.obligations.record(cid, "went_live", "2026-03-10")
    second = by_label(v, "第2期")
    if p.obligations.calendar.covers(2027):
        (_, due) = payment_schedule(
            "1740000",
            PLATFORM_002,
            {"acceptance": D(2026, 3, 3), "go_live": D(2026, 3, 10)},
            p.obligations.calendar,
        )
        assert second.due_on == due.due
    else:  # 12 months on is 2027: no official calendar yet, so the due date waits for it
        assert second.due_on is None and second.status == "pending"
        assert "2027" in second.due_explanation and "到期日待定" in second.due_explanation
    assert v.stage == "live" and v.live_on == D(2026, 3, 10)
    events = [e for e in audit_actions(p, "obligation.went_live")]
    assert len(events) == 1 and events[0]["on"] == "2026-03-10"


def test_late_delivery_penalty_of_the_contract_amount(world) -> None:
    p, clock, g = world
    cid = g["002"]
    p.obligations.track(cid)
    with pytest.raises(Conflict):
        p.obligations.track(cid)
    clock.set(bj(2026, 2, 20))  # in the Spring Festival holiday
    v = p.obligations.view(cid)
    d = by_label(v, "完成集成及调测")
    # due 02-14; 02-15 … 02-20 late: 6 days × 3% × ¥1,740,000.00 = ¥313,200.00
    assert d.status == "overdue" and d.days_late == 6 and d.penalty == Decimal("313200.00")
    assert d.penalty_explanation == "逾期 6 日 × 3% × ¥1,740,000.00 = ¥313,200.00"
    p.obligations.record(cid, "delivered", "2026-02-17")  # delivered 3 days late
    d = by_label(p.obligations.view(cid), "完成集成及调测")
    assert d.status == "met" and d.days_late == 3 and d.penalty == Decimal("156600.00")


def test_the_contract_cap_bounds_each_party_not_both_together(world) -> None:
    """002 caps 甲方's late-payment penalties (§8.1) and 乙方's late-delivery penalty (§8.2)
    each at 20 % of the contract amount. They are owed in opposite directions, so 乙方's
    penalty must not use up the cap on what 甲方 owes (both were summed and capped as one)."""
    p, clock, g = world
    cid = g["002"]
    clock.set(bj(2026, 2, 17))
    p.obligations.record(cid, "delivered", "2026-02-17")  # due 02-14: 3 days late
    clock.set(bj(2026, 3, 2))
    p.obligations.record(cid, "accepted", "2026-03-02")  # the 75 % due 2026-04-14
    clock.set(bj(2026, 4, 19))
    v = p.obligations.view(cid)
    delivery, first = by_label(v, "完成集成及调测"), by_label(v, "第1期")
    # 乙方 owes 3 × 3% × 1,740,000 = 156,600; 甲方 owes 5 × 3% × 1,305,000 = 195,750: each
    # under its own cap of 348,000, together 352,350 — which is no reason to cap either
    assert (delivery.debtor, delivery.penalty) == ("乙方", Decimal("156600.00"))
    assert (first.debtor, first.penalty) == ("甲方", Decimal("195750.00"))
    assert v.total_penalty == Decimal("352350.00") and v.penalty_note is None
    # and they are shown apart: what 甲方 owes 乙方, what 乙方 owes 甲方
    assert v.penalty_by_debtor == {"乙方": Decimal("156600.00"), "甲方": Decimal("195750.00")}


@pytest.mark.parametrize(
    ("accepted", "due"),
    [(D(2025, 10, 1), D(2026, 10, 8)), (D(2025, 5, 31), D(2026, 6, 1)), (D(2025, 6, 30), None)],
)
def test_a_months_period_ending_on_a_day_off_moves_to_the_next_workday(accepted, due) -> None:
    """验收后满一年: 12 months after acceptance ending on National Day or a Sunday ends on the
    next working day (民法典 第二百零三条), as a period in days does; it was left on the day
    off, and the penalty ran from the day after."""
    from types import SimpleNamespace

    from yinxin.contracts.obligations import Obligations
    from yinxin.contracts.workdays import official_calendar

    service = Obligations(None, None, official_calendar(), contracts=lambda: None)  # type: ignore[arg-type]
    row = SimpleNamespace(event="acceptance", months=12, workdays=0, days=0, kind="payment")
    got, text = service._due(row, accepted)  # type: ignore[arg-type]
    anchor = accepted.replace(year=accepted.year + 1)
    assert got == (due or anchor)
    assert ("顺延至" in text) == (due is not None)


# --- payments and penalties -----------------------------------------------------------------------
def test_partial_payment_then_overdue_penalty_to_the_day(world) -> None:
    p, clock, g = world
    cid = g["002"]
    clock.set(bj(2026, 2, 12))
    p.obligations.record(cid, "delivered", "2026-02-12")
    clock.set(bj(2026, 3, 2))
    v = p.obligations.record(cid, "accepted", "2026-03-02")  # the report signed in time
    assert not v.acceptance_deemed and by_label(v, "组织验收").state == "met"
    first = by_label(v, "第1期")
    assert first.due_on == D(2026, 4, 14)  # as docs/contract-terms.md works it out
    clock.set(bj(2026, 4, 10))
    v = p.obligations.pay(cid, "1,000,000.00", "2026-04-10", reference="网银 0410")
    first = by_label(v, "第1期")
    assert first.state == "partly_paid" and first.outstanding == Decimal("305000.00")
    clock.set(bj(2026, 4, 17))
    p.obligations.pay(cid, "5000", D(2026, 4, 17), obligation_id=first.id)
    clock.set(bj(2026, 4, 20))
    first = by_label(p.obligations.view(cid), "第1期")
    # late from 04-15: 15, 16, 17 on ¥305,000.00, then 18, 19, 20 on ¥300,000.00
    #   3 × 3% × 305,000 = 27,450.00; 3 × 3% × 300,000 = 27,000.00; total 54,450.00
    assert first.status == "overdue" and first.days_late == 6
    assert first.penalty == Decimal("54450.00")
    assert first.penalty_explanation == (
        "逾期 3 日 × 3% × ¥305,000.00 = ¥27,450.00；逾期 3 日 × 3% × ¥300,000.00 = "
        "¥27,000.00；合计 ¥54,450.00"
    )
    assert first.outstanding == Decimal("300000.00") and first.paid == Decimal("1005000.00")
    assert [x.amount for x in first.payments] == [Decimal("1000000.00"), Decimal("5000.00")]
    # the day before it fell due: nothing late, nothing owed as penalty
    before = by_label(p.obligations.view(cid, as_of="2026-04-14"), "第1期")
    assert before.status == "due" and before.penalty is None and before.workdays_left == 0
    # long after: 20 % of the contract amount caps it (002 §8.1)
    late = p.obligations.view(cid, as_of="2026-06-30")
    first = by_label(late, "第1期")
    assert first.penalty == Decimal("348000.00") and "按上限计" in first.penalty_explanation
    assert late.total_overdue == Decimal("300000.00")
    # the rest paid: met, the penalty fixed at the day it was paid (04-21: 7 days late)
    clock.set(bj(2026, 4, 21))
    v = p.obligations.pay(cid, "300000", "2026-04-21")
    first = by_label(v, "第1期")
    assert first.state == "met" and first.status == "met" and first.met_on == D(2026, 4, 21)
    assert first.penalty == Decimal("54450.00") + Decimal("9000.00")
    assert [e["amount"] for e in audit_actions(p, "obligation.paid")] == [
        "1000000.00",
        "5000.00",
        "300000.00",
    ]


def test_money_paid_before_the_due_date_is_known_leaves_the_rest_due_then(world) -> None:
    """¥100,000 of the first instalment paid in advance, before acceptance fixed its due date.
    Scheduling passed over partly paid instalments: the rest (¥1,205,000) never got a due date,
    stayed "pending" and was never reminded nor late. Now acceptance fixes its due date as for
    an unpaid one, and the penalty runs on what is outstanding."""
    p, clock, g = world
    cid = g["002"]
    clock.set(bj(2026, 2, 12))
    p.obligations.record(cid, "delivered", "2026-02-12")
    first = by_label(p.obligations.view(cid), "第1期")
    v = p.obligations.pay(cid, "100000", "2026-02-12", obligation_id=first.id)
    first = by_label(v, "第1期")
    assert first.state == "partly_paid" and first.due_on is None and first.status == "pending"
    clock.set(bj(2026, 3, 2))
    v = p.obligations.record(cid, "accepted", "2026-03-02")
    first = by_label(v, "第1期")
    assert first.state == "partly_paid" and first.due_on == D(2026, 4, 14)
    assert "其后第 30 个工作日为 2026-04-14" in first.due_explanation
    scheduled = audit_actions(p, "obligation.accepted")[-1]["scheduled"]
    assert first.id in [x["obligation_id"] for x in scheduled]
    late = by_label(p.obligations.view(cid, as_of="2026-04-16"), "第1期")
    # 04-15 and 04-16 late on ¥1,205,000.00: 2 × 3% × 1,205,000 = 72,300.00
    assert late.status == "overdue" and late.days_late == 2
    assert late.penalty == Decimal("72300.00") and late.outstanding == Decimal("1205000.00")


def test_a_payment_recorded_by_mistake_is_reversed(world) -> None:
    """冲正: ¥1,000,000 typed for ¥100,000. The reversal keeps the row and both audit events;
    what was paid, the state, the met day and the penalty become what the payments that stand
    make them; a second reversal, another contract's payment or a bad reason are refused and
    write nothing."""
    p, clock, g = world
    cid = g["002"]
    clock.set(bj(2026, 2, 12))
    p.obligations.record(cid, "delivered", "2026-02-12")
    clock.set(bj(2026, 3, 2))
    p.obligations.record(cid, "accepted", "2026-03-02")
    clock.set(bj(2026, 4, 10))
    v = p.obligations.pay(cid, "1305000", "2026-04-10", reference="网银 0410")
    first = by_label(v, "第1期")
    assert first.state == "met" and first.met_on == D(2026, 4, 10)
    wrong = first.payments[0]
    clock.set(bj(2026, 4, 20))
    v = p.obligations.reverse_payment(
        cid, wrong.id, reason="金额录入错误，应为 ¥100,000", actor="王五"
    )
    first = by_label(v, "第1期")
    # nothing stands: overdue since 04-15 on the whole ¥1,305,000.00 (6 days × 3%)
    assert first.state == "open" and first.met_on is None and first.status == "overdue"
    assert first.paid == Decimal("0.00") and first.outstanding == Decimal("1305000.00")
    assert first.penalty == Decimal("234900.00")
    (listed,) = first.payments  # the record stays, marked
    assert listed.id == wrong.id and listed.amount == Decimal("1305000.00")
    assert listed.reversed_by == "王五" and listed.reversal_reason.startswith("金额录入错误")
    assert listed.reversed_at == clock.now()
    (event,) = audit_actions(p, "obligation.payment_reversed")
    assert event["payment_id"] == wrong.id and event["state"] == "open" and event["paid"] == "0.00"
    assert len(audit_actions(p, "obligation.paid")) == 1
    # the right payment, then one more reversed: partly paid again, the penalty per day
    v = p.obligations.pay(cid, "100000", "2026-04-10", obligation_id=first.id)
    v = p.obligations.pay(cid, "5000", "2026-04-17", obligation_id=first.id)
    extra = by_label(v, "第1期").payments[-1]
    v = p.obligations.reverse_payment(cid, extra.id, reason="重复登记")
    first = by_label(v, "第1期")
    assert first.state == "partly_paid" and first.paid == Decimal("100000.00")
    assert first.penalty == Decimal("6") * Decimal("0.03") * Decimal("1205000")
    # refusals: every table unchanged (003 tracked: its payments are not 002's)
    p.obligations.track(g["003"])
    before = dbdump.dump(p)
    cases = [
        (
            IllegalTransition,
            "payment_id",
            lambda: p.obligations.reverse_payment(cid, wrong.id, reason="再次"),
        ),
        (NotFound, "payment_id", lambda: p.obligations.reverse_payment(cid, 999, reason="x")),
        (
            NotFound,
            "payment_id",
            lambda: p.obligations.reverse_payment(g["003"], wrong.id, reason="x"),
        ),
        (
            ValidationError,
            "reason",
            lambda: p.obligations.reverse_payment(cid, extra.id, reason=" "),
        ),
        (
            ValidationError,
            "reason",
            lambda: p.obligations.reverse_payment(cid, extra.id, reason="错\u202e误"),
        ),
        (
            ValidationError,
            "payment_id",
            lambda: p.obligations.reverse_payment(cid, "1", reason="x"),
        ),
    ]
    for kind, field, call in cases:
        with pytest.raises(kind) as e:
            call()
        assert e.value.field == field, (field, e.value.message)
    assert dbdump.dump(p) == before


def test_a_payment_sent_twice_with_its_reference_is_recorded_once(world) -> None:
    """A retried request (the reply lost) or a double click sent the same payment twice: it
    was recorded twice, the instalment counted paid twice. Now the same reference, amount and
    day (and obligation when one is named) on a payment that stands is the same payment: the
    view comes back marked replayed, nothing recorded, nothing audited. The same bank
    reference naming another obligation is a new payment (one transfer, two instalments);
    once the recorded one is reversed the same payment is recorded again."""
    p, clock, g = world
    cid = g["002"]
    clock.set(bj(2026, 2, 12))
    p.obligations.record(cid, "delivered", "2026-02-12")
    v = p.obligations.pay(cid, "100000", "2026-02-12", reference="网银 0212")
    assert not v.replayed
    first = by_label(v, "第1期")
    before = dbdump.dump(p)
    again = p.obligations.pay(cid, "100,000.00", "2026-02-12", reference=" 网银  0212 ")
    assert again.replayed and by_label(again, "第1期").paid == Decimal("100000.00")
    named = p.obligations.pay(
        cid, "100000", "2026-02-12", obligation_id=first.id, reference="网银 0212"
    )
    assert named.replayed
    assert dbdump.dump(p) == before
    assert len(audit_actions(p, "obligation.paid")) == 1
    # the same transfer also paying the second instalment: named, it is a new payment
    second = by_label(v, "第2期")
    v = p.obligations.pay(
        cid, "100000", "2026-02-12", obligation_id=second.id, reference="网银 0212"
    )
    assert not v.replayed and by_label(v, "第2期").paid == Decimal("100000.00")
    # another amount, another day, or no reference: new payments
    v = p.obligations.pay(cid, "5000", "2026-02-12", obligation_id=first.id, reference="网银 0212")
    assert not v.replayed and by_label(v, "第1期").paid == Decimal("105000.00")
    v = p.obligations.pay(
        cid, "100000", "2026-02-11", obligation_id=first.id, reference="网银 0212"
    )
    assert not v.replayed and by_label(v, "第1期").paid == Decimal("205000.00")
    v = p.obligations.pay(cid, "1000", "2026-02-12", obligation_id=first.id)
    v = p.obligations.pay(cid, "1000", "2026-02-12", obligation_id=first.id)
    assert not v.replayed and by_label(v, "第1期").paid == Decimal("207000.00")
    # reversed, the recorded payment no longer answers for it: recorded anew
    (recorded,) = [
        x
        for x in by_label(v, "第1期").payments
        if x.reference == "网银 0212"
        and x.amount == Decimal("100000.00")
        and x.paid_on == D(2026, 2, 12)
    ]
    p.obligations.reverse_payment(cid, recorded.id, reason="重复登记")
    v = p.obligations.pay(
        cid, "100000", "2026-02-12", obligation_id=first.id, reference="网银 0212"
    )
    assert not v.replayed and by_label(v, "第1期").paid == Decimal("207000.00")
    assert len(audit_actions(p, "obligation.paid")) == 7


def test_a_fact_recorded_by_mistake_is_withdrawn(world) -> None:
    """Delivery typed as 02-12 for 02-24; later acceptance recorded for a report not signed.
    Only the latest fact can be withdrawn; the stage goes back, what it met is open again
    (with its late penalty), the due dates it fixed wait for it again (a partly paid
    instalment keeps its money), the audit chain keeps both; recorded again, everything
    follows the right day. Out of order, deemed, unknown or without a reason: refused, nothing
    written."""
    p, clock, g = world
    cid = g["002"]
    o = p.obligations
    clock.set(bj(2026, 2, 12))
    unrecorded = o.view(cid)
    with pytest.raises(IllegalTransition) as e:
        o.withdraw(cid, "delivered", reason="录入错误")
    assert e.value.field == "event" and "no fact" in e.value.message
    o.record(cid, "delivered", "2026-02-12")
    clock.set(bj(2026, 2, 25))
    before = dbdump.dump(p)
    for kind, field, call in (
        (IllegalTransition, "event", lambda: o.withdraw(cid, "accepted", reason="录入错误")),
        (ValidationError, "event", lambda: o.withdraw(cid, "paid", reason="录入错误")),
        (ValidationError, "reason", lambda: o.withdraw(cid, "delivered", reason="  ")),
        (ValidationError, "reason", lambda: o.withdraw(cid, "delivered", reason="错\u202e误")),
        (NotFound, "contract_id", lambda: o.withdraw(999, "delivered", reason="录入错误")),
    ):
        with pytest.raises(kind) as e:
            call()
        assert e.value.field == field, (field, e.value.message)
    assert dbdump.dump(p) == before
    v = o.withdraw(cid, "delivered", reason="交付日期录入错误", actor="合同管理员")
    assert v.stage == "signed" and v.delivered_on is None
    # as before it was recorded, but for the day: the delivery is late now (due 02-14)
    for label in ("完成集成及调测", "组织验收", "第1期"):
        now_, then = by_label(v, label), by_label(unrecorded, label)
        assert (now_.state, now_.due_on, now_.due_explanation, now_.met_on) == (
            then.state,
            then.due_on,
            then.due_explanation,
            then.met_on,
        ), label
    late = by_label(v, "完成集成及调测")
    assert late.status == "overdue" and late.days_late == 11 and late.penalty is not None
    (event,) = audit_actions(p, "obligation.withdrawn")
    assert event["event"] == "delivered" and event["on"] == "2026-02-12"
    assert event["reason"] == "交付日期录入错误" and event["stage"] == "signed"
    assert event["reopened"] == [late.id]
    assert event["unscheduled"] == [by_label(v, "组织验收").id]
    assert len(audit_actions(p, "obligation.delivered")) == 1  # the fact stays in the chain
    v = o.record(cid, "delivered", "2026-02-24")
    # 7 working days after 02-24: 25, 26, 27, 28 (make-up Sat), 03-02, 03, 04
    assert by_label(v, "组织验收").due_on == D(2026, 3, 4)
    assert by_label(v, "完成集成及调测").days_late == 10

    # acceptance recorded, money paid on the first instalment, then the acceptance withdrawn
    clock.set(bj(2026, 3, 3))
    o.record(cid, "accepted", "2026-03-03")
    first = by_label(o.view(cid), "第1期")
    v = o.pay(cid, "100000", "2026-03-03", obligation_id=first.id)
    assert by_label(v, "第1期").due_on is not None
    v = o.withdraw(cid, "accepted", reason="验收报告尚未签署")
    first = by_label(v, "第1期")
    assert v.stage == "delivered" and v.accepted_on is None
    assert first.state == "partly_paid" and first.due_on is None and first.status == "pending"
    assert first.paid == Decimal("100000.00")
    assert by_label(v, "组织验收").state == "open" and by_label(v, "组织验收").met_on is None
    clock.set(bj(2026, 3, 4))
    v = o.record(cid, "accepted", "2026-03-04")
    assert by_label(v, "第1期").due_on is not None and by_label(v, "第1期").state == "partly_paid"

    # go-live withdrawn: the second instalment waits for it again
    clock.set(bj(2026, 3, 10))
    o.record(cid, "went_live", "2026-03-10")
    v = o.withdraw(cid, "went_live", reason="上线日期录入错误")
    assert v.stage == "accepted" and v.live_on is None
    assert by_label(v, "第2期").due_on is None and by_label(v, "第2期").state == "pending"
    with pytest.raises(IllegalTransition):  # the delivery is not the latest fact any more
        o.withdraw(cid, "delivered", reason="录入错误")


def test_a_deemed_acceptance_cannot_be_withdrawn(world) -> None:
    p, clock, g = world
    cid = g["002"]
    o = p.obligations
    clock.set(bj(2026, 2, 12))
    o.record(cid, "delivered", "2026-02-12")
    clock.set(bj(2026, 2, 26))
    o.record(cid, "reminded", "2026-02-26")
    v = o.withdraw(cid, "reminded", reason="催告未送达")  # the reminder alone: withdrawn
    assert v.stage == "delivered" and v.reminded_on is None
    assert by_label(v, "组织验收").due_on == D(2026, 2, 28)  # the first window only
    o.record(cid, "reminded", "2026-02-26")
    clock.set(bj(2026, 3, 3))  # the later window has passed: deemed from today
    before = dbdump.dump(p)
    with pytest.raises(IllegalTransition) as e:
        o.withdraw(cid, "accepted", reason="录入错误")
    assert e.value.field == "event" and "deemed" in e.value.message
    assert dbdump.dump(p) == before  # the deeming the call settled is rolled back with it


def test_refusals_leave_the_database_unchanged(world) -> None:
    p, clock, g = world
    cid = g["002"]
    o = p.obligations
    clock.set(bj(2026, 3, 5))
    # refused on a signed contract not yet tracked: not even the tracking is left behind
    untracked = dbdump.dump(p)
    for call in (
        lambda: o.pay(cid, "100", "2026-01-04"),
        lambda: o.record(cid, "delivered", "2026-03-06"),
        lambda: o.record(cid, "accepted", "2026-03-01"),
    ):
        with pytest.raises((ValidationError, IllegalTransition)):
            call()
    assert dbdump.dump(p) == untracked
    o.track(cid)
    before = dbdump.dump(p)
    cases = [
        (NotFound, "contract_id", lambda: o.view(999)),
        (NotFound, "contract_id", lambda: o.pay(999, "10", "2026-03-01")),
        (IllegalTransition, "contract_id", lambda: o.track(g["draft"])),
        (IllegalTransition, "contract_id", lambda: o.record(g["draft"], "delivered", "2026-03-01")),
        (ValidationError, "amount", lambda: o.pay(cid, "1740000.01", "2026-03-01")),
        (ValidationError, "amount", lambda: o.pay(cid, "12.345", "2026-03-01")),
        (ValidationError, "amount", lambda: o.pay(cid, "十万元", "2026-03-01")),
        (ValidationError, "amount", lambda: o.pay(cid, 0.1, "2026-03-01")),
        (ValidationError, "amount", lambda: o.pay(cid, "0", "2026-03-01")),
        (ValidationError, "on", lambda: o.pay(cid, "100", "2026-01-04")),  # before the contract
        (ValidationError, "on", lambda: o.pay(cid, "100", "2026-03-06")),  # after today
        (ValidationError, "on", lambda: o.pay(cid, "100", "2026-02-30")),
        (ValidationError, "on", lambda: o.record(cid, "delivered", "2025-12-31")),
        (ValidationError, "event", lambda: o.record(cid, "paid", "2026-03-01")),
        (IllegalTransition, "event", lambda: o.record(cid, "reminded", "2026-03-01")),
        (IllegalTransition, "event", lambda: o.record(cid, "went_live", "2026-03-01")),
        (NotFound, "obligation_id", lambda: o.pay(cid, "1", "2026-03-01", obligation_id=1)),
        (ValidationError, "status", lambda: o.overview(status="late")),
        (ValidationError, "as_of", lambda: o.view(cid, as_of="2026/03/01")),
        (
            ValidationError,
            "reference",
            lambda: o.pay(cid, "100", "2026-03-01", reference="转账\u200b001"),
        ),
        # a bank reference too long is refused, not cut (the CLI has no length check of its own)
        (
            ValidationError,
            "reference",
            lambda: o.pay(cid, "100", "2026-03-01", reference="9" * 101),
        ),
    ]
    for kind, field, call in cases:
        with pytest.raises(kind) as e:
            call()
        assert e.value.field == field, (field, e.value.message)
    assert dbdump.dump(p) == before
    # the overpayment names what is still owed; a fact before the one it follows is refused
    with pytest.raises(ValidationError, match="¥1,305,000.00 still owed"):
        o.pay(cid, "1305000.01", "2026-03-01")
    o.record(cid, "delivered", "2026-03-02")
    after = dbdump.dump(p)
    with pytest.raises(ValidationError) as e:
        o.record(cid, "accepted", "2026-03-01")
    assert e.value.field == "on" and e.value.code == "too_early"
    with pytest.raises(IllegalTransition):
        o.record(cid, "delivered", "2026-03-03")  # once
    assert dbdump.dump(p) == after


def test_a_fact_the_003_contract_does_not_have_is_refused(world) -> None:
    """``yinxin obligation event 003 delivered`` moved the O&M contract to 已交付，待验收 —
    003 delivers nothing: its fee falls due on the day it names, each service is accepted on
    its own record (第九条, the service desk's), and no obligation of it waits for a delivery,
    an acceptance or a go-live. A fact no obligation of the contract waits for is refused now,
    whatever the stage (``not_in_contract``, naming ``event``, 422 / exit 2), nothing written;
    the view lists the facts each contract records (``facts``), which 002 keeps all of."""
    from starlette.testclient import TestClient
    from typer.testing import CliRunner

    from tests.integration.api_world import problem_of
    from yinxin.adapters.cli import app as cli_app
    from yinxin.adapters.http.server import create_app

    p, clock, g = world
    om, pi = g["003"], g["002"]
    clock.set(bj(2026, 3, 5))
    p.obligations.track(om)
    before = dbdump.dump(p)
    for event in ("delivered", "reminded", "accepted", "went_live"):
        with pytest.raises(ValidationError) as e:
            p.obligations.record(om, event, "2026-03-02")
        assert (e.value.field, e.value.code) == ("event", "not_in_contract"), e.value
        assert "没有" in e.value.message and "可登记：无" in e.value.message
    assert dbdump.dump(p) == before
    assert p.obligations.view(om).stage == "signed"
    assert p.obligations.view(om).facts == ()
    assert p.obligations.view(pi).facts == ("delivered", "reminded", "accepted", "went_live")
    org = p.api_keys.create(
        name="org", role="organization_admin", organization_id=g["org"], actor="test"
    ).secret
    before = dbdump.dump(p)
    with TestClient(create_app(p, jobs=False), base_url="http://127.0.0.1:8000") as c:
        r = c.post(
            f"/api/v1/contracts/{om}/obligations/events",
            json={"event": "delivered", "on": "2026-03-02"},
            headers={"Authorization": f"Bearer {org}"},
        )
        problem_of(r, 422, "event", "not_in_contract")
        r = c.get(f"/api/v1/contracts/{om}/obligations", headers={"Authorization": f"Bearer {org}"})
        assert r.json()["facts"] == [] and r.json()["stage"] == "signed"
    # the app publishes its CRLs on starting and the key notes its use: the rest is as it was
    unchanged = {"crls": [], "api_keys": []}
    assert dbdump.dump(p) | unchanged == before | unchanged
    home = p.settings.home
    p.close()
    r = CliRunner().invoke(
        cli_app,
        ["obligation", "event", str(om), "delivered", "--on", "2026-03-02", "--json"],
        env=cli_env(home),
    )
    assert r.exit_code == 2 and json.loads(r.stdout)["field"] == "event", r.output


def test_an_unknown_fact_or_a_missing_reason_is_refused_in_both_languages(world) -> None:
    """``obligation event … shipped`` (and ``withdraw-event``) answered "event is one of
    delivered, …" and ``reverse-payment``/``withdraw-event`` without a reason "give the reason
    (1–500 characters)" — English only, where every other refusal of these verbs speaks to the
    contract manager in Chinese too. Both are "中文 / English" now, the same field and code
    (``event`` / ``reason``, invalid, exit 2 / 422), through the real CLI and the API."""
    from starlette.testclient import TestClient
    from typer.testing import CliRunner

    from tests.integration.api_world import problem_of
    from yinxin.adapters.cli import app as cli_app
    from yinxin.adapters.http.server import create_app

    p, clock, g = world
    cid = str(g["002"])
    clock.set(bj(2026, 3, 5))
    p.obligations.track(g["002"])
    p.obligations.record(g["002"], "delivered", "2026-02-12")
    org = p.api_keys.create(
        name="org", role="organization_admin", organization_id=g["org"], actor="test"
    ).secret
    with TestClient(create_app(p, jobs=False), base_url="http://127.0.0.1:8000") as c:
        h = {"Authorization": f"Bearer {org}"}
        base = f"/api/v1/contracts/{cid}/obligations"
        for url, body in [
            (f"{base}/events/withdrawal", {"event": "delivered", "reason": " "}),
            (f"{base}/payments/1/reversal", {"reason": ""}),
            # over 500: the body's max_length said it first, pydantic's English alone
            (f"{base}/payments/1/reversal", {"reason": "错" * 501}),
        ]:
            detail = problem_of(c.post(url, json=body, headers=h), 422, "reason", "invalid")
            assert "须写明原因" in detail["detail"], detail
            assert "give the reason (1–500 characters)" in detail["detail"], detail
    home = p.settings.home
    p.close()
    env = cli_env(home)
    unknown = ("“交付并提交验收申请”（delivered）", "event is one of delivered, reminded")
    no_reason = ("须写明原因", "give the reason (1–500 characters)")
    for args, field, halves in [
        (("event", cid, "shipped", "--on", "2026-03-02"), "event", unknown),
        (("withdraw-event", cid, "shipped", "--reason", "录入错误"), "event", unknown),
        (("withdraw-event", cid, "delivered", "--reason", " "), "reason", no_reason),
        (("reverse-payment", cid, "1", "--reason", " "), "reason", no_reason),
    ]:
        r = CliRunner().invoke(cli_app, ["obligation", *args, "--json"], env=env)
        err = json.loads(r.stdout)
        assert (r.exit_code, err["field"], err["error"]) == (2, field, "invalid"), (args, err)
        assert all(half in err["message"] for half in halves), (args, err)
        assert " / " in err["message"], err
        r = CliRunner().invoke(cli_app, ["obligation", *args], env=env)
        assert r.exit_code == 2 and r.stderr.startswith(f"error [{field}]: "), r.stderr
        assert all(half in r.stderr for half in halves), r.stderr


def test_a_fact_out_of_order_is_refused_in_words_the_officer_reads(world) -> None:
    """A fact out of order was refused as "cannot delivered contract performance HT-…: it is
    accepted (delivered is allowed only from signed)" — the lifecycle's verbs pasted into a
    sentence, no word of Chinese. It says which fact, where the contract stands and where
    that fact is recorded, in Chinese and English, naming ``event`` (409 / exit 4)."""
    p, clock, g = world
    cid, o = g["002"], p.obligations
    clock.set(bj(2026, 3, 5))
    o.record(cid, "delivered", "2026-02-12")
    o.record(cid, "accepted", "2026-03-02")
    before = dbdump.dump(p)
    with pytest.raises(IllegalTransition) as e:
        o.record(cid, "delivered", "2026-03-03")
    assert e.value.field == "event"
    number = p.contracts.get(cid).number
    assert e.value.message.startswith(
        f"合同 {number} 已验收，不能登记“交付并提交验收申请”（须在已生效，待交付时登记）"
    ), e.value.message
    assert "cannot record delivered: contract" in e.value.message, e.value.message
    with pytest.raises(IllegalTransition) as e:
        o.record(cid, "reminded", "2026-03-03")
    assert "不能登记“催告验收”（须在已交付，待验收时登记）" in e.value.message, e.value.message
    assert dbdump.dump(p) == before


def test_a_withdrawal_refused_says_why_in_chinese_and_english(world) -> None:
    """withdraw-event's refusals (nothing recorded yet, not the latest fact, a deemed
    acceptance) were English only where event's are in Chinese and English: the contract
    manager who records a fact is the one who takes it back. Each says it in both now, naming
    ``event`` (409 / exit 4), nothing written."""
    p, clock, g = world
    cid, o = g["002"], p.obligations
    number = p.contracts.get(cid).number
    clock.set(bj(2026, 2, 12))

    def refused(event: str) -> str:
        before = dbdump.dump(p)
        with pytest.raises(IllegalTransition) as e:
            o.withdraw(cid, event, reason="录入错误")
        assert e.value.field == "event" and dbdump.dump(p) == before
        return e.value.message

    m = refused("delivered")
    assert m.startswith(f"合同 {number} 尚未登记任何履约事实，无可撤回 / "), m
    assert "no fact has been recorded" in m, m
    o.record(cid, "delivered", "2026-02-12")
    m = refused("accepted")
    assert m.startswith(
        f"只能撤回最近登记的履约事实：合同 {number} 最近登记的是“交付并提交验收申请”，"
        "不是“签署验收合格报告” / "
    ), m
    assert "only the latest fact can be withdrawn" in m, m
    clock.set(bj(2026, 2, 26))
    o.record(cid, "reminded", "2026-02-26")
    clock.set(bj(2026, 3, 3))  # the later window has passed: deemed from today
    m = refused("accepted")
    assert m.startswith(f"合同 {number} 的验收是按合同约定（002 §4.2）于 "), m
    assert "视为验收合格的，并非登记所得，无可撤回 / " in m and "deemed on" in m, m


# --- reminders ------------------------------------------------------------------------------------
def test_reminders_sent_exactly_once_by_the_job(world) -> None:
    p, clock, g = world
    cid = g["002"]
    job = by_name(default_jobs(p), "obligations.remind")
    hook = p.webhooks.subscribe(
        "https://hooks.example.com/yinxin", ["obligation.due"], g["org"], "test"
    )
    p.webhooks.dispatch()  # what happened before (tracking) is not an obligation.due
    clock.set(bj(2026, 2, 12))
    p.obligations.record(cid, "delivered", "2026-02-12")
    clock.set(bj(2026, 3, 2))
    p.obligations.record(cid, "accepted", "2026-03-02")  # the first instalment due 04-14

    def run_twice() -> list:
        job.run(p)
        job.run(p)
        return [m for m in obligation_messages(p) if "第1期" in m["body"]]

    clock.set(bj(2026, 4, 1))  # 8 working days left: nothing yet
    assert run_twice() == []
    clock.set(bj(2026, 4, 2))  # 7 working days left: 3, 7…10, 13, 14 (Qingming 4–6 off)
    assert p.obligations.calendar.workdays_between(D(2026, 4, 2), D(2026, 4, 14)) == 7
    sent = run_twice()
    assert len(sent) == 1 and "还有 7 个工作日以内" in sent[0]["body"]
    assert sent[0]["to"] == "13900139000"  # the contract's owner organization
    assert "¥1,305,000.00" in sent[0]["body"] and "3%" in sent[0]["body"]
    clock.set(bj(2026, 4, 13))  # 1 working day left
    assert len(run_twice()) == 2
    clock.set(bj(2026, 4, 14))  # the due day: the 1-day reminder is not sent again
    assert len(run_twice()) == 2
    clock.set(bj(2026, 4, 15))  # first day overdue
    sent = run_twice()
    assert len(sent) == 3 and "现已逾期" in sent[-1]["body"]
    clock.set(bj(2026, 4, 16))
    assert len(run_twice()) == 3
    first = by_label(p.obligations.view(cid), "第1期")
    assert [r.point for r in first.reminders] == ["before:7", "before:1", "overdue"]
    assert all(r.notification_id is not None for r in first.reminders)
    due_events = [e for e in audit_actions(p, "obligation.due") if e["obligation_id"] == first.id]
    assert [e["point"] for e in due_events] == ["before:7", "before:1", "overdue"]
    # the webhook dispatcher turns each into an obligation.due delivery for the owner's hook
    assert p.webhooks.dispatch() >= 3
    from sqlalchemy import select

    from yinxin.store.models.webhooks import WebhookDelivery

    with p.db.read() as s:
        rows = s.scalars(
            select(WebhookDelivery).where(WebhookDelivery.subscription_id == hook.subscription.id)
        ).all()
        bodies = [json.loads(r.payload) for r in rows]
    assert {b["type"] for b in bodies} == {"obligation.due"}
    mine = [b["data"] for b in bodies if b["data"]["details"]["obligation_id"] == first.id]
    assert [d["details"]["point"] for d in mine] == ["before:7", "before:1", "overdue"]
    assert all(d["organization_ids"] == [g["org"]] for d in mine)
    # paid: no more reminders for it, even when the job runs days later
    p.obligations.pay(cid, "1305000", "2026-04-16")
    clock.set(bj(2026, 4, 30))
    assert len(run_twice()) == 3


def test_a_late_job_sends_only_the_latest_point(world) -> None:
    """The 003 yearly fee is due 2026-12-31 (每年的 12 月 31 日前); a job that first runs on
    the 30th sends the 1-day reminder, never a stale 7-day one."""
    p, clock, g = world
    cid = g["003"]
    v = p.obligations.view(cid)
    fee = by_label(v, "2026 年度运维费")
    assert fee.due_on == D(2026, 12, 31) and fee.amount == Decimal("28000.00")
    assert by_label(v, "2027 年度运维费").due_on == D(2027, 12, 31)
    clock.set(bj(2026, 12, 30))
    run = p.obligations.remind_due()
    assert [x for x in run.sent if x[0] == fee.id] == [(fee.id, "before:1")] and not run.failed
    assert p.obligations.remind_due().sent == ()
    fee = by_label(p.obligations.view(cid), "2026 年度运维费")
    assert [r.point for r in fee.reminders] == ["before:1"]
    # 千分之五 of the unpaid fee a day, no cap: 2027-01-10 is 10 days late → ¥1,400.00
    clock.set(bj(2027, 1, 10))
    fee = by_label(p.obligations.view(cid), "2026 年度运维费")
    assert fee.days_late == 10 and fee.penalty == Decimal("1400.00")
    assert fee.penalty_explanation == "逾期 10 日 × 5‰ × ¥28,000.00 = ¥1,400.00"
    # a reminder due across New Year while the new year's holidays are not loaded (2027 today):
    # counting working days failed, so the 7- and 1-day reminders were never sent (the job
    # listed the obligation as failed every hour); Monday-to-Friday counting sends them
    assert p.obligations.point(D(2026, 12, 28), D(2027, 1, 6)) == "before:7"
    assert p.obligations.point(D(2027, 1, 5), D(2027, 1, 6)) == "before:1"
    assert p.obligations.point(D(2026, 12, 20), D(2027, 1, 6)) is None


# --- the CLI and the API --------------------------------------------------------------------------
def test_cli_json(world) -> None:
    """``yinxin obligation … --json`` in process on the copied data directory (the system clock:
    every date given explicitly, every figure counted to an explicit ``--as-of``)."""
    from sqlalchemy import create_engine
    from typer.testing import CliRunner

    from yinxin.adapters.cli import app as cli_app

    p, _clock, g = world
    home = p.settings.home
    p.close()
    env = cli_env(home)
    cid = str(g["002"])

    def cli(*args: str) -> tuple[int, dict | list]:
        r = CliRunner().invoke(cli_app, ["obligation", *args, "--json"], env=env)
        return r.exit_code, json.loads(r.stdout)

    code, v = cli("track", cid)
    assert code == 0, v
    assert [o["kind"] for o in v["obligations"]] == ["delivery", "acceptance", "payment", "payment"]
    assert cli("event", cid, "delivered", "--on", "2026-02-12")[0] == 0
    code, v = cli("event", cid, "accepted", "--on", "2026-03-02")
    assert code == 0 and v["stage"] == "accepted"
    code, v = cli("pay", cid, "1000000", "--on", "2026-04-10")
    assert code == 0, v
    code, v = cli("show", cid, "--as-of", "2026-04-20")
    first = [o for o in v["obligations"] if o["label"].startswith("第1期")][0]
    assert first["due_on"] == "2026-04-14" and first["status"] == "overdue"
    assert first["penalty"] == "54900.00"  # 6 days × 3% × ¥305,000.00
    code, page = cli("list", "--status", "overdue", "--as-of", "2026-04-20")
    assert code == 0 and [o["id"] for o in page["items"]] == [first["id"]]
    assert page["next_after"] is None
    # a payment typed twice, reversed (冲正): listed, marked, counted no more
    code, v = cli("pay", cid, "1000", "--on", "2026-04-10")
    twice = [o for o in v["obligations"] if o["id"] == first["id"]][0]["payments"][-1]
    code, v = cli("reverse-payment", cid, str(twice["id"]), "--reason", "重复登记")
    assert code == 0, v
    again = [o for o in v["obligations"] if o["id"] == first["id"]][0]
    assert again["paid"] == "1000000.00" and again["payments"][-1]["reversal_reason"] == "重复登记"
    text = CliRunner().invoke(cli_app, ["obligation", "show", cid], env=env).stdout
    assert f"付款 payment #{twice['id']} 2026-04-10 ¥1,000.00  已冲正 / reversed: 重复登记" in text
    assert "penalties 甲方 ¥" in text and "乙方 ¥" not in text  # 乙方 delivered on time
    engine = create_engine(f"sqlite:///{home / 'yinxin.db'}")
    before = dbdump.dump(engine)
    for args, exit_code, field in [
        (("pay", cid, "9999999", "--on", "2026-04-11"), 2, "amount"),
        (("pay", cid, "abc", "--on", "2026-04-11"), 2, "amount"),
        (("pay", cid, "100", "--on", "2025-12-01"), 2, "on"),
        (("event", cid, "shipped", "--on", "2026-04-11"), 2, "event"),
        (("event", cid, "delivered", "--on", "2026-04-11"), 4, "event"),
        (("show", "999"), 3, "contract_id"),
        (("track", str(g["draft"])), 4, "contract_id"),
        # the argument PAYMENT and --obligation, not the service's payment_id, obligation_id
        (("reverse-payment", cid, str(twice["id"]), "--reason", "again"), 4, "payment"),
        (("reverse-payment", cid, "99999", "--reason", "x"), 3, "payment"),
        (("pay", cid, "100", "--on", "2026-04-11", "--obligation", "99999"), 3, "obligation"),
        (("withdraw-event", cid, "delivered", "--reason", "x"), 4, "event"),
        (("withdraw-event", cid, "shipped", "--reason", "x"), 2, "event"),
        (("withdraw-event", cid, "accepted", "--reason", " "), 2, "reason"),
    ]:
        code, err = cli(*args)
        assert (code, err["field"]) == (exit_code, field), (args, err)
    assert dbdump.dump(engine) == before
    engine.dispose()
    # the acceptance withdrawn: the first instalment keeps its money and waits for it again
    code, v = cli("withdraw-event", cid, "accepted", "--reason", "验收报告尚未签署")
    assert code == 0 and v["stage"] == "delivered", v
    first = [o for o in v["obligations"] if o["id"] == first["id"]][0]
    assert first["due_on"] is None and first["state"] == "partly_paid"


def test_a_list_for_an_unknown_owner_is_refused_not_empty(world) -> None:
    """``yinxin obligation list --owner 999`` (and ``contract list --owner 999``) printed
    "(none)", exit 0, as if subscriber 999 were an organization with nothing tracked: a typo
    in the id read as "nothing due". Now refused as the other lookups of an id are: not_found
    naming ``owner``, exit 3; the owner's own list is unchanged."""
    from typer.testing import CliRunner

    from yinxin.adapters.cli import app as cli_app

    p, _clock, g = world
    p.obligations.view(g["002"])  # tracked: the owner's list has something
    home = p.settings.home
    p.close()
    env = cli_env(home)

    def cli(*args: str) -> tuple[int, dict]:
        r = CliRunner().invoke(cli_app, [*args, "--json"], env=env)
        return r.exit_code, json.loads(r.stdout)

    for group in ("obligation", "contract"):
        code, err = cli(group, "list", "--owner", "999")
        assert (code, err.get("error"), err.get("field")) == (3, "not_found", "owner"), err
        code, page = cli(group, "list", "--owner", str(g["org"]))
        assert code == 0 and page["items"], page
        # a person owns no contract (making one for them is refused, exit 2): it listed
        # "(none)", exit 0, as an organization with nothing due; refused as creation refuses it
        code, err = cli(group, "list", "--owner", str(g["person"]))
        assert (code, err.get("field")) == (2, "owner"), err
        assert "must be an organization" in err["message"] and "person" in err["message"], err
    r = CliRunner().invoke(cli_app, ["obligation", "list", "--owner", "999"], env=env)
    assert r.exit_code == 3 and "(none)" not in r.output, r.output
    r = CliRunner().invoke(cli_app, ["contract", "list", "--owner", str(g["person"])], env=env)
    assert r.exit_code == 2 and "(none)" not in r.output, r.output
    assert r.stderr.startswith("error [owner]: 所属单位应为机构"), r.stderr  # then English
    assert "/ the owner must be an organization" in r.stderr, r.stderr


def test_api(world) -> None:
    from starlette.testclient import TestClient

    from tests.integration.api_world import problem_of
    from yinxin.adapters.http.server import create_app

    p, clock, g = world
    cid = g["002"]
    admin = p.api_keys.create(name="admin", role="administrator", actor="test").secret
    org = p.api_keys.create(
        name="org", role="organization_admin", organization_id=g["org"], actor="test"
    ).secret
    other = p.subscribers.add_organization(
        name="北京乙单位科技有限公司",
        uscc="91110108MA01YX0043",
        legal_representative="赵六",
        contact_name="赵六",
        contact_phone="010-62345679",
        email="ops@example.cn",  # no mobile: notices go by e-mail
    )
    stranger = p.api_keys.create(
        name="other", role="organization_admin", organization_id=other.id, actor="test"
    ).secret
    with TestClient(create_app(p, jobs=False), base_url="http://127.0.0.1:8000") as c:
        h = {"Authorization": f"Bearer {org}"}
        base = f"/api/v1/contracts/{cid}/obligations"
        r = c.post(base, headers=h)
        assert r.status_code == 201, r.text
        assert r.json()["effective_on"] == "2026-01-05"
        problem_of(c.post(base, headers=h), 409, "contract_id")
        clock.set(bj(2026, 3, 2))
        r = c.post(f"{base}/events", json={"event": "delivered", "on": "2026-02-12"}, headers=h)
        assert r.status_code == 200, r.text
        r = c.post(f"{base}/events", json={"event": "accepted", "on": "2026-03-02"}, headers=h)
        first = [o for o in r.json()["obligations"] if o["label"].startswith("第1期")][0]
        assert first["due_on"] == "2026-04-14"
        clock.set(bj(2026, 4, 20))
        r = c.post(f"{base}/payments", json={"amount": "5000", "on": "2026-04-17"}, headers=h)
        assert r.status_code == 200, r.text
        r = c.get(base, headers=h)
        first = [o for o in r.json()["obligations"] if o["label"].startswith("第1期")][0]
        # 3 × 3% × 1,305,000 + 3 × 3% × 1,300,000 = 117,450 + 117,000 = 234,450.00
        assert (first["status"], first["penalty"]) == ("overdue", "234450.00")
        r = c.get(
            "/api/v1/obligations?status=overdue", headers={"Authorization": f"Bearer {admin}"}
        )
        assert [o["id"] for o in r.json()["items"]] == [first["id"]]
        before = dbdump.dump(p)
        problem_of(
            c.post(f"{base}/payments", json={"amount": "2000000", "on": "2026-04-18"}, headers=h),
            422,
            "amount",
        )
        problem_of(
            c.post(f"{base}/payments", json={"amount": "1.001", "on": "2026-04-18"}, headers=h),
            422,
            "amount",
        )
        problem_of(
            c.post(f"{base}/payments", json={"amount": "10", "on": "2025-04-18"}, headers=h),
            422,
            "on",
        )
        problem_of(
            c.post(f"{base}/events", json={"event": "accepted", "on": "2026-04-18"}, headers=h),
            409,
            "event",
        )
        problem_of(c.get("/api/v1/contracts/999/obligations", headers=h), 404, "contract_id")
        reversal = f"{base}/payments/{first['payments'][0]['id']}/reversal"
        problem_of(c.post(reversal, json={"reason": ""}, headers=h), 422, "reason")
        problem_of(c.post(reversal, json={}, headers=h), 422, "reason")
        problem_of(
            c.post(f"{base}/payments/99999/reversal", json={"reason": "x"}, headers=h),
            404,
            "payment_id",
        )
        # another organization's key: answered as missing, its list empty
        hs = {"Authorization": f"Bearer {stranger}"}
        problem_of(c.get(base, headers=hs), 404, "contract_id")
        problem_of(c.post(reversal, json={"reason": "x"}, headers=hs), 404, "contract_id")
        assert dbdump.dump(p) == before
        r = c.post(reversal, json={"reason": "金额录入错误"}, headers=h)
        assert r.status_code == 200, r.text
        first = [o for o in r.json()["obligations"] if o["label"].startswith("第1期")][0]
        assert first["paid"] == "0.00" and first["payments"][0]["reversal_reason"] == "金额录入错误"
        problem_of(c.post(reversal, json={"reason": "x"}, headers=h), 409, "payment_id")
        # the acceptance withdrawn (the latest fact); the delivery is not the latest
        withdrawal = f"{base}/events/withdrawal"
        problem_of(
            c.post(withdrawal, json={"event": "delivered", "reason": "x"}, headers=h), 409, "event"
        )
        problem_of(c.post(withdrawal, json={"event": "accepted"}, headers=h), 422, "reason")
        problem_of(
            c.post(withdrawal, json={"event": "accepted", "reason": "x"}, headers=hs),
            404,
            "contract_id",
        )
        r = c.post(withdrawal, json={"event": "accepted", "reason": "验收报告未签署"}, headers=h)
        assert r.status_code == 200 and r.json()["stage"] == "delivered", r.text
        first = [o for o in r.json()["obligations"] if o["label"].startswith("第1期")][0]
        assert first["due_on"] is None and first["status"] == "pending"
        # (after the comparison: a request that succeeds records its key's last use)
        assert c.get("/api/v1/obligations", headers=hs).json() == {"items": [], "next": None}
        page = c.get("/obligations")
        assert page.status_code == 200 and "履约跟踪" in page.text
        js = c.get("/static/pages/obligations.js")
        assert js.status_code == 200 and "/obligations" in js.text


# --- the overview, a page at a time ---------------------------------------------------------------
def _order(o) -> tuple:
    """The overview's order: soonest due first, those without a due date last, then contract
    and id."""
    return (o.due_on is None, o.due_on or D.max, o.contract_id, o.id)


def _every(p: Platform, as_of: str, status: str | None = None) -> list:
    """What the overview lists, worked out apart from it: each tracked contract's obligations
    as its own view gives them, ``status`` kept, in the overview's order."""
    out = [o for cid in _tracked(p) for o in p.obligations.view(cid, as_of=as_of).obligations]
    return sorted((o for o in out if status in (None, o.status)), key=_order)


def _tracked(p: Platform) -> list[int]:
    from sqlalchemy import select

    from yinxin.store.models.obligations import ContractTracking

    with p.db.read() as s:
        return sorted(s.scalars(select(ContractTracking.contract_id)))


def _walk(p: Platform, limit: int, **filters) -> list:
    """Every obligation the overview gives, ``limit`` a page, following ``next_after``."""
    seen, after = [], None
    while True:
        page = p.obligations.overview(limit=limit, after=after, **filters)
        assert len(page.items) == limit or page.next_after is None  # no short page but the last
        seen += page.items
        if page.next_after is None:
            return seen
        after = page.next_after


def _pay_and_deliver(p: Platform, clock: FrozenClock, g) -> None:
    """Both contracts tracked, the 002 one delivered and accepted (its instalments get due
    dates), a payment on the 003 one: every status on 2026-04-20, some due dates shared."""
    for cid in (g["002"], g["003"]):
        p.obligations.track(cid)
    clock.set(bj(2026, 3, 2))
    p.obligations.record(g["002"], "delivered", "2026-02-12")
    p.obligations.record(g["002"], "accepted", "2026-03-02")
    clock.set(bj(2026, 4, 20))


def test_the_overview_pages_and_walking_them_gives_the_whole_list(world) -> None:
    """GET /obligations (and ``obligation list``) answered every obligation of every contract
    at once, worked out contract by contract in Python; now a page at a time, in a total order
    (due date, none last; contract; id) with the status asked of the database: every page is
    full, and walking them gives exactly the list, in order, for every status and page size."""
    p, clock, g = world
    _pay_and_deliver(p, clock, g)
    whole = _every(p, "2026-04-20")
    assert len(whole) >= 6 and {o.status for o in whole} >= {"pending", "due", "overdue", "met"}
    assert any(o.due_on is None for o in whole) and any(o.due_on for o in whole)
    for status in (None, *STATUSES):
        expected = [(o.id, o.status, o.due_on) for o in _every(p, "2026-04-20", status)]
        for limit in (1, 2, 3, 200):
            got = _walk(p, limit, as_of="2026-04-20", status=status)
            assert [(o.id, o.status, o.due_on) for o in got] == expected, (status, limit)
    # the page's views are the contract's own, to the penalty and the payments
    assert {o.id: o for o in _walk(p, 2, as_of="2026-04-20")} == {o.id: o for o in whole}
    # an organization's own only: another's sees none
    assert _walk(p, 2, as_of="2026-04-20", owner_subscriber_id=g["org"]) == whole
    other = p.subscribers.add_organization(
        name="北京乙单位科技有限公司",
        uscc="91110108MA01YX0043",
        legal_representative="赵六",
        contact_name="赵六",
        contact_phone="010-62345679",
        email="ops@example.cn",
    )
    assert _walk(p, 2, as_of="2026-04-20", owner_subscriber_id=other.id) == []
    # no such subscriber is not an organization with none: refused, as the CLI's --owner is
    with pytest.raises(NotFound) as e:
        _walk(p, 2, as_of="2026-04-20", owner_subscriber_id=other.id + 999)
    assert e.value.field == "owner_subscriber_id"


def test_an_obligation_added_between_pages_is_listed_once_or_not_at_all(world) -> None:
    """The cursor holds the last obligation's sort key, not a row to look up: a contract
    tracked between two pages adds its obligations ahead of the cursor (listed) or behind it
    (not), none twice, every one of the first contract's listed, all in the overview's
    order."""
    p, clock, g = world
    clock.set(bj(2026, 3, 2))
    p.obligations.track(g["003"])  # its yearly fees: due 2026-12-31 and 2027-12-31
    first = p.obligations.overview(limit=1, as_of="2026-03-02")
    assert first.next_after is not None
    # delivered 02-12: due dates in February (behind the cursor), instalments with none (ahead)
    p.obligations.track(g["002"])
    p.obligations.record(g["002"], "delivered", "2026-02-12")
    rest = _walk_from(p, first.next_after, as_of="2026-03-02")
    seen = [*first.items, *rest]
    every = _every(p, "2026-03-02")
    ids = [o.id for o in seen]
    assert len(ids) == len(set(ids))  # none twice
    assert ids == [o.id for o in every if o.id in set(ids)]  # in the order
    mine = {o.id for o in every if o.contract_id == g["003"]}
    assert mine <= set(ids)  # the first contract's, all
    added = [o for o in every if o.contract_id == g["002"]]
    ahead = {o.id for o in added if _order(o) > _order(first.items[0])}
    behind = {o.id for o in added if _order(o) < _order(first.items[0])}
    assert ahead and behind  # the case asked: both sides of the cursor
    assert ahead <= set(ids) and not behind & set(ids)


def _walk_from(p: Platform, after: str, **filters) -> list:
    seen = []
    while after is not None:
        page = p.obligations.overview(limit=2, after=after, **filters)
        seen += page.items
        after = page.next_after
    return seen


def test_a_bad_page_of_the_overview_is_refused_naming_the_field(world) -> None:
    """``after`` is the overview's cursor (DUE:CONTRACT:ID), not an id: anything else, a day
    that is none, a limit out of 1–200, is refused naming the field (service, CLI, API)."""
    from starlette.testclient import TestClient
    from typer.testing import CliRunner

    from tests.integration.api_world import problem_of
    from yinxin.adapters.cli import app as cli_app
    from yinxin.adapters.http.server import create_app

    p, clock, g = world
    p.obligations.track(g["002"])
    bad_after = ["5", "x", "2026-02-30:1:1", "none:1", "2026-4-14:1:1", "none:1:1:1",
                 f"none:1:{2**62 + 1}", "none:-1:1", "NONE:1:1"]  # fmt: skip
    for after in bad_after:
        with pytest.raises(ValidationError) as e:
            p.obligations.overview(after=after)
        assert e.value.field == "after", after
    for limit in (0, 201, True):
        with pytest.raises(ValidationError) as e:
            p.obligations.overview(limit=limit)
        assert e.value.field == "limit", limit
    admin = p.api_keys.create(name="admin", role="administrator", actor="test").secret
    h = {"Authorization": f"Bearer {admin}"}
    with TestClient(create_app(p, jobs=False), base_url="http://127.0.0.1:8000") as c:
        for after in bad_after:
            problem_of(
                c.get("/api/v1/obligations", params={"after": after}, headers=h), 422, "after"
            )
        for limit in ("0", "201", "x"):
            problem_of(c.get(f"/api/v1/obligations?limit={limit}", headers=h), 422, "limit")
        one = c.get("/api/v1/obligations?limit=1", headers=h).json()
        assert len(one["items"]) == 1 and one["next"]
        rest = c.get("/api/v1/obligations", params={"after": one["next"]}, headers=h).json()
        whole = c.get("/api/v1/obligations?limit=200", headers=h).json()
        assert one["items"] + rest["items"] == whole["items"] and whole["next"] is None
    p.close()
    env = cli_env(p.settings.home)
    for args, field in ((["--after", "7"], "[after]"), (["--limit", "0"], "[limit]")):
        res = CliRunner().invoke(cli_app, ["obligation", "list", *args], env=env)
        assert res.exit_code == 2 and field in " ".join(res.stderr.split()), res.output
    res = CliRunner().invoke(cli_app, ["obligation", "list", "--limit", "1", "--json"], env=env)
    page = json.loads(res.stdout)
    assert res.exit_code == 0 and len(page["items"]) == 1 and page["next_after"] == one["next"]
    res = CliRunner().invoke(cli_app, ["obligation", "list", "--limit", "1"], env=env)
    assert f"more: --after {one['next']}" in res.stdout


# --- PostgreSQL -----------------------------------------------------------------------------------
@pytest.fixture
def clock() -> FrozenClock:
    """This module's platforms start on the signing day (the CA too), whatever the date."""
    return FrozenClock(SIGNED)


@pytest.mark.postgres
def test_on_postgresql(make_platform, clock) -> None:
    """The same service on PostgreSQL (row locks are real there): tracked by the job, deemed
    acceptance, a partial payment, reminders once though the job runs twice, a refusal."""
    p = make_platform("postgres")
    w = build_world(p, clock)
    cid = sign_both(p, clock, w, "platform-integration", {})
    job = by_name(default_jobs(p), "obligations.remind")
    assert "tracked: [" + str(cid) + "]" in job.run(p)
    clock.set(bj(2026, 2, 12))
    p.obligations.record(cid, "delivered", "2026-02-12")
    clock.set(bj(2026, 2, 26))
    p.obligations.record(cid, "reminded", "2026-02-26")
    clock.set(bj(2026, 3, 3))
    assert "deemed: [" + str(cid) + "]" in job.run(p)
    assert "deemed: []" in job.run(p)
    first = by_label(p.obligations.view(cid), "第1期")
    assert first.due_on == D(2026, 4, 15)
    clock.set(bj(2026, 4, 14))
    p.obligations.pay(cid, "305000", "2026-04-14")
    job.run(p)
    job.run(p)
    first = by_label(p.obligations.view(cid), "第1期")
    assert [r.point for r in first.reminders] == ["before:1"]
    assert len([m for m in obligation_messages(p) if "第1期" in m["body"]]) == 1
    clock.set(bj(2026, 4, 20))
    first = by_label(p.obligations.view(cid), "第1期")
    # ¥305,000.00 paid before the due day; 04-16 … 04-20: 5 × 3% × ¥1,000,000.00
    assert first.penalty == Decimal("150000.00") and first.days_late == 5
    before = dbdump.dump(p)
    with pytest.raises(ValidationError) as e:
        p.obligations.pay(cid, "1000000.01", "2026-04-20")
    assert e.value.field == "amount"
    assert dbdump.dump(p) == before
    # the overview a page at a time: the order, the status and the cursor asked of PostgreSQL
    # (a date column, NULLs last) give the list the contract's own view gives
    for status in (None, *STATUSES):
        expected = [o.id for o in _every(p, "2026-04-20", status)]
        for limit in (1, 3):
            got = [o.id for o in _walk(p, limit, as_of="2026-04-20", status=status)]
            assert got == expected, (status, limit)
    assert {o.status for o in _every(p, "2026-04-20")} == {"met", "overdue", "pending"}
