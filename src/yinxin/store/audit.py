"""The audit trail: every state change writes an event in the same transaction, hash-chained.

``hash = SHA-256(prev_hash ‖ canonical JSON(seq, at, actor, action, subject, data))``. The head
row (last seq and hash) is updated with every append, so editing any row, deleting a row in the
middle, or deleting the tail is detected by ``verify``. On PostgreSQL the head row is locked
(``SELECT … FOR UPDATE``) so concurrent writers append one after another.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from yinxin.context import request_id
from yinxin.results import from_row
from yinxin.store.models import AuditEvent, AuditHead

GENESIS = "0" * 64


def _payload(ev: AuditEvent) -> bytes:
    """What an event's hash covers: its canonical JSON, the same when written and when checked."""
    return json.dumps(
        [
            ev.seq,
            ev.at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            ev.actor,
            ev.action,
            ev.subject_type,
            ev.subject_id,
            ev.data,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")


def _link(prev_hash: str, payload: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + payload).hexdigest()


def record(
    session: Session,
    *,
    at: dt.datetime,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: object,
    data: dict | None = None,
) -> AuditEvent:
    """Append one event to the chain inside the caller's transaction. During an HTTP request
    the request's id is recorded with the data (``request_id``), so the event and the server's
    log lines point at each other."""
    rid = request_id.get()
    if rid is not None:
        data = {**(data or {}), "request_id": rid}
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
    ev = AuditEvent(
        seq=head.seq + 1,
        at=at,
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        data=json.dumps(data or {}, ensure_ascii=False, sort_keys=True, default=str),
        prev_hash=head.hash,
    )
    ev.hash = _link(ev.prev_hash, _payload(ev))
    session.add(ev)
    head.seq, head.hash = ev.seq, ev.hash
    return ev  # flushed with the rest of the transaction at commit


def event(
    s: Session,
    now: dt.datetime,
    actor: str,
    action: str,
    subject_id: str | int,
    data: dict,
    *,
    subject_type: str | None = None,
) -> AuditEvent:
    """``record`` in one line, as the services write it: ``event(s, now, actor,
    "certificate.revoke", serial, {...})``. The subject's type is the action's first word
    unless ``subject_type`` names it (``staff.login`` is about a ``staff_user``)."""
    return record(
        s,
        at=now,
        actor=actor,
        action=action,
        subject_type=subject_type or action.split(".", 1)[0],
        subject_id=subject_id,
        data=data,
    )


@dataclass(frozen=True)
class AuditVerdict:
    ok: bool
    events: int
    first_broken: int | None = None
    problem: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def verify(session: Session, batch: int = 5000) -> AuditVerdict:
    """Walk the chain; name the first event whose link or content does not hold.

    The head is read **first**: on a live platform events are appended while the chain is
    walked, and a head read afterwards could name an event committed after the walk's last
    read — "events after N were deleted (head says N+1)", a false alarm of tampering. Every
    event up to the head as it was at the start must be there, the one at its place must
    carry its hash; events appended since are walked and checked like the others."""
    head = session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (None, None)
    prev, expected_seq, count = GENESIS, 1, 0
    last_seq = 0
    hash_at_head: str | None = None
    while True:
        rows = (
            session.execute(
                select(AuditEvent)
                .where(AuditEvent.seq >= expected_seq)
                .order_by(AuditEvent.seq)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for ev in rows:
            if ev.seq != expected_seq:
                return AuditVerdict(
                    False, count, expected_seq, f"event {expected_seq} is missing (deleted)"
                )
            if ev.prev_hash != prev:
                return AuditVerdict(False, count, ev.seq, "link to the previous event is broken")
            if _link(prev, _payload(ev)) != ev.hash:
                return AuditVerdict(False, count, ev.seq, "event content was changed")
            if ev.seq == head_seq:
                hash_at_head = ev.hash
            prev, expected_seq, last_seq, count = ev.hash, ev.seq + 1, ev.seq, count + 1
    if head_seq is not None and (last_seq < head_seq or hash_at_head != head_hash):
        return AuditVerdict(
            False,
            count,
            min(last_seq, head_seq) + 1,
            f"events after {last_seq} were deleted (head says {head_seq})"
            if last_seq < head_seq
            else f"event {head_seq} is not the one the chain head names",
        )
    if head_seq is None and count:
        return AuditVerdict(False, count, None, "the chain head is missing")
    return AuditVerdict(True, count)


@dataclass(frozen=True)
class AuditEventView:
    """One event as a reader sees it; ``hash`` lets an evidence report point at it."""

    seq: int
    at: dt.datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    data: dict
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, e: AuditEvent) -> AuditEventView:
        return from_row(cls, e, data=json.loads(e.data or "{}"))


def events(
    session: Session,
    *,
    after: int | None = None,
    limit: int = 100,
    action: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
) -> list[AuditEventView]:
    """Events in chain order, narrowed by what was given; ``after``: a sequence number."""
    q = select(AuditEvent).order_by(AuditEvent.seq).limit(limit)
    if after is not None:
        q = q.where(AuditEvent.seq > after)
    for column, value in (
        (AuditEvent.action, action),
        (AuditEvent.subject_type, subject_type),
        (AuditEvent.subject_id, subject_id),
    ):
        if value is not None:
            q = q.where(column == value)
    return [AuditEventView.of(e) for e in session.execute(q).scalars()]
