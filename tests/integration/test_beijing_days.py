"""Days are Beijing days: our users live in UTC+8, where between 16:00 and 24:00 UTC it is
already the next calendar day. A certificate ending at 17:00 UTC ends on the next day in
Beijing; the notices, the CLI's "valid to" and the "剩余 N 天" said the UTC day before, and
counted whole 24-hour spans, not calendar days. Stored times stay instants in UTC.

Every test here makes the instants fall between 16:00 and 24:00 UTC (the clock moved to the
next 17:00 UTC from the real now, never a date written into the test; ``faketime`` for the
host's own clock), so the UTC day and the Beijing day differ and each assertion can fail."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import cli_env
from tests.integration.test_ca_lifecycle import enrol, issue
from tests.integration.test_notices import outbox, sent_rows
from yinxin.adapters.cli import app as cli_app
from yinxin.app import Platform
from yinxin.clock import BEIJING, FrozenClock, beijing_day, days_until
from yinxin.identity import id_card_check_char

ROOT = Path(__file__).resolve().parents[2]


def at_next_17_utc(clock: FrozenClock) -> dt.datetime:
    """Move ``clock`` to the next 17:00 UTC (01:00 the next day in Beijing), under a day on."""
    now = clock.now()
    t = now.replace(hour=17, minute=0, second=0)
    clock.set(t if t > now else t + dt.timedelta(days=1))
    return clock.now()


def beijing_midnight(day: dt.date) -> dt.datetime:
    """00:00 of ``day`` in Beijing, as the UTC instant 16:00 of the day before."""
    return dt.datetime.combine(day, dt.time(), BEIJING).astimezone(dt.UTC)


def utc_day_differs(t: dt.datetime) -> None:
    """The precondition that lets the test fail: ``t`` is on the next day in Beijing."""
    assert t.astimezone(dt.UTC).hour >= 16 and beijing_day(t) != t.astimezone(dt.UTC).date(), t


def test_the_helpers_count_beijing_calendar_days() -> None:
    late = dt.datetime(2026, 3, 31, 16, 30, tzinfo=dt.UTC)  # 04-01 00:30 in Beijing
    just_before = dt.datetime(2026, 3, 31, 15, 59, 59, tzinfo=dt.UTC)  # 03-31 23:59:59
    end = dt.datetime(2026, 4, 30, 17, 0, tzinfo=dt.UTC)  # 05-01 01:00
    assert beijing_day(late) == dt.date(2026, 4, 1)
    assert beijing_day(just_before) == dt.date(2026, 3, 31)
    assert beijing_day(end) == dt.date(2026, 5, 1)
    assert beijing_day(end.replace(tzinfo=None)) == dt.date(2026, 5, 1)  # stored: UTC
    assert days_until(late, end) == 30
    assert days_until(just_before, end) == 31  # (end - just_before).days was 30
    assert days_until(end - dt.timedelta(hours=1), end) == 0  # 05-01 00:00: the same day
    assert days_until(end, late) == 0  # past: never negative


def test_renewal_and_payment_notices_give_the_beijing_day_and_count(
    platform: Platform, clock: FrozenClock
) -> None:
    """A certificate ending at 17:00 UTC: the renewal notice said "将于 <UTC day> 到期（剩余
    30 天）" at 23:59:59 Beijing time 31 days before its Beijing last day; now that day and 31."""
    p = platform
    at_next_17_utc(clock)
    subs = enrol(p)
    cert = issue(p, subs.person.id)
    due = issue(p, subs.person.id, years=1, validity_years=3)  # paid for one year of three
    utc_day_differs(cert.not_after)
    end_day = beijing_day(cert.not_after)
    # 23:59:59 in Beijing, 31 calendar days before the last day (15:59:59 UTC)
    clock.set(beijing_midnight(end_day - dt.timedelta(days=30)) - dt.timedelta(seconds=1))
    assert days_until(clock.now(), cert.not_after) == 31
    assert (cert.not_after - clock.now()).days == 30  # what was said
    sent = p.notices.send_renewal_notices(32)
    assert cert.serial in [s.serial for s in sent]
    [row] = [r for r in sent_rows(p, "certificate_expiring") if cert.serial in r.body]
    assert f"将于 {end_day.isoformat()} 到期（剩余 31 天）" in row.body, row.body
    # the payment reminder: paid to 17:00 UTC, 5 Beijing days ahead at 00:30 Beijing time
    assert due.paid_until is not None
    utc_day_differs(due.paid_until)
    paid_day = beijing_day(due.paid_until)
    clock.set(beijing_midnight(paid_day - dt.timedelta(days=5)) - dt.timedelta(seconds=1))
    assert (due.paid_until - clock.now()).days == 5  # what was said
    [r] = p.notices.send_payment_reminders(7)
    assert (r.serial, r.paid_until) == (due.serial, paid_day.isoformat())
    [row] = sent_rows(p, "certificate_payment_due")
    assert f"服务费已缴至 {paid_day.isoformat()}（剩余 6 天）" in row.body, row.body
    assert outbox(p)[-1]["body"] == row.body
    # the certificate's own expiry notice names the Beijing day too
    clock.set(cert.not_after + dt.timedelta(minutes=1))
    assert cert.serial in p.certificates.expire_due()
    [row] = [r for r in sent_rows(p, "certificate_expired") if cert.serial in r.body]
    assert end_day.isoformat() in row.body and str(cert.not_after.date()) not in row.body


