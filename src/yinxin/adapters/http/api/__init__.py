"""The JSON API under ``/api/v1``: FastAPI routers over the platform's services.

Routes are thin: parse and check the request (pydantic, 422 naming the field), check the
caller's role and organization, call one service, return its typed result (the service's
dataclasses are the response models, so the OpenAPI schema is theirs). Refusals become
``application/problem+json`` (``problems``); rate limits and ``Idempotency-Key`` are handled
in front of the routes (``guards``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI

from yinxin import __version__
from yinxin.adapters.http.api import problems
from yinxin.adapters.http.api.guards import SESSION_OPENING, Credentials, Guards, RateLimiter
from yinxin.adapters.http.api.json_body import BodyAsRead
from yinxin.adapters.http.api.key_use import KeyUse
from yinxin.adapters.http.api.routes import (
    application_documents,
    applications,
    audit,
    batches,
    calc,
    certificates,
    contracts,
    desk,
    exports,
    flows,
    keys,
    links,
    obligations,
    ofd_signing,
    public,
    registration,
    seal_previews,
    seals,
    sessions,
    subscribers,
    verify,
    webhooks,
)
from yinxin.app import Platform

PREFIX = "/api/v1"
PUBLIC_RATE, PUBLIC_BURST = 0.5, 10  # public verifications per address: a second, at once
ROUTERS: list[APIRouter] = [
    public.router,
    registration.router,
    sessions.router,
    keys.router,
    subscribers.router,
    applications.router,
    application_documents.router,
    certificates.router,
    seals.router,
    seal_previews.router,
    flows.router,
    contracts.router,
    obligations.router,
    links.router,
    batches.router,
    ofd_signing.router,
    verify.router,
    audit.router,
    webhooks.router,
    desk.router,
    calc.router,
    exports.router,
]
IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Any unique string: a retry with the same key gets the first answer and "
    "does nothing twice (kept 24 hours).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}


def build_api(platform: Platform, *, lifespan=None) -> FastAPI:
    api = FastAPI(
        title="Yinxin API",
        version=__version__,
        description="印信 electronic certification and seal platform. Authenticate with "
        "`Authorization: Bearer <API key>`, or (web pages) with the session cookie a login sets "
        "plus `X-CSRF-Token` on unsafe methods; `/public/…` needs neither. Refusals are "
        "`application/problem+json`.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=None,  # the web adapter serves it with its own copy of Swagger UI
        redoc_url=None,
        lifespan=lifespan,
    )
    api.state.platform = platform
    # verification without a key: a tighter limit per address (off when the API's is off)
    rate = platform.settings.api_rate
    api.state.public_limiter = RateLimiter(rate=min(rate, PUBLIC_RATE), burst=PUBLIC_BURST)
    problems.install(api)
    for router in ROUTERS:
        api.include_router(router, prefix=PREFIX, responses=problems.RESPONSES)
    _document_idempotency(api)
    return api


def _document_idempotency(api: FastAPI) -> None:
    """Every POST takes ``Idempotency-Key``: said once here rather than on each route — but
    those that open a session (``SESSION_OPENING``), which refuse it. The document's integer
    limits are made whole numbers again here too (``_whole_limits``)."""
    make = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = make()
            _whole_limits(schema)
            for path, item in schema.get("paths", {}).items():
                post = item.get("post")
                if post is not None and path not in SESSION_OPENING:
                    post.setdefault("parameters", []).append(IDEMPOTENCY_HEADER)
                for operation in item.values():
                    _document_json_only(operation)
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]


LIMITS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _whole_limits(node: Any) -> None:
    """Every limit of an integer schema as a JSON integer. FastAPI checks the document
    through its own OpenAPI model, whose limits are floats, so ``le=2**62`` was written
    ``4.611686018427388e+18`` and ``ge=1`` ``1.0``: a generated client (openapi-generator) or
    a strict JSON Schema validator read a decimal bound on a whole-number field. The floats
    are whole (the routes declare ints; 2**62 is exact in a float), so ``int`` gives the
    declared number back; a limit that is not whole is left as it is, for the test that walks
    the document (``test_api_schema_truth``) to catch."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            for key in LIMITS:
                value = node.get(key)
                if isinstance(value, float) and value.is_integer():
                    node[key] = int(value)
        for child in node.values():
            _whole_limits(child)
    elif isinstance(node, list):
        for child in node:
            _whole_limits(child)


def _document_json_only(operation: dict[str, Any]) -> None:
    """An operation that takes a JSON body refuses one of another ``Content-Type`` with
    ``415 unsupported_media_type`` (``problems``): said as its other refusals are."""
    content = (operation.get("requestBody") or {}).get("content", {})
    responses = operation.get("responses", {})
    if "application/json" in content and "422" in responses:
        responses.setdefault("415", {**responses["422"], "description": "Unsupported Media Type"})


def guarded(app, platform: Platform) -> Guards:
    s = platform.settings
    return Guards(
        KeyUse(app, platform.api_keys),
        idempotency=platform.idempotency,
        limiter=RateLimiter(rate=s.api_rate, burst=s.api_burst),
        max_body=s.api_max_body,
        credentials=Credentials(platform),
        as_read=BodyAsRead(ROUTERS, PREFIX),
    )
