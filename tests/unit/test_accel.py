"""``yinxin.pdf.accel``'s replacements answer exactly what the originals answer.

``accel._copy`` must make exactly what ``copy.copy`` makes of every primitive PDF type.

The batch verifier hands each reader a copy of a shared parsed object (``accel._rehome``); its
primitives were copied with ``copy.copy`` and now with a direct constructor call. If pyHanko
adds a primitive type or state to one, or a copy ever shared the original, a report could
change, so the two are compared on every type ``_rehome`` copies, with the state parsing sets.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib

import pytest
from asn1crypto import tsp
from asn1crypto import x509 as a_x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils import generic
from pyhanko.sign.validation import generic_cms

from tests.unit.pki_chain import make_chain
from yinxin.pdf import accel


def _samples() -> list[generic.PdfObject]:
    text = generic.TextStringObject("合同专用章")
    text.autodetected_encoding = generic.TextStringEncoding.UTF16BE
    text.force_output_encoding = generic.TextStringEncoding.UTF16BE
    return [
        generic.NumberObject(-17),
        generic.NumberObject(2**70),
        generic.NameObject("/Type"),
        text,
        generic.TextStringObject("plain"),
        generic.ByteStringObject(b"\x00\xffab"),
        generic.BooleanObject(True),
        generic.BooleanObject(False),
        generic.NullObject(),
    ]


def test_every_primitive_type_is_listed() -> None:
    assert {type(s) for s in _samples()} == set(accel._PRIMITIVES)


@pytest.mark.parametrize("obj", _samples(), ids=lambda o: f"{type(o).__name__}:{o!r}"[:40])
def test_copy_is_copy_copy(obj: generic.PdfObject) -> None:
    obj.container_ref = generic.Reference(7, 0)
    ours = accel._copy(obj, type(obj), accel._PRIMITIVES[type(obj)])
    ref = copy.copy(obj)
    assert type(ours) is type(ref) is type(obj)
    assert ours is not obj
    assert ours.__dict__ == ref.__dict__ == obj.__dict__
    assert ours.__dict__ is not obj.__dict__
    if not isinstance(obj, generic.BooleanObject | generic.NullObject):
        assert ours == ref == obj
    # the copy is independent: rebinding it (as _rehome does) leaves the original alone
    ours.container_ref = generic.Reference(9, 0)
    assert obj.container_ref == generic.Reference(7, 0)


def _certid(cert: a_x509.Certificate, *, v2: bool, issuer: a_x509.Certificate, serial: int):
    """A signing-certificate attribute's ESSCertID(v2) for ``cert``, naming ``issuer`` and
    ``serial`` (a wrong issuer or serial makes the hash match and the rest not)."""
    issuer_serial = tsp.IssuerSerial(
        {
            "issuer": [a_x509.GeneralName(name="directory_name", value=issuer.subject)],
            "serial_number": serial,
        }
    )
    if v2:
        return tsp.ESSCertIDv2(
            {
                "hash_algorithm": {"algorithm": "sha256"},
                "cert_hash": hashlib.sha256(cert.dump()).digest(),
                "issuer_serial": issuer_serial,
            }
        )
    return tsp.ESSCertID(
        {"cert_hash": hashlib.sha1(cert.dump()).digest(), "issuer_serial": issuer_serial}
    )


def test_ess_certid_by_der_answers_as_pyhanko() -> None:
    """Each (certificate, ESSCertID) pair, asked twice inside ``fast()`` (the second answer
    comes from the memo), answers as pyHanko's own function: the right pair, a wrong serial,
    a wrong issuer, the other certificate's hash, and v1 against v2 of the same bytes."""
    chain = make_chain()
    leaf = a_x509.Certificate.load(chain.issuing.public_bytes(Encoding.DER))
    ca = a_x509.Certificate.load(chain.root.public_bytes(Encoding.DER))
    serial = leaf.serial_number
    cases = []
    for v2 in (False, True):
        cases += [
            (leaf, _certid(leaf, v2=v2, issuer=ca, serial=serial)),
            (leaf, _certid(leaf, v2=v2, issuer=ca, serial=serial + 1)),
            (leaf, _certid(leaf, v2=v2, issuer=leaf, serial=serial)),
            (ca, _certid(leaf, v2=v2, issuer=ca, serial=serial)),
        ]
    expected = [accel._orig_ess_certid(c, i) for c, i in cases]
    assert expected.count(True) == 2  # the right pair, v1 and v2
    assert generic_cms.check_ess_certid is accel._check_ess_certid
    accel._ess.clear()
    with accel.fast():
        for _ in range(2):
            assert [generic_cms.check_ess_certid(c, i) for c, i in cases] == expected
    assert len(accel._ess) == len(cases)


