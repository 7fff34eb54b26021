"""Subscriber self-service and seals in headless Chromium against the real server (issue 13,
part 3): a person registers with the code the file outbox brought to its phone (a wrong check
digit refused in Chinese as it is typed, a wrong code at its field), signed in by it, accepts
the agreement, applies with a PIN and pays, twice;
the RA officer (TOTP from pyotp) approves one application and rejects the other with a reason;
the person sees both outcomes, downloads the certificate (checked with ``openssl verify``
against the root), reports it lost and restores it. An organization's administrator fills the
seal form of 004 and watches the preview follow the typing, has the seal made, grants it to a
member and withdraws the grant; another organization sees none of it (the pages show nothing,
the API answers 404). Screenshots under ``$YINXIN_TEST_OUTPUT/web/``."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from tests.e2e.conftest import (
    STAFF_PASSWORD,
    Site,
    decline_then_accept,
    one_key_two_holders,
    shot,
)
from tests.e2e.test_web import fresh_totp
from tests.e2e.test_web_loading import held_while_busy, let_go
from tests.integration.api_world import id_card
from tests.integration.signing_flow import outbox_lines, read_code
from yinxin.identity import uscc_check_char

PHONE = "13600136000"
ID_NUMBER = id_card("11010519880808123")
WRONG_ID = ID_NUMBER[:17] + ("0" if ID_NUMBER[17] != "0" else "1")
PIN = "135790"


def type_login_code(site: Site, page, phone: str) -> None:
    """On the login page: the phone, a code sent to it, the code typed, 登录 clicked."""
    before = outbox_lines(site.world.outbox)
    page.goto(site.url("/login"))
    page.fill("#phone", phone)
    page.click("#send-code")
    page.locator("#sent-to").filter(has_text=phone[-4:]).wait_for()
    page.fill("#code", read_code(site.world.outbox, phone, after=before))
    page.click("#login-button")


def subscriber_login(site: Site, page, phone: str) -> None:
    type_login_code(site, page, phone)
    page.wait_for_url("**/my")


def staff_login(site: Site, page) -> None:
    page.goto(site.url("/staff/login"))
    page.fill("#username", "desk1")
    page.fill("#password", STAFF_PASSWORD)
    page.fill("#code", fresh_totp(site))
    page.click("#staff-form button[type=submit]")
    page.wait_for_url("**/desk")


def apply_and_pay(page, site: Site) -> int:
    page.goto(site.url("/my/apply"))
    page.fill("#pin", PIN)
    page.fill("#pin2", PIN)
    page.click("#apply-form button[type=submit]")
    page.locator("#pay-form").wait_for(state="visible")
    assert page.locator("#amount").inner_text() == "¥120.00"  # 70 a year + the medium's 50
    app_id = int(page.locator("#apply-facts dd").first.inner_text())
    page.click("#pay-button")
    page.locator("#paid").wait_for(state="visible")
    assert "¥120.00" in page.locator("#paid-facts").inner_text()
    return app_id


def agreed(p, name: str, number: str, phone: str):
    """A person registered with ID ``number`` who has accepted the agreement."""
    person = p.subscribers.add_person(name=name, id_number=number, phone=phone)
    p.subscribers.accept_agreement(person.id, accepted_by=name)
    return person


def reported_lost_on_my_page(site, page, name: str, id17: str, phone: str) -> tuple:
    """A person certified (``certified``) who logs in to 我的证书, opens the certificate and
    reports it lost there (``report_lost``); what ``certified`` gave."""
    made = certified(site.world.p, name, id17, phone)
    subscriber_login(site, page, phone)
    page.goto(site.url(f"/my/certificate?serial={made[2].serial}"))
    page.locator("#loss-form").wait_for(state="visible")
    report_lost(page)
    return made


def report_lost(page) -> None:
    """挂失 on the open /my/certificate page: it asks first (accepted), then the badge says
    已挂失."""
    page.once("dialog", lambda d: d.accept())
    page.locator("#loss-form button[type=submit]").click()
    page.locator("#status-badge").filter(has_text="已挂失").wait_for()


def certified(p, name: str, id17: str, phone: str, **approve) -> tuple:
    """A person registered, agreed, applied (platform key, PIN 975312), paid and certified by
    the desk: the person, the ID number (``id17`` with its check digit) and the certificate."""
    number = id_card(id17)
    person = agreed(p, name, number, phone)
    app = p.certificates.apply(subscriber_id=person.id, profile="person-signing", pin="975312")
    p.certificates.pay(application_id=app.id, years=1, reference=f"T-{app.id}")
    return person, number, p.certificates.approve(app.id, officer="desk1", **approve)


def stopped_for_fees(p, name: str, id17: str, phone: str) -> tuple:
    """``certified`` for three years, paid only until yesterday: stopped for unpaid fees by
    the sweep."""
    from sqlalchemy import update

    from yinxin.store.models import Certificate

    person, number, cert = certified(p, name, id17, phone, validity_years=3)
    with p.db.transaction() as s:
        s.execute(
            update(Certificate)
            .where(Certificate.id == cert.id)
            .values(paid_until=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        )
    assert cert.serial in p.certificates.suspend_unpaid()
    return person, number, cert


def personal_seal(p, name: str, id17: str, phone: str) -> tuple:
    """``certified``, and a personal seal on that certificate: the person, the ID number, the
    certificate and the seal."""
    from tests.integration.signing_flow import _form

    person, number, cert = certified(p, name, id17, phone)
    seal = p.seals.create(
        subscriber_id=person.id,
        kind="personal",
        certificate_serial=cert.serial,
        form=_form(name, number),
    )
    return person, number, cert, seal


def test_a_person_registers_applies_pays_and_downloads_the_certificate(
    site: Site, page, browser, tmp_path: Path
):
    w = site.world
    page.goto(site.url("/login"))
    page.click("text=在线注册")
    page.wait_for_url("**/register")
    assert page.locator("#person-form").is_hidden()  # the phone first
    page.fill("#phone", PHONE)
    before = outbox_lines(w.outbox)
    page.click("#send-code")
    page.locator("#person-form").wait_for(state="visible")
    sent_to = page.locator("#sent-to").inner_text()
    assert "136****6000" in sent_to
    # the expiry the answer gives (YINXIN_OTP_TTL_SECONDS), as the login page says it
    assert "前有效" in sent_to and "分钟内有效" not in sent_to, sent_to
    assert page.locator("#p-phone").input_value() == PHONE
    code = read_code(w.outbox, PHONE, after=before)
    page.fill("#p-name", "赵六")
    page.locator("#p-id-number").press_sequentially(WRONG_ID)  # typed, key by key
    error = page.locator("#person-form .field:has(#p-id-number) .field-error")
    error.wait_for()
    assert error.inner_text() == "身份证号码校验位错误，请核对后重新输入"
    assert page.locator("#p-id-number").get_attribute("aria-invalid") == "true"
    shot(page, "register-wrong-check-digit")
    page.fill("#p-code", code)
    page.click("#person-form button[type=submit]")  # refused in the browser: nothing sent
    assert error.inner_text() == "身份证号码校验位错误，请核对后重新输入"
    page.fill("#p-id-number", "")
    page.locator("#p-id-number").press_sequentially(ID_NUMBER)
    error.wait_for(state="detached")
    # a wrong code: said at the code field, nothing registered
    n = len(w.p.subscribers.list())
    page.fill("#p-code", f"{(int(code) + 1) % 10**6:06d}")
    page.click("#person-form button[type=submit]")
    wrong = page.locator("#person-form .field:has(#p-code) .field-error")
    wrong.wait_for()
    assert wrong.inner_text().startswith("验证码错误")
    assert len(w.p.subscribers.list()) == n
    shot(page, "register-code")
    page.fill("#p-code", code)
    page.click("#person-form button[type=submit]")

    page.wait_for_url("**/my/agreement")
    page.locator("#accept-form").wait_for(state="visible")
    assert "协议" in page.locator("#agreement-text").inner_text()
    assert page.locator("#accepted_by").input_value() == "赵六"
    shot(page, "my-agreement")
    page.check("#read")
    page.click("#accept-button")
    page.locator("#agreement-status[data-accepted=true]").wait_for()
    page.click("text=下一步：申请证书")
    page.wait_for_url("**/my/apply")
    page.fill("#pin", PIN)
    page.fill("#pin2", "000000")
    page.click("#apply-form button[type=submit]")
    assert page.locator("#apply-form .field-error").inner_text() == "两次输入的 PIN 码不一致"
    shot(page, "my-apply")
    first = apply_and_pay(page, site)
    shot(page, "my-apply-paid")
    second = apply_and_pay(page, site)
    # a link to an application that is not the person's: said, the form left for a new one
    page.goto(site.url("/my/apply?application=999999"))
    page.locator("#toast").filter(has_text="未找到受理号为 999999 的申请").wait_for()
    assert page.locator("#apply-form").is_visible()

    # the RA officer, in a browser of their own
    desk_ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    desk = desk_ctx.new_page()
    staff_login(site, desk)
    desk.click("nav.subnav >> text=审核申请")
    desk.wait_for_url("**/desk/applications")
    desk.locator(f'#queue tr[data-application="{first}"] button').click()
    desk.locator("#detail").wait_for(state="visible")
    assert "赵六" in desk.locator("#applicant").inner_text()
    documents = desk.locator("#documents").inner_text()
    assert "¥120.00" in documents and "接受" in documents and "平台托管密钥" in documents
    shot(desk, "desk-review")
    desk.click("#approve-form button[type=submit]")
    desk.locator(f'#queue tr[data-application="{first}"]').wait_for(state="detached")
    desk.locator(f'#queue tr[data-application="{second}"] button').click()
    desk.locator("#detail").wait_for(state="visible")
    desk.click("#reject-form button[type=submit]")
    assert desk.locator("#reject-form .field-error").inner_text() == "请填写或选择原因"
    desk.fill("#reason", "身份证件照片不清晰，请到受理点核验")
    desk.click("#reject-form button[type=submit]")
    desk.locator(f'#queue tr[data-application="{second}"]').wait_for(state="detached")
    desk_ctx.close()

    # the person sees both outcomes and downloads the certificate
    page.goto(site.url("/my/certificates"))
    row = page.locator(f'#applications tr[data-application="{first}"]')
    row.wait_for()
    assert row.get_attribute("data-state") == "approved"
    rejected = page.locator(f'#applications tr[data-application="{second}"]').inner_text()
    assert "已驳回" in rejected and "身份证件照片不清晰" in rejected
    cert = page.locator("#certificates tbody tr[data-serial]")
    assert cert.count() == 1
    serial = cert.first.get_attribute("data-serial")
    shot(page, "my-certificates")
    cert.first.locator("a").first.click()
    page.wait_for_url("**/my/certificate?serial=*")
    page.locator("#cert-facts").filter(has_text="赵六").wait_for()
    reasons = page.locator("#reason option").all_inner_texts()
    assert "与证书中的公钥相对应的私钥被泄密" in reasons and "证书不再需要用于原来的用途" in reasons
    shot(page, "my-certificate")
    files = {}
    for kind in ("pem", "chain", "der"):
        with page.expect_download() as dl:
            page.click(f'[data-download="{kind}"]')
        files[kind] = Path(dl.value.path()).read_bytes()
    assert files["pem"].startswith(b"-----BEGIN CERTIFICATE-----")
    assert files["chain"].count(b"BEGIN CERTIFICATE") == 3
    chain = w.p.ca.chain()
    (tmp_path / "root.pem").write_bytes(chain[-1].public_bytes(Encoding.PEM))
    (tmp_path / "issuing.pem").write_bytes(chain[0].public_bytes(Encoding.PEM))
    (tmp_path / "cert.pem").write_bytes(files["pem"])
    (tmp_path / "cert.der").write_bytes(files["der"])
    out = subprocess.run(
        ["openssl", "verify", "-CAfile", "root.pem", "-untrusted", "issuing.pem", "cert.pem"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "cert.pem: OK" in out.stdout, out.stdout + out.stderr
    der = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-in", "cert.der", "-noout", "-serial"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert der.returncode == 0 and serial.upper().lstrip("0") in der.stdout.upper()

    # report the loss (it asks first), then restore
    report_lost(page)
    assert (
        page.locator("#restore-form").is_visible() and not page.locator("#loss-form").is_visible()
    )
    shot(page, "my-certificate-lost")
    page.click("#restore-form button[type=submit]")
    page.locator("#status-badge").filter(has_text="有效").wait_for()


@pytest.fixture(scope="module")
def member(site: Site):
    """A person registered under the organization (its member), to be granted the seal."""
    return site.world.p.subscribers.add_person(
        name="孙七",
        id_number=id_card("11010819920202123"),
        phone="13100131000",
        organization_id=site.world.org.id,
    )


def image_digest(page) -> str:
    """The SHA-256 of the picture the preview shows, as drawn (read back through a canvas)."""
    data = page.evaluate(
        """() => {
            const img = document.getElementById('seal-preview');
            const c = document.createElement('canvas');
            c.width = img.naturalWidth; c.height = img.naturalHeight;
            c.getContext('2d').drawImage(img, 0, 0);
            return c.toDataURL('image/png');
        }"""
    )
    return hashlib.sha256(data.encode()).hexdigest()


def test_a_registered_phone_is_told_by_sms_and_the_page_says_no_more(site: Site, page):
    """A number already registered (at the desk): the page answers step 1 as for any number;
    the SMS, not the page, tells the holder to log in, with no code; any code typed is a wrong
    code at its field, never "already registered", and nothing is written."""
    w = site.world
    phone = "13600136077"
    w.p.subscribers.add_person(name="孙十", id_number=id_card("11010519900101666"), phone=phone)
    n = len(w.p.subscribers.list())
    page.goto(site.url("/register#organization"))
    page.locator("#phone-form[data-bound]").wait_for(state="attached")
    before = outbox_lines(w.outbox)
    page.fill("#phone", phone)
    page.click("#send-code")
    page.locator("#organization-form").wait_for(state="visible")
    assert "136****6077" in page.locator("#sent-to").inner_text()
    deadline = dt.datetime.now() + dt.timedelta(seconds=5)
    while outbox_lines(w.outbox) == before and dt.datetime.now() < deadline:
        page.wait_for_timeout(50)
    sms = w.outbox.read_text("utf-8").splitlines()[before:]
    assert len(sms) == 1 and "已注册" in sms[0] and "验证码" not in sms[0]
    page.fill("#o-code", "123456")
    page.fill("#o-name", "福州孙十商贸有限公司")
    usc = "91350100MA2XYW111"
    page.fill("#o-uscc", usc + uscc_check_char(usc))
    page.fill("#o-legal", "孙十")
    page.fill("#o-contact", "孙十")
    page.fill("#o-contact-phone", "0591-87760023")
    page.click("#organization-form button[type=submit]")
    wrong = page.locator("#organization-form .field:has(#o-code) .field-error")
    wrong.wait_for()
    assert wrong.inner_text().startswith("验证码错误")
    said = page.locator(".field-error, .form-error:visible, #toast").all_inner_texts()
    assert not any("已注册" in x or "已登记" in x for x in said), said
    assert len(w.p.subscribers.list()) == n
    shot(page, "register-registered-phone")


def test_an_organization_fills_the_seal_form_and_grants_the_seal(site: Site, page, member):
    w = site.world
    subscriber_login(site, page, "13900139000")
    page.click("nav.subnav >> text=电子印章")
    page.wait_for_url("**/my/seals")
    page.locator(f'.seal-item[data-es-id="{w.jia.seal.es_id}"]').wait_for()
    shot(page, "my-seals")
    page.click("text=申请电子印章")
    page.wait_for_url("**/my/seals/apply")
    page.select_option("#kind", "finance")
    page.locator("#seal-preview[data-version]").wait_for()
    page.locator("#preview-status").filter(has_text="财务专用章").wait_for()
    blank = image_digest(page)
    version = page.locator("#seal-preview").get_attribute("data-version")
    page.locator("#code").press_sequentially("1101080012347", delay=30)
    page.locator(f'#seal-preview:not([data-version="{version}"])').wait_for()
    page.wait_for_load_state("networkidle")
    coded = image_digest(page)
    assert coded != blank  # the code drawn along the rim
    page.locator("#code").press_sequentially("号")  # not allowed on a seal: said at the field
    page.locator("#seal-form .field-error").filter(has_text="印章编码").wait_for()
    shot(page, "seal-apply-code-error")
    page.locator("#code").press("Backspace")
    page.locator("#seal-form .field-error").wait_for(state="detached")
    page.fill("#project", "电子合同与财务票据签署")
    page.fill("#holder_name", "孙七")
    page.locator("#id_number").press_sequentially(id_card("11010819920202123"))
    assert page.locator("#certificate_serial").input_value() == w.org_cert.serial
    page.wait_for_load_state("networkidle")
    shot(page, "seal-apply")
    page.click("#seal-form button[type=submit]")  # the declaration is not ticked yet
    page.check("#declaration_accepted")
    page.click("#seal-form button[type=submit]")
    page.wait_for_url("**/my/seal?id=*")
    page.locator("#made").wait_for(state="visible")
    page.locator("#seal-title").filter(has_text="财务专用章").wait_for()
    facts = page.locator("#seal-facts").inner_text()
    assert "1101080012347" in facts and "孙七" in facts
    assert "可以使用" in facts
    page.locator("#records tbody tr").first.wait_for()
    assert page.locator("#records tbody tr").count() == 1
    assert "新申请" in page.locator("#forms").inner_text()

    # grant the new seal to the member, then withdraw it
    page.locator("#member option", has_text="孙七").wait_for(state="attached")
    page.select_option("#member", str(member.id))
    page.click("#grant-form button[type=submit]")
    granted = page.locator(f'#grants tr[data-member="{member.id}"][data-active="true"]')
    granted.wait_for()
    shot(page, "my-seal-granted")
    seal_id = int(page.url.split("id=")[1].split("&")[0])
    assert member.id in [g.member_subscriber_id for g in w.p.seals.grants(seal_id)]
    page.once("dialog", lambda d: d.accept())  # 撤销授权 asks first
    granted.locator("button").click()
    page.locator(f'#grants tr[data-member="{member.id}"][data-active="false"]').wait_for()
    assert w.p.seals.grants(seal_id) == []
    shot(page, "my-seal-withdrawn")


def test_another_organization_sees_nothing_of_it(site: Site, browser):
    w = site.world
    p = w.p
    uscc17 = "91350102MA2YX0001"
    other = p.subscribers.add_organization(
        name="厦门另一科技有限公司",
        uscc=uscc17 + uscc_check_char(uscc17),
        legal_representative="周一",
        contact_name="吴二",
        contact_phone="0592-5550000",
        phone="13200132000",
    )
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    subscriber_login(site, page, "13200132000")
    page.goto(site.url("/my/seals"))
    page.locator("#seal-list p.muted").filter(has_text="暂无印章").wait_for()
    assert w.jia.seal.es_id not in page.locator("main").inner_text()
    shot(page, "my-seals-other-organization-phone")
    page.goto(site.url(f"/my/seal?id={w.jia.seal.id}"))
    page.locator("#not-found").wait_for()
    assert w.jia.seal.es_id not in page.locator("main").inner_text()
    assert w.org.name not in page.locator("main").inner_text()
    page.goto(site.url(f"/my/certificate?serial={w.org_cert.serial}"))
    page.locator("#not-found").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for path in (
        f"/api/v1/seals/{w.jia.seal.id}",
        f"/api/v1/seals/{w.jia.seal.es_id}/grants",
        f"/api/v1/subscribers/{w.org.id}",
        f"/api/v1/subscribers/{w.member.id}",
        f"/api/v1/certificates/{w.org_cert.serial}",
    ):
        r = page.request.get(site.url(path))
        assert r.status == 404, (path, r.status)
    listed = page.request.get(site.url("/api/v1/subscribers")).json()["items"]
    assert [s["id"] for s in listed] == [other.id]
    assert page.request.get(site.url("/api/v1/seals")).json()["items"] == []
    assert not errors, errors
    ctx.close()


def test_a_name_the_seal_cannot_draw_is_said_with_what_to_do(site: Site, page):
    """An organization registered with a 43-character name (a subject holds 64) cannot have its
    seal drawn by the software (a ring holds 40): the preview says so and offers the scan,
    instead of 请填写名称 for a name that is not on the form."""
    uscc17 = "91350102MA2YX0041"
    name = "福建省" + "某" * 32 + "信息技术有限公司"
    assert len(name) == 43
    site.world.p.subscribers.add_organization(
        name=name,
        uscc=uscc17 + uscc_check_char(uscc17),
        legal_representative="周一",
        contact_name="吴二",
        contact_phone="0591-5550000",
        phone="13300133041",
    )
    subscriber_login(site, page, "13300133041")
    page.goto(site.url("/my/seals/apply"))
    status = page.locator("#preview-status")
    status.filter(has_text="2至40个字").wait_for()
    assert "印模扫描件" in status.inner_text() and "请填写名称" not in status.inner_text()
    shot(page, "seal-apply-name-too-long")


def test_renew_and_cancel_a_seal_through_the_004_form(site: Site, phone):
    """Issue 13 item 3: the seal page's 004 form (续费/变更/注销 as business types of
    ``POST /seal-applications``), prefilled from the seal, on a phone: a person renews their
    seal (the form kept with the seal, shown as the outcome), a number that is not the holder's
    is refused at the field, then the seal is cancelled through the same form."""
    from tests.integration.signing_flow import _form

    p = site.world.p
    number = id_card("11010519790909123")
    person = agreed(p, "孙七", number, "13500135010")
    app = p.certificates.apply(subscriber_id=person.id, profile="person-signing", pin="975312")
    p.certificates.pay(application_id=app.id, years=3, reference=f"T-{app.id}")
    cert = p.certificates.approve(app.id, officer="desk1", validity_years=3)  # room to renew
    seal = p.seals.create(
        subscriber_id=person.id,
        kind="personal",
        certificate_serial=cert.serial,
        form=_form("孙七", number),
    )
    page = phone.new_page()
    subscriber_login(site, page, "13500135010")
    page.goto(site.url(f"/my/seal?id={seal.id}"))
    form = page.locator("#seal-form")
    form.wait_for(state="visible")
    # prefilled from the seal; the ID number is shown masked, so the applicant types it
    assert page.locator("#f-holder").input_value() == "孙七"
    assert page.locator("#f-project").input_value() == seal.project
    assert page.locator("#f-id-type").input_value() == "id_card"
    assert (
        page.locator("#f-id-number").get_attribute("placeholder") == "110***********" + number[-4:]
    )
    page.fill("#f-id-number", number)
    assert page.locator("input[name=business_type]:checked").get_attribute("value") == "renew"
    page.select_option("#renew-years", "2")
    page.check("#f-declaration")
    page.click("#seal-form-submit")
    result = page.locator("#form-result")
    result.filter(has_text="续费").wait_for()
    assert "已办理" in result.inner_text() and seal.es_id in result.inner_text()
    page.locator("#forms tbody tr").filter(has_text="续费").wait_for()
    forms = p.seals.applications(seal.es_id)
    assert [f.business_type for f in forms][-1] == "renew"
    assert forms[-1].submitted_by == f"subscriber:{person.id}"
    assert not page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    shot(page, "seal-form-renewed-phone")

    page.check("input[name=business_type][value=cancel]")
    assert page.locator("#seal-form-submit").inner_text() == "提交注销申请"
    page.fill("#f-id-number", id_card("11010519790909456"))  # not the holder's
    page.check("#f-declaration")
    page.click("#seal-form-submit")
    error = page.locator("#seal-form .field-error")
    error.wait_for()
    assert error.inner_text() == "印章使用人信息与登记信息不一致"
    assert p.seals.get(seal.es_id).state == "active"  # refused: nothing done
    page.fill("#f-id-number", number)
    page.click("#seal-form-submit")
    result.filter(has_text="注销").wait_for()
    page.locator("#state-badge").filter(has_text="已注销").wait_for()
    assert p.seals.get(seal.es_id).state == "cancelled"
    assert [f.business_type for f in p.seals.applications(seal.es_id)][-1] == "cancel"
    assert page.locator("#seal-form").is_hidden()  # nothing more to apply for
    shot(page, "seal-form-cancelled-phone")


def test_a_phone_of_two_accounts_chooses_which_to_open(site: Site, page):
    """A person who is also the contact of an organization, both with one phone: the login
    page refused (该手机号登记了多个用户，请联系受理点) and sent no code. Now the code comes, the
    page asks which account after the code, and opens the one chosen."""
    p = site.world.p
    phone = "13500135077"
    person = p.subscribers.add_person(
        name="赵六", id_number=id_card("11010519900303123"), phone=phone
    )
    uscc17 = "91110108MA01YL007"
    org = p.subscribers.add_organization(
        name="赵六设计工作室", uscc=uscc17 + uscc_check_char(uscc17), legal_representative="赵六",
        contact_name="赵六", contact_phone=phone, phone=phone,
    )  # fmt: skip
    type_login_code(site, page, phone)
    choice = page.locator("#account-choice")
    choice.wait_for()
    assert "个人：赵六" in choice.inner_text() and "机构：赵六设计工作室" in choice.inner_text()
    assert "请选择要登录的账户" in page.locator("#login-form").inner_text()
    shot(page, "login-choose-account")
    page.check(f'#account-choice input[value="{org.id}"]')
    page.click("#login-button")
    page.wait_for_url("**/my")
    page.locator("#account-name").filter(has_text="赵六设计工作室").wait_for()
    assert person.id != org.id


def test_a_leaked_seal_pin_is_reported_changed_and_the_seal_unfrozen(site: Site, page):
    """A seal frozen because its PIN leaked (印章密码泄漏冻结) unfreezes only once the PIN has
    been changed. The seal page offered 解冻 — refused every time (请先修改印章密码再解冻) — and
    no way to report the leak or to change the PIN: the holder was stuck with a frozen seal.
    Now the page reports the leak, changes the PIN (the current one checked, the new one typed
    twice) and then unfreezes the seal."""

    p = site.world.p
    person, number, cert, seal = personal_seal(p, "钱八", "11010519820202123", "13500135020")
    subscriber_login(site, page, "13500135020")
    page.goto(site.url(f"/my/seal?id={seal.id}"))
    leak = page.locator("#leak-form")
    leak.wait_for(state="visible")
    leak.locator("button[type=submit]").click()
    page.locator("#state-badge").filter(has_text="密码泄漏冻结").wait_for()
    assert p.seals.get(seal.es_id).hold_kind == "pin_leak"
    assert leak.is_hidden()

    # unfreezing before the PIN is changed is refused, with what to do
    unfreeze = page.locator("#unfreeze-form")
    unfreeze.locator("button[type=submit]").click()
    unfreeze.locator(".form-error").filter(has_text="请先修改印章密码").wait_for()
    assert p.seals.get(seal.es_id).state == "frozen"

    pin_form = page.locator("#pin-form")
    assert pin_form.is_visible()
    # the new PIN typed twice differently: refused in the page, nothing sent
    page.fill("#pin-current", "975312")
    page.fill("#pin-new", "246802")
    page.fill("#pin-new2", "246803")
    pin_form.locator("button[type=submit]").click()
    pin_form.locator(".field-error").filter(has_text="两次输入").wait_for()
    # a wrong current PIN: refused at its field, the PIN unchanged
    page.fill("#pin-current", "000000")
    page.fill("#pin-new2", "246802")
    pin_form.locator("button[type=submit]").click()
    pin_form.locator("#pin-current[aria-invalid=true]").wait_for()
    assert "印章密码错误" in pin_form.inner_text()
    page.fill("#pin-current", "975312")
    page.fill("#pin-new", "246802")
    page.fill("#pin-new2", "246802")
    pin_form.locator("button[type=submit]").click()
    page.locator("#toast").filter(has_text="印章密码已修改").wait_for()
    assert page.locator("#pin-current").input_value() == ""  # the PINs do not stay on the page

    unfreeze.locator("button[type=submit]").click()
    page.locator("#state-badge").filter(has_text="有效").wait_for()
    assert p.seals.get(seal.es_id).state == "active"
    shot(page, "seal-pin-changed-unfrozen")


def test_a_certificate_stopped_for_unpaid_fees_is_paid_for_and_back_in_use(site: Site, page):
    """A certificate stopped for unpaid service fees (欠费停用) is released only once its fee is
    paid. The holder's page offered 解冻 — refused every time (尚未缴费，请先缴费) — and nowhere
    to pay: the certificate stayed stopped. Now the page takes the renewal fee (the amount from
    the fee schedule shown before paying) and puts the certificate back in use; a double click
    on 缴费 records one payment."""

    from tests import dbdump
    from yinxin.store.models import Payment

    p = site.world.p
    # the year paid for has passed (the certificate is valid two more): the scheduler stops it
    person, number, cert = stopped_for_fees(p, "周九", "11010519830303123", "13500135030")
    paid_before = dbdump.count(p, Payment, Payment.certificate_id == cert.id)

    subscriber_login(site, page, "13500135030")
    page.goto(site.url(f"/my/certificate?serial={cert.serial}"))
    page.locator("#status-badge").filter(has_text="欠费停用").wait_for()
    pay = page.locator("#renew-pay-form")
    pay.wait_for(state="visible")
    page.select_option("#renew-years", "2")
    page.locator("#renew-amount").filter(has_text="¥140.00").wait_for()  # 70 a year
    # the payment held until the double click is delivered: a quick one between the two clicks
    # (the test's process starved) left 缴费 on again (an active certificate is paid ahead
    # too), and the second click was a second payment the page rightly sent
    path = f"/api/v1/certificates/{cert.serial}/payments"
    let_go(page, held_while_busy(page, pay.locator("button[type=submit]"), path, "正在缴费…"))
    page.locator("#status-badge").filter(has_text="有效").wait_for()
    after = p.certificates.get(cert.serial)
    assert after.status == "active" and after.hold_kind is None
    assert after.paid_until is not None and after.paid_until > dt.datetime.now(dt.UTC)
    assert dbdump.count(p, Payment, Payment.certificate_id == cert.id) == paid_before + 1
    assert "¥140.00" in page.locator("#toast").inner_text()
    shot(page, "certificate-unpaid-paid")


def test_more_than_a_hundred_applications_are_all_reachable(site: Site, page):
    """The holder's 证书与申请 page asked for the first 100 applications of each state and the
    desk's review queue for the first 100 pending ones, and neither followed the listing's
    next page: an applicant's 101st application was not on their page, and the desk could not
    open the 101st application waiting for review (the queue is oldest first: the newest were
    the ones missing). Now the holder's page reads every page, and the queue pages on (加载更多)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    p = site.world.p
    number = id_card("11010519840404123")
    person = agreed(p, "吴十", number, "13500135040")
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "吴十")]))
        .sign(key, hashes.SHA256())
        .public_bytes(Encoding.PEM)
    )
    ids = [
        p.certificates.apply(subscriber_id=person.id, profile="person-signing", csr=csr).id
        for _ in range(105)
    ]

    subscriber_login(site, page, "13500135040")
    page.goto(site.url("/my/certificates"))
    page.locator(f"#applications tr[data-application='{ids[-1]}']").wait_for()
    assert page.locator("#applications tbody tr[data-application]").count() == 105

    page.context.clear_cookies()
    staff_login(site, page)
    page.goto(site.url("/desk/applications"))
    last = page.locator(f"#queue tr[data-application='{ids[-1]}']")
    page.locator(f"#queue tr[data-application='{ids[0]}']").wait_for()
    more = page.locator("#more")
    for _ in range(10):
        if last.count():
            break
        more.click()
        page.wait_for_timeout(300)
    last.wait_for()
    last.locator("button").click()
    page.locator("#detail").wait_for(state="visible")
    assert str(ids[-1]) in page.locator("#documents").inner_text()


