"""What the ``yinxin`` command prints is the user's text, as they wrote it.

Titles, names, reasons and messages reach rich's console. Read as markup, "[/]" in a contract
title made every listing showing it end in a traceback (after the write had succeeded), a
"[link=…]" in a party's name became a link in the officer's terminal, a seal's refusal code
"[seal_not_active]" vanished, and ":red_circle:" became a picture; piped output was wrapped at
80 columns, so the agreement a subscriber saved did not hash to what their acceptance records.
The consoles now read no markup and wrap nothing; colour comes only from ``say``/``styled``,
whose template is a literal and whose values are plain text. The last test keeps it so.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tests.conftest import cli_env
from tests.integration.test_seals import personal_seal, world
from yinxin.adapters.cli import app as cli_app
from yinxin.adapters.cli.common import styled
from yinxin.app import Platform

CLI = Path(__file__).resolve().parents[2] / "src" / "yinxin" / "adapters" / "cli"
TITLE = "运维合同[/]第一期 :red_circle: [bold]加粗[/bold]"
PARTY = "甲方[link=https://evil.example]点我[/link]"


def invoke(p: Platform, *args: str):
    env = cli_env(p)
    return CliRunner().invoke(cli_app, list(args), env=env)


def test_markup_in_the_users_text_is_printed_as_written(platform: Platform) -> None:
    p = platform
    long_b = "乙方" + "某某信息技术服务有限公司" * 4  # the line is far wider than 80 columns
    res = invoke(
        p,
        *("desk", "contract-add", "YW-2026-001", "--title", TITLE, "--party-a", PARTY),
        *("--party-b", long_b, "--annual-fee", "28000.00"),
        *("--starts-on", "2026-01-01", "--ends-on", "2027-12-31"),
    )
    assert res.exit_code == 0, res.output
    # the amounts as the contract, the report PDF and `obligation show` print them: ¥28,000.00
    assert f"Contract YW-2026-001 《{TITLE}》 fee ¥28,000.00/year, penalty ¥11.67" in res.stdout
    res = invoke(p, "desk", "contracts")
    assert res.exit_code == 0, res.output
    assert res.stdout == f"YW-2026-001  《{TITLE}》  {PARTY} / {long_b}\n"
    # the same text as the JSON answer holds: nothing was taken as a tag or an emoji code
    res = invoke(p, "desk", "contracts", "--json")
    (row,) = json.loads(res.stdout)["items"]  # a page: {"items", "next_after"}
    assert (row["title"], row["party_a"]) == (TITLE, PARTY)


def test_a_refusal_code_in_brackets_and_the_error_line_keep_their_text(platform: Platform) -> None:
    p = platform
    seal = personal_seal(world(p))
    p.seals.freeze(seal.es_id, actor="desk")
    # the answer is printed and, as `seal verify` of a bad record or `verify` of an INVALID
    # file, the exit status says it (it was 0): 1, so `seal check X && sign …` stops
    res = invoke(p, "seal", "check", seal.es_id)
    assert res.exit_code == 1, res.output
    assert res.stdout.startswith("unusable [seal_not_active]: seal "), res.stdout
    res = invoke(p, "seal", "check", seal.es_id, "--json")
    assert res.exit_code == 1, res.output
    out = json.loads(res.stdout)
    assert out["usable"] is False and out["code"] == "seal_not_active", out
    p.seals.unfreeze(seal.es_id, actor="desk")
    assert invoke(p, "seal", "check", seal.es_id).exit_code == 0
    res = invoke(p, "desk", "show", "999")
    assert res.exit_code == 3
    assert res.stderr.startswith("error [request"), res.stderr


def test_a_verb_without_a_view_of_its_own_prints_text(platform: Platform) -> None:
    """Verbs with no renderer printed pretty JSON to a person (subscriber show and list, cert
    applications, seal records…). Now: a record as aligned ``field  value`` lines, a list one
    record a line, an empty list said on standard error, a seal record's base64 (~100,000
    characters) by its ends and length — and ``--json`` still the whole, parseable answer."""
    p = platform
    w = world(p)
    seal = personal_seal(w)
    res = invoke(p, "subscriber", "show", str(w.zhang.id))
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == f"id               {w.zhang.id}"
    assert "name             张三" in lines and "email            -" in lines
    assert all(re.match(r"^[a-z_]+ +\S", line) for line in lines), lines
    res = invoke(p, "subscriber", "list")
    rows = res.stdout.splitlines()
    assert len(rows) == len(invoke(p, "subscriber", "list", "--json").stdout.split('"id"')) - 1
    assert rows[0].startswith(f"#{w.zhang.id}  kind=person  name=张三  "), rows[0]
    res = invoke(p, "seal", "records", seal.es_id)
    assert res.exit_code == 0 and "{" not in res.stdout, res.stdout[:300]
    (record,) = json.loads(invoke(p, "seal", "records", seal.es_id, "--json").stdout)
    blob = record["seseal_b64"]
    assert len(blob) > 1000
    shown = f"seseal_b64={blob[:16]}…{blob[-8:]} ({len(blob)} characters; --json for all)"
    assert shown in res.stdout and len(res.stdout) < 1000
    for empty, said in [
        (["apikey", "list"], "(none)"),
        (["desk", "contracts"], "(none: contract-add or adopt one)"),
        (["desk", "contracts", "--adoptable"], "(no signed O&M contract waits)"),
        (["flow", "list"], "(none)"),
    ]:  # with a view or without: an empty listing is said, on standard error
        res = invoke(p, *empty)
        assert res.exit_code == 0 and res.stdout == "" and res.stderr == said + "\n", empty


def test_a_verb_without_a_view_prints_times_as_the_views_do(platform: Platform) -> None:
    """A verb with no renderer printed its times as ISO 8601 (``created_at
    2026-12-05T20:34:04+00:00``, ``created_at=…``) where every verb with a view prints
    ``2026-12-05 20:34 UTC``: two forms of the same moment side by side in one terminal. Both
    go through the one formatter now; ``--json`` keeps ISO 8601 with the offset."""
    import datetime as dt

    p = platform
    w = world(p)
    when = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"
    res = invoke(p, "subscriber", "show", str(w.zhang.id))
    assert res.exit_code == 0, res.output
    assert re.search(rf"^created_at +{when}$", res.stdout, re.M), res.stdout
    res = invoke(p, "subscriber", "list")
    assert re.search(rf"  created_at={when}  ", res.stdout.splitlines()[0]), res.stdout
    got = json.loads(invoke(p, "subscriber", "show", str(w.zhang.id), "--json").stdout)
    assert dt.datetime.fromisoformat(got["created_at"]).utcoffset() == dt.timedelta(0), got


def test_verbs_that_replace_a_certificate_print_the_new_and_the_old(platform: Platform) -> None:
    """``cert renew`` renewed, then ended in a traceback printing its answer (it handed a
    renewal's pair of certificates to the one-certificate line); rekey, reissue and change
    printed the pair as nested JSON. Each prints the new certificate, then the old as it
    now stands, then any other certificate of the old key revoked with it."""
    p = platform
    w = world(p)
    old = w.zhang_cert.serial
    res = invoke(p, "cert", "pay", "--serial", old, "--years", "1")
    assert res.exit_code == 0, res.output
    res = invoke(p, "cert", "renew", old)
    assert res.exit_code == 0 and "Traceback" not in res.output, res.output
    new, was = res.stdout.splitlines()
    renewed = p.certificates.list(subscriber_id=w.zhang.id)[-1]
    assert renewed.serial != old
    assert new.startswith(f"new  {renewed.serial}  active  person-signing  "), new
    assert was.startswith(f"was  {old}  active  person-signing  "), was
    res = invoke(p, "cert", "change", renewed.serial, "--name", "张三丰")
    assert res.exit_code == 0, res.output
    # the renewal's predecessor, same key, went with it: named after
    new, was, also = res.stdout.splitlines()
    assert new.startswith("new  ") and "CN=张三丰" in new and " active " in new, new
    assert was.startswith(f"was  {renewed.serial}  revoked  "), was
    assert also == f"also revoked (same key): {old}", also


def test_cert_change_refusals_name_what_the_cli_takes(platform: Platform) -> None:
    """``cert change SERIAL`` with nothing to change was refused naming a field ``updates``
    that neither the CLI nor the API has; contact details alone pointed to the CLI only, also
    over HTTP. Now the empty change names ``name`` (``device_name`` for a device's
    certificate), and a contact detail alone names both ways to change it on the record."""
    from tests.integration.test_ca_lifecycle import enrol
    from tests.integration.test_ca_lifecycle import issue as issue_cert

    p = platform
    w = world(p)
    serial = w.zhang_cert.serial
    res = invoke(p, "cert", "change", serial)
    assert res.exit_code != 0 and "Traceback" not in res.output, res.output
    assert "name" in res.stderr and "updates" not in res.stderr, res.stderr
    device = enrol(p, 7).device
    dev = issue_cert(p, device.id, "device-tls", dns_names=["gw7.example.cn"])
    res = invoke(p, "cert", "change", dev.serial)
    assert res.exit_code != 0 and "device_name" in res.stderr, res.stderr
    res = invoke(p, "cert", "change", serial, "--phone", "13900139555")
    assert res.exit_code == 2 and res.stderr.startswith("error [phone]"), res.stderr
    said = " ".join(res.stderr.split())  # the console wraps long lines
    assert f"yinxin subscriber update {w.zhang.id} --phone" in said, said
    assert f"PATCH /api/v1/subscribers/{w.zhang.id}" in said, said
    assert p.certificates.get(serial).status == "active"  # nothing revoked


def test_the_agreement_prints_byte_for_byte_what_an_acceptance_records(
    platform: Platform,
) -> None:
    p = platform
    res = invoke(p, "subscriber", "agreement")
    assert res.exit_code == 0, res.output
    recorded = json.loads(invoke(p, "subscriber", "agreement", "--json").stdout)["sha256"]
    assert hashlib.sha256(res.stdout_bytes).hexdigest() == recorded
    assert max(len(line) for line in res.stdout.splitlines()) > 80  # not wrapped


def test_styled_colours_the_template_only() -> None:
    text = styled("[green]OK[/]: {} and {}", "[red]x[/]", "a\\")
    assert text.plain == "OK: [red]x[/] and a\\"
    assert [(s.start, s.end, str(s.style)) for s in text.spans] == [(0, 2, "green")]
    out = Console(width=40, force_terminal=True, color_system="standard", record=True)
    out.print(text)
    assert out.export_text() == "OK: [red]x[/] and a\\\n"
    # backslashes before a tag of the template, and a tag inside a value after backslashes
    for value in ("a\\", "a\\\\", "\\[bold]b[/bold]", "c\\\\[/]"):
        text = styled("[bold]{}[/] {}", value, value)
        assert text.plain == f"{value} {value}", value
        assert [(s.start, s.end) for s in text.spans] == [(0, len(value))], value
    # a value stays on its line and drives no terminal (an error can quote a document)
    assert styled("[red]error[/]: {}", "a\nb\x1b[8m").plain == "error: a\\nb\\x1b[8m"
    with pytest.raises(ValueError, match="2 places for 1 values"):
        styled("{} and {}", 1)


def _markup(node: ast.AST) -> bool:
    parts = node.values if isinstance(node, ast.JoinedStr) else [node]
    return any(
        isinstance(v, ast.Constant)
        and isinstance(v.value, str)
        and re.search(r"\[/?[a-z]+[^\]]*\]", v.value)
        for v in parts
    )


def test_colour_comes_only_from_a_literal_template() -> None:
    """``say``/``styled`` take a plain literal (an f-string would let a value in as markup)
    with as many ``{}`` as values; a console's ``print`` gets no markup (it would now be
    printed as brackets)."""
    wrong = []
    for path in sorted(CLI.glob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        passing_on = {  # say's own call of styled hands its caller's literal on
            id(n) for f in ast.walk(tree) if getattr(f, "name", "") == "say" for n in ast.walk(f)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args or id(node) in passing_on:
                continue
            name = ast.unparse(node.func)
            first = node.args[0]
            if name in ("say", "styled"):
                if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                    wrong.append(f"{path.name}:{node.lineno} {name} with a computed template")
                elif first.value.count("{}") != len(node.args) - 1 or any(
                    isinstance(a, ast.Starred) for a in node.args
                ):  # a miscount would fail after the command's work is done
                    wrong.append(f"{path.name}:{node.lineno} {name}: places and values differ")
            if name.endswith("console.print") and _markup(first):
                wrong.append(f"{path.name}:{node.lineno} markup given to {name}")
    assert not wrong, wrong


def test_the_error_line_names_the_refusals_code(platform: Platform) -> None:
    """The error line named the field and the message, not the refusal's code (the JSON
    answer's ``error``, the API's): a script told ``not_in_subject`` from another bad phone
    only by parsing the message. The line now ends in ``(code: …)``, whatever the refusal;
    the message stays where it was and the exit code is unchanged."""
    p = platform
    w = world(p)
    res = invoke(p, "cert", "change", w.zhang_cert.serial, "--phone", "13900139555")
    assert res.exit_code == 2, res.output
    line = res.stderr.rstrip("\n")
    assert "\n" not in line and line.startswith("error [phone]: "), res.stderr
    assert line.endswith(" (code: not_in_subject)"), res.stderr
    res = invoke(p, "desk", "show", "999")
    assert res.exit_code == 3 and res.stderr.startswith("error [request"), res.stderr
    assert res.stderr.rstrip("\n").endswith(" (code: not_found)"), res.stderr
    res = invoke(
        p, "subscriber", "add-person", "--name", "张三", "--id-number", "1", "--phone", "1"
    )
    assert res.exit_code == 2, res.output
    assert re.fullmatch(r"error \[\w+\]: .+ \(code: invalid\)\n", res.stderr), res.stderr
