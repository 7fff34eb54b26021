"""Time-stamp authority (RFC 3161, with RFC 5816's ESSCertIDv2): read requests, grant tokens,
refuse with the failure codes clients understand.

The token is CMS SignedData over a TSTInfo. It is assembled with asn1crypto and signed the one
way every ``KeyHandle`` can sign: the DER of the signed attributes as a SET OF (RFC 5652 §5.4)
goes to ``tsa_key.sign``, so a key inside an HSM needs no separate path. The signed attributes
are content-type, message-digest, signing-time and signing-certificate-v2 (ESSCertIDv2 with
SHA-256, RFC 5816), which is what OpenSSL's ``ts -verify`` and pyHanko look for to bind the
token to the TSA certificate.

Refusals follow RFC 3161 §2.4.2: SHA-1 and unknown imprint algorithms → badAlg; an imprint
whose length does not fit its algorithm, or bytes that do not parse (a field out of order or
given twice, an element a TimeStampReq has not: ``der.stray_elements``) → badDataFormat; a
policy we do not run → unacceptedPolicy; any request extension → unacceptedExtension (we
support none).
An imprint hashAlgorithm whose parameters are neither absent nor NULL (RFC 5754 §2; we hold
SHA-3 and SM3 to the same) → badAlg, not badDataFormat: the request parses, but that
AlgorithmIdentifier as a whole is not one we support, and it is what openssl's own TSA answers
("Superfluous message digest parameter."). NULL is accepted and copied into the token as sent;
the imprint is written into the TSTInfo in DER whatever the request's encoding (``_imprint``).
``respond`` wraps it all so that no input makes an exception escape.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from yinxin.errors import ConfigurationError, ValidationError, YinxinError
from yinxin.pki import der, sm2_x509
from yinxin.pki.der import stray_elements
from yinxin.pki.keys import KeyHandle
from yinxin.pki.profiles import TSA_POLICY_OID
from yinxin.pki.sm2 import OID_SM3, OID_SM3_WITH_SM2, sm3

log = logging.getLogger(__name__)
DER = serialization.Encoding.DER

# Imprint hash algorithms we time-stamp (asn1crypto names → digest length). SHA-1 is refused:
# a collision-prone imprint would let one token vouch for two documents.
ACCEPTED_HASHES: dict[str, int] = {
    "sha256": 32,
    "sha384": 48,
    "sha512": 64,
    "sha3_256": 32,
    "sha3_384": 48,
    "sha3_512": 64,
    OID_SM3: 32,  # SM3 (asn1crypto has no name for it): GB/T 38540 seals timestamp SM3 digests
}
FAIL_INFOS = frozenset(tsp.PKIFailureInfo._map.values())
MAX_REQUEST = 64 * 1024  # a TimeStampReq is a few hundred bytes; anything huge is not one


class TimeStampResp(core.Sequence):
    """RFC 3161 TimeStampResp with timeStampToken OPTIONAL, as the RFC has it.

    asn1crypto's ``tsp.TimeStampResp`` makes the token mandatory, so it can neither write nor
    read a rejection; use this class to parse any reply.
    """

    _fields = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class _AnyParameters(core.Sequence):
    """An AlgorithmIdentifier read with any parameters: asn1crypto's ``DigestAlgorithm`` expects
    NULL for SHA-2 and leaves them unread, so junk there would be copied into the token."""

    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", core.Any, {"optional": True})]


class TsaError(YinxinError):
    """A request refused with PKIStatus rejection; ``fail_info`` names the PKIFailureInfo bit
    (asn1crypto's spelling: bad_alg, bad_request, bad_data_format, unaccepted_policy, …)."""

    code = "timestamp_rejected"

    def __init__(self, fail_info: str, message: str):
        if fail_info not in FAIL_INFOS:
            raise ValueError(f"not a PKIFailureInfo: {fail_info!r}")
        super().__init__(message, code=fail_info)
        self.fail_info = fail_info

    def response(self) -> bytes:
        return rejection("rejection", self.fail_info, self.message)


@dataclass(frozen=True, slots=True)
class TimestampRequest:
    hash_algorithm: str  # asn1crypto name, e.g. "sha256"
    digest: bytes
    policy: str | None  # dotted OID of reqPolicy
    nonce: int | None
    cert_req: bool
    message_imprint: bytes  # the request's MessageImprint in DER, for the TSTInfo


def _policies(policies: Iterable[str | x509.ObjectIdentifier]) -> set[str]:
    return {p.dotted_string if isinstance(p, x509.ObjectIdentifier) else p for p in policies}


def parse_request(
    der: bytes, *, policies: Iterable[str | x509.ObjectIdentifier] = (TSA_POLICY_OID,)
) -> TimestampRequest:
    """Read a DER TimeStampReq, or raise ``TsaError`` with the RFC 3161 failure to send back."""
    if len(der) > MAX_REQUEST:
        raise TsaError("bad_data_format", "the request is far too large to be a TimeStampReq")
    try:
        req = tsp.TimeStampReq.load(der, strict=True)
        if _stray(req):  # a field out of order or twice would be read as absent
            raise TsaError(
                "bad_data_format", "a TimeStampReq with elements out of order, repeated or extra"
            )
        version = req["version"].native
        imprint = req["message_imprint"]
        alg = imprint["hash_algorithm"]["algorithm"].native
        alg_id = _AnyParameters.load(imprint["hash_algorithm"].dump())
        params = alg_id["parameters"]
        odd_alg_id = stray_elements(alg_id)  # a third element: not an AlgorithmIdentifier
        digest = bytes(imprint["hashed_message"].native)
        policy = req["req_policy"].native
        nonce = req["nonce"].native
        if nonce is not None and not req["nonce"].contents:
            # X.690 §8.3.1: asn1crypto reads an INTEGER of no octets as 0, which is not sent
            raise TsaError("bad_data_format", "the nonce is an INTEGER of no octets")
        cert_req = bool(req["cert_req"].native)
        has_extensions = bool(req["extensions"].native)
        alg_oid = imprint["hash_algorithm"]["algorithm"].dotted
    except TsaError:
        raise
    except Exception as exc:  # anything unparsable in untrusted bytes
        raise TsaError("bad_data_format", f"not a TimeStampReq ({type(exc).__name__})") from None
    if version != "v1":
        raise TsaError("bad_data_format", f"TimeStampReq version {version} is not v1")
    if alg not in ACCEPTED_HASHES:
        raise TsaError(
            "bad_alg",
            f"hash algorithm {alg} is not accepted; use one of {', '.join(ACCEPTED_HASHES)}",
        )
    if odd_alg_id or (not isinstance(params, core.Void) and params.dump() != core.Null().dump()):
        # RFC 5754 §2: absent or NULL; openssl's TSA answers this badAlg too
        raise TsaError("bad_alg", f"hash algorithm {alg} takes no parameters (absent or NULL)")
    if len(digest) != ACCEPTED_HASHES[alg]:
        raise TsaError(
            "bad_data_format", f"a {alg} digest is {ACCEPTED_HASHES[alg]} octets, not {len(digest)}"
        )
    if policy is not None and policy not in _policies(policies):
        raise TsaError("unaccepted_policy", f"policy {policy} is not offered by this TSA")
    if has_extensions:
        raise TsaError("unaccepted_extensions", "this TSA supports no request extensions")
    null = b"" if isinstance(params, core.Void) else params.dump()
    return TimestampRequest(alg, digest, policy, nonce, cert_req, _imprint(alg_oid, null, digest))


def _imprint(alg_oid: str, params: bytes, digest: bytes) -> bytes:
    """A MessageImprint in DER, for the TSTInfo (DER and signed, RFC 3161 §2.4.2): written anew
    from the request's values rather than copied, so a request in BER (long-form lengths) is
    not signed as sent. The same value, as §2.4.2 asks; ``params`` absent or NULL as sent."""
    return der.seq(der.seq(der.oid(alg_oid), params), der.octet_string(digest))


def _stray(req: tsp.TimeStampReq) -> bool:
    """Whether ``req`` or its MessageImprint holds elements out of order, repeated or not of
    the type (``der.stray_elements``), or its extensions do. The imprint's hashAlgorithm is
    left to ``parse_request``: junk parameters there (which asn1crypto, expecting NULL, keeps
    as an extra element) are an algorithm we do not support, badAlg."""
    imprint = req["message_imprint"]
    return (
        len(req) > len(req._fields)
        or len(imprint) > len(imprint._fields)
        or stray_elements(req["extensions"])
    )


def rejection(
    status: str = "rejection", fail_info: str | None = None, text: str | None = None
) -> bytes:
    """A TimeStampResp with no token: ``status`` is a PKIStatus name (rejection, waiting, …)."""
    info: dict = {"status": status}
    if text:
        info["status_string"] = [text]
    if fail_info:
        if fail_info not in FAIL_INFOS:
            raise ValueError(f"not a PKIFailureInfo: {fail_info!r}")
        info["fail_info"] = {fail_info}
    return TimeStampResp({"status": info}).dump()


def _gen_time(gen_time: dt.datetime, accuracy_seconds: float) -> dt.datetime:
    if gen_time.tzinfo is None:
        raise ValidationError("gen_time must carry a time zone", field="gen_time")
    t = gen_time.astimezone(dt.UTC)
    if accuracy_seconds >= 1:
        return t.replace(microsecond=0)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)  # milliseconds