def test_a_renewed_certificate_points_to_its_renewal(site: Site, page):
    """A renewed certificate stays active beside its renewal until its own end, but only the
    renewal is paid for or renewed again. Its page said nothing of the renewal and offered
    缴纳服务费, refused (in English, in brackets: "was already renewed as …; pay for that one").
    Now the page says 已续期 with a link to the renewal, and takes no fee for it."""
    p = site.world.p
    person, number, old = certified(p, "郑十一", "11010519850505123", "13500135050")
    p.certificates.pay(serial=old.serial, years=1, reference="R-1")
    new = p.certificates.renew(old.serial, actor="desk1").certificate

    subscriber_login(site, page, "13500135050")
    page.goto(site.url(f"/my/certificate?serial={old.serial}"))
    notice = page.locator("#renewed")
    notice.wait_for(state="visible")
    assert "已续期" in notice.inner_text()
    link = notice.locator("a")
    assert link.get_attribute("href") == f"/my/certificate?serial={new.serial}"
    assert page.locator("#renew-pay-form").is_hidden()
    link.click()
    page.wait_for_url(f"**/my/certificate?serial={new.serial}")
    page.locator("#renew-pay-form").wait_for(state="visible")
    assert page.locator("#renewed").is_hidden()


def test_the_certificate_page_without_a_serial_or_a_session(site: Site, page):
    """/my/certificate with no serial (a link cut off) asked the API for /certificates/, which
    redirects to the listing, and showed the listing as a certificate: an empty record with its
    download buttons. And a download refused — the session ended meanwhile — did nothing at all
    (the refusal was thrown in the click handler, unseen). Now the page says 未找到该证书, and a
    download after the session ended goes to the login page, coming back to the certificate."""
    from sqlalchemy import select

    from yinxin.store.models.access import WebSession

    p = site.world.p
    serial = certified(p, "陈十三", "11010519870707123", "13500135070")[2].serial

    subscriber_login(site, page, "13500135070")
    page.goto(site.url("/my/certificate"))
    page.locator("#not-found").filter(has_text="未找到该证书").wait_for()
    assert not page.locator("[data-download]").count()

    page.goto(site.url(f"/my/certificate?serial={serial}"))
    page.locator("#cert-facts").filter(has_text=serial).wait_for()
    with p.db.transaction() as s:
        for row in s.execute(select(WebSession).where(WebSession.revoked_at.is_(None))).scalars():
            row.last_seen_at -= dt.timedelta(hours=1)
    page.click("[data-download=pem]")
    page.wait_for_url("**/login?*")
    assert "expired=1" in page.url and serial in page.url


