"""What the current request is, for whoever records something during it.

The HTTP server sets a request id for each request (the caller's ``X-Request-Id`` when it is
sane, else a fresh one) and answers with it; log lines carry it, and every audit event written
during the request records it in its data, so an operator can go from a complaint ("request
4f…") to the log lines and to the audit trail, and an evidence report's audit events point
back at the requests that made them.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("yinxin_request_id", default=None)
_SANE = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def new_request_id(given: str | None = None) -> str:
    """The caller's id if it looks like one (no spaces, no control characters, 8–64 long),
    else 16 random hex digits."""
    if given and _SANE.match(given):
        return given
    return os.urandom(8).hex()
