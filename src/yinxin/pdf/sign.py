"""Sealing PDF contracts: a visible seal plus a PAdES signature, appended as an incremental update.

What a signature is made of (ISO 32000-2 §12.8, ETSI EN 319 142-1 PAdES baseline):

* a signature field whose widget shows the seal image (a transparent PNG drawn over the text,
  so the label "甲方（签章）" shows through, as on paper), bound to the signature dictionary;
* ``/SubFilter /ETSI.CAdES.detached`` with a CMS SignedData over the ``/ByteRange`` (signer
  certificate and chain embedded; ``signing-certificate-v2`` signed), see ``cades``;
* B-T: an RFC 3161 token over the signature value, from the caller's ``Timestamper``;
* B-LT: a further update with a Document Security Store (certificates, OCSP responses, CRLs
  supplied by the caller) so the signature validates years later with no network;
* B-LTA: then a document timestamp over everything.

The signer's role (甲方, 乙方, 中介方, 鉴证单位, 公证单位 …) goes into ``/Reason`` ("甲方签章" or
"甲方：<reason>") and, with the seal's name and kind, into a ``/Yinxin`` dictionary
(``/SealName``, ``/SealKind``, ``/Role``) that ``yinxin.pdf.verify`` reads back.

Each signer appends one revision and never touches earlier bytes, so earlier signatures stay
valid; the document is refused if an earlier signature no longer matches its bytes, was
followed by changes beyond form filling, or locked the document.

Why not pyHanko's ``PdfSigner``: it is the reference we test against, but per signature it
re-encodes every certificate and rebuilds its attribute machinery (≈ 70 ms for one page here).
The update and the CMS are small and fixed in shape, so we write them directly — pre-encoded
signer material, a cached image XObject, one digest pass — and check every output with pyHanko's
validator and poppler's ``pdfsig`` in the tests. The key only ever sees ``KeyHandle.sign``, so
HSM keys work unchanged.

Cross-page seal (骑缝章): the one signature field gets one widget per page, each showing its
vertical strip of the seal at the right edge of that page; all are ``/Kids`` of the field and
all live in the signed revision, so removing or moving a strip breaks the signature. The kids
carry no ``/Parent``: poppler (pdfsig, Evince, Okular) takes a kid *with* ``/Parent`` for a
child field, finds no ``/V`` in it (signature values are not inherited there) and reports N
unsigned signature fields; without it, poppler and pyHanko both see exactly one signed field
with N widgets, and pyHanko's difference analysis already walks ``/Kids`` widgets. ISO 32000
asks for ``/Parent`` on kids; we trade that for verifiers agreeing, and say so here.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from yinxin.errors import ValidationError
from yinxin.pdf import cades
from yinxin.pdf.anchors import AnchorHit, AnchorReadError, find_text
from yinxin.pdf.fields import locks_document, signature_fields
from yinxin.pdf.incremental import (
    Page,
    PageTree,
    Update,
    dget,
    serialise,
)
from yinxin.pdf.timestamps import Timestamper, TimestampError, timestamp
from yinxin.pki.keys import KeyHandle

__all__ = [
    "AnchorHit",
    "EmptySignatureField",
    "FieldSigner",
    "Placement",
    "PreparedLock",
    "RevocationData",
    "SealStamp",
    "SignRequest",
    "SignedPdf",
    "SigningError",
    "Timestamper",
    "append_document_timestamp",
    "append_dss",
    "check_field",
    "check_new_field",
    "check_some_field",
    "empty_signature_fields",
    "prepared_locks",
    "signed_field_names",
    "find_anchor",
    "finish_long_term",
    "sign_pdf",
    "sign_pdf_detailed",
]

MM = 72.0 / 25.4


class Level(StrEnum):
    """PAdES baseline levels (ETSI EN 319 142-1), as recorded with each signature."""

    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"


LEVELS = tuple(Level)
_BYTE_RANGE_PLACEHOLDER = b"[0 0000000000 0000000000 0000000000]"


class SigningError(ValidationError):
    """The document, the placement or the request cannot be signed as asked."""

    code = "signing_refused"


class OutsidePage(SigningError):
    """A seal placed by page and position that runs off its page. ``axis`` is the coordinate
    that takes it off — ``x`` past the left or right edge, ``y`` the bottom or top (``x`` when
    both) — so a caller can name the option typed for it: the services name every placement
    refusal ``placement``, and a signer whose ``--y`` alone was wrong was told ``[x]``."""

    code = "outside_page"

    def __init__(
        self,
        message: str,
        *,
        axis: str = "x",
        field: str | None = "placement",
        code: str | None = None,
    ):
        super().__init__(message, field=field, code=code)
        self.axis = axis


@dataclass(frozen=True)
class Placement:
    """Where the seal goes; coordinates are as the page is displayed (after ``/Rotate``).

    ``page`` is 1-based, negative counts from the end. With ``anchor`` the seal is centred on
    the end of the anchor text (over "签章）" and the blank after it, as a paper seal is
    stamped); ``x_mm``/``y_mm`` then shift it. Without ``anchor`` they are the seal's lower-left
    corner from the page's lower-left corner. ``page=None`` means: with an anchor, search every
    page and take the last hit (signature blocks close a contract); otherwise the last page.
    """

    page: int | None = None
    x_mm: float | None = None
    y_mm: float | None = None
    anchor: str | None = None
    width_mm: float = 40.0


@dataclass(frozen=True)
class SealStamp:
    """The seal image: RGBA PNG on a transparent background, and its physical size."""

    png: bytes
    width_mm: float
    height_mm: float
    name: str
    kind: str


@dataclass(frozen=True)
class RevocationData:
    """Status evidence to embed for B-LT: DER OCSP responses and CRLs, plus any certificates
    (OCSP responders, TSA chain) a verifier will need and cannot find in the signature."""

    ocsp_responses: list[bytes] = field(default_factory=list)
    crls: list[bytes] = field(default_factory=list)
    certificates: list[x509.Certificate] = field(default_factory=list)


@dataclass
class SignRequest:
    pdf: bytes
    key: KeyHandle
    certificate: x509.Certificate
    chain: list[x509.Certificate]  # issuing CA, root
    stamp: SealStamp | None
    placement: Placement | None
    timestamper: Timestamper | None
    level: str = "B-T"  # "B-B" | "B-T" | "B-LT" | "B-LTA"
    # for B-LT: the data itself, or a function called once the signature and its timestamp
    # exist, so the status evidence is produced after the moment it must vouch for
    revocation: RevocationData | Callable[[], RevocationData] | None = None
    trust_roots: list[x509.Certificate] = field(default_factory=list)
    field_name: str | None = None
    reason: str | None = None
    location: str | None = None
    role: str | None = None  # "甲方" / "乙方" / "中介方" / "鉴证单位" / "公证单位"
    lock: bool = False  # the last signer locks the document (DocMDP / FieldMDP, P=1)
    cross_page: bool = False  # 骑缝章 across the right edges of all pages
    signing_time: dt.datetime | None = None  # /M; defaults to now


@dataclass(frozen=True)
class FieldSigner:
    """Who seals into a prepared field, as far as its seed values (/SV) judge them: the
    certificate and its chain, the role and reason (the /Reason made of them), whether the
    seal locks the document and whether it is timestamped (None: not known yet — a batch's
    code is asked for before its level is). A caller knows this before the signer's code is
    asked for (the seal's certificate needs no PIN), so ``check_field`` judges the seed values
    then; sealing judges them from its ``SignRequest`` by the same rule."""

    certificate: x509.Certificate
    chain: Sequence[x509.Certificate] = ()
    trust_roots: Sequence[x509.Certificate] = ()
    role: str | None = None
    reason: str | None = None
    lock: bool = False
    timestamped: bool | None = True

    @classmethod
    def of(cls, req: SignRequest) -> FieldSigner:
        return cls(
            req.certificate,
            tuple(req.chain),
            tuple(req.trust_roots),
            req.role,
            req.reason,
            bool(req.lock),
            req.timestamper is not None,
        )

    @property
    def hash_name(self) -> str | None:
        """The digest the seal will use: its key's (``cades.signer_material``), read from the
        certificate's public key as the key handle reads its own. None for a key that makes
        no PDF signature (SM2: GB/T 38540 seals), which sealing refuses naming ``key``."""
        from yinxin.pki.algorithms import algorithm_of

        try:
            alg = algorithm_of(self.certificate.public_key())
        except Exception:  # a key cryptography cannot read (SM2) or the platform does not issue
            return None
        return None if alg.family == "sm2" else alg.hash.name


# ------------------------------------------------------------------------------ reading


def _startxref_lands(pdf: bytes) -> bool:
    """Whether the file's last ``startxref`` offset points at ``xref`` or at an object (an
    xref stream's ``N G obj``), as the reader's first step needs."""
    at = pdf.rfind(b"startxref")
    match = re.match(rb"startxref\s+(\d{1,12})", pdf[at : at + 40]) if at >= 0 else None
    if match is None:
        return False
    offset = int(match.group(1))
    return re.match(rb"\s*(xref|\d+\s+\d+\s+obj)", pdf[offset : offset + 32]) is not None


def _open(pdf: bytes) -> tuple[PdfFileReader, PageTree]:
    if not isinstance(pdf, bytes | bytearray) or not pdf:
        raise SigningError("no PDF was given", field="pdf", code="not_pdf")
    pdf = bytes(pdf)
    if b"%PDF-" not in pdf[:1024]:
        raise SigningError("this is not a PDF file", field="pdf", code="not_pdf")
    tail = pdf[-2048:]
    if b"%%EOF" not in tail or b"startxref" not in tail:
        raise SigningError(
            "the PDF is truncated (no end-of-file marker)", field="pdf", code="truncated"
        )
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        encrypted = "/Encrypt" in reader.trailer or reader.encrypted
    except Exception as exc:  # untrusted input: any parse failure is a refusal
        if not _startxref_lands(pdf):
            raise SigningError(
                "the PDF is damaged: its last startxref does not point at a cross-reference "
                "section (readers rebuild such a file, and a signature over what they rebuild "
                "is not made); save it again from the program that made it",
                field="pdf",
                code="unreadable",
            ) from None
        raise SigningError(
            f"the PDF cannot be read ({type(exc).__name__}: {exc})", field="pdf", code="unreadable"
        ) from None
    if encrypted:
        raise SigningError(
            "the PDF is encrypted; remove its password protection before sealing",
            field="pdf",
            code="encrypted",
        )
    try:
        pages = PageTree(reader)
    except Exception as exc:
        raise SigningError(
            f"the PDF's page tree cannot be read ({exc})", field="pdf", code="unreadable"
        ) from None
    if len(pages) == 0:
        raise SigningError("the PDF has no pages", field="pdf", code="unreadable")
    return reader, pages


def check_signable(
    pdf: bytes,
    *,
    earlier_signatures: bool = False,
    field_name: str | None = None,
    prepared_fields: bool = False,
) -> None:
    """Refuses, as sealing it would (``SigningError`` naming ``pdf``), a document that cannot be
    sealed: not a PDF, truncated, unreadable, encrypted or without pages. A sign flow checks
    its documents so when it is made, not when its signers come to sign.

    With ``earlier_signatures``, also as a PAdES signature would refuse it for the signatures
    it already carries: one altered after signing (``broken_signature``,
    ``modified_after_signing``), locked (``locked``) or a GB/T 38540 seal's
    (``mixed_signatures``).

    A certification permitting form filling (P=2, P=3) refuses a new field (``certified``),
    not a seal into a prepared one: so not when ``field_name`` names an empty signature field
    of the document, nor with ``prepared_fields`` when it has one (a code is asked for before
    the field is named; sealing judges the field named).

    A new field an earlier signature's field lock covers (FieldMDP /All, /Exclude) is refused
    (``field_locked``); with ``prepared_fields``, so is a document whose empty fields that
    lock covers too: nothing is left to seal."""
    reader, pages = _open(pdf)
    if earlier_signatures:
        into = False
        empty: list[str] = []
        if field_name or prepared_fields:
            try:
                empty = [f.name for f in _empty_fields(reader, pages)]
            except Exception:  # an unreadable form: no field to seal into
                empty = []
            into = field_name in empty if field_name else bool(empty)
        sigs = _check_existing_signatures(reader, into_field=into)
        if into and not field_name and all(_lock_of(n, sigs) for n in empty):
            into = False  # every empty field is locked: only a new one is left
        names = _field_names(reader) if not into else set()
        if not into and field_name not in names:
            # a new field is made (a name taken is sealing's field_exists): one an earlier
            # field lock covers is refused
            _check_new_field_not_locked(field_name or _unique("Signature", names), field_name, sigs)


def _certified_error(reader: PdfFileReader, emb: Any) -> SigningError:
    """The refusal of a seal in a new field beside signature ``emb``, a certification (or field
    lock) permitting form filling only (P=2, P=3), offering the empty fields to name instead:
    sealing's (``_check_existing_signatures``) and ``check_new_field``'s, before the code."""
    try:
        offer = _empty_list(reader, PageTree(reader))
    except Exception:  # the page tree is judged by the caller
        offer = "the document has no empty signature field"
    return SigningError(
        f"signature {emb.field_name!r} permits only form filling and signing its own fields "
        f"(DocMDP or field lock P={emb.docmdp_level.value}): it allows no new "
        "signature field, and a seal added to it would make that signature invalid; "
        f"name an empty signature field to seal into ({offer})",
        field="pdf",
        code="certified",
    )


def _embedded_signatures(reader: PdfFileReader) -> tuple[list, int]:
    """The signatures pyHanko can read, in signing order, and how many signed signature fields
    there are: pyHanko's ``embedded_signatures`` over every field the verifiers read
    (``yinxin.pdf.fields``) — its own walk skips a field without a name (/T) and widgets found
    only among a page's annotations, which a viewer shows and our verifier judges, so a broken
    signature there would be signed over. As pyHanko, a /SubFilter it does not know (a
    GB/T 38540 seal signature's) is left out of the signatures, not of the count."""
    from pyhanko.sign.fields import SigSeedSubFilter
    from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

    fields = signature_fields(reader)
    out = []
    for f in fields:
        try:
            SigSeedSubFilter(f.ref.get_object()["/V"].get_object().get("/SubFilter"))
        except ValueError:
            continue
        out.append(EmbeddedPdfSignature(reader, f.ref, f.name))
    return sorted(out, key=lambda emb: emb.signed_revision), len(fields)


def _check_existing_signatures(reader: PdfFileReader, *, into_field: bool = False) -> list:
    """Refuse documents whose earlier signatures are broken, overtaken, or locked.

    ``into_field``: the seal goes into a signature field the document already has, which a
    certification permitting form filling (P=2, P=3) allows; a new field it does not."""
    from pyhanko.sign.diff_analysis import (
        DEFAULT_DIFF_POLICY,
        ModificationLevel,
        SuspiciousModification,
    )
    from pyhanko.sign.validation.generic_cms import validate_sig_integrity
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    try:
        sigs, filled = _embedded_signatures(reader)
    except Exception as exc:  # a hostile /AcroForm or signature: as unreadable
        raise SigningError(
            f"an existing signature cannot be read ({exc})", field="pdf", code="broken_signature"
        ) from None
    if len(sigs) < filled:
        # pyHanko skips what it cannot read by /SubFilter: a GB/T 38540 seal signature
        # (``yinxin.pdf.ses``). One kind of signature per document; the verifiers judge one.
        raise SigningError(
            "the document carries a GB/T 38540 seal signature (or another kind PAdES cannot "
            "read); a PAdES signature is not added to it — use `yinxin sign ses-pdf`",
            field="pdf",
            code="mixed_signatures",
        )
    for emb in sigs:
        name = emb.field_name
        try:
            coverage = emb.coverage = emb.evaluate_signature_coverage()
            digest = emb.compute_digest()
            if emb.sig_object_type == "/DocTimeStamp":
                content = emb.signed_data["encap_content_info"]["content"]
                own = hashlib.new(emb.md_algorithm, bytes(content.contents)).digest()
                intact, valid = validate_sig_integrity(
                    emb.signer_info, emb.signer_cert, "tst_info", own
                )
                imprint = content.parsed["message_imprint"]["hashed_message"].native
                intact = intact and imprint == digest
            else:
                intact, valid = validate_sig_integrity(
                    emb.signer_info, emb.signer_cert, "data", digest
                )
        except Exception as exc:
            raise SigningError(
                f"existing signature {name!r} cannot be checked ({exc})",
                field="pdf",
                code="broken_signature",
            ) from None
        if coverage < SignatureCoverageLevel.ENTIRE_REVISION or not intact or not valid:
            raise SigningError(
                f"existing signature {name!r} does not match the document: it was altered "
                "after signing; refusing to add a signature to it",
                field="pdf",
                code="broken_signature",
            )
        if locks_document(emb):
            raise SigningError(
                f"signature {name!r} locked the document; no further signatures are allowed",
                field="pdf",
                code="locked",
            )
        if emb.sig_object_type == "/Sig" and emb.docmdp_level is not None and not into_field:
            # A certification (DocMDP) permitting form filling (P=2) or comments too (P=3) —
            # or a field /Lock saying the same, which pyHanko reads alike —
            # allows signing the signature fields it was given, not making a new one: pyHanko
            # and our verifier then judge it broken, and the next signer is refused. A seal goes
            # into a prepared field only when one is named
            # (``field_name``), so without one the document is refused before, not after.
            raise _certified_error(reader, emb)
    for emb in sigs:
        # Every later revision must be something a signature permits (new signatures,
        # form filling, DSS); anything else (edited page content) taints the document.
        result = emb.evaluate_modifications(DEFAULT_DIFF_POLICY)
        if isinstance(result, SuspiciousModification) or (
            result.modification_level == ModificationLevel.OTHER
        ):
            raise SigningError(
                f"the document was changed after signature {emb.field_name!r} in ways a "
                "signature does not allow; refusing to sign it",
                field="pdf",
                code="modified_after_signing",
            )
    return sigs


# ------------------------------------------------------------------------------ anchors


def _find(
    pdf: bytes, text: str, only: list[Page] | None = None, last_page: bool = True
) -> list[AnchorHit]:
    """Occurrences of ``text`` (on the ``only`` pages if given), read by PDFium.

    By default only those on the last page that has any: placement seals the last one, and
    reading from the end spares PDFium the body of a long contract. ``pdf`` has already passed
    ``_open``; PDFium reads the same bytes, so its page order is the page tree's. A document
    pyHanko parses and PDFium cannot is refused as unreadable.
    """
    pages = None if only is None else [p.index for p in only]
    try:
        return find_text(bytes(pdf), text, pages, last_page=last_page)
    except AnchorReadError as exc:
        raise SigningError(
            f"the PDF's text cannot be read ({exc})", field="pdf", code="unreadable"
        ) from None


def find_anchor(pdf: bytes, text: str) -> list[AnchorHit]:
    """Every occurrence of ``text`` in ``pdf``: 1-based page and box in PDF points."""
    _open(pdf)  # the same refusals (not a PDF, truncated, encrypted …) as sealing
    return _find(pdf, text, last_page=False)


# ------------------------------------------------------------------------------ geometry


class _View:
    """Maps between displayed ("visual") page coordinates and PDF user space (``/Rotate``).

    Visual coordinates are points as the page is shown: a page's ``/UserUnit`` makes each unit
    of its user space that many points (a 298 × 421 page at 2 shows as A4), so millimetres
    given for the displayed page are divided by it on the way into user space."""

    def __init__(self, page: Page):
        self.x0, self.y0, x1, y1 = page.box
        self.unit = page.user_unit
        self.w, self.h = (x1 - self.x0) * self.unit, (y1 - self.y0) * self.unit
        self.rotate = page.rotate
        self.size = (self.h, self.w) if self.rotate in (90, 270) else (self.w, self.h)

    def to_user(self, vx: float, vy: float) -> tuple[float, float]:
        r, w, h = self.rotate, self.w, self.h
        if r == 90:
            ux, uy = w - vy, vx
        elif r == 180:
            ux, uy = w - vx, h - vy
        elif r == 270:
            ux, uy = vy, h - vx
        else:
            ux, uy = vx, vy
        return self.x0 + ux / self.unit, self.y0 + uy / self.unit

    def to_visual(self, ux: float, uy: float) -> tuple[float, float]:
        r, w, h = self.rotate, self.w, self.h
        ux, uy = (ux - self.x0) * self.unit, (uy - self.y0) * self.unit
        if r == 90:
            return uy, w - ux
        if r == 180:
            return w - ux, h - uy
        if r == 270:
            return h - uy, ux
        return ux, uy

    def rect(self, vx: float, vy: float, vw: float, vh: float) -> tuple[float, ...]:
        ax, ay = self.to_user(vx, vy)
        bx, by = self.to_user(vx + vw, vy + vh)
        return (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))

    @property
    def matrix(self) -> bytes:
        """Form matrix that turns the appearance upright on a rotated page."""
        return {
            0: b"",
            90: b" /Matrix [0 1 -1 0 0 0]",
            180: b" /Matrix [-1 0 0 -1 0 0]",
            270: b" /Matrix [0 -1 1 0 0 0]",
        }[self.rotate]


def _pick_page(pages: PageTree, number: int | None, default: int = -1) -> Page:
    n = default if number is None else number
    index = n - 1 if n > 0 else len(pages) + n
    if n == 0 or not 0 <= index < len(pages):
        raise SigningError(
            f"page {number} is out of range: the document has {len(pages)} page(s)",
            field="placement",
            code="page_out_of_range",
        )
    return pages[index]


# ------------------------------------------------------------------------------ appearance


@dataclass(frozen=True)
class _Image:
    width: int
    height: int
    rgb: bytes  # zlib
    alpha: bytes | None  # zlib, None when fully opaque


@functools.lru_cache(maxsize=32)
def _decode_png(png: bytes) -> _Image:
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(png))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise SigningError(f"the seal image cannot be read ({exc})", field="stamp") from None
    img = img.convert("RGBA")
    rgb = img.convert("RGB").tobytes()
    alpha_band = img.getchannel("A")
    lo, _hi = alpha_band.getextrema()
    alpha = None if lo == 255 else zlib.compress(alpha_band.tobytes(), 6)
    return _Image(img.width, img.height, zlib.compress(rgb, 6), alpha)


