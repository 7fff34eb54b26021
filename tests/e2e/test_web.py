"""The public pages, the verification page and the two logins, in headless Chromium against
the real server; screenshots of every page under ``$YINXIN_TEST_OUTPUT/web/``."""

from __future__ import annotations

import datetime as dt
import json
import re
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import select

from tests.codes import wrong_code, wrong_totp
from tests.e2e.conftest import SHOTS, STAFF_PASSWORD, Officer, Site, new_officer, shot
from tests.e2e.test_web_loading import held_while_busy, let_go, wait_held
from tests.integration import pdf_factory as f
from tests.integration.server import running_server
from tests.integration.signing_flow import outbox_lines, read_code
from yinxin.access.staff import TOTP_STEP
from yinxin.identity import shown
from yinxin.indication import CHECK_NAMES, OUTCOME_WORDS
from yinxin.pdf.report import SEAL_KINDS
from yinxin.pdf.words import CHANGE_WORDS, COVERAGE_WORDS, REVOCATION_SOURCE_WORDS, chinese
from yinxin.store.models.access import WebSession

PAGES = ["/", "/services", "/verify", "/agreement", "/status", "/login", "/staff/login"]


def fresh_totp(who: Site | Officer, *, used: bool = True) -> str:
    """A TOTP code of a step after every step used so far by ``who`` (the site's "desk1", or a
    test's own officer). The platform accepts the current 30 s step and the one either side,
    and never a step at or before the last one used (``access/staff.py``): so the next login
    takes the step after the last used one at once when that is at most one step ahead, and
    waits only when it would be two. ``used=False`` for a login refused before its code is
    read (a wrong password): the platform does not take the step, so neither does the next
    call, which would otherwise wait up to 30 s for a step the platform never needed."""
    last: int | None = getattr(who, "_last_totp_step", None)
    now = int(time.time()) // TOTP_STEP
    step = now if last is None else max(last + 1, now)
    while step > int(time.time()) // TOTP_STEP + 1:
        time.sleep(0.5)
    if used:
        who._last_totp_step = step  # type: ignore[union-attr]
    return who.totp.at(step * TOTP_STEP)


# --- public pages ---------------------------------------------------------------------------
def test_public_pages_in_chinese_with_the_fee_table(site: Site, page, phone):
    page.goto(site.url("/"))
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "印信电子认证服务平台" in page.locator("header").inner_text()
    assert page.locator("h1").inner_text() == "可信的电子认证与电子印章服务"
    shot(page, "home")

    page.goto(site.url("/services"))
    rows = page.locator("#fee-table tbody tr[data-plan]")
    rows.first.wait_for()
    assert rows.count() == 2
    standard = page.locator('#fee-table tr[data-plan="standard"]').inner_text()
    assert "标准服务" in standard and "¥70.00" in standard and "¥50.00" in standard
    assert "¥120.00" in standard  # first year: 70 + the medium's 50
    premium = page.locator('#fee-table tr[data-plan="premium"]').inner_text()
    assert "全程服务" in premium and "¥650.00" in premium and "¥600.00" in premium
    assert "篇七" in page.locator("#fee-source").inner_text()
    assert page.locator('nav a[aria-current="page"]').inner_text() == "证书与印章服务"
    shot(page, "services")

    page.goto(site.url("/agreement"))
    page.locator("#agreement-sha256").filter(has_text=re.compile(r"^[0-9a-f]{64}$")).wait_for()
    assert "协议" in page.locator("#agreement-text").inner_text()
    shot(page, "agreement")

    page.goto(site.url("/status"))
    page.locator("#ca-table tbody a").first.wait_for()
    text = page.locator("#status-table").inner_text()
    base = site.world.p.settings.base_url  # the platform's public address, as in certificates
    for path in ("/crl/issuing.crl", "/ocsp", "/tsa"):
        assert base + path in text
    assert "根 CA 证书" in page.locator("#ca-table").inner_text()
    # the listed addresses answer (here on the test server's port)
    for a in page.locator("#ca-table a").all():
        href = a.get_attribute("href") or ""
        r = httpx.get(site.url(href.removeprefix(base)))
        assert r.headers["content-type"] == "application/pkix-cert", href
    assert httpx.get(site.url("/crl/issuing.crl")).status_code == 200
    shot(page, "status")

    mobile = phone.new_page()
    mobile.goto(site.url("/"))
    assert mobile.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    shot(mobile, "home-phone")
    mobile.goto(site.url("/services"))
    mobile.locator("#fee-table tbody tr[data-plan]").first.wait_for()
    shot(mobile, "services-phone")


def test_an_address_that_is_no_page_says_so_in_chinese(site: Site, page):
    """A mistyped or cut-off link opened in a browser: a Chinese page with status 404 and the
    way home, the address shown as text (never as markup); clients that do not ask for HTML,
    and anything under /api/, still get the API's problem+json."""
    response = page.goto(site.url("/my/certificat<b>x</b>"))
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "页面不存在"
    assert "/my/certificat<b>x</b>" in page.locator("#not-found code").inner_text()
    assert page.locator("#not-found b").count() == 0
    assert "印信电子认证服务平台" in page.locator("header").inner_text()
    shot(page, "not-found")
    page.locator("#not-found a", has_text="首页").click()
    page.wait_for_url(site.url("/"))
    with httpx.Client(base_url=site.base) as c:
        for path, accept in (("/nope", "*/*"), ("/api/v1/nope", "text/html")):
            r = c.get(path, headers={"Accept": accept})
            assert r.status_code == 404, path
            assert r.headers["content-type"].startswith("application/problem+json"), path
            assert r.json()["code"] == "not_found"
        r = c.post("/nope", headers={"Accept": "text/html"})
        assert r.status_code in (404, 405) and r.headers["content-type"].startswith(
            "application/problem+json"
        )


