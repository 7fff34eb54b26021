"""A JSON request body read as one meaning only: a name given twice in one object is refused.

Python's ``json`` (which FastAPI reads a body with) keeps the last of two members of one name,
``{"phone": "1", "phone": "13800138001"}`` being ``13800138001``, where another reader — a
gateway or a log that checked the body first — may take the first: RFC 8259 leaves the
meaning of such an object to each implementation. Every route of the API reads its body
through ``JsonRequest`` (its routers' ``route_class``), which refuses it, ``422 invalid``
naming the member, before the route runs — as it refuses a body nested too deeply to read,
naming ``body``."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from yinxin.adapters.http.api import query_string
from yinxin.errors import ValidationError


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
    route its own request class), after checking its query string (``query_string``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        parameters = query_string.declared(self.dependant)

        async def route(request: Request) -> Response:
            query_string.check(request.query_params, parameters)
            return await handler(JsonRequest(request.scope, request.receive))

        return route
