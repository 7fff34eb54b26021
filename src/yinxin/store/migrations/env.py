"""Alembic environment: runs on a connection handed in by ``yinxin.store.db.migrate``."""

from alembic import context
from sqlalchemy import create_engine

from yinxin.store.models import load_all
from yinxin.store.types import Int4

config = context.config
target_metadata = load_all()  # every table module: the whole schema, for autogenerate


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as conn:
            _run(conn)
    else:
        _run(connection)


def _render_item(kind: str, obj, _autogen_context) -> str | bool:
    """An ``Int4`` column is written into a new migration as the INTEGER it is (``Int4`` only
    changes how PostgreSQL is given its values)."""
    if kind == "type" and isinstance(obj, Int4):
        return "sa.Integer()"
    return False


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
