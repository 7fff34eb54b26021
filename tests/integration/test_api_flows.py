"""Sign flows, batch signing and authorized signing over HTTP only, against the real
``yinxin serve``: a three-party contract is created, started and signed through the API and
the signing links, and the files it hands back validate in poppler's ``pdfsig`` (OCSP asked
online of the same server) and in pyHanko."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest

from tests import dbdump
from tests.fixtures.samples import contract_pdf
from tests.integration.api_world import PROBLEM, Client, problem_of
from tests.integration.server import free_port, running_server
from tests.integration.signing_flow import (
    build_world,
    need,
    new_platform,
    nss_trusting,
    outbox_lines,
    pdfsig,
    read_code,
)
from tests.integration.test_sign_flows import _pyhanko_valid, make_agent
from yinxin.store.models.signing import SignatureRecord


@pytest.fixture
def served(tmp_path):
    """A signing world whose certificates name the port the server then listens on."""
    port = free_port()
    home = tmp_path / "home"
    p = new_platform(home, None, f"http://127.0.0.1:{port}")
    w = build_world(p)
    agent = make_agent(w)
    keys = {
        "org": p.api_keys.create(
            name="甲方管理员", role="organization_admin", organization_id=w.org.id, actor="t"
        ).secret,
        "integration": p.api_keys.create(name="oa", role="integration", actor="t").secret,
    }
    other = p.subscribers.add_organization(
        name="丙公司",
        uscc="91310000MA1FL0000N",
        legal_representative="赵六",
        contact_name="钱七",
        contact_phone="021-62345678",
        email="ops@example.cn",  # no mobile: notices go by e-mail
    )
    keys["other"] = p.api_keys.create(
        name="丙管理员", role="organization_admin", organization_id=other.id, actor="t"
    ).secret
    env = {"YINXIN_API_RATE": "0", "YINXIN_SWEEP_SECONDS": "1"}
    with running_server(home, port=port, env=env) as srv:
        clients = {k: Client(srv.url(""), v) for k, v in keys.items()}
        clients["link"] = Client(srv.url(""), None)
        yield w, agent, clients, home
        for c in clients.values():
            c.close()
    p.close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def docs(parties=("甲方", "乙方", "中介方")) -> list[tuple[str, bytes]]:
    return [
        ("技术服务合同.pdf", contract_pdf(1, parties=parties)),
        ("补充协议.pdf", contract_pdf(2, parties=parties, title="补充协议")),
    ]


def sign_by_link(w, link: Client, token: str, party) -> dict:
    before = outbox_lines(w.outbox)
    r = link.post(f"/sign/{token}/code")
    assert r.status_code == 201, r.text
    code = read_code(w.outbox, party.phone, after=before)
    r = link.post(
        f"/sign/{token}",
        json={"pin": party.pin, "challenge_id": r.json()["challenge_id"], "code": code},
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_three_parties_sign_over_http_only_and_outside_tools_accept_the_files(served, tmp_path):
    need("pdfsig", "certutil")
    w, agent, c, _home = served
    api, link = c["org"], c["link"]
    originals = docs()
    parties = [w.jia, w.yi, agent]
    body = {
        "title": "技术服务合同（三方）",
        "documents": [{"name": n, "content_base64": b64(d)} for n, d in originals],
        "signers": [
            {"subscriber_id": x.id, "role": x.role, "seal": x.seal.es_id, "order": i + 1}
            for i, x in enumerate(parties)
        ],
        "deadline": (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat(),
    }
    r = api.post("/flows", json=body, headers={"Idempotency-Key": "flow-1"})
    assert r.status_code == 201, r.text
    flow = r.json()
    assert flow["state"] == "draft" and flow["owner_subscriber_id"] == w.org.id
    again = api.post("/flows", json=body, headers={"Idempotency-Key": "flow-1"})
    assert again.json()["id"] == flow["id"]  # a retried create makes no second flow
    # another organization cannot see it, nor start it
    problem_of(c["other"].get(f"/flows/{flow['id']}"), 404)
    problem_of(c["other"].post(f"/flows/{flow['id']}/start"), 404)
    assert flow["id"] not in [f["id"] for f in c["other"].get("/flows").json()["items"]]

    started = api.post(f"/flows/{flow['id']}/start").json()
    tokens = [x["token"] for x in started["links"]]
    assert [x["state"] for x in started["flow"]["signers"]] == ["ready", "waiting", "waiting"]
    assert problem_of(link.get(f"/sign/{tokens[1]}"), 409)["code"] == "not_your_turn"
    problem_of(link.get("/sign/" + "x" * 43), 404)

    for i, (party, token) in enumerate(zip(parties, tokens, strict=True)):
        if i:  # the link sent at their turn is a fresh one; the one from start opens it too
            ctx = link.get(f"/sign/{token}")
            assert ctx.status_code == 200, ctx.text
            assert ctx.json()["signer"]["subscriber_id"] == party.id
        doc_id = flow["documents"][0]["id"]
        page = link.get(f"/sign/{token}/documents/{doc_id}")
        assert page.status_code == 200 and page.content.startswith(b"%PDF-")
        done = sign_by_link(w, link, token, party)
        assert len(done["records"]) == 2 and done["signer"]["state"] == "signed"
        assert done["signer"]["client_ip"] == "127.0.0.1"
    final = api.get(f"/flows/{flow['id']}").json()
    assert final["state"] == "completed"

    root = w.p.ca.certificate("root")
    nss = nss_trusting(tmp_path / "nss", root)
    for d, (_n, original) in zip(final["documents"], originals, strict=True):
        r = api.get(f"/flows/{flow['id']}/documents/{d['id']}")
        assert r.headers["content-type"] == "application/pdf"
        pdf = r.content
        assert hashlib.sha256(pdf).hexdigest() == d["current_sha256"]
        assert pdf.startswith(original)
        path = tmp_path / f"{d['id']}.pdf"
        path.write_bytes(pdf)
        blocks = pdfsig(path, nss)
        assert len(blocks) == 3, blocks
        for block in blocks:
            assert "Signature is Valid." in block and "Certificate is Trusted." in block, block
        assert _pyhanko_valid(pdf, root) == 3

    ev = api.get(f"/flows/{flow['id']}/evidence").json()
    assert [p["client_ip"] for p in ev["parties"]] == ["127.0.0.1"] * 3
    assert [d["sha256_final"] for d in ev["documents"]] == [
        d["current_sha256"] for d in final["documents"]
    ]
    r = api.get(f"/flows/{flow['id']}/evidence.pdf")
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF-")
    # the links answer no more once the flow is done
    assert problem_of(link.post(f"/sign/{tokens[2]}/code"), 409)["code"] == "flow_completed"


def test_batch_signing_over_http_one_code_for_the_list(served):
    w, _agent, c, _home = served
    api = c["integration"]
    items = [
        {"name": f"合同{i}.pdf", "content_base64": b64(contract_pdf(1, title=f"合同{i}"))}
        for i in range(4)
    ]
    who = {"signer_subscriber_id": w.yi.id, "documents": items}
    before = outbox_lines(w.outbox)
    r = api.post("/batches/code", json=who)
    assert r.status_code == 201, r.text
    code = read_code(w.outbox, w.yi.phone, after=before)
    rows = dbdump.count(w.p, SignatureRecord)
    wrong = {
        **who,
        "seal": w.yi.seal.es_id,
        "pin": w.yi.pin,
        "challenge_id": r.json()["challenge_id"],
        "code": code,
    }
    # another list with this code: refused, nothing signed
    bad = {**wrong, "documents": items[:3]}
    assert api.post("/batches/sign", json=bad).status_code in (403, 409, 422)
    assert dbdump.count(w.p, SignatureRecord) == rows
    done = api.post("/batches/sign", json=wrong)
    assert done.status_code == 200, done.text
    out = done.json()["documents"]
    assert len(out) == 4 and dbdump.count(w.p, SignatureRecord) == rows + 4
    root = w.p.ca.certificate("root")
    for d in out:
        pdf = base64.b64decode(d["content_base64"])
        assert hashlib.sha256(pdf).hexdigest() == d["sha256"]
        assert _pyhanko_valid(pdf, root) == 1
        assert d["record"]["signer_subscriber_id"] == w.yi.id
    problem_of(api.post("/batches/code", json={**who, "documents": items * 26}), 422)
    # an organization-bound key signs for its own people only
    problem_of(c["other"].post("/batches/code", json=who), 404)
    problem_of(c["other"].post("/batches/sign", json=wrong), 404)


def test_authorized_signing_over_http_and_withdrawal_refuses_at_once(served):
    w, _agent, c, _home = served
    api = c["org"]
    originals = docs(("甲方", "乙方"))
    flow = api.post(
        "/flows",
        json={
            "title": "自动签署合同",
            "documents": [{"name": n, "content_base64": b64(d)} for n, d in originals],
            "signers": [
                {"subscriber_id": w.org.id, "role": "甲方", "seal": w.jia.seal.es_id},
                {"subscriber_id": w.yi.id, "role": "乙方", "seal": w.yi.seal.es_id},
            ],
            "deadline": (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat(),
        },
    ).json()
    started = api.post(f"/flows/{flow['id']}/start").json()
    org_signer = started["flow"]["signers"][0]["id"]
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    grant = {
        "seal": w.jia.seal.es_id,
        "pin": w.jia.pin,
        "granted_by_subscriber_id": w.org.id,
        "max_documents": 2,
        "valid_until": until,
        "flow_ids": [flow["id"]],
    }
    problem_of(c["other"].post("/authorizations", json=grant), 404)  # not its seal
    r = api.post("/authorizations", json=grant)
    assert r.status_code == 201, r.text
    auth = r.json()
    assert auth["state"] == "active" and auth["remaining"] == 2 and "pin" not in r.text
    assert api.get(f"/authorizations/{auth['id']}/terms").json()["ok"] is True
    problem_of(c["other"].get(f"/authorizations/{auth['id']}"), 404)
    # nor can it sign its own flow with it: the 404 names authorization_id (it named
    # subscriber_id, a field the request does not have)
    theirs = (
        c["other"]
        .post(
            "/flows",
            json={
                "title": "他方合同",
                "documents": [{"name": "a.pdf", "content_base64": b64(originals[0][1])}],
                "signers": [{"subscriber_id": w.org.id, "role": "甲方", "seal": w.jia.seal.es_id}],
                "deadline": until,
            },
        )
        .json()
    )
    s0 = c["other"].post(f"/flows/{theirs['id']}/start").json()["flow"]["signers"][0]["id"]
    r = c["other"].post(
        f"/flows/{theirs['id']}/signers/{s0}/sign-authorized",
        json={"authorization_id": auth["id"]},
    )
    body = problem_of(r, 404, "authorization_id")
    assert body["detail"] == f"no authorization {auth['id']}"
    r = api.post(
        f"/flows/{flow['id']}/signers/{org_signer}/sign-authorized",
        json={"authorization_id": auth["id"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["signer"]["state"] == "signed"
    after = api.get(f"/authorizations/{auth['id']}").json()
    assert after["remaining"] == 0 and after["state"] == "exhausted"
    # a second flow: the exhausted authorization refuses; a new one withdrawn refuses at once
    r = api.post(f"/authorizations/{auth['id']}/withdraw", json={"reason": "停止授权"})
    assert r.status_code in (200, 409)
    grant2 = {**grant, "flow_ids": [], "max_documents": 5}
    auth2 = api.post("/authorizations", json=grant2).json()
    w2 = api.post(f"/authorizations/{auth2['id']}/withdraw", json={"reason": "停止授权"}).json()
    assert w2["state"] == "withdrawn" and w2["key_held"] is False
    # the list is a page like the others (it was a bare list, every row at once)
    first = api.get("/authorizations?limit=1")
    assert first.status_code == 200, first.text
    assert set(first.json()) == {"items", "next"} and first.json()["next"] == str(auth["id"])
    assert [a["id"] for a in first.json()["items"]] == [auth["id"]]
    rest = api.get(f"/authorizations?limit=1&after={first.json()['next']}").json()
    assert [a["id"] for a in rest["items"]] == [auth2["id"]] and rest["next"] is None
    assert api.get("/authorizations?state=withdrawn").json()["items"][-1]["id"] == auth2["id"]
    for query, field in (("limit=0", "limit"), ("limit=201", "limit"), ("after=-1", "after")):
        problem_of(api.get(f"/authorizations?{query}"), 422, field)
    flow2 = api.post(
        "/flows",
        json={
            "title": "第二份",
            "documents": [{"name": "a.pdf", "content_base64": b64(originals[0][1])}],
            "signers": [{"subscriber_id": w.org.id, "role": "甲方", "seal": w.jia.seal.es_id}],
            "deadline": until,
        },
    ).json()
    s2 = api.post(f"/flows/{flow2['id']}/start").json()["flow"]["signers"][0]["id"]
    r = api.post(
        f"/flows/{flow2['id']}/signers/{s2}/sign-authorized",
        json={"authorization_id": auth2["id"]},
    )
    assert r.status_code in (403, 409), r.text
    assert r.headers["content-type"].startswith(PROBLEM)


def test_a_flow_past_its_deadline_expires_by_itself(served):
    import time

    w, _agent, c, _home = served
    api, link = c["org"], c["link"]
    name, pdf = docs(("甲方", "乙方"))[0]
    # 8 s, not 3: creating, starting and opening the flow must all fall before the deadline,
    # and on two busy cores (the whole suite, -n auto) that took more than 3 s (start refused)
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=8)
    flow = api.post(
        "/flows",
        json={
            "title": "限期合同",
            "documents": [{"name": name, "content_base64": b64(pdf)}],
            "signers": [{"subscriber_id": w.yi.id, "role": "乙方", "seal": w.yi.seal.es_id}],
            "deadline": deadline.isoformat(),
        },
    ).json()
    token = api.post(f"/flows/{flow['id']}/start").json()["links"][0]["token"]
    assert link.get(f"/sign/{token}").status_code == 200
    end = time.monotonic() + (deadline - dt.datetime.now(dt.UTC)).total_seconds() + 15
    # read, the flow says expired from its deadline on; the job then stores it (its event)
    while not w.p.audit_events(action="flow.expired", subject_id=str(flow["id"])):
        assert time.monotonic() < end, "the server did not expire the flow"
        time.sleep(0.5)
    assert api.get(f"/flows/{flow['id']}").json()["state"] == "expired"
    assert link.post(f"/sign/{token}/code").status_code == 409
    events = w.p.audit_events(action="flow.expired", subject_id=str(flow["id"]))
    assert len(events) == 1 and events[0].actor == "system:expiry"


def _certified_with_fields(pdf: bytes) -> bytes:
    """``pdf`` with empty fields 甲方签章 and 乙方签章 on page 1, then certified (DocMDP P=2)
    by pyHanko with a throwaway self-signed certificate (another platform's)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from tests.integration.pdf_inputs_corpus import prepared_and_certified

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "合同平台")])
    now = dt.datetime.now(dt.UTC)
    cert = x509.CertificateBuilder(
        name, name, key.public_key(), 1, now - dt.timedelta(hours=1), now + dt.timedelta(days=1)
    ).sign(key, hashes.SHA256())
    return prepared_and_certified(pdf, key, cert)


