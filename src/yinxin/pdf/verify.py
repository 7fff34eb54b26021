"""Verify the signatures in a PDF the way any relying party can: from the file and trust roots.

Everything a verdict needs is taken from the document itself (the CMS signatures, their
timestamps, the DSS and Adobe-style revocation archives) plus the trust roots the caller names,
so the same result comes out on a machine with no network and no access to our database. Only
when the caller asks (``allow_fetching``) may pyHanko fetch CRLs over HTTP; OCSP responders are
contacted only with ``ocsp_urls_allowed`` as well, because an OCSP query tells the responder
which certificate, and so which document, is being checked — a CRL download does not.

The cryptography, path building, revocation and difference analysis are pyHanko's
(``async_validate_pdf_signature`` with the default diff policy, whose verdict on the plain
DSS-only revision after the last signature ``dss_tail`` gives without the full run, deferring
to it for anything else); this module decides *which*
validation time and revocation data to feed it and turns its status objects into one flat,
JSON-friendly report with Chinese and English reasons. Choices, each for a reason:

* **Validation in the past tense** (ETSI EN 319 102-1 §5.6.2, simplified). Every timestamp in
  the file is a proof of existence (POE). The newest timestamp is judged at the validation time
  (``at``, or now); each older document timestamp at the time of the next one that covers it; a
  signature's own timestamp at the time of the first valid document timestamp after it (or at
  the validation time if there is none); and the signer's certificate at its timestamp's time.
  So a signer certificate that expired, an issuing CA that expired, or a TSA certificate that
  expired after a later archive timestamp was added do not matter; revocation data produced
  after the moment judged is accepted (``retroactive_revinfo``), because a later "good" still
  proves "not revoked then" and a later "revoked since X" carries its own date. Without a valid
  timestamp the claimed signing time proves nothing, so the certificate is checked at the
  validation time. Only what existed at the validation time is evidence: a document timestamp
  made after it (``at`` between a renewed file's archive timestamps) is left out, whichever TSA
  certificate signed it, and so are the DSS's OCSP responses and CRLs made after it; each
  signature notes it. (A signature's own later timestamp is reported instead: the signature
  did not exist yet.)
* **Policy for the newest timestamp.** Nothing later vouches for it, so its TSA certificate must
  chain to a trusted root and be within its validity period at the validation time.
  ``policy="last-known"`` (the default) accepts the status data embedded for its chain however
  old, if it shows the certificates good (as Adobe Reader does for LTV files); the report notes
  the age. ``policy="strict"`` asks, as pyHanko's AdES validator does, for status data still
  within its validity (nextUpdate) at the validation time, embedded or fetched.
* **Revocation is soft-fail.** A B-B/B-T signature without revocation data still verifies (as
  in Adobe Reader and pyHanko's default); the report then says ``revocation_source="none"`` and
  ``revoked=None`` so a caller that requires B-LT can refuse it.
* **Changes after signing** come from pyHanko's difference analysis: DSS/document timestamps,
  later signatures and form filling are "allowed"; anything else (a new page, a comment, an
  edited object) is "other" and makes the signature invalid.
* **After a lock nothing but DSS and document timestamps.** pyHanko counts edits of ``/Info``
  and the XMP metadata as LTA updates, allowed even by a certification signature with DocMDP
  P=1. Once a signature locked the document (DocMDP P=1, or a FieldMDP or field lock with
  P=1 — the last signer's lock), we check every later revision again with a policy that knows
  only DSS, document timestamps and the cross-reference/object streams they come in; anything
  else makes the locking signature, and every signature before it, "other" and invalid.

Which signatures: those of the form (/AcroForm /Fields, as pyHanko reads them), signed
signature fields without a name (/T) there, which pyHanko skips, and any signed signature widget
found only among a page's annotations — poppler (``pdfsig``) lists all three; a broken
signature a viewer shows cannot hide from the verdict where pyHanko does not look. The walk
is ``yinxin.pdf.fields``, shared with the seal-signature reader and the signers.

Seal and role. A signature dictionary made by Yinxin carries a ``/Yinxin`` dictionary with
text entries ``/SealName``, ``/SealKind`` and ``/Role`` (e.g. 合同专用章, contract, 甲方). For
documents signed elsewhere we fall back to keys whose names mention a seal or role and to
"角色: …" / "印章: …" fragments in ``/Reason``; if nothing is there the fields stay ``None``.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import datetime as dt
import functools
import hashlib
import itertools
import json
import logging
import re
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any, ParamSpec, TypeVar

from asn1crypto import crl as a_crl
from asn1crypto import ocsp as a_ocsp
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESIndeterminate
from pyhanko.sign.diff_analysis import (
    CatalogModificationRule,
    DiffResult,
    DSSCompareRule,
    FormUpdatingRule,
    ModificationLevel,
    ObjectStreamRule,
    SigFieldCreationRule,
    SigFieldModificationRule,
    StandardDiffPolicy,
    SuspiciousModification,
    XrefStreamRule,
)
from pyhanko.sign.fields import FieldMDPAction, FieldMDPSpec, MDPPerm
from pyhanko.sign.general import find_unique_cms_attribute
from pyhanko.sign.validation import (
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.authority import AuthorityWithCert
from pyhanko_certvalidator.errors import OCSPFetchError
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.fetchers.api import FetcherBackend, Fetchers, OCSPFetcher
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    DisallowWeakAlgorithmsPolicy,
    FreshnessReqType,
    RevocationCheckingPolicy,
)
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.revinfo import validate_ocsp as _validate_ocsp
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_VALIDATION_CONTEXT,
    DefaultSignatureValidator,
    SignatureValidator,
)

from yinxin.clock import asked_moment
from yinxin.errors import ValidationError
from yinxin.identity import serial_hex, shown
from yinxin.indication import (
    SIGNATURE_VERDICT_TEXT,
    VERDICT_TEXT,
    Indication,
    indication,
    worst,
)
from yinxin.pdf import accel, names
from yinxin.pdf.dss_tail import DIFF_POLICY
from yinxin.pdf.fields import OUTSIDE_FORM, locks_document, signature_fields
from yinxin.pdf.words import (
    CHANGE_WORDS,
    COVERAGE_WORDS,
    REVOCATION_SOURCE_WORDS,
    bilingual,
)

logger = logging.getLogger(__name__)
# pyHanko logs every untrusted certificate or suspicious update it meets with a traceback at
# WARNING/ERROR. For a verifier those are verdicts, not faults, and they are in the report; keep
# them off the terminal of an unconfigured program (configured handlers still receive them).
for _name in ("pyhanko", "pyhanko_certvalidator"):
    logging.getLogger(_name).addHandler(logging.NullHandler())
names.install()  # a certificate naming a character newer than Unicode 3.2 can chain

DER = serialization.Encoding.DER
# Certificate validity is compared with the validation time with this much slack, as pyHanko's
# default; clocks of signers, TSAs and CAs are never exactly in step.
TIME_TOLERANCE = dt.timedelta(seconds=1)

NO_SIGNATURES = "文档中没有签名 / no signatures"


POLICIES = ("last-known", "strict")
POLICY_TEXT = {
    "last-known": "按时间戳回溯验证，最新时间戳采用最后已知状态 / past-tense validation at each"
    " timestamp's time; last known status for the newest timestamp",
    "strict": "按时间戳回溯验证，最新时间戳需当前有效的状态信息 / past-tense validation; the"
    " newest timestamp needs status data valid now (ETSI/pyHanko AdES)",
}
# "any age": the last known status of the newest timestamp's chain is accepted (module docstring)
LAST_KNOWN_FRESHNESS = dt.timedelta(days=365 * 200)
_P = ParamSpec("_P")
_R = TypeVar("_R")


@dataclass
class SignatureReport:
    """One signature's verdict with the facts behind it, flat so it serialises as is."""

    field_name: str
    signer_name: str
    signer_subject: str
    certificate_serial: str  # hex
    certificate_issuer: str
    seal_name: str | None
    seal_kind: str | None
    role: str | None
    signing_time: dt.datetime | None  # claimed by the signer (signed attribute or /M)
    timestamp_time: dt.datetime | None
    timestamp_authority: str | None
    timestamp_valid: bool | None
    # the moment the certificate was judged at (the timestamp's time when it holds), and the
    # moment the timestamp itself was judged at (a later archive timestamp's, or verified_at)
    certificate_checked_at: dt.datetime | None
    certificate_valid_at_signing: bool
    revoked: bool | None
    revocation_source: str  # "embedded" | "online" | "none"
    intact: bool
    trusted: bool
    coverage: str  # "entire_file" | "entire_revision" | "contiguous_block_from_start" | "unclear"
    changes_after: str  # "none" | "allowed" | "other"
    level: str | None  # "B-B" | "B-T" | "B-LT" | "B-LTA"
    valid: bool
    timestamp_checked_at: dt.datetime | None = None
    problems: list[str] = field(default_factory=list)
    # remarks that do not make the signature invalid (no timestamp, revocation not checked…)
    notes: list[str] = field(default_factory=list)
    # PASSED exactly when ``valid``; otherwise FAILED or INDETERMINATE (see ``Indication``)
    indication: Indication = Indication.FAILED


