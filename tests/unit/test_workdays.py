"""Chinese working days: the 2026 notice day by day, make-up weekends, leap years, year ends.

The 2026 schedule is written out below from the State Council notice itself (国务院办公厅关于
2026年部分节假日安排的通知, 2025-11-04) and compared with what the calendar holds, so a wrong
package release would fail here. 2027 has no published notice the platform could check: a
2027 date must be refused with ``calendar_missing`` — until someone adds the year file.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from yinxin.contracts.workdays import (
    CalendarMissing,
    WorkCalendar,
    YearSchedule,
    load_year_file,
    official_calendar,
    package_schedules,
    parse_date,
)
from yinxin.errors import ValidationError

D = dt.date


def days(first: dt.date, last: dt.date) -> set[dt.date]:
    return {first + dt.timedelta(n) for n in range((last - first).days + 1)}


# 国务院办公厅关于2026年部分节假日安排的通知, as published: days off and days worked
NOTICE_2026_OFF = (
    days(D(2026, 1, 1), D(2026, 1, 3))  # 元旦 1月1日（周四）至3日（周六）
    | days(D(2026, 2, 15), D(2026, 2, 23))  # 春节 2月15日（周日）至23日（周一）
    | days(D(2026, 4, 4), D(2026, 4, 6))  # 清明节
    | days(D(2026, 5, 1), D(2026, 5, 5))  # 劳动节
    | days(D(2026, 6, 19), D(2026, 6, 21))  # 端午节
    | days(D(2026, 9, 25), D(2026, 9, 27))  # 中秋节
    | days(D(2026, 10, 1), D(2026, 10, 7))  # 国庆节
)
NOTICE_2026_WORKED = {
    D(2026, 1, 4),  # 周日
    D(2026, 2, 14),  # 周六
    D(2026, 2, 28),  # 周六
    D(2026, 5, 9),  # 周六
    D(2026, 9, 20),  # 周日
    D(2026, 10, 10),  # 周六
}


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return official_calendar()


def test_the_2026_calendar_is_the_notice(cal: WorkCalendar) -> None:
    schedule = cal.schedule(2026)
    assert set(schedule.holidays) == NOTICE_2026_OFF
    assert set(schedule.workdays) == NOTICE_2026_WORKED
    for day in days(D(2026, 1, 1), D(2026, 12, 31)):
        expected = day in NOTICE_2026_WORKED or (day.weekday() < 5 and day not in NOTICE_2026_OFF)
        assert cal.is_workday(day) is expected, day


def test_2026_has_248_working_days(cal: WorkCalendar) -> None:
    # 365 days from a Thursday: 104 weekend days → 261 weekdays; 19 of them are holidays
    # (元旦 2, 春节 6, 清明 1, 劳动 3, 端午 1, 中秋 1, 国庆 5) and 6 weekend days are worked
    weekday_holidays = [d for d in NOTICE_2026_OFF if d.weekday() < 5]
    assert len(weekday_holidays) == 19
    assert cal.workdays_between(D(2025, 12, 31), D(2026, 12, 31)) == 261 - 19 + 6 == 248


@pytest.mark.parametrize(
    ("day", "kind", "name"),
    [
        (D(2026, 1, 1), "holiday", "元旦"),
        (D(2026, 1, 3), "holiday", "元旦"),  # a Saturday off as part of the holiday
        (D(2026, 1, 4), "makeup_workday", "元旦"),  # a Sunday worked
        (D(2026, 1, 5), "workday", None),
        (D(2026, 1, 10), "weekend", None),
        (D(2026, 2, 14), "makeup_workday", "春节"),
        (D(2026, 2, 15), "holiday", "春节"),
        (D(2026, 2, 23), "holiday", "春节"),  # a Monday off
        (D(2026, 2, 24), "workday", None),
        (D(2026, 2, 28), "makeup_workday", "春节"),
        (D(2026, 5, 9), "makeup_workday", "劳动节"),
        (D(2026, 9, 20), "makeup_workday", "国庆节"),
        (D(2026, 10, 8), "workday", None),
        (D(2026, 10, 10), "makeup_workday", "国庆节"),
        (D(2026, 10, 11), "weekend", None),
        (D(2024, 2, 29), "workday", None),  # leap day, a Thursday
        (D(2024, 2, 10), "holiday", "春节"),
        (D(2024, 2, 18), "makeup_workday", "春节"),  # the 2024 notice's Sunday worked
        (D(2025, 1, 26), "makeup_workday", "春节"),
    ],
)
def test_days(cal: WorkCalendar, day: dt.date, kind: str, name: str | None) -> None:
    info = cal.day(day)
    assert (info.kind, info.name) == (kind, name)
    assert cal.is_workday(day) is (kind in ("workday", "makeup_workday"))


def test_describe(cal: WorkCalendar) -> None:
    assert cal.day(D(2026, 2, 14)).describe() == "2026-02-14 周六 调休上班（春节）"
    assert cal.day(D(2026, 2, 16)).describe() == "2026-02-16 周一 法定节假日（春节）"


@pytest.mark.parametrize(
    ("start", "n", "end"),
    [
        (D(2026, 3, 2), 0, D(2026, 3, 2)),  # n = 0: the day itself
        (D(2026, 3, 7), 0, D(2026, 3, 7)),  # even on a Saturday
        (D(2026, 3, 2), 1, D(2026, 3, 3)),
        (D(2026, 3, 6), 1, D(2026, 3, 9)),  # Friday + 1 → Monday
        (D(2026, 3, 6), 5, D(2026, 3, 13)),
        (D(2026, 2, 13), 1, D(2026, 2, 14)),  # Friday + 1 → the make-up Saturday
        (D(2026, 2, 13), 2, D(2026, 2, 24)),  # then nine days of Spring Festival
        (D(2026, 2, 12), 7, D(2026, 2, 28)),  # 13, 14(Sat), 24, 25, 26, 27, 28(Sat)
        (D(2026, 9, 30), 1, D(2026, 10, 8)),  # National Day
        (D(2026, 9, 30), 3, D(2026, 10, 10)),  # 8, 9, and the Saturday 10th
        (D(2026, 12, 30), 1, D(2026, 12, 31)),
        (D(2025, 12, 31), 1, D(2026, 1, 4)),  # across the year end, onto the make-up Sunday
        (D(2024, 2, 28), 1, D(2024, 2, 29)),  # leap day
        (D(2023, 2, 28), 1, D(2023, 3, 1)),
        # across the year end and Spring Festival 2025 (1-28..2-4 off; 1-26 Sun, 2-8 Sat worked):
        # Jan 2–3, 6–10, 13–17, 20–24, 26, 27 = 19; Feb 5–7, 8, 10–14 = 28; Feb 17, 18 = 30
        (D(2024, 12, 31), 30, D(2025, 2, 18)),
    ],
)
def test_add_workdays(cal: WorkCalendar, start: dt.date, n: int, end: dt.date) -> None:
    assert cal.add_workdays(start, n) == end
    assert cal.workdays_between(start, end) == n


def test_february_2026_day_by_day(cal: WorkCalendar) -> None:
    # the working days after 2026-02-12: 13 (Fri), 14 (make-up Sat), 24–27 (Tue–Fri), 28
    worked = [d for d in sorted(days(D(2026, 2, 13), D(2026, 3, 2))) if cal.is_workday(d)]
    assert worked[:7] == [
        D(2026, 2, 13),
        D(2026, 2, 14),
        D(2026, 2, 24),
        D(2026, 2, 25),
        D(2026, 2, 26),
        D(2026, 2, 27),
        D(2026, 2, 28),
    ]


def test_next_workday(cal: WorkCalendar) -> None:
    assert cal.next_workday(D(2026, 3, 2)) == D(2026, 3, 2)  # a working day stays
    assert cal.next_workday(D(2026, 3, 7)) == D(2026, 3, 9)
    assert cal.next_workday(D(2026, 2, 15)) == D(2026, 2, 24)
    assert cal.next_workday(D(2026, 1, 1)) == D(2026, 1, 4)  # onto the make-up Sunday
    assert cal.next_workday(D(2026, 10, 1)) == D(2026, 10, 8)


def test_workdays_between(cal: WorkCalendar) -> None:
    assert cal.workdays_between(D(2026, 3, 2), D(2026, 3, 2)) == 0
    assert cal.workdays_between(D(2026, 2, 14), D(2026, 2, 24)) == 1
    # February 2026 from Sunday the 1st: weekdays 2–6, 9–13, 24–27 (16–20 and 23 are off)
    # = 14, and the make-up Saturdays 14 and 28
    assert cal.workdays_between(D(2026, 2, 1), D(2026, 2, 28)) == 16
    with pytest.raises(ValidationError) as err:
        cal.workdays_between(D(2026, 3, 2), D(2026, 3, 1))
    assert err.value.field == "end"


def test_negative_and_odd_counts_are_refused(cal: WorkCalendar) -> None:
    for bad in (-1, 1.5, "3", True, 10_001):
        with pytest.raises(ValidationError) as err:
            cal.add_workdays(D(2026, 3, 2), bad)
        assert err.value.field == "days"
    with pytest.raises(ValidationError) as err:
        cal.is_workday(dt.datetime(2026, 3, 2, 12, 0))
    assert err.value.field == "date"


def test_a_year_without_a_schedule_is_refused(cal: WorkCalendar) -> None:
    assert cal.covers(2026) and not cal.covers(2027) and not cal.covers(2003)
    with pytest.raises(CalendarMissing) as err:
        cal.is_workday(D(2027, 1, 4))
    assert err.value.code == "calendar_missing" and err.value.year == 2027
    assert "2027" in err.value.message and err.value.field == "date"
    # counting that runs into 2027 stops there, rather than guessing
    with pytest.raises(CalendarMissing) as err:
        cal.add_workdays(D(2026, 12, 28), 10)
    assert err.value.year == 2027
    with pytest.raises(CalendarMissing):
        cal.workdays_between(D(2026, 12, 1), D(2027, 1, 15))
    with pytest.raises(CalendarMissing) as err:
        cal.next_workday(D(2003, 6, 2))
    assert err.value.year == 2003


def test_the_package_years_are_whole() -> None:
    years = [s.year for s in package_schedules()]
    assert years == list(range(years[0], years[-1] + 1)) and years[-1] >= 2026
    assert all(s.holidays for s in package_schedules())


# -- year files ---------------------------------------------------------------------------------
# SYNTHETIC test data for the year 2099, which no notice covers: it only exercises the format


def synthetic_2099() -> dict:
    return {
        "year": 2099,
        "source": "synthetic test data (not an official schedule)",
        "holidays": [
            {"name": "元旦", "date": "2099-01-01"},
            {"name": "春节", "from": "2099-01-21", "to": "2099-01-27"},
        ],
        "workdays": [
            {"name": "元旦", "date": "2098-12-27"},  # a Saturday of the December before
            {"name": "春节", "date": "2099-01-31"},  # a Saturday
        ],
    }


def test_an_operator_year_file_extends_the_calendar(tmp_path: Path) -> None:
    folder = tmp_path / "calendars"
    folder.mkdir()
    (folder / "2099.json").write_text(json.dumps(synthetic_2099()), encoding="utf-8")
    cal = official_calendar(tmp_path)
    assert cal.covers(2099) and cal.covers(2026) and not cal.covers(2098)
    assert cal.source(2099).startswith("synthetic")
    assert cal.day(D(2099, 1, 1)).kind == "holiday"  # a Thursday
    assert cal.day(D(2099, 1, 31)).kind == "makeup_workday"
    assert cal.add_workdays(D(2099, 1, 20), 1) == D(2099, 1, 28)
    with pytest.raises(CalendarMissing):
        cal.is_workday(D(2098, 12, 27))  # the spill-over does not make 2098 known


def test_a_year_file_replaces_the_package_year() -> None:
    base = package_schedules()
    moved = YearSchedule(
        2026, "correction (synthetic)", holidays={D(2026, 3, 2): "测试"}, workdays={}
    )
    cal = WorkCalendar([*base, moved])
    assert not cal.is_workday(D(2026, 3, 2))
    assert cal.is_workday(D(2026, 2, 16))  # the package's 2026 no longer applies
    assert cal.source(2026) == "correction (synthetic)"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"year": "2099"}, "year"),
        ({"source": ""}, "source"),
        ({"holidays": []}, "holidays"),
        ({"holidays": [{"name": "x", "date": "2100-01-01"}]}, "outside"),
        ({"holidays": [{"name": "x", "from": "2099-02-01", "to": "2099-01-01"}]}, "range"),
        ({"holidays": [{"name": "x", "date": "2099-13-01"}]}, "not a date"),
        ({"workdays": [{"name": "x", "date": "2099-01-05"}]}, "weekday"),
        ({"workdays": [{"name": "x", "date": "2099-01-24"}]}, "also listed"),
        ({"year": 2098}, "named for 2099"),
    ],
)
def test_bad_year_files_are_refused(tmp_path: Path, change: dict, message: str) -> None:
    data = synthetic_2099() | change
    path = tmp_path / "2099.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValidationError, match=message) as err:
        load_year_file(path)
    assert err.value.field == "calendar" and "2099.json" in err.value.message


def test_parse_date() -> None:
    assert parse_date("2026-02-14") == D(2026, 2, 14)
    for bad in ("2026-2-14", "2026-02-30", "20260214", "2026-W07-6", "tomorrow", "", None):
        with pytest.raises(ValidationError) as err:
            parse_date(bad, field="from")
        assert err.value.field == "from"


def test_a_year_without_a_schedule_presumes_weekdays_but_the_fixed_holidays() -> None:
    """Until the year's schedule is loaded a notice is judged by the weekday rule, marked
    presumed; 元旦, 劳动节 and 国庆节 fall on fixed days every year (放假办法, from 2025), so
    Friday 2027-01-01 is presumed off (it was presumed a working day, 2 h instead of 4 h)."""
    from yinxin.contracts.workdays import FIXED_HOLIDAYS, presumed_workday

    cal = official_calendar()
    assert presumed_workday(cal, D(2027, 1, 1)) == (False, True)  # 元旦, a Friday
    assert presumed_workday(cal, D(2027, 10, 1)) == (False, True)  # 国庆节, a Friday
    assert presumed_workday(cal, D(2027, 1, 4)) == (True, True)  # a Monday
    assert presumed_workday(cal, D(2027, 1, 2)) == (False, True)  # a Saturday
    assert presumed_workday(cal, D(2026, 10, 10)) == (True, False)  # 调休上班, from the schedule
    # the fixed days are off in every year the rule has held and the calendar covers
    years = [y for y in range(2025, 2100) if cal.covers(y)]
    assert years, "no year from 2025 on in the calendar"
    for year in years:
        for month, day in FIXED_HOLIDAYS:
            assert not cal.is_workday(D(year, month, day)), (year, month, day)
