"""Whole numbers on the command line: every one has a range, so a twenty-digit id or a window
of millions of days is refused by name with exit 2, never a traceback from SQLite or
``datetime``."""

from __future__ import annotations

import inspect
import json

import pytest
import typer
from typer.main import get_command

from tests.cli_tree import leaves
from tests.integration.server import yinxin_cli
from yinxin.adapters.cli import WHOLE_NUMBER_LIMIT, _bounded, app
from yinxin.adapters.cli.common import deadline_at
from yinxin.errors import ValidationError
from yinxin.registry.certificates import NOTICE_DAYS_MAX


def test_every_whole_number_parameter_has_a_range_the_database_holds() -> None:
    seen = 0
    for where, command in leaves(get_command(app)):
        for param in command.params:
            kind = type(param.type).__name__
            if "Int" not in kind:
                continue
            seen += 1
            low, high = getattr(param.type, "min", None), getattr(param.type, "max", None)
            assert low is not None and high is not None, (where, param.name, kind)
            assert -WHOLE_NUMBER_LIMIT <= low <= high <= WHOLE_NUMBER_LIMIT, (where, param.name)
    assert seen >= 90  # ids, counts, pages and days across the tree
    # a range a command declares is kept
    cert = get_command(app).commands["cert"].commands
    days = {p.name: p.type for p in cert["notify-expiring"].params}
    assert (days["days"].min, days["days"].max) == (0, NOTICE_DAYS_MAX)
    assert (days["repeat_after"].min, days["repeat_after"].max) == (0, NOTICE_DAYS_MAX)
    serve = {p.name: p.type for p in get_command(app).commands["serve"].params}
    assert (serve["workers"].min, serve["workers"].max) == (1, 256)
    # an id declares none: it gets both ends
    show = {p.name: p.type for p in get_command(app).commands["flow"].commands["show"].params}
    assert (show["flow_id"].min, show["flow_id"].max) == (-WHOLE_NUMBER_LIMIT, WHOLE_NUMBER_LIMIT)


def test_help_shows_the_bounds_a_command_sets_not_the_databases() -> None:
    """Every whole number without a range of its own showed
    ``<int range> [-9223372036854775807<=x<=9223372036854775807]`` in the help (an id, a
    ``--workday-hours``): the database's limit, which hid the bounds that matter."""
    from typer.testing import CliRunner

    from yinxin.adapters.cli.common import DecimalIntRange

    limit = WHOLE_NUMBER_LIMIT
    assert DecimalIntRange(min=-limit, max=limit)._describe_range() == ""
    assert DecimalIntRange(min=-limit, max=limit).name == "int"
    assert DecimalIntRange(min=0, max=limit)._describe_range() == "x>=0"
    assert DecimalIntRange(min=-limit, max=50)._describe_range() == "x<=50"
    assert DecimalIntRange(min=1, max=200)._describe_range() == "1<=x<=200"
    runner = CliRunner()
    helped = 0
    for where, command in leaves(get_command(app)):
        if not any("Int" in type(p.type).__name__ for p in command.params):
            continue
        out = runner.invoke(app, [*where.split(), "--help"], env={"COLUMNS": "200"})
        assert out.exit_code == 0, (where, out.output)
        assert str(limit) not in out.output, (where, out.output)
        helped += 1
    assert helped >= 60
    days = runner.invoke(app, ["cert", "expiring", "--help"], env={"COLUMNS": "200"}).output
    assert "[0<=x<=3650]" in days  # a range a command sets is shown


def test_a_declared_end_is_kept_and_only_the_missing_one_filled_in() -> None:
    def command(
        count: int = typer.Option(0, min=0),
        page: int | None = typer.Option(None, max=50),
        pages: list[int] = typer.Option([]),
        name: str = typer.Option("x"),
    ) -> None: ...

    _bounded(command)
    info = {k: v.default for k, v in inspect.signature(command).parameters.items()}
    assert (info["count"].min, info["count"].max) == (0, WHOLE_NUMBER_LIMIT)
    assert (info["page"].min, info["page"].max) == (-WHOLE_NUMBER_LIMIT, 50)
    assert (info["pages"].min, info["pages"].max) == (-WHOLE_NUMBER_LIMIT, WHOLE_NUMBER_LIMIT)
    assert (info["name"].min, info["name"].max) == (None, None)  # not a number: untouched


