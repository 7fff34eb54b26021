"""The job runner on the platform clock: each job idempotent, each run claimed once per period,
the time-driven effects (expiry, suspension, outbox retry, CRL re-signing) made by the runner,
a dead worker's lease taken over, and the commands (``yinxin jobs …``, ``yinxin worker``)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from cryptography import x509

from tests import dbdump
from tests.fixtures.samples import contract_pdf
from tests.integration.server import yinxin_env
from tests.integration.signing_flow import World, build_world
from tests.integration.test_ca_lifecycle import enrol, issue
from yinxin.clock import beijing_day
from yinxin.errors import ValidationError
from yinxin.jobs import DAY, HOUR, MINUTE, Job, Period, Runner, RunState, history, last_runs
from yinxin.jobs import runs as job_runs
from yinxin.jobs.registry import default_jobs
from yinxin.notify.gateways import DeliveryError
from yinxin.signing.flows import FlowState, SignerSpec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def settle(clock, minutes: int = 5) -> None:
    """Put the clock a few minutes into the next hour, so a test that moves it by minutes does
    not cross an hour (or a day) by chance. From 20:00 on it goes to 10:00 the next day
    instead: a test that then moves it an hour or two on must not cross midnight either (run
    at 22:xx, the next hour plus one was the next day, and the daily jobs ran too)."""
    start = HOUR.start(clock.now()) + dt.timedelta(hours=1)
    if start.hour >= 20:
        start = DAY.start(start) + dt.timedelta(days=1, hours=10)
    clock.set(start + dt.timedelta(minutes=minutes))


def flow_due_in(w: World, hours: float):
    p = w.p
    flow = p.flows.create(
        "限期合同",
        documents=[("合同.pdf", contract_pdf(1, parties=("甲方", "乙方")))],
        signers=[SignerSpec(w.yi.id, w.yi.role, w.yi.seal.es_id)],
        deadline=w.clock.now() + dt.timedelta(hours=hours),
    )
    p.flows.start(flow.id)
    return flow


def sms_lines(p) -> int:
    path = p.settings.home / "outbox" / "sms.jsonl"
    return len(path.read_text("utf-8").splitlines()) if path.exists() else 0


# --- periods ---------------------------------------------------------------------------------
def test_periods_are_named_by_their_start() -> None:
    t = dt.datetime(2026, 12, 1, 10, 5, 42, tzinfo=dt.UTC)
    assert MINUTE.key(t) == "2026-12-01T10:05"
    assert HOUR.key(t) == "2026-12-01T10:00"
    assert DAY.key(t) == "2026-12-01"
    assert Period(15).key(t) == "2026-12-01T10:05:30"
    assert Period(7200).start(t) == dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    for bad in (0, -1, 86400 + 1):
        with pytest.raises(ValueError):
            Period(bad)


# --- the runner ------------------------------------------------------------------------------
def test_a_tick_runs_every_job_once_per_period(platform, clock) -> None:
    p = platform
    settle(clock)
    r = Runner(p, name="a")
    first = r.tick()
    assert sorted(v.job for v in first) == sorted(j.name for j in r.jobs)
    assert {v.state for v in first} == {RunState.DONE}, [v.error for v in first]
    assert r.tick() == []  # the same period: nothing again
    assert Runner(p, name="b").tick() == []  # nor on another worker
    clock.advance(minutes=1)
    frequent = {j.name for j in r.jobs if j.period.seconds == 60}
    assert {v.job for v in r.tick()} == frequent
    clock.advance(hours=1)
    hourly = {j.name for j in r.jobs if j.period.seconds <= 3600}
    assert {v.job for v in r.tick()} == hourly
    # one row per job and period, each run once by one worker
    rows = history(p.db, limit=1000)
    assert len(rows) == len(first) + len(frequent) + len(hourly)
    assert len({(v.job, v.period) for v in rows}) == len(rows)
    assert {(v.attempts, v.worker.endswith(":a")) for v in rows} == {(1, True)}
    assert last_runs(p.db)["crl.issuing"].period == HOUR.key(clock.now())


def test_every_job_is_idempotent_run_twice_its_effects_are_made_once(platform, clock) -> None:
    """Each job, run twice for the same moment, changes the database (every table, every row)
    and the message outbox the first time only, at moments when every job has work."""
    w = build_world(platform, clock)
    p = w.p
    issue(p, enrol(p).person.id, years=1, validity_years=2)  # paid for one year of two
    flow_due_in(w, hours=30)  # reminded when less than a day is left, then expired
    jobs = default_jobs(p)
    changed: set[str] = set()
    steps = (
        dt.timedelta(hours=7),
        dt.timedelta(days=340),
        dt.timedelta(days=20),  # five days before the paid year ends: the payment reminder
        dt.timedelta(days=10),
    )
    for step in steps:
        clock.set(clock.now() + step)
        for job in jobs:
            before = dbdump.dump(p), sms_lines(p)
            first = job.run(p)
            after = dbdump.dump(p), sms_lines(p)
            if after != before:
                changed.add(job.name)
            second = job.run(p)
            assert (dbdump.dump(p), sms_lines(p)) == after, f"{job.name}: {first} / {second}"
    # the jobs that had work did it (the rest had none at these moments, and that is tested
    # by their services' own tests)
    assert {
        "flows.remind",
        "flows.expire",
        "certificates.expire",
        "certificates.unpaid",
        "seals.expire",
        "crl.issuing",
        "notices.renewal",
        "notices.payment",
    } <= changed, changed


def test_runner_expires_suspends_expires_flows_and_resigns_crls(platform, clock) -> None:
    w = build_world(platform, clock)
    p = w.p
    settle(clock)
    unpaid = issue(p, enrol(p).person.id, years=1, validity_years=2)
    flow = flow_due_in(w, hours=2)
    r = Runner(p, name="a")
    r.tick()
    crl_1 = x509.load_der_x509_crl(p.status.current_crl("issuing"))
    clock.advance(hours=3)
    r.tick()
    assert p.flows.get(flow.id).state == FlowState.EXPIRED
    run = [v for v in history(p.db, job="flows.expire") if flow.id in json.loads(
        v.result.split(": ", 1)[1])]  # fmt: skip
    assert len(run) == 1 and run[0].state == RunState.DONE
    # a day later the issuing CRL (7 days, refreshed 6 before) is re-signed by the runner
    clock.advance(days=1, minutes=1)
    r.tick()
    crl_2 = x509.load_der_x509_crl(p.status.current_crl("issuing"))
    assert crl_2.next_update_utc > crl_1.next_update_utc
    assert last_runs(p.db)["crl.issuing"].result.startswith("CRL #")
    # a year on: the unpaid certificate is suspended; a year more and every certificate expired
    clock.advance(days=366)
    r.tick()
    got = p.certificates.get(unpaid.serial)
    assert (got.status, got.hold_kind) == ("on_hold", "unpaid")
    assert p.certificates.get(w.person_cert.serial).status == "expired"
    assert unpaid.serial in last_runs(p.db)["certificates.unpaid"].result
    assert w.person_cert.serial in last_runs(p.db)["certificates.expire"].result
    events = p.audit_events(action="certificate.suspend_unpaid", subject_id=unpaid.serial)
    assert len(events) == 1 and events[0].actor == "scheduler"
    assert p.verify_audit().ok


def test_the_payment_reminder_job_reminds_once_before_the_unpaid_stop(platform, clock) -> None:
    """The notices.payment job, run by the runner each day: one reminder per certificate and
    paid period, YINXIN_PAYMENT_REMINDER_DAYS (here 10) before the paid service ends, none on
    the following days' runs; then the unpaid stop, with its own notice."""
    import dataclasses

    from sqlalchemy import select

    from yinxin.store.models.notify import Notification

    p = platform
    p.settings = dataclasses.replace(p.settings, payment_reminder_days=10)
    settle(clock)
    cert = issue(p, enrol(p).person.id, years=1, validity_years=2)
    r = Runner(p, name="a")

    def reminders() -> list[Notification]:
        with p.db.read() as s:
            q = select(Notification).where(Notification.template_id == "certificate_payment_due")
            rows = s.execute(q).scalars().all()
            s.expunge_all()
            return rows

    r.tick()
    clock.advance(days=354)  # eleven days before the paid year ends: not yet
    r.tick()
    assert reminders() == []
    assert last_runs(p.db)["notices.payment"].result == "reminders (10 days before): []"
    clock.advance(days=2)  # nine days before
    r.tick()
    [row] = reminders()
    paid = beijing_day(cert.paid_until).isoformat()
    assert (row.status, row.recipient) == ("sent", "13800130000")
    assert f"服务费已缴至 {paid}（剩余 9 天）" in row.body and cert.serial in row.body
    assert last_runs(p.db)["notices.payment"].result == (
        f"reminders (10 days before): ['{cert.serial}@{paid}']"
    )
    for _ in range(9):  # each day's run until the stop: nothing more
        clock.advance(days=1)
        r.tick()
    assert len(reminders()) == 1
    got = p.certificates.get(cert.serial)
    assert (got.status, got.hold_kind) == ("on_hold", "unpaid")


