"""SM2 signatures (GB/T 32918.2, GM/T 0009) and SM3 through the system's OpenSSL 3 libcrypto.

``cryptography`` hashes with SM3 but cannot sign with SM2, so this module binds the few
libcrypto calls it needs with ``ctypes``: the distribution's libcrypto is security-maintained,
already on every machine the platform runs on (``openssl`` is a dependency), and signs at
OpenSSL's own speed — the binding adds a handful of foreign calls per signature, a few percent
of an SM2 signature's ~0.3 ms (``bench/sm2.py`` measures it against ``openssl speed sm2``).

A signature is ``SEQUENCE { r INTEGER, s INTEGER }`` over ``SM3(Z_A || data)``, where ``Z_A``
hashes the signer's user ID (``DEFAULT_UID`` = ``1234567812345678`` by GM/T 0009), the curve
parameters and the public key; libcrypto computes ``Z_A`` when given the ID as the signature
context's ``distid`` parameter. Keys are ``EVP_PKEY`` objects owned by Python objects and freed
with them; the private scalar never leaves libcrypto except as an (encrypted) PKCS#8 PEM.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import functools
import weakref
from typing import Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from yinxin.errors import ConfigurationError, Forbidden, ValidationError

DEFAULT_UID = b"1234567812345678"
OID_SM2 = "1.2.156.10197.1.301"
OID_SM3 = "1.2.156.10197.1.401"
OID_SM3_WITH_SM2 = "1.2.156.10197.1.501"

# id-ecPublicKey with the SM2 curve, as OpenSSL writes an SM2 SubjectPublicKeyInfo: what comes
# before the 65-byte uncompressed point (SEQUENCE, AlgorithmIdentifier, BIT STRING header).
_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004")
_MAX_SIG = 80  # DER of two 256-bit integers: at most 72 bytes
_OSSL_PARAM_OCTET_STRING = 5
_BIO_CTRL_INFO = 3  # BIO_get_mem_data


class _OsslParam(ctypes.Structure):
    _fields_ = [
        ("key", ctypes.c_char_p),
        ("data_type", ctypes.c_uint),
        ("data", ctypes.c_void_p),
        ("data_size", ctypes.c_size_t),
        ("return_size", ctypes.c_size_t),
    ]


_PASSWORD_CB = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_char), ctypes.c_int, ctypes.c_int, ctypes.c_void_p
)


@functools.cache
def _lib() -> ctypes.CDLL:
    """libcrypto 3 with the prototypes used here (loaded once, on first use)."""
    path = ctypes.util.find_library("crypto")
    try:
        lib = ctypes.CDLL(path or "libcrypto.so.3")
        lib.OpenSSL_version_num.restype = ctypes.c_ulong
    except (OSError, AttributeError) as exc:
        raise ConfigurationError(
            f"SM2 needs OpenSSL 3's libcrypto, which could not be loaded: {exc}",
            field="algorithm",
        ) from None
    if lib.OpenSSL_version_num() < 0x30000000:
        raise ConfigurationError("SM2 needs OpenSSL 3 or later (libcrypto)", field="algorithm")
    vp, cp, sz, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int
    protos: dict[str, tuple[object, list[object]]] = {
        "EVP_PKEY_CTX_new_from_name": (vp, [vp, cp, cp]),
        "EVP_PKEY_keygen_init": (i, [vp]),
        "EVP_PKEY_generate": (i, [vp, ctypes.POINTER(vp)]),
        "EVP_PKEY_CTX_free": (None, [vp]),
        "EVP_PKEY_free": (None, [vp]),
        "EVP_PKEY_is_a": (i, [vp, cp]),
        "i2d_PUBKEY": (i, [vp, ctypes.POINTER(ctypes.c_char_p)]),
        "d2i_PUBKEY": (vp, [vp, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]),
        "BIO_s_mem": (vp, []),
        "BIO_new": (vp, [vp]),
        "BIO_new_mem_buf": (vp, [cp, i]),
        "BIO_ctrl": (ctypes.c_long, [vp, i, ctypes.c_long, vp]),
        "BIO_free": (i, [vp]),
        "EVP_aes_256_cbc": (vp, []),
        "PEM_write_bio_PKCS8PrivateKey": (i, [vp, vp, vp, cp, i, vp, vp]),
        "PEM_read_bio_PrivateKey": (vp, [vp, vp, _PASSWORD_CB, vp]),
        "EVP_MD_CTX_new": (vp, []),
        "EVP_MD_CTX_free": (None, [vp]),
        "EVP_DigestSignInit_ex": (i, [vp, vp, cp, vp, cp, vp, vp]),
        "EVP_PKEY_CTX_set_params": (i, [vp, vp]),
        "EVP_DigestSign": (i, [vp, cp, ctypes.POINTER(sz), cp, sz]),
        "EVP_DigestVerifyInit_ex": (i, [vp, vp, cp, vp, cp, vp, vp]),
        "EVP_DigestVerify": (i, [vp, cp, sz, cp, sz]),
        "ERR_clear_error": (None, []),
    }
    for name, (restype, argtypes) in protos.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


def _fail(message: str) -> ConfigurationError:
    _lib().ERR_clear_error()
    return ConfigurationError(message, field="algorithm")


# The ID is set on the context after the init call: OpenSSL 3.0 refuses ``distid`` among the
# init parameters (it is accepted only once the context is ready to compute Z_A).
@functools.cache
def _params(uid: bytes) -> tuple[ctypes.Array, ctypes.Array]:
    """The ``distid`` OSSL_PARAM list for ``uid`` (kept with the bytes it points into)."""
    buf = ctypes.create_string_buffer(uid, len(uid))
    arr = (_OsslParam * 2)()
    arr[0] = _OsslParam(b"distid", _OSSL_PARAM_OCTET_STRING, ctypes.addressof(buf), len(uid), 0)
    return arr, buf


def _uid(uid: bytes) -> bytes:
    if not isinstance(uid, bytes) or not 0 < len(uid) <= 8191:  # ENTL is 16 bits of *bits*
        raise ValidationError("the SM2 user ID must be 1 to 8191 bytes", field="uid")
    return uid


class _Pkey:
    """An owned ``EVP_PKEY*`` freed when the last Python reference goes."""

    def __init__(self, ptr: int | None):
        if not ptr:
            raise ValueError("null EVP_PKEY")
        self.ptr = ptr
        self._finalizer = weakref.finalize(self, _lib().EVP_PKEY_free, ptr)


def _spki(pkey: _Pkey) -> bytes:
    lib = _lib()
    n = lib.i2d_PUBKEY(pkey.ptr, None)
    if n <= 0:
        raise _fail("libcrypto could not encode an SM2 public key")
    buf = ctypes.create_string_buffer(n)
    cursor = ctypes.cast(buf, ctypes.c_char_p)
    if lib.i2d_PUBKEY(pkey.ptr, ctypes.byref(cursor)) != n:
        raise _fail("libcrypto could not encode an SM2 public key")
    return buf.raw


class SM2PublicKey:
    """An SM2 public key: verifies signatures; its SPKI and point identify it."""

    def __init__(self, pkey: _Pkey, spki: bytes):
        self._pkey = pkey
        self._spki = spki

    def verify(self, signature: bytes, data: bytes, uid: bytes = DEFAULT_UID) -> None:
        """Raise ``InvalidSignature`` unless ``signature`` is this key's for ``data`` and ``uid``.

        Any failure (bad DER, wrong ID, wrong key, changed data) is the one exception.
        """
        lib = _lib()
        params, _ = _params(_uid(uid))
        ctx = lib.EVP_MD_CTX_new()
        try:
            pctx = ctypes.c_void_p()
            ok = lib.EVP_DigestVerifyInit_ex(
                ctx, ctypes.byref(pctx), b"SM3", None, None, self._pkey.ptr, None
            )
            if ok != 1 or lib.EVP_PKEY_CTX_set_params(pctx, params) != 1:
                raise _fail("libcrypto could not start an SM2 verification")
            sig = bytes(signature)
            ok = lib.EVP_DigestVerify(ctx, sig, len(sig), bytes(data), len(data))
        finally:
            lib.EVP_MD_CTX_free(ctx)
        if ok != 1:
            lib.ERR_clear_error()  # a malformed signature leaves decoder errors queued
            raise InvalidSignature()

    def spki_der(self) -> bytes:
        """The DER SubjectPublicKeyInfo (id-ecPublicKey, curve sm2 1.2.156.10197.1.301)."""
        return self._spki

    def public_bytes(self, encoding: Encoding, format: PublicFormat) -> bytes:
        """The SPKI as DER or PEM, spelled like ``cryptography``'s method so that code which
        compares or stores public keys (``der.spki``) takes an SM2 key as it is."""
        if format is not PublicFormat.SubjectPublicKeyInfo:
            raise ValueError("an SM2 public key is written as a SubjectPublicKeyInfo only")
        if encoding is Encoding.DER:
            return self._spki
        if encoding is Encoding.PEM:
            b64 = base64.encodebytes(self._spki).replace(b"\n", b"")
            lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
            return (
                b"-----BEGIN PUBLIC KEY-----\n"
                + b"\n".join(lines)
                + b"\n-----END PUBLIC KEY-----\n"
            )
        raise ValueError(f"unsupported encoding {encoding}")

    def point(self) -> bytes:
        """The uncompressed point ``04 || X || Y`` (65 bytes), as other SM2 libraries take it."""
        return self._spki[-65:]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SM2PublicKey) and other._spki == self._spki

    def __hash__(self) -> int:
        return hash(self._spki)

    def __repr__(self) -> str:
        return f"SM2PublicKey({self.point()[1:9].hex()}…)"


class SM2PrivateKey:
    """An SM2 private key inside libcrypto. Its repr shows the public point only."""

    def __init__(self, pkey: _Pkey):
        self._pkey = pkey
        self._public: SM2PublicKey | None = None

    def public_key(self) -> SM2PublicKey:
        if self._public is None:
            # The public half shares the EVP_PKEY: verification uses only its public part.
            self._public = SM2PublicKey(self._pkey, _spki(self._pkey))
        return self._public

    def sign(self, data: bytes, uid: bytes = DEFAULT_UID) -> bytes:
        """DER ``SEQUENCE {r, s}`` over ``SM3(Z_A || data)`` with a fresh random ``k``."""
        lib = _lib()
        params, _ = _params(_uid(uid))
        ctx = lib.EVP_MD_CTX_new()
        sig = ctypes.create_string_buffer(_MAX_SIG)
        size = ctypes.c_size_t(_MAX_SIG)
        try:
            pctx = ctypes.c_void_p()
            if (
                lib.EVP_DigestSignInit_ex(
                    ctx, ctypes.byref(pctx), b"SM3", None, None, self._pkey.ptr, None
                )
                != 1
                or lib.EVP_PKEY_CTX_set_params(pctx, params) != 1
            ):
                raise _fail("libcrypto could not start an SM2 signature")
            data = bytes(data)
            if lib.EVP_DigestSign(ctx, sig, ctypes.byref(size), data, len(data)) != 1:
                raise _fail("libcrypto could not make an SM2 signature")
        finally:
            lib.EVP_MD_CTX_free(ctx)
        return sig.raw[: size.value]

    def private_bytes_pkcs8(self, password: bytes | None) -> bytes:
        """PKCS#8 PEM; with a password, PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) like the
        file key store's other keys, so ``openssl pkey`` reads either."""
        lib = _lib()
        bio = lib.BIO_new(lib.BIO_s_mem())
        try:
            if password is None:
                ok = lib.PEM_write_bio_PKCS8PrivateKey(
                    bio, self._pkey.ptr, None, None, 0, None, None
                )
            else:
                if not password:
                    raise ValidationError("an empty password encrypts nothing", field="password")
                ok = lib.PEM_write_bio_PKCS8PrivateKey(
                    bio, self._pkey.ptr, lib.EVP_aes_256_cbc(), password, len(password), None, None
                )
            if ok != 1:
                raise _fail("libcrypto could not write an SM2 private key")
            out = ctypes.c_void_p()
            n = lib.BIO_ctrl(bio, _BIO_CTRL_INFO, 0, ctypes.byref(out))
            return ctypes.string_at(out, n)
        finally:
            lib.BIO_free(bio)

    def private_bytes_der(self) -> bytes:
        """Unencrypted PKCS#8 DER, for a caller that encrypts it itself (PIN-sealed keys)."""
        return _pem_body(self.private_bytes_pkcs8(None))

    def __repr__(self) -> str:  # never show key material
        return f"SM2PrivateKey(public={self.public_key().point()[1:9].hex()}…)"

    def __reduce__(self) -> tuple:
        raise TypeError("an SM2 private key is not pickled; write it as encrypted PKCS#8")

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict) -> Self:
        return self


