"""Browser sessions for the API: what a web page's ``fetch`` carries instead of an API key.

A session is opened by a login — a staff user with password and TOTP (``access.staff``), or a
subscriber with a one-time code sent to the registered phone (the intent-confirmation
machinery of ``signing.intent``, purpose ``login``) — and is bound to that principal, with the
role and organization scope it had at login (``Principal``).

* The secret (``yxs_`` + 256 random bits) lives only in the browser's cookie (HttpOnly,
  SameSite=Strict); the table keeps its SHA-256, so a copy of the database opens no session.
* It ends after ``idle`` without a request (30 minutes), at ``absolute`` after login (12 hours)
  whatever happens, at logout, or when its staff account is disabled.
* Unsafe requests carrying the cookie must also carry the CSRF token (``X-CSRF-Token``): an
  HMAC of the session secret, handed to the page at login and in a readable cookie (the
  double-submit pattern). Another site can make the browser send the cookie, but it can read
  neither cookie, so it cannot produce the header.
* Every login, refusal and logout is audited.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from yinxin.access.keys import ApiRole, Principal, Unauthenticated
from yinxin.access.staff import LoginRefused, StaffUsers
from yinxin.clock import Clock
from yinxin.errors import Conflict, ValidationError, YinxinError
from yinxin.identity import validate_mobile
from yinxin.notify.gateways import DeliveryError
from yinxin.signing.intent import RateLimited, challenge_id_of, code_minutes
from yinxin.store import audit
from yinxin.store.db import Database
from yinxin.store.models import Subscriber
from yinxin.store.models.access import RegistrationCode, StaffUser, WebSession

if TYPE_CHECKING:
    from yinxin.signing.intent import IntentConfirmation

log = logging.getLogger(__name__)

SESSION_COOKIE = "yx_session"
CSRF_COOKIE = "yx_csrf"
CSRF_HEADER = "x-csrf-token"
SECRET_PREFIX = "yxs_"
IDLE = dt.timedelta(minutes=30)
ABSOLUTE = dt.timedelta(hours=12)
TOUCH_EVERY = dt.timedelta(seconds=30)  # last_seen_at is written at most this often
LOGIN_PURPOSE = "login"
REGISTRATION_ACTOR = "self-registration"
# registration codes that registered no one are deleted this long after they expired, at most
# this many with each code asked for (``_purge_registration_codes``)
REGISTRATION_CODES_KEPT = dt.timedelta(days=1)
REGISTRATION_PURGE_BATCH = 100


class AccountChoice(Conflict, code="choose_account"):
    """The code was right and its phone is registered for several accounts (a person who is
    also an organization's contact, say): which one to sign in to. Said only to whoever
    typed the code, so the phone's owner; ``choices`` go into the problem answer."""

    def __init__(self, choices: list[dict]):
        super().__init__(
            "this phone is registered for several accounts: send the code again with the "
            "subscriber_id of one of them",
            field="subscriber_id",
        )
        self.problem_extra = {"choices": choices}

    def to_dict(self) -> dict:
        return {**super().to_dict(), **self.problem_extra}


LOGIN_DOCUMENT = "登录印信平台"


class PrincipalKind(StrEnum):
    STAFF = "staff"
    SUBSCRIBER = "subscriber"


@dataclass(frozen=True, slots=True)
class SessionView:
    """A session as its owner may see it (never the secret)."""

    id: int
    kind: PrincipalKind
    role: ApiRole
    name: str
    display_name: str
    staff_user_id: int | None
    subscriber_id: int | None
    organization_id: int | None
    created_at: dt.datetime
    last_seen_at: dt.datetime
    idle_expires_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class OpenedSession:
    """A new session: the cookie's secret and the CSRF token, given out this once."""

    session: SessionView
    secret: str
    csrf_token: str


@dataclass(frozen=True, slots=True)
class LoginCode:
    """A login code was sent (or, for an unknown phone, seems to have been: the answer does not
    tell whether a phone is registered)."""

    challenge_id: str
    sent_to_masked: str
    expires_at: dt.datetime


def _wrong_login_code() -> Unauthenticated:
    """Every refusal of a login code, whatever its reason: the same for any challenge id."""
    return Unauthenticated(
        "wrong or expired code: check it, or ask for a new one",
        field="code",
        code="wrong_code",
    )


def secret_sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def csrf_token(secret: str) -> str:
    """The CSRF token belonging to a session secret (derived, so nothing more is stored)."""
    return hmac.new(secret.encode(), b"yinxin/csrf/v1", hashlib.sha256).hexdigest()


def check_csrf(secret: str, given: str | None) -> bool:
    """Compared as bytes: ``compare_digest`` refuses a ``str`` outside ASCII with a TypeError,
    so a header holding ``²`` (latin-1, as headers are read) was a 500, not a wrong token."""
    return bool(given) and hmac.compare_digest(
        csrf_token(secret).encode(), str(given).encode("utf-8", "surrogatepass")
    )


def login_document_sha256(subscriber_id: int) -> str:
    """What a login code is bound to in the intent machinery (in place of a document)."""
    return hashlib.sha256(f"yinxin/login/v1:{subscriber_id}".encode()).hexdigest()


class Sessions:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        staff: StaffUsers,
        intent: Callable[[], IntentConfirmation],
        *,
        idle: dt.timedelta = IDLE,
        absolute: dt.timedelta = ABSOLUTE,
    ):
        self.db, self.clock, self.staff, self._intent = db, clock, staff, intent
        self.idle, self.absolute = idle, absolute

    # --- logins ---------------------------------------------------------------------------------
    def login_staff(self, username: str, password: str, code: str) -> OpenedSession:
        """Password and TOTP code right: a staff session. A refusal is recorded (counted
        towards the lockout, audited) before it is raised."""
        refusal: YinxinError | None = None
        opened: OpenedSession | None = None
        with self.db.transaction() as s:
            try:
                row = self.staff.check_login(s, username, password, code)
            except LoginRefused as r:
                refusal = r.refusal
            else:
                opened = self._open(
                    s,
                    kind=PrincipalKind.STAFF,
                    role=ApiRole(row.role),
                    name=row.username,
                    display_name=row.display_name,
                    staff_user_id=row.id,
                )
        if refusal is not None:
            raise refusal
        assert opened is not None
        return opened

    def _sharing(self, s: Session, phone: str) -> list[Subscriber]:
        """The accounts (persons and organizations) registered with this mobile phone."""
        q = select(Subscriber).where(
            Subscriber.phone == phone, Subscriber.kind.in_(("person", "organization"))
        )
        return list(s.scalars(q.order_by(Subscriber.id)))

    def request_login_code(
        self,
        phone: str,
        subscriber_id: int | None = None,
        *,
        limited: bool = True,
        later: Callable[[Callable[[], None]], None] | None = None,
    ) -> LoginCode:
        """Send a login code to the phone of the subscriber registered with it (persons and
        organizations). When several share the phone, the code goes to it all the same, and
        which account to open is asked once the code is shown right (``login_subscriber``) —
        not here, where anyone who knows the number could learn who is registered with it
        (``subscriber_id`` narrows the request to that account; the login then names it again).

        The answer is the same whether or not a code is sent, and depends on nothing that
        happens in sending it: its challenge id is chosen first, and the code, sent with that
        id, is sent by ``later`` (the HTTP route's after-the-answer task) when given — so not
        even the time of the answer waits for the SMS provider — or now.

        Rate limited per phone number, registered or not (one a minute, ten an hour, as every
        one-time code is per subscriber): the subscriber's own limit alone would refuse a
        registered phone's second request and answer an unknown one's, telling them apart.
        Where the subscriber's limit still refuses (a signing code sent a moment ago), or the
        SMS cannot be sent, no code is sent under the id answered, and the refusal is audited.
        ``limited=False`` (a registration's first code, for a number just registered) counts
        the request without refusing it."""
        number = validate_mobile(phone, "phone")
        # the same answer for a registered phone and any other: no one learns who is registered
        answer = self._answer(number)
        self._phone_limit(number, answer.challenge_id, refuse=limited)
        with self.db.read() as s:
            ids = [x.id for x in self._sharing(s, number)]
        if subscriber_id is not None:
            ids = [i for i in ids if i == subscriber_id]
        if ids:
            sid = ids[0]  # the first of several: the phone is the same, the choice comes later
            _after_answer(later, functools.partial(self._send_login_code, sid, answer.challenge_id))
        return answer

    def _send_login_code(self, sid: int, challenge_id: str) -> None:
        """Send the login code the answer's ``challenge_id`` stands for."""
        try:
            self._intent().request_code(
                sid,
                purpose=LOGIN_PURPOSE,
                document_sha256=login_document_sha256(sid),
                document_name=LOGIN_DOCUMENT,
                actor=f"subscriber:{sid}",
                challenge_id=challenge_id,
            )
        except (RateLimited, DeliveryError) as e:
            # The subscriber's own limit (audited intent.code_refused), or the SMS could not be
            # sent (the gateway down, the number refused by the provider: intent.code_undelivered
            # with the gateway's error, the send log's failed row). Refusing it would answer a
            # registered phone otherwise than an unknown one, whose request never reaches the
            # gateway: during an outage anyone could sort numbers into registered and not. The
            # id answered opens nothing (the login says wrong_code, as for a stranger's).
            log.warning("login code for subscriber %s not sent: %s", sid, e.code)
        except YinxinError as e:  # after the answer, where no one else would see it
            log.error("login code for subscriber %s not sent: %s", sid, e.code)

    def _phone_limit(self, number: str, challenge_id: str, *, refuse: bool) -> None:
        """Count a login-code request for ``number`` (answered with ``challenge_id``); refused
        (``RateLimited``, in the words of the subscriber's limit) when the number had one less
        than the minimum interval ago or the hour's count is full, whether or not anyone
        registered it. Kept in the database (``login_code_asks``), so every server process on
        it counts the same requests and a restart forgets none: one row per number, keyed by
        its HMAC under the intent secret (the number itself is not written for asking), with
        the ids answered in the hour and when, locked while it is counted. A request whose
        code was written counts from the code's own time (the same, unless the database says
        otherwise)."""
        from sqlalchemy import delete
        from sqlalchemy.dialects import postgresql, sqlite

        from yinxin.store.models.access import LoginCodeAsk
        from yinxin.store.models.notify import IntentChallenge

        intent = self._intent()
        key = intent.binding(f"login-phone:{number}")
        hour = dt.timedelta(hours=1)
        refusal: RateLimited | None = None
        with self.db.transaction() as s:
            now = self.clock.now()
            dialect = postgresql if self.db.engine.dialect.name == "postgresql" else sqlite
            s.execute(  # the number's row, made if it is new; then locked (PostgreSQL)
                dialect.insert(LoginCodeAsk)
                .values(phone_key=key, asked="[]", updated_at=now)
                .on_conflict_do_nothing(index_elements=["phone_key"])
            )
            row = s.execute(
                select(LoginCodeAsk).where(LoginCodeAsk.phone_key == key).with_for_update()
            ).scalar_one()
            asked = [(cid, dt.datetime.fromisoformat(at)) for cid, at in json.loads(row.asked)]
            written: dict[str, dt.datetime] = {}
            if asked:
                rows = s.execute(
                    select(IntentChallenge.id, IntentChallenge.created_at).where(
                        IntentChallenge.id.in_([cid for cid, _ in asked])
                    )
                )
                written = {cid: at for cid, at in rows}
            kept = sorted(
                (
                    (cid, written.get(cid, at))
                    for cid, at in asked
                    if now - hour < written.get(cid, at) <= now
                ),
                key=lambda x: x[1],
            )
            refusal = intent.limit([at for _, at in kept], now) if refuse else None
            if refusal is None:
                kept.append((challenge_id, now))
            row.asked = json.dumps([[cid, at.isoformat()] for cid, at in kept])
            row.updated_at = now
            # the numbers no one asked for in the hour are forgotten
            s.execute(
                delete(LoginCodeAsk).where(
                    LoginCodeAsk.updated_at <= now - hour, LoginCodeAsk.phone_key != key
                )
            )
        if refusal is not None:
            raise refusal

    def _answer(self, number: str) -> LoginCode:
        """The answer to a login-code request, whoever has the number: a fresh challenge id
        (32 hex digits; a code sent for it takes it, else no code opens it and the login answers
        ``wrong_code``), the phone masked, the expiry a code's (``YINXIN_OTP_TTL_SECONDS``
        from now)."""
        masked = number[:3] + "****" + number[-4:]
        expires = self.clock.now() + self._intent().ttl
        return LoginCode(secrets.token_hex(16), masked, expires)

    # --- self-registration: the phone proven first ---------------------------------------------
    def request_registration_code(
        self, phone: str, *, later: Callable[[Callable[[], None]], None] | None = None
    ) -> LoginCode:
        """The first step of the public self-registration: prove the mobile number to register
        with. Answered as a login code is (``request_login_code``), the same whether or not the
        number is registered — a fresh challenge id, the number masked, the expiry — and limited
        per number in the same count as login codes (one a minute, ten an hour). Sent by
        ``later`` (the route's after-the-answer task) when given, or now:

        * to a number no one is registered with, a registration code (``registration_code``)
          for the id answered, which the registration must be given (``registration_proof``);
        * to a registered number, no code: the ``registration_registered`` SMS tells its holder
          the number is registered and to log in instead; the id answered opens nothing (the
          registration says ``wrong_code``, as for a wrong code).

        An SMS that cannot be sent changes nothing in the answer either: audited
        ``registration.code_undelivered`` (and logged) for the operator, the code dead."""
        number = validate_mobile(phone, "phone")
        answer = self._answer(number)
        self._phone_limit(number, answer.challenge_id, refuse=True)
        _after_answer(later, functools.partial(self._send_registration_code, number, answer))
        return answer

    def _registration_binding(self, number: str) -> str:
        return self._intent().binding(f"yinxin/registration-phone/v1:{number}")

    def _registration_hash(self, challenge_id: str, binding: str, code: str) -> str:
        return self._intent().binding(
            f"yinxin/registration-code/v1:{challenge_id}:{binding}:{code}"
        )

    def _send_registration_code(self, number: str, answer: LoginCode) -> None:
        """Send what the answer ``answer`` stands for (after it, where no one else would see a
        failure: logged and audited for the operator)."""
        try:
            self._send_registration_sms(number, answer)
        except YinxinError as e:
            log.error("registration SMS to %s not sent: %s", answer.sent_to_masked, e.code)

    def _send_registration_sms(self, number: str, answer: LoginCode) -> None:
        from yinxin.notify.service import Outgoing, Status
        from yinxin.notify.templates import REGISTRATION_CODE, REGISTRATION_REGISTERED

        intent = self._intent()
        cid, masked = answer.challenge_id, answer.sent_to_masked
        with self.db.read() as s:
            holders = [x.id for x in self._sharing(s, number)]
        now = self.clock.now()
        row: RegistrationCode | None = None
        if holders:
            action = "registration.code_withheld"
            data: dict = {
                "reason": "phone_registered",
                "sent_to": masked,
                "subscriber_id": holders[0],
            }
            message = Outgoing(
                "sms", number, REGISTRATION_REGISTERED, {"phone": masked}, holders[0]
            )
        else:
            code = f"{secrets.randbelow(10**6):06d}"
            binding = self._registration_binding(number)
            row = RegistrationCode(
                id=cid,
                phone_binding=binding,
                sent_to_masked=masked,
                code_hash=self._registration_hash(cid, binding, code),
                state="pending",
                failed_attempts=0,
                created_at=now,
                expires_at=answer.expires_at,
            )
            action = "registration.code_requested"
            data = {"sent_to": masked, "expires_at": answer.expires_at.isoformat()}
            minutes = code_minutes(intent.ttl.total_seconds())
            message = Outgoing("sms", number, REGISTRATION_CODE, {"code": code, "minutes": minutes})
        with self.db.transaction() as s:
            self._purge_registration_codes(s, now)
            if row is not None:
                s.add(row)
            self._audit_registration(s, now, action, cid, data)
        error: str | None = None
        try:
            sent = intent.notifier.send(message)
            if sent.status != Status.SENT:
                error = sent.error or str(sent.status)
        except YinxinError as e:
            error = e.code
        if error is None:
            return
        # the gateway down, the number refused: the operator's to see, not the caller's (an
        # answer that said so would tell a registered number from another during an outage)
        log.warning("registration SMS to %s not sent: %s", masked, error)
        with self.db.transaction() as s:
            dead = s.get(RegistrationCode, cid)
            if dead is not None and dead.state == "pending":
                dead.state = "dead"
            data = {"sent_to": masked, "error": error, "template": message.template_id}
            self._audit_registration(
                s, self.clock.now(), "registration.code_undelivered", cid, data
            )

    def _purge_registration_codes(self, s: Session, now: dt.datetime) -> None:
        """Delete the codes that registered no one (pending, dead, or taken by a registration
        that never finished) a day (``REGISTRATION_CODES_KEPT``) after they expired, when
        nothing can open them any more: at most ``REGISTRATION_PURGE_BATCH`` each time a code is
        asked for, in its transaction, so the table holds about a day's requests plus the codes
        that registered someone — kept, as how each of those subscribers proved the phone. The
        audit log keeps every code's events. The query reads the codes of no subscriber by
        expiry (``ix_registration_codes_subscriber_id_expires_at``, migration 0031), never the
        codes kept."""
        from sqlalchemy import delete

        stale = (
            select(RegistrationCode.id)
            .where(
                RegistrationCode.subscriber_id.is_(None),
                RegistrationCode.expires_at <= now - REGISTRATION_CODES_KEPT,
            )
            .limit(REGISTRATION_PURGE_BATCH)
        )
        s.execute(delete(RegistrationCode).where(RegistrationCode.id.in_(stale)))

    @contextmanager
    def registration_proof(
        self, challenge_id: str, code: str, phone: str
    ) -> Iterator[Callable[[Session, int], OpenedSession]]:
        """The second step of the public self-registration: the code sent for ``challenge_id``
        to ``phone``, right and in time, proves the caller holds the number. Anything else — an
        id no code was sent for (a registered number's, a guess), another number, a wrong code
        (counted: the fifth kills it), an expired or used one — is the login's ``401
        wrong_code``, audited ``registration.confirm_failed`` with the reason.

        The code is taken for the block (a second registration with it is refused), and given
        back if the block raises — a refusal of the registration itself (``409
        phone_registered``, ``duplicate``, ``422``), which the caller may now be told, since it
        holds the number: the code still works for a corrected form. The block registers and
        calls what this yields in the registering transaction, with its session and the new
        subscriber's id (``Subscribers.add_person``'s ``within``): it marks the code used by it,
        audits ``registration.code_used`` and opens the subscriber's session there, so the
        registration, the code's use and the session are written together or not at all — a
        failure of any rolls back the subscriber too, and the code is given back."""
        cid = challenge_id_of(challenge_id)
        given = str(code or "").strip()
        number = validate_mobile(phone, "phone")
        binding = self._registration_binding(number)
        now = self.clock.now()
        reason: str | None = None
        with self.db.transaction() as s:
            row = s.execute(
                select(RegistrationCode).where(RegistrationCode.id == cid).with_for_update()
            ).scalar_one_or_none()
            if row is None:
                reason = "no_challenge"
            elif row.phone_binding != binding:
                reason = "wrong_phone"
            elif row.state != "pending":
                reason = {"used": "code_used", "dead": "challenge_dead"}.get(row.state, row.state)
            elif now >= row.expires_at:
                reason = "code_expired"
            elif not hmac.compare_digest(
                row.code_hash, self._registration_hash(cid, binding, given)
            ):
                row.failed_attempts += 1
                reason = "wrong_code"
                if row.failed_attempts >= self._intent().max_failures:
                    row.state, reason = "dead", "challenge_dead"
            else:
                row.state, row.used_at = "used", now
            if reason is not None:
                data = {"reason": reason, "failed_attempts": row.failed_attempts if row else None}
                self._audit_registration(
                    s, now, "registration.confirm_failed", cid or "(empty)", data
                )
        if reason is not None:
            raise _wrong_login_code()

        def proven(s: Session, subscriber_id: int) -> OpenedSession:
            taken = s.get(RegistrationCode, cid)
            assert taken is not None
            taken.subscriber_id = subscriber_id
            data = {"subscriber_id": subscriber_id, "sent_to": taken.sent_to_masked}
            self._audit_registration(s, self.clock.now(), "registration.code_used", cid, data)
            return self._open_subscriber(s, subscriber_id)

        try:
            yield proven
        except BaseException:
            with self.db.transaction() as s:
                taken = s.get(RegistrationCode, cid)
                if taken is not None and taken.subscriber_id is None:
                    taken.state, taken.used_at = "pending", None
            raise

    def _audit_registration(
        self, s: Session, now: dt.datetime, action: str, challenge_id: str, data: dict
    ) -> None:
        audit.event(
            s, now, REGISTRATION_ACTOR, action, challenge_id, data, subject_type="registration_code"
        )

    def login_subscriber(
        self, challenge_id: str, code: str, subscriber_id: int | None = None
    ) -> OpenedSession:
        """The right code for a login challenge: a session scoped to that subscriber (an
        organization with its people, or a person alone). When the phone the code went to is
        registered for several accounts, the right code without ``subscriber_id`` is answered
        with the accounts to choose from (:class:`AccountChoice`; the code stays good until it
        expires), and with one of them it opens that one."""
        from yinxin.store.models.notify import IntentChallenge

        intent = self._intent()
        cid = challenge_id_of(challenge_id)
        with self.db.read() as s:
            ch = s.get(IntentChallenge, cid)
            sid = ch.subscriber_id if ch is not None and ch.purpose == LOGIN_PURPOSE else None
            anchor = s.get(Subscriber, sid) if sid is not None else None
            sharing = self._sharing(s, anchor.phone) if anchor is not None else []
        if sid is None:
            # no login code has this id (an unknown phone's answer, or a guess): written down
            # as a wrong code on a real one is, so the operator sees the guessing and the answer
            # takes the same one write
            with self.db.transaction() as s:
                audit.record(
                    s,
                    at=self.clock.now(),
                    actor="anonymous",
                    action="intent.confirm_failed",
                    subject_type="intent_challenge",
                    subject_id=cid or "(empty)",
                    data={"reason": "no_challenge", "purpose": LOGIN_PURPOSE},
                )
            raise _wrong_login_code()
        doc = login_document_sha256(sid)
        actor = f"subscriber:{sid}"
        # checked first (a wrong code counts), used up only with the session it opens
        try:
            intent.check_code(
                cid,
                code,
                subscriber_id=sid,
                document_sha256=doc,
                purpose=LOGIN_PURPOSE,
                actor=actor,
            )
        except YinxinError:
            # wrong (so many more tries), dead, expired or used: said so, it would tell a
            # registered phone's challenge from the one an unknown phone is answered with,
            # which no code opens. The reason is audited (intent.confirm_failed).
            raise _wrong_login_code() from None
        accounts = {x.id for x in sharing} | {sid}  # the code's own, whatever its phone is now
        chosen = sid if subscriber_id is None and len(accounts) == 1 else subscriber_id
        if chosen is None:
            raise AccountChoice(
                [{"subscriber_id": x.id, "kind": x.kind, "name": x.name} for x in sharing]
            )
        if chosen not in accounts:
            raise ValidationError(
                f"subscriber {chosen} is not registered with this phone", field="subscriber_id"
            )
        with self.db.transaction() as s:
            intent.consume_code(
                cid,
                code,
                subscriber_id=sid,
                document_sha256=doc,
                purpose=LOGIN_PURPOSE,
                session=s,
                by="web-login",
                actor=actor,
            )
            return self._open_subscriber(s, chosen)

    def _open_subscriber(self, s: Session, sid: int) -> OpenedSession:
        """A subscriber's session, scoped to it (an organization with its people, or a person
        alone)."""
        sub = s.get(Subscriber, sid)
        assert sub is not None
        return self._open(
            s,
            kind=PrincipalKind.SUBSCRIBER,
            role=ApiRole.SUBSCRIBER,
            name=sub.name,
            display_name=sub.name,
            subscriber_id=sub.id,
            organization_id=sub.id,
        )

    def _open(
        self,
        s: Session,
        *,
        kind: PrincipalKind,
        role: ApiRole,
        name: str,
        display_name: str,
        staff_user_id: int | None = None,
        subscriber_id: int | None = None,
        organization_id: int | None = None,
    ) -> OpenedSession:
        now = self.clock.now()
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        row = WebSession(
            secret_sha256=secret_sha256(secret),
            kind=kind,
            role=role,
            name=name[:200],
            staff_user_id=staff_user_id,
            subscriber_id=subscriber_id,
            organization_id=organization_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + self.absolute,
        )
        s.add(row)
        s.flush()
        actor = f"staff:{name}" if kind == PrincipalKind.STAFF else f"subscriber:{subscriber_id}"
        data = {"kind": str(kind), "role": str(role), "expires_at": row.expires_at.isoformat()}
        self._audit(s, now, actor, "session.opened", row, data)
        return OpenedSession(self._view(row, display_name), secret, csrf_token(secret))

    # --- use ------------------------------------------------------------------------------------
    def authenticate(self, secret: str | None) -> Principal:
        """The principal a session cookie stands for; refused when unknown, idle too long,
        past its end, logged out, or its staff account disabled."""
        return _principal(self._touch(self._live(secret)))

    def current(self, secret: str | None) -> SessionView:
        """The session, as its page shows it; asking counts as activity."""
        row = self._touch(self._live(secret))
        display = row.name
        if row.staff_user_id is not None:
            with self.db.read() as s:
                staff = s.get(StaffUser, row.staff_user_id)
                display = staff.display_name if staff else row.name
        return self._view(row, display)

    def logout(self, secret: str | None) -> None:
        """End the session at once (nothing happens for an unknown or ended one)."""
        if not secret or not secret.startswith(SECRET_PREFIX):
            return
        now = self.clock.now()
        with self.db.transaction() as s:
            row = s.execute(
                select(WebSession)
                .where(WebSession.secret_sha256 == secret_sha256(secret))
                .with_for_update()
            ).scalar_one_or_none()
            if row is None or row.revoked_at is not None:
                return
            row.revoked_at = now
            self._audit(s, now, _principal(row).actor, "session.closed", row, {"kind": row.kind})

    def end_subscriber_sessions(
        self, s: Session, subscriber_id: int, *, keep: int | None, reason: str, actor: str
    ) -> int:
        """In the caller's transaction (a change of the registered phone): end every open
        session of the subscriber but ``keep`` (the session making the change), each audited
        ``session.closed`` with ``reason`` as done by ``actor`` (who made the change). The
        number ended."""
        now = self.clock.now()
        rows = (
            s.execute(
                select(WebSession)
                .where(
                    WebSession.subscriber_id == subscriber_id,
                    WebSession.revoked_at.is_(None),
                    WebSession.expires_at > now,
                )
                .with_for_update()
            )
            .scalars()
            .all()
        )
        ended = 0
        for row in rows:
            if row.id == keep:
                continue
            row.revoked_at = now
            self._audit(s, now, actor, "session.closed", row, {"kind": row.kind, "reason": reason})
            ended += 1
        return ended

    def _touch(self, row: WebSession) -> WebSession:
        """Note the activity (at most every ``TOUCH_EVERY``, to spare the database a write per
        request): the idle limit counts from the last one."""
        now = self.clock.now()
        if now - row.last_seen_at >= TOUCH_EVERY:
            with self.db.transaction() as s:
                live = s.get(WebSession, row.id)
                if live is not None and live.last_seen_at < now:
                    live.last_seen_at = now
            row.last_seen_at = now
        return row

    def _live(self, secret: str | None) -> WebSession:
        if not secret or not secret.startswith(SECRET_PREFIX) or len(secret) > 100:
            raise Unauthenticated("please sign in", field="session", code="unauthenticated")
        now = self.clock.now()
        with self.db.read() as s:
            row = s.execute(
                select(WebSession).where(WebSession.secret_sha256 == secret_sha256(secret))
            ).scalar_one_or_none()
            if row is None or row.revoked_at is not None:
                raise Unauthenticated("please sign in", field="session", code="unauthenticated")
            if now >= row.expires_at or now - row.last_seen_at >= self.idle:
                raise Unauthenticated(
                    "the session has expired; please sign in again",
                    field="session",
                    code="session_expired",
                )
            if row.staff_user_id is not None:
                staff = s.get(StaffUser, row.staff_user_id)
                if staff is None or staff.disabled_at is not None:
                    raise Unauthenticated("please sign in", field="session", code="unauthenticated")
            s.expunge(row)
            return row

    def _view(self, row: WebSession, display_name: str) -> SessionView:
        return SessionView(
            row.id,
            PrincipalKind(row.kind),
            ApiRole(row.role),
            row.name,
            display_name,
            row.staff_user_id,
            row.subscriber_id,
            row.organization_id,
            row.created_at,
            row.last_seen_at,
            min(row.last_seen_at + self.idle, row.expires_at),
            row.expires_at,
        )

    @staticmethod
    def _audit(
        s: Session, now: dt.datetime, actor: str, action: str, row: WebSession, data: dict
    ) -> None:
        audit.event(s, now, actor, action, row.id, data, subject_type="web_session")


def _principal(row: WebSession) -> Principal:
    staff = row.kind == PrincipalKind.STAFF
    return Principal(
        key_id=0,
        prefix="session",
        name=row.name,
        role=ApiRole(row.role),
        organization_id=row.organization_id,
        session_id=row.id,
        subscriber_id=row.subscriber_id,
        staff_username=row.name if staff else None,
    )


def _after_answer(
    later: Callable[[Callable[[], None]], None] | None, send: Callable[[], None]
) -> None:
    """``send`` by ``later`` (the HTTP route's after-the-answer task) when given, else now."""
    if later is None:
        send()
    else:
        later(send)
