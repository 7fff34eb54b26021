"""OCSP (RFC 6960, profiled by RFC 5019/9919): read requests, sign responses as a delegated
responder, and say no in the ways the RFCs allow.

Decisions worth knowing before reading the code:

* **CertID hash algorithms** we answer for are SHA-1 (older clients), SHA-256, SHA-384 and
  SHA-512. Any other algorithm gets ``malformedRequest``: without computing the hash we cannot
  tell whose certificate is meant, and that is what the widely deployed Go responders (cfssl,
  Boulder; ``x/crypto/ocsp`` refuses to parse such requests) answer. A signed ``unknown`` would
  not help the client either.
* **A CertID for another issuer** (``matches_issuer`` is false) gets ``unauthorized``, not a
  signed ``unknown``: our responder certificate is delegated by *one* CA, so a response it
  signs about another CA's certificate is one no client may accept, and RFC 5019 §2.2.3 /
  RFC 9919 §2.2.3 say a responder without authoritative records MUST answer ``unauthorized``.
  It is also unsigned, so answering junk requests costs no signature.
* **A negative serial number** gets ``malformedRequest``: RFC 5280 §4.1.2.2 serials are
  positive, none of ours is negative, and a signed response cannot echo it (``cryptography``'s
  builder refuses negative integers). Zero is answered ``unknown`` like any serial we lack.
* **Nonce** (RFC 9654 §2.1, which obsoletes RFC 8954's 1..32): ``Nonce ::= OCTET STRING
  (SIZE(1..128))``; one outside that is a malformed request, one of 33 to 128 octets (some
  environments make longer nonces, the reason RFC 9654 was written) is echoed like any other.
  A request with a nonce needs a freshly signed response; one without can be served a
  pre-signed response cached by (serial, status version, CertID hash algorithm).
* **A nonce not wrapped in an OCTET STRING** (the raw bytes as extnValue, as OpenSSL wrote it
  before 0.9.7d and as RFC 2560's "the extnValue is the value of the nonce" could be read) is
  ``malformedRequest``, as is an extnValue with bytes after its OCTET STRING. RFC 9654 §2.1 (as
  RFC 8954 before it) settles the encoding: extnValue holds the DER of ``Nonce ::= OCTET
  STRING``, so such a request does not conform, which is what malformedRequest says (RFC 6960
  §2.3). Accepting it would not help the client either: OpenSSL's responder copies the request's
  extension verbatim (``OCSP_copy_nonce``) and its client compares the two extnValues byte for
  byte (``OCSP_check_nonce``), so the only answer such a client takes is our signature over
  bytes that are not a Nonce, which ``with_nonce`` (it writes the wrapped form) cannot splice
  into a pre-signed response and linters flag; reading the wrapped part and dropping the rest
  (as this module did) echoed a different extnValue, which that check refuses. Raw bytes that
  happen to be one whole DER OCTET STRING cannot be told from a wrapped nonce and are read as
  one; the echo is then the very bytes sent.
* **An extension twice** in ``requestExtensions`` or in one ``singleRequestExtensions`` (same
  OID, whatever its values) gets ``malformedRequest``: RFC 5280 §4.2 allows each extension at
  most once per list, and with two nonces which one to echo would be a guess. So does a second
  ``requestExtensions``, or any element out of order or not of its SEQUENCE (OCSPRequest,
  TBSRequest, Request, CertID): asn1crypto keeps such an element unread (``_all_placed``).

Responses are made and signed by ``cryptography``'s ``OCSPResponseBuilder``, with the key in the
process or in an HSM alike (``keys.builder_key``). The builder holds one SingleResponse only
(``add_response`` raises "Only one response per OCSPResponse." in cryptography 50), so a request
with several CertIDs is the one case put together here: see ``_join``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from asn1crypto import core as a_core
from asn1crypto import keys as a_keys
from asn1crypto import ocsp as a_ocsp
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from yinxin.clock import whole_utc
from yinxin.errors import ConfigurationError, ValidationError, YinxinError
from yinxin.pki import der, sm2_x509
from yinxin.pki.crl import REASON_FLAGS, reason_code
from yinxin.pki.keys import KeyHandle, builder_key, layout_key
from yinxin.pki.sm2 import OID_SM3_WITH_SM2

DER = serialization.Encoding.DER

# CertID hash algorithms we compute issuer hashes with (asn1crypto names).
CERT_ID_HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha1": hashes.SHA1(),
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}
MAX_CERT_IDS = 16  # RFC 5019 clients send one; a cap keeps one request from costing much more
MAX_NONCE = 128  # RFC 9654 §2.1

# Our error codes → OCSPResponseStatus (RFC 6960 §4.2.1). The camelCase RFC names work too.
ERROR_STATUSES: dict[str, int] = {
    "malformed_request": 1,
    "internal_error": 2,
    "try_later": 3,
    "sig_required": 5,
    "unauthorized": 6,
}
_RFC_NAMES = {
    "malformedRequest": "malformed_request",
    "internalError": "internal_error",
    "tryLater": "try_later",
    "sigRequired": "sig_required",
    "unauthorized": "unauthorized",
}


class OcspError(YinxinError):
    """A request answered with an unsigned OCSP error; ``code`` is a key of ERROR_STATUSES.

    The HTTP handler should send ``response()`` as application/ocsp-response with status 200:
    OCSP clients read the error from the body, not from the HTTP status.
    """

    def __init__(self, code: str, message: str | None = None):
        if code not in ERROR_STATUSES:
            raise ValueError(f"not an OCSP error status: {code!r}")
        super().__init__(message or code.replace("_", " "), code=code)

    def response(self) -> bytes:
        return error_response(self.code)


@dataclass(frozen=True, slots=True)
class CertId:
    """One certificate asked about. ``nonce`` is the request's (the same on every CertId)."""

    hash_algorithm: str
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial: int
    nonce: bytes | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """An OCSPResponse (``der``) with what an HTTP answer says of it to caches (RFC 5019 §6.2):
    the thisUpdate and nextUpdate of its statuses (``None``: an unsigned error status, which
    no cache should keep) and whether it echoes a nonce (an answer to one request only)."""

    der: bytes
    this_update: dt.datetime | None = None
    next_update: dt.datetime | None = None
    nonce: bool = False


