"""The moment tests start from: derived from the real clock, never a date written into a test.

Platform clocks in tests are frozen at this moment (whole minutes, so a run that straddles a
second boundary sees the same value everywhere); validators that read the real time (pyHanko,
openssl) are then only minutes later, well inside every CRL and OCSP validity window. A test
that moves time far (expiry, archive renewal) gives every validator the same explicit moment.
"""

from __future__ import annotations

import datetime as dt


def real_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)


START = real_now()
