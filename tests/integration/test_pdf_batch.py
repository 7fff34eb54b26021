"""Verifying an archive in one call (issue 10): ``yinxin.pdf.batch`` gives, file for file, the
report that verifying each file on its own gives — whatever order the files come in, whatever
was cached from the files before — and a file that is not a PDF is a result, not an exception.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import hashlib
import random
import re
from io import BytesIO

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader
from pyhanko.sign.validation import generic_cms
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter

from tests.integration import pdf_factory as f
from tests.integration.test_pdf_verify import Docs, edit_info
from yinxin.pdf import accel
from yinxin.pdf.batch import Verifier, verify_many
from yinxin.pdf.verify import verify_pdf

KINDS = (
    "bt",
    "blt",
    "blt_no_tsa_revinfo",
    "blta",
    "bb",
    "two",
    "tampered",
    "page_added",
    "comment_added",
    "untrusted",
    "revoked_dss",
    "revoked_cms",
)


@pytest.fixture(scope="module")
def docs() -> Docs:
    return Docs()


def _archive(docs: Docs) -> list[tuple[str, bytes]]:
    items = [(f"{k}.pdf", getattr(docs, k)) for k in KINDS]
    # more contracts from the same CA, so later files meet cached chains and signatures
    for i in range(4):
        signer = docs.pki.new_signer(f"签署人{i}")
        items.append((f"more-{i}.pdf", f.sign(docs.plain, signer, docs.pki, revinfo="dss")))
    items += _odd_responders(docs)
    return items


def _odd_responders(docs: Docs) -> list[tuple[str, bytes]]:
    """B-LT files whose OCSP responses are signed by a responder other than the usual one, met
    after the usual one was remembered as valid (verify.py ``_ocsp_provenance``): one from
    another CA, one of ours that had expired before the signature, one of ours not yet valid
    when the signature was made."""
    pki, now = docs.pki, docs.pki.now
    day = dt.timedelta(days=1)
    responders = {
        "foreign-responder": docs.rogue.ocsp,
        "expired-responder": pki.new_signer(
            "Yinxin OCSP old", profile="ocsp-responder", not_before=now - 30 * day, days=7
        ),
        "future-responder": pki.new_signer(
            "Yinxin OCSP next", profile="ocsp-responder", not_before=now + day
        ),
    }
    out = []
    for name, responder in responders.items():
        odd = dataclasses.replace(pki, ocsp=responder)
        signer = pki.new_signer(f"签署人-{name}")
        out.append((f"{name}.pdf", f.sign(docs.plain, signer, odd, revinfo="dss")))
    return out


@pytest.mark.parametrize("policy", ["last-known", "strict"])
@pytest.mark.parametrize("when", ["now", "in-ten-years"])
def test_a_batch_reports_exactly_what_each_file_alone_reports(docs, policy, when):
    at = docs.pki.now + (dt.timedelta(minutes=5) if when == "now" else dt.timedelta(days=3650))
    items = _archive(docs)
    random.Random(7).shuffle(items)
    # trusted roots: ours, and (for "wrong trust root") a batch trusting only the rogue root
    verdicts: list[dict[str, bool]] = []
    for roots in ([docs.pki.root], [docs.rogue.root]):
        alone = [
            verify_pdf(pdf, trust_roots=roots, file_name=name, at=at, policy=policy).to_dict()
            for name, pdf in items
        ]
        batch = Verifier(roots, at=at, policy=policy).verify_many(items)
        assert [r.error for r in batch] == [None] * len(items)
        assert [r.report.to_dict() for r in batch] == alone
        # twice through the same verifier: the second pass is served from warm caches
        again = Verifier(roots, at=at, policy=policy)
        again.verify_many(items)
        assert [r.report.to_dict() for r in again.verify_many(items)] == alone
        verdicts.append({name: r["valid"] for (name, _), r in zip(items, alone, strict=True)})
    ours, rogue = verdicts
    assert not any(rogue.values())  # a wrong trust root: nothing valid
    if when == "now":  # the set really is varied
        assert ours["blt.pdf"] and ours["two.pdf"] and ours["blta.pdf"]
        assert not ours["tampered.pdf"] and not ours["revoked_dss.pdf"]
        # status signed by a responder we do not accept proves nothing, cache or no cache
        assert not any(ours[f"{k}-responder.pdf"] for k in ("foreign", "expired", "future"))


def test_unreadable_items_are_results_not_exceptions(docs, tmp_path):
    at = docs.pki.now + dt.timedelta(minutes=5)
    good = tmp_path / "good.pdf"
    good.write_bytes(docs.blt)
    results = verify_many(
        [good, tmp_path / "missing.pdf", b"not a pdf", ("named.pdf", docs.bt)],
        trust_roots=[docs.pki.root],
        at=at,
    )
    assert [r.file_name for r in results] == [
        "good.pdf",
        "missing.pdf",
        "document.pdf",
        "named.pdf",
    ]
    assert results[0].report.valid and results[3].report.valid
    assert results[1].report is None and results[1].error.field == "in"
    assert results[2].report is None and results[2].error.field == "pdf"


def test_one_validation_time_for_the_whole_batch(docs):
    v = Verifier([docs.pki.root])
    a, b = v.verify_many([docs.bt, docs.blt])
    assert a.report.verified_at == b.report.verified_at == v.at


def test_the_accelerated_reader_reports_what_plain_pyhanko_code_reports(docs, monkeypatch):
    """``yinxin.pdf.accel`` replaces pyHanko/asn1crypto hot spots only while our verifier runs;
    with them switched off every report of the varied archive is the same."""
    at = docs.pki.now + dt.timedelta(minutes=5)
    items = _archive(docs)
    fast = [verify_pdf(pdf, trust_roots=[docs.pki.root], file_name=n, at=at) for n, pdf in items]
    monkeypatch.setattr(accel, "fast", contextlib.nullcontext)
    plain = [verify_pdf(pdf, trust_roots=[docs.pki.root], file_name=n, at=at) for n, pdf in items]
    assert [r.to_dict() for r in fast] == [r.to_dict() for r in plain]


_LEXEMES = [
    b" ",
    b"\n",
    b"\r",
    b"\t",
    b"\x0b",
    b"\x0c",
    b"\x00",
    b"%c\n",
    b"/",
    b"#",
    b"#4",
    b"#41",
    b"0",
    b"7",
    b"12",
    b"R",
    b"a",
    b"(",
    b">",
    b"[",
    b"<<",
    b"\xe4",
    b"-",
    b".",
]


def _outcome(fn, data: bytes):
    stream = BytesIO(data)
    try:
        value = fn(stream)
    except Exception as e:
        return ("error", type(e), str(e), stream.tell())
    if isinstance(value, tuple):
        return ("value", value, stream.tell())
    return ("value", type(value), repr(value), stream.tell())


@pytest.mark.parametrize("seed", range(4))
def test_accelerated_lexers_match_pyhanko_byte_for_byte(seed):
    """Random token soup through each replaced lexer function: same value (and type), same
    error, same stream position as pyHanko's own function."""
    rng = random.Random(seed)

    class _Ref:  # IndirectObject's container_ref: anything with this method
        def get_pdf_handler(self):
            return None

    delimiters = b" \n\r\t\f\x00()<>[]{}/%"

    def until(fn, chars, maxchars):
        return lambda stream: fn(chars, stream, maxchars)

    cases = [
        (
            until(accel._read_until_class, delimiters, None),
            until(accel._orig_until_class, delimiters, None),
        ),
        (
            until(accel._read_until_class, b" \n\r\t\f\x00", 5),
            until(accel._orig_until_class, b" \n\r\t\f\x00", 5),
        ),
        (
            lambda s: accel._read_non_whitespace(s, False, True),
            lambda s: accel._orig_non_ws(s, False, True),
        ),
        (
            lambda s: accel._read_non_whitespace(s, True, False),
            lambda s: accel._orig_non_ws(s, True, False),
        ),
        (lambda s: accel._read_indirect(s, _Ref()), lambda s: accel._orig_indirect(s, _Ref())),
    ]
    for _ in range(3000):
        data = b"".join(rng.choice(_LEXEMES) for _ in range(rng.randrange(0, 40)))
        if rng.random() < 0.05:
            data = b" " * rng.randrange(60, 140) + data  # longer than one peek
        for i, (fast_fn, orig_fn) in enumerate(cases):
            with accel.fast():
                got = _outcome(fast_fn, data)
            assert got == _outcome(orig_fn, data), (i, data)
        name = data.replace(b"/", b"")
        with accel.fast():
            got = _outcome(lambda s: accel._decode_name(s.read()), name)
        assert got == _outcome(lambda s: accel._orig_decode_name(s.read()), name), name


