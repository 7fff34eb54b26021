"""A self-signed certificate of someone else (another platform, another CA, a signer with their
own kit), built with ``cryptography``: what tests sign with or trust when the point is that it
is *not* from our CA. One builder, where each test had written the same nine lines."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(
    common_name: str,
    *,
    ca: bool = False,
    start: dt.datetime | None = None,
    days: int = 30,
    serial: int | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A fresh P-256 key and its self-signed certificate named ``common_name``, valid from a
    day before ``start`` (now, by the real clock) for ``days`` after it; ``ca``: marked a CA
    (BasicConstraints, critical), as a root is."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = start or dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
    )
    if ca:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    return key, b.sign(key, hashes.SHA256())
