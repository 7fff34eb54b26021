"""Batch signing (批量签署) end to end: one PIN entry and one one-time code sign a list of
documents, or nothing is signed.

The outputs are judged by tools we did not write (pyHanko's validator with fetching off, and
poppler's ``pdfsig``); refusals are checked against row counts and the archive's files: a refused
batch records nothing, and its code still signs the batch it was sent for.
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import json
from dataclasses import dataclass

import pytest
from asn1crypto import x509 as a_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore
from sqlalchemy import select

from tests.clock import START
from tests.dbdump import count
from tests.fixtures.samples import contract_pdf
from tests.integration.signing_flow import (
    CODE_SPACING,
    World,
    add_page,
    build_world,
    count_earlier_checks,
    encrypted,
    flip_signed_byte,
    need_quiet,
    new_platform,
    outbox_lines,
    pdfsig,
    read_code,
    request_code,
    valid_for_pyhanko_offline,
)
from yinxin.clock import FrozenClock
from yinxin.errors import Conflict, Forbidden, ValidationError, YinxinError
from yinxin.pdf.sign import Placement
from yinxin.signing.batch import BatchItem, BatchResult
from yinxin.signing.intent import manifest_sha256
from yinxin.store.models import AuditEvent
from yinxin.store.models.archive import ArchivedDocument
from yinxin.store.models.authorizations import SigningBatch
from yinxin.store.models.notify import IntentChallenge
from yinxin.store.models.signing import SignatureRecord

DER = serialization.Encoding.DER


def docs(n: int, tag: str) -> list[bytes]:
    return [contract_pdf(1, title=f"{tag}合同{i + 1}") for i in range(n)]


def items_of(pdfs: list[bytes], tag: str = "合同") -> list[BatchItem]:
    return [
        BatchItem(pdf, f"{tag}{i + 1}.pdf", Placement(anchor="甲方（签章）"), "甲方")
        for i, pdf in enumerate(pdfs)
    ]


def ask(w: World, items: list[BatchItem]) -> tuple[str, str, str]:
    """Ask one code for the batch; the challenge id, the code and the SMS text."""
    assert w.clock is not None
    w.clock.advance(seconds=CODE_SPACING.total_seconds())
    before = outbox_lines(w.outbox)
    ch = w.p.batch.request_code(signer_subscriber_id=w.jia.id, items=items)
    lines = w.outbox.read_text("utf-8").splitlines()[before:]
    assert len(lines) == 1  # one message for the whole batch
    return (
        ch.challenge_id,
        read_code(w.outbox, w.jia.phone, after=before),
        json.loads(lines[0])["body"],
    )


def sign(w: World, items, challenge_id, code, **kw) -> BatchResult:
    return w.p.batch.sign(
        items,
        seal=kw.pop("seal", w.jia.seal.es_id),
        pin=kw.pop("pin", w.jia.pin),
        signer_subscriber_id=w.jia.id,
        challenge_id=challenge_id,
        code=code,
        **kw,
    )


def state(w: World) -> tuple:
    """What a signing writes: records, archive rows, batches, and the archive's files."""
    p = w.p
    files = sorted(x.name for x in p.settings.documents_dir.rglob("*") if x.is_file())
    return (
        count(p, SignatureRecord),
        count(p, ArchivedDocument),
        count(p, SigningBatch),
        files,
    )


@dataclass
class Signed:
    w: World
    items: list[BatchItem]
    challenge_id: str
    code: str
    sms: str
    result: BatchResult


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    clock = FrozenClock(START)
    p = new_platform(tmp_path_factory.mktemp("batch"), clock)
    w = build_world(p, clock)
    yield w
    p.close()


@pytest.fixture(scope="module")
def signed(world) -> Signed:
    w = world
    items = items_of(docs(6, "批量"))
    cid, code, sms = ask(w, items)
    result = sign(
        w,
        items,
        cid,
        code,
        client_ip="203.0.113.9",
        actor="api:flow-engine",
        context={"flow_id": 7, "signer_id": 3},
    )
    return Signed(w, items, cid, code, sms, result)


