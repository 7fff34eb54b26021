"""Sealing into a signature field the contract was prepared with (甲方签章, 乙方签章 …).

Contracts come from Acrobat or WPS with empty signature fields, often certified first with
DocMDP P=2 (form filling and signing permitted). A seal in a *new* field made pdfsig list the
prepared ones as unsigned and broke such a certification, so certified files were refused.
Naming the field (``SignRequest.field_name``) now fills it: its /V set, its widget shown with
the seal scaled into its rectangle. Judged by pdfsig, pyHanko (certification intact, changes no
worse than form filling), our verifier, and pdftoppm (the seal's red inside the rectangle).
"""

from __future__ import annotations

import io
import json
import subprocess

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields

from tests.integration import pdf_inputs_corpus as c
from tests.integration.test_pdf_inputs_differential import (
    SCALE,
    _certified,
    _form,
    judge,
    reds,
    shown,
)
from tests.integration.test_pdf_sign import pki  # noqa: F401  (the module-scoped PKI fixture)
from yinxin.pdf.sign import (
    Placement,
    SigningError,
    empty_signature_fields,
    sign_pdf,
)

A_BOX = (60, 600, 220, 700)  # 甲方签章: wider than high, the seal centred in it
B_BOX = (330, 560, 430, 720)  # 乙方签章: higher than wide


def _prepared(pdf: bytes, *specs: fields.SigFieldSpec) -> bytes:
    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    for spec in specs:
        fields.append_signature_field(w, spec)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def _contract(pki_, level: int | None = 2) -> bytes:  # noqa: ANN001
    """Two pages, 甲方签章 and 乙方签章 prepared on page 2, certified with P=``level`` by the
    platform that drew the contract up (中介方: when one signer has signed by pyHanko and by
    us in one file, pdfsig calls one of the two certificates an "unknown issue", with or
    without prepared fields; a quirk of the judge, kept out of the way here)."""
    pdf = _prepared(
        c.mupdf(2),
        fields.SigFieldSpec("甲方签章", box=A_BOX, on_page=1),
        fields.SigFieldSpec("乙方签章", box=B_BOX, on_page=1),
    )
    if not level:
        return pdf
    certifier = pki_.parties["中介方"]
    return _certified(_Party(pki_, certifier), pdf, level)


class _Party:
    """The PKI as ``_certified`` reads it, with ``certifier`` as its 甲方."""

    def __init__(self, pki_, certifier) -> None:  # noqa: ANN001
        self.parties = {"甲方": certifier}
        self.ca, self.root = pki_.ca, pki_.root


def _seal_into(pki_, pdf: bytes, role: str, name: str, **kw) -> bytes:  # noqa: ANN001
    return sign_pdf(pki_.request(pdf, role, placement=None, field_name=name, **kw))


def _pixels(box, page_height: float):  # noqa: ANN001, ANN202
    x0, y0, x1, y1 = box
    return (x0 * SCALE, (page_height - y1) * SCALE, x1 * SCALE, (page_height - y0) * SCALE)


def test_a_certified_contract_sealed_into_its_two_fields_stays_certified(pki, tmp_path):  # noqa: F811
    pdf = _contract(pki)
    assert [(f.name, f.page) for f in empty_signature_fields(pdf)] == [
        ("甲方签章", 2),
        ("乙方签章", 2),
    ]
    one = _seal_into(pki, pdf, "甲方", "甲方签章")
    assert [f.name for f in empty_signature_fields(one)] == ["乙方签章"]
    two = _seal_into(pki, one, "乙方", "乙方签章")
    assert empty_signature_fields(two) == []
    # pdfsig: three valid signatures, no unsigned field; pyHanko: all intact, docmdp_ok,
    # FORM_FILLING at worst; our verifier: valid
    judge(two, pki, 3, tmp_path)
    reader = PdfFileReader(io.BytesIO(two))
    names = [e.field_name for e in reader.embedded_signatures]
    assert names == ["Certification", "甲方签章", "乙方签章"]
    # no new field: the form holds the three it had
    assert len(reader.root["/AcroForm"]["/Fields"]) == 3
    page = shown(two, 2, tmp_path)
    height = 842  # A4
    inside_a = reds(page, _pixels(A_BOX, height))
    inside_b = reds(page, _pixels(B_BOX, height))
    assert inside_a > 200 and inside_b > 200, (inside_a, inside_b)
    assert inside_a + inside_b == reds(page), "the seal is drawn only inside the widgets"
    # the seal keeps its aspect ratio, centred: in 甲方 (160×100) the sides stay clear
    left = reds(page, _pixels((A_BOX[0], A_BOX[1], A_BOX[0] + 25, A_BOX[3]), height))
    assert left == 0, left


def test_a_certified_contract_without_a_field_named_is_refused_with_the_fields(pki):  # noqa: F811
    pdf = _contract(pki)
    with pytest.raises(SigningError) as err:
        sign_pdf(pki.request(pdf, "甲方", placement=Placement(page=1, x_mm=30, y_mm=40)))
    assert (err.value.field, err.value.code) == ("pdf", "certified")
    assert "'甲方签章', '乙方签章'" in err.value.message, err.value.message
    # a name the document has no field of: a new field, which the certification forbids
    with pytest.raises(SigningError) as err:
        _seal_into(pki, pdf, "甲方", "丙方签章")
    assert (err.value.field, err.value.code) == ("pdf", "certified")


def test_an_uncertified_prepared_field_is_filled_not_doubled(pki, tmp_path):  # noqa: F811
    """The form's empty "Signature1": pdfsig used to list it unsigned beside our new one."""
    pdf = _form(True)
    out = _seal_into(pki, pdf, "甲方", "Signature1")
    judge(out, pki, 1, tmp_path)
    assert empty_signature_fields(out) == []
    # without a name the default is unchanged: a new field beside it
    other = sign_pdf(pki.request(pdf, "甲方", placement=Placement(page=1, x_mm=30, y_mm=40)))
    assert [f.name for f in empty_signature_fields(other)] == ["Signature1"]
    # the last signer's lock works into a prepared field too: a certification (P=1) that
    # pdfsig and pyHanko call intact, and after which nothing more is signed
    locked = _seal_into(pki, pdf, "甲方", "Signature1", lock=True)
    judge(locked, pki, 1, tmp_path)
    with pytest.raises(SigningError) as err:
        sign_pdf(pki.request(locked, "乙方", placement=Placement(page=1, x_mm=30, y_mm=40)))
    assert err.value.code == "locked", err.value.message


