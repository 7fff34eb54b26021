"""State moves that make no new SESeal record: freeze, unfreeze, revoke, PIN leak, expiry, and
the final step of a cancellation.

Each checks the move in the seal's transition table (``seals.lifecycle``) and any extra
condition first, then writes the new state and its audit event in one transaction. They share
``SealHolds.move`` so that hold bookkeeping (kind, time, note; end time of a final state) is
done one way for all of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from yinxin.clock import Clock
from yinxin.errors import Forbidden, IllegalTransition, ValidationError
from yinxin.registry.lifecycle import HoldBy
from yinxin.seals import lifecycle
from yinxin.seals.lifecycle import REVOCATION_REASONS, SealHoldKind, SealState
from yinxin.seals.rows import actor_name, audit_seal, note_text, seal_row, seals_on_key
from yinxin.seals.view import PinLeakView, SealView, SealViews, awaits_pin_change, extend
from yinxin.store.db import Database
from yinxin.store.models.seals import Seal

# A verb's extra check, run after the table allows the move and before anything is written;
# what it returns is added to the audit event's data.
Check = Callable[[Session, Seal, dt.datetime], dict | None]


@dataclass
class SealHooks:
    """What else happens with every seal move (the holder's notice, 004 §七): each of
    ``in_transaction`` is called inside the move's transaction with the session, the row and
    the verb — what it writes (a transactional outbox row) commits or rolls back with the move,
    and it must not call out of the process —; each of ``after_commit`` with the verb, once the
    move has committed."""

    in_transaction: list[Callable[[Session, Seal, str], None]] = field(default_factory=list)
    after_commit: list[Callable[[str], None]] = field(default_factory=list)

    def within(self, s: Session, row: Seal, verb: str) -> None:
        for cb in self.in_transaction:
            cb(s, row, verb)

    def committed(self, verb: str) -> None:
        for cb in self.after_commit:
            cb(verb)


def imposed_by_ca(row: Seal) -> bool:
    """Whether the seal's hold is the CA's: recorded so, or a freeze whose imposer was not
    recorded (a PIN-leak hold of no recorded imposer is lifted by the PIN change)."""
    return row.hold_by == HoldBy.CA or (
        row.hold_kind == SealHoldKind.FROZEN and row.hold_by != HoldBy.HOLDER
    )


class SealHolds:
    """Holds, revocation and expiry of seals."""

    def __init__(
        self, db: Database, clock: Clock, views: SealViews, hooks: SealHooks | None = None
    ):
        self.db, self.clock, self.views = db, clock, views
        self.hooks = hooks if hooks is not None else SealHooks()

    def simple(
        self,
        verb: str,
        seal: int | str,
        actor: str,
        *,
        hold_kind: SealHoldKind | None = None,
        data: dict | None = None,
        check: Check | None = None,
        note: str | None = None,
        hold_by: HoldBy | None = None,
    ) -> SealView:
        """One move on one seal, in its own transaction holding the seal row."""
        note = note_text(note)
        now = self.clock.now()
        with self.db.transaction() as s:
            row = seal_row(s, seal, lock=True)
            out = self.move(
                s,
                row,
                verb,
                actor,
                now,
                hold_kind=hold_kind,
                data=data,
                check=check,
                note=note,
                hold_by=hold_by,
            )
        self.hooks.committed(verb)
        return out

    def move(
        self,
        s: Session,
        row: Seal,
        verb: str,
        actor: str,
        now: dt.datetime,
        *,
        hold_kind: SealHoldKind | None = None,
        data: dict | None = None,
        check: Check | None = None,
        note: str | None = None,
        hold_by: HoldBy | None = None,
    ) -> SealView:
        """``hold_by``: who imposes a freeze beginning now; a PIN leak reported over the CA's
        freeze keeps it the CA's (the holder's PIN change does not lift the CA's hold)."""
        move = lifecycle.check_move(verb, row.state, row.hold_kind, row.es_id)
        extra = (check(s, row, now) if check else None) or {}
        before = row.state + (f" ({row.hold_kind})" if row.hold_kind else "")
        # over the CA's freeze (or a freeze of unknown origin), a new hold stays the CA's
        if row.state == SealState.FROZEN and imposed_by_ca(row):
            hold_by = HoldBy.CA
        row.state = move.to_state
        if move.to_state == SealState.FROZEN:
            row.hold_kind, row.held_at, row.hold_note = hold_kind, now, note
            row.hold_by = hold_by
        else:
            row.hold_kind, row.held_at, row.hold_note, row.hold_by = None, None, None, None
        if move.to_state in lifecycle.FINAL:
            row.ended_at = now
        row.updated_at = now
        data = {"from": before, "to": row.state, "note": note, **(data or {}), **extra}
        audit_seal(s, row.es_id, verb, actor, now, data)
        self.hooks.within(s, row, verb)
        return self.views.of(s, row, now=now)

    def freeze(
        self, seal: int | str, *, actor: str, note: str | None = None, by: HoldBy = HoldBy.CA
    ) -> SealView:
        """冻结: on hold (004 §七); unusable until unfrozen. ``by``: who imposes it
        (``HoldBy``) — the holder lifts only a freeze the holder asked for."""
        by = HoldBy(by)
        return self.simple(
            "freeze",
            seal,
            actor_name(actor),
            hold_kind=SealHoldKind.FROZEN,
            note=note,
            data={"hold_by": str(by)},
            hold_by=by,
        )

    def unfreeze(self, seal: int | str, *, actor: str, by: HoldBy = HoldBy.CA) -> SealView:
        """解冻. A hold for a leaked PIN lifts only once the PIN has been changed since; a
        freeze the CA imposed is not lifted by the holder (403, ``hold_by``)."""
        by = HoldBy(by)

        def pin_changed(s: Session, row: Seal, now: dt.datetime) -> None:
            if by == HoldBy.HOLDER and imposed_by_ca(row):
                raise Forbidden(
                    f"电子印章 {row.es_id} 由认证机构冻结，持有人不能自行解冻，请联系受理点"
                    "（the certification authority imposed this freeze: it lifts it）",
                    field="hold_by",
                    code="frozen_by_ca",
                )
            # the leak report clears pin_changed_at, so a change in the same second counts
            if awaits_pin_change(row):
                raise Forbidden(
                    f"seal {row.es_id} was frozen because its PIN leaked: change the "
                    "seal PIN first",
                    field="pin",
                    code="pin_change_required",
                )

        return self.simple("unfreeze", seal, actor_name(actor), check=pin_changed)

    def revoke(
        self, seal: int | str, *, reason: str, actor: str, note: str | None = None
    ) -> SealView:
        """废止 on one of the agreement's grounds (004 §十一); final."""
        if reason not in REVOCATION_REASONS:
            raise ValidationError(
                f"unknown revocation reason {reason!r}; choose one of "
                f"{', '.join(REVOCATION_REASONS)}",
                field="reason",
            )
        if reason == "other" and not (note or "").strip():
            raise ValidationError(
                "say what the other ground is (e.g. the law requiring it)", field="note"
            )
        note = note_text(note)
        actor = actor_name(actor)

        def mark(s: Session, row: Seal, now: dt.datetime) -> None:
            row.revoked_at, row.revocation_reason, row.revocation_note = now, reason, note

        return self.simple(
            "revoke",
            seal,
            actor,
            check=mark,
            note=note,
            data={"reason": reason, "reason_text": REVOCATION_REASONS[reason]},
        )

    def report_pin_leak(
        self, seal: int | str, *, actor: str, note: str | None = None
    ) -> PinLeakView:
        """印章密码泄漏/丢失 (004 §六, §七): freeze at once every live seal opened by that PIN."""
        actor, note = actor_name(actor), note_text(note)
        now = self.clock.now()
        with self.db.transaction() as s:
            # every seal the PIN opens is held, this one among them, before any is judged: a
            # seal revoked or cancelled meanwhile is seen so and left alone (the leak wrote its
            # frozen state over a revocation it had not waited for, on PostgreSQL)
            row = seal_row(s, seal)
            on_key = seals_on_key(s, row, lock=True)
            lifecycle.check_move("report_pin_leak", row.state, row.hold_kind, row.es_id)
            others = [
                o
                for o in on_key
                if o.id != row.id and o.state in lifecycle.MOVES["report_pin_leak"].from_states
            ]
            also = [o.es_id for o in others]
            for leaked in (row, *others):  # "changed since the leak" starts now
                leaked.pin_changed_at = None
            out = self.move(
                s,
                row,
                "report_pin_leak",
                actor,
                now,
                hold_kind=SealHoldKind.PIN_LEAK,
                note=note,
                data={"also_frozen": also},
            )
            for other in others:
                self.move(
                    s,
                    other,
                    "report_pin_leak",
                    actor,
                    now,
                    hold_kind=SealHoldKind.PIN_LEAK,
                    note=note,
                    data={"reported_on": row.es_id},
                )
        self.hooks.committed("report_pin_leak")
        return extend(out, PinLeakView, also_frozen=also)

    def expire_due(self, *, actor: str = "scheduler") -> list[str]:
        """Mark seals past their end of validity as expired (run by the scheduler)."""
        now = self.clock.now()
        with self.db.read() as s:
            due = (
                s.execute(
                    select(Seal.id)
                    .where(
                        Seal.state.in_(lifecycle.MOVES["expire"].from_states), Seal.valid_end <= now
                    )
                    .order_by(Seal.id)
                )
                .scalars()
                .all()
            )
        done = []
        for seal_id in due:
            try:
                done.append(self.simple("expire", seal_id, actor).es_id)
            except IllegalTransition:
                continue  # moved on meanwhile (cancelled, revoked)
        return done
