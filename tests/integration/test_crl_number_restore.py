"""CRL numbers never go backwards, not even across a restore of an older backup.

RFC 5280 §5.2.3 wants a CRL number "monotonically increasing". Numbered ``latest stored + 1``,
a database restored from a backup (the operator guide's ``sqlite3 … ".backup …"``) signed its
next CRLs with numbers the CA had already published, with other content, before the restore:
a relying party holding CRL N ignored the new N (or the new N+1, older than the N it had) as
stale. The next number is now the larger of the latest + 1 and the new CRL's thisUpdate in Unix
seconds, so a CRL signed after a restore carries a number above any signed before it; two in the
same second still count up by one. Real parts: a SQLite file, the sqlite3 shell's backup,
openssl and pkilint read the CRL.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from sqlalchemy import select

from yinxin.store.models import Crl

PKILINT = Path(sys.executable).parent  # lint_crl: pkilint's script beside the interpreter
ROLES = ("issuing", "root", "sm2-issuing", "sm2-root")


def number_of(der: bytes) -> int:
    crl = x509.load_der_x509_crl(der)
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def stored_numbers(p, role: str) -> list[int]:
    with p.db.read() as s:
        q = select(Crl.crl_number).where(Crl.issuer_role == role).order_by(Crl.id)
        return list(s.execute(q).scalars())


def test_a_crl_signed_after_a_restore_is_numbered_above_every_earlier_one(
    make_platform, clock, tmp_path
) -> None:
    p = make_platform()
    p.ca.add_hierarchy("sm2")  # the side hierarchy's CRLs are numbered by the same rule
    home = p.settings.home
    signed: dict[str, list[int]] = {role: [] for role in ROLES}
    for _ in range(2):
        clock.advance(seconds=7)
        for role in ROLES:
            signed[role].append(p.status.publish_crl(role).crl_number)

    # the operator guide's backup, while the platform runs
    backup = tmp_path / "backup"
    backup.mkdir()
    subprocess.run(
        ["sqlite3", str(home / "yinxin.db"), f".backup '{backup / 'yinxin.db'}'"], check=True
    )

    # the CA goes on: more CRLs, published and cached by relying parties
    for _ in range(3):
        clock.advance(seconds=5)
        for role in ROLES:
            signed[role].append(p.status.publish_crl(role).crl_number)
    p.close()

    # restore into a new directory: the files, then the backed-up database
    restored = tmp_path / "restored"
    shutil.copytree(home, restored, ignore=shutil.ignore_patterns("yinxin.db*"))
    shutil.copy2(backup / "yinxin.db", restored / "yinxin.db")
    clock.advance(minutes=1)  # the restore takes a while
    q = make_platform(home=restored, init=False)
    for role in ROLES:
        assert stored_numbers(q, role) == signed[role][:2], role  # the backup's CRLs only
        # until a CRL is signed the endpoint serves the backup's latest, as it was published
        assert number_of(q.status.current_crl(role)) == signed[role][1], role
        after = q.status.publish_crl(role).crl_number  # as a revocation after the restore does
        der = q.status.current_crl(role)
        assert number_of(der) == after
        assert after > max(signed[role]), (role, after, signed[role])
        assert x509.load_der_x509_crl(der).last_update_utc == clock.now()

        path = tmp_path / f"{role}.crl"
        path.write_bytes(der)
        text = subprocess.run(
            ["openssl", "crl", "-inform", "DER", "-in", str(path), "-noout", "-text"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        shown = text.split("X509v3 CRL Number:", 1)[1].split()[0]
        assert shown == str(after), (role, shown)
        kind = "ARL" if role.endswith("root") else "CRL"  # a root lists CA certificates only
        lint = subprocess.run(
            [str(PKILINT / "lint_crl"), "lint", "-t", kind, "-p", "PKIX", "-s", "WARNING", path],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (lint.returncode, lint.stdout.strip()) == (0, ""), (role, lint.stdout)


def test_crls_of_one_second_still_count_up(platform, clock) -> None:
    """The number follows the clock, but never repeats: within one second (the clock frozen
    here) each CRL is the previous one + 1, and the first is the thisUpdate's Unix time."""
    first = platform.status.publish_crl("issuing")
    second = platform.status.publish_crl("issuing")
    third = platform.status.publish_crl("issuing")
    unix = int(clock.now().timestamp())
    assert [first.crl_number, second.crl_number, third.crl_number] == [unix, unix + 1, unix + 2]
    clock.advance(seconds=30)  # the clock passes the count: the number follows it again
    assert platform.status.publish_crl("issuing").crl_number == unix + 30
    assert stored_numbers(platform, "issuing") == [unix, unix + 1, unix + 2, unix + 30]
