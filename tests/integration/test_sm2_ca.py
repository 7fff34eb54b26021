"""An SM2 certificate authority in the platform, checked with OpenSSL's command line.

``yinxin init --algorithm sm2`` (through the CLI) makes the hierarchy; certificates are then
applied for with SM2 CSRs (ours and OpenSSL's), approved, revoked; CRLs, OCSP responses and
timestamps come from the SM2 keys. OpenSSL 3.0 takes the SM2 user ID (``-vfyopt distid:``) for
the certificate or CSR it is asked about only — ``crl -verify``, ``ocsp`` and ``ts -verify``
cannot be given one and check SM2 signatures with an empty ID — so for those the signature
OpenSSL checks is the one over the to-be-signed bytes, with ``pkeyutl -pkeyopt distid:``, and
the fields are read from OpenSSL's own text dumps (docs/national-algorithms.md, "SM2 hierarchy").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import cms, tsp
from asn1crypto import ocsp as a_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import PASSPHRASE, cli_env
from tests.dbdump import dump
from tests.integration.test_ca_lifecycle import enrol, issue
from tests.softhsm import SoftHsmToken, softhsm_token  # noqa: F401
from yinxin.adapters.cli import app as cli_app
from yinxin.adapters.http.server import create_app
from yinxin.app import Platform
from yinxin.clock import FrozenClock
from yinxin.errors import ConfigurationError, Forbidden, ValidationError
from yinxin.pdf.sign import SigningError, SignRequest, sign_pdf
from yinxin.pki import sm2, sm2_x509
from yinxin.pki.authority import base_name
from yinxin.pki.pinkeys import is_wrapped, open_private_key, reseal
from yinxin.settings import Settings
from yinxin.store.models import AuthorityCertificate, PlatformKey

DISTID = "distid:1234567812345678"
PIN = "135790"
PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
SPKI_FORMAT = serialization.PublicFormat.SubjectPublicKeyInfo
LINKS = {"issuing": "root", "ocsp": "issuing", "root-ocsp": "root", "tsa": "root"}


def run(*cmd: str | Path, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, check=check, text=True)


def openssl_checks_sm2(d: Path, tbs: bytes, signature: bytes, public: sm2.SM2PublicKey) -> None:
    """OpenSSL verifies ``signature`` over ``tbs`` with ``public`` under the default user ID
    (and refuses it when one byte of ``tbs`` changes)."""
    (d / "tbs").write_bytes(tbs)
    (d / "bad").write_bytes(tbs[:-1] + bytes([tbs[-1] ^ 1]))
    (d / "sig").write_bytes(signature)
    (d / "pub").write_bytes(public.spki_der())
    base = ["openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", d / "pub",
            "-rawin", "-digest", "sm3", "-pkeyopt", DISTID, "-sigfile", d / "sig"]  # fmt: skip
    assert "Verified Successfully" in run(*base, "-in", d / "tbs").stdout
    assert run(*base, "-in", d / "bad", check=False).returncode != 0


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sm2-ca")


@pytest.fixture(scope="module")
def p(home: Path) -> Iterator[Platform]:
    """A data directory initialised by ``yinxin init --algorithm sm2``, then opened in-process."""
    env = cli_env(home, YINXIN_DATABASE_URL=f"sqlite:///{home / 'yinxin.db'}")
    res = CliRunner().invoke(cli_app, ["init", "--algorithm", "sm2"], env=env)
    assert res.exit_code == 0, res.output
    assert "sm2" in res.output
    settings = Settings(
        home=home, database_url=env["YINXIN_DATABASE_URL"], base_url="http://127.0.0.1:8000"
    )
    # frozen at the real moment after `init`, not at the whole minute before it (real_now):
    # the TSA refuses to stamp before its certificate's notBefore, the moment init made it
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    platform = Platform(settings, clock=FrozenClock(now), passphrase=PASSPHRASE)
    for role in ("root", *LINKS):
        (home / f"{role}.pem").write_bytes(platform.ca.certificate(role).public_bytes(PEM))
    yield platform
    platform.close()


def test_init_makes_an_sm2_hierarchy_openssl_accepts(p: Platform, home: Path) -> None:
    with p.db.read() as s:
        rows = s.execute(select(AuthorityCertificate)).scalars().all()
    assert {r.role for r in rows} == {"root", *LINKS}
    assert {(r.algorithm, r.keystore) for r in rows} == {("sm2", "file")}
    for target, anchor in LINKS.items():
        out = run("openssl", "verify", "-vfyopt", DISTID, "-x509_strict", "-partial_chain",
                  "-CAfile", home / f"{anchor}.pem", home / f"{target}.pem")  # fmt: skip
        assert out.stdout.strip().endswith(": OK")
        sm2_x509.verify_issued_by(p.ca.certificate(target), p.ca.certificate(anchor))
    root = p.ca.certificate("root")
    openssl_checks_sm2(
        home, root.tbs_certificate_bytes, root.signature, sm2_x509.public_key_of(root)
    )
    texts = {
        role: run("openssl", "x509", "-noout", "-text", "-in", home / f"{role}.pem").stdout
        for role in ("root", *LINKS)
    }
    for text in texts.values():
        assert text.count("Signature Algorithm: SM2-with-SM3") == 2 and "ASN1 OID: SM2" in text
    assert "CA:TRUE" in texts["root"] and "pathlen" not in texts["root"]
    assert "CA:TRUE, pathlen:0" in texts["issuing"]
    assert "Time Stamping" in texts["tsa"] and "Extended Key Usage: critical" in texts["tsa"]
    assert "OCSP Signing" in texts["ocsp"] and "OCSP No Check" in texts["ocsp"]
    assert "URI:http://127.0.0.1:8000/crl/root.crl" in texts["issuing"]


def test_keys_are_encrypted_sm2_pkcs8_files(p: Platform, home: Path) -> None:
    keyfile = next(home.rglob("issuing-ca.key.pem"))
    assert keyfile.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert oct(keyfile.stat().st_mode & 0o777) == "0o600"
    text = run("openssl", "pkey", "-in", keyfile, "-passin", f"pass:{PASSPHRASE}", "-noout",
               "-text").stdout  # fmt: skip
    assert "ASN1 OID: SM2" in text
    assert run("openssl", "pkey", "-in", keyfile, "-passin", "pass:wrong passphrase", "-noout",
               check=False).returncode != 0  # fmt: skip
    key = p.ca.key("issuing")
    assert key.algorithm.name == "sm2" and key.native is None
    assert PASSPHRASE not in repr(key)
    # a wrong passphrase is refused by name, as for the other algorithms
    other = Platform(p.settings, clock=p.clock, passphrase="not the passphrase")
    try:
        with pytest.raises(Forbidden) as e:
            other.ca.key("issuing")
        assert e.value.code == "bad_passphrase"
    finally:
        other.close()


def test_pkcs11_refuses_sm2_by_name(softhsm_token: SoftHsmToken) -> None:  # noqa: F811
    from yinxin.pki.pkcs11_store import Pkcs11KeyStore

    with Pkcs11KeyStore(*softhsm_token) as store:
        with pytest.raises(ConfigurationError) as e:
            store.generate("sm2-refused", "sm2")
        assert e.value.field == "algorithm" and "PKCS#11" in e.value.message
        assert not store.exists("sm2-refused")


def _openssl_csr(d: Path, cn: str) -> tuple[bytes, Path]:
    run("openssl", "genpkey", "-algorithm", "SM2", "-out", d / f"{cn}.key")
    run("openssl", "req", "-new", "-key", d / f"{cn}.key", "-sm3", "-sigopt", DISTID,
        "-subj", f"/CN={cn}", "-out", d / f"{cn}.csr")  # fmt: skip
    return (d / f"{cn}.csr").read_bytes(), d / f"{cn}.key"


@pytest.fixture(scope="module")
def issued(p: Platform, home: Path) -> dict:
    """Three certificates from the SM2 CA: for our SM2 CSR, OpenSSL's, and a P-256 CSR."""
    subs = enrol(p, 7)
    key = sm2.generate()
    ours = sm2_x509.build_csr(base_name("ignored"), key, key.public_key()).public_bytes(PEM)
    theirs, their_key = _openssl_csr(home, "openssl-sm2")
    p256 = ec.generate_private_key(ec.SECP256R1())
    ecsr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(base_name("x"))
        .sign(p256, hashes.SHA256())
        .public_bytes(PEM)
    )
    out = {
        "ours": issue(p, subs.person.id, csr=ours),
        "theirs": issue(p, subs.person.id, csr=theirs),
        "p256": issue(p, subs.person.id, csr=ecsr),
        "key": key,
        "their_key": their_key,
    }
    for name in ("ours", "theirs", "p256"):
        (home / f"ee-{name}.pem").write_text(out[name].pem)
    return out


