"""An SM2 hierarchy side by side with the P-256 one, in one data directory (issue 15 §1).

``yinxin init`` makes the default (P-256) hierarchy and ``yinxin ca add-hierarchy --algorithm
sm2`` the SM2 one beside it, both through the real CLI, on a real SQLite file and on a real
PostgreSQL server. One person then holds an ECDSA certificate and two SM2 certificates (an
OpenSSL-made SM2 CSR, a platform-held SM2 key) at once; each chains to its own root and not to
the other (``openssl verify``); the SM2 one is revoked and only the SM2 CRL lists it; OCSP over
real HTTP (``yinxin serve``) answers revoked for it, good for the ECDSA one, unknown when the
serial is asked of the wrong CA; each TSA signs with its own hierarchy's key; pkilint finds
nothing in the P-256 artefacts. Bad input is refused by name with nothing written.

OpenSSL 3.0 gives an SM2 user ID (``-vfyopt distid:``) to the certificate it is asked about
only, so SM2 chains are checked link by link and the SM2 CRL and OCSP signatures with
``pkeyutl`` (as in ``test_sm2_ca``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from tests.clock import real_now
from tests.conftest import OUTPUT, PASSPHRASE
from tests.dbdump import dump
from tests.integration.server import running_server, yinxin_cli
from tests.integration.signing_flow import outbox_lines, read_code
from tests.integration.test_ca_lifecycle import enrol, id_number, issue
from tests.integration.test_sm2_ca import DISTID, openssl_checks_sm2, pkilint, run
from yinxin.app import Platform
from yinxin.clock import FrozenClock
from yinxin.ofd.make import make_ofd
from yinxin.ofd.sign import Placement
from yinxin.ofd.verify import verify_ofd
from yinxin.pki import sm2, sm2_x509
from yinxin.pki.authority import base_name
from yinxin.seals.ses_signature import check_ofd_value, parse_ses_signature
from yinxin.seals.seseal import parse_seseal
from yinxin.settings import Settings
from yinxin.store.models import AuthorityCertificate, Certificate

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
PIN = "135790"
DEFAULT_ROLES = ("root", "issuing", "ocsp", "root-ocsp", "tsa")
SM2_ROLES = tuple(f"sm2-{r}" for r in DEFAULT_ROLES)
LINKS = {"issuing": "root", "ocsp": "issuing", "root-ocsp": "root", "tsa": "root"}


@dataclass
class World:
    home: Path
    url: str
    env: dict[str, str]
    p: Platform
    before_add: dict  # the database before `yinxin ca add-hierarchy`
    default_rows: list  # the default hierarchy's authority rows before it
    key_files: dict[str, bytes]  # the default hierarchy's key files before it
    added: dict  # the JSON of `yinxin ca add-hierarchy`
    after_add: dict  # the database right after it
    pems: dict[str, Path] = field(default_factory=dict)
    certs: dict[str, x509.Certificate] = field(default_factory=dict)
    rows: dict[str, str] = field(default_factory=dict)  # name -> issuer_role
    serials: dict[str, str] = field(default_factory=dict)
    person_id: int = 0


def _key_files(home: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(home.rglob("*.key.pem"))}


def _authority_rows(p: Platform) -> list[tuple]:
    with p.db.read() as s:
        rows = s.execute(select(AuthorityCertificate).order_by(AuthorityCertificate.id)).scalars()
        return [(r.role, r.key_label, r.algorithm, r.serial_hex, r.der, r.active) for r in rows]


def _cli_json(args: list[str], w_env: dict[str, str], home: Path) -> dict | list:
    out = yinxin_cli([*args, "--json"], home, env=w_env)
    return json.loads(out.stdout)


def _openssl_sm2_csr(d: Path, cn: str) -> bytes:
    run("openssl", "genpkey", "-algorithm", "SM2", "-out", d / f"{cn}.key")
    run("openssl", "req", "-new", "-key", d / f"{cn}.key", "-sm3", "-sigopt", DISTID,
        "-subj", f"/CN={cn}", "-out", d / f"{cn}.csr")  # fmt: skip
    return (d / f"{cn}.csr").read_bytes()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def w(request, tmp_path_factory) -> Iterator[World]:
    """Both hierarchies made by the CLI; a person with an ECDSA certificate and two SM2 ones
    (OpenSSL's SM2 CSR, a platform-held SM2 key); the first SM2 one revoked."""
    home = tmp_path_factory.mktemp(f"sm2side-{request.param}")
    url = (
        request.getfixturevalue("pg_cluster").new_database()
        if request.param == "postgres"
        else f"sqlite:///{home / 'yinxin.db'}"
    )
    env = {"YINXIN_DATABASE_URL": url, "YINXIN_BASE_URL": "http://127.0.0.1:8000"}
    init = _cli_json(["init"], env, home)
    assert init["algorithm"] == "ec-p256"
    settings = Settings(home=home, database_url=url, base_url="http://127.0.0.1:8000")
    clock = FrozenClock(real_now())
    p = Platform(settings, clock=clock, passphrase=PASSPHRASE)
    before, rows, keys = dump(p), _authority_rows(p), _key_files(home)
    added = _cli_json(["ca", "add-hierarchy", "--algorithm", "sm2"], env, home)
    # from here on at or after the SM2 hierarchy's own moment: what it issues starts then
    clock.set(dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=1))
    world = World(home, url, env, p, before, rows, keys, added, dump(p))
    for role in (*DEFAULT_ROLES, *SM2_ROLES):
        world.pems[role] = home / f"{role}.pem"
        world.pems[role].write_bytes(p.ca.certificate(role).public_bytes(PEM))
    subs = enrol(p, 21)
    world.person_id = subs.person.id
    ecdsa = ec.generate_private_key(ec.SECP256R1())
    ecsr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(base_name("ignored"))
        .sign(ecdsa, hashes.SHA256())
        .public_bytes(PEM)
    )
    issued = {
        "ecdsa": issue(p, subs.person.id, csr=ecsr),
        "sm2": issue(p, subs.person.id, csr=_openssl_sm2_csr(home, "dual-sm2")),
        "sm2-platform": issue(p, subs.person.id, pin=PIN, algorithm="sm2"),
    }
    for name, view in issued.items():
        world.pems[name] = home / f"ee-{name}.pem"
        world.pems[name].write_text(view.pem)
        world.certs[name] = x509.load_pem_x509_certificate(view.pem.encode())
        world.serials[name] = view.serial
    with p.db.read() as s:
        for name, view in issued.items():
            world.rows[name] = s.execute(
                select(Certificate.issuer_role).where(Certificate.serial_hex == view.serial)
            ).scalar_one()
    p.certificates.revoke(issued["sm2"].serial, reason="key_compromise", actor="ra")
    # what was issued starts at the clock's moment, up to a second ahead of the real time that
    # openssl verify reads: a test right after it was refused "certificate is not yet valid"
    # (one run in three); wait for the real clock to reach it (under a second, once)
    while dt.datetime.now(dt.UTC) < clock.now():
        time.sleep(0.05)
    yield world
    p.close()