class Unreachable:
    channel = "sms"

    def send(self, message):
        raise DeliveryError("provider unreachable")


def test_a_failed_message_is_sent_again_by_the_outbox_job(platform, clock) -> None:
    p = platform
    settle(clock)
    working = p.notifier.gateways["sms"]
    p.notifier.gateways["sms"] = Unreachable()
    cert = issue(p, enrol(p).person.id)
    received, failed = p.notifier.log(status="failed")[::-1]
    assert (received.template_id, failed.template_id) == (
        "application_received",
        "certificate_issued",
    )
    p.notifier.gateways["sms"] = working
    lines = sms_lines(p)
    r = Runner(p, name="a")
    r.tick()  # within its back-off (30 s): not yet
    assert p.notifier.get(failed.id).status == "failed" and sms_lines(p) == lines
    clock.advance(minutes=1)
    r.tick()
    assert p.notifier.get(failed.id).status == "sent"
    assert p.notifier.get(received.id).status == "sent"
    assert sms_lines(p) == lines + 2
    assert cert.serial in (p.settings.home / "outbox" / "sms.jsonl").read_text("utf-8")
    assert last_runs(p.db)["notify.outbox"].result == "2 tried, 2 sent"
    clock.advance(minutes=1)
    r.tick()
    assert sms_lines(p) == lines + 2  # each sent once