def test_sm2_csrs_are_issued_and_openssl_accepts_the_certificates(
    p: Platform, home: Path, issued: dict
) -> None:
    for name in ("ours", "theirs", "p256"):
        out = run("openssl", "verify", "-vfyopt", DISTID, "-x509_strict", "-partial_chain",
                  "-CAfile", home / "issuing.pem", home / f"ee-{name}.pem")  # fmt: skip
        assert out.stdout.strip().endswith(": OK"), name
    cert = x509.load_pem_x509_certificate(issued["ours"].pem.encode())
    assert sm2_x509.public_key_of(cert) == issued["key"].public_key()
    theirs = x509.load_pem_x509_certificate(issued["theirs"].pem.encode())
    mine = run("openssl", "pkey", "-in", issued["their_key"], "-pubout", "-outform", "PEM").stdout
    spki_pem = sm2_x509.public_key_of(theirs).public_bytes(PEM, SPKI_FORMAT)
    assert spki_pem.decode() == mine
    text = run("openssl", "x509", "-noout", "-text", "-in", home / "ee-ours.pem").stdout
    assert (
        "Digital Signature, Non Repudiation" in text
        and "张三7"
        in run(
            "openssl", "x509", "-noout", "-subject", "-nameopt", "utf8", "-in", home / "ee-ours.pem"
        ).stdout
    )
    assert "OCSP - URI:http://127.0.0.1:8000/ocsp" in text
    # the CA's subject, not the CSR's, is what the certificate names
    assert "ignored" not in text


