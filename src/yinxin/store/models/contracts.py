"""Contracts drafted from the template library (issue 14).

A row names the template (code **and** version: a later edit of a template never changes what
a stored contract says), keeps the filled values as JSON (what the drafter typed, normalised),
and the rendered PDF by its SHA-256 in the contracts' file store (``<documents>/contracts``).
``state`` follows ``yinxin.contracts.service.CONTRACT_LIFECYCLE``: drafted → out_for_signing →
signed, or cancelled; while out for signing ``flow_id`` is the sign flow carrying it, and once
signed ``signed_sha256`` is the final file (kept in the flow's store, with every signature).
"""

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

import yinxin.store.models.flows  # noqa: F401  (tables our foreign keys name)
from yinxin.store.models import Base


class Contract(Base):
    __tablename__ = "contracts"
    __table_args__ = (
        # a list narrowed by these, a page at a time in id order (0033)
        Index("ix_contracts_template_code_id", "template_code", "id"),
        Index("ix_contracts_state_id", "state", "id"),
        Index("ix_contracts_owner_subscriber_id_id", "owner_subscriber_id", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    template_code: Mapped[str] = mapped_column(String(60))
    template_version: Mapped[str] = mapped_column(String(20))
    filled_values: Mapped[str] = mapped_column(Text)  # JSON object: blank name → value
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    pdf_size: Mapped[int]
    state: Mapped[str] = mapped_column(String(20))
    # the organization the contract belongs to: the API shows it to that organization only
    owner_subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"))
    flow_id: Mapped[int | None] = mapped_column(ForeignKey("sign_flows.id"), index=True)
    signed_sha256: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]
    signed_at: Mapped[dt.datetime | None]
    cancelled_at: Mapped[dt.datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)  # why cancelled, or why a flow ended
