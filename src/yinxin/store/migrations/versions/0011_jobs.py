"""jobs: the scheduler's runs and leases

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

import yinxin.store.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc = yinxin.store.models.UTCDateTime
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=60), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", utc(), nullable=False),
        sa.Column("lease_until", utc(), nullable=False),
        sa.Column("finished_at", utc(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
        sa.UniqueConstraint("job", "period", name=op.f("uq_job_runs_job")),
    )
    op.create_index(op.f("ix_job_runs_state"), "job_runs", ["state"])


def downgrade() -> None:
    op.drop_index(op.f("ix_job_runs_state"), table_name="job_runs")
    op.drop_table("job_runs")
