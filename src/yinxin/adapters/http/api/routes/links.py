"""The signer's side of a flow, reached through a signing link (``/sign/{token}``): the token,
sent to the signer alone, is the credential, bound to one signer of one flow. Read the
documents (as PDF, or page by page as pictures), record the video statement when the flow asks
for one (视频双录), ask for the one-time code, sign every document with the code and the seal
PIN, or decline. After signing the same link still READS (the signer's copy, the seal on the
page), and does nothing else. No API key is involved."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import Field

from yinxin.adapters.http.api.context import Plat, Strict, client_ip, read_body
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.api.responses import PDF, PNG, binary_body, document_pdf
from yinxin.adapters.http.api.routes.pictures import (
    DocumentPages,
    PageNo,
    Version,
    Width,
    page_png,
    pages_of,
)
from yinxin.adapters.http.api.shapes import Reason
from yinxin.signing.flows import MAX_VIDEO, FlowSigning, FlowView, LinkContext, Recording
from yinxin.signing.intent import Challenge

router = APIRouter(route_class=JsonRoute, tags=["signing links"])
Token = Annotated[str, Path(min_length=16, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
DocId = Annotated[int, Path(ge=1, le=2**62)]


class SignIn(Strict):
    pin: str = Field(min_length=1, max_length=200, description="the seal PIN")
    challenge_id: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=12, description="the one-time code")


class DeclineIn(Strict):
    reason: Reason


@router.get("/sign/{token}", response_model=LinkContext)
def open_link(token: Token, platform: Plat):
    """The flow and the signer this link is for (refused when it is not their turn)."""
    return platform.flows.signer_for_link(token)


@router.get("/sign/{token}/documents", response_model=LinkContext)
def read_flow(token: Token, platform: Plat):
    """The flow and this signer for reading: while it is their turn, and after they signed
    (their copy, whatever became of the flow since)."""
    return platform.flows.reader_for_link(token)


@router.get(
    "/sign/{token}/documents/{document_id:int}",
    response_class=Response,
    responses=PDF,
)
def read_document(token: Token, document_id: DocId, platform: Plat):
    """The whole document as it stands: what the signer reads before signing, and the signed
    version afterwards."""
    f = platform.flows.document_of(platform.flows.reader_for_link(token), document_id)
    return document_pdf(f)


@router.get("/sign/{token}/documents/{document_id:int}/pages", response_model=DocumentPages)
def document_pages(token: Token, document_id: DocId, platform: Plat):
    """The document's pages (number, size in mm) as it stands."""
    return pages_of(platform.flows.document_of(platform.flows.reader_for_link(token), document_id))


@router.get(
    "/sign/{token}/documents/{document_id:int}/pages/{page:int}",
    response_class=Response,
    responses=PNG,
)
def document_page(
    request: Request,
    token: Token,
    document_id: DocId,
    platform: Plat,
    page: PageNo,
    width: Width = 800,
    _version: Version = None,
):
    """One page as a PNG: to read on a phone, and to see the seal land after signing."""
    f = platform.flows.document_of(platform.flows.reader_for_link(token), document_id)
    return page_png(request, f, page, width)


@router.post(
    "/sign/{token}/video",
    status_code=201,
    response_model=Recording,
    openapi_extra=binary_body("video/webm", "video/mp4", "application/octet-stream"),
)
async def record_video(token: Token, request: Request, platform: Plat):
    """The signer's video recording (视频双录), reading the statement ``GET /sign/{token}``
    shows. The body is ``video/webm`` as MediaRecorder writes it, or ``video/mp4``
    (``application/octet-stream``: told apart by the file's header). Stored with its SHA-256
    and bound to this signer: their signatures then name it. Required before signing when the
    flow asks for it; a new recording replaces the one signed with."""
    from fastapi.concurrency import run_in_threadpool

    body = await read_body(request, MAX_VIDEO)
    return await run_in_threadpool(
        platform.flows.record_video,
        token,
        body,
        request.headers.get("content-type", ""),
        client_ip=client_ip(request),
    )


@router.post("/sign/{token}/code", status_code=201, response_model=Challenge)
def request_code(token: Token, platform: Plat):
    """One code to the signer's registered phone, covering every document of the flow."""
    return platform.flows.request_code(token)


@router.post("/sign/{token}", response_model=FlowSigning)
def sign(token: Token, body: SignIn, request: Request, platform: Plat):
    return platform.flows.sign(
        token,
        pin=body.pin,
        challenge_id=body.challenge_id,
        code=body.code,
        client_ip=client_ip(request),
    )


@router.post("/sign/{token}/decline", response_model=FlowView)
def decline(token: Token, body: DeclineIn, request: Request, platform: Plat):
    return platform.flows.decline(token, body.reason, client_ip=client_ip(request))
