"""contracts drafted from templates, their terms and obligations (issue 14)

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

import yinxin.store.models

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc = yinxin.store.models.UTCDateTime
    op.create_table(
        "contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("template_code", sa.String(length=60), nullable=False),
        sa.Column("template_version", sa.String(length=20), nullable=False),
        sa.Column("filled_values", sa.Text(), nullable=False),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=False),
        sa.Column("pdf_size", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("owner_subscriber_id", sa.Integer(), nullable=True),
        sa.Column("flow_id", sa.Integer(), nullable=True),
        sa.Column("signed_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("sent_at", utc(), nullable=True),
        sa.Column("signed_at", utc(), nullable=True),
        sa.Column("cancelled_at", utc(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["sign_flows.id"], name=op.f("fk_contracts_flow_id_sign_flows")
        ),
        sa.ForeignKeyConstraint(
            ["owner_subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_contracts_owner_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
        sa.UniqueConstraint("number", name=op.f("uq_contracts_number")),
    )
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contracts_flow_id"), ["flow_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_contracts_owner_subscriber_id"), ["owner_subscriber_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_contracts_state"), ["state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_contracts_template_code"), ["template_code"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contracts_template_code"))
        batch_op.drop_index(batch_op.f("ix_contracts_state"))
        batch_op.drop_index(batch_op.f("ix_contracts_owner_subscriber_id"))
        batch_op.drop_index(batch_op.f("ix_contracts_flow_id"))
    op.drop_table("contracts")