def verify(*args: str | Path) -> bool:
    """``openssl verify`` accepts (exit 0 and ": OK") or not."""
    out = run("openssl", "verify", "-x509_strict", *args, check=False)
    return out.returncode == 0 and out.stdout.strip().endswith(": OK")


def test_add_hierarchy_leaves_the_default_one_as_it_was(w: World) -> None:
    p = w.p
    assert _authority_rows(p)[: len(w.default_rows)] == w.default_rows
    assert {k: v for k, v in _key_files(w.home).items() if k in w.key_files} == w.key_files
    added = _authority_rows(p)[len(w.default_rows) :]
    assert [r[0] for r in added] == list(SM2_ROLES)
    assert {r[2] for r in added} == {"sm2"} and {r[2] for r in w.default_rows} == {"ec-p256"}
    assert [r[1] for r in added] == [
        "sm2-root-ca",
        "sm2-issuing-ca",
        "sm2-ocsp-responder",
        "sm2-root-ocsp-responder",
        "sm2-tsa",
    ]
    assert set(w.added["certificates"]) == set(SM2_ROLES) and w.added["algorithm"] == "sm2"
    # the SM2 hierarchy's names end in "SM2"; the default one's do not change
    for role in DEFAULT_ROLES:
        cn = x509.NameOID.COMMON_NAME
        side = p.ca.certificate(f"sm2-{role}").subject.get_attributes_for_oid(cn)[0].value
        default = p.ca.certificate(role).subject.get_attributes_for_oid(cn)[0].value
        assert side == f"{default} SM2", role
    # the add wrote its certificates, status revisions and audit events, nothing else; the
    # rows that were there are still there, unchanged
    after, before = w.after_add, w.before_add
    changed = {t for t in after if after[t] != before.get(t)}
    assert changed == {"authority_certificates", "status_revisions", "audit_events", "audit_head"}
    for table in changed - {"audit_head"}:  # the head of the hash chain moves on
        assert set(before[table]) < set(after[table]), table
    revisions = after["status_revisions"]
    assert {r[0] for r in revisions} == {"issuing", "root", "sm2-issuing", "sm2-root"}
    # the SM2 chain, link by link, as OpenSSL checks it; the key files are SM2 PKCS#8
    for target, anchor in LINKS.items():
        assert verify("-vfyopt", DISTID, "-partial_chain", "-CAfile", w.pems[f"sm2-{anchor}"],
                      w.pems[f"sm2-{target}"]), target  # fmt: skip
        assert not verify("-vfyopt", DISTID, "-partial_chain", "-CAfile", w.pems[anchor],
                          w.pems[f"sm2-{target}"]), target  # fmt: skip
    text = run("openssl", "x509", "-noout", "-text", "-in", w.pems["sm2-issuing"]).stdout
    assert text.count("SM2-with-SM3") == 2 and "URI:http://127.0.0.1:8000/crl/sm2-root.crl" in text
    key = next(w.home.rglob("sm2-issuing-ca.key.pem"))
    assert "ASN1 OID: SM2" in run("openssl", "pkey", "-in", key, "-passin", f"pass:{PASSPHRASE}",
                                  "-noout", "-text").stdout  # fmt: skip


