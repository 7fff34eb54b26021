"""Contracts in every shape a PDF producer writes, sealed and judged by tools we did not write.

A corpus of structurally different inputs (``pdf_inputs_corpus``): xref tables and streams,
object streams, hybrid and linearized files, earlier incremental updates, headers 1.3 … 2.0,
rotated and cropped pages, inherited attributes and deep page trees, forms, earlier signatures
and certifications, encryption, Chinese metadata. Each is sealed through ``sign_pdf`` (what the
signing service, the CLI and the API call), then judged by poppler's ``pdfsig`` and pyHanko's
validator, and its page rendered by ``pdftoppm`` as a reader shows it (crop box, ``/Rotate``)
so the seal's red can be looked for inside the box asked for (docs/signing.md: x/y are the
seal's lower-left corner in mm from the displayed page's lower-left corner).
"""

from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pymupdf
import pytest
from asn1crypto import x509 as a_x509
from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from tests.integration import pdf_inputs_corpus as c
from tests.integration.test_pdf_sign import (
    DER,
    MM,
    _pyhanko_signed,
    pki,  # noqa: F401  (the module-scoped PKI fixture)
)
from yinxin.pdf.render import page_sizes, render_page
from yinxin.pdf.sign import Placement, SigningError, sign_pdf
from yinxin.pdf.verify import verify_pdf

DPI = 36
SCALE = DPI / 72
X_MM, Y_MM, SEAL_MM = 30, 40, 40


# ---------------------------------------------------------------------------------- corpus


def _rotate_inherited() -> bytes:
    def change(w: IncrementalPdfFileWriter) -> None:
        pages = w.root["/Pages"]
        pages["/Rotate"] = generic.NumberObject(270)
        w.update_container(pages)
        for kid in pages["/Kids"]:  # MuPDF writes /Rotate 0 on every page: inherit instead
            page = kid.get_object()
            del page["/Rotate"]
            w.update_container(page)

    return c.pages_dict(c.mupdf(2), change)


def _page_edit(**kw):
    def edit(doc: pymupdf.Document) -> None:
        for page in doc:
            if "rotate" in kw:
                page.set_rotation(kw["rotate"])
            if "crop" in kw:
                page.set_cropbox(pymupdf.Rect(*kw["crop"]))

    return edit


def _user_unit(pdf: bytes) -> bytes:
    def change(w: IncrementalPdfFileWriter) -> None:
        page = w.root["/Pages"]["/Kids"][0].get_object()
        page["/UserUnit"] = generic.FloatObject(2)
        page["/MediaBox"] = generic.ArrayObject(map(generic.NumberObject, (0, 0, 298, 421)))
        w.update_container(page)

    return c.pages_dict(pdf, change)


def _incremental_already(pdf: bytes) -> bytes:
    def change(w: IncrementalPdfFileWriter) -> None:
        w.root["/PageLayout"] = generic.NameObject("/OneColumn")
        w.update_root()

    return c.pages_dict(c.pages_dict(pdf, change), change)


def _form(empty_sig: bool) -> bytes:
    def edit(doc: pymupdf.Document) -> None:
        page = doc[0]
        for i, name in enumerate(("party_a", "amount")):
            wdg = pymupdf.Widget()
            wdg.field_type = pymupdf.PDF_WIDGET_TYPE_TEXT
            wdg.field_name = name
            wdg.field_value = "印信科技" if i == 0 else "100000"
            wdg.rect = pymupdf.Rect(72, 150 + 30 * i, 300, 170 + 30 * i)
            page.add_widget(wdg)

    pdf = c.mupdf(1, edit=edit)

    def change(w: IncrementalPdfFileWriter) -> None:
        w.root["/AcroForm"]["/NeedAppearances"] = generic.BooleanObject(True)
        w.update_container(w.root["/AcroForm"])

    pdf = c.pages_dict(pdf, change)
    if empty_sig:
        w = IncrementalPdfFileWriter(io.BytesIO(pdf))
        fields.append_signature_field(
            w, fields.SigFieldSpec("Signature1", box=(400, 600, 500, 650), on_page=0)
        )
        buf = io.BytesIO()
        w.write(buf)
        pdf = buf.getvalue()
    return pdf


