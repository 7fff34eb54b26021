"""The PKCS#11 key store against a real SoftHSM2 token: keys made inside, never extractable,
and certificates, CRLs, OCSP responses and time-stamps signed inside that OpenSSL accepts,
all through ``cryptography``'s ordinary builders (``keys.builder_key``)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute
from pkcs11 import exceptions as p11e

from tests.softhsm import SoftHsmToken, softhsm_token, softhsm_token_in  # noqa: F401
from tests.unit.pki_chain import BASE, Chain
from yinxin.errors import ConfigurationError, Conflict, Forbidden, NotFound, ValidationError
from yinxin.pki import ocsp as yx_ocsp
from yinxin.pki import tsa as yx_tsa
from yinxin.pki.authority import Issuer, StatusUrls, base_name, build_certificate
from yinxin.pki.crl import RevokedEntry, build_crl, build_crl_via_builder
from yinxin.pki.keys import KeyHandle, builder_key
from yinxin.pki.keystores import open_keystore
from yinxin.pki.pkcs11_store import Pkcs11Key, Pkcs11KeyStore
from yinxin.pki.profiles import PROFILES

SIGNATURE_NAMES = {
    "ec-p256": "ecdsa-with-SHA256",
    "ec-p384": "ecdsa-with-SHA384",
    "rsa-2048": "sha256WithRSAEncryption",
    "rsa-3072": "sha256WithRSAEncryption",
}


def fresh_label(prefix: str) -> str:
    """The token is shared by the whole session, so every test names its own keys."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def verify(key: KeyHandle, signature: bytes, data: bytes, hash_alg: hashes.HashAlgorithm) -> None:
    public = key.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, data, ec.ECDSA(hash_alg))
    else:
        public.verify(signature, data, padding.PKCS1v15(), hash_alg)


@pytest.fixture
def store(softhsm_token: SoftHsmToken):  # noqa: F811
    with Pkcs11KeyStore(*softhsm_token) as s:
        yield s


@pytest.mark.parametrize("algorithm", ["ec-p256", "ec-p384", "rsa-3072"])
def test_generate_in_token_sign_and_verify(store: Pkcs11KeyStore, algorithm: str) -> None:
    key = store.generate(fresh_label("sign"), algorithm)
    assert isinstance(key, KeyHandle)
    assert key.native is None
    assert key.algorithm.name == algorithm
    assert key.public_key().key_size == key.algorithm.size
    data = b"\xe5\x8d\xb0\xe4\xbf\xa1 seal document"
    verify(key, key.sign(data), data, key.algorithm.hash)
    for hash_alg in (hashes.SHA256(), hashes.SHA384(), hashes.SHA512()):
        verify(key, key.sign(data, hash_alg), data, hash_alg)
    with pytest.raises(Exception):  # noqa: B017 - any cryptography failure will do
        verify(key, key.sign(data), data + b"!", key.algorithm.hash)


def test_rsa_hashes_without_a_combined_mechanism(store: Pkcs11KeyStore) -> None:
    key = store.generate(fresh_label("rsa-di"), "rsa-2048")
    for hash_alg in (hashes.SHA224(), hashes.SHA3_256()):
        verify(key, key.sign(b"data", hash_alg), b"data", hash_alg)


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-3072"])
def test_private_key_is_sensitive_and_never_extractable(
    store: Pkcs11KeyStore, algorithm: str
) -> None:
    key = store.generate(fresh_label("attrs"), algorithm)
    assert isinstance(key, Pkcs11Key)
    private = key.private_object()
    assert private[Attribute.TOKEN] is True
    assert private[Attribute.PRIVATE] is True
    assert private[Attribute.SENSITIVE] is True
    assert private[Attribute.EXTRACTABLE] is False
    assert private[Attribute.ALWAYS_SENSITIVE] is True
    assert private[Attribute.NEVER_EXTRACTABLE] is True
    assert private[Attribute.LOCAL] is True  # generated on the token, not imported
    assert private[Attribute.SIGN] is True
    for capability in (Attribute.DECRYPT, Attribute.UNWRAP, Attribute.DERIVE):
        assert private[capability] is False
    secret = Attribute.VALUE if algorithm.startswith("ec") else Attribute.PRIVATE_EXPONENT
    with pytest.raises(p11e.AttributeSensitive):
        private[secret]
    with pytest.raises(p11e.PKCS11Error):  # not modifiable: cannot be made extractable later
        private[Attribute.EXTRACTABLE] = True


