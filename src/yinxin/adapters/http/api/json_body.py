"""A JSON request body read as one meaning only: a name given twice in one object is refused.

Python's ``json`` (which FastAPI reads a body with) keeps the last of two members of one name,
``{"phone": "1", "phone": "13800138001"}`` being ``13800138001``, where another reader — a
gateway or a log that checked the body first — may take the first: RFC 8259 leaves the
meaning of such an object to each implementation. Every route of the API reads its body
through ``JsonRequest`` (its routers' ``route_class``), which refuses it, ``422 invalid``
naming the member, before the route runs — as it refuses a body nested too deeply to read,
naming ``body``.

A route that needs a caller (``get_caller``) checks it before telling anything of the
request's shape: FastAPI reads the body before it solves the route's dependencies, and
``JsonRoute`` checks the query before either, so a body that is not JSON, a member given twice
or a query parameter the route does not take was answered ``422`` naming the fields and
parameters the route expects to a caller with no key, a wrong one or a stale session. Such a
refusal, raised before the caller was checked, now waits on the check: a caller it refuses
gets its ``401`` (or ``403 csrf``), an authenticated one the ``422``. So does the route's role
check, a dependency taking the caller alone (``allowed(capability)``, ``desk_staff``,
``administrator``) or the caller and the path (``administrator_of``, given the path's
parameters as the route reads them), or the caller and a value of the query (``seal_reader``:
``?reveal=true`` is an officer's; given the query's values as the route reads them, so a
``reveal`` that is no boolean leaves the ``422``): a caller whose role may not use the route
gets its ``403`` (or the ``404`` of a named export to an organization's key), as it did for a
well-formed body, not the ``422``. A role checked inside the handler, or by a dependency that
reads a header or the body too, still comes after the shape. The routes that need no caller
(``/public/…``, logins, signing links) answer the ``422`` to anyone, as before."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.params import Form
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match

from yinxin.access.keys import Unauthenticated
from yinxin.adapters.http.api import query_string
from yinxin.adapters.http.api.context import bearer, get_caller
from yinxin.adapters.http.api.problems import NO_BODY_TAKEN
from yinxin.errors import ValidationError, YinxinError


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise ValidationError(
                f"{name!r} is given twice in one object of the body; give each member once",
                field=name,
            )
        out[name] = value
    return out


class JsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = json.loads(body, object_pairs_hook=_unique)
            except RecursionError:
                # arrays or objects nested deeper than the reader recurses (``[[[…]]]``): was
                # FastAPI's 400 "There was an error parsing the body", naming nothing
                raise ValidationError(
                    "the body's arrays and objects are nested too deeply to read; no request "
                    "of this API nests more than a few levels",
                    field="body",
                ) from None
        return self._json


class JsonRoute(APIRoute):
    """An API route whose handler reads the body as ``JsonRequest`` (FastAPI's way to give a
    route its own request class), after checking its query string (``query_string``); a
    refusal of either, to a route that needs a caller, comes after the caller's own. A body
    none of whose members is required may be left out (``empty_when_none``); one sent to a
    route that takes none is refused (``takes_no_body``, ``refuse_a_body``)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        empty_when_none(endpoint)
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        parameters = query_string.declared(self.dependant)
        needs_caller = _needs_caller(self.dependant)
        role_checks = _role_checks(self.dependant)
        no_body = takes_no_body(self)

        async def route(request: Request) -> Response:
            try:
                query_string.check(request.query_params, parameters)
                as_json = JsonRequest(request.scope, request.receive)
                if no_body and request.method not in SAFE:
                    refuse_a_body(await as_json.body())
                return await handler(as_json)
            except Exception as refused:
                if needs_caller and _unchecked(request, refused):
                    await _check_caller(request, role_checks)
                raise

        return route


#: methods whose body has no meaning (RFC 9110): one sent to them is left alone, as before
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def takes_no_body(route: Any) -> bool:
    """Whether ``route`` takes no body: an API route with no body parameter (FastAPI's
    ``body_field``) whose document declares no ``requestBody`` either. A route that reads its
    body itself — a PDF to preview or verify, an application's scan, a signing video — says so
    in its document (``openapi_extra=binary_body(…)``), so it is not one: what the document
    says a route takes is what it is held to."""
    return (
        isinstance(route, APIRoute)
        and route.body_field is None
        and "requestBody" not in (route.openapi_extra or {})
    )


