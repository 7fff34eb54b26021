"""the codes that prove a self-registration's mobile number

registration_codes: a code sent to a number no one is registered with, which the public
self-registration must be given before it registers anyone with that number (so that the
registration's answer may say what is already registered only to the number's holder). The number
is kept as a keyed binding, the code as a keyed hash.

Revision ID: 0030
Revises: 0029
"""

import sqlalchemy as sa
from alembic import op

import yinxin.store.models

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registration_codes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("phone_binding", sa.String(length=64), nullable=False),
        sa.Column("sent_to_masked", sa.String(length=40), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", yinxin.store.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", yinxin.store.models.UTCDateTime(), nullable=False),
        sa.Column("used_at", yinxin.store.models.UTCDateTime(), nullable=True),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_registration_codes_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registration_codes")),
    )


def downgrade() -> None:
    op.drop_table("registration_codes")