def _metadata(doc: pymupdf.Document) -> None:
    doc.set_metadata({"title": "技术服务合同", "author": "印信科技有限公司", "subject": "合同"})
    doc.set_xml_metadata(
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">技术服务合同</rdf:li></rdf:Alt>'
        '</dc:title></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    )


def _version(v: str) -> bytes:
    pdf = c.mupdf(2)
    assert pdf.startswith(b"%PDF-1.7")
    return pdf.replace(b"%PDF-1.7", b"%PDF-" + v.encode(), 1)


def _no_id(pdf: bytes) -> bytes:
    """``pdf`` with its trailer's /ID blanked out (spaces: every offset stays). MuPDF writes
    each of the two identifiers as a hex string or, when its bytes happen to be mostly
    printable, a literal one (``(q+cOO`#\\025…)``): the hex-only pattern this had missed the
    literal form now and then (the identifiers are new each run), and the corpus failed."""
    import re

    string = rb"(?:<[0-9a-fA-F\s]*>|\((?:\\.|[^\\()])*\))"
    pattern = rb"/ID\s*\[\s*" + string + rb"\s*" + string + rb"\s*\]"
    out = re.sub(pattern, lambda m: b" " * len(m[0]), pdf, flags=re.S)
    assert b"/ID" not in out
    return out


@pytest.mark.parametrize(
    "trailer",
    [
        # the trailer MuPDF wrote when the fixture failed: the second identifier literal
        rb"<</Size 7/Root 1 0 R/ID[<19C281235DC28EC3BDC283C3A21F5123>"
        rb"(q+cOO`#\025\346\265`S\333 \\P)]>>",
        rb"<</Size 7/Root 1 0 R/ID [<19C2> <8EC3>]>>",
    ],
)
def test_no_id_blanks_either_form_of_identifier(trailer: bytes):
    pdf = b"%PDF-1.7\n" + trailer + b"\nstartxref\n9\n%%EOF\n"
    out = _no_id(pdf)
    assert len(out) == len(pdf) and b"/ID" not in out and b"/Root 1 0 R" in out


@dataclass(frozen=True)
class Case:
    pdf: bytes
    earlier: int = 0  # signatures already in it, which must stay valid
    page: int = 1  # the page sealed by position
    strict: bool = True  # pyHanko's default reader refuses hybrid-reference files outright
    mupdf: bool = False  # judge the picture by MuPDF: poppler ignores /UserUnit, Acrobat not


def corpus(pki_) -> dict[str, Case]:  # noqa: ANN001
    return {
        "mupdf-table-1.7": Case(c.mupdf(2)),
        "xref-stream": Case(c.mupdf(2, save={"use_objstms": False, "garbage": 1, "deflate": True})),
        "object-streams": Case(c.mupdf(3, save={"use_objstms": True, "garbage": 3})),
        "hybrid": Case(c.hybrid(), strict=False),
        "linearized": Case(c.linearized(3), page=2),
        "incremental-twice": Case(_incremental_already(c.mupdf(2))),
        "header-1.3": Case(_version("1.3")),
        "header-1.5": Case(_version("1.5")),
        "header-2.0": Case(_version("2.0")),
        "no-id": Case(_no_id(c.mupdf(1))),
        "rotate-90": Case(c.mupdf(2, edit=_page_edit(rotate=90))),
        "rotate-180": Case(c.mupdf(2, edit=_page_edit(rotate=180))),
        "rotate-270-crop": Case(c.mupdf(2, edit=_page_edit(rotate=270, crop=(40, 60, 520, 800)))),
        "cropbox-offset": Case(c.mupdf(2, edit=_page_edit(crop=(50, 30, 560, 780)))),
        "rotate-inherited": Case(_rotate_inherited(), page=2),
        "deep-tree": Case(c.deep_tree(8, 4), page=7),
        "one-page": Case(c.mupdf(1)),
        "300-pages": Case(c.mupdf(300), page=300),
        "user-unit-2": Case(_user_unit(c.mupdf(1, size=(298, 421))), mupdf=True),
        "form-need-appearances": Case(_form(False)),
        "form-empty-sig-field": Case(_form(True)),
        "signed-by-pyhanko": Case(_pyhanko_signed(pki_, c.mupdf(2)), earlier=1),
        "form-signed-by-pyhanko": Case(_pyhanko_signed(pki_, _form(False)), earlier=1),
        "chinese-info-xmp": Case(c.mupdf(1, edit=_metadata)),
    }


def _certified(pki_, pdf: bytes, level: int) -> bytes:  # noqa: ANN001
    """Certified by pyHanko (another platform) with DocMDP permission ``level``."""
    party = pki_.parties["甲方"]
    signer = c.pyhanko_signer(party.key.native, party.cert, [pki_.ca, pki_.root])
    meta = signers.PdfSignatureMetadata(
        field_name="Certification",
        subfilter=fields.SigSeedSubFilter.PADES,
        certify=True,
        docmdp_permissions=fields.MDPPerm(level),
    )
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)),
        meta,
        signer=signer,
        new_field_spec=fields.SigFieldSpec("Certification", box=(60, 60, 160, 100), on_page=0),
    )
    return out.getvalue()


