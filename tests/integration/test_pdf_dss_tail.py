"""The DSS-tail shortcut of the difference analysis (``yinxin.pdf.dss_tail``), judged by
pyHanko's own ``review_file``.

Two things must hold. Every file the shortcut takes is one pyHanko's default policy judges
``LTA_UPDATES``, with no changed form field (the B-LT files below, with and without VRI). And
each way a revision after the signature may differ from the plain DSS tail makes the shortcut
hand the file to pyHanko: some of these pyHanko refuses (an edited page, a stray DSS key, a
number the signed revision already named), some it lets through (an orphan object); either
way the verdict is pyHanko's.
"""

from __future__ import annotations

import datetime as dt
from io import BytesIO

import pytest
from asn1crypto import crl as a_crl
from asn1crypto import ocsp as a_ocsp
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    DiffResult,
    ModificationLevel,
    SuspiciousModification,
)
from pyhanko.sign.validation.dss import DocumentSecurityStore

from tests.integration import pdf_factory as f
from yinxin.pdf.dss_tail import DIFF_POLICY, dss_tail
from yinxin.pdf.verify import verify_pdf

EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def pki() -> f.TestPki:
    return f.build_pki()


@pytest.fixture(scope="module")
def plain() -> bytes:
    return f.contract_pdf()


@pytest.fixture(scope="module")
def signed(pki, plain) -> tuple[bytes, f.Party]:
    """B-T: the signature's revision is the file's last."""
    signer = pki.new_signer("张三")
    return f.sign(plain, signer, pki), signer


def _last_signature(pdf: bytes):
    reader = PdfFileReader(BytesIO(pdf))
    return reader, reader.embedded_signatures[-1]


def _pyhanko(pdf: bytes):
    reader, emb = _last_signature(pdf)
    return DEFAULT_DIFF_POLICY.review_file(reader, emb.signed_revision)


def _ours(pdf: bytes) -> tuple[bool, object]:
    reader, emb = _last_signature(pdf)
    taken = dss_tail(reader, emb.signed_revision)
    return taken, DIFF_POLICY.review_file(reader, emb.signed_revision)


def _same_verdict(a, b) -> bool:
    if isinstance(a, DiffResult) and isinstance(b, DiffResult):
        return (a.modification_level, a.changed_form_fields) == (
            b.modification_level,
            b.changed_form_fields,
        )
    return type(a) is type(b)


def _tail(pdf: bytes, pki: f.TestPki, signer: f.Party, twist=None, vri: bool = True) -> bytes:
    """One more revision adding a DSS (chain, OCSP, CRL) as pyHanko writes it; ``twist(w)``
    then changes something else in the same revision."""
    w = IncrementalPdfFileWriter(BytesIO(pdf))
    _, emb = _last_signature(pdf)
    DocumentSecurityStore.supply_dss_in_writer(
        w,
        emb.pkcs7_content.hex().encode("ascii") if vri else None,
        certs=[f._a_cert(c) for c in [*signer.chain, pki.ocsp.cert]],
        ocsps=[a_ocsp.OCSPResponse.load(pki.ocsp_response(signer.cert))],
        crls=[a_crl.CertificateList.load(pki.root_crl())],
    )
    if twist is not None:
        twist(w)
    out = BytesIO()
    w.write(out)
    return out.getvalue()


def test_a_b_lt_contract_takes_the_shortcut_and_pyhanko_agrees(pki, plain):
    for pdf in (
        f.sign(plain, pki.new_signer("李四"), pki, revinfo="dss"),
        f.sign(plain, pki.new_signer("王五"), pki, revinfo="dss", tsa_revinfo=False),
    ):
        reference = _pyhanko(pdf)
        assert isinstance(reference, DiffResult)
        assert reference.modification_level == ModificationLevel.LTA_UPDATES
        taken, ours = _ours(pdf)
        assert taken
        assert _same_verdict(ours, reference)
        assert verify_pdf(pdf, trust_roots=[pki.root]).valid


@pytest.mark.parametrize("vri", [True, False])
def test_a_dss_tail_with_or_without_vri_is_taken(pki, signed, vri):
    pdf, signer = signed
    out = _tail(pdf, pki, signer, vri=vri)
    reference = _pyhanko(out)
    assert isinstance(reference, DiffResult)
    assert reference.modification_level == ModificationLevel.LTA_UPDATES
    taken, ours = _ours(out)
    assert taken and _same_verdict(ours, reference)


def test_the_signatures_own_revision_is_no_tail(pki, signed):
    pdf, _ = signed
    reader, emb = _last_signature(pdf)
    assert not dss_tail(reader, emb.signed_revision)


