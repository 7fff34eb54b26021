"""Sealing PDF contracts, judged by tools we did not write: poppler's pdfsig / pdftotext /
pdftoppm and pyHanko's validator.

One module-wide PKI (root → issuing CA → signers, TSA, OCSP responder) with a real HTTP status
service on 127.0.0.1 (OCSP and CRLs), so NSS inside pdfsig can check revocation the way it
would in the field; B-LT files are then validated by pyHanko with fetching switched off.
Rendered pages land in ``tests/output/signing/`` for a human to look at.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import itertools
import os
import shutil
import subprocess
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from asn1crypto import tsp
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.crypt import StandardSecurityHandler
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer
from pyhanko.sign import fields, signers
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import ValidationContext

from tests.conftest import OUTPUT as TEST_OUTPUT
from tests.fixtures.samples import contract_pdf, seal_png
from tests.integration import pdf_factory as f
from tests.integration.pdf_inputs_corpus import pyhanko_signer
from yinxin.pdf.dss_tail import dss_tail
from yinxin.pdf.sign import (
    Placement,
    RevocationData,
    SealStamp,
    SigningError,
    SignRequest,
    check_signable,
    find_anchor,
    sign_pdf,
)
from yinxin.pdf.verify import verify_pdf
from yinxin.pki import ocsp as yx_ocsp
from yinxin.pki import tsa as yx_tsa
from yinxin.pki.algorithms import get_algorithm
from yinxin.pki.authority import Issuer, StatusUrls, base_name, build_certificate, pem
from yinxin.pki.crl import build_crl
from yinxin.pki.keys import SoftwareKey
from yinxin.pki.profiles import PROFILES

DER = serialization.Encoding.DER
OUT = TEST_OUTPUT / "signing"
MM = 72 / 25.4

pytestmark = pytest.mark.skipif(
    not (shutil.which("pdfsig") and shutil.which("pdftoppm") and shutil.which("certutil")),
    reason="poppler-utils and libnss3-tools are needed",
)


# ---------------------------------------------------------------------------------- the PKI


@dataclass
class Party:
    key: SoftwareKey
    cert: x509.Certificate


@dataclass
class PKI:
    root: x509.Certificate
    root_key: SoftwareKey
    ca: x509.Certificate
    ca_key: SoftwareKey
    responder: Party
    tsa_party: Party
    parties: dict[str, Party]
    nss: Path
    serials: itertools.count = field(default_factory=lambda: itertools.count(1))

    def tsa(self, request: bytes) -> bytes:
        return yx_tsa.respond(
            request,
            tsa_cert=self.tsa_party.cert,
            tsa_key=self.tsa_party.key,
            chain=[self.ca],
            serial=next(self.serials),
            gen_time=dt.datetime.now(dt.UTC),
        )

    def ocsp_for(self, cert: x509.Certificate, nonce: bytes | None = None) -> bytes:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        return yx_ocsp.build_response(
            responder_cert=self.responder.cert,
            responder_key=self.responder.key,
            issuer_cert=self.ca,
            single=[yx_ocsp.SingleStatus(cert.serial_number, "good")],
            this_update=now - dt.timedelta(minutes=5),
            next_update=now + dt.timedelta(days=1),
            nonce=nonce,
            request_hash_alg="sha1",
        )

    def crl(self, issuer: x509.Certificate, key: SoftwareKey) -> bytes:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        return build_crl(
            issuer_cert=issuer,
            key=key,
            entries=[],
            crl_number=1,
            this_update=now - dt.timedelta(minutes=5),
            next_update=now + dt.timedelta(days=7),
        )

    def revocation(self, *signers: Party) -> RevocationData:
        """OCSP for the signers and the TSA, the root's CRL for the issuing CA."""
        return RevocationData(
            ocsp_responses=[self.ocsp_for(p.cert) for p in (*signers, self.tsa_party)],
            crls=[self.crl(self.root, self.root_key)],
            certificates=[self.responder.cert],
        )

    def request(self, pdf: bytes, role: str = "甲方", **kw) -> SignRequest:
        party = self.parties[role]
        kw.setdefault("stamp", STAMP)
        kw.setdefault("placement", Placement(anchor=f"{role}（签章）"))
        kw.setdefault("timestamper", self.tsa)
        return SignRequest(
            pdf=pdf,
            key=party.key,
            certificate=party.cert,
            chain=[self.ca, self.root],
            role=role,
            trust_roots=[self.root],
            **kw,
        )


STAMP = SealStamp(
    png=seal_png("印信科技有限公司"),
    width_mm=40,
    height_mm=40,
    name="印信科技有限公司合同专用章",
    kind="contract",
)


