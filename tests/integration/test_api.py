"""The JSON API over the real ``yinxin serve`` on 127.0.0.1: registration to a certificate,
refusals as problem+json, roles, organization scope, pages, Idempotency-Key, rate limits,
verification and the audit trail."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import update

from tests.dbdump import count
from tests.integration.api_world import PROBLEM, ApiWorld, Client, api_world, id_card, problem_of
from tests.integration.server import running_server
from yinxin.adapters.http.api.guards import SESSION_OPENING
from yinxin.store.models import Application, Subscriber
from yinxin.store.models.access import ApiKey


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[tuple[ApiWorld, str]]:
    home = tmp_path_factory.mktemp("api")
    w = api_world(home)
    with running_server(home, env={"YINXIN_API_RATE": "0"}) as srv:
        yield w, srv.url("")
    w.platform.close()


@pytest.fixture
def as_(world):
    made: list[Client] = []

    def client(role: str | None) -> Client:
        w, base = world
        c = Client(base, w.keys[role] if role else None)
        made.append(c)
        return c

    yield client
    for c in made:
        c.close()


def new_person(c: Client, id_number: str, **more) -> dict:
    r = c.post(
        "/subscribers/persons",
        json={"name": "测试", "id_number": id_number, "phone": "13600136000", **more},
    )
    assert r.status_code == 201, r.text
    return r.json()


def certificate_for(c: Client, subscriber_id: int, approver: Client) -> dict:
    assert (
        c.post(
            f"/subscribers/{subscriber_id}/agreement-acceptances", json={"accepted_by": "测试"}
        ).status_code
        == 201
    )
    r = c.post(
        "/applications",
        json={"subscriber_id": subscriber_id, "profile": "person-signing", "pin": "246810"},
    )
    assert r.status_code == 201, r.text
    app = r.json()
    assert app["state"] == "pending" and app["key_mode"] == "platform"
    r = c.post(f"/applications/{app['id']}/payments", json={"reference": f"R-{app['id']}"})
    assert r.status_code == 201, r.text
    r = approver.post(f"/applications/{app['id']}/approve", json={})
    assert r.status_code == 200, r.text
    return r.json()


# --- the document -------------------------------------------------------------------------------
def test_openapi_document_describes_every_route_with_problems_and_idempotency(as_):
    r = as_(None).get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["info"]["title"] == "Yinxin API"
    paths = doc["paths"]
    for p in (
        "/api/v1/subscribers/persons",
        "/api/v1/certificates/{serial}/revoke",
        "/api/v1/verifications",
        "/api/v1/audit/verify",
        "/api/v1/api-keys",
    ):
        assert p in paths, p
    assert SESSION_OPENING <= set(paths)  # the routes that set the session cookies, all real
    posts = [(p, op) for p, item in paths.items() for m, op in item.items() if m == "post"]
    assert posts
    for path, op in posts:
        names = [p["name"] for p in op.get("parameters", [])]
        # a login or a registration opens a session and refuses the key (its cookies)
        opens = path in SESSION_OPENING
        assert ("Idempotency-Key" in names) != opens, op["operationId"]
        assert "422" in op["responses"] and PROBLEM in op["responses"]["422"]["content"]
    assert "HTTPBearer" in doc["components"]["securitySchemes"]
    # every whole number a client sends has a ceiling, so none reaches the database too large
    assert _unbounded_inputs(doc) == []


def _unbounded_inputs(doc: dict) -> list[str]:
    """Integer parameters and request-body fields (followed through ``$ref``) with no maximum."""
    schemas, found = doc["components"]["schemas"], []

    def walk(node, where: str, seen: frozenset[str]) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, where, seen)
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if ref:
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                walk(schemas[name], f"{where} {name}", seen | {name})
            return
        if node.get("type") == "integer" and "maximum" not in node:
            found.append(where)
        for key, value in node.items():
            walk(value, f"{where}.{key}" if key not in ("properties", "anyOf") else where, seen)

    for path, item in doc["paths"].items():
        for method, op in item.items():
            for param in op.get("parameters", []):
                walk(param.get("schema", {}), f"{method} {path} {param['name']}", frozenset())
            for content in (op.get("requestBody") or {}).get("content", {}).values():
                walk(content.get("schema", {}), f"{method} {path} body", frozenset())
    return found


# --- registration to certificate ------------------------------------------------------------------
def test_a_person_gets_a_certificate_over_http_only(as_, world, tmp_path):
    w, _ = world
    admin, officer = as_("admin"), as_("officer")
    person = new_person(admin, "11010519491231002X")
    assert person["id_number"] == "110***********002X"  # masked
    cert = certificate_for(admin, person["id"], officer)
    assert cert["status"] == "active" and cert["subscriber_id"] == person["id"]
    serial = cert["serial"]
    assert admin.get(f"/certificates/{serial}").json()["serial"] == serial

    pem = admin.get(f"/certificates/{serial}/pem")
    der = admin.get(f"/certificates/{serial}/der")
    chain = admin.get(f"/certificates/{serial}/chain")
    assert pem.headers["content-type"].startswith("application/x-pem-file")
    assert der.headers["content-type"] == "application/pkix-cert"
    c1 = x509.load_pem_x509_certificate(pem.content)
    assert c1 == x509.load_der_x509_certificate(der.content)
    parts = x509.load_pem_x509_certificates(chain.content)
    assert parts[0] == c1 and len(parts) == 3
    # OpenSSL, not us, checks the chain the API handed out
    (tmp_path / "leaf.pem").write_bytes(pem.content)
    (tmp_path / "root.pem").write_bytes(parts[2].public_bytes(Encoding.PEM))
    (tmp_path / "issuing.pem").write_bytes(parts[1].public_bytes(Encoding.PEM))
    out = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            tmp_path / "root.pem",
            "-untrusted",
            tmp_path / "issuing.pem",
            tmp_path / "leaf.pem",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and ": OK" in out.stdout, out.stdout + out.stderr

    r = admin.post(f"/certificates/{serial}/freeze", json={"note": "客户来电"})
    assert r.json()["status"] == "on_hold"
    problem_of(admin.post(f"/certificates/{serial}/freeze", json={}), 409)
    assert admin.post(f"/certificates/{serial}/unfreeze").json()["status"] == "active"
    r = admin.post(f"/certificates/{serial}/revoke", json={"reason": "key_compromise"})
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    problem_of(
        admin.post(f"/certificates/{serial}/revoke", json={"reason": "nonsense"}), 422, "reason"
    )


# --- refusals -------------------------------------------------------------------------------------
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(as_, world):
    w, _ = world
    admin = as_("admin")
    before = count(w.platform, Subscriber)
    r = admin.post(
        "/subscribers/persons",
        json={"name": "张三", "id_number": "110105194912310021", "phone": "13800138000"},
    )
    problem_of(r, 422, "id_number")
    problem_of(admin.post("/subscribers/persons", json={"name": "张三", "idnumber": "1"}), 422)
    r = admin.post(
        "/subscribers/organizations",
        json={
            "name": "某公司",
            "uscc": "91110108MA01YX0031",
            "legal_representative": "李四",
            "contact_name": "王五",
            "contact_phone": "010-62345678",
        },
    )
    problem_of(r, 422, "uscc")
    # a body that is not JSON is the body's fault, with where the parser stopped (was "[1]")
    body = problem_of(
        admin.post(
            "/subscribers/persons",
            content=b"{not json",
            headers={"content-type": "application/json"},
        ),
        422,
        "body",
    )
    assert body["detail"].startswith("body: not valid JSON at character 1: "), body
    problem_of(admin.get("/subscribers/999999"), 404, "subscriber_id")
    problem_of(admin.get("/certificates/zz"), 422)
    problem_of(admin.get("/no/such/route"), 404)
    # numbers beyond the database's integers are refused at the door (they were a 500)
    huge = {
        "seal": -(10**33),
        "pin": "1234",
        "granted_by_subscriber_id": 1,
        "max_documents": 1,
        "valid_until": "2030-01-01T00:00:00Z",
        "flow_ids": [10**30],
    }
    body = problem_of(admin.post("/authorizations", json=huge), 422, "seal")
    assert {e["field"] for e in body["errors"]} >= {"seal", "flow_ids[0]"}
    assert count(w.platform, Subscriber) == before


def test_callers_without_a_valid_key_are_refused(as_, world):
    w, base = world
    problem_of(as_(None).get("/subscribers"), 401, "authorization")
    bad = Client(base, "yx_000000000000_nope")
    problem_of(bad.get("/subscribers"), 401)
    bad.close()
    k = w.platform.api_keys.create(name="short", role="integration", actor="test")
    c = Client(base, k.secret)
    assert c.get("/subscribers").status_code == 200
    w.platform.api_keys.revoke(k.key.id, actor="test")
    problem_of(c.get("/subscribers"), 401)
    k2 = w.platform.api_keys.create(name="expiring", role="integration", actor="test")
    with w.platform.db.transaction() as s:
        s.execute(
            update(ApiKey)
            .where(ApiKey.id == k2.key.id)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    problem_of(Client(base, k2.secret).get("/subscribers"), 401)
    c.close()


def test_a_key_s_last_use_is_recorded_once_a_minute_and_only_for_a_success(as_, world):
    w, base = world
    k = w.platform.api_keys.create(name="stamped", role="integration", actor="test")
    assert w.platform.api_keys.get(k.key.id).last_used_at is None
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    c = Client(base, k.secret)
    problem_of(c.get("/subscribers/999999999"), 404)  # refused: the database stays as it was
    problem_of(c.post("/subscribers/persons", json={"name": "x"}), 422)
    assert w.platform.api_keys.get(k.key.id).last_used_at is None
    assert c.get("/subscribers").status_code == 200
    first = w.platform.api_keys.get(k.key.id).last_used_at
    assert first is not None and before <= first <= dt.datetime.now(dt.UTC)
    assert c.get("/subscribers").status_code == 200  # within the minute: no second write
    assert w.platform.api_keys.get(k.key.id).last_used_at == first
    listed = as_("admin").get("/api-keys?limit=200").json()
    assert set(listed) == {"items", "next"}  # a page, as the other lists (it was a bare list)
    assert next(x for x in listed["items"] if x["id"] == k.key.id)["last_used_at"] is not None
    page1 = as_("admin").get("/api-keys?limit=1").json()
    assert len(page1["items"]) == 1 and page1["next"] == str(page1["items"][0]["id"])
    rest = as_("admin").get(f"/api-keys?after={page1['next']}&limit=200").json()
    assert [x["id"] for x in page1["items"] + rest["items"]] == [x["id"] for x in listed["items"]]
    for query, field in (("limit=0", "limit"), ("limit=201", "limit"), ("after=-1", "after")):
        problem_of(as_("admin").get(f"/api-keys?{query}"), 422, field)
    earlier = first - dt.timedelta(minutes=5)
    with w.platform.db.transaction() as s:
        s.execute(update(ApiKey).where(ApiKey.id == k.key.id).values(last_used_at=earlier))
    assert c.get("/subscribers").status_code == 200
    assert w.platform.api_keys.get(k.key.id).last_used_at >= first
    w.platform.api_keys.revoke(k.key.id, actor="test")
    with w.platform.db.transaction() as s:
        s.execute(update(ApiKey).where(ApiKey.id == k.key.id).values(last_used_at=earlier))
    problem_of(c.get("/subscribers"), 401)  # a refused key is not "used"
    assert w.platform.api_keys.get(k.key.id).last_used_at == earlier
    c.close()


def test_roles_limit_what_a_key_may_do(as_, world):
    w, _ = world
    integration, org_a, officer = as_("integration"), as_("org_a"), as_("officer")
    person = new_person(integration, id_card("11010119900101123"))
    assert (
        integration.post(
            f"/subscribers/{person['id']}/agreement-acceptances", json={"accepted_by": "测试"}
        ).status_code
        == 201
    )
    app = integration.post(
        "/applications",
        json={"subscriber_id": person["id"], "profile": "person-signing", "pin": "135790"},
    ).json()
    integration.post(f"/applications/{app['id']}/payments", json={})
    problem_of(integration.post(f"/applications/{app['id']}/approve", json={}), 403)
    problem_of(org_a.post(f"/applications/{app['id']}/reject", json={"reason": "x"}), 403)
    for c in (integration, org_a, officer):
        problem_of(c.post("/api-keys", json={"name": "x", "role": "administrator"}), 403)
        problem_of(c.get("/api-keys"), 403)
    problem_of(org_a.get("/audit/events"), 403)
    assert officer.get("/audit/verify").json()["ok"] is True
    r = officer.post(f"/applications/{app['id']}/reject", json={"reason": "材料不全"})
    assert r.status_code == 200 and r.json()["state"] == "rejected"


def test_an_organization_key_sees_only_its_organization(as_, world):
    w, _ = world
    a, b, admin = as_("org_a"), as_("org_b"), as_("admin")
    # registration lands under the key's own organization, and nowhere else
    mine = new_person(a, id_card("11010119800101003"))
    assert mine["organization_id"] == w.org_a
    r = a.post(
        "/subscribers/persons",
        json={
            "name": "某人",
            "id_number": id_card("11010119800101005"),
            "phone": "13600136001",
            "organization_id": w.org_b,
        },
    )
    problem_of(r, 403, "organization_id")
    problem_of(
        a.post(
            "/subscribers/organizations",
            json={
                "name": "某公司",
                "uscc": "91110108MA01YX0030",
                "legal_representative": "李四",
                "contact_name": "王五",
                "contact_phone": "010-62345678",
            },
        ),
        403,
    )
    seen = {s["id"] for s in a.get("/subscribers", params={"limit": 200}).json()["items"]}
    assert {w.org_a, w.staff_a, mine["id"]} <= seen
    assert not seen & {w.org_b, w.staff_b}
    # B's things are as good as absent to A: reads and writes alike
    problem_of(a.get(f"/subscribers/{w.staff_b}"), 404)
    problem_of(a.get(f"/subscribers/{w.org_b}"), 404)
    problem_of(
        a.post(f"/subscribers/{w.staff_b}/agreement-acceptances", json={"accepted_by": "x"}), 404
    )
    problem_of(
        a.post(
            "/applications",
            json={"subscriber_id": w.staff_b, "profile": "person-signing", "pin": "123456"},
        ),
        404,
    )
    cert_b = certificate_for(b, w.staff_b, as_("officer"))
    serial = cert_b["serial"]
    for path in ("", "/pem", "/der", "/chain"):
        problem_of(a.get(f"/certificates/{serial}{path}"), 404)
    for verb, body in (
        ("revoke", {"reason": "key_compromise"}),
        ("freeze", {}),
        ("unfreeze", None),
        ("report-loss", None),
        ("renew", None),
    ):
        problem_of(a.post(f"/certificates/{serial}/{verb}", json=body), 404)
    problem_of(a.get(f"/applications/{cert_b['id']}"), 404)
    assert serial not in {c["serial"] for c in a.get("/certificates").json()["items"]}
    assert serial in {c["serial"] for c in b.get("/certificates").json()["items"]}
    assert admin.get(f"/certificates/{serial}").json()["status"] == "active"  # nothing moved
    apps_a = a.get("/applications", params={"state": "approved"}).json()["items"]
    assert all(x["subscriber_id"] != w.staff_b for x in apps_a)


def test_pages_walk_every_item_once(as_, world):
    admin = as_("admin")
    for n in (
        id_card("11010119950101001"),
        id_card("11010119950101003"),
        id_card("11010119950101005"),
    ):
        new_person(admin, n)
    everything = [s["id"] for s in admin.get("/subscribers", params={"limit": 200}).json()["items"]]
    walked, after = [], None
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = admin.get("/subscribers", params=params).json()
        assert len(page["items"]) <= 2
        walked += [s["id"] for s in page["items"]]
        after = page["next"]
        if after is None:
            break
    assert walked == everything and len(walked) == len(set(walked)) >= 5
    problem_of(admin.get("/subscribers", params={"limit": 0}), 422, "limit")
    problem_of(admin.get("/subscribers", params={"after": "x"}), 422, "after")


def test_idempotency_key_makes_a_retried_post_act_once(as_, world):
    w, _ = world
    admin = as_("admin")
    person = new_person(admin, id_card("11010119960101001"))
    admin.post(f"/subscribers/{person['id']}/agreement-acceptances", json={"accepted_by": "x"})
    body = {"subscriber_id": person["id"], "profile": "person-signing", "pin": "112233"}
    before = count(w.platform, Application)
    key = {"Idempotency-Key": "order-7781"}
    first = admin.post("/applications", json=body, headers=key)
    again = admin.post("/applications", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content and again.headers.get("idempotent-replayed") == "true"
    assert count(w.platform, Application) == before + 1
    # the same key for another request is refused; another caller's same key is its own
    other = admin.post("/applications", json={**body, "plan": "standard", "years": 2}, headers=key)
    assert problem_of(other, 422, "Idempotency-Key")["code"] == "idempotency_key_reused"
    third = as_("officer").post("/applications", json=body, headers=key)
    assert third.status_code == 201 and third.json()["id"] != first.json()["id"]
    assert count(w.platform, Application) == before + 2
    # a refusal is an answer too: replayed, not re-run
    bad = {"name": "张三", "id_number": "110105194912310021", "phone": "13800138000"}
    k2 = {"Idempotency-Key": "p-1"}
    r1 = admin.post("/subscribers/persons", json=bad, headers=k2)
    r2 = admin.post("/subscribers/persons", json=bad, headers=k2)
    assert r1.status_code == r2.status_code == 422 and r1.content == r2.content
    problem_of(admin.post("/subscribers/persons", json=bad, headers={"Idempotency-Key": ""}), 422)


def test_an_idempotent_retry_is_matched_on_the_requests_exact_bytes(as_, world):
    """A retry is the same request byte for byte (docs/api.md): the same JSON with its members
    in another order, or spaced otherwise, is another request, refused with nothing run."""
    w, _ = world
    admin = as_("admin")
    person = new_person(admin, id_card("11010119960101002"))
    admin.post(f"/subscribers/{person['id']}/agreement-acceptances", json={"accepted_by": "x"})
    sent = f'{{"subscriber_id": {person["id"]}, "profile": "person-signing", "pin": "112233"}}'
    reordered = f'{{"profile": "person-signing", "pin": "112233", "subscriber_id": {person["id"]}}}'
    h = {"Idempotency-Key": "bytes-1", "Content-Type": "application/json"}
    assert admin.post("/applications", content=sent, headers=h).status_code == 201
    before = count(w.platform, Application)
    for other in (reordered, sent.replace(": ", ":"), sent + "\n"):
        r = admin.post("/applications", content=other, headers=h)
        assert problem_of(r, 422, "Idempotency-Key")["code"] == "idempotency_key_reused"
    again = admin.post("/applications", content=sent, headers=h)
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    assert count(w.platform, Application) == before


def test_a_kept_answer_is_not_replayed_to_a_key_revoked_or_expired_since(as_, world):
    """The answer kept for an Idempotency-Key was replayed before anything checked the
    caller: a key revoked (or expired) since read back, for 24 hours, what it had been
    answered — here a new administrator key's secret."""
    w, base = world
    admin = as_("admin")
    for ending in ("revoke", "expire"):
        made = admin.post("/api-keys", json={"name": f"ops-{ending}", "role": "administrator"})
        assert made.status_code == 201, made.text
        ops = Client(base, made.json()["secret"])
        key = {"Idempotency-Key": f"child-of-{ending}"}
        body = {"name": f"child-{ending}", "role": "administrator"}
        first = ops.post("/api-keys", json=body, headers=key)
        assert first.status_code == 201, first.text
        again = ops.post("/api-keys", json=body, headers=key)  # still valid: replayed
        assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
        if ending == "revoke":
            assert admin.post(f"/api-keys/{made.json()['key']['id']}/revoke").status_code == 200
        else:
            with w.platform.db.transaction() as s:
                s.execute(
                    update(ApiKey)
                    .where(ApiKey.id == made.json()["key"]["id"])
                    .values(expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
                )
        before = count(w.platform, ApiKey)
        late = ops.post("/api-keys", json=body, headers=key)
        problem_of(late, 401, "authorization", "unauthenticated")
        assert "idempotent-replayed" not in late.headers
        assert first.json()["secret"] not in late.text
        assert count(w.platform, ApiKey) == before
        ops.close()


def test_head_is_answered_wherever_get_is(world):
    """HEAD is GET without the body (RFC 9110): the CRLs and CA certificates took it, but every
    FastAPI route — /healthz a load balancer probes, the API's downloads — answered 405."""
    w, base = world
    with httpx.Client(base_url=base, timeout=30) as c:
        for path in ("/healthz", "/api/v1/public/fees", "/crl/issuing.crl"):
            got, head = c.get(path), c.head(path)
            assert got.status_code == head.status_code == 200, (path, head.status_code)
            assert head.content == b"" and got.content
            assert head.headers["content-type"] == got.headers["content-type"]
            assert head.headers["content-length"] == str(len(got.content))
        assert c.head("/api/v1/subscribers").status_code == 401  # HEAD needs a key as GET does
        keyed = {"Authorization": f"Bearer {w.keys['officer']}"}
        assert c.head("/api/v1/subscribers", headers=keyed).status_code == 200
        assert c.head("/api/v1/subscribers/persons").status_code == 405  # POST only


def _raw_post(base: str, head: bytes, chunks: Iterator[bytes] = iter(())) -> bytes:
    """POST ``head`` (request line and headers) then ``chunks`` on a socket of its own, sent
    from a thread while the answer is read: what the server says, even if it answers before
    the body is all sent."""
    import socket
    import threading

    host, port = base.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:

        def send() -> None:
            try:
                sock.sendall(head)
                for chunk in chunks:
                    sock.sendall(chunk)
            except OSError:
                pass  # the server answered and closed: what the test reads

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        answer = b""
        while b"\r\n\r\n" not in answer:
            got = sock.recv(65536)
            if not got:
                break
            answer += got
        sender.join(timeout=30)
        return answer


def test_the_body_limit_holds_for_every_request_not_only_an_idempotent_one(world):
    """Over 60 MiB the body is refused (413 naming it) as it was only with an Idempotency-Key:
    without one, the server read a body of any size — before even the key was checked, so
    anyone could make it hold gigabytes — to answer 401 at the end."""
    w, base = world
    before = count(w.platform, Subscriber)
    path = b"POST /api/v1/subscribers/persons HTTP/1.1\r\nHost: x\r\n"
    json_ = b"Content-Type: application/json\r\nConnection: close\r\n"
    # a stated length over the limit: refused at once, nothing read
    answer = _raw_post(base, path + json_ + b"Content-Length: 70000000\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    # chunked: read up to the limit, then refused
    mib = b"a" * 2**20
    chunks = (b"%x\r\n%s\r\n" % (len(mib), mib) for _ in range(70))
    answer = _raw_post(base, path + json_ + b"Transfer-Encoding: chunked\r\n\r\n", chunks)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert count(w.platform, Subscriber) == before
    # under it, chunked or not, a body is taken as before
    admin = Client(base, w.keys["admin"])
    body = {"name": "测试", "id_number": id_card("11010119960101011"), "phone": "13600136000"}
    chunked = iter([json.dumps(body).encode()])
    r = admin.post(
        "/subscribers/persons", content=chunked, headers={"content-type": "application/json"}
    )
    assert r.status_code == 201, r.text
    admin.close()


def test_verification_reports_as_json_and_as_the_chinese_pdf(as_, world, tmp_path):
    from tests.fixtures.samples import contract_pdf
    from tests.integration.signing_flow import build_world, new_platform, sign_as

    # a contract signed on another platform with its own root: intact, not trusted here
    other = new_platform(tmp_path / "other")
    sw = build_world(other)
    signed = sign_as(sw, sw.yi, contract_pdf()).pdf
    other.close()
    v = as_("integration")
    r = v.post(
        "/verifications",
        content=signed,
        headers={"content-type": "application/pdf"},
        params={"file_name": "合同.pdf"},
    )
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["file_name"] == "合同.pdf" and len(rep["signatures"]) == 1
    sig = rep["signatures"][0]
    assert sig["intact"] is True and sig["trusted"] is False and rep["valid"] is False
    assert sig["problems"] and sig["signer_name"] == "张三"
    pdf = v.post(
        "/verifications",
        content=signed,
        params={"format": "pdf"},
        headers={"content-type": "application/pdf"},
    )
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    problem_of(v.post("/verifications", content=b""), 422, "body")
    problem_of(v.post("/verifications", content=signed, params={"format": "doc"}), 422, "format")


def test_the_audit_trail_pages_and_verifies(as_, world):
    officer = as_("officer")
    page = officer.get("/audit/events", params={"limit": 5}).json()
    assert len(page["items"]) == 5 and page["next"] == str(page["items"][-1]["seq"])
    nxt = officer.get("/audit/events", params={"limit": 5, "after": page["next"]}).json()
    assert nxt["items"][0]["seq"] == page["items"][-1]["seq"] + 1
    assert nxt["items"][0]["prev_hash"] == page["items"][-1]["hash"]
    made = officer.get("/audit/events", params={"action": "api_key.created"}).json()["items"]
    assert made and all(e["action"] == "api_key.created" for e in made)
    assert all("secret" not in str(e["data"]) and "yx_" not in str(e["data"]) for e in made)
    assert officer.get("/audit/verify").json() == {
        "ok": True,
        "events": officer.get("/audit/verify").json()["events"],
        "first_broken": None,
        "problem": None,
    }


def test_rate_limit_answers_429_with_retry_after(tmp_path):
    w = api_world(tmp_path / "home")
    with running_server(
        tmp_path / "home", env={"YINXIN_API_RATE": "0.5", "YINXIN_API_BURST": "3"}
    ) as srv:
        c = Client(srv.url(""), w.keys["officer"])
        codes = [c.get("/subscribers").status_code for _ in range(4)]
        assert codes[:3] == [200, 200, 200] and codes[3] == 429, codes
        r = c.get("/subscribers")
        body = problem_of(r, 429)
        assert int(r.headers["retry-after"]) >= 1
        # the wait is in the body too, the same whole seconds as the header
        assert body["retry_after"] == int(r.headers["retry-after"]), body
        # another caller has its own bucket
        assert Client(srv.url(""), w.keys["admin"]).get("/subscribers").status_code == 200
        c.close()
    w.platform.close()


def test_a_new_pin_and_a_rejection_are_refused_in_both_languages(as_, world):
    """A new PIN too short, too long or with a space at either end was refused in English alone
    (its hidden-character refusal in Chinese and English), and over 200 characters by the
    body's schema in pydantic's English; a rejection without a reason was "a rejection needs a
    reason", English alone, and an empty one over the API pydantic's "String should have at
    least 1 character". Each is the service's refusal now, in Chinese and English (422 / exit 2
    naming ``pin`` or ``reason``), never repeating the PIN, nothing written. A rejection's
    reason keeps its rule: several lines, up to 4,000 characters (not a one-line 500)."""
    from typer.testing import CliRunner

    from tests.conftest import cli_env
    from yinxin.adapters.cli import app as cli_app
    from yinxin.errors import halves
    from yinxin.store.models import AuditEvent

    w, _ = world
    p = w.platform
    integration, officer = as_("integration"), as_("officer")
    person = new_person(integration, id_card("11010119970305002"))
    accepted = integration.post(
        f"/subscribers/{person['id']}/agreement-acceptances", json={"accepted_by": "测试"}
    )
    assert accepted.status_code == 201, accepted.text
    length = ("PIN 须为 6–64 个字符", "the PIN must be 6 to 64 characters")
    space = ("PIN 首尾不能有空格", "the PIN must not begin or end with a space")
    applications, events = count(p, Application), count(p, AuditEvent)
    for pin, said in (
        ("", length),
        ("13579", length),
        ("8642097531" * 7, length),  # 70: the service's bound
        ("8642097531" * 30, length),  # 300: the body's max_length answered first
        (" 864209", space),
        ("864209\u3000", space),  # an ideographic space, as a Chinese input method types it
    ):
        r = integration.post(
            "/applications",
            json={"subscriber_id": person["id"], "profile": "person-signing", "pin": pin},
        )
        body = problem_of(r, 422, "pin", "invalid")
        assert halves(body["detail"]) == said, (len(pin), body)
        assert (pin.strip() or "\0") not in r.text, r.text
    assert (count(p, Application), count(p, AuditEvent)) == (applications, events)

    app = integration.post(
        "/applications",
        json={"subscriber_id": person["id"], "profile": "person-signing", "pin": "864209"},
    ).json()
    events = count(p, AuditEvent)
    no_reason = ("须写明驳回原因", "a rejection needs a reason")
    for reason in ("", " \n\t"):
        r = officer.post(f"/applications/{app['id']}/reject", json={"reason": reason})
        body = problem_of(r, 422, "reason", "invalid")
        assert halves(body["detail"]) == no_reason, body
    env = cli_env(p)
    for reason in ("", "  "):
        args = ["cert", "reject", str(app["id"]), "--officer", "陈静", "--reason", reason]
        res = CliRunner().invoke(cli_app, [*args, "--json"], env=env)
        err = json.loads(res.stdout)
        assert (res.exit_code, err["field"], err["error"]) == (2, "reason", "invalid"), err
        assert halves(err["message"]) == no_reason, err
        res = CliRunner().invoke(cli_app, args, env=env)
        assert res.exit_code == 2 and all(h in res.stderr for h in no_reason), res.stderr
    assert count(p, AuditEvent) == events
    assert officer.get(f"/applications/{app['id']}").json()["state"] == "pending"
    # its rule kept: line breaks, and more than the 500 characters of a one-line reason — up
    # to 4,000 (the body's 500 had been its only bound: none would keep a 60 MiB body's)
    r = officer.post(f"/applications/{app['id']}/reject", json={"reason": "驳" * 4001})
    body = problem_of(r, 422, "reason", "invalid")
    assert halves(body["detail"])[0] == "驳回原因最多 4000 个字符（此处 4001 个）", body
    assert count(p, AuditEvent) == events
    long = "营业执照复印件不清晰。\n" + "请重新上传原件扫描件。" * 60
    r = officer.post(f"/applications/{app['id']}/reject", json={"reason": long})
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["reason"]) == ("rejected", long.strip())
