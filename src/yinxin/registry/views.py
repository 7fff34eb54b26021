"""What the registry's services answer: typed, frozen results, shaped in one place.

The CLI renders them, the HTTP API will serve them (its OpenAPI schema derived from these
classes) and ``yinxin.results.plain`` turns them into JSON data whose keys are the field names.
Times are aware datetimes, states are the ``StrEnum``s of ``registry.lifecycle``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import textwrap
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy.orm import object_session

from yinxin.identity import serial_hex
from yinxin.registry.fees import yuan
from yinxin.registry.lifecycle import ApplicationState, CertificateState, HoldBy, HoldKind
from yinxin.results import from_row
from yinxin.store.models import (
    AgreementAcceptance,
    Application,
    Certificate,
    Crl,
    Payment,
    Subscriber,
)

if TYPE_CHECKING:
    from cryptography import x509


class SubscriberKind(StrEnum):
    PERSON = "person"
    ORGANIZATION = "organization"
    DEVICE = "device"


class KeyHolder(StrEnum):
    """Who holds a certificate's private key."""

    PLATFORM = "platform"  # sealed under the holder's PIN; signs on the platform
    SUBSCRIBER = "subscriber"  # the subscriber's own key (a CSR was sent)


class KeyMode(StrEnum):
    """How an application brought its key."""

    CSR = "csr"
    PLATFORM = "platform"


class PaymentKind(StrEnum):
    NEW = "new"  # the first fee of an application
    RENEWAL = "renewal"  # a renewal fee for a certificate


def _hold(value: str | None) -> HoldKind | None:
    return HoldKind(value) if value else None


# --- subscribers ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SubscriberView:
    id: int
    kind: SubscriberKind
    name: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class PersonView(SubscriberView):
    id_type: str
    id_number: str  # masked unless revealed
    phone: str  # masked unless revealed
    email: str | None
    organization_id: int | None = None  # registered under this organization (its staff)
    reachable: bool = True  # see ``reachable``


@dataclass(frozen=True, slots=True)
class OrganizationView(SubscriberView):
    uscc: str
    legal_representative: str
    contact_name: str
    contact_phone: str
    phone: str | None  # mobile for one-time codes
    email: str | None = None  # for notices, as a person's
    reachable: bool = True  # see ``reachable``


@dataclass(frozen=True, slots=True)
class DeviceView(SubscriberView):
    device_name: str
    organization_id: int
    reachable: bool = True  # its organization's: see ``reachable``


def _mask(value: str, keep_start: int, keep_end: int) -> str:
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[-keep_end:]


def reachable(sub: Subscriber) -> bool:
    """Whether the subscriber's notices (certificate issued, frozen, revoked, expiring, payment
    reminders, applications received) can reach anyone: a mobile number or an e-mail address on
    record — for a device, on its organization's record, where its notices go (the recipient
    ``CertificateNotices`` picks). A database from before an organization needed one of them
    (``422 no_contact``) may hold subscribers with neither: their notices are skipped."""
    if sub.kind == SubscriberKind.DEVICE:
        s = object_session(sub)
        owner = s.get(Subscriber, sub.organization_id) if s and sub.organization_id else None
        return owner is not None and owner.kind != SubscriberKind.DEVICE and reachable(owner)
    return bool(sub.phone or sub.email)


def subscriber_view(sub: Subscriber, *, reveal: bool = False) -> SubscriberView:
    """ID numbers and phone numbers are masked unless the caller is entitled to see them.

    An organization's phones (its contact's, and the mobile for one-time codes) are masked as
    a person's are: they are a named contact's numbers, and ``subscriber list`` says so."""
    base = (sub.id, SubscriberKind(sub.kind), sub.name, sub.created_at)
    if sub.kind == SubscriberKind.PERSON:
        num = sub.id_number or ""
        return PersonView(
            *base,
            id_type=sub.id_type,
            id_number=num if reveal else _mask(num, 3, 4),
            phone=sub.phone if reveal else _mask(sub.phone, 3, 4),
            email=sub.email,
            organization_id=sub.organization_id,
            reachable=reachable(sub),
        )
    if sub.kind == SubscriberKind.ORGANIZATION:
        return OrganizationView(
            *base,
            uscc=sub.uscc,
            legal_representative=sub.legal_representative,
            contact_name=sub.contact_name,
            contact_phone=sub.contact_phone if reveal else _mask(sub.contact_phone, 3, 4),
            phone=sub.phone if reveal or sub.phone is None else _mask(sub.phone, 3, 4),
            email=sub.email,
            reachable=reachable(sub),
        )
    return DeviceView(
        *base,
        device_name=sub.device_name,
        organization_id=sub.organization_id,
        reachable=reachable(sub),
    )


