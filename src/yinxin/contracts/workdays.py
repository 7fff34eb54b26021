"""Chinese working days: the official holiday and make-up-workday (调休) calendar.

Contract deadlines are counted in 工作日 — "30 个工作日内", "7 个工作日内未组织验收" — and
a working day in China is not simply Monday to Friday: each year the General Office of the
State Council (国务院办公厅关于 YYYY 年部分节假日安排的通知) moves holidays next to weekends and
makes some Saturdays and Sundays working days (调休上班). Nobody can compute a year before the
notice is published, so this module never guesses: a date in a year without a schedule
refuses with ``code="calendar_missing"`` naming the year.

Sources, later ones winning for the years they state:

1. the ``chinese-calendar`` PyPI package (1.11.0 carries 2004–2026);
2. year files shipped in ``src/yinxin/contracts/calendars/`` (none yet: no 2027 notice was
   found in a form that could be checked — see ``docs/contract-terms.md``);
3. year files the operator puts in ``<YINXIN_HOME>/calendars/``, e.g. copied from the State
   Council notice as soon as it is published.

A year file (``2027.json``) is small JSON::

    {
      "year": 2027,
      "source": "国务院办公厅关于2027年部分节假日安排的通知 …, https://www.gov.cn/…",
      "holidays": [{"name": "元旦", "from": "2027-01-01", "to": "2027-01-03"}, …],
      "workdays": [{"name": "春节", "date": "2027-02-…"}, …]
    }

``holidays`` are the days off (ranges ``from``/``to`` or single ``date``), ``workdays`` the
make-up working days (weekend days only). Dates lie in that year or, for a notice that moves a
day across New Year, in the December before.

Counting follows the Civil Code: the starting day is not counted (民法典 第二百零一条), and a
deadline that ends on a day off moves to the next working day (第二百零三条) — which is what
"N working days after" does by construction.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from yinxin.errors import ValidationError

#: Where the platform's own year files live; the operator's go to ``<home>/calendars``.
SHIPPED = Path(__file__).resolve().parent / "calendars"
WEEKDAYS_ZH = "一二三四五六日"
#: A deadline more than this many working days away is a typing mistake, not a contract term.
MAX_DAYS = 10_000


class CalendarMissing(ValidationError, code="calendar_missing"):
    """A date falls in a year whose official holiday schedule the platform does not have."""

    def __init__(self, year: int, *, field: str | None = None):
        super().__init__(
            f"no official holiday calendar for {year} (国务院办公厅关于{year}年部分节假日安排的"
            f"通知): working days in {year} cannot be counted; add calendars/{year}.json",
            field=field,
        )
        self.year = year


@dataclass(frozen=True)
class YearSchedule:
    """One year's days off and make-up working days, and where they come from."""

    year: int
    source: str
    holidays: dict[dt.date, str] = field(default_factory=dict)
    workdays: dict[dt.date, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DayInfo:
    """What kind of day a date is, for output: ``workday``, ``weekend``, ``holiday``,
    ``makeup_workday`` (调休上班)."""

    date: dt.date
    kind: str
    name: str | None = None

    @property
    def is_workday(self) -> bool:
        return self.kind in ("workday", "makeup_workday")

    def describe(self) -> str:
        """``2026-02-14 周六 调休上班（春节）`` — one line for an explanation."""
        label = {
            "workday": "工作日",
            "weekend": "休息日",
            "holiday": "法定节假日",
            "makeup_workday": "调休上班",
        }[self.kind]
        extra = f"（{self.name}）" if self.name else ""
        return f"{self.date.isoformat()} 周{WEEKDAYS_ZH[self.date.weekday()]} {label}{extra}"

    def as_dict(self) -> dict:
        return {
            "date": self.date.isoformat(),
            "kind": self.kind,
            "name": self.name,
            "workday": self.is_workday,
        }


@dataclass(frozen=True)
class Span:
    """A count of working days from a start, explained: where it ends, which days were off."""

    start: dt.date
    end: dt.date
    workdays: int
    days_off: tuple[DayInfo, ...]
    explanation: str

    def as_dict(self) -> dict:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "workdays": self.workdays,
            "days_off": [d.as_dict() for d in self.days_off],
            "explanation": self.explanation,
        }


