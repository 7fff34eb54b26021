"""Real signed PDFs for the verification tests and the benchmark, made with pyHanko directly.

The platform's own signing code is written elsewhere; building test documents here with pyHanko's
low-level ``PdfCMSEmbedder`` keeps the verifier's tests independent of it and lets a test put in
exactly the flaw it wants: a revoked certificate with an OCSP answer saying so, a foreign CA, a
byte changed inside the signed range, an unsigned page appended afterwards.

The PKI is our own: ``yinxin.pki.authority.build_certificate`` with the platform profiles (root →
issuing CA → person / organisation / TSA / OCSP responder), so the verifier sees the certificates
it will see in production. The TSA is pyHanko's ``DummyTimeStamper`` fed our TSA certificate (it
signs with RSA only, hence an RSA TSA key); OCSP responses are built with ``cryptography``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from io import BytesIO

from asn1crypto import crl as a_crl
from asn1crypto import keys as a_keys
from asn1crypto import ocsp as a_ocsp
from asn1crypto import pdf as a_pdf
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from PIL import Image, ImageDraw, ImageFont
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name, pdf_string
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.signers import cms_embedder
from pyhanko.sign.signers.pdf_byterange import SignatureObject
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes, SimpleSigner
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from yinxin.pki.algorithms import get_algorithm
from yinxin.pki.authority import Issuer, StatusUrls, base_name, build_certificate
from yinxin.pki.keys import SoftwareKey
from yinxin.pki.profiles import PROFILES

DER = serialization.Encoding.DER
NOTO_SC = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
AMOUNT_MARKER = b"Contract amount: CNY 100000.00"


def _a_cert(cert: x509.Certificate) -> a_x509.Certificate:
    return a_x509.Certificate.load(cert.public_bytes(DER))


def _a_key(key) -> a_keys.PrivateKeyInfo:
    return a_keys.PrivateKeyInfo.load(
        key.private_bytes(DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


@dataclass
class Party:
    """Someone who signs: a certificate and its private key (in memory — test only)."""

    name: str
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    chain: list[x509.Certificate] = field(default_factory=list)  # issuing CA first, then root


@dataclass
class TestPki:
    root: x509.Certificate
    root_key: SoftwareKey
    issuing: x509.Certificate
    issuing_key: SoftwareKey
    issuer: Issuer
    tsa: Party
    ocsp: Party
    now: dt.datetime

    def new_signer(
        self,
        name: str,
        *,
        organization: str | None = None,
        profile: str = "person-signing",
        not_before: dt.datetime | None = None,
        days: int = 365,
    ) -> Party:
        key = get_algorithm("ec-p256").generate()
        nb = not_before or self.now - dt.timedelta(hours=1)
        cert = build_certificate(
            profile=PROFILES[profile],
            subject=base_name(name, organization=organization),
            public_key=key.public_key(),
            issuer=self.issuer,
            not_before=nb,
            not_after=nb + dt.timedelta(days=days),
        )
        return Party(name, cert, key, [self.issuing, self.root])

    def ocsp_response(
        self,
        cert: x509.Certificate,
        *,
        revoked_at: dt.datetime | None = None,
        produced_at: dt.datetime | None = None,
    ) -> bytes:
        """A signed OCSP answer from our responder: good, or revoked since ``revoked_at``."""
        when = produced_at or self.now
        b = ocsp.OCSPResponseBuilder().add_response(
            cert=cert,
            issuer=self.issuing,
            algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.REVOKED if revoked_at else ocsp.OCSPCertStatus.GOOD,
            this_update=when,
            next_update=when + dt.timedelta(days=7),
            revocation_time=revoked_at,
            revocation_reason=x509.ReasonFlags.key_compromise if revoked_at else None,
        )
        b = b.responder_id(ocsp.OCSPResponderEncoding.HASH, self.ocsp.cert)
        b = b.certificates([self.ocsp.cert])
        return b.sign(self.ocsp.key, hashes.SHA256()).public_bytes(DER)

    def issuing_crl(self, revoked: dict[int, dt.datetime] | None = None) -> bytes:
        """The issuing CA's CRL listing ``revoked`` (serial → revocation time)."""
        b = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.issuing.subject)
            .last_update(self.now - dt.timedelta(minutes=5))
            .next_update(self.now + dt.timedelta(days=7))
            .add_extension(x509.CRLNumber(1), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.issuing.public_key()),
                critical=False,
            )
        )
        for serial, when in (revoked or {}).items():
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        return b.sign(self.issuing_key.native, hashes.SHA256()).public_bytes(DER)

    def root_crl(self, revoked: dict[int, dt.datetime] | None = None) -> bytes:
        """The root's CRL, which covers the issuing CA certificate: empty, or listing
        ``revoked`` (serial → revocation time)."""
        b = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.root.subject)
            .last_update(self.now - dt.timedelta(minutes=5))
            .next_update(self.now + dt.timedelta(days=30))
            .add_extension(x509.CRLNumber(1), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root.public_key()),
                critical=False,
            )
        )
        for serial, when in (revoked or {}).items():
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        return b.sign(self.root_key.native, hashes.SHA256()).public_bytes(DER)


