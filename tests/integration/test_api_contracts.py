"""Contracts over HTTP (in-process, the whole server app): the template library, drafting
with refusals that name the blank and change nothing, the PDF, sending for signing through a
sign flow, cancelling, and an organization's key that sees its own contracts only."""

from __future__ import annotations

import datetime as dt
import hashlib

from tests import dbdump
from tests.integration.api_world import problem_of
from tests.integration.signing_flow import World
from yinxin.contracts.templates import get_template


def _keys(w: World) -> dict[str, dict[str, str]]:
    p = w.p
    other = p.subscribers.add_organization(
        name="丙公司",
        uscc="91310000MA1FL0000N",
        legal_representative="赵六",
        contact_name="钱七",
        contact_phone="021-62345678",
        email="ops@example.cn",  # no mobile: notices go by e-mail
    )
    made = {
        "org": p.api_keys.create(
            name="甲方管理员", role="organization_admin", organization_id=w.org.id, actor="t"
        ).secret,
        "other": p.api_keys.create(
            name="丙管理员", role="organization_admin", organization_id=other.id, actor="t"
        ).secret,
        "officer": p.api_keys.create(name="受理员", role="ra_officer", actor="t").secret,
    }
    return {k: {"Authorization": f"Bearer {v}"} for k, v in made.items()}


def _values(w: World) -> dict:
    v = get_template("tech-service").example_values()
    return v | {"client_name": w.org.name, "provider_name": w.person.name}


