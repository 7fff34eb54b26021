"""``yinxin archive …``: the kept signed documents and their archive-timestamp renewal."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import typer

from yinxin.adapters.cli.common import (
    ACTOR,
    AFTER,
    HOME,
    JSON,
    LIMIT,
    err_console,
    extended,
    moment,
    more,
    platform,
    run,
    say,
    writable,
    write_atomic,
)

archive_app = typer.Typer(
    no_args_is_help=True, help="Signed documents kept for decades (PAdES B-LTA renewal)."
)


@archive_app.command("list")
def archive_list(
    all_versions: bool = typer.Option(False, "--all", help="Superseded versions too."),
    limit: int = LIMIT,
    after: int | None = AFTER,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """The kept documents by id, a page at a time: level, newest timestamp, when its TSA
    certificate expires."""

    def show(page) -> None:
        for r in page.items:
            say(
                "[bold]#{}[/] {} {} {}  timestamp {}  TSA to {}  renewals {}",
                r.id,
                f"{r.state:10}",
                f"{r.level:6}",
                r.document_name,
                moment(r.newest_timestamp_at),
                moment(r.tsa_not_after),
                r.renewals,
            )
        more(page)  # as show_page ends every other page

    run(
        as_json,
        lambda: platform(home).archive.page(
            None if all_versions else "active", limit=limit, after=after
        ),
        show,
        empty="no documents kept yet" if after is None else f"no documents after {after}",
    )


@archive_app.command("export")
def archive_export(
    doc_id: int = typer.Argument(..., help="The kept document's id (archive list)."),
    out: Path = typer.Option(..., "--out", help="Where the document is written."),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Write the current version of a kept document (checked against its hash)."""

    def go():
        writable(out)  # before the document is read and checked, as `flow download` does
        view, data = platform(home).archive.document(doc_id)
        write_atomic(out, data)
        return extended(view, out=str(out))

    run(as_json, go, lambda r: say("[green]Wrote[/] {} ({})", r.out, r.level))


@archive_app.command("renew")
def archive_renew(
    margin_days: int = typer.Option(
        365,
        "--margin-days",
        min=1,
        max=730,
        help="Renew when the newest timestamp's TSA certificate expires within this many days "
        "(at most 730: the TSA is rolled over with twice the margin left).",
    ),
    refresh_days: int = typer.Option(
        60,
        "--refresh-days",
        min=0,
        max=85,
        help="Between renewals, add fresh status data when "
        "the last was added this many days ago (0: never).",
    ),
    force: bool = typer.Option(False, help="Renew every kept document now."),
    actor: str = ACTOR,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Add fresh validation data and an archive timestamp to every kept document that is due
    (B-LT becomes B-LTA). Idempotent: run it daily; see the operator guide's schedule."""
    failed: list[bool] = []
    refresh = dt.timedelta(days=refresh_days) if refresh_days else None

    def go():
        p = platform(home)
        renew = functools.partial(
            p.archive.renew,
            margin=dt.timedelta(days=margin_days),
            refresh=refresh,
            force=force,
            actor=actor,
        )
        if as_json:
            report = renew()
        else:
            from rich.progress import Progress

            # on stderr, and only on a terminal: stdout is the report (a cron job's mail)
            with Progress(
                console=err_console, transient=True, disable=not err_console.is_terminal
            ) as bar:
                task = bar.add_task("renewing archive timestamps", total=None)
                report = renew(
                    progress=lambda done, total: bar.update(task, completed=done, total=total)
                )
        failed.append(bool(report.failed))
        return report

    def show(r):
        for c in r.rolled_over:
            say(
                "[yellow]rolled over[/] {}: new certificate {} valid to {}",
                c.role,
                c.serial,
                moment(c.not_after),
            )
        for w in r.warnings:
            say("[yellow]warning[/]: {}", w)
        say(
            "[green]{} renewed[/], {} status refreshed, {} not due, {} failed, "
            "of {} kept documents",
            len(r.renewed),
            len(r.refreshed),
            r.not_due,
            len(r.failed),
            r.checked,
        )
        if r.renewed_elsewhere:  # a run at the same time got there first: nothing is lost
            say(
                "{} renewed by another run at the same time: {}",
                len(r.renewed_elsewhere),
                ", ".join(f"#{i}" for i in r.renewed_elsewhere),
            )
        for f in r.failed:
            say("[red]#{}[/]: {}", f.id, f.error)

    run(as_json, go, show)
    # a document that could not be renewed is an error a scheduler must notice
    raise typer.Exit(1 if any(failed) else 0)
