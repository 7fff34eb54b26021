"""Signature records: what was signed, with which seal and certificate, by whom, when."""

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

import yinxin.store.models.seals  # noqa: F401  (tables our foreign keys name)
from yinxin.store.models import Base


class SignatureRecord(Base):
    """Evidence kept by the platform for each signature it made (存证)."""

    __tablename__ = "signature_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    document_name: Mapped[str] = mapped_column(String(255))
    sha256_before: Mapped[str] = mapped_column(String(64), index=True)
    sha256_after: Mapped[str] = mapped_column(String(64), index=True)
    seal_id: Mapped[int | None] = mapped_column(ForeignKey("seals.id"))
    es_id: Mapped[str | None] = mapped_column(String(40))
    certificate_serial: Mapped[str] = mapped_column(String(40), index=True)
    signer_subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"))
    role: Mapped[str | None] = mapped_column(String(20))
    level: Mapped[str] = mapped_column(String(8))
    field_name: Mapped[str | None] = mapped_column(String(100))
    intent_challenge: Mapped[str | None] = mapped_column(String(64))
    signed_at: Mapped[dt.datetime]
    details: Mapped[str] = mapped_column(Text, default="{}")
