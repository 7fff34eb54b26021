"""GB/T 38540 seal signatures (SES_Signature v4) inside PDF, judged also by tools we did not write.

Party A (organization seal) signs a two-page contract at its anchor, party B (personal seal)
signs the result in turn; both verify by GB/T 38540's procedure, each over the SM3 of its
``/ByteRange`` bytes. Then what must fail fails: a flipped byte inside a ``/ByteRange``, a
signer certificate not in the seal's list, a seal expired at the timestamp's time, a signer
certificate revoked before signing, a verification moment before the signing; an unsigned
update appended afterwards is reported (and invalid when it changes content). Independent
tools: sm-crypto (node) checks both SM2 signatures from the DER taken out of the PDF; poppler's
``pdftoppm`` draws the seal where the widget is; ``pdfsig`` and pyHanko read the file without
crashing and call the signature unsupported (asserted as they say it). ``yinxin verify`` takes a
mixed list — a PAdES PDF, this PDF, an OFD — and gives each its verdict and the worst exit code.

Every date derives from the real clock, so the tests pass under ``faketime`` on any day.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from tests.conftest import OUTPUT as TEST_OUTPUT
from tests.fixtures.samples import contract_pdf
from tests.fixtures.ses_world import SmCrypto, make_seal, make_world, sm2_crl
from tests.integration import pdf_factory as f
from tests.integration.server import ROOT
from yinxin.ofd.make import make_ofd
from yinxin.ofd.sign import Placement as OfdPlacement
from yinxin.ofd.sign import sign_ofd
from yinxin.pdf import ses as ses_pdf
from yinxin.pdf.ses import (
    SUBFILTER,
    check_existing,
    contents_kind,
    der_length,
    sign_ses_pdf,
    signature_kinds,
    verify_ses_pdf,
)
from yinxin.pdf.sign import Placement, SigningError
from yinxin.pki.keys import SoftwareKey
from yinxin.pki.tsa import respond
from yinxin.seals import ses_signature
from yinxin.seals.documents import document_kind, verify_seal_document
from yinxin.seals.ses_signature import (
    SesOfdSigner,
    SesPdfSigner,
    check_pdf_value,
    parse_ses_signature,
)
from yinxin.seals.seseal import parse_seseal

OUTPUT = TEST_OUTPUT / "ses-pdf"
MM_PT = 72 / 25.4  # points in a millimetre
YINXIN = ROOT / ".venv" / "bin" / "yinxin"
PEM = serialization.Encoding.PEM


# --- the world ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world():
    return make_world(datetime.now(UTC))


@pytest.fixture(scope="module")
def tsa(world):
    """A P-256 TSA (``yinxin.pki.tsa.respond``); ``stamper(at)`` stamps at that moment."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SES PDF Test TSA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(11)
        .not_valid_before(world.now - timedelta(days=400))
        .not_valid_after(world.now + timedelta(days=3650))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(key, hashes.SHA256())
    )
    handle = SoftwareKey("tsa", key)
    serials = iter(range(1, 10_000))

    def stamper(at: datetime):
        def stamp(request: bytes) -> bytes:
            return respond(
                request,
                tsa_cert=cert,
                tsa_key=handle,
                chain=[],
                serial=lambda: next(serials),
                gen_time=at,
            )

        return stamp

    return stamper, cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def doc() -> bytes:
    return contract_pdf(2, title="技术服务合同")


def _trust(world, tsa) -> list[bytes]:
    return [*world.trust, tsa[1]]


@pytest.fixture(scope="module")
def signed(world, tsa, doc):
    """A at "甲方" (last occurrence, page 2), then B at a position on page 1, both stamped —
    minutes ago, so that a verifier on the real clock (the CLI) sees them in the past."""
    a, b = world.party_a, world.party_b
    stamper = tsa[0]
    t1, t2 = world.now - timedelta(minutes=10), world.now - timedelta(minutes=5)
    first = sign_ses_pdf(
        doc,
        SesPdfSigner(a.seal, a.key, a.cert, when=t1, timestamper=stamper(t1)),
        placement=Placement(anchor="甲方"),
        when=t1,
        role="甲方",
    )
    second = sign_ses_pdf(
        first.data,
        SesPdfSigner(b.seal, b.key, b.cert, when=t2, timestamper=stamper(t2)),
        placement=Placement(page=1, x_mm=140, y_mm=40),
        when=t2,
        role="乙方",
        check_existing=check_pdf_value(_trust(world, tsa)),
    )
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "two-signers.pdf").write_bytes(second.data)
    return first, second


def _verify(pdf: bytes, world, tsa, **kw):
    return verify_ses_pdf(pdf, check_pdf_value(_trust(world, tsa), **kw), at=kw.get("at"))


def _checks(sig) -> dict[str, bool | None]:
    return {c["name"]: c["ok"] for c in sig.value["checks"]}