# ---------------------------------------------------------------------------------------------
# the direct path check (yinxin.pdf.direct) and the shared parsed objects (accel._read_object)


def _der(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _leaf_key(cert) -> bytes:
    return hashlib.sha256(_der(cert)).digest()


def _forged(party: f.Party) -> f.Party:
    """The same certificate (names, serial, key identifiers, validity, extensions) signed by a
    key that is not the issuing CA's: by name and key identifier it chains through our CA."""
    real = party.cert
    b = (
        x509.CertificateBuilder()
        .subject_name(real.subject)
        .issuer_name(real.issuer)
        .public_key(real.public_key())
        .serial_number(real.serial_number)
        .not_valid_before(real.not_valid_before_utc)
        .not_valid_after(real.not_valid_after_utc)
    )
    for ext in real.extensions:
        b = b.add_extension(ext.value, ext.critical)
    forged = b.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    return dataclasses.replace(party, cert=forged)


@dataclasses.dataclass
class Odd:
    """Files whose certificate paths the direct check must hand to pyHanko."""

    items: list[tuple[str, bytes]]
    leaves: dict[str, bytes]  # file name → SHA-256 of the certificate that must fall back


@pytest.fixture(scope="module")
def odd(docs) -> Odd:
    pki, now = docs.pki, docs.pki.now
    expired = pki.new_signer("过期者", not_before=now - dt.timedelta(days=30), days=7)
    forged = _forged(pki.new_signer("伪造者"))
    other_ca = docs.rogue.new_signer("另一CA签署人")
    foreign = dataclasses.replace(pki, ocsp=docs.rogue.ocsp)
    responder_signer = pki.new_signer("他人应答者签署人")
    revoked_signer = pki.new_signer("已吊销者")
    items = {
        "revoked.pdf": f.sign(
            docs.plain, revoked_signer, pki, revinfo="dss", revoked_at=now - dt.timedelta(hours=1)
        ),
        "other-responder.pdf": f.sign(docs.plain, responder_signer, foreign, revinfo="dss"),
        "expired.pdf": f.sign(docs.plain, expired, pki, revinfo="dss"),
        "forged-leaf.pdf": f.sign(docs.plain, forged, pki, revinfo="dss"),
        "tampered-timestamp.pdf": f.tamper_timestamp(
            f.sign(docs.plain, pki.new_signer("时间戳被改者"), pki, revinfo="dss")
        ),
        "second-ca.pdf": f.sign(docs.plain, other_ca, docs.rogue, revinfo="dss"),
    }
    leaves = {
        "revoked.pdf": _leaf_key(revoked_signer.cert),
        "other-responder.pdf": _leaf_key(responder_signer.cert),
        "expired.pdf": _leaf_key(expired.cert),
        "forged-leaf.pdf": _leaf_key(forged.cert),
        "second-ca.pdf": _leaf_key(other_ca.cert),
    }
    return Odd(list(items.items()), leaves)


def _usual(docs, n: int = 4) -> list[tuple[str, bytes]]:
    """B-LT contracts from our CA: the first one teaches the batch the (root, CA) pair."""
    pki = docs.pki
    return [
        (f"usual-{i}.pdf", f.sign(docs.plain, pki.new_signer(f"常规{i}"), pki, revinfo="dss"))
        for i in range(n)
    ]


def test_files_the_direct_check_must_hand_to_pyhanko(docs, odd):
    """Revoked signer, another responder, a certificate expired at the moment, a leaf not
    signed by the cached issuer's key, a certificate from a second CA: each path goes to
    pyHanko's full validation, and the report is what pyHanko's validation gives alone."""
    at = docs.pki.now + dt.timedelta(minutes=5)
    roots = [docs.pki.root, docs.rogue.root]  # the second CA is trusted too
    usual = _usual(docs)
    v = Verifier(roots, at=at)
    warm = v.verify_many(usual)
    assert all(r.report.valid for r in warm)
    assert v._paths.direct > 0  # the usual files after the first one were decided directly
    for name, pdf in odd.items:
        report = v.verify(pdf, file_name=name)
        alone = verify_pdf(pdf, trust_roots=roots, file_name=name, at=at)
        assert report.to_dict() == alone.to_dict(), name
        assert report.valid == (name == "second-ca.pdf"), name  # its root is trusted too
        if name in odd.leaves and name != "second-ca.pdf":
            assert not any(v._paths.decided[odd.leaves[name]]), name
    # the second CA's first path (its TSA's, validated first) is pyHanko's: nothing was
    # learned about that CA before; what pyHanko proved then serves its signer's path
    second = verify_pdf(dict(odd.items)["second-ca.pdf"], trust_roots=roots, at=at)
    fresh = Verifier(roots, at=at)
    fresh.verify_many(usual)
    pairs, fallbacks = set(fresh._paths.prefixes), fresh._paths.fallback
    assert fresh.verify(dict(odd.items)["second-ca.pdf"]).to_dict() == second.to_dict()
    assert fresh._paths.fallback > fallbacks
    rogue_pair = (_der(docs.rogue.root), _der(docs.rogue.issuing))
    assert rogue_pair not in pairs and rogue_pair in fresh._paths.prefixes
    # the direct check still decides the usual files after all of that
    before = v._paths.direct
    again = v.verify_many(_usual(docs, 2))
    assert all(r.report.valid for r in again) and v._paths.direct > before


@pytest.mark.parametrize("policy", ["last-known", "strict"])
@pytest.mark.parametrize("when", ["now", "in-ten-years"])
def test_every_report_is_the_same_with_the_shortcuts_on_and_off(docs, odd, policy, when):
    """The whole varied archive (and the odd files, with a second trusted CA), with the direct
    path check and shared parsed objects on, against the same batch with both off and against
    each file alone: every report, field for field."""
    at = docs.pki.now + (dt.timedelta(minutes=5) if when == "now" else dt.timedelta(days=3650))
    roots = [docs.pki.root, docs.rogue.root]
    items = _usual(docs, 3) + _archive(docs) + odd.items
    random.Random(11).shuffle(items)
    on = Verifier(roots, at=at, policy=policy)
    reports_on = [r.report.to_dict() for r in on.verify_many(items)]
    off = Verifier(roots, at=at, policy=policy, shortcut=False)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_no_shared_objects())
        reports_off = [r.report.to_dict() for r in off.verify_many(items)]
    alone = [
        verify_pdf(pdf, trust_roots=roots, file_name=n, at=at, policy=policy).to_dict()
        for n, pdf in items
    ]
    assert reports_on == reports_off == alone
    assert on._paths.direct > 0 and on._objects.hits > 0
    assert off._paths is None and off._objects.hits == 0
    if when == "in-ten-years" and policy == "strict":
        # the newest timestamp is judged at --at, when the TSA certificate has long expired
        tsa = _leaf_key(docs.pki.tsa.cert)
        assert not any(on._paths.decided[tsa])


