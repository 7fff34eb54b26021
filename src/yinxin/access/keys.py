"""API keys: made by an administrator, shown once, stored as a SHA-256, expiring, revocable.

A key is ``yx_<prefix>_<secret>``: the prefix (public, unique) finds the row, the SHA-256 of the
whole key checks it in constant time. The secrets are 256-bit random, so a plain SHA-256 is as
good as a slow hash here (nothing to brute-force) and costs microseconds per request.

A key carries a role; an organization administrator's key (and optionally an integration's) is
bound to one organization and sees that organization's data only: the organization itself and
the persons and devices registered under it (``Subscriber.organization_id``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from yinxin.clock import Clock
from yinxin.errors import Forbidden, NotFound, ValidationError, YinxinError
from yinxin.identity import refuse_hidden
from yinxin.results import from_row
from yinxin.store import audit
from yinxin.store.db import Database
from yinxin.store.models import Subscriber
from yinxin.store.models.access import ApiKey
from yinxin.store.queries import paged

KEY_PREFIX = "yx_"
MAX_LIFETIME = dt.timedelta(days=3 * 366)
#: the longest actor the audit trail and the ``*_by`` columns hold
MAX_ACTOR = 100
#: ``last_used_at`` is written at most this often per key: an operator asks "is this key still
#: in use, and since when not?", which a minute's precision answers, and a busy integration
#: must not turn every read request into a database write.
LAST_USE_PRECISION = dt.timedelta(minutes=1)
logger = logging.getLogger(__name__)


class Unauthenticated(YinxinError, exit_code=5, http_status=401, code="unauthenticated"):
    """No credential, an unknown, expired or revoked one."""


class ApiRole(StrEnum):
    """What a key may do (see ``Principal.may``)."""

    ADMINISTRATOR = "administrator"  # everything, including API keys
    RA_OFFICER = "ra_officer"  # the registration desk: subscribers, review, lifecycle, audit
    ORGANIZATION_ADMIN = "organization_admin"  # one organization: its people, seals, flows
    INTEGRATION = "integration"  # an integrating system: subscribers, applications, flows
    SUBSCRIBER = "subscriber"  # a subscriber's own web session: its own data only (not a key)


class Capability(StrEnum):
    MANAGE_KEYS = "manage_keys"
    REGISTER = "register"  # subscribers, agreement acceptance, applications, payments
    REVIEW = "review"  # approve or reject applications
    LIFECYCLE = "lifecycle"  # revoke, freeze, unfreeze, report loss, renew, rekey, reissue
    SEALS = "seals"  # seal applications, lifecycle, grants, PIN
    SEAL_REVIEW = "seal_review"  # unlock a locked seal (an officer's act)
    FLOWS = "flows"  # sign flows, batches, authorizations
    AUDIT = "audit"  # read and verify the audit trail
    VERIFY = "verify"  # verify documents
    WEBHOOKS = "webhooks"  # webhook subscriptions and their delivery log


ROLE_CAPABILITIES: dict[ApiRole, frozenset[Capability]] = {
    ApiRole.ADMINISTRATOR: frozenset(Capability),
    ApiRole.RA_OFFICER: frozenset(Capability)
    - {Capability.MANAGE_KEYS, Capability.FLOWS, Capability.WEBHOOKS},
    ApiRole.ORGANIZATION_ADMIN: frozenset(
        {
            Capability.REGISTER,
            Capability.LIFECYCLE,
            Capability.SEALS,
            Capability.FLOWS,
            Capability.VERIFY,
            Capability.WEBHOOKS,
        }
    ),
    ApiRole.INTEGRATION: frozenset(
        {
            Capability.REGISTER,
            Capability.SEALS,
            Capability.FLOWS,
            Capability.VERIFY,
            Capability.WEBHOOKS,
        }
    ),
    # a person or an organization's contact signed in by phone: applies, pays, manages its own
    # certificates and seals, sends and signs its own flows; always scoped (``Principal``)
    ApiRole.SUBSCRIBER: frozenset(
        {
            Capability.REGISTER,
            Capability.LIFECYCLE,
            Capability.SEALS,
            Capability.FLOWS,
            Capability.VERIFY,
        }
    ),
}
KEY_ROLES = tuple(r for r in ApiRole if r != ApiRole.SUBSCRIBER)  # roles a key may carry


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request: its key (or browser session), role and scope.

    ``organization_id`` bounds what the caller sees: that subscriber and the persons and
    devices registered under it (``Subscriber.organization_id``), and nothing else; None sees
    everything its role allows. A subscriber's own session is always bound: to its
    organization for an organization's contact, to the person alone for a person (no one is
    registered under a person, so the same checks give "itself only").

    A browser session (``yinxin.access.sessions``) has ``key_id`` 0, ``session_id`` set, and
    ``subscriber_id`` for a subscriber's session."""

    key_id: int
    prefix: str
    name: str
    role: ApiRole
    organization_id: int | None
    session_id: int | None = None
    subscriber_id: int | None = None
    staff_username: str | None = None
    # the key's ``last_used_at`` is older than ``LAST_USE_PRECISION``: record this use if the
    # request succeeds (``ApiKeys.record_use``)
    use_due: bool = False

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        if self.staff_username is not None:
            return f"staff:{self.staff_username}"
        if self.subscriber_id is not None:
            return f"subscriber:{self.subscriber_id}"
        # cut to the 100 characters audit_events.actor and the *_by columns hold (a name of
        # 100 made 117: every audited call of the key failed on PostgreSQL); the prefix, which
        # names the key, is always whole
        return f"api:{self.prefix}:{self.name}"[:MAX_ACTOR]

    @property
    def is_holder(self) -> bool:
        """Whether this caller acts as the holder of what it reaches — a subscriber's own
        session, or a key bound to an organization — rather than as the certification
        authority (staff, and keys bound to no organization): a holder lifts only a freeze the
        holder imposed (``registry.lifecycle.HoldBy``)."""
        if self.staff_username is not None:
            return False
        return self.subscriber_id is not None or self.organization_id is not None

    def may(self, capability: Capability) -> bool:
        return capability in ROLE_CAPABILITIES[self.role]

    def require(self, capability: Capability, *, field: str = "role") -> None:
        """Refuse (403 ``not_permitted``) a caller whose role lacks ``capability``, naming
        ``field``: the caller's ``role`` where the route is not for it at all, or the part of
        the request that asked for more than the role may (``reveal`` of a seal, a seal
        application's ``new_key``). It named nothing, where every other 403 names what
        refused (docs/api.md)."""
        if not self.may(capability):
            who = "session" if self.session_id is not None else "key"
            raise Forbidden(
                f"{_a(self.role)} {who} may not do this ({capability})",
                field=field,
                code="not_permitted",
            )


