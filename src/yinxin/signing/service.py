"""Signing contracts with seals on the platform, and verification for relying parties.

A platform signature is made only when three things hold at the moment of signing (Electronic
Signature Law art. 13: the creation data is under the signer's sole control): the seal and its
certificate are usable *now* (checked against the database, not a cache), the holder's seal PIN
opens the key, and the signer confirmed intent with a one-time code sent to their registered
phone for *this* document. The confirmation is consumed in the same transaction that records
the signature, so a failed signature leaves it unused and a replay is refused.

Evidence for long-term validation (B-LT) comes from our own OCSP responder and CRLs in-process:
no network is needed to sign, and the signed file validates later with fetching switched off.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from yinxin.archive.service import Archive
from yinxin.errors import NotFound, ValidationError
from yinxin.pdf.sign import (
    LEVELS,
    FieldSigner,
    Level,
    Placement,
    RevocationData,
    SealStamp,
    SignRequest,
    check_field,
    check_fits,
    check_new_field,
    check_placement,
    check_signable,
    check_some_field,
    sign_pdf_detailed,
)
from yinxin.registry.status import Evidence
from yinxin.seals.pin import SealMaterial
from yinxin.seals.rows import certificate_and_key, seal_row
from yinxin.seals.service import Seals, UnlockedSeal
from yinxin.seals.seseal import cert_spki, is_sm2_spki
from yinxin.signing.intent import Challenge, Confirmation, IntentConfirmation
from yinxin.store import audit
from yinxin.store.models import Certificate, Subscriber
from yinxin.store.models.signing import SignatureRecord


class Role(StrEnum):
    """A signer's part in a contract (written into the signature's /Reason: "甲方签章")."""

    PARTY_A = "甲方"
    PARTY_B = "乙方"
    PARTY_C = "丙方"
    INTERMEDIARY = "中介方"
    ATTESTING_BODY = "鉴证单位"
    NOTARY = "公证单位"


ROLES = tuple(Role)
MAX_PDF = 50 * 1024 * 1024


def default_placement(width_mm: float) -> Placement:
    """Where a PDF seal with no placement goes: the last page, 120 mm from the left and
    40 mm up, at the seal's own width."""
    return Placement(page=-1, x_mm=120, y_mm=40, width_mm=width_mm)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class SignatureRecordView:
    """A signature the platform made: which document, seal, certificate, signer, role, level."""

    id: int
    document_name: str
    sha256_before: str
    sha256_after: str
    seal_id: int
    es_id: str
    certificate_serial: str
    signer_subscriber_id: int
    role: Role | None
    level: Level
    field_name: str | None
    intent_challenge: str | None
    signed_at: dt.datetime
    lock: bool = False
    cross_page: bool = False
    seal_name: str | None = None
    seal_kind: str | None = None

    @classmethod
    def of(cls, r: SignatureRecord) -> SignatureRecordView:
        """The record's columns, and the seal and placement details kept as JSON with it."""
        details = json.loads(r.details or "{}")
        plain = {f.name for f in fields(cls)} - {"role", "level"}
        columns = {n: getattr(r, n) for n in plain if hasattr(r, n)}
        return cls(
            **columns,
            **{k: v for k, v in details.items() if k in plain - columns.keys()},
            role=Role(r.role) if r.role else None,
            level=Level(r.level),
        )


@dataclass(frozen=True)
class SignatureEntry:
    """One signature to record: the document (name, SHA-256 before), the signed file and where
    the archive stored it, the signer's role, the field made and details kept with the record."""

    document_name: str
    digest: str
    signed: bytes
    stored: str
    role: Role | None
    field_name: str | None
    details: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class SignerCredentials:
    """Who signs with which seal, and how they prove it is them: the PIN that unlocks the seal
    and the intent confirmation (a token, or a challenge id and its one-time code). The
    PIN-and-code entry points (one PDF, a batch, an OFD) take these same values; this carries
    them to ``unlock_for_signer``, ``check_intent`` and ``use_intent`` as one. PIN and code
    are left out of ``repr`` so a logged object never shows them."""

    seal: int | str
    pin: str = field(repr=False)
    signer_subscriber_id: int
    confirmation_token: str | None = field(default=None, repr=False)
    challenge_id: str | None = None
    code: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SignedDocument:
    """The signed file and its record; ``replayed``: a retried signing got the signature its
    confirmation had already made, and nothing new was signed."""

    pdf: bytes
    record: SignatureRecordView
    replayed: bool = False