def _text_field(pdf: bytes) -> bytes:
    import pymupdf

    doc = pymupdf.open(stream=pdf)
    wdg = pymupdf.Widget()
    wdg.field_type = pymupdf.PDF_WIDGET_TYPE_TEXT
    wdg.field_name = "amount"
    wdg.rect = pymupdf.Rect(72, 150, 300, 170)
    doc[0].add_widget(wdg)
    return doc.tobytes()


@pytest.mark.parametrize(
    "case, field, code",
    [
        ("signed", "field_name", "field_exists"),
        ("text", "field_name", "not_signature_field"),
        ("placement", "placement", "signing_refused"),
        ("cross_page", "cross_page", "signing_refused"),
        ("lock-bad", "field_name", "field_locked"),
        ("sv-cert", "field_name", "seed_value"),
        ("sv-subfilter", "field_name", "seed_value"),
        ("invisible", "field_name", "field_not_shown"),
    ],
)
def test_a_field_that_cannot_take_the_seal_is_refused_naming_it(pki, case, field, code):  # noqa: F811
    from pyhanko.sign.fields import (
        FieldMDPAction,
        FieldMDPSpec,
        SigSeedSubFilter,
        SigSeedValFlags,
        SigSeedValueSpec,
    )

    name, kw = "甲方签章", {}
    if case == "signed":
        pdf = _seal_into(pki, _contract(pki, None), "甲方", name)
    elif case == "text":
        pdf, name = _text_field(c.mupdf(1)), "amount"
    elif case in ("placement", "cross_page"):
        pdf = _contract(pki, None)
        kw = (
            {"placement": Placement(page=1, x_mm=30, y_mm=40)}
            if case == "placement"
            else {"cross_page": True}
        )
    else:
        spec = {
            "lock-bad": {"field_mdp_spec": FieldMDPSpec(FieldMDPAction.ALL)},
            "sv-cert": {
                "seed_value_dict": SigSeedValueSpec(
                    cert=fields.SigCertConstraints(
                        flags=fields.SigCertConstraintFlags.ISSUER, issuers=[_foreign_ca()]
                    )
                )
            },
            "sv-subfilter": {
                "seed_value_dict": SigSeedValueSpec(
                    flags=SigSeedValFlags.SUBFILTER,
                    subfilters=[SigSeedSubFilter.ADOBE_PKCS7_DETACHED],
                )
            },
            "invisible": {},
        }[case]
        box = None if case == "invisible" else A_BOX
        pdf = _prepared(c.mupdf(1), fields.SigFieldSpec(name, box=box, on_page=0, **spec))
        if case == "lock-bad":  # an /Action ISO 32000 does not define: no lock we can write
            pdf = _edit_lock(pdf, name, "/Action", "/Everything")
    req = pki.request(pdf, "甲方", placement=None, field_name=name)
    for k, v in kw.items():
        setattr(req, k, v)
    with pytest.raises(SigningError) as err:
        sign_pdf(req)
    assert (err.value.field, err.value.code) == (field, code), err.value.message
    if field == "field_name":
        assert repr(name) in err.value.message, err.value.message


def pki_issuer(pki_):  # noqa: ANN001, ANN201
    from asn1crypto import x509 as a_x509

    from tests.integration.test_pdf_sign import DER

    return a_x509.Certificate.load(pki_.ca.public_bytes(DER))


@pytest.mark.parametrize("rotate", [90, 270])
def test_a_field_on_a_turned_page_shows_the_seal_upright_and_whole(pki, rotate, tmp_path):  # noqa: F811
    """On a page shown turned (/Rotate), the widget's rectangle is in the page's own space:
    the seal must fill it as shown — square for a square seal, inside the rectangle — not be
    stretched across the unturned one."""
    import pymupdf

    from tests.integration.test_pdf_inputs_differential import _page_edit

    pdf = _prepared(
        c.mupdf(1, edit=_page_edit(rotate=rotate)),
        fields.SigFieldSpec("甲方签章", box=A_BOX, on_page=0),
    )
    out = _seal_into(pki, pdf, "甲方", "甲方签章")
    judge(out, pki, 1, tmp_path)
    page = pymupdf.open(stream=out)[0]
    h = page.mediabox.height
    x0, y0, x1, y1 = A_BOX
    shown_box = pymupdf.Rect(x0, h - y1, x1, h - y0) * page.rotation_matrix  # as displayed
    img = shown(out, 1, tmp_path)
    raw = img.load()
    xs, ys = [], []
    for y in range(img.size[1]):
        for x in range(img.size[0]):
            r, g, b = raw[x, y]
            if r > 150 and g < 110 and b < 110:
                xs.append(x)
                ys.append(y)
    assert xs, "no seal shown"
    left, top, right, bottom = min(xs), min(ys), max(xs) + 1, max(ys) + 1
    slack = 2
    assert shown_box.x0 * SCALE - slack <= left and right <= shown_box.x1 * SCALE + slack
    assert shown_box.y0 * SCALE - slack <= top and bottom <= shown_box.y1 * SCALE + slack
    # the round seal stays round: as wide as high, the field's shorter side (100 pt)
    assert abs((right - left) - (bottom - top)) <= 3, (left, top, right, bottom)
    assert abs((right - left) - 100 * SCALE) <= 4, (left, top, right, bottom)


def test_a_prepared_field_without_a_picture_keeps_the_seal_under_need_appearances(
    pki,  # noqa: F811
    tmp_path,
):
    """A form asking viewers to redraw its fields (/NeedAppearances true) whose prepared
    signature field has no appearance yet: the flag was kept (a field "without a picture"),
    and poppler then redrew the sealed widget from its value — the seal vanished. The widget
    this seal draws counts as drawn: the flag goes off and the seal shows."""
    from pyhanko.pdf_utils import generic

    pdf = _prepared(c.mupdf(1), fields.SigFieldSpec("甲方签章", box=A_BOX, on_page=0))
    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    form = w.root["/AcroForm"]
    form["/NeedAppearances"] = generic.BooleanObject(True)
    w.update_container(form)
    field = form["/Fields"][0].get_object()
    del field["/AP"]
    w.update_container(field)
    buf = io.BytesIO()
    w.write(buf)
    out = _seal_into(pki, buf.getvalue(), "甲方", "甲方签章")
    judge(out, pki, 1, tmp_path)
    form = PdfFileReader(io.BytesIO(out)).root["/AcroForm"]
    assert form["/NeedAppearances"] == False  # noqa: E712
    page = shown(out, 1, tmp_path)
    assert reds(page, _pixels(A_BOX, 842)) > 200, reds(page)


