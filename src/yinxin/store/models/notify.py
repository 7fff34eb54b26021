"""Tables for the send log and for intent-confirmation challenges.

Neither table ever holds a one-time code: the send log keeps the message as rendered with its
secret values masked, and a challenge keeps only a keyed hash of its code. The challenge table
lives here rather than in ``yinxin.signing`` so that one import in the Alembic environment
covers every table this migration (0003) creates.
"""

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yinxin.store.models import Base


class Notification(Base):
    """One message: (pending →) queued → sent | failed; failed ones may be retried until
    ``max_attempts``. ``pending`` rows are the outbox: committed with the change they report,
    not yet handed to a gateway."""

    __tablename__ = "notifications"
    __table_args__ = (
        # a list narrowed by these, a page at a time in id order (0033)
        Index("ix_notifications_subscriber_id_id", "subscriber_id", "id"),
        Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_notifications_status_id", "status", "id"),  # the log by status, newest first
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))  # sms | email
    gateway: Mapped[str] = mapped_column(String(40))
    # The full address, so a retry reaches the same person; listings mask it.
    recipient: Mapped[str] = mapped_column(String(200))
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"))
    template_id: Mapped[str] = mapped_column(String(40))
    lang: Mapped[str] = mapped_column(String(8))
    # Template values without the secret ones: enough to re-render a retry, never a code.
    values_json: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)  # rendered with secret values masked
    body: Mapped[str] = mapped_column(Text)  # rendered with secret values masked
    status: Mapped[str] = mapped_column(String(10))  # pending | queued | sent | failed
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int]
    retryable: Mapped[bool]
    error: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    # Random, written with the row (migration 0013): with the id it makes the message key
    # ``yx-<id>-<nonce>`` a provider sees on every attempt, so a re-sent message is known as
    # the same one, and row 1 of two databases never share a key. Nullable only because it was
    # added to a table with rows; migration 0013 gives those rows theirs.
    message_nonce: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime]
    last_attempt_at: Mapped[dt.datetime | None]
    next_attempt_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]


class IntentChallenge(Base):
    """A one-time code sent to a subscriber's phone, bound to one purpose and one document.

    state: pending → confirmed → consumed, or pending → dead (too many wrong codes, or the code
    could not be delivered) / expired.
    """

    __tablename__ = "intent_challenges"
    __table_args__ = (
        Index("ix_intent_challenges_subscriber_id_created_at", "subscriber_id", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random, unguessable
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    purpose: Mapped[str] = mapped_column(String(40))
    document_sha256: Mapped[str] = mapped_column(String(64))
    document_name: Mapped[str] = mapped_column(String(200))
    sent_to_masked: Mapped[str] = mapped_column(String(40))
    salt: Mapped[bytes]
    code_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12), index=True)
    failed_attempts: Mapped[int] = mapped_column(default=0)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    confirmed_at: Mapped[dt.datetime | None]
    # SHA-256 of the one-time confirmation token handed to the signer's session.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_expires_at: Mapped[dt.datetime | None]
    consumed_at: Mapped[dt.datetime | None]
    consumed_by: Mapped[str | None] = mapped_column(String(100))
