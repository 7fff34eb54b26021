"""Key algorithms chosen by name at one place (``ec-p256``, ``rsa-3072``, ``sm2`` …).

``sm2`` keys are not ``cryptography`` keys (it has no SM2): they are ``yinxin.pki.sm2`` objects,
signed with through ``keys.SM2SoftwareKey`` and certified by ``sm2_x509``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from yinxin.errors import ValidationError
from yinxin.pki import sm2


@dataclass(frozen=True)
class Algorithm:
    name: str
    family: str  # "ec", "rsa" or "sm2"
    size: int  # curve bits or modulus bits

    def generate(self) -> PrivateKeyTypes:
        if self.family == "sm2":
            return sm2.generate()  # type: ignore[return-value]  # not a cryptography key
        if self.family == "ec":
            return ec.generate_private_key(_CURVES[self.size]())
        return rsa.generate_private_key(public_exponent=65537, key_size=self.size)

    @property
    def hash(self) -> hashes.HashAlgorithm:
        if self.family == "sm2":
            return hashes.SM3()
        return hashes.SHA384() if (self.family == "ec" and self.size == 384) else hashes.SHA256()


_CURVES = {256: ec.SECP256R1, 384: ec.SECP384R1}

ALGORITHMS: dict[str, Algorithm] = {
    "ec-p256": Algorithm("ec-p256", "ec", 256),
    "ec-p384": Algorithm("ec-p384", "ec", 384),
    "rsa-2048": Algorithm("rsa-2048", "rsa", 2048),
    "rsa-3072": Algorithm("rsa-3072", "rsa", 3072),
    "sm2": Algorithm("sm2", "sm2", 256),
}
DEFAULT_ALGORITHM = "ec-p256"


def get_algorithm(name: str, field: str = "algorithm") -> Algorithm:
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ValidationError(
            f"unknown key algorithm {name!r}; choose one of {', '.join(ALGORITHMS)}", field=field
        ) from None


def algorithm_of(public_key: PublicKeyTypes) -> Algorithm:
    """Name the algorithm of a public key, refusing keys the platform does not issue for."""
    if isinstance(public_key, sm2.SM2PublicKey):
        return ALGORITHMS["sm2"]
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        # by the curve itself, not its size: secp256k1 and brainpoolP256r1 are 256 bits too,
        # and a CSR on them was taken (and certified) as ec-p256
        for alg in ALGORITHMS.values():
            if alg.family == "ec" and isinstance(public_key.curve, _CURVES[alg.size]):
                return alg
    if isinstance(public_key, rsa.RSAPublicKey):
        for alg in ALGORITHMS.values():
            if alg.family == "rsa" and public_key.key_size == alg.size:
                return alg
    raise ValidationError(
        "public key type is not accepted (use EC P-256/P-384, RSA 2048/3072 or SM2)", field="csr"
    )


def weak_rsa_exponent(public_key: PublicKeyTypes) -> int | None:
    """An RSA key's public exponent when it breaks the rule, else None: odd and 2^16 < e <
    2^256 (CA/Browser Forum Baseline Requirements §6.1.6; FIPS 186-4 B.3.1). One rule for a
    CSR's key (refused naming ``csr``) and a CA key found in a PKCS#11 token."""
    if isinstance(public_key, rsa.RSAPublicKey):
        e = public_key.public_numbers().e
        if e % 2 == 0 or not 2**16 < e < 2**256:
            return e
    return None


def describe_exponent(e: int) -> str:
    """An exponent as a message shows it: its digits, or its size when it is huge."""
    return str(e) if e.bit_length() <= 64 else f"one of {e.bit_length()} bits"


def sign_with_native(key: PrivateKeyTypes, data: bytes, hash_alg: hashes.HashAlgorithm) -> bytes:
    """ECDSA (DER signature), RSA PKCS#1 v1.5 or SM2 (default user ID) with a key held here."""
    if isinstance(key, sm2.SM2PrivateKey):
        if not isinstance(hash_alg, hashes.SM3):
            raise TypeError("SM2 signs with SM3 only")
        return key.sign(data)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hash_alg))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hash_alg)
    raise TypeError("unsupported private key type")