def test_a_field_an_earlier_signature_locked_is_refused(pki, tmp_path):  # noqa: F811
    """甲方's field, signed by another tool, locks 乙方签章 (FieldMDP /Include): filling it
    afterwards is a change that signature forbids. Refused naming field_name (it was sealed,
    and our verifier then called the file TOTAL-FAILED)."""
    from pyhanko.sign.fields import FieldMDPAction, FieldMDPSpec

    from tests.integration.test_pdf_inputs_differential import _certified

    lock = FieldMDPSpec(FieldMDPAction.INCLUDE, fields=["乙方签章"])
    pdf = _prepared(
        c.mupdf(1),
        fields.SigFieldSpec(
            "Certification", box=(60, 60, 160, 100), on_page=0, field_mdp_spec=lock
        ),
        fields.SigFieldSpec("乙方签章", box=B_BOX, on_page=0),
        fields.SigFieldSpec("丙方签章", box=A_BOX, on_page=0),
    )
    # pyHanko signs the prepared "Certification" field, with its lock (P=2, not a certification
    # here: _certified's field exists already, so its spec is not used)
    locked = _certified(_Party(pki, pki.parties["中介方"]), pdf, 2)
    with pytest.raises(SigningError) as err:
        _seal_into(pki, locked, "乙方", "乙方签章")
    assert (err.value.field, err.value.code) == ("field_name", "field_locked"), err.value.message
    assert "'Certification'" in err.value.message
    # a field the lock does not name is sealed, and every judge agrees
    judge(_seal_into(pki, locked, "乙方", "丙方签章"), pki, 2, tmp_path)


def _locked_contract(lock) -> bytes:  # noqa: ANN001
    """甲方签章 prepared with ``lock`` (FieldMDP, as Acrobat's "mark as read-only after
    signing"), beside the text field "amount" and the fields 乙方签章 and 丙方签章."""
    return _prepared(
        _text_field(c.mupdf(1)),
        fields.SigFieldSpec("甲方签章", box=A_BOX, on_page=0, field_mdp_spec=lock),
        fields.SigFieldSpec("乙方签章", box=B_BOX, on_page=0),
        fields.SigFieldSpec("丙方签章", box=(60, 400, 220, 500), on_page=0),
    )


def _edit_lock(pdf: bytes, name: str, key: str, value: object) -> bytes:
    """``pdf`` with ``key`` of field ``name``'s /Lock set to ``value`` (a name or a number),
    as a form tool other than pyHanko may write it."""
    from pyhanko.pdf_utils import generic

    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    for ref in w.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if field.get("/T") == name:
            lock = generic.DictionaryObject(field["/Lock"])
            lock[generic.NameObject(key)] = (
                generic.NameObject(value) if isinstance(value, str) else generic.NumberObject(value)
            )
            field["/Lock"] = lock
            w.update_container(field)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def _fill_amount(pdf: bytes, value: str) -> bytes:
    """Another tool (pyHanko's writer) filling the text field "amount" afterwards."""
    from pyhanko.pdf_utils import generic

    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    for ref in w.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if field.get("/T") == "amount":
            field["/V"] = generic.TextStringObject(value)
            w.update_container(field)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def _first_status(pdf: bytes, pki_):  # noqa: ANN001, ANN202
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from tests.integration.test_pdf_sign import DER

    root = pki_issuer(pki_).__class__.load(pki_.root.public_bytes(DER))
    emb = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    return emb, validate_pdf_signature(
        emb, ValidationContext(trust_roots=[root], allow_fetching=False)
    )


@pytest.mark.parametrize("action", ["include", "exclude"])
def test_a_locked_field_is_sealed_and_its_lock_honoured(pki, action, tmp_path):  # noqa: F811
    """A field prepared with a /Lock (FieldMDP /Include or /Exclude, naming 乙方签章 and the
    text field "amount", or every field but 丙方签章) was refused. Acrobat signs
    it and its signature locks the fields named: the seal now carries the lock in its
    /Reference; pyHanko reads it, a later seal into a locked field is refused naming the
    lock, a free one is sealed, and filling a locked "amount" breaks the first signature
    for pyHanko and our verifier."""
    from pyhanko.sign.fields import FieldMDPAction, FieldMDPSpec

    from yinxin.pdf.verify import verify_pdf

    if action == "include":
        lock = FieldMDPSpec(FieldMDPAction.INCLUDE, fields=["乙方签章", "amount"])
    else:
        lock = FieldMDPSpec(FieldMDPAction.EXCLUDE, fields=["丙方签章"])
    locked, free = "乙方签章", "丙方签章"
    pdf = _locked_contract(lock)
    assert [f.locked for f in empty_signature_fields(pdf)] == [True, False, False]
    one = _seal_into(pki, pdf, "甲方", "甲方签章")
    judge(one, pki, 1, tmp_path)
    emb, _ = _first_status(one, pki)
    assert emb.fieldmdp is not None and emb.fieldmdp.action == lock.action
    assert emb.fieldmdp.is_locked(locked) and not emb.fieldmdp.is_locked(free)
    assert emb.fieldmdp.is_locked("amount")
    with pytest.raises(SigningError) as err:
        _seal_into(pki, one, "乙方", locked)
    assert (err.value.field, err.value.code) == ("field_name", "field_locked"), err.value.message
    assert "'甲方签章'" in err.value.message, err.value.message
    judge(_seal_into(pki, one, "乙方", free), pki, 2, tmp_path)
    # a locked form field changed afterwards: pyHanko and our verifier call it a violation
    filled = _fill_amount(one, "999999")
    _, status = _first_status(filled, pki)
    assert status.intact
    assert status.modification_level.name == "OTHER" or not status.docmdp_ok, (
        status.pretty_print_details()
    )
    assert not verify_pdf(filled, trust_roots=[pki.root]).valid


