"""What a browser may do with the platform's answers when strangers wrote what they hold: the
headers of the API documentation page and of every API answer, and the name a scanned
document is downloaded under. In-process (``client``), read as a browser reads them; the
pages themselves, with hostile text in them, are judged in Chromium
(``tests/e2e/test_web_hostile.py``)."""

from __future__ import annotations

from urllib.parse import unquote

from tests.integration.test_application_documents import PDF, PNG, pending, upload
from tests.integration.test_web_selfservice_api import subscriber_session

STRICT = "default-src 'none'; frame-ancestors 'none'; sandbox"


def directives(csp: str) -> dict[str, list[str]]:
    parts = (d.split() for d in csp.split(";") if d.strip())
    return {p[0]: p[1:] for p in parts}


def test_the_api_documentation_page_has_the_pages_policy(client):
    """/api/v1/docs was FastAPI's page: an inline script, and no Content-Security-Policy,
    no nosniff, no frame-ancestors (another site could frame it), where every other page has
    them."""
    r = client.get("/api/v1/docs", headers={"Accept": "text/html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = directives(r.headers["content-security-policy"])
    assert csp["script-src"] == ["'self'"] and csp["default-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'self'"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    assert "<script>" not in r.text  # every script is a file of this server's
    assert '<html lang="zh-CN">' in r.text


def test_every_api_answer_is_inert_when_opened_as_a_page(world, client):
    """An API answer opened in the browser (a JSON body holding a name someone typed, a
    problem quoting it, a seal's SVG, an uploaded scan in a new tab) carried no
    Content-Security-Policy and no nosniff: now it loads and runs nothing and cannot be
    framed; a PDF, which a sandbox would keep the viewer from showing, gets nosniff only."""
    app_id = pending(world, world.person.id, "person-signing")
    h = {"X-CSRF-Token": subscriber_session(client, world, "13800138000")}
    png = upload(client, app_id, PNG, "id_front", h, name="<svg onload=alert(1)>.png").json()
    pdf = upload(client, app_id, PDF, "id_back", h).json()
    seal = world.yi.seal.es_id
    base = f"/api/v1/applications/{app_id}/documents"
    answers = {
        "json": client.get(f"/api/v1/subscribers/{world.person.id}"),
        "problem": client.get("/api/v1/subscribers/999999"),
        "no such route": client.get("/api/v1/<script>alert(1)</script>"),
        "openapi": client.get("/api/v1/openapi.json"),
        "svg": client.get(f"/api/v1/seals/{seal}/image", params={"format": "svg"}),
        "png": client.get(f"/api/v1/seals/{seal}/image"),
        "scan": client.get(f"{base}/{png['id']}"),
        "public": client.get("/api/v1/public/fees"),
    }
    for what, r in answers.items():
        assert r.headers.get("x-content-type-options") == "nosniff", what
        assert r.headers.get("content-security-policy") == STRICT, what
    assert answers["svg"].headers["content-type"] == "image/svg+xml"
    scanned = client.get(f"{base}/{pdf['id']}")
    assert scanned.headers["content-type"] == "application/pdf"
    assert scanned.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in scanned.headers


def test_a_scans_name_keeps_its_chinese_and_has_an_ascii_fallback(world, client):
    """RFC 6266: ``filename*`` carries the applicant's name whole (quotes, ``;``, spaces,
    Chinese percent-encoded, so none ends the parameter), after a plain ASCII ``filename``
    the server makes; it was ``filename*`` alone."""
    app_id = pending(world, world.person.id, "person-signing")
    h = {"X-CSRF-Token": subscriber_session(client, world, "13800138000")}
    name = '身份证 "正面"; filename=evil.html, ..%2f.png'
    doc = upload(client, app_id, PNG, "id_front", h, name=name).json()
    assert doc["file_name"] == name
    r = client.get(f"/api/v1/applications/{app_id}/documents/{doc['id']}")
    got = r.headers.get_list("content-disposition")
    assert len(got) == 1
    head, fallback, extended = (p.strip() for p in got[0].split(";"))
    assert head == "inline"
    assert fallback == f'filename="document-{doc["id"]}.png"'
    assert extended.startswith("filename*=UTF-8''")
    encoded = extended.removeprefix("filename*=UTF-8''")
    assert all(c.isascii() and (c.isalnum() or c in "%-._~") for c in encoded), encoded
    assert unquote(encoded) == name


def test_an_e_mail_links_only_the_platforms_own_address():
    """A notice's HTML made a link of any value that looked like one: a flow titled, or a
    person named, "https://evil.example/pay" reached the signer as a clickable link in the
    platform's own e-mail. Only the ``url`` field (the platform's link) is a link now; any
    other value is text, escaped."""
    from yinxin.notify.templates import DEFAULT_TEMPLATES

    ours = "https://yinxin.example/sign/abc"
    linked = 0
    for t in DEFAULT_TEMPLATES:
        values = {f: "https://evil.example/pay" for f in t.fields} | {"url": ours}
        for lang in ("zh", "en", "zh-en"):
            page = t.render_html(values, lang)
            assert "evil.example" in page and 'href="https://evil.example' not in page, t.id
            if "url" in t.fields:
                assert f'<a href="{ours}">' in page, (t.id, lang)
                linked += 1
    assert linked  # some templates carry the platform's link
