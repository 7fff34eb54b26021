"""What every route needs: the platform, the authenticated caller, pages, organization scope."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Sequence
from enum import StrEnum
from types import UnionType
from typing import Annotated, Any, Generic, Literal, TypeVar, get_args, get_origin

from fastapi import Depends, Query, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from yinxin import clock
from yinxin.access.keys import Capability, Principal
from yinxin.access.sessions import CSRF_HEADER, SESSION_COOKIE, check_csrf
from yinxin.adapters.http.api.shapes import Reason
from yinxin.app import Platform
from yinxin.errors import Forbidden, NotFound, TooLarge, YinxinError
from yinxin.transitions import filter_values

T = TypeVar("T")
bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer yx_…`")
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="A browser session (web pages): set at login; unsafe methods also need the "
    "`X-CSRF-Token` header",
)


def get_platform(request: Request) -> Platform:
    return request.app.state.platform


Plat = Annotated[Platform, Depends(get_platform)]


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_caller(
    request: Request,
    creds: HTTPAuthorizationCredentials | None = Security(bearer),
    _session: str | None = Security(session_cookie),
) -> Principal:
    """The caller: an API key (``Authorization: Bearer``), or else a browser session's cookie.
    With the cookie, a request that changes something must also carry the session's CSRF
    token in ``X-CSRF-Token`` (a page of another site can make the browser send the cookie,
    but cannot read the token)."""
    platform = get_platform(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if creds is None and cookie:
        principal = platform.sessions.authenticate(cookie)
        if request.method not in SAFE_METHODS and not check_csrf(
            cookie, request.headers.get(CSRF_HEADER)
        ):
            raise Forbidden(
                "the CSRF token is missing or wrong; reload the page",
                field="x-csrf-token",
                code="csrf",
            )
    else:
        principal = platform.api_keys.authenticate(creds.credentials if creds else None)
    request.state.principal = principal
    return principal


def allowed(capability: Capability) -> Callable[..., Principal]:
    """A dependency: the caller, refused (403) unless its role has ``capability``."""

    def check(principal: Principal = Depends(get_caller)) -> Principal:
        principal.require(capability)
        return principal

    return check


class Strict(BaseModel):
    """A request body: a field the API does not know is refused, not ignored (a misspelt
    optional field would otherwise silently take its default); ``true`` or ``false`` where a
    number is wanted is refused, not read as 1 or 0 (pydantic's lax mode did:
    ``"organization_id": true`` bound a new key to subscriber 1)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name is not None:
            kinds = _kinds(cls.model_fields[info.field_name].annotation)
            if kinds & {int, float} and not kinds & {bool, Any}:
                raise PydanticCustomError("bool_not_number", "true or false is not a number")
        return value


def _kinds(annotation: Any) -> set[Any]:
    """The plain types an annotation is made of (``int | None`` → ``{int, NoneType}``)."""
    args = get_args(annotation)
    if not args:
        return {annotation}
    found: set[Any] = set()
    for arg in args if get_origin(annotation) is not Annotated else args[:1]:
        found |= _kinds(arg)
    return found


def _iso(kind: type, pattern: str, example: str) -> Callable[[Any], Any]:
    """A check that lets through ``kind`` itself and text that starts as ``pattern`` (pydantic
    parses the rest), naming the value and an example otherwise."""
    text = re.compile(pattern)
    what = "date" if kind is dt.date else "time"

    def check(value: Any) -> Any:
        if isinstance(value, kind) or (isinstance(value, str) and text.match(value)):
            return value
        raise PydanticCustomError(
            "iso_8601",
            "{value} is not a {what} like {example}",
            {"value": repr(value), "what": what, "example": example},
        )

    return check


def _in_range(value: dt.datetime) -> dt.datetime:
    """A time between ``clock.EARLIEST`` and ``clock.LATEST`` (a naive one is let through:
    the route refuses it for want of a zone, naming the field)."""
    if value.tzinfo is not None and not clock.within_reach(value):
        raise PydanticCustomError(
            "iso_8601_range",
            "{value} is outside the times this platform handles ({reach})",
            {"value": repr(value.isoformat()), "reach": clock.REACH},
        )
    return value


