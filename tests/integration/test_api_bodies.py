"""Request bodies and query strings an integrator gets wrong: each is refused ``4xx`` as a
problem naming the field (or ``body``, or the query parameter), nothing written."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import dbdump
from tests.integration.api_world import PROBLEM, api_world, keyed_client

PERSON = '{"name": "张三", "id_number": "11010519491231002X", "phone": %s}'
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator:
    w = api_world(tmp_path_factory.mktemp("bodies"))
    with keyed_client(w.platform, w.keys["admin"]) as c:
        yield w, c
    w.platform.close()


def refused(r, status: int, field: str, code: str = "invalid") -> dict:
    assert r.status_code == status and r.headers["content-type"] == PROBLEM, r.text
    body = r.json()
    assert body["code"] == code and body["field"] == field, body
    return body


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (PERSON % '"1", "phone": "13800138001"', "phone"),
        (PERSON % '"13800138001", "phone": "13800138001"', "phone"),  # the same value, too
        (
            '{"name": "张三", "name": "李四", "id_number": "11010519491231002X", '
            '"phone": "13800138001"}',
            "name",
        ),
    ],
)
def test_a_member_given_twice_is_refused_not_the_last_one_taken(world, raw, field) -> None:
    """``{"phone": "1", "phone": "13800138001"}`` registered 13800138001 (Python keeps the
    last), where a gateway or log that read the body first may have taken the first: 201."""
    w, c = world
    before = dbdump.dump(w.platform)
    r = c.post("/api/v1/subscribers/persons", content=raw.encode(), headers=JSON)
    body = refused(r, 422, field)
    assert "given twice" in body["detail"], body
    assert dbdump.dump(w.platform) == before


def test_a_member_given_twice_deep_in_the_body_is_refused_too(world) -> None:
    w, c = world
    before = dbdump.dump(w.platform)
    raw = (
        '{"title": "t", "deadline": "2030-01-01T00:00:00+08:00", "documents": [], '
        '"signers": [{"subscriber_id": 1, "role": "甲方", "role": "乙方"}]}'
    )
    r = c.post("/api/v1/flows", content=raw.encode(), headers=JSON)
    refused(r, 422, "role")
    assert dbdump.dump(w.platform) == before


def test_every_api_route_reads_its_body_so() -> None:
    """A router added later without ``route_class=JsonRoute`` would read bodies as before."""
    from fastapi.routing import APIRoute

    from yinxin.adapters.http.api import ROUTERS
    from yinxin.adapters.http.api.json_body import JsonRoute

    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    assert len(routes) > 100, len(routes)
    assert [r.path for r in routes if not isinstance(r, JsonRoute)] == []


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_a_body_nested_too_deeply_is_refused_naming_the_body(world, depth) -> None:
    """``[[[…]]]`` deeper than the JSON reader recurses was FastAPI's 400 "There was an error
    parsing the body", code ``http_error``, naming nothing."""
    w, c = world
    before = dbdump.dump(w.platform)
    raw = b"[" * depth + b"]" * depth
    r = c.post("/api/v1/subscribers/persons", content=raw, headers=JSON)
    body = refused(r, 422, "body")
    assert "nested too deeply" in body["detail"], body
    assert dbdump.dump(w.platform) == before
    shallow = b"[" * 50 + b"]" * 50  # refused as any array where an object is wanted
    r = c.post("/api/v1/subscribers/persons", content=shallow, headers=JSON)
    refused(r, 422, "body")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_a_json_body_sent_as_another_type_is_told_the_type_wanted(world, content_type) -> None:
    """A JSON object sent as ``text/plain`` was ``422`` "body: Input should be a valid
    dictionary or object to extract fields from", as if it were not an object: nothing said
    that the ``Content-Type`` was wrong."""
    w, c = world
    before = dbdump.dump(w.platform)
    raw = (PERSON % '"13800138001"').encode()
    r = c.post("/api/v1/subscribers/persons", content=raw, headers={"content-type": content_type})
    body = refused(r, 415, "Content-Type", code="unsupported_media_type")
    assert "Content-Type: application/json" in body["detail"] and content_type in body["detail"]
    assert dbdump.dump(w.platform) == before
    r = c.patch(
        f"/api/v1/subscribers/{w.staff_a}", content=b"{}", headers={"content-type": content_type}
    )
    refused(r, 415, "Content-Type", code="unsupported_media_type")