def test_a_day_is_the_readers_day_as_every_time_on_the_page(site: Site, browser):
    """A list's 有效期至 is the day of the end as the reader's clock has it, the day of the time
    the detail page shows beside it: a certificate ending 2027-12-04T17:52Z ends on 2027-12-05
    in Beijing (it said 2027-12-04, the UTC day, while the detail said 2027-12-05 01:52)."""
    ctx = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        pg = ctx.new_page()
        pg.goto(site.url("/status"))
        days = pg.evaluate(
            """async () => {
                const { day } = await import("/static/pages/common.js");
                const { fmtTime } = await import("/static/api.js");
                const end = "2027-12-04T17:52:19Z";
                return [day(end), fmtTime(end), day("2027-12-04T15:59:59+00:00"),
                        day("2026-03-04"), day(null)];
            }"""
        )
    finally:
        ctx.close()
    assert days == ["2027-12-05", "2027-12-05 01:52:19", "2027-12-04", "2026-03-04", "—"]


def test_the_api_documentation_works_offline(site: Site, page):
    """/api/v1/docs (linked from every page's footer) draws every operation of the OpenAPI
    document with nothing fetched from another origin: FastAPI's default page took Swagger UI
    from a CDN and stayed blank on a closed network."""
    elsewhere: list[str] = []

    def only_here(route):
        if route.request.url.startswith(site.base):
            return route.continue_()
        elsewhere.append(route.request.url)
        return route.abort()

    page.route("**/*", only_here)
    page.goto(site.url("/api/v1/docs"))
    page.locator(".opblock").first.wait_for(timeout=30_000)
    assert "Yinxin API" in page.locator(".info .title").inner_text()
    shot(page, "api-docs")
    spec = httpx.get(site.url("/api/v1/openapi.json")).json()
    expected = {
        # Swagger UI's element ids: spaces become "_", a "/" is escaped (CSS.escape)
        f"operations-{tag.replace(' ', '_').replace('/', chr(92) + '/')}-{op['operationId']}"
        for item in spec["paths"].values()
        for op in item.values()
        for tag in op.get("tags", ["default"])
    }
    drawn: set[str] = set()  # Swagger UI draws a long list as it scrolls into view
    for _ in range(1000):
        drawn |= set(page.evaluate("[...document.querySelectorAll('.opblock')].map(e => e.id)"))
        if page.evaluate("innerHeight + scrollY >= document.body.scrollHeight - 2"):
            break
        page.evaluate("scrollBy(0, innerHeight / 2)")
        page.wait_for_timeout(50)
    assert drawn == expected, (len(drawn), len(expected), sorted(expected - drawn)[:5])
    assert elsewhere == []


def test_a_static_file_opened_directly_is_no_page_of_this_origin(site: Site, page):
    """Chromium opening a static file as a document (the SVG favicon, a script, in a tab) gets
    a sandboxed one of an opaque origin ("null"): an SVG's script could reach neither the
    session's cookie nor the API as this origin. Before, ``/static/`` had no policy and the
    document was this origin's. The pages themselves stay this origin's."""
    for path in ("/static/favicon.svg", "/static/api.js"):
        assert page.goto(site.url(path)).status == 200
        assert page.evaluate("window.origin") == "null", path
    page.goto(site.url("/"))
    assert page.evaluate("window.origin") == site.base.rstrip("/")


def test_pages_render_fast_and_use_no_outside_assets(site: Site):
    """Each page's server time (the Server-Timing of the render, and the wall time of the whole
    answer on this machine) is far below 200 ms; every asset is served by the platform."""
    timings: dict[str, dict[str, float]] = {}
    with httpx.Client(base_url=site.base) as c:
        for path in [*PAGES, "/my", "/desk"]:
            walls, renders = [], []
            for _ in range(15):
                t = time.perf_counter()
                r = c.get(path)
                walls.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200 and "text/html" in r.headers["content-type"]
                renders.append(float(r.headers["server-timing"].split("dur=")[1]))
                assert "http://" not in r.text.replace(site.base, "").split("<body")[0]
                assert "https://" not in r.text.split("<body")[0]
            timings[path] = {
                "render_ms_median": round(statistics.median(renders), 2),
                "wall_ms_median": round(statistics.median(walls), 2),
                "wall_ms_max": round(max(walls), 2),
            }
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "page-timings.json").write_text(json.dumps(timings, indent=2))
    for path, t in timings.items():
        assert t["render_ms_median"] < 200, (path, t)
        assert t["wall_ms_median"] < 200, (path, t)


