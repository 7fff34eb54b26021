"""Seal authorizations (用印授权): an organization lets one of its people use one of its seals.

A grant does not open the seal: the member still needs the seal PIN, and the seal, its
certificate and its key must be usable at that moment (``seals.usability.problem`` asks
``grant_refusal`` at use time, so a withdrawal takes effect at once). Grants are rows of their
own rather than a column on the seal so that withdrawn ones stay on record with who and when.

A grant may carry an end (授权期限, ``valid_until``: in the future when granted, not beyond the
seal's validity nor its certificate's end) and a number of signings (用印次数, ``max_uses``);
either left out means none. A grant past its end or with every use spent stays on record, not
withdrawn, but is no longer *in force*: signing under it is refused naming it, and the
organization may grant the member again. ``use_grant`` counts the signings, in the transaction
that records them, holding the grant's row so that two signings at once cannot both take the
last use.

Nor is a grant in force whose person is registered under another organization than the seal's
(``other_organization``): ``grant`` refuses to make one, but rows written before it did stay in
older databases, and the person's row is what is read at each use (``outside``, and
``_member_inside`` in SQL: every signing path, listing and view asks them). Such a grant is
kept and shown with that state, for the organization to withdraw; nothing deletes it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from yinxin.clock import Clock
from yinxin.errors import Conflict, Forbidden, NotFound, ValidationError
from yinxin.results import from_row
from yinxin.seals import lifecycle
from yinxin.seals.catalogue import ORGANIZATION_KINDS
from yinxin.seals.rows import (
    actor_name,
    audit_seal,
    certificate_and_key,
    note_text,
    seal_row,
    subscriber_row,
)
from yinxin.store.db import Database
from yinxin.store.models import Subscriber
from yinxin.store.models.seals import Seal, SealGrant
from yinxin.store.queries import holder_organization


def _live_grants(seal_id: int, member_id: int | None = None) -> Select:
    """The grants of the seal not withdrawn (to one member, if named), in the order made."""
    q = select(SealGrant).where(SealGrant.seal_id == seal_id, SealGrant.withdrawn_at.is_(None))
    if member_id is not None:
        q = q.where(SealGrant.member_subscriber_id == member_id)
    return q.order_by(SealGrant.id)


MAX_USES = 1_000_000
OTHER_ORGANIZATION = "other_organization"  # a grant's state, and the refusal's code


def seal_organization(s: Session, seal: Seal) -> int:
    """The organization whose seal this is (``Seal.organization_id``; a row older than that
    column, which migration 0034 fills: its holder's)."""
    if seal.organization_id is not None:
        return seal.organization_id
    return holder_organization(subscriber_row(s, seal.subscriber_id, "seal"))


def outside(member: Subscriber | None, owner: int) -> int | None:
    """The other organization ``member`` is registered under, not ``owner`` whose seal it is
    (None: a person of ``owner``'s, or one registered on their own — whom a grant may name)."""
    if member is None or member.organization_id in (None, owner):
        return None
    return member.organization_id


def _member_inside() -> ColumnElement[bool]:
    """The condition that the grant's person is not registered under another organization than
    the seal's: ``outside`` in SQL, read from the current rows (correlated to ``SealGrant``)."""
    member, seal, holder = aliased(Subscriber), aliased(Seal), aliased(Subscriber)
    holders = (
        select(func.coalesce(holder.organization_id, holder.id))
        .where(holder.id == seal.subscriber_id)
        .scalar_subquery()
    )
    owner = func.coalesce(seal.organization_id, holders)
    return exists().where(
        member.id == SealGrant.member_subscriber_id,
        seal.id == SealGrant.seal_id,
        or_(member.organization_id.is_(None), member.organization_id == owner),
    )


def _in_force(now: dt.datetime) -> ColumnElement[bool]:
    """The condition that a grant is in force: not withdrawn, not past its end, a use left,
    its person not another organization's."""
    return and_(
        SealGrant.withdrawn_at.is_(None),
        or_(SealGrant.valid_until.is_(None), SealGrant.valid_until > now),
        or_(SealGrant.max_uses.is_(None), SealGrant.uses < SealGrant.max_uses),
        _member_inside(),
    )


def grant_state(g: SealGrant, now: dt.datetime, elsewhere: int | None = None) -> str:
    """``withdrawn``, ``other_organization`` (its person is registered under ``elsewhere``,
    another organization than the seal's: ``outside``), ``expired`` (past its end),
    ``used_up`` (every use spent) or ``active``."""
    if g.withdrawn_at is not None:
        return "withdrawn"
    if elsewhere is not None:
        return OTHER_ORGANIZATION
    if g.valid_until is not None and g.valid_until <= now:
        return "expired"
    if g.max_uses is not None and g.uses >= g.max_uses:
        return "used_up"
    return "active"


GRANT_NOT_IN_FORCE = "grant_not_in_force"  # an automatic-signing authorization's refusal


def authorization_grant_state(
    s: Session, seal: Seal, member_id: int, grant_id: int | None, now: dt.datetime
) -> str:
    """Where the grant stands under which ``member_id`` (not the seal's holder) made an
    automatic-signing authorization: ``active`` (in force for it), ``other_organization``,
    ``withdrawn``, ``expired``, ``used_up`` or ``none`` — anything but ``active`` and the
    authorization authorises nothing.

    ``grant_id`` names the grant its documents were taken from when it was made: that grant's
    being *used up* does not stop it (its own documents are what used it up), but its
    withdrawal or end does, for good — a later grant to the same person is a new decision with
    its own count, and does not revive it. An authorization made before its grant was recorded
    (``grant_id`` None, migration 0028) took nothing from a grant: it needs a grant of the
    member's in force now, as a signing would."""
    elsewhere = outside(s.get(Subscriber, member_id), seal_organization(s, seal))
    if elsewhere is not None:
        return OTHER_ORGANIZATION
    if grant_id is not None:
        g = s.get(SealGrant, grant_id)
        if g is None or g.seal_id != seal.id or g.member_subscriber_id != member_id:
            return "none"
        state = grant_state(g, now)
        return "active" if state == "used_up" else state
    states = [grant_state(g, now) for g in s.execute(_live_grants(seal.id, member_id)).scalars()]
    if "active" in states:
        return "active"
    return states[-1] if states else "none"


def usable_grants(member_id: int, now: dt.datetime) -> ColumnElement[bool]:
    """The condition that a seal is one the member may use now through a grant in force: the
    grant not withdrawn, past its end or used up, the seal active and within its validity (a
    frozen, revoked, cancelled or expired seal is not offered, though the grant row stays)."""
    granted = select(SealGrant.seal_id).where(
        SealGrant.member_subscriber_id == member_id, _in_force(now)
    )
    return and_(
        Seal.id.in_(granted),
        Seal.state == lifecycle.SealState.ACTIVE,
        Seal.valid_start <= now,
        Seal.valid_end > now,
    )


def _refusal(
    s: Session, grants: list[SealGrant], seal: Seal, member_id: int, now: dt.datetime, uses: int
) -> tuple[SealGrant | None, Forbidden | None]:
    """The grant in force that allows ``uses`` more signings, or why none does (naming it).

    A person registered under another organization than the seal's is refused whatever the
    grant's end and uses (naming ``seal``: the seal is what the person may not use), before
    any code or PIN: an old row ``grant`` would refuse now, or a person moved since."""
    owner = seal_organization(s, seal)
    elsewhere = outside(s.get(Subscriber, member_id), owner) if grants else None
    if elsewhere is not None:
        g = grants[-1]
        return None, Forbidden(
            f"grant #{g.id} of seal {seal.es_id} to subscriber #{member_id} is not in force: "
            f"the person is registered under organization #{elsewhere}, not under #{owner} "
            "whose seal this is; the organization should withdraw it "
            "(用印授权不生效：被授权人不属于用印单位，请撤销该授权)",
            field="seal",
            code=OTHER_ORGANIZATION,
        )
    for g in grants:
        if grant_state(g, now) == "active" and (g.max_uses is None or g.uses + uses <= g.max_uses):
            return g, None
    if not grants:
        return None, Forbidden(
            f"subscriber #{member_id} is not authorized to use seal {seal.es_id} (用印授权)",
            field="member_subscriber_id",
            code="not_authorized",
        )
    g = grants[-1]
    name = f"grant #{g.id} of seal {seal.es_id} to subscriber #{member_id}"
    state = grant_state(g, now)
    if state == "expired":
        assert g.valid_until is not None
        return None, Forbidden(
            f"{name} ended at {g.valid_until:%Y-%m-%d %H:%M:%S} UTC (授权期限已过)",
            field="member_subscriber_id",
            code="grant_expired",
        )
    left = (g.max_uses or 0) - g.uses
    why = (
        f"has used all {g.max_uses} signings it allows (用印次数已用完)"
        if left <= 0
        else f"allows {left} more signing(s), not {uses} (用印次数不足)"
    )
    return None, Forbidden(f"{name} {why}", field="member_subscriber_id", code="grant_used_up")


def grant_refusal(
    s: Session, seal: Seal, member_id: int, now: dt.datetime, uses: int = 1
) -> Forbidden | None:
    """Why the member may not make ``uses`` signings with the organization seal now (no
    grant, or the grant withdrawn, to a person of another organization's, past its end or with
    fewer uses left), or None; reads current rows only."""
    grants = list(s.execute(_live_grants(seal.id, member_id)).scalars())
    return _refusal(s, grants, seal, member_id, now, uses)[1]


def use_grant(s: Session, seal: Seal, member_id: int, now: dt.datetime, uses: int = 1) -> SealGrant:
    """In the transaction that records ``uses`` signatures the member makes with the seal:
    hold the member's grants (``FOR UPDATE``, read afresh) and count the uses on the one in
    force, or refuse as ``grant_refusal`` would. A second signing at the same moment waits for
    this transaction's end and then sees the count it left (PostgreSQL); SQLite's writer
    transaction holds the write lock from ``BEGIN``."""
    grants = list(
        s.execute(
            _live_grants(seal.id, member_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalars()
    )
    g, refusal = _refusal(s, grants, seal, member_id, now, uses)
    if refusal is not None:
        raise refusal
    assert g is not None
    g.uses += uses
    return g


def granted_members(s: Session, seal_id: int, now: dt.datetime) -> list[int]:
    """The subscriber ids of the members who may use the seal now, in the order granted."""
    q = (
        select(SealGrant.member_subscriber_id)
        .where(SealGrant.seal_id == seal_id, _in_force(now))
        .order_by(SealGrant.id)
    )
    return list(dict.fromkeys(s.execute(q).scalars()))


def _in_force_row(s: Session, seal_id: int, member_id: int, now: dt.datetime) -> SealGrant | None:
    q = _live_grants(seal_id, member_id).with_for_update()
    return next((g for g in s.execute(q).scalars() if grant_state(g, now) == "active"), None)


def _limits(
    valid_until: dt.datetime | None, max_uses: int | None
) -> tuple[dt.datetime | None, int | None]:
    """The end and the number of uses as given, checked for their form (the end against the
    clock and the seal later): a time with its zone, a whole number 1–``MAX_USES``."""
    if valid_until is not None:
        if not isinstance(valid_until, dt.datetime) or valid_until.tzinfo is None:
            raise ValidationError(
                "valid_until (授权期限) must be a time with its time zone", field="valid_until"
            )
        valid_until = valid_until.astimezone(dt.UTC).replace(microsecond=0)
    if max_uses is not None:
        if isinstance(max_uses, bool) or not isinstance(max_uses, int):
            raise ValidationError("max_uses (用印次数) must be a whole number", field="max_uses")
        if not 1 <= max_uses <= MAX_USES:
            raise ValidationError(f"max_uses (用印次数) must be 1–{MAX_USES}", field="max_uses")
    return valid_until, max_uses


def _refuse_other_organizations(s: Session, seal: Seal, member: Subscriber) -> None:
    """Refuse a grant of ``seal`` to a person registered under another organization: that
    organization's staff (its administrator sees and manages them), not this one's — one
    organization's seal signed by another's people. A person registered on their own may be
    granted: no organization can take an existing subscriber in as its staff (the organization
    is set at registration), so a grant is how one lets a person it works with use its seal."""
    owner = seal_organization(s, seal)
    elsewhere = outside(member, owner)
    if elsewhere is not None:
        raise ValidationError(
            f"{member.name} (#{member.id}) is registered under organization "
            f"#{elsewhere}, not under #{owner} whose seal {seal.es_id} this is: "
            "an organization grants its seal's use to its own people (用印授权), or to a "
            "person registered on their own",
            field="member_subscriber_id",
            code="other_organization",
        )


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
    active: bool  # not withdrawn (it may still be past its end or used up: see ``state``)
    valid_until: dt.datetime | None  # 授权期限: None, until withdrawn
    max_uses: int | None  # 用印次数: None, no limit
    uses: int  # signings made under the grant
    remaining_uses: int | None  # None: no limit
    # active (in force), other_organization (its person is registered under another
    # organization: not in force, to be withdrawn), expired, used_up or withdrawn
    state: str

    @classmethod
    def of(
        cls, g: SealGrant, seal: Seal, member: Subscriber | None, now: dt.datetime, owner: int
    ) -> GrantView:
        """``owner``: the seal's organization (``seal_organization``)."""
        return from_row(
            cls,
            g,
            seal_id=seal.id,
            es_id=seal.es_id,
            member_name=member.name if member else None,
            active=g.withdrawn_at is None,
            uses=g.uses or 0,
            remaining_uses=None if g.max_uses is None else max(g.max_uses - (g.uses or 0), 0),
            state=grant_state(g, now, outside(member, owner)),
        )


class SealGrants:
    """Grant, withdraw and list the use of organization seals by their members."""

    def __init__(self, db: Database, clock: Clock):
        self.db, self.clock = db, clock

    def grant(
        self,
        seal: int | str,
        member_subscriber_id: int,
        *,
        actor: str,
        note: str | None = None,
        valid_until: dt.datetime | None = None,
        max_uses: int | None = None,
    ) -> GrantView:
        """The organization lets one of its people use this seal (with the seal PIN), until
        withdrawn or, if given, until ``valid_until`` or for ``max_uses`` signings."""
        valid_until, max_uses = _limits(valid_until, max_uses)

        def make(s: Session, row: Seal, actor: str, now: dt.datetime) -> SealGrant:
            if row.kind not in ORGANIZATION_KINDS:
                raise ValidationError(
                    "a personal seal is used by its holder only; grants are for organization seals",
                    field="seal",
                )
            lifecycle.check_manageable("grant use", row.state, row.es_id)
            if valid_until is not None:
                cert, _ = certificate_and_key(s, row)
                end = min(row.valid_end, cert.not_after)
                if valid_until <= now:
                    raise ValidationError(
                        "valid_until (授权期限) must be in the future", field="valid_until"
                    )
                if valid_until > end:
                    raise ValidationError(
                        f"valid_until (授权期限) is after seal {row.es_id} or its certificate "
                        f"ends ({end:%Y-%m-%d %H:%M:%S} UTC)",
                        field="valid_until",
                    )
            member = subscriber_row(s, member_subscriber_id, "member_subscriber_id")
            if member.kind != "person":
                raise ValidationError(
                    f"seal use is granted to people; #{member.id} is a {member.kind}",
                    field="member_subscriber_id",
                )
            _refuse_other_organizations(s, row, member)
            if _in_force_row(s, row.id, member.id, now):
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
                valid_until=valid_until,
                max_uses=max_uses,
                uses=0,
            )
            s.add(g)
            s.flush()
            return g

        return self._write("grant", seal, actor, note, make)

    def withdraw(
        self, seal: int | str, member_subscriber_id: int, *, actor: str, note: str | None = None
    ) -> GrantView:
        """Withdraw a member's right to use the seal, at once (every grant of the member's not
        withdrawn yet, in force or past its end or used up: the last one is shown)."""

        def end(s: Session, row: Seal, actor: str, now: dt.datetime) -> SealGrant:
            q = _live_grants(row.id, member_subscriber_id).with_for_update()
            live = list(s.execute(q).scalars())
            if not live:
                raise NotFound(
                    f"subscriber #{member_subscriber_id} holds no grant for seal {row.es_id}",
                    field="member_subscriber_id",
                    code="not_granted",
                )
            for g in live:
                g.withdrawn_at, g.withdrawn_by = now, actor
            return live[-1]

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
                data["valid_until"] = g.valid_until.isoformat() if g.valid_until else None
                data["max_uses"] = g.max_uses
            audit_seal(s, row.es_id, verb, actor, now, {**data, "note": note})
            return GrantView.of(g, row, member, now, seal_organization(s, row))

    def list_for(self, seal: int | str, *, include_withdrawn: bool = False) -> list[GrantView]:
        """The grants not withdrawn (in force, past their end or used up), or all of them."""
        now = self.clock.now()
        with self.db.read() as s:
            row = seal_row(s, seal)
            q = (
                select(SealGrant).where(SealGrant.seal_id == row.id).order_by(SealGrant.id)
                if include_withdrawn
                else _live_grants(row.id)
            )
            owner = seal_organization(s, row)
            return [
                GrantView.of(g, row, s.get(Subscriber, g.member_subscriber_id), now, owner)
                for g in s.execute(q).scalars()
            ]
