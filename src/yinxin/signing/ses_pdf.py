"""Signing a PDF with a platform seal the GB/T 38540 way: the OFD workflow, PDF engine.

Everything but the document format is ``OfdSigning``'s (``yinxin.signing.ofd``): the seal and
its certificate usable now and SM2 (an ECDSA seal is refused by name before its PIN is tried),
the PIN opens the platform-held key, the one-time code for this file's SHA-256 is checked after
the PIN and consumed in the transaction that writes the record, the archive entry and the
``document.signed`` audit event; a file sealing would not add to (an earlier signature
broken, a PAdES-signed file) is refused before any code is sent, and a dry run before the
code is confirmed gives every other refusal (anchor not found, position off the page) while
nothing is written; a retry with the used code replays the signed file.

The signature is ``yinxin.pdf.ses``: an ``SES_Signature`` v4 over the SM3 of the new
revision's ``/ByteRange`` bytes, in ``/Contents`` under ``/SubFilter /GBT38540.SES``, the seal's
picture at the seal's size in the widget, timestamped by the platform's SM2 TSA (SM3 imprint
over the signature value). Level ``B-T``, as an OFD: no DSS, no archive renewal.

Why a PDF seal signature beside PAdES: a customer's assessment (商用密码应用安全性评估) asks
for SM2/SM3 signatures, which PAdES has not; relying parties in China verify these with their
own GB/T 38540 tools, and ``yinxin verify`` does.
"""

from __future__ import annotations

from dataclasses import replace

from yinxin.clock import asked_moment
from yinxin.errors import NotFound, ValidationError, YinxinError
from yinxin.pdf.ses import SesPdfReport, check_existing, sign_ses_pdf, verify_ses_pdf
from yinxin.pdf.sign import Placement, check_fits, check_placement, check_signable
from yinxin.seals.rows import seal_row
from yinxin.seals.ses_signature import SesPdfSigner, check_pdf_value
from yinxin.seals.seseal import parse_seseal
from yinxin.signing.ofd import OfdSigning, SignedOfdDocument, _Made

MAX_PDF = 50 * 1024 * 1024

# the same shape as an OFD's: the signed file, its record, the field made, its page and box
SignedSesPdfDocument = SignedOfdDocument


class SesPdfSigning(OfdSigning):
    """``sign`` a PDF with a platform SM2 seal (GB/T 38540), ``request_confirmation`` for it,
    ``verify`` one trusting the platform's root and issuing CA."""

    placement_type = Placement

    @classmethod
    def _read(cls, document: bytes) -> None:
        """A refusal naming ``pdf`` for what is not a PDF, before any code is sent; a PDF cut
        short (no end-of-file marker) too, which was sent a code (``sign ses-pdf-code``) and
        refused only once the code was typed in, and one carrying a PAdES signature or an
        earlier seal signature it no longer matches, found only by the dry run after the PIN
        (the check sealing makes, ``check_existing``)."""
        if not document or len(document) > MAX_PDF:
            raise ValidationError("the document is empty or larger than 50 MiB", field="pdf")
        if b"%PDF-" not in bytes(document[:1024]):
            raise ValidationError("this is not a PDF file", field="pdf")
        if b"%%EOF" not in bytes(document[-2048:]):
            raise ValidationError("the PDF is cut short (no end-of-file marker)", field="pdf")
        check_signable(bytes(document))  # unreadable, encrypted, no pages: sealing refuses it
        # the earlier signatures' values, judged once per call: _make leaves them to this
        check_existing(bytes(document), check_pdf_value(None))

    @classmethod
    def _check_placement(cls, document: bytes, placement) -> None:
        check_placement(bytes(document), placement)

    def _check_fits(self, document: bytes, seal: int | str, placement) -> None:
        """A seal placed by page and position that runs off its page, refused as sealing would
        (``outside_page`` naming ``placement``, the same message) but before the code: drawn at
        the size its GB/T 38540 record gives, read from the seal row without the PIN. A seal not
        found or a record not read is left to the later checks."""
        if placement.anchor:
            return
        with self.db.read() as s:
            try:
                seseal = seal_row(s, seal).seseal
            except NotFound:
                return
        try:
            info = parse_seseal(bytes(seseal)).info
            width, height = float(info.width_mm), float(info.height_mm)
        except (ValueError, YinxinError):
            return
        if not (width > 0 and height > 0 and 5 <= width <= 300):
            return
        check_fits(bytes(document), replace(placement, width_mm=width), height_mm=height)

    def _make(self, document, seal_der, key, cert_der, placement, now, timestamper) -> _Made:
        signer = SesPdfSigner(
            seal_der, key, cert_der, when=now, timestamper=timestamper, timestamp_hash="sm3"
        )
        # the earlier seal signatures' values were judged once, by _read before the PIN (an SM2
        # verification each); sealing checks what they cover again, at next to no cost
        made = sign_ses_pdf(document, signer, placement=placement, when=now)
        box = " ".join(f"{v:.1f}" for v in made.rect)
        return _Made(
            made.data,
            made.field_name,
            made.page,
            box,
            {"format": "pdf-ses", "page": made.page, "rect": box, "sub_filter": "/GBT38540.SES"},
        )

    def verify(  # type: ignore[override]
        self,
        data: bytes,
        *,
        extra_trust: list[bytes] | None = None,
        crls: list[bytes] = (),
        file_name: str = "document.pdf",
        at=None,
    ) -> SesPdfReport:
        """Every seal signature of a PDF, trusting the platform's root and issuing CA (plus
        any certificates the relying party adds) and checking against its CRLs (``crls_with``;
        one older than a signature is renewed, ``renewed_crls``), as of ``at`` (default now)."""
        trust = self.trust_with(extra_trust)
        moment = asked_moment(at) or self.clock.now()  # naive: refused, naming ``at``
        own = self.own_crls()
        report = verify_ses_pdf(
            data,
            check_pdf_value(trust, self.crls_with(crls, own), moment),
            file_name=file_name,
            at=moment,
        )
        renewed = self.renewed_crls(own, [sig.value for sig in report.signatures])
        if renewed is not None:  # a signature newer than the platform's CRL: judged again
            report = verify_ses_pdf(
                data,
                check_pdf_value(trust, self.crls_with(crls, renewed), moment),
                file_name=file_name,
                at=moment,
            )
        return self._seal_status(report)

    def _seal_status(self, report: SesPdfReport) -> SesPdfReport:
        """``seal_status`` (``OfdSigning.seal_status``) for each signature of the report."""
        for sig in report.signatures:
            check = self.seal_status(sig.value)
            if check is None:
                continue
            sig.value["checks"].append(check.to_dict())
            if check.ok is False:
                sig.valid = False
            sig.problems.extend(self.status_problems(check))
        report.valid = (
            bool(report.signatures)
            and all(x.valid for x in report.signatures)
            and not report.problems
        )
        return report


__all__ = ["MAX_PDF", "SesPdfSigning", "SignedSesPdfDocument"]
