"""The API routes the contract and signing pages need, in-process on a frozen clock: a
document's pages as PNG pictures (before a flow exists, for the sender, for the signer — and
after signing, with the seal), the signer's link still reading after signing, and video dual
recording (视频双录): a signer the flow asks for a recording cannot sign before one is stored,
and its SHA-256 is bound to the signature records, the audit trail and the evidence report."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import subprocess
from collections.abc import Iterator

import pytest
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select
from starlette.testclient import TestClient

from tests.fixtures.samples import contract_pdf
from tests.integration.api_world import problem_of
from tests.integration.signing_flow import (
    CODE_SPACING,
    World,
    need_quiet,
    outbox_lines,
    read_code,
)
from yinxin.adapters.http.server import create_app
from yinxin.store.models import AuditEvent
from yinxin.store.models.flows import SignFlowRecording
from yinxin.store.models.signing import SignatureRecord

# a WebM file starts with an EBML header; the rest is what a camera would have given
FAKE_WEBM = (
    bytes.fromhex("1a45dfa39f4286810142f7810142f2810442f381084282847765626d")
    + bytes(range(256)) * 40
)
MM = 72 / 25.4


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(world.p, jobs=False)
    with TestClient(app, base_url="http://127.0.0.1:8000", client=("127.0.0.1", 50000)) as c:
        yield c


def keys(world: World) -> dict[str, dict[str, str]]:
    p = world.p
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
            name="甲方管理员", role="organization_admin", organization_id=world.org.id, actor="t"
        ).secret,
        "other": p.api_keys.create(
            name="丙管理员", role="organization_admin", organization_id=other.id, actor="t"
        ).secret,
    }
    return {k: {"Authorization": f"Bearer {v}"} for k, v in made.items()}


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return Image.open(io.BytesIO(data)).size


def start_flow(c: TestClient, w: World, auth: dict, *, video: bool = True) -> dict:
    """甲方 by anchor, 乙方 by coordinates on page 1 (and asked for a video)."""
    import base64

    body = {
        "title": "技术服务合同",
        "documents": [
            {
                "name": "技术服务合同.pdf",
                "content_base64": base64.b64encode(contract_pdf()).decode(),
            }
        ],
        "signers": [
            {
                "subscriber_id": w.jia.id,
                "role": "甲方",
                "seal": w.jia.seal.es_id,
                "placement": {"anchor": "甲方（签章）"},
            },
            {
                "subscriber_id": w.yi.id,
                "role": "乙方",
                "seal": w.yi.seal.es_id,
                "placement": {"page": 1, "x_mm": 120, "y_mm": 40, "width_mm": 40},
                "requires_video": video,
            },
        ],
        "deadline": (w.clock.now() + dt.timedelta(days=3)).isoformat(),
    }
    r = c.post("/api/v1/flows", json=body, headers=auth)
    assert r.status_code == 201, r.text
    flow = r.json()
    assert [s["requires_video"] for s in flow["signers"]] == [False, video]
    r = c.post(f"/api/v1/flows/{flow['id']}/start", headers=auth)
    assert r.status_code == 200, r.text
    return r.json()


def sign_by_link(c: TestClient, w: World, token: str, party) -> dict:
    w.clock.advance(seconds=CODE_SPACING.total_seconds())
    before = outbox_lines(w.outbox)
    r = c.post(f"/api/v1/sign/{token}/code")
    assert r.status_code == 201, r.text
    code = read_code(w.outbox, party.phone, after=before)
    r = c.post(
        f"/api/v1/sign/{token}",
        json={"pin": party.pin, "challenge_id": r.json()["challenge_id"], "code": code},
    )
    return r


def test_pages_as_pictures_before_the_flow_for_the_sender_and_for_the_signer(world, client):
    c, w = client, world
    auth = keys(w)
    # before the flow exists: the uploaded PDF drawn, nothing kept
    r = c.post(
        "/api/v1/flows/page-preview?width=600",
        content=contract_pdf(),
        headers={**auth["org"], "Content-Type": "application/pdf"},
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["page_count"] == 1
    [page] = out["pages"]
    assert abs(page["width_mm"] - 210) < 1 and abs(page["height_mm"] - 297) < 1
    import base64

    assert png_size(base64.b64decode(page["png_base64"]))[0] == 600
    r = c.post("/api/v1/flows/page-preview", content=b"hello", headers=auth["org"])
    assert r.status_code == 422 and r.json()["field"] == "body"
    r = c.post("/api/v1/flows/page-preview", content=b"", headers=auth["org"])
    assert r.status_code == 422 and r.json()["field"] == "body"
    assert r.json()["detail"] == "the document is empty"
    r = c.post("/api/v1/flows/page-preview?first=2", content=contract_pdf(), headers=auth["org"])
    assert r.status_code == 422 and r.json()["field"] == "first"
    assert c.post("/api/v1/flows/page-preview", content=contract_pdf()).status_code == 401

    started = start_flow(c, w, auth["org"])
    flow, links = started["flow"], started["links"]
    doc = flow["documents"][0]["id"]
    base = f"/api/v1/flows/{flow['id']}/documents/{doc}/pages"
    pages = c.get(base, headers=auth["org"]).json()
    assert pages["sha256"] == flow["documents"][0]["current_sha256"]
    assert [p["page"] for p in pages["pages"]] == [1]
    r = c.get(f"{base}/1?width=500", headers=auth["org"])
    assert r.headers["content-type"] == "image/png" and png_size(r.content)[0] == 500
    again = c.get(
        f"{base}/1?width=500", headers={**auth["org"], "If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304  # the browser has this very picture
    # compared weakly, in a list, or "*" (RFC 9110 §13.1.2): a proxy that weakens the ETag
    # (W/) or a cache holding several sent them; before, only the exact tag alone was a 304
    tag = r.headers["etag"]
    for sent in (f"W/{tag}", f'"other", {tag}', "*"):
        cond = c.get(f"{base}/1?width=500", headers={**auth["org"], "If-None-Match": sent})
        assert cond.status_code == 304 and cond.headers["etag"] == tag, sent
    other = c.get(f"{base}/1?width=500", headers={**auth["org"], "If-None-Match": '"other"'})
    assert other.status_code == 200 and other.content == r.content
    assert c.get(f"{base}/2", headers=auth["org"]).json()["field"] == "page"
    # another organization: as if the flow did not exist
    assert c.get(base, headers=auth["other"]).status_code == 404
    assert c.get(f"{base}/1", headers=auth["other"]).status_code == 404
    # the signer whose turn it is reads the same pages through the link alone
    first = links[0]["token"]
    r = c.get(f"/api/v1/sign/{first}/documents/{doc}/pages/1?width=500")
    assert (
        r.status_code == 200
        and r.content == c.get(f"{base}/1?width=500", headers=auth["org"]).content
    )
    assert r.headers["content-type"] == "image/png"
    # the second signer's link does not open before their turn
    r = c.get(f"/api/v1/sign/{links[1]['token']}/documents/{doc}/pages/1")
    assert r.status_code == 409 and r.json()["code"] == "not_your_turn"
    assert c.get(f"/api/v1/sign/{'x' * 43}/documents/{doc}/pages").status_code == 404


def test_video_recording_required_then_bound_to_the_signatures_and_the_evidence(
    world, client, tmp_path
):
    c, w = client, world
    auth = keys(w)
    started = start_flow(c, w, auth["org"])
    flow, links = started["flow"], started["links"]
    doc = flow["documents"][0]["id"]
    t_jia, t_yi = links[0]["token"], links[1]["token"]
    before_png = c.get(f"/api/v1/sign/{t_jia}/documents/{doc}/pages/1").content

    # 甲方 is not asked for a recording: a recording is refused, signing goes through
    r = c.post(
        f"/api/v1/sign/{t_jia}/video", content=FAKE_WEBM, headers={"Content-Type": "video/webm"}
    )
    assert r.status_code == 422 and r.json()["code"] == "video_not_required"
    r = sign_by_link(c, w, t_jia, w.jia)
    assert r.status_code == 200, r.text
    # after signing the link still reads: the signer's copy, with the seal on the page
    assert c.get(f"/api/v1/sign/{t_jia}").json()["code"] == "already_signed"
    mine = c.get(f"/api/v1/sign/{t_jia}/documents")
    assert mine.status_code == 200 and mine.json()["signer"]["state"] == "signed"
    after_png = c.get(f"/api/v1/sign/{t_jia}/documents/{doc}/pages/1").content
    assert after_png != before_png  # the seal landed on the page
    signed = c.get(f"/api/v1/sign/{t_jia}/documents/{doc}")
    assert (
        signed.headers["x-document-sha256"] == mine.json()["flow"]["documents"][0]["current_sha256"]
    )
    # but nothing more can be done with it
    assert c.post(f"/api/v1/sign/{t_jia}/code").status_code == 409

    # 乙方 must record first: the statement names them, the flow and its documents
    ctx = c.get(f"/api/v1/sign/{t_yi}").json()
    assert ctx["signer"]["requires_video"] and ctx["signer"]["video_sha256"] is None
    assert "张三" in ctx["statement"] and "《技术服务合同》" in ctx["statement"]
    r = sign_by_link(c, w, t_yi, w.yi)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "video_required" and r.json()["field"] == "video"
    with w.p.db.read() as s:
        assert s.execute(select(SignFlowRecording)).first() is None
    # bad recordings are refused naming the field, nothing kept
    r = c.post(
        f"/api/v1/sign/{t_yi}/video", content=FAKE_WEBM, headers={"Content-Type": "image/png"}
    )
    assert r.status_code == 422 and r.json()["field"] == "content-type"
    r = c.post(
        f"/api/v1/sign/{t_yi}/video", content=b"not a video", headers={"Content-Type": "video/webm"}
    )
    assert r.status_code == 422 and r.json()["field"] == "video"
    r = c.post(f"/api/v1/sign/{t_yi}/video", content=b"", headers={"Content-Type": "video/webm"})
    assert r.status_code == 422
    r = c.post(
        f"/api/v1/sign/{t_yi}/video",
        content=b"not a video",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 422 and r.json()["field"] == "video"
    # a real one: stored under its SHA-256, bound to the signer; a retry with the same key is
    # the same recording
    head = {"Content-Type": "video/webm;codecs=vp8,opus", "Idempotency-Key": "rec-1"}
    r = c.post(f"/api/v1/sign/{t_yi}/video", content=FAKE_WEBM, headers=head)
    assert r.status_code == 201, r.text
    rec = r.json()
    digest = hashlib.sha256(FAKE_WEBM).hexdigest()
    assert rec["sha256"] == digest and rec["size"] == len(FAKE_WEBM)
    assert rec["media_type"] == "video/webm" and rec["statement"] == ctx["statement"]
    again = c.post(f"/api/v1/sign/{t_yi}/video", content=FAKE_WEBM, headers=head)
    assert again.headers.get("idempotent-replayed") == "true" and again.json()["id"] == rec["id"]
    assert w.p.flows.files.get(digest) == FAKE_WEBM
    assert c.get(f"/api/v1/sign/{t_yi}").json()["signer"]["video_sha256"] == digest

    r = sign_by_link(c, w, t_yi, w.yi)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["flow"]["state"] == "completed"
    assert done["signer"]["video_sha256"] == digest

    # bound: every signature record of 乙方 names the recording, and so does the audit trail
    with w.p.db.read() as s:
        recs = list(s.execute(select(SignatureRecord)).scalars())
        ctxs = [
            json.loads(x.details or "{}").get("context", {})
            for x in recs
            if x.signer_subscriber_id == w.yi.id
        ]
        assert ctxs and all(x.get("video_sha256") == digest for x in ctxs)
        events = {
            e.action: json.loads(e.data)
            for e in s.execute(
                select(AuditEvent).where(AuditEvent.subject_type == "sign_flow")
            ).scalars()
        }
    assert events["flow.video_recorded"]["sha256"] == digest
    assert events["flow.signer_signed"]["video_sha256"] == digest

    ev = c.get(f"/api/v1/flows/{flow['id']}/evidence", headers=auth["org"]).json()
    jia, yi = ev["parties"]
    assert jia["video"] is None and not jia["requires_video"]
    assert yi["video"]["sha256"] == digest and yi["video"]["statement"] == ctx["statement"]
    pdf = c.get(f"/api/v1/flows/{flow['id']}/evidence.pdf", headers=auth["org"]).content
    if need_quiet("pdftotext"):
        path = tmp_path / "evidence.pdf"
        path.write_bytes(pdf)
        text = subprocess.run(
            ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert "视频双录" in text and digest in text.replace(" ", "").replace("\n", "")

    # the seal placed by coordinates sits where the sender clicked: 120 mm, 40 mm
    final = c.get(f"/api/v1/flows/{flow['id']}/documents/{doc}", headers=auth["org"]).content
    sigs = PdfFileReader(io.BytesIO(final)).embedded_signatures
    rect = [float(v) for v in sigs[1].sig_field["/Rect"]]
    assert abs(rect[0] - 120 * MM) < 1 and abs(rect[1] - 40 * MM) < 1
    assert abs(rect[2] - rect[0] - 40 * MM) < 1


def test_signing_links_are_masked_in_the_access_log():
    """The signer's page (``/sign/{token}``, what the SMS opens) carries the link's secret as
    the API's paths do: the access log masks both."""
    from yinxin.adapters.http.ops import _TOKEN

    token = "k" * 43
    for path in (f"/sign/{token}", f"/api/v1/sign/{token}/documents/3/pages/1"):
        masked = _TOKEN.sub(r"\1***", path)
        assert token not in masked and "/sign/***" in masked
    assert _TOKEN.sub(r"\1***", "/flows/12") == "/flows/12"


