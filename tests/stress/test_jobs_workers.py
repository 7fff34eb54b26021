"""Two job workers on one PostgreSQL database: an hour of simulated time, and a killed worker.

Each worker is a ``QueueRunner`` (the scheduler deferring to procrastinate, and a procrastinate
worker running what either scheduler deferred) with its own platform and database connections;
both read one ``FrozenClock``, which the test moves minute by minute once every job of the
minute has run. Afterwards ``job_runs`` must hold exactly one finished run per job and period,
each made in one try, with work shared between the workers.

The kill: a worker process runs a job that hangs and is killed with SIGKILL mid-run; its run
stays ``running`` until its lease (platform clock) runs out, then another worker takes the
period over and finishes it, and the row says so (second try, taken over from the dead one).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, table

from yinxin.jobs import HOUR, MINUTE, Job, RunState, history
from yinxin.jobs.queue import QueueRunner
from yinxin.jobs.registry import default_jobs
from yinxin.store.models.jobs import JobRun

pytestmark = pytest.mark.postgres
REPO = Path(__file__).resolve().parents[2]


def wait_for(what, timeout: float, message: str) -> None:
    end = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < end, message
        time.sleep(0.05)


def start(runner: QueueRunner) -> threading.Thread:
    t = threading.Thread(target=runner.run, name=runner.worker, daemon=True)
    runner._thread = t  # so stop() waits for it
    t.start()
    return t


def done_for(p, now: dt.datetime, jobs) -> bool:
    """Every job has a finished run for its period at ``now``."""
    want = {(j.name, j.period.key(now)) for j in jobs}
    with p.db.read() as s:
        got = set(
            s.execute(
                select(JobRun.job, JobRun.period).where(
                    JobRun.state == RunState.DONE, JobRun.period.in_({k for _, k in want})
                )
            ).all()
        )
    return want <= got


def test_two_workers_run_each_job_once_per_period_over_an_hour(make_platform, clock) -> None:
    a = make_platform("postgres")
    b = make_platform(home=a.settings.home, url=a.settings.database_url, init=False)
    assert a.clock is b.clock
    clock.set(HOUR.start(clock.now()) + dt.timedelta(hours=1, minutes=30))
    jobs = default_jobs(a)
    assert {j.name for j in jobs} >= {"flows.expire", "crl.issuing", "archive.renew"}
    runners = [QueueRunner(a, name="A", tick=0.05), QueueRunner(b, name="B", tick=0.05)]
    for r in runners:
        start(r)
    started = time.monotonic()
    moments = []
    try:
        for minute in range(61):
            now = clock.now()
            moments.append(now)
            wait_for(
                lambda now=now: done_for(a, now, jobs),
                60,
                f"minute {minute}: not every job ran for {now:%H:%M}",
            )
            if minute < 60:
                clock.advance(minutes=1)
    finally:
        for r in runners:
            r.stop(timeout=60)
    took = time.monotonic() - started
    assert all(not r._thread.is_alive() for r in runners)
    # exactly one run per job and period, each in one try, all done
    expected = {(j.name, j.period.key(t)) for j in jobs for t in moments}
    rows = history(a.db, limit=100_000)
    assert sorted((v.job, v.period) for v in rows) == sorted(expected)
    assert {(v.state, v.attempts) for v in rows} == {(RunState.DONE, 1)}, [
        (v.job, v.period, v.error) for v in rows if v.state != RunState.DONE
    ]
    frequent = [j for j in jobs if j.period == MINUTE]
    hourly = [j for j in jobs if j.period == HOUR]
    assert len(frequent) >= 4 and len(hourly) >= 7
    # 61 minutes from half past: every minute, two hours, one or two days
    assert len(rows) >= 61 * len(frequent) + 2 * len(hourly) + len(jobs) - len(frequent) - len(
        hourly
    )
    by_worker = {w: sum(1 for v in rows if v.worker.endswith(":" + w)) for w in "AB"}
    assert all(n > 0 for n in by_worker.values()), by_worker
    print(f"\n{len(rows)} runs over 61 simulated minutes in {took:.1f} s; by worker {by_worker}")
    # the queue kept no finished job (delete_jobs="successful") and nothing is left waiting
    with a.db.read() as s:
        left = s.execute(
            select(func.count()).select_from(JobRun).where(JobRun.state != RunState.DONE)
        ).scalar_one()
        queued = s.execute(
            select(func.count()).select_from(table("procrastinate_jobs"))
        ).scalar_one()
    assert left == 0 and queued == 0
    assert a.verify_audit().ok


CHILD = textwrap.dedent(
    """
    import datetime as dt, sys, time
    from pathlib import Path
    from yinxin.app import Platform
    from yinxin.clock import FrozenClock
    from yinxin.jobs import Job, MINUTE
    from yinxin.jobs.queue import QueueRunner
    from yinxin.settings import Settings

    home, url, at = sys.argv[1], sys.argv[2], dt.datetime.fromisoformat(sys.argv[3])
    p = Platform(Settings(home=Path(home), database_url=url), clock=FrozenClock(at), passphrase="x")

    def hang(_p):
        time.sleep(3600)
        return "never"

    job = Job("hangs", MINUTE, "hangs", hang, lease=dt.timedelta(minutes=2))
    QueueRunner(p, [job], name="doomed", tick=0.05).run()
    """
)


def test_a_worker_killed_mid_job_leaves_the_period_to_another_after_its_lease(
    make_platform, clock, tmp_path
) -> None:
    p = make_platform("postgres")
    clock.set(HOUR.start(clock.now()) + dt.timedelta(hours=1, minutes=10))
    at = clock.now()
    period = MINUTE.key(at)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            str(p.settings.home),
            p.settings.database_url,
            at.isoformat(),
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(
            lambda: [v.state for v in history(p.db, job="hangs")] == [RunState.RUNNING],
            60,
            "the child never started the job",
        )
        time.sleep(0.3)  # mid-job
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    [dead] = history(p.db, job="hangs")
    assert dead.worker.endswith(":doomed") and dead.lease_until == at + dt.timedelta(minutes=2)

    job = Job("hangs", MINUTE, "fixed", lambda _p: "finished", lease=dt.timedelta(minutes=2))
    rescuer = QueueRunner(p, [job], name="rescuer", tick=0.05)
    start(rescuer)
    try:
        # within the lease the job is the dead worker's: its period, and the next one, wait
        clock.advance(minutes=1)
        time.sleep(1.0)  # twenty ticks
        assert [(v.period, v.state) for v in history(p.db, job="hangs")] == [(period, "running")]
        clock.advance(minutes=2)  # the dead worker's lease has run out
        wait_for(
            lambda: done_for(p, at, [job]) and done_for(p, clock.now(), [job]),
            60,
            "the killed worker's period was never finished",
        )
    finally:
        rescuer.stop(timeout=60)
    runs = {v.period: v for v in history(p.db, job="hangs")}
    taken = runs[period]
    assert (taken.attempts, taken.result) == (2, "finished")
    assert taken.worker.endswith(":rescuer")
    assert taken.error.startswith(f"taken over from {dead.worker}: its lease ran out at")
    assert all(v.state == RunState.DONE and v.attempts == 1 for k, v in runs.items() if k != period)