# ---------------------------------------------------------------------------------- judges


def judge(data: bytes, pki_, expected: int, tmp: Path, strict: bool = True) -> None:  # noqa: ANN001
    """pdfsig (valid, trusted, no complaint about the file), pyHanko (intact, valid, trusted;
    every signature's later changes no worse than form filling) and our own verifier."""
    report = verify_pdf(data, trust_roots=[pki_.root])
    assert report.valid and len(report.signatures) == expected, report
    path = tmp / "signed.pdf"
    path.write_bytes(data)
    run = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{pki_.nss}", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Error" not in run.stderr, run.stderr
    blocks = [b for b in run.stdout.split("Signature #")[1:] if "form field is not signed" not in b]
    assert len(blocks) == expected, run.stdout
    for block in blocks:
        assert "Signature is Valid." in block, run.stdout
        assert "Certificate is Trusted." in block, run.stdout
    root = a_x509.Certificate.load(pki_.root.public_bytes(DER))
    reader = PdfFileReader(io.BytesIO(data), strict=strict)
    statuses = [
        validate_pdf_signature(emb, ValidationContext(trust_roots=[root], allow_fetching=False))
        for emb in reader.embedded_signatures
    ]
    assert len(statuses) == expected
    for st in statuses:
        assert st.intact and st.valid and st.trusted, st.pretty_print_details()
        assert st.modification_level.name in ("NONE", "LTA_UPDATES", "FORM_FILLING"), (
            st.pretty_print_details()
        )
        assert st.docmdp_ok, st.pretty_print_details()


def shown(data: bytes, page: int, tmp: Path, mupdf: bool = False) -> Image.Image:
    """The page as a reader shows it: crop box, turned by /Rotate, at DPI (by MuPDF, which
    also applies /UserUnit as Acrobat does, if asked)."""
    if mupdf:
        doc = pymupdf.open(stream=data)
        pix = doc[page - 1].get_pixmap(dpi=DPI)
        return Image.frombytes("RGB", (pix.width, pix.height), pix.samples)
    path = tmp / "render.pdf"
    path.write_bytes(data)
    subprocess.run(
        ["pdftoppm", "-png", "-cropbox", "-r", str(DPI), "-f", str(page), "-l", str(page)]
        + ["-singlefile", str(path), str(tmp / "page")],
        check=True,
        timeout=60,
    )
    return Image.open(tmp / "page.png").convert("RGB")


