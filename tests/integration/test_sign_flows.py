"""Sign flows end to end on a real platform (SQLite file, real seals, real batch signer).

The three-party flow is checked by outside tools: every final file in poppler's ``pdfsig``
(three valid signatures from a trusted root) and in pyHanko's validator; the evidence report's
hashes against the files themselves and its audit hashes against the audit chain; its PDF
through ``pdftotext``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import subprocess

import pytest
from asn1crypto import x509 as a_x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from tests import dbdump
from tests.fixtures.samples import contract_pdf
from tests.integration.server import free_port, running_server, yinxin_cli, yinxin_json
from tests.integration.signing_flow import (
    Party,
    World,
    _form,
    _issue,
    add_page,
    build_world,
    count_earlier_checks,
    flip_signed_byte,
    need,
    new_platform,
    nss_trusting,
    outbox_lines,
    pdfsig,
    read_code,
    sign_as,
)
from yinxin.errors import Conflict, Forbidden, IllegalTransition, NotFound, ValidationError
from yinxin.pdf.sign import Placement
from yinxin.results import plain
from yinxin.signing.flows import FlowState, SignerSpec, SignerState
from yinxin.signing.intent import RateLimited
from yinxin.store.models import AuditEvent
from yinxin.store.models.flows import SignFlow, SignFlowDocument, SignFlowLink, SignFlowSigner

PARTIES = ("甲方", "乙方", "中介方")
AGENT_PIN = "135790"
AGENT_ID = "110101198001010053"


@pytest.fixture
def world(platform, clock) -> World:
    return build_world(platform, clock)


@pytest.fixture
def served_world(tmp_path, clock):
    """A world whose certificates point at a port where ``yinxin serve`` answers OCSP once
    started: pdfsig (NSS) asks the responder online."""
    port = free_port()
    home = tmp_path / "served"
    p = new_platform(home, clock, f"http://127.0.0.1:{port}")
    yield build_world(p, clock), home, port
    p.close()


def make_agent(world: World) -> Party:
    """A third party: 赵六, an intermediary (中介方) with his own personal seal."""
    p = world.p
    sub = p.subscribers.add_person(name="赵六", id_number=AGENT_ID, phone="13600136000")
    p.subscribers.accept_agreement(sub.id, accepted_by="赵六")
    cert = _issue(p, sub.id, "person-signing", pin=AGENT_PIN)
    seal = p.seals.create(
        subscriber_id=sub.id,
        kind="personal",
        certificate_serial=cert.serial,
        form=_form("赵六", AGENT_ID),
    )
    return Party("中介方", sub, seal, AGENT_PIN, "13600136000")


def _docs(parties=PARTIES) -> list[tuple[str, bytes]]:
    return [
        ("技术服务合同.pdf", contract_pdf(1, parties=parties)),
        ("补充协议.pdf", contract_pdf(2, parties=parties, title="补充协议")),
    ]


def _spec(party: Party, order: int | None = None) -> SignerSpec:
    return SignerSpec(party.id, party.role, party.seal.es_id, order=order)


def _codes_sent(w: World, phone: str) -> int:
    if not w.outbox.exists():
        return 0
    return sum(
        1
        for line in w.outbox.read_text("utf-8").splitlines()
        if json.loads(line).get("to") == phone
        and json.loads(line)["template_id"] == "one_time_code"
    )


def _links_sent(w: World, phone: str, template: str) -> list[str]:
    out = []
    for line in w.outbox.read_text("utf-8").splitlines():
        msg = json.loads(line)
        if msg.get("to") == phone and msg["template_id"] == template:
            out.append(msg["body"].split("/sign/")[1].split()[0])
    return out


def _sign(w: World, token: str, party: Party, ip: str = "198.51.100.20", advance: bool = False):
    """The signer's side: one code for every document, then one PIN entry."""
    if advance:  # the intent service's one-code-a-minute limit, for a signer's second code
        w.clock.advance(minutes=7)
    before = outbox_lines(w.outbox)
    ch = w.p.flows.request_code(token)
    code = read_code(w.outbox, party.phone, after=before)
    return w.p.flows.sign(
        token, pin=party.pin, challenge_id=ch.challenge_id, code=code, client_ip=ip
    )


def _pyhanko_valid(pdf: bytes, root) -> int:
    trust = a_x509.Certificate.load(root.public_bytes(Encoding.DER))
    n = 0
    for emb in PdfFileReader(io.BytesIO(pdf)).embedded_signatures:
        if emb.sig_object_type != "/Sig":
            continue
        vc = ValidationContext(trust_roots=[trust], allow_fetching=False)
        st = validate_pdf_signature(emb, vc)
        assert st.intact and st.valid and st.trusted, st.pretty_print_details()
        n += 1
    return n