# Dates and times in a request: ISO 8601 text, as the OpenAPI document says (``format: date`` /
# ``date-time``). Pydantic's lax mode also took a number as seconds since 1970, so
# ``?as_of=0`` counted obligations to 1970-01-01 and ``"expires_at": 1`` was a time in 1970.
IsoDate = Annotated[
    dt.date,
    BeforeValidator(_iso(dt.date, r"\d{4}-\d{2}-\d{2}\Z", "2026-02-14")),
    Field(examples=["2026-02-14"]),
]
IsoDateTime = Annotated[
    dt.datetime,
    BeforeValidator(
        _iso(dt.datetime, r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}", "2026-02-14T09:30:00+08:00")
    ),
    AfterValidator(_in_range),
    Field(examples=["2026-02-14T09:30:00+08:00"]),
]


# The body of a cancelling (a sign flow, a contract): why, in the caller's words. A comment,
# not a docstring: a docstring would become the schema's description in the OpenAPI document.
class ReasonIn(Strict):
    reason: Reason


class Page(BaseModel, Generic[T]):
    """One page of a listing; ``next`` is the ``after`` to ask for the next page (none: the
    last page)."""

    items: list[T]
    next: str | None = None

    def __class_getitem__(cls, item: Any) -> Any:
        """``Page[SealView]`` is the model ``SealViewPage`` (a union's members joined by
        ``Or``: ``PersonViewOrOrganizationViewOrDeviceViewPage``), one class for each item
        type. Pydantic names a parametrized model's schema from its generic form,
        ``Page_SealView_`` and ``Page_Union_PersonView__OrganizationView__DeviceView__``,
        which the OpenAPI document showed and a generated client took as its type names;
        docs/api.md promises plain names. A subclass of its own is named as it is called."""
        made = super().__class_getitem__(item)
        if cls is not Page or isinstance(item, TypeVar):
            return made
        named = _PAGES.get(made)
        if named is None:
            members = get_args(item) if isinstance(item, UnionType) else (item,)
            name = "Or".join(m.__name__ for m in members) + "Page"
            named = type(made)(name, (made,), {"__module__": __name__, "__doc__": cls.__doc__})
            _PAGES[made] = named
        return named


_PAGES: dict[Any, Any] = {}  # Page[X] → its named subclass, so each is made once


class PageQuery:
    def __init__(
        self,
        limit: int = Query(50, ge=1, le=200, description="at most this many items"),
        after: int | None = Query(
            None, ge=0, le=2**62, description="the `next` of the previous page"
        ),
    ):
        self.limit, self.after = limit, after

    def fetch(self) -> dict:
        """Keyword arguments for a service listing: one more than asked, to know if more come."""
        return {"after": self.after, "limit": self.limit + 1}

    def page(self, rows: Sequence[T], key: Callable[[T], int]) -> Page[T]:
        items = list(rows[: self.limit])
        more = len(rows) > self.limit
        return Page[T](items=items, next=str(key(items[-1])) if more and items else None)


Pages = Annotated[PageQuery, Depends()]

# The query of a listing whose service pages itself (``limit``, ``after`` in; ``items`` and
# ``next_after`` out: contracts, flows), declared once so the two read the same: as types, since
# FastAPI copies the ``Query`` of an ``Annotated`` type but writes the parameter's name into
# a ``Query`` given as a default (one shared that way would name every use after the first).
ServiceLimit = Annotated[int, Query(ge=1, le=200)]  # default 50
ServiceAfter = Annotated[int | None, Query(ge=0, le=2**62)]


def state_filter(states: type[StrEnum]) -> Any:
    """The type of a listing's ``state`` query: the states a row can be in.

    A lifecycle's enum starts with ``none``, the state before the row exists; as the query's
    type the enum itself offered ``none`` in the OpenAPI document, where the flows list
    answered it with nothing and the webhook log refused it."""
    return Literal[filter_values(states)]  # a tuple in the subscript: one value each


M = TypeVar("M", bound=BaseModel)


