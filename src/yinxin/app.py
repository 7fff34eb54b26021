"""The composition root: builds every service from settings. Adapters get services from here.

Each service is built the first time it is asked for, and its module imported then: a command
that lists subscribers loads neither the PDF engine nor the seal renderer, and the key store
opens only when a service needs a key, so commands that never touch a CA key never ask for the
passphrase.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from yinxin.clock import Clock, SystemClock
from yinxin.errors import ConfigurationError, YinxinError
from yinxin.settings import Settings
from yinxin.store.db import Database, sqlite_path

if TYPE_CHECKING:
    from yinxin.access.idempotency import Idempotency
    from yinxin.access.keys import ApiKeys
    from yinxin.access.sessions import Sessions
    from yinxin.access.staff import StaffUsers
    from yinxin.archive.service import Archive
    from yinxin.contracts.desk import ServiceDesk
    from yinxin.contracts.obligations import Obligations
    from yinxin.contracts.service import Contracts
    from yinxin.handover.service import Handover
    from yinxin.handover.shelf import ExportShelf
    from yinxin.notify.gateways import Gateway
    from yinxin.notify.service import Notifier
    from yinxin.notify.webhooks import Webhooks
    from yinxin.pki.kek import PlatformKek
    from yinxin.pki.keys import KeyStore
    from yinxin.recrypt import DataRecrypt
    from yinxin.registry.ca import CertificateAuthority
    from yinxin.registry.certificates import Certificates
    from yinxin.registry.documents import ApplicationDocuments
    from yinxin.registry.notices import CertificateNotices
    from yinxin.registry.status import Evidence, OcspResponder, StatusService, TimestampService
    from yinxin.registry.subscribers import Subscribers
    from yinxin.registry.views import AuthorityInit
    from yinxin.seals.service import Seals
    from yinxin.signing.authorizations import SigningAuthorizations
    from yinxin.signing.batch import BatchSigning
    from yinxin.signing.certificate_key_code import CertificateKeyCodes
    from yinxin.signing.flows import SignFlows
    from yinxin.signing.intent import IntentConfirmation
    from yinxin.signing.ofd import OfdSigning
    from yinxin.signing.phone_change import PhoneChanges
    from yinxin.signing.service import SigningService
    from yinxin.signing.ses_pdf import SesPdfSigning
    from yinxin.store.audit import AuditEventView, AuditVerdict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CrlAttempt:
    """A CRL this process tried to sign after a status change of ``serial``: ``published``,
    or why not (``cause``, words for the operator; never the passphrase)."""

    serial: str
    published: bool
    cause: str | None = None


def crl_failure_cause(e: YinxinError) -> str:
    """Why the CA key could not sign, in the operator's words: a wrong or missing CA
    passphrase named as such (the variable to set), else the refusal's own message (a key
    store or key file that refuses names itself)."""
    if e.code == "bad_passphrase":
        return "wrong CA passphrase (YINXIN_CA_PASSPHRASE)"
    if e.field == "passphrase":
        return "no CA passphrase given (YINXIN_CA_PASSPHRASE)"
    return e.message


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
        database_on_first_use: bool = False,
    ):
        """``database_on_first_use``: the data directory made and the database opened (and
        migrated, with ``migrate``) when a service first reads or writes, not now — for the
        CLI, whose commands judge what was typed before they touch the database (see
        :class:`_DatabaseOnFirstUse`). Otherwise now, so a server that cannot use its database
        fails as it starts."""
        self.settings = settings
        self.clock = clock or SystemClock()
        self._passphrase = passphrase
        self._keystore: KeyStore | None = None
        # the CRLs this process tried to sign after status changes it made, newest last: the
        # CLI tells the operator when one could not be signed here (``CrlAttempt``); bounded,
        # as a server makes changes for as long as it runs
        self.crl_attempts: deque[CrlAttempt] = deque(maxlen=256)
        self.db: Database = (
            cast(Database, _DatabaseOnFirstUse(settings, migrate=migrate))
            if database_on_first_use
            else _open_database(settings, migrate=migrate)
        )

    # --- the services, each built on first use ----------------------------------------------
    @cached_property
    def ca(self) -> CertificateAuthority:
        from yinxin.registry.ca import CertificateAuthority

        return CertificateAuthority(self.db, self.keystore, self.clock, self.settings.base_url)

    @cached_property
    def kek(self) -> PlatformKek:
        from yinxin.pki.kek import PlatformKek

        return PlatformKek(
            self.keystore,
            creation_lock=lambda: self.db.exclusive(KEK_LOCK),
            cipher=self.settings.data_cipher,
            anything_wrapped=lambda: self.recrypt.anything_wrapped(),
            opens_database=lambda: self.recrypt.kek_opens_database(),
        )

    @cached_property
    def recrypt(self) -> DataRecrypt:
        """Moves every sealed secret to one data-at-rest cipher (``yinxin keys recrypt``)."""
        from yinxin.recrypt import DataRecrypt

        return DataRecrypt(self.db, self.clock, self.kek)

    @cached_property
    def subscribers(self) -> Subscribers:
        """The subscribers service; a change of the registered mobile number is told to the old
        number, of the e-mail to the old address (``registry.contact_notices``), the notifier
        built when a change first needs it."""
        from yinxin.registry.contact_notices import ContactNotices
        from yinxin.registry.subscribers import Subscribers

        subscribers = Subscribers(self.db, self.clock)
        notices = ContactNotices(self.clock, lambda: self.notifier)
        subscribers.phone_changed.append(notices.phone_changed)
        subscribers.email_changed.append(notices.email_changed)
        # codes still waiting on the old number die with the change (the phone may be lost),
        # and sessions opened with it (but the holder's own, changing it): audited as done by
        # whoever made the change
        subscribers.phone_ended.append(
            lambda s, sid, _keep, actor: self.intent.withdraw_pending(
                s, sid, reason="phone_changed", actor=actor
            )
        )
        subscribers.phone_ended.append(
            lambda s, sid, keep, actor: self.sessions.end_subscriber_sessions(
                s, sid, keep=keep, reason="phone_changed", actor=actor
            )
        )
        subscribers.after_update.append(notices.sent)
        return subscribers

    @cached_property
    def _certificates(self) -> tuple[Certificates, CertificateNotices]:
        """The certificates service and the notices that hook into its every change: built
        together, so no change is made before its holder's notice is wired. The authority,
        the KEK and the notifier are built when a change first needs them, so a listing
        loads no PKI and no messaging code."""
        from yinxin.registry.certificates import Certificates
        from yinxin.registry.notices import CertificateNotices

        certificates = Certificates(self.db, self.clock, lambda: self.ca, kek=lambda: self.kek)
        # a change that moves the phone or e-mail tells the old ones, as a contact update does
        certificates.phone_changed = self.subscribers.phone_changed
        certificates.email_changed = self.subscribers.email_changed
        certificates.phone_ended = self.subscribers.phone_ended
        certificates.on_status_change.append(self._publish_crl)
        notices = CertificateNotices(self.db, self.clock, certificates, lambda: self.notifier)
        return certificates, notices

    @property
    def certificates(self) -> Certificates:
        return self._certificates[0]

    @property
    def notices(self) -> CertificateNotices:
        return self._certificates[1]

    @cached_property
    def application_documents(self) -> ApplicationDocuments:
        """The applicant's identity documents (申请材料), in their own file store."""
        from yinxin.registry.documents import ApplicationDocuments
        from yinxin.store.files import FileStore

        files = FileStore(self.settings.documents_dir / "applications")
        return ApplicationDocuments(self.db, self.clock, files)

    @cached_property
    def seals(self) -> Seals:
        """The seal service with the holder's notices hooked into its every move (004 §七);
        the notifier is built when a move first needs it."""
        from yinxin.seals.notices import SealNotices
        from yinxin.seals.service import Seals

        seals = Seals(
            self.db, self.clock, lambda: self.ca, home=self.settings.home, kek=lambda: self.kek
        )
        notices = SealNotices(lambda: self.notifier)
        seals.hooks.in_transaction.append(notices.enqueue)
        seals.hooks.after_commit.append(notices.sent)
        return seals

    @cached_property
    def status(self) -> StatusService:
        from yinxin.registry.status import StatusService

        return StatusService(self.db, self.clock, self.ca)

    @cached_property
    def ocsp(self) -> OcspResponder:
        from yinxin.registry.status import OcspResponder

        return OcspResponder(self.status)

    @cached_property
    def tsa(self) -> TimestampService:
        from yinxin.registry.status import TimestampService

        return TimestampService(self.status)

    @cached_property
    def notifier(self) -> Notifier:
        return build_notifier(self)

    @cached_property
    def intent(self) -> IntentConfirmation:
        return build_intent(self, self.notifier)

    @cached_property
    def phone_changes(self) -> PhoneChanges:
        """A holder's own change of mobile number, proved by a code sent to the new one."""
        from yinxin.signing.phone_change import PhoneChanges

        return PhoneChanges(self.subscribers, self.intent)

    @cached_property
    def certificate_key_codes(self) -> CertificateKeyCodes:
        """A holder's own rekey or reissue online, proved by a code sent to the registered phone."""
        from yinxin.signing.certificate_key_code import CertificateKeyCodes

        return CertificateKeyCodes(self.certificates, self.intent)

    @cached_property
    def _evidence(self) -> Evidence:
        """What the services that make or keep PAdES evidence (revocation data, timestamps)
        are built on."""
        from yinxin.registry.status import Evidence

        return Evidence(db=self.db, clock=self.clock, ca=self.ca, ocsp=self.ocsp, tsa=self.tsa)

    @cached_property
    def archive(self) -> Archive:
        from yinxin.archive.service import Archive
        from yinxin.store.files import FileStore

        return Archive(self._evidence, files=FileStore(self.settings.documents_dir))

    @cached_property
    def signing(self) -> SigningService:
        from yinxin.signing.service import SigningService

        return SigningService(
            self._evidence, seals=self.seals, intent=self.intent, archive=self.archive
        )

    @cached_property
    def ofd_signing(self) -> OfdSigning:
        from yinxin.signing.ofd import OfdSigning

        return OfdSigning(self.signing)

    @cached_property
    def ses_pdf_signing(self) -> SesPdfSigning:
        from yinxin.signing.ses_pdf import SesPdfSigning

        return SesPdfSigning(self.signing)

    @cached_property
    def authorizations(self) -> SigningAuthorizations:
        from yinxin.signing.authorizations import SigningAuthorizations

        return SigningAuthorizations(self.db, self.clock, self.seals, self.kek)

    @cached_property
    def batch(self) -> BatchSigning:
        from yinxin.signing.batch import BatchSigning

        return BatchSigning(self.signing, self.authorizations)

    @cached_property
    def api_keys(self) -> ApiKeys:
        from yinxin.access.keys import ApiKeys

        return ApiKeys(self.db, self.clock)

    @cached_property
    def idempotency(self) -> Idempotency:
        from yinxin.access.idempotency import Idempotency

        return Idempotency(self.db, self.clock, self.kek)

    @cached_property
    def staff(self) -> StaffUsers:
        """Web desk accounts (password + TOTP); TOTP secrets under the KEK."""
        from yinxin.access.staff import StaffUsers

        return StaffUsers(self.db, self.clock, lambda: self.kek)

    @cached_property
    def sessions(self) -> Sessions:
        """Browser sessions for the API (staff and subscriber logins)."""
        from yinxin.access.sessions import Sessions

        return Sessions(self.db, self.clock, self.staff, lambda: self.intent)

    @cached_property
    def flows(self) -> SignFlows:
        """Sign flows; the batch signer is asked for only when a signature is made."""
        from yinxin.signing.flows import SignFlows
        from yinxin.store.files import FileStore

        return SignFlows(
            self.db,
            self.clock,
            notifier=self.notifier,
            seals=self.seals,
            batch=lambda: self.batch,  # type: ignore[attr-defined]
            files=FileStore(self.settings.documents_dir / "flows"),
            base_url=self.settings.base_url,
        )

    @cached_property
    def contracts(self) -> Contracts:
        """Contracts from the template library (docs/contracts.md), their PDFs in their own
        file store; the sign flows are asked for only when a contract is sent or read back."""
        from yinxin.contracts.service import Contracts
        from yinxin.store.files import FileStore

        return Contracts(
            self.db,
            self.clock,
            files=FileStore(self.settings.documents_dir / "contracts"),
            flows=lambda: self.flows,  # type: ignore[attr-defined]
        )

    @cached_property
    def webhooks(self) -> Webhooks:
        """Webhook subscriptions, the dispatcher (audit trail → deliveries) and the deliverer;
        secrets under the platform KEK."""
        from yinxin.notify.webhooks import Webhooks

        return Webhooks(
            self.db, self.clock, self.kek, allow_private=self.settings.webhook_allow_private
        )

    @cached_property
    def handover(self) -> Handover:
        """Export of every row and kept file, and import into an empty instance (002 §6.2.10);
        verified with the platform's own verifier, seal folders written again from the rows."""
        from yinxin.handover.service import Handover

        return Handover(
            self.db,
            self.clock,
            self.settings.home,
            verify=lambda pdf, name: self.signing.verify(pdf, file_name=name).to_dict(),
            verify_audit=self.verify_audit,
            rebuild={"seal_folders": lambda: len(self.seals.repair_files().rewritten)},
        )

    @cached_property
    def exports(self) -> ExportShelf:
        """Exports kept under ``<home>/exports`` for the administrators' API and web page."""
        from yinxin.handover.shelf import ExportShelf

        return ExportShelf(self.handover, self.db, self.clock, self.settings.home)

    @cached_property
    def desk(self) -> ServiceDesk:
        """The O&M service desk of contract 003 (docs/service-desk.md): working days from the
        official calendar; the sign flows are asked for only when a service record goes out."""
        from yinxin.contracts.desk import ServiceDesk
        from yinxin.contracts.workdays import official_calendar

        return ServiceDesk(
            self.db,
            self.clock,
            official_calendar(self.settings.home),
            flows=lambda: self.flows,  # type: ignore[attr-defined]
            contracts=lambda: self.contracts,  # type: ignore[attr-defined]
        )

    @cached_property
    def obligations(self) -> Obligations:
        """Contract terms tracked after signing (docs/obligations.md): due dates on the official
        calendar, reminders through the notification outbox."""
        from yinxin.contracts.obligations import Obligations
        from yinxin.contracts.workdays import official_calendar

        return Obligations(
            self.db,
            self.clock,
            official_calendar(self.settings.home),
            contracts=lambda: self.contracts,  # type: ignore[attr-defined]
            notifier=lambda: self.notifier,
        )

    # ------------------------------------------------------------------------------------------
    def _publish_crl(self, serial: str) -> None:
        """A status change gets a new CRL at once when this process can sign; otherwise the
        server re-signs on its next CRL fetch (it compares status revisions on every fetch).

        The change is committed by now, so a CRL that cannot be signed here (no or a wrong CA
        passphrase, a key store that refuses) must not undo or hide it: it is kept in
        ``crl_attempts`` for the caller to say (the CLI warns on standard error). It was
        only logged at INFO, below what the CLI shows, so ``cert revoke`` with a wrong
        passphrase exited 0 without a word and the operator believed relying parties already
        saw the revocation in the CRL. Any other error is caught too (logged with its
        trace): raised after the commit, it made the command fail for a change that had
        happened."""
        try:
            self.status.publish_crl_for(serial)  # the CRL of the CA that issued it
        except YinxinError as e:
            cause = crl_failure_cause(e)
            log.info("CRL not re-signed after %s changed: %s", serial, cause)
            self.crl_attempts.append(CrlAttempt(serial, False, cause))
        except Exception:
            log.exception("CRL not re-signed after %s changed", serial)
            self.crl_attempts.append(
                CrlAttempt(serial, False, "the CRL could not be signed (see the log)")
            )
        else:
            self.crl_attempts.append(CrlAttempt(serial, True))

    def keystore(self) -> KeyStore:
        if self._keystore is None:
            from yinxin.pki.keystores import PKCS11_SETTINGS, open_keystore

            s = self.settings
            if s.keystore == "pkcs11":
                if not (s.pkcs11_module and s.pkcs11_token and s.pkcs11_pin):
                    raise ConfigurationError(
                        "the PKCS#11 key store needs YINXIN_PKCS11_MODULE, YINXIN_PKCS11_TOKEN "
                        "and YINXIN_PKCS11_PIN",
                        field="keystore",
                    )
                self._keystore = open_keystore(
                    "pkcs11",
                    module=s.pkcs11_module,
                    token_label=s.pkcs11_token,
                    pin=s.pkcs11_pin,
                    names=PKCS11_SETTINGS,
                )
            elif s.keystore == "file":
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
            else:  # refused by name, never a fall-back to key files
                self._keystore = open_keystore(s.keystore)
        return self._keystore

    def init_authority(self, algorithm: str, actor: str = "operator") -> AuthorityInit:
        """``yinxin init`` on a platform built with ``migrate=False``: the algorithm and the key
        store (its passphrase) are checked before the database is touched, so a refusal of
        either leaves a server database (``YINXIN_DATABASE_URL``) as it was, and so is an
        authority made already refused, its database at whatever schema revision it is left;
        then the schema is brought to the newest migration and the certificate authority made,
        recorded as made by ``actor``."""
        from yinxin.pki.algorithms import get_algorithm

        get_algorithm(algorithm)
        self.keystore()  # opened now: no passphrase, or one too short, is refused
        with ExitStack() as stack:
            with _database_errors(self.settings):
                # one set up already is refused before its schema is touched: at an older
                # revision it was upgraded first, and on SQLite the refusal left it upgraded
                self.ca.refuse_if_initialised()
                # on PostgreSQL the migration and the CA's rows are one transaction: an init
                # failing half-way (a key not written) leaves the database as it was
                stack.enter_context(self.db.setting_up())
            return self.ca.init(algorithm, actor)

    def audit_events(self, **narrow) -> list[AuditEventView]:
        """The audit trail in chain order (``yinxin.store.audit.events``' filters)."""
        from yinxin.store.audit import events

        with self.db.read() as s:
            return events(s, **narrow)

    def verify_audit(self) -> AuditVerdict:
        from yinxin.store.audit import verify as verify_audit

        with self.db.read() as s:
            return verify_audit(s)

    def close(self) -> None:
        if "status" in self.__dict__:  # built, so its thread may keep a lookup connection
            self.status.close()
        close = getattr(self._keystore, "close", None)
        if close:
            close()
        self.db.dispose()


