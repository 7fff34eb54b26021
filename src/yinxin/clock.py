"""One clock for the whole platform, so tests can move time (expiry, deadlines, 24 h rules)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Protocol

from yinxin.errors import ValidationError


def whole_utc(t: dt.datetime, field: str) -> dt.datetime:
    """A caller's moment as UTC in whole seconds, as certificates, CRLs and OCSP (RFC 5019)
    carry it; a naive time is refused rather than guessed, naming the field."""
    if t.tzinfo is None:
        raise ValidationError(f"{field} must carry a time zone", field=field)
    return t.astimezone(dt.UTC).replace(microsecond=0)


# The moments a caller may name (an API time, a CLI --at): ones every zone can write, with a
# year to spare for the arithmetic on them. ``0001-01-01T00:00:00+14:00`` is valid ISO 8601 but
# before the first moment Python holds in UTC: turning it to UTC (a report's 验证时间) raised
# OverflowError. Compared as they are, never turned to UTC first.
EARLIEST = dt.datetime(1000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9998, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
REACH = "1000-01-01T00:00:00Z to 9998-12-31T23:59:59Z"


def within_reach(t: dt.datetime) -> bool:
    """Whether an aware ``t`` lies between ``EARLIEST`` and ``LATEST``."""
    return EARLIEST <= t <= LATEST


def reachable(t: dt.datetime, field: str) -> dt.datetime:
    """``t`` itself, refused naming ``field`` when it is out of ``within_reach``."""
    if t.tzinfo is not None and not within_reach(t):
        raise ValidationError(f"{field} must be from {REACH}", field=field)
    return t


def asked_moment(at: dt.datetime | None, field: str = "at") -> dt.datetime | None:
    """A verification's moment as the verifiers take it (PAdES, GB/T 38540 PDF and OFD):
    ``None``, or an aware time within ``within_reach``.

    A time without a zone is refused naming ``field``, as ``yinxin verify --at``, ``POST
    /verify`` and ``desk --at`` refuse it: the PAdES verifier read it as UTC, the GB/T 38540
    ones as the machine's local time — a caller in Beijing writing ten o'clock there was
    judged at ten UTC, eight hours later, across a timestamp's or a revocation's time another
    verdict, with nothing said."""
    if at is None:
        return None
    if not isinstance(at, dt.datetime):
        raise ValidationError(f"{field} must be a datetime with a time zone", field=field)
    if at.utcoffset() is None:
        raise ValidationError(
            f"{field} {at.isoformat()} has no time zone: give one (e.g. tzinfo=datetime.UTC)",
            field=field,
        )
    return reachable(at, field)


BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")
"""Beijing time, in which the contracts' dates, the desk's working hours and the evidence's
readable times are reckoned. A fixed offset, not a zone database entry: China keeps no
daylight saving time, and a fixed offset needs no tzdata on a bare machine."""


def beijing_day(t: dt.datetime) -> dt.date:
    """The calendar day an instant falls on for our users, in Beijing time: 2026-03-31T16:30Z
    is 2026-04-01. Stored times stay instants in UTC; every day a person is told (a
    certificate's or a seal's last day, "valid to", a birth date's "today") is this one, not
    ``t.date()`` — between 16:00 and 24:00 UTC that is the day before Beijing's. A naive ``t``
    is the stored convention's, UTC."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(BEIJING).date()


def beijing_date(t: dt.datetime) -> str:
    """:func:`beijing_day` as a listing or a message writes it, saying its zone:
    ``2026-05-01 (Beijing)`` — a bare date read beside UTC times (``--json``, the API's
    instants) would be taken for the UTC one."""
    return f"{beijing_day(t).isoformat()} (Beijing)"


def days_until(now: dt.datetime, end: dt.datetime) -> int:
    """Calendar days from ``now``'s Beijing day to ``end``'s — the "剩余 N 天" a notice gives
    beside ``end``'s day, so day and count agree (05-01 is 1 day after 04-30 whatever the
    hours). Not ``(end - now).days``, whole 24-hour spans, which said "30 days" at 23:59 on
    03-31 for an end at 01:00 on 05-01 (31 days on), and "0 days" at 23:00 for an end at 01:00
    the next day. Never negative: an end already past is 0 days away."""
    return max((beijing_day(end) - beijing_day(now)).days, 0)


def in_beijing(t: dt.datetime) -> str:
    """A moment as a notice to a person says it: Beijing time to the minute, ``2026-12-06
    04:34`` — the time of a freeze, a revocation, a changed phone, a flow's deadline alike (the
    English wordings add "(Beijing time)"), never raw ISO in UTC."""
    return t.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def stopped(stop: threading.Event, seconds: float, *, tick: float = 0.1) -> bool:
    """``stop.wait(seconds)``, in short sleeps: whether ``stop`` was set in time. Not
    ``Event.wait(timeout)``: a timed wait hands the kernel an absolute moment of the monotonic
    clock, which libfaketime (the suite's +400-day run) shifts so far that the wait never
    returns — no job ran after the first tick, no lease was extended, no exchange was cut. A
    relative sleep is as long whatever the clock says."""
    end = time.monotonic() + seconds
    while not stop.is_set():
        left = end - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(left, tick))
    return True


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    """Wall-clock UTC, truncated to whole seconds (certificates and CRLs carry seconds)."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC).replace(microsecond=0)


class FrozenClock:
    """A clock that only moves when told; used by tests and by ``--at`` style tooling."""

    def __init__(self, at: dt.datetime | None = None):
        self._at = (at or dt.datetime.now(dt.UTC)).replace(microsecond=0)

    def now(self) -> dt.datetime:
        return self._at

    def advance(self, **delta: float) -> dt.datetime:
        self._at = self._at + dt.timedelta(**delta)
        return self._at

    def set(self, at: dt.datetime) -> None:
        self._at = at.replace(microsecond=0)
