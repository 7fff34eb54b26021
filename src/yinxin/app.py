"""The composition root: builds every service from settings. Adapters get services from here.

The key store opens lazily, so commands that never touch a CA key never ask for the passphrase.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from yinxin.archive.service import Archive
from yinxin.clock import Clock, SystemClock
from yinxin.errors import ConfigurationError, YinxinError
from yinxin.notify.gateways import FileGateway, Gateway
from yinxin.notify.service import Notifier
from yinxin.pki.kek import PlatformKek
from yinxin.pki.keys import KeyStore, open_keystore
from yinxin.registry.ca import CertificateAuthority
from yinxin.registry.certificates import Certificates
from yinxin.registry.notices import CertificateNotices
from yinxin.registry.status import OcspResponder, StatusService, TimestampService
from yinxin.registry.subscribers import Subscribers
from yinxin.seals.service import Seals
from yinxin.settings import Settings
from yinxin.signing.intent import IntentConfirmation
from yinxin.signing.service import SigningService
from yinxin.store.audit import AuditVerdict
from yinxin.store.audit import verify as verify_audit
from yinxin.store.db import Database
from yinxin.store.files import FileStore

log = logging.getLogger(__name__)
PassphraseSource = str | Callable[[], str] | None
KEK_LOCK = 0x59584B454B  # "YXKEK": the database lock under which the platform KEK is created


class Platform:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        passphrase: PassphraseSource = None,
        migrate: bool = True,
    ):
        self.settings = settings
        self.clock = clock or SystemClock()
        self._passphrase = passphrase
        self._keystore: KeyStore | None = None
        if settings.database_url.startswith("sqlite"):
            # private: it holds the database, the keys and the seals (0700; files 0600)
            settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.db = Database(settings.database_url)
        if migrate:
            self.db.migrate()
        self.ca = CertificateAuthority(self.db, self.keystore, self.clock, settings.base_url)
        self.kek = PlatformKek(self.keystore, creation_lock=lambda: self.db.exclusive(KEK_LOCK))
        self.subscribers = Subscribers(self.db, self.clock)
        self.certificates = Certificates(self.db, self.clock, self.ca, kek=self.kek)
        self.seals = Seals(self.db, self.clock, self.ca, home=settings.home, kek=self.kek)
        self.status = StatusService(self.db, self.clock, self.ca)
        self.ocsp = OcspResponder(self.status)
        self.tsa = TimestampService(self.status)
        self.certificates.on_status_change.append(self._publish_crl)
        self.notifier, self.intent = build_notify(self)
        self.notices = CertificateNotices(self.db, self.clock, self.certificates, self.notifier)
        self.archive = Archive(
            self.db,
            self.clock,
            self.ca,
            self.status,
            self.ocsp,
            self.tsa,
            FileStore(settings.documents_dir),
        )
        self.signing = SigningService(
            self.db,
            self.clock,
            self.ca,
            self.status,
            self.ocsp,
            self.tsa,
            self.seals,
            self.intent,
            self.archive,
        )

    def _publish_crl(self, _serial: str) -> None:
        """A status change gets a new CRL at once when this process can sign; otherwise the
        server re-signs on its next CRL fetch (it compares status revisions on every fetch)."""
        try:
            self.status.publish_crl("issuing")
        except YinxinError as e:
            log.info("CRL not published here (%s); the server will publish it", e.code)

    def keystore(self) -> KeyStore:
        if self._keystore is None:
            s = self.settings
            if s.keystore == "pkcs11":
                if not (s.pkcs11_module and s.pkcs11_token and s.pkcs11_pin):
                    raise ConfigurationError(
                        "the PKCS#11 key store needs YINXIN_PKCS11_MODULE, YINXIN_PKCS11_TOKEN "
                        "and YINXIN_PKCS11_PIN",
                        field="keystore",
                    )
                self._keystore = open_keystore(
                    "pkcs11", module=s.pkcs11_module, token_label=s.pkcs11_token, pin=s.pkcs11_pin
                )
            else:
                p = self._passphrase
                if callable(p):
                    p = p()
                if not p:
                    raise ConfigurationError(
                        "the CA passphrase is needed: set YINXIN_CA_PASSPHRASE or run in a "
                        "terminal to be asked",
                        field="passphrase",
                    )
                self._keystore = open_keystore("file", directory=s.keys_dir, passphrase=p)
        return self._keystore

    def verify_audit(self) -> AuditVerdict:
        with self.db.read() as s:
            return verify_audit(s)

    def close(self) -> None:
        self.status.close()
        close = getattr(self._keystore, "close", None)
        if close:
            close()
        self.db.dispose()


def default_gateways(platform: Platform) -> list[Gateway]:
    """Messages go to files under the outbox until a real SMS or e-mail gateway is set up."""
    outbox = platform.settings.outbox_dir
    return [
        FileGateway(outbox, "sms", clock=platform.clock),
        FileGateway(outbox, "email", clock=platform.clock),
    ]


def build_notify(
    platform: Platform, gateways: Iterable[Gateway] | None = None
) -> tuple[Notifier, IntentConfirmation]:
    """The notifier and the intent confirmation built on it; gateways default to the file
    outbox. Wiring lives here, in the composition root, and nowhere else."""
    notifier = Notifier(
        platform.db,
        platform.clock,
        list(gateways) if gateways is not None else default_gateways(platform),
    )
    intent = IntentConfirmation(
        platform.db,
        platform.clock,
        notifier,
        platform.settings.home,
        ttl_seconds=platform.settings.otp_ttl_seconds,
    )
    return notifier, intent


def build_platform(settings: Settings | None = None, **kwargs) -> Platform:
    return Platform(settings or Settings.from_env(), **kwargs)