@dataclass
class VerificationReport:
    file_name: str
    sha256: str
    signatures: list[SignatureReport]
    valid: bool  # True only if there is at least one signature and every one is valid
    verified_at: dt.datetime
    problems: list[str] = field(default_factory=list)  # about the document as a whole
    document_timestamps: int = 0
    policy: str = "last-known"  # "last-known" | "strict", see the module docstring
    # PASSED exactly when ``valid``; FAILED when a signature failed, the document has none or a
    # document timestamp is broken; else INDETERMINATE (see ``Indication``)
    indication: Indication = Indication.FAILED
    # remarks about the document as a whole that make nothing invalid: the evidence a moment
    # asked about left out. Said once here (the text and PDF reports show it once); each
    # signature's ``notes`` keep their copy for the JSON's existing readers.
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def to_text(self) -> str:
        return _format_text(self)


# ---------------------------------------------------------------------------------------------
# entry points


async def averify_pdf(
    pdf: bytes,
    *,
    trust_roots: list[x509.Certificate],
    file_name: str = "document.pdf",
    allow_fetching: bool = False,
    at: dt.datetime | None = None,
    ocsp_urls_allowed: bool = False,
    policy: str = "last-known",
    at_asked: bool | None = None,
) -> VerificationReport:
    """Verify every signature in ``pdf`` against ``trust_roots``; one report, one verdict.

    ``at`` stands in for "now" (validating the newest timestamp, and signatures without a valid
    timestamp): a relying party re-runs a verification as of a given moment with it. Only when
    it is a moment asked about (``at_asked``, by default whether ``at`` is given) are document
    timestamps and status data made after it left out as evidence: "now" is the reader's own
    clock, and a TSA or responder whose clock runs a few seconds ahead of it made nothing
    "after" the verification — leaving such evidence out would report a file signed a moment
    ago with "revocation not checked". ``policy``
    is "last-known" or "strict" (module docstring). Raises
    ``ValidationError(field="pdf")`` only for a file that is not a readable PDF (and names
    ``at`` or ``policy`` for a bad option: an ``at`` without a time zone is refused, never
    guessed — ``asked_moment``); every problem with a signature is reported, never raised.
    """
    with accel.fast():
        if not isinstance(pdf, bytes | bytearray | memoryview):
            raise ValidationError("the PDF must be given as bytes", field="pdf")
        pdf = bytes(pdf)
        if policy not in POLICIES:
            raise ValidationError(f"policy must be one of {', '.join(POLICIES)}", field="policy")
        at = asked_moment(at)
        asked = at is not None if at_asked is None else at_asked
        verified_at = (at or dt.datetime.now(dt.UTC)).replace(microsecond=0)
        at = verified_at
        cutoff = at if asked else None  # evidence made after it is left out
        reader = _open_reader(pdf)
        try:
            found = _collect_signatures(reader)
        except Exception as e:  # hostile /AcroForm trees: refuse the file, never crash
            raise _fields_unreadable(e) from None

        report = VerificationReport(
            file_name=file_name,
            sha256=hashlib.sha256(pdf).hexdigest(),
            signatures=[],
            valid=False,
            verified_at=verified_at,
            document_timestamps=len(found.doc_timestamps),
            policy=policy,
        )
        if not found.signatures and not found.broken:
            report.problems.append(NO_SIGNATURES)
            return report

        job = _FileJob(
            reader=reader,
            trust=_trust_manager(tuple(c.public_bytes(DER) for c in trust_roots)),
            at=at,
            allow_fetching=allow_fetching,
            ocsp_urls_allowed=ocsp_urls_allowed,
            embedded=_made_by(_read_dss(reader), cutoff),
            strict=policy == "strict",
            cutoff=cutoff,
        )
        after_lock = _changed_after_lock(reader, found.signatures)
        tsa_certs: list[a_x509.Certificate] = []
        for emb in [*found.signatures, *found.doc_timestamps]:
            all_certs = _cms_certs(emb.signed_data)
            job.ca_certs.extend(c for c in all_certs if c.ca)
            if emb in found.doc_timestamps:
                tsa_certs.extend(all_certs)
            for tst_sd in _tst_signed_data(emb):
                tsa_certs.extend(_cms_certs(tst_sd))
        job.ca_certs.extend(c for c in job.embedded.certs if c.ca)
        try:
            # newest first: each document timestamp is judged at the time of the next valid one
            poes: list[tuple[int, dt.datetime]] = []  # (revision, time) of valid timestamps
            moment, newest = at, True
            dts_broken = False  # a document timestamp unreadable or not matching its bytes
            left_out: list[dt.datetime] = []  # sound document timestamps made after ``at``
            for emb in reversed(found.doc_timestamps):
                stamped: dt.datetime | None = None  # when the token says it was made
                expired = False  # the TSA certificate expired: that, not trust, is the problem
                try:  # the context too: it parses certificates and status data from the file
                    judged = job.newest_moment(emb.signed_data, at) if newest else moment
                    vc = job.context(moment=judged, targets=tsa_certs, newest=newest)
                    st = await async_validate_pdf_timestamp(emb, validation_context=vc)
                    ok = st.intact and st.valid and st.trusted
                    sound = st.intact and st.valid
                    stamped = st.timestamp
                    dts_broken = dts_broken or not sound
                    if sound and cutoff is not None and _after(stamped, cutoff):
                        # no proof of existence yet at the validation time (EN 319 102-1 uses
                        # only POEs up to it): left out, whichever TSA certificate signed it,
                        # so the older timestamps are judged as they stood then
                        left_out.append(stamped)
                        continue
                    if ok and newest and not _within(st.signing_cert, at):
                        ok = False  # the TSA certificate expired and nothing later vouches for it
                        expired = True
                        report.problems.append(_TSA_EXPIRED)
                except Exception as e:
                    logger.info("document timestamp unreadable: %s", e)
                    ok, sound, dts_broken = False, False, True
                if ok:
                    poes.append((emb.signed_revision, st.timestamp))
                    moment, newest = st.timestamp, False
                elif not expired:
                    report.problems.append(
                        _timestamp_problem(sound, "文档时间戳", "a document", stamped, cutoff)
                    )
            poes.reverse()
            if left_out:  # the file's: said once (``notes``), not under each signature only
                report.notes.append(_left_out_note(left_out, at))
            for item in found.ordered():
                if isinstance(item, _Broken):
                    report.signatures.append(_broken_report(item))
                    if id(item) in found.outside_form:
                        report.signatures[-1].notes.append(OUTSIDE_FORM)
                    continue
                # the signature's own timestamp is judged at the first valid later POE
                later = [t for rev, t in poes if rev > item.signed_revision]
                ts_moment = later[0] if later else at
                try:
                    tokens = _tst_signed_data(item)
                    if not later and tokens:
                        ts_moment = job.newest_moment(tokens[0], at)
                    ts_vc = job.context(moment=ts_moment, targets=tsa_certs, newest=not later)
                    sig = await _verify_signature(item, job, ts_vc, [rev for rev, _ in poes])
                    if not later and sig.timestamp_valid and not _tsa_valid_at(tokens, at):
                        sig.timestamp_valid = sig.valid = False
                        sig.problems.append(_TSA_EXPIRED)
                        if sig.indication is Indication.PASSED:  # proof outlived, not undone
                            sig.indication = Indication.INDETERMINATE
                except Exception as e:  # one bad signature must not hide the others
                    logger.info("signature %s could not be processed", item.field_name, exc_info=e)
                    broken = _Broken(str(item.field_name), str(e), item.signed_revision)
                    sig = _broken_report(broken)
                sig.timestamp_checked_at = ts_moment if sig.timestamp_time else None
                if left_out:
                    sig.notes.append(_left_out_note(left_out, at))  # the JSON's, as before
                if after_lock is not None and item.signed_revision < after_lock.revision:
                    _refuse_change_after_lock(sig, after_lock)
                if id(item) in found.outside_form:
                    sig.notes.append(OUTSIDE_FORM)
                report.signatures.append(sig)
        finally:
            await job.aclose()

        report.valid = (
            bool(report.signatures)
            and all(s.valid for s in report.signatures)
            and not report.problems
        )
        report.indication = worst(
            report.valid, (s.indication for s in report.signatures), failed=dts_broken
        )
        return report


def _blocking(coroutine: Callable[_P, Coroutine[Any, Any, _R]]) -> Callable[_P, _R]:
    """``coroutine`` run to the end in a fresh event loop, for callers without one; the
    parameters are the coroutine's (one signature, typed through ``ParamSpec``)."""

    @functools.wraps(coroutine)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        return asyncio.run(coroutine(*args, **kwargs))

    return run


#: Synchronous wrapper of :func:`averify_pdf` (same parameters); async callers (the API) use
#: that instead.
verify_pdf = _blocking(averify_pdf)
verify_pdf.__name__ = verify_pdf.__qualname__ = "verify_pdf"


