"""A JSON body's ``true`` or ``false`` where a number is wanted is refused naming the field."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import dbdump
from tests.integration.api_world import PROBLEM, api_world, keyed_client


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator:
    w = api_world(tmp_path_factory.mktemp("types"))
    with keyed_client(w.platform, w.keys["admin"]) as c:
        yield w, c
    w.platform.close()


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        # was a key bound to subscriber 1, organization A: pydantic's lax mode reads true as 1
        (
            "/api/v1/api-keys",
            {"name": "x", "role": "organization_admin", "organization_id": True},
            "organization_id",
        ),
        (
            "/api/v1/applications",
            {"subscriber_id": True, "profile": "person-signing"},
            "subscriber_id",
        ),
        (
            "/api/v1/subscribers/persons",
            {
                "name": "张三",
                "id_number": "11010519491231002X",
                "phone": "13800138000",
                "organization_id": True,
            },
            "organization_id",
        ),
    ],
)
def test_true_is_not_the_number_one(world, path, body, field) -> None:
    w, c = world
    before = dbdump.dump(w.platform)
    r = c.post(path, json=body)
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
    problem = r.json()
    assert problem["code"] == "invalid" and problem["field"] == field, problem
    assert "true or false is not a number" in problem["detail"], problem
    assert dbdump.dump(w.platform) == before


def test_a_boolean_field_still_takes_true_and_a_number_field_a_number(world) -> None:
    w, c = world
    r = c.post("/api/v1/api-keys", json={"name": "y", "role": "integration"})
    assert r.status_code == 201, r.text
    r = c.post(
        "/api/v1/api-keys",
        json={"name": "z", "role": "organization_admin", "organization_id": w.org_a},
    )
    assert r.status_code == 201 and r.json()["key"]["organization_id"] == w.org_a, r.text
