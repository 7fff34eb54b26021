"""``yinxin calc``: the contract arithmetic at hand — capitals, tax, working days, penalties.

Nothing here touches the database: the commands call the pure functions of
``yinxin.contracts`` (money, workdays, terms) and print a line a person can check by hand, or
with ``--json`` the same figures as data. The working-day calendar is the package's plus the
year files of ``<home>/calendars`` (``--home``/``YINXIN_HOME``).
"""

from __future__ import annotations

from pathlib import Path

import typer

from yinxin.adapters.cli.common import HOME, JSON, as_options, run

calc_app = typer.Typer(
    no_args_is_help=True,
    help="Contract arithmetic: 人民币大写, tax lines, working days, penalties (no database).",
)
workdays_app = typer.Typer(no_args_is_help=True, help="Chinese working days (工作日, 调休).")
calc_app.add_typer(workdays_app, name="workdays")


def _calendar(home: Path | None):
    from yinxin.contracts.workdays import official_calendar
    from yinxin.settings import Settings

    return official_calendar(Settings.from_env(home=home).home)


def _date(text: str, field: str):
    from yinxin.contracts.workdays import parse_date

    return parse_date(text, field=field)


def _line(result: dict, key: str = "explanation") -> None:
    """One plain line (not wrapped to the terminal: scripts read it whole)."""
    typer.echo(result[key])


# --- money ----------------------------------------------------------------------------------
@calc_app.command("capitals")
def capitals_cmd(amount: str, as_json: bool = JSON) -> None:
    """The amount in 人民币大写: `yinxin calc capitals 1740000` → 壹佰柒拾肆万元整."""

    def go() -> dict:
        from yinxin.contracts.money import capitals, format_amount, parse_amount

        value = parse_amount(amount)
        return {
            "amount": str(value),
            "formatted": format_amount(value),
            "capitals": capitals(value),
        }

    run(as_json, go, lambda r: _line(r, "capitals"))


@calc_app.command("amount")
def amount_cmd(capitals: str, as_json: bool = JSON) -> None:
    """The reverse check: the amount that capitals state (refuses malformed capitals)."""

    def go() -> dict:
        from yinxin.contracts.money import capitals as write
        from yinxin.contracts.money import format_amount, from_capitals

        value = from_capitals(capitals)
        return {
            "capitals": capitals,
            "amount": str(value),
            "formatted": format_amount(value),
            "canonical": write(value),
        }

    run(as_json, go, lambda r: _line(r, "formatted"))


@calc_app.command("tax")
def tax_cmd(
    price: str,
    rate: str = typer.Option(..., "--rate", help="Tax rate: 0.06 or 6%."),
    rounding: str = typer.Option("half_up", help="half_up (四舍五入), half_even, down, up."),
    gross: bool = typer.Option(
        False, "--gross", help="PRICE includes tax (含税价): split it into net and tax."
    ),
    as_json: bool = JSON,
) -> None:
    """A tax line: net + tax = gross, each to the 分, rounded as the contract says."""

    def go() -> dict:
        from yinxin.contracts.money import format_amount, with_tax, without_tax
        from yinxin.contracts.terms import format_rate

        line = (without_tax if gross else with_tax)(price, rate, rounding)
        out = line.as_dict()
        out["explanation"] = (
            f"不含税 {format_amount(line.net)} + 税额 {format_amount(line.tax)}"
            f"（税率 {format_rate(line.rate)}）= 含税 {format_amount(line.gross)}"
        )
        return out

    run(as_json, go, _line)


# --- working days ---------------------------------------------------------------------------
# "-1" must reach the command (and be refused there, naming ``days``), not be taken for an option
@workdays_app.command("add", context_settings={"ignore_unknown_options": True})
def workdays_add(date: str, days: str, home: Path | None = HOME, as_json: bool = JSON) -> None:
    """The DAYS-th working day after DATE (DATE itself not counted)."""

    def go() -> dict:
        from yinxin.contracts.workdays import parse_days

        return _calendar(home).span_after(_date(date, "date"), parse_days(days)).as_dict()

    run(as_json, go, _line)


@workdays_app.command("between")
def workdays_between(start: str, end: str, home: Path | None = HOME, as_json: bool = JSON) -> None:
    """How many working days lie after START up to and including END."""
    run(
        as_json,
        lambda: _calendar(home).span_between(_date(start, "start"), _date(end, "end")).as_dict(),
        _line,
    )


@workdays_app.command("check")
def workdays_check(date: str, home: Path | None = HOME, as_json: bool = JSON) -> None:
    """Whether DATE is a working day, and why (weekend, holiday, 调休上班)."""

    def go() -> dict:
        info = _calendar(home).day(_date(date, "date"))
        return info.as_dict() | {"explanation": info.describe()}

    run(as_json, go, _line)


@workdays_app.command("years")
def workdays_years(home: Path | None = HOME, as_json: bool = JSON) -> None:
    """The years whose official schedule is known, and where each comes from."""

    def go() -> list[dict]:
        cal = _calendar(home)
        return [{"year": y, "source": cal.source(y)} for y in cal.years()]

    def show(rows: list[dict]) -> None:
        for row in rows:
            typer.echo(f"{row['year']}  {row['source']}")

    run(as_json, go, show)


# --- terms ----------------------------------------------------------------------------------
def _payment(text: str, index: int):
    """``--paid 2026-01-10=10000``: a payment's day and amount."""
    from yinxin.contracts.money import parse_amount
    from yinxin.errors import ValidationError

    day, sep, amount = text.partition("=")
    if not sep:
        raise ValidationError(
            f"{text!r} is not DATE=AMOUNT (2026-01-10=10000)", field=f"paid[{index}]"
        )
    return _date(day, f"paid[{index}]"), parse_amount(amount, field=f"paid[{index}]")


