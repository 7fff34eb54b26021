"""The contract pages in headless Chromium against the real server: an organization's
administrator picks a template from the library, fills it in (the template's examples, then a
price with three decimals, refused at the price field in Chinese), saves the draft, downloads
its PDF, and sends it to both parties, whose links are shown once. Screenshots under
``$YINXIN_TEST_OUTPUT/web/``."""

from __future__ import annotations

import hashlib
import json

from playwright.sync_api import expect

from tests.e2e.conftest import Site, shot, unlabeled
from tests.e2e.test_web_loading import held_while_busy, let_go
from tests.e2e.test_web_signing import ORG_PHONE, subscriber_login
from yinxin.contracts import templates


def test_fill_in_a_template_save_the_draft_and_send_it(site: Site, page, tmp_path):
    w = site.world
    subscriber_login(site, page, ORG_PHONE, "/contracts")
    row = page.locator('#templates tr[data-template="tech-service"]')
    row.wait_for()
    assert page.locator("#templates tbody tr").count() == 9
    # parties as the contract prints them; 甲方 once where the title is the role (甲方（甲方）)
    parties = '#templates tr[data-template="{}"] td:nth-child(2)'
    assert page.locator(parties.format("om-service")).inner_text() == "甲方、乙方"
    tech = page.locator(parties.format("tech-service")).inner_text()
    assert tech == "委托方（甲方）、服务方（乙方）"
    shot(page, "contracts-library")
    row.locator("a").click()
    page.wait_for_url("**/contracts/new?template=tech-service")
    page.locator('[name="values.client_name"]').wait_for()
    # every blank is named by its label, the rows of a schedule and of a price table too
    page.select_option("#template", "platform-integration")
    page.locator('[name="values.schedule[1].percent"]').wait_for()
    assert unlabeled(page) == []
    page.select_option("#template", "tech-service")
    page.locator('[name="values.client_name"]').wait_for()
    page.click("#fill-example")
    assert page.locator('[name="values.price"]').input_value() == "120000"
    page.fill('[name="values.client_name"]', w.org.name)
    page.fill('[name="values.provider_name"]', w.person.name)

    # a bad amount: refused by the API, shown at the price field
    page.fill('[name="values.price"]', "12.345")
    page.click("#save")
    error = page.locator(
        '[name="values.price"] ~ .field-error, .field:has([name="values.price"]) .field-error'
    )
    error.first.wait_for()
    assert "本项目报酬：金额最多两位小数" in error.first.inner_text()
    shot(page, "contract-new-refused")

    page.fill('[name="values.price"]', "128000")
    page.click("#save")
    page.wait_for_url("**/contracts/*")
    page.locator("#facts dd").first.wait_for()
    assert page.locator("#state").inner_text() == "草稿"
    number = page.locator("#facts dd").first.inner_text()
    assert number.startswith("HT-")
    assert "¥128,000.00" in page.locator("#values").inner_text()  # as the contract prints it
    shot(page, "contract-drafted")

    with page.expect_download() as dl:
        page.click("#download")
    path = tmp_path / "draft.pdf"
    dl.value.save_as(path)
    contract_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    stored = w.p.contracts.get(contract_id)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == stored.pdf_sha256
    assert stored.number == number and stored.values["price"] == "128000.00"

    # send: one signer and seal per party, each field named by its label; the links shown once
    page.locator('[name="signers[1].seal"]').wait_for()
    assert unlabeled(page) == []
    assert page.get_by_label("委托方（甲方）印章编码").count() == 1
    page.fill('[name="signers[0].subscriber_id"]', str(w.jia.id))
    page.fill('[name="signers[0].seal"]', w.yi.seal.es_id)  # 张三's: not 甲方's to use
    page.fill('[name="signers[1].subscriber_id"]', str(w.yi.id))
    page.fill('[name="signers[1].seal"]', w.yi.seal.es_id)
    page.click("#send-form button[type=submit]")
    refused = page.locator('.field:has([name="signers[0].seal"]) .field-error')
    refused.wait_for()  # at the field, in Chinese: whose seal it is, not the party's
    assert refused.inner_text() == (
        f"合同的甲方是“{w.org.name}”，印章 {w.yi.seal.es_id} 属于“{w.person.name}”，不能为甲方签章"
    )
    assert w.p.contracts.get(contract_id).state == "drafted"
    page.fill('[name="signers[0].seal"]', w.jia.seal.es_id)
    page.click("#send-form button[type=submit]")
    page.locator("#link-list li").nth(1).wait_for()
    assert "/sign/" in page.locator("#link-list").inner_text()
    page.locator("#state").filter(has_text="签署中").wait_for()
    assert w.p.contracts.get(contract_id).state == "out_for_signing"
    shot(page, "contract-sent")

    # an address whose number is beyond any record's (the API refuses it, 422): 没有这份合同,
    # as for a number no contract has — the page stayed blank with a script error
    for number in ("99999999999999999999", "999999"):
        page.goto(site.url(f"/contracts/{number}"))
        page.locator("#not-found").wait_for()


