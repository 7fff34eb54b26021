"""a recorded payment can be reversed (冲正): the row stays, with who reversed it, when and why

obligation_payments gains reversed_at, reversed_by and reversal_reason (all empty for a payment
that stands). A reversed payment no longer counts towards what was paid or against the late
penalty; the audit chain keeps both the payment and its reversal.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

import yinxin.store.models

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("obligation_payments") as batch:
        batch.add_column(sa.Column("reversed_at", yinxin.store.models.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("reversed_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("reversal_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("obligation_payments") as batch:
        batch.drop_column("reversal_reason")
        batch.drop_column("reversed_by")
        batch.drop_column("reversed_at")
