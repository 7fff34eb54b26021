"""Ids past PostgreSQL's INTEGER (2**31 - 1): the API takes ids up to 2**62 in paths, query
filters, ``after`` cursors and bodies, and the CLI up to 2**63 - 1. One that names no row is
answered as any other missing row (404 naming it, a page), on SQLite and on PostgreSQL alike;
on PostgreSQL it was a 500 ("integer out of range": the id columns are INTEGER there). A number
a request would store (another row's id, a count) is refused before any write, naming it."""

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


# --- numbers a request writes: ids of other rows, counts ------------------------------------------
# Past INTEGER such a number could not be stored on PostgreSQL ("integer out of range", a 500)
# if it reached an INSERT or UPDATE unchecked: each is refused first, naming it, nothing written.
@pytest.fixture
def world_client(any_platform: Platform, clock):
    """``build_world`` (an organization's contract seal granted to 王五, 张三's personal seal)
    and an administrator's client, so that every other field of a body is a valid one."""
    from tests.integration.signing_flow import build_world

    w = build_world(any_platform, clock)
    admin = w.p.api_keys.create(name="admin", role="administrator", actor="t").secret
    with TestClient(
        create_app(w.p, jobs=False),
        base_url="http://127.0.0.1:8000",
        headers={"Authorization": f"Bearer {admin}"},
        raise_server_exceptions=False,
    ) as c:
        for role in w.p.status.crl_roles():
            w.p.status.current_crl(role)
        yield w, c


def _written_bodies(w) -> list[tuple[str, str, dict, str]]:
    """(name, path, body with the number at "N", the field the refusal names)."""
    import base64
    import datetime as dt

    from tests.fixtures.samples import contract_pdf
    from yinxin.contracts.templates import get_template

    pdf = base64.b64encode(contract_pdf(1, title="大数")).decode()
    doc = {"name": "大数.pdf", "content_base64": pdf}
    until = (w.clock.now() + dt.timedelta(days=10)).isoformat()
    jia = w.jia.seal.es_id
    signer = {"subscriber_id": w.member.id, "role": "甲方", "seal": jia}
    flow = {"title": "大数", "documents": [doc], "deadline": until, "signers": [signer]}
    grant = {"seal": jia, "pin": w.jia.pin, "granted_by_subscriber_id": w.member.id}
    grant |= {"max_documents": 1, "valid_until": until}
    values = get_template("tech-service").example_values()
    return [
        (
            "flow signer",
            "/flows",
            flow | {"signers": [signer | {"subscriber_id": "N"}]},
            "signers[0].subscriber_id",
        ),
        ("flow owner", "/flows", flow | {"owner_subscriber_id": "N"}, "owner_subscriber_id"),
        (
            "flow placement",
            "/flows",
            flow | {"signers": [signer | {"placements": {"N": {"anchor": "甲方"}}}]},
            "signers[0].placements",
        ),
        (
            "grant member",
            f"/seals/{jia}/grants",
            {"member_subscriber_id": "N"},
            "member_subscriber_id",
        ),
        (
            "grant uses",
            f"/seals/{jia}/grants",
            {"member_subscriber_id": w.member.id, "max_uses": "N"},
            "max_uses",
        ),
        (
            "authorization by",
            "/authorizations",
            grant | {"granted_by_subscriber_id": "N"},
            "granted_by_subscriber_id",
        ),
        ("authorization count", "/authorizations", grant | {"max_documents": "N"}, "max_documents"),
        (
            "authorization party",
            "/authorizations",
            grant | {"counterparties": ["N"]},
            "counterparties",
        ),
        ("authorization flow", "/authorizations", grant | {"flow_ids": ["N"]}, "flow_ids"),
        (
            "seal preview",
            "/seal-previews",
            {"subscriber_id": "N", "kind": "personal"},
            "subscriber_id",
        ),
        (
            "contract owner",
            "/contracts",
            {"template": "tech-service", "values": values, "owner_subscriber_id": "N"},
            "owner_subscriber_id",
        ),
    ]


