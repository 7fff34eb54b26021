"""The holder's 联系方式 page (/my/contact) changes the registered mobile phone and the e-mail,
in headless Chromium against the real server. The API had the change (PATCH
/subscribers/{id}: a holder's own new phone with a code sent to the registered phone and one to
the new phone) and no page offered it: a holder had to use curl. A refused code is said at its
field naming the phone it was sent to; a holder with no registered mobile phone is sent to the
desk. People, ID numbers and phones here are used by no other e2e test."""

from __future__ import annotations

from sqlalchemy import update

from tests.codes import wrong_code
from tests.e2e.conftest import Site, shot, unlabeled
from tests.e2e.test_web_loading import held_while_busy, let_go
from tests.e2e.test_web_selfservice import subscriber_login
from tests.e2e.test_web_signing import codes_a_minute_ago
from tests.integration.api_world import id_card
from tests.integration.signing_flow import outbox_lines, read_code
from yinxin.identity import uscc_check_char
from yinxin.store.models import Subscriber


def field_error(page, form: str, name: str) -> str:
    """The Chinese message shown under the field ``name`` of ``form``."""
    msg = page.locator(f"#{form} #err-{name}")
    msg.wait_for()
    return msg.inner_text()


def test_a_holder_changes_the_phone_with_both_codes_a_wrong_one_named(site: Site, page):
    """The current phone is shown masked; 确认更换 before 获取验证码 asks for the codes; 获取验证码
    sends one code to the registered phone and one to the new one (nothing changed yet); a wrong
    code is said at its field naming WHICH phone's code it was (原手机号 / 新手机号), nothing
    changed; both right codes change the number, shown masked."""
    p = site.world.p
    old, new = "15848158501", "15848158502"
    person = p.subscribers.add_person(
        name="何二十三", id_number=id_card("11010519720404123"), phone=old
    )
    subscriber_login(site, page, old)
    page.click("nav.subnav >> text=联系方式")
    page.wait_for_url("**/my/contact")
    form = page.locator("#phone-form")
    form.wait_for(state="visible")
    assert "158****8501" in page.locator("#contact-facts").inner_text()
    assert old not in page.content()
    assert page.locator("#phone-at-desk").is_hidden()
    assert unlabeled(page) == []

    # 确认更换 without the codes: asked for them first, nothing sent
    page.fill("#new-phone", new)
    before = outbox_lines(site.world.outbox)
    form.locator("button[type=submit]").click()
    assert "获取验证码" in field_error(page, "phone-form", "current_phone_code")
    assert outbox_lines(site.world.outbox) == before

    codes_a_minute_ago(site, person.id)  # the login code was sent a moment ago
    page.click("#phone-send-codes")
    page.locator("#phone-sent-to").filter(has_text="158****8502").wait_for()
    assert "原手机号 158****8501" in page.locator("#phone-sent-to").inner_text()
    current = read_code(site.world.outbox, old, after=before)
    sent = read_code(site.world.outbox, new, after=before)
    assert p.subscribers.get(person.id, reveal=True).phone == old

    # a wrong code to the registered phone: said at its field, naming the registered phone
    page.fill("#current-phone-code", wrong_code(current))
    page.fill("#new-phone-code", sent)
    form.locator("button[type=submit]").click()
    said = field_error(page, "phone-form", "current_phone_code")
    assert said.startswith("原手机号的验证码错误"), said
    assert "还可尝试" in said
    assert page.locator("#phone-form #err-phone_code").count() == 0
    assert p.subscribers.get(person.id, reveal=True).phone == old
    shot(page, "contact-wrong-current-code")

    # a wrong code to the new phone: said at its own field, naming the new phone
    page.fill("#current-phone-code", current)
    page.fill("#new-phone-code", wrong_code(sent))
    form.locator("button[type=submit]").click()
    said = field_error(page, "phone-form", "phone_code")
    assert said.startswith("新手机号的验证码错误"), said
    assert page.locator("#phone-form #err-current_phone_code").count() == 0
    assert p.subscribers.get(person.id, reveal=True).phone == old

    # both right: changed, shown masked, the form emptied
    page.fill("#new-phone-code", sent)
    form.locator("button[type=submit]").click()
    page.locator("#toast").filter(has_text="手机号已更换为 158****8502").wait_for()
    assert p.subscribers.get(person.id, reveal=True).phone == new
    assert "158****8502" in page.locator("#contact-facts").inner_text()
    assert page.input_value("#new-phone") == ""
    shot(page, "contact-phone-changed")