# --- the three-party sequential flow ----------------------------------------------------------
def test_three_parties_in_turn_two_documents_one_code_each(served_world, tmp_path):
    need("pdfsig", "certutil", "pdftotext")
    world, home, port = served_world
    w, p = world, world.p
    agent = make_agent(w)
    docs = _docs()
    parties = [w.jia, w.yi, agent]
    deadline = w.clock.now() + dt.timedelta(days=3)
    flow = p.flows.create(
        "技术服务合同（三方）",
        documents=docs,
        signers=[_spec(x, i + 1) for i, x in enumerate(parties)],
        deadline=deadline,
        owner_subscriber_id=w.org.id,
        actor="经办人 王五",
    )
    assert flow.state == FlowState.DRAFT
    assert [x.state for x in flow.signers] == [SignerState.WAITING] * 3
    started = p.flows.start(flow.id)
    assert started.flow.state == FlowState.STARTED
    assert [x.state for x in started.flow.signers] == ["ready", "waiting", "waiting"]
    assert started.notified == (started.flow.signers[0].id,)
    tokens = [link.token for link in started.links]
    # links are stored hashed only
    with p.db.read() as s:
        hashes = {h for (h,) in s.query(SignFlowLink.token_hash)}
    assert all(t not in hashes and hashlib.sha256(t.encode()).hexdigest() in hashes for t in tokens)
    assert not any(t in str(row) for t in tokens for row in dbdump.cells(p))
    # the first signer was sent their link; the second one's link refuses before their turn
    assert _links_sent(w, w.jia.phone, "sign_request") == [tokens[0]]
    with pytest.raises(IllegalTransition) as e:
        p.flows.signer_for_link(tokens[1])
    assert (e.value.code, e.value.field) == ("not_your_turn", "token")
    with pytest.raises(IllegalTransition):
        p.flows.request_code(tokens[2])

    for i, (party, token) in enumerate(zip(parties, tokens, strict=True)):
        codes = _codes_sent(w, party.phone)
        done = _sign(w, token, party, ip=f"198.51.100.{20 + i}")
        assert _codes_sent(w, party.phone) == codes + 1  # one code for both documents
        assert len(done.records) == 2
        assert done.signer.state == SignerState.SIGNED
        if i < 2:
            nxt = parties[i + 1]
            assert done.flow.state == FlowState.STARTED
            assert done.flow.signers[i + 1].state == SignerState.READY
            # the next signer got a message with a fresh link of their own; it opens their turn
            [sent] = _links_sent(w, nxt.phone, "sign_request")
            assert sent != tokens[i + 1]
            assert p.flows.signer_for_link(sent).signer.id == done.flow.signers[i + 1].id
        with pytest.raises(Conflict if i < 2 else IllegalTransition):  # signed, or all done
            p.flows.signer_for_link(token)
    final = p.flows.get(flow.id)
    assert final.state == FlowState.COMPLETED and final.finished_at is not None
    with pytest.raises(IllegalTransition) as e:
        p.flows.signer_for_link(tokens[2])
    assert e.value.code == "flow_completed"
    # everyone (and the owner organization) was told
    for phone in (w.jia.phone, w.yi.phone, agent.phone, "13900139000"):
        assert len(_links_sent_any(w, phone, "flow_completed")) == 1

    # the final files: three signatures each, valid in pdfsig and pyHanko
    root = p.ca.certificate("root")
    nss = nss_trusting(tmp_path / "nss", root)
    files = {}
    with running_server(home, port=port, args=["--no-jobs"]):  # OCSP for pdfsig only
        for d, (_name, original) in zip(final.documents, docs, strict=True):
            got = p.flows.download(flow.id, d.id)
            assert hashlib.sha256(got.pdf).hexdigest() == d.current_sha256 == got.sha256
            assert d.original_sha256 == hashlib.sha256(original).hexdigest() != d.current_sha256
            assert got.pdf.startswith(original)  # incremental updates over the original
            path = tmp_path / f"{d.id}.pdf"
            path.write_bytes(got.pdf)
            blocks = pdfsig(path, nss)
            assert len(blocks) == 3, blocks
            for block in blocks:
                assert "Signature is Valid." in block and "Certificate is Trusted." in block, block
            assert _pyhanko_valid(got.pdf, root) == 3
            files[d.id] = got.pdf

    # the evidence report
    ev = p.flows.evidence(flow.id)
    for d in ev.documents:
        assert d.sha256_final == hashlib.sha256(files[d.id]).hexdigest()
    assert [d.sha256_original for d in ev.documents] == [
        hashlib.sha256(x).hexdigest() for _n, x in docs
    ]
    assert [x.client_ip for x in ev.parties] == ["198.51.100.20", "198.51.100.21", "198.51.100.22"]
    jia, yi, zhao = ev.parties
    assert (jia.name, jia.identity, jia.acting_for) == ("王五", "350***********3455", w.org.name)
    assert jia.acting_for_identity == "911***********0030"
    assert yi.identity == "110***********1239" and zhao.identity == "110***********0053"
    assert jia.certificate_serials == (w.org_cert.serial,)
    assert yi.certificate_serials == (w.person_cert.serial,)
    for x, party in zip(ev.parties, parties, strict=True):
        assert (
            x.intent is not None and x.intent.sent_to == party.phone[:3] + "****" + party.phone[-4:]
        )
        assert x.intent.confirmed_at is not None and x.signed_at is not None
        # each document's chain of versions: this signer's "after" is the next one's "before"
        assert len(x.signatures) == 2
    for k in range(2):
        chain = [x.signatures[k] for x in ev.parties]
        assert chain[0].sha256_before == ev.documents[k].sha256_original
        assert all(
            a.sha256_after == b.sha256_before for a, b in zip(chain, chain[1:], strict=False)
        )
        assert chain[-1].sha256_after == ev.documents[k].sha256_final
    text = json.dumps(plain(ev), ensure_ascii=False)
    for secret in ("110105199003071239", "350102198511223455", AGENT_ID, "91110108MA01YX0030"):
        assert secret not in text
    # the audit events quoted carry the chain's own hashes, and the chain holds
    actions = [e.action for e in ev.events]
    for a in ("flow.created", "flow.started", "flow.signer_signed", "flow.completed"):
        assert a in actions
    assert actions.count("flow.signer_signed") == 3 and actions.count("document.signed") == 6
    with p.db.read() as s:
        for e in ev.events:
            assert s.get(AuditEvent, e.seq).hash == e.hash
    assert p.verify_audit().ok

    pdf = p.flows.evidence_pdf(flow.id)
    (tmp_path / "evidence.pdf").write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-layout", str(tmp_path / "evidence.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    flat = "".join(out.split())
    for needle in (
        "签署流程出证报告",
        "技术服务合同（三方）",
        "王五",
        "张三",
        "赵六",
        "350***********3455",
        "198.51.100.21",
        ev.documents[0].sha256_final,
        ev.documents[1].sha256_original,
        ev.events[-1].hash,
        "137****7000",
    ):
        assert needle in flat, needle
    assert "110105199003071239" not in flat


def _links_sent_any(w: World, phone: str, template: str) -> list[dict]:
    return [
        m
        for m in map(json.loads, w.outbox.read_text("utf-8").splitlines())
        if m.get("to") == phone and m["template_id"] == template
    ]


