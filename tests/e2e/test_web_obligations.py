"""The obligations page (履约跟踪) in headless Chromium against the real server: the
organization's administrator records the facts that fix due dates and the money received,
through the page's forms and the HTTP API behind them.

The home is built in-process with every clock frozen on 2026-01-05 (a 002 contract signed by
both parties through a real sign flow, then tracked), so the due dates fall in the 2026
official calendar whatever today is; the server runs on the real clock, so the facts dated in
2026 are in its past (also under ``faketime +400d``). The same site also serves the 002
contract form's price table (附件 2). Screenshots under ``$YINXIN_TEST_OUTPUT/web/``."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from tests.e2e.conftest import Site, shot, unlabeled
from tests.e2e.test_web_signing import ORG_PHONE, codes_a_minute_ago, subscriber_login
from tests.integration.server import running_server
from tests.integration.signing_flow import build_world, new_platform
from tests.integration.test_contract_appendices import SPEC_PAGES, _spec_pdf
from tests.integration.test_obligations import sign_both
from yinxin.clock import FrozenClock
from yinxin.store.models.obligations import ObligationPayment

BJ = dt.timezone(dt.timedelta(hours=8))
SIGNED = dt.datetime(2026, 1, 5, 9, 0, tzinfo=BJ)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("web-obligations")
    clock = FrozenClock(SIGNED)
    p = new_platform(home, clock)
    w = build_world(p, clock)
    cid = sign_both(p, clock, w, "platform-integration", {})
    p.obligations.track(cid, actor="test")
    w.contract_id = cid  # type: ignore[attr-defined]
    with running_server(home, env={"YINXIN_API_RATE": "0"}) as srv:
        yield Site(srv.url(""), home, w, None, home, home)  # type: ignore[arg-type]
    p.close()


def _row(page, label: str):
    """One obligation's rows: its figures and, under them, how they were counted."""
    return page.locator("#obligations tbody", has=page.locator(f'td:text-is("{label}")'))


def _loaded(page, n: int) -> None:
    """The page has drawn the list ``n`` times (the script counts on ``body[data-loaded]``;
    the page's CSP forbids the evaluated predicates of ``wait_for_function``)."""
    page.locator(f'body[data-loaded="{n}"]').wait_for(state="attached")


def _payments(site: Site) -> int:
    with site.world.p.db.read() as s:
        return s.scalar(select(func.count()).select_from(ObligationPayment))


