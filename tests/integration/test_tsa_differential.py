"""The TSA over HTTP against ``openssl ts``: every request a client may send, made with
``openssl ts -query`` or by hand (asn1crypto), answered as RFC 3161 / RFC 5816 say.

Each granted token must pass ``openssl ts -verify`` (by the data and by the digest) and carry
the certificates only when certReq asked for them, the nonce echoed exactly and the policy asked
for; each rejection must be PKIStatus rejection with the one failInfo bit the RFC names, as
``openssl ts -reply -text`` reads it. One server for the module; the cases run in a few seconds.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from asn1crypto import algos, cms, core, tsp

from tests.integration.server import PASSPHRASE, demo_home, running_server
from yinxin.pki.profiles import TSA_POLICY_OID
from yinxin.pki.sm2 import OID_SM3, sm3
from yinxin.pki.tsa import TimeStampResp

POLICY = TSA_POLICY_OID.dotted_string
SERIALS: set[int] = set()  # every token's serialNumber so far: unique per token (§2.4.2)
CT = {"content-type": "application/timestamp-query"}
# openssl ts -reply -text spells the PKIFailureInfo bits so
OPENSSL_FAIL = {
    "bad_alg": "unrecognized or unsupported algorithm identifier",
    "bad_request": "transaction not permitted or supported",
    "bad_data_format": "the data submitted has the wrong format",
    "unaccepted_policy": "the requested TSA policy is not supported by the TSA",
    "unaccepted_extensions": "the requested extension is not supported by the TSA",
    "system_failure": "the request cannot be handled due to system failure",
}


@dataclass
class Env:
    home: Path
    base: str
    files: Path

    @property
    def root(self) -> Path:
        return self.home / "ca" / "root.pem"

    @property
    def issuing(self) -> Path:
        return self.home / "ca" / "issuing.pem"

    @property
    def tsa_and_issuing(self) -> Path:
        return self.files / "tsa+issuing.pem"


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("tsa-diff")
    home, files = base / "home", base / "files"
    files.mkdir()
    demo_home(home, PASSPHRASE)
    (files / "tsa+issuing.pem").write_bytes(
        (home / "ca" / "tsa.pem").read_bytes() + (home / "ca" / "issuing.pem").read_bytes()
    )
    with running_server(home) as server:
        yield Env(home, server.base, files)
        assert server.alive(), server.log()
        assert "Traceback" not in server.log(), server.log()


@pytest.fixture
def client(env: Env) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=env.base, timeout=10) as c:
        yield c


def run(*cmd: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=30)


def post(client: httpx.Client, body: bytes, headers: dict | None = None) -> bytes:
    r = client.post("/tsa", content=body, headers=CT if headers is None else headers)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/timestamp-reply"
    return r.content


def status_of(reply: bytes) -> tuple[str, set[str] | None, cms.ContentInfo | None]:
    resp = TimeStampResp.load(reply)
    token = resp["time_stamp_token"]
    status = resp["status"]
    # PKIStatusInfo and TSTInfo are DER (RFC 3161 §2.4.2); the CMS around the TSTInfo need not
    # be (the certificates go TSA's first, not in SET OF order)
    assert status.dump(force=True) == status.dump(), "PKIStatusInfo is not DER"
    if token:
        tst = token["content"]["encap_content_info"]["content"]
        assert tst.parsed.dump(force=True) == bytes(tst), "TSTInfo is not DER"
    return status["status"].native, status["fail_info"].native, token if token else None


def openssl_text(tmp_path: Path, reply: bytes) -> str:
    f = tmp_path / "r.tsr"
    f.write_bytes(reply)
    out = run("openssl", "ts", "-reply", "-in", f, "-text")
    assert out.returncode == 0, out.stderr
    return out.stdout


def assert_rejected(tmp_path: Path, reply: bytes, fail_info: str) -> None:
    status, bits, token = status_of(reply)
    assert (status, bits, token) == ("rejection", {fail_info}, None)
    text = openssl_text(tmp_path, reply)
    assert "Status: Rejected." in text, text
    m = re.search(r"Failure info:\s*(.*?)\s*\nTST info", text, re.S)
    assert m and m.group(1).strip() == OPENSSL_FAIL[fail_info], text


def tst_info(token: cms.ContentInfo) -> tsp.TSTInfo:
    return token["content"]["encap_content_info"]["content"].parsed


def assert_verifies(env: Env, tmp_path: Path, reply: bytes, how: tuple[str, str | Path]) -> None:
    f = tmp_path / "ok.tsr"
    f.write_bytes(reply)
    out = run(
        "openssl",
        "ts",
        "-verify",
        *how,
        "-in",
        f,
        "-CAfile",
        env.root,
        "-untrusted",
        env.tsa_and_issuing,
    )
    assert out.returncode == 0 and "Verification: OK" in out.stdout + out.stderr, out


def openssl_query(tmp_path: Path, data: Path, *args: str) -> bytes:
    q = tmp_path / "q.tsq"
    out = run("openssl", "ts", "-query", "-data", data, *args, "-out", q)
    assert out.returncode == 0, out.stderr
    return q.read_bytes()


class _AnyParamsAlgorithm(core.Sequence):
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", core.Any, {"optional": True})]


class _AnyParamsImprint(core.Sequence):
    _fields = [("hash_algorithm", _AnyParamsAlgorithm), ("hashed_message", core.OctetString)]


def hand_query(
    alg: str = "sha256",
    digest: bytes | None = None,
    *,
    nonce: int | None = None,
    cert_req: bool = False,
    params: core.Asn1Value | None = None,
    **more,
) -> bytes:
    imprint: dict = {
        "hash_algorithm": {"algorithm": alg},
        "hashed_message": digest if digest is not None else os.urandom(32),
    }
    if params is not None:  # asn1crypto would force NULL for SHA-2: DER made without it
        imprint["hash_algorithm"] = {
            "algorithm": algos.DigestAlgorithmId(alg).dotted,
            "parameters": params,
        }
        imprint = tsp.MessageImprint.load(_AnyParamsImprint(imprint).dump())
    req: dict = {
        "version": "v1",
        "message_imprint": imprint,
        "cert_req": cert_req,
        **more,
    }
    if nonce is not None:
        req["nonce"] = nonce
    return tsp.TimeStampReq(req).dump()


# --- granted: openssl ts -query ------------------------------------------------------------------
@pytest.mark.parametrize("alg", ["sha256", "sha384", "sha512", "sm3"])
@pytest.mark.parametrize("cert", [True, False], ids=["cert", "no-cert"])
@pytest.mark.parametrize("nonce", [True, False], ids=["nonce", "no-nonce"])
def test_openssl_query_granted(
    env: Env, tmp_path: Path, client: httpx.Client, alg: str, cert: bool, nonce: bool
) -> None:
    data = tmp_path / "doc"
    data.write_bytes(os.urandom(100))
    args = [f"-{alg}"] + (["-cert"] if cert else []) + ([] if nonce else ["-no_nonce"])
    query = openssl_query(tmp_path, data, *args)
    reply = post(client, query)
    status, bits, token = status_of(reply)
    assert (status, bits) == ("granted", None)
    assert token is not None
    req = tsp.TimeStampReq.load(query)
    info = tst_info(token)
    assert info["message_imprint"].dump() == req["message_imprint"].dump()
    assert info["policy"].native == POLICY
    assert info["nonce"].native == req["nonce"].native
    assert (info["nonce"].native is not None) == nonce
    assert info["serial_number"].native not in SERIALS
    SERIALS.add(info["serial_number"].native)
    certs = token["content"]["certificates"]
    assert bool(certs) == cert, "the TSA certificate must be there exactly when certReq"
    text = openssl_text(tmp_path, reply)
    assert "Status: Granted." in text, text
    digest = (
        sm3(data.read_bytes()) if alg == "sm3" else hashlib.new(alg, data.read_bytes()).digest()
    )
    for how in (("-data", data), ("-digest", digest.hex()), ("-queryfile", tmp_path / "q.tsq")):
        assert_verifies(env, tmp_path, reply, how)


@pytest.mark.parametrize("alg", ["sha3-256", "sha3-384", "sha3-512"])
def test_openssl_query_sha3(env: Env, tmp_path: Path, client: httpx.Client, alg: str) -> None:
    # SHA-3 imprints are in ACCEPTED_HASHES, so a token for them must verify too
    data = tmp_path / "doc"
    data.write_bytes(os.urandom(100))
    reply = post(client, openssl_query(tmp_path, data, f"-{alg}", "-cert"))
    status, _, token = status_of(reply)
    assert status == "granted" and token is not None
    assert tst_info(token)["message_imprint"]["hash_algorithm"]["algorithm"].native == alg.replace(
        "-", "_"
    )
    assert_verifies(env, tmp_path, reply, ("-data", data))
    assert_verifies(env, tmp_path, reply, ("-queryfile", tmp_path / "q.tsq"))


def test_openssl_query_with_our_policy(env: Env, tmp_path: Path, client: httpx.Client) -> None:
    data = tmp_path / "doc"
    data.write_bytes(b"policy")
    query = openssl_query(tmp_path, data, "-sha256", "-cert", "-tspolicy", POLICY)
    reply = post(client, query)
    status, _, token = status_of(reply)
    assert status == "granted" and token is not None
    assert tst_info(token)["policy"].native == POLICY
    assert_verifies(env, tmp_path, reply, ("-queryfile", tmp_path / "q.tsq"))


def test_openssl_query_with_another_policy(tmp_path: Path, client: httpx.Client) -> None:
    data = tmp_path / "doc"
    data.write_bytes(b"policy")
    query = openssl_query(tmp_path, data, "-sha256", "-tspolicy", "1.2.3.4.5")
    assert_rejected(tmp_path, post(client, query), "unaccepted_policy")


def test_openssl_query_sha1_refused(tmp_path: Path, client: httpx.Client) -> None:
    # SHA-1 imprints are refused by design (collision-prone; see yinxin.pki.tsa)
    data = tmp_path / "doc"
    data.write_bytes(b"sha1")
    query = openssl_query(tmp_path, data, "-sha1", "-cert")
    assert_rejected(tmp_path, post(client, query), "bad_alg")


# --- granted: by hand ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "nonce", [0, 1, 2**63, 2**64 - 1, 2**160, 2**160 + 12345, -1, -(2**100)], ids=str
)
def test_nonce_echoed_exactly(env: Env, tmp_path: Path, client: httpx.Client, nonce: int) -> None:
    data = os.urandom(50)
    query = hand_query(digest=hashlib.sha256(data).digest(), nonce=nonce, cert_req=True)
    reply = post(client, query)
    status, _, token = status_of(reply)
    assert status == "granted" and token is not None
    info = tst_info(token)
    assert info["nonce"].native == nonce
    # the nonce's encoding too, octet for octet
    assert info["nonce"].dump() == tsp.TimeStampReq.load(query)["nonce"].dump()
    q = tmp_path / "q.tsq"
    q.write_bytes(query)
    assert_verifies(env, tmp_path, reply, ("-queryfile", q))


def test_sm3_by_oid(env: Env, tmp_path: Path, client: httpx.Client) -> None:
    data = tmp_path / "doc"
    data.write_bytes(b"sm3 by hand")
    query = hand_query(OID_SM3, sm3(data.read_bytes()), nonce=7, cert_req=True)
    reply = post(client, query)
    assert status_of(reply)[0] == "granted"
    assert_verifies(env, tmp_path, reply, ("-data", data))


@pytest.mark.parametrize("alg", ["sha256", "sha3_256", OID_SM3])
def test_null_hash_parameters_granted(env: Env, tmp_path: Path, alg: str, client: httpx.Client):
    """RFC 5754 §2: absent or NULL parameters; NULL is accepted and copied into the token."""
    data = tmp_path / "doc"
    data.write_bytes(b"null parameters")
    digest = sm3(data.read_bytes()) if alg == OID_SM3 else hashlib.new(alg, b"null parameters")
    raw = digest if isinstance(digest, bytes) else digest.digest()
    reply = post(client, hand_query(alg, raw, nonce=9, cert_req=True, params=core.Null()))
    assert status_of(reply)[0] == "granted"
    imprint = tst_info(status_of(reply)[2])["message_imprint"]["hash_algorithm"]
    assert imprint["parameters"].dump() == b"\x05\x00"
    assert_verifies(env, tmp_path, reply, ("-data", data))


def test_ber_imprint_stamped_in_der(env: Env, tmp_path: Path, client: httpx.Client) -> None:
    """A request whose MessageImprint is BER (long-form lengths, which DER forbids): the token's
    TSTInfo must still be DER (RFC 3161 §2.4.2) — the imprint was copied into it byte for byte,
    so the TSA signed a TSTInfo that is not — with the same value (§2.4.2), as openssl checks."""
    data = tmp_path / "doc"
    data.write_bytes(b"ber imprint")
    for params in (b"", b"\x05\x00"):
        alg = (
            b"\x30\x81"
            + bytes([11 + len(params)])
            + b"\x06\x09"
            + bytes.fromhex("608648016503040201")
            + params
        )
        hashed = b"\x04\x81\x20" + hashlib.sha256(data.read_bytes()).digest()
        imprint = b"\x30\x81" + bytes([len(alg + hashed)]) + alg + hashed
        body = b"\x02\x01\x01" + imprint + b"\x02\x01\x05\x01\x01\xff"
        query = b"\x30" + bytes([len(body)]) + body
        assert tsp.TimeStampReq.load(query)["nonce"].native == 5
        reply = post(client, query)
        status, _, token = status_of(reply)  # asserts the TSTInfo is DER
        assert status == "granted" and token is not None
        got = tst_info(token)["message_imprint"]
        assert got["hashed_message"].native == hashlib.sha256(data.read_bytes()).digest()
        assert got["hash_algorithm"]["parameters"].dump() == params
        q = tmp_path / "q.tsq"
        q.write_bytes(query)
        assert_verifies(env, tmp_path, reply, ("-queryfile", q))
        assert_verifies(env, tmp_path, reply, ("-data", data))


def test_spliced_request_granted(client: httpx.Client) -> None:
    """The request the out-of-order rejections below are spliced from is itself granted."""
    assert status_of(post(client, _spliced(b"\x02\x01\x05", b"\x01\x01\xff")))[0] == "granted"


def test_empty_extensions_is_no_extension(tmp_path: Path, client: httpx.Client) -> None:
    reply = post(client, hand_query(nonce=1, extensions=[]))
    assert status_of(reply)[0] == "granted"


# --- the Content-Type of the request (RFC 3161 §3.4) -------------------------------------------
# What real clients send: pyHanko, Adobe Acrobat, Java's and Windows' timestamp clients and
# ``curl -H 'Content-Type: application/timestamp-query'`` (our docs) name the type; a client
# that sends a bare body sends none, and some label any binary application/octet-stream. Those
# are answered. A body declared as something else (a form, which is what ``curl --data-binary``
# without -H sends, text, JSON, an OCSP request) is not a TimeStampReq a client meant to send
# here: 415 saying which header to send, never a token and never a DER rejection a JSON or form
# client cannot read.
ACCEPTED_TYPES = [
    None,
    "application/timestamp-query",
    "Application/Timestamp-Query; charset=binary",
    "application/octet-stream",
]
REFUSED_TYPES = [
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "text/plain",
    "application/json",
    "application/ocsp-request",
    "",
]


@pytest.mark.parametrize("content_type", ACCEPTED_TYPES, ids=str)
def test_content_types_answered(client: httpx.Client, content_type: str | None) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    request = client.build_request("POST", "/tsa", content=hand_query(nonce=3), headers=headers)
    assert request.headers.get("content-type") == content_type  # httpx adds none of its own
    r = client.send(request)
    assert r.status_code == 200 and r.headers["content-type"] == "application/timestamp-reply"
    assert status_of(r.content)[0] == "granted"


@pytest.mark.parametrize("content_type", REFUSED_TYPES, ids=repr)
def test_other_content_types_refused(client: httpx.Client, content_type: str) -> None:
    r = client.post("/tsa", content=hand_query(nonce=3), headers={"content-type": content_type})
    assert r.status_code == 415, (r.status_code, r.headers, r.content[:80])
    body = r.json()
    assert body["error"] == "unsupported_media_type" and body["field"] == "Content-Type", body
    assert "application/timestamp-query" in body["message"], body


def test_curl_without_the_header_is_told_which(env: Env, tmp_path: Path) -> None:
    """The mistake a user makes: ``curl --data-binary @q.tsq`` without -H, which curl labels
    application/x-www-form-urlencoded. It used to be granted; now the user is told."""
    data = tmp_path / "doc"
    data.write_bytes(b"curl")
    q = tmp_path / "q.tsq"
    q.write_bytes(openssl_query(tmp_path, data, "-sha256", "-cert"))
    answer = tmp_path / "answer"
    out = run("curl", "-sS", "-o", answer, "-w", "%{http_code}", "--data-binary", f"@{q}",
              env.base + "/tsa")  # fmt: skip
    assert out.stdout == "415", (out, answer.read_bytes()[:80])
    assert "Content-Type: application/timestamp-query" in answer.read_text(), answer.read_text()


# --- rejected ------------------------------------------------------------------------------------
def _spliced(*fields: bytes, imprint_extra: bytes = b"", alg_extra: bytes = b"") -> bytes:
    """A TimeStampReq of version, a SHA-256 imprint (with ``imprint_extra`` inside it, and
    ``alg_extra`` inside its AlgorithmIdentifier) and ``fields`` as given, in the order given:
    requests asn1crypto cannot write."""
    oid = b"\x06\x09" + bytes.fromhex("608648016503040201") + alg_extra
    alg = b"\x30" + bytes([len(oid)]) + oid
    inner = alg + b"\x04\x20" + hashlib.sha256(b"spliced").digest() + imprint_extra
    body = b"\x02\x01\x01" + b"\x30" + bytes([len(inner)]) + inner + b"".join(fields)
    return b"\x30" + bytes([len(body)]) + body


JUNK = core.OctetString(b"junk")
EXT = [{"extn_id": "1.3.6.1.4.1.99999.1", "critical": False, "extn_value": b"\x05\x00"}]
REJECTIONS: list[tuple[str, bytes, str]] = [
    ("sha256 of 20 octets", hand_query("sha256", b"\1" * 20), "bad_data_format"),
    ("sha512 of 32 octets", hand_query("sha512", b"\1" * 32), "bad_data_format"),
    ("sm3 of 20 octets", hand_query(OID_SM3, b"\1" * 20), "bad_data_format"),
    ("sha1", hand_query("sha1", b"\1" * 20), "bad_alg"),
    ("md5", hand_query("md5", b"\1" * 16), "bad_alg"),
    ("unknown OID", hand_query("1.2.3.4.5.6.7", b"\1" * 32), "bad_alg"),
    # RFC 5754 §2 (and GM/T for SM3): parameters absent or NULL; openssl's own TSA answers
    # anything else badAlg ("Superfluous message digest parameter.")
    *(
        (f"{name} with junk parameters", hand_query(alg, b"\1" * size, params=JUNK), "bad_alg")
        for name, alg, size in [
            ("sha256", "sha256", 32),
            ("sha512", "sha512", 64),
            ("sha3_256", "sha3_256", 32),
            ("sm3", OID_SM3, 32),
        ]
    ),
    ("sha256 with an empty SEQUENCE", hand_query(params=core.Any.load(b"\x30\x00")), "bad_alg"),
    ("another policy", hand_query(req_policy="1.2.3.4"), "unaccepted_policy"),
    ("an extension", hand_query(extensions=EXT), "unaccepted_extensions"),
    (
        "a critical extension",
        hand_query(extensions=[{**EXT[0], "critical": True}]),
        "unaccepted_extensions",
    ),
    ("version 2", hand_query(version=2), "bad_data_format"),
    # out of order or twice: asn1crypto keeps what follows the last field it could place as
    # extra, unread elements; a certReq before the nonce lost the nonce (a token without it),
    # a nonce before reqPolicy lost the policy (our policy granted), a second nonce was dropped
    *(
        (name, _spliced(*fields), "bad_data_format")
        for name, fields in [
            ("certReq before nonce", (b"\x01\x01\xff", b"\x02\x01\x05")),
            ("nonce before reqPolicy", (b"\x02\x01\x05", b"\x06\x03\x2a\x03\x04")),
            ("nonce twice", (b"\x02\x01\x05", b"\x02\x01\x06")),
            ("a stray OCTET STRING", (b"\x04\x01\x00",)),
        ]
    ),
    # X.690 §8.3.1: an INTEGER has one octet at least; this one was granted, nonce 0 echoed
    ("a nonce of no octets", _spliced(b"\x02\x00"), "bad_data_format"),
    ("an imprint with a third element", _spliced(imprint_extra=b"\x05\x00"), "bad_data_format"),
    # an AlgorithmIdentifier of three elements is no algorithm we support, as junk parameters
    ("sha256, NULL and a third element", _spliced(alg_extra=b"\x05\x00\x05\x00"), "bad_alg"),
    ("empty body", b"", "bad_data_format"),
    ("garbage", b"\x00garbage\xff" * 5, "bad_data_format"),
    ("a lone SEQUENCE", b"\x30\x00", "bad_data_format"),
    ("trailing junk", hand_query() + b"\x00", "bad_data_format"),
    ("truncated", hand_query()[:-3], "bad_data_format"),
    ("not a request", b"\x30\x03\x02\x01\x01", "bad_data_format"),
]


@pytest.mark.parametrize(
    ("body", "fail_info"), [c[1:] for c in REJECTIONS], ids=[c[0] for c in REJECTIONS]
)
def test_rejections(tmp_path: Path, client: httpx.Client, body: bytes, fail_info: str) -> None:
    assert_rejected(tmp_path, post(client, body), fail_info)
