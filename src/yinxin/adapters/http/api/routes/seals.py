"""Seals (004): the application form, reads and downloads, lifecycle verbs, grants, PIN, unlock.

Every route is the CLI's ``yinxin seal …`` command over HTTP, calling the same ``platform.seals``
verb. A seal is named in the path by its database id or its 14-digit esID. An
organization-bound key sees the seals of its organization and of the people and devices
registered under it, and nothing else: another organization's seal answers 404 exactly as a
seal that does not exist, on reads and on every write. Unlocking a locked seal is an officer's
act (``Capability.SEAL_REVIEW``); so is revealing a holder's full ID number.

PINs travel in request bodies only (never in a path or query, which access logs keep) and are
never answered back: no response model has a field that could carry one. An uploaded seal scan
is base64 in the JSON body (``scan_base64``), at most 5 MiB decoded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from enum import StrEnum
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictInt

from yinxin.access.keys import Capability, Principal
from yinxin.adapters.http.api.context import (
    IsoDateTime,
    Page,
    Pages,
    Plat,
    Strict,
    allowed,
    get_caller,
    scope_filter,
    scope_owned,
    scope_subscriber,
    state_filter,
)
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.api.responses import file_answer, from_base64
from yinxin.adapters.http.api.shapes import SERIAL_DESCRIPTION, IdNumber, NewPin, certificate_serial
from yinxin.errors import Conflict, NotFound, TooLarge, ValidationError, YinxinError
from yinxin.registry.fees import MAX_YEARS
from yinxin.registry.lifecycle import HoldBy
from yinxin.registry.views import SubmittedApplication
from yinxin.seals.catalogue import KINDS, BusinessType, SealForm, SealKind, check_holder
from yinxin.seals.grants import MAX_USES, GrantView
from yinxin.seals.lifecycle import MANAGEABLE, REVOCATION_REASONS, SealState
from yinxin.seals.pin import PinChange, SealUsability
from yinxin.seals.records import RecordCheck, SealApplicationView, SealRecordView
from yinxin.seals.view import PinLeakView, SealView, granted_view

router = APIRouter(route_class=JsonRoute, tags=["seals"])
SealStateFilter = state_filter(SealState)
SealUser = Annotated[Principal, Depends(allowed(Capability.SEALS))]
SealOfficer = Annotated[Principal, Depends(allowed(Capability.SEAL_REVIEW))]
SEAL_PATTERN = r"^[0-9]{1,32}$"
SealRef = Annotated[
    str, Path(pattern=SEAL_PATTERN, description="the seal's id, or its 14-digit esID")
]
MemberId = Annotated[int, Path(ge=1, le=2**62, description="the member's subscriber id")]
MAX_SCAN_BASE64 = 4 * -(-5 * 1024 * 1024 // 3)  # render.MAX_SCAN_BYTES, base64-encoded


class ImageFormat(StrEnum):
    PNG = "png"
    SVG = "svg"
    PDF = "pdf"


MEDIA = {
    ImageFormat.PNG: "image/png",
    ImageFormat.SVG: "image/svg+xml",
    ImageFormat.PDF: "application/pdf",
}


# --- request bodies -------------------------------------------------------------------------------
HolderSerial = certificate_serial(f"the holder's valid signing certificate: {SERIAL_DESCRIPTION}")
OptionalHolderSerial = certificate_serial(
    f"the holder's valid signing certificate: {SERIAL_DESCRIPTION}", optional=True
)
RenewSerial = certificate_serial(
    f"move the seal onto this (renewed) certificate: {SERIAL_DESCRIPTION}", optional=True
)
BindSerial = certificate_serial(
    f"bind the seal to this certificate: {SERIAL_DESCRIPTION}", optional=True
)


def _scan():
    return Field(
        None,
        max_length=MAX_SCAN_BASE64,
        description="an uploaded seal scan (PNG or JPEG, at most 5 MiB), base64; "
        "leave out for a software-made image",
    )


class FormFields(Strict):
    """The applicant's part of the seal application form (004 I, II, V)."""

    project: str = Field(min_length=1, max_length=200, description="运用项目")
    holder_name: str = Field(min_length=1, max_length=50, description="印章使用人姓名")
    id_type: str = Field("id_card", max_length=40)
    id_number: IdNumber = Field(min_length=1, max_length=40)
    declaration_accepted: bool = Field(
        description="the applicant accepts the declaration (申请人声明) that the data is true"
    )