def test_a_signing_link_used_with_an_idempotency_key_is_not_kept_in_the_database(world, client):
    """The signer's page sends each POST to ``/sign/{token}`` (the code, the signature) with an
    Idempotency-Key, and the kept record's path was that URL, token and all, in clear for 24
    hours — a link that still reads the signed documents, where the flow keeps only its
    SHA-256. The record names the path with the token masked now; a retry still gets its
    answer back, and the same key on another link is still another request."""
    w = world
    auth = keys(w)["org"]
    started = start_flow(client, w, auth, video=False)
    token, other = (x["token"] for x in started["links"])
    w.clock.advance(seconds=CODE_SPACING.total_seconds())
    before = outbox_lines(w.outbox)
    r = client.post(f"/api/v1/sign/{token}/code", headers={"Idempotency-Key": "code-1"})
    assert r.status_code == 201, r.text
    code = read_code(w.outbox, w.jia.phone, after=before)
    body = {"pin": w.jia.pin, "challenge_id": r.json()["challenge_id"], "code": code}
    head = {"Idempotency-Key": "sign-1"}
    first = client.post(f"/api/v1/sign/{token}", json=body, headers=head)
    assert first.status_code == 200, first.text
    again = client.post(f"/api/v1/sign/{token}", json=body, headers=head)
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.content == first.content
    r = client.post(f"/api/v1/sign/{other}", json=body, headers=head)
    problem_of(r, 422, "Idempotency-Key", "idempotency_key_reused")
    raw = b"".join(f.read_bytes() for f in w.p.settings.home.glob("yinxin.db*"))
    assert b"/sign/***" in raw
    assert token.encode() not in raw and other.encode() not in raw


