"""The signing service end to end: seal PIN + one-time code → PAdES B-LT, judged by tools we did
not write (poppler's ``pdfsig`` with NSS, pyHanko's validator) as well as by our verifier.

One module-wide signing: 甲方 (王五, a member granted the organization's contract seal) signs a
two-page contract, then 乙方 (张三, personal seal) signs and locks it. The real ``yinxin serve``
runs on the port the certificates name, so NSS inside pdfsig checks revocation online the way it
would in the field. Refusals run on a second world of their own, each checked against a full
dump of the database: a refused signature writes nothing (the one exception, a wrong seal PIN,
moves the failure counter and nothing else) and returns no PDF.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import keys as a_keys
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from sqlalchemy import select

from tests.clock import START
from tests.dbdump import cells, columns, diff, dump
from tests.fixtures.samples import contract_pdf
from tests.integration.server import free_port, own_key_certificate, running_server
from tests.integration.signing_flow import (
    CODE_SPACING,
    OFFICER,
    Party,
    World,
    add_annotation,
    add_page,
    build_world,
    byte_ranges,
    confirm,
    encrypted,
    flip_signed_byte,
    need,
    need_quiet,
    new_platform,
    nss_trusting,
    outbox_lines,
    pdfsig,
    read_code,
    request_code,
    seal_image_rgb,
    sign_as,
    swap_seal_image,
    valid_for_pyhanko_offline,
)
from yinxin.app import Platform
from yinxin.clock import FrozenClock
from yinxin.errors import Forbidden, ValidationError, YinxinError
from yinxin.identity import id_card_check_char
from yinxin.notify.templates import MASK
from yinxin.pdf.sign import Placement, SigningError
from yinxin.pdf.verify import VerificationReport
from yinxin.signing.service import SignedDocument
from yinxin.store.models import AuditEvent
from yinxin.store.models.notify import Notification

DER = serialization.Encoding.DER


def id_number(body: str) -> str:
    return body + id_card_check_char(body)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the module-wide two-party signing ------------------------------------------------------------
@dataclass
class Flow:
    w: World
    home: Path
    port: int
    original: bytes
    first: SignedDocument  # after 甲方
    second: SignedDocument  # after 乙方, locked
    challenges: list[str]
    codes: list[str]

    @property
    def p(self) -> Platform:
        return self.w.p

    @property
    def root(self) -> x509.Certificate:
        return self.p.ca.certificate("root")

    def stages(self) -> list[tuple[str, bytes, int]]:
        return [("after-jia", self.first.pdf, 1), ("after-yi", self.second.pdf, 2)]


@pytest.fixture(scope="module")
def flow(tmp_path_factory) -> Flow:
    home = tmp_path_factory.mktemp("signing-flow")
    port = free_port()
    clock = FrozenClock(START)
    p = new_platform(home, clock, f"http://127.0.0.1:{port}")
    w = build_world(p, clock)
    original = contract_pdf(2, title="技术服务合同")
    challenges, codes, signed = [], [], []
    doc = original
    for party, lock in ((w.jia, False), (w.yi, True)):
        ch, code = request_code(w, party, doc)
        token = p.signing.confirm(
            ch.challenge_id, code, signer_subscriber_id=party.id, document=doc
        ).confirmation_token
        result = sign_as(w, party, doc, token=token, lock=lock)
        challenges.append(ch.challenge_id)
        codes.append(code)
        signed.append(result)
        doc = result.pdf
    (home / "contract.pdf").write_bytes(original)
    (home / "after-jia.pdf").write_bytes(signed[0].pdf)
    (home / "after-yi.pdf").write_bytes(signed[1].pdf)
    yield Flow(w, home, port, original, signed[0], signed[1], challenges, codes)
    p.close()


@pytest.fixture(scope="module")
def status_server(flow):
    """``yinxin serve`` on the port in the certificates' AIA/CRL URLs (OCSP for pdfsig). Without
    its job runner: the refusal checks dump ``flow.p``'s whole database, and a job run written
    by the server in between would read as a half-applied refusal."""
    with running_server(flow.home, port=flow.port, args=["--no-jobs"]) as srv:
        yield srv


@pytest.fixture(scope="module")
def nss(flow, tmp_path_factory) -> Path:
    need("certutil")
    return nss_trusting(tmp_path_factory.mktemp("nss"), flow.root)


def cert_serial(w: World, party: Party) -> str:
    return (w.org_cert if party is w.jia else w.person_cert).serial


def same_serial(a: str, b: str) -> bool:
    return int(a.replace(":", ""), 16) == int(b.replace(":", ""), 16)


def test_each_signature_verifies_with_our_verifier(flow):
    w = flow.w
    for stage, pdf, n in flow.stages():
        rep = flow.p.signing.verify(pdf, file_name=f"{stage}.pdf")
        assert isinstance(rep, VerificationReport)
        assert rep.valid, rep.to_text()
        assert rep.sha256 == sha(pdf) and rep.problems == []
        assert len(rep.signatures) == n
        for sig, party in zip(rep.signatures, (w.jia, w.yi), strict=False):
            assert sig.valid and sig.intact and sig.trusted, sig.problems
            assert sig.timestamp_time is not None and sig.timestamp_valid is True
            assert sig.timestamp_authority and "Timestamp" in sig.timestamp_authority
            assert sig.level == "B-LT"
            assert sig.revoked is False and sig.revocation_source == "embedded"
            assert sig.certificate_valid_at_signing
            assert sig.changes_after in ("none", "allowed")
            assert sig.role == party.role
            assert sig.seal_kind == party.seal.kind and sig.seal_name == party.seal.name
            assert same_serial(sig.certificate_serial, cert_serial(w, party))
            assert sig.problems == []
    # 甲方 signs for the organization (its certificate), 乙方 as himself
    names = [s.signer_name for s in flow.p.signing.verify(flow.second.pdf).signatures]
    assert names == [w.org.name, w.person.name]
    # the original bytes are untouched: each signature appends
    assert flow.first.pdf.startswith(flow.original)
    assert flow.second.pdf.startswith(flow.first.pdf)


def test_the_stamps_are_the_seals_images(flow):
    """The widget of each signature shows that party's seal: the image pixels in the PDF are the
    seal's PNG (RGB; the alpha is a separate soft mask)."""
    for i, party in enumerate((flow.w.jia, flow.w.yi)):
        png = flow.p.seals.artifacts(party.seal.es_id)["seal.png"]
        with Image.open(io.BytesIO(png)) as im:
            rgb = im.convert("RGBA").convert("RGB").tobytes()
        assert seal_image_rgb(flow.second.pdf, i) == rgb


