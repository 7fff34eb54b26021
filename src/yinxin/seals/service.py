"""The electronic seal service (004; MISSION §4): application, lifecycle, authorization, PIN.

A seal is an image, a GB/T 38540 ``SESeal`` record and a holder, bound to one certificate. It
signs with that certificate's platform-held key, so:

* **The seal PIN (印章密码) is the PIN that seals the certificate's key** (``yinxin.pki.pinkeys``).
  The platform never stores it; wrong guesses are counted on the key (``platform_keys``), which
  locks after ``MAX_PIN_FAILURES``, because every seal on that key opens with the same secret and
  guessing on one seal must count against all of them. A locked key is released only by an RA
  officer (``unlock``). Seals on a subscriber-held key (CSR certificates) are made and managed
  here but sign on the holder's own machine, never here.
* **Usability is decided at use time from the database**: the seal's state and validity, the
  certificate's *current* status (a frozen or revoked certificate stops its seals at once,
  without touching the seal rows), the key lock and, for organization seals, the member's
  authorization (用印授权). ``unlock_for_signing`` is the one door the signing service uses.

Every verb checks all its inputs and the lifecycle table (``seals.lifecycle``) first, then
writes the change and its audit event in one transaction. Images are drawn before that
transaction (drawing is slow and needs no lock) and the transaction re-checks that what was drawn
still matches the data. The only write a refused call makes is the wrong-PIN counter: counting is
the whole point of it. Image files under ``<home>/seals/<es_id>/`` are written to a temporary
folder, fsynced and renamed into place just before the commit, and put back as they were if the
commit fails (``_with_files``), so a refused or failed action leaves none and a committed seal
has its files; ``verify_record`` checks them against the database.

esID. 14 digits: the platform's 6-digit administrative region code (GB/T 2260), the 2-digit year
of creation and the seal's database id as a 6-digit sequence (wider beyond 999999). Unique because
the id is, stable for the seal's life (renewal and change keep it), and ASCII as IA5String needs.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yinxin import audit
from yinxin.clock import Clock
from yinxin.errors import (
    Conflict,
    Forbidden,
    IllegalTransition,
    NotFound,
    ValidationError,
    YinxinError,
)
from yinxin.identity import ID_TYPES, validate_id_document, validate_name
from yinxin.pki.kek import PlatformKek
from yinxin.pki.keys import KeyHandle
from yinxin.pki.pinkeys import check_pin, open_private_key, reseal
from yinxin.registry import lifecycle as cert_lifecycle
from yinxin.registry.ca import CertificateAuthority
from yinxin.registry.fees import check_years
from yinxin.seals import lifecycle
from yinxin.seals.lifecycle import (
    ACTIVE,
    FROZEN,
    HOLD_FROZEN,
    HOLD_PIN_LEAK,
    NONE,
    REVOCATION_REASONS,
)
from yinxin.seals.models import Seal, SealApplication, SealGrant, SealRecord
from yinxin.seals.render import (
    MAX_SCAN_BYTES,
    SealImage,
    image_from_scan,
    render_organization_seal,
    render_personal_seal,
)
from yinxin.seals.seseal import (
    SEAL_TYPE_ORGANIZATION,
    SEAL_TYPE_PERSONAL,
    SealInfo,
    build_seseal,
    verify_seseal,
)
from yinxin.store.db import Database
from yinxin.store.models import Certificate, PlatformKey, Subscriber

log = logging.getLogger(__name__)
T = TypeVar("T")

YEAR = dt.timedelta(days=365)
MAX_PIN_FAILURES = 5
DEFAULT_REGION = "110000"


@dataclass(frozen=True)
class KindSpec:
    title: str
    profile: str  # the certificate profile a seal of this kind must be bound to
    subscriber_kind: str
    seal_type: int  # SESeal property type
    suffix: str = ""  # appended to the organization's name in the seal's name
    center_text: str | None = None  # horizontal text under the star
    scan_width_mm: float = 40.0


KINDS: dict[str, KindSpec] = {
    "organization": KindSpec("公章", "organization-signing", "organization",
                             SEAL_TYPE_ORGANIZATION),
    "contract": KindSpec("合同专用章", "organization-signing", "organization",
                         SEAL_TYPE_ORGANIZATION, "合同专用章", "合同专用章"),
    "finance": KindSpec("财务专用章", "organization-signing", "organization",
                        SEAL_TYPE_ORGANIZATION, "财务专用章", "财务专用章"),
    "personal": KindSpec("个人名章", "person-signing", "person", SEAL_TYPE_PERSONAL,
                         scan_width_mm=18.0),
}
ORGANIZATION_KINDS = frozenset(k for k, v in KINDS.items() if v.subscriber_kind == "organization")

BUSINESS_TYPES = {"new": "新申请", "renew": "续费", "change": "变更", "cancel": "注销"}

# 004 §V 申请人声明, word for word; its hash is recorded with every application.
DECLARATION = ("申请人在此郑重声明：本人在电子印章相关业务中提供的资料完全真实。"
               "本人愿意承担由于提供的资料虚假失实而导致的一切后果。")
DECLARATION_SHA256 = hashlib.sha256(DECLARATION.encode("utf-8")).hexdigest()


# --- plain data ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SealForm:
    """The seal application form (004 I, II, V) as filled in by the applicant."""

    business_type: str
    project: str
    holder_name: str
    id_type: str
    id_number: str
    declaration_accepted: bool

    def validated(self) -> SealForm:
        if self.business_type not in BUSINESS_TYPES:
            raise ValidationError(f"unknown business type {self.business_type!r}; choose one "
                                  f"of {', '.join(BUSINESS_TYPES)}", field="business_type")
        if self.declaration_accepted is not True:
            raise ValidationError("the applicant must accept the declaration (申请人声明) that "
                                  "the data given is true", field="declaration_accepted",
                                  code="declaration_required")
        return replace(
            self,
            project=validate_name(self.project, "project", 200),
            holder_name=validate_name(self.holder_name, "holder_name", 50),
            id_number=validate_id_document(self.id_type, self.id_number, "id_number"),
        )


@dataclass(frozen=True)
class SealStamp:
    """What the signing service needs to put the seal on a page and into the signature."""

    seal_id: int
    es_id: str
    kind: str
    name: str
    png: bytes
    width_mm: float
    height_mm: float
    seseal: bytes  # the current GB/T 38540 record, DER
    certificate_serial: str


class UnlockedSeal(NamedTuple):
    key: KeyHandle
    certificate: x509.Certificate
    stamp: SealStamp


@dataclass
class _Image:
    """Inputs of the seal picture; compared before and after drawing to catch a race."""

    source: str  # software | scan
    kind: str
    text: str  # the name drawn (organization or holder)
    center_text: str | None
    code: str | None
    scan_sha256: str | None = None
    drawn: SealImage | None = field(default=None, compare=False)

    def draw(self, scan: bytes | None) -> SealImage:
        if self.source == "scan":
            assert scan is not None
            return image_from_scan(scan, width_mm=KINDS[self.kind].scan_width_mm)
        if self.kind == "personal":
            return render_personal_seal(self.text)
        return render_organization_seal(self.text, center_text=self.center_text, code=self.code)


def _mask(num: str | None) -> str | None:
    if not num:
        return num
    return num[:3] + "*" * (len(num) - 7) + num[-4:] if len(num) > 8 else "*" * len(num)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat() if t else None


def _whole(t: dt.datetime) -> dt.datetime:
    """GeneralizedTime in the record is whole seconds; keep the table's values identical."""
    return t.astimezone(dt.UTC).replace(microsecond=0)


def _normal_serial(serial: str) -> str:
    return (serial or "").strip().lower().removeprefix("0x").lstrip("0")


