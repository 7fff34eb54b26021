"""A status change made by a CLI process that cannot sign the CRL (no or a wrong CA passphrase).

The change is committed before the CRL is signed; the guide lets the server re-sign it later.
``cert revoke`` with a wrong YINXIN_CA_PASSPHRASE exited 0 without a word, so an operator
revoking a compromised certificate believed the published CRL listed it. Now the change stays
recorded, the command exits 0 and warns on standard error (the cause, never the passphrase, and
what re-signs the CRL), ``--json`` carries ``crl_published``/``crl_error``; OCSP says it at
once; the CRL lists it once a process with the right passphrase re-signs it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sqlalchemy import select

from tests.conftest import PASSPHRASE
from tests.integration.server import yinxin_cli
from tests.integration.test_ca_lifecycle import enrol, issue
from yinxin.app import Platform
from yinxin.registry.status import Answer
from yinxin.store.models import AuditEvent, Certificate, Crl

WRONG = "not the CA passphrase at all"


def _env(p: Platform) -> dict[str, str]:
    return {"YINXIN_DATABASE_URL": p.settings.database_url}


def _latest_crl(p: Platform, tmp_path: Path) -> str:
    """``openssl crl -text`` of the newest published issuing CRL (the one served while the
    status revision stays)."""
    with p.db.read() as s:
        der = s.execute(
            select(Crl.der)
            .where(Crl.issuer_role == "issuing")
            .order_by(Crl.crl_number.desc())
            .limit(1)
        ).scalar_one()
    f = tmp_path / "latest.crl"
    f.write_bytes(der)
    done = subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", str(f), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.upper()


def test_revoke_with_a_wrong_passphrase_is_recorded_and_says_the_crl_was_not_signed(
    platform: Platform, tmp_path: Path
) -> None:
    p = platform
    subs = enrol(p)
    cert = issue(p, subs.person.id)
    p.status.publish_crl("issuing")
    assert cert.serial.upper() not in _latest_crl(p, tmp_path)

    done = yinxin_cli(
        ["cert", "revoke", cert.serial, "--reason", "key_compromise", "--json"],
        p.settings.home,
        passphrase=WRONG,
        env=_env(p),
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["serial"] == cert.serial and out["crl_published"] is False
    assert out["crl_error"] == "wrong CA passphrase (YINXIN_CA_PASSPHRASE)"
    assert "warning:" in done.stderr and "wrong CA passphrase" in done.stderr
    assert "CRL was not re-signed" in done.stderr and "yinxin jobs run crl.issuing" in done.stderr
    assert WRONG not in done.stdout + done.stderr and PASSPHRASE not in done.stdout + done.stderr

    # recorded: the row, its audit event, and OCSP (the server's lookup) answers revoked now
    with p.db.read() as s:
        row = s.execute(
            select(Certificate).where(Certificate.serial_hex == cert.serial)
        ).scalar_one()
        assert row.status == "revoked" and row.revocation_reason == "key_compromise"
        events = s.execute(
            select(AuditEvent.action).where(AuditEvent.subject_id == cert.serial)
        ).scalars()
        assert any(a.startswith("certificate.revoke") for a in events), "no audit event"
    assert p.status.lookup(int(cert.serial, 16)).status == Answer.REVOKED
    # the published CRL does not list it yet
    assert cert.serial.upper() not in _latest_crl(p, tmp_path)

    # the right passphrase re-signs it, as the warning says
    yinxin_cli(["jobs", "run", "crl.issuing"], p.settings.home, env=_env(p))
    assert cert.serial.upper() in _latest_crl(p, tmp_path)


def test_every_status_verb_warns_and_text_mode_too(platform: Platform, tmp_path: Path) -> None:
    """freeze (text), without any passphrase; and with the right one no warning, and
    ``crl_published: true``."""
    p = platform
    subs = enrol(p)
    cert = issue(p, subs.person.id)

    done = yinxin_cli(
        ["cert", "freeze", cert.serial], p.settings.home, passphrase=None, env=_env(p)
    )
    assert done.returncode == 0, done.stderr
    assert cert.serial in done.stdout
    assert "warning:" in done.stderr and "no CA passphrase given" in done.stderr
    assert p.certificates.get(cert.serial).status == "on_hold"

    done = yinxin_cli(["cert", "unfreeze", cert.serial, "--json"], p.settings.home, env=_env(p))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["crl_published"] is True and out["crl_error"] is None
    assert "warning" not in done.stderr
    assert cert.serial.upper() not in _latest_crl(p, tmp_path)  # released, and signed at once