def test_pdfsig_says_valid_and_trusted(flow, status_server, nss):
    need("pdfsig")
    for stage, _pdf, n in flow.stages():
        path = flow.home / f"{stage}.pdf"
        plain = pdfsig(path)
        assert len(plain) == n, plain
        assert all("Signature is Valid." in b for b in plain), plain
        trusted = pdfsig(path, nss)
        assert len(trusted) == n
        for block in trusted:
            assert "Signature is Valid." in block, block
            assert "Certificate is Trusted." in block, block
            assert "ETSI.CAdES.detached" in block


def test_pyhanko_validates_b_lt_with_fetching_off(flow):
    root = a_x509.Certificate.load(flow.root.public_bytes(DER))
    for _stage, pdf, n in flow.stages():
        reader = PdfFileReader(io.BytesIO(pdf))
        sigs = [e for e in reader.embedded_signatures if e.sig_object_type == "/Sig"]
        assert len(sigs) == n
        dss = DocumentSecurityStore.read_dss(reader)
        for emb in sigs:
            valid_for_pyhanko_offline(emb, dss, root)
    # 乙方's signature locks the document: FieldMDP over every field, /P 1
    last = PdfFileReader(io.BytesIO(flow.second.pdf)).embedded_signatures[-1]
    assert last.docmdp_level == MDPPerm.NO_CHANGES and last.fieldmdp is not None
    first = PdfFileReader(io.BytesIO(flow.first.pdf)).embedded_signatures[0]
    assert first.docmdp_level is None