def _edit_page(w: IncrementalPdfFileWriter) -> None:
    page = w.root["/Pages"]["/Kids"][0].get_object()
    page["/Rotate"] = generic.NumberObject(90)
    w.update_container(page)


def _catalogue_key(w: IncrementalPdfFileWriter) -> None:
    w.root["/PageMode"] = generic.NameObject("/UseOutlines")
    w.update_root()


def _stray_dss_key(w: IncrementalPdfFileWriter) -> None:
    dss = w.root["/DSS"]
    dss["/Extra"] = w.add_object(generic.DictionaryObject({}))
    w.update_container(dss)


def _orphan(w: IncrementalPdfFileWriter) -> None:
    w.add_object(generic.DictionaryObject({generic.NameObject("/Note"): generic.NumberObject(1)}))


def _info_reference(w: IncrementalPdfFileWriter) -> None:
    info = w.trailer["/Info"]
    info["/Extra"] = w.add_object(generic.DictionaryObject({}))
    w.update_container(info)


def _later_revision(pdf: bytes) -> bytes:
    return f.append_page(pdf)


@pytest.mark.parametrize(
    ("twist", "pyhanko_refuses"),
    [
        (_edit_page, True),
        (_catalogue_key, True),
        (_stray_dss_key, True),
        (_orphan, False),
        (_info_reference, True),
    ],
    ids=["page edited", "catalogue key", "stray DSS key", "orphan object", "reference in /Info"],
)
def test_anything_beside_the_dss_goes_to_pyhanko(pki, signed, twist, pyhanko_refuses):
    pdf, signer = signed
    out = _tail(pdf, pki, signer, twist)
    reference = _pyhanko(out)
    assert isinstance(reference, SuspiciousModification) == pyhanko_refuses
    taken, ours = _ours(out)
    assert not taken
    assert _same_verdict(ours, reference)


def test_a_second_revision_after_the_tail_goes_to_pyhanko(pki, signed):
    pdf, signer = signed
    out = _later_revision(_tail(pdf, pki, signer))
    taken, ours = _ours(out)
    assert not taken
    assert isinstance(_pyhanko(out), SuspiciousModification)
    assert isinstance(ours, SuspiciousModification)
    assert not verify_pdf(out, trust_roots=[pki.root]).valid


def test_a_number_the_signed_revision_already_named_goes_to_pyhanko(pki, plain):
    """The signed page names an object number that does not exist yet: one the DSS revision
    will define. A reader of the new revision follows the page to that DSS object, so pyHanko
    refuses the revision (the walk of the signed revision lists the page's use of the number),
    and the shortcut must not take it."""
    signer = pki.new_signer("赵六")

    def signed_naming(idnum: int) -> bytes:
        w = IncrementalPdfFileWriter(BytesIO(plain))
        page = w.root["/Pages"]["/Kids"][0].get_object()
        page["/PieceInfo"] = generic.IndirectObject(idnum, 0, w)
        w.update_container(page)
        out = BytesIO()
        w.write(out)
        return f.sign(out.getvalue(), signer, pki)

    def defined_by_tail(pdf: bytes) -> set[int]:
        reader, emb = _last_signature(pdf)
        refs = reader.xrefs.explicit_refs_in_revision(emb.signed_revision + 1)
        return {r.idnum for r in refs}

    clean = _tail(signed_naming(100_000), pki, signer, vri=False)
    assert dss_tail(*_nonstrict(clean))  # the same file naming a number never defined: taken
    named = max(defined_by_tail(clean))  # a DSS stream: the writer adds the DSS itself first
    tampered = _tail(signed_naming(named), pki, signer, vri=False)
    assert named in defined_by_tail(tampered)

    reference = DEFAULT_DIFF_POLICY.review_file(*_nonstrict(tampered))
    assert isinstance(reference, SuspiciousModification)
    reader, base = _nonstrict(tampered)
    assert not dss_tail(reader, base)
    assert isinstance(DIFF_POLICY.review_file(reader, base), SuspiciousModification)
    assert not verify_pdf(tampered, trust_roots=[pki.root]).valid


def _nonstrict(pdf: bytes) -> tuple[PdfFileReader, int]:
    """As verify_pdf reads: a name of a missing object is null, not an error."""
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    return reader, reader.embedded_signatures[-1].signed_revision


