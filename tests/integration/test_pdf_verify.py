"""Verifying signed PDFs: real documents signed with pyHanko, checked by us, by pyHanko's own
validator and by poppler's ``pdfsig``, and the one-page Chinese PDF report read back with
poppler's tools."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import re
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path

import pytest
from asn1crypto import ocsp as a_ocsp
from asn1crypto import x509 as a_x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko_certvalidator import ValidationContext

from tests.conftest import OUTPUT as TEST_OUTPUT
from tests.fixtures.samples import contract_pdf
from tests.integration import pdf_factory as f
from tests.integration.signing_flow import build_world, sign_as
from yinxin.errors import ValidationError
from yinxin.pdf.report import render_report_pdf
from yinxin.pdf.sign import RevocationData, append_dss
from yinxin.pdf.verify import NO_SIGNATURES, Indication, VerificationReport, verify_pdf

OUTPUT = TEST_OUTPUT / "verify"
POPPLER = shutil.which("pdfsig") and shutil.which("pdftotext") and shutil.which("pdfinfo")
needs_poppler = pytest.mark.skipif(not POPPLER, reason="poppler-utils not installed")


class Docs:
    """Every document the tests look at, signed once per module (signing is the slow part)."""

    def __init__(self) -> None:
        self.pki = pki = f.build_pki()
        self.rogue = f.build_pki("Rogue Root CA", tag="-rogue")
        self.plain = f.contract_pdf()
        self.zhang = pki.new_signer("张三")
        self.company = pki.new_signer(
            "某某科技有限公司", organization="某某科技有限公司", profile="organization-signing"
        )
        self.bt = f.sign(self.plain, self.zhang, pki, seal=f.SealInfo("张三", "personal", "甲方"))
        self.blt = f.sign(
            self.plain, self.zhang, pki, revinfo="dss", seal=f.SealInfo("张三", "personal", "甲方")
        )
        self.blt_no_tsa_revinfo = f.sign(
            self.plain, self.zhang, pki, revinfo="dss", tsa_revinfo=False
        )
        self.blta = f.add_document_timestamp(self.blt, pki)
        self.bb = f.sign(self.plain, self.zhang, pki, timestamp=False)
        self.two = f.sign(
            self.blt,
            self.company,
            pki,
            field_name="Signature2",
            box=(220, 80, 340, 200),
            seal=f.SealInfo("合同专用章", "contract", "乙方"),
        )
        self.tampered = f.tamper(self.two)
        self.page_added = f.append_page(self.bt)
        self.comment_added = f.add_text_annotation(self.bt)
        self.untrusted = f.sign(self.plain, self.rogue.new_signer("李四"), pki)
        wang = pki.new_signer("王五")
        yesterday = pki.now - dt.timedelta(days=1)
        self.revoked_dss = f.sign(self.plain, wang, pki, revinfo="dss", revoked_at=yesterday)
        self.revoked_cms = f.sign(self.plain, wang, pki, revinfo="cms", revoked_at=yesterday)
        self.roots = [pki.root]

    def verify(self, pdf: bytes, name: str = "合同.pdf") -> VerificationReport:
        return verify_pdf(pdf, trust_roots=self.roots, file_name=name)


@pytest.fixture(scope="module")
def docs() -> Docs:
    return Docs()


def pdfsig(pdf: bytes, tmp_path: Path) -> list[str]:
    """poppler's verdict per signature ("Signature is Valid.", "Digest Mismatch." …)."""
    p = tmp_path / "doc.pdf"
    p.write_bytes(pdf)
    out = subprocess.run(["pdfsig", str(p)], capture_output=True, text=True).stdout
    return re.findall(r"Signature Validation: (.+)", out)


# ---------------------------------------------------------------------------------------------
# verdicts


