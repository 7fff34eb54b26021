"""Obligations (履约跟踪): a signed contract's terms, tracked until every one is met.

``Obligations`` (``platform.obligations``) turns a signed contract's terms into rows someone
can keep: payment milestones from its payment schedule, the acceptance 甲方 must organize
(deemed accepted by 002 §4.2), the delivery 乙方 owes, the O&M fee of 003 due each year — each
with its due date once the event it waits for has happened, its late penalty counted to the day
by :func:`yinxin.contracts.terms.late_penalty`, and its explanation in Chinese.

* ``track(contract_id)`` — reads the terms from the contract's filled values (``derive``) and
  writes the obligations; the ``obligations.remind`` job tracks every newly signed contract
  whose template has terms, and reading a signed contract's obligations tracks it too.
* ``record(contract_id, event, on)`` — the facts that fix due dates, each an explicit move of
  the contract's ``stage`` (``STAGES``): ``delivered`` (乙方 asks for acceptance), ``reminded``
  (乙方's 催告), ``accepted`` (the report signed), ``went_live``. ``pay(…)`` records money
  received against a payment obligation; partial payments lower the penalty base from the day
  after each. Each writes its audit event in the same transaction; a refusal names the field
  and writes nothing.
* ``view(contract_id, as_of)`` / ``overview(as_of, status, after, limit)`` — what is due,
  overdue (with the penalty to the day and how it was counted) and paid, per contract and
  across contracts (a page at a time, ``ObligationPage``).
* ``remind_due()`` — the job: deems acceptance where 002 §4.2 says so, and sends each reminder
  point once (7 and 1 working days before a due date, the first day overdue) through the
  notification outbox, with the ``obligation.due`` audit event webhooks carry.

Why a contract's own words are parsed rather than the template declaring its obligations as
data: the payment schedule is a blank the drafter fills ("验收合格后十日内"), so the rule has to
be read from what was signed; what cannot be read is kept as a pending obligation whose
explanation says so, never guessed. Dates are the contract's own calendar days in Beijing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, not_, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yinxin.clock import BEIJING, Clock
from yinxin.contracts.money import CENT, format_amount, parse_amount
from yinxin.contracts.terms import (
    DeemedAcceptance,
    Penalty,
    deemed_acceptance,
    format_rate,
    late_penalty,
    period_end,
)
from yinxin.contracts.workdays import WorkCalendar, parse_date, presumed_workday
from yinxin.errors import Conflict, IllegalTransition, NotFound, ValidationError, YinxinError
from yinxin.identity import reason_text, refuse_hidden
from yinxin.store.audit import event
from yinxin.store.db import Database
from yinxin.store.models.contracts import Contract
from yinxin.store.models.obligations import (
    ContractTracking,
    Obligation,
    ObligationPayment,
    ObligationReminder,
)
from yinxin.transitions import TransitionTable, move

if TYPE_CHECKING:
    from yinxin.contracts.service import Contracts
    from yinxin.notify.service import Notifier

SUBJECT = "contract"
# the contract is the subject of its events, whichever their first word (obligation.paid…)
_audit = partial(event, subject_type=SUBJECT)
TEMPLATE_ID = "obligation_due"
#: Reminders: this many working days before the due date, then the first day overdue.
REMINDER_WORKDAYS = (7, 1)
#: More calendar days than the longest stretch 7 working days span (Spring Festival: ~20).
LOOKAHEAD_DAYS = 31
MAX_REFERENCE = 100


# --- states ---------------------------------------------------------------------------------------
class Stage(StrEnum):
    """Where the contract's performance stands (the facts that fix due dates)."""

    NONE = "none"
    SIGNED = "signed"  # in effect; nothing delivered yet
    DELIVERED = "delivered"  # 乙方 delivered and asked for acceptance (验收申请)
    REMINDED = "reminded"  # 乙方 reminded 甲方 to organize acceptance (催告)
    ACCEPTED = "accepted"  # the acceptance report signed, or acceptance deemed
    LIVE = "live"  # the system went live after acceptance


_S = Stage
STAGES: TransitionTable[Stage] = TransitionTable(
    "contract performance",
    "event",
    hold_state=None,
    moves=[
        move("track", "start tracking a signed contract", {_S.NONE}, _S.SIGNED, creates=True),
        move("delivered", "delivered, acceptance requested", {_S.SIGNED}, _S.DELIVERED),
        move("reminded", "reminded to organize acceptance", {_S.DELIVERED}, _S.REMINDED),
        move("accepted", "acceptance report signed", {_S.DELIVERED, _S.REMINDED}, _S.ACCEPTED),
        move("deemed", "acceptance deemed (002 §4.2)", {_S.REMINDED}, _S.ACCEPTED),
        move("went_live", "the system went live", {_S.ACCEPTED}, _S.LIVE),
        # the latest fact withdrawn (recorded by mistake): back to the stage before it
        move("withdraw_delivered", "delivery withdrawn", {_S.DELIVERED}, _S.SIGNED),
        move("withdraw_reminded", "reminder withdrawn", {_S.REMINDED}, _S.DELIVERED),
        move("withdraw_accepted", "acceptance withdrawn", {_S.ACCEPTED}, _S.DELIVERED),
        move(
            "withdraw_accepted_reminded",
            "acceptance withdrawn; the reminder stands",
            {_S.ACCEPTED},
            _S.REMINDED,
        ),
        move("withdraw_went_live", "go-live withdrawn", {_S.LIVE}, _S.ACCEPTED),
    ],
)
#: the fact each stage was reached by, which is the one that can be withdrawn there
LATEST_FACT = {
    _S.DELIVERED: "delivered",
    _S.REMINDED: "reminded",
    _S.ACCEPTED: "accepted",
    _S.LIVE: "went_live",
}


class EventKind(StrEnum):
    DELIVERED = "delivered"
    REMINDED = "reminded"
    ACCEPTED = "accepted"
    WENT_LIVE = "went_live"


class ObligationState(StrEnum):
    NONE = "none"
    PENDING = "pending"  # the event that fixes its due date has not happened
    OPEN = "open"  # due date known, not met
    PARTLY_PAID = "partly_paid"  # some of the money received
    MET = "met"  # paid in full, delivered, accepted
    DEEMED = "deemed"  # acceptance deemed by silence (002 §4.2)


_O = ObligationState
_PP = _O.PARTLY_PAID
# what a fact that meets an obligation appends to its explanation (and a withdrawal removes)
_MET_BY = {"acceptance": "签署验收合格报告", "delivery": "交付并提交验收申请"}
_UNMET = {_O.PENDING, _O.OPEN, _O.PARTLY_PAID}
_PAID = {_O.PARTLY_PAID, _O.MET}  # what a payment can have made an obligation
OBLIGATION_LIFECYCLE: TransitionTable[ObligationState] = TransitionTable(
    "obligation",
    "obligation_id",
    hold_state=None,
    moves=[
        move("derive", "read from the contract's terms", {_O.NONE}, _O.PENDING, creates=True),
        move("schedule", "its due date is fixed", {_O.PENDING, _O.OPEN}, _O.OPEN),
        # money paid before the event that fixes the due date: the rest falls due then
        move("schedule_rest", "its due date is fixed; some money received", {_PP}, _PP),
        move("pay_part", "part of the money received", _UNMET, _O.PARTLY_PAID),
        move("pay_off", "the rest of the money received", _UNMET, _O.MET),
        move("meet", "delivered / accepted", {_O.PENDING, _O.OPEN}, _O.MET),
        move("deem", "accepted by silence", {_O.OPEN}, _O.DEEMED),
        # a payment reversed (冲正): back to what the payments that stand make it
        move("reverse_part", "a payment reversed; some money stands", _PAID, _O.PARTLY_PAID),
        move("reverse_open", "a payment reversed; none stands, due date known", _PAID, _O.OPEN),
        move("reverse_pending", "a payment reversed; none stands, no due date", _PAID, _O.PENDING),
        # the fact that met it or fixed its due date withdrawn
        move("reopen", "the fact that met it withdrawn; due date known", {_O.MET}, _O.OPEN),
        move("reopen_pending", "the fact that met it withdrawn; no due date", {_O.MET}, _O.PENDING),
        move("unschedule", "the fact that fixed its due date withdrawn", {_O.OPEN}, _O.PENDING),
        move("unschedule_rest", "the fact that fixed its due date withdrawn", {_PP}, _PP),
    ],
)


# --- results --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ObligationPaymentView:
    id: int
    paid_on: dt.date
    amount: Decimal
    reference: str | None
    recorded_by: str
    # a reversed payment (冲正) is listed, and counts towards nothing
    reversed_at: dt.datetime | None = None
    reversed_by: str | None = None
    reversal_reason: str | None = None


@dataclass(frozen=True)
class ReminderView:
    point: str
    due_on: dt.date
    sent_on: dt.date
    notification_id: int | None
    note: str | None


@dataclass(frozen=True)
class ObligationView:
    """One obligation as of a day: ``status`` is ``pending`` (due date not yet known), ``due``
    (not yet late), ``overdue`` or ``met``; an overdue or late-paid one carries its penalty."""

    id: int
    contract_id: int
    contract_number: str
    kind: str
    label: str
    debtor: str
    wording: str
    amount: Decimal | None
    paid: Decimal
    outstanding: Decimal | None
    event: str | None
    due_on: dt.date | None
    due_explanation: str
    state: ObligationState
    status: str
    days_late: int
    workdays_left: int | None
    met_on: dt.date | None
    penalty: Decimal | None
    penalty_explanation: str | None
    penalty_notes: tuple[str, ...]
    penalty_clause: str | None
    payments: tuple[ObligationPaymentView, ...]
    reminders: tuple[ReminderView, ...]


