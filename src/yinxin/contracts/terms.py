"""Contract-term arithmetic, explained: payment milestones, deemed acceptance, late penalties,
when a notice counts as served.

A contract's money terms are short sentences that hide arithmetic — "验收合格后 30 个工作日内
支付 75%", "每逾期一天按未付金额的 3% 支付违约金，以合同金额的 20% 为限". Each function here
computes one such term from dates and amounts and returns, beside the figures, one short line of
Chinese saying how the figure came about (``逾期 5 日 × 0.5‰ × ¥100,000.00 = ¥250.00``), so a
person can check the platform's result against the contract by hand.

Pure functions: dates are ``datetime.date`` (the contract's own calendar days, 北京时间), money
is ``Decimal`` to the 分, working days come from a :class:`~yinxin.contracts.workdays.
WorkCalendar` passed in. Periods follow the Civil Code: the starting day is not counted
(民法典 第二百零一条); "N months after" ends on the same day of the month, or the month's last
day when there is none (第二百零二条); a deadline ending on a day off moves to the next working
day (第二百零三条), which counting in working days does by itself.
"""

from __future__ import annotations

import calendar as _cal
import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from yinxin.clock import BEIJING
from yinxin.contracts.money import CENT, allocate, format_amount, parse_amount, parse_rate
from yinxin.contracts.workdays import CalendarMissing, WorkCalendar
from yinxin.errors import ValidationError