@dataclass(frozen=True, slots=True)
class SingleStatus:
    serial: int
    status: Literal["good", "revoked", "unknown"]
    revoked_at: dt.datetime | None = None
    reason: str | None = None


def _malformed(why: str) -> OcspError:
    return OcspError("malformed_request", f"malformed OCSP request: {why}")


def parse_request(der: bytes) -> list[CertId]:
    """The CertIDs of a DER OCSPRequest; any fault raises ``OcspError("malformed_request")``.

    A request signature, if any, is ignored (RFC 5019 §2.1.2 allows it: we answer anyone).
    """
    try:
        req = a_ocsp.OCSPRequest.load(der, strict=True)
        tbs = req["tbs_request"]
        _all_placed(req, tbs)
        nonce = None
        _no_repeats(tbs["request_extensions"])
        for ext in tbs["request_extensions"] or []:
            name = ext["extn_id"].native
            if name == "nonce":
                nonce = _nonce(ext)
                if not 1 <= len(nonce) <= MAX_NONCE:
                    raise _malformed(f"nonce must be 1 to {MAX_NONCE} octets (RFC 9654)")
            elif ext["critical"].native:
                raise _malformed(f"unsupported critical extension {name}")
        items = tbs["request_list"]
        if not 1 <= len(items) <= MAX_CERT_IDS:
            raise _malformed(f"between 1 and {MAX_CERT_IDS} certificates may be asked about")
        out = []
        for item in items:
            _no_repeats(item["single_request_extensions"])
            for ext in item["single_request_extensions"] or []:
                if ext["critical"].native:
                    raise _malformed(f"unsupported critical extension {ext['extn_id'].native}")
            cid = item["req_cert"]
            _all_placed(item, cid)
            alg = cid["hash_algorithm"]["algorithm"].native
            if alg not in CERT_ID_HASHES:
                raise _malformed(f"CertID hash algorithm {alg} is not supported")
            name_hash = bytes(cid["issuer_name_hash"].native)
            key_hash = bytes(cid["issuer_key_hash"].native)
            size = CERT_ID_HASHES[alg].digest_size
            if len(name_hash) != size or len(key_hash) != size:
                raise _malformed(f"issuer hashes are not {alg} digests")
            if not cid["serial_number"].contents:
                # X.690 §8.3.1: asn1crypto reads it as 0, and the CertID echoed (02 01 00)
                # would not be the one asked about
                raise _malformed("the serial number is an INTEGER of no octets")
            serial = int(cid["serial_number"].native)
            if serial < 0:
                # no certificate of ours has one (RFC 5280 §4.1.2.2), and the builder cannot
                # echo it: refused here rather than failing as internalError when signing
                raise _malformed("the serial number is negative")
            out.append(CertId(alg, name_hash, key_hash, serial, nonce))
        return out
    except OcspError:
        raise
    except Exception as exc:  # any parse failure of untrusted bytes is the client's fault
        raise _malformed(type(exc).__name__) from None