def test_ca_status_shows_both_hierarchies(w: World) -> None:
    rows = _cli_json(["ca", "status"], w.env, w.home)
    assert [(r["hierarchy"], r["role"], r["algorithm"]) for r in rows] == [
        *(("default", r, "ec-p256") for r in DEFAULT_ROLES),
        *(("sm2", r, "sm2") for r in SM2_ROLES),
    ]
    by_role = {r["role"]: r for r in rows}
    assert by_role["sm2-issuing"]["crl_url"] == "http://127.0.0.1:8000/crl/sm2-issuing.crl"
    assert by_role["issuing"]["crl_url"] == "http://127.0.0.1:8000/crl/issuing.crl"
    assert by_role["sm2-tsa"]["crl_url"] is None
    assert (
        by_role["sm2-root"]["sha256"]
        == hashlib.sha256(w.p.ca.certificate("sm2-root").public_bytes(DER)).hexdigest()
    )
    text = yinxin_cli(["ca", "status"], w.home, env=w.env).stdout
    assert "default hierarchy (ec-p256)" in text and "sm2 hierarchy (sm2)" in text


def test_one_person_holds_ecdsa_and_sm2_certificates(w: World) -> None:
    """Each certificate is issued by its own hierarchy and chains to its own root only."""
    assert w.rows == {"ecdsa": "issuing", "sm2": "sm2-issuing", "sm2-platform": "sm2-issuing"}
    assert {c.subject for c in w.certs.values()} == {w.certs["ecdsa"].subject}  # one person
    # ECDSA: the whole chain to the P-256 root; not to the SM2 root, not under the SM2 CA
    assert verify("-CAfile", w.pems["root"], "-untrusted", w.pems["issuing"], w.pems["ecdsa"])
    assert not verify("-CAfile", w.pems["sm2-root"], "-untrusted", w.pems["sm2-issuing"],
                      w.pems["ecdsa"])  # fmt: skip
    assert not verify("-partial_chain", "-CAfile", w.pems["sm2-issuing"], w.pems["ecdsa"])
    for name in ("sm2", "sm2-platform"):
        # SM2: under the SM2 issuing CA, which is under the SM2 root (link by link)
        assert verify("-vfyopt", DISTID, "-partial_chain", "-CAfile", w.pems["sm2-issuing"],
                      w.pems[name]), name  # fmt: skip
        assert not verify("-vfyopt", DISTID, "-partial_chain", "-CAfile", w.pems["issuing"],
                          w.pems[name]), name  # fmt: skip
        assert not verify("-vfyopt", DISTID, "-CAfile", w.pems["root"], "-untrusted",
                          w.pems["issuing"], w.pems[name]), name  # fmt: skip
        sm2_x509.verify_issued_by(w.certs[name], w.p.ca.certificate("sm2-issuing"))
    assert verify("-vfyopt", DISTID, "-partial_chain", "-CAfile", w.pems["sm2-root"],
                  w.pems["sm2-issuing"])  # fmt: skip
    # the chain the API hands out is the certificate's own hierarchy's
    assert w.p.ca.chain_of(w.certs["sm2"]) == w.p.ca.chain("sm2")
    assert w.p.ca.chain_of(w.certs["ecdsa"]) == w.p.ca.chain()
    text = run("openssl", "x509", "-noout", "-text", "-in", w.pems["sm2"]).stdout
    assert "URI:http://127.0.0.1:8000/crl/sm2-issuing.crl" in text
    assert "CA Issuers - URI:http://127.0.0.1:8000/ca/sm2-issuing.cer" in text


