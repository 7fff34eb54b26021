"""What the OpenAPI document says is what the server does: the methods a 405 offers, the
values a listing's ``state`` takes, the form of dates and times, and the document's own
examples — each found by a long Schemathesis run (``positive_data_acceptance``,
``negative_data_rejection``, ``unsupported_method``) where the two disagreed."""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Iterator

import pytest

from tests import dbdump
from tests.integration.api_world import PROBLEM, api_world, keyed_client
from yinxin.errors import ValidationError
from yinxin.signing.flows import FlowState
from yinxin.transitions import filter_values, listed

STATE_FILTERED = [
    "/api/v1/flows",
    "/api/v1/seals",
    "/api/v1/authorizations",
    "/api/v1/desk/requests",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator:
    w = api_world(tmp_path_factory.mktemp("truth"))
    with keyed_client(w.platform, w.keys["admin"]) as c:
        yield w, c, c.get("/api/v1/openapi.json").json()
    w.platform.close()


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/api/v1/applications", "GET, HEAD, POST"),  # Starlette said "POST" alone
        ("DELETE", "/api/v1/flows", "GET, HEAD, POST"),
        ("PUT", "/api/v1/flows/page-preview", "POST"),  # not /flows/{flow_id}'s GET
        ("DELETE", "/api/v1/flows/3", "GET, HEAD"),
        ("PATCH", "/api/v1/exports/20261201T000000Z", "DELETE, GET, HEAD"),
    ],
)
def test_a_wrong_method_is_told_every_method_of_the_path(world, method, path, allow) -> None:
    """Every method, HEAD too where GET is (the server answers a HEAD as the GET)."""
    _, c, doc = world
    r = c.request(method, path)
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    assert r.headers["allow"] == allow
    template = path.replace("/3", "/{flow_id}").replace("20261201T000000Z", "{name}")
    assert with_head(doc["paths"][template]) == allow
    if "HEAD" in allow:
        head = c.head(path)
        assert head.status_code != 405 and head.content == b"", head.status_code


def with_head(operations) -> str:
    """The ``Allow`` of a path of the document: its methods, and HEAD where GET is."""
    methods = {m.upper() for m in operations}
    return ", ".join(sorted(methods | ({"HEAD"} if "GET" in methods else set())))


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/healthz", "GET, HEAD"),  # routes outside the document: "Allow" was empty
        ("POST", "/my/seals", "GET, HEAD"),
        ("DELETE", "/api/v1/openapi.json", "GET, HEAD"),
        ("DELETE", "/static/api.js", "GET, HEAD"),
        ("GET", "/tsa", "POST"),  # the fast lane's 405s had no "Allow" at all
        ("GET", "/ocsp", "POST"),  # GET needs the request in the path: /ocsp/<base64>
        ("PUT", "/ocsp/MAA=", "GET, HEAD, POST"),
        ("POST", "/crl/root.crl", "GET, HEAD"),  # was a 404, as if there were no CRL there
        ("DELETE", "/ca/root.cer", "GET, HEAD"),
        ("POST", "/metrics", "GET, HEAD"),  # was answered 200 with the metrics, to any method
    ],
)
def test_a_wrong_method_off_the_document_is_told_the_methods_too(world, method, path, allow):
    """RFC 9110 15.5.6: a 405 carries ``Allow``; a HEAD answers where it lists one."""
    _, c, _ = world
    r = c.request(method, path)
    assert r.status_code == 405, r.text
    assert r.headers.get("allow") == allow
    if "HEAD" in allow:
        head = c.head(path)
        assert head.status_code != 405 and head.content == b"", head.status_code


# a literal path beside a sibling that takes an id there, and the methods the literal answers
LITERAL_BESIDE_AN_ID = [
    ("/api/v1/subscribers/persons", "POST"),  # beside /subscribers/{subscriber_id}
    ("/api/v1/subscribers/organizations", "POST"),
    ("/api/v1/subscribers/devices", "POST"),
    ("/api/v1/flows/page-preview", "POST"),  # beside /flows/{flow_id}
]
PARAMETER = re.compile(r"\{[^}]+\}")


