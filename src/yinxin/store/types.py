"""Column types the models and the engines share (apart, so that an engine is made without
declaring a table)."""

from sqlalchemy import Integer


class Int4(Integer):
    """An ``int`` column: INTEGER on both databases (64 bits on SQLite, 32 on PostgreSQL).

    Its own type so that PostgreSQL binds its values as BIGINT (``store.db.postgres_engine``):
    an id past 2**31 - 1 then names no row there, as on SQLite, instead of failing the query
    as "integer out of range" (the API and the CLI take ids up to 2**62)."""
