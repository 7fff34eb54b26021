"""What an operator reads from ``yinxin``'s listings and progress lines."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from yinxin.adapters.cli import app as cli_app


def test_plan_list_prints_yuan_and_its_json_keeps_the_fen(tmp_path) -> None:
    env = {"YINXIN_HOME": str(tmp_path / "home")}
    res = CliRunner().invoke(cli_app, ["plan", "list"], env=env)
    assert res.exit_code == 0, res.output
    assert "_fen" not in res.stdout and "7000" not in res.stdout
    standard, premium = res.stdout.splitlines()
    assert standard.startswith("standard  ")
    assert "¥70.00/year" in standard and "medium ¥50.00" in standard
    assert "renewal ¥70.00/year" in standard
    assert "¥650.00/year" in premium and "renewal ¥600.00/year" in premium
    assert "hardware included" in premium and "hardware" not in standard
    res = CliRunner().invoke(cli_app, ["plan", "list", "--json"], env=env)
    rows = json.loads(res.stdout)
    assert rows[0]["annual_fen"] == 7000 and rows[0]["medium_fen"] == 5000
    assert rows[1]["renewal_fen"] == 60000 and rows[1]["includes_hardware"] is True
