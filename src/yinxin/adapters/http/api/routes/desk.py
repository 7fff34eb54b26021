"""The O&M service desk (运维服务, contract 003): contracts under service, service requests and
their clocks, inspections, the service record and its sign flow, monthly and yearly reports.

The desk is the platform operator's own work (乙方's engineers and their manager), so only
unscoped staff may use it: an administrator, an RA officer, or an integration key bound to no
organization (a help-desk system feeding notices in). Times are ISO 8601 with an offset; a
time without one is refused naming its field, as the CLI does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import Field

from yinxin.access.keys import ApiRole, Principal
from yinxin.adapters.http.api.context import (
    IsoDate,
    IsoDateTime,
    Page,
    Pages,
    Plat,
    ServiceAfter,
    ServiceLimit,
    Strict,
    get_caller,
    service_page,
    state_filter,
)
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.api.responses import PDF, holds_secret, pdf_response
from yinxin.adapters.http.api.routes.documents import SealRef
from yinxin.adapters.http.api.shapes import Amount, DeskText
from yinxin.contracts.desk import (
    AdoptableView,
    BreachRun,
    DeskContractView,
    InspectionView,
    RequestView,
)
from yinxin.contracts.desk_views import RequestState
from yinxin.contracts.reports import ServiceReport
from yinxin.errors import Forbidden
from yinxin.signing.flows import StartedFlow

router = APIRouter(route_class=JsonRoute, tags=["service desk"])
RequestStateFilter = state_filter(RequestState)
RequestId = Annotated[int, Path(ge=1, le=2**62)]
Number = Annotated[str, Path(min_length=1, max_length=64)]
PeriodText = Annotated[str, Path(min_length=4, max_length=7, examples=["2026-10", "2026"])]
DESK_ROLES = frozenset({ApiRole.ADMINISTRATOR, ApiRole.RA_OFFICER, ApiRole.INTEGRATION})


def desk_staff(principal: Principal = Depends(get_caller)) -> Principal:
    """The caller, refused unless it is unscoped platform staff (see the module's note)."""
    if principal.role not in DESK_ROLES or principal.organization_id is not None:
        raise Forbidden("the service desk is for the platform's own staff", field="role")
    return principal


Staff = Annotated[Principal, Depends(desk_staff)]


class DeskContractIn(Strict):
    number: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=200)
    party_a: str = Field(min_length=1, max_length=200, description="甲方, the customer")
    party_b: str = Field(min_length=1, max_length=200, description="乙方, the provider")
    annual_fee: Amount = Field(max_length=32, examples=["28000.00"])
    starts_on: IsoDate
    ends_on: IsoDate
    workday_response_hours: int = Field(2, ge=1, le=720, description="hours, 1–720")
    other_response_hours: int = Field(4, ge=1, le=720, description="hours, 1–720")
    on_site_hours: int = Field(24, ge=1, le=720, description="hours, 1–720")


class RequestIn(Strict):
    contract: str = Field(min_length=1, max_length=64, description="the contract's number")
    channel: Literal["phone", "web", "on_site"]
    description: DeskText
    severity: Literal["low", "normal", "high", "critical"] = "normal"
    on_site_requested: bool = False
    notice_at: IsoDateTime | None = Field(None, description="default: now")
    reported_by: str = Field(min_length=1, max_length=100)


class AtIn(Strict):
    at: IsoDateTime | None = Field(None, description="when it happened; default now")


class DeskPauseIn(AtIn):
    reason: DeskText


class ResolveIn(AtIn):
    resolution: DeskText


class CancelIn(Strict):
    reason: DeskText


class PartyIn(Strict):
    subscriber_id: int = Field(ge=1, le=2**62)
    seal: SealRef


class RecordFlowIn(Strict):
    party_a: PartyIn
    party_b: PartyIn
    deadline: IsoDateTime | None = None


class InspectionIn(Strict):
    month: str | None = Field(None, pattern=r"^[0-9]{4}-[0-9]{2}$")
    performed_at: IsoDateTime | None = None
    inspector: str = Field(min_length=1, max_length=100)
    findings: DeskText


