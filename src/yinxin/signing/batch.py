"""Batch signing (批量签署): many documents, one PIN entry and one one-time code.

**One code for the list.** The code is bound to a *manifest* — the ordered names and SHA-256 of
the documents — whose own SHA-256 takes the place a single document's hash has
(``intent.manifest_sha256``; purpose ``sign_batch``, so a single document's code never signs a
batch nor the other way round). The SMS says how many documents it signs; the manifest is kept
in the code's audit event and in the batch's row, so the evidence shows which documents the
signer was asked to confirm. A confirmation for one list cannot sign another: a changed
document, order or name changes the hash.

**One PIN check, one set of evidence.** The seal key is unlocked once; every document is then
signed and timestamped (B-T) with it; the status evidence for B-LT (OCSP responses for the
signer, the issuing CA and the TSA, and their certificates) is produced once, after the last
timestamp, and added to each file; B-LTA then stamps each file.

**All or nothing.** Items are checked before anything is signed (1 to ``MAX_ITEMS``, each a PDF,
no document twice, a known role): a refusal names the item (``items[3].pdf``); a member acting
under a seal grant needs as many uses left on it as there are documents, checked with the seal
before the PIN and before any signing — and, when the code is asked for with the seal, before
the code is sent. A document that cannot be signed refuses the whole
batch the same way. The code is checked before signing but
used up only in the one transaction that records every signature (``SignatureRecord`` rows,
archived versions, audit events and the batch's row): a batch that fails leaves the code
usable and records nothing. A retry after success returns the same signed files
(``replayed``) and signs nothing again.

**Under an authorization** (``sign_authorized``) the key comes from the organization's signing
authorization instead of the PIN and code (``signing.authorizations``): checked before signing,
checked again and decremented under a row lock in the recording transaction.

``client_ip``, ``actor``, the caller's ``context`` (e.g. ``{"flow_id": 7, "signer_id": 3}``) and
the batch and authorization ids go into each signature's record details and audit event.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from yinxin.errors import NotFound, ValidationError, YinxinError
from yinxin.identity import refuse_hidden
from yinxin.pdf.sign import (
    FieldSigner,
    Level,
    Placement,
    SignedPdf,
    SignRequest,
    check_field,
    check_placement,
    check_signable,
    finish_long_term,
    sign_pdf_detailed,
)
from yinxin.seals.service import UnlockedSeal
from yinxin.signing.authorizations import SigningAuthorizations
from yinxin.signing.intent import Challenge, manifest_sha256
from yinxin.signing.service import (
    MAX_PDF,
    Role,
    SignatureEntry,
    SignatureRecordView,
    SignedDocument,
    SignerCredentials,
    SigningService,
    sha256_hex,
)
from yinxin.store import audit
from yinxin.store.models.authorizations import SigningBatch
from yinxin.store.models.signing import SignatureRecord

PURPOSE = "sign_batch"
MAX_NAME = 255
MAX_CONTEXT = 4096  # bytes of JSON


@dataclass(frozen=True)
class BatchItem:
    """One document of a batch: its bytes, its name, where the seal goes, the signer's role;
    or, with ``field_name``, the empty signature field it was prepared with that the seal goes
    into (no placement then: docs/signing.md)."""

    pdf: bytes
    document_name: str
    placement: Placement | None = None
    role: Role | str | None = None
    field_name: str | None = None


# Steps a caller adds to the recording transaction (a sign flow: its rows locked first, the
# signer's signing recorded with the batch): ``before(s)`` runs first, ``within(s, documents,
# challenge_id, now)`` after the records — all of it commits together, or none of it.
Before = Callable[[Session], None]
Within = Callable[[Session, tuple[SignedDocument, ...], str | None, dt.datetime], None]


@dataclass(frozen=True)
class BatchResult:
    """The signed documents, in the order given, and what authorised them."""

    documents: tuple[SignedDocument, ...]
    challenge_id: str | None
    authorization_id: int | None


@dataclass(frozen=True)
class _Checked:
    pdf: bytes
    name: str
    digest: str
    placement: Placement | None
    role: Role | None
    field_name: str | None = None


def _sms_name(checked: Sequence[_Checked]) -> str:
    """What the code's SMS names: how many documents, and the first one."""
    n = len(checked)
    if n == 1:
        return checked[0].name[:60]
    tail = f" 等 {n} 份文件"
    first = checked[0].name
    room = 60 - len(tail)
    return (first if len(first) <= room else first[: room - 1] + "…") + tail