def _all_placed(*values: a_core.Sequence) -> None:
    """Refuse a SEQUENCE holding more elements than its type has: asn1crypto places fields in
    order and keeps the rest (a field out of order, a second requestExtensions with another
    nonce, an element the type has not) as unread extras, without an error even under
    ``strict``, and the request was answered as if they were not there. Counting the children
    asn1crypto has already read costs next to nothing (``der.stray_elements`` would walk every
    field: as long again as the whole parse, on the responder's hot path)."""
    for value in values:
        if len(value) > len(value._fields):
            raise _malformed(f"an element out of order or not of {type(value).__name__}")


def _nonce(ext) -> bytes:
    """The nonce of a nonce extension: its extnValue must hold the DER of one ``Nonce ::=
    OCTET STRING`` and nothing after it (RFC 9654 §2.1). Anything else — a raw nonce with no
    OCTET STRING around it, or bytes after one — is malformed: see the module docstring."""
    buf = ext.dump()
    try:  # extnValue, the extension's last element, read without asn1crypto's lenient parse
        _, c0, c1 = der.read(buf, 0)
        _, _, v0, v1 = der.children(buf, c0, c1)[-1]
        return bytes(a_core.OctetString.load(buf[v0:v1], strict=True).native)
    except ValueError:
        raise _malformed("the nonce is not one DER OCTET STRING (RFC 9654)") from None


def _no_repeats(extensions) -> None:
    """RFC 5280 §4.2: an extension appears at most once in one Extensions list."""
    seen: set[str] = set()
    for ext in extensions or []:
        oid = ext["extn_id"].dotted
        if oid in seen:
            raise _malformed(f"extension {ext['extn_id'].native} appears more than once")
        seen.add(oid)


def _key_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's value, which OCSP hashes for key hashes."""
    bits = a_keys.PublicKeyInfo.load(sm2_x509.cert_spki(cert))["public_key"]
    return bits.contents[1:]  # after the unused-bits octet


