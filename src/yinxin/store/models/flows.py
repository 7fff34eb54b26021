"""Sign flows (签署流程): a set of documents on their way through several signers.

A flow holds its documents (the original hash, and the hash of the version signed so far: each
signature is an incremental update over the previous one) and its signers (who, in which role,
with which seal, where on each document, in which turn). Signing links are bearer secrets: the
database keeps only their SHA-256, in ``sign_flow_links``, so a copy of the database opens no
signer's link. A signer may hold several live links (the one handed to the integrator at
``start``, the ones the platform sent by SMS when their turn came or when urged); each is bound
to that one signer of that one flow, and all stop working when the signer or the flow is done.
"""

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

import yinxin.store.models.seals  # noqa: F401  (tables our foreign keys name)
import yinxin.store.models.signing  # noqa: F401  (tables our foreign keys name)
from yinxin.store.models import Base


def lapsed(state: str, deadline: dt.datetime, now: dt.datetime) -> bool:
    """A flow stored as started whose deadline has passed at ``now``: every reader reports it
    expired (``yinxin.signing.flows.effective_state``, the evidence report) before the sweep
    stores so."""
    return state == "started" and deadline <= now


class SignFlow(Base):
    """draft → started → completed | cancelled | expired (see ``yinxin.signing.flows``)."""

    __tablename__ = "sign_flows"
    __table_args__ = (
        # a list narrowed by these, a page at a time in id order (0033)
        Index("ix_sign_flows_owner_subscriber_id_id", "owner_subscriber_id", "id"),
        Index("ix_sign_flows_state_id", "state", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    # the organization the flow belongs to: the API shows it to that organization only
    owner_subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"))
    created_by: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16))
    signing_order: Mapped[str] = mapped_column(String(12))  # sequential | parallel
    deadline: Mapped[dt.datetime] = mapped_column(index=True)
    created_at: Mapped[dt.datetime]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    # why it was cancelled, or which signer declined and why
    reason: Mapped[str | None] = mapped_column(Text)


class SignFlowDocument(Base):
    """One PDF of a flow. The bytes live in the flow file store under their SHA-256: the
    original, each signer's version, and the current one (the last signer's)."""

    __tablename__ = "sign_flow_documents"
    __table_args__ = (UniqueConstraint("flow_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("sign_flows.id"), index=True)
    position: Mapped[int]
    name: Mapped[str] = mapped_column(String(255))
    original_sha256: Mapped[str] = mapped_column(String(64))
    current_sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int]


class SignFlowSigner(Base):
    """One signer of a flow: waiting → ready → signed | declined (or cancelled / expired with
    the flow). ``placements`` is JSON: one placement (anchor text, or page + x/y mm) per
    document position."""

    __tablename__ = "sign_flow_signers"
    id: Mapped[int] = mapped_column(primary_key=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("sign_flows.id"), index=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    order_index: Mapped[int]
    seal_id: Mapped[int] = mapped_column(ForeignKey("seals.id"))
    es_id: Mapped[str | None] = mapped_column(String(32))
    placements: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    last_notified_at: Mapped[dt.datetime | None]
    last_urged_at: Mapped[dt.datetime | None]
    signed_at: Mapped[dt.datetime | None]
    client_ip: Mapped[str | None] = mapped_column(String(45))
    challenge_id: Mapped[str | None] = mapped_column(String(64))
    authorization_id: Mapped[str | None] = mapped_column(String(64))
    declined_reason: Mapped[str | None] = mapped_column(Text)
    # video dual recording (视频双录): signing is refused until a recording is stored; the
    # recording the signer signs with (its SHA-256) is named here and bound into the signature
    # records
    requires_video: Mapped[bool] = mapped_column(default=False)
    video_sha256: Mapped[str | None] = mapped_column(String(64))


class SignFlowRecording(Base):
    """A signer's video recording (视频双录): the signer reads ``statement`` to the camera.
    The bytes are in the flow file store under ``sha256``; a signer may record again before
    signing (the signer row names the one that counts), and all stay as evidence."""

    __tablename__ = "sign_flow_recordings"
    id: Mapped[int] = mapped_column(primary_key=True)
    signer_id: Mapped[int] = mapped_column(ForeignKey("sign_flow_signers.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    media_type: Mapped[str] = mapped_column(String(60))
    statement: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime]
    client_ip: Mapped[str | None] = mapped_column(String(45))


class SignFlowLink(Base):
    """A signing link, by the SHA-256 of its token only (the token itself is shown once)."""

    __tablename__ = "sign_flow_links"
    id: Mapped[int] = mapped_column(primary_key=True)
    signer_id: Mapped[int] = mapped_column(ForeignKey("sign_flow_signers.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))  # start | turn | urge
    issued_at: Mapped[dt.datetime]


class SignFlowSignature(Base):
    """One signer's signature on one document of a flow: the version it was made over, the
    version it made, and the platform's signature record (certificate, seal, level)."""

    __tablename__ = "sign_flow_signatures"
    __table_args__ = (UniqueConstraint("signer_id", "document_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    signer_id: Mapped[int] = mapped_column(ForeignKey("sign_flow_signers.id"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("sign_flow_documents.id"), index=True)
    signature_record_id: Mapped[int | None] = mapped_column(ForeignKey("signature_records.id"))
    sha256_before: Mapped[str] = mapped_column(String(64))
    sha256_after: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[dt.datetime]