# --- verification ---------------------------------------------------------------------------
def test_verification_page_valid_altered_and_the_pdf_report(site: Site, page):
    page.goto(site.url("/verify"))
    shot(page, "verify")
    page.set_input_files("#file", str(site.signed))
    page.locator("#result").wait_for(state="visible", timeout=60_000)
    verdict = page.locator("#verdict").inner_text()
    assert verdict.startswith("有效"), verdict
    signatures = page.locator("article.signature")
    assert signatures.count() == 1
    assert signatures.first.get_attribute("data-valid") == "true"
    assert "有效 / valid" in signatures.first.locator(".badge").inner_text()
    body = signatures.first.inner_text()
    assert "甲方" in body and "合同专用章" in body
    assert "受信任，签署时有效，未吊销" in body and "不受信任" not in body
    # coverage, changes and status source in the text and PDF reports' words (pdf/words.py):
    # a B-LT contract covers its signed revision, the DSS came after it, the status is in it
    words = json.loads(page.locator("#page-words").text_content())
    assert words["coverage"] == chinese(COVERAGE_WORDS)
    assert words["changes"] == chinese(CHANGE_WORDS)
    assert words["revocation_sources"] == chinese(REVOCATION_SOURCE_WORDS)
    assert f"完整，{COVERAGE_WORDS['entire_revision'][0]}" in body, body
    assert f"签署后修改\n{CHANGE_WORDS['allowed'][0]}" in body, body
    assert f"未吊销（{REVOCATION_SOURCE_WORDS['embedded'][0]}）" in body, body
    assert re.search(r"时间戳\n[^\n]+（[^\n]*Timestamp Authority，有效）", body), body
    shot(page, "verify-valid")

    with page.expect_download(timeout=60_000) as dl:
        page.click("#download-report")
    report = dl.value
    assert report.suggested_filename.endswith("验证报告.pdf")
    data = open(report.path(), "rb").read()
    assert data.startswith(b"%PDF")
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "verify-report.pdf").write_bytes(data)

    page.set_input_files("#file", str(site.altered))
    page.locator("#verdict").filter(has_text=re.compile("^无效")).wait_for(timeout=60_000)
    assert page.locator("article.signature").first.get_attribute("data-valid") == "false"
    assert "无效 / invalid" in page.locator("article.signature .badge").first.inner_text()
    shot(page, "verify-altered")

    # not a PDF: a Chinese error next to the file field
    not_pdf = site.home / "files" / "说明.txt"
    not_pdf.write_text("hello")
    page.set_input_files("#file", str(not_pdf))
    error = page.locator("#verify-form .field-error").inner_text()
    assert error == "「说明.txt」：请选择 PDF 或 OFD 文件", error


# an English word run of the report's English half ("the signed bytes were changed"); a
# Chinese half has none (the separator's English side starts after " / ")
_ENGLISH_WORDS = re.compile(r"[a-z]{2,}[\s,:;']+[a-z]{2,}")


def test_verification_page_says_a_reports_problems_in_chinese(site: Site, page):
    """The report words every problem and note "中文 / English" (the CLI's and the PDF report's
    line); the verify page showed both halves raw — alone among the pages, which show the
    Chinese part of such a detail (chineseDetail) — so a Chinese relying party read a long
    English sentence beside each. A tampered PDF (a page appended) and one from a root the
    platform does not trust: each problem and note is its Chinese half, whole (the separator
    outside quotes), and the whole line is its tooltip."""
    pki = f.build_pki("Nobody's Root")
    untrusted = site.home / "files" / "untrusted.pdf"
    untrusted.parent.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(1) as pool:  # Playwright's loop runs in this thread
        signed = pool.submit(f.sign, f.contract_pdf(), pki.new_signer("李四"), pki)
        untrusted.write_bytes(signed.result())
    page.goto(site.url("/verify"))
    for path, expect in (
        (site.altered, "签署后文档有不被允许的修改"),
        (untrusted, "签署人证书无法链接到受信任的根证书"),
    ):
        with page.expect_response(lambda r: "/public/verifications" in r.url) as answer:
            page.set_input_files("#file", str(path))
        report = answer.value.json()
        page.locator("#result").wait_for(state="visible", timeout=60_000)
        lines = page.locator("article.signature .problems li, article.signature .notes li")
        said = [(li.inner_text(), li.get_attribute("title")) for li in lines.all()]
        whole = [x for s in report["signatures"] for x in s["problems"] + s["notes"]]
        assert [t for _, t in said] == whole, (said, whole)  # the report's line, in the tooltip
        assert any(expect in text for text, _ in said), said
        for text, line in said:
            zh, en = line.split(" / ", 1)
            assert text == zh.strip() and not _ENGLISH_WORDS.search(text), (text, line)
            assert _ENGLISH_WORDS.search(en), line  # it was a bilingual line
        page.click("#again")
        page.locator("#result").wait_for(state="hidden")