def _image_objects(update: Update, image: _Image) -> int:
    smask = b""
    if image.alpha is not None:
        mask = update.add(
            b"<</Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
            b" /BitsPerComponent 8 /Filter /FlateDecode /Length %d>>\nstream\n"
            % (image.width, image.height, len(image.alpha))
            + image.alpha
            + b"\nendstream"
        )
        smask = b" /SMask %d 0 R" % mask
    return update.add(
        b"<</Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB"
        b" /BitsPerComponent 8%s /Filter /FlateDecode /Length %d>>\nstream\n"
        % (image.width, image.height, smask, len(image.rgb))
        + image.rgb
        + b"\nendstream"
    )


def _num(v: float) -> bytes:
    return (b"%.4f" % v).rstrip(b"0").rstrip(b".") or b"0"


def _form(
    update: Update, image_num: int, bbox_w: float, bbox_h: float, draw: bytes, matrix: bytes
) -> int:
    content = b"q " + draw + b" /Im0 Do Q"
    return update.add(
        b"<</Type /XObject /Subtype /Form /BBox [0 0 %s %s]%s"
        b" /Resources <</XObject <</Im0 %d 0 R>>>> /Length %d>>\nstream\n"
        % (_num(bbox_w), _num(bbox_h), matrix, image_num, len(content))
        + content
        + b"\nendstream"
    )


