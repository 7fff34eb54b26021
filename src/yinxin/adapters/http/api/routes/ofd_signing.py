"""OFD signing with a platform seal over HTTP (``yinxin.signing.ofd``): a one-time code for the
file, then the code and the seal PIN — the two steps of ``yinxin sign ofd-code`` / ``sign ofd``.

Documents travel as base64 in JSON as PDFs do (``routes.documents``); the placement is an
anchor text or a page and the seal's *centre* in mm from the page's top left (OFD's own
coordinates, unlike the PDF placement's lower-left corner). Same capability and scoping as
batch signing: the caller needs ``flows``, and an organization-bound key signs for its own
organization's people only.

``/ses-pdf/code`` and ``/ses-pdf/sign`` are the same two steps for a PDF sealed the GB/T 38540
way (``yinxin.signing.ses_pdf``, ``yinxin sign ses-pdf``): same bodies, ``sign pdf``'s
placement. They live here, beside their OFD twins, since both are the one workflow.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from yinxin.access.keys import Capability, Principal
from yinxin.adapters.http.api.context import Plat, Strict, allowed, client_ip, scope_subscriber
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.api.routes.documents import (
    PDF_X_MM,
    PDF_Y_MM,
    DocumentIn,
    SealRef,
    SignedDocumentOut,
    document_bytes,
)
from yinxin.errors import ValidationError
from yinxin.ofd.sign import Placement
from yinxin.signing.intent import Challenge
from yinxin.signing.ofd import MAX_OFD, OfdSigning, SignedOfdDocument

router = APIRouter(route_class=JsonRoute, tags=["OFD signing"])
Signer = Annotated[Principal, Depends(allowed(Capability.FLOWS))]


# What x_mm/y_mm of an OFD placement mean, the words of ``ofd sign``'s --x/--y: the seal's
# centre from the page's top-left corner (OFD's own coordinates), not a PDF placement's
# lower-left corner from the lower-left (``documents.PDF_X_MM``).
OFD_X_MM = (
    "Seal's centre: mm from the page's left edge to the seal's centre "
    "(OFD: from the page's top-left corner)."
)
OFD_Y_MM = (
    "Seal's centre: mm from the page's top edge to the seal's centre "
    "(OFD: from the page's top-left corner, not the bottom as in a PDF)."
)


class OfdPlacementIn(Strict):
    """Anchor text (the seal centred on its last occurrence, on ``page`` when given), or a page
    (1 = first, -1 = last) and the seal's centre ``x_mm``/``y_mm`` from the top left."""

    anchor: str | None = Field(None, min_length=1, max_length=100, examples=["乙方（签章）"])
    page: int | None = Field(None, ge=-10000, le=10000)
    x_mm: float | None = Field(None, ge=0, le=2000, description=OFD_X_MM)
    y_mm: float | None = Field(None, ge=0, le=2000, description=OFD_Y_MM)

    def placement(self) -> Placement:
        if self.anchor is None and (self.x_mm is None or self.y_mm is None):
            raise ValidationError("give an anchor, or a page with x_mm and y_mm", field="placement")
        return Placement(anchor=self.anchor, page=self.page, x=self.x_mm, y=self.y_mm)


class OfdCodeIn(Strict):
    signer_subscriber_id: int = Field(ge=1, le=2**62)
    document: DocumentIn
    seal: SealRef | None = Field(
        None,
        description=(
            "the seal the document will be signed with (id or esID); given, a seal the sign "
            "step would refuse before the PIN (not usable by the signer, not SM2, its "
            "certificate list not naming its certificate) is refused before any code is sent"
        ),
    )


class OfdSignIn(OfdCodeIn):
    seal: SealRef  # type: ignore[assignment]
    pin: str = Field(min_length=1, max_length=200)
    challenge_id: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=12)
    placement: OfdPlacementIn
    role: str | None = Field(None, max_length=20)


class SignedOfdOut(SignedDocumentOut):
    signature_id: str | None
    page: int | None
    boundary: str | None

    @classmethod
    def of(cls, d: SignedOfdDocument) -> SignedOfdOut:  # type: ignore[override]
        return cls.signed(
            d.record,
            d.data,
            d.replayed,
            signature_id=d.signature_id,
            page=d.page,
            boundary=d.boundary,
        )


