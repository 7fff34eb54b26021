"""The CMS ``SignedData`` of a PAdES baseline signature (ETSI EN 319 142-1, CAdES detached).

Everything that depends only on the signer — certificate bytes, issuer-and-serial, the
``signing-certificate-v2`` attribute, algorithm identifiers — is encoded once per certificate
and kept (``SignerMaterial``); a signature then costs one digest, one ``KeyHandle.sign`` call,
one timestamp and some byte concatenation. The layout is what pyHanko emits for PAdES
(content-type, message-digest, signing-certificate-v2 signed; signature-time-stamp unsigned;
no signing-time, which PAdES forbids in favour of the signature dictionary's ``/M``).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from yinxin.pdf.timestamps import HASH_OIDS, Timestamper, timestamp
from yinxin.pki import der
from yinxin.pki.keys import KeyHandle

OID_DATA = der.oid("1.2.840.113549.1.7.1")
OID_SIGNED_DATA = der.oid("1.2.840.113549.1.7.2")
OID_CONTENT_TYPE = der.oid("1.2.840.113549.1.9.3")
OID_MESSAGE_DIGEST = der.oid("1.2.840.113549.1.9.4")
OID_SIGNING_CERT_V2 = der.oid("1.2.840.113549.1.9.16.2.47")
OID_SIGNATURE_TST = der.oid("1.2.840.113549.1.9.16.2.14")

_SIG_ALGS = {
    ("ec", "sha256"): der.seq(der.oid("1.2.840.10045.4.3.2")),
    ("ec", "sha384"): der.seq(der.oid("1.2.840.10045.4.3.3")),
    ("ec", "sha512"): der.seq(der.oid("1.2.840.10045.4.3.4")),
    ("rsa", "sha256"): der.seq(der.oid("1.2.840.113549.1.1.11"), b"\x05\x00"),
    ("rsa", "sha384"): der.seq(der.oid("1.2.840.113549.1.1.12"), b"\x05\x00"),
    ("rsa", "sha512"): der.seq(der.oid("1.2.840.113549.1.1.13"), b"\x05\x00"),
}
_HASHES = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


def _attribute(oid: bytes, value: bytes) -> bytes:
    return der.seq(oid, der.set_of(value))


@dataclass(frozen=True)
class SignerMaterial:
    """Pre-encoded pieces of one signer's CMS, reused for every signature it makes."""

    hash_name: str
    digest_alg: bytes
    signature_alg: bytes
    sid: bytes
    signing_cert_attr: bytes
    certificates: bytes  # the [0] IMPLICIT SET OF Certificate
    certificate_bytes: int

    def new_hash(self):
        return _HASHES[self.hash_name]()


@functools.lru_cache(maxsize=256)
def _material(family: str, hash_name: str, chain: tuple[bytes, ...]) -> SignerMaterial:
    signer = a_x509.Certificate.load(chain[0])
    tbs = signer["tbs_certificate"]
    issuer = tbs["issuer"].dump()
    serial = tbs["serial_number"].dump()
    sid = der.seq(issuer, serial)
    # ESSCertIDv2 with the default hash (SHA-256, so omitted) and issuerSerial
    # (GeneralNames with one directoryName [4], plus the serial).
    issuer_serial = der.seq(der.seq(der.tlv(0xA4, issuer)), serial)
    cert_id = der.seq(der.octet_string(hashlib.sha256(chain[0]).digest()), issuer_serial)
    signing_cert = _attribute(OID_SIGNING_CERT_V2, der.seq(der.seq(cert_id)))
    unique = list(dict.fromkeys(chain))
    certificates = der.tlv(0xA0, *sorted(unique))
    return SignerMaterial(
        hash_name=hash_name,
        digest_alg=der.seq(der.oid(HASH_OIDS[hash_name])),
        signature_alg=_SIG_ALGS[(family, hash_name)],
        sid=sid,
        signing_cert_attr=signing_cert,
        certificates=certificates,
        certificate_bytes=len(certificates),
    )


@functools.lru_cache(maxsize=1024)
def cert_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def signer_material(
    key: KeyHandle, certificate: x509.Certificate, chain: list[x509.Certificate]
) -> SignerMaterial:
    hash_name = key.algorithm.hash.name
    ders = (cert_der(certificate), *(cert_der(c) for c in chain))
    return _material(key.algorithm.family, hash_name, ders)


def signed_data(
    material: SignerMaterial,
    key: KeyHandle,
    document_digest: bytes,
    timestamper: Timestamper | None,
) -> tuple[bytes, bytes | None]:
    """Sign ``document_digest``; with a timestamper, stamp the signature value (B-T).

    Returns the ContentInfo DER and the timestamp token (for the DSS), if any.
    """
    signed_attrs = der.set_of(
        _attribute(OID_CONTENT_TYPE, OID_DATA),
        _attribute(OID_MESSAGE_DIGEST, der.octet_string(document_digest)),
        material.signing_cert_attr,
    )
    hash_alg = key.algorithm.hash
    signature = key.sign(signed_attrs, hash_alg)
    parts = [
        der.integer(1),
        material.sid,
        material.digest_alg,
        b"\xa0" + signed_attrs[1:],  # [0] IMPLICIT: same body, context tag
        material.signature_alg,
        der.octet_string(signature),
    ]
    token = None
    if timestamper is not None:
        imprint = material.new_hash()
        imprint.update(signature)
        token = timestamp(timestamper, imprint.digest(), material.hash_name)
        parts.append(der.tlv(0xA1, _attribute(OID_SIGNATURE_TST, token)))
    signer_info = der.seq(*parts)
    content = der.seq(
        der.integer(1),
        der.set_of(material.digest_alg),
        der.seq(OID_DATA),
        material.certificates,
        der.set_of(signer_info),
    )
    return der.seq(OID_SIGNED_DATA, der.tlv(0xA0, content)), token
