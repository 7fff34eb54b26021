"""Which verifier judges a signed document, by its content: PAdES PDF, GB/T 38540 PDF, or OFD.

``yinxin verify FILE…`` and ``POST /api/v1/verifications`` take whatever a relying party was
handed. A ZIP package is an OFD (GB/T 33190); a PDF whose signature dictionaries hold a GB/T
38540 ``SES_Signature`` (``yinxin.pdf.ses``) is judged by GB/T 38540's procedure; any other
PDF goes to the PAdES verifier (``yinxin.pdf.verify``). A file that is neither is refused as
such (``neither_refused``), not as "not a PDF" (the relying party may have sent an OFD). The
name or extension of the file decides nothing: a renamed file is judged for what it is.

GB/T 38540's checks go one step (``ses_signature._trusted``), so the trust given here is the
DER of every certificate the relying party trusts — root and issuing CA alike.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from yinxin.clock import asked_moment
from yinxin.errors import ValidationError
from yinxin.identity import shown
from yinxin.ofd.verify import OfdReport, verify_ofd
from yinxin.pdf.ses import SesPdfReport, signature_kinds, verify_ses_pdf
from yinxin.seals.ses_signature import check_ofd_value, check_pdf_value

PADES = "pdf"
SES_PDF = "pdf-ses"
OFD = "ofd"


def document_kind(data: bytes) -> str:
    """``"ofd"``, ``"pdf-ses"`` (at least one GB/T 38540 signature) or ``"pdf"`` (the rest)."""
    head = bytes(data[:4])
    if head == b"PK\x03\x04":
        return OFD
    if b"%PDF-" not in bytes(data[:1024]):
        return PADES  # the PAdES verifier gives the "not a PDF" refusal
    # A signature dictionary is never inside a compressed object stream (its /Contents must sit
    # at the byte offsets /ByteRange names), so its /SubFilter is plain in the file: only a file
    # naming ours or the iText-style one is parsed here, the rest go straight to PAdES.
    data = bytes(data)
    if b"/GBT38540.SES" not in data and b"/adbe.pkcs7.detached" not in data:
        return PADES
    return SES_PDF if "ses" in signature_kinds(data) else PADES


def is_neither(data: bytes) -> bool:
    """Neither a PDF (no header in the first 1024 bytes) nor an OFD (no ZIP header)."""
    return bytes(data[:4]) != b"PK\x03\x04" and b"%PDF-" not in bytes(data[:1024])


def neither_refused(data: bytes, field: str) -> None:
    """Refuse (naming ``field``) a file that is neither a PDF nor an OFD: the PAdES verifier
    said "不是 PDF 文件" to a relying party who had sent an OFD cut short or an error page."""
    if is_neither(data):
        raise ValidationError(
            "既不是 PDF 文件，也不是 OFD 文件 / neither a PDF nor an OFD file", field=field
        )


@dataclass
class OfdFileReport:
    """An OFD's report with what ``yinxin verify`` shows of every file (name, hash, moment)."""

    file_name: str
    sha256: str
    verified_at: dt.datetime
    report: OfdReport
    kind: str = OFD
    notes: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.report.valid

    @property
    def indication(self):
        return self.report.indication

    @property
    def signatures(self):
        return self.report.signatures

    @property
    def problems(self) -> list[str]:
        unprotected = [  # as the text report says it (``OfdReport.to_text``)
            f"未受保护的文件 / file not protected by any signature: /{n}"
            for n in self.report.unprotected
        ]
        return [*self.report.problems, *unprotected]

    def to_dict(self) -> dict[str, Any]:
        out = {
            "file_name": self.file_name,
            "kind": self.kind,
            "sha256": self.sha256,
            "verified_at": self.verified_at.isoformat(),
        }
        out.update(json.loads(json.dumps(self.report.to_dict(), default=str)))
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def to_text(self) -> str:
        return f"文件 / file: {shown(self.file_name)} (OFD)\n" + self.report.to_text()


def verify_seal_document(
    data: bytes,
    *,
    trust: list[bytes],
    crls: list[bytes] | None = None,
    at: dt.datetime | None = None,
    file_name: str = "document",
    kind: str | None = None,
) -> SesPdfReport | OfdFileReport:
    """Judge an OFD or a GB/T 38540 PDF with ``trust`` (DER) as of ``at`` (default now)."""
    at = asked_moment(at)  # a naive time refused naming ``at`` (it was read as local time)
    kind = kind or document_kind(data)
    moment = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    if kind == OFD:
        report = verify_ofd(bytes(data), check_ofd_value(trust, crls, moment))
        return OfdFileReport(file_name, hashlib.sha256(data).hexdigest(), moment, report)
    if kind == SES_PDF:
        return verify_ses_pdf(
            data, check_pdf_value(trust, crls, moment), file_name=file_name, at=moment
        )
    raise ValueError(f"not a seal-signed document: {kind}")


def summary(report: Any) -> tuple[int, list[str]]:
    """(signatures, problems) of any of the three reports, for one line per file."""
    problems = [*report.problems, *(p for s in report.signatures for p in s.problems)]
    for s in report.signatures:
        value = getattr(s, "value", None) or {}
        problems += [
            f"{c['name']}: {c['detail']}" for c in value.get("checks", []) if c["ok"] is False
        ]
    return len(report.signatures), problems


__all__ = [
    "OFD",
    "PADES",
    "SES_PDF",
    "OfdFileReport",
    "document_kind",
    "is_neither",
    "neither_refused",
    "summary",
    "verify_seal_document",
]
