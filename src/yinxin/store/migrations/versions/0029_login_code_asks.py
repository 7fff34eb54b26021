"""the login-code limit per mobile number, in the database

login_code_asks: the login codes asked for each mobile number in the last hour (its HMAC under
the server's intent secret, never the number), which each server process kept in its own memory
before: several processes each counted apart, and a restart forgot. Nothing is carried over —
the memory it replaces is gone — so the first hour after the upgrade counts from empty.

Revision ID: 0029
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op

import yinxin.store.models

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc = yinxin.store.models.UTCDateTime
    op.create_table(
        "login_code_asks",
        sa.Column("phone_key", sa.String(length=64), nullable=False),
        sa.Column("asked", sa.Text(), nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("phone_key", name=op.f("pk_login_code_asks")),
    )
    op.create_index(op.f("ix_login_code_asks_updated_at"), "login_code_asks", ["updated_at"])


def downgrade() -> None:
    # Going down forgets the hour's requests: the limit per number starts again from empty.
    op.drop_index(op.f("ix_login_code_asks_updated_at"), table_name="login_code_asks")
    op.drop_table("login_code_asks")
