"""notifications send log and intent-confirmation challenges

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-21 15:00:00
"""

from alembic import op
import sqlalchemy as sa
import yinxin.store.models  # noqa: F401  (UTCDateTime)


revision = '0003'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('gateway', sa.String(length=40), nullable=False),
    sa.Column('recipient', sa.String(length=200), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.Column('template_id', sa.String(length=40), nullable=False),
    sa.Column('lang', sa.String(length=8), nullable=False),
    sa.Column('values_json', sa.Text(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('retryable', sa.Boolean(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('provider_message_id', sa.String(length=200), nullable=True),
    sa.Column('created_at', yinxin.store.models.UTCDateTime(), nullable=False),
    sa.Column('last_attempt_at', yinxin.store.models.UTCDateTime(), nullable=True),
    sa.Column('next_attempt_at', yinxin.store.models.UTCDateTime(), nullable=True),
    sa.Column('sent_at', yinxin.store.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_notifications_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications'))
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_subscriber_id'), ['subscriber_id'], unique=False)

    op.create_table('intent_challenges',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=40), nullable=False),
    sa.Column('document_sha256', sa.String(length=64), nullable=False),
    sa.Column('document_name', sa.String(length=200), nullable=False),
    sa.Column('sent_to_masked', sa.String(length=40), nullable=False),
    sa.Column('salt', sa.LargeBinary(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('failed_attempts', sa.Integer(), nullable=False),
    sa.Column('notification_id', sa.Integer(), nullable=True),
    sa.Column('created_at', yinxin.store.models.UTCDateTime(), nullable=False),
    sa.Column('expires_at', yinxin.store.models.UTCDateTime(), nullable=False),
    sa.Column('confirmed_at', yinxin.store.models.UTCDateTime(), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('token_expires_at', yinxin.store.models.UTCDateTime(), nullable=True),
    sa.Column('consumed_at', yinxin.store.models.UTCDateTime(), nullable=True),
    sa.Column('consumed_by', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'], name=op.f('fk_intent_challenges_notification_id_notifications')),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_intent_challenges_subscriber_id_subscribers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intent_challenges')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_intent_challenges_token_hash'))
    )
    with op.batch_alter_table('intent_challenges', schema=None) as batch_op:
        batch_op.create_index('ix_intent_challenges_subscriber_id_created_at', ['subscriber_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_intent_challenges_state'), ['state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('intent_challenges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_intent_challenges_state'))
        batch_op.drop_index('ix_intent_challenges_subscriber_id_created_at')

    op.drop_table('intent_challenges')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_subscriber_id'))
        batch_op.drop_index('ix_notifications_status_next_attempt_at')

    op.drop_table('notifications')
