"""StatusService and OcspResponder in-process, on SQLite and on a real PostgreSQL server.

What the HTTP tests check through ``yinxin serve``, checked here one level down and on both
databases: lookups for every state, the CRL being re-signed exactly when the status revision
moves (or nextUpdate draws near), a process that cannot sign leaving the CRL to the one that
can, and pre-signed OCSP responses invalidated by ``status_version`` in any process.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from asn1crypto import ocsp as a_ocsp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from sqlalchemy import func, select

from tests.integration.server import HASHES, issue_certificate, ocsp_request
from tests.integration.test_ca_lifecycle import make_csr
from yinxin.app import Platform
from yinxin.errors import ConfigurationError
from yinxin.pki.ocsp import issuer_hashes
from yinxin.registry.status import CRL_REFRESH_BEFORE, CRL_VALIDITY, OCSP_RESIGN_AFTER
from yinxin.store.models import Crl

DER = serialization.Encoding.DER


# --- helpers ---------------------------------------------------------------------------------


def ocsp_request_for_serial(serial: int, issuer: x509.Certificate, alg: str = "sha256") -> bytes:
    name_hash, key_hash = issuer_hashes(issuer, alg)
    return (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(name_hash, key_hash, serial, HASHES[alg])
        .build()
        .public_bytes(DER)
    )


def multi_request(items: list[tuple[int, str]], issuer: x509.Certificate) -> bytes:
    """An OCSPRequest asking about several (serial, CertID hash) at once (asn1crypto)."""
    reqs = []
    for serial, alg in items:
        name_hash, key_hash = issuer_hashes(issuer, alg)
        reqs.append(
            {
                "req_cert": {
                    "hash_algorithm": {"algorithm": alg},
                    "issuer_name_hash": name_hash,
                    "issuer_key_hash": key_hash,
                    "serial_number": serial,
                }
            }
        )
    return a_ocsp.OCSPRequest({"tbs_request": {"request_list": reqs}}).dump()


def parse_ok(der: bytes) -> ocsp.OCSPResponse:
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    responder = resp.certificates[0]
    responder.public_key().verify(
        resp.signature, resp.tbs_response_bytes, ec.ECDSA(resp.signature_hash_algorithm)
    )
    return resp


def crl_number(der: bytes) -> int:
    crl = x509.load_der_x509_crl(der)
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def unix(clock) -> int:
    """The clock's moment in Unix seconds: the least number a CRL signed now may carry
    (``next_crl_number``: the larger of this and the latest + 1)."""
    return int(clock.now().timestamp())


def crl_serials(der: bytes) -> set[int]:
    return {r.serial_number for r in x509.load_der_x509_crl(der)}


def crl_rows(p: Platform, role: str = "issuing") -> int:
    with p.db.read() as s:
        return s.execute(
            select(func.count()).select_from(Crl).where(Crl.issuer_role == role)
        ).scalar_one()


@pytest.fixture
def second(any_platform, make_platform):
    """Another process on the same database and key directory (a CLI next to the server)."""

    def make(*, can_sign: bool = True) -> Platform:
        s = any_platform.settings
        return make_platform(
            url=s.database_url, home=s.home, init=False, **({} if can_sign else {"passphrase": ""})
        )

    return make


# --- lookups ---------------------------------------------------------------------------------
def test_lookup_every_state(any_platform: Platform, clock) -> None:
    p = any_platform
    cert = issue_certificate(p)
    serial, hexs = cert.serial_number, format(cert.serial_number, "x")

    st = p.status.lookup(serial)
    assert (st.status, st.revoked_at, st.reason, st.version) == ("good", None, None, 1)

    clock.advance(minutes=5)
    p.certificates.freeze(hexs, actor="tester")
    st = p.status.lookup(serial)
    assert (st.status, st.reason, st.version) == ("revoked", "certificate_hold", 2)
    assert st.revoked_at == clock.now()

    clock.advance(minutes=5)
    p.certificates.unfreeze(hexs, actor="tester")
    st = p.status.lookup(serial)
    assert (st.status, st.revoked_at, st.reason, st.version) == ("good", None, None, 3)

    p.certificates.report_loss(hexs, actor="tester")
    assert p.status.lookup(serial).reason == "certificate_hold"
    p.certificates.restore(hexs, actor="tester")
    assert p.status.lookup(serial).status == "good"

    clock.advance(minutes=5)
    p.certificates.revoke(hexs, reason="no_longer_needed", actor="tester")
    st = p.status.lookup(serial)
    assert (st.status, st.reason, st.version) == ("revoked", "cessation_of_operation", 6)
    assert st.revoked_at == clock.now()

    unknown = p.status.lookup(serial ^ 0xFFFF)
    assert (unknown.status, unknown.version) == ("unknown", 0)


def test_a_certificate_expired_on_hold_stays_on_hold(any_platform: Platform, clock) -> None:
    """A key reported lost and never found: the certificate expires on hold. Expiry dropped it
    from the CRL and OCSP answered "good" — what a release says — so a relying party checking a
    signature made with the lost key during the hold was told all was well. It stays listed as
    certificateHold from the time of the hold; one expired after its release does not."""
    p = any_platform
    lost, fine = issue_certificate(p), issue_certificate(p)
    clock.advance(days=3)
    held_at = clock.now()
    p.certificates.report_loss(format(lost.serial_number, "x"), actor="tester")
    p.certificates.freeze(format(fine.serial_number, "x"), actor="tester")
    p.certificates.unfreeze(format(fine.serial_number, "x"), actor="tester")
    clock.advance(days=400)
    assert sorted(p.certificates.expire_due()) == sorted(
        format(c.serial_number, "x") for c in (lost, fine)
    )
    st = p.status.lookup(lost.serial_number)
    assert (st.status, st.reason, st.revoked_at) == ("revoked", "certificate_hold", held_at)
    assert p.status.lookup(fine.serial_number).status == "good"
    crl = x509.load_der_x509_crl(p.status.current_crl("issuing"))
    entry = crl.get_revoked_certificate_by_serial_number(lost.serial_number)
    assert entry is not None and entry.revocation_date_utc == held_at
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.certificate_hold
    )
    assert crl.get_revoked_certificate_by_serial_number(fine.serial_number) is None


@pytest.mark.parametrize("verb", ["revoke", "reissue"])
def test_a_revocation_after_a_loss_report_is_published_from_the_report(
    any_platform: Platform, clock, verb: str
) -> None:
    """Reported lost at T1 (certificateHold since T1), revoked at T2: the CRL and OCSP said
    "revoked at T2", so a relying party validating a signature made with the lost key between
    T1 and T2 was told the certificate was good then. The published date is now T1; the row
    still records T2 as the revocation's effective time."""
    p = any_platform
    cert = issue_certificate(p)
    serial, hexs = cert.serial_number, format(cert.serial_number, "x")
    clock.advance(minutes=5)
    reported = clock.now()
    p.certificates.report_loss(hexs, actor="张三（电话挂失）")
    clock.advance(days=2)
    if verb == "revoke":
        p.certificates.revoke(hexs, reason="stolen_or_forged", actor="受理员")
    else:
        p.certificates.reissue(hexs, actor="受理员", csr=make_csr())
    assert p.certificates.get(hexs).revoked_at == clock.now()
    st = p.status.lookup(serial)
    assert (st.status, st.reason, st.revoked_at) == ("revoked", "key_compromise", reported)
    crl = x509.load_der_x509_crl(p.status.current_crl("issuing"))
    entry = crl.get_revoked_certificate_by_serial_number(serial)
    assert entry is not None and entry.revocation_date_utc == reported


