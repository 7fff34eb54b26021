"""``yinxin flow create --signer …,field.N=NAME``: a prepared field for one document.

The API has long taken ``signers[i].field_names`` ({position: name}), a field for one document
beside the signer's placement on the others; the command line took only ``field=NAME``, the same
field on every ``--doc``, so a certified contract with an annex without fields could not be
started from a shell (``field.0=`` was an unknown key). ``field.N`` (N the ``--doc``'s position
from 0) names it now, refused naming the key typed when N is no ``--doc``, written another way,
given twice, or leaves a ``field=``/placement for no document. Spaces around a value are
dropped, deliberately (``field= 乙方签章`` is 乙方签章). Judged end to end, through the real CLI
as subprocesses, by pdfsig and pyHanko (certification intact, DocMDP respected).
"""

from __future__ import annotations

import io
import json

from asn1crypto import x509 as a_x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from tests.fixtures.samples import contract_pdf
from tests.integration.server import yinxin_json
from tests.integration.signing_flow import (
    build_world,
    cli_flow_create,
    cli_party,
    cli_sign_through_links,
    need,
    new_platform,
    nss_trusting,
    pdfsig,
)
from tests.integration.test_api_flow_fields import _prepared_only, certified_contract
from tests.integration.test_api_flows import served  # noqa: F401


def test_a_field_per_document_is_refused_naming_the_key_typed(tmp_path):
    """Each bad ``field.N`` exits 2 naming ``signers[i].field.N`` (or the key it leaves
    unused), with nothing made; a good one and trimmed values are kept as meant."""
    home = tmp_path / "cli"
    p = new_platform(home)
    w = build_world(p)
    p.close()
    contract, annex = tmp_path / "c.pdf", tmp_path / "annex.pdf"
    contract.write_bytes(_prepared_only(contract_pdf(1)))
    annex.write_bytes(contract_pdf(1, title="补充协议"))
    two = [contract, annex]
    yi = cli_party(w.yi, ",field.0=乙方签章")
    cases = [
        # (docs, 甲方's extra keys, the field refused, words of the message)
        (two, ",field.2=甲方签章", "signers[0].field.2", "2 --doc were given"),
        (two, ",field.01=甲方签章", "signers[0].field.01", "not field.N=NAME"),
        (two, ",field.+1=甲方签章", "signers[0].field.+1", "not field.N=NAME"),
        (two, ",field.=甲方签章", "signers[0].field.", "not field.N=NAME"),
        (two, ",field.x=甲方签章", "signers[0].field.x", "not field.N=NAME"),
        (two, ",field.-1=甲方签章", "signers[0].field.-1", "not field.N=NAME"),
        (two, ",field.0=甲方签章,field.0=乙方签章", "signers[0].field.0", "given twice"),
        (two, ",field.0=丙方签章", "signers[0].field.0", "'丙方签章'"),  # the service's
        (two, ",field.0= ", "signers[0].field.0", "1–100 characters"),
        (two, ",field.0=乙方签章", "signers[1].field.0", "already"),  # 乙方's too
        ([contract], ",field=甲方签章,field.0=甲方签章", "signers[0].field", "used on none"),
        ([contract], ",anchor=甲方,field.0=甲方签章", "signers[0].anchor", "used on none"),
        ([contract], ",x=20,y=20,field.0=甲方签章", "signers[0].x", "used on none"),
    ]
    for docs, more, field, words in cases:
        proc = cli_flow_create(home, docs, cli_party(w.jia, more), yi)
        assert proc.returncode == 2, (more, proc.stdout, proc.stderr)
        got = json.loads(proc.stdout)
        assert got["field"] == field and words in got["message"], (more, got)
    assert yinxin_json(["flow", "list"], home)["items"] == []

    # spaces around a value are dropped (the full-width one too): the field named is 甲方签章
    ok = cli_flow_create(
        home,
        two,
        cli_party(w.jia, ",field.0= 甲方签章\u3000"),
        cli_party(w.yi, ",field.0=乙方签章 "),
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    jia, yi_at = (s["placements"] for s in json.loads(ok.stdout)["signers"])
    assert [x.get("field_name") for x in jia] == ["甲方签章", None]
    assert [x.get("field_name") for x in yi_at] == ["乙方签章", None]
    assert jia[1]["anchor"] == "甲方（签章）"  # the default placement, on the annex


def test_a_certified_contract_and_an_annex_signed_from_the_command_line(served, tmp_path):  # noqa: F811
    """A DocMDP P=2 contract with 甲方签章/乙方签章 and an annex without fields, in one flow,
    every step a ``yinxin`` subprocess: 甲方 seals into 甲方签章 on the contract and at x/y
    on the annex, 乙方 (``field.0= 乙方签章``, trimmed) into 乙方签章 and at the anchor.
    pdfsig (with the platform serving its OCSP answers) and pyHanko find the certification
    intact and every seal valid and trusted."""
    need("pdfsig", "certutil")
    w, agent, _clients, home = served
    contract = tmp_path / "contract.pdf"
    contract.write_bytes(certified_contract(w, agent))
    root = w.p.ca.certificate("root")
    annex = tmp_path / "annex.pdf"
    annex.write_bytes(contract_pdf(1, title="补充协议"))

    proc = cli_flow_create(
        home,
        [contract, annex],
        cli_party(w.jia, ",order=1,field.0=甲方签章,page=1,x=120,y=150,width=40"),
        cli_party(w.yi, ",order=2,field.0= 乙方签章"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fid = str(json.loads(proc.stdout)["id"])
    answers = cli_sign_through_links(w, home, fid)
    for party, done in zip((w.jia, w.yi), answers, strict=True):
        assert [r["field_name"] for r in done["records"]][0] == f"{party.role}签章", done
    assert done["flow"]["state"] == "completed"

    nss = nss_trusting(tmp_path / "nss", root)
    trust = a_x509.Certificate.load(root.public_bytes(Encoding.DER))
    for d, original, names in (
        (done["flow"]["documents"][0], contract, ["Certification", "甲方签章", "乙方签章"]),
        (done["flow"]["documents"][1], annex, None),
    ):
        out = tmp_path / f"signed-{d['position']}.pdf"
        yinxin_json(["flow", "download", fid, str(d["id"]), "--out", str(out)], home)
        data = out.read_bytes()
        assert data.startswith(original.read_bytes())
        blocks = pdfsig(out, nss)
        assert len(blocks) == (3 if names else 2), blocks
        for block in blocks:
            assert "Signature is Valid." in block and "Certificate is Trusted." in block, block
            assert "form field is not signed" not in block, block
        reader = PdfFileReader(io.BytesIO(data))
        if names:
            assert [e.field_name for e in reader.embedded_signatures] == names
            assert len(reader.root["/AcroForm"]["/Fields"]) == 3  # no field added beside them
        for emb in reader.embedded_signatures:
            st = validate_pdf_signature(emb, ValidationContext(trust_roots=[trust]))
            assert st.intact and st.valid and st.trusted, st.pretty_print_details()
            assert st.docmdp_ok, st.pretty_print_details()
