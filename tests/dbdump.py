"""Dump every table of a platform's database, every row and every column, for before/after checks.

``dump(platform)`` (or ``dump(engine)``) returns ``{table: [row tuple, …]}`` for every table the
database actually has (found by SQLAlchemy inspection, so tables added later are covered without
editing this file), the Alembic version table included. Rows are sorted so that two dumps of the
same content compare equal whatever order the database returns them in. Works on SQLite and
PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine


def _engine(source: Any) -> Engine:
    if isinstance(source, Engine):
        return source
    db = getattr(source, "db", source)  # a Platform, or a Database
    return db.engine


def _sort_key(row: tuple) -> tuple:
    # None sorts first; everything else by type name then repr, so mixed columns still sort
    return tuple((v is not None, type(v).__name__, repr(v)) for v in row)


def _tables(conn) -> dict[str, tuple[list[str], list[tuple]]]:
    """``SELECT *`` from every table: the values exactly as stored, no ORM type conversion."""
    quote = conn.dialect.identifier_preparer.quote
    out = {}
    for name in sorted(inspect(conn).get_table_names()):
        result = conn.execute(text(f"SELECT * FROM {quote(name)}"))
        rows = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in result]
        out[name] = (list(result.keys()), sorted(rows, key=_sort_key))
    return out


def dump(source: Any) -> dict[str, list[tuple]]:
    """Every row of every table, as plain tuples of the stored values."""
    with _engine(source).connect() as conn:
        try:
            return {name: rows for name, (_, rows) in _tables(conn).items()}
        finally:
            conn.rollback()


def columns(source: Any) -> dict[str, list[str]]:
    """Column names per table (to say which column a finding is in)."""
    with _engine(source).connect() as conn:
        try:
            return {name: cols for name, (cols, _) in _tables(conn).items()}
        finally:
            conn.rollback()


def diff(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> list[str]:
    """Human-readable differences between two dumps (empty when identical)."""
    problems: list[str] = []
    for table in sorted(set(before) | set(after)):
        b, a = before.get(table), after.get(table)
        if b is None or a is None:
            problems.append(f"table {table} {'appeared' if b is None else 'disappeared'}")
            continue
        if b != a:
            added = [r for r in a if r not in b]
            removed = [r for r in b if r not in a]
            problems.append(
                f"{table}: {len(b)} -> {len(a)} rows; added {added[:3]!r}; "
                f"removed/changed {removed[:3]!r}"
            )
    return problems


def cells(source: Any) -> list[tuple[str, str, Any]]:
    """Every non-null cell as (table, column, value): for scanning for secrets."""
    data, cols = dump(source), columns(source)
    return [
        (t, cols[t][i], v)
        for t, rows in data.items()
        for r in rows
        for i, v in enumerate(r)
        if v is not None
    ]


def count(p: Any, model: Any, *where: Any) -> int:
    """How many rows of ``model`` the platform ``p``'s database holds where all ``where`` hold."""
    from sqlalchemy import func, select

    with p.db.read() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