def generate() -> SM2PrivateKey:
    """A new SM2 key from libcrypto's DRBG."""
    lib = _lib()
    ctx = lib.EVP_PKEY_CTX_new_from_name(None, b"SM2", None)
    if not ctx:
        raise _fail("this libcrypto has no SM2 (built with no-sm2?)")
    try:
        out = ctypes.c_void_p()
        if lib.EVP_PKEY_keygen_init(ctx) != 1 or lib.EVP_PKEY_generate(ctx, ctypes.byref(out)) != 1:
            raise _fail("libcrypto could not generate an SM2 key")
    finally:
        lib.EVP_PKEY_CTX_free(ctx)
    return SM2PrivateKey(_Pkey(out.value))


def _check_sm2(ptr: int | None, field: str, what: str) -> _Pkey:
    lib = _lib()
    if not ptr:
        lib.ERR_clear_error()
        raise ValidationError(f"{what} is not readable", field=field)
    pkey = _Pkey(ptr)
    if lib.EVP_PKEY_is_a(pkey.ptr, b"SM2") != 1:
        raise ValidationError(f"{what} is not an SM2 key", field=field)
    return pkey


def load_private_pkcs8(pem: bytes, password: bytes | None) -> SM2PrivateKey:
    """Read a PKCS#8 PEM SM2 key; a wrong or missing password raises ``Forbidden``, a password
    for a key that has none ``ValidationError`` (both naming ``password``).

    The password is handed over through a callback that never prompts: libcrypto's default
    one would read a passphrase from the terminal when the key is encrypted and none is given.
    """
    lib = _lib()
    pem = bytes(pem)
    if b"-----BEGIN" not in pem:
        raise ValidationError("the SM2 private key is not PEM", field="key")
    encrypted = b"ENCRYPTED PRIVATE KEY" in pem
    if encrypted and not password:
        raise Forbidden("the SM2 private key is encrypted: a password is needed", field="password")
    if password and not encrypted:  # libcrypto ignores it: a password the user thinks counts
        raise ValidationError(
            "the SM2 private key is not encrypted: give no password for it", field="password"
        )

    def give(buf: ctypes.Array, size: int, _rwflag: int, _u: int) -> int:
        if not password or len(password) > size:
            return -1
        ctypes.memmove(buf, password, len(password))
        return len(password)

    callback = _PASSWORD_CB(give)
    bio = lib.BIO_new_mem_buf(pem, len(pem))
    try:
        ptr = lib.PEM_read_bio_PrivateKey(bio, None, callback, None)
    finally:
        lib.BIO_free(bio)
    if not ptr and encrypted:
        lib.ERR_clear_error()
        raise Forbidden(
            "wrong password for the SM2 private key", field="password", code="bad_passphrase"
        )
    return SM2PrivateKey(_check_sm2(ptr, "key", "the private key"))