def build_pki(
    root_name: str = "Yinxin Test Root CA", *, tag: str = "", base: str = "http://127.0.0.1:9"
) -> TestPki:
    """A fresh root, issuing CA, TSA and OCSP responder, all valid from two hours ago.

    ``base`` is where certificates say their CRLs and OCSP responder live; the default (port 9,
    "discard") refuses connections at once, so nothing is fetched by accident.
    """
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    nb = now - dt.timedelta(hours=2)
    rk = SoftwareKey("root", get_algorithm("ec-p256").generate())
    root = build_certificate(
        profile=PROFILES["root-ca"],
        subject=base_name(root_name, organization="Yinxin"),
        public_key=rk.public_key(),
        issuer=None,
        self_key=rk,
        not_before=nb,
        not_after=now + dt.timedelta(days=3650),
    )
    rooti = Issuer(
        root,
        rk,
        StatusUrls(
            crl=f"{base}/crl/root{tag}.crl",
            ca_issuers=f"{base}/ca/root.cer",
        ),
    )
    ik = SoftwareKey("issuing", get_algorithm("ec-p256").generate())
    issuing = build_certificate(
        profile=PROFILES["issuing-ca"],
        subject=base_name(f"Yinxin Issuing CA{tag}", organization="Yinxin"),
        public_key=ik.public_key(),
        issuer=rooti,
        not_before=nb,
        not_after=now + dt.timedelta(days=1825),
    )
    issuer = Issuer(
        issuing,
        ik,
        StatusUrls(
            crl=f"{base}/crl/issuing{tag}.crl",
            ca_issuers=f"{base}/ca/issuing.cer",
            ocsp=f"{base}/ocsp",
        ),
    )

    def party(name: str, profile: str, key) -> Party:
        cert = build_certificate(
            profile=PROFILES[profile],
            subject=base_name(name, organization="Yinxin"),
            public_key=key.public_key(),
            issuer=issuer,
            not_before=nb,
            not_after=now + dt.timedelta(days=365),
        )
        return Party(name, cert, key, [issuing, root])

    tsa = party("Yinxin TSA", "tsa", get_algorithm("rsa-2048").generate())
    responder = party("Yinxin OCSP", "ocsp-responder", get_algorithm("ec-p256").generate())
    return TestPki(root, rk, issuing, ik, issuer, tsa, responder, now)


