"""The holder's certificate page renews (续期), rekeys (更新密钥) and reissues (补办) a
certificate, in headless Chromium against the real server. The API had the three verbs
(POST /certificates/{serial}/renew|rekey|reissue) and the page none of them: a holder had to use
curl. Each form is offered only when the API would accept it, asks for the PIN of the new key
and a confirmation before the old certificate is revoked, and shows the new certificate's serial
and validity once issued. People, ID numbers and phones here are used by no other e2e test."""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives.serialization import Encoding
from playwright.sync_api import expect

from tests.clear_text import in_clear
from tests.e2e.conftest import Site, shot
from tests.e2e.test_web_selfservice import (
    certified,
    personal_seal,
    report_lost,
    reported_lost_on_my_page,
    stopped_for_fees,
    subscriber_login,
)
from tests.e2e.test_web_signing import codes_a_minute_ago
from tests.integration.api_world import id_card
from tests.integration.signing_flow import outbox_lines, read_code

NEW_PIN = "864208"
OLD_PIN = "975312"  # the PIN ``certified`` applied with


def send_code(site: Site, page, verb: str, person_id: int, phone: str) -> None:
    """发送验证码 on the ``verb`` form (its PINs or CSR and its confirmation filled): the code
    sent by SMS to the registered phone, typed into 短信验证码."""
    codes_a_minute_ago(site, person_id)  # the login code was sent a moment ago
    before = outbox_lines(site.world.outbox)
    page.click(f"#{verb}-send-code")
    page.locator(f"#{verb}-sent-to").filter(has_text=f"验证码已发送至 {phone[:3]}****").wait_for()
    page.fill(f"#{verb}-code", read_code(site.world.outbox, phone, after=before))


def successors_of(p, cert_id: int) -> list:
    from sqlalchemy import select

    from yinxin.store.models import Certificate

    with p.db.read() as s:
        return list(
            s.execute(select(Certificate.serial_hex).where(Certificate.predecessor_id == cert_id))
            .scalars()
            .all()
        )


def public_key(c) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    cert = x509.load_pem_x509_certificate(c.pem.encode())
    return cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def lost_while_unpaid(p, name: str, id17: str, phone: str) -> tuple:
    """``stopped_for_fees``, then reported lost by its holder."""
    person, number, cert = stopped_for_fees(p, name, id17, phone)
    p.certificates.report_loss(cert.serial, actor=name)
    return person, number, cert


def test_a_holder_pays_then_renews_and_sees_the_new_certificate(site: Site, page):
    """Renewing needs the service paid beyond the certificate's end: until then the page says
    so with the fee from the fee schedule (no 续期 button); paid, 续期 issues the renewal —
    same key, valid to the paid-until date — shown with its serial and validity; the old
    certificate stays in force and offers nothing more."""
    p = site.world.p
    person, number, cert = certified(p, "蒋二十一", "11010519720202123", "15848158401")

    subscriber_login(site, page, "15848158401")
    page.goto(site.url(f"/my/certificate?serial={cert.serial}"))
    unpaid = page.locator("#renew-unpaid")
    unpaid.wait_for(state="visible")
    unpaid.filter(has_text="¥70.00").wait_for()  # 1 year at 70 a year
    assert "至少缴费 1 年" in unpaid.inner_text()
    assert page.locator("#renew-form").is_hidden()
    assert page.locator("#rekey-form").is_visible()
    assert page.locator("#reissue-form").is_hidden()  # not lost, not frozen
    shot(page, "certificate-renew-unpaid")

    page.locator("#renew-pay-form button[type=submit]").click()
    renew = page.locator("#renew-form")
    renew.wait_for(state="visible")
    assert unpaid.is_hidden()
    paid_until = p.certificates.get(cert.serial).paid_until
    assert paid_until is not None and paid_until > cert.not_after
    assert "续期不另收费" in renew.inner_text()

    renew.locator("button[type=submit]").dblclick()  # one renewal, however many clicks
    card = page.locator("#new-cert")
    card.wait_for(state="visible")
    [new_serial] = successors_of(p, cert.id)
    new = p.certificates.get(new_serial)
    text = card.inner_text()
    assert "证书已续期" in text and new_serial in text
    assert new.not_after == paid_until
    assert new.not_after.astimezone().strftime("%Y-%m-%d") in text
    assert card.locator("#new-cert-link").get_attribute("href") == (
        f"/my/certificate?serial={new_serial}"
    )
    assert p.certificates.get(cert.serial).status == "active"  # in force beside its renewal
    assert page.locator("#successors").is_hidden()
    assert "已续期" in page.locator("#renewed").inner_text()
    shot(page, "certificate-renewed")

    card.locator("#new-cert-link").click()
    page.wait_for_url(f"**/my/certificate?serial={new_serial}")
    page.locator("#rekey-form").wait_for(state="visible")