@functools.lru_cache(maxsize=64)
def issuer_hashes(issuer_cert: x509.Certificate, hash_algorithm: str) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of a CA for one CertID hash algorithm (RFC 6960 §4.1.1)."""
    name_hash = hashlib.new(hash_algorithm, issuer_cert.subject.public_bytes()).digest()
    key_hash = hashlib.new(hash_algorithm, _key_bits(issuer_cert)).digest()
    return name_hash, key_hash


def cacheable(cert_ids: Sequence[CertId]) -> bool:
    """Whether a pre-signed response may answer this request: one CertID and no nonce.

    Such a response depends only on (serial, status version, CertID hash algorithm), so the
    service can key its cache on that and skip signing.
    """
    return len(cert_ids) == 1 and cert_ids[0].nonce is None


def matches_issuer(cert_id: CertId, issuer_cert: x509.Certificate) -> bool:
    """Whether ``cert_id`` names ``issuer_cert``. When false, answer ``unauthorized``."""
    if cert_id.hash_algorithm not in CERT_ID_HASHES:
        return False
    name_hash, key_hash = issuer_hashes(issuer_cert, cert_id.hash_algorithm)
    return hmac.compare_digest(name_hash, cert_id.issuer_name_hash) and hmac.compare_digest(
        key_hash, cert_id.issuer_key_hash
    )


def error_response(status: str) -> bytes:
    """An unsigned OCSPResponse carrying only an error status (malformed_request, internal_error,
    try_later, sig_required, unauthorized, or the RFC's camelCase names)."""
    code = ERROR_STATUSES.get(_RFC_NAMES.get(status, status))
    if code is None:
        raise ValueError(f"not an OCSP error status: {status!r}")
    # OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED } with no responseBytes
    return bytes((0x30, 0x03, 0x0A, 0x01, code))


_STATUS = {
    "good": ocsp.OCSPCertStatus.GOOD,
    "revoked": ocsp.OCSPCertStatus.REVOKED,
    "unknown": ocsp.OCSPCertStatus.UNKNOWN,
}


@dataclass(frozen=True)
class _Frame:
    """What every SingleResponse of one response and the ResponseData around them share,
    whichever writer lays them out (``cryptography``'s builder, or asn1crypto for SM2)."""

    responder_cert: x509.Certificate
    name_hash: bytes
    key_hash: bytes
    algorithm: hashes.HashAlgorithm
    this_update: dt.datetime
    next_update: dt.datetime
    nonce: bytes | None


def _revoked_at(s: SingleStatus) -> dt.datetime | None:
    """``s``'s revocation time (``None`` when it is not revoked), after the checks both writers
    make: a known status, and a time for a revoked one."""
    if s.status not in _STATUS:
        raise ValidationError(f"unknown certificate status {s.status!r}", field="status")
    if s.status != "revoked":
        return None
    if s.revoked_at is None:
        raise ValidationError("a revoked status needs revoked_at", field="revoked_at")
    return whole_utc(s.revoked_at, "revoked_at")


def _draft(s: SingleStatus, f: _Frame) -> ocsp.OCSPResponseBuilder:
    revoked_at = _revoked_at(s)
    reason = None
    if revoked_at is not None and reason_code(s.reason) is not None:
        # as in the CRL, "unspecified" is left out rather than written
        reason = REASON_FLAGS[s.reason]
    b = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=f.name_hash,
            issuer_key_hash=f.key_hash,
            serial_number=s.serial,
            algorithm=f.algorithm,
            cert_status=_STATUS[s.status],
            this_update=f.this_update,
            next_update=f.next_update,
            revocation_time=revoked_at,
            revocation_reason=reason,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, f.responder_cert)
        .certificates([f.responder_cert])
    )
    if f.nonce is not None:
        b = b.add_extension(x509.OCSPNonce(f.nonce), critical=False)
    return b


