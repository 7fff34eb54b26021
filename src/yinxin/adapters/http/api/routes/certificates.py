"""Certificates: read, download (PEM, DER, chain) and every lifecycle verb of 001/004."""

from __future__ import annotations

from typing import Annotated

from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import Field

from yinxin.access.keys import Capability, Principal
from yinxin.adapters.http.api.context import (
    IsoDateTime,
    Page,
    Pages,
    Plat,
    Registrar,
    Strict,
    allowed,
    get_caller,
    scope_owned,
    scope_subscriber,
)
from yinxin.adapters.http.api.responses import file_answer
from yinxin.registry.lifecycle import CertificateState, HoldBy
from yinxin.registry.views import CertificateView, PaymentView, Successor

router = APIRouter(tags=["certificates"])
Caller = Annotated[Principal, Depends(get_caller)]
Lifecycle = Annotated[Principal, Depends(allowed(Capability.LIFECYCLE))]
Serial = Annotated[str, Path(pattern=r"^[0-9A-Fa-f]{1,40}$", description="serial number, hex")]


class CertificateRevokeIn(Strict):
    reason: str = Field(max_length=40, examples=["key_compromise"])
    requested_at: IsoDateTime | None = Field(
        None, description="when the holder asked (the 24-hour clock of 001 runs from it)"
    )


class NoteIn(Strict):
    note: str | None = Field(None, max_length=500)


class CertificateNewKeyIn(Strict):
    csr: str | None = Field(None, max_length=20000, description="PEM CSR for the new key")
    pin: str | None = Field(None, max_length=200, description="PIN for a platform-held new key")
    algorithm: str = Field("ec-p256", max_length=20)


class RenewalPaymentIn(Strict):
    years: int = Field(1, ge=1, le=10)
    reference: str | None = Field(None, max_length=100)


def _scoped(platform, principal: Principal, serial: str) -> CertificateView:
    cert = platform.certificates.get(serial)
    scope_owned(
        platform, principal, cert.subscriber_id, missing=f"no certificate {serial}", field="serial"
    )
    return cert


@router.get("/certificates", response_model=Page[CertificateView])
def list_certificates(
    platform: Plat,
    principal: Caller,
    pages: Pages,
    subscriber_id: int | None = Query(None, ge=1, le=2**62),
    status: CertificateState | None = None,
):
    if subscriber_id is not None:  # another organization's subscriber: 404, not an empty list
        scope_subscriber(platform, principal, subscriber_id)
    rows = platform.certificates.list(
        subscriber_id=subscriber_id,
        status=status,
        organization_id=principal.organization_id,
        **pages.fetch(),
    )
    return pages.page(rows, lambda c: c.id)


@router.get("/certificates/{serial}", response_model=CertificateView)
def get_certificate(serial: Serial, platform: Plat, principal: Caller):
    return _scoped(platform, principal, serial)


@router.get(
    "/certificates/{serial}/pem",
    response_class=Response,
    responses=file_answer("application/x-pem-file"),
)
def certificate_pem(serial: Serial, platform: Plat, principal: Caller):
    cert = _scoped(platform, principal, serial)
    return Response(cert.pem, media_type="application/x-pem-file")


@router.get(
    "/certificates/{serial}/der",
    response_class=Response,
    responses=file_answer("application/pkix-cert"),
)
def certificate_der(serial: Serial, platform: Plat, principal: Caller):
    from cryptography import x509

    cert = _scoped(platform, principal, serial)
    der = x509.load_pem_x509_certificate(cert.pem.encode()).public_bytes(Encoding.DER)
    return Response(der, media_type="application/pkix-cert")