@pytest.mark.parametrize(("path", "allow"), LITERAL_BESIDE_AN_ID)
def test_a_get_on_a_literal_path_is_405_not_a_look_up_of_its_sibling(world, path, allow) -> None:
    """``GET /subscribers/persons`` reached ``GET /subscribers/{subscriber_id}`` and was
    refused 422 (``subscriber_id`` not an integer): Schemathesis' ``unsupported_method``. An
    integer id is routed as one (``{subscriber_id:int}``), which no word matches."""
    _, c, doc = world
    r = c.get(path)
    assert r.status_code == 405, r.text
    assert r.headers["content-type"] == PROBLEM and r.json()["code"] == "method_not_allowed"
    assert r.headers["allow"] == allow
    assert with_head(doc["paths"][path]) == allow


def test_every_literal_path_a_parameter_could_match_refuses_the_parameters_methods(world) -> None:
    """Found from the document, so a literal path added beside an id later is held to it too:
    each method that only the path with the integer id answers is a 405 on the literal path,
    with the literal path's own methods in ``Allow``. (A desk contract's number is the
    operator's free text: ``GET /desk/contracts/adopt`` looks up a contract numbered "adopt",
    as it may be, and is a 404 naming it.)"""
    _, c, doc = world
    found = set()
    for template, operations in doc["paths"].items():
        pieces = PARAMETER.split(template)
        kinds = {
            p["schema"].get("type")
            for o in operations.values()
            for p in o.get("parameters", [])
            if p["in"] == "path"
        }
        if len(pieces) == 1 or kinds != {"integer"}:
            continue
        for path, own in doc["paths"].items():
            if "{" in path or not re.fullmatch("[^/]+".join(map(re.escape, pieces)), path):
                continue
            for method in sorted(set(operations) - set(own)):
                r = c.request(method.upper(), path)
                assert r.status_code == 405, (method, path, template, r.text)
                assert r.headers["allow"] == with_head(own)
                found.add(path)
    assert found >= {path for path, _ in LITERAL_BESIDE_AN_ID}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/subscribers/abc",
        "/api/v1/subscribers/-1",
        "/api/v1/flows/abc",
        "/api/v1/applications/abc/payments",
        "/api/v1/flows/page-preview/start",
    ],
)
def test_an_id_that_is_not_a_number_names_no_path(world, path) -> None:
    """Not a 422 naming the id: no route takes a word for an integer id, so the path is
    unknown, a 404 problem as any unknown path under ``/api/v1`` (HTML or not asked)."""
    w, c, _ = world
    r = c.get(path, headers={"Accept": "text/html"})
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM, r.text
    assert r.json()["code"] == "not_found"
    assert c.get(f"/api/v1/subscribers/{w.staff_a}").status_code == 200
    assert c.get("/api/v1/subscribers/0").json()["field"] == "subscriber_id"  # a number: 422


def test_every_integer_id_is_routed_by_its_digits_and_documented_without_them(world) -> None:
    """Each path parameter the document says is an integer takes digits only (a route's
    ``{…:int}``); the document's paths are those of before, no ``:int`` in them."""
    w, c, doc = world
    assert [p for p in doc["paths"] if ":" in p] == []
    assert "/api/v1/subscribers/{subscriber_id}" in doc["paths"]
    assert "/api/v1/desk/contracts/{number}" in doc["paths"]
    other = {"Authorization": f"Bearer {w.keys['officer']}"}  # a rate bucket of its own
    tried = 0
    for template, operations in doc["paths"].items():
        for method, operation in operations.items():
            for p in operation.get("parameters", []):
                if p["in"] != "path" or p["schema"].get("type") != "integer":
                    continue
                path = PARAMETER.sub("1", template.replace(f"{{{p['name']}}}", "abc"))
                r = c.request(method.upper(), path, headers=other)
                assert r.status_code == 404, (method, template, p["name"], r.text)
                assert r.json()["code"] == "not_found"
                tried += 1
    assert tried >= 59


def test_a_state_filter_offers_and_takes_only_states_a_row_can_be_in(world) -> None:
    _, c, doc = world
    for path in [*STATE_FILTERED, "/api/v1/webhooks/{subscription_id}/deliveries"]:
        (state,) = [q for q in doc["paths"][path]["get"]["parameters"] if q["name"] == "state"]
        offered = state["schema"]["anyOf"][0]["enum"]
        assert "none" not in offered and len(offered) >= 4, (path, offered)
    for path in STATE_FILTERED:
        r = c.get(path, params={"state": "none"})
        assert r.status_code == 422 and r.json()["field"] == "state", (path, r.text)
        assert "none" not in r.json()["detail"]
    assert c.get("/api/v1/flows", params={"state": "draft"}).status_code == 200


