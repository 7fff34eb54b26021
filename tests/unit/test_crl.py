"""CRLs checked by tools that did not write them: openssl, pkilint, and cryptography's parser."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.unit.pki_chain import Chain, HsmLikeKey, make_chain, run, venv_tool
from yinxin.errors import ConfigurationError, ValidationError
from yinxin.pki.authority import pem
from yinxin.pki.crl import (
    REASON_FLAGS,
    REASONS,
    RevokedEntry,
    build_crl,
    build_crl_via_builder,
    next_crl_number,
)

PEM = serialization.Encoding.PEM


@pytest.fixture(scope="module")
def chain() -> Chain:
    return make_chain()


@pytest.fixture(scope="module")
def files(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return chain.write(tmp_path_factory.mktemp("crl"))


def _crl(chain: Chain, entries, *, key=None, number: int = 42) -> bytes:
    return build_crl(
        issuer_cert=chain.issuing,
        key=key or chain.issuing_key,
        entries=entries,
        crl_number=number,
        this_update=chain.now,
        next_update=chain.now + dt.timedelta(days=7),
    )


def _write_pem(path: Path, der: bytes) -> Path:
    path.write_bytes(x509.load_der_x509_crl(der).public_bytes(PEM))
    return path


def _random_entries(chain: Chain, n: int) -> list[RevokedEntry]:
    reasons = [None, "key_compromise", "superseded", "unspecified", "cessation_of_operation"]
    return [
        RevokedEntry(
            int.from_bytes(os.urandom(16), "big") >> 1 | 1,
            chain.now - dt.timedelta(minutes=i),
            reasons[i % len(reasons)],
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("hsm", [False, True], ids=["software", "hsm-like"])
@pytest.mark.parametrize("count", [0, 3, 500])
def test_openssl_verifies_signature(chain, files, tmp_path, hsm, count):
    key = HsmLikeKey(chain.issuing_key) if hsm else chain.issuing_key
    der = _crl(chain, _random_entries(chain, count), key=key)
    (tmp_path / "crl.der").write_bytes(der)
    r = run(
        "openssl", "crl", "-inform", "DER", "-in", tmp_path / "crl.der",
        "-CAfile", files["chain"], "-verify", "-noout",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "verify OK" in r.stderr + r.stdout


@pytest.mark.parametrize("hsm", [False, True], ids=["software", "hsm-like"])
def test_openssl_verify_crl_check(chain, files, tmp_path, hsm):
    revoked, _ = chain.end_entity("王五")
    good, _ = chain.end_entity("赵六")
    entries = [
        *_random_entries(chain, 10),
        RevokedEntry(revoked.serial_number, chain.now, "key_compromise"),
    ]
    key = HsmLikeKey(chain.issuing_key) if hsm else chain.issuing_key
    crl = _write_pem(tmp_path / "crl.pem", _crl(chain, entries, key=key))
    (tmp_path / "revoked.pem").write_bytes(pem(revoked))
    (tmp_path / "good.pem").write_bytes(pem(good))

    def verify(cert: str):
        return run(
            "openssl", "verify", "-crl_check", "-CRLfile", crl, "-CAfile", files["chain"],
            tmp_path / cert,
        )  # fmt: skip

    bad = verify("revoked.pem")
    assert bad.returncode != 0
    assert "certificate revoked" in bad.stdout + bad.stderr
    ok = verify("good.pem")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ": OK" in ok.stdout


def test_openssl_text_shows_number_and_reasons(chain, tmp_path):
    entries = [
        RevokedEntry(0x1001, chain.now, "key_compromise"),
        RevokedEntry(0x1002, chain.now, "ca_compromise"),
        RevokedEntry(0x1003, chain.now, "affiliation_changed"),
        RevokedEntry(0x1004, chain.now, "superseded"),
        RevokedEntry(0x1005, chain.now, "cessation_of_operation"),
        RevokedEntry(0x1006, chain.now, "certificate_hold"),
        RevokedEntry(0x1007, chain.now, "privilege_withdrawn"),
        RevokedEntry(0x1008, chain.now, "unspecified"),
        RevokedEntry(0x1009, chain.now, None),
    ]
    (tmp_path / "crl.der").write_bytes(_crl(chain, entries, number=4242))
    r = run("openssl", "crl", "-inform", "DER", "-in", tmp_path / "crl.der", "-noout", "-text")
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert "Version 2" in text
    assert "X509v3 CRL Number" in text and "4242" in text
    assert "X509v3 Authority Key Identifier" in text
    for label in [
        "Key Compromise",
        "CA Compromise",
        "Affiliation Changed",
        "Superseded",
        "Cessation Of Operation",
        "Certificate Hold",
        "Privilege Withdrawn",
    ]:
        assert label in text
    # RFC 5280: no reasonCode for unspecified, so exactly seven reason extensions
    assert text.count("X509v3 CRL Reason Code") == 7
    assert "Unspecified" not in text


@pytest.mark.parametrize("count", [0, 200])
def test_pkilint_reports_nothing(chain, tmp_path, count):
    path = tmp_path / "crl.der"
    path.write_bytes(_crl(chain, _random_entries(chain, count)))
    r = run(venv_tool("lint_crl"), "lint", "-t", "CRL", "-p", "PKIX", "-s", "WARNING", path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "", r.stdout


def test_fast_path_lists_exactly_the_entries(chain):
    entries = _random_entries(chain, 2000)
    entries.append(RevokedEntry(1, dt.datetime(2051, 3, 4, 5, 6, 7, tzinfo=dt.UTC), "superseded"))
    # a non-UTC zone and sub-second time are normalised to UTC seconds
    cst = dt.timezone(dt.timedelta(hours=8))
    entries.append(RevokedEntry(2**159 - 1, dt.datetime(2030, 1, 1, 8, 0, 0, 999, tzinfo=cst)))
    crl = x509.load_der_x509_crl(_crl(chain, entries))

    assert crl.is_signature_valid(chain.issuing.public_key())
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 42
    assert len(crl) == len(entries)
    for want, got in zip(entries, crl, strict=True):
        assert got.serial_number == want.serial
        assert got.revocation_date_utc == want.revoked_at.astimezone(dt.UTC).replace(microsecond=0)
        reasons = [e.value.reason for e in got.extensions if isinstance(e.value, x509.CRLReason)]
        expected = [] if want.reason in (None, "unspecified") else [REASON_FLAGS[want.reason]]
        assert reasons == expected
    assert crl[-2].revocation_date_utc.year == 2051  # GeneralizedTime from 2050 on


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-2048"])
def test_byte_identical_to_cryptography_builder(algorithm):
    chain = make_chain(algorithm)
    entries = _random_entries(chain, 1500)
    kw = dict(
        issuer_cert=chain.issuing,
        key=chain.issuing_key,
        entries=entries,
        crl_number=7,
        this_update=chain.now,
        next_update=chain.now + dt.timedelta(hours=6),
    )
    fast, ref = build_crl(**kw), build_crl_via_builder(**kw)
    assert (
        x509.load_der_x509_crl(fast).tbs_certlist_bytes
        == x509.load_der_x509_crl(ref).tbs_certlist_bytes
    )
    if algorithm.startswith("rsa"):  # PKCS#1 v1.5 is deterministic: whole CRL is the same
        assert fast == ref


def test_large_crl(chain):
    entries = _random_entries(chain, 200_000)
    crl = x509.load_der_x509_crl(_crl(chain, entries))
    assert len(crl) == 200_000
    assert crl.is_signature_valid(chain.issuing.public_key())
    assert crl.get_revoked_certificate_by_serial_number(entries[123_456].serial) is not None


def test_refusals(chain):
    t = chain.now
    with pytest.raises(ValidationError, match="unknown revocation reason"):
        _crl(chain, [RevokedEntry(5, t, "lost_it")])
    with pytest.raises(ValidationError, match="listed twice"):
        _crl(chain, [RevokedEntry(5, t), RevokedEntry(5, t)])
    with pytest.raises(ValidationError, match="time zone"):
        _crl(chain, [RevokedEntry(5, t.replace(tzinfo=None))])
    with pytest.raises(ValidationError, match="delta CRL"):
        _crl(chain, [RevokedEntry(5, t, "remove_from_crl")])
    with pytest.raises(ValidationError, match="20 octets"):
        _crl(chain, [RevokedEntry(2**160, t)])
    with pytest.raises(ValidationError, match="positive"):
        _crl(chain, [RevokedEntry(0, t)])
    with pytest.raises(ConfigurationError):
        _crl(chain, [], key=chain.root_key)
    with pytest.raises(ValidationError, match="later"):
        build_crl(
            issuer_cert=chain.issuing,
            key=chain.issuing_key,
            entries=[],
            crl_number=1,
            this_update=t,
            next_update=t,
        )


def test_reason_table_matches_rfc5280():
    assert REASONS["key_compromise"] == 1
    assert REASONS["certificate_hold"] == 6
    assert REASONS["remove_from_crl"] == 8
    assert REASONS["privilege_withdrawn"] == 9
    assert 7 not in REASONS.values()  # value 7 is unused in RFC 5280
    assert set(REASONS) == set(REASON_FLAGS)


def test_next_crl_number_follows_the_clock_and_never_goes_back(chain: Chain):
    """The larger of the latest + 1 and thisUpdate in Unix seconds: a CA's first CRL and one
    after numbers of the old rule (1, 2, 3…) take the clock's; one in the same second as (or
    with a clock behind) the latest is that one's + 1; the thisUpdate's zone does not matter,
    a naive one is refused (naming it); the number fits the 20 octets build_crl takes."""
    t = chain.now
    unix = int(t.timestamp())
    assert next_crl_number(None, t) == unix
    assert next_crl_number(3, t) == unix  # stored under the old rule: jumps to the clock
    assert next_crl_number(unix, t) == unix + 1
    assert next_crl_number(unix + 40, t) == unix + 41  # a burst ahead of the clock, or a restore
    assert next_crl_number(unix - 1, t + dt.timedelta(microseconds=900_000)) == unix
    east = dt.timezone(dt.timedelta(hours=8))
    assert next_crl_number(None, t.astimezone(east)) == unix
    with pytest.raises(ValidationError, match="time zone") as e:
        next_crl_number(None, t.replace(tzinfo=None))
    assert e.value.field == "this_update"
    der = _crl(chain, [], number=next_crl_number(None, t))
    assert (
        x509.load_der_x509_crl(der)
        .extensions.get_extension_for_class(x509.CRLNumber)
        .value.crl_number
        == unix
    )
