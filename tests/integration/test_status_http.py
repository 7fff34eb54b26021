"""Certificate status and trusted time over HTTP, checked with tools we did not write.

One ``yinxin demo`` home and one real ``yinxin serve`` (subprocess, 127.0.0.1, free port) for
the module; lifecycle changes go through the ``yinxin`` CLI as separate processes. Each test
gets its own fresh certificates (issued in-process through the services), so the tests do not
depend on each other's order. OpenSSL (``ocsp``, ``verify``, ``crl``, ``ts``), curl and
pkilint judge what the server says.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from asn1crypto import core, tsp
from asn1crypto import ocsp as a_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from tests.certs import self_signed
from tests.integration.server import (
    PASSPHRASE,
    Server,
    demo_home,
    has_ipv6_loopback,
    issue_certificate,
    ocsp_request,
    running_server,
    yinxin_cli,
    yinxin_json,
)
from yinxin.app import Platform
from yinxin.pki.ocsp import issuer_hashes
from yinxin.settings import Settings

DER = serialization.Encoding.DER
PEM = serialization.Encoding.PEM
FRESHNESS_LIMIT = 1.0  # seconds from `yinxin cert revoke` returning to OCSP and CRL saying so
PKILINT = Path(sys.executable).parent  # lint_crl, lint_ocsp_response: pkilint's scripts


@dataclass
class Env:
    home: Path
    files: Path
    server: Server
    local: Platform  # in-process, same home: issues test certificates
    demo: dict
    root: x509.Certificate
    issuing: x509.Certificate

    @property
    def root_pem(self) -> Path:
        return self.home / "ca" / "root.pem"

    @property
    def issuing_pem(self) -> Path:
        return self.home / "ca" / "issuing.pem"

    @property
    def chain_pem(self) -> Path:
        return self.files / "root+issuing.pem"


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("status-http")
    home, files = base / "home", base / "files"
    files.mkdir()
    demo = demo_home(home)
    local = Platform(
        Settings(home=home, database_url=f"sqlite:///{home / 'yinxin.db'}"),
        passphrase=PASSPHRASE,
        migrate=False,
    )
    root, issuing = local.ca.certificate("root"), local.ca.certificate("issuing")
    (files / "root+issuing.pem").write_bytes(root.public_bytes(PEM) + issuing.public_bytes(PEM))
    try:
        with running_server(home) as server:
            yield Env(home, files, server, local, demo, root, issuing)
            assert server.alive(), server.log()
            assert "Traceback" not in server.log(), server.log()
    finally:
        local.close()


@pytest.fixture
def client(env: Env) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=env.server.base, timeout=10) as c:
        yield c


@pytest.fixture
def new_cert(env: Env, tmp_path: Path) -> Callable[[], tuple[x509.Certificate, Path]]:
    def make() -> tuple[x509.Certificate, Path]:
        cert = issue_certificate(env.local)
        pem = tmp_path / f"{cert.serial_number:x}.pem"
        pem.write_bytes(cert.public_bytes(PEM))
        return cert, pem

    return make


# --- helpers -----------------------------------------------------------------------------------
def hexs(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def run(
    *cmd: str | Path, check: bool = False, input: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(c) for c in cmd],
        capture_output=True,
        text=True,
        timeout=60,
        input=None if input is None else input.decode(),
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def openssl_ocsp(env: Env, pem: Path, *extra: str, url: str | None = None) -> str:
    """``openssl ocsp`` against the server; the output (stdout and stderr together)."""
    proc = run(
        "openssl",
        "ocsp",
        *extra,
        "-issuer",
        env.issuing_pem,
        "-cert",
        pem,
        "-url",
        url or env.server.url("/ocsp"),
        "-CAfile",
        env.root_pem,
    )
    return proc.stdout + proc.stderr


def openssl_time(t: dt.datetime) -> str:
    """How ``openssl ocsp`` prints a time (ASN1_TIME_print: day padded with a space)."""
    t = t.astimezone(dt.UTC)
    return f"{t:%b} {t.day:2d} {t:%H:%M:%S} {t.year} GMT"


def raw_ocsp_request(items: list[dict], extensions: list | None = None) -> bytes:
    tbs: dict = {"request_list": [{"req_cert": i} for i in items]}
    if extensions:
        tbs["request_extensions"] = extensions
    return a_ocsp.OCSPRequest({"tbs_request": tbs}).dump()


def cert_id(issuer: x509.Certificate, serial: int, alg: str = "sha256") -> dict:
    name_hash, key_hash = issuer_hashes(issuer, alg)
    return {
        "hash_algorithm": {"algorithm": alg},
        "issuer_name_hash": name_hash,
        "issuer_key_hash": key_hash,
        "serial_number": serial,
    }


def ocsp_status_of(der: bytes) -> str:
    """The OCSPResponseStatus name asn1crypto gives (successful, malformed_request, …)."""
    return a_ocsp.OCSPResponse.load(der)["response_status"].native


def ocsp_single(der: bytes, env: Env) -> ocsp.OCSPResponse:
    """A successful response, its signature checked with the responder certificate it carries
    (and that certificate with the issuing CA)."""
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL, ocsp_status_of(der)
    responder = resp.certificates[0]
    responder.verify_directly_issued_by(env.issuing)
    responder.public_key().verify(
        resp.signature, resp.tbs_response_bytes, ec.ECDSA(resp.signature_hash_algorithm)
    )
    return resp


def post_ocsp(client: httpx.Client, der: bytes) -> httpx.Response:
    return client.post("/ocsp", content=der, headers={"content-type": "application/ocsp-request"})


def tsa_status(der: bytes) -> tuple[str, set[str] | None]:
    """(PKIStatus, PKIFailureInfo bits) of a TimeStampResp, token or not."""
    seq = core.Sequence.load(der)
    info = tsp.PKIStatusInfo.load(seq[0].dump())
    return info["status"].native, info["fail_info"].native


def tst_info(der: bytes) -> tsp.TSTInfo:
    resp = tsp.TimeStampResp.load(der)
    return resp["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed


def crl_of(der: bytes) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl(der)


def crl_number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def number_after(previous: int, crl: x509.CertificateRevocationList) -> int:
    """The number ``crl`` must carry, signed after CRL ``previous``: the larger of previous + 1
    and its thisUpdate in Unix seconds (``next_crl_number``), so it never goes back, not even
    after a database restored from a backup."""
    return max(previous + 1, int(crl.last_update_utc.timestamp()))


def db_crl_number(env: Env, role: str = "issuing") -> int:
    with sqlite3.connect(env.home / "yinxin.db") as db:
        return (
            db.execute(
                "SELECT max(crl_number) FROM crls WHERE issuer_role = ?", (role,)
            ).fetchone()[0]
            or 0
        )


def revoke(
    env: Env,
    cert: x509.Certificate,
    reason: str = "key_compromise",
    passphrase: str | None = PASSPHRASE,
) -> dict:
    return yinxin_json(
        ["cert", "revoke", hexs(cert), "--reason", reason], env.home, passphrase=passphrase
    )  # type: ignore[return-value]


def fetch_crl(client: httpx.Client, role: str = "issuing") -> bytes:
    r = client.get(f"/crl/{role}.crl")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pkix-crl"
    return r.content


# --- OCSP with openssl ---------------------------------------------------------------------------
def test_openssl_ocsp_good_then_revoked(env: Env, new_cert, client: httpx.Client) -> None:
    cert, pem = new_cert()
    for extra in ((), ("-no_nonce",)):
        out = openssl_ocsp(env, pem, *extra)
        assert f"{pem}: good" in out, out
        assert "Response verify OK" in out, out
        assert "WARNING: no nonce in response" not in out, out

    revoked = revoke(env, cert, "key_compromise")
    when = openssl_time(dt.datetime.fromisoformat(revoked["revoked_at"]))
    for extra in ((), ("-no_nonce",), ("-sha256",), ("-no_nonce", "-sha256")):
        out = openssl_ocsp(env, pem, *extra)
        assert f"{pem}: revoked" in out, out
        assert "Reason: keyCompromise" in out, out
        assert f"Revocation Time: {when}" in out, out
        assert "Response verify OK" in out, out

    # GET: base64 of the DER request in the path, URL-encoded (RFC 6960 A.1) or not
    der = ocsp_request(cert, env.issuing)
    b64 = base64.b64encode(der).decode()
    posted = post_ocsp(client, der).content
    for path in (f"/ocsp/{quote(b64, safe='')}", f"/ocsp/{b64}"):
        r = client.get(path)
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/ocsp-response"
        assert r.content == posted  # nonce-less: the same pre-signed response either way
        single = ocsp_single(r.content, env)
        assert single.certificate_status == ocsp.OCSPCertStatus.REVOKED
        assert single.revocation_reason == x509.ReasonFlags.key_compromise


def test_ocsp_get_with_curl(env: Env, new_cert, tmp_path: Path) -> None:
    cert, _ = new_cert()
    b64 = quote(base64.b64encode(ocsp_request(cert, env.issuing, "sha1")).decode(), safe="")
    out = tmp_path / "resp.der"
    proc = subprocess.run(
        [
            "curl",
            "-sS",
            "-f",
            "-o",
            str(out),
            "-w",
            "%{content_type}",
            env.server.url(f"/ocsp/{b64}"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "application/ocsp-response"
    single = ocsp_single(out.read_bytes(), env)
    assert single.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert single.hash_algorithm.name == "sha1"
    assert single.serial_number == cert.serial_number


def test_ocsp_nonce_echoed_over_http(env: Env, new_cert, client: httpx.Client) -> None:
    cert, _ = new_cert()
    seen = set()
    for nonce in (os.urandom(16), os.urandom(32), b"\x00"):
        r = post_ocsp(client, ocsp_request(cert, env.issuing, nonce=nonce))
        single = ocsp_single(r.content, env)
        assert single.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
        seen.add(r.content)
    assert len(seen) == 3


def test_ocsp_caching_headers_follow_the_response(env: Env, new_cert, client: httpx.Client) -> None:
    """RFC 5019 §6.2 (RFC 9919 §6.2): a nonce-less answer says to HTTP caches what it says
    inside — Last-Modified its thisUpdate, Expires its nextUpdate, an ETag of its bytes, and a
    public max-age no later than nextUpdate. An answer carrying a nonce is for the one request
    that sent it: no shared cache may keep it. An error status is not authoritative: no cache
    keeps it either (all three were sent "max-age=60, public" alike)."""
    from email.utils import parsedate_to_datetime

    cert, _ = new_cert()
    plain = ocsp_request(cert, env.issuing)
    with_nonce = ocsp_request(cert, env.issuing, nonce=os.urandom(16))

    def get(der: bytes) -> httpx.Response:
        return client.get("/ocsp/" + quote(base64.b64encode(der).decode(), safe=""))

    for how, r in (("GET", get(plain)), ("POST", post_ocsp(client, plain))):
        single = ocsp_single(r.content, env)
        h = r.headers
        assert parsedate_to_datetime(h["last-modified"]) == single.this_update_utc, how
        assert parsedate_to_datetime(h["expires"]) == single.next_update_utc, how
        assert h["etag"] == f'"{hashlib.sha256(r.content).hexdigest()}"', how
        directives = {d.strip() for d in h["cache-control"].split(",")}
        assert {"public", "no-transform", "must-revalidate"} <= directives, h
        (max_age,) = [int(d[8:]) for d in directives if d.startswith("max-age=")]
        date = parsedate_to_datetime(h["date"])
        assert 0 < max_age and date + dt.timedelta(seconds=max_age) <= single.next_update_utc
    for how, r in (("GET", get(with_nonce)), ("POST", post_ocsp(client, with_nonce))):
        assert ocsp_single(r.content, env).extensions.get_extension_for_class(x509.OCSPNonce)
        directives = {d.strip() for d in r.headers["cache-control"].split(",")}
        assert "public" not in directives and "private" in directives, (how, r.headers)
        assert not any(d.startswith(("max-age", "s-maxage")) and d != "max-age=0"
                       for d in directives), (how, r.headers)  # fmt: skip
        assert "expires" not in r.headers and "etag" not in r.headers, (how, r.headers)
    foreign = raw_ocsp_request([cert_id(_foreign_ca(), 5)])
    for r in (get(foreign), post_ocsp(client, foreign), get(b"\x30\x00")):
        assert ocsp_status_of(r.content) in ("unauthorized", "malformed_request")
        assert r.headers["cache-control"] == "no-store", r.headers
        assert "last-modified" not in r.headers and "etag" not in r.headers


def test_ocsp_get_conditional(env: Env, new_cert, client: httpx.Client) -> None:
    """A conditional GET (or HEAD) of a nonce-less OCSP answer whose If-None-Match names its
    ETag, or whose If-Modified-Since is after its thisUpdate, is 304 with no body and the
    same validators (RFC 9110 §13.1), as for the CRLs; a POST, an answer with a nonce and an
    error status are always sent in full."""
    from email.utils import format_datetime

    cert, _ = new_cert()
    plain = ocsp_request(cert, env.issuing)
    url = "/ocsp/" + quote(base64.b64encode(plain).decode(), safe="")
    full = client.get(url)
    etag, modified = full.headers["etag"], full.headers["last-modified"]
    single = ocsp_single(full.content, env)
    later = format_datetime(single.this_update_utc + dt.timedelta(seconds=1), usegmt=True)
    for method in ("GET", "HEAD"):
        for headers in ({"if-none-match": etag}, {"if-modified-since": later}):
            r = client.request(method, url, headers=headers)
            assert r.status_code == 304 and r.content == b"", (method, headers, r)
            assert r.headers["etag"] == etag and r.headers["last-modified"] == modified
            assert r.headers["cache-control"] == full.headers["cache-control"]
    earlier = format_datetime(single.this_update_utc - dt.timedelta(seconds=1), usegmt=True)
    # the same second is no proof: a revocation signed in it has the same Last-Modified
    for headers in ({"if-none-match": '"00"'}, {"if-modified-since": earlier},
                    {"if-modified-since": modified}):  # fmt: skip
        r = client.get(url, headers=headers)
        assert r.status_code == 200 and r.content == full.content, headers
    r = client.post(
        "/ocsp",
        content=plain,
        headers={"content-type": "application/ocsp-request", "if-none-match": etag},
    )
    assert r.status_code == 200 and ocsp_single(r.content, env).serial_number == cert.serial_number
    nonce = ocsp_request(cert, env.issuing, nonce=os.urandom(16))
    r = client.get(
        "/ocsp/" + quote(base64.b64encode(nonce).decode(), safe=""), headers={"if-none-match": "*"}
    )
    assert r.status_code == 200 and r.content, r
    r = client.get("/ocsp/" + quote(base64.b64encode(b"\x30\x00").decode(), safe=""),
                   headers={"if-none-match": "*"})  # fmt: skip
    assert r.status_code == 200 and ocsp_status_of(r.content) == "malformed_request"


def test_freeze_is_hold_and_unfreeze_is_good(env: Env, new_cert) -> None:
    cert, pem = new_cert()
    yinxin_cli(["cert", "freeze", hexs(cert)], env.home)
    for extra in ((), ("-no_nonce",)):
        out = openssl_ocsp(env, pem, *extra)
        assert f"{pem}: revoked" in out, out
        assert "Reason: certificateHold" in out, out
        assert "Response verify OK" in out, out
    yinxin_cli(["cert", "unfreeze", hexs(cert)], env.home)
    for extra in ((), ("-no_nonce",)):
        out = openssl_ocsp(env, pem, *extra)
        assert f"{pem}: good" in out, out
        assert "Response verify OK" in out, out


# --- freshness ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cli_can_sign", [True, False], ids=["cli-signs", "cli-cannot-sign"])
def test_revocation_is_visible_within_a_second(
    env: Env, new_cert, client: httpx.Client, cli_can_sign: bool, record_property
) -> None:
    """The first OCSP answer and the first CRL fetch after `yinxin cert revoke` returns both
    say revoked, each within FRESHNESS_LIMIT of the return (measured from it)."""
    cert, pem = new_cert()
    req = ocsp_request(cert, env.issuing)
    first = ocsp_single(post_ocsp(client, req).content, env)  # now cached by the server
    assert first.certificate_status == ocsp.OCSPCertStatus.GOOD
    before = crl_number(crl_of(fetch_crl(client)))

    revoke(env, cert, "stolen_or_forged", passphrase=PASSPHRASE if cli_can_sign else None)
    returned = time.monotonic()
    if not cli_can_sign:
        # it revoked, but the CRL is left to the server: nothing published yet
        assert db_crl_number(env) == before
    answer = ocsp_single(post_ocsp(client, req).content, env)
    ocsp_delay = time.monotonic() - returned
    assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason == x509.ReasonFlags.key_compromise
    crl_der = fetch_crl(client)
    crl_delay = time.monotonic() - returned
    assert crl_of(crl_der).get_revoked_certificate_by_serial_number(cert.serial_number)
    record_property("ocsp_delay_s", round(ocsp_delay, 4))
    record_property("crl_delay_s", round(crl_delay, 4))
    print(
        f"\nfreshness ({'CLI signs' if cli_can_sign else 'server signs'}): OCSP "
        f"{ocsp_delay * 1000:.1f} ms, CRL {crl_delay * 1000:.1f} ms after revoke returned"
    )
    assert ocsp_delay < FRESHNESS_LIMIT
    assert crl_delay < FRESHNESS_LIMIT
    crl = crl_of(crl_der)
    assert crl_number(crl) == number_after(before, crl)
    assert db_crl_number(env) == number_after(before, crl)
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        == x509.ReasonFlags.key_compromise
    )
    out = openssl_ocsp(env, pem, "-no_nonce")
    assert f"{pem}: revoked" in out and "Reason: keyCompromise" in out, out


# --- CRLs --------------------------------------------------------------------------------------
def test_crl_with_openssl(env: Env, new_cert, client: httpx.Client) -> None:
    good, good_pem = new_cert()
    bad, bad_pem = new_cert()
    revoke(env, bad, "key_compromise")
    path = env.files / "issuing.crl"
    der = fetch_crl(client)
    path.write_bytes(der)
    crl = crl_of(der)
    assert crl.next_update_utc is not None and crl.next_update_utc > crl.last_update_utc
    assert crl.is_signature_valid(env.issuing.public_key())

    out = run(
        "openssl",
        "crl",
        "-inform",
        "DER",
        "-in",
        path,
        "-noout",
        "-verify",
        "-CAfile",
        env.issuing_pem,
    )
    assert out.returncode == 0 and "verify OK" in out.stdout + out.stderr, out
    text = run(
        "openssl", "crl", "-inform", "DER", "-in", path, "-noout", "-text", check=True
    ).stdout
    assert "Next Update:" in text and "X509v3 CRL Number" in text
    listed = {int(h, 16) for h in re.findall(r"Serial Number: ([0-9A-F]+)", text)}
    assert bad.serial_number in listed and good.serial_number not in listed

    ok = run(
        "openssl", "verify", "-crl_check", "-CRLfile", path, "-CAfile", env.chain_pem, good_pem
    )
    assert ok.returncode == 0 and f"{good_pem}: OK" in ok.stdout, ok
    no = run("openssl", "verify", "-crl_check", "-CRLfile", path, "-CAfile", env.chain_pem, bad_pem)
    assert no.returncode != 0
    assert "certificate revoked" in no.stdout + no.stderr, no

    root_path = env.files / "root.crl"
    root_der = fetch_crl(client, "root")
    root_path.write_bytes(root_der)
    out = run(
        "openssl",
        "crl",
        "-inform",
        "DER",
        "-in",
        root_path,
        "-noout",
        "-verify",
        "-CAfile",
        env.root_pem,
    )
    assert out.returncode == 0 and "verify OK" in out.stdout + out.stderr, out
    assert crl_of(root_der).next_update_utc is not None
    # the whole chain checked against both CRLs (root's CRL for the issuing CA too)
    both = run(
        "openssl",
        "verify",
        "-crl_check_all",
        "-CRLfile",
        path,
        "-CRLfile",
        root_path,
        "-CAfile",
        env.chain_pem,
        good_pem,
    )
    assert both.returncode == 0, both


def test_crl_number_moves_with_each_change(env: Env, new_cert, client: httpx.Client) -> None:
    cert, _ = new_cert()
    first = fetch_crl(client)
    assert fetch_crl(client) == first  # no change, no new CRL
    n = crl_number(crl_of(first))
    yinxin_cli(["cert", "freeze", hexs(cert)], env.home)
    held = crl_of(fetch_crl(client))
    assert crl_number(held) == number_after(n, held)
    entry = held.get_revoked_certificate_by_serial_number(cert.serial_number)
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        == x509.ReasonFlags.certificate_hold
    )
    yinxin_cli(["cert", "unfreeze", hexs(cert)], env.home, passphrase=None)
    released = crl_of(fetch_crl(client))
    assert crl_number(released) == number_after(crl_number(held), released)
    assert released.get_revoked_certificate_by_serial_number(cert.serial_number) is None
    assert released.last_update_utc >= held.last_update_utc


def test_ca_certificates_served(env: Env, client: httpx.Client) -> None:
    for role in ("root", "issuing", "ocsp", "tsa"):
        r = client.get(f"/ca/{role}.cer")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/pkix-cert"
        pem = (env.home / "ca" / f"{role}.pem").read_bytes()
        assert x509.load_der_x509_certificate(r.content) == x509.load_pem_x509_certificate(pem)


# --- timestamps --------------------------------------------------------------------------------
@pytest.mark.parametrize("alg", ["sha256", "sha384", "sha512"])
def test_openssl_ts(env: Env, tmp_path: Path, alg: str) -> None:
    data = tmp_path / "document.txt"
    data.write_bytes("印信 timestamp test ".encode() + os.urandom(16))
    query, reply = tmp_path / "q.tsq", tmp_path / "r.tsr"
    run("openssl", "ts", "-query", "-data", data, f"-{alg}", "-cert", "-out", query, check=True)
    proc = subprocess.run(
        [
            "curl",
            "-sS",
            "-f",
            "-H",
            "Content-Type: application/timestamp-query",
            "--data-binary",
            f"@{query}",
            "-o",
            str(reply),
            "-w",
            "%{content_type}",
            env.server.url("/tsa"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "application/timestamp-reply"
    der = reply.read_bytes()
    assert tsa_status(der) == ("granted", None)

    info = tst_info(der)
    req = tsp.TimeStampReq.load(query.read_bytes())
    assert info["message_imprint"]["hash_algorithm"]["algorithm"].native == alg
    assert (
        bytes(info["message_imprint"]["hashed_message"].native)
        == hashlib.new(alg, data.read_bytes()).digest()
    )
    assert req["nonce"].native is not None
    assert info["nonce"].native == req["nonce"].native

    text = run("openssl", "ts", "-reply", "-in", reply, "-text", check=True).stdout
    assert f"Hash Algorithm: {alg}" in text
    m = re.search(r"Nonce: 0x([0-9A-F]+)", text)
    assert m and int(m.group(1), 16) == req["nonce"].native, text

    for how in (
        ("-data", data),
        ("-queryfile", query),
        ("-digest", hashlib.new(alg, data.read_bytes()).hexdigest()),
    ):
        out = run(
            "openssl",
            "ts",
            "-verify",
            *how,
            "-in",
            reply,
            "-CAfile",
            env.root_pem,
            "-untrusted",
            env.issuing_pem,
        )
        assert out.returncode == 0 and "Verification: OK" in out.stdout + out.stderr, out

    other = tmp_path / "other.txt"
    other.write_bytes(b"not the document")
    out = run(
        "openssl",
        "ts",
        "-verify",
        "-data",
        other,
        "-in",
        reply,
        "-CAfile",
        env.root_pem,
        "-untrusted",
        env.issuing_pem,
    )
    assert out.returncode != 0


def test_ts_without_nonce_or_cert(env: Env, tmp_path: Path, client: httpx.Client) -> None:
    data = tmp_path / "d"
    data.write_bytes(b"no nonce please")
    query = tmp_path / "q.tsq"
    run("openssl", "ts", "-query", "-data", data, "-sha256", "-no_nonce", "-out", query, check=True)
    r = client.post(
        "/tsa", content=query.read_bytes(), headers={"content-type": "application/timestamp-query"}
    )
    assert tsa_status(r.content) == ("granted", None)
    assert tst_info(r.content)["nonce"].native is None
    reply = tmp_path / "r.tsr"
    reply.write_bytes(r.content)
    # no certReq: the token carries no certificates, so give openssl the TSA's and the issuing
    # CA's (one -untrusted file: openssl ts keeps only the last -untrusted given)
    untrusted = tmp_path / "tsa+issuing.pem"
    untrusted.write_bytes((env.home / "ca" / "tsa.pem").read_bytes() + env.issuing_pem.read_bytes())
    out = run(
        "openssl",
        "ts",
        "-verify",
        "-data",
        data,
        "-in",
        reply,
        "-CAfile",
        env.root_pem,
        "-untrusted",
        untrusted,
    )
    assert out.returncode == 0 and "Verification: OK" in out.stdout + out.stderr, out


# --- pkilint -----------------------------------------------------------------------------------
def _lint_all(jobs: dict[str, list[str | Path]]) -> dict[str, str]:
    """Run pkilint command lines side by side; each one's findings (stdout), by name."""
    procs = {
        name: subprocess.Popen(
            [str(PKILINT / cmd[0]), "lint", *map(str, cmd[1:])],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, cmd in jobs.items()
    }
    out = {}
    for name, proc in procs.items():
        text, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{name}: {text}"
        out[name] = text.strip()
    return out


def test_pkilint_on_live_responses(env: Env, new_cert, client: httpx.Client) -> None:
    good, _ = new_cert()
    bad, _ = new_cert()
    held, _ = new_cert()
    revoke(env, bad, "no_longer_needed")
    yinxin_cli(["cert", "freeze", hexs(held)], env.home)

    crl = env.files / "lint-issuing.crl"
    crl.write_bytes(fetch_crl(client))
    assert len(crl_of(crl.read_bytes())) >= 2
    root = env.files / "lint-root.crl"
    root.write_bytes(fetch_crl(client, "root"))
    # the root's CRL covers CA certificates only: an ARL to pkilint
    jobs: dict[str, list[str | Path]] = {
        "issuing CRL": ["lint_crl", "-t", "CRL", "-p", "PKIX", "-s", "WARNING", crl],
        "root ARL": ["lint_crl", "-t", "ARL", "-p", "PKIX", "-s", "WARNING", root],
    }

    unknown = raw_ocsp_request([cert_id(env.issuing, 0x5EED_0000_0000_0001)])
    cases = {
        "good": ocsp_request(good, env.issuing),
        "good-nonce": ocsp_request(good, env.issuing, nonce=os.urandom(16)),
        "good-sha1": ocsp_request(good, env.issuing, "sha1"),
        "good-sha512": ocsp_request(good, env.issuing, "sha512"),
        "revoked": ocsp_request(bad, env.issuing),
        "revoked-nonce": ocsp_request(bad, env.issuing, nonce=os.urandom(32)),
        "hold": ocsp_request(held, env.issuing),
        "unknown": unknown,
    }
    expect = {
        "good": ocsp.OCSPCertStatus.GOOD,
        "revoked": ocsp.OCSPCertStatus.REVOKED,
        "hold": ocsp.OCSPCertStatus.REVOKED,
        "unknown": ocsp.OCSPCertStatus.UNKNOWN,
    }
    for name, req in cases.items():
        der = post_ocsp(client, req).content
        assert ocsp_single(der, env).certificate_status == expect[name.split("-")[0]], name
        path = env.files / f"lint-{name}.ocsp"
        path.write_bytes(der)
        jobs[f"OCSP {name}"] = ["lint_ocsp_response", "-s", "WARNING", path]
    findings = {k: v for k, v in _lint_all(jobs).items() if v}
    assert not findings, findings


# --- malformed requests --------------------------------------------------------------------------
def _foreign_ca() -> x509.Certificate:
    return self_signed("Someone Else's CA", ca=True, serial=1, days=1)[1]


def _tsq(alg: str = "sha256", digest: bytes | None = None, **more) -> bytes:
    size = {"sha1": 20, "md5": 16, "sha256": 32, "sha384": 48, "sha512": 64}.get(alg, 32)
    req = {
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": {"algorithm": alg},
            "hashed_message": digest if digest is not None else os.urandom(size),
        },
        "nonce": 12345,
        "cert_req": True,
        **more,
    }
    return tsp.TimeStampReq(req).dump()


