"""Verification for relying parties: send a PDF, get every signature's verdict as JSON or as
the Chinese one-page PDF report (the same report as ``yinxin verify``).

Like ``yinxin verify``, the content decides the verifier (``yinxin.seals.documents``): a PDF
with GB/T 38540 seal signatures and an OFD are judged by GB/T 38540's procedure, trusting the
platform's root and issuing CA, and answered with their own report (``kind`` ``pdf-ses`` or
``ofd``; JSON only — the one-page PDF report is drawn for PAdES PDFs)."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from yinxin.access.keys import Capability, Principal
from yinxin.adapters.http.api.context import IsoDateTime, Plat, allowed, limit_public, read_body
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.api.responses import (
    MAX_PDF,
    NOT_KEPT,
    PDF,
    binary_body,
    pdf_response,
)
from yinxin.errors import ValidationError
from yinxin.pdf.verify import VerificationReport

router = APIRouter(route_class=JsonRoute, tags=["verification"])
Verifier = Annotated[Principal, Depends(allowed(Capability.VERIFY))]


BODY = binary_body("application/pdf", "application/octet-stream")
FILE_NAME = Query("document.pdf", max_length=255)
FORMAT = Query("json", description="pdf: the Chinese report")
AT = Query(None, description="judge at this moment (years later…)")


class VerifyQuery:
    """The query of a verification, the same for the keyed route and the public one: the
    name the report gives the file, JSON or the PDF report, the moment and the policy."""

    def __init__(
        self,
        file_name: str = FILE_NAME,
        format: Literal["json", "pdf"] = FORMAT,
        at: IsoDateTime | None = AT,
        policy: Literal["last-known", "strict"] = "last-known",
    ):
        self.file_name, self.format, self.at, self.policy = file_name, format, at, policy


Asked = Annotated[VerifyQuery, Depends()]


@router.post("/verifications", response_model=VerificationReport, openapi_extra=BODY, responses=PDF)
async def verify_document(
    request: Request,
    platform: Plat,
    _principal: Verifier,
    asked: Asked,
    response: Response,
):
    """The document is the request body (`Content-Type: application/pdf`); nothing is kept."""
    return await _verify(request, platform, asked, response)


@router.post(
    "/public/verifications",
    response_model=VerificationReport,
    openapi_extra=BODY,
    responses=PDF,
)
async def verify_document_publicly(
    request: Request,
    platform: Plat,
    asked: Asked,
    response: Response,
):
    """The same verification for a relying party without an API key (the web's verification
    page): no key, but a tighter rate limit per address (answered 429 with `Retry-After`).
    Nothing is kept."""
    limit_public(request, "verify", "documents")
    return await _verify(request, platform, asked, response)


async def _verify(request: Request, platform, asked: VerifyQuery, response: Response):
    """The answer, marked ``NOT_KEPT``: nothing is kept, not even under an ``Idempotency-Key``
    (the verification page sends one with every file), whose guard kept the whole report —
    the file's name and hash, who signed it — for 24 hours. A repeat verifies again."""
    answer = await _answer(request, platform, asked)
    (answer if isinstance(answer, Response) else response).headers[NOT_KEPT] = "1"
    return answer


async def _answer(request: Request, platform, asked: VerifyQuery):
    file_name, format, at, policy = asked.file_name, asked.format, asked.at, asked.policy
    body = await read_body(request, MAX_PDF)  # a public route: never read whole, then refused
    if not body:
        raise ValidationError("send the PDF as the request body", field="body")
    if at is not None and at.tzinfo is None:
        raise ValidationError("at needs a time zone", field="at")
    from starlette.concurrency import run_in_threadpool

    from yinxin.seals.documents import PADES, document_kind, neither_refused

    neither_refused(body, "pdf")  # the field the verifier names for a bad PDF too
    kind = await run_in_threadpool(document_kind, body)
    if kind != PADES:
        if kind == "pdf-ses":  # the platform's own seals are looked up too (revoked here?)
            seal_report = await run_in_threadpool(
                lambda: platform.ses_pdf_signing.verify(body, file_name=file_name, at=at)
            )
        else:
            seal_report = await run_in_threadpool(
                lambda: platform.ofd_signing.verify_file(body, file_name=file_name, at=at)
            )
        if format == "pdf":
            from yinxin.pdf.report import render_report_pdf

            return pdf_response(await run_in_threadpool(render_report_pdf, seal_report))
        return JSONResponse(json.loads(seal_report.to_json()))
    from yinxin.pdf.verify import averify_pdf

    report = await averify_pdf(
        body,
        trust_roots=[platform.ca.certificate("root")],
        file_name=file_name,
        at=at,
        policy=policy,
    )
    if format == "pdf":
        from yinxin.pdf.report import render_report_pdf

        pdf = await run_in_threadpool(render_report_pdf, report)
        return pdf_response(pdf)
    return report
