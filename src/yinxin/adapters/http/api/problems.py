"""Every refusal as ``application/problem+json`` (RFC 9457), naming the field to blame.

``{"type": "/api/v1/problems/<code>", "title": "Unprocessable Content", "status": 422,
"detail": "…", "code": "invalid", "field": "id_number"}`` — the same ``code`` and ``field`` the
CLI prints for the same refusal, since both come from the service's ``YinxinError``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles

from yinxin.errors import YinxinError

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"
CHALLENGE = 'Bearer realm="yinxin"'  # the WWW-Authenticate of every 401


class Problem(BaseModel):
    """What every 4xx and 5xx answer carries."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
    errors: list[dict[str, Any]] | None = None
    retry_after: int | None = None  # a 429's wait in whole seconds, as its Retry-After
    deadline: str | None = None  # a flow_expired's deadline (ISO 8601), as its detail names it


def problem_body(
    status: int,
    detail: str,
    *,
    code: str,
    field: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``Problem`` as plain data: what the routes answer and what the ASGI guards in front
    of them (``guards``) write themselves, so both refuse alike. ``extra``: members a kind of
    refusal adds (``choose_account``'s ``choices``)."""
    body: dict[str, Any] = {
        "type": f"/api/v1/problems/{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if field:
        body["field"] = field
    if errors:
        body["errors"] = errors
    return body | (extra or {})


def problem(
    status: int,
    detail: str,
    *,
    code: str,
    field: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body = problem_body(status, detail, code=code, field=field, errors=errors, extra=extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


_UNION_TAG = re.compile(r"^(int|str|float|bool|(constrained|function|lax|strict)-\S+)$")


def _field(loc: tuple | list) -> str:
    """``("body", "signers", 0, "role")`` → ``signers[0].role``; the request part is left out."""
    out = ""
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc:
        if isinstance(part, str) and _UNION_TAG.match(part):
            continue  # which member of a union pydantic tried: not a field
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or (str(loc[0]) if loc else "")


def _error(e: dict) -> dict:
    """One of pydantic's errors as ``{field, message}``. A body that is not JSON is the
    ``body`` field, with where the parser stopped (pydantic's location is the character
    offset, which named a field ``[8]``)."""
    if e.get("type") == "json_invalid":
        loc = e.get("loc", ())
        where = loc[-1] if loc and isinstance(loc[-1], int) else None
        why = (e.get("ctx") or {}).get("error")
        at = f" at character {where}" if where is not None else ""
        return {"field": "body", "message": f"not valid JSON{at}" + (f": {why}" if why else "")}
    if e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",):
        # a route that takes a body sent none: pydantic's "Field required" named no field a
        # client could look for, in English alone
        return {"field": "body", "message": NO_BODY}
    return {"field": _field(e.get("loc", ())), "message": e.get("msg", "")}


# Only a route whose body has a required member says so: one that requires nothing takes no
# body as {} (``json_body.empty_when_none``), so "{} when no member is needed" is said no more.
NO_BODY = "缺少请求体：请发送 JSON 对象 / the body is missing: send a JSON object"


# A body sent to a route that takes none (an unfreeze, a renewal, a webhook's resume): was
# ignored, the action run, so a member a client thought meant something (a typo'd ``reason``,
# a ``years`` the route does not take) was lost unsaid (``json_body.takes_no_body``).
NO_BODY_TAKEN = (
    "此操作不接受请求体：请不带请求体发送（或发送 {}） / this route takes no body: "
    "send none (or {})"
)

# A body sent with a Content-Type the API does not read as JSON (``text/plain``, a form,
# none): in both languages, as the body's other refusals (``NO_BODY``) are — it was English
# alone. An empty body is no body: a route that takes none as {} takes it, whatever its type.
NOT_JSON = (
    "请求体须为 JSON，以 Content-Type: application/json 发送（本请求的 Content-Type：%(given)s）"
    " / the body must be JSON, sent with Content-Type: application/json "
    "(the request's Content-Type: %(given)s)"
)


def _once(raw_errors: Sequence[Any]) -> tuple[list[Any], list[dict[str, Any]]]:
    """Each of FastAPI's errors once, in order, with its listed form.

    A parameter read by a route and by one of its dependencies too (an export's ``name``, by
    the route and by its access check) is validated in each, and FastAPI reports each
    failure: the refusal listed the same error twice."""
    raws: list[Any] = []
    listed: list[dict[str, Any]] = []
    for raw in raw_errors:
        e = _error(raw)
        if e not in listed:
            raws.append(raw)
            listed.append(e)
    return raws, listed


def _not_read_as_json(exc: RequestValidationError) -> bool:
    """A body FastAPI did not read as JSON for its ``Content-Type`` (``text/plain``, a form,
    none at all): it hands the route the raw bytes, which pydantic refused as "Input should be
    a valid dictionary or object", as if the JSON had not been an object."""
    return isinstance(exc.body, bytes | bytearray) and any(
        tuple(e.get("loc", ())) == ("body",)
        and e.get("type") in ("model_attributes_type", "dict_type", "model_type")
        for e in exc.errors()
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method the request's path answers, for the ``Allow`` header of a 405.

    Starlette's 405 names only the methods of the first route whose path matched, so where a
    path has a GET and a POST route (``/applications``) a wrong method was told "Allow: POST"
    alone. The paths of the API's own OpenAPI document are matched instead (FastAPI keeps its
    included routes in private structures); where one matches literally
    (``/flows/page-preview``), those that match only through a parameter
    (``/flows/{flow_id}``, which would refuse ``page-preview`` as an id) do not count. A
    parameter is one segment, unless no path matches so: a desk contract's number may hold
    slashes (``{number:path}``, which the document writes ``{number}``). A path the document
    leaves out (``/healthz``, the web pages, ``/static/…``) is matched against the routes
    themselves. HEAD is listed wherever GET is: the server answers a HEAD as the GET."""
    methods = _documented(request) or _routed(request)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def _documented(request: Request) -> set[str]:
    path = request.scope["path"]
    paths = request.app.openapi()["paths"]
    for segment in ("[^/]+", ".+"):
        found: dict[bool, set[str]] = {True: set(), False: set()}
        for template, operations in paths.items():
            pieces = _PATH_PARAMETER.split(template)
            if re.fullmatch(segment.join(map(re.escape, pieces)), path):
                found[len(pieces) == 1] |= {m.upper() for m in operations} & _METHODS
        if found[True] or found[False]:
            return found[True] or found[False]
    return set()


def _routed(request: Request) -> set[str]:
    """The methods of the routes, outside the OpenAPI document, whose path matches."""
    outer = request.scope.get("app_root_path", request.scope.get("root_path", ""))
    scope = {**request.scope, "method": "GET", "root_path": outer}  # as the app was asked
    found: set[str] = set()
    for route in request.app.router.routes:
        if route.matches(scope)[0] == Match.NONE:
            continue
        if isinstance(route, Mount) and isinstance(route.app, StaticFiles):
            found |= {"GET", "HEAD"}  # StaticFiles answers these two alone
        found |= set(getattr(route, "methods", None) or ()) & _METHODS
    return found


_PATH_PARAMETER = re.compile(r"\{[^}]+\}")
_METHODS = {"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"}


def install(api: FastAPI) -> None:
    @api.exception_handler(YinxinError)
    async def _refused(_request: Request, exc: YinxinError):
        status = exc.http_status
        headers = None
        extra = getattr(exc, "problem_extra", None)
        retry = getattr(exc, "retry_after", None)
        if retry is not None:  # the wait, in the header and the body alike (whole seconds)
            headers = {"Retry-After": str(int(retry))}
            extra = {**(extra or {}), "retry_after": int(retry)}
        if status == 401:  # RFC 9110 15.5.2: a 401 says how to authenticate
            headers = {**(headers or {}), "WWW-Authenticate": CHALLENGE}
        if status >= 500:
            log.error("service refusal %s: %s", exc.code, exc.message)
        return problem(
            status,
            exc.message,
            code=exc.code,
            field=exc.field,
            headers=headers,
            extra=extra,
        )

    @api.exception_handler(RequestValidationError)
    async def _malformed(request: Request, exc: RequestValidationError):
        if _not_read_as_json(exc):
            given = request.headers.get("content-type") or "none"
            return problem(
                415,
                NOT_JSON % {"given": given},
                code="unsupported_media_type",
                field="Content-Type",
            )
        raws, errors = _once(exc.errors())
        for raw, e in zip(raws, errors, strict=True):
            # a file in base64 longer than its field allows is too much, not malformed: 413,
            # as the request-body guard answers a body over the server's limit
            loc = raw.get("loc", ())
            if raw.get("type") == "string_too_long" and str(loc[-1:][0]).endswith("_base64"):
                detail = f"{e['field']}: the file is larger than its limit ({e['message']})"
                return problem(413, detail, code="too_large", field=e["field"], errors=[e])
        first = errors[0] if errors else {"field": None, "message": "malformed request"}
        return problem(
            422,
            f"{first['field']}: {first['message']}" if first["field"] else first["message"],
            code="invalid",
            field=first["field"] or None,
            errors=errors,
        )

    @api.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        if exc.status_code == 400 and isinstance(exc.__cause__, YinxinError):
            # the body's reader refused it (``json_body``: a member given twice): FastAPI
            # wrapped that in its 400 "There was an error parsing the body", naming nothing
            return await _refused(request, exc.__cause__)
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI's own refusal of a JSON body that is not text (Latin-1, GBK, gzip):
            # "There was an error parsing the body", a 400 naming nothing
            at = exc.__cause__.start
            detail = f"not valid JSON at byte {at}: the body must be UTF-8 text"
            if request.headers.get("content-encoding", "identity").lower() != "identity":
                detail += " (a compressed body is not taken: send it uncompressed)"
            return problem(
                422,
                detail,
                code="invalid",
                field="body",
                errors=[{"field": "body", "message": detail}],
            )
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = exc.headers
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return problem(exc.status_code, str(exc.detail), code=code, headers=headers)

    @api.exception_handler(Exception)
    async def _crash(_request: Request, exc: Exception):
        log.exception("unexpected error in the API")
        return problem(500, "internal error; the request was not completed", code="internal")


# Documented on every operation, so clients (and Schemathesis) know the shape of a refusal.
# 503: a key store that cannot open the secrets the database holds (``kek_missing``,
# ``kek_mismatch``, field ``keystore``). The platform KEK is reached from many routes and
# from the guards in front of them (a PIN-held key, a webhook's secret, an answer kept sealed
# for an ``Idempotency-Key``), so it is said of every operation, as the other refusals are.
RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": HTTPStatus(code).phrase, "content": {PROBLEM: {}}}
    for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)
}
