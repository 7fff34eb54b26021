"""the registration codes indexed for their purge

registration_codes had no index but its primary key: the purge that runs with every code asked
for (``Sessions._purge_registration_codes``: the codes that registered no one, a day after they
expired) read the whole table, the codes kept for every subscriber they registered included.
``ix_registration_codes_subscriber_id_expires_at`` holds the codes by subscriber and expiry, so
the purge reads only the codes that registered no one (``subscriber_id IS NULL``) and expired
long enough ago.

Revision ID: 0031
Revises: 0030
"""

from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_registration_codes_subscriber_id_expires_at",
        "registration_codes",
        ["subscriber_id", "expires_at"],
    )


def downgrade() -> None:
    # nothing is lost going down: the purge reads the whole table again
    op.drop_index("ix_registration_codes_subscriber_id_expires_at", table_name="registration_codes")
