"""The response clocks of contract 003 as a table of cases (``yinxin.contracts.desk``).

2 h after a notice on a Chinese working day, 4 h after one on any other day, on site 24 h after
the notice; the clocks run in calendar hours (003 promises 365×24 support) and stand still
while the desk waits on 甲方. The working day is decided by the notice's date in Beijing time.

The calendar here is the State Council's 2026 arrangement for the autumn written out
(Friday 09-25 中秋 off, 10-01…10-07 国庆 off, Sunday 09-20 and Saturday 10-10 worked), so
these cases test the desk's rule and not a calendar library (the last test checks it against
the platform's calendar day by day); ``tests/integration/test_desk.py`` runs the desk on the
platform's own calendar.
"""

from __future__ import annotations

import datetime as dt

import pytest

from yinxin.contracts.desk import (
    BEIJING,
    Pause,
    due_at,
    lateness,
    notice_day,
    response_budget,
    running_time,
)

HOLIDAYS = {dt.date(2026, 9, 25)} | {dt.date(2026, 10, d) for d in range(1, 8)}
MAKE_UP = {dt.date(2026, 9, 20), dt.date(2026, 10, 10)}


class Calendar2026:
    def is_workday(self, d: dt.date) -> bool:
        if d in MAKE_UP:
            return True
        return d.weekday() < 5 and d not in HOLIDAYS


CAL = Calendar2026()
H = dt.timedelta(hours=1)


def bj(*a: int) -> dt.datetime:
    return dt.datetime(*a, tzinfo=BEIJING)


@pytest.mark.parametrize(
    ("notice", "workday", "due"),
    [
        # Friday evening: still a working day by its date — 2 h, into the night
        (bj(2026, 10, 16, 20, 0), True, bj(2026, 10, 16, 22, 0)),
        # Friday 23:30: the 2 h run over midnight into Saturday (365×24: no overnight stop)
        (bj(2026, 10, 16, 23, 30), True, bj(2026, 10, 17, 1, 30)),
        # Saturday: not a working day — 4 h
        (bj(2026, 10, 17, 9, 0), False, bj(2026, 10, 17, 13, 0)),
        # National Day, a Thursday: a holiday — 4 h
        (bj(2026, 10, 1, 10, 0), False, bj(2026, 10, 1, 14, 0)),
        # Mid-Autumn Festival, a Friday: 4 h
        (bj(2026, 9, 25, 9, 0), False, bj(2026, 9, 25, 13, 0)),
        # a weekday inside the holiday week
        (bj(2026, 10, 5, 8, 0), False, bj(2026, 10, 5, 12, 0)),
        # Saturday 10-10, a make-up working day (调休上班) — 2 h
        (bj(2026, 10, 10, 9, 0), True, bj(2026, 10, 10, 11, 0)),
        # Sunday 09-20, the other make-up day
        (bj(2026, 9, 20, 15, 0), True, bj(2026, 9, 20, 17, 0)),
        # the last holiday evening: still 4 h, even though the deadline is on a working day
        (bj(2026, 10, 7, 22, 0), False, bj(2026, 10, 8, 2, 0)),
        # a notice given in UTC: 17:00 UTC Friday is 01:00 Saturday in Beijing — 4 h
        (dt.datetime(2026, 10, 16, 17, 0, tzinfo=dt.UTC), False, bj(2026, 10, 17, 5, 0)),
        # 15:59 UTC Friday is 23:59 Friday in Beijing — 2 h
        (dt.datetime(2026, 10, 16, 15, 59, tzinfo=dt.UTC), True, bj(2026, 10, 17, 1, 59)),
    ],
)
def test_response_deadline_table(notice: dt.datetime, workday: bool, due: dt.datetime) -> None:
    got_workday, provisional, budget = response_budget(notice, CAL)
    assert got_workday is workday and not provisional
    assert due_at(notice, budget, []) == due
    # the on-site deadline is 24 calendar hours whatever the day
    assert due_at(notice, 24 * H, []) == notice + 24 * H


def test_notice_day_is_beijing_date() -> None:
    assert notice_day(dt.datetime(2026, 9, 30, 16, 0, tzinfo=dt.UTC)) == dt.date(2026, 10, 1)
    assert notice_day(dt.datetime(2026, 9, 30, 15, 59, tzinfo=dt.UTC)) == dt.date(2026, 9, 30)


