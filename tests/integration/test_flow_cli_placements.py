"""``yinxin flow create --signer …,anchor.N=TEXT | page.N=…,x.N=MM,y.N=MM``: a placement for
one document.

The API has long taken ``signers[i].placements`` ({position: placement}), where a signer's
seal goes on one document when it differs from the others; the command line took only the
default placement (``anchor=``, ``page=``, ``x=``, ``y=``, ``width=``, every ``--doc``), so a
starter who wanted the seal at the anchor on the contract and at a fixed spot on the annex (or
at another anchor) could not say so from a shell (``x.1=`` was an unknown key). The same keys
with ``.N`` (N the ``--doc``'s position from 0) say it now, each a whole placement for that
document; refused naming the key typed when N is no ``--doc``, written another way, given
twice, given with a field for the same document, invalid, or the service finds the placement
does not fit its document. Judged end to end, through the real CLI as subprocesses, by pdfsig,
pyHanko, ``yinxin verify`` and pdftoppm (the seal's red where each placement says).
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
from tests.integration.server import yinxin_cli, yinxin_json
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
from tests.integration.test_api_flows import served  # noqa: F401
from tests.integration.test_pdf_inputs_differential import SCALE, reds, shown
from yinxin.pdf.sign import find_anchor

MM = 72 / 25.4  # points in a millimetre


def _pixels(box, page_height: float):  # noqa: ANN001, ANN202
    """A box in PDF points (x0, y0, x1, y1 from the lower left) as image pixels from the top
    left, as ``reds`` takes it."""
    x0, y0, x1, y1 = box
    return (x0 * SCALE, (page_height - y1) * SCALE, x1 * SCALE, (page_height - y0) * SCALE)


def _square(x_mm: float, y_mm: float, size_mm: float) -> tuple[float, float, float, float]:
    """Where a seal ``size_mm`` wide with its lower-left corner at x/y lies, with 1 mm of
    slack (a pixel's rounding at the low resolution ``shown`` draws at)."""
    return ((x_mm - 1) * MM, (y_mm - 1) * MM, (x_mm + size_mm + 1) * MM, (y_mm + size_mm + 1) * MM)


def _around(pdf: bytes, anchor: str, size_mm: float) -> tuple[float, float, float, float]:
    """Where a seal ``size_mm`` wide at ``anchor`` lies (with a little slack): centred on the
    end of the anchor text, as a paper seal is stamped (``Placement``)."""
    (hit,) = find_anchor(pdf, anchor)
    cx, cy = hit.bbox[2], (hit.bbox[1] + hit.bbox[3]) / 2
    half = (size_mm / 2 + 3) * MM
    return (cx - half, cy - half, cx + half, cy + half)


def test_a_placement_per_document_is_refused_naming_the_key_typed(tmp_path):
    """Each bad ``anchor.N``/``page.N``/``x.N``/``y.N``/``width.N`` exits 2 naming
    ``signers[i].KEY.N`` as typed (or the key it leaves unused), with nothing made; a good one
    is kept as the API's ``placements`` keeps it."""
    home = tmp_path / "cli"
    p = new_platform(home)
    w = build_world(p)
    p.close()
    contract, annex = tmp_path / "c.pdf", tmp_path / "annex.pdf"
    contract.write_bytes(contract_pdf(1))
    annex.write_bytes(contract_pdf(1, title="补充协议"))
    two = [contract, annex]
    yi = cli_party(w.yi)
    cases = [
        # (docs, 甲方's extra keys, the field refused, words of the message)
        (two, ",anchor.2=甲方", "signers[0].anchor.2", "2 --doc were given"),
        ([contract], ",x.1=20,y.1=20", "signers[0].x.1", "1 --doc was given"),
        (two, ",x.01=20,y.1=20", "signers[0].x.01", "not x.N=MM"),
        (two, ",page.+1=1,x.1=2,y.1=2", "signers[0].page.+1", "not page.N=PAGE"),
        (two, ",anchor.=甲方", "signers[0].anchor.", "not anchor.N=TEXT"),
        (two, ",anchor.x=甲方", "signers[0].anchor.x", "not anchor.N=TEXT"),
        (two, ",width.-1=30", "signers[0].width.-1", "not width.N=MM"),
        (two, ",anchor.1=甲方,anchor.1=乙方", "signers[0].anchor.1", "given twice"),
        (two, ",field.1=甲方签章,x.1=20,y.1=20", "signers[0].x.1", "field.1= and x.1="),
        (two, ",field=甲方签章,anchor.1=甲方", "signers[0].anchor.1", "field= and anchor.1="),
        (two, ",anchor.1= ", "signers[0].anchor.1", "empty"),
        (two, ",x.1=abc,y.1=20", "signers[0].x.1", "decimal digits"),
        (two, ",x.1=20,y.1=2001", "signers[0].y.1", "from 0 to 2000"),
        (two, ",x.1=20", "signers[0].y.1", "give y.1=MM with x.1=MM"),
        (two, ",page.1=1", "signers[0].page.1", "needs anchor.1=TEXT, or x.1=MM,y.1=MM"),
        (two, ",page.1=0,anchor.1=甲方", "signers[0].page.1", "1-based"),
        (two, ",page.1=x,anchor.1=甲方", "signers[0].page.1", "page.1"),
        (two, ",anchor.1=甲方,width.1=5", "signers[0].width.1", "10"),
        # the service's own checks, named as typed: the --doc's position from its message
        (two, ",anchor.1=丙方（签章）", "signers[0].anchor.1", "not in document 1"),
        (two, ",page.1=3,x.1=20,y.1=20", "signers[0].page.1", "has no page 3"),
        (two, ",page.1=1,x.1=190,y.1=280,width.1=40", "signers[0].x.1", "does not fit"),
        (two, ",anchor.0=甲方,page.1=1,x.1=190,y.1=280", "signers[0].x.1", "does not fit"),
        # only y (or only x) runs the seal off the page: that key is named, not always x
        (two, ",page.1=1,x.1=20,y.1=280,width.1=40", "signers[0].y.1", "does not fit"),
        (two, ",page.1=1,x.1=190,y.1=20,width.1=40", "signers[0].x.1", "does not fit"),
        # the default placement left for no --doc
        (two, ",anchor=甲方,anchor.0=甲方,anchor.1=乙方", "signers[0].anchor", "used on none"),
        (two, ",x=20,y=20,field.0=甲方签章,anchor.1=乙方", "signers[0].x", "used on none"),
        ([contract], ",field=甲方签章,field.0=甲方签章", "signers[0].field", "used on none"),
    ]
    for docs, more, field, words in cases:
        proc = cli_flow_create(home, docs, cli_party(w.jia, more), yi)
        assert proc.returncode == 2, (more, proc.stdout, proc.stderr)
        got = json.loads(proc.stdout)
        assert got["field"] == field and words in got["message"], (more, got)
    assert yinxin_json(["flow", "list"], home)["items"] == []

    # a good one: the default where no .N key is given, the .N placement where it is
    ok = cli_flow_create(home, two, cli_party(w.jia, ", page.1=1,x.1= 120,y.1=150,width.1=40"), yi)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    jia = json.loads(ok.stdout)["signers"][0]["placements"]
    assert jia[0]["anchor"] == "甲方（签章）" and jia[0]["x_mm"] is None
    assert jia[1]["anchor"] is None
    assert (jia[1]["page"], jia[1]["x_mm"], jia[1]["y_mm"], jia[1]["width_mm"]) == (1, 120, 150, 40)


def test_a_default_placement_off_the_page_is_refused_naming_x(tmp_path):
    """A seal by page and x/y that would not fit the page was refused naming
    ``signers[0].anchor``, a key not typed; it names ``x`` now."""
    home = tmp_path / "cli"
    p = new_platform(home)
    w = build_world(p)
    p.close()
    contract = tmp_path / "c.pdf"
    contract.write_bytes(contract_pdf(1))
    proc = cli_flow_create(
        home, [contract], cli_party(w.jia, ",page=1,x=190,y=280,width=40"), cli_party(w.yi)
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    got = json.loads(proc.stdout)
    assert got["field"] == "signers[0].x" and "does not fit" in got["message"], got
    assert yinxin_json(["flow", "list"], home)["items"] == []


def test_two_documents_each_sealed_where_its_placement_says(served, tmp_path):  # noqa: F811
    """A contract and an annex, every step a ``yinxin`` subprocess: 甲方 at its anchor on the
    contract (the default) and at page 1, 120/150 mm on the annex (``x.1=``…); 乙方 at
    20/200 mm on the contract (``x.0=``…) and at another anchor, the title 补充协议, on the annex
    (``anchor.1=``). pdfsig (with the platform serving its OCSP answers), pyHanko and
    ``yinxin verify`` find every seal valid and trusted; pdftoppm shows each seal's red where
    its placement says."""
    need("pdfsig", "certutil", "pdftoppm")
    w, _agent, _clients, home = served
    contract, annex = tmp_path / "contract.pdf", tmp_path / "annex.pdf"
    contract.write_bytes(contract_pdf(1))
    annex.write_bytes(contract_pdf(1, title="补充协议"))
    proc = cli_flow_create(
        home,
        [contract, annex],
        cli_party(
            w.jia, ",order=1,anchor=甲方（签章）,width=40,page.1=1,x.1=120,y.1=150,width.1=40"
        ),
        cli_party(w.yi, ",order=2,page.0=1,x.0=20,y.0=200,width.0=30,anchor.1=补充协议,width.1=30"),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    created = json.loads(proc.stdout)
    jia, yi = (s["placements"] for s in created["signers"])
    assert [x["anchor"] for x in jia] == ["甲方（签章）", None]
    assert [x["anchor"] for x in yi] == [None, "补充协议"]
    fid = str(created["id"])
    for done in cli_sign_through_links(w, home, fid):
        assert len(done["records"]) == 2, done
    assert done["flow"]["state"] == "completed"

    root = w.p.ca.certificate("root")
    nss = nss_trusting(tmp_path / "nss", root)
    trust = a_x509.Certificate.load(root.public_bytes(Encoding.DER))
    # the seals' boxes in points on each document: 甲方's then 乙方's
    boxes = (
        (_around(contract.read_bytes(), "甲方（签章）", 40), _square(20, 200, 30)),
        (_square(120, 150, 40), _around(annex.read_bytes(), "补充协议", 30)),
    )
    for d, original, (first, second) in zip(
        done["flow"]["documents"], (contract, annex), boxes, strict=True
    ):
        out = tmp_path / f"signed-{d['position']}.pdf"
        yinxin_json(["flow", "download", fid, str(d["id"]), "--out", str(out)], home)
        data = out.read_bytes()
        assert data.startswith(original.read_bytes())
        blocks = pdfsig(out, nss)
        assert len(blocks) == 2, blocks
        for block in blocks:
            assert "Signature is Valid." in block and "Certificate is Trusted." in block, block
        reader = PdfFileReader(io.BytesIO(data))
        for emb in reader.embedded_signatures:
            st = validate_pdf_signature(emb, ValidationContext(trust_roots=[trust]))
            assert st.intact and st.valid and st.trusted, st.pretty_print_details()
        checked = yinxin_cli(["verify", str(out), "--json"], home, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        report = json.loads(checked.stdout)
        assert report["valid"] is True and len(report["signatures"]) == 2, report
        # pdftoppm: each seal's red inside its box, and nothing red outside the two
        height = float(reader.root["/Pages"]["/Kids"][0]["/MediaBox"][3])
        page = shown(data, 1, tmp_path)
        inside = [reds(page, _pixels(box, height)) for box in (first, second)]
        assert all(n > 200 for n in inside), (d["position"], inside)
        assert sum(inside) == reds(page), (d["position"], inside, reds(page))