def default_gateways(platform: Platform) -> list[Gateway]:
    """The configured gateways: SMTP when ``YINXIN_SMTP_HOST`` is set, the SMS provider named
    by ``YINXIN_SMS_PROVIDER``; each channel left unset goes to files under the outbox."""
    from yinxin.notify.gateways import FileGateway

    outbox, m = platform.settings.outbox_dir, platform.settings.messages
    if m.sms_provider in ("", "file"):
        sms: Gateway = FileGateway(outbox, "sms", clock=platform.clock)
    else:
        from yinxin.notify.sms import sms_gateway

        sms = sms_gateway(m, clock=platform.clock)
    if m.smtp_host:
        from yinxin.notify.email import SmtpConfig, SmtpGateway

        email: Gateway = SmtpGateway(SmtpConfig.from_settings(m), clock=platform.clock)
    else:
        email = FileGateway(outbox, "email", clock=platform.clock)
    return [sms, email]


def build_notifier(platform: Platform, gateways: Iterable[Gateway] | None = None) -> Notifier:
    """The notifier; gateways default to the configured ones (the file outbox when none is).
    Attachment bytes wait for their send and retries in a store beside the outbox."""
    from yinxin.notify.service import Notifier
    from yinxin.store.files import FileStore

    chosen = list(gateways) if gateways is not None else default_gateways(platform)
    files = FileStore(platform.settings.outbox_dir / "attachments")
    return Notifier(platform.db, platform.clock, chosen, attachments=files)