def test_a_locked_field_of_a_certified_contract_or_sealed_with_lock(pki, tmp_path):  # noqa: F811
    """The lock honoured under a P=2 certification (pyHanko: FORM_FILLING, docmdp_ok), and
    beside the seal's own --lock as first signer (DocMDP P=1 and the field's FieldMDP) and
    as a later one (its FieldMDP /All, stricter, written instead): every judge agrees."""
    from pyhanko.sign.fields import FieldMDPAction, FieldMDPSpec

    pdf = _locked_contract(FieldMDPSpec(FieldMDPAction.INCLUDE, fields=["乙方签章"]))
    cert = _certified(_Party(pki, pki.parties["中介方"]), pdf, 2)
    out = _seal_into(pki, cert, "甲方", "甲方签章")
    judge(out, pki, 2, tmp_path)
    judge(_seal_into(pki, out, "乙方", "丙方签章"), pki, 3, tmp_path)
    judge(_seal_into(pki, pdf, "甲方", "甲方签章", lock=True), pki, 1, tmp_path)
    one = _seal_into(pki, pdf, "乙方", "丙方签章")
    judge(_seal_into(pki, one, "甲方", "甲方签章", lock=True), pki, 2, tmp_path)


def test_a_field_locked_with_all_and_p1_ends_the_document(pki, tmp_path):  # noqa: F811
    """/Lock /Action /All /P 1 (PDF 2.0: nothing may change after this signature): sealed,
    every field locked, and the next seal refused as after a last signer's lock."""
    from pyhanko.sign.fields import FieldMDPAction, FieldMDPSpec

    pdf = _edit_lock(_locked_contract(FieldMDPSpec(FieldMDPAction.ALL)), "甲方签章", "/P", 1)
    one = _seal_into(pki, pdf, "甲方", "甲方签章")
    judge(one, pki, 1, tmp_path)
    emb, _ = _first_status(one, pki)
    assert emb.fieldmdp.is_locked("乙方签章") and emb.docmdp_level.value == 1
    with pytest.raises(SigningError) as err:
        _seal_into(pki, one, "乙方", "丙方签章")
    assert err.value.code in ("locked", "field_locked"), err.value.message


def test_the_last_signers_lock_into_a_prepared_field_stops_the_next_seal(pki, tmp_path):  # noqa: F811
    """乙方 seals 乙方签章 last, with --lock (every field locked, /P 1), after 甲方. A new field
    made for the lock says /Lock /P 1, which pyHanko and this engine read; a prepared field
    keeps its dictionary (pyHanko's form-filling rules forbid adding a /Lock to it), the P=1
    only in the signature's FieldMDP, which our verifier reads and the engine did not: a third
    seal in a new field was made, and our verifier called the file TOTAL-FAILED. It is refused
    now."""
    pdf = _prepared(
        c.mupdf(1),
        fields.SigFieldSpec("甲方签章", box=A_BOX, on_page=0),
        fields.SigFieldSpec("乙方签章", box=B_BOX, on_page=0),
    )
    two = _seal_into(pki, _seal_into(pki, pdf, "甲方", "甲方签章"), "乙方", "乙方签章", lock=True)
    judge(two, pki, 2, tmp_path)
    with pytest.raises(SigningError) as err:
        sign_pdf(pki.request(two, "甲方", placement=Placement(page=1, x_mm=30, y_mm=40)))
    assert (err.value.field, err.value.code) == ("pdf", "locked"), err.value.message


def _foreign_ca():  # noqa: ANN202
    """A CA of another platform (asn1crypto): an issuer our signers' certificates are not
    from, for a seed value they cannot meet."""
    from asn1crypto import x509 as a_x509

    from tests.integration.test_pdf_sign import DER
    from tests.integration.test_signing_cli import foreign_root

    return a_x509.Certificate.load(foreign_root("别家 CA").public_bytes(DER))


def _seed(pki_, case: str):  # noqa: ANN001, ANN202
    """The seed value dictionary (pyHanko's spec) of each case below."""
    from asn1crypto import x509 as a_x509
    from pyhanko.sign.fields import (
        SeedLockDocument,
        SeedSignatureType,
        SigCertConstraintFlags,
        SigCertConstraints,
        SigSeedSubFilter,
        SigSeedValFlags,
        SigSeedValueSpec,
    )

    from tests.integration.test_pdf_sign import DER

    mine = a_x509.Certificate.load(pki_.parties["甲方"].cert.public_bytes(DER))
    theirs = a_x509.Certificate.load(pki_.parties["乙方"].cert.public_bytes(DER))
    must = SigSeedValFlags
    cert = SigCertConstraintFlags
    return {
        "issuer-ours": SigSeedValueSpec(
            cert=SigCertConstraints(flags=cert.ISSUER, issuers=[pki_issuer(pki_)])
        ),
        "subject-ours": SigSeedValueSpec(
            cert=SigCertConstraints(flags=cert.SUBJECT, subjects=[mine])
        ),
        "issuer-advised": SigSeedValueSpec(cert=SigCertConstraints(issuers=[_foreign_ca()])),
        "reasons": SigSeedValueSpec(flags=must.REASONS, reasons=["甲方签章", "同意"]),
        "digest": SigSeedValueSpec(flags=must.DIGEST_METHOD, digest_methods=["sha256"]),
        "subfilter": SigSeedValueSpec(flags=must.SUBFILTER, subfilters=[SigSeedSubFilter.PADES]),
        "timestamp": SigSeedValueSpec(
            timestamp_required=True, timestamp_server_url="http://127.0.0.1:9/tsa"
        ),
        "attestation": SigSeedValueSpec(flags=must.LEGAL_ATTESTATION, legal_attestations=["无"]),
        "mdp": SigSeedValueSpec(seed_signature_type=SeedSignatureType(fields.MDPPerm(2))),
        "lockdoc": SigSeedValueSpec(flags=must.LOCK_DOCUMENT, lock_document=SeedLockDocument.LOCK),
        # /MDP /P 0: an approval signature (with --lock as first signer: cannot be met)
        "approval": SigSeedValueSpec(seed_signature_type=SeedSignatureType(None)),
        # cannot be met
        "issuer-foreign": SigSeedValueSpec(
            cert=SigCertConstraints(flags=cert.ISSUER, issuers=[_foreign_ca()])
        ),
        "subject-other": SigSeedValueSpec(
            cert=SigCertConstraints(flags=cert.SUBJECT, subjects=[theirs])
        ),
        "subfilter-pkcs7-first": SigSeedValueSpec(
            flags=must.SUBFILTER,
            subfilters=[SigSeedSubFilter.ADOBE_PKCS7_DETACHED, SigSeedSubFilter.PADES],
        ),
        "reasons-other": SigSeedValueSpec(flags=must.REASONS, reasons=["同意"]),
        "lockdoc-unlocked": SigSeedValueSpec(
            flags=must.LOCK_DOCUMENT, lock_document=SeedLockDocument.DO_NOT_LOCK
        ),
    }[case]