def _accuracy(accuracy_seconds: float) -> dict:
    if accuracy_seconds <= 0:
        raise ValidationError("accuracy must be positive", field="accuracy_seconds")
    whole, millis = divmod(round(accuracy_seconds * 1000), 1000)
    out = {}
    if whole:
        out["seconds"] = whole
    if millis:
        out["millis"] = millis
    return out


def build_response(
    req: TimestampRequest,
    *,
    tsa_cert: x509.Certificate,
    tsa_key: KeyHandle,
    chain: Sequence[x509.Certificate],
    serial: int,
    gen_time: dt.datetime,
    policy_oid: str | x509.ObjectIdentifier,
    accuracy_seconds: float = 1,
    include_tsa_name: bool = True,
) -> bytes:
    """A granted TimeStampResp carrying a TimeStampToken for ``req``.

    ``chain`` (certificates above the TSA's, root optional) is included with the TSA
    certificate only when the request set certReq, as RFC 3161 §2.4.1 asks. ``serial`` must be
    unique per token (RFC 3161 §2.4.2); the caller owns the counter.
    """
    policy = _policies([policy_oid]).pop()
    if req.policy is not None and req.policy != policy:
        raise TsaError("unaccepted_policy", f"policy {req.policy} is not offered by this TSA")
    if not 0 < serial < 1 << 159:
        raise ValidationError("serial must be a positive integer of 20 octets", field="serial")
    if der.spki(tsa_key.public_key()) != sm2_x509.cert_spki(tsa_cert):
        raise ConfigurationError(f"key {tsa_key.label!r} does not belong to the TSA certificate")

    when = _gen_time(gen_time, accuracy_seconds)
    fixed = _fixed_parts(
        tsa_cert.public_bytes(DER),
        tuple(c.public_bytes(DER) for c in chain),
        tsa_key.algorithm.name,
        tsa_key.algorithm.hash.name,
    )
    return _assemble(req, fixed, tsa_key, policy, serial, when, accuracy_seconds, include_tsa_name)


