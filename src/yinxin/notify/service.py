"""The notifier: render a template, record the message in the send log, hand it to a gateway.

The log row is written (queued) before the gateway is called, and the gateway is called outside
any database transaction, so a slow provider never holds a database lock and a crash leaves a
trace. A message that must not be lost with the change it reports (a certificate revoked, put on
hold, issued) is written by ``enqueue`` *inside* that change's transaction, as ``pending``: a
transactional outbox. It is sent right after the commit (``send_pending``); if the process dies
first, ``retry_failed`` (``yinxin notify retry``) sends it later. A failed send stays in the
log as failed, with the error, and is retried with back-off by ``retry_failed`` (run it from a
scheduler). Messages with secret values (one-time codes) are
never retried: the row does not hold the secret, and a late code is useless anyway — the user
asks for a new one.

An e-mail may carry attachments (the signed PDF, the evidence report). The send log does not
hold their bytes: it records each one's name, type, size and SHA-256 (under the reserved key
``@attachments`` of the row's values, which no template field can name). The bytes are kept in
a content-addressed store beside the outbox (``attachments``), so an outbox row or a retry sends
the very same files; without such a store, a message with attachments is sent once and not
retried.

Every message has a key, ``yx-<row id>-<nonce>`` (``message_key``; the nonce is random and
stored with the row), the same on every attempt of that row. Gateways that take a
``message_key`` keyword are given it: Aliyun sends it as ``OutId``, the generic HTTP adapter as a
JSON field and an ``Idempotency-Key`` header, SMTP builds the ``Message-ID`` from it, the file
outbox writes it into the line. A worker killed after the provider took a message but before the
log said so sends it again after ``stale_seconds``; the provider, or the person reading it, sees
the same key twice and can drop the second (``tests/stress/test_message_kills.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from yinxin.clock import Clock
from yinxin.errors import NotFound, ValidationError, YinxinError
from yinxin.identity import validate_mobile
from yinxin.notify.gateways import (
    CHANNELS,
    Attachment,
    DeliveryError,
    Gateway,
    Message,
    check_attachments,
)
from yinxin.notify.templates import MASK, Template, TemplateLibrary, default_library
from yinxin.results import from_row
from yinxin.store.db import Database
from yinxin.store.files import FileStore
from yinxin.store.models import Subscriber
from yinxin.store.models.notify import Notification
from yinxin.store.queries import select_where
from yinxin.transitions import TransitionTable, move

log = logging.getLogger(__name__)
MAX_ERROR = 1000
ATTACHMENTS_KEY = "@attachments"  # in values_json; not an identifier, so no template field


class Status(StrEnum):
    """Where a message stands in the send log (equal to the string stored in its row)."""

    NONE = "none"  # before the row exists: what ``send`` and ``enqueue`` start from
    PENDING = "pending"  # in the outbox, committed with its change, not yet handed to a gateway
    QUEUED = "queued"  # a send is under way
    SENT = "sent"  # the gateway took it
    FAILED = "failed"  # the gateway refused or did not answer; retried while retryable


_S = Status
# The retry lifecycle. ``claim`` (send_pending, retry_failed) starts a new attempt; ``expire``
# fails an attempt whose process seems to have died while talking to the gateway — if it was
# only slow, its late answer still settles the row (``deliver`` or ``fail`` from failed).
LIFECYCLE = TransitionTable(
    "notification",
    "status",
    hold_state=None,  # no message is ever on hold
    moves=[
        move("send", "send at once", {_S.NONE}, _S.QUEUED, creates=True),
        move("enqueue", "write to the outbox", {_S.NONE}, _S.PENDING, creates=True),
        move("claim", "start an attempt", {_S.PENDING, _S.FAILED}, _S.QUEUED),
        move("deliver", "the gateway took it", {_S.QUEUED, _S.FAILED}, _S.SENT),
        move("fail", "the gateway refused it", {_S.QUEUED, _S.FAILED}, _S.FAILED),
        move("expire", "the attempt was interrupted", {_S.QUEUED}, _S.FAILED),
    ],
)


STATUSES = tuple(x for x in Status if x is not Status.NONE)


def _move(row: Notification, verb: str) -> None:
    row.status = LIFECYCLE.check(verb, row.status or _S.NONE, None, str(row.id)).to_state


def mask_recipient(channel: str, recipient: str) -> str:
    """What adapters may show: 138****8000, z***@example.com."""
    if channel == "sms":
        return recipient[:3] + "****" + recipient[-4:] if len(recipient) >= 8 else "****"
    local, _, domain = recipient.partition("@")
    return (local[:1] + "***@" + domain) if domain else "***"


def normalise_recipient(channel: str, recipient: str) -> str:
    if channel == "sms":
        return validate_mobile(recipient, "recipient")
    v = (recipient or "").strip()
    local, at, domain = v.partition("@")
    if not (local and at and "." in domain) or len(v) > 200 or any(c.isspace() for c in v):
        raise ValidationError("not an e-mail address", field="recipient")
    return v


@dataclass(frozen=True)
class AttachmentRecord:
    """What the send log keeps of an attachment: never its content."""

    filename: str
    content_type: str
    size: int
    sha256: str


def _attachment_records(values_json: str) -> tuple[AttachmentRecord, ...]:
    try:
        items = json.loads(values_json or "{}").get(ATTACHMENTS_KEY) or ()
    except (ValueError, AttributeError):
        return ()
    return tuple(AttachmentRecord(**item) for item in items)


@dataclass(frozen=True)
class NotificationView:
    """One message of the send log; the recipient is masked unless revealed."""

    id: int
    channel: str
    gateway: str
    recipient: str
    subscriber_id: int | None
    template_id: str
    lang: str
    subject: str
    body: str
    status: Status
    attempts: int
    max_attempts: int
    retryable: bool
    error: str | None
    provider_message_id: str | None
    created_at: dt.datetime
    last_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    sent_at: dt.datetime | None
    attachments: tuple[AttachmentRecord, ...] = ()
    message_key: str = ""  # what the provider is given on every attempt (``message_key``)

    @classmethod
    def of(cls, n: Notification, *, reveal: bool = False) -> NotificationView:
        shown = n.recipient if reveal else mask_recipient(n.channel, n.recipient)
        return from_row(
            cls,
            n,
            recipient=shown,
            status=Status(n.status),
            attachments=_attachment_records(n.values_json),
            message_key=message_key(n.id, n.message_nonce),
        )


def message_key(notification_id: int, nonce: str | None) -> str:
    """The message's idempotency key, ``yx-<id>-<nonce>``: the same on every attempt of one
    send-log row, so a message sent again after an interrupted attempt is recognisably the same
    message; the random nonce keeps two databases' row 1 apart. Short and plain ASCII (letters,
    digits, ``-``), so it fits Aliyun's ``OutId``, an HTTP header and a ``Message-ID``."""
    return f"yx-{notification_id}-{nonce}" if nonce else f"yx-{notification_id}"