def test_templates_draft_pdf_scope_and_pages(client, world):
    auth = _keys(world)
    r = client.get("/api/v1/contract-templates", headers=auth["org"])
    assert r.status_code == 200, r.text
    codes = {t["code"] for t in r.json()}
    assert {"tech-service", "platform-integration", "om-service", "seal-agreement"} <= codes
    one = client.get("/api/v1/contract-templates/tech-service-intermediary", headers=auth["org"])
    assert [p["anchor"] for p in one.json()["parties"]] == [
        "甲方（签章）",
        "乙方（签章）",
        "中介方（签章）",
    ]
    problem_of(client.get("/api/v1/contract-templates/nope", headers=auth["org"]), 404)
    problem_of(client.get("/api/v1/contract-templates"), 401)
    problem_of(client.get("/api/v1/contracts", headers=auth["officer"]), 403)

    # refusals name the blank and write nothing
    before = dbdump.dump(world.p)
    bad = [
        (
            {"template": "tech-service", "values": _values(world) | {"price": "1.234"}},
            "values.price",
        ),
        (
            {"template": "tech-service", "values": _values(world) | {"date_signed": "2026-02-29"}},
            "values.date_signed",
        ),
        (
            {"template": "tech-service", "values": _values(world) | {"client_uscc": "123"}},
            "values.client_uscc",
        ),
        ({"template": "tech-service", "values": _values(world) | {"extra": "x"}}, "values.extra"),
    ]
    for body, field in bad:
        problem_of(client.post("/api/v1/contracts", json=body, headers=auth["org"]), 422, field)
    r = client.post(
        "/api/v1/contracts",
        json={"template": "tech-service", "values": {}, "colour": "red"},
        headers=auth["org"],
    )
    assert r.status_code == 422
    problem_of(
        client.post(
            "/api/v1/contracts",
            json={"template": "tech-service", "values": _values(world), "owner_subscriber_id": 9},
            headers=auth["org"],
        ),
        403,
        "owner_subscriber_id",
    )
    assert dbdump.dump(world.p) == before

    # a draft: the organization's own, its PDF, invisible to another organization
    r = client.post(
        "/api/v1/contracts",
        json={"template": "tech-service", "values": _values(world)},
        headers=auth["org"],
    )
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["state"] == "drafted" and c["owner_subscriber_id"] == world.org.id
    assert c["values"]["price"] == "120000.00" and c["values"]["date_signed"] == "2026-03-04"
    pdf = client.get(f"/api/v1/contracts/{c['id']}/pdf", headers=auth["org"])
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["x-contract-signed"] == "false"
    assert hashlib.sha256(pdf.content).hexdigest() == c["pdf_sha256"]
    assert pdf.headers["x-document-sha256"] == c["pdf_sha256"]
    problem_of(client.get(f"/api/v1/contracts/{c['id']}", headers=auth["other"]), 404)
    problem_of(client.get(f"/api/v1/contracts/{c['id']}/pdf", headers=auth["other"]), 404)
    assert client.get("/api/v1/contracts", headers=auth["other"]).json()["items"] == []
    listed = client.get("/api/v1/contracts?state=drafted", headers=auth["org"]).json()
    assert [x["id"] for x in listed["items"]] == [c["id"]]
    problem_of(client.get("/api/v1/contracts?state=nonsense", headers=auth["org"]), 422)
    # pages: `next` is the `after` of the page that follows, none on the last one
    second = client.post(
        "/api/v1/contracts",
        json={"template": "tech-service", "values": _values(world)},
        headers=auth["org"],
    ).json()
    one = client.get("/api/v1/contracts?state=drafted&limit=1", headers=auth["org"]).json()
    assert len(one["items"]) == 1 and one["next"] is not None
    rest = client.get(
        f"/api/v1/contracts?state=drafted&limit=1&after={one['next']}", headers=auth["org"]
    ).json()
    assert rest["next"] is None
    assert {x["id"] for x in one["items"] + rest["items"]} == {c["id"], second["id"]}
    whole = client.get("/api/v1/contracts?state=drafted", headers=auth["org"]).json()
    assert whole["next"] is None and len(whole["items"]) == 2

    r = client.post(
        f"/api/v1/contracts/{c['id']}/revise",
        json={"values": c["values"] | {"payment_days": 30}},
        headers=auth["org"],
    )
    assert r.status_code == 200 and r.json()["values"]["payment_days"] == 30
    assert r.json()["pdf_sha256"] != c["pdf_sha256"]
    # an editor who edited the version before that one: refused, named, nothing written
    stale = client.post(
        f"/api/v1/contracts/{c['id']}/revise",
        json={"values": c["values"] | {"payment_days": 45}, "based_on": c["pdf_sha256"]},
        headers=auth["org"],
    )
    assert stale.status_code == 409, stale.text
    assert stale.json()["field"] == "based_on" and stale.json()["code"] == "stale"
    bad = client.post(
        f"/api/v1/contracts/{c['id']}/revise",
        json={"values": c["values"], "based_on": "not-a-sha"},
        headers=auth["org"],
    )
    assert bad.status_code == 422 and "based_on" in bad.text, bad.text
    now = client.get(f"/api/v1/contracts/{c['id']}", headers=auth["org"]).json()
    assert now["pdf_sha256"] == r.json()["pdf_sha256"] and now["values"]["payment_days"] == 30
    r = client.post(
        f"/api/v1/contracts/{c['id']}/revise",
        json={"values": now["values"] | {"payment_days": 45}, "based_on": now["pdf_sha256"]},
        headers=auth["org"],
    )
    assert r.status_code == 200 and r.json()["values"]["payment_days"] == 45

    prev = client.post(
        "/api/v1/contract-templates/tech-service/preview",
        json={"values": _values(world)},
        headers=auth["org"],
    )
    assert prev.status_code == 200 and prev.content.startswith(b"%PDF-")

    # the page shells (their data comes through the calls above) and their scripts
    for path, script in (
        ("/contracts", "contracts.js"),
        ("/contracts/new", "contract_new.js"),
        (f"/contracts/{c['id']}", "contract.js"),
    ):
        r = client.get(path)
        assert r.status_code == 200 and f"/static/pages/{script}?v=" in r.text, path
        js = client.get(f"/static/pages/{script}")
        assert js.status_code == 200 and "/contract" in js.text
    assert 'href="/contracts"' in client.get("/").text  # in the header's navigation


