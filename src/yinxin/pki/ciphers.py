"""The ciphers for data at rest, behind one small interface (issue 15 §4).

Every secret the platform keeps encrypted — platform-held subscriber keys (under the holder's PIN
and under the platform KEK), the keys held for signing authorizations, webhook signing secrets,
staff TOTP secrets — goes through one of three authenticated ciphers, chosen per deployment by
``YINXIN_DATA_CIPHER``:

``aes-256-gcm``
    As the platform always did (the default).
``sm4-gcm``
    SM4 (GB/T 32907) in GCM, 96-bit nonce, 128-bit tag (the AEAD of RFC 8998 and GB/T 36624).
``sm4-cbc-hmac-sm3``
    SM4-CBC with PKCS#7 padding, then HMAC-SM3 over the header, the associated data, the IV and
    the ciphertext (encrypt-then-MAC); a 48-byte key: 16 for SM4, 32 for HMAC. For assessors
    or hardware that know SM4-CBC and HMAC-SM3 but not SM4-GCM.

Under a commercial-cryptography assessment (商用密码应用安全性评估) every algorithm on the path
to a secret must be a national one: so the SM4 ciphers come with an SM3 key derivation
(``sm3_kdf``, the GM/T 0003 KDF, = ANSI X9.63 with SM3) for keys derived from a master key, and
with PBKDF2-HMAC-SM3 for keys derived from a PIN (``PIN_KDF_SM3``); AES keeps scrypt.

A blob made by ``seal`` starts with a header naming its cipher (``YXE1`` and one byte), which
is also bound as associated data, so the cipher cannot be swapped under a blob and old blobs
stay readable after the deployment moves to another cipher. Formats that already carry their
own header (the PIN-sealed key's JSON header) name the cipher there and use the raw
``DataCipher.encrypt`` / ``decrypt``.
"""

from __future__ import annotations

import os
import struct
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hmac, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from yinxin.errors import ConfigurationError

AES_256_GCM = "aes-256-gcm"
SM4_GCM = "sm4-gcm"
SM4_CBC_HMAC_SM3 = "sm4-cbc-hmac-sm3"
DEFAULT_CIPHER = AES_256_GCM
SETTING = "YINXIN_DATA_CIPHER"

# A sealed blob's header: magic, then the cipher's code. Bound as associated data.
ENVELOPE_MAGIC = b"YXE1"
HEADER_BYTES = len(ENVELOPE_MAGIC) + 1


class DataCipher:
    """One authenticated cipher: ``encrypt`` returns nonce (or IV), ciphertext and tag;
    ``decrypt`` raises ``InvalidTag`` when the key, the data or the associated data differ."""

    name: str
    code: int
    key_length: int
    nonce_length: int

    def encrypt(self, key: bytes, plaintext: bytes, aad: bytes) -> bytes:
        raise NotImplementedError

    def decrypt(self, key: bytes, data: bytes, aad: bytes) -> bytes:
        raise NotImplementedError

    def _check_key(self, key: bytes) -> None:
        if len(key) != self.key_length:
            raise ValueError(f"{self.name} wants a {self.key_length}-byte key, not {len(key)}")

    def __repr__(self) -> str:
        return f"DataCipher({self.name!r})"


class _AesGcm(DataCipher):
    name, code, key_length, nonce_length = AES_256_GCM, 1, 32, 12

    def encrypt(self, key: bytes, plaintext: bytes, aad: bytes) -> bytes:
        self._check_key(key)
        nonce = os.urandom(self.nonce_length)
        return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)

    def decrypt(self, key: bytes, data: bytes, aad: bytes) -> bytes:
        self._check_key(key)
        if len(data) < self.nonce_length + 16:
            raise InvalidTag()
        return AESGCM(key).decrypt(data[: self.nonce_length], data[self.nonce_length :], aad)


