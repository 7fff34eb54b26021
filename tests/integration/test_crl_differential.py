"""Every CRL we publish, judged by tools we did not write, as ``test_ocsp_differential`` does for
OCSP and ``test_tsa_differential`` for the TSA.

One data directory with both hierarchies (as ``yinxin init`` and ``yinxin ca add-hierarchy
--algorithm sm2`` make them), one real ``yinxin serve --no-jobs`` on 127.0.0.1 (the CRLs are signed
on fetch when the status moved; the jobs' own CRL refresh would only add CRLs nobody asked for),
the CRLs fetched from ``/crl/<role>.crl``. Each one is checked by ``openssl crl`` (its signature
under the CA certificate, its fields as ``-text`` prints them), ``openssl verify -crl_check`` (a
revoked leaf is refused, "certificate revoked"; a good one passes) and pkilint's ``lint_crl`` (no
finding at WARNING or above: we accept none), and its DER is read field by field against RFC 5280
§5: v2, the inner and outer signature algorithms alike, the issuer byte for byte the CA's subject
(UTF8String for the Chinese names), thisUpdate now and nextUpdate 7 days (issuing) / 90 days (root)
on, UTCTime before 2050, AKI the CA's SKI, a CRL number and a thisUpdate that only ever grow
(across processes too), no serial twice, no revocation date after thisUpdate, the reasonCode left
out for unspecified, none of removeFromCRL (a complete CRL simply drops a released hold).

OpenSSL 3.0 cannot pass an SM2 user ID to a CRL check (``openssl crl -CAfile`` says "verify
failure" for any SM3withSM2 CRL), so the SM2 CRLs' signatures are checked with ``openssl pkeyutl``
under the default ID (``test_sm2_ca.openssl_checks_sm2``); pkilint reads them like the others.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from asn1crypto import crl as a_crl
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from tests.integration.server import (
    PASSPHRASE,
    Server,
    issue_certificate,
    running_server,
    yinxin_cli,
)
from tests.integration.test_sm2_ca import openssl_checks_sm2
from tests.integration.test_status_http import _lint_all, client, run  # noqa: F401  (fixture)
from yinxin.app import Platform
from yinxin.pki import sm2_x509
from yinxin.settings import Settings
from yinxin.store.models import Certificate

PEM = serialization.Encoding.PEM
VALIDITY = {"issuing": dt.timedelta(days=7), "root": dt.timedelta(days=90)}
SKEW = dt.timedelta(minutes=5)
# our revocation reasons -> what `openssl crl -text` prints for the reasonCode (None: absent)
OPENSSL_REASON = {
    "key_compromise": "Key Compromise",
    "stolen_or_forged": "Key Compromise",
    "superseded": "Superseded",
    "no_longer_needed": "Cessation Of Operation",
    "subject_changed": "Affiliation Changed",
    "fees_unpaid": "Privilege Withdrawn",
    "unspecified": None,
}


@dataclass
class Env:
    home: Path
    files: Path
    local: Platform
    server: Server
    empty: dict[str, bytes]  # each CA's first CRL, fetched before anything was revoked
    numbers: dict[str, list[int]] = field(default_factory=dict)  # every CRL number seen

    def pem(self, role: str) -> Path:
        path = self.files / f"{role}.pem"
        path.write_bytes(self.local.ca.certificate(role).public_bytes(PEM))
        return path

    def chain(self, hierarchy: str = "") -> Path:
        prefix = f"{hierarchy}-" if hierarchy else ""
        path = self.files / f"{prefix}chain.pem"
        path.write_bytes(
            b"".join(
                self.local.ca.certificate(prefix + r).public_bytes(PEM) for r in ("issuing", "root")
            )
        )
        return path


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("crl-diff")
    home, files = base / "home", base / "files"
    files.mkdir()
    local = Platform(
        Settings(home=home, database_url=f"sqlite:///{home / 'yinxin.db'}"), passphrase=PASSPHRASE
    )
    try:
        local.ca.init("ec-p256")  # as `yinxin init` and `yinxin ca add-hierarchy` do
        local.ca.add_hierarchy("sm2")
        with running_server(home, args=["--no-jobs"]) as server:
            with httpx.Client(base_url=server.base, timeout=10) as c:
                empty = {role: fetch(c, role) for role in local.status.crl_roles()}
            yield Env(home, files, local, server, empty)
            assert server.alive(), server.log()
            assert "Traceback" not in server.log(), server.log()
    finally:
        local.close()


# ``client`` (imported from test_status_http): an httpx client of this module's ``env`` server


@pytest.fixture
def new_cert(env: Env) -> Callable[[], tuple[x509.Certificate, Path]]:
    def make() -> tuple[x509.Certificate, Path]:
        cert = issue_certificate(env.local)
        pem = env.files / f"{cert.serial_number:x}.pem"
        pem.write_bytes(cert.public_bytes(PEM))
        return cert, pem

    return make


def fetch(client: httpx.Client, role: str = "issuing") -> bytes:
    r = client.get(f"/crl/{role}.crl")
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/pkix-crl"
    assert int(r.headers["content-length"]) == len(r.content)
    return r.content


def serial_hex(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def revoke(env: Env, cert: x509.Certificate, reason: str) -> None:
    env.local.certificates.revoke(serial_hex(cert), reason=reason, actor="crl-diff")


def openssl_text(path: Path) -> str:
    out = run("openssl", "crl", "-inform", "DER", "-in", path, "-noout", "-text")
    assert out.returncode == 0, out.stderr
    return out.stdout


def openssl_entries(text: str) -> dict[int, str | None]:
    """serial -> reason as ``openssl crl -text`` prints the revoked certificates."""
    out: dict[int, str | None] = {}
    for block in re.split(r"\n\s*Serial Number: ", text.split("Revoked Certificates:", 1)[-1])[1:]:
        serial = int(block.split()[0], 16)
        m = re.search(r"X509v3 CRL Reason Code: *\n\s*(.+)", block)
        out[serial] = m.group(1).strip() if m else None
    return out


def judge(env: Env, name: str, der: bytes, role: str, lint: dict[str, list[str | Path]]) -> str:
    """What RFC 5280 §5 asks of ``der``, a CRL of ``role`` (fields read here, the signature
    by openssl); adds its pkilint run to ``lint``; returns ``openssl crl -text``."""
    issuer = env.local.ca.certificate(role)
    path = env.files / f"{name}.crl"
    path.write_bytes(der)
    sm2 = role.startswith("sm2-")
    if sm2:
        crl = x509.load_der_x509_crl(der)
        openssl_checks_sm2(
            env.files, crl.tbs_certlist_bytes, crl.signature, sm2_x509.public_key_of(issuer)
        )
    else:
        out = run("openssl", "crl", "-inform", "DER", "-in", path, "-CAfile", env.pem(role),
                  "-noout")  # fmt: skip
        assert out.returncode == 0 and "verify OK" in out.stdout + out.stderr, (name, out)

    parsed = a_crl.CertificateList.load(der)
    assert parsed.dump(force=True) == der, f"{name}: not DER"
    tbs = parsed["tbs_cert_list"]
    assert tbs["version"].native == "v2", name
    assert tbs["signature"].dump() == parsed["signature_algorithm"].dump(), name
    subject = a_x509.Certificate.load(issuer.public_bytes(serialization.Encoding.DER)).subject
    assert tbs["issuer"].dump() == subject.dump(), f"{name}: issuer is not the CA's subject"
    for rdn in tbs["issuer"].chosen:
        for atv in rdn:
            value = atv["value"]
            if atv["type"].native in ("common_name", "organization_name"):
                assert value.name == "utf8_string", (name, atv["type"].native, value.name)

    now = dt.datetime.now(dt.UTC)
    this, nxt = tbs["this_update"], tbs["next_update"]
    for t in (this, nxt):  # RFC 5280 §5.1.2.4: UTCTime through 2049, GeneralizedTime after
        assert t.name == ("utc_time" if t.native.year < 2050 else "general_time"), name
    assert now - SKEW <= this.native <= now + dt.timedelta(seconds=2), (name, this.native)
    base = role.removeprefix("sm2-")
    assert nxt.native - this.native == VALIDITY[base], (name, this.native, nxt.native)

    exts = {e["extn_id"].native: e for e in tbs["crl_extensions"]}
    assert set(exts) == {"authority_key_identifier", "crl_number"}, (name, set(exts))
    assert not any(e["critical"].native for e in exts.values()), name
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    aki = exts["authority_key_identifier"]["extn_value"].parsed
    assert aki["key_identifier"].native == ski, f"{name}: AKI is not the CA's SKI"
    assert aki["authority_cert_issuer"].native is None, name
    number = exts["crl_number"]["extn_value"].parsed.native
    seen = env.numbers.setdefault(role, [])
    # the same CRL may be served again; a new one has a greater number
    assert not seen or number >= seen[-1], f"{name}: CRL number {number} after {seen}"
    if not seen or number > seen[-1]:
        seen.append(number)

    serials = []
    for entry in tbs["revoked_certificates"]:
        serials.append(entry["user_certificate"].native)
        when = entry["revocation_date"]
        assert when.native <= this.native, name
        assert when.name == ("utc_time" if when.native.year < 2050 else "general_time"), name
        for e in entry["crl_entry_extensions"]:
            assert e["extn_id"].native == "crl_reason", name
            assert e["extn_value"].parsed.native not in ("unspecified", "remove_from_crl"), name
    assert len(serials) == len(set(serials)), f"{name}: a serial listed twice"
    assert all(0 < s < 1 << 159 for s in serials), name

    text = openssl_text(path)
    assert "Version 2 (0x1)" in text and f"CRL Number: \n                {number}\n" in text
    assert len(openssl_entries(text)) == len(serials), name
    kind = "ARL" if base == "root" else "CRL"
    lint[name] = ["lint_crl", "-t", kind, "-p", "PKIX", "-s", "WARNING", path]
    return text


def lint_clean(lint: dict[str, list[str | Path]]) -> None:
    findings = {k: v for k, v in _lint_all(lint).items() if v}
    assert not findings, findings


def openssl_verify(env: Env, crl: bytes, leaf: Path) -> tuple[bool, str]:
    path = env.files / "verify.crl"
    path.write_bytes(crl)
    out = run("openssl", "verify", "-crl_check", "-CRLfile", path,
              "-CAfile", env.chain(), leaf)  # fmt: skip
    return out.returncode == 0, out.stdout + out.stderr


# --- the cases ---------------------------------------------------------------------------------
def test_fresh_ca_crls_are_empty_and_sound(env: Env) -> None:
    """Right after ``yinxin init`` (and the SM2 hierarchy beside it): each CA's CRL is
    numbered by its thisUpdate in Unix seconds (a CA's first: ``next_crl_number``), with no
    entries, and every tool accepts it."""
    lint: dict[str, list[str | Path]] = {}
    assert set(env.empty) == {"issuing", "root", "sm2-issuing", "sm2-root"}
    for role, der in env.empty.items():
        text = judge(env, f"empty-{role}", der, role, lint)
        assert "No Revoked Certificates." in text, text
        crl = x509.load_der_x509_crl(der)
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        assert number == int(crl.last_update_utc.timestamp()), (role, number)
    lint_clean(lint)


def test_each_reason_openssl_and_pkilint(env: Env, new_cert, client: httpx.Client) -> None:
    """A certificate revoked for each reason we allow, one on hold, one held and released,
    one held then revoked: the CRL lists each with the RFC 5280 reasonCode (none for
    unspecified, certificateHold for the hold), dated when it stopped being trusted; openssl
    refuses each listed leaf and passes the good and the released one."""
    good, good_pem = new_cert()
    revoked: dict[str, tuple[x509.Certificate, Path]] = {}
    for reason in OPENSSL_REASON:
        revoked[reason] = new_cert()
        revoke(env, revoked[reason][0], reason)
    held, held_pem = new_cert()
    yinxin_cli(["cert", "freeze", serial_hex(held)], env.home)
    released, released_pem = new_cert()
    env.local.certificates.freeze(serial_hex(released), actor="crl-diff")
    env.local.certificates.unfreeze(serial_hex(released), actor="crl-diff")
    held_then_revoked, htr_pem = new_cert()
    env.local.certificates.freeze(serial_hex(held_then_revoked), actor="crl-diff")
    with env.local.db.read() as s:
        hold_start = s.execute(
            select(Certificate.held_at).where(
                Certificate.serial_hex == serial_hex(held_then_revoked)
            )
        ).scalar_one()
    revoke(env, held_then_revoked, "key_compromise")

    der = fetch(client)
    lint: dict[str, list[str | Path]] = {}
    entries = openssl_entries(judge(env, "reasons", der, "issuing", lint))
    want = {c.serial_number: OPENSSL_REASON[r] for r, (c, _) in revoked.items()}
    want[held.serial_number] = "Certificate Hold"
    want[held_then_revoked.serial_number] = "Key Compromise"
    assert {s: entries.get(s, "absent") for s in want} == want
    for absent in (good, released):
        assert absent.serial_number not in entries
    crl = x509.load_der_x509_crl(der)
    entry = crl.get_revoked_certificate_by_serial_number(held_then_revoked.serial_number)
    assert entry is not None and hold_start is not None
    assert entry.revocation_date_utc == hold_start.replace(microsecond=0, tzinfo=dt.UTC)

    for name, (_, pem) in [*revoked.items(), ("held", (held, held_pem)), ("htr", (0, htr_pem))]:
        ok, out = openssl_verify(env, der, pem)
        assert not ok and "certificate revoked" in out, (name, out)
    for pem in (good_pem, released_pem):
        ok, out = openssl_verify(env, der, pem)
        assert ok, out
    lint_clean(lint)


def test_revoked_twice_is_refused_and_the_crl_stays(
    env: Env, new_cert, client: httpx.Client
) -> None:
    cert, pem = new_cert()
    yinxin_cli(["cert", "revoke", serial_hex(cert), "--reason", "superseded"], env.home)
    first = fetch(client)
    again = yinxin_cli(
        ["cert", "revoke", serial_hex(cert), "--reason", "key_compromise", "--json"],
        env.home,
        check=False,
    )
    assert again.returncode == 4, (again.stdout, again.stderr)  # an illegal transition
    assert json.loads(again.stdout)["error"] == "illegal_transition", again.stdout
    assert fetch(client) == first  # nothing changed: the same CRL, not a re-signed one
    lint: dict[str, list[str | Path]] = {}
    entries = openssl_entries(judge(env, "twice", first, "issuing", lint))
    assert entries[cert.serial_number] == "Superseded"
    ok, out = openssl_verify(env, first, pem)
    assert not ok and "certificate revoked" in out, out
    lint_clean(lint)


def _copies(env: Env, template: x509.Certificate, count: int) -> list[int]:
    """``count`` more rows like ``template``'s, each with its own random serial (some with the
    top bit set, so a leading zero octet) and key digest: issuing 300 certificates through the
    services takes longer than this whole module may. Revocation and the CRL, what is judged
    here, go through the services as for any certificate."""
    serials = [secrets.randbits(127 + i % 2) | 1 << (126 + i % 2) for i in range(count)]
    with env.local.db.transaction() as s:
        row = s.execute(
            select(Certificate).where(Certificate.serial_hex == serial_hex(template))
        ).scalar_one()
        cols = [c.key for c in Certificate.__table__.columns if c.key != "id"]
        base = {c: getattr(row, c) for c in cols}
        s.execute(
            Certificate.__table__.insert(),
            [
                {**base, "serial_hex": format(n, "x"), "spki_sha256": secrets.token_hex(32)}
                for n in serials
            ],
        )
    return serials


def test_three_hundred_revocations(env: Env, new_cert, client: httpx.Client) -> None:
    last, last_pem = new_cert()
    serials = [*_copies(env, last, 299), last.serial_number]
    reasons = list(OPENSSL_REASON)
    for i, n in enumerate(serials):
        env.local.certificates.revoke(format(n, "x"), reason=reasons[i % 7], actor="crl-diff")
    der = fetch(client)
    assert len(der) > 300 * 30
    lint: dict[str, list[str | Path]] = {}
    entries = openssl_entries(judge(env, "many", der, "issuing", lint))
    assert {n: entries.get(n, "absent") for n in serials} == {
        n: OPENSSL_REASON[reasons[i % 7]] for i, n in enumerate(serials)
    }
    ok, out = openssl_verify(env, der, last_pem)
    assert not ok and "certificate revoked" in out, out
    lint_clean(lint)


def test_crl_number_grows_across_processes(env: Env, new_cert, client: httpx.Client) -> None:
    """The CRL number and thisUpdate of the issuing CA's CRL only ever grow: a revocation in
    another process (the ``yinxin`` CLI), then a process started afresh on the same data
    directory publishing (as a restarted server does), then the running server again."""
    lint: dict[str, list[str | Path]] = {}
    before = fetch(client)
    cert, _ = new_cert()
    yinxin_cli(["cert", "revoke", serial_hex(cert), "--reason", "superseded"], env.home)
    by_cli = fetch(client)
    fresh = Platform(
        Settings(home=env.home, database_url=f"sqlite:///{env.home / 'yinxin.db'}"),
        passphrase=PASSPHRASE,
        migrate=False,
    )
    try:
        fresh.status.publish_crl("issuing")
        restarted = fresh.status.current_crl("issuing")
    finally:
        fresh.close()
    # the running server follows: the same list (same status revision), but never a CRL
    # numbered before one another process has published (it went on serving the CLI's)
    assert fetch(client) == restarted
    crls = [x509.load_der_x509_crl(d) for d in (before, by_cli, restarted)]
    numbers = [c.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number for c in crls]
    assert numbers[0] < numbers[1] < numbers[2], numbers
    updates = [c.last_update_utc for c in crls]
    assert updates == sorted(updates), updates
    assert cert.serial_number in {r.serial_number for r in crls[2]}
    for name, der in (("by-cli", by_cli), ("restarted", restarted)):
        judge(env, name, der, "issuing", lint)
    lint_clean(lint)


def crl_number(der: bytes) -> int:
    crl = x509.load_der_x509_crl(der)
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_no_older_crl_from_another_server(env: Env, client: httpx.Client) -> None:
    """Two servers on one database (``--workers 2``, or two hosts behind a load balancer): once
    one of them has served a CRL, the other never serves a lower-numbered one. A CRL of the
    same status revision signed elsewhere (``publish_crl_for`` in the process that revoked,
    after the server had already signed that revision on a fetch) was ignored by a server that
    had cached its own: a relying party asking each in turn got CRL n+1, then CRL n again,
    until the daily refresh. A 304 is only for the CRL the server now serves."""
    for role in ("issuing", "sm2-root"):
        url = f"/crl/{role}.crl"
        served = client.get(url)  # this server now holds its CRL
        old = served.content
        env.local.status.publish_crl(role)  # another process signs a newer one, same revision
        newer = env.local.status.current_crl(role)
        assert crl_number(newer) > crl_number(old), role
        with running_server(env.home, args=["--no-jobs"]) as other:
            with httpx.Client(base_url=other.base, timeout=10) as c2:
                assert fetch(c2, role) == newer, role  # a server started now serves it
            assert "Traceback" not in other.log(), other.log()
        again = client.get(url)
        assert again.status_code == 200
        assert crl_number(again.content) >= crl_number(newer), (role, crl_number(again.content))
        assert again.content == newer, role
        stale = client.get(url, headers={"if-none-match": served.headers["etag"]})
        assert stale.status_code == 200 and stale.content == newer, role
        lint: dict[str, list[str | Path]] = {}
        judge(env, f"other-server-{role}", again.content, role, lint)
        lint_clean(lint)


def test_http_answers(env: Env, client: httpx.Client) -> None:
    """Content-Type application/pkix-crl (RFC 2585); HEAD is GET without the body, with the
    same caching headers; any other name under /crl/ is 404, never 500."""
    for role in ("issuing", "root", "sm2-issuing", "sm2-root"):
        get = client.get(f"/crl/{role}.crl")
        head = client.head(f"/crl/{role}.crl")
        assert get.status_code == head.status_code == 200
        assert head.content == b""
        for h in ("content-type", "content-length", "last-modified", "expires", "etag",
                  "cache-control"):  # fmt: skip
            assert head.headers.get(h) == get.headers.get(h), (role, h)
    for path in ("/crl/other.crl", "/crl/.crl", "/crl/ISSUING.crl", "/crl/ocsp.crl",
                 "/crl/tsa.crl", "/crl/rsa-issuing.crl", "/crl/sm2-.crl", "/crl/x/issuing.crl",
                 "/crl/issuing.der", "/crl/", "/crl/issuing.crl/x", "/crl/%00.crl",
                 "/crl/issuing.crl%00", "/crl/" + "a" * 3000 + ".crl"):  # fmt: skip
        for method in ("GET", "HEAD"):
            r = client.request(method, path)
            assert r.status_code == 404, (method, path, r.status_code, r.text[:200])
    r = client.post("/crl/issuing.crl", content=b"x")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD", r


def test_after_issuing_ca_rollover(env: Env, new_cert, client: httpx.Client) -> None:
    """The issuing CA re-certified (same name, same key, a later certificate): its CRL names
    the new certificate's SKI, and openssl checks old and new leaves against it."""
    old, old_pem = new_cert()
    revoke(env, old, "key_compromise")
    env.local.ca.rollover("issuing", actor="crl-diff")
    new, new_pem = new_cert()
    der = fetch(client)
    lint: dict[str, list[str | Path]] = {}
    judge(env, "rollover", der, "issuing", lint)
    ok, out = openssl_verify(env, der, old_pem)
    assert not ok and "certificate revoked" in out, out
    ok, out = openssl_verify(env, der, new_pem)
    assert ok, out
    revoke(env, new, "superseded")
    der = fetch(client)
    entries = openssl_entries(judge(env, "rollover-2", der, "issuing", lint))
    assert entries[new.serial_number] == "Superseded"
    lint_clean(lint)


