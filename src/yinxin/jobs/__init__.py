"""Time-driven work: the job registry, the scheduler and its runners (``docs/jobs.md``).

Wiring over the platform's services, at the app layer next to ``app.py``: a job is a named,
idempotent function of the ``Platform`` with its period (``registry``); a run is claimed in
``job_runs`` so each job runs once per period on any number of workers, and a dead worker's
lease runs out for another to finish the period (``runs``); the in-process runner
(``runner``, SQLite) or procrastinate's queue (``queue``, PostgreSQL) runs them, on the
platform clock. ``yinxin worker``, ``yinxin jobs …`` and ``yinxin serve`` start them.
"""

from yinxin.jobs.queue import runner_for
from yinxin.jobs.registry import DAY, HOUR, MINUTE, Job, Period, default_jobs
from yinxin.jobs.runner import JobInfo, Runner, describe, execute
from yinxin.jobs.runs import JobRunView, RunState, history, last_runs

__all__ = [
    "DAY",
    "HOUR",
    "MINUTE",
    "Job",
    "JobInfo",
    "JobRunView",
    "Period",
    "RunState",
    "Runner",
    "default_jobs",
    "describe",
    "execute",
    "history",
    "last_runs",
    "runner_for",
]
