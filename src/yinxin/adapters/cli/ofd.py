"""``yinxin ofd …``: OFD documents (GB/T 33190) with GB/T 38540 seal signatures, on files.

Like ``sign local`` and ``verify``, these run on the user's machine without a platform: the
signer's SM2 key and certificate and the seal (``SESeal`` DER, as ``yinxin seal show --seseal``
exports it) are files; a relying party verifies with the certificates it trusts (``--trust``:
the seal maker or its CA, the signer's CA, the TSA). Exit codes of ``ofd verify`` are those of
``yinxin verify``: 0 VALID, 1 INVALID, 2 the verification could not be done.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import typer

from yinxin.adapters.cli.common import (
    HOME,
    JSON,
    MAX_PEM_INPUT,
    OFD_ANCHOR_HELP,
    OFD_X_HELP,
    OFD_Y_HELP,
    as_options,
    not_the_input,
    platform,
    platform_here,
    read_crl,
    read_input,
    run,
    say,
    show_error,
    writable,
    write_atomic,
)
from yinxin.errors import ValidationError, YinxinError

ofd_app = typer.Typer(
    no_args_is_help=True, help="OFD documents: sign with a GB/T 38540 seal, verify, render."
)


@dataclass(frozen=True)
class OfdSigned:
    out: str
    signature_id: str
    page: int
    boundary_mm: str
    timestamped: bool


@dataclass(frozen=True)
class OfdMade:
    out: str
    pages: int


@dataclass(frozen=True)
class OfdRendered:
    out: str
    page: int
    dpi: int


def _certs(path: Path, field: str) -> list[bytes]:
    """Every certificate in a file: PEM (one or several) or one DER; DER bytes out."""
    from asn1crypto import pem
    from asn1crypto import x509 as a_x509

    raw = read_input(path, field)
    try:
        if pem.detect(raw):
            ders = [der for kind, _h, der in pem.unarmor(raw, multiple=True) if "CERT" in kind]
        else:
            ders = [raw]
        for der in ders:
            a_x509.Certificate.load(der, strict=True).native  # noqa: B018 - parse it all now
    except (ValueError, TypeError):
        raise ValidationError(f"{path} is not a certificate (PEM or DER)", field=field) from None
    if not ders:
        raise ValidationError(f"{path} holds no certificate", field=field)
    return ders


# the signer's names (``yinxin.seals.ses_signature``, ``yinxin.ofd.sign``) for what ``ofd sign``
# takes as options: a refusal named ``seseal``, ``signer_cert`` or ``timestamper``, no option
SIGNER_FIELDS = {
    "seseal": "seal",
    "signer_cert": "cert",
    "signer_key": "key",
    "ofd": "in",
    "timestamper": "tsa_url",
}


def _not_valid_now(e: YinxinError, seal_der: bytes, cert_der: bytes, when: datetime) -> YinxinError:
    """The signer's refusal of the signing time (``time_info``: the seal or the certificate not
    valid then) on the option that gave the one at fault, ``seal`` or ``cert``, with its
    validity: ``ofd sign`` signs now, a time no option sets."""
    from asn1crypto import x509 as a_x509

    from yinxin.seals.seseal import parse_seseal

    def span(start: datetime, end: datetime) -> str:
        return f"valid from {start.isoformat()} to {end.isoformat()}, not now ({when.isoformat()})"

    info = parse_seseal(seal_der).info  # read by the signer already
    if not info.valid_start <= when <= info.valid_end:
        message = f"the seal is {span(info.valid_start, info.valid_end)}"
        return type(e)(message, field="seal", code=e.code)
    validity = a_x509.Certificate.load(cert_der)["tbs_certificate"]["validity"]
    start, end = validity["not_before"].native, validity["not_after"].native
    message = f"the certificate is {span(start, end)}"
    return type(e)(message, field="cert", code=e.code)


@ofd_app.command("sign")
def ofd_sign(
    input: Path = typer.Option(..., "--in", help="The OFD to sign (signed already or not)."),
    output: Path = typer.Option(..., "--out", help="Where the signed OFD is written."),
    seal: Path = typer.Option(..., help="The seal: a GB/T 38540 SESeal (DER)."),
    key: Path = typer.Option(..., help="Your SM2 private key (PKCS#8 PEM)."),
    cert: Path = typer.Option(..., help="Your SM2 certificate (PEM or DER), listed in the seal."),
    anchor: str | None = typer.Option(None, help=OFD_ANCHOR_HELP),
    page: int | None = typer.Option(None, help="Page (1 = first, -1 = last; default last)."),
    x: float | None = typer.Option(None, help=OFD_X_HELP),
    y: float | None = typer.Option(None, help=OFD_Y_HELP),
    tsa_url: str | None = typer.Option(None, help="RFC 3161 TSA to stamp the signature value."),
    key_password: str | None = typer.Option(
        None, envvar="YINXIN_KEY_PASSWORD", help="Password of the key file (env preferred)."
    ),
    as_json: bool = JSON,
) -> None:
    """Add your seal signature to an OFD: the stamp at the anchor text or position, the
    signature over every file of the package; earlier signatures stay valid."""

    def go() -> OfdSigned:
        from yinxin.clock import SystemClock
        from yinxin.ofd.sign import Placement, sign_ofd
        from yinxin.pdf.timestamps import HttpTimestamper
        from yinxin.pki import sm2
        from yinxin.seals.ses_signature import SesOfdSigner, check_ofd_value

        # --out seal.esl (or the key, the certificate, the OFD) replaced that file (exit 0)
        read = [(input, "the OFD signed"), (seal, "the seal"), (key, "the private key")]
        writable(output)  # not found unwritable only after the signing and the TSA
        for path, what in [*read, (cert, "the certificate")]:
            not_the_input(output, path, "out", what)
        data = read_input(input, "in")
        seal_der = read_input(seal, "seal")
        try:
            private = sm2.load_private_pkcs8(
                read_input(key, "key", MAX_PEM_INPUT),
                key_password.encode() if key_password else None,
            )
        except YinxinError as e:
            # a wrong or missing password keeps its refusal (bad_passphrase, exit 5) on the
            # option carrying it; it was `invalid`, exit 2, on `key`, as an unreadable file
            if e.field == "password":  # a password for a key that has none too (exit 2)
                raise type(e)(e.message, field="key_password", code=e.code) from None
            raise type(e)(
                f"cannot read the SM2 key: {e.message}", field="key", code=e.code
            ) from None
        cert_der = _certs(cert, "cert")[0]
        when = SystemClock().now().replace(microsecond=0)

        def sign():
            signer = SesOfdSigner(
                seal_der,
                private,
                cert_der,
                when=when,
                timestamper=HttpTimestamper(tsa_url) if tsa_url else None,
            )
            where = Placement(anchor=anchor, page=page, x=x, y=y)
            # an earlier signature broken (a covered file changed, a value not verifying over
            # its data) refuses it, naming --in (broken_signature)
            return sign_ofd(
                data, signer, placement=where, when=when, check_existing=check_ofd_value(None)
            )

        try:
            signed = as_options(SIGNER_FIELDS, sign)
        except YinxinError as e:
            if e.field != "time_info":
                raise
            # the signing time is the clock's, no option: the seal or certificate is at fault
            raise _not_valid_now(e, seal_der, cert_der, when) from None
        write_atomic(output, signed.data)
        return OfdSigned(
            str(output), signed.signature_id, signed.page, signed.boundary, bool(tsa_url)
        )

    run(
        as_json,
        go,
        lambda r: say(
            "[green]Signed[/] {}: signature {}, page {}, box {} mm",
            r.out,
            r.signature_id,
            r.page,
            r.boundary_mm,
        ),
    )


@ofd_app.command("verify")
def ofd_verify(
    file: Path = typer.Argument(..., help="The signed OFD."),
    trust: list[Path] = typer.Option(
        [], help="Trusted certificates (PEM/DER): seal maker or its CA, signer CA, TSA."
    ),
    crl: list[Path] = typer.Option(
        [], help="CRLs (DER or PEM) of the signers' CAs, for the revocation check."
    ),
    use_platform: bool = typer.Option(
        False, "--platform", help="Trust the platform's root and issuing CA (run where it is)."
    ),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Check every signature: file digests, the SES_Signature (seal, maker, signer certificate,
    time, document hash), stamps, and that no file was added after the last signature.

    Exit 0: every signature VALID; 1: INVALID or INDETERMINATE (a failure more evidence could
    settle, e.g. a signer no given certificate vouches for); 2: the check could not be done
    (unreadable file or trust anchor), with a message naming the field."""
    try:
        from yinxin.ofd.verify import verify_ofd
        from yinxin.seals.ses_signature import check_ofd_value

        data = read_input(file, "file")
        anchors = [der for path in trust for der in _certs(path, "trust")]
        crls = [read_crl(path) for path in crl]
        if use_platform:
            # the platform's root and issuing CA (plus any --trust), as `yinxin sign ofd` signs
            if not platform_here(home):
                raise ValidationError(
                    "--platform: no platform database here (give --home or --trust)",
                    field="platform",
                )
            report = platform(home).ofd_signing.verify(data, extra_trust=anchors, crls=crls)
        elif not anchors:
            raise ValidationError(
                "no trusted certificate: give --trust MAKER-OR-CA.pem (repeat as needed)",
                field="trust",
            )
        else:
            report = verify_ofd(data, check_ofd_value(anchors, crls))
    except YinxinError as e:
        show_error(e, as_json)
        raise typer.Exit(2 if e.exit_code == 1 else e.exit_code) from None
    out = (
        json.dumps(report.to_dict(), ensure_ascii=False, default=str)
        if as_json
        else report.to_text()
    )
    sys.stdout.write(out + "\n")
    raise typer.Exit(0 if report.valid else 1)


