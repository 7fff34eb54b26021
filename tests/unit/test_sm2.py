"""SM2/SM3 primitives and SM2 certificates, checked against implementations nobody here wrote.

OpenSSL's command line (``pkeyutl``, ``pkey``, ``verify``, ``req``, ``x509``) and the npm package
``sm-crypto`` under node (installed into the test output directory on first use) verify what
``yinxin.pki.sm2`` / ``sm2_x509`` make, and we verify what they make; the SM3 value is the
standard's own example (GB/T 32905-2016 appendix A).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.clock import real_now
from tests.conftest import OUTPUT
from yinxin.errors import Forbidden, ValidationError
from yinxin.pki import sm2, sm2_x509
from yinxin.pki.authority import StatusUrls, base_name
from yinxin.pki.profiles import PROFILES

DISTID = ["-vfyopt", "distid:1234567812345678"]
OTHER_UID = b"ALICE123@YAHOO.COM"  # the user ID of GB/T 32918.2's examples


def run(*cmd: str | Path, input: bytes | None = None, check: bool = True):
    return subprocess.run([str(c) for c in cmd], input=input, capture_output=True, check=check)


@pytest.fixture(scope="module")
def key() -> sm2.SM2PrivateKey:
    return sm2.generate()


# --- SM3 and SM2 signatures -------------------------------------------------------------------


def test_sm3_is_the_standard_example() -> None:
    assert sm2.sm3(b"abc").hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )


def test_sign_verify_and_every_kind_of_mismatch(key: sm2.SM2PrivateKey) -> None:
    public = key.public_key()
    sig = key.sign(b"contract")
    public.verify(sig, b"contract")
    assert sig[0] == 0x30 and len(sig) <= 72  # DER SEQUENCE {r, s}
    assert key.sign(b"contract") != sig  # a fresh k each time
    for bad in (
        lambda: public.verify(sig, b"contracT"),
        lambda: public.verify(sig, b"contract", uid=OTHER_UID),  # Z_A hashes the user ID
        lambda: sm2.generate().public_key().verify(sig, b"contract"),
        lambda: public.verify(sig[:-1] + bytes([sig[-1] ^ 1]), b"contract"),
        lambda: public.verify(b"\x30\x03\x02\x01", b"contract"),  # not DER
        lambda: public.verify(b"", b"contract"),
    ):
        with pytest.raises(InvalidSignature):
            bad()
    # the ID is part of what is signed: one made under another ID verifies under that one only
    other = key.sign(b"contract", uid=OTHER_UID)
    public.verify(other, b"contract", uid=OTHER_UID)
    with pytest.raises(InvalidSignature):
        public.verify(other, b"contract")


def test_user_id_is_checked(key: sm2.SM2PrivateKey) -> None:
    for uid in (b"", b"x" * 8192):
        with pytest.raises(ValidationError) as e:
            key.sign(b"data", uid=uid)
        assert e.value.field == "uid"


def test_repr_shows_no_secret(key: sm2.SM2PrivateKey, tmp_path: Path) -> None:
    pem = key.private_bytes_pkcs8(None)
    text = run("openssl", "pkey", "-noout", "-text", input=pem).stdout.decode()
    scalar = "".join(text.split("priv:")[1].split("pub:")[0].split()).replace(":", "")
    assert len(scalar) >= 62
    assert scalar not in repr(key).replace("…", "") and "SM2PrivateKey(public=" in repr(key)
    with pytest.raises(TypeError):
        __import__("pickle").dumps(key)


def test_openssl_verifies_ours_and_we_verify_openssls(key, tmp_path: Path) -> None:
    (tmp_path / "pub.der").write_bytes(key.public_key().spki_der())
    (tmp_path / "msg").write_bytes(b"\x00\x01 seal me \xff")
    verify = [
        "openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER",
        "-inkey", tmp_path / "pub.der", "-rawin", "-digest", "sm3", "-in", tmp_path / "msg",
    ]  # fmt: skip
    for uid in (sm2.DEFAULT_UID, OTHER_UID):
        (tmp_path / "sig").write_bytes(key.sign(b"\x00\x01 seal me \xff", uid=uid))
        ok = run(*verify, "-sigfile", tmp_path / "sig", "-pkeyopt", f"distid:{uid.decode()}")
        assert b"Signature Verified Successfully" in ok.stdout
    # the last signature was made under OTHER_UID: OpenSSL refuses it under the default ID
    bad = run(*verify, "-sigfile", tmp_path / "sig", "-pkeyopt", "distid:1234567812345678",
              check=False)  # fmt: skip
    assert bad.returncode != 0

    # OpenSSL's key and signature, read and checked here
    run("openssl", "genpkey", "-algorithm", "SM2", "-out", tmp_path / "o.key")
    run("openssl", "pkey", "-in", tmp_path / "o.key", "-pubout", "-outform", "DER",
        "-out", tmp_path / "o.pub")  # fmt: skip
    run("openssl", "pkeyutl", "-sign", "-inkey", tmp_path / "o.key", "-rawin", "-digest", "sm3",
        "-pkeyopt", "distid:1234567812345678", "-in", tmp_path / "msg",
        "-out", tmp_path / "o.sig")  # fmt: skip
    theirs = sm2.load_public_spki((tmp_path / "o.pub").read_bytes())
    theirs.verify((tmp_path / "o.sig").read_bytes(), b"\x00\x01 seal me \xff")
    with pytest.raises(InvalidSignature):
        theirs.verify((tmp_path / "o.sig").read_bytes(), b"\x00\x01 seal me \xfe")
    # and the private key OpenSSL wrote loads and signs as the same key
    loaded = sm2.load_private_pkcs8((tmp_path / "o.key").read_bytes(), None)
    assert loaded.public_key() == theirs
    theirs.verify(loaded.sign(b"x"), b"x")


# --- keys in PKCS#8 and SPKI ------------------------------------------------------------------


def test_encrypted_pkcs8_round_trip_and_openssl_reads_it(key, tmp_path: Path) -> None:
    pem = key.private_bytes_pkcs8(b"correct horse")
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    again = sm2.load_private_pkcs8(pem, b"correct horse")
    assert again.public_key() == key.public_key()
    key.public_key().verify(again.sign(b"m"), b"m")
    (tmp_path / "k.pem").write_bytes(pem)
    out = run("openssl", "pkey", "-in", tmp_path / "k.pem", "-passin", "pass:correct horse",
              "-pubout", "-outform", "DER").stdout  # fmt: skip
    assert out == key.public_key().spki_der()
    with pytest.raises(Forbidden) as e:
        sm2.load_private_pkcs8(pem, b"wrong horse")
    assert e.value.field == "password"
    with pytest.raises(Forbidden):
        sm2.load_private_pkcs8(pem, None)  # never prompts on a terminal
    with pytest.raises(ValidationError):
        key.private_bytes_pkcs8(b"")
    # a password for a key that has none: refused (libcrypto ignored it), not taken as given
    with pytest.raises(ValidationError) as v:
        sm2.load_private_pkcs8(key.private_bytes_pkcs8(None), b"correct horse")
    assert v.value.field == "password" and "not encrypted" in v.value.message
    # the unencrypted DER that PIN-sealing encrypts itself, read back and by OpenSSL
    der = key.private_bytes_der()
    assert sm2.load_private_der(der).public_key() == key.public_key()
    (tmp_path / "k.der").write_bytes(der)
    out = run("openssl", "pkey", "-inform", "DER", "-in", tmp_path / "k.der", "-pubout",
              "-outform", "DER").stdout  # fmt: skip
    assert out == key.public_key().spki_der()


def test_keys_that_are_not_sm2_are_refused() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    pem = p256.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValidationError) as e:
        sm2.load_private_pkcs8(pem, None)
    assert e.value.field == "key"
    spki = p256.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for bad in (spki, b"", b"\x30\x00", sm2.generate().public_key().spki_der() + b"\x00"):
        with pytest.raises(ValidationError) as e:
            sm2.load_public_spki(bad)
        assert e.value.field == "public_key"
    with pytest.raises(ValidationError):
        sm2.load_private_pkcs8(b"not pem", None)
    with pytest.raises(ValidationError):
        sm2.load_public_point(b"\x04" + b"\x01" * 64)  # not on the curve


def test_spki_and_point(key) -> None:
    public = key.public_key()
    spki = public.spki_der()
    assert sm2.load_public_spki(spki) == public
    assert len(public.point()) == 65 and public.point()[0] == 4
    assert sm2.load_public_point(public.point()) == public
    # id-ecPublicKey with the SM2 curve OID, as OpenSSL writes it
    text = run("openssl", "asn1parse", "-inform", "DER", input=spki).stdout.decode()
    assert "id-ecPublicKey" in text and ":sm2" in text.replace("SM2", "sm2")


# --- sm-crypto (npm) under node ----------------------------------------------------------------

_SM_CRYPTO_SCRIPT = r"""
const sm2 = require('sm-crypto').sm2;
const reqs = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const bytes = (hex) => Array.from(Buffer.from(hex, 'hex'));
const out = reqs.map((r) => {
  const opts = { der: true, hash: true, userId: r.uid };
  if (r.op === 'verify') return sm2.doVerifySignature(bytes(r.msg), r.sig, r.pub, opts);
  const kp = sm2.generateKeyPairHex();
  const sig = sm2.doSignature(bytes(r.msg), kp.privateKey, { ...opts, publicKey: kp.publicKey });
  return { pub: kp.publicKey, sig };
});
process.stdout.write(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def sm_crypto() -> Path:
    """A directory with sm-crypto 0.3.14 installed and our driver script."""
    if not shutil.which("node") or not shutil.which("npm"):
        if os.environ.get("CI"):
            pytest.fail("node and npm are needed for the sm-crypto cross-check")
        pytest.skip("node/npm not installed")
    home = OUTPUT / "sm-crypto"
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "node_modules" / "sm-crypto").is_dir():
        got = run("npm", "install", "--no-audit", "--no-fund", "--prefix", home,
                  "sm-crypto@0.3.14", check=False)  # fmt: skip
        if got.returncode != 0:
            if os.environ.get("CI"):
                pytest.fail(f"npm install sm-crypto failed: {got.stderr.decode()[-500:]}")
            pytest.skip("npm could not install sm-crypto (offline?)")
    (home / "drive.js").write_text(_SM_CRYPTO_SCRIPT)
    return home


