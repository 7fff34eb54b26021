"""The signer's side of a flow, reached through a signing link (``/sign/{token}``): the token,
sent to the signer alone, is the credential, bound to one signer of one flow. Read the
documents, ask for the one-time code, sign every document with the code and the seal PIN, or
decline. No API key is involved."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import Field

from yinxin.adapters.http.api.context import Plat, Strict
from yinxin.signing.flows import FlowSigning, FlowView, LinkContext
from yinxin.signing.intent import Challenge

router = APIRouter(tags=["signing links"])
Token = Annotated[str, Path(min_length=16, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
DocId = Annotated[int, Path(ge=1, le=2**62)]


class SignIn(Strict):
    pin: str = Field(min_length=1, max_length=200, description="the seal PIN")
    challenge_id: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=12, description="the one-time code")


class DeclineIn(Strict):
    reason: str = Field(min_length=1, max_length=500)


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.get("/sign/{token}", response_model=LinkContext)
def open_link(token: Token, platform: Plat):
    """The flow and the signer this link is for (refused when it is not their turn)."""
    return platform.flows.signer_for_link(token)


@router.get(
    "/sign/{token}/documents/{document_id}",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def read_document(token: Token, document_id: DocId, platform: Plat):
    """The whole document as it stands: what the signer reads before signing."""
    ctx = platform.flows.signer_for_link(token)
    f = platform.flows.download(ctx.flow.id, document_id)
    return Response(f.pdf, media_type="application/pdf", headers={"x-document-sha256": f.sha256})


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
        client_ip=_ip(request),
    )


@router.post("/sign/{token}/decline", response_model=FlowView)
def decline(token: Token, body: DeclineIn, request: Request, platform: Plat):
    return platform.flows.decline(token, body.reason, client_ip=_ip(request))