def test_malformed_requests_never_500(env: Env, new_cert, client: httpx.Client) -> None:
    cert, pem = new_cert()
    good_req = ocsp_request(cert, env.issuing)
    other = _foreign_ca()
    huge = os.urandom(64 * 1024 + 1)

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"\x30" * 8192

    big_nonce = [{"extn_id": "nonce", "critical": False, "extn_value": os.urandom(129)}]
    crit_ext = [
        {
            "extn_id": "1.3.6.1.4.1.99999.1",
            "critical": True,
            "extn_value": core.OctetString(b"x").dump(),
        }
    ]
    wrong_len = cert_id(env.issuing, cert.serial_number)
    wrong_len["issuer_key_hash"] = wrong_len["issuer_key_hash"][:20]

    # (what, method, path, body, expected): an int is an HTTP status, a str the OCSP status
    # (inside a 200) and a tuple the RFC 3161 (status, failInfo)
    ocsp_cases: list[tuple[str, str, str, bytes | Iterator[bytes] | None, object]] = [
        ("garbage", "POST", "/ocsp", b"\x00garbage\xff" * 10, "malformed_request"),
        ("empty body", "POST", "/ocsp", b"", "malformed_request"),
        ("truncated", "POST", "/ocsp", good_req[:-5], "malformed_request"),
        ("trailing junk", "POST", "/ocsp", good_req + b"\x00", "malformed_request"),
        ("a TSA query", "POST", "/ocsp", _tsq(), "malformed_request"),
        (
            "md5 CertID",
            "POST",
            "/ocsp",
            raw_ocsp_request(
                [
                    {
                        "hash_algorithm": {"algorithm": "md5"},
                        "issuer_name_hash": b"\1" * 16,
                        "issuer_key_hash": b"\2" * 16,
                        "serial_number": cert.serial_number,
                    }
                ]
            ),
            "malformed_request",
        ),
        (
            "unknown hash OID",
            "POST",
            "/ocsp",
            raw_ocsp_request(
                [
                    {
                        "hash_algorithm": {"algorithm": "1.2.3.4.5.6"},
                        "issuer_name_hash": b"\1" * 32,
                        "issuer_key_hash": b"\2" * 32,
                        "serial_number": cert.serial_number,
                    }
                ]
            ),
            "malformed_request",
        ),
        (
            "hash of wrong length",
            "POST",
            "/ocsp",
            raw_ocsp_request([wrong_len]),
            "malformed_request",
        ),
        (
            "nonce of 129 octets",
            "POST",
            "/ocsp",
            raw_ocsp_request([cert_id(env.issuing, cert.serial_number)], big_nonce),
            "malformed_request",
        ),
        (
            "unknown critical extension",
            "POST",
            "/ocsp",
            raw_ocsp_request([cert_id(env.issuing, cert.serial_number)], crit_ext),
            "malformed_request",
        ),
        (
            "17 CertIDs",
            "POST",
            "/ocsp",
            raw_ocsp_request([cert_id(env.issuing, i + 1) for i in range(17)]),
            "malformed_request",
        ),
        (
            "CertID under our root",
            "POST",
            "/ocsp",
            ocsp_request(env.issuing, env.root),
            "successful",
        ),  # the root's responder answers for the issuing CA and the TSA
        (
            "ours and the root's",
            "POST",
            "/ocsp",
            raw_ocsp_request([cert_id(env.issuing, cert.serial_number), cert_id(env.root, 5)]),
            "unauthorized",
        ),
        (
            "CertID for another CA",
            "POST",
            "/ocsp",
            raw_ocsp_request([cert_id(other, cert.serial_number)]),
            "unauthorized",
        ),
        (
            "issuer key hash of another CA",
            "POST",
            "/ocsp",
            raw_ocsp_request(
                [
                    {
                        **cert_id(env.issuing, cert.serial_number),
                        "issuer_key_hash": issuer_hashes(other, "sha256")[1],
                    }
                ]
            ),
            "unauthorized",
        ),
        (
            "ours and another CA's",
            "POST",
            "/ocsp",
            raw_ocsp_request([cert_id(env.issuing, cert.serial_number), cert_id(other, 5)]),
            "unauthorized",
        ),
        (
            "mixed CertID hashes",
            "POST",
            "/ocsp",
            raw_ocsp_request(
                [
                    cert_id(env.issuing, cert.serial_number, "sha1"),
                    cert_id(env.issuing, cert.serial_number, "sha256"),
                ]
            ),
            "malformed_request",
        ),
        ("oversize", "POST", "/ocsp", huge, 413),
        ("oversize, chunked", "POST", "/ocsp", chunks(), 413),
        ("GET not base64", "GET", "/ocsp/" + quote("!!!not*base64~~"), None, None),
        ("GET bad padding", "GET", "/ocsp/abc", None, None),
        (
            "GET base64 garbage",
            "GET",
            "/ocsp/" + quote(base64.b64encode(b"junk").decode()),
            None,
            "malformed_request",
        ),
        ("GET nothing", "GET", "/ocsp/", None, None),
        ("GET without path", "GET", "/ocsp", None, None),
        ("PUT", "PUT", "/ocsp", good_req, 405),
        ("DELETE", "DELETE", "/ocsp", None, 405),
        ("PATCH GET-style", "PATCH", "/ocsp/" + base64.b64encode(good_req).decode(), None, 405),
    ]
    tsa_cases: list[tuple[str, str, str, bytes | Iterator[bytes] | None, object]] = [
        ("TSA garbage", "POST", "/tsa", b"\x00garbage", ("rejection", {"bad_data_format"})),
        ("TSA empty body", "POST", "/tsa", b"", ("rejection", {"bad_data_format"})),
        ("TSA an OCSP request", "POST", "/tsa", good_req, ("rejection", {"bad_data_format"})),
        ("TSA sha1", "POST", "/tsa", _tsq("sha1"), ("rejection", {"bad_alg"})),
        ("TSA md5", "POST", "/tsa", _tsq("md5"), ("rejection", {"bad_alg"})),
        ("TSA unknown OID", "POST", "/tsa", _tsq("1.2.3.4.5.6"), ("rejection", {"bad_alg"})),
        (
            "TSA digest of wrong length",
            "POST",
            "/tsa",
            _tsq("sha256", b"\1" * 20),
            ("rejection", {"bad_data_format"}),
        ),
        ("TSA version 2", "POST", "/tsa", _tsq(version=2), ("rejection", {"bad_data_format"})),
        (
            "TSA unknown policy",
            "POST",
            "/tsa",
            _tsq(req_policy="1.2.3.4"),
            ("rejection", {"unaccepted_policy"}),
        ),
        ("TSA oversize", "POST", "/tsa", huge, 413),
        ("TSA oversize, chunked", "POST", "/tsa", chunks(), 413),
        ("TSA GET", "GET", "/tsa", None, 405),
        ("TSA PUT", "PUT", "/tsa", _tsq(), 405),
    ]
    other_cases: list[tuple[str, str, str, bytes | Iterator[bytes] | None, object]] = [
        ("CRL unknown", "GET", "/crl/other.crl", None, 404),
        ("CRL traversal", "GET", "/crl/../yinxin.db.crl", None, 404),
        ("CRL POST", "POST", "/crl/issuing.crl", b"x", None),
        ("CA unknown", "GET", "/ca/secret.cer", None, 404),
        ("CA key", "GET", "/ca/../keys/root-ca.key.pem", None, None),
    ]
    failures = []
    for what, method, path, body, expected in ocsp_cases + tsa_cases + other_cases:
        try:
            r = client.request(method, path, content=body)
        except httpx.HTTPError as e:  # the server may close an oversize upload early
            if expected == 413:
                continue
            failures.append(f"{what}: {type(e).__name__}: {e}")
            continue
        if r.status_code >= 500:
            failures.append(f"{what}: HTTP {r.status_code}")
            continue
        if expected is None:  # any protocol error or HTTP 4xx will do
            if r.status_code == 200 and path.startswith("/ocsp"):
                got = ocsp_status_of(r.content)
                if got not in ("malformed_request", "unauthorized"):
                    failures.append(f"{what}: OCSP {got}")
            elif not 400 <= r.status_code < 500:
                failures.append(f"{what}: HTTP {r.status_code}")
        elif isinstance(expected, int):
            if r.status_code != expected:
                failures.append(f"{what}: HTTP {r.status_code}, wanted {expected}")
        elif r.status_code != 200:
            failures.append(f"{what}: HTTP {r.status_code}, wanted 200")
        elif isinstance(expected, str):
            if r.headers.get("content-type") != "application/ocsp-response":
                failures.append(f"{what}: content-type {r.headers.get('content-type')}")
            got = ocsp_status_of(r.content)
            if got != expected:
                failures.append(f"{what}: OCSP {got}, wanted {expected}")
            codes = {"malformed_request": 1, "unauthorized": 6}
            if expected in codes and r.content != bytes((0x30, 0x03, 0x0A, 0x01, codes[expected])):
                failures.append(f"{what}: error response carries more than its status")
        else:
            got_tsa = tsa_status(r.content)
            if got_tsa != expected:
                failures.append(f"{what}: RFC 3161 {got_tsa}, wanted {expected}")
    assert not failures, "\n".join(failures)

    # still answering, and correctly, after the barrage
    assert env.server.alive(), env.server.log()
    assert client.get("/healthz").json()["ok"] is True
    assert (
        ocsp_single(post_ocsp(client, good_req).content, env).certificate_status
        == ocsp.OCSPCertStatus.GOOD
    )
    out = openssl_ocsp(env, pem)
    assert f"{pem}: good" in out and "Response verify OK" in out, out
    assert "Traceback" not in env.server.log(), env.server.log()


