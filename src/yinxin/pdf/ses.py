"""GB/T 38540 electronic seal signatures (``SES_Signature`` v4) inside PDF: write and judge.

No standard fixes how a GB/T 38540 signature sits in a PDF. The Chinese implementations
(iText's ``signExternalContainer`` with a container that returns the DER ``SES_Signature``)
all do the same thing: an ordinary signature dictionary in an incremental update, with a
signature field and a widget showing the seal, ``/Contents`` holding the DER ``SES_Signature``
instead of a CMS, and ``dataHash`` = SM3 over the ``/ByteRange`` bytes. We write exactly that.

**/Filter and /SubFilter.** We write ``/Filter /Adobe.PPKLite /SubFilter /GBT38540.SES``.
``/Adobe.PPKLite`` is the handler every reader has, so the field is shown and listed as a
signature; the dedicated ``/SubFilter`` tells a PAdES/CMS validator (Acrobat, poppler's
``pdfsig``, pyHanko) that it does not know this format, so it reports the signature as
unsupported or unreadable rather than as a forged CMS ("invalid"), which is what it would
conclude from ``/adbe.pkcs7.detached`` wrapped around bytes that are not a CMS. The many
files written by those Chinese tools with ``/SubFilter /adbe.pkcs7.detached`` and an
``SES_Signature`` in ``/Contents`` are read too: the content decides (a CMS ``ContentInfo``
begins with its content-type OID, an ``SES_Signature`` with the ``TBS_Sign`` sequence).

This module knows PDF only, as ``yinxin.ofd`` knows OFD only: the value is made and judged
through two small protocols (``SesValueMaker``, ``SesValueChecker``) that
``yinxin.seals.ses_signature.SesPdfSigner`` / ``check_pdf_value`` implement, so a relying
party runs it without a platform, and no SM2 code lives here.

Verification per signature: the ``/ByteRange`` is the standard ``[0 a b c]``, its gap is
exactly ``/Contents`` and it ends where a revision ends (coverage, as pyHanko judges CMS
signatures); the value's GB/T 38540 checks with the data = the ``/ByteRange`` bytes (seal,
maker, signer certificate in the seal's list, signature, timestamp, ``dataHash``); then every
later revision through pyHanko's difference analysis (a later signature, form filling, DSS or
metadata are "allowed", anything else — edited page content, a new annotation — is "other"
and makes the signature invalid). Revisions after the last signature are reported by number.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.reader import PdfFileReader, process_data_at_eof

from yinxin.indication import Indication, from_checks, worst
from yinxin.pdf.fields import OUTSIDE_FORM, signature_fields
from yinxin.pdf.incremental import PageTree, dget
from yinxin.pdf.sign import (
    Placement,
    SealStamp,
    SigningError,
    _field_names,
    _layout,
    _open,
    _pdf_date,
    _pdf_text,
    _Plan,
    _unique,
    _write_revision,
)
from yinxin.pdf.words import CHANGE_WORDS, COVERAGE_WORDS, bilingual

SUBFILTER = "/GBT38540.SES"
# what the Chinese iText-based tools write around the same DER
FOREIGN_SUBFILTERS = ("/adbe.pkcs7.detached",)
RESERVE = 16384  # bytes of /Contents for seal (picture included), certificate and timestamp


class SesValueMaker(Protocol):
    """Makes the DER ``SES_Signature`` for an SM3 digest of the ``/ByteRange`` bytes."""

    @property
    def stamp(self) -> SealStamp: ...

    @property
    def signer_name(self) -> str: ...

    @property
    def seal(self) -> bytes: ...

    def sign_digest(self, data_hash: bytes, property_info: str) -> bytes: ...


class ValueVerdict(Protocol):
    valid: bool

    def to_dict(self) -> dict: ...


# (DER SES_Signature, the /ByteRange bytes) -> the GB/T 38540 verdict
SesValueChecker = Callable[[bytes, bytes], ValueVerdict]


@dataclass(frozen=True)
class SignedSesPdf:
    data: bytes
    field_name: str
    page: int  # 1-based
    rect: tuple[float, float, float, float]  # PDF points, user space


@dataclass(frozen=True)
class _LayoutRequest:
    """What ``yinxin.pdf.sign._layout`` reads of a ``SignRequest``: the same placement rules
    (anchor, page, position, rotation) for both kinds of signature."""

    pdf: bytes
    stamp: SealStamp
    placement: Placement
    cross_page: bool = False


# ------------------------------------------------------------------------------ reading


def der_length(blob: bytes) -> int | None:
    """Length of the DER element at the start of ``blob`` (``/Contents`` is zero-padded)."""
    if len(blob) < 2 or blob[0] != 0x30:
        return None
    first = blob[1]
    if first < 0x80:
        return 2 + first
    n = first & 0x7F
    if not 1 <= n <= 4 or len(blob) < 2 + n:
        return None
    return 2 + n + int.from_bytes(blob[2 : 2 + n], "big")


def contents_kind(contents: bytes) -> str:
    """``"ses"`` (a GB/T 38540 ``SES_Signature``), ``"cms"`` (PKCS#7/CMS, PAdES) or ``"?"``.

    A CMS ``ContentInfo`` is SEQUENCE { OID, [0] … }; an ``SES_Signature`` is SEQUENCE {
    SEQUENCE (TBS_Sign) { INTEGER version, … }, … }."""
    size = der_length(contents)
    if size is None or size > len(contents):
        return "?"
    first = contents[1]
    at = 2 if first < 0x80 else 2 + (first & 0x7F)
    if at >= len(contents):
        return "?"
    tag = contents[at]
    if tag == 0x06:
        return "cms"
    if tag == 0x30:
        return "ses"
    return "?"


@dataclass
class _Field:
    name: str
    sig_ref: generic.IndirectObject
    field_obj: generic.DictionaryObject
    sig: generic.DictionaryObject
    sub_filter: str
    kind: str  # "ses" | "cms" | "?"
    contents: bytes  # raw, padding included
    byte_range: list[int]
    outside_form: bool = False  # found only among a page's annotations


def _fields(reader: PdfFileReader) -> list[_Field]:
    """Every signed signature field, as the PAdES verifier reads them (``yinxin.pdf.fields``):
    the form's, named or not, and those only among a page's annotations, which pyHanko's
    ``enumerate_sig_fields`` skips and a viewer shows — a broken one there is judged too."""
    out = []
    for found in signature_fields(reader):
        name, sig_ref = found.name, found.ref  # the field's, until its /V is read
        try:
            field_obj = found.ref.get_object()
            sig_ref = field_obj.raw_get("/V")
            sig = sig_ref.get_object()
            contents = dget(sig, "/Contents")
            raw = bytes(contents) if isinstance(contents, bytes | bytearray) else b""
            try:
                byte_range = [int(v) for v in dget(sig, "/ByteRange", [])]
            except (TypeError, ValueError):
                byte_range = []
            sub = str(dget(sig, "/SubFilter", ""))
            kind = "cms" if dget(sig, "/Type") == "/DocTimeStamp" else contents_kind(raw)
        except Exception:  # one unreadable dictionary (bad hex…) must not hide the others
            empty = generic.DictionaryObject()
            out.append(
                _Field(name, sig_ref, empty, empty, "", "unreadable", b"", [], found.outside_form)
            )
            continue
        out.append(
            _Field(name, sig_ref, field_obj, sig, sub, kind, raw, byte_range, found.outside_form)
        )
    return out


def signature_kinds(pdf: bytes) -> set[str]:
    """The kinds of signature in a PDF (``"ses"``, ``"cms"``); empty for an unsigned or
    unreadable file. Cheap enough to route a file (``yinxin verify``) before judging it."""
    try:
        reader = PdfFileReader(io.BytesIO(bytes(pdf)), strict=False)
        return {f.kind for f in _fields(reader)}
    except Exception:  # untrusted input: an unreadable file routes to the PAdES path's refusal
        return set()


# ------------------------------------------------------------------------------ coverage


def _coverage(reader: PdfFileReader, f: _Field, size: int, pdf: bytes) -> tuple[str, int]:
    """("entire_file" | "entire_revision" | "contiguous_block_from_start" | "unclear",
    signed revision) — pyHanko's coverage rules for CMS signatures, applied to ours."""
    revision = reader.xrefs.get_last_change(f.sig_ref.reference)
    br = f.byte_range
    if len(br) != 4 or br[0] != 0 or min(br) < 0:
        return "unclear", revision
    _, len1, start2, len2 = br
    gap = len(f.contents) * 2 + 2
    if start2 != len1 + gap or pdf[len1 : len1 + 1] != b"<" or pdf[start2 - 1 : start2] != b">":
        return "unclear", revision
    end = start2 + len2
    if end > size:
        return "unclear", revision
    if end == size:
        return "entire_file", revision
    stream = io.BytesIO(pdf)  # read backwards from ``end``, as pyHanko does
    try:
        stream.seek(end)
        if process_data_at_eof(stream) != reader.xrefs.get_startxref_for_revision(revision):
            return "contiguous_block_from_start", revision
    except (misc.PdfReadError, ValueError):
        return "contiguous_block_from_start", revision
    for rev in range(revision + 1):
        if reader.xrefs.get_xref_container_info(rev).end_location > end:
            return "contiguous_block_from_start", revision
    return "entire_revision", revision


def _changes_after(reader: PdfFileReader, revision: int, coverage: str) -> tuple[str, str]:
    """("none" | "allowed" | "other", why) for the revisions after ``revision``."""
    if coverage == "entire_file":
        return "none", ""
    if coverage != "entire_revision":
        return "other", "the signature does not cover a whole revision"
    from pyhanko.sign.diff_analysis import (
        DEFAULT_DIFF_POLICY,
        ModificationLevel,
        SuspiciousModification,
    )

    try:
        result = DEFAULT_DIFF_POLICY.review_file(reader, revision)
    except Exception as exc:  # a hostile later revision is a verdict, not a crash
        return "other", f"the later revisions cannot be compared ({type(exc).__name__})"
    if isinstance(result, SuspiciousModification):
        return "other", str(result)
    if result.modification_level == ModificationLevel.OTHER:
        return "other", "content changed (not a signature, form filling or metadata)"
    return "allowed", result.modification_level.name.lower()


# ------------------------------------------------------------------------------ signing


def _existing(reader: PdfFileReader, pdf: bytes, check: SesValueChecker | None) -> list[_Field]:
    """Refuse what a further seal signature cannot be added to: a PAdES/CMS-signed document
    (our verifier judges one kind per file), a signature whose bytes were changed or that no
    longer covers its revision, or content changed after it."""
    try:
        fields = _fields(reader)
    except Exception as exc:
        raise SigningError(
            f"an existing signature cannot be read ({exc})", field="pdf", code="broken_signature"
        ) from None
    for f in fields:
        if f.kind == "unreadable":
            raise SigningError(
                f"signature {f.name!r} cannot be read; refusing to add a signature after it",
                field="pdf",
                code="broken_signature",
            )
        if f.kind != "ses":
            raise SigningError(
                f"signature {f.name!r} is not a GB/T 38540 seal signature (a PAdES/CMS one); "
                "a document takes one kind of signature here",
                field="pdf",
                code="mixed_signatures",
            )
        coverage, revision = _coverage(reader, f, len(pdf), pdf)
        changes, _why = _changes_after(reader, revision, coverage)
        intact = coverage in ("entire_file", "entire_revision") and changes != "other"
        if intact and check is not None:
            der = f.contents[: der_length(f.contents) or 0]
            verdict = check(der, _signed_bytes(pdf, f.byte_range)).to_dict()
            oks = {c["name"]: c["ok"] for c in verdict.get("checks", [])}
            intact = oks.get("signature") is True and oks.get("document_hash") is True
        if not intact:
            raise SigningError(
                f"existing signature {f.name!r} does not match the document: it was altered "
                "after signing; refusing to add a signature to it",
                field="pdf",
                code="broken_signature",
            )
    return fields


def check_existing(pdf: bytes, check: SesValueChecker | None = None) -> None:
    """Refuse, as ``sign_ses_pdf`` would and before anything is signed, a document that takes
    no further seal signature: a PAdES/CMS-signed one (``mixed_signatures``), or one whose
    earlier seal signature was altered or no longer covers it (``broken_signature``; ``check``
    tests its bytes). No key plays a part, so a platform asks this before a code is sent."""
    reader, _pages = _open(pdf)
    _existing(reader, bytes(pdf), check)


def sign_ses_pdf(
    pdf: bytes,
    maker: SesValueMaker,
    *,
    placement: Placement,
    when: dt.datetime,
    role: str | None = None,
    field_name: str | None = None,
    check_existing: SesValueChecker | None = None,
    sub_filter: str = SUBFILTER,
) -> SignedSesPdf:
    """One GB/T 38540 seal signature more on ``pdf``, in one incremental update.

    The seal's picture is shown at the seal's own size (GB/T 38540 records it in mm), placed
    as ``yinxin sign pdf`` places a seal (anchor text, or page and position); ``check_existing``
    (the verifier's checker) lets earlier signatures be tested for their bytes before one is
    added after them. Refusals raise ``SigningError`` naming the field, before anything is
    signed. ``sub_filter`` is ours unless a test writes a file the way the iText-based tools do
    (``/adbe.pkcs7.detached``).
    """
    if sub_filter not in (SUBFILTER, *FOREIGN_SUBFILTERS):
        raise SigningError(f"/SubFilter {sub_filter} is not written here", field="sub_filter")
    reader, pages = _open(pdf)
    _existing(reader, bytes(pdf), check_existing)
    names = _field_names(reader)
    name = field_name or _unique("SES", names)
    if name in names:
        raise SigningError(f"the document already has a field named {name!r}", field="field_name")
    if not name.isascii() or "." in name or not 0 < len(name) <= 64:
        raise SigningError(
            "field_name must be 1–64 ASCII characters without '.'", field="field_name"
        )
    stamp = maker.stamp
    if not (stamp.width_mm > 0 and stamp.height_mm > 0):
        raise SigningError("the seal's picture has no size", field="seal")
    placement = replace(placement, width_mm=stamp.width_mm)
    widgets, image = _layout(_LayoutRequest(bytes(pdf), stamp, placement), pages)  # type: ignore[arg-type]
    parts = [
        b"/Type /Sig /Filter /Adobe.PPKLite /SubFilter " + sub_filter.encode(),
        b"/M " + _pdf_date(when),
        b"/Name " + _pdf_text(maker.signer_name),
        b"/Reason " + _pdf_text(f"{role}签章" if role else "电子签章 GB/T 38540"),
        b"/Prop_Build <</App <</Name /Yinxin>>>>",
        b"/Yinxin <</SealName "
        + _pdf_text(stamp.name)
        + b" /SealKind "
        + _pdf_text(stamp.kind)
        + (b" /Role " + _pdf_text(role) if role else b"")
        + b">>",
    ]
    plan = _Plan(
        sig_dict=b" ".join(parts),
        widgets=widgets,
        field_name=name,
        image=image,
        pades_catalog=False,
        reserve=len(maker.seal) + RESERVE,
        hash_name="sm3",
    )
    out = _write_revision(bytes(pdf), reader, plan, lambda digest: maker.sign_digest(digest, name))
    spec = widgets[0]
    return SignedSesPdf(out, name, spec.page.index + 1, tuple(spec.rect))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ verifying


def _signed_bytes(pdf: bytes, byte_range: list[int]) -> bytes:
    _, len1, start2, len2 = byte_range
    return pdf[:len1] + pdf[start2 : start2 + len2]


@dataclass
class SesPdfSignature:
    """One seal signature's verdict and the facts behind it (flat, JSON-friendly)."""

    field_name: str
    sub_filter: str
    revision: int  # 0-based revision the signature was added in
    byte_range: list[int]
    coverage: str
    changes_after: str  # "none" | "allowed" | "other"
    page: int | None
    rect: list[float] | None
    valid: bool
    problems: list[str] = field(default_factory=list)
    value: dict[str, Any] = field(default_factory=dict)

    @property
    def indication(self) -> Indication:
        """``TOTAL-FAILED`` for a problem of the PDF's (coverage, changes after, sub-filter, a
        revoked seal), no value, or a check of the value failed for good; ``INDETERMINATE``
        when only mendable checks failed (``yinxin.indication``)."""
        failed = bool(self.problems) or not self.value
        return from_checks(self.valid, self.value.get("checks", ()), failed=failed)


@dataclass
class SesPdfReport:
    """Every signature of a PDF sealed the GB/T 38540 way; ``kind`` tells ``yinxin verify``'s
    readers which report they hold."""

    file_name: str
    sha256: str
    signatures: list[SesPdfSignature]
    valid: bool
    verified_at: dt.datetime
    revisions: int
    unsigned_revisions: list[int] = field(default_factory=list)  # after the last signature
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kind: str = "pdf-ses"

    @property
    def indication(self) -> Indication:
        """``TOTAL-FAILED`` if a signature's is or the PDF has none; ``TOTAL-PASSED`` when
        valid; else ``INDETERMINATE``."""
        return worst(
            self.valid,
            (s.indication for s in self.signatures),
            failed=not self.signatures or bool(self.problems),
        )

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["verified_at"] = self.verified_at.isoformat()
        for sig, one in zip(self.signatures, out["signatures"], strict=True):
            one["indication"] = str(sig.indication)
        out["indication"] = str(self.indication)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, default=str)

    def to_text(self) -> str:
        lines = [f"文件 / file: {self.file_name} (GB/T 38540 电子签章 / seal signatures in PDF)"]
        from yinxin.ofd.verify import report_text, signature_lines

        for s in self.signatures:
            where = [f"  印章位置 / stamp: 第 {s.page} 页 / page {s.page}"] if s.page else []
            where.append(
                f"  覆盖范围 / coverage: {bilingual(COVERAGE_WORDS, s.coverage)}; "
                f"之后的修改 / changes after: {bilingual(CHANGE_WORDS, s.changes_after)}"
            )
            # the revision it signs in both languages, as the rest of the title and an OFD's
            n = s.revision + 1
            title = f"签名 / signature {s.field_name} ({s.sub_filter}, 第 {n} 版 / revision {n})"
            lines += signature_lines(title, s.indication, s.value, where, s.problems)
        for p in self.problems:
            lines.append(f"! {p}")
        for n in self.notes:
            lines.append(f"  {n}")
        return report_text(lines, self.indication)