@dataclass(frozen=True)
class _Fixed:
    """The parts of every token that depend only on the TSA certificate, chain and key: encoded
    once, spliced into each token. Re-encoding them per token with asn1crypto cost ~10 ms."""

    digest_alg: bytes  # AlgorithmIdentifier
    sid: bytes  # IssuerAndSerialNumber
    signature_alg: bytes  # AlgorithmIdentifier
    certificates: bytes  # [0] IMPLICIT CertificateSet, TSA certificate first
    ess_attr: bytes  # the signing-certificate-v2 Attribute
    content_type_attr: bytes
    tsa_name: bytes  # [0] EXPLICIT GeneralName for TSTInfo.tsa
    hash_name: str


@functools.lru_cache(maxsize=16)
def _fixed_parts(
    cert_der: bytes, chain_der: tuple[bytes, ...], alg_name: str, hash_name: str
) -> _Fixed:
    a_cert = a_x509.Certificate.load(cert_der)
    ess = cms.CMSAttribute(
        {
            "type": "signing_certificate_v2",
            "values": [
                {
                    "certs": [
                        {
                            # hash_algorithm left at its DEFAULT, SHA-256 (RFC 5816)
                            "cert_hash": hashlib.sha256(cert_der).digest(),
                            "issuer_serial": {
                                "issuer": [
                                    a_x509.GeneralName(name="directory_name", value=a_cert.issuer)
                                ],
                                "serial_number": a_cert.serial_number,
                            },
                        }
                    ]
                }
            ],
        }
    ).dump()
    sid = cms.IssuerAndSerialNumber(
        {"issuer": a_cert.issuer, "serial_number": a_cert.serial_number}
    ).dump()
    sig_alg = cms.SignedDigestAlgorithm(
        _SIGNATURE_ALGORITHMS[(alg_name.split("-")[0], hash_name)]
    ).dump()
    certs = b"".join((cert_der, *chain_der))
    return _Fixed(
        digest_alg=algos.DigestAlgorithm(
            {"algorithm": _DIGEST_OIDS.get(hash_name, hash_name)}
        ).dump(),
        sid=sid,
        signature_alg=sig_alg,
        certificates=bytes([0xA0]) + der.length(len(certs)) + certs,
        ess_attr=ess,
        content_type_attr=cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}).dump(),
        tsa_name=der.tlv(
            0xA0, a_x509.GeneralName(name="directory_name", value=a_cert.subject).dump()
        ),
        hash_name=hash_name,
    )


