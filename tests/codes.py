"""A wrong one-time code that is wrong every run.

Codes are random six digits (``secrets.randbelow(10**6)``), and a TOTP is six digits of an
HMAC: a fixed "000000" typed as the wrong one is the right one once in a million runs (a TOTP
window of three steps, three in a million), and the refusal the test expects does not come.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class _Totp(Protocol):
    interval: int

    def at(self, for_time: dt.datetime | int) -> str: ...


def wrong_code(*right: str) -> str:
    """A six-digit code that is none of ``right``."""
    return next(c for c in (str(d) * 6 for d in range(10)) if c not in right)


def wrong_totp(totp: _Totp, at: dt.datetime, steps: int = 2) -> str:
    """A code no step within ``steps`` of ``at`` gives (the platform takes the one either side;
    two either side leaves room for a test on the real clock that crosses a step)."""
    step = dt.timedelta(seconds=totp.interval)
    return wrong_code(*(totp.at(at + k * step) for k in range(-steps, steps + 1)))
