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
    assert refusal.get("field") == "role", refusal  # not_permitted named none
    assert "errors" not in refusal, refusal  # nothing said of the fields or parameters


EXPORT = "20261201T142827Z"  # a well-formed name: no such export in this world
NAMED_EXPORT = [  # (method, url): routes whose role check (administrator_of) reads the path
    pytest.param("GET", f"/api/v1/exports/{EXPORT}?bogus=1", id="export-get"),
    pytest.param("DELETE", f"/api/v1/exports/{EXPORT}?bogus=1", id="export-delete"),
    pytest.param("GET", f"/api/v1/exports/{EXPORT}/archive?bogus=1", id="export-archive"),
]


@pytest.mark.parametrize(("method", "url"), NAMED_EXPORT)
@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        pytest.param("org_a", 404, "not_found", id="organization"),  # as if it did not exist
        pytest.param("officer", 403, "forbidden", id="officer"),
        pytest.param("integration", 403, "forbidden", id="integration"),
    ],
)
def test_a_named_export_refuses_the_role_before_the_shape(
    world, method, url, who, status, code
) -> None:
    """The role check of a named export (``administrator_of``) reads the export's name from
    the path as well as the caller: it was not asked before the query was checked, so a caller
    who is no administrator got ``422`` naming the route's parameters for ``?bogus=1``, where
    the same request without it got the 404 (an organization's key) or the 403."""
    c, keys = world
    headers = {"authorization": f"Bearer {keys[who]}"}
    clean = send(c, method, url.split("?")[0], None, headers)
    assert problem_of(clean, status)["code"] == code  # what the well-formed request gets
    refusal = problem_of(send(c, method, url, None, headers), status)
    assert refusal["code"] == code, refusal
    assert "errors" not in refusal, refusal  # nothing said of the fields or parameters


@pytest.mark.parametrize(("method", "url"), NAMED_EXPORT)
def test_a_named_export_still_answers_the_shape_to_an_administrator(client, method, url) -> None:
    problem_of(send(client, method, url, None, {}), 422, "bogus", "invalid")


def test_a_malformed_export_name_with_a_bad_query_is_still_the_shape(world) -> None:
    """The name is checked as the route checks it before the role check reads it: a name not
    an export's time stamp leaves the request's 422, as it gets without the bad query."""
    c, keys = world
    headers = {"authorization": f"Bearer {keys['org_a']}"}
    for url in ["/api/v1/exports/not-a-name", "/api/v1/exports/not-a-name?bogus=1"]:
        problem_of(send(c, "GET", url, None, headers), 422, code="invalid")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"name": ', id="body-not-json"),
        pytest.param(b'{"name": "a", "name": "b"}', id="body-twice"),
        pytest.param(b"{}", id="body-invalid"),
    ],
)
def test_an_organization_key_registering_an_organization_is_refused_before_the_shape(
    world, body
) -> None:
    """An organization's key may register people but not organizations, a refusal that depends
    on the key alone but was made in the handler: a body that was not JSON, gave a member twice
    or missed the fields got ``422`` naming the fields of an organization, now the ``403``."""
    c, keys = world
    headers = {"authorization": f"Bearer {keys['org_a']}"}
    r = send(c, "POST", "/api/v1/subscribers/organizations", body, headers)
    refusal = problem_of(r, 403, "role", "forbidden")  # named no field before
    assert "cannot register organizations" in refusal["detail"], refusal
    assert "errors" not in refusal, refusal


SEAL = "1"  # a well-formed seal id: no seal in this world
REVEAL = [  # (url): the routes that reveal a seal holder's full ID number to an officer only
    pytest.param(f"/api/v1/seals/{SEAL}", id="seal"),
    pytest.param(f"/api/v1/seals/{SEAL}/applications", id="seal-applications"),
]


@pytest.mark.parametrize("url", REVEAL)
@pytest.mark.parametrize("query", ["reveal=true&bogus=1", "bogus=1&reveal=1"])
def test_revealing_a_seal_holder_refuses_a_caller_who_is_no_officer_before_the_shape(
    world, url, query
) -> None:
    """``?reveal=true`` is an officer's (``seal_review``): the check was made in the handler,
    after the query was checked, so an organization's key asking for it with a parameter the
    route does not take was answered ``422`` naming the route's parameters, where the same
    request without it got the ``403``. The check reads the query's ``reveal`` as the route
    does, so it now refuses first."""
    c, keys = world
    headers = {"authorization": f"Bearer {keys['org_a']}"}
    clean = send(c, "GET", f"{url}?reveal=true", None, headers)
    assert problem_of(clean, 403)["code"] == "not_permitted"  # what the clean request gets
    refusal = problem_of(send(c, "GET", f"{url}?{query}", None, headers), 403)
    assert refusal["code"] == "not_permitted" and refusal.get("field") == "reveal", refusal
    assert "seal_review" in refusal["detail"], refusal
    assert "errors" not in refusal, refusal  # nothing said of the fields or parameters


