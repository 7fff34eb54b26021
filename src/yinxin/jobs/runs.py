"""Runs of a job for a period, claimed in ``job_runs`` so that two workers never run the same
job for the same period, and a worker that dies mid-run does not lose the period.

The claim is an ``INSERT … ON CONFLICT DO NOTHING`` of (job, period): exactly one worker
inserts it, the others see nothing inserted (no unique-violation error, on SQLite or
PostgreSQL). The winner holds a *lease* (``lease_until``, platform clock) that its heartbeat
pushes forward while the job runs. A row still ``running`` after its lease ran out belongs to a
worker that died (or hung): any worker may take it over and finish the period; so may one that
finds the run ``failed`` while its period is still current (up to ``MAX_ATTEMPTS`` tries). A
finish by a worker that lost its lease changes nothing: the row says who ran it last.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from yinxin.results import from_row
from yinxin.store.db import Database
from yinxin.store.models.jobs import JobRun
from yinxin.transitions import TransitionTable, listed, move

MAX_ATTEMPTS = 3  # tries of one period (the first and two take-overs or retries)
RETRY_AFTER = dt.timedelta(minutes=1)  # a failed run is tried again this long after it failed
MAX_TEXT = 2000


class RunState(StrEnum):
    """Where one job's run for one period stands (equal to the string stored)."""

    NONE = "none"  # no row yet: what ``claim`` starts from
    RUNNING = "running"  # a worker holds the lease
    DONE = "done"
    FAILED = "failed"  # the job raised; tried again while its period lasts


_R = RunState
LIFECYCLE: TransitionTable[RunState] = TransitionTable(
    "job run",
    "state",
    None,
    [
        move("claim", "the first worker takes the period", {_R.NONE}, _R.RUNNING),
        move("take_over", "a lease ran out, or a failed run is tried again",
             {_R.RUNNING, _R.FAILED}, _R.RUNNING),
        move("finish", "the job returned", {_R.RUNNING}, _R.DONE),
        move("fail", "the job raised", {_R.RUNNING}, _R.FAILED),
    ],
)  # fmt: skip


@dataclass(frozen=True)
class JobRunView:
    """One job's run for one period, as ``job_runs`` holds it."""

    job: str
    period: str
    state: RunState
    worker: str
    attempts: int
    started_at: dt.datetime
    lease_until: dt.datetime
    finished_at: dt.datetime | None
    result: str | None
    error: str | None

    @classmethod
    def of(cls, r: JobRun) -> JobRunView:
        return from_row(cls, r, state=RunState(r.state))


@dataclass(frozen=True)
class Claim:
    """The right to run ``job`` for ``period`` until ``lease_until`` (pushed on by heartbeats);
    ``attempt`` tells this try from a later take-over."""

    job: str
    period: str
    worker: str
    attempt: int
    taken_over_from: str | None  # the worker whose lease ran out, or whose run failed


#: ``job_runs.worker``'s length (a longer value fails every claim on PostgreSQL)
MAX_WORKER = 100
#: the longest ``yinxin worker --name``: with the pid, it leaves the host 40 characters at least
MAX_WORKER_NAME = 50


def worker_id(name: str | None = None) -> str:
    """``host:pid`` (and a name, for several runners in one process): who holds a lease. A
    long host name (a cloud FQDN) is cut to fit ``job_runs.worker``; the pid and name are kept
    whole, as they tell two workers on one host apart."""
    tail = f":{os.getpid()}:{name if name else threading.get_ident() % 100000}"
    host = socket.gethostname()[: max(0, MAX_WORKER - len(tail))]
    return (host + tail)[:MAX_WORKER]


def _insert(db: Database):
    return (postgresql if db.engine.dialect.name == "postgresql" else sqlite).insert(JobRun)


def _takeable(now: dt.datetime, current: str | None):
    """Rows another worker may take: a lease that ran out, or a failed try of ``current``."""
    expired = and_(JobRun.state == RunState.RUNNING, JobRun.lease_until < now)
    if current is None:
        return expired
    retry = and_(
        JobRun.state == RunState.FAILED,
        JobRun.period == current,
        JobRun.attempts < MAX_ATTEMPTS,
        JobRun.finished_at <= now - RETRY_AFTER,
    )
    return or_(expired, retry)