@router.post("/desk/contracts", status_code=201, response_model=DeskContractView)
def add_contract(body: DeskContractIn, platform: Plat, principal: Staff):
    return platform.desk.add_contract(**body.model_dump(), actor=principal.actor)


class AdoptIn(Strict):
    number: str = Field(min_length=1, max_length=64, description="a signed om-service contract")


@router.post("/desk/contracts/adopt", status_code=201, response_model=DeskContractView)
def adopt_contract(body: AdoptIn, platform: Plat, principal: Staff):
    """Put a signed O&M contract of the template library under service (terms read from it)."""
    return platform.desk.adopt(body.number, actor=principal.actor)


@router.get("/desk/contracts/adoptable", response_model=Page[AdoptableView])
def adoptable_contracts(
    platform: Plat, _principal: Staff, limit: ServiceLimit = 50, after: ServiceAfter = None
):
    """Signed O&M contracts of the template library not yet under service (for ``adopt``),
    oldest first, a page at a time (``after``: the ``next`` of the previous page)."""
    return service_page(Page[AdoptableView], platform.desk.adoptable(after=after, limit=limit))


@router.get("/desk/contracts", response_model=Page[DeskContractView])
def contracts(platform: Plat, _principal: Staff, pages: Pages):
    """The contracts under service in id order, a page at a time."""
    return pages.page(platform.desk.contracts(**pages.fetch()), lambda c: c.id)


@router.post("/desk/requests", status_code=201, response_model=RequestView)
def open_request(body: RequestIn, platform: Plat, principal: Staff):
    """A notice (报修): its response clock starts at ``notice_at``."""
    return platform.desk.open(**body.model_dump(), actor=principal.actor)


@router.get("/desk/requests", response_model=Page[RequestView])
def list_requests(
    platform: Plat,
    _principal: Staff,
    pages: Pages,
    contract: str | None = Query(None, max_length=64),
    state: RequestStateFilter | None = None,
    order: Literal["oldest", "newest"] = Query(
        "oldest", description="by notice time: oldest first (the default) or newest first"
    ),
):
    """Requests by notice time (then id), oldest first (``order=newest``: newest first), a
    page at a time: ``after`` is the ``next`` of the page before (a request's id; its notice
    time places it), the page continuing with the requests after it in that order."""
    rows = platform.desk.list(contract=contract, state=state, order=order, **pages.fetch())
    return pages.page(rows, lambda r: r.id)


@router.get("/desk/requests/{request_id:int}", response_model=RequestView)
def get_request(request_id: RequestId, platform: Plat, _principal: Staff):
    return platform.desk.get(request_id)


@router.post("/desk/requests/{request_id:int}/respond", response_model=RequestView)
def respond(request_id: RequestId, body: AtIn, platform: Plat, principal: Staff):
    return platform.desk.respond(request_id, at=body.at, actor=principal.actor)


@router.post("/desk/requests/{request_id:int}/arrive", response_model=RequestView)
def arrive(request_id: RequestId, body: AtIn, platform: Plat, principal: Staff):
    return platform.desk.arrive(request_id, at=body.at, actor=principal.actor)


@router.post("/desk/requests/{request_id:int}/pause", response_model=RequestView)
def pause(request_id: RequestId, body: DeskPauseIn, platform: Plat, principal: Staff):
    return platform.desk.pause(request_id, body.reason, at=body.at, actor=principal.actor)


@router.post("/desk/requests/{request_id:int}/resume", response_model=RequestView)
def resume(request_id: RequestId, body: AtIn, platform: Plat, principal: Staff):
    return platform.desk.resume(request_id, at=body.at, actor=principal.actor)


@router.post("/desk/requests/{request_id:int}/resolve", response_model=RequestView)
def resolve(request_id: RequestId, body: ResolveIn, platform: Plat, principal: Staff):
    return platform.desk.resolve(request_id, body.resolution, at=body.at, actor=principal.actor)