@dataclass(frozen=True)
class Outgoing:
    """One message to send: the channel and address, the template and its values, the
    subscriber it is about (if any), the language and, for e-mail, attachments
    (``Attachment`` or plain ``(filename, content_type, bytes)`` tuples)."""

    channel: str
    recipient: str
    template_id: str
    values: Mapping[str, object]
    subscriber_id: int | None = None
    lang: str = "zh"
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off: ``base × 2^(attempt−1)`` seconds, capped, up to ``max_attempts``."""

    max_attempts: int = 5
    base_seconds: int = 30
    cap_seconds: int = 3600
    # A row still queued this long after its attempt began belongs to a process that died
    # while talking to the gateway; it is then treated as failed (and retried if allowed).
    stale_seconds: int = 600

    def delay(self, attempts: int) -> dt.timedelta:
        return dt.timedelta(
            seconds=min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        )


class Notifier:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        gateways: Mapping[str, Gateway] | Iterable[Gateway],
        *,
        templates: TemplateLibrary | None = None,
        retry: RetryPolicy | None = None,
        attachments: FileStore | None = None,
    ):
        items = gateways.values() if isinstance(gateways, Mapping) else gateways
        self.gateways: dict[str, Gateway] = {}
        for g in items:
            if g.channel not in CHANNELS:
                raise ValueError(f"gateway channel must be one of {', '.join(CHANNELS)}")
            self.gateways[g.channel] = g
        self.db, self.clock = db, clock
        self.templates = templates or default_library
        self.retry = retry or RetryPolicy()
        # Where attachment bytes wait for their send and retries (content-addressed).
        self.attachment_store = attachments

    # --- sending --------------------------------------------------------------------------------
    def send(self, message: Outgoing) -> NotificationView:
        """Send one message. A delivery failure does not raise: the returned row says
        ``status="failed"`` and keeps the error, so callers decide whether it matters."""
        row, gateway, template, files = self._new_row("send", message)
        recipient, subscriber_id = row.recipient, message.subscriber_id
        with self.db.transaction() as s:
            if subscriber_id is not None and s.get(Subscriber, subscriber_id) is None:
                raise NotFound(f"no subscriber with id {subscriber_id}", field="subscriber_id")
            s.add(row)
            s.flush()
            row_id, key = row.id, message_key(row.id, row.message_nonce)
        return self._deliver(
            row_id, gateway, template, recipient, message.lang, message.values, files, key=key
        )

    def to_subscriber(
        self,
        s: Session,
        subscriber_id: int,
        template_id: str,
        values: Mapping[str, object],
        *,
        channel: str | None = None,
        lang: str = "zh",
    ) -> Outgoing:
        """A message to the subscriber's registered phone (preferred: when there is one and an
        SMS gateway) or e-mail address, as the session ``s`` sees them."""
        sub = s.get(Subscriber, subscriber_id)
        if sub is None:
            raise NotFound(f"no subscriber with id {subscriber_id}", field="subscriber_id")
        if channel is None:
            channel = "sms" if sub.phone and "sms" in self.gateways else "email"
        recipient = sub.phone if channel == "sms" else sub.email
        if not recipient:
            raise ValidationError(
                f"subscriber {sub.id} has no registered "
                f"{'phone' if channel == 'sms' else 'e-mail address'}",
                field="phone" if channel == "sms" else "email",
            )
        return Outgoing(channel, recipient, template_id, values, subscriber_id, lang)

    # --- the transactional outbox ----------------------------------------------------------------
    def enqueue(self, s: Session, message: Outgoing) -> Notification:
        """Write a message as ``pending`` in the caller's transaction (``s``); nothing is sent
        until it commits and ``send_pending`` or ``retry_failed`` runs. Templates with secret
        values cannot go through the outbox: the row never holds a secret, so it could not be
        rendered again. Attachments need the notifier's attachment store (their bytes wait
        there for the send)."""
        row = self._new_row("enqueue", message)[0]
        s.add(row)
        s.flush()
        return row

    def _new_row(
        self, verb: str, m: Outgoing
    ) -> tuple[Notification, Gateway, Template, tuple[Attachment, ...]]:
        """A send-log row for ``send`` (queued: its first attempt begins now) or ``enqueue``
        (pending in the outbox); it holds the message with its secret values masked, and of
        its attachments only their names and hashes."""
        gateway = self._gateway(m.channel)
        recipient = normalise_recipient(m.channel, m.recipient)
        template = self.templates.get(m.template_id)
        if verb == "enqueue" and template.secret:
            raise ValueError(f"template {template.id} carries secrets; send it directly")
        files = check_attachments(m.attachments)
        if files and m.channel != "email":
            raise ValidationError("only e-mail carries attachments", field="attachments")
        if files and verb == "enqueue" and self.attachment_store is None:
            raise ValueError("the outbox needs an attachment store to hold attachments")
        template.render(m.values, m.lang)  # refuse missing values now, not at sending time
        subject, body = template.render_masked(m.values, m.lang)
        values = template.public_values(m.values)
        values.pop(ATTACHMENTS_KEY, None)
        if files:
            # Content-addressed and written before the row: a crash leaves at most a file
            # nothing refers to, never a row whose attachment is missing.
            if self.attachment_store is not None:
                for f in files:
                    self.attachment_store.put(f.data)
            values[ATTACHMENTS_KEY] = [
                {
                    "filename": f.filename,
                    "content_type": f.content_type,
                    "size": len(f.data),
                    "sha256": f.sha256,
                }
                for f in files
            ]
        now = self.clock.now()
        row = Notification(
            channel=m.channel,
            gateway=type(gateway).__name__,
            recipient=recipient,
            subscriber_id=m.subscriber_id,
            template_id=template.id,
            lang=m.lang,
            values_json=json.dumps(values, ensure_ascii=False, default=str, sort_keys=True),
            subject=subject,
            body=body,
            attempts=0,
            max_attempts=self.retry.max_attempts,
            retryable=not template.secret and not (files and self.attachment_store is None),
            message_nonce=secrets.token_hex(6),
            created_at=now,
        )
        _move(row, verb)
        if verb == "send":
            row.attempts, row.last_attempt_at = 1, now
        else:
            row.next_attempt_at = now
        return row, gateway, template, files

    def send_pending(self, *, limit: int = 100) -> list[NotificationView]:
        """Send what the outbox holds (right after the commit that wrote it); rows another
        process claimed meanwhile are skipped, so nothing goes out twice."""
        return self._send_each(Notification.status == Status.PENDING, limit)

    def _send_each(self, where, limit: int) -> list[NotificationView]:
        """Claim and send matching rows one at a time, each row at most once, up to ``limit``.

        Not the whole batch claimed up front: a claimed row counts as stuck ``stale_seconds``
        after its claim, and behind a slow gateway (30 s an e-mail) the last rows of a batch of
        100 were still waiting their turn when another process's ``retry_failed`` (the
        ``notify.outbox`` job beside a notices run) took them as interrupted and sent them —
        and then this batch sent them again."""
        out: list[NotificationView] = []
        tried: list[int] = []
        while len(out) < limit:
            cond = and_(where, Notification.id.not_in(tried)) if tried else where
            claimed = self._claim(cond, 1)
            if not claimed:
                break
            tried.append(claimed[0][0])
            out += self._send_claimed(claimed)
        return out

    def _claim(self, where, limit: int) -> list[tuple]:
        """Put matching rows to ``queued`` in one transaction before any gateway is called,
        with ``SKIP LOCKED`` on PostgreSQL, so several workers never send the same row twice."""
        now = self.clock.now()
        with self.db.transaction() as s:
            q = (
                select(Notification)
                .where(where)
                .order_by(Notification.next_attempt_at, Notification.id)
                .limit(limit)
            )
            rows = s.execute(q.with_for_update(skip_locked=True)).scalars().all()
            claimed = []
            for row in rows:
                _move(row, "claim")
                row.attempts += 1
                row.last_attempt_at, row.next_attempt_at = now, None
                claimed.append(
                    (
                        row.id,
                        row.channel,
                        row.recipient,
                        row.template_id,
                        row.lang,
                        json.loads(row.values_json),
                        message_key(row.id, row.message_nonce),
                    )
                )
        return claimed

    def retry_failed(
        self, *, limit: int = 100, ignore_backoff: bool = False
    ) -> list[NotificationView]:
        """Re-send failed messages whose back-off has passed, and outbox rows still pending
        (their process died before sending); returns the rows after the try.

        Each row is claimed (put back to queued) in a transaction before its gateway is called,
        with ``SKIP LOCKED`` on PostgreSQL, so several workers never send the same row twice.
        """
        now = self.clock.now()
        self._expire_stale(now)
        due = and_(Notification.status == Status.FAILED, Notification.next_attempt_at.is_not(None))
        if not ignore_backoff:
            due = and_(due, Notification.next_attempt_at <= now)
        return self._send_each(or_(due, Notification.status == Status.PENDING), limit)

    def _send_claimed(self, claimed: list[tuple]) -> list[NotificationView]:
        out = []
        for row_id, channel, recipient, template_id, lang, values, key in claimed:
            try:
                gateway = self._gateway(channel)
                template = self.templates.get(template_id)
                template.render(values, lang)
            except (ValidationError, NotFound) as e:
                out.append(
                    self._finish(row_id, None, f"cannot re-render: {e.message}", permanent=True)
                )
                continue
            try:
                files = self._stored_attachments(values.pop(ATTACHMENTS_KEY, None) or ())
            except NotFound as e:
                out.append(self._finish(row_id, None, e.message, permanent=True))
                continue
            out.append(
                self._deliver(row_id, gateway, template, recipient, lang, values, files, key=key)
            )
        return out

    def _stored_attachments(self, records: list[dict]) -> tuple[Attachment, ...]:
        """The attachments a row lists, read back from the store and checked by hash."""
        if not records:
            return ()
        if self.attachment_store is None:
            raise NotFound("the attachments are not kept here; cannot send again", field="key")
        out = []
        for r in records:
            try:
                data = self.attachment_store.get(r["sha256"])
            except YinxinError as e:
                raise NotFound(
                    f"attachment {r['filename']} is no longer available ({e.message})",
                    field="attachments",
                ) from None
            out.append(Attachment(r["filename"], r["content_type"], data))
        return tuple(out)

    # --- reading --------------------------------------------------------------------------------
    def log(
        self,
        subscriber_id: int | None = None,
        limit: int = 50,
        *,
        status: str | None = None,
        reveal: bool = False,
    ) -> list[NotificationView]:
        """Newest first. Recipients are masked unless the caller is entitled to see them."""
        if status is not None and status not in STATUSES:
            raise ValidationError(f"status must be one of {', '.join(STATUSES)}", field="status")
        limit = max(1, min(int(limit), 1000))
        with self.db.read() as s:
            q = select_where(Notification, subscriber_id=subscriber_id, status=status)
            q = q.order_by(Notification.id.desc()).limit(limit)
            return [NotificationView.of(n, reveal=reveal) for n in s.execute(q).scalars()]

    def get(self, notification_id: int, *, reveal: bool = False) -> NotificationView:
        with self.db.read() as s:
            n = s.get(Notification, notification_id)
            if n is None:
                raise NotFound(
                    f"no notification with id {notification_id}", field="notification_id"
                )
            return NotificationView.of(n, reveal=reveal)

    # --- internals ------------------------------------------------------------------------------
    def _gateway(self, channel: str) -> Gateway:
        try:
            return self.gateways[channel]
        except KeyError:
            raise ValidationError(
                f"no gateway for channel {channel!r} (configured: "
                f"{', '.join(sorted(self.gateways)) or 'none'})",
                field="channel",
            ) from None

    def _deliver(
        self,
        row_id: int,
        gateway: Gateway,
        template: Template,
        recipient: str,
        lang: str,
        values: Mapping[str, object],
        files: tuple[Attachment, ...] = (),
        *,
        key: str | None = None,
    ) -> NotificationView:
        try:
            subject, body = template.render(values, lang)
            html = template.render_html(values, lang) if gateway.channel == "email" else None
            if files and not getattr(gateway, "takes_attachments", False):
                raise DeliveryError(
                    f"{type(gateway).__name__} cannot send attachments", permanent=True
                )
            message = Message(
                recipient,
                subject,
                body,
                template_id=template.id,
                values=values,
                html=html,
                attachments=files,
                # the same on every attempt: a provider (or reader) can spot a re-send
                message_key=key or None,
            )
            provider_id = gateway.send(message)
        except DeliveryError as e:
            return self._finish(
                row_id, None, _scrub(e.message, template, values), permanent=e.permanent
            )
        except Exception as e:  # any gateway bug is a failed send, not a lost one
            return self._finish(
                row_id, None, _scrub(f"{type(e).__name__}: {e}", template, values), permanent=False
            )
        return self._finish(row_id, str(provider_id)[:200], None, permanent=False)

    def _finish(
        self, row_id: int, provider_id: str | None, error: str | None, *, permanent: bool
    ) -> NotificationView:
        now = self.clock.now()
        with self.db.transaction() as s:
            row = s.execute(
                select(Notification).where(Notification.id == row_id).with_for_update()
            ).scalar_one()
            if error is None:
                _move(row, "deliver")
                row.provider_message_id, row.sent_at = provider_id, now
                row.error, row.next_attempt_at = None, None
            else:
                self._fail(row, "fail", error[:MAX_ERROR], now, permanent=permanent)
                log.warning(
                    "notification %s (%s via %s) failed, attempt %s: %s",
                    row.id,
                    row.template_id,
                    row.gateway,
                    row.attempts,
                    row.error,
                )
            return NotificationView.of(row)

    def _fail(
        self, row: Notification, verb: str, error: str, now: dt.datetime, *, permanent: bool
    ) -> None:
        _move(row, verb)
        row.error = error
        if permanent:
            row.retryable = False
        again = row.retryable and row.attempts < row.max_attempts
        row.next_attempt_at = now + self.retry.delay(row.attempts) if again else None

    def _expire_stale(self, now: dt.datetime) -> None:
        cutoff = now - dt.timedelta(seconds=self.retry.stale_seconds)
        with self.db.transaction() as s:
            rows = (
                s.execute(
                    select(Notification)
                    .where(
                        Notification.status == Status.QUEUED, Notification.last_attempt_at < cutoff
                    )
                    .with_for_update(skip_locked=True)
                )
                .scalars()
                .all()
            )
            for row in rows:
                self._fail(
                    row,
                    "expire",
                    "interrupted before the gateway answered (it may have been delivered)",
                    now,
                    permanent=False,
                )
                row.next_attempt_at = now if row.next_attempt_at else None


def _scrub(text: str, template: Template, values: Mapping[str, object]) -> str:
    """Gateways may echo the message in their errors; secret values must not reach the log."""
    for name in template.secret:
        v = values.get(name)
        if v is not None and str(v):
            text = text.replace(str(v), MASK)
    return text