def claim(
    db: Database,
    job: str,
    period: str,
    worker: str,
    now: dt.datetime,
    lease: dt.timedelta,
    *,
    current: str | None = None,
) -> Claim | None:
    """Take ``job`` for ``period``, or None when another worker has it (or had it: done, or
    failed too often). ``current`` is the job's current period: a failed run of it is tried
    again; a run of a past period is taken over only when its lease ran out."""
    with db.transaction() as s:
        inserted = s.execute(
            _insert(db)
            .values(
                job=job,
                period=period,
                state=LIFECYCLE["claim"].to_state,
                worker=worker,
                attempts=1,
                started_at=now,
                lease_until=now + lease,
            )
            .on_conflict_do_nothing(index_elements=["job", "period"])
            .returning(JobRun.id)  # (rowcount is -1 here on psycopg)
        ).first()
        if inserted is not None:
            return Claim(job, period, worker, 1, None)
        row = s.execute(
            select(JobRun)
            .where(JobRun.job == job, JobRun.period == period, _takeable(now, current))
            .with_for_update(skip_locked=True)
        ).scalar_one_or_none()
        if row is None:
            return None
        LIFECYCLE.check("take_over", row.state, None, f"{job}@{period}")
        before = row.worker
        note = (
            f"taken over from {before}: its lease ran out at {row.lease_until.isoformat()}"
            if row.state == RunState.RUNNING
            else f"try {row.attempts + 1} after: {row.error or 'failure'}"
        )
        row.state = LIFECYCLE["take_over"].to_state
        row.worker, row.attempts = worker, row.attempts + 1
        row.started_at, row.lease_until, row.finished_at = now, now + lease, None
        row.error = note[:MAX_TEXT]
        return Claim(job, period, worker, row.attempts, before)


def _ours(c: Claim):
    return and_(
        JobRun.job == c.job,
        JobRun.period == c.period,
        JobRun.state == RunState.RUNNING,
        JobRun.worker == c.worker,
        JobRun.attempts == c.attempt,
    )


def heartbeat(db: Database, c: Claim, now: dt.datetime, lease: dt.timedelta) -> bool:
    """Push the lease on; False when the run is no longer ours (taken over meanwhile)."""
    with db.transaction() as s:
        moved = s.execute(
            update(JobRun).where(_ours(c)).values(lease_until=now + lease).returning(JobRun.id)
        ).first()
        return moved is not None


def finish(
    db: Database, c: Claim, now: dt.datetime, *, result: str | None, error: str | None
) -> JobRunView | None:
    """Record the end of our try: done with its summary, or failed with its error. None when
    the run was taken over meanwhile (our lease ran out): the row keeps the other worker's."""
    verb = "fail" if error is not None else "finish"
    with db.transaction() as s:
        row = s.execute(select(JobRun).where(_ours(c)).with_for_update()).scalar_one_or_none()
        if row is None:
            return None
        LIFECYCLE.check(verb, row.state, None, f"{c.job}@{c.period}")
        row.state = LIFECYCLE[verb].to_state
        row.finished_at = now
        row.result = result[:MAX_TEXT] if result is not None else row.result
        if error is not None:
            row.error = error[:MAX_TEXT]
        return JobRunView.of(row)


def takeable(s: Session, now: dt.datetime, current: dict[str, str]) -> list[tuple[str, str]]:
    """(job, period) pairs another worker may take now: leases run out (any period) and failed
    tries of each job's current period."""
    rows = s.execute(
        select(JobRun.job, JobRun.period, JobRun.state).where(_takeable(now, None))
    ).all()
    failed = s.execute(
        select(JobRun.job, JobRun.period).where(
            JobRun.state == RunState.FAILED,
            JobRun.period.in_(set(current.values())),
            JobRun.attempts < MAX_ATTEMPTS,
            JobRun.finished_at <= now - RETRY_AFTER,
        )
    ).all()
    out = [(j, p) for j, p, _ in rows if j in current]
    out += [(j, p) for j, p in failed if current.get(j) == p]
    return out


def seen(s: Session, current: dict[str, str]) -> set[str]:
    """The jobs that already have a row for their current period (in any state)."""
    if not current:
        return set()
    rows = s.execute(
        select(JobRun.job, JobRun.period).where(
            JobRun.job.in_(list(current)), JobRun.period.in_(set(current.values()))
        )
    ).all()
    return {j for j, p in rows if current[j] == p}


def running(s: Session, now: dt.datetime) -> set[str]:
    """The jobs a worker is running now under a live lease (a new period of one waits)."""
    return set(
        s.execute(
            select(JobRun.job).where(JobRun.state == RunState.RUNNING, JobRun.lease_until >= now)
        ).scalars()
    )


def history(
    db: Database, *, job: str | None = None, state: str | None = None, limit: int = 50
) -> list[JobRunView]:
    """Runs, newest first."""
    state = listed(RunState, state, "state")
    q = select(JobRun).order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(limit)
    if job is not None:
        q = q.where(JobRun.job == job)
    if state is not None:
        q = q.where(JobRun.state == state)
    with db.read() as s:
        return [JobRunView.of(r) for r in s.execute(q).scalars()]


def last_runs(db: Database) -> dict[str, JobRunView]:
    """Each job's newest run: rows are inserted period after period, so the highest id."""
    newest = select(func.max(JobRun.id)).group_by(JobRun.job)
    with db.read() as s:
        rows = s.execute(select(JobRun).where(JobRun.id.in_(newest)).order_by(JobRun.job)).scalars()
        return {r.job: JobRunView.of(r) for r in rows}
