"""Certificate notices reach the holder's phone through the real file gateway and send log."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_ca_lifecycle import enrol, issue, make_csr
from yinxin.app import Platform
from yinxin.clock import beijing_day
from yinxin.errors import ValidationError


def outbox(p: Platform) -> list[dict]:
    path = p.settings.home / "outbox" / "sms.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_issue_freeze_revoke_send_notices_to_the_holder(any_platform: Platform) -> None:
    p = any_platform
    subs = enrol(p)
    cert = issue(p, subs.person.id)
    msgs = outbox(p)
    assert len(msgs) == 2 and {m["to"] for m in msgs} == {"13800130000"}
    assert "已受理" in msgs[0]["body"]
    assert "已签发" in msgs[1]["body"] and cert.serial in msgs[1]["body"]
    p.certificates.freeze(cert.serial, actor="张三")
    assert "冻结" in outbox(p)[-1]["body"]
    p.certificates.unfreeze(cert.serial, actor="ra")  # a release is told too
    assert len(outbox(p)) == 4 and "已于" in outbox(p)[-1]["body"]
    assert "解冻，恢复正常使用" in outbox(p)[-1]["body"]
    p.certificates.revoke(cert.serial, reason="key_compromise", actor="张三")
    last = outbox(p)[-1]["body"]
    assert "撤销" in last and "私钥被泄密" in last
    log = p.notifier.log(subscriber_id=subs.person.id)
    assert sorted(r.template_id for r in log) == [
        "application_received",
        "certificate_frozen",
        "certificate_issued",
        "certificate_released",
        "certificate_revoked",
    ]
    assert {r.status for r in log} == {"sent"}
    assert p.verify_audit().ok


def test_the_applicant_hears_that_the_application_was_received(platform: Platform) -> None:
    """MISSION §7 names the scenario and the template (application_received) existed, but an
    application was received in silence: the applicant heard nothing until the certificate was
    issued. A device's application is told to its organization; none is sent on a refusal."""
    p = platform
    subs = enrol(p)
    app = p.certificates.apply(
        subscriber_id=subs.person.id, profile="person-signing", csr=make_csr()
    )
    [msg] = outbox(p)
    assert msg["to"] == "13800130000"
    assert f"受理号 {app.id}" in msg["body"] and "已受理" in msg["body"]
    [row] = p.notifier.log(subscriber_id=subs.person.id)
    assert (row.template_id, row.status) == ("application_received", "sent")
    p.certificates.apply(
        subscriber_id=subs.device.id,
        profile="device-tls",
        csr=make_csr(),
        dns_names=["gw.example.cn"],
    )
    assert outbox(p)[-1]["to"] == "13900139000" and "门禁网关-0" in outbox(p)[-1]["body"]
    with pytest.raises(ValidationError):  # refused: nothing received, nothing said
        p.certificates.apply(subscriber_id=subs.person.id, profile="device-tls", csr=make_csr())
    assert len(outbox(p)) == 2


def test_a_rejected_applicant_is_told_why(platform: Platform) -> None:
    """The received notice says "审核完成后将另行通知", but a rejection — with the officer's
    reason — was told to nobody: the applicant learnt of it only by asking."""
    p = platform
    subs = enrol(p)
    app = p.certificates.apply(
        subscriber_id=subs.person.id, profile="person-signing", csr=make_csr()
    )
    p.certificates.reject(app.id, officer="受理员 陈静", reason="身份证复印件不清晰")
    msg = outbox(p)[-1]
    assert msg["to"] == "13800130000" and len(outbox(p)) == 2
    assert f"受理号 {app.id}" in msg["body"] and "未通过审核" in msg["body"]
    assert "身份证复印件不清晰" in msg["body"]
    log = p.notifier.log(subscriber_id=subs.person.id)
    assert [(r.template_id, r.status) for r in log][0] == ("application_rejected", "sent")
    assert p.verify_audit().ok


