"""Contracts (合同): drafted from a template, rendered to PDF, sent for signing, kept.

``Contracts`` (``platform.contracts``) is the service the CLI, the API and the web pages use:

* ``templates()`` / ``template(code)`` — the library (``yinxin.contracts.templates``);
* ``preview(code, values)`` — the PDF the values would make, nothing stored;
* ``draft(code, values, …)`` — values checked (refusals name ``values.<blank>``), the PDF
  rendered and kept in the contracts' file store by SHA-256, the row written ``drafted`` with
  its ``contract.drafted`` event in one transaction; ``revise`` does the same for a draft;
* ``start_signing(id, signers, deadline)`` — a sign flow (``yinxin.signing.flows``) over the
  rendered PDF, each party's signer placed at the party's anchor ``<role>（签章）`` and taking
  their turn in the template's party order, each sealing with a seal of the party the
  contract names (``not_the_party`` otherwise); the contract goes ``out_for_signing``;
* ``cancel``, ``get``, ``list``, ``pdf`` (the rendered draft, or the signed file once signed).

How the contract learns that its flow ended — **settled on read**, not a hook inside the flow
service. The flow service knows nothing of contracts (it signs any PDF for any integrator), and
a hook would make the signing layer call up into the contracts layer, inside the signer's
transaction. Instead every read of contracts first settles those whose flow has finished (one
indexed query that finds none in the common case): a completed flow makes the contract
``signed`` (its ``signed_at`` is the flow's finish time, ``signed_sha256`` the final file), a
cancelled or expired flow returns it to ``drafted`` with the reason, so it can be corrected and
sent again. "Finished" is the state the flow reads in (``flows.effective_state``): one past its
deadline is expired before the ``flows.expire`` sweep stores so, and its contract returns then.
Each settlement is its own transaction with its ``contract.signed`` / ``contract.returned``
event, and is idempotent (the row is locked and re-checked). The state a caller sees is
therefore always the flow's, and the audit trail records when the platform took notice, beside
the flow's own ``flow.completed`` event that records when it happened.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from yinxin.clock import BEIJING, Clock
from yinxin.contracts.parties import seal_of_party
from yinxin.contracts.templates import Blank, Party, Template, get_template, library
from yinxin.errors import Conflict, IllegalTransition, NotFound, ValidationError, YinxinError
from yinxin.identity import reason_text, refuse_hidden
from yinxin.results import from_row
from yinxin.signing.flows import (
    SignerLink,  # a result type of ours (the API schema reads it)
    effective_state,
    in_state_where,
)
from yinxin.store.audit import event
from yinxin.store.db import Database
from yinxin.store.files import FileStore
from yinxin.store.models import Subscriber
from yinxin.store.models.contracts import Contract
from yinxin.store.models.flows import SignFlow, SignFlowDocument
from yinxin.store.queries import by_id, cut, paged, select_where
from yinxin.transitions import TransitionTable, move

if TYPE_CHECKING:
    from yinxin.signing.flows import SignFlows

MAX_LIST = 200
_NUMBER_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud on the phone


class ContractState(StrEnum):
    NONE = "none"  # before the row exists
    DRAFTED = "drafted"  # filled and rendered; may be revised, sent or cancelled
    OUT_FOR_SIGNING = "out_for_signing"  # a sign flow carries it
    SIGNED = "signed"  # every party signed: the flow completed
    CANCELLED = "cancelled"  # withdrawn (its flow, if any, cancelled with it)


_C = ContractState
CONTRACT_LIFECYCLE: TransitionTable[ContractState] = TransitionTable(
    "contract",
    "state",
    hold_state=None,
    moves=[
        move("draft", "fill a template", {_C.NONE}, _C.DRAFTED, creates=True),
        move("revise", "change the values of a draft", {_C.DRAFTED}, _C.DRAFTED),
        move("send", "start a sign flow", {_C.DRAFTED}, _C.OUT_FOR_SIGNING),
        move("complete", "the sign flow completed", {_C.OUT_FOR_SIGNING}, _C.SIGNED),
        move(
            "return",
            "the sign flow was cancelled, declined or expired",
            {_C.OUT_FOR_SIGNING},
            _C.DRAFTED,
        ),
        move("cancel", "withdraw the contract", {_C.DRAFTED, _C.OUT_FOR_SIGNING}, _C.CANCELLED),
    ],
)


# --- results -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BlankView:
    name: str
    label: str
    type: str
    required: bool
    help: str
    example: Any
    choices: tuple[str, ...]
    min: str | None
    max: str | None
    max_length: int | None
    party: str | None


@dataclass(frozen=True)
class PartyView:
    role: str
    title: str
    name_blank: str
    representative_blank: str | None
    anchor: str  # the text the party's seal is placed on
    appendix_anchor: str  # its block on each appendix page (甲方（盖章）)


@dataclass(frozen=True)
class AppendixView:
    """An appendix (附件) drawn after the signature blocks, each from a new page."""

    number: str
    title: str
    kind: str  # text (fixed), document / list (a longtext blank), price_table (price_lines)
    blank: str | None
    optional: bool  # drawn only when its blank is filled
    pdf_blank: str | None  # a document: the pdf blank whose pages may stand in for the text


@dataclass(frozen=True)
class TemplateView:
    code: str
    version: str
    title: str
    source: str
    description: str
    parties: tuple[PartyView, ...]
    blanks: tuple[BlankView, ...]
    appendices: tuple[AppendixView, ...] = ()


@dataclass(frozen=True)
class ContractPartyView:
    role: str
    title: str
    name: str | None
    anchor: str


@dataclass(frozen=True)
class ContractView:
    id: int
    number: str
    title: str
    template_code: str
    template_version: str
    state: ContractState
    values: dict[str, Any]
    parties: tuple[ContractPartyView, ...]
    pdf_sha256: str
    pdf_size: int
    owner_subscriber_id: int | None
    flow_id: int | None
    signed_sha256: str | None
    created_by: str
    created_at: dt.datetime
    sent_at: dt.datetime | None
    signed_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    reason: str | None


@dataclass(frozen=True)
class ContractPage:
    items: tuple[ContractView, ...]
    next_after: int | None


@dataclass(frozen=True)
class ContractFile:
    contract_id: int
    name: str
    sha256: str
    signed: bool  # the signed file (every party's signature) rather than the draft
    pdf: bytes = field(repr=False)


@dataclass(frozen=True)
class ContractSigner:
    """Who signs for one party: the subscriber (a member acting under a grant of the
    organization's seal, or the holder itself) and the seal (id or esID)."""

    role: str
    subscriber_id: int
    seal: int | str
    requires_video: bool = False


@dataclass(frozen=True)
class SentContract:
    contract: ContractView
    links: tuple[SignerLink, ...]  # each signer's link, shown once (the flow keeps hashes only)
    notified: tuple[int, ...]


def template_view(t: Template) -> TemplateView:
    def b(x: Blank) -> BlankView:
        return BlankView(
            x.name,
            x.label,
            x.type,
            x.required,
            x.help,
            x.example,
            x.choices,
            None if x.min is None else str(x.min),
            None if x.max is None else str(x.max),
            x.max_length,
            x.party,
        )

    def p(x: Party) -> PartyView:
        return PartyView(x.role, x.title, x.name, x.representative, x.anchor, x.appendix_anchor)

    return TemplateView(
        t.code,
        t.version,
        t.title,
        t.source,
        t.description,
        tuple(p(x) for x in t.parties),
        tuple(b(x) for x in t.blanks),
        tuple(
            AppendixView(a.number, a.title, a.kind, a.blank, a.optional, a.pdf_blank)
            for a in t.appendices
        ),
    )


# --- the service ---------------------------------------------------------------------------------
class Contracts:
    def __init__(
        self, db: Database, clock: Clock, *, files: FileStore, flows: Callable[[], SignFlows]
    ):
        """``flows`` is called when a flow is needed, so listing templates or contracts does
        not build the signing services."""
        self.db, self.clock, self.files, self._flows = db, clock, files, flows

    @property
    def flows(self) -> SignFlows:
        return self._flows()

    # === the library =============================================================================
    def templates(self) -> list[TemplateView]:
        return [template_view(t) for t in library().values()]

    def template(self, code: str, version: str | None = None) -> TemplateView:
        """The template ``code`` as it is now, or in ``version`` — the one a stored draft was
        made from, whose blanks its revision is checked against."""
        return template_view(get_template(code, version))

    def preview(self, code: str, values: Any, *, title: str | None = None) -> bytes:
        """The PDF ``values`` would make, marked as a preview; nothing is stored."""
        from yinxin.contracts.render import render_contract

        t = get_template(code)
        filled = t.fill(values)
        have, _new = self._attachments(t, values, filled, {})
        return render_contract(
            t, filled, number="（预览 PREVIEW）", title=_title(title, t), attachments=have
        )

    def _attachments(
        self, t: Template, raw: Any, filled: dict[str, Any], kept: dict[str, Any]
    ) -> tuple[dict[str, bytes], list[bytes]]:
        """The attached PDFs' bytes by SHA-256 (what the renderer appends) and the new ones to
        store once the contract renders. A stored attachment (``{sha256, pages, size}``) is
        taken only where it is the one this contract already holds (``kept``, a revision): a
        reference to any other file in the store — another contract's PDF — is refused, so no
        one can pull a file they were never given into their own contract."""
        from yinxin.contracts import attachments

        have: dict[str, bytes] = {}
        new: list[bytes] = []
        for b in t.blanks:
            if b.type != "pdf" or b.name not in filled:
                continue
            where, ref = f"values.{b.name}", filled[b.name]
            data = attachments.decode(raw.get(b.name), b.label, where)
            if data is None:
                if kept.get(b.name) != ref:
                    raise ValidationError(
                        f"{b.label}：请附上 PDF 文件（只有本合同已存的附件可原样保留）/ upload the "
                        "PDF; only this contract's own stored attachment can be kept",
                        field=where,
                    )
                try:
                    data = self.files.get(ref["sha256"])
                except NotFound:
                    raise ValidationError(
                        f"{b.label}：已存的附件不见了，请重新附上 / the stored file is missing",
                        field=where,
                    ) from None
            else:
                new.append(data)
            have[ref["sha256"]] = data
        return have, new

    # === draft, revise ===========================================================================
    def draft(
        self,
        code: str,
        values: Any,
        *,
        title: str | None = None,
        owner_subscriber_id: int | None = None,
        actor: str = "operator",
    ) -> ContractView:
        """A drafted contract: values checked, PDF rendered and kept, row and event written in
        one transaction. Nothing is written when anything is refused."""
        from yinxin.contracts.render import render_contract

        now = self.clock.now()
        t = get_template(code)
        actor = _actor(actor)
        heading = _title(title, t)
        filled = t.fill(values)
        if owner_subscriber_id is not None:
            with self.db.read() as s:
                check_owner(s, owner_subscriber_id)
        number = _new_number(now)
        have, new = self._attachments(t, values, filled, {})
        pdf = render_contract(t, filled, number=number, title=heading, attachments=have)
        for data in new:  # the customer's file, kept for a revision to render again
            self.files.put(data)
        key = self.files.put(pdf)  # content-addressed: a refused commit leaves a spare file only
        with self.db.transaction() as s:
            row = Contract(
                number=number,
                title=heading,
                template_code=t.code,
                template_version=t.version,
                filled_values=json.dumps(filled, ensure_ascii=False, sort_keys=True),
                pdf_sha256=key,
                pdf_size=len(pdf),
                owner_subscriber_id=owner_subscriber_id,
                created_by=actor,
                created_at=now,
            )
            row.state = CONTRACT_LIFECYCLE.check("draft", _C.NONE, None, number).to_state
            s.add(row)
            s.flush()
            event(
                s,
                now,
                actor,
                "contract.drafted",
                row.id,
                {
                    "number": number,
                    "template": t.code,
                    "version": t.version,
                    "pdf_sha256": key,
                    "owner_subscriber_id": owner_subscriber_id,
                },
            )
            return self._view(row)

    def revise(
        self,
        contract_id: int,
        values: Any,
        *,
        title: str | None = None,
        based_on: str | None = None,
        actor: str = "operator",
    ) -> ContractView:
        """New values for a draft (the whole set, checked like ``draft``); a new PDF.

        ``based_on`` is the draft's ``pdf_sha256`` the caller edited (its version: the PDF
        holds the title and every value). When the draft changed since — another editor's
        revision saved first — the revision is refused (``Conflict``, field ``based_on``, code
        ``stale``) and nothing is written: read it again and redo the change. Two revisions at
        once take turns on the contract's row, and the check is made under that lock, so of two
        editors sending the same ``based_on`` one is saved and the other refused. Without
        ``based_on`` the later revision replaces the earlier one; both stay in the audit trail
        (``contract.revised`` names the PDF it replaced)."""
        from yinxin.contracts.render import render_contract

        if based_on is not None and (
            not isinstance(based_on, str) or not _SHA256.fullmatch(based_on)
        ):
            raise ValidationError(
                "based_on is the draft's pdf_sha256 (64 hexadecimal digits)", field="based_on"
            )
        self.settle()
        now = self.clock.now()
        actor = _actor(actor)
        with self.db.read() as s:
            row = self._row(s, contract_id)
            CONTRACT_LIFECYCLE.check("revise", row.state, None, row.number)
            _not_stale(row, based_on)
            t = get_template(row.template_code, row.template_version)
            number, old_title = row.number, row.title
            kept_json = row.filled_values
            kept = json.loads(kept_json)
        heading = _title(title, t) if title is not None else old_title
        filled = t.fill(values)
        stored = json.dumps(filled, ensure_ascii=False, sort_keys=True)
        _changes(number, (old_title, kept_json), (heading, stored))
        have, new = self._attachments(t, values, filled, kept)
        pdf = render_contract(t, filled, number=number, title=heading, attachments=have)
        for data in new:
            self.files.put(data)
        key = self.files.put(pdf)
        with self.db.transaction() as s:
            row = self._row(s, contract_id, lock=True)
            CONTRACT_LIFECYCLE.check("revise", row.state, None, row.number)
            _not_stale(row, based_on)
            _changes(row.number, (row.title, row.filled_values), (heading, stored))
            previous = row.pdf_sha256
            row.filled_values = stored
            row.title, row.pdf_sha256, row.pdf_size = heading, key, len(pdf)
            event(
                s,
                now,
                actor,
                "contract.revised",
                row.id,
                {"pdf_sha256": key, "previous_sha256": previous},
            )
            return self._view(row)

    # === signing =================================================================================
    def start_signing(
        self,
        contract_id: int,
        signers: Sequence[ContractSigner],
        *,
        deadline: dt.datetime,
        order: str = "sequential",
        actor: str = "operator",
    ) -> SentContract:
        """Send the contract for signing: a sign flow over its PDF, one signer per party of the
        template, each placed at the party's anchor, in the template's party order.

        Each signer's seal must be the party's own (its owner is the one the party's name
        blank names, and has the credit code and, a person, the 居民身份证号码 the contract
        gives, if any): refused naming
        ``signers[i].seal`` (``not_the_party``) before anything is made.
        The flow is created first (it checks signers, seals and anchors, naming
        ``signers[i].…``), then the contract is marked out for signing with the flow's id, then
        the flow is started (links made, the first signer told). A contract changed meanwhile
        cancels the new flow (``Conflict``); a flow that fails to start is cancelled, which
        returns the contract to ``drafted`` on the next read."""
        from yinxin.pdf.sign import Placement
        from yinxin.signing.flows import SignerSpec

        self.settle()
        actor = _actor(actor)
        with self.db.read() as s:
            row = self._row(s, contract_id)
            CONTRACT_LIFECYCLE.check("send", row.state, None, row.number)
            t = get_template(row.template_code, row.template_version)
            number, title, key = row.number, row.title, row.pdf_sha256
            owner = row.owner_subscriber_id
            values = json.loads(row.filled_values)
        if not isinstance(signers, list | tuple) or not signers:
            raise ValidationError(  # said in Chinese first, as not_the_party beside it
                "合同的每一方都须有一位签署人 / one signer for each party of the contract",
                field="signers",
            )
        turns = {p.role: i + 1 for i, p in enumerate(t.parties)}
        specs, seen = [], set()
        for i, x in enumerate(signers):
            if not isinstance(x, ContractSigner):
                raise ValidationError("a signer is a ContractSigner", field=f"signers[{i}]")
            if x.role not in turns:
                raise ValidationError(
                    f"本合同的签署方为{'、'.join(turns)}，没有“{x.role}” / this contract's "
                    f"parties are {'、'.join(turns)}; not {x.role!r}",
                    field=f"signers[{i}].role",
                )
            if x.role in seen:
                raise ValidationError(
                    f"{x.role}只能有一位签署人，不能出现两次 / {x.role} has two signers",
                    field=f"signers[{i}].role",
                    code="duplicate",
                )
            seen.add(x.role)
            specs.append(
                SignerSpec(
                    subscriber_id=x.subscriber_id,
                    role=x.role,
                    seal=x.seal,
                    placement=Placement(anchor=t.party(x.role).anchor),
                    order=turns[x.role],
                    requires_video=x.requires_video,
                )
            )
        missing = [r for r in turns if r not in seen]
        if missing:
            raise ValidationError(
                f"缺少{'、'.join(missing)}的签署人 / no signer for {'、'.join(missing)}",
                field="signers",
            )
        with self.db.read() as s:
            for i, x in enumerate(signers):
                _seal_of_party(s, t, values, x, i)
        pdf = self.files.get(key)
        flow = self.flows.create(
            f"{title}（{number}）",
            documents=[(f"{number}.pdf", pdf)],
            signers=specs,
            order=order,
            deadline=deadline,
            owner_subscriber_id=owner,
            actor=actor,
        )
        now = self.clock.now()
        try:
            with self.db.transaction() as s:
                row = self._row(s, contract_id, lock=True)
                if row.state != _C.DRAFTED or row.pdf_sha256 != key:
                    raise Conflict(
                        f"contract {row.number} changed while its flow was made; send it again",
                        field="contract_id",
                        code="contract_changed",
                    )
                row.state = CONTRACT_LIFECYCLE.check("send", row.state, None, number).to_state
                row.flow_id, row.sent_at, row.reason = flow.id, now, None
                event(
                    s,
                    now,
                    actor,
                    "contract.sent",
                    row.id,
                    {
                        "flow_id": flow.id,
                        "pdf_sha256": key,
                        "signers": [
                            {"role": x.role, "subscriber_id": x.subscriber_id} for x in signers
                        ],
                    },
                )
        except YinxinError:
            self.flows.cancel(flow.id, "合同已变更，流程作废 / the contract changed", actor=actor)
            raise
        try:
            started = self.flows.start(flow.id, actor=actor)
        except YinxinError:
            self.flows.cancel(flow.id, "流程未能开始 / the flow could not start", actor=actor)
            raise
        return SentContract(self.get(contract_id), started.links, started.notified)

    def cancel(self, contract_id: int, reason: str, *, actor: str = "operator") -> ContractView:
        """Withdraw a contract; one out for signing has its flow cancelled first (every signing
        link dies with it). A signed contract cannot be cancelled here."""
        reason = reason_text(reason)  # in Chinese and English, as a flow's own reason
        actor = _actor(actor)
        self.settle()
        with self.db.read() as s:
            row = self._row(s, contract_id)
            CONTRACT_LIFECYCLE.check("cancel", row.state, None, row.number)
            flow_id = row.flow_id if row.state == _C.OUT_FOR_SIGNING else None
        if flow_id is not None:
            try:
                self.flows.cancel(flow_id, reason, actor=actor)
            except IllegalTransition:
                self.settle()  # it finished meanwhile: signed (refused below) or returned
        now = self.clock.now()
        with self.db.transaction() as s:
            row = self._row(s, contract_id, lock=True)
            CONTRACT_LIFECYCLE.check("cancel", row.state, None, row.number)
            if row.state == _C.OUT_FOR_SIGNING and row.flow_id != flow_id:
                raise Conflict(
                    "the contract was sent again meanwhile", field="contract_id", code="moved"
                )
            row.state = _C.CANCELLED
            row.cancelled_at, row.reason = now, reason
            event(
                s, now, actor, "contract.cancelled", row.id, {"reason": reason, "flow_id": flow_id}
            )
            return self._view(row)

    # === reading =================================================================================
    def get(self, contract_id: int) -> ContractView:
        self.settle()
        with self.db.read() as s:
            return self._view(self._row(s, contract_id))

    def list(
        self,
        *,
        state: str | None = None,
        owner_subscriber_id: int | None = None,
        template: str | None = None,
        limit: int = 50,
        after: int | None = None,
        oldest_first: bool = False,
        numbers_taken: Any = None,
    ) -> ContractPage:
        """Contracts by id, newest first (``oldest_first``: in rising id order), a page at a
        time (``next_after`` is the cursor); ``numbers_taken``, a query of contract numbers
        (the service desk's), leaves out the contracts it names in the same query, so every
        page is full however many are left out."""
        if state is not None and state not in {x.value for x in ContractState} - {"none"}:
            raise ValidationError(f"unknown state {state!r}", field="state")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
            raise ValidationError(f"limit must be 1–{MAX_LIST}", field="limit")
        # An unknown code (a typo) matched no contract and read as "there are none"; every
        # version of every template stays in the library, so a code not in it has no contracts.
        known = library()
        if template is not None and template not in known:
            raise ValidationError(
                f"no contract template {template!r} (templates: {', '.join(known)})",
                field="template",
            )
        if owner_subscriber_id is not None:
            with self.db.read() as s:
                check_owner(s, owner_subscriber_id)
        self.settle()
        with self.db.read() as s:
            q = select_where(Contract, state=state, owner_subscriber_id=owner_subscriber_id)
            if template is not None:  # a known code; select_where would not narrow on it
                q = q.where(Contract.template_code == template)
            if numbers_taken is not None:  # a NOT NULL column: NOT IN meets no NULL
                q = q.where(Contract.number.not_in(numbers_taken))
            q = paged(q, Contract.id, after=after, limit=limit + 1, newest_first=not oldest_first)
            rows, next_after = cut(list(s.execute(q).scalars()), limit)
            return ContractPage(tuple(self._view(r) for r in rows), next_after)

    def pdf(self, contract_id: int) -> ContractFile:
        """The signed file once every party signed, else the rendered draft."""
        view = self.get(contract_id)
        if view.state == _C.SIGNED and view.flow_id is not None:
            flow = self.flows.get(view.flow_id)
            got = self.flows.download(view.flow_id, flow.documents[0].id)
            return ContractFile(view.id, f"{view.number}.pdf", got.sha256, True, got.pdf)
        data = self.files.get(view.pdf_sha256)
        return ContractFile(view.id, f"{view.number}.pdf", view.pdf_sha256, False, data)

    # === settling on read ========================================================================
    def settle(self) -> list[int]:
        """Contracts whose sign flow has finished take the flow's outcome (see the module
        docstring); returns their ids. One indexed query when there is nothing to do. Every
        read calls it; the ``contracts.settle`` job calls it every minute too, so the
        ``contract.signed`` event (and its webhook) follows the flow without waiting for a
        reader."""
        now = self.clock.now()
        ended = or_(*(in_state_where(x, now) for x in _FLOW_ENDED))  # as the flow reads now
        with self.db.read() as s:
            due = list(
                s.execute(
                    select(Contract.id)
                    .join(SignFlow, SignFlow.id == Contract.flow_id)
                    .where(Contract.state == _C.OUT_FOR_SIGNING, ended)
                    .order_by(Contract.id)  # the join's own order differs between databases
                ).scalars()
            )
        for contract_id in due:
            self._settle_one(contract_id)
        return due

    def _settle_one(self, contract_id: int) -> None:
        now = self.clock.now()
        with self.db.transaction() as s:
            row = self._row(s, contract_id, lock=True)
            if row.state != _C.OUT_FOR_SIGNING or row.flow_id is None:
                return  # another reader settled it first
            flow = s.get(SignFlow, row.flow_id)
            if flow is None:
                return
            # past its deadline a started flow is expired for every reader, before its sweep
            # stores so (it can no longer be signed, extended or withdrawn): the contract
            # returns now, and the flow row is left to the sweep
            flow_state = effective_state(flow.state, flow.deadline, now)
            if flow_state not in _FLOW_ENDED:
                return
            if flow_state == "completed":
                doc = s.execute(
                    select(SignFlowDocument).where(SignFlowDocument.flow_id == flow.id)
                ).scalar_one()
                row.state = CONTRACT_LIFECYCLE.check(
                    "complete", row.state, None, row.number
                ).to_state
                row.signed_at, row.signed_sha256 = flow.finished_at, doc.current_sha256
                data = {"flow_id": flow.id, "signed_sha256": doc.current_sha256}
                action = "contract.signed"
            else:
                row.state = CONTRACT_LIFECYCLE.check("return", row.state, None, row.number).to_state
                row.reason = f"签署流程 {flow.id} {_FLOW_END[flow_state]}" + (
                    f"：{flow.reason}" if flow.reason else ""
                )
                data = {"flow_id": flow.id, "flow_state": flow_state, "reason": flow.reason}
                row.flow_id, row.sent_at = None, None
                action = "contract.returned"
            event(s, now, "system:contracts", action, row.id, data)

    # === internals ===============================================================================
    def _row(self, s: Session, contract_id: int, *, lock: bool = False) -> Contract:
        return by_id(
            s,
            Contract,
            contract_id,
            field="contract_id",
            not_number="a contract id is a number",
            missing=f"no contract {contract_id}",
            lock=lock,
        )

    def _view(self, row: Contract) -> ContractView:
        values = json.loads(row.filled_values)
        try:
            t = get_template(row.template_code, row.template_version)
            parties = tuple(
                ContractPartyView(p.role, p.title, values.get(p.name), p.anchor) for p in t.parties
            )
        except NotFound:  # a template version no longer shipped: the stored PDF still is
            parties = ()
        return from_row(
            ContractView, row, state=ContractState(row.state), values=values, parties=parties
        )


_FLOW_END = {"cancelled": "已撤回或被拒签", "expired": "已过期"}
_FLOW_ENDED = ("completed", "cancelled", "expired")  # flow states a contract settles on


def _actor(actor: str) -> str:
    actor = str(actor or "").strip()[:100]
    if not actor:
        raise ValidationError("who acts must be named", field="actor")
    return actor


def _title(title: str | None, t: Template) -> str:
    if title is None:
        return t.title
    heading = " ".join(str(title).split())
    # said in Chinese first, as a blank's refusal beside it (the title is typed with them)
    if not heading or len(heading) > 200:
        raise ValidationError(
            "标题应为 1–200 个字符 / the title must be 1–200 characters", field="title"
        )
    return refuse_hidden(heading, "title", label="标题")


def known_owner(s: Session, owner_subscriber_id: int) -> Subscriber:
    """The subscriber ``owner_subscriber_id``, or ``NotFound`` naming it: also the owner a list
    is narrowed to (contracts, obligations), where an id no subscriber has answered "(none)",
    as if it were an organization with nothing yet — a typo read as "nothing due"."""
    # said in Chinese first, as the contract's other refusals (the CLI's --owner, the API's
    # owner_subscriber_id, obligation list --owner all meet these)
    if isinstance(owner_subscriber_id, bool) or not isinstance(owner_subscriber_id, int):
        raise ValidationError(
            "订户编号应为数字 / a subscriber id is a number", field="owner_subscriber_id"
        )
    owner = s.get(Subscriber, owner_subscriber_id)
    if owner is None:
        raise NotFound(
            f"没有订户 {owner_subscriber_id} / no subscriber {owner_subscriber_id}",
            field="owner_subscriber_id",
        )
    return owner


_KINDS_ZH = {"person": "个人", "organization": "机构", "device": "设备"}


def check_owner(s: Session, owner_subscriber_id: int) -> None:
    """Refuse an owner that cannot own a contract: no such subscriber, or a person or device.

    Also the owner a list is narrowed to (``contract list --owner``, ``obligation list
    --owner``): a person's id there listed "(none)", exit 0 — read as "nothing due" for
    someone no contract can ever be owned by — where making a contract for them is refused."""
    owner = known_owner(s, owner_subscriber_id)
    if owner.kind != "organization":
        kind = _KINDS_ZH.get(owner.kind, owner.kind)
        raise ValidationError(
            f"所属单位应为机构：订户 {owner.id} 是{kind} / the owner must be an organization: "
            f"subscriber {owner.id} is a {owner.kind}",
            field="owner_subscriber_id",
        )


def _seal_of_party(
    s: Session, t: Template, values: dict[str, Any], x: ContractSigner, i: int
) -> None:
    """Refuse a signer whose seal is not the party's (:func:`~yinxin.contracts.parties.
    seal_of_party`): the seal's owner must be the one the contract names in the party's name
    blank; where the contract gives the party's credit code (a ``uscc`` blank of that party)
    and the owner has one, the codes must be equal; where it gives the party's 居民身份证号码
    (an ``id_number`` blank of that party) and the owner is a person, the owner must have
    registered with that ID card number. A party whose number the contract leaves out is
    matched by name (and credit code) only."""
    mine = [b for b in t.blanks if b.party == x.role]
    seal_of_party(
        s,
        x.seal,
        x.role,
        values.get(t.party(x.role).name),
        where=f"signers[{i}].seal",
        credit_codes=[values.get(b.name) for b in mine if b.type == "uscc"],
        id_numbers=[values.get(b.name) for b in mine if b.type == "id_number"],
    )


def _new_number(now: dt.datetime) -> str:
    """HT-YYYYMMDD-XXXXXX: the day in China and six random characters (32⁶ ≈ 10⁹ a day), so a
    number is known before the row is written and printed on every page of the PDF."""
    day = now.astimezone(BEIJING).strftime("%Y%m%d")
    tail = "".join(secrets.choice(_NUMBER_ALPHABET) for _ in range(6))
    return f"HT-{day}-{tail}"


__all__ = [
    "CONTRACT_LIFECYCLE",
    "AppendixView",
    "BlankView",
    "ContractFile",
    "ContractPage",
    "ContractPartyView",
    "ContractSigner",
    "ContractState",
    "ContractView",
    "Contracts",
    "PartyView",
    "SentContract",
    "TemplateView",
    "template_view",
]


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _changes(number: str, now: tuple[str, str], new: tuple[str, str]) -> None:
    """Refuse a revision whose (title, values) — normalised, as stored — are the draft's own:
    it would render the same contract again and record a revision of nothing."""
    if new == now:
        raise ValidationError(
            f"没有修改：合同 {number} 的标题和填写内容与当前草稿相同 / nothing to change: the "
            "title and values are the draft's current ones",
            field="values",
            code="nothing_to_change",
        )


def _not_stale(row: Contract, based_on: str | None) -> None:
    """Refuse a revision made on another version of the draft than the one it now is."""
    if based_on is not None and row.pdf_sha256 != based_on:
        raise Conflict(  # in Chinese first, as nothing_to_change: the CLI prints it (exit 6)
            f"合同 {row.number} 在您修改期间已被他人修改并保存（您修改的版本 {based_on[:12]}…，"
            f"最新版本 {row.pdf_sha256[:12]}…），请重新读取后再修改 / contract {row.number} was "
            f"revised since the version you edited ({based_on[:12]}…, now "
            f"{row.pdf_sha256[:12]}…); read it again and redo the change",
            field="based_on",
            code="stale",
        )
