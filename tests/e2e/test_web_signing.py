"""Sending a contract and signing it from the SMS link, in headless Chromium against the real
server (issue 13, part 2).

The organization's administrator (subscriber login by phone and code) uploads a two-party
contract, places 甲方's seal by its anchor text and 乙方's by clicking on the drawn page, asks
乙方 for a video dual recording, sets a deadline and sends. 甲方 (王五, with the organization's
contract seal) opens the link on a 390×844 phone, reads every page, asks for the code (read from
``<home>/outbox/sms.jsonl``), enters it and the seal PIN and double-taps 确认签署: one request,
one signature, and the seal shows on the page. 乙方 (张三) records the statement with Chromium's
fake camera (MediaRecorder → webm, uploaded with its SHA-256), and signs while the first answer
to 确认签署 is cut off (``page.route``): the retry carries the same Idempotency-Key and signs
once. The sender sees the flow completed, downloads the signed PDF — both signatures valid in
pyHanko and poppler's ``pdfsig`` — and the evidence report, which names the recording's hash.
Batch signing of several PDFs from one screen closes. Screenshots under
``$YINXIN_TEST_OUTPUT/web/`` (``sign-*``, ``flow-*``, ``batch-*``).
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import hashlib
import io
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from tests.e2e.conftest import Site, shot, unlabeled
from tests.fixtures.samples import contract_pdf
from tests.integration.signing_flow import (
    need,
    need_quiet,
    nss_trusting,
    outbox_lines,
    pdfsig,
    read_code,
)
from tests.integration.test_sign_flows import _pyhanko_valid
from yinxin.signing.flows import SignerSpec

ORG_PHONE = "13900139000"
LINK_RE = re.compile(r"/sign/([A-Za-z0-9_-]{16,100})")


@pytest.fixture(scope="module")
def media_browser(browser):
    """Another Chromium of the same Playwright, with a fake camera and microphone granted
    without a prompt (Chromium's switches for tests of getUserMedia)."""
    b = browser.browser_type.launch(
        executable_path=shutil.which("chromium") or shutil.which("chromium-browser"),
        headless=True,
        args=[
            "--no-sandbox",
            "--lang=zh-CN",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
        ],
    )
    yield b
    b.close()


def phone_page(browser):
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        accept_downloads=True,
    )
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors  # type: ignore[attr-defined]
    return ctx, page


def read_link(outbox: Path, phone: str, *, after: int = 0) -> str:
    """The signing link's token in the newest sign request to ``phone``."""
    for line in reversed(outbox.read_text("utf-8").splitlines()[after:]):
        msg = json.loads(line)
        if msg.get("to") == phone and msg.get("template_id") in ("sign_request", "sign_urge"):
            m = LINK_RE.search(msg["body"])
            if m:
                return m.group(1)
    raise AssertionError(f"no signing link for {phone} in {outbox}")


def subscriber_login(site: Site, page, phone: str, then: str) -> None:
    before = outbox_lines(site.world.outbox)
    page.goto(site.url(f"/login?next={then}"))
    page.fill("#phone", phone)
    page.click("#send-code")
    page.locator("#sent-to").filter(has_text=phone[-4:]).wait_for()
    page.fill("#code", read_code(site.world.outbox, phone, after=before))
    page.click("#login-button")
    page.wait_for_url(f"**{then}")


def codes_a_minute_ago(site: Site, subscriber_id: int) -> None:
    """Move a subscriber's code requests two minutes back, as if the test had waited out the
    one-code-a-minute limit (the server reads them from the same database)."""
    from sqlalchemy import select

    from yinxin.store.models.notify import IntentChallenge

    with site.world.p.db.transaction() as s:
        q = select(IntentChallenge).where(IntentChallenge.subscriber_id == subscriber_id)
        for ch in s.execute(q).scalars():
            ch.created_at = ch.created_at - dt.timedelta(minutes=2)


def read_through(page) -> None:
    """Scroll every page of the documents into view, then tick 我已完整阅读."""
    page.locator("#documents .doc-page img").first.wait_for()
    for img in page.locator("#documents .doc-page img").all():
        img.scroll_into_view_if_needed()
    until(page, "() => !document.getElementById('read-confirm').disabled")
    page.check("#read-confirm")


def ask_code(site: Site, page, party) -> None:
    codes_a_minute_ago(site, party.id)  # the site's own contract was signed a moment ago
    before = outbox_lines(site.world.outbox)
    page.click("#send-code")
    page.locator("#sent-to").filter(has_text=party.phone[-4:]).wait_for()
    page.fill("#code", read_code(site.world.outbox, party.phone, after=before))