@dataclass
class _WidgetSpec:
    page: Page
    rect: tuple[float, ...]
    bbox: tuple[float, float] | None = None  # appearance size; None = invisible widget
    draw: bytes = b""  # placement of the image inside the appearance
    matrix: bytes = b""


@dataclass
class _Plan:
    """One signature revision: its field, widgets, dictionary and /Contents reservation."""

    sig_dict: bytes  # inside of << >>, without /ByteRange and /Contents
    widgets: list[_WidgetSpec]
    field_name: str
    field_extra: bytes = b""
    image: _Image | None = None
    certify: bool = False
    pades_catalog: bool = True
    reserve: int = 16384  # DER bytes reserved for /Contents
    hash_name: str = "sha256"
    target: _Target | None = None  # a prepared field to fill instead of a new one


# ------------------------------------------------------------------------------ writing


def _pdf_text(value: str) -> bytes:
    return serialise(generic.TextStringObject(value))


def _pdf_date(when: dt.datetime) -> bytes:
    when = when.astimezone(dt.UTC)
    return b"(D:" + when.strftime("%Y%m%d%H%M%S").encode() + b"+00'00')"


def _ref(num: int, gen: int = 0) -> generic.IndirectObject:
    return generic.IndirectObject(num, gen, None)


def _rect_bytes(rect: tuple[float, ...]) -> bytes:
    return b" ".join(_num(v) for v in rect)


def _catalog_updates(reader: PdfFileReader, root: generic.DictionaryObject) -> bool:
    """PAdES needs PDF 1.7 and declares the ESIC extension below 2.0 (as pyHanko does)."""
    changed = False
    version = reader.input_version
    try:
        cat_version = dget(root, "/Version")
        if cat_version is not None:
            major, minor = str(cat_version)[1:].split(".")
            version = max(version, (int(major), int(minor)))
    except (ValueError, TypeError):
        pass
    if version < (1, 7):
        root["/Version"] = generic.NameObject("/1.7")
        version = (1, 7)
        changed = True
    if version < (2, 0):
        ext = dget(root, "/Extensions")
        if not isinstance(ext, generic.DictionaryObject) or "/ESIC" not in ext:
            ext = generic.DictionaryObject(ext if isinstance(ext, generic.DictionaryObject) else {})
            ext["/ESIC"] = generic.DictionaryObject(
                {
                    generic.NameObject("/Type"): generic.NameObject("/DeveloperExtensions"),
                    generic.NameObject("/BaseVersion"): generic.NameObject("/1.7"),
                    generic.NameObject("/ExtensionLevel"): generic.NumberObject(1),
                }
            )
            root["/Extensions"] = ext
            changed = True
    return changed


def _field_names(reader: PdfFileReader) -> set[str]:
    """The names a new field must not take: the form's fields' and those of the signed
    signature fields a viewer lists (``yinxin.pdf.fields``: one only among a page's
    annotations too), so no two signatures of a document bear one name."""
    names: set[str] = set()
    try:
        fields = reader.root["/AcroForm"]["/Fields"]
    except (KeyError, TypeError):
        fields = []
    for ref in fields:
        try:
            names.add(str(ref.get_object()["/T"]))
        except (KeyError, AttributeError, TypeError):
            continue
    try:
        names |= {f.name for f in signature_fields(reader)}
    except Exception:  # an unreadable form tree: the names read above
        pass
    return names


def _unique(prefix: str, names: set[str]) -> str:
    n = 1
    while f"{prefix}{n}" in names:
        n += 1
    return f"{prefix}{n}"


def _widget_body(update: Update, image_num: int | None, spec: _WidgetSpec) -> bytes:
    ap = b""
    if spec.bbox is not None and image_num is not None:
        form = _form(update, image_num, spec.bbox[0], spec.bbox[1], spec.draw, spec.matrix)
        ap = b" /AP <</N %d 0 R>>" % form
    return b"/Type /Annot /Subtype /Widget /F 132 /Rect [%s] /P %d %d R%s" % (
        _rect_bytes(spec.rect),
        spec.page.ref.idnum,
        spec.page.ref.generation,
        ap,
    )


def _write_revision(
    pdf: bytes, reader: PdfFileReader, plan: _Plan, make_contents: Callable[[bytes], bytes]
) -> bytes:
    """Append field, widgets, appearances and signature dictionary; then fill /Contents."""
    for _attempt in range(3):
        update = Update(reader, len(pdf))
        target = plan.target
        field_num = update.new() if target is None else target.ref.idnum
        sig_num = update.new()
        image_num = _image_objects(update, plan.image) if plan.image is not None else None
        root_ref = reader.trailer.raw_get("/Root")
        root = generic.DictionaryObject(reader.root)
        root_changed = _catalog_updates(reader, root) if plan.pades_catalog else False

        # One merged field/widget, or /Kids when the seal spans several pages.
        placed: list[tuple[Page, int]] = []
        head = b"/FT /Sig /T %s /V %d 0 R" % (_pdf_text(plan.field_name), sig_num)
        if target is not None:
            # the prepared field gets its value, each of its widgets the seal's appearance;
            # everything else of theirs (name, rectangle, flags, page) stays as prepared
            node = generic.DictionaryObject(target.node)
            node["/V"] = _ref(sig_num)
            for wref, spec in target.widgets:
                merged = wref.reference == target.ref.reference
                widget = node if merged else generic.DictionaryObject(wref.get_object())
                if spec.bbox is not None and image_num is not None:
                    form = _form(
                        update, image_num, spec.bbox[0], spec.bbox[1], spec.draw, spec.matrix
                    )
                    widget["/AP"] = generic.DictionaryObject({generic.NameObject("/N"): _ref(form)})
                if not merged:
                    update.replace(wref.reference, widget)
            update.replace(target.ref.reference, node)
        elif len(plan.widgets) == 1:
            spec = plan.widgets[0]
            update.put(
                field_num,
                b"<<"
                + head
                + b" "
                + _widget_body(update, image_num, spec)
                + plan.field_extra
                + b">>",
            )
            placed.append((spec.page, field_num))
        else:
            kids = []
            for spec in plan.widgets:
                num = update.new()
                update.put(
                    num,
                    b"<<" + _widget_body(update, image_num, spec) + b">>",
                )
                kids.append(b"%d 0 R" % num)
                placed.append((spec.page, num))
            update.put(
                field_num,
                b"<<" + head + b" /Kids [" + b" ".join(kids) + b"]" + plan.field_extra + b">>",
            )

        # each page's /Annots (rewriting the array object when it is indirect)
        by_page: dict[int, tuple[Page, list[generic.IndirectObject]]] = {}
        for page, num in placed if target is None else []:
            by_page.setdefault(page.index, (page, []))[1].append(_ref(num))
        for page, new_refs in by_page.values():
            annots_raw = page.obj.raw_get("/Annots") if "/Annots" in page.obj else None
            if isinstance(annots_raw, generic.IndirectObject):
                old = annots_raw.get_object()
                arr = generic.ArrayObject((list(old) if isinstance(old, list) else []) + new_refs)
                update.replace(annots_raw.reference, arr)
            else:
                page_dict = generic.DictionaryObject(page.obj)
                old = list(annots_raw) if isinstance(annots_raw, list) else []
                page_dict["/Annots"] = generic.ArrayObject(old + new_refs)
                update.replace(page.ref, page_dict)

        # AcroForm /Fields and /SigFlags (SignaturesExist | AppendOnly)
        acro_raw = root.raw_get("/AcroForm") if "/AcroForm" in root else None
        acro_obj = acro_raw.get_object() if acro_raw is not None else None
        acro = generic.DictionaryObject(
            acro_obj if isinstance(acro_obj, generic.DictionaryObject) else {}
        )
        # /NeedAppearances true makes poppler (Evince, Okular, pdftoppm) redraw every widget
        # from its field's value — a signature's has none, so the seal vanished. Off, a widget
        # with an appearance shows it, and one without is still drawn from its value (poppler
        # and MuPDF do so whatever the flag): nothing is lost, and pyHanko does the same
        redraw_off = dget(acro, "/NeedAppearances") == True  # noqa: E712
        fields_raw = acro.raw_get("/Fields") if "/Fields" in acro else None
        if target is not None:
            pass  # the field is in the form already
        elif isinstance(fields_raw, generic.IndirectObject):
            old = fields_raw.get_object()
            arr = generic.ArrayObject(
                (list(old) if isinstance(old, list) else []) + [_ref(field_num)]
            )
            update.replace(fields_raw.reference, arr)
        else:
            old = list(fields_raw) if isinstance(fields_raw, list) else []
            acro["/Fields"] = generic.ArrayObject(old + [_ref(field_num)])
        acro["/SigFlags"] = generic.NumberObject(3)
        if redraw_off:
            acro["/NeedAppearances"] = generic.BooleanObject(False)
        if isinstance(acro_raw, generic.IndirectObject):
            update.replace(acro_raw.reference, acro)
        else:
            acro_num = update.new()
            update.put_obj(acro_num, acro)
            root["/AcroForm"] = _ref(acro_num)
            root_changed = True
        if plan.certify:
            perms = dget(root, "/Perms")
            perms = generic.DictionaryObject(
                perms if isinstance(perms, generic.DictionaryObject) else {}
            )
            perms["/DocMDP"] = _ref(sig_num)
            root["/Perms"] = perms
            root_changed = True
        if root_changed:
            update.replace(root_ref.reference, root)

        hex_len = 2 * plan.reserve
        update.put(
            sig_num,
            b"<<"
            + plan.sig_dict
            + b" /ByteRange "
            + _BYTE_RANGE_PLACEHOLDER
            + b" /Contents <"
            + b"0" * hex_len
            + b">>>",
        )
        body, offsets = update.render(b"" if pdf.endswith((b"\n", b"\r")) else b"\n")
        buf = bytearray(pdf)
        buf += body
        sig_at = len(pdf) + offsets[sig_num]
        br_at = buf.index(b"/ByteRange " + _BYTE_RANGE_PLACEHOLDER, sig_at) + 11
        c0 = buf.index(b"/Contents <", br_at) + 10
        c1 = c0 + hex_len + 2
        byte_range = b"[0 %d %d %d]" % (c0, c1, len(buf) - c1)
        buf[br_at : br_at + len(_BYTE_RANGE_PLACEHOLDER)] = byte_range.ljust(
            len(_BYTE_RANGE_PLACEHOLDER)
        )
        digest = hashlib.new(plan.hash_name)
        with memoryview(buf) as view:
            digest.update(view[:c0])
            digest.update(view[c1:])
        contents = make_contents(digest.digest())
        if len(contents) > plan.reserve:
            plan.reserve = len(contents) + 4096
            continue
        buf[c0 + 1 : c0 + 1 + 2 * len(contents)] = contents.hex().encode()
        return bytes(buf)
    raise SigningError("the signature did not fit the space reserved for it", field="pdf")