def test_a_device_certificate_notice_goes_to_its_organization(platform: Platform) -> None:
    p = platform
    subs = enrol(p)
    issue(p, subs.device.id, "device-tls", csr=make_csr(), dns_names=["gw.example.cn"])
    assert outbox(p)[-1]["to"] == "13900139000"
    assert "门禁网关-0" in outbox(p)[-1]["body"]


def test_renewal_notices_once_per_period(platform: Platform, clock) -> None:
    p = platform
    subs = enrol(p)
    cert = issue(p, subs.person.id)
    before = len(outbox(p))
    assert p.notices.send_renewal_notices(30) == []  # a year to go: nothing due
    clock.advance(days=340)
    sent = p.notices.send_renewal_notices(30)
    assert [s.serial for s in sent] == [cert.serial]
    body = outbox(p)[-1]["body"]
    assert "到期" in body and cert.serial in body
    assert p.notices.send_renewal_notices(30) == []  # not again within a week
    clock.advance(days=8)
    assert [s.serial for s in p.notices.send_renewal_notices(30)] == [cert.serial]
    assert len(outbox(p)) == before + 2
    # a window past year 9999 is refused by name, before anything is read or sent
    for days, repeat, field in (
        (3_000_000, 7, "days"),
        (-1, 7, "days"),
        (30, 10**6, "repeat_after"),
    ):
        with pytest.raises(ValidationError) as e:
            p.notices.send_renewal_notices(days, repeat)
        assert e.value.field == field
    with pytest.raises(ValidationError, match="from 0 to 3650"):
        p.certificates.expiring(3651)
    assert [c.serial for c in p.certificates.expiring(3650)] == [cert.serial]
    assert len(outbox(p)) == before + 2


def test_a_renewed_certificate_gets_no_renewal_notice(platform: Platform, clock) -> None:
    """Renewed, the old certificate stays active until its own end but cannot be renewed again:
    "please renew" (and ``cert expiring``) named it each week until then, asking for a renewal
    already done. The renewal is the one that will be due."""
    p = platform
    old = issue(p, enrol(p).person.id)
    clock.advance(days=340)
    p.certificates.pay(serial=old.serial, years=1)
    new = p.certificates.renew(old.serial, actor="张三").certificate
    assert p.certificates.get(old.serial).status == "active"
    assert p.certificates.expiring(30) == []
    before = len(outbox(p))
    assert p.notices.send_renewal_notices(30) == []
    assert len(outbox(p)) == before
    clock.advance(days=360)  # the renewal's own end draws near: it is the one due
    assert [c.serial for c in p.certificates.expiring(30)] == [new.serial]


def test_a_certificate_stopped_for_unpaid_fees_says_so(platform: Platform, clock) -> None:
    """Stopped for unpaid fees, the holder was told only "已冻结 … 如非本人操作，请立即联系我们"
    — the freeze notice —, not that the year's fee was due nor what to do."""
    p = platform
    cert = issue(p, enrol(p).person.id, years=1, validity_years=2)
    clock.advance(days=366)
    assert p.certificates.suspend_unpaid() == [cert.serial]
    body = outbox(p)[-1]["body"]
    assert "服务费已缴至" in body and beijing_day(cert.paid_until).isoformat() in body
    assert "停止服务" in body and "缴纳续费" in body and "如非本人操作" not in body
    [row] = [r for r in p.notifier.log() if r.template_id == "certificate_unpaid"]
    assert row.status == "sent"


def test_a_subscriber_without_a_phone_does_not_stop_issuance(platform: Platform) -> None:
    p = platform
    subs = enrol(p)
    org = p.subscribers.add_organization(
        name="无手机号码的机构",
        uscc="91350100M000100Y43",
        legal_representative="李四",
        contact_name="王五",
        contact_phone="0591-87760022",
        email="ops@example.cn",  # no mobile: notices go by e-mail
    )
    p.subscribers.accept_agreement(org.id, accepted_by="王五")
    cert = issue(p, org.id, "organization-signing")
    assert cert.status == "active"
    assert all(cert.serial not in m["body"] for m in outbox(p))
    assert subs.person.id


