"""Self-registration without an account: a person or an organization registers itself from the
web's registration page, and the answer is a login code sent to the phone it gave.

Until now a subscriber was registered by someone already signed in (an RA officer, an
integration, an organization's key); a subscriber's own session may register no one, since its
scope is itself. A person who is not yet registered has no session at all, so the first step
has to be public. It is narrow on purpose:

* it registers **only the caller itself** (no ``organization_id``: joining an organization is
  the organization's act) with the same checks as the desk (GB 11643 ID numbers, GB 32100
  credit codes, names, mobile numbers), audited as ``subscriber.registered`` by
  ``self-registration``;
* the phone must not be one another subscriber logs in with (a login by phone must name one
  subscriber), and one ID document or credit code is one subscriber, as at the desk;
* the answer says nothing but the new id, the kind and name as typed, and where the login code
  went (masked): the data is reached only by logging in with that code, and the session it
  opens is scoped to this subscriber alone (``access.sessions``);
* a tighter rate limit per address than the API's, like the public verification.

Nothing here lets a subscriber past review: applying for a certificate still needs the agreement
accepted, the fee paid and an officer's approval, who checks the identity documents.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from yinxin.access.sessions import LoginCode
from yinxin.adapters.http.api.context import Plat, Strict, limit_public
from yinxin.adapters.http.api.routes.subscribers import OrganizationFields
from yinxin.errors import Conflict
from yinxin.registry.views import SubscriberKind

router = APIRouter(tags=["public"])
ACTOR = "self-registration"


class PersonRegistrationIn(Strict):
    name: str = Field(min_length=1, max_length=50, examples=["张三"])
    id_type: str = Field("id_card", max_length=40)
    id_number: str = Field(min_length=1, max_length=40, examples=["11010519491231002X"])
    phone: str = Field(min_length=1, max_length=20, description="the mobile phone to log in with")
    email: str | None = Field(None, max_length=200)


class OrganizationRegistrationIn(OrganizationFields):
    phone: str = Field(
        min_length=1, max_length=20, description="the contact's mobile phone to log in with"
    )


class RegistrationOut(BaseModel):
    """The registration and the login code it sent; the rest is read after logging in."""

    subscriber_id: int
    kind: SubscriberKind
    name: str
    login: LoginCode


def _phone_free(platform, phone: str) -> None:
    if platform.subscribers.phone_registered(phone):
        raise Conflict(
            "this mobile number is already registered; log in with it instead",
            field="phone",
            code="phone_registered",
        )


def _answer(platform, sub, phone: str) -> RegistrationOut:
    code = platform.sessions.request_login_code(phone, sub.id, limited=False)
    return RegistrationOut(subscriber_id=sub.id, kind=sub.kind, name=sub.name, login=code)


@router.post("/public/registrations/persons", status_code=201, response_model=RegistrationOut)
def register_person(body: PersonRegistrationIn, request: Request, platform: Plat):
    """Register oneself as a person; a login code goes to the phone given."""
    limit_public(request, "register", "registrations")
    _phone_free(platform, body.phone)
    sub = platform.subscribers.add_person(**body.model_dump(), actor=ACTOR)
    return _answer(platform, sub, body.phone)


@router.post("/public/registrations/organizations", status_code=201, response_model=RegistrationOut)
def register_organization(body: OrganizationRegistrationIn, request: Request, platform: Plat):
    """Register an organization (its contact registers it); a login code goes to the contact's
    mobile phone, and the session it opens acts for the organization and its people."""
    limit_public(request, "register", "registrations")
    _phone_free(platform, body.phone)
    sub = platform.subscribers.add_organization(**body.model_dump(), actor=ACTOR)
    return _answer(platform, sub, body.phone)
