"""Keeping signed contracts provable for decades: the archive and its timestamp renewal.

Every document the platform signs is kept (content-addressed, see ``store.files``) with a row
saying which timestamp it rests on now and when that timestamp's TSA certificate expires. A
signature stays provable as long as its newest timestamp can be validated; that ends when the
TSA certificate expires or its algorithm weakens. ``renew`` therefore, for every kept document
that is due, appends (PAdES B-LTA, ETSI EN 319 142-1 §5.5):

1. a DSS revision with OCSP responses signed *now* for every certificate of ours the file
   relies on and that is still within its validity (signers, issuing CA, every TSA that
   timestamped it), which proves they were not revoked before this moment, and
2. a document timestamp over everything, by the TSA certificate valid now.

Status data is added only for certificates not yet expired, and as per-certificate OCSP
responses rather than CRLs: a fresh CRL also speaks about every expired certificate in its
scope, and a validator that slides its control time forward on fresh data (ETSI EN 319 102-1
§5.6.2.1 as pyHanko implements it) would then judge those certificates after their expiry.

Between renewals, ``renew`` also refreshes the status data (a DSS-only revision) of every
document whose last refresh is older than ``refresh``, so a strict validator working offline
always finds status for the newest timestamp's chain that is still within its validity.

A document is due when it has no document timestamp yet (B-LT becomes B-LTA at the first run)
or its newest timestamp's TSA certificate expires within ``margin``. Before renewing, the TSA
is rolled over when its own certificate has less than twice the margin left, so a fresh
timestamp is never due again at the next run. Renewal is idempotent (a second run finds nothing
due) and safe against a concurrent run (compare-and-set on the document's hash).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import TYPE_CHECKING

from cryptography import x509
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from yinxin.errors import (
    Forbidden,
    NotFound,
    ValidationError,
    YinxinError,
)
from yinxin.identity import serial_hex, validate_name
from yinxin.pdf.sign import (
    Level,
    RevocationData,
    SigningError,
    append_document_timestamp,
    append_dss,
)
from yinxin.pki.keystores import PKCS11_SETTINGS
from yinxin.registry.ca import role_of
from yinxin.registry.status import Evidence
from yinxin.results import from_row
from yinxin.store import audit
from yinxin.store.files import FileStore
from yinxin.store.models.archive import ArchivedDocument
from yinxin.store.models.signing import SignatureRecord
from yinxin.store.queries import cut, paged, select_where
from yinxin.transitions import TransitionTable, listed, move

if TYPE_CHECKING:
    from yinxin.registry.views import RolledOver

DEFAULT_MARGIN = dt.timedelta(days=365)
DEFAULT_REFRESH = dt.timedelta(days=60)  # within the 90 days root-signed status data lives
OCSP_RESPONDER_MARGIN = dt.timedelta(days=90)
# the TSA is rolled over with twice the margin left: its certificate lives 5 years, so past
# 912 days it was rolled over again at the next run (past 1825 every document renewed too);
# at 730 a fresh TSA certificate serves a year before its rollover
MAX_MARGIN = dt.timedelta(days=730)
# the issuing CA is re-certified (same key) two years before its certificate expires
ISSUING_MARGIN = dt.timedelta(days=730)
# an error naming one of these is the key store not opening (no passphrase or one too short,
# the HSM's module or token), not one key's trouble
# (the platform's store names its settings, YINXIN_PKCS11_PIN…)
_KEY_STORE_FIELDS = frozenset(
    {"passphrase", "module", "token_label", "pin", *PKCS11_SETTINGS.values()}
)


class DocumentState(StrEnum):
    """A kept version of a document (equal to the string stored in its row)."""

    NONE = "none"  # before the version is kept
    ACTIVE = "active"  # the current version: renewed and refreshed
    SUPERSEDED = "superseded"  # a later version (signed or renewed over it) replaces it


_D = DocumentState
ACTIVE = _D.ACTIVE
LIFECYCLE = TransitionTable(
    "archived document",
    "state",
    hold_state=None,  # a kept document is never on hold
    moves=[
        move("keep", "keep a signed version", {_D.NONE}, _D.ACTIVE, creates=True),
        move("renew", "a renewal replaces the file in place", {_D.ACTIVE}, _D.ACTIVE),
        move("supersede", "signed over by a newer version", {_D.ACTIVE}, _D.SUPERSEDED),
    ],
)


@dataclass(frozen=True)
class ArchivedDocumentView:
    """What callers see of a kept document (no file system paths beyond the data directory)."""

    id: int
    document_name: str
    sha256: str
    path: str
    size: int
    level: Level
    state: DocumentState
    created_at: dt.datetime
    newest_timestamp_at: dt.datetime | None
    tsa_not_after: dt.datetime | None
    renewed_at: dt.datetime | None
    renewals: int
    status_refreshed_at: dt.datetime | None
    signature_record_id: int | None

    @classmethod
    def of(cls, row: ArchivedDocument) -> ArchivedDocumentView:
        return from_row(cls, row, level=Level(row.level), state=DocumentState(row.state))


@dataclass(frozen=True)
class ArchivePage:
    items: tuple[ArchivedDocumentView, ...]
    next_after: int | None  # pass as ``after`` for the next page; None: this was the last


MAX_LIST = 200


class _Outcome(Enum):
    """What ``_renew_one`` did with one kept version."""

    DONE = "done"
    SKIPPED = "skipped"  # nothing to renew in it (an OFD)
    ELSEWHERE = "elsewhere"  # another run renewed it first


@dataclass(frozen=True)
class RenewalFailure:
    id: int  # the kept document
    error: str


@dataclass(frozen=True)
class RenewalReport:
    """What one ``renew`` run did, for the operator and the scheduler (failures exit 1)."""

    checked: int
    renewed: list[int]
    refreshed: list[int]  # status data only
    not_due: int
    failed: list[RenewalFailure]
    rolled_over: list[RolledOver]
    warnings: list[str]
    swept: int  # unreferenced files removed (left by interrupted runs)
    at: dt.datetime
    # due here, but renewed (or refreshed) by another run at the same time: nothing to do,
    # nothing lost — neither a failure nor "not due"
    renewed_elsewhere: list[int] = field(default_factory=list)


class Archive:
    def __init__(self, evidence: Evidence, files: FileStore):
        self.db, self.clock, self.ca = evidence.db, evidence.clock, evidence.ca
        self.ocsp, self.tsa, self.files = evidence.ocsp, evidence.tsa, files

    # --- keeping ---------------------------------------------------------------------------
    def store(self, pdf: bytes) -> str:
        """Write the bytes (before the transaction that records them: a crash then leaves an
        unreferenced file, never a record without its file)."""
        return self.files.put(pdf)

    def keep(
        self,
        s: Session,
        *,
        sha256: str,
        size: int,
        document_name: str,
        level: Level,
        signature_record_id: int | None,
        supersedes: str | None,
        timestamp_at: dt.datetime | None,
    ) -> None:
        """Record a stored signed document in the caller's transaction; the version it was
        signed over (``supersedes``, its hash as signed) is marked superseded — found by that
        hash, or, if the nightly renewal has rewritten it since (a new hash), by the signature
        that made it: a party signing the next day signs over the bytes it was given, not the
        renewed file, and the renewed version must not stay current (renewed for ever) beside
        the new one."""
        now = self.clock.now()
        if supersedes:
            sup = LIFECYCLE["supersede"]
            made_it = select(SignatureRecord.id).where(SignatureRecord.sha256_after == supersedes)
            s.execute(
                update(ArchivedDocument)
                .where(
                    or_(
                        ArchivedDocument.sha256 == supersedes,
                        ArchivedDocument.signature_record_id.in_(made_it),
                    ),
                    ArchivedDocument.state.in_(sup.from_states),
                )
                .values(state=sup.to_state)
            )
        tsa_not_after = self.tsa.certificate().not_valid_after_utc if timestamp_at else None
        s.add(
            ArchivedDocument(
                document_name=document_name[:255],
                sha256=sha256,
                path=self.files.relative(sha256),
                size=size,
                level=level,
                state=LIFECYCLE["keep"].to_state,
                signature_record_id=signature_record_id,
                created_at=now,
                newest_timestamp_at=timestamp_at,
                tsa_not_after=tsa_not_after,
                renewed_at=None,
                renewals=0,
                status_refreshed_at=now,
            )
        )

    def documents(self, state: DocumentState | str | None = ACTIVE) -> list[ArchivedDocumentView]:
        with self.db.read() as s:
            q = select_where(ArchivedDocument, state=state).order_by(ArchivedDocument.id)
            return [ArchivedDocumentView.of(r) for r in s.execute(q).scalars()]

    def page(
        self,
        state: DocumentState | str | None = ACTIVE,
        *,
        limit: int = 50,
        after: int | None = None,
    ) -> ArchivePage:
        """Kept documents by id, ``limit`` at a time; ``after`` is the previous page's
        ``next_after`` (``yinxin archive list``)."""
        state = listed(DocumentState, state, "state")
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
            raise ValidationError(f"limit must be 1–{MAX_LIST}", field="limit")
        q = select_where(ArchivedDocument, state=state)
        q = paged(
            q, ArchivedDocument.id, after=None if after is None else int(after), limit=limit + 1
        )
        with self.db.read() as s:
            rows, next_after = cut(list(s.execute(q).scalars()), limit)
            return ArchivePage(tuple(ArchivedDocumentView.of(r) for r in rows), next_after)

    def document(self, doc_id: int) -> tuple[ArchivedDocumentView, bytes]:
        with self.db.read() as s:
            row = s.get(ArchivedDocument, doc_id)
            if row is None:
                raise NotFound(f"no archived document {doc_id}", field="id")
            view = ArchivedDocumentView.of(row)
        return view, self.files.get(view.sha256)

    def signed_file(self, sha256: str, signature_record_id: int) -> bytes | None:
        """A signed file as it was signed (``sha256``) or, if it was renewed since, the current
        version of the document the signature made (which begins with it); None if neither is
        kept."""
        try:
            return self.files.get(sha256)
        except NotFound:
            docs = [d for d in self.documents(None) if d.signature_record_id == signature_record_id]
            if not docs:
                return None
            return self.document(docs[0].id)[1]

    def sweep(self, older_than: dt.timedelta = dt.timedelta(hours=1)) -> int:
        """Remove stored files no record refers to: left by a signing or renewal that died
        between writing its file and committing its record (the file is written first on
        purpose). ``older_than`` spares files whose commit may still be on its way."""
        with self.db.read() as s:
            referenced = set(s.execute(select(ArchivedDocument.sha256)).scalars())
        stored = self.files.keys()
        if not stored:
            return 0
        # the file system's now, not the process clock: the mtimes are by its clock, and a
        # process clock ahead of it (a container's, faketime) swept a file being written
        cutoff = self.files.now(m for _, m in stored) - older_than.total_seconds()
        removed = 0
        for key, mtime in stored:
            if mtime > cutoff:
                continue
            if key.endswith(".part"):
                self.files.delete_part(key[:-5])
                removed += 1
            elif key not in referenced:
                self.files.delete(key)
                removed += 1
        return removed

    # --- renewal ---------------------------------------------------------------------------
    def is_due(
        self, row: ArchivedDocumentView | ArchivedDocument, margin: dt.timedelta, now: dt.datetime
    ) -> bool:
        if row.level != Level.B_LTA or row.tsa_not_after is None:
            return True
        return row.tsa_not_after - now < margin

    def renew(
        self,
        *,
        margin: dt.timedelta = DEFAULT_MARGIN,
        refresh: dt.timedelta | None = DEFAULT_REFRESH,
        force: bool = False,
        actor: str = "operator",
        progress: Callable[[int, int], None] | None = None,
    ) -> RenewalReport:
        """Renew what is due, refresh the status data of what is not (``refresh=None``: never).
        One document's failure is reported and the run goes on with the next."""
        # recorded with every rollover and renewal: refused before any of them, not midway
        actor = validate_name(actor, "actor", 100)
        if margin < dt.timedelta(days=1) or margin > MAX_MARGIN:
            raise ValidationError(
                f"the margin must be between 1 and {MAX_MARGIN.days} days (the TSA is rolled "
                "over when its certificate has less than twice the margin left: a longer one "
                "would roll it over, and renew every document, at every run)",
                field="margin",
            )
        if refresh is not None and not dt.timedelta(days=1) <= refresh <= dt.timedelta(days=85):
            raise ValidationError(
                "the refresh interval must be between 1 and 85 days "
                "(status data signed by the root lives 90)",
                field="refresh",
            )
        if not self.ca.is_initialised():
            # a mistyped --home: not "0 of 0 renewed", exit 0, every day (the CRL job fails)
            raise NotFound(
                "the certificate authority is not initialised (run `yinxin init`): there is "
                "no archive here to renew",
                field="home",
            )
        self._key_store_opens()
        at = self.clock.now()
        rolled_over, warnings = [], []
        # every hierarchy's: an SM2 one beside the default keeps its TSA and responders
        # current too (its OFD and GB/T 38540 signatures are stamped and answered by them)
        for role, lead in (
            (role_of(h, base), lead)
            for h in self.ca.hierarchies()
            for base, lead in (
                ("issuing", ISSUING_MARGIN),
                ("tsa", 2 * margin),
                ("ocsp", OCSP_RESPONDER_MARGIN),
                ("root-ocsp", OCSP_RESPONDER_MARGIN),
            )
        ):
            try:
                rolled = self.ca.ensure_current(role, lead, actor=actor)
            except YinxinError as e:  # renewal goes on with the certificate there is
                warnings.append(f"{role} not rolled over: {e.message}")
                continue
            if rolled:
                rolled_over.append(rolled)
        self.tsa.reload()
        self.ocsp.reload()
        swept = self.sweep()
        docs = self.documents(ACTIVE)
        now = self.clock.now()
        renewed: list[int] = []
        refreshed: list[int] = []
        failed: list[RenewalFailure] = []
        elsewhere: list[int] = []
        for i, doc in enumerate(docs, 1):
            last = doc.status_refreshed_at or doc.created_at
            timestamp = force or self.is_due(doc, margin, now)
            if timestamp or (refresh is not None and now - last >= refresh):
                try:
                    outcome = self._renew_one(doc, actor, timestamp=timestamp)
                    if outcome is _Outcome.DONE:
                        (renewed if timestamp else refreshed).append(doc.id)
                    elif outcome is _Outcome.ELSEWHERE:
                        elsewhere.append(doc.id)
                except YinxinError as e:
                    failed.append(RenewalFailure(doc.id, e.message))
                except OSError as e:
                    # the renewed file could not be written (a full disk) or the kept one read:
                    # this document's failure, reported like the others (its row and file are
                    # as they were), not a traceback that ends the run for every later one
                    where = f": {e.filename}" if e.filename else ""
                    failed.append(
                        RenewalFailure(
                            doc.id,
                            f"document {doc.id} could not be renewed "
                            f"({e.strerror or e}{where}); it is kept as it was",
                        )
                    )
            if progress:
                progress(i, len(docs))
        return RenewalReport(
            checked=len(docs),
            renewed=renewed,
            refreshed=refreshed,
            not_due=len(docs) - len(renewed) - len(refreshed) - len(failed) - len(elsewhere),
            failed=failed,
            rolled_over=rolled_over,
            warnings=warnings,
            swept=swept,
            at=at,
            renewed_elsewhere=elsewhere,
        )

    def _key_store_opens(self) -> None:
        """Refuse the run up front when the key store cannot be opened at all: a wrong, too
        short or missing CA passphrase, a wrong HSM PIN. It is the same for every key, so it was
        reported as every kept document's failure, one line each (exit 1), every document
        trying the keys again. A key that is missing or damaged is left to the run: it fails
        only what needs it (a refresh needs no TSA key), and a rollover may replace it."""
        try:
            self.ca.key("tsa")
        except Forbidden:
            raise
        except YinxinError as e:
            # a passphrase too short to be the one (ValidationError naming ``passphrase``) is
            # the store not opening too: with nothing due it passed as "not due", exit 0
            if e.field in _KEY_STORE_FIELDS:
                raise

    def _moved_on(self, doc: ArchivedDocumentView) -> bool:
        """Whether the kept version ``doc`` was replaced since it was listed (another run
        renewed it, or a newer signed version superseded it): its old file is then gone on
        purpose, not missing."""
        with self.db.read() as s:
            row = s.get(ArchivedDocument, doc.id)
            return row is None or row.sha256 != doc.sha256 or row.state != ACTIVE

    def _renew_one(self, doc: ArchivedDocumentView, actor: str, *, timestamp: bool) -> _Outcome:
        """Renew (or refresh) one kept version; ``ELSEWHERE`` when another run got there
        first — its file already replaced, or its row changed before ours was written."""
        try:
            pdf = self.files.get(doc.sha256)
        except NotFound:
            if self._moved_on(doc):  # renewed by a run at the same time, which removed it
                return _Outcome.ELSEWHERE
            raise
        if b"%PDF-" not in pdf[:1024]:
            # an OFD signed with a platform seal (yinxin.signing.ofd, level B-T): it has no DSS
            # to refresh nor a document timestamp to add — its evidence is the timestamp inside
            # its SES_Signature — so it is passed over, not reported as a failure every run
            return _Outcome.SKIPPED
        now = self.clock.now()
        try:
            ours = self._our_certificates(pdf)
            tsa_cert = self.tsa.certificate()
            if timestamp:
                ours[tsa_cert.serial_number] = tsa_cert
            valid = [c for c in ours.values() if c.not_valid_after_utc > now]
            evidence = RevocationData(
                ocsp_responses=[self.ocsp.fresh(c) for c in valid],
                certificates=[*ours.values(), *self.ca.chain(), *self.ca.responder_certificates()],
            )
            renewed = append_dss(pdf, evidence)
            if timestamp:
                renewed = append_document_timestamp(renewed, self.tsa)
        except SigningError as e:
            raise YinxinError(
                f"document {doc.id} could not be renewed: {e.message}",
                field="document",
                code="renewal_failed",
            ) from None
        key = self.store(renewed)
        values: dict = {
            "sha256": key,
            "path": self.files.relative(key),
            "size": len(renewed),
            "status_refreshed_at": now,
        }
        if timestamp:
            values.update(
                level=Level.B_LTA,
                newest_timestamp_at=now,
                tsa_not_after=tsa_cert.not_valid_after_utc,
                renewed_at=now,
                renewals=ArchivedDocument.renewals + 1,
            )
        with self.db.transaction() as s:
            changed = s.execute(
                update(ArchivedDocument)
                .where(
                    ArchivedDocument.id == doc.id,
                    ArchivedDocument.sha256 == doc.sha256,
                    ArchivedDocument.state.in_(LIFECYCLE["renew"].from_states),
                )
                .values(**values)
            ).rowcount
            if changed != 1:
                lost = True
            else:
                lost = False
                data = {
                    "sha256_before": doc.sha256,
                    "sha256_after": key,
                    "status_for": sorted(serial_hex(c.serial_number) for c in valid),
                }
                if timestamp:
                    data.update(
                        tsa=serial_hex(tsa_cert.serial_number),
                        tsa_not_after=tsa_cert.not_valid_after_utc.isoformat(),
                    )
                audit.record(
                    s,
                    at=now,
                    actor=actor,
                    action=(
                        "document.archive_renewed" if timestamp else "document.status_refreshed"
                    ),
                    subject_type="archived_document",
                    subject_id=doc.id,
                    data=data,
                )
        if lost:
            if key != doc.sha256:
                self.files.delete(key)
            return _Outcome.ELSEWHERE
        # the renewed file begins with every byte of the old one (an incremental update)
        self.files.delete(doc.sha256)
        return _Outcome.DONE

    def _our_certificates(self, pdf: bytes) -> dict[int, x509.Certificate]:
        """Certificates in the file's signatures and timestamps that our CAs issued (signers,
        TSAs, issuing CA certificates), by serial, with the current issuing CA's."""
        from asn1crypto import cms
        from pyhanko.pdf_utils.reader import PdfFileReader
        from pyhanko.sign.validation.generic_cms import extract_tst_data_iter

        root = self.ca.certificate("root").subject
        issuers = {self.ca.certificate("issuing").subject, root}
        found: dict[int, x509.Certificate] = {}

        def add(signed_data: cms.SignedData) -> None:
            for choice in signed_data["certificates"] or []:
                if choice.name != "certificate":
                    continue
                cert = x509.load_der_x509_certificate(choice.chosen.dump())
                if cert.issuer in issuers and cert.subject != root:
                    found[cert.serial_number] = cert

        try:
            reader = PdfFileReader(io.BytesIO(pdf), strict=False)
            for emb in reader.embedded_signatures:
                add(emb.signed_data)
                if emb.sig_object_type != "/DocTimeStamp":
                    for tst in extract_tst_data_iter(emb.signer_info, signed=False):
                        add(tst)
        except Exception as e:
            raise YinxinError(
                f"the archived file cannot be read ({type(e).__name__})",
                field="document",
                code="renewal_failed",
            ) from None
        found.setdefault(
            self.ca.certificate("issuing").serial_number, self.ca.certificate("issuing")
        )
        return found
