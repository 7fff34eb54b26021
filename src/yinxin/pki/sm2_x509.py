"""SM2 certificates and CSRs (SM3withSM2, GM/T 0015): built, signed, parsed and verified.

``cryptography`` parses an SM2 certificate (subject, serial, validity, extensions all read as
for any other) but cannot load its public key, check its signature or build one. So the
TBSCertificate is assembled here from DER pieces — the name and every extension value come from
``cryptography``'s own encoders and ``cert_contents.profile_extensions``, the same list the ECDSA
and RSA certificates carry, so an SM2 certificate of a profile differs from a P-256 one only in
its key, its signature algorithm and its signature — and signed with SM2 under a user ID
(``sm2.DEFAULT_UID`` unless the deployment configures another one).

The result is handed back as a ``cryptography`` ``x509.Certificate`` so the rest of the
platform stores and reads it like any other; ``public_key_of`` and ``verify_issued_by`` do what
``cert.public_key()`` and ``cert.verify_directly_issued_by`` cannot do for SM2.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, load_der_public_key

from yinxin.errors import ValidationError
from yinxin.pki import der as d
from yinxin.pki.cert_contents import StatusUrls, new_serial, profile_extensions
from yinxin.pki.keys import KeyHandle, layout_key
from yinxin.pki.profiles import Profile
from yinxin.pki.sm2 import DEFAULT_UID, OID_SM3_WITH_SM2, SM2PublicKey, load_public_spki

# AlgorithmIdentifier of SM3withSM2: the OID and no parameters, as OpenSSL and GM/T 0015 write it
SM3_WITH_SM2_ALGORITHM = d.seq(d.oid(OID_SM3_WITH_SM2))
_BIT_STRING = 0x03
_UTC_TIME = 0x17


class SM2Signer(Protocol):
    """Whatever signs with an SM2 key: an ``sm2.SM2PrivateKey`` or a key-store handle."""

    def sign(self, data: bytes, *, uid: bytes = DEFAULT_UID) -> bytes: ...


@dataclass(frozen=True)
class SM2Issuer:
    """An SM2 CA that signs: its certificate, its key and where its status is published."""

    certificate: x509.Certificate
    key: SM2Signer
    urls: StatusUrls
    uid: bytes = DEFAULT_UID


def is_sm2(cert: x509.Certificate | x509.CertificateSigningRequest) -> bool:
    """Whether ``cert`` (or a CSR) is signed SM3withSM2."""
    return cert.signature_algorithm_oid.dotted_string == OID_SM3_WITH_SM2


def time_der(when: dt.datetime) -> bytes:
    """UTCTime before 2050, GeneralizedTime from then on (RFC 5280 §4.1.2.5), whole seconds."""
    when = when.astimezone(dt.UTC)
    if when.year < 2050:
        return d.tlv(_UTC_TIME, when.strftime("%y%m%d%H%M%SZ").encode())
    return d.tlv(d.GENERALIZED_TIME, when.strftime("%Y%m%d%H%M%SZ").encode())


def bit_string(value: bytes) -> bytes:
    return d.tlv(_BIT_STRING, b"\x00" + value)


def _extension(ext: x509.ExtensionType, critical: bool) -> bytes:
    parts = [d.oid(ext.oid.dotted_string)]
    if critical:
        parts.append(b"\x01\x01\xff")
    parts.append(d.octet_string(ext.public_bytes()))
    return d.seq(*parts)


def key_identifier(public_key: SM2PublicKey | PublicKeyTypes) -> bytes:
    """SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1), as OpenSSL computes
    it — for an SM2 key its point; a P-256 or RSA subject key (certified by an SM2 CA) alike."""
    if isinstance(public_key, SM2PublicKey):
        bits = public_key.point()
    else:
        return x509.SubjectKeyIdentifier.from_public_key(public_key).digest
    return hashlib.sha1(bits).digest()  # noqa: S324 - an identifier, not security


def signed(tbs: bytes, key: SM2Signer, uid: bytes) -> bytes:
    """``SEQUENCE { tbs, SM3withSM2, BIT STRING signature }``: a certificate, CRL or CSR."""
    return d.seq(tbs, SM3_WITH_SM2_ALGORITHM, bit_string(key.sign(tbs, uid=uid)))


def _tbs_fields(cert_der: bytes) -> tuple[list[tuple[int, int, int, int]], bytes]:
    """The TBSCertificate's children (tag, start, content start, end) and the buffer."""
    _, c0, c1 = d.read(cert_der)
    tbs_tag, tbs_start, t0, t1 = d.children(cert_der, c0, c1)[0]
    if tbs_tag != d.SEQUENCE:
        raise ValueError("not a certificate")
    return d.children(cert_der, t0, t1), cert_der


