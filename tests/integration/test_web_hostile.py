"""What a browser may do with the platform's answers when strangers wrote what they hold: the
headers of the API documentation page and of every API answer, and the name a scanned
document is downloaded under. In-process (``client``), read as a browser reads them; the
pages themselves, with hostile text in them, are judged in Chromium
(``tests/e2e/test_web_hostile.py``)."""

from __future__ import annotations


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
