"""``yinxin archive …``: the kept signed documents and their archive-timestamp renewal."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from yinxin.adapters.cli.common import ACTOR, HOME, JSON, console, platform, run, write_atomic

archive_app = typer.Typer(
    no_args_is_help=True, help="Signed documents kept for decades (PAdES B-LTA renewal)."
)


@archive_app.command("list")
def archive_list(
    all_versions: bool = typer.Option(False, "--all", help="Superseded versions too."),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """The kept documents: level, newest timestamp, when its TSA certificate expires."""

    def show(rows):
        for r in rows:
            console.print(
                f"[bold]#{r['id']}[/] {r['state']:10} {r['level']:6} "
                f"{r['document_name']}  timestamp {str(r['newest_timestamp_at'])[:10]}"
                f"  TSA to {str(r['tsa_not_after'])[:10]}  renewals {r['renewals']}"
            )
        if not rows:
            console.print("no documents kept yet")

    run(
        as_json,
        lambda: [
            d.to_dict()
            for d in platform(home).archive.documents(None if all_versions else "active")
        ],
        show,
    )


@archive_app.command("export")
def archive_export(
    doc_id: int,
    out: Path = typer.Option(..., "--out"),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Write the current version of a kept document (checked against its hash)."""

    def go():
        view, data = platform(home).archive.document(doc_id)
        write_atomic(out, data)
        return {**view.to_dict(), "out": str(out)}

    run(as_json, go, lambda r: console.print(f"[green]Wrote[/] {r['out']} ({r['level']})"))


@archive_app.command("renew")
def archive_renew(
    margin_days: int = typer.Option(
        365,
        "--margin-days",
        help="Renew when the newest timestamp's TSA certificate expires within this many days.",
    ),
    refresh_days: int = typer.Option(
        60,
        "--refresh-days",
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
    outcome: list[dict] = []

    refresh = dt.timedelta(days=refresh_days) if refresh_days else None

    def go():
        p = platform(home)
        if as_json:
            outcome.append(
                p.archive.renew(
                    margin=dt.timedelta(days=margin_days), refresh=refresh, force=force, actor=actor
                ).to_dict()
            )
            return outcome[0]
        from rich.progress import Progress

        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("renewing archive timestamps", total=None)
            report = p.archive.renew(
                margin=dt.timedelta(days=margin_days),
                refresh=refresh,
                force=force,
                actor=actor,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        outcome.append(report.to_dict())
        return outcome[0]

    def show(r):
        for c in r["rolled_over"]:
            console.print(
                f"[yellow]rolled over[/] {c['role']}: new certificate {c['serial']} "
                f"valid to {c['not_after'][:10]}"
            )
        for w in r["warnings"]:
            console.print(f"[yellow]warning[/]: {w}")
        console.print(
            f"[green]{len(r['renewed'])} renewed[/], {len(r['refreshed'])} status "
            f"refreshed, {r['not_due']} not due, "
            f"{len(r['failed'])} failed, of {r['checked']} kept documents"
        )
        for f in r["failed"]:
            console.print(f"[red]#{f['id']}[/]: {f['error']}")

    run(as_json, go, show)
    # a document that could not be renewed is an error a scheduler must notice
    raise typer.Exit(1 if outcome and outcome[0]["failed"] else 0)
