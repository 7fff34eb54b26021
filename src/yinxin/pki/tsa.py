"""Time-stamp authority (RFC 3161, with RFC 5816's ESSCertIDv2): read requests, grant tokens,
refuse with the failure codes clients understand.

The token is CMS SignedData over a TSTInfo. It is assembled with asn1crypto and signed the one
way every ``KeyHandle`` can sign: the DER of the signed attributes as a SET OF (RFC 5652 §5.4)
goes to ``tsa_key.sign``, so a key inside an HSM needs no separate path. The signed attributes
are content-type, message-digest, signing-time and signing-certificate-v2 (ESSCertIDv2 with
SHA-256, RFC 5816), which is what OpenSSL's ``ts -verify`` and pyHanko look for to bind the
token to the TSA certificate.

Refusals follow RFC 3161 §2.4.2: SHA-1 and unknown imprint algorithms → badAlg; an imprint
whose length does not fit its algorithm, or bytes that do not parse → badDataFormat; a policy we
do not run → unacceptedPolicy; any request extension → unacceptedExtension (we support none).
``respond`` wraps it all so that no input makes an exception escape.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from asn1crypto import cms, core, tsp
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from yinxin.errors import ConfigurationError, ValidationError, YinxinError
from yinxin.pki.keys import KeyHandle
from yinxin.pki.profiles import TSA_POLICY_OID

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
    message_imprint: bytes  # the request's MessageImprint DER, copied into TSTInfo as is


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
        version = req["version"].native
        imprint = req["message_imprint"]
        alg = imprint["hash_algorithm"]["algorithm"].native
        digest = bytes(imprint["hashed_message"].native)
        policy = req["req_policy"].native
        nonce = req["nonce"].native
        cert_req = bool(req["cert_req"].native)
        has_extensions = bool(req["extensions"].native)
        imprint_der = imprint.dump()
    except Exception as exc:  # anything unparsable in untrusted bytes
        raise TsaError("bad_data_format", f"not a TimeStampReq ({type(exc).__name__})") from None
    if version != "v1":
        raise TsaError("bad_data_format", f"TimeStampReq version {version} is not v1")
    if alg not in ACCEPTED_HASHES:
        raise TsaError(
            "bad_alg",
            f"hash algorithm {alg} is not accepted; use one of {', '.join(ACCEPTED_HASHES)}",
        )
    if len(digest) != ACCEPTED_HASHES[alg]:
        raise TsaError(
            "bad_data_format", f"a {alg} digest is {ACCEPTED_HASHES[alg]} octets, not {len(digest)}"
        )
    if policy is not None and policy not in _policies(policies):
        raise TsaError("unaccepted_policy", f"policy {policy} is not offered by this TSA")
    if has_extensions:
        raise TsaError("unaccepted_extensions", "this TSA supports no request extensions")
    return TimestampRequest(alg, digest, policy, nonce, cert_req, imprint_der)


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


def _spki(public_key) -> bytes:
    return public_key.public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _signature_algorithm(key: KeyHandle) -> dict:
    h = key.algorithm.hash.name  # "sha256" / "sha384"
    if key.algorithm.family == "ec":
        return {"algorithm": f"{h}_ecdsa"}  # RFC 5758: parameters absent
    return {"algorithm": f"{h}_rsa", "parameters": core.Null()}


def _gen_time(gen_time: dt.datetime, accuracy_seconds: float) -> dt.datetime:
    if gen_time.tzinfo is None:
        raise ValidationError("gen_time must carry a time zone", field="gen_time")
    t = gen_time.astimezone(dt.UTC)
    if accuracy_seconds >= 1:
        return t.replace(microsecond=0)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)  # milliseconds


def _cms_time(t: dt.datetime) -> cms.Time:
    """RFC 5652 §11.3: UTCTime through 2049, GeneralizedTime after."""
    if 1950 <= t.year < 2050:
        return cms.Time(name="utc_time", value=t.replace(microsecond=0))
    return cms.Time(name="generalized_time", value=t.replace(microsecond=0))


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
    if _spki(tsa_key.public_key()) != _spki(tsa_cert.public_key()):
        raise ConfigurationError(f"key {tsa_key.label!r} does not belong to the TSA certificate")

    when = _gen_time(gen_time, accuracy_seconds)
    cert_der = tsa_cert.public_bytes(DER)
    a_cert = a_x509.Certificate.load(cert_der)
    tst: dict = {
        "version": "v1",
        "policy": policy,
        "message_imprint": tsp.MessageImprint.load(req.message_imprint),
        "serial_number": serial,
        "gen_time": when,
        "accuracy": _accuracy(accuracy_seconds),
        # ordering is FALSE, its DEFAULT, so DER leaves it out
    }
    if req.nonce is not None:
        tst["nonce"] = req.nonce
    if include_tsa_name:
        tst["tsa"] = a_x509.GeneralName(name="directory_name", value=a_cert.subject)
    tst_der = tsp.TSTInfo(tst).dump()

    hash_name = tsa_key.algorithm.hash.name
    signed_attrs = cms.CMSAttributes(
        [
            {"type": "content_type", "values": ["tst_info"]},
            {"type": "signing_time", "values": [_cms_time(when)]},
            {"type": "message_digest", "values": [hashlib.new(hash_name, tst_der).digest()]},
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
                                        a_x509.GeneralName(
                                            name="directory_name", value=a_cert.issuer
                                        )
                                    ],
                                    "serial_number": a_cert.serial_number,
                                },
                            }
                        ]
                    }
                ],
            },
        ]
    )
    # The signature covers the attributes encoded as SET OF (tag 0x31), which asn1crypto
    # produces DER-sorted; inside SignerInfo the same contents carry the [0] IMPLICIT tag.
    signature = tsa_key.sign(signed_attrs.dump(), tsa_key.algorithm.hash)
    signer = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number",
                value={"issuer": a_cert.issuer, "serial_number": a_cert.serial_number},
            ),
            "digest_algorithm": {"algorithm": hash_name},
            "signed_attrs": signed_attrs,
            "signature_algorithm": _signature_algorithm(tsa_key),
            "signature": signature,
        }
    )
    signed_data: dict = {
        "version": "v3",  # eContentType is not id-data (RFC 5652 §5.1)
        "digest_algorithms": [{"algorithm": hash_name}],
        "encap_content_info": {
            "content_type": "tst_info",
            "content": core.ParsableOctetString(tst_der),
        },
        "signer_infos": [signer],
    }
    if req.cert_req:
        signed_data["certificates"] = [a_cert] + [
            a_x509.Certificate.load(c.public_bytes(DER)) for c in chain
        ]
    token = cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})
    return TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()


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