def seal_image(text: str = "合同专用章", size: int = 240) -> Image.Image:
    """A red round seal with Chinese text, as an organisation seal looks on paper."""
    img = Image.new("RGBA", (size, size), (255, 255, 255, 0))
    d = ImageDraw.Draw(img)
    red = (200, 20, 20, 255)
    d.ellipse((6, 6, size - 6, size - 6), outline=red, width=10)
    star = [
        (size / 2, size * 0.30),
        (size * 0.56, size * 0.45),
        (size * 0.72, size * 0.45),
        (size * 0.59, size * 0.55),
        (size * 0.64, size * 0.70),
        (size / 2, size * 0.61),
        (size * 0.36, size * 0.70),
        (size * 0.41, size * 0.55),
        (size * 0.28, size * 0.45),
        (size * 0.44, size * 0.45),
    ]
    d.polygon(star, fill=red)
    font = ImageFont.truetype(NOTO_SC, size // 9, index=2)
    w = d.textlength(text, font=font)
    d.text(((size - w) / 2, size * 0.74), text, fill=red, font=font)
    return img


def contract_pdf(pages: int = 1) -> bytes:
    """A small unsigned contract: Helvetica text in an uncompressed content stream.

    Uncompressed on purpose, so a test can change one byte of visible text (the amount) inside
    the signed range without breaking the file's structure.
    """
    w = PdfFileWriter(stream_xrefs=False)
    font = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Font"),
            pdf_name("/Subtype"): pdf_name("/Type1"),
            pdf_name("/BaseFont"): pdf_name("/Helvetica"),
            pdf_name("/Encoding"): pdf_name("/WinAnsiEncoding"),
        }
    )
    font_ref = w.add_object(font)
    for n in range(pages):
        lines = [
            b"PURCHASE CONTRACT No. YX-2025-0001",
            b"Party A: Yinxin Test Co., Ltd.",
            b"Party B: Example Supplier Ltd.",
            AMOUNT_MARKER,
            f"Page {n + 1}".encode(),
        ]
        ops = [b"BT /F1 14 Tf 72 770 Td 18 TL"]
        ops += [b"(" + line + b") Tj T*" for line in lines]
        ops.append(b"ET")
        stream = generic.StreamObject(stream_data=b"\n".join(ops))
        res = generic.DictionaryObject(
            {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font_ref})}
        )
        w.insert_page(PageObject(w.add_object(stream), (0, 0, 595, 842), res))
    out = BytesIO()
    w.write(out)
    return out.getvalue()


@dataclass
class SealInfo:
    """What Yinxin records about the seal in the signature dictionary (see verify.py)."""

    name: str | None = None
    kind: str | None = None
    role: str | None = None


def sign(
    pdf: bytes,
    signer: Party,
    pki: TestPki,
    *,
    field_name: str = "Signature1",
    box: tuple[int, int, int, int] = (380, 80, 500, 200),
    page: int = 0,
    timestamp: bool = True,
    seal: SealInfo | None = None,
    reason: str | None = None,
    signing_time: dt.datetime | None = None,
    revinfo: str = "none",
    revoked_at: dt.datetime | None = None,
    ocsp_produced_at: dt.datetime | None = None,
    tsa_revinfo: bool = True,
    in_form: bool = True,
) -> bytes:
    """Sign ``pdf`` as an incremental update with a visible seal.

    ``revinfo``: "none" (B-B/B-T), "dss" (OCSP + CRL + chain in a DSS update → B-LT), or "cms"
    (Adobe revocationInfoArchival signed attribute). ``revoked_at`` makes the OCSP say revoked.
    ``tsa_revinfo`` also puts the TSA certificate's OCSP response in the DSS, as a complete
    B-LT does. ``in_form=False`` leaves the signed field out of /AcroForm /Fields, a widget on
    the page only (as a careless tool might): intact, listed by pdfsig, skipped by pyHanko.
    """
    when = signing_time or dt.datetime.now(dt.UTC)
    w = IncrementalPdfFileWriter(BytesIO(pdf))
    embedder = cms_embedder.PdfCMSEmbedder(
        new_field_spec=SigFieldSpec(sig_field_name=field_name, box=box, on_page=page)
    )
    cms_writer = embedder.write_cms(field_name=field_name, writer=w)
    field_ref = next(cms_writer)
    if not in_form:
        form_ref = w.root.raw_get("/AcroForm")
        fields = w.root["/AcroForm"]["/Fields"]
        kept = [r for r in fields if r.reference != field_ref.reference]
        w.root["/AcroForm"][pdf_name("/Fields")] = generic.ArrayObject(kept)
        if isinstance(form_ref, generic.IndirectObject):
            w.mark_update(form_ref)
        w.update_root()
    # Adobe's revocation archival attribute is not allowed in PAdES (pyHanko drops it there),
    # so "cms" makes an adbe.pkcs7.detached signature, as Acrobat-era signers did.
    pades = revinfo != "cms"
    subfilter = SigSeedSubFilter.PADES if pades else SigSeedSubFilter.ADOBE_PKCS7_DETACHED
    sig_obj = SignatureObject(
        timestamp=when,
        subfilter=subfilter,
        reason=reason,
        location="Beijing",
        bytes_reserved=24000,
    )
    if seal is not None:
        meta = generic.DictionaryObject()
        for key, value in (
            ("/SealName", seal.name),
            ("/SealKind", seal.kind),
            ("/Role", seal.role),
        ):
            if value is not None:
                meta[pdf_name(key)] = pdf_string(value)
        sig_obj[pdf_name("/Yinxin")] = meta
    style = TextStampStyle(
        stamp_text="%(ts)s",
        border_width=0,
        background=PdfImage(seal_image()),
        background_opacity=1.0,
        timestamp_format="%Y-%m-%d %H:%M",
    )
    cms_writer.send(
        cms_embedder.SigObjSetup(
            sig_placeholder=sig_obj,
            appearance_setup=cms_embedder.SigAppearanceSetup(
                style=style, timestamp=when, name=signer.name
            ),
        )
    )
    prep_digest, output = cms_writer.send(cms_embedder.SigIOSetup(md_algorithm="sha256"))

    ocsp_der = pki.ocsp_response(signer.cert, revoked_at=revoked_at, produced_at=ocsp_produced_at)
    attrs = PdfCMSSignedAttributes(signing_time=when)
    if revinfo == "cms":
        attrs = PdfCMSSignedAttributes(
            signing_time=when,
            adobe_revinfo_attr=a_pdf.RevocationInfoArchival(
                {
                    "ocsp": [a_ocsp.OCSPResponse.load(ocsp_der)],
                    "crl": [a_crl.CertificateList.load(pki.root_crl())],
                }
            ),
        )
    simple = SimpleSigner(
        signing_cert=_a_cert(signer.cert),
        signing_key=_a_key(signer.key),
        cert_registry=SimpleCertificateStore.from_certs([_a_cert(c) for c in signer.chain]),
    )
    timestamper = _timestamper(pki) if timestamp else None
    cms_obj = asyncio.run(
        simple.async_sign(
            prep_digest.document_digest,
            "sha256",
            use_pades=pades,
            timestamper=timestamper,
            signed_attr_settings=attrs,
        )
    )
    sig_contents = cms_writer.send(cms_obj)
    if revinfo == "dss":
        DocumentSecurityStore.add_dss(
            output,
            sig_contents,
            certs=[_a_cert(c) for c in [*signer.chain, pki.ocsp.cert, pki.tsa.cert]],
            ocsps=[
                a_ocsp.OCSPResponse.load(d)
                for d in (
                    [ocsp_der, pki.ocsp_response(pki.tsa.cert)] if tsa_revinfo else [ocsp_der]
                )
            ],
            crls=[a_crl.CertificateList.load(pki.root_crl())],
        )
    return output.getvalue()