@router.post("/desk/requests/{request_id:int}/cancel", response_model=RequestView)
def cancel(request_id: RequestId, body: CancelIn, platform: Plat, principal: Staff):
    return platform.desk.cancel(request_id, body.reason, actor=principal.actor)


@router.get("/desk/requests/{request_id:int}/record.pdf", response_class=Response, responses=PDF)
def record_pdf(request_id: RequestId, platform: Plat, _principal: Staff):
    """The service record (运维服务记录单) as rendered for signature."""
    return pdf_response(platform.desk.record_pdf(request_id))


@router.get(
    "/desk/requests/{request_id:int}/record-signed.pdf", response_class=Response, responses=PDF
)
def signed_record(request_id: RequestId, platform: Plat, _principal: Staff):
    """The service record as both parties signed it."""
    return pdf_response(platform.desk.signed_record(request_id))


@dataclass(frozen=True)
class RecordFlowOut:
    """The request and its record's sign flow as started (``yinxin.contracts.desk.RecordFlow``
    with the flow's type spelled out for the schema)."""

    request: RequestView
    flow: StartedFlow


@router.post("/desk/requests/{request_id:int}/record-flow", response_model=RecordFlowOut)
def record_flow(
    request_id: RequestId, body: RecordFlowIn, response: Response, platform: Plat, principal: Staff
):
    """Send the record for signature: 乙方 first, then 甲方; each link is in the answer once."""
    holds_secret(response)  # the links: kept by no cache, sealed for a retry
    sent = platform.desk.start_record_flow(
        request_id,
        party_a=(body.party_a.subscriber_id, body.party_a.seal),
        party_b=(body.party_b.subscriber_id, body.party_b.seal),
        deadline=body.deadline,
        actor=principal.actor,
    )
    return RecordFlowOut(sent.request, sent.flow)


# A contract's number is the operator's free text and may hold a slash (``YX/2026/003``), which
# a client sends as is or as %2F (the same path once decoded): ``{number:path}`` takes it whole.
# The routes with a tail after the number come first, so the bare one below takes only what no
# tail explains.
class CorrectPartiesIn(Strict):
    party_a: str | None = Field(None, max_length=200, description="甲方 as it should read")
    party_b: str | None = Field(None, max_length=200, description="乙方 as it should read")
    reason: DeskText


@router.post("/desk/contracts/{number:path}/correct", response_model=DeskContractView)
def correct_parties(number: Number, body: CorrectPartiesIn, platform: Plat, principal: Staff):
    """Correct 甲方/乙方 of a contract entered by hand (not one adopted from the library), while
    no service record of it is in a sign flow or signed."""
    return platform.desk.correct_parties(number, **body.model_dump(), actor=principal.actor)


@router.post(
    "/desk/contracts/{number:path}/inspections", status_code=201, response_model=InspectionView
)
def record_inspection(number: Number, body: InspectionIn, platform: Plat, principal: Staff):
    return platform.desk.record_inspection(number, **body.model_dump(), actor=principal.actor)


@router.get("/desk/contracts/{number:path}/inspections", response_model=list[InspectionView])
def inspections(number: Number, platform: Plat, _principal: Staff):
    return platform.desk.inspections(number)


@router.get("/desk/contracts/{number:path}/reports/{period}", response_model=ServiceReport)
def report(number: Number, period: PeriodText, platform: Plat, _principal: Staff):
    """The figures of a month (``2026-10``) or a year (``2026``)."""
    return platform.desk.report(number, period)


@router.get(
    "/desk/contracts/{number:path}/reports/{period}/pdf", response_class=Response, responses=PDF
)
def report_pdf(number: Number, period: PeriodText, platform: Plat, _principal: Staff):
    return pdf_response(platform.desk.report_pdf(number, period))


@router.get("/desk/contracts/{number:path}", response_model=DeskContractView)
def contract(number: Number, platform: Plat, _principal: Staff):
    return platform.desk.contract(number)


@router.post("/desk/sweep", response_model=BreachRun)
def sweep(platform: Plat, _principal: Staff):
    """Flag breaches now (the ``desk.breaches`` job's work)."""
    return platform.desk.flag_breaches()
