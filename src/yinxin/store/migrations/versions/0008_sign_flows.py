"""sign flows: flows, their documents and signers

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

import yinxin.store.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UTC = yinxin.store.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "sign_flows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("owner_subscriber_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("signing_order", sa.String(length=12), nullable=False),
        sa.Column("deadline", UTC(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("started_at", UTC(), nullable=True),
        sa.Column("finished_at", UTC(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_sign_flows_owner_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_flows")),
    )
    with op.batch_alter_table("sign_flows", schema=None) as b:
        b.create_index(b.f("ix_sign_flows_owner_subscriber_id"), ["owner_subscriber_id"])
        b.create_index(b.f("ix_sign_flows_state"), ["state"])
        b.create_index(b.f("ix_sign_flows_deadline"), ["deadline"])

    op.create_table(
        "sign_flow_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("original_sha256", sa.String(length=64), nullable=False),
        sa.Column("current_sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["sign_flows.id"], name=op.f("fk_sign_flow_documents_flow_id_sign_flows")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_flow_documents")),
        sa.UniqueConstraint("flow_id", "position", name=op.f("uq_sign_flow_documents_flow_id")),
    )
    with op.batch_alter_table("sign_flow_documents", schema=None) as b:
        b.create_index(b.f("ix_sign_flow_documents_flow_id"), ["flow_id"])
        b.create_index(b.f("ix_sign_flow_documents_current_sha256"), ["current_sha256"])

    op.create_table(
        "sign_flow_signers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("order_index", sa.Integer(), nullable=False),
        sa.Column("seal_id", sa.Integer(), nullable=False),
        sa.Column("es_id", sa.String(length=32), nullable=True),
        sa.Column("placements", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("last_notified_at", UTC(), nullable=True),
        sa.Column("last_urged_at", UTC(), nullable=True),
        sa.Column("signed_at", UTC(), nullable=True),
        sa.Column("client_ip", sa.String(length=45), nullable=True),
        sa.Column("challenge_id", sa.String(length=64), nullable=True),
        sa.Column("authorization_id", sa.String(length=64), nullable=True),
        sa.Column("declined_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["sign_flows.id"], name=op.f("fk_sign_flow_signers_flow_id_sign_flows")
        ),
        sa.ForeignKeyConstraint(
            ["seal_id"], ["seals.id"], name=op.f("fk_sign_flow_signers_seal_id_seals")
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_sign_flow_signers_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_flow_signers")),
    )
    with op.batch_alter_table("sign_flow_signers", schema=None) as b:
        b.create_index(b.f("ix_sign_flow_signers_flow_id"), ["flow_id"])
        b.create_index(b.f("ix_sign_flow_signers_subscriber_id"), ["subscriber_id"])
        b.create_index(b.f("ix_sign_flow_signers_state"), ["state"])

    op.create_table(
        "sign_flow_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("signer_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("issued_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(
            ["signer_id"],
            ["sign_flow_signers.id"],
            name=op.f("fk_sign_flow_links_signer_id_sign_flow_signers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_flow_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sign_flow_links_token_hash")),
    )
    with op.batch_alter_table("sign_flow_links", schema=None) as b:
        b.create_index(b.f("ix_sign_flow_links_signer_id"), ["signer_id"])

    op.create_table(
        "sign_flow_signatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("signer_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("signature_record_id", sa.Integer(), nullable=True),
        sa.Column("sha256_before", sa.String(length=64), nullable=False),
        sa.Column("sha256_after", sa.String(length=64), nullable=False),
        sa.Column("signed_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["sign_flow_documents.id"],
            name=op.f("fk_sign_flow_signatures_document_id_sign_flow_documents"),
        ),
        sa.ForeignKeyConstraint(
            ["signature_record_id"],
            ["signature_records.id"],
            name=op.f("fk_sign_flow_signatures_signature_record_id_signature_records"),
        ),
        sa.ForeignKeyConstraint(
            ["signer_id"],
            ["sign_flow_signers.id"],
            name=op.f("fk_sign_flow_signatures_signer_id_sign_flow_signers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_flow_signatures")),
        sa.UniqueConstraint(
            "signer_id", "document_id", name=op.f("uq_sign_flow_signatures_signer_id")
        ),
    )
    with op.batch_alter_table("sign_flow_signatures", schema=None) as b:
        b.create_index(b.f("ix_sign_flow_signatures_signer_id"), ["signer_id"])
        b.create_index(b.f("ix_sign_flow_signatures_document_id"), ["document_id"])


def downgrade() -> None:
    for table in (
        "sign_flow_signatures",
        "sign_flow_links",
        "sign_flow_signers",
        "sign_flow_documents",
        "sign_flows",
    ):
        op.drop_table(table)