class _StatusHandler(BaseHTTPRequestHandler):
    pki: PKI | None = None

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _ocsp(self, body: bytes) -> None:
        pki = self.pki
        try:
            ids = yx_ocsp.parse_request(body)
            cid = ids[0]
            now = dt.datetime.now(dt.UTC).replace(microsecond=0)
            reply = yx_ocsp.build_response(
                responder_cert=pki.responder.cert,
                responder_key=pki.responder.key,
                issuer_cert=pki.ca,
                single=[yx_ocsp.SingleStatus(cid.serial, "good")],
                this_update=now - dt.timedelta(minutes=5),
                next_update=now + dt.timedelta(days=1),
                nonce=cid.nonce,
                request_hash_alg=cid.hash_algorithm,
            )
        except yx_ocsp.OcspError as exc:
            reply = exc.response()
        self._send(reply, "application/ocsp-response")

    def _send(self, body: bytes, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._ocsp(body)

    def do_GET(self) -> None:  # noqa: N802
        pki = self.pki
        path = self.path
        if path.startswith("/ocsp/"):
            self._ocsp(base64.b64decode(urllib.parse.unquote(path[6:])))
        elif path == "/crl/root.crl":
            self._send(pki.crl(pki.root, pki.root_key), "application/pkix-crl")
        elif path == "/crl/ca.crl":
            self._send(pki.crl(pki.ca, pki.ca_key), "application/pkix-crl")
        elif path == "/ca/root.cer":
            self._send(pki.root.public_bytes(DER), "application/pkix-cert")
        elif path == "/ca/ca.cer":
            self._send(pki.ca.public_bytes(DER), "application/pkix-cert")
        else:
            self.send_error(404)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StatusHandler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
    ec = get_algorithm("ec-p256")
    root_key = SoftwareKey("root", ec.generate())
    root = build_certificate(
        profile=PROFILES["root-ca"],
        subject=base_name("Yinxin Test Root", organization="Yinxin"),
        public_key=root_key.public_key(),
        issuer=None,
        self_key=root_key,
        not_before=now,
        not_after=now + dt.timedelta(days=3650),
    )
    ca_key = SoftwareKey("ca", ec.generate())
    ca = build_certificate(
        profile=PROFILES["issuing-ca"],
        subject=base_name("Yinxin Test Issuing CA"),
        public_key=ca_key.public_key(),
        issuer=Issuer(root, root_key, StatusUrls(f"{base}/crl/root.crl", f"{base}/ca/root.cer")),
        not_before=now,
        not_after=now + dt.timedelta(days=3000),
    )
    issuer = Issuer(
        ca, ca_key, StatusUrls(f"{base}/crl/ca.crl", f"{base}/ca/ca.cer", f"{base}/ocsp")
    )

    def leaf(profile: str, cn: str, alg: str = "ec-p256") -> Party:
        key = SoftwareKey(profile, get_algorithm(alg).generate())
        cert = build_certificate(
            profile=PROFILES[profile],
            subject=base_name(cn),
            public_key=key.public_key(),
            issuer=issuer,
            not_before=now,
            not_after=now + dt.timedelta(days=365),
        )
        return Party(key, cert)

    nss = tmp_path_factory.mktemp("nss")
    (nss / "root.pem").write_bytes(pem(root))
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    # Trusted for every use, as a relying party would import it ("C,," covers TLS only, and
    # pdfsig checks signer certificates for S/MIME signing).
    subprocess.run(
        [
            "certutil",
            "-A",
            "-d",
            f"sql:{nss}",
            "-t",
            "C,C,C",
            "-n",
            "root",
            "-i",
            str(nss / "root.pem"),
        ],
        check=True,
    )
    result = PKI(
        root=root,
        root_key=root_key,
        ca=ca,
        ca_key=ca_key,
        responder=leaf("ocsp-responder", "Yinxin Test OCSP"),
        tsa_party=leaf("tsa", "Yinxin Test TSA"),
        parties={
            "甲方": leaf("organization-signing", "甲方科技有限公司"),
            "乙方": leaf("person-signing", "张三"),
            "中介方": leaf("organization-signing", "中介服务有限公司", "rsa-3072"),
        },
        nss=nss,
    )
    _StatusHandler.pki = result
    yield result
    server.shutdown()


# ---------------------------------------------------------------------------------- checkers


def pdfsig(data: bytes, pki: PKI | None = None, tmp: Path | None = None) -> str:
    # one file a process: two workers given this file's tests (-n without --dist loadfile)
    # wrote one shared path under each other's pdfsig
    path = (tmp or OUT) / f"pdfsig-input-{os.getpid()}.pdf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    cmd = ["pdfsig"]
    if pki is not None:
        cmd += ["-nssdir", f"sql:{pki.nss}"]
    cmd.append(str(path))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout


def sig_blocks(text: str) -> list[str]:
    return [b for b in text.split("Signature #")[1:]]


def pyhanko_statuses(data: bytes, pki: PKI, vc_kwargs: dict | None = None):
    root = a_x509.Certificate.load(pki.root.public_bytes(DER))
    reader = PdfFileReader(io.BytesIO(data))
    out = []
    for emb in reader.embedded_signatures:
        kwargs = {"trust_roots": [root], "allow_fetching": False, **(vc_kwargs or {})}
        vc = ValidationContext(**kwargs)
        if emb.sig_object_type == "/DocTimeStamp":
            out.append(validate_pdf_timestamp(emb, validation_context=vc))
        else:
            out.append(validate_pdf_signature(emb, vc))
    return out


def assert_all_valid(data: bytes, pki: PKI, expected: int) -> list:
    text = pdfsig(data, pki)
    blocks = sig_blocks(text)
    assert len(blocks) == expected, text
    for block in blocks:
        if "Field Name: DocTimeStamp" in block:
            # poppler 22.12 does not implement /ETSI.RFC3161 ("Signature Type: unknown",
            # "not yet been verified"); pyHanko checks the document timestamp below.
            assert "Signature Type: unknown" in block, text
            continue
        assert "Signature is Valid." in block, text
        assert "Certificate is Trusted." in block, text
    statuses = pyhanko_statuses(data, pki)
    assert len(statuses) == expected
    for st in statuses:
        assert st.intact and st.valid and st.trusted, st.pretty_print_details()
    return statuses


def render(data: bytes, page: int, name: str):
    from PIL import Image

    OUT.mkdir(parents=True, exist_ok=True)
    src = OUT / f"{name}.pdf"
    src.write_bytes(data)
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "72",
            "-f",
            str(page),
            "-l",
            str(page),
            "-singlefile",
            str(src),
            str(OUT / name),
        ],
        check=True,
        timeout=60,
    )
    return Image.open(OUT / f"{name}.png").convert("RGB")