def test_revise_a_draft_and_a_revision_saved_meanwhile_is_shown_not_overwritten(site: Site, page):
    """修改草稿 on the contract page. The form is filled from the draft (its title and every
    blank) and saves with based_on, the version it was filled from. A bad amount is refused at
    its field with nothing written; a revision someone else saved meanwhile makes the save
    refused (409 stale), said in Chinese, and the page shows their version — in the values and
    in the form — instead of overwriting it; a double click on 保存修改 saves once."""
    from tests.e2e.test_web_signing import codes_a_minute_ago

    w = site.world
    p = w.p
    values = {
        **templates.get_template("tech-service").example_values(),
        "client_name": w.org.name,
        "provider_name": "上官明",
        "provider_phone": "15800158013",
    }
    c = p.contracts.draft(
        "tech-service", values, owner_subscriber_id=w.org.id, actor=f"subscriber:{w.org.id}"
    )
    revisions: list[str] = []
    page.on(
        "request",
        lambda r: revisions.append(r.post_data or "") if r.url.endswith("/revise") else None,
    )
    codes_a_minute_ago(site, w.org.id)  # the organization logged in a test ago
    subscriber_login(site, page, ORG_PHONE, f"/contracts/{c.id}")
    page.click("#revise-open")
    price = page.locator('#revise-form [name="values.price"]')
    price.wait_for()
    assert price.input_value() == "120000.00"
    assert page.locator("#revise-title").input_value() == c.title
    # who drafted it, as the other pages say it (not the raw "subscriber:<id>")
    drafted = page.locator("#facts dt", has_text="起草").locator("xpath=following-sibling::dd[1]")
    assert drafted.inner_text().endswith("本账户")
    assert page.locator('#revise-form [name="values.provider_name"]').input_value() == "上官明"
    assert unlabeled(page) == []

    # saved as it is: nothing changed, said so, nothing written
    page.click("#revise-save")
    unchanged = page.locator("#revise-form .form-error")
    unchanged.wait_for()
    assert "没有" in unchanged.inner_text(), unchanged.inner_text()
    assert p.contracts.get(c.id).pdf_sha256 == c.pdf_sha256

    # a bad amount: refused at its field, nothing written
    price.fill("12.345")
    page.click("#revise-save")
    error = page.locator('#revise-form .field:has([name="values.price"]) .field-error')
    error.wait_for()
    assert "金额最多两位小数" in error.inner_text()
    assert p.contracts.get(c.id).pdf_sha256 == c.pdf_sha256

    # someone else saves a revision while this form is open: ours is refused, theirs shown
    theirs = p.contracts.revise(
        c.id,
        {**values, "price": "150000"},
        based_on=c.pdf_sha256,
        actor="subscriber:other-editor",
    )
    price.fill("130000")
    page.click("#revise-save")
    said = page.locator("#revise-form .form-error")
    said.wait_for()
    assert "他人已修改并保存了这份合同" in said.inner_text()
    assert theirs.pdf_sha256[:12] in said.inner_text()
    assert p.contracts.get(c.id).values["price"] == "150000.00"  # not overwritten
    assert p.contracts.get(c.id).pdf_sha256 == theirs.pdf_sha256
    page.locator("#values").filter(has_text="¥150,000.00").wait_for()
    assert price.input_value() == "150000.00"  # the form now holds their version
    shot(page, "contract-revise-stale")
    assert json.loads(revisions[-1])["based_on"] == c.pdf_sha256

    # redone on their version, double-clicked: saved once, on top of theirs
    price.fill("130000")
    sent = len(revisions)
    page.dblclick("#revise-save")
    page.locator("#values").filter(has_text="¥130,000.00").wait_for()
    assert len(revisions) == sent + 1
    assert json.loads(revisions[-1])["based_on"] == theirs.pdf_sha256
    now = p.contracts.get(c.id)
    assert now.values["price"] == "130000.00" and now.pdf_sha256 != theirs.pdf_sha256
    assert page.locator("#revise-form").is_hidden()
    shot(page, "contract-revised")