def test_records_and_audit(flow):
    p, w = flow.p, flow.w
    recs = p.signing.records()
    assert len(recs) == 2
    docs = [flow.original, flow.first.pdf, flow.second.pdf]
    for i, (rec, party) in enumerate(zip(recs, (w.jia, w.yi), strict=True)):
        assert rec == (flow.first, flow.second)[i].record
        assert rec.sha256_before == sha(docs[i]) and rec.sha256_after == sha(docs[i + 1])
        assert rec.es_id == party.seal.es_id and rec.role == party.role
        assert rec.signer_subscriber_id == party.id and rec.level == "B-LT"
        assert same_serial(rec.certificate_serial, cert_serial(w, party))
        assert rec.lock is (party is w.yi)
        assert rec.document_name == "技术服务合同.pdf"
    assert [r.id for r in p.signing.records(sha256=sha(flow.first.pdf))] == [1, 2]
    assert p.signing.records(sha256=sha(b"something else")) == []
    # the evidence names the intent confirmation each signature consumed, and its field
    assert [r.intent_challenge for r in recs] == flow.challenges
    fields_in_pdf = [s.field_name for s in p.signing.verify(flow.second.pdf).signatures]
    assert [r.field_name for r in recs] == fields_in_pdf

    verdict = p.verify_audit()
    assert verdict.ok, verdict
    with p.db.read() as s:
        events = [
            (e.action, e.subject_id, json.loads(e.data))
            for e in s.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars()
        ]
    signed = [e for e in events if e[0] == "document.signed"]
    assert [(e[1], e[2]["sha256_after"], e[2]["role"]) for e in signed] == [
        (str(r.id), r.sha256_after, r.role) for r in recs
    ]
    for cid in flow.challenges:
        mine = [a for a, subject, _ in events if subject == cid]
        assert mine == ["intent.code_requested", "intent.confirmed", "intent.consumed"]


def test_the_code_reaches_the_phone_but_no_database_column(flow):
    p = flow.p
    sms = [json.loads(line) for line in flow.w.outbox.read_text("utf-8").splitlines()]
    for party, code in zip((flow.w.jia, flow.w.yi), flow.codes, strict=True):
        assert any(m["to"] == party.phone and code in m["body"] for m in sms)
    with p.db.read() as s:
        bodies = [
            n.body
            for n in s.execute(
                select(Notification).where(Notification.template_id == "one_time_code")
            ).scalars()
        ]
    assert len(bodies) == 2 and all(MASK in b for b in bodies)
    leaks = []
    for code in flow.codes:
        # bounded by non-hex characters, so a hash or serial that happens to hold the six
        # digits is no false alarm, while "验证码为 123456，" or a bare "123456" is found
        pattern = re.compile(rf"(?<![0-9A-Fa-f]){code}(?![0-9A-Fa-f])")
        for table, column, value in cells(p):
            text = value.decode("latin-1") if isinstance(value, bytes | bytearray) else str(value)
            if pattern.search(text):
                leaks.append((table, column))
    assert leaks == []


# --- after the lock -------------------------------------------------------------------------------
def csr_signer(p: Platform, name: str = "赵六") -> tuple[ec.EllipticCurvePrivateKey, dict]:
    """A person holding their own key: CSR → certificate through the registry services."""
    return own_key_certificate(
        p, name=name, id_number="11010519920815234X", phone="13900139001", officer=OFFICER
    )


def pyhanko_sign(
    pdf: bytes, key: ec.EllipticCurvePrivateKey, cert_pem: str, chain: list[x509.Certificate]
) -> bytes:
    """A signature added by other software that does not honour the lock."""
    cert = a_x509.Certificate.load(
        x509.load_pem_x509_certificate(cert_pem.encode()).public_bytes(DER)
    )
    signer = signers.SimpleSigner(
        signing_cert=cert,
        signing_key=a_keys.PrivateKeyInfo.load(
            key.private_bytes(DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        ),
        cert_registry=SimpleCertificateStore.from_certs(
            [a_x509.Certificate.load(c.public_bytes(DER)) for c in chain]
        ),
    )
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)),
        signers.PdfSignatureMetadata(field_name="Signature3"),
        signer=signer,
        new_field_spec=fields.SigFieldSpec("Signature3", box=(300, 60, 400, 110), on_page=-1),
    )
    return out.getvalue()


def test_a_third_signature_after_the_lock_is_refused(flow):
    w, p = flow.w, flow.p
    locked = flow.second.pdf
    # no code for it: it was sent one, and refused only once the code was typed in
    sent = outbox_lines(w.outbox)
    refused(
        p,
        lambda: p.signing.request_confirmation(
            signer_subscriber_id=w.jia.id, document=locked, document_name="已锁定.pdf"
        ),
        SigningError,
        "locked",
        "pdf",
    )
    assert outbox_lines(w.outbox) == sent and len(p.signing.records()) == 2

    # Software that ignores the lock can still append a signature — with a certificate our CA
    # issued, so the only fault is the lock: the verifier then fails 乙方's locking signature.
    key, cert = csr_signer(p)
    forced = pyhanko_sign(locked, key, cert.pem, p.ca.chain())
    rep = p.signing.verify(forced)
    assert not rep.valid
    jia, yi, third = rep.signatures
    assert yi.field_name == "Signature2" and not yi.valid and yi.changes_after == "other"
    assert yi.intact  # its own bytes are fine: what broke is the promise of no more changes
    assert third.field_name == "Signature3" and third.intact and third.trusted
    assert jia.intact


