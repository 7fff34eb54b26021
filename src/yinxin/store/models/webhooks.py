"""Webhooks: subscriptions, the dispatch cursor, deliveries and each try of a delivery.

The audit trail is the outbox: every state change already writes its audit event in its own
transaction, so the dispatcher reads ``audit_events`` after ``webhook_cursor.seq`` and writes
one ``webhook_deliveries`` row per matching subscription *in the same transaction* as it moves
the cursor. A delivery keeps the exact body it sends (``payload``), so every retry carries the
same bytes and the same event id.

A subscription's signing secret is stored encrypted under the platform KEK
(``yinxin.pki.kek``), bound to the subscription's id: a copy of the database alone cannot sign
a forged delivery.
"""

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yinxin.store.models import Base, partial_unique


class WebhookSubscription(Base):
    """active ⇄ paused → deleted (see ``yinxin.notify.webhooks``)."""

    __tablename__ = "webhook_subscriptions"
    # one active subscription per receiver and owner: a second one would deliver every event
    # to the receiver twice (``yinxin.notify.webhooks.url_key``). An owner of None (an
    # administrator's) is not equal to itself in a unique index, hence its own index.
    __table_args__ = (
        partial_unique(
            "uq_webhook_subscriptions_active_url",
            "url_key",
            where="state = 'active' AND owner_organization_id IS NULL",
        ),
        partial_unique(
            "uq_webhook_subscriptions_active_organization_url",
            "owner_organization_id",
            "url_key",
            where="state = 'active' AND owner_organization_id IS NOT NULL",
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    # SHA-256 (hex) of the request the URL makes (url_key): the same for the same receiver
    url_key: Mapped[str | None] = mapped_column(String(64))
    events: Mapped[str] = mapped_column(Text)  # JSON list of webhook event types
    description: Mapped[str | None] = mapped_column(String(200))
    # None: every event (an administrator's); else only events about this organization
    owner_organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id"), index=True
    )
    secret_wrapped: Mapped[bytes]  # the signing secret under the platform KEK
    # the previous secret, still signing (a second v1) until previous_until, after a rotation
    previous_secret_wrapped: Mapped[bytes | None]
    previous_until: Mapped[dt.datetime | None]
    # the audit event that created it: it receives the events after this one only
    from_seq: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(12), index=True)
    state_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class WebhookCursor(Base):
    """One row (id 1): the last audit event the dispatcher has looked at. Locked by the
    dispatcher for its transaction, so two dispatchers never enqueue the same event."""

    __tablename__ = "webhook_cursor"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime | None]


class WebhookDelivery(Base):
    """One event for one subscription: pending → leased → delivered | failed (→ leased …) |
    given_up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # a list narrowed by these, a page at a time in id order (0033)
        Index("ix_webhook_deliveries_subscription_id_id", "subscription_id", "id"),
        UniqueConstraint("subscription_id", "audit_seq"),
        Index("ix_webhook_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
        # a subscription's delivery log in one state, a page at a time (0033)
        Index("ix_webhook_deliveries_subscription_id_state_id", "subscription_id", "state", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    event_id: Mapped[str] = mapped_column(String(36), index=True)  # UUID, stable across retries
    event_type: Mapped[str] = mapped_column(String(40))
    audit_seq: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[str] = mapped_column(Text)  # the exact JSON body sent, every time
    state: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime]
    next_attempt_at: Mapped[dt.datetime | None]
    lease_until: Mapped[dt.datetime | None]
    lease_token: Mapped[str | None] = mapped_column(String(32))
    last_http_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[dt.datetime | None]  # delivered or given up


class WebhookAttempt(Base):
    """One try of a delivery: written when it starts (``sending``), settled by its answer;
    one whose deliverer died stays ``interrupted``."""

    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    number: Mapped[int]
    started_at: Mapped[dt.datetime]
    duration_ms: Mapped[int | None]
    http_status: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(12))