class SealNewKeyIn(Strict):
    """A new platform-held key under the seal PIN, applied for with the seal (no certificate
    yet): the answer is the certificate application, to be paid and approved."""

    pin: NewPin = Field(description="the seal PIN sealing the new key")
    algorithm: str = Field("ec-p256", max_length=20)
    plan: str = Field("standard", max_length=40)
    years: int = Field(1, ge=1, le=MAX_YEARS)
    acceptance_point: str = Field("总部受理点", max_length=100)


class SealCreateIn(FormFields):
    """新申请: a new seal for a holder with a valid signing certificate of the right profile."""

    subscriber_id: int = Field(ge=1, le=2**62, description="the holder")
    kind: SealKind
    certificate_serial: HolderSerial
    scan_base64: str | None = _scan()
    center_text: str | None = Field(None, max_length=40)
    code: str | None = Field(None, max_length=40)
    years: int = Field(1, ge=1, le=MAX_YEARS)


class SealApplicationIn(FormFields):
    """The whole form, any business type: new (subscriber_id, kind, and certificate_serial or
    new_key), renew/change/cancel (seal)."""

    business_type: BusinessType = BusinessType.NEW
    seal: str | None = Field(None, pattern=SEAL_PATTERN, description="renew, change, cancel")
    subscriber_id: int | None = Field(None, ge=1, le=2**62, description="new: the holder")
    kind: SealKind | None = None
    certificate_serial: OptionalHolderSerial = None
    new_key: SealNewKeyIn | None = None
    scan_base64: str | None = _scan()
    center_text: str | None = Field(None, max_length=40)
    code: str | None = Field(None, max_length=40)
    years: int = Field(1, ge=1, le=MAX_YEARS)


class NoteIn(Strict):
    note: str | None = Field(None, max_length=500)


class RenewIn(Strict):
    years: int = Field(1, ge=1, le=MAX_YEARS)
    certificate_serial: RenewSerial = None


class ChangeIn(Strict):
    scan_base64: str | None = _scan()
    software: bool = Field(False, description="redraw the image by software")
    center_text: str | None = Field(None, max_length=40)
    code: str | None = Field(None, max_length=40)
    certificate_serial: BindSerial = None


class SealRevokeIn(Strict):
    reason: str = Field(
        max_length=40, examples=["holder_request"], description=", ".join(REVOCATION_REASONS)
    )
    note: str | None = Field(None, max_length=500, description="required for reason 'other'")


class SealGrantIn(Strict):
    member_subscriber_id: int = Field(ge=1, le=2**62, description="a person of the organization")
    note: str | None = Field(None, max_length=500)
    valid_until: IsoDateTime | None = Field(
        None,
        description="授权期限: the grant ends then (in the future, not after the seal's or its "
        "certificate's end); left out, it lasts until withdrawn",
    )
    max_uses: StrictInt | None = Field(
        None, ge=1, le=MAX_USES, description="用印次数: the signings it allows; left out, no limit"
    )


class PinChangeIn(Strict):
    pin: str = Field(min_length=1, max_length=64, description="the current seal PIN")
    new_pin: NewPin = Field(description="the new seal PIN")


# --- answers --------------------------------------------------------------------------------------
class SealApplicationOutcome(BaseModel):
    """What the form did: ``done`` (``seal`` as it now stands), or ``certificate_pending`` (a
    new key was asked for: pay and approve ``certificate_application``, then hand the form in
    again naming the certificate)."""

    business_type: BusinessType
    status: Literal["done", "certificate_pending"]
    seal: SealView | None = None
    certificate_application: SubmittedApplication | None = None


# --- scope ----------------------------------------------------------------------------------------
def public(view: SealView) -> SealView:
    """The view as API callers see it: where the server exported the seal's files is the
    server's business, not theirs."""
    return replace(view, files=None)


def _scoped(
    platform, principal: Principal, seal: str, *, reveal: bool = False, granted: bool = False
) -> SealView:
    """The seal, if the caller may see it; any other answers as a seal that does not exist.
    ``granted`` lets through, too, a person using the seal now through a live grant (the
    picture only: nothing else of the seal is theirs to read)."""
    if reveal:  # checked before the query too, by the routes' seal_reader
        principal.require(Capability.SEAL_REVIEW, field="reveal")
    view = platform.seals.get(seal, reveal=reveal)
    try:
        scope_owned(
            platform, principal, view.subscriber_id, missing=f"no seal {seal}", field="seal"
        )
    except NotFound:
        member = principal.organization_id  # a person's own session or key: the person
        if (
            member is None
            or not granted
            or not platform.seals.usable_through_grant(view.id, member)
        ):
            raise
        return granted_view(view)
    return public(view)