def test_a_freeze_the_ca_imposed_is_not_offered_to_the_holder_to_lift(site: Site, page):
    """A certificate and a seal frozen by the desk (认证机构冻结: a court order, suspected
    misuse) are lifted by the desk only. The holder's pages offered 解冻, which lifted it; now
    they say 由认证机构冻结，请联系受理点 and offer no 解冻 — a freeze the holder asked for still
    is."""

    p = site.world.p
    person, number, cert, seal = personal_seal(p, "冯十二", "11010519860606123", "13500135060")
    p.seals.freeze(seal.id, actor="desk1", note="涉嫌冒用")
    p.certificates.freeze(cert.serial, actor="desk1", note="法院协助冻结")
    subscriber_login(site, page, "13500135060")
    page.goto(site.url(f"/my/certificate?serial={cert.serial}"))
    page.locator("#ca-hold").filter(has_text="由认证机构冻结，请联系受理点").wait_for()
    assert page.locator("#unfreeze-form").is_hidden()
    page.goto(site.url(f"/my/seal?id={seal.id}"))
    page.locator("#ca-hold").filter(has_text="由认证机构冻结，请联系受理点").wait_for()
    assert page.locator("#unfreeze-form").is_hidden()
    shot(page, "seal-frozen-by-ca")
    # lifted by the desk, frozen again by the holder: the holder may lift it
    p.seals.unfreeze(seal.id, actor="desk1")
    page.reload()
    freeze = page.locator("#freeze-form")
    freeze.wait_for(state="visible")
    freeze.locator("button[type=submit]").click()
    unfreeze = page.locator("#unfreeze-form")
    unfreeze.wait_for(state="visible")
    assert page.locator("#ca-hold").is_hidden()
    assert p.seals.get(seal.es_id).hold_by == "holder"
    unfreeze.locator("button[type=submit]").click()
    freeze.wait_for(state="visible")
    assert p.seals.get(seal.es_id).state == "active"