def test_a_failing_job_is_tried_again_within_its_period_three_times_at_most(
    platform, clock
) -> None:
    p = platform
    settle(clock)
    calls: list[str] = []

    def flaky(_p) -> str:
        calls.append("x")
        if len(calls) < 5:
            raise ValidationError("not today", field="x")
        return "ok"

    r = Runner(p, [Job("flaky", HOUR, "fails", flaky)], name="a")
    assert [v.state for v in r.tick()] == [RunState.FAILED]
    assert r.tick() == []  # waits RETRY_AFTER
    clock.advance(minutes=1)
    [second] = r.tick()
    assert (second.state, second.attempts, second.error) == (RunState.FAILED, 2, "not today")
    clock.advance(minutes=1)
    assert r.tick()[0].attempts == 3
    clock.advance(minutes=1)
    assert r.tick() == []  # three tries of one period are enough
    clock.advance(hours=1)  # a new period starts afresh
    assert [(v.state, v.attempts) for v in r.tick()] == [(RunState.FAILED, 1)]
    clock.advance(minutes=1)
    assert [(v.state, v.result) for v in r.tick()] == [(RunState.DONE, "ok")]


def test_a_run_whose_lease_ran_out_is_taken_over_and_its_late_finish_changes_nothing(
    platform, clock
) -> None:
    p = platform
    settle(clock)
    job = Job("slow", HOUR, "slow", lambda _p: "done", lease=dt.timedelta(minutes=2))
    now = clock.now()
    period = HOUR.key(now)
    dead = job_runs.claim(p.db, "slow", period, "host:1:dead", now, job.lease)
    assert dead is not None and dead.attempt == 1
    # another worker sees it running under a live lease: nothing to do
    r = Runner(p, [job], name="b")
    assert r.tick() == []
    clock.advance(minutes=3)
    [taken] = r.tick()
    assert (taken.state, taken.attempts, taken.worker) == (RunState.DONE, 2, r.worker)
    assert taken.error.startswith("taken over from host:1:dead: its lease ran out at")
    # the first worker wakes up and reports: the row keeps the other's run
    assert job_runs.finish(p.db, dead, clock.now(), result="late", error=None) is None
    assert job_runs.heartbeat(p.db, dead, clock.now(), job.lease) is False
    assert last_runs(p.db)["slow"].result == "done"


