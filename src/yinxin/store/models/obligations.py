"""Contract obligations tracked after signing (issue 14 §3): what each party owes, by when.

* ``contract_tracking`` — one row per signed contract whose terms are tracked: the day it took
  effect (the day both parties had signed, 北京时间) and the facts that fix due dates as they
  are recorded — delivered (验收申请), reminded (催告), accepted (signed report, or deemed by
  002 §4.2), went live. ``stage`` follows ``yinxin.contracts.obligations.STAGES``.
* ``obligations`` — one row per duty read from the contract's terms: a payment milestone, the
  acceptance 甲方 must organize, the delivery 乙方 owes. The rule that fixes its due date is
  kept with it (event, months, working days, calendar days), the due date once the event has
  happened, and the late-penalty terms. ``state`` follows ``OBLIGATION_LIFECYCLE``.
* ``obligation_payments`` — money received against a payment obligation (partial payments).
* ``obligation_reminders`` — one row per reminder point actually reached (7 and 1 working days
  before the due date, the first day overdue); unique per obligation, point and due date, so a
  reminder goes out once however often the job runs.

Money is kept as decimal strings (``"1305000.00"``), never floats.
"""

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

import yinxin.store.models.contracts  # noqa: F401  (tables our foreign keys name)
import yinxin.store.models.notify  # noqa: F401  (tables our foreign keys name)
from yinxin.store.models import Base


class ContractTracking(Base):
    __tablename__ = "contract_tracking"
    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), unique=True)
    stage: Mapped[str] = mapped_column(String(20), index=True)
    effective_on: Mapped[dt.date]  # both parties signed: the contract took effect
    delivered_on: Mapped[dt.date | None]  # 乙方 delivered and asked for acceptance
    reminded_on: Mapped[dt.date | None]  # 乙方's reminder (催告) to organize acceptance
    accepted_on: Mapped[dt.date | None]  # acceptance report signed, or deemed
    acceptance_deemed: Mapped[bool] = mapped_column(default=False)
    live_on: Mapped[dt.date | None]  # the system went live (上线运行)
    created_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime]


class Obligation(Base):
    __tablename__ = "obligations"
    # the overview's order (due date, contract, id), read a page at a time (0033)
    __table_args__ = (Index("ix_obligations_due_on_contract_id_id", "due_on", "contract_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    seq: Mapped[int]  # order within the contract
    kind: Mapped[str] = mapped_column(String(20))  # payment | acceptance | delivery
    label: Mapped[str] = mapped_column(String(100))
    debtor: Mapped[str] = mapped_column(String(20))  # the role that owes it: 甲方 / 乙方
    wording: Mapped[str] = mapped_column(Text)  # the contract's own words
    amount: Mapped[str | None] = mapped_column(String(32))  # decimal yuan; None: not money
    # the rule: ``months`` after ``event``, then ``workdays`` working days or ``days`` days;
    # event ``fixed`` has its day in ``fixed_on``
    event: Mapped[str | None] = mapped_column(String(20))
    months: Mapped[int] = mapped_column(default=0)
    workdays: Mapped[int] = mapped_column(default=0)
    days: Mapped[int] = mapped_column(default=0)
    fixed_on: Mapped[dt.date | None]
    due_on: Mapped[dt.date | None]
    due_explanation: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), index=True)
    paid: Mapped[str] = mapped_column(String(32), default="0.00")
    met_on: Mapped[dt.date | None]
    # late penalty: a rate a day of the unpaid amount (``unpaid``) or of the contract amount
    # (``contract``), capped at cap_rate × cap_base when the contract says so
    penalty_rate: Mapped[str | None] = mapped_column(String(20))
    penalty_base: Mapped[str | None] = mapped_column(String(20))
    penalty_cap_rate: Mapped[str | None] = mapped_column(String(20))
    penalty_cap_base: Mapped[str | None] = mapped_column(String(32))
    penalty_clause: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class ObligationPayment(Base):
    __tablename__ = "obligation_payments"
    id: Mapped[int] = mapped_column(primary_key=True)
    obligation_id: Mapped[int] = mapped_column(ForeignKey("obligations.id"), index=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    paid_on: Mapped[dt.date]
    amount: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(100))
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[dt.datetime]
    # a reversing entry (冲正): the row stays, counted no more; who, when and why
    reversed_at: Mapped[dt.datetime | None]
    reversed_by: Mapped[str | None] = mapped_column(String(100))
    reversal_reason: Mapped[str | None] = mapped_column(Text)


class ObligationReminder(Base):
    __tablename__ = "obligation_reminders"
    __table_args__ = (UniqueConstraint("obligation_id", "point", "due_on"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    obligation_id: Mapped[int] = mapped_column(ForeignKey("obligations.id"), index=True)
    point: Mapped[str] = mapped_column(String(20))  # before:7 | before:1 | overdue
    due_on: Mapped[dt.date]  # the due date it was about
    sent_on: Mapped[dt.date]
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"))
    note: Mapped[str | None] = mapped_column(Text)  # why no message went out, if none did
    created_at: Mapped[dt.datetime]