# --- tampering ------------------------------------------------------------------------------------
def test_one_changed_byte_breaks_every_signature(flow, tmp_path):
    for stage, pdf, n in flow.stages():
        broken, pos = flip_signed_byte(pdf)
        assert all(a <= pos < a + ln for a, ln, _b, _m in byte_ranges(pdf))
        rep = flow.p.signing.verify(broken)
        assert not rep.valid and len(rep.signatures) == n
        assert all(not s.valid and not s.intact for s in rep.signatures), rep.to_text()
        root = a_x509.Certificate.load(flow.root.public_bytes(DER))
        for emb in PdfFileReader(io.BytesIO(broken)).embedded_signatures:
            st = validate_pdf_signature(
                emb, ValidationContext(trust_roots=[root], allow_fetching=False)
            )
            assert not st.intact and not st.bottom_line
        if need_quiet("pdfsig"):
            path = tmp_path / f"{stage}-broken.pdf"
            path.write_bytes(broken)
            blocks = pdfsig(path)
            assert len(blocks) == n
            assert not any("Signature is Valid." in b for b in blocks), blocks
            assert all("Digest Mismatch." in b for b in blocks), blocks


@pytest.mark.parametrize("tamper", [add_annotation, add_page], ids=["annotation", "page"])
def test_unsigned_updates_are_reported(flow, tamper):
    for _stage, pdf, n in flow.stages():
        changed = tamper(pdf)
        assert changed.startswith(pdf)  # an incremental update: every signed byte intact
        rep = flow.p.signing.verify(changed)
        assert not rep.valid and len(rep.signatures) == n
        for s in rep.signatures:
            assert s.intact and not s.valid and s.changes_after == "other", rep.to_text()


def test_a_swapped_seal_image_is_detected(flow):
    # 甲方's stamp, on the document 甲方 alone signed
    swapped = swap_seal_image(flow.first.pdf, 0)
    assert seal_image_rgb(swapped, 0) != seal_image_rgb(flow.first.pdf, 0)
    (s,) = flow.p.signing.verify(swapped).signatures
    assert s.intact and not s.valid and s.changes_after == "other"
    # 乙方's stamp, after both signed: 乙方's (locking) signature catches it
    swapped = swap_seal_image(flow.second.pdf, 1)
    rep = flow.p.signing.verify(swapped)
    assert not rep.valid
    assert not rep.signatures[1].valid and rep.signatures[1].changes_after == "other"
    # 甲方's stamp after both signed: both signatures catch it
    rep = flow.p.signing.verify(swap_seal_image(flow.second.pdf, 0))
    assert [s.changes_after for s in rep.signatures] == ["other", "other"]
    root = a_x509.Certificate.load(flow.root.public_bytes(DER))
    emb = PdfFileReader(io.BytesIO(swapped)).embedded_signatures[1]
    st = validate_pdf_signature(emb, ValidationContext(trust_roots=[root], allow_fetching=False))
    assert st.intact and not st.bottom_line


# --- refusals -------------------------------------------------------------------------------------
@dataclass
class Refusals:
    w: World
    signed_by_jia: bytes  # a contract 甲方 signed, for 乙方 to be refused on when tampered

    @property
    def p(self) -> Platform:
        return self.w.p


@pytest.fixture(scope="module")
def rw(tmp_path_factory) -> Refusals:
    clock = FrozenClock(START)
    p = new_platform(tmp_path_factory.mktemp("signing-refusals"), clock)
    w = build_world(p, clock)
    first = sign_as(w, w.jia, contract_pdf(1))
    yield Refusals(w, first.pdf)
    p.close()


def refused(
    p: Platform,
    fn,
    exc: type[YinxinError],
    code: str,
    field: str | None = None,
    mask: tuple[str, str] | None = None,
) -> YinxinError:
    """Run ``fn``, expect the refusal, and prove the database is exactly as before (``mask`` a
    column that may change)."""

    def snap() -> dict:
        d = dump(p)
        if mask:
            i = columns(p)[mask[0]].index(mask[1])
            d[mask[0]] = [r[:i] + (None,) + r[i + 1 :] for r in d[mask[0]]]
        return d

    before = snap()
    with pytest.raises(exc) as info:
        fn()
    e = info.value
    assert e.code == code, e.to_dict()
    if field is not None:
        assert e.field == field, e.to_dict()
    assert diff(before, snap()) == []
    return e


