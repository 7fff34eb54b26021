"""``yinxin verify``: a relying party checks signed documents, with or without a platform here.

Each file is judged for what it is (``yinxin.seals.documents.document_kind``): a PDF with PAdES
signatures by the PAdES verifier, a PDF with GB/T 38540 seal signatures and an OFD by GB/T
38540's procedure. Report shape and exit codes are the same for all three.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import typer

from yinxin.adapters.cli.common import (
    HOME,
    JSON,
    not_the_input,
    platform,
    platform_here,
    read_crl,
    read_input,
    show_error,
    writable,
    write_atomic,
)
from yinxin.errors import ValidationError, YinxinError


def _moment(text: str | None):
    """``--at``: an ISO 8601 moment with its zone (``Z`` or an offset).

    One without (``2031-06-01T00:00``, or a bare date) was read as UTC: typed in Beijing, eight
    hours off the moment meant — across a timestamp's time, a different verdict, with nothing
    said. It is refused naming ``at``, as ``POST /verify`` and ``desk --at`` refuse it."""
    import datetime as dt

    if text is None:
        return None
    try:
        t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"--at must be an ISO 8601 time, not {text!r}", field="at") from None
    from yinxin.clock import reachable

    if t.tzinfo is None:
        shown = t.isoformat(timespec="minutes" if not t.second else "seconds")
        raise ValidationError(
            f"--at {text!r} has no time zone: give one, e.g. {shown}Z (UTC) or"
            f" {shown}+08:00 (Beijing)",
            field="at",
        )
    return reachable(t, "at")


def _trust_anchors(paths: list[Path]) -> list:
    """``--trust``: every certificate in each file (PEM, one or several; or one DER).

    A file that cannot be read, is larger than a certificate bundle may be (``/dev/zero`` was
    read until memory ran out) or holds no certificate is invalid input naming ``trust`` —
    exit 2, never a traceback and never exit 1, which means "the signatures are INVALID".
    """
    from cryptography import x509

    anchors = []
    for path in paths:
        raw = read_input(path, "trust")
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


def verify_cmd(
    files: list[Path] = typer.Argument(
        ...,
        metavar="FILE...",
        help="Signed PDF (PAdES or GB/T 38540) or OFD files; many in one call reuse the work.",
    ),
    report: Path | None = typer.Option(
        None, help="Write a one-page Chinese PDF report (one file: PDF or OFD)."
    ),
    online: bool = typer.Option(
        False, help="Fetch CRLs/OCSP from the URLs in the certificates when nothing is embedded."
    ),
    trust: list[Path] = typer.Option([], help="Extra trust anchors (PEM)."),
    at: str | None = typer.Option(
        None,
        help="Validate as of this moment instead of now: ISO 8601 with its zone, e.g. "
        "2031-06-01T00:00Z or 2031-06-01T08:00+08:00 (a time without one is refused). "
        "Timestamps and status data made after it are left out as evidence.",
    ),
    policy: str = typer.Option(
        "last-known",
        help="last-known: the newest timestamp's chain may rest on "
        "its last embedded status; strict: status must be valid at the validation "
        "time (as pyHanko's AdES validator).",
    ),
    crl: list[Path] = typer.Option(
        [], help="CRLs (DER/PEM) of the signers' CAs: the revocation check of GB/T 38540 files."
    ),
    jobs: int = typer.Option(
        0,
        "--jobs",
        "-j",
        help="Worker processes for the PAdES files of a many-file call: 0 (the default) uses "
        "every core from 8 PAdES files on, 1 verifies in this process. Same reports either way.",
    ),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Verify every signature, each at the time its timestamps prove.

    A PDF with GB/T 38540 seal signatures and an OFD are judged by GB/T 38540's procedure;
    list the root and the issuing CA as --trust (its checks go one step).

    Exit 0: every signature VALID; 1: INVALID or INDETERMINATE; 2 (or another code of the
    README's table): the verification could not be done — an unreadable file or trust anchor,
    a report that cannot be written — with a message naming the field.
    Without a platform in the data directory, --trust ROOT.pem is enough and nothing is
    created on disk. With several files: one line each (a JSON list with --json), progress on
    a terminal's stderr, and the exit code of the worst file (2 > 1 > 0); the PAdES files are
    verified by --jobs worker processes."""
    if len(files) > 1:
        _verify_many(files, report, online, trust, at, policy, home, as_json, crl, jobs)
    file = files[0]
    try:
        from yinxin.pdf.jobs import check_jobs  # not batch: an OFD needs no PAdES verifier

        check_jobs(jobs)  # refused alike with one file or many
        check_policy(policy)  # so is --policy: beside one OFD it was not looked at
        data = read_input(file, "in")
        extra = _trust_anchors(trust)
        moment = _moment(at)
        # read whatever the file turns out to be, as with many files: a missing or malformed
        # --crl beside a PAdES file was ignored (exit 0) and refused beside two of them
        crls = _crls(crl)
        if report is not None:
            writable(report, "report")  # refused before the work, not after
            # over the file verified it would replace the signed document with its report
            not_the_input(report, file, "report", "the file verified")
            # nor over a --trust anchor or a --crl read for it (root.pem replaced by the PDF)
            for anchor in trust:
                not_the_input(report, anchor, "report", "a --trust anchor")
            for one in crl:
                not_the_input(report, one, "report", "a --crl file")
        from yinxin.seals.documents import PADES, document_kind, neither_refused

        neither_refused(data, "pdf")
        kind = document_kind(data)
        if kind != PADES:
            verify_seal = _seal_verifier(home, extra)
            rep = verify_seal(data, file.name, moment, kind, crls)
        elif platform_here(home):
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
            raise _no_anchor()
        if report is not None:
            from yinxin.pdf.report import render_report_pdf

            write_atomic(report, render_report_pdf(rep), "report")
    except YinxinError as e:
        _fail(e, as_json)
    sys.stdout.write((rep.to_json() if as_json else rep.to_text()) + "\n")
    raise typer.Exit(0 if rep.valid else 1)