def build_response(
    *,
    responder_cert: x509.Certificate,
    responder_key: KeyHandle,
    issuer_cert: x509.Certificate,
    single: Sequence[SingleStatus],
    this_update: dt.datetime,
    next_update: dt.datetime,
    nonce: bytes | None,
    request_hash_alg: str,
) -> bytes:
    """A successful OCSPResponse (DER) signed by the delegated responder.

    CertIDs are echoed with ``request_hash_alg`` and ``issuer_cert``'s hashes (check
    ``matches_issuer`` first), the responder is identified by key hash, its certificate is
    included, and ``nonce`` is echoed when given. For caching, call it with one status and no
    nonce: the bytes are valid for every nonce-less request for that serial and hash algorithm.
    """
    if not single:
        raise ValidationError("an OCSP response needs at least one status", field="single")
    if request_hash_alg not in CERT_ID_HASHES:
        raise ValidationError(
            f"CertID hash algorithm {request_hash_alg!r} is not supported", field="hash"
        )
    if responder_cert.issuer != issuer_cert.subject and responder_cert != issuer_cert:
        raise ConfigurationError("the OCSP responder certificate is not from this issuer")
    if der.spki(responder_key.public_key()) != sm2_x509.cert_spki(responder_cert):
        raise ConfigurationError(
            f"key {responder_key.label!r} does not belong to the OCSP responder certificate"
        )
    this_update = whole_utc(this_update, "this_update")
    next_update = whole_utc(next_update, "next_update")
    if next_update <= this_update:
        raise ValidationError("next_update must be later than this_update", field="next_update")

    name_hash, key_hash = issuer_hashes(issuer_cert, request_hash_alg)
    frame = _Frame(
        responder_cert=responder_cert,
        name_hash=name_hash,
        key_hash=key_hash,
        algorithm=CERT_ID_HASHES[request_hash_alg],
        this_update=this_update,
        next_update=next_update,
        nonce=nonce,
    )
    alg = responder_key.algorithm
    if alg.family == "sm2":
        return _sm2_response(single, responder_key, request_hash_alg, frame)
    if len(single) == 1:
        b = _draft(single[0], frame)
        return b.sign(builder_key(responder_key), alg.hash).public_bytes(DER)
    return _join([_draft(s, frame) for s in single], responder_key)


def _sm2_response(
    single: Sequence[SingleStatus], key: KeyHandle, hash_name: str, f: _Frame
) -> bytes:
    """The response ``build_response`` makes, signed SM3withSM2 by an SM2 responder.

    ``cryptography``'s builder reads the responder certificate's public key (for the
    responder ID), which it cannot for SM2, so the ResponseData is written with asn1crypto:
    the same fields the builder writes (responder ID by key hash, the CertIDs echoed,
    producedAt = thisUpdate, the nonce), several SingleResponses in one response as ``_join``
    does. ``with_nonce`` re-signs these like any other template.
    """
    responses = []
    for s in single:
        revoked_at = _revoked_at(s)
        if revoked_at is not None:
            info: dict = {"revocation_time": revoked_at}
            if reason_code(s.reason) is not None:  # "unspecified" left out, as in the CRL
                info["revocation_reason"] = s.reason
            status = a_ocsp.CertStatus(name="revoked", value=info)
        else:
            status = a_ocsp.CertStatus(name=s.status, value=None)
        responses.append(
            {
                "cert_id": {
                    "hash_algorithm": {"algorithm": hash_name},
                    "issuer_name_hash": f.name_hash,
                    "issuer_key_hash": f.key_hash,
                    "serial_number": s.serial,
                },
                "cert_status": status,
                "this_update": f.this_update,
                "next_update": f.next_update,
            }
        )
    data: dict = {
        "responder_id": a_ocsp.ResponderId(
            name="by_key", value=hashlib.sha1(_key_bits(f.responder_cert)).digest()
        ),
        "produced_at": f.this_update,
        "responses": responses,
    }
    if f.nonce is not None:
        data["response_extensions"] = [{"extn_id": "nonce", "extn_value": f.nonce}]
    tbs = a_ocsp.ResponseData(data)
    tbs_der = tbs.dump()
    basic = a_ocsp.BasicOCSPResponse(
        {
            "tbs_response_data": tbs,
            "signature_algorithm": {"algorithm": OID_SM3_WITH_SM2},
            "signature": key.sign(tbs_der, key.algorithm.hash),
            "certs": [a_x509.Certificate.load(f.responder_cert.public_bytes(DER))],
        }
    )
    return _successful(basic)