def test_send_for_signing_and_cancel(client, world):
    auth = _keys(world)["org"]
    w = world
    c = client.post(
        "/api/v1/contracts",
        json={"template": "tech-service", "values": _values(w)},
        headers=auth,
    ).json()
    deadline = (w.clock.now() + dt.timedelta(days=3)).isoformat()
    jia = {"role": "甲方", "subscriber_id": w.jia.id, "seal": w.jia.seal.es_id}
    yi = {"role": "乙方", "subscriber_id": w.yi.id, "seal": w.yi.seal.es_id}
    url = f"/api/v1/contracts/{c['id']}/signing"
    before = dbdump.dump(w.p)
    for signers, field in (
        ([jia], "signers"),
        ([jia, yi | {"role": "丙方"}], "signers[1].role"),
        ([jia, yi | {"seal": w.jia.seal.es_id}], "signers[1].seal"),
    ):
        body = {"signers": signers, "deadline": deadline}
        problem_of(client.post(url, json=body, headers=auth), 422, field)
    assert dbdump.dump(w.p) == before

    r = client.post(url, json={"signers": [yi, jia], "deadline": deadline}, headers=auth)
    assert r.status_code == 201, r.text
    sent = r.json()
    assert sent["contract"]["state"] == "out_for_signing"
    assert {x["role"] for x in sent["links"]} == {"甲方", "乙方"}
    flow = client.get(f"/api/v1/flows/{sent['contract']['flow_id']}", headers=auth).json()
    assert flow["state"] == "started"
    assert {x["role"]: x["placements"][0]["anchor"] for x in flow["signers"]} == {
        "甲方": "甲方（签章）",
        "乙方": "乙方（签章）",
    }
    problem_of(
        client.post(url, json={"signers": [yi, jia], "deadline": deadline}, headers=auth), 409
    )

    r = client.post(
        f"/api/v1/contracts/{c['id']}/cancel", json={"reason": "报价有误"}, headers=auth
    )
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    flow = client.get(f"/api/v1/flows/{sent['contract']['flow_id']}", headers=auth).json()
    assert flow["state"] == "cancelled"
    problem_of(
        client.post(f"/api/v1/contracts/{c['id']}/cancel", json={"reason": "x"}, headers=auth),
        409,
    )


def test_a_seal_not_of_the_party_the_contract_names_is_refused_422(client, world):
    """The contract names 甲方 北京某某科技有限公司: the world organization's seal may not seal
    for it. 422 naming ``signers[1].seal`` (code ``not_the_party``), nothing written."""
    auth = _keys(world)["org"]
    w = world
    c = client.post(
        "/api/v1/contracts",
        json={
            "template": "tech-service",
            "values": _values(w) | {"client_name": "北京某某科技有限公司"},
        },
        headers=auth,
    ).json()
    deadline = (w.clock.now() + dt.timedelta(days=3)).isoformat()
    jia = {"role": "甲方", "subscriber_id": w.jia.id, "seal": w.jia.seal.es_id}
    yi = {"role": "乙方", "subscriber_id": w.yi.id, "seal": w.yi.seal.es_id}
    before = dbdump.dump(w.p)
    body = problem_of(
        client.post(
            f"/api/v1/contracts/{c['id']}/signing",
            json={"signers": [yi, jia], "deadline": deadline},
            headers=auth,
        ),
        422,
        "signers[1].seal",
        "not_the_party",
    )
    assert "北京某某科技有限公司" in body["detail"] and w.org.name in body["detail"], body
    assert dbdump.dump(w.p) == before
    assert client.get(f"/api/v1/contracts/{c['id']}", headers=auth).json()["state"] == "drafted"


def test_a_template_is_read_in_the_version_a_draft_was_made_from(client, world):
    """A draft keeps the template version it was made from and is revised against it; the
    page's revise form needs that version's blanks. ``?version=`` gives them (platform-
    integration 1 has no 费用明细, the current 2 requires it); a version the library does not
    hold is refused naming ``version``."""
    auth = _keys(world)
    url = "/api/v1/contract-templates/platform-integration"
    now = client.get(url, headers=auth["org"]).json()
    one = client.get(f"{url}?version=1", headers=auth["org"])
    assert one.status_code == 200, one.text
    names = {b["name"] for b in one.json()["blanks"]}
    assert one.json()["version"] == "1" and "price_lines" not in names
    assert now["version"] == "2" and "price_lines" in {b["name"] for b in now["blanks"]}
    assert client.get(f"{url}?version=2", headers=auth["org"]).json() == now
    problem_of(client.get(f"{url}?version=7", headers=auth["org"]), 404, "version")
    problem_of(client.get(f"{url}?version=%2F..", headers=auth["org"]), 422, "version")
    problem_of(client.get(f"{url}?version=1"), 401)


def test_a_revision_that_changes_nothing_is_refused_422(client, world):
    """POST /contracts/{id}/revise with the draft's own values (and title) wrote a new revision
    that differed from nothing; now 422 ``nothing_to_change`` naming ``values``, nothing
    written."""
    auth = _keys(world)
    c = client.post(
        "/api/v1/contracts",
        json={"template": "tech-service", "values": _values(world)},
        headers=auth["org"],
    ).json()
    before = dbdump.dump(world.p)
    for body in (
        {"values": c["values"]},
        {"values": c["values"], "title": c["title"], "based_on": c["pdf_sha256"]},
    ):
        r = client.post(f"/api/v1/contracts/{c['id']}/revise", json=body, headers=auth["org"])
        problem_of(r, 422, "values", "nothing_to_change")
    assert dbdump.dump(world.p) == before
    now = client.get(f"/api/v1/contracts/{c['id']}", headers=auth["org"]).json()
    assert now["pdf_sha256"] == c["pdf_sha256"]


