"""How a service's typed result becomes plain data for JSON: one rule for the CLI and HTTP.

Services return frozen dataclasses (``SealView``, ``CertificateView``…) whose fields are
datetimes, enums and nested results. An adapter never re-learns their keys: it calls ``plain``
and gets dicts, lists, strings and numbers — times as ISO 8601, enums as their value, bytes as
hex — the same shape FastAPI derives for the OpenAPI schema from the same dataclasses.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, Path):
        return str(value)
    return value
