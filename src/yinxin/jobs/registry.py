"""The jobs: each a named, idempotent function of the ``Platform`` with the period it runs in.

A job is the time-driven half of a service: the service owns the rule ("a certificate past its
notAfter is expired", "a failed message is tried again after its back-off"), the job only says
when to apply it. Every job can run twice for one period, or on two workers at once, with its
effects made once: the services lock or re-check each row before changing it, and the runner's
``job_runs`` claim keeps a period to one run anyway (``yinxin.jobs.runs``).

Periods are fixed intervals of the platform clock (UTC) counted from the epoch: a run belongs to
the interval it started in, named by the interval's start (``2026-12-01T10:05`` for a minute,
``2026-12-01T10:00`` for an hour, ``2026-12-01`` for a day). The frequent jobs' period is
``YINXIN_SWEEP_SECONDS`` (default 60), so a test server can expire flows within a second.
"""

from __future__ import annotations

import datetime as dt
import logging
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from yinxin.errors import ValidationError, YinxinError
from yinxin.store.models.flows import SignFlow, SignFlowSigner
from yinxin.store.models.jobs import JobRun

if TYPE_CHECKING:
    from yinxin.app import Platform

log = logging.getLogger(__name__)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# how long finished runs are kept in job_runs (``jobs.prune`` deletes older ones)
KEEP_RUNS = dt.timedelta(days=30)
# a signer whose turn it is hears once more when the deadline is this close (催签)
REMIND_BEFORE = dt.timedelta(hours=24)
DEFAULT_SWEEP = 60.0
BATCH = 500  # rows an outbox job takes per run; the rest wait for the next period


@dataclass(frozen=True)
class Period:
    """A fixed interval of the platform clock, counted from the epoch in UTC."""

    seconds: int

    def __post_init__(self) -> None:
        if self.seconds < 1 or (self.seconds > 86400 and self.seconds % 86400):
            raise ValueError("a period is 1 s to 1 day, or whole days")

    def start(self, now: dt.datetime) -> dt.datetime:
        """The start of the period ``now`` falls in."""
        elapsed = int((now - EPOCH).total_seconds())
        return EPOCH + dt.timedelta(seconds=elapsed - elapsed % self.seconds)

    def key(self, now: dt.datetime) -> str:
        """The period's name in ``job_runs``: its start, as precise as the period needs."""
        start = self.start(now)
        if self.seconds % 86400 == 0:
            return start.strftime("%Y-%m-%d")
        if self.seconds % 60 == 0:
            return start.strftime("%Y-%m-%dT%H:%M")
        return start.strftime("%Y-%m-%dT%H:%M:%S")

    @property
    def name(self) -> str:
        for seconds, word in ((86400, "day"), (3600, "hour"), (60, "minute")):
            if self.seconds == seconds:
                return word
        return f"{self.seconds} s"


MINUTE, HOUR, DAY = Period(60), Period(3600), Period(86400)


class JobProblem(YinxinError, code="job_failed"):
    """A job ran but some of its work failed (e.g. one archived document could not be renewed):
    the run is recorded as failed and tried again within its period."""


@dataclass(frozen=True)
class Job:
    """A named unit of time-driven work. ``run`` returns a one-line summary for the log and
    ``job_runs``; it raises to say the run failed. ``lease`` is how long a run may go without
    its worker's heartbeat before another worker takes the period over."""

    name: str
    period: Period
    title: str
    run: Callable[[Platform], str]
    lease: dt.timedelta = dt.timedelta(minutes=5)


# --- the jobs ------------------------------------------------------------------------------------
def _outbox(p: Platform) -> str:
    rows = p.notifier.retry_failed(limit=BATCH)
    sent = sum(1 for r in rows if r.status == "sent")
    return f"{len(rows)} tried, {sent} sent"


def _webhooks_dispatch(p: Platform) -> str:
    return f"dispatched: {_count(p.webhooks.dispatch(limit=BATCH))}"  # type: ignore[attr-defined]


# what each blocked job was last told of, by the service object it runs on and what it is
# blocked at (the webhook deliverer; a CA role's key): said once in the log, not every period;
# forgotten once the job goes ahead again
_blocked: weakref.WeakKeyDictionary[object, dict[str, str]] = weakref.WeakKeyDictionary()


