"""notify: a random nonce per send-log row, for the message key providers see

Revision ID: 0013
Revises: 0012

Rows already in the log get their nonce here, so every row has a key from now on.
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_nonce", sa.String(length=16), nullable=True))
    conn = op.get_bind()
    table = sa.table(
        "notifications", sa.column("id", sa.Integer()), sa.column("message_nonce", sa.String())
    )
    ids = conn.execute(sa.select(table.c.id).where(table.c.message_nonce.is_(None))).scalars()
    for row_id in list(ids):
        conn.execute(
            table.update().where(table.c.id == row_id).values(message_nonce=secrets.token_hex(6))
        )


def downgrade() -> None:
    # in place: a batch copy-and-drop of notifications fails once a row refers to one
    op.drop_column("notifications", "message_nonce")
