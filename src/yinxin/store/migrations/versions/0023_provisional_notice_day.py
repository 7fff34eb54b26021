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


# Plain ALTER TABLE, not a batch: SQLite's batch mode copies the table, drops it and renames
# the copy, and the drop fails (FOREIGN KEY constraint failed) as soon as a pause or a breach
# refers to a request. SQLite adds a NOT NULL column with a default, and drops a plain one
# (3.35+), in place.
def upgrade() -> None:
    op.add_column(
        "service_requests",
        sa.Column(
            "notice_workday_provisional", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )


def downgrade() -> None:
    op.drop_column("service_requests", "notice_workday_provisional")
