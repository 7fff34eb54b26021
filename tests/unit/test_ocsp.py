"""OCSP requests made by openssl, answered by us, judged by openssl and pkilint."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from asn1crypto import ocsp as a_ocsp
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import OCSPExtensionOID

from tests.unit.pki_chain import Chain, HsmLikeKey, make_chain, run, venv_tool
from yinxin.errors import ConfigurationError
from yinxin.pki.authority import pem
from yinxin.pki.ocsp import (
    ERROR_STATUSES,
    CertId,
    OcspError,
    SingleStatus,
    build_response,
    cacheable,
    error_response,
    issuer_hashes,
    matches_issuer,
    parse_request,
)


class Pki:
    def __init__(self, chain: Chain, directory: Path):
        self.chain = chain
        self.dir = directory
        self.files = chain.write(directory)
        self.good, _ = chain.end_entity("好证书")
        self.revoked, _ = chain.end_entity("已吊销")
        self.unknown, _ = chain.end_entity("不认识")
        for name in ("good", "revoked", "unknown"):
            (directory / f"{name}.pem").write_bytes(pem(getattr(self, name)))

    def request(self, *certs: str, sha256: bool = False, nonce: bool = True) -> Path:
        """A real request from ``openssl ocsp``; returns the file."""
        out = self.dir / f"req-{'-'.join(certs)}-{sha256}-{nonce}.der"
        args = ["openssl", "ocsp", "-issuer", self.files["issuing"]]
        if sha256:
            args.append("-sha256")  # must come before -cert
        for c in certs:
            args += ["-cert", self.dir / f"{c}.pem"]
        if not nonce:
            args.append("-no_nonce")
        r = run(*args, "-reqout", out)
        assert r.returncode == 0, r.stderr
        return out

    def statuses(self, cert_ids: list[CertId]) -> list[SingleStatus]:
        """What the service would look up: one revoked, one good, the rest unknown."""
        out = []
        for cid in cert_ids:
            if cid.serial == self.revoked.serial_number:
                revoked_at = self.chain.now - dt.timedelta(hours=1)
                out.append(SingleStatus(cid.serial, "revoked", revoked_at, "key_compromise"))
            elif cid.serial == self.good.serial_number:
                out.append(SingleStatus(cid.serial, "good"))
            else:
                out.append(SingleStatus(cid.serial, "unknown"))
        return out

    def respond(self, req: Path, *, key=None, nonce: bytes | None = b"", chain=None) -> bytes:
        c = chain or self.chain
        ids = parse_request(req.read_bytes())
        assert all(matches_issuer(i, c.issuing) for i in ids)
        return build_response(
            responder_cert=c.ocsp,
            responder_key=key or c.ocsp_key,
            issuer_cert=c.issuing,
            single=self.statuses(ids),
            this_update=c.now,
            next_update=c.now + dt.timedelta(hours=4),
            nonce=ids[0].nonce if nonce == b"" else nonce,
            request_hash_alg=ids[0].hash_algorithm,
        )

    def openssl_status(self, resp: Path, *certs: str, sha256: bool = False):
        args = ["openssl", "ocsp", "-respin", resp, "-CAfile", self.files["root"]]
        args += ["-verify_other", self.files["issuing"], "-issuer", self.files["issuing"]]
        args += ["-no_nonce", "-resp_text"]
        if sha256:
            args.append("-sha256")
        for c in certs:
            args += ["-cert", self.dir / f"{c}.pem"]
        return run(*args)

    def openssl_check_nonce(self, resp: Path, req: Path):
        """With -reqin (and no -cert, which would make a new request) openssl checks the nonce."""
        return run(
            "openssl", "ocsp", "-respin", resp, "-reqin", req, "-CAfile", self.files["root"],
            "-verify_other", self.files["issuing"],
        )  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(make_chain(), tmp_path_factory.mktemp("ocsp"))


def test_parse_openssl_request_sha1_with_nonce(pki):
    ids = parse_request(pki.request("good").read_bytes())
    assert len(ids) == 1
    cid = ids[0]
    assert cid.hash_algorithm == "sha1"
    assert cid.serial == pki.good.serial_number
    assert cid.nonce is not None and len(cid.nonce) == 16
    assert (cid.issuer_name_hash, cid.issuer_key_hash) == issuer_hashes(pki.chain.issuing, "sha1")
    assert matches_issuer(cid, pki.chain.issuing)
    assert not matches_issuer(cid, pki.chain.root)


def test_parse_openssl_request_sha256_without_nonce(pki):
    ids = parse_request(pki.request("good", "revoked", sha256=True, nonce=False).read_bytes())
    assert [i.serial for i in ids] == [pki.good.serial_number, pki.revoked.serial_number]
    assert {i.hash_algorithm for i in ids} == {"sha256"}
    assert all(i.nonce is None for i in ids)
    assert all(len(i.issuer_key_hash) == 32 and matches_issuer(i, pki.chain.issuing) for i in ids)


@pytest.mark.parametrize("sha256", [False, True], ids=["sha1", "sha256"])
@pytest.mark.parametrize("hsm", [False, True], ids=["software", "hsm-like"])
@pytest.mark.parametrize("certs", [("good",), ("revoked",), ("unknown",), ("good", "revoked")])
def test_openssl_verifies_status_and_nonce(pki, tmp_path, sha256, hsm, certs):
    req = pki.request(*certs, sha256=sha256)
    key = HsmLikeKey(pki.chain.ocsp_key) if hsm else None
    resp = tmp_path / "resp.der"
    resp.write_bytes(pki.respond(req, key=key))

    r = pki.openssl_check_nonce(resp, req)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Response verify OK" in r.stderr
    assert "Nonce Verify error" not in r.stderr

    r = pki.openssl_status(resp, *certs, sha256=sha256)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Response verify OK" in r.stderr
    out = r.stdout
    if "good" in certs:
        assert "good.pem: good" in out
    if "revoked" in certs:
        assert "revoked.pem: revoked" in out
        assert "Reason: keyCompromise" in out
        assert "Revocation Time:" in out
    if "unknown" in certs:
        assert "unknown.pem: unknown" in out
    assert "Responder Id:" in out and "Next Update:" in out


def test_nonce_is_echoed_and_checked(pki, tmp_path):
    req = pki.request("good")
    nonce = parse_request(req.read_bytes())[0].nonce
    resp = tmp_path / "resp.der"
    resp.write_bytes(pki.respond(req))
    parsed = ocsp.load_der_ocsp_response(resp.read_bytes())
    assert parsed.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce

    resp.write_bytes(pki.respond(req, nonce=b"\x01" * 16))  # someone else's nonce
    r = pki.openssl_check_nonce(resp, req)
    assert r.returncode != 0 and "Nonce Verify error" in r.stderr


def test_cacheable_response_without_nonce(pki, tmp_path):
    """One pre-signed response serves every nonce-less request for the serial."""
    req = pki.request("revoked", sha256=True, nonce=False)
    resp = tmp_path / "resp.der"
    resp.write_bytes(pki.respond(req, nonce=None))
    parsed = ocsp.load_der_ocsp_response(resp.read_bytes())
    assert len(parsed.extensions) == 0
    other = pki.request("revoked", sha256=True, nonce=False)  # a second client, same bytes
    assert parse_request(other.read_bytes()) == parse_request(req.read_bytes())
    assert cacheable(parse_request(other.read_bytes()))
    assert not cacheable(parse_request(pki.request("revoked", sha256=True).read_bytes()))
    assert not cacheable(parse_request(pki.request("good", "revoked", nonce=False).read_bytes()))
    r = pki.openssl_check_nonce(resp, other)
    assert r.returncode == 0 and "Response verify OK" in r.stderr


def test_response_fields(pki):
    req = pki.request("revoked", sha256=True)
    der = pki.respond(req)
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    ski = pki.chain.ocsp.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert resp.responder_key_hash == ski.digest  # both are the SHA-1 of the key bits
    assert resp.responder_name is None
    assert resp.certificates == [pki.chain.ocsp]
    assert resp.hash_algorithm.name == "sha256"
    assert resp.serial_number == pki.revoked.serial_number
    assert resp.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_reason is x509.ReasonFlags.key_compromise
    assert resp.this_update_utc == pki.chain.now
    assert resp.next_update_utc == pki.chain.now + dt.timedelta(hours=4)
    resp.certificates[0].public_key().verify(
        resp.signature, resp.tbs_response_bytes, ec.ECDSA(hashes.SHA256())
    )


def test_hsm_path_lays_out_like_builder(pki):
    """The reassembled response differs from the builder's only in producedAt and signature."""
    req = pki.request("revoked", sha256=True)

    def tbs(der: bytes) -> a_ocsp.ResponseData:
        basic = a_ocsp.OCSPResponse.load(der)["response_bytes"]["response"].parsed
        return basic["tbs_response_data"]

    a = tbs(pki.respond(req))
    b = tbs(pki.respond(req, key=HsmLikeKey(pki.chain.ocsp_key)))
    for field in ("version", "responder_id", "responses", "response_extensions"):
        assert a[field].dump() == b[field].dump(), field