_SIGNATURE_ALGORITHMS = {
    ("ec", "sha256"): {"algorithm": "sha256_ecdsa"},
    ("ec", "sha384"): {"algorithm": "sha384_ecdsa"},
    ("rsa", "sha256"): {"algorithm": "sha256_rsa"},
    ("rsa", "sha384"): {"algorithm": "sha384_rsa"},
    ("sm2", "sm3"): {"algorithm": OID_SM3_WITH_SM2},  # as OpenSSL's CMS writes SM2 (GM/T 0010)
}
_DIGEST_OIDS = {"sm3": OID_SM3}  # hash names asn1crypto does not know


def _digest(hash_name: str, data: bytes) -> bytes:
    """``hashlib`` by name, SM3 through ``sm2.sm3`` (not every hashlib build has it)."""
    return sm3(data) if hash_name == "sm3" else hashlib.new(hash_name, data).digest()


def _gtime(t: dt.datetime) -> bytes:
    """GeneralizedTime in UTC with fractions only when there are any (DER, RFC 3161 §2.4.2)."""
    text = t.strftime("%Y%m%d%H%M%S")
    if t.microsecond:
        text += "." + f"{t.microsecond:06d}".rstrip("0")
    return der.tlv(der.GENERALIZED_TIME, (text + "Z").encode())


def _assemble(
    req: TimestampRequest,
    f: _Fixed,
    key: KeyHandle,
    policy: str,
    serial: int,
    when: dt.datetime,
    accuracy_seconds: float,
    include_tsa_name: bool,
) -> bytes:
    acc = _accuracy(accuracy_seconds)
    accuracy = der.seq(
        der.integer(acc["seconds"]) if "seconds" in acc else b"",
        der.tlv(0x80, der.integer(acc["millis"])[2:]) if "millis" in acc else b"",
    )
    tst = der.seq(
        der.integer(1),
        der.oid(policy),
        req.message_imprint,
        der.integer(serial),
        _gtime(when),
        accuracy,
        # ordering is FALSE, its DEFAULT, so DER leaves it out
        der.integer(req.nonce) if req.nonce is not None else b"",
        f.tsa_name if include_tsa_name else b"",
    )
    utc = when.replace(microsecond=0)
    signing_time = (
        der.tlv(0x17, utc.strftime("%y%m%d%H%M%SZ").encode())
        if 1950 <= utc.year < 2050
        else _gtime(utc)
    )
    attrs = [
        f.content_type_attr,
        der.seq(der.oid("1.2.840.113549.1.9.5"), der.set_of(signing_time)),
        der.seq(
            der.oid("1.2.840.113549.1.9.4"),
            der.set_of(der.octet_string(_digest(f.hash_name, tst))),
        ),
        f.ess_attr,
    ]
    # The signature covers the attributes as a DER SET OF (sorted); inside SignerInfo the same
    # contents carry the [0] IMPLICIT tag.
    attr_set = der.set_of(*attrs)
    signature = key.sign(attr_set, key.algorithm.hash)
    signer = der.seq(
        der.integer(1),
        f.sid,
        f.digest_alg,
        b"\xa0" + attr_set[1:],
        f.signature_alg,
        der.octet_string(signature),
    )
    signed_data = der.seq(
        der.integer(3),  # eContentType is not id-data (RFC 5652 §5.1)
        der.set_of(f.digest_alg),
        der.seq(der.oid("1.2.840.113549.1.9.16.1.4"), der.tlv(0xA0, der.octet_string(tst))),
        f.certificates if req.cert_req else b"",
        der.set_of(signer),
    )
    token = der.seq(der.oid("1.2.840.113549.1.7.2"), der.tlv(0xA0, signed_data))
    return der.seq(der.seq(der.integer(0)), token)


def respond(
    der: bytes,
    *,
    tsa_cert: x509.Certificate,
    tsa_key: KeyHandle,
    chain: Sequence[x509.Certificate],
    serial: int | Callable[[], int],
    gen_time: dt.datetime,
    policy_oid: str | x509.ObjectIdentifier = TSA_POLICY_OID,
    accuracy_seconds: float = 1,
) -> bytes:
    """Request bytes in, TimeStampResp bytes out, whatever the bytes: the HTTP handler's call.

    Client faults become their RFC 3161 rejection; our own faults (a broken key, a token that
    cannot be signed) become systemFailure and are logged, never shown to the client. ``serial``
    may be a callable so that a counter is only advanced for requests that will be granted.
    """
    try:
        req = parse_request(der, policies=[policy_oid])
        return build_response(
            req,
            tsa_cert=tsa_cert,
            tsa_key=tsa_key,
            chain=chain,
            serial=serial() if callable(serial) else serial,
            gen_time=gen_time,
            policy_oid=policy_oid,
            accuracy_seconds=accuracy_seconds,
        )
    except TsaError as exc:
        return exc.response()
    except Exception:
        log.exception("time-stamp request failed")
        return rejection("rejection", "system_failure", "the time-stamp service failed")
