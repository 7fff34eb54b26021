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

The cipher and KDF of the PIN layer are named in the JSON header: ``cipher`` absent means
AES-256-GCM under scrypt, as before; new blobs are sealed with the KEK's cipher (the
deployment's ``YINXIN_DATA_CIPHER``): AES-256-GCM under scrypt, or SM4 (GCM, or CBC with
HMAC-SM3) under PBKDF2-HMAC-SM3, and bind the header as associated data, so it cannot be
changed to another cipher or to weaker KDF parameters. ``rewrap`` moves the KEK layer to
another cipher without the PIN (``yinxin keys recrypt``); the PIN layer moves only when the PIN
is given: at the next PIN change, or the next signature (``needs_reseal``).
"""

from __future__ import annotations

import json
import os
import struct
import unicodedata

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from yinxin.errors import Forbidden, ValidationError
from yinxin.identity import hidden_character
from yinxin.pki import sm2
from yinxin.pki.ciphers import (
    AES_256_GCM,
    PIN_KDF_SCRYPT,
    DataCipher,
    cipher_of,
    default_pin_kdf,
    derive_from_pin,
    get_cipher,
)
from yinxin.pki.kek import MISMATCH_REMEDY, KekMismatch, KekMissing, PlatformKek
from yinxin.pki.keys import SM2SoftwareKey, SoftwareKey

MAGIC = b"YXPK1"
MAGIC_KEK = b"YXPK2"
DEFAULT_SCRYPT = {k: v for k, v in PIN_KDF_SCRYPT.items() if k != "kdf"}
MIN_PIN = 6
MAX_PIN = 64


def _check_pin_length(pin: str, field: str = "pin") -> None:
    """A PIN of 6 to 64 characters, refused in Chinese and English ("中文 / English", as every
    PIN refusal: the length and a space at either end were said in English alone beside the
    hidden-character one's two languages), never saying the PIN or its length. The API's new-PIN
    fields leave the length to it (``shapes.NewPin``)."""
    if not isinstance(pin, str) or len(pin) < MIN_PIN or len(pin) > MAX_PIN:
        raise ValidationError(
            f"PIN 须为 {MIN_PIN}–{MAX_PIN} 个字符 / "
            f"the PIN must be {MIN_PIN} to {MAX_PIN} characters",
            field=field,
        )


def check_pin(pin: str, field: str = "pin") -> str:
    """A new PIN, as its holder can type it again on any keyboard: a full-width digit (as a
    Chinese input method types it), an invisible or control character, or a space at either
    end (which a form or a shell trims) would make the PIN one the holder then types "wrong"
    until the key locks. The refusal never repeats the PIN or a character of it. (A key
    re-sealed under the PIN it already has is checked for length only: a PIN set before these
    rules still opens and re-seals its key.)"""
    _check_pin_length(pin, field)
    if hidden_character(pin) is not None:
        raise ValidationError(  # in both languages, as every hidden-character refusal
            "PIN 中有不可见字符或控制字符，须为可打印字符 / "
            "the PIN must be printable characters: it holds an invisible or control character",
            field=field,
        )
    if pin != pin.strip():
        raise ValidationError(
            "PIN 首尾不能有空格 / the PIN must not begin or end with a space", field=field
        )
    if unicodedata.normalize("NFKC", pin) != pin:
        raise ValidationError(
            "PIN 中有全角字符或其他兼容字符，请关闭输入法（半角）输入字母和数字 / "
            "the PIN holds a full-width (全角) or other compatibility character; type its "
            "letters and digits with the input method off (半角)",
            field=field,
        )
    return pin


def _pin_aad(label: str, header: bytes, named: bool) -> bytes:
    # blobs that name their cipher bind the whole header; older ones bound the label alone
    return label.encode() + b"\n" + header if named else label.encode()


def _kek_aad(label: str) -> bytes:
    return b"yinxin-platform-key:" + label.encode()


def is_wrapped(blob: bytes) -> bool:
    """Is this sealed key also encrypted under the platform KEK?"""
    return bytes(blob).startswith(MAGIC_KEK)


def wrap_sealed(
    blob: bytes, label: str, kek: PlatformKek, *, cipher: str | DataCipher | None = None
) -> bytes:
    """Encrypt a PIN-sealed (``YXPK1``) blob under the platform KEK; needs no PIN."""
    blob = bytes(blob)
    if not blob.startswith(MAGIC):
        raise ValueError("not a PIN-sealed key without KEK")
    name = kek.label.encode()
    return (
        MAGIC_KEK
        + struct.pack(">H", len(name))
        + name
        + kek.encrypt(blob, _kek_aad(label), cipher=cipher)
    )


def rewrap(blob: bytes, label: str, kek: PlatformKek, cipher: str | DataCipher) -> bytes:
    """The KEK layer under ``cipher``, without the PIN: a ``YXPK1`` blob is wrapped, a
    ``YXPK2`` one unwrapped and wrapped again. The PIN layer inside is kept as it is."""
    blob = bytes(blob)
    if blob.startswith(MAGIC_KEK):
        inner = _unwrap(blob, label, kek)
        if kek.cipher_of(_kek_part(blob)) == get_cipher(cipher).name and _headed(blob):
            return blob
        return wrap_sealed(inner, label, kek, cipher=cipher)
    return wrap_sealed(blob, label, kek, cipher=cipher)


def _kek_part(blob: bytes) -> bytes:
    (nlen,) = struct.unpack(">H", blob[5:7])
    return blob[7 + nlen :]


def _headed(blob: bytes) -> bool:
    """Does the KEK layer name its cipher (made since blobs do)?"""
    return cipher_of(_kek_part(blob)) is not None


def layers(blob: bytes, label: str, kek: PlatformKek | None) -> tuple[str | None, str]:
    """The ciphers of a sealed key: (KEK layer or ``None`` when not wrapped, PIN layer).
    Reading the PIN layer's header needs the KEK, not the PIN."""
    blob = bytes(blob)
    outer = None
    if blob.startswith(MAGIC_KEK):
        outer = kek.cipher_of(_kek_part(blob)) if kek is not None else None
        blob = _unwrap(blob, label, kek)
    header, _rest = _split(blob)
    return outer, header.get("cipher", AES_256_GCM)


def needs_reseal(blob: bytes, pin_cipher: str, kek: PlatformKek | None) -> bool:
    """Is this KEK-wrapped key under another cipher than the deployment's, in either layer
    (``pin_cipher``: its PIN layer's, as ``open_sealed`` read it)? Such a key, once opened
    with its PIN, is sealed again with that PIN (``SealPins``). Reads headers only. A key
    not wrapped at all is left to ``yinxin cert wrap-keys`` or ``yinxin keys recrypt``."""
    if kek is None or not is_wrapped(blob):
        return False
    name = kek.cipher.name
    return kek.cipher_of(_kek_part(bytes(blob))) != name or pin_cipher != name


def _unwrap(blob: bytes, label: str, kek: PlatformKek | None) -> bytes:
    (nlen,) = struct.unpack(">H", blob[5:7])
    name = blob[7 : 7 + nlen].decode()
    if kek is None:
        raise KekMissing(
            "this key is also encrypted under the platform's "
            f"key-encryption key {name!r}: it opens only with the key "
            "store (CA passphrase or HSM) as well as the PIN",
            field="keystore",
        )
    if kek.label != name:
        raise KekMismatch(
            f"this key is wrapped under key-encryption key {name!r}, not {kek.label!r} "
            f"({MISMATCH_REMEDY})",
            field="keystore",
        )
    return kek.decrypt(blob[7 + nlen :], _kek_aad(label))


def seal_private_key(
    key: PrivateKeyTypes | sm2.SM2PrivateKey,
    pin: str,
    label: str,
    params: dict | None = None,
    *,
    kek: PlatformKek | None = None,
    cipher: str | DataCipher | None = None,
) -> bytes:
    """Seal under the PIN and, given the platform ``kek``, under it too (``YXPK2``). The
    cipher is ``cipher``, else the KEK's, else AES-256-GCM; ``params`` are the KDF's (scrypt's
    ``n``/``r``/``p`` or PBKDF2's ``iterations``), defaulting to the cipher's. A new PIN is
    checked by :func:`check_pin` before; here only its length, so that a key re-sealed under
    the PIN it has keeps it."""
    _check_pin_length(pin)
    c = get_cipher(cipher if cipher is not None else (kek.cipher if kek else AES_256_GCM))
    kdf = default_pin_kdf(c)
    kdf.update(params or {})
    salt = os.urandom(16)
    if isinstance(key, sm2.SM2PrivateKey):
        der = key.private_bytes_der()
    else:
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    header = json.dumps({**kdf, "cipher": c.name}, sort_keys=True).encode()
    body = c.encrypt(
        derive_from_pin(pin, salt, kdf, c.key_length), der, _pin_aad(label, header, True)
    )
    blob = MAGIC + struct.pack(">H", len(header)) + header + salt + body
    return wrap_sealed(blob, label, kek) if kek is not None else blob


def _split(blob: bytes) -> tuple[dict, bytes]:
    if not blob.startswith(MAGIC):
        raise ValueError("not a PIN-sealed key")
    (hlen,) = struct.unpack(">H", blob[5:7])
    return json.loads(blob[7 : 7 + hlen]), blob[7 + hlen :]


def open_private_key(
    blob: bytes, pin: str, label: str, *, kek: PlatformKek | None = None
) -> SoftwareKey | SM2SoftwareKey:
    """Decrypt a sealed key (either format); a wrong PIN raises ``Forbidden`` (code
    ``wrong_pin``). A missing or different KEK raises ``ConfigurationError`` instead: it says
    nothing about the PIN, so it must never count as a wrong guess."""
    return open_sealed(blob, pin, label, kek=kek)[0]


def open_sealed(
    blob: bytes, pin: str, label: str, *, kek: PlatformKek | None = None
) -> tuple[SoftwareKey | SM2SoftwareKey, str]:
    """``open_private_key``, and the name of the PIN layer's cipher (for ``needs_reseal``)."""
    blob = bytes(blob)
    if blob.startswith(MAGIC_KEK):
        blob = _unwrap(blob, label, kek)
    header, rest = _split(blob)
    (hlen,) = struct.unpack(">H", blob[5:7])
    named = "cipher" in header
    c = get_cipher(header.get("cipher", AES_256_GCM), field="sealed_key")
    aad = _pin_aad(label, blob[7 : 7 + hlen], named)
    salt, body = rest[:16], rest[16:]
    try:
        der = c.decrypt(derive_from_pin(pin, salt, header, c.key_length), body, aad)
    except InvalidTag:
        raise Forbidden("wrong PIN", field="pin", code="wrong_pin") from None
    try:
        return SoftwareKey(label, serialization.load_der_private_key(der, None)), c.name
    except UnsupportedAlgorithm:  # an SM2 key (cryptography knows no SM2 curve)
        return SM2SoftwareKey(label, sm2.load_private_der(der)), c.name


def reseal(
    blob: bytes, old_pin: str, new_pin: str, label: str, *, kek: PlatformKek | None = None
) -> bytes:
    """PIN change: decrypt under the old PIN and encrypt again under the new one (and the KEK,
    so a key sealed before the KEK existed is wrapped from its first PIN change on)."""
    key = open_private_key(blob, old_pin, label, kek=kek)
    return seal_private_key(private_of(key), new_pin, label, kek=kek)


def private_of(key: SoftwareKey | SM2SoftwareKey) -> PrivateKeyTypes | sm2.SM2PrivateKey:
    """The in-process private key of an opened sealed key, to seal it again."""
    return key.sm2_key if isinstance(key, SM2SoftwareKey) else key.native
