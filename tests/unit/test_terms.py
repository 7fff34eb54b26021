"""Contract terms: 002's instalments, deemed acceptance, late penalties — tables worked by hand.

Every due date below was counted by hand on the published 2025 and 2026 holiday notices (the
working days are listed in the comments), and every penalty multiplied out, so the functions
are checked against arithmetic done outside them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from yinxin.contracts.terms import (
    CLAUSES,
    PLATFORM_002,
    PaymentTerm,
    add_months,
    deemed_acceptance,
    format_rate,
    late_penalty,
    notice_served,
    payment_schedule,
)
from yinxin.contracts.workdays import CalendarMissing, WorkCalendar, official_calendar
from yinxin.errors import ValidationError

D = dt.date
M = Decimal


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return official_calendar()


# -- months --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("day", "months", "end"),
    [
        (D(2025, 3, 4), 12, D(2026, 3, 4)),
        (D(2024, 2, 29), 12, D(2025, 2, 28)),  # no 29 February: the month's last day
        (D(2023, 2, 28), 12, D(2024, 2, 28)),
        (D(2026, 1, 31), 1, D(2026, 2, 28)),
        (D(2023, 12, 31), 2, D(2024, 2, 29)),  # leap year
        (D(2026, 11, 30), 3, D(2027, 2, 28)),
        (D(2026, 5, 15), 0, D(2026, 5, 15)),
    ],
)
def test_add_months(day: dt.date, months: int, end: dt.date) -> None:
    assert add_months(day, months) == end


def test_add_months_refuses_negative_and_past_9999() -> None:
    for day, months in ((D(2026, 1, 1), -1), (D(9999, 6, 1), 12)):
        with pytest.raises(ValidationError) as err:
            add_months(day, months)
        assert err.value.field == "months"


@pytest.mark.parametrize(
    ("rate", "text"),
    [("0.03", "3%"), ("0.0005", "0.5‰"), ("0.005", "5‰"), ("0.75", "75%"), ("0.2", "20%")],
)
def test_format_rate(rate: str, text: str) -> None:
    assert format_rate(M(rate)) == text


# -- payment milestones (002 §2.3) ---------------------------------------------------------------
def test_002_schedule_after_acceptance_and_go_live(cal: WorkCalendar) -> None:
    # acceptance Mon 2025-03-03; 30 working days: Mar 4–7 (4), 10–14 (9), 17–21 (14),
    # 24–28 (19), 31 (20), Apr 1–3 (23), [Apr 4–6 清明 off], 7–11 (28), 14 (29), 15 (30)
    # go-live 2025-03-04, 12 months → 2026-03-04 (Wed); 30 working days: Mar 5–6 (2),
    # 9–13 (7), 16–20 (12), 23–27 (17), 30–31 (19), Apr 1–3 (22), [Apr 4–6 清明 off],
    # 7–10 (26), 13–16 (30)
    first, second = payment_schedule(
        "1740000", PLATFORM_002, {"acceptance": D(2025, 3, 3), "go_live": D(2025, 3, 4)}, cal
    )
    assert (first.amount, first.due) == (M("1305000.00"), D(2025, 4, 15))
    assert (second.amount, second.due) == (M("435000.00"), D(2026, 4, 16))
    assert first.amount + second.amount == M("1740000")
    assert first.explanation.startswith("第一次付款：75% × ¥1,740,000.00 = ¥1,305,000.00")
    assert "满 12 个月为 2026-03-04" in second.explanation
    assert "2026-04-16" in second.explanation


def test_002_schedule_before_go_live(cal: WorkCalendar) -> None:
    # acceptance Mon 2026-03-02: Mar 3–6 (4), 9–13 (9), 16–20 (14), 23–27 (19), 30–31 (21),
    # Apr 1–3 (24), [Apr 4–6 清明 off], 7–10 (28), 13 (29), 14 (30)
    first, second = payment_schedule("1740000", PLATFORM_002, {"acceptance": D(2026, 3, 2)}, cal)
    assert first.due == D(2026, 4, 14)
    assert second.due is None and second.amount == M("435000.00")
    assert "到期日待定" in second.explanation


@pytest.mark.parametrize(
    ("accepted", "due"),
    [
        (D(2025, 5, 31), D(2026, 6, 1)),  # 2026-05-31 is a Sunday
        (D(2025, 10, 1), D(2026, 10, 8)),  # 2026-10-01 … 07 is National Day
        (D(2025, 6, 30), D(2026, 6, 30)),  # a Tuesday: stays
    ],
)
def test_a_period_in_months_ending_on_a_day_off_moves_to_the_next_workday(
    cal: WorkCalendar, accepted: dt.date, due: dt.date
) -> None:
    # "验收后满一年" with no working days after it: 民法典 第二百零三条 moves a last day off
    terms = (PaymentTerm("质保金", M("1"), "acceptance", months=12),)
    (m,) = payment_schedule("1000", terms, {"acceptance": accepted}, cal)
    assert m.due == due
    assert ("顺延至" in m.explanation) == (due.month != accepted.month or due.day != accepted.day)


def test_a_due_date_in_an_uncovered_year_is_refused(cal: WorkCalendar) -> None:
    # live since 2026-06-01: twelve months later is in 2027, whose schedule is not published
    with pytest.raises(CalendarMissing) as err:
        payment_schedule(
            "1740000", PLATFORM_002, {"acceptance": D(2026, 5, 6), "go_live": D(2026, 6, 1)}, cal
        )
    assert err.value.year == 2027


@pytest.mark.parametrize("total", ["0.01", "0.03", "1", "99.99", "1740000", "333333.33"])
def test_instalments_add_up(cal: WorkCalendar, total: str) -> None:
    thirds = (
        PaymentTerm("预付款", M("0.3"), "signing"),
        PaymentTerm("验收款", M("0.5"), "acceptance", workdays=10),
        PaymentTerm("尾款", M("0.2"), "acceptance", months=12),
    )
    parts = payment_schedule(total, thirds, {"signing": D(2026, 1, 5)}, cal)
    assert sum(p.amount for p in parts) == M(total)
    assert parts[0].due == D(2026, 1, 5) and parts[1].due is None


def test_bad_schedules_are_refused(cal: WorkCalendar) -> None:
    with pytest.raises(ValidationError) as err:
        payment_schedule("-1", PLATFORM_002, {}, cal)
    assert err.value.field == "total"
    with pytest.raises(ValidationError) as err:
        payment_schedule("100", [PaymentTerm("x", M("0.5"), "acceptance")], {}, cal)
    assert err.value.field == "shares"
    with pytest.raises(ValidationError) as err:
        payment_schedule("100", [PaymentTerm("x", M("1"), "moonrise")], {}, cal)
    assert err.value.field == "terms"
    with pytest.raises(ValidationError) as err:
        payment_schedule("100", PLATFORM_002, {"go_live": D(9999, 6, 1)}, cal)
    assert err.value.field == "go_live"


# -- deemed acceptance (002 §4.2) ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("requested", "reminded", "review_until", "reminder_until", "deemed_on"),
    [
        # Thu 2026-02-12: 13, 14 (make-up Sat), 24, 25, 26, 27, 28 (make-up Sat)
        (D(2026, 2, 12), None, D(2026, 2, 28), None, None),
        # reminded Thu 02-26: 27, 28 (Sat, worked), Mon 03-02 → deemed from 03-03
        (D(2026, 2, 12), D(2026, 2, 26), D(2026, 2, 28), D(2026, 3, 2), D(2026, 3, 3)),
        # reminded early (the same day): the 7-day window ends later and decides
        (D(2026, 2, 12), D(2026, 2, 12), D(2026, 2, 28), D(2026, 2, 24), D(2026, 3, 1)),
        # Wed 2026-09-30: Oct 8, 9, 10 (make-up Sat), 12, 13, 14, 15; reminder Fri 10-16:
        # 19, 20, 21
        (D(2026, 9, 30), D(2026, 10, 16), D(2026, 10, 15), D(2026, 10, 21), D(2026, 10, 22)),
    ],
)
def test_deemed_acceptance(
    cal: WorkCalendar,
    requested: dt.date,
    reminded: dt.date | None,
    review_until: dt.date,
    reminder_until: dt.date | None,
    deemed_on: dt.date | None,
) -> None:
    result = deemed_acceptance(requested, cal, reminded=reminded)
    assert result.review_until == review_until
    assert result.reminder_until == reminder_until
    assert result.deemed_on == deemed_on
    if deemed_on is None:
        assert not result.is_deemed(D(2026, 12, 31)) and "尚未催告" in result.explanation
    else:
        assert result.is_deemed(deemed_on) and not result.is_deemed(deemed_on - dt.timedelta(1))
        assert f"自 {deemed_on.isoformat()} 起视为验收通过" in result.explanation


def test_a_reminder_before_the_request_is_refused(cal: WorkCalendar) -> None:
    with pytest.raises(ValidationError) as err:
        deemed_acceptance(D(2026, 3, 2), cal, reminded=D(2026, 3, 1))
    assert err.value.field == "reminded"


# -- late penalties ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("amount", "due", "as_of", "rate", "days", "total", "line"),
    [
        # the example of the brief: 0.5‰ a day
        ("100000", D(2026, 3, 1), D(2026, 3, 6), "0.5‰", 5, "250.00",
         "逾期 5 日 × 0.5‰ × ¥100,000.00 = ¥250.00"),
        # 003 第十条: 千分之五 a day of the unpaid O&M fee (28000 × 0.005 × 10 = 1400)
        ("28000", D(2025, 12, 31), D(2026, 1, 10), "0.005", 10, "1400.00",
         "逾期 10 日 × 5‰ × ¥28,000.00 = ¥1,400.00"),
        # 002 §8.1: 3 % a day of the unpaid 435000, one day
        ("435000", D(2026, 4, 16), D(2026, 4, 17), "3%", 1, "13050.00",
         "逾期 1 日 × 3% × ¥435,000.00 = ¥13,050.00"),
        # across a month end and a leap day: 2024-02-27 → 2024-03-02 is 4 days
        ("1000", D(2024, 2, 27), D(2024, 3, 2), "0.5‰", 4, "2.00",
         "逾期 4 日 × 0.5‰ × ¥1,000.00 = ¥2.00"),
        # rounding half up to the 分: 333.33 × 0.0005 × 3 = 0.499995 → 0.50
        ("333.33", D(2026, 3, 1), D(2026, 3, 4), "0.5‰", 3, "0.50",
         "逾期 3 日 × 0.5‰ × ¥333.33 = ¥0.50"),
        # paid on the due day itself: not late
        ("1000", D(2026, 3, 1), D(2026, 3, 1), "3%", 0, "0.00", None),
    ],
)  # fmt: skip
def test_late_penalty_table(amount, due, as_of, rate, days, total, line) -> None:
    result = late_penalty(amount, due, as_of, rate)
    assert result.days_late == days
    assert result.total == M(total)
    if line:
        assert result.explanation == line
    else:
        assert result.explanation.startswith("未逾期") and not result.lines


def test_002_penalty_capped_at_20_percent_of_the_contract() -> None:
    # 435000 × 3 % = 13050 a day; the cap 20 % × 1740000 = 348000 is passed on day 27
    # (26 days = 339300, 27 days = 352350)
    clause = CLAUSES["002-8.1"]
    kwargs = {"cap_rate": clause["cap_rate"], "cap_base": "1740000"}
    day26 = late_penalty("435000", D(2026, 4, 16), D(2026, 5, 12), clause["rate"], **kwargs)
    day27 = late_penalty("435000", D(2026, 4, 16), D(2026, 5, 13), clause["rate"], **kwargs)
    assert (day26.days_late, day26.total, day26.capped) == (26, M("339300.00"), False)
    assert (day27.days_late, day27.uncapped, day27.capped) == (27, M("352350.00"), True)
    assert day27.total == day27.cap == M("348000.00")
    assert "超过上限 20% × ¥1,740,000.00 = ¥348,000.00，按上限计 ¥348,000.00" in (day27.explanation)


def test_a_penalty_that_reaches_the_cap_exactly_is_capped() -> None:
    # 580000 × 3 % = 17400 a day; 20 days = 348000 = 20 % × 1740000 exactly: the total can
    # grow no more, so it is capped and nothing says it keeps running
    clause = CLAUSES["002-8.1"]
    kwargs = {"cap_rate": clause["cap_rate"], "cap_base": "1740000"}
    day20 = late_penalty("580000", D(2026, 4, 16), D(2026, 5, 6), clause["rate"], **kwargs)
    assert (day20.days_late, day20.uncapped, day20.total) == (20, M("348000.00"), M("348000.00"))
    assert day20.capped
    assert day20.explanation == (
        "逾期 20 日 × 3% × ¥580,000.00 = ¥348,000.00，达到上限 20% × ¥1,740,000.00 = ¥348,000.00"
    )
    assert day20.notes == ("违约金已达上限 ¥348,000.00，不再增加",)
    day19 = late_penalty("580000", D(2026, 4, 16), D(2026, 5, 5), clause["rate"], **kwargs)
    assert not day19.capped and day19.total == M("330600.00")
    assert day19.notes == ("截至 2026-05-05 仍欠 ¥580,000.00，违约金继续计算",)


def test_partial_payments_lower_the_base_from_the_next_day() -> None:
    # due 2025-12-31; 10000 paid 2026-01-10 (10 days late on 28000), the rest 2026-01-20
    # (10 more days on 18000): 28000 × 5‰ × 10 = 1400, 18000 × 5‰ × 10 = 900
    result = late_penalty(
        "28000",
        D(2025, 12, 31),
        D(2026, 1, 31),
        "0.005",
        payments=[(D(2026, 1, 20), "18000"), (D(2026, 1, 10), "10000")],  # any order
    )
    assert [(line.start, line.end, line.days) for line in result.lines] == [
        (D(2026, 1, 1), D(2026, 1, 10), 10),
        (D(2026, 1, 11), D(2026, 1, 20), 10),
    ]
    assert result.total == M("2300.00") and result.days_late == 20
    assert result.explanation.endswith("合计 ¥2,300.00")
    assert not result.notes  # all paid


def test_a_payment_in_time_is_not_charged_and_the_rest_runs_on() -> None:
    result = late_penalty(
        "1000", D(2026, 3, 1), D(2026, 3, 11), "0.5‰", payments=[(D(2026, 2, 20), "600")]
    )
    assert result.total == M("2.00")  # 400 × 0.0005 × 10
    assert result.notes == ("截至 2026-03-11 仍欠 ¥400.00，违约金继续计算",)


def test_a_payment_after_as_of_is_not_yet_counted() -> None:
    result = late_penalty(
        "1000", D(2026, 3, 1), D(2026, 3, 5), "3%", payments=[(D(2026, 3, 9), "1000")]
    )
    assert result.days_late == 4 and result.total == M("120.00")


def test_bad_penalty_input_is_refused() -> None:
    cases = [
        ({"amount": "-1"}, "amount"),
        ({"rate": "-3%"}, "rate"),
        ({"rate": 0.03}, "rate"),
        ({"cap_rate": "abc"}, "cap_rate"),
        ({"cap_base": "100"}, "cap_rate"),
        ({"payments": [(D(2026, 3, 2), "2000")]}, "payments"),
        ({"payments": [(D(2026, 3, 2), "1.001")]}, "payments[0].amount"),
        ({"due": dt.datetime(2026, 3, 1, 8)}, "due"),
    ]
    for change, field in cases:
        args = {"amount": "1000", "due": D(2026, 3, 1), "as_of": D(2026, 3, 5), "rate": "3%"}
        args |= change
        with pytest.raises(ValidationError) as err:
            late_penalty(**args)
        assert err.value.field == field, change


# -- notices: 002 第十条 (送达) ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "served"),
    [
        # 10.3.1: the day the recipient signs for it
        ({"method": "in_person", "signed_on": D(2026, 10, 8)}, D(2026, 10, 8)),
        # 10.3.2: posted 09-30 (postmark), the 3rd day within the city: 10-01, 10-02, 10-03 —
        # National Day: a notice counts as received then; it is no deadline to move
        ({"method": "express", "posted_on": D(2026, 9, 30), "local": True}, D(2026, 10, 3)),
        ({"method": "express", "posted_on": D(2026, 9, 30), "local": False}, D(2026, 10, 5)),
        ({"method": "express", "posted_on": D(2026, 12, 29), "local": False}, D(2027, 1, 3)),
        # the template's blanks: 【3】 and 【5】 may be filled otherwise
        (
            {"method": "express", "posted_on": D(2026, 3, 2), "local": True, "local_days": 2},
            D(2026, 3, 4),
        ),
        # 10.3.3: express mail to an address the contract does not give is no service
        (
            {
                "method": "express",
                "posted_on": D(2026, 3, 2),
                "local": True,
                "agreed_address": False,
            },
            None,
        ),
        # 10.3.4: e-mail when it reached the mail system — 16:30 UTC is the next day in Beijing
        (
            {
                "method": "email",
                "arrived_at": dt.datetime(2026, 10, 8, 16, 30, tzinfo=dt.UTC),
            },
            D(2026, 10, 9),
        ),
        # 10.1: a notice bearing on validity or a dispute goes by hand or express mail only
        (
            {
                "method": "email",
                "arrived_at": dt.datetime(2026, 10, 8, 9, 0, tzinfo=dt.UTC),
                "formal": True,
            },
            None,
        ),
        (
            {"method": "express", "posted_on": D(2026, 3, 2), "local": True, "formal": True},
            D(2026, 3, 5),
        ),
    ],
)
def test_when_a_notice_is_served(kwargs, served) -> None:
    result = notice_served(**kwargs)
    assert result.served_on == served
    if served is None:
        assert "未履行通知送达义务" in result.explanation or "不视为送达" in result.explanation
    else:
        assert served.isoformat() in result.explanation or kwargs["method"] == "email"
        assert "视为送达" in result.explanation and "不视为送达" not in result.explanation
    if kwargs["method"] == "email" and served:
        assert result.served_at is not None and result.served_at.date() == served
        assert "2026-10-09 00:30（北京时间）" in result.explanation


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"method": "fax"}, "method"),
        ({"method": "express", "local": True}, "posted_on"),
        ({"method": "express", "posted_on": D(2026, 3, 2)}, "local"),
        ({"method": "in_person"}, "signed_on"),
        ({"method": "email"}, "arrived_at"),
        ({"method": "email", "arrived_at": dt.datetime(2026, 10, 8, 9, 0)}, "arrived_at"),
        ({"method": "email", "signed_on": D(2026, 10, 8)}, "signed_on"),
        (
            {"method": "in_person", "signed_on": D(2026, 10, 8), "agreed_address": False},
            "agreed_address",
        ),
        ({"method": "in_person", "signed_on": dt.datetime(2026, 10, 8, 9, 0)}, "signed_on"),
        (
            {"method": "express", "posted_on": D(2026, 3, 2), "local": True, "local_days": -1},
            "local_days",
        ),
        # the day served would be past 9999-12-31: was OverflowError (a 500, a CLI traceback)
        ({"method": "express", "posted_on": D(9999, 12, 30), "local": False}, "posted_on"),
    ],
)
def test_a_notice_with_the_wrong_facts_is_refused_by_name(kwargs, field) -> None:
    with pytest.raises(ValidationError) as e:
        notice_served(**kwargs)
    assert e.value.field == field