# ------------------------------------------------------------------------------ layout


def _fitted(
    pages: PageTree, placement: Placement, w: float, h: float
) -> tuple[Page, _View, float, float]:
    """The page, its view and the seal's lower-left corner (visual points) for a placement by
    page and position, the seal ``w`` by ``h`` points; refused if it does not fit the page."""
    page = _pick_page(pages, placement.page)
    view = _View(page)
    vw, vh = view.size
    vx = placement.x_mm * MM if placement.x_mm is not None else vw - w - 20 * MM
    vy = placement.y_mm * MM if placement.y_mm is not None else 30 * MM
    off_x = vx < -0.5 or vx + w > vw + 0.5
    if off_x or vy < -0.5 or vy + h > vh + 0.5:
        if off_x:
            why = (
                "x puts it past the page's left edge"
                if vx < -0.5
                else f"x puts its right edge at {(vx + w) / MM:.0f} mm, the page is "
                f"{vw / MM:.0f} mm wide"
            )
        else:
            why = (
                "y puts it below the page's bottom edge"
                if vy < -0.5
                else f"y puts its top edge at {(vy + h) / MM:.0f} mm, the page is "
                f"{vh / MM:.0f} mm high"
            )
        raise OutsidePage(
            f"the seal ({w / MM:.0f} mm) at ({vx / MM:.0f} mm, {vy / MM:.0f} mm) "
            f"does not fit on page {page.index + 1}: {why}",
            axis="x" if off_x else "y",
        )
    return page, view, vx, vy


def check_fits(pdf: bytes, placement: Placement, *, height_mm: float) -> None:
    """Refuse, as sealing would (``SigningError`` naming ``placement``: ``page_out_of_range``
    or ``outside_page``, an :class:`OutsidePage` saying which coordinate), a placement by page
    and position whose seal, ``placement.width_mm`` wide and ``height_mm`` high, does not fit
    on its page. An anchor placement always fits
    (the seal is kept on the page); ``find_anchor`` says whether its text is there."""
    if placement.anchor:
        return
    _reader, pages = _open(pdf)
    _fitted(pages, placement, placement.width_mm * MM, height_mm * MM)


def _anchor_hits(pdf: bytes, pages: PageTree, placement: Placement) -> list[AnchorHit]:
    """Where ``placement.anchor`` is (on ``placement.page`` when given); refused if nowhere."""
    only = [_pick_page(pages, placement.page)] if placement.page is not None else None
    hits = _find(pdf, placement.anchor, only)
    if not hits:
        raise SigningError(
            f"the anchor text {placement.anchor!r} was not found in the document",
            field="placement",
            code="anchor_not_found",
        )
    return hits


def check_placement(pdf: bytes, placement: Placement | None) -> None:
    """Refuse, as sealing would and without the seal, a placement the document does not take:
    a page it has not (``page_out_of_range``), an anchor text it does not hold there
    (``anchor_not_found``). Whether a seal fits at a position depends on its size
    (``check_fits``)."""
    if placement is None:
        return
    _reader, pages = _open(pdf)
    if placement.anchor:
        _anchor_hits(pdf, pages, placement)
    else:
        _pick_page(pages, placement.page)


def _layout(req: SignRequest, pages: PageTree) -> tuple[list[_WidgetSpec], _Image | None]:
    placement = req.placement
    stamp = req.stamp
    if stamp is None:
        if req.cross_page:
            raise SigningError("a cross-page seal needs a seal image", field="stamp")
        page = _pick_page(pages, placement.page if placement else None, default=1)
        return [_WidgetSpec(page, (0, 0, 0, 0))], None
    if not (stamp.width_mm > 0 and stamp.height_mm > 0):
        raise SigningError("the seal's width and height must be positive", field="stamp")
    image = _decode_png(stamp.png)
    width_mm = placement.width_mm if placement is not None else stamp.width_mm
    if not 5 <= width_mm <= 300:
        raise SigningError(
            f"a seal {width_mm} mm wide is not plausible (5–300 mm)", field="placement"
        )
    w = width_mm * MM
    h = w * stamp.height_mm / stamp.width_mm
    specs: list[_WidgetSpec] = []
    if placement is not None or not req.cross_page:
        placement = placement or Placement(width_mm=width_mm)
        if placement.anchor:
            hit = _anchor_hits(req.pdf, pages, placement)[-1]
            page = pages[hit.page - 1]
            view = _View(page)
            ax, ay = view.to_visual(hit.bbox[0], hit.bbox[1])
            bx, by = view.to_visual(hit.bbox[2], hit.bbox[3])
            cx = max(ax, bx) + (placement.x_mm or 0.0) * MM
            cy = (ay + by) / 2 + (placement.y_mm or 0.0) * MM
            vw, vh = view.size
            vx = min(max(cx - w / 2, 0.0), max(vw - w, 0.0))
            vy = min(max(cy - h / 2, 0.0), max(vh - h, 0.0))
        else:
            page, view, vx, vy = _fitted(pages, placement, w, h)
        draw = b"%s 0 0 %s 0 0 cm" % (_num(w), _num(h))
        specs.append(_WidgetSpec(page, view.rect(vx, vy, w, h), (w, h), draw, view.matrix))
    if req.cross_page:
        every = pages.all()
        if len(every) < 2:
            raise SigningError(
                "a cross-page seal needs a document of at least two pages", field="cross_page"
            )
        strip = w / len(every)
        for i, page in enumerate(every):
            view = _View(page)
            vw, vh = view.size
            draw = b"%s 0 0 %s %s 0 cm" % (_num(w), _num(h), _num(-i * strip))
            rect = view.rect(vw - strip, (vh - h) / 2, strip, h)
            specs.append(_WidgetSpec(page, rect, (strip, h), draw, view.matrix))
    return specs, image


# ------------------------------------------------------------------------------ prepared fields


@dataclass(frozen=True)
class EmptySignatureField:
    """A signature field the document was prepared with and nobody has signed yet (甲方签章 …):
    its qualified name, the 1-based page its first widget is on (None if on none) and that
    widget's rectangle in the page's user space; ``locked`` and ``seed_values`` say it carries
    a /Lock or /SV a seal may not be able to honour (``sign_pdf`` judges them).

    ``locked_by`` names the earlier signature (its field) that forbids sealing into this field
    any more, and ``locked_code`` says how, as ``check_field`` and sealing refuse it: its field
    lock (FieldMDP) covers the field (``field_locked``) or it ended the document (``locked``:
    DocMDP P=1, a lock with /P 1). None: nothing earlier forbids it. A list offering such a
    field as free let a sender pick one that a flow's create then refused.

    ``forbids`` says what a seal into this field will forbid of the seals after it, by the
    rule a flow's create refuses them with (``PreparedLock.forbids``): the other empty fields
    it shuts, each with the code sealing would give (``field_locked``, ``locked``), and
    ``forbids_placement`` the code for a seal placed beside (a new field; ``certified`` too),
    None if it allows one. A start page choosing fields for a flow's signers warns with them
    of an order create refuses, instead of the starter learning it only at 提交."""

    name: str
    page: int | None
    rect: tuple[float, float, float, float] | None
    locked: bool = False
    seed_values: bool = False
    locked_by: str | None = None
    locked_code: str | None = None
    forbids: dict[str, str] = field(default_factory=dict, hash=False)
    forbids_placement: str | None = None

    def listed(self) -> EmptySignatureField:
        """The field as ``yinxin sign fields`` and ``POST /flows/fields`` list it: its rectangle
        to 0.1 pt (a person places a seal by it; more digits are the PDF's float noise). One
        rounding for both, so the two lists cannot come to differ."""
        if self.rect is None:
            return self
        x0, y0, x1, y1 = (round(v, 1) for v in self.rect)
        return replace(self, rect=(x0, y0, x1, y1))


@dataclass
class _FormField:
    """A terminal field of the form: its qualified name, reference, type and widgets."""

    name: str
    ref: generic.IndirectObject
    node: generic.DictionaryObject
    field_type: object
    widgets: list[generic.IndirectObject]

    @property
    def signed(self) -> bool:
        return dget(self.node, "/V") is not None and not isinstance(
            dget(self.node, "/V"), generic.NullObject
        )


def _form_fields(reader: PdfFileReader, limit: int = 20000) -> list[_FormField]:
    """The terminal fields of /AcroForm /Fields (a field whose /Kids, if any, are its widgets
    only, without a /T), with names qualified by their parents' as viewers list them."""
    try:
        top = reader.root["/AcroForm"]["/Fields"]
    except (KeyError, TypeError):
        return []
    if not isinstance(top, generic.ArrayObject):
        return []
    out: list[_FormField] = []
    seen: set = set()
    stack = [(top.raw_get(i), (), None) for i in reversed(range(len(top)))]
    while stack and len(seen) < limit:
        ref, names, inherited = stack.pop()
        if not isinstance(ref, generic.IndirectObject) or ref.reference in seen:
            continue
        seen.add(ref.reference)
        try:
            node = ref.get_object()
        except Exception:  # a dangling reference: no field there
            continue
        if not isinstance(node, generic.DictionaryObject):
            continue
        own = (*names, str(node["/T"])) if "/T" in node else names
        field_type = dget(node, "/FT") or inherited
        kids_raw = dget(node, "/Kids")
        kids = (
            [kids_raw.raw_get(i) for i in range(len(kids_raw))]
            if isinstance(kids_raw, generic.ArrayObject)
            else []
        )
        child_fields = [k for k in kids if _is_named(k)]
        if child_fields:
            stack.extend((k, own, field_type) for k in reversed(child_fields))
            continue
        widgets = [ref] if dget(node, "/Subtype") == "/Widget" else []
        widgets += [k for k in kids if isinstance(k, generic.IndirectObject)]
        out.append(_FormField(".".join(own), ref, node, field_type, widgets))
    return out


def _is_named(kid: object) -> bool:
    """Whether a /Kids entry is a child field (it has a /T), not one of its field's widgets."""
    try:
        obj = kid.get_object() if isinstance(kid, generic.IndirectObject) else None
    except Exception:  # a dangling reference: not a field
        return False
    return isinstance(obj, generic.DictionaryObject) and "/T" in obj