def parse_date(text: str | dt.date, *, field: str = "date") -> dt.date:
    """An ISO date (``2026-02-14``) from a person or a request; refuses anything else."""
    if isinstance(text, dt.datetime):
        raise ValidationError("give a calendar date, not a moment", field=field)
    if isinstance(text, dt.date):
        return text
    if not isinstance(text, str):
        raise ValidationError("not a date", field=field)
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
            raise ValueError  # fromisoformat would also take 2026-W07-6 and 20260214
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(f"{text!r} is not a date like 2026-02-14", field=field) from None


def parse_days(text: str, *, field: str = "days") -> int:
    """A number of working days from a person or a request: its decimal digits (a ``-`` is
    let through to be refused as negative). ``int()`` also took ``+7``, `` 7``, ``0_7`` and
    full-width ``７``, none of which a person or a client writes for 7 but by mistake."""
    if not re.fullmatch(r"-?[0-9]+", text):
        raise ValidationError(
            f"{text[:20]!r} is not a whole number written in decimal digits", field=field
        )
    if len(text) > 12:
        raise ValidationError(f"at most {MAX_DAYS} working days", field=field)
    return _check_days(int(text), field)


def _check_date(day: dt.date, field: str) -> dt.date:
    if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
        raise ValidationError("give a calendar date", field=field)
    return day