def refused_confirmation(p: Platform, fn, code: str, field: str) -> YinxinError:
    """A refused code check may write exactly this: its challenge's bookkeeping (failures,
    state) and one audit event — never a signature, a token or a file."""
    before = dump(p)
    with pytest.raises(Forbidden) as info:
        fn()
    e = info.value
    assert (e.code, e.field) == (code, field), e.to_dict()
    after = dump(p)
    assert {t for t in before if before[t] != after[t]} <= {
        "intent_challenges",
        "audit_events",
        "audit_head",
    }
    assert len(after["audit_events"]) == len(before["audit_events"]) + 1
    assert len(after["intent_challenges"]) == len(before["intent_challenges"])
    return e


def sign_call(
    w: World,
    party: Party,
    pdf: bytes,
    token: str,
    *,
    pin: str | None = None,
    anchor: str | None = None,
    seal: dict | None = None,
):
    return lambda: w.p.signing.sign(
        pdf,
        seal=(seal or party.seal).es_id,
        pin=pin or party.pin,
        signer_subscriber_id=party.id,
        confirmation_token=token,
        placement=Placement(anchor=anchor or party.anchor),
        role=party.role,
    )


def failed_attempts(p: Platform, serial: str) -> int:
    cols = columns(p)
    keys = {r[cols["platform_keys"].index("id")]: r for r in dump(p)["platform_keys"]}
    cert = next(
        r for r in dump(p)["certificates"] if r[cols["certificates"].index("serial_hex")] == serial
    )
    key = keys[cert[cols["certificates"].index("platform_key_id")]]
    return key[cols["platform_keys"].index("failed_attempts")]


def test_wrong_pin_moves_only_the_counter_and_keeps_the_confirmation(rw):
    w, p = rw.w, rw.p
    doc = contract_pdf(1, title="采购合同")
    token = confirm(w, w.yi, doc)
    e = refused(
        p,
        sign_call(w, w.yi, doc, token, pin="000000"),
        Forbidden,
        "wrong_pin",
        "pin",
        mask=("platform_keys", "failed_attempts"),
    )
    assert "000000" not in e.message
    assert failed_attempts(p, w.person_cert.serial) == 1
    # the refusal did not use the confirmation: the right PIN signs with the same token
    ok = sign_call(w, w.yi, doc, token)()
    assert p.signing.verify(ok.pdf).valid
    assert failed_attempts(p, w.person_cert.serial) == 0


def test_without_the_right_code_the_pin_is_not_tried(rw):
    """The PIN was tried before the code: whoever held a signing link, without the signer's
    phone, could spend the seal's PIN attempts with any code — or none — and lock the seal
    until an officer unlocked it. Now a wrong or missing code is refused first and the PIN
    counter stays as it was; with the right code a mistyped PIN still costs no code attempt."""
    w, p = rw.w, rw.p
    doc = contract_pdf(1, title="委托合同")
    ch, code = request_code(w, w.yi, doc)
    wrong = f"{(int(code) + 1) % 10**6:06d}"

    def call(pin: str, code: str | None):
        return lambda: p.signing.sign(
            doc,
            seal=w.yi.seal.es_id,
            pin=pin,
            signer_subscriber_id=w.yi.id,
            challenge_id=ch.challenge_id if code else None,
            code=code,
            placement=Placement(anchor=w.yi.anchor),
            role=w.yi.role,
        )

    refused_confirmation(p, call("000000", wrong), "wrong_code", "code")
    with pytest.raises(ValidationError) as e:
        call("000000", None)()
    assert e.value.field == "code"
    assert failed_attempts(p, w.person_cert.serial) == 0
    refused(
        p,
        call("000000", code),
        Forbidden,
        "wrong_pin",
        "pin",
        mask=("platform_keys", "failed_attempts"),
    )
    assert failed_attempts(p, w.person_cert.serial) == 1
    signed = call(w.yi.pin, code)()  # the same code: the mistyped PIN did not use it
    assert p.signing.verify(signed.pdf).valid and failed_attempts(p, w.person_cert.serial) == 0