def _widget_page(reader: PdfFileReader, f: _Field) -> tuple[int | None, list[float] | None]:
    widget = f.field_obj
    kids = dget(widget, "/Kids")
    if "/Rect" not in widget and isinstance(kids, list) and kids:
        widget = kids[0].get_object()
    try:
        rect = [float(v) for v in dget(widget, "/Rect", [])]
        page_ref = widget.raw_get("/P") if "/P" in widget else None
        if page_ref is None:
            return None, rect or None
        for page in PageTree(reader):
            if page.ref == page_ref.reference:
                return page.index + 1, rect or None
    except Exception:  # a page tree that no longer parses: the stamp's page is not known
        pass
    return None, None


def _not_judged(
    f: _Field,
    problem: str,
    *,
    readable: bool = True,
    page: int | None = None,
    rect: list[float] | None = None,
) -> SesPdfSignature:
    """A signature that gets no verdict of its own (unreadable dictionary, another kind of
    signature, an error while judging it): invalid, coverage unclear, changes "other". An
    unreadable dictionary has no sub-filter or byte range to show."""
    return SesPdfSignature(
        f.name,
        f.sub_filter if readable else "",
        -1,
        f.byte_range if readable else [],
        "unclear",
        "other",
        page,
        rect,
        False,
        [problem],
    )