@dataclass(frozen=True, slots=True)
class AgreementAcceptanceView:
    subscriber_id: int
    agreement: str
    version: str
    text_sha256: str
    accepted_by: str
    accepted_at: dt.datetime


def acceptance_view(a: AgreementAcceptance) -> AgreementAcceptanceView:
    return AgreementAcceptanceView(
        a.subscriber_id, a.agreement, a.version, a.text_sha256, a.accepted_by, a.accepted_at
    )


# --- certificates, applications, payments -----------------------------------------------------
@dataclass(frozen=True, slots=True)
class CertificateView:
    id: int
    serial: str
    subscriber_id: int
    profile: str
    subject: str
    status: CertificateState
    hold_kind: HoldKind | None
    # who imposed a freeze (holder | ca): a holder lifts only its own
    hold_by: HoldBy | None
    not_before: dt.datetime
    not_after: dt.datetime
    paid_until: dt.datetime | None
    plan: str
    key: KeyHolder
    predecessor_id: int | None
    revoked_at: dt.datetime | None
    revocation_reason: str | None
    revocation_requested_at: dt.datetime | None
    pem: str


def certificate_view(c: Certificate) -> CertificateView:
    return from_row(
        CertificateView,
        c,
        serial=c.serial_hex,
        status=CertificateState(c.status),
        hold_kind=_hold(c.hold_kind),
        hold_by=HoldBy(c.hold_by) if c.hold_by else None,
        key=KeyHolder.PLATFORM if c.platform_key_id else KeyHolder.SUBSCRIBER,
        pem=pem_certificate(c.der),
    )


@dataclass(frozen=True, slots=True)
class RevokedCertificate(CertificateView):
    """A certificate as ``revoke`` answers it: with the serials of the other certificates of
    its key (anyone's) that a revocation for key compromise revoked with it, as keyCompromise
    (none for another reason)."""

    same_key_revoked: list[str]


def revoked_view(c: Certificate, same_key_revoked: list[str]) -> RevokedCertificate:
    v = certificate_view(c)
    return RevokedCertificate(
        *(getattr(v, f.name) for f in fields(CertificateView)), same_key_revoked=same_key_revoked
    )


@dataclass(frozen=True, slots=True)
class LostCertificate(CertificateView):
    """A certificate as ``report_loss`` answers it: with the serials of the holder's other
    certificates in force for its key (a renewal keeps the key) put on hold as lost with it.
    Another subscriber's certificate of the key is not held: it stays in force, but no new
    certificate is issued for the key while the loss stands, and a revocation for key
    compromise or a reissue after the loss revokes every certificate of the key, anyone's."""

    same_key_held: list[str]


def lost_view(v: CertificateView, same_key_held: list[str]) -> LostCertificate:
    return LostCertificate(
        *(getattr(v, f.name) for f in fields(CertificateView)), same_key_held=same_key_held
    )


@dataclass(frozen=True, slots=True)
class RestoredCertificate(CertificateView):
    """A certificate as ``restore`` answers it: with the serials of the holder's other
    certificates of its key released from the loss hold with it (each back in force, or back
    to the freeze or stop for unpaid fees the loss was reported over) — the ones a loss report
    held (``same_key_held``) and the restore gave back."""

    same_key_released: list[str]


def restored_view(v: CertificateView, same_key_released: list[str]) -> RestoredCertificate:
    return RestoredCertificate(
        *(getattr(v, f.name) for f in fields(CertificateView)),
        same_key_released=same_key_released,
    )