def _raw(cert: x509.Certificate, index_after_version: int) -> bytes:
    """A raw TBSCertificate field by position, counting from serialNumber as 0."""
    buf = cert.public_bytes(Encoding.DER)
    fields, _ = _tbs_fields(buf)
    if fields[0][0] == 0xA0:  # [0] version
        fields = fields[1:]
    _, start, _, end = fields[index_after_version]
    return buf[start:end]


def subject_der(cert: x509.Certificate) -> bytes:
    """The certificate's subject exactly as encoded (what its children name as their issuer)."""
    return _raw(cert, 4)


def spki_der(cert: x509.Certificate | x509.CertificateSigningRequest) -> bytes:
    """The raw SubjectPublicKeyInfo of a certificate or CSR."""
    if isinstance(cert, x509.Certificate):
        return _raw(cert, 5)
    info = cert.tbs_certrequest_bytes
    _, c0, c1 = d.read(info)
    _, start, _, end = d.children(info, c0, c1)[2]
    return info[start:end]


def public_key_of(cert: x509.Certificate | x509.CertificateSigningRequest) -> SM2PublicKey:
    """The SM2 public key of a certificate or CSR (``ValidationError`` if it is not SM2)."""
    return load_public_spki(spki_der(cert))


def public_key_any(
    obj: x509.Certificate | x509.CertificateSigningRequest,
) -> SM2PublicKey | PublicKeyTypes:
    """``obj.public_key()``, or the SM2 key ``cryptography`` cannot load: for code that takes
    keys of every algorithm the platform certifies."""
    try:
        return obj.public_key()
    except UnsupportedAlgorithm:
        return public_key_of(obj)


def load_spki_any(spki: bytes) -> SM2PublicKey | PublicKeyTypes:
    """A DER SubjectPublicKeyInfo as a ``cryptography`` key, or as an SM2 key."""
    try:
        return load_der_public_key(spki)
    except UnsupportedAlgorithm:
        return load_public_spki(spki)


def cert_spki(cert: x509.Certificate) -> bytes:
    """A certificate's DER SubjectPublicKeyInfo, whatever its key: to check that a key handle
    belongs to a certificate (``der.spki(handle.public_key()) == cert_spki(cert)``)."""
    try:
        return d.spki(cert.public_key())
    except UnsupportedAlgorithm:
        return spki_der(cert)


# --- laying out with cryptography's builders, signing with SM2 ----------------------------------
# CRLs and OCSP responses are laid out by ``cryptography``'s builders "signed" by
# ``keys.layout_key`` (no private-key operation) and then signed by the key handle. For an SM2
# key the layout is made for a P-256 placeholder with SHA-256, whose AlgorithmIdentifier
# (ecdsa-with-SHA256, no parameters) is exactly as long as SM3withSM2's: swapping one for the
# other changes no length, so the layout stays valid DER.
PLACEHOLDER_ALGORITHM = d.seq(d.oid("1.2.840.10045.4.3.2"))
assert len(PLACEHOLDER_ALGORITHM) == len(SM3_WITH_SM2_ALGORITHM)


@functools.cache
def _placeholder_public() -> ec.EllipticCurvePublicKey:
    return ec.generate_private_key(ec.SECP256R1()).public_key()


def layout_signer(key: KeyHandle) -> tuple[PrivateKeyTypes, hashes.HashAlgorithm]:
    """What to "sign" a builder's layout with for ``key``, and the hash to name."""
    if key.algorithm.family == "sm2":
        return layout_key(_placeholder_public()), hashes.SHA256()
    return layout_key(key.public_key()), key.algorithm.hash


def sm2_algorithm_in(tbs: bytes) -> bytes:
    """``tbs`` (a SEQUENCE) with its placeholder signature-algorithm child made SM3withSM2."""
    _, c0, c1 = d.read(tbs)
    for _tag, start, _b, end in d.children(tbs, c0, c1):
        if tbs[start:end] == PLACEHOLDER_ALGORITHM:
            return tbs[:start] + SM3_WITH_SM2_ALGORITHM + tbs[end:]
    raise ValueError("no placeholder signature algorithm in the layout")


