"""How a service's typed result becomes plain data for JSON: one rule for the CLI and HTTP.

Services return frozen dataclasses (``SealView``, ``CertificateView``…) whose fields are
datetimes, enums and nested results. An adapter never re-learns their keys: it calls ``plain``
and gets dicts, lists, strings and numbers — times as ISO 8601, enums as their value, bytes as
hex — the same shape FastAPI derives for the OpenAPI schema from the same dataclasses.
``from_row`` is the other direction's one rule: a view built from its database row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

V = TypeVar("V")


def plain(value: Any, moment: Callable[[dt.datetime], str] | None = None) -> Any:
    """``value`` as plain data; a datetime as ISO 8601, or as ``moment`` makes it (the CLI's
    text for a person: ``2026-12-05 19:13 UTC``)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name), moment) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if moment is not None and isinstance(value, dt.datetime):
        return moment(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v, moment) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v, moment) for v in value]
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, Path):
        return str(value)
    return value


def from_row(view: type[V], row: object, **given: Any) -> V:
    """``view`` (a dataclass) made from a database row: every field not ``given`` is the row's
    attribute of the same name, as it is; ``given`` holds the rest (enums made from stored
    strings, derived values, nested views). A field neither given nor on the row is an error,
    unless it has a default. One rule instead of each service copying its columns by hand."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(view):  # type: ignore[arg-type]
        if not f.init or f.name in given:
            continue
        has_default = (
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        )
        if has_default and not hasattr(row, f.name):
            continue
        values[f.name] = getattr(row, f.name)
    return view(**values, **given)