def reds(img: Image.Image, box: tuple[float, float, float, float] | None = None) -> int:
    """Seal-red pixels (inside ``box``: image pixels x0, y0, x1, y1 from the top-left)."""
    if box is not None:
        img = img.crop(tuple(int(round(v)) for v in box))
    raw = img.tobytes()
    return sum(
        1
        for r, g, b in zip(raw[0::3], raw[1::3], raw[2::3], strict=True)
        if r > 150 and g < 110 and b < 110
    )


# ---------------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def cases(pki):  # noqa: F811
    return corpus(pki)


# the corpus needs the PKI (earlier signatures); its names are listed here for parametrize
CASE_IDS = [
    "mupdf-table-1.7",
    "xref-stream",
    "object-streams",
    "hybrid",
    "linearized",
    "incremental-twice",
    "header-1.3",
    "header-1.5",
    "header-2.0",
    "no-id",
    "rotate-90",
    "rotate-180",
    "rotate-270-crop",
    "cropbox-offset",
    "rotate-inherited",
    "deep-tree",
    "one-page",
    "300-pages",
    "user-unit-2",
    "form-need-appearances",
    "form-empty-sig-field",
    "signed-by-pyhanko",
    "form-signed-by-pyhanko",
    "chinese-info-xmp",
]


def test_every_input_of_the_corpus_is_tried(cases):
    assert sorted(cases) == sorted(CASE_IDS)


@pytest.mark.parametrize("name", CASE_IDS)
def test_a_seal_by_position_is_valid_and_where_asked(pki, cases, name, tmp_path):  # noqa: F811
    case = cases[name]
    before = shown(case.pdf, case.page, tmp_path, case.mupdf)
    assert reds(before) == 0
    out = sign_pdf(
        pki.request(case.pdf, "乙方", placement=Placement(page=case.page, x_mm=X_MM, y_mm=Y_MM))
    )
    assert out.startswith(case.pdf)
    judge(out, pki, case.earlier + 1, tmp_path, case.strict)
    img = shown(out, case.page, tmp_path, case.mupdf)
    assert img.size == before.size
    s = SCALE * MM  # image pixels per mm as the reader shows the page
    h = img.size[1]
    box = (X_MM * s, h - (Y_MM + SEAL_MM) * s, (X_MM + SEAL_MM) * s, h - Y_MM * s)
    inside, total = reds(img, box), reds(img)
    area = (SEAL_MM * s) ** 2
    assert inside > 0.05 * area, (name, inside, total, box, img.size)
    assert total - inside < 0.02 * total, (name, inside, total, box, img.size)
    # the web page's click maps through the sizes it is told: they are the page as shown
    size = page_sizes(case.pdf)[case.page - 1]
    assert (size.width_mm * s, size.height_mm * s) == pytest.approx(img.size, abs=1.5)
    picture = Image.open(io.BytesIO(render_page(out, case.page, 300)))
    assert picture.width == pytest.approx(300, abs=2)
    assert picture.height == pytest.approx(300 * img.size[1] / img.size[0], abs=2)


def _encrypted_empty_password(method: int) -> bytes:
    return c.mupdf(
        1,
        save={
            "encryption": method,
            "owner_pw": "owner",
            "user_pw": "",
            "permissions": -1,
        },
    )