@pytest.mark.parametrize("hsm", [False, True], ids=["software", "hsm-like"])
@pytest.mark.parametrize("certs", [("good",), ("good", "revoked", "unknown")])
def test_pkilint_reports_nothing(pki, tmp_path, hsm, certs):
    req = pki.request(*certs, sha256=True)
    resp = tmp_path / "resp.der"
    resp.write_bytes(pki.respond(req, key=HsmLikeKey(pki.chain.ocsp_key) if hsm else None))
    r = run(venv_tool("lint_ocsp_response"), "lint", "-s", "WARNING", resp)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "", r.stdout


def test_rsa_responder(tmp_path_factory, tmp_path):
    pki = Pki(make_chain("rsa-2048"), tmp_path_factory.mktemp("ocsp-rsa"))
    for hsm in (False, True):
        req = pki.request("good", "revoked")
        resp = tmp_path / "resp.der"
        resp.write_bytes(pki.respond(req, key=HsmLikeKey(pki.chain.ocsp_key) if hsm else None))
        r = pki.openssl_check_nonce(resp, req)
        assert r.returncode == 0 and "Response verify OK" in r.stderr, r.stderr
        r = pki.openssl_status(resp, "good", "revoked")
        assert "good.pem: good" in r.stdout and "revoked.pem: revoked" in r.stdout