# ---------------------------------------------------------------------------------------------
# reading the file


def _open_reader(pdf: bytes) -> PdfFileReader:
    if b"%PDF-" not in pdf[:1024]:  # the header must be in the first 1024 bytes
        raise ValidationError("不是 PDF 文件 / not a PDF file", field="pdf")
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        reader._yinxin_bytes = pdf  # what accel._read_object keys shared objects by, in a batch
        if reader.encrypted:
            # only documents that open without a password can be verified by anyone
            result = reader.decrypt(b"")
            if getattr(result.status, "name", "") == "FAILED":
                raise ValidationError(
                    "文档已加密，需要密码 / the PDF is encrypted with a password", field="pdf"
                )
        reader.root  # noqa: B018 — force the catalog to parse now, not mid-verification
    except ValidationError:
        raise
    except Exception as e:
        raise ValidationError(f"无法解析 PDF / unreadable PDF: {e}", field="pdf") from None
    return reader


def _fields_unreadable(exc: Exception) -> ValidationError:
    """The refusal of a PDF whose signature fields cannot be read (a hostile /AcroForm tree),
    the same whether its PAdES signatures or its GB/T 38540 seal signatures are judged: the
    file is refused as unreadable, where crashing would hide why."""
    return ValidationError(f"无法读取签名域 / cannot read signature fields: {exc}", field="pdf")


@dataclass
class _Broken:
    field_name: str
    error: str
    signed_revision: int


@dataclass
class _Found:
    signatures: list[EmbeddedPdfSignature]
    doc_timestamps: list[EmbeddedPdfSignature]
    broken: list[_Broken]
    # ids of the signatures (and _Broken) found only among a page's annotations, not in the form
    outside_form: set[int] = field(default_factory=set)

    def ordered(self) -> list[EmbeddedPdfSignature | _Broken]:
        items: list[EmbeddedPdfSignature | _Broken] = [*self.signatures, *self.broken]
        return sorted(items, key=lambda s: s.signed_revision)


def _collect_signatures(reader: PdfFileReader) -> _Found:
    found = _Found([], [], [])
    for f in signature_fields(reader):
        _take_signature(reader, found, f.name, f.ref, outside_form=f.outside_form)
    found.doc_timestamps.sort(key=lambda s: s.signed_revision)
    return found


def _take_signature(
    reader: PdfFileReader,
    found: _Found,
    fq_name: str,
    sig_field_ref: generic.IndirectObject,
    *,
    outside_form: bool,
) -> None:
    try:
        sig_obj = sig_field_ref.get_object()["/V"].get_object()
        kind = sig_obj.get("/Type", "/Sig")
        emb = EmbeddedPdfSignature(reader, sig_field_ref, fq_name)
        # touch the lazily parsed CMS now, so a broken one is reported, not raised later
        emb.signer_info  # noqa: B018
        emb.signer_cert  # noqa: B018
        emb.signed_revision  # noqa: B018 — sorted on below, outside any per-field guard
    except Exception as e:
        broken = _Broken(str(fq_name), str(e) or type(e).__name__, 1 << 30)
        found.broken.append(broken)
        if outside_form:
            found.outside_form.add(id(broken))
        return
    if outside_form:
        found.outside_form.add(id(emb))
    if kind == "/DocTimeStamp":
        found.doc_timestamps.append(emb)
    else:
        found.signatures.append(emb)


@dataclass
class _Embedded:
    """Revocation data and certificates in the DSS, read once per file."""

    ocsps: list[a_ocsp.OCSPResponse] = field(default_factory=list)
    crls: list[a_crl.CertificateList] = field(default_factory=list)
    certs: list[a_x509.Certificate] = field(default_factory=list)


def _read_dss(reader: PdfFileReader) -> _Embedded:
    out = _Embedded()
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return out
    except Exception as e:
        logger.info("unreadable DSS ignored: %s", e)
        return out
    for ref in dss.ocsps:
        try:
            resp = _load(
                a_ocsp.OCSPResponse, ref.get_object().read_data(DecodePurpose.OCSP_RESPONSE)
            )
        except Exception as e:
            logger.info("unreadable DSS OCSP response ignored: %s", e)
            continue
        out.ocsps.append(resp)
    for ref in dss.crls:
        try:
            crl = _load(a_crl.CertificateList, ref.get_object().read_data(DecodePurpose.CRL))
        except Exception as e:
            logger.info("unreadable DSS CRL ignored: %s", e)
            continue
        out.crls.append(crl)
    for ref in dss.certs.values():
        try:
            cert = _load(a_x509.Certificate, ref.get_object().read_data(DecodePurpose.CERTIFICATE))
        except Exception as e:
            logger.info("unreadable DSS certificate ignored: %s", e)
            continue
        if _sound(cert):
            out.certs.append(cert)
    # One throwaway context for everything first: what it does to each item is what a context
    # holding that item alone does, so if it builds, every item is usable. Only when it fails
    # is each item tried alone, to drop just the corrupt ones.
    if _usable(ocsps=out.ocsps, crls=out.crls, certs=out.certs):
        return out
    out.ocsps = [r for r in out.ocsps if _usable(ocsps=[r])]
    out.crls = [c for c in out.crls if _usable(crls=[c])]
    out.certs = [c for c in out.certs if _usable(certs=[c])]
    return out


_NO_ROOTS = SimpleTrustManager.build(trust_roots=[])


def _load(cls: Any, der: bytes) -> Any:
    """``cls.load(der)``; in a batch, the object parsed before from the same bytes.

    asn1crypto objects parse lazily and keep what they parsed; pyHanko only reads them. The
    issuing CA, TSA and responder certificates (and a root CRL published monthly) are the same
    bytes in every document of an archive, so sharing one parsed object per DER saves parsing
    them again, file after file, with nothing that could differ. A certificate is the one
    pyHanko's CMS extraction also gets (``accel.shared_certificate``): the signer's, new in
    each file, is then decoded once for the DSS and the signature together.
    """
    caches = _CACHES.get()
    if caches is None:
        return cls.load(der)
    if cls is a_x509.Certificate:
        return accel.shared_certificate(bytes(der))
    key = (cls, bytes(der))
    obj = caches.parsed.get(key)
    if obj is None:
        obj = cls.load(der)
        if len(caches.parsed) >= 10_000:
            caches.parsed.clear()
        caches.parsed[key] = obj
        if cls is a_ocsp.OCSPResponse:
            _share_responder_certs(obj)
    return obj


def _share_responder_certs(resp: a_ocsp.OCSPResponse) -> None:
    """The certificates inside a new OCSP response (its responder's), as the batch's one
    parsed object per DER. Every file's response is new bytes, but its responder certificate
    is the same in all of them, and pyHanko registers it in each validation context (key
    hash, key identifier, name) and matches it against the responder id: parsed once, those
    are read from the shared object. A child of the same class and bytes, put where asn1crypto
    keeps the parsed child, so nothing is marked changed and the response's DER is the same.
    Anything unexpected: left as parsed."""
    try:
        certs = resp["response_bytes"]["response"].parsed["certs"]
        if not certs:
            return
        for i in range(len(certs)):
            own = certs[i]
            encoded = accel.der(own)
            shared = _load(a_x509.Certificate, encoded)
            if shared is not own and type(shared) is type(own) and accel.der(shared) == encoded:
                certs.children[i] = shared
    except Exception:
        return


def _usable(
    *,
    ocsps: Sequence[a_ocsp.OCSPResponse] = (),
    crls: Sequence[a_crl.CertificateList] = (),
    certs: Sequence[a_x509.Certificate] = (),
) -> bool:
    """Can pyHanko take this item into a validation context?

    asn1crypto parses lazily, so a DSS entry whose outer DER is fine may still hold a corrupt
    date, name or extension that only fails when pyHanko builds a ``ValidationContext`` (it
    sorts OCSP responses and CRLs by date and indexes certificates by name and key id). Every
    context of the file is built from the same DSS, so one such entry would fail them all: a
    corrupt entry in an unsigned revision must be dropped, as an unreadable one is, not turn
    into a crash or invalidate signatures that do not need it. Building a throwaway context
    with just this item does exactly what the real ones do to it.
    """
    caches = _CACHES.get()
    if caches is None:
        return _builds(ocsps, crls, certs)
    # In a batch, remembered per item by its DER: by the premise above a set is usable when
    # each of its items is, and an archive's files share all but their signer's certificate
    # and OCSP response, so a file builds one small context for those, not one for all.
    try:
        keyed = [
            (kind, accel.der(x), x)
            for kind, items in (("ocsp", ocsps), ("crl", crls), ("cert", certs))
            for x in items
        ]
    except Exception:
        return _builds(ocsps, crls, certs)
    known = {(kind, der): caches.usable.get((kind, der)) for kind, der, _ in keyed}
    unknown = [(kind, der, x) for kind, der, x in keyed if known[(kind, der)] is None]
    if unknown:

        def alone(*picked: tuple[str, bytes, Any]) -> bool:
            return _builds(
                [x for kind, _, x in picked if kind == "ocsp"],
                [x for kind, _, x in picked if kind == "crl"],
                [x for kind, _, x in picked if kind == "cert"],
            )

        every = alone(*unknown)
        if len(caches.usable) >= 10_000:
            caches.usable.clear()
        for item in unknown:
            ok = every or (len(unknown) > 1 and alone(item))
            known[item[:2]] = caches.usable[item[:2]] = ok
    return all(known.values())


