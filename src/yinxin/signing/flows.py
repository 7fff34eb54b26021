"""Sign flows (签署流程): one or more PDFs on their way through several signers.

An integrator creates a flow (documents, signers with role, seal, placement and turn, a
deadline), starts it, and hands each signer their signing link. A signer whose turn it is opens
the link, asks for ONE one-time code covering every document of the flow, and signs them all
with ONE seal PIN entry — through the batch signer (``yinxin.signing.batch``), which makes the
signatures and their evidence. Here is only the flow: whose turn it is, which version of each
document is current (every signature is an incremental update over the previous signer's
version), who was told and when, and the end of the flow (completed, cancelled, expired).

Why the rules are as they are:

* **Links are bearer secrets** (``secrets.token_urlsafe``): the database keeps their SHA-256
  only. ``start`` returns each signer's link once; the platform sends a fresh link of the same
  signer in each message it sends (turn reached, urge), because it cannot read back a token
  it does not keep. Every link of a signer stops working when the signer or the flow is done.
* **Check, then write, in one transaction**: bad input is refused naming its field before a
  row or a file is written; each step (start, sign, urge, extend, cancel, decline, expire)
  changes its rows and writes its audit event (``flow.*``) in one transaction.
* **The current version moves by compare-and-set**: a signer's signatures are recorded only if
  every document is still at the version they signed; a parallel signer who lost the race is
  refused (``Conflict``) and signs the new version again, so no signature is ever lost from
  the chain of incremental updates.
* **Messages go out after the commit**, never inside it: a slow gateway holds no lock, and a
  message carrying a link is sent directly (the send log masks the link, so it is not queued).
* **Files** (originals and every signed version) are kept in the flow's own content-addressed
  store (``<documents>/flows``): the archive's sweep and its renewal, which replace and remove
  files the archive tracks, never touch a version a later signer still has to sign.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from yinxin.clock import Clock, in_beijing
from yinxin.errors import (
    Conflict,
    Forbidden,
    IllegalTransition,
    NotFound,
    TooLarge,
    ValidationError,
    YinxinError,
)
from yinxin.identity import reason_text, refuse_hidden
from yinxin.notify.service import Notifier, Outgoing, mask_recipient
from yinxin.notify.templates import FLOW_COMPLETED, SIGN_REQUEST, SIGN_URGE
from yinxin.pdf.sign import Placement
from yinxin.results import from_row
from yinxin.signing.intent import RateLimited
from yinxin.signing.service import MAX_PDF, ROLES, Role, SignatureRecordView, sha256_hex
from yinxin.store import audit
from yinxin.store.db import Database
from yinxin.store.files import FileStore
from yinxin.store.models import Subscriber
from yinxin.store.models.flows import (
    SignFlow,
    SignFlowDocument,
    SignFlowLink,
    SignFlowRecording,
    SignFlowSignature,
    SignFlowSigner,
)
from yinxin.store.models.flows import (
    lapsed as flow_lapsed,
)
from yinxin.store.queries import by_id, cut, paged, select_where
from yinxin.transitions import TransitionTable, listed, move

if TYPE_CHECKING:
    from yinxin.seals.service import Seals
    from yinxin.signing.batch import BatchSigning
    from yinxin.signing.evidence import EvidenceReport

log = logging.getLogger(__name__)
SUBJECT = "sign_flow"
MAX_DOCUMENTS = 100
MAX_SIGNERS = 20
MAX_DEADLINE = dt.timedelta(days=366)
# a deadline's refusals, in Chinese first as a contract's other refusals at send (``contract
# send``, ``flow create``/``extend`` and their routes all meet these)
NO_ZONE = "截止时间须带时区 / the deadline must be a time with its zone"
PAST = "截止时间已过 / the deadline is in the past"
TOO_FAR = "截止时间须在一年之内 / the deadline must be within a year"
URGE_INTERVAL = dt.timedelta(hours=1)
ORDERS = ("sequential", "parallel")
MAX_LIST = 200
VIDEO_TYPES = ("video/webm", "video/mp4")
MAX_VIDEO = 50 * 2**20
# a placement's bounds: x and y (a corner's, or an anchor's shift) and the seal's width, in mm
MAX_XY_MM = 2000
SEAL_WIDTH_MM = (10, 100)


class FlowState(StrEnum):
    """Where a flow stands (equal to the string stored in its row)."""

    NONE = "none"  # before the row exists: what ``create`` starts from
    DRAFT = "draft"  # created; nobody has been asked yet
    STARTED = "started"  # signers are being asked, in turn or all at once
    COMPLETED = "completed"  # every signer signed
    CANCELLED = "cancelled"  # withdrawn by its owner (撤回), or a signer declined
    EXPIRED = "expired"  # the deadline passed before everyone signed


class SignerState(StrEnum):
    """Where one signer of a flow stands."""

    NONE = "none"
    WAITING = "waiting"  # not their turn yet (sequential), or the flow is a draft
    READY = "ready"  # their turn: the link opens, a code can be asked for
    SIGNED = "signed"
    DECLINED = "declined"  # refused to sign (拒签): the flow ends cancelled
    CANCELLED = "cancelled"  # the flow was cancelled before they signed
    EXPIRED = "expired"  # the flow expired before they signed


class SigningOrder(StrEnum):
    SEQUENTIAL = "sequential"  # one turn after another, by ``order``
    PARALLEL = "parallel"  # everyone at once


_F, _S = FlowState, SignerState
FLOW_LIFECYCLE: TransitionTable[FlowState] = TransitionTable(
    "sign flow",
    "state",
    hold_state=None,
    moves=[
        move("create", "create a flow", {_F.NONE}, _F.DRAFT, creates=True),
        move("start", "ask the signers", {_F.DRAFT}, _F.STARTED),
        move("sign", "a signer signs", {_F.STARTED}, _F.STARTED),
        move("urge", "remind a signer (催签)", {_F.STARTED}, _F.STARTED),
        move("extend", "move the deadline later (延期)", {_F.STARTED}, _F.STARTED),
        move("complete", "the last signer signed", {_F.STARTED}, _F.COMPLETED),
        move("cancel", "withdraw the flow (撤回)", {_F.DRAFT, _F.STARTED}, _F.CANCELLED),
        move("decline", "a signer refuses (拒签)", {_F.STARTED}, _F.CANCELLED),
        move("expire", "the deadline passed", {_F.STARTED}, _F.EXPIRED),
    ],
)
SIGNER_LIFECYCLE: TransitionTable[SignerState] = TransitionTable(
    "flow signer",
    "state",
    hold_state=None,
    moves=[
        move("add", "add a signer", {_S.NONE}, _S.WAITING, creates=True),
        move("turn", "their turn comes", {_S.WAITING}, _S.READY),
        move("urge", "remind them", {_S.READY}, _S.READY),
        move("sign", "they sign", {_S.READY}, _S.SIGNED),
        move("decline", "they refuse", {_S.READY}, _S.DECLINED),
        move("cancel", "the flow is cancelled", {_S.WAITING, _S.READY}, _S.CANCELLED),
        move("expire", "the flow expired", {_S.WAITING, _S.READY}, _S.EXPIRED),
    ],
)
OPEN_SIGNER = frozenset({_S.WAITING, _S.READY})
FINISHED = frozenset({_F.COMPLETED, _F.CANCELLED, _F.EXPIRED})


class FlowExpired(IllegalTransition, code="flow_expired"):
    """A flow past its deadline (stored expired, or read so before the sweep ran): the message
    names the deadline in Beijing time, and the problem answer carries it as ``deadline``
    (ISO 8601), for the signer's page to say it — what the signer's SMS and page said already,
    so nothing a link's holder had not been told."""

    def __init__(self, flow: SignFlow, *, field: str, detail: str = ""):
        super().__init__(
            f"sign flow {flow.id} expired: its deadline was {in_beijing(flow.deadline)} "
            f"(Beijing time{detail})",
            field=field,
        )
        self.problem_extra = {"deadline": flow.deadline.isoformat()}

    def to_dict(self) -> dict:
        return {**super().to_dict(), **self.problem_extra}


def effective_state(state: str, deadline: dt.datetime, now: dt.datetime) -> FlowState:
    """The state a flow is in at ``now``, as every reader reports it: a flow stored as
    started whose deadline has passed is expired, whether or not the sweep (``expire_due``,
    run by a job every few minutes) has written so yet. Reading never writes; the sweep
    stores the same state, its open signers expired and ``finished_at`` the deadline."""
    if flow_lapsed(state, deadline, now):
        return _F.EXPIRED
    return FlowState(state)


def in_state_where(state: str, now: dt.datetime) -> ColumnElement[bool]:
    """``effective_state(SignFlow.state, SignFlow.deadline, now) == state`` as a SQL condition,
    for a query that selects flows by the state readers report (``list``, and the contracts
    that settle on a flow that ended)."""
    lapsed = and_(SignFlow.state == _F.STARTED, SignFlow.deadline <= now)
    if state == _F.EXPIRED:
        return or_(SignFlow.state == _F.EXPIRED, lapsed)
    if state == _F.STARTED:
        return and_(SignFlow.state == _F.STARTED, SignFlow.deadline > now)
    return SignFlow.state == state


