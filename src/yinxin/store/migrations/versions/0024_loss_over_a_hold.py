"""a loss can be reported on a certificate already on hold, and its restore goes back to that hold

certificates gains previous_hold_kind: the hold (frozen, unpaid) a loss was reported over, so
that restoring after the loss report puts the certificate back on that hold instead of making
it active. Existing certificates had no loss reported over a hold (it was refused): empty.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not a batch: SQLite's batch mode copies the table, drops it and renames
# the copy, and the drop fails (FOREIGN KEY constraint failed) as soon as a seal or a payment
# refers to a certificate. SQLite adds a nullable column, and drops a plain one (3.35+), in place.
def upgrade() -> None:
    op.add_column("certificates", sa.Column("previous_hold_kind", sa.String(16), nullable=True))


def downgrade() -> None:
    # Going down forgets which hold a loss was reported over: such a certificate stays lost,
    # and a restore under the older code makes it active.
    op.drop_column("certificates", "previous_hold_kind")