def test_a_grant_is_withdrawn_only_once_confirmed_and_a_race_is_said(site: Site, page):
    """用印授权 on the organization's contract seal. A grant made meanwhile elsewhere (another
    administrator) is refused at the member field in Chinese and then shown in the list; the
    grant's 说明 is listed; 撤销授权 asks first (dismissed: nothing is withdrawn, no request is
    sent) and says it is working; a grant withdrawn elsewhere meanwhile is said and the list
    shows it withdrawn, not a live button. Before, one tap withdrew at once, the note was not
    shown, and after a refusal the page went on showing the grant as live."""
    from tests.e2e.test_web_signing import codes_a_minute_ago

    w = site.world
    p = w.p
    seal = w.jia.seal  # the organization's contract seal, granted to 王五 already
    first = p.subscribers.add_person(
        name="欧阳青",
        id_number=id_card("44030519930315123"),
        phone="15800158011",
        organization_id=w.org.id,
    )
    second = p.subscribers.add_person(
        name="司马兰",
        id_number=id_card("44030519940416123"),
        phone="15800158012",
        organization_id=w.org.id,
    )
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.url) if "/withdraw" in r.url else None)
    codes_a_minute_ago(site, w.org.id)  # the organization logged in a test ago
    subscriber_login(site, page, "13900139000")
    page.goto(site.url(f"/my/seal?id={seal.id}"))
    page.locator("#member option", has_text="欧阳青").wait_for(state="attached")

    # granted meanwhile by someone else: refused at the member field, then listed
    page.select_option("#member", str(first.id))
    page.fill("#grant-note", "仅限采购合同")
    p.seals.grant(seal.es_id, first.id, actor=w.org.name, note="另一位管理员授权")
    page.click("#grant-form button[type=submit]")
    refused = page.locator("#grant-form .field-error")
    refused.wait_for()
    assert refused.inner_text() == "已授权该成员使用此印章"
    row = page.locator(f'#grants tr[data-member="{first.id}"][data-active="true"]')
    row.wait_for()
    assert "另一位管理员授权" in row.inner_text()
    assert len([g for g in p.seals.grants(seal.id) if g.member_subscriber_id == first.id]) == 1

    # a grant made here, its note listed
    page.select_option("#member", str(second.id))
    page.fill("#grant-note", "仅限采购合同")
    page.click("#grant-form button[type=submit]")
    mine = page.locator(f'#grants tr[data-member="{second.id}"][data-active="true"]')
    mine.wait_for()
    assert "仅限采购合同" in mine.inner_text()

    # 撤销授权 asks first: dismissed, nothing sent and the grant stays
    asked: list[str] = []

    def dismiss(d) -> None:
        asked.append(d.message)
        d.dismiss()

    page.once("dialog", dismiss)
    mine.locator("button").click()
    page.wait_for_timeout(300)
    assert asked and "司马兰" in asked[0] and seal.es_id in asked[0]
    assert calls == []
    assert second.id in [g.member_subscriber_id for g in p.seals.grants(seal.id)]
    assert mine.locator("button").is_enabled()

    # confirmed: withdrawn, the row says by whom
    page.once("dialog", lambda d: d.accept())
    mine.locator("button").click()
    gone = page.locator(f'#grants tr[data-member="{second.id}"][data-active="false"]')
    gone.wait_for()
    assert "本账户" in gone.inner_text() and len(calls) == 1
    assert second.id not in [g.member_subscriber_id for g in p.seals.grants(seal.id)]

    # withdrawn elsewhere meanwhile: said, and the list shows it withdrawn
    p.seals.withdraw(seal.es_id, first.id, actor=w.org.name)
    page.once("dialog", lambda d: d.accept())
    row.locator("button").click()
    page.locator("#toast").filter(has_text="该成员没有此印章的使用授权").wait_for()
    page.locator(f'#grants tr[data-member="{first.id}"][data-active="true"]').wait_for(
        state="detached"
    )
    assert w.jia.id in [g.member_subscriber_id for g in p.seals.grants(seal.id)]
    shot(page, "my-seal-grant-withdrawn-elsewhere")