def _check_days(n: int, field: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValidationError("a whole number of working days", field=field)
    if n < 0:
        raise ValidationError("a number of working days cannot be negative", field=field)
    if n > MAX_DAYS:
        raise ValidationError(f"at most {MAX_DAYS} working days", field=field)
    return n


class WorkCalendar:
    """The official working-day calendar over the years it has schedules for.

    Immutable once built; build one with :func:`official_calendar` (package + shipped files +
    the operator's files) or from :class:`YearSchedule` objects in tests.
    """

    def __init__(self, schedules: Iterable[YearSchedule]):
        self._years: dict[int, YearSchedule] = {}
        for schedule in schedules:
            self._years[schedule.year] = schedule  # a later source replaces an earlier year
        self._holidays: dict[dt.date, str] = {}
        self._workdays: dict[dt.date, str] = {}
        # a year's own statement about its dates wins over a neighbour's spill-over (a notice
        # that makes a December day of the year before a working day): spill-overs go first
        for own in (False, True):
            for year in sorted(self._years):
                schedule = self._years[year]
                for day, name in schedule.holidays.items():
                    if (day.year == year) == own:
                        self._holidays[day] = name
                        self._workdays.pop(day, None)
                for day, name in schedule.workdays.items():
                    if (day.year == year) == own:
                        self._workdays[day] = name
                        self._holidays.pop(day, None)

    # -- what is covered ----------------------------------------------------------------------
    def covers(self, year: int) -> bool:
        """Whether the official schedule of ``year`` is known."""
        return year in self._years

    def years(self) -> list[int]:
        return sorted(self._years)

    def source(self, year: int) -> str:
        if year not in self._years:
            raise CalendarMissing(year, field="year")
        return self._years[year].source

    def schedule(self, year: int) -> YearSchedule:
        if year not in self._years:
            raise CalendarMissing(year, field="year")
        return self._years[year]

    def _require(self, day: dt.date, field: str) -> None:
        if day.year not in self._years:
            raise CalendarMissing(day.year, field=field)

    # -- single days --------------------------------------------------------------------------
    def day(self, day: dt.date, *, field: str = "date") -> DayInfo:
        """What kind of day ``day`` is."""
        _check_date(day, field)
        self._require(day, field)
        if day in self._workdays:
            return DayInfo(day, "makeup_workday", self._workdays[day])
        if day in self._holidays:
            return DayInfo(day, "holiday", self._holidays[day])
        return DayInfo(day, "weekend" if day.weekday() >= 5 else "workday")

    def is_workday(self, day: dt.date, *, field: str = "date") -> bool:
        """Monday–Friday unless a holiday, plus the make-up Saturdays and Sundays."""
        return self.day(day, field=field).is_workday

    def next_workday(self, day: dt.date, *, field: str = "date") -> dt.date:
        """``day`` itself when it is a working day, else the first working day after it.

        This is the rule of 民法典 第二百零三条 for a deadline that ends on a day off.
        """
        _check_date(day, field)
        while not self.is_workday(day, field=field):
            day += dt.timedelta(days=1)
        return day

    # -- spans --------------------------------------------------------------------------------
    def add_workdays(
        self, start: dt.date, n: int, *, field: str = "days", start_field: str = "date"
    ) -> dt.date:
        """The ``n``-th working day after ``start`` (``start`` itself not counted).

        "Within 30 working days of acceptance" ends on ``add_workdays(acceptance, 30)``.
        ``n = 0`` gives ``start`` unchanged; a negative ``n`` is refused. A year without a
        schedule is refused naming what reaches it, as the caller calls it: ``start_field``
        when ``start`` lies there, ``field`` (the count) when the count runs into it — both
        were ``date``, a name /calc/workdays, a payment plan or an acceptance has not.
        """
        _check_date(start, start_field)
        _check_days(n, field)
        self._require(start, start_field)
        day = start
        left = n
        while left:
            day += dt.timedelta(days=1)
            if self.is_workday(day, field=field):
                left -= 1
        return day

    def workdays_between(self, start: dt.date, end: dt.date) -> int:
        """How many working days lie after ``start`` up to and including ``end``.

        The inverse of :meth:`add_workdays`: ``workdays_between(a, add_workdays(a, n)) == n``.
        ``end`` before ``start`` is refused (field ``end``).
        """
        _check_date(start, "start")
        _check_date(end, "end")
        if end < start:
            raise ValidationError("the end of a span comes before its start", field="end")
        self._require(start, "start")
        self._require(end, "end")
        count = 0
        day = start
        while day < end:
            day += dt.timedelta(days=1)
            if self.is_workday(day, field="end"):
                count += 1
        return count

    def span_after(
        self, start: dt.date, n: int, *, field: str = "days", start_field: str = "date"
    ) -> Span:
        """:meth:`add_workdays` with its explanation (the days off skipped on the way)."""
        end = self.add_workdays(start, n, field=field, start_field=start_field)
        return self._span(start, end, n, f"{start.isoformat()} 后第 {n} 个工作日（当日不计）")

    def span_between(self, start: dt.date, end: dt.date) -> Span:
        """:meth:`workdays_between` with its explanation."""
        n = self.workdays_between(start, end)
        return self._span(start, end, n, f"{start.isoformat()} 之后至 {end.isoformat()}")

    def _span(self, start: dt.date, end: dt.date, n: int, head: str) -> Span:
        off = tuple(self.days_off(start + dt.timedelta(days=1), end)) if end > start else ()
        holidays = sum(1 for d in off if d.kind == "holiday")
        made_up = sum(
            1
            for k in range((end - start).days)
            if self.day(start + dt.timedelta(days=k + 1)).kind == "makeup_workday"
        )
        detail = f"其间休息 {len(off)} 天（法定节假日 {holidays} 天）"
        if made_up:
            detail += f"，调休上班 {made_up} 天"
        if end == start:
            text = f"{head}：{n} 个工作日，即 {end.isoformat()}"
        else:
            text = f"{head}：{n} 个工作日，止于 {end.isoformat()}；{detail}"
        return Span(start, end, n, off, text)

    def days_off(self, start: dt.date, end: dt.date) -> list[DayInfo]:
        """The days off (weekends and holidays) in ``start..end`` inclusive, for explanations."""
        _check_date(start, "start")
        _check_date(end, "end")
        out = []
        day = start
        while day <= end:
            info = self.day(day)
            if not info.is_workday:
                out.append(info)
            day += dt.timedelta(days=1)
        return out


# -- sources -------------------------------------------------------------------------------------
def package_schedules() -> list[YearSchedule]:
    """Every year the ``chinese-calendar`` package carries, as :class:`YearSchedule`."""
    from chinese_calendar.constants import Holiday, holidays, workdays

    chinese = {h.value: h.chinese for h in Holiday}
    try:
        from importlib.metadata import version

        release = version("chinese-calendar")
    except Exception:  # pragma: no cover - installed under its other distribution name
        release = "?"
    years = sorted({d.year for d in holidays})
    out = []
    for year in range(years[0], years[-1] + 1):
        out.append(
            YearSchedule(
                year=year,
                source=f"chinese-calendar {release} (PyPI)",
                holidays={d: chinese.get(n, n) for d, n in holidays.items() if d.year == year},
                workdays={d: chinese.get(n, n) for d, n in workdays.items() if d.year == year},
            )
        )
    return out


def _bad(path: Path | str, message: str, where: str = "calendar") -> ValidationError:
    return ValidationError(f"{where}: {path}: {message}", field=where)


def _date_in(value: object, year: int, path: Path | str) -> dt.date:
    if not isinstance(value, str):
        raise _bad(path, f"{value!r} is not a date like {year}-01-01")
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise _bad(path, f"{value!r} is not a date like {year}-01-01") from None
    if day.year != year and not (day.year == year - 1 and day.month == 12):
        raise _bad(path, f"{value} lies outside {year} (and the December before)")
    return day


def load_year_file(path: Path | str, data: dict | None = None) -> YearSchedule:
    """Read and check one year file; refuses anything odd, naming the file."""
    if data is None:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise _bad(path, f"not readable JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise _bad(path, "a JSON object with year, source, holidays, workdays")
    year = data.get("year")
    if isinstance(year, bool) or not isinstance(year, int) or not 1949 < year < 2200:
        raise _bad(path, "year: a year like 2027")
    if Path(path).suffix == ".json" and Path(path).stem.isdigit() and int(Path(path).stem) != year:
        raise _bad(path, f"the file is named for {Path(path).stem} but states year {year}")
    source = data.get("source")
    if not isinstance(source, str) or not source.strip():
        raise _bad(path, "source: where the schedule comes from (the State Council notice)")
    holidays: dict[dt.date, str] = {}
    for entry in data.get("holidays") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise _bad(path, "holidays: entries {name, from, to} or {name, date}")
        if "date" in entry:
            first = last = _date_in(entry["date"], year, path)
        else:
            first = _date_in(entry.get("from"), year, path)
            last = _date_in(entry.get("to"), year, path)
        if last < first or (last - first).days > 30:
            raise _bad(path, f"holidays: {entry['name']} from {first} to {last} is not a range")
        day = first
        while day <= last:
            holidays[day] = entry["name"]
            day += dt.timedelta(days=1)
    workdays: dict[dt.date, str] = {}
    for entry in data.get("workdays") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise _bad(path, "workdays: entries {name, date}")
        day = _date_in(entry.get("date"), year, path)
        if day.weekday() < 5:
            raise _bad(path, f"workdays: {day} is a weekday already, not a make-up working day")
        if day in holidays:
            raise _bad(path, f"workdays: {day} is also listed as a holiday")
        workdays[day] = entry["name"]
    if not holidays:
        raise _bad(path, "holidays: a year's schedule lists its holidays")
    return YearSchedule(year=year, source=source.strip(), holidays=holidays, workdays=workdays)


def year_files(directory: Path) -> list[YearSchedule]:
    """Every ``YYYY.json`` in ``directory`` (none when it does not exist)."""
    if not directory.is_dir():
        return []
    return [load_year_file(p) for p in sorted(directory.glob("[0-9][0-9][0-9][0-9].json"))]


#: the holidays 《全国年节及纪念日放假办法》 (as amended in 2024, in force from 2025) puts on fixed
#: days of the Gregorian calendar — 元旦 1-1, 劳动节 5-1 and 5-2, 国庆节 10-1 to 10-3: off in
#: every year, whatever the year's schedule adds or moves around them
FIXED_HOLIDAYS = frozenset({(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)})


def presumed_workday(calendar, day: dt.date) -> tuple[bool, bool]:
    """Whether ``day`` is a working day by ``calendar`` (anything with ``is_workday``), and
    whether that is presumed: in a year with no schedule loaded yet, Monday to Friday save the
    fixed-date holidays (``FIXED_HOLIDAYS``; the lunar ones and the make-up days only the
    year's schedule tells). For what must go on meanwhile — a notice written down, a reminder
    sent — never for a deadline, which waits for the year's schedule (``calendar_missing``)."""
    try:
        return bool(calendar.is_workday(day)), False
    except CalendarMissing:
        return day.weekday() < 5 and (day.month, day.day) not in FIXED_HOLIDAYS, True


def official_calendar(home: Path | None = None) -> WorkCalendar:
    """The package's years, then the shipped year files, then ``<home>/calendars``.

    Cached per ``home``: the files are read once per process, so an operator who adds a year
    restarts the platform (as for any other configuration change).
    """
    return _official(str(home.resolve()) if home is not None else None)


@cache
def _official(home: str | None) -> WorkCalendar:
    schedules = package_schedules() + year_files(SHIPPED)
    if home is not None:
        schedules += year_files(Path(home) / "calendars")
    return WorkCalendar(schedules)
