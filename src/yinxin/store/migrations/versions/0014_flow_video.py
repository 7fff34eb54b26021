"""sign flows: video dual recording (视频双录) — a signer may be required to record a video
before signing; the recordings, and the one the signer signed with

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

import yinxin.store.models

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc = yinxin.store.models.UTCDateTime
    op.create_table(
        "sign_flow_recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("signer_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=60), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("recorded_at", utc(), nullable=False),
        sa.Column("client_ip", sa.String(length=45), nullable=True),
        sa.ForeignKeyConstraint(
            ["signer_id"],
            ["sign_flow_signers.id"],
            name=op.f("fk_sign_flow_recordings_signer_id_sign_flow_signers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_flow_recordings")),
    )
    with op.batch_alter_table("sign_flow_recordings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sign_flow_recordings_signer_id"), ["signer_id"], unique=False
        )
    # plain ALTER TABLE: SQLite's batch mode would copy sign_flow_signers and drop it, which
    # fails (FOREIGN KEY constraint failed) once links or signatures refer to a signer
    op.add_column(
        "sign_flow_signers",
        sa.Column("requires_video", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("sign_flow_signers", sa.Column("video_sha256", sa.String(length=64)))


def downgrade() -> None:
    op.drop_column("sign_flow_signers", "video_sha256")
    op.drop_column("sign_flow_signers", "requires_video")
    with op.batch_alter_table("sign_flow_recordings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_flow_recordings_signer_id"))
    op.drop_table("sign_flow_recordings")