def test_a_batch_document_is_sealed_into_its_prepared_field(served):
    """A certified (P=2) contract with prepared 甲方签章/乙方签章 was refused by /batches
    (`certified`): every seal made a new field. ``field_name`` on a document seals into the
    field; with a placement as well it is refused (422 naming it) before any code is sent."""
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature

    from yinxin.pdf.sign import empty_signature_fields

    w, _agent, c, _home = served
    api = c["integration"]
    pdf = _certified_with_fields(contract_pdf(1, title="预备签名域合同"))
    doc = {"name": "预备.pdf", "content_base64": b64(pdf)}
    who = {"signer_subscriber_id": w.yi.id, "seal": w.yi.seal.es_id}
    plain = api.post("/batches/code", json={**who, "documents": [doc]})
    body = problem_of(plain, 422, "items[0].pdf", "certified")  # the batch's own names
    assert "乙方签章" in body["detail"], body  # the message says which fields to name
    both = {**doc, "field_name": "乙方签章", "placement": {"page": 1, "x_mm": 30, "y_mm": 40}}
    problem_of(api.post("/batches/code", json={**who, "documents": [both]}), 422)
    refused = api.post("/batches/code", json={**who, "documents": [both]}).json()
    assert refused["field"] == "items[0].placement", refused
    item = {**doc, "field_name": "乙方签章", "role": "乙方"}
    before = outbox_lines(w.outbox)
    r = api.post("/batches/code", json={**who, "documents": [item]})
    assert r.status_code == 201, r.text
    code = read_code(w.outbox, w.yi.phone, after=before)
    done = api.post(
        "/batches/sign",
        json={
            **who,
            "documents": [item],
            "pin": w.yi.pin,
            "challenge_id": r.json()["challenge_id"],
            "code": code,
        },
    )
    assert done.status_code == 200, done.text
    (out,) = done.json()["documents"]
    signed = base64.b64decode(out["content_base64"])
    assert out["record"]["field_name"] == "乙方签章"
    assert [f.name for f in empty_signature_fields(signed)] == ["甲方签章"]
    from asn1crypto import x509 as a_x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from pyhanko_certvalidator import ValidationContext

    root = a_x509.Certificate.load(w.p.ca.certificate("root").public_bytes(Encoding.DER))
    reader = PdfFileReader(io.BytesIO(signed))
    cert, ours = reader.embedded_signatures
    assert ours.field_name == "乙方签章"
    # the certifier is nobody's root here (untrusted); its certification must hold
    st = validate_pdf_signature(cert, ValidationContext(trust_roots=[root], allow_fetching=False))
    assert st.intact and st.valid and st.docmdp_ok, st.pretty_print_details()
    assert st.modification_level.name == "FORM_FILLING", st.pretty_print_details()
    st = validate_pdf_signature(ours, ValidationContext(trust_roots=[root], allow_fetching=False))
    assert st.intact and st.valid and st.trusted, st.pretty_print_details()