def red_pixels(img, box_pt, page_height_pt: float = 842) -> int:
    """Seal-red pixels inside a box given in PDF points (72 dpi render: 1 px = 1 pt)."""
    x0, y0, x1, y1 = box_pt
    crop = img.crop((int(x0), int(page_height_pt - y1), int(x1), int(page_height_pt - y0)))
    return sum(1 for r, g, b in rgb(crop) if r > 150 and g < 110 and b < 110)


def rgb(img) -> list[tuple[int, int, int]]:
    raw = img.convert("RGB").tobytes()
    return list(zip(raw[0::3], raw[1::3], raw[2::3], strict=True))


def pdftotext_words(data: bytes, tmp: Path) -> list[tuple[int, str, tuple[float, ...]]]:
    import re

    src = tmp / "words.pdf"
    src.write_bytes(data)
    html = subprocess.run(
        ["pdftotext", "-bbox", str(src), "-"], capture_output=True, text=True, check=True
    ).stdout
    words = []
    page_no, height = 0, 0.0
    for line in html.splitlines():
        m = re.search(r'<page width="([\d.]+)" height="([\d.]+)"', line)
        if m:
            page_no += 1
            height = float(m.group(2))
        m = re.search(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*)</word>',
            line,
        )
        if m:
            x0, y0, x1, y1 = (float(v) for v in m.groups()[:4])
            words.append((page_no, m.group(5), (x0, height - y1, x1, height - y0)))
    return words


# ---------------------------------------------------------------------------------- anchors


def test_anchor_matches_pdftotext(tmp_path):
    pdf = contract_pdf(2, parties=("甲方", "乙方", "中介方"))
    words = pdftotext_words(pdf, tmp_path)
    for label in ("甲方（签章）", "乙方（签章）", "中介方（签章）"):
        (hit,) = find_anchor(pdf, label)
        assert hit.page == 2
        # poppler reports whole "words"; ours must sit inside the word that holds the label,
        # starting where it starts, and be as wide as that many full-width characters.
        holder = [w for w in words if w[0] == 2 and label in w[1]]
        assert holder, words
        x0, y0, x1, y1 = holder[0][2]
        assert abs(hit.bbox[0] - x0) < 1.0
        assert x0 - 1 <= hit.bbox[2] <= x1 + 1
        assert abs((hit.bbox[2] - hit.bbox[0]) - 12 * len(label)) < 1.0
        assert y0 - 3 <= hit.bbox[1] < hit.bbox[3] <= y1 + 3
    # NFKC and white space do not matter; absent text is absent
    assert len(find_anchor(pdf, "甲方(签章)")) == 1
    assert len(find_anchor(pdf, "甲 方（签章）")) == 1
    assert find_anchor(pdf, "丁方（签章）") == []


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_anchor_on_rotated_page_with_offset_box(pki, rotate):
    """PDFium's boxes are in user space: ``/Rotate`` and a page box away from the origin move
    where the label shows, not its box, and the seal still lands on the label's end."""
    base = contract_pdf(1)
    (plain,) = find_anchor(base, "乙方（签章）")
    writer = IncrementalPdfFileWriter(io.BytesIO(base))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page["/Rotate"] = generic.NumberObject(rotate)
    page["/MediaBox"] = generic.ArrayObject([generic.NumberObject(v) for v in (-20, -30, 595, 842)])
    writer.update_container(page)
    buf = io.BytesIO()
    writer.write(buf)
    pdf = buf.getvalue()

    (hit,) = find_anchor(pdf, "乙方（签章）")
    assert hit.page == 1 and hit.text == "乙方（签章）"
    assert hit.bbox == pytest.approx(plain.bbox, abs=0.01)

    out = sign_pdf(pki.request(pdf, "乙方"))
    assert_all_valid(out, pki, 1)
    img = render(out, 1, f"anchor_rotated_{rotate}")
    w, h = 595 + 20, 842 + 30  # the media box, displayed turned by /Rotate

    def shown(ux: float, uy: float) -> tuple[float, float]:
        """User space → image pixels (72 dpi, y down), worked out apart from ``_View``."""
        x, y = ux + 20, uy + 30
        vx, vy = {0: (x, y), 90: (y, w - x), 180: (w - x, h - y), 270: (h - y, x)}[rotate]
        return vx, (h if rotate in (0, 180) else w) - vy

    assert img.size == ((w, h) if rotate in (0, 180) else (h, w))
    corners = [shown(hit.bbox[0], hit.bbox[1]), shown(hit.bbox[2], hit.bbox[3])]
    # the seal is centred on the label's end: its right edge as displayed, half way up
    cx = max(x for x, _ in corners)
    cy = sum(y for _, y in corners) / 2
    crop = img.crop((int(cx - 40), int(cy - 40), int(cx + 40), int(cy + 40)))
    assert sum(1 for r, g, b in rgb(crop) if r > 150 and g < 110 and b < 110) > 400
    assert red_pixels(render(pdf, 1, f"anchor_rotated_{rotate}_unsigned"), (0, 0, h, h), h) == 0


