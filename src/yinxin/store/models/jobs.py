"""The scheduler's runs: one row per job and period, so no two workers run a job twice for the
same period (the unique (job, period) pair is the claim), and a worker that dies mid-run leaves
a lease that runs out and lets another worker finish the period (``yinxin.jobs``)."""

import datetime as dt

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yinxin.store.models import Base


class JobRun(Base):
    """running → done | failed; a running row whose lease ran out, or a failed one still in its
    period, is taken over (``attempts`` counts the tries, ``error`` keeps the last problem)."""

    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("job", "period"),
        # the run history, newest first: all of it, one job's, one state's (0033)
        Index("ix_job_runs_started_at_id", "started_at", "id"),
        Index("ix_job_runs_job_started_at_id", "job", "started_at", "id"),
        Index("ix_job_runs_state_started_at_id", "state", "started_at", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(60))
    period: Mapped[str] = mapped_column(String(32))  # 2026-12-01T10:05, or manual:<second>
    state: Mapped[str] = mapped_column(String(12), index=True)  # running | done | failed
    worker: Mapped[str] = mapped_column(String(100))  # host:pid:name of the last taker
    attempts: Mapped[int] = mapped_column(default=1)
    started_at: Mapped[dt.datetime]
    lease_until: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    result: Mapped[str | None] = mapped_column(Text)  # a one-line summary of what it did
    error: Mapped[str | None] = mapped_column(Text)
