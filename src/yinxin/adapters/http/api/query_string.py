"""A query string read as one meaning only, as a body is (``json_body``).

Starlette keeps every value of a name given twice and FastAPI takes the last for a parameter
of one value, so ``?status=active&status=revoked`` listed the revoked certificates where a
proxy or a log that read the first saw a listing of the active ones. ``JsonRoute`` (every API
router's ``route_class``) checks the query against the parameters its route declares before
the route runs, and refuses it ``422 invalid`` naming the parameter, as FastAPI names one it
could not read (``field`` ``status``, every fault in ``errors``).

A number in the query is its decimal digits (``-`` before them where a number may be below
zero, which the parameter's bounds then judge): pydantic's lax mode read ``?limit=1.0``,
``+1``, ``1_000`` and `` 1`` as numbers, which no client means to send — a float or a
formatted figure is a mistake, refused as ``true`` for a number in a body is. A yes or no is
``true`` or ``false``, as in a body: pydantic read ``1``, ``yes``, ``on``, ``t`` as true and
``0``, ``no``, ``off``, ``f`` as false.

A parameter the route does not take is refused too, as an unknown member of a body is:
``?stauts=active`` (a typo) listed every certificate, not the active ones the client thought
it had asked for. The web pages send only parameters their routes declare (a page picture's
``v``, the version it shows, is one)."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Sequence
from typing import Any

from fastapi import params
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_flat_params
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import QueryParams


class QueryParameter:
    """What a route's query parameter takes: its name in the query, and if it may be repeated
    (a list: ``paid`` of ``/calc/penalty``)."""

    def __init__(self, name: str, annotation: Any) -> None:
        self.name = name
        self.repeatable = _is_list(annotation)
        self.integer = _is_type(annotation, int)
        self.boolean = _is_type(annotation, bool)


def declared(dependant: Dependant) -> dict[str, QueryParameter]:
    """The query parameters of a route and of its dependencies (``PageQuery``), by name."""
    out: dict[str, QueryParameter] = {}
    for field in get_flat_params(dependant):
        if isinstance(field.field_info, params.Query):
            out[field.alias] = QueryParameter(field.alias, field.field_info.annotation)
    return out


def check(query: QueryParams, parameters: dict[str, QueryParameter]) -> None:
    """Refuse the query (``RequestValidationError``, so it is answered as FastAPI's own 422s)
    if it gives a parameter the route does not take, one of one value more than once, a
    number otherwise than in decimal digits, or a yes or no otherwise than true or false."""
    errors: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for name, _value in query.multi_items():
        counts[name] = counts.get(name, 0) + 1
    for name, count in counts.items():
        p = parameters.get(name)
        if p is None:
            takes = ", ".join(parameters) if parameters else "none"
            errors.append(
                _error(
                    name,
                    "unknown_parameter",
                    f"not a parameter of this route, which would ignore it (it takes: {takes})",
                    query.getlist(name),
                )
            )
        if p is not None and count > 1 and not p.repeatable:
            errors.append(
                _error(
                    name,
                    "given_twice",
                    f"given {'twice' if count == 2 else f'{count} times'} in the query "
                    "string; it takes one value, give it once",
                    query.getlist(name),
                )
            )
    for name, value in query.multi_items():
        p = parameters.get(name)
        if p is not None and p.integer and not _DIGITS.fullmatch(value):
            errors.append(
                _error(
                    name,
                    "int_digits",
                    f"{_shown(value)} is not a whole number written in decimal digits "
                    "(no sign but -, no point, spaces or separators)",
                    value,
                )
            )
        if p is not None and p.boolean and value not in ("true", "false"):
            errors.append(
                _error(name, "bool_words", f"{_shown(value)} is not true or false", value)
            )
    if errors:
        raise RequestValidationError(errors)


def _error(name: str, kind: str, message: str, given: Any) -> dict[str, Any]:
    return {"type": kind, "loc": ("query", name), "msg": message, "input": given}


def _shown(value: str) -> str:
    """A value given, quoted for a message: its start only when it is long."""
    return repr(value if len(value) <= 40 else value[:40] + "…")


_DIGITS = re.compile(r"-?[0-9]+")


def _is_type(annotation: Any, kind: type) -> bool:
    """``int``, ``int | None``, ``Annotated[int, …]`` for ``int`` (never ``bool``, a subclass
    of int: the very type asked for)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_type(a, kind) for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _is_type(typing.get_args(annotation)[0], kind)
    return annotation is kind


def _is_list(annotation: Any) -> bool:
    """``list[str]``, ``list[str] | None``: a parameter FastAPI reads every value of."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(a) for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _is_list(typing.get_args(annotation)[0])
    return isinstance(origin, type) and issubclass(origin, Sequence) and origin is not str