@pytest.mark.parametrize(
    "reason,rfc",
    [
        ("key_compromise", "key_compromise"),
        ("subject_changed", "affiliation_changed"),
        ("fees_unpaid", "privilege_withdrawn"),
        ("unspecified", "unspecified"),
    ],
)
def test_lookup_reason_mapping(any_platform: Platform, reason: str, rfc: str) -> None:
    cert = issue_certificate(any_platform)
    any_platform.certificates.revoke(format(cert.serial_number, "x"), reason=reason, actor="t")
    assert any_platform.status.lookup(cert.serial_number).reason == rfc


# --- CRL ---------------------------------------------------------------------------------------
def test_crl_resigned_only_when_revision_moves(any_platform: Platform, clock) -> None:
    p = any_platform
    first = p.status.current_crl("issuing")
    n = crl_number(first)
    assert n == unix(clock)  # the first CRL: its thisUpdate in Unix seconds
    assert p.status.current_crl("issuing") == first  # unchanged revision: the same CRL
    rows = crl_rows(p)

    cert = issue_certificate(p)
    assert p.status.current_crl("issuing") == first  # issuance is not a status change
    assert crl_rows(p) == rows

    hexs = format(cert.serial_number, "x")
    clock.advance(minutes=1)
    p.certificates.freeze(hexs, actor="t")  # publishes at once (this process can sign)
    assert crl_rows(p) == rows + 1
    held = p.status.current_crl("issuing")
    assert crl_number(held) == unix(clock) == n + 60  # a minute later: the clock's number
    entry = x509.load_der_x509_crl(held).get_revoked_certificate_by_serial_number(
        cert.serial_number
    )
    assert entry is not None
    assert (
        entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        == x509.ReasonFlags.certificate_hold
    )
    assert p.status.current_crl("issuing") == held

    p.certificates.unfreeze(hexs, actor="t")
    released = p.status.current_crl("issuing")
    assert crl_number(released) == n + 61  # the same second: the previous + 1
    assert cert.serial_number not in crl_serials(released)

    # close to nextUpdate the same revision is re-signed under a new number
    crl = x509.load_der_x509_crl(released)
    assert crl.next_update_utc - crl.last_update_utc == CRL_VALIDITY["issuing"]
    lead = CRL_VALIDITY["issuing"] - CRL_REFRESH_BEFORE["issuing"]
    clock.advance(seconds=lead.total_seconds() - 1)
    assert p.status.current_crl("issuing") == released
    clock.advance(seconds=2)
    refreshed = p.status.current_crl("issuing")
    assert crl_number(refreshed) == unix(clock) > n + 61
    assert x509.load_der_x509_crl(refreshed).last_update_utc == clock.now()
    assert crl_serials(refreshed) == crl_serials(released)


