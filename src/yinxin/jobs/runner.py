"""The scheduler and the in-process runner (the embedded default, SQLite).

The scheduler asks the platform clock what time it is, works out each job's current period, and
dispatches the (job, period) pairs that have no run yet, plus runs whose lease ran out (their
worker died) and failed runs of a current period. The in-process ``Runner`` executes them in its
own thread, one after another; ``yinxin.jobs.queue.QueueRunner`` (PostgreSQL) hands them to
procrastinate instead. Either way a run is claimed in ``job_runs`` first (``yinxin.jobs.runs``),
so any number of runners, in any number of processes, run each job once per period.

Missed periods are not made up: a job that did not run while every worker was down runs for the
period current when one comes back (each job catches up by itself: it handles everything due).
A new period of a job waits while an earlier run of the same job still holds its lease.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from yinxin.clock import stopped
from yinxin.errors import YinxinError
from yinxin.jobs import runs
from yinxin.jobs.registry import Job, by_name, default_jobs, sweep_seconds
from yinxin.jobs.runs import JobRunView

if TYPE_CHECKING:
    from yinxin.app import Platform

log = logging.getLogger("yinxin.jobs")
MAX_HEARTBEAT_SECONDS = 30.0
#: how often (s) a run's heartbeat thread checks whether the run has ended
HEARTBEAT_STOP_CHECK = 0.01  # about 0.3 % of a core while a job runs


def tick_seconds(platform: Platform) -> float:
    """How often (real seconds) a runner looks for due work: twice per frequent period, at
    most every 5 s."""
    return max(0.2, min(5.0, sweep_seconds(platform) / 2))


def execute(platform: Platform, job: Job, period: str, worker: str) -> JobRunView | None:
    """Claim ``job`` for ``period`` and run it, pushing the lease on while it runs; None when
    another worker has (or had) the period. The run's end is recorded and logged."""
    now = platform.clock.now()
    claim = runs.claim(
        platform.db, job.name, period, worker, now, job.lease, current=job.period.key(now)
    )
    if claim is None:
        return None
    if claim.taken_over_from:
        log.warning(
            "job %s %s: try %d, taken over from %s",
            job.name,
            period,
            claim.attempt,
            claim.taken_over_from,
        )
    stop = threading.Event()
    beat = threading.Thread(
        target=_heartbeat, args=(platform, job, claim, stop), name=f"lease:{job.name}", daemon=True
    )
    beat.start()
    started = time.monotonic()
    result = error = None
    try:
        result = job.run(platform)
    except YinxinError as e:
        error = e.message
    except Exception as e:  # a bug in one job must not stop the others
        log.exception("job %s %s raised", job.name, period)
        error = f"{type(e).__name__}: {e}"
    finally:
        took = time.monotonic() - started  # the job's own time, not the heartbeat's wind-down
        stop.set()
        beat.join()
    view = runs.finish(platform.db, claim, platform.clock.now(), result=result, error=error)
    if view is None:
        log.warning("job %s %s: lease lost while running; another worker has it", job.name, period)
    elif error is None:
        log.info("job %s %s done in %.2f s: %s", job.name, period, took, result)
    else:
        log.error("job %s %s failed in %.2f s: %s", job.name, period, took, error)
    return view


def _heartbeat(platform: Platform, job: Job, claim: runs.Claim, stop: threading.Event) -> None:
    every = min(MAX_HEARTBEAT_SECONDS, max(0.05, job.lease.total_seconds() / 3))
    # looks at ``stop`` often: the runner waits for this thread after every run, and at the
    # default 0.1 s each run of every job held it that long (two seconds a tick of 20 jobs)
    while not stopped(stop, every, tick=HEARTBEAT_STOP_CHECK):
        try:
            if not runs.heartbeat(platform.db, claim, platform.clock.now(), job.lease):
                return
        except Exception:  # the database is away: the next beat tries again
            log.exception("job %s: heartbeat failed", job.name)


class Runner:
    """The scheduler, running due jobs in this process (a thread of ``yinxin serve``, or the
    main loop of ``yinxin worker`` on SQLite)."""

    def __init__(
        self,
        platform: Platform,
        jobs: Iterable[Job] | None = None,
        *,
        name: str | None = None,
        tick: float | None = None,
    ):
        self.platform = platform
        self.jobs = list(jobs) if jobs is not None else default_jobs(platform)
        self.worker = runs.worker_id(name)
        self.tick_seconds = tick if tick is not None else tick_seconds(platform)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the scheduler -------------------------------------------------------------------------
    def due(self) -> list[tuple[Job, str]]:
        """The (job, period) pairs to dispatch now: runs taken over first, then each job's
        current period if it has no run yet and no earlier run of it holds a live lease."""
        now = self.platform.clock.now()
        table = {j.name: j for j in self.jobs}
        current = {j.name: j.period.key(now) for j in self.jobs}
        with self.platform.db.read() as s:
            retake = runs.takeable(s, now, current)
            have = runs.seen(s, current)
            busy = runs.running(s, now)
        out = [(table[j], p) for j, p in retake]
        out += [(j, current[j.name]) for j in self.jobs if j.name not in have | busy]
        return out

    def tick(self) -> list[JobRunView]:
        """Run what is due now, in turn; returns the runs this runner made."""
        done = []
        for job, period in self.due():
            if self._stop.is_set():
                break
            view = self.dispatch(job, period)
            if view is not None:
                done.append(view)
        return done

    def dispatch(self, job: Job, period: str) -> JobRunView | None:
        return execute(self.platform, job, period, self.worker)

    def run_now(self, name: str) -> JobRunView | None:
        """Run one job once, now, whatever its schedule (``yinxin jobs run``): recorded under
        the period ``manual:<second>``."""
        job = by_name(self.jobs, name)
        now = self.platform.clock.now()
        return execute(self.platform, job, f"manual:{now:%Y-%m-%dT%H:%M:%S}", self.worker)

    # --- the loop --------------------------------------------------------------------------------
    def run(self) -> None:
        """Tick until ``stop``; a tick that fails (the database is away) is tried again."""
        log.info(
            "job runner %s: %d jobs, looking every %.1f s",
            self.worker,
            len(self.jobs),
            self.tick_seconds,
        )
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("job runner tick failed; trying again")
            stopped(self._stop, self.tick_seconds)
        log.info("job runner %s stopped", self.worker)

    def start(self) -> Runner:
        """Run in a daemon thread (``yinxin serve``)."""
        self._thread = threading.Thread(target=self.run, name="yinxin-jobs", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Ask the loop to end after the job it is running, and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()


@dataclass(frozen=True)
class JobInfo:
    """A job as ``yinxin jobs list`` shows it: what it does, how often, and its last run."""

    name: str
    every: str  # minute, hour, day, or "N s"
    period_seconds: int
    title: str
    current_period: str
    last_run: JobRunView | None


def describe(platform: Platform, jobs: Iterable[Job] | None = None) -> list[JobInfo]:
    """The jobs with their periods and last runs."""
    chosen = list(jobs) if jobs is not None else default_jobs(platform)
    last = runs.last_runs(platform.db)
    now = platform.clock.now()
    return [
        JobInfo(
            j.name, j.period.name, j.period.seconds, j.title, j.period.key(now), last.get(j.name)
        )
        for j in chosen
    ]
