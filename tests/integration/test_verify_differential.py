"""Our verdict on a signed PDF changed after signing, against pyHanko's validator and poppler's
``pdfsig``: we must never say VALID where either of them says the document was modified or a
signature is invalid.

One contract is signed once (a B-T signature with a visible seal); each case then changes it
the way a forger or a careless tool would — in place (a byte inside the signed range, the
/ByteRange, the /Contents of another signing) or as an incremental update (a new page content
stream, a comment, a new form field, a filled-in form field, the signature dictionary itself,
the document information, a DSS, a second signature, a comment or signature after a
certification that forbids it), cuts the file after a signed revision and adds garbage, or
hides a signature where pyHanko does not look (a widget only on a page, a field without a name;
built by ``pdf_factory.hidden_signature``). For each, the expected verdict and the reason the report
gives are pinned, and then compared with pyHanko's (``intact``/``valid``/modification
level/``docmdp_ok``, with the same trust root and validation time) and pdfsig's "Signature
Validation" lines.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pytest
from asn1crypto import x509 as a_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name, pdf_string
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, SimpleSigner
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from tests.integration import pdf_factory as f
from yinxin.pdf.verify import VerificationReport, verify_pdf

PDFSIG = shutil.which("pdfsig")
SIG_VALID = "Signature is Valid."


# ---------------------------------------------------------------------------------------------
# changes after signing


def _update(pdf: bytes, change: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    w = IncrementalPdfFileWriter(BytesIO(pdf))
    change(w)
    out = BytesIO()
    w.write(out)
    return out.getvalue()


def _rect(*xs: int) -> generic.ArrayObject:
    return generic.ArrayObject(map(generic.NumberObject, xs))


def _text_field(w: IncrementalPdfFileWriter, name: str, value: str, y: int) -> generic.Reference:
    page_ref, _ = w.find_page_for_modification(0)
    field = generic.DictionaryObject(
        {
            pdf_name("/FT"): pdf_name("/Tx"),
            pdf_name("/T"): pdf_string(name),
            pdf_name("/V"): pdf_string(value),
            pdf_name("/Type"): pdf_name("/Annot"),
            pdf_name("/Subtype"): pdf_name("/Widget"),
            pdf_name("/Rect"): _rect(72, y, 300, y + 20),
            pdf_name("/P"): page_ref,
        }
    )
    ref = w.add_object(field)
    w.register_annotation(page_ref, ref)
    return ref


def with_amount_field(pdf: bytes) -> bytes:
    """The contract with a text form field "amount" (before signing)."""

    def add(w: IncrementalPdfFileWriter) -> None:
        ref = _text_field(w, "amount", "100000", 600)
        w.root[pdf_name("/AcroForm")] = generic.DictionaryObject(
            {pdf_name("/Fields"): generic.ArrayObject([ref])}
        )
        w.update_root()

    return _update(pdf, add)


def change_content_stream(w: IncrementalPdfFileWriter) -> None:
    """Rewrite the first page's content stream: the amount 100000 becomes 900000."""
    page = w.root["/Pages"]["/Kids"][0]
    ref = page.raw_get("/Contents")
    stream = ref.get_object()
    stream._data = stream.data.replace(b"100000", b"900000")
    stream._encoded_data = None
    stream.pop("/Filter", None)
    w.mark_update(ref)


def fill_amount(w: IncrementalPdfFileWriter) -> None:
    ref = w.root["/AcroForm"]["/Fields"].raw_get(0)
    ref.get_object()[pdf_name("/V")] = pdf_string("900000")
    w.mark_update(ref)


def add_text_field(w: IncrementalPdfFileWriter) -> None:
    ref = _text_field(w, "extra", "另加条款", 500)
    w.root["/AcroForm"]["/Fields"].append(ref)
    w.update_root()


def edit_signature_dictionary(w: IncrementalPdfFileWriter) -> None:
    fields = w.root["/AcroForm"]["/Fields"]
    for i in range(len(fields)):
        value_ref = fields[i].raw_get("/V")
        value_ref.get_object()[pdf_name("/Reason")] = pdf_string("同意 900000")
        w.mark_update(value_ref)


def edit_info(w: IncrementalPdfFileWriter) -> None:
    w.set_info(generic.DictionaryObject({pdf_name("/Title"): pdf_string("已变更的合同")}))


def _signature_hex(pdf: bytes, n: int = 0) -> tuple[int, int]:
    """Where signature ``n``'s /Contents hex string (with its <>) lies in the file."""
    emb = PdfFileReader(BytesIO(pdf)).embedded_signatures[n]
    _, len1, start2, _ = emb.byte_range
    return len1, start2


def swap_contents(pdf: bytes, donor: bytes) -> bytes:
    """Put the /Contents of ``donor`` (a valid signature over other bytes) into ``pdf``."""
    s, e = _signature_hex(pdf)
    s2, e2 = _signature_hex(donor)
    assert e - s == e2 - s2
    return pdf[:s] + donor[s2:e2] + pdf[e:]