def test_the_services_refuse_the_state_before_a_row_exists_too(world) -> None:
    w, _, _ = world
    p = w.platform
    assert "none" not in filter_values(FlowState) and listed(FlowState, "draft", "state") == "draft"
    for call in (
        lambda: p.flows.list(state="none"),
        lambda: p.authorizations.list(state="none"),
        lambda: p.desk.list(state="none"),
        lambda: p.seals.list(state="none"),
    ):
        with pytest.raises(ValidationError) as e:
            call()
        assert e.value.field == "state" and "not 'none'" in e.value.message


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("as_of=0", "'0' is not a date like 2026-02-14"),  # was 1970-01-01
        ("as_of=1700000000", "is not a date like"),
        ("as_of=2026-12-01T00:00:00", "is not a date like"),
        ("as_of=2026-13-01", "month value is outside"),
    ],
)
def test_a_date_is_iso_text_not_a_count_of_seconds(world, query, says) -> None:
    _, c, _ = world
    r = c.get(f"/api/v1/obligations?{query}")
    assert r.status_code == 422 and r.json()["field"] == "as_of" and says in r.json()["detail"]
    assert c.get("/api/v1/obligations?as_of=2026-12-01").status_code == 200


def test_a_time_is_iso_text_not_a_count_of_seconds(world) -> None:
    w, c, _ = world
    before = dbdump.dump(w.platform)
    for value in (1, 1893456000, "1893456000", "2030-01-01"):
        r = c.post(
            "/api/v1/api-keys", json={"name": "x", "role": "integration", "expires_at": value}
        )
        assert r.status_code == 422 and r.json()["field"] == "expires_at", r.text
        assert "is not a time like 2026-02-14T09:30:00+08:00" in r.json()["detail"]
    assert dbdump.dump(w.platform) == before
    in_a_month = w.platform.clock.now() + dt.timedelta(days=30)  # the platform's own clock
    r = c.post(
        "/api/v1/api-keys",
        json={"name": "x", "role": "integration", "expires_at": in_a_month.isoformat()},
    )
    assert r.status_code == 201, r.text


def test_every_schema_has_a_name_of_its_own(world) -> None:
    """Two classes of one name (a contract's ``ContractIn`` and the service desk's) were told
    apart by their module path, so a generated client had a type called
    ``yinxin__adapters__http__api__routes__desk__ContractIn``."""
    _, _, doc = world
    names = [n for n in doc["components"]["schemas"] if n.startswith("yinxin__")]
    assert names == []


def test_a_pages_schema_has_a_plain_name(world) -> None:
    """A listing's page was named by pydantic's generic naming, ``Page_SealView_`` and, for the
    subscribers, ``Page_Union_PersonView__OrganizationView__DeviceView__``, which a generated
    client took as its type names, where docs/api.md promises plain names."""
    _, _, doc = world
    names = doc["components"]["schemas"]
    assert [n for n in names if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", n)] == []
    assert "SealViewPage" in names
    subscribers = doc["paths"]["/api/v1/subscribers"]["get"]["responses"]["200"]
    ref = subscribers["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/PersonViewOrOrganizationViewOrDeviceViewPage"


def test_the_documents_own_examples_are_accepted(world) -> None:
    """A client that copies the document's examples gets what it asked for: the application's
    profile said ``person-sign`` (no such profile), the contract's values left out blanks the
    template requires."""
    w, c, doc = world
    schemas = doc["components"]["schemas"]
    profile = schemas["ApplicationIn"]["properties"]["profile"]
    assert profile["examples"] == ["person-signing"] and "person-signing" in profile["enum"]
    r = c.post(
        "/api/v1/applications",
        json={"subscriber_id": w.staff_a, "profile": profile["examples"][0]},
    )
    assert r.status_code != 422 or r.json()["field"] != "profile", r.text
    contract = {
        name: copy.deepcopy(spec["examples"][0])
        for name, spec in schemas["ContractIn"]["properties"].items()
        if spec.get("examples")
    }
    r = c.post("/api/v1/contracts", json=contract)
    assert r.status_code == 201, r.text
    assert r.json()["template_code"] == "tech-service" and r.json()["state"] == "drafted"


@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:00:00+14:00",  # before the first moment Python holds in UTC
        "9999-12-31T23:59:59-14:00",  # after the last
        "0999-12-31T23:59:59Z",
    ],
)
def test_a_time_no_zone_can_turn_to_utc_is_refused_naming_the_field(world, moment) -> None:
    """Such a time is valid ISO 8601, and the date-time check took it: the verification's
    report (``format=pdf``) and the served notice turned it to UTC and crashed (500), and the
    JSON verification judged every signature TOTAL-FAILED "at" it."""
    from tests.fixtures.samples import contract_pdf

    w, c, _ = world
    before = dbdump.dump(w.platform)
    pdf = contract_pdf()
    pdf_head = {"content-type": "application/pdf"}
    for fmt in ("json", "pdf"):
        r = c.post(
            "/api/v1/verifications",
            content=pdf,
            headers=pdf_head,
            params={"at": moment, "format": fmt},
        )
        assert r.status_code == 422 and r.json()["field"] == "at", r.text
        assert "outside the times" in r.json()["detail"]
    r = c.get("/api/v1/calc/notice", params={"method": "email", "arrived_at": moment})
    assert r.status_code == 422 and r.json()["field"] == "arrived_at", r.text
    r = c.post("/api/v1/api-keys", json={"name": "x", "role": "integration", "expires_at": moment})
    assert r.status_code == 422 and r.json()["field"] == "expires_at", r.text
    assert dbdump.dump(w.platform) == before
    inside = "1000-01-01T08:00:00+08:00"  # the first moment taken, in another zone
    r = c.get("/api/v1/calc/notice", params={"method": "email", "arrived_at": inside})
    assert r.status_code == 200, r.text