# -- formatting ----------------------------------------------------------------------------------
def format_rate(rate: Decimal) -> str:
    """3% · 0.5‰ · 5‰ · 75% — per mille below one per cent, as contracts write them."""
    if rate and rate < Decimal("0.01"):
        value, sign = rate * 1000, "‰"
    else:
        value, sign = rate * 100, "%"
    text = format(value.normalize(), "f")
    return f"{text}{sign}"


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, or that month's last day (民法典 第二百零二条).

    2024-02-29 + 12 months → 2025-02-28; 2026-01-31 + 1 month → 2026-02-28.
    """
    if isinstance(months, bool) or not isinstance(months, int) or months < 0:
        raise ValidationError("a whole number of months, not negative", field="months")
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    if year > dt.MAXYEAR:
        raise ValidationError(f"{months} months after {day} is past the year 9999", field="months")
    return dt.date(year, month, min(day.day, _cal.monthrange(year, month)[1]))


def period_end(
    happened: dt.date,
    calendar: WorkCalendar,
    *,
    months: int = 0,
    workdays: int = 0,
    days: int = 0,
    field: str,
) -> tuple[dt.date, str]:
    """When a period counted from ``happened`` ends, and the steps in words (to follow the
    event's name and date): ``months`` first (第二百零二条), then ``workdays`` working days or
    ``days`` days. A period in months or days whose last day is a day off ends on the next
    working day (第二百零三条); a count of working days ends on one already; no period at all is
    the day itself. One reckoning for the payment plan and the tracked obligations, so a rule
    mended in one is mended in both."""
    try:
        anchor = add_months(happened, months)
    except ValidationError as exc:
        raise ValidationError(exc.message, field=field) from None
    steps = f"，满 {months} 个月为 {anchor.isoformat()}" if months else ""
    if workdays:
        due = calendar.add_workdays(anchor, workdays, field=field, start_field=field)
        return due, f"{steps}，其后第 {workdays} 个工作日为 {due.isoformat()}"
    if not (months or days):
        return anchor, steps
    last = anchor + dt.timedelta(days=days)
    if days:
        steps += f"，其后第 {days} 日为 {last.isoformat()}"
    due = calendar.next_workday(last, field=field)
    if due != last:
        steps += f"（非工作日，顺延至 {due.isoformat()}，民法典第二百零三条）"
    return due, steps


def _date(value: dt.date, name: str) -> dt.date:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ValidationError(f"{name}: give a calendar date", field=name)
    return value


# -- payment milestones --------------------------------------------------------------------------
@dataclass(frozen=True)
class PaymentTerm:
    """One instalment as the contract words it.

    ``event`` names what starts the clock (``acceptance`` 验收合格, ``go_live`` 上线运行,
    ``signing`` 合同签订, ``invoice`` 收到发票); the due date is ``months`` after that event,
    then ``workdays`` working days later.
    """

    label: str
    share: Decimal
    event: str
    months: int = 0
    workdays: int = 0
    wording: str = ""


EVENT_NAMES = {
    "signing": "合同签订",
    "acceptance": "验收合格",
    "go_live": "系统上线运行",
    "invoice": "收到发票",
    "delivery": "交付",
}

#: 002 §2.3: 75 % within 30 working days of the signed acceptance report; 25 % within 30
#: working days after the system has run live for 12 months.
PLATFORM_002 = (
    PaymentTerm(
        "第一次付款",
        Decimal("0.75"),
        "acceptance",
        workdays=30,
        wording="甲乙双方签署项目验收合格报告后 30 个工作日内支付合同总价款的 75%",
    ),
    PaymentTerm(
        "第二次付款",
        Decimal("0.25"),
        "go_live",
        months=12,
        workdays=30,
        wording="系统上线运行满 12 个月的 30 个工作日内支付合同总价款的 25%",
    ),
)


@dataclass(frozen=True)
class Milestone:
    """An instalment computed: its amount, and its due date once its event has happened."""

    label: str
    share: Decimal
    amount: Decimal
    event: str
    event_date: dt.date | None
    due: dt.date | None
    explanation: str

    def as_dict(self) -> dict:
        return {
            "label": self.label,
            "share": str(self.share),
            "amount": str(self.amount),
            "event": self.event,
            "event_date": self.event_date.isoformat() if self.event_date else None,
            "due": self.due.isoformat() if self.due else None,
            "explanation": self.explanation,
        }


def payment_schedule(
    total: Decimal | str,
    terms: tuple[PaymentTerm, ...] | list[PaymentTerm],
    events: dict[str, dt.date | None],
    calendar: WorkCalendar,
) -> list[Milestone]:
    """The instalments of ``total`` under ``terms``: amounts that add up to ``total`` exactly
    (the last takes the rounding rest), and due dates for the events that have happened.

    An event not yet in ``events`` (the system is not live yet) gives ``due=None`` and says so.
    A due date in a year without an official calendar refuses with ``calendar_missing``.
    """
    amount = parse_amount(total, field="total")
    if not terms:
        raise ValidationError("at least one instalment", field="terms")
    amounts = allocate(amount, [t.share for t in terms], field="total")
    out = []
    for term, part in zip(terms, amounts, strict=True):
        if term.event not in EVENT_NAMES:
            raise ValidationError(f"unknown event {term.event!r}", field="terms")
        event_name = EVENT_NAMES[term.event]
        head = (
            f"{term.label}：{format_rate(term.share)} × {format_amount(amount)} = "
            f"{format_amount(part)}"
        )
        happened = events.get(term.event)
        wait = []
        if term.months:
            wait.append(f"满 {term.months} 个月")
        if term.workdays:
            wait.append(f"后 {term.workdays} 个工作日内")
        wording = "".join(wait) or "当日"
        due: dt.date | None = None
        if happened is None:
            explanation = f"{head}，{event_name}{wording}支付（{event_name}日期未定，到期日待定）"
        else:
            _date(happened, term.event)
            due, steps = period_end(
                happened, calendar, months=term.months, workdays=term.workdays, field=term.event
            )
            explanation = (
                f"{head}，{event_name} {happened.isoformat()}{steps}，"
                f"应于 {due.isoformat()} 前（含当日）支付"
            )
        out.append(Milestone(term.label, term.share, part, term.event, happened, due, explanation))
    return out


# -- deemed acceptance ---------------------------------------------------------------------------
def _window_end(
    calendar: WorkCalendar, start: dt.date, workdays: int, field: str, count: str
) -> dt.date:
    """The last day of an acceptance window of ``workdays`` after ``start``. A window reaching
    a year without a schedule is refused naming the day it runs from (``requested``,
    ``reminded``: what the caller gave), not ``date``; a bad count keeps its own name."""
    try:
        return calendar.add_workdays(start, workdays, field=count, start_field=field)
    except CalendarMissing as e:
        raise CalendarMissing(e.year, field=field) from None


@dataclass(frozen=True)
class DeemedAcceptance:
    """002 §4.2: no acceptance organized within 7 working days of the request, nor within 3
    working days of 乙方's reminder → accepted (视为验收通过)."""

    requested: dt.date
    review_until: dt.date
    reminded: dt.date | None
    reminder_until: dt.date | None
    deemed_on: dt.date | None
    explanation: str

    def is_deemed(self, as_of: dt.date) -> bool:
        """Whether, on ``as_of`` with still no acceptance organized, it counts as accepted."""
        return self.deemed_on is not None and as_of >= self.deemed_on

    def as_dict(self) -> dict:
        iso = lambda d: d.isoformat() if d else None  # noqa: E731
        return {
            "requested": iso(self.requested),
            "review_until": iso(self.review_until),
            "reminded": iso(self.reminded),
            "reminder_until": iso(self.reminder_until),
            "deemed_on": iso(self.deemed_on),
            "explanation": self.explanation,
        }


def deemed_acceptance(
    requested: dt.date,
    calendar: WorkCalendar,
    *,
    reminded: dt.date | None = None,
    review_workdays: int = 7,
    reminder_workdays: int = 3,
) -> DeemedAcceptance:
    """When silence becomes acceptance: both windows must have passed without acceptance.

    ``requested`` is the day 甲方 received the acceptance request (delivery); ``reminded`` the
    day it received 乙方's reminder (催告), which cannot come before the request. The deemed
    day is the day after the later of the two windows' last days. Without a reminder there is
    no deemed acceptance, and the explanation says what would start it.
    """
    _date(requested, "requested")
    review_until = _window_end(calendar, requested, review_workdays, "requested", "review_workdays")
    head = (
        f"收到验收申请 {requested.isoformat()}，{review_workdays} 个工作日内应组织验收"
        f"（至 {review_until.isoformat()}）"
    )
    if reminded is None:
        return DeemedAcceptance(
            requested,
            review_until,
            None,
            None,
            None,
            f"{head}；尚未催告，不视为验收通过——催告后 {reminder_workdays} 个工作日内"
            "仍未组织验收的，视为验收通过",
        )
    _date(reminded, "reminded")
    if reminded < requested:
        raise ValidationError("the reminder comes after the request", field="reminded")
    reminder_until = _window_end(
        calendar, reminded, reminder_workdays, "reminded", "reminder_workdays"
    )
    last = max(review_until, reminder_until)
    deemed_on = last + dt.timedelta(days=1)
    return DeemedAcceptance(
        requested,
        review_until,
        reminded,
        reminder_until,
        deemed_on,
        f"{head}；催告 {reminded.isoformat()}，{reminder_workdays} 个工作日内应组织验收"
        f"（至 {reminder_until.isoformat()}）；至 {last.isoformat()} 仍未组织验收的，"
        f"自 {deemed_on.isoformat()} 起视为验收通过",
    )


# -- notices: when one counts as served (送达) -----------------------------------------------------
#: 002 第十条's ways of sending a written notice, by the names the CLI and the API take
NOTICE_METHODS = {"in_person": "专人递送", "express": "特快专递", "email": "电子邮件"}
# the facts each way needs (express mail may also say it went to an address not agreed)
_NOTICE_NEEDS = {
    "in_person": ("signed_on",),
    "express": ("posted_on", "local"),
    "email": ("arrived_at",),
}
#: what to give for each fact, said in Chinese and English (the field's name stays in the
#: English, where the CLI puts the option it takes it under: signed_on → --signed)
_NOTICE_ASK = {
    "signed_on": ("请给出接收人签收的日期", "give signed_on, the day the recipient signed for it"),
    "posted_on": ("请给出交寄日期（以邮戳为准）", "give posted_on, the day on the postmark"),
    "local": (
        "请说明是否寄往本市内（本市、外地视为送达的日数不同）",
        "give local, whether it went within the city (it is served sooner there)",
    ),
    "arrived_at": (
        "请给出邮件进入对方邮件系统的时间（带时区，如 2026-10-08T18:30+08:00）",
        "give arrived_at, when it reached the recipient's mail system, with its offset "
        "(2026-10-08T18:30+08:00)",
    ),
}
#: a fact the method does not use, by name, in Chinese
_NOTICE_FACT_ZH = {
    "signed_on": "签收日期",
    "posted_on": "交寄日期",
    "local": "是否寄往本市",
    "arrived_at": "邮件到达时间",
    "agreed_address": "“未寄往约定地址”一项",
}
#: each way as the English messages say it
_NOTICE_EN = {
    "in_person": "delivered in person",
    "express": "sent by express mail",
    "email": "sent by e-mail",
}


@dataclass(frozen=True)
class NoticeService:
    """002 第十条: the day a written notice counts as served (送达), or why it does not count.

    ``served_on`` is ``None`` when the notice is not served at all: e-mail for a notice that
    bears on the contract's validity or settles a dispute (§10.1 allows only 专人递送 and
    特快专递 for those), or express mail to an address other than the agreed one (§10.3.3)."""

    method: str
    served_on: dt.date | None
    served_at: dt.datetime | None  # e-mail: the moment it reached the recipient's mail system
    explanation: str

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "served_on": self.served_on.isoformat() if self.served_on else None,
            "served_at": self.served_at.isoformat() if self.served_at else None,
            "explanation": self.explanation,
        }