@pytest.mark.parametrize(
    "case",
    [
        "issuer-ours",
        "subject-ours",
        "issuer-advised",
        "reasons",
        "digest",
        "subfilter",
        "timestamp",
        "mdp",
        "lockdoc",
    ],
)
def test_seed_values_the_seal_meets_are_met(pki, case, tmp_path):  # noqa: F811
    """A field's seed values (/SV) the seal can meet: a certificate from the issuer (or the
    very certificate) the field asks for — or one it only advises —, the reason, SHA-256,
    ETSI.CAdES.detached, a timestamp (from our TSA), a certification with the /MDP P asked
    (the first signer), the document locked when /LockDocument asks. The certificate
    constraint and /MDP were refused outright; judged by pdfsig, pyHanko (which checks the
    seed values) and our verifier."""
    pdf = _prepared(
        c.mupdf(1),
        fields.SigFieldSpec("甲方签章", box=A_BOX, on_page=0, seed_value_dict=_seed(pki, case)),
    )
    lock = {"lock": True} if case == "lockdoc" else {}
    out = _seal_into(pki, pdf, "甲方", "甲方签章", **lock)
    judge(out, pki, 1, tmp_path)
    emb = PdfFileReader(io.BytesIO(out)).embedded_signatures[0]
    if case == "mdp":
        assert emb.docmdp_level is not None and emb.docmdp_level.value == 2
        assert PdfFileReader(io.BytesIO(out)).root["/Perms"]["/DocMDP"] is not None
    elif case == "lockdoc":
        assert emb.docmdp_level is not None and emb.docmdp_level.value == 1
    else:
        assert emb.docmdp_level is None


@pytest.mark.parametrize(
    "case, named, extra",
    [
        ("issuer-foreign", "/Cert", {}),
        ("subject-other", "/Cert", {}),
        ("reasons-other", "/Reasons", {}),
        ("lockdoc", "/LockDocument", {}),
        ("lockdoc-unlocked", "/LockDocument", {"lock": True}),
        ("mdp", "/MDP", {"lock": True}),
        ("timestamp", "/TimeStamp", {"level": "B-B", "timestamper": None}),
        # pyHanko cannot judge legal attestations: a seal made would fail its validation
        ("attestation", "/LegalAttestation", {}),
        ("subfilter-pkcs7-first", "/SubFilter", {}),
    ],
)
def test_seed_values_the_seal_cannot_meet_are_refused_naming_them(pki, case, named, extra):  # noqa: F811
    """What the seal cannot meet is refused naming the seed value: /LockDocument was not
    looked at and /LegalAttestation or a /SubFilter list led by adbe.pkcs7.detached not
    refused, and the seal made then failed pyHanko's seed-value check (yinxin verify:
    TOTAL-FAILED)."""
    pdf = _prepared(
        c.mupdf(1),
        fields.SigFieldSpec("甲方签章", box=A_BOX, on_page=0, seed_value_dict=_seed(pki, case)),
    )
    with pytest.raises(SigningError) as err:
        _seal_into(pki, pdf, "甲方", "甲方签章", **extra)
    assert (err.value.field, err.value.code) == ("field_name", "seed_value"), err.value.message
    assert "'甲方签章'" in err.value.message and named in err.value.message, err.value.message


def test_a_certification_seed_on_a_signed_document_is_refused(pki):  # noqa: F811
    """/MDP P=2 asks for a certification, which only the first signature can be."""
    pdf = _prepared(
        c.mupdf(1),
        fields.SigFieldSpec("甲方签章", box=A_BOX, on_page=0, seed_value_dict=_seed(pki, "mdp")),
        fields.SigFieldSpec("乙方签章", box=B_BOX, on_page=0),
    )
    one = _seal_into(pki, pdf, "乙方", "乙方签章")
    with pytest.raises(SigningError) as err:
        _seal_into(pki, one, "甲方", "甲方签章")
    assert (err.value.field, err.value.code) == ("field_name", "seed_value"), err.value.message
    assert "/MDP" in err.value.message and "already signed" in err.value.message


def _two_widget_field(pdf: bytes, name: str, boxes) -> bytes:  # noqa: ANN001
    """A signature field with one widget per (0-based page, box) in ``boxes``, as /Kids (what
    Acrobat makes when a field is shown on several pages; rare, and allowed)."""
    from pyhanko.pdf_utils import generic

    def n(v: str) -> generic.NameObject:
        return generic.NameObject(v)

    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    field = generic.DictionaryObject({n("/FT"): n("/Sig"), n("/T"): generic.TextStringObject(name)})
    field_ref = w.add_object(field)
    kids = generic.ArrayObject()
    for page_ix, box in boxes:
        page_ref = w.find_page_for_modification(page_ix)[0]
        page = page_ref.get_object()
        widget = generic.DictionaryObject(
            {
                n("/Type"): n("/Annot"),
                n("/Subtype"): n("/Widget"),
                n("/Rect"): generic.ArrayObject(generic.FloatObject(v) for v in box),
                n("/F"): generic.NumberObject(4),
                n("/P"): page_ref,
                n("/Parent"): field_ref,
            }
        )
        ref = w.add_object(widget)
        kids.append(ref)
        annots = page.get("/Annots", generic.ArrayObject())
        annots.append(ref)
        page[n("/Annots")] = annots
        w.update_container(page)
    field[n("/Kids")] = kids
    form = w.root.get("/AcroForm")
    if form is None:
        form = generic.DictionaryObject({n("/Fields"): generic.ArrayObject()})
        w.root[n("/AcroForm")] = w.add_object(form)
        w.update_root()
    form = w.root["/AcroForm"]
    form["/Fields"].append(field_ref)
    w.update_container(form)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