# --- one batch, judged from outside --------------------------------------------------------------
def test_the_code_names_the_batch_and_its_manifest_is_kept(signed):
    w = signed.w
    assert "6 份文件" in signed.sms and "合同1.pdf" in signed.sms
    with w.p.db.read() as s:
        ch = s.get(IntentChallenge, signed.challenge_id)
        assert ch.purpose == "sign_batch" and ch.state == "consumed"
        requested = s.execute(
            select(AuditEvent).where(
                AuditEvent.action == "intent.code_requested",
                AuditEvent.subject_id == signed.challenge_id,
            )
        ).scalar_one()
    data = json.loads(requested.data)
    manifest = [(m["name"], m["sha256"]) for m in data["manifest"]]
    assert [n for n, _ in manifest] == [it.document_name for it in signed.items]
    assert [h for _, h in manifest] == [d.record.sha256_before for d in signed.result.documents]
    assert ch.document_sha256 == manifest_sha256(manifest)
    assert data["documents"] == 6


def test_every_document_validates_with_pyhanko_offline(signed):
    root = a_x509.Certificate.load(signed.w.p.ca.certificate("root").public_bytes(DER))
    assert len(signed.result.documents) == 6
    for doc, item in zip(signed.result.documents, signed.items, strict=True):
        assert doc.pdf.startswith(item.pdf)  # an incremental update of the very document
        reader = PdfFileReader(io.BytesIO(doc.pdf))
        (emb,) = [e for e in reader.embedded_signatures if e.sig_object_type == "/Sig"]
        assert emb.field_name == doc.record.field_name
        valid_for_pyhanko_offline(emb, DocumentSecurityStore.read_dss(reader), root)


def test_every_document_is_valid_for_pdfsig(signed, tmp_path):
    if not need_quiet("pdfsig"):
        pytest.skip("pdfsig missing")
    for i, doc in enumerate(signed.result.documents):
        path = tmp_path / f"{i}.pdf"
        path.write_bytes(doc.pdf)
        (block,) = pdfsig(path)
        assert "Signature is Valid." in block, block


def test_records_archive_and_audit_name_the_batch(signed):
    w, result = signed.w, signed.result
    assert result.challenge_id == signed.challenge_id and result.authorization_id is None
    with w.p.db.read() as s:
        batch = s.execute(select(SigningBatch)).scalar_one()
        recs = {r.id: r for r in s.execute(select(SignatureRecord)).scalars()}
        events = s.execute(
            select(AuditEvent).where(AuditEvent.action == "document.signed")
        ).scalars()
        events = {int(e.subject_id): json.loads(e.data) for e in events}
        summary = s.execute(
            select(AuditEvent).where(AuditEvent.action == "signing.batch_signed")
        ).scalar_one()
    ids = json.loads(batch.signature_record_ids)
    assert ids == [d.record.id for d in result.documents]
    assert batch.intent_challenge == signed.challenge_id and batch.client_ip == "203.0.113.9"
    for pos, rid in enumerate(ids):
        details = json.loads(recs[rid].details)
        assert details["batch_id"] == batch.id and details["batch_position"] == pos
        assert details["client_ip"] == "203.0.113.9" and details["actor"] == "api:flow-engine"
        assert details["context"] == {"flow_id": 7, "signer_id": 3}
        assert recs[rid].intent_challenge == signed.challenge_id
        assert events[rid]["batch_id"] == batch.id
        assert events[rid]["client_ip"] == "203.0.113.9"
        assert events[rid]["context"] == {"flow_id": 7, "signer_id": 3}
        # the archive keeps exactly the file handed back
        assert w.p.archive.signed_file(recs[rid].sha256_after, rid) == result.documents[pos].pdf
    data = json.loads(summary.data)
    assert [d["sha256_after"] for d in data["documents"]] == [
        d.record.sha256_after for d in result.documents
    ]
    assert w.p.verify_audit().ok


def test_a_retry_returns_the_same_files_and_signs_nothing(signed):
    w = signed.w
    before = state(w)
    again = sign(w, signed.items, signed.challenge_id, signed.code)
    assert all(d.replayed for d in again.documents)
    assert [d.pdf for d in again.documents] == [d.pdf for d in signed.result.documents]
    assert [d.record for d in again.documents] == [d.record for d in signed.result.documents]
    assert state(w) == before


