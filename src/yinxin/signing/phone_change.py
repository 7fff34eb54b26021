"""A holder's own change of the registered mobile number, proved by the current number AND the
new one (换绑手机需验证原手机号).

The registered number receives every login and signing code, and the code that proves a
holder's own reissue of a certificate: whoever changes it takes all of them. A change proved by
the new number alone was open to whoever held a stolen browser session or organization key —
they registered their own phone, and from then on passed every SMS check in the holder's name.
So a change the holder makes themselves (a subscriber's session, a key bound to an
organization) takes effect only with two one-time codes sent by SMS in the same request: one to
the **current** registered number (``phone_change_current_code``, which names the new number
masked, so a holder who did not ask is warned before anything changes) proving the holder still
has it, and one to the **new** number (``phone_change_code``) proving it is held and typed
right. Both are the same machinery as signing codes (``signing.intent``: kept as an HMAC under
the server's secret, five wrong codes kill one, it expires with ``YINXIN_OTP_TTL_SECONDS``,
rate-limited per subscriber — the pair counts two of the hour's ten, and a request the hour
has no room for both in is refused before either is sent —, audited with the number
masked), each bound to this subscriber and this new number under a purpose of its own, both
checked before anything is written and used up in the change's transaction. The old number is
also told after the change, as for every change.

A holder with no registered mobile number (an organization registered at the desk with a
landline contact phone) has nothing to prove the change with — its contact phone, which may be
a landline, is changed online without any proof, and an e-mail takes no code —: it is refused
``phone_change_at_desk`` and sent to the desk. As is a holder who lost the old phone.

A desk officer (the CLI ``subscriber update``, a staff session, a key bound to no organization)
has checked the holder's identity in person and changes the number at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from yinxin.errors import Forbidden, YinxinError
from yinxin.identity import validate_mobile
from yinxin.notify.service import mask_recipient
from yinxin.registry.subscribers import Subscribers
from yinxin.registry.views import SubscriberView
from yinxin.signing.intent import (
    PHONE_CHANGE,
    PHONE_CHANGE_CURRENT,
    Challenge,
    IntentConfirmation,
)
from yinxin.store.models import Subscriber

LABEL = "更换登记手机号"  # what the new number's code confirms, as its audit event names it
NEW, CURRENT = "phone", "current_phone"  # the prefixes of the request's fields for each code


@dataclass(frozen=True)
class PhoneChallenges:
    """The two codes a holder's own change waits for: to the new number and the current one."""

    new: Challenge
    current: Challenge


def at_desk(subscriber_id: int) -> Forbidden:
    return Forbidden(
        "未登记手机号，无法在线添加或更换：请到受理点办理（受理员当面核验身份）(no registered "
        "mobile phone to confirm the change with: a mobile phone is registered or changed at "
        f"the desk, who checks the holder's identity in person; subscriber {subscriber_id})",
        field="phone",
        code="phone_change_at_desk",
    )


@contextmanager
def _named(prefix: str) -> Iterator[None]:
    """A refusal of one of the two codes names the request's field it came in: ``phone_code``
    or ``current_phone_code``; a challenge not sent for this change (another number, the other
    phone's), ``phone_challenge_id`` or ``current_phone_challenge_id``."""
    try:
        yield
    except YinxinError as e:
        if e.field == "code":
            e.field = f"{prefix}_code"
        elif e.field in ("challenge_id", "document_sha256"):
            e.field = f"{prefix}_challenge_id"
        raise


class PhoneChanges:
    def __init__(self, subscribers: Subscribers, intent: IntentConfirmation):
        self.subscribers, self.intent = subscribers, intent

    def _bound(self, subscriber_id: int, number: str) -> str:
        return self.intent.binding(f"phone_change:{subscriber_id}:{number}")

    def _bound_current(self, subscriber_id: int, number: str) -> str:
        return self.intent.binding(f"phone_change_current:{subscriber_id}:{number}")

    def _registered(self, subscriber_id: int) -> None:
        """Refuse, sending to the desk, a holder with no registered mobile number."""
        with self.subscribers.db.read() as s:
            sub = s.get(Subscriber, subscriber_id)
            has_phone = sub is not None and bool(sub.phone)
        if not has_phone:
            raise at_desk(subscriber_id)

    def request(self, subscriber_id: int, phone: str, *, actor: str) -> PhoneChallenges:
        """Send a code to ``phone``, the new number, and one to the registered number, for this
        subscriber's change to it. The new number's first: a number that takes no SMS is refused
        before the holder's phone is troubled. The rate limits both would meet are checked before
        the first is sent: a request the hour has room for one code only is refused with none
        sent."""
        number = validate_mobile(phone, "phone")
        self._registered(subscriber_id)
        new = self.intent.request_code(
            subscriber_id,
            purpose=PHONE_CHANGE,
            document_sha256=self._bound(subscriber_id, number),
            document_name=LABEL,
            actor=actor,
            send_to=number,
            codes=2,  # room in the hour for both, checked before either is sent
        )
        current = self.intent.request_code(
            subscriber_id,
            purpose=PHONE_CHANGE_CURRENT,
            document_sha256=self._bound_current(subscriber_id, number),
            document_name=f"将登记手机号更换为 {mask_recipient('sms', number)}",
            actor=actor,
            paired=True,
        )
        return PhoneChallenges(new, current)

    def apply(
        self,
        subscriber_id: int,
        changes: dict,
        *,
        challenge_id: str,
        code: str,
        current_challenge_id: str,
        current_code: str,
        actor: str,
        session_id: int | None = None,
    ) -> SubscriberView:
        """``changes`` (with the new ``phone``) made with the code sent to the registered number
        and the one sent to the new number: a wrong code is counted and refused first (the
        current number's checked first), the right ones both used up in the change's
        transaction — a change refused on its way gives them back."""
        number = validate_mobile(changes.get("phone") or "", "phone")
        self._registered(subscriber_id)
        checks: list[tuple[str, Callable[[Session], None]]] = []
        for prefix, cid, given, bound, purpose in (
            (
                CURRENT,
                current_challenge_id,
                current_code,
                self._bound_current(subscriber_id, number),
                PHONE_CHANGE_CURRENT,
            ),
            (NEW, challenge_id, code, self._bound(subscriber_id, number), PHONE_CHANGE),
        ):
            with _named(prefix):
                check = self.intent.checked_proof(
                    cid,
                    given,
                    subscriber_id=subscriber_id,
                    document_sha256=bound,
                    purpose=purpose,
                    by="phone-change",
                    actor=actor,
                )
            checks.append((prefix, check))

        def proof(s: Session, new_phone: str) -> None:
            assert new_phone == number
            for prefix, check in checks:
                with _named(prefix):
                    check(s)

        return self.subscribers.update(
            subscriber_id, changes, actor=actor, phone_proof=proof, session_id=session_id
        )
