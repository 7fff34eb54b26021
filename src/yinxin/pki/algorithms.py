"""Key algorithms chosen by name at one place (``ec-p256``, ``rsa-3072`` …; ``sm2`` later)."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from yinxin.errors import ValidationError


@dataclass(frozen=True)
class Algorithm:
    name: str
    family: str  # "ec" or "rsa"
    size: int  # curve bits or modulus bits

    def generate(self) -> PrivateKeyTypes:
        if self.family == "ec":
            return ec.generate_private_key(_CURVES[self.size]())
        return rsa.generate_private_key(public_exponent=65537, key_size=self.size)

    @property
    def hash(self) -> hashes.HashAlgorithm:
        return hashes.SHA384() if (self.family == "ec" and self.size == 384) else hashes.SHA256()


_CURVES = {256: ec.SECP256R1, 384: ec.SECP384R1}

ALGORITHMS: dict[str, Algorithm] = {
    "ec-p256": Algorithm("ec-p256", "ec", 256),
    "ec-p384": Algorithm("ec-p384", "ec", 384),
    "rsa-2048": Algorithm("rsa-2048", "rsa", 2048),
    "rsa-3072": Algorithm("rsa-3072", "rsa", 3072),
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
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        for alg in ALGORITHMS.values():
            if alg.family == "ec" and public_key.curve.key_size == alg.size:
                return alg
    if isinstance(public_key, rsa.RSAPublicKey):
        for alg in ALGORITHMS.values():
            if alg.family == "rsa" and public_key.key_size == alg.size:
                return alg
    raise ValidationError(
        "public key type is not accepted (use EC P-256/P-384 or RSA 2048/3072)", field="csr"
    )


def sign_with_native(key: PrivateKeyTypes, data: bytes, hash_alg: hashes.HashAlgorithm) -> bytes:
    """ECDSA (DER signature) or RSA PKCS#1 v1.5 with a key held in this process."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hash_alg))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hash_alg)
    raise TypeError("unsupported private key type")