# --- parallel ---------------------------------------------------------------------------------
def test_parallel_flow_everyone_at_once_any_order(world):
    w, p = world, world.p
    docs = _docs(("甲方", "乙方"))
    flow = p.flows.create(
        "采购合同",
        documents=docs,
        signers=[_spec(w.jia, 1), _spec(w.yi, 1)],  # the same turn is fine in parallel
        order="parallel",
        deadline=w.clock.now() + dt.timedelta(days=1),
    )
    started = p.flows.start(flow.id)
    assert [x.state for x in started.flow.signers] == ["ready", "ready"]
    assert len(started.notified) == 2
    jia_token, yi_token = (link.token for link in started.links)
    first = _sign(w, yi_token, w.yi)  # 乙方 first
    assert first.flow.state == FlowState.STARTED
    assert [x.state for x in first.flow.signers] == ["ready", "signed"]
    last = _sign(w, jia_token, w.jia)
    assert last.flow.state == FlowState.COMPLETED
    for d in last.flow.documents:
        pdf = p.flows.download(flow.id, d.id).pdf
        assert len(PdfFileReader(io.BytesIO(pdf)).embedded_signatures) == 2


def test_a_signer_whose_grant_cannot_cover_the_flow_gets_no_code(world):
    """The link's code request names the signer's seal: a member whose grant has fewer uses
    left than the flow's documents is refused (403 ``grant_used_up``) before any SMS, with
    nothing written — as ``/batches/code`` with a seal. Before, the code went out and only
    signing refused."""
    w, p = world, world.p
    p.seals.withdraw(w.jia.seal.es_id, w.member.id, actor="单位管理员")
    p.seals.grant(w.jia.seal.es_id, w.member.id, actor="单位管理员", max_uses=1)
    flow = p.flows.create(
        "采购合同",
        documents=_docs(("甲方", "乙方")),  # two documents, one use left
        signers=[_spec(w.jia, 1), _spec(w.yi, 1)],
        order="parallel",
        deadline=w.clock.now() + dt.timedelta(days=1),
    )
    jia_token = p.flows.start(flow.id).links[0].token
    mark, before = outbox_lines(w.outbox), dbdump.dump(p)
    with pytest.raises(Forbidden) as e:
        p.flows.request_code(jia_token)
    assert (e.value.code, e.value.field) == ("grant_used_up", "member_subscriber_id")
    assert outbox_lines(w.outbox) == mark  # no SMS
    assert dbdump.diff(before, dbdump.dump(p)) == []


def test_a_parallel_signer_who_lost_the_race_signs_again(world, monkeypatch):
    """Two signers of a parallel flow both sign the same version: the second to record is
    refused (the documents moved) and signs the new version with a new code."""
    w, p = world, world.p
    flow = p.flows.create(
        "并行合同",
        documents=_docs(("甲方", "乙方")),
        signers=[_spec(w.jia), _spec(w.yi)],
        order="parallel",
        deadline=w.clock.now() + dt.timedelta(days=1),
    )
    jia_token, yi_token = (link.token for link in p.flows.start(flow.id).links)
    # 甲方 asks for a code on the original versions, then 乙方 signs first
    before = outbox_lines(w.outbox)
    ch = p.flows.request_code(jia_token)
    code = read_code(w.outbox, w.jia.phone, after=before)
    _sign(w, yi_token, w.yi)
    # 甲方's code covered the old versions: the batch signer refuses it (wrong list)
    with pytest.raises(Exception):  # noqa: B017 - the batch's own refusal
        p.flows.sign(jia_token, pin=w.jia.pin, challenge_id=ch.challenge_id, code=code)
    assert _sign(w, jia_token, w.jia, advance=True).flow.state == FlowState.COMPLETED


def test_the_second_signer_s_signing_judges_each_earlier_signature_once(world, monkeypatch):
    """A flow's signer signs through the batch signer: the signature the first signer left on
    each document was judged twice by that one call (before the PIN and by the sealing of the
    same bytes), now once; the code request, a call of its own, judges it too."""
    w, p = world, world.p
    flow = p.flows.create(
        "先后合同",
        documents=_docs(("甲方", "乙方")),
        signers=[_spec(w.yi, 1), _spec(w.jia, 2)],
        deadline=w.clock.now() + dt.timedelta(days=1),
    )
    yi_token = p.flows.start(flow.id).links[0].token
    _sign(w, yi_token, w.yi)
    (jia_token,) = _links_sent(w, w.jia.phone, "sign_request")
    judged = count_earlier_checks(monkeypatch)
    w.clock.advance(minutes=7)
    before = outbox_lines(w.outbox)
    ch = p.flows.request_code(jia_token)
    assert judged == [1, 1]
    judged.clear()
    code = read_code(w.outbox, w.jia.phone, after=before)
    done = p.flows.sign(jia_token, pin=w.jia.pin, challenge_id=ch.challenge_id, code=code)
    assert judged == [1, 1]
    assert done.flow.state == FlowState.COMPLETED


# --- deadline, extend, expire -----------------------------------------------------------------
def test_deadline_extend_and_expiry_with_a_moving_clock(world):
    w, p = world, world.p
    flow = p.flows.create(
        "限期合同",
        documents=_docs(("甲方", "乙方"))[:1],
        signers=[_spec(w.jia), _spec(w.yi)],
        deadline=w.clock.now() + dt.timedelta(hours=2),
    )
    token = p.flows.start(flow.id).links[0].token
    with pytest.raises(ValidationError) as e:  # not earlier than now
        p.flows.extend(flow.id, w.clock.now() + dt.timedelta(hours=1))
    assert e.value.field == "deadline"
    later = w.clock.now() + dt.timedelta(hours=5)
    extended = p.flows.extend(flow.id, later)
    assert extended.state == FlowState.STARTED and extended.deadline == later
    w.clock.advance(hours=4)
    assert p.flows.expire_due().expired == ()  # extended: not yet due
    assert p.flows.signer_for_link(token).flow.id == flow.id
    w.clock.advance(hours=2)
    with pytest.raises(IllegalTransition) as e:  # past the deadline, before the job ran
        p.flows.signer_for_link(token)
    assert e.value.code == "flow_expired"
    assert p.flows.expire_due().expired == (flow.id,)
    assert p.flows.expire_due().expired == ()  # idempotent
    after = p.flows.get(flow.id)
    assert after.state == FlowState.EXPIRED
    assert [x.state for x in after.signers] == ["expired", "expired"]
    with pytest.raises(IllegalTransition):
        p.flows.extend(flow.id, w.clock.now() + dt.timedelta(days=1))
    with p.db.read() as s:
        assert (
            s.query(AuditEvent)
            .filter(AuditEvent.action == "flow.expired", AuditEvent.subject_id == str(flow.id))
            .count()
            == 1
        )


