"""Publishing certificate status (CRL, OCSP) and trusted time (RFC 3161) from the database.

Freshness: every status change bumps ``status_revisions`` in the same transaction. The CRL
endpoint compares the newest CRL's revision with it on every fetch and re-signs when they differ
(or when nextUpdate draws near); OCSP looks the serial up on every request and keys its cache of
pre-signed responses by the certificate's ``status_version``, so a revocation is visible at
once, in any process, without cache expiry. Requests without a nonce (the common case) are
answered from the cache with no signing.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from dataclasses import dataclass

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from yinxin.clock import Clock
from yinxin.errors import YinxinError
from yinxin.pki import tsa
from yinxin.pki.crl import RevokedEntry, build_crl
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
from yinxin.registry.ca import CertificateAuthority
from yinxin.registry.lifecycle import ON_HOLD, REVOCATION_REASONS, REVOKED
from yinxin.store.db import Database
from yinxin.store.models import AuthorityCertificate, Certificate, Crl, StatusRevision

log = logging.getLogger(__name__)
CRL_VALIDITY = dt.timedelta(days=1)
CRL_REFRESH_BEFORE = dt.timedelta(hours=6)
OCSP_VALIDITY = dt.timedelta(hours=1)
OCSP_RESIGN_AFTER = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class CertStatus:
    serial: int
    status: str  # good | revoked | unknown
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


def rfc_reason(our_reason: str | None) -> str | None:
    if our_reason is None:
        return None
    return REVOCATION_REASONS.get(our_reason, ("unspecified", ""))[0]


class StatusService:
    def __init__(self, db: Database, clock: Clock, ca: CertificateAuthority):
        self.db, self.clock, self.ca = db, clock, ca
        self._lock = threading.Lock()
        self._local = threading.local()
        self._crl_cache: dict[str, tuple[int, dt.datetime, bytes]] = {}

    # --- CRL ----------------------------------------------------------------------------
    def _revision(self, s, role: str) -> int:
        rev = s.get(StatusRevision, role)
        return rev.revision if rev else 0

    def _entries(self, s, role: str) -> list[RevokedEntry]:
        if role == "root":
            rows = s.execute(select(AuthorityCertificate).where(
                AuthorityCertificate.role == "issuing", AuthorityCertificate.active.is_(False))
            ).scalars().all()
            return [RevokedEntry(int(r.serial_hex, 16), r.created_at, "superseded") for r in rows]
        rows = s.execute(
            select(Certificate.serial_hex, Certificate.status, Certificate.revoked_at,
                   Certificate.held_at, Certificate.revocation_reason)
            .where(Certificate.issuer_role == role,
                   Certificate.status.in_([REVOKED, ON_HOLD]))
            .order_by(Certificate.id)
        ).all()
        out = []
        for serial_hex, status, revoked_at, held_at, reason in rows:
            if status == ON_HOLD:
                out.append(RevokedEntry(int(serial_hex, 16), held_at, "certificate_hold"))
            else:
                out.append(RevokedEntry(int(serial_hex, 16), revoked_at, rfc_reason(reason)))
        return out

    def publish_crl(self, role: str = "issuing", *, force: bool = True) -> dict:
        """Sign and store a new CRL for ``role`` (issuing or root) from the current database."""
        issuer = self.ca.issuer(role)
        now = self.clock.now()
        must_cover: int | None = None  # the status revision this call was asked to publish
        for attempt in range(3):
            with self.db.read() as s:
                revision = self._revision(s, role)
                if must_cover is None:
                    must_cover = revision
                latest = s.execute(select(Crl).where(Crl.issuer_role == role)
                                   .order_by(Crl.crl_number.desc()).limit(1)).scalar_one_or_none()
                # unless forced, a fresh CRL of this revision will do; and once we have lost a
                # race, so will the winner's CRL if it covers the revision we were asked for
                if ((not force or attempt > 0) and latest is not None
                        and latest.status_revision >= must_cover
                        and latest.next_update - now > CRL_REFRESH_BEFORE):
                    return self._crl_dict(latest)
                entries = self._entries(s, role)
                number = (latest.crl_number + 1) if latest else 1
            der = build_crl(issuer_cert=issuer.certificate, key=issuer.key, entries=entries,
                            crl_number=number, this_update=now, next_update=now + CRL_VALIDITY)
            row = Crl(issuer_role=role, crl_number=number, this_update=now,
                      next_update=now + CRL_VALIDITY, status_revision=revision, der=der)
            try:
                with self.db.transaction() as s:
                    s.add(row)
            except IntegrityError:
                continue  # another process published this number first; look again
            self._crl_cache[role] = (revision, row.next_update, der)
            return self._crl_dict(row)
        raise YinxinError("could not publish the CRL (concurrent publishers)", code="busy")

    @staticmethod
    def _crl_dict(row: Crl) -> dict:
        return {"issuer": row.issuer_role, "crl_number": row.crl_number,
                "this_update": row.this_update.isoformat(),
                "next_update": row.next_update.isoformat(), "size": len(row.der)}

    def current_crl(self, role: str = "issuing") -> bytes:
        """The CRL to serve now: re-signed if status changed or nextUpdate draws near."""
        if role not in ("issuing", "root"):
            raise YinxinError(f"no CRL for {role!r}", field="role", code="not_found")
        now = self.clock.now()
        with self.db.read() as s:
            revision = self._revision(s, role)
        cached = self._crl_cache.get(role)
        if cached and cached[0] == revision and cached[1] - now > CRL_REFRESH_BEFORE:
            return cached[2]
        with self._lock:
            with self.db.read() as s:
                latest = s.execute(select(Crl).where(Crl.issuer_role == role)
                                   .order_by(Crl.crl_number.desc()).limit(1)).scalar_one_or_none()
            if (latest is not None and latest.status_revision == revision
                    and latest.next_update - now > CRL_REFRESH_BEFORE):
                self._crl_cache[role] = (revision, latest.next_update, latest.der)
                return latest.der
            self.publish_crl(role, force=False)
            return self._crl_cache[role][2]

    # --- certificate status -------------------------------------------------------------
    def lookup(self, serial: int) -> CertStatus:
        """The certificate's status now: one indexed query on a raw DB-API connection kept per
        thread (the hot path of every OCSP request; the ORM would cost ~130 µs here)."""
        hexs = format(serial, "x")
        try:
            row = self._lookup_row(hexs)
        except Exception:  # a dropped connection (server restart…): reconnect once
            self._drop_raw()
            row = self._lookup_row(hexs)
        if row is None:
            return CertStatus(serial, "unknown")
        status, revoked_at, held_at, reason, version = row
        if status == REVOKED:
            return CertStatus(serial, "revoked", _utc(revoked_at), rfc_reason(reason), version)
        if status == ON_HOLD:
            return CertStatus(serial, "revoked", _utc(held_at), "certificate_hold", version)
        return CertStatus(serial, "good", None, None, version)

    def _lookup_row(self, serial_hex: str):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            engine = self.db.read_engine
            conn = engine.raw_connection()
            if engine.dialect.name == "postgresql":
                conn.driver_connection.autocommit = True  # no transaction left open
            mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
            self._local.conn = conn
            self._local.sql = ("SELECT status, revoked_at, held_at, revocation_reason, "
                               f"status_version FROM certificates WHERE serial_hex = {mark}")
        cur = conn.cursor()
        try:
            cur.execute(self._local.sql, (serial_hex,))
            return cur.fetchone()
        finally:
            cur.close()

    def close(self) -> None:
        self._drop_raw()

    def _drop_raw(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    # --- trusted time ----------------------------------------------------------------
    def new_tsa_serial(self) -> int:
        return int.from_bytes(os.urandom(16), "big") >> 1 or 1

    def ca_certificate(self, role: str) -> x509.Certificate:
        return self.ca.certificate(role)


class OcspResponder:
    """Answers OCSP requests for the issuing CA, from pre-signed responses where it can."""

    def __init__(self, status: StatusService):
        self.status = status
        self._responder: tuple[x509.Certificate, object] | None = None
        self._cache: dict[tuple[int, int, str], tuple[dt.datetime, bytes]] = {}
        self._lock = threading.Lock()

    def _signer(self):
        if self._responder is None:
            ca = self.status.ca
            self._responder = (ca.certificate("ocsp"), ca.key("ocsp"))
        return self._responder

    def _build(self, statuses: list, hash_alg: str, nonce: bytes | None,
               now: dt.datetime) -> bytes:
        cert, key = self._signer()
        return build_response(
            responder_cert=cert, responder_key=key,
            issuer_cert=self.status.ca.certificate("issuing"),
            single=[SingleStatus(s.serial, s.status, s.revoked_at, s.reason) for s in statuses],
            this_update=now, next_update=now + OCSP_VALIDITY, nonce=nonce,
            request_hash_alg=hash_alg)

    def _presigned(self, st: CertStatus, alg: str, now: dt.datetime) -> bytes:
        """The nonce-less response for this status, signed at most OCSP_RESIGN_AFTER ago;
        keyed by status_version, so a status change is answered at once."""
        key = (st.serial, st.version, alg) if st.status != "unknown" else None
        if key is not None:
            hit = self._cache.get(key)
            if hit and now - hit[0] < OCSP_RESIGN_AFTER:
                return hit[1]
        der = self._build([st], alg, None, now)
        if key is not None:
            with self._lock:
                if len(self._cache) > 200_000:
                    self._cache.clear()
                self._cache[key] = (now, der)
        return der

    def respond(self, request_der: bytes) -> bytes:

        try:
            ids = parse_request(request_der)
        except OcspError as e:
            return e.response()
        try:
            issuer = self.status.ca.certificate("issuing")
            if not all(matches_issuer(c, issuer) for c in ids):
                # we are authoritative only for our issuing CA (RFC 6960 §2.3)
                return error_response("unauthorized")
            if len({c.hash_algorithm for c in ids}) > 1:
                # build_response echoes every CertID with one hash algorithm; answering a mix
                # would name certificates the client did not ask about
                return error_response("malformed_request")
            now = self.status.clock.now()
            statuses = [self.status.lookup(c.serial) for c in ids]
            alg, nonce = ids[0].hash_algorithm, ids[0].nonce
            if len(ids) == 1:
                template = self._presigned(statuses[0], alg, now)
                if nonce is None:
                    return template
                # a nonce is signed into the response: derive it from the pre-signed one
                return with_nonce(template, nonce, now, self._signer()[1])
            return self._build(statuses, alg, nonce, now)
        except OcspError as e:
            return e.response()
        except Exception:  # a responder must answer, never crash: internalError (RFC 6960 §2.3)
            log.exception("OCSP responder failure")
            return error_response("internal_error")


class TimestampService:
    """RFC 3161 timestamps signed by the platform's TSA certificate."""

    def __init__(self, status: StatusService):
        self.status = status
        self._signer: tuple | None = None

    def _load(self):
        if self._signer is None:
            ca = self.status.ca
            self._signer = (ca.certificate("tsa"), ca.key("tsa"), ca.chain())
        return self._signer

    def respond(self, request_der: bytes) -> bytes:
        try:
            cert, key, chain = self._load()
        except YinxinError:
            log.exception("TSA key unavailable")
            return tsa.rejection("rejection", "system_failure", "the time-stamp service failed")
        return tsa.respond(request_der, tsa_cert=cert, tsa_key=key, chain=chain,
                           serial=self.status.new_tsa_serial(), gen_time=self.status.clock.now(),
                           policy_oid=TSA_POLICY_OID)

    __call__ = respond  # a Timestamper: RFC 3161 request bytes in, response bytes out