def test_root_crl_numbered_apart(any_platform: Platform) -> None:
    p = any_platform
    root = p.status.current_crl("root")
    crl = x509.load_der_x509_crl(root)
    assert crl.issuer == p.ca.certificate("root").subject
    assert crl.is_signature_valid(p.ca.certificate("root").public_key())
    assert len(crl) == 0
    # the root's CRL lists CA and TSA certificates: it lives months (docs/long-term-validation.md)
    assert (
        crl.next_update_utc - crl.last_update_utc == CRL_VALIDITY["root"] >= dt.timedelta(days=60)
    )
    cert = issue_certificate(p)
    p.certificates.revoke(format(cert.serial_number, "x"), reason="key_compromise", actor="t")
    assert p.status.current_crl("root") == root  # a leaf's revocation is not the root's
    issuing = x509.load_der_x509_crl(p.status.current_crl("issuing"))
    assert issuing.is_signature_valid(p.ca.certificate("issuing").public_key())
    assert cert.serial_number in {r.serial_number for r in issuing}


def test_process_that_cannot_sign_leaves_crl_to_server(any_platform: Platform, second) -> None:
    server = any_platform
    before = server.status.current_crl("issuing")
    rows = crl_rows(server)
    cert = issue_certificate(server)
    cli = second(can_sign=False)
    with pytest.raises(ConfigurationError):
        cli.ca.key("issuing")
    cli.certificates.revoke(format(cert.serial_number, "x"), reason="key_compromise", actor="t")
    assert crl_rows(server) == rows  # the CLI revoked but could not publish
    assert server.status.lookup(cert.serial_number).status == "revoked"
    after = server.status.current_crl("issuing")
    assert crl_number(after) == crl_number(before) + 1
    assert cert.serial_number in crl_serials(after)
    assert crl_rows(server) == rows + 1


def test_crl_published_by_other_process_is_served(any_platform: Platform, second) -> None:
    server = any_platform
    server.status.current_crl("issuing")
    cert = issue_certificate(server)
    cli = second()
    cli.certificates.revoke(format(cert.serial_number, "x"), reason="superseded", actor="t")
    latest = crl_rows(server)
    served = server.status.current_crl("issuing")
    assert cert.serial_number in crl_serials(served)
    assert crl_rows(server) == latest  # the CLI's CRL is served as is, not signed again