def test_bt_signature_is_valid_with_its_timestamp(docs, tmp_path):
    r = docs.verify(docs.bt)
    assert r.valid and len(r.signatures) == 1 and not r.problems
    s = r.signatures[0]
    assert s.valid and s.intact and s.trusted and s.certificate_valid_at_signing
    assert s.timestamp_time is not None and s.timestamp_valid is True
    assert s.timestamp_authority == "Yinxin TSA"
    assert abs(s.timestamp_time - docs.pki.now) < dt.timedelta(minutes=5)
    assert s.level == "B-T" and s.coverage == "entire_file" and s.changes_after == "none"
    assert (s.signer_name, s.role, s.seal_name, s.seal_kind) == ("张三", "甲方", "张三", "personal")
    # the serial as the platform writes it everywhere (identity.serial_hex: no leading zeros),
    # so that the report and ``yinxin cert show`` say one number
    assert s.certificate_serial == format(docs.zhang.cert.serial_number, "x")
    assert "CN=Yinxin Issuing CA" in s.certificate_issuer and s.signer_subject == "CN=张三,C=CN"
    assert s.revoked is None and s.revocation_source == "none"  # soft-fail, and says so
    assert s.problems == [] and any("吊销" in n for n in s.notes)
    assert r.sha256 == hashlib.sha256(docs.bt).hexdigest()
    if POPPLER:
        assert pdfsig(docs.bt, tmp_path) == ["Signature is Valid."]


def test_blt_uses_the_embedded_ocsp_response(docs):
    s = docs.verify(docs.blt).signatures[0]
    assert s.valid and s.level == "B-LT"
    assert s.revoked is False and s.revocation_source == "embedded"


def test_blt_without_tsa_revinfo_still_validates(docs):
    """A DSS with the signer's OCSP answer only must not fail the TSA (same CA) for it."""
    s = docs.verify(docs.blt_no_tsa_revinfo).signatures[0]
    assert s.valid and s.timestamp_valid and s.revoked is False


def test_document_timestamp_makes_blta(docs):
    r = docs.verify(docs.blta)
    assert r.valid and r.document_timestamps == 1
    s = r.signatures[0]
    assert s.level == "B-LTA" and s.changes_after == "allowed"


def test_signature_without_timestamp_is_bb(docs):
    s = docs.verify(docs.bb).signatures[0]
    assert s.valid and s.level == "B-B"
    assert s.timestamp_time is None and s.timestamp_valid is None
    assert s.signing_time is not None


def test_two_signatures_in_turn_are_both_valid(docs, tmp_path):
    r = docs.verify(docs.two)
    assert r.valid
    first, second = r.signatures
    assert (first.field_name, second.field_name) == ("Signature1", "Signature2")
    assert first.valid and second.valid
    assert first.changes_after == "allowed" and first.coverage == "entire_revision"
    assert second.changes_after == "none" and second.coverage == "entire_file"
    assert (second.role, second.seal_name) == ("乙方", "合同专用章")
    if POPPLER:
        assert pdfsig(docs.two, tmp_path) == ["Signature is Valid."] * 2


def test_one_changed_byte_breaks_integrity(docs, tmp_path):
    r = docs.verify(docs.tampered)
    assert not r.valid
    for s in r.signatures:
        assert not s.intact and not s.valid
        assert any("改动" in p for p in s.problems)
    if POPPLER:
        verdicts = pdfsig(docs.tampered, tmp_path)
        assert len(verdicts) == 2 and "Signature is Valid." not in verdicts


@pytest.mark.parametrize("which", ["page_added", "comment_added"])
def test_unsigned_update_after_signing_is_other(docs, which):
    r = docs.verify(getattr(docs, which))
    s = r.signatures[0]
    assert s.intact and s.trusted  # the signed revision itself is untouched …
    assert s.changes_after == "other" and not s.valid and not r.valid  # … but what came after


def test_foreign_ca_is_not_trusted(docs):
    r = docs.verify(docs.untrusted)
    s = r.signatures[0]
    assert s.intact and not s.trusted and not s.valid and not r.valid
    assert s.timestamp_valid  # our TSA, so only the signer is the problem
    assert any("受信任的根证书" in p for p in s.problems)


@pytest.mark.parametrize("which", ["revoked_dss", "revoked_cms"])
def test_revoked_before_signing_is_invalid(docs, which):
    r = docs.verify(getattr(docs, which))
    s = r.signatures[0]
    assert s.intact and s.trusted
    assert s.revoked is True and s.revocation_source == "embedded"
    assert not s.certificate_valid_at_signing and not s.valid and not r.valid
    assert any("吊销" in p for p in s.problems)


def test_no_signatures(docs):
    r = docs.verify(docs.plain)
    assert not r.valid and r.signatures == [] and r.problems == [NO_SIGNATURES]
    assert r.indication is Indication.FAILED


PASSED, FAILED, UNSURE = Indication.PASSED, Indication.FAILED, Indication.INDETERMINATE