def test_a_grant_with_an_end_and_a_number_of_signings_from_the_seal_page(site: Site, page):
    """用印授权 with 授权期限 and 用印次数 set on /my/seal: a wrong number, an end in the past or
    after the seal's end is said at its field in Chinese and nothing is granted; a good one is
    listed with its end and 剩余 2 次（共 2 次）. Before, the form had neither field and every
    grant lasted until withdrawn."""
    from tests.e2e.test_web_signing import codes_a_minute_ago

    w = site.world
    p = w.p
    seal = w.jia.seal
    member = p.subscribers.add_person(
        name="上官岚",
        id_number=id_card("44030519970718123"),
        phone="15800158027",
        organization_id=w.org.id,
    )
    codes_a_minute_ago(site, w.org.id)
    subscriber_login(site, page, "13900139000")
    page.goto(site.url(f"/my/seal?id={seal.id}"))
    page.locator("#member option", has_text="上官岚").wait_for(state="attached")
    # a time as the browser's datetime-local field takes it, in the browser's own zone
    local = "(iso) => { const x = new Date(iso); return new Date(x.getTime() - x.getTimezoneOffset() * 60e3).toISOString().slice(0, 16); }"  # noqa: E501
    seal_end = p.seals.get(seal.id).valid_end

    def refused(until: str, uses: str, field: str, says: str) -> None:
        page.select_option("#member", str(member.id))
        page.fill("#grant-until", until)
        page.fill("#grant-uses", uses)
        page.click("#grant-form button[type=submit]")
        error = page.locator(f"#err-{field}")
        error.wait_for()
        assert says in error.inner_text(), error.inner_text()
        assert member.id not in [g.member_subscriber_id for g in p.seals.grants(seal.id)]

    refused("", "0", "max_uses", "用印次数须为不小于1的整数")
    refused("", "1.5", "max_uses", "用印次数须为不小于1的整数")
    refused("2020-01-01T00:00", "2", "valid_until", "授权期限须晚于当前时间")
    late = page.evaluate(local, (seal_end + dt.timedelta(days=2)).isoformat())
    refused(late, "2", "valid_until", "授权期限不能晚于印章有效期截止时间")

    until = page.evaluate(local, (seal_end - dt.timedelta(days=1)).isoformat())
    page.select_option("#member", str(member.id))
    page.fill("#grant-until", until)
    page.fill("#grant-uses", "2")
    page.click("#grant-form button[type=submit]")
    row = page.locator(f'#grants tr[data-member="{member.id}"][data-active="true"]')
    row.wait_for()
    assert "剩余 2 次（共 2 次）" in row.locator('[data-col="uses"]').inner_text()
    assert row.locator('[data-col="until"]').inner_text().startswith("至 ")
    assert row.locator('[data-col="state"]').inner_text() == "有效"
    (g,) = [g for g in p.seals.grants(seal.id) if g.member_subscriber_id == member.id]
    assert g.max_uses == 2 and g.valid_until is not None
    assert abs(g.valid_until - (seal_end - dt.timedelta(days=1))) < dt.timedelta(minutes=1)
    shot(page, "my-seal-grant-limited")


