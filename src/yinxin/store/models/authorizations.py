"""Signing authorizations (自动签署授权) and signing batches (批量签署).

A ``SigningAuthorization`` lets the platform apply an organization's seal without a code, within
signed terms. Its ``wrapped_key`` is the seal's private key encrypted under a per-authorization
secret that is itself encrypted under the platform KEK (``yinxin.pki.authkeys``): never a key in
clear; withdrawal, exhaustion and expiry set it to NULL (crypto-shredding).

A ``SigningBatch`` is the record of one batch signed with one code (or under one authorization):
the manifest the code was bound to and the signature records it made, so a retried batch gets
the same files back and the evidence shows what the signer saw.
"""

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

import yinxin.store.models.seals  # noqa: F401  (tables our foreign keys name)
from yinxin.store.models import Base


class SigningAuthorization(Base):
    __tablename__ = "signing_authorizations"
    __table_args__ = (
        # a list narrowed by these, a page at a time in id order (0033)
        Index("ix_signing_authorizations_holder_subscriber_id_id", "holder_subscriber_id", "id"),
        Index("ix_signing_authorizations_state_id", "state", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    seal_id: Mapped[int] = mapped_column(ForeignKey("seals.id"), index=True)
    es_id: Mapped[str] = mapped_column(String(40))
    holder_subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    granted_by: Mapped[str] = mapped_column(String(100))
    granted_by_subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"))
    # the member's seal grant (用印授权) its documents were taken from when it was made: the
    # documents not signed go back to it when it is withdrawn or expires. NULL: made by the
    # seal's holder (no grant), or before 0028. Not a foreign key: SQLite adds it in place
    seal_grant_id: Mapped[int | None]
    certificate_serial: Mapped[str] = mapped_column(String(40))
    counterparties: Mapped[str] = mapped_column(Text)  # JSON list of subscriber ids; [] = any
    flow_ids: Mapped[str] = mapped_column(Text)  # JSON list of sign-flow ids; [] = any
    max_documents: Mapped[int]
    used_documents: Mapped[int] = mapped_column(default=0)
    valid_from: Mapped[dt.datetime]
    valid_until: Mapped[dt.datetime]
    state: Mapped[str] = mapped_column(String(12))
    terms: Mapped[str] = mapped_column(Text)  # canonical JSON, signed with the seal's key
    terms_signature: Mapped[bytes]
    wrapped_key: Mapped[bytes | None]  # NULL once withdrawn, exhausted or expired
    created_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    ended_by: Mapped[str | None] = mapped_column(String(100))
    end_reason: Mapped[str | None] = mapped_column(Text)


class SigningBatch(Base):
    __tablename__ = "signing_batches"
    id: Mapped[int] = mapped_column(primary_key=True)
    manifest_sha256: Mapped[str] = mapped_column(String(64), index=True)
    manifest: Mapped[str] = mapped_column(Text)  # JSON [[name, sha256], …] in the order given
    documents: Mapped[int]
    seal_id: Mapped[int] = mapped_column(ForeignKey("seals.id"))
    signer_subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"))
    intent_challenge: Mapped[str | None] = mapped_column(String(64), unique=True)
    authorization_id: Mapped[int | None] = mapped_column(
        ForeignKey("signing_authorizations.id"), index=True
    )
    signature_record_ids: Mapped[str] = mapped_column(Text)  # JSON list, in the manifest's order
    client_ip: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(100))
    context: Mapped[str] = mapped_column(Text, default="{}")
    signed_at: Mapped[dt.datetime]