def _timestamper(pki: TestPki) -> DummyTimeStamper:
    return DummyTimeStamper(
        tsa_cert=_a_cert(pki.tsa.cert),
        tsa_key=_a_key(pki.tsa.key),
        certs_to_embed=SimpleCertificateStore.from_certs([_a_cert(c) for c in pki.tsa.chain]),
    )


def add_document_timestamp(pdf: bytes, pki: TestPki) -> bytes:
    """Append a PAdES document timestamp (what turns B-LT into B-LTA)."""
    out = PdfTimeStamper(_timestamper(pki), field_name="DocTimeStamp1").timestamp_pdf(
        IncrementalPdfFileWriter(BytesIO(pdf)), "sha256"
    )
    return out.getvalue()


def tamper(
    pdf: bytes, old: bytes = AMOUNT_MARKER, new: bytes = AMOUNT_MARKER.replace(b"1", b"9", 1)
) -> bytes:
    """Change one byte of the contract's visible text, inside every signature's signed range."""
    assert len(old) == len(new) and pdf.count(old) == 1
    return pdf.replace(old, new)


def tamper_timestamp(pdf: bytes) -> bytes:
    """Flip one byte of the timestamp token's own signature (an unsigned attribute of the CMS,
    so the signer's signature still verifies; only the token is broken)."""
    emb = PdfFileReader(BytesIO(pdf)).embedded_signatures[0]
    token = next(extract_tst_data_iter(emb.signer_info, signed=False))
    sig = bytes(token["signer_infos"][0]["signature"].native)
    for old in (sig.hex().upper().encode(), sig.hex().encode()):
        if pdf.count(old) == 1:
            i = len(old) // 2
            flipped = old[:i] + (b"0" if old[i : i + 1] != b"0" else b"1") + old[i + 1 :]
            return pdf.replace(old, flipped)
    raise AssertionError("timestamp signature not found in /Contents")