def test_openssl_checks_the_issuing_ca_with_the_roots_responder(env: Env, tmp_path) -> None:
    """The issuing CA's own certificate, with the root as issuer: answered by the root's
    delegated responder (so archive renewal can embed status per certificate); a CertID of
    someone else's CA is still unauthorized."""
    proc = run(
        "openssl",
        "ocsp",
        "-issuer",
        env.root_pem,
        "-cert",
        env.issuing_pem,
        "-url",
        env.server.url("/ocsp"),
        "-CAfile",
        env.root_pem,
        "-no_nonce",
    )
    out = proc.stdout + proc.stderr
    assert f"{env.issuing_pem}: good" in out and "Response verify OK" in out, out
    other = tmp_path / "other.pem"
    other.write_bytes(_foreign_ca().public_bytes(serialization.Encoding.PEM))
    proc = run(
        "openssl",
        "ocsp",
        "-issuer",
        str(other),
        "-serial",
        "5",
        "-url",
        env.server.url("/ocsp"),
        "-CAfile",
        env.root_pem,
        "-no_nonce",
    )
    out = proc.stdout + proc.stderr
    assert re.search(r"unauthorized \(6\)", out), out


# --- IPv6 --------------------------------------------------------------------------------------
@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_serve_on_ipv6_loopback(env: Env, new_cert) -> None:
    cert, pem = new_cert()
    with running_server(env.home, host="::1") as v6:
        assert v6.url("/ocsp").startswith("http://[::1]:")
        out = openssl_ocsp(env, pem, url=v6.url("/ocsp"))
        assert f"{pem}: good" in out and "Response verify OK" in out, out
        with httpx.Client(base_url=v6.base, timeout=10) as c:
            single = ocsp_single(post_ocsp(c, ocsp_request(cert, env.issuing)).content, env)
            assert single.certificate_status == ocsp.OCSPCertStatus.GOOD
            assert c.get("/crl/issuing.crl").headers["content-type"] == "application/pkix-crl"
