"""发起签署 on a contract prepared with signature fields (甲方签章, 乙方签章) and certified with
DocMDP P=2: the page offered no way to seal into the fields, and the flow was refused
(``certified``). It now asks the API which empty fields the PDF has, offers "盖入签名域" with
the list for each signer (the one named after the signer's role chosen; on a certified contract
the only choice), refuses two signers choosing the same field in Chinese, and the flow it
sends seals each signer into their field; a role changed later picks its field again."""

from __future__ import annotations

import concurrent.futures
import io

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils.reader import PdfFileReader

from tests.e2e.conftest import Site, shot, unlabeled
from tests.e2e.test_web_signing import (
    read_link,
    sign_by_service,
    start_page_with_two_signers,
)
from tests.fixtures.samples import contract_pdf
from tests.integration import pdf_inputs_corpus as corpus
from tests.integration.signing_flow import _issue, outbox_lines
from tests.integration.test_api_flow_fields import _prepared_only
from tests.integration.test_ca_lifecycle import make_csr
from tests.integration.test_sign_flows import AGENT_ID, make_agent


def _certified_contract(w, locks: tuple[str, ...] = ()) -> bytes:  # noqa: ANN001
    """采购合同 with 甲方签章 and 乙方签章 prepared, certified (P=2) by the platform that drew
    it up (中介方, registered once per site, its key its own); the certification locks the
    fields ``locks`` names (FieldMDP /Include)."""
    found = w.p.subscribers.find_person(AGENT_ID)
    certifier = found if found is not None else make_agent(w)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = x509.load_pem_x509_certificate(
        _issue(w.p, certifier.id, "person-signing", csr=make_csr(key)).pem.encode()
    )
    chain = [w.p.ca.certificate("issuing"), w.p.ca.certificate("root")]
    # pyHanko signs through asyncio.run: in a thread of its own, away from Playwright's loop
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(
            corpus.prepared_and_certified,
            contract_pdf(1, title="采购合同"),
            key,
            cert,
            chain,
            locks=locks,
        ).result()


def test_the_start_page_offers_the_contracts_fields_and_each_signer_seals_into_one(
    site: Site, page, tmp_path
):
    w = site.world
    pdf = _certified_contract(w)
    path = tmp_path / "采购合同.pdf"
    path.write_bytes(pdf)

    flows_before = w.p.flows.list().items
    jia, yi = start_page_with_two_signers(site, page)
    assert jia.locator(".field-mode").is_hidden()  # no file yet: nothing to offer
    page.set_input_files("#file", str(path))
    page.locator('.page-canvas[data-page="1"] img').wait_for()
    hint = page.locator("#fields-hint")
    hint.wait_for(state="visible")
    assert "已被认证" in hint.inner_text() and "甲方签章、乙方签章" in hint.inner_text()
    for row, name in ((jia, "甲方签章"), (yi, "乙方签章")):
        select = row.locator('[data-name="field_name"]')
        select.wait_for(state="visible")
        assert select.input_value() == name  # the field named after the signer's role
        assert row.locator('input[type=radio][value="field"]').is_checked()
        # certified: a seal beside the fields would break it, so no other choice is offered
        assert row.locator('input[type=radio][value="anchor"]').is_disabled()
        assert row.locator('input[type=radio][value="click"]').is_disabled()
    assert [o.strip() for o in jia.locator(".field-select option").all_inner_texts()] == [
        "甲方签章（第 1 页）",
        "乙方签章（第 1 页）",
    ]
    assert unlabeled(page) == []  # the list of fields too, and the keyword still by its label
    page.fill("#title", "采购合同")
    # the same field twice: refused at the second signer's field, in Chinese, nothing made
    yi.locator('[data-name="field_name"]').select_option("甲方签章")
    before = outbox_lines(w.outbox)
    page.click("#send-flow")
    err = yi.locator(".field-error")
    err.wait_for()
    assert err.inner_text() == "各签署方须盖入不同的签名域"
    assert w.p.flows.list().items == flows_before
    shot(page, "flow-new-fields-taken")
    yi.locator('[data-name="field_name"]').select_option("乙方签章")
    shot(page, "flow-new-fields")
    page.click("#send-flow")
    page.wait_for_url("**/flows/*?sent=1")
    flow_id = int(page.url.split("/flows/")[1].split("?")[0])
    flow = w.p.flows.get(flow_id)
    assert [s.placements[0].field_name for s in flow.signers] == ["甲方签章", "乙方签章"]
    assert outbox_lines(w.outbox) > before  # 甲方 was sent the link

    # each signer's link seals into their field: the contract keeps its three fields
    token = read_link(w.outbox, w.jia.phone, after=before)
    sign_by_service(site, token, w.jia)
    token = read_link(w.outbox, w.yi.phone, after=before)
    done = sign_by_service(site, token, w.yi)
    assert done.flow.state == "completed"
    signed = w.p.flows.download(flow_id, flow.documents[0].id).pdf
    reader = PdfFileReader(io.BytesIO(signed))
    assert [e.field_name for e in reader.embedded_signatures] == [
        "Certification",
        "甲方签章",
        "乙方签章",
    ]
    assert len(reader.root["/AcroForm"]["/Fields"]) == 3