def _warn_once(owner: object, what: str, reason: str | None) -> None:
    """Log ``what``'s ``reason`` to be blocked at WARNING once, and again only when the reason
    changes or after ``None`` (it went ahead) — a fault of the set-up that no run mends would
    otherwise fill the log with one line a period for as long as the worker runs; each run's
    result says it every time. ``owner`` (a service object of one platform) keeps two
    platforms of a process, or a restarted one, apart."""
    said = _blocked.setdefault(owner, {})
    if reason is None:
        said.pop(what, None)
    elif said.get(what) != reason:
        said[what] = reason
        log.warning("%s %s (said once; each run's result says it too)", what, reason)


def _webhooks_deliver(p: Platform) -> str:
    """Due deliveries out, unless the key store cannot open their secrets (a worker started
    without the KEK or on the wrong one): then the run is blocked, not failed — a fault of
    the platform's set-up that no retry within the period mends and that would otherwise
    fail a run and log an ERROR every minute for as long as the worker runs; it is logged
    once at WARNING, said in each run's result, and the deliveries wait untouched."""
    webhooks = p.webhooks  # type: ignore[attr-defined]
    refused = webhooks.secrets_refused()
    if refused is not None:
        reason = f"blocked, deliveries wait untouched: {refused.message}"
        _warn_once(webhooks, "webhooks.deliver", reason)
        return "WARNING " + reason
    _warn_once(webhooks, "webhooks.deliver", None)
    # tries and deliveries apart, as the outbox job says them: a run whose every try failed
    # is not "delivered: N" in `yinxin jobs runs`
    tried = webhooks.deliver_due(limit=BATCH)
    delivered = sum(1 for r in tried if r.state == "delivered")
    return f"{len(tried)} tried, {delivered} delivered"


def _count(result: object) -> object:
    """How many a service call handled, whatever shape it reports it in."""
    if isinstance(result, int | str) or result is None:
        return result
    if isinstance(result, Sequence):
        return len(result)
    return result


def _flows_expire(p: Platform) -> str:
    return f"expired: {list(p.flows.expire_due().expired)}"


def _contracts_settle(p: Platform) -> str:
    return f"settled: {p.contracts.settle()}"  # type: ignore[attr-defined]


def _flows_remind(p: Platform) -> str:
    """Urge once every signer whose turn it is when the flow's deadline is less than a day away
    and nobody urged them since that day began; a second run finds them urged."""
    from yinxin.signing.flows import FlowState, SignerState

    now = p.clock.now()
    with p.db.read() as s:
        rows = s.execute(
            select(
                SignFlowSigner.flow_id,
                SignFlowSigner.id,
                SignFlow.deadline,
                SignFlowSigner.last_urged_at,
            )
            .join(SignFlow, SignFlow.id == SignFlowSigner.flow_id)
            .where(
                SignFlow.state == FlowState.STARTED,
                SignFlow.deadline > now,
                SignFlow.deadline <= now + REMIND_BEFORE,
                SignFlowSigner.state == SignerState.READY,
            )
            .order_by(SignFlowSigner.id)
        ).all()
    # urged within the last day before the deadline (by us or by a person): nothing more to say
    due = [
        (flow_id, signer_id)
        for flow_id, signer_id, deadline, urged_at in rows
        if urged_at is None or urged_at < deadline - REMIND_BEFORE
    ]
    urged = []
    for flow_id, signer_id in due:
        try:
            p.flows.urge(flow_id, signer_id, actor="system:reminder")
            urged.append(signer_id)
        except YinxinError as e:  # signed, extended or urged meanwhile
            log.info("no reminder to signer %s of flow %s: %s", signer_id, flow_id, e.message)
    return f"signers reminded: {urged}"


def _desk_breaches(p: Platform) -> str:
    run = p.desk.flag_breaches()  # type: ignore[attr-defined]
    return (
        f"flagged: {list(run.flagged)}, grown: {list(run.updated)}, "
        f"records signed: {list(run.records_signed)}"
        + (
            f", notice days corrected: {list(run.notice_days_corrected)}"
            if run.notice_days_corrected
            else ""
        )
    )


