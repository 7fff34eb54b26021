"""kill -9 at random points: init, issuance, seal creation, signing and revocation.

Each operation runs in a process of its own (``crash_worker``), as a CLI command would, and is
killed with SIGKILL at a random moment of its run, several times; then it is run once more to
completion. Afterwards: the command works (or says, cleanly, that the work was already done),
the work was done exactly once, no orphan record or file is left, the audit chain is intact,
and CRL and OCSP agree with the database. The moments are drawn from a seeded generator over
the operation's measured duration, so a failure can be replayed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import select

from tests.dbdump import count
from tests.fixtures.samples import contract_pdf
from tests.integration.signing_flow import build_world, outbox_lines, read_code
from yinxin.app import Platform
from yinxin.identity import id_card_check_char, org_code_check_char, uscc_check_char
from yinxin.pdf.verify import verify_pdf
from yinxin.settings import Settings
from yinxin.store.models import AuditEvent, Certificate
from yinxin.store.models.seals import Seal
from yinxin.store.models.signing import SignatureRecord

REPO = Path(__file__).resolve().parents[2]


def id_number(body17: str) -> str:
    return body17 + id_card_check_char(body17)


def uscc(org8: str) -> str:
    body = "91310000" + org8 + org_code_check_char(org8)
    return body + uscc_check_char(body)


PASSPHRASE = "kill -9 harness passphrase"
KILLS = 3  # killed runs per operation, before the run that completes
SEED = 20261201


def run(home: Path, verb: str, args: dict, kill_after: float | None = None) -> tuple[int, str]:
    """Run the worker; with ``kill_after``, SIGKILL it after that many seconds."""
    env = {**os.environ, "YINXIN_CA_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(REPO)}
    env.pop("YINXIN_DATABASE_URL", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.stress.crash_worker",
            str(home),
            verb,
            json.dumps(args, ensure_ascii=False),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=180)
    return proc.returncode, out + err


def timed(home: Path, verb: str, args: dict) -> float:
    t = time.monotonic()
    rc, out = run(home, verb, args)
    assert rc == 0, out
    return time.monotonic() - t


def platform(home: Path) -> Platform:
    return Platform(Settings.from_env(home=home), passphrase=PASSPHRASE)


def audit_ok(p: Platform) -> None:
    v = p.verify_audit()
    assert v.ok, v.to_dict()


def kill_then_finish(
    home: Path, verb: str, args: dict, duration: float, rng: random.Random
) -> tuple[int, str]:
    """``KILLS`` runs killed somewhere in [0.3 s, duration], then one that is left to finish."""
    for _ in range(KILLS):
        run(home, verb, args, kill_after=rng.uniform(0.3, max(duration, 0.4)))
    return run(home, verb, args)


@pytest.fixture(autouse=True)
def _passphrase(monkeypatch):
    monkeypatch.setenv("YINXIN_CA_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("YINXIN_DATABASE_URL", raising=False)


def test_init_killed_anywhere_can_run_again(tmp_path) -> None:
    rng = random.Random(SEED)
    duration = timed(tmp_path / "measure", "init", {})
    for trial in range(4):
        home = tmp_path / f"home-{trial}"
        rc, out = kill_then_finish(home, "init", {}, duration, rng)
        # done by this run, or by a killed one that got as far as its commit
        assert rc == 0 or "already initialised" in out, out
        keys = sorted(f.name for f in (home / "keys").iterdir())
        assert keys == sorted(
            f"{label}.key.pem"
            for label in ("root-ca", "issuing-ca", "ocsp-responder", "root-ocsp-responder", "tsa")
        ), keys
        p = platform(home)
        try:
            audit_ok(p)
            crl = x509.load_der_x509_crl(p.status.current_crl("issuing"))
            assert crl.is_signature_valid(p.ca.certificate("issuing").public_key())
            assert p.status.lookup(p.ca.certificate("ocsp").serial_number).status == "unknown"
        finally:
            p.close()


@pytest.fixture(scope="module")
def world_home(tmp_path_factory) -> Path:
    """A CA with two parties, their certificates and seals (made in-process, real clock)."""
    home = tmp_path_factory.mktemp("crash-world")
    p = Platform(Settings.from_env(home=home), passphrase=PASSPHRASE)
    p.ca.init("ec-p256")
    build_world(p, None)
    p.close()
    return home


def paid_applications(home: Path, name: str, id_body: str, phone: str, tag: str) -> list[int]:
    """A new person with two paid person-signing applications (one to time, one to kill)."""
    p = platform(home)
    try:
        sub = p.subscribers.add_person(name=name, id_number=id_number(id_body), phone=phone)
        p.subscribers.accept_agreement(sub.id, accepted_by=name)
        apps = []
        for i in range(2):
            app = p.certificates.apply(subscriber_id=sub.id, profile="person-signing", pin="135790")
            p.certificates.pay(application_id=app.id, years=1, reference=f"{tag}-{i}")
            apps.append(app.id)
        return apps
    finally:
        p.close()


def test_issuance_killed_anywhere_issues_once(world_home) -> None:
    rng = random.Random(SEED + 1)
    apps = paid_applications(world_home, "赵六", "11010119900307663", "13600136000", "K")
    duration = timed(world_home, "approve", {"application_id": apps[0]})
    rc, out = kill_then_finish(world_home, "approve", {"application_id": apps[1]}, duration, rng)
    assert rc == 0 or "approved" in out, out
    p = platform(world_home)
    try:
        with p.db.read() as s:
            certs = (
                s.execute(select(Certificate).where(Certificate.application_id == apps[1]))
                .scalars()
                .all()
            )
        assert len(certs) == 1, [c.serial_hex for c in certs]
        assert p.status.lookup(int(certs[0].serial_hex, 16)).status == "good"
        audit_ok(p)
    finally:
        p.close()


def test_seal_creation_killed_anywhere_makes_one_seal_with_its_files(world_home) -> None:
    rng = random.Random(SEED + 2)
    p = platform(world_home)
    try:
        org = p.subscribers.add_organization(
            name="上海示范贸易有限公司",
            uscc=uscc("MA1FL7JN"),
            legal_representative="孙八",
            contact_name="孙八",
            contact_phone="021-62345678",
            phone="13500135000",
        )
        p.subscribers.accept_agreement(org.id, accepted_by="孙八")
        app = p.certificates.apply(
            subscriber_id=org.id, profile="organization-signing", pin="246800"
        )
        p.certificates.pay(application_id=app.id, years=1, reference="K-seal")
        cert = p.certificates.approve(app.id, officer="受理员 陈静")
    finally:
        p.close()
    form = {
        "business_type": "new",
        "project": "百城e采平台项目",
        "holder_name": "孙八",
        "id_type": "id_card",
        "id_number": id_number("11010119900307767"),
        "declaration_accepted": True,
    }
    args = {"subscriber_id": org.id, "serial": cert.serial, "form": form}
    duration = timed(world_home, "seal_create", {**args, "kind": "finance"})
    rc, out = kill_then_finish(
        world_home, "seal_create", {**args, "kind": "contract"}, duration, rng
    )
    assert rc == 0 or "duplicate" in out or "already" in out, out
    p = platform(world_home)
    try:
        with p.db.read() as s:
            seals = (
                s.execute(select(Seal).where(Seal.subscriber_id == org.id, Seal.kind == "contract"))
                .scalars()
                .all()
            )
            every = set(s.execute(select(Seal.es_id)).scalars())
        assert len(seals) == 1
        assert p.seals.verify_record(seals[0].es_id).ok is True
        folders = {d.name for d in (world_home / "seals").iterdir()}
        assert folders <= every, folders - every  # no half-made seal folder left behind
        audit_ok(p)
    finally:
        p.close()


def test_signing_killed_anywhere_signs_once_and_gives_the_file(world_home, tmp_path) -> None:
    rng = random.Random(SEED + 3)
    p = platform(world_home)
    try:
        jia = _party(p)
        doc = contract_pdf(1, title="买卖合同")
        src = tmp_path / "contract.pdf"
        src.write_bytes(doc)
        outbox = p.settings.outbox_dir / "sms.jsonl"
        before = outbox_lines(outbox)
        ch = p.signing.request_confirmation(
            signer_subscriber_id=jia["id"], document=doc, document_name="买卖合同.pdf"
        )
        code = read_code(outbox, jia["phone"], after=before)
    finally:
        p.close()
    out = tmp_path / "signed.pdf"
    args = {
        "in": str(src),
        "out": str(out),
        "seal": jia["es_id"],
        "pin": jia["pin"],
        "signer": jia["id"],
        "challenge": ch.challenge_id,
        "code": code,
        "anchor": "甲方（签章）",
        "role": "甲方",
    }
    duration = 4.0  # a signing with B-LT evidence, process start included, on this machine
    rc, text = kill_then_finish(world_home, "sign", args, duration, rng)
    assert rc == 0, text
    p = platform(world_home)
    try:
        assert count(p, SignatureRecord, SignatureRecord.intent_challenge == ch.challenge_id) == 1
        rep = verify_pdf(out.read_bytes(), trust_roots=[p.ca.certificate("root")])
        assert rep.valid, rep.to_text()
        assert not list(tmp_path.glob("*.part")) or out.exists()
        p.archive.sweep(older_than=dt.timedelta(0))
        kept = {d.sha256 for d in p.archive.documents(None)}
        stored = {k for k, _ in p.archive.files.keys()}
        assert stored == kept, stored ^ kept  # no orphan file, no record without its file
        audit_ok(p)
    finally:
        p.close()


def test_revocation_killed_anywhere_revokes_once_and_publishes(world_home) -> None:
    rng = random.Random(SEED + 4)
    apps = paid_applications(world_home, "周九", "11010119800101673", "13300133000", "R")
    p = platform(world_home)
    try:
        serials = [p.certificates.approve(a, officer="受理员 陈静").serial for a in apps]
    finally:
        p.close()
    duration = timed(world_home, "revoke", {"serial": serials[0]})
    rc, out = kill_then_finish(world_home, "revoke", {"serial": serials[1]}, duration, rng)
    assert rc == 0 or "revoked" in out, out
    p = platform(world_home)
    try:
        serial = int(serials[1], 16)
        assert p.status.lookup(serial).status == "revoked"
        crl = x509.load_der_x509_crl(p.status.current_crl("issuing"))
        assert crl.get_revoked_certificate_by_serial_number(serial) is not None
        with p.db.read() as s:
            events = (
                s.execute(
                    select(AuditEvent).where(
                        AuditEvent.action == "certificate.revoke",
                        AuditEvent.subject_id == serials[1],
                    )
                )
                .scalars()
                .all()
            )
        assert len(events) == 1
        audit_ok(p)
    finally:
        p.close()


def _party(p: Platform) -> dict:
    """甲方 of the world: the member 王五 with the organization's contract seal."""
    with p.db.read() as s:
        seal = (
            s.execute(select(Seal).where(Seal.kind == "contract").order_by(Seal.id))
            .scalars()
            .first()
        )
        es_id = seal.es_id
    member = p.subscribers.find_person("350102198511223455")
    return {"id": member.id, "phone": "13700137000", "es_id": es_id, "pin": "864200"}