@dataclass(frozen=True)
class ContractObligations:
    contract_id: int
    number: str
    title: str
    template_code: str
    owner_subscriber_id: int | None
    stage: Stage
    as_of: dt.date
    effective_on: dt.date
    delivered_on: dt.date | None
    reminded_on: dt.date | None
    accepted_on: dt.date | None
    acceptance_deemed: bool
    acceptance_explanation: str | None
    live_on: dt.date | None
    obligations: tuple[ObligationView, ...]
    total_due: Decimal  # money owed under payment obligations, paid or not
    total_paid: Decimal
    total_overdue: Decimal  # unpaid money past its due date
    total_penalty: Decimal  # both parties' penalties added: a figure for the ledger only
    penalty_note: str | None
    # what each party owes in penalties, capped (甲方 → ¥…): they run in opposite directions,
    # so this, not the total, is what a person reads; a party owing none is not listed
    penalty_by_debtor: dict[str, Decimal] = field(default_factory=dict)
    # true when a payment asked for was found recorded already (same reference, amount and
    # day): nothing was recorded again (docs/obligations.md)
    replayed: bool = False
    # the facts this contract records (``facts_of``): 003 none, 002 all four
    facts: tuple[str, ...] = ()


@dataclass(frozen=True)
class ObligationPage:
    """A page of :meth:`Obligations.overview`: ``next_after`` is the ``after`` of the
    next page (none: this was the last), the cursor of its last obligation (:func:`cursor`)."""

    items: tuple[ObligationView, ...]
    next_after: str | None


@dataclass(frozen=True)
class ReminderRun:
    tracked: tuple[int, ...]  # contracts newly tracked
    deemed: tuple[int, ...]  # contracts whose acceptance was deemed
    sent: tuple[tuple[int, str], ...]  # (obligation id, point)
    failed: tuple[str, ...] = field(default_factory=tuple)


# --- reading terms from a contract ----------------------------------------------------------------
@dataclass(frozen=True)
class Spec:
    """One obligation as the contract's terms state it (before any event)."""

    kind: str
    label: str
    debtor: str
    wording: str
    amount: Decimal | None
    event: str | None  # signing | delivery | acceptance | go_live | fixed | None (unreadable)
    months: int = 0
    workdays: int = 0
    days: int = 0
    fixed_on: dt.date | None = None
    penalty_rate: Decimal | None = None
    penalty_base: str | None = None  # unpaid | contract
    penalty_cap_rate: Decimal | None = None
    penalty_cap_base: Decimal | None = None
    penalty_clause: str | None = None


EVENT_NAMES = {
    "signing": "合同生效",
    "delivery": "交付（提交验收申请）",
    "acceptance": "验收合格",
    "go_live": "系统上线运行",
    "fixed": "约定日期",
}
_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7}
_CN_DIGITS |= {"八": 8, "九": 9}
_NUM = r"(\d{1,4}|[零一二两三四五六七八九十百]{1,5})"
_FREE = r"(?<![第\d零一二两三四五六七八九十百])"  # a count, not an ordinal nor a number's tail


def _number(text: str) -> int:
    """30 · 三十 · 十 · 十五 · 一百二十 — the small numbers contracts write in words."""
    if text.isdigit():
        return int(text)
    total, current = 0, 0
    for ch in text:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
    return total + current


def read_milestone(text: str) -> tuple[str | None, int, int, int]:
    """(event, months, working days, calendar days) from a schedule row's words.

    "甲乙双方签署项目验收合格报告后 30 个工作日内" → (acceptance, 0, 30, 0);
    "系统上线运行满 12 个月的 30 个工作日内" → (go_live, 12, 30, 0); "协议生效后十日内" →
    (signing, 0, 0, 10); "验收后满一年保证期" → (acceptance, 12, 0, 0). ``None`` when no event
    the platform records is named (such a row stays pending and says so)."""
    t = re.sub(r"\s+", "", text)
    if "上线" in t:
        event: str | None = "go_live"
    elif "验收" in t:
        event = "acceptance"
    elif "交付" in t:
        event = "delivery"
    elif any(w in t for w in ("签订", "生效", "签署", "签字", "签章")):
        event = "signing"
    else:
        event = None
    months = 0
    # without 满 a count of months or years is a period only where one ends (内, 后, 届满 …),
    # not an ordinal (第1年) nor part of a date (2026年)
    ends = r"(?=内|后|以内|之内|届满|期满|的|$)"
    if m := re.search(rf"满{_NUM}个?月|{_FREE}{_NUM}个月{ends}", t):
        months = _number(m[1] or m[2])
    elif m := re.search(
        rf"满{_NUM}个?年|{_FREE}(\d{{1,2}}|[一二两三四五六七八九十]{{1,3}})年{ends}", t
    ):
        months = 12 * _number(m[1] or m[2])
    workdays = days = 0
    if m := re.search(rf"{_NUM}个?工作日", t):
        workdays = _number(m[1])
    elif m := re.search(rf"{_NUM}个?(?:日|天)(?:内|之内|以内)", t):
        days = _number(m[1])
    if not (months or workdays or days) and re.search(
        rf"{_FREE}(?:{_NUM}|半)个?(?:工作日|日|天|周|星期|月|年)", t
    ):
        # the row states a period the rules above cannot read (两周内, 半年内, a date): the due
        # date is not the event's own day, so it is left for a person, never guessed
        return None, 0, 0, 0
    return event, months, workdays, days


def _dec(values: dict, name: str) -> Decimal | None:
    v = values.get(name)
    return None if v in (None, "") else Decimal(str(v))


def derive(template_code: str, values: dict[str, Any], effective_on: dt.date) -> list[Spec]:
    """The obligations a contract's filled values declare.

    * a ``schedule`` blank (every template with a payment schedule): one payment obligation
      per row, owed by 甲方, its rule read from the row's words (``read_milestone``), the
      amount the row's; the late penalty from ``late_rate`` (a rate a day of the unpaid
      amount), capped at ``penalty_cap`` % of the price where the contract has one (002 §8.1);
    * 002 (``platform-integration``): the acceptance 甲方 must organize within
      ``acceptance_days`` working days of the request (deemed after ``reminder_days`` more
      from a reminder), and the delivery 乙方 owes within ``delivery_days`` days of the
      contract taking effect (late: ``late_rate`` of the contract amount a day, capped, §8.2);
    * 003 (``om-service``): the yearly fee due on the day ``payment_due`` names ("每年的 12
      月 31 日前") in each year of the term, with ``late_rate`` on the unpaid fee, no cap.
    """
    out: list[Spec] = []
    rate = _dec(values, "late_rate")
    price = _dec(values, "price")
    cap_rate = _dec(values, "penalty_cap")
    cap_rate = cap_rate / 100 if cap_rate is not None else None

    def clause(what: str, base: str) -> str | None:
        if rate is None:
            return None
        text = f"逾期{what}的，每逾期一日按{base}的 {format_rate(rate)} 计违约金"
        if cap_rate is not None and price is not None:
            text += (
                f"，以合同金额的 {format_rate(cap_rate)}（{format_amount(price * cap_rate)}）为限"
            )
        return text

    schedule = values.get("schedule")
    if isinstance(schedule, list):
        n = len(schedule)
        for i, row in enumerate(schedule, 1):
            words = str(row.get("milestone", ""))
            event, months, workdays, days = read_milestone(words)
            out.append(
                Spec(
                    kind="payment",
                    label=f"第{i}期付款（{row.get('percent')}%）" if n > 1 else "付款",
                    debtor="甲方",
                    wording=words,
                    amount=Decimal(str(row["amount"])),
                    event=event,
                    months=months,
                    workdays=workdays,
                    days=days,
                    penalty_rate=rate,
                    penalty_base="unpaid" if rate is not None else None,
                    penalty_cap_rate=cap_rate if price is not None else None,
                    penalty_cap_base=price if cap_rate is not None else None,
                    penalty_clause=clause("付款", "未付金额"),
                )
            )
    if template_code == "platform-integration":
        review, remind = int(values["acceptance_days"]), int(values["reminder_days"])
        out.insert(
            0,
            Spec(
                kind="acceptance",
                label="组织验收",
                debtor="甲方",
                wording=(
                    f"甲方自收到乙方提交的验收申请后 {review} 个工作日内未组织验收，且自乙方催告后 "
                    f"{remind} 个工作日内仍未组织验收的，视为验收通过"
                ),
                amount=None,
                event="delivery",
                workdays=review,
            ),
        )
        out.insert(
            0,
            Spec(
                kind="delivery",
                label="完成集成及调测",
                debtor="乙方",
                wording=(
                    f"乙方应自合同生效之日起 {values['delivery_days']} 日内完成平台集成及调测，"
                    "达到交付验收标准"
                ),
                amount=None,
                event="signing",
                days=int(values["delivery_days"]),
                penalty_rate=rate,
                penalty_base="contract" if rate is not None else None,
                penalty_cap_rate=cap_rate,
                penalty_cap_base=price if cap_rate is not None else None,
                penalty_clause=clause("完成", "合同金额"),
            ),
        )
    if template_code == "om-service" and values.get("annual_fee"):
        fee = Decimal(str(values["annual_fee"]))
        start = dt.date.fromisoformat(values["start_date"])
        end = dt.date.fromisoformat(values["end_date"])
        words = str(values.get("payment_due", ""))
        m = re.search(r"(\d{1,2})\s*月\s*(\d{1,2})\s*日", words)
        days_due: list[dt.date] = []
        if m and "每年" in words:
            month, day = int(m[1]), int(m[2])
            for year in range(start.year, end.year + 1):
                try:
                    d = dt.date(year, month, day)
                except ValueError:
                    continue
                if start <= d <= end:
                    days_due.append(d)
        for d in days_due or [None]:
            out.append(
                Spec(
                    kind="payment",
                    label=f"{d.year} 年度运维费" if d else "运维费",
                    debtor="甲方",
                    wording=f"甲方须于{words}向乙方支付当年度系统软件运行维护费",
                    amount=fee,
                    event="fixed" if d else None,
                    fixed_on=d,
                    penalty_rate=rate,
                    penalty_base="unpaid" if rate is not None else None,
                    penalty_clause=clause("付款", "应付而未付运维服务费"),
                )
            )
    return out


