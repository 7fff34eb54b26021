"""The data handover page (数据移交, /desk/exports) in headless Chromium against the real server:
an administrator signs in, makes an export (the button busy while it runs), sees it listed,
downloads the zip (checked against the header's SHA-256 by fetching it again) and deletes it
after the confirmation; an RA officer is told the page is for administrators. Screenshots
under ``$YINXIN_TEST_OUTPUT/web/``."""

from __future__ import annotations

import hashlib
import re
import zipfile

import httpx
import pyotp

from tests.e2e.conftest import STAFF_PASSWORD, Site, shot
from tests.e2e.test_web import fresh_totp


def _login(site: Site, page, username: str, code: str) -> None:
    page.goto(site.url("/staff/login"))
    page.fill("#username", username)
    page.fill("#password", STAFF_PASSWORD)
    page.fill("#code", code)
    page.click("#staff-form button[type=submit]")
    page.wait_for_url("**/desk")


def test_administrator_makes_downloads_and_deletes_an_export(site: Site, browser, tmp_path):
    p = site.world.p
    new = p.staff.add(
        "admin1", password=STAFF_PASSWORD, role="administrator", actor="test", display_name="王管理"
    )
    secret = re.search(r"secret=([A-Z2-7]+)", new.totp_uri)
    assert secret is not None
    totp = pyotp.TOTP(secret.group(1))
    root = site.home / "exports"

    # an RA officer: the page says it is for administrators, and offers nothing
    ctx = browser.new_context(locale="zh-CN", accept_downloads=True)
    page = ctx.new_page()
    _login(site, page, "desk1", fresh_totp(site))
    page.goto(site.url("/desk/exports"))
    page.locator("#admin-only").wait_for()
    assert "仅限系统管理员" in page.locator("#admin-only").inner_text()
    assert page.locator("#make-card").is_hidden()
    ctx.close()

    ctx = browser.new_context(
        locale="zh-CN", accept_downloads=True, viewport={"width": 1280, "height": 860}
    )
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(site, page, "admin1", totp.now())
    page.click("nav.subnav >> text=数据移交")
    page.wait_for_url("**/desk/exports")
    page.locator("#exports tbody td").filter(has_text="还没有导出").wait_for()

    page.click("#make")
    page.locator("#make").filter(has_text="正在导出").wait_for()  # busy while it runs
    page.locator("#made.ok").wait_for(timeout=60_000)
    made = page.locator("#made").inner_text()
    (folder,) = [d for d in root.iterdir() if not d.name.startswith(".")]
    sha = hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    assert folder.name in made and sha in made
    row = page.locator(f'#exports tr[data-name="{folder.name}"]')
    row.wait_for()
    assert page.locator("#make").inner_text() == "生成导出"
    shot(page, "desk-exports")

    with page.expect_download() as dl:
        row.locator("a.download-export").click()
    saved = tmp_path / "export.zip"
    dl.value.save_as(saved)
    assert dl.value.suggested_filename == f"yinxin-export-{folder.name}.zip"
    cookies = {c["name"]: c["value"] for c in ctx.cookies()}
    head = httpx.get(site.url(f"/api/v1/exports/{folder.name}/archive"), cookies=cookies)
    assert head.status_code == 200
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == head.headers["x-archive-sha256"]
    with zipfile.ZipFile(saved) as z:
        assert f"{folder.name}/manifest.json" in z.namelist()

    page.set_viewport_size({"width": 390, "height": 844})  # fits a phone: tables scroll inside
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "desk-exports-phone")
    page.set_viewport_size({"width": 1280, "height": 860})

    page.once("dialog", lambda d: d.accept())
    row.locator("button.delete-export").click()
    page.locator("#exports tbody td").filter(has_text="还没有导出").wait_for()
    assert not folder.exists()
    assert [e.action for e in p.audit_events(subject_type="export", limit=100)] == [
        "export.created",
        "export.downloaded",
        "export.downloaded",
        "export.deleted",
    ]
    assert not errors, errors
    ctx.close()
