"""RFC 3161 time-stamps: openssl asks, we answer, openssl and pyHanko check."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import random
import re
from pathlib import Path

import pytest
from asn1crypto import algos, cms, parser, tsp
from asn1crypto import x509 as a_x509

from tests.unit.pki_chain import Chain, HsmLikeKey, make_chain, run
from yinxin.pki.authority import der as cert_der
from yinxin.pki.profiles import TSA_POLICY_OID
from yinxin.pki.tsa import (
    TimestampRequest,
    TimeStampResp,
    TsaError,
    build_response,
    parse_request,
    rejection,
    respond,
)

POLICY = TSA_POLICY_OID.dotted_string


class Tsa:
    def __init__(self, chain: Chain, directory: Path):
        self.chain = chain
        self.dir = directory
        self.files = chain.write(directory)
        self.data = directory / "document.txt"
        self.data.write_bytes("盖章的文件 — a document to time-stamp\n".encode())
        (directory / "untrusted.pem").write_bytes(
            self.files["issuing"].read_bytes() + self.files["tsa"].read_bytes()
        )

    def query(self, *opts: str, name: str = "q") -> bytes:
        out = self.dir / f"{name}.tsq"
        r = run("openssl", "ts", "-query", "-data", self.data, *opts, "-out", out)
        assert r.returncode == 0, r.stderr
        return out.read_bytes()

    def respond(self, query: bytes, *, key=None, serial: int | None = None) -> bytes:
        return respond(
            query,
            tsa_cert=self.chain.tsa,
            tsa_key=key or self.chain.tsa_key,
            chain=[self.chain.issuing],
            serial=serial or int.from_bytes(os.urandom(8), "big") | 1,
            gen_time=dt.datetime.now(dt.UTC),
        )

    def verify(self, reply: bytes, *, untrusted: str = "issuing"):
        path = self.dir / "reply.tsr"
        path.write_bytes(reply)
        return run(
            "openssl", "ts", "-verify", "-data", self.data, "-in", path,
            "-CAfile", self.files["root"], "-untrusted", self.dir / f"{untrusted}.pem",
        )  # fmt: skip

    def text(self, reply: bytes) -> str:
        path = self.dir / "reply-text.tsr"
        path.write_bytes(reply)
        r = run("openssl", "ts", "-reply", "-in", path, "-text")
        assert r.returncode == 0, r.stderr
        return r.stdout


@pytest.fixture(scope="module")
def tsa(tmp_path_factory) -> Tsa:
    return Tsa(make_chain(), tmp_path_factory.mktemp("tsa"))


def _tags(der: bytes) -> list[int]:
    """The tags of the elements directly inside a DER SEQUENCE."""
    contents = parser.parse(der)[4]
    tags, pos = [], 0
    while pos < len(contents):
        tags.append(contents[pos])
        pos += parser.peek(contents[pos:])
    return tags


def _token(reply: bytes) -> tuple[cms.SignedData, tsp.TSTInfo]:
    resp = TimeStampResp.load(reply)
    assert resp["status"]["status"].native == "granted"
    sd = resp["time_stamp_token"]["content"]
    return sd, sd["encap_content_info"]["content"].parsed


@pytest.mark.parametrize("hsm", [False, True], ids=["software", "hsm-like"])
@pytest.mark.parametrize("alg", ["sha256", "sha384", "sha512"])
def test_openssl_verifies_token(tsa, alg, hsm):
    query = tsa.query(f"-{alg}", "-cert")
    reply = tsa.respond(query, key=HsmLikeKey(tsa.chain.tsa_key) if hsm else None)
    r = tsa.verify(reply)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Verification: OK" in r.stdout
    _, tst = _token(reply)
    assert tst["message_imprint"]["hash_algorithm"]["algorithm"].native == alg


def test_sha3_imprint(tsa):
    query = tsa.query("-sha3-256", "-cert")
    req = parse_request(query)
    assert req.hash_algorithm == "sha3_256"
    r = tsa.verify(tsa.respond(query))
    assert "Verification: OK" in r.stdout, r.stdout + r.stderr


def test_tstinfo_fields(tsa):
    query = tsa.query("-sha256", "-cert")
    req = parse_request(query)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    reply = tsa.respond(query, serial=0xC0FFEE)
    sd, tst = _token(reply)

    assert tst["version"].native == "v1"
    assert tst["policy"].native == POLICY
    assert tst["message_imprint"].dump() == req.message_imprint  # copied exactly
    assert (
        tst["message_imprint"]["hashed_message"].native
        == hashlib.sha256(tsa.data.read_bytes()).digest()
    )
    assert tst["serial_number"].native == 0xC0FFEE
    assert before <= tst["gen_time"].native <= dt.datetime.now(dt.UTC)
    assert tst["accuracy"].native == {"seconds": 1, "millis": None, "micros": None}
    assert tst["ordering"].native is False
    assert 0x01 not in _tags(tst.dump())  # ordering FALSE is the DEFAULT: DER leaves it out
    assert req.nonce is not None and tst["nonce"].native == req.nonce
    assert (
        tst["tsa"].chosen.native == a_x509.Certificate.load(cert_der(tsa.chain.tsa)).subject.native
    )

    assert sd["version"].native == "v3"
    assert sd["encap_content_info"]["content_type"].native == "tst_info"
    certs = [c.chosen.dump() for c in sd["certificates"]]
    # CertificateSet is a SET OF, so DER orders it by encoding, not as we listed it
    assert sorted(certs) == sorted([cert_der(tsa.chain.tsa), cert_der(tsa.chain.issuing)])


def test_signed_attributes(tsa):
    sd, tst = _token(tsa.respond(tsa.query("-sha512", "-cert")))
    (signer,) = sd["signer_infos"]
    attrs = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    assert set(attrs) == {
        "content_type",
        "message_digest",
        "signing_time",
        "signing_certificate_v2",
    }
    assert attrs["content_type"].native == "tst_info"
    tst_der = sd["encap_content_info"]["content"].parsed.dump()
    assert attrs["message_digest"].native == hashlib.sha256(tst_der).digest()
    (ess,) = attrs["signing_certificate_v2"]["certs"]
    assert ess["cert_hash"].native == hashlib.sha256(cert_der(tsa.chain.tsa)).digest()
    assert ess["issuer_serial"]["serial_number"].native == tsa.chain.tsa.serial_number
    # ESSCertIDv2.hashAlgorithm is SHA-256, its DEFAULT, so DER starts with the OCTET STRING
    assert _tags(ess.dump()) == [0x04, 0x30]
    assert signer["digest_algorithm"]["algorithm"].native == "sha256"
    assert signer["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"
    # DER of the signed attributes: SET OF in sorted order
    encoded = [a.dump() for a in signer["signed_attrs"]]
    assert encoded == sorted(encoded)


def test_nonce_echoed(tsa):
    query = tsa.query("-sha256", "-cert", name="nonce")
    r = run("openssl", "ts", "-query", "-in", tsa.dir / "nonce.tsq", "-text")
    req_nonce = re.search(r"Nonce: (0x[0-9A-Fa-f]+)", r.stdout).group(1)
    text = tsa.text(tsa.respond(query))
    assert re.search(r"Nonce: (0x[0-9A-Fa-f]+)", text).group(1) == req_nonce
    assert int(req_nonce, 16) == parse_request(query).nonce


def test_no_nonce_no_certs(tsa):
    query = tsa.query("-sha256", "-no_nonce")
    req = parse_request(query)
    assert req.nonce is None and req.cert_req is False
    reply = tsa.respond(query)
    sd, tst = _token(reply)
    assert tst["nonce"].native is None
    assert not sd["certificates"]
    # without certificates in the token openssl needs the TSA certificate from us
    r = tsa.verify(reply, untrusted="untrusted")
    assert "Verification: OK" in r.stdout, r.stdout + r.stderr


def test_requested_policy(tsa):
    query = tsa.query("-sha256", "-cert", "-tspolicy", POLICY)
    assert parse_request(query).policy == POLICY
    assert "Verification: OK" in tsa.verify(tsa.respond(query)).stdout


def test_rsa_tsa(tmp_path_factory):
    rsa = Tsa(make_chain("rsa-2048"), tmp_path_factory.mktemp("tsa-rsa"))
    for key in (rsa.chain.tsa_key, HsmLikeKey(rsa.chain.tsa_key)):
        reply = rsa.respond(rsa.query("-sha256", "-cert"), key=key)
        r = rsa.verify(reply)
        assert "Verification: OK" in r.stdout, r.stdout + r.stderr
        sd, _ = _token(reply)
        assert sd["signer_infos"][0]["signature_algorithm"]["algorithm"].native == "sha256_rsa"


def test_pyhanko_validates_token(tsa):
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko_certvalidator import ValidationContext

    sd, _ = _token(tsa.respond(tsa.query("-sha256", "-cert")))
    vc = ValidationContext(
        trust_roots=[a_x509.Certificate.load(cert_der(tsa.chain.root))],
        allow_fetching=False,
        revocation_mode="soft-fail",
    )
    digest = hashlib.sha256(tsa.data.read_bytes()).digest()
    status = asyncio.run(validate_tst_signed_data(sd, vc, lambda _alg: digest))
    assert status["intact"] and status["valid"]
    assert status["trust_problem_indic"] is None


# ---------------------------------------------------------------- refusals


def _rejected(reply: bytes) -> tuple[str, set[str]]:
    resp = TimeStampResp.load(reply)
    info = resp["status"]
    return info["status"].native, set(info["fail_info"].native or ())


def test_sha1_is_bad_alg(tsa):
    query = tsa.query("-sha1", "-cert")
    with pytest.raises(TsaError) as err:
        parse_request(query)
    assert err.value.fail_info == "bad_alg"
    reply = tsa.respond(query)
    assert _rejected(reply) == ("rejection", {"bad_alg"})
    text = tsa.text(reply)
    assert "Status: Rejected" in text
    assert "unrecognized or unsupported algorithm identifier" in text
    r = tsa.verify(reply)
    assert r.returncode != 0 and "Verification: FAILED" in r.stdout


def _crafted(alg: str, digest: bytes, **extra) -> bytes:
    req = {
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": alg}),
            "hashed_message": digest,
        },
        "cert_req": True,
        **extra,
    }
    return tsp.TimeStampReq(req).dump()


@pytest.mark.parametrize(
    ("query", "fail"),
    [
        (_crafted("sha256", b"\x00" * 20), "bad_data_format"),  # wrong length for SHA-256
        (_crafted("sha512", b"\x00" * 32), "bad_data_format"),
        (_crafted("md5", b"\x00" * 16), "bad_alg"),
        (_crafted("sha256", b"\x00" * 32, req_policy="1.2.3.4"), "unaccepted_policy"),
        (
            _crafted(
                "sha256",
                b"\x00" * 32,
                extensions=[{"extn_id": "1.2.3.4.5", "critical": False, "extn_value": b"\x05\x00"}],
            ),
            "unaccepted_extensions",
        ),
        (b"", "bad_data_format"),
        (b"garbage, not DER", "bad_data_format"),
        (b"\x30\x80\x00\x00", "bad_data_format"),  # indefinite length (BER), not DER
        (b"\x30\x84\xff\xff\xff\xff", "bad_data_format"),  # claims 4 GiB
        (_crafted("sha256", b"\x00" * 32)[:-1], "bad_data_format"),  # truncated
        (_crafted("sha256", b"\x00" * 32) + b"\x00", "bad_data_format"),  # trailing
        (b"\x30" + bytes([0x82, 0xFF, 0xFF]) + b"\x00" * 70_000, "bad_data_format"),  # huge
    ],
    ids=[
        "short-digest", "long-digest", "md5", "policy", "extension", "empty", "text",
        "indefinite", "huge-length", "truncated", "trailing", "oversized",
    ],
)  # fmt: skip
def test_rejections(tsa, query, fail):
    with pytest.raises(TsaError) as err:
        parse_request(query)
    assert err.value.fail_info == fail
    assert _rejected(tsa.respond(query)) == ("rejection", {fail})


def test_unaccepted_policy_via_openssl(tsa):
    query = tsa.query("-sha256", "-tspolicy", "1.2.3.4")
    reply = tsa.respond(query)
    assert _rejected(reply) == ("rejection", {"unaccepted_policy"})
    assert "Status: Rejected" in tsa.text(reply)


def test_fuzz_never_raises(tsa):
    good = tsa.query("-sha256", "-cert")
    rng = random.Random(3161)
    for i in range(300):
        b = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        if i % 3 == 0:
            b = b[: rng.randrange(len(b))]
        reply = tsa.respond(bytes(b))
        status = TimeStampResp.load(reply)["status"]["status"].native
        assert status in ("granted", "rejection")


class BrokenKey(HsmLikeKey):
    def sign(self, data, hash_alg=None):
        raise RuntimeError("token removed")


def test_system_failure_is_a_rejection(tsa):
    reply = tsa.respond(tsa.query("-sha256"), key=BrokenKey(tsa.chain.tsa_key))
    assert _rejected(reply) == ("rejection", {"system_failure"})
    assert b"token removed" not in reply  # our faults are logged, not shown


def test_rejection_encoding(tsa):
    reply = rejection("rejection", "bad_alg", "no SHA-1")
    text = tsa.text(reply)
    assert "Status: Rejected" in text and "no SHA-1" in text
    assert rejection("waiting") == bytes.fromhex("30053003020103")
    with pytest.raises(ValueError):
        rejection("rejection", "not_a_failure")


def test_build_response_policy_mismatch(tsa):
    req = TimestampRequest("sha256", b"\x00" * 32, "1.2.3.4", None, False, b"")
    with pytest.raises(TsaError) as err:
        build_response(
            req,
            tsa_cert=tsa.chain.tsa,
            tsa_key=tsa.chain.tsa_key,
            chain=[],
            serial=1,
            gen_time=dt.datetime.now(dt.UTC),
            policy_oid=TSA_POLICY_OID,
        )
    assert err.value.fail_info == "unaccepted_policy"


def test_token_is_der(tsa):
    """Re-encoding the parsed reply gives the same bytes: nothing non-canonical slipped in."""
    reply = tsa.respond(tsa.query("-sha384", "-cert"))
    parsed = TimeStampResp.load(reply)
    sd = parsed["time_stamp_token"]["content"]
    assert sd.dump(force=True) == sd.dump()


def test_serial_counter_only_advances_on_grant(tsa):
    issued: list[int] = []

    def next_serial() -> int:
        issued.append(len(issued) + 1)
        return issued[-1]

    kw = dict(
        tsa_cert=tsa.chain.tsa,
        tsa_key=tsa.chain.tsa_key,
        chain=[tsa.chain.issuing],
        serial=next_serial,
        gen_time=dt.datetime.now(dt.UTC),
    )
    assert _rejected(respond(b"junk", **kw)) == ("rejection", {"bad_data_format"})
    assert _rejected(respond(tsa.query("-sha1"), **kw)) == ("rejection", {"bad_alg"})
    assert issued == []
    _, tst = _token(respond(tsa.query("-sha256"), **kw))
    assert issued == [1] and tst["serial_number"].native == 1


def test_sub_second_accuracy(tsa):
    query = tsa.query("-sha256", "-cert")
    when = dt.datetime.now(dt.UTC).replace(microsecond=123456)
    reply = build_response(
        parse_request(query),
        tsa_cert=tsa.chain.tsa,
        tsa_key=tsa.chain.tsa_key,
        chain=[tsa.chain.issuing],
        serial=99,
        gen_time=when,
        policy_oid=POLICY,
        accuracy_seconds=0.5,
    )
    _, tst = _token(reply)
    assert tst["accuracy"].native == {"seconds": None, "millis": 500, "micros": None}
    assert tst["gen_time"].native == when.replace(microsecond=123000)
    assert "Verification: OK" in tsa.verify(reply).stdout
