"""The application form's four business types: 新申请 create, 续费 renew, 变更 change, 注销 cancel.

Create, renew and change make a new SESeal record and rewrite the seal's folder, so they run in
``SealFiles.transaction``. Images are drawn before that transaction (drawing is slow and needs
no lock) and the transaction plans again and re-checks that what was drawn still matches the
data (``catalogue.same_image``). Every verb checks all its inputs and the lifecycle table first,
then writes the change and its audit event in one transaction.

esID. 14 digits: the platform's 6-digit administrative region code (GB/T 2260), the 2-digit year
of creation and the seal's database id as a 6-digit sequence (wider beyond 999999). Unique because
the id is, stable for the seal's life (renewal and change keep it), and ASCII as IA5String needs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from yinxin.clock import Clock, beijing_date
from yinxin.errors import Conflict, Forbidden, ValidationError
from yinxin.pki.authority import Issuer
from yinxin.registry.fees import check_years
from yinxin.seals import lifecycle
from yinxin.seals.catalogue import (
    BUSINESS_TYPES,
    DEFAULT_REGION,
    KINDS,
    YEAR,
    BusinessType,
    ImagePlan,
    ImageSource,
    KindSpec,
    SealForm,
    SealKind,
    check_holder,
    check_region_code,
    check_scan,
    coerce_form,
    drawn_name,
    same_image,
    seal_name,
)
from yinxin.seals.files import SealFiles, StagedFiles, file_set
from yinxin.seals.holds import SealHolds
from yinxin.seals.lifecycle import SealState
from yinxin.seals.records import make_record, record_application
from yinxin.seals.rows import (
    actor_name,
    audit_seal,
    certificate_for,
    held_certificate,
    require_valid_certificate,
    seal_row,
    sha,
    subscriber_row,
    whole,
)
from yinxin.seals.view import SealView, SealViews
from yinxin.store.db import Database, add_unique
from yinxin.store.models import Certificate, Subscriber
from yinxin.store.models.seals import Seal
from yinxin.store.queries import holder_organization

if TYPE_CHECKING:
    from yinxin.registry.ca import CertificateAuthority
    from yinxin.seals.render import SealImage


class _Plan(NamedTuple):
    """What a create or change will write, read from current rows: the seal (None before it
    exists), its holder, its certificate, its picture, and whether the picture is drawn anew."""

    row: Seal | None
    sub: Subscriber
    cert: Certificate
    image: ImagePlan
    redraw: bool


def _duplicate(sub: Subscriber, kind: str, es_id: str | None) -> Conflict:
    which = f" ({es_id})" if es_id else ""
    return Conflict(
        f"{sub.name} already has a live {KINDS[kind].title}{which}; change, "
        "renew or cancel that one",
        field="kind",
        code="duplicate",
    )


def _known_kind(kind: str) -> KindSpec:
    """``kind``'s catalogue entry, or a refusal naming ``kind``: judged before the CA or the
    database is read, so an unknown kind on a data directory with no CA yet is refused as the
    kind (and no database is made for it), not as "the CA is not initialised"."""
    if kind not in KINDS:
        raise ValidationError(
            f"unknown seal kind {kind!r}; choose one of {', '.join(KINDS)}", field="kind"
        )
    return KINDS[kind]


def _no_text_on_personal(kind: str, center_text: str | None, code: str | None) -> None:
    """A personal seal is the holder's name alone: refused, naming the field, for a new seal
    and for a change alike."""
    if kind == SealKind.PERSONAL and (center_text or code):
        raise ValidationError(
            "a personal seal has no centre text or code",
            field="center_text" if center_text else "code",
        )


def _switch_certificate(
    s: Session, seal: Seal, serial: str | None, now: dt.datetime, *, lock: bool = False
) -> Certificate:
    """The certificate named by ``serial`` (checked for the seal), or the seal's own, if valid;
    with ``lock``, its row held for the transaction."""
    sub = subscriber_row(s, seal.subscriber_id)
    if serial:
        return certificate_for(s, serial, sub, seal.kind, now, lock=lock)
    cert = (
        held_certificate(s, seal.certificate_id)
        if lock
        else s.get(Certificate, seal.certificate_id)
    )
    require_valid_certificate(cert, now)
    return cert


def _off_the_leaked_key(s: Session, seal: Seal, cert: Certificate) -> None:
    """A change lifts a PIN-leak hold only by moving the seal off the key that PIN opens: onto
    the certificate of a new key (``cert rekey`` or ``reissue``, under a new PIN). A holder who
    lost the PIN could otherwise never use the seal again — unfreezing needs a PIN change, and
    a PIN change needs the lost PIN."""
    old = s.get(Certificate, seal.certificate_id)
    if old.platform_key_id is not None and cert.platform_key_id == old.platform_key_id:
        raise Forbidden(
            f"seal {seal.es_id} was frozen because its PIN leaked: change the seal PIN and "
            "unfreeze it, or change it onto the certificate of a new key (cert rekey)",
            field="certificate_serial",
            code="pin_change_required",
        )


class SealIssuance:
    """Makes seals and their new records: create, renew, change; and cancels them."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        ca: CertificateAuthority,
        *,
        files: SealFiles,
        views: SealViews,
        holds: SealHolds,
        region_code: str = DEFAULT_REGION,
    ):
        self.db, self.clock, self.ca = db, clock, ca
        self.files, self.views, self.holds = files, views, holds
        self.region_code = check_region_code(region_code)

    def apply(
        self,
        *,
        business_type: str,
        project: str,
        holder_name: str,
        id_type: str,
        id_number: str,
        declaration_accepted: bool,
        seal: int | str | None = None,
        subscriber_id: int | None = None,
        kind: str | None = None,
        certificate_serial: str | None = None,
        scan: bytes | None = None,
        center_text: str | None = None,
        code: str | None = None,
        years: int = 1,
        actor: str = "applicant",
    ) -> SealView:
        """The seal application form: 新申请 creates, 续费/变更/注销 act on ``seal``."""
        form = SealForm(
            business_type, project, holder_name, id_type, id_number, declaration_accepted
        ).validated()
        if form.business_type == BusinessType.NEW:
            if seal is not None:
                raise ValidationError(
                    "a new application makes a new seal; do not name one", field="seal"
                )
            if subscriber_id is None or kind is None:
                raise ValidationError(
                    "a new seal needs the subscriber and the seal kind",
                    field="subscriber_id" if subscriber_id is None else "kind",
                )
            return self.create(
                subscriber_id=subscriber_id,
                kind=kind,
                certificate_serial=certificate_serial,
                form=form,
                scan=scan,
                center_text=center_text,
                code=code,
                years=years,
                actor=actor,
            )
        if seal is None:
            raise ValidationError(
                f"{BUSINESS_TYPES[form.business_type]} needs the seal it is for", field="seal"
            )
        if form.business_type == BusinessType.RENEW:
            return self.renew(
                seal, years=years, certificate_serial=certificate_serial, form=form, actor=actor
            )
        if form.business_type == BusinessType.CHANGE:
            return self.change(
                seal,
                scan=scan,
                center_text=center_text,
                code=code,
                certificate_serial=certificate_serial,
                form=form,
                actor=actor,
            )
        return self.cancel(seal, form=form, actor=actor)

    # --- create ----------------------------------------------------------------------------------
    @staticmethod
    def _plan_create(
        s: Session,
        *,
        subscriber_id: int,
        kind: str,
        certificate_serial: str | None,
        form: SealForm,
        scan_sha: str | None,
        center_text: str | None,
        code: str | None,
        now: dt.datetime,
        lock: bool = False,
    ) -> _Plan:
        lifecycle.check_move("create", SealState.NONE, None, "(new)")
        spec = _known_kind(kind)
        sub = subscriber_row(s, subscriber_id)
        if sub.kind != spec.subscriber_kind:
            raise ValidationError(
                f"a {kind} seal ({spec.title}) is for {spec.subscriber_kind} "
                f"subscribers; #{sub.id} is a {sub.kind}",
                field="kind",
            )
        check_holder(sub, kind, form)
        cert = certificate_for(s, certificate_serial, sub, kind, now, lock=lock)
        _no_text_on_personal(kind, center_text, code)
        dup = (
            s.execute(
                select(Seal.es_id).where(
                    Seal.subscriber_id == sub.id,
                    Seal.kind == kind,
                    Seal.state.in_(lifecycle.MANAGEABLE),
                )
            )
            .scalars()
            .first()
        )
        if dup:
            raise _duplicate(sub, kind, dup)
        image = ImagePlan(
            ImageSource.SCAN if scan_sha else ImageSource.SOFTWARE,
            SealKind(kind),
            sub.name,
            None if kind == SealKind.PERSONAL else (center_text or spec.center_text),
            code,
            scan_sha,
        )
        return _Plan(None, sub, cert, image, True)

    def _begin(self, scan: bytes | None) -> tuple[str | None, Issuer, dt.datetime]:
        """What a new record needs before anything is read: the scan checked (its SHA-256), the
        CA key loaded (a failure writes nothing) and the time, in whole seconds as the record
        keeps it."""
        return check_scan(scan), self.ca.issuer("issuing"), whole(self.clock.now())

    @contextmanager
    def _drawing(
        self, plan: Callable[[Session, bool], _Plan], scan: bytes | None
    ) -> Iterator[tuple[Session, StagedFiles, _Plan, SealImage | None]]:
        """Plan the picture in one read and draw it with no transaction open (drawing is slow
        and needs no lock); then, in the files transaction, plan again under the row lock: what
        was drawn must still match the data (``same_image``). Yields the session, the staged
        files, the second plan and the drawing (None if the picture stays as it is)."""
        with self.db.read() as s:
            first = plan(s, False)
        drawn = first.image.draw(scan) if first.redraw else None
        with self.files.transaction() as (s, staged):
            again = plan(s, True)
            same_image(first.image, again.image)
            yield s, staged, again, drawn

    def create(
        self,
        *,
        subscriber_id: int,
        kind: str,
        certificate_serial: str | None,
        form: SealForm | dict,
        scan: bytes | None = None,
        center_text: str | None = None,
        code: str | None = None,
        years: int = 1,
        actor: str = "applicant",
    ) -> SealView:
        """新申请: make a seal for a subscriber holding a valid certificate of the right kind."""
        form = coerce_form(form, BusinessType.NEW)
        assert form is not None
        actor = actor_name(actor)
        check_years(years)
        _known_kind(kind)
        scan_sha, issuer, now = self._begin(scan)
        plan = partial(
            self._plan_create,
            subscriber_id=subscriber_id,
            kind=kind,
            certificate_serial=certificate_serial,
            form=form,
            scan_sha=scan_sha,
            center_text=center_text,
            code=code,
            now=now,
        )
        with self._drawing(lambda s, lock: plan(s, lock=lock), scan) as (s, staged, p, drawn):
            sub, cert, image = p.sub, p.cert, p.image
            assert drawn is not None
            valid_end = min(now + years * YEAR, cert.not_after)
            seal = Seal(
                es_id=None,
                kind=kind,
                subscriber_id=sub.id,
                organization_id=holder_organization(sub),
                certificate_id=cert.id,
                name=seal_name(sub, kind),
                **form.holder_columns(),
                image_source=image.source,
                center_text=image.center_text,
                code=image.code,
                state=SealState.ACTIVE,
                valid_start=now,
                valid_end=valid_end,
                png=drawn.png,
                svg=drawn.svg,
                pdf=drawn.pdf,
                width_mm=drawn.width_mm,
                height_mm=drawn.height_mm,
                seseal=b"",
                version=0,
                created_at=now,
                updated_at=now,
            )
            # the unique index on live seals (holder, kind) decides between parallel creations
            add_unique(s, seal, lost_race=_duplicate(sub, kind, None))
            seal.es_id = f"{self.region_code}{now:%y}{seal.id:06d}"
            data = {
                "kind": kind,
                "name": seal.name,
                "subscriber_id": sub.id,
                "certificate": cert.serial_hex,
                "image_source": seal.image_source,
                "valid_end": valid_end.isoformat(),
                "png_sha256": sha(seal.png),
            }
            out = self._recorded(s, staged, seal, cert, issuer, "create", form, actor, now, data)
        self.holds.hooks.committed("create")
        return out

    # --- renew -----------------------------------------------------------------------------------
    def renew(
        self,
        seal: int | str,
        *,
        years: int = 1,
        certificate_serial: str | None = None,
        form: SealForm | dict | None = None,
        actor: str = "ra-officer",
    ) -> SealView:
        """续费: extend validity (never past the certificate's end; pass the renewed
        certificate's serial)."""
        form = coerce_form(form, BusinessType.RENEW)
        check_years(years)
        _, issuer, now = self._begin(None)
        with self.files.transaction() as (s, staged):
            row = seal_row(s, seal, lock=True)
            move = lifecycle.check_move("renew", row.state, row.hold_kind, row.es_id)
            if form:
                check_holder(subscriber_row(s, row.subscriber_id), row.kind, form)
            cert = _switch_certificate(s, row, certificate_serial, now, lock=True)
            new_end = min(max(row.valid_end, now) + years * YEAR, cert.not_after)
            if new_end <= row.valid_end:
                raise ValidationError(
                    f"seal {row.es_id} already runs to {beijing_date(row.valid_end)} and its "
                    f"certificate {cert.serial_hex} ends {beijing_date(cert.not_after)}: a seal "
                    "cannot outlast its certificate; renew the certificate and give the new serial",
                    field="certificate_serial",
                    code="certificate_ends",
                )
            before = {"valid_end": row.valid_end.isoformat(), "certificate": None}
            if cert.id != row.certificate_id:
                before["certificate"] = s.get(Certificate, row.certificate_id).serial_hex
            row.certificate_id, row.valid_start, row.valid_end = cert.id, now, new_end
            row.state, row.updated_at = move.to_state, now
            data = {
                "years": years,
                "previous_valid_end": before["valid_end"],
                "valid_end": new_end.isoformat(),
                "certificate": cert.serial_hex,
                "previous_certificate": before["certificate"],
            }
            out = self._recorded(s, staged, row, cert, issuer, "renew", form, actor, now, data)
        self.holds.hooks.committed("renew")
        return out

    # --- change ----------------------------------------------------------------------------------
    @staticmethod
    def _plan_change(
        s: Session,
        seal: int | str,
        *,
        scan_sha: str | None,
        software: bool,
        center_text: str | None,
        code: str | None,
        certificate_serial: str | None,
        form: SealForm | None,
        now: dt.datetime,
        lock: bool = False,
    ) -> _Plan:
        row = seal_row(s, seal, lock=lock)
        lifecycle.check_move("change", row.state, row.hold_kind, row.es_id)
        sub = subscriber_row(s, row.subscriber_id)
        if form:
            check_holder(sub, row.kind, form)
        cert = _switch_certificate(s, row, certificate_serial, now, lock=lock)
        if row.state == SealState.FROZEN:  # the table let only a PIN-leak hold through
            _off_the_leaked_key(s, row, cert)
        _no_text_on_personal(row.kind, center_text, code)
        if scan_sha and software:
            raise ValidationError(
                "give a scan or ask for a software-made image, not both", field="scan"
            )
        source = (
            ImageSource.SCAN
            if scan_sha
            else ImageSource.SOFTWARE
            if software
            else ImageSource(row.image_source)
        )
        if source == ImageSource.SCAN and (center_text or code):
            raise ValidationError(
                "centre text and code are drawn on software-made images only; "
                "ask for one (software) or upload a scan that shows them",
                field="center_text" if center_text else "code",
            )
        if row.valid_end <= now:
            raise ValidationError(
                f"seal {row.es_id}'s validity ended {beijing_date(row.valid_end)}; renew it first",
                field="seal",
                code="seal_expired",
            )
        image = ImagePlan(
            source,
            SealKind(row.kind),
            sub.name,
            None if row.kind == SealKind.PERSONAL else (center_text or row.center_text),
            code or row.code,
            scan_sha,
        )
        redraw = (image.source == ImageSource.SCAN and scan_sha is not None) or (
            image.source == ImageSource.SOFTWARE
            and (
                row.image_source != ImageSource.SOFTWARE
                or sub.name != drawn_name(row.kind, row.name)
                or image.center_text != row.center_text
                or image.code != row.code
            )
        )
        return _Plan(row, sub, cert, image, redraw)

    def change(
        self,
        seal: int | str,
        *,
        scan: bytes | None = None,
        software: bool = False,
        center_text: str | None = None,
        code: str | None = None,
        certificate_serial: str | None = None,
        form: SealForm | dict | None = None,
        actor: str = "ra-officer",
    ) -> SealView:
        """变更: new image or data (name, holder, centre text, code, certificate) → new record."""
        form = coerce_form(form, BusinessType.CHANGE)
        scan_sha, issuer, now = self._begin(scan)
        plan = partial(
            self._plan_change,
            seal=seal,
            scan_sha=scan_sha,
            software=software,
            center_text=center_text,
            code=code,
            certificate_serial=certificate_serial,
            form=form,
            now=now,
        )
        with self._drawing(lambda s, lock: plan(s, lock=lock), scan) as (s, staged, p, drawn):
            row, sub, cert, image = p.row, p.sub, p.cert, p.image
            assert row is not None
            changes: dict[str, object] = {}

            def put(attr: str, value: object) -> None:
                if getattr(row, attr) != value:
                    changes[attr] = {"from": getattr(row, attr), "to": value}
                    setattr(row, attr, value)

            put("name", seal_name(sub, row.kind))
            if cert.id != row.certificate_id:
                changes["certificate"] = {
                    "from": s.get(Certificate, row.certificate_id).serial_hex,
                    "to": cert.serial_hex,
                }
                row.certificate_id = cert.id
            if form:
                holder = form.holder_columns()
                if holder.pop("holder_id_number") != row.holder_id_number:
                    changes["holder_id_number"] = "changed"  # not in the audit trail
                    row.holder_id_number = form.id_number
                for attr, value in holder.items():
                    put(attr, value)
            if drawn is not None:
                new_png = drawn.png != row.png
                put("image_source", image.source)
                put("center_text", image.center_text)
                put("code", image.code)
                if new_png:
                    changes["png_sha256"] = {"from": sha(row.png), "to": sha(drawn.png)}
                row.png, row.svg, row.pdf = drawn.png, drawn.svg, drawn.pdf
                row.width_mm, row.height_mm = drawn.width_mm, drawn.height_mm
            if not changes:
                raise ValidationError(
                    "nothing to change: the new data is the seal's current data",
                    field="seal",
                    code="nothing_to_change",
                )
            row.valid_start, row.valid_end = now, min(row.valid_end, cert.not_after)
            row.updated_at = now
            data: dict[str, object] = {"changes": changes}
            if row.state == SealState.FROZEN:  # onto a new key: the PIN-leak hold is lifted
                data["from"] = f"{row.state} ({row.hold_kind})"
                row.state = SealState.ACTIVE
                row.hold_kind, row.held_at, row.hold_note = None, None, None
            out = self._recorded(s, staged, row, cert, issuer, "change", form, actor, now, data)
        self.holds.hooks.committed("change")
        return out

    def _recorded(
        self,
        s: Session,
        staged: StagedFiles,
        row: Seal,
        cert: Certificate,
        issuer: Issuer,
        verb: str,
        form: SealForm | None,
        actor: str,
        now: dt.datetime,
        data: dict,
    ) -> SealView:
        """The common end of create, renew and change: make the seal's new SESeal record, keep
        the form handed in (if any), audit the move with ``data``, and name the folder's files
        for the commit; answers the seal as it now stands."""
        if cert.issuer_role != "issuing":  # an SM2 certificate beside a P-256 default: the
            issuer = self.ca.issuer(cert.issuer_role)  # SM2 issuing CA makes its seal's record
        make_record(s, row, cert, issuer, verb, now)
        app = record_application(s, row, form, actor, now) if form else None
        frm = SealState.NONE if verb == "create" else SealState.ACTIVE
        audit_data = {
            "from": frm,
            "to": lifecycle.TABLE[verb].to_state,
            **data,
            "application_id": app.id if app else None,
            "version": row.version,
            "seseal_sha256": sha(row.seseal),
        }
        audit_seal(s, row.es_id, verb, actor, now, audit_data)
        self.holds.hooks.within(s, row, verb)
        staged.files = file_set(row)
        return self.views.of(s, row, now=now)

    # --- cancel ----------------------------------------------------------------------------------
    def cancel(
        self, seal: int | str, *, form: SealForm | dict | None = None, actor: str = "ra-officer"
    ) -> SealView:
        """注销: the holder no longer wants the seal; final."""
        form = coerce_form(form, BusinessType.CANCEL)

        def with_form(s: Session, row: Seal, now: dt.datetime) -> dict:
            if not form:
                return {}
            check_holder(subscriber_row(s, row.subscriber_id), row.kind, form)
            return {"application_id": record_application(s, row, form, actor, now).id}

        return self.holds.simple("cancel", seal, actor, check=with_form)