# --- the service ----------------------------------------------------------------------------------
class Obligations:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        calendar: WorkCalendar,
        *,
        contracts: Callable[[], Contracts],
        notifier: Callable[[], Notifier] | None = None,
    ):
        """``contracts`` and ``notifier`` are called when needed: listing obligations builds
        neither the signing services nor the gateways."""
        self.db, self.clock, self.calendar = db, clock, calendar
        self._contracts, self._notifier = contracts, notifier

    def today(self) -> dt.date:
        return self.clock.now().astimezone(BEIJING).date()

    # === tracking =================================================================================
    def track(self, contract_id: int, *, actor: str = "operator") -> ContractObligations:
        """Start tracking a signed contract: its obligations read from its terms, due dates
        fixed for those whose event is the contract taking effect or a fixed day."""
        actor = _actor(actor)
        contract = self._signed(contract_id)
        with self.db.transaction() as s:
            _hold_contract(s, contract_id)
            if s.scalar(
                select(ContractTracking.id).where(ContractTracking.contract_id == contract_id)
            ):
                raise Conflict(
                    f"contract {contract.number} is tracked already", field="contract_id"
                )
            self._track_in(s, contract, actor, self.clock.now())
        return self.view(contract_id)

    def _signed(self, contract_id: int) -> Any:
        """The contract (its finished sign flow settled first), refused unless it is signed
        and its template states terms the platform tracks."""
        if isinstance(contract_id, bool) or not isinstance(contract_id, int):
            raise ValidationError("a contract id is a number", field="contract_id")
        contract = self._contracts().get(contract_id)
        if contract.state != "signed":
            raise IllegalTransition(
                f"contract {contract.number} is {contract.state}: only a signed contract has "
                "obligations to track",
                field="contract_id",
            )
        return contract

    def _track_in(self, s: Session, contract: Any, actor: str, now: dt.datetime) -> None:
        """The tracking row and the obligations of ``contract``, in the caller's transaction
        (so an event or a payment refused on a contract not yet tracked leaves nothing)."""
        assert contract.signed_at is not None
        effective = contract.signed_at.astimezone(BEIJING).date()
        specs = derive(contract.template_code, contract.values, effective)
        if not specs:
            raise ValidationError(
                f"contract {contract.number} ({contract.template_code}) states no payment, "
                "acceptance or delivery terms the platform tracks",
                field="contract_id",
                code="no_terms",
            )
        t = ContractTracking(
            contract_id=contract.id,
            stage=STAGES.check("track", _S.NONE, None, contract.number).to_state,
            effective_on=effective,
            created_at=now,
            created_by=actor,
            updated_at=now,
        )
        s.add(t)
        for i, spec in enumerate(specs, 1):
            s.add(
                Obligation(
                    contract_id=contract.id,
                    seq=i,
                    kind=spec.kind,
                    label=spec.label,
                    debtor=spec.debtor,
                    wording=spec.wording,
                    amount=None if spec.amount is None else str(spec.amount),
                    event=spec.event,
                    months=spec.months,
                    workdays=spec.workdays,
                    days=spec.days,
                    fixed_on=spec.fixed_on,
                    due_on=None,
                    due_explanation=_pending_text(spec.event),
                    state=OBLIGATION_LIFECYCLE.check("derive", _O.NONE, None, "new").to_state,
                    paid="0.00",
                    penalty_rate=_s(spec.penalty_rate),
                    penalty_base=spec.penalty_base,
                    penalty_cap_rate=_s(spec.penalty_cap_rate),
                    penalty_cap_base=_s(spec.penalty_cap_base),
                    penalty_clause=spec.penalty_clause,
                    created_at=now,
                    updated_at=now,
                )
            )
        s.flush()
        fixed = self._schedule(s, t, now)
        _audit(
            s,
            now,
            actor,
            "obligation.tracked",
            contract.id,
            {
                "number": contract.number,
                "effective_on": effective.isoformat(),
                "obligations": len(specs),
                "scheduled": fixed,
                "owner_subscriber_id": contract.owner_subscriber_id,
            },
        )

    def _tracked_in(self, s: Session, contract: Any, now: dt.datetime) -> None:
        """Track ``contract`` in ``s`` unless it is tracked already (its row held first)."""
        _hold_contract(s, contract.id)
        if not s.scalar(
            select(ContractTracking.id).where(ContractTracking.contract_id == contract.id)
        ):
            self._track_in(s, contract, "system:obligations", now)

    def _schedule(self, s: Session, t: ContractTracking, now: dt.datetime) -> list[dict]:
        """Fix the due date of every obligation whose event is now known (in ``s``); returns
        what it fixed. A due date in a year without an official calendar refuses the whole
        change with ``calendar_missing`` — nothing half-scheduled is written."""
        events = {
            "signing": t.effective_on,
            "fixed": None,
            "delivery": t.delivered_on,
            "acceptance": t.accepted_on,
            "go_live": t.live_on,
        }
        fixed = []
        rows = s.scalars(
            select(Obligation)
            .where(Obligation.contract_id == t.contract_id)
            .order_by(Obligation.seq)
        ).all()
        for o in rows:
            # a partly paid instalment is scheduled too: money received before its event was
            # known left it with no due date for the rest, never reminded nor late
            if o.state not in (_O.PENDING, _O.OPEN, _PP):
                continue
            try:
                if o.kind == "acceptance":
                    due, text = self._acceptance_due(o, t)
                else:
                    happened = o.fixed_on if o.event == "fixed" else events.get(o.event or "")
                    if happened is None:
                        continue
                    due, text = self._due(o, happened)
            except ValidationError as e:
                if e.code != "calendar_missing":
                    raise
                # the fact is kept; the due date waits for the year's official calendar
                # (docs/contract-terms.md) and is fixed by the next run of the job after it
                o.due_explanation = f"到期日待定：{e.message}"
                continue
            if due is None or (o.due_on == due and o.state != _O.PENDING):
                continue
            verb = "schedule_rest" if o.state == _PP else "schedule"
            o.state = OBLIGATION_LIFECYCLE.check(verb, o.state, None, str(o.id)).to_state
            o.due_on, o.due_explanation, o.updated_at = due, text, now
            fixed.append({"obligation_id": o.id, "label": o.label, "due_on": due.isoformat()})
        return fixed

    def _due(self, o: Obligation, happened: dt.date) -> tuple[dt.date, str]:
        name = EVENT_NAMES.get(o.event or "", o.event or "")
        due, steps = period_end(
            happened,
            self.calendar,
            months=o.months,
            workdays=o.workdays,
            days=o.days,
            field="on",
        )
        head = f"{name} {happened.isoformat()}{steps}"
        if not (o.months or o.workdays or o.days) and o.event != "fixed":
            head += "（合同未写明期限，按当日计）"
        verb = "支付" if o.kind == "payment" else "完成"
        return due, f"{head}，应于 {due.isoformat()} 前（含当日）{verb}"

    def _deemed(
        self, o: Obligation, delivered_on: dt.date, reminded_on: dt.date | None
    ) -> DeemedAcceptance:
        """The acceptance obligation's windows (its review workdays and its wording's reminder
        workdays) from delivery and the reminder: for its due date and for deeming alike."""
        return deemed_acceptance(
            delivered_on,
            self.calendar,
            reminded=reminded_on,
            review_workdays=o.workdays,
            reminder_workdays=_reminder_workdays(o.wording),
        )

    def _acceptance_due(self, o: Obligation, t: ContractTracking) -> tuple[dt.date | None, str]:
        if t.delivered_on is None:
            return None, ""
        d = self._deemed(o, t.delivered_on, t.reminded_on)
        due = d.review_until if d.reminder_until is None else max(d.review_until, d.reminder_until)
        return due, d.explanation

    # === events ===================================================================================
    @contextmanager
    def _performance(
        self, contract_id: int
    ) -> Iterator[tuple[Session, ContractTracking, Contract, dt.datetime, dt.date]]:
        """Where a fact is recorded or withdrawn: one transaction with the contract's tracking
        (made if the job has not yet) locked, and an acceptance deemed by today settled first,
        so the stage the caller checks is the one the contract is at."""
        contract = self._signed(contract_id)
        now, today = self.clock.now(), self.today()
        with self.db.transaction() as s:
            self._tracked_in(s, contract, now)
            t, c = self._tracking(s, contract_id, lock=True)
            self._settle_deemed(s, t, c, today, now)
            yield s, t, c, now, today

    def record(
        self,
        contract_id: int,
        event: str,
        on: dt.date | str,
        *,
        actor: str = "operator",
    ) -> ContractObligations:
        """A fact that fixes due dates: ``delivered``, ``reminded``, ``accepted``,
        ``went_live`` on the day ``on`` (not before the contract took effect nor the fact
        before it, not after today). The stage moves, due dates follow, and the audit event
        is written, in one transaction."""
        _check_event(event)
        day = parse_date(on, field="on")
        actor = _actor(actor)
        with self._performance(contract_id) as (s, t, c, now, today):
            duties = s.execute(
                select(Obligation.kind, Obligation.event).where(
                    Obligation.contract_id == contract_id
                )
            ).all()
            _fact_of_contract(event, facts_of(duties), c.number)
            _fact_in_order(event, t.stage, c.number)
            if day > today:
                raise ValidationError(f"{day} is after today ({today})", field="on")
            earlier = {
                "delivered": (t.effective_on, "the contract took effect"),
                "reminded": (t.delivered_on, "delivery"),
                "accepted": (t.delivered_on, "delivery"),
                "went_live": (t.accepted_on, "acceptance"),
            }[event]
            if earlier[0] is not None and day < earlier[0]:
                raise ValidationError(
                    f"{day} is before {earlier[1]} ({earlier[0]})", field="on", code="too_early"
                )
            t.stage = STAGES.check(event, t.stage, None, c.number).to_state
            t.updated_at = now
            met = []
            if event == "delivered":
                t.delivered_on = day
                met = self._meet(s, t, "delivery", day, now)
            elif event == "reminded":
                t.reminded_on = day
            elif event == "accepted":
                t.accepted_on, t.acceptance_deemed = day, False
                met = self._meet(s, t, "acceptance", day, now)
            else:
                t.live_on = day
            fixed = self._schedule(s, t, now)
            _audit(
                s,
                now,
                actor,
                f"obligation.{event}",
                contract_id,
                {
                    "on": day.isoformat(),
                    "stage": t.stage,
                    "met": met,
                    "scheduled": fixed,
                    "owner_subscriber_id": c.owner_subscriber_id,
                },
            )
        return self.view(contract_id)

    def _meet(
        self, s: Session, t: ContractTracking, kind: str, day: dt.date, now: dt.datetime
    ) -> list[int]:
        met = []
        for o in s.scalars(
            select(Obligation)
            .where(Obligation.contract_id == t.contract_id, Obligation.kind == kind)
            .order_by(Obligation.id)  # met (and audited) in one order on every database
        ):
            if o.state in (_O.PENDING, _O.OPEN):
                o.state = OBLIGATION_LIFECYCLE.check("meet", o.state, None, str(o.id)).to_state
                o.met_on, o.updated_at = day, now
                done = _MET_BY[kind]
                o.due_explanation = f"{o.due_explanation}；{day.isoformat()} {done}"
                met.append(o.id)
        return met

    def _settle_deemed(
        self, s: Session, t: ContractTracking, c: Contract, today: dt.date, now: dt.datetime
    ) -> bool:
        """002 §4.2 in the caller's transaction: once the later window after the reminder has
        passed without acceptance, acceptance is deemed from the day after; payment due dates
        that wait for acceptance follow. Idempotent (the stage moves once)."""
        if t.stage != _S.REMINDED or t.delivered_on is None:
            return False
        o = s.scalar(
            select(Obligation).where(
                Obligation.contract_id == t.contract_id, Obligation.kind == "acceptance"
            )
        )
        if o is None or o.state != _O.OPEN:
            return False
        d = self._deemed(o, t.delivered_on, t.reminded_on)
        if d.deemed_on is None or today < d.deemed_on:
            return False
        t.stage = STAGES.check("deemed", t.stage, None, c.number).to_state
        t.accepted_on, t.acceptance_deemed, t.updated_at = d.deemed_on, True, now
        o.state = OBLIGATION_LIFECYCLE.check("deem", o.state, None, str(o.id)).to_state
        o.met_on, o.updated_at = d.deemed_on, now
        fixed = self._schedule(s, t, now)
        _audit(
            s,
            now,
            "system:obligations",
            "obligation.deemed",
            t.contract_id,
            {
                "on": d.deemed_on.isoformat(),
                "explanation": d.explanation,
                "scheduled": fixed,
                "owner_subscriber_id": c.owner_subscriber_id,
            },
        )
        return True

    def withdraw(
        self, contract_id: int, event: str, *, reason: str, actor: str = "operator"
    ) -> ContractObligations:
        """A fact recorded by mistake (a wrong day, a delivery that did not happen) is taken
        back: only the latest one, so nothing recorded after it stood on it. The contract goes
        back to the stage before it; what the fact met is open again (its late penalty runs
        again), and the due dates it fixed wait for it again — a partly paid instalment keeps
        its money. Then record it again with the right day (:meth:`record`). An acceptance
        deemed by silence (002 §4.2) follows from the contract, not from a record: refused. The
        audit chain keeps the fact and its withdrawal, with who, when and why."""
        _check_event(event)
        why = reason_text(reason)
        actor = _actor(actor)
        with self._performance(contract_id) as (s, t, c, now, _today):
            latest = LATEST_FACT.get(Stage(t.stage))
            # in Chinese and English, as record's refusals (_fact_in_order): the contract
            # manager who withdraws is the one who records
            if t.stage == _S.ACCEPTED and t.acceptance_deemed:
                raise IllegalTransition(
                    f"合同 {c.number} 的验收是按合同约定（002 §4.2）于 {t.accepted_on} 视为"
                    f"验收合格的，并非登记所得，无可撤回 / contract {c.number}'s acceptance was "
                    f"deemed on {t.accepted_on} by the contract's own rule (002 §4.2), not "
                    "recorded: there is nothing to withdraw",
                    field="event",
                )
            if latest is None:
                raise IllegalTransition(
                    f"合同 {c.number} 尚未登记任何履约事实，无可撤回 / no fact has been "
                    f"recorded for contract {c.number}",
                    field="event",
                )
            if event != latest:
                raise IllegalTransition(
                    f"只能撤回最近登记的履约事实：合同 {c.number} 最近登记的是"
                    f"“{_FACT_ZH[latest]}”，不是“{_FACT_ZH[event]}” / only the latest fact "
                    f"can be withdrawn: for contract {c.number} that is {latest}, not {event}",
                    field="event",
                )
            reopened: list[int] = []
            unscheduled: list[int] = []
            if event == "delivered":
                day, t.delivered_on = t.delivered_on, None
                reopened = self._reopen(s, t, "delivery", day, now)
                unscheduled = self._unschedule(s, t, now, event="delivery")
                verb = "withdraw_delivered"
            elif event == "reminded":
                day, t.reminded_on = t.reminded_on, None
                verb = "withdraw_reminded"
            elif event == "accepted":
                day, t.accepted_on, t.acceptance_deemed = t.accepted_on, None, False
                reopened = self._reopen(s, t, "acceptance", day, now)
                unscheduled = self._unschedule(s, t, now, event="acceptance")
                verb = "withdraw_accepted_reminded" if t.reminded_on else "withdraw_accepted"
            else:
                day, t.live_on = t.live_on, None
                unscheduled = self._unschedule(s, t, now, event="go_live")
                verb = "withdraw_went_live"
            t.stage = STAGES.check(verb, t.stage, None, c.number).to_state
            t.updated_at = now
            fixed = self._schedule(s, t, now)
            _audit(
                s,
                now,
                actor,
                "obligation.withdrawn",
                contract_id,
                {
                    "event": event,
                    "on": day.isoformat() if day else None,
                    "reason": why,
                    "stage": t.stage,
                    "reopened": reopened,
                    "unscheduled": unscheduled,
                    "scheduled": fixed,
                    "owner_subscriber_id": c.owner_subscriber_id,
                },
            )
        return self.view(contract_id)

    def _reopen(
        self, s: Session, t: ContractTracking, kind: str, day: dt.date | None, now: dt.datetime
    ) -> list[int]:
        """The obligations of ``kind`` that the withdrawn fact met (``_meet``) are open again."""
        done = _MET_BY[kind]
        reopened = []
        for o in s.scalars(
            select(Obligation)
            .where(
                Obligation.contract_id == t.contract_id,
                Obligation.kind == kind,
                Obligation.state == _O.MET,
            )
            .order_by(Obligation.id)
        ):
            if day is None or o.met_on != day:
                continue
            verb = "reopen" if o.due_on is not None else "reopen_pending"
            o.state = OBLIGATION_LIFECYCLE.check(verb, o.state, None, str(o.id)).to_state
            suffix = f"；{day.isoformat()} {done}"
            if o.due_explanation and o.due_explanation.endswith(suffix):
                o.due_explanation = o.due_explanation[: -len(suffix)]
            o.met_on, o.updated_at = None, now
            reopened.append(o.id)
        return reopened

    def _unschedule(
        self, s: Session, t: ContractTracking, now: dt.datetime, *, event: str
    ) -> list[int]:
        """The unmet obligations whose due date the withdrawn fact fixed (their ``event``; the
        acceptance duty's is delivery, from which its review window runs) wait for it again."""
        unscheduled = []
        for o in s.scalars(
            select(Obligation)
            .where(
                Obligation.contract_id == t.contract_id,
                Obligation.event == event,
                Obligation.state.in_([_O.OPEN, _PP]),
                Obligation.due_on.is_not(None),
            )
            .order_by(Obligation.seq)
        ):
            verb = "unschedule_rest" if o.state == _PP else "unschedule"
            o.state = OBLIGATION_LIFECYCLE.check(verb, o.state, None, str(o.id)).to_state
            o.due_on, o.due_explanation, o.updated_at = None, _pending_text(o.event), now
            unscheduled.append(o.id)
        return unscheduled

    # === payments =================================================================================
    def pay(
        self,
        contract_id: int,
        amount: str | Decimal,
        on: dt.date | str,
        *,
        obligation_id: int | None = None,
        reference: str | None = None,
        actor: str = "operator",
    ) -> ContractObligations:
        """Money received on ``on`` against a payment obligation (default: the first one not
        paid in full, in due order). A partial payment is allowed; more than is outstanding
        is refused (``amount``), as is a day before the contract took effect or after today.

        A payment with a ``reference`` whose reference, amount and day match a payment standing
        on the contract (and the named obligation, when ``obligation_id`` is given) is that
        payment sent again: the view comes back marked ``replayed``, nothing recorded. One
        transfer paying two instalments is recorded by naming each obligation."""
        value = parse_amount(amount, field="amount")
        if value <= 0:
            raise ValidationError("a payment is more than ¥0.00", field="amount")
        day = parse_date(on, field="on")
        if obligation_id is not None and (
            isinstance(obligation_id, bool) or not isinstance(obligation_id, int)
        ):
            raise ValidationError("an obligation id is a number", field="obligation_id")
        if reference is not None:
            reference = " ".join(str(reference).split()) or None
        if reference is not None:
            if len(reference) > MAX_REFERENCE:
                raise ValidationError(
                    f"a reference is at most {MAX_REFERENCE} characters", field="reference"
                )
            refuse_hidden(reference, "reference")
        actor = _actor(actor)
        contract = self._signed(contract_id)
        now, today = self.clock.now(), self.today()
        with self.db.transaction() as s:
            self._tracked_in(s, contract, now)
            t, c = self._tracking(s, contract_id, lock=True)
            if day < t.effective_on:
                raise ValidationError(
                    f"{day} is before the contract took effect ({t.effective_on})",
                    field="on",
                    code="too_early",
                )
            if day > today:
                raise ValidationError(f"{day} is after today ({today})", field="on")
            replayed = reference is not None and self._recorded(
                s, contract_id, reference, value, day, obligation_id
            )
            if not replayed:
                self._pay_in(s, c, now, actor, value, day, obligation_id, reference)
        view = self.view(contract_id)
        return replace(view, replayed=True) if replayed else view

    @staticmethod
    def _recorded(
        s: Session,
        contract_id: int,
        reference: str,
        value: Decimal,
        day: dt.date,
        obligation_id: int | None,
    ) -> bool:
        """Whether a payment standing on the contract (not reversed) already carries this
        reference, amount and day, and the obligation when one is named: the same payment
        asked for again (a retried request, a double click), not money received twice."""
        q = select(ObligationPayment).where(
            ObligationPayment.contract_id == contract_id,
            ObligationPayment.reference == reference,
            ObligationPayment.paid_on == day,
            ObligationPayment.reversed_at.is_(None),
        )
        if obligation_id is not None:
            q = q.where(ObligationPayment.obligation_id == obligation_id)
        return any(Decimal(x.amount) == value for x in s.scalars(q).all())

    def _pay_in(
        self,
        s: Session,
        c: Any,
        now: dt.datetime,
        actor: str,
        value: Decimal,
        day: dt.date,
        obligation_id: int | None,
        reference: str | None,
    ) -> None:
        """Record the payment: on the named obligation, or the first unpaid in due order."""
        contract_id = c.id
        q = select(Obligation).where(
            Obligation.contract_id == contract_id, Obligation.kind == "payment"
        )
        if obligation_id is not None:
            o = s.scalar(q.where(Obligation.id == obligation_id).with_for_update())
            if o is None:
                raise NotFound(
                    f"contract {c.number} has no payment obligation {obligation_id}",
                    field="obligation_id",
                )
        else:
            unpaid = [x for x in s.scalars(q.with_for_update()).all() if x.state in _UNMET]
            unpaid.sort(key=lambda x: (x.due_on or dt.date.max, x.seq))
            if not unpaid:
                raise IllegalTransition(
                    f"every payment of contract {c.number} is paid", field="obligation_id"
                )
            o = unpaid[0]
        owed = Decimal(o.amount or "0") - Decimal(o.paid)
        if value > owed:
            raise ValidationError(
                f"{format_amount(value)} is more than the {format_amount(owed)} still owed "
                f"on {o.label}",
                field="amount",
                code="overpaid",
            )
        verb = "pay_off" if value == owed else "pay_part"
        o.state = OBLIGATION_LIFECYCLE.check(verb, o.state, None, str(o.id)).to_state
        o.paid = str((Decimal(o.paid) + value).quantize(CENT))
        o.updated_at = now
        if o.state == _O.MET:
            o.met_on = day
        s.add(
            ObligationPayment(
                obligation_id=o.id,
                contract_id=contract_id,
                paid_on=day,
                amount=str(value),
                reference=reference,
                recorded_by=actor,
                recorded_at=now,
            )
        )
        _audit(
            s,
            now,
            actor,
            "obligation.paid",
            contract_id,
            {
                "obligation_id": o.id,
                "on": day.isoformat(),
                "amount": str(value),
                "paid": o.paid,
                "state": o.state,
                "reference": reference,
                "owner_subscriber_id": c.owner_subscriber_id,
            },
        )

    def reverse_payment(
        self, contract_id: int, payment_id: int, *, reason: str, actor: str = "operator"
    ) -> ContractObligations:
        """冲正: a payment recorded by mistake (wrong amount, wrong day, another contract's
        money) stops counting. Its row stays, with who reversed it, when and why, and the audit
        chain keeps both the payment and its reversal; what was paid, the obligation's state and
        the late penalty become what the payments that stand make them. Then record the right
        payment with :meth:`pay`. A payment already reversed is refused."""
        if isinstance(payment_id, bool) or not isinstance(payment_id, int):
            raise ValidationError("a payment id is a number", field="payment_id")
        why = reason_text(reason)
        actor = _actor(actor)
        self._signed(contract_id)
        now = self.clock.now()
        with self.db.transaction() as s:
            _, c = self._tracking(s, contract_id, lock=True)
            p = s.scalar(
                select(ObligationPayment)
                .where(
                    ObligationPayment.id == payment_id,
                    ObligationPayment.contract_id == contract_id,
                )
                .with_for_update()
            )
            if p is None:
                raise NotFound(
                    f"contract {c.number} has no payment {payment_id}", field="payment_id"
                )
            if p.reversed_at is not None:
                raise IllegalTransition(
                    f"payment {payment_id} was reversed already ({p.reversal_reason})",
                    field="payment_id",
                )
            o = s.scalar(
                select(Obligation).where(Obligation.id == p.obligation_id).with_for_update()
            )
            assert o is not None
            standing = s.scalars(
                select(ObligationPayment).where(
                    ObligationPayment.obligation_id == o.id,
                    ObligationPayment.id != p.id,
                    ObligationPayment.reversed_at.is_(None),
                )
            ).all()
            paid = sum((Decimal(x.amount) for x in standing), Decimal(0)).quantize(CENT)
            if paid > 0:
                verb = "reverse_part"
            else:
                verb = "reverse_open" if o.due_on is not None else "reverse_pending"
            o.state = OBLIGATION_LIFECYCLE.check(verb, o.state, None, str(o.id)).to_state
            o.paid, o.met_on, o.updated_at = str(paid), None, now
            p.reversed_at, p.reversed_by, p.reversal_reason = now, actor, why
            _audit(
                s,
                now,
                actor,
                "obligation.payment_reversed",
                contract_id,
                {
                    "obligation_id": o.id,
                    "payment_id": p.id,
                    "on": p.paid_on.isoformat(),
                    "amount": p.amount,
                    "reason": why,
                    "paid": o.paid,
                    "state": o.state,
                    "owner_subscriber_id": c.owner_subscriber_id,
                },
            )
        return self.view(contract_id)

    # === reading ==================================================================================
    def view(self, contract_id: int, *, as_of: dt.date | str | None = None) -> ContractObligations:
        """The contract's obligations as of ``as_of`` (default today, Beijing): due, overdue
        with the penalty to that day, met. A signed contract not yet tracked is tracked now;
        an acceptance that is deemed by now is recorded as such first."""
        day = self.today() if as_of is None else parse_date(as_of, field="as_of")
        self._ensure_tracked(contract_id)
        self._settle(contract_id)
        with self.db.read() as s:
            t, c = self._tracking(s, contract_id)
            return self._contract_view(s, t, c, day)

    def overview(
        self,
        *,
        as_of: dt.date | str | None = None,
        status: str | None = None,
        owner_subscriber_id: int | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> ObligationPage:
        """Tracked obligations across contracts, soonest due first (pending ones last, then by
        contract and id: a total order), ``limit`` at a time from the one after the cursor
        ``after`` (the previous page's ``next_after``); optionally only one ``status``
        (pending, due, overdue, met) or one organization's.

        The status is a function of the row's own columns and the day, so it is asked of the
        database as the order and the cursor are: every page is full, and walking the pages
        gives exactly the list the obligations make, in order, however many there are. The
        cursor holds the last row's sort key (due date, contract, id), not a row to look up:
        a row added behind it is not seen, one added ahead of it is, and none is seen twice —
        only an obligation whose due date is fixed or moved while the pages are walked can
        move behind or ahead of it."""
        if status is not None and status not in STATUSES:
            raise ValidationError(f"status is one of {', '.join(STATUSES)}", field="status")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise ValidationError(f"limit must be 1–{MAX_PAGE}", field="limit")
        key = None if after is None else parse_cursor(after)
        day = self.today() if as_of is None else parse_date(as_of, field="as_of")
        if owner_subscriber_id is not None:  # an unknown one, or a person, owns nothing
            from yinxin.contracts.service import check_owner

            with self.db.read() as s:
                check_owner(s, owner_subscriber_id)
        mine = (
            true()
            if owner_subscriber_id is None
            else (Contract.owner_subscriber_id == owner_subscriber_id)
        )
        # a reminded contract whose acceptance is now deemed is settled first (a write), as
        # reading one contract's obligations settles it; the others have nothing to settle
        with self.db.read() as s:
            waiting = list(
                s.scalars(
                    select(ContractTracking.contract_id)
                    .join(Contract, Contract.id == ContractTracking.contract_id)
                    .where(ContractTracking.stage == _S.REMINDED, mine)
                    .order_by(ContractTracking.contract_id)
                )
            )
        for cid in waiting:
            self._settle(cid)
        with self.db.read() as s:
            q = (
                select(Obligation, Contract)
                .join(Contract, Contract.id == Obligation.contract_id)
                .join(ContractTracking, ContractTracking.contract_id == Obligation.contract_id)
                .where(mine, _status_is(status, day))
            )
            rows: list[Any] = []
            for after_key, order in _segments(key, status):
                if len(rows) > limit:
                    break
                rows += s.execute(q.where(after_key).order_by(*order).limit(limit + 1 - len(rows)))
            more = len(rows) > limit
            rows = rows[:limit]
            ids = [o.id for o, _ in rows]
            pays: dict[int, list[ObligationPayment]] = {i: [] for i in ids}
            rems: dict[int, list[ObligationReminder]] = {i: [] for i in ids}
            if ids:
                for p in s.scalars(
                    select(ObligationPayment)
                    .where(ObligationPayment.obligation_id.in_(ids))
                    .order_by(ObligationPayment.paid_on, ObligationPayment.id)
                ):
                    pays[p.obligation_id].append(p)
                for r in s.scalars(
                    select(ObligationReminder)
                    .where(ObligationReminder.obligation_id.in_(ids))
                    .order_by(ObligationReminder.id)
                ):
                    rems[r.obligation_id].append(r)
            items = tuple(self._obligation_view(o, c, pays[o.id], rems[o.id], day) for o, c in rows)
        return ObligationPage(items, cursor(items[-1]) if more and items else None)

    def _settle(self, contract_id: int) -> None:
        with self.db.read() as s:
            stage = s.scalar(
                select(ContractTracking.stage).where(ContractTracking.contract_id == contract_id)
            )
        if stage != _S.REMINDED:
            return
        now, today = self.clock.now(), self.today()
        with self.db.transaction() as s:
            t, c = self._tracking(s, contract_id, lock=True)
            self._settle_deemed(s, t, c, today, now)

    def _ensure_tracked(self, contract_id: int) -> None:
        """Reading a signed contract's obligations tracks it (as reading a contract settles
        its flow); two readers at once: the second one's insert is refused by the unique
        contract_id and it reads what the first wrote."""
        if isinstance(contract_id, bool) or not isinstance(contract_id, int):
            raise ValidationError("a contract id is a number", field="contract_id")
        with self.db.read() as s:
            known = s.scalar(
                select(ContractTracking.id).where(ContractTracking.contract_id == contract_id)
            )
        if known is None:
            contract = self._signed(contract_id)
            try:
                with self.db.transaction() as s:
                    self._tracked_in(s, contract, self.clock.now())
            except IntegrityError:
                pass  # tracked meanwhile by another caller

    def _contract_view(
        self, s: Session, t: ContractTracking, c: Contract, day: dt.date
    ) -> ContractObligations:
        rows = s.scalars(
            select(Obligation).where(Obligation.contract_id == c.id).order_by(Obligation.seq)
        ).all()
        ids = [o.id for o in rows]
        pays: dict[int, list[ObligationPayment]] = {i: [] for i in ids}
        for p in s.scalars(
            select(ObligationPayment)
            .where(ObligationPayment.contract_id == c.id)
            .order_by(ObligationPayment.paid_on, ObligationPayment.id)
        ):
            pays[p.obligation_id].append(p)
        rems: dict[int, list[ObligationReminder]] = {i: [] for i in ids}
        if ids:
            for r in s.scalars(
                select(ObligationReminder)
                .where(ObligationReminder.obligation_id.in_(ids))
                .order_by(ObligationReminder.id)
            ):
                rems[r.obligation_id].append(r)
        views = tuple(self._obligation_view(o, c, pays[o.id], rems[o.id], day) for o in rows)
        money = [v for v in views if v.kind == "payment" and v.amount is not None]
        # the contract's cap bounds what each party owes in total (002 §8.1 甲方's late
        # payments, §8.2 乙方's late delivery): one party's penalties never fill the other's cap
        by_debtor: dict[str, Decimal] = {}
        notes: list[str] = []
        for debtor in dict.fromkeys(o.debtor for o in rows):
            mine = [(o, v) for o, v in zip(rows, views, strict=True) if o.debtor == debtor]
            owed = sum((v.penalty or Decimal(0) for _, v in mine), Decimal("0.00"))
            cap = _shared_cap([o for o, _ in mine])
            if cap is not None and owed > cap:
                notes.append(
                    f"{debtor}各项违约金合计 {format_amount(owed)}，超过合同约定上限 "
                    f"{format_amount(cap)}，按上限计"
                )
                owed = cap
            if owed:
                by_debtor[debtor] = owed
        note = "；".join(notes) or None
        accept = next((v for v in views if v.kind == "acceptance"), None)
        return ContractObligations(
            contract_id=c.id,
            number=c.number,
            title=c.title,
            template_code=c.template_code,
            owner_subscriber_id=c.owner_subscriber_id,
            stage=Stage(t.stage),
            as_of=day,
            effective_on=t.effective_on,
            delivered_on=t.delivered_on,
            reminded_on=t.reminded_on,
            accepted_on=t.accepted_on,
            acceptance_deemed=t.acceptance_deemed,
            acceptance_explanation=accept.due_explanation if accept else None,
            live_on=t.live_on,
            obligations=views,
            total_due=sum((v.amount or Decimal(0) for v in money), Decimal("0.00")),
            total_paid=sum((v.paid for v in money), Decimal("0.00")),
            total_overdue=sum(
                (v.outstanding or Decimal(0) for v in money if v.status == "overdue"),
                Decimal("0.00"),
            ),
            total_penalty=sum(by_debtor.values(), Decimal("0.00")),
            penalty_note=note,
            penalty_by_debtor=by_debtor,
            facts=facts_of(rows),
        )

    def _obligation_view(
        self,
        o: Obligation,
        c: Contract,
        pays: list[ObligationPayment],
        rems: list[ObligationReminder],
        day: dt.date,
    ) -> ObligationView:
        amount = None if o.amount is None else Decimal(o.amount)
        standing = [p for p in pays if p.reversed_at is None]
        paid_by_day = sum(
            (Decimal(p.amount) for p in standing if p.paid_on <= day), Decimal("0.00")
        )
        outstanding = None if amount is None else amount - paid_by_day
        met = o.state in (_O.MET, _O.DEEMED) and (o.met_on is None or o.met_on <= day)
        if met:
            status = "met"
        elif o.due_on is None:
            status = "pending"
        elif day > o.due_on:
            status = "overdue"
        else:
            status = "due"
        days_late, left = 0, None
        if o.due_on is not None and status == "due":
            try:
                left = self.calendar.workdays_between(day, o.due_on)
            except YinxinError:
                left = None  # a year without an official calendar
        penalty: Penalty | None = None
        if o.due_on is not None and o.penalty_rate is not None:
            if o.penalty_base == "contract":  # 002 §8.2: a rate of the contract amount
                base = Decimal(_price(c) or "0")
                settled = [(o.met_on, base)] if o.met_on is not None else []
            else:
                base = amount or Decimal(0)
                settled = [(p.paid_on, Decimal(p.amount)) for p in standing]
            if base > 0 and day > o.due_on:
                penalty = late_penalty(
                    base,
                    o.due_on,
                    day,
                    Decimal(o.penalty_rate),
                    payments=[(d, a) for d, a in settled if d is not None],
                    cap_rate=o.penalty_cap_rate,
                    cap_base=o.penalty_cap_base,
                )
                days_late = penalty.days_late
        return ObligationView(
            id=o.id,
            contract_id=c.id,
            contract_number=c.number,
            kind=o.kind,
            label=o.label,
            debtor=o.debtor,
            wording=o.wording,
            amount=amount,
            paid=paid_by_day,
            outstanding=outstanding,
            event=o.event,
            due_on=o.due_on,
            due_explanation=o.due_explanation,
            state=ObligationState(o.state),
            status=status,
            days_late=days_late,
            workdays_left=left,
            met_on=o.met_on,
            penalty=penalty.total if penalty and penalty.total else None,
            penalty_explanation=penalty.explanation if penalty and penalty.lines else None,
            penalty_notes=penalty.notes if penalty else (),
            penalty_clause=o.penalty_clause,
            payments=tuple(
                ObligationPaymentView(
                    p.id,
                    p.paid_on,
                    Decimal(p.amount),
                    p.reference,
                    p.recorded_by,
                    p.reversed_at,
                    p.reversed_by,
                    p.reversal_reason,
                )
                for p in pays
            ),
            reminders=tuple(
                ReminderView(r.point, r.due_on, r.sent_on, r.notification_id, r.note) for r in rems
            ),
        )

    # === the job ==================================================================================
    def remind_due(self) -> ReminderRun:
        """Track newly signed contracts, deem acceptances, and send each reminder point that
        has come and not gone out yet — once: the reminder row (unique per obligation, point
        and due date), its ``obligation.due`` audit event and the outbox message are written in
        one transaction after the row is locked and re-checked, so a second run, or a second
        worker, finds it sent. The messages are handed to the gateway after the commit."""
        tracked, deemed, sent, failed = [], [], [], []
        with self.db.read() as s:
            new = list(
                s.scalars(
                    select(Contract.id)
                    .outerjoin(ContractTracking, ContractTracking.contract_id == Contract.id)
                    .where(Contract.state == "signed", ContractTracking.id.is_(None))
                    .order_by(Contract.id)
                )
            )
        for cid in new:
            try:
                self.track(cid, actor="system:obligations")
                tracked.append(cid)
            except (Conflict, ValidationError) as e:
                if getattr(e, "code", "") not in ("no_terms", "conflict"):
                    failed.append(f"contract {cid}: {e.message}")
        with self.db.read() as s:
            waiting = list(
                s.scalars(
                    select(Obligation.contract_id)
                    .where(
                        Obligation.state.in_([_O.PENDING, _PP]),
                        Obligation.due_explanation.like("到期日待定：%"),
                    )
                    .distinct()
                )
            )
        for cid in waiting:  # a year's calendar added since: fix the due dates now
            now = self.clock.now()
            with self.db.transaction() as s:
                t, c = self._tracking(s, cid, lock=True)
                fixed = self._schedule(s, t, now)
                if fixed:
                    _audit(
                        s,
                        now,
                        "system:obligations",
                        "obligation.scheduled",
                        cid,
                        {"scheduled": fixed, "owner_subscriber_id": c.owner_subscriber_id},
                    )
        with self.db.read() as s:
            reminded = list(
                s.scalars(
                    select(ContractTracking.contract_id).where(
                        ContractTracking.stage == _S.REMINDED
                    )
                )
            )
        for cid in reminded:
            now, today = self.clock.now(), self.today()
            with self.db.transaction() as s:
                t, c = self._tracking(s, cid, lock=True)
                if self._settle_deemed(s, t, c, today, now):
                    deemed.append(cid)
        today = self.today()
        with self.db.read() as s:
            candidates = [
                (o.id, o.due_on)
                for o in s.scalars(
                    select(Obligation)
                    .where(
                        Obligation.state.in_([_O.OPEN, _O.PARTLY_PAID]),
                        Obligation.due_on.is_not(None),
                    )
                    .order_by(Obligation.due_on, Obligation.id)
                )
            ]
        for oid, due in candidates:
            try:
                point = self.point(today, due)
            except YinxinError as e:
                failed.append(f"obligation {oid}: {e.message}")
                continue
            if point is None:
                continue
            try:
                if self._remind(oid, point, due, today):
                    sent.append((oid, point))
            except YinxinError as e:
                failed.append(f"obligation {oid}: {e.message}")
        if sent and self._notifier is not None:
            self._notifier().send_pending()
        return ReminderRun(tuple(tracked), tuple(deemed), tuple(sent), tuple(failed))

    def point(self, today: dt.date, due: dt.date) -> str | None:
        """The reminder point ``today`` stands at for ``due``: ``overdue`` from the day after
        it, ``before:1`` when at most one working day is left (the due day itself included),
        ``before:7`` when at most seven are; ``None`` earlier. Only the latest point reached
        is sent: a job that was down for a week does not send a stale "7 days left"."""
        if today > due:
            return "overdue"
        if (due - today).days > LOOKAHEAD_DAYS:
            return None  # no working-day count needed (nor a calendar for a far year)
        # working days after today up to the due day; a reminder, not a deadline: across a year
        # not loaded yet (late December, say) its days are presumed Monday to Friday, so it is
        # sent, a holiday early at worst, rather than never
        span = (today + dt.timedelta(days=k) for k in range(1, (due - today).days + 1))
        left = sum(presumed_workday(self.calendar, d)[0] for d in span)
        for n in sorted(REMINDER_WORKDAYS):
            if left <= n:
                return f"before:{n}"
        return None

    def _remind(self, oid: int, point: str, due: dt.date, today: dt.date) -> bool:
        now = self.clock.now()
        with self.db.transaction() as s:
            o = s.scalar(select(Obligation).where(Obligation.id == oid).with_for_update())
            if o is None or o.due_on != due or o.state not in (_O.OPEN, _O.PARTLY_PAID):
                return False  # paid, met or rescheduled meanwhile
            done = s.scalar(
                select(ObligationReminder.id).where(
                    ObligationReminder.obligation_id == oid,
                    ObligationReminder.point == point,
                    ObligationReminder.due_on == due,
                )
            )
            if done is not None:
                return False
            c = s.get(Contract, o.contract_id)
            assert c is not None
            owed = Decimal(o.amount) - Decimal(o.paid) if o.amount is not None else None
            if point == "overdue":
                when = f"已于 {due.isoformat()} 到期，现已逾期"
            else:
                when = f"将于 {due.isoformat()} 到期（还有 {point.split(':')[1]} 个工作日以内）"
            if owed is not None:
                detail = f"尚欠 {format_amount(owed)}"
                if o.penalty_clause:
                    detail += f"；{o.penalty_clause}"
            else:
                detail = o.wording
            note, notification_id = None, None
            if self._notifier is None:
                note = "no notification gateway"
            elif c.owner_subscriber_id is None:
                note = "the contract has no owner organization to tell"
            else:
                n = self._notifier()
                try:
                    values = {
                        "name": _owner_name(s, c.owner_subscriber_id),
                        "title": c.title,
                        "number": c.number,
                        "label": f"{o.debtor}{o.label}",
                        "when": when,
                        "detail": detail,
                    }
                    msg = n.to_subscriber(s, c.owner_subscriber_id, TEMPLATE_ID, values)
                    notification_id = n.enqueue(s, msg).id
                except YinxinError as e:  # no phone or e-mail on record: kept, never retried
                    note = e.message
            s.add(
                ObligationReminder(
                    obligation_id=oid,
                    point=point,
                    due_on=due,
                    sent_on=today,
                    notification_id=notification_id,
                    note=note,
                    created_at=now,
                )
            )
            _audit(
                s,
                now,
                "system:obligations",
                "obligation.due",
                c.id,
                {
                    "obligation_id": oid,
                    "number": c.number,
                    "label": o.label,
                    "kind": o.kind,
                    "debtor": o.debtor,
                    "point": point,
                    "due_on": due.isoformat(),
                    "outstanding": None if owed is None else str(owed),
                    "notification_id": notification_id,
                    "owner_subscriber_id": c.owner_subscriber_id,
                },
            )
        return True

    # === internals ================================================================================
    def _tracking(
        self, s: Session, contract_id: int, *, lock: bool = False
    ) -> tuple[ContractTracking, Contract]:
        q = select(ContractTracking).where(ContractTracking.contract_id == contract_id)
        if lock:
            q = q.with_for_update()
        t = s.scalar(q)
        if t is None:
            raise NotFound(f"contract {contract_id} is not tracked", field="contract_id")
        c = s.get(Contract, contract_id)
        assert c is not None
        return t, c


def _hold_contract(s: Session, contract_id: int) -> None:
    """Lock the contract's row for the transaction before asking whether it is tracked: two
    callers tracking a newly signed contract at once (the reminder job, a delivery recorded, a
    payment) then take turns and the second finds it tracked, instead of both inserting its
    tracking row and the second failing on the unique index (PostgreSQL; SQLite's writer
    transactions take turns from ``BEGIN``). Taken before the tracking row, as everywhere."""
    s.execute(select(Contract.id).where(Contract.id == contract_id).with_for_update())


STATUSES = ("pending", "due", "overdue", "met")
MAX_PAGE = 200  # the most obligations one page of the overview holds
_NO_DUE = "none"  # a cursor's due date when the last obligation seen has none yet
_CURSOR = re.compile(r"(\d{4}-\d{2}-\d{2}|none):(\d{1,19}):(\d{1,19})")


def cursor(o: ObligationView) -> str:
    """The overview's cursor after ``o``: its sort key as ``DUE:CONTRACT:ID``, the due date
    ``YYYY-MM-DD`` or ``none`` (``2026-04-14:3:17``, ``none:3:19``)."""
    due = _NO_DUE if o.due_on is None else o.due_on.isoformat()
    return f"{due}:{o.contract_id}:{o.id}"


def parse_cursor(text: str) -> tuple[dt.date | None, int, int]:
    """A cursor of :func:`cursor` read back, or refused naming ``after``: anything else (an id
    alone, as the other listings take) would start the walk somewhere it was never at."""
    m = _CURSOR.fullmatch(text) if isinstance(text, str) else None
    bad = ValidationError(
        "after is the next of the previous page: DUE:CONTRACT:ID, DUE a date YYYY-MM-DD or "
        "none (e.g. 2026-04-14:3:17)",
        field="after",
    )
    if m is None:
        raise bad
    contract_id, obligation_id = int(m[2]), int(m[3])
    if contract_id > 2**62 or obligation_id > 2**62:
        raise bad
    if m[1] == _NO_DUE:
        return None, contract_id, obligation_id
    try:
        return dt.date.fromisoformat(m[1]), contract_id, obligation_id
    except ValueError:
        raise bad from None


def _status_is(status: str | None, day: dt.date) -> Any:
    """The SQL condition that an obligation's status on ``day`` is ``status`` (none: any), as
    :meth:`Obligations._obligation_view` works it out: met once met on or before the
    day, else pending without a due date, overdue after it, due until then."""
    if status is None:
        return true()
    met = and_(
        Obligation.state.in_([_O.MET.value, _O.DEEMED.value]),
        or_(Obligation.met_on.is_(None), Obligation.met_on <= day),
    )
    if status == "met":
        return met
    return and_(
        not_(met),
        {
            "pending": Obligation.due_on.is_(None),
            "overdue": and_(Obligation.due_on.is_not(None), Obligation.due_on < day),
            "due": and_(Obligation.due_on.is_not(None), Obligation.due_on >= day),
        }[status],
    )


def _segments(
    key: tuple[dt.date | None, int, int] | None, status: str | None
) -> list[tuple[Any, tuple[Any, ...]]]:
    """The overview's order (due date, none last; contract; id) from after the cursor ``key``,
    as the parts to read one after the other, each a condition and its order: the dated
    obligations by (due date, contract, id), then those without a due date (by contract, id).
    Each part is one range of ``ix_obligations_due_on_contract_id_id`` read in order, so a page
    reads about ``limit`` rows however deep it is; one ORDER BY ``due_on IS NULL, …`` was a
    sort of every obligation before the first row came (SQLite and PostgreSQL order NULLs on
    opposite ends, and no index holds the expression). A part the ``status`` cannot meet
    (pending: no due date; due, overdue: one) is not read."""
    due, contract_id, obligation_id = key if key is not None else (None, 0, 0)
    later_here = or_(
        Obligation.contract_id > contract_id,
        and_(Obligation.contract_id == contract_id, Obligation.id > obligation_id),
    )
    order = (Obligation.due_on, Obligation.contract_id, Obligation.id)
    parts: list[tuple[Any, tuple[Any, ...]]] = []
    if (key is None or due is not None) and status != "pending":
        dated = Obligation.due_on.is_not(None)
        if due is not None:  # from the cursor's day on (the index's range), then past it
            dated = and_(
                dated,
                Obligation.due_on >= due,
                or_(Obligation.due_on > due, and_(Obligation.due_on == due, later_here)),
            )
        parts.append((dated, order))
    if status not in ("due", "overdue"):
        undated = Obligation.due_on.is_(None)
        if key is not None and due is None:  # among those without a due date, past the cursor
            undated = and_(undated, Obligation.contract_id >= contract_id, later_here)
        # the order the index holds them in (their due_on all NULL): PostgreSQL does not
        # read ``IS NULL`` as fixing the index's first column, and would sort by the rest
        parts.append((undated, order))
    return parts


def _s(v: Decimal | None) -> str | None:
    return None if v is None else str(v)


def _price(c: Contract) -> str | None:
    import json

    return json.loads(c.filled_values).get("price")


def _shared_cap(rows: list[Obligation]) -> Decimal | None:
    """The cap one party's penalties share, when all its capped obligations name the same one
    (002's 20 % of the contract amount); ``None`` when they name none, or several."""
    caps = {(o.penalty_cap_rate, o.penalty_cap_base) for o in rows if o.penalty_cap_rate}
    if len(caps) != 1:
        return None
    rate, base = caps.pop()
    return (Decimal(base) * Decimal(rate)).quantize(CENT, ROUND_HALF_UP) if base else None


def _pending_text(event: str | None) -> str:
    if event is None:
        return "合同条款未写明平台可记录的起算事件或可读出的期限，到期日须人工确定"
    return f"{EVENT_NAMES.get(event, event)}日期未定，到期日待定"


def _reminder_workdays(wording: str) -> int:
    m = re.search(r"催告后\s*(\d+)\s*个工作日", wording)
    return int(m[1]) if m else 3


def _owner_name(s: Session, subscriber_id: int) -> str:
    from yinxin.store.models import Subscriber

    sub = s.get(Subscriber, subscriber_id)
    return sub.name if sub is not None else "贵单位"


#: the stages and the facts as the 履约跟踪 page says them (pages/obligations.js)
_STAGE_ZH = {
    _S.NONE: "未跟踪",
    _S.SIGNED: "已生效，待交付",
    _S.DELIVERED: "已交付，待验收",
    _S.REMINDED: "已催告验收",
    _S.ACCEPTED: "已验收",
    _S.LIVE: "已上线运行",
}
_FACT_ZH = {
    "delivered": "交付并提交验收申请",
    "reminded": "催告验收",
    "accepted": "签署验收合格报告",
    "went_live": "系统上线运行",
}


def facts_of(rows: Iterable[Any]) -> tuple[str, ...]:
    """The facts a contract records, read from its obligations (``kind``, ``event``): a fact
    is the contract's when one of them waits for it or is met by it, with those the stages
    put before it. 002 has all four: 乙方's delivery (its duty, §8.2), the acceptance 甲方
    organizes, deemed after a reminder (催告, §4.2), payments after acceptance and go-live.
    003 has none: its fee falls due on the day the contract names, each service is accepted
    on its own service record (第九条, the service desk's), and nothing waits for a delivery
    or a go-live — recording one moved its stage to 已交付 on a contract that delivers
    nothing. A schedule row waiting for acceptance brings delivery and acceptance (recorded
    in that order); the reminder belongs to an acceptance duty only: it moves nothing else."""
    kinds: set[str] = set()
    events: set[str | None] = set()
    for o in rows:
        kinds.add(o.kind)
        events.add(o.event)
    accept = "acceptance" in kinds or bool(events & {"acceptance", "go_live"})
    have = {
        "delivered": accept or "delivery" in kinds or "delivery" in events,
        "reminded": "acceptance" in kinds,
        "accepted": accept,
        "went_live": "go_live" in events,
    }
    return tuple(e for e, yes in have.items() if yes)


def _fact_of_contract(event: str, facts: tuple[str, ...], number: str) -> None:
    """Refuse a fact ``facts_of`` does not give the contract (``not_in_contract``, naming
    ``event``), whatever its stage: no obligation of it waits for the fact."""
    if event in facts:
        return
    zh = "、".join(f"“{_FACT_ZH[f]}”" for f in facts) or "无"
    raise ValidationError(
        f"合同 {number} 没有“{_FACT_ZH[event]}”这一履约事实：它的各项义务都不以此为准"
        f"（可登记：{zh}） / contract {number} has no {event} fact: none of its "
        f"obligations waits for it (it records: {', '.join(facts) or 'none'})",
        field="event",
        code="not_in_contract",
    )


def _fact_in_order(event: str, stage: str, number: str) -> None:
    """Refuse a fact the contract's stage does not allow (``IllegalTransition`` naming
    ``event``) in words a contract manager reads: which fact, where the contract stands, where
    that fact is recorded — the lifecycle's own message pasted its verbs into a sentence
    ("cannot delivered contract performance …: it is accepted")."""
    allowed = [st for st in Stage if st in STAGES[event].from_states]
    if stage in STAGES[event].from_states:
        return
    where = "或".join(_STAGE_ZH[st] for st in allowed)
    raise IllegalTransition(
        f"合同 {number} {_STAGE_ZH.get(Stage(stage), stage)}，不能登记“{_FACT_ZH[event]}”"
        f"（须在{where}时登记）/ cannot record {event}: contract {number} is {stage} "
        f"({event} is recorded at {' or '.join(allowed)})",
        field="event",
    )


def _check_event(event: str) -> None:
    """Refuse a fact that is none of the four, in Chinese and English as the verbs' other
    refusals (:func:`_fact_in_order`): the contract manager who records reads the first half,
    the word to type (``delivered`` …) is in both."""
    if event not in {e.value for e in EventKind}:
        zh = "、".join(f"“{_FACT_ZH[e.value]}”（{e.value}）" for e in EventKind)
        raise ValidationError(
            f"履约事实只能是{zh} / event is one of {', '.join(e.value for e in EventKind)}",
            field="event",
        )


def _actor(actor: str) -> str:
    actor = str(actor or "").strip()[:100]
    if not actor:
        raise ValidationError("who acts must be named", field="actor")
    return actor


__all__ = [
    "OBLIGATION_LIFECYCLE",
    "STAGES",
    "STATUSES",
    "ContractObligations",
    "EventKind",
    "ObligationPaymentView",
    "ObligationState",
    "ObligationView",
    "Obligations",
    "ReminderRun",
    "ReminderView",
    "Spec",
    "Stage",
    "derive",
    "facts_of",
    "read_milestone",
]