def test_the_draft_form_reopened_after_a_save_holds_what_was_saved(site: Site, page):
    """修改草稿, saved, then 修改草稿 again at once: the page closed the form and offered
    修改草稿 again before it had read the saved draft back, so the form reopened on the
    version as last read — the old price, and based_on the old version, which the next save
    had refused as stale (someone else's change, said the page). 修改草稿 is now offered again
    only once the saved draft is read, and the form reopens on it."""
    from tests.e2e.test_web_signing import codes_a_minute_ago

    w = site.world
    p = w.p
    values = {
        **templates.get_template("tech-service").example_values(),
        "client_name": w.org.name,
        "provider_name": "端木青",
    }
    c = p.contracts.draft(
        "tech-service", values, owner_subscriber_id=w.org.id, actor=f"subscriber:{w.org.id}"
    )
    codes_a_minute_ago(site, w.org.id)
    subscriber_login(site, page, ORG_PHONE, f"/contracts/{c.id}")
    page.click("#revise-open")
    price = page.locator('#revise-form [name="values.price"]')
    price.wait_for()
    price.fill("140000")
    # the saved draft is read back late (a loaded server): hold that read
    held: list = []
    page.route(f"**/api/v1/contracts/{c.id}", lambda route: held.append(route))
    page.click("#revise-save")
    for _ in range(600):  # until the page asks for the saved draft (the route takes it)
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the draft is read back after the save"
    saved = p.contracts.get(c.id)
    assert saved.values["price"] == "140000.00"
    assert page.locator("#revise-open").is_hidden()  # not offered on the version read before
    for route in held:
        route.continue_()
    page.unroute(f"**/api/v1/contracts/{c.id}")
    page.locator("#toast").filter(has_text="草稿已保存").wait_for()
    page.click("#revise-open")
    price.wait_for()
    assert price.input_value() == "140000.00"
    assert saved.pdf_sha256[:12] in page.locator("#revise-version").inner_text()
    price.fill("145000")
    page.click("#revise-save")
    page.locator("#values").filter(has_text="¥145,000.00").wait_for()
    assert p.contracts.get(c.id).values["price"] == "145000.00"


def test_a_draft_of_an_older_template_version_is_revised_on_its_own_blanks(site: Site, page):
    """A draft made before the library's platform-integration 2 (which requires 费用明细) is
    revised against its own version 1. The page built the form from the current version: a
    费用明细 the draft cannot hold was required and, once filled, refused by the API
    (template platform-integration has no blank 'price_lines'), so the draft could not be
    revised from the web at all. Now the form has version 1's blanks and the save works."""
    from sqlalchemy import select

    from tests.e2e.test_web_signing import codes_a_minute_ago
    from yinxin.store.models.contracts import Contract

    w = site.world
    p = w.p
    v1 = templates.get_template("platform-integration", "1")
    values = {**v1.example_values(), "client_name": w.org.name, "provider_name": "闻人杰"}
    c = p.contracts.draft(
        "platform-integration",
        {**templates.get_template("platform-integration").example_values(), **values},
        owner_subscriber_id=w.org.id,
        actor=f"subscriber:{w.org.id}",
    )
    with p.db.transaction() as s:  # as drafted before version 2 was shipped
        row = s.execute(select(Contract).where(Contract.id == c.id)).scalar_one()
        row.template_version = "1"
        row.filled_values = json.dumps(v1.fill(values), ensure_ascii=False, sort_keys=True)
    codes_a_minute_ago(site, w.org.id)
    subscriber_login(site, page, ORG_PHONE, f"/contracts/{c.id}")
    page.click("#revise-open")
    page.locator('#revise-form [name="values.client_name"]').wait_for()
    assert page.locator('#revise-form [data-price-lines="price_lines"]').count() == 0
    assert page.locator('#revise-form [name="values.specification_pdf"]').count() == 0
    page.fill('#revise-form [name="values.provider_name"]', "闻人杰科技")
    page.click("#revise-save")
    page.locator("#values").filter(has_text="闻人杰科技").wait_for()
    facts = page.locator("#facts").inner_text()
    assert "甲方\n" in facts and "甲方（甲方）" not in facts, facts
    assert page.get_by_label("甲方印章编码").count() == 1
    now = p.contracts.get(c.id)
    assert now.template_version == "1" and now.values["provider_name"] == "闻人杰科技"
    assert page.locator("#revise-form").is_hidden()

    # cancelled by someone else while the form is open again: said, the form closed
    page.click("#revise-open")
    page.locator('#revise-form [name="values.provider_name"]').wait_for()
    p.contracts.cancel(c.id, "双方协商终止", actor="subscriber:other-editor")
    page.fill('#revise-form [name="values.provider_name"]', "闻人杰咨询")
    page.click("#revise-save")
    page.locator("#toast").filter(has_text="已被他人发起签署或作废，不能再修改").wait_for()
    page.locator("#state").filter(has_text="已作废").wait_for()
    assert page.locator("#revise-card").is_hidden()
    assert p.contracts.get(c.id).values["provider_name"] == "闻人杰科技"


