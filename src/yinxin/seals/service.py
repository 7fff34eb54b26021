"""The electronic seal service (004; MISSION §4): one door over the parts that do the work.

A seal is an image, a GB/T 38540 ``SESeal`` record and a holder, bound to one certificate. It
signs with that certificate's platform-held key. ``Seals`` keeps the surface the CLI, the
signing service and the tests use (``platform.seals.create``, ``.unlock_for_signing``, …) and
hands each call to the part that owns it; each part imports only the ones below it:

* ``catalogue`` — the kinds of seal, the application form and the picture's inputs (no database);
* ``rows`` — the shared lookups (a seal by id or esID, its certificate, the seals on one key);
* ``files`` — the seal folder ``<home>/seals/<esID>/``, written with the commit, checked, repaired;
* ``grants`` — authorizations (用印授权) of an organization's seals to its people;
* ``usability`` — whether a seal can sign now, PIN aside, from the current rows;
* ``pin`` — the seal PIN, its lockout and change, and ``unlock_for_signing``;
* ``view`` — ``SealView``, the one shape a seal is shown in;
* ``holds`` — freeze, unfreeze, revoke, PIN leak, expiry (moves that make no new record);
* ``records`` — the SESeal versions and application forms, and checking them;
* ``issuance`` — the application form's business types: create, renew, change, cancel;
* ``lifecycle`` — the transition table every verb checks before it writes;
* ``notices`` — the holder's notice of each business done (004 §七), hooked in by ``yinxin.app``
  through ``Seals.hooks``.

Each part is built the first time a verb of it is used, and the parts that hold keys and
records (``pin``, ``records``, ``issuance``: the PKI, ``cryptography``, asn1crypto) are
imported only then, as the authority and the key-encryption key are asked for only then: a
listing (``yinxin seal list``) shows seals with ``view``, ``files`` and ``usability`` alone.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from yinxin.clock import Clock
from yinxin.seals.catalogue import (
    DEFAULT_REGION,
    BusinessType,
    ImageSource,
    SealForm,
    SealKind,
    check_region_code,
)
from yinxin.seals.files import FilesRepair, FileState, SealFiles, WrittenFiles
from yinxin.seals.grants import GrantView, SealGrants, usable_grants
from yinxin.seals.holds import SealHolds, SealHooks
from yinxin.seals.lifecycle import SealHoldKind, SealState
from yinxin.seals.rows import actor_name, seal_row
from yinxin.seals.view import (
    ExportedSealView,
    KeyHolder,
    PinLeakView,
    SealView,
    SealViews,
    granted_view,
)
from yinxin.store.db import Database
from yinxin.store.models.seals import Seal
from yinxin.store.queries import of_organization_held, paged, select_where
from yinxin.transitions import listed

if TYPE_CHECKING:
    from yinxin.pki.kek import PlatformKek
    from yinxin.registry.ca import CertificateAuthority
    from yinxin.seals.issuance import SealIssuance
    from yinxin.seals.pin import PinChange, PinChecked, SealPins, SealUsability, UnlockedSeal
    from yinxin.seals.records import RecordCheck, SealApplicationView, SealRecords, SealRecordView

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


def __getattr__(name: str) -> Any:
    """The result types of the parts imported on first use (``from yinxin.seals.service
    import UnlockedSeal`` works as before), taken from their part when first asked for."""
    if name in ("PinChange", "PinChecked", "SealUsability", "UnlockedSeal"):
        from yinxin.seals import pin as part
    elif name in ("RecordCheck", "SealApplicationView", "SealRecordView"):
        from yinxin.seals import records as part
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(part, name)


class _Verb:
    """A verb of the facade: the bound method ``verb`` of the part ``part``, so its signature
    and docstring are the ones a caller sees (``help(platform.seals.create)``), written once.
    Reading it builds the part if need be and keeps the method on the instance, so from then
    on it is a plain attribute (one a test may replace)."""

    def __init__(self, part: str, verb: str) -> None:
        self.part, self.verb = part, verb

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        if obj is None:
            return self
        method = getattr(getattr(obj, self.part), self.verb)
        obj.__dict__[self.name] = method
        return method


class Seals:
    """The seal service as callers see it: every verb of the seal agreement, by delegation.

    The parts are built here from what the composition root (``yinxin.app``) hands over, so
    ``app.py`` constructs one object as before and no caller learns the split. ``ca`` and
    ``kek`` are callables: the composition root builds each on first use, and so does this
    facade with its parts.
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        ca: Callable[[], CertificateAuthority],
        *,
        home: Path,
        region_code: str = DEFAULT_REGION,
        kek: Callable[[], PlatformKek] | None = None,
    ):
        self.db, self.clock, self._ca = db, clock, ca
        self.home = Path(home)
        self.region_code = check_region_code(region_code)  # refused now, not at first use
        self._kek = kek  # the second lock on seal keys (``yinxin.pki.kek``)
        # what else each seal move does (the holder's notice: ``seals.notices``, wired by the
        # composition root)
        self.hooks = SealHooks()

    # --- the parts, each built on first use ------------------------------------------------------
    @cached_property
    def _files(self) -> SealFiles:
        return SealFiles(self.db, self.home)

    @cached_property
    def _views(self) -> SealViews:
        return SealViews(self.clock, self._files)

    @cached_property
    def _grants(self) -> SealGrants:
        return SealGrants(self.db, self.clock)

    @cached_property
    def _holds(self) -> SealHolds:
        return SealHolds(self.db, self.clock, self._views, self.hooks)

    @cached_property
    def _pins(self) -> SealPins:
        from yinxin.seals.pin import SealPins

        return SealPins(self.db, self.clock, self._kek() if self._kek is not None else None)

    @cached_property
    def _records(self) -> SealRecords:
        from yinxin.seals.records import SealRecords

        return SealRecords(self.db, self._ca(), self._files)

    @cached_property
    def _issuance(self) -> SealIssuance:
        from yinxin.seals.issuance import SealIssuance

        return SealIssuance(
            self.db,
            self.clock,
            self._ca(),
            files=self._files,
            views=self._views,
            holds=self._holds,
            region_code=self.region_code,
        )

    # --- the verbs: each part's own bound methods ------------------------------------------------
    apply = _Verb("_issuance", "apply")  # the form: 新申请 creates, 续费/变更/注销 act on a seal
    create = _Verb("_issuance", "create")
    renew = _Verb("_issuance", "renew")
    change = _Verb("_issuance", "change")
    cancel = _Verb("_issuance", "cancel")
    freeze = _Verb("_holds", "freeze")
    unfreeze = _Verb("_holds", "unfreeze")
    revoke = _Verb("_holds", "revoke")
    report_pin_leak = _Verb("_holds", "report_pin_leak")
    expire_due = _Verb("_holds", "expire_due")
    grant = _Verb("_grants", "grant")
    withdraw = _Verb("_grants", "withdraw")
    grants = _Verb("_grants", "list_for")
    change_pin = _Verb("_pins", "change_pin")
    usable = _Verb("_pins", "usable")
    check_usable = _Verb("_pins", "check_usable")
    usable_by = _Verb("_pins", "usable_by")
    can_use = _Verb("_pins", "can_use")
    unlock_for_signing = _Verb("_pins", "unlock_for_signing")
    hold_usable = _Verb("_pins", "hold_usable")
    artifacts = _Verb("_records", "artifacts")
    records = _Verb("_records", "history")
    applications = _Verb("_records", "applications")
    verify_record = _Verb("_records", "verify")
    write_files = _Verb("_files", "write")
    repair_files = _Verb("_files", "repair")
    files_dir = _Verb("_files", "directory")

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

    def usable_through_grant(self, seal_id: int, member_id: int) -> bool:
        """Whether ``member_id`` may use the seal now through a live grant (用印授权): the
        grant not withdrawn, the seal active and within its validity — the same condition
        ``list(granted_to=…)`` offers a seal by, so a reader sees what the listing showed."""
        with self.db.read() as s:
            q = select(Seal.id).where(
                Seal.id == seal_id, usable_grants(member_id, self.clock.now())
            )
            return s.execute(q).first() is not None

    def list(
        self,
        *,
        subscriber_id: int | None = None,
        state: str | None = None,
        kind: str | None = None,
        organization_id: int | None = None,
        granted_to: int | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[SealView]:
        """Seals in id order; ``organization_id`` narrows to the organization's own and its
        members' (an organization-bound API key), ``after``/``limit`` page.

        ``granted_to`` (a person) adds the seals that person may use through a live grant
        (用印授权) — only while the seal is active and in its validity — shown as
        ``granted_view`` shows them (``via_grant``, nothing the holder alone may see)."""
        # judged before the database is opened
        state, kind = listed(SealState, state, "state"), listed(SealKind, kind, "kind")
        with self.db.read() as s:
            now = self.clock.now()
            q = select_where(Seal, subscriber_id=subscriber_id, state=state, kind=kind)
            own = of_organization_held(s, Seal, organization_id)
            if granted_to is not None:
                q = q.where(or_(own, usable_grants(granted_to, now)))
            else:
                q = q.where(own)
            q = paged(q, Seal.id, after=after, limit=limit)
            rows = list(s.execute(q).scalars())
            mine: set[int] = set()
            if granted_to is not None and rows:
                ids = [x.id for x in rows]
                mine = set(s.execute(select(Seal.id).where(Seal.id.in_(ids), own)).scalars())
            return [
                self._views.of(s, x, now=now)
                if granted_to is None or x.id in mine
                else granted_view(self._views.of(s, x, now=now))
                for x in rows
            ]
