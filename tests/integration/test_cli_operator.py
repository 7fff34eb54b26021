"""What an operator reads from ``yinxin``'s listings and progress lines."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.conftest import cli_env
from yinxin.adapters.cli import app as cli_app
from yinxin.app import Platform
from yinxin.clock import beijing_day
from yinxin.store.models.archive import ArchivedDocument


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


def _kept(p: Platform, states: list[str]) -> list[int]:
    """Rows of the archive as ``archive keep`` writes them (the listing reads no file)."""
    now = p.clock.now()
    with p.db.transaction() as s:
        rows = [
            ArchivedDocument(
                document_name=f"合同{i}.pdf",
                sha256=f"{i:064x}",
                path=f"archive/{i}.pdf",
                size=100,
                level="B-LT",
                state=state,
                created_at=now,
                newest_timestamp_at=now,
                tsa_not_after=now,
                renewals=0,
            )
            for i, state in enumerate(states)
        ]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def test_archive_list_pages_as_the_other_listings_do(platform: Platform) -> None:
    p = platform
    ids = _kept(p, ["active", "superseded", "active", "active", "active"])
    env = cli_env(p)

    def cli(*args: str):
        return CliRunner().invoke(cli_app, ["archive", "list", *args], env=env)

    page = json.loads(cli("--limit", "2", "--json").stdout)
    assert [d["id"] for d in page["items"]] == [ids[0], ids[2]]
    assert page["next_after"] == ids[2]
    page = json.loads(cli("--limit", "2", "--after", str(ids[2]), "--json").stdout)
    assert [d["id"] for d in page["items"]] == ids[3:] and page["next_after"] is None
    page = json.loads(cli("--all", "--limit", "2", "--json").stdout)
    assert [d["id"] for d in page["items"]] == ids[:2] and page["next_after"] == ids[1]
    res = cli("--limit", "2")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith(f"#{ids[0]} ") and "合同0.pdf" in lines[0]
    assert lines[-1] == f"more: --after {ids[2]}"
    assert len(cli().stdout.splitlines()) == 4  # all four active ones, no more to ask for
    bad = cli("--limit", "0", "--json")
    assert bad.exit_code == 2 and json.loads(bad.stdout)["field"] == "limit"
    res = cli("--after", str(ids[-1]))
    assert res.exit_code == 0 and res.stdout == "" and "no documents" in res.stderr


@pytest.mark.parametrize("group", ["cert", "seal"])
def test_a_list_refuses_an_unknown_or_impossible_subscriber(platform: Platform, group) -> None:
    """The API answers GET /certificates?subscriber_id= (and /seals) of no subscriber 404 and
    of 0 or less 422; the CLI printed "(none)", exit 0, as if the subscriber had no certificate
    (no seal)."""
    p = platform
    sub = p.subscribers.add_person(name="张三", id_number="110105199003071239", phone="13800138000")
    env = cli_env(p)

    def cli(*args: str):
        return CliRunner().invoke(cli_app, [group, "list", *args], env=env)

    res = cli("--subscriber-id", str(sub.id))
    assert res.exit_code == 0, res.output
    assert "(none)" in res.output
    res = cli("--subscriber-id", str(sub.id + 1))
    assert res.exit_code == 3, res.output
    assert f"no subscriber with id {sub.id + 1}" in res.output
    assert "subscriber_id" in res.output or "subscriber-id" in res.output
    for bad in ("0", "-1"):
        res = cli("--subscriber-id", bad)
        assert res.exit_code == 2, res.output
        assert "subscriber-id" in res.output


def test_cert_expiring_prints_a_line_a_certificate_not_its_pem(platform: Platform) -> None:
    """The renewal queue printed every field of each certificate on one line, its whole PEM
    among them with literal \\n; now one line each as cert list prints them."""
    from tests.integration.test_ca_lifecycle import enrol, issue

    p = platform
    cert = issue(p, enrol(p).person.id)
    env = cli_env(p)
    res = CliRunner().invoke(cli_app, ["cert", "expiring", "--days", "3650"], env=env)
    assert res.exit_code == 0, res.output
    assert "BEGIN CERTIFICATE" not in res.stdout and "pem=" not in res.stdout
    (line,) = res.stdout.splitlines()
    assert line.startswith(f"{cert.serial}  active  person-signing  ")
    assert f"valid to {beijing_day(cert.not_after)} (Beijing)" in line
    res = CliRunner().invoke(cli_app, ["cert", "expiring", "--days", "3650", "--json"], env=env)
    (row,) = json.loads(res.stdout)
    assert row["serial"] == cert.serial and "BEGIN CERTIFICATE" in row["pem"]
    res = CliRunner().invoke(cli_app, ["cert", "expiring", "--days", "0"], env=env)
    assert res.exit_code == 0 and "(none)" in res.output
