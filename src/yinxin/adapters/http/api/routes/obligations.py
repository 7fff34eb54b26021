"""Contract obligations (履约跟踪, docs/obligations.md): a signed contract's payment milestones,
acceptance and delivery with their due dates, overdue penalties to the day, payments and the
facts that fix due dates. Scoped like contracts: an organization's key sees and records only
its own contracts' obligations."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field

from yinxin.access.keys import Capability, Principal
from yinxin.adapters.http.api.context import (
    IsoDate,
    Page,
    Plat,
    ServiceLimit,
    Strict,
    allowed,
    scope_organization,
    service_page,
)
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.api.shapes import Amount, Reason
from yinxin.contracts.obligations import ContractObligations, ObligationView

router = APIRouter(route_class=JsonRoute, tags=["obligations"])
Keeper = Annotated[Principal, Depends(allowed(Capability.FLOWS))]
ContractId = Annotated[int, Path(ge=1, le=2**62)]


class EventIn(Strict):
    event: Literal["delivered", "reminded", "accepted", "went_live"]
    on: IsoDate = Field(description="the day it happened (Beijing calendar day)")


class ObligationPaymentIn(Strict):
    amount: Amount = Field(max_length=32)
    on: IsoDate = Field(description="the day the money was received")
    obligation_id: int | None = Field(None, ge=1, le=2**62, description="default: first unpaid")
    reference: str | None = Field(None, max_length=100)


class WithdrawalIn(Strict):
    event: Literal["delivered", "reminded", "accepted", "went_live"] = Field(
        description="the latest fact recorded"
    )
    reason: Reason = Field(examples=["交付日期录入错误"], description="why")


class ReversalIn(Strict):
    reason: Reason = Field(examples=["金额录入错误"], description="why it was wrong")


def _scoped(platform, principal: Principal, contract_id: int) -> None:
    if principal.organization_id is not None:  # the contract is asked for only then
        owner = platform.contracts.get(contract_id).owner_subscriber_id
        missing = f"no contract {contract_id}"
        scope_organization(principal, owner, missing=missing, field="contract_id")


@router.get("/contracts/{contract_id:int}/obligations", response_model=ContractObligations)
def view(
    contract_id: ContractId,
    platform: Plat,
    principal: Keeper,
    as_of: IsoDate | None = Query(None, description="count to this day (default today)"),
):
    """What is due, overdue (with the penalty to the day and its explanation) and met."""
    _scoped(platform, principal, contract_id)
    return platform.obligations.view(contract_id, as_of=as_of)


@router.post(
    "/contracts/{contract_id:int}/obligations", status_code=201, response_model=ContractObligations
)
def track(contract_id: ContractId, platform: Plat, principal: Keeper):
    """Track a signed contract's terms now (the reminder job does it at its next run)."""
    _scoped(platform, principal, contract_id)
    return platform.obligations.track(contract_id, actor=principal.actor)


@router.post("/contracts/{contract_id:int}/obligations/events", response_model=ContractObligations)
def record(contract_id: ContractId, body: EventIn, platform: Plat, principal: Keeper):
    _scoped(platform, principal, contract_id)
    return platform.obligations.record(contract_id, body.event, body.on, actor=principal.actor)


@router.post(
    "/contracts/{contract_id:int}/obligations/events/withdrawal", response_model=ContractObligations
)
def withdraw(contract_id: ContractId, body: WithdrawalIn, platform: Plat, principal: Keeper):
    """The latest fact, recorded by mistake, taken back: what it met is open again, the due
    dates it fixed wait for it again; then record it with the right day."""
    _scoped(platform, principal, contract_id)
    return platform.obligations.withdraw(
        contract_id, body.event, reason=body.reason, actor=principal.actor
    )


@router.post(
    "/contracts/{contract_id:int}/obligations/payments", response_model=ContractObligations
)
def pay(contract_id: ContractId, body: ObligationPaymentIn, platform: Plat, principal: Keeper):
    _scoped(platform, principal, contract_id)
    return platform.obligations.pay(
        contract_id,
        body.amount,
        body.on,
        obligation_id=body.obligation_id,
        reference=body.reference,
        actor=principal.actor,
    )


@router.post(
    "/contracts/{contract_id:int}/obligations/payments/{payment_id:int}/reversal",
    response_model=ContractObligations,
)
def reverse_payment(
    contract_id: ContractId,
    payment_id: Annotated[int, Path(ge=1, le=2**62)],
    body: ReversalIn,
    platform: Plat,
    principal: Keeper,
):
    """冲正: a payment recorded by mistake stops counting; its record stays, marked."""
    _scoped(platform, principal, contract_id)
    return platform.obligations.reverse_payment(
        contract_id, payment_id, reason=body.reason, actor=principal.actor
    )


# the overview's cursor (``next``): the last obligation's due date (or none), contract and id
ObligationAfter = Annotated[
    str | None,
    Query(
        max_length=60,
        description="the `next` of the previous page: DUE:CONTRACT:ID, DUE a date or none",
        examples=["2026-04-14:3:17"],
    ),
]


@router.get("/obligations", response_model=Page[ObligationView])
def overview(
    platform: Plat,
    principal: Keeper,
    status: Literal["pending", "due", "overdue", "met"] | None = Query(None),
    as_of: IsoDate | None = Query(None),
    limit: ServiceLimit = 50,
    after: ObligationAfter = None,
):
    """Tracked obligations (an organization's key: its own), soonest due first (those without
    a due date last, then by contract and id), a page at a time: ``next`` is the ``after`` of
    the next page, none on the last."""
    page = platform.obligations.overview(
        as_of=as_of,
        status=status,
        owner_subscriber_id=principal.organization_id,
        after=after,
        limit=limit,
    )
    return service_page(Page[ObligationView], page)