def _judge(
    reader: PdfFileReader, f: _Field, pdf: bytes, check_value: SesValueChecker
) -> SesPdfSignature:
    """One signature: coverage, later revisions, and the value's GB/T 38540 checks."""
    page, rect = _widget_page(reader, f)
    if f.kind == "unreadable":
        return _not_judged(
            f, "签名字典无法读取 / the signature dictionary cannot be read", readable=False
        )
    if f.kind != "ses":
        return _not_judged(
            f,
            "不是 GB/T 38540 电子签章 (PAdES/CMS) / not a GB/T 38540 seal signature: a "
            "document mixing both kinds is not verified here",
            page=page,
            rect=rect,
        )
    coverage, revision = _coverage(reader, f, len(pdf), pdf)
    changes, why = _changes_after(reader, revision, coverage)
    problems: list[str] = []
    if coverage not in ("entire_file", "entire_revision"):
        problems.append(
            f"签名范围异常 / the /ByteRange does not cover its whole revision ({coverage})"
        )
    if changes == "other":
        problems.append(f"签名后文档被修改 / the document was changed after signing: {why}")
    value: dict[str, Any] = {}
    value_ok = False
    if len(f.byte_range) == 4 and coverage != "unclear":
        der = f.contents[: der_length(f.contents) or 0]
        verdict = check_value(der, _signed_bytes(pdf, f.byte_range))
        value, value_ok = verdict.to_dict(), bool(verdict.valid)
    if f.sub_filter not in (SUBFILTER, *FOREIGN_SUBFILTERS):
        problems.append(f"/SubFilter {f.sub_filter} is not one this reader accepts")
    return SesPdfSignature(
        field_name=f.name,
        sub_filter=f.sub_filter,
        revision=revision,
        byte_range=f.byte_range,
        coverage=coverage,
        changes_after=changes,
        page=page,
        rect=rect,
        valid=value_ok and not problems,
        problems=problems,
        value=value,
    )


