"""a notice in a year the official holiday calendar does not cover is recorded, provisionally

service_requests gains notice_workday_provisional: true when whether the notice's day was a
working day was decided by the weekday rule (Monday to Friday) because no official schedule for
its year was loaded; the breach job confirms or corrects it once the year's calendar is there.
Existing requests were all decided by the official calendar (false).

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("service_requests") as batch:
        batch.add_column(
            sa.Column(
                "notice_workday_provisional",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("service_requests") as batch:
        batch.drop_column("notice_workday_provisional")