def skip_more_bytes(pdf: bytes) -> bytes:
    """Rewrite /ByteRange in place (same length) so that it leaves 50 more bytes unsigned."""
    m = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert m is not None
    a, b, c, d = map(int, m.groups())
    new = b"/ByteRange [%d %d %d %d]" % (a, b, c + 50, d - 50)
    assert len(new) <= len(m.group(0))
    return pdf[: m.start()] + new.ljust(len(m.group(0))) + pdf[m.end() :]


def cut_after(pdf: bytes, n: int) -> bytes:
    """The file up to the end of signature ``n``'s signed revision, then garbage."""
    emb = PdfFileReader(BytesIO(pdf)).embedded_signatures[n]
    _, _, start2, len2 = emb.byte_range
    return pdf[: start2 + len2] + b"\n%garbage\x00\xff" + b"A" * 500


def certify(pdf: bytes, signer: f.Party, permission: MDPPerm) -> bytes:
    """A certification signature (DocMDP ``permission``), B-B, by pyHanko's own signer."""
    simple = SimpleSigner(
        signing_cert=f._a_cert(signer.cert),
        signing_key=f._a_key(signer.key),
        cert_registry=SimpleCertificateStore.from_certs([f._a_cert(c) for c in signer.chain]),
    )
    meta = PdfSignatureMetadata(
        field_name="SignatureCertifying", certify=True, docmdp_permissions=permission
    )
    return PdfSigner(meta, simple).sign_pdf(IncrementalPdfFileWriter(BytesIO(pdf))).getvalue()


# ---------------------------------------------------------------------------------------------
# the cases


@dataclass
class Case:
    pdf: bytes
    valid: bool
    # what the report must say: (intact, changes_after) of each signature, in order
    why: list[tuple[bool, str]]


class World:
    def __init__(self) -> None:
        self.pki = pki = f.build_pki()
        self.at = pki.now + dt.timedelta(minutes=5)
        zhang, li = pki.new_signer("张三"), pki.new_signer("李四")
        plain = f.contract_pdf()
        signed = f.sign(plain, zhang, pki)
        with_field = f.sign(with_amount_field(plain), zhang, pki)
        two = f.sign(signed, li, pki, field_name="Signature2", box=(220, 80, 340, 200))
        elsewhere = f.sign(f.contract_pdf(pages=2), zhang, pki)
        intact, allowed = (True, "none"), (True, "allowed")
        changed = (True, "other")
        self.cases = {
            "untouched": Case(signed, True, [intact]),
            "byte_in_signed_range": Case(f.tamper(signed), False, [(False, "none")]),
            "contents_from_other_signing": Case(
                swap_contents(signed, elsewhere), False, [(False, "none")]
            ),
            "byterange_skips_more": Case(skip_more_bytes(signed), False, [(False, "other")]),
            "content_stream_rewritten": Case(
                _update(signed, change_content_stream), False, [changed]
            ),
            "comment_added": Case(f.add_text_annotation(signed), False, [changed]),
            "page_added": Case(f.append_page(signed), False, [changed]),
            "form_field_added": Case(_update(with_field, add_text_field), False, [changed]),
            "form_field_filled": Case(_update(with_field, fill_amount), True, [allowed]),
            "signature_dictionary_edited": Case(
                _update(signed, edit_signature_dictionary), False, [changed]
            ),
            "info_edited": Case(_update(signed, edit_info), True, [allowed]),
            "dss_added": Case(f.sign(plain, zhang, pki, revinfo="dss"), True, [allowed]),
            "second_signature": Case(two, True, [allowed, intact]),
            "cut_after_first_signature_plus_garbage": Case(cut_after(two, 0), True, [intact]),
            "cut_to_unsigned_revision_plus_garbage": Case(
                signed[: len(plain)] + b"\n%garbage" * 50, False, []
            ),
            "certified_for_forms_then_comment": Case(
                f.add_text_annotation(certify(plain, zhang, MDPPerm.FILL_FORMS)), False, [changed]
            ),
            "certified_no_changes_then_signature": Case(
                f.sign(certify(plain, zhang, MDPPerm.NO_CHANGES), li, pki, field_name="Signature2"),
                False,
                [changed, intact],
            ),
            "garbage_appended": Case(signed + b"\n% not a revision\n" * 20, True, [intact]),
            "hidden_signature_widget": Case(
                f.sign(f.hidden_signature(plain, elsewhere), zhang, pki), False, [intact]
            ),
            "unnamed_signature_field": Case(
                f.sign(f.hidden_signature(plain, elsewhere, in_form=True), zhang, pki),
                False,
                [intact],
            ),
        }

    def ours(self, pdf: bytes) -> VerificationReport:
        return verify_pdf(pdf, trust_roots=[self.pki.root], at=self.at)

    def pyhanko(self, pdf: bytes) -> list[tuple[bool, bool, ModificationLevel | None, bool]]:
        """(intact and valid, bottom_line, modification level, docmdp_ok) per signature."""
        reader = PdfFileReader(BytesIO(pdf))
        roots = [a_x509.Certificate.load(self.pki.root.public_bytes(serialization.Encoding.DER))]
        out = []
        for emb in reader.embedded_signatures:
            try:
                vc = DocumentSecurityStore.read_dss(reader).as_validation_context(
                    {"trust_roots": roots, "moment": self.at}
                )
            except NoDSSFoundError:
                vc = ValidationContext(trust_roots=roots, moment=self.at)
            st = validate_pdf_signature(emb, vc)
            out.append(
                (st.intact and st.valid, st.bottom_line, st.modification_level, st.docmdp_ok)
            )
        return out