def notice_served(
    method: str,
    *,
    signed_on: dt.date | None = None,
    posted_on: dt.date | None = None,
    local: bool | None = None,
    arrived_at: dt.datetime | None = None,
    formal: bool = False,
    agreed_address: bool = True,
    local_days: int = 3,
    other_days: int = 5,
) -> NoticeService:
    """When a notice sent under 002 §10.3 counts as served.

    * ``in_person`` (专人递送): the day the recipient signs for it, ``signed_on`` (§10.3.1);
    * ``express`` (特快专递): ``posted_on`` (the postmark, §10.1) plus ``local_days`` (3) within
      the city, ``other_days`` (5) elsewhere in China (§10.3.2, the template's blanks) —
      calendar days, "发出后第 N 日"; not moved off a day off: it is when the notice counts as
      received, not a deadline for acting (a period counted from it moves, 第二百零三条).
      Sent anywhere but the agreed address (``agreed_address=False``) it is not served;
    * ``email`` (电子邮件): the moment it reached the recipient's mail system, ``arrived_at``
      with its offset (§10.3.4) — except a ``formal`` notice (one bearing on the contract's
      validity, or settling a dispute), which §10.1 lets go only by hand or express mail.

    A fact the method does not use is refused, naming it, rather than silently ignored.
    """
    if method not in NOTICE_METHODS:
        raise ValidationError(
            f"method: one of {', '.join(NOTICE_METHODS)}, not {method!r}", field="method"
        )
    given = {
        "signed_on": signed_on is not None,
        "posted_on": posted_on is not None,
        "local": local is not None,
        "arrived_at": arrived_at is not None,
        "agreed_address": agreed_address is not True,
    }
    needs = _NOTICE_NEEDS[method]
    takes = (*needs, "agreed_address") if method == "express" else needs
    how = NOTICE_METHODS[method]
    for name, present in given.items():
        if present and name not in takes:
            raise ValidationError(
                f"{how}的通知不用{_NOTICE_FACT_ZH[name]}，请去掉 / {name} is not a fact of a "
                f"notice {_NOTICE_EN[method]}: leave it out",
                field=name,
            )
    for name in needs:
        if not given[name]:
            zh, en = _NOTICE_ASK[name]
            raise ValidationError(
                f"{how}的通知：{zh} / a notice {_NOTICE_EN[method]}: {en}", field=name
            )
    for name, n in (("local_days", local_days), ("other_days", other_days)):
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 60:
            raise ValidationError(f"{name}: a whole number of days, 0–60", field=name)
    if method == "in_person":
        day = _date(signed_on, "signed_on")  # type: ignore[arg-type]
        return NoticeService(
            method, day, None, f"{how}，接收人 {day.isoformat()} 签收，签收之日视为送达（10.3.1）"
        )
    if method == "express":
        posted = _date(posted_on, "posted_on")  # type: ignore[arg-type]
        if not isinstance(local, bool):
            raise ValidationError("local: whether it went within the city", field="local")
        where, n = ("发往本市内", local_days) if local else ("发往国内其他地区", other_days)
        head = f"{how} {posted.isoformat()} 交寄（以邮戳为准），{where}"
        if not agreed_address:
            return NoticeService(
                method,
                None,
                None,
                f"{head}，但未寄往合同约定（或依约变更后）的地址：视为未履行通知送达义务（10.3.3）",
            )
        if posted > dt.date.max - dt.timedelta(days=n):
            raise ValidationError(
                f"posted_on: {n} days after {posted.isoformat()} is past the last date "
                "(9999-12-31)",
                field="posted_on",
            )
        served = posted + dt.timedelta(days=n)
        return NoticeService(
            method,
            served,
            None,
            f"{head}，发出后第 {n} 日即 {served.isoformat()} 视为送达（10.3.2）",
        )
    if not isinstance(arrived_at, dt.datetime) or arrived_at.tzinfo is None:
        raise ValidationError(
            "arrived_at: a time with its offset, e.g. 2026-10-08T18:30:00+08:00", field="arrived_at"
        )
    local_time = arrived_at.astimezone(BEIJING)
    head = f"{how} {local_time:%Y-%m-%d %H:%M}（北京时间）到达接收人电子邮箱所在系统"
    if formal:
        return NoticeService(
            method,
            None,
            None,
            f"{head}；但影响合同效力或解决争议的通知须以专人递送或特快专递发出（10.1），"
            "电子邮件不视为送达",
        )
    return NoticeService(
        method, local_time.date(), local_time, f"{head}，到达之时视为送达（10.3.4）"
    )