def sm_crypto_run(home: Path, requests: list[dict]) -> list:
    out = subprocess.run(
        ["node", str(home / "drive.js")],
        input=json.dumps(requests).encode(),
        capture_output=True,
        check=True,
        cwd=home,
    )
    return json.loads(out.stdout)


def test_sm_crypto_verifies_ours_and_we_verify_its(key, sm_crypto: Path) -> None:
    msg = "印信 SM2 互验".encode() + bytes(range(256))
    pub = key.public_key().point().hex()
    requests = []
    for uid in (sm2.DEFAULT_UID, OTHER_UID):
        sig = key.sign(msg, uid=uid).hex()
        requests.append({"op": "verify", "msg": msg.hex(), "sig": sig, "pub": pub,
                         "uid": uid.decode()})  # fmt: skip
        # and the negatives, so a verifier that said yes to anything would be caught
        requests.append({"op": "verify", "msg": (msg + b"!").hex(), "sig": sig, "pub": pub,
                         "uid": uid.decode()})  # fmt: skip
    requests.append({"op": "verify", "msg": msg.hex(), "sig": key.sign(msg).hex(), "pub": pub,
                     "uid": OTHER_UID.decode()})  # fmt: skip
    requests += [{"op": "sign", "msg": msg.hex(), "uid": u.decode()}
                 for u in (sm2.DEFAULT_UID, OTHER_UID)]  # fmt: skip
    results = sm_crypto_run(sm_crypto, requests)
    assert results[:5] == [True, False, True, False, False]
    for made, uid in zip(results[5:], (sm2.DEFAULT_UID, OTHER_UID), strict=True):
        theirs = sm2.load_public_point(bytes.fromhex(made["pub"]))
        theirs.verify(bytes.fromhex(made["sig"]), msg, uid=uid)
        with pytest.raises(InvalidSignature):
            theirs.verify(bytes.fromhex(made["sig"]), msg + b"!", uid=uid)


