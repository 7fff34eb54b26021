"""``yinxin desk …``: the O&M service desk of contract 003 from a shell, over ``platform.desk``.

The desk puts a contract under service (``adopt`` a signed one of the template library, or
``contract-add`` one signed on paper, ``contract-correct`` its party names), writes down each
notice (``open``) and each step (``respond``, ``arrive``, ``pause``/``resume`` while waiting on
甲方, ``resolve``, ``cancel``), records the monthly inspection (``inspect``), sends the service
record for signature by both parties (``record-flow``; each signer's link is printed once), and
writes the record and the monthly or yearly report as PDF. ``sweep`` runs the breach job's work
now.
Times are ISO 8601 with their offset (``2026-10-16T20:00+08:00``); a step may be written down
afterwards with ``--at``, never in the future.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import typer

from yinxin.adapters.cli.common import (
    AFTER,
    HOME,
    JSON,
    LIMIT,
    PDF_OUT,
    Platform,
    WrittenFile,
    as_options,
    console,
    moment,
    more,
    on_platform,
    page_of,
    parse_time,
    platform,
    run,
    say,
    seal_in,
    show_signing_links,
    show_written,
    styled,
    whole_number,
    writable,
    write_file,
)
from yinxin.adapters.cli.common import OPERATOR as ACTOR  # the operator's --actor
from yinxin.clock import BEIJING
from yinxin.errors import ValidationError

desk_app = typer.Typer(no_args_is_help=True, help="O&M service desk (运维服务, contract 003).")
REQUEST = typer.Argument(..., help="The service request's number.")
CONTRACT = typer.Argument(..., help="The contract's number.")
AT = typer.Option(None, "--at", help="When it happened (ISO 8601 with offset; default now).")


def _party(value: str, field: str) -> tuple[int, str]:
    """``--party-a``'s ``SUBSCRIBER_ID:SEAL``, each part checked as the parser checks one and
    refused naming the option and the part (``1:１`` looked for an esID "１", exit 3, and
    ``1:7 `` was taken as seal 7)."""
    option = "--" + field.replace("_", "-")
    sub, sep, seal = value.partition(":")
    if not sep or not seal.strip():
        raise ValidationError(
            f"give {option} SUBSCRIBER_ID:SEAL (seal id or esID), not {value!r}", field=field
        )
    return (
        whole_number(sub, field, f"the SUBSCRIBER_ID of {option} SUBSCRIBER_ID:SEAL"),
        seal_in(seal, field, f"the SEAL of {option} SUBSCRIBER_ID:SEAL"),
    )


def _t(t: dt.datetime | None) -> str:
    """A desk time in Beijing time, in which the desk reckons, saying so (``… UTC+8``)."""
    return moment(t, BEIJING)


def _show(r) -> None:
    say(
        "[bold]#{}[/]  {}  clock {}  {}  {}  {}  《{}》",
        r.id,
        r.state,
        r.clock,
        r.contract_number,
        r.channel,
        r.severity,
        r.description[:40],
    )
    day = "working day" if r.notice_workday else "non-working day"
    if r.notice_workday_provisional:
        day += (
            ", by the weekday rule (Monday to Friday, save 1-1, 5-1/2, 10-1/3) until the "
            "year's official calendar is loaded"
        )
    console.print(f"  notice {_t(r.notice_at)} ({day}); response due {_t(r.response_due)}")
    if r.on_site_requested:
        console.print(f"  on site due {_t(r.on_site_due)}; arrived {_t(r.on_site_at)}")
    if r.responded_at:
        console.print(f"  responded {_t(r.responded_at)} ({r.response_minutes} min on the clock)")
    for p in r.pauses:
        console.print(f"  paused {_t(p.started_at)} – {_t(p.ended_at)}: {p.reason}")
    for b in r.breaches:
        state = "final" if b.final else "open"
        say("  [red]breach[/] {}: {} min late ({})", b.kind, b.late_seconds // 60, state)
    if r.record_flow_id:
        console.print(f"  record flow {r.record_flow_id}; signed {_t(r.record_signed_at)}")


@desk_app.command("contract-add")
def contract_add(
    number: str = CONTRACT,
    title: str = typer.Option(..., help="The contract's title."),
    party_a: str = typer.Option(..., "--party-a", help="甲方 (the customer)."),
    party_b: str = typer.Option(..., "--party-b", help="乙方 (the provider)."),
    annual_fee: str = typer.Option(..., "--annual-fee", help="Yearly fee in yuan, e.g. 28000.00."),
    starts_on: str = typer.Option(..., "--starts-on", help="YYYY-MM-DD."),
    ends_on: str = typer.Option(..., "--ends-on", help="YYYY-MM-DD."),
    workday_hours: int = typer.Option(2, help="Response time on a working day (hours)."),
    other_hours: int = typer.Option(4, help="Response time on other days (hours)."),
    on_site_hours: int = typer.Option(24, help="Arrival on site after the notice (hours)."),
    actor: str = ACTOR,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Put an O&M contract under the desk's watch (003's commitments are the defaults)."""

    def go():
        from yinxin.contracts.workdays import parse_date

        desk = platform(home).desk
        # a refused --workday-hours or --other-hours named the service's *_response_hours
        return as_options(
            {"workday_response_hours": "workday_hours", "other_response_hours": "other_hours"},
            lambda: desk.add_contract(
                number,
                title=title,
                party_a=party_a,
                party_b=party_b,
                annual_fee=annual_fee,
                starts_on=parse_date(starts_on, field="starts_on"),
                ends_on=parse_date(ends_on, field="ends_on"),
                workday_response_hours=workday_hours,
                other_response_hours=other_hours,
                on_site_hours=on_site_hours,
                actor=actor,
            ),
        )

    run(
        as_json,
        go,
        lambda c: say(
            "[green]Contract[/] {} 《{}》 fee {}/year, penalty {} per breach",
            c.number,
            c.title,
            _yuan(c.annual_fee),
            _yuan(c.penalty_per_breach),
        ),
    )


