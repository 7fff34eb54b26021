"""What the seal service shows of a seal: one typed ``SealView``, shaped in one place.

Every verb answers with the seal as it stands after the change; the CLI prints it, the coming
HTTP API will serve it and the tests read it. Building it here, once, keeps its fields from
drifting between verbs. The fields are typed (times as datetimes, states and kinds as enums) so
an API schema can be derived from them; ``yinxin.results.plain`` gives the JSON shape (the
field names are the JSON keys).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.orm import Session

from yinxin.clock import Clock
from yinxin.registry.lifecycle import CertificateState, HoldBy, HoldKind
from yinxin.registry.views import KeyHolder
from yinxin.results import from_row
from yinxin.seals.catalogue import KINDS, ImageSource, SealKind
from yinxin.seals.files import SealFiles
from yinxin.seals.grants import granted_members
from yinxin.seals.lifecycle import SealHoldKind, SealState
from yinxin.seals.rows import certificate_and_key, mask, sha
from yinxin.seals.usability import problem
from yinxin.store.models.seals import Seal


@dataclass(frozen=True)
class SealView:
    """A seal with its certificate's status, its key's lock and whether it can sign now."""

    id: int
    es_id: str
    kind: SealKind
    kind_title: str
    name: str
    subscriber_id: int
    certificate_serial: str
    certificate_status: CertificateState
    certificate_hold_kind: HoldKind | None
    key: KeyHolder
    holder_name: str
    holder_id_type: str
    holder_id_number: str | None  # masked unless revealed
    project: str
    image_source: ImageSource
    center_text: str | None
    code: str | None
    state: SealState
    hold_kind: SealHoldKind | None
    # who imposed a freeze (holder | ca): a holder lifts only its own
    hold_by: HoldBy | None
    held_at: dt.datetime | None
    # when the seal PIN was last changed since a leak was reported (a report clears it)
    pin_changed_at: dt.datetime | None
    # frozen for a leaked PIN that has not been changed since: 解冻 is refused until it is
    awaits_pin_change: bool
    revoked_at: dt.datetime | None
    revocation_reason: str | None
    ended_at: dt.datetime | None
    valid_start: dt.datetime
    valid_end: dt.datetime
    width_mm: float
    height_mm: float
    version: int
    locked: bool
    failed_pin_attempts: int | None  # None for a subscriber-held key
    usable: bool
    unusable_reason: str | None
    # why not, for a program (seal_not_active, seal_expired, certificate_not_valid, …)
    unusable_code: str | None
    authorized_members: list[int]
    # shown to a person who may use the seal through a grant (用印授权), not its holder: the
    # seal is ``subscriber_id``'s, and the holder's own details are left out
    via_grant: bool
    png_sha256: str
    seseal_sha256: str
    files: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class PinLeakView(SealView):
    """The seal reported, and the other live seals its PIN opens, frozen with it."""

    also_frozen: list[str]


@dataclass(frozen=True)
class ExportedSealView(SealView):
    """The seal, and where its files were exported (file name → path)."""

    exported: dict[str, str]


R = TypeVar("R")


def extend(result: object, cls: type[R], **extra: object) -> R:
    """A result (a dataclass) as its subclass ``cls``, with that class's extra fields."""
    return cls(**{f.name: getattr(result, f.name) for f in dataclasses.fields(result)}, **extra)


def awaits_pin_change(seal: Seal) -> bool:
    """Whether the seal is frozen for a leaked PIN not changed since, which ``unfreeze``
    refuses (``pin_change_required``); one rule for the refusal and for the view."""
    return (
        seal.state == SealState.FROZEN
        and seal.hold_kind == SealHoldKind.PIN_LEAK
        and seal.pin_changed_at is None
    )


def granted_view(view: SealView) -> SealView:
    """The seal as a member using it through a grant sees it in a listing: what it is, whose
    it is and whether it can sign now — not the holder's ID number, who else may use it, the
    count of wrong PINs or where its files are."""
    return dataclasses.replace(
        view,
        via_grant=True,
        holder_id_number=None,
        authorized_members=[],
        failed_pin_attempts=None,
        pin_changed_at=None,
        files=None,
    )


class SealViews:
    """Builds ``SealView``s from rows in the caller's session (so a verb shows what it wrote)."""

    def __init__(self, clock: Clock, files: SealFiles):
        self.clock, self.files = clock, files

    def of(
        self, s: Session, seal: Seal, *, reveal: bool = False, now: dt.datetime | None = None
    ) -> SealView:
        cert, key = certificate_and_key(s, seal)
        now = now or self.clock.now()
        grants = granted_members(s, seal.id, now)
        p = problem(s, seal, cert, key, None, now)
        return from_row(
            SealView,
            seal,
            kind=SealKind(seal.kind),
            kind_title=KINDS[seal.kind].title,
            certificate_serial=cert.serial_hex,
            certificate_status=CertificateState(cert.status),
            certificate_hold_kind=HoldKind(cert.hold_kind) if cert.hold_kind else None,
            key=KeyHolder.PLATFORM if key else KeyHolder.SUBSCRIBER,
            holder_id_number=seal.holder_id_number if reveal else mask(seal.holder_id_number),
            image_source=ImageSource(seal.image_source),
            state=SealState(seal.state),
            hold_kind=SealHoldKind(seal.hold_kind) if seal.hold_kind else None,
            hold_by=HoldBy(seal.hold_by) if seal.hold_by else None,
            awaits_pin_change=awaits_pin_change(seal),
            locked=bool(key and key.locked),
            failed_pin_attempts=key.failed_attempts if key else None,
            usable=p is None,
            unusable_reason=p.message if p else None,
            unusable_code=p.code if p else None,
            authorized_members=grants,
            via_grant=False,
            png_sha256=sha(seal.png),
            seseal_sha256=sha(seal.seseal),
            files=str(self.files.directory(seal.es_id)) if seal.es_id else None,
        )