# --- certificates and CSRs ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> dict:
    """An SM2 root → issuing CA → person certificate, as PEM files for openssl."""
    d = tmp_path_factory.mktemp("sm2chain")
    now = real_now()
    root_key, ca_key, ee_key = sm2.generate(), sm2.generate(), sm2.generate()
    root = sm2_x509.build_certificate(
        profile=PROFILES["root-ca"],
        subject=base_name("印信根证书 SM2 Root CA", organization="印信电子认证服务 Yinxin"),
        public_key=root_key.public_key(),
        issuer=None,
        self_key=root_key,
        not_before=now,
        not_after=now + dt.timedelta(days=3650),
    )
    root_urls = StatusUrls(crl="http://127.0.0.1:8000/crl/root.crl",
                           ca_issuers="http://127.0.0.1:8000/ca/root.cer")  # fmt: skip
    ca = sm2_x509.build_certificate(
        profile=PROFILES["issuing-ca"],
        subject=base_name("印信签发证书 SM2 Issuing CA", organization="印信电子认证服务 Yinxin"),
        public_key=ca_key.public_key(),
        issuer=sm2_x509.SM2Issuer(root, root_key, root_urls),
        not_before=now,
        not_after=now + dt.timedelta(days=5000),  # capped at the root's end
    )
    ca_urls = StatusUrls(crl="http://127.0.0.1:8000/crl/issuing.crl",
                         ca_issuers="http://127.0.0.1:8000/ca/issuing.cer",
                         ocsp="http://127.0.0.1:8000/ocsp")  # fmt: skip
    csr = sm2_x509.build_csr(base_name("张三"), ee_key, ee_key.public_key())
    req, public = sm2_x509.load_csr(csr.public_bytes(serialization.Encoding.PEM))
    ee = sm2_x509.build_certificate(
        profile=PROFILES["person-signing"],
        subject=req.subject,
        public_key=public,
        issuer=sm2_x509.SM2Issuer(ca, ca_key, ca_urls),
        not_before=now,
        not_after=now + dt.timedelta(days=365),
    )
    out = {"dir": d, "root": root, "ca": ca, "ee": ee, "csr": csr, "now": now}
    for name in ("root", "ca", "ee", "csr"):
        (d / f"{name}.pem").write_bytes(out[name].public_bytes(serialization.Encoding.PEM))
    return out