# --- refusals: nothing recorded, the code still works ---------------------------------------------
def refused(w: World, fn, exc: type[YinxinError], field: str) -> YinxinError:
    before = state(w)
    with pytest.raises(exc) as info:
        fn()
    assert info.value.field == field, info.value.to_dict()
    assert state(w) == before
    return info.value


BATCHES = itertools.count(1)


@pytest.fixture
def fresh(world) -> tuple[World, list[BatchItem], str, str]:
    """A new batch of five with its code, not yet used."""
    n = next(BATCHES)
    items = items_of(docs(5, f"第{n}批"), f"第{n}批")
    cid, code, _sms = ask(world, items)
    return world, items, cid, code


def test_wrong_code_then_the_right_one(fresh):
    w, items, cid, code = fresh
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    e = refused(w, lambda: sign(w, items, cid, wrong), Forbidden, "code")
    assert e.code == "wrong_code"
    assert len(sign(w, items, cid, code).documents) == 5


# a placement the third document does not take, and the refusal's code: a page it has not, an
# anchor text it does not hold, the seal running off the page
BAD_PLACEMENTS = (
    (Placement(page=9, x_mm=20, y_mm=20), "page_out_of_range"),
    (Placement(anchor="丙方（签章）"), "anchor_not_found"),
    (Placement(page=1, x_mm=200, y_mm=20), "outside_page"),
)


def test_a_wrong_code_with_a_bad_placement_uses_no_try(world):
    """A batch whose third document's seal is placed on a page it has not, by an anchor text it
    does not hold, or at a position where the seal runs off the page, signed with a wrong code:
    the code was checked first and one of its five tries used (``wrong_code``) though sealing
    would refuse that document anyway. The placements are checked before the code now, the
    refusal naming ``items[2].placement`` as sealing names it, the try counter as it was."""
    w = world
    pdfs = docs(3, "错位")
    for n, (placement, error) in enumerate(BAD_PLACEMENTS):
        items = items_of(pdfs, f"错位{n}")
        # the code of the same documents placed well: the placements are not in its manifest
        # (the code request refuses the bad one: test_a_bad_placement_gets_no_code)
        cid, code, _sms = ask(w, items)
        items[2] = BatchItem(items[2].pdf, items[2].document_name, placement, "甲方")
        wrong = f"{(int(code) + 1) % 10**6:06d}"
        go = functools.partial(sign, w, items, cid, wrong)
        e = refused(w, go, ValidationError, "items[2].placement")
        assert e.code == error and e.message.startswith("items[2]: "), e.to_dict()
        with w.p.db.read() as s:
            assert s.get(IntentChallenge, cid).failed_attempts == 0, placement


def test_a_bad_placement_gets_no_code(world):
    """A batch whose third document's seal is placed on a page it has not, by an anchor text it
    does not hold, or (the seal named) at a position where it runs off the page was sent its
    code (an SMS, a challenge) and refused only by the signing that followed. The code request
    refuses it now, as signing does (``items[2].placement``, the same code), nothing sent."""
    w = world
    pdfs = docs(3, "无码错位")
    for n, (placement, error) in enumerate(BAD_PLACEMENTS):
        items = items_of(pdfs, f"无码错位{n}")
        items[2] = BatchItem(items[2].pdf, items[2].document_name, placement, "甲方")
        w.clock.advance(seconds=CODE_SPACING.total_seconds())
        before, sent = state(w), outbox_lines(w.outbox)
        go = functools.partial(
            w.p.batch.request_code,
            signer_subscriber_id=w.jia.id,
            items=items,
            seal=w.jia.seal.es_id,
        )
        e = refused(w, go, ValidationError, "items[2].placement")
        assert e.code == error and e.message.startswith("items[2]: "), e.to_dict()
        assert state(w) == before and outbox_lines(w.outbox) == sent


def test_wrong_pin_keeps_the_code(fresh):
    w, items, cid, code = fresh
    e = refused(w, lambda: sign(w, items, cid, code, pin="000000"), Forbidden, "pin")
    assert e.code == "wrong_pin" and "000000" not in e.message
    assert len(sign(w, items, cid, code).documents) == 5