def build_intent(platform: Platform, notifier: Notifier) -> IntentConfirmation:
    """The intent confirmation, sending its codes through ``notifier``."""
    from yinxin.signing.intent import IntentConfirmation

    return IntentConfirmation(
        platform.db,
        platform.clock,
        notifier,
        platform.settings.home,
        ttl_seconds=platform.settings.otp_ttl_seconds,
    )


def build_notify(
    platform: Platform, gateways: Iterable[Gateway] | None = None
) -> tuple[Notifier, IntentConfirmation]:
    """A notifier and the intent confirmation built on it (tests give their own gateways).
    Wiring lives here, in the composition root, and nowhere else."""
    notifier = build_notifier(platform, gateways)
    return notifier, build_intent(platform, notifier)


class _DatabaseOnFirstUse:
    """A platform's database that is opened — the data directory made, the file created and
    migrated (``_open_database``) — the first time anything of it is used (a service's
    ``transaction()``, ``read()``…), then stands for it; closing one never opened does nothing.

    The CLI built the platform before a command's body ran, and the platform opened its
    database at once: on a data directory not made yet, a command line refused for what was
    typed (``subscriber add-person --id-number 123``, ``desk open --notice-at yesterday``, an
    unknown ``--state``, a ``--values`` file that is not there) was refused, exit 2, but left
    the folder and an empty ``yinxin.db`` behind. The options are judged — by the command or
    by the service, before its first query — before anything is read, so now nothing is made
    for a command refused before it. Services keep the object they were given; every
    attribute is the opened database's."""

    def __init__(self, settings: Settings, *, migrate: bool):
        self._settings = settings
        self._migrate = migrate
        self._db: Database | None = None
        self._opening = threading.Lock()

    def _opened(self) -> Database:
        if self._db is None:
            with self._opening:
                if self._db is None:
                    self._db = _open_database(self._settings, migrate=self._migrate)
        return self._db

    def __getattr__(self, name: str) -> Any:
        # called only for what this object has not itself: everything of the database (its
        # own fields, read before __init__ set them — a copy, a pickle — are not opened for)
        if name in ("_settings", "_migrate", "_db", "_opening"):
            raise AttributeError(name)
        return getattr(self._opened(), name)

    def dispose(self) -> None:
        if self._db is not None:
            self._db.dispose()