class Crash(BaseException):
    """The process dies right after the commit (kill -9 between commit and send)."""


def test_a_revocation_notice_survives_a_crash_between_commit_and_send(
    any_platform: Platform, monkeypatch
) -> None:
    from sqlalchemy import select

    from yinxin.store.models.notify import Notification

    p = any_platform
    subs = enrol(p)
    cert = issue(p, subs.person.id)
    sent_before = len(outbox(p))

    def die(_serial: str) -> None:
        raise Crash

    monkeypatch.setattr(p.certificates, "_notify", die)
    try:
        p.certificates.revoke(cert.serial, reason="key_compromise", actor="张三")
    except Crash:
        pass
    monkeypatch.undo()
    assert p.certificates.get(cert.serial).status == "revoked"
    assert len(outbox(p)) == sent_before  # nothing was sent…
    with p.db.read() as s:  # …but the notice committed with the revocation
        rows = (
            s.execute(select(Notification).where(Notification.template_id == "certificate_revoked"))
            .scalars()
            .all()
        )
    assert [(r.status, r.attempts) for r in rows] == [("pending", 0)]
    # the scheduled retry (yinxin notify retry) sends it, once
    done = p.notifier.retry_failed()
    assert [(r.template_id, r.status) for r in done] == [("certificate_revoked", "sent")]
    assert "撤销" in outbox(p)[-1]["body"] and len(outbox(p)) == sent_before + 1
    assert p.notifier.retry_failed() == []


def test_a_failed_change_writes_no_notice(platform: Platform, monkeypatch) -> None:
    """The notice row is part of the change's transaction: no change, no notice."""
    from yinxin.store import audit

    p = platform
    subs = enrol(p)
    cert = issue(p, subs.person.id)
    logged = len(p.notifier.log())
    real = audit.record

    def fail_on_revoke(s, **kw):
        if kw.get("action") == "certificate.revoke":
            raise RuntimeError("database went away")
        return real(s, **kw)

    monkeypatch.setattr(audit, "record", fail_on_revoke)
    try:
        p.certificates.revoke(cert.serial, reason="key_compromise", actor="张三")
    except RuntimeError:
        pass
    monkeypatch.undo()
    assert p.certificates.get(cert.serial).status == "active"
    assert len(p.notifier.log()) == logged


def test_yinxin_notify_retry_sends_what_a_crash_left_pending(
    platform: Platform, monkeypatch
) -> None:
    from typer.testing import CliRunner

    from tests.conftest import cli_env
    from yinxin.adapters.cli import app

    p = platform
    subs = enrol(p)
    cert = issue(p, subs.person.id)

    def die(_serial: str) -> None:
        raise Crash

    monkeypatch.setattr(p.certificates, "_notify", die)
    try:
        p.certificates.freeze(cert.serial, actor="张三")
    except Crash:
        pass
    monkeypatch.undo()
    env = cli_env(p)
    pending = CliRunner().invoke(app, ["notify", "log", "--status", "pending", "--json"], env=env)
    assert [r["template_id"] for r in json.loads(pending.stdout)] == ["certificate_frozen"]
    res = CliRunner().invoke(app, ["notify", "retry", "--json"], env=env)
    assert res.exit_code == 0, res.output
    assert [r["status"] for r in json.loads(res.stdout)["sent"]] == ["sent"]
    assert "冻结" in outbox(p)[-1]["body"]


def sent_rows(p: Platform, template: str) -> list:
    """The send log's rows (the outbox table itself) of one template, oldest first."""
    from sqlalchemy import select

    from yinxin.store.models.notify import Notification

    with p.db.read() as s:
        q = select(Notification).where(Notification.template_id == template)
        rows = s.execute(q.order_by(Notification.id)).scalars().all()
        s.expunge_all()
        return rows