def test_http_caching(env: Env, client: httpx.Client) -> None:
    """A CRL tells HTTP caches what it says inside (as OCSP answers do): Last-Modified its
    thisUpdate, Expires its nextUpdate, an ETag of its bytes, a public max-age of a minute at
    most and never past nextUpdate. A conditional GET or HEAD whose If-None-Match names the ETag,
    or (without If-None-Match) whose If-Modified-Since is after thisUpdate, is answered 304
    with no body and the same validators (RFC 9110 §13.1); otherwise the full CRL (every
    conditional GET was a full 200: no validators were sent)."""
    from email.utils import format_datetime, parsedate_to_datetime

    for role in ("issuing", "root", "sm2-issuing", "sm2-root"):
        url = f"/crl/{role}.crl"
        full = client.get(url)
        assert full.status_code == 200
        crl = x509.load_der_x509_crl(full.content)
        h = full.headers
        assert parsedate_to_datetime(h["last-modified"]) == crl.last_update_utc, role
        assert parsedate_to_datetime(h["expires"]) == crl.next_update_utc, role
        etag = f'"{hashlib.sha256(full.content).hexdigest()}"'
        assert h["etag"] == etag, role
        directives = {d.strip() for d in h["cache-control"].split(",")}
        assert {"public", "no-transform", "must-revalidate"} <= directives, h
        (max_age,) = [int(d[8:]) for d in directives if d.startswith("max-age=")]
        date = parsedate_to_datetime(h["date"])
        assert 0 < max_age <= 60, h
        assert date + dt.timedelta(seconds=max_age) <= crl.next_update_utc, h

        this = crl.last_update_utc
        later = format_datetime(this + dt.timedelta(hours=1), usegmt=True)
        earlier = format_datetime(this - dt.timedelta(seconds=1), usegmt=True)
        same = format_datetime(this, usegmt=True)
        unmodified = [
            {"if-none-match": etag},
            {"if-none-match": f"W/{etag}"},  # If-None-Match compares weakly
            {"if-none-match": f'"00", {etag}'},
            {"if-none-match": "*"},
            {"if-modified-since": later},
            {"if-none-match": etag, "if-modified-since": earlier},  # If-None-Match wins
        ]
        modified = [
            {"if-none-match": '"00"'},
            {"if-none-match": '"00"', "if-modified-since": later},  # If-None-Match wins
            {"if-modified-since": earlier},
            # a CRL signed later in the same second (a second revocation) has the same
            # Last-Modified: the date alone cannot tell them apart, so it is answered in full
            {"if-modified-since": same},
            {"if-modified-since": "not a date"},  # an invalid date is ignored
        ]
        for method in ("GET", "HEAD"):
            for headers in unmodified:
                r = client.request(method, url, headers=headers)
                assert r.status_code == 304, (role, method, headers, r.status_code)
                assert r.content == b"", (role, method, headers)
                for name in ("etag", "last-modified", "expires", "cache-control"):
                    assert r.headers.get(name) == h[name], (role, method, headers, name)
            for headers in modified:
                r = client.request(method, url, headers=headers)
                assert r.status_code == 200, (role, method, headers, r.status_code)
                assert r.headers["etag"] == etag
                if method == "GET":
                    assert r.content == full.content
        path = env.files / f"cached-{role}.crl"
        path.write_bytes(full.content)
        assert "Version 2 (0x1)" in openssl_text(path)