def test_a_json_body_that_is_not_utf8_text_is_refused_naming_the_body(world) -> None:
    """A body in GBK, or gzip-compressed, was FastAPI's 400 "There was an error parsing the
    body", naming no field, where every other body that is not JSON names ``body``."""
    import gzip
    import json

    w, c, _ = world
    before = dbdump.dump(w.platform)
    text = json.dumps(
        {"name": "张三", "id_number": "11010519491231002X", "phone": "13800138000"},
        ensure_ascii=False,
    )
    for raw, extra, says in [
        (text.encode("gbk"), {}, "not valid JSON at byte 10: the body must be UTF-8 text"),
        (gzip.compress(text.encode()), {"content-encoding": "gzip"}, "send it uncompressed"),
    ]:
        r = c.post(
            "/api/v1/subscribers/persons",
            content=raw,
            headers={"content-type": "application/json", **extra},
        )
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
        assert r.json()["field"] == "body" and says in r.json()["detail"], r.text
    assert dbdump.dump(w.platform) == before


def test_a_notice_posted_too_late_to_count_from_is_refused_naming_the_day(world) -> None:
    """Express: the postmark's day plus 3 or 5 days; from 9999-12-27 on that day does not
    exist, and the route answered 500 (OverflowError)."""
    _, c, _ = world
    q = {"method": "express", "posted_on": "9999-12-30", "local": "false"}
    r = c.get("/api/v1/calc/notice", params=q)
    assert r.status_code == 422 and r.json()["field"] == "posted_on", r.text
    r = c.get("/api/v1/calc/notice", params={**q, "posted_on": "9999-12-26"})
    assert r.status_code == 200 and r.json()["served_on"] == "9999-12-31", r.text


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Bearer yx_wrong_key"}, {"Authorization": ""}],
    ids=["wrong-key", "no-key"],
)
def test_a_401_says_how_to_authenticate(world, headers) -> None:
    """RFC 9110 15.5.2: a 401 MUST carry ``WWW-Authenticate``; it had none, and an HTTP
    client that answers the challenge (or a gateway that checks for it) found nothing."""
    _, c, _ = world
    r = c.get("/api/v1/subscribers", headers=headers)
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated", r.text
    assert r.headers.get("www-authenticate") == 'Bearer realm="yinxin"'


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/tsa", 405, "method_not_allowed"),
        ("GET", "/tsa/nope", 404, "not_found"),
        ("GET", "/crl/nope.crl", 404, "not_found"),
        ("GET", "/ca/nope.cer", 404, "not_found"),
    ],
)
def test_the_status_endpoints_refusals_say_what_went_wrong(world, method, path, status, code):
    """The CRL/OCSP/TSA fast lane answered every refusal ``{"error": "bad_request"}`` — a
    404, a 405 and a 413 alike — so a client reading ``error`` could not tell them apart."""
    _, c, _ = world
    r = c.request(method, path)
    assert r.status_code == status, r.text
    assert r.json()["error"] == code and r.json()["message"]