def test_openssl_verifies_every_link(chain) -> None:
    """OpenSSL 3.0 applies ``-vfyopt distid`` to the target certificate only (issuers get no
    ID and fail), so the chain is checked link by link, each issuer as a partial anchor."""
    d = chain["dir"]
    for target, anchor in (("ca", "root"), ("ee", "ca")):
        ok = run("openssl", "verify", *DISTID, "-x509_strict", "-partial_chain",
                 "-CAfile", d / f"{anchor}.pem", d / f"{target}.pem")  # fmt: skip
        assert ok.stdout.strip().endswith(b": OK")
    # the wrong issuer is refused
    bad = run("openssl", "verify", *DISTID, "-partial_chain", "-CAfile", d / "root.pem",
              d / "ee.pem", check=False)  # fmt: skip
    assert bad.returncode != 0
    # the root's self-signature, checked with pkeyutl over its TBSCertificate
    root_der = chain["root"].public_bytes(serialization.Encoding.DER)
    (d / "root.tbs").write_bytes(chain["root"].tbs_certificate_bytes)
    (d / "root.sig").write_bytes(chain["root"].signature)
    (d / "root.pub").write_bytes(sm2_x509.spki_der(chain["root"]))
    ok = run("openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey",
             d / "root.pub", "-rawin", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678",
             "-in", d / "root.tbs", "-sigfile", d / "root.sig")  # fmt: skip
    assert b"Verified Successfully" in ok.stdout and root_der


def test_our_verification_of_links(chain, tmp_path: Path) -> None:
    sm2_x509.verify_issued_by(chain["root"], chain["root"])
    sm2_x509.verify_issued_by(chain["ca"], chain["root"])
    sm2_x509.verify_issued_by(chain["ee"], chain["ca"])
    with pytest.raises(InvalidSignature):
        sm2_x509.verify_issued_by(chain["ee"], chain["root"])  # names another issuer
    with pytest.raises(InvalidSignature):
        sm2_x509.verify_issued_by(chain["ee"], chain["ca"], uid=OTHER_UID)
    # one changed byte in the subject: we refuse, and so does OpenSSL
    der = bytearray(chain["ee"].public_bytes(serialization.Encoding.DER))
    at = der.index("张三".encode())
    der[at] ^= 1
    tampered = x509.load_der_x509_certificate(bytes(der))
    with pytest.raises(InvalidSignature):
        sm2_x509.verify_issued_by(tampered, chain["ca"])
    (tmp_path / "t.pem").write_bytes(tampered.public_bytes(serialization.Encoding.PEM))
    bad = run("openssl", "verify", *DISTID, "-partial_chain", "-CAfile",
              chain["dir"] / "ca.pem", tmp_path / "t.pem", check=False)  # fmt: skip
    assert bad.returncode != 0 and b"signature failure" in bad.stdout + bad.stderr


