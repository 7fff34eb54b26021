"""signature records; merges the seal (0002) and notification (0003) branches

Revision ID: 0004
Revises: 0002, 0003
"""

import sqlalchemy as sa
from alembic import op

import yinxin.store.models

revision = "0004"
down_revision = ("0002", "0003")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signature_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_name", sa.String(length=255), nullable=False),
        sa.Column("sha256_before", sa.String(length=64), nullable=False),
        sa.Column("sha256_after", sa.String(length=64), nullable=False),
        sa.Column("seal_id", sa.Integer(), nullable=True),
        sa.Column("es_id", sa.String(length=40), nullable=True),
        sa.Column("certificate_serial", sa.String(length=40), nullable=False),
        sa.Column("signer_subscriber_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("field_name", sa.String(length=100), nullable=True),
        sa.Column("intent_challenge", sa.String(length=64), nullable=True),
        sa.Column("signed_at", yinxin.store.models.UTCDateTime(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["seal_id"], ["seals.id"],
                                name=op.f("fk_signature_records_seal_id_seals")),
        sa.ForeignKeyConstraint(["signer_subscriber_id"], ["subscribers.id"],
                                name=op.f("fk_signature_records_signer_subscriber_id_subscribers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signature_records")),
    )
    for col in ("sha256_before", "sha256_after", "certificate_serial"):
        op.create_index(op.f(f"ix_signature_records_{col}"), "signature_records", [col])


def downgrade() -> None:
    for col in ("sha256_before", "sha256_after", "certificate_serial"):
        op.drop_index(op.f(f"ix_signature_records_{col}"), table_name="signature_records")
    op.drop_table("signature_records")
