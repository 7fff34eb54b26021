"""``yinxin calc`` as installed: one line a person can read, ``--json`` for scripts, exit 2 and
the field for a refusal, and the operator's year files read from ``YINXIN_HOME``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.test_calc import SYNTHETIC_2099


def yinxin(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yinxin.adapters.cli", "calc", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "YINXIN_HOME": str(home), "COLUMNS": "80"},
        stdin=subprocess.DEVNULL,
    )


def test_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"  # no platform needed: calc reads no database
    (home / "calendars").mkdir(parents=True)
    (home / "calendars" / "2099.json").write_text(json.dumps(SYNTHETIC_2099), encoding="utf-8")
    out = yinxin(home, "capitals", "1740000")
    assert (out.returncode, out.stdout) == (0, "壹佰柒拾肆万元整\n"), out.stderr
    out = yinxin(home, "amount", "壹万伍佰元整", "--json")
    assert out.returncode == 2
    assert json.loads(out.stdout)["field"] == "amount_in_capitals"
    out = yinxin(home, "workdays", "add", "2026-02-12", "-1")
    assert out.returncode == 2 and "[days]" in out.stderr, out.stderr
    for days in ("+1", "1_0", "１"):  # int() took them as 1, 10 and 1
        out = yinxin(home, "workdays", "add", "2099-01-20", days)
        assert out.returncode == 2 and "[days]" in out.stderr, (days, out.stderr)
    out = yinxin(home, "workdays", "add", "2099-01-20", "1", "--json")
    assert json.loads(out.stdout)["end"] == "2099-01-28"  # the home's calendars were read
    out = yinxin(home, "workdays", "check", "2027-01-04", "--json")
    assert out.returncode == 2 and json.loads(out.stdout)["error"] == "calendar_missing"
    # a year without a calendar names what was typed that reaches it (it said [date] for all)
    for args, field in [
        (("workdays", "add", "2098-12-28", "1"), "date"),
        (("workdays", "add", "2099-12-28", "10"), "days"),
        (("workdays", "between", "2099-12-25", "2100-01-10"), "end"),
        (("schedule", "1740000", "--acceptance", "2099-12-20"), "acceptance"),
        (
            ("schedule", "1740000", "--acceptance", "2099-03-02", "--go-live", "2099-03-04"),
            "go_live",
        ),
        (("acceptance", "2099-12-28"), "requested"),
        (("acceptance", "2099-12-01", "--reminded", "2099-12-30"), "reminded"),
    ]:
        out = yinxin(home, *args)
        assert out.returncode == 2 and f"[{field}]" in out.stderr, (args, out.stderr)
        assert "calendar_missing" in out.stderr, (args, out.stderr)
    out = yinxin(
        home,
        "penalty",
        "28000",
        "--due",
        "2025-12-31",
        "--as-of",
        "2026-01-31",
        "--clause",
        "003-10.1.2",
        "--paid",
        "2026-01-10=10000",
        "--paid",
        "2026-01-20=18000",
    )
    # one line, not wrapped at the terminal's width
    assert out.stdout == (
        "逾期 10 日 × 5‰ × ¥28,000.00 = ¥1,400.00；逾期 10 日 × 5‰ × ¥18,000.00 = ¥900.00；"
        "合计 ¥2,300.00\n"
    ), out.stderr
    out = yinxin(home, "notice", "express", "--posted", "2026-09-30", "--other", "--json")
    assert (out.returncode, json.loads(out.stdout)["served_on"]) == (0, "2026-10-05"), out.stderr
    out = yinxin(home, "notice", "email", "--arrived", "2026-10-08T18:30:00", "--json")
    assert out.returncode == 2 and json.loads(out.stdout)["field"] == "arrived"
    out = yinxin(home, "notice", "email", "--arrived", "2026-10-08T18:30+08:00", "--formal")
    assert out.returncode == 0 and "电子邮件不视为送达" in out.stdout, out.stderr


def test_refusals_name_the_options_typed(tmp_path: Path) -> None:
    """``calc notice email`` said "needs arrived_at" and ``--paid`` refusals named
    ``payments``: names of the service's fields, which no option of these commands is called."""
    home = tmp_path / "home"
    cases = [
        # what to give, said in Chinese and English: "a notice sent by in_person needs
        # --signed" named the method's API value in a sentence and said nothing of the fact
        (["notice", "email"], "[arrived]", "电子邮件的通知：请给出邮件进入对方邮件系统的时间"),
        (["notice", "email"], "[arrived]", "a notice sent by e-mail: give --arrived, when it"),
        (["notice", "in_person"], "[signed]", "专人递送的通知：请给出接收人签收的日期"),
        (
            ["notice", "in_person"],
            "[signed]",
            "a notice delivered in person: give --signed, the day the recipient signed for it",
        ),
        (["notice", "express"], "[posted]", "give --posted, the day on the postmark"),
        (
            ["notice", "express", "--posted", "2026-01-05"],
            "[local]",
            "特快专递的通知：请说明是否寄往本市内",
        ),
        (
            ["notice", "express", "--posted", "2026-01-05"],
            "[local]",
            "a notice sent by express mail: give --local or --other, whether it went within",
        ),
        (
            ["notice", "express", "--signed", "2026-01-01", "--posted", "2026-01-05", "--local"],
            "[signed]",
            "特快专递的通知不用签收日期，请去掉 / --signed is not a fact of a notice sent by "
            "express mail: leave it out",
        ),
        (
            ["notice", "email", "--arrived", "2026-10-08T18:30+08:00", "--not-agreed-address"],
            "[not_agreed_address]",
            "--not-agreed-address is not a fact",
        ),
        (["notice", "email", "--arrived", "2026-10-08T18:30"], "[arrived]", "with its offset"),
        (
            ["notice", "express", "--posted", "9999-12-30", "--local"],
            "[posted]",
            "--posted: 3 days after 9999-12-30",
        ),
        (
            [
                "penalty", "1000", "--due", "2026-01-01", "--as-of", "2026-01-31",
                "--rate", "1%", "--paid", "2026-01-10=2000",
            ],
            "[paid]",
            "more was paid than was due",
        ),
    ]  # fmt: skip
    for args, field, words in cases:
        out = yinxin(home, *args)
        assert out.returncode == 2, (args, out.stderr)
        assert field in out.stderr and words in out.stderr, (args, out.stderr)
        for name in ("arrived_at", "signed_on", "posted_on", "agreed_address", "payments"):
            assert f"[{name}]" not in out.stderr and f" {name} " not in out.stderr, out.stderr
