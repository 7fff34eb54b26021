"""A button that starts a request says so while it runs, and a double click is one request.

The download buttons of a sign flow's page (flow.js), a certificate's page (my_certificate.js)
and a signer's finished link (sign.js), and the step buttons of a service request's row on
运维服务台 (desk_service.js), went off while their request ran but kept their label: a slow
download looked like a dead button. Now each says 正在下载… / 正在办理… (static/api.js
whileBusy) until the answer is in, and a double click sends one request. So do a desk
listing's 加载更多 / 下一页 (common.js pagedListing: 正在加载…), an export's 删除 on 数据移交
(desk_exports.js: 正在删除…) and 审核 / 查看 of an application in the desk's queue
(desk_applications.js: 正在打开…; a double click read the application twice). A seal grant's
撤销授权 (my_seal.js: 正在撤销…) said so already, by hand, and now goes through whileBusy too.
On a certificate's 补办证书 / 更新密钥, 发送验证码 (which submits the form without a code) had
the form's button say 正在签发新证书…; now 正在发送验证码… (bindForm's busyText asked per
submission), and the hint after it named the button by that busy label (请填写后点击
“正在签发新证书…”), now by its own (请填写后点击“补办证书”).
"""

from __future__ import annotations

import datetime as dt
import re

import pyotp
from playwright.sync_api import expect

from tests.e2e.conftest import STAFF_PASSWORD, Site
from tests.e2e.test_web_desk import _signed_om_contract, staff_login
from tests.e2e.test_web_loading import held_while_busy, let_go
from tests.e2e.test_web_selfservice import certified, reported_lost_on_my_page
from tests.e2e.test_web_selfservice import subscriber_login as login_to_my
from tests.e2e.test_web_signing import (
    ORG_PHONE,
    codes_a_minute_ago,
    sign_by_service,
    started_flow,
    subscriber_login,
)
from tests.integration.api_world import id_card


def _flow(site: Site, title: str):
    """A started flow of 甲方 then 乙方 (in turn: 甲方's link is the one usable first); the
    flow as 甲方's link reads it, and 甲方's token."""
    w = site.world
    jia, _ = started_flow(site, title, w.jia, w.yi, order="sequential")
    return w.p.flows.signer_for_link(jia), jia


def test_a_flow_document_download_says_so_and_runs_once(site: Site, page):
    flow = _flow(site, "下载中协议")[0].flow
    codes_a_minute_ago(site, site.world.org.id)
    subscriber_login(site, page, ORG_PHONE, f"/flows/{flow.id}")
    button = page.locator("#downloads .download-document")
    button.wait_for()
    label = button.inner_text()
    doc = flow.documents[0].id
    held = held_while_busy(page, button, f"/api/v1/flows/{flow.id}/documents/{doc}", "正在下载…")
    with page.expect_download() as dl:
        let_go(page, held)
    assert dl.value.suggested_filename == "下载中协议.pdf"
    page.locator("#downloads .download-document").filter(has_text=label).wait_for()
    assert button.is_enabled()


def test_an_urge_says_so_and_is_sent_once(site: Site, page):
    link, _ = _flow(site, "催签中协议")
    flow, signer = link.flow, link.signer.id
    codes_a_minute_ago(site, site.world.org.id)
    subscriber_login(site, page, ORG_PHONE, f"/flows/{flow.id}")
    button = page.locator("#signers .urge")
    button.wait_for()
    path = f"/api/v1/flows/{flow.id}/signers/{signer}/urge"
    let_go(page, held_while_busy(page, button, path, "正在催签…"))
    page.locator("#toast").filter(has_text="已催签").wait_for()
    page.locator("#signers .urge").filter(has_text="催签").wait_for()
    assert page.locator("#toast[data-kind=error]:visible").count() == 0


def test_a_certificate_download_says_so_and_runs_once(site: Site, page):
    p = site.world.p
    serial = certified(p, "钱下载", "11010519900101123", "13500135099")[2].serial
    login_to_my(site, page, "13500135099")
    page.goto(site.url(f"/my/certificate?serial={serial}"))
    page.locator("#cert-facts").filter(has_text=serial).wait_for()
    button = page.locator("[data-download=pem]")
    held = held_while_busy(page, button, f"/api/v1/certificates/{serial}/pem", "正在下载…")
    with page.expect_download() as dl:
        let_go(page, held)
    assert dl.value.suggested_filename == f"{serial}.pem"
    page.locator("[data-download=pem]").filter(has_text="下载证书（PEM）").wait_for()
    assert button.is_enabled()


