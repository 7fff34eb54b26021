"""Seal authorizations (用印授权): an organization lets one of its people use one of its seals.

A grant does not open the seal: the member still needs the seal PIN, and the seal, its
certificate and its key must be usable at that moment (``seals.pin.problem`` asks
``is_granted`` at use time, so a withdrawal takes effect at once). Grants are rows of their own
rather than a column on the seal so that withdrawn ones stay on record with who and when.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from yinxin.clock import Clock
from yinxin.errors import Conflict, NotFound, ValidationError
from yinxin.seals import lifecycle
from yinxin.seals.catalogue import ORGANIZATION_KINDS
from yinxin.seals.rows import actor_name, iso, seal_row, subscriber_row
from yinxin.store import audit
from yinxin.store.db import Database
from yinxin.store.models import Subscriber
from yinxin.store.models.seals import Seal, SealGrant


def is_granted(s: Session, seal_id: int, member_id: int) -> bool:
    """Whether the member holds a grant for the seal that has not been withdrawn."""
    return (
        s.execute(
            select(SealGrant.id).where(
                SealGrant.seal_id == seal_id,
                SealGrant.member_subscriber_id == member_id,
                SealGrant.withdrawn_at.is_(None),
            )
        ).first()
        is not None
    )


def granted_members(s: Session, seal_id: int) -> list[int]:
    """The subscriber ids of the members who may use the seal now, in the order granted."""
    return list(
        s.execute(
            select(SealGrant.member_subscriber_id)
            .where(SealGrant.seal_id == seal_id, SealGrant.withdrawn_at.is_(None))
            .order_by(SealGrant.id)
        )
        .scalars()
        .all()
    )


def _grant_row(s: Session, seal_id: int, member_id: int) -> SealGrant | None:
    return (
        s.execute(
            select(SealGrant)
            .where(
                SealGrant.seal_id == seal_id,
                SealGrant.member_subscriber_id == member_id,
                SealGrant.withdrawn_at.is_(None),
            )
            .with_for_update()
        )
        .scalars()
        .first()
    )


def _grant_dict(g: SealGrant, seal: Seal, member: Subscriber | None) -> dict:
    return {
        "id": g.id,
        "seal_id": seal.id,
        "es_id": seal.es_id,
        "member_subscriber_id": g.member_subscriber_id,
        "member_name": member.name if member else None,
        "granted_by": g.granted_by,
        "granted_at": g.granted_at.isoformat(),
        "note": g.note,
        "withdrawn_by": g.withdrawn_by,
        "withdrawn_at": iso(g.withdrawn_at),
        "active": g.withdrawn_at is None,
    }


class SealGrants:
    """Grant, withdraw and list the use of organization seals by their members."""

    def __init__(self, db: Database, clock: Clock):
        self.db, self.clock = db, clock

    def grant(
        self, seal: int | str, member_subscriber_id: int, *, actor: str, note: str | None = None
    ) -> dict:
        """The organization lets one of its people use this seal (with the seal PIN)."""
        actor = actor_name(actor)
        now = self.clock.now()
        with self.db.transaction() as s:
            row = seal_row(s, seal, lock=True)
            if row.kind not in ORGANIZATION_KINDS:
                raise ValidationError(
                    "a personal seal is used by its holder only; grants are for organization seals",
                    field="seal",
                )
            lifecycle.check_manageable("grant use", row.state, row.es_id)
            member = subscriber_row(s, member_subscriber_id, "member_subscriber_id")
            if member.kind != "person":
                raise ValidationError(
                    f"seal use is granted to people; #{member.id} is a {member.kind}",
                    field="member_subscriber_id",
                )
            if _grant_row(s, row.id, member.id):
                raise Conflict(
                    f"{member.name} (#{member.id}) may already use seal {row.es_id}",
                    field="member_subscriber_id",
                    code="already_granted",
                )
            g = SealGrant(
                seal_id=row.id,
                member_subscriber_id=member.id,
                granted_by=actor,
                granted_at=now,
                note=note,
            )
            s.add(g)
            s.flush()
            audit.record(
                s,
                at=now,
                actor=actor,
                action="seal.grant",
                subject_type="seal",
                subject_id=row.es_id,
                data={
                    "grant_id": g.id,
                    "member_subscriber_id": member.id,
                    "member_name": member.name,
                    "note": note,
                },
            )
            return _grant_dict(g, row, member)

    def withdraw(
        self, seal: int | str, member_subscriber_id: int, *, actor: str, note: str | None = None
    ) -> dict:
        """Withdraw a member's right to use the seal, at once."""
        actor = actor_name(actor)
        now = self.clock.now()
        with self.db.transaction() as s:
            row = seal_row(s, seal, lock=True)
            g = _grant_row(s, row.id, member_subscriber_id)
            if g is None:
                raise NotFound(
                    f"subscriber #{member_subscriber_id} holds no grant for seal {row.es_id}",
                    field="member_subscriber_id",
                    code="not_granted",
                )
            g.withdrawn_at, g.withdrawn_by = now, actor
            member = s.get(Subscriber, member_subscriber_id)
            audit.record(
                s,
                at=now,
                actor=actor,
                action="seal.withdraw",
                subject_type="seal",
                subject_id=row.es_id,
                data={"grant_id": g.id, "member_subscriber_id": member_subscriber_id, "note": note},
            )
            return _grant_dict(g, row, member)

    def list_for(self, seal: int | str, *, include_withdrawn: bool = False) -> list[dict]:
        with self.db.read() as s:
            row = seal_row(s, seal)
            q = select(SealGrant).where(SealGrant.seal_id == row.id).order_by(SealGrant.id)
            if not include_withdrawn:
                q = q.where(SealGrant.withdrawn_at.is_(None))
            return [
                _grant_dict(g, row, s.get(Subscriber, g.member_subscriber_id))
                for g in s.execute(q).scalars()
            ]
