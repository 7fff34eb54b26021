"""``yinxin verify``: a relying party checks signed PDFs, with or without a platform here."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from yinxin.adapters.cli.common import (
    HOME,
    JSON,
    platform,
    read_input,
    show_error,
    writable,
    write_atomic,
)
from yinxin.errors import ValidationError, YinxinError


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


def _trust_anchors(paths: list[Path]) -> list:
    """``--trust``: every certificate in each file (PEM, one or several; or one DER).

    A file that cannot be read or holds no certificate is invalid input naming ``trust`` —
    exit 2, never a traceback and never exit 1, which means "the signatures are INVALID".
    """
    from cryptography import x509

    anchors = []
    for path in paths:
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise ValidationError(
                f"cannot read --trust {path}: {e.strerror}", field="trust"
            ) from None
        try:
            if b"-----BEGIN" in raw:
                anchors += x509.load_pem_x509_certificates(raw)
            else:
                anchors.append(x509.load_der_x509_certificate(raw))
        except ValueError:
            raise ValidationError(
                f"--trust {path} is not a certificate (PEM or DER)", field="trust"
            ) from None
    return anchors


def _platform_here(home: Path | None) -> bool:
    """Is there a platform database to verify with, without creating one?

    A relying party runs ``yinxin verify --trust root.pem`` on a bare machine: building a
    Platform there would create ``./var/yinxin.db`` (and a data folder) as a side effect of
    reading a PDF. Only an existing SQLite file, or a configured server database, counts.
    """
    from yinxin.settings import Settings

    url = Settings.from_env(home=home).database_url
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///").split("?", 1)[0]).exists()
    return True


def verify_cmd(
    file: Path = typer.Argument(..., help="The signed PDF."),
    report: Path | None = typer.Option(None, help="Write a one-page PDF report."),
    online: bool = typer.Option(
        False, help="Fetch CRLs/OCSP from the URLs in the certificates when nothing is embedded."
    ),
    trust: list[Path] = typer.Option([], help="Extra trust anchors (PEM)."),
    at: str | None = typer.Option(
        None, help="Validate as of this moment (ISO 8601, e.g. 2031-06-01T00:00Z) instead of now."
    ),
    policy: str = typer.Option(
        "last-known",
        help="last-known: the newest timestamp's chain may rest on "
        "its last embedded status; strict: status must be valid at the validation "
        "time (as pyHanko's AdES validator).",
    ),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Verify every signature, each at the time its timestamps prove.

    Exit 0: every signature VALID; 1: the verdict is INVALID; 2 (or another code of the
    README's table): the verification could not be done — an unreadable file or trust anchor,
    a report that cannot be written — with a message naming the field.
    Without a platform in the data directory, --trust ROOT.pem is enough and nothing is
    created on disk."""
    try:
        data = read_input(file, "in")
        extra = _trust_anchors(trust)
        moment = _moment(at)
        if report is not None:
            writable(report, "report")  # refused before the work, not after
        if _platform_here(home):
            rep = platform(home).signing.verify(
                data,
                file_name=file.name,
                allow_fetching=online,
                extra_roots=extra,
                at=moment,
                policy=policy,
            )
        elif extra:
            from yinxin.pdf.verify import verify_pdf

            rep = verify_pdf(
                data,
                trust_roots=extra,
                file_name=file.name,
                allow_fetching=online,
                ocsp_urls_allowed=online,
                at=moment,
                policy=policy,
            )
        else:
            raise ValidationError(
                "no trust anchor: give --trust ROOT.pem (or run where the "
                "platform's CA is initialised)",
                field="trust",
            )
        if report is not None:
            from yinxin.pdf.report import render_report_pdf

            write_atomic(report, render_report_pdf(rep), "report")
    except YinxinError as e:
        show_error(e, as_json)
        # 1 is the INVALID verdict: an error must never be mistaken for it
        raise typer.Exit(2 if e.exit_code == 1 else e.exit_code) from None
    sys.stdout.write((rep.to_json() if as_json else rep.to_text()) + "\n")
    raise typer.Exit(0 if rep.valid else 1)
