"""Self-registration without an account: a person or an organization registers itself from the
web's registration page, in two steps — the mobile number proven with a code, then the
registration with that code, whose answer opens the new subscriber's session.

Until now a subscriber was registered by someone already signed in (an RA officer, an
integration, an organization's key); a subscriber's own session may register no one, since its
scope is itself. A person who is not yet registered has no session at all, so the first step
has to be public. It is narrow on purpose:

* ``POST /public/registrations/code`` answers the same for any mobile number, registered or
  not (202, a challenge id, the number masked, the expiry), limited per address and, with the
  login codes, per number; the SMS goes after the answer: a code to a number no one is
  registered with, and to a registered one no code but the word that it is registered and
  should log in (``access.sessions.request_registration_code``). So no one learns from it
  whether a number is registered;
* the registration (``…/persons``, ``…/organizations``) needs that challenge id and code: a
  wrong, expired or used one (or the id a registered number was answered with) is the login's
  ``401 wrong_code``, whatever the form says. Only once the number is proven may the answer say
  that it (``409 phone_registered``) or the ID document or credit code (``409 duplicate``) is
  registered already: whoever holds the number may know. The number is claimed under its
  lock in the registration's own transaction (``Subscribers.claim_phone``): of two
  registrations of one number at once, one registers and the other is ``409
  phone_registered``. The code is marked used by the new subscriber and its session opened in
  that same transaction (``within``): all of it is written, or, should any fail, none, and the
  code is given back;
* it registers **only the caller itself** (no ``organization_id``: joining an organization is
  the organization's act) with the same checks as the desk (GB 11643 ID numbers, GB 32100
  credit codes, names, mobile numbers), audited as ``subscriber.registered`` by
  ``self-registration`` (and the code's ``registration.*`` events);
* the answer is the new id, the kind and name as typed, and the session (cookies set as a
  login sets them), scoped to this subscriber alone: the phone is proven, so no second code;
* an ``email`` given is proven as a holder's own new address is (``signing.phone_change``), not
  taken on the form's word: it is checked as at the desk (``422`` naming ``email``, nothing
  written), but the subscriber is registered **without** it, and a code is sent to it by e-mail
  (the e-mail change's code, bound to the new subscriber and this address). The answer's
  ``email_confirmation`` says so (``email_confirmation_required``, with ``email_challenge_id``;
  or ``email_not_sent`` when the mail could not be handed over — the registration stands). The
  address becomes the subscriber's, and gets notices, only once the holder confirms it with
  that code in its new session (``PATCH /subscribers/{id}`` with ``email``,
  ``email_challenge_id`` and ``email_code``, the contact change). Until then no notice goes to
  an address nobody proved. A desk officer registering someone still sets the e-mail at once:
  the desk checked it;
* nothing is written on a refusal; a tighter rate limit per address than the API's, like the
  public verification.

Nothing here lets a subscriber past review: applying for a certificate still needs the agreement
accepted, the fee paid and an officer's approval, who checks the identity documents.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Literal

from fastapi import APIRouter, BackgroundTasks, Request, Response
from pydantic import BaseModel, Field

from yinxin.access.sessions import REGISTRATION_ACTOR, LoginCode, OpenedSession, SessionView
from yinxin.adapters.http.api.context import Plat, Strict, limit_public
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.api.routes.sessions import set_session_cookies
from yinxin.adapters.http.api.routes.subscribers import OrganizationFields
from yinxin.adapters.http.api.shapes import IdNumber, Mobile
from yinxin.errors import YinxinError
from yinxin.identity import validate_email
from yinxin.notify.service import mask_recipient
from yinxin.registry.subscribers import phone_taken
from yinxin.registry.views import SubscriberKind

log = logging.getLogger(__name__)
router = APIRouter(route_class=JsonRoute, tags=["public"])
ACTOR = REGISTRATION_ACTOR


CHALLENGE = Field(
    min_length=1,
    max_length=60,
    description="the challenge id POST /public/registrations/code answered",
)
CODE = Field(min_length=1, max_length=10, description="the code the SMS brought")


class RegistrationCodeIn(Strict):
    phone: Mobile = Field(
        min_length=1,
        max_length=20,
        examples=["13600136000"],
        description="the mobile number to register with",
    )


class PersonRegistrationIn(Strict):
    challenge_id: str = CHALLENGE
    code: str = CODE
    name: str = Field(min_length=1, max_length=50, examples=["张三"])
    id_type: str = Field("id_card", max_length=40)
    id_number: IdNumber = Field(min_length=1, max_length=40)
    phone: Mobile = Field(
        min_length=1, max_length=20, description="the mobile phone to log in with"
    )
    email: str | None = Field(
        None,
        max_length=200,
        description="registered only once confirmed with the code sent to it "
        "(the answer's `email_confirmation`)",
    )


class OrganizationRegistrationIn(OrganizationFields):
    challenge_id: str = CHALLENGE
    code: str = CODE
    phone: Mobile = Field(
        min_length=1, max_length=20, description="the contact's mobile phone to log in with"
    )


class RegistrationEmailOut(BaseModel):
    """The e-mail address the registration was given, not registered yet: it waits for the
    code sent to it, typed in the new session (``PATCH /subscribers/{id}`` with ``email``,
    ``email_challenge_id``, ``email_code``)."""

    status: Literal["email_confirmation_required", "email_not_sent"] = Field(
        description="`email_not_sent`: the mail could not be handed over; the registration "
        "stands without the address, which the same PATCH without the code asks a new code for"
    )
    email_challenge_id: str | None = Field(
        None, description="the code sent to the address (`email_code`)"
    )
    email_sent_to_masked: str
    expires_at: dt.datetime | None = None


class RegistrationOut(BaseModel):
    """The registration and the session it opened (its cookies set as a login's are)."""

    subscriber_id: int
    kind: SubscriberKind
    name: str
    session: SessionView
    csrf_token: str
    email_confirmation: RegistrationEmailOut | None = Field(
        None,
        description="with an `email`: it is not registered until confirmed with the code "
        "sent to it; none without",
    )


def _phone_free(platform, phone: str) -> None:
    """The early answer, before the form's other checks; the registration's own transaction
    decides under the number's lock (``sole_phone``: two at once register one)."""
    if platform.subscribers.phone_registered(phone):
        raise phone_taken()


def _register(
    body: PersonRegistrationIn | OrganizationRegistrationIn,
    add: Callable[..., object],
    request: Request,
    response: Response,
    platform,
) -> RegistrationOut:
    limit_public(request, "register", "registrations")
    # the e-mail address is not registered on the form's word: it waits for its code
    fields = body.model_dump(exclude={"challenge_id", "code", "email"})
    address: str | None = None
    with platform.sessions.registration_proof(body.challenge_id, body.code, body.phone) as proven:
        # the number is proven: its holder may be told what is registered already
        _phone_free(platform, body.phone)
        if body.email is not None:
            address = validate_email(body.email, "email")
        opened: list[OpenedSession] = []
        # the code marked used and the session opened in the registering transaction: all of
        # it written, or (a failure of any) none, the code given back
        sub = add(
            **fields,
            actor=ACTOR,
            sole_phone=True,
            within=lambda s, sid: opened.append(proven(s, sid)),
        )
    out = set_session_cookies(response, platform, opened[0])
    return RegistrationOut(
        subscriber_id=sub.id,
        kind=sub.kind,
        name=sub.name,
        session=out.session,
        csrf_token=out.csrf_token,
        email_confirmation=_confirm_email(platform, sub.id, address) if address else None,
    )


def _confirm_email(platform, subscriber_id: int, address: str) -> RegistrationEmailOut:
    """Send the code that proves the registration's e-mail address, as for a holder's own new
    address (the new subscriber asks it: its session is open). The registration is made
    already: an address that cannot be mailed is answered ``email_not_sent`` (the send log and
    the audit trail have the gateway's error), not refused."""
    try:
        sent = platform.phone_changes.request_email(
            subscriber_id, address, actor=f"subscriber:{subscriber_id}"
        ).new
    except YinxinError as e:
        log.warning(
            "registration e-mail code for subscriber %s not sent: %s", subscriber_id, e.code
        )
        return RegistrationEmailOut(
            status="email_not_sent", email_sent_to_masked=mask_recipient("email", address)
        )
    return RegistrationEmailOut(
        status="email_confirmation_required",
        email_challenge_id=sent.challenge_id,
        email_sent_to_masked=sent.sent_to_masked,
        expires_at=sent.expires_at,
    )


@router.post("/public/registrations/code", status_code=202, response_model=LoginCode)
def registration_code(
    body: RegistrationCodeIn, request: Request, background: BackgroundTasks, platform: Plat
):
    """Prove the mobile number to register with: the answer is the same whether or not the
    number is registered, and whether or not the SMS could be sent (a failure is audited
    ``registration.code_undelivered`` for the operator); the SMS is sent after it — a code, or,
    to a registered number, no code but the word to log in instead. Limited per address and
    per number (with the login codes: one a minute, ten an hour)."""
    limit_public(request, "register-code", "code requests")
    return platform.sessions.request_registration_code(body.phone, later=background.add_task)


@router.post("/public/registrations/persons", status_code=201, response_model=RegistrationOut)
def register_person(
    body: PersonRegistrationIn, request: Request, response: Response, platform: Plat
):
    """Register oneself as a person, with the code sent to the phone given
    (``/public/registrations/code``); the answer opens the person's session. A wrong, expired or
    used code is ``401 wrong_code``; only then may ``409 phone_registered`` or ``duplicate``
    be said. An `email` is registered only once confirmed: a code goes to it
    (`email_confirmation`), typed with `PATCH /subscribers/{id}` (`email_challenge_id`,
    `email_code`); until then no notice goes to it."""
    return _register(body, platform.subscribers.add_person, request, response, platform)


@router.post("/public/registrations/organizations", status_code=201, response_model=RegistrationOut)
def register_organization(
    body: OrganizationRegistrationIn, request: Request, response: Response, platform: Plat
):
    """Register an organization (its contact registers it) with the code sent to the contact's
    mobile phone (``/public/registrations/code``); the answer opens the session, which acts for
    the organization and its people. Refusals, and the `email` waiting for its code, as for a
    person."""
    return _register(body, platform.subscribers.add_organization, request, response, platform)