def test_a_payment_reminder_sent_with_the_utc_day_is_not_sent_again(
    platform: Platform, clock: FrozenClock
) -> None:
    """The send log is how a reminder goes once per paid period, matched by its paid_until
    day. One written before days were Beijing days carries the UTC day: it still counts, or
    every holder paid to 16:00–24:00 UTC was reminded a second time after the upgrade."""
    from sqlalchemy import select

    from yinxin.store.models.notify import Notification

    p = platform
    at_next_17_utc(clock)
    due = issue(p, enrol(p).person.id, years=1, validity_years=3)
    assert due.paid_until is not None
    utc_day_differs(due.paid_until)
    clock.set(due.paid_until - dt.timedelta(days=5))
    [r] = p.notices.send_payment_reminders(7)
    utc_day = due.paid_until.astimezone(dt.UTC).date().isoformat()
    with p.db.transaction() as s:  # as the earlier version wrote it
        row = s.scalars(select(Notification).where(Notification.id == r.notification_id)).one()
        values = json.loads(row.values_json)
        assert values["paid_until"] == beijing_day(due.paid_until).isoformat()
        row.values_json = json.dumps({**values, "paid_until": utc_day}, ensure_ascii=False)
    clock.advance(days=1)
    assert p.notices.send_payment_reminders(7) == []
    assert len(sent_rows(p, "certificate_payment_due")) == 1


def test_cert_lines_say_valid_to_the_beijing_day(platform: Platform, clock: FrozenClock) -> None:
    p = platform
    at_next_17_utc(clock)
    cert = issue(p, enrol(p).person.id)
    utc_day_differs(cert.not_after)
    res = CliRunner().invoke(cli_app, ["cert", "expiring", "--days", "3650"], env=cli_env(p))
    assert res.exit_code == 0, res.output
    (line,) = res.stdout.splitlines()
    assert line.endswith(f"valid to {beijing_day(cert.not_after)} (Beijing)"), line


def test_seal_notices_and_listing_give_the_beijing_day(
    platform: Platform, clock: FrozenClock
) -> None:
    """A seal capped at its certificate's end (17:00 UTC): "有效期至" on renewal, "已于 … 到期"
    on expiry and ``seal list``'s "valid to" said the UTC day before its holder's last day."""
    from tests.integration.test_seals import ZHANG, form, personal_seal, world

    p = platform
    at_next_17_utc(clock)
    w = world(p)
    mine = personal_seal(w, years=3)  # capped: ends with the certificate, at 17:00 UTC
    utc_day_differs(mine.valid_end)
    end = beijing_day(mine.valid_end).isoformat()
    res = CliRunner().invoke(cli_app, ["seal", "list"], env=cli_env(p))
    assert res.exit_code == 0, res.output
    assert f"valid to {end} (Beijing)" in res.stdout, res.stdout
    # renewed onto a renewed certificate: still ending at 17:00 UTC
    clock.advance(days=300)
    p.certificates.pay(serial=w.zhang_cert.serial, years=1)
    renewed_cert = p.certificates.renew(w.zhang_cert.serial, actor="受理员 陈静").certificate
    renewed = w.seals.apply(
        seal=mine.id, certificate_serial=renewed_cert.serial, **form(ZHANG, "renew")
    )
    utc_day_differs(renewed.valid_end)
    [told] = [
        r for r in p.notifier.log(subscriber_id=w.zhang.id) if r.template_id == "seal_changed"
    ]
    assert f"有效期至 {beijing_day(renewed.valid_end).isoformat()}" in told.body, told.body
    clock.set(renewed.valid_end + dt.timedelta(minutes=1))
    assert w.seals.expire_due() == [mine.es_id]
    [told] = [
        r for r in p.notifier.log(subscriber_id=w.zhang.id) if r.template_id == "seal_expired"
    ]
    assert f"已于 {beijing_day(renewed.valid_end).isoformat()} 到期" in told.body, told.body


def _born_today_in_beijing(utc: str) -> subprocess.CompletedProcess:
    """``validate_id_card`` for a baby born on 2026-04-01, in a process whose own clock (the
    host's, in UTC) says ``utc``."""
    body = "11010520260401123"
    number = body + id_card_check_char(body)
    code = f"from yinxin.identity import validate_id_card as v; print(v({number!r}))"
    env = {k: v for k, v in os.environ.items() if k not in ("FAKETIME", "LD_PRELOAD")}
    env |= {"TZ": "UTC", "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        ["faketime", "-f", f"@{utc}", sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(not shutil.which("faketime"), reason="needs libfaketime")
def test_a_baby_born_today_in_beijing_has_a_valid_id_number_on_a_utc_host() -> None:
    """The birth date's "not in the future" was the host's local day: a server in UTC refused
    a baby born today in Beijing from 00:00 to 08:00 Beijing time."""
    got = _born_today_in_beijing("2026-03-31 16:30:00")  # 04-01 00:30 in Beijing
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip().startswith("11010520260401123")
    got = _born_today_in_beijing("2026-03-31 15:59:59")  # 03-31 23:59:59 in Beijing
    assert got.returncode != 0 and "date of birth is out of range" in got.stderr


@pytest.mark.skipif(not shutil.which("node"), reason="needs node")
def test_the_web_id_check_takes_the_beijing_day() -> None:
    """The form's check compared the birth day's UTC midnight with the browser's now: at 00:30
    Beijing time it refused a baby born that day, "出生日期超出范围", before the API was asked."""
    body = "11010520260401123"
    number = body + id_card_check_char(body)
    page = ROOT / "src/yinxin/adapters/web/static/pages/idcheck.js"
    script = (
        f"import {{ checkIdCard }} from {json.dumps(page.as_uri())};\n"
        "const at = (t) => checkIdCard(" + json.dumps(number) + ", { today: new Date(t) });\n"
        'console.log(JSON.stringify([at("2026-03-31T16:30:00Z"), at("2026-03-31T15:59:59Z")]));'
    )
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TZ": "UTC"},
        check=True,
    )
    assert json.loads(out.stdout) == [None, "身份证号码中的出生日期超出范围"]
