"""``yinxin sign ses-pdf-code`` and ``yinxin sign ses-pdf``: a PDF sealed the GB/T 38540 way.

The two steps of ``sign ofd-code`` / ``sign ofd`` (a one-time code for this file, then the code
and the seal PIN) over ``yinxin.signing.ses_pdf.SesPdfSigning``; the placement options are
``sign pdf``'s (anchor text, or page and the seal's lower-left corner in mm from the page's
lower-left), the size is the seal's own. Attached to ``sign_app`` by ``adapters/cli/signing.py``;
services are imported inside the commands only. The result verifies with ``yinxin verify``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from yinxin.adapters.cli.common import (
    CODE,
    HOME,
    JSON,
    PIN_CODE_STDIN,
    SEAL_PIN,
    console,
    extended,
    run,
)
from yinxin.adapters.cli.sign_ofd import SIGNER, request_code, sign_file
from yinxin.errors import ValidationError

IN = typer.Option(..., "--in", help="The PDF to be sealed.")


def _placement(anchor: str | None, page: int | None, x: float | None, y: float | None):
    from yinxin.pdf.sign import Placement

    if anchor is None and (x is None or y is None):
        raise ValidationError("give --anchor TEXT or --page N --x MM --y MM", field="placement")
    return Placement(page=page, x_mm=x, y_mm=y, anchor=anchor)


def sign_ses_pdf_code(
    input: Path = IN,
    signer: int = SIGNER,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Send the signer a one-time code for this PDF (intent confirmation)."""
    request_code("ses_pdf_signing", input, signer, home, as_json)


def sign_ses_pdf_cmd(
    input: Path = IN,
    output: Path = typer.Option(..., "--out", help="Where the sealed PDF is written."),
    seal: str = typer.Option(..., help="Seal id or esID (an SM2 seal)."),
    signer: int = SIGNER,
    challenge: str = typer.Option(..., help="Challenge id from `sign ses-pdf-code`."),
    code: str | None = CODE,
    pin: str | None = SEAL_PIN,
    pin_stdin: bool = PIN_CODE_STDIN,
    anchor: str | None = typer.Option(None, help='Centre the seal on this text, "乙方（签章）".'),
    page: int | None = typer.Option(None, help="Page (1 = first, -1 = last)."),
    x: float | None = typer.Option(None, help="Seal's left edge, mm from the page's left."),
    y: float | None = typer.Option(None, help="Seal's bottom edge, mm from the page's bottom."),
    role: str | None = typer.Option(None, help="甲方 乙方 丙方 中介方 鉴证单位 公证单位"),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Confirm the code and seal the PDF with a platform-held SM2 seal key: a GB/T 38540
    SES_Signature in the PDF's signature (/SubFilter /GBT38540.SES), timestamped by the
    platform's TSA. PIN and code as for `sign pdf`."""

    def go():
        signed = sign_file(
            "ses_pdf_signing",
            input,
            output,
            pin=pin,
            code=code,
            pin_stdin=pin_stdin,
            placement=lambda: _placement(anchor, page, x, y),
            home=home,
            seal=seal,
            signer_subscriber_id=signer,
            challenge_id=challenge,
            role=role,
        )
        return extended(
            signed.record,
            replayed=signed.replayed,
            page=signed.page,
            rect=signed.boundary,
            out=str(output),
        )

    run(
        as_json,
        go,
        lambda r: console.print(
            f"[green]{'Already signed' if r.replayed else 'Signed'}[/] {r.out} as "
            f"{r.role or 'signer'} with seal {r.es_id} (GB/T 38540 PDF, {r.level})"
        ),
    )