def test_a_second_signers_dss_update_is_taken_and_pyhanko_agrees(pki, plain):
    """A two-party B-LT contract: the second signature's tail updates the DSS the first left
    (pyHanko's add_dss rewrites it in place; the platform's append_dss writes a new one,
    test_pdf_sign.py). The last signature's review is taken; the first one's, which a later
    signature follows, is pyHanko's."""
    one = f.sign(plain, pki.new_signer("甲"), pki, revinfo="dss")
    two = f.sign(
        one,
        pki.new_signer("乙"),
        pki,
        revinfo="dss",
        field_name="Signature2",
        box=(220, 80, 340, 200),
    )
    reader = PdfFileReader(BytesIO(two), strict=False)
    first, last = reader.embedded_signatures
    assert not dss_tail(reader, first.signed_revision)
    assert dss_tail(reader, last.signed_revision)
    reference = DEFAULT_DIFF_POLICY.review_file(reader, last.signed_revision)
    assert _same_verdict(DIFF_POLICY.review_file(reader, last.signed_revision), reference)
    assert reference.modification_level == ModificationLevel.LTA_UPDATES
    assert verify_pdf(two, trust_roots=[pki.root]).valid


def test_a_tail_written_with_an_xref_stream_is_taken(pki, plain):
    """Files whose cross-reference sections are streams (the platform's contract renderer
    writes them) get their DSS revision in one too; the new xref stream is what
    XrefStreamRule allows."""
    w = copy_into_new_writer(PdfFileReader(BytesIO(plain)), writer_kwargs={"stream_xrefs": True})
    out = BytesIO()
    w.write(out)
    signer = pki.new_signer("钱七")
    pdf = _tail(f.sign(out.getvalue(), signer, pki), pki, signer)
    reader, emb = _last_signature(pdf)
    meta = reader.xrefs.get_xref_container_info(emb.signed_revision + 1)
    assert meta.stream_ref is not None
    taken, ours = _ours(pdf)
    assert taken and _same_verdict(ours, _pyhanko(pdf))


def _old_vri_entry_changed(w: IncrementalPdfFileWriter) -> None:
    vri = w.root["/DSS"]["/VRI"]
    key = next(iter(vri))
    vri[key] = generic.DictionaryObject({generic.NameObject("/TU"): generic.pdf_date(EPOCH)})
    w.update_container(w.root["/DSS"])


def _old_array_dropped(w: IncrementalPdfFileWriter) -> None:
    dss = w.root["/DSS"]
    del dss["/CRLs"]
    w.update_container(dss)


def _page_stream_listed(w: IncrementalPdfFileWriter) -> None:
    dss = w.root["/DSS"]
    page = w.root["/Pages"]["/Kids"][0].get_object()
    dss["/Certs"].get_object().append(page.raw_get("/Contents"))
    w.update_container(dss)


@pytest.mark.parametrize(
    "twist",
    [_old_vri_entry_changed, _old_array_dropped, _page_stream_listed],
    ids=["old VRI entry changed", "old DSS array dropped", "a page's stream listed"],
)
def test_an_update_of_the_old_dss_beyond_adding_goes_to_pyhanko(pki, plain, twist):
    signer = pki.new_signer("孙八")
    lt = f.sign(plain, signer, pki, revinfo="dss")  # a DSS, with a VRI entry, already
    pdf = f.sign(lt, signer, pki, field_name="Signature2", box=(220, 80, 340, 200))
    plain_update = _tail(pdf, pki, signer)
    assert _ours(plain_update)[0]  # the same update without the twist is taken
    out = _tail(pdf, pki, signer, twist)
    taken, ours = _ours(out)
    assert not taken
    assert _same_verdict(ours, _pyhanko(out))


def test_a_dss_the_signed_revision_reaches_another_way_goes_to_pyhanko(pki, plain):
    """The DSS rewritten in place is approved by pyHanko only at /Root/DSS: a page that also
    names the DSS object would read the new one. pyHanko refuses; the shortcut defers."""
    signer = pki.new_signer("周九")
    lt = f.sign(plain, signer, pki, revinfo="dss")
    w = IncrementalPdfFileWriter(BytesIO(lt))
    page = w.root["/Pages"]["/Kids"][0].get_object()
    page["/PieceInfo"] = w.root.raw_get("/DSS")
    w.update_container(page)
    named = BytesIO()
    w.write(named)
    pdf = f.sign(named.getvalue(), signer, pki, field_name="Signature2", box=(220, 80, 340, 200))
    out = _tail(pdf, pki, signer)
    reader, emb = _last_signature(out)
    assert emb.signed_revision + 1 == reader.xrefs.total_revisions - 1
    rewritten = reader.xrefs.explicit_refs_in_revision(emb.signed_revision + 1)
    assert reader.root.raw_get("/DSS").reference in rewritten  # the DSS updated in place
    assert isinstance(_pyhanko(out), SuspiciousModification)
    taken, ours = _ours(out)
    assert not taken and isinstance(ours, SuspiciousModification)