@pytest.fixture(scope="module")
def outcomes(docs) -> dict[str, tuple[bytes, dt.datetime | None]]:
    """Files for each of the three outcomes, beside the module's own (signed once here)."""
    pki, now = docs.pki, docs.pki.now
    wang = pki.new_signer("王五")
    early = pki.new_signer("赵六", not_before=now + dt.timedelta(days=2))
    return {
        "blt": (docs.blt, None),
        "two": (docs.two, None),
        "blta": (docs.blta, None),
        # an archive timestamp from a TSA under a root the verifier was not given
        "foreign_archive_timestamp": (f.add_document_timestamp(docs.blt, docs.rogue), None),
        "tampered": (docs.tampered, None),
        "page_added": (docs.page_added, None),
        "revoked_dss": (docs.revoked_dss, None),
        "tampered_token": (f.tamper_timestamp(docs.bt), None),
        "not_yet_valid": (f.sign(docs.plain, early, pki), None),
        "untrusted": (docs.untrusted, None),
        "revoked_no_timestamp": (
            f.sign(
                docs.plain,
                wang,
                pki,
                revinfo="dss",
                timestamp=False,
                revoked_at=now - dt.timedelta(days=1),
            ),
            None,
        ),
        # the TSA's certificate has long expired and no archive timestamp came after it
        "blt_in_40_years": (docs.blt, now + dt.timedelta(days=365 * 40)),
    }


@pytest.mark.parametrize(
    ("which", "expected"),
    [
        ("blt", PASSED),
        ("two", PASSED),
        ("blta", PASSED),
        # nothing can mend these: changed bytes, disallowed changes after signing, signed
        # after the certificate's revocation (the timestamp proves when), a broken timestamp
        # token, a signature that existed before its certificate did
        ("tampered", FAILED),
        ("page_added", FAILED),
        ("revoked_dss", FAILED),
        ("tampered_token", FAILED),
        ("not_yet_valid", FAILED),
        # these may be settled by more evidence: the right root, proof the signing came before
        # the revocation, an archive timestamp from before the TSA's certificate expired
        ("untrusted", UNSURE),
        ("revoked_no_timestamp", UNSURE),
        ("blt_in_40_years", UNSURE),
        ("foreign_archive_timestamp", UNSURE),
    ],
)
def test_three_outcomes(docs, outcomes, which, expected):
    """ETSI EN 319 102-1's three main indications beside ``valid``: what a relying party is
    told when a signature is not shown good — invalid, or not determinable (yet)."""
    pdf, at = outcomes[which]
    r = verify_pdf(pdf, trust_roots=docs.roots, file_name="合同.pdf", at=at)
    assert r.indication is expected, (which, [s.problems for s in r.signatures])
    assert (r.indication is PASSED) == r.valid
    for s in r.signatures:
        assert (s.indication is PASSED) == s.valid
    if which != "foreign_archive_timestamp":  # there the document's own timestamp decides
        assert expected in {s.indication for s in r.signatures}
    else:
        assert [s.indication for s in r.signatures] == [PASSED]
        assert any(p.startswith("文档时间戳不受信任：") for p in r.problems), r.problems
    assert r.to_dict()["indication"] == expected.value
    if which == "tampered_token":  # said as a broken token, not as an untrusted one
        assert any(p.startswith("时间戳无效：") for p in r.signatures[0].problems), r
    verdict = {PASSED: "有效 / VALID", FAILED: "无效 / INVALID", UNSURE: "无法确定 / INDETERMINATE"}
    assert r.to_text().splitlines()[-1] == f"结论 / Verdict: {verdict[expected]}"


def test_an_untrusted_archive_timestamp_in_the_validations_own_second_is_called_untrusted(
    docs, outcomes
):
    """A validation time is cut to whole seconds and a token's time is not: an untrusted
    archive timestamp made in the second the file was checked (under faketime +400 d the
    module's files are made and checked within one) was reported "made after the validation
    time, validate later" instead of untrusted — a relying party sent to wait for nothing. It
    is "after" only past the second of tolerance the left-out rule has (``_after``)."""
    from io import BytesIO

    from pyhanko.pdf_utils.reader import PdfFileReader

    pdf, _ = outcomes["foreign_archive_timestamp"]
    emb = PdfFileReader(BytesIO(pdf)).embedded_timestamp_signatures[-1]
    stamped = emb.signed_data["encap_content_info"]["content"].parsed["gen_time"].native
    # the whole second before it, as a validation time is cut: at < stamped <= at + 1 s
    at = (stamped - dt.timedelta(microseconds=1)).replace(microsecond=0)
    r = verify_pdf(pdf, trust_roots=docs.roots, at=at)
    assert any(p.startswith("文档时间戳不受信任：") for p in r.problems), r.problems
    assert not any("晚于验证时间" in p for p in r.problems), r.problems