def test_a_wrong_pin_is_refused_in_chinese_then_the_key_is_changed(site: Site, page):
    """更新密钥 with a PIN the API refuses (too short) is said in Chinese next to the PIN field,
    the PINs are cleared and nothing changes; two PINs that differ are caught on the page; the
    confirmation is required. With a good PIN the new certificate (a new key) is shown, the old
    one revoked as superseded; the PIN is nowhere in the address or the page."""
    from tests import dbdump
    from yinxin.store.models import Certificate

    p = site.world.p
    person, number, cert = certified(p, "沈二十二", "11010519720303123", "15848158402")
    before = dbdump.count(p, Certificate)

    subscriber_login(site, page, "15848158402")
    page.goto(site.url(f"/my/certificate?serial={cert.serial}"))
    form = page.locator("#rekey-form")
    form.wait_for(state="visible")
    assert form.locator("[data-key=subscriber]").is_hidden()  # a platform-held key: a PIN
    assert form.locator("[data-code]").is_hidden()  # proved by its current PIN, not a code

    # a wrong current PIN (a stolen session does not know it): said at the field, counted
    page.fill("#rekey-current-pin", "000000")
    page.fill("#rekey-pin", NEW_PIN)
    page.fill("#rekey-pin2", NEW_PIN)
    page.check("#rekey-confirm")
    form.locator("button[type=submit]").click()
    form.locator("#err-current_pin").filter(has_text="PIN 码错误").wait_for()
    assert page.locator("#rekey-current-pin").input_value() == ""
    assert dbdump.count(p, Certificate) == before
    assert not successors_of(p, cert.id)

    # the API refuses the PIN: said in Chinese at the field, nothing issued or revoked
    page.fill("#rekey-current-pin", OLD_PIN)
    page.fill("#rekey-pin", "12345")
    page.fill("#rekey-pin2", "12345")
    page.check("#rekey-confirm")
    form.locator("button[type=submit]").click()
    err = form.locator("#err-pin")
    err.wait_for()
    assert err.inner_text() == "PIN 码应为6至64位"
    assert page.locator("#rekey-pin").input_value() == ""
    assert page.locator("#rekey-pin2").input_value() == ""
    assert p.certificates.get(cert.serial).status == "active"
    assert dbdump.count(p, Certificate) == before
    assert not successors_of(p, cert.id)
    shot(page, "certificate-rekey-wrong-pin")

    # two different PINs: caught before anything is sent
    page.fill("#rekey-current-pin", OLD_PIN)
    page.fill("#rekey-pin", NEW_PIN)
    page.fill("#rekey-pin2", NEW_PIN[::-1])
    form.locator("button[type=submit]").click()
    form.locator("#err-pin2").filter(has_text="两次输入的 PIN 码不一致").wait_for()
    assert dbdump.count(p, Certificate) == before

    # not confirmed: the browser stops it
    page.fill("#rekey-pin", NEW_PIN)
    page.fill("#rekey-pin2", NEW_PIN)
    page.uncheck("#rekey-confirm")
    form.locator("button[type=submit]").click()
    page.wait_for_timeout(300)
    assert dbdump.count(p, Certificate) == before
    assert page.locator("#new-cert").is_hidden()

    page.fill("#rekey-current-pin", OLD_PIN)
    page.fill("#rekey-pin", NEW_PIN)
    page.fill("#rekey-pin2", NEW_PIN)
    page.check("#rekey-confirm")
    form.locator("button[type=submit]").dblclick()
    card = page.locator("#new-cert")
    card.wait_for(state="visible")
    [new_serial] = successors_of(p, cert.id)
    assert dbdump.count(p, Certificate) == before + 1
    new, old = p.certificates.get(new_serial), p.certificates.get(cert.serial)
    assert "密钥已更新" in card.inner_text() and new_serial in card.inner_text()
    assert old.status == "revoked" and old.revocation_reason == "superseded"
    assert new.status == "active" and public_key(new) != public_key(old)
    assert "已吊销" in page.locator("#status-badge").inner_text()
    # the reason in Chinese, as 001 words it (was the API's "superseded")
    page.locator("#cert-facts").filter(has_text="新的密钥对替代旧的密钥对").wait_for()
    assert "superseded" not in page.locator("#cert-facts").inner_text()
    assert "已由新证书" in page.locator("#renewed").inner_text()
    assert page.locator("#successors").is_hidden() and page.locator("#lifecycle").is_hidden()
    assert not any(in_clear(pin, page.url + page.content()) for pin in (NEW_PIN, OLD_PIN))
    assert page.locator("#rekey-pin").input_value() == ""
    assert page.locator("#rekey-current-pin").input_value() == ""
    shot(page, "certificate-rekeyed")


