"""Certificates: read, download (PEM, DER, chain) and every lifecycle verb of 001/004."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

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
    scope_filter,
    scope_owned,
)
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.api.responses import challenge, file_answer
from yinxin.adapters.http.api.shapes import (
    SERIAL_DESCRIPTION,
    ContactPhone,
    Mobile,
    NewPin,
    certificate_serial,
)
from yinxin.errors import Forbidden, NotFound, ValidationError
from yinxin.registry.certificates import MAX_DNS_NAMES
from yinxin.registry.fees import MAX_YEARS
from yinxin.registry.lifecycle import CertificateState, HoldBy
from yinxin.registry.views import (
    CertificateView,
    LostCertificate,
    PaymentView,
    RestoredCertificate,
    RevokedCertificate,
    Successor,
)

router = APIRouter(route_class=JsonRoute, tags=["certificates"])
Caller = Annotated[Principal, Depends(get_caller)]
Lifecycle = Annotated[Principal, Depends(allowed(Capability.LIFECYCLE))]
Serial = certificate_serial(where=Path)
SameKeyAs = certificate_serial(
    "only the holder's other certificates in force for that certificate's key (what a change, "
    "revocation or loss of it moves too); " + SERIAL_DESCRIPTION,
    where=Query,
    optional=True,
)


class CertificateRevokeIn(Strict):
    reason: str = Field(max_length=40, examples=["key_compromise"])
    requested_at: IsoDateTime | None = Field(
        None, description="when the holder asked (the 24-hour clock of 001 runs from it)"
    )


class NoteIn(Strict):
    note: str | None = Field(None, max_length=500)


class CertificateNewKeyIn(Strict):
    csr: str | None = Field(None, max_length=20000, description="PEM CSR for the new key")
    pin: NewPin | None = Field(None, description="PIN for a platform-held new key")
    algorithm: str = Field("ec-p256", max_length=20)
    current_pin: str | None = Field(
        None,
        max_length=200,
        description="a holder's own rekey of a platform-held key: the PIN of the key replaced",
    )
    challenge_id: str | None = Field(
        None,
        max_length=60,
        description="a holder's own reissue (or rekey of a key the holder holds): the "
        "`challenge_id` of the code sent by SMS (the 202 answer to the same request without it)",
    )
    code: str | None = Field(
        None, max_length=10, description="the code sent by SMS to the registered phone"
    )


class CertificateReissueIn(CertificateNewKeyIn):
    dns_names: list[str] | None = Field(
        None,
        max_length=MAX_DNS_NAMES,
        description="a device certificate's new host names, given by the CA (a holder: 403): "
        "how a certificate whose names today's checks refuse is replaced; without it the old "
        "certificate's names are checked again and carried over",
    )


class CodeRequiredOut(BaseModel):
    """A holder's own reissue or rekey waits for the code sent to the registered phone:
    nothing was issued yet; send the same request again with `challenge_id` and `code`."""

    status: Literal["code_required"] = "code_required"
    challenge_id: str
    sent_to_masked: str
    expires_at: dt.datetime


class CertificateChangeIn(Strict):
    """变更: what may change, as ``yinxin cert change`` takes it — the subject's name (a
    person's or an organization's), a device's name, and with them the contact details
    ``subscriber update`` takes for the kind. At least one subject field; contact details
    alone are not in the certificate (``422`` ``not_in_subject``: update the subscriber)."""

    name: str | None = Field(None, max_length=200, description="new name (person, organization)")
    phone: Mobile | None = Field(None, max_length=40, description="new mobile number")
    legal_representative: str | None = Field(None, max_length=200)
    contact_name: str | None = Field(None, max_length=200)
    contact_phone: ContactPhone | None = Field(None, max_length=40)
    device_name: str | None = Field(None, max_length=200, description="new device name")


class RenewalPaymentIn(Strict):
    years: int = Field(1, ge=1, le=MAX_YEARS)
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
    same_key_as: SameKeyAs = None,
):
    if subscriber_id is not None:  # another organization's or no subscriber: 404, not []
        scope_filter(platform, principal, subscriber_id)
    if same_key_as is not None:  # likewise: an unknown or out-of-scope certificate is a 404
        try:
            _scoped(platform, principal, same_key_as)
        except NotFound as e:
            raise NotFound(e.message, field="same_key_as") from None
    rows = platform.certificates.list(
        subscriber_id=subscriber_id,
        status=status,
        organization_id=principal.organization_id,
        same_key_as=same_key_as,
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


@router.post("/certificates/{serial}/revoke", response_model=RevokedCertificate)
def revoke(serial: Serial, body: CertificateRevokeIn, platform: Plat, principal: Lifecycle):
    """废除. For key compromise (``key_compromise``, ``stolen_or_forged``) every other
    certificate in force for the same key, anyone's, is revoked with it as key_compromise:
    ``same_key_revoked`` lists their serials (empty otherwise)."""
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


@router.post("/certificates/{serial}/report-loss", response_model=LostCertificate)
def report_loss(serial: Serial, platform: Plat, principal: Lifecycle):
    """挂失: on hold at once, with the holder's other certificates in force for the same key
    (``same_key_held`` lists their serials). Another subscriber's certificate of the key stays
    in force, but no certificate is issued for the key while the loss stands, and a revocation
    for key compromise or a reissue after the loss revokes every certificate of the key."""
    _scoped(platform, principal, serial)
    return platform.certificates.report_loss(serial, actor=principal.actor)


@router.post("/certificates/{serial}/restore", response_model=RestoredCertificate)
def restore(serial: Serial, platform: Plat, principal: Lifecycle):
    """解除挂失: the certificate, with the holder's other certificates of the same key that the
    loss report held (``same_key_released`` lists their serials), back in force — or back to
    the freeze or stop for unpaid fees the loss was reported over."""
    _scoped(platform, principal, serial)
    return platform.certificates.restore(serial, actor=principal.actor)


@router.post("/certificates/{serial}/renew", response_model=Successor)
def renew(serial: Serial, platform: Plat, principal: Lifecycle):
    _scoped(platform, principal, serial)
    return platform.certificates.renew(serial, actor=principal.actor)


def _new_key(verb: str, serial: str, body: CertificateNewKeyIn, platform, principal: Principal):
    """A rekey or reissue. A holder (a subscriber's session, a key bound to an organization)
    proves it: the current PIN of a platform-held key for a rekey (checked by the registry),
    or the code sent by SMS to the registered phone — asked for with ``202`` when neither
    ``challenge_id`` nor ``code`` is given, nothing issued."""
    _scoped(platform, principal, serial)
    csr = body.csr.encode() if body.csr else None
    args = {"actor": principal.actor, "csr": csr, "pin": body.pin, "algorithm": body.algorithm}
    dns_names = getattr(body, "dns_names", None)
    if dns_names is not None:
        if principal.is_holder:  # refused before a code is sent for it
            raise Forbidden(
                "a new list of host names is checked by the CA: reissue at the desk",
                field="dns_names",
            )
        args["dns_names"] = dns_names
    if not principal.is_holder:
        return getattr(platform.certificates, verb)(serial, **args)
    by = HoldBy.HOLDER
    proof = None
    if body.challenge_id is not None or body.code is not None:
        for name, value in (("challenge_id", body.challenge_id), ("code", body.code)):
            if not value:
                raise ValidationError(
                    f"the code is confirmed with challenge_id and code together: {name} is missing",
                    field=name,
                )
        # a request the issuance would refuse for its new key is refused before the code is
        # checked: a wrong code then uses no try (it used one, and the refusal named the code)
        platform.certificates.check_new_key(
            verb, serial, csr=csr, pin=body.pin, algorithm=body.algorithm
        )
        proof = platform.certificate_key_codes.proof(
            verb, serial, challenge_id=body.challenge_id, code=body.code, actor=principal.actor
        )
    elif platform.certificates.check_successor(verb, serial, by=by):
        # what the issuance would refuse anyway is refused before a code is sent for it: a
        # CSR that is none (or does not verify), for the key replaced or for a key known to
        # be compromised, a PIN or an algorithm it would refuse
        platform.certificates.check_new_key(
            verb, serial, csr=csr, pin=body.pin, algorithm=body.algorithm
        )
        ch = platform.certificate_key_codes.request(verb, serial, actor=principal.actor)
        out = CodeRequiredOut(
            challenge_id=ch.challenge_id,
            sent_to_masked=ch.sent_to_masked,
            expires_at=ch.expires_at,
        )
        return challenge(out)
    if verb == "rekey":
        args["current_pin"] = body.current_pin
    return getattr(platform.certificates, verb)(serial, **args, by=by, proof=proof)


@router.post(
    "/certificates/{serial}/rekey",
    response_model=Successor,
    responses={202: {"model": CodeRequiredOut}},
)
def rekey(serial: Serial, body: CertificateNewKeyIn, platform: Plat, principal: Lifecycle):
    """更新密钥. A holder's own rekey of a platform-held key needs `current_pin`, the PIN of the
    key replaced (wrong: 403 `wrong_pin`, counted toward the key's lock; missing: 422); of a
    key the holder holds (CSR), the code sent by SMS as for a reissue. A desk key or staff
    session (identity checked at the desk) needs neither."""
    return _new_key("rekey", serial, body, platform, principal)


@router.post(
    "/certificates/{serial}/reissue",
    response_model=Successor,
    responses={202: {"model": CodeRequiredOut}},
)
def reissue(serial: Serial, body: CertificateReissueIn, platform: Plat, principal: Lifecycle):
    """补办. A holder does not reissue a certificate under a freeze the CA imposed (a loss
    reported over it included): ``403`` ``frozen_by_ca`` (field ``hold_by``). A holder's own
    reissue needs the code sent by SMS to the registered phone: without `challenge_id` and
    `code` it is answered `202` `code_required` with the `challenge_id` and nothing is issued;
    the same request sent again with them issues the successor and uses the code up.
    `dns_names` (the CA only) gives a device certificate a new list of host names."""
    return _new_key("reissue", serial, body, platform, principal)


def desk_changer(serial: Serial, principal: Principal = Depends(get_caller)) -> Principal:
    """A caller that may change a certificate (变更): one with ``lifecycle`` acting for the
    CA, not as a holder (a subscriber's session, a key bound to an organization), which may
    change none — an officer checks the documents behind a new name at the desk. A role check
    on the caller alone (the serial only names it), so asked before the serial's scope and the
    body (``json_body``): a holder gets the ``403`` ``desk_only`` for any serial, which tells
    nothing of whether the certificate exists, not a ``422`` naming the fields nor a ``404``."""
    principal.require(Capability.LIFECYCLE)
    if principal.is_holder:
        raise Forbidden(
            "证书变更须到受理点办理，由受理员核验证明材料 / a change puts new subject data in "
            f"certificate {serial}: an RA officer checks the documents behind it at the desk",
            field="serial",
            code="desk_only",
        )
    return principal


@router.post("/certificates/{serial}/change", response_model=Successor)
def change(
    serial: Serial,
    body: CertificateChangeIn,
    platform: Plat,
    principal: Annotated[Principal, Depends(desk_changer)],
):
    """变更: a new certificate for the same key with the new subject data; the old one is
    revoked as ``subject_changed``, with the holder's other certificates in force for the key
    (the one a renewal left valid beside it): ``same_key_revoked`` lists their serials. The
    desk's only (staff, keys bound to no organization), where an officer checks the documents
    behind the new name: a holder (a subscriber's session, a key bound to an organization) is
    refused ``403`` ``desk_only`` for any serial, before the body is read, and nothing
    changes."""
    cert = _scoped(platform, principal, serial)
    updates = body.model_dump(exclude_none=True)
    if not updates:
        device = platform.subscribers.get(cert.subscriber_id).kind == "device"
        raise ValidationError(
            "请填写变更后的主体信息 / nothing to change: give "
            + ("device_name" if device else "name, with any contact details changed with it"),
            field="device_name" if device else "name",
        )
    return platform.certificates.change(serial, actor=principal.actor, updates=updates)


@router.post("/certificates/{serial}/payments", status_code=201, response_model=PaymentView)
def pay_renewal(serial: Serial, body: RenewalPaymentIn, platform: Plat, principal: Registrar):
    _scoped(platform, principal, serial)
    return platform.certificates.pay(
        serial=serial, years=body.years, reference=body.reference, actor=principal.actor
    )
