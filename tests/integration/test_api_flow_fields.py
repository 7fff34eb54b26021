"""A sign flow whose signers seal into the fields the contract was prepared with.

Contracts drawn up in Acrobat or WPS carry empty signature fields (甲方签章, 乙方签章), often
certified first with DocMDP P=2 (form filling and signing permitted). A flow started on such a
contract was refused (``certified``): each signer's seal went into a new field beside the
prepared ones, which the certification forbids. The starter now names, per signer, the field
that signer seals into (``field_name``); the signers' links seal there, through the real API.
Judged by pdfsig, pyHanko (certification intact, changes no worse than form filling),
``yinxin verify`` and pdftoppm (the seal's red inside each field's rectangle).
"""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from tests import dbdump
from tests.fixtures.samples import contract_pdf
from tests.integration import pdf_inputs_corpus as corpus
from tests.integration.api_world import problem_of
from tests.integration.server import yinxin_cli
from tests.integration.signing_flow import _issue, need, nss_trusting, pdfsig
from tests.integration.test_api_flows import b64, served, sign_by_link  # noqa: F401
from tests.integration.test_ca_lifecycle import make_csr
from tests.integration.test_pdf_inputs_differential import SCALE, reds, shown
from yinxin.store.models.flows import SignFlow, SignFlowSigner

BOXES = dict(corpus.PREPARED_BOXES)  # 甲方签章, 乙方签章 on page 1, in points


def certified_contract(w, agent, locks: tuple[str, ...] = ()) -> bytes:  # noqa: ANN001
    """A contract with 甲方签章 and 乙方签章 prepared on page 1, certified (DocMDP P=2) by
    the platform that drew it up: 中介方 (``agent``), with a key of its own under the
    platform's CA; its certification locks the fields ``locks`` names (FieldMDP)."""
    key = ec.generate_private_key(ec.SECP256R1())
    view = _issue(w.p, agent.id, "person-signing", csr=make_csr(key))
    cert = x509.load_pem_x509_certificate(view.pem.encode())
    chain = [w.p.ca.certificate("issuing"), w.p.ca.certificate("root")]
    return corpus.prepared_and_certified(contract_pdf(1), key, cert, chain, locks=locks)


