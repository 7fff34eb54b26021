"""authorized automatic signing and signing batches

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

import yinxin.store.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc = yinxin.store.models.UTCDateTime
    op.create_table(
        "signing_authorizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seal_id", sa.Integer(), nullable=False),
        sa.Column("es_id", sa.String(length=40), nullable=False),
        sa.Column("holder_subscriber_id", sa.Integer(), nullable=False),
        sa.Column("granted_by", sa.String(length=100), nullable=False),
        sa.Column("granted_by_subscriber_id", sa.Integer(), nullable=True),
        sa.Column("certificate_serial", sa.String(length=40), nullable=False),
        sa.Column("counterparties", sa.Text(), nullable=False),
        sa.Column("flow_ids", sa.Text(), nullable=False),
        sa.Column("max_documents", sa.Integer(), nullable=False),
        sa.Column("used_documents", sa.Integer(), nullable=False),
        sa.Column("valid_from", utc(), nullable=False),
        sa.Column("valid_until", utc(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("terms_signature", sa.LargeBinary(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("ended_at", utc(), nullable=True),
        sa.Column("ended_by", sa.String(length=100), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["seal_id"], ["seals.id"], name=op.f("fk_signing_authorizations_seal_id_seals")
        ),
        sa.ForeignKeyConstraint(
            ["holder_subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_signing_authorizations_holder_subscriber_id_subscribers"),
        ),
        sa.ForeignKeyConstraint(
            ["granted_by_subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_signing_authorizations_granted_by_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_authorizations")),
    )
    for col in ("seal_id", "holder_subscriber_id", "state"):
        op.create_index(op.f(f"ix_signing_authorizations_{col}"), "signing_authorizations", [col])
    op.create_table(
        "signing_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("manifest", sa.Text(), nullable=False),
        sa.Column("documents", sa.Integer(), nullable=False),
        sa.Column("seal_id", sa.Integer(), nullable=False),
        sa.Column("signer_subscriber_id", sa.Integer(), nullable=True),
        sa.Column("intent_challenge", sa.String(length=64), nullable=True),
        sa.Column("authorization_id", sa.Integer(), nullable=True),
        sa.Column("signature_record_ids", sa.Text(), nullable=False),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("signed_at", utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["seal_id"], ["seals.id"], name=op.f("fk_signing_batches_seal_id_seals")
        ),
        sa.ForeignKeyConstraint(
            ["signer_subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_signing_batches_signer_subscriber_id_subscribers"),
        ),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["signing_authorizations.id"],
            name=op.f("fk_signing_batches_authorization_id_signing_authorizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_batches")),
        sa.UniqueConstraint("intent_challenge", name=op.f("uq_signing_batches_intent_challenge")),
    )
    for col in ("manifest_sha256", "authorization_id"):
        op.create_index(op.f(f"ix_signing_batches_{col}"), "signing_batches", [col])


def downgrade() -> None:
    for col in ("manifest_sha256", "authorization_id"):
        op.drop_index(op.f(f"ix_signing_batches_{col}"), table_name="signing_batches")
    op.drop_table("signing_batches")
    for col in ("seal_id", "holder_subscriber_id", "state"):
        op.drop_index(op.f(f"ix_signing_authorizations_{col}"), table_name="signing_authorizations")
    op.drop_table("signing_authorizations")
