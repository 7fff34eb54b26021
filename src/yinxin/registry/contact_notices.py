"""Telling a subscriber that its mobile number or e-mail was changed — at the *old* one.

The mobile number is where one-time codes (signing intent, login) and notices go: whoever
changes it takes them over. Real services therefore tell the number being replaced, so a holder
whose number was changed without their knowledge hears of it while it can still be undone. The
message is written into the send log in the change's transaction (a pending outbox row, as the
certificate notices are: no change, no message), by SMS to the old number, and sent after the
commit. It shows the new number masked. Without an SMS gateway, or if the old number cannot be
written to, the notice is skipped and logged: it never refuses the change.

A new e-mail address is told to the old address the same way (by e-mail, the new address
masked): notices go to the address on the record, so whoever changes it takes them over. An
address removed is told to it too (``subscriber_email_removed``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from yinxin.clock import Clock, in_beijing
from yinxin.errors import YinxinError
from yinxin.store.models import Subscriber

if TYPE_CHECKING:
    from yinxin.notify.service import Notifier

log = logging.getLogger(__name__)
TEMPLATE = "subscriber_phone_changed"
EMAIL_TEMPLATE = "subscriber_email_changed"
EMAIL_REMOVED_TEMPLATE = "subscriber_email_removed"


class ContactNotices:
    def __init__(self, clock: Clock, notifier: Callable[[], Notifier]):
        """``notifier`` is called when a change first needs it (the composition root builds it
        then), so a listing of subscribers builds no messaging code."""
        self.clock, self._notifier = clock, notifier

    def phone_changed(self, s: Session, sub: Subscriber, old_phone: str) -> None:
        """In the change's transaction: the notice to ``old_phone`` as a pending outbox row."""
        from yinxin.notify.service import Outgoing

        notifier = self._notifier()  # outside the try: a broken configuration refuses the change
        if "sms" not in notifier.gateways:
            log.info("no phone-change notice for subscriber %s: no SMS gateway", sub.id)
            return
        new = sub.phone or ""
        values = {
            "name": sub.name,
            "at": in_beijing(self.clock.now()),
            "new_phone": new[:3] + "****" + new[-4:] if len(new) >= 8 else "****",
        }
        try:
            notifier.enqueue(s, Outgoing("sms", old_phone, TEMPLATE, values, sub.id))
        except YinxinError as e:
            log.info("no phone-change notice for subscriber %s: %s", sub.id, e.message)

    def email_changed(self, s: Session, sub: Subscriber, old_email: str) -> None:
        """In the change's transaction: the notice to ``old_email`` as a pending outbox row."""
        from yinxin.notify.service import Outgoing, mask_recipient

        notifier = self._notifier()
        if "email" not in notifier.gateways:
            log.info("no e-mail-change notice for subscriber %s: no e-mail gateway", sub.id)
            return
        values = {"name": sub.name, "at": in_beijing(self.clock.now())}
        template = EMAIL_REMOVED_TEMPLATE  # the address removed: no new one to show
        if sub.email:
            template, values["new_email"] = EMAIL_TEMPLATE, mask_recipient("email", sub.email)
        try:
            notifier.enqueue(s, Outgoing("email", old_email, template, values, sub.id))
        except YinxinError as e:
            log.info("no e-mail-change notice for subscriber %s: %s", sub.id, e.message)

    def sent(self, _subscriber_id: int) -> None:
        """After the commit: send what the change put in the outbox."""
        self._notifier().send_pending()