def test_each_ca_publishes_its_own_crl(w: World, tmp_path: Path) -> None:
    p = w.p
    revoked = format(w.certs["sm2"].serial_number, "x")
    crls = {role: p.status.current_crl(role) for role in p.status.crl_roles()}
    assert set(crls) == {"issuing", "root", "sm2-issuing", "sm2-root"}
    sm2_crl = x509.load_der_x509_crl(crls["sm2-issuing"])
    assert [format(r.serial_number, "x") for r in sm2_crl] == [revoked]
    assert sm2_crl.issuer == p.ca.certificate("sm2-issuing").subject
    (tmp_path / "sm2.crl").write_bytes(crls["sm2-issuing"])
    text = run("openssl", "crl", "-inform", "DER", "-in", tmp_path / "sm2.crl", "-noout",
               "-text").stdout  # fmt: skip
    assert "SM2-with-SM3" in text and "Key Compromise" in text
    assert f"Serial Number: {revoked.upper().zfill(len(revoked) + len(revoked) % 2)}" in text
    openssl_checks_sm2(tmp_path, sm2_crl.tbs_certlist_bytes, sm2_crl.signature,
                       sm2_x509.public_key_of(p.ca.certificate("sm2-issuing")))  # fmt: skip
    # the P-256 CRL does not list it, and OpenSSL verifies it under the P-256 issuing CA
    (tmp_path / "p256.crl").write_bytes(crls["issuing"])
    out = run("openssl", "crl", "-inform", "DER", "-in", tmp_path / "p256.crl", "-noout",
              "-text", "-CAfile", w.pems["issuing"], "-verify")  # fmt: skip
    assert "verify OK" in out.stderr + out.stdout
    assert "No Revoked Certificates" in out.stdout
    assert list(x509.load_der_x509_crl(crls["issuing"])) == []
    pkilint("lint_crl", "-t", "CRL", "-p", "PKIX", tmp_path / "p256.crl")
    # each root's CRL is signed by that root
    for root in ("root", "sm2-root"):
        crl = x509.load_der_x509_crl(crls[root])
        assert crl.issuer == p.ca.certificate(root).subject
    sm2_x509.public_key_of(p.ca.certificate("sm2-root")).verify(
        x509.load_der_x509_crl(crls["sm2-root"]).signature,
        x509.load_der_x509_crl(crls["sm2-root"]).tbs_certlist_bytes,
    )