def test_a_json_body_without_a_content_type_is_told_the_type_wanted(world) -> None:
    w, c = world
    r = c.post("/api/v1/api-keys", content=b'{"name": "x", "role": "integration"}')
    assert "content-type" not in r.request.headers
    refused(r, 415, "Content-Type", code="unsupported_media_type")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/subscribers/persons"),  # members required
        ("post", "/api/v1/certificates/01/revoke"),  # reason required
        ("post", "/api/v1/applications/1/reject"),
    ],
)
def test_a_route_sent_no_body_says_so_in_both_languages(world, method, path) -> None:
    """A POST or PATCH with no body at all was ``422`` "body: Field required" — English alone,
    and saying nothing of what to send — where every other refusal of a body names its field
    and what is wrong in the words of both. It says the body is missing, to send a JSON object,
    in Chinese and English; nothing written. (A route whose body requires no member takes none
    as ``{}``: ``test_api_no_body``.)"""
    w, c = world
    url = path.format(staff_a=w.staff_a)
    before = dbdump.dump(w.platform)
    body = refused(getattr(c, method)(url), 422, "body")
    assert "缺少请求体" in body["detail"] and "the body is missing" in body["detail"], body
    assert body["errors"] == [{"field": "body", "message": body["detail"][len("body: ") :]}]
    assert dbdump.dump(w.platform) == before


def test_the_document_says_a_body_of_another_type_is_refused_415(world) -> None:
    _, c = world
    doc = c.get("/api/v1/openapi.json").json()
    op = doc["paths"]["/api/v1/subscribers/persons"]["post"]
    assert PROBLEM in op["responses"]["415"]["content"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=active&status=revoked", "status"),
        ("limit=5&limit=500", "limit"),
        ("limit=5&limit=5", "limit"),  # the same value, too
        ("subscriber_id=1&status=active&subscriber_id=2", "subscriber_id"),
    ],
)
def test_a_query_parameter_given_twice_is_refused_not_the_last_one_taken(
    world, query, field
) -> None:
    """``?status=active&status=revoked`` listed the revoked certificates (the last value taken),
    where a proxy or log that read the first saw a listing of the active ones."""
    _, c = world
    r = c.get(f"/api/v1/certificates?{query}")
    body = refused(r, 422, field)
    assert "given twice" in body["detail"] and body["errors"][0]["field"] == field, body


def test_a_query_parameter_given_twice_on_a_post_is_refused_before_anything_is_done(world) -> None:
    w, c = world
    before = dbdump.dump(w.platform)
    r = c.post(
        "/api/v1/public/verifications?format=json&format=pdf",
        content=b"%PDF-1.7",
        headers={"content-type": "application/pdf"},
    )
    refused(r, 422, "format")
    assert dbdump.dump(w.platform) == before


def test_a_repeatable_query_parameter_is_still_taken_each_time(world) -> None:
    """``paid`` (a penalty's payments) is a list: each ``paid=`` is one payment."""
    _, c = world
    r = c.get(
        "/api/v1/calc/penalty?amount=28000&due=2025-12-31&as_of=2026-01-31&clause=003-10.1.2"
        "&paid=2026-01-10%3D10000&paid=2026-01-20%3D18000"
    )
    assert r.status_code == 200 and r.json()["total"] == "2300.00", r.text


@pytest.mark.parametrize("value", ["1.0", " 1", "1 ", "+1", "1_0", "１", "0x1", "1e1", ""])
def test_a_number_in_the_query_is_plain_decimal_digits(world, value) -> None:
    """``?limit=1.0``, ``+1``, ``1_0`` or `` 1`` were read as a number (pydantic's lax mode),
    so a client's mistake (a float, a formatted figure) was taken as if it meant that."""
    _, c = world
    r = c.get("/api/v1/certificates", params={"limit": value})
    body = refused(r, 422, "limit")
    assert "decimal digits" in body["detail"], body
    r = c.get("/api/v1/seals", params={"after": "1", "subscriber_id": value})
    refused(r, 422, "subscriber_id")