# ---------------------------------------------------------------------------------- signing


def test_b_t_seal_on_anchor(pki):
    pdf = contract_pdf(2, parties=("甲方", "乙方", "中介方"))
    out = sign_pdf(pki.request(pdf, "甲方"))
    assert out.startswith(pdf)  # an incremental update: earlier bytes untouched
    (status,) = assert_all_valid(out, pki, 1)
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    assert status.coverage.name == "ENTIRE_FILE"
    text = pdfsig(out, pki)
    assert "ETSI.CAdES.detached" in text

    (hit,) = find_anchor(pdf, "甲方（签章）")
    img = render(out, 2, "b_t_jia")
    x1, yc = hit.bbox[2], (hit.bbox[1] + hit.bbox[3]) / 2
    near = (x1 - 50, yc - 50, x1 + 50, yc + 50)
    assert red_pixels(img, near) > 1000  # the seal is there, centred on the label's end
    assert red_pixels(render(pdf, 2, "unsigned"), near) == 0
    # and the label is still visible through the transparent seal background
    label = hit.bbox[0] + 2, hit.bbox[1] + 2, hit.bbox[0] + 30, hit.bbox[3] - 2
    crop = img.crop((int(label[0]), int(842 - label[3]), int(label[2]), int(842 - label[1])))
    assert any(r < 80 and g < 80 and b < 80 for r, g, b in rgb(crop))


@pytest.mark.parametrize(
    "big", [generic.NumberObject(10**400), generic.FloatObject("1" + "0" * 380 + ".5")]
)
def test_a_page_box_beyond_any_page_is_read_as_absent(pki, big):
    """A /MediaBox holding a 400-digit integer made signing end in OverflowError (a traceback,
    an HTTP 500 for the flow's signer); a number past PDF's page limit is now read as no box
    (the page is taken as A4, as one without /MediaBox), and the file is signed and valid."""
    pdf = contract_pdf(1)
    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page = w.root["/Pages"]["/Kids"][0].get_object()
    page["/MediaBox"] = generic.ArrayObject(
        [generic.NumberObject(0), generic.NumberObject(0), big, generic.NumberObject(842)]
    )
    w.update_container(page)
    buf = io.BytesIO()
    w.write(buf)
    for placement in (Placement(anchor="甲方（签章）"), Placement(page=1, x_mm=30, y_mm=30)):
        out = sign_pdf(pki.request(buf.getvalue(), "甲方", placement=placement))
        assert_all_valid(out, pki, 1)


def test_three_signers_in_turn_last_locks(pki):
    pdf = contract_pdf(2, parties=("甲方", "乙方", "中介方"))
    one = sign_pdf(pki.request(pdf, "甲方", reason="同意本合同条款"))
    two = sign_pdf(pki.request(one, "乙方", location="北京"))
    three = sign_pdf(pki.request(two, "中介方", lock=True))
    assert two.startswith(one) and three.startswith(two)
    statuses = assert_all_valid(three, pki, 3)
    for st in statuses[:2]:
        assert st.coverage.name == "ENTIRE_REVISION"
        assert st.modification_level.name in ("FORM_FILLING", "LTA_UPDATES")
        assert st.docmdp_ok
    assert statuses[2].coverage.name == "ENTIRE_FILE"
    sigs = PdfFileReader(io.BytesIO(three)).embedded_signatures
    assert [str(e.sig_object["/Reason"]) for e in sigs] == [
        "甲方：同意本合同条款",
        "乙方签章",
        "中介方签章",
    ]
    assert str(sigs[1].sig_object["/Location"]) == "北京"
    assert str(sigs[2].sig_object["/Yinxin"]["/Role"]) == "中介方"

    for page_role in ("甲方", "乙方", "中介方"):
        (hit,) = find_anchor(pdf, f"{page_role}（签章）")
        x1, yc = hit.bbox[2], (hit.bbox[1] + hit.bbox[3]) / 2
        assert (
            red_pixels(render(three, 2, "three_signers"), (x1 - 40, yc - 40, x1 + 40, yc + 40))
            > 400
        )
    with pytest.raises(SigningError) as err:
        sign_pdf(pki.request(three, "甲方", placement=Placement(page=1, x_mm=20, y_mm=20)))
    assert err.value.field == "pdf" and err.value.code == "locked"


