"""What the OpenAPI document says is what the server does: the methods a 405 offers, the
values a listing's ``state`` takes, the form of dates and times, and the document's own
examples — each found by a long Schemathesis run (``positive_data_acceptance``,
``negative_data_rejection``, ``unsupported_method``) where the two disagreed."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterator

import pytest

from tests import dbdump
from tests.integration.api_world import api_world, keyed_client
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
        ("OPTIONS", "/api/v1/applications", "GET, POST"),  # Starlette said "POST" alone
        ("DELETE", "/api/v1/flows", "GET, POST"),
        ("PUT", "/api/v1/flows/page-preview", "POST"),  # not /flows/{flow_id}'s GET
        ("DELETE", "/api/v1/flows/3", "GET"),
        ("PATCH", "/api/v1/exports/20261201T000000Z", "DELETE, GET"),
    ],
)
def test_a_wrong_method_is_told_every_method_of_the_path(world, method, path, allow) -> None:
    _, c, doc = world
    r = c.request(method, path)
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    assert r.headers["allow"] == allow
    template = path.replace("/3", "/{flow_id}").replace("20261201T000000Z", "{name}")
    assert sorted(m.upper() for m in doc["paths"][template]) == allow.split(", ")


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