def test_verification_page_shows_what_a_document_hides_as_escapes(site: Site, page):
    """A signer's name and a field name come from the document (a forger makes their own
    certificate): U+202E reversed the rest of the name on the page and U+200B made two names
    look alike. The page writes them as the CLI and the PDF report do (identity.shown)."""
    name, field = "张三\u202e😀\n结论 有效", "Sig\u200bX"
    pki = f.build_pki("Someone's Own Root")
    forged = site.home / "files" / "forged-name.pdf"
    forged.parent.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(1) as pool:  # Playwright's loop runs in this thread
        signed = pool.submit(f.sign, f.contract_pdf(), pki.new_signer(name), pki, field_name=field)
        forged.write_bytes(signed.result())
    page.goto(site.url("/verify"))
    page.set_input_files("#file", str(forged))
    # nothing was changed, but no root the platform trusts vouches for it: cannot be determined
    page.locator("#verdict").filter(has_text=re.compile("^无法确定")).wait_for(timeout=60_000)
    assert "warn" in page.locator("#verdict").get_attribute("class")
    badge = page.locator("article.signature .badge").first
    assert badge.inner_text() == "无法确定 / indeterminate" and "warn" in badge.get_attribute(
        "class"
    )
    assert page.locator("article.signature").first.get_attribute("data-valid") == "false"
    text = page.locator("#signatures").inner_text()
    assert not any(c in text for c in "\u202e\u200b"), repr(text)
    # no trusted root vouches for it: the status says so before "valid at signing"
    assert "不受信任，签署时有效" in text, text
    shot(page, "verify-forged-name")
    heading = page.locator("article.signature h3").inner_text()
    assert heading == f"签名 1：{shown(name)}", heading
    assert shown(name) == "张三\\u202e😀\\n结论 有效"  # the CLI's and the PDF report's form
    assert page.evaluate("async () => (await import('/static/api.js')).shown('a\\u200bb')") == (
        "a\\u200bb"
    )


def _seal_signed_files(folder) -> tuple:
    """A contract PDF and an OFD, each sealed the GB/T 38540 way (SM2) by a CA of their own."""
    from tests.fixtures.samples import contract_pdf
    from tests.fixtures.ses_world import make_world
    from yinxin.ofd.make import make_ofd
    from yinxin.ofd.sign import Placement as OfdPlacement
    from yinxin.ofd.sign import sign_ofd
    from yinxin.pdf.ses import sign_ses_pdf
    from yinxin.pdf.sign import Placement
    from yinxin.seals.ses_signature import SesOfdSigner, SesPdfSigner

    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    a = make_world(now).party_a
    pdf = sign_ses_pdf(
        contract_pdf(2, title="技术服务合同"),
        SesPdfSigner(a.seal, a.key, a.cert, when=now),
        placement=Placement(anchor="甲方"),
        when=now,
        role="甲方",
    ).data
    ofd = sign_ofd(
        make_ofd([["技术服务合同", "", "甲方（签章）："]]),
        SesOfdSigner(a.seal, a.key, a.cert, when=now),
        placement=OfdPlacement(anchor="甲方（签章）", page=1),
        when=now,
    ).data
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sealed.pdf").write_bytes(pdf)
    (folder / "sealed.ofd").write_bytes(ofd)
    return folder / "sealed.pdf", folder / "sealed.ofd"


def test_verification_page_judges_gbt38540_pdfs_and_ofds(site: Site, page):
    """The API judges a file by its content: a PDF sealed the GB/T 38540 way and an OFD get
    the seal report (seal, signer, each of the standard's checks). The page showed them as
    PAdES signatures (empty facts) and refused an .ofd file before sending it."""
    with ThreadPoolExecutor(1) as pool:
        ses_pdf, ofd = pool.submit(_seal_signed_files, site.home / "files").result()
    page.goto(site.url("/verify"))
    # the page says each check and outcome as the PDF report does: the shell carries the
    # report's words (Page.words), the script keeps no copy
    words = json.loads(page.locator("#page-words").text_content())
    assert words["checks"] == CHECK_NAMES and words["seal_kinds"] == SEAL_KINDS
    assert words["outcomes"] == {str(k): v for k, v in OUTCOME_WORDS.items()}
    for path, kind, where in (
        (ses_pdf, "PDF（GB/T 38540 电子签章）", "第 2 页"),
        (ofd, "OFD", "第 1 页"),
    ):
        page.set_input_files("#file", str(path))
        page.locator("#result").wait_for(state="visible", timeout=60_000)
        # a CA the platform does not trust: not shown valid, not shown invalid either — the
        # check that more evidence could settle says which
        page.locator("#verdict").filter(
            has_text="无法确定 — 未发现篡改，但现有证据不足以证明电子签章有效"
        ).wait_for()
        assert kind in page.locator("#doc-facts").inner_text()
        assert page.locator("#signatures-heading").inner_text() == "电子签章详情"
        card = page.locator("article.signature")
        assert card.count() == 1
        assert card.first.get_attribute("data-indication") == "INDETERMINATE"
        text = card.first.inner_text()
        assert "签章 1：北京印信测试有限公司" in text, text
        assert "无法确定 / indeterminate" in text, text
        assert "印章编码 11010000000001" in text and where in text
        assert "undefined" not in text and "null" not in text, text
        assert "通过：签章签名值" in text and "通过：文件摘要" in text
        assert "未检查：印章在本平台的状态" in text  # each check by its Chinese name
        trusted = card.first.locator('li[data-check="signer_certificate_trusted"]')
        assert trusted.inner_text().startswith("无法证明：签章人证书可信"), trusted.inner_text()
        assert trusted.get_attribute("class") == "warn"
        shot(page, f"verify-{path.suffix[1:]}-gbt38540")
        # and the Chinese PDF report of the same verdict, named after the file
        with page.expect_download(timeout=60_000) as dl:
            page.click("#download-report")
        assert dl.value.suggested_filename == "sealed-验证报告.pdf"
        data = open(dl.value.path(), "rb").read()
        assert data.startswith(b"%PDF")
        text = subprocess.run(
            ["pdftotext", "-", "-"], input=data, capture_output=True, check=True
        ).stdout.decode()
        assert "电子签章验证报告" in text and kind in text and "无法确定" in text, text
        result = page.locator("#result")
        page.click("#again")
        result.wait_for(state="hidden")
    # a PAdES file after them has its report button again
    page.set_input_files("#file", str(site.signed))
    page.locator("#verdict").filter(has_text=re.compile("^有效")).wait_for(timeout=60_000)
    assert page.locator("#download-report").is_visible()
    assert page.locator("#signatures-heading").inner_text() == "签名详情"


