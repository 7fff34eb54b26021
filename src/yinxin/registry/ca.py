"""The platform's own certificate authority: set-up, and handing out issuers to the services.

``init`` creates, in one go, a root CA, an issuing CA under it, and the OCSP-responder and
timestamp-authority certificates. If anything fails half-way, the keys it made are removed and
the database transaction is rolled back, so a retry starts clean.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from sqlalchemy import select

from yinxin import audit
from yinxin.clock import Clock
from yinxin.errors import Conflict, NotFound
from yinxin.pki.algorithms import get_algorithm
from yinxin.pki.authority import Issuer, StatusUrls, base_name, build_certificate, der, fingerprint
from yinxin.pki.keys import KeyHandle, KeyStore
from yinxin.pki.profiles import PROFILES
from yinxin.store.db import Database
from yinxin.store.models import AuthorityCertificate, StatusRevision

ROLES = ("root", "issuing", "ocsp", "tsa")
KEY_LABELS = {"root": "root-ca", "issuing": "issuing-ca", "ocsp": "ocsp-responder", "tsa": "tsa"}
NAMES = {
    "root": "印信根证书 Yinxin Root CA",
    "issuing": "印信签发证书 Yinxin Issuing CA",
    "ocsp": "印信 OCSP 响应器 Yinxin OCSP Responder",
    "tsa": "印信时间戳服务 Yinxin Timestamp Authority",
}
PROFILE_OF = {"root": "root-ca", "issuing": "issuing-ca", "ocsp": "ocsp-responder", "tsa": "tsa"}
ORGANIZATION = "印信电子认证服务 Yinxin"


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
    def __init__(self, db: Database, keystore: Callable[[], KeyStore], clock: Clock,
                 base_url: str):
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

    def init(self, algorithm: str = "ec-p256", actor: str = "operator") -> dict:
        get_algorithm(algorithm)
        if self.is_initialised():
            raise Conflict("the certificate authority is already initialised", field="home")
        store = self._keystore()
        for role in ROLES:
            if store.exists(KEY_LABELS[role]):
                raise Conflict(
                    f"the key store already holds a key labelled {KEY_LABELS[role]!r}; "
                    "use a fresh data directory or token",
                    field="keystore",
                )
        made: list[str] = []
        try:
            now = self.clock.now()
            keys: dict[str, KeyHandle] = {}
            for role in ROLES:
                keys[role] = store.generate(KEY_LABELS[role], algorithm)
                made.append(KEY_LABELS[role])
            root = build_certificate(
                profile=PROFILES["root-ca"], subject=base_name(NAMES["root"],
                                                                organization=ORGANIZATION),
                public_key=keys["root"].public_key(), issuer=None, self_key=keys["root"],
                not_before=now, not_after=now + dt.timedelta(days=PROFILES["root-ca"].days),
            )
            root_issuer = Issuer(root, keys["root"], StatusUrls(crl=self.urls.crl("root"),
                                                                ca_issuers=self.urls.ca_cert("root")))
            issuing = self._sub(root_issuer, "issuing", keys, now)
            issuing_issuer = Issuer(issuing, keys["issuing"], self.status_urls("issuing"))
            certs = {"root": root, "issuing": issuing,
                     "ocsp": self._sub(issuing_issuer, "ocsp", keys, now),
                     "tsa": self._sub(issuing_issuer, "tsa", keys, now)}
            with self.db.transaction() as s:
                for role, cert in certs.items():
                    s.add(AuthorityCertificate(
                        role=role, key_label=KEY_LABELS[role], keystore=store.kind,
                        algorithm=algorithm, serial_hex=format(cert.serial_number, "x"),
                        subject=cert.subject.rfc4514_string(), not_after=cert.not_valid_after_utc,
                        der=der(cert), active=True, created_at=now))
                    audit.record(s, at=now, actor=actor, action="authority.certificate_created",
                                 subject_type="authority", subject_id=role,
                                 data={"serial": format(cert.serial_number, "x"),
                                       "subject": cert.subject.rfc4514_string(),
                                       "sha256": fingerprint(cert), "keystore": store.kind,
                                       "algorithm": algorithm})
                for role in ("root", "issuing"):
                    s.add(StatusRevision(issuer_role=role, revision=1))
        except BaseException:
            for label in made:
                store.remove(label)
            raise
        self._certs.update(certs)
        return {"algorithm": algorithm, "keystore": store.kind,
                "certificates": {r: self.describe(c) for r, c in certs.items()}}

    def _sub(self, issuer: Issuer, role: str, keys: dict[str, KeyHandle],
             now: dt.datetime) -> x509.Certificate:
        profile = PROFILES[PROFILE_OF[role]]
        return build_certificate(
            profile=profile, subject=base_name(NAMES[role], organization=ORGANIZATION),
            public_key=keys[role].public_key(), issuer=issuer, not_before=now,
            not_after=now + dt.timedelta(days=profile.days),
        )

    @staticmethod
    def describe(cert: x509.Certificate) -> dict:
        return {"serial": format(cert.serial_number, "x"), "subject": cert.subject.rfc4514_string(),
                "not_before": cert.not_valid_before_utc.isoformat(),
                "not_after": cert.not_valid_after_utc.isoformat(), "sha256": fingerprint(cert)}

    # --- access ----------------------------------------------------------------------------------
    def status_urls(self, role: str) -> StatusUrls:
        return StatusUrls(crl=self.urls.crl(role), ca_issuers=self.urls.ca_cert(role),
                          ocsp=self.urls.ocsp if role == "issuing" else None)

    def certificate(self, role: str) -> x509.Certificate:
        if role not in self._certs:
            with self.db.read() as s:
                row = s.execute(
                    select(AuthorityCertificate).where(AuthorityCertificate.role == role,
                                                       AuthorityCertificate.active.is_(True))
                ).scalar_one_or_none()
            if row is None:
                raise NotFound("the certificate authority is not initialised (run `yinxin init`)",
                               field="home")
            self._certs[role] = x509.load_der_x509_certificate(row.der)
        return self._certs[role]

    def key(self, role: str) -> KeyHandle:
        """Load a CA key from the key store (asks for the passphrase on first use)."""
        return self._keystore().load(KEY_LABELS[role])

    def issuer(self, role: str = "issuing") -> Issuer:
        if role not in self._issuers:
            cert = self.certificate(role)
            self._issuers[role] = Issuer(cert, self.key(role), self.status_urls(role))
        return self._issuers[role]

    def chain(self) -> list[x509.Certificate]:
        """Issuing CA then root: what a relying party needs above an end-entity certificate."""
        return [self.certificate("issuing"), self.certificate("root")]