def _bound(who: SignerCredentials, digest: str, purpose: str) -> dict:
    """What a token or code is bound to: its signer, the document (or manifest), the purpose;
    ``check_intent`` and ``use_intent`` ask the same of it."""
    return {
        "subscriber_id": who.signer_subscriber_id,
        "document_sha256": digest,
        "purpose": purpose,
    }


class SigningService:
    def __init__(
        self, evidence: Evidence, seals: Seals, intent: IntentConfirmation, archive: Archive
    ):
        self.db, self.clock, self.ca = evidence.db, evidence.clock, evidence.ca
        self.ocsp, self.tsa = evidence.ocsp, evidence.tsa
        self.seals, self.intent, self.archive = seals, intent, archive

    # --- evidence ----------------------------------------------------------------------------
    def revocation_evidence(self, signer: x509.Certificate) -> RevocationData:
        """What a verifier needs offline, for the whole chain: OCSP responses signed *now*
        (called after the signature's timestamp, so they prove "not revoked at signing time")
        for the signer, the issuing CA and the TSA, and the responder and TSA certificates
        with their chains.

        No CRLs: each speaks for every certificate of its issuer until its nextUpdate, and a
        validator that time-slides (ETSI EN 319 102-1 §5.6.2.1, pyHanko) lets the oldest of
        them cap the moment it judges at — which broke files whose TSA had since expired.
        Per-certificate OCSP responses say exactly what is needed. CRLs stay published at the
        URLs in the certificates for online checks."""
        tsa_cert = self.tsa.certificate()
        issuing = self.ca.certificate("issuing")
        return RevocationData(
            ocsp_responses=[
                self.ocsp.fresh(signer),
                self.ocsp.fresh(issuing),
                self.ocsp.fresh(tsa_cert),
            ],
            certificates=[*self.ca.responder_certificates(), tsa_cert, *self.ca.chain()],
        )

    # --- intent ------------------------------------------------------------------------------
    def request_confirmation(
        self,
        *,
        signer_subscriber_id: int,
        document: bytes,
        document_name: str,
        field_name: str | None = None,
        seal: int | str | None = None,
        role: str | None = None,
        level: str | None = None,
        lock: bool = False,
    ) -> Challenge:
        """Send the signer a one-time code for this document (意愿认证).

        A document the signer cannot sign gets no code: not a PDF, one cut short (no
        end-of-file marker), unreadable, encrypted or without pages, which ``sign_pdf``
        refuses only after the code is typed in — an SMS, and the minute before the next
        code, spent for nothing; nor does one signed and then altered, or locked by its
        signature (``broken_signature``, ``modified_after_signing``, ``locked``,
        ``mixed_signatures``). The same checks as a batch's items.

        ``seal`` (the seal :meth:`sign` will be given): one it would refuse before the PIN
        gets no code. ``field_name`` (the prepared field :meth:`sign` will seal into): one
        sealing would refuse gets no code, nor one whose seed values the seal cannot meet —
        judged with ``seal`` or, not named, the signer's only seal (:meth:`judging_seal`),
        and with the ``role``, ``level`` (None: not known, a timestamp not judged) and
        ``lock`` :meth:`sign` will be given."""
        if b"%PDF-" not in document[:1024] or b"%%EOF" not in document[-2048:]:
            raise ValidationError(
                "this is not a (whole) PDF document; no code was sent", field="pdf"
            )
        check_signable(document, earlier_signatures=True, prepared_fields=True)
        the_level, the_role = self.check_options(level or Level.B_LT, role)
        if field_name is not None:
            if not isinstance(field_name, str) or not field_name:
                raise ValidationError("the field name is empty", field="field_name")
            judge, found = self.judging_seal(seal, signer_subscriber_id)
            signer = None
            if judge is not None:
                signer = self.field_signer(
                    judge, role=the_role, level=None if level is None else the_level, lock=lock
                )
            try:
                check_field(document, field_name, None, signer=signer)
            except ValidationError as e:
                raise self.named_seal(e, judge) if found else e from None
        else:
            # certified to permit only its fields (P=2/3): the seal must go into one of them,
            # so a document none of whose empty fields takes it gets no code either
            self.check_some_field(document, seal, signer_subscriber_id, the_role, lock)
        if seal is not None:
            self.seals.check_usable(seal, signer_subscriber_id)
            self.check_pdf_seal(seal)
        return self.intent.request_code(
            signer_subscriber_id,
            purpose="sign",
            document_sha256=sha256_hex(document),
            document_name=document_name,
        )

    def check_some_field(
        self,
        document: bytes,
        seal: int | str | None,
        signer_subscriber_id: int,
        role: str | None,
        lock: bool,
    ) -> None:
        """Refuse (``field_name``) a code asked for with no field named on a document whose
        certification (P=2/3) lets the seal go only into an empty field, when none takes it
        (``check_some_field``): judged with ``seal`` or the signer's only seal, as a named
        field is. Sealing refused it after the code: a new field breaks the certification,
        and each field refused the seal."""
        judge: list[tuple[int | str | None, bool]] = []

        def signer() -> FieldSigner | None:
            judge.append(self.judging_seal(seal, signer_subscriber_id))
            seal_id = judge[0][0]
            if seal_id is None:
                return None
            return self.field_signer(seal_id, role=role, level=None, lock=lock)

        try:
            check_some_field(document, signer)
        except ValidationError as e:
            raise self.named_seal(e, judge[0][0]) if judge and judge[0][1] else e from None

    def confirm(
        self, challenge_id: str, code: str, *, signer_subscriber_id: int, document: bytes
    ) -> Confirmation:
        return self.intent.confirm(
            challenge_id,
            code,
            subscriber_id=signer_subscriber_id,
            document_sha256=sha256_hex(document),
        )

    def check_intent(
        self,
        who: SignerCredentials,
        digest: str,
        *,
        purpose: str = "sign",
        actor: str | None = None,
    ) -> None:
        """Refuse now the token or code that could not be used up for this document — a wrong
        code counts against the challenge — but use up nothing: ``use_intent`` does, in the
        transaction that records the signature (with its purpose: ``unlock_for_signer`` checked
        the code before the PIN already). Called before anything is signed, so a signing that
        fails or is killed on its way leaves the signer a code that still works (PDF, OFD,
        GB/T 38540 PDF and batches alike)."""
        bound = _bound(who, digest, purpose)
        if who.confirmation_token is not None:
            self.intent.check_token(who.confirmation_token, **bound)
        elif who.challenge_id and who.code:
            self.intent.check_code(who.challenge_id, who.code, **bound, actor=actor)
        else:
            raise ValidationError(
                "intent confirmation is needed: give the one-time code", field="code"
            )

    def use_intent(
        self,
        s: Session,
        who: SignerCredentials,
        digest: str,
        *,
        purpose: str = "sign",
        by: str = "signing",
        actor: str | None = None,
    ) -> str:
        """Use up the token or code ``check_intent`` passed, in the caller's recording
        transaction ``s``; the challenge's id. A refusal now (expired, or used meanwhile by a
        concurrent signing) raises and the transaction records nothing."""
        bound = _bound(who, digest, purpose)
        if who.confirmation_token is not None:
            used = self.intent.consume(who.confirmation_token, **bound, by=by, session=s)
        else:
            used = self.intent.consume_code(
                str(who.challenge_id), str(who.code), **bound, session=s, by=by, actor=actor
            )
        return used.challenge_id

    # --- signing -----------------------------------------------------------------------------
    @staticmethod
    def check_options(
        level: str, role: str | None, *, where: str = ""
    ) -> tuple[Level, Role | None]:
        """The level and role as enums, or a refusal naming the field (``where`` prefixes it:
        ``items[3].`` for one document of a batch)."""
        if level not in LEVELS:
            raise ValidationError(f"level must be one of {', '.join(LEVELS)}", field="level")
        if role is not None and role not in ROLES:
            raise ValidationError(f"role must be one of {', '.join(ROLES)}", field=f"{where}role")
        return Level(level), Role(role) if role is not None else None

    def check_fits(self, document: bytes, seal: int | str, placement: Placement | None) -> None:
        """Refuse, as sealing would (``outside_page`` naming ``placement``, the same message),
        a seal placed by page and position that runs off its page, at the size it will be drawn:
        the seal row's, read without the PIN, so before the code is checked (found only by
        sealing, after the code, a wrong code with it used one of its tries). A seal that cannot
        be found, or a width sealing refuses for itself, is left to the later checks."""
        with self.db.read() as s:
            try:
                row = seal_row(s, seal)
            except NotFound:
                return
            width, height = row.width_mm, row.height_mm
        if not (width and height and width > 0 and height > 0):
            return
        placed = placement or default_placement(width)
        if placed.anchor or not 5 <= placed.width_mm <= 300:
            return
        check_fits(document, placed, height_mm=placed.width_mm * height / width)

    def check_pdf_seal(self, seal: int | str) -> None:
        """Refuse, naming ``seal``, a seal bound to an SM2 certificate: PDF (PAdES)
        signatures carry no SM2, so the engine refuses such a key — but only once the PIN had
        opened it (a wrong one counted against the seal) and, for ``sign code --seal``, after
        a code was sent. Read from the seal's row without the PIN, as ``OfdSigning`` refuses a
        non-SM2 seal; a seal that cannot be found is left to the later checks."""
        with self.db.read() as s:
            try:
                row = seal_row(s, seal)
            except NotFound:
                return
            cert = s.get(Certificate, row.certificate_id)
            if cert is None:
                return
            es_id, serial, der = row.es_id, cert.serial_hex, bytes(cert.der)
        if is_sm2_spki(cert_spki(der)):
            raise ValidationError(
                f"电子印章 {es_id} 绑定的是 SM2 证书（{serial}）：SM2 密钥用于 GB/T 38540 电子签章"
                "（OFD，或 yinxin sign ses-pdf 的 PDF），不能用于 PDF（PAdES）签名 / "
                f"seal {es_id} is bound to an SM2 certificate ({serial}): an SM2 key makes "
                "GB/T 38540 seal signatures (OFD, or a PDF by `yinxin sign ses-pdf`), not PDF "
                "(PAdES) signatures",
                field="seal",
                code="unsupported_algorithm",
            )

    def field_signer(
        self,
        seal: int | str,
        *,
        role: str | None,
        level: str | None,
        lock: bool = False,
        reason: str | None = None,
        session: Session | None = None,
    ) -> FieldSigner | None:
        """Who the seal signs as, for a prepared field's seed values (``check_field``): its
        certificate read from its row (no PIN), our chain and root, the role and reason, the
        lock, and whether ``level`` timestamps (None: not known yet). None when there is no
        such seal: the later checks refuse it naming ``seal``. ``session``: the caller's
        read, if it holds one."""
        with contextlib.nullcontext(session) if session is not None else self.db.read() as s:
            try:
                row = seal_row(s, seal)
            except NotFound:
                return None
            cert, _key = certificate_and_key(s, row)
            der = cert.der if cert is not None else None
        if der is None:
            return None
        return FieldSigner(
            x509.load_der_x509_certificate(der),
            tuple(self.ca.chain()),
            (self.ca.certificate("root"),),
            role,
            reason,
            lock,
            None if level is None else level != Level.B_B,
        )

    def judging_seal(
        self, seal: int | str | None, signer_subscriber_id: int
    ) -> tuple[int | str | None, bool]:
        """The seal a prepared field's seed values are judged with when a code is asked for,
        and whether it was found rather than named: ``seal`` if given, else the signer's only
        seal that makes a PDF signature now (its own or one a grant lets it use; an SM2 seal
        signs OFDs) — the seal signing will be given, unless another becomes usable
        meanwhile. ``(None, False)`` when it cannot be told (no seal, or several): the seed
        values are then judged when the seal is named, still before the code is checked."""
        if seal is not None:
            return seal, False
        found = []
        for seal_id in self.seals.usable_by(signer_subscriber_id):
            signer = self.field_signer(seal_id, role=None, level=None)
            if signer is not None and signer.hash_name is not None:
                found.append(seal_id)
        return (found[0], True) if len(found) == 1 else (None, False)

    def named_seal(self, e: ValidationError, seal: int | str | None) -> ValidationError:
        """``e``, a seed value refused with a seal the signer did not name, saying which seal
        judged it (the only one the signer can sign a PDF with): else the refusal spoke of
        "this seal" while the request named none."""
        if seal is None or getattr(e, "code", None) != "seed_value":
            return e
        with self.db.read() as s:
            es_id = seal_row(s, seal).es_id
        e.message = (
            f"{e.message} (judged with seal {es_id}, the only seal the signer can sign a PDF "
            "with now)"
        )
        e.args = (e.message,)
        return e

    def sign_request(
        self,
        document: bytes,
        unlocked: UnlockedSeal,
        *,
        placement: Placement | None,
        role: Role | None,
        level: Level,
        lock: bool = False,
        cross_page: bool = False,
        reason: str | None = None,
        location: str | None = None,
        field_name: str | None = None,
    ) -> SignRequest:
        """What the PDF engine is handed for one document: the seal's picture, key and
        certificate, our chain, TSA and evidence (OCSP responses produced when asked, i.e.
        after the signature's timestamp), and the signing time from the clock. With
        ``field_name`` naming a field the document was prepared with, the seal goes into it
        and no default placement is made up."""
        stamp = unlocked.stamp
        return SignRequest(
            pdf=document,
            key=unlocked.key,
            certificate=unlocked.certificate,
            chain=self.ca.chain(),
            stamp=SealStamp(
                png=stamp.png,
                width_mm=stamp.width_mm,
                height_mm=stamp.height_mm,
                name=stamp.name,
                kind=stamp.kind,
            ),
            placement=placement or (None if field_name else default_placement(stamp.width_mm)),
            field_name=field_name,
            timestamper=self.tsa if level != Level.B_B else None,
            level=level,
            revocation=(
                (lambda: self.revocation_evidence(unlocked.certificate))
                if level in (Level.B_LT, Level.B_LTA)
                else None
            ),
            trust_roots=[self.ca.certificate("root")],
            reason=reason,
            location=location,
            role=role,
            lock=lock,
            cross_page=cross_page,
            signing_time=self.clock.now(),
        )

    def unlock_for_signer(
        self, who: SignerCredentials, *, document_sha256: str, uses: int = 1
    ) -> tuple[UnlockedSeal, str | None]:
        """The first steps of a signature with a PIN and a one-time code, the same for one
        document and for a batch (``document_sha256`` is then the manifest's hash): the signer
        must exist, the code (or confirmation token) must be right for this signer and
        document, then the seal is unlocked with the PIN, and the challenge id is returned if
        this confirmation was already used up for this document. A retry of a signing that was
        made (the answer lost, the process killed before the file was written) then gets the
        same signed file back, never a second signature; ``None`` means nothing was signed yet.

        The code before the PIN: the PIN was tried first, so whoever held a signing link — a
        forwarded e-mail, without the signer's phone — could spend the seal's PIN attempts with
        any code and lock the seal (an organization's, for all its members) until an officer
        unlocked it. A right code is only checked here, not used up, so a mistyped PIN still
        costs no code attempt; a wrong code counts against its challenge as it always did."""
        signer = who.signer_subscriber_id
        with self.db.read() as s:
            if s.get(Subscriber, signer) is None:
                raise ValidationError(f"no subscriber {signer}", field="signer_subscriber_id")
        done = self.intent.consumed_challenge(
            subscriber_id=signer,
            document_sha256=document_sha256,
            token=who.confirmation_token,
            challenge_id=who.challenge_id,
            code=who.code,
        )
        if done is None:  # a retry of a signing made is judged by its PIN alone, as before
            bound = {"subscriber_id": signer, "document_sha256": document_sha256}
            if who.confirmation_token is not None:
                self.intent.check_token(who.confirmation_token, **bound)
            elif who.challenge_id and who.code:
                self.intent.check_code(who.challenge_id, who.code, **bound)
            else:
                raise ValidationError(
                    "intent confirmation is needed: give the one-time code", field="code"
                )
        # a member acting under a grant needs a use for every document (``uses``: a batch's),
        # refused here, before anything is signed; a retry of a signing made spent them already
        unlocked = self.seals.unlock_for_signing(
            who.seal, who.pin, member_subscriber_id=signer, uses=uses if done is None else 1
        )
        return unlocked, done

    def unlock_or_replay(
        self, who: SignerCredentials, digest: str
    ) -> tuple[UnlockedSeal, SignedDocument | None]:
        """``unlock_for_signer`` for one document (PDF, OFD, GB/T 38540 PDF), and the signed
        file its confirmation already made if this is a retry (else None): the caller answers
        with that file instead of signing twice."""
        unlocked, done = self.unlock_for_signer(who, document_sha256=digest)
        if done is None:
            return unlocked, None
        return unlocked, self._signed_with(done, who.signer_subscriber_id, digest)

    def record_signatures(
        self,
        s: Session,
        entries: Sequence[SignatureEntry],
        *,
        stamp: SealMaterial,
        signer_subscriber_id: int | None,
        level: Level,
        challenge_id: str | None,
        now: dt.datetime,
        actor: str,
    ) -> list[SignatureRecordView]:
        """Record signatures made with one seal in the caller's transaction: for each its
        ``SignatureRecord`` (with the seal's name and kind and the entry's ``details`` —
        batch, authorization, client IP, the caller's context — as JSON), the archived file it
        made (written before the transaction) and its ``document.signed`` audit event naming
        the same details.

        The records are inserted together (one flush gives them their ids); the archive rows
        and audit events then queue up and are written at the commit, so a batch of a hundred
        costs a few statements rather than a flush per row."""
        recs = []
        for e in entries:
            rec = SignatureRecord(
                document_name=e.document_name[:255],
                sha256_before=e.digest,
                sha256_after=sha256_hex(e.signed),
                seal_id=stamp.seal_id,
                es_id=stamp.es_id,
                certificate_serial=stamp.certificate_serial,
                signer_subscriber_id=signer_subscriber_id,
                role=e.role,
                level=level,
                field_name=e.field_name,
                intent_challenge=challenge_id,
                signed_at=now,
                details=json.dumps(
                    {"seal_name": stamp.name, "seal_kind": stamp.kind, **e.details},
                    ensure_ascii=False,
                    default=str,
                ),
            )
            recs.append(rec)
        s.add_all(recs)
        s.flush()
        views = []
        for i, (e, rec) in enumerate(zip(entries, recs, strict=True)):
            # after the first event the audit chain's head row exists and is flushed, so the
            # rest may wait for the commit (the head is then read from the session)
            with s.no_autoflush if i else contextlib.nullcontext():
                self.archive.keep(
                    s,
                    sha256=e.stored,
                    size=len(e.signed),
                    document_name=e.document_name,
                    level=level,
                    signature_record_id=rec.id,
                    supersedes=e.digest,
                    timestamp_at=now if level != Level.B_B else None,
                )
                audit.record(
                    s,
                    at=now,
                    actor=actor,
                    action="document.signed",
                    subject_type="signature",
                    subject_id=rec.id,
                    data={
                        "document": e.document_name,
                        "sha256_before": e.digest,
                        "sha256_after": rec.sha256_after,
                        "es_id": stamp.es_id,
                        "certificate": stamp.certificate_serial,
                        "role": e.role,
                        "level": level,
                        "field_name": e.field_name,
                        "intent_challenge": challenge_id,
                        **{k: v for k, v in e.details.items() if k not in ("lock", "cross_page")},
                    },
                )
            if i == 0:
                s.flush()
            views.append(SignatureRecordView.of(rec))
        return views

    def sign(
        self,
        document: bytes,
        *,
        seal: int | str,
        pin: str,
        signer_subscriber_id: int,
        confirmation_token: str | None = None,
        challenge_id: str | None = None,
        code: str | None = None,
        placement: Placement | None = None,
        role: str | None = None,
        level: str = Level.B_LT,
        lock: bool = False,
        cross_page: bool = False,
        document_name: str = "contract.pdf",
        reason: str | None = None,
        location: str | None = None,
        field_name: str | None = None,
    ) -> SignedDocument:
        if not document or len(document) > MAX_PDF:
            raise ValidationError("the document is empty or larger than 50 MiB", field="pdf")
        level, role = self.check_options(level, role)
        # a file the PDF engine cannot open, or a page or anchor text it has not, is refused
        # as sealing would refuse it, but before the code is checked: a wrong code with it used
        # one of the code's tries (the last page is where a seal with no placement goes)
        if field_name:
            # the prepared field is where the seal goes: one that cannot take it is refused
            # (and a placement beside it) before the code is used, as a bad placement is
            # and so are its seed values the seal cannot meet (its certificate, the reason,
            # the lock, a timestamp): found at sealing, the code and PIN were typed for nothing
            signer = self.field_signer(seal, role=role, level=level, lock=lock, reason=reason)
            check_field(document, field_name, placement, signer=signer)
        else:
            check_placement(document, placement or Placement(page=-1))
            self.check_fits(document, seal, placement)  # the seal's size: its row's, no PIN
            # a new field an earlier signature's lock forbids (its code was sent: the document
            # had an empty field the lock leaves free, and the seal goes beside it instead)
            check_new_field(document)
        self.check_pdf_seal(seal)  # an SM2 seal: before the code and the PIN, not after
        digest = sha256_hex(document)
        who = SignerCredentials(
            seal, pin, signer_subscriber_id, confirmation_token, challenge_id, code
        )
        unlocked, previous = self.unlock_or_replay(who, digest)
        if previous is not None:
            return previous
        self.check_intent(who, digest)
        req = self.sign_request(
            document,
            unlocked,
            placement=placement,
            role=role,
            level=level,
            lock=lock,
            cross_page=cross_page,
            reason=reason,
            location=location,
            field_name=field_name,
        )
        made = sign_pdf_detailed(req)
        signed = made.pdf
        now = self.clock.now()
        # the file is kept first: a crash before the commit leaves an unreferenced file, never
        # a signature record whose document cannot be found for archive renewal
        stored = self.archive.store(signed)
        record = self.record_signed(
            SignatureEntry(
                document_name=document_name,
                digest=digest,
                signed=signed,
                stored=stored,
                role=role,
                field_name=made.field_name,
                details={"lock": lock, "cross_page": cross_page},
            ),
            who=who,
            stamp=unlocked.stamp,
            level=level,
            now=now,
        )
        return SignedDocument(signed, record)

    def record_signed(
        self,
        entry: SignatureEntry,
        *,
        who: SignerCredentials,
        stamp: SealMaterial,
        level: Level,
        now: dt.datetime,
    ) -> SignatureRecordView:
        """One signature a signer made with a code or token (PDF, OFD, GB/T 38540 PDF): the
        confirmation is used up and the signature recorded in one transaction, so a signature
        is never recorded without its confirmation nor a confirmation spent without it."""
        signer = who.signer_subscriber_id
        with self.db.transaction() as s:
            self.seals.hold_usable(s, stamp, signer)  # not stopped since it was unlocked
            challenge_id = self.use_intent(s, who, entry.digest)
            (record,) = self.record_signatures(
                s,
                [entry],
                stamp=stamp,
                signer_subscriber_id=signer,
                level=level,
                challenge_id=challenge_id,
                now=now,
                actor=f"subscriber:{signer}",
            )
        return record

    def _signed_with(
        self, challenge_id: str, signer_subscriber_id: int, digest: str
    ) -> SignedDocument | None:
        """The signature a used-up confirmation made, with its signed file from the archive
        (the version as signed; if it was renewed since, the current version, which begins
        with it)."""
        with self.db.read() as s:
            rec = s.execute(
                select(SignatureRecord).where(
                    SignatureRecord.intent_challenge == challenge_id,
                    SignatureRecord.signer_subscriber_id == signer_subscriber_id,
                    SignatureRecord.sha256_before == digest,
                )
            ).scalar_one_or_none()
            if rec is None:
                return None
            record = SignatureRecordView.of(rec)
        pdf = self.archive.signed_file(record.sha256_after, record.id)
        if pdf is None:
            return None
        return SignedDocument(pdf, record, replayed=True)

    def records(self, *, sha256: str | None = None) -> list[SignatureRecordView]:
        with self.db.read() as s:
            q = select(SignatureRecord).order_by(SignatureRecord.id)
            if sha256:
                q = q.where(
                    (SignatureRecord.sha256_after == sha256)
                    | (SignatureRecord.sha256_before == sha256)
                )
            return [SignatureRecordView.of(r) for r in s.execute(q).scalars()]

    # --- verification ------------------------------------------------------------------------
    def verify(
        self,
        pdf: bytes,
        *,
        file_name: str = "document.pdf",
        allow_fetching: bool = False,
        extra_roots: list[x509.Certificate] | None = None,
        at=None,
        policy: str = "last-known",
    ):
        """Verify with our root as trust anchor (plus any the relying party adds)."""
        from yinxin.pdf.verify import verify_pdf

        roots = list(extra_roots or [])
        try:
            roots.insert(0, self.ca.certificate("root"))
        except NotFound:  # a relying party's machine with no CA of its own
            if not roots:
                raise ValidationError(
                    "no trust anchor: give --trust ROOT.pem (or run where the "
                    "platform's CA is initialised)",
                    field="trust",
                ) from None
        return verify_pdf(
            pdf,
            trust_roots=roots,
            file_name=file_name,
            allow_fetching=allow_fetching,
            ocsp_urls_allowed=allow_fetching,
            at=at,
            policy=policy,
        )