def _scan_bytes(data: str | None) -> bytes | None:
    """The uploaded scan, decoded; over its limit, 413 naming ``scan_base64`` (the service
    would name its own ``scan``)."""
    from yinxin.seals import render

    if data is None:
        return None
    scan = from_base64(data, field="scan_base64", refusal="the scan is not valid base64")
    if len(scan) > render.MAX_SCAN_BYTES:
        raise TooLarge(
            f"the uploaded seal scan is larger than {render.MAX_SCAN_BYTES // 2**20} MiB",
            field="scan_base64",
        )
    return scan


@contextmanager
def scan_named() -> Iterator[None]:
    """A refusal of the uploaded scan named as the body names it, ``scan_base64``: the services
    call it ``scan`` (empty, too large, given with ``software``) or ``image`` (no readable,
    blank or too small picture), neither a field of the body. Kind, code and message kept."""
    try:
        yield
    except YinxinError as e:
        if e.field not in ("scan", "image"):
            raise
        raise type(e)(e.message, field="scan_base64", code=e.code) from None


# --- the form -------------------------------------------------------------------------------------
def _form(body: FormFields, business_type: BusinessType) -> dict:
    return {
        "business_type": business_type,
        "project": body.project,
        "holder_name": body.holder_name,
        "id_type": body.id_type,
        "id_number": body.id_number,
        "declaration_accepted": body.declaration_accepted,
    }


@router.post("/seals", status_code=201, response_model=SealView)
def create_seal(body: SealCreateIn, platform: Plat, principal: SealUser):
    """新申请 as ``yinxin seal create``: the form with business type new; the seal is made at
    once (its certificate was already reviewed and issued)."""
    scope_subscriber(platform, principal, body.subscriber_id)
    form = _form(body, BusinessType.NEW)
    with scan_named():
        seal = platform.seals.create(
            subscriber_id=body.subscriber_id,
            kind=body.kind,
            certificate_serial=body.certificate_serial,
            form=form,
            scan=_scan_bytes(body.scan_base64),
            center_text=body.center_text,
            code=body.code,
            years=body.years,
            actor=principal.actor,
        )
    return public(seal)


@router.post(
    "/seal-applications",
    status_code=201,
    response_model=SealApplicationOutcome,
    responses={202: {"model": SealApplicationOutcome, "description": "certificate pending"}},
)
def apply(body: SealApplicationIn, response: Response, platform: Plat, principal: SealUser):
    """The seal application form (电子印章申请表) as ``yinxin seal apply``, for any business
    type. A new seal names the holder's valid certificate (201, the seal), or asks for a new
    platform-held key under a seal PIN (``new_key``; 202, the certificate application)."""
    bt = body.business_type
    if body.seal is not None:
        seal_id: int | None = _scoped(platform, principal, body.seal).id
    else:
        seal_id = None
    if body.subscriber_id is not None:
        scope_subscriber(platform, principal, body.subscriber_id)
    if body.new_key is not None:
        return _apply_for_key(body, response, platform, principal)
    with scan_named():
        seal = platform.seals.apply(
            **_form(body, bt),
            seal=seal_id,
            subscriber_id=body.subscriber_id,
            kind=body.kind,
            certificate_serial=body.certificate_serial,
            scan=_scan_bytes(body.scan_base64),
            center_text=body.center_text,
            code=body.code,
            years=body.years,
            actor=principal.actor,
        )
    return SealApplicationOutcome(
        business_type=bt, status="done", seal=public(seal) if seal else None
    )


