"""``yinxin sign ses-pdf-code`` and ``yinxin sign ses-pdf``: a PDF sealed the GB/T 38540 way.

The two steps of ``sign ofd-code`` / ``sign ofd`` (a one-time code for this file, then the code
and the seal PIN) over ``yinxin.signing.ses_pdf.SesPdfSigning``, built by ``sign_ofd``'s
``code_command`` and ``sign_command`` with this format's texts; the placement options are
``sign pdf``'s (anchor text, or page and the seal's lower-left corner in mm from the page's
lower-left), the size is the seal's own. Attached to ``sign_app`` by ``adapters/cli/signing.py``;
services are imported inside the commands only. The result verifies with ``yinxin verify``.
"""

from __future__ import annotations

from typing import Any

from yinxin.adapters.cli.common import PDF_ANCHOR_HELP, PDF_X_HELP, PDF_Y_HELP, pdf_placement
from yinxin.adapters.cli.sign_ofd import code_command, sign_command


def check_ses_pdf(data: bytes, where: Any, role: str | None) -> None:
    """``SesPdfSigning.check_document``: the PDF, the placement and the role as ``sign
    ses-pdf``'s service judges them without the seal, run before the PIN and the code."""
    from yinxin.signing.ses_pdf import SesPdfSigning

    SesPdfSigning.check_document(data, where, role)


sign_ses_pdf_code = code_command("ses_pdf_signing", "PDF", "The PDF to be sealed.")
sign_ses_pdf_cmd = sign_command(
    "ses_pdf_signing",
    doc="""Confirm the code and seal the PDF with a platform-held SM2 seal key: a GB/T 38540
    SES_Signature in the PDF's signature (/SubFilter /GBT38540.SES), timestamped by the
    platform's TSA. PIN and code as for `sign pdf`.""",
    label="GB/T 38540 PDF",
    texts={
        "in": "The PDF to be sealed.",
        "out": "Where the sealed PDF is written.",
        "code_from": "sign ses-pdf-code",
        "x": PDF_X_HELP,
        "anchor": PDF_ANCHOR_HELP,
        "y": PDF_Y_HELP,
    },
    placement=pdf_placement,  # sign pdf's parser; no --width: the seal's own size
    check=check_ses_pdf,
    more=lambda s: {"page": s.page, "rect": s.boundary},
)
