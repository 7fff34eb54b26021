"""A control used while its page still loads is not lost. A page's script (a module, loaded after
the page shows) wires its controls as it runs, and much of it only after an ``await`` — the
session read, the page's data. A button is rendered off until then (test_web_buttons.py); a form
not yet bound says 页面正在加载 (static/forms.js). A file input, a drop zone or a radio that
shows or hides part of the form was on and took the user's action, but its listener came only
after those requests: on 发起签署 (/flows/new) a contract PDF picked while the session was
checked was ignored without a word (no name, no pages; 发送签署 then said 请先选择合同 PDF 文件).
Each test holds the page's first API answer (or the one its listener waited for), acts during
the hold, and lets it go."""

from __future__ import annotations

import base64
from urllib.parse import urlparse

from tests.e2e.conftest import Site
from tests.e2e.test_web_signing import ORG_PHONE, codes_a_minute_ago, subscriber_login
from tests.fixtures.samples import contract_pdf


def hold(page, path: str) -> list:
    """The API's answers to ``path`` held from now on (each route, to be let go by the caller).
    Whatever is not held falls back to the routes the test set before (as those held do when
    let go): a test that cuts an answer off (route.abort) still does, only later."""
    held: list = []

    def take(route) -> None:
        if urlparse(route.request.url).path == path:
            held.append(route)
        else:
            route.fallback()

    page.route("**/api/v1/**", take)
    return held


def wait_held(page, held: list) -> None:
    for _ in range(300):
        if held:
            return
        page.wait_for_timeout(100)
    raise AssertionError("the request was not held")


def held_while_busy(page, button, path: str, busy: str) -> list:
    """Double-click ``button`` with the API's answer to ``path`` held: the requests sent to
    ``path`` (held, to be let go by the caller), after checking the button is off and says
    ``busy`` meanwhile. Held, because a double click is two clicks the test's process sends
    one after the other: starved between them (two busy cores), a quick answer came back
    first, the button came on again, and the second click was a request the page rightly sent
    (CI saw 2 on the desk's sweep)."""
    held = hold(page, path)
    handle = button.element_handle()  # its label changes while it runs
    handle.dblclick()
    wait_held(page, held)
    page.wait_for_timeout(500)  # a second request, if any, has been sent
    assert len(held) == 1
    assert handle.is_disabled()
    assert handle.inner_text() == busy
    return held


def let_go(page, held: list) -> None:
    """Send on the requests ``held`` (through the test's own routes, if it set any) and hold
    nothing more."""
    for route in held:
        route.fallback()
    page.unroute("**/api/v1/**")


def test_a_contract_picked_while_the_session_is_checked_is_taken(site: Site, page, tmp_path):
    w = site.world
    contract = tmp_path / "采购合同.pdf"
    contract.write_bytes(contract_pdf(2, title="采购合同"))
    codes_a_minute_ago(site, w.org.id)
    subscriber_login(site, page, ORG_PHONE, "/flows")
    page.locator("#flows tbody td").first.wait_for()  # that page done with its requests
    held = hold(page, "/api/v1/sessions/current")
    page.goto(site.url("/flows/new"))
    wait_held(page, held)  # the page's script waits for the session
    page.set_input_files("#file", str(contract))
    page.wait_for_timeout(300)
    let_go(page, held)
    page.locator("#sender-name").filter(has_text=w.org.name).wait_for()
    page.locator('.page-canvas[data-page="1"] img').wait_for(timeout=10_000)
    assert page.locator("#file-label").inner_text().startswith("采购合同.pdf")
    assert page.input_value("#title") == "采购合同"


def test_a_contract_dropped_while_the_session_is_checked_is_taken(site: Site, page):
    w = site.world
    codes_a_minute_ago(site, w.org.id)
    subscriber_login(site, page, ORG_PHONE, "/flows")
    page.locator("#flows tbody td").first.wait_for()
    held = hold(page, "/api/v1/sessions/current")
    page.goto(site.url("/flows/new"))
    wait_held(page, held)
    pdf = base64.b64encode(contract_pdf(1, title="维保合同")).decode()
    dropped = page.evaluate_handle(
        """(b64) => { const d = new DataTransfer();
                      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                      d.items.add(new File([bytes], "维保合同.pdf", { type: "application/pdf" }));
                      return d; }""",
        pdf,
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": dropped})
    page.wait_for_timeout(300)
    let_go(page, held)
    page.locator("#sender-name").filter(has_text=w.org.name).wait_for()
    page.locator('.page-canvas[data-page="1"] img').wait_for(timeout=10_000)
    assert page.locator("#file-label").inner_text().startswith("维保合同.pdf")


def my_page(site: Site, page) -> None:
    """The organization's administrator signed in, on 我的账户 with its requests done."""
    codes_a_minute_ago(site, site.world.org.id)
    subscriber_login(site, page, ORG_PHONE, "/my")
    page.wait_for_load_state("networkidle")


def test_the_scan_chosen_while_the_seal_form_loads_shows_its_file_field(site: Site, page):
    """On 电子印章申请表 the radio 上传实物印章的印模扫描件 showed the scan's file field, and
    a change of 印章类型 its default centre text, only once the holder's certificates were
    read: chosen before, the radio was checked and no field came (提交申请 then refused a scan
    that could not be given)."""
    my_page(site, page)
    held = hold(page, "/api/v1/certificates")
    page.goto(site.url("/my/seals/apply"))
    wait_held(page, held)  # the seal kinds are in the select by now
    page.select_option("#kind", "contract")
    page.check("input[name=image][value=scan]")
    page.wait_for_timeout(300)
    let_go(page, held)
    page.locator("#seal-form button[type=submit]:enabled").wait_for()
    page.locator("#scan-field").wait_for(state="visible", timeout=5_000)
    assert page.get_attribute("#center_text", "placeholder") == "默认：合同专用章"


def test_a_csr_chosen_while_the_application_form_loads_shows_its_field(site: Site, page):
    """On 申请证书 the radio 自备密钥 swapped the PIN fields for the CSR's only once the fees
    and the agreement were read: chosen before, the radio was checked and the PIN fields stayed
    (the CSR could not be pasted)."""
    my_page(site, page)
    held = hold(page, "/api/v1/public/fees")
    page.goto(site.url("/my/apply"))
    wait_held(page, held)
    page.check("input[name=key_mode][value=csr]")
    page.wait_for_timeout(300)
    let_go(page, held)
    page.locator("#apply-form button[type=submit]:enabled").wait_for()
    page.locator("#csr-fields").wait_for(state="visible", timeout=5_000)
    assert page.locator("#pin-fields").is_hidden()