def _apply_for_key(body: SealApplicationIn, response: Response, platform, principal: Principal):
    """A new seal on a new platform-held key: the form is checked as far as it can be without
    the certificate (form, kind, holder, no live seal of the kind, scan size), then the key's
    certificate is applied for; nothing is written if a check fails."""
    from yinxin.seals.catalogue import check_scan

    principal.require(Capability.REGISTER, field="new_key")
    if body.business_type != BusinessType.NEW:
        raise ValidationError("only a new seal can ask for a new key", field="new_key")
    if body.certificate_serial is not None:
        raise ValidationError(
            "give the holder's certificate or ask for a new key, not both", field="new_key"
        )
    if body.seal is not None:
        raise ValidationError("a new application makes a new seal; do not name one", field="seal")
    if body.subscriber_id is None or body.kind is None:
        raise ValidationError(
            "a new seal needs the subscriber and the seal kind",
            field="subscriber_id" if body.subscriber_id is None else "kind",
        )
    form = SealForm(**_form(body, BusinessType.NEW)).validated()
    spec = KINDS[body.kind]
    sub = platform.subscribers.get(body.subscriber_id, reveal=True)
    if sub.kind != spec.subscriber_kind:
        raise ValidationError(
            f"a {body.kind} seal ({spec.title}) is for {spec.subscriber_kind} subscribers; "
            f"#{sub.id} is a {sub.kind}",
            field="kind",
        )
    check_holder(sub, body.kind, form)  # type: ignore[arg-type]  # the view has the fields read
    if body.kind == SealKind.PERSONAL and (body.center_text or body.code):
        raise ValidationError(
            "a personal seal has no centre text or code",
            field="center_text" if body.center_text else "code",
        )
    with scan_named():
        check_scan(_scan_bytes(body.scan_base64))
    live = platform.seals.list(subscriber_id=sub.id, kind=body.kind)
    dup = next((s for s in live if s.state in MANAGEABLE), None)
    if dup is not None:
        raise Conflict(
            f"{sub.name} already has a live {spec.title} ({dup.es_id}); change, renew or "
            "cancel that one",
            field="kind",
            code="duplicate",
        )
    key = body.new_key
    assert key is not None
    application = platform.certificates.apply(
        subscriber_id=sub.id,
        profile=spec.profile,
        pin=key.pin,
        algorithm=key.algorithm,
        plan=key.plan,
        years=key.years,
        acceptance_point=key.acceptance_point,
        actor=principal.actor,
    )
    response.status_code = 202
    return SealApplicationOutcome(
        business_type=BusinessType.NEW,
        status="certificate_pending",
        certificate_application=application,
    )


# --- reads ----------------------------------------------------------------------------------------
@router.get("/seals", response_model=Page[SealView])
def list_seals(
    platform: Plat,
    principal: SealUser,
    pages: Pages,
    subscriber_id: int | None = Query(None, ge=1, le=2**62, description="the holder"),
    state: SealStateFilter | None = None,
    kind: SealKind | None = None,
):
    """The seals the caller may see; to a person's own session or key, also the organization
    seals that person may use through a live grant (用印授权, ``via_grant``: active and in
    validity only, without the holder's own details), so that signing pages can offer them."""
    org = principal.organization_id  # grants go to people only: an organization has none
    if subscriber_id is not None:
        _scope_holder(platform, principal, subscriber_id)
    rows = platform.seals.list(
        subscriber_id=subscriber_id,
        state=state,
        kind=kind,
        organization_id=org,
        granted_to=org,
        **pages.fetch(),
    )
    return pages.page([public(v) for v in rows], lambda v: v.id)


def _scope_holder(platform, principal: Principal, subscriber_id: int) -> None:
    """A listing narrowed to a holder the caller may not see is a 404 naming ``subscriber_id``
    (as that subscriber's own page answers), not an empty list — unless the caller may use one
    of the holder's seals now through a grant, which the listing shows."""
    try:
        scope_filter(platform, principal, subscriber_id)
    except NotFound:
        org = principal.organization_id
        if not platform.seals.list(
            subscriber_id=subscriber_id, organization_id=org, granted_to=org, limit=1
        ):
            raise


REVEAL = Query(False, description="the holder's full ID number (officers only)")


def seal_reader(principal: Principal = Depends(get_caller), reveal: bool = REVEAL) -> Principal:
    """A caller that may read the seal as asked: one with ``seals``, and ``seal_review`` too
    for ``?reveal=true`` (the holder's full ID number is an officer's). A role check on the
    caller and the query's ``reveal`` alone, so asked before the rest of the query is checked
    (``json_body``): a parameter the route does not take beside it is the ``403``, not a
    ``422`` naming the route's parameters."""
    principal.require(Capability.SEALS)
    if reveal:
        principal.require(Capability.SEAL_REVIEW, field="reveal")
    return principal


SealReader = Annotated[Principal, Depends(seal_reader)]