def test_an_id_too_large_for_the_database_is_refused_before_anything_runs(tmp_path) -> None:
    home = tmp_path / "home"
    r = yinxin_cli(["subscriber", "show", "99999999999999999999"], home, check=False)
    assert r.returncode == 2, r.stderr
    assert "subscriber_id" in r.stderr and "is not in the range" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert not home.exists()  # refused by the parser: no platform, no database
    # the largest id the database holds is asked for, and simply not found
    r = yinxin_cli(["subscriber", "show", str(WHOLE_NUMBER_LIMIT)], home, check=False)
    assert r.returncode == 3 and f"no subscriber with id {WHOLE_NUMBER_LIMIT}" in r.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["cert", "expiring", "--days", "3000000"],
            "'--days': 3000000 is not in the range 0<=x<=3650",
        ),
        (["cert", "notify-expiring", "--repeat-after", "99999"], "'--repeat-after'"),
        (["archive", "renew", "--margin-days", "1000000000"], "'--margin-days'"),
        (["archive", "renew", "--refresh-days", "86"], "'--refresh-days'"),
    ],
)
def test_a_day_count_past_year_9999_is_refused_by_name(tmp_path, args, says) -> None:
    r = yinxin_cli(args, tmp_path / "home", check=False)
    assert r.returncode == 2, r.stderr
    assert says in " ".join(r.stderr.split()) and "Traceback" not in r.stderr


def test_a_deadline_in_days_stays_within_the_flows_year() -> None:
    """``flow create`` and ``contract send`` turn ``--days`` into a time before the flow
    service sees it: the count is checked first (``None`` stands for the platform, not
    reached)."""
    for days in (0, 367, 3_000_000):
        with pytest.raises(ValidationError) as e:
            deadline_at(None, None, days)  # type: ignore[arg-type]
        assert e.value.field == "days"


def test_every_real_number_parameter_refuses_nan_and_infinity() -> None:
    """Python's ``float`` reads "nan" and "inf", and a declared range lets NaN through."""
    seen = 0
    for where, command in leaves(get_command(app)):
        for param in command.params:
            if "Float" not in type(param.type).__name__:
                continue
            seen += 1
            for bad in ("nan", "inf", "-inf"):
                with pytest.raises(
                    typer.BadParameter,
                    match="not a finite number|not in the range|not a number written in decimal",
                ):
                    param.process_value(
                        command.make_context(where, [], resilient_parsing=True), bad
                    )
    assert seen >= 15  # timeouts, the worker's tick, seal placements, repair-files' grace


@pytest.mark.parametrize(
    ("option", "args"),
    [
        ("--grace", ["seal", "repair-files", "--grace", "nan"]),  # a seal being made: "crashed"
        ("--tick", ["worker", "--tick", "nan"]),  # a traceback at its first sleep
        ("--header-timeout", ["serve", "--header-timeout", "inf"]),  # never timing out
        # wrote a PDF whose seal rectangle was NaN, unreadable by `yinxin verify`
        (
            "--x",
            [
                "sign",
                "local",
                "--in",
                "a.pdf",
                "--out",
                "b.pdf",
                "--key",
                "k",
                "--cert",
                "c",
                "--page",
                "1",
                "--x",
                "nan",
                "--y",
                "10",
            ],
        ),
    ],
)
def test_a_real_number_that_is_not_finite_is_refused_by_name(tmp_path, option, args) -> None:
    home = tmp_path / "home"
    r = yinxin_cli(args, home, check=False)
    assert r.returncode == 2, r.stderr
    said = " ".join(r.stderr.replace("│", " ").split())
    assert f"'{option}'" in said, said
    assert "is not a number written in decimal digits" in said, said
    assert "Traceback" not in said
    assert not home.exists()  # refused by the parser: no platform, no database


