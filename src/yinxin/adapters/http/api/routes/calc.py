"""Contract arithmetic, read-only: 人民币大写 both ways, tax lines, working days, penalties.

Any signed-in caller may use these (they read nothing of anyone's); nothing is stored. Every
parameter is taken as text and checked by ``yinxin.contracts`` itself, so a refusal is the
same 422 problem naming the same field as ``yinxin calc`` prints — a date in a year whose
official holiday schedule is unknown answers ``code: calendar_missing``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from yinxin.access.keys import Principal
from yinxin.adapters.http.api.context import IsoDateTime, Plat, get_caller
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.contracts import money, terms, workdays
from yinxin.errors import ValidationError

router = APIRouter(route_class=JsonRoute, tags=["calc"])
Caller = Annotated[Principal, Depends(get_caller)]


DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"


# a fresh Query each time: FastAPI writes the parameter's name into the one it is given
def amount_param():
    return Query(..., max_length=40, description="1740000, 1,740,000.00 or ¥1740000.5")


def date_param(
    description: str | None = "an ISO date, 2026-02-14",
    *,
    default: Any = ...,
    alias: str | None = None,
):
    """An ISO date (YYYY-MM-DD) in the query: required, unless a ``default`` is given."""
    return Query(default, alias=alias, max_length=10, pattern=DATE_PATTERN, description=description)


class CapitalsOut(BaseModel):
    amount: str
    formatted: str
    capitals: str


class AmountOut(BaseModel):
    capitals: str
    amount: str
    formatted: str
    canonical: str


class TaxOut(BaseModel):
    net: str
    rate: str
    tax: str
    gross: str
    rounding: str
    explanation: str


class DayOut(BaseModel):
    date: dt.date
    kind: str
    name: str | None
    workday: bool
    explanation: str | None = None


class SpanOut(BaseModel):
    start: dt.date
    end: dt.date
    workdays: int
    days_off: list[DayOut]
    explanation: str


class YearOut(BaseModel):
    year: int
    source: str


class PenaltyLineOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    # "from" is a Python keyword: the field keeps its JSON name through the alias
    from_: dt.date = Field(alias="from")
    to: dt.date
    days: int
    base: str
    amount: str
    explanation: str


class PenaltyOut(BaseModel):
    due: dt.date
    as_of: dt.date
    rate: str
    days_late: int
    lines: list[PenaltyLineOut]
    uncapped: str
    cap: str | None
    total: str
    capped: bool
    explanation: str
    notes: list[str]


class MilestoneOut(BaseModel):
    label: str
    share: str
    amount: str
    event: str
    event_date: dt.date | None
    due: dt.date | None
    explanation: str


class NoticeOut(BaseModel):
    method: str
    served_on: dt.date | None = Field(description="the day it counts as served; null: not served")
    served_at: dt.datetime | None = Field(
        description="email: the moment it reached the mail system"
    )
    explanation: str


class AcceptanceOut(BaseModel):
    requested: dt.date
    review_until: dt.date
    reminded: dt.date | None
    reminder_until: dt.date | None
    deemed_on: dt.date | None
    explanation: str


def _calendar(platform: Plat) -> workdays.WorkCalendar:
    return workdays.official_calendar(platform.settings.home)


def _date(text: str | None, field: str):
    return workdays.parse_date(text, field=field) if text is not None else None


@router.get("/calc/capitals", response_model=CapitalsOut)
def capitals(_caller: Caller, amount: str = amount_param()):
    """The amount in 人民币大写 (1740000 → 壹佰柒拾肆万元整), from 0.01 to 10^12."""
    value = money.parse_amount(amount)
    return CapitalsOut(
        amount=str(value), formatted=money.format_amount(value), capitals=money.capitals(value)
    )


@router.get("/calc/amount", response_model=AmountOut)
def amount_of_capitals(
    _caller: Caller, capitals: str = Query(..., max_length=80, description="壹佰柒拾肆万元整")
):
    """The reverse check: the amount capitals state; malformed capitals are refused (422)."""
    value = money.from_capitals(capitals)
    return AmountOut(
        capitals=capitals,
        amount=str(value),
        formatted=money.format_amount(value),
        canonical=money.capitals(value),
    )


@router.get("/calc/tax", response_model=TaxOut)
def tax(
    _caller: Caller,
    price: str = amount_param(),
    rate: str = Query(..., max_length=20, description="0.06 or 6%"),
    rounding: str = Query("half_up", max_length=20, description="half_up, half_even, down, up"),
    includes_tax: bool = Query(False, description="price is 含税价: split it into net + tax"),
):
    """A tax line (net + tax = gross exactly), rounded to the 分 by the contract's rule."""
    line = (money.without_tax if includes_tax else money.with_tax)(price, rate, rounding)
    return TaxOut(
        **line.as_dict(),
        explanation=(
            f"不含税 {money.format_amount(line.net)} + 税额 {money.format_amount(line.tax)}"
            f"（税率 {terms.format_rate(line.rate)}）= 含税 {money.format_amount(line.gross)}"
        ),
    )


@router.get("/calc/workdays", response_model=SpanOut)
def workdays_after(
    platform: Plat,
    _caller: Caller,
    from_: str = date_param("not counted", alias="from"),
    days: str = Query(..., max_length=6, description="working days to add: 0 or more, digits"),
):
    """The ``days``-th working day after ``from``, with the days off skipped on the way."""
    start = workdays.parse_date(from_, field="from")
    span = _calendar(platform).span_after(start, workdays.parse_days(days), start_field="from")
    return span.as_dict()


