"""Files in and out, as several routers take and answer them alike: the OpenAPI declaration
of a file as the request body or as the answer, a file handed in as base64 (decoded strictly),
a PDF answer, a document of a flow or contract with its SHA-256 in a header. Kept here so that
a route which takes or answers with a file says so in one line, and every such answer carries
the same headers."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Protocol

from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from yinxin.errors import TooLarge, ValidationError


def from_base64(text: str, *, field: str, refusal: str) -> bytes:
    """A file handed in as base64 in a JSON body, decoded strictly (a stray character is
    refused, not skipped): not base64 is ``refusal``, naming ``field``."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(refusal, field=field) from None


MAX_PDF = 50 * 1024 * 1024  # a PDF handed in: a request body, or a document in base64


def sized(data: bytes, field: str, limit: int) -> bytes:
    """A file handed in, refused (naming ``field``) when empty (422) or over ``limit`` bytes
    (413, as the request-body guard answers too much)."""
    if not data:
        raise ValidationError("the document is empty", field=field)
    if len(data) > limit:
        raise TooLarge(f"the document is larger than {limit >> 20} MiB", field=field)
    return data


def checked_pdf(data: bytes, field: str) -> bytes:
    """A PDF handed in, refused (naming ``field``) when empty, over ``MAX_PDF`` or not a PDF
    (no ``%PDF-`` in its first KiB), before any engine reads it."""
    if b"%PDF-" not in sized(data, field, MAX_PDF)[:1024]:
        raise ValidationError("this is not a PDF document", field=field)
    return data


def file_answer(*media: str) -> dict:
    """``responses=`` of a route that answers 200 with a file of one of the ``media`` types
    instead of JSON (the OpenAPI document would otherwise claim ``application/json``)."""
    return {200: {"content": {m: {} for m in media}}}


def binary_body(*media: str) -> dict:
    """The OpenAPI ``requestBody`` of a route that takes a file as its body."""
    schema = {"type": "string", "format": "binary"}
    return {"requestBody": {"required": True, "content": {m: {"schema": schema} for m in media}}}


PDF = file_answer("application/pdf")
PNG = file_answer("image/png")


class Document(Protocol):
    """A stored document as a service hands it out (a flow's document, a contract's file)."""

    pdf: bytes
    sha256: str


#: A header an answer carries when it is not the request's outcome but asks for more (a code
#: sent by SMS), or is one not to keep (a verification's report: nothing is kept of a document
#: read): the idempotency guard keeps no such answer under the ``Idempotency-Key`` (so the same
#: key completes or repeats the request) and takes the header off before it goes out.
NOT_KEPT = "x-yinxin-not-kept"
#: A header an answer carries when it shows a secret once (a webhook's signing secret, a new
#: API key): the idempotency guard keeps it for a retry only sealed under the platform KEK, so
#: a copy of the database does not hold the secret, and takes the header off before it goes out.
HOLDS_SECRET = "x-yinxin-holds-secret"


def holds_secret(response: Response) -> None:
    """Mark ``response`` as showing a secret: no cache keeps it, and the idempotency guard
    keeps it sealed (``HOLDS_SECRET``)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers[HOLDS_SECRET] = "1"


def challenge(out: BaseModel) -> JSONResponse:
    """``202`` with ``out``: the request waits for a proof (a code) before it acts; nothing
    done, so its ``Idempotency-Key`` is not used up by this answer."""
    return JSONResponse(out.model_dump(mode="json"), status_code=202, headers={NOT_KEPT: "1"})


def pdf_response(pdf: bytes, headers: Mapping[str, str] | None = None) -> Response:
    """``pdf`` as the answer (``application/pdf``), with ``headers`` if any."""
    return Response(pdf, media_type="application/pdf", headers=headers)


def document_pdf(f: Document, headers: Mapping[str, str] | None = None) -> Response:
    """A document as it stands, its SHA-256 in ``x-document-sha256`` (so a client can check
    what it saved against the evidence report), then any further ``headers``."""
    return pdf_response(f.pdf, {"x-document-sha256": f.sha256, **(headers or {})})
