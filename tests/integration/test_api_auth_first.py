"""A caller who is not authenticated is told so (401) before anything about the request's
shape (422): a body that is not JSON, a member given twice, a query parameter the route does
not take or a number not in digits were answered ``422`` naming the fields and parameters the
route expects, to a caller with no key, a wrong one or a stale session. An authenticated
caller still gets the 422; the routes that need no caller (``/public/…``, signing links)
still answer it to anyone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.api_world import api_world, keyed_client, problem_of
from yinxin.access.sessions import SESSION_COOKIE

JSON = {"content-type": "application/json"}
NOBODY = [
    pytest.param({"authorization": ""}, id="no-credential"),
    pytest.param({"authorization": "Bearer yx_wrong_key"}, id="wrong-key"),
    pytest.param({"authorization": "", "cookie": f"{SESSION_COOKIE}=stale"}, id="stale-session"),
]
MALFORMED = [
    pytest.param("POST", "/api/v1/subscribers/persons", b'{"name": ', id="body-not-json"),
    pytest.param(
        "POST", "/api/v1/subscribers/persons", b'{"name": "a", "name": "b"}', id="body-twice"
    ),
    pytest.param("GET", "/api/v1/certificates?stauts=active", None, id="query-unknown"),
    pytest.param("GET", "/api/v1/certificates?limit=1.0", None, id="query-not-digits"),
    pytest.param("POST", "/api/v1/certificates/01/revoke?x=1", b"{}", id="query-on-a-post"),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator:
    w = api_world(tmp_path_factory.mktemp("auth-first"))
    with keyed_client(w.platform, w.keys["admin"]) as c:
        yield c, w.keys
    w.platform.close()


@pytest.fixture
def client(world):
    return world[0]


def send(c, method: str, url: str, body: bytes | None, headers: dict[str, str]):
    return c.request(method, url, content=body, headers={**JSON, **headers})


@pytest.mark.parametrize("who", NOBODY)
@pytest.mark.parametrize(("method", "url", "body"), MALFORMED)
def test_a_caller_not_authenticated_is_told_so_before_the_shape(
    client, who, method, url, body
) -> None:
    r = send(client, method, url, body, who)
    refusal = problem_of(r, 401, code="unauthenticated")
    assert r.headers["www-authenticate"].startswith("Bearer"), r.headers
    assert "errors" not in refusal, refusal  # nothing said of the fields or parameters


@pytest.mark.parametrize(("method", "url", "body"), MALFORMED)
def test_an_authenticated_caller_still_gets_the_422(client, method, url, body) -> None:
    problem_of(send(client, method, url, body, {}), 422, code="invalid")


@pytest.mark.parametrize(
    "url", ["/api/v1/public/fees?bogus=1", "/api/v1/sign/no-such-token?bogus=1"]
)
def test_a_route_needing_no_caller_still_answers_the_shape_to_anyone(client, url) -> None:
    problem_of(client.get(url, headers={"authorization": ""}), 422, "bogus", "invalid")


NOT_PERMITTED = [  # (method, url, body): routes an organization's key has no role for
    pytest.param("POST", "/api/v1/api-keys", b'{"name": ', id="keys-body-not-json"),
    pytest.param("POST", "/api/v1/api-keys", b'{"name": "a", "name": "b"}', id="keys-body-twice"),
    pytest.param("GET", "/api/v1/audit/events?stauts=1", None, id="audit-query-unknown"),
    pytest.param("GET", "/api/v1/audit/events?limit=1.0", None, id="audit-query-not-digits"),
    pytest.param("POST", "/api/v1/desk/contracts", b'{"number": ', id="desk-body-not-json"),
    pytest.param("POST", "/api/v1/exports?x=1", None, id="export-query-unknown"),
    pytest.param("POST", "/api/v1/api-keys", b"{}", id="keys-body-invalid"),  # was 403 already
]


@pytest.mark.parametrize(("method", "url", "body"), NOT_PERMITTED)
def test_a_caller_without_the_role_is_refused_403_before_the_shape(
    world, method, url, body
) -> None:
    """An authenticated caller whose role may not use the route (an organization's key on the
    API keys, the audit trail, the service desk, the exports) was answered ``422`` naming the
    fields and parameters the route expects when the body was not JSON, gave a member twice or
    the query a parameter the route does not take, though a well-formed but invalid body was
    ``403``: the role's refusal, as the credential's, now comes before the shape."""
    c, keys = world
    r = send(c, method, url, body, {"authorization": f"Bearer {keys['org_a']}"})
    refusal = problem_of(r, 403)
    assert refusal["code"] in {"not_permitted", "forbidden"}, refusal
    assert "errors" not in refusal, refusal  # nothing said of the fields or parameters
