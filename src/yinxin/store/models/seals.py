"""Tables of the electronic seal service (migration ``0002``).

The database is the source of truth for a seal: its image bytes and its current GB/T 38540
record live in ``seals``; the files under ``<home>/seals/<es_id>/`` are copies, put in place
just before the commit and checked against these bytes by ``seal verify`` (holding the bytes,
the row needs no separate hash column). Every record a seal ever had stays in ``seal_records``,
because signatures made with an earlier record embed that record and an investigation must be
able to find it. The seal PIN
is not stored anywhere: it is the PIN that seals the certificate's platform-held key, and its
failure counter and lock are the key's (``platform_keys.failed_attempts`` / ``locked``).
"""

import datetime as dt

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yinxin.store.models import Base, partial_unique

# The states in which a seal is live (``seals.lifecycle.MANAGEABLE``): one per holder and kind.
LIVE_STATES_SQL = "state IN ('active', 'frozen')"


class HeldSeal:
    """Who uses a seal (印章使用人) and for what (运用项目): on the seal, and on each form that
    applies for one, as applied."""

    holder_name: Mapped[str] = mapped_column(String(100))  # 印章使用人姓名
    holder_id_type: Mapped[str] = mapped_column(String(40))
    holder_id_number: Mapped[str] = mapped_column(String(40))
    project: Mapped[str] = mapped_column(String(200))  # 运用项目


class OfSeal:
    """A row about one seal, found by it."""

    seal_id: Mapped[int] = mapped_column(ForeignKey("seals.id"), index=True)


class Seal(HeldSeal, Base):
    __tablename__ = "seals"
    __table_args__ = (
        # a list narrowed by these, a page at a time in id order (0033)
        Index("ix_seals_subscriber_id_id", "subscriber_id", "id"),
        Index("ix_seals_state_id", "state", "id"),
        # an organization's (its own and its members'), a page at a time in id order (0034)
        Index("ix_seals_organization_id_id", "organization_id", "id"),
        partial_unique("uq_seals_live_kind", "subscriber_id", "kind", where=LIVE_STATES_SQL),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    # set right after the row gets its id (the sequence part of the code); unique
    es_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # organization|contract|finance|personal
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    # the organization the seal counts toward: its holder's, or the holder itself when
    # registered under none (``store.queries.holder_organization``); set when the seal is
    # made, for older rows by migration 0034 — what an organization's list reads in id order
    organization_id: Mapped[int | None]
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))  # SESeal property name
    image_source: Mapped[str] = mapped_column(String(16))  # software | scan
    center_text: Mapped[str | None] = mapped_column(String(40))
    code: Mapped[str | None] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(16))
    hold_kind: Mapped[str | None] = mapped_column(String(16))  # frozen | pin_leak
    # who imposed the freeze (holder | ca; ``registry.lifecycle.HoldBy``): a holder lifts only
    # its own; kept when a PIN leak is reported over the CA's freeze
    hold_by: Mapped[str | None] = mapped_column(String(8))
    held_at: Mapped[dt.datetime | None]
    hold_note: Mapped[str | None] = mapped_column(Text)
    revoked_at: Mapped[dt.datetime | None]
    revocation_reason: Mapped[str | None] = mapped_column(String(40))
    revocation_note: Mapped[str | None] = mapped_column(Text)
    ended_at: Mapped[dt.datetime | None]  # cancelled/revoked/expired
    valid_start: Mapped[dt.datetime]
    valid_end: Mapped[dt.datetime] = mapped_column(index=True)
    png: Mapped[bytes]
    svg: Mapped[bytes]
    pdf: Mapped[bytes]
    width_mm: Mapped[float] = mapped_column(Float)
    height_mm: Mapped[float] = mapped_column(Float)
    seseal: Mapped[bytes]  # current GB/T 38540 SESeal, DER
    version: Mapped[int]  # of the current record, 1, 2, …
    pin_changed_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class SealRecord(OfSeal, Base):
    """Every SESeal record a seal has had (create, renew, change), kept byte for byte."""

    __tablename__ = "seal_records"
    __table_args__ = (UniqueConstraint("seal_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int]
    verb: Mapped[str] = mapped_column(String(16))
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"))
    valid_start: Mapped[dt.datetime]
    valid_end: Mapped[dt.datetime]
    seseal: Mapped[bytes]
    made_at: Mapped[dt.datetime]


class SealApplication(OfSeal, HeldSeal, Base):
    """One seal application form (004 I, II, V) as submitted, with the declaration accepted."""

    __tablename__ = "seal_applications"
    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), index=True)
    business_type: Mapped[str] = mapped_column(String(16))  # new | renew | change | cancel
    declaration_accepted: Mapped[bool]
    declaration_sha256: Mapped[str] = mapped_column(String(64))
    submitted_by: Mapped[str] = mapped_column(String(100))
    submitted_at: Mapped[dt.datetime]


class SealGrant(OfSeal, Base):
    """用印授权: an organization lets one of its people use one of its seals, until withdrawn,
    ``valid_until`` passes or ``max_uses`` signings were made."""

    __tablename__ = "seal_grants"
    id: Mapped[int] = mapped_column(primary_key=True)
    member_subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), index=True)
    granted_by: Mapped[str] = mapped_column(String(100))
    granted_at: Mapped[dt.datetime]
    note: Mapped[str | None] = mapped_column(Text)
    withdrawn_by: Mapped[str | None] = mapped_column(String(100))
    withdrawn_at: Mapped[dt.datetime | None]
    # 授权期限 and 用印次数 (migration 0026): None is no end / no limit; ``uses`` counts the
    # signings made under the grant, raised in the transaction that records each
    valid_until: Mapped[dt.datetime | None]
    max_uses: Mapped[int | None]
    uses: Mapped[int] = mapped_column(default=0, server_default="0")
