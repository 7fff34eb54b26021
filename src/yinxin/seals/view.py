"""What the seal service shows of a seal: one typed ``SealView``, shaped in one place.

Every verb answers with the seal as it stands after the change; the CLI prints it, the coming
HTTP API will serve it and the tests index it. Building it here, once, keeps those keys from
drifting between verbs. ``SealView.to_dict()`` gives the JSON shape the CLI and tests use today
(same keys, same order); the fields are typed so an API schema can be derived from them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from sqlalchemy.orm import Session

from yinxin.clock import Clock
from yinxin.seals.catalogue import KINDS
from yinxin.seals.files import SealFiles
from yinxin.seals.grants import granted_members
from yinxin.seals.pin import problem
from yinxin.seals.rows import certificate_and_key, iso, mask, sha
from yinxin.store.models.seals import Seal


@dataclass(frozen=True)
class SealView:
    """A seal with its certificate's status, its key's lock and whether it can sign now."""

    id: int
    es_id: str
    kind: str
    kind_title: str
    name: str
    subscriber_id: int
    certificate_serial: str
    certificate_status: str
    certificate_hold_kind: str | None
    key: str  # "platform" (signs here, with the seal PIN) or "subscriber" (CSR; signs locally)
    holder_name: str
    holder_id_type: str
    holder_id_number: str | None  # masked unless revealed
    project: str
    image_source: str
    center_text: str | None
    code: str | None
    state: str
    hold_kind: str | None
    held_at: str | None
    revoked_at: str | None
    revocation_reason: str | None
    ended_at: str | None
    valid_start: str
    valid_end: str
    width_mm: float
    height_mm: float
    version: int
    locked: bool
    failed_pin_attempts: int | None  # None for a subscriber-held key
    usable: bool
    unusable_reason: str | None
    authorized_members: list[int]
    png_sha256: str
    seseal_sha256: str
    files: str | None
    created_at: str
    updated_at: str

    def to_dict(self) -> dict:
        return asdict(self)


class SealViews:
    """Builds ``SealView``s from rows in the caller's session (so a verb shows what it wrote)."""

    def __init__(self, clock: Clock, files: SealFiles):
        self.clock, self.files = clock, files

    def of(
        self, s: Session, seal: Seal, *, reveal: bool = False, now: dt.datetime | None = None
    ) -> SealView:
        cert, key = certificate_and_key(s, seal)
        grants = granted_members(s, seal.id)
        p = problem(s, seal, cert, key, None, now or self.clock.now())
        return SealView(
            id=seal.id,
            es_id=seal.es_id,
            kind=seal.kind,
            kind_title=KINDS[seal.kind].title,
            name=seal.name,
            subscriber_id=seal.subscriber_id,
            certificate_serial=cert.serial_hex,
            certificate_status=cert.status,
            certificate_hold_kind=cert.hold_kind,
            key="platform" if key else "subscriber",
            holder_name=seal.holder_name,
            holder_id_type=seal.holder_id_type,
            holder_id_number=seal.holder_id_number if reveal else mask(seal.holder_id_number),
            project=seal.project,
            image_source=seal.image_source,
            center_text=seal.center_text,
            code=seal.code,
            state=seal.state,
            hold_kind=seal.hold_kind,
            held_at=iso(seal.held_at),
            revoked_at=iso(seal.revoked_at),
            revocation_reason=seal.revocation_reason,
            ended_at=iso(seal.ended_at),
            valid_start=seal.valid_start.isoformat(),
            valid_end=seal.valid_end.isoformat(),
            width_mm=seal.width_mm,
            height_mm=seal.height_mm,
            version=seal.version,
            locked=bool(key and key.locked),
            failed_pin_attempts=key.failed_attempts if key else None,
            usable=p is None,
            unusable_reason=p.message if p else None,
            authorized_members=grants,
            png_sha256=sha(seal.png),
            seseal_sha256=sha(seal.seseal),
            files=str(self.files.directory(seal.es_id)) if seal.es_id else None,
            created_at=seal.created_at.isoformat(),
            updated_at=seal.updated_at.isoformat(),
        )

    def dict_of(
        self, s: Session, seal: Seal, *, reveal: bool = False, now: dt.datetime | None = None
    ) -> dict:
        """The view as the verbs answer it today: a plain dict (see the module's note)."""
        return self.of(s, seal, reveal=reveal, now=now).to_dict()
