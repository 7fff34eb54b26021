"""A ``Database.read()`` sees one moment: a row another session commits between two of its
statements is not seen by the second. On PostgreSQL the default READ COMMITTED gave each
statement its own snapshot, so a read of several statements (an obligations overview: a page
of obligations, then their payments) could mix two moments."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from yinxin.store.db import Database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request, tmp_path):
    url = (
        request.getfixturevalue("pg_cluster").new_database()
        if request.param == "postgres"
        else f"sqlite:///{tmp_path / 'yinxin.db'}"
    )
    database = Database(url)
    with database.transaction() as s:
        s.execute(text("CREATE TABLE probe (n INTEGER NOT NULL)"))
        s.execute(text("INSERT INTO probe (n) VALUES (1)"))
    yield database
    database.dispose()


def _count(s) -> int:
    return s.execute(text("SELECT count(*) FROM probe")).scalar_one()


def test_a_read_does_not_see_a_commit_made_between_its_statements(db) -> None:
    with db.read() as s:
        assert _count(s) == 1
        with db.transaction() as w:
            w.execute(text("INSERT INTO probe (n) VALUES (2)"))
        assert _count(s) == 1
    with db.read() as s:
        assert _count(s) == 2


def test_a_read_refuses_to_write(db) -> None:
    """Read-only on both: a write slipped into a read session is refused, not committed; the
    pooled connection it ran on writes again in a transaction (PostgreSQL: the read's
    characteristics are reset when the connection goes back to the pool both share)."""
    with pytest.raises(DBAPIError, match="read-only|readonly"), db.read() as s:
        s.execute(text("INSERT INTO probe (n) VALUES (3)"))
        s.commit()
    with db.read() as s:
        assert _count(s) == 1
    with db.transaction() as w:
        w.execute(text("INSERT INTO probe (n) VALUES (4)"))
        if w.bind.dialect.name == "postgresql":
            level = w.execute(text("SHOW transaction_isolation")).scalar_one()
            assert level == "read committed"
    with db.read() as s:
        assert _count(s) == 2
        if s.bind.dialect.name == "postgresql":
            assert s.execute(text("SHOW transaction_isolation")).scalar_one() == "repeatable read"