# --- urge -------------------------------------------------------------------------------------
def test_urge_once_an_hour_with_a_fresh_link(world):
    w, p = world, world.p
    flow = p.flows.create(
        "催签合同",
        documents=_docs(("甲方", "乙方"))[:1],
        signers=[_spec(w.jia), _spec(w.yi)],
        deadline=w.clock.now() + dt.timedelta(days=2),
    )
    started = p.flows.start(flow.id)
    jia, yi = started.flow.signers
    with pytest.raises(IllegalTransition):  # not their turn: nothing to urge
        p.flows.urge(flow.id, yi.id)
    urged = p.flows.urge(flow.id, jia.id)
    assert urged.sent_to == "137****7000" and urged.notification_status == "sent"
    [link] = _links_sent(w, w.jia.phone, "sign_urge")
    assert p.flows.signer_for_link(link).signer.id == jia.id
    w.clock.advance(minutes=59)
    with pytest.raises(RateLimited) as e:
        p.flows.urge(flow.id, jia.id)
    assert e.value.retry_after == 60 and e.value.field == "signer_id"
    w.clock.advance(minutes=1)
    p.flows.urge(flow.id, jia.id)
    assert len(_links_sent(w, w.jia.phone, "sign_urge")) == 2
    with p.db.read() as s:
        assert (
            s.query(AuditEvent)
            .filter(AuditEvent.action == "flow.urged", AuditEvent.subject_id == str(flow.id))
            .count()
            == 2
        )
    # the link is masked in the send log
    assert not any(link in str(n.body) for n in p.notifier.log(limit=100))


# --- cancel, decline, bad links ---------------------------------------------------------------
def test_cancel_then_signing_is_refused(world):
    w, p = world, world.p
    flow = p.flows.create(
        "撤回合同",
        documents=_docs(("甲方", "乙方"))[:1],
        signers=[_spec(w.jia), _spec(w.yi)],
        deadline=w.clock.now() + dt.timedelta(days=2),
    )
    token = p.flows.start(flow.id).links[0].token
    with pytest.raises(ValidationError) as e:
        p.flows.cancel(flow.id, "  ")
    assert e.value.field == "reason"
    cancelled = p.flows.cancel(flow.id, "合同条款需修改")
    assert cancelled.state == FlowState.CANCELLED and cancelled.reason == "合同条款需修改"
    assert {x.state for x in cancelled.signers} == {SignerState.CANCELLED}
    for call in (
        lambda: p.flows.signer_for_link(token),
        lambda: p.flows.request_code(token),
        lambda: p.flows.sign(token, pin=w.jia.pin, challenge_id="x" * 32, code="123456"),
    ):
        with pytest.raises(IllegalTransition) as e:
            call()
        assert e.value.code == "flow_cancelled"
    with pytest.raises(IllegalTransition):
        p.flows.cancel(flow.id, "again")
    with p.db.read() as s:
        assert s.query(AuditEvent).filter(AuditEvent.action == "document.signed").count() == 0


def test_decline_ends_the_flow(world):
    w, p = world, world.p
    flow = p.flows.create(
        "拒签合同",
        documents=_docs(("甲方", "乙方"))[:1],
        signers=[_spec(w.jia), _spec(w.yi)],
        order="parallel",
        deadline=w.clock.now() + dt.timedelta(days=2),
    )
    yi_token = p.flows.start(flow.id).links[1].token
    for blank in ("  ", "x" * 501):  # refused before the flow is touched
        with pytest.raises(ValidationError) as e:
            p.flows.decline(yi_token, blank)
        assert (e.value.message, e.value.field) == (NO_REASON, "reason")
    after = p.flows.decline(yi_token, "价格有误", client_ip="192.0.2.9")
    assert after.state == FlowState.CANCELLED and "价格有误" in after.reason
    assert [x.state for x in after.signers] == ["cancelled", "declined"]
    assert after.signers[1].client_ip == "192.0.2.9"
    ev = p.flows.evidence(flow.id)
    assert ev.parties[1].declined_reason == "价格有误"
    assert "flow.declined" in [e.action for e in ev.events]


NO_REASON = "须写明原因（1–500 个字符） / give the reason (1–500 characters)"


def _started_pair(w, title: str):
    """A started parallel flow of one document for 甲方 and 乙方, and 乙方's link token: what
    a withdrawal or a decline is refused on."""
    flow = w.p.flows.create(
        title,
        documents=_docs(("甲方", "乙方"))[:1],
        signers=[_spec(w.jia), _spec(w.yi)],
        order="parallel",
        deadline=w.clock.now() + dt.timedelta(days=2),
    )
    return flow, w.p.flows.start(flow.id).links[1].token