def test_answers_through_a_signing_link_are_kept_by_no_cache_and_name_no_referrer(world, client):
    """A signing link is a bearer secret: whoever holds the URL reads the contract. The page
    /sign/{token} was sent Cache-Control: no-cache (stored, then revalidated) with
    Referrer-Policy: same-origin, and the API reads behind it (the flow, the PDF, its pages as
    pictures) with no Cache-Control or private, no-cache — so a browser's disk cache or a shared
    proxy kept the contract under its token-bearing URL. Every answer on a signing link's path
    (a refusal too) says no-store and no-referrer now; an authenticated API read without its
    own Cache-Control says no-store; public things keep their caching."""
    c, w = client, world
    auth = keys(w)
    started = start_flow(c, w, auth["org"], video=False)
    flow, token = started["flow"], started["links"][0]["token"]
    doc = flow["documents"][0]["id"]
    html = {"Accept": "text/html"}
    through_link = [
        c.get(f"/sign/{token}", headers=html),
        c.get(f"/api/v1/sign/{token}"),
        c.get(f"/api/v1/sign/{token}/documents"),
        c.get(f"/api/v1/sign/{token}/documents/{doc}"),
        c.head(f"/api/v1/sign/{token}/documents/{doc}"),
        c.get(f"/api/v1/sign/{token}/documents/{doc}/pages"),
        c.get(f"/api/v1/sign/{token}/documents/{doc}/pages/1?width=300"),
        c.get(f"/api/v1/sign/{'x' * 43}/documents"),  # no such link: 404
    ]
    assert [r.status_code for r in through_link] == [200] * 7 + [404]
    for r in through_link:
        assert r.headers.get("cache-control") == "no-store", r.request.url
        assert r.headers.get("referrer-policy") == "no-referrer", r.request.url
    assert through_link[3].content.startswith(b"%PDF-")

    # the sender's reads, with an API key: the flow, its document, its evidence
    base = f"/api/v1/flows/{flow['id']}"
    for path in (base, f"{base}/documents/{doc}", f"{base}/evidence", "/api/v1/flows"):
        r = c.get(path, headers=auth["org"])
        assert r.status_code == 200, (path, r.text)
        assert r.headers.get("cache-control") == "no-store", path
    # a session cookie is a credential too (here one that has ended: refused, and not kept)
    r = c.get("/api/v1/flows", headers={"Cookie": "yx_session=ended"})
    assert r.status_code == 401 and r.headers.get("cache-control") == "no-store"
    # a route that chose its own caching keeps it: a page picture revalidated by its ETag
    r = c.get(f"{base}/documents/{doc}/pages/1?width=300", headers=auth["org"])
    assert r.headers.get("cache-control") == "private, no-cache" and r.headers.get("etag")

    # public things stay cacheable as before
    assert c.get("/api/v1/public/fees").headers["cache-control"] == "public, max-age=300"
    assert c.get("/static/api.js?v=1").headers["cache-control"] == "public, max-age=86400"
    page = c.get("/verify", headers=html)
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["referrer-policy"] == "same-origin"
    crl = c.get("/crl/root.crl")  # public, revalidated within a minute (83f28bd)
    kept = crl.headers["cache-control"].split(", ")
    assert crl.status_code == 200 and crl.headers["etag"]
    assert kept[0].startswith("max-age=") and "public" in kept, kept