def test_release_restore_and_expiry_are_told_to_the_holder(platform: Platform, clock) -> None:
    """Seeds 000/001 have the CA tell the subscriber of every change of its certificate's
    status, but a release (解冻), a withdrawn loss report (解除挂失) and an expiry were made in
    silence: the holder heard "冻结"/"挂失" and then nothing, and learnt of the expiry by a
    failed signature. Each is now a notice written in the change's transaction."""
    p = platform
    subs = enrol(p)
    cert = issue(p, subs.person.id)
    p.certificates.freeze(cert.serial, actor="张三")
    p.certificates.unfreeze(cert.serial, actor="受理员 陈静")
    [released] = sent_rows(p, "certificate_released")
    assert released.status == "sent" and released.recipient == "13800130000"
    assert cert.serial in released.body and "解冻，恢复正常使用" in released.body
    # a loss report withdrawn: usable again
    p.certificates.report_loss(cert.serial, actor="张三")
    p.certificates.restore(cert.serial, actor="张三")
    [restored] = sent_rows(p, "certificate_restored")
    assert "解除挂失，证书恢复正常使用" in restored.body and cert.serial in restored.body
    assert outbox(p)[-1]["body"] == restored.body
    # a loss reported over a freeze and withdrawn: back on that freeze, and the notice says so
    p.certificates.freeze(cert.serial, actor="张三")
    p.certificates.report_loss(cert.serial, actor="张三")
    p.certificates.restore(cert.serial, actor="张三")
    assert p.certificates.get(cert.serial).hold_kind == "frozen"
    last = sent_rows(p, "certificate_restored")[-1]
    assert "解除挂失，但证书仍处于挂失前的冻结状态，解冻后方可使用" in last.body
    assert "恢复正常使用" not in last.body
    # the expiry job's sweep: expired, and told with the end date
    clock.advance(days=366)
    assert p.certificates.expire_due() == [cert.serial]
    [expired] = sent_rows(p, "certificate_expired")
    assert expired.status == "sent" and expired.recipient == "13800130000"
    assert f"已于 {beijing_day(cert.not_after).isoformat()} 到期失效" in expired.body
    assert json.loads(expired.values_json)["serial"] == cert.serial
    assert p.certificates.expire_due() == [] and len(sent_rows(p, "certificate_expired")) == 1
    assert p.verify_audit().ok


def test_a_refused_release_writes_no_notice(platform: Platform, clock) -> None:
    """Stopped for unpaid fees and not paid, the release is refused: no "解冻" notice."""
    from yinxin.errors import Forbidden

    p = platform
    cert = issue(p, enrol(p).person.id, years=1, validity_years=2)
    clock.advance(days=366)
    p.certificates.suspend_unpaid()
    sent = len(outbox(p))
    with pytest.raises(Forbidden):
        p.certificates.unfreeze(cert.serial, actor="受理员 陈静")
    assert sent_rows(p, "certificate_released") == [] and len(outbox(p)) == sent
    p.certificates.pay(serial=cert.serial, years=1)
    p.certificates.unfreeze(cert.serial, actor="受理员 陈静")
    assert len(sent_rows(p, "certificate_released")) == 1


def test_a_renewed_certificate_expires_without_a_notice(platform: Platform, clock) -> None:
    """The renewal goes on: "已到期失效，请重新申请" about the certificate it renewed would
    send the holder to apply for what they have."""
    p = platform
    old = issue(p, enrol(p).person.id)
    clock.advance(days=340)
    p.certificates.pay(serial=old.serial, years=1)
    new = p.certificates.renew(old.serial, actor="张三").certificate
    clock.advance(days=30)
    assert p.certificates.expire_due() == [old.serial]
    assert sent_rows(p, "certificate_expired") == []
    clock.advance(days=366)
    assert p.certificates.expire_due() == [new.serial]
    [row] = sent_rows(p, "certificate_expired")
    assert new.serial in row.body


