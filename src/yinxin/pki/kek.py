"""The platform's key-encryption key (KEK): the second lock on every platform-held key.

A platform-held subscriber key is sealed under the holder's PIN (scrypt + AES-GCM,
``yinxin.pki.pinkeys``). A PIN has six digits at least, and often just six: whoever copies
``yinxin.db`` could try every one of them offline in CPU-hours. So the PIN-sealed blob is in turn
encrypted (AES-256-GCM) under this KEK, which never lives in the database:

* file key store: 32 random bytes in ``keys/platform-kek.kek``, encrypted under the CA
  passphrase like the CA keys (``FileKeyStore.secret``);
* PKCS#11: an AES-256 secret key generated inside the token, sensitive and never extractable;
  every unwrap is a ``CKM_AES_GCM`` decryption done by the token (``Pkcs11KeyStore.secret``).

A copy of the database alone is then useless; a copy of database *and* key store still needs
the PIN. The KEK is created on first use (the first platform-held key after an upgrade or
``init``), under a database-wide lock so that processes starting together agree on one key.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from cryptography.exceptions import InvalidTag

from yinxin.errors import ConfigurationError, NotFound
from yinxin.pki.keys import KeyStore, SecretKey

KEK_LABEL = "platform-kek"
NONCE_BYTES = 12


class PlatformKek:
    """Encrypt and decrypt under the platform KEK; opens the key store only when first used."""

    def __init__(
        self,
        keystore: Callable[[], KeyStore],
        *,
        label: str = KEK_LABEL,
        creation_lock: Callable[[], AbstractContextManager[object]] | None = None,
    ):
        self.label = label
        self._keystore = keystore
        self._creation_lock = creation_lock
        self._key: SecretKey | None = None

    def _get(self, create: bool) -> SecretKey:
        if self._key is not None:
            return self._key
        store = self._keystore()
        try:
            key = store.secret(self.label)
        except NotFound:
            if not create:
                raise ConfigurationError(
                    f"the key store holds no platform key-encryption key {self.label!r}: "
                    "platform-held keys wrapped under it cannot be opened with this key store "
                    "(restore the keys directory, or use the HSM token, it was made with)",
                    field="keystore",
                    code="kek_missing",
                ) from None
            with self._creation_lock() if self._creation_lock else nullcontext():
                key = store.secret(self.label, create=True)
        self._key = key
        return key

    def ready(self) -> None:
        """Open (and if need be create) the KEK now, e.g. before a database transaction, so
        that neither the key store's passphrase work nor creation happens inside one."""
        self._get(create=True)

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._get(create=True).encrypt(nonce, plaintext, aad)

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        key = self._get(create=False)
        try:
            return key.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag:
            raise ConfigurationError(
                f"the platform key-encryption key {self.label!r} in this key store does not "
                "open this key: it was wrapped by another installation's key store, or the "
                "stored key was changed",
                field="keystore",
                code="kek_mismatch",
            ) from None

    def __repr__(self) -> str:
        return f"PlatformKek(label={self.label!r})"
