"""``yinxin … list`` a page at a time, as the API's lists (``limit``/``after``) and ``contract
list`` page: ``--limit`` (1–200, default 50), ``--after ID``, ``next_after`` in the JSON and
``more: --after ID`` ending a page with more after it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.conftest import cli_env
from yinxin.adapters.cli import app as cli_app
from yinxin.app import Platform


def _cli(p: Platform, group: str, *args: str):
    return CliRunner().invoke(cli_app, [group, "list", *args], env=cli_env(p))


@pytest.mark.parametrize("group", ["contract", "flow", "archive"])
@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--limit", "0"], "limit"),
        (["--limit", "201"], "limit"),
        (["--limit", "x"], "'--limit'"),
        (["--after", "-1"], "'--after'"),
        (["--after", "x"], "'--after'"),
    ],
)
def test_a_list_refuses_a_bad_page_naming_the_option(
    platform: Platform, group: str, args: list[str], option: str
) -> None:
    """``--after -1`` listed nothing, exit 0 (``contract``, ``flow`` and ``archive list``);
    the API refuses ``after=-1`` (422), as the CLI refuses the other bad values."""
    res = _cli(platform, group, *args)
    said = " ".join(res.stderr.split())
    assert res.exit_code == 2, res.output
    assert "No such option" not in said and option in said, said
    assert res.stdout == ""
