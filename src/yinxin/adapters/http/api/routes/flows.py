"""Sign flows (签署流程): create from PDFs with signers in order, start (links shown once),
urge, extend, cancel, watch, download the signed files and the evidence report; the pages of a
document as pictures (to read it, and to place a seal by clicking before the flow exists)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field

from yinxin.access.keys import Capability, Principal
from yinxin.adapters.http.api.context import (
    IsoDateTime,
    Page,
    Plat,
    ReasonIn,
    ServiceAfter,
    ServiceLimit,
    Strict,
    allowed,
    owner_of_new,
    read_body,
    scope_organization,
    scope_owned,
    service_page,
    state_filter,
)
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.api.responses import (
    MAX_PDF,
    PDF,
    PNG,
    binary_body,
    checked_pdf,
    document_pdf,
    holds_secret,
    pdf_response,
)
from yinxin.adapters.http.api.routes.documents import DocumentIn, PlacementIn, SealRef, pdf_of
from yinxin.adapters.http.api.routes.pictures import (
    DocumentPages,
    PageNo,
    PagePreview,
    Version,
    Width,
    page_png,
    pages_of,
    preview,
)
from yinxin.errors import ValidationError
from yinxin.signing.evidence import EvidenceReport
from yinxin.signing.flows import FlowSigning, FlowState, FlowView, SignerSpec, StartedFlow, Urged

router = APIRouter(route_class=JsonRoute, tags=["sign flows"])
FlowStateFilter = state_filter(FlowState)
Sender = Annotated[Principal, Depends(allowed(Capability.FLOWS))]
FlowId = Annotated[int, Path(ge=1, le=2**62)]
SignerId = Annotated[int, Path(ge=1, le=2**62)]


class SignerIn(Strict):
    subscriber_id: int = Field(ge=1, le=2**62, description="the person (or holder) who signs")
    role: str = Field(max_length=20, examples=["甲方"])
    seal: SealRef = Field(description="the seal's id or esID")
    placement: PlacementIn | None = None
    placements: dict[int, PlacementIn] | None = Field(
        None, description="per document position (0-based), where it differs"
    )
    field_name: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        examples=["甲方签章"],
        description=(
            "the empty signature field the contract was prepared with that this signer seals "
            "into, in every document (instead of a placement; POST /flows/fields lists them)"
        ),
    )
    field_names: dict[int, Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        None,
        description=(
            "per document position (0-based): the field where it differs; it wins there over "
            "`placement`, which then places the seal on the other documents"
        ),
    )
    order: int | None = Field(None, ge=1, le=100)
    requires_video: bool = Field(
        False, description="video dual recording (视频双录): the signer records a statement first"
    )


class FlowIn(Strict):
    title: str = Field(min_length=1, max_length=200)
    documents: list[DocumentIn] = Field(min_length=1, max_length=20)
    signers: list[SignerIn] = Field(min_length=1, max_length=20)
    order: Literal["sequential", "parallel"] = "sequential"
    deadline: IsoDateTime
    owner_subscriber_id: int | None = Field(None, ge=1, le=2**62)


class ExtendIn(Strict):
    deadline: IsoDateTime


class AuthorizedIn(Strict):
    authorization_id: int = Field(ge=1, le=2**62)


# A page of sign flows (``Page``, under its own name in the OpenAPI document). A comment, not
# a docstring: a docstring would become the schema's description.
class FlowsPage(Page[FlowView]):
    pass


def _scoped(platform, principal: Principal, flow_id: int) -> FlowView:
    flow = platform.flows.get(flow_id)
    missing = f"no sign flow {flow_id}"
    scope_organization(principal, flow.owner_subscriber_id, missing=missing, field="flow_id")
    return flow


@router.post("/flows", status_code=201, response_model=FlowView)
def create_flow(body: FlowIn, platform: Plat, principal: Sender):
    refusal = "this key sends flows for its own organization only"
    owner = owner_of_new(platform, principal, body.owner_subscriber_id, refusal=refusal)
    # signers are not scoped: counterparties are other organizations' people
    documents = [
        (d.name, pdf_of(d, f"documents[{i}].content_base64")) for i, d in enumerate(body.documents)
    ]
    signers = [
        SignerSpec(
            subscriber_id=s.subscriber_id,
            role=s.role,
            seal=s.seal,
            placement=s.placement.placement() if s.placement else None,
            placements={k: v.placement() for k, v in (s.placements or {}).items()} or None,
            order=s.order,
            requires_video=s.requires_video,
            field_name=s.field_name,
            field_names=s.field_names,
        )
        for s in body.signers
    ]
    return platform.flows.create(
        body.title,
        documents=documents,
        signers=signers,
        order=body.order,
        deadline=body.deadline,
        owner_subscriber_id=owner,
        actor=principal.actor,
    )


@router.get("/flows", response_model=FlowsPage)
def list_flows(
    platform: Plat,
    principal: Sender,
    limit: ServiceLimit = 50,
    after: ServiceAfter = None,
    state: FlowStateFilter | None = None,
):
    page = platform.flows.list(
        owner_subscriber_id=principal.organization_id, state=state, limit=limit, after=after
    )
    return service_page(FlowsPage, page)


@router.get("/flows/{flow_id:int}", response_model=FlowView)
def get_flow(flow_id: FlowId, platform: Plat, principal: Sender):
    return _scoped(platform, principal, flow_id)


@router.post("/flows/{flow_id:int}/start", response_model=StartedFlow)
def start_flow(flow_id: FlowId, response: Response, platform: Plat, principal: Sender):
    """Each signer's link is in the answer, once; those whose turn it is are sent theirs."""
    holds_secret(response)  # the links: kept by no cache, sealed for a retry
    _scoped(platform, principal, flow_id)
    return platform.flows.start(flow_id, actor=principal.actor)