def test_a_validation_time_without_a_zone_is_refused_by_the_library_too(docs):
    """``yinxin verify --at``, ``POST /verify`` and ``desk --at`` refuse a time without a zone;
    the library's ``verify_pdf(at=…)`` read it as UTC without a word. A caller in Beijing
    writing ``datetime(…, 10, 0)`` for ten o'clock there was judged eight hours later — across
    a timestamp's or a revocation's time, another verdict. The PAdES verifier, the batch
    ``Verifier`` and the GB/T 38540 PDF verifier (which read it as the machine's local time)
    now refuse it naming ``at``; the same moment with its zone is judged as before."""
    from yinxin.pdf.batch import Verifier
    from yinxin.pdf.ses import verify_ses_pdf
    from yinxin.seals.ses_signature import check_pdf_value

    aware = docs.pki.now + dt.timedelta(minutes=5)
    naive = aware.astimezone(dt.UTC).replace(tzinfo=None)
    refusals = {
        "verify_pdf": lambda: verify_pdf(docs.bt, trust_roots=docs.roots, at=naive),
        "Verifier": lambda: Verifier(docs.roots, at=naive),
        "verify_ses_pdf": lambda: verify_ses_pdf(docs.bt, check_pdf_value(None), at=naive),
    }
    for name, call in refusals.items():
        with pytest.raises(ValidationError) as e:
            call()
        assert e.value.field == "at", name
        assert "zone" in str(e.value), (name, str(e.value))
    r = verify_pdf(docs.bt, trust_roots=docs.roots, at=aware)
    assert r.valid and r.verified_at == aware.replace(microsecond=0), r.to_text()
    assert Verifier(docs.roots, at=aware).verify(docs.bt).valid


@pytest.fixture
def beijing_machine(monkeypatch):
    """The process's local zone is Beijing's, as on a server in China (restored after)."""
    import time

    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@needs_poppler
@pytest.mark.parametrize("timestamp", [False, True], ids=["B-B", "B-T"])
def test_a_claimed_signing_time_without_a_zone_is_read_as_utc_as_pdfsig_reads_it(
    docs, tmp_path, beijing_machine, timestamp
):
    """A PAdES signature's claimed time is its /M, a PDF date whose zone is optional
    ("D:20261207091255", as other signing tools write it). pyHanko gives it back without a
    zone: the text and PDF reports turned it to UTC as the machine's local time — on a server
    in Beijing eight hours early, "01:12:55 UTC" for a file signed at 09:12:55 — and the JSON
    wrote it with no offset, which the verification page reads in the browser's zone. It is
    read as UTC everywhere now, as poppler's pdfsig reads it."""
    when = docs.pki.now.astimezone(dt.UTC).replace(microsecond=0)
    pdf = f.sign(
        docs.plain,
        docs.zhang,
        docs.pki,
        signing_time=when.replace(tzinfo=None),
        timestamp=timestamp,
    )
    assert re.search(rb"/M \(D\\072\d{14}\)", pdf)  # no zone written: the case
    s = docs.verify(pdf).signatures[0]
    assert s.valid and s.signing_time == when and s.signing_time.utcoffset() is not None, s
    r = docs.verify(pdf)
    assert f"{when:%Y-%m-%d %H:%M:%S} UTC（自报 / claimed）" in r.to_text()
    assert r.to_dict()["signatures"][0]["signing_time"] == when.isoformat()  # "+00:00"
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    run = subprocess.run(
        ["pdfsig", str(path)],
        capture_output=True,
        text=True,
        env={"TZ": "UTC", "PATH": "/usr/bin:/bin"},
    )
    assert f"Signing Time: {when:%b %d %Y %H:%M:%S}" in run.stdout, run.stdout


