"""``yinxin sign …`` and ``yinxin verify``: thin adapters over the signing service.

Platform signing (a platform-held key) takes three steps a person can follow at a desk or in a
script: ``sign code`` sends the one-time code to the signer's registered phone, ``sign pdf``
takes the code and the seal PIN and signs. ``sign local`` is for subscribers who hold their own
key: it runs on their machine, reads their key file, and the platform never sees it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from yinxin.cli import HOME, JSON, console, platform, run
from yinxin.errors import ValidationError

sign_app = typer.Typer(no_args_is_help=True, help="Sign PDF contracts with seals.")


def _pdf(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ValidationError(f"cannot read {path}: {e.strerror}", field="in") from None


def _write(path: Path, data: bytes) -> None:
    """Write the output atomically: a refused or failed run leaves no partial file."""
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _placement(anchor: str | None, page: int | None, x: float | None, y: float | None,
               width: float | None):
    from yinxin.signing.pdf_sign import Placement

    if anchor is None and (x is None or y is None):
        raise ValidationError("give --anchor TEXT or --page N --x MM --y MM", field="placement")
    kw = {"width_mm": width} if width else {}
    return Placement(page=page, x_mm=x, y_mm=y, anchor=anchor, **kw)


@sign_app.command("code")
def sign_code(input: Path = typer.Option(..., "--in", help="The PDF to be signed."),
              signer: int = typer.Option(..., help="Subscriber id of the person signing."),
              home: Path | None = HOME, as_json: bool = JSON) -> None:
    """Send the signer a one-time code for this document (intent confirmation)."""
    run(as_json, lambda: platform(home).signing.request_confirmation(
        signer_subscriber_id=signer, document=_pdf(input), document_name=input.name))


@sign_app.command("pdf")
def sign_pdf_cmd(input: Path = typer.Option(..., "--in"), output: Path = typer.Option(..., "--out"),
                 seal: str = typer.Option(..., help="Seal id or esID."),
                 signer: int = typer.Option(..., help="Subscriber id of the person signing."),
                 challenge: str = typer.Option(..., help="Challenge id from `sign code`."),
                 code: str = typer.Option(..., help="The one-time code received by SMS."),
                 pin: str | None = typer.Option(None, envvar="YINXIN_SEAL_PIN",
                                                help="Seal PIN (or YINXIN_SEAL_PIN, or asked)."),
                 anchor: str | None = typer.Option(None, help='e.g. "甲方（签章）"'),
                 page: int | None = None, x: float | None = None, y: float | None = None,
                 width: float | None = typer.Option(None, help="Seal width in mm."),
                 role: str | None = typer.Option(None, help="甲方 乙方 中介方 鉴证单位 公证单位"),
                 level: str = typer.Option("B-LT", help="B-B, B-T, B-LT or B-LTA"),
                 lock: bool = typer.Option(False, help="Last signer: lock the document."),
                 cross_page: bool = typer.Option(False, "--cross-page", help="骑缝章."),
                 home: Path | None = HOME, as_json: bool = JSON) -> None:
    """Confirm the code and sign with a platform-held seal key."""
    def go():
        the_pin = pin or (typer.prompt("Seal PIN", hide_input=True) if sys.stdin.isatty()
                          else None)
        if not the_pin:
            raise ValidationError("the seal PIN is needed", field="pin")
        data = _pdf(input)
        p = platform(home)
        signed = p.signing.sign(data, seal=seal, pin=the_pin, signer_subscriber_id=signer,
                                challenge_id=challenge, code=code,
                                placement=_placement(anchor, page, x, y, width), role=role,
                                level=level, lock=lock, cross_page=cross_page,
                                document_name=input.name)
        _write(output, signed.pdf)
        return {**signed.record, "out": str(output)}

    run(as_json, go, lambda r: console.print(
        f"[green]Signed[/] {r['out']} as {r['role'] or 'signer'} with seal {r['es_id']} "
        f"({r['level']})"))


@sign_app.command("local")
def sign_local(input: Path = typer.Option(..., "--in"), output: Path = typer.Option(..., "--out"),
               key: Path = typer.Option(..., help="Your private key (PEM, PKCS#8)."),
               cert: Path = typer.Option(..., help="Your certificate (PEM)."),
               chain: list[Path] = typer.Option([], help="Issuing CA, root (PEM)."),
               seal_image: Path | None = typer.Option(None, help="Seal PNG (transparent)."),
               anchor: str | None = None, page: int | None = None, x: float | None = None,
               y: float | None = None, width: float = 40.0, role: str | None = None,
               tsa_url: str | None = typer.Option(None, help="RFC 3161 TSA, e.g. "
                                                  "http://127.0.0.1:8000/tsa (B-T)."),
               key_password: str | None = typer.Option(None, envvar="YINXIN_KEY_PASSWORD"),
               as_json: bool = JSON) -> None:
    """Sign on your own machine with your own key: nothing but the timestamp request (a hash)
    leaves it."""
    def go():
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        from yinxin.pki.keys import SoftwareKey
        from yinxin.signing.pdf_sign import SealStamp, SignRequest, sign_pdf
        from yinxin.signing.timestamps import HttpTimestamper

        try:
            k = serialization.load_pem_private_key(
                key.read_bytes(), key_password.encode() if key_password else None)
        except (OSError, ValueError, TypeError):
            raise ValidationError("cannot read the private key (wrong file or password)",
                                  field="key") from None
        try:
            c = x509.load_pem_x509_certificate(cert.read_bytes())
            ch = [x509.load_pem_x509_certificate(p.read_bytes()) for p in chain]
        except (OSError, ValueError):
            raise ValidationError("cannot read the certificate or chain (PEM)",
                                  field="cert") from None
        stamp = None
        if seal_image is not None:
            from PIL import Image

            png = seal_image.read_bytes()
            with Image.open(seal_image) as im:
                ratio = im.height / im.width
            stamp = SealStamp(png=png, width_mm=width, height_mm=width * ratio,
                              name=c.subject.rfc4514_string(), kind="personal")
        req = SignRequest(pdf=_pdf(input), key=SoftwareKey("local", k), certificate=c, chain=ch,
                          stamp=stamp, placement=_placement(anchor, page, x, y, width)
                          if stamp else None,
                          timestamper=HttpTimestamper(tsa_url) if tsa_url else None,
                          level="B-T" if tsa_url else "B-B", role=role)
        signed = sign_pdf(req)
        _write(output, signed)
        return {"out": str(output), "level": req.level}

    run(as_json, go, lambda r: console.print(f"[green]Signed[/] {r['out']} ({r['level']})"))


def _moment(text: str | None):
    """``--at``: an ISO 8601 moment; a bare date means its midnight UTC."""
    import datetime as dt

    if text is None:
        return None
    try:
        t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"--at must be an ISO 8601 time, not {text!r}", field="at") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def verify_cmd(file: Path = typer.Argument(..., help="The signed PDF."),
               report: Path | None = typer.Option(None, help="Write a one-page PDF report."),
               online: bool = typer.Option(False, help="Fetch CRLs/OCSP from the URLs in the "
                                           "certificates when nothing is embedded."),
               trust: list[Path] = typer.Option([], help="Extra trust anchors (PEM)."),
               at: str | None = typer.Option(
                   None, help="Validate as of this moment (ISO 8601, e.g. 2031-06-01T00:00Z) "
                   "instead of now."),
               policy: str = typer.Option(
                   "last-known", help="last-known: the newest timestamp's chain may rest on "
                   "its last embedded status; strict: status must be valid at the validation "
                   "time (as pyHanko's AdES validator)."),
               home: Path | None = HOME, as_json: bool = JSON) -> None:
    """Verify every signature, each at the time its timestamps prove; exit 0 only when all
    are valid."""
    from yinxin.cli import err_console

    try:
        from cryptography import x509

        data = _pdf(file)
        extra = [x509.load_pem_x509_certificate(p.read_bytes()) for p in trust]
        rep = platform(home).signing.verify(data, file_name=file.name, allow_fetching=online,
                                            extra_roots=extra, at=_moment(at), policy=policy)
        if report is not None:
            from yinxin.signing.report_pdf import render_report_pdf

            _write(report, render_report_pdf(rep))
    except ValidationError as e:
        if as_json:
            sys.stdout.write(__import__("json").dumps(e.to_dict(), ensure_ascii=False) + "\n")
        else:
            from rich.markup import escape

            err_console.print(f"[bold red]error {escape(f'[{e.field}]')}:[/] {escape(e.message)}")
        raise typer.Exit(e.exit_code) from None
    sys.stdout.write((rep.to_json() if as_json else rep.to_text()) + "\n")
    raise typer.Exit(0 if rep.valid else 1)