def _obligations_remind(p: Platform) -> str:
    run = p.obligations.remind_due()  # type: ignore[attr-defined]
    summary = (
        f"tracked: {list(run.tracked)}, deemed: {list(run.deemed)}, "
        f"reminders: {[f'{o}@{point}' for o, point in run.sent]}"
    )
    if run.failed:
        raise JobProblem(f"{summary}; failed: " + "; ".join(run.failed), field="obligations")
    return summary


def _certificates_expire(p: Platform) -> str:
    return f"expired: {p.certificates.expire_due()}"


def _certificates_unpaid(p: Platform) -> str:
    return f"suspended: {p.certificates.suspend_unpaid()}"


def _seals_expire(p: Platform) -> str:
    return f"expired: {p.seals.expire_due()}"


def _authorizations_expire(p: Platform) -> str:
    return f"expired: {p.authorizations.expire_due()}"


def _crl(role: str) -> Callable[[Platform], str]:
    def resign(p: Platform) -> str:
        """Re-signs only when the status changed or nextUpdate draws near (``current_crl``)."""
        from cryptography import x509

        crl = x509.load_der_x509_crl(p.status.current_crl(role))
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        done = f"CRL #{number}, next update {crl.next_update_utc.isoformat()}"
        # A current CRL is served as it is, no key opened: with the CA key missing, damaged or
        # its passphrase wrong the run said "done" until the one that must re-sign it failed
        # — a day later for the issuing CA, when relying parties' CRL runs out a week after.
        # So the key is opened (once a process) and what stops it said now: a warning, not a
        # failure, as calendar.check's, for the CRL served is good; logged once (the job runs
        # every hour), each run's result saying it.
        try:
            p.ca.issuer(role)
        except YinxinError as e:
            warning = (
                f"the {role} CA key cannot be opened ({e.message}): this CRL is current, but "
                f"the run that must re-sign it before {crl.next_update_utc.isoformat()} will "
                "fail — put the key store right"
            )
            _warn_once(p.ca, f"{role} CRL:", warning)
            return f"{done}; WARNING {warning}"
        _warn_once(p.ca, f"{role} CRL:", None)
        return done

    return resign


def _side_crls(p: Platform) -> str:
    """The CRLs of a hierarchy added beside the default one (``yinxin ca add-hierarchy``:
    ``sm2-issuing``, ``sm2-root``), re-signed when due like ``crl.issuing`` and ``crl.root``."""
    roles = [r for r in p.status.crl_roles() if r not in ("issuing", "root")]
    if not roles:
        return "no hierarchy beside the default one"
    return "; ".join(f"{role}: {_crl(role)(p)}" for role in roles)


def _renewal_notices(p: Platform) -> str:
    return f"notices: {[n.serial for n in p.notices.send_renewal_notices()]}"


def _payment_reminders(p: Platform) -> str:
    days = p.settings.payment_reminder_days
    sent = p.notices.send_payment_reminders(days)
    return f"reminders ({days} days before): {[f'{r.serial}@{r.paid_until}' for r in sent]}"


def _archive_renew(p: Platform) -> str:
    report = p.archive.renew(actor="scheduler")
    summary = (
        f"checked {report.checked}, renewed {len(report.renewed)}, "
        f"refreshed {len(report.refreshed)}, rolled over {len(report.rolled_over)}"
    )
    if report.renewed_elsewhere:
        summary += f", renewed by another run {len(report.renewed_elsewhere)}"
    if report.failed:
        raise JobProblem(
            f"{summary}; failed: " + "; ".join(f"{f.id}: {f.error}" for f in report.failed),
            field="archive",
        )
    return summary


def _calendar_check(p: Platform) -> str:
    """Says, every day and as a warning in the log, when this year's or (from November, when
    the State Council publishes it) next year's official holiday schedule is not loaded: the
    desk then records notices by the weekday rule and due dates counted in working days wait
    (docs/contract-terms.md). A warning, not a failure: nothing is wrong with the platform."""
    calendar, today = p.obligations.calendar, p.obligations.today()  # the official one, Beijing
    years = [today.year] + ([today.year + 1] if today.month >= 11 else [])
    missing = [y for y in years if not calendar.covers(y)]
    known = calendar.years()
    loaded = f"official holiday calendars loaded: {known[0]}–{known[-1]}" if known else "none"
    if not missing:
        return loaded
    warning = (
        f"no official holiday calendar for {', '.join(map(str, missing))}: add "
        f"{' and '.join(f'<home>/calendars/{y}.json' for y in missing)} and restart "
        "(docs/contract-terms.md); until then desk notices in it are provisional and working-day "
        f"due dates in it wait; {loaded}"
    )
    log.warning(warning)
    return "WARNING " + warning