def _put(body, n):
    if body == "N":
        return n
    if isinstance(body, dict):
        return {(str(n) if k == "N" else k): _put(v, n) for k, v in body.items()}
    if isinstance(body, list):
        return [_put(v, n) for v in body]
    return body


def test_a_number_past_integer_a_body_would_store_is_refused_naming_it(world_client):
    from tests.dbdump import diff, dump

    w, c = world_client
    before = dump(w.p)
    wrong = {}
    for name, path, body, field in _written_bodies(w):
        for n in BIG:
            r = c.post(PREFIX + path, json=_put(body, n))
            named = r.json().get("field") or ""
            # a position the service reads names itself too: signers[0].placements[N]
            if not (400 <= r.status_code < 500 and named.partition("[" + str(n))[0] == field):
                wrong[(name, n)] = (r.status_code, r.text[:300])
    assert not wrong, wrong
    assert diff(before, dump(w.p)) == []


def test_a_cli_option_past_integer_that_would_be_stored_is_refused_naming_it(any_platform, clock):
    """The CLI's options that write a number (an id of another row, a count): past INTEGER
    each is refused naming it (exit 2, or 3 for a missing row) and nothing is written."""
    import datetime as dt

    from typer.testing import CliRunner

    from tests.conftest import cli_env
    from tests.dbdump import diff, dump
    from tests.integration.signing_flow import build_world
    from yinxin.adapters.cli import app as cli_app

    w = build_world(any_platform, clock)
    env = cli_env(w.p) | {"YINXIN_PIN": "246810", "YINXIN_SEAL_PIN": w.jia.pin}
    until = (clock.now() + dt.timedelta(days=10)).isoformat()
    jia, member = w.jia.seal.es_id, str(w.member.id)
    auth = ["authorization", "grant", "--seal", jia, "--until", until]
    desk = ["desk", "contract-add", "YX-大数", "--title", "运维", "--party-a", "甲", "--party-b"]
    desk += ["乙", "--annual-fee", "1.00", "--starts-on", "2026-01-01", "--ends-on", "2027-12-31"]
    cases = [  # (arguments with the number at "N", the field the error names)
        (
            ["subscriber", "add-device", "--device-name", "x", "--organization-id", "N"],
            "organization_id",
        ),
        (
            [
                "cert",
                "apply",
                "--subscriber-id",
                "N",
                "--profile",
                "person-signing",
                "--platform-key",
            ],
            "subscriber_id",
        ),
        (
            [
                "cert",
                "apply",
                "--subscriber-id",
                str(w.person.id),
                "--profile",
                "person-signing",
                "--platform-key",
                "--years",
                "N",
            ],
            "years",
        ),
        (
            [
                "apikey",
                "create",
                "--name",
                "k",
                "--role",
                "organization_admin",
                "--organization",
                "N",
            ],
            "organization",
        ),
        (
            [
                "webhook",
                "subscribe",
                "--url",
                "https://hooks.example.com/yx",
                "--event",
                "*",
                "--organization",
                "N",
            ],
            "organization",
        ),
        (["seal", "grant", jia, "--member", "N"], "member"),
        (["seal", "grant", jia, "--member", member, "--max-uses", "N"], "max_uses"),
        ([*auth, "--by", "N", "--max", "1"], "by"),
        ([*auth, "--by", member, "--max", "N"], "max"),
        ([*auth, "--by", member, "--max", "1", "--counterparty", "N"], "counterparty"),
        ([*auth, "--by", member, "--max", "1", "--flow", "N"], "flow"),
        ([*desk, "--workday-hours", "N"], "workday_hours"),
    ]
    before = dump(w.p)
    wrong = {}
    for args, field in cases:
        for n in BIG:
            argv = [str(n) if a == "N" else a for a in args]
            res = CliRunner().invoke(cli_app, argv, env=env)
            if res.exit_code not in (2, 3) or f"error [{field}]" not in res.output:
                wrong[(" ".join(argv[:2]), field, n)] = (res.exit_code, res.output[-300:])
    assert not wrong, wrong
    assert diff(before, dump(w.p)) == []
