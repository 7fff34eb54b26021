"""Keys behind one small interface: a ``KeyHandle`` signs, a ``KeyStore`` keeps handles.

Two real stores implement it: ``FileKeyStore`` (PKCS#8 files encrypted under a passphrase, the
default) and ``Pkcs11KeyStore`` (a PKCS#11 token such as SoftHSM2 or a real HSM; the key never
leaves it). Code that builds certificates, CRLs, OCSP and timestamp responses only ever sees a
``KeyHandle``: it never learns where the key lives.

Stores also keep symmetric ``SecretKey``s (AES-256-GCM): the platform's key-encryption key, which
wraps platform-held subscriber keys so that a copy of the database alone opens none of them
(``yinxin.pki.kek``).

``cryptography``'s builders sign through whatever object subclasses its private-key interfaces
(they call its ``sign`` and ``public_key``), so ``builder_key`` hands them either the in-process
key or an adapter that forwards to ``KeyHandle.sign``: a key inside an HSM signs certificates,
CRLs and OCSP responses through the ordinary builders, and its private numbers stay where they are.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, Protocol, Self, runtime_checkable

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import AsymmetricPadding, PKCS1v15
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from yinxin.errors import ConfigurationError, Conflict, Forbidden, NotFound, ValidationError
from yinxin.pki import sm2
from yinxin.pki.algorithms import (
    ALGORITHMS,
    Algorithm,
    algorithm_of,
    get_algorithm,
    sign_with_native,
)
from yinxin.pki.ciphers import (
    AES_256_GCM,
    DataCipher,
    cipher_by_code,
    default_pin_kdf,
    derive_from_secret,
    get_cipher,
    is_national,
    sm3_kdf,
)
from yinxin.store.files import fsync_dir


@runtime_checkable
class KeyHandle(Protocol):
    """A private key the holder of this object may sign with, and nothing more."""

    label: str

    @property
    def algorithm(self) -> Algorithm: ...

    def public_key(self) -> PublicKeyTypes: ...

    def sign(self, data: bytes, hash_alg: hashes.HashAlgorithm | None = None) -> bytes:
        """Sign ``data`` (not a digest): ECDSA returns a DER signature, RSA PKCS#1 v1.5."""
        ...

    @property
    def native(self) -> PrivateKeyTypes | None:
        """The in-process ``cryptography`` key when there is one, else ``None`` (an HSM key).

        Its private numbers are in this process (sealing code serialises it). To sign with a
        builder, pass ``builder_key(handle)``, which works for every handle.
        """
        ...