def test_signature_algorithm_allowed_by_der_answers_as_pyhanko() -> None:
    """``DisallowWeakAlgorithmsPolicy.signature_algorithm_allowed``, memoised by the policy's
    settings and the algorithm's and key's DER, answers as pyHanko's own method at any moment:
    allowed pairs, a weak digest (SHA-1), an RSA key under the size threshold, no key, and a
    policy with other settings. A subclass (which may read more) is never memoised."""
    from asn1crypto import algos, keys
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import PublicFormat
    from pyhanko_certvalidator.policy_decl import (
        AlgorithmUsageConstraint,
        DisallowWeakAlgorithmsPolicy,
    )

    def info(key) -> keys.PublicKeyInfo:
        der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return keys.PublicKeyInfo.load(der)

    ec_key = info(ec.generate_private_key(ec.SECP256R1()))
    rsa_ok = info(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    rsa_small = info(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    algo = {n: algos.SignedDigestAlgorithm({"algorithm": n}) for n in _ALGOS}
    cases = [
        (algo["sha256_ecdsa"], ec_key),
        (algo["sha1_ecdsa"], ec_key),
        (algo["sha256_rsa"], rsa_ok),
        (algo["sha256_rsa"], rsa_small),
        (algo["sha1_rsa"], rsa_ok),
        (algo["sha256_rsa"], None),
    ]
    policies = [
        DisallowWeakAlgorithmsPolicy(),
        DisallowWeakAlgorithmsPolicy(rsa_key_size_threshold=1024),
    ]
    moments = [None, dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2090, 1, 1, tzinfo=dt.UTC)]
    expected = [accel._orig_sig_allowed(p, a, None, k) for p in policies for a, k in cases]
    assert [bool(e) for e in expected] == [True, False, True, False, False, True] + [
        True,
        False,
        True,
        True,
        False,
        True,
    ]
    accel._sig_allowed.clear()
    with accel.fast():
        for moment in moments:
            got = [p.signature_algorithm_allowed(a, moment, k) for p in policies for a, k in cases]
            assert got == expected
    assert len(accel._sig_allowed) == len(expected)

    class Stricter(DisallowWeakAlgorithmsPolicy):
        def digest_algorithm_allowed(self, algo, moment):
            return AlgorithmUsageConstraint(allowed=False)

    with accel.fast():
        assert not Stricter().signature_algorithm_allowed(algo["sha256_ecdsa"], None, ec_key)
    assert len(accel._sig_allowed) == len(expected)


_ALGOS = ("sha256_ecdsa", "sha1_ecdsa", "sha256_rsa", "sha1_rsa")


@pytest.mark.parametrize(
    "dotted",
    [
        "1.2.840.113549.1.9.16.2.47",
        "2.5.29.19",
        "0.9.2342.19200300.100.1.25",
        "2.999.1",
        "1.3.6.1.4.1.311.60.2.1.3",
    ],
)
def test_an_object_identifier_reads_as_asn1crypto_reads_it(dotted: str) -> None:
    """``ObjectIdentifier.dotted`` kept by content octets gives asn1crypto's own text for
    identifiers of every first arc (2.999: a first subidentifier past 80), a second object of
    the same octets gets the kept text, and outside ``fast()`` asn1crypto's code runs."""
    from asn1crypto import core

    der = core.ObjectIdentifier(dotted).dump()
    theirs = accel._orig_dotted.fget(core.ObjectIdentifier.load(der))
    assert theirs == dotted
    accel.forget()
    with accel.fast():
        first = core.ObjectIdentifier.load(der)
        assert first.dotted == dotted
        assert accel._dotted[first.contents] == dotted
        assert core.ObjectIdentifier.load(der).dotted == dotted
        assert core.ObjectIdentifier.load(der).native == core.ObjectIdentifier.load(der).native
    accel.forget()
    assert core.ObjectIdentifier.load(der).dotted == dotted
    assert not accel._dotted


def test_names_compare_and_hash_as_asn1crypto_says() -> None:
    """``RDNSequence.hashable`` and ``==`` inside ``fast()`` (kept by DER and on the name
    object) answer as asn1crypto's own code for names equal only after stringprep (case,
    runs of spaces), names that differ, Chinese names, and other objects of the same bytes,
    each asked twice."""
    from asn1crypto import x509 as ax

    def rdns(**attrs: str) -> ax.RDNSequence:
        return ax.Name.build(attrs).chosen

    names = [
        rdns(common_name="Yinxin Issuing CA", organization_name="Yinxin"),
        rdns(common_name="yinxin  issuing ca", organization_name="YINXIN"),
        rdns(common_name="Yinxin Issuing CA", organization_name="Other"),
        rdns(common_name="印信电子认证", country_name="CN"),
        rdns(common_name="印信电子认证", country_name="CN"),
    ]
    names.append(ax.RDNSequence.load(names[0].dump()))
    hashes = [accel._orig_hashable.fget(n) for n in names]
    equal = [[accel._orig_eq(a, b) for b in names] for a in names]
    assert equal[0][1] and not equal[0][2] and equal[3][4] and equal[0][5]
    accel.forget()
    with accel.fast():
        for _ in range(2):
            assert [n.hashable for n in names] == hashes
            assert [[a == b for b in names] for a in names] == equal
    assert [[a == b for b in names] for a in names] == equal  # and outside, asn1crypto's


def test_der_is_the_objects_dump_kept_on_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """``der`` answers what ``dump`` answers — for a certificate whose fields were read and for
    a child of it — and asks ``dump`` once per object: the second answer is the kept one."""
    chain = make_chain()
    encoded = chain.issuing.public_bytes(Encoding.DER)
    cert = a_x509.Certificate.load(encoded)
    cert.native  # noqa: B018 — every field parsed, as after a verification
    assert accel.der(cert) == encoded == cert.dump()
    assert accel.der(cert.issuer) == cert.issuer.dump()
    calls = []
    original = a_x509.Certificate.dump

    def counted(self, force=False):
        calls.append(self)
        return original(self, force)

    monkeypatch.setattr(a_x509.Certificate, "dump", counted)
    fresh = a_x509.Certificate.load(encoded)
    assert accel.der(fresh) == encoded and accel.der(fresh) == encoded
    assert calls == [fresh]
    assert accel.der(cert) == encoded and calls == [fresh]  # kept from before


def test_public_keys_are_loaded_once_per_der_and_signatures_still_checked() -> None:
    """Inside ``fast()`` pyHanko's signature check gets one loaded key per DER; outside, a new
    one each time. A good certificate signature verifies, a tampered one is refused every
    time (the kept key does not keep a verdict), and a DER that is not a key raises twice."""
    from cryptography.exceptions import InvalidSignature
    from pyhanko_certvalidator import sig_validate

    chain = make_chain()
    leaf = a_x509.Certificate.load(chain.issuing.public_bytes(Encoding.DER))
    root = a_x509.Certificate.load(chain.root.public_bytes(Encoding.DER))
    load = sig_validate.serialization.load_der_public_key
    key_der = root.public_key.dump()
    assert load(key_der) is not load(key_der)  # outside: cryptography's own
    accel.forget()

    def check(signature: bytes) -> None:
        sig_validate._validate_raw(
            signature,
            leaf["tbs_certificate"].dump(),
            root.public_key,
            leaf["signature_algorithm"],
        )

    good = leaf["signature_value"].native
    bad = bytearray(good)
    bad[-3] ^= 0x01
    with accel.fast():
        assert load(key_der) is load(key_der)
        for _ in range(2):
            check(good)
            with pytest.raises(InvalidSignature):
                check(bytes(bad))
            with pytest.raises(ValueError):
                load(b"\x30\x03\x02\x01\x00")
    assert list(accel._public_keys) == [key_der]
    accel.forget()
    assert not accel._public_keys