@contextlib.contextmanager
def _no_shared_objects():
    real = accel.objects
    accel.objects = lambda store: contextlib.nullcontext()
    try:
        yield
    finally:
        accel.objects = real


def test_shared_objects_are_what_parsing_in_that_reader_builds(docs):
    """Every indirect object of the varied archive, parsed in a second reader: the copy bound
    to that reader (``accel._rehome``) has the same types, values, container references and
    indirect-reference targets as a parse of its own."""

    def shape(obj, reader):
        ref = obj.container_ref
        head = (type(obj).__name__, ref.idnum, ref.generation, ref.pdf is reader)
        if isinstance(obj, generic.IndirectObject):
            return (*head, obj.idnum, obj.generation, obj.reference.pdf is reader)
        if isinstance(obj, generic.StreamObject):
            items = sorted((k, shape(v, reader)) for k, v in obj.items())
            return (*head, obj._encoded_data, obj._data, items)
        if isinstance(obj, generic.DictionaryObject):
            return (*head, sorted((k, shape(v, reader)) for k, v in obj.items()))
        if isinstance(obj, generic.ArrayObject):
            return (*head, [shape(v, reader) for v in obj])
        return (*head, repr(obj), sorted(k for k in vars(obj) if k != "container_ref"))

    checked = 0
    for _, pdf in _archive(docs):
        first = PdfFileReader(BytesIO(pdf), strict=False)
        second = PdfFileReader(BytesIO(pdf), strict=False)
        for ref in first.xrefs.explicit_refs_in_revision(first.xrefs.total_revisions - 1):
            marker = first.xrefs[ref]
            if not isinstance(marker, int):
                continue
            own = accel._orig_read_object(second, ref, marker)
            parsed = accel._orig_read_object(first, ref, marker)
            try:
                template = accel._rehome(parsed, None, None)
            except accel._Uncacheable:
                continue
            copy = accel._rehome(
                template, generic.Reference(ref.idnum, ref.generation, second), second
            )
            assert shape(copy, second) == shape(own, second), ref
            checked += 1
    assert checked > 50


def test_sharing_an_object_leaves_the_parsed_original_untouched():
    """The shared copy of a parsed object is a copy all the way down: C ``decimal`` hands back
    the very object from ``copy.copy``, which once cleared a float's container reference in
    the file being read (its second signature field then "could not be processed")."""
    from pyhanko.pdf_utils import generic

    from yinxin.pdf import accel

    ref = generic.Reference(7, 0, None)
    rect = generic.ArrayObject(
        [generic.FloatObject("113.3858"), generic.NumberObject(4), generic.NameObject("/A")]
    )
    for x in rect:
        x.container_ref = ref
    rect.container_ref = ref
    copy_ = accel._rehome(rect, None, None)
    assert all(x.container_ref is ref for x in rect) and rect.container_ref is ref
    assert all(a is not b for a, b in zip(copy_, rect, strict=True))
    assert [str(x) for x in copy_] == [str(x) for x in rect]


