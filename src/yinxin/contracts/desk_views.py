"""What the service desk answers with: the states of a request and its clock, and the views of
a contract under service, a request, its pauses and breaches, and an inspection.

Apart from ``desk`` (the service that writes them) because the reports (``reports``: the
service record and the monthly and yearly reports) read the same views, and the desk in turn
hands its figures to the reports.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class RequestState(StrEnum):
    NONE = "none"  # before the row exists
    OPEN = "open"  # noticed; nobody has answered yet
    RESPONDED = "responded"  # 乙方 answered (phone, remote session)
    ON_SITE = "on_site"  # someone arrived on site
    RESOLVED = "resolved"  # the problem is solved; the service record is to be signed
    RECORD_SIGNED = "record_signed"  # 运维服务记录单 signed by both parties
    CANCELLED = "cancelled"  # withdrawn (e.g. 甲方 found it was no fault)


class ClockState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # waiting on 甲方


class BreachKind(StrEnum):
    RESPONSE = "response"
    ON_SITE = "on_site"


@dataclass(frozen=True)
class DeskContractView:
    id: int
    number: str
    contract_id: int | None  # the library contract (template om-service) it was read from
    title: str
    party_a: str
    party_b: str
    annual_fee: Decimal
    monthly_fee: Decimal
    penalty_per_breach: Decimal
    starts_on: dt.date
    ends_on: dt.date
    workday_response_hours: int
    other_response_hours: int
    on_site_hours: int


@dataclass(frozen=True)
class AdoptableView:
    """A signed O&M contract of the library not yet under service."""

    contract_id: int
    number: str
    title: str
    party_a: str
    party_b: str
    signed_at: dt.datetime | None


@dataclass(frozen=True)
class AdoptablePage:
    """A page of the adoptable contracts: ``next_after`` is the ``after`` of the next page
    (the last contract id shown), none on the last."""

    items: tuple[AdoptableView, ...]
    next_after: int | None


@dataclass(frozen=True)
class PauseView:
    id: int
    started_at: dt.datetime
    ended_at: dt.datetime | None
    reason: str


@dataclass(frozen=True)
class BreachView:
    id: int
    request_id: int
    kind: BreachKind
    due_at: dt.datetime
    detected_at: dt.datetime
    late_seconds: int
    final: bool


@dataclass(frozen=True)
class RequestView:
    id: int
    contract_number: str
    channel: str
    severity: str
    description: str
    reported_by: str
    on_site_requested: bool
    notice_at: dt.datetime
    notice_workday: bool
    # decided by the weekday rule while the official calendar lacks the notice's year
    notice_workday_provisional: bool
    response_budget_minutes: int
    on_site_budget_minutes: int | None
    response_due: dt.datetime | None
    on_site_due: dt.datetime | None
    state: RequestState
    clock: ClockState
    # a commitment not yet met (the response, or an on-site visit asked for): a clock to pause
    commitments_pending: bool
    responded_at: dt.datetime | None
    responded_by: str | None
    on_site_at: dt.datetime | None
    resolved_at: dt.datetime | None
    resolution: str | None
    cancelled_reason: str | None
    response_minutes: float | None  # running time from the notice to the response
    on_site_minutes: float | None
    record_flow_id: int | None
    record_signed_at: dt.datetime | None
    created_at: dt.datetime
    pauses: tuple[PauseView, ...]
    breaches: tuple[BreachView, ...]


@dataclass(frozen=True)
class InspectionView:
    id: int
    contract_number: str
    month: str
    performed_at: dt.datetime
    inspector: str
    findings: str
