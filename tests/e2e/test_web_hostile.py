"""The pages fed hostile text, judged in Chromium (see each test)."""

from __future__ import annotations

from tests.e2e.conftest import Site


def test_the_api_documentation_draws_under_the_pages_policy(site: Site, page):
    """/api/v1/docs is sent the pages' Content-Security-Policy (script-src 'self', no inline
    script or style): Swagger UI still draws and opens an operation, and the browser reports
    no violation of the policy (an inline script or style it refused)."""
    page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));"
    )
    page.goto(site.url("/api/v1/docs"))
    page.locator(".opblock-summary").first.click()
    page.locator(".opblock-body").first.wait_for()
    assert page.evaluate("window.__violations") == []