def _builds(
    ocsps: Sequence[a_ocsp.OCSPResponse],
    crls: Sequence[a_crl.CertificateList],
    certs: Sequence[a_x509.Certificate],
) -> bool:
    try:
        ValidationContext(
            trust_manager=_NO_ROOTS,
            other_certs=list(certs),
            ocsps=list(ocsps),
            crls=list(crls),
            allow_fetching=False,
        )
    except Exception as e:
        logger.info("unusable revocation data or certificate ignored: %s", e)
        return False
    return True


def _sound(cert: a_x509.Certificate) -> bool:
    """Touch the parts of a lazily parsed certificate we rely on, so a corrupt one is dropped
    here rather than failing the whole file later (pyHanko copes with the rest per signature).
    Not a full ``.native`` parse: that costs a millisecond a certificate."""
    return accel.remembered(cert, "sound", (), lambda: _touches(cert))


def _touches(cert: a_x509.Certificate) -> bool:
    try:
        cert.ca  # noqa: B018
        accel.der(cert.issuer)
        return cert.serial_number is not None
    except Exception:
        return False


def _adobe_revinfo(emb: EmbeddedPdfSignature) -> _Embedded:
    """Revocation data the signer put inside the CMS (adbe-revocationInfoArchival)."""
    out = _Embedded()
    try:
        archival = find_unique_cms_attribute(
            emb.signer_info["signed_attrs"], "adobe_revocation_info_archival"
        )
    except Exception:
        return out
    try:
        out.ocsps.extend(r for r in archival["ocsp"] or [] if _usable(ocsps=[r]))
        out.crls.extend(c for c in archival["crl"] or [] if _usable(crls=[c]))
    except Exception as e:
        logger.info("unreadable revocation archival ignored: %s", e)
    return out


# ---------------------------------------------------------------------------------------------
# caches shared by the files of one batch (yinxin.pdf.batch)


class _MemoSignatureValidator(SignatureValidator):
    """pyHanko's signature check, remembering the signatures that verified.

    The key is everything the check reads — signature, digest of the signed bytes, public key,
    algorithm and the check's own context — so a hit is the same computation done before:
    the issuing CA's signature on the TSA certificate, the root's on its CRL, and so on, met
    again in every document of an archive. Failures are not remembered (they raise afresh).
    """

    def __init__(self) -> None:
        self.inner = DefaultSignatureValidator()
        self.good: set[tuple] = set()

    def validate_signature(
        self,
        signature,
        signed_data,
        public_key_info,
        signature_algorithm,
        context=DEFAULT_VALIDATION_CONTEXT,
    ):
        try:
            key = (
                bytes(signature),
                hashlib.sha256(signed_data).digest(),
                accel.der(public_key_info),
                accel.der(signature_algorithm),
                context,
            )
            hash(key)
        except Exception:
            key = None
        if key is not None and key in self.good:
            return
        self.inner.validate_signature(
            signature, signed_data, public_key_info, signature_algorithm, context
        )
        if key is not None:
            if len(self.good) > 100_000:
                self.good.clear()
            self.good.add(key)


_orig_ocsp_provenance = _validate_ocsp._validate_delegated_ocsp_provenance


async def _ocsp_provenance(responder_cert, issuer, validation_context, ee_path, proc_state):
    """pyHanko's check of a delegated OCSP responder, remembering the responders that passed.

    For a responder certificate with id-pkix-ocsp-nocheck pyHanko validates the path issuer →
    responder alone, in a throwaway context without revocation checking: the result depends
    on the two certificates, the time tolerance, the algorithm policy and — only through the
    responder's validity period — the moment. So a success is remembered by the responder's
    DER, the issuer's name and key (and certificate), the tolerance and the policy's settings,
    and reused only at a moment inside the responder's validity (as ``_check_validity`` tests
    it). What the original does after its check — recording the responder's chain in the
    caller's context — is done the same way. Anything else (no nocheck extension, another
    algorithm policy, recursion, no batch) runs pyHanko's code, and failures are never
    remembered.
    """
    caches = _CACHES.get()
    policy = validation_context.algorithm_policy
    if (
        caches is None
        or type(policy) is not DisallowWeakAlgorithmsPolicy
        or responder_cert.ocsp_no_check_value is None
        or proc_state.check_path_verif_recursion(responder_cert)
    ):
        return await _orig_ocsp_provenance(
            responder_cert, issuer, validation_context, ee_path, proc_state
        )
    try:
        key = (
            accel.der(responder_cert),
            type(issuer),
            accel.der(issuer.name),
            accel.der(issuer.public_key),
            accel.der(issuer.certificate) if isinstance(issuer, AuthorityWithCert) else None,
            validation_context.time_tolerance,
            policy.weak_hash_algos,
            policy.weak_signature_algos,
            policy.rsa_key_size_threshold,
            policy.dsa_key_size_threshold,
        )
        hash(key)
    except Exception:
        key = None
    moment = validation_context.moment
    tolerance = validation_context.time_tolerance
    if key is not None and key in caches.responders:
        validity = responder_cert["tbs_certificate"]["validity"]
        if (
            moment + tolerance >= validity["not_before"].native
            and moment - tolerance <= validity["not_after"].native
        ):
            chain = _validate_ocsp._delegated_ocsp_response_path(responder_cert, issuer, ee_path)
            validation_context.record_validation(responder_cert, chain)
            return None
    result = await _orig_ocsp_provenance(
        responder_cert, issuer, validation_context, ee_path, proc_state
    )
    if key is not None:
        caches.responders.add(key)
    return result


_validate_ocsp._validate_delegated_ocsp_provenance = _ocsp_provenance


@dataclass
class _Caches:
    """What one batch learns once and every later file reuses; all keyed by content."""

    usable: dict[tuple[str, bytes], bool] = field(default_factory=dict)  # _usable, per item
    parsed: dict[tuple[type, bytes], Any] = field(default_factory=dict)
    responders: set[tuple] = field(default_factory=set)  # delegated OCSP responders that passed
    signatures: _MemoSignatureValidator = field(default_factory=_MemoSignatureValidator)


_CACHES: contextvars.ContextVar[_Caches | None] = contextvars.ContextVar(
    "yinxin_verify_caches", default=None
)


# ---------------------------------------------------------------------------------------------
# validation contexts


@functools.lru_cache(maxsize=32)
def _trust_manager(roots_der: tuple[bytes, ...]) -> SimpleTrustManager:
    """Parsed once per set of roots: the service verifies many files against the same roots."""
    return SimpleTrustManager.build(trust_roots=[a_x509.Certificate.load(d) for d in roots_der])


class _OCSPNotAllowed(OCSPFetchError):
    pass


class _NoOCSPFetcher(OCSPFetcher):
    """Refuses every OCSP query, so validation falls back to CRLs (see module docstring)."""

    async def fetch(self, cert, authority):
        raise _OCSPNotAllowed("OCSP queries are not allowed for this verification")

    def fetched_responses(self):
        return ()

    def fetched_responses_for_cert(self, cert):
        return ()


class _CrlOnlyBackend(FetcherBackend):
    def __init__(self, inner: AIOHttpFetcherBackend):
        self.inner = inner

    def get_fetchers(self) -> Fetchers:
        f = self.inner.get_fetchers()
        return Fetchers(
            ocsp_fetcher=_NoOCSPFetcher(), crl_fetcher=f.crl_fetcher, cert_fetcher=f.cert_fetcher
        )

    async def close(self):
        await self.inner.close()


