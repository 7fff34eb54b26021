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
a landline, is changed online without any proof, and an e-mail's code proves only the new
address —: it is refused
``phone_change_at_desk`` and sent to the desk. As is a holder who lost the old phone.

A holder's own new **e-mail address** takes effect the same way: a code sent by e-mail to the
new address (``email_change_code``, purpose ``email_change``, bound to this subscriber and this
address) proves the address is read and typed right — a mistyped address, or one nobody reads
put in from a stolen session, would otherwise take every notice from then on. A holder with no
registered mobile number (an organization registered at the desk with a landline) gets its
notices by e-mail and has no phone whose session proves it: a code to the new address alone
let whoever held its organization key move every notice to their own mailbox. So for it a
second code goes by e-mail to the **current** address (``email_change_current_code``, purpose
``email_change_current``, naming the new address masked — the holder is warned before anything
changes), and the change takes both, as the phone's. They are the same machinery and limits as
the phone's codes (the new address's counts one of the hour's ten, with the current address's
two; with a new phone in the same request, three), checked before anything is written (the
current address's first), used up in the change's transaction, and the old address is told
after the change. A holder with a mobile number is asked no code on its phone for a new address:
its notices and codes all go by SMS (``Notifier.to_subscriber`` prefers the registered number,
and there is always an SMS gateway), so the address carries nothing that proves or grants
anything and cannot become the notices' channel online (the phone is never removed online) —
should e-mail ever carry a phone holder's notices, the change must ask the phone's code too.
Removing the address (``""``) takes no code: nothing is sent to an address
that is not there, and it is refused when no mobile number remains for the notices
(``registry.subscribers``).

A desk officer (the CLI ``subscriber update``, a staff session, a key bound to no organization)
has checked the holder's identity in person and changes the number and the e-mail at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from yinxin.errors import Forbidden, ValidationError, YinxinError
from yinxin.identity import validate_email, validate_mobile
from yinxin.notify.service import mask_recipient
from yinxin.registry.subscribers import Subscribers
from yinxin.registry.views import SubscriberView
from yinxin.signing.intent import (
    EMAIL_CHANGE,
    EMAIL_CHANGE_CURRENT,
    PHONE_CHANGE,
    PHONE_CHANGE_CURRENT,
    Challenge,
    IntentConfirmation,
)
from yinxin.store.models import Subscriber

LABEL = "更换登记手机号"  # what the new number's code confirms, as its audit event names it
EMAIL_LABEL = "更换登记电子邮箱"  # …and the new e-mail address's code
NEW, CURRENT = "phone", "current_phone"  # the prefixes of the request's fields for each code
EMAIL, CURRENT_EMAIL = "email", "current_email"  # …and of the new and current address's


@dataclass(frozen=True)
class PhoneChallenges:
    """The two codes a holder's own change waits for: to the new number and the current one."""

    new: Challenge
    current: Challenge


@dataclass(frozen=True)
class EmailChallenges:
    """The codes a holder's own new e-mail address waits for: to the new address, and — the
    notices going to it (no mobile phone) — to the current one."""

    new: Challenge
    current: Challenge | None


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
    """A refusal of one of the codes names the request's field it came in: ``phone_code``,
    ``current_phone_code``, ``email_code`` or ``current_email_code``; a challenge not sent for
    this change (another number or address, the other phone's), ``phone_challenge_id``,
    ``current_phone_challenge_id``, ``email_challenge_id`` or ``current_email_challenge_id``."""
    try:
        yield
    except YinxinError as e:
        if e.field == "code":
            e.field = f"{prefix}_code"
        elif e.field in ("challenge_id", "document_sha256"):
            e.field = f"{prefix}_challenge_id"
        raise


def _proof(
    checks: list[tuple[str, Callable[[Session], None]]], expected: str | None
) -> Callable[[Session, str], None] | None:
    """What ``Subscribers.update`` runs in its transaction for a value proven by codes: each
    check, its refusal named by its prefix; ``None`` when no code was asked for it."""
    if not checks:
        return None

    def run(s: Session, value: str) -> None:
        assert value == expected
        for prefix, check in checks:
            with _named(prefix):
                check(s)

    return run


class PhoneChanges:
    def __init__(self, subscribers: Subscribers, intent: IntentConfirmation):
        self.subscribers, self.intent = subscribers, intent

    def _bound(self, subscriber_id: int, number: str) -> str:
        return self.intent.binding(f"phone_change:{subscriber_id}:{number}")

    def _bound_current(self, subscriber_id: int, number: str) -> str:
        return self.intent.binding(f"phone_change_current:{subscriber_id}:{number}")

    def _bound_email(self, subscriber_id: int, address: str) -> str:
        return self.intent.binding(f"email_change:{subscriber_id}:{address}")

    def _bound_current_email(self, subscriber_id: int, address: str) -> str:
        return self.intent.binding(f"email_change_current:{subscriber_id}:{address}")

    def mailed_notices(self, subscriber_id: int) -> str | None:
        """The current address of a holder whose notices go to it — no registered mobile
        number —, whose own new address waits for a code sent to it too; else ``None``."""
        with self.subscribers.db.read() as s:
            sub = s.get(Subscriber, subscriber_id)
            if sub is None or sub.phone or not sub.email:
                return None
            return sub.email

    def _registered(self, subscriber_id: int) -> None:
        """Refuse, sending to the desk, a holder with no registered mobile number."""
        with self.subscribers.db.read() as s:
            sub = s.get(Subscriber, subscriber_id)
            has_phone = sub is not None and bool(sub.phone)
        if not has_phone:
            raise at_desk(subscriber_id)

    def request(
        self, subscriber_id: int, phone: str, *, actor: str, codes: int = 2
    ) -> PhoneChallenges:
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
            codes=codes,  # room in the hour for both (and an e-mail's), before any is sent
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

    def request_email(
        self, subscriber_id: int, email: str, *, actor: str, paired: bool = False
    ) -> EmailChallenges:
        """Send a code by e-mail to ``email``, the new address, for this subscriber's change to
        it, and — its notices going by e-mail (``mailed_notices``) — one to the current address,
        after the new one's (an address that takes no mail is refused before the holder is
        troubled; the hour's room for both checked before the first). ``paired``: sent in the
        same request after a phone change's two codes (whose ``request`` was told of a third:
        ``codes=3``), so the minimum interval is not asked. A holder with no address yet (the
        one given at registration) is sent the wording that registers it, not the change's."""
        address = validate_email(email, "email")
        current = self.mailed_notices(subscriber_id)
        with self.subscribers.db.read() as s:
            sub = s.get(Subscriber, subscriber_id)
            first = sub is not None and not sub.email
        new = self.intent.request_code(
            subscriber_id,
            purpose=EMAIL_CHANGE,
            document_sha256=self._bound_email(subscriber_id, address),
            document_name=EMAIL_LABEL,
            actor=actor,
            email_to=address,
            paired=paired,
            codes=1 if paired or current is None else 2,
            first_email=first,
        )
        if current is None:
            return EmailChallenges(new, None)
        warned = self.intent.request_code(
            subscriber_id,
            purpose=EMAIL_CHANGE_CURRENT,
            document_sha256=self._bound_current_email(subscriber_id, address),
            document_name=f"将登记电子邮箱更换为 {mask_recipient('email', address)}",
            actor=actor,
            email_to=current,
            paired=True,
        )
        return EmailChallenges(new, warned)

    def apply(
        self,
        subscriber_id: int,
        changes: dict,
        *,
        challenge_id: str | None = None,
        code: str | None = None,
        current_challenge_id: str | None = None,
        current_code: str | None = None,
        email_challenge_id: str | None = None,
        email_code: str | None = None,
        current_email_challenge_id: str | None = None,
        current_email_code: str | None = None,
        actor: str,
        session_id: int | None = None,
    ) -> SubscriberView:
        """``changes`` made with the proofs given: for a new ``phone``, the code sent to the
        registered number and the one sent to the new number; for a new ``email``, the code
        sent to it and, the notices going by e-mail (``mailed_notices``), the one sent to the
        current address — missing, refused naming its field. A wrong code is counted and
        refused first (the current number's checked first, the e-mails' last, the current
        address's before the new one's), the right ones all used up in the change's transaction
        — a change refused on its way gives them back."""
        checks: list[tuple[str, Callable[[Session], None]]] = []
        number: str | None = None
        if challenge_id is not None or current_challenge_id is not None:
            number = validate_mobile(changes.get("phone") or "", "phone")
            self._registered(subscriber_id)
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
                checks.append(
                    (
                        prefix,
                        self._checked(
                            prefix, subscriber_id, cid, given, bound, purpose, "phone-change", actor
                        ),
                    )
                )
        email_checks: list[tuple[str, Callable[[Session], None]]] = []
        address: str | None = None
        by_current = current_email_challenge_id is not None or current_email_code is not None
        if email_challenge_id is not None or by_current:
            address = validate_email(changes.get("email") or "", "email")
            if by_current or self.mailed_notices(subscriber_id) is not None:
                for name, value in (
                    ("current_email_challenge_id", current_email_challenge_id),
                    ("current_email_code", current_email_code),
                ):
                    if not value:
                        raise ValidationError(
                            "the notices go to the registered e-mail address: its change is "
                            "confirmed with the code sent to it too (current_email_challenge_id, "
                            f"current_email_code): {name} is missing",
                            field=name,
                        )
                email_checks.append(
                    (
                        CURRENT_EMAIL,
                        self._checked(
                            CURRENT_EMAIL,
                            subscriber_id,
                            current_email_challenge_id,
                            current_email_code,
                            self._bound_current_email(subscriber_id, address),
                            EMAIL_CHANGE_CURRENT,
                            "email-change",
                            actor,
                        ),
                    )
                )
            email_checks.append(
                (
                    EMAIL,
                    self._checked(
                        EMAIL,
                        subscriber_id,
                        email_challenge_id,
                        email_code,
                        self._bound_email(subscriber_id, address),
                        EMAIL_CHANGE,
                        "email-change",
                        actor,
                    ),
                )
            )

        return self.subscribers.update(
            subscriber_id,
            changes,
            actor=actor,
            phone_proof=_proof(checks, number),
            email_proof=_proof(email_checks, address),
            session_id=session_id,
        )

    def _checked(
        self,
        prefix: str,
        subscriber_id: int,
        challenge_id: str | None,
        code: str | None,
        bound: str,
        purpose: str,
        by: str,
        actor: str,
    ) -> Callable[[Session], None]:
        with _named(prefix):
            return self.intent.checked_proof(
                challenge_id or "",
                code or "",
                subscriber_id=subscriber_id,
                document_sha256=bound,
                purpose=purpose,
                by=by,
                actor=actor,
            )