def test_a_code_for_another_batch_is_refused(fresh, world):
    w, items, cid, code = fresh
    other = items_of(docs(5, "另一批"), "另一批")
    e = refused(w, lambda: sign(w, other, cid, code), Forbidden, "document_sha256")
    assert e.code == "wrong_document"
    # the same documents in another order, or renamed, are another batch too
    refused(w, lambda: sign(w, items[::-1], cid, code), Forbidden, "document_sha256")
    renamed = [BatchItem(it.pdf, "x" + it.document_name, it.placement, it.role) for it in items]
    refused(w, lambda: sign(w, renamed, cid, code), Forbidden, "document_sha256")
    # one document of the batch is not the batch either
    e = refused(w, lambda: sign(w, items[:1], cid, code), Forbidden, "document_sha256")
    assert len(sign(w, items, cid, code).documents) == 5


def test_a_single_document_code_does_not_sign_a_batch(world):
    w = world
    items = items_of(docs(1, "单份"))
    ch, code = request_code(w, w.jia, items[0].pdf)
    refused(w, lambda: sign(w, items, ch.challenge_id, code), Forbidden, "document_sha256")


@pytest.mark.parametrize(
    ("make", "field", "code"),
    [
        (lambda good: [], "items", "invalid"),
        (
            lambda good: [*good[:3], BatchItem(b"hello", "x.pdf"), good[3]],
            "items[3].pdf",
            "not_pdf",
        ),
        (  # sealing refuses it: it was sent a code, and refused only once signing began
            lambda good: [*good[:3], BatchItem(encrypted(good[3].pdf), "x.pdf"), good[4]],
            "items[3].pdf",
            "encrypted",
        ),
        (lambda good: [*good[:3], good[0]], "items[3].pdf", "duplicate"),
        (
            lambda good: [*good[:3], BatchItem(good[3].pdf, good[3].document_name, role="老板")],
            "items[3].role",
            "invalid",
        ),
        (  # the name the signer is shown: U+202E displayed it reversed
            lambda good: [*good[:3], BatchItem(good[3].pdf, "合同\u202efdp.exe")],
            "items[3].document_name",
            "invalid",
        ),
    ],
)
def test_bad_items_are_refused_before_anything(fresh, make, field, code):
    w, items, cid, good_code = fresh
    e = refused(w, lambda: sign(w, make(items), cid, good_code), ValidationError, field)
    assert e.code == code
    e = refused(
        w,
        lambda: w.p.batch.request_code(signer_subscriber_id=w.jia.id, items=make(items)),
        ValidationError,
        field,
    )
    assert len(sign(w, items, cid, good_code).documents) == 5


@pytest.mark.parametrize(
    "tamper,code",
    [
        (lambda pdf: flip_signed_byte(pdf)[0], "broken_signature"),
        (add_page, "modified_after_signing"),
    ],
    ids=["changed-byte", "added-page"],
)
def test_a_document_altered_after_its_signature_gets_no_code(signed, tamper, code):
    """A document of the batch signed and then altered (a byte inside the signed range, or a
    page added) was sent the batch's code and refused only once signing began; no code now."""
    w = signed.w
    bad = tamper(signed.result.documents[0].pdf)
    items = [*items_of(docs(2, "已签之后")), BatchItem(bad, "已签.pdf")]
    before, sent = state(w), outbox_lines(w.outbox)
    e = refused(
        w,
        lambda: w.p.batch.request_code(signer_subscriber_id=w.jia.id, items=items),
        ValidationError,
        "items[2].pdf",
    )
    assert e.code == code and e.message.startswith("items[2]")
    assert state(w) == before and outbox_lines(w.outbox) == sent


def test_101_items_are_refused(world):
    w = world
    # the count is checked before any item is read (signing/batch.py), so 101 distinct files
    # need not be 101 renderings: one contract, and 100 more that differ by a trailing comment
    pdf = contract_pdf(1, title="百")
    many = [BatchItem(pdf + f"%{i}\n".encode() * bool(i), f"{i}.pdf") for i in range(101)]
    e = refused(
        w,
        lambda: w.p.batch.request_code(signer_subscriber_id=w.jia.id, items=many),
        ValidationError,
        "items",
    )
    assert "100" in e.message