def test_every_moment_an_answer_carries_is_documented_as_a_date_time(world) -> None:
    """A code's expiry (``expires_at`` of a reissue or rekey waiting for its code, of a holder's
    new phone or e-mail, of a registration's e-mail) and an e-mail notice's ``served_at`` were
    documented as plain strings — every other moment as ``format: date-time`` — and written
    ``2026-12-05T20:39:12.345678+00:00`` where the rest read ``2026-12-05T20:39:12Z``: a
    generated client got text to parse by hand. Every field named for a moment (``…_at``) is a
    ``date-time`` now, an export's ``exported_at`` too (null for a broken manifest, where it
    was an empty string)."""
    _, _, doc = world
    plain = []
    for name, schema in doc["components"]["schemas"].items():
        for field, prop in (schema.get("properties") or {}).items():
            kinds = prop.get("anyOf") or [prop]
            if field.endswith("_at"):
                if not any(k.get("format") == "date-time" for k in kinds):
                    plain.append(f"{name}.{field}")
    assert plain == []


# named like a day but not one: the SHA-256 of the draft a revision was based on
NOT_A_DAY = {("ReviseIn", "based_on")}
# the days the contract arithmetic answers, named otherwise
CALC_DAYS = {
    "AcceptanceOut": {"requested", "reminded"},
    "DayOut": {"date"},
    "SpanOut": {"start", "end"},
    "PenaltyOut": {"due", "as_of"},
    "PenaltyLineOut": {"from", "to"},
    "MilestoneOut": {"due"},
}