class _Sm4Gcm(DataCipher):
    name, code, key_length, nonce_length = SM4_GCM, 2, 16, 12
    TAG = 16

    def encrypt(self, key: bytes, plaintext: bytes, aad: bytes) -> bytes:
        self._check_key(key)
        nonce = os.urandom(self.nonce_length)
        enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(aad)
        ct = enc.update(plaintext) + enc.finalize()
        return nonce + ct + enc.tag

    def decrypt(self, key: bytes, data: bytes, aad: bytes) -> bytes:
        self._check_key(key)
        if len(data) < self.nonce_length + self.TAG:
            raise InvalidTag()
        nonce, ct, tag = data[: self.nonce_length], data[self.nonce_length : -self.TAG], data[-16:]
        dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
        dec.authenticate_additional_data(aad)
        return dec.update(ct) + dec.finalize()  # finalize raises InvalidTag


class _Sm4CbcHmacSm3(DataCipher):
    name, code, key_length, nonce_length = SM4_CBC_HMAC_SM3, 3, 48, 16
    TAG = 32

    @staticmethod
    def _mac(mac_key: bytes, aad: bytes, iv: bytes, ct: bytes) -> hmac.HMAC:
        # the length prefix keeps (aad, iv || ct) from being re-split into another valid pair
        h = hmac.HMAC(mac_key, hashes.SM3())
        h.update(struct.pack(">Q", len(aad)) + aad + iv + ct)
        return h

    def encrypt(self, key: bytes, plaintext: bytes, aad: bytes) -> bytes:
        self._check_key(key)
        iv = os.urandom(self.nonce_length)
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plaintext) + padder.finalize()
        enc = Cipher(algorithms.SM4(key[:16]), modes.CBC(iv)).encryptor()
        ct = enc.update(padded) + enc.finalize()
        return iv + ct + self._mac(key[16:], aad, iv, ct).finalize()

    def decrypt(self, key: bytes, data: bytes, aad: bytes) -> bytes:
        self._check_key(key)
        body = len(data) - self.nonce_length - self.TAG
        if body < 16 or body % 16:
            raise InvalidTag()
        iv, ct, tag = data[:16], data[16 : -self.TAG], data[-self.TAG :]
        try:
            self._mac(key[16:], aad, iv, ct).verify(tag)  # constant time, before any decryption
        except InvalidSignature:
            raise InvalidTag() from None
        dec = Cipher(algorithms.SM4(key[:16]), modes.CBC(iv)).decryptor()
        padded = dec.update(ct) + dec.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:  # cannot happen once the MAC verified, unless the key is wrong
            raise InvalidTag() from None


CIPHERS: dict[str, DataCipher] = {c.name: c for c in (_AesGcm(), _Sm4Gcm(), _Sm4CbcHmacSm3())}
_BY_CODE: dict[int, DataCipher] = {c.code: c for c in CIPHERS.values()}


def get_cipher(name: str | DataCipher, field: str = SETTING) -> DataCipher:
    """The cipher by name; an unknown name is refused, naming ``field``."""
    if isinstance(name, DataCipher):
        return name
    try:
        return CIPHERS[str(name).strip().lower()]
    except KeyError:
        raise ConfigurationError(
            f"unknown data cipher {name!r}: {', '.join(CIPHERS)}",
            field=field,
            code="unknown_cipher",
        ) from None


def is_national(cipher: str | DataCipher) -> bool:
    """Does this cipher use only national (GM/T) algorithms, so keys for it come from SM3?"""
    return get_cipher(cipher).name != AES_256_GCM


# --- the envelope ----------------------------------------------------------------------------
def header(cipher: str | DataCipher) -> bytes:
    return ENVELOPE_MAGIC + bytes([get_cipher(cipher).code])


