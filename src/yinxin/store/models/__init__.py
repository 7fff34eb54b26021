"""Tables. Every schema change comes with an Alembic migration in ``migrations/versions``.

Nothing here holds a private key or a PIN in clear: platform-held keys are PIN-sealed blobs
(see ``yinxin.pki.pinkeys``) and CA keys live in the key store, not in the database.
"""

import datetime as dt

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.schema import CreateIndex

from yinxin.store.types import Int4


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=dt.UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Column types follow the ``Mapped[...]`` annotation (``int`` → INTEGER, ``bool``,
    ``bytes`` → BLOB/BYTEA, aware ``datetime`` → ``UTCDateTime``); a column names its type only
    where the annotation does not say it: a string's length, TEXT, BIGINT, FLOAT. ``int`` is
    ``Int4``, an INTEGER whose values PostgreSQL is given as BIGINT."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime(), int: Int4()}


class AuthorityCertificate(Base):
    """The platform's own certificates: root, issuing CA, OCSP responder, TSA."""

    __tablename__ = "authority_certificates"
    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(20), index=True)
    key_label: Mapped[str] = mapped_column(String(64))
    keystore: Mapped[str] = mapped_column(String(16))
    algorithm: Mapped[str] = mapped_column(String(16))
    serial_hex: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(Text)
    not_after: Mapped[dt.datetime]
    der: Mapped[bytes]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime]


def partial_unique(name: str, *columns: str, where: str) -> Index:
    """A unique index over the rows ``where`` holds, on SQLite and PostgreSQL alike.

    "One live X per Y" rules are enforced by the database, not by a check-then-insert in the
    service: two processes that both checked before either inserted would otherwise both win.
    """
    # PostgreSQL's ``postgresql_where`` is not given here: a dialect keyword makes SQLAlchemy
    # import that dialect (asyncpg, asyncio…) to check it, ~4 % of every SQLite command's
    # start-up. It is set when an index is created on PostgreSQL (below); the migrations,
    # which build the real schema, state both.
    return Index(name, *columns, unique=True, sqlite_where=text(where), info={"where": where})


@compiles(CreateIndex, "postgresql")
def _partial_index_on_postgresql(create: CreateIndex, compiler, **kw) -> str:
    """``CREATE INDEX`` of a ``partial_unique`` index on PostgreSQL, with its ``WHERE``."""
    index = create.element
    where = index.info.get("where")
    if where is not None and index.dialect_options["postgresql"]["where"] is None:
        index.dialect_options["postgresql"]["where"] = text(where)
    return compiler.visit_create_index(create, **kw)


class Subscriber(Base):
    __tablename__ = "subscribers"
    # one person, one record: an ID document (type and number) and a credit code register once
    __table_args__ = (
        partial_unique("uq_subscribers_person_id", "id_type", "id_number", where="kind = 'person'"),
        partial_unique("uq_subscribers_organization_uscc", "uscc", where="kind = 'organization'"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # person | organization | device
    name: Mapped[str] = mapped_column(String(200))
    id_type: Mapped[str | None] = mapped_column(String(40))
    id_number: Mapped[str | None] = mapped_column(String(40), index=True)
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(200))
    uscc: Mapped[str | None] = mapped_column(String(18), index=True)
    legal_representative: Mapped[str | None] = mapped_column(String(100))
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    device_name: Mapped[str | None] = mapped_column(String(200))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"), index=True)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class AgreementAcceptance(Base):
    __tablename__ = "agreement_acceptances"
    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), index=True)
    agreement: Mapped[str] = mapped_column(String(40))
    version: Mapped[str] = mapped_column(String(20))
    text_sha256: Mapped[str] = mapped_column(String(64))
    accepted_by: Mapped[str] = mapped_column(String(200))
    accepted_at: Mapped[dt.datetime]


class PlatformKey(Base):
    """A subscriber key held by the platform, sealed under the holder's PIN."""

    __tablename__ = "platform_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), index=True)
    label: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    public_key_der: Mapped[bytes]
    sealed_key: Mapped[bytes]
    failed_attempts: Mapped[int] = mapped_column(default=0)
    locked: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime]


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (
        # a list narrowed by these, a page at a time in id order (0033)
        Index("ix_applications_state_id", "state", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16), default="new")  # new | reissue
    profile: Mapped[str] = mapped_column(String(40))
    key_mode: Mapped[str] = mapped_column(String(16))  # csr | platform
    csr_der: Mapped[bytes | None]
    public_key_der: Mapped[bytes]
    platform_key_id: Mapped[int | None] = mapped_column(ForeignKey("platform_keys.id"))
    plan: Mapped[str] = mapped_column(String(20))
    dns_names: Mapped[str | None] = mapped_column(Text)
    acceptance_point: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16))  # pending | approved | rejected
    submitted_at: Mapped[dt.datetime]
    decided_at: Mapped[dt.datetime | None]
    officer: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))


