"""Subscribers (persons, organizations, devices) and their acceptance of the agreement."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from yinxin.access.keys import Capability, Principal
from yinxin.adapters.http.api.context import (
    Page,
    Pages,
    Plat,
    Registrar,
    Strict,
    get_caller,
    scope_subscriber,
)
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.api.shapes import ContactPhone, IdNumber, Mobile, MobileOrEmpty, Uscc
from yinxin.app import Platform
from yinxin.errors import Forbidden, ValidationError
from yinxin.registry.subscribers import SUBJECT_NAME_MAX
from yinxin.registry.views import (
    AgreementAcceptanceView,
    DeviceView,
    OrganizationView,
    PersonView,
)

router = APIRouter(route_class=JsonRoute, tags=["subscribers"])
AnySubscriber = PersonView | OrganizationView | DeviceView
SubscriberId = Annotated[int, Path(ge=1, le=2**62)]


class PersonIn(Strict):
    name: str = Field(min_length=1, max_length=50, examples=["张三"])
    id_number: IdNumber = Field(min_length=1, max_length=40)
    phone: Mobile = Field(min_length=1, max_length=20)
    id_type: str = Field("id_card", max_length=40)
    email: str | None = Field(None, max_length=200)
    organization_id: int | None = Field(None, ge=1, le=2**62)


class OrganizationFields(Strict):
    """An organization as it is registered, the same whether the desk registers it here or it
    registers itself (``registration``); each adds the login phone its own way."""

    name: str = Field(min_length=1, max_length=SUBJECT_NAME_MAX)
    uscc: Uscc = Field(min_length=1, max_length=18)
    legal_representative: str = Field(min_length=1, max_length=50)
    contact_name: str = Field(min_length=1, max_length=50)
    contact_phone: ContactPhone = Field(min_length=1, max_length=30)
    email: str | None = Field(None, max_length=200, description="for notices")


class OrganizationIn(OrganizationFields):
    phone: MobileOrEmpty | None = Field(
        None,
        max_length=20,
        description="mobile for one-time codes (default: contact_phone if it is a mobile); "
        "with no mobile number an email is needed, or 422 no_contact",
    )


class DeviceIn(Strict):
    device_name: str = Field(min_length=1, max_length=SUBJECT_NAME_MAX)
    organization_id: int = Field(ge=1, le=2**62)


class ContactIn(Strict):
    """A change of contact details (``PATCH /subscribers/{id}``): only the fields given are
    changed; each is checked as at registration. The certificate subject's fields (``name``,
    ``id_type``, ``id_number``, ``uscc``, ``device_name``) are not in this document: sent, they
    are refused naming the field (``in_subject``) — a certificate change makes them."""

    phone: Mobile | None = Field(None, max_length=20)
    email: str | None = Field(
        None,
        max_length=200,
        examples=["zhangsan@example.com"],
        description='"" removes it (not with no mobile number: the notices go by e-mail); a '
        "holder's own new address waits for the code sent to it (`email_code`) and, with no "
        "mobile number, the one sent to the current address (`current_email_code`)",
    )
    legal_representative: str | None = Field(
        None, max_length=50, description="an organization's (法定代表人)"
    )
    contact_name: str | None = Field(None, max_length=50, description="an organization's")
    contact_phone: ContactPhone | None = Field(None, max_length=30, description="an organization's")
    phone_challenge_id: str | None = Field(
        None,
        max_length=60,
        description="a holder's own new `phone`: the `challenge_id` of the code sent to it "
        "(the 202 answer to the same change without it)",
    )
    phone_code: str | None = Field(
        None, max_length=10, description="the code sent by SMS to the new `phone`"
    )
    current_phone_challenge_id: str | None = Field(
        None,
        max_length=60,
        description="a holder's own new `phone`: the `current_phone_challenge_id` of the code "
        "sent to the registered phone (the same 202 answer)",
    )
    current_phone_code: str | None = Field(
        None, max_length=10, description="the code sent by SMS to the registered (current) phone"
    )
    email_challenge_id: str | None = Field(
        None,
        max_length=60,
        description="a holder's own new `email`: the `email_challenge_id` of the code sent to it "
        "(the 202 answer to the same change without it)",
    )
    email_code: str | None = Field(
        None, max_length=10, description="the code sent by e-mail to the new `email`"
    )
    current_email_challenge_id: str | None = Field(
        None,
        max_length=60,
        description="a holder's own new `email` with no mobile phone (the notices go by e-mail): "
        "the `current_email_challenge_id` of the code sent to the current address (the same 202 "
        "answer)",
    )
    current_email_code: str | None = Field(
        None, max_length=10, description="the code sent by e-mail to the current address"
    )
    # taken only to be refused with the way to change them, not offered (not in the schema)
    name: SkipJsonSchema[Any] = None
    id_type: SkipJsonSchema[Any] = None
    id_number: SkipJsonSchema[Any] = None
    uscc: SkipJsonSchema[Any] = None
    device_name: SkipJsonSchema[Any] = None


class PhoneConfirmationOut(BaseModel):
    """A holder's new phone waits for the code sent to it and the one sent to the registered
    phone: nothing was changed yet."""

    status: Literal["phone_confirmation_required"] = "phone_confirmation_required"
    challenge_id: str = Field(description="the code sent to the new phone (`phone_code`)")
    sent_to_masked: str
    current_phone_challenge_id: str = Field(
        description="the code sent to the registered phone (`current_phone_code`)"
    )
    current_phone_sent_to_masked: str
    expires_at: dt.datetime = Field(description="the earliest of the codes' expiry")
    email_challenge_id: str | None = Field(
        None, description="with a new `email` too: the code sent to it (`email_code`)"
    )
    email_sent_to_masked: str | None = None


class EmailConfirmationOut(BaseModel):
    """A holder's new e-mail address waits for the code sent to it and, the notices going by
    e-mail (no mobile phone), the one sent to the current address: nothing was changed yet."""

    status: Literal["email_confirmation_required"] = "email_confirmation_required"
    email_challenge_id: str = Field(description="the code sent to the new address (`email_code`)")
    email_sent_to_masked: str
    current_email_challenge_id: str | None = Field(
        None,
        description="with no mobile phone: the code sent to the current address "
        "(`current_email_code`)",
    )
    current_email_sent_to_masked: str | None = None
    expires_at: dt.datetime = Field(description="the earliest of the codes' expiry")


PROOF_FIELDS = (
    "current_phone_challenge_id",
    "current_phone_code",
    "phone_challenge_id",
    "phone_code",
)
EMAIL_PROOF_FIELDS = ("email_challenge_id", "email_code")
CURRENT_EMAIL_PROOF_FIELDS = ("current_email_challenge_id", "current_email_code")


class AcceptanceIn(Strict):
    accepted_by: str = Field(min_length=1, max_length=100, description="who accepted, by name")
    version: str | None = Field(None, max_length=20)


class AgreementOut(BaseModel):
    name: str
    version: str
    sha256: str
    text: str


def other_registrar(principal: Principal = Depends(get_caller)) -> Principal:
    """A caller that may register people and devices: one with ``register`` but not a
    subscriber's own session, which registers no one (its scope is itself). A role check on
    the caller alone, so asked before the body is read (``json_body``): a malformed body is
    the ``403``, not a ``422`` naming the fields."""
    principal.require(Capability.REGISTER)
    if principal.subscriber_id is not None:
        raise Forbidden("a subscriber's session cannot register other subscribers", field="role")
    return principal


OtherRegistrar = Annotated[Principal, Depends(other_registrar)]


def _own_organization(principal: Principal, given: int | None) -> int | None:
    """An organization-bound caller registers under its own organization only (a subscriber's
    own session was refused by ``other_registrar``)."""
    org = principal.organization_id
    if org is None:
        return given
    if given not in (None, org):
        raise Forbidden(
            "this key registers under its own organization only", field="organization_id"
        )
    return org


@router.post("/subscribers/persons", status_code=201, response_model=PersonView)
def add_person(body: PersonIn, platform: Plat, principal: OtherRegistrar):
    org = _own_organization(principal, body.organization_id)
    data = body.model_dump(exclude={"organization_id"})
    return platform.subscribers.add_person(**data, organization_id=org, actor=principal.actor)


def organization_registrar(principal: Principal = Depends(get_caller)) -> Principal:
    """A caller that may register organizations: one with ``register`` bound to no
    organization. A role check on the caller alone, so asked before the body is read
    (``json_body``): a malformed body is the ``403``, not a ``422`` naming the fields."""
    principal.require(Capability.REGISTER)
    if principal.organization_id is not None:
        raise Forbidden("an organization-bound key cannot register organizations", field="role")
    return principal


@router.post("/subscribers/organizations", status_code=201, response_model=OrganizationView)
def add_organization(
    body: OrganizationIn,
    platform: Plat,
    principal: Annotated[Principal, Depends(organization_registrar)],
):
    return platform.subscribers.add_organization(**body.model_dump(), actor=principal.actor)


@router.post("/subscribers/devices", status_code=201, response_model=DeviceView)
def add_device(body: DeviceIn, platform: Plat, principal: OtherRegistrar):
    org = _own_organization(principal, body.organization_id)
    assert org is not None
    return platform.subscribers.add_device(
        device_name=body.device_name, organization_id=org, actor=principal.actor
    )


@router.get("/subscribers", response_model=Page[AnySubscriber])
def list_subscribers(
    platform: Plat,
    principal: Registrar,
    pages: Pages,
    kind: Literal["person", "organization", "device"] | None = None,
    reachable: Annotated[
        bool | None,
        Query(
            description="false: only the subscribers no notice can reach (no mobile number and "
            "no e-mail on record; a device: none on its organization's); true: the others"
        ),
    ] = None,
):
    """Subscribers in registration order. Each says whether its notices can reach anyone
    (`reachable`: a mobile number or an e-mail on record, for a device on its organization's
    record, where its notices go); `reachable=false` lists those whose notices are skipped."""
    rows = platform.subscribers.list(
        kind, organization_id=principal.organization_id, reachable=reachable, **pages.fetch()
    )
    return pages.page(rows, lambda s: s.id)


@router.get("/subscribers/{subscriber_id:int}", response_model=AnySubscriber)
def get_subscriber(subscriber_id: SubscriberId, platform: Plat, principal: Registrar):
    scope_subscriber(platform, principal, subscriber_id)
    return platform.subscribers.get(subscriber_id)


def contact_changer(
    subscriber_id: SubscriberId, principal: Principal = Depends(get_caller)
) -> Principal:
    """A caller that may change the subscriber's contact details: one with ``register``, and a
    subscriber's session only its own record. A role check on the caller and the path alone,
    so asked before the subscriber's scope and the body (``json_body``): a session asking for
    another subscriber gets the ``403`` for any id, which tells nothing of whether it exists,
    not a ``422`` naming the fields of a change nor a ``404``."""
    principal.require(Capability.REGISTER)
    if principal.subscriber_id is not None and principal.subscriber_id != subscriber_id:
        raise Forbidden(
            "a subscriber's session changes its own contact details only", field="subscriber_id"
        )
    return principal


@router.patch(
    "/subscribers/{subscriber_id:int}",
    response_model=AnySubscriber,
    responses={202: {"model": PhoneConfirmationOut | EmailConfirmationOut}},
)
def update_subscriber(
    subscriber_id: SubscriberId,
    body: ContactIn,
    platform: Plat,
    principal: Annotated[Principal, Depends(contact_changer)],
):
    """Change contact details (mobile phone, e-mail, an organization's legal representative,
    contact person and phone) without touching the subscriber's certificates. A subscriber's
    own session changes its own record only (any other id: `403`, before the body is read); a
    key bound to an organization, that organization
    and its members; a desk key, anyone's. A new mobile number is told to the old one, a new
    or removed e-mail to the old address.

    A holder's own new `phone` (a subscriber's session, a key bound to an organization) needs
    two codes sent by SMS: one to the registered phone, one to the new number. The change
    without them is answered `202` with both challenges (`current_phone_challenge_id`,
    `challenge_id`) and nothing is written; the same change sent again with
    `current_phone_challenge_id`, `current_phone_code`, `phone_challenge_id` and `phone_code` is
    made whole. A holder with no registered mobile phone is refused `403 phone_change_at_desk`:
    the desk registers it. A holder's own new `email` likewise needs the code sent to it by
    e-mail: answered `202` (`email_confirmation_required`, or with the phone's answer when both
    change: `email_challenge_id`), made with `email_challenge_id` and `email_code`; removing
    the e-mail (`""`) takes no code. A holder with no mobile phone, whose notices go by e-mail,
    also needs the code sent to the current address: the `202` names it
    (`current_email_challenge_id`), the change is made with `current_email_challenge_id` and
    `current_email_code` too. A desk key or staff session (identity checked at the desk)
    changes them at once."""
    scope_subscriber(platform, principal, subscriber_id)
    changes = body.model_dump(exclude_unset=True)
    proof = {name: changes.pop(name, None) for name in PROOF_FIELDS}
    email_proof = {name: changes.pop(name, None) for name in EMAIL_PROOF_FIELDS}
    current_mail = {name: changes.pop(name, None) for name in CURRENT_EMAIL_PROOF_FIELDS}
    by_phone = any(v is not None for v in proof.values())
    by_email = any(v is not None for v in (*email_proof.values(), *current_mail.values()))
    for given, what, fields in (
        (by_phone, ("phone", body.phone), proof),
        (by_email, ("email", body.email), email_proof),
    ):
        if not given:
            continue
        for name, value in (what, *fields.items()):
            if not value:
                raise ValidationError(
                    f"a {what[0]} change is confirmed with the new {what[0]} and its codes "
                    f"together ({', '.join(fields)}): {name} is missing",
                    field=name,
                )
    if principal.is_holder:
        wanted = platform.subscribers.check(subscriber_id, changes)
        ask_phone = "phone" in wanted and not by_phone
        ask_email = bool(wanted.get("email")) and not by_email
        if ask_phone or ask_email:
            return _ask(
                platform,
                subscriber_id,
                phone=body.phone if ask_phone else None,
                email=body.email if ask_email else None,
                actor=principal.actor,
            )
    if by_phone or by_email:
        return platform.phone_changes.apply(
            subscriber_id,
            changes,
            challenge_id=proof["phone_challenge_id"],
            code=proof["phone_code"],
            current_challenge_id=proof["current_phone_challenge_id"],
            current_code=proof["current_phone_code"],
            email_challenge_id=email_proof["email_challenge_id"],
            email_code=email_proof["email_code"],
            current_email_challenge_id=current_mail["current_email_challenge_id"],
            current_email_code=current_mail["current_email_code"],
            actor=principal.actor,
            session_id=principal.session_id,
        )
    return platform.subscribers.update(
        subscriber_id, changes, actor=principal.actor, session_id=principal.session_id
    )


def _ask(
    platform: Platform, subscriber_id: int, *, phone: str | None, email: str | None, actor: str
) -> JSONResponse:
    """Send the codes a holder's own change waits for — the phone's two, the new e-mail's one
    (two with no mobile phone: the current address's too), or all three (the hour's room for
    all checked before the first is sent) — and answer 202 with their challenges, nothing
    written."""
    out: PhoneConfirmationOut | EmailConfirmationOut
    if phone is not None:
        both = platform.phone_changes.request(
            subscriber_id, phone, actor=actor, codes=3 if email is not None else 2
        )
        mails = (
            platform.phone_changes.request_email(subscriber_id, email, actor=actor, paired=True)
            if email is not None
            else None
        )
        mail = mails.new if mails else None
        expiry = [both.new.expires_at, both.current.expires_at]
        out = PhoneConfirmationOut(
            challenge_id=both.new.challenge_id,
            sent_to_masked=both.new.sent_to_masked,
            current_phone_challenge_id=both.current.challenge_id,
            current_phone_sent_to_masked=both.current.sent_to_masked,
            expires_at=min(expiry + ([mail.expires_at] if mail else [])),
            email_challenge_id=mail.challenge_id if mail else None,
            email_sent_to_masked=mail.sent_to_masked if mail else None,
        )
    else:
        assert email is not None
        sent = platform.phone_changes.request_email(subscriber_id, email, actor=actor)
        warned = sent.current
        out = EmailConfirmationOut(
            email_challenge_id=sent.new.challenge_id,
            email_sent_to_masked=sent.new.sent_to_masked,
            current_email_challenge_id=warned.challenge_id if warned else None,
            current_email_sent_to_masked=warned.sent_to_masked if warned else None,
            expires_at=min([sent.new.expires_at] + ([warned.expires_at] if warned else [])),
        )
    return JSONResponse(out.model_dump(mode="json", exclude_none=True), status_code=202)


@router.post(
    "/subscribers/{subscriber_id:int}/agreement-acceptances",
    status_code=201,
    response_model=AgreementAcceptanceView,
)
def accept_agreement(
    subscriber_id: SubscriberId, body: AcceptanceIn, platform: Plat, principal: Registrar
):
    scope_subscriber(platform, principal, subscriber_id)
    return platform.subscribers.accept_agreement(
        subscriber_id, accepted_by=body.accepted_by, version=body.version
    )


@router.get(
    "/subscribers/{subscriber_id:int}/agreement-acceptances",
    response_model=list[AgreementAcceptanceView],
)
def agreement_acceptances(subscriber_id: SubscriberId, platform: Plat, principal: Registrar):
    """The subscriber's acceptances of the agreement, oldest first (whether the current version
    is among them decides if it may apply)."""
    scope_subscriber(platform, principal, subscriber_id)
    return platform.subscribers.acceptances(subscriber_id)


@router.get("/agreements/current", response_model=AgreementOut)
def current_agreement_text(_principal: Registrar):
    from yinxin.agreements import current_agreement

    a = current_agreement()
    return AgreementOut(name=a.name, version=a.version, sha256=a.sha256, text=a.text)