@dataclass
class _FileJob:
    reader: PdfFileReader
    trust: SimpleTrustManager
    at: dt.datetime | None
    allow_fetching: bool
    ocsp_urls_allowed: bool
    embedded: _Embedded
    strict: bool = False
    # a moment asked about (``averify_pdf``'s ``at_asked``): status data made after it is left out
    cutoff: dt.datetime | None = None
    ca_certs: list[a_x509.Certificate] = field(default_factory=list)
    _backend: FetcherBackend | None = None
    _fetchers: Fetchers | None = None

    def fetchers(self) -> Fetchers | None:
        if not self.allow_fetching:
            return None
        if self._fetchers is None:
            inner = AIOHttpFetcherBackend(per_request_timeout=10)
            self._backend = inner if self.ocsp_urls_allowed else _CrlOnlyBackend(inner)
            self._fetchers = self._backend.get_fetchers()
        return self._fetchers

    def newest_moment(self, token: Any, at: dt.datetime) -> dt.datetime:
        """When to judge the newest timestamp's chain. ``strict``: the validation time. "Last
        known status": the moment of the newest status data embedded for the token's
        certificates (not before the token, not after ``at``) — judged then, the responder
        that signed that status was valid, though it may have expired since, as responder
        certificates do long before a contract stops mattering. That the TSA certificate is
        still within its validity at ``at`` is checked apart (``_TSA_EXPIRED``)."""
        if self.strict:
            return at
        made = _tst_time(token)
        certs = _cms_certs(token)
        times = [
            t
            for r in self.embedded.ocsps
            if any(_ocsp_is_about(r, c) for c in certs)
            if (t := _produced_at(r)) is not None and t <= at
        ]
        if not times or made is None:
            return at
        return min(max(max(times), made), at)

    def context(
        self,
        *,
        moment: dt.datetime | None,
        targets: Iterable[a_x509.Certificate],
        extra: _Embedded | None = None,
        newest: bool = False,
    ) -> ValidationContext:
        """A validation context holding only the OCSP responses about ``targets`` (+ all CAs).

        Why filter: pyhanko-certvalidator 0.33 counts an OCSP response from the right issuer but
        for *another* serial number as a failed check rather than "no answer" (it requires the
        issuer key hash to differ too), so a DSS holding the signer's OCSP response but none
        for the TSA (same CA) would fail the timestamp. Responses about certificates this
        context never checks are useless to it anyway.
        """
        wanted = [*targets, *self.ca_certs]
        # status data made after a moment asked about did not exist then: no evidence at it
        # (with ``retroactive_revinfo`` pyHanko would otherwise take it for an older moment);
        # the DSS was cut so once (``_made_by`` when the job was made), the extra data here
        extra = _made_by(extra, self.cutoff) if extra else None
        ocsps = [
            r
            for r in [*self.embedded.ocsps, *(extra.ocsps if extra else [])]
            if any(_ocsp_is_about(r, c) for c in wanted)
        ]
        crls = [*self.embedded.crls, *(extra.crls if extra else [])]
        fetchers = self.fetchers()
        if newest:
            # nothing later vouches for this moment: "last known status" takes any embedded
            # data however old (no staleness); "strict" needs data valid at that moment
            policy = CertRevTrustPolicy(
                RevocationCheckingPolicy.from_legacy("soft-fail"),
                freshness=None if self.strict else LAST_KNOWN_FRESHNESS,
                freshness_req_type=FreshnessReqType.MAX_DIFF_REVOCATION_VALIDATION,
            )
        else:
            policy = CertRevTrustPolicy(
                RevocationCheckingPolicy.from_legacy("soft-fail"), retroactive_revinfo=True
            )
        return ValidationContext(
            trust_manager=self.trust,
            other_certs=self.embedded.certs,
            moment=moment,
            allow_fetching=fetchers is not None,
            fetchers=fetchers,
            ocsps=ocsps,
            crls=crls,
            revinfo_policy=policy,
            time_tolerance=TIME_TOLERANCE,
            signature_validator=caches.signatures if (caches := _CACHES.get()) else None,
        )

    async def aclose(self) -> None:
        if self._backend is not None:
            await self._backend.close()


# ---------------------------------------------------------------------------------------------
# one signature


_COVERAGE = {
    SignatureCoverageLevel.ENTIRE_FILE: "entire_file",
    SignatureCoverageLevel.ENTIRE_REVISION: "entire_revision",
    SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START: "contiguous_block_from_start",
    SignatureCoverageLevel.UNCLEAR: "unclear",
}
_CERT_TIME_PROBLEMS = {
    AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,
    AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED,
    AdESIndeterminate.EXPIRED,
    AdESIndeterminate.NOT_YET_VALID,
}
_REVOKED = {AdESIndeterminate.REVOKED_NO_POE, AdESIndeterminate.REVOKED_CA_NO_POE}
_BAD_ALGORITHM = "使用了不被接受的算法 / a disallowed algorithm was used"
_INDICATION_TEXT = {
    AdESIndeterminate.CHAIN_CONSTRAINTS_FAILURE: (
        "证书用途或约束不符（如密钥用法）/ certificate usage or constraints not satisfied"
    ),
    AdESIndeterminate.TRY_LATER: (
        "吊销信息已过期，无法确认证书状态 / revocation data too old to confirm the status"
    ),
    AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE: _BAD_ALGORITHM,
    AdESIndeterminate.CRYPTO_CONSTRAINTS_FAILURE_NO_POE: _BAD_ALGORITHM,
    AdESIndeterminate.CERTIFICATE_CHAIN_GENERAL_FAILURE: (
        "无法确认签署时的证书状态（如签署后才被吊销）/ the certificate status at signing"
        " could not be established (e.g. revoked after signing)"
    ),
}


async def _verify_signature(
    emb: EmbeddedPdfSignature,
    job: _FileJob,
    ts_vc: ValidationContext,
    valid_dts_revisions: Sequence[int],
) -> SignatureReport:
    problems: list[str] = []
    notes: list[str] = []
    archival = _adobe_revinfo(emb)

    # The certificate is judged at the timestamp's time when the timestamp holds. To validate
    # only once in the usual case, start from the time the token claims (read, not trusted);
    # pyHanko validates the token itself alongside, and if it does not hold — or a different
    # token is the trusted one — the signature is judged again at the right time.
    tokens = _tst_signed_data(emb)
    has_tst = bool(tokens)
    claimed = _tst_time(tokens[0]) if tokens else None
    status, signer_vc = await _validate(emb, job, ts_vc, claimed or job.at, archival)
    tst = status.timestamp_validity
    ts_ok = bool(tst is not None and tst.intact and tst.valid and tst.trusted)
    moment = tst.timestamp if ts_ok and tst is not None else job.at
    if moment != (claimed or job.at):
        status, signer_vc = await _validate(emb, job, ts_vc, moment, archival)

    cert = status.signing_cert
    when = signer_vc.moment
    indic = status.trust_problem_indic
    intact = bool(status.intact and status.valid)
    if not status.intact:
        problems.append(
            "签名所覆盖的文档内容已被改动 / the signed bytes were changed after signing"
        )
    elif not status.valid:
        problems.append(
            "签名值无法用签署人证书验证 / the CMS signature does not verify with the signer's"
            " certificate"
        )

    # trust: pyHanko only builds the chain for a cryptographically valid signature
    if status.valid:
        trusted = indic != AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND and (
            status.validation_path is not None or indic is not None
        )
        if trusted and indic == AdESIndeterminate.CERTIFICATE_CHAIN_GENERAL_FAILURE:
            # pyHanko found a path by names but it failed for a reason it does not say: it may
            # lead to one of our roots only by name (another CA with the same names), so the
            # signatures along it decide
            trusted = await _chain_verifies(cert, signer_vc)
    else:
        trusted = await _chain_exists(cert, signer_vc)
    if not trusted:
        problems.append(
            "签署人证书无法链接到受信任的根证书 / the signer's certificate does not chain to a"
            " trusted root"
        )

    revoked: bool | None = None
    source = _revocation_source(cert, job, archival, signer_vc)
    if status.revocation_details is not None or indic in _REVOKED:
        revoked = True
        rd = status.revocation_details
        since = _fmt_time(rd.revocation_date) if rd else "?"
        whose = "上级 CA 证书" if rd and rd.ca_revoked else "签署人证书"
        whose_en = "a CA certificate in the chain" if rd and rd.ca_revoked else "the certificate"
        problems.append(
            f"{whose}已于 {since} 被吊销（早于 {_fmt_time(when)}）/ {whose_en} was revoked on"
            f" {since}, before {_fmt_time(when)}"
        )
    elif source != "none" and indic is None:
        soft = [
            str(e) for e in signer_vc.soft_fail_exceptions if not isinstance(e, _OCSPNotAllowed)
        ]
        if soft:
            notes.append(
                "吊销信息无法使用 / revocation data could not be used: " + "; ".join(soft)[:300]
            )
        else:
            revoked = False
    if source == "none":
        notes.append(
            "未检查吊销状态：文档未嵌入吊销信息且未允许联网查询 / revocation not checked: none"
            " embedded and fetching not allowed"
            if not job.allow_fetching
            else "未能取得吊销信息 / no revocation information could be obtained"
        )

    period_ok = _within(cert, when)
    cert_ok = bool(
        period_ok
        and revoked is not True
        and (indic is None or indic == AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND)
    )
    if not period_ok or indic in _CERT_TIME_PROBLEMS:
        problems.append(
            f"签署时证书不在有效期内（{_fmt_time(when)}）/ the certificate was not valid at"
            f" {_fmt_time(when)}"
        )
    elif indic is not None and indic not in _REVOKED and trusted:
        problems.append(
            _INDICATION_TEXT.get(
                indic, f"证书验证未通过 / certificate validation failed ({indic.name})"
            )
        )

    # timestamp
    ts_time = ts_authority = None
    ts_valid: bool | None = None
    if tst is not None:
        ts_time = tst.timestamp
        ts_authority = _common_name(tst.signing_cert)
        ts_valid = bool(ts_ok)
        if not ts_ok:
            problems.append(
                _timestamp_problem(
                    tst.intact and tst.valid, "时间戳", "the", tst.timestamp, job.cutoff
                )
            )
    elif has_tst:
        ts_valid = False
        problems.append("时间戳无法解析 / the timestamp could not be read")
    else:
        notes.append(
            "没有时间戳：签署时间为签署人自报，证书按验证时刻检查 / no timestamp: the signing"
            " time is self-reported and the certificate was checked at validation time"
        )

    coverage = _COVERAGE.get(status.coverage, "unclear")
    changes = _changes_after(status)
    if changes == "other":
        problems.append(
            "签署后文档有不被允许的修改 / the document was changed after signing in a way this"
            " signature does not allow"
        )
    if not status.seed_value_ok:
        problems.append(
            "签名不满足签名域的约束 / the signature violates its field's seed-value constraints"
        )

    level = _level(
        has_tst,
        _covers(cert, job.embedded) or _covers(cert, archival),
        any(r > emb.signed_revision for r in valid_dts_revisions),
    )
    seal_name, seal_kind, role = _seal_metadata(emb.sig_object)
    valid = bool(
        status.bottom_line
        and intact
        and trusted
        and cert_ok
        and changes != "other"
        and ts_valid is not False
    )
    if not valid and not problems:  # never an unexplained "invalid"
        problems.append("签名未通过验证 / the signature did not validate")
    proven = tst.timestamp if ts_ok and tst is not None else None  # when it surely existed
    rd = status.revocation_details
    failed = (
        not intact  # the signed bytes changed, or the signature value does not verify
        or changes == "other"
        or (ts_valid is False and not (tst is not None and tst.intact and tst.valid))
        or (
            proven is not None
            and rd is not None
            and not rd.ca_revoked
            and revoked is True
            and proven >= rd.revocation_date
        )  # signed after the revocation (AdES REVOKED)
        or (proven is not None and proven < cert.not_valid_before)  # AdES NOT_YET_VALID
    )
    return SignatureReport(
        # plain text: pyHanko's TextStringObject keeps the parsed document alive with the report
        field_name=str(emb.field_name),
        signer_name=_common_name(cert),
        signer_subject=_rfc4514(cert.subject),
        certificate_serial=serial_hex(cert.serial_number),
        certificate_issuer=_rfc4514(cert.issuer),
        seal_name=seal_name,
        seal_kind=seal_kind,
        role=role,
        signing_time=_zoned(status.signer_reported_dt),
        timestamp_time=ts_time,
        timestamp_authority=ts_authority,
        timestamp_valid=ts_valid,
        certificate_checked_at=when,
        certificate_valid_at_signing=cert_ok,
        revoked=revoked,
        revocation_source=source,
        intact=intact,
        trusted=bool(trusted),
        coverage=coverage,
        changes_after=changes,
        level=level,
        valid=valid,
        problems=problems,
        notes=notes,
        indication=indication(valid, failed),
    )


