"""A POST or PATCH sent with no body, over HTTP to the real ``yinxin serve``: a route whose body
may be ``{}`` (no member required) takes none as ``{}``; one with a required member refuses it,
``422`` naming ``body`` in both languages. Walked over every operation of the OpenAPI
document, which says which is which (``requestBody.required``)."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests import dbdump
from tests.integration.api_world import PROBLEM, ApiWorld, Client, api_world, id_card
from tests.integration.server import own_key_certificate, running_server

PREFIX = "/api/v1"
MISSING = ("缺少请求体", "the body is missing")


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[ApiWorld, Client, str]]:
    home = tmp_path_factory.mktemp("no-body")
    w = api_world(home)
    _, cert = own_key_certificate(w.platform, id_number=id_card("11010119900307123"))
    serial = cert.serial
    with running_server(home, env={"YINXIN_API_RATE": "0"}) as srv:
        c = Client(srv.url(""), w.keys["admin"])  # the administrator may call every route
        yield w, c, serial
        c.close()
    w.platform.close()


def _json_operations(doc: dict[str, Any]) -> list[tuple[str, str, dict, dict]]:
    """Every operation that takes a JSON body: its method, its path with each path parameter
    filled with a value of its type (an id of nothing, mostly), its requestBody, its model."""
    found = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            content = (op.get("requestBody") or {}).get("content", {})
            if "application/json" not in content:
                continue  # a PDF, an image, a video: its bytes, not an object that may be {}
            ref = content["application/json"]["schema"]["$ref"]
            model = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
            params = {p["name"]: p["schema"] for p in op.get("parameters", []) if p["in"] == "path"}
            url = re.sub(r"\{(\w+)\}", lambda m, params=params: _value(params[m[1]]), path)
            found.append((method, url.removeprefix(PREFIX), op["requestBody"], model))
    return found


def _value(schema: dict[str, Any]) -> str:
    """A value the path parameter's schema takes, so that the route is reached."""
    if schema.get("type") == "integer":
        return "1"
    value = "0" * max(2, schema.get("minLength", 0))
    if not re.search(schema.get("pattern", ""), value):  # a time stamp: the example given
        value = schema.get("examples", [value])[0]
    assert re.search(schema.get("pattern", ""), value), schema
    return value


def _says_body_missing(r) -> bool:
    if r.status_code != 422:
        return False
    errors = r.json().get("errors", [])
    return any(e["field"] == "body" and MISSING[1] in e["message"] for e in errors)


def _answer(r) -> tuple:
    body = r.json() if r.headers.get("content-type", "").startswith(PROBLEM) else None
    return r.status_code, body and (body["code"], body.get("field"), body["detail"])


def test_a_body_that_may_be_empty_may_be_left_out(served) -> None:
    """A certificate frozen with no note, a desk request responded to now, a payment of one
    year: each route's body may be ``{}``, yet a POST with none was ``422`` "the body is
    missing" (but for a webhook's pause and rotate-secret, given a default by hand). No body
    is ``{}`` on each now, and answered as ``{}`` is — here mostly ``404``, the ids naming
    nothing, or another refusal of ``{}`` (a PATCH that changes nothing): not "missing". The
    document leaves those bodies' ``requestBody.required`` out, and says it of every other."""
    _, c, _ = served
    operations = _json_operations(c.get("/openapi.json").json())
    optional = [(m, u, rb) for m, u, rb, model in operations if not model.get("required")]
    assert len(optional) >= 19 and len(operations) - len(optional) >= 40, operations
    for method, url, request_body in optional:
        none, empty = c.request(method, url), c.request(method, url, json={})
        assert not _says_body_missing(none), (method, url, none.text)
        assert none.status_code not in (401, 403, 405), (method, url, none.text)
        assert _answer(none) == _answer(empty), (method, url, none.text, empty.text)
        assert not request_body.get("required"), (method, url, request_body)
    required = {(m, u) for m, u, rb, model in operations if model.get("required")}
    assert {(m, u) for m, u, rb, _ in operations if rb.get("required")} == required


