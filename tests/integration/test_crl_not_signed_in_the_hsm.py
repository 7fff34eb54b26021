"""A status change made by a CLI process whose PKCS#11 token cannot sign the CRL: a wrong PIN,
the module's library gone from its path, the token not there.

As with a wrong CA passphrase (test_crl_not_signed_here), the change stays recorded, the
command exits 0, warns on standard error and ``--json`` says ``crl_published: false``; the
cause is the key store's own words (never the PIN), so the operator knows which of the three
to put right before ``yinxin jobs run crl.issuing`` — which the warning says needs the token's
settings: it ended "with the right CA passphrase", a secret this store never reads. The token
is a real SoftHSM2 one.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.integration.server import yinxin_cli
from tests.integration.terminal import yinxin_at
from tests.integration.test_ca_lifecycle import enrol, issue
from tests.integration.test_ca_tools import _hsm_settings
from tests.softhsm import SoftHsmToken, softhsm_token_in
from yinxin.app import Platform
from yinxin.settings import Settings
from yinxin.store.models import AuditEvent, Certificate, Crl

WRONG_PIN = "97531086"


@pytest.fixture
def hsm(tmp_path: Path) -> Iterator[tuple[Settings, SoftHsmToken]]:
    """A CA whose keys are in a SoftHSM2 token, with a certificate to change."""
    home = tmp_path / "home"
    with softhsm_token_in(tmp_path / "hsm", label="yinxin-ca") as token:
        settings = _hsm_settings(home, token)
        p = Platform(settings)
        try:
            p.ca.init("ec-p256")
            p.status.publish_crl("issuing")
        finally:
            p.close()
        yield settings, token


def _env(s: Settings, token: SoftHsmToken, **changed: str) -> dict[str, str]:
    return {
        "YINXIN_DATABASE_URL": s.database_url,
        "YINXIN_KEYSTORE": "pkcs11",
        "YINXIN_PKCS11_MODULE": token.module,
        "YINXIN_PKCS11_TOKEN": token.token_label,
        "YINXIN_PKCS11_PIN": token.pin,
        **changed,
    }


def _certificate(s: Settings) -> str:
    """A new certificate, for a new person (enrol's n: one ID number each)."""
    p = Platform(s)
    try:
        return issue(p, enrol(p, p.certificates.count()).person.id).serial
    finally:
        p.close()


def _state(s: Settings, serial: str) -> tuple[str, int, int]:
    """The certificate's status, its audit events, the issuing CA's CRLs."""
    p = Platform(s)
    try:
        with p.db.read() as q:
            status = q.execute(
                select(Certificate.status).where(Certificate.serial_hex == serial)
            ).scalar_one()
            events = q.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.subject_id == serial)
            ).scalar_one()
            crls = q.execute(
                select(func.count()).select_from(Crl).where(Crl.issuer_role == "issuing")
            ).scalar_one()
        return status, events, crls
    finally:
        p.close()


def _unreachable(tmp_path: Path, s: Settings, token: SoftHsmToken) -> dict[str, tuple]:
    """How the token is out of reach -> (environment changes, the cause the CLI must give)."""
    gone = tmp_path / "moved" / "libsofthsm2.so"
    gone.parent.mkdir(parents=True)
    shutil.copy(token.module, gone)  # the library as configured, then removed from there
    gone.unlink()
    empty = tmp_path / "no-token"
    (empty / "tokens").mkdir(parents=True)
    conf = empty / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {empty / 'tokens'}\nobjectstore.backend = file\n")
    return {
        "wrong PIN": ({"YINXIN_PKCS11_PIN": WRONG_PIN}, "wrong HSM PIN"),
        "module gone": (
            {"YINXIN_PKCS11_MODULE": str(gone)},
            f"PKCS#11 module {gone} does not exist",
        ),
        "token removed": (
            {"SOFTHSM2_CONF": str(conf)},
            "no PKCS#11 token labelled 'yinxin-ca'",
        ),
    }


