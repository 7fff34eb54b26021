"""Keys that live in a PKCS#11 token (SoftHSM2, a network HSM, a smart card) and never leave it.

The private key is generated inside the token as a token object that is private, sensitive,
never extractable and good for signing only; this process only ever holds an object handle and
asks the token to sign. Hashing happens here (it is cheap, and a network HSM should not be sent
whole documents), the token does the private-key operation.

PKCS#11 state is per *process*, not per object: ``C_Initialize`` is library-wide and a login
applies to every session the application has with that token (``C_Logout`` on any of them logs
all of them out). So stores share, through a small process-wide registry, one loaded library per
module path and one logged-in session per (module, token). The library is finalized when the
last store using it closes; SoftHSM2 only reads its configuration and token directory at
``C_Initialize``, so this is also what lets a later store see a newly created token.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Mapping
from typing import Any

import pkcs11
from asn1crypto import algos as a_algos
from asn1crypto import core as a_core
from asn1crypto import keys as a_keys
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11e
from pkcs11.mechanisms import GCMParams
from pkcs11.util.ec import encode_named_curve_parameters

from yinxin.errors import (
    ConfigurationError,
    Conflict,
    Forbidden,
    NotFound,
    ValidationError,
    YinxinError,
)
from yinxin.pki.algorithms import (
    Algorithm,
    algorithm_of,
    describe_exponent,
    get_algorithm,
    weak_rsa_exponent,
)
from yinxin.pki.keys import KeyHandle, SecretKey, check_label

__all__ = ["Pkcs11Key", "Pkcs11KeyStore", "Pkcs11SecretKey"]

_CURVE_OIDS = {256: "secp256r1", 384: "secp384r1"}
_CURVES_BY_NAME: dict[str, type[ec.EllipticCurve]] = {
    "secp256r1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1,
}
# Hashes the token can take together with the RSA operation; anything else is hashed here and
# wrapped in a DigestInfo for raw CKM_RSA_PKCS.
_RSA_COMBINED = {
    "sha256": Mechanism.SHA256_RSA_PKCS,
    "sha384": Mechanism.SHA384_RSA_PKCS,
    "sha512": Mechanism.SHA512_RSA_PKCS,
}
_PIN_ERRORS = (p11e.PinIncorrect, p11e.PinInvalid, p11e.PinLenRange)
# What tokens answer when a GCM tag does not verify (SoftHSM2: CKR_ENCRYPTED_DATA_INVALID).
_GCM_REFUSALS = (
    p11e.EncryptedDataInvalid,
    p11e.EncryptedDataLenRange,
    p11e.SignatureInvalid,
    p11e.DataInvalid,
)
# Compares PINs of stores sharing one login without keeping a second plain copy around.
_PIN_KEY = secrets.token_bytes(32)


def _pin_digest(pin: str) -> bytes:
    return hmac.new(_PIN_KEY, pin.encode(), hashlib.sha256).digest()


def _hsm_failure(exc: Exception, doing: str) -> ConfigurationError:
    """A token error as a platform error; only the exception's class name, never its text."""
    return ConfigurationError(f"HSM refused to {doing} ({type(exc).__name__})", field="module")


class _Module:
    def __init__(self, path: str, lib: Any):
        self.path = path
        self.lib = lib
        self.users = 0


class _Connection:
    """One logged-in R/W session on one token, shared by every store that names that token."""

    def __init__(self, key: tuple[str, str], module: _Module, session: Any, pin_digest: bytes):
        self.key = key
        self.module = module
        self.session = session
        self.pin_digest = pin_digest
        self.users = 0
        # python-pkcs11 serialises single calls, but a search or a sign is several C_ calls.
        self.lock = threading.RLock()


_REGISTRY_LOCK = threading.Lock()
_MODULES: dict[str, _Module] = {}
_CONNECTIONS: dict[tuple[str, str], _Connection] = {}


def _acquire_module(path: str) -> _Module:
    mod = _MODULES.get(path)
    if mod is None:
        if not os.path.isfile(path):
            raise ConfigurationError(f"PKCS#11 module {path} does not exist", field="module")
        try:
            lib = pkcs11.lib(path)
        except p11e.PKCS11Error as exc:
            raise ConfigurationError(
                f"cannot load PKCS#11 module {path} ({type(exc).__name__})", field="module"
            ) from None
        mod = _MODULES[path] = _Module(path, lib)
    mod.users += 1
    return mod


def _release_module(mod: _Module) -> None:
    mod.users -= 1
    if mod.users <= 0:
        _MODULES.pop(mod.path, None)
        try:
            mod.lib.finalize()
        except p11e.PKCS11Error:
            pass