def test_wrong_code_signs_nothing(rw):
    w, p = rw.w, rw.p
    doc = contract_pdf(1, title="保密协议")
    ch, code = request_code(w, w.jia, doc)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    # what a wrong code may write: the failure count on its challenge and one audit event
    e = refused_confirmation(
        p,
        lambda: p.signing.confirm(
            ch.challenge_id, wrong, signer_subscriber_id=w.jia.id, document=doc
        ),
        "wrong_code",
        "code",
    )
    assert wrong not in e.message and code not in e.message
    # a made-up confirmation token signs nothing either, and writes nothing
    refused(
        p,
        sign_call(w, w.jia, doc, "not-a-token"),
        Forbidden,
        "invalid_confirmation",
        "confirmation_token",
    )
    # the right code still works on the same challenge
    token = p.signing.confirm(
        ch.challenge_id, code, signer_subscriber_id=w.jia.id, document=doc
    ).confirmation_token
    assert sign_call(w, w.jia, doc, token)().record.role == "甲方"


def test_expired_code_and_expired_confirmation(rw):
    w, p = rw.w, rw.p
    doc = contract_pdf(1, title="租赁合同")
    ch, code = request_code(w, w.yi, doc)
    w.clock.advance(seconds=301)
    refused_confirmation(
        p,
        lambda: p.signing.confirm(
            ch.challenge_id, code, signer_subscriber_id=w.yi.id, document=doc
        ),
        "code_expired",
        "code",
    )
    # a confirmation not used within five minutes expires too; the refusal writes nothing
    token = confirm(w, w.yi, doc)
    w.clock.advance(seconds=301)
    refused(
        p, sign_call(w, w.yi, doc, token), Forbidden, "confirmation_expired", "confirmation_token"
    )


def test_a_confirmation_is_for_one_document(rw):
    w, p = rw.w, rw.p
    doc_a = contract_pdf(1, title="甲号合同")
    doc_b = contract_pdf(1, title="乙号合同")
    ch, code = request_code(w, w.jia, doc_a)
    # the code, offered for another document
    refused_confirmation(
        p,
        lambda: p.signing.confirm(
            ch.challenge_id, code, signer_subscriber_id=w.jia.id, document=doc_b
        ),
        "wrong_document",
        "document_sha256",
    )
    token = p.signing.confirm(
        ch.challenge_id, code, signer_subscriber_id=w.jia.id, document=doc_a
    ).confirmation_token
    refused(p, sign_call(w, w.jia, doc_b, token), Forbidden, "wrong_document", "confirmation_token")
    # ... and for one signer: 乙方 cannot use 甲方's confirmation
    refused(
        p, sign_call(w, w.yi, doc_a, token), Forbidden, "invalid_confirmation", "confirmation_token"
    )
    assert sign_call(w, w.jia, doc_a, token)().record.sha256_before == sha(doc_a)


def test_a_confirmation_signs_once(rw):
    """A retry with a used confirmation (the answer was lost, the process killed before the
    file was written) gets the signature already made: the same bytes, nothing new recorded."""
    w, p = rw.w, rw.p
    doc = contract_pdf(1, title="补充协议")
    token = confirm(w, w.yi, doc)
    first = sign_call(w, w.yi, doc, token)()
    assert p.signing.verify(first.pdf).valid
    before = dump(p)
    again = sign_call(w, w.yi, doc, token)()
    assert again.pdf == first.pdf and again.replayed is True
    assert again.record.id == first.record.id
    assert dump(p) == before
    # the same confirmation cannot sign another document, nor serve another signer
    refused(
        p,
        sign_call(w, w.yi, contract_pdf(1, title="另一份"), token),
        Forbidden,
        "wrong_document",
        "confirmation_token",
    )
    # and the PIN is still asked for (the right one then clears the counter again)
    refused(
        p,
        sign_call(w, w.yi, doc, token, pin="000000"),
        Forbidden,
        "wrong_pin",
        "pin",
        mask=("platform_keys", "failed_attempts"),
    )
    assert sign_call(w, w.yi, doc, token)().pdf == first.pdf