def _ca_builder(key: KeyHandle, name: str) -> x509.CertificateBuilder:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Yinxin Test"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
    )


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-3072"])
def test_ca_certificate_and_crl_signed_inside_the_token(
    store: Pkcs11KeyStore, algorithm: str, tmp_path: Path
) -> None:
    key = store.generate(fresh_label("root"), algorithm)
    cert = _ca_builder(key, f"HSM Root {algorithm}").sign(builder_key(key), key.algorithm.hash)
    cert.verify_directly_issued_by(cert)
    ca_pem = tmp_path / "ca.pem"
    ca_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    done = _openssl("verify", "-CAfile", str(ca_pem), str(ca_pem))
    assert done.returncode == 0, done.stderr
    assert f"{ca_pem}: OK" in done.stdout
    text = _openssl("x509", "-in", str(ca_pem), "-noout", "-text").stdout
    assert f"Signature Algorithm: {SIGNATURE_NAMES[algorithm]}" in text

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    revoked = (
        x509.RevokedCertificateBuilder()
        .serial_number(0x1234)
        .revocation_date(now - dt.timedelta(minutes=1))
        .build()
    )
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(cert.subject)
        .last_update(now)
        .next_update(now + dt.timedelta(days=7))
        .add_revoked_certificate(revoked)
        .add_extension(x509.CRLNumber(1), critical=False)
        .sign(builder_key(key), key.algorithm.hash)
    )
    assert crl.is_signature_valid(key.public_key())
    crl_pem = tmp_path / "crl.pem"
    crl_pem.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    done = _openssl("crl", "-in", str(crl_pem), "-CAfile", str(ca_pem), "-noout")
    assert done.returncode == 0, done.stderr
    assert "verify OK" in done.stdout + done.stderr
    assert "verify fail" not in done.stdout + done.stderr


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-3072"])
def test_builder_key_signs_in_the_token_and_shows_nothing(
    store: Pkcs11KeyStore, algorithm: str
) -> None:
    key = store.generate(fresh_label("face"), algorithm)
    face = builder_key(key)
    interface = ec.EllipticCurvePrivateKey if algorithm.startswith("ec") else rsa.RSAPrivateKey
    assert isinstance(face, interface)
    assert face.key_size == key.algorithm.size
    assert face.public_key() == key.public_key()
    if isinstance(face, ec.EllipticCurvePrivateKey):
        assert face.curve.name == key.public_key().curve.name
        verify(key, face.sign(b"d", ec.ECDSA(hashes.SHA384())), b"d", hashes.SHA384())
        with pytest.raises(TypeError):
            face.exchange(ec.ECDH(), key.public_key())
    else:
        verify(key, face.sign(b"d", padding.PKCS1v15(), hashes.SHA512()), b"d", hashes.SHA512())
        with pytest.raises(TypeError):  # PSS would be another mechanism; not what we offer
            face.sign(b"d", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
        with pytest.raises(TypeError):
            face.decrypt(b"c", padding.PKCS1v15())
    with pytest.raises(TypeError):
        face.private_numbers()
    with pytest.raises(TypeError):
        face.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _token_chain(store: Pkcs11KeyStore, algorithm: str) -> Chain:
    """root → issuing CA → OCSP responder and TSA, every key generated inside the token."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    keys = {
        role: store.generate(fresh_label(role), algorithm)
        for role in ("root", "issuing", "ocsp", "tsa")
    }

    def cert(profile: str, cn: str, role: str, issuer: Issuer | None) -> x509.Certificate:
        return build_certificate(
            profile=PROFILES[profile], subject=base_name(cn, organization="Yinxin"),
            public_key=keys[role].public_key(), issuer=issuer,
            self_key=keys[role] if issuer is None else None,
            not_before=now, not_after=now + dt.timedelta(days=365),
        )  # fmt: skip

    root = cert("root-ca", "HSM Root CA", "root", None)
    up = StatusUrls(f"{BASE}/crl/root.crl", f"{BASE}/ca/root.cer")
    issuing = cert("issuing-ca", "HSM Issuing CA", "issuing", Issuer(root, keys["root"], up))
    urls = StatusUrls(f"{BASE}/crl/issuing.crl", f"{BASE}/ca/issuing.cer", f"{BASE}/ocsp")
    issuer = Issuer(issuing, keys["issuing"], urls)
    return Chain(
        algorithm,
        now,
        root,
        keys["root"],
        issuing,
        keys["issuing"],
        issuer,
        cert("ocsp-responder", "HSM OCSP", "ocsp", issuer),
        keys["ocsp"],
        cert("tsa", "HSM TSA", "tsa", issuer),
        keys["tsa"],
    )


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-2048"])
def test_crl_ocsp_and_timestamp_signed_inside_the_token(
    store: Pkcs11KeyStore, algorithm: str, tmp_path: Path
) -> None:
    chain = _token_chain(store, algorithm)
    files = chain.write(tmp_path)
    for role in ("issuing", "ocsp", "tsa"):
        done = _openssl(
            "verify",
            "-CAfile",
            str(files["root"]),
            "-untrusted",
            str(files["issuing"]),
            str(files[role]),
        )
        assert done.returncode == 0, (role, done.stdout + done.stderr)
    good, _ = chain.end_entity("好证书")
    revoked, _ = chain.end_entity("已吊销")
    for name, c in (("good", good), ("revoked", revoked)):
        (tmp_path / f"{name}.pem").write_bytes(c.public_bytes(serialization.Encoding.PEM))

    # CRLs: the fast path (empty and with entries) and the builder alone
    window = dict(
        issuer_cert=chain.issuing,
        key=chain.issuing_key,
        crl_number=3,
        this_update=chain.now,
        next_update=chain.now + dt.timedelta(days=1),
    )
    entries = [
        RevokedEntry(revoked.serial_number, chain.now, "key_compromise"),
        RevokedEntry(0x5EED, chain.now, None),
    ]
    for name, der in (
        ("empty", build_crl(entries=[], **window)),
        ("fast", build_crl(entries=entries, **window)),
        ("builder", build_crl_via_builder(entries=entries, **window)),
    ):
        path = tmp_path / f"{name}.crl"
        path.write_bytes(der)
        done = _openssl(
            "crl",
            "-inform",
            "DER",
            "-in",
            str(path),
            "-CAfile",
            str(files["chain"]),
            "-verify",
            "-noout",
        )
        assert "verify OK" in done.stdout + done.stderr, (name, done.stdout + done.stderr)
    done = _openssl(
        "verify",
        "-crl_check",
        "-CRLfile",
        str(tmp_path / "fast.crl"),
        "-CAfile",
        str(files["chain"]),
        str(tmp_path / "revoked.pem"),
    )
    assert done.returncode != 0 and "certificate revoked" in done.stdout + done.stderr

    # OCSP: one CertID, several, and a pre-signed response given a fresh nonce
    def request(*names: str, nonce: bool = True) -> tuple[Path, list[yx_ocsp.CertId]]:
        out = tmp_path / f"req-{'-'.join(names)}-{nonce}.der"
        args = ["ocsp", "-issuer", str(files["issuing"]), "-reqout", str(out)]
        for n in names:
            args += ["-cert", str(tmp_path / f"{n}.pem")]
        done = _openssl(*args, *([] if nonce else ["-no_nonce"]))
        assert done.returncode == 0, done.stderr
        return out, yx_ocsp.parse_request(out.read_bytes())

    def respond(ids: list[yx_ocsp.CertId]) -> bytes:
        single = [
            yx_ocsp.SingleStatus(i.serial, "revoked", chain.now, "key_compromise")
            if i.serial == revoked.serial_number
            else yx_ocsp.SingleStatus(i.serial, "good")
            for i in ids
        ]
        return yx_ocsp.build_response(
            responder_cert=chain.ocsp,
            responder_key=chain.ocsp_key,
            issuer_cert=chain.issuing,
            single=single,
            this_update=chain.now,
            next_update=chain.now + dt.timedelta(hours=4),
            nonce=ids[0].nonce,
            request_hash_alg=ids[0].hash_algorithm,
        )

    def check(req: Path, resp: bytes) -> str:
        path = tmp_path / "resp.der"
        path.write_bytes(resp)
        done = _openssl(
            "ocsp",
            "-respin",
            str(path),
            "-reqin",
            str(req),
            "-CAfile",
            str(files["root"]),
            "-verify_other",
            str(files["issuing"]),
            "-resp_text",
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Response verify OK" in done.stderr and "Nonce Verify error" not in done.stderr
        return done.stdout

    req, ids = request("revoked")
    assert "Cert Status: revoked" in check(req, respond(ids))
    req, ids = request("good", "revoked")
    text = check(req, respond(ids))
    assert "Cert Status: good" in text and "Cert Status: revoked" in text
    _, plain = request("good", nonce=False)
    template = respond(plain)
    req, ids = request("good")
    assert ids[0].nonce is not None
    fresh = yx_ocsp.with_nonce(template, ids[0].nonce, dt.datetime.now(dt.UTC), chain.ocsp_key)
    assert "Cert Status: good" in check(req, fresh)
    parsed = ocsp.load_der_ocsp_response(fresh)
    assert parsed.certificates == [chain.ocsp]

    # RFC 3161 time-stamp
    data = tmp_path / "document.txt"
    data.write_bytes(b"a document to time-stamp\n")
    query = tmp_path / "q.tsq"
    done = _openssl("ts", "-query", "-data", str(data), "-sha256", "-cert", "-out", str(query))
    assert done.returncode == 0, done.stderr
    reply = tmp_path / "r.tsr"
    reply.write_bytes(
        yx_tsa.respond(
            query.read_bytes(),
            tsa_cert=chain.tsa,
            tsa_key=chain.tsa_key,
            chain=[chain.issuing],
            serial=int.from_bytes(os.urandom(8), "big") | 1,
            gen_time=dt.datetime.now(dt.UTC),
        )
    )
    done = _openssl(
        "ts",
        "-verify",
        "-data",
        str(data),
        "-in",
        str(reply),
        "-CAfile",
        str(files["root"]),
        "-untrusted",
        str(files["issuing"]),
    )
    assert "Verification: OK" in done.stdout, done.stdout + done.stderr


def test_wrong_pin_is_forbidden(softhsm_token: SoftHsmToken) -> None:
    module, label, pin = softhsm_token
    bad = Pkcs11KeyStore(module, label, pin + "0")
    with pytest.raises(Forbidden) as caught:
        bad.exists("anything")
    assert caught.value.field == "pin"
    assert caught.value.message == "wrong HSM PIN"
    assert pin not in str(caught.value) and pin not in repr(bad)
    bad.close()


def test_wrong_pin_refused_while_the_token_is_logged_in(
    softhsm_token: SoftHsmToken,
) -> None:
    # PKCS#11 logins are per process: C_Login would just say "already logged in".
    module, label, pin = softhsm_token
    with Pkcs11KeyStore(module, label, pin) as good:
        key = good.generate(fresh_label("shared"), "ec-p256")
        with pytest.raises(Forbidden):
            Pkcs11KeyStore(module, label, "000000").load(key.label)
        with Pkcs11KeyStore(module, label, pin) as second:
            second.load(key.label).sign(b"x")
        # closing the second store must not log the first one out
        verify(key, key.sign(b"still in"), b"still in", hashes.SHA256())


def test_duplicate_label_is_a_conflict(store: Pkcs11KeyStore) -> None:
    label = fresh_label("dup")
    store.generate(label, "ec-p256")
    with pytest.raises(Conflict) as caught:
        store.generate(label, "rsa-2048")
    assert caught.value.field == "label"


def test_bad_label_and_algorithm_are_refused(store: Pkcs11KeyStore) -> None:
    with pytest.raises(ValidationError):
        store.generate("Not A Label", "ec-p256")
    with pytest.raises(ValidationError):
        store.generate(fresh_label("alg"), "dsa-1024")


def test_load_after_reopening_in_a_new_instance(softhsm_token: SoftHsmToken) -> None:
    label = fresh_label("reopen")
    with Pkcs11KeyStore(*softhsm_token) as first:
        made = first.generate(label, "ec-p256")
        expected = made.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    with Pkcs11KeyStore(*softhsm_token) as second:
        assert second.exists(label)
        assert not second.exists(fresh_label("absent"))
        loaded = second.load(label)
        assert loaded.algorithm.name == "ec-p256"
        assert loaded.label == label
        got = loaded.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert got == expected
        verify(loaded, loaded.sign(b"again"), b"again", hashes.SHA256())
        with pytest.raises(ConfigurationError):  # its store is closed: no stray login
            made.sign(b"old")
        with pytest.raises(NotFound):
            second.load(fresh_label("missing"))


def test_open_keystore_pkcs11(softhsm_token: SoftHsmToken) -> None:
    module, label, pin = softhsm_token
    store = open_keystore("pkcs11", module=module, token_label=label, pin=pin)
    assert isinstance(store, Pkcs11KeyStore)
    assert store.kind == "pkcs11"
    try:
        key = store.generate(fresh_label("factory"), "rsa-2048")
        verify(key, key.sign(b"factory"), b"factory", hashes.SHA256())
        assert store.load(key.label).public_key().public_numbers() == (
            key.public_key().public_numbers()
        )
    finally:
        store.close()


def test_missing_module_or_token_is_a_configuration_error(
    softhsm_token: SoftHsmToken,
    tmp_path: Path,
) -> None:
    module, label, pin = softhsm_token
    with pytest.raises(ConfigurationError) as caught:
        Pkcs11KeyStore(tmp_path / "nope.so", label, pin).exists("k")
    assert "nope.so" in caught.value.message and caught.value.field == "module"
    with pytest.raises(ConfigurationError) as caught:
        Pkcs11KeyStore(module, "no-such-token", pin).exists("k")
    assert "no-such-token" in caught.value.message and caught.value.field == "token_label"


def test_a_private_token_alongside_the_shared_one(
    softhsm_token: SoftHsmToken,
    tmp_path: Path,
) -> None:
    with softhsm_token_in(tmp_path, label="private-token", pin="1111") as private:
        with Pkcs11KeyStore(*private) as store:
            key = store.generate("only-here", "ec-p256")
            verify(key, key.sign(b"p"), b"p", hashes.SHA256())
    with Pkcs11KeyStore(*softhsm_token) as shared:
        assert not shared.exists("only-here")


def test_concurrent_signing_shares_one_session_safely(store: Pkcs11KeyStore) -> None:
    key = store.generate(fresh_label("threads"), "ec-p256")
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(25):
                data = f"{n}-{i}".encode()
                verify(key, key.sign(data), data, hashes.SHA256())
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures


def _rate(sign, seconds: float = 1.0) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        sign(b"tbs certificate bytes " * 20)
        count += 1
    return count / elapsed


def test_signing_rate_ec_p256(store: Pkcs11KeyStore, capsys: pytest.CaptureFixture[str]) -> None:
    key = store.generate(fresh_label("bench"), "ec-p256")
    native = ec.generate_private_key(ec.SECP256R1())
    hsm = _rate(key.sign)
    local = _rate(lambda d: native.sign(d, ec.ECDSA(hashes.SHA256())))
    with capsys.disabled():
        print(f"\nec-p256 signatures/s: SoftHSM2 {hsm:.0f}, in-process cryptography {local:.0f}")
    assert hsm > 10


def write_rsa_key(
    token: SoftHsmToken, label: str, tmp_path: Path, bits: int = 3072, exponent: int = 3
) -> None:
    """An RSA key pair (public exponent 3 unless told) put into the token as a tool outside
    Yinxin would: made by ``openssl genpkey``, written by ``pkcs11-tool --write-object``."""
    der = tmp_path / f"{label}.der"
    pub = tmp_path / f"{label}.pub.der"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}"]
        + ["-pkeyopt", f"rsa_keygen_pubexp:{exponent}", "-outform", "DER", "-out", der],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["openssl", "pkey", "-inform", "DER", "-in", der, "-pubout", "-outform", "DER"]
        + ["-out", pub],
        check=True,
        capture_output=True,
    )
    key_id = uuid.uuid4().hex[:16]
    for path, kind in ((der, "privkey"), (pub, "pubkey")):
        subprocess.run(
            ["pkcs11-tool", "--module", token.module, "--token-label", token.token_label]
            + ["--login", "--pin", token.pin, "--write-object", path, "--type", kind]
            + ["--id", key_id, "--label", label],
            check=True,
            capture_output=True,
        )


def test_an_rsa_key_of_exponent_3_in_the_token_is_refused(
    store: Pkcs11KeyStore,
    softhsm_token: SoftHsmToken,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A CSR's RSA key of e = 3 is refused (BR 6.1.6); a CA key in the token was not: one
    written there by another tool signed as any other."""
    label = fresh_label("e3")
    write_rsa_key(softhsm_token, label, tmp_path)
    with pytest.raises(ConfigurationError) as info:
        store.load(label)
    assert info.value.field == "keystore"
    assert "public exponent is 3" in info.value.message and label in info.value.message