def _pem_body(pem: bytes) -> bytes:
    lines = pem.strip().splitlines()
    return base64.b64decode(b"".join(lines[1:-1]))


def load_private_der(der: bytes) -> SM2PrivateKey:
    """An unencrypted PKCS#8 DER SM2 key (as ``private_bytes_der`` writes it)."""
    b64 = base64.encodebytes(bytes(der))
    return load_private_pkcs8(
        b"-----BEGIN PRIVATE KEY-----\n" + b64 + b"-----END PRIVATE KEY-----\n", None
    )


def load_public_spki(der: bytes) -> SM2PublicKey:
    """Read a DER SubjectPublicKeyInfo; anything but an SM2 point on the curve is refused."""
    lib = _lib()
    der = bytes(der)
    cursor = ctypes.c_char_p(der)
    ptr = lib.d2i_PUBKEY(None, ctypes.byref(cursor), len(der))
    pkey = _check_sm2(ptr, "public_key", "the public key")
    spki = _spki(pkey)
    if spki != der:  # trailing bytes, or an encoding libcrypto would not write
        raise ValidationError("the SM2 public key is not in canonical DER", field="public_key")
    return SM2PublicKey(pkey, spki)


def load_public_point(point: bytes) -> SM2PublicKey:
    """An SM2 public key from ``04 || X || Y`` (what sm-crypto and GM/T 0016 devices give)."""
    point = bytes(point)
    if len(point) != 65 or point[0] != 4:
        raise ValidationError("an SM2 point is 65 bytes starting 04", field="public_key")
    return load_public_spki(_SPKI_PREFIX + point[1:])


def sm3(data: bytes) -> bytes:
    """SM3 (GB/T 32905) of ``data``: 32 bytes."""
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()
