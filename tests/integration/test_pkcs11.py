"""The PKCS#11 key store against a real SoftHSM2 token: keys made inside, never extractable,
and certificates and CRLs signed inside that OpenSSL accepts."""

from __future__ import annotations

import datetime as dt
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute
from pkcs11 import exceptions as p11e

from tests.softhsm import SoftHsmToken, softhsm_token, softhsm_token_in  # noqa: F401
from yinxin.errors import ConfigurationError, Conflict, Forbidden, NotFound, ValidationError
from yinxin.pki.finish import finish_certificate, finish_crl
from yinxin.pki.keys import KeyHandle, open_keystore
from yinxin.pki.pkcs11_store import Pkcs11Key, Pkcs11KeyStore

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
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False
        )
    )


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-3072"])
def test_ca_certificate_and_crl_signed_inside_the_token(
    store: Pkcs11KeyStore, algorithm: str, tmp_path: Path
) -> None:
    key = store.generate(fresh_label("root"), algorithm)
    cert = finish_certificate(_ca_builder(key, f"HSM Root {algorithm}"), key)
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
    crl = finish_crl(
        x509.CertificateRevocationListBuilder()
        .issuer_name(cert.subject)
        .last_update(now)
        .next_update(now + dt.timedelta(days=7))
        .add_revoked_certificate(revoked)
        .add_extension(x509.CRLNumber(1), critical=False),
        key,
    )
    assert crl.is_signature_valid(key.public_key())
    crl_pem = tmp_path / "crl.pem"
    crl_pem.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    done = _openssl("crl", "-in", str(crl_pem), "-CAfile", str(ca_pem), "-noout")
    assert done.returncode == 0, done.stderr
    assert "verify OK" in done.stdout + done.stderr
    assert "verify fail" not in done.stdout + done.stderr


def test_wrong_pin_is_forbidden(softhsm_token: SoftHsmToken) -> None:  # noqa: F811
    module, label, pin = softhsm_token
    bad = Pkcs11KeyStore(module, label, pin + "0")
    with pytest.raises(Forbidden) as caught:
        bad.exists("anything")
    assert caught.value.field == "pin"
    assert caught.value.message == "wrong HSM PIN"
    assert pin not in str(caught.value) and pin not in repr(bad)
    bad.close()


def test_wrong_pin_refused_while_the_token_is_logged_in(
    softhsm_token: SoftHsmToken,  # noqa: F811
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


def test_load_after_reopening_in_a_new_instance(softhsm_token: SoftHsmToken) -> None:  # noqa: F811
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


def test_open_keystore_pkcs11(softhsm_token: SoftHsmToken) -> None:  # noqa: F811
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
    softhsm_token: SoftHsmToken, tmp_path: Path  # noqa: F811
) -> None:
    module, label, pin = softhsm_token
    with pytest.raises(ConfigurationError) as caught:
        Pkcs11KeyStore(tmp_path / "nope.so", label, pin).exists("k")
    assert "nope.so" in caught.value.message and caught.value.field == "module"
    with pytest.raises(ConfigurationError) as caught:
        Pkcs11KeyStore(module, "no-such-token", pin).exists("k")
    assert "no-such-token" in caught.value.message and caught.value.field == "token_label"


def test_a_private_token_alongside_the_shared_one(
    softhsm_token: SoftHsmToken, tmp_path: Path  # noqa: F811
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