def test_a_pause_moves_the_deadline_by_its_length() -> None:
    notice = bj(2026, 10, 16, 20, 0)  # Friday evening, 2 h, due 22:00
    pause = Pause(bj(2026, 10, 16, 21, 0), bj(2026, 10, 17, 9, 30))  # waited on 甲方 overnight
    assert due_at(notice, 2 * H, [pause]) == bj(2026, 10, 17, 10, 30)
    # while the pause lasts the deadline is not known
    assert due_at(notice, 2 * H, [Pause(pause.start)]) is None
    # responded at 10:00 Saturday: 1 h before the pause + 30 min after it
    assert running_time(notice, bj(2026, 10, 17, 10, 0), [pause]) == dt.timedelta(minutes=90)
    assert lateness(notice, 2 * H, bj(2026, 10, 17, 10, 0), [pause]) == dt.timedelta(0)
    # responded at 11:00 Saturday: 2 h 30 of running time — 30 min late
    assert lateness(notice, 2 * H, bj(2026, 10, 17, 11, 0), [pause]) == dt.timedelta(minutes=30)


def test_two_pauses_and_one_after_the_deadline() -> None:
    notice = bj(2026, 10, 17, 9, 0)  # Saturday: 4 h, due 13:00
    p1 = Pause(bj(2026, 10, 17, 10, 0), bj(2026, 10, 17, 11, 0))  # +1 h → 14:00
    p2 = Pause(bj(2026, 10, 17, 13, 30), bj(2026, 10, 17, 15, 0))  # before 14:00 → +1.5 h
    p3 = Pause(bj(2026, 10, 17, 16, 0), bj(2026, 10, 17, 17, 0))  # after the deadline: ignored
    assert due_at(notice, 4 * H, [p1]) == bj(2026, 10, 17, 14, 0)
    assert due_at(notice, 4 * H, [p2, p1]) == bj(2026, 10, 17, 15, 30)
    assert due_at(notice, 4 * H, [p1, p2, p3]) == bj(2026, 10, 17, 15, 30)
    # lateness counts running time only: answered 18:00 → 9 h wall − 3.5 h paused − 4 h = 1.5 h
    late = lateness(notice, 4 * H, bj(2026, 10, 17, 18, 0), [p1, p2, p3])
    assert late == dt.timedelta(minutes=90)


def test_a_pause_over_a_holiday_night_and_the_on_site_clock() -> None:
    notice = bj(2026, 9, 30, 18, 0)  # Wednesday, last working day before the holiday: 2 h
    workday, _, budget = response_budget(notice, CAL)
    assert workday and budget == 2 * H
    pause = Pause(bj(2026, 9, 30, 19, 0), bj(2026, 10, 1, 9, 0))  # 甲方's site closed overnight
    assert due_at(notice, budget, [pause]) == bj(2026, 10, 1, 10, 0)
    # the on-site clock: 24 h + the 14 h paused
    assert due_at(notice, 24 * H, [pause]) == bj(2026, 10, 2, 8, 0)
    # nobody came: at 09:00 on 10-02 the on-site commitment is 1 h late
    assert lateness(notice, 24 * H, bj(2026, 10, 2, 9, 0), [pause]) == H


def test_not_late_exactly_at_the_deadline() -> None:
    notice = bj(2026, 10, 12, 9, 0)
    assert lateness(notice, 2 * H, bj(2026, 10, 12, 11, 0), []) == dt.timedelta(0)
    assert lateness(notice, 2 * H, bj(2026, 10, 12, 11, 0, 1), []) == dt.timedelta(seconds=1)


def test_the_table_calendar_is_the_official_one() -> None:
    """The stub above says what the platform's own calendar says, day by day, from mid-
    September to the end of October 2026 (so the table tests the official arrangement)."""
    from yinxin.contracts.workdays import official_calendar

    official = official_calendar()
    day = dt.date(2026, 9, 14)
    while day <= dt.date(2026, 10, 31):
        assert CAL.is_workday(day) == official.is_workday(day), day
        day += dt.timedelta(days=1)