def test_concurrent_publishers_never_reuse_a_number(any_platform: Platform, second, clock) -> None:
    """Two processes publishing at once: neither fails (a loser may hand back the winner's CRL
    when it covers the same revision), and the stored numbers run on without a gap (the clock
    stands still: within one second each CRL is the previous one + 1)."""
    a, b = any_platform, second()
    a.status.current_crl("issuing")
    numbers: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def publish(p: Platform) -> None:
        try:
            barrier.wait()
            for _ in range(4):
                numbers.append(p.status.publish_crl("issuing").crl_number)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=publish, args=(p,)) for p in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(numbers) == 8
    with a.db.read() as s:
        stored = (
            s.execute(
                select(Crl.crl_number).where(Crl.issuer_role == "issuing").order_by(Crl.crl_number)
            )
            .scalars()
            .all()
        )
    assert stored == list(range(unix(clock), unix(clock) + len(stored)))
    assert set(numbers) <= set(stored)
    assert len(stored) >= 1 + len(set(numbers))


# --- OCSP -------------------------------------------------------------------------------------
def test_ocsp_cache_follows_status_version(any_platform: Platform, second, clock) -> None:
    p = any_platform
    issuer = p.ca.certificate("issuing")
    cert = issue_certificate(p)
    hexs = format(cert.serial_number, "x")
    req = ocsp_request(cert, issuer)

    good = p.ocsp.respond(req)
    assert parse_ok(good).certificate_status == ocsp.OCSPCertStatus.GOOD
    assert p.ocsp.respond(req) == good  # pre-signed: the very same bytes, no signing

    other = second()  # another process with its own cache, that saw "good" too
    assert parse_ok(other.ocsp.respond(req)).certificate_status == ocsp.OCSPCertStatus.GOOD

    clock.advance(seconds=30)
    other.certificates.freeze(hexs, actor="t")
    for responder in (p.ocsp, other.ocsp):
        held = responder.respond(req)
        r = parse_ok(held)
        assert r.certificate_status == ocsp.OCSPCertStatus.REVOKED
        assert r.revocation_reason == x509.ReasonFlags.certificate_hold
        assert r.revocation_time_utc == clock.now()
        assert responder.respond(req) == held

    p.certificates.unfreeze(hexs, actor="t")
    for responder in (p.ocsp, other.ocsp):
        again = responder.respond(req)
        assert parse_ok(again).certificate_status == ocsp.OCSPCertStatus.GOOD
        assert again != good

    # a cached response is re-signed once it is OCSP_RESIGN_AFTER old
    cached = p.ocsp.respond(req)
    clock.advance(seconds=OCSP_RESIGN_AFTER.total_seconds() - 1)
    assert p.ocsp.respond(req) == cached
    clock.advance(seconds=2)
    fresh = p.ocsp.respond(req)
    assert fresh != cached
    assert parse_ok(fresh).this_update_utc == clock.now()


def test_ocsp_revoked_with_reason(any_platform: Platform, clock) -> None:
    p = any_platform
    issuer = p.ca.certificate("issuing")
    cert = issue_certificate(p)
    req = ocsp_request(cert, issuer)
    p.ocsp.respond(req)
    p.certificates.revoke(format(cert.serial_number, "x"), reason="key_compromise", actor="t")
    r = parse_ok(p.ocsp.respond(req))
    assert r.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert r.revocation_reason == x509.ReasonFlags.key_compromise
    assert r.revocation_time_utc == clock.now()


@pytest.mark.parametrize("alg", list(HASHES))
def test_ocsp_each_certid_hash_cached_apart(any_platform: Platform, alg: str) -> None:
    p = any_platform
    issuer = p.ca.certificate("issuing")
    cert = issue_certificate(p)
    mine = p.ocsp.respond(ocsp_request(cert, issuer, alg))
    r = parse_ok(mine)
    assert r.hash_algorithm.name == HASHES[alg].name
    assert (r.issuer_name_hash, r.issuer_key_hash) == issuer_hashes(issuer, alg)
    assert r.serial_number == cert.serial_number
    other = "sha256" if alg != "sha256" else "sha1"
    theirs = p.ocsp.respond(ocsp_request(cert, issuer, other))
    assert parse_ok(theirs).hash_algorithm.name == HASHES[other].name
    assert p.ocsp.respond(ocsp_request(cert, issuer, alg)) == mine