class _FileSwap:
    """A seal folder just renamed into place, with the folder it replaced kept aside."""

    def __init__(self, base: Path, target: Path, old: Path | None):
        self.base, self.target, self.old = base, target, old

    def done(self) -> None:
        if self.old is not None:
            shutil.rmtree(self.old, ignore_errors=True)

    def undo(self) -> None:
        """The commit failed: the folder must show what the database still says."""
        shutil.rmtree(self.target, ignore_errors=True)
        if self.old is not None:
            try:
                self.old.rename(self.target)
            except OSError as e:  # leave it for repair_files; the database is still right
                log.warning("could not restore %s after a failed commit: %s", self.target, e)
        try:
            _fsync_dir(self.base)
        except OSError:
            pass


@dataclass
class _StagedFiles:
    """What a transaction body hands to ``_with_files``: the files its commit must carry."""

    files: tuple[str, dict[str, bytes]] | None = None
    swap: _FileSwap | None = None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# --- the service --------------------------------------------------------------------------------
class Seals:
    def __init__(self, db: Database, clock: Clock, ca: CertificateAuthority, *, home: Path,
                 region_code: str = DEFAULT_REGION, kek: PlatformKek | None = None):
        if not (len(region_code) == 6 and region_code.isdigit()):
            raise ValidationError("the region code must be 6 digits (GB/T 2260)",
                                  field="region_code")
        self.db, self.clock, self.ca = db, clock, ca
        self.home = Path(home)
        self.region_code = region_code
        self.kek = kek  # the second lock on seal keys (``yinxin.pki.kek``)

    # --- lookups ---------------------------------------------------------------------------------
    @staticmethod
    def _seal_row(s: Session, ref: int | str, lock: bool = False) -> Seal:
        """A seal by database id (int, or a short digit string) or by its 14+ digit esID."""
        q = select(Seal)
        text = str(ref).strip()
        if isinstance(ref, int) or (text.isdigit() and len(text) < 14):
            q = q.where(Seal.id == int(text))
        else:
            q = q.where(Seal.es_id == text)
        if lock:
            q = q.with_for_update()
        row = s.execute(q).scalar_one_or_none()
        if row is None:
            raise NotFound(f"no seal {text or '(empty)'}", field="seal")
        return row

    @staticmethod
    def _subscriber(s: Session, subscriber_id: int, field: str = "subscriber_id") -> Subscriber:
        sub = s.get(Subscriber, subscriber_id) if isinstance(subscriber_id, int) else None
        if sub is None:
            raise NotFound(f"no subscriber with id {subscriber_id}", field=field)
        return sub

    def _certificate_for(self, s: Session, serial: str | None, sub: Subscriber, kind: str,
                         now: dt.datetime) -> Certificate:
        """The certificate a seal of ``kind`` for ``sub`` may be bound to, valid right now."""
        spec = KINDS[kind]
        if not serial:
            raise ValidationError(
                f"a seal needs a valid certificate (004 填表说明): give the serial of "
                f"{sub.name}'s active {spec.profile} certificate, or apply for one first",
                field="certificate_serial", code="certificate_required")
        cert = s.execute(select(Certificate).where(
            Certificate.serial_hex == _normal_serial(serial))).scalar_one_or_none()
        if cert is None:
            raise NotFound(f"no certificate with serial {serial}", field="certificate_serial")
        if cert.subscriber_id != sub.id:
            raise ValidationError(f"certificate {cert.serial_hex} belongs to another subscriber",
                                  field="certificate_serial", code="certificate_mismatch")
        if cert.profile != spec.profile:
            raise ValidationError(f"a {kind} seal ({spec.title}) needs a {spec.profile} "
                                  f"certificate; {cert.serial_hex} is {cert.profile}",
                                  field="certificate_serial", code="certificate_mismatch")
        self._require_valid_certificate(cert, now)
        return cert

    @staticmethod
    def _require_valid_certificate(cert: Certificate, now: dt.datetime) -> None:
        if cert.status != cert_lifecycle.ACTIVE or cert.not_after <= now:
            state = cert.status + (f" ({cert.hold_kind})" if cert.hold_kind else "")
            if cert.status == cert_lifecycle.ACTIVE:
                state = "past its end date"
            raise Forbidden(f"certificate {cert.serial_hex} is {state}: a seal needs a valid "
                            "certificate", field="certificate_serial",
                            code="certificate_not_valid")

    @staticmethod
    def _check_holder(sub: Subscriber, kind: str, form: SealForm) -> None:
        """A personal seal is its subscriber's own: the form must name that very person."""
        if kind != "personal":
            return
        if form.id_type != sub.id_type or form.id_number != (sub.id_number or "").upper():
            raise ValidationError("the holder's ID document on the form is not the subscriber's "
                                  "(a personal seal is made only for the certificate's holder)",
                                  field="id_number", code="holder_mismatch")
        if form.holder_name != sub.name:
            raise ValidationError(f"the holder's name on the form is not the subscriber's "
                                  f"({sub.name})", field="holder_name", code="holder_mismatch")

    def _seal_name(self, sub: Subscriber, kind: str) -> str:
        return sub.name + KINDS[kind].suffix

    # --- plain data ------------------------------------------------------------------------------
    def _dict(self, s: Session, seal: Seal, *, reveal: bool = False,
              now: dt.datetime | None = None) -> dict:
        cert = s.get(Certificate, seal.certificate_id)
        key = s.get(PlatformKey, cert.platform_key_id) if cert.platform_key_id else None
        grants = s.execute(select(SealGrant.member_subscriber_id).where(
            SealGrant.seal_id == seal.id, SealGrant.withdrawn_at.is_(None))
            .order_by(SealGrant.id)).scalars().all()
        problem = self._problem(s, seal, cert, key, None, now or self.clock.now())
        return {
            "id": seal.id, "es_id": seal.es_id, "kind": seal.kind,
            "kind_title": KINDS[seal.kind].title, "name": seal.name,
            "subscriber_id": seal.subscriber_id, "certificate_serial": cert.serial_hex,
            "certificate_status": cert.status, "certificate_hold_kind": cert.hold_kind,
            "key": "platform" if key else "subscriber",
            "holder_name": seal.holder_name, "holder_id_type": seal.holder_id_type,
            "holder_id_number": seal.holder_id_number if reveal else _mask(
                seal.holder_id_number),
            "project": seal.project, "image_source": seal.image_source,
            "center_text": seal.center_text, "code": seal.code,
            "state": seal.state, "hold_kind": seal.hold_kind, "held_at": _iso(seal.held_at),
            "revoked_at": _iso(seal.revoked_at), "revocation_reason": seal.revocation_reason,
            "ended_at": _iso(seal.ended_at),
            "valid_start": seal.valid_start.isoformat(), "valid_end": seal.valid_end.isoformat(),
            "width_mm": seal.width_mm, "height_mm": seal.height_mm, "version": seal.version,
            "locked": bool(key and key.locked),
            "failed_pin_attempts": key.failed_attempts if key else None,
            "usable": problem is None, "unusable_reason": problem.message if problem else None,
            "authorized_members": list(grants),
            "png_sha256": _sha(seal.png), "seseal_sha256": _sha(seal.seseal),
            "files": str(self.files_dir(seal.es_id)) if seal.es_id else None,
            "created_at": seal.created_at.isoformat(), "updated_at": seal.updated_at.isoformat(),
        }

    def files_dir(self, es_id: str) -> Path:
        return self.home / "seals" / es_id

    # --- application form (the four business types) ----------------------------------------------
    def apply(self, *, business_type: str, project: str, holder_name: str, id_type: str,
              id_number: str, declaration_accepted: bool, seal: int | str | None = None,
              subscriber_id: int | None = None, kind: str | None = None,
              certificate_serial: str | None = None, scan: bytes | None = None,
              center_text: str | None = None, code: str | None = None, years: int = 1,
              actor: str = "applicant") -> dict:
        """The seal application form: 新申请 creates, 续费/变更/注销 act on ``seal``."""
        form = SealForm(business_type, project, holder_name, id_type, id_number,
                        declaration_accepted).validated()
        if form.business_type == "new":
            if seal is not None:
                raise ValidationError("a new application makes a new seal; do not name one",
                                      field="seal")
            if subscriber_id is None or kind is None:
                raise ValidationError("a new seal needs the subscriber and the seal kind",
                                      field="subscriber_id" if subscriber_id is None else "kind")
            return self.create(subscriber_id=subscriber_id, kind=kind,
                               certificate_serial=certificate_serial, form=form, scan=scan,
                               center_text=center_text, code=code, years=years, actor=actor)
        if seal is None:
            raise ValidationError(f"{BUSINESS_TYPES[form.business_type]} needs the seal it is "
                                  "for", field="seal")
        if form.business_type == "renew":
            return self.renew(seal, years=years, certificate_serial=certificate_serial,
                              form=form, actor=actor)
        if form.business_type == "change":
            return self.change(seal, scan=scan, center_text=center_text, code=code,
                               certificate_serial=certificate_serial, form=form, actor=actor)
        return self.cancel(seal, form=form, actor=actor)

    def _record_application(self, s: Session, seal: Seal, form: SealForm, actor: str,
                            now: dt.datetime) -> SealApplication:
        app = SealApplication(seal_id=seal.id, subscriber_id=seal.subscriber_id,
                              business_type=form.business_type, project=form.project,
                              holder_name=form.holder_name, holder_id_type=form.id_type,
                              holder_id_number=form.id_number, declaration_accepted=True,
                              declaration_sha256=DECLARATION_SHA256, submitted_by=actor,
                              submitted_at=now)
        s.add(app)
        s.flush()
        audit.record(s, at=now, actor=actor, action="seal.application",
                     subject_type="seal", subject_id=seal.es_id,
                     data={"application_id": app.id, "business_type": form.business_type,
                           "project": form.project, "holder_name": form.holder_name,
                           "holder_id_type": form.id_type,
                           "declaration_sha256": DECLARATION_SHA256})
        return app

    @staticmethod
    def _coerce_form(form: SealForm | dict | None, business_type: str) -> SealForm | None:
        if form is None:
            return None
        if isinstance(form, dict):
            form = SealForm(**{"business_type": business_type, **form})
        form = form.validated()
        if form.business_type != business_type:
            raise ValidationError(f"the form is for {form.business_type}, not {business_type}",
                                  field="business_type")
        return form

    # --- create ----------------------------------------------------------------------------------
    def _plan_create(self, s: Session, *, subscriber_id: int, kind: str,
                     certificate_serial: str | None, form: SealForm, scan_sha: str | None,
                     center_text: str | None, code: str | None, now: dt.datetime
                     ) -> tuple[Subscriber, Certificate, _Image]:
        lifecycle.check_move("create", NONE, None, "(new)")
        if kind not in KINDS:
            raise ValidationError(f"unknown seal kind {kind!r}; choose one of "
                                  f"{', '.join(KINDS)}", field="kind")
        spec = KINDS[kind]
        sub = self._subscriber(s, subscriber_id)
        if sub.kind != spec.subscriber_kind:
            raise ValidationError(f"a {kind} seal ({spec.title}) is for {spec.subscriber_kind} "
                                  f"subscribers; #{sub.id} is a {sub.kind}", field="kind")
        self._check_holder(sub, kind, form)
        cert = self._certificate_for(s, certificate_serial, sub, kind, now)
        if kind == "personal" and (center_text or code):
            raise ValidationError("a personal seal has no centre text or code",
                                  field="center_text" if center_text else "code")
        dup = s.execute(select(Seal.es_id).where(
            Seal.subscriber_id == sub.id, Seal.kind == kind,
            Seal.state.in_(lifecycle.MANAGEABLE))).scalars().first()
        if dup:
            raise self._duplicate(sub, kind, dup)
        image = _Image("scan" if scan_sha else "software", kind, sub.name,
                       None if kind == "personal" else (center_text or spec.center_text),
                       code, scan_sha)
        return sub, cert, image

    @staticmethod
    def _duplicate(sub: Subscriber, kind: str, es_id: str | None) -> Conflict:
        which = f" ({es_id})" if es_id else ""
        return Conflict(f"{sub.name} already has a live {KINDS[kind].title}{which}; change, "
                        "renew or cancel that one", field="kind", code="duplicate")

    def create(self, *, subscriber_id: int, kind: str, certificate_serial: str | None,
               form: SealForm | dict, scan: bytes | None = None, center_text: str | None = None,
               code: str | None = None, years: int = 1, actor: str = "applicant") -> dict:
        """新申请: make a seal for a subscriber holding a valid certificate of the right kind."""
        form = self._coerce_form(form, "new")
        assert form is not None
        actor = self._actor(actor)
        check_years(years)
        scan_sha = self._check_scan(scan)
        issuer = self.ca.issuer("issuing")  # load the CA key first: a failure writes nothing
        now = _whole(self.clock.now())
        args = dict(subscriber_id=subscriber_id, kind=kind, certificate_serial=certificate_serial,
                    form=form, scan_sha=scan_sha, center_text=center_text, code=code, now=now)
        with self.db.read() as s:
            _, _, image = self._plan_create(s, **args)
        drawn = image.draw(scan)
        with self._with_files() as (s, staged):
            sub, cert, again = self._plan_create(s, **args)
            self._same_image(image, again)
            valid_end = min(now + years * YEAR, cert.not_after)
            seal = Seal(es_id=None, kind=kind, subscriber_id=sub.id, certificate_id=cert.id,
                        name=self._seal_name(sub, kind), holder_name=form.holder_name,
                        holder_id_type=form.id_type, holder_id_number=form.id_number,
                        project=form.project, image_source=image.source,
                        center_text=image.center_text, code=image.code, state=ACTIVE,
                        valid_start=now, valid_end=valid_end, png=drawn.png, svg=drawn.svg,
                        pdf=drawn.pdf, width_mm=drawn.width_mm, height_mm=drawn.height_mm,
                        seseal=b"", version=0, created_at=now, updated_at=now)
            s.add(seal)
            lost_race = self._duplicate(sub, kind, None)  # built now: a failed flush expires sub
            try:
                s.flush()
            except IntegrityError:
                # A parallel creation got there first; the unique index on live seals (holder,
                # kind) is what decides, since both passed the check above before either wrote.
                raise lost_race from None
            seal.es_id = f"{self.region_code}{now:%y}{seal.id:06d}"
            self._new_record(s, seal, cert, issuer, "create", now)
            app = self._record_application(s, seal, form, actor, now)
            audit.record(s, at=now, actor=actor, action="seal.create", subject_type="seal",
                         subject_id=seal.es_id,
                         data={"from": NONE, "to": ACTIVE, "kind": kind, "name": seal.name,
                               "subscriber_id": sub.id, "certificate": cert.serial_hex,
                               "application_id": app.id, "image_source": seal.image_source,
                               "valid_end": valid_end.isoformat(), "version": seal.version,
                               "seseal_sha256": _sha(seal.seseal), "png_sha256": _sha(seal.png)})
            out = self._dict(s, seal, now=now)
            staged.files = self._file_set(seal)
        return out

    @staticmethod
    def _check_scan(scan: bytes | None) -> str | None:
        if scan is None:
            return None
        if not isinstance(scan, bytes | bytearray) or not scan:
            raise ValidationError("the uploaded seal scan is empty", field="scan")
        if len(scan) > MAX_SCAN_BYTES:  # refused before anything reads it as an image
            raise ValidationError(f"the uploaded seal scan is larger than "
                                  f"{MAX_SCAN_BYTES // 2**20} MiB", field="scan")
        return _sha(bytes(scan))

    @staticmethod
    def _same_image(planned: _Image, now: _Image) -> None:
        if planned != now:
            raise Conflict("the seal's data changed while its image was being drawn; try again",
                           field="seal", code="retry")

    def _new_record(self, s: Session, seal: Seal, cert: Certificate, issuer, verb: str,
                    now: dt.datetime) -> None:
        """Make, sign and keep the GB/T 38540 record for the seal's current data."""
        info = SealInfo(es_id=seal.es_id, seal_type=KINDS[seal.kind].seal_type, name=seal.name,
                        cert_list=[cert.der], create_date=now, valid_start=seal.valid_start,
                        valid_end=seal.valid_end, picture_type="png", picture_data=seal.png,
                        width_mm=max(1, round(seal.width_mm)),
                        height_mm=max(1, round(seal.height_mm)))
        der = build_seseal(info, issuer.key,
                           issuer.certificate.public_bytes(serialization.Encoding.DER))
        seal.seseal, seal.version = der, seal.version + 1
        s.add(SealRecord(seal_id=seal.id, version=seal.version, verb=verb,
                         certificate_id=cert.id, valid_start=seal.valid_start,
                         valid_end=seal.valid_end, seseal=der, made_at=now))
        s.flush()

    # --- files -----------------------------------------------------------------------------------
    @staticmethod
    def _file_set(seal: Seal) -> tuple[str, dict[str, bytes]]:
        return seal.es_id, {"seal.png": seal.png, "seal.svg": seal.svg, "seal.pdf": seal.pdf,
                            "seal.ses": seal.seseal}

    @contextmanager
    def _with_files(self) -> Iterator[tuple[Session, _StagedFiles]]:
        """A transaction whose seal files are in place before it commits, and gone if it does
        not: the body names the files (``staged.files``); they are written to a temporary
        folder, fsynced and renamed into ``<home>/seals/<esID>/`` as the last step before the
        commit; a failed commit puts the previous folder back. A crash between the rename and
        the commit leaves files ahead of the database at worst, which ``seal verify`` reports
        and ``seal repair-files`` / ``write-files`` put right from the database."""
        staged = _StagedFiles()
        try:
            with self.db.transaction() as s:
                yield s, staged
                if staged.files is not None:
                    staged.swap = self._install_files(*staged.files)
        except BaseException:
            if staged.swap is not None:
                staged.swap.undo()
            raise
        if staged.swap is not None:
            staged.swap.done()

    def _install_files(self, es_id: str, files: dict[str, bytes]) -> _FileSwap:
        """Write the files into a fresh temporary folder and rename it into place, keeping the
        previous folder aside until the caller says ``done`` or ``undo``. The caller holds the
        seal's row lock (or its creating transaction), so no one else installs this seal's files
        now, and any leftovers of an earlier crash for it can go."""
        base = self.home / "seals"
        try:
            base.mkdir(parents=True, exist_ok=True, mode=0o700)
            for leftover in base.glob(f".{es_id}-*"):
                shutil.rmtree(leftover, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{es_id}-new-", dir=base))
        except OSError as e:
            raise self._files_error(es_id, e) from None
        target, old = base / es_id, None
        try:
            for name, data in files.items():
                fd = os.open(tmp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
            _fsync_dir(tmp)
            if target.exists():
                old = base / f".{es_id}-old-{os.urandom(4).hex()}"
                target.rename(old)
            tmp.rename(target)
            _fsync_dir(base)
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if old is not None and not target.exists():
                old.rename(target)
            raise self._files_error(es_id, e) from None
        return _FileSwap(base, target, old)

    @staticmethod
    def _files_error(es_id: str, e: OSError) -> YinxinError:
        return YinxinError(f"cannot write the files of seal {es_id} ({e.strerror or e}); "
                           "nothing was changed", field="files", code="files_not_written")

    def write_files(self, seal: int | str) -> dict:
        """Write (again) a seal's files from the database, e.g. after they were lost."""
        with self.db.transaction() as s:  # the row lock keeps a renew or change out meanwhile
            es_id, files = self._file_set(self._seal_row(s, seal, lock=True))
            self._install_files(es_id, files).done()
        return {"es_id": es_id, "directory": str(self.files_dir(es_id)),
                "files": sorted(files)}

    def _files_status(self, es_id: str, files: dict[str, bytes]) -> dict[str, str]:
        """Each file under the seal's folder: ``ok``, ``missing`` or ``changed`` (its SHA-256
        differs from the database's copy, which is the record of truth)."""
        folder = self.files_dir(es_id)
        out = {}
        for name, data in sorted(files.items()):
            try:
                on_disk = (folder / name).read_bytes()
            except FileNotFoundError:
                out[name] = "missing"
                continue
            except OSError:
                out[name] = "unreadable"
                continue
            out[name] = "ok" if _sha(on_disk) == _sha(data) else "changed"
        return out

    def repair_files(self, *, grace_seconds: float = 300) -> dict:
        """Put ``<home>/seals/`` in line with the database after a crash: remove temporary and
        superseded folders and folders of seals that never committed, and rewrite missing or
        changed files. Folders younger than ``grace_seconds`` that belong to no committed seal
        are left alone: they may be a creation in progress in another process."""
        base = self.home / "seals"
        with self.db.read() as s:
            known = set(s.execute(select(Seal.es_id).where(Seal.es_id.is_not(None)))
                        .scalars())
        removed, rewritten = [], []
        now = time.time()
        entries = sorted(base.iterdir()) if base.exists() else []
        for entry in entries:
            name = entry.name
            es_id = name[1:].split("-", 1)[0] if name.startswith(".") else name
            if es_id in known and not name.startswith("."):
                continue
            try:
                young = now - entry.lstat().st_mtime < grace_seconds
            except FileNotFoundError:
                continue
            if es_id in known:  # a leftover of an install for a committed seal: under its lock
                with self.db.transaction() as s:
                    self._seal_row(s, es_id, lock=True)
                    if entry.exists():
                        _remove(entry)
                        removed.append(name)
            elif not young:
                _remove(entry)
                removed.append(name)
        for es_id in sorted(known):
            with self.db.read() as s:
                files = self._file_set(self._seal_row(s, es_id))[1]
            if any(v != "ok" for v in self._files_status(es_id, files).values()):
                self.write_files(es_id)
                rewritten.append(es_id)
        if removed or rewritten:
            log.info("seal files repaired: removed %s, rewritten %s", removed, rewritten)
        return {"removed": removed, "rewritten": rewritten}

    # --- renew, change, cancel -------------------------------------------------------------------
    def _switch_certificate(self, s: Session, seal: Seal, serial: str | None,
                            now: dt.datetime) -> Certificate:
        sub = self._subscriber(s, seal.subscriber_id)
        if serial:
            return self._certificate_for(s, serial, sub, seal.kind, now)
        cert = s.get(Certificate, seal.certificate_id)
        self._require_valid_certificate(cert, now)
        return cert

    def renew(self, seal: int | str, *, years: int = 1, certificate_serial: str | None = None,
              form: SealForm | dict | None = None, actor: str = "ra-officer") -> dict:
        """续费: extend validity (never past the certificate's end; pass the renewed one's serial).
        """
        form = self._coerce_form(form, "renew")
        check_years(years)
        issuer = self.ca.issuer("issuing")
        now = _whole(self.clock.now())
        with self._with_files() as (s, staged):
            row = self._seal_row(s, seal, lock=True)
            move = lifecycle.check_move("renew", row.state, row.hold_kind, row.es_id)
            if form:
                self._check_holder(self._subscriber(s, row.subscriber_id), row.kind, form)
            cert = self._switch_certificate(s, row, certificate_serial, now)
            new_end = min(max(row.valid_end, now) + years * YEAR, cert.not_after)
            if new_end <= row.valid_end:
                raise ValidationError(
                    f"seal {row.es_id} already runs to {row.valid_end:%Y-%m-%d} and its "
                    f"certificate {cert.serial_hex} ends {cert.not_after:%Y-%m-%d}: a seal cannot "
                    "outlast its certificate; renew the certificate and give the new serial",
                    field="certificate_serial", code="certificate_ends")
            before = {"valid_end": row.valid_end.isoformat(), "certificate": None}
            if cert.id != row.certificate_id:
                before["certificate"] = s.get(Certificate, row.certificate_id).serial_hex
            row.certificate_id, row.valid_start, row.valid_end = cert.id, now, new_end
            row.state, row.updated_at = move.to_state, now
            self._new_record(s, row, cert, issuer, "renew", now)
            app = self._record_application(s, row, form, actor, now) if form else None
            audit.record(s, at=now, actor=actor, action="seal.renew", subject_type="seal",
                         subject_id=row.es_id,
                         data={"from": ACTIVE, "to": ACTIVE, "years": years,
                               "previous_valid_end": before["valid_end"],
                               "valid_end": new_end.isoformat(), "certificate": cert.serial_hex,
                               "previous_certificate": before["certificate"],
                               "application_id": app.id if app else None,
                               "version": row.version, "seseal_sha256": _sha(row.seseal)})
            out = self._dict(s, row, now=now)
            staged.files = self._file_set(row)
        return out

    def _plan_change(self, s: Session, seal: int | str, *, scan_sha: str | None, software: bool,
                     center_text: str | None, code: str | None, certificate_serial: str | None,
                     form: SealForm | None, now: dt.datetime, lock: bool = False
                     ) -> tuple[Seal, Certificate, _Image, Subscriber]:
        row = self._seal_row(s, seal, lock=lock)
        lifecycle.check_move("change", row.state, row.hold_kind, row.es_id)
        sub = self._subscriber(s, row.subscriber_id)
        if form:
            self._check_holder(sub, row.kind, form)
        cert = self._switch_certificate(s, row, certificate_serial, now)
        if row.kind == "personal" and (center_text or code):
            raise ValidationError("a personal seal has no centre text or code",
                                  field="center_text" if center_text else "code")
        if scan_sha and software:
            raise ValidationError("give a scan or ask for a software-made image, not both",
                                  field="scan")
        source = "scan" if scan_sha else ("software" if software else row.image_source)
        if source == "scan" and (center_text or code):
            raise ValidationError("centre text and code are drawn on software-made images only; "
                                  "ask for one (software) or upload a scan that shows them",
                                  field="center_text" if center_text else "code")
        if row.valid_end <= now:
            raise ValidationError(f"seal {row.es_id}'s validity ended "
                                  f"{row.valid_end:%Y-%m-%d}; renew it first", field="seal",
                                  code="seal_expired")
        image = _Image(source, row.kind, sub.name,
                       None if row.kind == "personal" else (center_text or row.center_text),
                       code or row.code, scan_sha)
        return row, cert, image, sub

    def change(self, seal: int | str, *, scan: bytes | None = None, software: bool = False,
               center_text: str | None = None, code: str | None = None,
               certificate_serial: str | None = None, form: SealForm | dict | None = None,
               actor: str = "ra-officer") -> dict:
        """变更: new image or data (name, holder, centre text, code, certificate) → new record."""
        form = self._coerce_form(form, "change")
        scan_sha = self._check_scan(scan)
        issuer = self.ca.issuer("issuing")
        now = _whole(self.clock.now())
        args = dict(scan_sha=scan_sha, software=software, center_text=center_text, code=code,
                    certificate_serial=certificate_serial, form=form, now=now)
        with self.db.read() as s:
            row, _, image, sub = self._plan_change(s, seal, **args)
            redraw = (image.source == "scan" and scan_sha is not None) or (
                image.source == "software" and (
                    row.image_source != "software" or sub.name != self._drawn_name(row)
                    or image.center_text != row.center_text or image.code != row.code))
        drawn = image.draw(scan) if redraw else None
        with self._with_files() as (s, staged):
            row, cert, again, sub = self._plan_change(s, seal, lock=True, **args)
            self._same_image(image, again)
            changes: dict[str, object] = {}

            def put(attr: str, value: object) -> None:
                if getattr(row, attr) != value:
                    changes[attr] = {"from": getattr(row, attr), "to": value}
                    setattr(row, attr, value)

            put("name", self._seal_name(sub, row.kind))
            if cert.id != row.certificate_id:
                changes["certificate"] = {
                    "from": s.get(Certificate, row.certificate_id).serial_hex,
                    "to": cert.serial_hex}
                row.certificate_id = cert.id
            if form:
                put("project", form.project)
                put("holder_name", form.holder_name)
                put("holder_id_type", form.id_type)
                if form.id_number != row.holder_id_number:
                    changes["holder_id_number"] = "changed"  # not in the audit trail
                    row.holder_id_number = form.id_number
            if drawn is not None:
                new_png = drawn.png != row.png
                put("image_source", image.source)
                put("center_text", image.center_text)
                put("code", image.code)
                if new_png:
                    changes["png_sha256"] = {"from": _sha(row.png), "to": _sha(drawn.png)}
                row.png, row.svg, row.pdf = drawn.png, drawn.svg, drawn.pdf
                row.width_mm, row.height_mm = drawn.width_mm, drawn.height_mm
            if not changes:
                raise ValidationError("nothing to change: the new data is the seal's current "
                                      "data", field="seal", code="nothing_to_change")
            row.valid_start, row.valid_end = now, min(row.valid_end, cert.not_after)
            row.updated_at = now
            self._new_record(s, row, cert, issuer, "change", now)
            app = self._record_application(s, row, form, actor, now) if form else None
            audit.record(s, at=now, actor=actor, action="seal.change", subject_type="seal",
                         subject_id=row.es_id,
                         data={"from": ACTIVE, "to": ACTIVE, "changes": changes,
                               "application_id": app.id if app else None,
                               "version": row.version, "seseal_sha256": _sha(row.seseal)})
            out = self._dict(s, row, now=now)
            staged.files = self._file_set(row)
        return out

    @staticmethod
    def _drawn_name(row: Seal) -> str:
        """The name the current software-made image shows (the organization's or holder's)."""
        suffix = KINDS[row.kind].suffix
        return row.name[: len(row.name) - len(suffix)] if suffix else row.name

    def cancel(self, seal: int | str, *, form: SealForm | dict | None = None,
               actor: str = "ra-officer") -> dict:
        """注销: the holder no longer wants the seal; final."""
        form = self._coerce_form(form, "cancel")

        def with_form(s: Session, row: Seal, now: dt.datetime) -> dict:
            if not form:
                return {}
            self._check_holder(self._subscriber(s, row.subscriber_id), row.kind, form)
            return {"application_id": self._record_application(s, row, form, actor, now).id}

        return self._simple("cancel", seal, actor, check=with_form)

    # --- holds, revocation, expiry ---------------------------------------------------------------
    def _simple(self, verb: str, seal: int | str, actor: str, *, hold_kind: str | None = None,
                data: dict | None = None, check=None, note: str | None = None) -> dict:
        now = self.clock.now()
        with self.db.transaction() as s:
            row = self._seal_row(s, seal, lock=True)
            out = self._move(s, row, verb, actor, now, hold_kind=hold_kind, data=data,
                             check=check, note=note)
        return out

    def _move(self, s: Session, row: Seal, verb: str, actor: str, now: dt.datetime, *,
              hold_kind: str | None = None, data: dict | None = None, check=None,
              note: str | None = None) -> dict:
        move = lifecycle.check_move(verb, row.state, row.hold_kind, row.es_id)
        extra = (check(s, row, now) if check else None) or {}
        before = row.state + (f" ({row.hold_kind})" if row.hold_kind else "")
        row.state = move.to_state
        if move.to_state == FROZEN:
            row.hold_kind, row.held_at, row.hold_note = hold_kind, now, note
        else:
            row.hold_kind, row.held_at, row.hold_note = None, None, None
        if move.to_state in lifecycle.FINAL:
            row.ended_at = now
        row.updated_at = now
        audit.record(s, at=now, actor=actor, action=f"seal.{verb}", subject_type="seal",
                     subject_id=row.es_id,
                     data={"from": before, "to": row.state, "note": note, **(data or {}),
                           **extra})
        return self._dict(s, row, now=now)

    @staticmethod
    def _actor(actor: str, field: str = "actor") -> str:
        return validate_name(actor, field, 100)

    def freeze(self, seal: int | str, *, actor: str, note: str | None = None) -> dict:
        """冻结: on hold (004 §七); unusable until unfrozen."""
        return self._simple("freeze", seal, self._actor(actor), hold_kind=HOLD_FROZEN, note=note)

    def unfreeze(self, seal: int | str, *, actor: str) -> dict:
        """解冻. A hold for a leaked PIN lifts only once the PIN has been changed since."""
        def pin_changed(s: Session, row: Seal, now: dt.datetime) -> None:
            if row.hold_kind == HOLD_PIN_LEAK and not (
                    row.pin_changed_at and row.held_at and row.pin_changed_at > row.held_at):
                raise Forbidden(f"seal {row.es_id} was frozen because its PIN leaked: change the "
                                "seal PIN first", field="pin", code="pin_change_required")

        return self._simple("unfreeze", seal, self._actor(actor), check=pin_changed)

    def revoke(self, seal: int | str, *, reason: str, actor: str, note: str | None = None
               ) -> dict:
        """废止 on one of the agreement's grounds (004 §十一); final."""
        if reason not in REVOCATION_REASONS:
            raise ValidationError(f"unknown revocation reason {reason!r}; choose one of "
                                  f"{', '.join(REVOCATION_REASONS)}", field="reason")
        if reason == "other" and not (note or "").strip():
            raise ValidationError("say what the other ground is (e.g. the law requiring it)",
                                  field="note")
        actor = self._actor(actor)

        def mark(s: Session, row: Seal, now: dt.datetime) -> None:
            row.revoked_at, row.revocation_reason, row.revocation_note = now, reason, note

        return self._simple("revoke", seal, actor, check=mark, note=note,
                            data={"reason": reason, "reason_text": REVOCATION_REASONS[reason]})

    def report_pin_leak(self, seal: int | str, *, actor: str, note: str | None = None) -> dict:
        """印章密码泄漏/丢失 (004 §六, §七): freeze at once every live seal opened by that PIN."""
        actor = self._actor(actor)
        now = self.clock.now()
        with self.db.transaction() as s:
            row = self._seal_row(s, seal, lock=True)
            lifecycle.check_move("report_pin_leak", row.state, row.hold_kind, row.es_id)
            others = [o for o in self._seals_on_key(s, row) if o.id != row.id
                      and o.state in lifecycle.MOVES["report_pin_leak"].from_states]
            out = self._move(s, row, "report_pin_leak", actor, now, hold_kind=HOLD_PIN_LEAK,
                             note=note, data={"also_frozen": [o.es_id for o in others]})
            for other in others:
                self._move(s, other, "report_pin_leak", actor, now, hold_kind=HOLD_PIN_LEAK,
                           note=note, data={"reported_on": row.es_id})
            out["also_frozen"] = [o.es_id for o in others]
        return out

    def expire_due(self, *, actor: str = "scheduler") -> list[str]:
        """Mark seals past their end of validity as expired (run by the scheduler)."""
        now = self.clock.now()
        with self.db.read() as s:
            due = s.execute(select(Seal.id).where(
                Seal.state.in_(lifecycle.MOVES["expire"].from_states), Seal.valid_end <= now)
                .order_by(Seal.id)).scalars().all()
        done = []
        for seal_id in due:
            try:
                done.append(self._simple("expire", seal_id, actor)["es_id"])
            except IllegalTransition:
                continue  # moved on meanwhile (cancelled, revoked)
        return done

    # --- authorization (用印授权) ---------------------------------------------------------------
    def grant(self, seal: int | str, member_subscriber_id: int, *, actor: str,
              note: str | None = None) -> dict:
        """The organization lets one of its people use this seal (with the seal PIN)."""
        actor = self._actor(actor)
        now = self.clock.now()
        with self.db.transaction() as s:
            row = self._seal_row(s, seal, lock=True)
            if row.kind not in ORGANIZATION_KINDS:
                raise ValidationError("a personal seal is used by its holder only; grants are "
                                      "for organization seals", field="seal")
            lifecycle.check_manageable("grant use", row.state, row.es_id)
            member = self._subscriber(s, member_subscriber_id, "member_subscriber_id")
            if member.kind != "person":
                raise ValidationError(f"seal use is granted to people; #{member.id} is a "
                                      f"{member.kind}", field="member_subscriber_id")
            if self._grant_row(s, row.id, member.id):
                raise Conflict(f"{member.name} (#{member.id}) may already use seal {row.es_id}",
                               field="member_subscriber_id", code="already_granted")
            g = SealGrant(seal_id=row.id, member_subscriber_id=member.id, granted_by=actor,
                          granted_at=now, note=note)
            s.add(g)
            s.flush()
            audit.record(s, at=now, actor=actor, action="seal.grant", subject_type="seal",
                         subject_id=row.es_id,
                         data={"grant_id": g.id, "member_subscriber_id": member.id,
                               "member_name": member.name, "note": note})
            return self._grant_dict(g, row, member)

    def withdraw(self, seal: int | str, member_subscriber_id: int, *, actor: str,
                 note: str | None = None) -> dict:
        """Withdraw a member's right to use the seal, at once."""
        actor = self._actor(actor)
        now = self.clock.now()
        with self.db.transaction() as s:
            row = self._seal_row(s, seal, lock=True)
            g = self._grant_row(s, row.id, member_subscriber_id)
            if g is None:
                raise NotFound(f"subscriber #{member_subscriber_id} holds no grant for seal "
                               f"{row.es_id}", field="member_subscriber_id", code="not_granted")
            g.withdrawn_at, g.withdrawn_by = now, actor
            member = s.get(Subscriber, member_subscriber_id)
            audit.record(s, at=now, actor=actor, action="seal.withdraw", subject_type="seal",
                         subject_id=row.es_id,
                         data={"grant_id": g.id, "member_subscriber_id": member_subscriber_id,
                               "note": note})
            return self._grant_dict(g, row, member)

    @staticmethod
    def _grant_row(s: Session, seal_id: int, member_id: int) -> SealGrant | None:
        return s.execute(select(SealGrant).where(
            SealGrant.seal_id == seal_id, SealGrant.member_subscriber_id == member_id,
            SealGrant.withdrawn_at.is_(None)).with_for_update()).scalars().first()

    @staticmethod
    def _grant_dict(g: SealGrant, seal: Seal, member: Subscriber | None) -> dict:
        return {"id": g.id, "seal_id": seal.id, "es_id": seal.es_id,
                "member_subscriber_id": g.member_subscriber_id,
                "member_name": member.name if member else None,
                "granted_by": g.granted_by, "granted_at": g.granted_at.isoformat(),
                "note": g.note, "withdrawn_by": g.withdrawn_by,
                "withdrawn_at": _iso(g.withdrawn_at), "active": g.withdrawn_at is None}

    def grants(self, seal: int | str, *, include_withdrawn: bool = False) -> list[dict]:
        with self.db.read() as s:
            row = self._seal_row(s, seal)
            q = select(SealGrant).where(SealGrant.seal_id == row.id).order_by(SealGrant.id)
            if not include_withdrawn:
                q = q.where(SealGrant.withdrawn_at.is_(None))
            return [self._grant_dict(g, row, s.get(Subscriber, g.member_subscriber_id))
                    for g in s.execute(q).scalars()]

    # --- use -------------------------------------------------------------------------------------
    def _problem(self, s: Session, seal: Seal, cert: Certificate, key: PlatformKey | None,
                 member_subscriber_id: int | None, now: dt.datetime) -> Forbidden | None:
        """Why the seal cannot sign right now (PIN aside), or None; reads current rows only."""
        if seal.state != ACTIVE:
            hold = f" ({seal.hold_kind})" if seal.hold_kind else ""
            return Forbidden(f"seal {seal.es_id} is {seal.state}{hold}", field="seal",
                             code="seal_not_active")
        if not seal.valid_start <= now < seal.valid_end:
            return Forbidden(f"seal {seal.es_id} is outside its validity "
                             f"({seal.valid_start:%Y-%m-%d} to {seal.valid_end:%Y-%m-%d})",
                             field="seal", code="seal_expired")
        if cert.status != cert_lifecycle.ACTIVE or cert.not_after <= now:
            state = cert.status + (f" ({cert.hold_kind})" if cert.hold_kind else "")
            return Forbidden(f"seal {seal.es_id} cannot be used: its certificate "
                             f"{cert.serial_hex} is "
                             f"{state if cert.status != cert_lifecycle.ACTIVE else 'past its end'}",
                             field="certificate", code="certificate_not_valid")
        if member_subscriber_id is not None:
            if seal.kind in ORGANIZATION_KINDS:
                if s.execute(select(SealGrant.id).where(
                        SealGrant.seal_id == seal.id,
                        SealGrant.member_subscriber_id == member_subscriber_id,
                        SealGrant.withdrawn_at.is_(None))).first() is None:
                    return Forbidden(f"subscriber #{member_subscriber_id} is not authorized to "
                                     f"use seal {seal.es_id} (用印授权)",
                                     field="member_subscriber_id", code="not_authorized")
            elif member_subscriber_id != seal.subscriber_id:
                return Forbidden(f"personal seal {seal.es_id} is used by its holder only",
                                 field="member_subscriber_id", code="not_authorized")
        if key is None:
            return Forbidden(f"seal {seal.es_id} is bound to certificate {cert.serial_hex}, "
                             "whose key the subscriber holds (CSR): it cannot sign on the "
                             "platform; sign locally with your own key, this seal's image and "
                             "its SESeal record", field="seal", code="subscriber_held_key")
        if key.locked:
            return self._locked(seal.es_id)
        return None

    def usable(self, seal: int | str, member_subscriber_id: int | None = None) -> dict:
        """Whether the seal could sign now for this member (or its holder), PIN aside."""
        now = self.clock.now()
        with self.db.read() as s:
            row = self._seal_row(s, seal)
            if member_subscriber_id == row.subscriber_id:
                member_subscriber_id = None
            cert = s.get(Certificate, row.certificate_id)
            key = s.get(PlatformKey, cert.platform_key_id) if cert.platform_key_id else None
            p = self._problem(s, row, cert, key, member_subscriber_id, now)
            return {"seal_id": row.id, "es_id": row.es_id,
                    "member_subscriber_id": member_subscriber_id, "usable": p is None,
                    "code": p.code if p else None, "reason": p.message if p else None}

    def can_use(self, seal: int | str, person_subscriber_id: int) -> bool:
        """May this person use this seal now: authorized, and seal and certificate valid."""
        return self.usable(seal, person_subscriber_id)["usable"]

    def unlock_for_signing(self, seal: int | str, pin: str,
                           member_subscriber_id: int | None = None) -> UnlockedSeal:
        """The signing service's door: every check against current rows, then the PIN.

        ``member_subscriber_id`` is the person acting for an organization (must hold a grant);
        ``None`` or the holder's own id means the holder acts itself. A wrong PIN is counted and
        committed although the call is refused; the fifth in a row locks the key (and so every
        seal on it).
        """
        if not isinstance(pin, str) or not pin:
            raise ValidationError("the seal PIN is needed", field="pin")
        now = self.clock.now()
        with self.db.read() as s:
            row = self._seal_row(s, seal)
            if member_subscriber_id == row.subscriber_id:
                member_subscriber_id = None
            cert = s.get(Certificate, row.certificate_id)
            key = s.get(PlatformKey, cert.platform_key_id) if cert.platform_key_id else None
            p = self._problem(s, row, cert, key, member_subscriber_id, now)
            if p is not None:
                raise p
            assert key is not None
            key_id, blob, label = key.id, key.sealed_key, key.label
            stamp = SealStamp(seal_id=row.id, es_id=row.es_id, kind=row.kind, name=row.name,
                              png=row.png, width_mm=row.width_mm, height_mm=row.height_mm,
                              seseal=row.seseal, certificate_serial=cert.serial_hex)
            certificate = x509.load_der_x509_certificate(cert.der)
        handle = self._judge_pin(key_id, blob, label, row.es_id, pin,
                                 lambda b, p, lab: open_private_key(b, p, lab, kek=self.kek))
        return UnlockedSeal(handle, certificate, stamp)

    @staticmethod
    def _locked(es_id: str) -> Forbidden:
        """The one reply to any attempt on a locked key, whatever PIN it carried."""
        return Forbidden(f"seal {es_id} is locked after {MAX_PIN_FAILURES} wrong PINs; an RA "
                         "officer must unlock it", field="pin", code="seal_locked")

    def _judge_pin(self, key_id: int, blob: bytes, label: str, es_id: str, pin: str,
                   attempt: Callable[[bytes, str, str], T]) -> T:
        """Try ``pin`` on the key and record the verdict; the attempt counts only there.

        The slow part (scrypt) runs outside any lock, so parallel attempts do not queue behind
        it and, on SQLite, do not hold the database's write lock. The verdict is then recorded
        in one short transaction holding the key row (``FOR UPDATE``): if the key was locked
        meanwhile, the attempt is refused with the locked reply — the same words for a right
        and a wrong PIN, so losing the race reveals nothing — and is not counted; otherwise a
        wrong PIN adds exactly one to the counter (the fifth locks the key) and a right one
        clears it. Each attempt thus takes effect at its own commit, as if all were made one
        after another: counts are exact and no attempt is judged on a locked key.
        """
        try:
            result: T | None = attempt(blob, pin, label)
        except Forbidden as e:
            if e.code != "wrong_pin":
                raise
            result = None
        now = self.clock.now()
        with self.db.transaction() as s:
            k = s.execute(select(PlatformKey).where(PlatformKey.id == key_id)
                          .with_for_update()).scalar_one()
            if k.locked:
                raise self._locked(es_id)
            if k.sealed_key != blob:  # judged against a PIN that was changed meanwhile
                raise Conflict("the seal PIN was changed meanwhile; try again", field="pin",
                               code="retry")
            if result is not None:
                if k.failed_attempts:
                    k.failed_attempts = 0
                return result
            k.failed_attempts += 1
            if k.failed_attempts >= MAX_PIN_FAILURES:
                k.locked = True
                seals = [x.es_id for x in self._seals_on_key_id(s, key_id)]
                audit.record(s, at=now, actor="system", action="seal.pin_locked",
                             subject_type="seal", subject_id=es_id,
                             data={"failed_attempts": k.failed_attempts, "key": k.label,
                                   "seals": seals})
                refusal = Forbidden(f"wrong seal PIN; seal {es_id} is now locked after "
                                    f"{MAX_PIN_FAILURES} wrong PINs: an RA officer must unlock "
                                    "it", field="pin", code="seal_locked")
            else:
                left = MAX_PIN_FAILURES - k.failed_attempts
                refusal = Forbidden(f"wrong seal PIN ({left} attempt{'s' if left != 1 else ''} "
                                    "left before the seal locks)", field="pin",
                                    code="wrong_pin")
        raise refusal  # after the commit: counting the wrong PIN is the point of this write

    # --- PIN management --------------------------------------------------------------------------
    @staticmethod
    def _seals_on_key_id(s: Session, key_id: int) -> list[Seal]:
        return list(s.execute(select(Seal).join(Certificate, Seal.certificate_id == Certificate.id)
                              .where(Certificate.platform_key_id == key_id)
                              .order_by(Seal.id)).scalars())

    def _seals_on_key(self, s: Session, row: Seal) -> list[Seal]:
        cert = s.get(Certificate, row.certificate_id)
        return self._seals_on_key_id(s, cert.platform_key_id) if cert.platform_key_id else [row]

    def _key_for_pin_change(self, s: Session, row: Seal) -> PlatformKey:
        lifecycle.check_manageable("change the PIN", row.state, row.es_id)
        cert = s.get(Certificate, row.certificate_id)
        if cert.platform_key_id is None:
            raise Forbidden(f"seal {row.es_id}'s key is held by the subscriber (CSR): its PIN is "
                            "yours to manage on your own device", field="seal",
                            code="subscriber_held_key")
        if cert.status in (cert_lifecycle.REVOKED, cert_lifecycle.EXPIRED):
            raise Forbidden(f"certificate {cert.serial_hex} is {cert.status}; its key is no "
                            "longer used", field="certificate", code="certificate_not_valid")
        key = s.get(PlatformKey, cert.platform_key_id)
        if key.locked:
            raise self._locked(row.es_id)
        return key

    def change_pin(self, seal: int | str, *, old_pin: str, new_pin: str,
                   actor: str = "holder") -> dict:
        """Re-encrypt the seal's key under a new PIN; the PIN never reaches the audit trail."""
        actor = self._actor(actor)
        check_pin(new_pin, "new_pin")
        if not isinstance(old_pin, str) or not old_pin:
            raise ValidationError("the current seal PIN is needed", field="pin")
        if new_pin == old_pin:
            raise ValidationError("the new PIN must differ from the current one", field="new_pin")
        with self.db.read() as s:
            row = self._seal_row(s, seal)
            key = self._key_for_pin_change(s, row)
            key_id, blob, label, es_id = key.id, key.sealed_key, key.label, row.es_id
        # a wrong current PIN counts like any other attempt
        new_blob = self._judge_pin(key_id, blob, label, es_id, old_pin,
                                   lambda b, pin, lab: reseal(b, pin, new_pin, lab,
                                                              kek=self.kek))
        now = self.clock.now()
        with self.db.transaction() as s:
            row = self._seal_row(s, seal, lock=True)
            key = self._key_for_pin_change(s, row)
            k = s.execute(select(PlatformKey).where(PlatformKey.id == key.id)
                          .with_for_update()).scalar_one()
            if k.sealed_key != blob:
                raise Conflict("the seal PIN was changed meanwhile; try again with the new one",
                               field="pin", code="retry")
            k.sealed_key, k.failed_attempts = new_blob, 0
            affected = [x for x in self._seals_on_key_id(s, k.id)
                        if x.state in lifecycle.MANAGEABLE]
            for other in affected:
                other.pin_changed_at = now
            audit.record(s, at=now, actor=actor, action="seal.pin_changed", subject_type="seal",
                         subject_id=row.es_id,
                         data={"key": k.label, "seals": [x.es_id for x in affected]})
            return {"es_id": row.es_id, "pin_changed_at": now.isoformat(),
                    "seals": [x.es_id for x in affected]}

    def unlock(self, seal: int | str, *, officer: str, note: str | None = None) -> dict:
        """An RA officer releases the PIN lock (after checking the holder's identity)."""
        officer = self._actor(officer, "officer")
        now = self.clock.now()
        with self.db.transaction() as s:
            row = self._seal_row(s, seal, lock=True)
            cert = s.get(Certificate, row.certificate_id)
            k = (s.execute(select(PlatformKey).where(PlatformKey.id == cert.platform_key_id)
                           .with_for_update()).scalar_one() if cert.platform_key_id else None)
            if k is None or not k.locked:
                raise IllegalTransition(f"seal {row.es_id} is not locked", field="seal")
            k.locked, k.failed_attempts = False, 0
            audit.record(s, at=now, actor=officer, action="seal.unlock", subject_type="seal",
                         subject_id=row.es_id,
                         data={"key": k.label, "note": note,
                               "seals": [x.es_id for x in self._seals_on_key_id(s, k.id)]})
            return self._dict(s, row, now=now)

    # --- queries ---------------------------------------------------------------------------------
    def get(self, seal: int | str, *, reveal: bool = False) -> dict:
        with self.db.read() as s:
            return self._dict(s, self._seal_row(s, seal), reveal=reveal)

    def list(self, *, subscriber_id: int | None = None, state: str | None = None,
             kind: str | None = None) -> list[dict]:
        with self.db.read() as s:
            q = select(Seal).order_by(Seal.id)
            if subscriber_id is not None:
                q = q.where(Seal.subscriber_id == subscriber_id)
            if state:
                q = q.where(Seal.state == state)
            if kind:
                q = q.where(Seal.kind == kind)
            now = self.clock.now()
            return [self._dict(s, x, now=now) for x in s.execute(q).scalars()]

    def artifacts(self, seal: int | str) -> dict[str, bytes]:
        """The seal's image (PNG, SVG, PDF) and SESeal record, straight from the database."""
        with self.db.read() as s:
            return dict(self._file_set(self._seal_row(s, seal))[1])

    def records(self, seal: int | str) -> list[dict]:
        """Every SESeal record the seal has had, oldest first."""
        with self.db.read() as s:
            row = self._seal_row(s, seal)
            rows = s.execute(select(SealRecord).where(SealRecord.seal_id == row.id)
                             .order_by(SealRecord.version)).scalars().all()
            return [{"version": r.version, "verb": r.verb,
                     "certificate_serial": s.get(Certificate, r.certificate_id).serial_hex,
                     "valid_start": r.valid_start.isoformat(),
                     "valid_end": r.valid_end.isoformat(), "made_at": r.made_at.isoformat(),
                     "seseal_sha256": _sha(r.seseal),
                     "seseal_b64": base64.b64encode(r.seseal).decode("ascii")} for r in rows]

    def verify_record(self, seal: int | str) -> dict:
        """Check the stored SESeal as a relying party would: our CA made it, and it says what
        the database says (so a record swapped in the table is caught); and check that the
        files under ``<home>/seals/<esID>/`` exist and match the database's copies byte for
        byte (SHA-256), since those files are what gets handed out and archived."""
        maker = self.ca.certificate("issuing").public_bytes(serialization.Encoding.DER)
        with self.db.read() as s:
            row = self._seal_row(s, seal)
            cert_der = s.get(Certificate, row.certificate_id).der
            der, es_id = row.seseal, row.es_id
            expected = (row.es_id, row.name, KINDS[row.kind].seal_type, [cert_der], row.png,
                        _whole(row.valid_start), _whole(row.valid_end))
            files = self._files_status(es_id, self._file_set(row)[1])
        bad_files = {k: v for k, v in files.items() if v != "ok"}
        files_problem = (f"files under {self.files_dir(es_id)} do not match the database ("
                         + ", ".join(f"{k} {v}" for k, v in bad_files.items())
                         + f"): run `yinxin seal write-files {es_id}` to write them again"
                         if bad_files else None)
        try:
            info = verify_seseal(der, [maker]).info
        except ValidationError as e:
            return {"es_id": es_id, "ok": False, "problem": e.message, "files": files}
        got = (info.es_id, info.name, info.seal_type, info.cert_list, info.picture_data,
               info.valid_start, info.valid_end)
        record_ok = got == expected
        ok = record_ok and not bad_files
        return {"es_id": es_id, "ok": ok, "files": files,
                "problem": (None if ok else files_problem if record_ok
                            else "the record does not match the seal's data"),
                "name": info.name, "valid_start": info.valid_start.isoformat(),
                "valid_end": info.valid_end.isoformat(), "width_mm": info.width_mm,
                "height_mm": info.height_mm, "seseal_sha256": _sha(der)}

    def applications(self, seal: int | str, *, reveal: bool = False) -> list[dict]:
        with self.db.read() as s:
            row = self._seal_row(s, seal)
            apps = s.execute(select(SealApplication).where(SealApplication.seal_id == row.id)
                             .order_by(SealApplication.id)).scalars().all()
            return [{"id": a.id, "business_type": a.business_type,
                     "business_title": BUSINESS_TYPES[a.business_type], "project": a.project,
                     "holder_name": a.holder_name, "holder_id_type": a.holder_id_type,
                     "holder_id_type_title": ID_TYPES.get(a.holder_id_type),
                     "holder_id_number": a.holder_id_number if reveal else _mask(
                         a.holder_id_number),
                     "declaration": DECLARATION, "declaration_sha256": a.declaration_sha256,
                     "submitted_by": a.submitted_by, "submitted_at": a.submitted_at.isoformat()}
                    for a in apps]