TOO_LARGE = "99999999999999999999"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (
            [
                "flow",
                "create",
                "--title",
                "t",
                "--doc",
                "{pdf}",
                "--signer",
                f"subscriber={TOO_LARGE},role=甲方,seal=1",
            ],
            "signers[0].subscriber",
        ),
        (
            [
                "flow",
                "create",
                "--title",
                "t",
                "--doc",
                "{pdf}",
                "--signer",
                "subscriber=1,role=甲方,seal=1,page=²,x=1,y=1",
            ],
            "signers[0].page",
        ),
        (
            ["contract", "send", "1", "--signer", f"role=甲方,subscriber={TOO_LARGE},seal=1"],
            "signers[0].subscriber",
        ),
        (
            ["desk", "record-flow", "1", "--party-a", f"{TOO_LARGE}:1", "--party-b", "1:1"],
            "party_a",
        ),
        (["desk", "record-flow", "1", "--party-a", "²:1", "--party-b", "1:1"], "party_a"),
        # a sign or spaces, which every number the parser reads refuses: +3 was page 3
        (
            [
                "flow",
                "create",
                "--title",
                "t",
                "--doc",
                "{pdf}",
                "--signer",
                "subscriber=1,role=甲方,seal=1,page=+3,x=1,y=1",
            ],
            "signers[0].page",
        ),
        (["desk", "record-flow", "1", "--party-a", "+3:1", "--party-b", "1:1"], "party_a"),
        (["desk", "record-flow", "1", "--party-a", "1:1", "--party-b", " 3 :1"], "party_b"),
    ],
)
def test_an_id_inside_an_option_value_is_checked_as_the_parser_checks_one(
    tmp_path, args, field
) -> None:
    """``subscriber=N`` of ``--signer`` and ``N:SEAL`` of ``--party-a`` are read by the command,
    not the parser: twenty digits reached SQLite (OverflowError) and ``²`` passed
    ``str.isdigit`` to fail in ``int`` — both tracebacks."""
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(b"%PDF-1.7\n")
    home = tmp_path / "home"
    r = yinxin_cli([a.format(pdf=pdf) for a in args] + ["--json"], home, check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    err = json.loads(r.stdout)
    assert err["field"] == field and "whole number" in err["message"], err
    assert not home.exists()  # refused before the platform is built


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["webhook", "dispatch", "--limit", "0"], "0 is not in the range 1<=x<=10000"),
        (["webhook", "dispatch", "--limit", "-5"], "-5 is not in the range 1<=x<=10000"),
        (["webhook", "deliver", "--limit", "0"], "0 is not in the range 1<=x<=1000"),
        (["webhook", "deliver", "--limit", "5000"], "5000 is not in the range 1<=x<=1000"),
    ],
)
def test_a_webhook_batch_limit_out_of_the_services_range_is_refused(tmp_path, args, says) -> None:
    """The service clamps its limit: ``--limit 0`` or ``-5`` ran as 1, ``--limit 5000`` as
    1000, and nothing said so. The range is the parser's now."""
    home = tmp_path / "home"
    r = yinxin_cli(args, home, check=False)
    assert r.returncode == 2, r.stderr
    assert "'--limit'" in r.stderr and says in " ".join(r.stderr.split())
    assert not home.exists()


OTHER_DIGITS = ["７", "٥", "1_0", " 7", "7 ", "+7", "²"]


def test_every_number_parameter_takes_ascii_decimal_digits_only() -> None:
    """click reads an int or float option with Python's ``int``/``float``, which take
    full-width ``７``, Arabic-Indic ``٥``, ``1_0``, ``+7`` and spaces: ``subscriber show ７``
    showed subscriber 7. Every number parameter of the tree refuses them, and still reads
    ASCII digits."""
    seen = 0
    for where, command in leaves(get_command(app)):
        for param in command.params:
            kind = type(param.type).__name__
            if "Int" not in kind and "Float" not in kind:
                continue
            seen += 1
            ctx = command.make_context(where, [], resilient_parsing=True)
            bad = [*OTHER_DIGITS, *(["1e1", "٥.٥", "1.０"] if "Float" in kind else ["1.0"])]
            for text in bad:
                with pytest.raises(typer.BadParameter, match="written in decimal digits"):
                    param.process_value(ctx, [text] if param.multiple else text)
            low = getattr(param.type, "min", None) or 0
            good = str(max(low, 1))
            got = param.process_value(ctx, [good] if param.multiple else good)
            assert got == ((int(good),) if param.multiple else int(good)), (where, param.name)
    assert seen >= 105


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["subscriber", "show", "７"], "subscriber_id"),  # showed subscriber 7
        (["cert", "expiring", "--days", "١٥"], "'--days'"),
        (["sign", "local", "--in", "a.pdf", "--out", "b.pdf", "--key", "k", "--cert", "c",
          "--page", "1", "--x", "１０", "--y", "10"], "'--x'"),
        (["webhook", "deliver", "--limit", "1_000"], "'--limit'"),
    ],
)  # fmt: skip
def test_a_number_in_other_digits_is_refused_by_name(tmp_path, args, option) -> None:
    home = tmp_path / "home"
    r = yinxin_cli(args, home, check=False)
    assert r.returncode == 2, r.stderr
    said = " ".join(r.stderr.replace("│", " ").split())
    assert option in said and "written in decimal digits" in said, said
    assert "Traceback" not in said
    assert not home.exists()  # refused by the parser: no platform, no database


