"""Certificate applications: apply (with a CSR or a platform-held key), pay, approve, reject."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import Field

from yinxin.access.keys import Capability, Principal
from yinxin.adapters.http.api.context import (
    Page,
    Pages,
    Plat,
    Registrar,
    Strict,
    allowed,
    scope_owned,
    scope_subscriber,
)
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.api.shapes import NewPin, RejectionReason
from yinxin.pki.profiles import SUBSCRIBER_PROFILES
from yinxin.registry.certificates import MAX_DNS_NAMES
from yinxin.registry.fees import MAX_YEARS
from yinxin.registry.lifecycle import ApplicationState
from yinxin.registry.views import (
    ApplicationView,
    CertificateView,
    PaymentView,
    SubmittedApplication,
)

router = APIRouter(route_class=JsonRoute, tags=["applications"])
Officer = Annotated[Principal, Depends(allowed(Capability.REVIEW))]
ApplicationId = Annotated[int, Path(ge=1, le=2**62)]


# the certificate profiles a subscriber applies for (pki.profiles.SUBSCRIBER_PROFILES)
SubscriberProfile = Literal[tuple(p.name for p in SUBSCRIBER_PROFILES)]


class ApplicationIn(Strict):
    subscriber_id: int = Field(ge=1, le=2**62)
    profile: SubscriberProfile = Field(examples=["person-signing"])
    csr: str | None = Field(
        None, max_length=20000, description="PEM CSR; leave out to have the platform hold the key"
    )
    pin: NewPin | None = Field(None, description="the PIN sealing a platform-held key (no CSR)")
    plan: str = Field("standard", max_length=40)
    years: int = Field(1, ge=1, le=MAX_YEARS)
    acceptance_point: str = Field("总部受理点", max_length=100)
    dns_names: list[str] | None = Field(None, max_length=MAX_DNS_NAMES)
    algorithm: str = Field("ec-p256", max_length=20)


class CertificatePaymentIn(Strict):
    years: int = Field(1, ge=1, le=MAX_YEARS)
    reference: str | None = Field(None, max_length=100)


class ApproveIn(Strict):
    validity_years: int | None = Field(None, ge=1, le=MAX_YEARS)


class RejectIn(Strict):
    reason: RejectionReason


def _scoped(platform, principal: Principal, application_id: int) -> ApplicationView:
    app = platform.certificates.application(application_id)
    scope_owned(
        platform,
        principal,
        app.subscriber_id,
        missing=f"no application {application_id}",
        field="application_id",
    )
    return app


@router.post("/applications", status_code=201, response_model=SubmittedApplication)
def apply(body: ApplicationIn, platform: Plat, principal: Registrar):
    scope_subscriber(platform, principal, body.subscriber_id)
    return platform.certificates.apply(
        **body.model_dump(exclude={"csr"}),
        csr=body.csr.encode() if body.csr else None,
        actor=principal.actor,
    )


@router.get("/applications", response_model=Page[ApplicationView])
def list_applications(
    platform: Plat, principal: Registrar, pages: Pages, state: ApplicationState | None = None
):
    rows = platform.certificates.applications(
        state, organization_id=principal.organization_id, **pages.fetch()
    )
    return pages.page(rows, lambda a: a.id)


@router.get("/applications/{application_id:int}", response_model=ApplicationView)
def get_application(application_id: ApplicationId, platform: Plat, principal: Registrar):
    return _scoped(platform, principal, application_id)


@router.post(
    "/applications/{application_id:int}/payments", status_code=201, response_model=PaymentView
)
def pay(
    application_id: ApplicationId, body: CertificatePaymentIn, platform: Plat, principal: Registrar
):
    _scoped(platform, principal, application_id)
    return platform.certificates.pay(
        application_id=application_id,
        years=body.years,
        reference=body.reference,
        actor=principal.actor,
    )


@router.get("/applications/{application_id:int}/payments", response_model=list[PaymentView])
def application_payments(application_id: ApplicationId, platform: Plat, principal: Registrar):
    """The fee recorded for the application (empty while unpaid)."""
    _scoped(platform, principal, application_id)
    return platform.certificates.payments(application_id)


@router.post("/applications/{application_id:int}/approve", response_model=CertificateView)
def approve(application_id: ApplicationId, body: ApproveIn, platform: Plat, principal: Officer):
    return platform.certificates.approve(
        application_id, officer=principal.actor, validity_years=body.validity_years
    )


@router.post("/applications/{application_id:int}/reject", response_model=ApplicationView)
def reject(application_id: ApplicationId, body: RejectIn, platform: Plat, principal: Officer):
    return platform.certificates.reject(application_id, officer=principal.actor, reason=body.reason)