def _open_database(settings: Settings, *, migrate: bool) -> Database:
    """The database, at the newest schema; one that cannot be opened is a ``ConfigurationError``
    naming the setting and the reason.

    A data directory that is a file or cannot be made, a database file that is not one, a
    PostgreSQL server that does not answer or a URL of another kind ended in a traceback of
    the driver's. The reason is the operating system's or the driver's own first line; the
    URL is not repeated, since it may hold a password."""
    url = settings.database_url
    sqlite = url.startswith("sqlite")
    own = url == f"sqlite:///{settings.home / 'yinxin.db'}"  # not set by YINXIN_DATABASE_URL
    field = "home" if own else "YINXIN_DATABASE_URL"
    if not (sqlite or url.startswith("postgresql")):
        raise ConfigurationError(
            "YINXIN_DATABASE_URL must be a postgresql:// or sqlite:/// URL", field=field
        )
    if sqlite and sqlite_path(url) is None:
        # each connection would get a database of its own, empty, and all of it would be lost
        # at exit: what was written is not found, and the first query fails on a missing table
        raise ConfigurationError(
            "an in-memory SQLite database keeps nothing: give a file (sqlite:////path/yinxin.db)",
            field=field,
        )
    with _database_errors(settings):
        if sqlite:
            # private: it holds the database, the keys and the seals (0700; files 0600)
            settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        db = Database(url)
        if migrate:
            db.migrate()
        return db


