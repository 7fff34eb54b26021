"""Builds and signs certificates from a profile, a subject and a public key.

The authority never decides who gets what; the registry hands it everything. Serial numbers are
128 random bits (top bit cleared so the DER INTEGER stays positive and ≤ 16 octets).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from yinxin.errors import ValidationError
from yinxin.pki.keys import KeyHandle, builder_key
from yinxin.pki.profiles import Profile
from yinxin.pki.sm2 import SM2PublicKey


@dataclass(frozen=True)
class StatusUrls:
    """Where relying parties fetch an issuer's CRL, OCSP and certificate (written into certs)."""

    crl: str
    ca_issuers: str
    ocsp: str | None = None


@dataclass(frozen=True)
class Issuer:
    certificate: x509.Certificate
    key: KeyHandle
    urls: StatusUrls


def new_serial() -> int:
    """128 unpredictable bits from the OS CSPRNG; never 0."""
    while True:
        n = int.from_bytes(os.urandom(16), "big") >> 1
        if n:
            return n


def base_name(common_name: str, *, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "CN")]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


# The KeyUsage bits in RFC 5280 order, as ``cryptography`` names them; a profile's
# ``key_usage`` says which are set.
_KEY_USAGE_BITS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def _key_usage(profile: Profile) -> x509.KeyUsage:
    return x509.KeyUsage(**{bit: bit in profile.key_usage for bit in _KEY_USAGE_BITS})


def profile_extensions(
    *,
    profile: Profile,
    ski: bytes,
    aki: bytes | None,
    urls: StatusUrls | None,
    dns_names: list[str] | None = None,
    rsa_tls: bool = False,
) -> list[tuple[x509.ExtensionType, bool]]:
    """The extensions (and whether critical) a certificate of ``profile`` carries, in order.

    One list for every key algorithm: ``build_certificate`` adds them through ``cryptography``'s
    builder, ``sm2_x509`` encodes them into an SM2 certificate it signs itself. ``aki`` and
    ``urls`` are ``None`` for a self-signed root; ``rsa_tls`` sets keyEncipherment for an RSA
    TLS key.
    """
    ku = _key_usage(profile)
    if rsa_tls and profile.name == "device-tls":
        ku = x509.KeyUsage(True, False, True, False, False, False, False, False, False)
    out: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=profile.is_ca, path_length=profile.path_length), True),
        (ku, True),
        (x509.SubjectKeyIdentifier(ski), False),
    ]
    if aki is not None:
        out.append((x509.AuthorityKeyIdentifier(aki, None, None), False))
    if profile.extended_key_usage:
        out.append((x509.ExtendedKeyUsage(list(profile.extended_key_usage)), profile.eku_critical))
    if profile.ocsp_nocheck:
        out.append((x509.OCSPNoCheck(), False))
    if dns_names:
        out.append((x509.SubjectAlternativeName([x509.DNSName(d) for d in dns_names]), False))
    if urls is not None:
        # Every certificate from an issuer says where to find the issuer and the status.
        out.append(
            (
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            full_name=[x509.UniformResourceIdentifier(urls.crl)],
                            relative_name=None,
                            reasons=None,
                            crl_issuer=None,
                        )
                    ]
                ),
                False,
            )
        )
        access = [
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(urls.ca_issuers),
            )
        ]
        if urls.ocsp and profile.status_pointers:
            access.insert(
                0,
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(urls.ocsp)
                ),
            )
        out.append((x509.AuthorityInformationAccess(access), False))
    return out


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
        from yinxin.pki import sm2_x509  # it imports this module (profile_extensions)

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
