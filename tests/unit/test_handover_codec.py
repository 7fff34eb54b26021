"""The handover's cell format (``yinxin.handover.codec``): every kind written and read back, and
cells that are not of their column's kind refused with the reason."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import uuid

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    Time,
    Uuid,
)
from sqlalchemy.dialects import postgresql, sqlite

from yinxin.handover.codec import INLINE_BYTES, CellError, decode, encode, kind_of, media_type

KINDS = [
    (Integer(), "integer"),
    (BigInteger(), "integer"),
    (Boolean(), "boolean"),
    (sqlite.BOOLEAN(), "boolean"),
    (Float(), "float"),
    (postgresql.DOUBLE_PRECISION(), "float"),
    (Numeric(12, 2), "numeric"),
    (DateTime(), "datetime"),
    (sqlite.DATETIME(), "datetime"),
    (postgresql.TIMESTAMP(timezone=True), "datetime"),
    (Date(), "date"),
    (Time(), "time"),
    (LargeBinary(), "bytes"),
    (sqlite.BLOB(), "bytes"),
    (postgresql.BYTEA(), "bytes"),
    (JSON(), "json"),
    (postgresql.JSONB(), "json"),
    (Uuid(), "uuid"),
    (String(20), "text"),
    (Text(), "text"),
]


@pytest.mark.parametrize(("column_type", "kind"), KINDS)
def test_kind_of_reflected_types(column_type, kind):
    assert kind_of(column_type) == kind


SMALL, LARGE = b"\x00\x01small", bytes(range(256)) * (INLINE_BYTES // 256 + 1)
VALUES = [
    ("integer", 12345678901234, 12345678901234),
    ("float", 210.5, 210.5),
    ("numeric", decimal.Decimal("1740000.00"), "1740000.00"),
    ("boolean", True, True),
    ("text", "甲方（签章）", "甲方（签章）"),
    ("datetime", dt.datetime(2026, 12, 1, 13, 40, 0, 5), "2026-12-01T13:40:00.000005Z"),
    ("date", dt.date(2027, 2, 6), "2027-02-06"),
    ("time", dt.time(9, 30), "09:30:00"),
    ("json", {"a": [1, "二"]}, {"a": [1, "二"]}),
    ("uuid", uuid.UUID(int=7), str(uuid.UUID(int=7))),
    ("bytes", SMALL, {"base64": "AAFzbWFsbA=="}),
    ("bytes", LARGE, {"file": hashlib.sha256(LARGE).hexdigest()}),
    ("text", None, None),
]


@pytest.mark.parametrize(("kind", "value", "cell"), VALUES)
def test_round_trip(kind, value, cell):
    kept: dict[str, bytes] = {}

    def put(data: bytes) -> str:
        kept[hashlib.sha256(data).hexdigest()] = data
        return hashlib.sha256(data).hexdigest()

    assert encode(kind, value, put) == cell
    assert decode(kind, cell, kept.__getitem__) == value
    assert bool(kept) == (value is LARGE)


def test_an_aware_datetime_is_written_in_utc_and_read_back_aware_where_the_column_keeps_a_zone():
    beijing = dt.timezone(dt.timedelta(hours=8))
    cell = encode("datetime", dt.datetime(2026, 12, 1, 21, 40, tzinfo=beijing), lambda d: "")
    assert cell == "2026-12-01T13:40:00.000000Z"
    assert decode("datetime", cell, lambda k: b"", aware=True) == dt.datetime(
        2026, 12, 1, 13, 40, tzinfo=dt.UTC
    )


@pytest.mark.parametrize(
    ("kind", "cell", "reason"),
    [
        ("datetime", "2026-12-01T13:40:00", "ending in Z"),
        ("datetime", "yesterday Z", "not a datetime"),
        ("integer", "12", "JSON integer"),
        ("integer", True, "JSON integer"),
        ("boolean", 1, "true or false"),
        ("float", "1.5", "JSON number"),
        ("text", 5, "JSON string"),
        ("bytes", "AAE=", "base64"),
        ("bytes", {"base64": "!!"}, "not a bytes"),
        ("numeric", "1,5", "not a numeric"),
        ("date", "2026-13-01", "not a date"),
    ],
)
def test_a_cell_of_another_kind_is_refused(kind, cell, reason):
    with pytest.raises(CellError, match=reason):
        decode(kind, cell, lambda k: b"")


def test_media_type_by_magic_bytes():
    assert media_type(b"%PDF-1.7\n") == "application/pdf"
    assert media_type(b"\x89PNG\r\n\x1a\n...") == "image/png"
    assert media_type(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert media_type(b"\x30\x82\x01\x00") == "application/octet-stream; asn1=der"
    assert media_type(b"plain") == "application/octet-stream"