def _sig_fields(pdf: bytes) -> list[tuple[str, generic.DictionaryObject]]:
    from pyhanko.sign.fields import enumerate_sig_fields

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    return [(n, ref.get_object()) for n, ref, _ in enumerate_sig_fields(reader, filled_status=True)]


def _der(sig: generic.DictionaryObject) -> bytes:
    raw = bytes(sig["/Contents"])
    return raw[: der_length(raw)]


# --- signing and verifying --------------------------------------------------------------------


def test_two_signers_in_turn_both_verify(world, tsa, signed):
    first, second = signed
    assert (first.field_name, first.page) == ("SES1", 2)
    assert (second.field_name, second.page) == ("SES2", 1)
    report = _verify(second.data, world, tsa)
    assert report.valid, report.to_text()
    one, two = report.signatures
    assert one.coverage == "entire_revision" and one.changes_after == "allowed"
    assert two.coverage == "entire_file" and two.changes_after == "none"
    assert (one.page, two.page) == (2, 1)
    assert one.value["seal_name"] == "北京印信测试有限公司" and two.value["signer"] == "张三"
    for sig in (one, two):
        checks = _checks(sig)
        assert checks["timestamp"] is True and checks["document_hash"] is True
        assert checks["signer_in_seal"] is True and checks["seal"] is True
        assert sig.sub_filter == SUBFILTER == "/GBT38540.SES"
    assert report.unsigned_revisions == []
    # what A handed to B verifies alone, too
    assert _verify(first.data, world, tsa).valid


def test_the_dictionary_and_data_hash_follow_the_convention(signed):
    """/Filter /Adobe.PPKLite, our /SubFilter, an SES_Signature (not a CMS) in /Contents, and
    dataHash = SM3 of the /ByteRange bytes — computed here with hashlib's SM3, not ours."""
    import hashlib

    pdf = signed[1].data
    fields = _sig_fields(pdf)
    assert [n for n, _ in fields] == ["SES1", "SES2"]
    for name, sig in fields:
        assert sig["/Filter"] == "/Adobe.PPKLite" and sig["/SubFilter"] == "/GBT38540.SES"
        der = _der(sig)
        assert contents_kind(bytes(sig["/Contents"])) == "ses"
        parsed = parse_ses_signature(der)
        a, b, c, d = (int(v) for v in sig["/ByteRange"])
        assert a == 0 and pdf[b : b + 1] == b"<" and pdf[c - 1 : c] == b">"
        assert parsed.data_hash == hashlib.new("sm3", pdf[:b] + pdf[c : c + d]).digest()
        assert parsed.property_info == name and parsed.timestamp_token is not None
    assert signature_kinds(pdf) == {"ses"} and document_kind(pdf) == "pdf-ses"


