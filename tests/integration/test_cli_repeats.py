"""An option that takes one value, given twice on the command line, is refused.

click kept the last one: ``cert expiring --days 5 --days 30`` ran as 30, ``sign pdf … --out
a.pdf --out b.pdf`` wrote b.pdf, where the API refuses a repeated query parameter or JSON
member. Now the parser refuses it, naming the option as typed, exit 2, before anything runs;
an option declared to take many (``--signer``, ``--set``, ``--crl``…) keeps its repeats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.integration.server import yinxin_cli
from yinxin.adapters.cli import _answer_in_json, app
from yinxin.adapters.cli.common import OnceCommand

SIGN_PDF = ["sign", "pdf", "--in", "{pdf}", "--seal", "1", "--signer", "1"]
SIGN_PDF += ["--challenge", "c", "--pin-stdin"]


@pytest.mark.parametrize(
    ("args", "message", "field"),
    [
        (["cert", "expiring", "--days", "5", "--days", "30"], "--days was given twice", "days"),
        (["cert", "expiring", "--days=5", "--days", "30"], "--days was given twice", "days"),
        (["cert", "expiring", "--days", "5", "--days=5"], "--days was given twice", "days"),
        (
            [*SIGN_PDF, "--out", "{tmp}/a.pdf", "--out", "{tmp}/b.pdf"],
            "--out was given twice",
            "output",
        ),
        ([*SIGN_PDF, "--out={tmp}/a.pdf", "--in", "{pdf}"], "--in was given twice", "input"),
        (
            ["verify", "{pdf}", "-j", "1", "--jobs", "2"],
            "--jobs was given twice (first as -j)",
            "jobs",
        ),
        (["verify", "{pdf}", "-j1", "-j2"], "-j was given twice", "jobs"),
        (
            ["sign", "pdf", "--lock", "--out", "{tmp}/a.pdf", "--no-lock"],
            "--no-lock was given with --lock; give one of them",
            "lock",
        ),
        (
            ["calc", "notice", "express", "--posted", "2026-01-05", "--local", "--other"],
            "--other was given with --local; give one of them",
            "local",
        ),
    ],
)
def test_an_option_given_twice_is_refused_and_nothing_runs(
    tmp_path: Path, args: list[str], message: str, field: str, capsys, monkeypatch
) -> None:
    pdf = tmp_path / "in.pdf"
    pdf.write_bytes(b"%PDF-1.7\n")
    home = tmp_path / "home"
    args = [a.format(pdf=pdf, tmp=tmp_path) for a in args]
    env = {"YINXIN_HOME": str(home), "YINXIN_SEAL_PIN": "123456", "YINXIN_CODE": "123456"}
    runner = CliRunner()
    res = runner.invoke(app, args, env=env)
    assert res.exit_code == 2, res.output
    assert message in res.output
    # with --json, as main() answers: the refusal in JSON on standard output
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert _answer_in_json(app, args if "--json" in args else [*args, "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["error"] == "invalid" and message in out["message"], out
    assert out["field"] == field, out
    # nothing ran: no data directory, no output written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.pdf"]


def test_the_same_flag_twice_is_taken() -> None:
    """``--json --json`` says one thing: taken (test helpers and scripts append ``--json``)."""
    params = _parsed(["cert", "expiring"], ["--json", "--days", "3", "--json"])
    assert params["as_json"] is True and params["days"] == 3
    params = _parsed(["verify"], ["x.pdf", "--json", "--json"])
    assert params["as_json"] is True


def test_through_the_yinxin_command(tmp_path: Path) -> None:
    """``yinxin cert expiring`` (the cut-down tree ``main()`` builds) refuses it too."""
    r = yinxin_cli(["cert", "expiring", "--days", "5", "--days", "30"], tmp_path / "h", check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "--days was given twice" in r.stderr and not (tmp_path / "h").exists()


def _parsed(verb: list[str], args: list[str]) -> dict:
    """The values ``yinxin VERB ARGS`` parses to, the command not run."""
    command = typer.main.get_command(app)
    for name in verb:
        command = command.commands[name]
    return command.make_context(verb[-1], args).params


def test_an_option_that_takes_many_keeps_its_repeats() -> None:
    params = _parsed(["verify"], ["x.pdf", "--crl", "a.crl", "--crl", "b.crl", "-j", "1"])
    assert [str(p) for p in params["crl"]] == ["a.crl", "b.crl"] and params["jobs"] == 1
    args = ["t", "--set", "a=1", "--set", "b=2", "--attach", "x=y.pdf", "--attach", "z=w.pdf"]
    params = _parsed(["contract", "draft"], args)
    assert list(params["set_"]) == ["a=1", "b=2"], params
    assert list(params["attach"]) == ["x=y.pdf", "z=w.pdf"], params


def test_every_command_refuses_a_repeat() -> None:
    """Every command of the tree parses with the refusing parser (none built otherwise)."""

    def walk(cmd) -> list:
        subs = getattr(cmd, "commands", None)
        if subs is None:
            return [cmd]
        return [c for sub in subs.values() for c in walk(sub)]

    commands = walk(typer.main.get_command(app))
    assert len(commands) > 100
    assert [c.name for c in commands if not isinstance(c, OnceCommand)] == []