def test_a_blank_or_hidden_reason_to_withdraw_or_decline_is_refused_in_both_languages(world):
    """Withdrawing a flow (撤回: ``flow cancel``, ``POST /flows/{id}/cancel``) or declining it
    (拒签: ``POST /sign/{token}/decline``) with a blank reason answered "give the reason
    (1–500 characters)", and with a hidden character in it (U+202E, which shows the reason
    reversed to every party) "contains an invisible or control character U+202E …" — English
    only, where the obligations' reasons and the contract blanks say it in Chinese too. Both
    are "中文 / English" now (the hidden-character one for every field ``refuse_hidden``
    judges), the same field and code (``reason``, invalid, exit 2 / 422), nothing changed."""
    from tests.conftest import cli_env, cli_refuses
    from tests.integration.api_world import keyed_client, problem_of
    from yinxin.errors import halves

    w, p = world, world.p
    flow, yi_token = _started_pair(w, "撤回理由")
    secret = p.api_keys.create(name="oa", role="integration", actor="t").secret
    blank = ("须写明原因（1–500 个字符）", "give the reason (1–500 characters)")
    hidden = (
        "第 3 个字符 U+202E 是不可见字符或控制字符，须为可打印的普通文字",
        "contains an invisible or control character U+202E (RIGHT-TO-LEFT OVERRIDE) at "
        "position 3; it must be plain printable text",
    )
    cases = [(" ", blank), ("价格\u202e有误", hidden)]
    with keyed_client(p, secret) as c:
        for url in (f"/api/v1/flows/{flow.id}/cancel", f"/api/v1/sign/{yi_token}/decline"):
            for reason, said in cases:
                body = problem_of(c.post(url, json={"reason": reason}), 422, "reason", "invalid")
                assert halves(body["detail"]) == said, (url, body)
    for reason, said in cases:
        args = ["flow", "cancel", str(flow.id), "--reason", reason]
        cli_refuses(cli_env(p), args, "reason", said)
    after = p.flows.get(flow.id)  # refused before the flow was touched
    assert after.state == FlowState.STARTED and after.reason is None
    assert [x.state for x in after.signers] == ["ready", "ready"]


def test_an_empty_reason_is_refused_over_the_api_as_a_blank_one(world):
    """Over the API an empty reason to withdraw (``POST /flows/{id}/cancel``) or decline
    (``POST /sign/{token}/decline``) a flow, and one over 500 characters, were refused by the
    body's schema first, in pydantic's English alone ("reason: String should have at least 1
    character"), while a blank one reached the service and was told 须写明原因（1–500 个字符）
    / give the reason …: one rule, two refusals, the web page showing no Chinese for the
    first. All three are the service's refusal now, word for word, nothing written."""
    from tests.integration.api_world import keyed_client, problem_of

    w, p = world, world.p
    flow, yi_token = _started_pair(w, "空白理由")
    secret = p.api_keys.create(name="oa", role="integration", actor="t").secret
    with keyed_client(p, secret) as c:
        before = dbdump.dump(p)
        for url in (f"/api/v1/flows/{flow.id}/cancel", f"/api/v1/sign/{yi_token}/decline"):
            for reason in ("", " \t ", "价" * 501):
                body = problem_of(c.post(url, json={"reason": reason}), 422, "reason", "invalid")
                assert body["detail"] == NO_REASON, (url, reason[:5], body)
    assert dbdump.diff(before, dbdump.dump(p)) == []


@pytest.mark.parametrize("token", ["", "short", "A" * 43, "x" * 500])
def test_unknown_or_malformed_links_are_refused(world, token):
    w, p = world, world.p
    flow = p.flows.create(
        "链接合同",
        documents=_docs(("甲方", "乙方"))[:1],
        signers=[_spec(w.jia)],
        deadline=w.clock.now() + dt.timedelta(days=2),
    )
    real = p.flows.start(flow.id).links[0].token
    assert token != real
    for call in (
        lambda: p.flows.signer_for_link(token),
        lambda: p.flows.request_code(token),
        lambda: p.flows.decline(token, "no"),
    ):
        with pytest.raises(NotFound) as e:
            call()
        assert e.value.field == "token"
    # a link differing in one character is another link
    with pytest.raises(NotFound):
        p.flows.signer_for_link(real[:-1] + ("A" if real[-1] != "A" else "B"))


# --- bad input: refused naming the field, nothing written -------------------------------------
def _encrypted(pdf: bytes) -> bytes:
    """``pdf`` under an owner password and an empty user password: it opens without one."""
    import io

    from pyhanko.pdf_utils.crypt import StandardSecurityHandler
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.pdf_utils.writer import copy_into_new_writer

    w = copy_into_new_writer(PdfFileReader(io.BytesIO(pdf)))
    w._assign_security_handler(StandardSecurityHandler.build_from_pw("owner", ""))
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _bad_cases(w: World):
    ok_docs = _docs(("甲方", "乙方"))
    good = [_spec(w.jia, 1), _spec(w.yi, 2)]
    later = w.clock.now() + dt.timedelta(days=1)
    return {
        "no signers": (dict(signers=[]), "signers"),
        "signer without a seal": (
            dict(signers=[good[0], SignerSpec(w.yi.id, "乙方", None)]),
            "signers[1].seal",
        ),
        "seal of someone else": (
            dict(signers=[good[0], SignerSpec(w.yi.id, "乙方", w.jia.seal.es_id)]),
            "signers[1].seal",
        ),
        "duplicate order": (dict(signers=[_spec(w.jia, 1), _spec(w.yi, 1)]), "signers[1].order"),
        "non-PDF": (
            dict(documents=[ok_docs[0], ("说明.pdf", b"just some text, not a PDF")]),
            "documents[1].pdf",
        ),
        "the same PDF twice": (
            dict(documents=[ok_docs[0], ("copy.pdf", ok_docs[0][1])]),
            "documents[1].pdf",
        ),
        "no documents": (dict(documents=[]), "documents"),
        "deadline in the past": (
            dict(deadline=w.clock.now() - dt.timedelta(minutes=1)),
            "deadline",
        ),
        "unknown role": (
            dict(signers=[good[0], SignerSpec(w.yi.id, "丁方", w.yi.seal.es_id)]),
            "signers[1].role",
        ),
        "unknown subscriber": (
            dict(signers=[good[0], SignerSpec(99999, "乙方", w.yi.seal.es_id)]),
            "signers[1].subscriber_id",
        ),
        "anchor not in a document": (
            dict(
                signers=[good[0], SignerSpec(w.yi.id, "中介方", w.yi.seal.es_id)],
            ),
            "signers[1].placement",
        ),
        "page beyond a document": (
            dict(
                signers=[
                    good[0],
                    SignerSpec(
                        w.yi.id,
                        "乙方",
                        w.yi.seal.es_id,
                        placement=Placement(page=9, x_mm=20, y_mm=20),
                    ),
                ]
            ),
            "signers[1].placement",
        ),
        # inside 0–2000 mm but off an A4 page: made and started, a code sent, then every
        # signing refused "outside_page" — a placement the signer cannot change
        "seal beyond the page's edge": (
            dict(
                signers=[
                    good[0],
                    SignerSpec(
                        w.yi.id,
                        "乙方",
                        w.yi.seal.es_id,
                        placement=Placement(page=1, x_mm=500, y_mm=20),
                    ),
                ]
            ),
            "signers[1].placement",
        ),
        # the anchor is on page 2 of the second document, the signer's seal asked on page 1:
        # signing looks on that page only and was refused "anchor_not_found" every time
        "anchor not on the page named": (
            dict(
                signers=[
                    good[0],
                    SignerSpec(
                        w.yi.id,
                        "乙方",
                        w.yi.seal.es_id,
                        placements={1: Placement(anchor="乙方（签章）", page=1)},
                    ),
                ]
            ),
            "signers[1].placements[1]",
        ),
        "unknown order": (dict(order="random"), "order"),
        # readable, even drawn as pages, but no signer could seal it: the flow was made and
        # started, links and codes sent, and each signer refused at signing ("encrypted")
        "an encrypted PDF": (
            dict(
                documents=[("加密.pdf", _encrypted(ok_docs[0][1]))],
                signers=[
                    SignerSpec(
                        w.yi.id,
                        "乙方",
                        w.yi.seal.es_id,
                        placement=Placement(page=1, x_mm=50, y_mm=50),
                    )
                ],
            ),
            "documents[0].pdf",
        ),
        "empty title": (dict(title=" "), "title"),
        # what the signer consents to must read as it is: U+202E showed the rest reversed
        "title with a bidi override": (dict(title="采购合同\u202e同合售销"), "title"),
        "document name with a zero-width space": (
            dict(documents=[ok_docs[0], ("附件\u200b.pdf", ok_docs[1][1])]),
            "documents[1].name",
        ),
    }, dict(title="合同", documents=ok_docs, signers=good, deadline=later)