# --- inputs ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignerSpec:
    """One signer as the creator describes them.

    ``subscriber_id`` is the person who signs (a member acting with an organization's seal
    under a grant, or the holder itself); ``seal`` the seal's id or esID; ``placement`` where
    the seal goes on every document (default: centred on the anchor "<role>（签章）"), and
    ``placements`` per document position (0-based) where they differ; ``order`` the turn
    (1 = first; sequential flows need distinct turns; default: the signer's position).

    ``field_name`` (every document) and ``field_names`` (per document position, where they
    differ) name an empty signature field the document was prepared with (甲方签章): the seal
    goes into it instead of a placement. A contract certified to permit form filling
    (DocMDP P=2, P=3) is sealed only into such fields — a new field would break its
    certification — so there every signer needs one (docs/sign-flows.md).
    """

    subscriber_id: int
    role: str
    seal: int | str | None
    placement: Placement | None = None
    placements: Mapping[int, Placement] | None = None
    order: int | None = None
    requires_video: bool = False  # 视频双录: signing refused until a recording is stored
    field_name: str | None = None
    field_names: Mapping[int, str] | None = None


# --- results --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlowDocumentView:
    id: int
    position: int
    name: str
    original_sha256: str
    current_sha256: str
    size: int


@dataclass(frozen=True)
class PlacementView:
    """Where a signer's seal goes on one document: an anchor text, page + x/y in mm, or the
    prepared signature field ``field_name`` (then ``page`` is the field's page, for the
    signer's page to show; flows stored before fields were offered have no such key)."""

    document: int  # position of the document in the flow
    anchor: str | None
    page: int | None
    x_mm: float | None
    y_mm: float | None
    width_mm: float
    field_name: str | None = None

    def placement(self) -> Placement:
        return placement_of(self)


def placement_of(p: Any) -> Placement:
    """The engine's ``Placement`` from a record with its five fields (a flow's ``PlacementView``,
    the API's ``PlacementIn``): one mapping, so a field added to ``Placement`` is added once."""
    return Placement(page=p.page, x_mm=p.x_mm, y_mm=p.y_mm, anchor=p.anchor, width_mm=p.width_mm)


@dataclass(frozen=True)
class FlowSignerView:
    id: int
    flow_id: int
    subscriber_id: int
    subscriber_name: str
    role: Role
    order: int
    seal_id: int
    es_id: str | None
    placements: tuple[PlacementView, ...]
    state: SignerState
    last_notified_at: dt.datetime | None
    last_urged_at: dt.datetime | None
    signed_at: dt.datetime | None
    client_ip: str | None
    challenge_id: str | None
    authorization_id: str | None
    declined_reason: str | None
    requires_video: bool = False
    video_sha256: str | None = None  # the recording this signer signs (or signed) with


@dataclass(frozen=True)
class FlowView:
    id: int
    title: str
    owner_subscriber_id: int | None
    created_by: str
    state: FlowState
    signing_order: SigningOrder
    deadline: dt.datetime
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    reason: str | None
    documents: tuple[FlowDocumentView, ...]
    signers: tuple[FlowSignerView, ...]

    def signer(self, signer_id: int) -> FlowSignerView:
        for x in self.signers:
            if x.id == signer_id:
                return x
        raise NotFound(f"flow {self.id} has no signer {signer_id}", field="signer_id")


@dataclass(frozen=True)
class SignerLink:
    """A signer's signing link, shown once: the token is kept nowhere in clear."""

    signer_id: int
    subscriber_id: int
    role: Role
    token: str
    url: str


@dataclass(frozen=True)
class StartedFlow:
    flow: FlowView
    links: tuple[SignerLink, ...]
    notified: tuple[int, ...]  # signer ids a message went to


@dataclass(frozen=True)
class LinkContext:
    """What a valid signing link opens: the flow and the one signer it is bound to; for a
    signer who must record a video, the statement they read to the camera."""

    flow: FlowView
    signer: FlowSignerView
    statement: str | None = None


@dataclass(frozen=True)
class Recording:
    """A signer's stored video recording (视频双录): its SHA-256 is bound to their signatures."""

    id: int
    flow_id: int
    signer_id: int
    sha256: str
    size: int
    media_type: str
    statement: str
    recorded_at: dt.datetime


@dataclass(frozen=True)
class FlowSigning:
    """One signer's step: the flow afterwards and the signatures made (one per document)."""

    flow: FlowView
    signer: FlowSignerView
    records: tuple[SignatureRecordView, ...]


@dataclass(frozen=True)
class Urged:
    flow_id: int
    signer_id: int
    urged_at: dt.datetime
    next_urge_at: dt.datetime
    sent_to: str | None  # masked; None when the message could not be sent
    notification_status: str | None


@dataclass(frozen=True)
class FlowPage:
    items: tuple[FlowView, ...]
    next_after: int | None  # pass as ``after`` for the next page; None: this was the last


@dataclass(frozen=True)
class ExpiryRun:
    at: dt.datetime
    expired: tuple[int, ...]


@dataclass(frozen=True)
class FlowFile:
    flow_id: int
    document_id: int
    name: str
    sha256: str
    pdf: bytes = field(repr=False)


# --- helpers --------------------------------------------------------------------------------------
def video_statement(flow: FlowView, signer: FlowSignerView) -> str:
    """What a signer reads to the camera: who they are, in which role, what they sign, and
    that they mean it (the words are stored with the recording)."""
    names = "、".join(f"《{d.name}》" for d in flow.documents)
    return (
        f"本人{signer.subscriber_name}，作为{signer.role}，自愿签署《{flow.title}》"
        f"（共{len(flow.documents)}份文件：{names}）。本人已完整阅读并理解全部内容，"
        "确认本次电子签署是本人的真实意愿。"
    )


def _context(view: FlowView, signer: FlowSignerView) -> LinkContext:
    return LinkContext(
        view, signer, video_statement(view, signer) if signer.requires_video else None
    )


def _media_type(value: str, video: bytes) -> str:
    """``video/webm`` (what MediaRecorder writes) or ``video/mp4``, checked against the bytes
    (``application/octet-stream``: whichever the header is)."""
    kind = str(value or "").split(";")[0].strip().lower()
    if kind == "application/octet-stream":  # no type given: the header tells
        head = bytes(video[:8]) if isinstance(video, bytes | bytearray) else b""
        kind = "video/webm" if head[:4] == b"\x1a\x45\xdf\xa3" else "video/mp4"
    if kind not in VIDEO_TYPES:
        raise ValidationError(
            f"a recording is one of {', '.join(VIDEO_TYPES)}", field="content-type"
        )
    if not isinstance(video, bytes | bytearray) or not video:
        raise ValidationError("the recording is empty", field="video")
    if len(video) > MAX_VIDEO:
        raise TooLarge(f"the recording is larger than {MAX_VIDEO // 2**20} MiB", field="video")
    webm = video[:4] == b"\x1a\x45\xdf\xa3"  # an EBML header
    mp4 = video[4:8] == b"ftyp"
    if (kind == "video/webm" and not webm) or (kind == "video/mp4" and not mp4):
        raise ValidationError(f"this is not a {kind} recording", field="video")
    return kind


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _field(i: int, name: str, group: str = "signers") -> str:
    return f"{group}[{i}].{name}"


def _placement_dict(pos: int, p: Placement) -> dict:
    return {
        "document": pos,
        "anchor": p.anchor,
        "page": p.page,
        "x_mm": p.x_mm,
        "y_mm": p.y_mm,
        "width_mm": p.width_mm,
    }


def _field_dict(pos: int, name: str, page: int | None) -> dict:
    """A seal into a prepared field, kept with the placements (the JSON the signer row has
    always had, one key more: a flow stored before reads as it did, no migration)."""
    return {
        "document": pos,
        "anchor": None,
        "page": page,
        "x_mm": None,
        "y_mm": None,
        "width_mm": Placement().width_mm,
        "field_name": name,
    }


def _fields_named(placements: list[dict]) -> dict:
    """The prepared fields a signer seals into, for the ``flow.created`` event."""
    named = {str(p["document"]): p["field_name"] for p in placements if p.get("field_name")}
    return {"field_names": named} if named else {}


@dataclass(frozen=True)
class Prepared:
    """A document's empty signature fields (name → page) and whether a certification
    permitting form filling (DocMDP P=2, P=3) lets a seal go only into one of them."""

    fields: dict[str, int | None]
    certified: bool
    # (why sealing refuses a new field beside the signatures, or None), when ``certified`` was
    # judged by it: flow create shares it with a signer placed beside the fields (the same
    # check_signable, which validates every earlier signature again); None: not judged
    new_field: tuple[Any] | None = field(default=None, compare=False, repr=False)

    def offer(self) -> str:
        if not self.fields:
            return "the document has no empty signature field"
        return "its empty signature fields: " + ", ".join(repr(n) for n in self.fields)


def _too_few_fields(pos: int, prepared: Prepared, taken: dict[tuple[int, str], int]) -> str:
    """What a flow's starter must do when a certified document (P=2/3: each signer seals into
    an empty field of their own) has no empty field left for the next signer, every one named
    by a signer before (``taken``): "; " and the words, else "". Without them the refusal
    offered the taken fields again, or said only that the field was another signer's, and the
    starter could not tell the document itself lacked a field for every signer."""
    if not prepared.certified or not prepared.fields:
        return ""
    if any((pos, n) not in taken for n in prepared.fields):
        return ""
    count = len(prepared.fields)
    owned = ", ".join(f"{n!r} signer {taken[pos, n]}'s" for n in prepared.fields)
    return (
        f"; the document is certified with {count} empty signature "
        f"field{'s' if count > 1 else ''} ({owned}) and has none left for this signer: a "
        "certified document needs one empty field per signer — prepare a signature field for "
        "every signer before certifying it (or do not certify it), or leave this signer out"
    )


