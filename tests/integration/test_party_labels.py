"""A contract's parties are named as the contract prints them (委托方（甲方）), and a party
whose title is its role once: ``yinxin contract show`` printed 甲方（甲方）, and put the role
first (甲方（委托方）) where the PDF, the API's pages and the desk put the title first."""

from __future__ import annotations

from pathlib import Path

from tests.integration.server import yinxin_cli, yinxin_json
from tests.integration.signing_flow import new_platform
from yinxin.contracts.templates import get_template, party_label


def test_party_label() -> None:
    assert party_label("委托方", "甲方") == "委托方（甲方）"
    assert party_label("甲方", "甲方") == "甲方"
    assert [p.label for p in get_template("om-service").parties] == ["甲方", "乙方"]


def test_cli_names_parties_as_the_contract_prints_them(tmp_path: Path) -> None:
    home = tmp_path / "cli"
    new_platform(home).close()
    shown = yinxin_cli(["contract", "template", "tech-service"], home).stdout
    assert "party 委托方（甲方）  anchor 甲方（签章）" in shown, shown
    shown = yinxin_cli(["contract", "template", "om-service"], home).stdout
    assert "party 甲方  anchor 甲方（签章）" in shown and "甲方（甲方）" not in shown, shown
    for code, lines in (
        ("om-service", ("  甲方：", "  乙方：")),
        ("tech-service", ("  委托方（甲方）：", "  服务方（乙方）：")),
    ):
        drafted = yinxin_json(["contract", "draft", code, "--example"], home)
        shown = yinxin_cli(["contract", "show", str(drafted["id"])], home).stdout
        assert all(line in shown for line in lines), shown
        assert "甲方（甲方）" not in shown and "甲方（委托方）" not in shown, shown