def test_a_double_click_on_preview_makes_one_pdf(site: Site, page):
    """预览 PDF stayed on while the PDF was made, with nothing said: a double click (or a second
    click on a button that seemed to do nothing) sent the preview twice and saved two
    合同预览.pdf. Now the button is off and says 正在生成预览… until the PDF is saved: one
    request, one download."""
    from tests.e2e.test_web_signing import codes_a_minute_ago

    codes_a_minute_ago(site, site.world.org.id)  # the organization logged in a test ago
    subscriber_login(site, page, ORG_PHONE, "/contracts/new?template=tech-service")
    page.locator('[name="values.client_name"]').wait_for()
    page.click("#fill-example")
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
    saved: list[str] = []
    page.on("download", lambda d: saved.append(d.suggested_filename))
    # the preview held until the double click is delivered (see held_while_busy)
    path = "/api/v1/contract-templates/tech-service/preview"
    held = held_while_busy(page, page.locator("#preview"), path, "正在生成预览…")
    with page.expect_download():
        let_go(page, held)
    page.locator("#preview").filter(has_text="预览 PDF").wait_for()
    assert page.locator("#preview").is_enabled()
    assert saved == ["合同预览.pdf"]
    assert len(posted) == 1 and posted[0].endswith("/contract-templates/tech-service/preview")


def test_a_double_click_on_download_saves_the_contract_once(site: Site, page):
    """下载合同 PDF stayed on while the contract was fetched: a double click read the contract and
    its PDF twice and saved the file twice. Now the button is off while it runs: one PDF
    asked for, one download."""
    from tests.e2e.test_web_signing import codes_a_minute_ago

    w = site.world
    values = {
        **templates.get_template("tech-service").example_values(),
        "client_name": w.org.name,
        "provider_name": "欧阳青",
    }
    c = w.p.contracts.draft(
        "tech-service", values, owner_subscriber_id=w.org.id, actor=f"subscriber:{w.org.id}"
    )
    codes_a_minute_ago(site, w.org.id)
    subscriber_login(site, page, ORG_PHONE, f"/contracts/{c.id}")
    page.locator("#state").filter(has_text="草稿").wait_for()
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith("/pdf") else None)
    saved: list[str] = []
    page.on("download", lambda d: saved.append(d.suggested_filename))
    # the PDF held until the double click is delivered (see held_while_busy)
    path = f"/api/v1/contracts/{c.id}/pdf"
    held = held_while_busy(page, page.locator("#download"), path, "正在下载…")
    with page.expect_download():
        let_go(page, held)
    assert saved == [f"{c.number}.pdf"]
    assert len(asked) == 1
    expect(page.locator("#download")).to_be_enabled()


def test_a_refused_value_in_english_words_is_said_by_the_apis_chinese(site: Site, page):
    """A blank refused with the value quoted in its Chinese half ("工作日响应时限（小时）：
    'four hours' 不是整数 / not a whole number"): the page declined that half for the two
    English words of the value and said only 「…」填写的内容不符合要求，请检查. It now shows
    the API's Chinese, the value as typed, at the field and without the English half."""
    from tests.e2e.test_web_signing import codes_a_minute_ago

    codes_a_minute_ago(site, site.world.org.id)  # the organization logged in a test ago
    subscriber_login(site, page, ORG_PHONE, "/contracts/new?template=om-service")
    field = '[name="values.response_hours_workday"]'
    page.locator(field).wait_for()
    page.click("#fill-example")
    page.fill(field, "four hours")
    page.click("#save")
    error = page.locator(f".field:has({field}) .field-error")
    error.wait_for()
    shot(page, "contract-new-refused-value")
    assert error.inner_text() == "工作日响应时限（小时）：'four hours' 不是整数"
    assert "/contracts/new" in page.url  # nothing was saved
