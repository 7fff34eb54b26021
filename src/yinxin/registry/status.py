"""Publishing certificate status (CRL, OCSP) and trusted time (RFC 3161) from the database.

Freshness: every status change bumps ``status_revisions`` in the same transaction. The CRL
endpoint compares the newest CRL's revision with it on every fetch and re-signs when they differ
(or when nextUpdate draws near), and serves a newer CRL another process signed (by its number);
OCSP looks the serial up on every request and keys its cache of pre-signed responses by the
certificate's ``status_version``, so a revocation is visible at once, in any process, without
cache expiry. Requests without a nonce (the common case) are
answered from the cache with no signing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import os
import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from cryptography import x509
from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError

from yinxin.clock import Clock, whole_utc
from yinxin.errors import NotFound, YinxinError
from yinxin.identity import normal_serial, serial_hex
from yinxin.pki import tsa
from yinxin.pki.crl import RevokedEntry, build_crl, next_crl_number
from yinxin.pki.ocsp import (
    Answer as OcspAnswer,
)
from yinxin.pki.ocsp import (
    OcspError,
    SingleStatus,
    build_response,
    error_response,
    matches_issuer,
    parse_request,
    with_nonce,
)
from yinxin.pki.profiles import TSA_POLICY_OID
from yinxin.registry.ca import (
    DEFAULT,
    SIDE_HIERARCHIES,
    CertificateAuthority,
    is_ca_role,
    role_of,
    split_role,
)
from yinxin.registry.lifecycle import EXPIRED, ON_HOLD, REVOCATION_REASONS, REVOKED
from yinxin.registry.views import PublishedCrl, published_crl
from yinxin.store.db import Database
from yinxin.store.models import AuthorityCertificate, Certificate, Crl, StatusRevision

log = logging.getLogger(__name__)
_T = TypeVar("_T")
# How long status data stays valid decides how long a strict outside validator can judge our
# files offline, and how long a stale "good" can be replayed after a revocation. The choices,
# as public CAs make them (CA/Browser Forum BR §4.9.7, §4.9.10; docs/long-term-validation.md):
# the root's CRL lists only CA and TSA certificates, changes rarely and is signed by a key kept
# offline in a real deployment: 90 days, re-signed monthly. The issuing CA's CRL: 7 days,
# re-signed daily (and at once on every status change). OCSP responses: 7 days, re-signed
# within minutes of a request, and at once on a status change (keyed by status version).
CRL_VALIDITY = {"issuing": dt.timedelta(days=7), "root": dt.timedelta(days=90)}
CRL_REFRESH_BEFORE = {"issuing": dt.timedelta(days=6), "root": dt.timedelta(days=60)}
# how far ahead of this process's clock the latest CRL's thisUpdate may be and still be followed
CRL_CLOCK_SLACK = dt.timedelta(minutes=5)
OCSP_VALIDITY = dt.timedelta(days=7)
OCSP_RESIGN_AFTER = dt.timedelta(minutes=10)
# long-running servers look for a rolled-over TSA or responder certificate this often
SIGNER_RECHECK = dt.timedelta(seconds=60)


class Answer(StrEnum):
    """A certificate's status as CRL and OCSP state it (a hold is "revoked", certificateHold)."""

    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CertStatus:
    serial: int
    status: Answer
    revoked_at: dt.datetime | None = None
    reason: str | None = None  # RFC 5280 name as in yinxin.pki.crl.REASONS
    version: int = 0