def test_first_signer_certifies_and_locks(pki):
    pdf = contract_pdf(1)
    out = sign_pdf(pki.request(pdf, "甲方", lock=True, level="B-B", timestamper=None))
    (st,) = assert_all_valid(out, pki, 1)
    assert st.docmdp_ok and st.timestamp_validity is None
    (emb,) = PdfFileReader(io.BytesIO(out)).embedded_signatures
    assert emb.docmdp_level.name == "NO_CHANGES"
    with pytest.raises(SigningError) as err:
        sign_pdf(pki.request(out, "乙方"))
    assert err.value.code == "locked"


def test_b_lt_validates_offline_and_b_lta(pki):
    pdf = contract_pdf(1)
    party = pki.parties["甲方"]
    lt = sign_pdf(pki.request(pdf, "甲方", level="B-LT", revocation=pki.revocation(party)))
    lta = sign_pdf(pki.request(pdf, "甲方", level="B-LTA", revocation=pki.revocation(party)))
    bt = sign_pdf(pki.request(pdf, "甲方", level="B-T"))
    root = a_x509.Certificate.load(pki.root.public_bytes(DER))

    def offline(data: bytes):
        reader = PdfFileReader(io.BytesIO(data))
        emb = next(e for e in reader.embedded_signatures if e.sig_object_type == "/Sig")
        try:
            dss = DocumentSecurityStore.read_dss(reader)
            vc = dss.as_validation_context(
                {"trust_roots": [root], "allow_fetching": False, "revocation_mode": "hard-fail"}
            )
        except Exception:  # no DSS
            vc = ValidationContext(
                trust_roots=[root],
                allow_fetching=False,
                revocation_mode="hard-fail",
                ocsps=[],
                crls=[],
            )
        return validate_pdf_signature(emb, vc)

    st = offline(lt)
    assert st.intact and st.valid and st.trusted, st.pretty_print_details()
    assert st.modification_level.name == "LTA_UPDATES"
    # our DSS revision is the plain tail the verifier's shortcut takes (yinxin.pdf.dss_tail)
    reader = PdfFileReader(io.BytesIO(lt), strict=False)
    assert dss_tail(reader, reader.embedded_signatures[0].signed_revision)
    # and so is a second signer's, which grows the first one's DSS (a new DSS object)
    other = pki.parties["乙方"]
    lt2 = sign_pdf(pki.request(lt, "乙方", level="B-LT", revocation=pki.revocation(other)))
    reader = PdfFileReader(io.BytesIO(lt2), strict=False)
    last = reader.embedded_signatures[-1]
    assert dss_tail(reader, last.signed_revision)
    assert DEFAULT_DIFF_POLICY.review_file(
        reader, last.signed_revision
    ).modification_level.name == ("LTA_UPDATES")
    assert not offline(bt).trusted  # the DSS is what makes the difference

    assert_all_valid(lt, pki, 1)
    statuses = assert_all_valid(lta, pki, 2)
    assert type(statuses[1]).__name__ == "DocumentTimestampStatus"
    dts = PdfFileReader(io.BytesIO(lta)).embedded_signatures[1]
    assert dts.sig_object["/SubFilter"] == "/ETSI.RFC3161"
    assert statuses[1].valid and statuses[1].intact and statuses[1].trusted
    st = offline(lta)
    assert st.intact and st.valid and st.trusted


@pytest.mark.parametrize(
    "kind",
    ["classic-1.4", "xref-stream-objstm-1.7", "pdf-2.0", "incremental-save", "signed-by-pyhanko"],
)
def test_pdfs_made_elsewhere(pki, kind):
    expected = 1
    if kind == "classic-1.4":
        pdf = contract_pdf(2, version="1.4")
        assert b"\nxref\n" in pdf and b"/XRef" not in pdf
    elif kind == "xref-stream-objstm-1.7":
        pdf = contract_pdf(2, xref="stream", object_streams=True, version="1.7")
        assert b"/ObjStm" in pdf and b"/XRef" in pdf
    elif kind == "pdf-2.0":
        pdf = contract_pdf(2, xref="stream", version="2.0")
    elif kind == "incremental-save":
        base = contract_pdf(2, xref="stream", object_streams=True)
        writer = IncrementalPdfFileWriter(io.BytesIO(base))
        writer.set_info(None)
        writer._info = None
        writer.root["/PageMode"] = generic.NameObject("/UseNone")
        writer.update_root()
        buf = io.BytesIO()
        writer.write(buf)
        pdf = buf.getvalue()
        assert pdf.count(b"%%EOF") == 2
    else:
        pdf = _pyhanko_signed(pki, contract_pdf(2))
        expected = 2
    out = sign_pdf(pki.request(pdf, "乙方"))
    assert out.startswith(pdf)
    assert_all_valid(out, pki, expected)
    (hit,) = find_anchor(out, "乙方（签章）")
    img = render(out, 2, f"elsewhere_{kind}")
    x1, yc = hit.bbox[2], (hit.bbox[1] + hit.bbox[3]) / 2
    assert red_pixels(img, (x1 - 40, yc - 40, x1 + 40, yc + 40)) > 400


