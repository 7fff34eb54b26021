"""Builds and signs certificates from a profile, a subject and a public key.

The authority never decides who gets what; the registry hands it everything. Serial numbers are
128 random bits (top bit cleared so the DER INTEGER stays positive and ≤ 16 octets).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID

from yinxin.errors import ValidationError
from yinxin.pki.cert_contents import StatusUrls, new_serial, profile_extensions
from yinxin.pki.keys import KeyHandle, builder_key
from yinxin.pki.profiles import Profile
from yinxin.pki.sm2 import SM2PublicKey


@dataclass(frozen=True)
class Issuer:
    certificate: x509.Certificate
    key: KeyHandle
    urls: StatusUrls


def base_name(common_name: str, *, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "CN")]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def build_certificate(
    *,
    profile: Profile,
    subject: x509.Name,
    public_key: PublicKeyTypes,
    issuer: Issuer | None,
    not_before: dt.datetime,
    not_after: dt.datetime,
    serial: int | None = None,
    self_key: KeyHandle | None = None,
    dns_names: list[str] | None = None,
) -> x509.Certificate:
    """Sign a certificate. ``issuer=None`` means self-signed with ``self_key`` (the root).

    An SM2 signer (the issuer's key, or ``self_key`` for a root) hands the work to
    ``sm2_x509``, which writes the same extensions and signs SM3withSM2: every caller (CA
    set-up, rollover, issuance) serves an SM2 hierarchy unchanged.
    """
    signer = issuer.key if issuer else self_key
    if signer is not None and signer.algorithm.family == "sm2":
        from yinxin.pki import sm2_x509  # only an SM2 hierarchy pays for its import

        return sm2_x509.build_certificate(
            profile=profile,
            subject=subject,
            public_key=public_key,
            issuer=(
                sm2_x509.SM2Issuer(issuer.certificate, issuer.key, issuer.urls)  # type: ignore[arg-type]
                if issuer
                else None
            ),
            not_before=not_before,
            not_after=not_after,
            serial=serial,
            self_key=self_key,  # type: ignore[arg-type]
            dns_names=dns_names,
        )
    if isinstance(public_key, SM2PublicKey):
        raise ValidationError(
            "an SM2 key is certified by an SM2 CA only (initialise one with --algorithm sm2)",
            field="csr",
        )
    if not_after <= not_before:
        raise ValidationError("not_after must be later than not_before", field="not_after")
    if issuer is not None:
        # a certificate must not outlive its issuer
        not_after = min(not_after, issuer.certificate.not_valid_after_utc)
    issuer_name = issuer.certificate.subject if issuer else subject
    signing_key = issuer.key if issuer else self_key
    if signing_key is None:
        raise ValueError("a self-signed certificate needs self_key")
    issuer_public = issuer.certificate.public_key() if issuer else public_key

    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(serial or new_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    extensions = profile_extensions(
        profile=profile,
        ski=x509.SubjectKeyIdentifier.from_public_key(public_key).digest,
        aki=(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public).key_identifier
            if issuer is not None
            else None
        ),
        urls=issuer.urls if issuer is not None else None,
        dns_names=dns_names,
        rsa_tls=isinstance(public_key, rsa.RSAPublicKey),
    )
    for extension, critical in extensions:
        b = b.add_extension(extension, critical=critical)
    return b.sign(builder_key(signing_key), signing_key.algorithm.hash)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()