class BatchSigning:
    MAX_ITEMS = 100

    def __init__(self, signing: SigningService, authorizations: SigningAuthorizations):
        self.signing = signing
        self.authorizations = authorizations
        self.db, self.clock = signing.db, signing.clock
        self.intent, self.seals, self.archive = signing.intent, signing.seals, signing.archive

    # --- checks ----------------------------------------------------------------------------------
    @classmethod
    def check_documents(cls, items: Sequence[BatchItem]) -> None:
        """What :meth:`sign` refuses of the items without the seal or the database (not a
        whole PDF, unreadable or locked, a bad role, one twice, a placement or a field the
        document does not take), with its refusals and names (``items[i]...``):
        ``yinxin sign batch --challenge`` makes these checks before asking for the PIN and the
        code, which were typed for nothing when :meth:`sign` found them after."""
        for i, c in enumerate(cls._check(items)):
            try:
                cls._check_place(c)
            except YinxinError as e:
                raise _for_item(e, i) from None

    @staticmethod
    def _check_place(c: _Checked, signer: FieldSigner | None = None) -> None:
        """The placement (or the prepared field, its seed values judged by ``signer`` when
        given) as sealing would refuse it, found without the seal's key."""
        if c.field_name:  # the prepared field is where the seal goes
            check_field(c.pdf, c.field_name, c.placement, signer=signer)
        else:
            check_placement(c.pdf, c.placement or Placement(page=-1))

    @classmethod
    def _check(cls, items: Sequence[BatchItem]) -> list[_Checked]:
        """Every item checked before anything is done, each refusal naming its item."""
        if isinstance(items, bytes | str) or not isinstance(items, Sequence):
            raise ValidationError("items must be a list of documents", field="items")
        if not items:
            raise ValidationError("the batch is empty: give 1 to 100 documents", field="items")
        if len(items) > cls.MAX_ITEMS:
            raise ValidationError(
                f"a batch holds at most {cls.MAX_ITEMS} documents, not {len(items)}",
                field="items",
            )
        out: list[_Checked] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            at = f"items[{i}]"
            if not isinstance(item, BatchItem):
                raise ValidationError(f"{at} is not a BatchItem", field=at)
            pdf = item.pdf
            if not isinstance(pdf, bytes | bytearray) or not pdf or len(pdf) > MAX_PDF:
                raise ValidationError(
                    f"{at}: the document is empty or larger than 50 MiB", field=f"{at}.pdf"
                )
            pdf = bytes(pdf)
            tail = pdf[-2048:]
            if b"%PDF-" not in pdf[:1024] or b"%%EOF" not in tail:
                raise ValidationError(
                    f"{at}: this is not a (whole) PDF document", field=f"{at}.pdf", code="not_pdf"
                )
            try:  # unreadable, encrypted, no pages, an earlier signature broken or locking
                # it: sealing would refuse it, after the code
                check_signable(pdf, earlier_signatures=True, field_name=item.field_name)
            except YinxinError as e:
                raise _for_item(e, i) from None
            name = " ".join(str(item.document_name or "").split())
            if not name or len(name) > MAX_NAME:
                raise ValidationError(
                    f"{at}: document_name must be 1–{MAX_NAME} characters",
                    field=f"{at}.document_name",
                )
            refuse_hidden(name, f"{at}.document_name")
            if item.placement is not None and not isinstance(item.placement, Placement):
                raise ValidationError(
                    f"{at}: placement is not a Placement", field=f"{at}.placement"
                )
            _, role = SigningService.check_options(Level.B_B, item.role, where=f"{at}.")
            digest = sha256_hex(pdf)
            if digest in seen:
                raise ValidationError(
                    f"{at} is the same document as items[{seen[digest]}]",
                    field=f"{at}.pdf",
                    code="duplicate",
                )
            seen[digest] = i
            field_name = item.field_name
            if field_name is not None and (not isinstance(field_name, str) or not field_name):
                raise ValidationError(
                    f"{at}: field_name must be a field's name", field=f"{at}.field_name"
                )
            out.append(_Checked(pdf, name, digest, item.placement, role, field_name))
        return out

    @staticmethod
    def _manifest(checked: Sequence[_Checked]) -> list[tuple[str, str]]:
        return [(c.name, c.digest) for c in checked]

    @staticmethod
    def _extras(
        client_ip: str | None, actor: str | None, context: Mapping[str, object] | None, default: str
    ) -> tuple[str | None, str, dict]:
        if client_ip is not None and (not isinstance(client_ip, str) or len(client_ip) > 64):
            raise ValidationError("client_ip must be at most 64 characters", field="client_ip")
        who = " ".join(str(actor or default).split())
        if not who or len(who) > 100:
            raise ValidationError("actor must be 1–100 characters", field="actor")
        refuse_hidden(who, "actor")
        if context is not None and not isinstance(context, Mapping):
            raise ValidationError("context must be a mapping", field="context")
        ctx = dict(context or {})
        try:
            size = len(json.dumps(ctx, ensure_ascii=False, sort_keys=True).encode())
        except (TypeError, ValueError):
            raise ValidationError("context must be plain JSON data", field="context") from None
        if size > MAX_CONTEXT:
            raise ValidationError(f"context is over {MAX_CONTEXT} bytes", field="context")
        return client_ip, who, ctx

    def _check_placements(
        self,
        checked: Sequence[_Checked],
        seal: int | str | None,
        level: str | None = None,
        *,
        judge: int | str | None = None,
    ) -> None:
        """Refuse, naming ``items[i].placement`` as sealing would, a document's placement it
        does not take (a page it has not, an anchor text it does not hold) and, with ``seal``,
        the seal at its size running off the page, and a prepared field's seed values its
        certificate, the item's role or ``level`` (None: not known yet) cannot meet (naming
        ``items[i].field_name``) — all found without the seal's key, so before the code is
        sent (``request_code``) and before it is checked (``sign``). ``judge``: the seal the
        seed values are judged with when ``seal`` is not given (the signer's only one)."""
        signers: dict[Role | None, FieldSigner | None] = {}
        judge = seal if seal is not None else judge
        for i, c in enumerate(checked):
            try:
                if c.field_name:  # the prepared field is where the seal goes
                    signer = None
                    if judge is not None:
                        if c.role not in signers:
                            signers[c.role] = self.signing.field_signer(
                                judge, role=c.role, level=level
                            )
                        signer = signers[c.role]
                    self._check_place(c, signer)
                    continue
                self._check_place(c)
                if seal is not None:
                    self.signing.check_fits(c.pdf, seal, c.placement)
            except YinxinError as e:
                raise _for_item(e, i) from None

    # --- the code --------------------------------------------------------------------------------
    def request_code(
        self,
        *,
        signer_subscriber_id: int,
        items: Sequence[BatchItem],
        actor: str | None = None,
        seal: int | str | None = None,
        level: str | None = None,
    ) -> Challenge:
        """Send the signer one code for the whole list (its SMS says how many documents).

        ``seal``, if given, is the seal the batch will be signed with: a batch it could not sign
        gets no code — the refusal :meth:`sign` would give before its PIN (no such seal, the
        seal or its certificate not usable, the signer neither its holder nor holding its grant,
        or a grant past its end or with fewer uses left than the batch has documents: ``403
        grant_used_up``) comes now, before any SMS is sent or counted against the hour; so
        does a prepared field whose seed values the seal's certificate cannot meet (with
        ``level``, the level :meth:`sign` will be given, a timestamp one asks for too).
        Without ``seal``, the seed values are judged with the signer's only seal that signs a
        PDF (``SigningService.judging_seal``), if it has only one: the code was sent, and
        the signing refused once it was typed in."""
        checked = self._check(items)
        if level is not None:
            level, _ = SigningService.check_options(level, None)
        judge, found = seal, False
        if seal is None and any(c.field_name for c in checked):
            judge, found = self.signing.judging_seal(None, signer_subscriber_id)
        # a placement signing would refuse (with ``seal``, the seal running off the page too,
        # and a field's seed values) gets no code: it was sent one, and refused once the code
        # was typed in
        try:
            self._check_placements(checked, seal, level, judge=judge)
        except ValidationError as e:
            raise self.signing.named_seal(e, judge) if found else e from None
        if seal is not None:
            self.seals.check_usable(seal, signer_subscriber_id, uses=len(checked))
            self.signing.check_pdf_seal(seal)  # an SM2 seal makes no PDF signature
        manifest = self._manifest(checked)
        return self.intent.request_code(
            signer_subscriber_id,
            purpose=PURPOSE,
            document_sha256=manifest_sha256(manifest),
            document_name=_sms_name(checked),
            actor=actor,
            manifest=manifest,
        )

    # --- signing with PIN and code ---------------------------------------------------------------
    def sign(
        self,
        items: Sequence[BatchItem],
        *,
        seal: int | str,
        pin: str,
        signer_subscriber_id: int,
        challenge_id: str | None = None,
        code: str | None = None,
        confirmation_token: str | None = None,
        level: str = Level.B_LT,
        client_ip: str | None = None,
        actor: str | None = None,
        context: Mapping[str, object] | None = None,
        before: Before | None = None,
        within: Within | None = None,
    ) -> BatchResult:
        """Sign every document with one PIN entry and one code, or none of them. ``before``
        and ``within`` are a caller's steps in the recording transaction (:data:`Within`);
        a replayed batch (signed already with this code) runs neither."""
        checked = self._check(items)
        level, _ = SigningService.check_options(level, None)
        client_ip, actor, context = self._extras(
            client_ip, actor, context, f"subscriber:{signer_subscriber_id}"
        )
        # each document's placement as sealing would refuse it, before the code: a wrong code
        # with it used one of the code's tries
        self._check_placements(checked, seal, level)
        self.signing.check_pdf_seal(seal)  # an SM2 seal: before the code and the PIN
        manifest = self._manifest(checked)
        digest = manifest_sha256(manifest)
        who = SignerCredentials(
            seal, pin, signer_subscriber_id, confirmation_token, challenge_id, code
        )
        unlocked, done = self.signing.unlock_for_signer(
            who, document_sha256=digest, uses=len(checked)
        )
        if done is not None:
            previous = self._replay(done, digest)
            if previous is not None:
                return previous
        # the code is checked (before the PIN, by unlock_for_signer; here with the batch's
        # purpose) before any signing, but used up only with the records
        self.signing.check_intent(who, digest, purpose=PURPOSE, actor=actor)

        def consume(s: Session, now: dt.datetime) -> str:
            # the seal is held first and checked again: not stopped since it was unlocked
            self.signing.seals.hold_usable(
                s, unlocked.stamp, signer_subscriber_id, uses=len(checked)
            )
            return self.signing.use_intent(
                s, who, digest, purpose=PURPOSE, by="batch-signing", actor=actor
            )

        docs, used = self._sign_and_record(
            checked,
            unlocked,
            first=consume,
            before=before,
            within=within,
            level=level,
            signer_subscriber_id=signer_subscriber_id,
            authorization_id=None,
            client_ip=client_ip,
            actor=actor,
            context=context,
        )
        return BatchResult(docs, used, None)

    # --- signing under an authorization ----------------------------------------------------------
    def sign_authorized(
        self,
        items: Sequence[BatchItem],
        *,
        authorization_id: int,
        flow_id: int | None = None,
        counterparty_subscriber_id: int | None = None,
        level: str = Level.B_LT,
        client_ip: str | None = None,
        actor: str | None = None,
        context: Mapping[str, object] | None = None,
        before: Before | None = None,
        within: Within | None = None,
    ) -> BatchResult:
        """Sign with an organization's seal under its signing authorization: no PIN, no code;
        within the authorization's scope and remaining count, checked at the moment of use.
        ``before`` and ``within`` as for :meth:`sign`."""
        checked = self._check(items)
        level, _ = SigningService.check_options(level, None)
        client_ip, actor, context = self._extras(
            client_ip, actor, context, f"authorization:{authorization_id}"
        )
        manifest = self._manifest(checked)
        unlocked, view = self.authorizations.open_for_use(
            authorization_id,
            documents=len(checked),
            flow_id=flow_id,
            counterparty_subscriber_id=counterparty_subscriber_id,
        )
        scope = {"flow_id": flow_id, "counterparty_subscriber_id": counterparty_subscriber_id}

        def use(s: Session, now: dt.datetime) -> None:
            # the authorization's row is locked first, before any row referring to it is
            # written (a foreign key takes a share lock on it: two batches holding one each
            # and both asking for the update lock would deadlock on PostgreSQL)
            self.authorizations.use(
                s,
                authorization_id,
                documents=manifest,
                flow_id=flow_id,
                counterparty_subscriber_id=counterparty_subscriber_id,
                stamp=unlocked.stamp,
                actor=actor,
                now=now,
            )

        docs, _ = self._sign_and_record(
            checked,
            unlocked,
            first=use,
            before=before,
            within=within,
            level=level,
            signer_subscriber_id=view.holder_subscriber_id,
            authorization_id=authorization_id,
            client_ip=client_ip,
            actor=actor,
            context={**scope, **context},
        )
        return BatchResult(docs, None, authorization_id)

    # --- inside ----------------------------------------------------------------------------------
    def _sign_and_record(
        self,
        checked: Sequence[_Checked],
        unlocked: UnlockedSeal,
        *,
        first: Callable[[Session, dt.datetime], str | None],
        before: Before | None = None,
        within: Within | None = None,
        level: Level,
        signer_subscriber_id: int | None,
        authorization_id: int | None,
        client_ip: str | None,
        actor: str,
        context: dict,
    ) -> tuple[tuple[SignedDocument, ...], str | None]:
        """What both ways of signing a batch do once the key is open: every document signed,
        the files archived, then one transaction whose ``first`` step uses up what authorised
        the batch (the code, or one use of the authorization; it returns the challenge id, if
        any) before the records are written. Nothing is recorded if anything fails."""
        signed = self._sign_all(checked, unlocked, level)
        stored = self._store(signed)
        now = self.clock.now()
        with self.db.transaction() as s:
            if before is not None:
                before(s)
            challenge_id = first(s, now)
            docs = self._record(
                s,
                checked,
                signed,
                stored,
                unlocked,
                level=level,
                signer_subscriber_id=signer_subscriber_id,
                challenge_id=challenge_id,
                authorization_id=authorization_id,
                client_ip=client_ip,
                actor=actor,
                context=context,
                now=now,
            )
            if within is not None:
                within(s, docs, challenge_id, now)
        return docs, challenge_id

    def _store(self, signed: Sequence[tuple[bytes, str]]) -> list[str]:
        """Every signed file into the archive before the recording transaction (a failure
        after this leaves unreferenced files for ``Archive.sweep``, never a record without its
        file). Each write waits for its fsync, which releases the GIL: a few threads overlap
        them."""
        if len(signed) == 1:
            return [self.archive.store(signed[0][0])]
        with ThreadPoolExecutor(max_workers=min(8, len(signed))) as pool:
            return list(pool.map(self.archive.store, (pdf for pdf, _ in signed)))

    def _sign_all(
        self, checked: Sequence[_Checked], unlocked: UnlockedSeal, level: Level
    ) -> list[tuple[bytes, str]]:
        """Each document signed and timestamped; for B-LT/B-LTA one set of status evidence,
        made after the last timestamp, added to every file. Nothing is written anywhere."""
        reqs: list[SignRequest] = []
        made: list[SignedPdf] = []
        for i, c in enumerate(checked):
            try:
                req = self.signing.sign_request(
                    c.pdf,
                    unlocked,
                    placement=c.placement,
                    role=c.role,
                    level=level,
                    field_name=c.field_name,
                )
                # _check judged these very bytes' earlier signatures, in this same call, before
                # the PIN: the sealing does not judge them again (~12 ms a signature)
                made.append(sign_pdf_detailed(req, defer_long_term=True, earlier_checked=True))
            except YinxinError as e:
                raise _for_item(e, i) from None
            reqs.append(req)
        if level not in (Level.B_LT, Level.B_LTA):
            return [(m.pdf, m.field_name) for m in made]
        revocation = self.signing.revocation_evidence(unlocked.certificate)
        out = []
        for i, (req, m) in enumerate(zip(reqs, made, strict=True)):
            try:
                out.append((finish_long_term(m, req, revocation), m.field_name))
            except YinxinError as e:
                raise _for_item(e, i) from None
        return out

    def _record(
        self,
        s,
        checked: Sequence[_Checked],
        signed: Sequence[tuple[bytes, str]],
        stored: Sequence[str],
        unlocked: UnlockedSeal,
        *,
        level: Level,
        signer_subscriber_id: int | None,
        challenge_id: str | None,
        authorization_id: int | None,
        client_ip: str | None,
        actor: str,
        context: dict,
        now,
    ) -> tuple[SignedDocument, ...]:
        """The batch's row, then every signature's records, in the caller's transaction."""
        manifest = self._manifest(checked)
        batch = SigningBatch(
            manifest_sha256=manifest_sha256(manifest),
            manifest=json.dumps(manifest, ensure_ascii=False),
            documents=len(checked),
            seal_id=unlocked.stamp.seal_id,
            signer_subscriber_id=signer_subscriber_id,
            intent_challenge=challenge_id,
            authorization_id=authorization_id,
            signature_record_ids="[]",
            client_ip=client_ip,
            actor=actor,
            context=json.dumps(context, ensure_ascii=False, sort_keys=True),
            signed_at=now,
        )
        s.add(batch)
        s.flush()
        entries = [
            SignatureEntry(
                document_name=c.name,
                digest=c.digest,
                signed=pdf,
                stored=key,
                role=c.role,
                field_name=field_name,
                details={
                    "batch_id": batch.id,
                    "batch_position": i,
                    "batch_size": len(checked),
                    "authorization_id": authorization_id,
                    "client_ip": client_ip,
                    "actor": actor,
                    "context": context,
                },
            )
            for i, (c, (pdf, field_name), key) in enumerate(
                zip(checked, signed, stored, strict=True)
            )
        ]
        records = self.signing.record_signatures(
            s,
            entries,
            stamp=unlocked.stamp,
            signer_subscriber_id=signer_subscriber_id,
            level=level,
            challenge_id=challenge_id,
            now=now,
            actor=actor,
        )
        docs = [SignedDocument(e.signed, r) for e, r in zip(entries, records, strict=True)]
        batch.signature_record_ids = json.dumps([d.record.id for d in docs])
        audit.record(
            s,
            at=now,
            actor=actor,
            action="signing.batch_signed",
            subject_type="signing_batch",
            subject_id=batch.id,
            data={
                "manifest_sha256": batch.manifest_sha256,
                "documents": [
                    {
                        "name": c.name,
                        "sha256_before": c.digest,
                        "sha256_after": d.record.sha256_after,
                    }
                    for c, d in zip(checked, docs, strict=True)
                ],
                "signature_records": [d.record.id for d in docs],
                "es_id": unlocked.stamp.es_id,
                "intent_challenge": challenge_id,
                "authorization_id": authorization_id,
                "client_ip": client_ip,
                "context": context,
                "level": level,
            },
        )
        return tuple(docs)

    def _replay(self, challenge_id: str, digest: str) -> BatchResult | None:
        """The batch a used-up code made, with its signed files (as ``SigningService`` does for
        one document)."""
        with self.db.read() as s:
            batch = s.execute(
                select(SigningBatch).where(SigningBatch.intent_challenge == challenge_id)
            ).scalar_one_or_none()
            if batch is None or batch.manifest_sha256 != digest:
                return None
            ids = json.loads(batch.signature_record_ids)
            rows = {
                r.id: SignatureRecordView.of(r)
                for r in s.execute(
                    select(SignatureRecord).where(SignatureRecord.id.in_(ids))
                ).scalars()
            }
        docs = []
        for rid in ids:
            record = rows.get(rid)
            pdf = self.archive.signed_file(record.sha256_after, rid) if record else None
            if pdf is None:
                raise NotFound(
                    f"the signed file of signature record {rid} is no longer kept",
                    field="challenge_id",
                )
            docs.append(SignedDocument(pdf, record, replayed=True))
        return BatchResult(tuple(docs), challenge_id, None)


def _for_item(e: YinxinError, i: int) -> YinxinError:
    """The refusal of one document, naming it (``items[3].pdf``)."""
    e.field = f"items[{i}].{e.field or 'pdf'}"
    e.message = f"items[{i}]: {e.message}"
    e.args = (e.message,)
    return e
