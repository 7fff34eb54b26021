"""contract obligations tracked after signing: payment milestones, acceptance, penalties,
reminders (issue 14)

contract_tracking (the facts that fix due dates: effective, delivered, reminded, accepted, went
live), obligations (each duty read from the contract's terms, its rule and due date, its late
penalty terms), obligation_payments (partial payments), obligation_reminders (one row per
reminder point reached, unique per obligation, point and due date).

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

import yinxin.store.models

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contract_tracking",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("delivered_on", sa.Date(), nullable=True),
        sa.Column("reminded_on", sa.Date(), nullable=True),
        sa.Column("accepted_on", sa.Date(), nullable=True),
        sa.Column("acceptance_deemed", sa.Boolean(), nullable=False),
        sa.Column("live_on", sa.Date(), nullable=True),
        sa.Column("created_at", yinxin.store.models.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", yinxin.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_contract_tracking_contract_id_contracts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contract_tracking")),
        sa.UniqueConstraint("contract_id", name=op.f("uq_contract_tracking_contract_id")),
    )
    with op.batch_alter_table("contract_tracking", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contract_tracking_stage"), ["stage"], unique=False)

    op.create_table(
        "obligations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("debtor", sa.String(length=20), nullable=False),
        sa.Column("wording", sa.Text(), nullable=False),
        sa.Column("amount", sa.String(length=32), nullable=True),
        sa.Column("event", sa.String(length=20), nullable=True),
        sa.Column("months", sa.Integer(), nullable=False),
        sa.Column("workdays", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("fixed_on", sa.Date(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("due_explanation", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("paid", sa.String(length=32), nullable=False),
        sa.Column("met_on", sa.Date(), nullable=True),
        sa.Column("penalty_rate", sa.String(length=20), nullable=True),
        sa.Column("penalty_base", sa.String(length=20), nullable=True),
        sa.Column("penalty_cap_rate", sa.String(length=20), nullable=True),
        sa.Column("penalty_cap_base", sa.String(length=32), nullable=True),
        sa.Column("penalty_clause", sa.Text(), nullable=True),
        sa.Column("created_at", yinxin.store.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", yinxin.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contracts.id"], name=op.f("fk_obligations_contract_id_contracts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_obligations")),
    )
    with op.batch_alter_table("obligations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_obligations_contract_id"), ["contract_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_obligations_due_on"), ["due_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_obligations_state"), ["state"], unique=False)

    op.create_table(
        "obligation_payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("obligation_id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("amount", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", yinxin.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_obligation_payments_contract_id_contracts"),
        ),
        sa.ForeignKeyConstraint(
            ["obligation_id"],
            ["obligations.id"],
            name=op.f("fk_obligation_payments_obligation_id_obligations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_obligation_payments")),
    )
    with op.batch_alter_table("obligation_payments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_obligation_payments_contract_id"), ["contract_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_obligation_payments_obligation_id"), ["obligation_id"], unique=False
        )

    op.create_table(
        "obligation_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("obligation_id", sa.Integer(), nullable=False),
        sa.Column("point", sa.String(length=20), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", yinxin.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_obligation_reminders_notification_id_notifications"),
        ),
        sa.ForeignKeyConstraint(
            ["obligation_id"],
            ["obligations.id"],
            name=op.f("fk_obligation_reminders_obligation_id_obligations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_obligation_reminders")),
        sa.UniqueConstraint(
            "obligation_id", "point", "due_on", name=op.f("uq_obligation_reminders_obligation_id")
        ),
    )
    with op.batch_alter_table("obligation_reminders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_obligation_reminders_obligation_id"), ["obligation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("obligation_reminders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_obligation_reminders_obligation_id"))

    op.drop_table("obligation_reminders")
    with op.batch_alter_table("obligation_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_obligation_payments_obligation_id"))
        batch_op.drop_index(batch_op.f("ix_obligation_payments_contract_id"))

    op.drop_table("obligation_payments")
    with op.batch_alter_table("obligations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_obligations_state"))
        batch_op.drop_index(batch_op.f("ix_obligations_due_on"))
        batch_op.drop_index(batch_op.f("ix_obligations_contract_id"))

    op.drop_table("obligations")
    with op.batch_alter_table("contract_tracking", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contract_tracking_stage"))

    op.drop_table("contract_tracking")
