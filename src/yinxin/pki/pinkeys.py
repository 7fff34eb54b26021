"""Platform-held subscriber keys, sealed under the holder's PIN ("cloud certificate" model).

The private key is encrypted with AES-256-GCM under a key derived from the PIN by scrypt (memory
hard, so a stolen database does not give up PINs cheaply). The blob carries its own KDF
parameters so they can be raised later without breaking old blobs; the label is bound as
associated data so a blob cannot be swapped onto another record.
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

from yinxin.errors import Forbidden, ValidationError
from yinxin.pki.keys import SoftwareKey

MAGIC = b"YXPK1"
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


def seal_private_key(
    key: PrivateKeyTypes, pin: str, label: str, params: dict | None = None
) -> bytes:
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
    return MAGIC + struct.pack(">H", len(header)) + header + salt + nonce + ct


def open_private_key(blob: bytes, pin: str, label: str) -> SoftwareKey:
    """Decrypt a sealed key; a wrong PIN raises ``Forbidden`` (code ``wrong_pin``)."""
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


def reseal(blob: bytes, old_pin: str, new_pin: str, label: str) -> bytes:
    """PIN change: decrypt under the old PIN and encrypt again under the new one."""
    key = open_private_key(blob, old_pin, label)
    return seal_private_key(key.native, new_pin, label)
