"""A caller that passes ``--json`` gets every refusal as JSON, the parser's own included: an
unknown option, a missing argument or a value out of range comes back as the services'
refusals do (``{"error": "invalid", "message": …, "field": …}`` on standard output, exit 2),
not as a usage block on standard error that a script would have to parse."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.integration.server import yinxin_cli, yinxin_env
from yinxin.adapters.cli import _wants_json


@pytest.mark.parametrize(
    ("args", "field", "says"),
    [
        (["subscriber", "show", "99999999999999999999"], "subscriber_id", "is not in the range"),
        (["subscriber", "show", "abc"], "subscriber_id", "'abc'"),
        (["subscriber", "show"], "subscriber_id", "Missing argument"),
        (["subscriber", "list", "--bogus"], "bogus", "No such option: --bogus"),
        (["cert", "expiring", "--days", "3000000"], "days", "0<=x<=3650"),
        (["verify"], "files", "Missing argument"),  # a top-level command: the full tree
        (["nosuch"], None, "No such command 'nosuch'"),
    ],
)
def test_a_usage_error_under_json_is_a_json_refusal(tmp_path, args, field, says) -> None:
    home = tmp_path / "home"
    r = yinxin_cli([*args, "--json"], home, check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    body = json.loads(r.stdout)
    assert body["error"] == "invalid" and says in body["message"], body
    assert body.get("field") == field, body
    assert "Traceback" not in r.stderr and "Usage:" not in r.stderr
    assert not home.exists()  # refused by the parser: nothing was opened or made


def test_without_json_the_usage_block_is_as_before(tmp_path) -> None:
    r = yinxin_cli(["subscriber", "list", "--bogus"], tmp_path / "home", check=False)
    assert r.returncode == 2 and r.stdout == ""
    assert "subscriber list [OPTIONS]" in r.stderr and "No such option" in r.stderr


def test_json_answers_and_exit_codes_are_unchanged(tmp_path) -> None:
    home = tmp_path / "home"
    r = yinxin_cli(["subscriber", "show", "7", "--json"], home, check=False)
    assert r.returncode == 3  # a service's refusal keeps its own code
    assert json.loads(r.stdout) == {
        "error": "not_found",
        "message": "no subscriber with id 7",
        "field": "subscriber_id",
    }
    r = yinxin_cli(["plan", "list", "--json"], home)
    assert isinstance(json.loads(r.stdout), list)
    r = yinxin_cli(["subscriber", "show", "--help", "--json"], home)
    assert "subscriber show [OPTIONS]" in r.stdout  # help is help, exit 0


def test_json_after_a_double_dash_is_a_value_not_the_option() -> None:
    assert _wants_json(["verify", "a.pdf", "--json"])
    assert not _wants_json(["verify", "--", "--json"])
    assert not _wants_json(["verify", "a.pdf"])


@pytest.mark.parametrize("args", [["init"], ["subscriber", "list", "--json"]])
def test_an_empty_home_is_refused_not_read_as_the_current_folder(tmp_path, args) -> None:
    """``--home "$DIR"`` with ``DIR`` unset: the empty path was ``.``, so ``init`` set up a CA in
    whatever folder the operator stood in (an empty ``YINXIN_HOME`` means ``./var``)."""
    here = tmp_path / "cwd"
    here.mkdir()
    r = subprocess.run(
        [sys.executable, "-m", "yinxin.adapters.cli", *args, "--home", ""],
        env=yinxin_env(tmp_path / "home"),
        cwd=here,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2, r.stdout + r.stderr
    said = r.stdout if "--json" in args else " ".join(r.stderr.split())
    assert "'--home'" in said and "give a folder" in said and "Traceback" not in said
    assert not list(here.iterdir()) and not (tmp_path / "home").exists()


def test_every_actor_option_refuses_a_blank_name() -> None:
    """``--actor ""`` wrote audit events naming nobody through ``cert freeze``, ``ca
    add-hierarchy``, ``keys recrypt``, ``export``, ``flow start``, ``subscriber add-…``."""
    import typer
    from typer.main import get_command

    from tests.cli_tree import leaves
    from yinxin.adapters.cli import app

    seen = 0
    for where, command in leaves(get_command(app)):
        for param in command.params:
            if "--actor" not in getattr(param, "opts", ()):
                continue
            seen += 1
            ctx = command.make_context(where, [], resilient_parsing=True)
            for blank in ("", "   "):
                with pytest.raises(typer.BadParameter, match="name who acts"):
                    param.process_value(ctx, blank)
            assert param.process_value(ctx, "陈静") == "陈静"
            # longer than the audit trail's column: a database error on PostgreSQL
            with pytest.raises(typer.BadParameter, match="at most 100 characters"):
                param.process_value(ctx, "陈" * 101)
            assert param.process_value(ctx, "陈" * 100) == "陈" * 100
    assert seen >= 50  # registry, seals, signing, flows, desk, contracts, obligations, CA…


@pytest.mark.parametrize(
    "args",
    [
        ["cert", "freeze", "0123abcd", "--actor", ""],
        ["ca", "add-hierarchy", "--algorithm", "sm2", "--actor", " "],
        ["keys", "recrypt", "--cipher", "sm4-gcm", "--actor", ""],
    ],
)
def test_a_blank_actor_is_refused_before_anything_runs(tmp_path, args) -> None:
    home = tmp_path / "home"
    r = yinxin_cli([*args, "--json"], home, check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    body = json.loads(r.stdout)
    assert body["field"] == "actor" and "name who acts" in body["message"], body
    assert not home.exists()


def test_a_blank_or_over_long_actor_is_refused_in_both_languages(tmp_path) -> None:
    """A blank ``--actor``, or one over the audit trail's 100 characters, was refused in English
    alone ("name who acts …"), where its hidden-character refusal, beside it, is said in
    Chinese and English. Both are two-language now, exit 2 naming ``actor``, nothing made."""
    from yinxin.errors import halves

    home = tmp_path / "home"
    for actor, said in (
        (
            " ",
            ("须写明操作人（记入审计日志）", "name who acts (it is recorded in the audit trail)"),
        ),
        (
            "陈" * 101,
            (
                "操作人最多 100 个字符（审计日志所记），此处 101 个",
                "name who acts in at most 100 characters (the audit trail's), not 101",
            ),
        ),
    ):
        args = ["keys", "recrypt", "--cipher", "sm4-gcm", "--actor", actor]
        r = yinxin_cli([*args, "--json"], home, check=False)
        assert r.returncode == 2, r.stdout + r.stderr
        body = json.loads(r.stdout)
        where, message = body["message"].split(": ", 1)  # as click says every option's
        assert (body["field"], where) == ("actor", "Invalid value for '--actor'"), body
        assert halves(message) == said, body
        r = yinxin_cli(args, home, check=False)
        assert r.returncode == 2 and "--actor" in r.stderr, r.stderr
        assert not home.exists()
