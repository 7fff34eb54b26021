"""integrity under concurrency: one person one record, one first fee, one live seal per kind

Revision ID: 0006
Revises: 0005

Unique partial indexes (SQLite and PostgreSQL both have them) make the database refuse what a
check-then-insert in the service cannot stop when two processes race:

* ``uq_subscribers_person_id``: one person subscriber per ID document (type, number);
* ``uq_subscribers_organization_uscc``: one organization per unified social credit code;
* ``uq_payments_new_application``: an application's first fee is paid once;
* ``uq_seals_live_kind``: one live (active or frozen) seal per holder and kind.

A database that already holds duplicates (made by the races this closes) cannot take the
indexes; the upgrade then stops before changing anything and names the rows, so an operator can
settle them (cancel the extra seal, refund the extra payment) and run it again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXES = [
    ("uq_subscribers_person_id", "subscribers", ["id_type", "id_number"], "kind = 'person'"),
    ("uq_subscribers_organization_uscc", "subscribers", ["uscc"], "kind = 'organization'"),
    ("uq_payments_new_application", "payments", ["application_id"], "kind = 'new'"),
    ("uq_seals_live_kind", "seals", ["subscriber_id", "kind"], "state IN ('active', 'frozen')"),
]


def _duplicates(table: str, columns: list[str], where: str) -> list[tuple]:
    cols = ", ".join(columns)
    q = (f"SELECT {cols}, COUNT(*) FROM {table} WHERE {where} AND "
         + " AND ".join(f"{c} IS NOT NULL" for c in columns)
         + f" GROUP BY {cols} HAVING COUNT(*) > 1")
    return [tuple(r) for r in op.get_bind().execute(sa.text(q))]


def upgrade() -> None:
    problems = []
    for name, table, columns, where in INDEXES:
        for row in _duplicates(table, columns, where):
            problems.append(f"{table} ({', '.join(columns)}) = {row[:-1]} appears {row[-1]} "
                            f"times (needed unique for {name})")
    if problems:
        raise RuntimeError("cannot add the integrity constraints: settle these duplicates "
                           "first (see the operator guide, Concurrency guarantees):\n  "
                           + "\n  ".join(problems))
    for name, table, columns, where in INDEXES:
        op.create_index(name, table, columns, unique=True, sqlite_where=sa.text(where),
                        postgresql_where=sa.text(where))


def downgrade() -> None:
    for name, table, _columns, _where in reversed(INDEXES):
        op.drop_index(name, table_name=table)