def build_certificate(
    *,
    profile: Profile,
    subject: x509.Name,
    public_key: SM2PublicKey | PublicKeyTypes,
    issuer: SM2Issuer | None,
    not_before: dt.datetime,
    not_after: dt.datetime,
    serial: int | None = None,
    self_key: SM2Signer | None = None,
    self_uid: bytes = DEFAULT_UID,
    dns_names: list[str] | None = None,
) -> x509.Certificate:
    """Sign an SM2 certificate of ``profile``. ``issuer=None``: self-signed with ``self_key``.

    The subject key is SM2 as a rule; a P-256/RSA key from a CSR is certified too (an SM2 CA
    may sign any key), its SKI computed as ``cryptography`` does.

    Mirrors ``authority.build_certificate``: the same extensions, and a certificate never
    outlives its issuer.
    """
    if not_after <= not_before:
        raise ValidationError("not_after must be later than not_before", field="not_after")
    if issuer is not None:
        not_after = min(not_after, issuer.certificate.not_valid_after_utc)
        issuer_name = subject_der(issuer.certificate)
        signer, uid = issuer.key, issuer.uid
        aki = key_identifier(public_key_of(issuer.certificate))
    else:
        if self_key is None:
            raise ValueError("a self-signed certificate needs self_key")
        issuer_name = subject.public_bytes()
        signer, uid, aki = self_key, self_uid, None
    extensions = profile_extensions(
        profile=profile,
        ski=key_identifier(public_key),
        aki=aki,
        urls=issuer.urls if issuer is not None else None,
        dns_names=dns_names,
    )
    tbs = d.seq(
        b"\xa0\x03\x02\x01\x02",  # [0] EXPLICIT version v3
        d.integer(serial or new_serial()),
        SM3_WITH_SM2_ALGORITHM,
        issuer_name,
        d.seq(time_der(not_before), time_der(not_after)),
        subject.public_bytes(),
        d.spki(public_key),
        d.tlv(0xA3, d.seq(*(_extension(e, c) for e, c in extensions))),
    )
    return x509.load_der_x509_certificate(signed(tbs, signer, uid))


def _check_signature(
    signer_public: SM2PublicKey, signature: bytes, tbs: bytes, oid: str, uid: bytes
) -> None:
    if oid != OID_SM3_WITH_SM2:
        raise InvalidSignature()
    signer_public.verify(signature, tbs, uid=uid)


def verify_issued_by(
    cert: x509.Certificate, issuer: x509.Certificate, *, uid: bytes = DEFAULT_UID
) -> None:
    """Raise ``InvalidSignature`` unless ``issuer``'s SM2 key signed ``cert`` (with ``uid``)
    and ``cert`` names ``issuer``'s subject as its issuer — what ``openssl verify`` checks of
    one link, less validity and extensions (those are the caller's policy)."""
    if _raw(cert, 2) != subject_der(issuer):
        raise InvalidSignature()
    if _raw(cert, 1) != SM3_WITH_SM2_ALGORITHM:  # the TBS's own signature field must agree
        raise InvalidSignature()
    _check_signature(
        public_key_of(issuer),
        cert.signature,
        cert.tbs_certificate_bytes,
        cert.signature_algorithm_oid.dotted_string,
        uid,
    )


def build_csr(
    subject: x509.Name,
    key: SM2Signer,
    public_key: SM2PublicKey,
    *,
    uid: bytes = DEFAULT_UID,
) -> x509.CertificateSigningRequest:
    """A PKCS#10 request for ``public_key`` signed SM3withSM2 by its own key (no attributes)."""
    info = d.seq(d.integer(0), subject.public_bytes(), public_key.spki_der(), b"\xa0\x00")
    return x509.load_der_x509_csr(signed(info, key, uid))


def load_csr(
    data: bytes, *, uid: bytes = DEFAULT_UID
) -> tuple[x509.CertificateSigningRequest, SM2PublicKey]:
    """Parse a PEM or DER SM2 CSR and check its self-signature (SM3withSM2 under ``uid``).

    Refusals name the field ``csr``: unreadable, not SM2, or a signature that does not verify.
    """
    try:
        csr = (
            x509.load_pem_x509_csr(data)
            if data.lstrip().startswith(b"-----")
            else x509.load_der_x509_csr(data)
        )
    except ValueError:
        raise ValidationError("the CSR is not a readable PKCS#10 request", field="csr") from None
    if not is_sm2(csr):
        raise ValidationError("the CSR is not signed SM3withSM2", field="csr")
    try:
        public = public_key_of(csr)
    except ValidationError:
        raise ValidationError("the CSR's key is not an SM2 key", field="csr") from None
    try:
        public.verify(csr.signature, csr.tbs_certrequest_bytes, uid=uid)
    except InvalidSignature:
        raise ValidationError(
            "the CSR's SM2 signature does not verify (with the user ID "
            f"{uid.decode('ascii', 'replace')!r})",
            field="csr",
        ) from None
    return csr, public