@calc_app.command("penalty")
def penalty_cmd(
    amount: str,
    due: str = typer.Option(..., "--due", help="The last day to pay or deliver."),
    as_of: str = typer.Option(..., "--as-of", help="Count up to this day (inclusive)."),
    rate: str | None = typer.Option(None, "--rate", help="A day: 3%, 0.5‰, 0.005."),
    clause: str | None = typer.Option(
        None, "--clause", help="A seed's clause instead of --rate: 002-8.1, 003-10.1.2."
    ),
    cap_rate: str | None = typer.Option(None, "--cap-rate", help="Cap: 20% (of --cap-base)."),
    cap_base: str | None = typer.Option(
        None, "--cap-base", help="What the cap is a share of (the contract amount)."
    ),
    paid: list[str] = typer.Option([], "--paid", help="DATE=AMOUNT, repeatable."),
    as_json: bool = JSON,
) -> None:
    """A late penalty counted to the day, with its explanation."""

    def go() -> dict:
        from yinxin.contracts.terms import CLAUSES, late_penalty
        from yinxin.errors import ValidationError

        r, cap = rate, cap_rate
        if clause is not None:
            if clause not in CLAUSES:
                raise ValidationError(
                    f"one of {', '.join(CLAUSES)}, not {clause!r}", field="clause"
                )
            if rate is not None:
                raise ValidationError("give --rate or --clause, not both", field="rate")
            r = CLAUSES[clause]["rate"]
            cap = cap if cap is not None else CLAUSES[clause]["cap_rate"]
        if r is None:
            raise ValidationError("give --rate or --clause", field="rate")
        payments = [_payment(p, i) for i, p in enumerate(paid)]
        return as_options(
            {"payments": "paid"},
            lambda: late_penalty(
                amount,
                _date(due, "due"),
                _date(as_of, "as_of"),
                r,
                payments=payments,
                cap_rate=cap,
                cap_base=cap_base,
            ).as_dict(),
            said={"payments": "--paid"},
        )

    run(as_json, go, _line)


@calc_app.command("schedule")
def schedule_cmd(
    total: str,
    acceptance: str | None = typer.Option(None, "--acceptance", help="验收合格 (date)."),
    go_live: str | None = typer.Option(None, "--go-live", help="系统上线运行 (date)."),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """002's instalments of TOTAL: 75 % after acceptance, 25 % after 12 months live."""

    def go() -> list[dict]:
        from yinxin.contracts.terms import PLATFORM_002, payment_schedule

        events = {
            "acceptance": _date(acceptance, "acceptance") if acceptance else None,
            "go_live": _date(go_live, "go_live") if go_live else None,
        }
        return [m.as_dict() for m in payment_schedule(total, PLATFORM_002, events, _calendar(home))]

    def show(rows: list[dict]) -> None:
        for row in rows:
            _line(row)

    run(as_json, go, show)


# the facts of a notice as the service (and the API) names them, and as this command takes them
_NOTICE_OPTIONS = {
    "signed_on": ("signed", "--signed"),
    "posted_on": ("posted", "--posted"),
    "arrived_at": ("arrived", "--arrived"),
    "local": ("local", "--local or --other"),
    "agreed_address": ("not_agreed_address", "--not-agreed-address"),
}


@calc_app.command("notice")
def notice_cmd(
    method: str = typer.Argument(..., help="in_person (专人递送), express (特快专递) or email."),
    signed: str | None = typer.Option(
        None, "--signed", help="in_person: the day it was signed for."
    ),
    posted: str | None = typer.Option(None, "--posted", help="express: the postmark's day."),
    local: bool | None = typer.Option(
        None, "--local/--other", help="express: within the city (3rd day) or elsewhere (5th)."
    ),
    arrived: str | None = typer.Option(
        None, "--arrived", help="email: when it reached the mail system, 2026-10-08T18:30+08:00."
    ),
    formal: bool = typer.Option(
        False, "--formal", help="The notice bears on the contract's validity or a dispute."
    ),
    elsewhere: bool = typer.Option(
        False, "--not-agreed-address", help="express: sent to an address the contract lacks."
    ),
    as_json: bool = JSON,
) -> None:
    """When a written notice counts as served (送达, 002 第十条), or why it does not."""

    def go() -> dict:
        from yinxin.adapters.cli.common import parse_time
        from yinxin.contracts.terms import notice_served

        return as_options(
            {k: v[0] for k, v in _NOTICE_OPTIONS.items()},
            lambda: notice_served(
                method,
                signed_on=_date(signed, "signed") if signed else None,
                posted_on=_date(posted, "posted") if posted else None,
                local=local,
                arrived_at=parse_time(arrived, "arrived"),
                formal=formal,
                agreed_address=not elsewhere,
            ).as_dict(),
            said={k: v[1] for k, v in _NOTICE_OPTIONS.items()},
        )

    run(as_json, go, _line)


@calc_app.command("acceptance")
def acceptance_cmd(
    requested: str,
    reminded: str | None = typer.Option(None, "--reminded", help="The reminder's day (催告)."),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """When silence becomes acceptance (002 §4.2: 7 working days, then 3 after a reminder)."""

    def go() -> dict:
        from yinxin.contracts.terms import deemed_acceptance

        return deemed_acceptance(
            _date(requested, "requested"),
            _calendar(home),
            reminded=_date(reminded, "reminded") if reminded else None,
        ).as_dict()

    run(as_json, go, _line)
