"""Request and answer shapes shared by the routes that carry PDFs in JSON: documents travel as
base64 (``content_base64``), placements as anchor text or page + position."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from pydantic import BaseModel, Field

from yinxin.adapters.http.api.context import Strict
from yinxin.adapters.http.api.responses import MAX_PDF, checked_pdf, from_base64, sized
from yinxin.pdf.sign import Placement
from yinxin.signing.flows import placement_of
from yinxin.signing.service import SignatureRecordView, SignedDocument

# a database id (bounded: an unbounded number overflows the database's integer) …
Id = Annotated[int, Field(ge=1, le=2**62)]
# … or a seal's esID or id: what a body names a seal by
SealRef = (
    Annotated[int, Field(ge=1, le=2**62)]
    | Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z]+$")]
)


class DocumentIn(Strict):
    name: str = Field(min_length=1, max_length=255, examples=["技术服务合同.pdf"])
    content_base64: str = Field(min_length=1, description="the PDF, base64")


# What x_mm/y_mm of a PDF placement mean, the words of the CLI's --x/--y (``sign pdf``): the
# seal's lower-left corner from the page's lower-left corner. An OFD placement's differ
# (``ofd_signing.OFD_X_MM``): its centre from the top-left corner, OFD's own coordinates.
PDF_X_MM = (
    "Seal's lower-left corner: mm from the page's left edge to the seal's left edge "
    "(with anchor: a shift)."
)
PDF_Y_MM = (
    "Seal's lower-left corner: mm from the page's bottom edge to the seal's bottom edge "
    "(with anchor: a shift)."
)


class PlacementIn(Strict):
    """Anchor text (the seal centred on its end), or a page (1-based, negative from the end)
    and the seal's lower-left corner in mm; both: the anchor, shifted by x/y."""

    anchor: str | None = Field(None, min_length=1, max_length=100, examples=["甲方（签章）"])
    page: int | None = Field(None, ge=-10000, le=10000)
    x_mm: float | None = Field(None, ge=-2000, le=2000, description=PDF_X_MM)
    y_mm: float | None = Field(None, ge=-2000, le=2000, description=PDF_Y_MM)
    width_mm: float = Field(40.0, gt=5, le=100)

    def placement(self) -> Placement:
        return placement_of(self)


def document_bytes(doc: DocumentIn, field: str, limit: int) -> bytes:
    """The bytes of a document handed in as base64 (a PDF here, an OFD in ``ofd_signing``):
    not base64, empty or over ``limit`` (50 MiB for both) is refused naming ``field``."""
    data = from_base64(doc.content_base64, field=field, refusal="content_base64 is not base64")
    return sized(data, field, limit)


def pdf_of(doc: DocumentIn, field: str) -> bytes:
    return checked_pdf(document_bytes(doc, field, MAX_PDF), field)


class SignedDocumentOut(BaseModel):
    name: str
    sha256: str
    record: SignatureRecordView
    content_base64: str
    replayed: bool

    @classmethod
    def of(cls, d: SignedDocument) -> SignedDocumentOut:
        return cls.signed(d.record, d.pdf, d.replayed)

    @classmethod
    def signed(cls, record: SignatureRecordView, content: bytes, replayed: bool, **more: Any):
        """The answer for a document signed (or found signed, ``replayed``) with ``record``,
        its bytes as base64: a PDF here, an OFD in ``ofd_signing`` whose answer adds ``more``."""
        return cls(
            name=record.document_name,
            sha256=record.sha256_after,
            record=record,
            content_base64=base64.b64encode(content).decode(),
            replayed=replayed,
            **more,
        )