def test_a_holder_revoking_for_key_compromise_is_told_of_the_certificates_revoked_with_it(
    site: Site, page
):
    """A holder's certificate and another subscriber's were issued for the same key. Revoking
    one for key compromise on /my/certificate also revokes the other (``same_key_revoked``),
    but the page asked nothing beyond its checkbox and said only 证书已吊销. Now the revocation
    asks first — saying, for a compromised key only, that every certificate of the key, anyone's,
    goes with it — and then names the other certificates revoked with it."""
    w = site.world
    p = w.p
    person = agreed(p, "卫十五", id_card("11010519890909123"), "13500135090")
    mine, theirs = one_key_two_holders(p, person.id, w.org.id)
    asked = decline_then_accept(page)
    subscriber_login(site, page, "13500135090")
    page.goto(site.url(f"/my/certificate?serial={mine.serial}"))
    form = page.locator("#revoke-form")
    form.wait_for(state="visible")
    page.select_option("#reason", "no_longer_needed")
    page.check("#revoke-confirm")
    form.locator("button[type=submit]").click()
    page.wait_for_function("() => !document.querySelector('#revoke-form button').disabled")
    assert len(asked) == 1 and f"确定吊销证书 {mine.serial}" in asked[0], asked
    assert "一并吊销" not in asked[0], asked[0]
    assert p.certificates.get(mine.serial).status == "active"  # declined: nothing done

    page.select_option("#reason", "key_compromise")
    form.locator("button[type=submit]").click()
    notice = page.locator("#same-key-revoked")
    notice.wait_for(state="visible")
    assert len(asked) == 2 and "使用同一密钥的所有其他有效证书（包括其他用户的）" in asked[1], asked
    assert notice.inner_text() == f"同一密钥的其他证书已一并吊销：{theirs.serial}"
    assert theirs.serial in page.locator("#toast").inner_text()
    assert "已吊销" in page.locator("#status-badge").inner_text()
    shot(page, "my-certificate-key-compromise-same-key")
    assert p.certificates.get(mine.serial).revocation_reason == "key_compromise"
    assert p.certificates.get(theirs.serial).status == "revoked"


