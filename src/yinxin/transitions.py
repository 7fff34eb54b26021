"""The mechanism behind every lifecycle: a table of allowed moves, checked before any write.

Each subject (certificate, seal, …) declares its states as a ``StrEnum`` and its table as data —
which states a verb may start from, which kinds of hold it may lift, the state it ends in — and
calls ``check`` first. An unknown verb or a move the table does not allow is refused with
``IllegalTransition`` naming the states the verb is allowed from, so the caller writes nothing.

The table is generic in its state type ``S`` (any ``str``, in practice a ``StrEnum`` whose
values are what the database stores): ``check`` accepts the stored string and the move it
returns carries the typed states.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from yinxin.errors import IllegalTransition, ValidationError

S = TypeVar("S", bound=str)
E = TypeVar("E", bound=StrEnum)


# The state a lifecycle starts from before its row exists (``NONE = "none"``): no row is in it.
BEFORE_ROW = "none"


def filter_values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The values a listing may be filtered by: every member but :data:`BEFORE_ROW`."""
    return tuple(m.value for m in enum if m.value != BEFORE_ROW)


def listed(enum: type[E], value: str | None, field: str) -> E | None:
    """A listing's filter as a member of ``enum``; ``None`` or "" (no filter) as ``None``.

    A value that is no member is refused naming ``field`` and the members: an unknown state
    or kind matches no row, and an empty answer would read as "there are none" (``cert list
    --status revokd`` said nothing at all). So is ``none``, the state before a row exists."""
    if value is None or value == "":
        return None
    allowed = filter_values(enum)
    if value not in allowed:
        raise ValidationError(
            f"{field} must be one of {', '.join(allowed)}, not {value!r}", field=field
        )
    return enum(value)


@dataclass(frozen=True)
class Move(Generic[S]):
    verb: str
    title: str
    from_states: frozenset[S]
    to_state: S  # the state of the subject afterwards
    hold_kinds: frozenset[str] | None = None  # out of the hold state: which holds it lifts
    creates: bool = False  # makes a new artefact (a successor certificate, a SESeal record)


def move(
    verb: str,
    title: str,
    frm: Iterable[S],
    to: S,
    hold_kinds: Iterable[str] | None = None,
    creates: bool = False,
) -> Move[S]:
    return Move(
        verb, title, frozenset(frm), to, frozenset(hold_kinds) if hold_kinds else None, creates
    )


class TransitionTable(Generic[S]):
    def __init__(self, subject: str, field: str, hold_state: S | None, moves: Iterable[Move[S]]):
        self.subject, self.field, self.hold_state = subject, field, hold_state
        self.moves: dict[str, Move[S]] = {m.verb: m for m in moves}

    def __getitem__(self, verb: str) -> Move[S]:
        return self.moves[verb]

    def check(self, verb: str, state: str, hold_kind: str | None, ident: str) -> Move[S]:
        m = self.moves.get(verb)
        if m is None:
            raise IllegalTransition(f"unknown {self.subject} lifecycle verb {verb!r}", field="verb")
        if state not in m.from_states:
            allowed = ", ".join(sorted(m.from_states))
            raise IllegalTransition(
                f"cannot {verb} {self.subject} {ident}: it is {state} "
                f"({verb} is allowed only from {allowed})",
                field=self.field,
            )
        if state == self.hold_state and m.hold_kinds is not None and hold_kind not in m.hold_kinds:
            raise IllegalTransition(
                f"cannot {verb} {self.subject} {ident}: it is on hold ({hold_kind}); "
                f"{verb} lifts only {', '.join(sorted(m.hold_kinds))} holds",
                field=self.field,
            )
        return m