@router.post("/flows/{flow_id:int}/signers/{signer_id:int}/urge", response_model=Urged)
def urge(flow_id: FlowId, signer_id: SignerId, platform: Plat, principal: Sender):
    _scoped(platform, principal, flow_id)
    return platform.flows.urge(flow_id, signer_id, actor=principal.actor)


@router.post("/flows/{flow_id:int}/extend", response_model=FlowView)
def extend(flow_id: FlowId, body: ExtendIn, platform: Plat, principal: Sender):
    _scoped(platform, principal, flow_id)
    return platform.flows.extend(flow_id, body.deadline, actor=principal.actor)


@router.post("/flows/{flow_id:int}/cancel", response_model=FlowView)
def cancel(flow_id: FlowId, body: ReasonIn, platform: Plat, principal: Sender):
    _scoped(platform, principal, flow_id)
    return platform.flows.cancel(flow_id, body.reason, actor=principal.actor)


@router.post(
    "/flows/{flow_id:int}/signers/{signer_id:int}/sign-authorized", response_model=FlowSigning
)
def sign_authorized(
    flow_id: FlowId, signer_id: SignerId, body: AuthorizedIn, platform: Plat, principal: Sender
):
    """Automatic signing (静默签署) under the organization's authorization: no code, no PIN."""
    _scoped(platform, principal, flow_id)
    auth = platform.authorizations.get(body.authorization_id)
    if principal.organization_id is not None:
        missing = f"no authorization {body.authorization_id}"
        scope_owned(
            platform,
            principal,
            auth.holder_subscriber_id,
            missing=missing,
            field="authorization_id",
        )
    return platform.flows.sign_authorized(
        flow_id, signer_id, body.authorization_id, actor=principal.actor
    )


@router.get(
    "/flows/{flow_id:int}/documents/{document_id:int}", response_class=Response, responses=PDF
)
def download(flow_id: FlowId, document_id: SignerId, platform: Plat, principal: Sender):
    """The document as signed so far."""
    _scoped(platform, principal, flow_id)
    f = platform.flows.download(flow_id, document_id)
    return document_pdf(f)


@router.get("/flows/{flow_id:int}/evidence", response_model=EvidenceReport)
def evidence(flow_id: FlowId, platform: Plat, principal: Sender):
    _scoped(platform, principal, flow_id)
    return platform.flows.evidence(flow_id)


@router.get("/flows/{flow_id:int}/evidence.pdf", response_class=Response, responses=PDF)
def evidence_pdf(flow_id: FlowId, platform: Plat, principal: Sender):
    """The evidence report (出证) as a Chinese PDF."""
    _scoped(platform, principal, flow_id)
    return pdf_response(platform.flows.evidence_pdf(flow_id))


