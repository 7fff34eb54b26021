"""Seal authorizations (用印授权): an organization lets one of its people use one of its seals.

A grant does not open the seal: the member still needs the seal PIN, and the seal, its
certificate and its key must be usable at that moment (``seals.usability.problem`` asks
``is_granted`` at use time, so a withdrawal takes effect at once). Grants are rows of their own
rather than a column on the seal so that withdrawn ones stay on record with who and when.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.orm import Session

from yinxin.clock import Clock
from yinxin.errors import Conflict, NotFound, ValidationError
from yinxin.results import from_row
from yinxin.seals import lifecycle
from yinxin.seals.catalogue import ORGANIZATION_KINDS
from yinxin.seals.rows import actor_name, audit_seal, note_text, seal_row, subscriber_row
from yinxin.store.db import Database
from yinxin.store.models import Subscriber
from yinxin.store.models.seals import Seal, SealGrant


def _live_grants(seal_id: int, member_id: int | None = None) -> Select:
    """The grants of the seal not withdrawn (to one member, if named), in the order made."""
    q = select(SealGrant).where(SealGrant.seal_id == seal_id, SealGrant.withdrawn_at.is_(None))
    if member_id is not None:
        q = q.where(SealGrant.member_subscriber_id == member_id)
    return q.order_by(SealGrant.id)


def usable_grants(member_id: int, now: dt.datetime) -> ColumnElement[bool]:
    """The condition that a seal is one the member may use now through a live grant: the
    grant not withdrawn, the seal active and within its validity (a frozen, revoked, cancelled
    or expired seal is not offered, though the grant row stays)."""
    granted = select(SealGrant.seal_id).where(
        SealGrant.member_subscriber_id == member_id, SealGrant.withdrawn_at.is_(None)
    )
    return and_(
        Seal.id.in_(granted),
        Seal.state == lifecycle.SealState.ACTIVE,
        Seal.valid_start <= now,
        Seal.valid_end > now,
    )


def is_granted(s: Session, seal_id: int, member_id: int) -> bool:
    """Whether the member holds a grant for the seal that has not been withdrawn."""
    return s.execute(_live_grants(seal_id, member_id)).first() is not None


def granted_members(s: Session, seal_id: int) -> list[int]:
    """The subscriber ids of the members who may use the seal now, in the order granted."""
    return [g.member_subscriber_id for g in s.execute(_live_grants(seal_id)).scalars()]


def _grant_row(s: Session, seal_id: int, member_id: int) -> SealGrant | None:
    return s.execute(_live_grants(seal_id, member_id).with_for_update()).scalars().first()


@dataclass(frozen=True)
class GrantView:
    """One authorization of a seal to a member, active or withdrawn."""

    id: int
    seal_id: int
    es_id: str
    member_subscriber_id: int
    member_name: str | None
    granted_by: str
    granted_at: dt.datetime
    note: str | None
    withdrawn_by: str | None
    withdrawn_at: dt.datetime | None
    active: bool

    @classmethod
    def of(cls, g: SealGrant, seal: Seal, member: Subscriber | None) -> GrantView:
        return from_row(
            cls,
            g,
            seal_id=seal.id,
            es_id=seal.es_id,
            member_name=member.name if member else None,
            active=g.withdrawn_at is None,
        )


class SealGrants:
    """Grant, withdraw and list the use of organization seals by their members."""

    def __init__(self, db: Database, clock: Clock):
        self.db, self.clock = db, clock

    def grant(
        self, seal: int | str, member_subscriber_id: int, *, actor: str, note: str | None = None
    ) -> GrantView:
        """The organization lets one of its people use this seal (with the seal PIN)."""

        def make(s: Session, row: Seal, actor: str, now: dt.datetime) -> SealGrant:
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
            return g

        return self._write("grant", seal, actor, note, make)

    def withdraw(
        self, seal: int | str, member_subscriber_id: int, *, actor: str, note: str | None = None
    ) -> GrantView:
        """Withdraw a member's right to use the seal, at once."""

        def end(s: Session, row: Seal, actor: str, now: dt.datetime) -> SealGrant:
            g = _grant_row(s, row.id, member_subscriber_id)
            if g is None:
                raise NotFound(
                    f"subscriber #{member_subscriber_id} holds no grant for seal {row.es_id}",
                    field="member_subscriber_id",
                    code="not_granted",
                )
            g.withdrawn_at, g.withdrawn_by = now, actor
            return g

        return self._write("withdraw", seal, actor, note, end)

    def _write(
        self,
        verb: str,
        seal: int | str,
        actor: str,
        note: str | None,
        step: Callable[[Session, Seal, str, dt.datetime], SealGrant],
    ) -> GrantView:
        """Run ``step`` on the locked seal row and audit the grant it made or ended."""
        actor, note = actor_name(actor), note_text(note)
        now = self.clock.now()
        with self.db.transaction() as s:
            row = seal_row(s, seal, lock=True)
            g = step(s, row, actor, now)
            member = s.get(Subscriber, g.member_subscriber_id)
            data = {"grant_id": g.id, "member_subscriber_id": g.member_subscriber_id}
            if verb == "grant":
                data["member_name"] = member.name if member else None
            audit_seal(s, row.es_id, verb, actor, now, {**data, "note": note})
            return GrantView.of(g, row, member)

    def list_for(self, seal: int | str, *, include_withdrawn: bool = False) -> list[GrantView]:
        with self.db.read() as s:
            row = seal_row(s, seal)
            q = (
                select(SealGrant).where(SealGrant.seal_id == row.id).order_by(SealGrant.id)
                if include_withdrawn
                else _live_grants(row.id)
            )
            return [
                GrantView.of(g, row, s.get(Subscriber, g.member_subscriber_id))
                for g in s.execute(q).scalars()
            ]