def test_a_signers_placement_in_other_digits_is_refused_naming_the_key(tmp_path) -> None:
    """``--signer …,x=１０`` was read by ``float``, which takes full-width digits."""
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(b"%PDF-1.7\n")
    home = tmp_path / "home"
    for key, text in (("x", "１０"), ("y", "1_0"), ("width", "4e1")):
        place = {"x": "10", "y": "10", "width": "40", key: text}
        signer = "subscriber=1,role=甲方,seal=1,page=1," + ",".join(
            f"{k}={v}" for k, v in place.items()
        )
        r = yinxin_cli(
            ["flow", "create", "--title", "t", "--doc", str(pdf), "--signer", signer, "--json"],
            home,
            check=False,
        )
        assert r.returncode == 2, r.stdout + r.stderr
        err = json.loads(r.stdout)
        assert err["field"] == f"signers[0].{key}", err
        assert "decimal digits" in err["message"], err
        assert not home.exists()


@pytest.mark.parametrize("typed", [*OTHER_DIGITS, "+3", " -3", "3 ", "- 3", ""])
def test_a_number_inside_an_option_value_takes_what_the_parser_takes(typed) -> None:
    """``whole_number`` reads ``page=N`` of ``--signer`` and ``N:SEAL`` of ``--party-a``: it
    took ``+3`` and `` 3 `` where every number the parser reads is ASCII digits with at most a
    leading ``-`` (``DecimalIntRange``). Refused naming the field and quoting what was typed."""
    from yinxin.adapters.cli.common import whole_number

    with pytest.raises(ValidationError) as e:
        whole_number(typed, "signers[0].page", "page")
    assert e.value.field == "signers[0].page"
    assert repr(typed) in str(e.value) and str(e.value).startswith("page ")
    assert whole_number("-3", "signers[0].page", "page") == -3
    assert whole_number("12", "signers[0].page", "page") == 12


