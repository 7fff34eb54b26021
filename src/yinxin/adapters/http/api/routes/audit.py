"""The audit trail: read it page by page, and check its hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from yinxin.access.keys import Capability, Principal
from yinxin.adapters.http.api.context import Page, Plat, allowed
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.store.audit import AuditEventView, AuditVerdict

router = APIRouter(route_class=JsonRoute, tags=["audit"])
Auditor = Annotated[Principal, Depends(allowed(Capability.AUDIT))]


@router.get("/audit/events", response_model=Page[AuditEventView])
def audit_events(
    platform: Plat,
    _principal: Auditor,
    limit: int = Query(100, ge=1, le=1000),
    after: int | None = Query(None, ge=0, le=2**62, description="a sequence number"),
    action: str | None = Query(None, max_length=60),
    subject_type: str | None = Query(None, max_length=40),
    subject_id: str | None = Query(None, max_length=60),
):
    rows = platform.audit_events(
        after=after,
        limit=limit + 1,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
    )
    items = rows[:limit]
    more = len(rows) > limit
    return Page[AuditEventView](items=items, next=str(items[-1].seq) if more else None)


@router.get("/audit/verify", response_model=AuditVerdict)
def verify_chain(platform: Plat, _principal: Auditor):
    """Walk the whole chain: the first event whose link or content does not hold is named."""
    return platform.verify_audit()