# yinxin.pdf.verify.POLICIES, not imported from there: an OFD or a GB/T 38540 file needs no
# pyHanko (a test holds the two equal)
POLICIES = ("last-known", "strict")


def check_policy(policy: str) -> None:
    """``--policy`` refused, as the PAdES verifier refuses it, whatever the files are: with one
    OFD or GB/T 38540 file ``--policy strcit`` was never looked at (the verdict printed, exit
    0 or 1), while beside two files or a PAdES PDF it was refused."""
    if policy not in POLICIES:
        raise ValidationError(f"policy must be one of {', '.join(POLICIES)}", field="policy")


def _error_code(e: YinxinError) -> int:
    """An error's exit code, never 1: 1 is the INVALID verdict and an error must never be
    mistaken for it."""
    return 2 if e.exit_code == 1 else e.exit_code


def _fail(e: YinxinError, as_json: bool) -> NoReturn:
    """Show the error (naming its field) and exit with :func:`_error_code`."""
    show_error(e, as_json)
    raise typer.Exit(_error_code(e)) from None


def _seal_verifier(home: Path | None, extra: list):
    """GB/T 38540's procedure for every seal-signed file of one call, as
    ``verify(data, name, moment, kind, crls)``. The trust (DER) is ``--trust`` and, where a
    platform is, its root and issuing CA (the checks go one step, so both are listed, as
    ``yinxin ofd verify --platform``); there, the seals are also looked up in it (a seal
    revoked there before the signing makes the signature INVALID). The platform is built once
    here, not once per file."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from yinxin.seals.documents import OFD, SES_PDF, verify_seal_document

    here = platform(home) if platform_here(home) else None
    extra_der = [c.public_bytes(Encoding.DER) for c in extra]
    trust = (here.ofd_signing.trust() if here is not None else []) + extra_der
    if not trust:
        raise _no_anchor()

    def verify(data: bytes, name: str, moment, kind: str, crls: list[bytes] | None):
        if here is not None and kind == SES_PDF:
            return here.ses_pdf_signing.verify(
                data, extra_trust=extra_der, crls=crls or (), file_name=name, at=moment
            )
        if here is not None and kind == OFD:
            return here.ofd_signing.verify_file(
                data, extra_trust=extra_der, crls=crls or (), file_name=name, at=moment
            )
        return verify_seal_document(
            data, trust=trust, crls=crls, at=moment, file_name=name, kind=kind
        )

    return verify


def _crls(paths: list[Path]) -> list[bytes] | None:
    """``--crl``: each file a CRL (DER or PEM), or exit 2 naming ``crl``."""

    return [read_crl(path) for path in paths] or None


def _no_anchor() -> ValidationError:
    return ValidationError(
        "no trust anchor: give --trust ROOT.pem (or run where the platform's CA is initialised)",
        field="trust",
    )


def _roots(home: Path | None, extra: list) -> list:
    """The trust anchors of a batch: the platform's root where there is one (as the service
    uses for one file), then ``--trust``."""
    roots = list(extra)
    if platform_here(home):
        from yinxin.errors import NotFound

        try:
            roots.insert(0, platform(home).ca.certificate("root"))
        except NotFound:
            pass
    if not roots:
        raise _no_anchor()
    return roots


def _verify_many(
    files: list[Path],
    report: Path | None,
    online: bool,
    trust: list[Path],
    at: str | None,
    policy: str,
    home: Path | None,
    as_json: bool,
    crl: list[Path],
    jobs: int,
) -> None:
    """Many files with one :class:`yinxin.pdf.batch.Verifier`; exits with the worst code.

    With more than one job (``--jobs``, or automatic from 8 PAdES files on), a first pass reads
    each file to tell PAdES from the rest; the PAdES files (by path: each worker reads its
    own) go to the verifier's process pool, the others are verified here, and each line is
    printed in file order as soon as the files before it are done."""
    import json

    try:
        from yinxin.pdf.batch import resolve_jobs

        # a bad --jobs is refused before any work; 1 (asked, or automatic with too few files
        # or one core) means no first pass: nothing is read twice
        pooled = resolve_jobs(jobs, len(files)) > 1
        if report is not None:
            raise ValidationError("--report takes a single FILE", field="report")
        extra = _trust_anchors(trust)
        moment = _moment(at)
        roots = _roots(home, extra)
        crls = _crls(crl)
        from yinxin.pdf.batch import Verifier

        verifier = Verifier(
            roots, at=moment, policy=policy, allow_fetching=online, ocsp_urls_allowed=online
        )
    except YinxinError as e:
        _fail(e, as_json)

    tty = sys.stderr.isatty()
    total = len(files)

    def progress(i: int, result) -> None:
        if not as_json:
            sys.stdout.write(_line(result) + "\n")
            sys.stdout.flush()
        if tty:
            sys.stderr.write(f"\r{i + 1}/{total} {result.file_name[:60]:<60}")
            if i + 1 == total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    results = []
    verify_seal = None
    from yinxin.pdf.batch import BatchResult, _load
    from yinxin.seals.documents import PADES, document_kind, neither_refused

    items = _named(files)

    def one(i: int) -> None:
        """A file in this process, as it always was: read, judge by content, verify. A file
        neither PDF nor OFD is said to be that, as of one file alone (not "not a PDF")."""
        nonlocal verify_seal
        name, data, error = _load(items[i], i)
        if error is None:
            try:
                neither_refused(data, "pdf")
            except ValidationError as e:
                error = e
        if error is not None:
            result = BatchResult(name, None, error)
        elif (kind := document_kind(data)) != PADES:
            try:
                if verify_seal is None:  # the first seal-signed file: built once for all
                    verify_seal = _seal_verifier(home, extra)
                result = BatchResult(name, verify_seal(data, name, moment, kind, crls))
            except ValidationError as e:
                result = BatchResult(name, None, e)
        else:
            (result,) = verifier.verify_many([(name, data)])
        results.append(result)
        progress(i, result)

    pades = _pades_files(files) if pooled else []
    workers = resolve_jobs(jobs, len(pades))  # automatic counts the PAdES files only
    if workers <= 1:
        for i in range(total):
            one(i)
    else:

        def arrived(j: int, result) -> None:
            for i in range(len(results), pades[j]):  # the files before it, here
                one(i)
            results.append(result)
            progress(pades[j], result)

        try:
            verifier.verify_many([items[i] for i in pades], progress=arrived, jobs=workers)
        except YinxinError as e:  # a worker died: no half list
            _fail(e, as_json)
        for i in range(len(results), total):
            one(i)
    worst = 0
    for r in results:
        if r.error is not None:
            code = _error_code(r.error)
        else:
            code = 0 if r.report.valid else 1
        worst = max(worst, code)
    if as_json:
        out = [
            r.report.to_dict()
            if r.report is not None
            else {"file_name": r.file_name, **r.error.to_dict()}
            for r in results
        ]
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
    else:
        valid = sum(1 for r in results if r.report is not None and r.report.valid)
        unsure = sum(1 for r in results if _indeterminate(r.report))
        more = f"，{unsure} 无法确定 / indeterminate" if unsure else ""
        sys.stdout.write(f"{valid}/{total} 有效 / valid{more}\n")
    raise typer.Exit(worst)


def _named(files: list[Path]) -> list[tuple[str, Path]]:
    """Each file with the name its line and report show: its name, or the path as typed when
    another file of the call has the same name (``2023/contract.pdf 2024/contract.pdf`` were
    two lines both reading contract.pdf)."""
    from collections import Counter

    counts = Counter(path.name for path in files)
    return [(str(path) if counts[path.name] > 1 else path.name, path) for path in files]


def _indeterminate(rep) -> bool:
    """Not shown valid, and not shown invalid either (the report's ``indication``: PAdES, GB/T
    38540 PDF and OFD reports all carry one)."""
    return str(getattr(rep, "indication", "")) == "INDETERMINATE"


def _pades_files(files: list[Path]) -> list[int]:
    """The indexes of the files to hand to worker processes: readable PAdES PDFs. A file
    unreadable, too large, or neither PDF nor OFD stays in this process, which reports it as
    it always did (``document_kind`` calls the last PAdES: the worker said "not a PDF")."""
    from yinxin.pdf.batch import MAX_FILE, read_bounded
    from yinxin.seals.documents import PADES, document_kind, is_neither

    out = []
    for i, path in enumerate(files):
        try:
            data = read_bounded(path)
        except OSError:
            continue
        if len(data) <= MAX_FILE and not is_neither(data) and document_kind(data) == PADES:
            out.append(i)
    return out


def _line(result) -> str:
    """One line per file: verdict, name, signatures, and the first problem if any; the file's
    name and the document's text cannot add or hide a line (:func:`yinxin.identity.shown`)."""
    from yinxin.identity import shown

    if result.error is not None:
        return shown(f"{'ERROR':<13} {result.file_name}: {result.error.message}")
    from yinxin.seals.documents import summary

    rep = result.report
    count, problems = summary(rep)
    head = "VALID" if rep.valid else "INDETERMINATE" if _indeterminate(rep) else "INVALID"
    kind = getattr(rep, "kind", "pdf")
    # the names start in one column, whatever the verdict (INDETERMINATE is the longest)
    line = f"{head:<13} {result.file_name} ({count} signature{'' if count == 1 else 's'}" + (
        f", {kind})" if kind != "pdf" else ")"
    )
    return shown(line + (f": {problems[0]}" if problems and not rep.valid else ""))