@pytest.mark.parametrize("url", REVEAL)
@pytest.mark.parametrize(
    ("who", "query"),
    [
        pytest.param("officer", "reveal=true&bogus=1", id="officer"),  # may reveal
        pytest.param("org_a", "reveal=false&bogus=1", id="no-reveal"),  # asks for nothing more
        pytest.param("org_a", "bogus=1", id="no-reveal-given"),
    ],
)
def test_a_seal_query_still_answers_the_shape_to_a_caller_it_does_not_refuse(
    world, url, who, query
) -> None:
    c, keys = world
    headers = {"authorization": f"Bearer {keys[who]}"}
    problem_of(send(c, "GET", f"{url}?{query}", None, headers), 422, "bogus", "invalid")


@pytest.mark.parametrize("url", REVEAL)
def test_a_reveal_that_is_no_boolean_is_still_the_shape(world, url) -> None:
    """Whether the caller asked to reveal cannot be told from ``reveal=maybe``: the 422 naming
    it, as before, whoever asks."""
    c, keys = world
    headers = {"authorization": f"Bearer {keys['org_a']}"}
    problem_of(send(c, "GET", f"{url}?reveal=maybe", None, headers), 422, "reveal", "invalid")


CERTIFICATE = "7a3f01"  # a well-formed serial: no such certificate in this world


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"name": ', id="body-not-json"),
        pytest.param(b'{"name": "a", "name": "b"}', id="body-twice"),
        pytest.param(b'{"nmae": "a"}', id="body-invalid"),
        pytest.param(b'{"name": "a"}', id="body-valid"),  # was the 404 of the serial's scope
    ],
)
@pytest.mark.parametrize("query", ["", "?bogus=1"])
def test_a_holder_changing_a_certificate_is_sent_to_the_desk_before_the_shape(
    world, body, query
) -> None:
    """A change (变更) is the desk's only: a holder (a key bound to an organization, a
    subscriber's session) may change no certificate at all. The refusal was made in the
    handler, after the serial's scope and the body: a body that was not JSON, gave a member
    twice or a field the route does not take got ``422`` naming the fields of a change, a
    serial the key may not see its ``404``. The ``403 desk_only`` now comes first, the same
    for any serial (it tells nothing of whether the certificate exists)."""
    c, keys = world
    headers = {"authorization": f"Bearer {keys['org_a']}"}
    url = f"/api/v1/certificates/{CERTIFICATE}/change{query}"
    refusal = problem_of(send(c, "POST", url, body, headers), 403, "serial", "desk_only")
    assert "errors" not in refusal, refusal  # nothing said of the fields or parameters


@pytest.mark.parametrize("who", ["officer", "admin"])
def test_the_desk_changing_a_certificate_still_gets_the_shape_then_the_404(world, who) -> None:
    c, keys = world
    headers = {"authorization": f"Bearer {keys[who]}"}
    url = f"/api/v1/certificates/{CERTIFICATE}/change"
    problem_of(send(c, "POST", url, b'{"name": ', headers), 422, code="invalid")
    problem_of(send(c, "POST", url, b'{"nmae": "a"}', headers), 422, "nmae")
    problem_of(send(c, "POST", url, b'{"name": "a"}', headers), 404)


@pytest.mark.parametrize(
    ("who", "method", "url", "field", "capability"),
    [
        pytest.param("org_a", "GET", "/api/v1/audit/events", "role", "audit", id="audit"),
        pytest.param("officer", "GET", "/api/v1/api-keys", "role", "manage_keys", id="keys"),
        pytest.param("officer", "GET", "/api/v1/flows", "role", "flows", id="flows"),
        pytest.param("officer", "GET", "/api/v1/webhooks", "role", "webhooks", id="webhooks"),
        pytest.param(
            "integration",
            "POST",
            f"/api/v1/seals/{SEAL}/unlock",
            "role",
            "seal_review",
            id="unlock",
        ),
        pytest.param(
            "org_a",
            "GET",
            f"/api/v1/seals/{SEAL}?reveal=true",
            "reveal",
            "seal_review",
            id="reveal",
        ),
        pytest.param(
            "integration",
            "GET",
            f"/api/v1/seals/{SEAL}/applications?reveal=1",
            "reveal",
            "seal_review",
            id="reveal-applications",
        ),
    ],
)
def test_a_refusal_for_want_of_a_capability_names_what_refused(
    world, who, method, url, field, capability
) -> None:
    """``not_permitted`` named no ``field``, where docs/api.md says a 403 names the field or
    role that refused and every other 403 does (``forbidden`` naming ``role``, ``csrf`` naming
    ``x-csrf-token``): a client showing the refusal beside the part to blame had nothing to
    show it by. The caller's ``role`` is named where the route is not for it at all; where the
    role may use the route but not as asked, the part of the request that asked for more
    (``reveal``), which the same call without it does not refuse."""
    c, keys = world
    headers = {"authorization": f"Bearer {keys[who]}"}
    refusal = problem_of(send(c, method, url, b"{}", headers), 403, field, "not_permitted")
    assert f"({capability})" in refusal["detail"], refusal
    if field == "reveal":  # the seal is the same: without ``reveal`` it is only not there
        problem_of(send(c, method, url.split("?")[0], None, headers), 404, "seal", "not_found")