def test_fields_as_openssl_shows_them(chain) -> None:
    d = chain["dir"]
    text = run("openssl", "x509", "-noout", "-text", "-in", d / "ee.pem").stdout.decode()
    for expected in (
        "Signature Algorithm: SM2-with-SM3",
        "ASN1 OID: SM2",
        "X509v3 Basic Constraints: critical\n                CA:FALSE",
        "X509v3 Key Usage: critical\n                Digital Signature, Non Repudiation",
        "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier",
        "URI:http://127.0.0.1:8000/crl/issuing.crl",
        "OCSP - URI:http://127.0.0.1:8000/ocsp",
        "CA Issuers - URI:http://127.0.0.1:8000/ca/issuing.cer",
    ):
        assert expected in text, expected
    ca = run("openssl", "x509", "-noout", "-text", "-in", d / "ca.pem").stdout.decode()
    assert "CA:TRUE, pathlen:0" in ca and "Certificate Sign, CRL Sign" in ca
    # the same extensions, in the same order, as the platform's P-256 certificates
    assert [e.oid for e in chain["ee"].extensions] == [
        x509.BasicConstraints.oid, x509.KeyUsage.oid, x509.SubjectKeyIdentifier.oid,
        x509.AuthorityKeyIdentifier.oid, x509.CRLDistributionPoints.oid,
        x509.AuthorityInformationAccess.oid,
    ]  # fmt: skip
    # the issuing CA outlives neither its root nor what was asked
    assert chain["ca"].not_valid_after_utc == chain["root"].not_valid_after_utc
    assert chain["ee"].not_valid_before_utc == chain["now"]
    assert sm2_x509.is_sm2(chain["ee"]) and sm2_x509.is_sm2(chain["csr"])
    aki = chain["ee"].extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = chain["ca"].extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest


def test_pkilint_finds_no_error(chain) -> None:
    lint = shutil.which("lint_pkix_cert") or str(Path(os.sys.executable).parent / "lint_pkix_cert")
    for name in ("root", "ca", "ee"):
        out = run(lint, "lint", chain["dir"] / f"{name}.pem", check=False)
        text = out.stdout.decode()
        for severity in ("(FATAL)", "(ERROR)", "(WARNING)"):
            assert severity not in text, f"{name}: {text}"


def test_csr_round_trips_through_openssl(chain, tmp_path: Path) -> None:
    d = chain["dir"]
    ok = run("openssl", "req", "-verify", "-noout", *DISTID, "-in", d / "csr.pem")
    assert b"verify OK" in ok.stdout + ok.stderr
    # a CSR OpenSSL made is read and its signature checked
    run("openssl", "genpkey", "-algorithm", "SM2", "-out", tmp_path / "k.pem")
    run("openssl", "req", "-new", "-key", tmp_path / "k.pem", "-sm3", "-sigopt",
        "distid:1234567812345678", "-subj", "/C=CN/CN=李四", "-utf8",
        "-out", tmp_path / "r.pem")  # fmt: skip
    req, public = sm2_x509.load_csr((tmp_path / "r.pem").read_bytes())
    assert req.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "李四"
    assert public == sm2.load_private_pkcs8((tmp_path / "k.pem").read_bytes(), None).public_key()
    # refused: a flipped byte, a P-256 request, junk
    der = bytearray(chain["csr"].public_bytes(serialization.Encoding.DER))
    der[der.index("张三".encode())] ^= 1
    p256 = ec.generate_private_key(ec.SECP256R1())
    ecsr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(base_name("x"))
        .sign(p256, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    for bad in (bytes(der), ecsr, b"junk"):
        with pytest.raises(ValidationError) as e:
            sm2_x509.load_csr(bad)
        assert e.value.field == "csr"