@pytest.mark.parametrize("verb", ["revoke", "freeze"])
def test_an_unreachable_token_records_the_change_and_names_why_the_crl_was_not_signed(
    hsm: tuple[Settings, SoftHsmToken], tmp_path: Path, verb: str
) -> None:
    s, token = hsm
    for how, (changed, cause) in _unreachable(tmp_path / verb, s, token).items():
        serial = _certificate(s)
        status, events, crls = _state(s, serial)
        args = ["cert", verb, serial]
        if verb == "revoke":
            args += ["--reason", "key_compromise"]
        env = _env(s, token, **changed)
        done = yinxin_cli([*args, "--json"], s.home, passphrase=None, env=env, check=False)
        said = done.stdout + done.stderr
        assert done.returncode == 0, f"{how}: {said}"
        out = json.loads(done.stdout)
        assert out["serial"] == serial and out["crl_published"] is False, f"{how}: {out}"
        assert cause in out["crl_error"], f"{how}: {out['crl_error']!r}"
        assert "warning:" in done.stderr and cause in done.stderr, f"{how}: {done.stderr}"
        assert "CRL was not re-signed" in done.stderr, f"{how}: {done.stderr}"
        # what to put right is the token's settings: this store reads no CA passphrase
        assert "yinxin jobs run crl.issuing" in done.stderr, f"{how}: {done.stderr}"
        assert "CA passphrase" not in done.stderr, f"{how}: {done.stderr}"
        assert "YINXIN_PKCS11_PIN" in done.stderr, f"{how}: {done.stderr}"
        assert "see the log" not in said and "passphrase" not in out["crl_error"], how
        assert token.pin not in said and WRONG_PIN not in said, f"{how}: the PIN printed"
        after = _state(s, serial)
        assert after[0] == ("revoked" if verb == "revoke" else "on_hold"), how
        assert after[1] > events, f"{how}: no audit event"
        assert after[2] == crls, f"{how}: a CRL signed"
    # the token back in reach: the change signs the CRL at once
    serial = _certificate(s)
    status, events, crls = _state(s, serial)
    done = yinxin_cli(
        ["cert", "freeze", serial, "--json"], s.home, passphrase=None, env=_env(s, token)
    )
    assert json.loads(done.stdout)["crl_published"] is True, done.stderr
    assert "warning" not in done.stderr
    assert _state(s, serial)[2] == crls + 1


def test_at_a_terminal_a_wrong_pin_is_not_asked_for_first_the_change_is_recorded(
    hsm: tuple[Settings, SoftHsmToken],
) -> None:
    """At a terminal, the file key store asks for the CA passphrase and checks it before a
    status change (test_crl_passphrase_asked_first): what it guards against is a typo at
    that prompt. A PKCS#11 token's PIN is never typed — it is ``YINXIN_PKCS11_PIN`` only —
    so a wrong one is the environment's case, as a wrong ``YINXIN_CA_PASSPHRASE`` is at a
    terminal: nothing is asked, the revocation is recorded (it must not wait for the token:
    OCSP answers it from the database at once) and the warning names the cause. Pinned so
    that a terminal does not change what the same command does with the same settings."""
    import os
    import pty
    import termios
    import time

    from tests.integration.server import ROOT, yinxin_env

    s, token = hsm
    serial = _certificate(s)
    status, events, crls = _state(s, serial)
    env = yinxin_env(s.home, None, _env(s, token, YINXIN_PKCS11_PIN=WRONG_PIN))
    master, slave = pty.openpty()
    seen = b""
    try:
        proc = yinxin_at(
            slave, ["cert", "revoke", serial, "--reason", "key_compromise"], env, str(ROOT)
        )
        deadline = time.monotonic() + 60
        while proc.poll() is None:
            assert time.monotonic() < deadline, seen
            # a prompt would wait here for ever: echo off means something is reading a secret
            assert termios.tcgetattr(slave)[3] & termios.ECHO, f"asked: {seen!r}"
            time.sleep(0.1)
        os.set_blocking(master, False)
        try:
            while chunk := os.read(master, 65536):
                seen += chunk
        except (BlockingIOError, OSError):
            pass
    finally:
        os.close(master)
        os.close(slave)
    text = seen.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "passphrase:" not in text.lower() and "PIN:" not in text, text
    assert "wrong HSM PIN" in text and "CRL was not re-signed" in text, text
    assert WRONG_PIN not in text and token.pin not in text
    after = _state(s, serial)
    assert (after[0], after[1] > events, after[2]) == ("revoked", True, crls)
