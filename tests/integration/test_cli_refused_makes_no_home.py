"""A command line refused for what was typed makes no data directory and no database.

The CLI builds the platform before a command's body runs (``on_platform``), and the platform
opened its database at once: on a home not made yet, ``subscriber add-person --id-number
123``, ``desk open --notice-at yesterday``, ``seal list --state melted`` or ``contract draft
--values`` a missing file were refused (exit 2, naming the option) but left the folder and an
empty ``yinxin.db`` behind — the next ``yinxin init`` then met a home it had not made. The
platform the CLI builds now opens its database on first use (``Platform(...,
database_on_first_use=True)``), and what is typed is judged before the first query — in the
command, or in the service (the listings' filters, a seal's kind, ``contract revise``'s
files, now ahead of their reads). Each case failed before: the home was there.

A command that is not refused still makes the home and its database on first use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.server import yinxin_env

PERSON = ["--name", "张三", "--phone", "13800138000"]
HOLDER = ["--project", "p", "--holder", "张三", "--declaration-accepted"]
ID = ["--id-number", "11010519491231002X"]
DESK = ["--description", "x", "--reported-by", "y"]

# what is typed, the option (or argument) the refusal names
CASES: dict[str, tuple[list[str], str]] = {
    "subscriber add-person --id-number": (
        ["subscriber", "add-person", *PERSON, "--id-number", "123"],
        "id_number",
    ),
    "subscriber add-person --id-type": (
        ["subscriber", "add-person", *PERSON, *ID, "--id-type", "nope"],
        "id_type",
    ),
    "subscriber add-organization --uscc": (
        ["subscriber", "add-organization", "--name", "某公司", "--uscc", "123"]
        + ["--legal-representative", "李四", "--contact-name", "王五"]
        + ["--contact-phone", "13800138000"],
        "uscc",
    ),
    "subscriber add-device --device-name": (
        ["subscriber", "add-device", "--device-name", "", "--organization-id", "1"],
        "device_name",
    ),
    "subscriber list --kind": (["subscriber", "list", "--kind", "robot"], "kind"),
    "cert pay without --application or --serial": (["cert", "pay"], "application"),
    "cert applications --state": (["cert", "applications", "--state", "maybe"], "state"),
    "cert revoke --reason": (["cert", "revoke", "AB12", "--reason", "whim"], "reason"),
    "cert revoke --requested-at": (
        ["cert", "revoke", "AB12", "--reason", "key_compromise", "--requested-at", "yesterday"],
        "requested_at",
    ),
    "cert list --status": (["cert", "list", "--status", "lost"], "status"),
    "apikey list --limit": (["apikey", "list", "--limit", "0"], "limit"),
    "contract draft --values missing": (
        ["contract", "draft", "X", "--values", "no.json"],
        "values",
    ),
    "contract draft --set": (["contract", "draft", "X", "--set", "novalue"], "set"),
    "contract draft --attach missing": (
        ["contract", "draft", "X", "--attach", "a=no.pdf"],
        "values.a",
    ),
    "contract revise --values missing": (
        ["contract", "revise", "1", "--values", "no.json"],
        "values",
    ),
    "contract cancel --reason": (["contract", "cancel", "1", "--reason", ""], "reason"),
    "desk open --channel": (
        ["desk", "open", "1", "--channel", "pigeon", *DESK],
        "channel",
    ),
    "desk open --notice-at": (
        ["desk", "open", "1", "--channel", "phone", *DESK, "--notice-at", "yesterday"],
        "notice_at",
    ),
    "desk inspect --month": (
        ["desk", "inspect", "1", "--inspector", "a", "--findings", "b", "--month", "13-2026"],
        "month",
    ),
    "desk cancel --reason": (["desk", "cancel", "1", "--reason", ""], "reason"),
    "desk list --state": (["desk", "list", "--state", "lost"], "state"),
    "flow extend --deadline": (["flow", "extend", "1", "--deadline", "friday"], "deadline"),
    "flow cancel --reason": (["flow", "cancel", "1", "--reason", ""], "reason"),
    "flow list --state": (["flow", "list", "--state", "lost"], "state"),
    "notify log --status": (["notify", "log", "--status", "lost"], "status"),
    "obligation show --as-of": (["obligation", "show", "1", "--as-of", "someday"], "as_of"),
    "obligation event --on": (
        ["obligation", "event", "1", "delivered", "--on", "2026-13-01"],
        "on",
    ),
    "obligation withdraw-event EVENT": (
        ["obligation", "withdraw-event", "1", "exploded", "--reason", "x"],
        "event",
    ),
    "obligation pay AMOUNT": (["obligation", "pay", "1", "lots", "--on", "2026-01-01"], "amount"),
    "obligation reverse-payment --reason": (
        ["obligation", "reverse-payment", "1", "1", "--reason", ""],
        "reason",
    ),
    # refused as "the CA is not initialised" (exit 3, field home) before the kind was read
    "seal apply --kind": (
        ["seal", "apply", "--subscriber-id", "1", "--kind", "bogus", *HOLDER, *ID],
        "kind",
    ),
    "seal list --state": (["seal", "list", "--state", "melted"], "state"),
    "seal grant --valid-until": (
        ["seal", "grant", "1", "--member", "2", "--valid-until", "forever"],
        "valid_until",
    ),
    "seal change --scan missing": (["seal", "change", "1", "--scan", "no.png"], "scan"),
    "seal revoke --reason": (["seal", "revoke", "1", "--reason", "whim"], "reason"),
    "seal renew --years": (["seal", "renew", "1", "--years", "0"], "years"),
    "authorization withdraw --reason": (
        ["authorization", "withdraw", "1", "--reason", ""],
        "reason",
    ),
    "webhook deliveries --state": (["webhook", "deliveries", "1", "--state", "lost"], "state"),
    "jobs runs --state": (["jobs", "runs", "--state", "lost"], "state"),
    "jobs run NAME": (["jobs", "run", "no-such-job"], "name"),
}


def _yinxin(args: list[str], home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yinxin.adapters.cli", *args, "--json"],
        env=yinxin_env(home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


@pytest.mark.parametrize("case", list(CASES))
def test_a_refused_command_line_makes_no_home(tmp_path: Path, case: str) -> None:
    args, field = CASES[case]
    home = tmp_path / "home"
    proc = _yinxin(args, home, tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["field"] == field, proc.stdout
    assert not home.exists(), sorted(p.name for p in home.iterdir())


def test_a_command_that_goes_ahead_makes_the_home_on_first_use(tmp_path: Path) -> None:
    """The database is still made where the command reads it: ``subscriber list`` on a new
    home answers an empty list, exit 0, and leaves the home and its ``yinxin.db``."""
    home = tmp_path / "home"
    proc = _yinxin(["subscriber", "list"], home, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout) == {"items": [], "next_after": None}
    assert (home / "yinxin.db").is_file()


def test_a_negative_grace_is_refused(tmp_path: Path) -> None:
    """``seal repair-files --grace -300`` (300 meant) was taken: every folder being older
    than that, it removed the folder of a seal being made at that moment, exit 0 (and made
    the home). The grace is 0 or more: exit 2 naming ``--grace``, nothing made."""
    home = tmp_path / "home"
    proc = _yinxin(["seal", "repair-files", "--grace", "-300"], home, tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    refusal = json.loads(proc.stdout)
    assert refusal["field"] == "grace" and "not in the range" in refusal["message"], refusal
    assert not home.exists()