def test_reissue_is_offered_over_a_loss_and_not_over_a_ca_freeze(site: Site, page):
    """补办 is offered for a certificate reported lost (it is then revoked as compromised) and
    never for one the certification authority froze (a loss reported over that freeze
    included), nor for one stopped for unpaid fees or past its end — where renew and rekey are
    not offered either."""
    from sqlalchemy import update

    from yinxin.store.models import Certificate

    p = site.world.p
    person, number, lost = reported_lost_on_my_page(
        site, page, "韩二十三", "11010519720404123", "15848158403"
    )
    reissue = page.locator("#reissue-form")
    reissue.wait_for(state="visible")
    assert page.locator("#rekey-form").is_hidden() and page.locator("#renew-form").is_hidden()
    page.fill("#reissue-pin", NEW_PIN)
    page.fill("#reissue-pin2", NEW_PIN)
    page.check("#reissue-confirm")
    # without the code sent by SMS to the registered phone: asked for, nothing issued
    reissue.locator("button[type=submit]").click()
    reissue.locator("#err-sms_code").filter(has_text="短信验证码").wait_for()
    assert not successors_of(p, lost.id)
    send_code(site, page, "reissue", person.id, "15848158403")
    shot(page, "certificate-reissue-code-sent")
    assert page.locator("#reissue-pin").input_value() == NEW_PIN  # kept while the code is typed
    reissue.locator("button[type=submit]").click()
    card = page.locator("#new-cert")
    card.wait_for(state="visible")
    [new_serial] = successors_of(p, lost.id)
    assert page.locator("#reissue-pin").input_value() == ""
    assert "证书已补办" in card.inner_text() and new_serial in card.inner_text()
    old = p.certificates.get(lost.serial)
    assert old.status == "revoked" and old.revocation_reason == "key_compromise"
    shot(page, "certificate-reissued")

    # frozen by the CA: nothing to do here but call the desk
    p.certificates.freeze(new_serial, actor="desk1", note="法院协助冻结")
    page.goto(site.url(f"/my/certificate?serial={new_serial}"))
    page.locator("#ca-hold").wait_for(state="visible")
    assert page.locator("#successors").is_hidden()
    # nor once the key is reported lost over that freeze (the API refuses it: frozen_by_ca)
    report_lost(page)
    assert page.locator("#restore-form").is_visible()
    assert page.locator("#successors").is_hidden()
    p.certificates.restore(new_serial, actor="desk1")  # back to the CA's freeze

    # stopped for unpaid fees: paid first, nothing else
    p.certificates.unfreeze(new_serial, actor="desk1")
    with p.db.transaction() as s:
        s.execute(
            update(Certificate)
            .where(Certificate.serial_hex == new_serial)
            .values(paid_until=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
        )
    assert new_serial in p.certificates.suspend_unpaid()
    page.reload()
    page.locator("#status-badge").filter(has_text="欠费停用").wait_for()
    page.locator("#renew-pay-form").wait_for(state="visible")
    assert page.locator("#successors").is_hidden()

    # past its end (the expiry sweep not yet run): 已过期, nothing offered
    with p.db.transaction() as s:
        s.execute(
            update(Certificate)
            .where(Certificate.serial_hex == new_serial)
            .values(
                status="active",
                hold_kind=None,
                not_after=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
            )
        )
    page.reload()
    page.locator("#status-badge").filter(has_text="已过期").wait_for()
    assert page.locator("#successors").is_hidden()
    assert page.locator("#lifecycle").is_hidden()
    assert page.locator("#renew-pay-form").is_hidden()


def test_a_seal_follows_its_certificate_onto_the_new_key(site: Site, page):
    """After 更新密钥 the holder's seal is still bound to the old certificate, now revoked: it
    cannot sign. The API moves it with the seal form's ``certificate_serial`` (续费 or 变更),
    but the seal page never sent one, so the seal stayed dead (and a seal at its certificate's
    end could never be renewed onto the renewal: 请先续期证书后再续费印章, again and again).
    Now the certificate page names the seals left on the old certificate, and the seal form
    offers 绑定证书 with the new certificate chosen."""

    p = site.world.p
    person, number, cert, seal = personal_seal(p, "杨二十四", "11010519720505123", "15848158404")

    subscriber_login(site, page, "15848158404")
    page.goto(site.url(f"/my/certificate?serial={cert.serial}"))
    form = page.locator("#rekey-form")
    form.wait_for(state="visible")
    page.fill("#rekey-current-pin", OLD_PIN)
    page.fill("#rekey-pin", NEW_PIN)
    page.fill("#rekey-pin2", NEW_PIN)
    page.check("#rekey-confirm")
    form.locator("button[type=submit]").click()
    card = page.locator("#new-cert")
    card.wait_for(state="visible")
    [new_serial] = successors_of(p, cert.id)
    moved = card.locator(f"a[href='/my/seal?id={seal.id}']")
    moved.wait_for()
    assert "改绑到新证书" in card.inner_text()
    shot(page, "certificate-rekeyed-seal-left")

    moved.click()
    page.wait_for_url(f"**/my/seal?id={seal.id}")
    page.check("input[name=business_type][value=change]")
    # the holder's certificates are read after the form shows: wait for the choice they make
    expect(page.locator("#f-cert")).to_have_value(new_serial, timeout=30_000)
    page.fill("#f-id-number", number)
    page.check("#f-declaration")
    page.click("#seal-form-submit")
    page.locator("#form-result").wait_for(state="visible")
    assert p.seals.get(seal.es_id).certificate_serial == new_serial
    shot(page, "seal-moved-to-new-certificate")


def test_a_certificate_renewed_meanwhile_is_shown_as_it_now_is(site: Site, page):
    """The page shown, the certificate is renewed elsewhere (another tab, the desk); 续期 on the
    page was refused with the API's English in brackets (certificate … was already renewed as
    …; renew that one) and the form stayed offered. Now the page reloads the certificate, says
    in Chinese that it changed, shows the renewal and offers nothing more; no second renewal."""
    p = site.world.p
    person, number, cert = certified(p, "朱二十五", "11010519720606123", "15848158405")
    p.certificates.pay(serial=cert.serial, years=1, reference="R-25")

    subscriber_login(site, page, "15848158405")
    page.goto(site.url(f"/my/certificate?serial={cert.serial}"))
    renew = page.locator("#renew-form")
    renew.wait_for(state="visible")
    elsewhere = p.certificates.renew(cert.serial, actor="desk1").certificate
    renew.locator("button[type=submit]").click()
    page.locator("#toast").filter(has_text="证书状态已发生变化").wait_for()
    assert "renew" not in page.locator("#toast").inner_text()
    page.locator("#renewed").filter(has_text=elsewhere.serial).wait_for()
    assert renew.is_hidden() and page.locator("#successors").is_hidden()
    assert successors_of(p, cert.id) == [elsewhere.serial]


def test_reissue_with_a_csr_refuses_the_lost_key(site: Site, page):
    """A certificate on the holder's own key (a CSR) is reissued with a CSR for the new key,
    pasted into the form. A CSR for the very key reported lost was certified again (the lost
    key back in force); now it is refused in Chinese at the CSR field, nothing changed; so is
    a CSR for the key of an older certificate revoked as compromised; a CSR for a new key is
    taken. Both are refused when 发送验证码 is pressed, no SMS sent (the code was sent, and only
    the reissue refused them), and at the reissue still. The reissue also revoked another
    certificate of the lost key, an organization's, and the page said nothing of it: now it
    names it (同一密钥的其他证书已一并吊销：…)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from tests.integration.test_ca_lifecycle import issue

    def csr(key) -> str:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "秦二十六")])
        req = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
        return req.public_bytes(Encoding.PEM).decode()

    p = site.world.p
    lost_key = ec.generate_private_key(ec.SECP256R1())
    person = p.subscribers.add_person(
        name="秦二十六", id_number=id_card("11010519720808123"), phone="15848158406"
    )
    p.subscribers.accept_agreement(person.id, accepted_by="秦二十六")
    stolen_key = ec.generate_private_key(ec.SECP256R1())  # an older certificate's, revoked
    app = p.certificates.apply(
        subscriber_id=person.id, profile="person-signing", csr=csr(stolen_key).encode()
    )
    p.certificates.pay(application_id=app.id, years=1, reference=f"T-{app.id}")
    older = p.certificates.approve(app.id, officer="desk1")
    p.certificates.revoke(older.serial, reason="key_compromise", actor="desk1")
    app = p.certificates.apply(
        subscriber_id=person.id, profile="person-signing", csr=csr(lost_key).encode()
    )
    p.certificates.pay(application_id=app.id, years=1, reference=f"T-{app.id}")
    cert = p.certificates.approve(app.id, officer="desk1")
    theirs = issue(p, site.world.org.id, "organization-signing", csr=csr(lost_key).encode())
    p.certificates.report_loss(cert.serial, actor="秦二十六")

    subscriber_login(site, page, "15848158406")
    page.goto(site.url(f"/my/certificate?serial={cert.serial}"))
    form = page.locator("#reissue-form")
    form.wait_for(state="visible")
    assert form.locator("[data-key=platform]").is_hidden()
    page.check("#reissue-confirm")
    # no CSR at all: said at the CSR field when 发送验证码 is pressed, and no SMS sent for it
    codes_a_minute_ago(site, person.id)
    sent = outbox_lines(site.world.outbox)
    page.fill("#reissue-csr", "-----BEGIN CERTIFICATE REQUEST-----\nnot one\n")
    page.click("#reissue-send-code")
    form.locator("#err-csr").wait_for()
    assert outbox_lines(site.world.outbox) == sent
    # a CSR for the lost key, or for the older key revoked as compromised: refused at the CSR
    # field when 发送验证码 is pressed (the code was sent, and only the reissue refused it)
    err = form.locator("#err-csr")
    for key, said, code in (
        (lost_key, "原密钥", "same_key"),
        (stolen_key, "泄露", "compromised_key"),
    ):
        page.fill("#reissue-csr", csr(key))
        page.click("#reissue-send-code")
        form.locator("#err-csr", has_text=said).wait_for()
        assert code not in err.inner_text()
        assert outbox_lines(site.world.outbox) == sent
    # a CSR for a new key gets the code; changed back to a refused key, the reissue refuses it
    page.fill("#reissue-csr", csr(ec.generate_private_key(ec.SECP256R1())))
    send_code(site, page, "reissue", person.id, "15848158406")
    for key, said in ((lost_key, "原密钥"), (stolen_key, "泄露")):
        page.fill("#reissue-csr", csr(key))
        form.locator("button[type=submit]").click()
        form.locator("#err-csr", has_text=said).wait_for()
        assert p.certificates.get(cert.serial).hold_kind == "lost"
        assert not successors_of(p, cert.id)

    page.fill("#reissue-csr", csr(ec.generate_private_key(ec.SECP256R1())))
    form.locator("button[type=submit]").click()  # the same code: the refusal gave it back
    page.locator("#new-cert").wait_for(state="visible")
    [new_serial] = successors_of(p, cert.id)
    assert new_serial in page.locator("#new-cert").inner_text()
    assert p.certificates.get(cert.serial).revocation_reason == "key_compromise"
    expect(page.locator("#new-cert-same-key")).to_have_text(
        f"同一密钥的其他证书已一并吊销：{theirs.serial}"
    )
    assert p.certificates.get(theirs.serial).revocation_reason == "key_compromise"


def test_a_lost_certificate_with_fees_due_is_paid_for_then_reissued(site: Site, page):
    """A key reported lost over a stop for unpaid fees: 补办 was offered, and the API issued an
    active certificate carrying the unpaid date. Now the API refuses it until the fee is in
    (unpaid) and the page offers 缴纳服务费 first (it offered no way to pay a lost certificate),
    then 补办."""

    p = site.world.p
    person, number, cert = lost_while_unpaid(p, "何二十七", "11010519720909123", "15848158407")

    subscriber_login(site, page, "15848158407")
    page.goto(site.url(f"/my/certificate?serial={cert.serial}"))
    pay = page.locator("#renew-pay-form")
    pay.wait_for(state="visible")
    assert "缴费后方可补办" in pay.inner_text()
    assert page.locator("#reissue-form").is_hidden()
    pay.locator("button[type=submit]").click()
    reissue = page.locator("#reissue-form")
    reissue.wait_for(state="visible")
    assert p.certificates.get(cert.serial).hold_kind == "lost"  # paid, still lost
    page.fill("#reissue-pin", NEW_PIN)
    page.fill("#reissue-pin2", NEW_PIN)
    page.check("#reissue-confirm")
    send_code(site, page, "reissue", person.id, "15848158407")
    reissue.locator("button[type=submit]").click()
    page.locator("#new-cert").wait_for(state="visible")
    [new_serial] = successors_of(p, cert.id)
    new = p.certificates.get(new_serial)
    assert new.status == "active" and new.paid_until > dt.datetime.now(dt.UTC)


def test_a_stop_for_fees_already_paid_is_released_without_paying_twice(site: Site, page):
    """A loss reported over a stop for unpaid fees, the fee paid, the medium found (解除挂失):
    the certificate goes back to the stop for unpaid fees though paid. The page offered only
    缴纳服务费 — a second fee — and hid 解冻, which the API accepts once paid. Now 解冻 is
    offered and releases it; no second payment."""

    from tests import dbdump
    from yinxin.store.models import Payment

    p = site.world.p
    person, number, cert = lost_while_unpaid(p, "吕二十八", "11010519721010123", "15848158408")
    p.certificates.pay(serial=cert.serial, years=1, reference="R-28")
    p.certificates.restore(cert.serial, actor="吕二十八")
    assert p.certificates.get(cert.serial).hold_kind == "unpaid"
    paid = dbdump.count(p, Payment, Payment.certificate_id == cert.id)

    subscriber_login(site, page, "15848158408")
    page.goto(site.url(f"/my/certificate?serial={cert.serial}"))
    unfreeze = page.locator("#unfreeze-form")
    unfreeze.wait_for(state="visible")
    assert "无需再次缴费" in page.locator("#renew-pay-text").inner_text()
    unfreeze.locator("button[type=submit]").click()
    page.locator("#status-badge").filter(has_text="有效").wait_for()
    assert p.certificates.get(cert.serial).status == "active"
    assert dbdump.count(p, Payment, Payment.certificate_id == cert.id) == paid
