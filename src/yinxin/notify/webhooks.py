"""Webhooks: integrations are told what happened, signed, once per event id, retried for a day.

Three parts, each safe to run in several processes at once:

* **Subscriptions** (``subscribe``, ``pause``/``resume``, ``delete``, ``rotate_secret``): a URL,
  the event types wanted, a signing secret (shown once, stored encrypted under the platform KEK)
  and an owner organization — ``None`` for an administrator's subscription, which receives every
  event; an organization's receives only events about that organization's subjects.
* **The dispatcher** (``dispatch``): the audit trail is the transactional outbox. Every change
  writes its audit event in its own transaction, so nothing the platform did can be missed: the
  dispatcher reads the events after its cursor (``webhook_cursor.seq``), maps those integrations
  care about to webhook event types (``EVENT_TYPES``) and writes one delivery per matching
  active subscription *in the same transaction* as it moves the cursor past them. The cursor row
  is locked for that transaction (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's write lock),
  so two dispatchers take turns and never both enqueue an event; the unique
  ``(subscription_id, audit_seq)`` backs that up.
* **The deliverer** (``deliver_due``): claims due deliveries under a lease (``FOR UPDATE SKIP
  LOCKED`` on PostgreSQL), writes the try into the log, POSTs outside any transaction, and
  settles the try with the answer. A deliverer that dies mid-request leaves its lease to run
  out; the delivery is then tried again with the same event id and the same body, so a receiver
  that drops duplicates by ``Yinxin-Event-Id`` sees each event once.

The signature is Stripe's scheme: ``Yinxin-Signature: t=<unix seconds>,v1=<hex>`` where the hex
is HMAC-SHA256 keyed with the secret (its UTF-8 bytes) over ``f"{t}.{body}"``; during a secret
rotation's overlap a second ``v1=`` is signed with the previous secret (``docs/webhooks.md``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import random
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yinxin.clock import Clock
from yinxin.errors import (
    ConfigurationError,
    Conflict,
    IllegalTransition,
    NotFound,
    ValidationError,
    YinxinError,
)
from yinxin.identity import refuse_hidden
from yinxin.notify.deadline import Deadline
from yinxin.results import from_row
from yinxin.store import audit
from yinxin.store.db import Database, add_unique
from yinxin.store.models import AuditEvent, Certificate, Subscriber
from yinxin.store.models.flows import SignFlow
from yinxin.store.models.seals import Seal
from yinxin.store.models.webhooks import (
    WebhookAttempt,
    WebhookCursor,
    WebhookDelivery,
    WebhookSubscription,
)
from yinxin.store.queries import paged
from yinxin.transitions import TransitionTable, listed, move

if TYPE_CHECKING:
    import httpx

    from yinxin.pki.kek import PlatformKek

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Yinxin-Signature"
EVENT_ID_HEADER = "Yinxin-Event-Id"
EVENT_TYPE_HEADER = "Yinxin-Event-Type"
SECRET_PREFIX = "whsec_"
# The body is UTF-8 JSON (``ensure_ascii=False``: Chinese as itself); the charset is named, as
# receivers whose platform defaults to GBK otherwise decode it wrongly.
CONTENT_TYPE = "application/json; charset=utf-8"
MAX_URL = 2000
MAX_ERROR = 500


class EventType(StrEnum):
    """What a subscription may ask for (and what ``type`` in a delivery's body says)."""

    CERTIFICATE_ISSUED = "certificate.issued"
    CERTIFICATE_REVOKED = "certificate.revoked"
    CERTIFICATE_STATUS_CHANGED = "certificate.status_changed"  # hold, release, expiry
    SEAL_CHANGED = "seal.changed"  # created, renewed, changed, frozen, revoked, granted…
    FLOW_STARTED = "flow.started"
    FLOW_SIGNED = "flow.signed"  # one signer signed
    FLOW_COMPLETED = "flow.completed"
    FLOW_EXPIRED = "flow.expired"
    FLOW_CANCELLED = "flow.cancelled"  # withdrawn, or a signer declined
    OBLIGATION_DUE = "obligation.due"  # written by the contracts service when it comes


EVENT_TYPES: tuple[str, ...] = tuple(EventType)

# seal audit verbs that change what the seal is or who may use it (not the application form or
# a PIN change, which say nothing new to an integration)
SEAL_VERBS = frozenset(
    {
        "create",
        "renew",
        "change",
        "cancel",
        "freeze",
        "report_pin_leak",
        "unfreeze",
        "revoke",
        "expire",
        "grant",
        "withdraw",
        "pin_locked",
        "unlock",
    }
)
FLOW_ACTIONS = {
    "flow.started": EventType.FLOW_STARTED,
    "flow.signer_signed": EventType.FLOW_SIGNED,
    "flow.completed": EventType.FLOW_COMPLETED,
    "flow.expired": EventType.FLOW_EXPIRED,
    "flow.cancelled": EventType.FLOW_CANCELLED,
    "flow.declined": EventType.FLOW_CANCELLED,
}
# never sent to a receiver even if an audit event carries it (none does today: keep it so)
WITHHELD = frozenset(
    {"client_ip", "pin", "pins", "secret", "token", "tokens", "password", "passphrase", "otp"}
)


def event_type_of(action: str, data: dict) -> EventType | None:
    """The webhook event type an audit action becomes, or ``None`` for one nobody subscribes
    to."""
    kind, _, verb = action.partition(".")
    if kind == "certificate":
        if verb == "issued":
            return EventType.CERTIFICATE_ISSUED
        if data.get("to") == "revoked":  # revoke, and rekey/change/reissue ending the old one
            return EventType.CERTIFICATE_REVOKED
        if "to" in data:
            return EventType.CERTIFICATE_STATUS_CHANGED
        return None
    if kind == "seal":
        return EventType.SEAL_CHANGED if verb in SEAL_VERBS else None
    if kind == "flow":
        return FLOW_ACTIONS.get(action)
    if action == "obligation.due":
        return EventType.OBLIGATION_DUE
    return None


# --- states -------------------------------------------------------------------------------------
class SubscriptionState(StrEnum):
    NONE = "none"
    ACTIVE = "active"
    PAUSED = "paused"  # by its owner, or by the receiver answering 410 Gone
    DELETED = "deleted"


class DeliveryState(StrEnum):
    NONE = "none"
    PENDING = "pending"  # written by the dispatcher, never tried
    LEASED = "leased"  # a deliverer is trying it until lease_until
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"  # the last try failed; tried again at next_attempt_at
    GIVEN_UP = "given_up"  # still failing a day after it was written, or its subscription gone


_W, _D = SubscriptionState, DeliveryState
SUBSCRIPTION_LIFECYCLE = TransitionTable(
    "webhook subscription",
    "state",
    hold_state=None,
    moves=[
        move("subscribe", "subscribe", {_W.NONE}, _W.ACTIVE, creates=True),
        move("pause", "pause deliveries", {_W.ACTIVE}, _W.PAUSED),
        move("resume", "resume deliveries", {_W.PAUSED}, _W.ACTIVE),
        move("delete", "delete (final)", {_W.ACTIVE, _W.PAUSED}, _W.DELETED),
    ],
)
DELIVERY_LIFECYCLE = TransitionTable(
    "webhook delivery",
    "state",
    hold_state=None,
    moves=[
        move("enqueue", "written by the dispatcher", {_D.NONE}, _D.PENDING, creates=True),
        # from leased only once its lease has run out (the deliverer died): checked by the query
        move("claim", "start a try", {_D.PENDING, _D.FAILED, _D.LEASED}, _D.LEASED),
        move("deliver", "the receiver took it", {_D.LEASED}, _D.DELIVERED),
        move("fail", "the try failed", {_D.LEASED}, _D.FAILED),
        move("give_up", "no more tries", {_D.PENDING, _D.LEASED, _D.FAILED}, _D.GIVEN_UP),
    ],
)


VERB_ACTIONS = {"pause": "webhook.paused", "resume": "webhook.resumed", "delete": "webhook.deleted"}


def _move(table: TransitionTable, row: Any, verb: str) -> None:
    row.state = table.check(verb, row.state or "none", None, str(row.id)).to_state


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with jitter: ``base × 2^(n−1)`` seconds (30 s, 1 min, 2 min, …)
    capped at ``cap_seconds``, each ±``jitter``; tries go on until ``window`` after the delivery
    was written, the last one at the window's end; then it is given up."""

    base_seconds: float = 30
    cap_seconds: float = 3600
    jitter: float = 0.2
    window: dt.timedelta = dt.timedelta(hours=24)
    timeout_seconds: float = 10.0  # connect, write and read each
    # how long a claimed delivery is its deliverer's: longer than any try can take (DNS, the
    # timeouts above, the limit below), so only a dead deliverer's lease runs out
    lease_seconds: float = 60.0

    @property
    def try_seconds(self) -> float:
        """How long one try may take in all: half the lease. The timeouts above bound each
        read, not the answer: a receiver trickling a byte every few seconds would otherwise
        hold the try (and every delivery behind it) for ever, past its lease, and a second
        deliverer would send the same event again meanwhile."""
        return self.lease_seconds / 2

    def delay(self, attempts: int) -> dt.timedelta:
        d = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        # whole seconds, as the platform's clock keeps time
        return dt.timedelta(seconds=math.ceil(d * random.uniform(1 - self.jitter, 1 + self.jitter)))


# --- results ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SubscriptionView:
    id: int
    url: str
    events: tuple[str, ...]
    description: str | None
    owner_organization_id: int | None  # None: every event (an administrator's subscription)
    state: SubscriptionState
    state_reason: str | None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    previous_secret_until: dt.datetime | None  # a rotated-out secret still signs until then

    @classmethod
    def of(cls, w: WebhookSubscription) -> SubscriptionView:
        return from_row(
            cls,
            w,
            events=tuple(json.loads(w.events)),
            state=SubscriptionState(w.state),
            previous_secret_until=w.previous_until if w.previous_secret_wrapped else None,
        )


@dataclass(frozen=True)
class IssuedSubscription:
    """A subscription and its signing secret: the only time the secret is shown
    (``view, secret = webhooks.subscribe(…)``)."""

    subscription: SubscriptionView
    secret: str

    def __iter__(self):
        return iter((self.subscription, self.secret))


@dataclass(frozen=True)
class AttemptView:
    """One try: ``outcome`` is delivered, failed, gone (410), sending (under way),
    interrupted (its deliverer stopped before an answer was recorded) or late (answered after
    its lease had run out and another try had begun)."""

    number: int
    started_at: dt.datetime
    duration_ms: int | None
    http_status: int | None
    error: str | None
    outcome: str


@dataclass(frozen=True)
class DeliveryView:
    """One event for one subscription, with every try (the delivery log)."""

    id: int
    subscription_id: int
    event_id: str
    event_type: str
    audit_seq: int
    state: DeliveryState
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime | None
    finished_at: dt.datetime | None
    last_http_status: int | None
    last_error: str | None
    payload: dict
    tries: tuple[AttemptView, ...]


@dataclass(frozen=True)
class DeliveryResult:
    """What one try of ``deliver_due`` did."""

    delivery_id: int
    subscription_id: int
    event_id: str
    event_type: str
    attempt: int
    state: DeliveryState
    http_status: int | None
    error: str | None
    next_attempt_at: dt.datetime | None


# --- signatures ---------------------------------------------------------------------------------
def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` keyed with the secret's UTF-8 bytes."""
    return hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256
    ).hexdigest()


def signature_header(secrets_: Sequence[str], timestamp: int, body: bytes) -> str:
    return ",".join([f"t={timestamp}"] + [f"v1={sign(x, timestamp, body)}" for x in secrets_])


# --- targets ------------------------------------------------------------------------------------
# IPv6 prefixes that carry an IPv4 address in their last 32 bits and reach it: NAT64's
# well-known prefix (RFC 6052; on an IPv6-only host with DNS64 every name with only an A record
# resolves into it) and the deprecated IPv4-compatible form.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")
# RFC 8215's local-use NAT64 prefix: not globally reachable (IANA), whatever it embeds;
# Python before 3.13 calls it global.
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a connection to ``ip`` ends at, when ``ip`` is an IPv4 address in
    IPv6 form: mapped, 6to4, NAT64 or IPv4-compatible. Each of these reaches the IPv4 host
    (through the kernel, a 6to4 relay or a NAT64 gateway), so it is that host which must be
    public — ``64:ff9b::a00:1`` is 10.0.0.1 behind a NAT64 gateway."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _V4_COMPATIBLE and int(ip) > 1):  # not :: or ::1
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _shorthand_ipv4(text: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address the resolver reads a host such as ``2130706433``, ``127.1`` or
    ``0x7f.0.0.1`` as (``inet_aton``: one to four parts, decimal, hex or octal): the
    connection goes there, though it is no dotted quad ``ipaddress`` reads."""
    if not re.fullmatch(r"[0-9a-fx.]+", text) or not text[:1].isdigit():
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except (OSError, ValueError):
        return None


def _unsafe_ip(text: str) -> bool:
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        shorthand = _shorthand_ipv4(text)
        return shorthand is not None and (not shorthand.is_global or shorthand.is_multicast)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return True
        ip = _embedded_ipv4(ip) or ip
    return not ip.is_global or ip.is_multicast


def check_url(url: str, *, allow_private: bool) -> str:
    """A receiver URL: http(s), a host, no credentials in it; unless ``allow_private``, not
    obviously this machine or a private network (loopback, RFC 1918, link-local — where cloud
    metadata lives —, ``localhost``), which a subscriber could otherwise make the platform
    call."""
    url = (url or "").strip()
    if not url or len(url) > MAX_URL:
        raise ValidationError(
            f"give the receiver's URL (at most {MAX_URL} characters)", field="url"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationError("not a URL", field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("the URL must be http:// or https:// with a host", field="url")
    if parts.username is not None or parts.password is not None:
        raise ValidationError("no user or password in the URL", field="url")
    if parts.fragment:
        raise ValidationError("no #fragment in the URL", field="url")
    if port == 0:
        raise ValidationError("not a usable port", field="url")
    _check_sendable(url)
    host = parts.hostname.rstrip(".").lower()
    if not allow_private and (
        host == "localhost" or host.endswith(".localhost") or _unsafe_ip(host)
    ):
        raise ValidationError(
            f"{host} is this machine or a private network; refused unless the platform allows "
            "private webhook targets (YINXIN_WEBHOOK_ALLOW_PRIVATE=1)",
            field="url",
            code="unsafe_url",
        )
    return url


def url_key(url: str) -> str:
    """What makes two URLs the same receiver: the request the HTTP client makes for them —
    scheme, host (lower case, IDNA-encoded), port (the scheme's default when none is given)
    and the request target (the path, ``/`` when empty, and the query, percent-encoded as
    sent). ``HTTPS://OA.Example.com:443`` and ``https://oa.example.com/`` are one receiver;
    another path (or its case), query or port is another. SHA-256 in hex, so a long URL fits
    an index. The URL is one ``check_url`` passed."""
    import httpx

    u = httpx.URL(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    request = f"{u.scheme} {u.raw_host.decode('ascii')} {port} {u.raw_path.decode('ascii')}"
    return hashlib.sha256(request.encode()).hexdigest()


def _check_sendable(url: str) -> None:
    """Refuse at subscription what the HTTP client would refuse at every try: ``urlsplit``
    silently drops tabs and line breaks (so the checks above pass), but the request cannot be
    made with them, nor with a host httpx cannot encode (a malformed IDN, ``0177.0.0.1``). Such
    a subscription would otherwise get a secret, then fail every delivery for a day and give
    each up."""
    for i, ch in enumerate(url):
        if ord(ch) <= 0x20 or ord(ch) == 0x7F:
            raise ValidationError(
                f"a space or control character at position {i} of the URL (percent-encode it)",
                field="url",
            )
    import httpx

    try:
        if not httpx.URL(url).host:  # decoding the host is what fails for a malformed IDN
            raise ValueError("no host")
    except (httpx.InvalidURL, ValueError) as e:
        raise ValidationError(f"not a URL the platform can send to ({e})", field="url") from None


@dataclass(frozen=True)
class _Pin:
    """The addresses a try may connect to: what the URL's host resolved to when it was checked.
    ``host`` is the name as httpcore connects to it (lower case, IDNA-encoded)."""

    host: str
    port: int
    addresses: tuple[str, ...]


def _checked_addresses(url: str) -> _Pin:
    """At sending time: resolve the URL's host once and refuse the try if any address is not
    public (a name may point at a private address even when it looked public at subscription
    time). The connection is then made to these addresses and no others (``_PinnedBackend``),
    so a name whose answer changes after this check (DNS rebinding) cannot redirect it."""
    import httpx

    u = httpx.URL(url)
    host = u.raw_host.decode("ascii").lower()
    port = u.port or (443 if u.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise httpx.ConnectError(f"cannot resolve {host}: {e}") from None
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if _unsafe_ip(address):
            raise _Refused(f"refused: the host resolves to a non-public address {address}")
        if address not in addresses:
            addresses.append(address)
    return _Pin(host, port, tuple(addresses))


_pinned = threading.local()  # .pin: the _Pin of the try this thread is making, or None


class _PinnedBackend:
    """httpcore's network backend for direct connections: a connection to the host of the try
    being made goes to the addresses that were checked for it (``_checked_addresses``), tried in
    turn as ``socket.create_connection`` would, never to a fresh DNS answer. TLS still names
    and verifies the URL's host (httpcore passes it to ``start_tls`` itself), and the Host
    header is the URL's. Unless private targets are allowed, a connection nothing checked is
    refused."""

    def __init__(self, *, strict: bool):
        import httpcore

        self.strict = strict
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> Any:
        import httpcore

        pin: _Pin | None = getattr(_pinned, "pin", None)
        if pin is None:
            if self.strict:
                raise httpcore.ConnectError(f"refused: {host} was not checked before connecting")
            return self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        if (host.lower(), port) != (pin.host, pin.port):
            raise httpcore.ConnectError(f"refused: {host}:{port} is not the host that was checked")
        error: Exception = httpcore.ConnectError(f"{host} resolved to no address")
        for address in pin.addresses:
            try:
                return self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                error = e
        raise error

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        return self._inner.connect_unix_socket(*args, **kwargs)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _direct_transport(*, strict: bool) -> httpx.HTTPTransport:
    """httpx's own transport, its connection pool given the pinning network backend (httpx
    does not take a backend itself; the pool is the one ``HTTPTransport`` builds, with the
    backend added)."""
    import httpcore
    import httpx

    transport = httpx.HTTPTransport()
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=100,  # httpx's default limits
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=_PinnedBackend(strict=strict),
    )
    return transport


# --- the service --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Claimed:
    delivery_id: int
    subscription_id: int
    token: str
    attempt_id: int
    attempt: int
    url: str
    secrets: tuple[bytes, ...]  # wrapped: the current secret, then a previous one still valid
    event_id: str
    event_type: str
    payload: str
    created_at: dt.datetime


class Webhooks:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        kek: PlatformKek,
        *,
        allow_private: bool = False,
        retry: RetryPolicy | None = None,
        transport: Callable[[], httpx.Client] | None = None,
    ):
        self.db, self.clock, self.kek = db, clock, kek
        self.allow_private = allow_private
        self.retry = retry or RetryPolicy()
        self._transport = transport

    # === subscriptions ===========================================================================
    def subscribe(
        self,
        url: str,
        events: Iterable[str],
        owner_organization_id: int | None,
        actor: str,
        *,
        description: str | None = None,
    ) -> IssuedSubscription:
        """A new subscription and its secret, shown this once. It receives the events that
        happen after it is made."""
        url = check_url(url, allow_private=self.allow_private)
        wanted = _event_types(events)
        description = _description(description)
        now = self.clock.now()
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        self.kek.ready()  # open (or create) the KEK before the transaction
        with self.db.transaction() as s:
            if owner_organization_id is not None:
                org = s.get(Subscriber, owner_organization_id)
                if org is None or org.kind != "organization":
                    raise ValidationError(
                        f"no organization subscriber {owner_organization_id}",
                        field="owner_organization_id",
                    )
            key = url_key(url)
            twin = self._active_twin(s, key, owner_organization_id)
            if twin is not None:
                raise _duplicate(twin)
            row = WebhookSubscription(
                url=url,
                url_key=key,
                events=json.dumps(list(wanted)),
                description=description,
                owner_organization_id=owner_organization_id,
                secret_wrapped=b"",
                from_seq=0,
                created_by=actor,
                created_at=now,
                updated_at=now,
            )
            _move(SUBSCRIPTION_LIFECYCLE, row, "subscribe")
            # a subscription made meanwhile by another process: the unique index refuses this
            add_unique(s, row, lost_race=_duplicate(None))
            row.secret_wrapped = self.kek.encrypt(secret.encode(), _aad(row.id))
            ev = self._audit(
                s,
                now,
                actor,
                "webhook.subscribed",
                row,
                {
                    "url": _shown_url(url),
                    "events": list(wanted),
                    "owner_organization_id": owner_organization_id,
                },
            )
            row.from_seq = ev.seq  # this event and those before it are not for this subscription
            return IssuedSubscription(SubscriptionView.of(row), secret)

    def list(
        self,
        *,
        organization_id: int | None = None,
        include_deleted: bool = False,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[SubscriptionView]:
        """Subscriptions, oldest first; ``organization_id`` (an organization's caller): only
        that organization's; ``after``/``limit`` page as the other listings do."""
        with self.db.read() as s:
            q = select(WebhookSubscription)
            if organization_id is not None:
                q = q.where(WebhookSubscription.owner_organization_id == organization_id)
            if not include_deleted:
                q = q.where(WebhookSubscription.state != _W.DELETED)
            q = paged(q, WebhookSubscription.id, after=after, limit=limit)
            return [SubscriptionView.of(w) for w in s.execute(q).scalars()]

    def get(self, subscription_id: int, *, organization_id: int | None = None) -> SubscriptionView:
        with self.db.read() as s:
            return SubscriptionView.of(self._row(s, subscription_id, organization_id))

    def pause(
        self,
        subscription_id: int,
        *,
        actor: str,
        organization_id: int | None = None,
        reason: str | None = None,
    ) -> SubscriptionView:
        """Stop deliveries; what is already due waits, and new events are not enqueued for it
        until it is resumed."""
        return self._verb(subscription_id, "pause", actor, organization_id, reason)

    def resume(
        self, subscription_id: int, *, actor: str, organization_id: int | None = None
    ) -> SubscriptionView:
        """Deliver again: the deliveries that waited are tried at the next run."""
        return self._verb(subscription_id, "resume", actor, organization_id, None)

    def delete(
        self, subscription_id: int, *, actor: str, organization_id: int | None = None
    ) -> SubscriptionView:
        """The end: deliveries not yet made are given up, the secret is destroyed."""
        return self._verb(subscription_id, "delete", actor, organization_id, None)

    def rotate_secret(
        self,
        subscription_id: int,
        *,
        actor: str,
        organization_id: int | None = None,
        overlap: dt.timedelta = dt.timedelta(0),
    ) -> IssuedSubscription:
        """A new secret, shown once. With ``overlap`` the old one keeps signing too (a second
        ``v1=`` in the header) for that long, so receivers can switch without losing events."""
        if not dt.timedelta(0) <= overlap <= dt.timedelta(days=7):
            raise ValidationError("the overlap must be between 0 and 7 days", field="overlap")
        now = self.clock.now()
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        self.kek.ready()
        with self.db.transaction() as s:
            row = self._row(s, subscription_id, organization_id, lock=True)
            if row.state == _W.DELETED:
                raise IllegalTransition(f"webhook subscription {row.id} is deleted", field="state")
            if overlap:
                row.previous_secret_wrapped = row.secret_wrapped
                row.previous_until = now + overlap
            else:
                row.previous_secret_wrapped, row.previous_until = None, None
            row.secret_wrapped = self.kek.encrypt(secret.encode(), _aad(row.id))
            row.updated_at = now
            self._audit(
                s,
                now,
                actor,
                "webhook.secret_rotated",
                row,
                {"overlap_seconds": int(overlap.total_seconds())},
            )
            return IssuedSubscription(SubscriptionView.of(row), secret)

    def deliveries(
        self,
        subscription_id: int,
        *,
        limit: int = 50,
        after: int | None = None,
        state: str | None = None,
        organization_id: int | None = None,
    ) -> list[DeliveryView]:
        """The delivery log of a subscription, oldest first from the delivery after ``after``,
        each with its tries."""
        state = listed(DeliveryState, state, "state")
        limit = max(1, min(int(limit), 1000))
        with self.db.read() as s:
            self._row(s, subscription_id, organization_id)
            q = (
                select(WebhookDelivery)
                .where(WebhookDelivery.subscription_id == subscription_id)
                .order_by(WebhookDelivery.id)
                .limit(limit)
            )
            if after is not None:
                q = q.where(WebhookDelivery.id > after)
            if state is not None:
                q = q.where(WebhookDelivery.state == state)
            rows = s.execute(q).scalars().all()
            tries: dict[int, list[AttemptView]] = {r.id: [] for r in rows}
            if rows:
                for a in s.execute(
                    select(WebhookAttempt)
                    .where(WebhookAttempt.delivery_id.in_(list(tries)))
                    .order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)
                ).scalars():
                    tries[a.delivery_id].append(
                        AttemptView(
                            a.number,
                            a.started_at,
                            a.duration_ms,
                            a.http_status,
                            a.error,
                            a.outcome,
                        )
                    )
            return [_delivery_view(r, tuple(tries[r.id])) for r in rows]

    # === the dispatcher ==========================================================================
    def dispatch(self, *, limit: int = 500) -> int:
        """Turn up to ``limit`` audit events after the cursor into deliveries; the deliveries
        and the cursor's move commit together. Returns how many deliveries were enqueued."""
        limit = max(1, min(int(limit), 10000))
        now = self.clock.now()
        enqueued = 0
        with self.db.transaction() as s:
            cursor = s.execute(
                select(WebhookCursor).where(WebhookCursor.id == 1).with_for_update()
            ).scalar_one_or_none()
            if cursor is None:  # the migration writes it; a database restored without it
                cursor = WebhookCursor(id=1, seq=0)
                s.add(cursor)
                s.flush()
            # events first, then subscriptions: one committed after this read made its audit
            # event after these (the chain's head is locked until commit), so it wants none
            events = (
                s.execute(
                    select(AuditEvent)
                    .where(AuditEvent.seq > cursor.seq)
                    .order_by(AuditEvent.seq)
                    .limit(limit)
                )
                .scalars()
                .all()
            )
            if not events:
                return 0
            subs = (
                s.execute(
                    select(WebhookSubscription)
                    .where(WebhookSubscription.state == _W.ACTIVE)
                    .order_by(WebhookSubscription.id)
                )
                .scalars()
                .all()
            )
            wanted = {w.id: frozenset(json.loads(w.events)) for w in subs}
            subjects: dict[tuple[str, str], tuple[frozenset[int], dict]] = {}
            for ev in events:
                data = json.loads(ev.data)
                etype = event_type_of(ev.action, data)
                if etype is None:
                    continue
                takers = [w for w in subs if w.from_seq < ev.seq and etype in wanted[w.id]]
                if not takers:
                    continue
                orgs, named = self._about(s, ev, data, subjects)
                takers = [
                    w
                    for w in takers
                    if w.owner_organization_id is None or w.owner_organization_id in orgs
                ]
                if not takers:
                    continue
                event_id = str(uuid.uuid4())
                body = _body(event_id, etype, ev, data, orgs, named)
                for w in takers:
                    row = WebhookDelivery(
                        subscription_id=w.id,
                        event_id=event_id,
                        event_type=etype,
                        audit_seq=ev.seq,
                        payload=body,
                        attempts=0,
                        created_at=now,
                        next_attempt_at=now,
                    )
                    _move(DELIVERY_LIFECYCLE, row, "enqueue")
                    s.add(row)
                    enqueued += 1
            cursor.seq, cursor.updated_at = events[-1].seq, now
        return enqueued

    def _about(
        self,
        s: Session,
        ev: AuditEvent,
        data: dict,
        cache: dict[tuple[str, str], tuple[frozenset[int], dict]],
    ) -> tuple[frozenset[int], dict]:
        """Whom an event is about: the organizations (the certificate's or seal's holder's, the
        flow's owner's and, for a signature, the signer's; else those the data names) and the
        holder or owner to name in the payload."""
        key = (ev.subject_type, ev.subject_id)
        if key in cache:
            orgs, named = cache[key]
        else:
            named = {}
            if ev.subject_type == "certificate":
                named["holder_subscriber_id"] = s.execute(
                    select(Certificate.subscriber_id).where(Certificate.serial_hex == ev.subject_id)
                ).scalar_one_or_none()
            elif ev.subject_type == "seal":
                named["holder_subscriber_id"] = s.execute(
                    select(Seal.subscriber_id).where(Seal.es_id == ev.subject_id)
                ).scalar_one_or_none()
            elif ev.subject_type == "sign_flow" and ev.subject_id.isdigit():
                named["owner_subscriber_id"] = s.execute(
                    select(SignFlow.owner_subscriber_id).where(SignFlow.id == int(ev.subject_id))
                ).scalar_one_or_none()
            holders = list(named.values()) or [
                data.get("organization_id"),
                data.get("owner_subscriber_id"),
            ]
            orgs = frozenset(o for o in (_org_of(s, h) for h in holders) if o is not None)
            if named:  # the holder of a certificate, seal or flow does not change
                cache[key] = (orgs, named)
        if ev.action == "flow.signer_signed":  # the signer's organization is told too
            extra = _org_of(s, data.get("subscriber_id"))
            if extra is not None:
                orgs = orgs | {extra}
        return orgs, named

    # === the deliverer ===========================================================================
    def deliver_due(
        self, *, limit: int = 50, now: dt.datetime | None = None
    ) -> list[DeliveryResult]:
        """Try up to ``limit`` due deliveries once each, in the order they were written. Safe
        to run in several processes at once: each delivery is one deliverer's while its lease
        lasts.

        Each delivery is claimed just before its own try, not the whole batch up front: a
        lease covers one try (at most ``RetryPolicy.try_seconds``), and the leases of a batch
        claimed at once would run out while earlier tries were still under way — another
        deliverer would then take and send those deliveries too (duplicates, and tries logged
        ``interrupted`` that had never started)."""
        limit = max(1, min(int(limit), 1000))
        results: list[DeliveryResult] = []
        client: httpx.Client | None = None
        if self._anything_due(now or self.clock.now()):
            # the secrets open, or nothing is claimed: a missing or wrong CA passphrase (a cron
            # line without YINXIN_CA_PASSPHRASE) or key store is the platform's fault, refused
            # as every command that needs the key store refuses it — not a failed try logged
            # against each due delivery, whose receiver was never called, until a day of them
            # gave every event up
            self.kek.ready(create=False)
        try:
            while len(results) < limit:
                claimed = self._claim(now or self.clock.now(), 1)
                if not claimed:
                    break
                if client is None:
                    client = self._client()
                results.append(self._try(client, claimed[0], now))
        finally:
            if client is not None:
                client.close()
        return results

    def secrets_refused(self, now: dt.datetime | None = None) -> YinxinError | None:
        """Why the due deliveries cannot be signed now — the key store refuses to open the
        secrets (no or a wrong passphrase, the KEK missing or not the database's) — or None
        (nothing is due, or it opens). Asked by the deliverer job before :meth:`deliver_due`:
        a worker running for weeks on such a key store reports its runs as blocked, once in
        its log, rather than failing every period with the same error."""
        if not self._anything_due(now or self.clock.now()):
            return None
        try:
            self.kek.ready(create=False)
        except YinxinError as e:
            return e
        return None

    @staticmethod
    def _due(at: dt.datetime) -> Any:
        """A delivery due at ``at``: waiting for its (next) try, or leased by a deliverer
        whose lease ran out."""
        return or_(
            and_(
                WebhookDelivery.state.in_([_D.PENDING, _D.FAILED]),
                WebhookDelivery.next_attempt_at <= at,
            ),
            and_(WebhookDelivery.state == _D.LEASED, WebhookDelivery.lease_until <= at),
        )

    def _anything_due(self, at: dt.datetime) -> bool:
        """Whether :meth:`_claim` would find a delivery to an active subscription (so a run
        with nothing to send needs no key store)."""
        with self.db.read() as s:
            return (
                s.execute(
                    select(WebhookDelivery.id)
                    .join(
                        WebhookSubscription,
                        WebhookSubscription.id == WebhookDelivery.subscription_id,
                    )
                    .where(self._due(at), WebhookSubscription.state == _W.ACTIVE)
                    .limit(1)
                ).first()
                is not None
            )

    def _claim(self, at: dt.datetime, limit: int) -> list[_Claimed]:
        due = self._due(at)
        out: list[_Claimed] = []
        with self.db.transaction() as s:
            q = (
                select(WebhookDelivery, WebhookSubscription)
                .join(
                    WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id
                )
                .where(due, WebhookSubscription.state == _W.ACTIVE)
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=WebhookDelivery)
            )
            for row, sub in s.execute(q).all():
                if row.state == _D.LEASED:  # its deliverer died: its try never got an answer
                    s.execute(
                        WebhookAttempt.__table__.update()
                        .where(
                            WebhookAttempt.delivery_id == row.id,
                            WebhookAttempt.outcome == "sending",
                        )
                        .values(
                            outcome="interrupted",
                            error="the deliverer stopped before an answer was recorded",
                        )
                    )
                _move(DELIVERY_LIFECYCLE, row, "claim")
                row.attempts += 1
                row.lease_token = secrets.token_hex(16)
                row.lease_until = at + dt.timedelta(seconds=self.retry.lease_seconds)
                row.next_attempt_at = None
                attempt = WebhookAttempt(
                    delivery_id=row.id, number=row.attempts, started_at=at, outcome="sending"
                )
                s.add(attempt)
                s.flush()
                wrapped = [sub.secret_wrapped]
                if sub.previous_secret_wrapped and sub.previous_until and sub.previous_until > at:
                    wrapped.append(sub.previous_secret_wrapped)
                out.append(
                    _Claimed(
                        row.id,
                        sub.id,
                        row.lease_token,
                        attempt.id,
                        row.attempts,
                        sub.url,
                        tuple(wrapped),
                        row.event_id,
                        row.event_type,
                        row.payload,
                        row.created_at,
                    )
                )
        return out

    def _client(self) -> httpx.Client:
        if self._transport is not None:
            return self._transport()
        import httpx
        from httpx._utils import get_environment_proxies

        direct = _direct_transport(strict=not self.allow_private)
        # the proxies httpx would take from HTTP(S)_PROXY / ALL_PROXY / NO_PROXY, as before:
        # a proxied try connects to the proxy, which resolves the receiver's name itself
        mounts: dict[str, httpx.BaseTransport] = {
            pattern: direct if proxy is None else httpx.HTTPTransport(proxy=proxy)
            for pattern, proxy in get_environment_proxies().items()
        }
        return httpx.Client(
            timeout=httpx.Timeout(self.retry.timeout_seconds),
            follow_redirects=False,  # a redirect is an answer that is not 2xx: tried again
            headers={"User-Agent": "Yinxin-Webhooks/1"},
            transport=direct,
            mounts=mounts,
        )

    def _try(self, client: httpx.Client, c: _Claimed, now: dt.datetime | None) -> DeliveryResult:
        import httpx

        status: int | None = None
        error: str | None = None
        started = time.monotonic()
        body = c.payload.encode()
        at = now or self.clock.now()
        # httpx bounds each connect, write and read, not the try: the deadline cuts the try's
        # connection (found through httpcore's trace hook) when it has lasted try_seconds
        deadline = Deadline(self.retry.try_seconds)
        try:
            keys = [self.kek.decrypt(w, _aad(c.subscription_id)).decode() for w in c.secrets]
            # resolved and checked once; the connection goes to these addresses (_PinnedBackend)
            _pinned.pin = None if self.allow_private else _checked_addresses(c.url)
            headers = {
                # the charset said, or receivers defaulting to GBK mis-read the UTF-8 body
                "Content-Type": CONTENT_TYPE,
                SIGNATURE_HEADER: signature_header(keys, int(at.timestamp()), body),
                EVENT_ID_HEADER: c.event_id,
                EVENT_TYPE_HEADER: c.event_type,
                "Connection": "close",  # a fresh connection per try, for the deadline to cut
            }
            with (
                deadline,
                client.stream(
                    "POST",
                    c.url,
                    content=body,
                    headers=headers,
                    extensions={"trace": deadline.trace},
                ) as response,
            ):
                status = response.status_code
                if not 200 <= status < 300:
                    error = _excerpt(response)
        except _Refused as e:
            error = str(e)
        except ConfigurationError as e:
            error = e.message
        except httpx.TimeoutException:
            error = deadline.reason() or f"timed out after {self.retry.timeout_seconds:g} s"
        except httpx.HTTPError as e:
            error = deadline.reason() or f"{type(e).__name__}: {e}"[:MAX_ERROR]
        except Exception as e:  # a bug in a transport is a failed try, not a lost delivery
            log.exception("webhook delivery %s", c.delivery_id)
            error = f"{type(e).__name__}: {e}"[:MAX_ERROR]
        finally:
            _pinned.pin = None
        duration = int((time.monotonic() - started) * 1000)
        return self._settle(c, at, status, error, duration)

    def _settle(
        self,
        c: _Claimed,
        at: dt.datetime,
        status: int | None,
        error: str | None,
        duration_ms: int,
    ) -> DeliveryResult:
        with self.db.transaction() as s:
            row = s.get(WebhookDelivery, c.delivery_id, with_for_update=True)
            attempt = s.get(WebhookAttempt, c.attempt_id)
            attempt.duration_ms, attempt.http_status, attempt.error = duration_ms, status, error
            if row.lease_token != c.token:
                # our lease ran out and another try began: that one decides, ours is history
                attempt.outcome = "late"
            elif status is not None and 200 <= status < 300:
                _move(DELIVERY_LIFECYCLE, row, "deliver")
                attempt.outcome = "delivered"
                row.finished_at, row.last_error = at, None
            elif status == 410:
                _move(DELIVERY_LIFECYCLE, row, "fail")
                attempt.outcome = "gone"
                row.next_attempt_at = at  # sent again once the subscription is resumed
                sub = s.get(WebhookSubscription, c.subscription_id, with_for_update=True)
                if sub.state == _W.ACTIVE:
                    _move(SUBSCRIPTION_LIFECYCLE, sub, "pause")
                    sub.state_reason = "the receiver answered 410 Gone"
                    sub.updated_at = at
                    self._audit(
                        s, at, "system:webhooks", "webhook.paused", sub, {"reason": "410 Gone"}
                    )
            elif at >= row.created_at + self.retry.window:
                _move(DELIVERY_LIFECYCLE, row, "give_up")
                attempt.outcome = "failed"
                row.finished_at = at
            else:
                _move(DELIVERY_LIFECYCLE, row, "fail")
                attempt.outcome = "failed"
                row.next_attempt_at = min(
                    at + self.retry.delay(row.attempts), row.created_at + self.retry.window
                )
            if attempt.outcome != "late":
                row.lease_token, row.lease_until = None, None
                row.last_http_status = status
                if error is not None:
                    row.last_error = error
            return DeliveryResult(
                row.id,
                row.subscription_id,
                row.event_id,
                row.event_type,
                c.attempt,
                DeliveryState(row.state),
                status,
                error,
                row.next_attempt_at,
            )

    # === internals ===============================================================================
    def _row(
        self, s: Session, subscription_id: int, organization_id: int | None, lock: bool = False
    ) -> WebhookSubscription:
        """A subscription the caller may see: another organization's is answered as missing."""
        row = s.get(WebhookSubscription, subscription_id, with_for_update=True if lock else None)
        if row is None or (
            organization_id is not None and row.owner_organization_id != organization_id
        ):
            raise NotFound(f"no webhook subscription {subscription_id}", field="subscription_id")
        return row

    def _verb(
        self,
        subscription_id: int,
        verb: str,
        actor: str,
        organization_id: int | None,
        reason: str | None,
    ) -> SubscriptionView:
        now = self.clock.now()
        reason = _reason(reason)
        with self.db.transaction() as s:
            row = self._row(s, subscription_id, organization_id, lock=True)
            before = row.state
            if verb == "resume" and before == _W.PAUSED:  # (resuming an active one: refused)
                twin = self._active_twin(s, row.url_key, row.owner_organization_id)
                if twin is not None:
                    raise _duplicate(twin, resuming=row.id)
            _move(SUBSCRIPTION_LIFECYCLE, row, verb)
            row.state_reason, row.updated_at = reason, now
            if verb == "resume":
                # one resumed or subscribed meanwhile: the unique index refuses this (the
                # refusal built first: a failed flush expires the row)
                lost_race = _duplicate(None, resuming=row.id)
                try:
                    s.flush()
                except IntegrityError:
                    raise lost_race from None
            data: dict[str, Any] = {"from": before, "to": row.state, "reason": reason}
            if verb == "delete":
                row.previous_secret_wrapped, row.previous_until = None, None
                row.secret_wrapped = b""  # destroyed: nothing can be signed for it again
                open_rows = (
                    s.execute(
                        select(WebhookDelivery)
                        .where(
                            WebhookDelivery.subscription_id == row.id,
                            WebhookDelivery.state.in_([_D.PENDING, _D.FAILED, _D.LEASED]),
                        )
                        .with_for_update()
                    )
                    .scalars()
                    .all()
                )
                for d in open_rows:
                    _move(DELIVERY_LIFECYCLE, d, "give_up")
                    d.finished_at, d.lease_token, d.lease_until = now, None, None
                    d.next_attempt_at, d.last_error = None, "the subscription was deleted"
                data["given_up"] = len(open_rows)
            self._audit(s, now, actor, VERB_ACTIONS[verb], row, data)
            return SubscriptionView.of(row)

    @staticmethod
    def _active_twin(s: Session, key: str | None, owner: int | None) -> int | None:
        """The id of the owner's active subscription to the receiver ``key`` names, if any."""
        if key is None:
            return None
        q = select(WebhookSubscription.id).where(
            WebhookSubscription.url_key == key,
            WebhookSubscription.state == _W.ACTIVE,
            WebhookSubscription.owner_organization_id.is_(None)
            if owner is None
            else WebhookSubscription.owner_organization_id == owner,
        )
        return s.execute(q.limit(1)).scalar_one_or_none()

    @staticmethod
    def _audit(
        s: Session, now: dt.datetime, actor: str, action: str, row: WebhookSubscription, data: dict
    ) -> AuditEvent:
        return audit.event(s, now, actor, action, row.id, data, subject_type="webhook_subscription")


class _Refused(Exception):
    pass


def _aad(subscription_id: int) -> bytes:
    return b"yinxin-webhook-secret:" + str(subscription_id).encode()


def _event_types(events: Iterable[str]) -> tuple[str, ...]:
    if isinstance(events, str):
        events = [x for x in events.replace(",", " ").split() if x]
    chosen: list[str] = []
    every = False
    for i, e in enumerate(events):
        e = str(e).strip()
        if e == "*":  # every type, but the names after it are still checked (a typo is told)
            every = True
            continue
        if e not in EVENT_TYPES:
            raise ValidationError(
                f"unknown event type {e!r} (known: {', '.join(EVENT_TYPES)}, or *)",
                field=f"events[{i}]",
            )
        if e not in chosen:
            chosen.append(e)
    if every:
        return EVENT_TYPES
    if not chosen:
        raise ValidationError("name at least one event type (or *)", field="events")
    return tuple(x for x in EVENT_TYPES if x in chosen)


PAUSE_REASON_MAX = 500


def _reason(text: str | None) -> str | None:
    """A pause's reason as kept: its spaces collapsed, at most 500 characters, nothing hidden;
    blank is none. A longer one was cut to 500 without a word (the API's body refused it, the
    CLI's ``--reason`` kept its start), and a blank one (``--reason "  "``) was kept as an empty
    reason, listed blank where none is "-". The API's body leaves the length to this refusal
    (``shapes.PauseReason``): it answered one over 500 with pydantic's English alone."""
    if text is None:
        return None
    text = " ".join(str(text).split())
    if len(text) > PAUSE_REASON_MAX:
        raise ValidationError(  # in Chinese and English, as its hidden-character refusal
            f"暂停原因最多 {PAUSE_REASON_MAX} 个字符（此处 {len(text)} 个） / "
            f"at most {PAUSE_REASON_MAX} characters (this one: {len(text)})",
            field="reason",
        )
    return refuse_hidden(text, "reason") or None


def _description(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    if len(text) > 200:
        raise ValidationError("at most 200 characters", field="description")
    refuse_hidden(text, "description")  # shown in lists and terminals: ESC, NUL, U+202E…
    return text or None


def _duplicate(twin: int | None, *, resuming: int | None = None) -> Conflict:
    """The refusal of a second active subscription to one receiver (each event would reach
    it twice, under two secrets). ``twin``: the one it has, when known (None: a process that
    subscribed it meanwhile won)."""
    which = f"webhook subscription {twin}" if twin is not None else "another webhook subscription"
    if resuming is not None:
        what = (
            f"{which} already delivers to the URL of webhook subscription {resuming}: delete "
            f"one of them (or pause {twin if twin is not None else 'it'}) before resuming this one"
        )
    else:
        what = (
            f"{which} already delivers to this URL; rotate its secret if it was lost, or "
            "delete it to subscribe again with other events"
        )
    return Conflict(what, field="url", code="duplicate")


def _shown_url(url: str) -> str:
    """The URL as the audit trail keeps it: without its query, which may carry a token."""
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}{p.path}"


def _org_of(s: Session, subscriber_id: object) -> int | None:
    """The organization a subscriber is or belongs to."""
    if not isinstance(subscriber_id, int) or isinstance(subscriber_id, bool):
        return None
    sub = s.get(Subscriber, subscriber_id)
    if sub is None:
        return None
    return sub.id if sub.kind == "organization" else sub.organization_id


def _scrubbed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrubbed(v) for k, v in value.items() if str(k).lower() not in WITHHELD}
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    return value


def _body(
    event_id: str, etype: str, ev: AuditEvent, data: dict, orgs: frozenset[int], named: dict
) -> str:
    """The JSON body: ``id``, ``type``, ``created_at`` (when it happened) and ``data`` — the
    audit event's subject and details, and the audit sequence number to find it by."""
    return json.dumps(
        {
            "id": event_id,
            "type": etype,
            "created_at": ev.at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "data": {
                "subject_type": ev.subject_type,
                "subject_id": ev.subject_id,
                "action": ev.action,
                "actor": ev.actor,
                "audit_seq": ev.seq,
                **named,
                "organization_ids": sorted(orgs),
                "details": _scrubbed(data),
            },
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _excerpt(response: httpx.Response) -> str:
    """The start of a refusing receiver's answer, for the log."""
    got = b""
    try:
        for chunk in response.iter_bytes():
            got += chunk
            if len(got) >= 200:
                break
    except Exception:  # noqa: BLE001 - the status says enough
        pass
    text = _decoded(got[:200], response.charset_encoding).strip()
    return f"HTTP {response.status_code}" + (f": {text}" if text else "")


def _decoded(data: bytes, charset: str | None) -> str:
    """``data`` read in the charset the answer's Content-Type names, when Python knows it as a
    text encoding; else as UTF-8. A receiver on a GBK platform answers ``text/plain;
    charset=gbk``, which read as UTF-8 would be replacement characters in the log."""
    if charset:
        try:
            return data.decode(charset, "replace")
        except (LookupError, ValueError):  # unknown, or no text codec (base64, idna's strictness)
            pass
    return data.decode("utf-8", "replace")


def _delivery_view(r: WebhookDelivery, tries: tuple[AttemptView, ...]) -> DeliveryView:
    return DeliveryView(
        r.id,
        r.subscription_id,
        r.event_id,
        r.event_type,
        r.audit_seq,
        DeliveryState(r.state),
        r.attempts,
        r.created_at,
        r.next_attempt_at,
        r.finished_at,
        r.last_http_status,
        r.last_error,
        json.loads(r.payload),
        tries,
    )