def test_a_signed_document_download_on_the_link_says_so_and_runs_once(site: Site, page):
    link, token = _flow(site, "已签协议")  # 甲方's: the flow goes on to 乙方 once 甲方 signed
    flow = link.flow
    sign_by_service(site, token, site.world.jia)
    page.goto(site.url(f"/sign/{token}"))
    button = page.locator("#downloads button[data-document]")
    button.wait_for()
    doc = flow.documents[0].id
    held = held_while_busy(page, button, f"/api/v1/sign/{token}/documents/{doc}", "正在下载…")
    with page.expect_download() as dl:
        let_go(page, held)
    assert dl.value.suggested_filename == "已签协议.pdf"
    page.locator("#downloads button").filter(has_text="下载《已签协议.pdf》").wait_for()
    assert button.is_enabled()


def test_a_service_request_step_says_so_and_runs_once(site: Site, page):
    p = site.world.p
    today = p.clock.now().date()
    p.desk.add_contract(
        "YW-BUSY-1",
        title="忙碌运维服务合同",
        party_a="甲方单位",
        party_b="乙方单位",
        annual_fee="1000",
        starts_on=today - dt.timedelta(days=30),
        ends_on=today + dt.timedelta(days=300),
        actor="test",
    )
    r = p.desk.open("YW-BUSY-1", channel="phone", description="页面打不开", reported_by="甲方")
    staff_login(site, page)
    page.goto(site.url("/desk/service"))
    row = page.locator(f'#requests tbody tr[data-id="{r.id}"]')
    row.wait_for()
    button = row.get_by_role("button", name="响应", exact=True)
    held = held_while_busy(page, button, f"/api/v1/desk/requests/{r.id}/respond", "正在办理…")
    let_go(page, held)
    page.locator(f'#requests tbody tr[data-id="{r.id}"]').filter(has_text="已响应").wait_for()
    assert page.locator("#toast[data-kind=error]:visible").count() == 0
    assert p.desk.get(r.id).state == "responded"


def test_adopting_a_signed_contract_says_so_and_runs_once(site: Site, page):
    w = site.world
    for party in (w.jia, w.yi):
        codes_a_minute_ago(site, party.id)
    number = _signed_om_contract(site)
    staff_login(site, page)
    page.goto(site.url("/desk/service"))
    offered = page.locator(f'#adoptable-table tr[data-number="{number}"]')
    offered.wait_for()
    button = offered.get_by_role("button", name="纳入服务")
    let_go(page, held_while_busy(page, button, "/api/v1/desk/contracts/adopt", "正在纳入…"))
    page.locator("#toast").filter(has_text=f"{number} 已纳入运维服务").wait_for()
    # the toast comes first, then the list of contracts under service is read again
    expect(page.locator("#contract")).to_have_value(number)
    assert page.locator("#toast[data-kind=error]:visible").count() == 0


def test_a_listing_next_page_says_so_and_is_asked_for_once(site: Site, page):
    p = site.world.p
    for i in range(51):  # an event each: the trail has a next page
        p.subscribers.add_person(
            name=f"翻页忙{i}",
            id_number=id_card(f"1101051991{1 + i // 28:02d}{1 + i % 28:02d}123"),
            phone=f"135002{i:05d}",
        )
    staff_login(site, page)
    page.goto(site.url("/desk/audit"))
    rows = page.locator("#events tbody tr[data-seq]")
    button = page.locator("#more")
    button.wait_for()
    assert rows.count() == 50
    let_go(page, held_while_busy(page, button, "/api/v1/audit/events", "正在加载…"))
    page.wait_for_function(
        "() => document.querySelectorAll('#events tbody tr[data-seq]').length > 50"
    )
    seqs = [rows.nth(i).get_attribute("data-seq") for i in range(rows.count())]
    assert len(seqs) == len(set(seqs)) <= 100
    if button.is_visible():  # a third page: the button says 下一页 again
        expect(button).to_have_text("下一页")
        assert button.is_enabled()