def _body(w, pdf: bytes, signers: list[dict]) -> dict:  # noqa: ANN001
    return {
        "title": "采购合同（WPS 拟定）",
        "documents": [{"name": "采购合同.pdf", "content_base64": b64(pdf)}],
        "signers": signers,
        "deadline": (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat(),
    }


def _signer(party, order: int, **more) -> dict:  # noqa: ANN001
    return {"subscriber_id": party.id, "role": party.role, "seal": party.seal.es_id} | {
        "order": order,
        **more,
    }


def _pixels(box, page_height: float):  # noqa: ANN001, ANN202
    x0, y0, x1, y1 = box
    return (x0 * SCALE, (page_height - y1) * SCALE, x1 * SCALE, (page_height - y0) * SCALE)


def test_a_certified_contract_is_signed_into_its_fields_through_the_links(served, tmp_path):  # noqa: F811
    need("pdfsig", "certutil", "pdftoppm")
    w, agent, c, home = served
    api, link = c["org"], c["link"]
    pdf = certified_contract(w, agent)

    # the start page's question: which empty fields has it, and must every signer name one
    r = api.post("/flows/fields", content=pdf, headers={"Content-Type": "application/pdf"})
    assert r.status_code == 200, r.text
    listed = r.json()
    assert listed["certified"] is True
    assert [(f["name"], f["page"]) for f in listed["fields"]] == [
        ("甲方签章", 1),
        ("乙方签章", 1),
    ]

    body = _body(
        w,
        pdf,
        [_signer(w.jia, 1, field_name="甲方签章"), _signer(w.yi, 2, field_name="乙方签章")],
    )
    r = api.post("/flows", json=body)
    assert r.status_code == 201, r.text
    flow = r.json()
    assert [s["placements"][0]["field_name"] for s in flow["signers"]] == ["甲方签章", "乙方签章"]
    assert flow["signers"][0]["placements"][0]["page"] == 1  # the field's: the signer's page
    started = api.post(f"/flows/{flow['id']}/start").json()
    tokens = [x["token"] for x in started["links"]]
    for party, token in zip((w.jia, w.yi), tokens, strict=True):
        ctx = link.get(f"/sign/{token}").json()
        assert ctx["signer"]["placements"][0]["field_name"] in ("甲方签章", "乙方签章")
        done = sign_by_link(w, link, token, party)
        assert done["signer"]["state"] == "signed"
        assert [r["field_name"] for r in done["records"]] == [f"{party.role}签章"]
    final = api.get(f"/flows/{flow['id']}").json()
    assert final["state"] == "completed"
    signed = api.get(f"/flows/{flow['id']}/documents/{final['documents'][0]['id']}").content
    assert signed.startswith(pdf)
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)

    # pdfsig: the certification and both seals valid and trusted, no unsigned field left
    root = w.p.ca.certificate("root")
    blocks = pdfsig(path, nss_trusting(tmp_path / "nss", root))
    assert len(blocks) == 3, blocks
    for block in blocks:
        assert "Signature is Valid." in block and "Certificate is Trusted." in block, block
        assert "form field is not signed" not in block, block
    # pyHanko: the certification intact, every change after it no worse than form filling
    reader = PdfFileReader(io.BytesIO(signed))
    assert [e.field_name for e in reader.embedded_signatures] == [
        "Certification",
        "甲方签章",
        "乙方签章",
    ]
    assert len(reader.root["/AcroForm"]["/Fields"]) == 3  # no field added beside them
    trust = a_x509.Certificate.load(root.public_bytes(Encoding.DER))
    for emb in reader.embedded_signatures:
        st = validate_pdf_signature(emb, ValidationContext(trust_roots=[trust]))
        assert st.intact and st.valid and st.trusted, st.pretty_print_details()
        assert st.docmdp_ok, st.pretty_print_details()
        assert st.modification_level.name in ("NONE", "LTA_UPDATES", "FORM_FILLING"), (
            st.pretty_print_details()
        )
    # our verifier, as a user runs it
    proc = yinxin_cli(["verify", str(path), "--json"], home, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["valid"] is True and len(report["signatures"]) == 3, report
    # pdftoppm: each seal's red inside its field's rectangle, nothing red elsewhere
    height = float(reader.root["/Pages"]["/Kids"][0]["/MediaBox"][3])
    page = shown(signed, 1, tmp_path)
    inside = {name: reds(page, _pixels(box, height)) for name, box in BOXES.items()}
    assert all(n > 200 for n in inside.values()), inside
    assert sum(inside.values()) == reds(page), "the seals are drawn only inside the fields"


MM = 72 / 25.4  # points in a millimetre
AT = {"page": 1, "x_mm": 120, "y_mm": 150, "width_mm": 40}  # 甲方's seal on the other document


def test_a_field_for_one_document_and_a_placement_for_the_others(served, tmp_path):  # noqa: F811
    """甲方 names the certified contract's field (``field_names``) and a placement for the
    rest (``placement``): the field wins where it is named, the placement applies to the
    supplement, which has no field. Refused before ("give either a field or a placement");
    now each document is sealed where it was meant to be."""
    need("pdfsig", "certutil", "pdftoppm")
    w, agent, c, home = served
    api, link = c["org"], c["link"]
    contract = certified_contract(w, agent)
    supplement = contract_pdf(1, title="补充协议")
    body = _body(
        w,
        contract,
        [
            _signer(w.jia, 1, field_names={"0": "甲方签章"}, placement=AT),
            _signer(w.yi, 2, field_names={"0": "乙方签章"}),  # the anchor 乙方（签章） elsewhere
        ],
    )
    body["documents"].append({"name": "补充协议.pdf", "content_base64": b64(supplement)})
    r = api.post("/flows", json=body)
    assert r.status_code == 201, r.text
    flow = r.json()
    jia = flow["signers"][0]["placements"]
    assert jia[0]["field_name"] == "甲方签章" and jia[0]["x_mm"] is None
    assert jia[1].get("field_name") is None and (jia[1]["x_mm"], jia[1]["y_mm"]) == (120, 150)
    yi = flow["signers"][1]["placements"]
    assert yi[0]["field_name"] == "乙方签章" and yi[1]["anchor"] == "乙方（签章）"
    tokens = [x["token"] for x in api.post(f"/flows/{flow['id']}/start").json()["links"]]
    for party, token in zip((w.jia, w.yi), tokens, strict=True):
        done = sign_by_link(w, link, token, party)
        assert [r["field_name"] for r in done["records"]][0] == f"{party.role}签章"
    final = api.get(f"/flows/{flow['id']}").json()
    assert final["state"] == "completed"
    signed = [
        api.get(f"/flows/{flow['id']}/documents/{d['id']}").content for d in final["documents"]
    ]
    root = w.p.ca.certificate("root")
    nss = nss_trusting(tmp_path / "nss", root)
    trust = a_x509.Certificate.load(root.public_bytes(Encoding.DER))
    for n, (data, original, count) in enumerate(
        ((signed[0], contract, 3), (signed[1], supplement, 2))
    ):
        assert data.startswith(original)
        path = tmp_path / f"signed-{n}.pdf"
        path.write_bytes(data)
        blocks = pdfsig(path, nss)
        assert len(blocks) == count, blocks
        for block in blocks:
            assert "Signature is Valid." in block and "Certificate is Trusted." in block, block
            assert "form field is not signed" not in block, block
        for emb in PdfFileReader(io.BytesIO(data)).embedded_signatures:
            st = validate_pdf_signature(emb, ValidationContext(trust_roots=[trust]))
            assert st.intact and st.valid and st.trusted, st.pretty_print_details()
            assert st.docmdp_ok, st.pretty_print_details()
        proc = yinxin_cli(["verify", str(path), "--json"], home, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert json.loads(proc.stdout)["valid"] is True
    # the contract: certified still, both seals inside their fields and nowhere else
    reader = PdfFileReader(io.BytesIO(signed[0]))
    assert [e.field_name for e in reader.embedded_signatures] == [
        "Certification",
        "甲方签章",
        "乙方签章",
    ]
    height = float(reader.root["/Pages"]["/Kids"][0]["/MediaBox"][3])
    page = shown(signed[0], 1, tmp_path)
    inside = {name: reds(page, _pixels(box, height)) for name, box in BOXES.items()}
    assert all(n > 200 for n in inside.values()), inside
    assert sum(inside.values()) == reds(page)
    # the supplement: 甲方's seal at its placement (120, 150 mm), 乙方's at its anchor
    reader = PdfFileReader(io.BytesIO(signed[1]))
    height = float(reader.root["/Pages"]["/Kids"][0]["/MediaBox"][3])
    page = shown(signed[1], 1, tmp_path)
    x, y, size = 120 * MM, 150 * MM, 40 * MM
    at = reds(page, _pixels((x, y, x + size, y + size), height))
    assert at > 200 and reds(page) - at > 200, (at, reds(page))


def test_bad_field_names_are_refused_naming_the_field_with_nothing_stored(served):  # noqa: F811
    w, agent, c, _home = served
    api = c["org"]
    pdf = certified_contract(w, agent)
    flows, signers = dbdump.count(w.p, SignFlow), dbdump.count(w.p, SignFlowSigner)

    def refused(signer_list: list[dict], field: str, code: str | None = None) -> str:
        r = api.post("/flows", json=_body(w, pdf, signer_list))
        got = problem_of(r, 422)
        assert got["field"] == field, got
        if code:
            assert got["code"] == code, got
        assert dbdump.count(w.p, SignFlow) == flows
        assert dbdump.count(w.p, SignFlowSigner) == signers
        return got["detail"]

    jia = _signer(w.jia, 1, field_name="甲方签章")
    # a field the contract has not
    detail = refused(
        [jia, _signer(w.yi, 2, field_name="丙方签章")], "signers[1].field_name", "no_such_field"
    )
    assert "'丙方签章'" in detail and "'甲方签章', '乙方签章'" in detail, detail
    # the same field for two signers
    detail = refused(
        [jia, _signer(w.yi, 2, field_name="甲方签章")], "signers[1].field_name", "field_taken"
    )
    assert "'甲方签章'" in detail, detail
    # a field and a placement both
    both = _signer(w.yi, 2, field_name="乙方签章", placement={"page": 1, "x_mm": 20, "y_mm": 20})
    detail = refused([jia, both], "signers[1].field_name")
    assert "'乙方签章'" in detail and "not both" in detail, detail
    # a field per document on every one, and a placement left for none of them
    unused = _signer(
        w.yi, 2, field_names={"0": "乙方签章"}, placement={"page": 1, "x_mm": 20, "y_mm": 20}
    )
    detail = refused([jia, unused], "signers[1].placement")
    assert "no document" in detail, detail
    # a field per document on every one, and a field_name left for none of them
    unused = _signer(w.yi, 2, field_names={"0": "乙方签章"}, field_name="乙方签章")
    detail = refused([jia, unused], "signers[1].field_name")
    assert "no document" in detail, detail
    # a field and a placement for the same document
    both = _signer(
        w.yi, 2, field_names={"0": "乙方签章"}, placements={"0": {"anchor": "乙方（签章）"}}
    )
    detail = refused([jia, both], "signers[1].field_names[0]")
    assert "not both" in detail, detail
    # a certified contract: a signer without a field would break the certification
    detail = refused([jia, _signer(w.yi, 2)], "signers[1].field_name", "certified")
    assert "'甲方签章', '乙方签章'" in detail, detail
    # the certification's own field is signed, not empty
    detail = refused(
        [jia, _signer(w.yi, 2, field_name="Certification")],
        "signers[1].field_name",
        "no_such_field",
    )
    # per document: a position the flow has not
    detail = refused(
        [jia, _signer(w.yi, 2, field_names={"3": "乙方签章"})], "signers[1].field_names"
    )
    # and what was refused is then accepted as it should be
    ok = api.post(
        "/flows",
        json=_body(w, pdf, [jia, _signer(w.yi, 2, field_names={"0": "乙方签章"})]),
    )
    assert ok.status_code == 201, ok.text


def test_the_lists_of_fields_mark_a_field_an_earlier_signature_locked(served, tmp_path):  # noqa: F811
    """The certification's field locks 乙方签章 (FieldMDP /Include, Acrobat's "mark as
    read-only after signing"): a flow naming it is refused at create (``field_locked``), yet
    POST /flows/fields and `yinxin sign fields` listed it as empty and free (``locked`` says
    only whether the field has a /Lock of its own), and the start page offered it. Both lists
    now name the signature that locks it (``locked_by``, ``locked_code`` as create refuses
    it); 甲方签章, which the lock leaves free, is listed as before."""
    w, agent, c, home = served
    api = c["org"]
    pdf = certified_contract(w, agent, locks=("乙方签章",))
    r = api.post("/flows/fields", content=pdf, headers={"Content-Type": "application/pdf"})
    assert r.status_code == 200, r.text
    listed = {f["name"]: f for f in r.json()["fields"]}
    assert list(listed) == ["甲方签章", "乙方签章"]
    marks = {n: (f["locked"], f["locked_by"], f["locked_code"]) for n, f in listed.items()}
    assert marks == {
        "甲方签章": (False, None, None),
        "乙方签章": (False, "Certification", "field_locked"),
    }, marks
    # the list says what create does: the locked field refused with the code, the free one not
    flows = dbdump.count(w.p, SignFlow)
    r = api.post("/flows", json=_body(w, pdf, [_signer(w.yi, 1, field_name="乙方签章")]))
    got = problem_of(r, 422)
    assert (got["field"], got["code"]) == ("signers[0].field_name", "field_locked"), got
    assert dbdump.count(w.p, SignFlow) == flows
    r = api.post("/flows", json=_body(w, pdf, [_signer(w.jia, 1, field_name="甲方签章")]))
    assert r.status_code == 201, r.text

    doc = tmp_path / "locked.pdf"
    doc.write_bytes(pdf)
    run = yinxin_cli(["sign", "fields", "--in", str(doc), "--json"], home)
    got = {
        f["name"]: (f["locked"], f["locked_by"], f["locked_code"]) for f in json.loads(run.stdout)
    }
    assert got == marks, got
    run = yinxin_cli(["sign", "fields", "--in", str(doc)], home)
    lines = {line.split()[0]: line for line in run.stdout.splitlines()}
    assert "not-signable" not in lines["甲方签章"], run.stdout
    assert "not-signable: signature 'Certification' locks it" in lines["乙方签章"], run.stdout


@pytest.mark.parametrize(
    "case, forbids, placement",
    [
        ("include", {"乙方签章": "field_locked"}, None),
        # every field but 乙方签章: 丙方签章 and a new field beside
        ("exclude", {"丙方签章": "field_locked"}, "field_locked"),
        ("p1", {"乙方签章": "locked", "丙方签章": "locked"}, "locked"),
        ("mdp", {}, "certified"),
    ],
)
def test_the_list_of_fields_says_what_each_fields_own_lock_forbids_after_it(  # noqa: F811
    served, case, forbids, placement
):
    """甲方签章's own /Lock (or its seed value's certification) will forbid some seals after
    it: a flow with 甲方 sealing there first and 乙方 into such a field (or beside) is refused
    at create (``PreparedLock``), but POST /flows/fields said nothing of it, so the start page
    could not warn while the rows were chosen: the starter learnt it at 提交 from a 422. Each
    field now lists what it forbids (``forbids``: field → code; ``forbids_placement``), and a
    flow with 乙方 second gets exactly that code from create (or is made when it is none)."""
    from tests.integration.test_seed_values_first import _jia_locks

    w, _agent, c, _home = served
    api = c["org"]
    pdf = _jia_locks(case)
    r = api.post("/flows/fields", content=pdf, headers={"Content-Type": "application/pdf"})
    assert r.status_code == 200, r.text
    listed = {f["name"]: f for f in r.json()["fields"]}
    assert list(listed) == ["甲方签章", "乙方签章", "丙方签章"]
    jia = listed["甲方签章"]
    assert (jia["forbids"], jia["forbids_placement"]) == (forbids, placement), jia
    for other in ("乙方签章", "丙方签章"):  # fields without a lock forbid nothing
        assert (listed[other]["forbids"], listed[other]["forbids_placement"]) == ({}, None)
    # the list says what create does, field by field and for a seal placed beside
    beside = {"placement": {"page": 1, "x_mm": 20, "y_mm": 20}}
    for at, second in (
        *(("signers[1].field_name", {"field_name": n}) for n in ("乙方签章", "丙方签章")),
        ("signers[1].placement", beside),
    ):
        code = forbids.get(second["field_name"]) if "field_name" in second else placement
        body = _body(w, pdf, [_signer(w.jia, 1, field_name="甲方签章"), _signer(w.yi, 2, **second)])
        r = api.post("/flows", json=body)
        if code is None:
            assert r.status_code == 201, (second, r.text)
        else:
            got = problem_of(r, 422)
            assert (got["field"], got["code"]) == (at, code), (second, got)


def test_an_uncertified_contract_is_filled_not_signed_beside_its_fields(served):  # noqa: F811
    """Without a certification a flow still works as before (new fields beside the empty
    ones); naming the fields fills them, so no reader lists a prepared field unsigned."""
    w, _agent, c, _home = served
    api, link = c["org"], c["link"]
    pdf = _prepared_only(contract_pdf(1))
    listed = api.post("/flows/fields", content=pdf, headers={"Content-Type": "application/pdf"})
    assert listed.json()["certified"] is False
    body = _body(
        w,
        pdf,
        [_signer(w.jia, 1, field_name="甲方签章"), _signer(w.yi, 2, field_name="乙方签章")],
    )
    flow = api.post("/flows", json=body).json()
    tokens = [x["token"] for x in api.post(f"/flows/{flow['id']}/start").json()["links"]]
    for party, token in zip((w.jia, w.yi), tokens, strict=True):
        sign_by_link(w, link, token, party)
    doc = api.get(f"/flows/{flow['id']}").json()["documents"][0]
    signed = api.get(f"/flows/{flow['id']}/documents/{doc['id']}").content
    reader = PdfFileReader(io.BytesIO(signed))
    assert [e.field_name for e in reader.embedded_signatures] == ["甲方签章", "乙方签章"]
    assert len(reader.root["/AcroForm"]["/Fields"]) == 2


def _prepared_only(pdf: bytes) -> bytes:
    """``pdf`` with 甲方签章 and 乙方签章 prepared on page 1, not certified."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    for name, box in corpus.PREPARED_BOXES:
        fields.append_signature_field(writer, fields.SigFieldSpec(name, box=box, on_page=0))
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def test_cli_flow_create_takes_a_field_per_signer(tmp_path):
    """``yinxin flow create --signer …,field=NAME``: a field the contract has not is refused
    naming the key typed (``signers[1].field``, exit 2), nothing made; one it has is kept."""
    from tests.integration.signing_flow import build_world, new_platform

    home = tmp_path / "cli"
    p = new_platform(home)
    w = build_world(p)
    p.close()
    doc = tmp_path / "c.pdf"
    doc.write_bytes(_prepared_only(contract_pdf(1)))

    def create(yi_field: str) -> object:
        jia = f"subscriber={w.jia.id},role=甲方,seal={w.jia.seal.es_id},field=甲方签章"
        yi = f"subscriber={w.yi.id},role=乙方,seal={w.yi.seal.es_id},field={yi_field}"
        args = ["flow", "create", "--title", "合同", "--doc", str(doc), "--days", "3"]
        return yinxin_cli([*args, "--signer", jia, "--signer", yi, "--json"], home, check=False)

    bad = create("丙方签章")
    got = json.loads(bad.stdout)
    assert bad.returncode == 2 and got["field"] == "signers[1].field", got
    assert "'丙方签章'" in got["message"] and "'乙方签章'" in got["message"], got
    assert json.loads(yinxin_cli(["flow", "list", "--json"], home).stdout)["items"] == []
    ok = create("乙方签章")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    flow = json.loads(ok.stdout)
    assert [s["placements"][0]["field_name"] for s in flow["signers"]] == ["甲方签章", "乙方签章"]


@pytest.mark.parametrize(
    "case, shown",
    [
        ("include", "once-sealed-forbids: '乙方签章' (field_locked)"),
        (
            "exclude",
            "once-sealed-forbids: '丙方签章' (field_locked), a seal placed beside (field_locked)",
        ),
        (
            "p1",
            "once-sealed-forbids: '乙方签章' (locked), '丙方签章' (locked), "
            "a seal placed beside (locked)",
        ),
        ("mdp", "once-sealed-forbids: a seal placed beside (certified)"),
    ],
)
def test_sign_fields_text_says_what_each_fields_own_lock_forbids_after_it(tmp_path, case, shown):
    """``yinxin sign fields --json`` gave ``forbids`` / ``forbids_placement``; the text listing
    said nothing of them, so a starter reading it chose an order its flow's create refuses.
    Each field's line now ends with what sealing into it forbids (the fields without a lock of
    their own say nothing); the same as --json, field by field."""
    from tests.integration.test_seed_values_first import _jia_locks

    doc = tmp_path / "doc.pdf"
    doc.write_bytes(_jia_locks(case))
    run = yinxin_cli(["sign", "fields", "--in", str(doc)], tmp_path / "home")
    lines = {line.split()[0]: line for line in run.stdout.splitlines()}
    assert lines["甲方签章"].endswith(shown), run.stdout
    for other in ("乙方签章", "丙方签章"):
        assert "forbids" not in lines[other], run.stdout
    listed = json.loads(yinxin_cli(["sign", "fields", "--in", str(doc), "--json"], tmp_path).stdout)
    jia = next(f for f in listed if f["name"] == "甲方签章")
    told = [f"'{n}' ({c})" for n, c in jia["forbids"].items()]
    told += [f"a seal placed beside ({jia['forbids_placement']})"] * bool(jia["forbids_placement"])
    assert shown == "once-sealed-forbids: " + ", ".join(told)