def _empty_object(body: bytes) -> bool:
    """Whether ``body`` is nothing, or the JSON ``{}`` (white space around it allowed)."""
    if not body.strip():
        return not body
    try:
        return json.loads(body) == {}
    except ValueError:
        return False


def refuse_a_body(body: bytes) -> None:
    """Refuse ``body`` sent to a route that takes none (``takes_no_body``), unless it says
    nothing: no bytes, or ``{}`` (a client that sends ``{}`` with every POST).

    Such a route ignored whatever it was sent — ``{"nonesuch": 1}``, a ``{"reason": …}`` the
    route does not take, a ``text/plain`` "hello" — and ran: ``POST /certificates/{serial}/
    unfreeze`` unfroze, the member a client meant something by dropped unsaid, where a route
    with a body refuses an unknown member. Now it is the ``422 invalid`` such a member gets,
    naming ``body`` in both languages (``problems.NO_BODY_TAKEN``) and the members of an
    object sent, before the route runs: nothing is done."""
    if _empty_object(body):
        return
    message = NO_BODY_TAKEN
    try:
        sent = json.loads(body)
    except (ValueError, RecursionError):
        sent = None
    if isinstance(sent, dict):
        message += f" (收到 / given: {', '.join(sorted(sent))})"
    raise RequestValidationError(
        [{"type": "no_body_taken", "loc": ("body",), "msg": message, "input": None}]
    )


def _empty() -> Any:
    """The default of a body every member of which may be left out: ``{}``, validated by the
    body's model on each request as a ``{}`` sent would be (a fresh instance each time; a
    default instance made once, at import, would hold what it was made with — a time, say —
    for every request after). One for each parameter: FastAPI writes the parameter's type
    into it."""
    return Body(default={}, validate_default=True)


def empty_when_none(endpoint: Callable[..., Any]) -> None:
    """Give the endpoint's body, where its model has no required member, ``{}`` for a default.

    A POST with no body at all to a route whose body may be ``{}`` (a freeze with no note, a
    desk request responded to now, a payment of one year) was ``422`` "the body is missing":
    a client had to send ``{}`` to say nothing. One rule for every route, here where FastAPI
    reads the handler's parameters, rather than a default written on each: a parameter of a
    pydantic model and no default (FastAPI's body) whose model requires nothing gets
    ``{}`` (``_empty``), so no body is judged as ``{}`` is — the model's checks included — and the
    OpenAPI document leaves such a body's ``requestBody.required`` out. A body with a
    required member keeps no default: none sent is the two-language ``422`` naming ``body``
    (``problems.NO_BODY``); a body sent is read as before. The handler's parameters become
    keyword-only (FastAPI calls it by keyword), so one with a default may come before those
    without; its ``__signature__`` says so, and is what FastAPI reads."""
    if not inspect.isfunction(endpoint):
        return
    try:  # the annotations as FastAPI reads them (route modules postpone their evaluation)
        signature = inspect.signature(endpoint, eval_str=True)
    except NameError:
        return
    parameters = signature.parameters.values()
    plain = {inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY}
    optional = {p.name for p in parameters if _may_be_empty(p)}
    if not optional or any(p.kind not in plain for p in parameters):
        return
    endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY, default=_empty())
            if p.name in optional
            else p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for p in parameters
        ]
    )


