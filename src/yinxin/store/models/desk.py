"""The O&M service desk of contract 003 (运维服务): the contracts under service, their service
requests (报修) with response clocks, the pauses of those clocks, the breaches flagged, and the
monthly on-site inspections (按月巡检).

A service request points at the desk's own row of its contract (``desk_contracts``, found by
the contract number): the desk needs only what 003 commits to — the parties, the fee the
penalties are counted from, and the three response times. A contract drafted from the template
library (``contracts``, template ``om-service``) and signed is put under service with those
terms read from it, and ``desk_contracts.contract_id`` points at it; a contract signed on paper
is entered by hand and has none.

Money is kept as decimal strings (``"28000.00"``), never floats; times are aware UTC.
"""

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

import yinxin.store.models.contracts  # noqa: F401  (tables our foreign keys name)
import yinxin.store.models.flows  # noqa: F401  (tables our foreign keys name)
from yinxin.store.models import Base


class DeskContract(Base):
    """An O&M contract whose service the desk tracks: 甲方 (the customer), 乙方 (the
    provider), the yearly fee, the period and the response commitments in hours."""

    __tablename__ = "desk_contracts"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    # the library contract it was read from (template om-service), if any
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contracts.id"), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    party_a: Mapped[str] = mapped_column(String(200))
    party_b: Mapped[str] = mapped_column(String(200))
    annual_fee: Mapped[str] = mapped_column(String(32))  # decimal, yuan
    starts_on: Mapped[dt.date]
    ends_on: Mapped[dt.date]
    workday_response_hours: Mapped[int]
    other_response_hours: Mapped[int]
    on_site_hours: Mapped[int]
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(100))


class ServiceRequest(Base):
    """One request for service (报修): open → responded → on_site → resolved → record_signed,
    or cancelled; ``clock`` is running or paused (waiting on 甲方). The deadlines are stored as
    computed at the last change, so the breach job and the lists read them without recomputing;
    ``None`` while the clock is paused before the deadline (it is not known yet)."""

    __tablename__ = "service_requests"
    __table_args__ = (
        # the requests of one contract, or in one state, a page at a time in notice order (0034)
        Index("ix_service_requests_contract_id_notice_at_id", "contract_id", "notice_at", "id"),
        Index("ix_service_requests_state_notice_at_id", "state", "notice_at", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("desk_contracts.id"))
    channel: Mapped[str] = mapped_column(String(16))  # phone | web | on_site
    severity: Mapped[str] = mapped_column(String(16))  # low | normal | high | critical
    description: Mapped[str] = mapped_column(Text)
    reported_by: Mapped[str] = mapped_column(String(100))
    on_site_requested: Mapped[bool]
    notice_at: Mapped[dt.datetime] = mapped_column(index=True)
    notice_workday: Mapped[bool]  # the notice fell on a Chinese working day (Beijing time)
    # decided by the weekday rule: no official calendar for the notice's year yet (the breach
    # job confirms or corrects it once there is one)
    notice_workday_provisional: Mapped[bool] = mapped_column(default=False, server_default=false())
    response_budget_minutes: Mapped[int]
    on_site_budget_minutes: Mapped[int | None]
    response_due: Mapped[dt.datetime | None] = mapped_column(index=True)
    on_site_due: Mapped[dt.datetime | None] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(String(16))
    clock: Mapped[str] = mapped_column(String(8))  # running | paused
    responded_at: Mapped[dt.datetime | None]
    responded_by: Mapped[str | None] = mapped_column(String(100))
    on_site_at: Mapped[dt.datetime | None]
    resolved_at: Mapped[dt.datetime | None]
    resolution: Mapped[str | None] = mapped_column(Text)
    cancelled_reason: Mapped[str | None] = mapped_column(Text)
    record_flow_id: Mapped[int | None] = mapped_column(ForeignKey("sign_flows.id"))
    record_signed_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(100))


class ServicePause(Base):
    """A stretch in which the clocks stood still while the desk waited on 甲方 (awaiting the
    customer's information or access); ``ended_at`` is ``None`` while it lasts."""

    __tablename__ = "service_pauses"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("service_requests.id"), index=True)
    started_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    reason: Mapped[str] = mapped_column(Text)


class ServiceBreach(Base):
    """A commitment missed: the response (``kind="response"``) or the arrival on site
    (``"on_site"``). ``late_seconds`` grows while the commitment is still unmet (the job
    updates it) and is final once met (``final``)."""

    __tablename__ = "service_breaches"
    __table_args__ = (UniqueConstraint("request_id", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("service_requests.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[dt.datetime]
    detected_at: Mapped[dt.datetime]
    late_seconds: Mapped[int]
    final: Mapped[bool]


class ServiceInspection(Base):
    """The monthly on-site inspection (按月巡检) of one contract, with its record."""

    __tablename__ = "service_inspections"
    __table_args__ = (UniqueConstraint("contract_id", "month"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("desk_contracts.id"), index=True)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    performed_at: Mapped[dt.datetime]
    inspector: Mapped[str] = mapped_column(String(100))
    findings: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