CASES = [
    "no signers",
    "signer without a seal",
    "seal of someone else",
    "duplicate order",
    "non-PDF",
    "the same PDF twice",
    "no documents",
    "deadline in the past",
    "unknown role",
    "unknown subscriber",
    "anchor not in a document",
    "page beyond a document",
    "seal beyond the page's edge",
    "anchor not on the page named",
    "unknown order",
    "an encrypted PDF",
    "empty title",
    "title with a bidi override",
    "document name with a zero-width space",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_naming_the_field_and_writes_nothing(world, case):
    w, p = world, world.p
    cases, base = _bad_cases(w)
    change, field = cases[case]
    args = {**base, **change}
    audit_before = dbdump.count(p, AuditEvent)
    with pytest.raises((ValidationError, NotFound)) as e:
        p.flows.create(args.pop("title"), **args)
    assert e.value.field == field, (e.value.field, e.value.message)
    for model in (SignFlow, SignFlowDocument, SignFlowSigner, SignFlowLink):
        assert dbdump.count(p, model) == 0
    assert dbdump.count(p, AuditEvent) == audit_before
    assert not (p.settings.documents_dir / "flows").exists()


@pytest.mark.parametrize(
    "tamper,code",
    [
        (lambda pdf: flip_signed_byte(pdf)[0], "broken_signature"),
        (add_page, "modified_after_signing"),
    ],
    ids=["changed-byte", "added-page"],
)
def test_a_document_altered_after_its_signature_makes_no_flow(world, tamper, code):
    """A PDF 甲方 signed, then changed (a byte inside the signed range, or a page added by an
    incremental update), was taken by ``flows.create`` (API ``POST /flows``, ``flow create``,
    发起签署): the flow made, started, links and codes sent, and every signer refused at
    signing (``broken_signature``, ``modified_after_signing``), as ``sign`` refuses it. It is
    now refused when the flow is made, naming the document with that code, nothing written."""
    from typer.testing import CliRunner

    from tests.conftest import cli_env
    from tests.integration.api_world import keyed_client, problem_of
    from yinxin.adapters.cli import app as cli_app

    w, p = world, world.p
    bad = tamper(sign_as(w, w.jia, contract_pdf(1)).pdf)
    spec = SignerSpec(
        w.yi.id, "乙方", w.yi.seal.es_id, placement=Placement(page=1, x_mm=50, y_mm=50)
    )
    deadline = w.clock.now() + dt.timedelta(days=2)
    secret = p.api_keys.create(name="oa", role="integration", actor="t").secret
    body = {
        "title": "已签合同",
        "documents": [{"name": "已签.pdf", "content_base64": base64.b64encode(bad).decode()}],
        "signers": [
            {
                "subscriber_id": w.yi.id,
                "role": "乙方",
                "seal": w.yi.seal.es_id,
                "placement": {"page": 1, "x_mm": 50, "y_mm": 50},
            }
        ],
        "deadline": deadline.isoformat(),
    }
    pdf = p.settings.home / "已签.pdf"
    pdf.write_bytes(bad)
    env = cli_env(p)
    signer = f"subscriber={w.yi.id},role=乙方,seal={w.yi.seal.es_id},page=1,x=50,y=50"
    with keyed_client(p, secret) as c:
        before, sent = dbdump.dump(p), outbox_lines(w.outbox)
        with pytest.raises(ValidationError) as e:
            p.flows.create(
                "已签合同", documents=[("已签.pdf", bad)], signers=[spec], deadline=deadline
            )
        assert (e.value.field, e.value.code) == ("documents[0].pdf", code), e.value.message
        problem_of(c.post("/api/v1/flows", json=body), 422, "documents[0].pdf", code)
        res = CliRunner().invoke(
            cli_app,
            ["flow", "create", "--title", "已签合同", "--doc", str(pdf), "--signer", signer],
            env=env,
        )
        assert res.exit_code == 2, res.output
        assert res.stderr.startswith("error [doc"), res.stderr
        assert dbdump.dump(p) == before and outbox_lines(w.outbox) == sent
    assert not (p.settings.documents_dir / "flows").exists()


def test_list_pages_by_id_and_narrows_by_owner_and_state(world):
    w, p = world, world.p
    made = []
    for i in range(5):
        f = p.flows.create(
            f"合同 {i}",
            documents=_docs(("甲方", "乙方"))[:1],
            signers=[_spec(w.jia)],
            deadline=w.clock.now() + dt.timedelta(days=2),
            owner_subscriber_id=w.org.id if i % 2 == 0 else None,
        )
        made.append(f.id)
    p.flows.start(made[0])
    page = p.flows.list(limit=2)
    assert [f.id for f in page.items] == made[:2] and page.next_after == made[1]
    page = p.flows.list(limit=2, after=page.next_after)
    assert [f.id for f in page.items] == made[2:4]
    page = p.flows.list(limit=2, after=page.next_after)
    assert [f.id for f in page.items] == made[4:] and page.next_after is None
    assert [f.id for f in p.flows.list(owner_subscriber_id=w.org.id).items] == made[::2]
    assert [f.id for f in p.flows.list(state="started").items] == [made[0]]
    with pytest.raises(ValidationError) as e:
        p.flows.list(state="bogus")
    assert e.value.field == "state"


# --- authorized automatic signing -------------------------------------------------------------
def test_an_organization_signs_under_its_authorization_without_a_code(world):
    w, p = world, world.p
    docs = _docs(("甲方", "乙方"))
    flow = p.flows.create(
        "自动签署合同",
        documents=docs,
        # 甲方 is the organization itself (the seal's holder): it signs by authorization
        signers=[SignerSpec(w.org.id, "甲方", w.jia.seal.es_id), _spec(w.yi)],
        deadline=w.clock.now() + dt.timedelta(days=2),
        owner_subscriber_id=w.org.id,
    )
    started = p.flows.start(flow.id)
    org_signer, yi_signer = started.flow.signers
    auth = p.authorizations.grant(
        w.jia.seal.es_id,
        pin=w.jia.pin,
        granted_by_subscriber_id=w.org.id,
        max_documents=10,
        valid_until=w.clock.now() + dt.timedelta(days=30),
        flow_ids=[flow.id],
    )
    with pytest.raises(IllegalTransition) as e:  # not 乙方's turn: no signing for them
        p.flows.sign_authorized(flow.id, yi_signer.id, auth.id)
    assert e.value.code == "not_your_turn"
    codes = _codes_sent(w, "13900139000")
    done = p.flows.sign_authorized(flow.id, org_signer.id, auth.id)
    assert _codes_sent(w, "13900139000") == codes  # no code
    assert done.signer.state == SignerState.SIGNED
    assert done.signer.authorization_id == str(auth.id) and done.signer.challenge_id is None
    assert p.authorizations.get(auth.id).used_documents == 2
    last = _sign(w, next(x.token for x in started.links if x.signer_id == yi_signer.id), w.yi)
    assert last.flow.state == FlowState.COMPLETED
    ev = p.flows.evidence(flow.id)
    assert ev.parties[0].authorization_id == str(auth.id) and ev.parties[0].intent is None
    assert ev.parties[0].identity == "911***********0030"
    for d in last.flow.documents:
        rep = p.signing.verify(p.flows.download(flow.id, d.id).pdf)
        assert rep.valid and len(rep.signatures) == 2, rep.problems


# --- the command line ---------------------------------------------------------------------------
def test_cli_flow_from_create_to_evidence(tmp_path):
    """``yinxin flow …`` as subprocesses on the system clock: create, start (links printed once),
    show, list, urge, sign with the link from the environment, evidence PDF, download; and a
    refusal's exit code and field."""
    need("pdftotext")
    home = tmp_path / "cli"
    p = new_platform(home)
    w = build_world(p)
    p.close()
    for i, (_name, pdf) in enumerate(_docs(("甲方", "乙方"))):
        (tmp_path / f"{i}.pdf").write_bytes(pdf)
    docs = ["--doc", str(tmp_path / "0.pdf"), "--doc", str(tmp_path / "1.pdf")]
    signers = [
        "--signer",
        f"subscriber={w.jia.id},role=甲方,seal={w.jia.seal.es_id}",
        "--signer",
        f"subscriber={w.yi.id},role=乙方,seal={w.yi.seal.es_id},anchor=乙方（签章）",
    ]
    bad = yinxin_cli(
        [
            "flow",
            "create",
            "--title",
            "合同",
            *docs,
            "--signer",
            f"subscriber={w.yi.id},role=丁方,seal=1",
            "--json",
        ],
        home,
        check=False,
    )
    assert bad.returncode == 2 and json.loads(bad.stdout)["field"] == "signers[0].role"
    flow = yinxin_json(
        ["flow", "create", "--title", "命令行合同", *docs, *signers, "--days", "3"], home
    )
    assert flow["state"] == "draft" and len(flow["documents"]) == 2
    fid = str(flow["id"])
    started = yinxin_json(["flow", "start", fid], home)
    links = [x["url"] for x in started["links"]]
    assert started["flow"]["state"] == "started"
    assert yinxin_json(["flow", "show", fid], home)["signers"][0]["state"] == "ready"
    assert [
        f["id"] for f in yinxin_json(["flow", "list", "--state", "started"], home)["items"]
    ] == [flow["id"]]
    urged = yinxin_json(["flow", "urge", fid, str(started["flow"]["signers"][0]["id"])], home)
    assert urged["sent_to"] == "137****7000"
    for party, link in zip((w.jia, w.yi), links, strict=True):
        before = outbox_lines(w.outbox)
        ch = yinxin_json(["flow", "sign"], home, env={"YINXIN_SIGN_LINK": link})
        code = read_code(w.outbox, party.phone, after=before)
        done = yinxin_json(
            ["flow", "sign", "--challenge", ch["challenge_id"], "--client-ip", "203.0.113.5"],
            home,
            env={"YINXIN_SIGN_LINK": link, "YINXIN_SEAL_PIN": party.pin, "YINXIN_CODE": code},
        )
        assert len(done["records"]) == 2
    assert done["flow"]["state"] == "completed"
    ev = yinxin_json(["flow", "evidence", fid], home)
    assert [x["client_ip"] for x in ev["parties"]] == ["203.0.113.5", "203.0.113.5"]
    written = yinxin_json(["flow", "evidence", fid, "--pdf", str(tmp_path / "ev.pdf")], home)
    text = subprocess.run(
        ["pdftotext", written["out"], "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "命令行合同" in text
    doc_id = str(done["flow"]["documents"][1]["id"])
    got = yinxin_json(["flow", "download", fid, doc_id, "--out", str(tmp_path / "s.pdf")], home)
    data = (tmp_path / "s.pdf").read_bytes()
    assert got["sha256"] == hashlib.sha256(data).hexdigest() == ev["documents"][1]["sha256_final"]
    again = yinxin_cli(["flow", "cancel", fid, "--reason", "迟了", "--json"], home, check=False)
    assert again.returncode == 4 and json.loads(again.stdout)["error"] == "illegal_transition"


def test_a_flow_past_its_deadline_reads_expired_everywhere_before_the_sweep(world):
    """A started flow whose deadline passed, before ``expire_due`` ran (the job runs every few
    minutes), was read as still started: ``flows.get``/``list``, ``GET /flows/{id}``, ``flow
    show``, the evidence report, and the signer's page (``GET /sign/{token}/documents``: a
    signer who had signed saw 已签署 with no word of the expiry). Every reader now derives the
    state from the deadline and the clock — expired, its open signers expired, finished at the
    deadline — without writing; a signer who had not signed is refused, naming the deadline."""
    from typer.testing import CliRunner

    from tests.conftest import cli_env
    from tests.integration.api_world import keyed_client, problem_of
    from yinxin.adapters.cli import app as cli_app
    from yinxin.clock import in_beijing

    w, p = world, world.p
    flow = p.flows.create(
        "逾期合同",
        documents=_docs(("甲方", "乙方"))[:1],
        signers=[_spec(w.jia, 1), _spec(w.yi, 1)],
        order="parallel",
        deadline=w.clock.now() + dt.timedelta(days=1),
    )
    jia_token, yi_token = (link.token for link in p.flows.start(flow.id).links)
    _sign(w, jia_token, w.jia)
    # the deadline passes, on this test's clock and on the system clock the CLI reads
    deadline = w.clock.now() - dt.timedelta(minutes=1)
    with p.db.transaction() as s:
        s.get(SignFlow, flow.id).deadline = deadline
    secret = p.api_keys.create(name="oa", role="integration", actor="t").secret
    before = dbdump.dump(p)

    got = p.flows.get(flow.id)
    assert got.state == FlowState.EXPIRED and got.finished_at == deadline
    assert [x.state for x in got.signers] == ["signed", "expired"]
    assert [f.id for f in p.flows.list(state="expired").items] == [flow.id]
    assert p.flows.list(state="started").items == ()
    assert p.flows.reader_for_link(jia_token).flow.state == FlowState.EXPIRED
    assert p.flows.evidence(flow.id).state == FlowState.EXPIRED
    for refused in (p.flows.signer_for_link, p.flows.reader_for_link, p.flows.request_code):
        with pytest.raises(IllegalTransition) as e:
            refused(yi_token)
        assert (e.value.code, e.value.field) == ("flow_expired", "token")
        assert in_beijing(deadline) in e.value.message, e.value.message
    assert dbdump.dump(p) == before  # reading wrote nothing
    with keyed_client(p, secret) as c:
        assert c.get(f"/api/v1/flows/{flow.id}").json()["state"] == "expired"
        listed = c.get("/api/v1/flows", params={"state": "expired"}).json()["items"]
        assert [f["id"] for f in listed] == [flow.id]
        copy = c.get(f"/api/v1/sign/{jia_token}/documents").json()
        assert copy["flow"]["state"] == "expired" and copy["signer"]["state"] == "signed"
        body = problem_of(c.get(f"/api/v1/sign/{yi_token}"), 409, "token", "flow_expired")
        assert in_beijing(deadline) in body["detail"], body
        # the deadline as data too, for the signer's page to say it (as `retry_after` is)
        assert dt.datetime.fromisoformat(body["deadline"]) == deadline, body
    env = cli_env(p)
    shown = CliRunner().invoke(cli_app, ["flow", "show", str(flow.id), "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["state"] == "expired"
    with p.db.read() as s:
        assert s.get(SignFlow, flow.id).state == "started"  # the readers wrote nothing
    # the sweep, when it runs, stores what the readers said
    assert p.flows.expire_due().expired == (flow.id,)
    after = p.flows.get(flow.id)
    assert (after.state, after.finished_at) == (got.state, got.finished_at)
    assert after.signers == got.signers


def test_a_flow_past_its_deadline_is_not_withdrawn_before_the_sweep(world):
    """A flow read as expired (its deadline passed, ``expire_due`` not run yet) could still be
    withdrawn (撤回): it became ``cancelled`` — GET had said expired, and the sweep found it
    gone. It is refused now as an expired flow is (``flow_expired`` on ``deadline``, naming
    it), nothing written; the sweep expires it."""
    from yinxin.clock import in_beijing

    w, p = world, world.p
    flow = p.flows.create(
        "逾期撤回",
        documents=_docs(("甲方", "乙方"))[:1],
        signers=[_spec(w.jia), _spec(w.yi)],
        deadline=w.clock.now() + dt.timedelta(hours=1),
    )
    p.flows.start(flow.id)
    w.clock.advance(hours=2)
    before = dbdump.dump(p)
    with pytest.raises(IllegalTransition) as e:
        p.flows.cancel(flow.id, "来不及了")
    assert (e.value.code, e.value.field) == ("flow_expired", "deadline")
    assert in_beijing(flow.deadline) in e.value.message, e.value.message
    assert dbdump.dump(p) == before
    assert p.flows.expire_due().expired == (flow.id,)
    assert p.flows.get(flow.id).state == FlowState.EXPIRED
