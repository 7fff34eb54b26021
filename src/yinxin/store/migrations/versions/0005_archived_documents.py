"""archived documents kept for archive-timestamp renewal (PAdES B-LTA)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

import yinxin.store.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archived_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_name", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("signature_record_id", sa.Integer(), nullable=True),
        sa.Column("created_at", yinxin.store.models.UTCDateTime(), nullable=False),
        sa.Column("newest_timestamp_at", yinxin.store.models.UTCDateTime(), nullable=True),
        sa.Column("tsa_not_after", yinxin.store.models.UTCDateTime(), nullable=True),
        sa.Column("renewed_at", yinxin.store.models.UTCDateTime(), nullable=True),
        sa.Column("renewals", sa.Integer(), nullable=False),
        sa.Column("status_refreshed_at", yinxin.store.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["signature_record_id"],
            ["signature_records.id"],
            name=op.f("fk_archived_documents_signature_record_id_signature_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archived_documents")),
    )
    with op.batch_alter_table("archived_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_archived_documents_sha256"), ["sha256"])
        batch_op.create_index(batch_op.f("ix_archived_documents_state"), ["state"])


def downgrade() -> None:
    op.drop_table("archived_documents")
