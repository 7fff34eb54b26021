"""A seal key held for a signing authorization (自动签署授权): usable without the PIN, and
only while the authorization's wrapped copy exists.

When an organization authorizes automatic signing it gives the seal PIN once; the key it opens
is encrypted again (``YXAK1``) under a fresh random 256-bit secret that belongs to that one
authorization, and the secret is encrypted under the platform KEK (``yinxin.pki.kek``) — the
same second lock every platform-held key has. The blob is bound (AES-GCM associated data) to
the authorization's label, so it cannot be moved onto another authorization. Nothing else holds
the secret: deleting the blob (withdrawal, exhaustion, expiry) destroys the only way to this
copy of the key (crypto-shredding); the PIN-sealed original is untouched.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from yinxin.errors import ConfigurationError
from yinxin.pki.kek import PlatformKek
from yinxin.pki.keys import SoftwareKey

MAGIC = b"YXAK1"


def _aad(label: str, part: bytes) -> bytes:
    return b"yinxin-authorization-key:" + part + b":" + label.encode()


def wrap_for_authorization(key: PrivateKeyTypes, label: str, kek: PlatformKek) -> bytes:
    """The key under a fresh per-authorization secret, the secret under the platform KEK."""
    secret = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    ct = AESGCM(secret).encrypt(nonce, der, _aad(label, b"key"))
    wrapped_secret = kek.encrypt(secret, _aad(label, b"secret"))
    return MAGIC + struct.pack(">H", len(wrapped_secret)) + wrapped_secret + nonce + ct


def open_for_authorization(blob: bytes, label: str, kek: PlatformKek) -> SoftwareKey:
    """The key an authorization holds; a blob not made for ``label`` (or changed) is refused."""
    blob = bytes(blob)
    if not blob.startswith(MAGIC):
        raise ConfigurationError(
            "the authorization's key copy is not in a known format",
            field="authorization",
            code="authorization_key",
        )
    (n,) = struct.unpack(">H", blob[5:7])
    wrapped_secret, rest = blob[7 : 7 + n], blob[7 + n :]
    secret = kek.decrypt(wrapped_secret, _aad(label, b"secret"))
    try:
        der = AESGCM(secret).decrypt(rest[:12], rest[12:], _aad(label, b"key"))
    except InvalidTag:
        raise ConfigurationError(
            "the authorization's key copy does not open: it was changed or moved",
            field="authorization",
            code="authorization_key",
        ) from None
    return SoftwareKey(label, serialization.load_der_private_key(der, None))
