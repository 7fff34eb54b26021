"""The evidence report of a sign flow (出证, the "completion certificate" peers append).

What a court, an auditor or the other party asks after the fact: which documents (their SHA-256
before anyone signed and after the last signature), who signed each in which role with which
seal and certificate, how each signer's intent was confirmed (the one-time code: the masked
phone it went to, when it was sent and confirmed — or the signing authorization an organization
granted for automatic signing), when they signed and from which IP address, and the audit
events of the flow with their entry hashes. The hashes tie the report to the platform's audit
chain (``yinxin audit verify``): an event quoted here can be found in the chain by its sequence
number and must carry the same hash, so a report cannot be edited without the mismatch showing.

Identities are masked (ID numbers and credit codes keep their first three and last four
characters): the report is handed to the parties and may be filed with a court; the full
numbers stay in the registry, behind its own access rules.

The report is a typed, JSON-able object (``collect``) and a Chinese A4 PDF
(``render_evidence_pdf``) drawn with the verification report's font machinery
(``yinxin.pdf.report``: embedded CJK subset with a ToUnicode map, so the text is extractable).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from io import BytesIO

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from yinxin.clock import BEIJING
from yinxin.seals.rows import mask
from yinxin.store.audit import AuditEventView
from yinxin.store.models import AuditEvent, AuditHead, Subscriber
from yinxin.store.models.flows import (
    SignFlow,
    SignFlowDocument,
    SignFlowRecording,
    SignFlowSignature,
    SignFlowSigner,
)
from yinxin.store.models.flows import (
    lapsed as flow_lapsed,
)
from yinxin.store.models.notify import IntentChallenge
from yinxin.store.models.seals import Seal
from yinxin.store.models.signing import SignatureRecord


@dataclass(frozen=True)
class EvidenceDocument:
    id: int
    name: str
    sha256_original: str
    sha256_final: str
    size_original: int


@dataclass(frozen=True)
class EvidenceSignature:
    """One signature of a party on one document: the version it was made over and made."""

    document_id: int
    document_name: str
    sha256_before: str
    sha256_after: str
    certificate_serial: str | None
    level: str | None
    field_name: str | None
    signature_record_id: int | None


@dataclass(frozen=True)
class EvidenceIntent:
    """How the signer's intent was confirmed: the one-time code sent for the flow."""

    challenge_id: str
    sent_to: str  # masked phone
    sent_at: dt.datetime
    confirmed_at: dt.datetime | None
    consumed_at: dt.datetime | None
    covers_sha256: str  # what the code was bound to (the batch's list of documents)


@dataclass(frozen=True)
class EvidenceVideo:
    """The video recording (视频双录) the signer signed with: the statement they read to the
    camera, and the SHA-256 of the recording kept in the flow file store."""

    recording_id: int
    sha256: str
    size: int
    media_type: str
    statement: str
    recorded_at: dt.datetime


@dataclass(frozen=True)
class EvidenceParty:
    signer_id: int
    role: str
    order: int
    state: str
    name: str
    kind: str  # person | organization
    identity: str | None  # masked ID number or credit code
    acting_for: str | None  # the organization whose seal a member used
    acting_for_identity: str | None  # its masked credit code
    seal_name: str | None
    seal_es_id: str | None
    seal_kind: str | None
    certificate_serials: tuple[str, ...]
    intent: EvidenceIntent | None
    authorization_id: str | None
    signed_at: dt.datetime | None
    client_ip: str | None
    declined_reason: str | None
    signatures: tuple[EvidenceSignature, ...]
    requires_video: bool = False
    video: EvidenceVideo | None = None


# An audit event as the chain holds it (``hash`` is the chain's entry hash): the audit
# trail's own view, under the name the report has always given it.
EvidenceEvent = AuditEventView


@dataclass(frozen=True)
class EvidenceReport:
    flow_id: int
    title: str
    state: str
    signing_order: str
    owner: str | None
    owner_identity: str | None
    created_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    deadline: dt.datetime
    reason: str | None
    documents: tuple[EvidenceDocument, ...]
    parties: tuple[EvidenceParty, ...]
    events: tuple[EvidenceEvent, ...]
    audit_head_seq: int | None  # the chain's last event when the report was made
    audit_head_hash: str | None
    generated_at: dt.datetime


def _identity(sub: Subscriber | None) -> str | None:
    if sub is None:
        return None
    return mask(sub.uscc) if sub.kind == "organization" else mask(sub.id_number)