def test_ocsp_nonce_always_signed_fresh(any_platform: Platform) -> None:
    p = any_platform
    issuer = p.ca.certificate("issuing")
    cert = issue_certificate(p)
    p.ocsp.respond(ocsp_request(cert, issuer))  # warm the nonce-less cache
    seen = set()
    for nonce in (b"\x01" * 16, b"\x02" * 16, b"n" * 32):
        der = p.ocsp.respond(ocsp_request(cert, issuer, nonce=nonce))
        r = parse_ok(der)
        assert r.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
        assert r.certificate_status == ocsp.OCSPCertStatus.GOOD
        seen.add(der)
    assert len(seen) == 3


def test_ocsp_unknown_serial(any_platform: Platform) -> None:
    p = any_platform
    issuer = p.ca.certificate("issuing")
    req = ocsp_request_for_serial(0x1234567890ABCDEF, issuer)
    r = parse_ok(p.ocsp.respond(req))
    assert r.certificate_status == ocsp.OCSPCertStatus.UNKNOWN
    assert r.serial_number == 0x1234567890ABCDEF


def test_ocsp_several_certids(any_platform: Platform) -> None:
    p = any_platform
    issuer = p.ca.certificate("issuing")
    good, bad = issue_certificate(p), issue_certificate(p)
    p.certificates.revoke(format(bad.serial_number, "x"), reason="key_compromise", actor="t")
    der = p.ocsp.respond(
        multi_request(
            [(good.serial_number, "sha256"), (bad.serial_number, "sha256"), (7, "sha256")], issuer
        )
    )
    r = parse_ok(der)
    got = {s.serial_number: s.certificate_status for s in r.responses}
    assert got == {
        good.serial_number: ocsp.OCSPCertStatus.GOOD,
        bad.serial_number: ocsp.OCSPCertStatus.REVOKED,
        7: ocsp.OCSPCertStatus.UNKNOWN,
    }


def test_ocsp_mixed_certid_hashes_never_misanswered(any_platform: Platform) -> None:
    """Each CertID is echoed with its own hash algorithm, or the request is refused. (It used
    to be answered with the first CertID's algorithm for all: certificates nobody asked about.)"""
    p = any_platform
    issuer = p.ca.certificate("issuing")
    a, b = issue_certificate(p), issue_certificate(p)
    der = p.ocsp.respond(
        multi_request([(a.serial_number, "sha1"), (b.serial_number, "sha256")], issuer)
    )
    resp = a_ocsp.OCSPResponse.load(der)
    if resp["response_status"].native != "successful":  # refusing is acceptable too
        assert resp["response_status"].native == "malformed_request"
        return
    r = parse_ok(der)
    for single in r.responses:
        want = "sha1" if single.serial_number == a.serial_number else "sha256"
        assert single.hash_algorithm.name == want
        assert (single.issuer_name_hash, single.issuer_key_hash) == issuer_hashes(issuer, want)


def test_ocsp_for_the_roots_certificates_by_its_own_responder(any_platform: Platform) -> None:
    p = any_platform
    root = p.ca.certificate("root")
    issuing = p.ca.certificate("issuing")
    der = p.ocsp.respond(ocsp_request(issuing, root))  # a CertID under the root
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
    responder = p.ca.certificate("root-ocsp")
    assert resp.certificates == [responder] and responder.issuer == root.subject
    assert resp.next_update_utc - resp.this_update_utc == dt.timedelta(days=90)
    # a CertID with another CA's name and key hashes is not ours to answer
    other = p.ca.certificate("ocsp")  # a leaf: we answer for nothing issued under it
    der = p.ocsp.respond(ocsp_request(issuing, other))
    assert a_ocsp.OCSPResponse.load(der)["response_status"].native == "unauthorized"


def test_status_urls_in_issued_certificate(any_platform: Platform) -> None:
    cert = issue_certificate(any_platform)
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert any(
        d.access_method == x509.AuthorityInformationAccessOID.OCSP
        and d.access_location.value.endswith("/ocsp")
        for d in aia
    )
    cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert cdp[0].full_name[0].value.endswith("/crl/issuing.crl")
    assert dt.timedelta(0) < cert.not_valid_after_utc - cert.not_valid_before_utc


