"""Staff accounts for the web desk: a password and a second factor (TOTP, RFC 6238).

CA audits ask that registration officers authenticate with two factors, so a staff login
needs the password *and* the six-digit code of an authenticator app. The account is made by an
operator (``yinxin staff add``), which shows the TOTP provisioning URI once, to be scanned into
the officer's app.

* The password is hashed with scrypt (a fresh 16-byte salt; n=2^14, r=8, p=1, stored with the
  hash so the parameters can be raised later).
* The TOTP secret must be read back to check a code, so it cannot be hashed: it is encrypted
  (AES-GCM) under the platform KEK, bound to the username, and never leaves this module.
* A code is accepted for the current 30-second step or the one before or after it (clock drift),
  and never twice: the last step used is kept, and an older or equal step is refused.
* Wrong attempts in a row are counted; the ``max_failures``-th locks the account for
  ``lockout``. Every refusal, lock and login is audited. A locked account's attempts are refused
  as a wrong password (or an unknown name) is, so a lock does not tell that a name exists.

The account's role is one of the API's roles (``ApiRole``: administrator or RA officer), so a
signed-in officer may do through the API exactly what an RA officer's key may.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from yinxin.access.keys import ApiRole, Unauthenticated
from yinxin.clock import Clock
from yinxin.errors import Conflict, ValidationError, YinxinError
from yinxin.identity import refuse_hidden
from yinxin.results import from_row
from yinxin.store import audit
from yinxin.store.db import Database, add_unique
from yinxin.store.models.access import StaffUser, WebSession
from yinxin.store.queries import one_or_404

STAFF_ROLES = (ApiRole.ADMINISTRATOR, ApiRole.RA_OFFICER)
MAX_USERNAME = 50  # the column's length (StaffUser.username)
USERNAME = re.compile(rf"[a-z][a-z0-9_.-]{{1,{MAX_USERNAME - 1}}}")
USERNAME_SHAPE = (
    f"a username is 2 to {MAX_USERNAME} characters: a letter, then letters, digits, _ . -"
)
MIN_PASSWORD = 10
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
TOTP_STEP = 30
ISSUER = "印信 Yinxin"


@dataclass(frozen=True, slots=True)
class StaffView:
    id: int
    username: str
    display_name: str
    role: ApiRole
    created_at: dt.datetime
    locked_until: dt.datetime | None
    disabled_at: dt.datetime | None
    last_login_at: dt.datetime | None

    @classmethod
    def of(cls, row: StaffUser) -> StaffView:
        return from_row(cls, row, role=ApiRole(row.role))


@dataclass(frozen=True, slots=True)
class NewStaff:
    """A new account and its TOTP provisioning URI: shown once, to scan into an app."""

    staff: StaffView
    totp_uri: str


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(digest) // 2,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


# a hash to check against when the username is unknown, so both cost the same time
_DUMMY_HASH = hash_password("not a password", b"\0" * 16)


def _username(username: str) -> str:
    """``username`` as accounts are kept (lower case), or the refusal of one no account can
    have — judged before any is looked up. A lookup (login, ``staff unlock``) matches in any
    case: ``Desk1`` finds ``desk1``."""
    username = (username or "").strip().lower()
    if not USERNAME.fullmatch(username):
        if len(username) > MAX_USERNAME and USERNAME.fullmatch(username[:MAX_USERNAME]):
            raise ValidationError(
                f"a username is at most {MAX_USERNAME} characters (用户名最多 {MAX_USERNAME} "
                f"个字符); this one has {len(username)}",
                field="username",
            )
        raise ValidationError(USERNAME_SHAPE, field="username")
    return username


def _new_username(username: str) -> str:
    """A new account's username, as typed. One with capitals (``Admin``) is refused, not kept
    lowered: it was stored as ``admin`` and the output said so only in passing, the operator
    handing on a name that is not the account's. Logins match in any case, so the refusal
    costs no officer a login that worked."""
    name = _username(username)
    typed = (username or "").strip()
    if typed != name:
        raise ValidationError(
            f"usernames are lower case (用户名只用小写字母): type {name!r} "
            "(at login any case is accepted)"
            if typed.lower() == name and typed.isascii()
            else USERNAME_SHAPE,
            field="username",
        )
    return name


def _account(username: str, role: str, display_name: str) -> tuple[str, ApiRole, str]:
    """A new account's username (lower case), role and display name, or the refusal."""
    username = _new_username(username)
    try:
        staff_role = ApiRole(role)
    except ValueError:
        staff_role = None
    if staff_role not in STAFF_ROLES:
        raise ValidationError(f"a staff role is one of {', '.join(STAFF_ROLES)}", field="role")
    return username, staff_role, display_name_of(display_name, username)


def _aad(username: str) -> bytes:
    return f"yinxin/staff-totp/v1:{username}".encode()