def test_verification_page_does_not_call_a_damaged_ofd_unsigned(site: Site, page):
    """A sealed OFD whose OFD.xml is cut short cannot be read, so no signature comes back: the
    page said 无效 — 文件中没有电子签名, a claim about the file nobody could check (this one
    is sealed). It says no signature could be read from it, and points at the file's
    problems; an unsigned PDF is said the same way, its problem naming the missing
    signature."""
    import io
    import zipfile

    with ThreadPoolExecutor(1) as pool:
        _, ofd = pool.submit(_seal_signed_files, site.home / "files").result()
    with zipfile.ZipFile(ofd) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    parts["OFD.xml"] = parts["OFD.xml"][: len(parts["OFD.xml"]) // 2]
    damaged = site.home / "files" / "damaged.ofd"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, body in parts.items():
            zf.writestr(name, body)
    damaged.write_bytes(buf.getvalue())
    unsigned = site.home / "files" / "unsigned.pdf"
    unsigned.write_bytes(f.contract_pdf())
    page.goto(site.url("/verify"))
    for path, problem in (
        (damaged, "OFD 文件：“OFD.xml” 不是格式正确的 XML（第 "),
        (unsigned, "文档中没有签名"),
    ):
        page.set_input_files("#file", str(path))
        page.locator("#result").wait_for(state="visible", timeout=60_000)
        verdict = page.locator("#verdict").inner_text()
        assert verdict == "无效 — 未能从文件中读出任何电子签名（原因见“文件问题”）", verdict
        assert problem in page.locator("#doc-facts").inner_text()
        page.click("#again")
        page.locator("#result").wait_for(state="hidden")


def test_verification_page_refusals_name_the_file_and_the_reason(site: Site, page):
    """A relying party who picks several files must see which one was refused and why: the
    refusals said "请选择PDF文件" for an empty file (one had been chosen), "不是 PDF 文件" or
    "文件过大" without the file's name or the limit, and a 51 MB file was uploaded whole only
    to be refused. The page names the file and the reason; an empty or oversized file is
    refused before anything is sent."""
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/public/verifications" in r.url else None)
    folder = site.home / "files"
    empty = folder / "空 合同.pdf"
    empty.write_bytes(b"")
    big = folder / "扫描 件.pdf"
    with open(big, "wb") as fh:
        fh.write(b"%PDF-1.7\n")
        fh.truncate(51 * 1024 * 1024)
    png = folder / "照片 改名.pdf"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    page.goto(site.url("/verify"))
    error = page.locator("#verify-form .field-error")
    for path, text in (
        (empty, "「空 合同.pdf」是空文件（0 字节），无法验证"),
        (big, "「扫描 件.pdf」大小为 51.0 MB，超过 50 MB 的上限，无法验证"),
    ):
        page.set_input_files("#file", str(path))
        assert error.inner_text() == text
    assert sent == []
    page.set_input_files("#file", str(png))
    error.filter(has_text="「照片 改名.pdf」：").wait_for(timeout=30_000)
    assert error.inner_text() == "「照片 改名.pdf」：既不是 PDF 文件，也不是 OFD 文件", (
        error.inner_text()
    )
    assert page.locator("#progress-box").is_hidden() and page.locator("#result").is_hidden()


def test_verification_page_says_the_zone_of_its_times(site: Site, browser):
    """验证时间, 签署时间 and the timestamp's time were shown as "2026-12-06 08:40:56", the
    browser's local time with no zone: a relying party comparing it with the PDF report or a
    witness abroad could not tell which clock it was. Each carries its UTC offset."""
    ctx = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(site.url("/verify"))
    page.set_input_files("#file", str(site.signed))
    page.locator("#result").wait_for(state="visible", timeout=60_000)
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d（UTC\+08:00）"
    facts = page.locator("#doc-facts").inner_text()
    assert re.search(rf"验证时间\n{stamp}\n", facts), facts
    body = page.locator("article.signature").first.inner_text()
    assert re.search(rf"签署时间\n{stamp}（签署人自报）", body), body
    assert re.search(rf"时间戳\n{stamp}（", body), body
    assert not errors, errors
    ctx.close()


def test_verification_page_refuses_two_files_dropped_at_once(site: Site, page):
    """Two files dropped together (a contract and its appendix): the first was verified and the
    second silently ignored, so the relying party could take it for checked too. Both are
    named and neither is sent."""
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/public/verifications" in r.url else None)
    page.goto(site.url("/verify"))
    page.evaluate(
        """() => {
            const dt = new DataTransfer();
            for (const n of ["合同 正文.pdf", "附件.pdf"]) {
                dt.items.add(new File(["%PDF-1.7"], n, { type: "application/pdf" }));
            }
            const zone = document.getElementById("dropzone");
            const opts = { dataTransfer: dt, bubbles: true, cancelable: true };
            zone.dispatchEvent(new DragEvent("drop", opts));
        }"""
    )
    error = page.locator("#verify-form .field-error")
    error.wait_for()
    assert error.inner_text() == (
        "一次只能验证一个文件，收到 2 个（「合同 正文.pdf」「附件.pdf」）：请逐个验证"
    ), error.inner_text()
    page.wait_for_timeout(500)
    assert sent == [] and page.locator("#result").is_hidden()


def test_verification_page_on_a_phone(site: Site, phone):
    page = phone.new_page()
    page.goto(site.url("/verify"))
    page.set_input_files("#file", str(site.signed))
    page.locator("#result").wait_for(state="visible", timeout=60_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "verify-valid-phone")


# --- staff ----------------------------------------------------------------------------------
def test_staff_login_with_totp_wrong_code_and_expiry(site: Site, page):
    api_urls: set[str] = set()
    page.on("request", lambda r: api_urls.add(r.url) if "/static/api.js" in r.url else None)
    page.goto(site.url("/staff/login"))
    page.fill("#username", "desk1")
    page.fill("#password", STAFF_PASSWORD)
    page.fill("#code", wrong_totp(site.totp, dt.datetime.now(dt.UTC)))
    page.click("#staff-form button[type=submit]")
    error = page.locator("#staff-form .field-error")
    error.wait_for()
    assert error.inner_text() == "验证码错误或已失效"
    assert page.locator("#code").get_attribute("aria-invalid") == "true"
    shot(page, "staff-login-wrong-code")

    page.fill("#password", "not the password")
    page.fill("#code", fresh_totp(site, used=False))  # a good code: the password is refused
    page.click("#staff-form button[type=submit]")
    page.locator("#staff-form .field-error").wait_for()
    said = page.locator("#staff-form .field-error").inner_text()
    assert said == "用户名或密码错误（连续错误 5 次将锁定账户 15 分钟）"

    page.fill("#password", STAFF_PASSWORD)
    page.fill("#code", fresh_totp(site))
    page.click("#staff-form button[type=submit]")
    page.wait_for_url("**/desk")
    page.locator("#who").filter(has_text="李受理").wait_for()
    # one URL, so one module instance: the header's logout and the page's requests share the
    # "leaving" flag (two instances bound two logouts, the second aborting the first's navigation)
    assert api_urls == {site.url("/static/api.js")}, api_urls
    plain = page.request.get(site.url("/static/api.js")).headers["cache-control"]
    versioned = page.request.get(site.url("/static/yinxin.css?v=1")).headers["cache-control"]
    assert (plain, versioned) == ("no-cache", "public, max-age=86400")  # never a day stale
    assert "受理员" in page.locator("#who").inner_text()
    assert page.locator("#account-name").inner_text() == "工作人员 李受理"
    shot(page, "desk")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["yx_session"]["httpOnly"] and cookies["yx_session"]["sameSite"] == "Strict"
    assert page.evaluate("document.cookie").count("yx_session") == 0  # not readable by scripts

    # idle for longer than 30 minutes: moved back in the database, as the clock cannot be
    with site.world.p.db.transaction() as s:
        for row in s.execute(select(WebSession).where(WebSession.revoked_at.is_(None))).scalars():
            row.last_seen_at -= dt.timedelta(hours=1)
    page.goto(site.url("/desk"))
    page.wait_for_url("**/staff/login?*expired=1*")
    assert page.locator("#expired").is_visible()
    assert "登录已超时" in page.locator("#expired").inner_text()
    shot(page, "staff-login-expired")
    r = page.request.get(site.url("/api/v1/sessions/current"))
    assert r.status == 401 and r.json()["code"] == "session_expired"

    # signing in again returns to where the session ended; logout ends it at once
    page.fill("#username", "desk1")
    page.fill("#password", STAFF_PASSWORD)
    page.fill("#code", fresh_totp(site))
    page.click("#staff-form button[type=submit]")
    page.wait_for_url("**/desk")
    page.locator("#logout").click()
    page.wait_for_url(site.url("/"))
    assert page.request.get(site.url("/api/v1/sessions/current")).status == 401
    assert page.locator("#login-link").is_visible()


def test_the_login_page_returns_to_the_record_that_was_open(site: Site, page):
    """Sent to log in (no session, or it ended) from a record's page, the ``next`` keeps the
    record: /my/certificate?serial=… came back as /my/certificate, which found no certificate."""
    from urllib.parse import parse_qs, urlsplit

    for path, login in (
        ("/my/certificate?serial=abc123", "/login"),
        ("/desk/applications?state=approved", "/staff/login"),
    ):
        page.goto(site.url(path))
        page.wait_for_url(f"**{login}?*")
        assert parse_qs(urlsplit(page.url).query)["next"] == [path]


def test_a_login_never_sends_the_browser_to_another_site(site: Site, page):
    """The login pages go to their address's ``next`` once signed in — only when it is a page
    of this site. "/\\evil.example" and "/<tab>/evil.example" start with one slash, and passed
    the old text check, yet the browser reads them as //evil.example: a link to the staff login
    sent the officer, just signed in, to another site."""
    elsewhere: list[str] = []
    page.route(
        lambda url: not url.startswith(site.base),
        lambda route: (elsewhere.append(route.request.url), route.abort()),
    )
    officer = new_officer(site)  # its own: desk1's next code would wait for a new step
    page.goto(site.url("/staff/login?next=/%5Cevil.example/desk"))
    page.fill("#username", officer.username)
    page.fill("#password", STAFF_PASSWORD)
    page.fill("#code", fresh_totp(officer))
    page.click("#staff-form button[type=submit]")
    page.wait_for_url(site.url("/desk"))
    assert elsewhere == []
    page.goto(site.url("/login"))
    assert page.evaluate(
        r"""async () => {
            const { nextPage } = await import("/static/api.js");
            return ["/\\evil.example/x", "/\t/evil.example/x", "//evil.example", "https://evil.example",
                    "/my/certificate?serial=ab#top", null].map((w) => nextPage(w, "/my"));
        }"""
    ) == ["/my", "/my", "/my", "/my", "/my/certificate?serial=ab#top", "/my"]


# --- subscribers ----------------------------------------------------------------------------
def test_subscriber_login_by_phone_and_code(site: Site, page, phone):
    w = site.world
    outbox = w.outbox
    page.goto(site.url("/my"))
    page.wait_for_url("**/login?*")  # not signed in: off to the login page
    shot(page, "login")
    page.fill("#phone", "1380013800")  # one digit short
    page.click("#send-code")
    page.locator("#code-form .field-error").wait_for()
    assert page.locator("#code-form .field-error").inner_text() == "请输入正确的11位手机号码"
    before = outbox_lines(outbox)
    page.fill("#phone", "13800138000")
    page.click("#send-code")
    page.locator("#sent-to").filter(has_text="138****8000").wait_for()
    assert "验证码 5 分钟内有效" in page.locator(".aside").inner_text()  # the default TTL
    code = read_code(outbox, "13800138000", after=before)
    page.fill("#code", wrong_code(code))
    page.click("#login-button")
    page.locator("#login-form .field-error").wait_for()
    assert page.locator("#login-form .field-error").inner_text().startswith("验证码错误")
    shot(page, "login-wrong-code")
    page.fill("#code", code)
    page.click("#login-button")
    page.wait_for_url("**/my")
    page.locator("#certificates tbody tr[data-serial]").first.wait_for()
    assert "张三" in page.locator("#me").inner_text()
    serials = page.locator("#certificates tbody tr[data-serial]")
    assert [serials.nth(i).get_attribute("data-serial") for i in range(serials.count())] == [
        w.person_cert.serial
    ]
    # the seals load apart from the certificates: wait for them, not only for the certificates
    page.locator("#seals").filter(has_text=w.yi.seal.es_id).wait_for()
    assert w.jia.seal.es_id not in page.locator("#seals").inner_text()  # another's seal
    shot(page, "my")
    # what the page shows is what the API gives this session: the organization stays hidden
    r = page.request.get(site.url(f"/api/v1/subscribers/{w.org.id}"))
    assert r.status == 404


def test_the_login_page_says_the_configured_life_of_a_code(site: Site, browser):
    """The page said 验证码 5 分钟内有效 in its notes and after sending, whatever
    YINXIN_OTP_TTL_SECONDS was. With it at 600 the notes say 10 minutes (as the SMS does) and
    the line under the phone gives the answer's own expiry, the time ten minutes on."""
    env = {"YINXIN_API_RATE": "0", "YINXIN_OTP_TTL_SECONDS": "600"}
    ctx = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    with running_server(site.home, env=env) as srv:
        page = ctx.new_page()
        page.goto(srv.url("/login"))
        notes = page.locator(".aside").inner_text()
        assert "验证码 10 分钟内有效" in notes and "5 分钟" not in notes
        page.fill("#phone", "13700137999")  # no one's: the answer is a registered phone's alike
        with page.expect_response("**/api/v1/sessions/subscriber/codes") as answered:
            page.click("#send-code")
        expires = dt.datetime.fromisoformat(answered.value.json()["expires_at"])
        left = (expires - dt.datetime.now(dt.UTC)).total_seconds()
        assert 540 < left <= 600
        shown_at = expires.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%H:%M")
        sent_to = page.locator("#sent-to")
        sent_to.filter(has_text="137****7999").wait_for()
        assert sent_to.inner_text() == f"验证码已发送至 137****7999，{shown_at} 前有效。"
        shot(page, "login-code-ten-minutes")
    ctx.close()


def test_a_form_sent_twice_or_cut_off_acts_once(site: Site, phone):
    """The code request of the login page: a double click sends one request, and when the
    connection drops after the server acted (the answer is lost), the retry carries the same
    Idempotency-Key and gets the first answer back — one SMS, not two (a second send within
    the minute would be refused as too frequent)."""
    w = site.world
    page = phone.new_page()
    page.goto(site.url("/login"))
    page.fill("#phone", "13900139000")  # the organization's registered phone
    sent: list[dict] = []
    page.on(
        "request",
        lambda r: r.url.endswith("/sessions/subscriber/codes") and sent.append(dict(r.headers)),
    )
    cut = {"done": False}

    def drop_the_answer(route):
        if not cut["done"]:
            cut["done"] = True
            route.fetch()  # the server gets the request and acts…
            route.abort("connectionreset")  # …but the answer never arrives
        else:
            route.continue_()

    page.route("**/api/v1/sessions/subscriber/codes", drop_the_answer)
    before = outbox_lines(w.outbox)
    # held until the double click is delivered, then cut off (let go through drop_the_answer):
    # the test's process starved between the two clicks, the cut came first and the button
    # came on again, and the second click was the retry the page rightly sent
    path = "/api/v1/sessions/subscriber/codes"
    let_go(page, held_while_busy(page, page.locator("#send-code"), path, "正在发送…"))
    page.locator("#code-form .form-error").filter(has_text="网络连接中断").wait_for()
    assert len(sent) == 1  # the double click was one submission
    read_code(w.outbox, "13900139000", after=before)  # sent after the (lost) answer: waited for
    assert outbox_lines(w.outbox) == before + 1  # the server did send the code
    shot(page, "login-network-cut-phone")
    page.locator("#send-code").click()  # the user tries again
    page.locator("#sent-to").filter(has_text="139****9000").wait_for()
    assert len(sent) == 2
    assert sent[0]["idempotency-key"] == sent[1]["idempotency-key"]
    assert outbox_lines(w.outbox) == before + 1  # still one SMS
    code = read_code(w.outbox, "13900139000", after=before)
    page.fill("#code", code)
    page.click("#login-button")
    page.wait_for_url("**/my")
    page.locator("#seals tbody tr td.mono").first.wait_for()
    assert w.jia.seal.es_id in page.locator("#seals").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "my-organization-phone")