def test_a_payment_reminder_goes_once_per_paid_period(any_platform: Platform, clock) -> None:
    """000 篇七 stops a certificate whose fee is unpaid, and the holder heard of it only when it
    was stopped. Now a reminder goes out 7 days before (once per certificate and paid period:
    not on every run), not for one paid ahead, renewed, revoked or expiring first."""
    p = any_platform
    subs = enrol(p)
    due = issue(p, subs.person.id, years=1, validity_years=3)  # paid for one year of three
    issue(p, subs.person.id, years=1)  # paid to its end: it expires, it is never stopped
    revoked = issue(p, subs.person.id, years=1, validity_years=2)
    p.certificates.revoke(revoked.serial, reason="no_longer_needed", actor="张三")
    ahead = issue(p, subs.person.id, years=1, validity_years=2)
    p.certificates.pay(serial=ahead.serial, years=1)  # paid ahead: not due this year
    assert p.notices.send_payment_reminders(7) == []  # a year to go
    clock.advance(days=360)  # five days before the paid year ends
    [r] = p.notices.send_payment_reminders(7)
    paid_until = beijing_day(due.paid_until).isoformat()
    assert (r.serial, r.paid_until) == (due.serial, paid_until)
    [row] = sent_rows(p, "certificate_payment_due")
    assert (row.status, row.recipient, row.subscriber_id) == ("sent", "13800130000", subs.person.id)
    assert f"服务费已缴至 {paid_until}（剩余 5 天）" in row.body and due.serial in row.body
    assert "逾期未缴证书将停止服务" in row.body
    assert outbox(p)[-1]["body"] == row.body
    # again, the next day and on the last day: once per paid period
    assert p.notices.send_payment_reminders(7) == []
    clock.advance(days=4)
    assert p.notices.send_payment_reminders(7) == []
    assert len(sent_rows(p, "certificate_payment_due")) == 1
    # paid: the next period's end is reminded in turn, 7 days before it
    p.certificates.pay(serial=due.serial, years=1)
    assert p.notices.send_payment_reminders(7) == []
    clock.advance(days=357)  # nine days before the second year ends: not yet
    assert p.notices.send_payment_reminders(7) == []
    clock.advance(days=4)
    [r2] = p.notices.send_payment_reminders(7)
    assert r2.serial == due.serial and r2.paid_until != paid_until
    assert len(sent_rows(p, "certificate_payment_due")) == 2
    # a window past year 9999 or negative is refused by name, nothing written
    for bad in (-1, 3651):
        with pytest.raises(ValidationError) as e:
            p.notices.send_payment_reminders(bad)
        assert e.value.field == "before_days"
    assert p.notices.send_payment_reminders(0) == []  # 0: none
    assert p.verify_audit().ok


def test_a_payment_reminder_is_not_sent_for_a_renewed_certificate(
    platform: Platform, clock
) -> None:
    p = platform
    old = issue(p, enrol(p).person.id, years=2, validity_years=2)
    clock.advance(days=340)
    p.certificates.pay(serial=old.serial, years=1)  # paid to three years
    p.certificates.renew(old.serial, actor="张三")
    clock.advance(days=20 + 365 * 2)  # 5 days before the renewal's paid_until
    assert p.certificates.payment_due(7) == []  # the renewal is paid to its own end
    assert p.notices.send_payment_reminders(7) == []