def test_record_facts_then_payments_and_a_refused_overpayment(site: Site, page):
    cid = site.world.contract_id  # type: ignore[attr-defined]
    subscriber_login(site, page, ORG_PHONE, "/obligations")
    _loaded(page, 1)
    card = page.locator(f'section[data-contract="{cid}"]')
    fact, pay = card.locator("form.fact-form"), card.locator("form.pay-form")
    first = _row(page, "第1期付款（75%）")
    assert first.locator(".due-on").inner_text() == "待定"
    assert "到期日待定" in first.inner_text()
    assert card.locator(".stage").inner_text() == "已生效，待交付"
    assert unlabeled(page) == []  # each form's fields named by their labels
    assert pay.get_by_label("金额（元）").count() == 1

    # a fact dated before the contract took effect: refused, in Chinese, at the date
    fact.locator('[name="event"]').select_option("delivered")
    fact.locator('[name="on"]').fill("2026-01-01")
    fact.locator("button[type=submit]").click()
    err = fact.locator(".field:has([name=on]) .field-error")
    err.wait_for()
    assert err.inner_text() == "日期不得早于合同生效日（2026-01-05）"
    assert card.locator(".stage").inner_text() == "已生效，待交付"

    # delivered 2026-02-12: acceptance due seven working days on, over Spring Festival
    fact.locator('[name="on"]').fill("2026-02-12")
    fact.locator("button[type=submit]").click()
    _loaded(page, 2)
    card = page.locator(f'section[data-contract="{cid}"]')
    fact, pay = card.locator("form.fact-form"), card.locator("form.pay-form")
    assert card.locator(".stage").inner_text() == "已交付，待验收"
    assert _row(page, "组织验收").locator(".due-on").inner_text() == "2026-02-28"
    # accepted 2026-03-02: the 75 % falls due 30 working days later
    fact.locator('[name="event"]').select_option("accepted")
    fact.locator('[name="on"]').fill("2026-03-02")
    fact.locator("button[type=submit]").click()
    _loaded(page, 3)
    first = _row(page, "第1期付款（75%）")
    assert first.locator(".due-on").inner_text() == "2026-04-14"
    assert "¥1,305,000.00" in first.inner_text()
    shot(page, "obligations-accepted")

    # pay part of it: 部分支付, the rest owed, the penalty on the unpaid part explained
    card = page.locator(f'section[data-contract="{cid}"]')
    pay = card.locator("form.pay-form")
    first_id = first.get_attribute("data-obligation")
    pay.locator('[name="obligation_id"]').select_option(first_id)
    pay.locator('[name="amount"]').fill("1000000")
    pay.locator('[name="on"]').fill("2026-04-10")
    pay.locator("button[type=submit]").click()
    _loaded(page, 4)
    first = _row(page, "第1期付款（75%）")
    text = first.inner_text()
    assert "部分支付" in text and "¥305,000.00" in text  # 尚欠
    assert first.get_attribute("data-state") == "partly_paid"
    assert "违约金：逾期" in text and "3% × ¥305,000.00" in text
    # the card's sum shows each party's penalties apart, never 甲方's and 乙方's added
    summary = card.locator("p.small", has_text="应付合计").inner_text()
    assert re.search(r"违约金 (乙方 ¥[\d,.]+；)?甲方 ¥[\d,.]+", summary), summary
    shot(page, "obligations-partly-paid")

    # pay too much: refused at the amount, in Chinese; nothing changes
    before_rows = page.locator("#obligations").inner_text()
    paid_before = _payments(site)
    card = page.locator(f'section[data-contract="{cid}"]')
    pay = card.locator("form.pay-form")
    pay.locator('[name="obligation_id"]').select_option(first_id)
    pay.locator('[name="amount"]').fill("400000")
    pay.locator('[name="on"]').fill("2026-04-20")
    pay.locator("button[type=submit]").click()
    err = pay.locator(".field:has([name=amount]) .field-error")
    err.wait_for()
    assert err.inner_text() == "付款金额超过该项尚欠的金额（尚欠 ¥305,000.00），未登记"
    assert page.locator("#obligations").inner_text() == before_rows
    assert _payments(site) == paid_before == 1
    shot(page, "obligations-overpaid")
    page.reload()
    _loaded(page, 1)
    assert "部分支付" in _row(page, "第1期付款（75%）").inner_text()
    assert "¥305,000.00" in _row(page, "第1期付款（75%）").inner_text()

    # the ¥1,000,000 was a typing mistake: 冲正. A blank reason (the browser asks for one;
    # spaces pass it): refused by the server at the reason, in Chinese, nothing written; with
    # one: the record stays, marked, and counts no more
    card = page.locator(f'section[data-contract="{cid}"]')
    ledger = card.locator(".payments-table tbody tr")
    assert ledger.count() == 1 and "¥1,000,000.00" in ledger.first.inner_text()
    assert ledger.first.inner_text().endswith("有效")
    reverse = card.locator("form.reverse-form")
    reverse.locator('[name="reason"]').fill("   ")
    reverse.locator("button[type=submit]").click()
    err = reverse.locator(".field:has([name=reason]) .field-error")
    err.wait_for()
    assert err.inner_text() == "请填写冲正原因（1–500 字）"
    assert _payments(site) == 1
    reverse.locator('[name="reason"]').fill("金额录入错误")
    reverse.locator("button[type=submit]").click()
    _loaded(page, 2)
    card = page.locator(f'section[data-contract="{cid}"]')
    row = card.locator(".payments-table tbody tr").first
    assert row.get_attribute("class") == "reversed"
    assert "已冲正（金额录入错误，" in row.inner_text()
    first = _row(page, "第1期付款（75%）")
    assert first.get_attribute("data-state") == "open" and "¥1,305,000.00" in first.inner_text()
    assert card.locator("form.reverse-form button[type=submit]").is_disabled()  # none stands
    assert _payments(site) == 1  # the row stays
    shot(page, "obligations-reversed")

    # the acceptance was recorded before the report was signed: 撤回 the latest fact. A blank
    # reason: refused at the reason, in Chinese, nothing written; with one: back to 已交付, the
    # acceptance duty open again, the 75 % waiting for acceptance again
    withdraw = card.locator("form.withdraw-form")
    assert withdraw.locator("button[type=submit]").inner_text() == "撤回“签署验收合格报告”"
    withdraw.locator('[name="reason"]').fill("   ")
    withdraw.locator("button[type=submit]").click()
    err = withdraw.locator(".field:has([name=reason]) .field-error")
    err.wait_for()
    assert err.inner_text() == "请填写撤回原因（1–500 字）"
    assert card.locator(".stage").inner_text() == "已验收"
    withdraw.locator('[name="reason"]').fill("验收报告尚未签署")
    withdraw.locator("button[type=submit]").click()
    _loaded(page, 3)
    card = page.locator(f'section[data-contract="{cid}"]')
    assert card.locator(".stage").inner_text() == "已交付，待验收"
    first = _row(page, "第1期付款（75%）")
    assert first.locator(".due-on").inner_text() == "待定"
    assert first.get_attribute("data-state") == "pending"
    assert _row(page, "组织验收").get_attribute("data-state") == "open"
    assert card.locator("form.withdraw-form button[type=submit]").inner_text() == (
        "撤回“交付并提交验收申请”"
    )
    shot(page, "obligations-withdrawn")
    # recorded again with the right day
    fact = card.locator("form.fact-form")
    fact.locator('[name="event"]').select_option("accepted")
    fact.locator('[name="on"]').fill("2026-03-02")
    fact.locator("button[type=submit]").click()
    _loaded(page, 4)

    # the signed contract's page leads here, to its card
    page.goto(site.url(f"/contracts/{cid}"))
    page.locator("#obligations-link").click()
    page.wait_for_url(f"**/obligations#contract-{cid}")
    _loaded(page, 1)
    assert page.locator(f"#contract-{cid} .stage").inner_text() == "已验收"
    # and the contracts page to the overview (no link led to it: only its address did)
    page.goto(site.url("/contracts"))
    page.get_by_role("link", name="履约跟踪", exact=True).click()
    page.wait_for_url("**/obligations")
    _loaded(page, 1)