def test_a_role_changed_after_the_field_was_picked_picks_its_field_again(
    site: Site, page, tmp_path
):
    """The field a row takes is named after its role (甲方 → 甲方签章). Changing the role kept
    the field picked for the old one: rows swapped to 乙方/甲方 still sealed 乙方 into 甲方签章.
    Now a role change picks again — the new role's field, or its anchor when no field is named
    after it — unless the user chose the field (or the way of placing) by hand."""
    w = site.world
    path = tmp_path / "采购合同.pdf"
    path.write_bytes(_prepared_only(contract_pdf(1, title="采购合同")))  # fields, not certified
    jia, yi = start_page_with_two_signers(site, page)
    page.set_input_files("#file", str(path))
    page.locator('.page-canvas[data-page="1"] img').wait_for()
    page.locator("#fields-hint").wait_for(state="visible")

    def placed(row) -> tuple[str, str]:  # noqa: ANN001
        mode = row.locator("input[type=radio]:checked").get_attribute("value")
        where = {"field": '[data-name="field_name"]', "anchor": '[data-name="placement"]'}
        return mode, row.locator(where[mode]).input_value()

    assert (placed(jia), placed(yi)) == (("field", "甲方签章"), ("field", "乙方签章"))
    # the roles swapped: each row takes the field named after its new role
    jia.locator('[data-name="role"]').select_option("乙方")
    yi.locator('[data-name="role"]').select_option("甲方")
    assert (placed(jia), placed(yi)) == (("field", "乙方签章"), ("field", "甲方签章"))
    # a role no field is named after: back to its anchor; and to the field again
    jia.locator('[data-name="role"]').select_option("丙方")
    assert placed(jia) == ("anchor", "丙方（签章）")
    jia.locator('[data-name="role"]').select_option("乙方")
    assert placed(jia) == ("field", "乙方签章")
    # a field chosen by hand is kept through role changes
    yi.locator('[data-name="field_name"]').select_option("乙方签章")
    yi.locator('[data-name="role"]').select_option("中介方")
    assert placed(yi) == ("field", "乙方签章")
    yi.locator('[data-name="role"]').select_option("甲方")
    assert placed(yi) == ("field", "乙方签章")
    yi.locator('[data-name="field_name"]').select_option("甲方签章")
    # so is a way of placing chosen by hand
    jia.locator('input[type=radio][value="anchor"]').check()
    jia.locator('[data-name="role"]').select_option("甲方")
    jia.locator('[data-name="role"]').select_option("乙方")
    assert placed(jia) == ("anchor", "乙方（签章）")
    jia.locator('input[type=radio][value="field"]').check()
    assert placed(jia) == ("field", "乙方签章")

    page.fill("#title", "采购合同")
    page.click("#send-flow")
    page.wait_for_url("**/flows/*?sent=1")
    flow = w.p.flows.get(int(page.url.split("/flows/")[1].split("?")[0]))
    assert [(s.role, s.placements[0].field_name) for s in flow.signers] == [
        ("乙方", "乙方签章"),
        ("甲方", "甲方签章"),
    ]


