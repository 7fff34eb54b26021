"""What anyone may read without signing in: the fee schedule (000 篇七), the subscriber
agreement, and where the status services and CA certificates are. The web's public pages are
built on these."""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives import hashes
from fastapi import APIRouter, Response
from pydantic import BaseModel

from yinxin.adapters.http.api.context import Plat
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.api.routes.subscribers import AgreementOut
from yinxin.errors import YinxinError

router = APIRouter(route_class=JsonRoute, tags=["public"])
CACHE = "public, max-age=300"


class FeePlanOut(BaseModel):
    code: str
    title: str
    annual_fen: int
    renewal_fen: int
    medium_fen: int
    includes_hardware: bool
    annual_yuan: str
    renewal_yuan: str
    medium_yuan: str
    first_year_fen: int
    first_year_yuan: str


class FeesOut(BaseModel):
    currency: str
    source: str
    plans: list[FeePlanOut]
    default_plan: str


class CaCertificateOut(BaseModel):
    role: str
    title: str
    url: str
    subject: str
    sha256: str
    not_after: dt.datetime


class StatusOut(BaseModel):
    base_url: str
    crl: list[str]
    ocsp: str
    tsa: str
    ca_certificates: list[CaCertificateOut]
    # every hierarchy's TSA by hierarchy name ("default", "sm2"): `tsa` is the default one's
    tsas: dict[str, str] = {}


CA_TITLES = {
    "root": "根 CA 证书",
    "issuing": "签发 CA 证书",
    "ocsp": "OCSP 响应者证书",
    "tsa": "时间戳服务证书",
}


@router.get("/public/fees", response_model=FeesOut)
def fees(response: Response):
    """The annual plans of the CA service agreement (000 篇七), amounts in fen and yuan."""
    from yinxin.registry.fees import DEFAULT_PLAN, PLANS, yuan

    response.headers["Cache-Control"] = CACHE
    plans = [
        FeePlanOut(
            code=p.code,
            title=p.title,
            annual_fen=p.annual_fen,
            renewal_fen=p.renewal_fen,
            medium_fen=p.medium_fen,
            includes_hardware=p.includes_hardware,
            annual_yuan=yuan(p.annual_fen),
            renewal_yuan=yuan(p.renewal_fen),
            medium_yuan=yuan(p.medium_fen),
            first_year_fen=p.first_amount(1),
            first_year_yuan=yuan(p.first_amount(1)),
        )
        for p in PLANS.values()
    ]
    return FeesOut(
        currency="CNY", source="CA 服务协议 篇七", plans=plans, default_plan=DEFAULT_PLAN
    )


@router.get("/public/agreement", response_model=AgreementOut)
def agreement(response: Response):
    """The subscriber agreement in force (the text a subscriber accepts)."""
    from yinxin.agreements import current_agreement

    response.headers["Cache-Control"] = CACHE
    a = current_agreement()
    return AgreementOut(name=a.name, version=a.version, sha256=a.sha256, text=a.text)


@router.get("/public/status", response_model=StatusOut)
def status(platform: Plat, response: Response):
    """Where relying parties check certificates: CRLs, OCSP, time-stamping, CA certificates."""
    from yinxin.registry.ca import role_of

    base = platform.settings.base_url
    certs = []
    hierarchies = platform.ca.hierarchies() or [""]  # the SM2 one beside the default, if any
    for h in hierarchies:
        for base_role, title in CA_TITLES.items():
            role = role_of(h, base_role)
            try:
                cert = platform.status.ca_certificate(role)
            except YinxinError:  # a role this CA has no certificate for is left out
                continue
            certs.append(
                CaCertificateOut(
                    role=role,
                    title=f"{title}（{h.upper()}）" if h else title,
                    url=f"{base}/ca/{role}.cer",
                    subject=cert.subject.rfc4514_string(),
                    sha256=cert.fingerprint(hashes.SHA256()).hex(),
                    not_after=cert.not_valid_after_utc,
                )
            )
    response.headers["Cache-Control"] = CACHE
    return StatusOut(
        base_url=base,
        crl=[f"{base}/crl/{role_of(h, r)}.crl" for h in hierarchies for r in ("issuing", "root")],
        ocsp=f"{base}/ocsp",
        tsa=f"{base}/tsa",
        ca_certificates=certs,
        tsas={h or "default": f"{base}/tsa/{h}" if h else f"{base}/tsa" for h in hierarchies},
    )