@runtime_checkable
class SecretKey(Protocol):
    """An AES-256 key the holder may encrypt and decrypt with (GCM), and nothing more.

    ``decrypt`` raises ``cryptography.exceptions.InvalidTag`` when the ciphertext was not made
    by this key with this associated data, whatever the store: callers tell "wrong key or
    changed data" apart from a store failure without knowing the store.
    """

    label: str

    def encrypt(self, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes: ...

    def decrypt(self, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes: ...


class KeyStore(Protocol):
    kind: str

    def generate(self, label: str, algorithm: str) -> KeyHandle: ...

    def load(self, label: str) -> KeyHandle: ...

    def exists(self, label: str) -> bool: ...

    def remove(self, label: str) -> None:
        """Delete a key (used to undo a set-up that failed half-way)."""
        ...

    def secret(self, label: str, *, create: bool = False) -> SecretKey:
        """The AES-256 secret key ``label`` (made first if ``create``; else ``NotFound``).

        Creating is not atomic against another process in every store (PKCS#11 has no
        create-if-absent): callers that may race serialise creation themselves, as
        ``yinxin.pki.kek.PlatformKek`` does under a database lock.
        """
        ...


# (data, hash) -> signature, as ``KeyHandle.sign``: ECDSA as DER, RSA as PKCS#1 v1.5.
SignFunction = Callable[[bytes, hashes.HashAlgorithm], bytes]


def _no_private_material(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise TypeError("this key signs only; its private numbers never leave where it is kept")


def _hash_of(algorithm: object) -> hashes.HashAlgorithm:
    if not isinstance(algorithm, hashes.HashAlgorithm):  # Prehashed, NoDigestInfo
        raise TypeError("a key handle hashes the data itself: pass a hash algorithm")
    return algorithm


class _BuilderKey:
    """What both builder keys share: a public half, a ``sign_fn`` and no private material.

    Listed first among the bases, so its methods stand in for the abstract ones of
    ``cryptography``'s private-key classes.
    """

    def __init__(self, public: Any, sign_fn: SignFunction):
        self._public = public
        self._sign_fn = sign_fn

    def public_key(self) -> Any:
        return self._public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    private_numbers = private_bytes = _no_private_material

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict) -> Self:
        return self


class _EcBuilderKey(_BuilderKey, ec.EllipticCurvePrivateKey):
    """An EC private key to ``cryptography`` whose signatures come from ``sign_fn``."""

    def sign(self, data: Any, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise TypeError("only ECDSA signatures are supported")
        if signature_algorithm.deterministic_signing:  # the token picks its own nonce
            raise TypeError("deterministic ECDSA cannot be promised for this key")
        return self._sign_fn(bytes(data), _hash_of(signature_algorithm.algorithm))

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    exchange = _no_private_material


class _RsaBuilderKey(_BuilderKey, rsa.RSAPrivateKey):
    """An RSA private key to ``cryptography`` whose PKCS#1 v1.5 signatures come from ``sign_fn``."""

    def sign(self, data: bytes, padding: AsymmetricPadding, algorithm: Any) -> bytes:
        if not isinstance(padding, PKCS1v15):
            raise TypeError("only RSA PKCS#1 v1.5 signatures are supported")
        return self._sign_fn(bytes(data), _hash_of(algorithm))

    decrypt = _no_private_material


def _builder_key(public: PublicKeyTypes, sign_fn: SignFunction) -> PrivateKeyTypes:
    if isinstance(public, ec.EllipticCurvePublicKey):
        return _EcBuilderKey(public, sign_fn)
    if isinstance(public, rsa.RSAPublicKey):
        return _RsaBuilderKey(public, sign_fn)
    raise TypeError("unsupported public key type")


def builder_key(key: KeyHandle) -> PrivateKeyTypes:
    """What to pass to a ``cryptography`` builder's ``sign`` to have ``key`` sign.

    The in-process key when there is one; otherwise (an HSM key) an object of
    ``cryptography``'s private-key interface that forwards ``sign`` to ``key.sign``, which the
    builders accept like any other key (they only call ``sign`` and ``public_key``).
    """
    native = key.native
    return native if native is not None else _builder_key(key.public_key(), key.sign)


def _no_signature(data: bytes, hash_alg: hashes.HashAlgorithm) -> bytes:
    return b""


def layout_key(public: PublicKeyTypes) -> PrivateKeyTypes:
    """A key for ``public`` that signs nothing (its "signature" is empty).

    For callers that let a builder lay out DER they then change before signing (``crl``'s fast
    path splices entries in; ``ocsp`` joins several SingleResponses): the builder's own
    signature would be thrown away, so it is not worth a private-key operation, least of all
    one inside an HSM.
    """
    return _builder_key(public, _no_signature)


class SoftwareKey:
    """A key in this process's memory (decrypted from a file or a PIN-sealed blob)."""

    def __init__(self, label: str, key: PrivateKeyTypes):
        self.label = label
        self._key = key
        self._algorithm = algorithm_of(key.public_key())

    @property
    def algorithm(self) -> Algorithm:
        return self._algorithm

    def public_key(self) -> PublicKeyTypes:
        return self._key.public_key()

    def sign(self, data: bytes, hash_alg: hashes.HashAlgorithm | None = None) -> bytes:
        return sign_with_native(self._key, data, hash_alg or self._algorithm.hash)

    @property
    def native(self) -> PrivateKeyTypes:
        return self._key

    def __repr__(self) -> str:  # never show key material
        return f"SoftwareKey(label={self.label!r}, algorithm={self._algorithm.name!r})"


class SM2SoftwareKey:
    """An SM2 key in this process (``yinxin.pki.sm2``), read from an encrypted PKCS#8 file.

    ``native`` is ``None``: ``cryptography``'s builders cannot sign SM2, so code that builds
    with them refuses the key (``builder_key`` raises) rather than write a wrong algorithm;
    SM2 certificates, CRLs, OCSP responses and tokens are built by the SM2 paths instead.
    """

    def __init__(self, label: str, key: sm2.SM2PrivateKey):
        self.label = label
        self._key = key

    @property
    def algorithm(self) -> Algorithm:
        return ALGORITHMS["sm2"]

    def public_key(self) -> sm2.SM2PublicKey:  # type: ignore[override]
        return self._key.public_key()

    def sign(
        self,
        data: bytes,
        hash_alg: hashes.HashAlgorithm | None = None,
        *,
        uid: bytes = sm2.DEFAULT_UID,
    ) -> bytes:
        """SM2 over ``SM3(Z_A || data)``; SM3 is the only hash an SM2 key signs with."""
        if hash_alg is not None and not isinstance(hash_alg, hashes.SM3):
            raise TypeError("an SM2 key signs with SM3 only")
        return self._key.sign(data, uid=uid)

    @property
    def native(self) -> None:
        return None

    @property
    def sm2_key(self) -> sm2.SM2PrivateKey:
        """The in-process SM2 key (sealing code serialises it, as it does ``native``)."""
        return self._key

    def __repr__(self) -> str:  # never show key material
        return f"SM2SoftwareKey(label={self.label!r})"


class SoftwareSecretKey:
    """An AES-256-GCM key in this process's memory (decrypted from the file store)."""

    def __init__(self, label: str, key: bytes):
        self.label = label
        self._key = key
        self._aead = AESGCM(key)

    def derive(self, info: bytes, length: int) -> bytes:
        """A key for another cipher (SM4 at rest, ``yinxin.pki.ciphers``), derived from this
        one by the SM3 KDF with ``info`` naming its use: the 32 random bytes stay the one master
        secret, and no derived key opens what another use of them sealed."""
        return sm3_kdf(self._key, length, info)

    def encrypt(self, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return self._aead.encrypt(nonce, plaintext, aad)

    def decrypt(self, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        return self._aead.decrypt(nonce, ciphertext, aad)

    def __repr__(self) -> str:  # never show key material
        return f"SoftwareSecretKey(label={self.label!r})"


_LABEL = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# A secret-key file: magic, scrypt salt, GCM nonce, then the 32-byte key encrypted under
# scrypt(passphrase) with the label as associated data (a file renamed to another label fails).
_SECRET_MAGIC = b"YXKEK1"
_SECRET_SCRYPT = {"n": 2**15, "r": 8, "p": 1}
# YXKEK2 names its cipher (yinxin.pki.ciphers): magic, the cipher's code, salt, then the
# cipher's nonce, ciphertext and tag, keyed by the cipher's passphrase KDF (scrypt for AES,
# PBKDF2-HMAC-SM3 for SM4), with the label and the header as associated data. Written by
# ``reseal_secret`` (``yinxin keys recrypt``, or a KEK made under an SM4 setting).
_SECRET_MAGIC_NAMED = b"YXKEK2"


def check_label(label: str) -> str:
    if not _LABEL.match(label):
        raise ValidationError(f"key label {label!r} is not valid", field="label")
    return label


def encrypted_pkcs8(pem: bytes) -> bool:
    """Whether ``pem`` is one encrypted PKCS#8 block that parses, before any password is tried.

    cryptography answers a wrong password and a damaged or foreign file alike (``ValueError``),
    so a CA key file cut short, overwritten or swapped for another format was reported as a
    wrong CA passphrase, sending the operator after the wrong thing."""
    import base64
    import binascii

    from asn1crypto.keys import EncryptedPrivateKeyInfo

    head, tail = b"-----BEGIN ENCRYPTED PRIVATE KEY-----", b"-----END ENCRYPTED PRIVATE KEY-----"
    text = pem.strip()
    if not (text.startswith(head) and text.endswith(tail)):
        return False
    try:
        der = base64.b64decode(b"".join(text[len(head) : -len(tail)].split()), validate=True)
        info = EncryptedPrivateKeyInfo.load(der, strict=True)
        info["encryption_algorithm"].native  # noqa: B018 — parses the algorithm's parameters
        return bool(info["encrypted_data"].native)
    except (binascii.Error, ValueError, TypeError):
        return False


class KeyMissing(ConfigurationError, http_status=503, code="key_missing"):
    """A key the database's authority certificates name is not in the key store: a data
    directory restored without its ``keys/`` folder, a key file deleted, another HSM token.
    The key store's fault, as a damaged key file is (CLI exit 7, field ``keystore``), and the
    API's ``503`` as for a missing KEK: it was ``not_found`` naming ``label`` (exit 3, the
    code of a record that does not exist, and the API's ``404`` for an application that
    does), which sent the operator looking for the wrong thing."""


class FileKeyStore:
    """PKCS#8 PEM files encrypted under a passphrase (PBES2), one file per label, mode 0600."""

    kind = "file"

    def __init__(self, directory: Path, passphrase: bytes | str):
        if isinstance(passphrase, str):
            passphrase = passphrase.encode()
        if len(passphrase) < 8:
            raise ValidationError(
                "the CA passphrase must be at least 8 characters", field="passphrase"
            )
        self.directory = Path(directory)
        self._passphrase = passphrase
        self._secrets: dict[str, SoftwareSecretKey] = {}

    def _path(self, label: str) -> Path:
        return self.directory / f"{check_label(label)}.key.pem"

    def exists(self, label: str) -> bool:
        return self._path(label).exists()

    def generate(self, label: str, algorithm: str) -> KeyHandle:
        path = self._path(label)
        if path.exists():
            raise Conflict(f"a key labelled {label!r} already exists", field="label")
        alg = get_algorithm(algorithm)
        key = alg.generate()
        if alg.family == "sm2":
            pem = key.private_bytes_pkcs8(self._passphrase)  # PBES2, as below
        else:
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(self._passphrase),
            )
        self._make_directory()
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            # the certificate for this key is committed right after: the key must be on disk
            # by then (file and directory entry), or a power cut keeps a certificate whose
            # key is an empty file or gone
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(self.directory)
        return SM2SoftwareKey(label, key) if alg.family == "sm2" else SoftwareKey(label, key)

    def _make_directory(self) -> None:
        """The key folder (0700); a file in its place, or one that cannot be made, is refused
        naming ``keystore`` and the path (``yinxin init`` ended in a ``FileExistsError``)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as e:
            reason = e.strerror or str(e)
            if isinstance(e, FileExistsError | NotADirectoryError):
                reason = "a file is in the way"
            raise ConfigurationError(
                f"cannot use {self.directory} for the keys: {reason}", field="keystore"
            ) from None

    def load(self, label: str) -> KeyHandle:
        path = self._path(label)
        if not path.exists():
            if self.directory.exists() and not self.directory.is_dir():
                # as ``_make_directory`` says it: "no key labelled …" hid what was wrong
                raise ConfigurationError(
                    f"cannot use {self.directory} for the keys: a file is in the way",
                    field="keystore",
                )
            raise NotFound(f"no key labelled {label!r} in {self.directory}", field="label")
        pem = path.read_bytes()
        if not encrypted_pkcs8(pem):
            raise ConfigurationError(
                f"{path} is not an encrypted private-key file (damaged or replaced)",
                field="keystore",
            )
        try:
            key = serialization.load_pem_private_key(pem, self._passphrase)
        except ValueError:
            raise Forbidden(
                "wrong CA passphrase", field="passphrase", code="bad_passphrase"
            ) from None
        except UnsupportedAlgorithm:  # decrypted, but not a curve cryptography knows: SM2?
            try:
                return SM2SoftwareKey(label, sm2.load_private_pkcs8(pem, self._passphrase))
            except Forbidden:
                raise Forbidden(
                    "wrong CA passphrase", field="passphrase", code="bad_passphrase"
                ) from None
        return SoftwareKey(label, key)

    def remove(self, label: str) -> None:
        self._path(label).unlink(missing_ok=True)

    # --- secret keys (the platform KEK) ------------------------------------------------------
    def _secret_path(self, label: str) -> Path:
        return self.directory / f"{check_label(label)}.kek"

    def secret(self, label: str, *, create: bool = False) -> SecretKey:
        """A 32-byte AES key kept in ``<label>.kek`` (0600), encrypted under the passphrase.

        Creation is atomic (the file is linked into place only if absent), so two processes
        creating at once end up with the one key that got there first.
        """
        if label in self._secrets:
            return self._secrets[label]
        path = self._secret_path(label)
        if not path.exists():
            if not create:
                raise NotFound(
                    f"no secret key labelled {label!r} in {self.directory}", field="label"
                )
            self._create_secret(path, label)
        key = self._open_secret(path, label, path.read_bytes())
        handle = self._secrets[label] = SoftwareSecretKey(label, key)
        return handle

    def _open_secret(self, path: Path, label: str, data: bytes) -> bytes:
        named = data.startswith(_SECRET_MAGIC_NAMED) and len(data) > len(_SECRET_MAGIC_NAMED)
        if named:
            cipher = cipher_by_code(data[len(_SECRET_MAGIC_NAMED)])
            head, n = data[: len(_SECRET_MAGIC_NAMED) + 1], len(_SECRET_MAGIC_NAMED) + 1
        else:
            cipher, head, n = get_cipher(AES_256_GCM), b"", len(_SECRET_MAGIC)
        if cipher is None or not data.startswith(head or _SECRET_MAGIC) or len(data) < n + 76:
            raise ConfigurationError(f"{path} is not a Yinxin secret-key file", field="keystore")
        salt, body = data[n : n + 16], data[n + 16 :]
        try:
            return cipher.decrypt(self._secret_kek(salt, cipher), body, label.encode() + head)
        except InvalidTag:
            raise Forbidden(
                "wrong CA passphrase", field="passphrase", code="bad_passphrase"
            ) from None

    def _secret_kek(self, salt: bytes, cipher: DataCipher) -> bytes:
        params = (
            default_pin_kdf(cipher) if is_national(cipher) else {"kdf": "scrypt", **_SECRET_SCRYPT}
        )
        return derive_from_secret(self._passphrase, salt, params, cipher.key_length)

    def secret_cipher(self, label: str) -> str:
        """The cipher ``<label>.kek`` is sealed under (``YXKEK1``: AES-256-GCM)."""
        path = self._secret_path(label)
        if not path.exists():
            raise NotFound(f"no secret key labelled {label!r} in {self.directory}", field="label")
        data = path.read_bytes()
        if data.startswith(_SECRET_MAGIC_NAMED) and len(data) > len(_SECRET_MAGIC_NAMED):
            cipher = cipher_by_code(data[len(_SECRET_MAGIC_NAMED)])
            if cipher is not None:
                return cipher.name
        return AES_256_GCM

    def reseal_secret(self, label: str, cipher: str | DataCipher) -> bool:
        """Seal ``<label>.kek`` again under ``cipher`` (the key inside unchanged), atomically
        (a new file moved into place); ``False`` if it already is — a ``YXKEK1`` file too when
        ``cipher`` is AES-256-GCM: that format is AES-256-GCM under scrypt, as ``YXKEK2`` for
        AES is. It was rewritten into ``YXKEK2`` then, and ``keys recrypt --cipher
        aes-256-gcm`` on a fresh install reported the file "1 re-encrypted", telling an
        operator something had been under another cipher when nothing had. The file is
        still opened first, so a wrong passphrase is refused either way."""
        c = get_cipher(cipher)
        path = self._secret_path(label)
        key = self._open_secret(path, label, path.read_bytes())
        if self.secret_cipher(label) == c.name:
            return False
        head, salt = _SECRET_MAGIC_NAMED + bytes([c.code]), os.urandom(16)
        body = c.encrypt(self._secret_kek(salt, c), key, label.encode() + head)
        tmp = self.directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(head + salt + body)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            fsync_dir(self.directory)
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def _create_secret(self, path: Path, label: str) -> None:
        salt, nonce = os.urandom(16), os.urandom(12)
        aes = get_cipher(AES_256_GCM)
        ct = AESGCM(self._secret_kek(salt, aes)).encrypt(
            nonce, secrets.token_bytes(32), label.encode()
        )
        self._make_directory()
        tmp = self.directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_SECRET_MAGIC + salt + nonce + ct)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)  # fails if another process made the key meanwhile: keep it
            except FileExistsError:
                pass
            fsync_dir(self.directory)
        finally:
            tmp.unlink(missing_ok=True)