def test_a_field_an_earlier_signature_locked_is_shown_but_not_offered(site: Site, page, tmp_path):
    """The contract's certification locks 乙方签章 (FieldMDP /Include): the start page offered
    it to 乙方 (picked by its role), and the flow was refused at create (field_locked) after
    the rows were filled. It is now listed disabled with the reason in Chinese, never picked;
    the free 甲方签章 is offered and sealed into as before."""
    w = site.world
    pdf = _certified_contract(w, locks=("乙方签章",))
    path = tmp_path / "采购合同.pdf"
    path.write_bytes(pdf)

    jia, yi = start_page_with_two_signers(site, page)
    page.set_input_files("#file", str(path))
    page.locator('.page-canvas[data-page="1"] img').wait_for()
    hint = page.locator("#fields-hint")
    hint.wait_for(state="visible")
    text = hint.inner_text()
    assert "（甲方签章）" in text and "乙方签章已被签名“Certification”锁定" in text, text
    locked = yi.locator('.field-select option[value="乙方签章"]')
    assert locked.is_disabled()
    assert (
        locked.inner_text().strip()
        == "乙方签章（第 1 页）（已被签名“Certification”锁定，不能再盖章）"
    )
    assert not yi.locator('.field-select option[value="甲方签章"]').is_disabled()
    for row in (jia, yi):  # 乙方's own field is locked: the free one is picked, never the locked
        assert row.locator('[data-name="field_name"]').input_value() == "甲方签章"
    shot(page, "flow-new-fields-locked")
    yi.locator(".remove").click()
    page.fill("#title", "采购合同")
    page.click("#send-flow")
    page.wait_for_url("**/flows/*?sent=1")
    flow = w.p.flows.get(int(page.url.split("/flows/")[1].split("?")[0]))
    assert [s.placements[0].field_name for s in flow.signers] == ["甲方签章"]