async def _validate(
    emb: EmbeddedPdfSignature,
    job: _FileJob,
    ts_vc: ValidationContext,
    moment: dt.datetime | None,
    archival: _Embedded,
) -> tuple[PdfSignatureStatus, ValidationContext]:
    vc = job.context(
        moment=moment,
        targets=_cms_certs(emb.signed_data),
        extra=archival,
        newest=moment == job.at,  # no timestamp holds: judged at the validation time
    )
    status = await async_validate_pdf_signature(
        emb, signer_validation_context=vc, ts_validation_context=ts_vc, diff_policy=DIFF_POLICY
    )
    return status, vc


def _timestamp_problem(
    sound: bool,
    zh: str,
    en: str,
    stamped: dt.datetime | None = None,
    at: dt.datetime | None = None,
) -> str:
    """Why a timestamp does not count, in the two ways that lead to different outcomes: a
    broken token is a failure, an untrusted one leaves the signature indeterminate. A sound
    token made after the validation time ``at`` (a relying party's ``--at`` before the signing,
    or before a renewed file's archive timestamp) is not yet evidence then: said as such, since
    "its authority does not chain to a trusted root" sent the reader after the wrong anchor.
    ``at`` is the moment asked about (None when none was: "now" is the reader's clock), and
    "after" has the second of tolerance :func:`_after` has — compared exactly with a validation
    time cut to whole seconds, an untrusted timestamp made in the same second as an ordinary
    verification was reported as made after it."""
    if not sound:
        return (
            f"{zh}无效：无法读取、与所盖内容不符或其签名无法验证 / {en} timestamp is invalid:"
            " unreadable, not matching what it stamps, or its signature does not verify"
        )
    if at is not None and _after(stamped, at):
        return (
            f"{zh}的时间 {_fmt_time(stamped)} 晚于验证时间 {_fmt_time(at)}，验证时刻尚不能作为"
            f"证据（请以其后的时间验证）/ {en} timestamp was made at {_fmt_time(stamped)}, after"
            f" the validation time {_fmt_time(at)}: it is no evidence yet at that moment"
            " (validate at a later time)"
        )
    return (
        f"{zh}不受信任：时间戳服务证书无法链接到受信任的根证书，或当时状态无法确认 / {en}"
        " timestamp is not trusted: its authority's certificate does not chain to a trusted"
        " root, or its status then could not be established"
    )


def _after(stamped: dt.datetime | None, at: dt.datetime) -> bool:
    """Was a token (or status data) made after the validation time? One second of tolerance,
    as pyHanko's: ``verified_at`` is cut to whole seconds, a token made in that second is not
    "later"."""
    return stamped is not None and stamped > at + TIME_TOLERANCE


def _left_out_note(times: list[dt.datetime], at: dt.datetime) -> str:
    """What a relying party is told when ``--at`` falls before some document timestamps: they,
    and the status data added after ``at``, did not exist then and were not used as evidence."""
    when = "、".join(_fmt_time(t) for t in sorted(times))
    when_en = ", ".join(_fmt_time(t) for t in sorted(times))
    return (
        f"晚于验证时间 {_fmt_time(at)} 的文档时间戳（{when}）及其后加入的吊销信息未作为证据 /"
        f" the document timestamps made after the validation time {_fmt_time(at)} ({when_en})"
        " and status data added later were left out as evidence"
    )


_TSA_EXPIRED = (
    "最新时间戳的时间戳服务证书已过期，且之后没有归档时间戳 / the newest timestamp's TSA"
    " certificate has expired and no later archive timestamp vouches for it"
)


def _produced_at(resp: a_ocsp.OCSPResponse) -> dt.datetime | None:
    try:
        t = resp["response_bytes"]["response"].parsed["tbs_response_data"]["produced_at"].native
        return t if isinstance(t, dt.datetime) and t.tzinfo else None
    except Exception:
        return None


def _made_by(data: _Embedded, at: dt.datetime | None) -> _Embedded:
    """The DSS as it could stand at ``at``: OCSP responses and CRLs made later (by a renewal
    after the validation time) left out — they are no evidence then, and would also make the
    report claim B-LT status data a relying party at ``at`` could not have had. ``at`` None
    (no moment asked about): all of it."""
    if at is None:
        return data
    return _Embedded(
        ocsps=[r for r in data.ocsps if not _after(_ocsp_made(r), at)],
        crls=[c for c in data.crls if not _after(_this_update(c), at)],
        certs=data.certs,
    )


def _ocsp_made(resp: a_ocsp.OCSPResponse) -> dt.datetime | None:
    """When an OCSP response existed at the earliest: its producedAt, or a later thisUpdate
    (a response cannot be produced before the status it tells; one claiming so is judged by
    the later date)."""
    times = [t for t in (_produced_at(resp), _this_update_ocsp(resp)) if t is not None]
    return max(times) if times else None


def _this_update_ocsp(resp: a_ocsp.OCSPResponse) -> dt.datetime | None:
    try:
        data = resp["response_bytes"]["response"].parsed["tbs_response_data"]
        times = [r["this_update"].native for r in data["responses"]]
        times = [t for t in times if isinstance(t, dt.datetime) and t.tzinfo]
        return max(times) if times else None
    except Exception:
        return None


def _this_update(crl: a_crl.CertificateList) -> dt.datetime | None:
    try:
        t = crl["tbs_cert_list"]["this_update"].native
        return t if isinstance(t, dt.datetime) and t.tzinfo else None
    except Exception:
        return None


def _tsa_valid_at(tokens: list[Any], at: dt.datetime) -> bool:
    """Is the certificate that signed the signature's timestamp within its validity at ``at``?"""
    if not tokens:
        return True
    try:
        sid = tokens[0]["signer_infos"][0]["sid"]
        for cert in _cms_certs(tokens[0]):
            if sid.name == "issuer_and_serial_number" and (
                cert.serial_number == sid.chosen["serial_number"].native
                and cert.issuer == sid.chosen["issuer"]
            ):
                return _within(cert, at)
            if sid.name == "subject_key_identifier" and cert.key_identifier == sid.chosen.native:
                return _within(cert, at)
    except Exception:
        return False
    return False


def _tst_time(tst_signed_data: Any) -> dt.datetime | None:
    try:
        t = tst_signed_data["encap_content_info"]["content"].parsed["gen_time"].native
        return t if isinstance(t, dt.datetime) and t.tzinfo else None
    except Exception:
        return None