def verify_ses_pdf(
    pdf: bytes,
    check_value: SesValueChecker,
    *,
    file_name: str = "document.pdf",
    at: dt.datetime | None = None,
) -> SesPdfReport:
    """Judge every seal signature of ``pdf``; raises ``ValidationError(field="pdf")`` only for
    a file that is not a readable PDF (as ``verify_pdf``), every other problem is reported."""
    from yinxin.clock import asked_moment
    from yinxin.pdf.verify import NO_SIGNATURES, _fields_unreadable, _open_reader

    pdf = bytes(pdf)
    # a naive ``at`` was read as the machine's local time here (``astimezone``), as UTC by
    # the PAdES verifier: refused naming ``at`` by both
    at = asked_moment(at)
    verified_at = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    reader = _open_reader(pdf)
    try:
        fields = _fields(reader)
        total = reader.xrefs.total_revisions
    except Exception as exc:
        raise _fields_unreadable(exc) from None
    report = SesPdfReport(
        file_name=file_name,
        sha256=hashlib.sha256(pdf).hexdigest(),
        signatures=[],
        valid=False,
        verified_at=verified_at,
        revisions=total,
    )
    if not fields:
        report.problems.append(NO_SIGNATURES)
        return report
    for f in fields:
        try:
            report.signatures.append(_judge(reader, f, pdf, check_value))
        except Exception as exc:  # one hostile signature must not hide the others
            report.signatures.append(
                _not_judged(
                    f, f"无法处理该签名 / the signature cannot be processed ({type(exc).__name__})"
                )
            )
    report.notes += [f"{f.name}: {OUTSIDE_FORM}" for f in fields if f.outside_form]
    last = max((s.revision for s in report.signatures), default=-1)
    report.signatures.sort(key=lambda s: s.revision)
    if last >= 0:
        report.unsigned_revisions = [r + 1 for r in range(last + 1, total)]
        if report.unsigned_revisions:
            report.notes.append(
                "最后签名之后的修订未被签名 / revision(s) after the last signature, covered by "
                f"no signature: {', '.join(map(str, report.unsigned_revisions))}"
            )
    report.valid = (
        bool(report.signatures) and all(s.valid for s in report.signatures) and not report.problems
    )
    return report


__all__ = [
    "FOREIGN_SUBFILTERS",
    "SUBFILTER",
    "SesPdfReport",
    "SesPdfSignature",
    "SesValueChecker",
    "SesValueMaker",
    "SignedSesPdf",
    "contents_kind",
    "der_length",
    "sign_ses_pdf",
    "signature_kinds",
    "verify_ses_pdf",
]
