"""Contracts (合同): the template library, drafting with validated blanks, the PDF (preview,
draft, signed), sending for signing through a sign flow, cancelling; scoped like sign flows (an
organization's key sees its own contracts only, and drafts for its own organization)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import Field

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
    scope_organization,
    service_page,
)
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.api.responses import PDF, document_pdf, holds_secret, pdf_response
from yinxin.adapters.http.api.routes.documents import SealRef
from yinxin.contracts import templates
from yinxin.contracts.service import (
    ContractSigner,
    ContractView,
    SentContract,
    TemplateView,
)
from yinxin.errors import NotFound

router = APIRouter(route_class=JsonRoute, tags=["contracts"])
Drafter = Annotated[Principal, Depends(allowed(Capability.FLOWS))]
ContractId = Annotated[int, Path(ge=1, le=2**62)]
Code = Annotated[str, Path(min_length=1, max_length=60, pattern=r"^[a-z0-9-]+$")]
Values = Annotated[
    dict[str, Any],
    Field(
        description="blank name → value (see the template's blanks); a payment schedule is a "
        "list of {milestone, percent[, amount]}",
        examples=[{"client_name": "北京印信示范科技有限公司", "price": "120000"}],
    ),
]


class PreviewIn(Strict):
    values: Values
    title: str | None = Field(None, min_length=1, max_length=200)


class ContractIn(Strict):
    template: str = Field(min_length=1, max_length=60, examples=["tech-service"])
    # the example is the template's own sample, every required blank filled in
    values: Values = Field(examples=[templates.get_template("tech-service").example_values()])
    title: str | None = Field(None, min_length=1, max_length=200)
    owner_subscriber_id: int | None = Field(None, ge=1, le=2**62)


class ReviseIn(Strict):
    values: Values
    title: str | None = Field(None, min_length=1, max_length=200)
    based_on: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description="the draft's pdf_sha256 you edited: a draft revised since is refused (409, "
        "code stale) instead of overwritten",
    )


class ContractSignerIn(Strict):
    role: str = Field(max_length=20, examples=["甲方"])
    subscriber_id: int = Field(ge=1, le=2**62, description="the person (or holder) who signs")
    seal: SealRef = Field(description="the seal's id or esID")
    requires_video: bool = False


class SendIn(Strict):
    signers: list[ContractSignerIn] = Field(min_length=1, max_length=10)
    order: Literal["sequential", "parallel"] = "sequential"
    deadline: IsoDateTime


# A page of contracts (``Page``, under its own name in the OpenAPI document). A comment, not
# a docstring: a docstring would become the schema's description.
class ContractsPage(Page[ContractView]):
    pass


def _scoped(platform, principal: Principal, contract_id: int) -> ContractView:
    c = platform.contracts.get(contract_id)
    missing = f"no contract {contract_id}"
    scope_organization(principal, c.owner_subscriber_id, missing=missing, field="contract_id")
    return c


@router.get("/contract-templates", response_model=list[TemplateView])
def list_templates(platform: Plat, principal: Drafter):
    """The library: each template's parties (with the anchor each seal goes on) and blanks."""
    return platform.contracts.templates()


@router.get("/contract-templates/{code}", response_model=TemplateView)
def get_template(
    code: Code,
    platform: Plat,
    principal: Drafter,
    version: str | None = Query(
        None,
        min_length=1,
        max_length=20,
        pattern=r"^[0-9A-Za-z.\-]+$",
        description="a version the library still holds (a contract's template_version): the "
        "blanks a draft of that version is revised with; the current version without it",
    ),
):
    try:
        return platform.contracts.template(code, version)
    except NotFound as e:
        if e.field != "template_version":
            raise
        raise NotFound(str(e), field="version") from None


@router.post("/contract-templates/{code}/preview", response_class=Response, responses=PDF)
def preview(code: Code, body: PreviewIn, platform: Plat, principal: Drafter):
    """The PDF these values would make (marked as a preview); nothing is stored."""
    pdf = platform.contracts.preview(code, body.values, title=body.title)
    return pdf_response(pdf)


@router.post("/contracts", status_code=201, response_model=ContractView)
def draft(body: ContractIn, platform: Plat, principal: Drafter):
    refusal = "this key drafts contracts for its own organization only"
    owner = owner_of_new(platform, principal, body.owner_subscriber_id, refusal=refusal)
    return platform.contracts.draft(
        body.template,
        body.values,
        title=body.title,
        owner_subscriber_id=owner,
        actor=principal.actor,
    )


@router.get("/contracts", response_model=ContractsPage)
def list_contracts(
    platform: Plat,
    principal: Drafter,
    limit: ServiceLimit = 50,
    after: ServiceAfter = None,
    state: Annotated[
        Literal["drafted", "out_for_signing", "signed", "cancelled"] | None, Query()
    ] = None,
    template: str | None = Query(None, max_length=60),
):
    page = platform.contracts.list(
        state=state,
        owner_subscriber_id=principal.organization_id,
        template=template,
        limit=limit,
        after=after,
    )
    return service_page(ContractsPage, page)


@router.get("/contracts/{contract_id:int}", response_model=ContractView)
def get_contract(contract_id: ContractId, platform: Plat, principal: Drafter):
    return _scoped(platform, principal, contract_id)


@router.post("/contracts/{contract_id:int}/revise", response_model=ContractView)
def revise(contract_id: ContractId, body: ReviseIn, platform: Plat, principal: Drafter):
    """New values for a draft (the whole set); a new PDF."""
    _scoped(platform, principal, contract_id)
    return platform.contracts.revise(
        contract_id, body.values, title=body.title, based_on=body.based_on, actor=principal.actor
    )


@router.get("/contracts/{contract_id:int}/pdf", response_class=Response, responses=PDF)
def contract_pdf(contract_id: ContractId, platform: Plat, principal: Drafter):
    """The signed file once every party signed (``x-contract-signed: true``), else the draft."""
    _scoped(platform, principal, contract_id)
    f = platform.contracts.pdf(contract_id)
    return document_pdf(
        f,
        {
            "x-contract-signed": "true" if f.signed else "false",
            "content-disposition": f'inline; filename="{f.name}"',
        },
    )


@router.post("/contracts/{contract_id:int}/signing", status_code=201, response_model=SentContract)
def send(
    contract_id: ContractId, body: SendIn, response: Response, platform: Plat, principal: Drafter
):
    """Start signing: a sign flow over the PDF, each party's signer at its anchor, in the
    template's party order; each signer's link is in the answer, once."""
    holds_secret(response)  # the links: kept by no cache, sealed for a retry
    _scoped(platform, principal, contract_id)
    signers = [
        ContractSigner(
            role=s.role,
            subscriber_id=s.subscriber_id,
            seal=s.seal,
            requires_video=s.requires_video,
        )
        for s in body.signers
    ]
    return platform.contracts.start_signing(
        contract_id, signers, deadline=body.deadline, order=body.order, actor=principal.actor
    )


@router.post("/contracts/{contract_id:int}/cancel", response_model=ContractView)
def cancel(contract_id: ContractId, body: ReasonIn, platform: Plat, principal: Drafter):
    _scoped(platform, principal, contract_id)
    return platform.contracts.cancel(contract_id, body.reason, actor=principal.actor)