def until(page, js: str, arg=None, timeout: float = 30) -> None:
    """Poll ``js`` until it is true (``wait_for_function`` compiles its predicate with eval,
    which the pages' Content-Security-Policy refuses)."""
    end = time.monotonic() + timeout
    while not page.evaluate(js, arg):
        if time.monotonic() > end:
            raise AssertionError(f"still false after {timeout} s: {js}")
        time.sleep(0.1)


def images_loaded(page, selector: str) -> None:
    until(
        page,
        "s => [...document.querySelectorAll(s)].every(i => i.complete && i.naturalWidth > 0)",
        selector,
    )


def valid_signatures(pdf: bytes, root) -> int:
    """pyHanko's validator (trusting our root) in a thread of its own: it runs asyncio, and
    Playwright's sync API holds this thread's event loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(_pyhanko_valid, pdf, root).result()


def no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_send_a_contract_sign_it_on_phones_with_a_video_and_check_the_files(
    site: Site, page, media_browser, browser, tmp_path
):
    w = site.world
    outbox = w.outbox
    contract = tmp_path / "技术服务合同.pdf"
    contract.write_bytes(contract_pdf())

    # --- the sender: the organization's administrator ------------------------------------
    subscriber_login(site, page, ORG_PHONE, "/flows")
    page.locator("#flows tbody td").first.wait_for()
    shot(page, "flow-list-empty")
    page.click("#new-flow")
    page.wait_for_url("**/flows/new")
    rows = page.locator("#signers .signer-row")
    rows.nth(1).wait_for()
    assert rows.count() == 2
    assert unlabeled(page) == []  # each signer's role, number, seal and keyword by its label
    jia, yi = rows.nth(0), rows.nth(1)
    jia.locator('[data-name="subscriber_id"]').fill(str(w.jia.id))
    jia.locator('[data-name="seal"]').fill(w.jia.seal.es_id)
    assert jia.locator('[data-name="placement"]').input_value() == "甲方（签章）"
    # sent without a file: refused next to the file field, in Chinese
    page.fill("#title", "技术服务合同")
    yi.locator('[data-name="subscriber_id"]').fill(str(w.yi.id))
    yi.locator('[data-name="seal"]').fill(w.jia.seal.es_id)  # not 张三's to use
    page.click("#send-flow")
    page.locator("#file-field .field-error").wait_for()
    assert page.locator("#file-field .field-error").inner_text() == "请先选择合同 PDF 文件"
    page.set_input_files("#file", str(contract))
    canvas = page.locator('.page-canvas[data-page="1"]')
    canvas.locator("img").wait_for()
    assert page.locator("#file-field .field-error").count() == 0
    # a wrong seal first: refused on that signer's seal field
    yi.locator('input[type=radio][value="click"]').check()
    box = canvas.locator("img").bounding_box()
    assert box is not None
    # to the right of "乙方（签章）：" on the drawn page (the seal's centre)
    canvas.locator("img").click(position={"x": box["width"] * 0.66, "y": box["height"] * 0.64})
    page.locator(".marker").wait_for()
    assert "第 1 页" in yi.locator(".click-hint").inner_text()
    yi.locator('[data-name="requires_video"]').check()
    page.click("#send-flow")
    err = yi.locator(".field-error")
    err.wait_for()
    assert "印章" in err.inner_text()
    shot(page, "flow-new-field-error")
    yi.locator('[data-name="seal"]').fill(w.yi.seal.es_id)
    shot(page, "flow-new")
    before = outbox_lines(outbox)
    page.click("#send-flow")
    page.wait_for_url(re.compile(r".*/flows/\d+\?sent=1$"))
    flow_id = int(re.search(r"/flows/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    page.locator('#signers li[data-state="ready"]').wait_for()
    assert page.locator('#signers li[data-state="waiting"]').count() == 1
    page.locator("#pages .doc-page img").first.wait_for()
    shot(page, "flow-started")
    page.locator("#signers .urge").click()  # 催签: a fresh link by SMS
    page.locator("#toast").filter(has_text="已催签").wait_for()
    token_jia = read_link(outbox, w.jia.phone, after=before)

    # --- 甲方 on a phone: read, code, PIN, a double tap signs once -------------------------
    ctx1, p1 = phone_page(browser)
    p1.goto(site.url(f"/sign/{token_jia}"))
    p1.locator("#flow-title").filter(has_text="技术服务合同").wait_for()
    assert "王五（甲方）" in p1.locator("#flow-facts").inner_text()
    assert p1.locator('#steps li[data-step="video"]').is_hidden()  # not asked of 甲方
    shot(p1, "sign-open-phone")
    read_through(p1)
    p1.locator("#confirm-step").wait_for(state="visible")
    ask_code(site, p1, w.jia)
    p1.fill("#pin", "000000")  # a wrong PIN first: refused on the PIN field
    p1.click("#sign-button")
    p1.locator("#sign-form .field-error").wait_for()
    assert p1.locator("#sign-form .field-error").inner_text() == "印章密码错误"
    shot(p1, "sign-wrong-pin-phone")
    signs: list[dict] = []
    p1.on(
        "request",
        lambda r: (
            r.method == "POST"
            and r.url.endswith(f"/api/v1/sign/{token_jia}")
            and signs.append(dict(r.headers))
        ),
    )
    p1.fill("#pin", w.jia.pin)
    p1.locator("#sign-button").dblclick()
    p1.locator("#done").wait_for(state="visible")
    p1.locator("#signed-pages img").first.wait_for()
    images_loaded(p1, "#signed-pages img")
    assert len(signs) == 1  # the double tap was one submission
    assert "签署完成" in p1.locator("#done-verdict").inner_text()
    no_sideways_scroll(p1)
    p1.locator("#done").scroll_into_view_if_needed()
    shot(p1, "sign-done-phone")
    with p1.expect_download() as dl:
        p1.locator("#downloads button").first.click()
    mine = dl.value.path()
    assert mine is not None and Path(mine).read_bytes().startswith(b"%PDF-")
    assert not p1.errors, p1.errors  # type: ignore[attr-defined]
    ctx1.close()

    # --- 乙方: the video statement, then a cut-off answer and a retry -------------------------
    token_yi = read_link(outbox, w.yi.phone, after=before)
    ctx2, p2 = phone_page(media_browser)
    p2.goto(site.url(f"/sign/{token_yi}"))
    p2.locator("#flow-title").filter(has_text="技术服务合同").wait_for()
    assert p2.locator('#steps li[data-step="video"]').is_visible()
    read_through(p2)
    p2.locator("#video-step").wait_for(state="visible")
    assert "张三" in p2.locator("#statement").inner_text()
    # signing before recording is refused
    p2.fill("#code", "123456")
    p2.fill("#pin", w.yi.pin)
    p2.click("#sign-button")
    p2.locator("#sign-form .form-error").filter(has_text="视频双录").wait_for()
    p2.click("#camera-on")
    p2.locator("#rec-start").wait_for(state="visible")
    until(p2, "() => document.getElementById('camera').videoWidth > 0")
    p2.click("#rec-start")
    p2.locator("#rec-indicator").wait_for(state="visible")
    time.sleep(3.5)
    p2.locator("#video-step").scroll_into_view_if_needed()
    shot(p2, "sign-video-recording-phone")
    p2.click("#rec-stop")
    p2.locator("#video-done").wait_for(state="visible")
    video_sha = p2.locator("#video-done").get_attribute("data-sha256")
    assert video_sha and re.fullmatch(r"[0-9a-f]{64}", video_sha)
    # the file kept is the recording whose hash the page shows
    stored = site.home / "documents" / "flows"
    found = [f for f in stored.rglob("*") if f.is_file() and video_sha in f.name]
    if found:
        data = found[0].read_bytes()
        assert hashlib.sha256(data).hexdigest() == video_sha and data[:4] == b"\x1a\x45\xdf\xa3"
    shot(p2, "sign-video-done-phone")

    ask_code(site, p2, w.yi)
    p2.fill("#pin", w.yi.pin)
    sent: list[dict] = []
    p2.on(
        "request",
        lambda r: (
            r.method == "POST"
            and r.url.endswith(f"/api/v1/sign/{token_yi}")
            and sent.append(dict(r.headers))
        ),
    )
    cut = {"done": False}

    def drop_the_answer(route):
        if route.request.method == "POST" and not cut["done"]:
            cut["done"] = True
            route.fetch()  # the server signs…
            route.abort("connectionreset")  # …but the answer is lost
        else:
            route.continue_()

    p2.route(f"**/api/v1/sign/{token_yi}", drop_the_answer)
    p2.click("#sign-button")
    p2.locator("#sign-form .form-error").filter(has_text="网络连接中断").wait_for()
    shot(p2, "sign-network-cut-phone")
    p2.click("#sign-button")  # the signer taps again
    p2.locator("#done").wait_for(state="visible")
    assert len(sent) == 2 and sent[0]["idempotency-key"] == sent[1]["idempotency-key"]
    p2.locator("#signed-pages img").first.wait_for()
    images_loaded(p2, "#signed-pages img")
    no_sideways_scroll(p2)
    p2.locator("#done").scroll_into_view_if_needed()
    shot(p2, "sign-done-video-phone")
    assert not p2.errors, p2.errors  # type: ignore[attr-defined]
    ctx2.close()

    # --- the sender sees completion and downloads the files ---------------------------------
    page.goto(site.url(f"/flows/{flow_id}"))
    page.locator('#flow-state [data-state="completed"]').wait_for()
    assert page.locator('#signers li[data-state="signed"]').count() == 2
    assert video_sha in page.locator("#signers").inner_text()
    page.locator("#pages .doc-page img").first.wait_for()
    images_loaded(page, "#pages img")
    shot(page, "flow-completed")
    with page.expect_download() as dl:
        page.locator("#downloads .download-document").click()
    signed = Path(dl.value.path()).read_bytes()  # type: ignore[arg-type]
    assert signed.startswith(contract.read_bytes())  # incremental updates over the original
    sigs = PdfFileReader(io.BytesIO(signed)).embedded_signatures
    assert len(sigs) == 2  # one each, though 甲方 tapped twice and 乙方 sent twice
    root = w.p.ca.certificate("root")
    assert valid_signatures(signed, root) == 2
    # 乙方's seal where the sender clicked: 66 % across, 64 % down the A4 page
    rect = [float(v) for v in sigs[1].sig_field["/Rect"]]
    cx, cy = (rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2
    assert abs(cx - 0.66 * 595) < 6 and abs(cy - (1 - 0.64) * 842) < 6
    if need_quiet("pdfsig") and need_quiet("certutil"):
        path = tmp_path / "signed.pdf"
        path.write_bytes(signed)
        blocks = pdfsig(path, nss_trusting(tmp_path / "nss", root))
        assert len(blocks) == 2
        for block in blocks:
            assert "Signature is Valid." in block, block
    with page.expect_download() as dl:
        page.locator("#downloads .download-evidence").click()
    evidence = Path(dl.value.path()).read_bytes()  # type: ignore[arg-type]
    assert evidence.startswith(b"%PDF-")
    need("pdftotext")
    path = tmp_path / "evidence.pdf"
    path.write_bytes(evidence)
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "视频双录" in text and video_sha in re.sub(r"\s", "", text)

    # a second flow, withdrawn (撤回) from its page with a reason
    other = w.p.flows.create(
        "补充协议",
        documents=[("补充协议.pdf", contract_pdf(1, title="补充协议"))],
        signers=[SignerSpec(w.yi.id, "乙方", w.yi.seal.es_id)],
        deadline=w.p.clock.now() + dt.timedelta(days=2),
        owner_subscriber_id=w.org.id,
        actor="test",
    )
    w.p.flows.start(other.id, actor="test")
    page.goto(site.url(f"/flows/{other.id}"))
    page.locator("#cancel-box").wait_for(state="visible")
    page.fill("#reason", "条款需要修改")
    page.click("#cancel-button")
    page.locator('#flow-state [data-state="cancelled"]').wait_for()
    assert "条款需要修改" in page.locator("#flow-facts").inner_text()
    shot(page, "flow-cancelled")

    page.goto(site.url("/flows"))
    page.locator(f'#flows tr[data-flow="{flow_id}"]').wait_for()
    assert "已完成" in page.locator(f'#flows tr[data-flow="{flow_id}"]').inner_text()
    shot(page, "flow-list")


def test_batch_signing_several_documents_from_one_screen(site: Site, page, tmp_path):
    """The organization signs three PDFs with its contract seal: one code, one PIN entry."""
    w = site.world
    files = []
    for n in range(3):
        f = tmp_path / f"服务记录单-{n + 1}.pdf"
        f.write_bytes(contract_pdf(1, title=f"运维服务记录单 {n + 1}"))
        files.append(str(f))
    codes_a_minute_ago(site, w.org.id)
    # the seals answer late: files picked meanwhile are taken (the list's listener was added
    # only after that request, and this test lost its files on a busy machine)
    held: list = []
    page.route("**/api/v1/seals?limit=200", lambda route: held.append(route))
    subscriber_login(site, page, ORG_PHONE, "/batch")
    page.locator("#signer-name").filter(has_text=w.org.name).wait_for()
    page.set_input_files("#files", files)
    page.locator('#documents tr[data-index="2"]').wait_for()
    assert held, "the seals request was held back"
    for route in held:
        route.continue_()
    page.unroute("**/api/v1/seals?limit=200")
    # the forms are the page's once the seals are in (before, a click on 获取验证码 is stopped
    # with 页面正在加载: on a loaded machine the click came first and the code was never sent)
    page.locator("#prepare-form[data-bound]").wait_for(state="attached")
    page.locator("#batch-form[data-bound]").wait_for(state="attached")
    page.select_option("#role", "甲方")
    page.fill("#anchor", "甲方（签章）")
    page.fill("#seal", w.jia.seal.es_id)
    codes_a_minute_ago(site, w.org.id)  # one code a minute: the login's was just now
    before = outbox_lines(w.outbox)
    # the code is asked for at the level the batch is signed at (a field's /TimeStamp seed
    # value is judged before the SMS; the code request named no level before)
    with page.expect_request("**/api/v1/batches/code") as asked:
        page.click("#send-code")
    assert asked.value.post_data_json["level"] == "B-LT", asked.value.post_data_json
    page.locator("#sent-to").filter(has_text="3 份文件").wait_for()
    page.fill("#code", read_code(w.outbox, ORG_PHONE, after=before))
    page.fill("#pin", w.jia.pin)
    shot(page, "batch-ready")
    with page.expect_request("**/api/v1/batches/sign") as signed:
        page.click("#sign-all")
    assert signed.value.post_data_json["level"] == "B-LT", signed.value.post_data_json
    page.locator("#result").wait_for(state="visible")
    assert "已签署 3 份文件" in page.locator("#result-verdict").inner_text()
    shot(page, "batch-done")
    with page.expect_download() as dl:
        page.locator("#result-downloads button").first.click()
    pdf = Path(dl.value.path()).read_bytes()  # type: ignore[arg-type]
    assert valid_signatures(pdf, w.p.ca.certificate("root")) == 1


def test_a_member_is_offered_the_seal_granted_to_them(site: Site, page):
    """王五 holds a grant (用印授权) for the organization's contract seal: the batch page and
    the new-flow page offer it to choose (marked 授权使用), instead of leaving him to type its
    14-digit code; his 我的印章 lists it with its picture, without a link to a page he may
    not open."""
    w = site.world
    seal = w.jia.seal.es_id
    codes_a_minute_ago(site, w.member.id)
    subscriber_login(site, page, w.jia.phone, "/batch")
    page.locator("#signer-name").filter(has_text=w.member.name).wait_for()
    offered = page.locator(f'#my-seals option[value="{seal}"]')
    offered.wait_for(state="attached")
    assert "授权使用" in (offered.get_attribute("label") or "")
    assert page.input_value("#seal") == seal  # the only seal he may use: chosen already
    page.goto(site.url("/flows/new"))
    offered = page.locator(f'#own-seals option[value="{seal}"]')
    offered.wait_for(state="attached")
    assert "授权使用" in (offered.get_attribute("label") or "")
    page.goto(site.url("/my/seals"))
    item = page.locator(f'#seal-list [data-es-id="{seal}"]')
    item.wait_for()
    assert "授权使用" in item.inner_text()
    assert page.locator(f'#seal-list a[data-es-id="{seal}"]').count() == 0
    # with its picture, read through the grant (it was left out, the picture answering 404)
    img = item.locator("img")
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=img.element_handle()
    )
    assert img.get_attribute("src", timeout=1000).startswith("blob:")


def test_a_batch_the_grant_cannot_cover_gets_no_code(site: Site, page, tmp_path):
    """王五's grant has two signings left and he picks three files: 获取验证码 is refused at
    the seal, saying how many are left, and no code is sent (the page asks with the seal; before,
    the SMS went out and only 全部签署 was refused). Two files get their code."""
    w = site.world
    seal = w.jia.seal.es_id
    w.p.seals.withdraw(seal, w.member.id, actor="单位管理员")
    w.p.seals.grant(seal, w.member.id, actor="单位管理员", max_uses=2)
    try:
        files = []
        for n in range(3):
            f = tmp_path / f"维保单-{n + 1}.pdf"
            f.write_bytes(contract_pdf(1, title=f"维保单 {n + 1}"))
            files.append(str(f))
        codes_a_minute_ago(site, w.member.id)
        subscriber_login(site, page, w.jia.phone, "/batch")
        page.locator("#signer-name").filter(has_text=w.member.name).wait_for()
        page.locator("#prepare-form[data-bound]").wait_for(state="attached")
        page.set_input_files("#files", files)
        page.locator('#documents tr[data-index="2"]').wait_for()
        assert page.input_value("#seal") == seal  # his one usable seal, chosen already
        page.select_option("#role", "甲方")
        page.fill("#anchor", "甲方（签章）")
        codes_a_minute_ago(site, w.member.id)  # the login's code was just now
        before = outbox_lines(w.outbox)
        page.click("#send-code")
        error = page.locator("#err-seal")
        error.wait_for()
        assert "只剩 2 次用印" in error.inner_text() and "3 份文件" in error.inner_text()
        assert page.locator("#sent-to").is_hidden()
        assert outbox_lines(w.outbox) == before  # no SMS
        shot(page, "batch-grant-too-small")
        page.reload()  # the list starts again, with two files
        page.locator("#prepare-form[data-bound]").wait_for(state="attached")
        page.set_input_files("#files", files[:2])
        page.locator('#documents tr[data-index="1"]').wait_for()
        page.select_option("#role", "甲方")
        page.fill("#anchor", "甲方（签章）")
        page.click("#send-code")
        page.locator("#sent-to").filter(has_text="2 份文件").wait_for()
        assert outbox_lines(w.outbox) == before + 1
    finally:
        w.p.seals.withdraw(seal, w.member.id, actor="单位管理员")
        w.p.seals.grant(seal, w.member.id, actor="单位管理员")


def test_a_signing_link_cut_short_says_the_link_is_not_valid(site: Site, phone):
    """An SMS link cut short or mistyped says 链接无效 with what to do, as an unknown one does —
    not 填写的内容不符合要求 (the API refuses the token's form with 422 on ``token``)."""
    page = phone.new_page()
    for token in ("abc", "a" * 43):
        page.goto(site.url(f"/sign/{token}"))
        page.locator("#link-problem").wait_for()
        assert page.locator("#problem-title").inner_text() == "链接无效", token
        assert "请核对短信中的完整链接" in page.locator("#problem-text").inner_text()


def test_contract_pages_render_fast(site: Site):
    """The shells of the contract pages: public shells (their data is not), strict CSP, well
    under 200 ms of server time."""
    import httpx

    for path in ("/flows", "/flows/new", "/flows/1", f"/sign/{'a' * 43}", "/batch"):
        r = httpx.get(site.url(path))
        assert r.status_code == 200, path
        assert "script-src 'self'" in r.headers["content-security-policy"]
        took = float(r.headers["server-timing"].split("dur=")[1])
        assert took < 200, (path, took)


def test_the_files_of_a_batch_and_of_a_new_flow_are_chosen_with_the_keyboard(site: Site, page):
    """批量签署 and 发起签署 take their PDFs on a drop zone, a label in front of a hidden file
    input, and neither took the focus: Tab went from the header to the seal (the title) past
    it, so a person on the keyboard alone could not choose a file. Now the drop zone is in the
    tab order, and Enter on it opens the file chooser."""
    w = site.world
    codes_a_minute_ago(site, w.org.id)
    subscriber_login(site, page, ORG_PHONE, "/batch")
    for path, who in (("/batch", "#signer-name"), ("/flows/new", "#sender-name")):
        if path != "/batch":  # where the login went
            page.goto(site.url(path))
        page.locator(who).filter(has_text=w.org.name).wait_for()
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement.id") == "dropzone":
                break
        else:
            raise AssertionError(f"Tab never reached the drop zone of {path}")
        # the file input is clicked, which opens the chooser (the chooser itself is not
        # waited for: headless Chromium sharing one browser among tests does not always show it)
        page.evaluate(
            "() => document.querySelector('#dropzone').control.addEventListener('click', (e) => {"
            " e.preventDefault(); window.chosen = (window.chosen || 0) + 1; })"
        )
        page.keyboard.press("Enter")
        assert page.evaluate("() => window.chosen") == 1, path


def test_a_batch_with_a_file_cut_short_names_the_file(site: Site, page, tmp_path):
    """A PDF of a batch that is not whole (its download cut short) was refused naming
    items[1].pdf, and the page said only 填写的内容不符合要求，请检查: not which of the files,
    nor what was wrong with it. Now it says the file's name and why, and marks its row."""
    w = site.world
    good, cut = tmp_path / "服务记录单-完整.pdf", tmp_path / "服务记录单-未下载完.pdf"
    good.write_bytes(contract_pdf(1, title="运维服务记录单"))
    cut.write_bytes(contract_pdf(1, title="运维服务记录单 二")[:3000])
    codes_a_minute_ago(site, w.org.id)
    subscriber_login(site, page, ORG_PHONE, "/batch")
    page.locator("#signer-name").filter(has_text=w.org.name).wait_for()
    page.set_input_files("#files", [str(good), str(cut)])
    page.locator('#documents tr[data-index="1"]').wait_for()
    page.fill("#seal", w.jia.seal.es_id)
    page.click("#send-code")
    said = page.locator("#prepare-form .field-error")
    said.first.wait_for()
    assert said.first.inner_text() == (
        "文件「服务记录单-未下载完.pdf」不是完整的 PDF 文件（可能已损坏或未下载完整）"
    )
    assert page.locator('#documents tr[data-index="1"] td.state').inner_text() == "无法签署"
    assert page.locator('#documents tr[data-index="0"] td.state').inner_text() == "待签署"


def test_a_new_flow_with_a_document_altered_after_its_signature_says_why(
    site: Site, page, tmp_path
):
    """发起签署 with a PDF 甲方 signed and then changed (a page added after the signature): the
    flow was made and its signers sent a code for a document none could sign. Now it is
    refused, and the page says which file and why, not 请选择可读取的合同 PDF 文件 (it reads),
    and no flow is made."""
    from tests.integration.signing_flow import add_page, sign_as

    w = site.world
    codes_a_minute_ago(site, w.jia.id)
    signed = sign_as(w, w.jia, contract_pdf(1, title="已签合同")).pdf
    bad = tmp_path / "已签合同.pdf"
    bad.write_bytes(add_page(signed))
    flows_before = w.p.flows.list().items
    jia, yi = start_page_with_two_signers(site, page)
    page.set_input_files("#file", str(bad))
    page.locator('.page-canvas[data-page="1"] img').wait_for()
    before = outbox_lines(w.outbox)
    page.click("#send-flow")
    said = page.locator("#file-field .field-error")
    said.wait_for()
    assert said.inner_text() == "文件「已签合同.pdf」在已有签名之后被改动，不能再签署"
    assert w.p.flows.list().items == flows_before
    assert outbox_lines(w.outbox) == before


def start_page_with_two_signers(site: Site, page):  # noqa: ANN201
    """The organization on 发起签署 with its two signer rows filled for 甲方 and 乙方 (their
    subscriber numbers and seals): the rows, 甲方's then 乙方's."""
    w = site.world
    codes_a_minute_ago(site, w.org.id)
    subscriber_login(site, page, ORG_PHONE, "/flows/new")
    page.locator("#sender-name").filter(has_text=w.org.name).wait_for()
    rows = page.locator("#signers .signer-row")
    rows.nth(1).wait_for()
    jia, yi = rows.nth(0), rows.nth(1)
    for row, party in ((jia, w.jia), (yi, w.yi)):
        row.locator('[data-name="subscriber_id"]').fill(str(party.id))
        row.locator('[data-name="seal"]').fill(party.seal.es_id)
    return jia, yi


def started_flow(site: Site, title: str, *parties, order: str = "parallel") -> list[str]:
    """A started flow (parallel unless ``order`` says otherwise) signed by ``parties``; their
    links' tokens, in that order."""
    w = site.world
    flow = w.p.flows.create(
        title,
        documents=[(f"{title}.pdf", contract_pdf(1, title=title))],
        signers=[SignerSpec(x.id, x.role, x.seal.es_id) for x in parties],
        deadline=w.p.clock.now() + dt.timedelta(days=2),
        owner_subscriber_id=w.org.id,
        actor="test",
        order=order,
    )
    started = w.p.flows.start(flow.id, actor="test")
    by_signer = {link.signer_id: link.token for link in started.links}
    return [by_signer[x.id] for x in started.flow.signers]


def sign_by_service(site: Site, token: str, party):
    w = site.world
    codes_a_minute_ago(site, party.id)
    before = outbox_lines(w.outbox)
    ch = w.p.flows.request_code(token)
    code = read_code(w.outbox, party.phone, after=before)
    return w.p.flows.sign(token, pin=party.pin, challenge_id=ch.challenge_id, code=code)


def test_a_signer_opening_their_link_after_the_flow_completed_sees_their_signed_copy(
    site: Site, phone
):
    """The flow completed with this signer's signature: their link shows the sealed page and
    the download (the API still reads it to them), not 链接无效."""
    w = site.world
    (token,) = started_flow(site, "完成后查看", w.jia)
    assert sign_by_service(site, token, w.jia).flow.state == "completed"
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(site.url(f"/sign/{token}"))
    page.locator("#done:visible, #link-problem:visible").wait_for()
    assert page.locator("#link-problem").is_hidden(), page.locator("#link-problem").inner_text()
    assert page.locator("#flow-badge").inner_text() == "已完成"
    assert page.locator("#done-verdict").inner_text() == "✓ 您已签署本流程的文件"
    page.locator("#signed-pages .doc-page.sealed img").wait_for()
    with page.expect_download() as got:
        page.locator("#downloads button").first.click()
    assert got.value.suggested_filename == "完成后查看.pdf"
    assert not errors


def test_the_link_of_a_cancelled_flow_says_it_was_withdrawn_not_that_the_link_is_invalid(
    site: Site, phone
):
    """A signer who had not signed is told the flow was withdrawn; one who had signed still
    sees their signed copy, marked 已撤回."""
    w = site.world
    jia, yi = started_flow(site, "撤回后打开", w.jia, w.yi)
    sign_by_service(site, jia, w.jia)
    w.p.flows.cancel(w.p.flows.signer_for_link(yi).flow.id, "条款需要修改", actor="test")
    page = phone.new_page()
    page.goto(site.url(f"/sign/{yi}"))
    page.locator("#link-problem").wait_for()
    assert page.locator("#problem-title").inner_text() == "流程已撤回"
    assert page.locator("#problem-text").inner_text() == "该签署流程已被撤回或有签署方拒签"
    page.goto(site.url(f"/sign/{jia}"))
    page.locator("#done").wait_for()
    assert page.locator("#flow-badge").inner_text() == "已撤回"
    assert page.locator("#done-text").inner_text().startswith("该签署流程已被撤回或有签署方拒签。")
    page.locator("#downloads button").wait_for()  # one document, one download


def test_the_link_of_a_flow_past_its_deadline_says_it_expired_and_when(site: Site, browser):
    """A signer who had not signed was told only that the flow passed its deadline, not which
    one; the refusal carries it (``deadline``) and the page says it, in Beijing time."""
    from yinxin.store.models.flows import SignFlow

    w = site.world
    (token,) = started_flow(site, "过期后打开", w.yi)
    flow_id = w.p.flows.signer_for_link(token).flow.id
    deadline = (w.p.clock.now() - dt.timedelta(minutes=1)).replace(microsecond=0)
    with w.p.db.transaction() as s:  # the deadline passed (the server reads this database)
        flow = s.get(SignFlow, flow_id)
        flow.deadline = deadline
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    page = ctx.new_page()
    page.goto(site.url(f"/sign/{token}"))
    page.locator("#link-problem").wait_for()
    assert page.locator("#problem-title").inner_text() == "流程已过期"
    beijing = deadline.astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert page.locator("#problem-text").inner_text() == (
        f"该签署流程已超过截止时间（截止时间 {beijing:%Y-%m-%d %H:%M:%S}）"
    )
    ctx.close()


def test_a_signer_who_signed_a_flow_past_its_deadline_sees_it_expired_before_the_sweep(
    site: Site, phone
):
    """The deadline passed and the ``flows.expire`` job has not run yet (the flow is stored as
    started): the signer who had signed saw 已签署 with no word of the expiry. Their page now
    says 已过期 and why, as it does once the job ran; the signer who had not signed is told the
    flow expired."""
    from yinxin.store.models.flows import SignFlow

    w = site.world
    jia, yi = started_flow(site, "逾期未清理", w.jia, w.yi)
    sign_by_service(site, jia, w.jia)
    flow_id = w.p.flows.signer_for_link(yi).flow.id
    with w.p.db.transaction() as s:  # the deadline passed (the server reads this database)
        s.get(SignFlow, flow_id).deadline = w.p.clock.now() - dt.timedelta(minutes=1)
    page = phone.new_page()
    page.goto(site.url(f"/sign/{jia}"))
    page.locator("#done").wait_for()
    assert page.locator("#flow-badge").inner_text() == "已过期"
    assert page.locator("#done-text").inner_text().startswith("该签署流程已超过截止时间。")
    page.locator("#downloads button").wait_for()  # their signed copy still downloads
    page.goto(site.url(f"/sign/{yi}"))
    page.locator("#link-problem").wait_for()
    assert page.locator("#problem-title").inner_text() == "流程已过期"
    with w.p.db.read() as s:
        state = s.get(SignFlow, flow_id).state
    if state != "started":  # the pages wrote nothing: only the server's flows.expire job may
        assert state == "expired"
        assert _expired_by_the_job(w.p, flow_id), "the flow was expired, not by flows.expire"


def _expired_by_the_job(p, flow_id: int, wait: float = 15.0) -> bool:
    """Whether the site server's ``flows.expire`` job (every 60 s, running beside the test)
    expired ``flow_id``: its run's summary names it. Waited for a while, since the job records
    its summary after the flow's own transaction."""
    from sqlalchemy import select

    from yinxin.store.models.jobs import JobRun

    until = time.monotonic() + wait
    while True:
        with p.db.read() as s:
            results = s.scalars(select(JobRun.result).where(JobRun.job == "flows.expire")).all()
        if any(r and re.search(rf"\b{flow_id}\b", r) for r in results):
            return True
        if time.monotonic() > until:
            return False
        time.sleep(0.2)