def _join(drafts: Sequence[ocsp.OCSPResponseBuilder], key: KeyHandle) -> bytes:
    """One response carrying every draft's SingleResponse, signed once by ``key``.

    ``OCSPResponseBuilder`` takes one SingleResponse, so each is laid out by its own builder
    ("signed" by ``keys.layout_key``, which makes no private-key operation) and the first
    draft's ResponseData gets them all; everything else in it (responder ID, producedAt, nonce,
    certificates, signature algorithm) is the builder's. Drop this when the builder accepts
    several SingleResponses.
    """
    alg = key.algorithm
    layout = layout_key(key.public_key())
    parsed = [
        a_ocsp.OCSPResponse.load(d.sign(layout, alg.hash).public_bytes(DER))["response_bytes"][
            "response"
        ].parsed
        for d in drafts
    ]
    first = parsed[0]
    tbs = first["tbs_response_data"].copy()
    tbs["responses"] = a_ocsp.Responses(
        [p["tbs_response_data"]["responses"][0].copy() for p in parsed]
    )
    tbs_der = tbs.dump(force=True)
    basic = a_ocsp.BasicOCSPResponse(
        {
            "tbs_response_data": a_ocsp.ResponseData.load(tbs_der),
            "signature_algorithm": first["signature_algorithm"],
            "signature": key.sign(tbs_der, alg.hash),
            "certs": first["certs"],
        }
    )
    return _successful(basic)


def _successful(basic: a_ocsp.BasicOCSPResponse) -> bytes:
    """The DER OCSPResponse carrying ``basic`` with status ``successful``."""
    return a_ocsp.OCSPResponse(
        {
            "response_status": "successful",
            "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
        }
    ).dump()


_NONCE_OID = "1.3.6.1.5.5.7.48.1.2"


def with_nonce(template: bytes, nonce: bytes, produced_at: dt.datetime, key: KeyHandle) -> bytes:
    """A fresh response for a request with a nonce, from a pre-signed one without.

    ``template`` is a successful OCSPResponse made by ``build_response`` for the same CertID
    (one status, no nonce). Its responder ID, SingleResponses, signature algorithm and
    certificates are kept byte for byte; producedAt and the nonce extension are new, and the
    to-be-signed bytes are signed again with ``key`` (in the process or in an HSM). Splicing
    DER costs a few microseconds where re-running the builder cost ~130 µs per request.
    """
    from yinxin.pki import der

    produced_at = whole_utc(produced_at, "produced_at")
    buf = memoryview(template)
    # OCSPResponse ::= SEQUENCE { responseStatus, responseBytes [0] EXPLICIT SEQUENCE {
    #   responseType, response OCTET STRING (BasicOCSPResponse) } }
    _, c0, c1 = der.read(buf, 0)
    status, rbytes = der.children(buf, c0, c1)
    _, rb0, rb1 = der.read(buf, rbytes[2])
    rtype, response = der.children(buf, rb0, rb1)
    basic = bytes(buf[response[2] : response[3]])
    b = memoryview(basic)
    _, b0, b1 = der.read(b, 0)
    parts = der.children(b, b0, b1)  # tbsResponseData, signatureAlgorithm, signature, [0] certs
    tbs, sigalg = parts[0], parts[1]
    certs = bytes(b[parts[3][1] : parts[3][3]]) if len(parts) > 3 else b""
    fields = der.children(b, tbs[2], tbs[3])
    # ResponseData ::= SEQUENCE { [0] version (absent: v1), responderID, producedAt,
    #   responses, [1] responseExtensions (absent in the template) }
    if fields[0][0] == 0xA0:
        fields = fields[1:]
    responder_id, responses = fields[0], fields[2]
    ext = der.seq(der.seq(der.oid(_NONCE_OID), der.octet_string(der.octet_string(nonce))))
    new_tbs = der.seq(
        bytes(b[responder_id[1] : responder_id[3]]),
        der.tlv(der.GENERALIZED_TIME, produced_at.strftime("%Y%m%d%H%M%SZ").encode()),
        bytes(b[responses[1] : responses[3]]),
        der.tlv(0xA1, ext),
    )
    signature = key.sign(new_tbs, key.algorithm.hash)
    new_basic = der.seq(
        new_tbs, bytes(b[sigalg[1] : sigalg[3]]), der.tlv(0x03, b"\x00" + signature), certs
    )
    return der.seq(
        bytes(buf[status[1] : status[3]]),
        der.tlv(0xA0, der.seq(bytes(buf[rtype[1] : rtype[3]]), der.octet_string(new_basic))),
    )
