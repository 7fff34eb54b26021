"""Archived documents: every signed file the platform produced, so `archive renew` can find it."""

import datetime as dt

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

import yinxin.store.models.signing  # noqa: F401  (tables our foreign keys name)
from yinxin.store.models import Base


class ArchivedDocument(Base):
    """One version of a signed document kept under the data directory.

    A later signature on the same contract makes a new version and marks this one
    ``superseded``; only ``active`` versions are renewed (the newest holds everything the older
    ones prove). ``newest_timestamp_at`` and ``tsa_not_after`` describe the timestamp the file
    rests on now, so the renewal schedule is decided without opening every file.
    """

    __tablename__ = "archived_documents"
    __table_args__ = (
        # a list narrowed by these, a page at a time in id order (0033)
        Index("ix_archived_documents_state_id", "state", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    document_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(String(255))  # relative to the data directory
    size: Mapped[int]
    level: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16))  # active | superseded
    signature_record_id: Mapped[int | None] = mapped_column(ForeignKey("signature_records.id"))
    created_at: Mapped[dt.datetime]
    newest_timestamp_at: Mapped[dt.datetime | None]
    tsa_not_after: Mapped[dt.datetime | None]
    renewed_at: Mapped[dt.datetime | None]
    renewals: Mapped[int] = mapped_column(default=0)
    # when status data for the certificates still valid was last added (renewal or refresh)
    status_refreshed_at: Mapped[dt.datetime | None]
