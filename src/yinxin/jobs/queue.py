"""The runner on PostgreSQL: the scheduler defers due work to procrastinate, a Postgres-backed
job queue, and procrastinate's workers run it.

Why procrastinate and not only our loop: its queue is in the same database (no broker to run),
a deferred job is there for *any* worker to pick up (several ``yinxin worker`` processes share
the work, a busy one does not hold the others up), workers fetch with ``FOR UPDATE SKIP LOCKED``
and are woken by ``LISTEN/NOTIFY``, and its tables show what is queued and running
(``procrastinate_jobs``). Its own periodic deferrer is not used: it reads the wall clock, while
our jobs run on the platform clock (tests move a ``FrozenClock``); our scheduler decides what is
due and defers it with a ``queueing_lock`` of ``job@period``, so a period is queued at most once
at a time. The task itself claims ``job_runs`` before it runs, as the in-process runner does:
that claim, not the queue, is what makes each job run once per period and lets a worker take
over the period of one that died.

The procrastinate schema is applied the first time a worker starts on a database (under an
advisory lock, so two workers starting together apply it once), from procrastinate's own schema
file; after upgrading procrastinate, apply its migrations (``procrastinate schema --migrate``
lists them). Only workers create it: a platform that never starts one has no queue tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from yinxin.jobs.registry import Job
from yinxin.jobs.runner import Runner, execute

if TYPE_CHECKING:
    import procrastinate
    import procrastinate.tasks

    from yinxin.app import Platform


log = logging.getLogger("yinxin.jobs")
SCHEMA_LOCK = 0x59584A4F42  # "YXJOB": the advisory lock under which the queue schema is made
TASK = "yinxin.run_job"


def conninfo(database_url: str) -> str:
    """A libpq URI for procrastinate's psycopg pool from the platform's SQLAlchemy URL."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def ensure_schema(database_url: str) -> bool:
    """Create procrastinate's tables unless they are there; True when this call made them."""
    import psycopg
    from procrastinate.schema import SchemaManager

    with psycopg.connect(conninfo(database_url)) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        there = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
        if there and there[0]:
            return False
        conn.execute(SchemaManager.get_schema())  # no parameters: run as a script
        log.info("procrastinate schema applied")
        return True


class QueueRunner(Runner):
    """The scheduler deferring to procrastinate, and a procrastinate worker running the
    deferred jobs (of this runner and of every other one on the database)."""

    concurrency = 2  # deferred jobs this worker runs at once
    # the event loop of a running ``run()`` and its wake-up event, for ``stop()`` from elsewhere
    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    def _queue(self) -> tuple[procrastinate.App, procrastinate.tasks.Task]:
        """procrastinate's app on the platform's database, with the one task that runs our jobs.

        Made when the runner starts rather than in a constructor of its own: ``QueueRunner``
        takes ``Runner``'s arguments unchanged, and a runner that is never run opens no pool."""
        import procrastinate

        app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                conninfo=conninfo(self.platform.settings.database_url), min_size=1, max_size=4
            )
        )
        table = {j.name: j for j in self.jobs}

        @app.task(name=TASK)
        def run_job(job: str, period: str) -> str | None:
            """Claim and run one job for one period (a no-op when another worker has it)."""
            if job not in table:
                log.warning("queued job %s is not known to this worker; skipped", job)
                return None
            view = execute(self.platform, table[job], period, self.worker)
            return None if view is None else view.state.value

        return app, run_job

    async def _defer_due(
        self, task: procrastinate.tasks.Task, deferred: set[tuple[str, str]]
    ) -> int:
        due = await asyncio.to_thread(self.due)
        periods = {(j.name, p) for j, p in due}
        deferred &= periods  # forget what has a run now, so a take-over is deferred again
        n = 0
        for job, period in due:
            if (job.name, period) in deferred:
                continue
            try:
                await task.configure(queueing_lock=f"{job.name}@{period}").defer_async(
                    job=job.name, period=period
                )
                n += 1
            except Exception as e:
                from procrastinate.exceptions import AlreadyEnqueued

                if not isinstance(e, AlreadyEnqueued):
                    raise
            deferred.add((job.name, period))
        return n

    async def _main(self) -> None:
        await asyncio.to_thread(ensure_schema, self.platform.settings.database_url)
        app, task = self._queue()
        deferred: set[tuple[str, str]] = set()
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        async with app.open_async():
            worker = asyncio.create_task(
                app.run_worker_async(
                    name=self.worker,
                    concurrency=self.concurrency,
                    install_signal_handlers=False,
                    delete_jobs="successful",
                    fetch_job_polling_interval=max(self.tick_seconds, 1.0),
                )
            )
            try:
                while not self.stopping and not worker.done():
                    try:
                        await self._defer_due(task, deferred)
                    except Exception:
                        log.exception("job scheduler tick failed; trying again")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.tick_seconds)
            finally:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker

    def run(self) -> None:
        log.info(
            "job runner %s (procrastinate): %d jobs, looking every %.1f s",
            self.worker,
            len(self.jobs),
            self.tick_seconds,
        )
        asyncio.run(self._main())
        log.info("job runner %s stopped", self.worker)

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                loop.call_soon_threadsafe(wake.set)
        if self._thread is not None:
            self._thread.join(timeout)


def runner_for(platform: Platform, jobs: Iterable[Job] | None = None, **kwargs) -> Runner:
    """The runner for the platform's database: procrastinate's queue on PostgreSQL (when the
    package is installed), the in-process runner otherwise. Here, above both runners, so the
    in-process one need not know of this one."""
    if platform.db.engine.dialect.name == "postgresql":
        try:
            import procrastinate  # noqa: F401
        except ImportError:
            log.warning("procrastinate is not installed: running jobs in process")
        else:
            return QueueRunner(platform, jobs, **kwargs)
    return Runner(platform, jobs, **kwargs)