@router.post(
    "/flows/page-preview",
    response_model=PagePreview,
    openapi_extra=binary_body("application/pdf", "application/octet-stream"),
)
async def page_preview(
    request: Request,
    principal: Sender,
    first: int = Query(1, ge=1, le=10000, description="the first page to draw (1-based)"),
    count: int = Query(10, ge=1, le=20, description="how many pages to draw"),
    width: Width = 800,
):
    """A PDF not yet in a flow (the request body), as page pictures with their sizes in mm:
    the sender places a seal by clicking on them before creating the flow. Nothing is kept."""
    return await preview(request, first=first, count=count, width=width)


class EmptyFieldOut(BaseModel):
    """An empty signature field of a PDF, as ``yinxin sign fields`` lists it: the name a
    signer's ``field_name`` may give, its page (1-based; None: on no page) and rectangle in
    points (lower-left x, y, upper-right x, y), and whether it carries a field lock or seed
    values (sealing judges those). ``locked_by`` names the earlier signature that forbids
    sealing into it any more, ``locked_code`` how (``field_locked``: its field lock covers the
    field; ``locked``: it ended the document): a flow naming the field is refused at create
    with that code, so the start page does not offer it.

    ``forbids`` names the other empty fields a seal into this one will forbid (its own /Lock
    covers them: ``field_locked``; or ends the document: ``locked``), and
    ``forbids_placement`` the code a seal placed beside it would get afterwards (also
    ``certified``: a certification P=2/3 its seed value asks for), by the rule create judges
    a flow's signers with: the start page warns of an order create would refuse."""

    name: str
    page: int | None
    rect: list[float] | None
    locked: bool
    seed_values: bool
    locked_by: str | None = None
    locked_code: str | None = None
    forbids: dict[str, str] = Field(
        default_factory=dict,
        description="field name → code (field_locked, locked): what a seal here forbids "
        "of a later seal into that empty field",
    )
    forbids_placement: str | None = Field(
        None,
        description="code (field_locked, locked, certified) a seal placed beside, after one "
        "here, would be refused with; null: allowed",
    )


class PreparedFields(BaseModel):
    """The PDF's empty signature fields, and whether its certification (DocMDP P=2, P=3)
    lets a seal go only into one of them: then every signer of a flow names one."""

    fields: list[EmptyFieldOut]
    certified: bool


@router.post(
    "/flows/fields",
    response_model=PreparedFields,
    openapi_extra=binary_body("application/pdf", "application/octet-stream"),
)
async def prepared_fields(request: Request, principal: Sender):
    """The empty signature fields of a PDF not yet in a flow (the request body; nothing is
    kept): what the sender offers each signer to seal into (甲方签章, 乙方签章)."""
    body = checked_pdf(await read_body(request, MAX_PDF), "body")

    def read() -> PreparedFields:
        from yinxin.pdf.sign import SigningError, empty_signature_fields
        from yinxin.signing.flows import certified_only_into_fields

        try:
            found = empty_signature_fields(body)
        except SigningError as e:
            raise ValidationError(e.message, field="body", code=e.code) from None
        return PreparedFields(
            fields=[EmptyFieldOut.model_validate(f.listed(), from_attributes=True) for f in found],
            certified=bool(found) and certified_only_into_fields(body),
        )

    return await run_in_threadpool(read)


@router.get("/flows/{flow_id:int}/documents/{document_id:int}/pages", response_model=DocumentPages)
def document_pages(flow_id: FlowId, document_id: SignerId, platform: Plat, principal: Sender):
    """The pages of the document as signed so far: number and size in mm of each."""
    _scoped(platform, principal, flow_id)
    return pages_of(platform.flows.download(flow_id, document_id))


@router.get(
    "/flows/{flow_id:int}/documents/{document_id:int}/pages/{page:int}",
    response_class=Response,
    responses=PNG,
)
def document_page(
    request: Request,
    flow_id: FlowId,
    document_id: SignerId,
    platform: Plat,
    principal: Sender,
    page: PageNo,
    width: Width = 800,
    _version: Version = None,
):
    """One page of the document as signed so far, as a PNG (seals included)."""
    _scoped(platform, principal, flow_id)
    return page_png(request, platform.flows.download(flow_id, document_id), page, width)