def _widget_page(pages: PageTree, widget_ref: generic.IndirectObject) -> Page | None:
    """The page showing a widget: the one its /P names if that page lists it, else the first
    page whose /Annots holds it (a viewer draws a widget from the page's annotations)."""
    every = pages.all()
    for page in every:
        annots = dget(page.obj, "/Annots")
        if isinstance(annots, generic.ArrayObject):
            for i in range(len(annots)):
                raw = annots.raw_get(i)
                if isinstance(raw, generic.IndirectObject) and raw.reference == (
                    widget_ref.reference
                ):
                    return page
    return None


def _rect_of(widget: generic.DictionaryObject) -> tuple[float, float, float, float] | None:
    try:
        x0, y0, x1, y1 = (float(v) for v in widget["/Rect"])
    except Exception:  # no or a malformed /Rect: the widget is not on the page
        return None
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def empty_signature_fields(pdf: bytes) -> list[EmptySignatureField]:
    """The unsigned signature fields ``pdf`` was prepared with, in form order: what
    ``SignRequest.field_name`` may name to seal into (``yinxin pdf fields`` lists them), each
    marked with the earlier signature that forbids it (``locked_by``, ``locked_code``) by the
    rule ``check_field`` refuses it with (``_earlier_lock``)."""
    reader, pages = _open(pdf)
    found = _empty_fields(reader, pages)
    locks = _prepared_locks(reader) if found else {}
    sigs = _lock_holders(reader) if found else None
    out = []
    for f in found:
        # none signed, or one unreadable: not marked locked_by, as check_field leaves it
        lock = _earlier_lock(f.name, sigs) if sigs is not None else None
        if lock is not None:
            f = replace(f, locked_by=lock[0].field_name, locked_code=lock[1])
        own = locks.get(f.name)
        if own is not None:
            shut = {o.name: own.forbids(o.name) for o in found if o.name != f.name}
            f = replace(
                f,
                forbids={n: code for n, code in shut.items() if code is not None},
                forbids_placement=own.forbids(None),
            )
        out.append(f)
    return out


def signed_field_names(pdf: bytes) -> list[str]:
    """The names of ``pdf``'s signed signature fields, as the verifiers list them: what
    ``yinxin sign fields`` names when no empty one is left."""
    reader, _ = _open(pdf)
    return [f.name for f in signature_fields(reader)]


def _empty_fields(reader: PdfFileReader, pages: PageTree) -> list[EmptySignatureField]:
    out = []
    for f in _form_fields(reader):
        if f.field_type != "/Sig" or f.signed:
            continue
        page = rect = None
        if f.widgets:
            found = _widget_page(pages, f.widgets[0])
            page = found.index + 1 if found is not None else None
            rect = _rect_of(f.widgets[0].get_object())
        out.append(
            EmptySignatureField(
                f.name, page, rect, "/Lock" in f.node, isinstance(dget(f.node, "/SV"), dict)
            )
        )
    return out


@dataclass(frozen=True)
class PreparedLock:
    """What a seal into prepared field ``name`` forbids of the seals after it on the document:
    the fields its /Lock locks (``locks``), all changes (``ends_document``: the lock's /P 1 or a
    certification with P=1 its seed value /MDP asks for) or a new signature field (``certifies``:
    P=2 or P=3, which permits only filling the fields the document has). A sign flow judges
    its signers' fields with it at create: a later signer it forbids would be refused only
    when their turn came, after every signer before had signed."""

    name: str
    action: str | None = None  # /All, /Include, /Exclude; None: no /Lock
    fields: tuple[str, ...] = ()
    ends_document: bool = False
    certifies: bool = False

    def locks(self, other: str) -> bool:
        """Whether the lock covers field ``other`` (pyHanko's ``FieldMDPSpec.is_locked``)."""
        from pyhanko.sign.fields import FieldMDPAction, FieldMDPSpec

        if self.action is None:
            return False
        spec = FieldMDPSpec(FieldMDPAction(self.action), list(self.fields) or None)
        return spec.is_locked(other)

    def forbids(self, other: str | None) -> str | None:
        """Why a later seal into field ``other`` (None: a new field placed beside) is refused
        after this one — the code sealing gives (``field_locked``, ``locked``, ``certified``)
        — or None."""
        if self.ends_document:
            return "locked"
        if other is None and self.certifies:  # sealing judges the certification first
            return "certified"
        # a new field's name is made when it is sealed: one in no list (/All, /Exclude lock it)
        if self.locks(other if other is not None else "\x00 a new field"):
            return "field_locked"
        return None


def prepared_locks(pdf: bytes) -> dict[str, PreparedLock]:
    """The empty signature fields of ``pdf`` whose seal forbids something of the seals after
    it (``PreparedLock``), by name; a /Lock the seal cannot honour is left out (``check_field``
    refuses the field itself)."""
    reader, _ = _open(pdf)
    return _prepared_locks(reader)


def _prepared_locks(reader: PdfFileReader) -> dict[str, PreparedLock]:
    out: dict[str, PreparedLock] = {}
    for f in _form_fields(reader):
        if f.field_type != "/Sig" or f.signed:
            continue
        action: str | None = None
        names: tuple[str, ...] = ()
        lock_p = None
        if "/Lock" in f.node:
            try:
                _field_lock(f.name, f.node)
            except SigningError:
                continue
            lock = dget(f.node, "/Lock")
            action = str(dget(lock, "/Action"))
            if action != "/All":
                names = tuple(str(n) for n in dget(lock, "/Fields"))
            lock_p = _lock_p(f.node)
        sv = dget(f.node, "/SV")
        mdp = _certification_asked(sv) if isinstance(sv, generic.DictionaryObject) else None
        ends = 1 in (lock_p, mdp)
        certifies = not ends and (lock_p in (2, 3) or mdp in (2, 3))
        if action is None and not ends and not certifies:
            continue
        out[f.name] = PreparedLock(f.name, action, names, ends, certifies)
    return out


def _empty_list(reader: PdfFileReader, pages: PageTree) -> str:
    """The empty signature fields, for a refusal's message: what the user may name instead."""
    try:
        names = [f.name for f in _empty_fields(reader, pages)]
    except Exception:  # an unreadable form: nothing to offer
        names = []
    if not names:
        return "the document has no empty signature field"
    return "its empty signature fields: " + ", ".join(repr(n) for n in names)


@dataclass
class _Target:
    """A prepared, unsigned signature field a seal goes into, with its widgets' layouts."""

    ref: generic.IndirectObject
    node: generic.DictionaryObject
    widgets: list[tuple[generic.IndirectObject, _WidgetSpec]]
    lock: bytes | None = None  # the FieldMDP /TransformParams its /Lock asks for


def _refuse_field(name: str, message: str, code: str) -> SigningError:
    return SigningError(f"field {name!r} {message}", field="field_name", code=code)


def _check_seed_values(
    name: str,
    sv: generic.DictionaryObject,
    req: FieldSigner,
    hash_name: str,
    *,
    first: bool,
    field_lock_p: int | None,
) -> int | None:
    """Meet a field's seed values (/SV, ISO 32000-2 §12.7.5.5) or refuse it naming the one
    this seal cannot meet; pyHanko's validator (and so ``yinxin verify``) judges a signature
    against its field's seed values, so one not met is a signature that fails. Met: a
    certificate constraint (/Cert: /Subject, /Issuer, /SubjectDN, /KeyUsage, judged as pyHanko
    does) the signer's certificate and chain satisfy, or one only advised; /Filter
    Adobe.PPKLite; a /SubFilter list whose first is ETSI.CAdES.detached (pyHanko holds the
    signature to the first); /DigestMethod with the one used; /Reasons with the signer's
    reason; a timestamp (/TimeStamp: ours, from the signer's TSA); /MDP P=1..3, a
    certification the first signer makes (the P returned); /LockDocument when --lock gives
    it. Refused: anything else required, including /LegalAttestation (pyHanko cannot judge
    it, so the signature would fail), /AddRevInfo, a certificate constraint on a policy OID
    or a /URL."""
    try:
        ff = int(dget(sv, "/Ff") or 0)
    except (TypeError, ValueError):
        ff = 0

    def required(bit: int) -> bool:
        return bool(ff & (1 << (bit - 1)))

    def refuse(key: str, what: str) -> SigningError:
        return _refuse_field(
            name, f"asks (seed value {key}) {what}; this seal cannot give it", "seed_value"
        )

    if dget(sv, "/Cert") is not None:
        _check_seed_cert(sv, req, refuse)
    flt = dget(sv, "/Filter")
    if required(1) and flt is not None and str(flt) != "/Adobe.PPKLite":
        raise refuse("/Filter", f"the signature handler {flt}")
    subs = dget(sv, "/SubFilter")
    if required(2) and isinstance(subs, list):
        if not subs or str(subs[0]) != "/ETSI.CAdES.detached":
            raise refuse(
                "/SubFilter", f"the encoding {', '.join(str(x) for x in subs) or '(none)'} first"
            )
    digests = dget(sv, "/DigestMethod")
    if required(7) and isinstance(digests, list) and digests:
        if hash_name.upper().replace("-", "") not in [str(x).lstrip("/").upper() for x in digests]:
            raise refuse("/DigestMethod", f"a digest among {', '.join(str(x) for x in digests)}")
    reasons = dget(sv, "/Reasons")
    if required(4) and isinstance(reasons, list) and reasons:
        # a single empty string: no reason may be given (§12.7.5.5)
        if (_reason(req.role, req.reason) or "") not in [str(x) for x in reasons]:
            raise refuse("/Reasons", f"a reason among {', '.join(repr(str(x)) for x in reasons)}")
    if required(5) and dget(sv, "/LegalAttestation") is not None:
        raise refuse(
            "/LegalAttestation",
            "legal attestations restricted to its list (pyHanko cannot judge them)",
        )
    if required(6) and dget(sv, "/AddRevInfo") == True:  # noqa: E712
        raise refuse("/AddRevInfo", "revocation information inside the signature")
    ts = dget(sv, "/TimeStamp")
    if isinstance(ts, dict) and int(dget(ts, "/Ff") or 0) & 1 and req.timestamped is False:
        raise refuse("/TimeStamp", "a timestamp, and level B-B makes none")
    locking = bool(req.lock)
    mdp = dget(sv, "/MDP")
    p = dget(mdp, "/P") if isinstance(mdp, dict) else None
    if p is not None and (not isinstance(p, int) or p not in (0, 1, 2, 3)):
        raise refuse("/MDP", f"a /P {p} that is none of 0–3")
    if p:
        if not first:
            raise refuse("/MDP", f"a certification (P={p}), and the document is already signed")
        if locking and p != 1:
            raise refuse(
                "/MDP", f"a certification permitting changes (P={p}), and --lock was given"
            )
    elif p == 0 and locking and first:
        raise refuse("/MDP", "an approval signature, and --lock as first signer certifies")
    lock_doc = dget(sv, "/LockDocument")
    if required(8) and lock_doc is not None:
        # what pyHanko reads as the document's lock: a certification's P, or the field's /Lock /P
        locked_after = p == 1 or (locking and first) or field_lock_p == 1
        if str(lock_doc) == "/true" and not locked_after:
            raise refuse(
                "/LockDocument",
                "the document locked by this signature (give --lock"
                + ("" if first else "; on a document already signed a prepared field cannot say so")
                + ")",
            )
        if str(lock_doc) == "/false" and (locked_after or locking):
            raise refuse("/LockDocument", "the document left unlocked, and --lock was given")
    return p or None


