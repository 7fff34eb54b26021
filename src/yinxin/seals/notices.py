"""Telling a seal's holder that the business asked for is done (004 §七) and that the seal may be
collected (004 填表说明: "以接收电子印章领取通知").

The seal usage agreement has the platform handle a change, a freeze or a cancellation and then
"通知用户"; so a seal made, renewed or changed, frozen (by an officer, the holder, or a reported
PIN leak), released (解冻), expired (the ``seals.expire`` job) or ended for good (cancelled,
revoked) sends the holder — the person, or the
organization for its seals — a message on the registered phone (or e-mail). As with
certificates (``registry.notices``), the notice is written into the send log *in the seal
change's transaction* (a pending outbox row), so it exists exactly when the change does, and is
sent right after the commit; ``yinxin notify retry`` sends what a crash left pending. A holder
with no phone or e-mail is skipped and logged: a notice never refuses or undoes the change.
A release (unfreeze) and an expiry are told as a certificate's are (``registry.notices``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from yinxin.clock import beijing_day, in_beijing
from yinxin.errors import YinxinError
from yinxin.seals.catalogue import BUSINESS_TYPES, BusinessType
from yinxin.seals.lifecycle import REVOCATION_REASONS
from yinxin.store.models import Subscriber
from yinxin.store.models.seals import Seal

if TYPE_CHECKING:
    from yinxin.notify.service import Notifier

log = logging.getLogger(__name__)

# The seal verbs a holder is told about, and the template each is told with.
TEMPLATES: dict[str, str] = {
    "create": "seal_created",
    "renew": "seal_changed",
    "change": "seal_changed",
    "freeze": "seal_frozen",
    "report_pin_leak": "seal_frozen",
    "unfreeze": "seal_released",
    "expire": "seal_expired",
    "cancel": "seal_revoked",
    "revoke": "seal_revoked",
}


def _at(t: dt.datetime) -> str:
    return in_beijing(t)


class SealNotices:
    """Hooks into every seal change (``Seals.in_transaction`` and ``Seals.after_commit``)."""

    def __init__(self, notifier: Callable[[], Notifier]):
        """``notifier`` is called when a change first needs it (the composition root builds it
        then), so a listing of seals builds no messaging code."""
        self._notifier = notifier

    def values(self, row: Seal, verb: str) -> dict[str, str]:
        """What the verb's template says about the seal, besides the holder's name."""
        out = {"seal_name": row.name}
        if verb in ("renew", "change"):
            business = BUSINESS_TYPES[
                BusinessType.RENEW if verb == "renew" else BusinessType.CHANGE
            ]
            out |= {"business": business, "valid_end": beijing_day(row.valid_end).isoformat()}
        elif verb in ("freeze", "report_pin_leak"):
            out["at"] = _at(row.held_at or row.updated_at)
        elif verb == "unfreeze":
            out["at"] = _at(row.updated_at)
        elif verb == "expire":
            out["valid_end"] = beijing_day(row.valid_end).isoformat()
        elif verb == "revoke":
            reason = REVOCATION_REASONS.get(
                row.revocation_reason or "", REVOCATION_REASONS["other"]
            )
            out |= {"at": _at(row.ended_at or row.updated_at), "ended": "废止", "reason": reason}
        elif verb == "cancel":
            out |= {
                "at": _at(row.ended_at or row.updated_at),
                "ended": "注销",
                "reason": "用户申请注销电子印章",
            }
        return out

    def enqueue(self, s: Session, row: Seal, verb: str) -> None:
        """In the change's transaction: the holder's notice as a pending outbox row."""
        template = TEMPLATES.get(verb)
        if template is None:
            return
        notifier = self._notifier()  # outside the try: a broken configuration refuses the change
        holder = s.get(Subscriber, row.subscriber_id)
        try:
            values = {"name": holder.name if holder else row.name, **self.values(row, verb)}
            notifier.enqueue(s, notifier.to_subscriber(s, row.subscriber_id, template, values))
        except YinxinError as e:  # e.g. no phone or e-mail on record: skip, never refuse
            log.info("no %s notice for seal %s: %s", template, row.es_id, e.message)

    def sent(self, verb: str) -> None:
        """After the commit: send what the change put in the outbox."""
        if verb in TEMPLATES:
            self._notifier().send_pending()
