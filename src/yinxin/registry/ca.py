"""The platform's own certificate authority: set-up, and handing out issuers to the services.

``init`` creates, in one go, a root CA, an issuing CA under it, the OCSP-responder certificate
(under the issuing CA, which it answers for) and the timestamp-authority certificate (under the
root). If anything fails half-way, the keys it made are removed and the database transaction is
rolled back, so a retry starts clean.

Why the TSA sits under the root: a timestamp must outlive the CA that issued the signer's
certificate. Archive timestamps (PAdES B-LTA) keep a contract provable after the issuing CA has
expired only if a TSA certificate valid *then* exists, so the TSA chain must not end with the
issuing CA. Its status comes from the root's CRL, which lives months (see ``status``).

Rollover: the OCSP responder and TSA certificates are shorter-lived than the CAs; ``rollover``
makes a new key and certificate for the role and retires (never revokes) the old one, so every
token and response it signed stays valid. ``ensure_current`` does it when the active certificate
has less than a margin left, and is called by the archive renewal before it timestamps.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from sqlalchemy import inspect, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from yinxin.clock import Clock, beijing_date
from yinxin.errors import ConfigurationError, Conflict, Forbidden, NotFound, ValidationError
from yinxin.identity import serial_hex
from yinxin.pki.algorithms import get_algorithm
from yinxin.pki.authority import Issuer, StatusUrls, base_name, build_certificate, der, fingerprint
from yinxin.pki.keys import KeyHandle, KeyMissing, KeyStore
from yinxin.pki.profiles import PROFILES
from yinxin.registry.views import (
    AuthorityCertificateView,
    AuthorityInit,
    AuthorityRoleView,
    RolledOver,
    authority_certificate_view,
)
from yinxin.store.audit import event
from yinxin.store.db import Database
from yinxin.store.models import AuthorityCertificate, StatusRevision

ROLES = ("root", "issuing", "ocsp", "root-ocsp", "tsa")
# "ocsp" answers for the issuing CA's certificates, "root-ocsp" for the root's (issuing CA, TSA):
# delegated responders for both, so the root key signs nothing on a signing's path, and
# validators that time-slide (ETSI EN 319 102-1 §5.6.2.1) meet an ocsp-nocheck responder
# rather than a trust anchor asking for status of its own
ISSUER_OF: dict[str, str | None] = {
    "root": None,
    "issuing": "root",
    "ocsp": "issuing",
    "root-ocsp": "root",
    "tsa": "root",
}
ROLLABLE = ("tsa", "ocsp", "root-ocsp", "issuing")
KEY_LABELS = {
    "root": "root-ca",
    "issuing": "issuing-ca",
    "ocsp": "ocsp-responder",
    "root-ocsp": "root-ocsp-responder",
    "tsa": "tsa",
}
NAMES = {
    "root": "印信根证书 Yinxin Root CA",
    "issuing": "印信签发证书 Yinxin Issuing CA",
    "ocsp": "印信 OCSP 响应器 Yinxin OCSP Responder",
    "root-ocsp": "印信根 OCSP 响应器 Yinxin Root OCSP Responder",
    "tsa": "印信时间戳服务 Yinxin Timestamp Authority",
}
PROFILE_OF = {
    "root": "root-ca",
    "issuing": "issuing-ca",
    "ocsp": "ocsp-responder",
    "root-ocsp": "ocsp-responder",
    "tsa": "tsa",
}
ORGANIZATION = "印信电子认证服务 Yinxin"
# the database lock under which a hierarchy's keys and certificates are made (``_create``)
AUTHORITY_LOCK = 0x5958434148  # "YXCAH"
log = logging.getLogger(__name__)

# Hierarchies side by side (issue 15 §1: "an RSA/ECDSA and an SM2 hierarchy can live side by
# side"). The hierarchy ``yinxin init`` makes is the default one, DEFAULT: its roles carry no
# prefix, so every row and every caller written for one hierarchy keeps working. A hierarchy
# added beside it (``yinxin ca add-hierarchy --algorithm sm2``) is named after its algorithm
# and its roles, key labels and URLs carry that name as a prefix — ``sm2-root``,
# ``sm2-issuing``, ``sm2-ocsp``, ``sm2-root-ocsp``, ``sm2-tsa``; ``/crl/sm2-issuing.crl`` — and
# its certificates' names end in " SM2". The roles fit the existing columns (String(20)), so
# no schema change is needed: a certificate's ``issuer_role`` and a CRL's ``issuer_role`` say
# which hierarchy it belongs to, as they said "issuing" or "root" before.
DEFAULT = ""
SIDE_HIERARCHIES = ("sm2",)  # the algorithms a hierarchy can be added for, beside the default


def role_of(hierarchy: str, base: str) -> str:
    """The role ``base`` (one of ``ROLES``) of ``hierarchy``: ``issuing``, ``sm2-issuing``."""
    return f"{hierarchy}-{base}" if hierarchy else base


def split_role(role: str) -> tuple[str, str]:
    """``(hierarchy, base role)`` of a role: ``sm2-root-ocsp`` → ``("sm2", "root-ocsp")``."""
    for h in SIDE_HIERARCHIES:
        if role.startswith(f"{h}-") and role[len(h) + 1 :] in ROLES:
            return h, role[len(h) + 1 :]
    return DEFAULT, role


def issuer_of(role: str) -> str | None:
    """The role whose key signs ``role``'s certificate, in the same hierarchy (None: a root)."""
    hierarchy, base = split_role(role)
    up = ISSUER_OF[base]
    return None if up is None else role_of(hierarchy, up)