def test_a_notice_no_one_can_receive_is_audited_for_the_desk(platform: Platform, clock) -> None:
    """An organization from a database before ``no_contact`` has neither a mobile number nor an
    e-mail: its notices and its device's (they go to it) were skipped with an info log line
    alone, which the desk never sees. Each is audited now, ``notice.skipped`` on the trail of
    the certificate or application it was about, naming the subscriber it was for; the daily
    renewal and payment runs audit a skip once, as they send a notice once."""
    from sqlalchemy import update

    from yinxin.store.models import Subscriber

    p = platform
    subs = enrol(p)
    with p.db.transaction() as s:  # as an old database holds it: registration refuses it now
        q = update(Subscriber).where(Subscriber.id == subs.org.id)
        s.execute(q.values(phone=None, email=None))
    assert p.subscribers.get(subs.device.id).reachable is False
    gw = ["gw.example.cn"]
    due = issue(p, subs.device.id, "device-tls", dns_names=gw, years=1, validity_years=3)
    ends = issue(p, subs.device.id, "device-tls", dns_names=gw, years=1)
    assert outbox(p) == [] and p.notifier.log(subscriber_id=subs.org.id) == []

    def skipped() -> list[tuple[str, str, str]]:
        evs = p.audit_events(action="notice.skipped")
        for ev in evs:
            assert ev.actor == "system" and ev.data["subscriber_id"] == subs.org.id, ev
            assert f"subscriber {subs.org.id} has no registered" in ev.data["reason"], ev
        return [(ev.subject_type, ev.subject_id, ev.data["template"]) for ev in evs]

    got = skipped()
    assert [(kind, template) for kind, _, template in got] == [
        ("application", "application_received"),
        ("certificate", "certificate_issued"),
    ] * 2
    assert [got[1][1], got[3][1]] == [due.serial, ends.serial]
    clock.advance(days=360)  # five days before `ends` expires and `due`'s paid year ends
    assert p.notices.send_renewal_notices() == []
    assert p.notices.send_payment_reminders(7) == []
    [renewal, payment] = skipped()[4:]
    assert renewal == ("certificate", ends.serial, "certificate_expiring")
    assert payment == ("certificate", due.serial, "certificate_payment_due")
    paid = p.audit_events(action="notice.skipped")[-1].data["paid_until"]
    assert paid == beijing_day(due.paid_until).isoformat()
    # the next day's runs: not audited again (a renewal notice repeats after 7 days, as sent)
    clock.advance(days=1)
    assert p.notices.send_renewal_notices() == []
    assert p.notices.send_payment_reminders(7) == []
    assert len(skipped()) == 6
    p.certificates.revoke(due.serial, reason="no_longer_needed", actor="ra")
    assert skipped()[6:] == [("certificate", due.serial, "certificate_revoked")]
    assert outbox(p) == [] and p.verify_audit().ok


def test_a_notice_gives_its_time_in_beijing_time_as_a_person_reads_it(
    any_platform: Platform,
) -> None:
    """The SMS that told a holder of a freeze or a revocation gave the moment as raw ISO in UTC
    (``已于 2026-12-05T20:34:04.123456+00:00 冻结``: eight hours off read as Beijing time, and a
    form no person writes), where a signer's notice gives the deadline as ``2026-12-08 18:00``
    in Beijing time. Every notice's time is Beijing time to the minute now, and the English
    wordings say so."""
    import datetime as dt
    import re

    from yinxin.clock import BEIJING
    from yinxin.notify.templates import DEFAULT_TEMPLATES

    p = any_platform
    subs = enrol(p)
    cert = issue(p, subs.person.id)
    for act, word in [
        (lambda: p.certificates.freeze(cert.serial, actor="张三"), "冻结"),
        (lambda: p.certificates.unfreeze(cert.serial, actor="ra"), "解冻"),
        (lambda: p.certificates.revoke(cert.serial, reason="superseded", actor="ra"), "撤销"),
    ]:
        before = p.clock.now().astimezone(BEIJING).replace(second=0, microsecond=0)
        act()
        after = p.clock.now().astimezone(BEIJING)
        body = outbox(p)[-1]["body"]
        m = re.search(rf"已于 (\d{{4}}-\d\d-\d\d \d\d:\d\d) {word}", body)
        assert m, body
        said = dt.datetime.strptime(m[1], "%Y-%m-%d %H:%M").replace(tzinfo=BEIJING)
        assert before <= said <= after, (body, before, after)
    for template in DEFAULT_TEMPLATES:
        for text in (template.en.body, template.en.html or "") if template.en else ():
            for name in ("{at}", "{deadline}"):
                if name in text:
                    said = (f"{name} (Beijing time)", f"{name}, Beijing time")
                    assert any(x in text for x in said), (template.id, text)