def pdfsig(pdf: bytes, tmp_path: Path) -> list[str]:
    p = tmp_path / "doc.pdf"
    p.write_bytes(pdf)
    out = subprocess.run(["pdfsig", str(p)], capture_output=True, text=True, timeout=60).stdout
    return re.findall(r"Signature Validation: (.+)", out)


@pytest.fixture(scope="module")
def world() -> World:
    return World()


CASES = [
    "untouched",
    "byte_in_signed_range",
    "contents_from_other_signing",
    "byterange_skips_more",
    "content_stream_rewritten",
    "comment_added",
    "page_added",
    "form_field_added",
    "form_field_filled",
    "signature_dictionary_edited",
    "info_edited",
    "dss_added",
    "second_signature",
    "cut_after_first_signature_plus_garbage",
    "cut_to_unsigned_revision_plus_garbage",
    "certified_for_forms_then_comment",
    "certified_no_changes_then_signature",
    "garbage_appended",
    "hidden_signature_widget",
    "unnamed_signature_field",
]


@pytest.mark.parametrize("name", CASES)
def test_verdict_and_reason(world, name):
    case = world.cases[name]
    r = world.ours(case.pdf)
    assert r.valid is case.valid, r.to_text()
    signatures = [s for s in r.signatures if s.field_name.startswith("Signature")]
    assert [(s.intact, s.changes_after) for s in signatures] == case.why, r.to_text()
    for s in r.signatures:
        assert s.valid or s.problems  # never an unexplained "invalid"


def test_a_signature_outside_the_form_is_judged_and_noted(world):
    r = world.ours(world.cases["hidden_signature_widget"].pdf)
    hidden = [s for s in r.signatures if s.field_name == "李四"]
    assert len(r.signatures) == 2 and len(hidden) == 1
    assert not hidden[0].valid and not hidden[0].intact
    assert any("不在文档表单中" in n for n in hidden[0].notes)
    (listed,) = [s for s in r.signatures if s.field_name == "Signature1"]
    assert listed.valid and not any("不在文档表单中" in n for n in listed.notes)


def test_an_unnamed_signature_field_of_the_form_is_judged(world):
    r = world.ours(world.cases["unnamed_signature_field"].pdf)
    unnamed = [s for s in r.signatures if s.field_name == "(unnamed field)"]
    assert len(r.signatures) == 2 and len(unnamed) == 1
    assert not unnamed[0].valid and not unnamed[0].intact
    assert not any("不在文档表单中" in n for n in unnamed[0].notes)  # it is in the form


@pytest.mark.parametrize("name", CASES)
def test_never_more_lenient_than_pyhanko(world, name):
    pdf = world.cases[name].pdf
    r = world.ours(pdf)
    theirs = world.pyhanko(pdf)
    ours = {s.field_name: s for s in r.signatures}
    for (ok, bottom_line, level, docmdp_ok), emb in zip(
        theirs, PdfFileReader(BytesIO(pdf)).embedded_signatures, strict=True
    ):
        s = ours[str(emb.field_name)]
        assert s.intact == ok  # the same answer on the signed bytes
        if s.valid:
            assert bottom_line and docmdp_ok and level != ModificationLevel.OTHER
    if r.valid:
        assert all(bottom_line for _, bottom_line, _, _ in theirs)


@pytest.mark.skipif(not PDFSIG, reason="poppler-utils not installed")
@pytest.mark.parametrize("name", CASES)
def test_never_more_lenient_than_pdfsig(world, name, tmp_path):
    pdf = world.cases[name].pdf
    r = world.ours(pdf)
    theirs = pdfsig(pdf, tmp_path)
    if r.valid:
        assert theirs == [SIG_VALID] * len(theirs) and len(theirs) == len(r.signatures)
    else:  # pdfsig checks only the signed bytes, not what was appended after them
        assert (
            not r.signatures
            or theirs != [SIG_VALID] * len(theirs)
            or any(s.intact and s.changes_after != "none" for s in r.signatures)
        )