def _tweak(der: bytes, change) -> bytes:
    req = a_ocsp.OCSPRequest.load(der)
    change(req)
    return req.dump(force=True)


@pytest.mark.parametrize(
    "make",
    [
        lambda pki: b"",
        lambda pki: b"\x30\x03\x02\x01\x01",
        lambda pki: b"not DER at all",
        lambda pki: pki.request("good").read_bytes()[:-3],  # truncated
        lambda pki: pki.request("good").read_bytes() + b"\x00",  # trailing garbage
        lambda pki: pki.chain.root.public_bytes(serialization.Encoding.DER),  # a certificate
    ],
    ids=["empty", "short", "text", "truncated", "trailing", "certificate"],
)
def test_malformed_requests(pki, tmp_path, make):
    with pytest.raises(OcspError) as err:
        parse_request(make(pki))
    assert err.value.code == "malformed_request"
    resp = tmp_path / "err.der"
    resp.write_bytes(err.value.response())
    r = run("openssl", "ocsp", "-respin", resp, "-resp_text", "-noverify")
    assert "malformedrequest (1)" in (r.stdout + r.stderr).lower()


def test_unsupported_cert_id_hash_is_malformed(pki):
    def md5(req):
        req["tbs_request"]["request_list"][0]["req_cert"]["hash_algorithm"] = {"algorithm": "md5"}

    with pytest.raises(OcspError) as err:
        parse_request(_tweak(pki.request("good").read_bytes(), md5))
    assert err.value.code == "malformed_request" and "md5" in err.value.message


def test_negative_serial_is_malformed(pki):
    """A CertID with a negative serial is refused when read: signing an answer that echoes it
    failed in the builder ("Negative integers are not supported"), an internalError."""

    def negative(req):
        req["tbs_request"]["request_list"][0]["req_cert"]["serial_number"] = -5

    with pytest.raises(OcspError) as err:
        parse_request(_tweak(pki.request("good").read_bytes(), negative))
    assert err.value.code == "malformed_request" and "negative" in err.value.message


def test_nonce_length_limits(pki):
    def request_with_nonce(nonce: bytes) -> bytes:
        return (
            ocsp.OCSPRequestBuilder()
            .add_certificate(pki.good, pki.chain.issuing, hashes.SHA256())
            .add_extension(x509.OCSPNonce(nonce), critical=False)
            .build()
            .public_bytes(serialization.Encoding.DER)
        )

    assert parse_request(request_with_nonce(b"\x07"))[0].nonce == b"\x07"
    assert parse_request(request_with_nonce(b"n" * 32))[0].nonce == b"n" * 32
    # RFC 9654 §2.1 (obsoleting RFC 8954's 1..32): up to 128 octets are a nonce
    assert parse_request(request_with_nonce(b"n" * 33))[0].nonce == b"n" * 33
    assert parse_request(request_with_nonce(b"n" * 128))[0].nonce == b"n" * 128
    for bad in (b"", b"n" * 129):
        with pytest.raises(OcspError):
            parse_request(request_with_nonce(bad))


