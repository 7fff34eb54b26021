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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from yinxin.clock import Clock
from yinxin.errors import ConfigurationError, Conflict, NotFound, ValidationError
from yinxin.pki.algorithms import get_algorithm
from yinxin.pki.authority import Issuer, StatusUrls, base_name, build_certificate, der, fingerprint
from yinxin.pki.keys import KeyHandle, KeyStore
from yinxin.pki.profiles import PROFILES
from yinxin.registry.events import event
from yinxin.registry.views import (
    AuthorityCertificateView,
    AuthorityInit,
    RolledOver,
    authority_certificate_view,
)
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
log = logging.getLogger(__name__)


def _row(
    role: str, label: str, keystore: str, algorithm: str, cert: x509.Certificate, now: dt.datetime
) -> AuthorityCertificate:
    """The active authority certificate of ``role``, as ``init`` and a rollover record it."""
    return AuthorityCertificate(
        role=role,
        key_label=label,
        keystore=keystore,
        algorithm=algorithm,
        serial_hex=format(cert.serial_number, "x"),
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
        data={"serial": format(cert.serial_number, "x"), "sha256": fingerprint(cert), **data},
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

    def init(self, algorithm: str = "ec-p256", actor: str = "operator") -> AuthorityInit:
        get_algorithm(algorithm)
        if self.is_initialised():
            raise Conflict("the certificate authority is already initialised", field="home")
        store = self._keystore()
        self._clear_orphans(store)
        made: list[str] = []
        try:
            now = self.clock.now()
            keys: dict[str, KeyHandle] = {}
            for role in ROLES:
                keys[role] = store.generate(KEY_LABELS[role], algorithm)
                made.append(KEY_LABELS[role])
            root = build_certificate(
                profile=PROFILES["root-ca"],
                subject=base_name(NAMES["root"], organization=ORGANIZATION),
                public_key=keys["root"].public_key(),
                issuer=None,
                self_key=keys["root"],
                not_before=now,
                not_after=now + dt.timedelta(days=PROFILES["root-ca"].days),
            )
            root_issuer = Issuer(root, keys["root"], self.status_urls("root"))
            issuing = self._sub(root_issuer, "issuing", keys, now)
            issuing_issuer = Issuer(issuing, keys["issuing"], self.status_urls("issuing"))
            certs = {
                "root": root,
                "issuing": issuing,
                "ocsp": self._sub(issuing_issuer, "ocsp", keys, now),
                "root-ocsp": self._sub(root_issuer, "root-ocsp", keys, now),
                "tsa": self._sub(root_issuer, "tsa", keys, now),
            }
            with self.db.transaction() as s:
                for role, cert in certs.items():
                    s.add(_row(role, KEY_LABELS[role], store.kind, algorithm, cert, now))
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
                    )
                for role in ("root", "issuing"):
                    s.add(StatusRevision(issuer_role=role, revision=1))
        except BaseException:
            for label in made:
                store.remove(label)
            raise
        self._certs.update(certs)
        return AuthorityInit(
            algorithm=algorithm,
            keystore=store.kind,
            certificates={r: self.describe(c) for r, c in certs.items()},
        )

    @staticmethod
    def _clear_orphans(store: KeyStore) -> None:
        """Keys left by an ``init`` that was killed before its commit (the database holds no
        authority yet, so nothing refers to them): in this data directory's own file store
        they are removed, with any half-written ``.tmp`` file, and init starts over. In a
        PKCS#11 token, which other deployments may share, they are named and left alone."""
        found = [KEY_LABELS[r] for r in ROLES if store.exists(KEY_LABELS[r])]
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
        profile = PROFILES[PROFILE_OF[role]]
        return build_certificate(
            profile=profile,
            subject=base_name(NAMES[role], organization=ORGANIZATION),
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
        return self._keystore().load(self._active_row(role).key_label)

    def _active_row(self, role: str) -> AuthorityCertificate:
        with self.db.read() as s:
            row = s.execute(
                select(AuthorityCertificate).where(
                    AuthorityCertificate.role == role, AuthorityCertificate.active.is_(True)
                )
            ).scalar_one_or_none()
        if row is None:
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
        out, r = [], ISSUER_OF[role]
        while r is not None:
            out.append(self.certificate(r))
            r = ISSUER_OF[r]
        return out

    def rollover(self, role: str, actor: str = "operator") -> RolledOver:
        """A new certificate for ``role``; the old one is retired, not revoked: what it signed
        stays valid. The TSA and the responders get a new key too. The issuing CA is
        *re-certified*: same name, same key, a later expiry — so every certificate it ever
        issued chains to a CA certificate still valid, and validators that refuse an expired
        intermediate outright (pyHanko's AdES validator does) can still judge old signatures
        in the past tense."""
        if role not in ROLLABLE:
            raise ValidationError(
                f"only {', '.join(ROLLABLE)} can be rolled over here", field="role"
            )
        try:
            old = self._active_row(role)
        except NotFound:  # a data directory initialised before this role existed
            old = None
        issuer_cert = self.certificate(ISSUER_OF[role])
        if issuer_cert.not_valid_after_utc - self.clock.now() < dt.timedelta(days=30):
            raise ConfigurationError(
                f"the {ISSUER_OF[role]} CA certificate expires on "
                f"{issuer_cert.not_valid_after_utc:%Y-%m-%d}: it cannot issue a new {role} "
                "certificate",
                field="role",
            )
        store = self._keystore()
        with self.db.read() as s:
            generation = (
                len(
                    s.execute(
                        select(AuthorityCertificate.id).where(AuthorityCertificate.role == role)
                    ).all()
                )
                + 1
            )
        algorithm = old.algorithm if old else self._active_row("root").algorithm
        recertify = role == "issuing" and old is not None
        if recertify:
            label = old.key_label
            key = store.load(label)
        else:
            label = f"{KEY_LABELS[role]}-{generation}"
            if store.exists(label):  # left by a run that died before its commit
                store.remove(label)
            key = store.generate(label, algorithm)
        try:
            now = self.clock.now()
            issuer = self.issuer(ISSUER_OF[role])
            cert = build_certificate(
                profile=PROFILES[PROFILE_OF[role]],
                subject=base_name(NAMES[role], organization=ORGANIZATION),
                public_key=key.public_key(),
                issuer=issuer,
                not_before=now,
                not_after=min(
                    now + dt.timedelta(days=PROFILES[PROFILE_OF[role]].days),
                    issuer.certificate.not_valid_after_utc,
                ),
            )
            with self.db.transaction() as s:
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
                    previous=old.serial_hex if old else None,
                    not_after=cert.not_valid_after_utc.isoformat(),
                )
        except BaseException:
            if not recertify:
                store.remove(label)
            raise
        self.forget(role)
        return RolledOver(
            **dataclasses.asdict(self.describe(cert)),
            role=role,
            previous=old.serial_hex if old else None,
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
            return self.rollover(role, actor=actor)
        if cert.not_valid_after_utc - self.clock.now() >= margin:
            return None
        return self.rollover(role, actor=actor)

    def issuer(self, role: str = "issuing") -> Issuer:
        if role not in self._issuers:
            cert = self.certificate(role)
            self._issuers[role] = Issuer(cert, self.key(role), self.status_urls(role))
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

    def chain(self) -> list[x509.Certificate]:
        """Issuing CA then root: what a relying party needs above an end-entity certificate."""
        return [self.certificate("issuing"), self.certificate("root")]