def _connect(path: str, token_label: str, pin: str) -> _Connection:
    key = (path, token_label)
    digest = _pin_digest(pin)
    with _REGISTRY_LOCK:
        conn = _CONNECTIONS.get(key)
        if conn is not None:
            # The token already has this process logged in; C_Login would not check the PIN
            # again (CKR_USER_ALREADY_LOGGED_IN), so we do.
            if not hmac.compare_digest(conn.pin_digest, digest):
                raise Forbidden("wrong HSM PIN", field="pin")
            conn.users += 1
            return conn
        mod = _acquire_module(path)
        try:
            try:
                token = mod.lib.get_token(token_label=token_label)
            except p11e.NoSuchToken:
                # SoftHSM2 and others list tokens as of C_Initialize only.
                hint = " (or it was made after the module was loaded)" if mod.users > 1 else ""
                raise ConfigurationError(
                    f"no PKCS#11 token labelled {token_label!r} in {path}{hint}",
                    field="token_label",
                ) from None
            except p11e.MultipleTokensReturned:
                raise ConfigurationError(
                    f"more than one PKCS#11 token labelled {token_label!r} in {path}",
                    field="token_label",
                ) from None
            try:
                session = token.open(rw=True, user_pin=pin)
            except _PIN_ERRORS:
                raise Forbidden("wrong HSM PIN", field="pin") from None
            except p11e.PinLocked:
                raise Forbidden("the HSM PIN is locked", field="pin") from None
            except p11e.PKCS11Error as exc:
                raise _hsm_failure(exc, f"open a session on token {token_label!r}") from None
        except BaseException:
            _release_module(mod)
            raise
        conn = _CONNECTIONS[key] = _Connection(key, mod, session, digest)
        conn.users = 1
        return conn


def _disconnect(conn: _Connection) -> None:
    with _REGISTRY_LOCK:
        conn.users -= 1
        if conn.users > 0:
            return
        _CONNECTIONS.pop(conn.key, None)
        with conn.lock:
            try:
                conn.session.close()
            except p11e.PKCS11Error:
                pass  # the library is finalized next if unused, which closes it anyway
        _release_module(conn.module)