def _pyhanko_signed(pki: PKI, pdf: bytes) -> bytes:
    party = pki.parties["甲方"]
    signer = pyhanko_signer(party.key.native, party.cert, [pki.ca, pki.root])
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    meta = signers.PdfSignatureMetadata(
        field_name="ByPyHanko", subfilter=fields.SigSeedSubFilter.PADES
    )
    out = signers.sign_pdf(
        writer,
        meta,
        signer=signer,
        new_field_spec=fields.SigFieldSpec("ByPyHanko", box=(60, 60, 160, 100), on_page=0),
    )
    return out.getvalue()


def test_cross_page_seal_is_one_signature(pki):
    pdf = contract_pdf(3)
    out = sign_pdf(pki.request(pdf, "甲方", cross_page=True))
    assert_all_valid(out, pki, 1)
    text = pdfsig(out, pki)
    assert text.count("Signature Field Name") == 1
    strip = 40 * MM / 3
    for page in (1, 2, 3):
        img = render(out, page, f"cross_page_p{page}")
        right = (595 - strip, 421 - 60, 595, 421 + 60)
        assert red_pixels(img, right) > 150, page
        assert red_pixels(img, (0, 0, 595 - strip - 2, 842)) < 50 or page == 3
    # the strips are different slices of one seal: page 1 shows the left edge of the ring
    p1 = render(out, 1, "cross_page_p1")
    p3 = render(out, 3, "cross_page_p3")
    assert rgb(p1.crop((int(595 - strip), 361, 595, 481))) != rgb(
        p3.crop((int(595 - strip), 361, 595, 481))
    )