def prepared_of(pdf: bytes) -> Prepared:
    """What ``yinxin sign fields`` lists of ``pdf``, and whether it is certified so that only
    those fields may be sealed (``certified_only_into_fields``)."""
    from yinxin.pdf.sign import SigningError, empty_signature_fields

    try:
        found = {f.name: f.page for f in empty_signature_fields(pdf)}
    except SigningError:
        found = {}
    # nothing to seal into: a certified one was refused on the document itself
    if not found:
        return Prepared(found, False)
    # certified_only_into_fields, keeping the refusal for a signer placed beside the fields
    refusal = _new_field_refusal(pdf)
    return Prepared(found, refusal is not None and refusal.code == "certified", (refusal,))


def certified_only_into_fields(pdf: bytes) -> bool:
    """Whether ``pdf``'s certification (DocMDP P=2, P=3) lets a seal go only into a field it
    was prepared with, checked as sealing checks it (``check_signable``)."""
    from yinxin.pdf.sign import SigningError, check_signable

    try:
        check_signable(pdf, earlier_signatures=True)
    except SigningError as e:
        return e.code == "certified"
    return False


def _new_field_refusal(pdf: bytes) -> Any:
    """Why sealing refuses a seal in a new field beside ``pdf``'s signatures (the
    ``SigningError``), or None: an earlier signature's field lock covering every new field
    (FieldMDP /All, /Exclude: ``field_locked``). The document itself passed
    ``_check_signable``, which lets a document with empty fields through for a signer sealing
    into one; a signer placing the seal beside them was refused only at sealing."""
    from yinxin.pdf.sign import SigningError, check_signable

    try:
        check_signable(pdf, earlier_signatures=True)
    except SigningError as e:
        return e
    return None


def _check_locks_between(
    docs: list[tuple[str, bytes]],
    sealing: dict[int, list[tuple[int, int, str | None, str]]],
    *,
    parallel: bool,
) -> None:
    """Refuse a flow in which one signer's prepared field forbids another signer's seal on
    the same document (``PreparedLock``): its /Lock covers the other's field
    (``field_locked``), it ends the document (a /Lock /P 1 or a certification P=1:
    ``locked``), or it certifies with P=2/3 and the other places a new field (``certified``).
    In a sequential flow only a later turn is forbidden (it was created, every signer before
    signed, and that one was refused at sealing); in a parallel one any other signer is
    (whoever signs first decides). Named: the forbidden signer's field or placement."""
    from yinxin.pdf.sign import SigningError, prepared_locks

    for pos, seals in sealing.items():
        if len(seals) < 2 or not any(name for _t, _i, name, _at in seals):
            continue
        try:
            locks = prepared_locks(docs[pos][1])
        except SigningError:  # refused on the document itself already
            continue
        for turn, i, name, _at in seals:
            lock = locks.get(name) if name is not None else None
            if lock is None:
                continue
            for other_turn, j, other, at in seals:
                if j == i or (not parallel and other_turn <= turn):
                    continue
                code = lock.forbids(other)
                if code is None:
                    continue
                what = {
                    "field_locked": f"locks field {other!r} (FieldMDP /Lock)",
                    "locked": "ends the document (a lock or certification with P=1)",
                    "certified": "certifies it to permit only its own fields (P=2/3), and "
                    f"signer {j} places a new one",
                }[code]
                when = (
                    "in a parallel flow whoever signs first decides, and"
                    if parallel
                    else f"signer {j} signs later (turn {other_turn}), and"
                )
                raise ValidationError(
                    f"document {pos} ({docs[pos][0]}): signer {i}'s field {name!r} {what}; "
                    f"{when} that seal would be refused once signer {i} has sealed",
                    field=at,
                    code=code,
                )


def _check_placement(p: Any, name: str) -> Placement:
    if not isinstance(p, Placement):
        raise ValidationError("a placement is an anchor text or page + x/y in mm", field=name)
    if p.anchor is not None and not str(p.anchor).strip():
        raise ValidationError("the anchor text is empty", field=name)
    if p.anchor is None and (p.x_mm is None or p.y_mm is None):
        raise ValidationError("give an anchor text, or x and y in mm (and a page)", field=name)
    for v in (p.x_mm, p.y_mm):
        if v is not None and (not isinstance(v, int | float) or not 0 <= v <= MAX_XY_MM):
            raise ValidationError(f"x and y are millimetres from 0 to {MAX_XY_MM}", field=name)
    low, high = SEAL_WIDTH_MM
    if not isinstance(p.width_mm, int | float) or not low <= p.width_mm <= high:
        raise ValidationError(f"the seal width must be {low}–{high} mm", field=name)
    if p.page is not None and (not isinstance(p.page, int) or p.page == 0):
        raise ValidationError("page is 1-based (negative counts from the end)", field=name)
    return p


def _page_count(pdf: bytes) -> int:
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    return int(PdfFileReader(io.BytesIO(pdf), strict=False).root["/Pages"]["/Count"])