def _twice(ext: dict):
    def change(req):
        req["tbs_request"]["request_extensions"] = [ext, ext]

    return change


def _single_twice(req):
    locator = {"issuer": a_x509.Name.build({"common_name": "某CA"}), "locator": []}
    ext = {"extn_id": "service_locator", "critical": False, "extn_value": locator}
    req["tbs_request"]["request_list"][0]["single_request_extensions"] = [ext, ext]


@pytest.mark.parametrize(
    "change",
    [
        _twice({"extn_id": "nonce", "critical": False, "extn_value": b"0123456789abcdef"}),
        _twice(
            {
                "extn_id": "acceptable_responses",
                "critical": False,
                "extn_value": ["basic_ocsp_response"],
            }
        ),
        _single_twice,
    ],
    ids=["nonce", "acceptable_responses", "single_request_extensions"],
)
def test_duplicate_extension_is_malformed(pki, change):
    """RFC 5280 §4.2: one extension at most once per list. Two nonces used to be answered with
    the last one echoed; now the request is malformed, like any other repeated extension."""
    der = _tweak(pki.request("good", nonce=False).read_bytes(), change)
    with pytest.raises(OcspError) as err:
        parse_request(der)
    assert err.value.code == "malformed_request" and "more than once" in err.value.message


def test_wrong_issuer_is_unauthorized(pki, tmp_path):
    """A request about the issuing CA's own certificate (issuer: root) is not ours to answer."""
    out = tmp_path / "req.der"
    r = run(
        "openssl", "ocsp", "-issuer", pki.files["root"], "-cert", pki.files["issuing"],
        "-reqout", out,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    cid = parse_request(out.read_bytes())[0]
    assert not matches_issuer(cid, pki.chain.issuing)
    assert matches_issuer(cid, pki.chain.root)
    resp = ocsp.load_der_ocsp_response(error_response("unauthorized"))
    assert resp.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED


@pytest.mark.parametrize("status", sorted(ERROR_STATUSES) + ["malformedRequest", "tryLater"])
def test_error_responses(status, tmp_path):
    der = error_response(status)
    want = {
        "malformed_request": ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
        "malformedRequest": ocsp.OCSPResponseStatus.MALFORMED_REQUEST,
        "internal_error": ocsp.OCSPResponseStatus.INTERNAL_ERROR,
        "try_later": ocsp.OCSPResponseStatus.TRY_LATER,
        "tryLater": ocsp.OCSPResponseStatus.TRY_LATER,
        "sig_required": ocsp.OCSPResponseStatus.SIG_REQUIRED,
        "unauthorized": ocsp.OCSPResponseStatus.UNAUTHORIZED,
    }[status]
    assert ocsp.load_der_ocsp_response(der).response_status is want
    assert der == ocsp.OCSPResponseBuilder.build_unsuccessful(want).public_bytes(
        serialization.Encoding.DER
    )
    (tmp_path / "e.der").write_bytes(der)
    r = run(venv_tool("lint_ocsp_response"), "lint", "-s", "WARNING", tmp_path / "e.der")
    assert r.stdout.strip() == ""


def test_error_response_refuses_nonsense():
    with pytest.raises(ValueError):
        error_response("successful")


def test_builder_refuses_wrong_keys(pki):
    ids = parse_request(pki.request("good").read_bytes())
    kw = dict(
        responder_cert=pki.chain.ocsp,
        responder_key=pki.chain.tsa_key,
        issuer_cert=pki.chain.issuing,
        single=pki.statuses(ids),
        this_update=pki.chain.now,
        next_update=pki.chain.now + dt.timedelta(hours=1),
        nonce=None,
        request_hash_alg="sha1",
    )
    with pytest.raises(ConfigurationError):
        build_response(**kw)
    with pytest.raises(ConfigurationError):
        build_response(**{**kw, "responder_key": pki.chain.ocsp_key, "issuer_cert": pki.chain.root})


def test_with_nonce_derives_a_valid_signed_response_from_a_presigned_one(tmp_path) -> None:
    """The nonce path splices DER: cryptography must parse it, the nonce must be echoed, the
    signature must verify with the responder key, and openssl and pkilint must accept it."""
    import datetime as dt
    import subprocess

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509 import ocsp as x_ocsp

    from tests.unit.pki_chain import make_chain
    from yinxin.pki.authority import base_name, build_certificate
    from yinxin.pki.ocsp import SingleStatus, build_response, with_nonce
    from yinxin.pki.profiles import PROFILES

    c = make_chain()
    key = ec.generate_private_key(ec.SECP256R1())
    ee = build_certificate(
        profile=PROFILES["person-signing"],
        subject=base_name("张三"),
        public_key=key.public_key(),
        issuer=c.issuer,
        not_before=c.now,
        not_after=c.now + dt.timedelta(days=30),
    )
    t0 = c.now
    template = build_response(
        responder_cert=c.ocsp,
        responder_key=c.ocsp_key,
        issuer_cert=c.issuing,
        single=[SingleStatus(ee.serial_number, "revoked", t0, "key_compromise")],
        this_update=t0,
        next_update=t0 + dt.timedelta(hours=1),
        nonce=None,
        request_hash_alg="sha1",
    )
    nonce = bytes(range(16))
    later = t0 + dt.timedelta(minutes=3)
    der_ = with_nonce(template, nonce, later, c.ocsp_key)
    resp = x_ocsp.load_der_ocsp_response(der_)
    assert resp.response_status == x_ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    assert resp.produced_at_utc == later
    assert resp.serial_number == ee.serial_number
    assert resp.certificate_status == x_ocsp.OCSPCertStatus.REVOKED
    c.ocsp.public_key().verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))
    # openssl checks signature, nonce and status against a real request with that nonce
    req = (
        x_ocsp.OCSPRequestBuilder()
        .add_certificate(ee, c.issuing, hashes.SHA1())
        .add_extension(x509.OCSPNonce(nonce), critical=False)
        .build()
    )
    files = {n: tmp_path / n for n in ("req.der", "resp.der", "root.pem", "iss.pem", "ee.pem")}
    files["resp.der"].write_bytes(der_)
    files["root.pem"].write_bytes(c.root.public_bytes(serialization.Encoding.PEM))
    files["iss.pem"].write_bytes(c.issuing.public_bytes(serialization.Encoding.PEM))
    files["ee.pem"].write_bytes(ee.public_bytes(serialization.Encoding.PEM))

    def openssl(request: bytes) -> subprocess.CompletedProcess:
        # with -reqin and no -cert, openssl checks the response against that request's nonce
        files["req.der"].write_bytes(request)
        return subprocess.run(
            [
                "openssl",
                "ocsp",
                "-reqin",
                files["req.der"],
                "-respin",
                files["resp.der"],
                "-CAfile",
                files["root.pem"],
                "-verify_other",
                files["iss.pem"],
                "-resp_text",
            ],
            capture_output=True,
            text=True,
        )

    out = openssl(req.public_bytes(serialization.Encoding.DER))
    assert out.returncode == 0 and "Response verify OK" in out.stderr + out.stdout, out.stderr
    assert "Cert Status: revoked" in out.stdout
    other = (
        x_ocsp.OCSPRequestBuilder()
        .add_certificate(ee, c.issuing, hashes.SHA1())
        .add_extension(x509.OCSPNonce(bytes(16)), critical=False)
        .build()
    )
    out = openssl(other.public_bytes(serialization.Encoding.DER))
    assert out.returncode != 0 and "Nonce Verify error" in out.stderr  # the check is real


