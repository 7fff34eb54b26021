"""A seal key held for a signing authorization (自动签署授权): usable without the PIN, and
only while the authorization's wrapped copy exists.

When an organization authorizes automatic signing it gives the seal PIN once; the key it opens
is encrypted again (``YXAK1``) under a fresh random 256-bit secret that belongs to that one
authorization, and the secret is encrypted under the platform KEK (``yinxin.pki.kek``) — the
same second lock every platform-held key has. The blob is bound (AES-GCM associated data) to
the authorization's label, so it cannot be moved onto another authorization. Nothing else holds
the secret: deleting the blob (withdrawal, exhaustion, expiry) destroys the only way to this
copy of the key (crypto-shredding); the PIN-sealed original is untouched.

``YXAK2`` (since SM4 at rest) names the cipher of the key copy in one byte after the magic
(``yinxin.pki.ciphers``: the per-authorization secret is as long as that cipher's key) and the
secret is sealed under the KEK with the same cipher; ``YXAK1`` blobs (AES-256-GCM) are still
read. ``rewrap_for_authorization`` moves a copy to another cipher with a fresh secret.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from yinxin.errors import ConfigurationError
from yinxin.pki.ciphers import AES_256_GCM, CIPHERS, DataCipher, get_cipher
from yinxin.pki.kek import PlatformKek
from yinxin.pki.keys import SoftwareKey

MAGIC = b"YXAK1"
MAGIC_NAMED = b"YXAK2"


def _aad(label: str, part: bytes) -> bytes:
    return b"yinxin-authorization-key:" + part + b":" + label.encode()


def wrap_for_authorization(
    key: PrivateKeyTypes, label: str, kek: PlatformKek, cipher: str | DataCipher | None = None
) -> bytes:
    """The key under a fresh per-authorization secret, the secret under the platform KEK, both
    with ``cipher`` (the KEK's, i.e. the deployment's, when not given)."""
    c = get_cipher(cipher) if cipher is not None else kek.cipher
    secret = os.urandom(c.key_length)
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    head = MAGIC_NAMED + bytes([c.code])
    ct = c.encrypt(secret, der, head + _aad(label, b"key"))
    wrapped_secret = kek.encrypt(secret, _aad(label, b"secret"), cipher=c)
    return head + struct.pack(">H", len(wrapped_secret)) + wrapped_secret + ct


def _refused() -> ConfigurationError:
    return ConfigurationError(
        "the authorization's key copy does not open: it was changed or moved",
        field="authorization",
        code="authorization_key",
    )


def cipher_of_authorization(blob: bytes) -> str:
    """The cipher of an authorization's key copy (``YXAK1``: AES-256-GCM)."""
    blob = bytes(blob)
    if blob.startswith(MAGIC_NAMED):
        for c in CIPHERS.values():
            if c.code == blob[5]:
                return c.name
    return AES_256_GCM


def open_for_authorization(blob: bytes, label: str, kek: PlatformKek) -> SoftwareKey:
    """The key an authorization holds; a blob not made for ``label`` (or changed) is refused."""
    blob = bytes(blob)
    if blob.startswith(MAGIC_NAMED) and len(blob) > 8:
        c = get_cipher(cipher_of_authorization(blob), field="authorization")
        head, n_at = blob[:6], 6
    elif blob.startswith(MAGIC):
        c, head, n_at = CIPHERS[AES_256_GCM], b"", 5
    else:
        raise ConfigurationError(
            "the authorization's key copy is not in a known format",
            field="authorization",
            code="authorization_key",
        )
    (n,) = struct.unpack(">H", blob[n_at : n_at + 2])
    wrapped_secret, rest = blob[n_at + 2 : n_at + 2 + n], blob[n_at + 2 + n :]
    secret = kek.decrypt(wrapped_secret, _aad(label, b"secret"))
    if len(secret) != c.key_length:  # the header's cipher was changed
        raise _refused()
    try:
        der = c.decrypt(secret, rest, head + _aad(label, b"key"))
    except InvalidTag:
        raise _refused() from None
    return SoftwareKey(label, serialization.load_der_private_key(der, None))


def rewrap_for_authorization(
    blob: bytes, label: str, kek: PlatformKek, cipher: str | DataCipher
) -> bytes:
    """The same key copy under ``cipher`` with a fresh secret (as it is if already there)."""
    c = get_cipher(cipher)
    blob = bytes(blob)
    key = open_for_authorization(blob, label, kek)
    if blob.startswith(MAGIC_NAMED) and cipher_of_authorization(blob) == c.name:
        (n,) = struct.unpack(">H", blob[6:8])
        if kek.cipher_of(blob[8 : 8 + n]) == c.name:
            return blob
    return wrap_for_authorization(key.native, label, kek, c)