def display_name_of(display_name: str, username: str) -> str:
    """The name an account shows: the one given, or its username when none is. A blank one
    (spaces only) is refused: it was dropped, the account showing its username unasked."""
    if display_name and not display_name.strip():
        raise ValidationError(
            "a display name must not be blank (leave it out to show the username)",
            field="display_name",
        )
    display = (display_name or username).strip()
    if len(display) > 100:
        raise ValidationError("a display name is at most 100 characters", field="display_name")
    refuse_hidden(display, "display_name")
    return display


class StaffUsers:
    """Staff accounts; ``kek`` encrypts the TOTP secrets (asked for only when needed)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        kek: Callable[[], object],
        *,
        max_failures: int = 5,
        lockout: dt.timedelta = dt.timedelta(minutes=15),
    ):
        self.db, self.clock, self._kek = db, clock, kek
        self.max_failures, self.lockout = max_failures, lockout

    # --- accounts -------------------------------------------------------------------------------
    def add(
        self, username: str, *, password: str, role: str, actor: str, display_name: str = ""
    ) -> NewStaff:
        import pyotp

        username, staff_role, display = _account(username, role, display_name)
        if len(password or "") < MIN_PASSWORD:
            raise ValidationError(
                f"a password has at least {MIN_PASSWORD} characters", field="password"
            )
        secret = pyotp.random_base32()
        sealed = self._kek().encrypt(secret.encode(), _aad(username))  # type: ignore[attr-defined]
        pw_hash = hash_password(password)
        now = self.clock.now()
        taken = Conflict(f"a staff user {username!r} exists already", field="username")
        with self.db.transaction() as s:
            if s.execute(select(StaffUser.id).where(StaffUser.username == username)).first():
                raise taken
            row = StaffUser(
                username=username,
                display_name=display,
                role=staff_role,
                password_hash=pw_hash,
                totp_secret_encrypted=sealed,
                failed_logins=0,
                created_by=actor,
                created_at=now,
            )
            add_unique(s, row, lost_race=taken)
            self._audit(s, now, actor, "staff.created", row, {"role": str(staff_role)})
            view = StaffView.of(row)
        uri = pyotp.TOTP(secret, interval=TOTP_STEP).provisioning_uri(
            name=username, issuer_name=ISSUER
        )
        return NewStaff(view, uri)

    def check_new(self, username: str, *, role: str, display_name: str = "") -> None:
        """Refuse, as :meth:`add` would, an account that could not be made — a malformed
        username, role or display name, a username taken — before its password is asked for."""
        username, _, _ = _account(username, role, display_name)
        with self.db.read() as s:
            if s.execute(select(StaffUser.id).where(StaffUser.username == username)).first():
                raise Conflict(f"a staff user {username!r} exists already", field="username")

    def list(self) -> list[StaffView]:
        with self.db.read() as s:
            rows = s.execute(select(StaffUser).order_by(StaffUser.id)).scalars()
            return [StaffView.of(r) for r in rows]

    def get(self, username: str) -> StaffView:
        with self.db.read() as s:
            return StaffView.of(self._row(s, username))

    def unlock(self, username: str, *, actor: str) -> StaffView:
        now = self.clock.now()
        with self.db.transaction() as s:
            row = self._row(s, username, lock=True)
            row.failed_logins, row.locked_until = 0, None
            self._audit(s, now, actor, "staff.unlocked", row, {})
            return StaffView.of(row)

    def disable(self, username: str, *, actor: str) -> StaffView:
        now = self.clock.now()
        with self.db.transaction() as s:
            row = self._row(s, username, lock=True)
            if row.disabled_at is None:
                row.disabled_at = now
                self._audit(s, now, actor, "staff.disabled", row, {})
            return StaffView.of(row)

    def enable(self, username: str, *, actor: str) -> StaffView:
        """Let a disabled account sign in again (audited ``staff.enabled``). The sessions it had
        when disabled stay ended: they were refused only while it was, so each is ended here
        (``session.closed``, reason ``staff_disabled``). An account in use is left as it is."""
        now = self.clock.now()
        with self.db.transaction() as s:
            row = self._row(s, username, lock=True)
            if row.disabled_at is not None:
                sessions = s.execute(
                    select(WebSession)
                    .where(
                        WebSession.staff_user_id == row.id,
                        WebSession.revoked_at.is_(None),
                        WebSession.expires_at > now,
                    )
                    .with_for_update()
                ).scalars()
                ended = 0
                for session in sessions:
                    session.revoked_at = now
                    audit.event(
                        s,
                        now,
                        actor,
                        "session.closed",
                        session.id,
                        {"kind": session.kind, "reason": "staff_disabled"},
                        subject_type="web_session",
                    )
                    ended += 1
                row.disabled_at = None
                self._audit(s, now, actor, "staff.enabled", row, {"sessions_ended": ended})
            return StaffView.of(row)

    # --- login ----------------------------------------------------------------------------------
    def check_login(self, s: Session, username: str, password: str, code: str) -> StaffUser:
        """Inside the caller's transaction: the account, if the password and the code are
        right; otherwise raise — after counting the failure on the row, which the caller must
        commit (``Sessions.login_staff`` does: the refusal is raised after its commit)."""
        now = self.clock.now()
        # a name with a control character (a NUL, which PostgreSQL refuses even in a query,
        # failing it where SQLite found no row) is no account's: refused before the query.
        # A name is not cut to 50 characters to be looked up: one a letter too long signed in
        # to the account its first 50 named. The audit trail keeps 50 (its column's room).
        full = refuse_hidden((username or "").strip().lower(), "username")
        name = full[:MAX_USERNAME]
        row = s.execute(
            select(StaffUser).where(StaffUser.username == full).with_for_update()
        ).scalar_one_or_none()
        # One answer for an unknown name, a disabled account, a wrong password and a locked
        # account: a lock said as such would tell anyone who tried six times that the name
        # exists. Its words say a lock may be why; the audit trail says which it was.
        bad_password = Unauthenticated(
            "wrong username or password, or the account is locked for a while after too many "
            "wrong attempts",
            field="password",
            code="bad_credentials",
        )
        if row is None:
            check_password(password or "", _DUMMY_HASH)  # same time as a known name
            audit.record(
                s,
                at=now,
                actor=f"staff:{name or '?'}",
                action="staff.login_failed",
                subject_type="staff_user",
                subject_id=name or "(empty)",
                data={"reason": "unknown_user"},
            )
            raise LoginRefused(bad_password)
        shut = "disabled" if row.disabled_at is not None else None
        if shut is None and row.locked_until is not None and now < row.locked_until:
            shut = "locked"
        if shut is not None:
            # refused whatever the password, but only after hashing it as any other refusal
            # does: a refusal in microseconds would tell these accounts apart by the clock
            check_password(password or "", row.password_hash)
            self._audit(s, now, f"staff:{name}", "staff.login_failed", row, {"reason": shut})
            raise LoginRefused(bad_password)
        if not check_password(password or "", row.password_hash):
            raise LoginRefused(self._failed(s, row, now, "bad_password", bad_password))
        step = self._totp_step(row, str(code or "").strip(), now)
        if step is None:
            wrong = Unauthenticated(
                "wrong or used authenticator code", field="code", code="wrong_code"
            )
            raise LoginRefused(self._failed(s, row, now, "bad_code", wrong))
        row.failed_logins, row.locked_until = 0, None
        row.last_totp_step, row.last_login_at = step, now
        self._audit(s, now, f"staff:{name}", "staff.login", row, {"role": row.role})
        return row

    def _totp_step(self, row: StaffUser, code: str, now: dt.datetime) -> int | None:
        """The time step the code belongs to (now, or one step either side), if unused."""
        import pyotp

        if not re.fullmatch(r"[0-9]{6}", code):  # \d took ６ too, which compare_digest refuses
            return None
        secret = self._kek().decrypt(row.totp_secret_encrypted, _aad(row.username))  # type: ignore[attr-defined]
        totp = pyotp.TOTP(secret.decode(), interval=TOTP_STEP)
        current = int(now.timestamp()) // TOTP_STEP
        for step in (current, current - 1, current + 1):
            if hmac.compare_digest(totp.at(step * TOTP_STEP), code):
                if row.last_totp_step is not None and step <= row.last_totp_step:
                    return None  # replayed
                return step
        return None

    def _failed(
        self, s: Session, row: StaffUser, now: dt.datetime, reason: str, refusal: YinxinError
    ) -> YinxinError:
        row.failed_logins += 1
        data: dict = {"reason": reason, "failed_logins": row.failed_logins}
        if row.failed_logins >= self.max_failures:
            row.locked_until = now + self.lockout
            row.failed_logins = 0
            data["locked_until"] = row.locked_until.isoformat()
            self._audit(s, now, f"staff:{row.username}", "staff.locked", row, data)
            return refusal  # the lock is not said: see check_login
        self._audit(s, now, f"staff:{row.username}", "staff.login_failed", row, data)
        return refusal

    # --- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _row(s: Session, username: str, *, lock: bool = False) -> StaffUser:
        """The account ``username`` names. One no account can have (``staff unlock ""``, a
        space, a character no username holds) is refused as such (invalid, exit 2), as
        ``staff add`` refuses it; it was "no staff user ''" (not found, exit 3), as if the
        name had been right and the account gone."""
        q = select(StaffUser).where(StaffUser.username == _username(username))
        return one_or_404(s, q, f"no staff user {username!r}", field="username", lock=lock)

    @staticmethod
    def _audit(
        s: Session, now: dt.datetime, actor: str, action: str, row: StaffUser, data: dict
    ) -> None:
        audit.event(s, now, actor, action, row.username, data, subject_type="staff_user")


class LoginRefused(Exception):
    """A login refusal raised inside the transaction that recorded it; the transaction is
    committed (the failure counts) and the wrapped refusal raised after."""

    def __init__(self, refusal: YinxinError):
        super().__init__(refusal.message)
        self.refusal = refusal