def test_a_signing_that_fails_on_its_way_leaves_the_code_usable(rw, monkeypatch):
    """The code is checked before signing but used up only with the record: a signing that
    dies between the two (here the archive write fails, as a kill -9 would stop it) writes
    nothing, and the signer signs with the same code afterwards, once."""
    w, p = rw.w, rw.p
    doc = contract_pdf(1, title="技术开发合同")
    ch, code = request_code(w, w.jia, doc)

    def call():
        return p.signing.sign(
            doc,
            seal=w.jia.seal.es_id,
            pin=w.jia.pin,
            signer_subscriber_id=w.jia.id,
            challenge_id=ch.challenge_id,
            code=code,
            placement=Placement(anchor=w.jia.anchor),
            role=w.jia.role,
        )

    def dies(_data):
        raise RuntimeError("killed before the file was kept")

    before = dump(p)
    with monkeypatch.context() as m:
        m.setattr(p.signing.archive, "store", dies)
        with pytest.raises(RuntimeError):
            call()
    assert diff(before, dump(p)) == []
    signed = call()
    assert signed.replayed is False and p.signing.verify(signed.pdf).valid
    assert signed.record.intent_challenge == ch.challenge_id
    again = call()  # a retry after the answer was lost: the same file, nothing new
    assert again.replayed is True and again.pdf == signed.pdf


def test_a_withdrawn_grant_is_refused_at_signing(rw):
    w, p = rw.w, rw.p
    clerk = p.subscribers.add_person(
        name="钱七", id_number=id_number("11010819850615202"), phone="13600136000"
    )
    p.subscribers.accept_agreement(clerk.id, accepted_by="钱七")
    p.seals.grant(w.jia.seal.es_id, clerk.id, actor="北京印信示范科技有限公司")
    party = Party("甲方", clerk, w.jia.seal, w.jia.pin, "13600136000")
    doc = contract_pdf(1, title="委托合同")
    token = confirm(w, party, doc)  # confirmed while still authorized …
    p.seals.withdraw(w.jia.seal.es_id, clerk.id, actor="北京印信示范科技有限公司")
    refused(
        p, sign_call(w, party, doc, token), Forbidden, "not_authorized", "member_subscriber_id"
    )  # … refused once the grant is gone


def test_only_the_holder_or_a_granted_member_may_use_a_seal(rw):
    w, p = rw.w, rw.p
    doc = contract_pdf(1, title="服务协议")
    # 张三 holds no grant for the organization's contract seal
    token = confirm(w, w.yi, doc)
    refused(
        p,
        sign_call(w, w.yi, doc, token, seal=w.jia.seal, pin=w.jia.pin),
        Forbidden,
        "not_authorized",
        "member_subscriber_id",
    )
    # 王五 may use the contract seal, not 张三's personal seal
    token = confirm(w, w.jia, doc)
    refused(
        p,
        sign_call(w, w.jia, doc, token, seal=w.yi.seal, pin=w.yi.pin),
        Forbidden,
        "not_authorized",
        "member_subscriber_id",
    )


def test_a_frozen_certificate_is_refused_at_once(rw):
    w, p = rw.w, rw.p
    sun_id = id_number("11010519900307122")
    person = p.subscribers.add_person(name="孙八", id_number=sun_id, phone="13500135000")
    p.subscribers.accept_agreement(person.id, accepted_by="孙八")
    app = p.certificates.apply(
        subscriber_id=person.id, profile="person-signing", pin="135790", actor="孙八"
    )
    p.certificates.pay(application_id=app.id, years=1, reference="T-freeze")
    cert = p.certificates.approve(app.id, officer=OFFICER)
    seal = p.seals.create(
        subscriber_id=person.id,
        kind="personal",
        certificate_serial=cert.serial,
        form={
            "business_type": "new",
            "project": "测试",
            "holder_name": "孙八",
            "id_type": "id_card",
            "id_number": sun_id,
            "declaration_accepted": True,
        },
    )
    party = Party("乙方", person, seal, "135790", "13500135000")
    doc = contract_pdf(1, title="借款合同")
    token = confirm(w, party, doc)
    p.certificates.freeze(cert.serial, actor="孙八")
    refused(p, sign_call(w, party, doc, token), Forbidden, "certificate_not_valid", "certificate")
    p.certificates.unfreeze(cert.serial, actor=OFFICER)
    assert p.signing.verify(sign_call(w, party, doc, token)().pdf).valid


def test_an_unknown_anchor_is_refused(rw):
    w = rw.w
    doc = contract_pdf(1, title="合作协议")
    token = confirm(w, w.jia, doc)
    e = refused(
        rw.p,
        sign_call(w, w.jia, doc, token, anchor="丁方（签章）"),
        SigningError,
        "anchor_not_found",
        "placement",
    )
    assert "丁方（签章）" in e.message