class SignFlows:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        notifier: Notifier,
        seals: Seals,
        batch: Callable[[], BatchSigning],
        files: FileStore,
        base_url: str,
    ):
        """``batch`` is called when a signature is made, so building the flow service does not
        build the batch signer (nor open the key store)."""
        self.db, self.clock, self.notifier, self.seals = db, clock, notifier, seals
        self._batch, self.files = batch, files
        self.base_url = base_url.rstrip("/")

    # === create ==================================================================================
    def create(
        self,
        title: str,
        *,
        documents: Sequence[tuple[str, bytes]],
        signers: Sequence[SignerSpec],
        order: str = SigningOrder.SEQUENTIAL,
        deadline: dt.datetime,
        owner_subscriber_id: int | None = None,
        actor: str = "operator",
    ) -> FlowView:
        """A draft flow. Everything is checked first — each document is a PDF that opens, each
        signer exists, has a usable seal (for a member: a grant of it), a known role, a distinct
        turn in a sequential flow, an anchor that is in every document — and nothing is written
        when anything fails; the refusal names the field (``signers[1].seal``)."""
        now = self.clock.now()
        title = " ".join(str(title or "").split())
        if not title or len(title) > 200:
            raise ValidationError("the title must be 1–200 characters", field="title")
        refuse_hidden(title, "title")
        actor = str(actor or "").strip()[:100]
        if not actor:
            raise ValidationError("who creates the flow must be named", field="actor")
        if order not in ORDERS:
            raise ValidationError(f"order must be one of {', '.join(ORDERS)}", field="order")
        order = SigningOrder(order)
        if not isinstance(deadline, dt.datetime) or deadline.tzinfo is None:
            raise ValidationError(NO_ZONE, field="deadline")
        if deadline <= now:
            raise ValidationError(PAST, field="deadline")
        if deadline > now + MAX_DEADLINE:
            raise ValidationError(TOO_FAR, field="deadline")
        docs = self._check_documents(documents)
        if not signers:
            raise ValidationError("a flow needs at least one signer", field="signers")
        if len(signers) > MAX_SIGNERS:
            raise ValidationError(f"at most {MAX_SIGNERS} signers", field="signers")
        with self.db.read() as s:
            if owner_subscriber_id is not None:
                owner = s.get(Subscriber, owner_subscriber_id)
                if owner is None:
                    raise NotFound(
                        f"no subscriber {owner_subscriber_id}", field="owner_subscriber_id"
                    )
                if owner.kind != "organization":
                    raise ValidationError(
                        "the owner must be an organization", field="owner_subscriber_id"
                    )
            planned = self._check_signers(s, signers, order, docs)
        keys = [self.files.put(pdf) for _name, pdf in docs]  # content-addressed: harmless twice
        with self.db.transaction() as s:
            flow = SignFlow(
                title=title,
                owner_subscriber_id=owner_subscriber_id,
                created_by=actor,
                signing_order=order,
                deadline=deadline,
                created_at=now,
            )
            flow.state = FLOW_LIFECYCLE.check("create", _F.NONE, None, "(new)").to_state
            s.add(flow)
            s.flush()
            for pos, ((name, pdf), key) in enumerate(zip(docs, keys, strict=True)):
                s.add(
                    SignFlowDocument(
                        flow_id=flow.id,
                        position=pos,
                        name=name,
                        original_sha256=key,
                        current_sha256=key,
                        size=len(pdf),
                    )
                )
            for spec, seal_id, es_id, placements, turn in planned:
                row = SignFlowSigner(
                    flow_id=flow.id,
                    subscriber_id=spec.subscriber_id,
                    role=spec.role,
                    order_index=turn,
                    seal_id=seal_id,
                    es_id=es_id,
                    placements=json.dumps(placements, ensure_ascii=False),
                    requires_video=bool(spec.requires_video),
                )
                row.state = SIGNER_LIFECYCLE.check("add", _S.NONE, None, "(new)").to_state
                s.add(row)
            s.flush()
            self._audit(
                s,
                now,
                actor,
                "flow.created",
                flow.id,
                {
                    "title": title,
                    "order": order,
                    "deadline": deadline.isoformat(),
                    "owner_subscriber_id": owner_subscriber_id,
                    "documents": [
                        {"name": n, "sha256": k} for (n, _), k in zip(docs, keys, strict=True)
                    ],
                    "signers": [
                        {
                            "subscriber_id": p[0].subscriber_id,
                            "role": p[0].role,
                            "order": p[4],
                            **({"requires_video": True} if p[0].requires_video else {}),
                            **_fields_named(p[3]),
                        }
                        for p in planned
                    ],
                },
            )
            return self._view(s, flow)

    def _check_documents(self, documents: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        if not documents:
            raise ValidationError("a flow needs at least one document", field="documents")
        if len(documents) > MAX_DOCUMENTS:
            raise ValidationError(f"at most {MAX_DOCUMENTS} documents", field="documents")
        out = []
        for i, item in enumerate(documents):
            try:
                name, pdf = item
            except (TypeError, ValueError):
                raise ValidationError(
                    "a document is (name, PDF bytes)", field=f"documents[{i}]"
                ) from None
            name = " ".join(str(name or "").split())
            if not name or len(name) > 255 or any(c in name for c in "/\\"):
                raise ValidationError(
                    "a document name is 1–255 characters without slashes",
                    field=_field(i, "name", "documents"),
                )
            refuse_hidden(name, _field(i, "name", "documents"))
            if not isinstance(pdf, bytes | bytearray) or not pdf or len(pdf) > MAX_PDF:
                raise ValidationError(
                    "the document is empty or larger than 50 MiB",
                    field=_field(i, "pdf", "documents"),
                )
            pdf = bytes(pdf)
            if b"%PDF-" not in pdf[:1024]:
                raise ValidationError(
                    "this is not a PDF document", field=_field(i, "pdf", "documents")
                )
            try:
                if _page_count(pdf) < 1:
                    raise ValueError("no pages")
            except Exception:
                raise ValidationError(
                    "the PDF cannot be read (damaged, encrypted or without pages)",
                    field=_field(i, "pdf", "documents"),
                ) from None
            _check_signable(pdf, _field(i, "pdf", "documents"))
            if any(pdf == other for _n, other in out):
                raise ValidationError(
                    "the same document is in the flow twice", field=_field(i, "pdf", "documents")
                )
            out.append((name, pdf))
        return out

    def _check_signers(
        self,
        s: Session,
        signers: Sequence[SignerSpec],
        order: SigningOrder,
        docs: list[tuple[str, bytes]],
    ) -> list[tuple[SignerSpec, int, str | None, list[dict], int]]:
        from yinxin.pdf.sign import OutsidePage, check_fits, find_anchor
        from yinxin.seals.rows import seal_row
        from yinxin.seals.usability import unusable_zh

        planned = []
        seen_subscribers: set[int] = set()
        turns: dict[int, int] = {}
        anchors: dict[tuple[int, str], set[int]] = {}
        prepared = [prepared_of(pdf) for _name, pdf in docs]
        taken: dict[tuple[int, str], int] = {}  # (document, field) → the signer naming it
        # document → (turn, signer, the field sealed into or None for a new one, what names it)
        sealing: dict[int, list[tuple[int, int, str | None, str]]] = {}
        # document → why a seal in a new field beside its signatures is refused (None: it is not)
        beside: dict[int, Any] = {}
        # whether a signer's seal is a document's first (what a seed value /MDP or
        # /LockDocument asks of it): in a sequential flow, the earliest turn's; in a parallel
        # one of several signers, not known (judged then as either way)
        asked = [getattr(x, "order", None) for x in signers]
        turn_of = [t if t is not None else i + 1 for i, t in enumerate(asked)]
        earliest = min((t for t in turn_of if isinstance(t, int)), default=None)
        for i, spec in enumerate(signers):
            if not isinstance(spec, SignerSpec):
                raise ValidationError("a signer is a SignerSpec", field=f"signers[{i}]")
            sid = spec.subscriber_id
            if not isinstance(sid, int) or s.get(Subscriber, sid) is None:
                raise NotFound(f"no subscriber {sid}", field=_field(i, "subscriber_id"))
            if sid in seen_subscribers:
                raise ValidationError(
                    f"subscriber {sid} is already a signer of this flow",
                    field=_field(i, "subscriber_id"),
                )
            seen_subscribers.add(sid)
            if spec.role not in ROLES:
                raise ValidationError(
                    f"role must be one of {', '.join(ROLES)}", field=_field(i, "role")
                )
            if spec.seal is None or str(spec.seal).strip() == "":
                raise ValidationError("each signer needs a seal", field=_field(i, "seal"))
            try:
                seal = seal_row(s, spec.seal)
            except NotFound:
                raise NotFound(f"no seal {spec.seal}", field=_field(i, "seal")) from None
            usable = self.seals.usable(seal.id, sid)
            if not usable.usable:
                label = seal.es_id or seal.id
                raise ValidationError(  # Chinese first, as a contract's not_the_party before it
                    f"印章 {label} 不能由订户 {sid} 使用：{unusable_zh(usable.code)} / "
                    f"seal {label} cannot be used by subscriber {sid}: {usable.reason}",
                    field=_field(i, "seal"),
                    code=usable.code or "seal_unusable",
                )
            turn = spec.order if spec.order is not None else i + 1
            if not isinstance(turn, int) or isinstance(turn, bool) or not 1 <= turn <= 1000:
                raise ValidationError("order is a turn from 1 to 1000", field=_field(i, "order"))
            if order == SigningOrder.SEQUENTIAL and turn in turns:
                raise ValidationError(
                    f"signers {turns[turn]} and {i} have the same turn {turn}; a sequential "
                    "flow needs one signer per turn",
                    field=_field(i, "order"),
                )
            turns[turn] = i
            if not isinstance(spec.requires_video, bool):
                raise ValidationError(
                    "requires_video is true or false", field=_field(i, "requires_video")
                )
            per_doc = dict(spec.placements or {})
            for pos in per_doc:
                if not isinstance(pos, int) or not 0 <= pos < len(docs):
                    raise ValidationError(
                        f"no document at position {pos}",
                        field=_field(
                            i, f"placements[{pos}]" if isinstance(pos, int) else "placements"
                        ),
                    )
            parallel = order != SigningOrder.SEQUENTIAL and len(signers) > 1
            first: bool | None = turn == earliest if not parallel else None
            in_fields = self._signer_fields(
                i,
                spec,
                docs,
                prepared,
                per_doc,
                taken,
                self._field_signer(s, seal.id, spec),
                first,
                parallel,
            )
            default = spec.placement or Placement(anchor=f"{spec.role}（签章）")
            placements = []
            for pos, (_name, pdf) in enumerate(docs):
                if pos in in_fields:
                    name = in_fields[pos]
                    placements.append(_field_dict(pos, name, prepared[pos].fields[name]))
                    at = (
                        f"{_field(i, 'field_names')}[{pos}]"
                        if spec.field_names and pos in spec.field_names
                        else _field(i, "field_name")
                    )
                    sealing.setdefault(pos, []).append((turn, i, name, at))
                    continue
                p = per_doc.get(pos, default)
                # one document's placement is named with its position, as a field is
                # (field_names[N]): the API client and the CLI's anchor.N… know which it was
                name = _field(i, f"placements[{pos}]" if pos in per_doc else "placement")
                sealing.setdefault(pos, []).append((turn, i, None, name))
                p = _check_placement(p, name)
                if pos not in beside:  # judged already when the document has empty fields
                    known = prepared[pos].new_field
                    beside[pos] = known[0] if known is not None else _new_field_refusal(pdf)
                if beside[pos] is not None:
                    raise ValidationError(
                        f"document {pos} ({docs[pos][0]}): {beside[pos].message}",
                        field=name,
                        code=beside[pos].code,
                    )
                if p.page is not None and abs(p.page) > _page_count(pdf):
                    raise ValidationError(
                        f"document {pos} ({docs[pos][0]}) has no page {p.page}", field=name
                    )
                if p.anchor is None:
                    # the seal as it will be drawn, the seal's own proportions: a seal off the
                    # page was refused only at signing, after the signer's code was sent
                    try:
                        check_fits(pdf, p, height_mm=p.width_mm * seal.height_mm / seal.width_mm)
                    except OutsidePage as e:
                        # which coordinate runs it off goes with it: the CLI names x.N or y.N
                        raise OutsidePage(
                            f"document {pos} ({docs[pos][0]}): {e.message}",
                            axis=e.axis,
                            field=name,
                            code=ValidationError.code,
                        ) from None
                    except YinxinError as e:
                        raise ValidationError(
                            f"document {pos} ({docs[pos][0]}): {e.message}", field=name
                        ) from None
                else:
                    key = (pos, p.anchor)
                    if key not in anchors:
                        try:
                            anchors[key] = {h.page for h in find_anchor(pdf, p.anchor)}
                        except YinxinError:
                            anchors[key] = set()
                    if not anchors[key]:
                        raise ValidationError(
                            f"the anchor text {p.anchor!r} is not in document {pos} "
                            f"({docs[pos][0]})",
                            field=name,
                        )
                    # signing looks for it on that page only: elsewhere it was refused then
                    count = _page_count(pdf)
                    page = p.page if p.page is None or p.page > 0 else count + 1 + p.page
                    if page is not None and page not in anchors[key]:
                        raise ValidationError(
                            f"the anchor text {p.anchor!r} is not on page {p.page} of document "
                            f"{pos} ({docs[pos][0]}); it is on page "
                            f"{', '.join(map(str, sorted(anchors[key])))}",
                            field=name,
                        )
                placements.append(_placement_dict(pos, p))
            planned.append((spec, seal.id, seal.es_id, placements, turn))
        _check_locks_between(docs, sealing, parallel=order != SigningOrder.SEQUENTIAL)
        return planned

    def _field_signer(self, s: Session, seal_id: int, spec: SignerSpec) -> Any:
        """Who signer ``spec`` seals as, for a named field's seed values (``FieldSigner``):
        only when a field is named (building the batch signer otherwise is not needed). The
        link signs at B-LT (``BatchSigning.sign``'s level), so with a timestamp."""
        if spec.field_name is None and not spec.field_names:
            return None
        from yinxin.pdf.sign import Level

        return self._batch().signing.field_signer(
            seal_id, role=spec.role, level=Level.B_LT, session=s
        )

    @staticmethod
    def _signer_fields(
        i: int,
        spec: SignerSpec,
        docs: list[tuple[str, bytes]],
        prepared: list[Prepared],
        per_doc: dict[int, Any],
        taken: dict[tuple[int, str], int],
        signer: Any = None,
        first: bool | None = None,
        parallel: bool = False,
    ) -> dict[int, str]:
        """The prepared field signer ``i`` seals into on each document (position → name),
        checked before anything is stored: a name is an empty signature field of that
        document, given without a placement there, named by no other signer, whose seed
        values (/SV) ``signer`` (``FieldSigner``: the signer's seal's certificate, role, the
        link's level) can meet when it signs — ``first`` or after others; ``parallel``: not
        known, and a certification one asks for is refused (whoever signs first decides) —
        a certified document (P=2, P=3) needs one from every signer. ``taken`` gathers the
        names.

        A field named for one document (``field_names``) wins there over the signer's default
        ``placement``, which places the seal on the others: a contract prepared with fields
        and an annex without any is sealed as meant, in one flow. A placement left for no
        document is refused (it said something the flow would ignore), as are a field and a
        placement for the same document (``placements``), and ``field_name`` with
        ``placement``: both mean every document. So is a ``field_name`` that ``field_names``
        overrides on every document."""
        from yinxin.pdf.sign import SigningError, check_field

        names: dict[int, tuple[str, str]] = {}  # position → (name, the field naming it)
        if spec.field_name is not None:
            for pos in range(len(docs)):
                names[pos] = (spec.field_name, _field(i, "field_name"))
        if spec.field_names is not None:
            if not isinstance(spec.field_names, Mapping):
                raise ValidationError(
                    "field_names maps a document position to a field's name",
                    field=_field(i, "field_names"),
                )
            for pos, name in spec.field_names.items():
                if not isinstance(pos, int) or isinstance(pos, bool) or not 0 <= pos < len(docs):
                    raise ValidationError(
                        f"no document at position {pos}", field=_field(i, "field_names")
                    )
                names[pos] = (name, f"{_field(i, 'field_names')}[{pos}]")
        out: dict[int, str] = {}
        for pos, (name, at) in sorted(names.items()):
            doc = docs[pos][0]
            if not isinstance(name, str) or not name.strip() or len(name) > 100:
                raise ValidationError("a field's name is 1–100 characters", field=at)
            every = spec.field_name is not None and (spec.field_names or {}).get(pos) is None
            if pos in per_doc or (every and spec.placement is not None):
                raise ValidationError(
                    f"signer {i} seals into field {name!r} of document {pos} ({doc}), where "
                    f"{'placements' if pos in per_doc else 'placement'} places the seal; give "
                    "either a field or a placement, not both (a field per document, "
                    "field_names, leaves the placement to the others)",
                    field=at,
                )
            if name not in prepared[pos].fields:
                raise ValidationError(
                    f"document {pos} ({doc}) has no empty signature field {name!r}; "
                    f"{prepared[pos].offer()}",
                    field=at,
                    code="no_such_field",
                )
            try:  # a field lock (/Lock) the seal cannot honour, a seed value (/SV) the
                # signer's certificate cannot meet: refused now, not after every signer before
                check_field(docs[pos][1], name, signer=signer, first=first, parallel=parallel)
            except SigningError as e:
                raise ValidationError(
                    f"document {pos} ({doc}): {e.message}", field=at, code=e.code
                ) from None
            if (pos, name) in taken:
                raise ValidationError(
                    f"field {name!r} of document {pos} ({doc}) is signer {taken[pos, name]}'s "
                    "already; each signer seals into a field of their own"
                    + _too_few_fields(pos, prepared[pos], taken),
                    field=at,
                    code="field_taken",
                )
            taken[pos, name] = i
            out[pos] = name
        if (
            spec.field_name is not None
            and spec.field_names
            and all(p in spec.field_names for p in range(len(docs)))
        ):  # as a placement left for no document: it said something the flow would ignore
            raise ValidationError(
                f"signer {i} names a field per document on every document (field_names), so "
                "field_name is used on no document; leave it out, or name no field_names "
                "entry for the documents it is for",
                field=_field(i, "field_name"),
            )
        if spec.placement is not None and out and all(p in out for p in range(len(docs))):
            raise ValidationError(
                f"signer {i} seals into a field on every document, so the placement is used "
                "on no document; leave it out, or name no field for the documents it is for",
                field=_field(i, "placement"),
            )
        for pos, (doc, _pdf) in enumerate(docs):
            if prepared[pos].certified and pos not in out:
                raise ValidationError(
                    f"document {pos} ({doc}) is certified to permit form filling only "
                    "(DocMDP P=2 or P=3): a seal beside its fields would break that "
                    "certification; "
                    + (
                        _too_few_fields(pos, prepared[pos], taken).removeprefix("; ")
                        or f"name the field this signer seals into ({prepared[pos].offer()})"
                    ),
                    field=_field(i, "field_name" if len(docs) == 1 else "field_names"),
                    code="certified",
                )
        return out

    # === start ===================================================================================
    def start(self, flow_id: int, *, actor: str = "operator") -> StartedFlow:
        """Ask the signers: every signer gets a link (returned here, once), and those whose
        turn it is (the first turn, or everyone in a parallel flow) are sent it."""
        now = self.clock.now()
        outgoing: list[tuple[int, Outgoing]] = []
        with self.db.transaction() as s:
            flow = self._flow(s, flow_id, lock=True)
            self._check_flow(flow, "start")
            if flow.deadline <= now:
                raise ValidationError(
                    "the deadline has passed; create the flow again", field="deadline"
                )
            _move_flow(flow, "start")
            flow.started_at = now
            signers = self._signers(s, flow.id)
            links = []
            tokens: dict[int, str] = {}
            for x in signers:
                token = self._new_link(s, x, "start", now)
                tokens[x.id] = token
                links.append(
                    SignerLink(x.id, x.subscriber_id, Role(x.role), token, self._url(token))
                )
            ready = self._next_turn(flow, signers)
            for x in ready:
                _move_signer(x, "turn")
                msg = self._message(s, flow, x, SIGN_REQUEST, tokens[x.id], now)
                if msg is not None:
                    outgoing.append((x.id, msg))
            self._audit(
                s,
                now,
                actor,
                "flow.started",
                flow.id,
                {"ready": [x.id for x in ready], "links_issued": len(links)},
            )
        notified = tuple(sid for sid, _status in self._send(outgoing) if _status)
        return StartedFlow(self.get(flow_id), tuple(links), notified)

    # === urge, extend, cancel ====================================================================
    def urge(self, flow_id: int, signer_id: int, *, actor: str = "operator") -> Urged:
        """Remind a signer whose turn it is (催签), with a fresh link; at most once an hour."""
        now = self.clock.now()
        with self.db.transaction() as s:
            flow = self._flow(s, flow_id, lock=True)
            self._check_flow(flow, "urge", now)
            x = self._signer(s, flow, signer_id)
            SIGNER_LIFECYCLE.check("urge", x.state, None, str(x.id))
            if x.last_urged_at is not None and now - x.last_urged_at < URGE_INTERVAL:
                wait = math.ceil((x.last_urged_at + URGE_INTERVAL - now).total_seconds())
                raise RateLimited(
                    f"signer {x.id} was urged less than an hour ago; try again in {wait} s",
                    retry_after=wait,
                    field="signer_id",
                )
            token = self._new_link(s, x, "urge", now)
            x.last_urged_at = now
            msg = self._message(s, flow, x, SIGN_URGE, token, now)
            self._audit(
                s,
                now,
                actor,
                "flow.urged",
                flow.id,
                {"signer_id": x.id, "subscriber_id": x.subscriber_id},
            )
        status = None
        sent_to = None
        if msg is not None:
            [(_sid, status)] = self._send([(signer_id, msg)])
            sent_to = mask_recipient(msg.channel, msg.recipient)
        return Urged(flow_id, signer_id, now, now + URGE_INTERVAL, sent_to, status)

    def extend(
        self, flow_id: int, new_deadline: dt.datetime, *, actor: str = "operator"
    ) -> FlowView:
        """Move a started flow's deadline later (延期)."""
        now = self.clock.now()
        if not isinstance(new_deadline, dt.datetime) or new_deadline.tzinfo is None:
            raise ValidationError(NO_ZONE, field="deadline")
        with self.db.transaction() as s:
            flow = self._flow(s, flow_id, lock=True)
            self._check_flow(flow, "extend", now)
            if new_deadline <= max(now, flow.deadline):
                raise ValidationError(
                    "the new deadline must be later than the current one and than now",
                    field="deadline",
                )
            if new_deadline > now + MAX_DEADLINE:
                raise ValidationError(TOO_FAR, field="deadline")
            old = flow.deadline
            flow.deadline = new_deadline
            self._audit(
                s,
                now,
                actor,
                "flow.extended",
                flow.id,
                {"from": old.isoformat(), "to": new_deadline.isoformat()},
            )
            return self._view(s, flow)

    def cancel(self, flow_id: int, reason: str, *, actor: str = "operator") -> FlowView:
        """Withdraw a draft or started flow (撤回); every link stops working."""
        now = self.clock.now()
        reason = reason_text(reason)
        with self.db.transaction() as s:
            flow = self._flow(s, flow_id, lock=True)
            self._check_flow(flow, "cancel", now)  # one read as expired is not withdrawn
            self._end(s, flow, "cancel", "cancel", now, reason)
            self._audit(s, now, actor, "flow.cancelled", flow.id, {"reason": reason})
            return self._view(s, flow)

    def decline(self, token: str, reason: str, *, client_ip: str | None = None) -> FlowView:
        """The signer refuses to sign (拒签): the flow ends, cancelled, naming them."""
        now = self.clock.now()
        reason = reason_text(reason)
        with self.db.transaction() as s:
            flow, x = self._by_link(s, token, now, lock=True)
            FLOW_LIFECYCLE.check("decline", flow.state, None, str(flow.id))
            _move_signer(x, "decline")
            x.declined_reason = reason
            x.client_ip = client_address(client_ip)
            self._end(
                s, flow, "decline", "cancel", now, f"signer {x.id} ({x.role}) declined: {reason}"
            )
            self._audit(
                s,
                now,
                f"subscriber:{x.subscriber_id}",
                "flow.declined",
                flow.id,
                {"signer_id": x.id, "reason": reason, "client_ip": x.client_ip},
            )
            return self._view(s, flow)

    def expire_due(self, now: dt.datetime | None = None) -> ExpiryRun:
        """Expire every started flow whose deadline has passed; run it as often as you like
        (a flow expires once; a second run finds nothing)."""
        now = now or self.clock.now()
        with self.db.read() as s:
            due = list(
                s.execute(
                    select(SignFlow.id)
                    .where(SignFlow.state == _F.STARTED, SignFlow.deadline <= now)
                    .order_by(SignFlow.id)
                ).scalars()
            )
        expired = []
        for flow_id in due:
            with self.db.transaction() as s:  # one flow per transaction: short locks
                flow = self._flow(s, flow_id, lock=True)
                if flow.state != _F.STARTED or flow.deadline > now:
                    continue  # signed, extended or expired meanwhile
                # finished when the deadline passed, as the readers said before this ran
                self._end(s, flow, "expire", "expire", flow.deadline, None)
                self._audit(
                    s,
                    now,
                    "system:expiry",
                    "flow.expired",
                    flow.id,
                    {"deadline": flow.deadline.isoformat()},
                )
                expired.append(flow_id)
        return ExpiryRun(now, tuple(expired))

    # === reading =================================================================================
    def get(self, flow_id: int) -> FlowView:
        with self.db.read() as s:
            return self._view(s, self._flow(s, flow_id))

    def list(
        self,
        *,
        owner_subscriber_id: int | None = None,
        state: str | None = None,
        limit: int = 50,
        after: int | None = None,
    ) -> FlowPage:
        """Flows by id, ``limit`` at a time; ``after`` is the previous page's ``next_after``."""
        state = listed(FlowState, state, "state")
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
            raise ValidationError(f"limit must be 1–{MAX_LIST}", field="limit")
        q = select_where(SignFlow, owner_subscriber_id=owner_subscriber_id)
        if state:  # by the state each flow reads in (``effective_state``), not the stored one
            q = q.where(in_state_where(state, self.clock.now()))
        after = None if after is None else int(after)
        q = paged(q, SignFlow.id, after=after, limit=limit + 1)
        with self.db.read() as s:
            rows, next_after = cut(list(s.execute(q).scalars()), limit)
            return FlowPage(tuple(self._view(s, f) for f in rows), next_after)

    def signer_for_link(self, token: str) -> LinkContext:
        """The flow and the signer a link is bound to, if it may be used now: refused when the
        link is unknown, the flow is finished or past its deadline, or it is not their turn."""
        now = self.clock.now()
        with self.db.read() as s:
            flow, x = self._by_link(s, token, now)
            view = self._view(s, flow)
        return _context(view, view.signer(x.id))

    def reader_for_link(self, token: str) -> LinkContext:
        """What a link lets its signer READ: while it is their turn (as ``signer_for_link``),
        and after they signed — their copy of what they signed, then of the flow as it goes
        on — whatever became of the flow. Nothing can be signed or declined this way."""
        now = self.clock.now()
        with self.db.read() as s:
            x = self._link_signer(s, token)
            flow = self._flow(s, x.flow_id)
            if x.state != _S.SIGNED:
                self._usable(flow, x, now)
            view = self._view(s, flow)
        return _context(view, view.signer(x.id))

    def document_of(self, ctx: LinkContext, document_id: int) -> FlowFile:
        """A document of the flow ``ctx`` was read for (see ``reader_for_link``)."""
        return self.download(ctx.flow.id, document_id)

    def download(self, flow_id: int, document_id: int) -> FlowFile:
        """The document as signed so far (the original before anyone signed)."""
        with self.db.read() as s:
            flow = self._flow(s, flow_id)
            doc = s.get(SignFlowDocument, document_id)
            if doc is None or doc.flow_id != flow.id:
                raise NotFound(f"flow {flow_id} has no document {document_id}", field="document_id")
            key, name = doc.current_sha256, doc.name
        return FlowFile(flow_id, document_id, name, key, self.files.get(key))

    def evidence(self, flow_id: int) -> EvidenceReport:
        """The flow's evidence report (出证): see ``yinxin.signing.evidence``."""
        from yinxin.signing.evidence import collect

        now = self.clock.now()
        with self.db.read() as s:
            self._flow(s, flow_id)
            return collect(s, flow_id, now)

    def evidence_pdf(self, flow_id: int) -> bytes:
        from yinxin.signing.evidence import render_evidence_pdf

        return render_evidence_pdf(self.evidence(flow_id))

    # === signing =================================================================================
    def record_video(
        self, token: str, video: bytes, media_type: str, *, client_ip: str | None = None
    ) -> Recording:
        """Store a signer's video recording (视频双录) and make it the one they sign with.

        Only a signer whose turn it is and whom the flow asks for a recording may store one.
        The bytes go to the flow file store under their SHA-256 before the commit (a crash
        leaves a spare file, never a row without its file); the row keeps the statement shown
        to the signer, and the signer row names the recording, whose hash then goes into each
        signature record's context and the ``flow.signer_signed`` event."""
        ctx = self.signer_for_link(token)
        if not ctx.signer.requires_video:
            raise ValidationError(
                "this flow does not ask this signer for a video recording",
                field="video",
                code="video_not_required",
            )
        kind = _media_type(media_type, video)
        ip = client_address(client_ip)
        video = bytes(video)
        key = self.files.put(video)
        now = self.clock.now()
        statement = ctx.statement or video_statement(ctx.flow, ctx.signer)
        with self.db.transaction() as s:
            flow, x = self._by_link(s, token, now, lock=True)
            row = SignFlowRecording(
                signer_id=x.id,
                sha256=key,
                size=len(video),
                media_type=kind,
                statement=statement,
                recorded_at=now,
                client_ip=ip,
            )
            s.add(row)
            s.flush()
            x.video_sha256 = key
            self._audit(
                s,
                now,
                f"subscriber:{x.subscriber_id}",
                "flow.video_recorded",
                flow.id,
                {
                    "signer_id": x.id,
                    "recording_id": row.id,
                    "sha256": key,
                    "size": len(video),
                    "media_type": kind,
                    "statement_sha256": sha256_hex(statement.encode()),
                    "client_ip": ip,
                },
            )
            return Recording(row.id, flow.id, x.id, key, len(video), kind, statement, now)

    def request_code(self, token: str) -> Any:
        """Send the signer ONE one-time code covering every document of the flow (at its
        current version, which is what they will sign). The signer's seal goes with it: a
        flow that seal could not sign for them (a grant with fewer uses left than documents, a
        frozen seal…) is refused now, before an SMS that could not be used."""
        ctx = self.signer_for_link(token)
        from yinxin.pdf.sign import Level

        return self._batch().request_code(
            signer_subscriber_id=ctx.signer.subscriber_id,
            items=self._items(ctx),
            seal=ctx.signer.seal_id,
            level=Level.B_LT,  # what ``sign`` signs at: a field's /TimeStamp is judged too
        )

    def sign(
        self,
        token: str,
        *,
        pin: str,
        challenge_id: str,
        code: str,
        client_ip: str | None = None,
    ) -> FlowSigning:
        """The signer signs every document of the flow with one PIN entry and the one code."""
        ctx = self.signer_for_link(token)
        x = ctx.signer
        _need_video(x)
        items = self._items(ctx)
        video = {"video_sha256": x.video_sha256} if x.video_sha256 else {}
        sign = partial(
            self._batch().sign,
            items,
            seal=x.seal_id,
            pin=pin,
            signer_subscriber_id=x.subscriber_id,
            challenge_id=challenge_id,
            code=code,
            client_ip=client_address(client_ip),
            actor=f"subscriber:{x.subscriber_id}",
            context={"flow_id": ctx.flow.id, "signer_id": x.id, **video},
        )
        return self._signing(
            ctx,
            sign,
            client_ip=client_address(client_ip),
            challenge_id=challenge_id,
            authorization_id=None,
            actor=f"subscriber:{x.subscriber_id}",
        )

    def sign_authorized(
        self, flow_id: int, signer_id: int, authorization_id: int, *, actor: str = "system"
    ) -> FlowSigning:
        """Sign for an organization signer that granted automatic signing (静默签署): no code
        and no PIN, under its authorization, which the batch signer checks and counts."""
        now = self.clock.now()
        with self.db.read() as s:
            flow = self._flow(s, flow_id)
            x = self._signer(s, flow, signer_id, lock=False)
            self._usable(flow, x, now)
            view = self._view(s, flow)
        ctx = LinkContext(view, view.signer(signer_id))
        _need_video(ctx.signer)
        counterparty = next(
            (o.subscriber_id for o in view.signers if o.id != signer_id),
            view.owner_subscriber_id,
        )
        batch = self._batch()
        granted = batch.authorizations.get(authorization_id)
        if granted.seal_id != ctx.signer.seal_id:
            raise Forbidden(
                f"signing authorization {authorization_id} is for another seal than signer "
                f"{signer_id}'s",
                field="authorization_id",
                code="authorization_seal",
            )
        sign = partial(
            batch.sign_authorized,
            self._items(ctx),
            authorization_id=authorization_id,
            flow_id=flow_id,
            counterparty_subscriber_id=counterparty,
            actor=actor,
            context={"flow_id": flow_id, "signer_id": signer_id},
        )
        return self._signing(
            ctx,
            sign,
            client_ip=None,
            challenge_id=None,
            authorization_id=str(authorization_id),
            actor=actor,
        )

    def _items(self, ctx: LinkContext) -> list:
        from yinxin.signing.batch import BatchItem

        placements = {p.document: p for p in ctx.signer.placements}
        out = []
        for d in ctx.flow.documents:
            p = placements[d.position]
            out.append(
                BatchItem(
                    pdf=self.files.get(d.current_sha256),
                    document_name=d.name,
                    # into the prepared field the starter named: no placement then
                    placement=None if p.field_name else p.placement(),
                    role=ctx.signer.role,
                    field_name=p.field_name,
                )
            )
        return out

    def _record(
        self,
        ctx: LinkContext,
        result: Any,
        *,
        client_ip: str | None,
        challenge_id: str | None,
        authorization_id: str | None,
        actor: str,
    ) -> FlowSigning:
        """Record, in a transaction of its own, the signatures of a batch recorded before
        (a replayed one: its first call died before the flow heard of it); the messages go
        out after it."""
        signed = list(result.documents)
        now = self.clock.now()
        with self.db.transaction() as s:
            view, outgoing = self._record_in(
                s,
                ctx,
                signed,
                client_ip=client_ip,
                challenge_id=challenge_id,
                authorization_id=authorization_id,
                actor=actor,
                now=now,
            )
        self._send(outgoing)
        return FlowSigning(view, view.signer(ctx.signer.id), tuple(sd.record for sd in signed))

    def _signing(
        self,
        ctx: LinkContext,
        sign: Callable[..., Any],
        *,
        client_ip: str | None,
        challenge_id: str | None,
        authorization_id: str | None,
        actor: str,
    ) -> FlowSigning:
        """Sign with ``sign`` (the batch signer's ``sign`` or ``sign_authorized`` with its
        arguments bound) and record the signer's signing **in the batch's own transaction**:
        the flow's row is locked first, and the signer's state and the documents' versions are
        checked where the signatures, the code or the authorization's use are written. Two
        signings of one signer at once (an API client's retry, two codes) thus sign once: the
        second is refused with nothing recorded, no code used, no authorization use counted
        (they were all recorded before the flow found the signer had signed)."""
        made: list[tuple[FlowView, list[tuple[int, Outgoing]]]] = []

        def before(s: Session) -> None:
            self._flow(s, ctx.flow.id, lock=True)

        def within(s: Session, docs: Any, used: str | None, now: dt.datetime) -> None:
            made.append(
                self._record_in(
                    s,
                    ctx,
                    list(docs),
                    client_ip=client_ip,
                    challenge_id=used or challenge_id,
                    authorization_id=authorization_id,
                    actor=actor,
                    now=now,
                )
            )

        result = sign(before=before, within=within)
        if not made:  # replayed: signed and recorded before, the flow not told yet
            return self._record(
                ctx,
                result,
                client_ip=client_ip,
                challenge_id=getattr(result, "challenge_id", None) or challenge_id,
                authorization_id=authorization_id,
                actor=actor,
            )
        ((view, outgoing),) = made
        self._send(outgoing)
        signed = tuple(sd.record for sd in result.documents)
        return FlowSigning(view, view.signer(ctx.signer.id), signed)

    def _record_in(
        self,
        s: Session,
        ctx: LinkContext,
        signed: list,
        *,
        client_ip: str | None,
        challenge_id: str | None,
        authorization_id: str | None,
        actor: str,
        now: dt.datetime,
    ) -> tuple[FlowView, list[tuple[int, Outgoing]]]:
        """Record one signer's signatures in ``s``: the documents move on to the signed
        versions (if nobody moved them meanwhile), the signer is done, the next turn begins or
        the flow completes. The view, and the messages to send once ``s`` has committed."""
        docs = ctx.flow.documents
        if len(signed) != len(docs):
            raise YinxinError(
                f"the batch signer returned {len(signed)} documents for {len(docs)}",
                field="documents",
                code="batch_mismatch",
            )
        for d, sd in zip(docs, signed, strict=True):
            if sha256_hex(sd.pdf) != sd.record.sha256_after or sd.record.sha256_before != (
                d.current_sha256
            ):
                raise YinxinError(
                    f"the signed version of {d.name} does not match its record",
                    field="documents",
                    code="batch_mismatch",
                )
            self.files.put(sd.pdf)  # before the commit: a crash leaves a spare file, no gap
        outgoing: list[tuple[int, Outgoing]] = []
        flow = self._flow(s, ctx.flow.id, lock=True)
        x = self._signer(s, flow, ctx.signer.id)
        FLOW_LIFECYCLE.check("sign", flow.state, None, str(flow.id))
        SIGNER_LIFECYCLE.check("sign", x.state, None, str(x.id))
        rows = {
            d.id: d
            for d in s.execute(
                select(SignFlowDocument).where(SignFlowDocument.flow_id == flow.id)
            ).scalars()
        }
        for d in docs:
            if rows[d.id].current_sha256 != d.current_sha256:
                raise Conflict(
                    f"{d.name} was signed by another party meanwhile; ask for a new code and "
                    "sign the new version",
                    field="documents",
                    code="document_moved",
                )
        per_doc = []
        for d, sd in zip(docs, signed, strict=True):
            row = rows[d.id]
            row.current_sha256 = sd.record.sha256_after
            s.add(
                SignFlowSignature(
                    signer_id=x.id,
                    document_id=d.id,
                    signature_record_id=sd.record.id,
                    sha256_before=d.current_sha256,
                    sha256_after=sd.record.sha256_after,
                    signed_at=now,
                )
            )
            per_doc.append(
                {
                    "document_id": d.id,
                    "name": d.name,
                    "sha256_before": d.current_sha256,
                    "sha256_after": sd.record.sha256_after,
                    "signature_record_id": sd.record.id,
                }
            )
        _move_signer(x, "sign")
        x.signed_at, x.client_ip = now, client_ip
        x.challenge_id, x.authorization_id = challenge_id, authorization_id
        self._audit(
            s,
            now,
            actor,
            "flow.signer_signed",
            flow.id,
            {
                "signer_id": x.id,
                "subscriber_id": x.subscriber_id,
                "role": x.role,
                "seal_id": x.seal_id,
                "challenge_id": challenge_id,
                "authorization_id": authorization_id,
                "client_ip": client_ip,
                "documents": per_doc,
                # the recording checked before signing (bound into each record's context)
                **({"video_sha256": ctx.signer.video_sha256} if ctx.signer.video_sha256 else {}),
            },
        )
        signers = self._signers(s, flow.id)
        if all(o.state == _S.SIGNED for o in signers):
            _move_flow(flow, "complete")
            flow.finished_at = now
            self._audit(
                s,
                now,
                "system:flow",
                "flow.completed",
                flow.id,
                {
                    "documents": [
                        {"document_id": d.id, "sha256": d.current_sha256}
                        for d in sorted(rows.values(), key=lambda r: r.position)
                    ]
                },
            )
            outgoing = self._completion_messages(s, flow, signers)
        elif not any(o.state == _S.READY for o in signers):
            for o in self._next_turn(flow, signers):
                _move_signer(o, "turn")
                token = self._new_link(s, o, "turn", now)
                msg = self._message(s, flow, o, SIGN_REQUEST, token, now)
                if msg is not None:
                    outgoing.append((o.id, msg))
        view = self._view(s, flow)
        return view, outgoing

    # === internals ===============================================================================
    def _url(self, token: str) -> str:
        return f"{self.base_url}/sign/{token}"

    def _new_link(self, s: Session, x: SignFlowSigner, purpose: str, now: dt.datetime) -> str:
        token = secrets.token_urlsafe(32)
        s.add(
            SignFlowLink(
                signer_id=x.id, token_hash=_hash_token(token), purpose=purpose, issued_at=now
            )
        )
        return token

    def _message(
        self,
        s: Session,
        flow: SignFlow,
        x: SignFlowSigner,
        template: str,
        token: str,
        now: dt.datetime,
    ) -> Outgoing | None:
        """The message carrying a signer's link, addressed as their record says now (None when
        they have neither phone nor e-mail: the integrator still holds the link from start)."""
        sub = s.get(Subscriber, x.subscriber_id)
        n_docs = len(self._documents(s, flow.id))
        values = {
            "name": sub.name if sub else "",
            "title": flow.title,
            "documents": n_docs,
            "deadline": in_beijing(flow.deadline),
            "url": self._url(token),
        }
        try:
            msg = self.notifier.to_subscriber(s, x.subscriber_id, template, values)
        except YinxinError as e:
            log.info("signer %s of flow %s not notified: %s", x.id, flow.id, e.message)
            return None
        x.last_notified_at = now
        return msg

    def _completion_messages(
        self, s: Session, flow: SignFlow, signers: list[SignFlowSigner]
    ) -> list[tuple[int, Outgoing]]:
        out = []
        whom = [o.subscriber_id for o in signers]
        if flow.owner_subscriber_id is not None and flow.owner_subscriber_id not in whom:
            whom.append(flow.owner_subscriber_id)
        for sid in whom:
            sub = s.get(Subscriber, sid)
            values = {
                "name": sub.name if sub else "",
                "title": flow.title,
                "signers": len(signers),
                "flow_id": flow.id,
            }
            try:
                out.append((sid, self.notifier.to_subscriber(s, sid, FLOW_COMPLETED, values)))
            except YinxinError as e:
                log.info("subscriber %s not told flow %s completed: %s", sid, flow.id, e.message)
        return out

    def _send(self, outgoing: list[tuple[int, Outgoing]]) -> list[tuple[int, str | None]]:
        """Send after the commit; a failure is logged (the send log keeps it), never raised:
        the step it reports has happened."""
        out = []
        for key, msg in outgoing:
            try:
                out.append((key, str(self.notifier.send(msg).status)))
            except YinxinError as e:
                log.warning("message %s for %s not sent: %s", msg.template_id, key, e.message)
                out.append((key, None))
        return out

    def _flow(self, s: Session, flow_id: int, *, lock: bool = False) -> SignFlow:
        return by_id(
            s,
            SignFlow,
            flow_id,
            field="flow_id",
            not_number="a flow id is a number",
            missing=f"no sign flow {flow_id}",
            lock=lock,
        )

    def _signer(
        self, s: Session, flow: SignFlow, signer_id: int, *, lock: bool = True
    ) -> SignFlowSigner:
        """The flow's signer, locked unless ``lock`` is False: a ``Database.read()`` is read
        only on PostgreSQL and refuses SELECT ... FOR UPDATE (``sign_authorized``'s check)."""
        q = select(SignFlowSigner).where(SignFlowSigner.id == signer_id)
        x = s.execute(q.with_for_update() if lock else q).scalar_one_or_none()
        if x is None or x.flow_id != flow.id:
            raise NotFound(f"flow {flow.id} has no signer {signer_id}", field="signer_id")
        return x

    def _signers(self, s: Session, flow_id: int) -> list[SignFlowSigner]:
        return list(
            s.execute(
                select(SignFlowSigner)
                .where(SignFlowSigner.flow_id == flow_id)
                .order_by(SignFlowSigner.order_index, SignFlowSigner.id)
            ).scalars()
        )

    def _documents(self, s: Session, flow_id: int) -> list[SignFlowDocument]:
        return list(
            s.execute(
                select(SignFlowDocument)
                .where(SignFlowDocument.flow_id == flow_id)
                .order_by(SignFlowDocument.position)
            ).scalars()
        )

    def _check_flow(self, flow: SignFlow, verb: str, now: dt.datetime | None = None) -> None:
        FLOW_LIFECYCLE.check(verb, flow.state, None, str(flow.id))
        if now is not None and effective_state(flow.state, flow.deadline, now) != flow.state:
            raise FlowExpired(flow, field="deadline", detail=f", {flow.deadline.isoformat()}")

    @staticmethod
    def _next_turn(flow: SignFlow, signers: list[SignFlowSigner]) -> list[SignFlowSigner]:
        """Whose turn begins: everyone waiting in a parallel flow, else the lowest turn."""
        waiting = [x for x in signers if x.state == _S.WAITING]
        if not waiting or flow.signing_order == SigningOrder.PARALLEL:
            return waiting
        first = min(x.order_index for x in waiting)
        return [x for x in waiting if x.order_index == first]

    def _by_link(
        self, s: Session, token: str, now: dt.datetime, *, lock: bool = False
    ) -> tuple[SignFlow, SignFlowSigner]:
        x = self._link_signer(s, token)
        flow = self._flow(s, x.flow_id, lock=lock)
        if lock:
            x = self._signer(s, flow, x.id)
        self._usable(flow, x, now)
        return flow, x

    @staticmethod
    def _link_signer(s: Session, token: str) -> SignFlowSigner:
        """The signer a link's token is bound to, or ``unknown_link`` (a token of the wrong
        length is refused without a query): for signing and for reading alike."""
        token = str(token or "").strip()
        link = None
        if 16 <= len(token) <= 200:
            link = s.execute(
                select(SignFlowLink).where(SignFlowLink.token_hash == _hash_token(token))
            ).scalar_one_or_none()
        if link is None:
            raise NotFound("no such signing link", field="token", code="unknown_link")
        x = s.get(SignFlowSigner, link.signer_id)
        assert x is not None
        return x

    def _usable(self, flow: SignFlow, x: SignFlowSigner, now: dt.datetime) -> None:
        state = effective_state(flow.state, flow.deadline, now)
        if state == _F.EXPIRED:
            raise FlowExpired(flow, field="token")
        if state in FINISHED:
            raise IllegalTransition(
                f"sign flow {flow.id} is {state}", field="token", code=f"flow_{state}"
            )
        if state != _F.STARTED:
            raise IllegalTransition(
                f"sign flow {flow.id} has not been started", field="token", code="flow_draft"
            )
        if x.state == _S.SIGNED:
            raise Conflict("this signer has signed already", field="token", code="already_signed")
        if x.state == _S.WAITING:
            raise IllegalTransition(
                "it is not this signer's turn yet: earlier signers have not signed",
                field="token",
                code="not_your_turn",
            )
        if x.state != _S.READY:
            raise IllegalTransition(
                f"this signer is {x.state}", field="token", code=f"signer_{x.state}"
            )

    def _end(
        self,
        s: Session,
        flow: SignFlow,
        flow_verb: str,
        signer_verb: str,
        now: dt.datetime,
        reason: str | None,
    ) -> None:
        _move_flow(flow, flow_verb)
        flow.finished_at = now
        if reason is not None:
            flow.reason = reason
        for x in self._signers(s, flow.id):
            if x.state in OPEN_SIGNER:
                _move_signer(x, signer_verb)

    def _audit(
        self, s: Session, now: dt.datetime, actor: str, action: str, flow_id: int, data: dict
    ) -> None:
        audit.record(
            s,
            at=now,
            actor=actor,
            action=action,
            subject_type=SUBJECT,
            subject_id=flow_id,
            data=data,
        )

    def _view(self, s: Session, flow: SignFlow) -> FlowView:
        """The flow as readers see it now: its effective state (``effective_state``) — past
        its deadline a started flow reads expired, its open signers expired, finished at the
        deadline, before the sweep stores so."""
        state = effective_state(flow.state, flow.deadline, self.clock.now())
        lapsed = state == _F.EXPIRED and flow.state == _F.STARTED
        docs = tuple(
            FlowDocumentView(d.id, d.position, d.name, d.original_sha256, d.current_sha256, d.size)
            for d in self._documents(s, flow.id)
        )
        signers = []
        for x in self._signers(s, flow.id):
            sub = s.get(Subscriber, x.subscriber_id)
            signers.append(
                from_row(
                    FlowSignerView,
                    x,
                    subscriber_name=sub.name if sub else "",
                    role=Role(x.role),
                    order=x.order_index,
                    placements=tuple(PlacementView(**p) for p in json.loads(x.placements)),
                    state=_S.EXPIRED if lapsed and x.state in OPEN_SIGNER else SignerState(x.state),
                    requires_video=bool(x.requires_video),
                )
            )
        return from_row(
            FlowView,
            flow,
            state=state,
            finished_at=flow.deadline if lapsed else flow.finished_at,
            signing_order=SigningOrder(flow.signing_order),
            documents=docs,
            signers=tuple(signers),
        )


def _need_video(x: FlowSignerView) -> None:
    """A signer the flow asks to record a video (视频双录) cannot sign before a recording is
    stored: checked before the code is spent or anything is signed."""
    if x.requires_video and not x.video_sha256:
        raise ValidationError(
            "this signer must record the video statement (视频双录) before signing",
            field="video",
            code="video_required",
        )


def _move_flow(flow: SignFlow, verb: str) -> None:
    flow.state = FLOW_LIFECYCLE.check(verb, flow.state, None, str(flow.id)).to_state


def _move_signer(x: SignFlowSigner, verb: str) -> None:
    x.state = SIGNER_LIFECYCLE.check(verb, x.state, None, str(x.id)).to_state


def client_address(value: str | None) -> str | None:
    """A client address as given by the adapter (IPv4 or IPv6), checked, or None. Public: the
    CLI's ``flow sign --client-ip`` is checked with it before the PIN and code are asked for."""
    if value is None or str(value).strip() == "":
        return None
    import ipaddress

    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise ValidationError("not an IP address", field="client_ip") from None


__all__ = [
    "FLOW_LIFECYCLE",
    "SIGNER_LIFECYCLE",
    "ExpiryRun",
    "FlowDocumentView",
    "FlowFile",
    "FlowPage",
    "FlowSignerView",
    "FlowSigning",
    "FlowState",
    "FlowView",
    "LinkContext",
    "PlacementView",
    "Prepared",
    "Recording",
    "SignFlows",
    "SignerLink",
    "SignerSpec",
    "SignerState",
    "SigningOrder",
    "StartedFlow",
    "Urged",
    "effective_state",
    "in_state_where",
    "certified_only_into_fields",
    "prepared_of",
    "video_statement",
]


def _check_signable(pdf: bytes, field: str) -> None:
    """A document its signers could not seal (an encrypted PDF: readable, even drawn as pages,
    but refused by the sealing; one signed, then altered after that signature, or locked by
    it) is refused when the flow is made: it was taken, the flow started and the links and
    codes sent, and every signer was then refused at signing."""
    from yinxin.pdf.sign import SigningError, check_signable

    try:
        # a certification permitting form filling (P=2, P=3) is taken when the document has
        # empty signature fields: each signer then names one (``_check_signers``)
        check_signable(pdf, earlier_signatures=True, prepared_fields=True)
    except SigningError as e:
        raise ValidationError(e.message, field=field, code=e.code) from None
