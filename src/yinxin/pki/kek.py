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
``init``), under a database-wide lock so that processes starting together agree on one key, and
only while nothing in the database is wrapped under a KEK yet (``anything_wrapped``, asked of
the database by the composition root): a key store that lacks the KEK the database's secrets
need (a database imported, its ``keys/`` not copied yet) is refused ``kek_missing`` on every
path, rather than given a new key that could open none of them and would be lost once the
real one is restored. Likewise a KEK that is there but opens none of the secrets the database
already holds (another installation's ``keys/`` copied in) seals nothing new: ``kek_mismatch``
(``opens_database``, asked of the database once per process, before the first seal), so the
database never holds blobs under two KEKs.

The cipher under the KEK is the deployment's ``YINXIN_DATA_CIPHER`` (``yinxin.pki.ciphers``).
AES-256-GCM is done by the store's own key (inside the token on PKCS#11). For SM4 the key is
derived from the file store's 32 KEK bytes by the SM3 KDF, one key per cipher, and the ``.kek``
file itself is sealed under the CA passphrase with PBKDF2-HMAC-SM3 and that cipher. A PKCS#11
token keeps its AES key unextractable and does no SM4 through this code, so SM4 there is
refused (``cipher_unsupported``) rather than weakened. Each blob names its cipher in a header (blobs
made before headers are AES-GCM, nonce first), so blobs under any cipher open side by side and
``yinxin keys recrypt`` can move them from one to another.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from cryptography.exceptions import InvalidTag

from yinxin.errors import ConfigurationError, NotFound
from yinxin.pki import ciphers
from yinxin.pki.ciphers import AES_256_GCM, DataCipher, get_cipher
from yinxin.pki.keys import KeyStore, SecretKey

KEK_LABEL = "platform-kek"
NONCE_BYTES = 12


class KekMissing(ConfigurationError, http_status=503, code="kek_missing"):
    """The key store lacks the KEK the database's secrets are wrapped under (a database
    imported, its ``keys/`` not copied yet). A configuration error (CLI exit 7), but the API's
    ``503 Service Unavailable``, not the ``500`` of a crash: nothing is broken or written, and
    the same request goes through once the operator restores the keys directory (or plugs in
    the token)."""


class KekMismatch(ConfigurationError, http_status=503, code="kek_mismatch"):
    """The key store's KEK does not open a stored blob: another installation's ``keys/`` (or
    HSM token) in place of the one the database's secrets were wrapped under, or the blob was
    changed; also refused before sealing anything new under a KEK that opens none of the
    database's secrets. As ``KekMissing``: CLI exit 7, the API's ``503``, nothing written, and
    the request goes through once the right keys directory is back. It says nothing about a
    PIN (the KEK layer is opened first), so it is never counted as a wrong guess."""


#: what a ``kek_mismatch`` tells the operator to restore
MISMATCH_REMEDY = (
    "restore the keys directory, or use the HSM token, this database was made with; if that "
    "is the one in place, the stored key was changed: restore the database from its backup"
)


class PlatformKek:
    """Encrypt and decrypt under the platform KEK; opens the key store only when first used."""

    def __init__(
        self,
        keystore: Callable[[], KeyStore],
        *,
        label: str = KEK_LABEL,
        creation_lock: Callable[[], AbstractContextManager[object]] | None = None,
        cipher: str = AES_256_GCM,
        anything_wrapped: Callable[[], bool] | None = None,
        opens_database: Callable[[], bool | None] | None = None,
    ):
        self.label = label
        self.cipher = get_cipher(cipher)  # what new blobs are sealed with
        self._keystore = keystore
        self._creation_lock = creation_lock
        # "is any secret in the database sealed under a KEK already?" (the composition root
        # asks the database): then a missing KEK is refused, never made anew
        self._anything_wrapped = anything_wrapped
        # "does this KEK open the secrets the database holds?" (``None``: it holds none yet),
        # asked before anything new is sealed, until once answered yes (``_check_database``)
        self._opens_database = opens_database
        self._database_checked = opens_database is None
        self._key: SecretKey | None = None
        self._subkeys: dict[str, bytes] = {}

    def _get(self, create: bool) -> SecretKey:
        if self._key is not None:
            return self._key
        store = self._keystore()
        try:
            key = store.secret(self.label)
        except NotFound:
            if not create:
                raise self._missing(wrapped=False) from None
            with self._creation_lock() if self._creation_lock else nullcontext():
                try:  # made meanwhile by another process (it held the lock)
                    key = store.secret(self.label)
                except NotFound:
                    if self._anything_wrapped is not None and self._anything_wrapped():
                        raise self._missing(wrapped=True) from None
                    key = store.secret(self.label, create=True)
                if self.cipher.name != AES_256_GCM:  # a KEK file made under an SM4 setting
                    self.reseal_store(self.cipher)
        self._key = key
        return key

    def _missing(self, *, wrapped: bool) -> KekMissing:
        """The refusal where the key store lacks the KEK (``kek_missing``); ``wrapped``: a new
        secret was to be sealed, and none is made since the database holds some under a KEK."""
        why = (
            "the database holds secrets wrapped under one, which a new key could not open, "
            "so none is made and nothing was written"
            if wrapped
            else "platform-held keys wrapped under it cannot be opened with this key store"
        )
        return KekMissing(
            f"the key store holds no platform key-encryption key {self.label!r}: {why} "
            "(restore the keys directory, or use the HSM token, it was made with)",
            field="keystore",
        )

    def _check_database(self) -> None:
        """Before sealing anything new: refuse (``kek_mismatch``) a KEK that opens none of the
        secrets the database already holds (another installation's ``keys/``), where a new
        blob would be sealed under a key the database was not made with and, once the right
        keys are back, could not be opened. Asked of the database until it answers yes, then
        never again in this process; a database with nothing wrapped yet takes any KEK."""
        if self._database_checked or self._opens_database is None:
            return
        opens = self._opens_database()
        if opens is False:
            raise KekMismatch(
                f"the platform key-encryption key {self.label!r} in this key store is not the "
                "one this database's secrets are wrapped under (it opens none of them): it is "
                "another installation's key store, so nothing new is sealed under it and "
                f"nothing was written ({MISMATCH_REMEDY})",
                field="keystore",
            )
        if opens:
            self._database_checked = True

    def store_cipher(self) -> str | None:
        """The cipher the key store keeps the KEK under (the file store's ``.kek`` file), or
        ``None`` where it is not this platform's to choose (inside a PKCS#11 token)."""
        store = self._keystore()
        named = getattr(store, "secret_cipher", None)
        try:
            return named(self.label) if named is not None else None
        except NotFound:  # no KEK made yet
            return None

    def reseal_store(self, cipher: str | DataCipher) -> bool:
        """Seal the KEK's own file again under ``cipher`` (the KEK itself unchanged, so every
        blob under it still opens whatever happens to the file); ``False`` if there was
        nothing to do or the store keeps the KEK itself (PKCS#11)."""
        store = self._keystore()
        reseal = getattr(store, "reseal_secret", None)
        return bool(reseal(self.label, get_cipher(cipher))) if reseal is not None else False

    def ready(self, *, create: bool = True) -> None:
        """Open (and if need be create) the KEK now, e.g. before a database transaction, so
        that neither the key store's passphrase work nor creation happens inside one. With
        ``create=False`` a missing KEK is refused (``kek_missing``) rather than made: where
        secrets are already wrapped under one, a new key could open none of them."""
        self._get(create=create)
        self._check_database()

    def _derived(self, cipher: DataCipher) -> bytes:
        """The SM4 (or other non-AES) key for ``cipher``, derived from the KEK by the SM3 KDF
        (once per cipher: it stays in this process as long as the KEK does)."""
        if cipher.name in self._subkeys:
            return self._subkeys[cipher.name]
        key = self._get(create=True)
        derive = getattr(key, "derive", None)
        if derive is None:
            raise ConfigurationError(
                f"the key store keeps the platform key-encryption key {self.label!r} where "
                f"this platform cannot use it for {cipher.name} (a PKCS#11 token's AES key): "
                f"use {AES_256_GCM} with this key store, or the file key store for SM4",
                field=ciphers.SETTING,
                code="cipher_unsupported",
            )
        info = b"yinxin-kek:" + self.label.encode() + b":" + cipher.name.encode()
        subkey = self._subkeys[cipher.name] = derive(info, cipher.key_length)
        return subkey

    def supports(self, cipher: str | DataCipher) -> None:
        """Refuse now (``cipher_unsupported``) if this key store cannot seal under ``cipher``,
        e.g. before a recrypt starts changing anything."""
        c = get_cipher(cipher)
        if c.name != AES_256_GCM:
            self._derived(c)

    def encrypt(
        self, plaintext: bytes, aad: bytes, *, cipher: str | DataCipher | None = None
    ) -> bytes:
        """Seal under the KEK with ``cipher`` (the deployment's when not given)."""
        c = get_cipher(cipher) if cipher is not None else self.cipher
        self._get(create=True)
        self._check_database()  # never a new blob under a KEK the database was not made with
        if c.name == AES_256_GCM:  # the store's own AES-GCM key (inside the token on PKCS#11)
            header = ciphers.header(c)
            nonce = os.urandom(NONCE_BYTES)
            return header + nonce + self._get(create=True).encrypt(nonce, plaintext, header + aad)
        return ciphers.seal(c, self._derived(c), plaintext, aad)

    def cipher_of(self, blob: bytes) -> str:
        """The name of the cipher a blob sealed here is under (``aes-256-gcm`` for a blob made
        before blobs named their cipher)."""
        c = ciphers.cipher_of(blob)
        return c.name if c is not None else AES_256_GCM

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        blob = bytes(blob)
        c = ciphers.cipher_of(blob)
        try:
            if c is not None:
                try:
                    return self._open(c, blob, aad)
                except InvalidTag:
                    pass  # a headerless blob whose random nonce happens to look like a header
            key = self._get(create=False)
            return key.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag:
            raise KekMismatch(
                f"the platform key-encryption key {self.label!r} in this key store does not "
                "open this key: it was wrapped by another installation's key store, or the "
                f"stored key was changed ({MISMATCH_REMEDY})",
                field="keystore",
            ) from None

    def _open(self, c: DataCipher, blob: bytes, aad: bytes) -> bytes:
        if c.name == AES_256_GCM:
            key = self._get(create=False)
            header, rest = blob[: ciphers.HEADER_BYTES], blob[ciphers.HEADER_BYTES :]
            return key.decrypt(rest[:NONCE_BYTES], rest[NONCE_BYTES:], header + aad)
        self._get(create=False)  # a missing KEK says so (kek_missing), not "cannot derive"
        return ciphers.unseal(c, self._derived(c), blob, aad)

    def recrypt(self, blob: bytes, aad: bytes, cipher: str | DataCipher) -> bytes:
        """The same plaintext sealed again under ``cipher`` (the blob as it is if it already
        is); what cannot be opened is refused as ``decrypt`` refuses it."""
        c = get_cipher(cipher)
        plaintext = self.decrypt(blob, aad)
        if ciphers.cipher_of(blob) is c:
            return bytes(blob)
        return self.encrypt(plaintext, aad, cipher=c)

    def __repr__(self) -> str:
        return f"PlatformKek(label={self.label!r}, cipher={self.cipher.name!r})"
