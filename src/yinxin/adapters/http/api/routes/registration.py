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
  registered already: whoever holds the number may know;
* it registers **only the caller itself** (no ``organization_id``: joining an organization is
  the organization's act) with the same checks as the desk (GB 11643 ID numbers, GB 32100
  credit codes, names, mobile numbers), audited as ``subscriber.registered`` by
  ``self-registration`` (and the code's ``registration.*`` events);
* the answer is the new id, the kind and name as typed, and the session (cookies set as a
  login sets them), scoped to this subscriber alone: the phone is proven, so no second code;
* nothing is written on a refusal; a tighter rate limit per address than the API's, like the
  public verification.

Nothing here lets a subscriber past review: applying for a certificate still needs the agreement
accepted, the fee paid and an officer's approval, who checks the identity documents.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, BackgroundTasks, Request, Response
from pydantic import BaseModel, Field

from yinxin.access.sessions import REGISTRATION_ACTOR, LoginCode, SessionView
from yinxin.adapters.http.api.context import Plat, Strict, limit_public
from yinxin.adapters.http.api.routes.sessions import set_session_cookies
from yinxin.adapters.http.api.routes.subscribers import OrganizationFields
from yinxin.errors import Conflict
from yinxin.registry.views import SubscriberKind

router = APIRouter(tags=["public"])
ACTOR = REGISTRATION_ACTOR


CHALLENGE = Field(
    min_length=1,
    max_length=60,
    description="the challenge id POST /public/registrations/code answered",
)
CODE = Field(min_length=1, max_length=10, description="the code the SMS brought")


class RegistrationCodeIn(Strict):
    phone: str = Field(
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
    id_number: str = Field(min_length=1, max_length=40, examples=["11010519491231002X"])
    phone: str = Field(min_length=1, max_length=20, description="the mobile phone to log in with")
    email: str | None = Field(None, max_length=200)


class OrganizationRegistrationIn(OrganizationFields):
    challenge_id: str = CHALLENGE
    code: str = CODE
    phone: str = Field(
        min_length=1, max_length=20, description="the contact's mobile phone to log in with"
    )


class RegistrationOut(BaseModel):
    """The registration and the session it opened (its cookies set as a login's are)."""

    subscriber_id: int
    kind: SubscriberKind
    name: str
    session: SessionView
    csrf_token: str


def _phone_free(platform, phone: str) -> None:
    if platform.subscribers.phone_registered(phone):
        raise Conflict(
            "this mobile number is already registered; log in with it instead",
            field="phone",
            code="phone_registered",
        )


def _register(
    body: PersonRegistrationIn | OrganizationRegistrationIn,
    add: Callable[..., object],
    request: Request,
    response: Response,
    platform,
) -> RegistrationOut:
    limit_public(request, "register", "registrations")
    fields = body.model_dump(exclude={"challenge_id", "code"})
    with platform.sessions.registration_proof(body.challenge_id, body.code, body.phone) as proven:
        # the number is proven: its holder may be told what is registered already
        _phone_free(platform, body.phone)
        sub = add(**fields, actor=ACTOR)
        opened = proven(sub.id)
    out = set_session_cookies(response, platform, opened)
    return RegistrationOut(
        subscriber_id=sub.id,
        kind=sub.kind,
        name=sub.name,
        session=out.session,
        csrf_token=out.csrf_token,
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
    be said."""
    return _register(body, platform.subscribers.add_person, request, response, platform)


@router.post("/public/registrations/organizations", status_code=201, response_model=RegistrationOut)
def register_organization(
    body: OrganizationRegistrationIn, request: Request, response: Response, platform: Plat
):
    """Register an organization (its contact registers it) with the code sent to the contact's
    mobile phone (``/public/registrations/code``); the answer opens the session, which acts for
    the organization and its people. Refusals as for a person."""
    return _register(body, platform.subscribers.add_organization, request, response, platform)