class BodyAsRead:
    """The ``Content-Type`` and body of a request as its route reads them, for the idempotency
    guard's fingerprint (``guards``), which runs before any route does.

    A route whose body requires no member takes no body as ``{}`` (``empty_when_none``), so a
    POST with ``Idempotency-Key: K`` and ``{}``, retried with the same key and no body (or the
    other way round), is one request twice — yet the guard hashed the bytes as sent, and the
    retry was refused ``422 idempotency_key_reused`` instead of given the first answer back.
    To such a route an empty body, whatever its ``Content-Type``, is ``{}`` sent as
    ``application/json``. Nothing else changes: a body sent is hashed as its bytes, and a route
    whose body has a required member answers none (``422`` naming ``body``) otherwise than
    ``{}`` (``422`` naming a member), so there none and ``{}`` stay two requests. To a route
    that takes no body at all (``takes_no_body``), ``{}`` says nothing as none does
    (``refuse_a_body`` lets both through): both are no body and no ``Content-Type``, as a bare
    POST was hashed before.

    The route is found as the app's router finds it — the first, in the order the routers are
    included under ``prefix``, that matches the path and the method — among the routers' own
    routes (FastAPI keeps the routes it includes in private structures; its OpenAPI document,
    which says the same, takes seconds to build)."""

    JSON = (b"application/json", b"{}")

    def __init__(self, routers: Sequence[APIRouter], prefix: str) -> None:
        self.routers, self.prefix = routers, prefix

    NOTHING = (b"", b"")

    def __call__(
        self, scope: dict[str, Any], content_type: bytes, body: bytes
    ) -> tuple[bytes, bytes]:
        route = self._route(scope)
        if route is None:
            return content_type, body
        if takes_no_body(route) and scope.get("method") not in SAFE and _empty_object(body):
            return self.NOTHING  # none and {} say nothing alike to a route that takes no body
        if not body and _takes_none_as_empty(route):
            return self.JSON
        return content_type, body

    def _route(self, scope: dict[str, Any]) -> Any:
        """The route the app's router would give ``scope`` to, or ``None``."""
        path = scope["path"]
        if not path.startswith(self.prefix + "/"):
            return None
        inner = {**scope, "path": path[len(self.prefix) :], "root_path": ""}
        for router in self.routers:
            for route in router.routes:
                if route.matches(inner)[0] is Match.FULL:
                    return route
        return None


def _takes_none_as_empty(route: Any) -> bool:
    """Whether ``route``'s JSON body may be left out (``empty_when_none``)."""
    return (
        isinstance(route, APIRoute)
        and route.body_field is not None
        and not isinstance(route.body_field.field_info, Form)
        and not route.body_field.field_info.is_required()
    )


def _may_be_empty(parameter: inspect.Parameter) -> bool:
    """Whether ``parameter`` is a body (a pydantic model, no default) that requires nothing."""
    model = parameter.annotation
    return (
        parameter.default is inspect.Parameter.empty
        and isinstance(model, type)
        and issubclass(model, BaseModel)
        and not any(f.is_required() for f in model.model_fields.values())
    )


def _needs_caller(dependant: Dependant) -> bool:
    """Whether the route, or a dependency of it at any depth, takes ``get_caller``."""
    return any(d.call is get_caller or _needs_caller(d) for d in dependant.dependencies)


#: a role check: the dependency, the name it takes the caller under, and the path and query
#: parameters it takes besides (their fields, as FastAPI reads them)
RoleCheck = tuple[Callable[..., Any], str, list[Any], list[Any]]


def _role_checks(dependant: Dependant) -> list[RoleCheck]:
    """The route's dependencies, at any depth, that take the caller (``get_caller``) and
    nothing else but path and query parameters — its role checks (``allowed(capability)``,
    ``desk_staff``, ``administrator_of``, ``seal_reader``): what they refuse depends on the
    caller, the path and the query's own values alone, all known before the body is read."""
    found: list[RoleCheck] = []
    for d in dependant.dependencies:
        own = (d.header_params, d.cookie_params, d.body_params)
        takes = d.dependencies
        if (
            inspect.isfunction(d.call)  # called as it is: not a coroutine, not a generator
            and not inspect.iscoroutinefunction(d.call)
            and not inspect.isgeneratorfunction(d.call)
            and not any(own)
            and len(takes) == 1
            and takes[0].call is get_caller
            and takes[0].name
        ):
            found.append((d.call, takes[0].name, list(d.path_params), list(d.query_params)))
        found.extend(_role_checks(d))
    return found


def _unchecked(request: Request, refused: Exception) -> bool:
    """Whether ``refused`` came before the caller was checked (``get_caller`` puts the
    principal in the request's state) and is not that check's own refusal."""
    if isinstance(refused, Unauthenticated) or getattr(refused, "code", None) == "csrf":
        return False
    return "principal" not in request.scope.get("state", {})


async def _check_caller(request: Request, role_checks: list[RoleCheck]) -> None:
    """The checks the route's ``get_caller`` and role checks would have made: their refusal
    (401, 403 ``csrf``, or the role's 403) raised in place of the request's, which they would
    have come before."""
    credentials = await bearer(request)

    def check() -> None:
        principal = get_caller(request, credentials, None)
        for role_check, name, path, query in role_checks:
            values, errors = request_params_to_args(path, request.path_params)
            asked, wrong = request_params_to_args(query, request.query_params)
            if errors or wrong:  # a path or a value the route refuses (422): not called either
                continue
            role_check(**values, **asked, **{name: principal})

    try:
        await run_in_threadpool(check)
    except YinxinError as e:
        raise e from None