@pytest.mark.parametrize("pages", [1, 2])
def test_a_split_field_shows_the_seal_in_every_widget(pki, pages, tmp_path):  # noqa: F811
    """A signature field whose widgets are /Kids apart from it (Acrobat's field shown on two
    pages; sejda's and LaTeX's even for one widget): every widget gets the seal's appearance
    (pdftoppm: the seal inside each rectangle, nowhere else), the field its /V; pyHanko and our
    verifier call it one valid signature. poppler 22.12 (pdfsig, Okular, Evince) lists each
    such widget as an unsigned field — its bug with split field and widget dictionaries
    (poppler work item 1684; pyHanko #678), not the file's: a /V copied onto the widgets would
    satisfy it and break an earlier signature for pyHanko. So pdfsig is asked only that it
    finds nothing invalid."""
    from yinxin.pdf.verify import verify_pdf

    boxes = [(0, A_BOX), (1, B_BOX)][:pages]
    pdf = _two_widget_field(c.mupdf(2), "甲方签章", boxes)
    assert [(f.name, f.page) for f in empty_signature_fields(pdf)] == [("甲方签章", 1)]
    out = _seal_into(pki, pdf, "甲方", "甲方签章")
    assert empty_signature_fields(out) == []
    assert verify_pdf(out, trust_roots=[pki.root]).valid
    [(_emb, st)] = _statuses(out, pki)
    assert st.intact and st.valid and st.trusted, st.pretty_print_details()
    path = tmp_path / "split.pdf"
    path.write_bytes(out)
    run = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{pki.nss}", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Invalid" not in run.stdout and "Error" not in run.stderr, run.stdout
    for ix, box in boxes:
        img = shown(out, ix + 1, tmp_path)
        inside = reds(img, _pixels(box, 842))
        assert inside > 200 and inside == reds(img), (ix, inside, reds(img))
    # a later seal into another field keeps both valid (pdfsig aside, as above)
    two = _seal_into(
        pki,
        _prepared(out, fields.SigFieldSpec("乙方签章", box=(60, 60, 200, 160), on_page=0)),
        "乙方",
        "乙方签章",
    )
    assert verify_pdf(two, trust_roots=[pki.root]).valid


def test_a_split_field_on_a_signed_document_is_refused(pki):  # noqa: F811
    """The same field after an earlier signature (a P=2 certification): pyHanko's rules let a
    signature field being signed change its own appearance, not its widgets' apart from it, so
    the seal made it and pyHanko and our verifier called the certification broken
    (TOTAL-FAILED). Refused now, naming the field, before a code is used (check_field) and at
    sealing."""
    from yinxin.pdf.sign import check_field

    pdf = _two_widget_field(c.mupdf(2), "甲方签章", [(0, A_BOX), (1, B_BOX)])
    certified = _certified(_Party(pki, pki.parties["中介方"]), pdf, 2)
    with pytest.raises(SigningError) as err:
        check_field(certified, "甲方签章")
    assert (err.value.field, err.value.code) == ("field_name", "field_split"), err.value.message
    with pytest.raises(SigningError) as err:
        _seal_into(pki, certified, "甲方", "甲方签章")
    assert (err.value.field, err.value.code) == ("field_name", "field_split"), err.value.message
    assert "'甲方签章'" in err.value.message, err.value.message


def _statuses(pdf: bytes, pki_):  # noqa: ANN001, ANN202
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from tests.integration.test_pdf_sign import DER

    root = pki_issuer(pki_).__class__.load(pki_.root.public_bytes(DER))
    return [
        (
            emb,
            validate_pdf_signature(
                emb, ValidationContext(trust_roots=[root], allow_fetching=False)
            ),
        )
        for emb in PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    ]


def test_need_appearances_with_another_field_undrawn_still_shows_the_seal(pki, tmp_path):  # noqa: F811
    """/NeedAppearances true and the text field "amount" without an appearance: the flag was
    kept (lest "amount" show blank), poppler then redrew every widget from its value — a
    signature's has none — and the seal sealed into "Signature1" vanished (pdftoppm: no red).
    A widget without an appearance is drawn from its value by poppler and MuPDF with the flag
    off too, so the flag goes off: the seal shows, and so does "100000"."""
    from PIL import Image

    from tests.integration.test_pdf_inputs_differential import _form

    w = IncrementalPdfFileWriter(io.BytesIO(_form(True)))
    for ref in w.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if field.get("/T") == "amount":  # MuPDF's text field: its widget is its kid
            widget = field["/Kids"][0].get_object()
            del widget["/AP"]
            w.update_container(widget)
    buf = io.BytesIO()
    w.write(buf)
    out = _seal_into(pki, buf.getvalue(), "甲方", "Signature1")
    judge(out, pki, 1, tmp_path)
    form = PdfFileReader(io.BytesIO(out)).root["/AcroForm"]
    assert form["/NeedAppearances"] == False  # noqa: E712
    amount = _pixels((72, 842 - 200, 300, 842 - 180), 842)  # MuPDF's top-down rectangle

    def dark(img: Image.Image) -> int:
        raw = img.crop(tuple(int(v) for v in amount)).tobytes()
        return sum(1 for px in zip(raw[0::3], raw[1::3], raw[2::3], strict=True) if max(px) < 100)

    for img in (shown(out, 1, tmp_path), shown(out, 1, tmp_path, mupdf=True)):
        assert reds(img, _pixels((400, 600, 500, 650), 842)) > 10, reds(img)
        assert dark(img) > 20, "the field without an appearance is drawn from its value"


def test_sign_fields_says_why_it_lists_none(pki, tmp_path):  # noqa: F811
    """`yinxin sign fields` printed "(no empty signature field)" alike for a document never
    prepared and for one whose fields are all signed; it now says which, naming the signed
    fields (the listing itself, and --json's [], unchanged)."""
    from tests.integration.server import yinxin_cli

    plain = tmp_path / "plain.pdf"
    plain.write_bytes(c.mupdf(1))
    done = tmp_path / "done.pdf"
    one = _seal_into(pki, _contract(pki, None), "甲方", "甲方签章")
    done.write_bytes(_seal_into(pki, one, "乙方", "乙方签章"))
    home = tmp_path / "home"
    for path, says in (
        (plain, "has no signature field"),
        (done, "every signature field is signed: '甲方签章', '乙方签章'"),
    ):
        run = yinxin_cli(["sign", "fields", "--in", str(path)], home)
        assert run.returncode == 0 and run.stdout == "", run
        assert says in " ".join(run.stderr.split()), run.stderr
        run = yinxin_cli(["sign", "fields", "--in", str(path), "--json"], home)
        assert json.loads(run.stdout) == [], run.stdout


_SEED_AGREE = [
    ("issuer-ours", {}),
    ("subject-ours", {}),
    ("issuer-advised", {}),
    ("reasons", {}),
    ("digest", {}),
    ("subfilter", {}),
    ("timestamp", {}),
    ("mdp", {}),
    ("lockdoc", {"lock": True}),
    ("issuer-foreign", {}),
    ("subject-other", {}),
    ("reasons-other", {}),
    ("lockdoc", {}),
    ("lockdoc-unlocked", {"lock": True}),
    ("mdp", {"lock": True}),
    # --lock as the first signer certifies: on a document not yet signed check_field judged
    # the seal either way (as first or not) and let it through; sealing refused it
    ("approval", {"lock": True}),
    ("timestamp", {"level": "B-B", "timestamper": None}),
    ("attestation", {}),
    ("subfilter-pkcs7-first", {}),
]