def test_a_body_with_a_required_member_is_still_refused_when_left_out(served) -> None:
    """Every route whose body has a required member answers none with the ``422`` naming
    ``body`` in both languages, as before."""
    _, c, _ = served
    for method, url, _, model in _json_operations(c.get("/openapi.json").json()):
        if model.get("required"):
            r = c.request(method, url)
            assert _says_body_missing(r), (method, url, r.text)
            assert all(m in r.text for m in MISSING), (method, url, r.text)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"nonesuch": 1}', "nonesuch"),
        (b'{"note": "x" , "note": "y"}', "note"),
        (b"null", "body"),
        (b"[]", "body"),
        (b"{", "body"),
        (b" ", "body"),
    ],
)
def test_a_body_given_is_judged_as_before(served, raw, field) -> None:
    """A body sent to such a route — an unknown member, one given twice, ``null``, an array,
    not JSON, white space alone — is refused naming its field as before: only a body of no
    bytes at all is taken as ``{}``."""
    w, c, serial = served
    for url in (f"/certificates/{serial}/freeze", f"/subscribers/{w.staff_a}"):
        method = "patch" if url.startswith("/subscribers") else "post"
        r = c.request(method, url, content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["field"] == field, (url, r.text)
    assert c.get(f"/certificates/{serial}").json()["status"] == "active"


def test_a_certificate_is_frozen_with_no_body(served) -> None:
    """The route reached with no body does what ``{}`` does: a freeze with no note."""
    _, c, serial = served
    r = c.post(f"/certificates/{serial}/freeze")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "on_hold"
    again = c.post(f"/certificates/{serial}/freeze", headers={"content-type": "application/json"})
    assert again.status_code == 409, again.text  # frozen already: the state's refusal
    assert c.post(f"/certificates/{serial}/unfreeze").json()["status"] == "active"


def _post(c: Client, url: str, key: str, body: bytes | None, content_type: str | None):
    """A POST with ``Idempotency-Key: key``, ``body`` (``None``: none at all, no
    ``Content-Length`` either) and ``content_type`` (``None``: no header)."""
    headers = {"Idempotency-Key": key}
    if content_type is not None:
        headers["content-type"] = content_type
    return c.post(url, headers=headers, content=body)


def _replayed(first, again) -> bool:
    """Whether ``again`` is ``first``'s answer given back by the idempotency guard."""
    return (
        first.headers.get("idempotent-replayed") is None
        and again.headers.get("idempotent-replayed") == "true"
        and (again.status_code, again.content) == (first.status_code, first.content)
    )


OBJECT = (b"{}", "application/json")
NOTHING = (None, None)


@pytest.mark.parametrize(
    ("first", "retry"),
    [
        (OBJECT, NOTHING),
        (NOTHING, OBJECT),
        (OBJECT, (b"", "text/plain")),  # an empty body of another type: no body too
        ((b"", "application/x-www-form-urlencoded"), OBJECT),
    ],
    ids=[
        "object-then-none",
        "none-then-object",
        "object-then-empty-text",
        "empty-form-then-object",
    ],
)
def test_a_retry_with_no_body_for_an_empty_object_gets_the_first_answer(
    served, first, retry
) -> None:
    """A freeze sent with ``Idempotency-Key`` and ``{}``, its answer lost, retried with the
    same key and no body (or the other way round): one request to a route that takes no body
    as ``{}``, yet the key's fingerprint was of the bytes sent, and the retry was ``422
    idempotency_key_reused`` — the client told it had asked something else, the first answer
    never given back. Now the retry gets it, replayed, and freezes nothing twice."""
    _, c, serial = served
    url = f"/certificates/{serial}/freeze"
    key = f"freeze-{first[1]}-{retry[1]}"
    done = _post(c, url, key, *first)
    try:
        assert done.status_code == 200 and done.json()["status"] == "on_hold", done.text
        again = _post(c, url, key, *retry)
        assert _replayed(done, again), (again.status_code, again.headers, again.text)
    finally:
        assert c.post(f"/certificates/{serial}/unfreeze").json()["status"] == "active"


def test_a_body_sent_is_still_another_request_than_none(served) -> None:
    """Only no body is ``{}``: a note, or ``{}`` as another JSON type's bytes, is another
    request than none under the same key (``422 idempotency_key_reused``, nothing run); and
    where the body has a required member, none (``422`` naming ``body``) and ``{}`` (``422``
    naming a member) are two requests, neither answer given for the other."""
    w, c, serial = served
    url = f"/certificates/{serial}/freeze"
    done = _post(c, url, "note-after-none", *NOTHING)
    try:
        assert done.status_code == 200, done.text
        for body, content_type in ((b'{"note": "x"}', "application/json"), (b"{}", None)):
            again = _post(c, url, "note-after-none", body, content_type)
            assert again.status_code == 422, again.text
            assert again.json()["code"] == "idempotency_key_reused", again.text
    finally:
        assert c.post(f"/certificates/{serial}/unfreeze").json()["status"] == "active"
    none = _post(c, "/subscribers/persons", "person-none", *NOTHING)
    assert _says_body_missing(none), none.text
    empty = _post(c, "/subscribers/persons", "person-none", *OBJECT)
    assert empty.json()["code"] == "idempotency_key_reused", empty.text
    empty = _post(c, "/subscribers/persons", "person-object", *OBJECT)
    assert empty.status_code == 422 and empty.json()["field"] != "body", empty.text
    again = _post(c, "/subscribers/persons", "person-object", *NOTHING)
    assert again.json()["code"] == "idempotency_key_reused", again.text


NOT_JSON = ("请求体须为 JSON", "the body must be JSON, sent with Content-Type: application/json")
PERSON = '{"name": "张三", "id_number": "11010519491231002X", "phone": "13800138009"}'.encode()


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None]
)
def test_a_body_of_another_type_is_refused_in_both_languages(served, content_type) -> None:
    """A body sent as ``text/plain``, a form, XML or with no ``Content-Type`` is not read as
    JSON: ``415 unsupported_media_type`` naming ``Content-Type``, in both languages as the
    body's other refusals are (it was English alone), whether the route's body may be left out
    (a freeze's note) or not (a new person) — with an ``Idempotency-Key`` too — and nothing is
    frozen or registered."""
    w, c, serial = served
    before = c.get("/subscribers", params={"kind": "person"}).json()
    for url, body in (
        (f"/certificates/{serial}/freeze", b'{"note": "x"}'),
        ("/subscribers/persons", PERSON),
    ):
        for key in (None, f"typed-{content_type}-{url}"):
            headers = {} if content_type is None else {"content-type": content_type}
            if key is not None:
                headers["Idempotency-Key"] = key
            r = c.post(url, content=body, headers=headers)
            assert r.status_code == 415 and r.headers["content-type"] == PROBLEM, r.text
            problem = r.json()
            assert (problem["code"], problem["field"]) == ("unsupported_media_type", "Content-Type")
            assert all(m in problem["detail"] for m in NOT_JSON), problem
            assert (content_type or "none") in problem["detail"], problem
    assert c.get(f"/certificates/{serial}").json()["status"] == "active"
    assert c.get("/subscribers", params={"kind": "person"}).json() == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_an_empty_body_of_any_type_is_no_body(served, content_type) -> None:
    """An empty body is no body whatever its ``Content-Type`` says: a route that takes none as
    ``{}`` takes it (a freeze with no note), one with a required member refuses it ``422``
    naming ``body`` in both languages — not a ``415`` for a type of nothing."""
    _, c, serial = served
    headers = {"content-type": content_type}
    r = c.post(f"/certificates/{serial}/freeze", content=b"", headers=headers)
    try:
        assert r.status_code == 200 and r.json()["status"] == "on_hold", r.text
    finally:
        assert c.post(f"/certificates/{serial}/unfreeze").json()["status"] == "active"
    r = c.post("/subscribers/persons", content=b"", headers=headers)
    assert _says_body_missing(r) and all(m in r.text for m in MISSING), r.text