def ofd_of(doc: DocumentIn) -> bytes:
    """The document's bytes; what is not an OFD is refused by the service, naming ``ofd``."""
    return document_bytes(doc, "document.content_base64", MAX_OFD)


@router.post("/ofd/code", status_code=201, response_model=Challenge)
def ofd_code(body: OfdCodeIn, platform: Plat, principal: Signer):
    """Send the signer a one-time code for this OFD (intent confirmation)."""
    return _request_code(platform.ofd_signing, body, platform, principal)


@router.post("/ofd/sign", response_model=SignedOfdOut)
def ofd_sign(body: OfdSignIn, request: Request, platform: Plat, principal: Signer):
    """Confirm the code and sign with the platform-held SM2 seal key (GB/T 38540, timestamped).
    A refusal writes nothing (a wrong PIN is counted) and leaves the code usable."""
    return _sign(platform.ofd_signing, body, request, platform, principal)


def _request_code(service: OfdSigning, body: OfdCodeIn, platform, principal: Principal):
    """Both formats' first step, on their service (``ofd_signing`` or ``ses_pdf_signing``)."""
    scope_subscriber(platform, principal, body.signer_subscriber_id, field="signer_subscriber_id")
    return service.request_confirmation(
        signer_subscriber_id=body.signer_subscriber_id,
        document=ofd_of(body.document),
        document_name=body.document.name,
        seal=body.seal,
    )


def _sign(
    service: OfdSigning, body: OfdSignIn, request: Request, platform, principal: Principal
) -> SignedOfdOut:
    """Both formats' second step; the body's ``placement`` is the format's own."""
    scope_subscriber(platform, principal, body.signer_subscriber_id, field="signer_subscriber_id")
    signed = service.sign(
        ofd_of(body.document),
        seal=body.seal,
        pin=body.pin,
        signer_subscriber_id=body.signer_subscriber_id,
        challenge_id=body.challenge_id,
        code=body.code,
        placement=body.placement.placement(),
        role=body.role,
        document_name=body.document.name,
        client_ip=client_ip(request),
    )
    return SignedOfdOut.of(signed)


# --- a PDF sealed the GB/T 38540 way (``yinxin.signing.ses_pdf``): the same two steps ----------

SES_PDF_TAGS = ["GB/T 38540 PDF signing"]


class SesPdfPlacementIn(Strict):
    """Anchor text (the seal centred on the end of its last occurrence, on ``page`` when
    given), or a page (1 = first, -1 = last) and the seal's lower-left corner ``x_mm``/``y_mm``
    from the page's lower-left — ``sign pdf``'s placement; the size is the seal's own."""

    anchor: str | None = Field(None, min_length=1, max_length=100, examples=["乙方（签章）"])
    page: int | None = Field(None, ge=-10000, le=10000)
    x_mm: float | None = Field(None, ge=-2000, le=2000, description=PDF_X_MM)
    y_mm: float | None = Field(None, ge=-2000, le=2000, description=PDF_Y_MM)

    def placement(self):
        from yinxin.pdf.sign import Placement as PdfPlacement

        if self.anchor is None and (self.x_mm is None or self.y_mm is None):
            raise ValidationError("give an anchor, or a page with x_mm and y_mm", field="placement")
        return PdfPlacement(page=self.page, x_mm=self.x_mm, y_mm=self.y_mm, anchor=self.anchor)


class SesPdfSignIn(OfdSignIn):
    placement: SesPdfPlacementIn


@router.post("/ses-pdf/code", status_code=201, response_model=Challenge, tags=SES_PDF_TAGS)
def ses_pdf_code(body: OfdCodeIn, platform: Plat, principal: Signer):
    """Send the signer a one-time code for this PDF (intent confirmation); not a PDF: 422."""
    return _request_code(platform.ses_pdf_signing, body, platform, principal)


@router.post("/ses-pdf/sign", response_model=SignedOfdOut, tags=SES_PDF_TAGS)
def ses_pdf_sign(body: SesPdfSignIn, request: Request, platform: Plat, principal: Signer):
    """Confirm the code and seal the PDF with the platform-held SM2 seal key: a GB/T 38540
    ``SES_Signature`` in ``/Contents`` (``/SubFilter /GBT38540.SES``), timestamped. The answer's
    ``signature_id`` is the signature field, ``boundary`` its rectangle in PDF points."""
    return _sign(platform.ses_pdf_signing, body, request, platform, principal)
