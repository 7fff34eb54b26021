"""the O&M service desk of contract 003: service requests and their response clocks (issue 14)

The contracts under service (desk_contracts, linked to a library contract when read from
one), service requests with their deadlines, the pauses of their clocks, breaches, monthly
inspections.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

import yinxin.store.models

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desk_contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("party_a", sa.String(length=200), nullable=False),
        sa.Column("party_b", sa.String(length=200), nullable=False),
        sa.Column("annual_fee", sa.String(length=32), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("workday_response_hours", sa.Integer(), nullable=False),
        sa.Column("other_response_hours", sa.Integer(), nullable=False),
        sa.Column("on_site_hours", sa.Integer(), nullable=False),
        sa.Column("created_at", yinxin.store.models.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_desk_contracts_contract_id_contracts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_desk_contracts")),
        sa.UniqueConstraint("contract_id", name=op.f("uq_desk_contracts_contract_id")),
        sa.UniqueConstraint("number", name=op.f("uq_desk_contracts_number")),
    )
    op.create_table(
        "service_inspections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("performed_at", yinxin.store.models.UTCDateTime(), nullable=False),
        sa.Column("inspector", sa.String(length=100), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("created_at", yinxin.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["desk_contracts.id"],
            name=op.f("fk_service_inspections_contract_id_desk_contracts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_inspections")),
        sa.UniqueConstraint(
            "contract_id", "month", name=op.f("uq_service_inspections_contract_id")
        ),
    )
    with op.batch_alter_table("service_inspections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_inspections_contract_id"), ["contract_id"], unique=False
        )

    op.create_table(
        "service_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("reported_by", sa.String(length=100), nullable=False),
        sa.Column("on_site_requested", sa.Boolean(), nullable=False),
        sa.Column("notice_at", yinxin.store.models.UTCDateTime(), nullable=False),
        sa.Column("notice_workday", sa.Boolean(), nullable=False),
        sa.Column("response_budget_minutes", sa.Integer(), nullable=False),
        sa.Column("on_site_budget_minutes", sa.Integer(), nullable=True),
        sa.Column("response_due", yinxin.store.models.UTCDateTime(), nullable=True),
        sa.Column("on_site_due", yinxin.store.models.UTCDateTime(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("clock", sa.String(length=8), nullable=False),
        sa.Column("responded_at", yinxin.store.models.UTCDateTime(), nullable=True),
        sa.Column("responded_by", sa.String(length=100), nullable=True),
        sa.Column("on_site_at", yinxin.store.models.UTCDateTime(), nullable=True),
        sa.Column("resolved_at", yinxin.store.models.UTCDateTime(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("cancelled_reason", sa.Text(), nullable=True),
        sa.Column("record_flow_id", sa.Integer(), nullable=True),
        sa.Column("record_signed_at", yinxin.store.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", yinxin.store.models.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["desk_contracts.id"],
            name=op.f("fk_service_requests_contract_id_desk_contracts"),
        ),
        sa.ForeignKeyConstraint(
            ["record_flow_id"],
            ["sign_flows.id"],
            name=op.f("fk_service_requests_record_flow_id_sign_flows"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_requests")),
    )
    with op.batch_alter_table("service_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_requests_contract_id"), ["contract_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_service_requests_notice_at"), ["notice_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_service_requests_on_site_due"), ["on_site_due"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_service_requests_response_due"), ["response_due"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_service_requests_state"), ["state"], unique=False)

    op.create_table(
        "service_breaches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("due_at", yinxin.store.models.UTCDateTime(), nullable=False),
        sa.Column("detected_at", yinxin.store.models.UTCDateTime(), nullable=False),
        sa.Column("late_seconds", sa.Integer(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["service_requests.id"],
            name=op.f("fk_service_breaches_request_id_service_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_breaches")),
        sa.UniqueConstraint("request_id", "kind", name=op.f("uq_service_breaches_request_id")),
    )
    with op.batch_alter_table("service_breaches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_breaches_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "service_pauses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("started_at", yinxin.store.models.UTCDateTime(), nullable=False),
        sa.Column("ended_at", yinxin.store.models.UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["service_requests.id"],
            name=op.f("fk_service_pauses_request_id_service_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_pauses")),
    )
    with op.batch_alter_table("service_pauses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_pauses_request_id"), ["request_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("service_pauses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_pauses_request_id"))

    op.drop_table("service_pauses")
    with op.batch_alter_table("service_breaches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_breaches_request_id"))

    op.drop_table("service_breaches")
    with op.batch_alter_table("service_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_requests_state"))
        batch_op.drop_index(batch_op.f("ix_service_requests_response_due"))
        batch_op.drop_index(batch_op.f("ix_service_requests_on_site_due"))
        batch_op.drop_index(batch_op.f("ix_service_requests_notice_at"))
        batch_op.drop_index(batch_op.f("ix_service_requests_contract_id"))

    op.drop_table("service_requests")
    with op.batch_alter_table("service_inspections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_inspections_contract_id"))

    op.drop_table("service_inspections")
    op.drop_table("desk_contracts")