def test_a_field_whose_own_lock_forbids_a_later_signers_is_warned_of_as_chosen(
    site: Site, page, tmp_path
):
    """The contract's empty 甲方签章 carries its own lock over 乙方签章 (FieldMDP /Include):
    once 甲方 seals there, 乙方 cannot. With 甲方 first and 乙方 second (the rows' order, each
    into the field named after its role) the page said nothing, and the starter learnt it at
    提交 from a 422. The later row now says why under its 盖章位置 as the fields are chosen;
    with the fields swapped (乙方签章 first) the warning goes, in a parallel flow (whoever
    signs first decides) it comes back on the other row, and 提交 still goes to the server:
    its refusal is shown at the row, and the swapped order is made."""
    from tests.integration.test_seed_values_first import _jia_locks

    w = site.world
    path = tmp_path / "技术服务合同.pdf"
    path.write_bytes(_jia_locks("include"))
    jia, yi = start_page_with_two_signers(site, page)
    page.set_input_files("#file", str(path))
    page.locator('.page-canvas[data-page="1"] img').wait_for()
    page.locator("#fields-hint").wait_for(state="visible")
    field = {row: row.locator('[data-name="field_name"]') for row in (jia, yi)}
    assert (field[jia].input_value(), field[yi].input_value()) == ("甲方签章", "乙方签章")

    warned = yi.locator(".lock-warning")
    warned.wait_for()
    assert warned.inner_text() == (
        "第 1 位签署方（甲方）的「甲方签章」签署后将锁定「乙方签章」，本方不能再盖入："
        "请调整签署顺序或改选盖章位置。"
    )
    assert jia.locator(".lock-warning").count() == 0
    # a screen reader on 乙方's field picker hears the warning (its accessible description)
    described = field[yi].evaluate(
        "s => (s.getAttribute('aria-describedby') || '').split(' ')"
        ".map(id => document.getElementById(id)?.textContent).join(' ')"
    )
    assert described == warned.inner_text(), described
    assert field[jia].get_attribute("aria-describedby") is None
    shot(page, "flow-new-fields-lock-warning")

    # only a warning: 提交 goes to the server, whose refusal is shown at 乙方's field
    page.fill("#title", "技术服务合同")
    flows_before = w.p.flows.list().items
    page.click("#send-flow")
    err = yi.locator(".field-error")
    err.wait_for()
    assert "将被先签署一方的签名域锁定" in err.inner_text(), err.inner_text()
    assert w.p.flows.list().items == flows_before

    # 乙方签章 first, 甲方签章 second: 甲方签章's lock covers a field already signed then
    field[jia].select_option("乙方签章")
    field[yi].select_option("甲方签章")
    assert page.locator(".lock-warning").count() == 0
    # the warning's tie is gone too (a field error's id, if the 422 left one, may stay)
    assert "lock-warning" not in (field[yi].get_attribute("aria-describedby") or "")
    # in a parallel flow 甲方签章 may be sealed first: the other row is warned
    page.select_option("#order", "parallel")
    warned = jia.locator(".lock-warning")
    warned.wait_for()
    assert warned.inner_text().startswith(
        "第 2 位签署方（乙方）的「甲方签章」签署后将锁定「乙方签章」"
    ), warned.inner_text()
    assert "各方同时签署时先签者决定" in warned.inner_text()
    assert yi.locator(".lock-warning").count() == 0
    page.select_option("#order", "sequential")
    assert page.locator(".lock-warning").count() == 0

    page.click("#send-flow")
    page.wait_for_url("**/flows/*?sent=1")
    flow = w.p.flows.get(int(page.url.split("/flows/")[1].split("?")[0]))
    assert [s.placements[0].field_name for s in flow.signers] == ["乙方签章", "甲方签章"]


def test_a_placement_an_earlier_fields_lock_forbids_is_warned_of_and_refused_so(
    site: Site, page, tmp_path
):
    """甲方签章's lock ends the document (/P 1): 乙方, second, placing the seal by a click was
    not warned of, and the create's refusal (``locked`` at signers[1].placement) was shown as
    盖章位置无效或超出页面 — as if the click were off the page. The row is now warned as the
    place is chosen, and the refusal says why."""
    from tests.integration.test_seed_values_first import _jia_locks

    w = site.world
    path = tmp_path / "技术服务合同.pdf"
    path.write_bytes(_jia_locks("p1"))
    jia, yi = start_page_with_two_signers(site, page)
    page.set_input_files("#file", str(path))
    page.locator('.page-canvas[data-page="1"] img').wait_for()
    page.locator("#fields-hint").wait_for(state="visible")
    # 乙方 into its field: the document is ended by then
    warned = yi.locator(".lock-warning")
    warned.wait_for()
    assert "「甲方签章」签署后将锁定整个文档，本方不能再盖章" in warned.inner_text()
    yi.locator('input[type=radio][value="click"]').check()
    page.locator('.page-canvas[data-page="1"] img').click(position={"x": 200, "y": 300})
    warned.wait_for()
    assert "「甲方签章」签署后将锁定整个文档，本方不能再盖章" in warned.inner_text()
    assert jia.locator(".lock-warning").count() == 0

    page.fill("#title", "技术服务合同")
    flows_before = w.p.flows.list().items
    page.click("#send-flow")
    err = yi.locator(".field-error")
    err.wait_for()
    assert err.inner_text() == (
        "文档将被先签署一方的签名锁定，此处不能再盖章：请调整签署顺序或改选签名域"
    ), err.inner_text()
    assert w.p.flows.list().items == flows_before