# --- files that share a contract's structure but differ where difference analysis looks ---------
# A batch may reuse work between files that look alike (shared parsed objects, learned paths;
# any future cache of difference-analysis verdicts). These are the files such reuse must not
# confuse: each is one B-LT contract of the archive plus one unsigned incremental update,
# so every object but the changed ones is byte for byte the base's, and the update sits where
# pyHanko's rules read (the page content, an annotation and form field, the catalog's XMP, the
# DSS, the document information).


def _updated(pdf: bytes, edit) -> bytes:
    w = IncrementalPdfFileWriter(BytesIO(pdf))
    edit(w)
    out = BytesIO()
    w.write(out)
    return out.getvalue()


def _overwrite_page_content(w: IncrementalPdfFileWriter) -> None:
    """The signed page's content stream, same object number, other text."""
    ref = w.root["/Pages"]["/Kids"][0].raw_get("/Contents")
    w.mark_update(ref)
    stream = generic.StreamObject(stream_data=b"BT /F1 14 Tf 72 770 Td (Amount 900000) Tj ET")
    w.objects[(ref.generation, ref.idnum)] = stream


def _rewrite_page_unchanged(w: IncrementalPdfFileWriter) -> None:
    """The page object written again, identical (pyHanko ignores identical rewrites)."""
    w.mark_update(w.root["/Pages"]["/Kids"].raw_get(0))


def _field(w: IncrementalPdfFileWriter) -> tuple[generic.Reference, generic.DictionaryObject]:
    ref = w.root["/AcroForm"]["/Fields"].raw_get(0)
    return ref, ref.get_object()


def _move_widget(w: IncrementalPdfFileWriter) -> None:
    """The signature's widget annotation (also the page's /Annots entry) moved off the seal."""
    ref, field = _field(w)
    field[pdf_name("/Rect")] = generic.ArrayObject(map(generic.NumberObject, (0, 0, 1, 1)))
    w.mark_update(ref)


def _field_entry(w: IncrementalPdfFileWriter) -> None:
    """A form field entry (the signature field's /TU) changed."""
    ref, field = _field(w)
    field[pdf_name("/TU")] = generic.TextStringObject("改过")
    w.mark_update(ref)


XMP = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
    b' rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:format>application/pdf'
    b'</dc:format></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


def _xmp(data: bytes):
    def edit(w: IncrementalPdfFileWriter) -> None:
        meta = generic.StreamObject(
            {pdf_name("/Type"): pdf_name("/Metadata"), pdf_name("/Subtype"): pdf_name("/XML")},
            stream_data=data,
        )
        w.root[pdf_name("/Metadata")] = w.add_object(meta)
        w.update_root()

    return edit


def _dss_extra_entry(w: IncrementalPdfFileWriter) -> None:
    """The DSS dictionary gains a key the DSS has no business holding."""
    w.root["/DSS"][pdf_name("/Foo")] = w.add_object(
        generic.DictionaryObject({pdf_name("/Bar"): generic.NumberObject(1)})
    )
    w.mark_update(w.root.raw_get("/DSS"))


def _dss_extra_cert(w: IncrementalPdfFileWriter) -> None:
    """One more stream in the DSS's /Certs (not a certificate at all)."""
    w.root["/DSS"]["/Certs"].append(w.add_object(generic.StreamObject(stream_data=b"junk")))
    w.mark_update(w.root.raw_get("/DSS"))


def _dss_unusable_ocsp(w: IncrementalPdfFileWriter) -> None:
    """One more OCSP response in the DSS whose DER loads but whose every date is month 13:
    pyHanko cannot take it into a validation context, so verification must drop it
    (``verify._usable``) and judge the signature on the rest. Added to both bases: the
    second file meets an item the batch already judged."""
    ocsps = w.root["/DSS"]["/OCSPs"]
    der = re.sub(rb"\x18\x0f(\d{4})\d\d", lambda m: b"\x18\x0f" + m[1] + b"13", ocsps[0].data)
    ocsps.append(w.add_object(generic.StreamObject(stream_data=der)))
    w.mark_update(w.root.raw_get("/DSS"))


MUST_FAIL = {  # changes no policy allows: each must come out invalid, "other" changes
    "page-content": _overwrite_page_content,
    "widget-moved": _move_widget,
    "field-entry": _field_entry,
    "dss-extra-entry": _dss_extra_entry,
}
PYHANKO_DECIDES = {  # what pyHanko decides for these, the batch must decide too
    "page-rewritten-identical": _rewrite_page_unchanged,
    "xmp-added": _xmp(XMP),
    "xmp-not-xml": _xmp(b"<not xml"),
    "dss-extra-cert": _dss_extra_cert,
    "dss-unusable-ocsp": _dss_unusable_ocsp,
    "info-edited": edit_info,
}
TWICE = {"dss-unusable-ocsp"}  # the edit on both bases, not only the first


@pytest.fixture(scope="module")
def lookalikes(docs) -> list[tuple[str, bytes]]:
    """Two plain B-LT contracts and, for each edit, the first one (and for the failing ones
    the second one too) with that edit in an unsigned update."""
    pki = docs.pki
    bases = [f.sign(docs.plain, pki.new_signer(f"同构{i}"), pki, revinfo="dss") for i in (0, 1)]
    items = [(f"base-{i}.pdf", pdf) for i, pdf in enumerate(bases)]
    for name, edit in {**MUST_FAIL, **PYHANKO_DECIDES}.items():
        if edit is edit_info:
            items.append((f"{name}-0.pdf", edit_info(bases[0])))
            continue
        items.append((f"{name}-0.pdf", _updated(bases[0], edit)))
        if name in MUST_FAIL or name in TWICE:
            items.append((f"{name}-1.pdf", _updated(bases[1], edit)))
    return items


