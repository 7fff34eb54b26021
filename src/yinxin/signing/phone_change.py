"""A holder's own change of the registered mobile number, proved by a code sent to the NEW one.

The registered number receives every login and signing code: a change made by a typo, or by
whoever holds a stolen session, would send them to a phone nobody (or the wrong person)
controls. So a change the holder makes themselves (a subscriber's session, a key bound to an
organization) takes effect only with the one-time code sent by SMS to the new number: the same
machinery as signing codes (``signing.intent``: kept as an HMAC under the server's secret,
five wrong codes kill it, it expires with ``YINXIN_OTP_TTL_SECONDS``, one a minute and ten an
hour per subscriber, audited with the number masked), bound to this subscriber and this new
number. The old number is told after the change, as for every change.

A desk officer (the CLI ``subscriber update``, a staff session, a key bound to no organization)
has checked the holder's identity in person and changes the number at once.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from yinxin.identity import validate_mobile
from yinxin.registry.subscribers import Subscribers
from yinxin.registry.views import SubscriberView
from yinxin.signing.intent import PHONE_CHANGE, Challenge, IntentConfirmation

LABEL = "更换登记手机号"  # what the code confirms, as its audit event names it


class PhoneChanges:
    def __init__(self, subscribers: Subscribers, intent: IntentConfirmation):
        self.subscribers, self.intent = subscribers, intent

    def _bound(self, subscriber_id: int, number: str) -> str:
        return self.intent.binding(f"phone_change:{subscriber_id}:{number}")

    def request(self, subscriber_id: int, phone: str, *, actor: str) -> Challenge:
        """Send a code to ``phone``, the new number, for this subscriber's change to it."""
        number = validate_mobile(phone, "phone")
        return self.intent.request_code(
            subscriber_id,
            purpose=PHONE_CHANGE,
            document_sha256=self._bound(subscriber_id, number),
            document_name=LABEL,
            actor=actor,
            send_to=number,
        )

    def apply(
        self,
        subscriber_id: int,
        changes: dict,
        *,
        challenge_id: str,
        code: str,
        actor: str,
        session_id: int | None = None,
    ) -> SubscriberView:
        """``changes`` (with the new ``phone``) made with the code sent to that number: a wrong
        code is counted and refused first, a right one used up in the change's transaction —
        a change refused on its way gives the code back."""
        number = validate_mobile(changes.get("phone") or "", "phone")
        bound = self._bound(subscriber_id, number)
        check = self.intent.checked_proof(
            challenge_id,
            code,
            subscriber_id=subscriber_id,
            document_sha256=bound,
            purpose=PHONE_CHANGE,
            by="phone-change",
            actor=actor,
        )

        def proof(s: Session, new_phone: str) -> None:
            assert new_phone == number
            check(s)

        return self.subscribers.update(
            subscriber_id, changes, actor=actor, phone_proof=proof, session_id=session_id
        )