def test_a_field_of_a_hidden_section_does_not_stop_the_form(site: Site, page):
    """A PIN begun (three digits: too short) and then the CSR chosen instead: the PIN's
    section is hidden, but the form's own check still stopped on the PIN — its message written
    inside the hidden section, the focus going nowhere — so 提交申请 did nothing and said
    nothing. A field of a hidden section is out of play now: the application goes in with the
    CSR. A needed control hidden itself (a file input behind its label) is still checked, said
    at its field, which is shown."""
    from tests.integration.test_ca_lifecycle import make_csr

    p = site.world.p
    number = id_card("11010519770707123")
    person = agreed(p, "郑九", number, "13700137071")
    subscriber_login(site, page, "13700137071")
    page.goto(site.url("/my/apply"))
    page.locator("#apply-form button[type=submit]:enabled").wait_for()
    page.fill("#pin", "123")
    page.check("input[name=key_mode][value=csr]")
    assert page.locator("#pin").is_hidden()
    page.fill("#csr", make_csr().decode())
    page.click("#apply-form button[type=submit]")
    page.locator("#pay-form").wait_for(state="visible")
    [app] = [a for a in p.certificates.applications() if a.subscriber_id == person.id]
    assert app.key_mode == "csr"
    # a required control the page hides itself (its field shown): still checked, said there
    page.goto(site.url("/my/apply"))
    page.locator("#apply-form button[type=submit]:enabled").wait_for()
    page.evaluate(
        """() => { const f = document.getElementById("csr-file");
                   f.required = true; f.name = "csr_file"; }"""
    )
    page.check("input[name=key_mode][value=csr]")
    page.fill("#csr", make_csr().decode())
    page.click("#apply-form button[type=submit]")
    said = page.locator("#apply-form .field-error").filter(has_text="请选择")
    said.wait_for(state="visible")
    assert page.locator("#pay-form").is_hidden()


