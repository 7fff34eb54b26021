"""``yinxin worker`` and ``yinxin jobs …``: the scheduler and its time-driven jobs (docs/jobs.md).

``worker`` runs the scheduler and the jobs until SIGTERM or Ctrl-C (procrastinate's queue on
PostgreSQL, the in-process runner on SQLite); ``jobs list`` shows the jobs, their periods and
last runs; ``jobs run NAME`` runs one job once, now; ``jobs runs`` is the log of runs.
"""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from yinxin.adapters.cli.common import (
    HOME,
    JSON,
    LOG_LIMIT,
    Platform,
    console,
    emit,
    err_console,
    moment,
    no_database_yet,
    platform,
    run,
    show_error,
)
from yinxin.errors import Conflict, ValidationError, YinxinError

jobs_app = typer.Typer(
    no_args_is_help=True,
    help="Time-driven jobs (expiry, outbox, CRLs, notices, archive renewal) and their runs.",
)


def _logging() -> None:
    """Each run is logged (one line: job, period, time taken, what it did) to standard error,
    unless logging is set up already."""
    import logging

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("yinxin.jobs").setLevel(logging.INFO)


def worker_cmd(
    home: Path | None = HOME,
    name: str | None = typer.Option(
        None, help="This worker's name in job_runs (default: worker); host:pid first."
    ),
    tick: float | None = typer.Option(
        None,
        min=0.05,
        help="Seconds between looks for due work (default: from YINXIN_SWEEP_SECONDS).",
    ),
) -> None:
    """Run the scheduler and the jobs until SIGTERM or Ctrl-C. Start as many as you like, on
    one machine or several: each job runs once per period whichever worker takes it, and a
    worker that dies mid-run leaves its period to another once its lease runs out."""
    from yinxin.jobs import runner_for
    from yinxin.pki.der import warm_asn1

    _logging()
    warm_asn1()  # before the jobs' threads share asn1crypto's classes
    try:
        if name is not None:
            _worker_name(name)
        no_database_yet(home)  # as serve: a new home is not made only to be refused
        p = platform(home)
        # a wrong passphrase fails now, not in the first CRL job; and a data directory where
        # `yinxin init` never ran (a mistyped YINXIN_HOME) is refused, as `serve` refuses it,
        # rather than run against an empty database failing the CRL and archive jobs for ever
        p.ca.key("issuing")
        runner = runner_for(p, name=name or "worker", tick=tick)  # host:pid:worker
    except YinxinError as e:
        show_error(e, as_json=False)
        raise typer.Exit(e.exit_code) from None

    def stop(signum, _frame) -> None:
        err_console.print(f"{signal.Signals(signum).name}: stopping after the running jobs")
        runner.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        runner.run()
    finally:
        p.close()


def _worker_name(name: str) -> None:
    """Refuse a ``--name`` that would go raw into every log line (ESC[8m hid what followed on
    a terminal) or not fit ``job_runs.worker`` beside the host and pid."""
    from yinxin.identity import refuse_hidden
    from yinxin.jobs.runs import MAX_WORKER_NAME

    if not name or len(name) > MAX_WORKER_NAME or any(c.isspace() for c in name):
        raise ValidationError(
            f"--name is 1 to {MAX_WORKER_NAME} characters without spaces", field="name"
        )
    refuse_hidden(name, "name")


def _render_list(infos) -> None:
    """A job a line, aligned, never wrapped (README: text output is one record a line): a
    rich table wrapped every cell at 80 columns when piped, so ``grep`` saw a piece of a row.
    The last run shows when it started, with its zone, then its period, worker and try."""
    width = max((len(i.name) for i in infos), default=0)
    every = max((len(i.every) for i in infos), default=0)
    for i in infos:
        r = i.last_run
        if r is None:
            last = "never"
        else:
            when = f"{moment(r.started_at)} ({r.period}, {r.worker}, try {r.attempts})"
            last = f"{r.state.value:7} {when}  {r.error or r.result or ''}".rstrip()
        console.print(f"{i.name:{width}}  {i.every:{every}}  {last}")


@jobs_app.command("list")
def jobs_list(home: Path | None = HOME, as_json: bool = JSON) -> None:
    """The jobs, their periods and their last runs."""
    from yinxin.jobs import describe

    run(as_json, lambda: describe(platform(home)), _render_list)


@jobs_app.command("run")
def jobs_run(
    name: str = typer.Argument(..., help="The job (see `yinxin jobs list`)."),
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """Run one job once, now, whatever its schedule (recorded as period manual:<second>).
    Exits 1 when the job failed."""
    from yinxin.jobs import Runner, RunState

    _logging()

    def go():
        view = Runner(platform(home), name="cli").run_now(name)
        if view is None:
            raise Conflict(f"{name} is being run by another worker this second", field="name")
        return view

    try:
        view = go()
    except YinxinError as e:
        show_error(e, as_json)
        raise typer.Exit(e.exit_code) from None
    emit(view, as_json)
    if view.state == RunState.FAILED:
        raise typer.Exit(1)


@jobs_app.command("runs")
def jobs_runs(
    job: str | None = typer.Option(None, help="Only this job's runs."),
    state: str | None = typer.Option(None, help="running, done or failed."),
    limit: int = LOG_LIMIT,
    home: Path | None = HOME,
    as_json: bool = JSON,
) -> None:
    """The log of runs, newest first: period, state, worker, tries, result or error."""
    from yinxin.jobs import history

    def runs() -> object:
        p = platform(home)
        if job is not None:
            _known_job(p, job)
        return history(p.db, job=job, state=state, limit=limit)

    run(as_json, runs)


def _known_job(p: Platform, name: str) -> None:
    """Refuse ``--job`` naming no job, listing the known ones: a typo matched no run and
    printed "(none)", as if the job had never run. Known are the platform's jobs and any
    name already in the log (a job since renamed keeps its runs)."""
    from yinxin.jobs import default_jobs, last_runs

    names = [j.name for j in default_jobs(p)]
    logged = sorted(set(last_runs(p.db)) - set(names))
    if name not in names and name not in logged:
        raise ValidationError(
            f"no job named {name!r} (jobs: {', '.join(names + logged)})", field="job"
        )