def test_coordinates_rotation_and_hsm_style_key(pki):
    class HsmKey:
        """A KeyHandle whose private key is out of reach: only ``sign`` works."""

        def __init__(self, inner: SoftwareKey):
            self._inner = inner
            self.label = "hsm"

        @property
        def algorithm(self):
            return self._inner.algorithm

        def public_key(self):
            return self._inner.public_key()

        def sign(self, data, hash_alg=None):
            return self._inner.sign(data, hash_alg)

        @property
        def native(self):
            return None

    writer = IncrementalPdfFileWriter(io.BytesIO(contract_pdf(1)))
    page_ref = writer.root["/Pages"]["/Kids"][0]
    page = page_ref.get_object()
    page["/Rotate"] = generic.NumberObject(90)
    writer.update_container(page)
    buf = io.BytesIO()
    writer.write(buf)
    rotated = buf.getvalue()

    party = pki.parties["甲方"]
    req = pki.request(rotated, "甲方", placement=Placement(page=1, x_mm=20, y_mm=20))
    req.key = HsmKey(party.key)
    out = sign_pdf(req)
    assert_all_valid(out, pki, 1)
    img = render(out, 1, "rotated_page")
    assert img.size == (842, 595)  # displayed landscape
    side = 40 * MM
    x0, y0 = 20 * MM, 20 * MM  # from the displayed lower-left corner
    box = img.crop((int(x0), int(595 - y0 - side), int(x0 + side), int(595 - y0)))
    reds = [
        (i % box.width, i // box.width)
        for i, (r, g, b) in enumerate(rgb(box))
        if r > 150 and g < 110 and b < 110
    ]
    assert len(reds) > 1000
    # upright: the seal's name runs along the top rim, so the upper half holds more red
    upper = sum(1 for _, y in reds if y < box.height / 2)
    assert upper > len(reds) - upper


# ---------------------------------------------------------------------------------- tampering


def test_changed_byte_is_detected_and_refused(pki):
    pdf = contract_pdf(1)
    out = bytearray(sign_pdf(pki.request(pdf, "甲方")))
    # a byte inside the signed range, in the original page content
    pos = out.index(b"stream\n") + 20
    out[pos] ^= 0x01
    broken = bytes(out)
    text = pdfsig(broken, pki)
    assert "Signature is Valid." not in text
    st = pyhanko_statuses(broken, pki)[0]
    assert not st.intact
    with pytest.raises(SigningError) as err:
        sign_pdf(pki.request(broken, "乙方", placement=Placement(page=1, x_mm=10, y_mm=10)))
    assert err.value.field == "pdf" and err.value.code == "broken_signature"


@pytest.mark.parametrize("in_form", [False, True], ids=["widget_only_on_a_page", "unnamed_field"])
def test_a_broken_signature_where_pyhanko_does_not_look_is_refused(pki, in_form):
    """A signature pdfsig lists and our verifier judges, but pyHanko's walk of the form skips (a
    widget only among a page's annotations, a field without a name): its value comes from
    another signing, so it does not match this file. No signature is signed over it."""
    donor = sign_pdf(pki.request(contract_pdf(2), "甲方"))
    hidden = f.hidden_signature(contract_pdf(1), donor, in_form=in_form)
    report = verify_pdf(hidden, trust_roots=[pki.root])
    assert not report.valid and len(report.signatures) == 1
    assert not report.signatures[0].intact
    assert "Signature is Valid." not in pdfsig(hidden, pki)
    name = "(unnamed field)" if in_form else "李四"
    for attempt in (
        lambda: sign_pdf(
            pki.request(hidden, "乙方", placement=Placement(page=1, x_mm=10, y_mm=10))
        ),
        lambda: check_signable(hidden, earlier_signatures=True),
    ):
        with pytest.raises(SigningError) as err:
            attempt()
        assert err.value.field == "pdf" and err.value.code == "broken_signature"
        assert repr(name) in err.value.message


def test_a_field_name_taken_only_on_a_page_is_not_reused(pki):
    """An intact signature whose field is only among a page's annotations (pdfsig lists it, our
    verifier judges it, pyHanko skips it) keeps its name: signing makes no second field of that
    name, asked for (``field_exists``) or numbered (Signature2)."""
    other = f.build_pki()
    hidden = f.sign(contract_pdf(1), other.new_signer("张三"), other, in_form=False)
    where = Placement(page=1, x_mm=10, y_mm=10)
    with pytest.raises(SigningError) as err:
        sign_pdf(pki.request(hidden, "乙方", placement=where, field_name="Signature1"))
    assert err.value.field == "field_name" and err.value.code == "field_exists"
    out = sign_pdf(pki.request(hidden, "乙方", placement=where))
    report = verify_pdf(out, trust_roots=[pki.root])
    assert sorted(s.field_name for s in report.signatures) == ["Signature1", "Signature2"]


def test_unsigned_update_after_signing_is_reported(pki):
    signed = sign_pdf(pki.request(contract_pdf(1), "甲方"))
    # an unsigned annotation
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    annot = writer.add_object(
        generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Annot"),
                generic.NameObject("/Subtype"): generic.NameObject("/Text"),
                generic.NameObject("/Rect"): generic.ArrayObject(
                    [generic.NumberObject(n) for n in (10, 10, 30, 30)]
                ),
                generic.NameObject("/Contents"): generic.TextStringObject("改过了"),
            }
        )
    )
    annots = page.get("/Annots", generic.ArrayObject())
    annots = generic.ArrayObject(list(annots) + [annot])
    page["/Annots"] = annots
    writer.update_container(page)
    buf = io.BytesIO()
    writer.write(buf)
    annotated = buf.getvalue()
    (st,) = pyhanko_statuses(annotated, pki)
    assert st.coverage.name != "ENTIRE_FILE"
    assert st.modification_level.name in ("ANNOTATIONS", "OTHER")
    assert (
        "Not total document signed" in pdfsig(annotated, pki)
        or "not total" in pdfsig(annotated, pki).lower()
    )

    # a new page's worth of content: the document is no longer what was signed
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    extra = writer.add_object(
        generic.StreamObject(stream_data=b"BT /F2 30 Tf 100 400 Td (X) Tj ET")
    )
    page["/Contents"] = generic.ArrayObject([page.raw_get("/Contents"), extra])
    writer.update_container(page)
    buf = io.BytesIO()
    writer.write(buf)
    edited = buf.getvalue()
    (st,) = pyhanko_statuses(edited, pki)
    assert st.modification_level.name == "OTHER"
    with pytest.raises(SigningError) as err:
        sign_pdf(pki.request(edited, "乙方", placement=Placement(page=1, x_mm=10, y_mm=10)))
    assert err.value.code == "modified_after_signing"


# ---------------------------------------------------------------------------------- refusals


def _encrypted(pdf: bytes) -> bytes:
    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(pdf)))
    writer.encrypt = None
    writer._assign_security_handler(StandardSecurityHandler.build_from_pw("owner", "user"))
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