@pytest.mark.parametrize("case, extra", _SEED_AGREE)
def test_check_field_with_the_signer_judges_seed_values_as_sealing(pki, case, extra):  # noqa: F811
    """Given the signer (certificate, chain, role, lock, timestamp) — what a batch, a flow or
    `sign pdf` knows before the code — ``check_field`` refuses exactly the seed values sealing
    refuses, with the same message, and lets through what sealing makes: before, it judged no
    seed value, so the code was asked for and spent on a seal sealing then refused."""
    from yinxin.pdf.sign import FieldSigner, check_field

    pdf = _prepared(
        c.mupdf(1),
        fields.SigFieldSpec("甲方签章", box=A_BOX, on_page=0, seed_value_dict=_seed(pki, case)),
    )
    req = pki.request(pdf, "甲方", placement=None, field_name="甲方签章", **extra)

    def outcome(step) -> str | None:  # noqa: ANN001
        try:
            step()
        except SigningError as e:
            return f"{e.field} {e.code} {e.message}"
        return None

    sealed = outcome(lambda: sign_pdf(req))
    checked = outcome(lambda: check_field(pdf, "甲方签章", signer=FieldSigner.of(req)))
    assert checked == sealed
    # a later signer (``first=False``, as a sign flow's second turn) is refused a certification
    later = outcome(lambda: check_field(pdf, "甲方签章", signer=FieldSigner.of(req), first=False))
    if case == "mdp" and not extra:
        assert later is not None and "/MDP" in later and "already signed" in later, later
    # a parallel flow's signer (first or not, whoever signs first decides): a certification
    # asked for is refused (the flow stuck whenever another signer came first); the rest only
    # what neither way could meet
    either = outcome(
        lambda: check_field(pdf, "甲方签章", signer=FieldSigner.of(req), parallel=True)
    )
    if case == "mdp":
        assert either is not None and "/MDP" in either and "parallel" in either, either
    else:
        assert (either is None) == (sealed is None or later is None)


@pytest.mark.parametrize("case", ["subject-other", "issuer-foreign"])
def test_a_certificate_the_check_refuses_fails_pyhankos_validation(pki, case):  # noqa: F811
    """What the check refuses would have failed: the same field signed by pyHanko with the
    same certificate, its own seed-value check switched off, is a signature pyHanko's
    validator calls failed (seed values not met)."""
    from asn1crypto import x509 as a_x509
    from pyhanko.sign import signers
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from tests.integration.pdf_inputs_corpus import pyhanko_signer
    from tests.integration.test_pdf_sign import DER
    from yinxin.pdf.sign import FieldSigner, check_field

    pdf = _prepared(
        c.mupdf(1),
        fields.SigFieldSpec("甲方签章", box=A_BOX, on_page=0, seed_value_dict=_seed(pki, case)),
    )
    req = pki.request(pdf, "甲方", placement=None, field_name="甲方签章")
    with pytest.raises(SigningError) as err:
        check_field(pdf, "甲方签章", signer=FieldSigner.of(req))
    assert (err.value.field, err.value.code) == ("field_name", "seed_value")
    party = pki.parties["甲方"]
    pdf_signer = signers.PdfSigner(
        signers.PdfSignatureMetadata(
            field_name="甲方签章", subfilter=fields.SigSeedSubFilter.PADES
        ),
        signer=pyhanko_signer(party.key.native, party.cert, [pki.ca, pki.root]),
    )
    pdf_signer._ignore_sv = True  # as a signer that does not look at the field's /SV
    out = pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf))).getvalue()
    root = a_x509.Certificate.load(pki.root.public_bytes(DER))
    (emb,) = PdfFileReader(io.BytesIO(out)).embedded_signatures
    st = validate_pdf_signature(emb, ValidationContext(trust_roots=[root], allow_fetching=False))
    assert st.intact and st.valid and st.trusted
    assert not st.seed_value_ok and not st.bottom_line, st.pretty_print_details()


def _judged_alike(pki_, pdf: bytes, name: str, role: str):  # noqa: ANN001, ANN202
    """``check_field``'s refusal of a seal into ``name`` and sealing's, as (field, code) or
    None, and the sealed file when sealing made one."""
    from yinxin.pdf.sign import FieldSigner, check_field

    req = pki_.request(pdf, role, placement=None, field_name=name)
    try:
        check_field(pdf, name, signer=FieldSigner.of(req))
        checked = None
    except SigningError as e:
        checked = (e.field, e.code)
    try:
        out = sign_pdf(req)
        sealed = None
    except SigningError as e:
        out, sealed = None, (e.field, e.code)
    return checked, sealed, out


@pytest.mark.parametrize(
    "case, refused",
    [
        # 甲方签章's lock names 乙方签章: only 丙方签章 is left
        ("include", {"乙方签章": ("field_name", "field_locked")}),
        # every field but 丙方签章
        ("exclude", {"乙方签章": ("field_name", "field_locked")}),
        # every field
        (
            "all",
            {
                "乙方签章": ("field_name", "field_locked"),
                "丙方签章": ("field_name", "field_locked"),
            },
        ),
        # /Lock /P 1 (PDF 2.0): nothing may change after 甲方's seal
        ("all-p1", {"乙方签章": ("pdf", "locked"), "丙方签章": ("pdf", "locked")}),
        ("include-p1", {"乙方签章": ("pdf", "locked"), "丙方签章": ("pdf", "locked")}),
    ],
)
def test_check_field_refuses_what_an_earlier_signature_locks_as_sealing_does(
    pki,  # noqa: F811
    case,
    refused,
    tmp_path,
):
    """甲方 sealed 甲方签章, whose /Lock (FieldMDP) covers 乙方签章 (or ends the document):
    ``check_field`` — what `sign pdf --field`, a batch's code and a flow's create ask before
    any code — let the next seal into a locked field through, and sealing refused it after
    the code was sent and typed in. Now both refuse it alike, naming the field (``pdf`` for a
    document the lock ends), and ``empty_signature_fields`` marks it with the same code and
    the locking signature (``locked_by``); what both let through is sealed and every judge (pdfsig,
    pyHanko: intact, docmdp_ok; our verifier) calls valid."""
    from pyhanko.sign.fields import FieldMDPAction, FieldMDPSpec

    lock = {
        "include": FieldMDPSpec(FieldMDPAction.INCLUDE, fields=["乙方签章"]),
        "exclude": FieldMDPSpec(FieldMDPAction.EXCLUDE, fields=["丙方签章"]),
        "all": FieldMDPSpec(FieldMDPAction.ALL),
        "all-p1": FieldMDPSpec(FieldMDPAction.ALL),
        "include-p1": FieldMDPSpec(FieldMDPAction.INCLUDE, fields=["乙方签章"]),
    }[case]
    pdf = _locked_contract(lock)
    if case.endswith("-p1"):
        pdf = _edit_lock(pdf, "甲方签章", "/P", 1)
    one = _seal_into(pki, pdf, "甲方", "甲方签章")
    # the list of fields (`sign fields`, POST /flows/fields) marks what both refuse, alike
    marks = {f.name: (f.locked_by, f.locked_code) for f in empty_signature_fields(one)}
    for name in ("乙方签章", "丙方签章"):
        checked, sealed, out = _judged_alike(pki, one, name, "乙方")
        assert checked == sealed == refused.get(name), (name, checked, sealed)
        code = refused[name][1] if name in refused else None
        assert marks[name] == (("甲方签章", code) if code else (None, None)), (name, marks)
        if out is not None:
            judge(out, pki, 2, tmp_path)