@pytest.mark.parametrize("data", [b"", b"garbage" * 100, b"%PDF-1.7\n" + b"\x00" * 500])
def test_garbage_is_a_validation_error(docs, data):
    with pytest.raises(ValidationError) as e:
        docs.verify(data)
    assert e.value.field == "pdf"


def test_hostile_bytes_never_crash(docs):
    """Truncations and random byte flips: a report or ValidationError(field="pdf"), nothing else."""
    rng = random.Random(20251121)
    src = docs.two
    cases = [src[: len(src) * k // 10] for k in range(1, 10)]
    for _ in range(40):
        b = bytearray(src)
        for _ in range(rng.randint(1, 20)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        cases.append(bytes(b))
    for data in cases:
        try:
            r = docs.verify(data)
        except ValidationError as e:
            assert e.field == "pdf"
            continue
        assert isinstance(r, VerificationReport)
        if r.valid:  # only possible if no flip landed anywhere that matters
            assert all(s.intact for s in r.signatures)


# ---------------------------------------------------------------------------------------------
# fetching revocation data over HTTP (only when asked; OCSP only when also allowed)


class StatusServer:
    """A tiny CRL + OCSP responder for one PKI, recording which paths were asked for."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.revoked: dict[int, dt.datetime] = {}
        self.pki: f.TestPki | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, body: bytes, ctype: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                server.requests.append(self.path)
                pki = server.pki
                assert pki is not None
                if self.path.startswith("/crl/issuing"):
                    self._send(pki.issuing_crl(server.revoked), "application/pkix-crl")
                elif self.path.startswith("/crl/root"):
                    self._send(pki.root_crl(), "application/pkix-crl")
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                server.requests.append(self.path)
                pki = server.pki
                assert pki is not None
                body = self.rfile.read(int(self.headers["Content-Length"]))
                serial = ocsp.load_der_ocsp_request(body).serial_number
                cert = next(c for c in server.issued if c.serial_number == serial)
                self._send(
                    pki.ocsp_response(cert, revoked_at=server.revoked.get(serial)),
                    "application/ocsp-response",
                )

        self.issued: list = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def online():
    srv = StatusServer()
    srv.pki = pki = f.build_pki(base=srv.base)
    good, bad = pki.new_signer("在线甲"), pki.new_signer("在线乙")
    srv.issued += [good.cert, bad.cert, pki.tsa.cert]
    srv.revoked[bad.cert.serial_number] = pki.now - dt.timedelta(days=1)
    plain = f.contract_pdf()
    yield srv, f.sign(plain, good, pki), f.sign(plain, bad, pki)
    srv.httpd.shutdown()


def test_nothing_is_fetched_unless_asked(online):
    srv, _, bad_doc = online
    srv.requests.clear()
    r = verify_pdf(bad_doc, trust_roots=[srv.pki.root])
    assert r.valid and r.signatures[0].revocation_source == "none"  # soft-fail, offline
    assert srv.requests == []


def test_fetching_uses_crls_but_not_ocsp_by_default(online):
    srv, good_doc, bad_doc = online
    srv.requests.clear()
    good = verify_pdf(good_doc, trust_roots=[srv.pki.root], allow_fetching=True)
    bad = verify_pdf(bad_doc, trust_roots=[srv.pki.root], allow_fetching=True)
    assert good.valid
    g = good.signatures[0]
    assert g.revoked is False and g.revocation_source == "online"
    b = bad.signatures[0]
    assert not bad.valid and b.revoked is True and b.revocation_source == "online"
    assert any(p.startswith("/crl/issuing") for p in srv.requests)
    assert "/ocsp" not in srv.requests  # an OCSP query would tell who reads which document


def test_ocsp_only_when_allowed(online):
    srv, _, bad_doc = online
    srv.requests.clear()
    r = verify_pdf(bad_doc, trust_roots=[srv.pki.root], allow_fetching=True, ocsp_urls_allowed=True)
    s = r.signatures[0]
    assert not r.valid and s.revoked is True and s.revocation_source == "online"
    assert "/ocsp" in srv.requests


# ---------------------------------------------------------------------------------------------
# against pyHanko's own validator


def _pyhanko_verdicts(pdf: bytes, roots, *, with_revinfo: bool) -> list[tuple[bool, bool]]:
    reader = PdfFileReader(BytesIO(pdf))
    kwargs = {
        "trust_roots": [
            a_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in roots
        ]
    }
    out = []
    for emb in reader.embedded_signatures:
        if emb.sig_object_type != "/Sig":
            continue
        if with_revinfo:
            ocsps = []
            try:
                archival = emb.signer_info["signed_attrs"]
                for attr in archival:
                    if attr["type"].native == "adobe_revocation_info_archival":
                        ocsps += [
                            a_ocsp.OCSPResponse.load(o.dump()) for o in attr["values"][0]["ocsp"]
                        ]
            except KeyError:
                pass
            try:
                vc = DocumentSecurityStore.read_dss(reader).as_validation_context(
                    {**kwargs, "ocsps": ocsps}
                )
            except NoDSSFoundError:
                vc = ValidationContext(**kwargs, ocsps=ocsps)
        else:
            vc = ValidationContext(**kwargs)
        st = validate_pdf_signature(emb, vc)
        out.append((st.intact and st.valid, st.bottom_line))
    return out


@pytest.mark.parametrize(
    "which,with_revinfo",
    [
        ("bt", False),
        ("bb", False),
        ("two", False),
        ("blt", True),
        ("blta", True),
        ("tampered", False),
        ("page_added", False),
        ("comment_added", False),
        ("untrusted", False),
        ("revoked_dss", True),
        ("revoked_cms", True),
    ],
)
def test_same_verdicts_as_pyhanko(docs, which, with_revinfo):
    pdf = getattr(docs, which)
    ours = [(s.intact, s.valid) for s in docs.verify(pdf).signatures]
    assert ours == _pyhanko_verdicts(pdf, docs.roots, with_revinfo=with_revinfo)


# ---------------------------------------------------------------------------------------------
# output


def test_json_round_trips(docs):
    r = docs.verify(docs.two, name="采购合同.pdf")
    data = json.loads(r.to_json())
    assert data["file_name"] == "采购合同.pdf" and data["valid"] is True
    assert len(data["signatures"]) == 2
    s = data["signatures"][0]
    assert s["signer_name"] == "张三" and s["changes_after"] == "allowed"
    assert dt.datetime.fromisoformat(s["timestamp_time"]).tzinfo is not None
    assert dt.datetime.fromisoformat(data["verified_at"])
    text = r.to_text()
    assert "电子签名验证报告" in text and "张三" in text and "有效 / VALID" in text


@needs_poppler
@pytest.mark.parametrize("which", ["two", "tampered", "plain"])
def test_report_pdf_is_one_page_of_chinese(docs, which):
    r = docs.verify(getattr(docs, which), name=f"采购合同-{which}.pdf")
    pdf = render_report_pdf(r)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"report-{which}.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    assert re.search(r"^Pages:\s+1$", info.stdout, re.M)
    assert "595.28 x 841.89" in info.stdout  # A4
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "电子签名验证报告" in text and r.sha256 in text
    if which == "plain":
        assert "文档中没有签名" in text and "无效" in text
    else:
        assert "张三" in text and "签署人" in text and "签发机构" in text
        assert ("无效" in text) == (not r.valid)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True).stdout
    assert "NotoSansCJK" in fonts and " yes yes yes " in fonts  # embedded subset + ToUnicode
    if shutil.which("pdftoppm"):
        subprocess.run(
            ["pdftoppm", "-png", "-r", "80", "-singlefile", str(path), str(path.with_suffix(""))],
            check=True,
        )


@needs_poppler
@pytest.mark.parametrize("which", ["untrusted", "tampered", "bt", "long_field_name"])
def test_report_pdf_keeps_every_word_inside_its_margins(docs, which, tmp_path):
    """The report "prints and files like paper": every word of it lies between the page's
    margins. The overall verdict was drawn on one line, unwrapped: for INDETERMINATE,
    "总体结论 / Overall：无法确定 INDETERMINATE — 未发现篡改，但证据不足以证明有效" is 548 pt wide
    from a 48 pt margin, so it ran through the right margin to 0.7 pt from the page's edge —
    where a printer's unprintable border cuts "证明有效" off the paper. A signature's heading,
    "签名 1：<field name> — <verdict>", was not wrapped either: the field name is the
    document's (any length), and a long one pushed the signature's verdict off the page. Read
    back with poppler's word boxes (``pdftotext -bbox``), as a reader's viewer places them."""
    from yinxin.indication import SIGNATURE_VERDICT_TEXT
    from yinxin.pdf.report import A4, MARGIN

    if which == "long_field_name":
        pdf = f.sign(docs.plain, docs.zhang, docs.pki, field_name="Party_A_" + "x" * 90)
    else:
        pdf = getattr(docs, which)
    r = docs.verify(pdf)
    path = tmp_path / "report.pdf"
    path.write_bytes(render_report_pdf(r))
    boxes = subprocess.run(
        ["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    words = re.findall(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)"[^>]*>([^<]*)<', boxes)
    assert len(words) > 20, boxes
    left, right = MARGIN - 0.5, A4[0] - MARGIN + 0.5
    outside = [(w, x0, x1) for x0, x1, w in words if float(x0) < left or float(x1) > right]
    assert not outside, outside
    seen = "".join("".join(w.split()) for _, _, w in words)  # wrapped lines joined back
    assert "证据不足以证明有效" in seen or r.indication != "INDETERMINATE", seen
    for i, s in enumerate(r.signatures, 1):  # each heading whole, its verdict on the page
        head = f"签名{i}：{s.field_name}—{SIGNATURE_VERDICT_TEXT[s.indication]}"
        assert "".join(head.split()) in seen, (head, seen)


@needs_poppler
def test_report_with_many_signatures_stays_on_one_page(docs):
    pdf = docs.plain
    for i in range(6):
        pdf = f.sign(
            pdf,
            docs.pki.new_signer(f"签署人{i}号"),
            docs.pki,
            field_name=f"S{i}",
            box=(40 + 80 * i, 300, 110 + 80 * i, 370),
        )
    r = docs.verify(pdf)
    assert r.valid and len(r.signatures) == 6
    path = OUTPUT / "report-six.pdf"
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render_report_pdf(r))
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    assert re.search(r"^Pages:\s+1$", info.stdout, re.M)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout
    assert all(f"签署人{i}号" in text for i in range(6))
    if shutil.which("pdftoppm"):
        subprocess.run(
            ["pdftoppm", "-png", "-r", "80", "-singlefile", str(path), str(path.with_suffix(""))],
            check=True,
        )


@needs_poppler
def test_report_summary_lines_keep_each_verdict_on_the_page(docs, tmp_path):
    """Signatures the page has no room to tabulate get one line each, "签名 n：<signer>（<role>，
    <seal>）— <time> — <verdict>", drawn unwrapped: with a company's name and its contract seal
    the line is 665 pt wide at the 9 pt it can be drawn at (499 pt between the margins), and the
    signature's verdict ran off the page. The line keeps its number, its time and its verdict;
    the names give way ("…", in full in the JSON report). Six company signatures, read back
    with poppler's word boxes."""
    from yinxin.indication import SIGNATURE_VERDICT_TEXT
    from yinxin.pdf.report import A4, MARGIN

    pdf = docs.plain
    for i in range(6):
        name = f"北京印信示范科技有限公司第{i + 1}分公司"
        pdf = f.sign(
            pdf,
            docs.pki.new_signer(name, organization=name, profile="organization-signing"),
            docs.pki,
            field_name=f"S{i}",
            box=(40 + 80 * i, 300, 110 + 80 * i, 370),
            seal=f.SealInfo(f"{name}合同专用章", "contract", "乙方"),
        )
    r = docs.verify(pdf)
    assert r.valid and len(r.signatures) == 6, r.to_text()
    path = tmp_path / "report.pdf"
    path.write_bytes(render_report_pdf(r))
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    assert re.search(r"^Pages:\s+1$", info.stdout, re.M)
    boxes = subprocess.run(
        ["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    words = re.findall(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)"[^>]*>([^<]*)<', boxes)
    left, right = MARGIN - 0.5, A4[0] - MARGIN + 0.5
    outside = [(w, x0, x1) for x0, x1, w in words if float(x0) < left or float(x1) > right]
    assert not outside, outside
    lines = [w for _, _, w in words if re.match(r"签名 \d+：", w)]
    summaries = [w for w in lines if "UTC" in w]  # a table's heading has no time
    assert summaries, lines  # the case this is about: some signatures got a line
    verdict = SIGNATURE_VERDICT_TEXT[r.signatures[0].indication]
    for line in summaries:
        assert line.endswith(f"— {verdict}（B-LT）") or line.endswith(f"— {verdict}（B-T）"), line


# ---------------------------------------------------------------------------------------------
# after a lock (DocMDP P=1, or the last signer's FieldMDP P=1): DSS and document timestamps only


def edit_info(pdf: bytes, title: str = "已变更的合同") -> bytes:
    """An unsigned incremental update that changes nothing but the document information
    dictionary (the same object, rewritten with another /Title)."""
    w = IncrementalPdfFileWriter(BytesIO(pdf))
    ref = w.prev.trailer.raw_get("/Info")
    info = ref.get_object()
    info[generic.NameObject("/Title")] = generic.TextStringObject(title)
    w.mark_update(ref)
    buf = BytesIO()
    w.write(buf)
    return buf.getvalue()


def new_info(pdf: bytes) -> bytes:
    """An unsigned incremental update pointing the trailer at a new /Info dictionary."""
    w = IncrementalPdfFileWriter(BytesIO(pdf))
    w.set_info(
        generic.DictionaryObject({generic.NameObject("/Author"): generic.TextStringObject("他人")})
    )
    buf = BytesIO()
    w.write(buf)
    return buf.getvalue()


def test_after_a_lock_nothing_but_dss_and_document_timestamps(make_platform, clock):
    """pyHanko counts an /Info edit as an LTA update, allowed even under DocMDP P=1; after a
    lock we allow only what archive renewal writes (issue 9, item 12)."""
    p = make_platform()
    w = build_world(p, clock)
    contract = contract_pdf(2, title="技术服务合同")
    first = sign_as(w, w.jia, contract).pdf
    locked = sign_as(w, w.yi, first, lock=True).pdf  # FieldMDP /P 1: the last signer's lock
    certified = sign_as(w, w.jia, contract, lock=True, name="证明.pdf").pdf  # DocMDP P=1
    roots = [p.ca.certificate("root")]

    def check(pdf: bytes) -> VerificationReport:
        return verify_pdf(pdf, trust_roots=roots, at=clock.now() + dt.timedelta(minutes=1))

    # not locked: an /Info edit stays an allowed change, as pyHanko (and Adobe) have it
    r = check(edit_info(first))
    assert r.valid and r.signatures[0].changes_after == "allowed", r.to_text()
    for doc in (locked, certified):
        assert check(doc).valid
        for changed in (edit_info(doc), new_info(doc)):
            r = check(changed)
            assert not r.valid, r.to_text()
            assert all(s.changes_after == "other" and not s.valid for s in r.signatures)
            assert any("locked by signature" in x for x in r.signatures[-1].problems)
        # a DSS-only revision (a status refresh) is what a lock still allows
        r = check(
            append_dss(doc, RevocationData(), [roots[0].public_bytes(serialization.Encoding.DER)])
        )
        assert r.valid and all(s.changes_after == "allowed" for s in r.signatures), r.to_text()

    # archive renewal after the lock: DSS + document timestamp, still VALID (now B-LTA) …
    clock.advance(days=1)
    renewal = p.archive.renew()
    assert len(renewal.renewed) == 2 and not renewal.failed
    for doc_id in renewal.renewed:
        renewed = p.archive.document(doc_id)[1]
        r = check(renewed)
        assert r.valid and r.document_timestamps == 1, r.to_text()
        assert all(s.changes_after == "allowed" and s.level == "B-LTA" for s in r.signatures)
        # … and an /Info edit after the renewal is refused all the same
        r = check(edit_info(renewed))
        assert not r.valid and all(s.changes_after == "other" for s in r.signatures)


def test_a_ca_with_our_names_but_another_key_is_not_trusted(tmp_path):
    """Two platforms name their roots alike ("印信根证书 Yinxin Root CA"): pyHanko then builds a
    path to our root by names and fails it on a signature, without saying which. The report
    must not call such a signer trusted."""
    from tests.integration.signing_flow import build_world, new_platform, sign_as

    other = new_platform(tmp_path / "other")
    w = build_world(other)
    signed = sign_as(w, w.yi, contract_pdf()).pdf
    ours = new_platform(tmp_path / "ours")
    assert (
        ours.ca.certificate("root").subject == other.ca.certificate("root").subject
    )  # same names, different keys
    r = ours.signing.verify(signed)
    s = r.signatures[0]
    assert s.intact and not s.trusted and not s.valid and not r.valid
    assert any("受信任的根证书" in p for p in s.problems)
    # and the platform that made it trusts it
    assert other.signing.verify(signed).signatures[0].trusted
    other.close()
    ours.close()