def _check_seed_cert(sv: generic.DictionaryObject, req: FieldSigner, refuse) -> None:  # noqa: ANN001
    """Meet /SV /Cert as pyHanko's validator judges it (``SigCertConstraints.satisfied_by``
    over the signer's certificate and chain), or refuse naming /Cert."""
    from asn1crypto import x509 as a_x509
    from pyhanko.sign.fields import SigCertConstraintFlags, SigCertConstraints
    from pyhanko.sign.general import UnacceptableSignerError
    from pyhanko_certvalidator.authority import CertTrustAnchor
    from pyhanko_certvalidator.path import ValidationPath

    try:
        spec = SigCertConstraints.from_pdf_object(dget(sv, "/Cert"))
    except Exception as exc:  # a malformed constraint: nothing we can show we meet
        raise refuse("/Cert", f"a certificate constraint that cannot be read ({exc})") from None
    if spec.flags & SigCertConstraintFlags.URL and spec.info_url:
        raise refuse("/Cert", f"a certificate obtained from {spec.info_url}")
    if spec.flags & (SigCertConstraintFlags.OID | SigCertConstraintFlags.RESERVED):
        raise refuse("/Cert", "a certificate policy (/OID) constraint")
    der = serialization.Encoding.DER

    def asn1(c: x509.Certificate) -> a_x509.Certificate:
        return a_x509.Certificate.load(c.public_bytes(der))

    leaf = asn1(req.certificate)
    chain = [asn1(c) for c in (*req.chain, *req.trust_roots)]
    # leaf to anchor: the chain's certificates in order, each the issuer of the one before
    path, cur = [], leaf
    while True:
        nxt = next((c for c in chain if c.subject == cur.issuer and c not in path), None)
        if nxt is None or nxt == cur:
            break
        path.append(nxt)
        cur = nxt
    try:
        vp = ValidationPath(CertTrustAnchor(path[-1]), path[:-1], leaf) if path else None
        spec.satisfied_by(leaf, vp)
    except (UnacceptableSignerError, NotImplementedError) as exc:
        raise refuse("/Cert", f"a signer certificate it accepts ({exc})") from None


_LOCK_ACTIONS = ("/All", "/Include", "/Exclude")


def _field_lock(name: str, node: generic.DictionaryObject) -> bytes | None:
    """The /TransformParams entries (after /Type) of the FieldMDP reference a signature into
    field ``name`` must carry for its /Lock (ISO 32000-2 §12.7.5.5, §12.8.2.4): what Acrobat
    writes, so that the fields the lock names are locked once it is signed (pyHanko and our
    verifier then call a later change to one of them a violation). None: no lock. A lock
    whose /Action, /Fields or /P this signer cannot repeat faithfully is refused, naming the
    field, rather than signed without it."""
    if "/Lock" not in node:
        return None
    lock = dget(node, "/Lock")

    def refuse(what: str) -> SigningError:
        return _refuse_field(
            name,
            f"carries a field lock (/Lock, FieldMDP) with {what}; it cannot be sealed "
            "with its lock honoured",
            "field_locked",
        )

    if not isinstance(lock, generic.DictionaryObject):
        raise refuse("no dictionary")
    action = dget(lock, "/Action")
    if str(action) not in _LOCK_ACTIONS or not isinstance(action, generic.NameObject):
        raise refuse(f"an /Action {action} that is none of {', '.join(_LOCK_ACTIONS)}")
    out = [b"/Action " + str(action).encode()]
    if action != "/All":
        names = dget(lock, "/Fields")
        if not isinstance(names, generic.ArrayObject) or not all(
            isinstance(n, (generic.TextStringObject, generic.ByteStringObject)) for n in names
        ):
            raise refuse(f"an /Action {action} without a /Fields array of field names")
        out.append(b"/Fields [" + b" ".join(serialise(n) for n in names) + b"]")
    if "/P" in lock:
        p = dget(lock, "/P")
        if not isinstance(p, int) or isinstance(p, bool) or p not in (1, 2, 3):
            raise refuse(f"a /P {p} that is none of 1, 2, 3")
        # as Acrobat (and pyHanko) write it; pyHanko reads the field's /P for the document
        out.append(b"/P %d" % p)
    return b" ".join(out)


def _lock_p(node: generic.DictionaryObject) -> int | None:
    """The /P of a field's /Lock (PDF 2.0), which pyHanko reads as the document's lock."""
    lock = dget(node, "/Lock")
    p = dget(lock, "/P") if isinstance(lock, generic.DictionaryObject) else None
    return p if isinstance(p, int) else None


def _certification_asked(sv: generic.DictionaryObject) -> int | None:
    """The P of the certification a field's seed value /MDP asks for (1..3), or None."""
    mdp = dget(sv, "/MDP")
    p = dget(mdp, "/P") if isinstance(mdp, dict) else None
    return p if isinstance(p, int) and not isinstance(p, bool) and p in (1, 2, 3) else None


def _named_field(
    reader: PdfFileReader,
    pages: PageTree,
    name: str,
    placement: Placement | None,
    cross_page: bool,
) -> _FormField | None:
    """The form's field ``name`` if the seal can go into it (None: the form has none of that
    name); what ``_target_field`` and ``check_field`` refuse alike."""
    found = next((f for f in _form_fields(reader) if f.name == name), None)
    if found is None:
        return None
    if found.field_type != "/Sig":
        raise _refuse_field(
            name,
            f"is a form field of type {found.field_type or 'unknown'}, not a signature "
            "field; a seal goes only into a signature field",
            "not_signature_field",
        )
    if found.signed:
        raise _refuse_field(
            name,
            f"is already signed; choose an empty signature field ({_empty_list(reader, pages)})",
            "field_exists",
        )
    if placement is not None:
        raise SigningError(
            f"the seal goes into field {name!r}, where the document places it; give either "
            "a field or a placement, not both",
            field="placement",
        )
    if cross_page:
        raise SigningError(
            f"a cross-page seal cannot go into the prepared field {name!r}", field="cross_page"
        )
    _field_lock(name, found.node)
    if any(w.reference != found.ref.reference for w in found.widgets) and _signed(reader):
        # pyHanko's rules (and so our verifier's) let a signature field being signed change
        # its own appearance, not that of widgets apart from it: the earlier signatures would
        # be called broken (TOTAL-FAILED)
        raise _refuse_field(
            name,
            "has its widgets apart from it (/Kids), and the document is already signed: "
            "showing the seal in them is a change pyHanko and yinxin verify do not allow "
            "after a signature; it can be sealed only as the document's first signature",
            "field_split",
        )
    return found


def _signed(reader: PdfFileReader) -> bool:
    """Whether the document holds a signed signature field (an unreadable form: as signed,
    the stricter answer; the signature check names what is wrong with it)."""
    try:
        return bool(signature_fields(reader))
    except Exception:
        return True


def _check_not_locked(field_name: str, sigs: Sequence) -> None:
    """Refuse (``field_name``, ``field_locked``) a field an earlier signature's field lock
    (FieldMDP: /All, /Include naming it, /Exclude not naming it) covers: filling it is a change
    that signature forbids, and pyHanko and our verifier then call it broken. One rule for
    sealing and for ``check_field`` (before the code), so neither lets through what the other
    refuses."""
    emb = _lock_of(field_name, sigs)
    if emb is not None:
        raise _field_locked_error(field_name, emb)


def _field_locked_error(field_name: str, emb: Any) -> SigningError:
    """The refusal of a seal into ``field_name`` that signature ``emb``'s field lock covers."""
    return _refuse_field(
        field_name,
        f"is locked by signature {emb.field_name!r} (FieldMDP); it cannot be sealed any more",
        "field_locked",
    )


def _lock_of(field_name: str, sigs: Sequence) -> Any:
    """The earlier signature (pyHanko's ``EmbeddedPdfSignature``) whose field lock (FieldMDP)
    covers ``field_name``, or None."""
    for emb in sigs:
        try:
            if emb.fieldmdp is not None and emb.fieldmdp.is_locked(field_name):
                return emb
        except Exception:  # an unreadable lock: as pyHanko would, judged at verification
            continue
    return None


def check_new_field(pdf: bytes) -> None:
    """Refuse, as sealing would and before a code is used, a seal in a new field beside
    ``pdf``'s signatures that one of them forbids: it locked the document (``pdf``,
    ``locked``), it certified it to permit form filling only (P=2, P=3: ``pdf``,
    ``certified``, as sealing refuses it — before, a wrong code was counted first, since
    ``sign code`` sends one for such a document with a field to name) or its field lock
    covers the new field (FieldMDP /All, /Exclude: ``pdf``, ``field_locked``). Only the locks
    are read (no signature value is checked: sealing judges those); a form pyHanko cannot
    read is left to sealing."""
    reader, _ = _open(pdf)
    sigs = _lock_holders(reader)
    if sigs is None:
        return
    _check_document_not_locked(sigs)
    for emb in sigs:
        if emb.sig_object_type == "/Sig" and emb.docmdp_level is not None:
            raise _certified_error(reader, emb)
    _check_new_field_not_locked(_unique("Signature", _field_names(reader)), None, sigs)


def _lock_holders(reader: PdfFileReader) -> Sequence | None:
    """The earlier signatures whose locks a new seal must respect, or None when there are none
    to read: the document is not signed, or a signature cannot be read — sealing refuses that
    one (``broken_signature``), so the lock checks before a code leave it to sealing."""
    if not _signed(reader):
        return None
    try:
        sigs, _ = _embedded_signatures(reader)
    except Exception:  # an unreadable signature: sealing refuses it (broken_signature)
        return None
    return sigs


def _check_new_field_not_locked(name: str, named: str | None, sigs: Sequence) -> None:
    """Refuse (``field_locked``, naming ``field_name`` when the caller named the new field,
    else ``pdf``) a new signature field ``name`` that an earlier signature's field lock covers
    (FieldMDP /All, or /Exclude not naming it): pyHanko's validator and ``yinxin verify`` call
    that signature broken once the field is added (modification level OTHER, docmdp not ok),
    though nothing it had signed was touched. The seal may go into an empty field the lock
    leaves free instead."""
    emb = _lock_of(name, sigs)
    if emb is not None:
        raise SigningError(
            f"signature {emb.field_name!r} locks form fields (FieldMDP "
            f"{emb.fieldmdp.action.value}) including a new signature field {name!r}: adding "
            "it would make that signature invalid; name an empty signature field it does "
            "not lock",
            field="field_name" if named else "pdf",
            code="field_locked",
        )


def _check_earlier_locks(reader: PdfFileReader, field_name: str) -> None:
    """Refuse, as sealing would, a seal into ``field_name`` that an earlier signature forbids:
    one that locked the document (DocMDP P=1, a field lock or FieldMDP with /P 1: ``pdf``,
    ``locked``, as ``_check_existing_signatures``) or one whose field lock covers the field
    (``_check_not_locked``), by ``_earlier_lock``, the rule the lists of fields mark them
    with (``empty_signature_fields``). Only the locks are read here (no signature value is
    checked: the callers' ``check_signable`` and sealing judge those); a form pyHanko cannot
    read is left to them too."""
    sigs = _lock_holders(reader)
    if sigs is None:
        return
    lock = _earlier_lock(field_name, sigs)
    if lock is not None:
        emb, code = lock
        raise _locked_error(emb) if code == "locked" else _field_locked_error(field_name, emb)