@dataclass(frozen=True, slots=True)
class ApiKeyView:
    id: int
    prefix: str
    name: str
    role: ApiRole
    organization_id: int | None
    created_by: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    @classmethod
    def of(cls, k: ApiKey) -> ApiKeyView:
        return from_row(cls, k, role=ApiRole(k.role))


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key and its secret: the only time the secret is seen."""

    key: ApiKeyView
    secret: str


def _a(role: str) -> str:
    """The role with its article: "an administrator", "an integration", "a ra_officer"."""
    return f"{'an' if role[:1] in 'aeiou' else 'a'} {role}"


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeys:
    def __init__(self, db: Database, clock: Clock):
        self.db, self.clock = db, clock

    def create(
        self,
        *,
        name: str,
        role: str,
        actor: str,
        organization_id: int | None = None,
        expires_at: dt.datetime | None = None,
    ) -> IssuedKey:
        name = (name or "").strip()
        if not name or len(name) > 100:
            raise ValidationError("a key needs a name of 1 to 100 characters", field="name")
        # the name is in every actor this key writes (api:prefix:name), which the services
        # check like any name: refused here, not at the key's first approval or seal move
        refuse_hidden(name, "name")
        try:
            api_role = ApiRole(role)
            if api_role not in KEY_ROLES:
                raise ValueError(role)
        except ValueError:
            raise ValidationError(
                f"role must be one of {', '.join(KEY_ROLES)}", field="role"
            ) from None
        if api_role == ApiRole.ORGANIZATION_ADMIN and organization_id is None:
            raise ValidationError(
                "an organization administrator's key is bound to an organization",
                field="organization_id",
            )
        if api_role in (ApiRole.ADMINISTRATOR, ApiRole.RA_OFFICER) and organization_id:
            raise ValidationError(
                f"{_a(api_role)} key is not bound to an organization", field="organization_id"
            )
        now = self.clock.now()
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise ValidationError("expires_at needs a time zone", field="expires_at")
            if not now < expires_at <= now + MAX_LIFETIME:
                raise ValidationError(
                    "expires_at must be in the future and within three years", field="expires_at"
                )
        prefix = secrets.token_hex(6)
        secret = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        with self.db.transaction() as s:
            if organization_id is not None:
                org = s.get(Subscriber, organization_id)
                if org is None or org.kind != "organization":
                    raise ValidationError(
                        f"no organization subscriber {organization_id}", field="organization_id"
                    )
            row = ApiKey(
                prefix=prefix,
                secret_sha256=_sha256(secret),
                name=name,
                role=api_role,
                organization_id=organization_id,
                created_by=actor,
                created_at=now,
                expires_at=expires_at,
            )
            s.add(row)
            s.flush()
            audit.record(
                s,
                at=now,
                actor=actor,
                action="api_key.created",
                subject_type="api_key",
                subject_id=prefix,
                data={"name": name, "role": api_role, "organization_id": organization_id},
            )
            return IssuedKey(ApiKeyView.of(row), secret)

    def revoke(self, key_id: int, *, actor: str) -> ApiKeyView:
        now = self.clock.now()
        with self.db.transaction() as s:
            row = s.get(ApiKey, key_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no API key {key_id}", field="key_id")
            if row.revoked_at is None:
                row.revoked_at = now
                audit.record(
                    s,
                    at=now,
                    actor=actor,
                    action="api_key.revoked",
                    subject_type="api_key",
                    subject_id=row.prefix,
                    data={"name": row.name},
                )
            return ApiKeyView.of(row)

    def list(self, *, after: int | None = None, limit: int | None = None) -> list[ApiKeyView]:
        """Keys in id order, revoked ones included; ``after``/``limit`` page as the other
        listings do."""
        with self.db.read() as s:
            q = paged(select(ApiKey), ApiKey.id, after=after, limit=limit)
            return [ApiKeyView.of(k) for k in s.execute(q).scalars()]

    def get(self, key_id: int) -> ApiKeyView:
        with self.db.read() as s:
            row = s.get(ApiKey, key_id)
            if row is None:
                raise NotFound(f"no API key {key_id}", field="key_id")
            return ApiKeyView.of(row)

    def authenticate(self, secret: str | None) -> Principal:
        """The caller a presented key stands for; every refusal reads the same to the caller."""
        refused = Unauthenticated(
            "a valid API key is needed: Authorization: Bearer yx_…", field="authorization"
        )
        if not secret or not secret.startswith(KEY_PREFIX) or len(secret) > 200:
            raise refused
        prefix = secret[len(KEY_PREFIX) :].split("_", 1)[0]
        now = self.clock.now()
        with self.db.read() as s:
            row = s.execute(select(ApiKey).where(ApiKey.prefix == prefix)).scalar_one_or_none()
            if row is None or not hmac.compare_digest(row.secret_sha256, _sha256(secret)):
                raise refused
            if row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
                raise refused
            due = row.last_used_at is None or row.last_used_at <= now - LAST_USE_PRECISION
            return Principal(
                row.id,
                row.prefix,
                row.name,
                ApiRole(row.role),
                row.organization_id,
                use_due=due,
            )

    def record_use(self, key_id: int) -> None:
        """Record that a request made with the key succeeded (the HTTP layer calls it, and
        only when ``Principal.use_due``: a refused request must leave the database as it was).
        Conditional, so concurrent requests write it once; best effort, because a caller must
        not be refused for a busy database: the stamp is for the operator's review, not for
        access decisions."""
        now = self.clock.now()
        try:
            with self.db.transaction() as s:
                s.execute(
                    update(ApiKey)
                    .where(ApiKey.id == key_id)
                    .where(
                        or_(
                            ApiKey.last_used_at.is_(None),
                            ApiKey.last_used_at <= now - LAST_USE_PRECISION,
                        )
                    )
                    .values(last_used_at=now)
                )
        except SQLAlchemyError as e:  # the request's own work is done: never turn it into a 500
            logger.warning("API key %d: last use not recorded (%s)", key_id, type(e).__name__)
