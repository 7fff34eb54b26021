"""How one database value becomes one JSON value and back: the typed cells of the handover format.

A column's type is read from the database itself (SQLAlchemy reflection), so a table added by
a later migration is exported without this module knowing it. Each column is put in one of a
few *kinds*, which ``manifest.json`` names per column, so a reader in any language knows how
to read a cell without guessing:

========== =========================================================================
kind       JSON value
========== =========================================================================
integer    number
float      number
numeric    string holding the exact decimal (``"1740000.00"``)
boolean    ``true`` / ``false``
text       string
datetime   string, ISO 8601 in UTC with microseconds: ``"2026-12-01T13:40:00.000000Z"``
date       string ``"2026-12-01"``; time: ``"13:40:00"``
bytes      ``{"base64": "…"}`` below 1 KiB, else ``{"file": "<sha256>"}`` naming the
           file ``files/<sha256>`` of the export (seal images, PDFs, SESeal records)
json       the JSON value itself
========== =========================================================================

``null`` is ``null`` in every kind. The platform stores its datetimes as UTC without a zone
(``UTCDateTime``); a naive value read back is therefore UTC, and one written to a column
declared with a zone is given UTC explicitly.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import types as sqltypes

INLINE_BYTES = 1024  # below this a bytes cell is inline base64; from it on, a file
KINDS = ("integer", "float", "numeric", "boolean", "text", "datetime", "date", "time")
KINDS += ("bytes", "json", "uuid")


class CellError(ValueError):
    """A cell that cannot be read as its column's kind (the caller names table and column)."""


def kind_of(column_type: sqltypes.TypeEngine) -> str:
    """The handover kind of a reflected column type (order matters: Boolean is not Integer,
    Float is a Numeric, DateTime before Date)."""
    t = column_type
    checks: list[tuple[type, str]] = [
        (sqltypes.Boolean, "boolean"),
        (sqltypes.Integer, "integer"),
        (sqltypes.Float, "float"),
        (sqltypes.Numeric, "numeric"),
        (sqltypes.DateTime, "datetime"),
        (sqltypes.Date, "date"),
        (sqltypes.Time, "time"),
        (sqltypes._Binary, "bytes"),
        (sqltypes.JSON, "json"),
        (sqltypes.Uuid, "uuid"),
    ]
    for cls, kind in checks:
        if isinstance(t, cls):
            return kind
    return "text"


def utc_text(value: dt.datetime) -> str:
    """A datetime as the format writes it: UTC, microseconds, ``Z``."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode(kind: str, value: Any, put_file: Callable[[bytes], str]) -> Any:
    """One cell as JSON; ``put_file`` keeps a large bytes value and returns its SHA-256."""
    if value is None:
        return None
    if kind == "datetime":
        return utc_text(value)
    if kind in ("date", "time"):
        return value.isoformat()
    if kind == "bytes":
        data = bytes(value)
        if len(data) < INLINE_BYTES:
            return {"base64": base64.b64encode(data).decode("ascii")}
        return {"file": put_file(data)}
    if kind == "numeric":
        return str(value)
    if kind == "uuid":
        return str(value)
    if kind == "boolean":
        return bool(value)
    if kind == "float":
        return float(value)
    if isinstance(value, memoryview):  # an unknown type that the driver gave as bytes
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    return value


def decode(kind: str, value: Any, get_file: Callable[[str], bytes], *, aware: bool = False) -> Any:
    """One JSON cell back to the value a column of ``kind`` takes; ``get_file`` reads a file
    of the export by its SHA-256 (checked). ``aware``: the column keeps a time zone."""
    if value is None:
        return None
    try:
        if kind == "datetime":
            if not isinstance(value, str) or not value.endswith("Z"):
                raise CellError("a datetime must be ISO 8601 UTC ending in Z")
            t = dt.datetime.fromisoformat(value[:-1])
            return t.replace(tzinfo=dt.UTC) if aware else t
        if kind == "date":
            return dt.date.fromisoformat(value)
        if kind == "time":
            return dt.time.fromisoformat(value)
        if kind == "bytes":
            if isinstance(value, dict) and set(value) == {"base64"}:
                return base64.b64decode(value["base64"], validate=True)
            if isinstance(value, dict) and set(value) == {"file"}:
                return get_file(value["file"])
            raise CellError('bytes must be {"base64": …} or {"file": sha256}')
        if kind == "numeric":
            return decimal.Decimal(value)
        if kind == "uuid":
            return uuid.UUID(value)
        if kind == "boolean":
            if not isinstance(value, bool):
                raise CellError("a boolean must be true or false")
            return value
        if kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                raise CellError("an integer must be a JSON integer")
            return value
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise CellError("a float must be a JSON number")
            return float(value)
        if kind == "text" and not isinstance(value, str):
            raise CellError("text must be a JSON string")
    except (ValueError, TypeError, decimal.InvalidOperation) as e:
        if isinstance(e, CellError):
            raise
        raise CellError(f"not a {kind}: {e}") from None
    return value


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def media_type(data: bytes) -> str:
    """What a kept file is, by its magic bytes (the stores name every object ``.pdf``)."""
    for magic, kind in (
        (b"%PDF-", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"<svg", "image/svg+xml"),
        (b"<?xml", "application/xml"),
    ):
        if data.startswith(magic):
            return kind
    if data[:1] == b"\x30":  # an ASN.1 SEQUENCE: a certificate, CRL or SESeal record
        return "application/octet-stream; asn1=der"
    return "application/octet-stream"
