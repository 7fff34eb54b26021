"""What a certificate of a profile contains whatever key signs it: a serial number, the
extensions in order, and the URLs of its issuer's status services.

Both certificate writers use it — ``authority.build_certificate`` through ``cryptography``'s
builder, ``sm2_x509`` encoding an SM2 certificate itself — so it sits below both: an SM2
certificate of a profile differs from a P-256 one only in its key and signature.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID

from yinxin.pki.profiles import Profile


@dataclass(frozen=True)
class StatusUrls:
    """Where relying parties fetch an issuer's CRL, OCSP and certificate (written into certs)."""

    crl: str
    ca_issuers: str
    ocsp: str | None = None


def new_serial() -> int:
    """128 unpredictable bits from the OS CSPRNG; never 0."""
    while True:
        n = int.from_bytes(os.urandom(16), "big") >> 1
        if n:
            return n


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
