"""The composition root: builds every service from settings. Adapters get services from here.

The key store opens lazily, so commands that never touch a CA key never ask for the passphrase.
"""

from __future__ import annotations

from collections.abc import Callable

from yinxin.audit import AuditVerdict
from yinxin.audit import verify as verify_audit
from yinxin.clock import Clock, SystemClock
from yinxin.errors import ConfigurationError
from yinxin.pki.keys import KeyStore, open_keystore
from yinxin.registry.ca import CertificateAuthority
from yinxin.registry.certificates import Certificates
from yinxin.registry.subscribers import Subscribers
from yinxin.settings import Settings
from yinxin.store.db import Database

PassphraseSource = str | Callable[[], str] | None


class Platform:
    def __init__(self, settings: Settings, *, clock: Clock | None = None,
                 passphrase: PassphraseSource = None, migrate: bool = True):
        self.settings = settings
        self.clock = clock or SystemClock()
        self._passphrase = passphrase
        self._keystore: KeyStore | None = None
        if settings.database_url.startswith("sqlite"):
            settings.home.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.database_url)
        if migrate:
            self.db.migrate()
        self.ca = CertificateAuthority(self.db, self.keystore, self.clock, settings.base_url)
        self.subscribers = Subscribers(self.db, self.clock)
        self.certificates = Certificates(self.db, self.clock, self.ca)

    def keystore(self) -> KeyStore:
        if self._keystore is None:
            s = self.settings
            if s.keystore == "pkcs11":
                if not (s.pkcs11_module and s.pkcs11_token and s.pkcs11_pin):
                    raise ConfigurationError(
                        "the PKCS#11 key store needs YINXIN_PKCS11_MODULE, YINXIN_PKCS11_TOKEN "
                        "and YINXIN_PKCS11_PIN", field="keystore")
                self._keystore = open_keystore("pkcs11", module=s.pkcs11_module,
                                               token_label=s.pkcs11_token, pin=s.pkcs11_pin)
            else:
                p = self._passphrase
                if callable(p):
                    p = p()
                if not p:
                    raise ConfigurationError(
                        "the CA passphrase is needed: set YINXIN_CA_PASSPHRASE or run in a "
                        "terminal to be asked", field="passphrase")
                self._keystore = open_keystore("file", directory=s.keys_dir, passphrase=p)
        return self._keystore

    def verify_audit(self) -> AuditVerdict:
        with self.db.read() as s:
            return verify_audit(s)

    def close(self) -> None:
        close = getattr(self._keystore, "close", None)
        if close:
            close()
        self.db.dispose()


def build_platform(settings: Settings | None = None, **kwargs) -> Platform:
    return Platform(settings or Settings.from_env(), **kwargs)