def test_deleting_an_export_says_so_and_runs_once(site: Site, page):
    p = site.world.p
    new = p.staff.add(
        "adminbusy",
        password=STAFF_PASSWORD,
        role="administrator",
        actor="test",
        display_name="忙管理",
    )
    secret = re.search(r"secret=([A-Z2-7]+)", new.totp_uri)
    assert secret is not None
    made = p.exports.create(actor="test", verify=False)
    page.goto(site.url("/staff/login"))
    page.fill("#username", "adminbusy")
    page.fill("#password", STAFF_PASSWORD)
    page.fill("#code", pyotp.TOTP(secret.group(1)).now())
    page.click("#staff-form button[type=submit]")
    page.wait_for_url("**/desk")
    page.goto(site.url("/desk/exports"))
    row = page.locator(f'#exports tr[data-name="{made.name}"]')
    button = row.locator("button.delete-export")
    button.wait_for()
    asked: list[str] = []
    page.on("dialog", lambda d: (asked.append(d.message), d.accept()))
    held = held_while_busy(page, button, f"/api/v1/exports/{made.name}", "正在删除…")
    assert len(asked) == 1  # asked once, deleted once
    let_go(page, held)
    page.locator("#toast").filter(has_text=f"已删除 {made.name}").wait_for()
    row.wait_for(state="detached")
    assert page.locator("#toast[data-kind=error]:visible").count() == 0
    assert [e.action for e in p.audit_events(subject_type="export", limit=100)].count(
        "export.deleted"
    ) == 1


def test_withdrawing_a_grant_says_so_and_runs_once(site: Site, page):
    w = site.world
    p = w.p
    seal = w.jia.seal  # the organization's contract seal
    member = p.subscribers.add_person(
        name="忙撤销",
        id_number=id_card("44030519950517123"),
        phone="15800158091",
        organization_id=w.org.id,
    )
    p.seals.grant(seal.es_id, member.id, actor=w.org.name)
    codes_a_minute_ago(site, w.org.id)
    subscriber_login(site, page, ORG_PHONE, f"/my/seal?id={seal.id}")
    row = page.locator(f'#grants tr[data-member="{member.id}"][data-active="true"]')
    button = row.locator("button")
    button.wait_for()
    page.on("dialog", lambda d: d.accept())
    path = f"/api/v1/seals/{seal.id}/grants/{member.id}/withdraw"
    let_go(page, held_while_busy(page, button, path, "正在撤销…"))
    page.locator("#toast").filter(has_text="已撤销忙撤销的用印授权").wait_for()
    page.locator(f'#grants tr[data-member="{member.id}"][data-active="false"]').wait_for()
    assert page.locator("#toast[data-kind=error]:visible").count() == 0
    assert member.id not in [g.member_subscriber_id for g in p.seals.grants(seal.id)]


def test_opening_an_application_says_so_and_reads_it_once(site: Site, page):
    p = site.world.p
    sub = p.subscribers.add_person(
        name="忙审核", id_number=id_card("11010519920303123"), phone="13500135091"
    )
    p.subscribers.accept_agreement(sub.id, accepted_by="忙审核")
    app = p.certificates.apply(subscriber_id=sub.id, profile="person-signing", pin="112233")
    staff_login(site, page)
    button = page.locator(f'#queue tr[data-application="{app.id}"] button')
    button.wait_for()
    path = f"/api/v1/subscribers/{sub.id}/agreement-acceptances"
    let_go(page, held_while_busy(page, button, path, "正在打开…"))
    page.locator("#detail").wait_for(state="visible")
    assert str(app.id) in page.locator("#documents").inner_text()
    expect(button).to_have_text("审核")
    assert button.is_enabled()


def test_sending_the_reissue_code_says_so_not_that_a_certificate_is_issued(site: Site, page):
    """发送验证码 on 补办证书 submits the form without a code (the API answers code_required and
    issues nothing): the form's button said 正在签发新证书… meanwhile."""
    p = site.world.p
    person, _, lost = reported_lost_on_my_page(
        site, page, "忙补办", "11010519730505123", "15848158491"
    )
    form = page.locator("#reissue-form")
    form.wait_for(state="visible")
    page.fill("#reissue-pin", "864208")
    page.fill("#reissue-pin2", "864208")
    page.check("#reissue-confirm")
    submit = form.locator("button[type=submit]")
    label = submit.inner_text()
    codes_a_minute_ago(site, person.id)  # the login code was sent a moment ago
    path = f"/api/v1/certificates/{lost.serial}/reissue"
    held = held_while_busy(page, page.locator("#reissue-send-code"), path, "发送验证码")
    assert submit.is_disabled()
    assert submit.inner_text() == "正在发送验证码…"
    let_go(page, held)
    page.locator("#reissue-sent-to").filter(has_text="验证码已发送至").wait_for()
    # the hint names the button to press by its own label, not the one it had while busy
    assert page.locator("#reissue-sent-to").inner_text().endswith(f"请填写后点击“{label}”")
    expect(submit).to_have_text(label)
    assert p.certificates.get(lost.serial).status == "on_hold"  # nothing issued
