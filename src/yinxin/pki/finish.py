"""Finish a ``cryptography`` builder with any ``KeyHandle``, including keys inside an HSM.

``cryptography`` builders sign only with in-process keys. For a key that never leaves its
token we sign the builder once with a throwaway key *of the same algorithm* (so the
signatureAlgorithm inside the to-be-signed part is right), take the to-be-signed bytes, have the
real key sign them, and reassemble the DER with asn1crypto. In-process keys take the direct path.
"""

from __future__ import annotations

import functools

from asn1crypto import crl as a_crl
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from yinxin.pki.algorithms import Algorithm
from yinxin.pki.keys import KeyHandle

DER = serialization.Encoding.DER


@functools.lru_cache(maxsize=8)
def throwaway_key(algorithm: Algorithm) -> PrivateKeyTypes:
    """One throwaway key per algorithm per process, only used to lay out to-be-signed bytes."""
    return algorithm.generate()


def finish_certificate(builder: x509.CertificateBuilder, key: KeyHandle) -> x509.Certificate:
    alg = key.algorithm
    if key.native is not None:
        return builder.sign(key.native, alg.hash)
    draft = builder.sign(throwaway_key(alg), alg.hash)
    parsed = a_x509.Certificate.load(draft.public_bytes(DER))
    signature = key.sign(draft.tbs_certificate_bytes, alg.hash)
    final = a_x509.Certificate(
        {
            "tbs_certificate": parsed["tbs_certificate"],
            "signature_algorithm": parsed["signature_algorithm"],
            "signature_value": signature,
        }
    )
    return x509.load_der_x509_certificate(final.dump())


def finish_crl(
    builder: x509.CertificateRevocationListBuilder, key: KeyHandle
) -> x509.CertificateRevocationList:
    alg = key.algorithm
    if key.native is not None:
        return builder.sign(key.native, alg.hash)
    draft = builder.sign(throwaway_key(alg), alg.hash)
    parsed = a_crl.CertificateList.load(draft.public_bytes(DER))
    signature = key.sign(draft.tbs_certlist_bytes, alg.hash)
    final = a_crl.CertificateList(
        {
            "tbs_cert_list": parsed["tbs_cert_list"],
            "signature_algorithm": parsed["signature_algorithm"],
            "signature": signature,
        }
    )
    return x509.load_der_x509_crl(final.dump())
