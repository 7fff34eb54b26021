"""Platform-held subscriber keys, sealed under the holder's PIN ("cloud certificate" model).

The private key is encrypted with AES-256-GCM under a key derived from the PIN by scrypt (memory
hard, so a stolen database does not give up PINs cheaply). The blob carries its own KDF
parameters so they can be raised later without breaking old blobs; the label is bound as
associated data so a blob cannot be swapped onto another record.

Two formats. ``YXPK1``: the PIN-sealed blob alone (keys made before the platform KEK). ``YXPK2``:
that blob encrypted again under the platform's key-encryption key from the key store
(``yinxin.pki.kek``), so a copy of the database alone cannot be attacked by guessing PINs. Both
are read; new keys and PIN changes write ``YXPK2``; ``wrap_sealed`` turns a ``YXPK1`` blob into
``YXPK2`` without the PIN (``yinxin cert wrap-keys``).
"""

from __future__ import annotations

import json
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from yinxin.errors import ConfigurationError, Forbidden, ValidationError
from yinxin.pki.kek import PlatformKek
from yinxin.pki.keys import SoftwareKey

MAGIC = b"YXPK1"
MAGIC_KEK = b"YXPK2"
DEFAULT_SCRYPT = {"n": 2**15, "r": 8, "p": 1}
MIN_PIN = 6


def check_pin(pin: str, field: str = "pin") -> str:
    if not isinstance(pin, str) or len(pin) < MIN_PIN or len(pin) > 64:
        raise ValidationError(f"the PIN must be {MIN_PIN} to 64 characters", field=field)
    return pin


def _derive(pin: str, salt: bytes, params: dict) -> bytes:
    return Scrypt(salt=salt, length=32, n=params["n"], r=params["r"], p=params["p"]).derive(
        pin.encode("utf-8")
    )


def _kek_aad(label: str) -> bytes:
    return b"yinxin-platform-key:" + label.encode()


def is_wrapped(blob: bytes) -> bool:
    """Is this sealed key also encrypted under the platform KEK?"""
    return bytes(blob).startswith(MAGIC_KEK)


def wrap_sealed(blob: bytes, label: str, kek: PlatformKek) -> bytes:
    """Encrypt a PIN-sealed (``YXPK1``) blob under the platform KEK; needs no PIN."""
    blob = bytes(blob)
    if not blob.startswith(MAGIC):
        raise ValueError("not a PIN-sealed key without KEK")
    name = kek.label.encode()
    return MAGIC_KEK + struct.pack(">H", len(name)) + name + kek.encrypt(blob, _kek_aad(label))


def _unwrap(blob: bytes, label: str, kek: PlatformKek | None) -> bytes:
    (nlen,) = struct.unpack(">H", blob[5:7])
    name = blob[7 : 7 + nlen].decode()
    if kek is None:
        raise ConfigurationError(
            "this key is also encrypted under the platform's "
            f"key-encryption key {name!r}: it opens only with the key "
            "store (CA passphrase or HSM) as well as the PIN",
            field="keystore",
            code="kek_missing",
        )
    if kek.label != name:
        raise ConfigurationError(
            f"this key is wrapped under key-encryption key {name!r}, not {kek.label!r}",
            field="keystore",
            code="kek_mismatch",
        )
    return kek.decrypt(blob[7 + nlen :], _kek_aad(label))


def seal_private_key(
    key: PrivateKeyTypes,
    pin: str,
    label: str,
    params: dict | None = None,
    *,
    kek: PlatformKek | None = None,
) -> bytes:
    """Seal under the PIN and, given the platform ``kek``, under it too (``YXPK2``)."""
    check_pin(pin)
    params = dict(params or DEFAULT_SCRYPT)
    salt, nonce = os.urandom(16), os.urandom(12)
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    ct = AESGCM(_derive(pin, salt, params)).encrypt(nonce, der, label.encode())
    header = json.dumps({"kdf": "scrypt", **params}, sort_keys=True).encode()
    blob = MAGIC + struct.pack(">H", len(header)) + header + salt + nonce + ct
    return wrap_sealed(blob, label, kek) if kek is not None else blob


def open_private_key(
    blob: bytes, pin: str, label: str, *, kek: PlatformKek | None = None
) -> SoftwareKey:
    """Decrypt a sealed key (either format); a wrong PIN raises ``Forbidden`` (code
    ``wrong_pin``). A missing or different KEK raises ``ConfigurationError`` instead: it says
    nothing about the PIN, so it must never count as a wrong guess."""
    blob = bytes(blob)
    if blob.startswith(MAGIC_KEK):
        blob = _unwrap(blob, label, kek)
    if not blob.startswith(MAGIC):
        raise ValueError("not a PIN-sealed key")
    (hlen,) = struct.unpack(">H", blob[5:7])
    header = json.loads(blob[7 : 7 + hlen])
    rest = blob[7 + hlen :]
    salt, nonce, ct = rest[:16], rest[16:28], rest[28:]
    try:
        der = AESGCM(_derive(pin, salt, header)).decrypt(nonce, ct, label.encode())
    except InvalidTag:
        raise Forbidden("wrong PIN", field="pin", code="wrong_pin") from None
    return SoftwareKey(label, serialization.load_der_private_key(der, None))


def reseal(
    blob: bytes, old_pin: str, new_pin: str, label: str, *, kek: PlatformKek | None = None
) -> bytes:
    """PIN change: decrypt under the old PIN and encrypt again under the new one (and the KEK,
    so a key sealed before the KEK existed is wrapped from its first PIN change on)."""
    key = open_private_key(blob, old_pin, label, kek=kek)
    return seal_private_key(key.native, new_pin, label, kek=kek)