def test_bad_sm2_requests_are_refused_and_change_nothing(p: Platform, issued: dict) -> None:
    subs = enrol(p, 8)
    key = sm2.generate()
    csr = bytearray(sm2_x509.build_csr(base_name("篡改"), key, key.public_key()).public_bytes(DER))
    csr[csr.index("篡改".encode())] ^= 1
    before = dump(p)
    with pytest.raises(ValidationError) as e:
        p.certificates.apply(subscriber_id=subs.person.id, profile="person-signing", csr=bytes(csr))
    assert e.value.field == "csr" and "SM2 signature does not verify" in e.value.message
    assert dump(p) == before


def test_an_ecdsa_ca_refuses_an_sm2_csr_at_approval(platform: Platform) -> None:
    subs = enrol(platform, 9)
    key = sm2.generate()
    csr = sm2_x509.build_csr(base_name("x"), key, key.public_key()).public_bytes(PEM)
    app = platform.certificates.apply(
        subscriber_id=subs.person.id, profile="person-signing", csr=csr
    )
    platform.certificates.pay(application_id=app.id)
    before = dump(platform)
    with pytest.raises(ValidationError) as e:
        platform.certificates.approve(app.id, officer="受理员 陈静")
    assert e.value.field == "csr" and "SM2 CA" in e.value.message
    assert dump(platform) == before
    # a platform-held SM2 key likewise, named by its algorithm
    app = platform.certificates.apply(
        subscriber_id=subs.person.id, profile="person-signing", pin=PIN, algorithm="sm2"
    )
    platform.certificates.pay(application_id=app.id)
    before = dump(platform)
    with pytest.raises(ValidationError) as e:
        platform.certificates.approve(app.id, officer="受理员 陈静")
    assert e.value.field == "algorithm" and "ec-p256" in e.value.message
    assert dump(platform) == before