async def _chain_verifies(cert: a_x509.Certificate, vc: ValidationContext) -> bool:
    """Whether some path from ``cert`` to a trust root holds cryptographically: each
    certificate signed by the next one's key (validity, revocation and policy aside)."""
    try:
        paths = await vc.path_builder.async_build_paths(cert)
    except Exception:
        return False
    for path in paths:
        chain = [x509.load_der_x509_certificate(c.dump()) for c in path.iter_certs(True)]
        if not chain or chain[-1].public_bytes(serialization.Encoding.DER) != cert.dump():
            continue
        try:
            chain[0].verify_directly_issued_by(chain[0])  # the anchor, self-signed
            for issuer, child in itertools.pairwise(chain):
                child.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return True
    return False


async def _chain_exists(cert: a_x509.Certificate, vc: ValidationContext) -> bool:
    try:
        return bool(await vc.path_builder.async_build_paths(cert))
    except Exception:
        return False


def _changes_after(status: PdfSignatureStatus) -> str:
    diff = status.diff_result
    if not isinstance(diff, DiffResult):
        # SuspiciousModification, or no analysis possible for this coverage
        return "none" if status.coverage == SignatureCoverageLevel.ENTIRE_FILE else "other"
    if status.docmdp_ok is False:
        return "other"
    level = diff.modification_level
    if level == ModificationLevel.NONE:
        return "none"
    if level == ModificationLevel.OTHER:
        return "other"
    return "allowed"  # LTA_UPDATES, FORM_FILLING, ANNOTATIONS within the DocMDP permission


# After a lock: only what keeps the signatures verifiable (PAdES B-LTA) — the DSS, document
# timestamps (new invisible signature fields) and the xref/object streams they are written in.
# No DocInfoRule, no MetadataUpdateRule, no form filling (module docstring).
_AFTER_LOCK_POLICY = StandardDiffPolicy(
    global_rules=[
        CatalogModificationRule(),
        XrefStreamRule().as_qualified(ModificationLevel.LTA_UPDATES),
        ObjectStreamRule().as_qualified(ModificationLevel.LTA_UPDATES),
        DSSCompareRule().as_qualified(ModificationLevel.LTA_UPDATES),
    ],
    form_rule=FormUpdatingRule(field_rules=[SigFieldCreationRule(), SigFieldModificationRule()]),
)


@dataclass(frozen=True)
class _LockBroken:
    field_name: str  # the signature that locked the document
    revision: int  # the first later revision with a change a lock does not allow


_locks = locks_document  # one rule for the verifier and the signer's check


def _changed_after_lock(
    reader: PdfFileReader, signatures: Sequence[EmbeddedPdfSignature]
) -> _LockBroken | None:
    """The first revision after the earliest lock that changes more than a lock allows.

    Each later revision is compared with the locked one, as pyHanko's own review does, so an
    object created and dropped again in between is still seen. A history that cannot be
    analysed after a lock is treated as a disallowed change: a lock is only worth anything if
    what follows it is proven harmless.
    """
    locking = [e for e in signatures if _locks(e)]
    if not locking:
        return None
    first = min(locking, key=lambda e: e.signed_revision)
    base = first.signed_revision
    rev = base + 1
    try:
        old = reader.get_historical_resolver(base)
        everything = FieldMDPSpec(FieldMDPAction.ALL)
        for rev in range(base + 1, reader.xrefs.total_revisions):
            try:
                diff = _AFTER_LOCK_POLICY.apply(
                    old=old,
                    new=reader.get_historical_resolver(rev),
                    field_mdp_spec=everything,
                    doc_mdp=MDPPerm.NO_CHANGES,
                )
            except SuspiciousModification:
                return _LockBroken(first.field_name, rev)
            if diff.modification_level > ModificationLevel.LTA_UPDATES:
                return _LockBroken(first.field_name, rev)
    except Exception as e:
        logger.info("changes after the lock could not be analysed: %s", e)
        return _LockBroken(first.field_name, rev)
    return None


def _refuse_change_after_lock(sig: SignatureReport, lock: _LockBroken) -> None:
    sig.changes_after = "other"
    sig.valid = False
    sig.indication = Indication.FAILED
    sig.problems.append(
        f"文档已由签名 {lock.field_name} 锁定，其后仍有除 DSS 和文档时间戳以外的修改 / the"
        f" document was locked by signature {lock.field_name}; a later update changed more"
        " than the DSS and document timestamps"
    )


def _level(has_tst: bool, has_revinfo: bool, later_dts: bool) -> str:
    if not has_tst:
        return "B-B"
    if not has_revinfo:
        return "B-T"
    return "B-LTA" if later_dts else "B-LT"


def _revocation_source(
    cert: a_x509.Certificate, job: _FileJob, archival: _Embedded, vc: ValidationContext
) -> str:
    if _covers(cert, job.embedded) or _covers(cert, archival):
        return "embedded"
    f = job._fetchers
    if f is not None:
        # by content, not ``fetched_*_for_cert``: a CRL fetched for an earlier certificate
        # (the TSA's, say) is served from cache without being filed under this one
        try:
            fetched = _Embedded(
                ocsps=list(f.ocsp_fetcher.fetched_responses()),
                crls=list(f.crl_fetcher.fetched_crls()),
            )
            if _covers(cert, fetched):
                return "online"
        except Exception:
            pass
    return "none"


def _covers(cert: a_x509.Certificate, data: _Embedded) -> bool:
    """Is there an OCSP response or CRL about this certificate among ``data``?"""
    if any(_ocsp_is_about(r, cert) for r in data.ocsps):
        return True
    for crl in data.crls:
        try:
            if crl["tbs_cert_list"]["issuer"] == cert.issuer:
                return True
        except Exception:
            continue
    return False


def _ocsp_is_about(resp: a_ocsp.OCSPResponse, cert: a_x509.Certificate) -> bool:
    """Does ``resp`` answer for ``cert`` (serial and issuer-name hash)? Remembered on the
    response object for each certificate object: a file asks it ~30 times, of the same few
    parsed objects (in a batch, shared per DER across files), and nothing mutates them. Keyed
    by identity, not DER: re-encoding an OCSP response to compare it cost more than the
    answer."""
    return accel.remembered(resp, "about", (cert,), lambda: _ocsp_names(resp, cert))


def _ocsp_names(resp: a_ocsp.OCSPResponse, cert: a_x509.Certificate) -> bool:
    try:
        basic = resp["response_bytes"]["response"].parsed
        for single in basic["tbs_response_data"]["responses"]:
            cid = single["cert_id"]
            if cid["serial_number"].native != cert.serial_number:
                continue
            algo = cid["hash_algorithm"]["algorithm"].native
            if hashlib.new(algo, accel.der(cert.issuer)).digest() == cid["issuer_name_hash"].native:
                return True
    except Exception:
        return False
    return False


def _cms_certs(signed_data: Any) -> list[a_x509.Certificate]:
    """The sound certificates of a CMS ``SignedData``, as objects parsed from their DER — in a
    batch the one object per DER that the DSS items share (``_load``) — remembered on
    ``signed_data`` for the next call.

    The issuing CA and TSA certificates are the same bytes in the CMS and timestamp token of
    every file of an archive; reading their CA flag, issuer, serial and validity for our own
    bookkeeping parsed them again in each file. A copy parsed from the same bytes has the
    same content, and pyHanko works on its own copies (``untag``) of the CMS's objects either
    way. A certificate that does not load alone is dropped, as an unsound one is.
    """
    memo = getattr(signed_data, "_yinxin_certs", None)
    if memo is not None:
        return list(memo)
    out = []
    try:
        for choice in signed_data["certificates"] or []:
            if choice.name != "certificate":
                continue
            der = choice.chosen.dump()
            try:
                cert = _load(a_x509.Certificate, der)
            except Exception:
                continue
            if _sound(cert):
                out.append(cert)
    except Exception:
        pass
    try:
        signed_data._yinxin_certs = tuple(out)
    except Exception:
        pass
    return out


def _tst_signed_data(emb: EmbeddedPdfSignature) -> list[Any]:
    try:
        return list(extract_tst_data_iter(emb.signer_info, signed=False))
    except Exception:
        return []


def _within(cert: a_x509.Certificate, when: dt.datetime) -> bool:
    validity = cert["tbs_certificate"]["validity"]
    nb = validity["not_before"].native
    na = validity["not_after"].native
    return nb - TIME_TOLERANCE <= when <= na + TIME_TOLERANCE


# ---------------------------------------------------------------------------------------------
# seal metadata

_YX_KEYS = {
    "seal_name": ("/SealName",),
    "seal_kind": ("/SealKind", "/SealType"),
    "role": ("/Role",),
}
_REASON_PATTERNS = {
    "seal_name": re.compile(r"(?:印章|seal)\s*[:：]\s*([^;；,，\n]+)", re.I),
    "role": re.compile(r"(?:角色|role)\s*[:：]\s*([^;；,，\n]+)", re.I),
}