@pytest.fixture(autouse=True, scope="module")
def _screens_listed(site):
    yield
    SHOTS.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in SHOTS.glob("*.png"))
    (SHOTS / "index.txt").write_text("\n".join(names) + "\n")


def test_a_form_sent_before_its_script_is_ready_sends_nothing(site: Site, page):
    """A page's forms are sent by its script, through the API. While that script was still on
    its way (a slow line), the form was already on the screen, and Enter in it had the browser
    send it itself: a GET to the page's own address with every field in the query —
    /staff/login?username=desk1&password=…&code=… — the password in the address bar, the
    history and any proxy's log, and nothing done. Now a form no script has taken is not sent:
    what was typed stays, a note asks to wait, and once the script is there the login works."""
    held = []
    page.route("**/static/pages/staff_login.js*", lambda route: held.append(route))
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url))
    officer = new_officer(site)
    page.goto(site.url("/staff/login"), wait_until="commit")
    page.locator("#password").wait_for()
    page.fill("#username", officer.username)
    page.fill("#password", STAFF_PASSWORD)
    page.fill("#code", "123456")
    page.press("#code", "Enter")
    page.wait_for_timeout(500)  # a GET the browser sent itself, if any, has gone by now
    wait_held(page, held)  # not read once: a starved test process hears of the route late
    assert not [u for u in sent if "password" in u or "?username" in u], sent
    assert "password" not in page.url
    assert page.locator("#password").input_value() == STAFF_PASSWORD  # still there
    note = page.locator("#staff-form .form-error")
    assert note.is_visible() and "正在加载" in note.inner_text()

    for route in held:
        route.continue_()
    page.unroute("**/static/pages/staff_login.js*")
    page.locator("#staff-form[data-bound]").wait_for(state="attached")
    page.fill("#code", fresh_totp(officer))
    page.press("#code", "Enter")
    page.wait_for_url("**/desk")
    assert not [u for u in sent if "password" in u], sent


def test_a_file_is_chosen_for_verification_with_the_keyboard_alone(site: Site, page):
    """The file of 验证签名文件 is chosen on a label in front of a hidden file input: neither
    takes the focus, so Tab went from the header's links past the form to the footer and a
    person on the keyboard alone could not verify a file at all. Now the drop zone is a button
    in the tab order: Enter (or Space) on it opens the file chooser."""
    page.goto(site.url("/verify"))
    page.locator("#dropzone").wait_for()
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "dropzone":
            break
    else:
        raise AssertionError("Tab never reached the drop zone")
    assert page.locator("#dropzone").get_attribute("role") == "button"
    # the file input is clicked, which opens the chooser (the chooser itself is not waited
    # for: headless Chromium sharing one browser among tests does not always show it)
    page.evaluate(
        "() => document.getElementById('file').addEventListener('click', (e) => {"
        " e.preventDefault(); window.chosen = (window.chosen || 0) + 1; })"
    )
    page.keyboard.press("Enter")
    page.keyboard.press(" ")
    assert page.evaluate("() => window.chosen") == 2
    page.set_input_files("#file", str(site.signed))
    page.locator("#result").wait_for(state="visible", timeout=60_000)
    assert page.locator("#verdict").inner_text().startswith("有效")