def _yuan(amount: str) -> str:
    """¥28,000.00, as the contract, the report PDF and ``obligation show`` print an amount (the
    lines said ¥28000.00). Imported here: the command's start stays light."""
    from yinxin.contracts.money import format_amount

    return format_amount(amount)


@desk_app.command("contract-correct")
def contract_correct(
    number: str = CONTRACT,
    party_a: str | None = typer.Option(None, "--party-a", help="甲方 as it should read."),
    party_b: str | None = typer.Option(None, "--party-b", help="乙方 as it should read."),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the audit trail)."),
    actor: str = ACTOR,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Correct 甲方/乙方 of a contract entered by hand (a typo, an abbreviation), while no
    service record of it is in a sign flow or signed; an adopted contract keeps the library's."""
    run(
        as_json,
        lambda: platform(home).desk.correct_parties(
            number, party_a=party_a, party_b=party_b, reason=reason, actor=actor
        ),
        lambda c: say("[green]Contract[/] {} 甲方 {} 乙方 {}", c.number, c.party_a, c.party_b),
    )


@desk_app.command("adopt")
def adopt(
    number: str = typer.Argument(..., help="A signed contract of the library (om-service)."),
    actor: str = ACTOR,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Put a signed O&M contract of the template library under service, its terms read from it."""
    run(
        as_json,
        lambda: platform(home).desk.adopt(number, actor=actor),
        lambda c: say(
            "[green]Contract[/] {} 《{}》 under service ({} h / {} h / {} h)",
            c.number,
            c.title,
            c.workday_response_hours,
            c.other_response_hours,
            c.on_site_hours,
        ),
    )


@desk_app.command("contracts")
def contracts(
    adoptable: bool = typer.Option(
        False,
        "--adoptable",
        help="Instead: the library's signed O&M contracts not yet under service (for adopt).",
    ),
    limit: int = LIMIT,
    after: int | None = AFTER,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """The contracts under service in id order, a page at a time (--after: the last contract
    seen; "more: --after N" says where the next page starts); --adoptable: the library's signed
    O&M contracts not yet under service, oldest first, paged the same way."""

    def render(page) -> None:
        for c in page.items:
            console.print(f"{c.number}  《{c.title}》  {c.party_a} / {c.party_b}", markup=False)
        more(page)

    def ask():
        if adoptable:  # pages itself, as GET /desk/contracts/adoptable
            return platform(home).desk.adoptable(after=after, limit=limit)
        return page_of(platform(home).desk.contracts, limit, after)

    empty = "(no signed O&M contract waits)" if adoptable else "(none: contract-add or adopt one)"
    run(as_json, ask, render, empty=empty)


@desk_app.command("open")
@on_platform(_show)
def open_request(
    contract: str = CONTRACT,
    channel: str = typer.Option(..., help="phone, web or on_site."),
    description: str = typer.Option(..., help="What is wrong."),
    reported_by: str = typer.Option(..., "--reported-by", help="Who gave notice for 甲方."),
    severity: str = typer.Option("normal", help="low, normal, high or critical."),
    on_site: bool = typer.Option(False, "--on-site", help="甲方 asks for someone on site."),
    notice_at: str | None = typer.Option(
        None, "--notice-at", help="When notice was given (ISO 8601 with offset; default now)."
    ),
    actor: str = ACTOR,
    p: Platform = HOME,
) -> object:
    """Write down a notice (报修): its clocks start at the notice."""
    return p.desk.open(
        contract,
        channel=channel,
        description=description,
        severity=severity,
        on_site_requested=on_site,
        notice_at=parse_time(notice_at, "notice_at"),
        reported_by=reported_by,
        actor=actor,
    )


def _step(verb: str):
    def command(
        request_id: int = REQUEST,
        at: str | None = AT,
        actor: str = ACTOR,
        home: Path | None = HOME,
        as_json: bool = JSON,
    ) -> None:
        _take_step(verb, home, as_json, request_id, at=at, actor=actor)

    return command


def _take_step(
    verb: str,
    home: Path | None,
    as_json: bool,
    request_id: int,
    *texts: str,
    at: str | None,
    actor: str,
) -> None:
    """The desk's ``verb`` on the request (with its text, if the step records one), shown."""
    run(
        as_json,
        lambda: getattr(platform(home).desk, verb)(
            request_id, *texts, at=parse_time(at, "at"), actor=actor
        ),
        _show,
    )


desk_app.command("respond", help="乙方 answered the notice: the response clock stops.")(
    _step("respond")
)
desk_app.command("arrive", help="Someone arrived on site (answers the notice too).")(
    _step("arrive")
)
desk_app.command("resume", help="甲方 answered: the clocks run again.")(_step("resume"))


def _noted_step(verb: str, note: typer.models.OptionInfo):
    """A step that also puts a text on the record (``note``: its option, ``--reason`` or
    ``--resolution``), which the desk's verb takes after the request's number."""

    def command(
        request_id: int = REQUEST,
        text: str = note,
        at: str | None = AT,
        actor: str = ACTOR,
        home: Path | None = HOME,
        as_json: bool = JSON,
    ) -> None:
        _take_step(verb, home, as_json, request_id, text, at=at, actor=actor)

    return command


desk_app.command("pause", help="Stop the clocks while waiting on 甲方.")(
    _noted_step(
        "pause",
        typer.Option(..., "--reason", help="What 甲方 is to provide, e.g. 等待甲方提供日志."),
    )
)
desk_app.command("resolve", help="The problem is solved.")(
    _noted_step(
        "resolve",
        typer.Option(..., "--resolution", help="What was done (goes on the service record)."),
    )
)


@desk_app.command("cancel")
@on_platform(_show)
def cancel(
    request_id: int = REQUEST,
    reason: str = typer.Option(..., help="Why."),
    actor: str = ACTOR,
    p: Platform = HOME,
) -> object:
    """Withdraw a request; its clocks stop."""
    return p.desk.cancel(request_id, reason, actor=actor)


@desk_app.command("show")
@on_platform(_show)
def show(request_id: int = REQUEST, p: Platform = HOME) -> object:
    """A request with its clocks, pauses and breaches."""
    return p.desk.get(request_id)


@desk_app.command("list")
def list_requests(
    contract: str | None = typer.Option(None, help="Only this contract's requests."),
    state: str | None = typer.Option(None, help="open responded on_site resolved …"),
    limit: int = LIMIT,
    after: int | None = AFTER,
    newest_first: bool = typer.Option(
        False, "--newest-first", help="Newest first (--after then goes on to older ones)."
    ),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Requests by notice time, oldest first (--newest-first: newest first), a page at a time
    (--after: the last request seen; "more: --after N" says where the next page starts)."""

    def render(page) -> None:
        for r in page.items:
            line = styled(
                "#{}  {}  {}  {}  《{}》",
                r.id,
                _t(r.notice_at),
                r.state,
                r.contract_number,
                r.description[:30],
            )
            if r.breaches:
                line.append_text(styled("  [red]{} breach(es)[/]", len(r.breaches)))
            console.print(line)
        more(page)

    def rows():
        listing = functools.partial(
            platform(home).desk.list,
            contract=contract,
            state=state,
            order="newest" if newest_first else "oldest",
        )
        return page_of(listing, limit, after)

    run(as_json, rows, render)


@desk_app.command("inspect")
@on_platform(lambda i: say("[green]Inspection[/] {} {} recorded", i.contract_number, i.month))
def inspect(
    contract: str = CONTRACT,
    inspector: str = typer.Option(..., help="Who inspected for 乙方."),
    findings: str = typer.Option(..., help="The record of how the system runs (运行情况记录)."),
    month: str | None = typer.Option(None, help="YYYY-MM (default: the month performed)."),
    performed_at: str | None = typer.Option(None, "--performed-at", help="ISO 8601; default now."),
    actor: str = ACTOR,
    p: Platform = HOME,
) -> object:
    """Record the month's on-site inspection (按月巡检)."""
    return p.desk.record_inspection(
        contract,
        month=month,
        performed_at=parse_time(performed_at, "performed_at"),
        inspector=inspector,
        findings=findings,
        actor=actor,
    )


@desk_app.command("sweep")
def sweep(home: Path | None = HOME, as_json: bool = JSON) -> None:
    """Flag breaches now (what the `desk.breaches` job does) and mark signed records."""
    run(
        as_json,
        lambda: platform(home).desk.flag_breaches(),
        lambda r: console.print(
            f"flagged {list(r.flagged)}, grown {list(r.updated)}, "
            f"records signed {list(r.records_signed)}"
        ),
    )


@desk_app.command("record")
def record(
    request_id: int = REQUEST,
    out: Path = PDF_OUT,
    signed: bool = typer.Option(False, "--signed", help="The record as both parties signed it."),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """The service record (运维服务记录单) of a resolved request, as PDF."""

    def go():
        writable(out)
        desk = platform(home).desk
        return write_file(
            out, desk.signed_record(request_id) if signed else desk.record_pdf(request_id)
        )

    run(as_json, go, show_written)


@desk_app.command("record-flow")
def record_flow(
    request_id: int = REQUEST,
    party_a: str = typer.Option(..., "--party-a", help="甲方's signer: SUBSCRIBER_ID:SEAL."),
    party_b: str = typer.Option(..., "--party-b", help="乙方's signer: SUBSCRIBER_ID:SEAL."),
    days: int = typer.Option(7, help="Days the parties have to sign."),
    actor: str = ACTOR,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Send the service record for signature (乙方 first, then 甲方); links printed once."""

    def go():
        a, b = _party(party_a, "party_a"), _party(party_b, "party_b")
        if not 1 <= days <= 60:
            raise ValidationError("days must be 1–60", field="days")
        p = platform(home)
        return p.desk.start_record_flow(
            request_id,
            party_a=a,
            party_b=b,
            deadline=p.clock.now() + dt.timedelta(days=days),
            actor=actor,
        )

    def render(r) -> None:
        _show(r.request)
        show_signing_links(r.flow.links)

    run(as_json, go, render)


@desk_app.command("report")
def report(
    contract: str = CONTRACT,
    period: str = typer.Argument(..., help="YYYY-MM (monthly) or YYYY (yearly)."),
    out: Path | None = typer.Option(None, "--out", help="Write the PDF report here."),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """The monthly or yearly service report: figures, or the PDF with --out."""

    def go():
        desk = platform(home).desk
        if out is None:
            return desk.report(contract, period)
        writable(out)
        return write_file(out, desk.report_pdf(contract, period))

    def render(r) -> None:
        if isinstance(r, WrittenFile):
            show_written(r)
            return
        say(
            "[bold]{} {}[/]: {} requests, {} in time, {} late, {} breaches, penalty {}; "
            "inspections {}, missed {}",
            r.contract.number,
            r.period,
            len(r.requests),
            r.responded_in_time,
            r.responded_late,
            r.breaches,
            _yuan(r.penalty_total),
            len(r.inspections),
            ", ".join(r.inspections_missed) or "none",
        )

    run(as_json, go, render)
