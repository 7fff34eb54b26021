"""The contract form with a price table (002's 附件 2 费用明细表) in headless Chromium against
the real server: 填入示例 fills the price lines as rows, a line that no longer adds up to the
price is refused at the price table in Chinese, corrected it is saved, and the stored contract
and its PDF carry the lines. Screenshots under ``$YINXIN_TEST_OUTPUT/web/``."""

from __future__ import annotations

import re
import subprocess

from tests.e2e.conftest import Site, shot
from tests.e2e.test_web_signing import ORG_PHONE, subscriber_login


def test_the_002_form_edits_price_lines(site: Site, page, tmp_path):
    w = site.world
    subscriber_login(site, page, ORG_PHONE, "/contracts/new?template=platform-integration")
    page.locator('[name="values.client_name"]').wait_for()
    page.click("#fill-example")
    line2 = page.locator('[name="values.price_lines[2].amount"]')
    assert line2.input_value() == "1686600"
    assert page.locator('[name="values.price_lines[1].service"]').input_value() == (
        "维保费（信息技术服务）"
    )

    # six yuan short: the lines no longer add up to the price — refused at the table
    line2.fill("1686594")
    page.click("#save")
    err = page.locator('fieldset[name="values.price_lines"] .field-error')
    err.wait_for()
    assert "各行含税价合计 ¥1,739,994.00，应等于服务费用总额（含税） ¥1,740,000.00" in (
        err.inner_text()
    )
    shot(page, "contract-002-price-lines-refused")

    line2.fill("1686600")
    page.click("#save")
    page.wait_for_url(re.compile(r".*/contracts/\d+$"))
    page.locator("#facts dd").first.wait_for()
    assert "集成费（信息技术服务），1年，含税¥1,686,600.00" in page.locator("#values").inner_text()
    contract_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    stored = w.p.contracts.get(contract_id)
    assert stored.template_version == "2"
    assert [r["amount"] for r in stored.values["price_lines"]] == ["53400.00", "1686600.00"]

    with page.expect_download() as dl:
        page.click("#download")
    path = tmp_path / "002.pdf"
    dl.value.save_as(path)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    squashed = "".join(text.split())
    assert "1年1,591,132.086%1,686,600.00" in squashed
    assert "附件3" in squashed and "网络与信息安全协议书" in squashed
    shot(page, "contract-002-saved")