def test_the_002_form_edits_price_lines(site: Site, page, tmp_path):
    """The contract form with a price table (002's 附件 2 费用明细表), on the same site (a
    browser module's site costs ~15 s): 填入示例 fills the price lines as rows, a line that no
    longer adds up to the price is refused at the price table in Chinese, corrected it is
    saved, and the stored contract and its PDF carry the lines."""
    w = site.world
    codes_a_minute_ago(site, w.org.id)  # one login code a minute: the first test's was now
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
    # 附件 1 as 甲方's PDF instead of the text: the file goes as base64, its pages appended
    spec = tmp_path / "技术规范书.pdf"
    spec.write_bytes(_spec_pdf(SPEC_PAGES))
    page.fill('[name="values.specification"]', "")
    page.set_input_files('[name="values.specification_pdf"]', str(spec))
    page.click("#save")
    page.wait_for_url(re.compile(r".*/contracts/\d+$"))
    page.locator("#facts dd").first.wait_for()
    assert "集成费（信息技术服务），1年，含税¥1,686,600.00" in page.locator("#values").inner_text()
    contract_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    stored = w.p.contracts.get(contract_id)
    assert stored.template_version == "2"
    assert [r["amount"] for r in stored.values["price_lines"]] == ["53400.00", "1686600.00"]
    assert stored.values["specification_pdf"]["pages"] == 2
    assert "specification" not in stored.values

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
    assert "二、数据全量移交甲方。" in squashed  # the customer's second page
    shot(page, "contract-002-saved")