def _public_key_of(obj: Any) -> PublicKeyTypes:
    """Rebuild a ``cryptography`` public key from a token public-key object's attributes."""
    key_type = obj[Attribute.KEY_TYPE]
    if key_type == KeyType.RSA:
        n = int.from_bytes(obj[Attribute.MODULUS], "big")
        e = int.from_bytes(obj[Attribute.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    if key_type == KeyType.EC:
        params = a_keys.ECDomainParameters.load(obj[Attribute.EC_PARAMS])
        if params.name != "named" or params.chosen.native not in _CURVES_BY_NAME:
            raise ValidationError("the token key is on a curve Yinxin does not use", field="label")
        curve = _CURVES_BY_NAME[params.chosen.native]()
        raw = obj[Attribute.EC_POINT]
        # The standard says DER OCTET STRING; some tokens return the bare point. Both start
        # with 0x04, so tell them apart by the length an uncompressed point must have.
        point_len = 1 + 2 * ((curve.key_size + 7) // 8)
        point = raw if len(raw) == point_len else bytes(a_core.OctetString.load(raw).native)
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    raise ValidationError("the token key is neither EC nor RSA", field="label")


def _refuse_weak_exponent(public_key: PublicKeyTypes, label: str, token: str) -> None:
    """A CA key in the token is held to the rule a CSR's key is (odd, 2^16 < e < 2^256): an
    RSA key made or replaced outside Yinxin (``pkcs11-tool --write-object``, a vendor tool)
    with e = 3 would otherwise sign certificates and CRLs no CSR of that key gets. Keys
    Yinxin generates have e = 65537 (python-pkcs11's template); a token's own default may
    differ, so a generated key is checked too."""
    e = weak_rsa_exponent(public_key)
    if e is not None:
        raise ConfigurationError(
            f"key {label!r} in token {token!r} is an RSA key whose public exponent is "
            f"{describe_exponent(e)}: a CA key's must be odd, above 2^16 and below 2^256 "
            "(65537 as usual; CA/Browser Forum Baseline Requirements 6.1.6); replace it with "
            "one Yinxin generates",
            field="keystore",
        )


class Pkcs11Key:
    """A signing handle to a private key inside a token; it holds no key material.

    ``native`` is ``None``: nothing of the key is in this process. ``cryptography``'s builders
    sign with it through ``keys.builder_key``, an ``EllipticCurvePrivateKey`` /
    ``RSAPrivateKey`` whose ``sign`` lands here (the token's raw r||s turned into DER, RSA
    PKCS#1 v1.5 with the matching mechanism) and whose private numbers and serialisation refuse.
    """

    def __init__(
        self,
        store: Pkcs11KeyStore,
        label: str,
        key_id: bytes,
        public_key: PublicKeyTypes,
        algorithm: Algorithm,
    ):
        self.label = label
        self._store = store
        self._id = key_id
        self._public_key = public_key
        self._algorithm = algorithm
        self._conn: _Connection | None = None
        self._private: Any = None

    @property
    def algorithm(self) -> Algorithm:
        return self._algorithm

    def public_key(self) -> PublicKeyTypes:
        return self._public_key

    @property
    def native(self) -> None:
        return None

    def private_object(self) -> Any:
        """The token's private-key object (for tests and tools that read its attributes)."""
        conn = self._store._connection()
        with conn.lock:
            return self._private_for(conn)

    def _private_for(self, conn: _Connection) -> Any:
        # Objects belong to a session: after the store reconnected, look the key up again.
        if self._conn is not conn or self._private is None:
            self._private = self._store._find_private(conn, self.label, self._id)
            self._conn = conn
        return self._private

    def sign(self, data: bytes, hash_alg: hashes.HashAlgorithm | None = None) -> bytes:
        hash_alg = hash_alg or self._algorithm.hash
        if self._algorithm.family == "ec":
            digest = _hash(data, hash_alg)
            raw = self._sign_raw(digest, Mechanism.ECDSA)
            half = len(raw) // 2
            return encode_dss_signature(
                int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
            )
        combined = _RSA_COMBINED.get(hash_alg.name)
        if combined is not None:
            return self._sign_raw(data, combined)
        digest_info = a_algos.DigestInfo(
            {
                "digest_algorithm": {
                    "algorithm": _digest_oid_name(hash_alg),
                    "parameters": a_core.Null(),
                },
                "digest": _hash(data, hash_alg),
            }
        ).dump()
        return self._sign_raw(digest_info, Mechanism.RSA_PKCS)

    def _sign_raw(self, data: bytes, mechanism: Mechanism) -> bytes:
        conn = self._store._connection()
        with conn.lock:
            obj = self._private_for(conn)
            try:
                return obj.sign(data, mechanism=mechanism)
            except p11e.PKCS11Error as exc:
                raise _hsm_failure(exc, f"sign with key {self.label!r}") from None

    def __repr__(self) -> str:
        return f"Pkcs11Key(label={self.label!r}, algorithm={self._algorithm.name!r})"


class Pkcs11SecretKey:
    """A handle to an AES-256 key inside the token: GCM encryption and decryption happen there.

    The key is sensitive and never extractable; this process holds neither its value nor
    anything derived from it, so whoever copies the database and this process's files still
    needs the token (and its PIN) to unwrap a platform-held key.
    """

    def __init__(self, store: Pkcs11KeyStore, label: str, key_id: bytes):
        self.label = label
        self._store = store
        self._id = key_id
        self._conn: _Connection | None = None
        self._object: Any = None

    def _object_for(self, conn: _Connection) -> Any:
        if self._conn is not conn or self._object is None:
            self._object = self._store._find_secret(conn, self.label, self._id)
            self._conn = conn
        return self._object

    def encrypt(self, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return self._gcm("encrypt", nonce, plaintext, aad)

    def decrypt(self, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        # a refusal means the tag does not verify: another key, or changed data
        return self._gcm("decrypt", nonce, ciphertext, aad, refusals=_GCM_REFUSALS)

    def _gcm(
        self,
        operation: str,
        nonce: bytes,
        data: bytes,
        aad: bytes,
        refusals: tuple[type[Exception], ...] = (),
    ) -> bytes:
        """AES-GCM ``operation`` ("encrypt" or "decrypt") by the token; ``refusals`` are the
        token errors that mean the tag did not verify, raised as ``InvalidTag``."""
        conn = self._store._connection()
        with conn.lock:
            obj = self._object_for(conn)
            try:
                return bytes(
                    getattr(obj, operation)(
                        data,
                        mechanism=Mechanism.AES_GCM,
                        mechanism_param=GCMParams(nonce, aad, 128),
                    )
                )
            except refusals:
                raise InvalidTag() from None
            except p11e.PKCS11Error as exc:
                raise _hsm_failure(exc, f"{operation} with secret key {self.label!r}") from None

    def __repr__(self) -> str:
        return f"Pkcs11SecretKey(label={self.label!r})"


def _hash(data: bytes, hash_alg: hashes.HashAlgorithm) -> bytes:
    h = hashes.Hash(hash_alg)
    h.update(data)
    return h.finalize()


def _digest_oid_name(hash_alg: hashes.HashAlgorithm) -> str:
    try:
        return a_algos.DigestAlgorithmId(hash_alg.name.replace("-", "_")).dotted
    except ValueError:
        raise ValidationError(
            f"hash {hash_alg.name} is not supported for RSA", field="hash"
        ) from None


class Pkcs11KeyStore:
    """A ``KeyStore`` over one PKCS#11 token, named by its label and unlocked by the user PIN.

    Nothing touches the token until the first call, so a store can be built from configuration
    at start-up even when the HSM is briefly unreachable. Use as a context manager, or call
    ``close()``, so the login and, when unused, the library are released.
    """

    kind = "pkcs11"

    def __init__(
        self,
        module: str | os.PathLike[str],
        token_label: str,
        pin: str,
        *,
        names: Mapping[str, str] | None = None,
    ):
        """``names``: what the caller's configuration calls ``module``, ``token_label`` and
        ``pin`` (the platform's ``YINXIN_PKCS11_MODULE``…): a refusal to reach the token — a
        wrong PIN, no such token, the library not there — names that, which the operator can
        change, rather than this constructor's parameter ("error [pin]: wrong HSM PIN" at
        ``yinxin init`` named what no option or setting is called)."""
        self._names = dict(names or {})
        if not token_label:
            raise ConfigurationError("a PKCS#11 token label is required", field="token_label")
        if not pin:
            raise Forbidden("an HSM PIN is required", field="pin")
        self.module = os.path.realpath(os.fspath(module))
        self.token_label = token_label
        self._pin = pin
        self._lock = threading.Lock()
        self._conn: _Connection | None = None
        self._closed = False

    def __repr__(self) -> str:  # the PIN stays out of logs
        return f"Pkcs11KeyStore(module={self.module!r}, token_label={self.token_label!r})"

    def __enter__(self) -> Pkcs11KeyStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Log out (when no other store shares the login); the store and its keys are done."""
        with self._lock:
            conn, self._conn = self._conn, None
            self._closed = True
        if conn is not None:
            _disconnect(conn)

    def _connection(self) -> _Connection:
        with self._lock:
            if self._closed:
                # Reconnecting here would hold a login nobody is left to close.
                raise ConfigurationError("this PKCS#11 key store is closed", field="module")
            if self._conn is None:
                try:
                    self._conn = _connect(self.module, self.token_label, self._pin)
                except YinxinError as e:
                    if e.field not in self._names:
                        raise
                    raise type(e)(e.message, field=self._names[e.field], code=e.code) from None
            return self._conn

    def _objects(self, conn: _Connection, attrs: dict[Attribute, Any]) -> list[Any]:
        with conn.lock:
            try:
                return list(conn.session.get_objects(attrs))
            except p11e.PKCS11Error as exc:
                raise _hsm_failure(exc, "search the token") from None

    def _find_one(
        self, conn: _Connection, what: str, attrs: dict[Attribute, Any], key_id: bytes | None
    ) -> Any:
        """The one object ``attrs`` (with the ID, when known) names; ``what`` names its kind."""
        label = attrs[Attribute.LABEL]
        if key_id:
            attrs = {**attrs, Attribute.ID: key_id}
        found = self._objects(conn, attrs)
        if not found:
            raise NotFound(
                f"no {what} labelled {label!r} in token {self.token_label!r}", field="label"
            )
        if len(found) > 1:
            raise Conflict(
                f"more than one {what} labelled {label!r} in token {self.token_label!r}",
                field="label",
            )
        return found[0]

    def _find_private(self, conn: _Connection, label: str, key_id: bytes | None = None) -> Any:
        attrs = {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label}
        return self._find_one(conn, "key", attrs, key_id)

    def exists(self, label: str) -> bool:
        conn = self._connection()
        return bool(
            self._objects(conn, {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label})
        )

    def load(self, label: str) -> KeyHandle:
        conn = self._connection()
        with conn.lock:
            private = self._find_private(conn, label)
            key_id = private[Attribute.ID]
            public = self._find_public(conn, label, key_id)
            public_key = _public_key_of(public)
        try:
            algorithm = algorithm_of(public_key)
        except ValidationError:
            raise ValidationError(
                f"key {label!r} in the token is not of an algorithm Yinxin uses", field="label"
            ) from None
        _refuse_weak_exponent(public_key, label, self.token_label)
        key = Pkcs11Key(self, label, key_id, public_key, algorithm)
        key._conn, key._private = conn, private
        return key

    def _find_public(self, conn: _Connection, label: str, key_id: bytes) -> Any:
        # The ID is what ties a pair together in PKCS#11; the label is the fallback for keys
        # made by tools that set only a label.
        for attrs in (
            {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.ID: key_id},
            {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: label},
        ):
            if attrs.get(Attribute.ID) == b"":
                continue
            found = self._objects(conn, attrs)
            if len(found) == 1:
                return found[0]
        raise NotFound(
            f"the public half of key {label!r} is not in token {self.token_label!r}", field="label"
        )

    def generate(self, label: str, algorithm: str) -> KeyHandle:
        check_label(label)
        alg = get_algorithm(algorithm)
        if alg.family == "sm2":
            # PKCS#11 has no standard SM2 mechanism (vendors use their own CKM_ numbers) and
            # SoftHSM2 implements none: refuse rather than make a key nobody can sign SM2 with.
            raise ConfigurationError(
                "SM2 keys cannot be kept in a PKCS#11 token (no standard SM2 mechanism; "
                "SoftHSM2 has none): use the file key store for an SM2 hierarchy",
                field="algorithm",
            )
        conn = self._connection()
        with conn.lock:
            taken = self._objects(conn, {Attribute.LABEL: label})
            if taken:
                raise Conflict(
                    f"a key labelled {label!r} already exists in token {self.token_label!r}",
                    field="label",
                )
            key_id = secrets.token_bytes(16)
            public_template: dict[Attribute, Any] = {Attribute.PRIVATE: False}
            private_template: dict[Attribute, Any] = {
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                # Not modifiable: nobody can later turn on decrypt/derive/unwrap for this key.
                Attribute.MODIFIABLE: False,
            }
            if alg.family == "ec":
                key_type, key_length = KeyType.EC, None
                public_template[Attribute.EC_PARAMS] = encode_named_curve_parameters(
                    _CURVE_OIDS[alg.size]
                )
            else:
                key_type, key_length = KeyType.RSA, alg.size
            try:
                public, private = conn.session.generate_keypair(
                    key_type,
                    key_length,
                    id=key_id,
                    label=label,
                    store=True,
                    capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                    public_template=public_template,
                    private_template=private_template,
                )
            except p11e.PKCS11Error as exc:
                raise _hsm_failure(exc, f"generate a {alg.name} key") from None
            public_key = _public_key_of(public)
        _refuse_weak_exponent(public_key, label, self.token_label)
        key = Pkcs11Key(self, label, key_id, public_key, alg)
        key._conn, key._private = conn, private
        return key

    # --- secret keys (the platform KEK) ------------------------------------------------------
    def _find_secret(self, conn: _Connection, label: str, key_id: bytes | None = None) -> Any:
        attrs = {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: label}
        return self._find_one(conn, "secret key", attrs, key_id)

    def secret(self, label: str, *, create: bool = False) -> SecretKey:
        """An AES-256 secret key generated inside the token: private, sensitive, never
        extractable, not modifiable, good for encrypt/decrypt only.

        PKCS#11 cannot create-if-absent atomically, so two processes creating at once could
        each make one; callers serialise creation (``PlatformKek`` does, under a database lock).
        """
        check_label(label)
        conn = self._connection()
        with conn.lock:
            try:
                obj = self._find_secret(conn, label)
            except NotFound:
                if not create:
                    raise
                try:
                    obj = conn.session.generate_key(
                        KeyType.AES,
                        256,
                        id=secrets.token_bytes(16),
                        label=label,
                        store=True,
                        capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
                        template={
                            Attribute.PRIVATE: True,
                            Attribute.SENSITIVE: True,
                            Attribute.EXTRACTABLE: False,
                            Attribute.MODIFIABLE: False,
                        },
                    )
                except p11e.PKCS11Error as exc:
                    raise _hsm_failure(exc, "generate an AES-256 key") from None
            key = Pkcs11SecretKey(self, label, obj[Attribute.ID])
            key._conn, key._object = conn, obj
        return key

    def secret_object(self, label: str) -> Any:
        """The token's secret-key object (for tests and tools that read its attributes)."""
        conn = self._connection()
        with conn.lock:
            return self._find_secret(conn, label)

    def remove(self, label: str) -> None:
        """Destroy both halves of a key; for tests and aborted set-ups, like ``FileKeyStore``."""
        conn = self._connection()
        with conn.lock:
            for obj in self._objects(conn, {Attribute.LABEL: label}):
                try:
                    obj.destroy()
                except p11e.PKCS11Error as exc:
                    raise _hsm_failure(exc, f"destroy key {label!r}") from None