@pytest.mark.parametrize("order", ["bases-first", "edits-first", "shuffled"])
def test_lookalike_files_each_get_their_own_verdict(docs, lookalikes, order):
    """Files sharing a contract's structure and all but one object: with the batch's shortcuts
    on, off, and each file alone, every report is the same; the edits no policy allows are
    caught whichever file the batch met first."""
    at = docs.pki.now + dt.timedelta(minutes=5)
    roots = [docs.pki.root]
    items = list(lookalikes)
    bases = [it for it in items if it[0].startswith("base-")]
    edits = [it for it in items if not it[0].startswith("base-")]
    if order == "bases-first":
        items = bases + edits
    elif order == "edits-first":
        items = edits + bases
    else:
        random.Random(3).shuffle(items)
    on = Verifier(roots, at=at)
    reports_on = [r.report.to_dict() for r in on.verify_many(items)]
    off = Verifier(roots, at=at, shortcut=False)
    with _no_shared_objects():
        reports_off = [r.report.to_dict() for r in off.verify_many(items)]
    alone = [verify_pdf(pdf, trust_roots=roots, file_name=n, at=at).to_dict() for n, pdf in items]
    assert reports_on == reports_off == alone
    assert on._objects.hits > 0  # the look-alikes did share parsed objects
    by_name = {n: r for (n, _), r in zip(items, reports_on, strict=True)}
    for n, r in by_name.items():
        sig = r["signatures"][0]
        assert sig["intact"], n  # every edit is an update after the signature, never inside
        if n.startswith("base-"):
            assert r["valid"] and sig["changes_after"] == "allowed", n
        elif n.rsplit("-", 1)[0] in MUST_FAIL:
            assert not r["valid"] and sig["changes_after"] == "other", n
        elif n.rsplit("-", 1)[0] in TWICE:  # the unusable item dropped, the rest still holds
            assert r["valid"] and sig["changes_after"] == "allowed", n


def test_an_unusable_dss_item_is_dropped_alone_and_in_a_batch(lookalikes):
    """The month-13 OCSP response is read from the DSS but dropped, and only it: alone, and in
    a batch where the second file meets the item (and the rest) already judged per item."""
    from yinxin.pdf import verify as v

    files = [pdf for n, pdf in lookalikes if n.startswith("dss-unusable-ocsp-")]
    assert len(files) == 2

    def kept(pdf: bytes) -> tuple[int, int]:
        reader = PdfFileReader(BytesIO(pdf))
        listed = len(reader.root["/DSS"]["/OCSPs"])
        return listed, len(v._read_dss(reader).ocsps)

    alone = [kept(pdf) for pdf in files]
    caches = v._Caches()
    token = v._CACHES.set(caches)
    try:
        batch = [kept(pdf) for pdf in files]
    finally:
        v._CACHES.reset(token)
    assert alone == batch
    assert all(listed == ocsps + 1 and ocsps >= 1 for listed, ocsps in alone)
    assert sorted(set(caches.usable.values())) == [False, True]


def _walk_of(pdf: bytes, revision: int) -> dict:
    """pyHanko's own reverse-reference walk of one revision, in a fresh reader."""
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    resolver = reader.get_historical_resolver(revision)
    accel._orig_reverse_xrefs(resolver)
    return {
        (r.idnum, r.generation): paths
        for r, paths in resolver._indirect_object_access_cache.items()
    }


@pytest.mark.parametrize("order", ["as-made", "shuffled"])
def test_a_remembered_walk_gives_what_pyhanko_walks(docs, lookalikes, order, monkeypatch):
    """Every reverse-reference walk of the difference analysis over the varied archive and the
    look-alikes (``accel._load_reverse_xref_cache``): what the batch answers — from a walk of
    an earlier file, keys renamed (each seal image is named ``/Img<uuid>``), or by walking —
    is what pyHanko's walk of that revision gives in a fresh reader. Most walks of the
    contracts are answered from memory."""
    items = _archive(docs) + list(lookalikes)
    if order == "shuffled":
        random.Random(5).shuffle(items)
    pdf_of = {}
    compared = []
    answer = accel._load_reverse_xref_cache

    def checked(self):
        fresh = self._indirect_object_access_cache is None
        answer(self)
        if fresh:
            got = {
                (r.idnum, r.generation): paths
                for r, paths in self._indirect_object_access_cache.items()
            }
            assert all(r.pdf is self for r in self._indirect_object_access_cache)
            assert got == _walk_of(pdf_of[id(self.reader._yinxin_bytes)], self.revision)
            compared.append(self.revision)

    read_plain = collections.Counter()
    plain = accel._plain_skeleton

    def counted(raw, ref):
        read_plain[raw, ref] += 1
        return plain(raw, ref)

    monkeypatch.setattr(HistoricalResolver, "_load_reverse_xref_cache", checked)
    monkeypatch.setattr(accel, "_plain_skeleton", counted)
    for _, pdf in items:
        pdf_of[id(pdf)] = pdf
    verifier = Verifier([docs.pki.root], at=docs.pki.now + dt.timedelta(minutes=5))
    results = verifier.verify_many(items)
    assert all(r.report is not None for r in results)
    assert len(compared) >= 25  # files signed once and never updated have nothing to walk
    assert verifier._objects.walk_hits >= len(compared) // 2
    # a page, font or page tree the contracts share is read from its bytes once or twice
    # (kept from its second sighting), not once a file
    assert read_plain and max(read_plain.values()) <= 2