@ofd_app.command("render")
def ofd_render(
    file: Path = typer.Argument(..., help="The OFD."),
    output: Path = typer.Option(..., "--out", help="Where the PNG is written."),
    page: int = typer.Option(1, help="Page (1 = first, -1 = last)."),
    dpi: int = typer.Option(150, help="Resolution, 36–600."),
    as_json: bool = JSON,
) -> None:
    """Draw a page as PNG with the seals stamped where the signatures put them."""

    def go() -> OfdRendered:
        from yinxin.ofd.render import render_page
        from yinxin.seals.ses_signature import seal_picture

        # --out a.ofd over the OFD drawn replaced the signed document with its picture (exit 0)
        not_the_input(output, file, "out", "the OFD drawn")
        data = read_input(file, "file")
        # a file that is no OFD was refused on `ofd`, no option or argument of this command
        png = as_options(
            {"ofd": "file"},
            lambda: render_page(data, page, dpi=dpi, picture_of=seal_picture),
        )
        write_atomic(output, png)
        return OfdRendered(str(output), page, dpi)

    run(as_json, go, lambda r: say("[green]Drawn[/] page {} → {}", r.page, r.out))


@ofd_app.command("make")
def ofd_make(
    text: Path = typer.Option(..., help="UTF-8 text; a form feed (\\f) starts a new page."),
    output: Path = typer.Option(..., "--out", help="Where the OFD is written."),
    as_json: bool = JSON,
) -> None:
    """Write a plain A4 OFD from text (to try signing on, or as a test document)."""

    def go() -> OfdMade:
        from yinxin.ofd.make import make_ofd

        not_the_input(output, text, "out", "the text read")  # it was replaced by the OFD
        try:
            body = read_input(text, "text").decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(f"{text} is not UTF-8 text", field="text") from None
        pages = [p.splitlines() for p in body.split("\f")]
        if not any(any(line.strip() for line in p) for p in pages):
            raise ValidationError(f"{text} has no text", field="text")
        write_atomic(output, make_ofd(pages))
        return OfdMade(str(output), len(pages))

    run(as_json, go, lambda r: say("[green]Wrote[/] {} ({} pages)", r.out, r.pages))