# -- late penalties ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PenaltyLine:
    """One stretch of days with the same unpaid base."""

    start: dt.date  # first day late in the stretch
    end: dt.date  # last day late in the stretch
    days: int
    base: Decimal
    amount: Decimal
    explanation: str

    def as_dict(self) -> dict:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "days": self.days,
            "base": str(self.base),
            "amount": str(self.amount),
            "explanation": self.explanation,
        }


@dataclass(frozen=True)
class Penalty:
    """A late penalty computed to the day: the lines, their sum, the cap and the total."""

    due: dt.date
    as_of: dt.date
    rate: Decimal
    days_late: int
    lines: tuple[PenaltyLine, ...]
    uncapped: Decimal
    cap: Decimal | None
    total: Decimal
    capped: bool
    explanation: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict:
        return {
            "due": self.due.isoformat(),
            "as_of": self.as_of.isoformat(),
            "rate": str(self.rate),
            "days_late": self.days_late,
            "lines": [line.as_dict() for line in self.lines],
            "uncapped": str(self.uncapped),
            "cap": str(self.cap) if self.cap is not None else None,
            "total": str(self.total),
            "capped": self.capped,
            "explanation": self.explanation,
            "notes": list(self.notes),
        }


def late_penalty(
    amount: Decimal | str,
    due: dt.date,
    as_of: dt.date,
    rate: Decimal | str,
    *,
    payments: list[tuple[dt.date, Decimal | str]] | None = None,
    cap_rate: Decimal | str | None = None,
    cap_base: Decimal | str | None = None,
) -> Penalty:
    """The penalty for paying (or delivering) ``amount`` after ``due``, counted to the day.

    Days are calendar days ("每逾期一天"), from the day after ``due`` (从逾期的次日起计算):
    paid on ``due`` + k days is k days late. ``payments`` (date, amount) made after ``due``
    lower the unpaid base from the day after each one; the penalty runs until everything is
    paid or until ``as_of`` (inclusive), whichever comes first. Each stretch is rounded
    half-up to the 分. ``cap_rate`` × ``cap_base`` (default: ``amount``) bounds the total —
    002 §8.1: 3 % a day of the unpaid amount, up to 20 % of the contract amount.
    """
    unpaid = parse_amount(amount, field="amount")
    _date(due, "due")
    _date(as_of, "as_of")
    rate = parse_rate(rate, field="rate")
    cap: Decimal | None = None
    if cap_rate is not None:
        cap_value = parse_rate(cap_rate, field="cap_rate")
        base = parse_amount(cap_base, field="cap_base") if cap_base is not None else unpaid
        cap = (base * cap_value).quantize(CENT, rounding=ROUND_HALF_UP)
        cap_text = f"{format_rate(cap_value)} × {format_amount(base)} = {format_amount(cap)}"
    elif cap_base is not None:
        raise ValidationError("a cap needs its rate", field="cap_rate")
    steps: list[tuple[dt.date, Decimal]] = []
    for index, (day, paid) in enumerate(sorted(payments or [], key=lambda p: p[0])):
        _date(day, f"payments[{index}].date")
        steps.append((day, parse_amount(paid, field=f"payments[{index}].amount")))
    if sum((p for _, p in steps), Decimal(0)) > unpaid:
        raise ValidationError("more was paid than was due", field="payments")

    lines: list[PenaltyLine] = []
    notes: list[str] = []
    boundary = due  # the last day not yet counted
    for day, paid in steps:
        if day <= due:
            unpaid -= paid  # paid in time: no penalty on it
            continue
        end = min(day, as_of)
        if end > boundary and unpaid > 0:
            lines.append(_line(boundary, end, unpaid, rate))
            boundary = end
        if day > as_of:
            break
        unpaid -= paid
    if as_of > boundary and unpaid > 0:
        lines.append(_line(boundary, as_of, unpaid, rate))
    uncapped = sum((line.amount for line in lines), Decimal(0)).quantize(CENT)
    # reached exactly counts as capped: the total cannot grow any more, however long it runs
    capped = cap is not None and bool(lines) and uncapped >= cap
    total = cap if capped and cap is not None else uncapped
    days_late = sum(line.days for line in lines)
    outstanding = parse_amount(amount, field="amount") - sum(
        (p for d, p in steps if d <= as_of), Decimal(0)
    )
    if not lines:
        explanation = f"未逾期（应于 {due.isoformat()} 前支付），无违约金"
    else:
        explanation = "；".join(line.explanation for line in lines)
        if len(lines) > 1:
            explanation += f"；合计 {format_amount(uncapped)}"
        if capped and uncapped == total:
            explanation += f"，达到上限 {cap_text}"
            notes.append(f"违约金已达上限 {format_amount(total)}，不再增加")
        elif capped:
            explanation += f"，超过上限 {cap_text}，按上限计 {format_amount(total)}"
            notes.append(f"违约金已达上限 {format_amount(total)}，不再增加")
        elif outstanding > 0:
            notes.append(
                f"截至 {as_of.isoformat()} 仍欠 {format_amount(outstanding)}，违约金继续计算"
            )
    return Penalty(
        due=due,
        as_of=as_of,
        rate=rate,
        days_late=days_late,
        lines=tuple(lines),
        uncapped=uncapped,
        cap=cap,
        total=total,
        capped=capped,
        explanation=explanation,
        notes=tuple(notes),
    )


def _line(after: dt.date, end: dt.date, base: Decimal, rate: Decimal) -> PenaltyLine:
    days = (end - after).days
    value = (base * rate * days).quantize(CENT, rounding=ROUND_HALF_UP)
    return PenaltyLine(
        start=after + dt.timedelta(days=1),
        end=end,
        days=days,
        base=base,
        amount=value,
        explanation=(
            f"逾期 {days} 日 × {format_rate(rate)} × {format_amount(base)} = {format_amount(value)}"
        ),
    )


#: The penalty clauses of the seeds, for the CLI's and the API's ``--clause`` shortcut.
CLAUSES: dict[str, dict] = {
    # 002 §8.1: 甲方 pays late — 3 % of the unpaid amount a day; at 20 % of the contract
    # amount 乙方 may terminate (the platform caps the penalty there and says so)
    "002-8.1": {"rate": Decimal("0.03"), "cap_rate": Decimal("0.20")},
    # 003 第十条(一)2: 甲方 pays the O&M fee late — 千分之五 of the unpaid fee a day, no cap
    "003-10.1.2": {"rate": Decimal("0.005"), "cap_rate": None},
}