def test_a_walk_is_not_remembered_across_unlike_structures():
    """A key renamed in one object but not in another, and a renamed key the walk reads by
    name, are not the same structure: no renaming makes the skeletons alike."""
    ref = ("R", 5, 0)
    leaf = ("L",)
    a = ("D", (("/Img1", ref), ("/Font", ("D", (("/Img1", leaf),)))))
    b = ("D", (("/Img2", ref), ("/Font", ("D", (("/Img1", leaf),)))))
    c = ("D", (("/Img2", ref), ("/Font", ("D", (("/Img2", leaf),)))))
    assert not accel._same_shape(a, b, {}, {})  # /Img1 would become both /Img2 and /Img1
    names: dict = {}
    assert accel._same_shape(a, c, names, {}) and names["/Img1"] == "/Img2"
    kids = ("D", (("/Kids", ("A", (ref,))),))
    other = ("D", (("/Kidz", ("A", (ref,))),))
    assert not accel._same_shape(kids, other, {}, {})
    assert not accel._same_shape(
        ("D", (("/Type", ("T", "NameObject", "'/Pages'")),)),
        ("D", (("/Type", ("T", "NameObject", "'/Page'")),)),
        {},
        {},
    )


def test_shared_untagged_certificates_are_what_pyhanko_extracts(docs):
    """``accel._extract_certificate_info`` (one untagged copy per certificate DER) finds the
    signer and the other certificates pyHanko's own function finds, for every signature and
    timestamp token of the varied archive, asked twice; and refuses a CMS without its signer's
    certificate with pyHanko's error."""
    from pyhanko.sign import general

    def summary(info):
        return (
            info.signer_cert.dump(),
            [c.dump() for c in info.other_certs],
            [c.dump() for c in info.attribute_certs],
        )

    seen = 0
    for _, pdf in _archive(docs):
        for emb in PdfFileReader(BytesIO(pdf), strict=False).embedded_signatures:
            for sd in [emb.signed_data, *extract_tst_data_iter(emb.signer_info, signed=False)]:
                expected = summary(accel._orig_cert_info(sd))
                with accel.fast():
                    first = general.extract_certificate_info(sd)
                    again = general.extract_certificate_info(sd)
                assert summary(first) == summary(again) == expected
                assert first.signer_cert is again.signer_cert  # shared, not copied again
                # and with the signing-certificate attribute checked, once per object
                theirs = summary(accel._orig_certs_for_validation(sd))
                with accel.fast():
                    first = generic_cms.extract_certs_for_validation(sd)
                    again = generic_cms.extract_certs_for_validation(sd)
                assert summary(first) == summary(again) == theirs == expected
                assert first.other_certs is not again.other_certs  # each caller's own lists
                seen += 1
    assert seen > 20
    sd = emb.signed_data.untag()
    signer = accel._orig_cert_info(sd).signer_cert.dump()
    sd["certificates"] = [c for c in sd["certificates"] if c.chosen.dump() != signer]
    with pytest.raises(general.CMSExtractionError) as theirs:
        accel._orig_cert_info(sd)
    with accel.fast(), pytest.raises(general.CMSExtractionError) as ours:
        general.extract_certificate_info(sd)
    assert str(ours.value) == str(theirs.value)
    # a signing-certificate attribute naming another certificate: pyHanko's refusal, each time
    sd = emb.signed_data.untag()
    certs = accel._orig_cert_info(sd)
    other = next(c for c in certs.other_certs if c.dump() != certs.signer_cert.dump())
    attrs = sd["signer_infos"][0]["signed_attrs"]
    for attr in attrs:
        if attr["type"].native == "signing_certificate_v2":
            attr["values"][0]["certs"][0]["cert_hash"] = hashlib.sha256(other.dump()).digest()
    sd = sd.untag()
    with pytest.raises(SignatureValidationError) as theirs:
        accel._orig_certs_for_validation(sd)
    with accel.fast():
        for _ in range(2):
            with pytest.raises(SignatureValidationError) as ours:
                generic_cms.extract_certs_for_validation(sd)
            assert str(ours.value) == str(theirs.value)


def test_a_dss_certificate_is_the_object_the_cms_extraction_gives(docs):
    """In a batch a certificate loaded from the DSS (``verify._load``) is the very object
    pyHanko's certificate extraction hands out for the CMS's copy of the same bytes, so the
    signer's certificate is decoded once a file; its content is the CMS's."""
    from asn1crypto import x509 as a_x509
    from pyhanko.sign import general

    from yinxin.pdf import verify as v

    accel.forget()
    emb = PdfFileReader(BytesIO(_archive(docs)[0][1]), strict=False).embedded_signatures[0]
    token = v._CACHES.set(v._Caches())
    try:
        with accel.fast():
            signer = general.extract_certificate_info(emb.signed_data).signer_cert
            loaded = v._load(a_x509.Certificate, signer.dump())
            assert loaded is signer
            assert v._load(a_x509.Certificate, signer.dump()) is signer
            fresh = accel._orig_cert_info(emb.signed_data).signer_cert
            assert loaded.dump() == fresh.dump() and loaded.native == fresh.native
    finally:
        v._CACHES.reset(token)


def test_a_signing_certificate_check_is_kept_across_tag_and_forgotten(docs):
    """pyHanko checks the signing-certificate attribute of a signature twice, once on the list
    as tagged inside ``SignerInfo`` and once on an untagged copy: ``accel`` keeps a passed
    check by the list's content, so the second is not made again; a mismatch is raised each
    time; ``accel.forget`` drops what was kept (the benchmark calls it between rounds)."""
    emb = PdfFileReader(BytesIO(_archive(docs)[0][1]), strict=False).embedded_signatures[0]
    sd = emb.signed_data
    tagged = sd["signer_infos"][0]["signed_attrs"]
    untagged = tagged.untag()
    assert tagged.dump() != untagged.dump() and tagged.contents == untagged.contents
    certs = accel._orig_cert_info(sd)
    other = next(c for c in certs.other_certs if c.dump() != certs.signer_cert.dump())
    made = []
    check = accel._orig_check_signing_cert

    def counting(cert, attrs):
        made.append(cert.dump())
        return check(cert, attrs)

    accel.forget()
    with accel.fast(), pytest.MonkeyPatch.context() as mp:
        mp.setattr(accel, "_orig_check_signing_cert", counting)
        generic_cms._check_signing_certificate(certs.signer_cert, tagged)
        generic_cms._check_signing_certificate(certs.signer_cert, untagged)
        assert len(made) == 1
        for _ in range(2):
            with pytest.raises(SignatureValidationError):
                generic_cms._check_signing_certificate(other, untagged)
        assert len(made) == 3
        accel.forget()
        generic_cms._check_signing_certificate(certs.signer_cert, untagged)
        assert len(made) == 4


