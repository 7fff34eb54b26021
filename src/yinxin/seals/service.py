"""The electronic seal service (004; MISSION §4): one door over the parts that do the work.

A seal is an image, a GB/T 38540 ``SESeal`` record and a holder, bound to one certificate. It
signs with that certificate's platform-held key. ``Seals`` keeps the surface the CLI, the
signing service and the tests use (``platform.seals.create``, ``.unlock_for_signing``, …) and
hands each call to the part that owns it; each part imports only the ones below it:

* ``catalogue`` — the kinds of seal, the application form and the picture's inputs (no database);
* ``rows`` — the shared lookups (a seal by id or esID, its certificate, the seals on one key);
* ``files`` — the seal folder ``<home>/seals/<esID>/``, written with the commit, checked, repaired;
* ``grants`` — authorizations (用印授权) of an organization's seals to its people;
* ``pin`` — whether a seal can sign now, the seal PIN, its lockout and change, and
  ``unlock_for_signing``;
* ``view`` — ``SealView``, the one shape a seal is shown in;
* ``holds`` — freeze, unfreeze, revoke, PIN leak, expiry (moves that make no new record);
* ``records`` — the SESeal versions and application forms, and checking them;
* ``issuance`` — the application form's business types: create, renew, change, cancel;
* ``lifecycle`` — the transition table every verb checks before it writes.
"""

from __future__ import annotations

from pathlib import Path

from yinxin.clock import Clock
from yinxin.pki.kek import PlatformKek
from yinxin.registry.ca import CertificateAuthority
from yinxin.seals.catalogue import BusinessType, ImageSource, SealForm, SealKind
from yinxin.seals.files import FilesRepair, FileState, SealFiles, WrittenFiles
from yinxin.seals.grants import GrantView, SealGrants
from yinxin.seals.holds import SealHolds
from yinxin.seals.issuance import DEFAULT_REGION, SealIssuance
from yinxin.seals.lifecycle import SealHoldKind, SealState
from yinxin.seals.pin import PinChange, PinChecked, SealPins, SealUsability, UnlockedSeal
from yinxin.seals.records import RecordCheck, SealApplicationView, SealRecords, SealRecordView
from yinxin.seals.rows import actor_name, seal_row
from yinxin.seals.view import ExportedSealView, KeyHolder, PinLeakView, SealView, SealViews
from yinxin.store.db import Database
from yinxin.store.models.seals import Seal
from yinxin.store.queries import of_organization, paged, select_where

# What callers see: the service, the form it takes, and the typed results it answers with.
__all__ = [
    "BusinessType",
    "ExportedSealView",
    "FileState",
    "FilesRepair",
    "GrantView",
    "ImageSource",
    "KeyHolder",
    "PinChange",
    "PinChecked",
    "PinLeakView",
    "RecordCheck",
    "SealApplicationView",
    "SealForm",
    "SealHoldKind",
    "SealKind",
    "SealRecordView",
    "SealState",
    "SealUsability",
    "SealView",
    "Seals",
    "UnlockedSeal",
    "WrittenFiles",
]


class Seals:
    """The seal service as callers see it: every verb of the seal agreement, by delegation.

    The parts are built here from what the composition root (``yinxin.app``) hands over, so
    ``app.py`` constructs one object as before and no caller learns the split.
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        ca: CertificateAuthority,
        *,
        home: Path,
        region_code: str = DEFAULT_REGION,
        kek: PlatformKek | None = None,
    ):
        self.db, self.clock, self.ca = db, clock, ca
        self.home = Path(home)
        self.region_code = region_code
        self.kek = kek  # the second lock on seal keys (``yinxin.pki.kek``)
        self._files = SealFiles(db, self.home)
        self._views = SealViews(clock, self._files)
        self._grants = SealGrants(db, clock)
        self._pins = SealPins(db, clock, kek)
        self._holds = SealHolds(db, clock, self._views)
        self._records = SealRecords(db, ca, self._files)
        self._issuance = SealIssuance(
            db,
            clock,
            ca,
            files=self._files,
            views=self._views,
            holds=self._holds,
            region_code=region_code,
        )
        # The verbs are the parts' own bound methods, so their signatures and docstrings are
        # the ones a caller sees (``help(platform.seals.create)``), written once.
        self.apply = self._issuance.apply  # the form: 新申请 creates, 续费/变更/注销 act on a seal
        self.create = self._issuance.create
        self.renew = self._issuance.renew
        self.change = self._issuance.change
        self.cancel = self._issuance.cancel
        self.freeze = self._holds.freeze
        self.unfreeze = self._holds.unfreeze
        self.revoke = self._holds.revoke
        self.report_pin_leak = self._holds.report_pin_leak
        self.expire_due = self._holds.expire_due
        self.grant = self._grants.grant
        self.withdraw = self._grants.withdraw
        self.grants = self._grants.list_for
        self.change_pin = self._pins.change_pin
        self.usable = self._pins.usable
        self.can_use = self._pins.can_use
        self.unlock_for_signing = self._pins.unlock_for_signing
        self.artifacts = self._records.artifacts
        self.records = self._records.history
        self.applications = self._records.applications
        self.verify_record = self._records.verify
        self.write_files = self._files.write
        self.repair_files = self._files.repair
        self.files_dir = self._files.directory

    def unlock(self, seal: int | str, *, officer: str, note: str | None = None) -> SealView:
        """An RA officer releases the PIN lock (after checking the holder's identity)."""
        officer = actor_name(officer, "officer")
        now = self.clock.now()
        with self.db.transaction() as s:
            row = seal_row(s, seal, lock=True)
            self._pins.release(s, row, officer=officer, note=note, now=now)
            return self._views.of(s, row, now=now)

    # --- queries ---------------------------------------------------------------------------------
    def get(self, seal: int | str, *, reveal: bool = False) -> SealView:
        """The seal as it stands (the holder's ID number masked unless ``reveal``)."""
        with self.db.read() as s:
            return self._views.of(s, seal_row(s, seal), reveal=reveal)

    def list(
        self,
        *,
        subscriber_id: int | None = None,
        state: str | None = None,
        kind: str | None = None,
        organization_id: int | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[SealView]:
        """Seals in id order; ``organization_id`` narrows to the organization's own and its
        members' (an organization-bound API key), ``after``/``limit`` page."""
        with self.db.read() as s:
            q = select_where(Seal, subscriber_id=subscriber_id, state=state, kind=kind)
            q = q.where(of_organization(Seal.subscriber_id, organization_id))
            q = paged(q, Seal.id, after=after, limit=limit)
            now = self.clock.now()
            return [self._views.of(s, x, now=now) for x in s.execute(q).scalars()]
