"""Certificate profiles as data: what each kind of certificate carries.

A profile fixes key usages, extended key usages, CA-ness and default lifetime; the authority
applies it mechanically. Policy (who may get which profile) lives in the registry service.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from yinxin.errors import ValidationError

# An OID arc of our own under the UUID arc (ITU-T X.667), which needs no registration.
YINXIN_ARC = "2.25.329800735698586629295641978511506172918"
TSA_POLICY_OID = ObjectIdentifier(YINXIN_ARC + ".1.1")
DOCUMENT_SIGNING_EKU = ObjectIdentifier("1.3.6.1.5.5.7.3.36")


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    is_ca: bool = False
    path_length: int | None = None
    key_usage: frozenset[str] = field(default_factory=frozenset)
    extended_key_usage: tuple[ObjectIdentifier, ...] = ()
    eku_critical: bool = False
    ocsp_nocheck: bool = False
    days: int = 365
    subscriber_kinds: frozenset[str] = frozenset()
    # whether a relying party finds status for this certificate by CRL DP / AIA OCSP
    status_pointers: bool = True


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in [
        Profile(
            "root-ca",
            "Root CA",
            is_ca=True,
            key_usage=frozenset({"key_cert_sign", "crl_sign"}),
            days=20 * 365,
            status_pointers=False,
        ),
        Profile(
            "issuing-ca",
            "Issuing CA",
            is_ca=True,
            path_length=0,
            key_usage=frozenset({"key_cert_sign", "crl_sign"}),
            days=10 * 365,
        ),
        Profile(
            "ocsp-responder",
            "OCSP responder",
            key_usage=frozenset({"digital_signature"}),
            extended_key_usage=(ExtendedKeyUsageOID.OCSP_SIGNING,),
            ocsp_nocheck=True,
            days=2 * 365,
            status_pointers=False,
        ),
        Profile(
            "tsa",
            "Timestamp authority",
            key_usage=frozenset({"digital_signature", "content_commitment"}),
            extended_key_usage=(ExtendedKeyUsageOID.TIME_STAMPING,),
            eku_critical=True,
            days=5 * 365,
        ),
        Profile(
            "person-signing",
            "Person signing certificate",
            key_usage=frozenset({"digital_signature", "content_commitment"}),
            subscriber_kinds=frozenset({"person"}),
        ),
        Profile(
            "organization-signing",
            "Organization signing certificate",
            key_usage=frozenset({"digital_signature", "content_commitment"}),
            subscriber_kinds=frozenset({"organization"}),
        ),
        Profile(
            "device-tls",
            "Device TLS certificate",
            key_usage=frozenset({"digital_signature"}),
            extended_key_usage=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
            subscriber_kinds=frozenset({"device"}),
        ),
    ]
}

SUBSCRIBER_PROFILES = [p for p in PROFILES.values() if p.subscriber_kinds]


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        choices = ", ".join(p.name for p in SUBSCRIBER_PROFILES)
        raise ValidationError(
            f"unknown certificate profile {name!r}; choose one of {choices}", field="profile"
        ) from None