def _earlier_lock(field_name: str, sigs: Sequence) -> tuple[Any, str] | None:
    """The earlier signature that forbids a seal into prepared field ``field_name``, and the
    code sealing refuses it with (the document ended first: ``locked``; then a field lock
    covering the field: ``field_locked``), or None: what ``check_field`` refuses and the lists
    of fields (``empty_signature_fields``) mark, by one rule."""
    for emb in sigs:
        if locks_document(emb):
            return emb, "locked"
    emb = _lock_of(field_name, sigs)
    return (emb, "field_locked") if emb is not None else None


def _check_document_not_locked(sigs: Sequence) -> None:
    """Refuse (``pdf``, ``locked``, as ``_check_existing_signatures``) a document one of
    ``sigs`` locked (DocMDP P=1, a lock or FieldMDP with /P 1)."""
    for emb in sigs:
        if locks_document(emb):
            raise _locked_error(emb)


def _locked_error(emb: Any) -> SigningError:
    """The refusal of any seal after signature ``emb``, which locked the document."""
    return SigningError(
        f"signature {emb.field_name!r} locked the document; no further signatures are allowed",
        field="pdf",
        code="locked",
    )


def check_field(
    pdf: bytes,
    field_name: str,
    placement: Placement | None = None,
    *,
    signer: FieldSigner | None = None,
    first: bool | None = None,
    parallel: bool = False,
) -> None:
    """Refuse, as sealing would and before a code is used, a prepared field the seal cannot go
    into (naming ``field_name``: another type, signed, locked, split on a signed document) or a
    placement given with it (naming ``placement``). A name the form has no field of is a new
    field's, as before.

    With ``signer`` (known before the code: the seal's certificate needs no PIN), also the
    field's seed values this signer cannot meet (``seed_value``), by the rule sealing applies
    (``_check_seed_values``): a code asked for and typed in, then refused at sealing, was
    spent on a seal that could never be made. Whether the seal is the document's first
    signature (a certification /MDP asks for, /LockDocument) is read from ``pdf`` (unsigned:
    first); ``first`` says it instead when the caller knows better (a sign flow's signer by
    turn). ``parallel``: the caller cannot know (a parallel flow of several signers, where
    whoever signs first decides): a field asking for a certification (/MDP P=1..3, which only
    the document's first signature can give) is refused, since the flow would stick whenever
    another signer came first; the rest is refused only if neither way could meet it.

    An earlier signature that forbids the seal is refused as sealing refuses it, with or
    without ``signer``: one that locked the document (``pdf``, ``locked``), or whose field
    lock (FieldMDP) covers this field (``field_name``, ``field_locked``) — before, sealing
    found it only after the code was sent and typed in."""
    reader, pages = _open(pdf)
    found = _named_field(reader, pages, field_name, placement, False)
    if found is not None:
        _check_earlier_locks(reader, field_name)
    sv = dget(found.node, "/SV") if found is not None and signer is not None else None
    if signer is None or not isinstance(sv, generic.DictionaryObject):
        return
    hash_name = signer.hash_name
    if hash_name is None:  # no PDF signature at all: sealing refuses the key itself
        return
    signed = _signed(reader)
    if parallel and not signed and first is None:
        asked = _certification_asked(sv)
        if asked:
            raise _refuse_field(
                field_name,
                f"asks (seed value /MDP) a certification (P={asked}), which only the "
                "document's first signature can give; in a parallel flow whoever signs first "
                "decides, and the seal is refused whenever another signer came first — make "
                "the flow sequential with this signer first",
                "seed_value",
            )
    if signed or first is False:
        ways = [False]
    elif first or not parallel:
        ways = [True]
    else:
        ways = [True, False]
    refusals = []
    for way in ways:
        try:
            _check_seed_values(
                field_name,
                sv,
                signer,
                hash_name,
                first=way,
                field_lock_p=_lock_p(found.node),
            )
            return
        except SigningError as e:
            refusals.append(e)
    raise refusals[0]


def check_some_field(pdf: bytes, signer: Callable[[], FieldSigner | None]) -> None:
    """Refuse, before a code is sent for ``pdf`` with no field named, a document certified
    to permit only its own fields (DocMDP or a field lock with P=2, P=3) none of whose empty
    signature fields takes the seal: sealing refuses a new field there (``certified``), and
    each field as ``check_field`` judges it — a field lock covering it (``field_locked``), or
    seed values the seal cannot meet (``seed_value``, judged with ``signer()``, called only
    for such a document: None when the seal is not known). Before, the code was sent because
    the document had empty fields, and whatever came after it was refused at sealing.

    Refused naming ``field_name`` (the field the seal would have to go into) with the first
    field's code, the message giving each field's refusal. An uncertified document, one with
    no empty field (``check_signable`` refuses it: ``certified``) or a form pyHanko cannot read
    (sealing judges it) is left alone."""
    reader, pages = _open(pdf)
    sigs = _lock_holders(reader)
    certifying = next(
        (e for e in sigs or () if e.sig_object_type == "/Sig" and e.docmdp_level is not None),
        None,
    )
    if certifying is None:
        return
    try:
        empty = [f.name for f in _empty_fields(reader, pages)]
    except Exception:  # an unreadable form: check_signable and sealing refuse it
        return
    if not empty:
        return
    judge = signer()
    refusals: list[SigningError] = []
    for name in empty:
        try:
            check_field(pdf, name, None, signer=judge)
        except SigningError as e:
            refusals.append(e)
            continue
        return
    raise SigningError(
        f"signature {certifying.field_name!r} permits only form filling and signing its own "
        f"fields (DocMDP or field lock P={certifying.docmdp_level.value}): the seal can go only "
        "into an empty signature field, and none takes it — "
        + "; ".join(e.message for e in refusals),
        field="field_name",
        code=refusals[0].code,
    )


def _target_field(req: SignRequest, reader: PdfFileReader, pages: PageTree) -> _Target | None:
    """The prepared field ``req.field_name`` names, laid out for the seal; None when the form
    has no field of that name (a new one is made, as before). Refused, naming ``field_name``:
    a field of another type, one already signed, one with a /Lock the seal cannot repeat, one
    split into /Kids widgets on a signed document, one without a widget on a page; naming
    ``placement`` or ``cross_page``: a placement given as well (the field's rectangle is where
    the seal goes). Its seed values are judged once the earlier signatures are known."""
    name = req.field_name
    if not name:
        return None
    found = _named_field(reader, pages, name, req.placement, req.cross_page)
    if found is None:
        return None
    if not found.widgets:
        raise _refuse_field(name, "has no widget on any page", "field_not_shown")
    specs: list[tuple[generic.IndirectObject, _WidgetSpec]] = []
    for wref in found.widgets:
        page = _widget_page(pages, wref)
        rect = _rect_of(wref.get_object())
        if page is None or rect is None:
            raise _refuse_field(
                name, "has a widget on no page (or without a rectangle)", "field_not_shown"
            )
        uw, uh = rect[2] - rect[0], rect[3] - rect[1]
        if req.stamp is None:
            specs.append((wref, _WidgetSpec(page, rect)))
            continue
        if uw < 1 or uh < 1:
            raise _refuse_field(
                name,
                "is invisible (its rectangle has no area): a seal would not show there",
                "field_not_shown",
            )
        if not (req.stamp.width_mm > 0 and req.stamp.height_mm > 0):
            raise SigningError("the seal's width and height must be positive", field="stamp")
        view = _View(page)
        vw, vh = (uh, uw) if view.rotate in (90, 270) else (uw, uh)
        ratio = req.stamp.height_mm / req.stamp.width_mm
        sw = min(vw, vh / ratio)
        sh = sw * ratio
        draw = b"%s 0 0 %s %s %s cm" % (
            _num(sw),
            _num(sh),
            _num((vw - sw) / 2),
            _num((vh - sh) / 2),
        )
        specs.append((wref, _WidgetSpec(page, rect, (vw, vh), draw, view.matrix)))
    return _Target(found.ref, found.node, specs, _field_lock(name, found.node))


# ------------------------------------------------------------------------------ signing


def _fieldmdp_ref(root_ref: generic.IndirectObject, params: bytes) -> bytes:
    """A /Reference entry locking form fields (FieldMDP, ISO 32000-2 §12.8.2.4) with the
    /TransformParams entries ``params`` (/Action, /Fields, /P)."""
    return (
        b"<</Type /SigRef /TransformMethod /FieldMDP /Data %d %d R"
        b" /TransformParams <</Type /TransformParams %s /V /1.2>>>>"
        % (root_ref.idnum, root_ref.generation, params)
    )


def _common_name(cert: x509.Certificate) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None


def _reason(role: str | None, reason: str | None) -> str | None:
    if role and reason:
        return f"{role}：{reason}"
    if role:
        return f"{role}签章"
    return reason


def _check_request(req: SignRequest) -> str:
    level = (req.level or "").upper()
    if level not in LEVELS:
        raise SigningError(
            f"unknown PAdES level {req.level!r}; choose one of {', '.join(LEVELS)}",
            field="level",
        )
    if level != "B-B" and req.timestamper is None:
        raise SigningError(f"level {level} needs a timestamper", field="timestamper")
    if level in ("B-LT", "B-LTA") and req.revocation is None:
        raise SigningError(
            f"level {level} needs revocation data (OCSP responses or CRLs) to embed",
            field="revocation",
        )
    if req.key.algorithm.family == "sm2":  # PAdES/CMS in PDF has no SM2 (ISO 32000, ETSI)
        raise SigningError(
            "an SM2 key makes GB/T 38540 seal signatures (OFD, SES), not PDF signatures",
            field="key",
            code="unsupported_algorithm",
        )
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if req.key.public_key().public_bytes(*fmt) != req.certificate.public_key().public_bytes(*fmt):
        raise SigningError(
            "the signing key does not belong to the certificate", field="key", code="key_mismatch"
        )
    if req.role is not None and not 0 < len(req.role) <= 32:
        raise SigningError("role must be 1–32 characters", field="role")
    if req.field_name is not None and (not req.field_name or len(req.field_name) > 64):
        raise SigningError("field_name must be 1–64 characters", field="field_name")
    return level


@dataclass(frozen=True)
class SignedPdf:
    """A sealed document, the name of the signature field made, and the signature's timestamp
    token (None at B-B): what a caller records without parsing the file again, and what
    ``finish_long_term`` needs to add the evidence later."""

    pdf: bytes
    field_name: str
    token: bytes | None


def sign_pdf(req: SignRequest) -> bytes:
    """Seal ``req.pdf``: returns the document with one more revision (two or three for LT/LTA)."""
    return sign_pdf_detailed(req).pdf


