"""The pages fed hostile text, judged in Chromium: what strangers type (a person's or an
organization's name, its legal representative and contact, an uploaded file's name) holding
markup, an event handler, template syntax and a quote that would end an attribute, opened by
the holder, an RA officer and an administrator. No handler may run (``window.__pwned`` stays
undefined, no dialog opens, no element of the payload is in the page) and the text is shown
as typed. The pages build every element with ``textContent`` and attributes
(``el`` in ``static/api.js``); ``test_no_page_script_writes_markup`` keeps it so. The API's
headers are checked in ``tests/integration/test_web_hostile.py``."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from tests.e2e.conftest import STAFF_PASSWORD, Site, new_officer, shot
from tests.e2e.test_web import fresh_totp
from tests.e2e.test_web_selfservice import type_login_code
from tests.e2e.test_web_signing import sign_by_service
from tests.fixtures.samples import contract_pdf
from tests.integration.api_world import id_card
from tests.integration.test_application_documents import PNG
from yinxin.signing.flows import SignerSpec

# short enough for a name's 50 characters; each part a way out of a different context
MARKUP = '"><img src=x onerror=window.__pwned=1>'
TEMPLATE = "{{7*7}}${7*7}"
STATIC = Path(__file__).resolve().parents[2] / "src/yinxin/adapters/web/static"


def watch(page) -> list[str]:
    """Record any dialog the page opens (and dismiss it)."""
    dialogs: list[str] = []

    def seen(d) -> None:
        dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", seen)
    return dialogs


def assert_inert(page, *shown: str) -> None:
    """Nothing of the payload ran or became an element, and each of ``shown`` is on the page
    as text."""
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src='x'], svg[onload], [onerror]").count() == 0
    body = page.locator("body").inner_text()
    for text in shown:
        assert text in body, text


def staff_login(site: Site, page, role: str, landing: str) -> None:
    officer = new_officer(site, role)
    page.goto(site.url(landing))
    page.wait_for_url("**/staff/login?*")
    page.fill("#username", officer.username)
    page.fill("#password", STAFF_PASSWORD)
    page.fill("#code", fresh_totp(officer))
    page.click("#staff-form button[type=submit]")
    page.wait_for_url(f"**{landing}")


def test_hostile_names_are_shown_as_text_to_holder_officer_and_administrator(site: Site, browser):
    p = site.world.p
    name = f"张{MARKUP}"
    org_name = f"{MARKUP}{TEMPLATE}有限公司"
    person = p.subscribers.add_person(
        name=name, id_number=id_card("11010519850505123"), phone="13612340001"
    )
    p.subscribers.accept_agreement(person.id, accepted_by=name)
    org = p.subscribers.add_organization(
        name=org_name,
        uscc="91350100M000100Y43",
        legal_representative=f"李{MARKUP}",
        contact_name=TEMPLATE,
        contact_phone="010-62345678",
        phone="13612340002",
    )
    app = p.certificates.apply(subscriber_id=person.id, profile="person-signing", pin="135790")
    p.certificates.pay(application_id=app.id, years=1, reference=MARKUP)
    p.subscribers.accept_agreement(org.id, accepted_by=TEMPLATE)
    org_app = p.certificates.apply(
        subscriber_id=org.id, profile="organization-signing", pin="135790"
    )
    file_name = f"{MARKUP}.png"
    p.application_documents.upload(app.id, PNG, kind="id_front", actor="test", file_name=file_name)

    # the holder, on its own pages
    holder = browser.new_context(locale="zh-CN")
    try:
        page = holder.new_page()
        dialogs = watch(page)
        type_login_code(site, page, "13612340001")
        page.wait_for_url("**/my")
        page.locator("#account-name").filter(has_text="张").wait_for()
        assert_inert(page, name)
        page.goto(site.url(f"/my/apply?application={app.id}"))
        page.locator(".doc-item").first.wait_for()
        assert_inert(page, file_name)
        shot(page, "hostile-holder")
        assert dialogs == []
    finally:
        holder.close()

    # the RA officer: the queue, the application with the applicant and the upload
    desk = browser.new_context(locale="zh-CN")
    try:
        page = desk.new_page()
        dialogs = watch(page)
        staff_login(site, page, "ra_officer", "/desk/applications")
        row = page.locator(f'tr[data-application="{app.id}"]')
        row.wait_for()
        row.locator("button").click()
        page.locator("#detail").wait_for(state="visible")
        page.locator("#applicant-docs .doc-item").first.wait_for()
        assert_inert(page, name, file_name, f"凭证 {MARKUP}", f"{name} 于")
        shot(page, "hostile-desk")
        # an organization's: its name, legal representative and contact as typed
        row = page.locator(f'tr[data-application="{org_app.id}"]')
        row.locator("button").click()
        page.locator("#applicant").filter(has_text="有限公司").wait_for()
        assert_inert(page, org_name, f"李{MARKUP}", f"经办人\n{TEMPLATE}")
        assert dialogs == []
    finally:
        desk.close()

    # the administrator: the audit trail, whose events quote every name
    admin = browser.new_context(locale="zh-CN")
    try:
        page = admin.new_page()
        dialogs = watch(page)
        staff_login(site, page, "administrator", "/desk/audit")
        page.fill("#action", "subscriber.registered")
        page.click("#filter-form button[type=submit]")
        page.locator("#events tbody tr").filter(has_text="有限公司").first.wait_for()
        # the event's data is cut short in the table (its whole text in the tooltip)
        assert_inert(page, f"名称：{MARKUP[:12]}")
        shot(page, "hostile-audit")
        assert dialogs == []
    finally:
        admin.close()


def test_no_page_script_writes_markup():
    """Every page builds its elements with ``el``/``textContent``: none of the calls that parse
    a string as HTML (or run one as code) is in the pages' scripts or the shared helpers, so
    text from the API can never become markup."""
    sinks = re.compile(
        r"\.(innerHTML|outerHTML|insertAdjacentHTML)\b|document\.write|\beval\(|new Function\("
        r"|setTimeout\(\s*[\"'`]|createContextualFragment|DOMParser"
    )
    found = [
        f"{f.relative_to(STATIC)}:{n}: {line.strip()}"
        for f in sorted(STATIC.rglob("*.js"))
        if "vendor" not in f.parts
        for n, line in enumerate(f.read_text().splitlines(), 1)
        if sinks.search(line)
    ]
    assert found == []


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


def test_a_signed_document_is_saved_as_a_pdf_whatever_its_name_says(site: Site, phone):
    """Who starts a flow names its documents, and the signer's page saved the signed PDF under
    that name as given: "发票.pdf.html" became an HTML file on the signer's disk (the PDF's
    bytes may hold markup before its header), "发票.pdf.exe" a program. The PDF is saved with
    ".pdf" at the end of its name."""
    w = site.world
    flow = w.p.flows.create(
        "发票",
        documents=[("发票.pdf.html", contract_pdf(1, title="发票"))],
        signers=[SignerSpec(w.jia.id, w.jia.role, w.jia.seal.es_id)],
        deadline=w.p.clock.now() + dt.timedelta(days=2),
        owner_subscriber_id=w.org.id,
        actor="test",
    )
    (link,) = w.p.flows.start(flow.id, actor="test").links
    assert sign_by_service(site, link.token, w.jia).flow.state == "completed"
    page = phone.new_page()
    page.goto(site.url(f"/sign/{link.token}"))
    page.locator("#downloads button").first.wait_for()
    assert "发票.pdf.html" in page.locator("#downloads").inner_text()  # the name, as given
    with page.expect_download() as got:
        page.locator("#downloads button").first.click()
    assert got.value.suggested_filename == "发票.pdf.html.pdf"