def test_signing_links_kept_for_an_idempotent_retry_are_sealed_in_the_database(client, world):
    """POST /flows/{id}/start, /contracts/{id}/signing and /desk/requests/{id}/record-flow
    with an Idempotency-Key kept their answer — each signer's signing link, a bearer secret the
    flow keeps only as a SHA-256 — in idempotency_records as plain bytes for 24 hours, and said
    nothing to caches: a copy of the database held every link of the day. The answer is kept
    sealed under the platform KEK now (Cache-Control: no-store); a retry still gets it back
    byte for byte."""
    import base64

    from tests.fixtures.samples import contract_pdf

    w, p = world, world.p
    auth = _keys(w)["org"]
    admin = p.api_keys.create(name="admin", role="administrator", actor="t").secret
    desk = {"Authorization": f"Bearer {admin}"}
    deadline = (w.clock.now() + dt.timedelta(days=3)).isoformat()
    jia = {"role": "甲方", "subscriber_id": w.jia.id, "seal": w.jia.seal.es_id}
    yi = {"role": "乙方", "subscriber_id": w.yi.id, "seal": w.yi.seal.es_id}
    flow = {
        "title": "技术服务合同",
        "documents": [
            {"name": "合同.pdf", "content_base64": base64.b64encode(contract_pdf()).decode()}
        ],
        "signers": [jia | {"placement": {"anchor": "甲方（签章）"}}],
        "deadline": deadline,
    }
    r = client.post("/api/v1/flows", json=flow, headers=auth)
    assert r.status_code == 201, r.text
    flow_id = r.json()["id"]
    r = client.post(
        "/api/v1/contracts", json={"template": "tech-service", "values": _values(w)}, headers=auth
    )
    assert r.status_code == 201, r.text
    contract_id = r.json()["id"]
    p.desk.add_contract(
        "YW-2026-001",
        title="运维服务合同",
        party_a=w.org.name,
        party_b=w.person.name,
        annual_fee="28000.00",
        starts_on=w.clock.now().date() - dt.timedelta(days=30),
        ends_on=w.clock.now().date() + dt.timedelta(days=300),
        actor="t",
    )
    request = p.desk.open(
        "YW-2026-001", channel="phone", description="报表导出失败", reported_by="甲方"
    )
    p.desk.respond(request.id)
    p.desk.resolve(request.id, "重建索引")
    asks = [
        (f"/api/v1/flows/{flow_id}/start", auth, None, lambda a: a["links"]),
        (
            f"/api/v1/contracts/{contract_id}/signing",
            auth,
            {"signers": [jia, yi], "deadline": deadline},
            lambda a: a["links"],
        ),
        (
            f"/api/v1/desk/requests/{request.id}/record-flow",
            desk,
            {
                "party_a": {"subscriber_id": w.jia.id, "seal": w.jia.seal.es_id},
                "party_b": {"subscriber_id": w.yi.id, "seal": w.yi.seal.es_id},
            },
            lambda a: a["flow"]["links"],
        ),
    ]
    db = w.p.settings.home / "yinxin.db"
    for n, (path, headers, body, links) in enumerate(asks):
        headers = {**headers, "Idempotency-Key": f"links-{n}"}
        first = client.post(path, json=body, headers=headers)
        assert first.status_code in (200, 201), first.text
        assert first.headers.get("cache-control") == "no-store", path
        tokens = [x["token"].encode() for x in links(first.json())]
        assert tokens and all(x["url"].endswith(x["token"]) for x in links(first.json()))
        again = client.post(path, json=body, headers=headers)
        assert again.headers.get("idempotent-replayed") == "true", path
        assert again.status_code == first.status_code and again.content == first.content
        assert "x-yinxin-holds-secret" not in again.headers
        # the replay too (it was sent with no Cache-Control at all)
        assert again.headers.get("cache-control") == "no-store", path
        raw = b"".join(f.read_bytes() for f in db.parent.glob("yinxin.db*"))
        assert not [t for t in tokens if t in raw], path
