"""GB/T 38540 SES_Signature v4 and SM2-made seals: built, read, judged — and re-judged by
implementations we did not write (sm-crypto under node for SM2, OpenSSL for the certificates
and the DER structure).

Times derive from the real clock (``datetime.now``) once per module, so the suite passes under
``faketime`` as on any day.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.fixtures.ses_world import SmCrypto, make_seal, make_world, sm2_certificate, sm2_crl
from yinxin.errors import ValidationError
from yinxin.indication import Indication
from yinxin.ofd.verify import signature_lines
from yinxin.pki import sm2
from yinxin.pki.keys import SoftwareKey
from yinxin.pki.tsa import respond
from yinxin.seals.ses_signature import (
    SESSignature,
    build_ses_signature,
    parse_ses_signature,
    seal_picture,
    verify_ses_signature,
)
from yinxin.seals.seseal import OID_SM2_SM3, parse_seseal, verify_seseal

PROPERTY = "/Doc_0/Signs/Sign_0/Signature.xml"
DATA = b"<ofd:Signature>the signed file</ofd:Signature>"


@pytest.fixture(scope="module")
def world():
    return make_world(datetime.now(UTC))


@pytest.fixture(scope="module")
def signed(world) -> bytes:
    a = world.party_a
    return build_ses_signature(
        a.seal,
        DATA,
        property_info=PROPERTY,
        signer_key=a.key,
        signer_cert_der=a.cert,
        time_info=world.now,
    )


def _point(cert_der: bytes) -> bytes:
    cert = a_x509.Certificate.load(cert_der)
    return bytes(cert["tbs_certificate"]["subject_public_key_info"]["public_key"])


def _checks(report) -> dict[str, bool | None]:
    return {c.name: c.ok for c in report.checks}


# --- the SM2 seal -----------------------------------------------------------------------------


def test_an_sm2_maker_makes_a_seal_that_verifies(world):
    parsed = verify_seseal(world.party_a.seal, [world.ca], at=world.now)
    assert parsed.sign_alg_oid == OID_SM2_SM3
    assert parsed.maker_cert_der == world.ca
    assert parsed.info.cert_list == [world.party_a.cert]
    # the signature is the maker's SM2 signature over DER(eSealInfo), default user ID
    sm2.load_public_spki(
        a_x509.Certificate.load(world.ca)["tbs_certificate"]["subject_public_key_info"].dump()
    ).verify(parsed.signature, parsed.signed_bytes)


def test_a_changed_sm2_seal_is_refused(world):
    seal = bytearray(world.party_a.seal)
    name = "北京印信测试有限公司".encode()
    at = seal.index(name)
    seal[at : at + 3] = "南".encode()  # same length: still DER, now another name
    with pytest.raises(ValidationError, match="maker's signature"):
        verify_seseal(bytes(seal))


def test_the_test_hierarchy_passes_openssl_verify(world, tmp_path):
    """The certificates of this world are sound SM3withSM2 ones by OpenSSL's judgement.

    Link by link: OpenSSL 3.0's ``-vfyopt distid:`` reaches only the target certificate's
    signature, not an intermediate's taken from the store, so a whole-chain call fails there
    for every SM2 chain (ours and OpenSSL's own alike)."""
    for name, der in (("root", world.root), ("ca", world.ca), ("ee", world.party_a.cert)):
        pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
        (tmp_path / f"{name}.pem").write_bytes(pem)
    for anchor, target, extra in (
        ("root", "root", []),
        ("root", "ca", []),
        ("ca", "ee", ["-partial_chain"]),
    ):
        done = subprocess.run(
            ["openssl", "verify", "-vfyopt", "distid:1234567812345678", *extra]
            + ["-CAfile", f"{anchor}.pem", f"{target}.pem"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0 and f"{target}.pem: OK" in done.stdout, done.stderr


# --- SES_Signature ----------------------------------------------------------------------------


def test_signature_round_trip_and_every_check_passes(world, signed):
    parsed = parse_ses_signature(signed)
    assert parsed.version == 4
    assert parsed.seal_der == world.party_a.seal  # the seal travels byte for byte
    assert parsed.signer_cert_der == world.party_a.cert
    assert parsed.property_info == PROPERTY
    assert parsed.data_hash == sm2.sm3(DATA)
    assert parsed.time_info == world.now.replace(microsecond=0)
    assert parsed.sign_alg_oid == OID_SM2_SM3
    assert parsed.timestamp_token is None
    report = verify_ses_signature(signed, DATA, trust=world.trust)
    assert report.valid, report.failed()
    assert _checks(report) == {
        "format": True,
        "signature": True,
        "seal": True,
        "seal_maker_trusted": True,
        "seal_validity": True,
        "signer_in_seal": True,
        "signer_certificate_validity": True,
        "signer_certificate_trusted": True,
        "signer_certificate_revocation": None,
        "document_hash": True,
    }
    assert report.seal_name == "北京印信测试有限公司"
    assert report.es_id == "11010000000001"
    d = report.to_dict()
    assert d["valid"] is True and d["checks"][0]["name"] == "format"
    assert seal_picture(signed)[0] == "png"
    # the mark says "not checked" once; the detail says why, not the same words again
    lines = signature_lines("签名 1", report.indication, d, [], [])
    said = "签章人证书吊销状态 / signer_certificate_revocation"
    assert f"  [not checked] {said}: 未提供证书吊销列表（CRL） / no CRL given" in lines


def test_openssl_reads_the_structure(signed, tmp_path):
    (tmp_path / "sig.der").write_bytes(signed)
    out = subprocess.run(
        ["openssl", "asn1parse", "-inform", "DER", "-in", "sig.der"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = out.splitlines()
    assert "INTEGER           :04" in lines[2]  # TBS_Sign.version
    assert ":ES" in out and PROPERTY in out
    assert ":SM2-with-SM3" in out  # signatureAlgID 1.2.156.10197.1.501


def test_a_changed_document_is_invalid(world, signed):
    report = verify_ses_signature(signed, DATA + b" ", trust=world.trust)
    assert not report.valid
    assert [c.name for c in report.failed()] == ["document_hash"]


def test_a_flipped_signature_byte_is_invalid(world, signed):
    rec = SESSignature.load(signed)
    sig = bytearray(rec["signature"].native)
    sig[-1] ^= 0x01
    forged = SESSignature(
        {
            "to_sign": rec["to_sign"],
            "cert": rec["cert"].native,
            "signature_alg_id": rec["signature_alg_id"].dotted,
            "signature": bytes(sig),
        }
    ).dump()
    report = verify_ses_signature(forged, DATA, trust=world.trust)
    assert not report.valid
    assert _checks(report)["signature"] is False


def test_without_trust_nothing_is_called_trusted(signed):
    report = verify_ses_signature(signed, DATA)
    checks = _checks(report)
    assert checks["signature"] is True and checks["document_hash"] is True
    assert checks["seal_maker_trusted"] is None and checks["signer_certificate_trusted"] is None
    assert not report.valid


def test_a_foreign_maker_is_not_trusted(world, signed):
    other = make_world(world.now)
    report = verify_ses_signature(signed, DATA, trust=other.trust)
    checks = _checks(report)
    assert checks["seal_maker_trusted"] is False
    assert checks["signer_certificate_trusted"] is False
    assert not report.valid


def test_an_end_entity_certificate_vouches_for_itself_only(world):
    """A certificate "issued" by party A's (end-entity) key is not trusted because A is."""
    a = world.party_a
    key = sm2.generate()
    rogue = sm2_certificate(
        "冒名者",
        key.public_key(),
        issuer_key=a.key,
        issuer_cn=a.name,
        not_before=world.now - timedelta(days=1),
        not_after=world.now + timedelta(days=30),
        ca=False,
    )
    seal = make_seal(
        world.ca_key, world.ca, rogue, es_id="11010000000077", name="冒名者", personal=True,
        now=world.now,
    )  # fmt: skip
    sig = build_ses_signature(
        seal, DATA, property_info=PROPERTY, signer_key=key, signer_cert_der=rogue,
        time_info=world.now,
    )  # fmt: skip
    report = verify_ses_signature(sig, DATA, trust=[world.ca, a.cert])
    assert _checks(report)["signature"] is True
    assert _checks(report)["signer_certificate_trusted"] is False and not report.valid


def test_a_signer_outside_the_seals_list_is_refused_and_caught(world):
    a, b = world.party_a, world.party_b
    with pytest.raises(ValidationError) as err:
        build_ses_signature(
            a.seal,
            DATA,
            property_info=PROPERTY,
            signer_key=b.key,
            signer_cert_der=b.cert,
            time_info=world.now,
        )
    assert err.value.field == "signer_cert"
    # a record made anyway (by hand) with B's key under A's seal: caught by the verifier
    good = build_ses_signature(
        b.seal, DATA, property_info=PROPERTY, signer_key=b.key, signer_cert_der=b.cert,
        time_info=world.now,
    )  # fmt: skip
    rec = SESSignature.load(good)
    to_sign = rec["to_sign"].copy()
    to_sign["eseal"] = SESSignature.load(
        build_ses_signature(
            a.seal,
            DATA,
            property_info=PROPERTY,
            signer_key=a.key,
            signer_cert_der=a.cert,
            time_info=world.now,
        )  # fmt: skip
    )["to_sign"]["eseal"].copy()
    tbs = to_sign.dump(force=True)
    forged = SESSignature(
        {
            "to_sign": to_sign,
            "cert": b.cert,
            "signature_alg_id": OID_SM2_SM3,
            "signature": b.key.sign(tbs),
        }
    ).dump()
    report = verify_ses_signature(forged, DATA, trust=world.trust)
    assert _checks(report)["signature"] is True
    assert _checks(report)["signer_in_seal"] is False
    assert not report.valid


def test_wrong_key_for_the_certificate_is_refused(world):
    a = world.party_a
    with pytest.raises(ValidationError) as err:
        build_ses_signature(
            a.seal, DATA, property_info=PROPERTY, signer_key=sm2.generate(),
            signer_cert_der=a.cert, time_info=world.now,
        )  # fmt: skip
    assert err.value.field == "signer_cert"


def test_signing_outside_the_seal_validity_is_refused_and_caught(world):
    a = world.party_a
    # a seal valid for 10 days from a month ago: expired now
    old = make_seal(
        world.ca_key,
        world.ca,
        a.cert,
        es_id="11010000000009",
        name=a.name,
        personal=False,
        now=world.now,
        valid_days=10,
        valid_start=world.now - timedelta(days=29),
    )
    with pytest.raises(ValidationError) as err:
        build_ses_signature(
            old, DATA, property_info=PROPERTY, signer_key=a.key, signer_cert_der=a.cert,
            time_info=world.now,
        )  # fmt: skip
    assert err.value.field == "time_info"
    # signed while it was valid: still valid afterwards (the time that counts is signing time)
    then = world.now - timedelta(days=25)
    sig = build_ses_signature(
        old, DATA, property_info=PROPERTY, signer_key=a.key, signer_cert_der=a.cert,
        time_info=then,
    )  # fmt: skip
    report = verify_ses_signature(sig, DATA, trust=world.trust)
    assert report.valid, report.failed()
    assert report.time_info == then.replace(microsecond=0)


def test_garbage_is_a_verdict_not_an_exception(world):
    for junk in (b"", b"\x30\x03\x02\x01\x04", b"not asn.1 at all", b"\x30\x80\x00\x00"):
        report = verify_ses_signature(junk, DATA, trust=world.trust)
        assert not report.valid
        assert report.checks[0].name == "format" and report.checks[0].ok is False
    with pytest.raises(ValidationError) as err:
        parse_ses_signature(b"\x04\x00")
    assert err.value.field == "ses_signature"


def test_a_non_ascii_property_info_is_refused(world):
    a = world.party_a
    with pytest.raises(ValidationError) as err:
        build_ses_signature(
            a.seal, DATA, property_info="签名.xml", signer_key=a.key, signer_cert_der=a.cert,
            time_info=world.now,
        )  # fmt: skip
    assert err.value.field == "property_info"


def test_revocation_by_the_issuers_crl(world, signed):
    a = world.party_a
    serial = a_x509.Certificate.load(a.cert).serial_number
    later = world.now + timedelta(hours=1)

    def revocation(crls):
        report = verify_ses_signature(signed, DATA, trust=world.trust, crls=crls)
        return report, _checks(report)["signer_certificate_revocation"]

    clean = sm2_crl(world.ca_key, world.ca, [(serial + 1, world.now)], this_update=later)
    report, ok = revocation([clean])
    assert ok is True and report.valid
    # revoked before the signing time: INVALID; after it: the signature stands
    before = sm2_crl(
        world.ca_key, world.ca, [(serial, world.now - timedelta(hours=1))], this_update=later
    )
    report, ok = revocation([before])
    assert ok is False and not report.valid
    after = sm2_crl(world.ca_key, world.ca, [(serial, later)], this_update=later)
    report, ok = revocation([after])
    assert ok is True and report.valid
    # a CRL older than the signature cannot speak for it; one not signed by the CA is refused
    old = sm2_crl(world.ca_key, world.ca, [], this_update=world.now - timedelta(days=1))
    report, ok = revocation([old])
    assert ok is None and report.valid
    forged = sm2_crl(sm2.generate(), world.ca, [], this_update=later)
    report, ok = revocation([forged])
    assert ok is False and not report.valid
    report, ok = revocation([b"not a crl"])
    assert ok is False


# --- timestamp over the signature value -------------------------------------------------------


@pytest.fixture(scope="module")
def tsa(world):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test TSA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(world.now - timedelta(days=30))
        .not_valid_after(world.now + timedelta(days=3650))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(key, hashes.SHA256())
    )
    handle = SoftwareKey("tsa", key)
    serials = iter(range(1, 1000))

    def stamper(request: bytes) -> bytes:
        return respond(
            request,
            tsa_cert=cert,
            tsa_key=handle,
            chain=[],
            serial=lambda: next(serials),
            gen_time=world.now + timedelta(seconds=5),
        )

    return stamper, cert.public_bytes(serialization.Encoding.DER)


def test_a_timestamp_over_the_signature_is_checked(world, tsa):
    stamper, tsa_der = tsa
    a = world.party_a
    sig = build_ses_signature(
        a.seal, DATA, property_info=PROPERTY, signer_key=a.key, signer_cert_der=a.cert,
        time_info=world.now, timestamper=stamper,
    )  # fmt: skip
    parsed = parse_ses_signature(sig)
    assert parsed.timestamp_token is not None
    report = verify_ses_signature(sig, DATA, trust=[*world.trust, tsa_der])
    assert report.valid, report.failed()
    assert _checks(report)["timestamp"] is True
    assert report.timestamp_time == (world.now + timedelta(seconds=5)).replace(microsecond=0)
    # the TSA not trusted: the timestamp check fails, so does the verdict
    report = verify_ses_signature(sig, DATA, trust=world.trust)
    assert _checks(report)["timestamp"] is False and not report.valid
    # a token over another signature value (from another signing) does not fit this one
    other = parse_ses_signature(
        build_ses_signature(
            a.seal,
            DATA,
            property_info=PROPERTY,
            signer_key=a.key,
            signer_cert_der=a.cert,
            time_info=world.now,
            timestamper=stamper,
        )  # fmt: skip
    ).timestamp_token
    rec = SESSignature.load(sig)
    swapped = SESSignature(
        {
            "to_sign": rec["to_sign"],
            "cert": rec["cert"].native,
            "signature_alg_id": OID_SM2_SM3,
            "signature": rec["signature"].native,
            "time_stamp": other,
        }
    ).dump()
    report = verify_ses_signature(swapped, DATA, trust=[*world.trust, tsa_der])
    assert _checks(report)["timestamp"] is False
    assert "another signature value" in next(
        c.detail for c in report.checks if c.name == "timestamp"
    )


def test_three_outcomes_as_more_evidence_could_settle_them(world, signed, tsa):
    """PASSED when valid; FAILED when a check failed that nothing can mend; INDETERMINATE when
    every failure is one more evidence could settle (a trusted certificate, a usable CRL, a
    trusted TSA for the time the checks are judged at)."""
    stamper, tsa_der = tsa
    a = world.party_a
    serial = a_x509.Certificate.load(a.cert).serial_number
    later = world.now + timedelta(hours=1)

    def outcome(sig=signed, data=DATA, **kw):
        report = verify_ses_signature(sig, data, **kw)
        assert report.to_dict()["indication"] == report.indication.value
        assert (report.indication is Indication.PASSED) is report.valid
        # each check's outcome, as the API and the web page read it
        said = {c["name"]: c["outcome"] for c in report.to_dict()["checks"]}
        assert said == {
            c.name: "not_checked"
            if c.ok is None
            else "passed"
            if c.ok
            else "not_shown"
            if c.mendable
            else "failed"
            for c in report.checks
        }, said
        return report.indication, {c.name: c.mendable for c in report.checks if c.ok is False}

    assert outcome(trust=world.trust) == (Indication.PASSED, {})
    # nothing shown trusted: no trust given, or the wrong one
    assert outcome()[0] is Indication.INDETERMINATE
    assert outcome(trust=make_world(world.now).trust) == (
        Indication.INDETERMINATE,
        {"seal_maker_trusted": True, "signer_certificate_trusted": True},
    )
    # the bytes or the signature changed; read as of a moment before the signing
    assert outcome(data=DATA + b" ", trust=world.trust) == (
        Indication.FAILED,
        {"document_hash": False},
    )
    earlier = world.now - timedelta(days=1)
    assert outcome(trust=world.trust, at=earlier) == (Indication.FAILED, {"signing_time": False})
    assert outcome(b"junk", trust=world.trust)[0] is Indication.FAILED
    # a CRL nobody trusted signed, or none at all can be read: INDETERMINATE
    forged = sm2_crl(sm2.generate(), world.ca, [], this_update=later)
    assert outcome(trust=world.trust, crls=[forged]) == (
        Indication.INDETERMINATE,
        {"signer_certificate_revocation": True},
    )
    assert outcome(trust=world.trust, crls=[b"not a crl"])[0] is Indication.INDETERMINATE
    # revoked an hour before the signing: the claimed time stands without a timestamp (GB/T
    # 38540 takes timeInfo as it is) → FAILED
    revoked = [
        sm2_crl(
            world.ca_key, world.ca, [(serial, world.now - timedelta(hours=1))], this_update=later
        )
    ]
    assert outcome(trust=world.trust, crls=revoked) == (
        Indication.FAILED,
        {"signer_certificate_revocation": False},
    )
    # with a timestamp the checks are judged at its time: trusted, it settles the failure;
    # not trusted, the time is not shown and the same revocation is INDETERMINATE
    stamped = build_ses_signature(
        a.seal, DATA, property_info=PROPERTY, signer_key=a.key, signer_cert_der=a.cert,
        time_info=world.now, timestamper=stamper,
    )  # fmt: skip
    assert outcome(stamped, trust=[*world.trust, tsa_der], crls=revoked) == (
        Indication.FAILED,
        {"signer_certificate_revocation": False},
    )
    assert outcome(stamped, trust=world.trust, crls=revoked) == (
        Indication.INDETERMINATE,
        {"timestamp": True, "signer_certificate_revocation": True},
    )
    assert outcome(stamped, trust=world.trust)[0] is Indication.INDETERMINATE


# --- an SM2 implementation we did not write ---------------------------------------------------


@pytest.fixture(scope="module")
def sm_crypto(tmp_path_factory):
    try:
        return SmCrypto(tmp_path_factory.mktemp("sm-crypto"))
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"sm-crypto could not be installed (npm registry unreachable?): {exc}")


def test_sm_crypto_verifies_the_seal_and_the_signature(world, signed, sm_crypto):
    seal = parse_seseal(world.party_a.seal)
    sig = parse_ses_signature(signed)
    maker_point = _point(seal.maker_cert_der)
    signer_point = _point(sig.signer_cert_der)
    assert maker_point[0] == 4 and len(maker_point) == 65
    verdicts = sm_crypto.verify(
        [
            (seal.signed_bytes, seal.signature, maker_point),  # SESeal: maker over eSealInfo
            (sig.signed_bytes, sig.signature, signer_point),  # SES_Signature: signer over toSign
            (sig.signed_bytes + b"x", sig.signature, signer_point),  # changed content
            (seal.signed_bytes, seal.signature, signer_point),  # another key
        ]
    )
    assert verdicts == [True, True, False, False]


def test_a_verification_moment_without_a_zone_is_refused_naming_at(world, signed, monkeypatch):
    """``verify_ses_signature(at=…)`` and the checkers ``check_ofd_value`` /
    ``check_pdf_value`` took a time without a zone and read it as the machine's local time
    (``astimezone``): on a server in Beijing, ten o'clock written for ten o'clock UTC was judged
    eight hours earlier — here before the signing, so a good signature read as one from the
    future — where ``verify_pdf``, ``verify_ses_pdf`` and ``verify --at`` refuse it naming
    ``at`` (``clock.asked_moment``). These refuse it the same way now, the checkers when
    made, before any document is read; the same moment with its zone is judged as before."""
    import time

    from yinxin.seals.ses_signature import check_ofd_value, check_pdf_value

    monkeypatch.setenv("TZ", "Asia/Shanghai")  # a server in China, the zone a naive time took
    time.tzset()
    try:
        aware = world.now + timedelta(hours=2)
        naive = aware.astimezone(UTC).replace(tzinfo=None)
        refusals = {
            "verify_ses_signature": lambda: verify_ses_signature(
                signed, DATA, trust=world.trust, at=naive
            ),
            "check_ofd_value": lambda: check_ofd_value(world.trust, at=naive),
            "check_pdf_value": lambda: check_pdf_value(world.trust, None, naive),
        }
        for name, call in refusals.items():
            with pytest.raises(ValidationError) as e:
                call()
            assert e.value.field == "at", (name, e.value.to_dict())
            assert "has no time zone" in e.value.message, (name, e.value.message)
        report = verify_ses_signature(signed, DATA, trust=world.trust, at=aware)
        assert report.valid and _checks(report)["signing_time"] is True, report.failed()
        assert check_pdf_value(world.trust, None, aware)(signed, DATA).valid
    finally:
        monkeypatch.undo()
        time.tzset()