@pytest.mark.parametrize(
    "name, code",
    [
        ("aes-128-empty-password", "encrypted"),
        ("aes-256-empty-password", "encrypted"),
        ("certified-p1", "locked"),
        ("certified-p2", "certified"),
        ("certified-p3", "certified"),
    ],
)
def test_what_cannot_be_sealed_is_refused_clearly(pki, name, code):  # noqa: F811
    """An encrypted file opens without a password in every reader, but a signature in it must
    be written encrypted too (the incremental writer does not); a P=1 certification permits no
    change; one with P=2 or P=3 permits signing only the signature fields it prepared, and a
    seal in a new field made pdfsig say valid while pyHanko, our verifier and so the next
    signer called the certification broken. Refused, naming the document, nothing written."""
    if name.startswith("aes-128"):
        pdf = _encrypted_empty_password(pymupdf.PDF_ENCRYPT_AES_128)
    elif name.startswith("aes-256"):
        pdf = _encrypted_empty_password(pymupdf.PDF_ENCRYPT_AES_256)
    else:
        pdf = _certified(pki, c.mupdf(2), int(name[-1]))
    with pytest.raises(SigningError) as err:
        sign_pdf(pki.request(pdf, "乙方", placement=Placement(page=1, x_mm=X_MM, y_mm=Y_MM)))
    assert (err.value.field, err.value.code) == ("pdf", code), err.value.message


def test_a_broken_startxref_is_never_signed_as_damaged(pki, tmp_path):  # noqa: F811
    """``startxref`` a few bytes off the table (a tool's bug; readers rebuild the table): the
    seal is either refused clearly or the result is one pdfsig and pyHanko call valid."""
    pdf = c.broken_startxref(c.mupdf(2))
    try:
        out = sign_pdf(pki.request(pdf, "乙方", placement=Placement(page=1, x_mm=X_MM, y_mm=Y_MM)))
    except SigningError as err:
        assert err.field == "pdf" and err.code == "unreadable", err.message
        assert "startxref" in err.message and "damaged" in err.message, err.message
        return
    judge(out, pki, 1, tmp_path)


@pytest.mark.parametrize(
    "name", ["object-streams", "rotate-270-crop", "rotate-inherited", "linearized"]
)
def test_a_cross_page_seal_on_every_page_as_shown(pki, cases, name, tmp_path):  # noqa: F811
    """骑缝章: a strip of one seal at the right edge of every page as the reader shows it."""
    case = cases[name]
    out = sign_pdf(pki.request(case.pdf, "乙方", placement=None, cross_page=True))
    judge(out, pki, case.earlier + 1, tmp_path, case.strict)
    n = len(PdfFileReader(io.BytesIO(case.pdf), strict=False).root["/Pages"]["/Kids"])
    for page in range(1, n + 1):
        img = shown(out, page, tmp_path)
        w, h = img.size
        strip = SEAL_MM * MM * SCALE / n
        inside = reds(img, (w - strip - 1, 0, w, h))
        assert inside > 20 and reds(img) - inside < 0.02 * reds(img), (name, page)


def test_a_cross_page_seal_over_300_pages(pki, cases, tmp_path):  # noqa: F811
    """300 strips of one seal in one signature: valid, and a sliver on the first, a middle
    and the last page."""
    out = sign_pdf(pki.request(cases["300-pages"].pdf, "乙方", placement=None, cross_page=True))
    judge(out, pki, 1, tmp_path)
    for page in (1, 150, 300):
        img = shown(out, page, tmp_path)
        w, h = img.size
        assert reds(img, (w - 3, 0, w, h)) == reds(img), page


def test_an_anchor_on_a_user_unit_page(pki, cases, tmp_path):  # noqa: F811
    """The anchor's box (user space) is turned into the page as shown, /UserUnit applied:
    the seal sits on the text's end, 40 mm wide as the reader shows it."""
    pdf = cases["user-unit-2"].pdf
    out = sign_pdf(pki.request(pdf, "乙方", placement=Placement(anchor="Contract page 1")))
    judge(out, pki, 1, tmp_path)
    img = shown(out, 1, tmp_path, mupdf=True)
    # the text's baseline is 100 units (200 pt, 100 px) from the top; the seal 40 mm high
    side = SEAL_MM * MM * SCALE
    band = reds(img, (0, 100 - side / 2 - 8, img.size[0], 100 + side / 2 + 8))
    assert band == reds(img) > 0.05 * side * side