def test_two_claims_of_one_period_one_wins(any_platform, clock) -> None:
    p = any_platform
    now = clock.now()
    lease = dt.timedelta(minutes=5)
    a = job_runs.claim(p.db, "j", "2026-01-01T00:00", "a", now, lease)
    b = job_runs.claim(p.db, "j", "2026-01-01T00:00", "b", now, lease)
    assert a is not None and b is None
    assert job_runs.finish(p.db, a, now, result="r", error=None).state == RunState.DONE
    assert job_runs.claim(p.db, "j", "2026-01-01T00:00", "b", now + lease * 2, lease) is None


# --- commands --------------------------------------------------------------------------------
def cli(home, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "yinxin.adapters.cli", *args],
        env=yinxin_env(home, extra=env),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_jobs_list_prints_a_job_a_line_however_long_its_result(platform) -> None:
    """`jobs list` printed a rich table that wrapped every cell at 80 columns when piped, so
    `yinxin jobs list | grep archive.renew` got a third of the row and calendar.check's
    warning took twenty lines; README says text output is one record a line, never wrapped,
    and a time is shown with its zone."""
    home = platform.settings.home
    ran = cli(home, "jobs", "run", "crl.root", "--json")
    assert ran.returncode == 0, ran.stderr
    listed = json.loads(cli(home, "jobs", "list", "--json").stdout)
    out = cli(home, "jobs", "list", env={"COLUMNS": "80"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [j["name"] for j in listed]
    (root,) = [line for line in lines if line.startswith("crl.root ")]
    last = listed[[j["name"] for j in listed].index("crl.root")]["last_run"]
    assert last["result"] in root and "done" in root and "UTC" in root
    assert "never" in next(line for line in lines if line.startswith("flows.expire "))


def test_jobs_list_run_and_runs_commands(platform) -> None:
    home = platform.settings.home
    out = cli(home, "jobs", "run", "crl.root", "--json")
    assert out.returncode == 0, out.stderr
    run = json.loads(out.stdout)
    assert run["state"] == "done" and run["period"].startswith("manual:")
    assert run["result"].startswith("CRL #")
    listed = json.loads(cli(home, "jobs", "list", "--json").stdout)
    by_name = {j["name"]: j for j in listed}
    assert by_name["crl.root"]["last_run"]["state"] == "done"
    assert (
        by_name["flows.expire"]["every"] == "minute" and by_name["flows.expire"]["last_run"] is None
    )
    assert by_name["archive.renew"]["every"] == "day"
    bad = cli(home, "jobs", "run", "no.such.job", "--json")
    assert bad.returncode == 2 and json.loads(bad.stdout)["field"] == "name"
    runs = json.loads(cli(home, "jobs", "runs", "--job", "crl.root", "--json").stdout)
    assert [r["period"] for r in runs] == [run["period"]]
    # a typo was "(none)", as if the job had never run
    typo = cli(home, "jobs", "runs", "--job", "crl.rot", "--json")
    assert typo.returncode == 2 and json.loads(typo.stdout)["field"] == "job"
    assert "crl.root" in json.loads(typo.stdout)["message"]


def test_a_crl_job_with_nothing_to_sign_warns_of_a_key_that_cannot_be_opened(platform) -> None:
    """``crl.issuing`` with the CRL still current signs nothing and opened no key: with the CA
    key damaged, missing or its passphrase wrong it said "done" every hour until the run that
    had to re-sign the CRL failed. It is done still (the CRL served is good) but its result,
    and the log, warn that the key cannot be opened and why; with the key right, no warning."""
    home = platform.settings.home
    key = home / "keys" / "issuing-ca.key.pem"

    def run_now(env: dict | None = None) -> subprocess.CompletedProcess:
        time.sleep(1.05)  # a manual run's period is its second: one run a second
        return cli(home, "jobs", "run", "crl.issuing", "--json", env=env)

    first = json.loads(run_now().stdout)
    assert first["state"] == "done" and "WARNING" not in first["result"], first
    good = key.read_bytes()
    for how, change, env in (
        ("damaged", lambda: key.write_bytes(good[:100]), None),
        ("missing", key.unlink, None),
        ("wrong passphrase", lambda: key.write_bytes(good), {"YINXIN_CA_PASSPHRASE": "x" * 20}),
    ):
        change()
        done = run_now(env)
        assert done.returncode == 0, (how, done.stdout, done.stderr)
        run = json.loads(done.stdout)
        assert run["state"] == "done" and run["result"].startswith(first["result"]), (how, run)
        assert "; WARNING the issuing CA key cannot be opened (" in run["result"], (how, run)
        assert "will fail" in run["result"] and "WARNING" in done.stderr, (how, done.stderr)
    again = json.loads(run_now().stdout)
    assert again["result"] == first["result"], again


def test_a_crl_jobs_key_warning_is_logged_once_until_its_reason_changes(
    make_platform, caplog
) -> None:
    """The CRL jobs' warning of a CA key that cannot be opened came in the log every hour for
    as long as the worker ran, one line a run; it is logged once now, as webhooks.deliver's
    blocked warning, and again only when the reason changes (the key damaged, then missing) —
    each run's result still says it. A run with the key right forgets it."""
    import logging

    from yinxin.jobs.registry import by_name

    first = make_platform()
    crl = by_name(default_jobs(first), "crl.issuing")
    assert "WARNING" not in crl.run(first)  # the CRL signed, the key right
    key = first.settings.home / "keys" / "issuing-ca.key.pem"
    good = key.read_bytes()
    key.write_bytes(good[:100])
    # a restart: this process has not opened the key yet
    p = make_platform(home=first.settings.home, url=first.settings.database_url)

    def logged() -> int:
        return sum(
            "the issuing CA key cannot be opened" in r.getMessage()
            for r in caplog.records
            if r.levelno == logging.WARNING
        )

    with caplog.at_level(logging.WARNING, logger="yinxin"):
        damaged = [crl.run(p) for _ in range(3)]
        assert all("; WARNING the issuing CA key cannot be opened (" in r for r in damaged)
        assert len(set(damaged)) == 1 and logged() == 1, (damaged, caplog.text)
        key.unlink()  # another reason: said again, once
        missing = [crl.run(p) for _ in range(2)]
        assert missing[0] == missing[1] != damaged[0], missing
        assert "WARNING" in missing[0] and logged() == 2, caplog.text
        key.write_bytes(good)
        assert "WARNING" not in crl.run(p) and logged() == 2, caplog.text


def test_worker_runs_the_jobs_until_sigterm(platform) -> None:
    home = platform.settings.home
    proc = subprocess.Popen(
        [sys.executable, "-m", "yinxin.adapters.cli", "worker", "--name", "w1", "--tick", "0.2"],
        env=yinxin_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    try:
        names = {j.name for j in default_jobs(platform)}
        end = time.monotonic() + 60
        while {n for n, v in last_runs(platform.db).items() if v.state == "done"} != names:
            assert time.monotonic() < end and proc.poll() is None, "the worker did not run them"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, output
    assert "SIGTERM: stopping" in output
    assert "job crl.issuing" in output and " done in " in output  # each run is logged
    assert {v.worker.rsplit(":", 1)[1] for v in last_runs(platform.db).values()} == {"w1"}


def test_calendar_check_warns_when_next_years_holidays_are_not_loaded(tmp_path) -> None:
    """From November, when the State Council publishes the next year's holidays, until the
    operator loads them: the desk's notices of that year would be provisional and working-day
    due dates would wait. The daily job says so in its result and the log; with the year loaded
    it only lists what is loaded. (2030 stands for a year no calendar package covers yet.)"""
    from yinxin.app import Platform
    from yinxin.clock import BEIJING, FrozenClock
    from yinxin.contracts.workdays import _official
    from yinxin.jobs.registry import by_name
    from yinxin.settings import Settings

    home = tmp_path / "home"
    clock = FrozenClock(dt.datetime(2030, 10, 31, 12, 0, tzinfo=BEIJING))

    def run() -> str:
        _official.cache_clear()  # read once per process: a restart
        p = Platform(Settings(home=home, database_url=f"sqlite:///{home / 'db'}"), clock=clock)
        try:
            return by_name(default_jobs(p), "calendar.check").run(p)
        finally:
            p.close()

    def year(y: int) -> None:
        (home / "calendars").mkdir(exist_ok=True)
        (home / "calendars" / f"{y}.json").write_text(
            f'{{"year": {y}, "source": "a test schedule", '
            f'"holidays": [{{"name": "元旦", "date": "{y}-01-01"}}], "workdays": []}}',
            encoding="utf-8",
        )

    home.mkdir()
    said = run()  # 2030 itself is not loaded: said in any month
    assert said.startswith("WARNING no official holiday calendar for 2030:")
    assert "<home>/calendars/2030.json" in said
    year(2030)
    assert run().startswith("official holiday calendars loaded: 2004–2030")  # October: quiet
    clock.set(dt.datetime(2030, 11, 1, 9, 0, tzinfo=BEIJING))
    assert run().startswith("WARNING no official holiday calendar for 2031:")
    year(2031)
    assert run() == "official holiday calendars loaded: 2004–2031"
    _official.cache_clear()


def test_a_long_host_or_worker_name_still_claims_its_runs(any_platform, monkeypatch) -> None:
    """``job_runs.worker`` holds 100 characters; ``host:pid:name`` past them (a long FQDN as
    cloud hosts have, ``yinxin worker --name`` with a long name) made every claim fail on
    PostgreSQL ("value too long for type character varying(100)"): the worker looped on
    errors and ran no job. The host part is shortened to fit; the pid and name are kept."""
    import socket

    host = "ip-10-200-31-117." + "compute-" * 10 + "internal"
    monkeypatch.setattr(socket, "gethostname", lambda: host)
    name = "w" * 50
    view = Runner(any_platform, name=name).run_now("jobs.prune")
    assert view is not None and view.state == RunState.DONE
    assert len(view.worker) <= 100 and view.worker.endswith(f":{os.getpid()}:{name}")
    assert view.worker.startswith("ip-10-200-31-117.")
    [row] = history(any_platform.db, job="jobs.prune")
    assert row.worker == view.worker


def test_worker_refuses_a_name_with_hidden_characters_or_too_long(platform) -> None:
    """``yinxin worker --name`` with ESC[8m went raw into every log line (hiding what
    followed on a terminal) and into job_runs; a name of 300 characters could not be stored.
    Both are refused naming --name, exit 2, before any job runs."""
    home = platform.settings.home
    for name in ("w\x1b[8m1", "x" * 51, "   ", "a b"):
        out = cli(home, "worker", "--name", name, "--tick", "100")
        assert out.returncode == 2, (name, out.stdout, out.stderr)
        assert "--name" in out.stderr or "name" in out.stderr, out.stderr
        assert "job runner" not in out.stderr
    assert history(platform.db) == []


def test_serve_and_an_unnamed_worker_label_their_runs_host_pid_name(platform) -> None:
    """jobs.md says a run's worker is ``host:pid:name``; ``serve``'s in-process jobs, and a
    ``yinxin worker`` started without --name, were ``host:pid:<a thread number>`` (e.g.
    ``vm:812:45120``) — nothing an operator reading ``yinxin jobs runs`` could tell apart from
    a pid. They are ``host:pid:serve`` and ``host:pid:worker`` now."""
    from tests.integration.server import running_server

    home = platform.settings.home
    with running_server(home, env={"YINXIN_SWEEP_SECONDS": "1"}) as srv:
        end = time.monotonic() + 60
        while "notify.outbox" not in last_runs(platform.db):
            assert time.monotonic() < end and srv.alive(), srv.log()
            time.sleep(0.2)
        pid = srv.proc.pid
    served = {v.worker for v in last_runs(platform.db).values()}
    assert served and all(w.endswith(f":{pid}:serve") for w in served), served
    proc = subprocess.Popen(
        [sys.executable, "-m", "yinxin.adapters.cli", "worker", "--tick", "0.2"],
        env=yinxin_env(home, extra={"YINXIN_SWEEP_SECONDS": "1"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    try:
        end = time.monotonic() + 60
        while not any(
            v.worker.endswith(f":{proc.pid}:worker") for v in last_runs(platform.db).values()
        ):
            assert time.monotonic() < end and proc.poll() is None, "the worker ran no job"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, output
    assert f":{proc.pid}:worker:" in output or f":{proc.pid}:worker " in output, output


@pytest.mark.parametrize("command", [["worker", "--tick", "0.2"], ["serve", "--port", "0"]])
def test_serve_or_worker_on_a_home_with_no_ca_is_refused_leaving_nothing(tmp_path, command) -> None:
    """``yinxin serve`` on a data directory where ``yinxin init`` never ran was refused (exit
    3, "run `yinxin init`") but left the folder and an empty ``yinxin.db`` behind — a
    mistyped YINXIN_HOME in a unit file made a data directory the next ``yinxin init`` had not
    made. ``yinxin worker`` started there — a unit enabled before the set-up, that typo — ran
    on regardless, against the empty database, the real one's jobs not running, failing
    crl.issuing, crl.root (three tries an hour each) and archive.renew every day at ERROR for
    as long as it ran. Both are refused now, the same way, before any job runs, making
    nothing."""
    home = tmp_path / "typo"
    out = subprocess.run(
        [sys.executable, "-m", "yinxin.adapters.cli", *command],
        env=yinxin_env(home, extra={"YINXIN_SWEEP_SECONDS": "1"}),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
    )
    assert out.returncode == 3, out
    assert "[home]" in out.stderr and "yinxin init" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and "job runner" not in out.stderr
    assert not home.exists(), sorted(p.name for p in home.iterdir())


def test_a_quick_job_is_logged_with_its_own_time_and_does_not_hold_the_runner(
    platform, caplog
) -> None:
    """Every run was logged ``done in 0.10 s`` — a job returning at once too — and took the
    runner that long: the time counted the lease's heartbeat thread winding down, which looked
    at its stop flag every 0.1 s. Twenty jobs an hour spent two seconds so (a test server's
    one-second sweep, 0.7 s of each second), and the log said nothing of the jobs' own time.
    The time is the job's now, and the heartbeat stops within a few milliseconds."""
    import logging

    quick = [Job(f"quick.{i}", MINUTE, "returns at once", lambda p: "ok") for i in range(5)]
    runner = Runner(platform, quick, name="q")
    with caplog.at_level(logging.INFO, logger="yinxin.jobs"):
        started = time.monotonic()
        views = runner.tick()
        took = time.monotonic() - started
    assert [v.state for v in views] == [RunState.DONE] * 5
    said = [r.getMessage() for r in caplog.records if " done in " in r.getMessage()]
    assert len(said) == 5 and all(" done in 0.00 s: ok" in m for m in said), said
    assert took < 0.4, took  # five runs, each a claim and a finish: no 0.1 s wait each