def test_a_broken_pdf_in_position_3_signs_nothing(world):
    w = world
    good = docs(5, "坏第四份")
    broken = good[3][:-600] + b"\n%%EOF\n"  # a PDF header and an end, a body cut short
    items = items_of([*good[:3], broken, good[4]], "坏第四份")
    # no code for it: sealing would refuse the file (it was sent one, refused at signing)
    before = outbox_lines(w.outbox)
    e = refused(
        w,
        lambda: w.p.batch.request_code(signer_subscriber_id=w.jia.id, items=items),
        ValidationError,
        "items[3].pdf",
    )
    assert e.message.startswith("items[3]") and outbox_lines(w.outbox) == before
    # signing refuses it too, and the code of the batch with a whole fourth file then signs
    whole = items_of(good, "坏第四份")
    cid, code, _ = ask(w, whole)
    e = refused(w, lambda: sign(w, items, cid, code), ValidationError, "items[3].pdf")
    assert e.message.startswith("items[3]")
    with w.p.db.read() as s:
        assert s.get(IntentChallenge, cid).state == "pending"  # the code was not used
    assert len(sign(w, whole, cid, code).documents) == 5


def test_a_used_code_is_not_taken_twice_for_another_batch(world):
    w = world
    items = items_of(docs(2, "两份"), "两份")
    cid, code, _ = ask(w, items)
    sign(w, items, cid, code)
    other = items_of(docs(2, "又两份"), "又两份")
    refused(w, lambda: sign(w, other, cid, code), Forbidden, "document_sha256")


def test_confirmation_token_path(world):
    """A caller that confirms the code first (an HTTP session) signs with the token once."""
    w = world
    items = items_of(docs(3, "令牌"), "令牌")
    cid, code, _ = ask(w, items)
    digest = manifest_sha256([(i.document_name, hashlib.sha256(i.pdf).hexdigest()) for i in items])
    token = w.p.intent.confirm(cid, code, subscriber_id=w.jia.id, document_sha256=digest)
    res = w.p.batch.sign(
        items,
        seal=w.jia.seal.es_id,
        pin=w.jia.pin,
        signer_subscriber_id=w.jia.id,
        confirmation_token=token.confirmation_token,
    )
    assert len(res.documents) == 3 and res.challenge_id == cid
    again = w.p.batch.sign(
        items,
        seal=w.jia.seal.es_id,
        pin=w.jia.pin,
        signer_subscriber_id=w.jia.id,
        confirmation_token=token.confirmation_token,
    )
    assert all(d.replayed for d in again.documents)
    with pytest.raises((Forbidden, Conflict)):
        w.p.batch.sign(
            items_of(docs(3, "令牌二"), "令牌二"),
            seal=w.jia.seal.es_id,
            pin=w.jia.pin,
            signer_subscriber_id=w.jia.id,
            confirmation_token=token.confirmation_token,
        )


def test_no_pin_or_code_in_the_audit_trail(signed):
    def values(x):
        if isinstance(x, dict):
            for k, v in x.items():
                yield k
                yield from values(v)
        elif isinstance(x, list):
            for v in x:
                yield from values(v)
        else:
            yield x

    w = signed.w
    with w.p.db.read() as s:
        rows = s.execute(select(AuditEvent.data)).scalars().all()
    found = [v for d in rows for v in values(json.loads(d))]
    assert w.jia.pin not in found and signed.code not in found
    assert not any(isinstance(v, str) and v.lower() in ("pin", "code") for v in found)


def test_each_document_s_earlier_signatures_are_judged_once_per_call(signed, monkeypatch):
    """The earlier signatures of a document (their values, what they cover, what came after
    them: ~12 ms each) were judged twice by one ``sign``, before the PIN and again by the
    sealing of the same bytes; now once per call (asking the code, then signing, are two
    calls: each judges them, the file may differ)."""
    w = signed.w
    judged = count_earlier_checks(monkeypatch)
    items = items_of([d.pdf for d in signed.result.documents[:2]], "再签")
    cid, code, _ = ask(w, items)
    assert judged == [1, 1]
    judged.clear()
    result = sign(w, items, cid, code)
    assert judged == [1, 1]
    for d in result.documents:
        assert len(PdfFileReader(io.BytesIO(d.pdf)).embedded_signatures) >= 2