def test_check_field_refuses_a_document_certified_with_no_changes(pki):  # noqa: F811
    """A contract certified with DocMDP P=1 before its fields were sealed: sealing refuses
    any seal (``pdf``, ``locked``); ``check_field`` let a prepared field through."""
    pdf = _contract(pki, level=1)
    checked, sealed, _ = _judged_alike(pki, pdf, "甲方签章", "甲方")
    assert checked == sealed == ("pdf", "locked"), (checked, sealed)


@pytest.mark.parametrize(
    "case", ["include", "exclude", "all-p1", "include-p1", "all-p2", "mdp", "none"]
)
def test_what_a_prepared_lock_forbids_is_what_sealing_refuses(pki, case, tmp_path):  # noqa: F811
    """``prepared_locks`` — what a sign flow judges at create, before anyone signs — says of
    each later seal (into 乙方签章, 丙方签章, or a new field) what sealing after 甲方's seal
    into 甲方签章 then gives: the same refusal code, or a seal every judge calls valid."""
    from pyhanko.sign.fields import FieldMDPAction, FieldMDPSpec

    from yinxin.pdf.sign import prepared_locks

    lock = {
        "include": FieldMDPSpec(FieldMDPAction.INCLUDE, fields=["乙方签章"]),
        "exclude": FieldMDPSpec(FieldMDPAction.EXCLUDE, fields=["丙方签章"]),
        "all-p1": FieldMDPSpec(FieldMDPAction.ALL),
        "include-p1": FieldMDPSpec(FieldMDPAction.INCLUDE, fields=["乙方签章"]),
        "all-p2": FieldMDPSpec(FieldMDPAction.ALL),
    }.get(case)
    if case == "mdp":
        pdf = _prepared(
            _text_field(c.mupdf(1)),
            fields.SigFieldSpec(
                "甲方签章", box=A_BOX, on_page=0, seed_value_dict=_seed(pki, "mdp")
            ),
            fields.SigFieldSpec("乙方签章", box=B_BOX, on_page=0),
            fields.SigFieldSpec("丙方签章", box=(60, 400, 220, 500), on_page=0),
        )
    else:
        pdf = _locked_contract(lock)
        if case[-3:] in ("-p1", "-p2"):
            pdf = _edit_lock(pdf, "甲方签章", "/P", int(case[-1]))
    found = prepared_locks(pdf).get("甲方签章")
    assert (found is None) == (case == "none"), found
    one = _seal_into(pki, pdf, "甲方", "甲方签章")
    for name in ("乙方签章", "丙方签章", None):
        try:
            if name is None:
                out = sign_pdf(
                    pki.request(one, "乙方", placement=Placement(page=1, x_mm=30, y_mm=40))
                )
            else:
                out = _seal_into(pki, one, "乙方", name)
            sealed = None
        except SigningError as e:
            out, sealed = None, e.code
        assert sealed == (found.forbids(name) if found else None), (name, sealed)
        if out is not None:
            judge(out, pki, 2, tmp_path)


@pytest.mark.parametrize("case", ["all", "exclude"])
def test_a_new_field_an_earlier_lock_covers_is_refused_before_the_code(pki, case, tmp_path):  # noqa: F811
    """甲方's seal locks every field (/All) or every field but 丙方签章 (/Exclude): a seal in a
    new field beside it was made, and pyHanko (modification level OTHER, docmdp not ok) and
    yinxin verify then called 甲方's signature broken. Refused now (``field_locked``) by
    sealing and by ``check_signable`` — what a code request and a batch ask before the code —
    naming ``pdf`` (or ``field_name`` for a name given); a free field is still sealed."""
    from pyhanko.sign.fields import FieldMDPAction, FieldMDPSpec

    from yinxin.pdf.sign import check_signable

    lock = (
        FieldMDPSpec(FieldMDPAction.ALL)
        if case == "all"
        else FieldMDPSpec(FieldMDPAction.EXCLUDE, fields=["丙方签章"])
    )
    one = _seal_into(pki, _locked_contract(lock), "甲方", "甲方签章")
    placed = pki.request(one, "乙方", placement=Placement(page=1, x_mm=30, y_mm=40))
    with pytest.raises(SigningError) as err:
        sign_pdf(placed)
    assert (err.value.field, err.value.code) == ("pdf", "field_locked"), err.value.message
    assert "'甲方签章'" in err.value.message and "'Signature1'" in err.value.message
    with pytest.raises(SigningError) as err:
        check_signable(one, earlier_signatures=True)
    assert (err.value.field, err.value.code) == ("pdf", "field_locked"), err.value.message
    with pytest.raises(SigningError) as err:
        check_signable(one, earlier_signatures=True, field_name="丁方签章")
    assert (err.value.field, err.value.code) == ("field_name", "field_locked"), err.value.message
    if case == "exclude":  # the field the lock leaves free
        check_signable(one, earlier_signatures=True, field_name="丙方签章")
        judge(_seal_into(pki, one, "乙方", "丙方签章"), pki, 2, tmp_path)