def test_attribute_lookups_and_ocsp_answers_are_pyhankos(docs):
    """``accel._find_cms_attribute_iter`` (attribute types read once per list) yields what
    pyHanko's generator yields for every attribute list of every signature and timestamp
    token of the varied archive, for each type present and one absent; ``_ocsp_is_about``
    (remembered per response object) answers as the uncached check, asked twice."""
    from pyhanko.sign import general

    from yinxin.pdf import verify as v

    names = {"content_type", "message_digest", "signing_time", "no_such_attribute"}
    seen = 0
    for _, pdf in _archive(docs):
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        for emb in reader.embedded_signatures:
            infos = [emb.signer_info]
            for tst in extract_tst_data_iter(emb.signer_info, signed=False):
                infos.append(tst["signer_infos"][0])
            for info in infos:
                for attrs in (info["signed_attrs"], info["unsigned_attrs"]):
                    kinds = {a["type"].native for a in attrs} if attrs else set()
                    for name in names | kinds:
                        theirs = [x.dump() for x in accel._orig_attribute_iter(attrs, name)]
                        with accel.fast():
                            as_list = general.find_cms_attribute_iter(list(attrs or []), name)
                            assert [x.dump() for x in as_list] == theirs, name
                            for _ in range(2):
                                ours = [
                                    x.dump() for x in general.find_cms_attribute_iter(attrs, name)
                                ]
                                assert ours == theirs, name
                        seen += 1
        embedded = v._read_dss(reader)
        certs = embedded.certs + [
            c for emb in reader.embedded_signatures for c in v._cms_certs(emb.signed_data)
        ]
        for resp in embedded.ocsps:
            for cert in certs:
                expected = v._ocsp_names(resp, cert)
                assert v._ocsp_is_about(resp, cert) == v._ocsp_is_about(resp, cert) == expected
    assert seen > 100


def test_a_responder_certificate_is_shared_and_the_response_unchanged(docs):
    """In a batch, a new OCSP response's embedded responder certificate becomes the batch's
    one parsed object for that DER, and the response still encodes to the same bytes."""
    from asn1crypto import ocsp as a_ocsp
    from asn1crypto import x509 as a_x509

    from yinxin.pdf import verify as v

    ders = []
    for _, pdf in _archive(docs):
        root = PdfFileReader(BytesIO(pdf), strict=False).root
        if "/DSS" in root and "/OCSPs" in root["/DSS"]:
            ders += [ref.get_object().data for ref in root["/DSS"]["/OCSPs"]]
    assert len(ders) > 5
    caches = v._Caches()
    token = v._CACHES.set(caches)
    try:
        shared = 0
        for der in ders:
            resp = v._load(a_ocsp.OCSPResponse, der)
            assert resp.dump() == der
            for cert in resp["response_bytes"]["response"].parsed["certs"] or []:
                assert cert is v._load(a_x509.Certificate, cert.dump())
                shared += 1
    finally:
        v._CACHES.reset(token)
    assert shared >= len(ders)


def test_a_ca_on_the_root_crl_is_pyhankos_to_judge(docs, monkeypatch):
    """After paths through the issuing CA were learned (and the CRL checks remembered per
    CRL), a contract whose DSS carries a root CRL listing that CA: the direct check hands it
    to pyHanko, and the report is the one pyHanko's own validation gives — not valid — with
    the shortcuts on, off, and alone."""
    pki = docs.pki
    usual = [f.sign(docs.plain, pki.new_signer(f"常规{i}"), pki, revinfo="dss") for i in (0, 1)]
    listing = {pki.issuing.serial_number: pki.now - dt.timedelta(days=1)}
    plain_crl = type(pki).root_crl
    monkeypatch.setattr(type(pki), "root_crl", lambda self: plain_crl(self, revoked=listing))
    signer = pki.new_signer("CA已吊销")
    revoked = f.sign(docs.plain, signer, pki, revinfo="dss")
    monkeypatch.undo()
    items = [("usual-0.pdf", usual[0]), ("ca-revoked.pdf", revoked), ("usual-1.pdf", usual[1])]
    at = pki.now + dt.timedelta(minutes=5)
    on = Verifier([pki.root], at=at)
    reports_on = [r.report.to_dict() for r in on.verify_many(items)]
    with _no_shared_objects():
        off = [
            r.report.to_dict()
            for r in Verifier([pki.root], at=at, shortcut=False).verify_many(items)
        ]
    alone = [
        verify_pdf(pdf, trust_roots=[pki.root], file_name=n, at=at).to_dict() for n, pdf in items
    ]
    assert reports_on == off == alone
    assert [r["valid"] for r in reports_on] == [True, False, True]
    decided = on._paths.decided[_leaf_key(signer.cert)]
    assert decided and not any(decided)  # pyHanko decided each of its paths


def test_an_object_is_kept_from_its_second_sighting(docs):
    """The batch keeps a parsed object only once its bytes come again: after one file only
    what that file read twice (an old revision's objects) is kept, after the same file again
    all its objects are, and a third time they are shared."""
    at = docs.pki.now + dt.timedelta(minutes=5)
    verifier = Verifier([docs.pki.root], at=at)
    store = verifier._objects
    first = verifier.verify_many([docs.blt])[0].report.to_dict()
    once = len(store.parsed)
    assert store.sighted and once < len(store.sighted)
    verifier.verify_many([docs.blt])
    assert len(store.parsed) > once
    hits = store.hits
    third = verifier.verify_many([docs.blt])[0].report.to_dict()
    assert store.hits > hits
    assert first == third


def _plain_objects(pdf: bytes):
    """(reference, raw bytes from header to the first endobj) of every object at a plain
    offset in every revision of ``pdf``: what the walk check reads."""
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    seen = set()
    for revision in range(reader.xrefs.total_revisions):
        for ref in reader.xrefs.explicit_refs_in_revision(revision):
            marker = reader.xrefs.get_historical_ref(ref, revision)
            key = accel._object_key(reader, pdf, marker, ref.idnum, ref.generation)
            if key is not None and key[0] not in seen:
                seen.add(key[0])
                yield (ref.idnum, ref.generation), key[0]