@router.get(
    "/certificates/{serial}/chain",
    response_class=Response,
    responses=file_answer("application/x-pem-file"),
)
def certificate_chain(serial: Serial, platform: Plat, principal: Caller):
    """The certificate, then the issuing CA, then the root: what a TLS server or a signer
    presents."""
    from cryptography import x509

    cert = _scoped(platform, principal, serial)
    chain = platform.ca.chain_of(x509.load_pem_x509_certificate(cert.pem.encode()))  # its own
    pems = [cert.pem] + [c.public_bytes(Encoding.PEM).decode() for c in chain]
    return Response("".join(pems), media_type="application/x-pem-file")


@router.post("/certificates/{serial}/revoke", response_model=CertificateView)
def revoke(serial: Serial, body: CertificateRevokeIn, platform: Plat, principal: Lifecycle):
    _scoped(platform, principal, serial)
    return platform.certificates.revoke(
        serial, reason=body.reason, actor=principal.actor, requested_at=body.requested_at
    )


@router.post("/certificates/{serial}/freeze", response_model=CertificateView)
def freeze(serial: Serial, body: NoteIn, platform: Plat, principal: Lifecycle):
    """冻结. ``hold_by`` records who imposed it: ``holder`` for a subscriber's session or a key
    bound to an organization, ``ca`` for staff and unbound keys."""
    _scoped(platform, principal, serial)
    return platform.certificates.freeze(
        serial, actor=principal.actor, note=body.note, by=_by(principal)
    )


@router.post("/certificates/{serial}/unfreeze", response_model=CertificateView)
def unfreeze(serial: Serial, platform: Plat, principal: Lifecycle):
    """解冻. A holder lifts only a freeze the holder imposed: one by the CA is ``403``
    ``frozen_by_ca`` (field ``hold_by``)."""
    _scoped(platform, principal, serial)
    return platform.certificates.unfreeze(serial, actor=principal.actor, by=_by(principal))


def _by(principal: Principal) -> HoldBy:
    return HoldBy.HOLDER if principal.is_holder else HoldBy.CA


@router.post("/certificates/{serial}/report-loss", response_model=CertificateView)
def report_loss(serial: Serial, platform: Plat, principal: Lifecycle):
    _scoped(platform, principal, serial)
    return platform.certificates.report_loss(serial, actor=principal.actor)


@router.post("/certificates/{serial}/restore", response_model=CertificateView)
def restore(serial: Serial, platform: Plat, principal: Lifecycle):
    _scoped(platform, principal, serial)
    return platform.certificates.restore(serial, actor=principal.actor)


@router.post("/certificates/{serial}/renew", response_model=Successor)
def renew(serial: Serial, platform: Plat, principal: Lifecycle):
    _scoped(platform, principal, serial)
    return platform.certificates.renew(serial, actor=principal.actor)


@router.post("/certificates/{serial}/rekey", response_model=Successor)
def rekey(serial: Serial, body: CertificateNewKeyIn, platform: Plat, principal: Lifecycle):
    _scoped(platform, principal, serial)
    return platform.certificates.rekey(
        serial,
        actor=principal.actor,
        csr=body.csr.encode() if body.csr else None,
        pin=body.pin,
        algorithm=body.algorithm,
    )


@router.post("/certificates/{serial}/reissue", response_model=Successor)
def reissue(serial: Serial, body: CertificateNewKeyIn, platform: Plat, principal: Lifecycle):
    """补办. A holder does not reissue a certificate under a freeze the CA imposed (a loss
    reported over it included): ``403`` ``frozen_by_ca`` (field ``hold_by``)."""
    _scoped(platform, principal, serial)
    return platform.certificates.reissue(
        serial,
        actor=principal.actor,
        csr=body.csr.encode() if body.csr else None,
        pin=body.pin,
        algorithm=body.algorithm,
        by=_by(principal),
    )


@router.post("/certificates/{serial}/payments", status_code=201, response_model=PaymentView)
def pay_renewal(serial: Serial, body: RenewalPaymentIn, platform: Plat, principal: Registrar):
    _scoped(platform, principal, serial)
    return platform.certificates.pay(
        serial=serial, years=body.years, reference=body.reference, actor=principal.actor
    )
