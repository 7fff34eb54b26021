"""Telling holders about their certificates: issued, put on hold, released (解冻), restored
after a loss report (解除挂失), revoked, expired; renewal notices before expiry (001 §二.6) and
payment reminders before the stop for unpaid fees (000 篇七).

The notice of an issuance or a status change is written into the send log *in the same
transaction* as the change (a transactional outbox row, ``pending``), so it exists exactly when
the change does: a crash right after the commit cannot lose it, a change that rolls back leaves
none. It is sent right after the commit; a process that died first leaves it pending for
``yinxin notify retry``. A delivery problem is logged and kept in the send log, and never undoes
the certificate operation; a holder with no phone or e-mail is skipped, logged and audited
(``notice.skipped``, on the certificate's or application's trail, naming the subscriber it was
for), so the desk sees it; the subscriber views say ``reachable`` beforehand.

The notifier (its gateways, templates and send log) is asked for when a change or a renewal
run first needs it, not when the certificates service is built: a listing loads none of it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from yinxin.clock import Clock, beijing_day, days_until, in_beijing
from yinxin.errors import YinxinError
from yinxin.registry.certificates import Certificates, check_notice_days
from yinxin.registry.lifecycle import ON_HOLD, REVOCATION_REASONS, REVOKED, UNPAID
from yinxin.registry.views import CertificateView
from yinxin.store.audit import event
from yinxin.store.db import Database
from yinxin.store.models import Application, AuditEvent, Certificate, Subscriber

if TYPE_CHECKING:
    from yinxin.notify.service import NotificationView, Notifier, Status

log = logging.getLogger(__name__)
RENEWAL_TEMPLATE = "certificate_expiring"
PAYMENT_TEMPLATE = "certificate_payment_due"
SKIPPED = "notice.skipped"  # the audit action of a notice no one could receive
# how many days before the paid service ends the payment reminder goes out (settable:
# ``YINXIN_PAYMENT_REMINDER_DAYS``; 0 sends none)
PAYMENT_REMINDER_DAYS = 7


def _day(at: dt.datetime) -> str:
    """The day a notice names: the Beijing day (a certificate ending at 17:00 UTC ends on the
    next day for its holder), not the UTC date the stored instant carries."""
    return beijing_day(at).isoformat()


def _utc_day(at: dt.datetime) -> str:
    """The day a payment reminder written before days were Beijing days named: its send-log
    row still marks the paid period as reminded."""
    return at.astimezone(dt.UTC).date().isoformat()


def _restored(row: Certificate) -> dict[str, str]:
    """What a withdrawn loss report leaves: the certificate in use, or the earlier hold."""
    if row.status == ON_HOLD and row.hold_kind == UNPAID:
        return {
            "outcome": "但证书仍因服务费未缴停止服务，缴纳续费后可办理解冻",
            "outcome_en": "it stays stopped for unpaid fees until the fee is paid and it is "
            "released",
        }
    if row.status == ON_HOLD:
        return {
            "outcome": "但证书仍处于挂失前的冻结状态，解冻后方可使用",
            "outcome_en": "it stays on the hold it had before the loss report until released",
        }
    return {"outcome": "证书恢复正常使用", "outcome_en": "it can sign again"}


def _skipped_since(s: Session, serial: str, since: dt.datetime | None, *marks: str) -> bool:
    """Whether a notice of the certificate was audited skipped (since ``since``), its data
    holding each of ``marks``: a daily run does not audit the same skip again."""
    q = select(AuditEvent.seq).where(
        AuditEvent.action == SKIPPED,
        AuditEvent.subject_type == "certificate",
        AuditEvent.subject_id == serial,
        *(AuditEvent.data.contains(m) for m in marks),
    )
    if since is not None:
        q = q.where(AuditEvent.at >= since)
    return s.execute(q.limit(1)).first() is not None


def _renewed(s: Session, row: Certificate) -> bool:
    """Whether ``row`` has a successor (a renewal): its holder goes on with that one."""
    q = select(Certificate.id).where(Certificate.predecessor_id == row.id).limit(1)
    return s.execute(q).first() is not None


@dataclass(frozen=True, slots=True)
class RenewalNotice:
    """A renewal notice sent (or handed to the gateway) for an expiring certificate."""

    serial: str
    notification_id: int
    status: Status


@dataclass(frozen=True, slots=True)
class PaymentReminder:
    """A payment reminder written for a certificate whose paid service ends soon: which, the
    end of its paid period (the reminder is sent once for it) and the send-log row."""

    serial: str
    paid_until: str
    notification_id: int


class CertificateNotices:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        certificates: Certificates,
        notifier: Callable[[], Notifier],
    ):
        """Hooks into every change of ``certificates`` now; ``notifier`` is called when a
        change or a renewal run first needs it (the composition root builds it then)."""
        self.db, self.clock = db, clock
        self.certificates, self._notifier = certificates, notifier
        certificates.in_transaction.append(self.enqueue)
        certificates.application_in_transaction.append(self.enqueue_application)
        certificates.on_application.append(self.application_changed)
        certificates.on_issued.append(self.issued)
        certificates.on_status_change.append(self.status_changed)

    @property
    def notifier(self) -> Notifier:
        return self._notifier()

    def _skipped(
        self,
        s: Session,
        template: str,
        subject: tuple[str, str | int],
        to: int,
        e: YinxinError,
        **more: str,
    ) -> None:
        """A notice that could not be written (no phone or e-mail on the recipient's record):
        logged, and audited ``notice.skipped`` in ``s``'s transaction on the trail of the
        certificate or application it was about, with the subscriber it was for, so the desk
        sees it (the reason names the subscriber by id, never a number or address)."""
        kind, subject_id = subject
        log.info("no %s notice for %s %s: %s", template, kind, subject_id, e.message)
        data = {"template": template, "subscriber_id": to, "reason": e.message, **more}
        event(s, self.clock.now(), "system", SKIPPED, subject_id, data, subject_type=kind)

    @staticmethod
    def _recipient_in(s: Session, subscriber_id: int) -> tuple[int, str]:
        """Who hears about a certificate: the holder, or for a device its organization."""
        sub = s.get(Subscriber, subscriber_id)
        if sub is not None and sub.kind == "device" and sub.organization_id:
            owner = s.get(Subscriber, sub.organization_id)
            return owner.id, sub.name
        return subscriber_id, sub.name if sub else ""

    def enqueue(self, s: Session, row: Certificate, event: str) -> None:
        """In the change's transaction: write the holder's notice as a pending outbox row.

        The notifier is asked for first, for every change, and outside the ``try`` below: a
        gateway configuration that cannot be built refuses the change (it rolls back) rather
        than being logged as a holder without contact details, or failing only after the
        commit, in ``status_changed``, for a change that writes no notice."""
        notifier = self.notifier
        at = in_beijing(self.clock.now())
        if event == "issued":
            template, values = "certificate_issued", {"not_after": _day(row.not_after)}
        elif event == "unfreeze":
            template, values = "certificate_released", {"at": at}
        elif event == "restore":
            # the loss report is withdrawn: usable again, or back on the hold it replaced
            template, values = "certificate_restored", {"at": at, **_restored(row)}
        elif event == "expire":
            if _renewed(s, row):  # its renewal goes on: "apply for a new one" would mislead
                return
            template, values = "certificate_expired", {"not_after": _day(row.not_after)}
        elif row.status == REVOKED:
            reason = REVOCATION_REASONS.get(row.revocation_reason or "", ("", "其他情况"))[1]
            at = in_beijing(row.revoked_at or self.clock.now())
            template, values = "certificate_revoked", {"at": at, "reason": reason}
        elif row.status == ON_HOLD and row.hold_kind == UNPAID:
            # stopped for unpaid fees (000 篇七): say so, and what to do — "frozen, contact us
            # if you did not ask for this" left the holder guessing why
            paid = _day(row.paid_until) if row.paid_until else "-"
            template, values = "certificate_unpaid", {"at": at, "paid_until": paid}
        elif row.status == ON_HOLD:
            template, values = "certificate_frozen", {"at": at}
        else:
            return
        to, name = self._recipient_in(s, row.subscriber_id)
        try:
            values = {"name": name, "serial": row.serial_hex, **values}
            notifier.enqueue(s, notifier.to_subscriber(s, to, template, values))
        except YinxinError as e:  # e.g. no phone or e-mail on record: skip, never refuse
            self._skipped(s, template, ("certificate", row.serial_hex), to, e)

    def enqueue_application(self, s: Session, app: Application, event: str) -> None:
        """In the application's transaction: the applicant's notice that it was received (the
        ``application_received`` template, MISSION §7) or rejected — with the officer's reason:
        the received notice promised word of the outcome —, as a pending outbox row."""
        notifier = self.notifier  # outside the try, as in ``enqueue``
        if event == "submitted":
            template, values = "application_received", {"application_id": app.id}
        elif event == "rejected":
            values = {"application_id": app.id, "reason": app.reason or ""}
            template = "application_rejected"
        else:
            return
        to, name = self._recipient_in(s, app.subscriber_id)
        try:
            notifier.enqueue(s, notifier.to_subscriber(s, to, template, {"name": name, **values}))
        except YinxinError as e:  # e.g. no phone or e-mail on record: skip, never refuse
            self._skipped(s, template, ("application", app.id), to, e)

    def application_changed(self, _application_id: int) -> None:
        """After the commit: send what the application put in the outbox."""
        self.notifier.send_pending()

    def _send(
        self, notifier: Notifier, cert: CertificateView, template: str, values: dict
    ) -> NotificationView | None:
        to = cert.subscriber_id
        try:
            with self.db.read() as s:
                to, name = self._recipient_in(s, cert.subscriber_id)
                values = {"name": name, "serial": cert.serial, **values}
                message = notifier.to_subscriber(s, to, template, values)
            return notifier.send(message)
        except YinxinError as e:  # e.g. no phone or e-mail on record
            with self.db.transaction() as s:
                self._skipped(s, template, ("certificate", cert.serial), to, e)
            return None

    def issued(self, _cert: CertificateView) -> None:
        """After the commit: send what the change put in the outbox."""
        self.notifier.send_pending()

    def status_changed(self, _serial: str) -> None:
        """After the commit: send what the change put in the outbox."""
        self.notifier.send_pending()

    def send_renewal_notices(
        self, within_days: int = 30, repeat_after_days: int = 7
    ) -> list[RenewalNotice]:
        """One notice per expiring certificate, repeated at most every ``repeat_after_days``."""
        check_notice_days(repeat_after_days, "repeat_after")
        from yinxin.store.models.notify import Notification

        notifier = self.notifier  # before the first send, so a broken configuration is raised
        now = self.clock.now()
        since = now - dt.timedelta(days=repeat_after_days)
        sent = []
        for cert in self.certificates.expiring(within_days):
            with self.db.read() as s:
                recent = s.execute(
                    select(Notification.id)
                    .where(
                        Notification.template_id == RENEWAL_TEMPLATE,
                        Notification.values_json.contains(f'"{cert.serial}"'),
                        Notification.created_at >= since,
                    )
                    .limit(1)
                ).first()
                # skipped for want of a contact: audited once a repeat period, as sent
                recent = recent or _skipped_since(s, cert.serial, since, f'"{RENEWAL_TEMPLATE}"')
            if recent:
                continue
            row = self._send(
                notifier,
                cert,
                RENEWAL_TEMPLATE,
                {"not_after": _day(cert.not_after), "days": days_until(now, cert.not_after)},
            )
            if row is not None:
                sent.append(RenewalNotice(cert.serial, row.id, row.status))
        return sent

    def send_payment_reminders(
        self, before_days: int = PAYMENT_REMINDER_DAYS
    ) -> list[PaymentReminder]:
        """Remind each holder whose certificate's paid service ends within ``before_days``
        that it will be stopped for unpaid fees unless paid (000 篇七): once per certificate and
        paid period. A payment moves ``paid_until`` on (a new period, a reminder before its end
        in turn); a certificate paid ahead, renewed, revoked, on hold or expired is not due.

        Each reminder is written in a transaction of its own with the certificate's row locked:
        the send log is checked there for one already written for that certificate and period,
        so two runs at once, or a run repeated, write it once. Then the outbox is sent."""
        check_notice_days(before_days, "before_days")
        from yinxin.store.models.notify import Notification

        notifier = self.notifier  # before the first write, so a broken configuration is raised
        written = []
        for cert in self.certificates.payment_due(before_days):
            with self.db.transaction() as s:
                now = self.clock.now()
                row = s.execute(
                    select(Certificate)
                    .where(
                        Certificate.id == cert.id,
                        *self.certificates.payment_due_where(now, before_days),
                    )
                    .with_for_update()
                ).scalar_one_or_none()
                if row is None or row.paid_until is None:  # paid, renewed or held meanwhile
                    continue
                paid = _day(row.paid_until)
                # the period's reminder, written naming its Beijing day or (before) its UTC day
                said = [f'"paid_until": "{d}"' for d in {paid, _utc_day(row.paid_until)}]
                done = s.execute(
                    select(Notification.id)
                    .where(
                        Notification.template_id == PAYMENT_TEMPLATE,
                        Notification.values_json.contains(f'"serial": "{row.serial_hex}"'),
                        or_(*(Notification.values_json.contains(x) for x in said)),
                    )
                    .limit(1)
                ).first()
                done = done or any(
                    _skipped_since(s, row.serial_hex, None, f'"{PAYMENT_TEMPLATE}"', x)
                    for x in said
                )
                if done:  # written, or audited skipped, once for the period
                    continue
                to, name = self._recipient_in(s, row.subscriber_id)
                values = {
                    "name": name,
                    "serial": row.serial_hex,
                    "paid_until": paid,
                    "days": days_until(now, row.paid_until),
                }
                try:
                    message = notifier.to_subscriber(s, to, PAYMENT_TEMPLATE, values)
                except YinxinError as e:  # no phone or e-mail on record: skip, never refuse
                    subject = ("certificate", row.serial_hex)
                    self._skipped(s, PAYMENT_TEMPLATE, subject, to, e, paid_until=paid)
                    continue
                n = notifier.enqueue(s, message)
                written.append(PaymentReminder(row.serial_hex, paid, n.id))
        if written:
            notifier.send_pending()
        return written