@pytest.mark.parametrize(
    "args",
    [
        ["seal", "show", "１"],  # exit 3, "no seal １", where the API answers 422
        ["seal", "freeze", "١٢"],
        ["seal", "records", "1 "],
        ["seal", "verify", "+7"],
        ["seal", "show", ""],
        ["seal", "show", "1" * 33],
        ["seal", "apply", "--business-type", "cancel", "--seal", "１"],  # the API's body: 422
    ],
)
def test_a_seal_written_in_other_digits_is_refused_by_name(tmp_path, args) -> None:
    """A seal is named by its id or its esID, both ASCII digits (the API's path takes
    ``[0-9]{1,32}`` and answers anything else 422). ``seal show １`` went to the service,
    which looked for an esID "１" and exited 3, not found; every seal command refuses such a
    value in its parser now, naming the argument, exit 2, before any platform is opened."""
    home = tmp_path / "home"
    r = yinxin_cli(args, home, check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    said = " ".join(r.stderr.replace("│", " ").split())
    named = "'--seal'" if "--seal" in args else "'seal'"
    assert named in said and "decimal digits" in said, said
    assert "Traceback" not in said
    assert not home.exists()


def test_every_seal_argument_takes_an_id_or_esid_in_ascii_digits() -> None:
    """Every command naming a seal shares the one check: every ``yinxin seal`` command
    (``seal apply``'s ``--seal`` too, which may be left out), and ``--seal`` of ``sign pdf``,
    ``sign batch``, ``sign ofd``, ``sign ses-pdf`` and ``authorization grant``, which sent
    ``１`` to the service and exited 3, not found. (``ofd sign --seal`` is a file.)"""
    seen: set[str] = set()
    for where, command in leaves(get_command(app)):
        for param in command.params:
            if param.name != "seal" or "Path" in type(param.type).__name__:
                continue
            seen.add(where)
            ctx = command.make_context(where, [], resilient_parsing=True)
            for text in ["１", "٥", " 7", "7 ", "+7", "1_0", "²", "abc", "", "1" * 33]:
                with pytest.raises(typer.BadParameter, match="decimal digits"):
                    param.process_value(ctx, text)
            for good in ["7", "11000026999999", "1" * 32]:
                assert param.process_value(ctx, good) == good, (where, good)
            if not param.required:
                assert param.process_value(ctx, None) is None, where
    assert len(seen) >= 24
    assert {
        "sign pdf",
        "sign batch",
        "sign ofd",
        "sign ses-pdf",
        "authorization grant",
        "seal apply",
        "seal show",
    } <= seen


@pytest.mark.parametrize(
    "args",
    [
        ["sign", "pdf", "--seal", "１", "--in", "{pdf}", "--out", "{out}", "--signer", "1"]
        + ["--challenge", "c"],
        ["sign", "batch", "--seal", "+7", "--signer", "1", "{pdf}"],
        ["sign", "ofd", "--seal", "7 ", "--in", "{pdf}", "--out", "{out}", "--signer", "1"]
        + ["--challenge", "c"],
        ["sign", "ses-pdf", "--seal", "٥", "--in", "{pdf}", "--out", "{out}", "--signer", "1"]
        + ["--challenge", "c"],
        ["authorization", "grant", "--seal", "１", "--by", "1", "--max", "1", "--until", "x"],
    ],
)
def test_a_seal_option_outside_the_seal_group_is_refused_by_name(tmp_path, args) -> None:
    """``sign pdf --seal １`` (and ``sign ofd``, ``sign ses-pdf``, ``sign batch``,
    ``authorization grant``) went to the service, which found no esID "１" and exited 3; the
    parser refuses it now, naming ``--seal``, exit 2, before any platform is opened."""
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(b"%PDF-1.7\n")
    home = tmp_path / "home"
    typed = [a.format(pdf=pdf, out=tmp_path / "out.pdf") for a in args]
    r = yinxin_cli(typed, home, check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    said = " ".join(r.stderr.replace("│", " ").split())
    assert "'--seal'" in said and "decimal digits" in said, said
    assert not home.exists() and not (tmp_path / "out.pdf").exists()


@pytest.mark.parametrize(
    ("args", "field", "says"),
    [
        (
            ["desk", "record-flow", "1", "--party-a", "1:１", "--party-b", "1:1"],
            "party_a",
            "the SEAL of --party-a",
        ),
        (
            ["desk", "record-flow", "1", "--party-a", "1:1", "--party-b", "1:7 "],
            "party_b",
            "the SEAL of --party-b",
        ),
        (
            ["desk", "record-flow", "1", "--party-a", "1:+7", "--party-b", "1:1"],
            "party_a",
            "the SEAL of --party-a",
        ),
        (
            ["flow", "create", "--title", "t", "--doc", "{pdf}"]
            + ["--signer", "subscriber=1,role=甲方,seal=１"],
            "signers[0].seal",
            "seal=",
        ),
        (
            ["contract", "send", "1", "--signer", "role=甲方,subscriber=1,seal=+7"],
            "signers[0].seal",
            "seal=",
        ),
    ],
)
def test_a_seal_inside_an_option_value_is_refused_naming_the_part(
    tmp_path, args, field, says
) -> None:
    """The SEAL of ``--party-a N:SEAL`` and ``seal=`` of a ``--signer`` went to the service
    unchecked: ``1:１`` looked for an esID "１" (exit 3, not found) and ``1:7 `` was taken as
    seal 7. Both are refused now, naming the option and the part, exit 2, nothing opened."""
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(b"%PDF-1.7\n")
    home = tmp_path / "home"
    r = yinxin_cli([a.format(pdf=pdf) for a in args] + ["--json"], home, check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    err = json.loads(r.stdout)
    assert err["field"] == field and says in err["message"], err
    assert "decimal digits" in err["message"], err
    assert not home.exists()


def test_the_subscriber_part_of_n_seal_names_the_option(tmp_path) -> None:
    """A wrong SUBSCRIBER_ID of ``--party-b`` says which option and which part."""
    args = ["desk", "record-flow", "1", "--party-a", "1:1", "--party-b", "x:1"]
    r = yinxin_cli(args, tmp_path / "home", check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "the SUBSCRIBER_ID of --party-b" in " ".join(r.stderr.split()), r.stderr