def append_page(pdf: bytes) -> bytes:
    """Append an unsigned page as an incremental update — a change no signature allows."""
    w = IncrementalPdfFileWriter(BytesIO(pdf))
    stream = generic.StreamObject(stream_data=b"BT /F1 14 Tf 72 770 Td (Extra clause) Tj ET")
    w.insert_page(PageObject(w.add_object(stream), (0, 0, 595, 842)))
    out = BytesIO()
    w.write(out)
    return out.getvalue()


def add_text_annotation(pdf: bytes) -> bytes:
    """Append a sticky-note comment as an incremental update."""
    w = IncrementalPdfFileWriter(BytesIO(pdf))
    annot = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Annot"),
            pdf_name("/Subtype"): pdf_name("/Text"),
            pdf_name("/Rect"): generic.ArrayObject(map(generic.NumberObject, (50, 50, 70, 70))),
            pdf_name("/Contents"): pdf_string("改成 900000"),
        }
    )
    page_ref, _ = w.find_page_for_modification(0)
    w.register_annotation(page_ref, w.add_object(annot))
    out = BytesIO()
    w.write(out)
    return out.getvalue()


def hidden_signature(pdf: bytes, donor: bytes, *, in_form: bool = False) -> bytes:
    """Add a signature field whose value is a copy of ``donor``'s first signature (another
    signing, over other bytes: PAdES or a GB/T 38540 seal signature, /SubFilter kept), so its
    digest does not match this file, where pyHanko does not look but pdfsig does: a widget on
    page 1 that is not in the /AcroForm (poppler also reads signature widgets found only among
    a page's annotations; the page's /Annots an indirect array, as many are), or (``in_form``)
    a field in /AcroForm /Fields without a name (/T), on no page, which pyHanko's form walk
    (``enumerate_sig_fields``, ``embedded_signatures``) skips with everything under it."""
    from pyhanko.sign.fields import enumerate_sig_fields

    reader = PdfFileReader(BytesIO(donor), strict=False)
    _, donor_ref, _ = next(enumerate_sig_fields(reader, filled_status=True))
    source = donor_ref.get_object()
    w = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    page_ref, _ = w.find_page_for_modification(0)
    value = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Sig"),
            pdf_name("/Filter"): pdf_name(str(source["/Filter"])),
            pdf_name("/SubFilter"): pdf_name(str(source["/SubFilter"])),
            pdf_name("/ByteRange"): generic.ArrayObject(
                generic.NumberObject(int(v)) for v in source["/ByteRange"]
            ),
            pdf_name("/Contents"): generic.ByteStringObject(bytes(source["/Contents"])),
        }
    )
    widget = generic.DictionaryObject(
        {
            pdf_name("/FT"): pdf_name("/Sig"),
            pdf_name("/T"): pdf_string("李四"),
            pdf_name("/Type"): pdf_name("/Annot"),
            pdf_name("/Subtype"): pdf_name("/Widget"),
            pdf_name("/Rect"): generic.ArrayObject(generic.NumberObject(0) for _ in range(4)),
            pdf_name("/F"): generic.NumberObject(132),
            pdf_name("/V"): w.add_object(value),
        }
    )
    if not in_form:
        w.register_annotation(page_ref, w.add_object(widget))
        page = page_ref.get_object()
        page[pdf_name("/Annots")] = w.add_object(page["/Annots"])
        w.mark_update(page_ref)
    else:
        del widget["/T"]
        form = w.root.get("/AcroForm")
        if isinstance(form, generic.DictionaryObject) and "/Fields" in form:
            form["/Fields"].append(w.add_object(widget))  # after the fields already there
            for ref in (w.root.raw_get("/AcroForm"), form.raw_get("/Fields")):
                if isinstance(ref, generic.IndirectObject):
                    w.mark_update(ref)
            w.update_root()
        else:
            w.root[pdf_name("/AcroForm")] = generic.DictionaryObject(
                {pdf_name("/Fields"): generic.ArrayObject([w.add_object(widget)])}
            )
            w.update_root()
    out = BytesIO()
    w.write(out)
    return out.getvalue()
