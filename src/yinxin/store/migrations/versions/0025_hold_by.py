"""who imposed a freeze: a holder lifts only a freeze the holder asked for

certificates and seals gain hold_by (holder | ca). Existing frozen rows — a certificate frozen,
or frozen under a loss reported over the freeze, and a seal frozen — become ``ca``: who froze
them was not recorded, and treating an unknown freeze as the holder's would let a holder lift
one the desk imposed (a court order, suspected misuse); the other way, a holder who froze its
own asks the desk to lift it once. Rows not frozen stay empty.

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not a batch (see 0024): SQLite adds and drops a nullable column in place.
def upgrade() -> None:
    op.add_column("certificates", sa.Column("hold_by", sa.String(8), nullable=True))
    op.add_column("seals", sa.Column("hold_by", sa.String(8), nullable=True))
    op.execute(
        "UPDATE certificates SET hold_by = 'ca' WHERE status = 'on_hold' "
        "AND (hold_kind = 'frozen' OR previous_hold_kind = 'frozen')"
    )
    op.execute("UPDATE seals SET hold_by = 'ca' WHERE state = 'frozen' AND hold_kind = 'frozen'")


def downgrade() -> None:
    # Going down forgets who imposed a freeze: any caller allowed to unfreeze lifts it again.
    op.drop_column("seals", "hold_by")
    op.drop_column("certificates", "hold_by")