def key_label(role: str) -> str:
    hierarchy, base = split_role(role)
    return role_of(hierarchy, KEY_LABELS[base])


def name_of(role: str) -> str:
    """The common name of ``role``'s certificates: a side hierarchy's end in its name, so the
    two roots, issuing CAs… differ by name (what OCSP CertIDs and chains are matched by)."""
    hierarchy, base = split_role(role)
    return f"{NAMES[base]} {hierarchy.upper()}" if hierarchy else NAMES[base]


def is_ca_role(role: str) -> bool:
    """A role that publishes a CRL: the root or the issuing CA of some hierarchy."""
    hierarchy, base = split_role(role)
    return base in ("root", "issuing") and role == role_of(hierarchy, base)


def _refuse_a_key_not_the_certificates(role: str, cert: x509.Certificate, key: KeyHandle) -> None:
    """The key found under the role's label must be the one its certificate certifies: a key
    replaced in a PKCS#11 token under that label by another tool (or a key file swapped)
    signed certificates and CRLs no relying party could verify against the CA certificate,
    and nothing said so. Checked once a process, when the role's issuer is first loaded."""
    from cryptography.hazmat.primitives import serialization

    def spki(k: object) -> bytes:
        if hasattr(k, "spki_der"):  # an SM2 key
            return k.spki_der()  # type: ignore[no-any-return]
        return k.public_bytes(  # type: ignore[attr-defined, no-any-return]
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    if key.algorithm.family == "sm2":
        from yinxin.pki import sm2_x509  # only an SM2 hierarchy pays for its import

        certified = sm2_x509.public_key_any(cert)
    else:
        certified = cert.public_key()
    if spki(key.public_key()) != spki(certified):
        raise ConfigurationError(
            f"the key {key.label!r} in the key store is not the one the {role} certificate "
            f"({serial_hex(cert.serial_number)}) certifies: it was replaced outside Yinxin; put "
            "the original key back (nothing is signed with this one)",
            field="keystore",
        )


def _row(
    role: str, label: str, keystore: str, algorithm: str, cert: x509.Certificate, now: dt.datetime
) -> AuthorityCertificate:
    """The active authority certificate of ``role``, as ``init`` and a rollover record it."""
    return AuthorityCertificate(
        role=role,
        key_label=label,
        keystore=keystore,
        algorithm=algorithm,
        serial_hex=serial_hex(cert.serial_number),
        subject=cert.subject.rfc4514_string(),
        not_after=cert.not_valid_after_utc,
        der=der(cert),
        active=True,
        created_at=now,
    )


def _record(
    s: Session,
    now: dt.datetime,
    actor: str,
    action: str,
    role: str,
    cert: x509.Certificate,
    **data: str | None,
) -> None:
    """The audit event of an authority certificate made for ``role``."""
    event(
        s,
        now,
        actor,
        action,
        role,
        subject_type="authority",
        data={"serial": serial_hex(cert.serial_number), "sha256": fingerprint(cert), **data},
    )


@dataclass(frozen=True)
class Urls:
    base: str

    def crl(self, role: str) -> str:
        return f"{self.base}/crl/{role}.crl"

    def ca_cert(self, role: str) -> str:
        return f"{self.base}/ca/{role}.cer"

    @property
    def ocsp(self) -> str:
        return f"{self.base}/ocsp"

    @property
    def tsa(self) -> str:
        return f"{self.base}/tsa"


def _first(s: Session) -> None:
    """Refuses a second ``init``: the default hierarchy, or any, is made already."""
    if s.execute(select(AuthorityCertificate.id).limit(1)).first() is not None:
        raise Conflict("the certificate authority is already initialised", field="home")


class CertificateAuthority:
    def __init__(self, db: Database, keystore: Callable[[], KeyStore], clock: Clock, base_url: str):
        self.db = db
        self._keystore = keystore
        self.clock = clock
        self.urls = Urls(base_url)
        self._issuers: dict[str, Issuer] = {}
        self._certs: dict[str, x509.Certificate] = {}

    # --- set-up ---------------------------------------------------------------------------------
    def is_initialised(self) -> bool:
        with self.db.read() as s:
            return s.execute(select(AuthorityCertificate.id).limit(1)).first() is not None

    def refuse_if_initialised(self) -> None:
        """``init``'s refusal of an authority made already (``Conflict`` on ``home``), asked
        before the schema is migrated: a database at an older revision is refused as it is, not
        upgraded first. It reads only the ids of ``authority_certificates``, a table since the
        first migration; a new database, without the table, passes."""
        with self.db.read() as s:
            if inspect(s.connection()).has_table("authority_certificates"):
                _first(s)

    def init(self, algorithm: str = "ec-p256", actor: str = "operator") -> AuthorityInit:
        get_algorithm(algorithm)
        return self._create(DEFAULT, algorithm, actor, _first)

    def _create(
        self, hierarchy: str, algorithm: str, actor: str, check: Callable[[Session], None]
    ) -> AuthorityInit:
        """Make the keys and certificates of one hierarchy and record them, all under one
        database-wide lock (``AUTHORITY_LOCK``) taken before ``check`` looks at what exists.

        Why the lock spans key generation: two ``init`` (or ``add-hierarchy``) runs started
        together would otherwise both pass the check, both write keys under the same labels,
        and the one that lost at commit would remove, on its way out, the key files of the one
        that won — a CA left with certificates and no keys. Under the lock the second run
        waits, then finds the hierarchy made and is refused before it touches a key."""
        r = {base: role_of(hierarchy, base) for base in ROLES}  # base role -> this hierarchy's
        roles = list(r.values())
        store = self._keystore()
        made: list[str] = []
        try:
            with self.db.exclusive(AUTHORITY_LOCK) as s:
                check(s)
                self._clear_orphans(store, roles)
                now = self.clock.now()
                keys: dict[str, KeyHandle] = {}
                for role in roles:
                    keys[role] = store.generate(key_label(role), algorithm)
                    made.append(key_label(role))
                root = build_certificate(
                    profile=PROFILES["root-ca"],
                    subject=base_name(name_of(r["root"]), organization=ORGANIZATION),
                    public_key=keys[r["root"]].public_key(),
                    issuer=None,
                    self_key=keys[r["root"]],
                    not_before=now,
                    not_after=now + dt.timedelta(days=PROFILES["root-ca"].days),
                )
                root_issuer = Issuer(root, keys[r["root"]], self.status_urls(r["root"]))
                issuing = self._sub(root_issuer, r["issuing"], keys, now)
                issuing_issuer = Issuer(issuing, keys[r["issuing"]], self.status_urls(r["issuing"]))
                certs = {
                    r["root"]: root,
                    r["issuing"]: issuing,
                    r["ocsp"]: self._sub(issuing_issuer, r["ocsp"], keys, now),
                    r["root-ocsp"]: self._sub(root_issuer, r["root-ocsp"], keys, now),
                    r["tsa"]: self._sub(root_issuer, r["tsa"], keys, now),
                }
                extra = {"hierarchy": hierarchy} if hierarchy else {}
                for role, cert in certs.items():
                    s.add(_row(role, key_label(role), store.kind, algorithm, cert, now))
                    _record(
                        s,
                        now,
                        actor,
                        "authority.certificate_created",
                        role,
                        cert,
                        subject=cert.subject.rfc4514_string(),
                        keystore=store.kind,
                        algorithm=algorithm,
                        **extra,
                    )
                for role in (r["root"], r["issuing"]):
                    s.add(StatusRevision(issuer_role=role, revision=1))
        except BaseException as e:
            # under the lock no other run made keys under these labels: what this run made
            # and did not commit is its own to remove
            for label in made:
                store.remove(label)
            if not made and isinstance(e, OperationalError) and "locked" in str(e.orig):
                # SQLite gave up waiting for the lock (30 s): another set-up still runs
                raise Conflict(
                    "another set-up of this certificate authority (init or add-hierarchy) is "
                    "still running on this database: run this again when it has finished",
                    field="home",
                ) from None
            raise
        self._certs.update(certs)
        return AuthorityInit(
            algorithm=algorithm,
            keystore=store.kind,
            certificates={role: self.describe(c) for role, c in certs.items()},
        )

    @staticmethod
    def _clear_orphans(store: KeyStore, roles: Sequence[str] = ROLES) -> None:
        """Keys left by an ``init`` that was killed before its commit (the database holds no
        authority yet, so nothing refers to them): in this data directory's own file store
        they are removed, with any half-written ``.tmp`` file, and init starts over. In a
        PKCS#11 token, which other deployments may share, they are named and left alone."""
        found = [key_label(r) for r in roles if store.exists(key_label(r))]
        directory = getattr(store, "directory", None)
        if store.kind == "file":
            for label in found:
                log.warning("removing key %r left by an interrupted init", label)
                store.remove(label)
            if directory is not None and Path(directory).is_dir():
                for tmp in Path(directory).glob("*.tmp"):
                    tmp.unlink(missing_ok=True)
            return
        if found:
            raise Conflict(
                f"the key store already holds {', '.join(map(repr, found))} but this database "
                "has no CA: use a fresh token, or delete those objects if an interrupted init "
                "of this installation made them",
                field="keystore",
            )

    def _sub(
        self, issuer: Issuer, role: str, keys: dict[str, KeyHandle], now: dt.datetime
    ) -> x509.Certificate:
        profile = PROFILES[PROFILE_OF[split_role(role)[1]]]
        return build_certificate(
            profile=profile,
            subject=base_name(name_of(role), organization=ORGANIZATION),
            public_key=keys[role].public_key(),
            issuer=issuer,
            not_before=now,
            not_after=now + dt.timedelta(days=profile.days),
        )

    @staticmethod
    def describe(cert: x509.Certificate) -> AuthorityCertificateView:
        return authority_certificate_view(cert)

    # --- access ----------------------------------------------------------------------------------
    def status_urls(self, role: str) -> StatusUrls:
        # both CAs declare OCSP: the root's subordinates (issuing CA, TSA) are answered by the
        # root itself, so archive renewal can add status for each certificate alone
        return StatusUrls(
            crl=self.urls.crl(role), ca_issuers=self.urls.ca_cert(role), ocsp=self.urls.ocsp
        )

    def forget(self, role: str) -> None:
        """Drop the cached certificate of ``role`` so the next read sees a rollover."""
        self._certs.pop(role, None)
        self._issuers.pop(role, None)

    def certificate(self, role: str) -> x509.Certificate:
        if role not in self._certs:
            self._certs[role] = x509.load_der_x509_certificate(self._active_row(role).der)
        return self._certs[role]

    def key(self, role: str) -> KeyHandle:
        """Load the active key of ``role`` from the key store (asks for the passphrase on first
        use); after a rollover that is the new key, under its own label."""
        return self._load_key(role, self._active_row(role).key_label)

    def _load_key(self, role: str, label: str) -> KeyHandle:
        """``label``'s key from the store; one the store lacks while the database holds its
        certificate is the key store's fault (``key_missing``, exit 7, field ``keystore``):
        typically a database restored without its ``keys/`` folder or token. It was the store's
        ``not_found`` naming ``label`` (exit 3, the API's 404), as if a record were missing."""
        try:
            return self._keystore().load(label)
        except NotFound as e:
            raise KeyMissing(
                f"{e.message}, the key of the {role} certificate: restore the keys directory "
                "(or use the HSM token) this database was made with, from its backup",
                field="keystore",
            ) from None

    def _active_row(self, role: str) -> AuthorityCertificate:
        with self.db.read() as s:
            row = s.execute(
                select(AuthorityCertificate).where(
                    AuthorityCertificate.role == role, AuthorityCertificate.active.is_(True)
                )
            ).scalar_one_or_none()
        if row is None:
            hierarchy = split_role(role)[0]
            if hierarchy and self.is_initialised():
                raise NotFound(
                    f"this certificate authority has no {hierarchy.upper()} hierarchy (run "
                    f"`yinxin ca add-hierarchy --algorithm {hierarchy}`)",
                    field="hierarchy",
                )
            raise NotFound(
                "the certificate authority is not initialised (run `yinxin init`)", field="home"
            )
        return row

    def certificates(self, role: str) -> list[x509.Certificate]:
        """Every certificate ``role`` ever had, active last: old TSA and responder certificates
        are still needed to validate what they signed."""
        with self.db.read() as s:
            rows = (
                s.execute(
                    select(AuthorityCertificate.der)
                    .where(AuthorityCertificate.role == role)
                    .order_by(AuthorityCertificate.active, AuthorityCertificate.id)
                )
                .scalars()
                .all()
            )
        return [x509.load_der_x509_certificate(d) for d in rows]

    def chain_for(self, role: str) -> list[x509.Certificate]:
        """The CA certificates above ``role``'s certificate, nearest first."""
        out, r = [], issuer_of(role)
        while r is not None:
            out.append(self.certificate(r))
            r = issuer_of(r)
        return out

    def rollover(self, role: str, actor: str = "operator") -> RolledOver:
        """A new certificate for ``role``; the old one is retired, not revoked: what it signed
        stays valid. The TSA and the responders get a new key too. The issuing CA is
        *re-certified*: same name, same key, a later expiry — so every certificate it ever
        issued chains to a CA certificate still valid, and validators that refuse an expired
        intermediate outright (pyHanko's AdES validator does) can still judge old signatures
        in the past tense."""
        rolled = self._rollover(role, actor, None)
        assert rolled is not None  # without a margin it always rolls
        return rolled

    def _rollover(self, role: str, actor: str, margin: dt.timedelta | None) -> RolledOver | None:
        """``rollover``, all of it under ``AUTHORITY_LOCK`` (as ``_create``): two runs at once
        (the scheduler's ``archive renew`` and an operator's) would otherwise both pick the
        label ``<role>-<n>``, the second remove the first's new key file as a left-over and
        write its own, and the one that lost at commit remove the key file on its way out —
        an active certificate with no key. Under the lock the second run waits and then, with
        ``margin`` (``ensure_current``), finds the role not due any more (``None``)."""
        hierarchy, base = split_role(role)
        if base not in ROLLABLE:
            raise ValidationError(
                f"only {', '.join(ROLLABLE)} can be rolled over here", field="role"
            )
        up = issuer_of(role)
        assert up is not None  # a root is not rollable
        issuer_cert = self.certificate(up)
        if issuer_cert.not_valid_after_utc - self.clock.now() < dt.timedelta(days=30):
            raise ConfigurationError(
                f"the {up} CA certificate expires on "
                f"{beijing_date(issuer_cert.not_valid_after_utc)}: it cannot issue a new {role} "
                "certificate",
                field="role",
            )
        root_algorithm = self._active_row(role_of(hierarchy, "root")).algorithm
        store = self._keystore()
        made: str | None = None  # the label of a key this run generated
        try:
            with self.db.exclusive(AUTHORITY_LOCK) as s:
                rows = (
                    s.execute(select(AuthorityCertificate).where(AuthorityCertificate.role == role))
                    .scalars()
                    .all()
                )
                old = next((r for r in rows if r.active), None)
                now = self.clock.now()
                if margin is not None and old is not None:
                    current = x509.load_der_x509_certificate(old.der)
                    if current.not_valid_after_utc - now >= margin:
                        return None  # rolled over by another run while this one waited
                previous = old.serial_hex if old else None
                generation = len(rows) + 1
                algorithm = old.algorithm if old else root_algorithm
                recertify = base == "issuing" and old is not None
                if recertify:
                    assert old is not None
                    label = old.key_label
                    key = self._load_key(role, label)
                else:
                    label = f"{key_label(role)}-{generation}"
                    if store.exists(label):  # left by a run that died before its commit
                        store.remove(label)
                    key = store.generate(label, algorithm)
                    made = label
                issuer = self.issuer(up)
                profile = PROFILES[PROFILE_OF[base]]
                cert = build_certificate(
                    profile=profile,
                    subject=base_name(name_of(role), organization=ORGANIZATION),
                    public_key=key.public_key(),
                    issuer=issuer,
                    not_before=now,
                    not_after=min(
                        now + dt.timedelta(days=profile.days),
                        issuer.certificate.not_valid_after_utc,
                    ),
                )
                if old is not None:
                    updated = s.execute(
                        update(AuthorityCertificate)
                        .where(
                            AuthorityCertificate.id == old.id, AuthorityCertificate.active.is_(True)
                        )
                        .values(active=False)
                    ).rowcount
                    if updated != 1:
                        raise Conflict(
                            f"the {role} certificate was rolled over meanwhile", field="role"
                        )
                s.add(_row(role, label, store.kind, algorithm, cert, now))
                _record(
                    s,
                    now,
                    actor,
                    "authority.certificate_rolled_over",
                    role,
                    cert,
                    previous=previous,
                    not_after=cert.not_valid_after_utc.isoformat(),
                )
        except BaseException as e:
            # under the lock no other run made a key under this label: it is this run's own
            if made is not None:
                store.remove(made)
            if made is None and isinstance(e, OperationalError) and "locked" in str(e.orig):
                raise Conflict(
                    f"another run is changing this certificate authority's keys: run the "
                    f"{role} rollover again when it has finished",
                    field="role",
                ) from None
            raise
        self.forget(role)
        return RolledOver(
            **dataclasses.asdict(self.describe(cert)),
            role=role,
            previous=previous,
        )

    def ensure_current(
        self, role: str, margin: dt.timedelta, actor: str = "operator"
    ) -> RolledOver | None:
        """Roll ``role`` over when its active certificate has less than ``margin`` left (or
        make it, when the data directory predates the role)."""
        self.forget(role)
        try:
            cert = self.certificate(role)
        except NotFound:
            if not self.is_initialised():
                raise
            return self._rollover(role, actor, None)
        if cert.not_valid_after_utc - self.clock.now() >= margin:
            return None
        return self._rollover(role, actor, margin)

    def issuer(self, role: str = "issuing") -> Issuer:
        if role not in self._issuers:
            cert = self.certificate(role)
            key = self.key(role)
            _refuse_a_key_not_the_certificates(role, cert, key)
            self._issuers[role] = Issuer(cert, key, self.status_urls(role))
        return self._issuers[role]

    def responder_certificates(self) -> list[x509.Certificate]:
        """The active OCSP responder certificates (the root's is absent in data directories
        initialised before it existed, until ``archive renew`` makes it)."""
        out = [self.certificate("ocsp")]
        try:
            out.append(self.certificate("root-ocsp"))
        except NotFound:
            pass
        return out

    def chain(self, hierarchy: str = DEFAULT) -> list[x509.Certificate]:
        """Issuing CA then root: what a relying party needs above an end-entity certificate."""
        return [
            self.certificate(role_of(hierarchy, "issuing")),
            self.certificate(role_of(hierarchy, "root")),
        ]

    # --- hierarchies side by side ----------------------------------------------------------------
    def hierarchies(self) -> list[str]:
        """The hierarchies this authority has, the default one (``""``) first; none before
        ``init``."""
        with self.db.read() as s:
            roots = set(
                s.execute(
                    select(AuthorityCertificate.role).where(
                        AuthorityCertificate.role.in_(
                            [role_of(h, "root") for h in (DEFAULT, *SIDE_HIERARCHIES)]
                        )
                    )
                ).scalars()
            )
        return [h for h in (DEFAULT, *SIDE_HIERARCHIES) if role_of(h, "root") in roots]

    def algorithm(self, hierarchy: str = DEFAULT) -> str:
        """The key algorithm of ``hierarchy`` (its root's)."""
        return self._active_row(role_of(hierarchy, "root")).algorithm

    def issuing_role_for(self, public_key: object, s: Session | None = None) -> str:
        """The issuing CA that certifies ``public_key``: an SM2 key goes to the SM2 hierarchy
        when one stands beside a P-256/RSA default; everything else (and an SM2 key when
        there is no SM2 hierarchy, or the default one is SM2) to the default issuing CA, which
        certifies it or refuses it as before."""
        from yinxin.pki.sm2 import SM2PublicKey  # no libcrypto binding for P-256-only callers

        if not isinstance(public_key, SM2PublicKey):
            return "issuing"
        side = role_of("sm2", "issuing")
        q = select(AuthorityCertificate.id).where(
            AuthorityCertificate.role == side, AuthorityCertificate.active.is_(True)
        )
        if s is not None:
            found = s.execute(q.limit(1)).first() is not None
        else:
            with self.db.read() as r:
                found = r.execute(q.limit(1)).first() is not None
        return side if found else "issuing"

    def hierarchy_of(self, cert: x509.Certificate) -> str:
        """The hierarchy whose issuing CA's name is ``cert``'s issuer (the default one when
        none is: a certificate of another authority is judged as before)."""
        for h in self.hierarchies():
            if h == DEFAULT:
                continue
            try:
                if self.certificate(role_of(h, "issuing")).subject == cert.issuer:
                    return h
            except NotFound:
                continue
        return DEFAULT

    def chain_of(self, cert: x509.Certificate) -> list[x509.Certificate]:
        """The chain above an end-entity certificate of this authority: its own hierarchy's."""
        return self.chain(self.hierarchy_of(cert))

    def add_hierarchy(self, algorithm: str, actor: str = "operator") -> AuthorityInit:
        """A second hierarchy beside the one ``init`` made — root, issuing CA, both OCSP
        responders and TSA, with their own keys, names, CRLs — leaving the first untouched.

        Only an SM2 hierarchy beside a P-256/RSA default is offered: that is the pair the
        issue asks for ("dual certificates"), and issuance tells the two apart by the
        subscriber's key algorithm, which a second P-256 hierarchy would not allow. Refused,
        with nothing written: an unknown algorithm or one other than SM2 (field
        ``algorithm``), an authority not yet initialised (``home``), a default hierarchy that
        is SM2 already or an SM2 hierarchy that exists (``Conflict``, field ``algorithm``)."""
        get_algorithm(algorithm)
        if algorithm not in SIDE_HIERARCHIES:
            raise ValidationError(
                f"only an {', '.join(h.upper() for h in SIDE_HIERARCHIES)} hierarchy can be "
                f"added beside the default one, not {algorithm!r} (the default hierarchy "
                "certifies P-256 and RSA keys)",
                field="algorithm",
            )
        hierarchy = algorithm
        if not self.is_initialised():
            raise NotFound(
                "the certificate authority is not initialised (run `yinxin init` first)",
                field="home",
            )
        default_alg = self.algorithm()
        if get_algorithm(default_alg).family == get_algorithm(algorithm).family:
            raise Conflict(
                f"the default hierarchy is already {default_alg}: an {hierarchy.upper()} "
                "hierarchy beside it would certify the same keys",
                field="algorithm",
            )
        self._opens_the_default_keys()
        root_role = role_of(hierarchy, "root")

        def absent(s: Session) -> None:  # under the lock: a run started alongside may have won
            q = select(AuthorityCertificate.id).where(AuthorityCertificate.role == root_role)
            if s.execute(q.limit(1)).first() is not None:
                raise Conflict(
                    f"this certificate authority already has an {hierarchy.upper()} hierarchy "
                    "(see `yinxin ca status`)",
                    field="algorithm",
                )

        return self._create(hierarchy, algorithm, actor, absent)

    def _opens_the_default_keys(self) -> None:
        """Refuse (``bad_passphrase``, field ``passphrase``) a CA passphrase that does not open
        the default hierarchy's issuing key, before any key of a new hierarchy is made.

        The new keys are sealed under the passphrase given now. ``ca add-hierarchy`` run with
        another one than ``init``'s made an SM2 hierarchy whose keys no other passphrase
        opened: ``yinxin serve``, the worker and every command take one YINXIN_CA_PASSPHRASE,
        so one of the two hierarchies' CRLs could never be signed by them, and a status change
        of an SM2 certificate was recorded with its CRL unsigned. (A token's key store just
        has to be reachable.)"""
        try:
            self.key("issuing")
        except Forbidden as e:
            if e.code != "bad_passphrase":
                raise
            raise Forbidden(
                "wrong CA passphrase: it does not open the default hierarchy's keys, and the new "
                "hierarchy's keys would be sealed under another one than theirs (no process "
                "could then sign both hierarchies' CRLs)",
                field="passphrase",
                code="bad_passphrase",
            ) from None

    def overview(self) -> list[AuthorityRoleView]:
        """Every active authority certificate, hierarchy by hierarchy (``yinxin ca status``)."""
        out = []
        for h in self.hierarchies():
            for base in ROLES:
                role = role_of(h, base)
                try:
                    row = self._active_row(role)
                except NotFound:  # a role made later (root-ocsp) in an older data directory
                    continue
                cert = self.certificate(role)
                urls = self.status_urls(role) if is_ca_role(role) else None
                out.append(
                    AuthorityRoleView(
                        hierarchy=h or "default",
                        role=role,
                        algorithm=row.algorithm,
                        key_label=row.key_label,
                        crl_url=urls.crl if urls else None,
                        certificate_url=self.urls.ca_cert(role),
                        **dataclasses.asdict(self.describe(cert)),
                    )
                )
        return out