@pytest.mark.parametrize(
    "case, field, code",
    [
        ("not-pdf", "pdf", "not_pdf"),
        ("empty", "pdf", "not_pdf"),
        ("truncated", "pdf", "truncated"),
        ("garbage-body", "pdf", "unreadable"),
        ("encrypted", "pdf", "encrypted"),
        ("anchor-missing", "placement", "anchor_not_found"),
        ("page-out-of-range", "placement", "page_out_of_range"),
        ("page-zero", "placement", "page_out_of_range"),
        ("off-page", "placement", "outside_page"),
        ("bad-level", "level", None),
        ("no-timestamper", "timestamper", None),
        ("lt-without-revocation", "revocation", None),
        ("wrong-key", "key", "key_mismatch"),
        ("bad-png", "stamp", None),
        ("field-exists", "field_name", "field_exists"),
        ("one-page-cross", "cross_page", None),
    ],
)
def test_bad_input_is_refused(pki, case, field, code):
    pdf = contract_pdf(1)
    kw: dict = {}
    role = "甲方"
    if case == "not-pdf":
        pdf = b"PK\x03\x04 this is a zip file, not a contract"
    elif case == "empty":
        pdf = b""
    elif case == "truncated":
        pdf = pdf[: len(pdf) // 2]
    elif case == "garbage-body":
        pdf = b"%PDF-1.7\n" + b"\x00garbage " * 50 + b"\nstartxref\n999999\n%%EOF\n"
    elif case == "encrypted":
        pdf = _encrypted(pdf)
    elif case == "anchor-missing":
        kw["placement"] = Placement(anchor="丁方（签章）")
    elif case == "page-out-of-range":
        kw["placement"] = Placement(page=3, x_mm=10, y_mm=10)
    elif case == "page-zero":
        kw["placement"] = Placement(page=0, x_mm=10, y_mm=10)
    elif case == "off-page":
        kw["placement"] = Placement(page=1, x_mm=190, y_mm=10)
    elif case == "bad-level":
        kw["level"] = "B-XL"
    elif case == "no-timestamper":
        kw["timestamper"] = None
    elif case == "lt-without-revocation":
        kw["level"] = "B-LT"
    elif case == "wrong-key":
        pass
    elif case == "bad-png":
        kw["stamp"] = SealStamp(b"\x89PNG broken", 40, 40, "x", "contract")
    elif case == "field-exists":
        pdf = sign_pdf(pki.request(pdf, "甲方", field_name="JiaFang"))
        kw["field_name"] = "JiaFang"
        role = "乙方"
    elif case == "one-page-cross":
        kw["cross_page"] = True
    req = pki.request(pdf, role, **kw)
    if case == "wrong-key":
        req.key = pki.parties["乙方"].key
    with pytest.raises(SigningError) as err:
        sign_pdf(req)
    assert err.value.field == field
    if code:
        assert err.value.code == code
    assert err.value.to_dict()["error"] == err.value.code


def test_timestamp_failures_are_refusals(pki):
    pdf = contract_pdf(1)
    with pytest.raises(SigningError) as err:
        sign_pdf(
            pki.request(
                pdf,
                "甲方",
                timestamper=lambda req: yx_tsa.rejection(
                    "rejection", "system_failure", "down for maintenance"
                ),
            )
        )
    assert err.value.field == "timestamper" and "maintenance" in err.value.message

    def wrong_imprint(req: bytes) -> bytes:
        parsed = tsp.TimeStampReq.load(req)
        parsed["message_imprint"]["hashed_message"] = b"\x00" * 32
        return pki.tsa(parsed.dump())

    with pytest.raises(SigningError) as err:
        sign_pdf(pki.request(pdf, "甲方", timestamper=wrong_imprint))
    assert err.value.field == "timestamper"

    def offline(req: bytes) -> bytes:
        raise ConnectionError("TSA unreachable")

    with pytest.raises(SigningError) as err:
        sign_pdf(pki.request(pdf, "甲方", timestamper=offline))
    assert "unreachable" in err.value.message


def _handmade_pdf() -> bytes:
    """Three pages in a two-level page tree with inherited MediaBox and resources, a
    non-embedded Helvetica without /Widths, escapes and kerning in the label, classic xref."""
    label = rb"BT /F1 14 Tf 100 200 Td [(Party A ) -30 (\(Seal\):)] TJ ET"
    objs = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 3 /MediaBox [0 0 612 792]"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        3: b"<< /Type /Page /Parent 2 0 R /Contents 6 0 R >>",
        4: b"<< /Type /Pages /Parent 2 0 R /Kids [7 0 R 8 0 R] /Count 2 >>",
        5: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        7: b"<< /Type /Page /Parent 4 0 R /Contents 6 0 R >>",
        8: b"<< /Type /Page /Parent 4 0 R /Contents 9 0 R /MediaBox [0 0 842 595] >>",
    }
    body = b"BT /F1 12 Tf 72 700 Td (A page) Tj ET"
    objs[6] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(body), body)
    objs[9] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(label), label)
    out = bytearray(b"%PDF-1.3\n")
    offsets = {}
    for num in sorted(objs):
        offsets[num] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (num, objs[num])
    xref = len(out)
    out += b"xref\n0 10\n0000000000 65535 f \n"
    for num in range(1, 10):
        out += b"%010d 00000 n \n" % offsets[num]
    out += b"trailer\n<< /Size 10 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF" % xref
    return bytes(out)


def test_nested_page_tree_and_simple_font_anchor(pki):
    pdf = _handmade_pdf()
    (hit,) = find_anchor(pdf, "Party A (Seal):")
    assert hit.page == 3 and 99 < hit.bbox[0] < 101
    out = sign_pdf(pki.request(pdf, "甲方", placement=Placement(anchor="Party A (Seal):")))
    assert_all_valid(out, pki, 1)
    img = render(out, 3, "handmade_nested")
    assert img.size == (842, 595)
    x1, yc = hit.bbox[2], (hit.bbox[1] + hit.bbox[3]) / 2
    assert red_pixels(img, (x1 - 40, yc - 40, x1 + 40, yc + 40), page_height_pt=595) > 400
    # by number, from the end, through the nested node
    out2 = sign_pdf(pki.request(pdf, "乙方", placement=Placement(page=-2, x_mm=10, y_mm=10)))
    assert_all_valid(out2, pki, 1)
    (emb,) = PdfFileReader(io.BytesIO(out2)).embedded_signatures
    annots_page = emb.sig_field["/P"]
    assert annots_page.get_object()["/Parent"].get_object()["/Count"] == 2