@router.get("/seals/{seal}", response_model=SealView)
def get_seal(seal: SealRef, platform: Plat, principal: SealReader, reveal: bool = REVEAL):
    return _scoped(platform, principal, seal, reveal=reveal)


@router.get(
    "/seals/{seal}/image",
    response_class=Response,
    responses=file_answer(*MEDIA.values()),
)
def seal_image(
    seal: SealRef, platform: Plat, principal: SealUser, format: ImageFormat = ImageFormat.PNG
):
    """The seal's picture: PNG (default), SVG or PDF. A person who may use an organization's
    seal through a live grant (用印授权: not withdrawn, the seal active and in validity) reads
    its picture too, as ``GET /seals`` lists it — the picture only; once the grant or the seal
    ends, the answer is the 404 of a seal that does not exist."""
    view = _scoped(platform, principal, seal, granted=True)
    data = platform.seals.artifacts(view.id)[f"seal.{format}"]
    return Response(data, media_type=MEDIA[format])


@router.get(
    "/seals/{seal}/seseal",
    response_class=Response,
    responses=file_answer("application/octet-stream"),
)
def seal_record_der(seal: SealRef, platform: Plat, principal: SealUser):
    """The seal's current GB/T 38540 SESeal record, DER."""
    view = _scoped(platform, principal, seal)
    data = platform.seals.artifacts(view.id)["seal.ses"]
    disposition = f'attachment; filename="{view.es_id}.ses"'
    return Response(
        data, media_type="application/octet-stream", headers={"Content-Disposition": disposition}
    )


@router.get("/seals/{seal}/check", response_model=RecordCheck)
def check_seal_record(seal: SealRef, platform: Plat, principal: SealUser):
    """The current SESeal record checked as a relying party would (made by our CA, saying what
    the database says) and the seal's files against the database; ``ok`` false says why."""
    return platform.seals.verify_record(_scoped(platform, principal, seal).id)


@router.get("/seals/{seal}/records", response_model=list[SealRecordView])
def seal_records(seal: SealRef, platform: Plat, principal: SealUser):
    """Every SESeal record the seal has had (create, renew, change), oldest first."""
    return platform.seals.records(_scoped(platform, principal, seal).id)


@router.get("/seals/{seal}/applications", response_model=list[SealApplicationView])
def seal_applications(seal: SealRef, platform: Plat, principal: SealReader, reveal: bool = REVEAL):
    """The application forms handed in for the seal, oldest first."""
    view = _scoped(platform, principal, seal, reveal=reveal)
    return platform.seals.applications(view.id, reveal=reveal)


@router.get("/seals/{seal}/usability", response_model=SealUsability)
def seal_usability(
    seal: SealRef,
    platform: Plat,
    principal: SealUser,
    member_subscriber_id: int | None = Query(
        None, ge=1, le=2**62, description="the person acting for the organization"
    ),
):
    """Could the seal sign now for this member (or its holder), PIN aside, and if not, why."""
    view = _scoped(platform, principal, seal)
    if member_subscriber_id is not None:  # an organization-bound caller names its own people
        scope_subscriber(platform, principal, member_subscriber_id, field="member_subscriber_id")
    return platform.seals.usable(view.id, member_subscriber_id)


# --- lifecycle ------------------------------------------------------------------------------------
@router.post("/seals/{seal}/renew", response_model=SealView)
def renew(seal: SealRef, body: RenewIn, platform: Plat, principal: SealUser):
    """续费: extend the validity (never past the certificate's end)."""
    view = _scoped(platform, principal, seal)
    return public(
        platform.seals.renew(
            view.id,
            years=body.years,
            certificate_serial=body.certificate_serial,
            actor=principal.actor,
        )
    )


@router.post("/seals/{seal}/change", response_model=SealView)
def change(seal: SealRef, body: ChangeIn, platform: Plat, principal: SealUser):
    """变更: a new image or data; makes a new SESeal record."""
    view = _scoped(platform, principal, seal)
    with scan_named():
        changed = platform.seals.change(
            view.id,
            scan=_scan_bytes(body.scan_base64),
            software=body.software,
            center_text=body.center_text,
            code=body.code,
            certificate_serial=body.certificate_serial,
            actor=principal.actor,
        )
    return public(changed)


@router.post("/seals/{seal}/cancel", response_model=SealView)
def cancel(seal: SealRef, platform: Plat, principal: SealUser):
    """注销: end the seal for good at the holder's request."""
    return public(
        platform.seals.cancel(_scoped(platform, principal, seal).id, actor=principal.actor)
    )


