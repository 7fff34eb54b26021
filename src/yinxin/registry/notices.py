"""Telling holders about their certificates: issued, put on hold, revoked, and renewal notices
before expiry (001 §二.6). Messages go out after the change has committed; a delivery problem is
logged and kept in the send log, and never undoes the certificate operation."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from yinxin.clock import Clock
from yinxin.errors import YinxinError
from yinxin.notify.models import Notification
from yinxin.notify.service import Notifier
from yinxin.registry.certificates import Certificates
from yinxin.registry.lifecycle import ON_HOLD, REVOCATION_REASONS, REVOKED
from yinxin.store.db import Database
from yinxin.store.models import Subscriber

log = logging.getLogger(__name__)
RENEWAL_TEMPLATE = "certificate_expiring"


def _day(iso: str) -> str:
    return iso[:10]


class CertificateNotices:
    def __init__(self, db: Database, clock: Clock, certificates: Certificates,
                 notifier: Notifier):
        self.db, self.clock = db, clock
        self.certificates, self.notifier = certificates, notifier
        certificates.on_issued.append(self.issued)
        certificates.on_status_change.append(self.status_changed)

    def _recipient(self, subscriber_id: int) -> tuple[int, str]:
        """Who hears about a certificate: the holder, or for a device its organization."""
        with self.db.read() as s:
            sub = s.get(Subscriber, subscriber_id)
            if sub is not None and sub.kind == "device" and sub.organization_id:
                owner = s.get(Subscriber, sub.organization_id)
                return owner.id, sub.name
            return subscriber_id, sub.name if sub else ""

    def _send(self, cert: dict, template: str, values: dict) -> dict | None:
        to, name = self._recipient(cert["subscriber_id"])
        try:
            return self.notifier.send_to_subscriber(
                to, template, {"name": name, "serial": cert["serial"], **values})
        except YinxinError as e:  # e.g. no phone or e-mail on record
            log.info("no %s notice for %s: %s", template, cert["serial"], e.message)
            return None

    def issued(self, cert: dict) -> None:
        self._send(cert, "certificate_issued", {"not_after": _day(cert["not_after"])})

    def status_changed(self, serial: str) -> None:
        cert = self.certificates.get(serial)
        if cert["status"] == REVOKED:
            reason = REVOCATION_REASONS.get(cert["revocation_reason"] or "", ("", "其他情况"))[1]
            self._send(cert, "certificate_revoked", {"at": cert["revoked_at"], "reason": reason})
        elif cert["status"] == ON_HOLD:
            self._send(cert, "certificate_frozen", {"at": self.clock.now().isoformat()})

    def send_renewal_notices(self, within_days: int = 30, repeat_after_days: int = 7
                             ) -> list[dict]:
        """One notice per expiring certificate, repeated at most every ``repeat_after_days``."""
        now = self.clock.now()
        since = now - dt.timedelta(days=repeat_after_days)
        sent = []
        for cert in self.certificates.expiring(within_days):
            with self.db.read() as s:
                recent = s.execute(select(Notification.id).where(
                    Notification.template_id == RENEWAL_TEMPLATE,
                    Notification.values_json.contains(f'"{cert["serial"]}"'),
                    Notification.created_at >= since).limit(1)).first()
            if recent:
                continue
            left = (dt.datetime.fromisoformat(cert["not_after"]) - now).days
            row = self._send(cert, RENEWAL_TEMPLATE,
                             {"not_after": _day(cert["not_after"]), "days": max(left, 0)})
            if row is not None:
                sent.append({"serial": cert["serial"], "notification_id": row["id"],
                             "status": row["status"]})
        return sent
