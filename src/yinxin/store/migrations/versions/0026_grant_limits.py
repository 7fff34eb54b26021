"""a seal grant's end and use limit (授权期限, 用印次数)

seal_grants gain valid_until (the grant ends then; empty: until withdrawn), max_uses (the
signings it allows; empty: no limit) and uses (the signings made under it, counted in the
transaction that records each). Existing grants stay as they were: no end, no limit, 0 uses.

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

import yinxin.store.models

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not a batch (see 0024): SQLite adds a column with a constant default in
# place; dropping needs SQLite 3.35+, as 0025's downgrade.
def upgrade() -> None:
    utc = yinxin.store.models.UTCDateTime
    op.add_column("seal_grants", sa.Column("valid_until", utc(), nullable=True))
    op.add_column("seal_grants", sa.Column("max_uses", sa.Integer(), nullable=True))
    op.add_column(
        "seal_grants", sa.Column("uses", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    # Going down forgets the limits: every grant not withdrawn lasts until withdrawn again.
    op.drop_column("seal_grants", "uses")
    op.drop_column("seal_grants", "max_uses")
    op.drop_column("seal_grants", "valid_until")