def _pyhankos_skeleton(raw: bytes, ref: tuple[int, int], strict: bool):
    """``_described`` of what pyHanko's reader parses from ``raw`` as object ``ref`` of a
    minimal file (``raw`` at a plain offset, a catalog beside it); the error if it fails."""
    head = b"%PDF-1.7\n"
    catalog = b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    pages = b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    body = head + catalog + pages
    offsets = {1: len(head), 2: len(head) + len(catalog), ref[0]: len(body)}
    body += raw + b"\n"
    size = max(offsets) + 1
    xref = [b"xref\n", b"0 %d\n" % size, b"0000000000 65535 f \n"]
    for n in range(1, size):
        if n in offsets:
            xref.append(b"%010d %05d n \n" % (offsets[n], ref[1] if n == ref[0] else 0))
        else:
            xref.append(b"0000000000 00000 f \n")
    pdf = (
        body
        + b"".join(xref)
        + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, len(body))
    )
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=strict)
        obj = reader.get_object(generic.Reference(ref[0], ref[1], reader))
        return accel._described(obj, top=True)
    except Exception as e:
        return ("error", type(e).__name__)


def test_a_plain_objects_skeleton_is_what_pyhanko_parses(docs, lookalikes):
    """``accel._plain_skeleton`` reads an object's skeleton from its bytes without parsing
    it (each file's own seal appearance stream). Over every object of the varied archive and
    the look-alikes, whatever it answers is ``_described`` of pyHanko's parse of those bytes,
    and it answers for every seal appearance stream."""
    answered = appearances = 0
    for _, pdf in _archive(docs) + list(lookalikes):
        for ref, raw in _plain_objects(pdf):
            got = accel._plain_skeleton(raw, ref)
            if b"/Subtype /Form" in raw and b"/Img" in raw:
                appearances += 1
                assert got is not accel._MISSING, raw[:200]
            if got is not accel._MISSING:
                answered += 1
                for strict in (True, False):
                    assert got == _pyhankos_skeleton(raw, ref, strict), raw[:300]
    assert appearances >= 20 and answered > 200


_OBJECT_LEXEMES = [
    b" ",
    b"\n",
    b"\r\n",
    b"\t",
    b"\x00",
    b"\x0b",
    b"/Type",
    b"/Type /Page",
    b"/Length",
    b"/A",
    b"/Img1",
    b"/A#20B",
    b"/\xe4",
    b"/",
    b"0",
    b"12",
    b"-3",
    b"+.5",
    b"1.2.3",
    b"4,5",
    b"7 0 R",
    b"7 0 Rx",
    b"0 0 R",
    b"true",
    b"falsey",
    b"null",
    b"(str)",
    b"<0A>",
    b"%c\n",
    b"<<",
    b">>",
    b"[",
    b"]",
    b"{",
    b"R",
]


def _random_value(rng: random.Random, depth: int) -> bytes:
    """A PDF value: mostly well formed, now and then a lexeme pyHanko reads otherwise."""
    if rng.random() < 0.04:
        return rng.choice(_OBJECT_LEXEMES)
    kind = rng.choice("nnnrbda" if depth < 3 else "nnnrb")
    if kind == "n":
        return rng.choice([b"/A", b"/Img7", b"/Courier", b"0", b"12", b"-3", b"0.458333", b".5"])
    if kind == "r":
        return b"%d %d R" % (rng.randrange(1, 30), rng.choice([0, 0, 1]))
    if kind == "b":
        return rng.choice([b"true", b"false"])
    if kind == "a":
        return (
            b"[" + b" ".join(_random_value(rng, depth + 1) for _ in range(rng.randrange(4))) + b"]"
        )
    return _random_dict(rng, depth + 1)


def _random_dict(rng: random.Random, depth: int) -> bytes:
    keys = [b"/Type", b"/Subtype", b"/A", b"/B", b"/Font", b"/Img1", b"/Resources", b"/Length"]
    parts = []
    for _ in range(rng.randrange(5)):
        key = rng.choice(keys) if rng.random() < 0.97 else rng.choice(_OBJECT_LEXEMES)
        space = rng.choice([b" ", b"\n", b"", b"\t"])
        parts.append(key + space + _random_value(rng, depth))
    return b"<<" + rng.choice([b" ", b"\n", b""]) + b" ".join(parts) + rng.choice([b" >>", b">>"])


@pytest.mark.parametrize("seed", range(3))
def test_plain_skeletons_of_random_objects_are_pyhankos_or_declined(seed):
    """Random dictionaries and streams, well formed or not: ``_plain_skeleton`` either
    declines or says exactly what pyHanko's reader parses, strict or not."""
    rng = random.Random(seed)
    answered = 0
    for _ in range(1500):
        ref = (3, 0) if rng.random() < 0.95 else (4, 0)
        header = rng.choice([b"3 0 obj\n"] * 6 + [b"3 0 obj ", b"3  0 obj\n", b"3 1 obj\n"])
        body = _random_dict(rng, 0)
        if rng.random() < 0.4:
            payload = b"q 1 0 0 1 0 0 cm Q"
            length = len(payload) + rng.choice([0, 0, 0, -1, 1, 3])
            tail = rng.choice([b"stream\n"] * 4 + [b"stream\r\n", b"stream \n", b"stream"])
            tail += payload + rng.choice([b"\nendstream\n"] * 3 + [b"endstream", b"\nendstrean"])
            body = body[:2] + b" /Length %d " % length + body[2:] + b"\n" + tail
        raw = header + body + rng.choice([b"\nendobj"] * 6 + [b"endobj", b" xendobj"])
        got = accel._plain_skeleton(raw, ref)
        if got is accel._MISSING:
            continue
        answered += 1
        for strict in (True, False):
            assert got == _pyhankos_skeleton(raw, ref, strict), raw
    assert answered >= 300
