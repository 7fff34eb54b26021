"""The archive that ``bench/verify`` and ``bench/verify_instructions`` both measure, and the
peer's verification of one file: one place, so the instruction count is of the same work as
the timed row."""

from __future__ import annotations

from io import BytesIO

from asn1crypto import x509 as a_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from tests.integration import pdf_factory as f


def contracts(pki: f.TestPki, plain: bytes, n: int) -> list[bytes]:
    """``n`` B-LT contracts from one issuing CA: a new signer each, OCSP + CRL + chain in the
    DSS, the RSA TSA's timestamp."""
    return [
        f.sign(
            plain,
            pki.new_signer(f"签署人{i:03d}"),
            pki,
            revinfo="dss",
            seal=f.SealInfo("合同专用章", "contract", "甲方"),
        )
        for i in range(n)
    ]


def pyhanko_direct(pdf: bytes, root: a_x509.Certificate) -> bool:
    """pyHanko's default path: each signature validated with a fresh context."""
    reader = PdfFileReader(BytesIO(pdf))
    ok = True
    for emb in reader.embedded_signatures:
        status = validate_pdf_signature(emb, ValidationContext(trust_roots=[root]))
        ok = ok and status.bottom_line
    return ok