def test_a_platform_held_sm2_key(p: Platform, home: Path, tmp_path) -> None:
    """Made by the platform, sealed under the PIN (and the KEK), certified, opened, re-sealed
    under a new PIN; a PDF signature with it is refused by name."""
    subs = enrol(p, 10)
    cert = issue(p, subs.person.id, pin=PIN, algorithm="sm2")
    (tmp_path / "ee.pem").write_text(cert.pem)
    out = run("openssl", "verify", "-vfyopt", DISTID, "-x509_strict", "-partial_chain",
              "-CAfile", home / "issuing.pem", tmp_path / "ee.pem", check=False)  # fmt: skip
    if out.returncode:  # the issuing CA was re-certified by the rollover test: same key
        (tmp_path / "ca.pem").write_bytes(p.ca.certificate("issuing").public_bytes(PEM))
        out = run("openssl", "verify", "-vfyopt", DISTID, "-x509_strict", "-partial_chain",
                  "-CAfile", tmp_path / "ca.pem", tmp_path / "ee.pem")  # fmt: skip
    assert out.stdout.strip().endswith(": OK")
    with p.db.read() as s:
        row = s.execute(select(PlatformKey).order_by(PlatformKey.id.desc())).scalars().first()
    assert row.algorithm == "sm2" and is_wrapped(row.sealed_key)
    certificate = x509.load_pem_x509_certificate(cert.pem.encode())
    key = open_private_key(row.sealed_key, PIN, row.label, kek=p.kek)
    assert key.algorithm.name == "sm2" and key.public_key() == sm2_x509.public_key_of(certificate)
    key.public_key().verify(key.sign(b"seal"), b"seal")
    with pytest.raises(Forbidden):
        open_private_key(row.sealed_key, "000000", row.label, kek=p.kek)
    again = reseal(row.sealed_key, PIN, "246813", row.label, kek=p.kek)
    assert open_private_key(again, "246813", row.label, kek=p.kek).public_key() == key.public_key()
    with pytest.raises(SigningError) as e:
        sign_pdf(
            SignRequest(
                pdf=b"%PDF-1.7", key=key, certificate=certificate, chain=[], stamp=None,
                placement=None, timestamper=None, level="B-B",
            )
        )  # fmt: skip
    assert e.value.field == "key" and "SM2" in e.value.message


@pytest.fixture(scope="module")
def revoked(p: Platform, issued: dict) -> str:
    """The serial of OpenSSL's SM2 key's certificate, revoked for key compromise."""
    serial = issued["theirs"].serial
    p.certificates.revoke(serial, reason="key_compromise", actor="ra")
    p.status.publish_crl("issuing")
    return serial


def test_revocation_reaches_the_sm2_crl(p: Platform, revoked: str, tmp_path) -> None:
    serial = revoked
    crl_der = p.status.current_crl("issuing")
    (tmp_path / "issuing.crl").write_bytes(crl_der)
    text = run("openssl", "crl", "-inform", "DER", "-in", tmp_path / "issuing.crl", "-noout",
               "-text").stdout  # fmt: skip
    assert text.count("Signature Algorithm: SM2-with-SM3") == 2
    assert f"Serial Number: {serial.upper().zfill(len(serial) + len(serial) % 2)}" in text
    assert "Key Compromise" in text and "X509v3 CRL Number" in text
    crl = x509.load_der_x509_crl(crl_der)
    issuing = p.ca.certificate("issuing")
    ski = issuing.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski and crl.issuer == issuing.subject
    openssl_checks_sm2(
        tmp_path, crl.tbs_certlist_bytes, crl.signature, sm2_x509.public_key_of(issuing)
    )
    pkilint("lint_crl", "-t", "CRL", "-p", "PKIX", tmp_path / "issuing.crl")


def pkilint(tool: str, *args: str | Path) -> None:
    """pkilint (``lint_crl``, ``lint_ocsp_response``) finds no fatal, error or warning."""
    out = run(Path(sys.executable).parent / tool, "lint", *args, check=False)
    assert out.returncode == 0 and "Failed" not in out.stdout + out.stderr, out.stderr
    for severity in ("(FATAL)", "(ERROR)", "(WARNING)"):
        assert severity not in out.stdout, out.stdout


