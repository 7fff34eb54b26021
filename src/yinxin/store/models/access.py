"""API access: keys (stored as hashes only), the answers kept for idempotent retries, and the
web desk's staff accounts and browser sessions."""

import datetime as dt

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yinxin.store.models import Base


class ApiKey(Base):
    """An API key: its public prefix finds the row, the SHA-256 of the whole secret checks it.

    The secret is shown once, when the key is made; the platform cannot show it again. A key
    with an organization sees that organization's data only.
    """

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(24))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]


class IdempotencyRecord(Base):
    """The first answer to a POST sent with an ``Idempotency-Key``: a retry gets it back and
    nothing is done twice. ``status_code`` is NULL while the first request is still running."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("caller", "key", name="uq_idempotency_records_caller_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    caller: Mapped[str] = mapped_column(String(64))  # SHA-256 of the caller's credential
    key: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]
    content_type: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(index=True)


class StaffUser(Base):
    """A member of staff who signs in to the web desk: an RA officer or an administrator.

    The password is kept as an scrypt hash with its own salt and parameters; the TOTP secret
    (the second factor) is encrypted under the platform KEK, since it must be read back to check
    a code. ``failed_logins`` counts wrong attempts in a row; past the limit ``locked_until``
    shuts the account for a while. ``last_totp_step`` refuses a code used once already.
    """

    __tablename__ = "staff_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(24))
    password_hash: Mapped[str] = mapped_column(String(300))
    totp_secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    failed_logins: Mapped[int]
    locked_until: Mapped[dt.datetime | None]
    last_totp_step: Mapped[int | None]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime]
    disabled_at: Mapped[dt.datetime | None]
    last_login_at: Mapped[dt.datetime | None]


class WebSession(Base):
    """A browser's signed-in session: the cookie's secret is kept as its SHA-256 only.

    Bound to one principal — a staff user or a subscriber — with the role and the organization
    scope it had when it opened. It ends when idle too long (``last_seen_at``), at
    ``expires_at`` whatever happens, or at logout (``revoked_at``).
    """

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # staff | subscriber
    role: Mapped[str] = mapped_column(String(24))
    name: Mapped[str] = mapped_column(String(200))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"), index=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"))
    created_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]


class LoginCodeAsk(Base):
    """The login codes asked for one mobile number in the last hour, whoever registered it
    (``access.sessions``): the number's per-number limit, shared by every server process on
    this database and kept across restarts. The number itself is not written: ``phone_key`` is
    an HMAC-SHA-256 of it under the server's intent secret (``signing.intent.binding``), which
    a copy of the database alone does not turn back into the number (a plain SHA-256 of an
    11-digit number would)."""

    __tablename__ = "login_code_asks"
    phone_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    # JSON [[challenge_id, ISO time], …], oldest first: the hour's requests answered
    asked: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(index=True)


class RegistrationCode(Base):
    """A code sent to a mobile number no one is registered with, for the public
    self-registration to prove that whoever registers holds it (``access.sessions``).

    Bound to the number by ``phone_binding``, keyed by the intent secret so the table does not
    give numbers back; the code is kept as a keyed hash only. ``subscriber_id``: the subscriber
    registered with it. state: pending → used, or pending → dead (too many wrong codes, or not
    delivered); a code past ``expires_at`` opens nothing. A code that registered no one is
    deleted a day after it expired (``Sessions._purge_registration_codes``, as later codes are
    asked for, reading ``ix_registration_codes_subscriber_id_expires_at``); one that did is
    kept.
    """

    __tablename__ = "registration_codes"
    # the purge's way in: the codes that registered no one (subscriber_id NULL) by expiry
    __table_args__ = (
        Index("ix_registration_codes_subscriber_id_expires_at", "subscriber_id", "expires_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the challenge id answered
    phone_binding: Mapped[str] = mapped_column(String(64))
    sent_to_masked: Mapped[str] = mapped_column(String(40))
    code_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12))
    failed_attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    subscriber_id: Mapped[int | None] = mapped_column(ForeignKey("subscribers.id"))