@pytest.mark.parametrize(
    "make,code",
    [
        (lambda: b"PK\x03\x04 this is a zip file, not a contract", "not_pdf"),
        (lambda: contract_pdf(1)[: len(contract_pdf(1)) // 2], "truncated"),
    ],
    ids=["not-pdf", "truncated"],
)
def test_a_file_that_is_no_pdf_is_refused(rw, make, code):
    w = rw.w
    bad = make()
    # refused before any code is sent; a truncated one was sent a code, refused only at signing
    refused(
        rw.p,
        lambda: rw.p.signing.request_confirmation(
            signer_subscriber_id=w.yi.id, document=bad, document_name="合同.pdf"
        ),
        ValidationError,
        "invalid",
        "pdf",
    )
    if code == "not_pdf":
        return
    # signing refuses it too, with a confirmation for it however it was had
    w.clock.advance(seconds=CODE_SPACING.total_seconds())
    before = outbox_lines(w.outbox)
    ch = rw.p.signing.intent.request_code(
        w.yi.id, purpose="sign", document_sha256=sha(bad), document_name="合同.pdf"
    )
    token = rw.p.signing.confirm(
        ch.challenge_id,
        read_code(w.outbox, w.yi.phone, after=before),
        signer_subscriber_id=w.yi.id,
        document=bad,
    ).confirmation_token
    refused(rw.p, sign_call(w, w.yi, bad, token), SigningError, code, "pdf")
    refused(
        rw.p,
        lambda: rw.p.signing.sign(
            b"",
            seal=w.yi.seal.es_id,
            pin=w.yi.pin,
            signer_subscriber_id=w.yi.id,
            confirmation_token=token,
        ),
        ValidationError,
        "invalid",
        "pdf",
    )


def test_an_encrypted_pdf_gets_no_code(rw):
    """Sealing refuses an encrypted PDF (``encrypted``), and it was sent a code all the same:
    an SMS, and the minute before the next code, spent on a document no code could sign."""
    w, p = rw.w, rw.p
    bad = encrypted(contract_pdf(1, title="加密合同"))
    before = outbox_lines(w.outbox)
    e = refused(
        p,
        lambda: p.signing.request_confirmation(
            signer_subscriber_id=w.yi.id, document=bad, document_name="加密合同.pdf"
        ),
        SigningError,
        "encrypted",
        "pdf",
    )
    assert "encrypted" in e.message and outbox_lines(w.outbox) == before


@pytest.mark.parametrize(
    "tamper,code",
    [
        (lambda pdf: flip_signed_byte(pdf)[0], "broken_signature"),
        (add_page, "modified_after_signing"),
    ],
    ids=["changed-byte", "added-page"],
)
def test_a_document_with_a_broken_signature_is_refused(rw, tamper, code):
    """A document signed and then altered was sent a code (an SMS, and the minute before the
    next code, spent) and refused only once it was typed in; it gets no code now."""
    w, p = rw.w, rw.p
    bad = tamper(rw.signed_by_jia)
    before = outbox_lines(w.outbox)
    refused(
        p,
        lambda: p.signing.request_confirmation(
            signer_subscriber_id=w.yi.id, document=bad, document_name="已签.pdf"
        ),
        SigningError,
        code,
        "pdf",
    )
    assert outbox_lines(w.outbox) == before


# --- PostgreSQL (and SQLite) ----------------------------------------------------------------------
def test_two_party_flow_on_any_database(any_platform, clock):
    p = any_platform
    w = build_world(p, clock)
    doc = contract_pdf(2)
    first = sign_as(w, w.jia, doc)
    second = sign_as(w, w.yi, first.pdf, lock=True)
    rep = p.signing.verify(second.pdf)
    assert rep.valid and [s.role for s in rep.signatures] == ["甲方", "乙方"]
    assert all(s.level == "B-LT" and s.timestamp_valid for s in rep.signatures)
    recs = p.signing.records()
    assert [(r.sha256_before, r.sha256_after) for r in recs] == [
        (sha(doc), sha(first.pdf)),
        (sha(first.pdf), sha(second.pdf)),
    ]
    # a replayed confirmation gives back the signature it made, and records nothing new
    token = confirm(w, w.jia, doc)
    made = sign_call(w, w.jia, doc, token)()
    assert sign_call(w, w.jia, doc, token)().pdf == made.pdf
    assert len(p.signing.records()) == 3
    assert p.verify_audit().ok
