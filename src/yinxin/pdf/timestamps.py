"""RFC 3161 timestamps for signatures: the ``Timestamper`` seam and the checks on its replies.

A ``Timestamper`` is any callable taking a DER ``TimeStampReq`` and returning a DER
``TimeStampResp``: our own TSA called in-process, or a remote one over HTTP. Keeping the seam
at raw bytes means the signing code neither knows nor cares where the TSA lives, and tests can
plug in a local responder. Replies are checked (status, message imprint, nonce) before they go
into a signature, because a token for the wrong imprint would make the signature unverifiable
and nobody would notice until a court case.
"""

from __future__ import annotations

import os
from typing import Protocol

from asn1crypto import tsp

from yinxin.errors import ValidationError
from yinxin.pki import der

HASH_OIDS = {
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
}
_ALG_ID = {name: der.seq(der.oid(dotted)) for name, dotted in HASH_OIDS.items()}
_TRUE = b"\x01\x01\xff"


class Timestamper(Protocol):
    """RFC 3161 bytes in, bytes out — our TSA in-process or over HTTP."""

    def __call__(self, request_der: bytes) -> bytes: ...


class TimestampError(ValidationError):
    """The TSA refused, failed, or answered something that does not fit the request."""

    code = "timestamp_failed"


def build_request(digest: bytes, hash_name: str) -> tuple[bytes, int]:
    """A ``TimeStampReq`` asking for the TSA's certificate, with a fresh 63-bit nonce."""
    nonce = int.from_bytes(os.urandom(8), "big") >> 1 or 1
    imprint = der.seq(_ALG_ID[hash_name], der.octet_string(digest))
    return der.seq(der.integer(1), imprint, der.integer(nonce), _TRUE), nonce


def token_from_response(response: bytes, digest: bytes, hash_name: str, nonce: int) -> bytes:
    """Check a ``TimeStampResp`` against the request; return the token (a CMS ContentInfo)."""
    try:
        return _token_from_response(memoryview(response), digest, hash_name, nonce)
    except (ValueError, IndexError) as exc:
        raise TimestampError(
            f"the timestamp reply is not a valid RFC 3161 response ({exc})", field="timestamper"
        ) from None


def _token_from_response(buf: memoryview, digest: bytes, hash_name: str, nonce: int) -> bytes:
    tag, c0, c1 = der.read(buf, 0)
    if tag != der.SEQUENCE or c1 != len(buf):
        raise ValueError("not a single DER SEQUENCE")
    parts = der.children(buf, c0, c1)
    status_tag, _, s0, s1 = parts[0]
    status_fields = der.children(buf, s0, s1)
    status = int.from_bytes(buf[status_fields[0][2] : status_fields[0][3]], "big")
    if status not in (0, 1):  # granted, grantedWithMods
        text = ""
        try:
            info = tsp.PKIStatusInfo.load(bytes(buf[parts[0][1] : s1]))
            text = "; ".join(info["status_string"].native or [])
        except Exception:  # noqa: BLE001 - the message is best effort
            pass
        raise TimestampError(
            f"the TSA refused the request (status {status}{': ' + text if text else ''})",
            field="timestamper",
        )
    if len(parts) < 2:
        raise ValueError("granted but no token")
    _, t_start, t0, t1 = parts[1]
    token = bytes(buf[t_start:t1])
    # ContentInfo -> [0] -> SignedData -> encapContentInfo -> [0] -> OCTET STRING -> TSTInfo
    ci = der.children(buf, t0, t1)
    sd_tag, sd0, sd1 = der.read(buf, ci[1][2])
    sd = der.children(buf, sd0, sd1)
    eci = der.children(buf, sd[2][2], sd[2][3])
    explicit = der.children(buf, eci[1][2], eci[1][3])
    tst_tag, tst0, tst1 = der.read(buf, explicit[0][2])
    tst = der.children(buf, tst0, tst1)
    imprint = der.children(buf, tst[2][2], tst[2][3])
    alg = bytes(buf[imprint[0][1] : imprint[0][3]])
    hashed = bytes(buf[imprint[1][2] : imprint[1][3]])
    if alg not in (_ALG_ID[hash_name], der.seq(der.oid(HASH_OIDS[hash_name]), b"\x05\x00")):
        raise TimestampError("the TSA stamped with another hash algorithm", field="timestamper")
    if hashed != digest:
        raise TimestampError("the TSA stamped another message imprint", field="timestamper")
    got_nonce = None
    for tag, _, f0, f1 in tst[5:]:
        if tag == der.INTEGER:
            got_nonce = int.from_bytes(buf[f0:f1], "big", signed=True)
            break
    if got_nonce != nonce:
        raise TimestampError("the TSA answered with another nonce", field="timestamper")
    return token


def timestamp(timestamper: Timestamper, digest: bytes, hash_name: str) -> bytes:
    """Ask ``timestamper`` to stamp ``digest``; return the checked token."""
    request, nonce = build_request(digest, hash_name)
    try:
        response = timestamper(request)
    except TimestampError:
        raise
    except Exception as exc:  # a TSA outage must surface as a refusal, not a crash
        raise TimestampError(
            f"the timestamp authority could not be reached ({exc})", field="timestamper"
        ) from exc
    return token_from_response(response, digest, hash_name, nonce)


class HttpTimestamper:
    """A remote TSA spoken to over HTTP (RFC 3161 §3.4: ``application/timestamp-query``)."""

    def __init__(self, url: str, *, timeout: float = 10.0, headers: dict[str, str] | None = None):
        self.url = url
        self.timeout = timeout
        self.headers = {"Content-Type": "application/timestamp-query", **(headers or {})}

    def __call__(self, request_der: bytes) -> bytes:
        import httpx

        reply = httpx.post(
            self.url, content=request_der, headers=self.headers, timeout=self.timeout
        )
        reply.raise_for_status()
        return reply.content


def pyhanko_timestamper(timestamper: Timestamper):
    """The same ``Timestamper`` as a pyHanko ``TimeStamper``, for pyHanko's own signing paths."""
    from pyhanko.sign.timestamps.api import TimeStamper

    class _Adapter(TimeStamper):
        async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
            return tsp.TimeStampResp.load(timestamper(req.dump()))

    return _Adapter()