@pytest.mark.parametrize("algorithm", ["rsa-2048", "ec-p384"])
def test_other_algorithms(env: Env, tmp_path: Path, algorithm: str) -> None:
    """A CA made with ``--algorithm`` rsa-2048 or ec-p384 (in-process, no server: the HTTP side
    is the same): its CRLs, one certificate revoked, judged as the P-256 ones."""
    home = tmp_path / "home"
    local = Platform(
        Settings(home=home, database_url=f"sqlite:///{home / 'yinxin.db'}"), passphrase=PASSPHRASE
    )
    try:
        local.ca.init(algorithm)
        other = Env(home, tmp_path, local, env.server, {})
        cert = issue_certificate(local)
        leaf = tmp_path / "leaf.pem"
        leaf.write_bytes(cert.public_bytes(PEM))
        revoke(other, cert, "no_longer_needed")
        lint: dict[str, list[str | Path]] = {}
        for role in ("issuing", "root"):
            text = judge(other, f"{algorithm}-{role}", local.status.current_crl(role), role, lint)
        assert "No Revoked Certificates." in text  # the root's
        ok, out = openssl_verify(other, local.status.current_crl("issuing"), leaf)
        assert not ok and "certificate revoked" in out, out
        lint_clean(lint)
    finally:
        local.close()
