"""Keys behind one small interface: a ``KeyHandle`` signs, a ``KeyStore`` keeps handles.

Two real stores implement it: ``FileKeyStore`` (PKCS#8 files encrypted under a passphrase, the
default) and ``Pkcs11KeyStore`` (a PKCS#11 token such as SoftHSM2 or a real HSM; the key never
leaves it). Code that builds certificates, CRLs, OCSP and timestamp responses only ever sees a
``KeyHandle``: it never learns where the key lives.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from yinxin.errors import ConfigurationError, Conflict, Forbidden, NotFound, ValidationError
from yinxin.pki.algorithms import Algorithm, algorithm_of, get_algorithm, sign_with_native


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
        """The in-process ``cryptography`` key when there is one (fast path), else ``None``."""
        ...


class KeyStore(Protocol):
    kind: str

    def generate(self, label: str, algorithm: str) -> KeyHandle: ...

    def load(self, label: str) -> KeyHandle: ...

    def exists(self, label: str) -> bool: ...

    def remove(self, label: str) -> None:
        """Delete a key (used to undo a set-up that failed half-way)."""
        ...


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


_LABEL = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def check_label(label: str) -> str:
    if not _LABEL.match(label):
        raise ValidationError(f"key label {label!r} is not valid", field="label")
    return label


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

    def _path(self, label: str) -> Path:
        return self.directory / f"{check_label(label)}.key.pem"

    def exists(self, label: str) -> bool:
        return self._path(label).exists()

    def generate(self, label: str, algorithm: str) -> KeyHandle:
        path = self._path(label)
        if path.exists():
            raise Conflict(f"a key labelled {label!r} already exists", field="label")
        key = get_algorithm(algorithm).generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self._passphrase),
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        os.replace(tmp, path)
        return SoftwareKey(label, key)

    def load(self, label: str) -> KeyHandle:
        path = self._path(label)
        if not path.exists():
            raise NotFound(f"no key labelled {label!r} in {self.directory}", field="label")
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), self._passphrase)
        except ValueError:
            raise Forbidden(
                "wrong CA passphrase", field="passphrase", code="bad_passphrase"
            ) from None
        return SoftwareKey(label, key)

    def remove(self, label: str) -> None:
        self._path(label).unlink(missing_ok=True)


def open_keystore(kind: str, **options) -> KeyStore:
    """The one place a key-store kind is chosen by name."""
    if kind == "file":
        return FileKeyStore(options["directory"], options["passphrase"])
    if kind == "pkcs11":
        from yinxin.pki.pkcs11_store import Pkcs11KeyStore

        return Pkcs11KeyStore(
            module=options["module"], token_label=options["token_label"], pin=options["pin"]
        )
    raise ConfigurationError(f"unknown key store {kind!r} (file or pkcs11)", field="keystore")