def test_every_day_a_field_holds_is_documented_as_a_date(world) -> None:
    """The contract arithmetic's days (``review_until``, ``reminder_until``, ``deemed_on`` of
    an acceptance, a notice's ``served_on``, a milestone's ``event_date``, a span's ``start``
    and ``end``, …) were documented as plain strings, where an obligation's ``due_on`` is a
    ``format: date``: every field named for a day (``…_until``, ``…_on``, ``…_date``) is a
    ``date`` or ``date-time`` now, and the answers still read ``2026-02-14``."""
    _, c, doc = world
    plain = []
    for name, schema in doc["components"]["schemas"].items():
        for field, prop in (schema.get("properties") or {}).items():
            kinds = prop.get("anyOf") or [prop]
            named = re.search(r"_(until|on|date)$", field) and (name, field) not in NOT_A_DAY
            if named or field in CALC_DAYS.get(name, ()):
                if not any(k.get("format") in ("date", "date-time") for k in kinds):
                    plain.append(f"{name}.{field}")
    assert plain == []
    # the answer is as documented: ISO dates, null where there is none
    year = c.get("/api/v1/calc/workdays/years").json()[0]["year"]  # one with a calendar
    r = c.get("/api/v1/calc/acceptance", params={"requested": f"{year}-03-02"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert dt.date.fromisoformat(body["review_until"]) > dt.date(year, 3, 2)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", body["review_until"])
    assert body["reminded"] is None and body["reminder_until"] is None


def test_every_operation_documents_the_503_of_a_key_store_that_cannot_open_the_secrets(
    world,
) -> None:
    """A key store without the platform KEK the secrets are wrapped under (``kek_missing``), or
    with another installation's (``kek_mismatch``), is answered ``503 Service Unavailable``
    (``problem+json``, field ``keystore``), but the document listed 400 to 429 alone on every
    operation, so a client generated from it (and Schemathesis's ``status_code_conformance``)
    took the 503 for an undocumented answer. Every operation now documents it as it does its
    other refusals: the same ``Problem`` schema, described ``Service Unavailable``."""
    _, _, doc = world
    missing = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            refused = op["responses"].get("503")
            if refused is None:
                missing.append(f"{method.upper()} {path}")
                continue
            assert refused["description"] == "Service Unavailable", (method, path)
            assert refused["content"] == op["responses"]["429"]["content"], (method, path)
            assert PROBLEM in refused["content"], (method, path)
    assert not missing, missing


def test_a_counts_documented_maximum_is_the_one_the_service_keeps(world) -> None:
    """The most documents an authorization may cover was documented as 1 000 000 while the
    service refuses past 100 000 (a client sizing one by the document was refused, 422)."""
    from yinxin.seals.grants import MAX_USES
    from yinxin.signing.authorizations import MAX_DOCUMENTS

    _, _, doc = world
    schemas = doc["components"]["schemas"]
    documents = schemas["AuthorizationGrantIn"]["properties"]["max_documents"]
    assert (documents["minimum"], documents["maximum"]) == (1, MAX_DOCUMENTS)
    uses = next(
        s for s in schemas["SealGrantIn"]["properties"]["max_uses"]["anyOf"] if "maximum" in s
    )
    assert (uses["minimum"], uses["maximum"]) == (1, MAX_USES)


def test_the_years_a_body_documents_are_the_years_the_service_takes(world) -> None:
    """Every ``years`` and ``validity_years`` of the bodies (an application, its payment and
    approval, a certificate's renewal payment, a seal's application, new key, creation and
    renewal) was documented up to 10 while the service refuses past 5 (``check_years``): a
    client offering what the document allowed was refused. The document says the service's
    bound (``MAX_YEARS``), and a body over it is refused naming the field, nothing written."""
    from yinxin.registry.fees import MAX_YEARS

    w, c, doc = world
    bounded: dict[str, list[tuple[int, int]]] = {}
    for name, schema in doc["components"]["schemas"].items():
        for field in ("years", "validity_years"):
            spec = schema.get("properties", {}).get(field)
            limits = [s for s in (spec or {}).get("anyOf", [spec]) if s and "maximum" in s]
            if limits:
                bounded[f"{name}.{field}"] = [(s["minimum"], s["maximum"]) for s in limits]
    for body in ("ApplicationIn", "CertificatePaymentIn", "RenewalPaymentIn", "SealNewKeyIn"):
        assert f"{body}.years" in bounded, sorted(bounded)
    assert "ApproveIn.validity_years" in bounded and len(bounded) >= 8, sorted(bounded)
    assert all(b == [(1, MAX_YEARS)] for b in bounded.values()), bounded
    before = dbdump.dump(w.platform)
    body = {"subscriber_id": w.staff_a, "profile": "person-signing", "years": MAX_YEARS + 1}
    r = c.post("/api/v1/applications", json=body)
    assert r.status_code == 422 and r.json()["field"] == "years", r.text
    assert dbdump.dump(w.platform) == before


LIMITS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _float_limits(node, where: str = "") -> Iterator[str]:
    """Every float limit of an integer-typed schema in ``node``, by where it is."""
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
            for key in LIMITS:
                if isinstance(node.get(key), float):
                    yield f"{where}.{key}={node[key]!r}"
        for name, child in node.items():
            yield from _float_limits(child, f"{where}/{name}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _float_limits(child, f"{where}/{i}")


def _validator(doc, schema):
    """A JSON Schema 2020-12 validator (jsonschema-rs) for one of the document's schemas, its
    ``$ref``s resolved in the document's components."""
    import jsonschema_rs

    return jsonschema_rs.Draft202012Validator({**schema, "components": doc["components"]})


def test_every_integer_limit_is_a_whole_number(world) -> None:
    """FastAPI wrote every limit of the document through its own model, whose limits are
    floats: ``le=2**62`` read ``"maximum": 4.611686018427388e+18`` and ``ge=1``
    ``"minimum": 1.0`` on ~120 integer fields, so a generated client (openapi-generator) or a
    strict JSON Schema validator held a decimal bound on a whole number — and a validator
    comparing in floats took ``2**62 + 1`` (the same float as ``2**62``) for an id the server
    refuses. Every limit of an integer schema is a JSON integer now, read from the raw text
    as well as the parsed document."""
    w, c, doc = world
    assert list(_float_limits(doc)) == []
    raw = c.get("/api/v1/openapi.json").text
    assert "e+18" not in raw and '"minimum":1.0' not in raw.replace(" ", "")
    body = doc["components"]["schemas"]["ApplicationIn"]
    assert body["properties"]["subscriber_id"]["maximum"] == 2**62
    # a real validator, reading the document as a client does, agrees with the server
    apply = _validator(doc, {"$ref": "#/components/schemas/ApplicationIn"})
    too_big = {"subscriber_id": 2**62 + 1, "profile": "person-signing"}
    assert not apply.is_valid(too_big)
    r = c.post("/api/v1/applications", json=too_big)
    assert r.status_code == 422 and r.json()["field"] == "subscriber_id", r.text
    assert apply.is_valid({**too_big, "subscriber_id": 2**62})
    # and a real answer is what the document says it is
    for path, url in [
        ("/api/v1/subscribers/{subscriber_id}", f"/api/v1/subscribers/{w.staff_a}"),
        ("/api/v1/subscribers", "/api/v1/subscribers?limit=5"),
        ("/api/v1/api-keys", "/api/v1/api-keys"),
    ]:
        answer = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        r = c.get(url)
        assert r.status_code == 200, r.text
        errors = [e.message for e in _validator(doc, answer["schema"]).iter_errors(r.json())]
        assert errors == [], (url, errors)