@dataclass(frozen=True, slots=True)
class Successor:
    """A verb that issues a new certificate in place of another (renew, rekey, change,
    reissue): the old one as it now stands, and the new one; ``same_key_revoked``, as in
    ``revoke``'s answer, the serials of the other certificates of the old key revoked with it
    (a rekey or change: the holder's own; a reissue after a loss: anyone's, as keyCompromise;
    none for a renewal)."""

    previous: CertificateView
    certificate: CertificateView
    same_key_revoked: list[str]


@dataclass(frozen=True, slots=True)
class ApplicationView:
    id: int
    subscriber_id: int
    profile: str
    purpose: str
    key_mode: KeyMode
    plan: str
    state: ApplicationState
    acceptance_point: str
    submitted_at: dt.datetime
    decided_at: dt.datetime | None
    officer: str | None
    reason: str | None
    certificate_id: int | None
    dns_names: list[str]


@dataclass(frozen=True, slots=True)
class SubmittedApplication(ApplicationView):
    """An application as ``apply`` answers it: with the years of service it asks for."""

    years: int


def application_view(a: Application) -> ApplicationView:
    return ApplicationView(*_application_fields(a))


def _application_fields(a: Application) -> tuple:
    return (
        a.id,
        a.subscriber_id,
        a.profile,
        a.purpose,
        KeyMode(a.key_mode),
        a.plan,
        ApplicationState(a.state),
        a.acceptance_point,
        a.submitted_at,
        a.decided_at,
        a.officer,
        a.reason,
        a.certificate_id,
        json.loads(a.dns_names) if a.dns_names else [],
    )


def submitted_view(a: Application, years: int) -> SubmittedApplication:
    return SubmittedApplication(*_application_fields(a), years=years)


@dataclass(frozen=True, slots=True)
class PaymentView:
    id: int
    kind: PaymentKind
    plan: str
    years: int
    amount_fen: int
    amount_yuan: str
    paid_at: dt.datetime
    reference: str | None
    replayed: bool = False  # a cashier's retry answered with the payment already recorded


def payment_view(pay: Payment, *, replayed: bool = False) -> PaymentView:
    return from_row(
        PaymentView,
        pay,
        kind=PaymentKind(pay.kind),
        amount_yuan=yuan(pay.amount_fen),
        replayed=replayed,
    )


@dataclass(frozen=True, slots=True)
class WrappedKeys:
    """Labels of the platform-held keys now wrapped under the key-encryption key."""

    wrapped: list[str]


# --- the authority ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AuthorityCertificateView:
    serial: str
    subject: str
    not_before: dt.datetime
    not_after: dt.datetime
    sha256: str


def pem_certificate(der: bytes) -> str:
    """PEM as RFC 7468 writes it (64 columns), without loading ``cryptography`` for a listing."""
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


def authority_certificate_view(cert: x509.Certificate) -> AuthorityCertificateView:
    from yinxin.pki.authority import fingerprint  # only where the authority's certificates are

    return AuthorityCertificateView(
        serial=serial_hex(cert.serial_number),
        subject=cert.subject.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256=fingerprint(cert),
    )


@dataclass(frozen=True, slots=True)
class AuthorityInit:
    algorithm: str
    keystore: str
    certificates: dict[str, AuthorityCertificateView]  # by role


@dataclass(frozen=True, slots=True)
class AuthorityRoleView(AuthorityCertificateView):
    """One active authority certificate in ``yinxin ca status``: which hierarchy (``default``
    or ``sm2``), role, key algorithm and label, and where it and its CRL are published."""

    hierarchy: str
    role: str
    algorithm: str
    key_label: str
    crl_url: str | None
    certificate_url: str


@dataclass(frozen=True, slots=True)
class RolledOver(AuthorityCertificateView):
    """The new certificate of a rolled-over role, with the serial of the one it retired."""

    role: str
    previous: str | None


# --- status -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PublishedCrl:
    issuer: str
    crl_number: int
    this_update: dt.datetime
    next_update: dt.datetime
    size: int  # bytes of DER


def published_crl(row: Crl) -> PublishedCrl:
    return PublishedCrl(
        row.issuer_role, row.crl_number, row.this_update, row.next_update, len(row.der)
    )
