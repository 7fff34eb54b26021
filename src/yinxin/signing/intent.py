"""Intent confirmation (意愿认证): a one-time code to the registered phone before each signature.

The code is sent once and kept nowhere: the challenge row holds only
``HMAC-SHA256(K, salt ‖ challenge ‖ subscriber ‖ purpose ‖ document ‖ code)`` where ``K`` is
derived from a random secret in ``<home>/intent.key`` (mode 0600). A six-digit code has only a
million values, so a plain or salted hash could be brute-forced from a database copy; with the
server-side key it cannot. The hash binds the code to one subscriber, purpose and document.

A correct code does not sign anything by itself: ``confirm`` turns the challenge into a one-time
confirmation token that the signing service ``consume``\\s inside its own transaction, so one
confirmation authorises exactly one signature, and a signature that fails to commit gives the
confirmation back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from yinxin.clock import Clock
from yinxin.errors import (
    ConfigurationError,
    Conflict,
    Forbidden,
    NotFound,
    ValidationError,
    YinxinError,
)
from yinxin.identity import refuse_hidden
from yinxin.notify.gateways import DeliveryError
from yinxin.notify.service import (
    NotificationView,
    Notifier,
    Outgoing,
    Status,
    mask_recipient,
)
from yinxin.notify.templates import (
    CERTIFICATE_KEY_CODE,
    EMAIL_CHANGE_CODE,
    EMAIL_CHANGE_CURRENT_CODE,
    EMAIL_CONFIRM_CODE,
    LOGIN_CODE,
    ONE_TIME_CODE,
    PHONE_CHANGE_CODE,
    PHONE_CHANGE_CURRENT_CODE,
)
from yinxin.store import audit
from yinxin.store.db import Database
from yinxin.store.models import Subscriber
from yinxin.store.models.notify import IntentChallenge
from yinxin.transitions import TransitionTable, move

KEY_FILE = "intent.key"
CODE_DIGITS = 6
SUBJECT = "intent_challenge"
T = TypeVar("T")
PURPOSE = re.compile(r"[a-z][a-z0-9_.-]{0,39}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
PHONE_CHANGE = "phone_change"  # the purpose of a code proving a new mobile number is held
PHONE_CHANGE_CURRENT = "phone_change_current"  # …and of one proving the registered one still is
CERTIFICATE_KEY = "certificate_key"  # a holder's own rekey or reissue of a certificate
EMAIL_CHANGE = "email_change"  # a code, sent by e-mail, proving a new address is read
EMAIL_CHANGE_CURRENT = "email_change_current"  # …and one proving the registered one still is


class RateLimited(YinxinError):
    """Too many codes asked for; ``retry_after`` says in how many seconds one will be sent."""

    http_status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None):
        super().__init__(message, field=field)
        self.retry_after = retry_after

    def to_dict(self) -> dict:
        return {**super().to_dict(), "retry_after": self.retry_after}


class ChallengeState(StrEnum):
    """Where a one-time code stands (equal to the string stored in its challenge row)."""

    NONE = "none"  # before the challenge exists: what ``request`` starts from
    PENDING = "pending"  # sent, waiting for the code
    CONFIRMED = "confirmed"  # the right code came: a confirmation token is out
    CONSUMED = "consumed"  # the token authorised its one signature
    DEAD = "dead"  # never delivered, or too many wrong codes
    EXPIRED = "expired"  # the code came too late


_C = ChallengeState
LIFECYCLE = TransitionTable(
    "intent challenge",
    "code",
    hold_state=None,  # a challenge is never on hold
    moves=[
        move("request", "send a code", {_C.NONE}, _C.PENDING, creates=True),
        move("confirm", "the right code", {_C.PENDING}, _C.CONFIRMED),
        move("consume", "sign with the confirmation", {_C.CONFIRMED}, _C.CONSUMED),
        move("kill", "undelivered, or too many wrong codes", {_C.PENDING}, _C.DEAD),
        move("expire", "too late", {_C.PENDING, _C.EXPIRED}, _C.EXPIRED),
    ],
)


def _move(ch: IntentChallenge, verb: str) -> None:
    ch.state = LIFECYCLE.check(verb, ch.state or _C.NONE, None, str(ch.id)).to_state


@dataclass(frozen=True)
class Challenge:
    """A code sent for one document: the id to confirm it with, and where it went (masked)."""

    challenge_id: str
    expires_at: dt.datetime
    sent_to_masked: str
    purpose: str
    document_sha256: str


@dataclass(frozen=True)
class Confirmation:
    """A right code: the one-time token the signing service consumes, for this document."""

    challenge_id: str
    confirmation_token: str
    token_expires_at: dt.datetime
    subscriber_id: int
    purpose: str
    document_sha256: str
    document_name: str
    confirmed_at: dt.datetime


@dataclass(frozen=True)
class Consumption:
    """A confirmation used up by the signature it authorised."""

    challenge_id: str
    subscriber_id: int
    purpose: str
    document_sha256: str
    document_name: str
    confirmed_at: dt.datetime | None
    consumed_at: dt.datetime


def _view(cls: type[T], ch: IntentChallenge, **given: object) -> T:
    """A result about the challenge: ``cls``'s fields from the row's columns of the same names
    (its ``challenge_id`` from ``id``), but for those ``given``."""
    names = {f.name for f in fields(cls)} - given.keys() - {"challenge_id"}  # type: ignore[arg-type]
    return cls(challenge_id=ch.id, **{n: getattr(ch, n) for n in names}, **given)


def _about(ch: IntentChallenge) -> dict:
    """What every audit event about a challenge names: whose, for what and which document."""
    return {
        "subscriber_id": ch.subscriber_id,
        "purpose": ch.purpose,
        "document_sha256": ch.document_sha256,
    }


def _audit(
    s: Session,
    now: dt.datetime,
    actor: str,
    action: str,
    subject_id: int | str,
    data: dict,
    kind: str = SUBJECT,
) -> None:
    audit.record(
        s, at=now, actor=actor, action=action, subject_type=kind, subject_id=subject_id, data=data
    )


def _locked(s: Session, model: type[T], where: ColumnElement[bool]) -> T | None:
    """The row ``where`` picks, locked until the transaction ends (None if there is none)."""
    return s.execute(select(model).where(where).with_for_update()).scalar_one_or_none()


def challenge_id_of(value: object, field: str = "challenge_id") -> str:
    """A challenge id as given (its first 60 characters: no id is longer), to look up; one
    with a control character (a NUL, which PostgreSQL refuses even in a query, failing it where
    SQLite found no row) names no challenge and is refused naming ``field`` before the query."""
    return refuse_hidden(str(value or "")[:60], field)


def _check_purpose(purpose: str) -> str:
    p = (purpose or "").strip()
    if not PURPOSE.fullmatch(p):
        raise ValidationError(
            "purpose must be a short lower-case word such as 'sign'", field="purpose"
        )
    return p


def _check_sha256(value: str) -> str:
    v = (value or "").strip().lower()
    if not SHA256_HEX.fullmatch(v):
        raise ValidationError(
            "document_sha256 must be 64 hexadecimal digits", field="document_sha256"
        )
    return v


def _check_document_name(name: str) -> str:
    """The name goes into an SMS the signer confirms: one line, short enough for one message,
    and nothing hidden — a control character, a line break or tab, a bidi override (U+202E
    shows ``fdp.exe`` as ``exe.pdf``) or a zero-width character is refused, not folded away,
    so the signer reads the name that was given. Runs of spaces are made one."""
    refuse_hidden(name or "", "document_name")
    v = " ".join((name or "").split())
    if not v or len(v) > 60:
        raise ValidationError(
            "document_name must be 1–60 printable characters", field="document_name"
        )
    return v


def code_minutes(ttl_seconds: float) -> int:
    """A code's life in whole minutes, as its SMS and the login page say it (rounded up,
    at least 1): ``YINXIN_OTP_TTL_SECONDS`` 300 is 5, 600 is 10, 90 is 2."""
    return max(1, math.ceil(ttl_seconds / 60))


def manifest_sha256(documents: Sequence[tuple[str, str]]) -> str:
    """The SHA-256 of a batch's manifest: the ordered list of its documents' names and SHA-256,
    as canonical JSON (``[["合同A.pdf","<hex>"],…]``, UTF-8, no spaces). One code is bound to
    this hash the way a single document's code is bound to the document's own hash, so the code
    confirms exactly this list, in this order, and no other."""
    entries = [[str(name), _check_sha256(digest)] for name, digest in documents]
    text = json.dumps(entries, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class IntentConfirmation:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        notifier: Notifier,
        home: str | Path,
        *,
        ttl_seconds: int = 300,
        token_ttl_seconds: int = 300,
        max_failures: int = 5,
        min_interval_seconds: int = 60,
        max_per_hour: int = 10,
        secret: bytes | None = None,
    ):
        self.db, self.clock, self.notifier = db, clock, notifier
        self.key_path = Path(home) / KEY_FILE
        self.ttl = dt.timedelta(seconds=ttl_seconds)
        self.token_ttl = dt.timedelta(seconds=token_ttl_seconds)
        self.max_failures = max_failures
        self.min_interval = dt.timedelta(seconds=min_interval_seconds)
        self.max_per_hour = max_per_hour
        self._hmac_key = self._derive(secret) if secret is not None else None

    # --- the server-side secret -----------------------------------------------------------------
    @staticmethod
    def _derive(secret: bytes) -> bytes:
        if len(secret) < 32:
            raise ConfigurationError(
                "the intent secret must be at least 32 bytes", field="intent_key"
            )
        return hmac.new(secret, b"yinxin/intent-code/v1", hashlib.sha256).digest()

    def _key(self) -> bytes:
        if self._hmac_key is None:
            self._hmac_key = self._derive(self._load_or_create_secret())
        return self._hmac_key

    def _load_or_create_secret(self) -> bytes:
        path = self.key_path
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{KEY_FILE}.{secrets.token_hex(8)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, (secrets.token_hex(32) + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                # link() fails if another process won the race; then everyone uses its key.
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigurationError(
                f"{path} must be readable by its owner only (chmod 600)", field="intent_key"
            )
        text = path.read_text("ascii").strip()
        try:
            secret = bytes.fromhex(text)
        except ValueError:
            secret = b""
        if len(secret) < 32:
            raise ConfigurationError(
                f"{path} does not hold a 32-byte hexadecimal secret", field="intent_key"
            )
        return secret

    def _hash(
        self,
        salt: bytes,
        challenge_id: str,
        subscriber_id: int,
        purpose: str,
        document_sha256: str,
        code: str,
    ) -> str:
        msg = json.dumps(
            [salt.hex(), challenge_id, subscriber_id, purpose, document_sha256, code],
            separators=(",", ":"),
        ).encode()
        return hmac.new(self._key(), msg, hashlib.sha256).hexdigest()

    def binding(self, text: str) -> str:
        """What a code is bound to when it confirms something that is not a document (a new
        mobile number): 64 hexadecimal digits keyed by the server-side secret, so the audit
        trail and the challenge row, which keep it as ``document_sha256``, do not give the
        text back (an 11-digit number's plain SHA-256 would)."""
        msg = b"yinxin/intent-binding/v1\x00" + text.encode("utf-8")
        return hmac.new(self._key(), msg, hashlib.sha256).hexdigest()

    # --- request --------------------------------------------------------------------------------
    def request_code(
        self,
        subscriber_id: int,
        *,
        purpose: str,
        document_sha256: str,
        document_name: str,
        actor: str | None = None,
        manifest: Sequence[tuple[str, str]] | None = None,
        send_to: str | None = None,
        email_to: str | None = None,
        paired: bool = False,
        codes: int = 1,
        challenge_id: str | None = None,
        first_email: bool = False,
    ) -> Challenge:
        """Send a fresh code to the subscriber's registered phone for this one document.

        For a batch, ``document_sha256`` is the ``manifest_sha256`` of ``manifest`` (the ordered
        names and hashes of its documents; checked here) and ``document_name`` says how many
        documents the code signs. The manifest itself goes into the ``intent.code_requested``
        audit event, so the evidence shows which documents the signer was asked to confirm.

        ``send_to``: a checked mobile number to send the code to instead of the registered one
        — the new number of a phone change, which the holder proves to hold with the code.

        ``email_to``: a checked e-mail address to send the code to by e-mail instead — the new
        address of a holder's own e-mail change, which the holder proves to read with the code.

        ``paired``: the second of two codes one request sends (a phone change's, to the
        registered number after the new one's): the minimum interval since the first is not
        asked of it; the hour's count is.

        ``codes``: how many codes the request this one starts will send (a phone change's two):
        the hour's count must leave room for all of them before the first is sent, so a request
        that would be refused its second code is refused before any SMS goes out.

        ``challenge_id``: the id the challenge is to have (32 fresh hex digits), when the caller
        has already answered with it — a login code, sent after its answer
        (``access.sessions``); otherwise a fresh one.

        ``first_email``: an e-mail change's code to a holder with no address registered yet
        (the one given at registration): sent with the wording that registers the address
        (``email_confirm_code``), not the one that changes it."""
        purpose = _check_purpose(purpose)
        if challenge_id is not None and not re.fullmatch(r"[0-9a-f]{32}", challenge_id):
            raise ValidationError("a challenge id is 32 hex digits", field="challenge_id")
        doc = _check_sha256(document_sha256)
        name = _check_document_name(document_name)
        listed: list[dict[str, str]] | None = None
        if manifest is not None:
            if not manifest or manifest_sha256(manifest) != doc:
                raise ValidationError(
                    "document_sha256 must be the SHA-256 of the batch's manifest",
                    field="document_sha256",
                )
            listed = [{"name": str(n), "sha256": h} for n, h in manifest]
        actor = actor or f"subscriber:{subscriber_id}"
        self._key()  # create or read the key file before any transaction starts
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        cid = challenge_id or secrets.token_hex(16)
        salt = secrets.token_bytes(16)
        now = self.clock.now()
        refusal: YinxinError | None = None
        with self.db.transaction() as s:
            # Locking the subscriber row serialises concurrent requests, so the rate limit holds
            # on PostgreSQL too (SQLite serialises writers already).
            sub = _locked(s, Subscriber, Subscriber.id == subscriber_id)
            if sub is None:
                raise NotFound(f"no subscriber with id {subscriber_id}", field="subscriber_id")
            if not sub.phone and send_to is None and email_to is None:
                refusal = ValidationError(
                    "the subscriber has no registered mobile phone, so no code can be sent; "
                    "register one first",
                    field="phone",
                    code="no_phone",
                )
            else:
                refusal = self._rate_limit(s, subscriber_id, now, interval=not paired, codes=codes)
            if refusal is not None:
                data = {"reason": refusal.code, "purpose": purpose, "document_sha256": doc}
                _audit(s, now, actor, "intent.code_refused", subscriber_id, data, "subscriber")
            else:
                channel = "sms" if email_to is None else "email"
                phone = email_to or send_to or sub.phone
                masked = mask_recipient(channel, phone)
                ch = IntentChallenge(
                    id=cid,
                    subscriber_id=subscriber_id,
                    purpose=purpose,
                    document_sha256=doc,
                    document_name=name,
                    sent_to_masked=masked,
                    salt=salt,
                    code_hash=self._hash(salt, cid, subscriber_id, purpose, doc, code),
                    failed_attempts=0,
                    created_at=now,
                    expires_at=now + self.ttl,
                )
                _move(ch, "request")
                s.add(ch)
                s.flush()
                data = {
                    **_about(ch),
                    "document_name": name,
                    "sent_to": masked,
                    "expires_at": ch.expires_at.isoformat(),
                }
                if listed is not None:
                    data |= {"documents": len(listed), "manifest": listed}
                _audit(s, now, actor, "intent.code_requested", cid, data)
        if refusal is not None:
            raise refusal

        minutes = code_minutes(self.ttl.total_seconds())
        sent: NotificationView | None = None
        try:
            # a login code has its own wording: it confirms no signature
            if purpose == "login":
                template, values = LOGIN_CODE, {"code": code, "minutes": minutes}
            elif purpose == PHONE_CHANGE:
                template, values = PHONE_CHANGE_CODE, {"code": code, "minutes": minutes}
            elif purpose == EMAIL_CHANGE:
                template = EMAIL_CONFIRM_CODE if first_email else EMAIL_CHANGE_CODE
                values = {"code": code, "minutes": minutes}
            elif purpose == EMAIL_CHANGE_CURRENT:
                template = EMAIL_CHANGE_CURRENT_CODE
                values = {"code": code, "minutes": minutes, "document": name}
            elif purpose == PHONE_CHANGE_CURRENT:
                template = PHONE_CHANGE_CURRENT_CODE
                values = {"code": code, "minutes": minutes, "document": name}
            elif purpose == CERTIFICATE_KEY:
                template = CERTIFICATE_KEY_CODE
                values = {"code": code, "minutes": minutes, "document": name}
            else:
                template = ONE_TIME_CODE
                values = {"code": code, "minutes": minutes, "document": name}
            sent = self.notifier.send(Outgoing(channel, phone, template, values, subscriber_id))
        finally:
            self._after_send(
                cid,
                sent,
                actor,
                new_number=masked if send_to else None,
                new_email=masked if email_to and purpose != EMAIL_CHANGE_CURRENT else None,
                current_email=masked if email_to and purpose == EMAIL_CHANGE_CURRENT else None,
            )
        return Challenge(cid, now + self.ttl, masked, purpose, doc)

    def withdraw_pending(self, s: Session, subscriber_id: int, *, reason: str, actor: str) -> int:
        """In the caller's transaction (a change of the registered phone): every code of the
        subscriber still waiting to be typed dies, audited ``intent.code_withdrawn`` — it went
        to a number no longer registered, perhaps the lost or stolen phone the change is
        about. The number withdrawn."""
        now = self.clock.now()
        rows = (
            s.execute(
                select(IntentChallenge)
                .where(
                    IntentChallenge.subscriber_id == subscriber_id,
                    IntentChallenge.state == _C.PENDING,
                )
                .with_for_update()
            )
            .scalars()
            .all()
        )
        for ch in rows:
            _move(ch, "kill")
            _audit(s, now, actor, "intent.code_withdrawn", ch.id, {**_about(ch), "reason": reason})
        return len(rows)

    def _rate_limit(
        self,
        s: Session,
        subscriber_id: int,
        now: dt.datetime,
        *,
        interval: bool = True,
        codes: int = 1,
    ) -> RateLimited | None:
        """The minimum interval since the last code (unless ``interval`` is false: the second
        code of a pair) and room in the hour for ``codes`` more codes."""
        hour = dt.timedelta(hours=1)
        times = (
            s.execute(
                select(IntentChallenge.created_at)
                .where(
                    IntentChallenge.subscriber_id == subscriber_id,
                    IntentChallenge.created_at > now - hour,
                )
                .order_by(IntentChallenge.created_at)
            )
            .scalars()
            .all()
        )
        return self.limit(times, now, interval=interval, codes=codes)

    def limit(
        self,
        times: Sequence[dt.datetime],
        now: dt.datetime,
        *,
        interval: bool = True,
        codes: int = 1,
    ) -> RateLimited | None:
        """The refusal, if any, of ``codes`` more codes at ``now`` after codes sent at
        ``times`` (oldest first, the last hour's): the minimum interval since the last one
        (unless ``interval`` is false) and room in the hour. Also what the login-code limit per
        phone number (``access.sessions``) applies, so both refuse in the same words."""
        hour = dt.timedelta(hours=1)
        if interval and times and now - times[-1] < self.min_interval:
            wait = math.ceil((times[-1] + self.min_interval - now).total_seconds())
            return RateLimited(
                f"a code was sent less than {self.min_interval.seconds} s ago; "
                f"try again in {wait} s",
                retry_after=wait,
            )
        if len(times) + codes > self.max_per_hour:
            # room for ``codes`` more once the hour's oldest codes (all but the newest
            # max_per_hour - codes of them) are more than an hour old
            oldest = times[len(times) + codes - 1 - self.max_per_hour]
            wait = max(1, math.ceil((oldest + hour - now).total_seconds()))
            return RateLimited(
                f"at most {self.max_per_hour} codes an hour"
                + (f" (this request sends {codes})" if codes > 1 else "")
                + f"; try again in {wait} s",
                retry_after=wait,
            )
        return None

    def _after_send(
        self,
        cid: str,
        sent: NotificationView | None,
        actor: str,
        *,
        new_number: str | None,
        new_email: str | None = None,
        current_email: str | None = None,
    ) -> None:
        """Record how the code's SMS went; one not sent kills the code and is refused naming
        where it was to go: the registered phone, or ``new_number`` (masked), the new number of
        a phone change, or ``new_email`` (masked, field ``email``), the new address of an e-mail
        change, or ``current_email`` (masked, field ``email``), its registered address — in
        Chinese before the English, as the web shows it."""
        now = self.clock.now()
        with self.db.transaction() as s:
            ch = _locked(s, IntentChallenge, IntentChallenge.id == cid)
            assert ch is not None  # written by request_code, never deleted
            if sent is not None:
                ch.notification_id = sent.id
            if sent is not None and sent.status == Status.SENT:
                return
            _move(ch, "kill")
            data = {
                "notification_id": ch.notification_id,
                "error": sent.error if sent else "not handed to the gateway",
            }
            _audit(s, now, actor, "intent.code_undelivered", cid, data)
        if sent is not None:
            field = "phone"
            if new_email is not None:
                where = f"新邮箱 {new_email}", f"the new e-mail address {new_email}"
                field = "email"
            elif current_email is not None:
                where = f"原邮箱 {current_email}", f"the registered e-mail address {current_email}"
                field = "email"
            elif new_number is not None:
                where = f"新手机号 {new_number}", f"the new phone {new_number}"
            else:
                where = "登记手机号", "the registered phone"
            raise DeliveryError(
                f"验证码未能发送到{where[0]}，请稍后重试 / "
                f"the code could not be sent to {where[1]}; try again later",
                field=field,
            )

    # --- confirm --------------------------------------------------------------------------------
    def confirm(
        self,
        challenge_id: str,
        code: str,
        *,
        subscriber_id: int,
        document_sha256: str,
        actor: str | None = None,
    ) -> Confirmation:
        """Check the code; on success the challenge is used up and a one-time confirmation token
        is returned for the signing service to ``consume``."""
        result = self._judge("confirm", challenge_id, code, subscriber_id, document_sha256, actor)
        assert result is not None
        return result

    def check_code(
        self,
        challenge_id: str,
        code: str,
        *,
        subscriber_id: int,
        document_sha256: str,
        purpose: str | None = None,
        actor: str | None = None,
    ) -> None:
        """Check the code as ``confirm`` does — a wrong one counts and is refused — but leave a
        right one pending: a batch checks the code before it signs anything and uses it up only
        in the transaction that records the signatures (``consume_code``), so a batch that
        fails on its way gives the signer back a code that still works."""
        self._judge(
            "check", challenge_id, code, subscriber_id, document_sha256, actor, purpose=purpose
        )

    def _judge(
        self,
        verb: str,
        challenge_id: str,
        code: str,
        subscriber_id: int,
        document_sha256: str,
        actor: str | None,
        *,
        purpose: str | None = None,
    ) -> Confirmation | None:
        doc = _check_sha256(document_sha256)
        actor = actor or f"subscriber:{subscriber_id}"
        cid = challenge_id_of(challenge_id)
        given = str(code or "").strip()
        self._key()  # read the key file before the transaction starts
        now = self.clock.now()
        result: Confirmation | None = None
        with self.db.transaction() as s:
            ch = _locked(s, IntentChallenge, IntentChallenge.id == cid)
            refusal = self._refusal(ch, given, subscriber_id, doc, purpose, now)
            if refusal is None and verb == "confirm":
                token = secrets.token_urlsafe(32)
                _move(ch, "confirm")
                ch.confirmed_at, ch.token_expires_at = now, now + self.token_ttl
                ch.token_hash = hashlib.sha256(token.encode()).hexdigest()
                _audit(s, now, actor, "intent.confirmed", ch.id, _about(ch))
                result = _view(Confirmation, ch, confirmation_token=token)
            if refusal is not None:
                data = {
                    "reason": refusal.code,
                    "subscriber_id": subscriber_id,
                    "document_sha256": doc,
                    "failed_attempts": ch.failed_attempts if ch else None,
                }
                _audit(s, now, actor, "intent.confirm_failed", cid or "(empty)", data)
        if refusal is not None:
            raise refusal
        return result

    def _refusal(
        self,
        ch: IntentChallenge | None,
        given: str,
        subscriber_id: int,
        doc: str,
        purpose: str | None,
        now: dt.datetime,
    ) -> YinxinError | None:
        """Why the code ``given`` does not confirm the (locked) challenge ``ch`` for this signer
        and document, or None when it does. A wrong code is counted on the row (the fifth kills
        the challenge) and an overdue one is marked expired: the caller commits either."""
        if ch is None:
            return NotFound("no such code request; ask for a new code", field="challenge_id")
        if ch.subscriber_id != subscriber_id:
            return Forbidden(
                "this code was not sent to you", field="challenge_id", code="wrong_subscriber"
            )
        if ch.document_sha256 != doc or (purpose is not None and ch.purpose != purpose):
            return Forbidden(
                "this code was sent for a different document",
                field="document_sha256",
                code="wrong_document",
            )
        if ch.state in (_C.CONFIRMED, _C.CONSUMED):
            return Conflict(
                "this code has been used; ask for a new code", field="code", code="code_used"
            )
        if ch.state == _C.DEAD:
            return Forbidden(
                "this code can no longer be used; ask for a new code",
                field="code",
                code="challenge_dead",
            )
        if ch.state == _C.EXPIRED or now >= ch.expires_at:
            _move(ch, "expire")
            return Forbidden(
                "the code has expired; ask for a new code", field="code", code="code_expired"
            )
        actual = self._hash(ch.salt, ch.id, ch.subscriber_id, ch.purpose, ch.document_sha256, given)
        if hmac.compare_digest(ch.code_hash, actual):
            return None
        ch.failed_attempts += 1
        left = self.max_failures - ch.failed_attempts
        if left <= 0:
            _move(ch, "kill")
            return Forbidden(
                "wrong code, and too many wrong codes: ask for a new code",
                field="code",
                code="challenge_dead",
            )
        return Forbidden(
            f"wrong code; {left} more attempt(s) allowed", field="code", code="wrong_code"
        )

    def consumed_challenge(
        self,
        *,
        subscriber_id: int,
        document_sha256: str,
        token: str | None = None,
        challenge_id: str | None = None,
        code: str | None = None,
    ) -> str | None:
        """The challenge this confirmation (a token, or a challenge id with its right code) used
        up for this signer and document — so a signing retried after a crash or a lost answer
        can be given the signature it already made, instead of a refusal. Reads only."""
        doc = _check_sha256(document_sha256)
        with self.db.read() as s:
            if token:
                digest = hashlib.sha256(token.encode()).hexdigest()
                ch = s.execute(
                    select(IntentChallenge).where(IntentChallenge.token_hash == digest)
                ).scalar_one_or_none()
            elif challenge_id and code:
                ch = s.get(IntentChallenge, challenge_id_of(challenge_id))
                if ch is not None:
                    actual = self._hash(
                        ch.salt,
                        ch.id,
                        ch.subscriber_id,
                        ch.purpose,
                        ch.document_sha256,
                        str(code).strip(),
                    )
                    if not hmac.compare_digest(ch.code_hash, actual):
                        return None
            else:
                return None
            if (
                ch is None
                or ch.state != _C.CONSUMED
                or ch.subscriber_id != subscriber_id
                or ch.document_sha256 != doc
            ):
                return None
            return ch.id

    # --- consume --------------------------------------------------------------------------------
    def consume(
        self,
        token: str,
        *,
        subscriber_id: int,
        document_sha256: str,
        purpose: str | None = None,
        by: str = "signing",
        session: Session | None = None,
    ) -> Consumption:
        """Use a confirmation exactly once. Pass the signing transaction's ``session`` so the
        signature and the consumption commit together (or neither does)."""
        if session is None:
            with self.db.transaction() as s:
                return self._consume(s, token, subscriber_id, document_sha256, purpose, by)
        return self._consume(session, token, subscriber_id, document_sha256, purpose, by)

    def _consume(
        self,
        s: Session,
        token: str,
        subscriber_id: int,
        document_sha256: str,
        purpose: str | None,
        by: str,
    ) -> Consumption:
        doc = _check_sha256(document_sha256)
        digest = hashlib.sha256(str(token or "").encode()).hexdigest()
        now = self.clock.now()
        ch = _locked(s, IntentChallenge, IntentChallenge.token_hash == digest)
        refusal = _token_refusal(ch, subscriber_id, doc, purpose, now)
        if refusal is not None:
            raise refusal
        _move(ch, "consume")
        ch.consumed_at, ch.consumed_by = now, by[:100]
        _audit(s, now, by, "intent.consumed", ch.id, _about(ch))
        return _view(Consumption, ch)

    def checked_proof(
        self,
        challenge_id: str,
        code: str,
        *,
        subscriber_id: int,
        document_sha256: str,
        purpose: str,
        by: str,
        actor: str,
    ) -> Callable[[Session], None]:
        """``check_code`` now — a wrong code is counted and refused before anything else — and
        what uses the code up (``consume_code``) inside the caller's transaction later: the
        proof a holder's phone change or key change carries into its own transaction, so a
        change refused on its way gives the code back."""
        ids = dict(subscriber_id=subscriber_id, document_sha256=document_sha256, purpose=purpose)
        self.check_code(challenge_id, code, actor=actor, **ids)

        def proof(s: Session) -> None:
            self.consume_code(challenge_id, code, session=s, by=by, actor=actor, **ids)

        return proof

    def consume_code(
        self,
        challenge_id: str,
        code: str,
        *,
        subscriber_id: int,
        document_sha256: str,
        purpose: str,
        session: Session,
        by: str = "signing",
        actor: str | None = None,
    ) -> Consumption:
        """Confirm and use up a code in one step, inside the caller's (signing) transaction:
        for a batch that checked the code with ``check_code`` before signing. Any refusal
        (the code expired or was used meanwhile) raises, and the caller's transaction rolls
        back with everything it recorded."""
        doc = _check_sha256(document_sha256)
        actor = actor or f"subscriber:{subscriber_id}"
        now = self.clock.now()
        s = session
        ch = _locked(s, IntentChallenge, IntentChallenge.id == challenge_id_of(challenge_id))
        refusal = self._refusal(ch, str(code or "").strip(), subscriber_id, doc, purpose, now)
        if refusal is not None:
            raise refusal
        _move(ch, "confirm")
        ch.confirmed_at = now
        _audit(s, now, actor, "intent.confirmed", ch.id, _about(ch))
        _move(ch, "consume")
        ch.consumed_at, ch.consumed_by = now, by[:100]
        _audit(s, now, by, "intent.consumed", ch.id, _about(ch))
        return _view(Consumption, ch)

    def check_token(
        self, token: str, *, subscriber_id: int, document_sha256: str, purpose: str | None = None
    ) -> None:
        """Refuse, as ``consume`` would, a confirmation token that cannot be consumed now;
        reads only (a batch asks before it signs anything)."""
        doc = _check_sha256(document_sha256)
        digest = hashlib.sha256(str(token or "").encode()).hexdigest()
        with self.db.read() as s:
            ch = s.execute(
                select(IntentChallenge).where(IntentChallenge.token_hash == digest)
            ).scalar_one_or_none()
            refusal = _token_refusal(ch, subscriber_id, doc, purpose, self.clock.now())
        if refusal is not None:
            raise refusal


def _token_refusal(
    ch: IntentChallenge | None,
    subscriber_id: int,
    doc: str,
    purpose: str | None,
    now: dt.datetime,
) -> YinxinError | None:
    """Why the challenge a confirmation token names cannot be consumed for this signer and
    document now, or None."""
    if ch is None or ch.subscriber_id != subscriber_id:
        return Forbidden(
            "no valid intent confirmation for this signer",
            field="confirmation_token",
            code="invalid_confirmation",
        )
    if ch.document_sha256 != doc or (purpose is not None and ch.purpose != purpose):
        return Forbidden(
            "the intent confirmation was given for another document or purpose",
            field="confirmation_token",
            code="wrong_document",
        )
    if ch.state == _C.CONSUMED:
        return Conflict(
            "the intent confirmation has been used",
            field="confirmation_token",
            code="confirmation_used",
        )
    if ch.state != _C.CONFIRMED or ch.token_expires_at is None or now >= ch.token_expires_at:
        return Forbidden(
            "the intent confirmation has expired; confirm again",
            field="confirmation_token",
            code="confirmation_expired",
        )
    return None