def test_a_field_of_a_hidden_section_is_not_sent(site: Site, page):
    """A form's fields reached its script (bindForm's ``data``) with those of a hidden section
    too: a PIN typed and then 自备密钥 chosen was still in what the page had to send, and a page
    passing the fields on (as registration does) would have sent it, unseen. Now a hidden
    section's fields are left out (``formFields``), as they are left unchecked; shown again,
    they are sent again, with what was typed. On /my/apply the application goes with the CSR
    and no PIN."""
    from tests.integration.test_ca_lifecycle import make_csr

    agreed(site.world.p, "冯十七", id_card("11010519750505123"), "13700137075")
    subscriber_login(site, page, "13700137075")
    page.goto(site.url("/my/apply"))
    page.locator("#apply-form button[type=submit]:enabled").wait_for()
    # what bindForm gives a page's submit, for a form with the same sections as this one
    got = page.evaluate(
        """async () => {
            const { bindForm } = await import("/static/api.js");
            const form = document.createElement("form");
            form.innerHTML = `
              <div class="field"><input name="name" value="冯十七"></div>
              <div id="t-pin-fields">
                <div class="field"><input name="pin" type="password"></div>
              </div>
              <div id="t-csr-fields" hidden>
                <div class="field"><textarea name="csr"></textarea></div>
              </div>
              <button type="submit">提交</button>`;
            document.querySelector("main").append(form);
            const sent = [];
            bindForm(form, { submit: (data) => { sent.push(data); return null; } });
            const send = async () => {
              form.requestSubmit();
              await new Promise((r) => setTimeout(r, 50));
            };
            form.elements.pin.value = "123456";
            form.elements.csr.value = "CSR";
            document.getElementById("t-pin-fields").hidden = true;  // 自备密钥 chosen
            document.getElementById("t-csr-fields").hidden = false;
            await send();
            document.getElementById("t-pin-fields").hidden = false;  // and back
            document.getElementById("t-csr-fields").hidden = true;
            await send();
            const disabled = [...form.elements].filter((c) => c.disabled).length;
            form.remove();
            return { sent, disabled };
        }"""
    )
    assert got["sent"] == [{"name": "冯十七", "csr": "CSR"}, {"name": "冯十七", "pin": "123456"}]
    assert got["disabled"] == 0  # the fields left out are usable as before

    # the page itself: a PIN typed, then the CSR chosen — the request carries no PIN
    bodies: list[str] = []
    page.on(
        "request",
        lambda r: (
            r.method == "POST"
            and r.url.endswith("/api/v1/applications")
            and bodies.append(r.post_data or "")
        ),
    )
    page.fill("#pin", "135790")
    page.fill("#pin2", "135790")
    page.check("input[name=key_mode][value=csr]")
    page.fill("#csr", make_csr().decode())
    page.click("#apply-form button[type=submit]")
    page.locator("#pay-form").wait_for(state="visible")
    assert len(bodies) == 1
    sent = json.loads(bodies[0])
    assert "csr" in sent and "pin" not in sent and "135790" not in bodies[0]


def test_a_holder_reporting_a_loss_is_told_what_it_does_to_the_other_certificates(site: Site, page):
    """A loss report holds the holder's own other certificates of the key (a renewal keeps it)
    and not another subscriber's — whose certificate stays in force while the key gets no new
    one, and is revoked with the rest by a reissue or a key-compromise revocation. The page
    said none of it: no question, and only 已挂失，证书已暂停使用. Now it asks first, saying
    so, and then names the certificates held with it (``same_key_held``); and 解除挂失 names
    those it released with it (``same_key_released``)."""
    w = site.world
    p = w.p
    person = agreed(p, "蒋十六", id_card("11010519680303123"), "13500135068")
    mine, theirs = one_key_two_holders(p, person.id, w.org.id)
    p.certificates.pay(serial=mine.serial, years=1)
    renewal = p.certificates.renew(mine.serial, actor="蒋十六").certificate
    asked = decline_then_accept(page)
    subscriber_login(site, page, "13500135068")
    page.goto(site.url(f"/my/certificate?serial={mine.serial}"))
    form = page.locator("#loss-form")
    form.wait_for(state="visible")
    assert "同一密钥的其他证书一并暂停" in form.inner_text()
    form.locator("button[type=submit]").click()
    page.wait_for_function("() => !document.querySelector('#loss-form button').disabled")
    assert len(asked) == 1 and f"确定挂失证书 {mine.serial}" in asked[0], asked
    assert "其他用户使用同一密钥的证书不会暂停" in asked[0]
    assert "包括其他用户的" in asked[0]  # what a reissue or compromise revocation then does
    assert p.certificates.get(mine.serial).status == "active"  # declined: nothing done

    form.locator("button[type=submit]").click()
    notice = page.locator("#same-key-held")
    notice.wait_for(state="visible")
    assert len(asked) == 2
    assert f"同一密钥的其他证书已一并挂失暂停：{renewal.serial}" in notice.inner_text()
    assert "其他用户使用同一密钥的证书未暂停" in notice.inner_text()
    assert renewal.serial in page.locator("#toast").inner_text()
    page.locator("#status-badge").filter(has_text="已挂失").wait_for()
    shot(page, "my-certificate-loss-same-key")
    assert p.certificates.get(renewal.serial).hold_kind == "lost"
    assert p.certificates.get(theirs.serial).status == "active"

    # the medium found: 解除挂失 said only 已解除挂失, not that the renewal held with the
    # loss was released with it. Now it names it (same_key_released), and the held notice goes
    restore = page.locator("#restore-form")
    restore.wait_for(state="visible")
    restore.locator("button[type=submit]").click()
    released = page.locator("#same-key-released")
    released.wait_for(state="visible")
    assert released.inner_text() == f"同一密钥的其他证书已一并解除挂失：{renewal.serial}"
    assert page.locator("#same-key-held").is_hidden()
    assert renewal.serial in page.locator("#toast").inner_text()
    assert "已解除挂失" in page.locator("#toast").inner_text()
    page.locator("#status-badge").filter(has_text="有效").wait_for()
    shot(page, "my-certificate-restore-same-key")
    assert p.certificates.get(renewal.serial).status == "active"
    assert len(asked) == 2  # a restore asks nothing
