"""``yinxin export DIR`` / ``yinxin import DIR``: the full data handover (002 §6.2.10).

Both show a progress bar per stage on a terminal (rows, files, checks, verification) and
print their report; ``--json`` prints the report alone. See ``docs/handover.md`` for the format.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import typer

from yinxin.adapters.cli.common import (
    ACTOR,
    HOME,
    JSON,
    console,
    err_console,
    platform,
    run,
    say,
)

STAGES = {
    "rows": "exporting rows",
    "files": "copying kept files",
    "verify": "verifying signed files",
    "check": "checking files against the manifest",
    "insert": "importing rows",
}


@contextmanager
def _bar() -> Any:
    """A rich progress bar with one task per stage; yields the service's progress callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    tasks: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err_console,  # stdout is the report; progress on a terminal only
        transient=True,
        disable=not err_console.is_terminal,
    ) as bar:

        def tick(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(STAGES.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield tick


def _progress(as_json: bool) -> AbstractContextManager[Callable[[str, int, int | None], None]]:
    return nullcontext(lambda *_: None) if as_json else _bar()


def export_cmd(
    directory: Path = typer.Argument(..., help="A new (or empty) folder to write."),
    no_verify: bool = typer.Option(
        False, "--no-verify", help="Do not record each signed file's verdict (faster)."
    ),
    actor: str = ACTOR,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Export every row, kept file and signed document as JSON Lines + files + manifest.json
    (open formats, docs/handover.md). Secrets stay encrypted; the key store is not included."""

    def go():
        with _progress(as_json) as tick:
            return platform(home).handover.export(
                directory, actor=actor, progress=tick, verify=not no_verify
            )

    def show(r) -> None:
        say(
            "[green]Exported[/] {} rows of {} tables and {} files ({} bytes; {} signed) to {}",
            r.rows,
            len(r.tables),
            r.files,
            r.file_bytes,
            r.signed_files,
            r.directory,
        )
        console.print(f"schema revision {', '.join(r.schema_revisions)}")
        console.print(f"manifest SHA-256 {r.manifest_sha256}  (give it to the receiver)")

    run(as_json, go, show)


def import_cmd(
    directory: Path = typer.Argument(..., help="A folder written by `yinxin export`."),
    manifest_sha256: str | None = typer.Option(
        None,
        "--manifest-sha256",
        help="The manifest's SHA-256 as the exporter printed it: refuse any other manifest.",
    ),
    no_verify: bool = typer.Option(
        False, "--no-verify", help="Do not verify the signed files again after the import."
    ),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Import an export into this instance, which must be new and empty. Checks every file
    against the manifest first; then the audit chain and every signed file's verdict."""
    failed: list[bool] = []

    def go():
        from yinxin.handover.service import Handover

        with _progress(as_json) as tick:
            # the export first: a refused one must not leave a new, empty data directory
            checked = Handover.check_export(directory, manifest_sha256, tick)
            report = platform(home).handover.import_(
                directory,
                manifest_sha256=manifest_sha256,
                progress=tick,
                verify=not no_verify,
                checked=checked,
            )
        failed.append(not report.ok)
        return report

    def show(r) -> None:
        say(
            "[green]Imported[/] {} rows of {} tables and {} files from {}",
            r.rows,
            len(r.tables),
            r.files,
            r.directory,
        )
        if r.audit_ok:
            console.print(f"audit chain verifies: {r.audit_events} events")
        else:
            say("[bold red]audit chain broken[/]: {}", r.audit_problem)
        if r.signed_files_compared:
            console.print(
                "signed files verifying as on the source: "
                f"{r.signed_files_same}/{r.signed_files_compared}"
            )
        if left := r.signed_files - r.signed_files_compared:
            # not "0/N verifying": none was compared, which says nothing of their verdicts
            why = (
                "not verified again (--no-verify)"
                if no_verify
                else "not compared: the export recorded no verdicts (made with --no-verify)"
            )
            console.print(f"{left} signed file(s) {why}")
        for key in r.mismatches:
            say("[bold red]verdict differs[/]: files/{}", key)

    run(as_json, go, show)
    if failed and failed[0]:
        raise typer.Exit(1)


__all__ = ["export_cmd", "import_cmd"]