def _prune(p: Platform) -> str:
    cutoff = p.clock.now() - KEEP_RUNS
    with p.db.transaction() as s:
        gone = s.execute(
            delete(JobRun)
            .where(JobRun.finished_at.is_not(None), JobRun.finished_at < cutoff)
            .returning(JobRun.id)
        ).all()
    return f"{len(gone)} old runs deleted"


def sweep_seconds(platform: Platform) -> float:
    """The frequent jobs' period, ``YINXIN_SWEEP_SECONDS`` (``Settings.from_env`` leaves it
    None when the variable is unset: then the default, 60)."""
    seconds = platform.settings.sweep_seconds
    return DEFAULT_SWEEP if seconds is None else float(seconds)


def default_jobs(platform: Platform) -> list[Job]:
    """Every job of the platform, frequent ones first. The webhook jobs are there when the
    platform has webhooks."""
    frequent = Period(max(1, round(sweep_seconds(platform))))
    jobs = [
        Job("notify.outbox", frequent, "send the message outbox, retry failed messages", _outbox),
    ]
    if hasattr(type(platform), "webhooks"):
        jobs += [
            Job(
                "webhooks.dispatch",
                frequent,
                "turn events into webhook deliveries",
                _webhooks_dispatch,
            ),
            Job(
                "webhooks.deliver",
                frequent,
                "deliver due webhooks (with back-off)",
                _webhooks_deliver,
            ),
        ]
    jobs += [
        Job("flows.expire", frequent, "expire sign flows past their deadline", _flows_expire),
        Job("flows.remind", HOUR, "remind signers a day before the deadline", _flows_remind),
        Job(
            "contracts.settle",
            frequent,
            "contracts whose sign flow ended become signed (or drafts again)",
            _contracts_settle,
        ),
        Job(
            "desk.breaches",
            frequent,
            "flag O&M service deadlines passed (003); mark signed service records",
            _desk_breaches,
        ),
        Job(
            "obligations.remind",
            HOUR,
            "track signed contracts' terms, deem acceptance, remind before due dates (once)",
            _obligations_remind,
        ),
        Job("certificates.expire", HOUR, "expire certificates past notAfter", _certificates_expire),
        Job(
            "certificates.unpaid",
            HOUR,
            "suspend certificates paid up to a past date",
            _certificates_unpaid,
        ),
        Job("seals.expire", HOUR, "expire seals past their validity", _seals_expire),
        Job("authorizations.expire", HOUR, "expire signing authorizations", _authorizations_expire),
        Job("crl.issuing", HOUR, "re-sign the issuing CA's CRL when due", _crl("issuing")),
        Job("crl.root", HOUR, "re-sign the root's CRL when due", _crl("root")),
        Job("crl.side", HOUR, "re-sign the SM2 hierarchy's CRLs when due", _side_crls),
        Job("notices.renewal", DAY, "send renewal notices (30 days, every 7)", _renewal_notices),
        Job(
            "notices.payment",
            DAY,
            "remind holders to pay before the unpaid stop (YINXIN_PAYMENT_REMINDER_DAYS, once)",
            _payment_reminders,
        ),
        Job(
            "archive.renew",
            DAY,
            "renew archive timestamps (B-LTA), add fresh status data",
            _archive_renew,
            lease=dt.timedelta(hours=1),
        ),
        Job("jobs.prune", DAY, "delete job runs finished 30 days ago", _prune),
        Job(
            "calendar.check",
            DAY,
            "warn when this or next year's official holiday schedule is not loaded",
            _calendar_check,
        ),
    ]
    return jobs


def by_name(jobs: Iterable[Job], name: str) -> Job:
    """The job called ``name``; an unknown name is refused listing the known ones."""
    table = {j.name: j for j in jobs}
    try:
        return table[name]
    except KeyError:
        raise ValidationError(
            f"no job named {name!r} (jobs: {', '.join(table)})", field="name"
        ) from None