def test_the_fingerprint_knows_every_route_that_takes_no_body_as_empty(served) -> None:
    """The idempotency guard finds the route itself (``json_body.BodyAsRead``), before the
    app does: it must call a body optional exactly where the document does, for every JSON
    operation (a router left out of its list would bring the ``422`` back there)."""
    from yinxin.adapters.http.api import PREFIX, ROUTERS
    from yinxin.adapters.http.api.json_body import BodyAsRead

    _, c, _ = served
    as_read = BodyAsRead(ROUTERS, PREFIX)
    for method, url, _, model in _json_operations(c.get("/openapi.json").json()):
        scope = {"type": "http", "method": method.upper(), "path": PREFIX + url}
        optional = as_read(scope, b"text/plain", b"") == (b"application/json", b"{}")
        assert optional is not bool(model.get("required")), (method, url)
        assert as_read(scope, b"text/plain", b"{}") == (b"text/plain", b"{}"), (method, url)


def test_a_key_kept_before_an_empty_body_was_read_as_an_object_still_replays(served) -> None:
    """A key claimed by a server from before this rule (its fingerprint of the empty bytes as
    sent, not of ``{}``), its no-body request retried after the upgrade within the 24 hours:
    the same request, given its answer — not a ``422 idempotency_key_reused`` that the new
    fingerprint alone would make of it."""
    w, c, serial = served
    url = f"/certificates/{serial}/freeze"
    first = c.post(url)  # the first request, answered by the old server
    try:
        assert first.status_code == 200, first.text
        credential = f"Bearer {w.keys['admin']}".encode()
        path = f"{PREFIX}{url}"
        old = hmac.new(credential + b"\0" + path.encode(), digestmod=hashlib.sha256)
        for part in (path.encode(), b"", b""):  # the path, no Content-Type, no body
            old.update(hashlib.sha256(part).digest())
        who = {"caller": hashlib.sha256(credential).hexdigest(), "key": "kept-before"}
        kept = w.platform.idempotency
        assert kept.claim(**who, method="POST", path=path, request_sha256=old.hexdigest()) is None
        ctype = first.headers["content-type"]
        kept.answer(**who, status_code=200, content_type=ctype, body=first.content)
        again = _post(c, url, "kept-before", *NOTHING)
        assert again.status_code == 200 and again.content == first.content, again.text
        assert again.headers.get("idempotent-replayed") == "true", again.headers
    finally:
        assert c.post(f"/certificates/{serial}/unfreeze").json()["status"] == "active"