def test_a_holder_changes_then_removes_the_e_mail(site: Site, page):
    """The e-mail is shown and prefilled; a malformed one is refused in Chinese at the field; a
    new one took effect at once (an address nobody reads, or a typo, took the notices): now
    获取验证码 sends a code to the new address and nothing changes until it is typed — a wrong
    one is said at its field, 新邮箱的验证码错误, nothing changed —, the right one saves it;
    删除电子邮箱 removes it at once (the API's ``"email": ""``), 未登记 shown and the button
    gone."""
    p = site.world.p
    person = p.subscribers.add_person(
        name="吕二十四",
        id_number=id_card("11010519720505123"),
        phone="15848158503",
        email="lv@old.example.cn",
    )
    subscriber_login(site, page, "15848158503")
    page.goto(site.url("/my/contact"))
    form = page.locator("#email-form")
    form.wait_for(state="visible")
    assert page.input_value("#email") == "lv@old.example.cn"
    assert "lv@old.example.cn" in page.locator("#contact-facts").inner_text()

    page.fill("#email", "lv@")
    page.click("#email-save")
    assert "电子邮箱" in field_error(page, "email-form", "email")
    assert p.subscribers.get(person.id).email == "lv@old.example.cn"

    codes_a_minute_ago(site, person.id)  # the login code was sent a moment ago
    before = outbox_lines(site.world.mailbox)
    page.fill("#email", "lv@new.example.cn")
    page.click("#email-save")
    page.locator("#email-sent-to").filter(has_text="l***@new.example.cn").wait_for()
    assert page.locator("#email-code-field").is_visible()
    assert page.locator("#email-save").inner_text() == "确认更换"
    code = read_code(site.world.mailbox, "lv@new.example.cn", after=before)
    assert p.subscribers.get(person.id).email == "lv@old.example.cn"
    assert unlabeled(page) == []

    page.fill("#email-code", wrong_code(code))
    page.click("#email-save")
    said = field_error(page, "email-form", "email_code")
    assert said.startswith("新邮箱的验证码错误"), said
    assert p.subscribers.get(person.id).email == "lv@old.example.cn"
    shot(page, "contact-wrong-email-code")

    page.fill("#email-code", code)
    page.click("#email-save")
    page.locator("#toast").filter(has_text="电子邮箱已更新").wait_for()
    assert p.subscribers.get(person.id).email == "lv@new.example.cn"
    assert page.locator("#email-code-field").is_hidden()

    page.click("#email-remove")
    page.locator("#toast").filter(has_text="电子邮箱已删除").wait_for()
    assert p.subscribers.get(person.id).email is None
    assert "电子邮箱未登记" in page.locator("#contact-facts").inner_text().replace("\n", "")
    assert page.locator("#email-remove").is_hidden()
    assert page.input_value("#email") == ""
    shot(page, "contact-email-removed")


def test_a_holder_without_a_registered_mobile_is_sent_to_the_desk(site: Site, page):
    """An organization whose mobile phone is no longer on the record (the session still open)
    asks for the codes: the API's 403 ``phone_change_at_desk`` is said in Chinese at the phone
    field — go to the desk —; loaded again, the page offers no phone change and says so."""
    p = site.world.p
    uscc17 = "91350102MA2YX0023"
    org = p.subscribers.add_organization(
        name="福州联系方式测试有限公司",
        uscc=uscc17 + uscc_check_char(uscc17),
        legal_representative="施一",
        contact_name="孔二",
        contact_phone="0591-5550023",
        phone="15848158504",
    )
    subscriber_login(site, page, "15848158504")
    page.goto(site.url("/my/contact"))
    page.locator("#phone-form").wait_for(state="visible")
    with p.db.transaction() as s:
        s.execute(update(Subscriber).where(Subscriber.id == org.id).values(phone=None))

    codes_a_minute_ago(site, org.id)
    page.fill("#new-phone", "15848158505")
    page.click("#phone-send-codes")
    said = field_error(page, "phone-form", "phone")
    assert "请到受理点办理" in said, said

    page.reload()
    notice = page.locator("#phone-at-desk")
    notice.wait_for(state="visible")
    assert "请到受理点办理" in notice.inner_text()
    assert page.locator("#phone-form").is_hidden()
    assert "未登记" in page.locator("#contact-facts").inner_text()
    # its notices go by e-mail: not offered for removal
    assert page.locator("#email-remove").is_hidden()
    assert "不能删除" in page.locator("#email-hint").inner_text()
    shot(page, "contact-phone-at-desk")