def _ocsp_tbs_and_signature(resp: bytes) -> tuple[bytes, bytes, a_ocsp.BasicOCSPResponse]:
    basic = a_ocsp.OCSPResponse.load(resp)["response_bytes"]["response"].parsed
    return basic["tbs_response_data"].dump(), basic["signature"].native, basic


def test_ocsp_answers_signed_sm2(p: Platform, home: Path, revoked: str, tmp_path) -> None:
    responder = p.ca.certificate("ocsp")
    responder_key = sm2_x509.public_key_of(responder)
    good, revoked = home / "ee-ours.pem", home / "ee-theirs.pem"
    # two CertIDs (SHA-256), no nonce; then one with a nonce (a freshly signed response)
    run("openssl", "ocsp", "-sha256", "-issuer", home / "issuing.pem", "-cert", good, "-cert",
        revoked, "-no_nonce", "-reqout", tmp_path / "two.req")  # fmt: skip
    run("openssl", "ocsp", "-issuer", home / "issuing.pem", "-cert", revoked,
        "-reqout", tmp_path / "nonce.req")  # fmt: skip
    for name in ("two", "nonce"):
        (tmp_path / f"{name}.resp").write_bytes(
            p.ocsp.respond((tmp_path / f"{name}.req").read_bytes())
        )
    out = run("openssl", "ocsp", "-respin", tmp_path / "two.resp", "-issuer", home / "issuing.pem",
              "-VAfile", home / "ocsp.pem", "-no_signature_verify", "-sha256", "-cert", good,
              "-cert", revoked, "-no_nonce")  # fmt: skip
    assert f"{good}: good" in out.stdout and f"{revoked}: revoked" in out.stdout
    assert "Reason: keyCompromise" in out.stdout
    text = run("openssl", "ocsp", "-respin", tmp_path / "nonce.resp", "-resp_text",
               "-noverify").stdout  # fmt: skip
    assert "Signature Algorithm: SM2-with-SM3" in text and "Cert Status: revoked" in text
    req_text = run("openssl", "ocsp", "-reqin", tmp_path / "nonce.req", "-req_text").stdout
    nonce = req_text.split("OCSP Nonce:")[1].split()[0]
    assert text.split("OCSP Nonce:")[1].split()[0] == nonce  # the request's nonce echoed
    for name in ("two", "nonce"):
        tbs, signature, basic = _ocsp_tbs_and_signature((tmp_path / f"{name}.resp").read_bytes())
        assert basic["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM3_WITH_SM2
        assert basic["certs"][0].dump() == responder.public_bytes(DER)
        key_bits = sm2_x509.public_key_of(responder).point()
        responder_id = basic["tbs_response_data"]["responder_id"].chosen.native
        assert responder_id == hashlib.sha1(key_bits).digest()
        openssl_checks_sm2(tmp_path, tbs, signature, responder_key)
        pkilint("lint_ocsp_response", tmp_path / f"{name}.resp")


@pytest.mark.parametrize("digest", ["sha256", "sm3"])
def test_timestamps_signed_sm2(p: Platform, home: Path, tmp_path, digest: str) -> None:
    (tmp_path / "doc").write_bytes("印信 SM2 时间戳".encode())
    run("openssl", "ts", "-query", "-data", tmp_path / "doc", f"-{digest}", "-cert",
        "-out", tmp_path / "q.tsq")  # fmt: skip
    (tmp_path / "r.tsr").write_bytes(p.tsa.respond((tmp_path / "q.tsq").read_bytes()))
    text = run("openssl", "ts", "-reply", "-in", tmp_path / "r.tsr", "-text").stdout
    assert "Status: Granted." in text and f"Hash Algorithm: {digest}" in text
    reply = tsp.TimeStampResp.load((tmp_path / "r.tsr").read_bytes())
    signed = reply["time_stamp_token"]["content"]
    signer = signed["signer_infos"][0]
    assert signer["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM3_WITH_SM2
    assert signer["digest_algorithm"]["algorithm"].dotted == sm2.OID_SM3
    tst = signed["encap_content_info"]["content"].contents
    want = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    assert want["message_digest"].native == sm2.sm3(tst)
    query = tsp.TimeStampReq.load((tmp_path / "q.tsq").read_bytes())
    info = tsp.TSTInfo.load(tst)
    assert info["message_imprint"].dump() == query["message_imprint"].dump()
    # the signature covers the attributes as a SET OF: the [0] IMPLICIT tag made universal
    attrs = signer["signed_attrs"].dump()
    tsa_cert = p.tsa.certificate()
    assert signed["certificates"][0].chosen.dump() == tsa_cert.public_bytes(DER)
    openssl_checks_sm2(
        tmp_path, b"\x31" + attrs[1:], signer["signature"].native, sm2_x509.public_key_of(tsa_cert)
    )
    assert isinstance(signed, cms.SignedData)


def test_rollover_of_sm2_roles(p: Platform, home: Path, tmp_path) -> None:
    """The TSA gets a new SM2 key and certificate; the issuing CA is re-certified (same key)."""
    old_tsa = p.ca.certificate("tsa")
    old_issuing_key = sm2_x509.public_key_of(p.ca.certificate("issuing"))
    for role in ("tsa", "issuing"):
        p.ca.rollover(role, actor="operator")
        (tmp_path / f"{role}.pem").write_bytes(p.ca.certificate(role).public_bytes(PEM))
        out = run("openssl", "verify", "-vfyopt", DISTID, "-x509_strict", "-partial_chain",
                  "-CAfile", home / "root.pem", tmp_path / f"{role}.pem")  # fmt: skip
        assert out.stdout.strip().endswith(": OK")
    new_tsa = p.ca.certificate("tsa")
    assert new_tsa.serial_number != old_tsa.serial_number
    assert sm2_x509.public_key_of(new_tsa) != sm2_x509.public_key_of(old_tsa)
    assert sm2_x509.public_key_of(p.ca.certificate("issuing")) == old_issuing_key
    p.tsa.reload()
    (tmp_path / "doc").write_bytes(b"after rollover")
    run("openssl", "ts", "-query", "-data", tmp_path / "doc", "-sha256", "-cert",
        "-out", tmp_path / "q.tsq")  # fmt: skip
    reply = tsp.TimeStampResp.load(p.tsa.respond((tmp_path / "q.tsq").read_bytes()))
    signed = reply["time_stamp_token"]["content"]
    assert signed["certificates"][0].chosen.dump() == new_tsa.public_bytes(DER)
    signer = signed["signer_infos"][0]
    attrs = signer["signed_attrs"].dump()
    sm2_x509.public_key_of(new_tsa).verify(signer["signature"].native, b"\x31" + attrs[1:])


def test_the_root_answers_for_its_subordinates(p: Platform, home: Path, tmp_path) -> None:
    """The root's CRL and the root OCSP responder (for the issuing CA and TSA certificates)."""
    p.status.publish_crl("root")
    crl = x509.load_der_x509_crl(p.status.current_crl("root"))
    root = p.ca.certificate("root")
    assert crl.issuer == root.subject and sm2_x509.is_sm2(crl)
    openssl_checks_sm2(
        tmp_path, crl.tbs_certlist_bytes, crl.signature, sm2_x509.public_key_of(root)
    )
    (tmp_path / "issuing.pem").write_bytes(p.ca.certificate("issuing").public_bytes(PEM))
    run("openssl", "ocsp", "-issuer", home / "root.pem", "-cert", tmp_path / "issuing.pem",
        "-no_nonce", "-reqout", tmp_path / "ca.req")  # fmt: skip
    (tmp_path / "ca.resp").write_bytes(p.ocsp.respond((tmp_path / "ca.req").read_bytes()))
    (tmp_path / "root-ocsp.pem").write_bytes(p.ca.certificate("root-ocsp").public_bytes(PEM))
    out = run("openssl", "ocsp", "-respin", tmp_path / "ca.resp", "-issuer", home / "root.pem",
              "-VAfile", tmp_path / "root-ocsp.pem", "-no_signature_verify", "-cert",
              tmp_path / "issuing.pem", "-no_nonce")  # fmt: skip
    assert f"{tmp_path / 'issuing.pem'}: good" in out.stdout
    tbs, signature, basic = _ocsp_tbs_and_signature((tmp_path / "ca.resp").read_bytes())
    responder = p.ca.certificate("root-ocsp")
    assert basic["certs"][0].dump() == responder.public_bytes(DER)
    openssl_checks_sm2(tmp_path, tbs, signature, sm2_x509.public_key_of(responder))


def test_the_http_surface_of_an_sm2_ca(p: Platform, home: Path, tmp_path) -> None:
    """The API applies with an SM2 CSR and refuses a broken one as problem+json naming ``csr``;
    the status endpoints serve the SM2 CA's certificate, CRL, OCSP responses and timestamps."""
    subs = enrol(p, 11)
    keys = {
        role: p.api_keys.create(name=f"sm2-{role}", role=role, actor="test").secret
        for role in ("integration", "ra_officer")
    }
    key = sm2.generate()
    csr = sm2_x509.build_csr(base_name("接口"), key, key.public_key())
    bad = bytearray(csr.public_bytes(DER))
    bad[bad.index("接口".encode())] ^= 1
    with TestClient(create_app(p, jobs=False), base_url="http://127.0.0.1:8000") as c:
        as_ = {r: {"Authorization": f"Bearer {k}"} for r, k in keys.items()}
        body = {"subscriber_id": subs.person.id, "profile": "person-signing"}
        r = c.post("/api/v1/applications", json={**body, "csr": csr.public_bytes(PEM).decode()},
                   headers=as_["integration"])  # fmt: skip
        assert r.status_code == 201, r.text
        app = r.json()
        r = c.post(f"/api/v1/applications/{app['id']}/payments", json={},
                   headers=as_["integration"])  # fmt: skip
        assert r.status_code == 201, r.text
        r = c.post(f"/api/v1/applications/{app['id']}/approve", json={}, headers=as_["ra_officer"])
        assert r.status_code == 200, r.text
        cert = x509.load_pem_x509_certificate(r.json()["pem"].encode())
        assert sm2_x509.public_key_of(cert) == key.public_key()
        sm2_x509.verify_issued_by(cert, p.ca.certificate("issuing"))
        before = dump(p)
        pem_bad = x509.load_der_x509_csr(bytes(bad)).public_bytes(PEM).decode()
        r = c.post("/api/v1/applications", json={**body, "csr": pem_bad},
                   headers=as_["integration"])  # fmt: skip
        assert r.status_code == 422 and r.headers["content-type"].startswith(
            "application/problem+json"
        )
        assert r.json()["field"] == "csr"
        assert dump(p) == before
        # status endpoints
        r = c.get("/ca/issuing.cer")
        assert r.status_code == 200 and sm2_x509.is_sm2(x509.load_der_x509_certificate(r.content))
        r = c.get("/crl/issuing.crl")
        crl = x509.load_der_x509_crl(r.content)
        issuing = p.ca.certificate("issuing")
        sm2_x509.public_key_of(issuing).verify(crl.signature, crl.tbs_certlist_bytes)
        (tmp_path / "ee.pem").write_bytes(cert.public_bytes(PEM))
        (tmp_path / "ca.pem").write_bytes(issuing.public_bytes(PEM))
        run("openssl", "ocsp", "-issuer", tmp_path / "ca.pem", "-cert", tmp_path / "ee.pem",
            "-reqout", tmp_path / "q.ocsp")  # fmt: skip
        r = c.post("/ocsp", content=(tmp_path / "q.ocsp").read_bytes(),
                   headers={"content-type": "application/ocsp-request"})  # fmt: skip
        assert r.headers["content-type"] == "application/ocsp-response"
        tbs, signature, _ = _ocsp_tbs_and_signature(r.content)
        sm2_x509.public_key_of(p.ca.certificate("ocsp")).verify(signature, tbs)
        (tmp_path / "doc").write_bytes(b"http")
        run("openssl", "ts", "-query", "-data", tmp_path / "doc", "-sm3", "-cert",
            "-out", tmp_path / "q.tsq")  # fmt: skip
        r = c.post("/tsa", content=(tmp_path / "q.tsq").read_bytes(),
                   headers={"content-type": "application/timestamp-query"})  # fmt: skip
        reply = tsp.TimeStampResp.load(r.content)
        assert reply["status"]["status"].native == "granted"