def test_pkilint_finds_nothing_in_the_p256_certificates(w: World, request) -> None:
    """The P-256 hierarchy's certificates and the ECDSA end-entity one (the same on either
    database, so linted once; pkilint starts slowly, so the six run at once)."""
    if "postgres" in request.node.callspec.id:
        pytest.skip("linted in the SQLite run: the certificates do not depend on the database")
    lint = Path(sys.executable).parent / "lint_pkix_cert"
    names = ("root", "issuing", "ocsp", "root-ocsp", "tsa", "ecdsa")
    procs = {
        name: subprocess.Popen(
            [str(lint), "lint", "-s", "WARNING", str(w.pems[name])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    }
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.strip() == "", (name, out, err)


def _ocsp(w: World, srv, issuer: str, cert: str | None, *extra: str | Path) -> str:
    which = ["-cert", w.pems[cert]] if cert else []
    out = run("openssl", "ocsp", "-issuer", w.pems[issuer], *which, "-url", srv.url("/ocsp"),
              *extra, check=False)  # fmt: skip
    return out.stdout + out.stderr


def test_over_http_ocsp_crls_certificates_and_timestamps(w: World, tmp_path: Path, request) -> None:
    """``yinxin serve`` answers for both hierarchies: OCSP picks the responder by the CertID's
    issuer hashes; the CRL and CA-certificate routes serve both; /tsa and /tsa/sm2 sign with
    their own hierarchy's TSA."""
    with running_server(w.home, env=w.env) as srv:
        # ECDSA: good, signed by the P-256 responder, verified by OpenSSL up to the P-256 root
        out = _ocsp(w, srv, "issuing", "ecdsa", "-CAfile", w.pems["root"],
                    "-respout", tmp_path / "ecdsa.resp")  # fmt: skip
        assert f"{w.pems['ecdsa']}: good" in out and "Response verify OK" in out, out
        pkilint("lint_ocsp_response", tmp_path / "ecdsa.resp")
        # SM2: revoked (keyCompromise), signed SM3withSM2 by the SM2 responder
        out = _ocsp(w, srv, "sm2-issuing", "sm2", "-VAfile", w.pems["sm2-ocsp"],
                    "-no_signature_verify", "-respout", tmp_path / "sm2.resp")  # fmt: skip
        assert f"{w.pems['sm2']}: revoked" in out and "Reason: keyCompromise" in out, out
        from tests.integration.test_sm2_ca import _ocsp_tbs_and_signature

        tbs, signature, basic = _ocsp_tbs_and_signature((tmp_path / "sm2.resp").read_bytes())
        assert basic["certs"][0].dump() == w.p.ca.certificate("sm2-ocsp").public_bytes(DER)
        openssl_checks_sm2(tmp_path, tbs, signature,
                           sm2_x509.public_key_of(w.p.ca.certificate("sm2-ocsp")))  # fmt: skip
        out = _ocsp(w, srv, "sm2-issuing", "sm2-platform", "-VAfile", w.pems["sm2-ocsp"],
                    "-no_signature_verify")  # fmt: skip
        assert f"{w.pems['sm2-platform']}: good" in out, out
        # a serial asked of the wrong CA is unknown there, whatever its status elsewhere
        # (-serial: the CertID names the CA given; -cert would take the certificate's issuer
        # name with the other CA's key hash, which no CA of ours matches: unauthorized)
        sm2_serial = hex(w.certs["sm2"].serial_number)
        out = _ocsp(w, srv, "issuing", None, "-serial", sm2_serial, "-CAfile", w.pems["root"])
        assert f"{sm2_serial}: unknown" in out and "Response verify OK" in out, out
        out = _ocsp(w, srv, "issuing", "sm2", "-CAfile", w.pems["root"])
        assert "unauthorized" in out, out
        ecdsa_serial = hex(w.certs["ecdsa"].serial_number)
        out = _ocsp(w, srv, "sm2-issuing", None, "-serial", ecdsa_serial, "-VAfile",
                    w.pems["sm2-ocsp"], "-no_signature_verify")  # fmt: skip
        assert f"{ecdsa_serial}: unknown" in out, out
        # the SM2 root's responder answers for the SM2 issuing CA
        out = _ocsp(w, srv, "sm2-root", "sm2-issuing", "-VAfile", w.pems["sm2-root-ocsp"],
                    "-no_signature_verify")  # fmt: skip
        assert f"{w.pems['sm2-issuing']}: good" in out, out
        # CRLs and CA certificates of both hierarchies
        with httpx.Client(base_url=srv.base, timeout=30) as c:
            for role in ("issuing", "root", "sm2-issuing", "sm2-root"):
                r = c.get(f"/crl/{role}.crl")
                assert r.status_code == 200, (role, r.text)
                assert x509.load_der_x509_crl(r.content).issuer == w.p.ca.certificate(role).subject
            listed = x509.load_der_x509_crl(c.get("/crl/sm2-issuing.crl").content)
            assert w.certs["sm2"].serial_number in [e.serial_number for e in listed]
            listed = x509.load_der_x509_crl(c.get("/crl/issuing.crl").content)
            assert w.certs["sm2"].serial_number not in [e.serial_number for e in listed]
            for role in (*DEFAULT_ROLES, *SM2_ROLES):
                r = c.get(f"/ca/{role}.cer")
                assert r.status_code == 200 and r.content == w.p.ca.certificate(role).public_bytes(
                    DER
                ), role
            for bad in ("/crl/sm3-issuing.crl", "/crl/sm2-tsa.crl", "/ca/sm2-nothing.cer",
                        "/tsa/sm9"):  # fmt: skip
                r = c.post(bad) if bad.startswith("/tsa") else c.get(bad)
                assert r.status_code == 404, (bad, r.text)
            status = c.get("/api/v1/public/status").json()
            assert status["crl"] == [
                f"{w.env['YINXIN_BASE_URL']}/crl/{r}.crl"
                for r in ("issuing", "root", "sm2-issuing", "sm2-root")
            ]
            assert {cc["role"] for cc in status["ca_certificates"]} >= {"sm2-root", "sm2-issuing"}
            assert status["tsas"] == {
                "default": f"{w.env['YINXIN_BASE_URL']}/tsa",
                "sm2": f"{w.env['YINXIN_BASE_URL']}/tsa/sm2",
            }
            # timestamps: /tsa by the P-256 TSA (OpenSSL verifies it), /tsa/sm2 by the SM2 one
            (tmp_path / "doc").write_bytes("两套体系 side by side".encode())
            run("openssl", "ts", "-query", "-data", tmp_path / "doc", "-sha256", "-cert",
                "-out", tmp_path / "q.tsq")  # fmt: skip
            query = (tmp_path / "q.tsq").read_bytes()
            headers = {"content-type": "application/timestamp-query"}
            default = c.post("/tsa", content=query, headers=headers)
            side = c.post("/tsa/sm2", content=query, headers=headers)
        if "sqlite" in request.node.callspec.id:  # the page is the same on either database
            status_page_in_a_browser(srv.url("/status"), w)
    (tmp_path / "default.tsr").write_bytes(default.content)
    chain = tmp_path / "ts-chain.pem"
    chain.write_bytes(w.pems["root"].read_bytes())
    out = run("openssl", "ts", "-verify", "-data", tmp_path / "doc", "-in",
              tmp_path / "default.tsr", "-CAfile", chain, check=False)  # fmt: skip
    assert "Verification: OK" in out.stdout, out.stdout + out.stderr
    reply = tsp.TimeStampResp.load(side.content)
    assert reply["status"]["status"].native == "granted"
    signed = reply["time_stamp_token"]["content"]
    assert signed["certificates"][0].chosen.dump() == w.p.ca.certificate("sm2-tsa").public_bytes(
        DER
    )
    signer = signed["signer_infos"][0]
    assert signer["signature_algorithm"]["algorithm"].dotted == sm2.OID_SM3_WITH_SM2
    attrs = signer["signed_attrs"].dump()
    sm2_x509.public_key_of(w.p.ca.certificate("sm2-tsa")).verify(
        signer["signature"].native, b"\x31" + attrs[1:]
    )


def status_page_in_a_browser(url: str, w: World) -> None:
    """The public status page (``/status``, Debian's chromium through Playwright) lists the SM2
    hierarchy's CRLs, TSA and CA certificates beside the default one's; screenshot under
    ``$YINXIN_TEST_OUTPUT/web/status-sm2-side-by-side.png``."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return  # the e2e suite needs it anyway; the HTTP checks above stand alone
    from playwright.sync_api import sync_playwright

    base = w.env["YINXIN_BASE_URL"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            page.locator("#ca-table tbody a").first.wait_for()
            status = page.locator("#status-table").inner_text()
            cas = page.locator("#ca-table").inner_text()
            (OUTPUT / "web").mkdir(parents=True, exist_ok=True)
            page.screenshot(
                path=str(OUTPUT / "web" / "status-sm2-side-by-side.png"), full_page=True
            )
        finally:
            browser.close()
    assert not errors, errors
    for path in ("/crl/issuing.crl", "/crl/sm2-issuing.crl", "/crl/sm2-root.crl", "/tsa/sm2"):
        assert base + path in status, (path, status)
    assert "根 CA 证书（SM2）" in cas and "签发 CA 证书（SM2）" in cas and "Root CA SM2" in cas


def test_refusals_write_nothing(w: World, tmp_path_factory, request) -> None:
    """A second SM2 hierarchy, an unknown algorithm, a non-SM2 one: refused by name (exit
    code and field), with the database and the key store exactly as they were."""
    before, keys = dump(w.p), _key_files(w.home)
    cases = [
        (["--algorithm", "sm2"], 6, "already has an SM2 hierarchy"),
        (["--algorithm", "sm9"], 2, "unknown key algorithm 'sm9'"),
        (["--algorithm", "ec-p384"], 2, "only an SM2 hierarchy"),
    ]
    for args, code, message in cases:
        out = yinxin_cli(["ca", "add-hierarchy", *args, "--json"], w.home, env=w.env, check=False)
        assert out.returncode == code, (args, out.stdout, out.stderr)
        problem = json.loads(out.stdout)
        assert problem["field"] == "algorithm" and message in problem["message"], (args, problem)
        assert dump(w.p) == before and _key_files(w.home) == keys, args
    if "postgres" in request.node.callspec.id:
        return  # the rest makes data directories of its own, on SQLite
    # beside an SM2 default hierarchy no second SM2 one; before `init`, none at all
    home = tmp_path_factory.mktemp("sm2-default")
    env = {"YINXIN_DATABASE_URL": f"sqlite:///{home / 'yinxin.db'}"}
    out = yinxin_cli(["ca", "add-hierarchy", "--algorithm", "sm2"], home, env=env, check=False)
    assert out.returncode == 3 and "yinxin init" in out.stdout + out.stderr
    assert _key_files(home) == {}
    yinxin_cli(["init", "--algorithm", "sm2"], home, env=env)
    keys = _key_files(home)
    out = yinxin_cli(["ca", "add-hierarchy", "--algorithm", "sm2"], home, env=env, check=False)
    assert out.returncode == 6 and "already sm2" in out.stdout + out.stderr
    assert _key_files(home) == keys


def test_an_sm2_seal_of_the_dual_instance_signs_an_ofd(w: World, request) -> None:
    """The seal on the person's SM2 certificate: its SESeal is made by the SM2 issuing CA, the
    OFD signature is stamped by the SM2 TSA, and the platform's verifier (trusting both
    hierarchies) calls it VALID. (SQLite only: the seal and OFD paths do not touch the
    database differently, and the run stays short.)"""
    if "postgres" in request.node.callspec.id:
        pytest.skip("the seal and OFD paths are the SQLite run's")
    p = w.p
    seal = p.seals.create(
        subscriber_id=w.person_id,
        kind="personal",
        certificate_serial=w.serials["sm2-platform"],
        form={
            "business_type": "new",
            "project": "双证书",
            "holder_name": "张三21",
            "id_type": "id_card",
            "id_number": id_number(21),
            "declaration_accepted": True,
        },
    )
    check = p.seals.verify_record(seal.es_id)
    assert check.ok, check
    seseal = parse_seseal(p.seals.artifacts(seal.es_id)["seal.ses"])
    assert seseal.maker_cert_der == p.ca.certificate("sm2-issuing").public_bytes(DER)
    doc = make_ofd([["合同", "", "乙方（签章）："]])
    outbox = p.settings.outbox_dir / "sms.jsonl"
    before = outbox_lines(outbox)
    ch = p.ofd_signing.request_confirmation(
        signer_subscriber_id=w.person_id, document=doc, document_name="合同.ofd"
    )
    signed = p.ofd_signing.sign(
        doc,
        seal=seal.es_id,
        pin=PIN,
        signer_subscriber_id=w.person_id,
        challenge_id=ch.challenge_id,
        code=read_code(outbox, "13800130021", after=before),
        placement=Placement(anchor="乙方（签章）", page=1),
        role="乙方",
        document_name="合同.ofd",
    )
    with zipfile.ZipFile(io.BytesIO(signed.data)) as z:
        value = parse_ses_signature(z.read("Doc_0/Signs/Sign_0/SignedValue.dat"))
    signed_data = cms.ContentInfo.load(value.timestamp_token)["content"]
    assert signed_data["certificates"][0].chosen.dump() == p.ca.certificate("sm2-tsa").public_bytes(
        DER
    )
    report = p.ofd_signing.verify(signed.data)
    assert report.valid, report.to_text()
    # trusting the P-256 hierarchy alone, it is not
    p256 = [p.ca.certificate(r).public_bytes(DER) for r in ("root", "issuing")]
    assert not verify_ofd(signed.data, check_ofd_value(p256, None)).valid


def test_archive_renewal_rolls_over_the_sm2_tsa_and_responders_too(make_platform, clock) -> None:
    """``yinxin archive renew`` keeps every hierarchy's TSA and OCSP responders current: a
    year on, the TSA certificates (5 years) have less than twice the longest margin (730
    days) left, both TSAs are rolled over, and the SM2 TSA then stamps with its new
    certificate."""
    p = make_platform("sqlite")
    p.ca.add_hierarchy("sm2")
    old = {r: p.ca.certificate(r).serial_number for r in ("tsa", "sm2-tsa")}
    clock.advance(days=366)
    report = p.archive.renew(margin=dt.timedelta(days=730), refresh=None)
    rolled = {r.role for r in report.rolled_over}
    assert {"tsa", "sm2-tsa"} <= rolled, rolled
    for role, serial in old.items():
        assert p.ca.certificate(role).serial_number != serial, role
    assert p.tsa.of("sm2").certificate().serial_number == p.ca.certificate("sm2-tsa").serial_number


def test_a_passphrase_that_does_not_open_the_default_keys_adds_nothing(tmp_path: Path) -> None:
    """``ca add-hierarchy`` with another YINXIN_CA_PASSPHRASE than ``init``'s sealed the SM2
    keys under it: a CA whose two hierarchies no one passphrase opened, so the server and
    the worker could sign only one hierarchy's CRLs. Refused now (exit 5, field passphrase,
    ``bad_passphrase``), no key made, no row written; the right passphrase adds it."""
    home = tmp_path / "home"
    env = {"YINXIN_DATABASE_URL": f"sqlite:///{home / 'yinxin.db'}"}
    yinxin_cli(["init"], home, env=env)
    keys = _key_files(home)
    p = Platform(Settings(home=home, database_url=env["YINXIN_DATABASE_URL"]))
    try:
        before = dump(p)
        other = "another passphrase than init's"
        out = yinxin_cli(
            ["ca", "add-hierarchy", "--algorithm", "sm2", "--json"],
            home,
            passphrase=other,
            env=env,
            check=False,
        )
        assert out.returncode == 5, out.stdout + out.stderr
        problem = json.loads(out.stdout)
        assert problem["field"] == "passphrase" and problem["error"] == "bad_passphrase", problem
        assert "default hierarchy" in problem["message"] and other not in out.stdout
        assert _key_files(home) == keys and dump(p) == before
        added = _cli_json(["ca", "add-hierarchy", "--algorithm", "sm2"], env, home)
        assert "sm2-issuing" in json.dumps(added)
    finally:
        p.close()