def seal(cipher: str | DataCipher, key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """``plaintext`` encrypted under ``key``, behind a header naming the cipher (and bound)."""
    c = get_cipher(cipher)
    h = header(c)
    return h + c.encrypt(key, plaintext, h + aad)


def cipher_by_code(code: int) -> DataCipher | None:
    """The cipher a header's code byte names (``None``: no cipher has it)."""
    return _BY_CODE.get(code)


def cipher_of(blob: bytes) -> DataCipher | None:
    """The cipher a sealed blob's header names, or ``None`` for a blob without one (made
    before headers existed: AES-256-GCM, nonce first)."""
    blob = bytes(blob)
    if len(blob) > HEADER_BYTES and blob.startswith(ENVELOPE_MAGIC):
        return _BY_CODE.get(blob[len(ENVELOPE_MAGIC)])
    return None


def unseal(cipher: DataCipher, key: bytes, blob: bytes, aad: bytes) -> bytes:
    """Open a blob made by ``seal`` with ``cipher`` (as ``cipher_of`` said); ``InvalidTag``
    if it was not made with this key and associated data, or was changed."""
    blob = bytes(blob)
    h = blob[:HEADER_BYTES]
    if h != header(cipher):
        raise InvalidTag()
    return cipher.decrypt(key, blob[HEADER_BYTES:], h + aad)


# --- key derivation --------------------------------------------------------------------------
def sm3_kdf(secret: bytes, length: int, info: bytes = b"") -> bytes:
    """The SM3 key derivation function of GM/T 0003.3 §5.4.3 (SM2's KDF): the SM3 hashes of
    ``secret || counter || info`` for counter 1, 2, … (32-bit big-endian), concatenated and cut
    to ``length``. That is ANSI X9.63's KDF with SM3 (OpenSSL: ``openssl kdf … X963KDF``);
    ``info`` separates the keys derived from one secret for different uses."""
    return X963KDF(algorithm=hashes.SM3(), length=length, sharedinfo=info or None).derive(secret)


# PIN-derived keys: scrypt (memory hard) for AES, PBKDF2-HMAC-SM3 for the national ciphers.
# Both cost roughly 80 ms on a 2020s server core; the KEK layer above is what stops offline
# guessing, the KDF only slows it.
PIN_KDF_SCRYPT: dict[str, Any] = {"kdf": "scrypt", "n": 2**15, "r": 8, "p": 1}
PIN_KDF_SM3: dict[str, Any] = {"kdf": "pbkdf2-sm3", "iterations": 200_000}
# bounds on parameters read from a stored header, so a changed header cannot stall the server
_MAX_SCRYPT_N, _MAX_ITERATIONS = 2**20, 10_000_000


def default_pin_kdf(cipher: str | DataCipher) -> dict[str, Any]:
    return dict(PIN_KDF_SM3 if is_national(cipher) else PIN_KDF_SCRYPT)


def derive_from_pin(pin: str, salt: bytes, params: dict[str, Any], length: int) -> bytes:
    """The key for a PIN-sealed blob, by the KDF its header names (``scrypt`` when unnamed)."""
    return derive_from_secret(pin.encode("utf-8"), salt, params, length)


def derive_from_secret(secret: bytes, salt: bytes, params: dict[str, Any], length: int) -> bytes:
    """``derive_from_pin`` for any low-entropy secret (the CA passphrase too)."""
    kdf = params.get("kdf", "scrypt")
    if kdf == "scrypt":
        n, r, p = int(params["n"]), int(params["r"]), int(params["p"])
        if not (2 <= n <= _MAX_SCRYPT_N and 1 <= r <= 32 and 1 <= p <= 16):
            raise ValueError("scrypt parameters out of bounds")
        return Scrypt(salt=salt, length=length, n=n, r=r, p=p).derive(secret)
    if kdf == "pbkdf2-sm3":
        iterations = int(params["iterations"])
        if not 1000 <= iterations <= _MAX_ITERATIONS:
            raise ValueError("PBKDF2 iterations out of bounds")
        return PBKDF2HMAC(hashes.SM3(), length, salt, iterations).derive(secret)
    raise ValueError(f"unknown PIN KDF {kdf!r}")