def service_page(answer: type[M], page: Any) -> M:
    """A service's page (``items``, ``next_after``) as the listing's answer model (``items``,
    ``next``: the ``after`` of the next page as text, none on the last page)."""
    after = page.next_after
    return answer(items=list(page.items), next=str(after) if after is not None else None)


# callers a capability lets in, for the routers that share them
Registrar = Annotated[Principal, Depends(allowed(Capability.REGISTER))]


class TooManyFromAddress(YinxinError, exit_code=5, http_status=429, code="rate_limited"):
    """A public caller (no key) asked more often from one address than the public limit
    allows; ``retry_after`` (seconds) becomes the answer's ``Retry-After``."""

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (``too_large``) as soon as it passes ``limit`` bytes
    rather than read whole into memory first."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the request body is larger than {limit // 2**20} MiB", field="body")
        chunks.append(chunk)
    return b"".join(chunks)


def client_ip(request: Request) -> str | None:
    """The caller's address as the server sees the connection (recorded with a signature)."""
    return request.client.host if request.client else None


def limit_public(request: Request, kind: str, things: str) -> None:
    """The per-address limit of the routes open without a key (``app.state.public_limiter``),
    counted per ``kind`` of request; over it, 429 naming the ``things`` asked for too often."""
    limiter = getattr(request.app.state, "public_limiter", None)
    if limiter is None:
        return
    wait = limiter.take(f"{kind}:{client_ip(request) or '?'}")
    if wait > 0:
        retry = max(1, math.ceil(wait))
        raise TooManyFromAddress(
            f"too many {things} from this address; try again in {retry} s", retry_after=retry
        )


def scope_subscriber(
    platform: Platform, principal: Principal, subscriber_id: int, *, field: str = "subscriber_id"
) -> None:
    """An organization-bound caller sees its organization and its members only: anything else
    is answered as if it did not exist (naming ``field``, the request's name for it)."""
    org = principal.organization_id
    if org is not None and not platform.subscribers.in_organization(subscriber_id, org):
        raise NotFound(f"no subscriber with id {subscriber_id}", field=field)


def scope_filter(
    platform: Platform, principal: Principal, subscriber_id: int, *, field: str = "subscriber_id"
) -> None:
    """A listing narrowed to a subscriber (``?subscriber_id=``): one the caller may not see
    (``scope_subscriber``) or one that does not exist, whoever asks, is 404 naming ``field`` —
    not an empty list that reads as "none yet"."""
    if principal.organization_id is not None:
        scope_subscriber(platform, principal, subscriber_id, field=field)
    elif not platform.subscribers.exists(subscriber_id):
        raise NotFound(f"no subscriber with id {subscriber_id}", field=field)


def owner_of_new(
    platform: Platform, principal: Principal, owner_subscriber_id: int | None, *, refusal: str
) -> int | None:
    """The owner organization of a thing the caller makes (a sign flow, a contract): a key
    bound to an organization makes that organization's own (naming another is
    ``Forbidden(refusal)``); any other key names an owner it may see, or none."""
    org = principal.organization_id
    if org is not None:
        if owner_subscriber_id not in (None, org):
            raise Forbidden(refusal, field="owner_subscriber_id")
        return org
    if owner_subscriber_id is not None:
        scope_subscriber(platform, principal, owner_subscriber_id)
    return owner_subscriber_id


def scope_organization(
    principal: Principal, owner_subscriber_id: int | None, *, missing: str, field: str
) -> None:
    """A thing an organization owns (a sign flow, a contract) is, to a key bound to another
    organization, one that does not exist (``missing``, naming ``field``)."""
    org = principal.organization_id
    if org is not None and owner_subscriber_id != org:
        raise NotFound(missing, field=field)


def scope_owned(
    platform: Platform, principal: Principal, owner_subscriber_id: int, *, missing: str, field: str
) -> None:
    """``scope_subscriber`` for a thing a subscriber owns (an application, a certificate, an
    authorization): out of the caller's organization it is answered as if that thing did not
    exist (``missing``, naming ``field``), not its owner."""
    try:
        scope_subscriber(platform, principal, owner_subscriber_id)
    except NotFound:
        raise NotFound(missing, field=field) from None