TAKES_NONE = ("此操作不接受请求体", "this route takes no body: send none (or {})")
UNSAFE = ("post", "patch", "put", "delete")


def _bodiless_operations(doc: dict[str, Any], serial: str) -> list[tuple[str, str]]:
    """Every POST, PATCH, PUT or DELETE whose document declares no ``requestBody``: its method
    and its path, each parameter filled with a value of its type (the certificate ``serial``
    for a serial, so that its routes reach a certificate that is there)."""
    found = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in UNSAFE or "requestBody" in op:
                continue
            params = {p["name"]: p["schema"] for p in op.get("parameters", []) if p["in"] == "path"}
            url = re.sub(
                r"\{(\w+)\}",
                lambda m, params=params: _filled(m[1], params[m[1]], serial),
                path,
            )
            found.append((method, url.removeprefix(PREFIX)))
    return found


def _filled(name: str, schema: dict[str, Any], serial: str) -> str:
    """A path parameter's value: the certificate's serial, an id of nothing (an API key's
    ``1`` would be the administrator's own, revoked by the walk), or ``_value``'s."""
    if name == "serial":
        return serial
    return "999999" if schema.get("type") == "integer" else _value(schema)


def _says_no_body_taken(r, *members: str) -> bool:
    if r.status_code != 422 or r.headers.get("content-type") != PROBLEM:
        return False
    problem = r.json()
    return (
        (problem["code"], problem["field"]) == ("invalid", "body")
        and all(m in problem["detail"] for m in TAKES_NONE + members)
        and [e["field"] for e in problem.get("errors", [])] == ["body"]
    )