def _text(value: Any) -> str | None:
    if isinstance(value, generic.TextStringObject | str):
        s = str(value).strip()
        return s[:200] or None
    if isinstance(value, generic.ByteStringObject | bytes):
        try:
            return bytes(value).decode("utf-8").strip()[:200] or None
        except UnicodeDecodeError:
            return None
    if isinstance(value, generic.NameObject):
        return str(value)[1:][:200] or None
    return None


def _seal_metadata(sig_obj: generic.DictionaryObject) -> tuple[str | None, str | None, str | None]:
    found: dict[str, str | None] = {"seal_name": None, "seal_kind": None, "role": None}
    try:
        yx = sig_obj.get("/Yinxin")
        if isinstance(yx, generic.DictionaryObject):
            for attr, keys in _YX_KEYS.items():
                for k in keys:
                    if found[attr] is None and k in yx:
                        found[attr] = _text(yx[k])
        # documents from other tools: any top-level key that names a seal or a role
        for key in list(sig_obj.keys()):
            lk = str(key).lower()
            if "seal" in lk and "kind" not in lk and "type" not in lk and not found["seal_name"]:
                found["seal_name"] = _text(sig_obj[key])
            elif "seal" in lk and not found["seal_kind"]:
                found["seal_kind"] = _text(sig_obj[key])
            elif "role" in lk and not found["role"]:
                found["role"] = _text(sig_obj[key])
        reason = _text(sig_obj.get("/Reason"))
        if reason:
            for attr, pattern in _REASON_PATTERNS.items():
                m = pattern.search(reason)
                if m and not found[attr]:
                    found[attr] = m.group(1).strip()
    except Exception as e:  # metadata is informational; never fail the verification on it
        logger.info("seal metadata unreadable: %s", e)
    return found["seal_name"], found["seal_kind"], found["role"]


# ---------------------------------------------------------------------------------------------
# small helpers


def _broken_report(b: _Broken) -> SignatureReport:
    return SignatureReport(
        field_name=b.field_name,
        signer_name="",
        signer_subject="",
        certificate_serial="",
        certificate_issuer="",
        seal_name=None,
        seal_kind=None,
        role=None,
        signing_time=None,
        timestamp_time=None,
        timestamp_authority=None,
        timestamp_valid=None,
        certificate_checked_at=None,
        certificate_valid_at_signing=False,
        revoked=None,
        revocation_source="none",
        intact=False,
        trusted=False,
        coverage="unclear",
        changes_after="other",
        level=None,
        valid=False,
        problems=[f"签名数据无法解析 / the signature could not be processed: {b.error[:300]}"],
    )


def _rfc4514(name: a_x509.Name) -> str:
    """RFC 4514 text, most specific first, with CJK kept as is (not \\-escaped hex)."""
    parts = []
    try:
        for rdn in reversed(list(name.chosen)):
            attrs = []
            for atv in rdn:
                key = _SHORT.get(atv["type"].native, atv["type"].dotted)
                value = str(atv["value"].native)
                value = re.sub(r'([,+"\\<>;])', r"\\\1", value)
                attrs.append(f"{key}={value}")
            parts.append("+".join(attrs))
    except Exception:
        return name.human_friendly
    return ",".join(parts)


_SHORT = {
    "common_name": "CN",
    "country_name": "C",
    "organization_name": "O",
    "organizational_unit_name": "OU",
    "locality_name": "L",
    "state_or_province_name": "ST",
    "street_address": "STREET",
    "serial_number": "serialNumber",
    "email_address": "E",
    "domain_component": "DC",
    "user_id": "UID",
}


def _common_name(cert: a_x509.Certificate) -> str:
    try:
        cn = cert.subject.native.get("common_name")
        if isinstance(cn, list):
            cn = cn[-1]
        return str(cn) if cn else _rfc4514(cert.subject)
    except Exception:
        return "?"


def _zoned(t: dt.datetime | None) -> dt.datetime | None:
    """A claimed signing time with its zone. The /M of a signature is a PDF date whose zone is
    optional ("D:20261207091255", as other tools write it) and pyHanko gives it back naive:
    the reports turned it to UTC as the machine's local time (eight hours early on a server
    in Beijing) and the JSON wrote it with no offset, read by the verification page in the
    browser's zone. Read as UTC, as poppler's pdfsig reads it."""
    return t.replace(tzinfo=dt.UTC) if t is not None and t.utcoffset() is None else t


def _fmt_time(t: dt.datetime | None) -> str:
    if t is None:
        return "—"
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _yes_no(v: bool | None, yes: str, no: str, unknown: str = "未知 / unknown") -> str:
    return unknown if v is None else (yes if v else no)


def describe_certificate_status(s: SignatureReport) -> str:
    """One line for the 证书状态 row, shared by the text and PDF reports."""
    trust = "受信任 / trusted" if s.trusted else "不受信任 / untrusted"
    if s.revoked:
        rev = "已吊销 / revoked"
    elif s.revoked is False:
        rev = f"未吊销 / not revoked（{bilingual(REVOCATION_SOURCE_WORDS, s.revocation_source)}）"
    else:
        rev = "吊销状态未检查 / revocation not checked"
    period = (
        "签署时有效 / valid at signing"
        if s.certificate_valid_at_signing
        else ("签署时无效 / not valid at signing")
    )
    return f"{trust}；{period}；{rev}"


def describe_changes(s: SignatureReport) -> str:
    return bilingual(CHANGE_WORDS, s.changes_after)


def describe_integrity(s: SignatureReport) -> str:
    """The 文档完整性 row: intact or not, and what the signature covers."""
    state = "完整 / intact" if s.intact else "已被篡改 / NOT intact"
    return f"{state}；{bilingual(COVERAGE_WORDS, s.coverage)}"


def describe_timestamp(s: SignatureReport) -> str:
    if s.timestamp_time is None:
        return "无 / none"
    ok = _yes_no(s.timestamp_valid, "有效 / valid", "无效 / invalid")
    return f"{_fmt_time(s.timestamp_time)}（{s.timestamp_authority or '?'}，{ok}）"


def issuer_display(s: SignatureReport) -> str:
    m = re.search(r"(?:^|,)CN=((?:\\.|[^,\\])+)", s.certificate_issuer)
    return m.group(1).replace("\\", "") if m else s.certificate_issuer


def seal_display(s: SignatureReport) -> str:
    if not s.seal_name and not s.seal_kind:
        return "—"
    if s.seal_name and s.seal_kind:
        return f"{s.seal_name}（{s.seal_kind}）"
    return s.seal_name or s.seal_kind or "—"


def _format_text(r: VerificationReport) -> str:
    verdict = VERDICT_TEXT[r.indication]
    lines = [
        "电子签名验证报告 / Signature verification report",
        f"文件 / File:        {r.file_name}",
        f"SHA-256:            {r.sha256}",
        f"验证时间 / Verified: {_fmt_time(r.verified_at)}",
        f"验证策略 / Policy:   {POLICY_TEXT.get(r.policy, r.policy)}",
        f"签名数 / Signatures: {len(r.signatures)}",
    ]
    if r.document_timestamps:
        lines.append(f"文档时间戳 / Document timestamps: {r.document_timestamps}")
    for p in r.problems:
        lines.append(f"  ! {p}")
    for n in r.notes:
        lines.append(f"  · {n}")
    for i, s in enumerate(r.signatures, 1):
        lines += [
            "",
            f"[{i}] {s.field_name} — {SIGNATURE_VERDICT_TEXT[s.indication]}",
            f"  签署人 / Signer:         {s.signer_name}  ({s.signer_subject})",
            f"  角色 / Role:             {s.role or '—'}",
            f"  印章 / Seal:             {seal_display(s)}",
            f"  证书序列号 / Serial:     {s.certificate_serial}",
            f"  签发机构 / Issuer:       {s.certificate_issuer}",
            f"  签署时间 / Signed at:    {_fmt_time(s.signing_time)}（自报 / claimed）",
            f"  时间戳 / Timestamp:      {describe_timestamp(s)}",
            f"  证书状态 / Certificate:  {describe_certificate_status(s)}",
            f"  判定时刻 / Judged at:    证书 / certificate {_fmt_time(s.certificate_checked_at)}"
            f"；时间戳 / timestamp {_fmt_time(s.timestamp_checked_at)}",
            f"  文档完整性 / Integrity:  {describe_integrity(s)}",
            f"  签署后修改 / Changes:    {describe_changes(s)}",
            f"  级别 / Level:            {s.level or '—'}",
        ]
        for p in s.problems:
            lines.append(f"  ! {p}")
        for n in s.notes:
            if n not in r.notes:  # the file's note, said once above
                lines.append(f"  · {n}")
    lines += ["", f"结论 / Verdict: {verdict}"]
    return "\n".join(map(shown, lines))  # the document's text cannot add or hide a line


__all__ = [
    "NO_SIGNATURES",
    "SIGNATURE_VERDICT_TEXT",
    "VERDICT_TEXT",
    "Indication",
    "SignatureReport",
    "VerificationReport",
    "averify_pdf",
    "verify_pdf",
]