def test_a_number_in_the_query_as_digits_is_taken(world) -> None:
    _, c = world
    for limit in ("5", "005", "200"):
        r = c.get("/api/v1/certificates", params={"limit": limit, "after": "0"})
        assert r.status_code == 200, r.text
    refused(c.get("/api/v1/certificates?limit=-1"), 422, "limit")  # digits, below 1


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/api/v1/certificates", "stauts=active", "stauts"),  # a typo: the filter not applied
        ("/api/v1/certificates", "status=active&page=2", "page"),
        ("/api/v1/seals", "state=active&subscriber=1", "subscriber"),
        ("/api/v1/public/fees", "plan=basic", "plan"),  # a route that takes none
    ],
)
def test_a_query_parameter_the_route_does_not_take_is_refused(world, path, query, field) -> None:
    """``?stauts=active`` (a typo) listed every certificate, not the active ones the client
    thought it asked for: a parameter the route does not take was ignored."""
    _, c = world
    body = refused(c.get(f"{path}?{query}"), 422, field)
    assert "not a parameter" in body["detail"], body


def test_a_query_parameter_the_route_does_not_take_on_a_post_is_refused(world) -> None:
    w, c = world
    before = dbdump.dump(w.platform)
    raw = (PERSON % '"13800138001"').encode()
    r = c.post("/api/v1/subscribers/persons?dry_run=1", content=raw, headers=JSON)
    refused(r, 422, "dry_run")
    assert dbdump.dump(w.platform) == before


def test_every_query_parameter_the_web_pages_send_is_taken(world) -> None:
    """The pages' own queries (a picture's ``v``, the version it shows, keeps it cached apart;
    ``allItems``' ``limit`` and ``after``) are parameters of their routes."""
    _, c = world
    for path in (
        "/api/v1/certificates?same_key_as=01&limit=200",
        "/api/v1/subscribers?kind=person&limit=200&after=1",
        "/api/v1/applications?state=pending&limit=50",
        "/api/v1/seals/1/grants?include_withdrawn=true",
        "/api/v1/audit/events?limit=50&action=x&subject_type=y&subject_id=z&after=1",
        "/api/v1/obligations?status=due&limit=200&after=2026-04-14%3A1%3A1",
        "/api/v1/desk/contracts/adoptable?limit=200&after=1",
    ):
        r = c.get(path)
        assert r.status_code in (200, 404), (path, r.text)
    doc = c.get("/api/v1/openapi.json").json()
    for path in (
        "/api/v1/flows/{flow_id}/documents/{document_id}/pages/{page}",
        "/api/v1/sign/{token}/documents/{document_id}/pages/{page}",
    ):
        names = {p["name"] for p in doc["paths"][path]["get"]["parameters"]}
        assert {"width", "v"} <= names, (path, names)


@pytest.mark.parametrize("value", ["1", "0", "yes", "on", "off", "t", "n", "True", "FALSE", ""])
def test_a_yes_or_no_in_the_query_is_true_or_false(world, value) -> None:
    """``?reachable=0``, ``yes``, ``on``, ``t`` were read as pydantic's lax mode reads them
    (``0`` false, ``on`` true), where a body takes only ``true`` or ``false``."""
    _, c = world
    body = refused(c.get("/api/v1/subscribers", params={"reachable": value}), 422, "reachable")
    assert "true or false" in body["detail"], body


def test_true_and_false_in_the_query_are_taken(world) -> None:
    _, c = world
    for value in ("true", "false"):
        r = c.get("/api/v1/subscribers", params={"reachable": value})
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("name", ["合同.ofd", "合同.pdf"])
def test_a_verification_of_neither_a_pdf_nor_an_ofd_says_so(world, name) -> None:
    """The verification takes a PDF or an OFD (judged by content), but a file that is neither —
    a download cut to an HTML error page, named .ofd — was refused "不是 PDF 文件 / not a PDF
    file": the relying party who had sent an OFD was told about a PDF."""
    _, c = world
    r = c.post(
        f"/api/v1/public/verifications?file_name={name}",
        content=b"<html>502 Bad Gateway</html>",
        headers={"content-type": "application/octet-stream"},
    )
    body = refused(r, 422, "pdf")  # as an unreadable or encrypted PDF is
    assert body["detail"].startswith("既不是 PDF 文件，也不是 OFD 文件 / "), body