@router.post("/seals/{seal}/freeze", response_model=SealView)
def freeze(seal: SealRef, body: NoteIn, platform: Plat, principal: SealUser):
    """冻结: put the seal on hold."""
    view = _scoped(platform, principal, seal)
    by = HoldBy.HOLDER if principal.is_holder else HoldBy.CA
    return public(platform.seals.freeze(view.id, actor=principal.actor, note=body.note, by=by))


@router.post("/seals/{seal}/unfreeze", response_model=SealView)
def unfreeze(seal: SealRef, platform: Plat, principal: SealUser):
    """解冻 (after a PIN leak, only once the PIN has been changed). A holder lifts only a freeze
    the holder imposed: one by the CA is ``403`` ``frozen_by_ca`` (field ``hold_by``)."""
    by = HoldBy.HOLDER if principal.is_holder else HoldBy.CA
    return public(
        platform.seals.unfreeze(_scoped(platform, principal, seal).id, actor=principal.actor, by=by)
    )


@router.post("/seals/{seal}/revoke", response_model=SealView)
def revoke(seal: SealRef, body: SealRevokeIn, platform: Plat, principal: SealUser):
    """废止: revoke the seal for good on one of the agreement's grounds (004 §十一)."""
    view = _scoped(platform, principal, seal)
    return public(
        platform.seals.revoke(view.id, reason=body.reason, note=body.note, actor=principal.actor)
    )


@router.post("/seals/{seal}/report-pin-leak", response_model=PinLeakView)
def report_pin_leak(seal: SealRef, body: NoteIn, platform: Plat, principal: SealUser):
    """印章密码泄漏/丢失: freeze at once every live seal that PIN opens."""
    view = _scoped(platform, principal, seal)
    return platform.seals.report_pin_leak(view.id, actor=principal.actor, note=body.note)


@router.post("/seals/{seal}/change-pin", response_model=PinChange)
def change_pin(seal: SealRef, body: PinChangeIn, platform: Plat, principal: SealUser):
    """Re-encrypt the seal's key under a new PIN. A wrong current PIN is refused (403) and
    counts towards the lock like any other wrong PIN; neither PIN is answered back."""
    view = _scoped(platform, principal, seal)
    return platform.seals.change_pin(
        view.id, old_pin=body.pin, new_pin=body.new_pin, actor=principal.actor
    )


@router.post("/seals/{seal}/unlock", response_model=SealView)
def unlock(seal: SealRef, body: NoteIn, platform: Plat, principal: SealOfficer):
    """Release the lock after too many wrong PINs (an officer, having checked the holder)."""
    view = _scoped(platform, principal, seal)
    return public(platform.seals.unlock(view.id, officer=principal.actor, note=body.note))


# --- grants ---------------------------------------------------------------------------------------
@router.post("/seals/{seal}/grants", status_code=201, response_model=GrantView)
def grant(seal: SealRef, body: SealGrantIn, platform: Plat, principal: SealUser):
    """用印授权: let one of the organization's people use this seal (with the seal PIN)."""
    view = _scoped(platform, principal, seal)
    scope_subscriber(platform, principal, body.member_subscriber_id, field="member_subscriber_id")
    return platform.seals.grant(
        view.id,
        body.member_subscriber_id,
        actor=principal.actor,
        note=body.note,
        valid_until=body.valid_until,
        max_uses=body.max_uses,
    )


@router.get("/seals/{seal}/grants", response_model=list[GrantView])
def list_grants(
    seal: SealRef,
    platform: Plat,
    principal: SealUser,
    include_withdrawn: bool = Query(False, description="withdrawn grants too"),
):
    """Who may use this seal (and, asked for, who could)."""
    view = _scoped(platform, principal, seal)
    return platform.seals.grants(view.id, include_withdrawn=include_withdrawn)


@router.post("/seals/{seal}/grants/{member_subscriber_id:int}/withdraw", response_model=GrantView)
def withdraw(
    seal: SealRef, member_subscriber_id: MemberId, body: NoteIn, platform: Plat, principal: SealUser
):
    """Withdraw a person's right to use this seal, at once."""
    view = _scoped(platform, principal, seal)
    return platform.seals.withdraw(
        view.id, member_subscriber_id, actor=principal.actor, note=body.note
    )
