"""Issue 9 item 6: PINs and one-time codes stay off the command line (``ps`` shows it).

They come from the environment, from standard input (``--pin-stdin``, or whenever standard
input is not a terminal, one secret a line) or from a hidden prompt; ``--pin``/``--code`` still
work for old scripts but say they are discouraged.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.clear_text import in_clear
from tests.conftest import cli_env
from tests.integration.test_ca_lifecycle import enrol
from tests.integration.test_seals import PIN_ZHANG, personal_seal, world
from yinxin.adapters.cli import app as cli_app
from yinxin.app import Platform
from yinxin.pki.pinkeys import open_private_key
from yinxin.store.models import PlatformKey

NEW_PIN = "864213"


def invoke(
    p: Platform,
    args: list[str],
    *,
    input: str | None = None,
    env: dict[str, str | None] | None = None,
):
    # no PIN or code from the outer environment, unless the test gives one
    unset = dict.fromkeys(["YINXIN_PIN", "YINXIN_SEAL_PIN", "YINXIN_SEAL_NEW_PIN", "YINXIN_CODE"])
    return CliRunner().invoke(
        cli_app, args, input=input, env=cli_env(p, **{**unset, **(env or {})})
    )


def newest_key_opens_with(p: Platform, pin: str) -> bool:
    with p.db.read() as s:
        k = s.execute(select(PlatformKey).order_by(PlatformKey.id.desc())).scalars().first()
    return open_private_key(k.sealed_key, pin, k.label, kek=p.kek).native is not None


@pytest.mark.parametrize("how", ["stdin", "pin-stdin", "env", "option"])
def test_cert_apply_reads_the_pin_without_the_command_line(platform: Platform, how: str) -> None:
    p = platform
    person = enrol(p).person
    args = [
        "cert",
        "apply",
        "--subscriber-id",
        str(person.id),
        "--profile",
        "person-signing",
        "--platform-key",
        "--json",
    ]
    kw: dict = {}
    if how == "stdin":  # standard input is not a terminal: the PIN is its first line
        kw["input"] = NEW_PIN + "\n"
    elif how == "pin-stdin":
        args.append("--pin-stdin")
        kw["input"] = NEW_PIN + "\n"
        kw["env"] = {"YINXIN_PIN": "000000-not-this"}  # the explicit flag wins
    elif how == "env":
        kw["env"] = {"YINXIN_PIN": NEW_PIN}
    else:
        args += ["--pin", NEW_PIN]
    res = invoke(p, args, **kw)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["key_mode"] == "platform"
    assert not in_clear(NEW_PIN, res.stdout + res.stderr)
    assert newest_key_opens_with(p, NEW_PIN)
    if how == "option":
        assert "discouraged" in res.stderr and "ps" in res.stderr
    else:
        assert "discouraged" not in res.stderr


def test_no_pin_anywhere_is_refused_naming_the_ways(platform: Platform) -> None:
    p = platform
    person = enrol(p).person
    res = invoke(
        p,
        [
            "cert",
            "apply",
            "--subscriber-id",
            str(person.id),
            "--profile",
            "person-signing",
            "--platform-key",
        ],
        input="",
    )
    assert res.exit_code == 2 and "[pin]" in res.stderr
    assert "YINXIN_PIN" in res.stderr


def test_seal_change_pin_reads_both_pins_from_stdin(platform: Platform) -> None:
    p = platform
    w = world(p)
    seal = personal_seal(w)
    res = invoke(p, ["seal", "change-pin", seal.es_id, "--json"], input=f"{PIN_ZHANG}\n{NEW_PIN}\n")
    assert res.exit_code == 0, res.output
    assert p.seals.unlock_for_signing(seal.es_id, NEW_PIN)
    res = invoke(p, ["seal", "check", seal.es_id, "--with-pin", "--json"], input=f"{NEW_PIN}\n")
    assert res.exit_code == 0 and json.loads(res.stdout)["pin_ok"], res.output


@pytest.mark.parametrize(
    "command, words",
    [
        (["cert", "apply"], ["YINXIN_PIN", "--pin-stdin", "discouraged"]),
        (["cert", "rekey"], ["YINXIN_PIN", "--pin-stdin", "discouraged"]),
        (["cert", "reissue"], ["YINXIN_PIN", "--pin-stdin", "discouraged"]),
        (["seal", "check"], ["YINXIN_SEAL_PIN", "--pin-stdin", "discouraged"]),
        (["seal", "change-pin"], ["YINXIN_SEAL_PIN", "YINXIN_SEAL_NEW_PIN", "--pin-stdin"]),
        (["sign", "pdf"], ["YINXIN_SEAL_PIN", "YINXIN_CODE", "--pin-stdin", "discouraged"]),
    ],
)
def test_help_says_where_secrets_come_from(command: list[str], words: list[str]) -> None:
    res = CliRunner().invoke(cli_app, [*command, "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    text = " ".join(res.stdout.split())
    missing = [w for w in words if w.lower() not in text.lower()]
    assert not missing, f"{' '.join(command)} --help does not mention {missing}:\n{text}"


def test_an_endless_line_on_standard_input_is_refused_not_read_on(platform: Platform) -> None:
    """A secret's line of standard input was read to its end: ``… --pin-stdin < /dev/zero``
    (or a binary file piped in by mistake) read on until memory ran out, a MemoryError
    traceback. A secret's line is now read to a bound (1024 characters) and a longer one is
    refused naming the secret, exit 2, the seal untouched."""
    import subprocess
    import sys

    from tests.integration.server import ROOT, yinxin_env

    p = platform
    seal = personal_seal(world(p))
    env = yinxin_env(p.settings.home, extra={"YINXIN_DATABASE_URL": p.settings.database_url})
    with open("/dev/zero", "rb") as zero:
        proc = subprocess.run(
            [sys.executable, "-m", "yinxin.adapters.cli"]
            + ["seal", "check", seal.es_id, "--with-pin", "--pin-stdin", "--json"],
            env=env,
            stdin=zero,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=str(ROOT),
        )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["field"] == "pin" and "longer than 1024" in out["message"], out
    res = invoke(p, ["seal", "check", seal.es_id, "--with-pin"], input="1" * 5000 + "\n")
    assert res.exit_code == 2 and res.stderr.startswith("error [pin]: "), res.output
    assert p.seals.unlock_for_signing(seal.es_id, PIN_ZHANG)  # no attempt was counted


def test_seal_check_refuses_a_pin_it_would_not_check(platform: Platform) -> None:
    """``seal check SEAL --pin 000000`` (or ``--pin-stdin``) without ``--with-pin`` checked no
    PIN and answered "usable", exit 0: a wrong PIN looked accepted. Now the PIN option is
    refused naming it, exit 2, unless --with-pin asks for the check."""
    p = platform
    seal = personal_seal(world(p))
    for more, field in ((["--pin", "000000"], "pin"), (["--pin-stdin"], "pin_stdin")):
        res = invoke(p, ["seal", "check", seal.es_id, *more, "--json"], input="000000\n")
        assert res.exit_code == 2, res.output
        out = json.loads(res.stdout)
        assert out["field"] == field and "--with-pin" in out["message"], out
        assert "000000" not in res.output
    res = invoke(p, ["seal", "check", seal.es_id, "--with-pin", "--pin-stdin", "--json"],
                 input=f"{PIN_ZHANG}\n")  # fmt: skip
    assert res.exit_code == 0 and json.loads(res.stdout)["pin_ok"], res.output