def test_a_flipped_byte_inside_the_byte_range_is_invalid(world, tsa, signed):
    pdf = signed[1].data
    (_, s1), (_, s2) = _sig_fields(pdf)
    _, b1, c1, _ = (int(v) for v in s1["/ByteRange"])
    _, b2, c2, d2 = (int(v) for v in s2["/ByteRange"])
    # in the first revision's page content, after the first /Contents, and in the last update
    for at in (b1 // 2, (c1 + b2) // 2, c2 + d2 // 2):
        bad = bytearray(pdf)
        bad[at] ^= 0x01
        report = _verify(bytes(bad), world, tsa)
        assert not report.valid, at
    bad = bytearray(pdf)
    bad[b1 // 2] ^= 0x01
    report = _verify(bytes(bad), world, tsa)
    assert all(_checks(s)["document_hash"] is False for s in report.signatures)
    # a flipped byte in the signature value itself (hex inside /Contents): signature fails
    der = _der(s2)
    at = b2 + 1 + 2 * (len(der) - 200)  # inside the hex of the SES_Signature's last part
    bad = bytearray(pdf)
    bad[at : at + 1] = b"0" if pdf[at : at + 1] != b"0" else b"1"
    report = _verify(bytes(bad), world, tsa)
    assert report.signatures[0].valid and not report.signatures[1].valid
    assert not report.valid


def _append_info_change(pdf: bytes) -> bytes:
    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    w.set_info(
        generic.DictionaryObject({generic.NameObject("/Author"): generic.TextStringObject("他人")})
    )
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def test_an_appended_unsigned_update_is_reported(world, tsa, signed):
    pdf = signed[1].data
    revisions = _verify(pdf, world, tsa).revisions
    # metadata only: still valid (as PAdES treats it), but the revision is named
    meta = _verify(_append_info_change(pdf), world, tsa)
    assert meta.valid, meta.to_text()
    assert meta.unsigned_revisions == [revisions + 1]
    assert meta.signatures[1].coverage == "entire_revision"
    assert "revision(s) after the last signature" in meta.to_text()
    # a new page: content changed after both signatures → INVALID, reported on each
    page = _verify(f.append_page(pdf), world, tsa)
    assert not page.valid and page.unsigned_revisions == [revisions + 1]
    assert all(s.changes_after == "other" for s in page.signatures)
    assert "changed after signing" in page.to_text()
    # a comment (sticky note) likewise
    assert not _verify(f.add_text_annotation(pdf), world, tsa).valid


def test_the_byte_range_must_end_where_its_revision_ends(world, tsa, signed):
    """A /ByteRange that stops short of its revision's end (or runs into /Contents) is not
    accepted as coverage, whatever the hash says."""
    first = signed[0].data
    ((_, sig),) = _sig_fields(first)
    _, b, c, d = (int(v) for v in sig["/ByteRange"])
    old = b"[0 %d %d %d]" % (b, c, d)
    assert first.count(old) == 1
    short = first.replace(old, (b"[0 %d %d %d]" % (b, c, d - 40)).ljust(len(old)))
    report = _verify(short, world, tsa)
    assert not report.valid and report.signatures[0].coverage != "entire_file"


def test_a_signer_certificate_not_in_the_seals_list_is_invalid(world, tsa, doc, monkeypatch):
    """B signs with A's seal; our signer refuses that, so the check is bypassed while signing
    (a forger would not use our signer) — and the verifier must catch it."""
    a, b = world.party_a, world.party_b
    with pytest.raises(Exception) as err:
        SesPdfSigner(a.seal, b.key, b.cert, when=world.now)
    assert getattr(err.value, "field", None) == "signer_cert"
    with monkeypatch.context() as m:
        m.setattr(ses_signature, "_cert_in_seal", lambda seal, der: (True, ()))
        forged = sign_ses_pdf(
            doc,
            SesPdfSigner(a.seal, b.key, b.cert, when=world.now),
            placement=Placement(page=1, x_mm=20, y_mm=20),
            when=world.now,
        )
    report = _verify(forged.data, world, tsa)
    assert not report.valid
    checks = _checks(report.signatures[0])
    assert checks["signer_in_seal"] is False and checks["signature"] is True


def test_an_expired_seal_and_a_revoked_certificate_are_invalid(world, tsa, doc):
    """A seal valid 20–10 days ago, a signature whose timeInfo claims 15 days ago but whose
    timestamp proves today: the seal had expired (seal_validity fails). And B's certificate
    revoked yesterday, by its issuer's CRL: signer_certificate_revocation fails."""
    a = world.party_a
    old_seal = make_seal(
        world.ca_key,
        world.ca,
        a.cert,
        es_id="11010000000009",
        name="过期印章",
        personal=False,
        now=world.now - timedelta(days=20),
        valid_start=world.now - timedelta(days=20),
        valid_days=10,
    )
    claimed = world.now - timedelta(days=15)
    backdated = sign_ses_pdf(
        doc,
        SesPdfSigner(old_seal, a.key, a.cert, when=claimed, timestamper=tsa[0](world.now)),
        placement=Placement(page=1, x_mm=20, y_mm=20),
        when=claimed,
    )
    report = _verify(backdated.data, world, tsa)
    assert not report.valid
    assert _checks(report.signatures[0])["seal_validity"] is False
    # without the timestamp the claim alone is judged (GB/T 38540 uses timeInfo then): valid
    unstamped = sign_ses_pdf(
        doc,
        SesPdfSigner(old_seal, a.key, a.cert, when=claimed),
        placement=Placement(page=1, x_mm=20, y_mm=20),
        when=claimed,
    )
    assert _verify(unstamped.data, world, tsa).valid
    # revoked before signing, by a CRL from the trusted issuer issued after the signing
    b = world.party_b
    signed_b = sign_ses_pdf(
        doc,
        SesPdfSigner(b.seal, b.key, b.cert, when=world.now, timestamper=tsa[0](world.now)),
        placement=Placement(anchor="乙方"),
        when=world.now,
    )
    serial = a_x509.Certificate.load(b.cert).serial_number
    crl = sm2_crl(
        world.ca_key,
        world.ca,
        [(serial, world.now - timedelta(days=1))],
        this_update=world.now + timedelta(hours=1),
    )
    report = _verify(signed_b.data, world, tsa, crls=[crl])
    assert not report.valid
    assert _checks(report.signatures[0])["signer_certificate_revocation"] is False
    clean = sm2_crl(world.ca_key, world.ca, [], this_update=world.now + timedelta(hours=1))
    report = _verify(signed_b.data, world, tsa, crls=[clean])
    assert report.valid and _checks(report.signatures[0])["signer_certificate_revocation"]


def test_verified_years_later_with_the_verifiers_own_moment(world, tsa, signed):
    """Five years on, the seal (1 year) and the certificates have expired; the timestamps prove
    both signatures were made while they were valid, so the verdict stands. A moment before
    the signing cannot see a signature made after it."""
    pdf = signed[1].data
    later = world.now + timedelta(days=5 * 365)
    report = _verify(pdf, world, tsa, at=later)
    assert report.valid, report.to_text()
    assert report.verified_at == later.replace(microsecond=0)
    assert all(_checks(s)["signing_time"] is True for s in report.signatures)
    before = _verify(pdf, world, tsa, at=world.now - timedelta(days=1))
    assert not before.valid
    assert all(_checks(s)["signing_time"] is False for s in before.signatures)


def test_refusals_name_the_field(world, tsa, signed, doc):
    a, b = world.party_a, world.party_b
    signer = SesPdfSigner(a.seal, a.key, a.cert, when=world.now)
    for placement, code in (
        (Placement(anchor="丙方（签章）"), "anchor_not_found"),
        (Placement(page=9), "page_out_of_range"),
        (Placement(page=1, x_mm=400, y_mm=10), "outside_page"),
    ):
        with pytest.raises(SigningError) as err:
            sign_ses_pdf(doc, signer, placement=placement, when=world.now)
        assert err.value.field == "placement" and err.value.code == code
    with pytest.raises(SigningError) as err:
        sign_ses_pdf(b"not a pdf", signer, placement=Placement(), when=world.now)
    assert err.value.field == "pdf"
    # a tampered earlier signature: no signature is added after it
    (_, s1), _ = _sig_fields(signed[1].data)
    bad = bytearray(signed[1].data)
    bad[int(s1["/ByteRange"][1]) // 2] ^= 0x01
    with pytest.raises(SigningError) as err:
        sign_ses_pdf(
            bytes(bad),
            SesPdfSigner(b.seal, b.key, b.cert, when=world.now),
            placement=Placement(page=1, x_mm=20, y_mm=20),
            when=world.now,
            check_existing=check_pdf_value(_trust(world, tsa)),
        )
    assert err.value.code == "broken_signature"
    # a PAdES-signed PDF takes no seal signature (one kind per document)
    pki = f.build_pki()
    pades = f.sign(f.contract_pdf(), pki.new_signer("张三"), pki)
    with pytest.raises(SigningError) as err:
        sign_ses_pdf(pades, signer, placement=Placement(page=1, x_mm=20, y_mm=20), when=world.now)
    assert err.value.code == "mixed_signatures"
    # and the other way round: no PAdES signature on a seal-signed PDF (pyHanko would skip ours)
    from yinxin.pdf.sign import SignRequest, sign_pdf

    zhang = pki.new_signer("张三")
    with pytest.raises(SigningError) as err:
        sign_pdf(
            SignRequest(
                signed[1].data,
                SoftwareKey("zhang", zhang.key),
                zhang.cert,
                zhang.chain,
                None,
                None,
                None,
                level="B-B",
            )
        )
    assert err.value.code == "mixed_signatures" and err.value.field == "pdf"


def test_the_itext_convention_adbe_pkcs7_detached_is_read(world, tsa, doc):
    """Chinese iText-based tools write /SubFilter /adbe.pkcs7.detached around the same DER:
    routed and verified as a seal signature, by its content."""
    a = world.party_a
    foreign = sign_ses_pdf(
        doc,
        SesPdfSigner(a.seal, a.key, a.cert, when=world.now),
        placement=Placement(anchor="甲方"),
        when=world.now,
        sub_filter="/adbe.pkcs7.detached",
    )
    ((_, sig),) = _sig_fields(foreign.data)
    assert sig["/SubFilter"] == "/adbe.pkcs7.detached"
    assert document_kind(foreign.data) == "pdf-ses"
    report = verify_seal_document(foreign.data, trust=_trust(world, tsa))
    assert report.valid and report.signatures[0].sub_filter == "/adbe.pkcs7.detached"


# --- signatures where pyHanko does not look ---------------------------------------------------


def _hidden_name(in_form: bool) -> str:
    return "(unnamed field)" if in_form else "李四"


@pytest.mark.parametrize("in_form", [False, True], ids=["widget_only_on_a_page", "unnamed_field"])
def test_a_broken_seal_signature_where_pyhanko_does_not_look_is_judged(
    world, tsa, signed, doc, in_form, monkeypatch
):
    """A's seal signature copied from the file A handed over into a field pdfsig lists but
    pyHanko's walk of the form skips (a widget only among a page's annotations, a field
    without a name), then B seals the file with a tool that reads signatures that way: the
    copied signature does not match this file, so the report is INVALID, B's seal valid."""
    b = world.party_b
    hidden = f.hidden_signature(doc, signed[0].data, in_form=in_form)
    with monkeypatch.context() as m:
        m.setattr(ses_pdf, "_existing", lambda *_: [])  # the other tool: no look at them
        sealed = sign_ses_pdf(
            hidden,
            SesPdfSigner(b.seal, b.key, b.cert, when=world.now),
            placement=Placement(page=1, x_mm=140, y_mm=40),
            when=world.now,
        )
    report = _verify(sealed.data, world, tsa)
    assert not report.valid, report.to_text()
    by_name = {s.field_name: s for s in report.signatures}
    assert set(by_name) == {sealed.field_name, _hidden_name(in_form)}
    assert by_name[sealed.field_name].valid
    assert not by_name[_hidden_name(in_form)].valid
    outside = [n for n in report.notes if "不在文档表单中" in n]
    assert len(outside) == (0 if in_form else 1) and all(n.startswith("李四: ") for n in outside)
    assert signature_kinds(sealed.data) == {"ses"}


@pytest.mark.parametrize("in_form", [False, True], ids=["widget_only_on_a_page", "unnamed_field"])
def test_no_seal_signature_is_added_over_one_where_pyhanko_does_not_look(
    world, tsa, signed, doc, in_form
):
    """Sealing (and the platform's ``check_existing`` before a code is sent) refuses a file
    holding such a broken seal signature as it refuses one in the form, and one holding a
    PAdES signature there as a PAdES-signed file (one kind of signature per document)."""
    b = world.party_b
    checker = check_pdf_value(_trust(world, tsa))
    broken = f.hidden_signature(doc, signed[0].data, in_form=in_form)
    pki = f.build_pki()
    pades = f.hidden_signature(
        doc, f.sign(f.contract_pdf(), pki.new_signer("张三"), pki), in_form=in_form
    )
    for pdf, code in ((broken, "broken_signature"), (pades, "mixed_signatures")):
        for attempt in (
            lambda pdf=pdf: sign_ses_pdf(
                pdf,
                SesPdfSigner(b.seal, b.key, b.cert, when=world.now),
                placement=Placement(page=1, x_mm=20, y_mm=20),
                when=world.now,
                check_existing=checker,
            ),
            lambda pdf=pdf: check_existing(pdf, checker),
        ):
            with pytest.raises(SigningError) as err:
                attempt()
            assert err.value.field == "pdf" and err.value.code == code
            assert repr(_hidden_name(in_form)) in err.value.message


# --- tools we did not write ---------------------------------------------------------------------


needs_poppler = pytest.mark.skipif(
    not (shutil.which("pdfsig") and shutil.which("pdftoppm")), reason="poppler-utils missing"
)


def _red(img: Image.Image, box: tuple[float, float, float, float]) -> float:
    crop = img.convert("RGB").crop(tuple(int(v) for v in box))
    raw = crop.tobytes()
    red = sum(
        1 for i in range(0, len(raw), 3) if raw[i] > 150 and raw[i + 1] < 100 and raw[i + 2] < 100
    )
    return red / max(len(raw) // 3, 1)


@needs_poppler
def test_pdftoppm_shows_each_seal_where_its_widget_is(signed, doc, tmp_path):
    first, second = signed
    (tmp_path / "s.pdf").write_bytes(second.data)
    (tmp_path / "u.pdf").write_bytes(doc)
    for name in ("s", "u"):
        subprocess.run(
            ["pdftoppm", "-r", "72", "-png", str(tmp_path / f"{name}.pdf"), str(tmp_path / name)],
            check=True,
            timeout=60,
        )
    pages = sorted(tmp_path.glob("s-*.png"))
    assert len(pages) == 2
    for signed_one, page_png in ((first, pages[1]), (second, pages[0])):
        img = Image.open(page_png)
        x0, y0, x1, y1 = signed_one.rect  # PDF points = pixels at 72 dpi; y from the bottom
        box = (x0, img.height - y1, x1, img.height - y0)
        assert _red(img, box) > 0.05, page_png
        unsigned = Image.open(tmp_path / page_png.name.replace("s-", "u-"))
        assert _red(unsigned, box) < 0.005
    shutil.copy(pages[0], OUTPUT / "page1-pdftoppm.png")


@needs_poppler
def test_the_pdf_report_stays_one_page_and_keeps_the_documents_text_on_its_lines(
    world, tsa, signed, tmp_path
):
    """The Chinese report of a GB/T 38540 PDF: a seal name from the document cannot add or
    hide a line (escaped as everywhere), and nine signatures still make one A4 page — those
    that do not fit as tables get a line each."""
    from yinxin.pdf.report import render_report_pdf

    report = _verify(signed[1].data, world, tsa)
    assert report.valid
    hostile = "合同章\u202e\n总体结论 有效"
    one = report.signatures[0]
    one.value = {**one.value, "seal_name": hostile}
    report.signatures = [one] + [dataclasses.replace(one) for _ in range(8)]
    path = tmp_path / "report.pdf"
    path.write_bytes(render_report_pdf(report))
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    assert re.search(r"^Pages:\s+1$", info.stdout, re.M) and "595.28 x 841.89" in info.stdout
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "电子签章验证报告" in text and "有效 VALID — 全部电子签章验证通过" in text
    assert "合同章\\u202e\\n总体结论 有效" in text and "\u202e" not in text, text
    assert "签章 1：" in text and "签章 9：" in text
    assert text.count("总体结论 / Overall") == 1


def test_pdfsig_lists_the_signatures_and_calls_them_unsupported(signed, tmp_path):
    (tmp_path / "s.pdf").write_bytes(signed[1].data)
    done = subprocess.run(
        ["pdfsig", str(tmp_path / "s.pdf")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.findall(r"Signature Field Name: (\S+)", out) == ["SES1", "SES2"]
    assert out.count("Signature Type: unknown") == 2
    assert out.count("Signature has not yet been verified.") == 2
    assert "Total document signed" in out  # the second covers the whole file
    assert "Unable to validate this type of signature" in done.stderr
    assert "Signature is Valid" not in out and "Signature is Invalid" not in out


def test_pyhanko_skips_them_as_an_unsupported_subfilter(signed):
    reader = PdfFileReader(io.BytesIO(signed[1].data))
    assert reader.embedded_signatures == []  # logged: "unsupported SubFilter type … ignoring"
    from pyhanko.sign.fields import enumerate_sig_fields

    assert [n for n, *_ in enumerate_sig_fields(reader, filled_status=True)] == ["SES1", "SES2"]
    # and our PAdES verifier, handed one anyway, reports it unreadable rather than crashing
    from yinxin.pdf.verify import verify_pdf

    report = verify_pdf(signed[1].data, trust_roots=[])
    assert not report.valid and len(report.signatures) == 2


@pytest.fixture(scope="module")
def sm_crypto(tmp_path_factory):
    try:
        return SmCrypto(tmp_path_factory.mktemp("sm-crypto"))
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"sm-crypto could not be installed (npm registry unreachable?): {exc}")


def _point(cert_der: bytes) -> bytes:
    cert = a_x509.Certificate.load(cert_der)
    return bytes(cert["tbs_certificate"]["subject_public_key_info"]["public_key"])


def test_sm_crypto_verifies_both_signatures_taken_from_the_pdf(signed, sm_crypto):
    items = []
    for _name, sig in _sig_fields(signed[1].data):
        ses = parse_ses_signature(_der(sig))
        seal = parse_seseal(ses.seal_der)
        signer, maker = _point(ses.signer_cert_der), _point(seal.maker_cert_der)
        items += [
            (ses.signed_bytes, ses.signature, signer),  # SES_Signature over toSign
            (seal.signed_bytes, seal.signature, maker),  # the seal's maker signature
            (ses.signed_bytes + b"x", ses.signature, signer),  # changed content
        ]
    assert sm_crypto.verify(items) == [True, True, False] * 2


# --- yinxin verify on a mixed list --------------------------------------------------------------


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YINXIN_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    cmd = [str(YINXIN)] if YINXIN.exists() else [sys.executable, "-m", "yinxin.adapters.cli"]
    return subprocess.run(
        [*cmd, "verify", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_yinxin_verify_routes_each_file_by_its_content(world, tsa, signed, tmp_path):
    """A PAdES PDF, a GB/T 38540 PDF and an OFD in one call: a verdict each, exit code of the
    worst; trust is --trust only (no data directory is created); the OFD is named .bin and the
    SES PDF .dat, so the content decides."""
    pki = f.build_pki()
    pades = f.sign(f.contract_pdf(), pki.new_signer("张三"), pki)
    a = world.party_a
    ofd = sign_ofd(
        make_ofd([["合同", "", "甲方（签章）："]]),
        SesOfdSigner(a.seal, a.key, a.cert, when=world.now),
        placement=OfdPlacement(anchor="甲方（签章）"),
        when=world.now,
    ).data
    (tmp_path / "pades.pdf").write_bytes(pades)
    (tmp_path / "ses.dat").write_bytes(signed[1].data)
    (tmp_path / "contract.bin").write_bytes(ofd)
    bad = bytearray(signed[1].data)
    bad[100] ^= 0x01
    (tmp_path / "ses-bad.pdf").write_bytes(bytes(bad))
    trust = []
    for name, der in (("root", world.root), ("ca", world.ca), ("tsa", tsa[1])):
        (tmp_path / f"{name}.pem").write_bytes(
            x509.load_der_x509_certificate(der).public_bytes(PEM)
        )
        trust += ["--trust", f"{name}.pem"]
    (tmp_path / "pades-root.pem").write_bytes(pki.root.public_bytes(PEM))
    trust += ["--trust", "pades-root.pem"]
    before = sorted(p.name for p in tmp_path.iterdir())

    ok = _cli(tmp_path, "pades.pdf", "ses.dat", "contract.bin", *trust, "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    out = json.loads(ok.stdout)
    assert [r["file_name"] for r in out] == ["pades.pdf", "ses.dat", "contract.bin"]
    assert [r.get("kind", "pdf") for r in out] == ["pdf", "pdf-ses", "ofd"]
    assert all(r["valid"] for r in out)

    mixed = _cli(tmp_path, "pades.pdf", "ses-bad.pdf", "contract.bin", *trust)
    assert mixed.returncode == 1, mixed.stdout + mixed.stderr
    lines = mixed.stdout.splitlines()
    assert lines[0].startswith("VALID") and "pades.pdf" in lines[0]
    assert lines[1].startswith("INVALID") and "ses-bad.pdf (2 signatures, pdf-ses)" in lines[1]
    assert lines[2].startswith("VALID") and "contract.bin (1 signature, ofd)" in lines[2]
    assert lines[-1] == "2/3 有效 / valid"

    one = _cli(tmp_path, "ses.dat", *trust)
    assert one.returncode == 0 and "结论 / Verdict: 有效 / VALID" in one.stdout, one.stdout
    one = _cli(tmp_path, "contract.bin", *trust, "--json")
    assert one.returncode == 0 and json.loads(one.stdout)["kind"] == "ofd"
    # the verifier's own moment, years later, and before the signing
    later = (world.now + timedelta(days=5 * 365)).isoformat()
    assert _cli(tmp_path, "ses.dat", *trust, "--at", later).returncode == 0
    earlier = (world.now - timedelta(days=1)).isoformat()
    assert _cli(tmp_path, "ses.dat", *trust, "--at", earlier).returncode == 1
    # before the signing: INVALID for good (nothing can make it signed earlier)
    r = _cli(tmp_path, "ses.dat", *trust, "--at", earlier)
    assert "[FAILED] 签章时间 / signing_time" in r.stdout and r.stdout.endswith(
        "无效 / INVALID\n"
    ), r.stdout
    # only the root of the SM2 side: the GB/T 38540 checks go one step, so the signer is not
    # shown trusted — INDETERMINATE (the issuing CA would settle it), still exit 1
    r = _cli(tmp_path, "ses.dat", "--trust", "root.pem", "--trust", "tsa.pem")
    assert (
        r.returncode == 1 and "[not shown] 签章人证书可信 / signer_certificate_trusted" in r.stdout
    ), r.stdout
    assert r.stdout.endswith("结论 / Verdict: 无法确定 / INDETERMINATE\n")
    r = _cli(tmp_path, "ses.dat", "--trust", "root.pem", "--trust", "tsa.pem", "--json")
    out = json.loads(r.stdout)
    assert out["indication"] == "INDETERMINATE"
    assert [s["indication"] for s in out["signatures"]] == ["INDETERMINATE"] * 2
    # --crl: 张三's certificate revoked before he signed → INVALID naming the check
    serial = a_x509.Certificate.load(world.party_b.cert).serial_number
    (tmp_path / "ca.crl").write_bytes(
        sm2_crl(
            world.ca_key, world.ca, [(serial, world.now - timedelta(days=1))], this_update=world.now
        )
    )
    r = _cli(tmp_path, "ses.dat", *trust, "--crl", "ca.crl")
    assert (
        r.returncode == 1
        and "[FAILED] 签章人证书吊销状态 / signer_certificate_revocation" in r.stdout
    ), r.stdout
    assert r.stdout.endswith("结论 / Verdict: 无效 / INVALID\n")
    r = _cli(tmp_path, "ses.dat", *trust, "--crl", "root.pem", "--json")
    assert r.returncode == 2 and json.loads(r.stdout)["field"] == "crl"
    # the one-page Chinese report of the same verdict: every check with its outcome, the text
    # poppler's pdftotext gets back (fonts embedded with their ToUnicode maps)
    r = _cli(tmp_path, "ses.dat", "--trust", "root.pem", "--trust", "tsa.pem", "--report", "r.pdf")
    assert r.returncode == 1 and r.stdout.endswith("无法确定 / INDETERMINATE\n"), r.stdout
    text = subprocess.run(
        ["pdftotext", "-layout", str(tmp_path / "r.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for words in (
        "电子签章验证报告",
        "PDF（GB/T 38540 电子签章）",
        "无法确定 INDETERMINATE",
        "签章 1：",
        "签章 2：",
        "无法证明：签章人证书可信 — 并非由任何受信任的证书签发",
        "通过：文件摘要",
        "通过：时间戳",
    ):
        assert words in text, (words, text)
    assert "Traceback" not in r.stderr
    # refusals: exit 2 naming the field, nothing written
    r = _cli(tmp_path, "ses.dat", *trust, "--report", "nowhere/r.pdf", "--json")
    assert r.returncode == 2 and json.loads(r.stdout)["field"] == "report"
    r = _cli(tmp_path, "contract.bin", "--json")
    assert r.returncode == 2 and json.loads(r.stdout)["field"] == "trust"
    (tmp_path / "bad.pem").write_bytes(
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    r = _cli(tmp_path, "ses.dat", "--trust", "bad.pem", "--json")
    assert r.returncode == 2 and json.loads(r.stdout)["field"] == "trust"
    after = sorted(p.name for p in tmp_path.iterdir())
    assert after == sorted([*before, "bad.pem", "ca.crl", "r.pdf"])


def test_hostile_contents_are_verdicts_not_crashes(world, tsa, signed):
    """/Contents that is no DER, a truncated DER, an empty one, an unknown /SubFilter: each
    an INVALID signature in the report, the other signature still judged."""
    pdf = signed[1].data
    (_, s1), _ = _sig_fields(pdf)
    b = int(s1["/ByteRange"][1])
    cases = {
        "not DER": (b + 1, b"31"),  # the outer tag: SEQUENCE → SET
        "truncated": (b + 3, b"ff"),  # the length's first byte
        "garbage value": (b + 60, b"zz"),  # not even hex
    }
    for what, (at, repl) in cases.items():
        bad = pdf[:at] + repl + pdf[at + len(repl) :]
        report = _verify(bad, world, tsa)
        assert not report.valid, what
        assert len(report.signatures) == 2 and not report.signatures[0].valid, what
        expected = {
            "not DER": "not a GB/T 38540 seal signature",
            "truncated": "format",
            "garbage value": "cannot be read",
        }[what]
        assert expected in report.to_text(), (what, report.to_text())
    unknown = pdf.replace(b"/SubFilter /GBT38540.SES", b"/SubFilter /GBT38540.XYZ", 1)
    report = _verify(unknown, world, tsa)
    assert not report.valid
    assert any("/SubFilter /GBT38540.XYZ" in p for p in report.signatures[0].problems)


def test_the_same_x_y_are_a_pdf_seals_lower_left_corner_and_an_ofd_seals_centre(world, tsa):
    """docs/signing.md, "Where x/y put the seal": the same numbers on pages of the same size
    (A4) put a PDF seal's lower-left corner 50 mm from the page's left and bottom edges, and an
    OFD seal's centre 50 mm from its left and top edges — as every help text says."""
    a = world.party_a
    t = world.now - timedelta(minutes=10)
    pdf = sign_ses_pdf(
        contract_pdf(1, title="技术服务合同"),
        SesPdfSigner(a.seal, a.key, a.cert, when=t, timestamper=tsa[0](t)),
        placement=Placement(page=1, x_mm=50, y_mm=50),
        when=t,
        role="甲方",
    ).data
    ofd = sign_ofd(
        make_ofd([["技术服务合同", "", "甲方（签章）："]]),
        SesOfdSigner(a.seal, a.key, a.cert, when=world.now),
        placement=OfdPlacement(page=1, x=50, y=50),
        when=world.now,
    ).data
    # the PDF: the widget's /Rect, points from the page's lower-left corner
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    page = reader.root["/Pages"]["/Kids"][0]
    [widget] = [
        w.get_object()
        for w in page["/Annots"]
        if w.get_object().get("/Subtype") == "/Widget" and w.get_object().get("/FT") == "/Sig"
    ]
    media = page["/MediaBox"]
    page_w, page_h = float(media[2]) / MM_PT, float(media[3]) / MM_PT
    x0, y0, x1, y1 = (float(v) / MM_PT for v in widget["/Rect"])
    assert (round(page_w), round(page_h)) == (210, 297)
    assert (round(x0, 1), round(y0, 1)) == (50.0, 50.0)  # lower-left corner from lower-left
    # the OFD: the stamp's Boundary "x y w h", mm from the page's top-left corner
    with zipfile.ZipFile(io.BytesIO(ofd)) as zf:
        [xml] = [zf.read(n) for n in zf.namelist() if n.endswith("/Signature.xml")]
    m = re.search(rb'Boundary="([^"]+)"', xml)
    assert m is not None
    bx, by, bw, bh = (float(v) for v in m.group(1).split())
    assert (round(bx + bw / 2, 1), round(by + bh / 2, 1)) == (50.0, 50.0)  # centre from top-left
    # the same seal, the same size; so the same numbers are two places on the same page
    assert abs((x1 - x0) - bw) < 0.1 and abs((y1 - y0) - bh) < 0.1
    ofd_left, ofd_bottom = bx, 297 - (by + bh)  # the OFD seal's lower-left corner, PDF's frame
    assert abs(ofd_left - x0) > 10 and abs(ofd_bottom - y0) > 100