@router.get("/calc/workdays/between", response_model=SpanOut)
def workdays_between(
    platform: Plat,
    _caller: Caller,
    from_: str = date_param(None, alias="from"),
    to: str = date_param(),
):
    """How many working days lie after ``from`` up to and including ``to``."""
    start = workdays.parse_date(from_, field="from")
    end = workdays.parse_date(to, field="to")
    if end < start:
        raise ValidationError("the end of a span comes before its start", field="to")
    try:
        return _calendar(platform).span_between(start, end).as_dict()
    except workdays.CalendarMissing as e:  # the calendar's start/end are this call's from/to
        raise workdays.CalendarMissing(
            e.year, field="from" if e.field == "start" else "to"
        ) from None


@router.get("/calc/workdays/day", response_model=DayOut)
def workday(platform: Plat, _caller: Caller, date: str = date_param()):
    """Whether ``date`` is a working day, and why (weekend, holiday, 调休上班)."""
    info = _calendar(platform).day(workdays.parse_date(date, field="date"))
    return DayOut(**info.as_dict(), explanation=info.describe())


@router.get("/calc/workdays/years", response_model=list[YearOut])
def workday_years(platform: Plat, _caller: Caller):
    """The years whose official holiday schedule is known, and the source of each."""
    cal = _calendar(platform)
    return [YearOut(year=y, source=cal.source(y)) for y in cal.years()]


@router.get("/calc/penalty", response_model=PenaltyOut)
def penalty(
    _caller: Caller,
    amount: str = amount_param(),
    due: str = date_param(),
    as_of: str = date_param(),
    rate: str | None = Query(None, max_length=20, description="a day: 3%, 0.5‰, 0.005"),
    clause: str | None = Query(None, max_length=20, description="002-8.1 or 003-10.1.2"),
    cap_rate: str | None = Query(None, max_length=20, description="20%"),
    cap_base: str | None = Query(None, max_length=40, description="the contract amount"),
    paid: list[str] = Query([], description="DATE=AMOUNT, repeatable: payments made"),
):
    """A late penalty counted to the day (from the day after ``due`` to ``as_of``)."""
    if clause is not None:
        if clause not in terms.CLAUSES:
            raise ValidationError(f"one of {', '.join(terms.CLAUSES)}", field="clause")
        if rate is not None:
            raise ValidationError("give rate or clause, not both", field="rate")
        rate = terms.CLAUSES[clause]["rate"]
        if cap_rate is None:
            cap_rate = terms.CLAUSES[clause]["cap_rate"]
    if rate is None:
        raise ValidationError("give rate or clause", field="rate")
    if len(paid) > 100:
        raise ValidationError("at most 100 payments", field="paid")
    payments = []
    for i, item in enumerate(paid):
        day, sep, value = item.partition("=")
        if not sep:
            raise ValidationError(f"{item!r} is not DATE=AMOUNT", field=f"paid[{i}]")
        payments.append(
            (
                workdays.parse_date(day, field=f"paid[{i}]"),
                money.parse_amount(value, field=f"paid[{i}]"),
            )
        )
    return terms.late_penalty(
        amount,
        workdays.parse_date(due, field="due"),
        workdays.parse_date(as_of, field="as_of"),
        rate,
        payments=payments,
        cap_rate=cap_rate,
        cap_base=cap_base,
    ).as_dict()


@router.get("/calc/schedule", response_model=list[MilestoneOut])
def schedule(
    platform: Plat,
    _caller: Caller,
    total: str = amount_param(),
    acceptance: str | None = date_param("验收合格 date", default=None),
    go_live: str | None = date_param("系统上线运行 date", default=None),
):
    """002's instalments: 75 % within 30 working days of acceptance, 25 % within 30 working
    days after 12 months live — amounts that add up, due dates once the events happened."""
    events = {
        "acceptance": _date(acceptance, "acceptance"),
        "go_live": _date(go_live, "go_live"),
    }
    rows = terms.payment_schedule(total, terms.PLATFORM_002, events, _calendar(platform))
    return [m.as_dict() for m in rows]


@router.get("/calc/notice", response_model=NoticeOut)
def notice(
    _caller: Caller,
    method: Literal["in_person", "express", "email"] = Query(
        ..., description="专人递送, 特快专递 or 电子邮件 (002 第十条)"
    ),
    signed_on: str | None = date_param("in_person: the day it was signed for", default=None),
    posted_on: str | None = date_param("express: the postmark's day", default=None),
    local: bool | None = Query(None, description="express: within the city (or elsewhere)"),
    arrived_at: IsoDateTime | None = Query(
        None, description="email: when it reached the mail system, with its offset"
    ),
    formal: bool = Query(False, description="bears on the contract's validity or a dispute"),
    agreed_address: bool = Query(True, description="express: sent to the agreed address"),
):
    """When a written notice counts as served (送达): signed for by hand, the 3rd (within the
    city) or 5th day after posting by express, e-mail on arrival — or why it does not count."""
    return terms.notice_served(
        method,
        signed_on=_date(signed_on, "signed_on"),
        posted_on=_date(posted_on, "posted_on"),
        local=local,
        arrived_at=arrived_at,
        formal=formal,
        agreed_address=agreed_address,
    ).as_dict()


@router.get("/calc/acceptance", response_model=AcceptanceOut)
def acceptance(
    platform: Plat,
    _caller: Caller,
    requested: str = date_param(),
    reminded: str | None = date_param("the reminder's date", default=None),
):
    """When silence becomes acceptance (002 §4.2: 7 working days, then 3 after a reminder)."""
    return terms.deemed_acceptance(
        workdays.parse_date(requested, field="requested"),
        _calendar(platform),
        reminded=_date(reminded, "reminded"),
    ).as_dict()