def sign_pdf_detailed(
    req: SignRequest, *, defer_long_term: bool = False, earlier_checked: bool = False
) -> SignedPdf:
    """``sign_pdf`` saying which field it made. With ``defer_long_term`` a B-LT/B-LTA request
    stops after the timestamped signature (B-T): a batch signs every document first and then
    adds one set of status evidence, produced after the last timestamp, to each
    (``finish_long_term``). ``earlier_checked`` says the caller has just judged these very
    bytes with ``check_signable(req.pdf, earlier_signatures=True)`` (its refusals are the
    ones this would give): their earlier signatures are then not judged a second time."""
    level = _check_request(req)
    reader, pages = _open(req.pdf)
    # judging the earlier signatures (their values, what they cover, what came after them)
    # costs ~12 ms each; the same bytes judge the same way, so once per call is enough
    # (listed as the check lists them: pyHanko's own list misses fields a viewer shows)
    material = cades.signer_material(req.key, req.certificate, req.chain)
    # a field the document was prepared with, named by the caller: the seal goes into it
    target = _target_field(req, reader, pages)
    existing = (
        _embedded_signatures(reader)[0]
        if earlier_checked
        else _check_existing_signatures(reader, into_field=target is not None)
    )
    certify_p: int | None = None  # a certification the field's seed value /MDP asks for
    if target is not None:
        field_name = str(req.field_name)
        _check_not_locked(field_name, existing)
        sv = dget(target.node, "/SV")
        if isinstance(sv, generic.DictionaryObject):
            certify_p = _check_seed_values(
                field_name,
                sv,
                FieldSigner.of(req),
                material.hash_name,
                first=not existing,
                field_lock_p=_lock_p(target.node),
            )
        widgets = [spec for _, spec in target.widgets]
        image = _decode_png(req.stamp.png) if req.stamp is not None else None
    else:
        names = _field_names(reader)
        field_name = req.field_name or _unique("Signature", names)
        if field_name in names:
            raise SigningError(
                f"the document already has a field named {field_name!r}",
                field="field_name",
                code="field_exists",
            )
        _check_new_field_not_locked(field_name, req.field_name, existing)
        if "." in field_name:
            raise SigningError(
                "a new field's name must not contain '.' (it would name a child field)",
                field="field_name",
            )
        widgets, image = _layout(req, pages)
    when = req.signing_time or dt.datetime.now(dt.UTC)

    parts = [
        b"/Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached",
        b"/M " + _pdf_date(when),
    ]
    name = _common_name(req.certificate)
    if name:
        parts.append(b"/Name " + _pdf_text(name))
    reason = _reason(req.role, req.reason)
    if reason:
        parts.append(b"/Reason " + _pdf_text(reason))
    if req.location:
        parts.append(b"/Location " + _pdf_text(req.location))
    parts.append(b"/Prop_Build <</App <</Name /Yinxin>>>>")
    # Our own record of seal and role, read back by ``yinxin.pdf.verify``.
    yinxin = []
    if req.stamp is not None:
        yinxin.append(b"/SealName " + _pdf_text(req.stamp.name))
        yinxin.append(b"/SealKind " + _pdf_text(req.stamp.kind))
    if req.role:
        yinxin.append(b"/Role " + _pdf_text(req.role))
    if yinxin:
        parts.append(b"/Yinxin <<" + b" ".join(yinxin) + b">>")
    certify = False
    field_extra = b""
    root_ref = reader.trailer.raw_get("/Root")
    refs: list[bytes] = []
    if req.lock:
        if not existing:
            # first and last signer: a certification signature that permits nothing more
            certify = True
            refs.append(
                b"<</Type /SigRef /TransformMethod /DocMDP /TransformParams"
                b" <</Type /TransformParams /V /1.2 /P 1>>>>"
            )
        else:
            # later signer: lock every field and, via /P (PDF 2.0), the document (stricter
            # than any lock a prepared field asks for, which it therefore replaces)
            refs.append(_fieldmdp_ref(root_ref, b"/Action /All /P 1"))
            # (a prepared field keeps its dictionary: the signature's reference locks)
            if target is None:
                field_extra = b" /Lock <</Type /SigFieldLock /Action /All /P 1>>"
    if certify_p is not None and not certify:
        # the first signer into a field whose seed value asks for a certification with P
        certify = True
        refs.append(
            b"<</Type /SigRef /TransformMethod /DocMDP /TransformParams"
            b" <</Type /TransformParams /V /1.2 /P %d>>>>" % certify_p
        )
    if target is not None and target.lock is not None and not (req.lock and existing):
        # the prepared field's own /Lock: the signature locks the fields it names
        refs.append(_fieldmdp_ref(root_ref, target.lock))
    if refs:
        parts.append(b"/Reference [" + b" ".join(refs) + b"]")

    timestamper = req.timestamper if level != "B-B" else None
    token_box: list[bytes | None] = [None]

    def contents(digest: bytes) -> bytes:
        try:
            blob, token = cades.signed_data(material, req.key, digest, timestamper)
        except TimestampError as exc:
            raise SigningError(exc.message, field="timestamper", code=exc.code) from None
        token_box[0] = token
        return blob

    plan = _Plan(
        sig_dict=b" ".join(parts),
        widgets=widgets,
        field_name=field_name,
        field_extra=field_extra,
        image=image,
        certify=certify,
        reserve=material.certificate_bytes
        + 1024
        + (_tst_estimate(req.timestamper) if timestamper else 0),
        hash_name=material.hash_name,
        target=target,
    )
    out = _write_revision(bytes(req.pdf), reader, plan, contents)
    if token_box[0] is not None:
        _TST_SIZE[0] = min(len(token_box[0]), 65536)
    signed = SignedPdf(out, field_name, token_box[0])
    if level in ("B-LT", "B-LTA") and not defer_long_term:
        revocation = req.revocation() if callable(req.revocation) else req.revocation
        return SignedPdf(finish_long_term(signed, req, revocation), field_name, signed.token)
    return signed


def finish_long_term(
    signed: SignedPdf, req: SignRequest, revocation: RevocationData | None
) -> bytes:
    """The B-LT (DSS) and, for B-LTA, the document timestamp revisions after a signature made
    by ``sign_pdf_detailed(req, defer_long_term=True)``; ``revocation`` must have been produced
    after the signature's timestamp."""
    level = (req.level or "").upper()
    out = signed.pdf
    if level in ("B-LT", "B-LTA"):
        out = _append_dss(out, req, signed.token, revocation)
    if level == "B-LTA":
        out = append_document_timestamp(out, req.timestamper)
    return out


_TST_SIZE = [0]  # length of the last token seen; a larger one just costs a second pass


def _tst_estimate(timestamper) -> int:
    """Bytes to reserve for a token: the last one seen, with room to spare."""
    last = _TST_SIZE[0]
    return last + 1024 if last else 8192


# ------------------------------------------------------------------------------ B-LT / B-LTA


def _certificates_in(token: bytes | None, ocsps: list[bytes]) -> list[bytes]:
    from asn1crypto import cms

    out: list[bytes] = []
    if token:
        for choice in cms.ContentInfo.load(token)["content"]["certificates"] or []:
            if choice.name == "certificate":
                out.append(choice.chosen.dump())
    return out + list(_ocsp_certificates(tuple(ocsps)))


@functools.lru_cache(maxsize=16)
def _ocsp_certificates(ocsps: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """The certificates inside OCSP responses; a batch embeds the same responses in every file,
    so they are read once."""
    from asn1crypto import ocsp as a_ocsp

    out: list[bytes] = []
    for der in ocsps:
        basic = a_ocsp.OCSPResponse.load(der)["response_bytes"]["response"].parsed
        for cert in basic["certs"] or []:
            out.append(cert.dump())
    return tuple(out)


@functools.lru_cache(maxsize=16)
def _check_revocation(ocsps: tuple[bytes, ...], crls: tuple[bytes, ...]) -> None:
    """Refuse malformed OCSP responses or CRLs (checked once per distinct set)."""
    from cryptography.x509 import load_der_x509_crl, ocsp

    for der in ocsps:
        try:
            ocsp.load_der_ocsp_response(der)
        except ValueError as exc:
            raise SigningError(
                f"an OCSP response is malformed ({exc})", field="revocation"
            ) from None
    for der in crls:
        try:
            load_der_x509_crl(der)
        except ValueError as exc:
            raise SigningError(f"a CRL is malformed ({exc})", field="revocation") from None


def _append_dss(
    pdf: bytes, req: SignRequest, token: bytes | None, revocation: RevocationData | None
) -> bytes:
    """One more revision with the Document Security Store (ETSI EN 319 142-1 §5.4)."""
    revocation = revocation or RevocationData()
    certs = [
        cades.cert_der(c)
        for c in (req.certificate, *req.chain, *req.trust_roots, *revocation.certificates)
    ]
    certs += _certificates_in(token, revocation.ocsp_responses)
    return append_dss(pdf, RevocationData(revocation.ocsp_responses, revocation.crls), certs)


def append_dss(pdf: bytes, revocation: RevocationData, extra_certs: Sequence[bytes] = ()) -> bytes:
    """Add ``revocation`` (and its certificates, plus ``extra_certs`` as DER) to the document's
    DSS in one incremental update; what the DSS holds already is not written twice. Used at
    signing (B-LT) and by archive renewal before each new document timestamp."""
    _check_revocation(tuple(revocation.ocsp_responses), tuple(revocation.crls))
    certs = [*extra_certs, *(cades.cert_der(c) for c in revocation.certificates)]
    certs += _certificates_in(None, revocation.ocsp_responses)
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    update = Update(reader, len(pdf))
    root_ref = reader.trailer.raw_get("/Root")
    root = generic.DictionaryObject(reader.root)
    old = dget(root, "/DSS")
    dss = generic.DictionaryObject(old if isinstance(old, generic.DictionaryObject) else {})

    for key, items in (
        ("/Certs", certs),
        ("/OCSPs", revocation.ocsp_responses),
        ("/CRLs", revocation.crls),
    ):
        current = dget(dss, key)
        arr = generic.ArrayObject(list(current) if isinstance(current, list) else [])
        seen = set()
        for ref in arr:
            try:
                seen.add(bytes(ref.get_object().data))
            except AttributeError:
                continue
        for der in items:
            if der in seen:
                continue
            seen.add(der)
            arr.append(_ref(update.add_stream(b"", der)))
        if arr:
            dss[key] = arr
    dss_num = update.new()
    update.put_obj(dss_num, dss)
    root["/DSS"] = _ref(dss_num)
    update.replace(root_ref.reference, root)
    body, _ = update.render(b"" if pdf.endswith((b"\n", b"\r")) else b"\n")
    return pdf + body


def append_document_timestamp(pdf: bytes, timestamper: Timestamper) -> bytes:
    """A document timestamp over everything so far (PAdES B-LTA; an archive timestamp)."""
    reader, pages = _open(pdf)
    plan = _Plan(
        sig_dict=b"/Type /DocTimeStamp /Filter /Adobe.PPKLite /SubFilter /ETSI.RFC3161",
        widgets=[_WidgetSpec(pages[0], (0, 0, 0, 0))],
        field_name=_unique("DocTimeStamp", _field_names(reader)),
        pades_catalog=False,
        reserve=_tst_estimate(timestamper),
    )

    def contents(digest: bytes) -> bytes:
        try:
            return timestamp(timestamper, digest, "sha256")
        except TimestampError as exc:
            raise SigningError(exc.message, field="timestamper", code=exc.code) from None

    return _write_revision(pdf, reader, plan, contents)
