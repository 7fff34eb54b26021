"""At a terminal with no YINXIN_CA_PASSPHRASE, a status change asks for the CA passphrase
before it changes anything, and refuses a wrong one with nothing recorded.

``cert revoke`` asked for the passphrase only after the revocation was committed, when the CRL
was to be signed: a typo left the certificate revoked (row, audit event), the CRL unsigned and
the command exiting 0 with a warning, so the operator learnt of the typo after the fact and
could not take the change back. Now the passphrase is asked for first and checked against the
key store (the issuing CA's key opened with it): a wrong one is refused ``bad_passphrase``
(exit 5) and nothing is written. A process with no terminal keeps the guide's behaviour: the
change is made and the CLI warns that the CRL was not re-signed (test_crl_not_signed_here).

The sweeps ``cert expire`` and ``cert suspend-unpaid`` did the same for every certificate they
changed: asked when the first CRL was signed, the first certificate already expired (or
stopped). They ask before the first change now, and only when one is due: with nothing to
change they ask nothing.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import termios
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, update
from sqlalchemy import select as sql_select

from tests.conftest import PASSPHRASE
from tests.integration.server import yinxin_env
from tests.integration.terminal import yinxin_at
from tests.integration.test_ca_lifecycle import enrol, issue
from yinxin.app import Platform
from yinxin.identity import normal_serial
from yinxin.store.models import AuditEvent, Certificate, Crl

WRONG = "not the CA passphrase at all"


def _audit_count(p: Platform, serial: str) -> int:
    with p.db.read() as s:
        return s.execute(
            sql_select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.subject_id == normal_serial(serial))
        ).scalar_one()


def _echo_off(tty: int) -> bool:
    """The prompt is reading: echo is off once getpass has set the terminal (typed before,
    the line is echoed, then flushed away by getpass's TCSAFLUSH and the prompt waits on)."""
    return not termios.tcgetattr(tty)[3] & termios.ECHO


def _at_a_terminal(
    p: Platform, args: list[str], typed: str, at_prompt: dict, serial: str | None = None
) -> tuple[int, str]:
    """Run ``yinxin ARGS`` with a terminal and no YINXIN_CA_PASSPHRASE; when it asks for the
    CA passphrase, note the status and audit count then (``at_prompt``) of the certificate
    ``serial`` (default the verb's argument) and type ``typed``. Returns the exit code and
    everything it printed."""
    serial = serial or args[2]
    env = yinxin_env(p.settings.home, None, {"YINXIN_DATABASE_URL": p.settings.database_url})
    master, slave = pty.openpty()
    seen = b""
    try:
        proc = yinxin_at(slave, args, env, None)
        deadline = time.monotonic() + 60
        asked = False
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                seen += chunk
                if not asked and b"CA passphrase" in seen and _echo_off(slave):
                    asked = True
                    at_prompt["status"] = p.certificates.get(serial).status
                    at_prompt["audit"] = _audit_count(p, serial)
                    os.write(master, typed.encode() + b"\n")
            elif not asked and b"CA passphrase" in seen and _echo_off(slave):
                asked = True
                at_prompt["status"] = p.certificates.get(serial).status
                at_prompt["audit"] = _audit_count(p, serial)
                os.write(master, typed.encode() + b"\n")
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            raise AssertionError(f"still running: {seen.decode(errors='replace')!r}")
        code = proc.wait(timeout=30)
    finally:
        os.close(master)
        os.close(slave)
    return code, seen.decode(errors="replace")


def test_a_wrong_passphrase_typed_at_the_prompt_changes_nothing(
    platform: Platform,
) -> None:
    p = platform
    cert = issue(p, enrol(p).person.id)
    before = _audit_count(p, cert.serial)
    at_prompt: dict = {}
    code, text = _at_a_terminal(
        p, ["cert", "revoke", cert.serial, "--reason", "key_compromise"], WRONG, at_prompt
    )
    assert at_prompt, f"no prompt: {text!r}"
    assert at_prompt == {"status": "active", "audit": before}, "asked after the change"
    assert code == 5, text
    assert "[passphrase]" in text and "wrong CA passphrase" in text, text
    assert "bad_passphrase" in text, text
    assert WRONG not in text and PASSPHRASE not in text
    assert p.certificates.get(cert.serial).status == "active"
    assert _audit_count(p, cert.serial) == before


def test_the_right_passphrase_typed_first_changes_and_signs_the_crl(
    platform: Platform,
) -> None:
    """freeze and unfreeze (simple verbs) ask first too; the CRL is signed, no warning."""
    p = platform
    cert = issue(p, enrol(p).person.id)
    for verb, after in (("freeze", "on_hold"), ("unfreeze", "active")):
        before = _audit_count(p, cert.serial)
        at_prompt: dict = {}
        code, text = _at_a_terminal(p, ["cert", verb, cert.serial], PASSPHRASE, at_prompt)
        assert code == 0, text
        assert at_prompt["audit"] == before, f"{verb}: asked after the change"
        assert "warning" not in text, text
        assert PASSPHRASE not in text
        assert p.certificates.get(cert.serial).status == after
        assert _audit_count(p, cert.serial) > before


def test_a_bad_reason_is_refused_before_the_prompt(platform: Platform) -> None:
    """``--reason`` is the command line's own: refused naming it, no passphrase asked."""
    p = platform
    cert = issue(p, enrol(p).person.id)
    at_prompt: dict = {}
    code, text = _at_a_terminal(
        p, ["cert", "revoke", cert.serial, "--reason", "lost_it"], WRONG, at_prompt
    )
    assert code == 2, text
    assert not at_prompt and "CA passphrase" not in text, text
    assert "[reason]" in text and "unknown revocation reason" in text, text
    assert p.certificates.get(cert.serial).status == "active"


def test_an_unknown_serial_is_refused_before_the_prompt(platform: Platform) -> None:
    """A serial that is no certificate of ours is refused before the passphrase is typed
    for nothing (it was asked for first, then the serial refused)."""
    at_prompt: dict = {}
    code, text = _at_a_terminal(
        platform, ["cert", "revoke", "0badc0ffee", "--reason", "key_compromise"], WRONG, at_prompt
    )
    assert not at_prompt and "CA passphrase" not in text, text
    assert code not in (0, 5), text
    assert "[serial]" in text and "badc0ffee" in text and "not_found" in text, text


# the SM2 hierarchy's keys sealed under a passphrase of their own: a data directory whose
# `ca add-hierarchy` ran with another YINXIN_CA_PASSPHRASE than `init` (refused since, see
# test_sm2_alongside), or SM2 key files restored from elsewhere
SM2_PASSPHRASE = "the SM2 hierarchy's own passphrase"


def _reseal(key_file: Path, old: str, new: str) -> None:
    """``key_file`` (encrypted PKCS#8) sealed again under ``new``, by OpenSSL."""
    out = key_file.with_suffix(".new")
    subprocess.run(
        ["openssl", "pkcs8", "-topk8", "-in", key_file, "-passin", f"pass:{old}",
         "-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA256", "-passout", f"pass:{new}",
         "-out", out],
        check=True, capture_output=True,
    )  # fmt: skip
    out.replace(key_file)


def _sm2_certificate(platform: Platform) -> tuple[Platform, str]:
    """A platform with an SM2 hierarchy beside the P-256 one, its keys then sealed under
    SM2_PASSPHRASE, and a platform-held SM2 certificate its SM2 issuing CA signed (its CRL is
    sm2-issuing's)."""
    p = platform
    p.ca.add_hierarchy("sm2")
    cert = issue(p, enrol(p).person.id, pin="246810", algorithm="sm2")
    with p.db.read() as s:
        role = s.execute(
            sql_select(Certificate.issuer_role).where(Certificate.serial_hex == cert.serial)
        ).scalar_one()
    assert role == "sm2-issuing", role
    sm2_keys = sorted(p.settings.keys_dir.glob("sm2-*.key.pem"))
    assert sm2_keys
    for key_file in sm2_keys:
        _reseal(key_file, PASSPHRASE, SM2_PASSPHRASE)
    return p, cert.serial


def test_an_sm2_certificate_checks_the_key_that_signs_its_crl(platform: Platform) -> None:
    """Revoking a certificate the SM2 issuing CA signed checks the passphrase against the SM2
    issuing CA's key — the one that signs that certificate's CRL — not the default issuing
    CA's. It opened the default one: the default hierarchy's passphrase was taken, the
    certificate revoked, its CRL left unsigned (a warning, exit 0); the SM2 key's own
    passphrase was refused as wrong, and that certificate could not be revoked at a terminal
    with its CRL signed at all."""
    p, serial = _sm2_certificate(platform)
    before = _audit_count(p, serial)
    at_prompt: dict = {}
    # typed as openssl prints it (upper case, a colon every octet): the same certificate, the
    # same key asked for (the lookup of its CA took the stored form only and fell back to the
    # default issuing CA's key)
    typed = ":".join(
        serial.upper().zfill(len(serial) + len(serial) % 2)[i : i + 2]
        for i in range(0, len(serial) + len(serial) % 2, 2)
    )
    code, text = _at_a_terminal(
        p, ["cert", "revoke", typed, "--reason", "key_compromise"], PASSPHRASE, at_prompt
    )
    assert at_prompt == {"status": "active", "audit": before}, text
    assert code == 5, text
    assert "wrong CA passphrase" in text and "bad_passphrase" in text, text
    assert "warning" not in text, text
    assert p.certificates.get(serial).status == "active"
    assert _audit_count(p, serial) == before
    signed = _crls(p, "sm2-issuing")
    at_prompt = {}
    code, text = _at_a_terminal(
        p, ["cert", "revoke", serial, "--reason", "key_compromise"], SM2_PASSPHRASE, at_prompt
    )
    assert at_prompt == {"status": "active", "audit": before}, text
    assert code == 0, text
    assert "warning" not in text, text
    assert SM2_PASSPHRASE not in text
    assert p.certificates.get(serial).status == "revoked"
    assert _crls(p, "sm2-issuing") == signed + 1, "the SM2 CRL was not re-signed"


def _crls(p: Platform, role: str) -> int:
    with p.db.read() as s:
        return s.execute(
            sql_select(func.count()).select_from(Crl).where(Crl.issuer_role == role)
        ).scalar_one()


def _due(p: Platform, serial: str, column: str) -> None:
    """Make ``serial`` due for a sweep now: its end (``not_after``) or its paid service
    (``paid_until``) a day ago, by the real clock the subprocess reads."""
    with p.db.transaction() as s:
        s.execute(
            update(Certificate)
            .where(Certificate.serial_hex == serial)
            .values({column: datetime.now(UTC) - timedelta(days=1)})
        )


def test_cert_expire_asks_before_the_first_change(platform: Platform) -> None:
    """A wrong passphrase typed for ``cert expire`` left the certificate expired, the CRL
    unsigned; now it is asked for first and refused (exit 5), the certificate still active."""
    p = platform
    cert = issue(p, enrol(p).person.id)
    _due(p, cert.serial, "not_after")
    before = _audit_count(p, cert.serial)
    at_prompt: dict = {}
    code, text = _at_a_terminal(p, ["cert", "expire"], WRONG, at_prompt, cert.serial)
    assert at_prompt, f"no prompt: {text!r}"
    assert at_prompt == {"status": "active", "audit": before}, "asked after the change"
    assert code == 5 and "bad_passphrase" in text, text
    assert p.certificates.get(cert.serial).status == "active"
    assert _audit_count(p, cert.serial) == before


def test_cert_suspend_unpaid_asks_first_then_stops_and_signs(platform: Platform) -> None:
    p = platform
    cert = issue(p, enrol(p).person.id)
    _due(p, cert.serial, "paid_until")
    before = _audit_count(p, cert.serial)
    at_prompt: dict = {}
    code, text = _at_a_terminal(p, ["cert", "suspend-unpaid"], PASSPHRASE, at_prompt, cert.serial)
    assert code == 0, text
    assert at_prompt == {"status": "active", "audit": before}, "asked after the change"
    assert "warning" not in text and PASSPHRASE not in text, text
    assert p.certificates.get(cert.serial).status == "on_hold"


def test_a_sweep_with_nothing_due_asks_nothing(platform: Platform) -> None:
    """Nothing to change, nothing to sign: no prompt (a passphrase typed for no change is
    typed for nothing), exit 0."""
    p = platform
    cert = issue(p, enrol(p).person.id)
    for verb in ("expire", "suspend-unpaid"):
        at_prompt: dict = {}
        code, text = _at_a_terminal(p, ["cert", verb], WRONG, at_prompt, cert.serial)
        assert code == 0 and not at_prompt and "CA passphrase" not in text, f"{verb}: {text!r}"
    assert p.certificates.get(cert.serial).status == "active"


def test_an_approval_refused_anyway_is_refused_before_the_prompt(platform: Platform) -> None:
    """``cert approve`` opened the CA key first (so that a wrong passphrase writes nothing): at
    a terminal it asked for the CA passphrase and only then refused an application that does
    not exist, one decided already or one whose fee has not been received — the passphrase
    typed for nothing, as ``cert revoke`` once did for an unknown serial. Those are refused
    first now, no prompt; an approval that can go ahead still asks."""
    from tests.integration.terminal import refused_at_a_terminal
    from tests.integration.test_ca_lifecycle import make_csr

    p = platform
    sid = enrol(p).person.id
    unpaid = p.certificates.apply(subscriber_id=sid, profile="person-signing", csr=make_csr())
    done = p.certificates.apply(subscriber_id=sid, profile="person-signing", csr=make_csr())
    p.certificates.pay(application_id=done.id, years=1)
    p.certificates.approve(done.id, officer="受理员 陈静")
    env = yinxin_env(p.settings.home, None, {"YINXIN_DATABASE_URL": p.settings.database_url})
    for app_id, field, code_word, exit_code in (
        (999, "application_id", "not_found", 3),
        (unpaid.id, "payment", "unpaid", 5),
        (done.id, "application_id", "illegal_transition", 4),
    ):
        code, text = refused_at_a_terminal(
            ["cert", "approve", str(app_id), "--officer", "受理员"], env, Path.cwd()
        )
        assert "CA passphrase" not in text, (app_id, text)
        assert code == exit_code and f"[{field}]" in text and code_word in text, (app_id, text)
    assert p.certificates.application(unpaid.id).state == "pending"


def test_a_successor_refused_anyway_is_refused_before_the_prompt(
    platform: Platform, tmp_path: Path
) -> None:
    """``cert renew`` and ``cert rekey`` opened the CA key before reading the certificate: at a
    terminal they asked for the CA passphrase, then refused a serial that is no certificate of
    ours or a certificate the verb is not allowed on (revoked, say) — ``reissue`` and
    ``change`` asked first for the latter. All four refuse those before the prompt now."""
    from tests.integration.terminal import refused_at_a_terminal
    from tests.integration.test_ca_lifecycle import make_csr

    p = platform
    cert = issue(p, enrol(p).person.id)
    p.certificates.revoke(cert.serial, reason="superseded", actor="受理员")
    csr = tmp_path / "new.csr"
    csr.write_bytes(make_csr())
    env = yinxin_env(p.settings.home, None, {"YINXIN_DATABASE_URL": p.settings.database_url})
    for serial, field, word, exit_code in (
        ("0badc0ffee", "serial", "not_found", 3),
        (cert.serial, "serial", "illegal_transition", 4),
    ):
        for verb in (
            ["renew"],
            ["rekey", "--csr", str(csr)],
            ["reissue", "--csr", str(csr)],
            ["change", "--name", "李四"],
        ):
            args = ["cert", verb[0], serial, *verb[1:]]
            code, text = refused_at_a_terminal(args, env, Path.cwd())
            assert "CA passphrase" not in text, (args, text)
            assert code == exit_code and f"[{field}]" in text and word in text, (args, text)


def test_an_approvals_validity_years_is_judged_before_the_ca_key(make_platform) -> None:
    """``approve(validity_years=…)`` judged the years only in its transaction, after opening
    the CA key (at a terminal, the CA passphrase prompt), and read 0 as "none given": the
    certificate was issued for the years paid. A bad one (0, -1, 6) is refused first now,
    naming ``validity_years``, with the key not opened and nothing written: here the key is
    damaged, so any refusal but the years' is the key's."""
    from tests.dbdump import dump
    from tests.integration.test_ca_lifecycle import make_csr
    from yinxin.errors import ValidationError

    first = make_platform()
    sid = enrol(first).person.id
    app = first.certificates.apply(subscriber_id=sid, profile="person-signing", csr=make_csr())
    first.certificates.pay(application_id=app.id, years=1)
    key = first.settings.home / "keys" / "issuing-ca.key.pem"
    good = key.read_bytes()
    key.write_bytes(good[:100])
    # a restart: this process has not opened the key yet
    p = make_platform(home=first.settings.home, url=first.settings.database_url)
    before = dump(p)
    for years in (0, -1, 6):
        try:
            p.certificates.approve(app.id, officer="受理员 陈静", validity_years=years)
        except ValidationError as e:
            assert e.field == "validity_years" and "1 to 5" in e.message, (years, e.message)
        else:
            raise AssertionError(f"validity_years={years} was approved")
        assert dump(p) == before, years
    key.write_bytes(good)
    cert = p.certificates.approve(app.id, officer="受理员 陈静", validity_years=2)
    assert p.certificates.application(app.id).state == "approved" and cert.serial