def test_a_nonce_value_that_is_not_one_whole_octet_string_is_malformed(pki):
    """RFC 8954 §2.1: the nonce extension's extnValue holds the DER of ``Nonce ::= OCTET
    STRING``. A value with bytes after that OCTET STRING (``04 02 aa bb`` then ``cc dd``) was
    read as the nonce ``aa bb`` and echoed as ``04 02 aa bb``, which a client comparing the
    extnValue it sent (OpenSSL's ``OCSP_check_nonce``) finds different; a raw nonce (no OCTET
    STRING around it) was refused only when its first bytes did not happen to read as one."""

    def with_value(value: bytes) -> bytes:
        return (
            ocsp.OCSPRequestBuilder()
            .add_certificate(pki.good, pki.chain.issuing, hashes.SHA256())
            .add_extension(
                x509.UnrecognizedExtension(OCSPExtensionOID.NONCE, value), critical=False
            )
            .build()
            .public_bytes(serialization.Encoding.DER)
        )

    assert parse_request(with_value(b"\x04\x02\xaa\xbb"))[0].nonce == b"\xaa\xbb"
    for bad in (b"\x04\x02\xaa\xbb\xcc\xdd", b"\x04\x02\xaa\xbb\x00", bytes(range(16))):
        with pytest.raises(OcspError) as err:
            parse_request(with_value(bad))
        assert err.value.code == "malformed_request" and "nonce" in err.value.message
