"""The O&M service desk of contract 003 (运维合同 第三条): service requests and their clocks.

What 003 commits 乙方 to, and how the desk reads it:

* **Response** (运维响应): "工作日运维服务响应时间应在 2 小时以内，非工作日运维响应时间应在
  4 小时以内". The notice's *date* in Beijing time (UTC+8, no daylight saving) decides which:
  a notice on a Chinese working day (the official calendar, with make-up working weekends, so a
  Saturday such as 2026-10-10 counts) gets 2 h, any other day 4 h. A Friday 23:30 notice is a
  working-day notice: 2 h, due Saturday 01:30.
* **On site**: "接到甲方运维服务通知后 24 小时内赶到甲方现场" — 24 h after the notice, only for a
  request that asks for someone on site.
* **The clocks run in calendar hours, nights and holidays included**, because 003 also promises
  "365 天×24 小时" support: nothing in the contract stops the clock at night or on a holiday.
  The working-day question only chooses 2 h or 4 h.
* **Pauses**: while the desk waits on 甲方 (information, access to the site — 甲方's own duties
  under 第五条) the clocks stand still; the time paused is added to every deadline not yet
  passed when the pause began. A pause that begins after a deadline passed does not move it.
  Lateness is measured on the same clock: the running (unpaused) time from the notice to the
  moment the commitment was met, minus the time allowed.
* **Breaches** are flagged as soon as a deadline passes (the ``desk.breaches`` job) and growing
  until the commitment is met, then final. Each breach costs 乙方 5‰ of the monthly fee
  (第十条（二）1: "每月运维价格的千分之五"); ``yinxin.contracts.reports`` counts it.

Every request moves by ``REQUEST_LIFECYCLE`` (open → responded → on_site → resolved →
record_signed, or cancelled) and its clock by ``CLOCK_LIFECYCLE`` (running ⇄ paused); each step
checks its table and its input first, then writes the change and its audit event in one
transaction. After each service a 运维服务记录单 (service record) is rendered from the request
and signed by both parties through a sign flow (``SignFlows``); when that flow completes the
request becomes ``record_signed``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from yinxin.clock import BEIJING, Clock
from yinxin.contracts.desk_views import (
    AdoptablePage,
    AdoptableView,
    BreachKind,
    BreachView,
    ClockState,
    DeskContractView,
    InspectionView,
    PauseView,
    RequestState,
    RequestView,
)
from yinxin.contracts.money import parse_amount
from yinxin.contracts.parties import distinct_parties
from yinxin.contracts.workdays import presumed_workday
from yinxin.errors import Conflict, IllegalTransition, NotFound, ValidationError
from yinxin.identity import hidden_character, refuse_hidden
from yinxin.results import from_row
from yinxin.store.audit import event, events
from yinxin.store.db import Database, add_unique
from yinxin.store.models.desk import (
    DeskContract,
    ServiceBreach,
    ServiceInspection,
    ServicePause,
    ServiceRequest,
)
from yinxin.store.queries import paged
from yinxin.transitions import TransitionTable, listed, move

if TYPE_CHECKING:
    from yinxin.contracts.reports import ServiceReport
    from yinxin.contracts.service import Contracts
    from yinxin.signing.flows import SignFlows, StartedFlow

CHANNELS = ("phone", "web", "on_site")
SEVERITIES = ("low", "normal", "high", "critical")
LIST_ORDERS = ("oldest", "newest")  # the requests' listing by notice time: its direction
MAX_TEXT = 4000
RECORD_DEADLINE = dt.timedelta(days=7)  # how long the parties have to sign a service record
# the states of a record flow whose paper prints the contract's party names as they are
_PRINTING = ("draft", "started", "completed")
PENALTY_RATE = Decimal("0.005")  # 千分之五 of the monthly fee, per breach (003 第十条)
OM_TEMPLATE = "om-service"  # the template library's O&M contract (seed 003)
MONTH_RE = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")  # \d took ２０２６ too


class WorkdayCalendar(Protocol):
    """What the desk needs of the working-day calendar (``yinxin.contracts.workdays``)."""

    def is_workday(self, d: dt.date) -> bool: ...


_R = RequestState
REQUEST_LIFECYCLE: TransitionTable[RequestState] = TransitionTable(
    "service request",
    "state",
    hold_state=None,
    moves=[
        move("open", "a notice is received (报修)", {_R.NONE}, _R.OPEN, creates=True),
        move("respond", "乙方 answers", {_R.OPEN}, _R.RESPONDED),
        move("arrive", "someone arrives on site", {_R.OPEN, _R.RESPONDED}, _R.ON_SITE),
        move("resolve", "the problem is solved", {_R.RESPONDED, _R.ON_SITE}, _R.RESOLVED),
        move("record", "start the service record's sign flow", {_R.RESOLVED}, _R.RESOLVED),
        move("record_signed", "both parties signed the record", {_R.RESOLVED}, _R.RECORD_SIGNED),
        move("cancel", "withdraw the request", {_R.OPEN, _R.RESPONDED, _R.ON_SITE}, _R.CANCELLED),
    ],
)
CLOCK_LIFECYCLE: TransitionTable[ClockState] = TransitionTable(
    "service clock",
    "clock",
    hold_state=None,
    moves=[
        move("pause", "wait on 甲方", {ClockState.RUNNING}, ClockState.PAUSED),
        move(
            "resume", "甲方 answered; the clock runs again", {ClockState.PAUSED}, ClockState.RUNNING
        ),
    ],
)
LIVE = frozenset({_R.OPEN, _R.RESPONDED, _R.ON_SITE})


# --- the clock, as pure functions (tests/unit/test_desk_clock.py) -------------------------------
@dataclass(frozen=True)
class Pause:
    """A stretch the clock stood still; ``end`` is ``None`` while it lasts."""

    start: dt.datetime
    end: dt.datetime | None = None


def notice_day(notice: dt.datetime) -> dt.date:
    """The date of a notice as 甲方 sees it: Beijing time."""
    return notice.astimezone(BEIJING).date()


def response_budget(
    notice: dt.datetime,
    calendar: WorkdayCalendar,
    workday_hours: int = 2,
    other_hours: int = 4,
) -> tuple[bool, bool, dt.timedelta]:
    """Whether the notice fell on a working day, whether that is provisional
    (:func:`notice_workday`), and the response time allowed."""
    workday, provisional = notice_workday(notice, calendar)
    return workday, provisional, dt.timedelta(hours=workday_hours if workday else other_hours)


def notice_workday(notice: dt.datetime, calendar: WorkdayCalendar) -> tuple[bool, bool]:
    """Whether the notice fell on a working day, and whether that answer is provisional.

    A notice is a fact to write down when it comes, so a year the official calendar does not
    cover yet (the State Council publishes each year's schedule in the autumn before; until an
    operator loads it, every notice of that year) is not refused: the weekday rule (Monday to
    Friday, save 元旦, 劳动节 and 国庆节's fixed days) stands in, marked provisional, and the
    breach job confirms or corrects it as soon as the year's schedule is loaded."""
    return presumed_workday(calendar, notice_day(notice))


def due_at(
    notice: dt.datetime, budget: dt.timedelta, pauses: Sequence[Pause]
) -> dt.datetime | None:
    """The deadline: ``budget`` of running time after the notice. Each pause that begins
    before the deadline (as moved by the pauses before it) moves it by its length; a pause
    still lasting then leaves it unknown (``None``)."""
    due = notice + budget
    for p in sorted(pauses, key=lambda x: x.start):
        if p.start >= due:
            break
        if p.end is None:
            return None
        due += p.end - max(p.start, notice)
    return due


def running_time(notice: dt.datetime, until: dt.datetime, pauses: Sequence[Pause]) -> dt.timedelta:
    """Time the clock ran from the notice to ``until``: the wall time less the pauses in it."""
    total = until - notice
    for p in pauses:
        start, end = max(p.start, notice), min(p.end or until, until)
        if end > start:
            total -= end - start
    return max(total, dt.timedelta(0))


def lateness(
    notice: dt.datetime,
    budget: dt.timedelta,
    met_or_now: dt.datetime,
    pauses: Sequence[Pause],
) -> dt.timedelta:
    """How late the commitment is (met at, or still unmet at, ``met_or_now``); zero if not."""
    return max(running_time(notice, met_or_now, pauses) - budget, dt.timedelta(0))


# --- results ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BreachRun:
    """What one run of the breach job did."""

    flagged: tuple[int, ...]  # breach ids made now
    updated: tuple[int, ...]  # still-open breaches whose lateness grew
    records_signed: tuple[int, ...]  # requests whose record flow completed
    # requests whose provisional working-day answer the calendar corrected (notice_workday)
    notice_days_corrected: tuple[int, ...] = ()


@dataclass(frozen=True)
class RecordFlow:
    """The service record's sign flow, as started: each signer's link is shown once."""

    request: RequestView
    flow: StartedFlow


# --- helpers ----------------------------------------------------------------------------------
# what the desk's pages call each text field, said first in its Chinese refusal
_LABELS = {
    "number": "合同编号",
    "contract": "合同编号",
    "title": "标题",
    "party_a": "甲方",
    "party_b": "乙方",
    "actor": "操作人",
    "reason": "原因",
    "description": "问题描述",
    "reported_by": "报告人",
    "resolution": "处理结果",
    "inspector": "巡检人",
    "findings": "巡检结果",
}


def _text(value: object, field: str, *, limit: int = MAX_TEXT, required: bool = True) -> str:
    """A desk text as kept (up to ``limit``; over 200, several lines as a text area sends
    them), refused naming ``field`` in Chinese and English ("中文 / English", as its hidden-
    character refusal and every other service's reason): an empty or over-long one was said in
    English alone. The API's bodies leave these lengths to it (``shapes.DeskText``)."""
    if limit <= 200:
        s = " ".join(str(value or "").split())
    else:  # several lines, as a text area sends them
        s = str(value or "").replace("\r\n", "\n").strip()
    label = _LABELS.get(field, field)
    if required and not s:
        raise ValidationError(f"{label}不能为空 / {field} must not be empty", field=field)
    if len(s) > limit:
        raise ValidationError(
            f"{label}最多 {limit} 个字符（此处 {len(s)} 个） / "
            f"{field} must be at most {limit} characters",
            field=field,
        )
    return refuse_hidden(s, field, lines=True)


def _aware(t: object, field: str) -> dt.datetime:
    if not isinstance(t, dt.datetime):
        raise ValidationError(f"{field} must be a time", field=field)
    if t.tzinfo is None:
        raise ValidationError(f"{field} must carry a time zone (e.g. +08:00)", field=field)
    if not 2000 <= t.year <= 2200:  # also keeps the deadline arithmetic inside datetime's range
        raise ValidationError(f"{field} must be a time between 2000 and 2200", field=field)
    return t.astimezone(dt.UTC).replace(microsecond=0)


def money(value: str | Decimal, field: str) -> Decimal:
    """A yuan amount as every amount is written (``parse_amount``: 28000, 28000.00,
    28,000.00, ¥28000), positive. It was read as ``Decimal`` reads text, so ``1e3`` was
    1000.00, ``2_8000`` 28000.00 and commas could stand anywhere."""
    d = parse_amount(value, field=field)
    if d <= 0 or d >= Decimal(10) ** 12:
        raise ValidationError(
            f"{field} must be a positive amount in yuan with at most two decimals", field=field
        )
    return d.quantize(Decimal("0.01"))


def _two_parties(party_a: str, party_b: str, field: str | None = None) -> None:
    """Refuse a contract whose 甲方 and 乙方 are one party (:func:`distinct_parties`, the
    template library's rule too): its record flow would take one seal for both, 乙方
    confirming its own work as 甲方 — what ``not_the_party`` is there to stop."""
    distinct_parties([("甲方", party_a, "party_a"), ("乙方", party_b, "party_b")], field=field)


def monthly_fee(annual: Decimal) -> Decimal:
    """003 prices the year (每年 ¥28000.00); its penalties are of the monthly price, one
    twelfth of it, kept exact here and rounded (half up, to the fen) only where shown."""
    return annual / 12


def penalty_per_breach(annual: Decimal) -> Decimal:
    """5‰ of the monthly fee, rounded half up to the fen: ¥28000/year → ¥11.67."""
    from decimal import ROUND_HALF_UP

    return (monthly_fee(annual) * PENALTY_RATE).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _contract_view(c: DeskContract) -> DeskContractView:
    from decimal import ROUND_HALF_UP

    annual = Decimal(c.annual_fee)
    return from_row(
        DeskContractView,
        c,
        annual_fee=annual,
        monthly_fee=monthly_fee(annual).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
        penalty_per_breach=penalty_per_breach(annual),
    )


def _pauses(s: Session, request_id: int) -> list[ServicePause]:
    return list(
        s.scalars(
            select(ServicePause)
            .where(ServicePause.request_id == request_id)
            .order_by(ServicePause.started_at, ServicePause.id)
        )
    )


@dataclass(frozen=True)
class PageRows:
    """What a listed page of requests shows beside their own rows, read once for the page:
    their contracts by id, their pauses and their breaches by request id."""

    contracts: dict[int, DeskContract]
    pauses: dict[int, list[ServicePause]]
    breaches: dict[int, list[ServiceBreach]]


def _read_pages(s: Session, rows: Sequence[ServiceRequest]) -> PageRows:
    """The contracts, pauses (in ``_pauses``' order) and breaches (by id) of a page of
    requests, three queries for the page: a list of 50 requests asked them for each request,
    150 queries that made the page cost ten times its own reading (``bench/pages``, the desk
    rows; the session holds a row only while something refers to it, so even the contract
    was read again for each)."""
    out = PageRows({}, {}, {})
    for start in range(0, len(rows), 500):  # a bound on one IN list (the reports: all)
        part = rows[start : start + 500]
        ids = [r.id for r in part]
        for c in s.scalars(
            select(DeskContract).where(DeskContract.id.in_({r.contract_id for r in part}))
        ):
            out.contracts[c.id] = c
        for p in s.scalars(
            select(ServicePause)
            .where(ServicePause.request_id.in_(ids))
            .order_by(ServicePause.started_at, ServicePause.id)
        ):
            out.pauses.setdefault(p.request_id, []).append(p)
        for b in s.scalars(
            select(ServiceBreach)
            .where(ServiceBreach.request_id.in_(ids))
            .order_by(ServiceBreach.id)
        ):
            out.breaches.setdefault(b.request_id, []).append(b)
    return out


def _as_pauses(rows: Sequence[ServicePause]) -> list[Pause]:
    return [Pause(r.started_at, r.ended_at) for r in rows]


def _breach(s: Session, request_id: int, kind: BreachKind) -> ServiceBreach | None:
    """The request's breach of that kind (there is one at most)."""
    return s.scalar(
        select(ServiceBreach).where(
            ServiceBreach.request_id == request_id, ServiceBreach.kind == kind
        )
    )


def _event(s: Session, now: dt.datetime, actor: str, action: str, rid: int, data: dict) -> None:
    event(s, now, actor, f"service_request.{action}", rid, data)


class ServiceDesk:
    """The desk: contracts under service, requests, clocks, breaches, inspections, records.

    ``calendar`` answers whether a date is a Chinese working day; ``flows`` is asked for the
    sign-flow service only when a service record goes out for signature.
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        calendar: WorkdayCalendar,
        flows: Callable[[], SignFlows] | None = None,
        contracts: Callable[[], Contracts] | None = None,
    ):
        self.db, self.clock, self.calendar = db, clock, calendar
        self._flows, self._contracts = flows, contracts

    def _now(self) -> dt.datetime:
        """The platform clock in UTC (a test's frozen clock may be set in Beijing time)."""
        return self.clock.now().astimezone(dt.UTC)

    # --- contracts ----------------------------------------------------------------------------
    def add_contract(
        self,
        number: str,
        *,
        title: str,
        party_a: str,
        party_b: str,
        annual_fee: str | Decimal,
        starts_on: dt.date,
        ends_on: dt.date,
        workday_response_hours: int = 2,
        other_response_hours: int = 4,
        on_site_hours: int = 24,
        actor: str = "operator",
        _library_id: int | None = None,
    ) -> DeskContractView:
        """Put an O&M contract under the desk's watch (003's terms are the defaults)."""
        number = _text(number, "number", limit=64)
        title = _text(title, "title", limit=200)
        party_a = _text(party_a, "party_a", limit=200)
        party_b = _text(party_b, "party_b", limit=200)
        _two_parties(party_a, party_b)
        fee = money(annual_fee, "annual_fee")
        for name, d in (("starts_on", starts_on), ("ends_on", ends_on)):
            if not isinstance(d, dt.date) or isinstance(d, dt.datetime):
                raise ValidationError(f"{name} must be a date (YYYY-MM-DD)", field=name)
            if not 2000 <= d.year <= 2200:
                raise ValidationError(f"{name} must be between 2000 and 2200", field=name)
        if ends_on < starts_on:
            raise ValidationError("the contract must end after it starts", field="ends_on")
        hours = {
            "workday_response_hours": workday_response_hours,
            "other_response_hours": other_response_hours,
            "on_site_hours": on_site_hours,
        }
        for name, h in hours.items():
            if not isinstance(h, int) or isinstance(h, bool) or not 1 <= h <= 720:
                raise ValidationError(f"{name} must be a whole number of hours, 1–720", field=name)
        actor = _text(actor, "actor", limit=100)
        now = self._now()
        under_service = Conflict(f"contract {number} is already under service", field="number")
        with self.db.transaction() as s:
            if s.scalar(select(DeskContract.id).where(DeskContract.number == number)):
                raise under_service
            if _library_id is not None and s.scalar(
                select(DeskContract.id).where(DeskContract.contract_id == _library_id)
            ):
                raise Conflict(f"contract {number} is already under service", field="contract")
            c = DeskContract(
                number=number,
                contract_id=_library_id,
                title=title,
                party_a=party_a,
                party_b=party_b,
                annual_fee=str(fee),
                starts_on=starts_on,
                ends_on=ends_on,
                created_at=now,
                created_by=actor,
                **hours,
            )
            add_unique(s, c, lost_race=under_service)
            event(
                s,
                now,
                actor,
                "desk_contract.added",
                number,
                {
                    "title": title,
                    "annual_fee": str(fee),
                    "library_contract_id": _library_id,
                    **hours,
                },
            )
            return _contract_view(c)

    def adopt(self, number: str, *, actor: str = "operator") -> DeskContractView:
        """Put a signed contract of the template library under service: a contract drafted
        from template ``om-service`` (seed 003) carries everything the desk needs in its filled
        values — the parties, the system (the title here), the period, the yearly fee and the
        three response times — so nothing is typed twice. Only a signed contract: the
        commitments bind from signature."""
        from yinxin.store.models.contracts import Contract

        number = _text(number, "contract", limit=64)
        with self.db.read() as s:
            library_id = s.scalar(select(Contract.id).where(Contract.number == number))
        if library_id is None:
            raise NotFound(f"no contract {number!r} in the library", field="contract")
        if self._contracts is None:
            raise IllegalTransition("this desk has no contract library", field="contract")
        row = self._contracts().get(library_id)  # settles a flow that has completed
        if row.template_code != OM_TEMPLATE:
            raise ValidationError(
                f"contract {number} is a {row.template_code} contract, not an O&M "
                f"service contract ({OM_TEMPLATE})",
                field="contract",
            )
        if row.state != "signed":
            raise IllegalTransition(
                f"contract {number} is {row.state}: only a signed contract is put under service",
                field="contract",
            )
        v = row.values
        try:
            terms = {
                "title": f"{v['system_name']}运维服务合同",
                "party_a": v["client_name"],
                "party_b": v["provider_name"],
                "annual_fee": v["annual_fee"],
                "starts_on": dt.date.fromisoformat(v["start_date"]),
                "ends_on": dt.date.fromisoformat(v["end_date"]),
                "workday_response_hours": int(v["response_hours_workday"]),
                "other_response_hours": int(v["response_hours_other"]),
                "on_site_hours": int(v["onsite_hours"]),
            }
        except (KeyError, TypeError, ValueError) as e:
            raise ValidationError(
                f"contract {number}'s values lack an O&M term ({e})", field="contract"
            ) from None
        # a contract signed before the library refused one party as both: refused as the
        # contract it is (its names are the signed paper's, and no party_b was typed here)
        _two_parties(str(terms["party_a"]), str(terms["party_b"]), "contract")
        return self.add_contract(number, **terms, actor=actor, _library_id=library_id)

    def correct_parties(
        self,
        number: str,
        *,
        party_a: str | None = None,
        party_b: str | None = None,
        reason: str,
        actor: str = "operator",
    ) -> DeskContractView:
        """Correct 甲方/乙方 of a contract entered by hand (a typo, an abbreviation): the record
        flow admits only the seals of the parties named here (``not_the_party``), so a wrong
        name would bar every record. The names are checked as :meth:`add_contract` checks
        them. Refused (``IllegalTransition``, naming ``contract``) for a contract adopted from
        the template library — its names are the signed contract's — and once a service record
        of the contract is in a sign flow (draft, started or completed, as the flow reads now:
        one past its deadline is expired, swept or not) or signed: that paper prints the names
        as they were. The audit event keeps the names before and after."""
        from yinxin.signing.flows import effective_state
        from yinxin.store.models.flows import SignFlow

        changes: dict[str, str] = {}
        for field, value in (("party_a", party_a), ("party_b", party_b)):
            if value is not None:
                changes[field] = _text(value, field, limit=200)
        if not changes:
            raise ValidationError("give party_a or party_b to correct", field="party_a")
        reason = _text(reason, "reason")
        actor = _text(actor, "actor", limit=100)
        now = self._now()
        with self.db.transaction() as s:
            c = self._contract(s, number, lock=True)
            if c.contract_id is not None:
                raise IllegalTransition(
                    f"contract {c.number} was adopted from the template library: its parties "
                    "are the signed contract's and are not corrected here",
                    field="contract",
                )
            # a flow is judged as every reader reports it: one past its deadline is expired,
            # swept or not, and prints nothing more
            papers = next(
                (
                    request_id
                    for request_id, state, flow_state, deadline in s.execute(
                        select(
                            ServiceRequest.id,
                            ServiceRequest.state,
                            SignFlow.state,
                            SignFlow.deadline,
                        )
                        .outerjoin(SignFlow, SignFlow.id == ServiceRequest.record_flow_id)
                        .where(
                            ServiceRequest.contract_id == c.id,
                            (ServiceRequest.state == _R.RECORD_SIGNED)
                            | SignFlow.state.in_(_PRINTING),
                        )
                        .order_by(ServiceRequest.id)
                    )
                    if state == _R.RECORD_SIGNED
                    or effective_state(flow_state, deadline, now) in _PRINTING
                ),
                None,
            )
            if papers is not None:
                raise IllegalTransition(
                    f"request #{papers}'s service record of contract {c.number} is in a sign "
                    "flow or signed with the parties' names as they are: they are not "
                    "corrected",
                    field="contract",
                )
            before = {"party_a": c.party_a, "party_b": c.party_b}
            if all(before[k] == v for k, v in changes.items()):
                field = next(iter(changes))
                raise ValidationError(f"{field} is already {changes[field]!r}", field=field)
            after = before | changes
            _two_parties(
                after["party_a"], after["party_b"], "party_b" if "party_b" in changes else "party_a"
            )
            for k, v in changes.items():
                setattr(c, k, v)
            event(
                s,
                now,
                actor,
                "desk_contract.parties_corrected",
                c.number,
                {
                    "before": before,
                    "after": {"party_a": c.party_a, "party_b": c.party_b},
                    "reason": reason,
                },
            )
            return _contract_view(c)

    def adoptable(self, *, after: int | None = None, limit: int = 50) -> AdoptablePage:
        """The library's signed O&M contracts not yet under service, oldest first, a page at a
        time (``after``: the last contract id seen; ``next_after`` of the page): what the desk
        offers to :meth:`adopt`, so a contract signed on the platform is not left without its
        clocks because nobody typed its number. Those under service are left out by the
        library's query, so a page is full and the walk reads only what it shows."""
        if self._contracts is None:
            return AdoptablePage((), None)
        page = self._contracts().list(
            state="signed",
            template=OM_TEMPLATE,
            limit=limit,
            after=after,
            oldest_first=True,
            numbers_taken=select(DeskContract.number),
        )
        found = tuple(
            AdoptableView(
                c.id,
                c.number,
                c.title,
                str(c.values.get("client_name", "")),
                str(c.values.get("provider_name", "")),
                c.signed_at,
            )
            for c in page.items
        )
        return AdoptablePage(found, page.next_after)

    def contract(self, number: str) -> DeskContractView:
        with self.db.read() as s:
            return _contract_view(self._contract(s, number))

    def contracts(
        self, *, after: int | None = None, limit: int | None = None
    ) -> list[DeskContractView]:
        """The contracts under service in id order; ``after``/``limit`` page as the other
        listings do (none: every one, as ``yinxin desk contracts`` prints them)."""
        with self.db.read() as s:
            q = paged(select(DeskContract), DeskContract.id, after=after, limit=limit)
            return [_contract_view(c) for c in s.scalars(q)]

    def _contract(
        self, s: Session, number: str, field: str = "contract", *, lock: bool = False
    ) -> DeskContract:
        """The contract under service by its number; ``lock`` holds its row for the
        transaction."""
        given = str(number or "").strip()
        # a number with a control character is no contract's; asked before the query, which
        # PostgreSQL fails for a NUL where SQLite finds no row
        q = select(DeskContract).where(DeskContract.number == given)
        c = None if hidden_character(given) else s.scalar(q.with_for_update() if lock else q)
        if c is None:
            raise NotFound(f"no contract {number!r} is under service", field=field)
        return c

    # --- requests -----------------------------------------------------------------------------
    def open(
        self,
        contract: str,
        *,
        channel: str,
        description: str,
        severity: str = "normal",
        on_site_requested: bool = False,
        notice_at: dt.datetime | None = None,
        reported_by: str,
        actor: str = "operator",
    ) -> RequestView:
        """Record a notice (报修) and start its clocks. ``notice_at`` (default: now) is when
        甲方 gave notice: it may be earlier than now (a call written down afterwards) but not
        in the future, and must fall inside the contract's period."""
        now = self._now()
        if channel not in CHANNELS:
            raise ValidationError(f"channel must be one of {', '.join(CHANNELS)}", field="channel")
        if severity not in SEVERITIES:
            raise ValidationError(
                f"severity must be one of {', '.join(SEVERITIES)}", field="severity"
            )
        description = _text(description, "description")
        reported_by = _text(reported_by, "reported_by", limit=100)
        actor = _text(actor, "actor", limit=100)
        notice = now if notice_at is None else _aware(notice_at, "notice_at")
        if notice > now:
            raise ValidationError("the notice cannot be in the future", field="notice_at")
        with self.db.transaction() as s:
            c = self._contract(s, contract)
            if not c.starts_on <= notice_day(notice) <= c.ends_on:
                raise ValidationError(
                    f"the notice ({notice_day(notice)}) is outside contract {c.number}'s period "
                    f"{c.starts_on} – {c.ends_on}",
                    field="notice_at",
                )
            REQUEST_LIFECYCLE.check("open", _R.NONE, None, "(new)")
            workday, provisional, budget = response_budget(
                notice, self.calendar, c.workday_response_hours, c.other_response_hours
            )
            on_site = dt.timedelta(hours=c.on_site_hours) if on_site_requested else None
            r = ServiceRequest(
                contract_id=c.id,
                channel=channel,
                severity=severity,
                description=description,
                reported_by=reported_by,
                on_site_requested=bool(on_site_requested),
                notice_at=notice,
                notice_workday=workday,
                notice_workday_provisional=provisional,
                response_budget_minutes=int(budget.total_seconds() // 60),
                on_site_budget_minutes=int(on_site.total_seconds() // 60) if on_site else None,
                response_due=notice + budget,
                on_site_due=notice + on_site if on_site else None,
                state=_R.OPEN,
                clock=ClockState.RUNNING,
                created_at=now,
                created_by=actor,
            )
            s.add(r)
            s.flush()
            _event(
                s,
                now,
                actor,
                "opened",
                r.id,
                {
                    "contract": c.number,
                    "channel": channel,
                    "severity": severity,
                    "notice_at": notice.isoformat(),
                    "workday": workday,
                    **({"workday_provisional": True} if provisional else {}),
                    "response_due": r.response_due.isoformat(),
                    "on_site_due": r.on_site_due.isoformat() if r.on_site_due else None,
                },
            )
            self._flag(s, r, now, now)
            return self._view(s, r)

    def respond(
        self, request_id: int, *, at: dt.datetime | None = None, actor: str = "operator"
    ) -> RequestView:
        """乙方 answered the notice (by phone, remotely): the response clock stops."""
        return self._step(request_id, "respond", at, actor)

    def arrive(
        self, request_id: int, *, at: dt.datetime | None = None, actor: str = "operator"
    ) -> RequestView:
        """Someone of 乙方 arrived on site; arriving also answers the notice if nobody had."""
        return self._step(request_id, "arrive", at, actor)

    def resolve(
        self,
        request_id: int,
        resolution: str,
        *,
        at: dt.datetime | None = None,
        actor: str = "operator",
    ) -> RequestView:
        """The problem is solved: what was done goes on the service record."""
        text = _text(resolution, "resolution")
        return self._step(request_id, "resolve", at, actor, text=text)

    def cancel(self, request_id: int, reason: str, *, actor: str = "operator") -> RequestView:
        """Withdraw a request (e.g. 甲方 found it was no fault); its clocks stop."""
        text = _text(reason, "reason")
        return self._step(request_id, "cancel", None, actor, text=text)

    def _when(self, at: dt.datetime | None, r: ServiceRequest, now: dt.datetime) -> dt.datetime:
        t = now if at is None else _aware(at, "at")
        if t > now:
            raise ValidationError("a step cannot be recorded in the future", field="at")
        last = max(x for x in (r.notice_at, r.responded_at, r.on_site_at) if x is not None)
        if t < last:
            raise ValidationError(
                f"the time must not be before the request's last step ({last.isoformat()})",
                field="at",
            )
        return t

    def _step(
        self,
        request_id: int,
        verb: str,
        at: dt.datetime | None,
        actor: str,
        *,
        text: str | None = None,
    ) -> RequestView:
        actor = _text(actor, "actor", limit=100)
        now = self._now()
        with self.db.transaction() as s:
            r = self._request(s, request_id, lock=True)
            m = REQUEST_LIFECYCLE.check(verb, r.state, None, f"#{r.id}")
            t = self._when(at, r, now)
            pauses = _pauses(s, r.id)
            open_pause = next((p for p in pauses if p.ended_at is None), None)
            if open_pause is not None:
                if verb in ("respond", "arrive"):
                    raise IllegalTransition(
                        f"request #{r.id} is paused (waiting on 甲方): resume it first",
                        field="clock",
                    )
                if open_pause.started_at > t:
                    raise ValidationError("the time must not be before the pause", field="at")
                open_pause.ended_at = t  # resolving or cancelling ends the wait
                r.clock = ClockState.RUNNING
            data: dict = {"at": t.isoformat(), "from": r.state}
            if verb == "respond":
                r.responded_at, r.responded_by = t, actor
            elif verb == "arrive":
                if r.responded_at is None:
                    r.responded_at, r.responded_by = t, actor
                r.on_site_at = t
            elif verb == "resolve":
                r.resolved_at, r.resolution = t, text
            elif verb == "cancel":
                r.cancelled_reason = text
                data["reason"] = text
            r.state = m.to_state
            self._recompute(s, r)
            self._flag(s, r, t, now)
            _event(s, now, actor, _PAST[verb], r.id, data)
            return self._view(s, r)

    def pause(
        self,
        request_id: int,
        reason: str,
        *,
        at: dt.datetime | None = None,
        actor: str = "operator",
    ) -> RequestView:
        """Stop the clocks while waiting on 甲方 (e.g. 等待甲方提供信息)."""
        reason = _text(reason, "reason")
        return self._clock(request_id, "pause", at, actor, reason)

    def resume(
        self, request_id: int, *, at: dt.datetime | None = None, actor: str = "operator"
    ) -> RequestView:
        """甲方 answered: the clocks run again and the deadlines move by the pause."""
        return self._clock(request_id, "resume", at, actor, None)

    def _clock(
        self, request_id: int, verb: str, at: dt.datetime | None, actor: str, reason: str | None
    ) -> RequestView:
        actor = _text(actor, "actor", limit=100)
        now = self._now()
        with self.db.transaction() as s:
            r = self._request(s, request_id, lock=True)
            if r.state not in LIVE:
                raise IllegalTransition(
                    f"cannot {verb} the clock of request #{r.id}: it is {r.state}", field="state"
                )
            m = CLOCK_LIFECYCLE.check(verb, r.clock, None, f"of request #{r.id}")
            t = self._when(at, r, now)
            pauses = _pauses(s, r.id)
            if verb == "pause":
                if not self._running_clocks(r):
                    raise IllegalTransition(
                        f"request #{r.id} has no clock running to pause "
                        "(answered, and nobody is due on site)",
                        field="clock",
                    )
                if pauses and pauses[-1].ended_at and t < pauses[-1].ended_at:
                    raise ValidationError(
                        "a pause must not begin before the previous one ended", field="at"
                    )
                s.add(ServicePause(request_id=r.id, started_at=t, ended_at=None, reason=reason))
                data = {"at": t.isoformat(), "reason": reason}
            else:
                p = pauses[-1]
                if t < p.started_at:
                    raise ValidationError("the clock cannot resume before it paused", field="at")
                p.ended_at = t
                data = {
                    "at": t.isoformat(),
                    "paused_seconds": int((t - p.started_at).total_seconds()),
                }
            r.clock = m.to_state
            s.flush()
            self._recompute(s, r)
            _event(s, now, actor, "paused" if verb == "pause" else "resumed", r.id, data)
            return self._view(s, r)

    @staticmethod
    def _running_clocks(r: ServiceRequest) -> bool:
        return r.responded_at is None or (r.on_site_requested and r.on_site_at is None)

    def _recompute(self, s: Session, r: ServiceRequest) -> None:
        """The deadlines not yet met, as the pauses so far move them (``None``: paused
        before it); a commitment met keeps the deadline it was met against."""
        pauses = _as_pauses(_pauses(s, r.id))
        if r.responded_at is None:
            budget = dt.timedelta(minutes=r.response_budget_minutes)
            r.response_due = due_at(r.notice_at, budget, pauses)
        if r.on_site_budget_minutes is not None and r.on_site_at is None:
            budget = dt.timedelta(minutes=r.on_site_budget_minutes)
            r.on_site_due = due_at(r.notice_at, budget, pauses)

    def _flag(self, s: Session, r: ServiceRequest, t: dt.datetime, now: dt.datetime) -> list[int]:
        """Make or update the request's breaches as of ``t`` (the step's time, or now for the
        job): a commitment met late gets a final breach; one still unmet past its deadline an
        open one whose lateness grows. Returns the ids of breaches made now."""
        pauses = _as_pauses(_pauses(s, r.id))
        made: list[int] = []
        ended = r.state in (_R.RESOLVED, _R.RECORD_SIGNED, _R.CANCELLED)
        end_at = r.resolved_at if r.state != _R.CANCELLED else t
        checks = [
            (BreachKind.RESPONSE, r.response_budget_minutes, r.responded_at, r.response_due),
        ]
        if r.on_site_budget_minutes is not None:
            checks.append(
                (BreachKind.ON_SITE, r.on_site_budget_minutes, r.on_site_at, r.on_site_due)
            )
        for kind, minutes, met_at, due in checks:
            budget = dt.timedelta(minutes=minutes)
            final = met_at is not None or ended
            upto = met_at or (end_at if ended else now)  # unmet: late as of now
            if upto is None:
                continue
            late = lateness(r.notice_at, budget, upto, pauses)
            row = _breach(s, r.id, kind)
            if row is not None:
                if row.final:
                    continue
                if late <= dt.timedelta(0):
                    # flagged while the desk's record lagged behind (a step written down
                    # afterwards, back-dated): the commitment was met in time after all
                    _event(
                        s,
                        now,
                        "system:desk",
                        "breach_withdrawn",
                        r.id,
                        {"kind": str(kind), "flagged_late_seconds": row.late_seconds},
                    )
                    s.delete(row)
                    continue
                row.late_seconds, row.final = int(late.total_seconds()), final
                continue
            if late <= dt.timedelta(0):
                continue
            # the deadline that was missed: on the running clock, budget after the notice
            missed = due or due_at(r.notice_at, budget, [p for p in pauses if p.end is not None])
            row = ServiceBreach(
                request_id=r.id,
                kind=kind,
                due_at=missed or (r.notice_at + budget),
                detected_at=now,
                late_seconds=int(late.total_seconds()),
                final=final,
            )
            s.add(row)
            s.flush()
            made.append(row.id)
            _event(
                s,
                now,
                "system:desk",
                "breached",
                r.id,
                {
                    "kind": str(kind),
                    "due_at": row.due_at.isoformat(),
                    "late_seconds": row.late_seconds,
                },
            )
        return made

    def flag_breaches(self, now: dt.datetime | None = None) -> BreachRun:
        """The job's work: flag every deadline passed and unmet, grow the lateness of open
        breaches, and mark requests whose service record flow completed. Running it twice
        changes nothing the second time (one breach per request and kind)."""
        now = now or self._now()
        flagged: list[int] = []
        updated: list[int] = []
        with self.db.transaction() as s:
            corrected = self._settle_notice_days(s, now)
            live = s.scalars(
                select(ServiceRequest)
                .where(ServiceRequest.state.in_([str(x) for x in LIVE]))
                .order_by(ServiceRequest.id)
                .with_for_update(skip_locked=True)  # one being changed now: the next run
            ).all()
            for r in live:
                due = [
                    d
                    for d, met in (
                        (r.response_due, r.responded_at),
                        (r.on_site_due, r.on_site_at),
                    )
                    if d is not None and met is None
                ]
                if not any(d < now for d in due):
                    continue
                before = {
                    b.id: b.late_seconds
                    for b in s.scalars(
                        select(ServiceBreach).where(ServiceBreach.request_id == r.id)
                    )
                }
                flagged += self._flag(s, r, now, now)
                for b in s.scalars(select(ServiceBreach).where(ServiceBreach.request_id == r.id)):
                    if b.id in before and b.late_seconds != before[b.id]:
                        updated.append(b.id)
        signed = self.sync_records()
        return BreachRun(tuple(flagged), tuple(updated), tuple(signed), tuple(corrected))

    def _settle_notice_days(self, s: Session, now: dt.datetime) -> list[int]:
        """The provisional working-day answers (:func:`notice_workday`) checked against the
        calendar as loaded now: each one its year now covers is confirmed, or corrected — the
        response budget, its deadline and its breach redone, and the change audited. Returns
        the ids of the requests corrected."""
        corrected: list[int] = []
        pending = s.scalars(
            select(ServiceRequest)
            .where(ServiceRequest.notice_workday_provisional.is_(True))
            .order_by(ServiceRequest.id)
            .with_for_update(skip_locked=True)
        ).all()
        for r in pending:
            c = s.get(DeskContract, r.contract_id)
            workday, provisional, budget = response_budget(
                r.notice_at, self.calendar, c.workday_response_hours, c.other_response_hours
            )
            if provisional:
                continue  # still no schedule for that year
            r.notice_workday_provisional = False
            if workday == r.notice_workday:
                _event(s, now, "system:desk", "notice_day_confirmed", r.id, {"workday": workday})
                continue
            r.notice_workday = workday
            r.response_budget_minutes = int(budget.total_seconds() // 60)
            r.response_due = due_at(r.notice_at, budget, _as_pauses(_pauses(s, r.id)))
            # a request withdrawn before it was answered was late as of its withdrawal, whose
            # time the cancel step wrote in the audit trail (the row keeps only the reason);
            # without that event, its breach is kept as it was
            unanswered = r.state == _R.CANCELLED and r.responded_at is None
            ended_at = _cancelled_at(s, r.id) if unanswered else None
            redo = not unanswered or ended_at is not None
            withdrawn = _breach(s, r.id, BreachKind.RESPONSE) if redo else None
            if withdrawn is not None:
                s.delete(withdrawn)
                s.flush()
            _event(
                s,
                now,
                "system:desk",
                "notice_day_corrected",
                r.id,
                {
                    "workday": workday,
                    "response_budget_minutes": r.response_budget_minutes,
                    "response_due": r.response_due.isoformat() if r.response_due else None,
                    "breach_withdrawn_late_seconds": withdrawn.late_seconds if withdrawn else None,
                },
            )
            if redo:
                self._flag(s, r, ended_at or now, now)
            corrected.append(r.id)
        return corrected

    # --- reading ------------------------------------------------------------------------------
    def _request(self, s: Session, request_id: int, *, lock: bool = False) -> ServiceRequest:
        """The request's row; ``lock`` holds it (PostgreSQL: FOR UPDATE) until the transaction
        ends, so two steps on one request, or a step and the breach job, go one after the
        other and each re-checks the state the other left."""
        if not isinstance(request_id, int) or isinstance(request_id, bool):
            raise ValidationError("the request id must be a number", field="request_id")
        r = s.get(ServiceRequest, request_id, with_for_update=lock or None)
        if r is None:
            raise NotFound(f"no service request #{request_id}", field="request_id")
        return r

    def _view(
        self,
        s: Session,
        r: ServiceRequest,
        *,
        read: PageRows | None = None,
    ) -> RequestView:
        """The request as the desk shows it; ``read``: its contract, pauses and breaches
        already read for a whole page (``_read_pages``), not asked again for each request."""
        read = read or _read_pages(s, [r])
        c = read.contracts[r.contract_id]
        pause_rows, breaches = read.pauses.get(r.id, []), read.breaches.get(r.id, [])
        pauses = _as_pauses(pause_rows)

        def minutes(t: dt.datetime | None) -> float | None:
            if t is None:
                return None
            return round(running_time(r.notice_at, t, pauses).total_seconds() / 60, 1)

        return from_row(
            RequestView,
            r,
            contract_number=c.number,
            state=RequestState(r.state),
            clock=ClockState(r.clock),
            commitments_pending=self._running_clocks(r),
            response_minutes=minutes(r.responded_at),
            on_site_minutes=minutes(r.on_site_at),
            pauses=tuple(PauseView(p.id, p.started_at, p.ended_at, p.reason) for p in pause_rows),
            breaches=tuple(
                BreachView(
                    b.id,
                    b.request_id,
                    BreachKind(b.kind),
                    b.due_at,
                    b.detected_at,
                    b.late_seconds,
                    b.final,
                )
                for b in breaches
            ),
        )

    def get(self, request_id: int) -> RequestView:
        with self.db.read() as s:
            return self._view(s, self._request(s, request_id))

    def list(
        self,
        *,
        contract: str | None = None,
        state: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        after: int | None = None,
        limit: int | None = None,
        order: str = "oldest",
    ) -> list[RequestView]:
        """Requests by notice time (then id), newest last (``order="newest"``: newest first);
        narrowed by contract, state, notice window. ``after`` (a request's id, the last one
        seen: a keyset cursor) continues after that request's (notice_at, id) in the order
        asked (newest first: the requests before it); ``limit`` takes at most that many,
        ``None`` (the reports) all of them. The API and the CLI page it as their other lists
        (one row more than the page, cut by ``store.queries.cut``)."""
        state = listed(RequestState, state, "state")
        if not isinstance(order, str) or order not in LIST_ORDERS:
            raise ValidationError(
                f"order must be one of {', '.join(LIST_ORDERS)}, not {order!r}", field="order"
            )
        newest = order == "newest"
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000
        ):
            raise ValidationError("limit must be 1–1000", field="limit")
        if after is not None and (isinstance(after, bool) or not isinstance(after, int)):
            raise ValidationError("after must be a service request's id", field="after")
        with self.db.read() as s:
            keys = (ServiceRequest.notice_at, ServiceRequest.id)
            q = select(ServiceRequest).order_by(*(k.desc() for k in keys) if newest else keys)
            if after is not None:
                # an id past PostgreSQL's INTEGER finds none (store.db.postgres_engine)
                last = s.scalar(select(ServiceRequest).where(ServiceRequest.id == after))
                if last is None:  # a cursor from nowhere: said, not read as "no more"
                    raise ValidationError(f"no service request #{after}", field="after")

                # past the cursor's row in the order asked: later (oldest first) or earlier
                # (newest first) by notice time, the id deciding a tie
                def past(column: Any, value: Any) -> Any:
                    return column < value if newest else column > value

                # the bound on notice_at alone says what the OR below implies, so that the
                # page is read from the cursor's place in the (…, notice_at, id) index: with
                # the OR only, SQLite walked every row of the state or contract before it
                reached = (
                    ServiceRequest.notice_at <= last.notice_at
                    if newest
                    else ServiceRequest.notice_at >= last.notice_at
                )
                q = q.where(
                    reached,
                    or_(
                        past(ServiceRequest.notice_at, last.notice_at),
                        and_(
                            ServiceRequest.notice_at == last.notice_at,
                            past(ServiceRequest.id, last.id),
                        ),
                    ),
                )
            if contract is not None:
                q = q.where(ServiceRequest.contract_id == self._contract(s, contract).id)
            if state is not None:
                q = q.where(ServiceRequest.state == state)
            if since is not None:
                q = q.where(ServiceRequest.notice_at >= _aware(since, "since"))
            if until is not None:
                q = q.where(ServiceRequest.notice_at < _aware(until, "until"))
            if limit is not None:
                q = q.limit(limit)
            rows = list(s.scalars(q))
            read = _read_pages(s, rows)
            return [self._view(s, r, read=read) for r in rows]

    # --- inspections (按月巡检) -----------------------------------------------------------------
    def record_inspection(
        self,
        contract: str,
        *,
        month: str | None = None,
        performed_at: dt.datetime | None = None,
        inspector: str,
        findings: str,
        actor: str = "operator",
    ) -> InspectionView:
        """The month's on-site inspection and its record (系统运行情况记录). ``month`` defaults
        to the month (Beijing time) it was performed in; one per contract and month."""
        now = self._now()
        t = now if performed_at is None else _aware(performed_at, "performed_at")
        if t > now:
            raise ValidationError("an inspection cannot be in the future", field="performed_at")
        month = month or notice_day(t).strftime("%Y-%m")
        if not MONTH_RE.match(str(month)):
            raise ValidationError("month must be YYYY-MM", field="month")
        # a month's inspection is done in the month (or late, after it), never before it
        # begins: 2027-10 recorded in 2026 showed October 2027 inspected a year early
        performed_in = notice_day(t).strftime("%Y-%m")
        if month > performed_in:
            raise ValidationError(
                f"{month} 的巡检不能在 {performed_in} 完成 / the inspection of {month} cannot "
                f"be performed in {performed_in}, before that month begins",
                field="month",
            )
        inspector = _text(inspector, "inspector", limit=100)
        findings = _text(findings, "findings")
        actor = _text(actor, "actor", limit=100)
        with self.db.transaction() as s:
            # held, so two recordings of one month take turns and the second sees the first
            # (both found none, and the second died on the unique index, on PostgreSQL)
            c = self._contract(s, contract, lock=True)
            first = c.starts_on.replace(day=1).strftime("%Y-%m")
            if not first <= month <= c.ends_on.strftime("%Y-%m"):
                raise ValidationError(
                    f"{month} is outside contract {c.number}'s period", field="month"
                )
            if s.scalar(
                select(ServiceInspection.id).where(
                    ServiceInspection.contract_id == c.id, ServiceInspection.month == month
                )
            ):
                raise Conflict(f"{month}'s inspection is already recorded", field="month")
            row = ServiceInspection(
                contract_id=c.id,
                month=month,
                performed_at=t,
                inspector=inspector,
                findings=findings,
                created_at=now,
            )
            s.add(row)
            s.flush()
            event(
                s,
                now,
                actor,
                "desk_contract.inspected",
                c.number,
                {"month": month, "performed_at": t.isoformat(), "inspector": inspector},
            )
            return InspectionView(row.id, c.number, month, t, inspector, findings)

    def inspections(self, contract: str) -> list[InspectionView]:
        with self.db.read() as s:
            c = self._contract(s, contract)
            rows = s.scalars(
                select(ServiceInspection)
                .where(ServiceInspection.contract_id == c.id)
                .order_by(ServiceInspection.month)
            )
            return [
                InspectionView(x.id, c.number, x.month, x.performed_at, x.inspector, x.findings)
                for x in rows
            ]

    # --- reports ------------------------------------------------------------------------------
    def report(self, contract: str, period: str) -> ServiceReport:
        """The monthly (``YYYY-MM``) or yearly (``YYYY``) service report's figures: the
        requests noticed in the period (Beijing time), their times and breaches, the
        inspections of its months and the penalties."""
        from yinxin.contracts.reports import build_report, parse_period

        p = parse_period(period)
        c = self.contract(contract)
        requests = self.list(contract=c.number, since=p.start, until=p.end, limit=None)
        inspections = [i for i in self.inspections(c.number) if i.month in p.months]
        return build_report(c, p, requests, inspections, self._now())

    def report_pdf(self, contract: str, period: str) -> bytes:
        from yinxin.contracts.reports import render_report_pdf

        return render_report_pdf(self.report(contract, period))

    # --- the service record (运维服务记录单) ----------------------------------------------------
    def record_pdf(self, request_id: int) -> bytes:
        """The service record of a resolved request, as the parties sign it."""
        from yinxin.contracts.reports import render_service_record

        with self.db.read() as s:
            r = self._request(s, request_id)
            if r.state not in (_R.RESOLVED, _R.RECORD_SIGNED):
                raise IllegalTransition(
                    f"request #{r.id} is {r.state}: a service record is written once resolved",
                    field="state",
                )
            view = self._view(s, r)
            contract = _contract_view(s.get(DeskContract, r.contract_id))
        return render_service_record(contract, view, generated_at=self._now())

    def start_record_flow(
        self,
        request_id: int,
        *,
        party_a: tuple[int, int | str],
        party_b: tuple[int, int | str],
        deadline: dt.datetime | None = None,
        actor: str = "operator",
    ) -> RecordFlow:
        """Send the service record for signature: 乙方 (who did the work) signs first, then
        甲方 confirms it. ``party_a``/``party_b`` are (subscriber id, seal id or esID). Each
        seal must be the party's the record names — its owner's name the contract's 甲方/乙方
        (compared as a library contract's parties are: :func:`~yinxin.contracts.parties.
        seal_of_party`), refused naming ``party_a``/``party_b`` with code ``not_the_party``;
        the flow service then checks them (seal usable, anchor in the record) before anything
        is written."""
        from yinxin.contracts.parties import seal_of_party
        from yinxin.signing.flows import FINISHED, FlowState, SignerSpec

        if self._flows is None:
            raise IllegalTransition("this desk has no sign flows", field="flows")
        flows = self._flows()
        actor = _text(actor, "actor", limit=100)
        with self.db.read() as s:
            r = self._request(s, request_id)
            REQUEST_LIFECYCLE.check("record", r.state, None, f"#{r.id}")
            if r.record_flow_id is not None:
                if flows.get(r.record_flow_id).state not in FINISHED - {FlowState.COMPLETED}:
                    raise Conflict(
                        f"request #{r.id}'s record is already in flow {r.record_flow_id}",
                        field="request_id",
                    )
            c = s.get(DeskContract, r.contract_id)
            for where, role, named, signer in (
                ("party_a", "甲方", c.party_a, party_a),
                ("party_b", "乙方", c.party_b, party_b),
            ):
                seal_of_party(
                    s, signer[1], role, named, where=where, paper=("记录单", "service record")
                )
        pdf = self.record_pdf(request_id)
        when = deadline or self._now() + RECORD_DEADLINE
        flow = flows.create(
            f"运维服务记录单 #{request_id}",
            documents=[(f"service-record-{request_id}.pdf", pdf)],
            signers=[
                SignerSpec(party_b[0], "乙方", party_b[1], order=1),
                SignerSpec(party_a[0], "甲方", party_a[1], order=2),
            ],
            deadline=when,
            actor=actor,
        )
        now = self._now()
        with self.db.transaction() as s:
            r = self._request(s, request_id, lock=True)
            REQUEST_LIFECYCLE.check("record", r.state, None, f"#{r.id}")
            r.record_flow_id = flow.id
            _event(s, now, actor, "record_sent", r.id, {"flow_id": flow.id})
        started = flows.start(flow.id, actor=actor)
        return RecordFlow(self.get(request_id), started)

    def sync_records(self) -> list[int]:
        """Requests whose service record flow has completed become ``record_signed``."""
        from yinxin.store.models.flows import SignFlow

        done: list[int] = []
        now = self._now()
        with self.db.transaction() as s:
            rows = s.execute(
                select(ServiceRequest, SignFlow)
                .join(SignFlow, SignFlow.id == ServiceRequest.record_flow_id)
                .where(ServiceRequest.state == _R.RESOLVED, SignFlow.state == "completed")
                .order_by(ServiceRequest.id)  # the join's own order differs between databases
                .with_for_update(of=ServiceRequest, skip_locked=True)
            ).all()
            for r, f in rows:
                m = REQUEST_LIFECYCLE.check("record_signed", r.state, None, f"#{r.id}")
                r.state, r.record_signed_at = m.to_state, f.finished_at or now
                _event(
                    s,
                    now,
                    "system:desk",
                    "record_signed",
                    r.id,
                    {"flow_id": f.id, "signed_at": r.record_signed_at.isoformat()},
                )
                done.append(r.id)
        return done

    def signed_record(self, request_id: int) -> bytes:
        """The service record as both parties signed it."""
        with self.db.read() as s:
            r = self._request(s, request_id)
            flow_id = r.record_flow_id
            if r.state != _R.RECORD_SIGNED or flow_id is None:
                raise IllegalTransition(
                    f"request #{r.id}'s service record is not signed yet", field="state"
                )
        assert self._flows is not None
        flow = self._flows().get(flow_id)
        return self._flows().download(flow.id, flow.documents[0].id).pdf


def _cancelled_at(s: Session, request_id: int) -> dt.datetime | None:
    """When the request was withdrawn: the ``at`` of its last ``cancelled`` event."""
    found = events(
        s,
        action=f"service_request.{_PAST['cancel']}",
        subject_type="service_request",
        subject_id=str(request_id),
        limit=10,  # a withdrawal is the request's last step: one such event
    )
    try:
        return dt.datetime.fromisoformat(found[-1].data["at"]) if found else None
    except (KeyError, TypeError, ValueError):
        return None


_PAST = {
    "respond": "responded",
    "arrive": "arrived",
    "resolve": "resolved",
    "cancel": "cancelled",
}