class Certificate(Base):
    __tablename__ = "certificates"
    __table_args__ = (
        # a list narrowed by these, a page at a time in id order (0033)
        Index("ix_certificates_subscriber_id_id", "subscriber_id", "id"),
        Index("ix_certificates_status_id", "status", "id"),
        # an organization's (its own and its members'), a page at a time in id order (0034)
        Index("ix_certificates_organization_id_id", "organization_id", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    serial_hex: Mapped[str] = mapped_column(String(40), unique=True)
    issuer_role: Mapped[str] = mapped_column(String(20))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"))
    # the organization the certificate counts toward: its holder's, or the holder itself when
    # registered under none (``store.queries.holder_organization``); set at issuance, for
    # older rows by migration 0034 — what an organization's list reads in id order
    organization_id: Mapped[int | None]
    application_id: Mapped[int | None]
    profile: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(Text)
    not_before: Mapped[dt.datetime]
    not_after: Mapped[dt.datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16))  # active|on_hold|revoked|expired
    hold_kind: Mapped[str | None] = mapped_column(String(16))  # frozen | lost | unpaid
    # the hold a loss was reported over (frozen | unpaid): restore goes back to it, not to active
    previous_hold_kind: Mapped[str | None] = mapped_column(String(16))
    # who imposed the freeze (holder | ca; ``registry.lifecycle.HoldBy``): a holder lifts only
    # its own. Kept under a loss reported over the freeze, cleared when active again.
    hold_by: Mapped[str | None] = mapped_column(String(8))
    der: Mapped[bytes]
    # SHA-256 (hex) of the certified key's DER SubjectPublicKeyInfo, as ``cryptography`` writes
    # it (an EC point uncompressed): finds every certificate of a key without parsing ``der`` —
    # a key revoked as compromised or reported lost is not certified again. Filled at issuance,
    # and for older rows by migration 0027.
    spki_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    platform_key_id: Mapped[int | None] = mapped_column(ForeignKey("platform_keys.id"))
    predecessor_id: Mapped[int | None]
    plan: Mapped[str] = mapped_column(String(20))
    paid_until: Mapped[dt.datetime | None]
    held_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    revocation_reason: Mapped[str | None] = mapped_column(String(40))
    revocation_requested_at: Mapped[dt.datetime | None]
    revocation_requested_by: Mapped[str | None] = mapped_column(String(100))
    status_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[dt.datetime]


class Payment(Base):
    __tablename__ = "payments"
    # an application's first fee is paid once (a parallel or repeated payment is refused)
    __table_args__ = (
        partial_unique("uq_payments_new_application", "application_id", where="kind = 'new'"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id"), index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"))
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    plan: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(16))  # new | renewal
    years: Mapped[int]
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str | None] = mapped_column(String(100))
    paid_at: Mapped[dt.datetime]
    consumed_at: Mapped[dt.datetime | None]


class AuditEvent(Base):
    """Hash-chained: ``hash = SHA-256(prev_hash ‖ canonical JSON of the event)``."""

    __tablename__ = "audit_events"
    # the trail read a page at a time by action or by subject, in chain order (0033)
    __table_args__ = (
        Index("ix_audit_events_action_seq", "action", "seq"),
        Index("ix_audit_events_subject_seq", "subject_type", "subject_id", "seq"),
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(60))
    data: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's last link, updated with every event, so deleting the tail is detected."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class Crl(Base):
    __tablename__ = "crls"
    __table_args__ = (UniqueConstraint("issuer_role", "crl_number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    issuer_role: Mapped[str] = mapped_column(String(20))
    crl_number: Mapped[int] = mapped_column(BigInteger)
    this_update: Mapped[dt.datetime]
    next_update: Mapped[dt.datetime]
    status_revision: Mapped[int] = mapped_column(BigInteger)
    der: Mapped[bytes]


class StatusRevision(Base):
    """Bumped in the same transaction as any status change, so publishers notice at once."""

    __tablename__ = "status_revisions"
    issuer_role: Mapped[str] = mapped_column(String(20), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)


# The other tables live in this package's modules. Each is imported by the services that use
# its classes, and by the table modules whose foreign keys point into it, so a command declares
# only the tables it touches: declaring all 47 mapped classes was a fifth of a simple verb's
# start-up. Whoever needs the whole schema on ``Base.metadata`` (Alembic's environment, a
# schema comparison) calls ``load_all()``; tests/unit/test_models_loading.py checks that this
# list is every module here and that each module alone resolves its foreign keys.
TABLE_MODULES = (
    "access",
    "applicant_documents",
    "archive",
    "authorizations",
    "contracts",
    "desk",
    "flows",
    "jobs",
    "notify",
    "obligations",
    "seals",
    "signing",
    "webhooks",
)


def load_all() -> MetaData:
    """Import every table module; ``Base.metadata``, returned, is then the whole schema."""
    import importlib

    for name in TABLE_MODULES:
        importlib.import_module(f"{__name__}.{name}")
    return Base.metadata