def test_an_email_given_at_registration_is_registered_once_its_code_is_typed(site: Site, page):
    """注册 took the e-mail address typed on the form's word: an address nobody proved stood as
    the holder's. Now the registration opens the session without it and a third step,
    验证电子邮箱, asks for the code the API sent to the address: a wrong one is said at 邮箱验证码
    (nothing registered), the right one registers the address and goes on to the agreement."""
    p, phone, address = site.world.p, "15848158590", "zhou@reg.example.cn"
    page.goto(site.url("/register"))
    page.fill("#phone", phone)
    before = outbox_lines(site.world.outbox)
    page.click("#send-code")
    page.locator("#person-form").wait_for(state="visible")
    page.fill("#p-code", read_code(site.world.outbox, phone, after=before))
    page.fill("#p-name", "周二十六")
    page.fill("#p-id-number", id_card("11010519740707123"))
    page.fill("#p-email", address)
    mark = outbox_lines(site.world.mailbox)
    page.click("#person-form button[type=submit]")
    form = page.locator("#email-form")
    form.wait_for(state="visible")
    assert page.locator("#person-form").is_hidden() and page.locator("#phone-form").is_hidden()
    said = page.locator("#email-sent-to").inner_text()
    assert "z***@reg.example.cn" in said and "验证通过后" in said, said
    [sub] = [s for s in p.subscribers.list() if s.name == "周二十六"]
    assert sub.email is None  # not registered on the form's word
    # signed in already: the header says who, not 用户登录
    page.locator("#account-name").filter(has_text="周二十六").wait_for()
    assert page.locator("#login-link").is_hidden()
    assert page.locator("#logout").is_visible() and page.locator("#account-home").is_visible()
    code = read_code(site.world.mailbox, address, after=mark)
    shot(page, "register-email-code")

    page.fill("#e-code", wrong_code(code))
    page.click("#email-confirm")
    assert field_error(page, "email-form", "email_code").startswith("邮箱验证码错误")
    assert p.subscribers.get(sub.id).email is None

    page.fill("#e-code", code)
    page.click("#email-confirm")
    page.wait_for_url("**/my/agreement")
    assert p.subscribers.get(sub.id).email == address


def test_a_double_click_on_resend_sends_one_email_code(site: Site, page):
    """注册's 重新发送验证码 sent a PATCH on every click while the last was still running: a
    double click sent two requests, the second refused as too frequent, so the page said
    操作过于频繁 over a code that had just been sent. Now the button is off while its request
    runs: one request, one code, said as sent."""
    p, phone, address = site.world.p, "15848158591", "qian@reg.example.cn"
    page.goto(site.url("/register"))
    page.fill("#phone", phone)
    before = outbox_lines(site.world.outbox)
    page.click("#send-code")
    page.locator("#person-form").wait_for(state="visible")
    page.fill("#p-code", read_code(site.world.outbox, phone, after=before))
    page.fill("#p-name", "钱二十七")
    page.fill("#p-id-number", id_card("11010519740808123"))
    page.fill("#p-email", address)
    page.click("#person-form button[type=submit]")
    page.locator("#email-form").wait_for(state="visible")
    [sub] = [s for s in p.subscribers.list() if s.name == "钱二十七"]
    codes_a_minute_ago(site, sub.id)  # the registration's code was sent a moment ago

    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.method) if r.method == "PATCH" else None)
    mark = outbox_lines(site.world.mailbox)
    # held until the double click is delivered: a quick answer could come back between the
    # two clicks (the test's process starved), and the second was then a resend rightly sent
    path = f"/api/v1/subscribers/{sub.id}"
    held = held_while_busy(page, page.locator("#email-resend"), path, "正在发送…")
    with page.expect_response(lambda r: r.request.method == "PATCH"):
        let_go(page, held)
    page.locator("#toast").filter(has_text="验证码已重新发送").wait_for()
    assert sent == ["PATCH"]
    assert "验证码已重新发送" in page.locator("#toast").inner_text()
    assert read_code(site.world.mailbox, address, after=mark)
    assert outbox_lines(site.world.mailbox) == mark + 1
