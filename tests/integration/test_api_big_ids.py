"""Ids past PostgreSQL's INTEGER (2**31 - 1): the API takes ids up to 2**62 in paths, query
filters, ``after`` cursors and bodies, and the CLI up to 2**63 - 1. One that names no row is
answered as any other missing row (404 naming it, a page), on SQLite and on PostgreSQL alike;
on PostgreSQL it was a 500 ("integer out of range": the id columns are INTEGER there)."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from starlette.testclient import TestClient

from yinxin.adapters.http.api import PREFIX, ROUTERS
from yinxin.adapters.http.server import create_app
from yinxin.app import Platform

BIG = [2**31, 2**62]  # just past a signed INTEGER; the most the API takes


def _id_routes() -> list[tuple[str, list[str]]]:
    """The API's GET routes whose path parameters are all whole numbers, one an id: (path
    under ``/api/v1``, the ids' names; another number, a page, is given 1)."""
    found = []
    for route in (r for router in ROUTERS for r in router.routes):
        if not isinstance(route, APIRoute) or "GET" not in route.methods:
            continue
        params = route.dependant.path_params
        ids = [p.name for p in params if p.name.endswith("_id") and p.field_info.annotation is int]
        if ids and all(p.field_info.annotation is int for p in params):
            found.append((route.path, ids))
    return found


@pytest.fixture
def client(any_platform: Platform):
    p = any_platform
    admin = p.api_keys.create(name="admin", role="administrator", actor="t").secret
    with TestClient(
        create_app(p, jobs=False),
        base_url="http://127.0.0.1:8000",
        headers={"Authorization": f"Bearer {admin}"},
        raise_server_exceptions=False,  # a 500 is an answer to see, with the others
    ) as c:
        for role in p.status.crl_roles():
            p.status.current_crl(role)
        yield c


def test_a_get_by_an_id_past_integer_is_not_found_on_both_databases(client):
    routes = _id_routes()
    assert len(routes) > 10, routes  # the walk reaches the API's id routes
    answers = {}
    for path, names in routes:
        for n in BIG:
            url = PREFIX + re.sub(
                r"\{(\w+)(?::\w+)?\}", lambda m, n=n, ids=names: str(n if m[1] in ids else 1), path
            )
            r = client.get(url)
            answers[url] = r.status_code
    wrong = {u: s for u, s in answers.items() if s != 404}
    assert not wrong, wrong


def test_every_get_route_answers_an_id_past_integer_without_a_server_error(client):
    """Parameters that are not ids by type (a seal, a contract number, a flow's token) may
    still be read as one when they are digits."""
    answers = {}
    for route in (r for router in ROUTERS for r in router.routes):
        if not isinstance(route, APIRoute) or "GET" not in route.methods:
            continue
        if not route.dependant.path_params:
            continue
        for n in BIG:
            url = PREFIX + re.sub(r"\{(\w+)(?::\w+)?\}", str(n), route.path)
            answers[url] = client.get(url).status_code
    wrong = {u: s for u, s in answers.items() if s >= 500}
    assert not wrong, wrong


def test_an_after_cursor_past_integer_is_a_page_not_a_server_error(client):
    """Every listing with an ``after`` cursor: past INTEGER it answers a page (nothing after
    it; a newest-first listing, what comes below it) or refuses the cursor naming ``after``
    (the desk's, which must name a request)."""
    doc = client.get(PREFIX + "/openapi.json").json()
    listings = [
        path
        for path, ops in doc["paths"].items()
        if "{" not in path
        and "get" in ops
        and any(q["name"] == "after" for q in ops["get"].get("parameters", []))
    ]
    assert len(listings) > 5, listings
    for path in listings:
        for n in BIG:
            r = client.get(path, params={"after": n})
            assert r.status_code in (200, 422), (path, n, r.status_code, r.text)
            if r.status_code == 422:
                assert r.json()["field"] == "after", r.text
            else:
                assert isinstance(r.json()["items"], list), r.text


PERSON = {"name": "张三", "id_number": "110105199003071239", "phone": "13800138000"}
BODIES = [  # (path, body with the id to put at "ID", the field the refusal names)
    (
        "/applications",
        {"subscriber_id": "ID", "profile": "person-signing", "pin": "246810"},
        "subscriber_id",
    ),
    ("/subscribers/persons", {**PERSON, "organization_id": "ID"}, "organization_id"),
    (
        "/subscribers/devices",
        {"device_name": "前台签字板", "organization_id": "ID"},
        "organization_id",
    ),
    (
        "/api-keys",
        {"name": "k", "role": "organization_admin", "organization_id": "ID"},
        "organization_id",
    ),
    (
        "/webhooks",
        {"url": "https://hooks.example.com/yx", "events": ["*"], "organization_id": "ID"},
        "organization_id",
    ),
]


@pytest.mark.parametrize(("path", "body", "field"), BODIES, ids=[b[0] for b in BODIES])
def test_an_id_past_integer_in_a_body_is_refused_naming_it(client, path, body, field):
    for n in BIG:
        sent = {k: (n if v == "ID" else v) for k, v in body.items()}
        r = client.post(PREFIX + path, json=sent)
        assert r.status_code in (404, 422), (n, r.status_code, r.text)
        assert r.json()["field"] == field, r.text


@pytest.mark.parametrize("path", ["/api-keys/{}/revoke", "/webhooks/{}/pause", "/seals/{}/suspend"])
def test_a_change_to_an_id_past_integer_is_not_found(client, path):
    for n in BIG:
        r = client.post(PREFIX + path.format(n), json={})
        assert r.status_code == 404, (n, r.status_code, r.text)


def test_the_cli_answers_an_id_past_integer_as_no_such_row(any_platform):
    """The CLI takes ids up to 2**63 - 1: past INTEGER, "no such" (exit 3 as any missing row,
    the error's own code) and an empty page, not a database error."""
    from typer.testing import CliRunner

    from tests.conftest import cli_env
    from yinxin.adapters.cli import app as cli_app

    env = cli_env(any_platform)
    small = CliRunner().invoke(cli_app, ["subscriber", "show", "999"], env=env)
    assert small.exit_code not in (0, 1), small.output
    for n in (*BIG, 2**63 - 1):
        res = CliRunner().invoke(cli_app, ["subscriber", "show", str(n)], env=env)
        assert res.exit_code == small.exit_code, (n, res.output, res.exception)
        res = CliRunner().invoke(cli_app, ["apikey", "revoke", str(n)], env=env)
        assert res.exit_code == small.exit_code, (n, res.output, res.exception)
        res = CliRunner().invoke(cli_app, ["subscriber", "list", "--after", str(n)], env=env)
        assert res.exit_code == 0, (n, res.output, res.exception)