@contextmanager
def _database_errors(settings: Settings) -> Iterator[None]:
    """An operating system's or the database driver's error, while the database is opened or
    migrated, as a ``ConfigurationError`` naming the setting and the reason."""
    from sqlalchemy.exc import SQLAlchemyError

    url = settings.database_url
    own = url == f"sqlite:///{settings.home / 'yinxin.db'}"  # not set by YINXIN_DATABASE_URL
    field = "home" if own else "YINXIN_DATABASE_URL"
    where = f"the database in {settings.home}" if own else "the database"
    try:
        yield
    except OSError as e:
        path = e.filename or settings.home
        what = "as the data directory" if str(path) == str(settings.home) else "for the database"
        reason = e.strerror or str(e)
        if isinstance(e, FileExistsError | NotADirectoryError):
            reason = "a file is in the way"
        raise ConfigurationError(f"cannot use {path} {what}: {reason}", field=field) from None
    except SQLAlchemyError as e:
        cause = getattr(e, "orig", None) or e
        reason = " ".join(str(cause).split()) or type(cause).__name__
        raise ConfigurationError(f"cannot open {where}: {reason}", field=field) from None


def build_platform(settings: Settings | None = None, **kwargs) -> Platform:
    return Platform(settings or Settings.from_env(), **kwargs)
