"""an organization's certificates and seals, and the desk's requests, indexed in list order

Two kinds of list still sorted every row their filter kept before the first one came:

- an organization's certificates and seals (``organization_id``: an organization-bound API
  key's lists) are those of the organization and of every member registered under it
  (``store.queries.of_organization``), so the filter was "the holder is one of these 2 000
  subscribers" and no index holds that in id order: each page read all of them and sorted
  them, or walked the table testing each row's holder. ``certificates.organization_id`` and
  ``seals.organization_id`` now say which organization a row counts toward — the holder's
  organization, or the holder itself when it is registered under none (an organization, or a
  person on their own) — filled here from the holders, and by the platform when it issues a
  certificate or makes a seal (a holder's organization never changes: it is set when the
  person or device is registered). Indexed with ``id``, a page is one range of that index.
- the service desk's requests by contract or by state, in notice order (``notice_at, id``):
  the index on the contract (or the state) alone found the rows and a sort ordered them all;
  a rare state (the open requests among years of closed ones) walked the whole notice-time
  index instead. The indexes now hold the filter then the order.

Revision ID: 0034
Revises: 0033
"""

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

HELD = ("certificates", "seals")  # tables of rows a subscriber holds (``subscriber_id``)

# (column): ix_service_requests_<column> becomes ix_service_requests_<column>_notice_at_id
DESK = ("contract_id", "state")


# Plain ALTER TABLE, not a batch (see 0024): SQLite adds a nullable column in place.
def upgrade() -> None:
    for table in HELD:
        op.add_column(table, sa.Column("organization_id", sa.Integer(), nullable=True))
        # one statement a table, the same on SQLite and PostgreSQL: each row from its holder
        op.execute(
            f"UPDATE {table} SET organization_id = (SELECT COALESCE(s.organization_id, s.id) "
            f"FROM subscribers s WHERE s.id = {table}.subscriber_id)"
        )
        op.create_index(f"ix_{table}_organization_id_id", table, ["organization_id", "id"])
    for column in DESK:
        op.create_index(
            f"ix_service_requests_{column}_notice_at_id",
            "service_requests",
            [column, "notice_at", "id"],
        )
        op.drop_index(f"ix_service_requests_{column}", table_name="service_requests")


def downgrade() -> None:
    # nothing is lost going down: the lists find the holders' rows through subscribers again
    for column in reversed(DESK):
        op.create_index(f"ix_service_requests_{column}", "service_requests", [column])
        op.drop_index(f"ix_service_requests_{column}_notice_at_id", table_name="service_requests")
    for table in reversed(HELD):
        op.drop_index(f"ix_{table}_organization_id_id", table_name=table)
        op.drop_column(table, "organization_id")
