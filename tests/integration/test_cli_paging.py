"""``yinxin … list`` a page at a time, as the API's lists (``limit``/``after``) and ``contract
list`` page: ``--limit`` (1–200, default 50), ``--after ID``, ``next_after`` in the JSON and
``more: --after ID`` ending a page with more after it.

``cert list``, ``subscriber list``, ``seal list`` and ``authorization list`` printed every row
there was (a CA with 100,000 certificates printed them all) and had no ``--limit`` or
``--after``."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from tests.conftest import cli_env
from tests.integration.signing_flow import World
from tests.integration.test_authorizations import grant
from tests.integration.test_desk import add_003
from yinxin.adapters.cli import app as cli_app
from yinxin.app import Platform

# each listing's ids in its order, as the service (and the API) lists them
LISTED: dict[str, Callable[[Platform], list[int]]] = {
    "cert": lambda p: [c.id for c in p.certificates.list()],
    "subscriber": lambda p: [s.id for s in p.subscribers.list()],
    "seal": lambda p: [s.id for s in p.seals.list()],
    "authorization": lambda p: [a.id for a in p.authorizations.list()],
}


def _cli(p: Platform, group: str, *args: str):
    return CliRunner().invoke(cli_app, [group, "list", *args], env=cli_env(p))


def _walk(page: Callable[..., dict], limit: str) -> list[int]:
    """Every id a list gives, ``limit`` a page, following ``next_after`` to the end."""
    seen: list[int] = []
    after: list[str] = []
    while True:
        one = page("--limit", limit, *after)
        seen += [x["id"] for x in one["items"]]
        if one["next_after"] is None:
            return seen
        after = ["--after", str(one["next_after"])]


@pytest.mark.parametrize("group", list(LISTED))
def test_a_list_pages_as_contract_list_does(world: World, group: str) -> None:
    p = world.p
    if group == "authorization":  # the world has none: two of the organization's seal
        grant(world)
        grant(world)
    ids = LISTED[group](p)
    assert len(ids) >= 2

    def page(*args: str) -> dict:
        res = _cli(p, group, *args, "--json")
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout)

    first = page("--limit", "1")
    assert [x["id"] for x in first["items"]] == ids[:1] and first["next_after"] == ids[0]
    second = page("--limit", "1", "--after", str(ids[0]))
    assert [x["id"] for x in second["items"]] == ids[1:2]
    assert second["next_after"] == (ids[1] if len(ids) > 2 else None)
    # one at a time, following next_after, every row once and in order
    assert _walk(page, "1") == ids
    everything = page()  # the default page (50) holds them all: no next page
    assert [x["id"] for x in everything["items"]] == ids and everything["next_after"] is None

    text = _cli(p, group, "--limit", "1")
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert len(lines) == 2 and lines[-1] == f"more: --after {ids[0]}"
    assert "more:" not in _cli(p, group).stdout
    last = _cli(p, group, "--after", str(ids[-1]))
    assert last.exit_code == 0 and last.stdout == "" and "(none)" in last.stderr


@pytest.mark.parametrize("group", [*LISTED, "contract", "flow", "archive"])
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


# the lists whose API routes page since dd952ae and 5915dae (GET /webhooks, /api-keys,
# /desk/contracts) printed every row, and took no --limit or --after: the command, how to make
# one more row, and the ids in the service's order
PAGED_SINCE: dict[str, tuple[list[str], Callable[[Platform, int], object]]] = {
    "webhook": (
        ["webhook", "list"],
        lambda p, n: p.webhooks.subscribe(f"https://hooks.example.com/{n}", ["*"], None, "test"),
    ),
    "apikey": (
        ["apikey", "list"],
        lambda p, n: p.api_keys.create(name=f"k{n}", role="integration", actor="test"),
    ),
    "desk": (["desk", "contracts"], lambda p, n: add_003(p, f"ZK-YW-2026-{n:03d}")),
}
PAGED_IDS: dict[str, Callable[[Platform], list[int]]] = {
    "webhook": lambda p: [w.id for w in p.webhooks.list()],
    "apikey": lambda p: [k.id for k in p.api_keys.list()],
    "desk": lambda p: [c.id for c in p.desk.contracts()],
}


@pytest.mark.parametrize("group", list(PAGED_SINCE))
def test_the_lists_the_api_pages_page_in_the_cli_too(platform: Platform, group: str) -> None:
    p = platform
    command, make = PAGED_SINCE[group]
    for n in range(3):
        make(p, n)
    ids = PAGED_IDS[group](p)
    assert len(ids) >= 3

    def cli(*args: str):
        return CliRunner().invoke(cli_app, [*command, *args], env=cli_env(p))

    def page(*args: str) -> dict:
        res = cli(*args, "--json")
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout)

    first = page("--limit", "1")
    assert [x["id"] for x in first["items"]] == ids[:1] and first["next_after"] == ids[0]
    second = page("--limit", "1", "--after", str(ids[0]))
    assert [x["id"] for x in second["items"]] == ids[1:2] and second["next_after"] == ids[1]
    assert _walk(page, "2") == ids
    everything = page()
    assert [x["id"] for x in everything["items"]] == ids and everything["next_after"] is None

    text = cli("--limit", "1")
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert len(lines) == 2 and lines[-1] == f"more: --after {ids[0]}"
    assert "more:" not in cli().stdout
    last = cli("--after", str(ids[-1]))
    assert last.exit_code == 0 and last.stdout == "" and "(none" in last.stderr

    for args, option in [
        (["--limit", "0"], "limit"),
        (["--limit", "201"], "limit"),
        (["--limit", "x"], "'--limit'"),
        (["--after", "-1"], "'--after'"),
        (["--after", "x"], "'--after'"),
    ]:
        res = cli(*args)
        said = " ".join(res.stderr.split())
        assert res.exit_code == 2, (args, res.output)
        assert "No such option" not in said and option in said, said
        assert res.stdout == ""


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--limit", "0"], "[limit]"),
        (["--limit", "201"], "[limit]"),
        (["--after", "-1"], "'--after'"),
    ],
)
def test_desk_contracts_adoptable_pages(platform: Platform, args: list[str], option: str) -> None:
    """``--adoptable`` refused ``--limit``/``--after`` (GET /desk/contracts/adoptable did not
    page); now both page, so a page is {"items", "next_after"} and a bad size is refused
    naming the option (the walk itself: test_desk's adoptable test)."""
    res = CliRunner().invoke(
        cli_app,
        ["desk", "contracts", "--adoptable", "--limit", "1", "--after", "5", "--json"],
        env=cli_env(platform),
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"items": [], "next_after": None}
    res = CliRunner().invoke(
        cli_app, ["desk", "contracts", "--adoptable", *args], env=cli_env(platform)
    )
    said = " ".join(res.stderr.split())
    assert res.exit_code == 2, res.output
    assert option in said, said
    assert res.stdout == ""