def test_a_crl_published_by_another_process_meanwhile_is_served(make_platform, monkeypatch):
    """Two server workers: the second sees the status revision move between its two reads and
    finds the first worker's fresh CRL already covering it. It serves that CRL (it once looked
    for it in its own empty cache: KeyError in the CRL refresh loop)."""
    from sqlalchemy import func, select

    from yinxin.store.models import Crl

    a = make_platform()
    b = make_platform(home=a.settings.home, url=a.settings.database_url, init=False)
    published = a.status.publish_crl("issuing")
    real = b.status._revision
    calls: list[str] = []

    def stale_first(s, role):
        calls.append(role)
        revision = real(s, role)
        return revision - 1 if len(calls) == 1 else revision

    monkeypatch.setattr(b.status, "_revision", stale_first)
    with a.db.read() as s:
        before = s.execute(select(func.count(Crl.id))).scalar_one()
    der = b.status.current_crl("issuing")
    with a.db.read() as s:
        assert s.execute(select(func.count(Crl.id))).scalar_one() == before  # none re-signed
        latest = s.execute(select(Crl).order_by(Crl.id.desc()).limit(1)).scalar_one()
    assert der == latest.der and latest.crl_number == published.crl_number


def test_a_later_crl_number_never_carries_an_earlier_this_update(make_platform, clock, monkeypatch):
    """Two processes publishing the issuing CA's CRL: the first reads the clock (thisUpdate)
    and, before it reads the latest CRL number, the second publishes a CRL a few seconds
    later. The first's CRL, number N+2, carried a thisUpdate *before* CRL N+1's: a relying
    party keeping the one with the later thisUpdate (OpenSSL's CRL choice does) kept the
    older list. A CRL's thisUpdate is now never earlier than the CRL numbered before it.

    A read sees one moment now (``Database.read()``), so the first does not see the second's
    CRL at all: it makes a number from its read, finds in its transaction that a CRL was
    published meanwhile (``_still_latest``; numbered by the clock, its number differs from the
    second's and would be stored, its older list below a higher number) and serves the second's
    CRL. A publisher whose clock is behind the last CRL's thisUpdate (another machine's, within
    ``CRL_CLOCK_SLACK``) carries that thisUpdate forward, and numbers it the latest + 1."""
    a = make_platform()
    b = make_platform(home=a.settings.home, url=a.settings.database_url, init=False)
    a.status.publish_crl("issuing")
    real = a.status._latest_crl
    calls: list[str] = []

    def other_process_meanwhile(s, role):
        if not calls:
            calls.append(role)
            clock.advance(seconds=3)
            b.status.publish_crl("issuing")
        return real(s, role)

    monkeypatch.setattr(a.status, "_latest_crl", other_process_meanwhile)
    served = a.status.publish_crl("issuing")
    monkeypatch.undo()

    def crls() -> list[tuple[int, bytes]]:
        with a.db.read() as s:
            q = select(Crl.crl_number, Crl.der).where(Crl.issuer_role == "issuing")
            return [tuple(r) for r in s.execute(q.order_by(Crl.id)).all()]

    rows = crls()
    t = unix(clock) - 3  # the first CRL's second (then numbered so), the second's 3 s later
    assert [n for n, _ in rows] == [t, t + 3] and served.crl_number == t + 3  # served
    clock.advance(seconds=-2)  # a publisher whose clock is behind the second's
    a.status.publish_crl("issuing")
    rows = crls()
    assert [n for n, _ in rows] == [t, t + 3, t + 4]  # behind the latest's clock: + 1
    updates = [x509.load_der_x509_crl(der).last_update_utc for _, der in rows]
    assert updates == sorted(updates), updates


def test_a_crl_from_a_clock_gone_wrong_is_not_followed(make_platform, clock) -> None:
    """A CRL signed with a clock a day ahead does not drag every later CRL's thisUpdate (and
    nextUpdate) a day into the future: a thisUpdate is carried forward only within
    CRL_CLOCK_SLACK."""
    p = make_platform()
    now = clock.now().replace(microsecond=0)
    clock.set(now + dt.timedelta(days=1))
    p.status.publish_crl("issuing")
    clock.set(now)
    p.status.publish_crl("issuing")
    latest = x509.load_der_x509_crl(p.status.current_crl("issuing"))
    assert latest.last_update_utc == now
    assert latest.next_update_utc == now + CRL_VALIDITY["issuing"]