def _utc(value) -> dt.datetime | None:
    """A raw driver's time value (SQLite: text; PostgreSQL: naive datetime) as aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC)


def held_until_expiry(status: str, held_at: object) -> bool:
    """Whether a certificate expired while on hold (expiry keeps ``held_at``; a release clears
    it). Its hold was never lifted — a key reported lost and never found, say — so CRL and OCSP
    keep stating it: dropping the entry at expiry answered "good", as a release would, for the
    whole time the key was lost, to any relying party checking a signature made then."""
    return status == EXPIRED and held_at is not None


def invalid_since(revoked_at: _T, held_at: _T | None) -> _T:
    """The revocation date CRL and OCSP publish: the start of the hold when the certificate
    was on hold as it was revoked (a revocation keeps ``held_at``; a release clears it), else
    the revocation itself. The hold was never lifted — after a loss report (挂失) anyone may
    hold the key since then —, yet publishing the later revocation time turned "on hold since
    T1" into "revoked at T2", which a relying party validating at a past time reads as "good
    before T2": a signature made with the lost key during the hold verified. The row keeps
    the effective time of the revocation (``revoked_at``) for the record."""
    return held_at if held_at is not None else revoked_at


def rfc_reason(our_reason: str | None) -> str | None:
    if our_reason is None:
        return None
    return REVOCATION_REASONS.get(our_reason, ("unspecified", ""))[0]


# Threads running an event loop that may keep a lookup connection: one per server worker; the
# bound keeps the lookup pool (4 + 12) from being taken by event loops of tests or tools.
_KEPT_MAX = 2


def _in_event_loop() -> bool:
    return asyncio._get_running_loop() is not None


class StatusService:
    def __init__(self, db: Database, clock: Clock, ca: CertificateAuthority):
        self.db, self.clock, self.ca = db, clock, ca
        self._lock = threading.Lock()
        self._local = threading.local()
        self._kept = 0  # connections kept by event-loop threads (at most _KEPT_MAX)
        # role -> (status revision, CRL number, nextUpdate, DER) of the CRL this process serves
        self._crl_cache: dict[str, tuple[int, int, dt.datetime, bytes]] = {}

    # --- CRL ----------------------------------------------------------------------------
    def _revision(self, s, role: str) -> int:
        rev = s.get(StatusRevision, role)
        return rev.revision if rev else 0

    @staticmethod
    def _heads(s, role: str) -> tuple[int, int]:
        """The status revision of ``role`` and the number of its latest CRL (0 when none), in
        one statement (``_HEADS``): both are index lookups, so a CRL fetch served from the
        cache still costs one round trip."""
        revision, number = s.execute(_HEADS, {"role": role}).one()
        return revision or 0, number or 0

    def _entries(self, s, role: str) -> list[RevokedEntry]:
        if split_role(role)[1] == "root":
            # the root issues only authority certificates; a rollover retires one (its
            # signatures stay valid) and never revokes it, so nothing is listed until an
            # authority certificate is revoked outright, which is a key-ceremony matter
            return []
        rows = s.execute(
            select(
                Certificate.serial_hex,
                Certificate.status,
                Certificate.revoked_at,
                Certificate.held_at,
                Certificate.revocation_reason,
            )
            .where(
                Certificate.issuer_role == role,
                or_(
                    Certificate.status.in_([REVOKED, ON_HOLD]),
                    and_(Certificate.status == EXPIRED, Certificate.held_at.is_not(None)),
                ),
            )
            .order_by(Certificate.id)
        ).all()
        out = []
        for hexs, status, revoked_at, held_at, reason in rows:
            if status != REVOKED:  # on hold, or expired on hold (``held_until_expiry``)
                out.append(RevokedEntry(int(hexs, 16), held_at, "certificate_hold"))
            else:
                since = invalid_since(revoked_at, held_at)
                out.append(RevokedEntry(int(hexs, 16), since, rfc_reason(reason)))
        return out

    @staticmethod
    def _latest_crl(s, role: str) -> Crl | None:
        return s.execute(
            select(Crl).where(Crl.issuer_role == role).order_by(Crl.crl_number.desc()).limit(1)
        ).scalar_one_or_none()

    @staticmethod
    def _still_latest(s, role: str, based_on: int | None) -> bool:
        """Whether ``based_on`` is still the latest CRL number of ``role``, in the transaction
        about to store the next one, its role's status revision row locked (PostgreSQL; SQLite's
        writer holds the write lock from BEGIN), so two publishers cannot both pass.

        Numbered ``latest + 1``, two processes that read the same latest CRL made the same
        number and the unique constraint turned the later away; numbers that follow the clock
        (``next_crl_number``) differ a second apart, and both stored: the one from the older
        read, with its older list, could carry the higher number. The later publisher looks
        again instead, as it did on the constraint."""
        s.execute(
            select(StatusRevision.revision)
            .where(StatusRevision.issuer_role == role)
            .with_for_update()
        )
        current = s.execute(
            select(func.max(Crl.crl_number)).where(Crl.issuer_role == role)
        ).scalar_one()
        return current == based_on

    def publish_crl(self, role: str = "issuing", *, force: bool = True) -> PublishedCrl:
        """Sign and store a new CRL for ``role`` (issuing or root) from the current database."""
        issuer = self.ca.issuer(role)
        must_cover: int | None = None  # the status revision this call was asked to publish
        for attempt in range(3):
            with self.db.read() as s:
                revision = self._revision(s, role)
                now = self.clock.now()
                if must_cover is None:
                    must_cover = revision
                latest = self._latest_crl(s, role)
                # unless forced, a fresh CRL of this revision will do; and once we have lost a
                # race, so will the winner's CRL if it covers the revision we were asked for
                if (
                    (not force or attempt > 0)
                    and latest is not None
                    and latest.status_revision >= must_cover
                    and latest.next_update - now > _refresh_before(role)
                ):
                    # another process published it: serve theirs (current_crl reads the cache)
                    self._crl_cache[role] = (
                        latest.status_revision,
                        latest.crl_number,
                        latest.next_update,
                        latest.der,
                    )
                    return published_crl(latest)
                entries = self._entries(s, role)
                this_update = _after(latest, now)
                based_on = latest.crl_number if latest else None
                number = next_crl_number(based_on, this_update)
            next_update = this_update + _validity(role)
            der = build_crl(
                issuer_cert=issuer.certificate,
                key=issuer.key,
                entries=entries,
                crl_number=number,
                this_update=this_update,
                next_update=next_update,
            )
            row = Crl(
                issuer_role=role,
                crl_number=number,
                this_update=this_update,
                next_update=next_update,
                status_revision=revision,
                der=der,
            )
            try:
                with self.db.transaction() as s:
                    if not self._still_latest(s, role, based_on):
                        continue  # another process published meanwhile; look again
                    s.add(row)
            except IntegrityError:
                continue  # another process published this number first; look again
            self._crl_cache[role] = (revision, number, row.next_update, der)
            return published_crl(row)
        raise YinxinError("could not publish the CRL (concurrent publishers)", code="busy")

    def crl_roles(self) -> list[str]:
        """The roles that publish a CRL: issuing CA and root of every hierarchy there is."""
        return [role_of(h, base) for h in self.ca.hierarchies() for base in ("issuing", "root")]

    def crl_role_for(self, serial: str) -> str:
        """The CA role whose CRL lists ``serial`` — the CA that issued it, ``sm2-issuing`` for
        a certificate of the SM2 hierarchy — and so whose key signs the CRL after its status
        changes (``publish_crl_for``, and the CLI's passphrase check before the change).
        ``serial`` in any form a lookup takes (openssl's ``05:A3:…`` too): compared raw, a
        typed form found no row and fell back to the default issuing CA, whose passphrase
        was then checked for an SM2 certificate."""
        with self.db.read() as s:
            role = s.execute(
                select(Certificate.issuer_role).where(
                    Certificate.serial_hex == normal_serial(serial)
                )
            ).scalar_one_or_none()
        return role or "issuing"

    def publish_crl_for(self, serial: str) -> PublishedCrl:
        """A new CRL of the CA that issued ``serial`` (after its status changed)."""
        return self.publish_crl(self.crl_role_for(serial))

    def current_crl(self, role: str = "issuing") -> bytes:
        """The CRL to serve now: re-signed if status changed or nextUpdate draws near.

        The cache is kept while both the status revision and the latest CRL number are those
        of the CRL it holds: a CRL of the same revision signed by another process (the one that
        revoked, after this one had signed that revision on a fetch) is served from then on,
        so no client of this process gets a CRL numbered below one another process served."""
        if not is_ca_role(role):
            raise YinxinError(f"no CRL for {role!r}", field="role", code="not_found")
        now = self.clock.now()
        with self.db.read() as s:
            revision, number = self._heads(s, role)
        cached = self._crl_cache.get(role)
        if (
            cached
            and cached[0] == revision
            and cached[1] == number
            and cached[2] - now > _refresh_before(role)
        ):
            return cached[3]
        with self._lock:
            with self.db.read() as s:
                latest = self._latest_crl(s, role)
            if (
                latest is not None
                and latest.status_revision == revision
                and latest.next_update - now > _refresh_before(role)
            ):
                self._crl_cache[role] = (
                    revision,
                    latest.crl_number,
                    latest.next_update,
                    latest.der,
                )
                return latest.der
            self.publish_crl(role, force=False)
            return self._crl_cache[role][3]

    # --- certificate status -------------------------------------------------------------
    def lookup(self, serial: int, issuer_role: str | None = None) -> CertStatus:
        """The certificate's status now: one indexed query on a raw DB-API connection of
        ``Database.lookup_engine``, checked out for that query alone (the hot path of every
        OCSP request; the ORM would cost ~130 µs here).

        With ``issuer_role`` a certificate of another CA is ``unknown``: with two hierarchies a
        serial asked of the SM2 issuing CA must not be answered from a P-256 certificate."""
        hexs = serial_hex(serial)
        try:
            row = self._lookup_row(hexs)
        except Exception:  # a dropped connection (server restart…): once more, on a new one
            row = self._lookup_row(hexs)
        if row is None or (issuer_role is not None and row[5] != issuer_role):
            return CertStatus(serial, Answer.UNKNOWN)
        status, revoked_at, held_at, reason, version, _role = row
        if status == REVOKED:
            since = _utc(invalid_since(revoked_at, held_at))
            return CertStatus(serial, Answer.REVOKED, since, rfc_reason(reason), version)
        if status == ON_HOLD or held_until_expiry(status, held_at):
            return CertStatus(serial, Answer.REVOKED, _utc(held_at), "certificate_hold", version)
        return CertStatus(serial, Answer.GOOD, None, None, version)

    def _lookup_row(self, serial_hex: str):
        """An event loop's thread keeps its connection (``yinxin serve`` answers OCSP in the
        loop: a checkout per request cost ~20 µs of ~170); any other thread — the servers'
        40-thread pools, a signature's revocation evidence — checks one out for the query."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            try:
                return self._query(conn, serial_hex)
            except Exception:
                self.close()
                raise
        engine = self.db.lookup_engine
        conn = engine.raw_connection()
        keep = _in_event_loop() and self._kept < _KEPT_MAX
        try:
            row = self._query(conn, serial_hex)
        except Exception:
            conn.invalidate()  # a broken connection is not handed to the next query
            conn.close()
            raise
        if keep:
            with self._lock:
                self._kept += 1
            self._local.conn = conn
        else:
            conn.close()  # back to the pool
        return row

    @functools.cached_property
    def _lookup_sql(self) -> str:
        mark = "?" if self.db.lookup_engine.dialect.paramstyle == "qmark" else "%s"
        return (
            "SELECT status, revoked_at, held_at, revocation_reason, "
            f"status_version, issuer_role FROM certificates WHERE serial_hex = {mark}"
        )

    def _query(self, conn, serial_hex: str):
        cur = conn.cursor()
        try:
            cur.execute(self._lookup_sql, (serial_hex,))
            return cur.fetchone()
        finally:
            cur.close()

    def close(self) -> None:
        """Give back the connection this thread keeps, if any."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            with self._lock:
                self._kept -= 1
            try:
                conn.invalidate()
                conn.close()
            except Exception:
                pass

    def authority_status(self, serial: int, hierarchy: str = DEFAULT) -> CertStatus:
        """Status of a certificate the root of ``hierarchy`` issued (issuing CA, TSA, root
        responder), as the root's CRL says: a retired (rolled-over) certificate is not
        revoked; one of another hierarchy is unknown."""
        hexs = serial_hex(serial)
        roles = [role_of(hierarchy, b) for b in ("issuing", "ocsp", "root-ocsp", "tsa")]
        with self.db.read() as s:
            row = (
                s.execute(
                    select(AuthorityCertificate).where(
                        AuthorityCertificate.serial_hex == hexs,
                        AuthorityCertificate.role.in_(roles),
                    )
                )
                .scalars()
                .first()
            )
        if row is None:
            return CertStatus(serial, Answer.UNKNOWN)
        return CertStatus(serial, Answer.GOOD)

    # --- trusted time ----------------------------------------------------------------
    def new_tsa_serial(self) -> int:
        return int.from_bytes(os.urandom(16), "big") >> 1 or 1

    def ca_certificate(self, role: str) -> x509.Certificate:
        return self.ca.certificate(role)


_HEADS = select(
    select(StatusRevision.revision)
    .where(StatusRevision.issuer_role == bindparam("role"))
    .scalar_subquery(),
    select(func.max(Crl.crl_number)).where(Crl.issuer_role == bindparam("role")).scalar_subquery(),
)
_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


def _after(latest: Crl | None, now: dt.datetime) -> dt.datetime:
    """The thisUpdate of the CRL to follow ``latest``: never before ``latest``'s, signed by
    another process between our reading the clock and reading it (or on a machine whose clock
    runs a little ahead) — a relying party keeping the CRL with the later thisUpdate would
    otherwise keep the older list. A ``latest`` more than ``CRL_CLOCK_SLACK`` ahead is taken for a
    clock gone wrong and not followed: every later CRL would carry its time."""
    if latest is None or latest.this_update <= now or latest.this_update - now > CRL_CLOCK_SLACK:
        return now
    return latest.this_update


def _validity(role: str) -> dt.timedelta:
    """How long a CRL of ``role`` lives: by its place in the hierarchy, whichever that is."""
    return CRL_VALIDITY[split_role(role)[1]]


def _refresh_before(role: str) -> dt.timedelta:
    return CRL_REFRESH_BEFORE[split_role(role)[1]]


def _answer(
    der: bytes, this_update: dt.datetime, validity: dt.timedelta, nonce: bytes | None
) -> OcspAnswer:
    """A signed response as ``build_response`` dated it: thisUpdate in whole seconds, and
    nextUpdate ``validity`` later."""
    this = whole_utc(this_update, "this_update")
    return OcspAnswer(der, this, this + validity, nonce is not None)


def _single(st: CertStatus) -> SingleStatus:
    return SingleStatus(st.serial, st.status, st.revoked_at, st.reason)


class _ActiveSigner:
    """The active certificate and key of one authority role, re-read at most every
    ``SIGNER_RECHECK`` so a running server picks up a rollover (a new process at once).
    ``fallback`` stands in while ``role`` has no certificate: a data directory initialised
    before the role existed (``archive renew`` makes it)."""

    def __init__(self, status: StatusService, role: str, fallback: str | None = None):
        self.status, self.role, self.fallback = status, role, fallback
        self._value: tuple[x509.Certificate, object] | None = None
        self._checked = _NEVER

    def get(self) -> tuple[x509.Certificate, object]:
        now = self.status.clock.now()
        if self._value is None or now - self._checked >= SIGNER_RECHECK:
            self._checked = now
            ca = self.status.ca
            ca.forget(self.role)
            role = self.role
            try:
                cert = ca.certificate(role)
            except NotFound:
                if self.fallback is None:
                    raise
                role = self.fallback
                cert = ca.certificate(role)
            if self._value is None or self._value[0] != cert:
                self._value = (cert, ca.key(role))
        return self._value

    def reload(self) -> None:
        self._checked = _NEVER


class _HierarchyResponder:
    """The OCSP answers of one hierarchy: its issuing CA's certificates by its delegated
    responder (``ocsp``), from pre-signed responses where it can, and its root's subordinates
    by the root's responder (``root-ocsp``)."""

    def __init__(self, status: StatusService, hierarchy: str = DEFAULT):
        self.status, self.hierarchy = status, hierarchy
        self.issuing_role = role_of(hierarchy, "issuing")
        self.root_role = role_of(hierarchy, "root")
        self._issuing = _ActiveSigner(status, role_of(hierarchy, "ocsp"))
        self._root = _ActiveSigner(status, role_of(hierarchy, "root-ocsp"), fallback=self.root_role)
        self._cached_for: tuple | None = None  # the responder the pre-signed cache was made by
        self._cache: dict[tuple[int, int, str], tuple[dt.datetime, bytes]] = {}
        self._lock = threading.Lock()

    def issuing(self) -> x509.Certificate:
        return self.status.ca.certificate(self.issuing_role)

    def root(self) -> x509.Certificate:
        return self.status.ca.certificate(self.root_role)

    def _signer(self):
        signer = self._issuing.get()
        if signer is not self._cached_for:  # responses of a rolled-over responder go
            self._cache.clear()
            self._cached_for = signer
        return signer

    def _build(self, statuses: list, hash_alg: str, nonce: bytes | None, now: dt.datetime) -> bytes:
        cert, key = self._signer()
        return build_response(
            responder_cert=cert,
            responder_key=key,
            issuer_cert=self.issuing(),
            single=[_single(s) for s in statuses],
            this_update=now,
            next_update=now + OCSP_VALIDITY,
            nonce=nonce,
            request_hash_alg=hash_alg,
        )

    def _presigned(self, st: CertStatus, alg: str, now: dt.datetime) -> tuple[dt.datetime, bytes]:
        """The nonce-less response for this status, signed at most OCSP_RESIGN_AFTER ago, and
        the moment it was signed (its thisUpdate); keyed by status_version, so a status change
        is answered at once."""
        key = (st.serial, st.version, alg) if st.status != Answer.UNKNOWN else None
        if key is not None:
            hit = self._cache.get(key)
            if hit and now - hit[0] < OCSP_RESIGN_AFTER:
                return hit
        der = self._build([st], alg, None, now)
        if key is not None:
            with self._lock:
                if len(self._cache) > 200_000:
                    self._cache.clear()
                self._cache[key] = (now, der)
        return now, der

    def respond_as_root(self, ids: list) -> OcspAnswer:
        """The root answers for its own subordinates (issuing CA, TSA): rare requests, signed
        each time, valid as long as the root's CRL."""
        now = self.status.clock.now()
        responder, key = self._root.get()
        der = build_response(
            responder_cert=responder,
            responder_key=key,
            issuer_cert=self.root(),
            single=[_single(self.status.authority_status(c.serial, self.hierarchy)) for c in ids],
            this_update=now,
            next_update=now + CRL_VALIDITY["root"],
            nonce=ids[0].nonce,
            request_hash_alg=ids[0].hash_algorithm,
        )
        return _answer(der, now, CRL_VALIDITY["root"], ids[0].nonce)

    def respond_as_issuing(self, ids: list) -> OcspAnswer:
        now = self.status.clock.now()
        statuses = [self.status.lookup(c.serial, self.issuing_role) for c in ids]
        alg, nonce = ids[0].hash_algorithm, ids[0].nonce
        if len(ids) == 1:
            signed_at, template = self._presigned(statuses[0], alg, now)
            if nonce is None:
                return _answer(template, signed_at, OCSP_VALIDITY, None)
            # a nonce is signed into the response: derive it from the pre-signed one
            der = with_nonce(template, nonce, now, self._signer()[1])
            return _answer(der, signed_at, OCSP_VALIDITY, nonce)
        return _answer(self._build(statuses, alg, nonce, now), now, OCSP_VALIDITY, nonce)

    def fresh(self, cert: x509.Certificate) -> bytes | None:
        """A response about ``cert`` signed now (see ``OcspResponder.fresh``); None when
        ``cert`` is not of this hierarchy."""
        now = self.status.clock.now()
        issuing, root = self.issuing(), self.root()
        if cert.issuer == issuing.subject:
            st = self.status.lookup(cert.serial_number, self.issuing_role)
            (responder, key), issuer, validity = self._signer(), issuing, OCSP_VALIDITY
        elif cert.issuer == root.subject:
            # a statement about a CA or TSA certificate, like the root's CRL: it lives as long
            st = self.status.authority_status(cert.serial_number, self.hierarchy)
            (responder, key), issuer, validity = self._root.get(), root, CRL_VALIDITY["root"]
        else:
            return None
        # nextUpdate never passes the certificate's expiry: a validator that slides its control
        # time to nextUpdate (pyHanko's AdES past validation) must not land after the expiry
        next_update = now + validity
        if now < cert.not_valid_after_utc < next_update:
            next_update = cert.not_valid_after_utc
        return build_response(
            responder_cert=responder,
            responder_key=key,
            issuer_cert=issuer,
            single=[_single(st)],
            this_update=now,
            next_update=next_update,
            nonce=None,
            request_hash_alg="sha256",
        )

    def reload(self) -> None:
        self._issuing.reload()
        self._root.reload()


class OcspResponder:
    """Answers OCSP requests for every hierarchy's issuing CA and root, picking the hierarchy
    by the request's CertIDs (issuer name and key hashes): the default hierarchy's are matched
    first, as before; a side hierarchy (SM2) is looked at when they do not match."""

    def __init__(self, status: StatusService):
        self.status = status
        self._default = _HierarchyResponder(status)
        self._side: dict[str, _HierarchyResponder] = {}
        self._side_checked = _NEVER

    def _sides(self, refresh: bool = False) -> list[_HierarchyResponder]:
        """The side hierarchies' responders; the list is re-read (one query) when a request
        matches none of the known issuers, at most every ``SIGNER_RECHECK``, so a server
        started before ``yinxin ca add-hierarchy`` answers for the new hierarchy soon after."""
        now = self.status.clock.now()
        if refresh and now - self._side_checked >= SIGNER_RECHECK:
            self._side_checked = now
            for h in self.status.ca.hierarchies():
                if h in SIDE_HIERARCHIES and h not in self._side:
                    self._side[h] = _HierarchyResponder(self.status, h)
        return list(self._side.values())

    def reload(self) -> None:
        """Look for a rolled-over responder certificate at the next use."""
        self._default.reload()
        for r in self._side.values():
            r.reload()
        self._side_checked = _NEVER

    def fresh(self, cert: x509.Certificate) -> bytes:
        """A response about ``cert`` signed now, never from the cache: evidence embedded at
        signing must be produced after the signature's timestamp to prove "not revoked then".

        Certificates of an issuing CA are answered by its delegated responder; the root's
        subordinates (issuing CA, TSA) by the root's, with their status from the authority
        table — in whichever hierarchy ``cert`` belongs to.
        """
        der = self._default.fresh(cert)
        if der is None:
            for side in self._sides(refresh=True):
                if (der := side.fresh(cert)) is not None:
                    break
        if der is None:
            raise YinxinError(
                "not a certificate of this authority", field="certificate", code="not_found"
            )
        return der

    def respond(self, request_der: bytes) -> bytes:
        """The DER OCSPResponse to a DER OCSPRequest (see ``answer``)."""
        return self.answer(request_der).der

    def answer(self, request_der: bytes) -> OcspAnswer:
        """The OCSPResponse to a DER OCSPRequest with what HTTP caches may be told of it: an
        error status (malformed, unauthorized, internal error) carries no times."""
        try:
            ids = parse_request(request_der)
        except OcspError as e:
            return OcspAnswer(e.response())
        try:
            if len({c.hash_algorithm for c in ids}) > 1:
                # build_response echoes every CertID with one hash algorithm; answering a mix
                # would name certificates the client did not ask about
                return OcspAnswer(error_response("malformed_request"))
            for refresh in (False, True):
                for h in [self._default, *self._sides(refresh)]:
                    if all(matches_issuer(c, h.issuing()) for c in ids):
                        return h.respond_as_issuing(ids)
                    if all(matches_issuer(c, h.root()) for c in ids):
                        return h.respond_as_root(ids)
            # we are authoritative only for our own CAs (RFC 6960 §2.3)
            return OcspAnswer(error_response("unauthorized"))
        except OcspError as e:
            return OcspAnswer(e.response())
        except Exception:  # a responder must answer, never crash: internalError (RFC 6960 §2.3)
            log.exception("OCSP responder failure")
            return OcspAnswer(error_response("internal_error"))


class TimestampService:
    """RFC 3161 timestamps signed by the platform's TSA certificate — the default hierarchy's,
    or with ``of("sm2")`` the SM2 hierarchy's (``POST /tsa/sm2``)."""

    def __init__(self, status: StatusService, hierarchy: str = DEFAULT):
        self.status, self.hierarchy = status, hierarchy
        self.role = role_of(hierarchy, "tsa")
        self._active = _ActiveSigner(status, self.role)
        self._others: dict[str, TimestampService] = {hierarchy: self}

    def of(self, hierarchy: str) -> TimestampService:
        """The TSA of ``hierarchy`` (``""``: the default one). An unknown name is refused;
        a hierarchy this authority lacks answers as a TSA without a key does (rejection)."""
        if hierarchy not in (DEFAULT, *SIDE_HIERARCHIES):
            raise YinxinError(
                f"no hierarchy named {hierarchy!r}", field="hierarchy", code="not_found"
            )
        if hierarchy not in self._others:
            other = TimestampService(self.status, hierarchy)
            other._others = self._others
            self._others[hierarchy] = other
        return self._others[hierarchy]

    def _load(self):
        """The active TSA certificate, key and chain (see ``_ActiveSigner`` for rollover)."""
        cert, key = self._active.get()
        return cert, key, self.status.ca.chain_for(self.role)

    def certificate(self) -> x509.Certificate:
        return self._active.get()[0]

    def reload(self) -> None:
        """Look for a rolled-over certificate at the next use."""
        for t in self._others.values():
            t._active.reload()

    def respond(self, request_der: bytes) -> bytes:
        """Stamp, or reject. A certificate outside its validity now (expired, the rollover
        missed: ``archive renew`` warns when it cannot roll the TSA over) stamps nothing: such
        a token proves nothing to any validator (RFC 3161 §2.4.2), and an archive renewal that
        used it reported the document renewed while it had added a dead timestamp."""
        try:
            cert, key, chain = self._load()
        except YinxinError:
            log.exception("TSA key unavailable")
            return tsa.rejection("rejection", "system_failure", "the time-stamp service failed")
        now = self.status.clock.now()
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            log.error(
                "TSA certificate %s is not valid now (%s to %s): no timestamp issued; the TSA"
                " is rolled over by yinxin archive renew (or the archive.renew job), which needs"
                " the root CA's key in the key store to certify the new TSA key",
                serial_hex(cert.serial_number),
                cert.not_valid_before_utc.isoformat(),
                cert.not_valid_after_utc.isoformat(),
            )
            return tsa.rejection(
                "rejection",
                "system_failure",
                "the time-stamp service's certificate has expired or is not yet valid",
            )
        return tsa.respond(
            request_der,
            tsa_cert=cert,
            tsa_key=key,
            chain=chain,
            serial=self.status.new_tsa_serial(),
            gen_time=now,
            policy_oid=TSA_POLICY_OID,
        )

    __call__ = respond  # a Timestamper: RFC 3161 request bytes in, response bytes out


@dataclass(frozen=True)
class Evidence:
    """What the services that make or keep PAdES evidence (revocation data, timestamps) are
    built on: the database, the clock, the CA, the OCSP responder and the TSA."""

    db: Database
    clock: Clock
    ca: CertificateAuthority
    ocsp: OcspResponder
    tsa: TimestampService