@pytest.mark.parametrize(
    ("raw", "content_type", "members"),
    [
        (b'{"nonesuch": 1}', "application/json", ("nonesuch",)),
        (b'{"reason": "lost", "years": 2}', "application/json", ("reason", "years")),
        (b"hello", "text/plain", ()),
        (b"[]", "application/json", ()),
        (b"null", "application/json", ()),
        (b" ", "application/json", ()),
        (b"{", None, ()),
    ],
    ids=["unknown", "members", "text", "array", "null", "blank", "not-json"],
)
def test_a_body_sent_to_a_route_that_takes_none_is_refused(
    served, raw, content_type, members
) -> None:
    """``POST /certificates/{serial}/unfreeze`` with ``{"nonesuch": 1}`` or a ``text/plain``
    "hello" was ``200``, the certificate unfrozen, the member a client meant something by (a
    typo'd ``reason``, a ``years`` the route does not take) dropped unsaid. Every operation the
    document gives no ``requestBody`` — walked from it, so a route added later is held to it
    too — now answers a body with the ``422 invalid`` an unknown member gets, naming ``body``
    in both languages (and the members of an object sent), and does nothing."""
    w, c, serial = served
    frozen = c.post(f"/certificates/{serial}/freeze")
    assert frozen.status_code == 200 and frozen.json()["status"] == "on_hold", frozen.text
    try:
        operations = _bodiless_operations(c.get("/openapi.json").json(), serial)
        assert len(operations) >= 15 and ("post", f"/certificates/{serial}/unfreeze") in operations
        headers = {} if content_type is None else {"content-type": content_type}
        before = dbdump.dump(w.platform)
        for method, url in operations:
            r = c.request(method, url, content=raw, headers=headers)
            assert _says_no_body_taken(r, *members), (method, url, r.status_code, r.text)
        assert dbdump.diff(before, dbdump.dump(w.platform)) == []
        assert c.get(f"/certificates/{serial}").json()["status"] == "on_hold"
    finally:
        assert c.post(f"/certificates/{serial}/unfreeze").json()["status"] == "active"


def test_no_body_or_an_empty_object_is_still_taken_where_none_is(served) -> None:
    """A client that sends ``{}`` with every POST (or nothing, as the web pages do) is not
    refused: neither says anything. Walked over the same operations: none of them answers
    either with the refusal of a body; and the certificate is unfrozen by ``{}`` as by none."""
    _, c, serial = served
    for method, url in _bodiless_operations(c.get("/openapi.json").json(), serial):
        if url.endswith(("/unfreeze", "/report-loss", "/restore", "/renew", "/cancel")):
            continue  # these act on the certificate below, in order
        for sent in (
            {"json": {}},
            {"content": b" { } ", "headers": {"content-type": "application/json"}},
            {},
        ):
            r = c.request(method, url, **sent)
            assert not _says_no_body_taken(r), (method, url, r.text)
            assert r.status_code != 422 or r.json().get("field") != "body", (method, url, r.text)
    for sent in ({"json": {}}, {}):
        frozen = c.post(f"/certificates/{serial}/freeze")
        assert frozen.status_code == 200, frozen.text
        r = c.post(f"/certificates/{serial}/unfreeze", **sent)
        assert r.status_code == 200 and r.json()["status"] == "active", r.text


def test_the_refusal_of_a_body_waits_on_the_caller(served) -> None:
    """As a route's other refusals of its request's shape: a caller with no key is told its
    ``401``, not what the route takes."""
    _, c, serial = served
    anonymous = Client(str(c.base_url).rstrip("/").removesuffix("/api/v1"), None)
    try:
        r = anonymous.post(f"/certificates/{serial}/unfreeze", json={"nonesuch": 1})
        assert r.status_code == 401, r.text
    finally:
        anonymous.close()


def test_an_empty_object_and_no_body_are_one_request_where_none_is_taken(served) -> None:
    """Under an ``Idempotency-Key``, ``{}`` and no body to a route that takes none say the same:
    a retry of one with the other gets the first answer back, and unfreezes nothing twice; a
    body refused is kept under its key as any refusal is."""
    _, c, serial = served
    for first, retry, key in (
        (OBJECT, NOTHING, "unfreeze-object"),
        (NOTHING, OBJECT, "unfreeze-none"),
    ):
        assert c.post(f"/certificates/{serial}/freeze").status_code == 200
        done = _post(c, f"/certificates/{serial}/unfreeze", key, *first)
        assert done.status_code == 200 and done.json()["status"] == "active", done.text
        again = _post(c, f"/certificates/{serial}/unfreeze", key, *retry)
        assert _replayed(done, again), (again.status_code, again.headers, again.text)
    assert c.post(f"/certificates/{serial}/freeze").status_code == 200
    try:
        refused = _post(
            c, f"/certificates/{serial}/unfreeze", "unfreeze-body", b'{"x": 1}', "application/json"
        )
        assert _says_no_body_taken(refused, "x"), refused.text
        again = _post(
            c, f"/certificates/{serial}/unfreeze", "unfreeze-body", b'{"x": 1}', "application/json"
        )
        assert _replayed(refused, again), again.text
        assert c.get(f"/certificates/{serial}").json()["status"] == "on_hold"
    finally:
        assert c.post(f"/certificates/{serial}/unfreeze").json()["status"] == "active"