def collect(s: Session, flow_id: int, now: dt.datetime) -> EvidenceReport:
    """Everything the report states, read in one session (the caller checked the flow). A
    flow started but past its deadline at ``now`` (``lapsed``) is stated as every reader states
    it (``flows.effective_state``) — expired, its open signers with it, finished at the
    deadline — before the sweep stores so."""
    flow = s.get(SignFlow, flow_id)
    assert flow is not None
    lapsed = flow_lapsed(flow.state, flow.deadline, now)
    state = "expired" if lapsed else flow.state
    docs = list(
        s.execute(
            select(SignFlowDocument)
            .where(SignFlowDocument.flow_id == flow_id)
            .order_by(SignFlowDocument.position)
        ).scalars()
    )
    by_doc = {d.id: d for d in docs}
    signers = list(
        s.execute(
            select(SignFlowSigner)
            .where(SignFlowSigner.flow_id == flow_id)
            .order_by(SignFlowSigner.order_index, SignFlowSigner.id)
        ).scalars()
    )
    record_ids: list[int] = []
    challenge_ids: list[str] = []
    parties = []
    for x in signers:
        sub = s.get(Subscriber, x.subscriber_id)
        seal = s.get(Seal, x.seal_id)
        holder = s.get(Subscriber, seal.subscriber_id) if seal else None
        acting_for = holder if holder is not None and holder.id != x.subscriber_id else None
        sigs = []
        for fs in s.execute(
            select(SignFlowSignature)
            .where(SignFlowSignature.signer_id == x.id)
            .order_by(SignFlowSignature.id)
        ).scalars():
            rec = s.get(SignatureRecord, fs.signature_record_id) if fs.signature_record_id else None
            if rec is not None:
                record_ids.append(rec.id)
            sigs.append(
                EvidenceSignature(
                    document_id=fs.document_id,
                    document_name=by_doc[fs.document_id].name,
                    sha256_before=fs.sha256_before,
                    sha256_after=fs.sha256_after,
                    certificate_serial=rec.certificate_serial if rec else None,
                    level=rec.level if rec else None,
                    field_name=rec.field_name if rec else None,
                    signature_record_id=fs.signature_record_id,
                )
            )
        intent = None
        if x.challenge_id:
            challenge_ids.append(x.challenge_id)
            ch = s.get(IntentChallenge, x.challenge_id)
            if ch is not None:
                intent = EvidenceIntent(
                    challenge_id=ch.id,
                    sent_to=ch.sent_to_masked,
                    sent_at=ch.created_at,
                    confirmed_at=ch.confirmed_at,
                    consumed_at=ch.consumed_at,
                    covers_sha256=ch.document_sha256,
                )
        video = None
        if x.video_sha256:
            rec_v = s.execute(
                select(SignFlowRecording)
                .where(
                    SignFlowRecording.signer_id == x.id,
                    SignFlowRecording.sha256 == x.video_sha256,
                )
                .order_by(SignFlowRecording.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if rec_v is not None:
                video = EvidenceVideo(
                    rec_v.id,
                    rec_v.sha256,
                    rec_v.size,
                    rec_v.media_type,
                    rec_v.statement,
                    rec_v.recorded_at,
                )
        serials = tuple(dict.fromkeys(g.certificate_serial for g in sigs if g.certificate_serial))
        parties.append(
            EvidenceParty(
                signer_id=x.id,
                role=x.role,
                order=x.order_index,
                state="expired" if lapsed and x.state in ("waiting", "ready") else x.state,
                name=sub.name if sub else "",
                kind=sub.kind if sub else "",
                identity=_identity(sub),
                acting_for=acting_for.name if acting_for else None,
                acting_for_identity=_identity(acting_for),
                seal_name=seal.name if seal else None,
                seal_es_id=x.es_id or (seal.es_id if seal else None),
                seal_kind=seal.kind if seal else None,
                certificate_serials=serials,
                intent=intent,
                authorization_id=x.authorization_id,
                signed_at=x.signed_at,
                client_ip=x.client_ip,
                declined_reason=x.declined_reason,
                signatures=tuple(sigs),
                requires_video=bool(x.requires_video),
                video=video,
            )
        )
    owner = s.get(Subscriber, flow.owner_subscriber_id) if flow.owner_subscriber_id else None
    # the flow's own events, the signatures it made and the codes its signers confirmed
    about = [(AuditEvent.subject_type == "sign_flow") & (AuditEvent.subject_id == str(flow_id))]
    if record_ids:
        about.append(
            (AuditEvent.subject_type == "signature")
            & AuditEvent.subject_id.in_([str(r) for r in record_ids])
        )
    if challenge_ids:
        about.append(
            (AuditEvent.subject_type == "intent_challenge")
            & AuditEvent.subject_id.in_(challenge_ids)
        )
    events = tuple(
        AuditEventView.of(e)
        for e in s.execute(select(AuditEvent).where(or_(*about)).order_by(AuditEvent.seq)).scalars()
    )
    head = s.get(AuditHead, 1)
    return EvidenceReport(
        flow_id=flow.id,
        title=flow.title,
        state=state,
        signing_order=flow.signing_order,
        owner=owner.name if owner else None,
        owner_identity=_identity(owner),
        created_by=flow.created_by,
        created_at=flow.created_at,
        started_at=flow.started_at,
        finished_at=flow.deadline if lapsed else flow.finished_at,
        deadline=flow.deadline,
        reason=flow.reason,
        documents=tuple(
            EvidenceDocument(d.id, d.name, d.original_sha256, d.current_sha256, d.size)
            for d in docs
        ),
        parties=tuple(parties),
        events=events,
        audit_head_seq=head.seq if head else None,
        audit_head_hash=head.hash if head else None,
        generated_at=now,
    )


# --- the PDF ----------------------------------------------------------------------------------
STATES = {
    "draft": "草稿 draft",
    "started": "签署中 started",
    "completed": "已完成 completed",
    "cancelled": "已撤回 cancelled",
    "expired": "已过期 expired",
    "waiting": "待轮到 waiting",
    "ready": "待签署 ready",
    "signed": "已签署 signed",
    "declined": "已拒签 declined",
}


def _t(when: dt.datetime | None) -> str:
    if when is None:
        return "—"
    return when.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S") + "（北京时间）"


def _party_rows(p: EvidenceParty) -> list[tuple[str, str]]:
    who = f"{p.name}（{p.identity}）" if p.identity else p.name
    rows = [("签署方 Party", who)]
    if p.acting_for:
        rows.append(("代表单位 For", f"{p.acting_for}（{p.acting_for_identity or '—'}）"))
    rows += [
        ("状态 State", STATES.get(p.state, p.state)),
        ("印章 Seal", f"{p.seal_name or '—'}（{p.seal_es_id or '—'}）"),
        ("证书序列号 Certificate", "\n".join(p.certificate_serials) or "—"),
    ]
    if p.intent is not None:
        i = p.intent
        rows.append(
            (
                "意愿认证 Intent",
                f"短信验证码 one-time code → {i.sent_to}\n发送 sent {_t(i.sent_at)}\n"
                f"确认 confirmed {_t(i.confirmed_at)}\n挑战 challenge {i.challenge_id}",
            )
        )
    elif p.authorization_id:
        rows.append(("自动签署授权 Authorization", p.authorization_id))
    else:
        rows.append(("意愿认证 Intent", "—"))
    if p.video is not None:
        v = p.video
        rows.append(
            (
                "视频双录 Video",
                f"SHA-256 {v.sha256}\n{v.media_type}，{v.size} 字节 bytes，录制 recorded "
                f"{_t(v.recorded_at)}\n宣读声明 statement：{v.statement}",
            )
        )
    elif p.requires_video:
        rows.append(("视频双录 Video", "未录制 not recorded"))
    rows += [
        ("签署时间 Signed at", _t(p.signed_at)),
        ("IP 地址 Client IP", p.client_ip or "—"),
    ]
    if p.declined_reason:
        rows.append(("拒签理由 Declined", p.declined_reason))
    for g in p.signatures:
        rows.append(
            (
                f"文档 {g.document_name}",
                f"签前 before {g.sha256_before}\n签后 after  {g.sha256_after}",
            )
        )
    return rows


def render_evidence_pdf(report: EvidenceReport) -> bytes:
    """A4 pages in Chinese (with English labels): the flow, the documents and their hashes,
    one table per party, the audit events with their chain hashes. Pages are added as the
    content needs them."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

    from yinxin.pdf.report import (
        A4,
        GREY_FILL,
        LABEL_W,
        MARGIN,
        PAD,
        _Canvas,
        _Fonts,
        _wrap,
    )

    w = PdfFileWriter()
    w.document_meta.title = f"签署流程出证报告 — {report.title}"
    w.document_meta.creator = "Yinxin 印信"
    fonts = _Fonts(w)
    page_w, page_h = A4
    x0, width = MARGIN, page_w - 2 * MARGIN
    pages: list[list[bytes]] = []
    state = {"c": None, "y": 0.0}

    def new_page() -> None:
        c = _Canvas(fonts, [])
        pages.append(c.ops)
        state["c"], state["y"] = c, page_h - MARGIN

    def need(h: float) -> _Canvas:
        if state["c"] is None or state["y"] - h < MARGIN + 20:
            new_page()
        return state["c"]  # type: ignore[return-value]

    def heading(text: str, size: float = 12) -> None:
        c = need(size * 2.6)
        state["y"] -= size * 1.6
        c.text(x0, state["y"], text, size=size, face="B")
        state["y"] -= size * 0.8

    def para(text: str, size: float = 8.5, color=(0, 0, 0)) -> None:
        for ln in _wrap(fonts, text, "R", size, width):
            c = need(size * 1.35)
            state["y"] -= size * 1.35
            c.text(x0, state["y"], ln, size=size, color=color)

    def table(rows: list[tuple[str, str]], size: float = 8.0) -> None:
        lead = size * 1.32
        for label, value in rows:
            vlines = _wrap(fonts, value, "R", size, width - LABEL_W - 2 * PAD)
            llines = _wrap(fonts, label, "R", size, LABEL_W - 2 * PAD)
            h = max(len(vlines), len(llines)) * lead + 2 * PAD
            c = need(h)
            y = state["y"]
            c.rect(x0, y - h, LABEL_W, h, fill=GREY_FILL)
            c.rect(x0 + LABEL_W, y - h, width - LABEL_W, h)
            base = y - PAD - size
            for i, ln in enumerate(llines):
                c.text(x0 + PAD, base - i * lead, ln, size=size, color=(0.2, 0.2, 0.2))
            for i, ln in enumerate(vlines):
                c.text(x0 + LABEL_W + PAD, base - i * lead, ln, size=size)
            state["y"] = y - h
        state["y"] -= 6

    # title
    c = need(60)
    title = "签署流程出证报告"
    c.text(
        x0 + (width - fonts.width(title, "B", 20)) / 2, state["y"] - 20, title, size=20, face="B"
    )
    sub = "Sign Flow Evidence Report (completion certificate)"
    c.text(
        x0 + (width - fonts.width(sub, "R", 10)) / 2,
        state["y"] - 36,
        sub,
        size=10,
        color=(0.3, 0.3, 0.3),
    )
    state["y"] -= 46
    c.line(x0, state["y"], x0 + width, state["y"])
    state["y"] -= 6

    heading("一、流程 Flow")
    table(
        [
            ("流程编号 Flow", str(report.flow_id)),
            ("标题 Title", report.title),
            ("状态 State", STATES.get(report.state, report.state)),
            (
                "签署顺序 Order",
                "顺序签署 sequential" if report.signing_order == "sequential" else "并行 parallel",
            ),
            (
                "发起方 Owner",
                f"{report.owner}（{report.owner_identity}）" if report.owner else "—",
            ),
            ("发起人 Created by", report.created_by),
            ("创建 Created", _t(report.created_at)),
            ("开始 Started", _t(report.started_at)),
            ("截止 Deadline", _t(report.deadline)),
            ("结束 Finished", _t(report.finished_at)),
            *([("说明 Reason", report.reason)] if report.reason else []),
        ]
    )

    heading("二、文档 Documents (SHA-256)")
    for d in report.documents:
        table(
            [
                ("文档 Document", f"{d.name}（{d.size_original} 字节 bytes）"),
                ("签署前 Original", d.sha256_original),
                ("签署后 Final", d.sha256_final),
            ]
        )

    heading("三、签署方 Parties")
    for n, p in enumerate(report.parties, 1):
        heading(f"{n}. {p.role} — {p.name}", size=10)
        table(_party_rows(p))

    heading("四、审计事件 Audit events")
    para(
        "以下事件摘自平台的哈希链审计日志；每条的哈希为链上该条目的哈希（hash = SHA-256(前一"
        "条哈希 ‖ 事件内容)），可用 yinxin audit verify 核对。 Each hash is the entry's hash in "
        "the platform's audit chain.",
        size=7.5,
        color=(0.3, 0.3, 0.3),
    )
    for e in report.events:
        para(
            f"#{e.seq}  {_t(e.at)}  {e.action}  {e.subject_type}:{e.subject_id}  ({e.actor})",
            size=7.5,
        )
        para(f"    hash {e.hash}", size=7, color=(0.35, 0.35, 0.35))
    if report.audit_head_seq is not None:
        para(
            f"出证时链头 chain head at report time: #{report.audit_head_seq} "
            f"{report.audit_head_hash}",
            size=7,
            color=(0.35, 0.35, 0.35),
        )

    # footers: generation time and page numbers
    total = len(pages)
    for i, ops in enumerate(pages, 1):
        cv = _Canvas(fonts, ops)
        foot = (
            f"印信 Yinxin · 出证时间 generated {_t(report.generated_at)} · 第 {i}/{total} 页 "
            f"page {i}/{total}"
        )
        cv.text(x0, MARGIN - 18, foot, size=7, color=(0.45, 0.45, 0.45))

    res = generic.DictionaryObject({pdf_name("/Font"): fonts.resources()})
    for ops in pages:
        stream = generic.StreamObject(stream_data=b"\n".join(ops))
        stream.compress()
        w.insert_page(PageObject(w.add_object(stream), (0, 0, page_w, page_h), res))
    out = BytesIO()
    w.write(out)
    return out.getvalue()


__all__ = [
    "EvidenceDocument",
    "EvidenceEvent",
    "EvidenceIntent",
    "EvidenceParty",
    "EvidenceReport",
    "EvidenceSignature",
    "EvidenceVideo",
    "collect",
    "render_evidence_pdf",
]
