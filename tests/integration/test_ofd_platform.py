"""An OFD signed with platform seals on an SM2 platform: the service, the CLI, the refusals.

One SM2 platform (``yinxin init --algorithm sm2``, run through the CLI) holds:

* 张三, a person with a platform-held SM2 key under his seal PIN and a personal seal — 乙方;
* an organization with a platform-held SM2 key and a contract seal granted to 王五 — 甲方;
* 李雷, a person whose platform-held key is ECDSA P-256 (the SM2 CA certifies it), with a
  personal seal: usable for PDF, refused for OFD by name.

张三 signs a two-page OFD with code + PIN through the service; 王五 signs the result in turn
through ``yinxin sign ofd-code`` / ``yinxin sign ofd`` as real subprocesses. Both verify VALID
with our verifier trusting the platform's root and issuing CA (``yinxin ofd verify --platform``),
with the timestamp from the platform's SM2 TSA; easyofd (PyPI, not ours) opens the file and finds
both stamps; a flipped byte makes it INVALID. Each refusal is checked against a full dump of the
database: nothing written (a wrong PIN moves the failure counter and nothing else; a wrong code
its challenge's bookkeeping and one audit event).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import PASSPHRASE, cli_env
from tests.dbdump import columns, diff, dump
from tests.integration.server import yinxin_cli
from tests.integration.signing_flow import CODE_SPACING, outbox_lines, read_code
from yinxin.adapters.cli import app as cli_app
from yinxin.app import Platform
from yinxin.clock import FrozenClock
from yinxin.errors import Forbidden, ValidationError, YinxinError
from yinxin.ofd.make import make_ofd
from yinxin.ofd.sign import Placement
from yinxin.registry.views import CertificateView
from yinxin.seals.ses_signature import parse_ses_signature
from yinxin.seals.view import SealView
from yinxin.settings import Settings
from yinxin.signing.ofd import SignedOfdDocument
from yinxin.store.models import AuditEvent, Certificate
from yinxin.store.models.archive import ArchivedDocument
from yinxin.store.models.signing import SignatureRecord

OFFICER = "受理员 陈静"
PIN_ZHANG, PIN_ORG, PIN_LI = "246810", "864200", "135791"
PEM = serialization.Encoding.PEM
CONTRACT = [
    [
        "技术服务合同",
        "",
        "第一条 服务内容：OFD 电子签章。",
        "",
        "甲方（签章）：",
        "",
        "乙方（签章）：",
    ],
    ["附件一 服务清单", "", "甲方（签章）：          乙方（签章）："],
]


@dataclass(frozen=True)
class Signer:
    subscriber_id: int
    seal: SealView
    cert: CertificateView
    pin: str
    phone: str


@dataclass
class World:
    p: Platform
    clock: FrozenClock
    home: Path
    zhang: Signer  # 乙方, personal SM2 seal
    wang: Signer  # 甲方, member granted the organization's SM2 contract seal
    li: Signer  # personal seal on an ECDSA key

    @property
    def outbox(self) -> Path:
        return self.p.settings.outbox_dir / "sms.jsonl"


def _issue(p: Platform, subscriber_id: int, profile: str, pin: str, algorithm: str):
    app = p.certificates.apply(
        subscriber_id=subscriber_id, profile=profile, pin=pin, algorithm=algorithm
    )
    p.certificates.pay(application_id=app.id, years=1, reference=f"T-{app.id}")
    return p.certificates.approve(app.id, officer=OFFICER)


def _form(holder: str, id_number: str) -> dict:
    return {
        "business_type": "new",
        "project": "OFD 签章",
        "holder_name": holder,
        "id_type": "id_card",
        "id_number": id_number,
        "declaration_accepted": True,
    }


@pytest.fixture(scope="module")
def w(tmp_path_factory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("ofd-platform")
    env = cli_env(home, YINXIN_DATABASE_URL=f"sqlite:///{home / 'yinxin.db'}")
    res = CliRunner().invoke(cli_app, ["init", "--algorithm", "sm2"], env=env)
    assert res.exit_code == 0, res.output
    # after init, to the second: the CA's certificates start at init's own moment
    clock = FrozenClock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    p = Platform(
        Settings(home=home, database_url=env["YINXIN_DATABASE_URL"]),
        clock=clock,
        passphrase=PASSPHRASE,
    )
    subs = p.subscribers
    zhang = subs.add_person(name="张三", id_number="110105199003071239", phone="13800138000")
    wang = subs.add_person(name="王五", id_number="350102198511223455", phone="13700137000")
    li = subs.add_person(name="李雷", id_number="110105199208141237", phone="13600136000")
    org = subs.add_organization(
        name="北京印信示范科技有限公司",
        uscc="91110108MA01YX0030",
        legal_representative="李四",
        contact_name="王五",
        contact_phone="010-62345678",
        phone="13900139000",
    )
    for sub, by in ((zhang, "张三"), (wang, "王五"), (li, "李雷"), (org, "王五（经办人）")):
        subs.accept_agreement(sub.id, accepted_by=by)
    zhang_cert = _issue(p, zhang.id, "person-signing", PIN_ZHANG, "sm2")
    org_cert = _issue(p, org.id, "organization-signing", PIN_ORG, "sm2")
    li_cert = _issue(p, li.id, "person-signing", PIN_LI, "ec-p256")
    zhang_seal = p.seals.create(
        subscriber_id=zhang.id,
        kind="personal",
        certificate_serial=zhang_cert.serial,
        form=_form("张三", "110105199003071239"),
    )
    contract_seal = p.seals.create(
        subscriber_id=org.id,
        kind="contract",
        certificate_serial=org_cert.serial,
        form=_form("王五", "350102198511223455"),
        code="1101080012346",
    )
    p.seals.grant(contract_seal.es_id, wang.id, actor="北京印信示范科技有限公司")
    li_seal = p.seals.create(
        subscriber_id=li.id,
        kind="personal",
        certificate_serial=li_cert.serial,
        form=_form("李雷", "110105199208141237"),
    )
    for role in ("root", "issuing"):
        (home / f"{role}.pem").write_bytes(p.ca.certificate(role).public_bytes(PEM))
    yield World(
        p,
        clock,
        home,
        Signer(zhang.id, zhang_seal, zhang_cert, PIN_ZHANG, "13800138000"),
        Signer(wang.id, contract_seal, org_cert, PIN_ORG, "13700137000"),
        Signer(li.id, li_seal, li_cert, PIN_LI, "13600136000"),
    )
    p.close()


def code_for(w: World, who: Signer, doc: bytes, name: str = "合同.ofd") -> tuple[str, str]:
    """Ask for a code for ``doc`` (the clock moved past the rate limit); (challenge, code)."""
    w.clock.advance(seconds=CODE_SPACING.total_seconds())
    before = outbox_lines(w.outbox)
    ch = w.p.ofd_signing.request_confirmation(
        signer_subscriber_id=who.subscriber_id, document=doc, document_name=name
    )
    return ch.challenge_id, read_code(w.outbox, who.phone, after=before)


def sign_call(w: World, who: Signer, doc: bytes, challenge: str, code: str, **kw):
    args = {
        "seal": who.seal.es_id,
        "pin": who.pin,
        "signer_subscriber_id": who.subscriber_id,
        "challenge_id": challenge,
        "code": code,
        "placement": Placement(anchor="乙方（签章）", page=1),
        "role": "乙方",
        "document_name": "合同.ofd",
    }
    args.update(kw)
    return lambda: w.p.ofd_signing.sign(doc, **args)


def refused(w: World, fn, exc: type[YinxinError], field: str, mask=None) -> YinxinError:
    """``fn`` is refused naming ``field`` and the database is exactly as before (``mask``: a
    column allowed to change)."""

    def snap() -> dict:
        d = dump(w.p)
        if mask:
            i = columns(w.p)[mask[0]].index(mask[1])
            d[mask[0]] = [r[:i] + (None,) + r[i + 1 :] for r in d[mask[0]]]
        return d

    before = snap()
    with pytest.raises(exc) as info:
        fn()
    assert info.value.field == field, info.value.to_dict()
    assert diff(before, snap()) == []
    return info.value


def failed_attempts(w: World, serial: str) -> int:
    cols, d = columns(w.p), dump(w.p)
    cert = next(
        r for r in d["certificates"] if r[cols["certificates"].index("serial_hex")] == serial
    )
    key_id = cert[cols["certificates"].index("platform_key_id")]
    key = next(r for r in d["platform_keys"] if r[cols["platform_keys"].index("id")] == key_id)
    return key[cols["platform_keys"].index("failed_attempts")]


def parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


# --- the two signers in turn ---------------------------------------------------------------------
@dataclass
class Flow:
    original: bytes
    first: SignedOfdDocument  # 张三, through the service
    second: bytes  # 王五, through the CLI
    second_json: dict
    first_code: tuple[str, str]  # 张三's challenge and code


@pytest.fixture(scope="module")
def flow(w: World) -> Flow:
    original = make_ofd(CONTRACT)
    ch, code = code_for(w, w.zhang, original)
    first = sign_call(w, w.zhang, original, ch, code)()
    # 王五 signs 张三's result with the CLI, as a separate process on the system clock
    src, out = w.home / "after-zhang.ofd", w.home / "after-wang.ofd"
    src.write_bytes(first.data)
    before = outbox_lines(w.outbox)
    r = yinxin_cli(
        ["sign", "ofd-code", "--in", str(src), "--signer", str(w.wang.subscriber_id), "--json"],
        w.home,
    )
    challenge = json.loads(r.stdout)["challenge_id"]
    code2 = read_code(w.outbox, w.wang.phone, after=before)
    r = yinxin_cli(
        ["sign", "ofd", "--in", str(src), "--out", str(out), "--seal", w.wang.seal.es_id]
        + ["--signer", str(w.wang.subscriber_id), "--challenge", challenge]
        + ["--anchor", "甲方（签章）", "--page", "1", "--role", "甲方", "--json"],
        w.home,
        env={"YINXIN_SEAL_PIN": w.wang.pin, "YINXIN_CODE": code2},
    )
    return Flow(original, first, out.read_bytes(), json.loads(r.stdout), (ch, code))


def test_first_signature_is_a_timestamped_sm2_ses_signature(w: World, flow: Flow) -> None:
    first = flow.first
    assert not first.replayed and first.signature_id and first.page == 1
    files = parts(first.data)
    value = parse_ses_signature(files["Doc_0/Signs/Sign_0/SignedValue.dat"])
    assert value.sign_alg_oid == "1.2.156.10197.1.501"
    assert value.property_info == "/Doc_0/Signs/Sign_0/Signature.xml"
    assert value.timestamp_token is not None  # from the platform's SM2 TSA
    with w.p.db.read() as s:
        seal_der = s.execute(
            select(SignatureRecord).where(SignatureRecord.id == first.record.id)
        ).scalar_one()
    assert files["Doc_0/Signs/Sign_0/Seal.esl"] == value.seal_der
    assert seal_der.es_id == w.zhang.seal.es_id
    report = w.p.ofd_signing.verify(first.data)
    assert report.valid, report.to_text()
    (sig,) = report.signatures
    checks = {c["name"]: c["ok"] for c in sig.value["checks"]}
    assert checks["timestamp"] is True and checks["seal_maker_trusted"] is True
    assert checks["signer_in_seal"] is True and sig.value["es_id"] == w.zhang.seal.es_id


def test_record_archive_and_audit_as_for_pdf(w: World, flow: Flow) -> None:
    rec = flow.first.record
    assert rec.es_id == w.zhang.seal.es_id and rec.certificate_serial == w.zhang.cert.serial
    assert rec.signer_subscriber_id == w.zhang.subscriber_id and rec.role == "乙方"
    assert rec.sha256_before == hashlib.sha256(flow.original).hexdigest()
    assert rec.sha256_after == hashlib.sha256(flow.first.data).hexdigest()
    assert rec.level == "B-T" and rec.intent_challenge and rec.seal_kind == "personal"
    with w.p.db.read() as s:
        archived = s.execute(
            select(ArchivedDocument).where(ArchivedDocument.signature_record_id == rec.id)
        ).scalar_one()
        event = s.execute(
            select(AuditEvent).where(
                AuditEvent.action == "document.signed", AuditEvent.subject_id == str(rec.id)
            )
        ).scalar_one()
        wang_rec = s.execute(
            select(SignatureRecord).where(SignatureRecord.id == flow.second_json["id"])
        ).scalar_one()
    assert archived.sha256 == rec.sha256_after and archived.level == "B-T"
    data = json.loads(event.data) if isinstance(event.data, str) else event.data
    assert data["format"] == "ofd" and data["es_id"] == w.zhang.seal.es_id
    assert data["sha256_after"] == rec.sha256_after
    # the archive gives the signed file back byte for byte
    assert w.p.archive.signed_file(rec.sha256_after, rec.id) == flow.first.data
    # 王五's signature (CLI) is recorded over 张三's result
    assert wang_rec.sha256_before == rec.sha256_after
    assert wang_rec.sha256_after == hashlib.sha256(flow.second).hexdigest()
    assert wang_rec.es_id == w.wang.seal.es_id and wang_rec.role == "甲方"


def test_both_signatures_verify_with_the_platforms_trust(w: World, flow: Flow) -> None:
    report = w.p.ofd_signing.verify(flow.second)
    assert report.valid and len(report.signatures) == 2, report.to_text()
    assert [s.value["es_id"] for s in report.signatures] == [
        w.zhang.seal.es_id,
        w.wang.seal.es_id,
    ]
    out = w.home / "after-wang.ofd"
    r = yinxin_cli(["ofd", "verify", str(out), "--platform", "--json"], w.home, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["valid"] is True
    # and as a relying party elsewhere: the root and issuing CA as files
    trust = ["--trust", str(w.home / "root.pem"), "--trust", str(w.home / "issuing.pem")]
    r = yinxin_cli(["ofd", "verify", str(out), *trust], w.home, check=False)
    assert r.returncode == 0 and "有效 / VALID" in r.stdout, r.stdout + r.stderr
    # without the issuing CA the signers' certificates and seals are not trusted
    r = yinxin_cli(
        ["ofd", "verify", str(out), "--trust", str(w.home / "root.pem")], w.home, check=False
    )
    assert r.returncode == 1, r.stdout + r.stderr


def test_a_verification_time_without_a_zone_is_refused_not_read_as_local_time(
    w: World, flow: Flow
) -> None:
    """The GB/T 38540 verifiers' ``at`` (OFD and seal-signed PDF, the platform's and the
    relying party's ``verify_seal_document``) turned a time without a zone to UTC as the
    machine's local time — on a server in Beijing eight hours off what a caller writing UTC
    meant, another verdict across a signing time — where ``yinxin verify --at`` and ``POST
    /verify`` refuse it. Refused naming ``at`` now, as the PAdES verifier refuses it; the same
    moment with its zone is judged as before."""
    from yinxin.seals.documents import verify_seal_document

    aware = w.clock.now() + dt.timedelta(minutes=5)
    naive = aware.astimezone(dt.UTC).replace(tzinfo=None)
    trust = w.p.ofd_signing.trust()
    calls = {
        "ofd_signing.verify": lambda at: w.p.ofd_signing.verify(flow.second, at=at),
        "ofd_signing.verify_file": lambda at: w.p.ofd_signing.verify_file(
            flow.second, file_name="合同.ofd", at=at
        ),
        "verify_seal_document": lambda at: verify_seal_document(
            flow.second, trust=trust, at=at, file_name="合同.ofd"
        ),
        "ses_pdf_signing.verify": lambda at: w.p.ses_pdf_signing.verify(b"%PDF-1.7", at=at),
    }
    for name, call in calls.items():
        with pytest.raises(ValidationError) as e:
            call(naive)
        assert e.value.field == "at" and "zone" in str(e.value), (name, str(e.value))
    assert calls["ofd_signing.verify"](aware).valid
    assert calls["verify_seal_document"](aware).valid


def test_seal_status_names_the_state_in_chinese(w: World, flow: Flow) -> None:
    """The ``seal_status`` detail's Chinese half names the seal's state as the pages do (有效,
    已冻结); the English half keeps the raw value."""

    def details() -> list[str]:
        report = w.p.ofd_signing.verify(flow.second)
        return [
            {c["name"]: c for c in sig.value["checks"]}["seal_status"]["detail"]
            for sig in report.signatures
        ]

    zhang, wang = w.zhang.seal.es_id, w.wang.seal.es_id
    assert details()[1] == f"电子印章 {wang} 在本平台的状态为 有效 / seal {wang} is active here"
    w.p.seals.freeze(wang, actor=OFFICER)
    try:
        one, two = details()
    finally:
        w.p.seals.unfreeze(wang, actor=OFFICER)
    assert two == f"电子印章 {wang} 在本平台的状态为 已冻结 / seal {wang} is frozen here"
    assert one == f"电子印章 {zhang} 在本平台的状态为 有效 / seal {zhang} is active here"


def test_a_flipped_byte_is_invalid(w: World, flow: Flow) -> None:
    """One bit flipped inside the stored data of each signature's value, and of a page."""
    with zipfile.ZipFile(io.BytesIO(flow.second)) as z:
        infos = {i.filename: i for i in z.infolist()}
    page = next(n for n in infos if n.endswith("Content.xml"))
    for name in ("Doc_0/Signs/Sign_0/SignedValue.dat", "Doc_0/Signs/Sign_1/SignedValue.dat", page):
        info = infos[name]
        header = flow.second[info.header_offset : info.header_offset + 30]
        skip = (
            30 + int.from_bytes(header[26:28], "little") + int.from_bytes(header[28:30], "little")
        )
        at = info.header_offset + skip + info.compress_size // 2
        tampered = bytearray(flow.second)
        tampered[at] ^= 0x01
        report = w.p.ofd_signing.verify(bytes(tampered))
        assert not report.valid, name


def test_easyofd_opens_the_signed_file_with_both_stamps(flow: Flow) -> None:
    easyofd = pytest.importorskip("easyofd", reason="easyofd is in the test extra")
    ofd = easyofd.OFD()
    ofd.read(flow.second, fmt="binary")
    stamps = ofd.data[0]["signatures_page_id"]
    assert list(stamps) == [0] and len(stamps[0]) == 2  # both stamps on page 1
    assert {s["Boundary"] for s in stamps[0]} == {
        flow.first.boundary,
        flow.second_json["boundary"],
    }


def test_a_retry_with_the_used_code_gets_the_same_file(w: World, flow: Flow) -> None:
    """The confirmation is used up: the same call again returns the signature it made; a
    wrong code for it is no way in."""
    ch, code = flow.first_code
    before = dump(w.p)
    again = w.p.ofd_signing.sign(
        flow.original,
        seal=w.zhang.seal.es_id,
        pin=w.zhang.pin,
        signer_subscriber_id=w.zhang.subscriber_id,
        challenge_id=ch,
        code=code,
        placement=Placement(anchor="乙方（签章）", page=1),
    )
    assert again.replayed and again.data == flow.first.data
    assert again.record.id == flow.first.record.id
    assert diff(before, dump(w.p)) == []
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    with pytest.raises(YinxinError):
        sign_call(w, w.zhang, flow.original, ch, wrong)()
    assert dump(w.p)["signature_records"] == before["signature_records"]


# --- refusals: nothing written --------------------------------------------------------------------
def test_wrong_pin_moves_only_the_counter(w: World, flow: Flow) -> None:
    doc = make_ofd([["采购合同", "", "乙方（签章）："]])
    ch, code = code_for(w, w.zhang, doc)
    e = refused(
        w,
        sign_call(w, w.zhang, doc, ch, code, pin="000000"),
        Forbidden,
        "pin",
        mask=("platform_keys", "failed_attempts"),
    )
    assert e.code == "wrong_pin" and "000000" not in e.message
    assert failed_attempts(w, w.zhang.cert.serial) == 1
    # the code was not spent: the right PIN signs with it
    ok = sign_call(w, w.zhang, doc, ch, code)()
    assert w.p.ofd_signing.verify(ok.data).valid
    assert failed_attempts(w, w.zhang.cert.serial) == 0


def test_wrong_code_signs_nothing(w: World, flow: Flow) -> None:
    doc = make_ofd([["保密协议", "", "乙方（签章）："]])
    ch, code = code_for(w, w.zhang, doc)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    before = dump(w.p)
    with pytest.raises(Forbidden) as info:
        sign_call(w, w.zhang, doc, ch, wrong)()
    assert info.value.field == "code", info.value.to_dict()
    after = dump(w.p)
    # a wrong code may write its challenge's bookkeeping and one audit event, nothing else
    assert {t for t in before if before[t] != after[t]} <= {
        "intent_challenges",
        "audit_events",
        "audit_head",
    }
    assert after["signature_records"] == before["signature_records"]
    assert after["archived_documents"] == before["archived_documents"]


def test_a_frozen_seal_is_refused(w: World, flow: Flow) -> None:
    doc = make_ofd([["租赁合同", "", "乙方（签章）："]])
    ch, code = code_for(w, w.zhang, doc)
    w.p.seals.freeze(w.zhang.seal.es_id, actor=OFFICER)
    try:
        e = refused(w, sign_call(w, w.zhang, doc, ch, code), Forbidden, "seal")
        assert e.code == "seal_not_active" and w.zhang.seal.es_id in e.message
    finally:
        w.p.seals.unfreeze(w.zhang.seal.es_id, actor=OFFICER)


def test_an_ecdsa_seal_is_refused_by_name(w: World, flow: Flow) -> None:
    doc = make_ofd([["借款合同", "", "乙方（签章）："]])
    ch, code = code_for(w, w.li, doc)
    e = refused(w, sign_call(w, w.li, doc, ch, code), ValidationError, "seal")
    assert w.li.seal.es_id in e.message and "SM2" in e.message
    # a wrong PIN on it is not even tried: no failure counted
    refused(w, sign_call(w, w.li, doc, ch, code, pin="000000"), ValidationError, "seal")
    assert failed_attempts(w, w.li.cert.serial) == 0


def test_an_sm2_seal_is_refused_for_a_pdf_signature_before_the_code_and_pin(
    w: World, flow: Flow
) -> None:
    """The mirror of the ECDSA seal above: an SM2 seal cannot make a PDF (PAdES) signature.
    ``sign code --seal`` sent a code for it anyway, and ``sign pdf`` tried the PIN first — a
    wrong one counted against the seal ("4 attempts left") — and only then refused it naming
    ``key``; a right one had been typed for nothing. Now both refuse it naming ``seal``, in
    both languages, before any code is sent or the PIN is tried."""
    from tests.fixtures.samples import contract_pdf
    from yinxin.pdf.sign import Placement as PdfPlacement

    pdf = contract_pdf()
    w.clock.advance(seconds=CODE_SPACING.total_seconds())
    sent = outbox_lines(w.outbox)
    e = refused(
        w,
        lambda: w.p.signing.request_confirmation(
            signer_subscriber_id=w.zhang.subscriber_id,
            document=pdf,
            document_name="合同.pdf",
            seal=w.zhang.seal.es_id,
        ),
        ValidationError,
        "seal",
    )
    assert w.zhang.seal.es_id in e.message and "SM2" in e.message and " / " in e.message
    assert outbox_lines(w.outbox) == sent  # no code sent
    ch = w.p.signing.request_confirmation(
        signer_subscriber_id=w.zhang.subscriber_id, document=pdf, document_name="合同.pdf"
    )
    code = read_code(w.outbox, w.zhang.phone, after=sent)
    before = failed_attempts(w, w.zhang.cert.serial)
    for pin in ("000000", w.zhang.pin):
        refused(
            w,
            lambda pin=pin: w.p.signing.sign(
                pdf,
                seal=w.zhang.seal.es_id,
                pin=pin,
                signer_subscriber_id=w.zhang.subscriber_id,
                challenge_id=ch.challenge_id,
                code=code,
                placement=PdfPlacement(anchor="乙方"),
            ),
            ValidationError,
            "seal",
        )
    assert failed_attempts(w, w.zhang.cert.serial) == before  # the wrong PIN not tried
    # a batch likewise: no code for it with the seal named, and no PIN tried at signing
    from yinxin.signing.batch import BatchItem

    items = [BatchItem(pdf, "合同.pdf", PdfPlacement(anchor="乙方"))]
    w.clock.advance(seconds=CODE_SPACING.total_seconds())
    sent = outbox_lines(w.outbox)
    refused(
        w,
        lambda: w.p.batch.request_code(
            signer_subscriber_id=w.zhang.subscriber_id, items=items, seal=w.zhang.seal.es_id
        ),
        ValidationError,
        "seal",
    )
    assert outbox_lines(w.outbox) == sent
    batch = w.p.batch.request_code(signer_subscriber_id=w.zhang.subscriber_id, items=items)
    code = read_code(w.outbox, w.zhang.phone, after=sent)
    refused(
        w,
        lambda: w.p.batch.sign(
            items,
            seal=w.zhang.seal.es_id,
            pin="000000",
            signer_subscriber_id=w.zhang.subscriber_id,
            challenge_id=batch.challenge_id,
            code=code,
        ),
        ValidationError,
        "seal",
    )
    assert failed_attempts(w, w.zhang.cert.serial) == before


def test_bad_placement_and_bad_files_are_refused_before_the_code(w: World, flow: Flow) -> None:
    doc = make_ofd([["服务合同", "", "乙方（签章）："]])
    ch, code = code_for(w, w.zhang, doc)
    e = refused(
        w,
        sign_call(w, w.zhang, doc, ch, code, placement=Placement(anchor="丙方（签章）")),
        ValidationError,
        "anchor",
    )
    assert "丙方" in e.message
    refused(
        w,
        sign_call(w, w.zhang, doc, ch, code, placement=Placement(page=1, x=500, y=50)),
        ValidationError,
        "x",
    )
    refused(w, sign_call(w, w.zhang, b"%PDF-1.7 not an ofd", ch, code), ValidationError, "ofd")
    with pytest.raises(ValidationError) as info:
        w.p.ofd_signing.request_confirmation(
            signer_subscriber_id=w.zhang.subscriber_id, document=b"%PDF-1.7", document_name="x"
        )
    assert info.value.field == "ofd"
    # the code survived all of it
    ok = sign_call(w, w.zhang, doc, ch, code)()
    assert w.p.ofd_signing.verify(ok.data).valid


def test_cli_refusals_exit_with_the_field(w: World, flow: Flow, tmp_path: Path) -> None:
    src = tmp_path / "doc.ofd"
    src.write_bytes(make_ofd([["合同", "", "乙方（签章）："]]))
    before = dump(w.p)
    r = yinxin_cli(
        ["sign", "ofd", "--in", str(src), "--out", str(tmp_path / "o.ofd")]
        + ["--seal", w.li.seal.es_id, "--signer", str(w.li.subscriber_id)]
        + ["--challenge", "nope", "--anchor", "乙方（签章）", "--json"],
        w.home,
        env={"YINXIN_SEAL_PIN": w.li.pin, "YINXIN_CODE": "123456"},
        check=False,
    )
    assert r.returncode == 2 and json.loads(r.stdout)["field"] == "seal", r.stdout + r.stderr
    r = yinxin_cli(
        ["sign", "ofd", "--in", str(src), "--out", str(tmp_path / "o.ofd")]
        + ["--seal", w.zhang.seal.es_id, "--signer", str(w.zhang.subscriber_id)]
        + ["--challenge", "nope", "--json"],
        w.home,
        env={"YINXIN_SEAL_PIN": w.zhang.pin, "YINXIN_CODE": "123456"},
        check=False,
    )
    assert r.returncode == 2 and json.loads(r.stdout)["field"] == "placement"
    assert not (tmp_path / "o.ofd").exists()
    assert diff(before, dump(w.p)) == []
    # a --challenge that is no code request named challenge_id, the service's field
    r = yinxin_cli(
        ["sign", "ofd", "--in", str(src), "--out", str(tmp_path / "o.ofd")]
        + ["--seal", w.zhang.seal.es_id, "--signer", str(w.zhang.subscriber_id)]
        + ["--challenge", "0" * 32, "--anchor", "乙方（签章）", "--json"],
        w.home,
        env={"YINXIN_SEAL_PIN": w.zhang.pin, "YINXIN_CODE": "123456"},
        check=False,
    )
    out = json.loads(r.stdout)
    assert r.returncode == 3 and (out["error"], out["field"]) == ("not_found", "challenge"), out
    assert not (tmp_path / "o.ofd").exists()


# --- over HTTP ---------------------------------------------------------------------------------
def test_http_code_and_sign(w: World, flow: Flow) -> None:
    """``POST /api/v1/ofd/code`` then ``/ofd/sign`` with an integration key: a VALID signature;
    a wrong PIN is a 403 problem naming ``pin``, an ECDSA seal a 422 naming ``seal``, a PDF a
    422 naming ``ofd`` — none of them writing a signature."""
    from starlette.testclient import TestClient

    from yinxin.adapters.http.server import create_app

    key = w.p.api_keys.create(name="oa", role="integration", actor="test").secret
    doc = make_ofd([["委托合同", "", "乙方（签章）："]])
    document = {"name": "委托合同.ofd", "content_base64": base64.b64encode(doc).decode()}
    with TestClient(
        create_app(w.p, jobs=False),
        base_url="http://127.0.0.1:8000",
        headers={"Authorization": f"Bearer {key}"},
    ) as c:
        w.clock.advance(seconds=CODE_SPACING.total_seconds())
        before_sms = outbox_lines(w.outbox)
        r = c.post(
            "/api/v1/ofd/code",
            json={"signer_subscriber_id": w.zhang.subscriber_id, "document": document},
        )
        assert r.status_code == 201, r.text
        challenge = r.json()["challenge_id"]
        code = read_code(w.outbox, w.zhang.phone, after=before_sms)
        body = {
            "signer_subscriber_id": w.zhang.subscriber_id,
            "document": document,
            "seal": w.zhang.seal.es_id,
            "pin": w.zhang.pin,
            "challenge_id": challenge,
            "code": code,
            "placement": {"anchor": "乙方（签章）"},
            "role": "乙方",
        }
        records = dump(w.p)["signature_records"]
        r = c.post("/api/v1/ofd/sign", json={**body, "pin": "000000"})
        assert r.status_code == 403 and r.json()["field"] == "pin", r.text
        r = c.post(
            "/api/v1/ofd/sign",
            json={**body, "seal": w.li.seal.es_id, "signer_subscriber_id": w.li.subscriber_id},
        )
        assert r.status_code == 422 and r.json()["field"] == "seal", r.text
        pdf = {"name": "x.pdf", "content_base64": base64.b64encode(b"%PDF-1.7\n").decode()}
        r = c.post("/api/v1/ofd/sign", json={**body, "document": pdf})
        assert r.status_code == 422 and r.json()["field"] == "ofd", r.text
        assert dump(w.p)["signature_records"] == records
        r = c.post("/api/v1/ofd/sign", json=body)
        assert r.status_code == 200, r.text
        out = r.json()
    signed = base64.b64decode(out["content_base64"])
    assert out["sha256"] == hashlib.sha256(signed).hexdigest() and not out["replayed"]
    assert out["record"]["es_id"] == w.zhang.seal.es_id and out["page"] == 1
    assert w.p.ofd_signing.verify(signed).valid
    assert failed_attempts(w, w.zhang.cert.serial) == 0


@contextmanager
def api_with_a_wrong_code(
    w: World, document: dict, challenge_id: str, code: str
) -> Iterator[tuple[Any, dict, Callable[[], int]]]:
    """An integration key's API client, the body of 张三's seal signature as 乙方 on
    ``document`` (``name``, ``content_base64``) with a code one off the right ``code`` of
    ``challenge_id``, and how many tries that challenge has used: the set-up of the tests that
    a request refused for its input uses none of the code's tries (OFD and GB/T 38540 PDF)."""
    from starlette.testclient import TestClient

    from yinxin.adapters.http.server import create_app
    from yinxin.store.models.notify import IntentChallenge

    name = f"oa-tries-{challenge_id}"
    key = w.p.api_keys.create(name=name[:60], role="integration", actor="test").secret

    def tries() -> int:
        with w.p.db.read() as s:
            return s.get(IntentChallenge, challenge_id).failed_attempts

    body = {
        "signer_subscriber_id": w.zhang.subscriber_id,
        "document": document,
        "seal": w.zhang.seal.es_id,
        "pin": w.zhang.pin,
        "challenge_id": challenge_id,
        "code": f"{(int(code) + 1) % 10**6:06d}",
        "role": "乙方",
    }
    with TestClient(
        create_app(w.p, jobs=False),
        base_url="http://127.0.0.1:8000",
        headers={"Authorization": f"Bearer {key}"},
    ) as c:
        yield c, body, tries


def test_http_a_wrong_code_with_a_bad_placement_uses_no_try(w: World, flow: Flow) -> None:
    """``POST /api/v1/ofd/sign`` with a wrong code and a placement the document refuses — an
    anchor it does not hold, a page it has not, a position off the page — checked the code
    first: one of its five tries was used and the answer was ``403 wrong_code``, though the
    request would be refused for its placement anyway. The placement is checked before the
    code now: ``422`` naming ``anchor``, ``page`` or ``x``, the try counter as it was. A wrong
    code with a good request still uses a try, and the right code then signs."""
    doc = make_ofd([["咨询合同", "", "乙方（签章）："]])
    document = {"name": "咨询合同.ofd", "content_base64": base64.b64encode(doc).decode()}
    ch, code = code_for(w, w.zhang, doc)
    with api_with_a_wrong_code(w, document, ch, code) as (c, body, tries):
        before = dump(w.p)
        for placement, field in (
            ({"anchor": "丙方（签章）"}, "anchor"),
            ({"anchor": "乙方（签章）", "page": 9}, "page"),
            ({"page": 1, "x_mm": 500, "y_mm": 50}, "x"),
        ):
            r = c.post("/api/v1/ofd/sign", json={**body, "placement": placement})
            assert r.status_code == 422 and r.json()["field"] == field, r.text
            assert tries() == 0, placement
        # nothing written (the app's start publishes its CRLs meanwhile)
        assert [t for t in diff(before, dump(w.p)) if not t.startswith("crls")] == []
        good = {**body, "placement": {"anchor": "乙方（签章）"}}
        r = c.post("/api/v1/ofd/sign", json=good)
        assert r.status_code == 403 and r.json()["code"] == "wrong_code", r.text
        assert tries() == 1
        r = c.post("/api/v1/ofd/sign", json={**good, "code": code})
        assert r.status_code == 200, r.text


# --- the archive's renewal run (last: it moves the clock on) -----------------------------------
def test_archive_renewal_leaves_signed_ofds_alone(w: World, flow: Flow) -> None:
    """An archived OFD has no DSS to refresh nor a document timestamp to add: the renewal run
    passes over it (not a failure, which would make every run exit 1) and its file stays."""
    import datetime

    w.clock.advance(seconds=2 * 86400)
    report = w.p.archive.renew(refresh=datetime.timedelta(days=1))
    assert report.failed == [], report.failed
    assert report.checked >= 2 and report.refreshed == [] and report.renewed == []
    rec = flow.first.record
    assert w.p.archive.signed_file(rec.sha256_after, rec.id) is not None
    with w.p.db.read() as s:
        kept = s.execute(
            select(ArchivedDocument.sha256).where(ArchivedDocument.signature_record_id == rec.id)
        ).scalar_one()
    assert kept == rec.sha256_after


# --- last: it revokes 张三's certificate --------------------------------------------------------
@contextmanager
def seal_record_of(w: World, who: Signer, other: Signer) -> Iterator[None]:
    """``who``'s seal carrying, for the time of the block, ``other``'s GB/T 38540 record: a
    seal whose certificate list does not name the certificate it is bound to."""
    from yinxin.store.models.seals import Seal

    with w.p.db.transaction() as s:
        row = s.execute(select(Seal).where(Seal.es_id == who.seal.es_id)).scalar_one()
        own = row.seseal
        row.seseal = s.execute(
            select(Seal.seseal).where(Seal.es_id == other.seal.es_id)
        ).scalar_one()
    try:
        yield
    finally:
        with w.p.db.transaction() as s:
            row = s.execute(select(Seal).where(Seal.es_id == who.seal.es_id)).scalar_one()
            row.seseal = own


def test_a_seal_not_naming_its_certificate_gets_no_code(w: World, flow: Flow) -> None:
    """A seal whose certificate list does not name the signer's certificate was refused only by
    the dry run after the PIN (``signer_cert``), the code sent before. The code request asked
    with the seal (``seal=``, the HTTP API's ``seal``, the CLI's ``--seal``) refuses it now with
    that error, nothing sent or written; signing refuses it before the PIN (no try counted)."""
    doc = make_ofd([["服务合同", "", "乙方（签章）："]])
    with seal_record_of(w, w.zhang, w.wang):
        w.clock.advance(seconds=CODE_SPACING.total_seconds())
        sent = outbox_lines(w.outbox)
        ask = lambda: w.p.ofd_signing.request_confirmation(  # noqa: E731
            signer_subscriber_id=w.zhang.subscriber_id,
            document=doc,
            document_name="合同.ofd",
            seal=w.zhang.seal.es_id,
        )
        e = refused(w, ask, ValidationError, "signer_cert")
        assert "certificate list" in e.message
        assert outbox_lines(w.outbox) == sent
        # over HTTP
        from starlette.testclient import TestClient

        from yinxin.adapters.http.server import create_app

        key = w.p.api_keys.create(name="oa-seal-list", role="integration", actor="test").secret
        body = {
            "signer_subscriber_id": w.zhang.subscriber_id,
            "document": {"name": "合同.ofd", "content_base64": base64.b64encode(doc).decode()},
            "seal": w.zhang.seal.es_id,
        }
        with TestClient(
            create_app(w.p, jobs=False),
            base_url="http://127.0.0.1:8000",
            headers={"Authorization": f"Bearer {key}"},
        ) as c:
            r = c.post("/api/v1/ofd/code", json=body)
        assert r.status_code == 422 and r.json()["field"] == "signer_cert", r.text
        # the CLI: sign ofd-code --seal, exit 2 naming the field
        src = w.home / "seal-list.ofd"
        src.write_bytes(doc)
        args = ["sign", "ofd-code", "--in", str(src), "--signer", str(w.zhang.subscriber_id)]
        proc = yinxin_cli([*args, "--seal", w.zhang.seal.es_id, "--json"], w.home, check=False)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert json.loads(proc.stdout)["field"] == "signer_cert", proc.stdout
        assert outbox_lines(w.outbox) == sent
        # signing: the same error before the PIN (a wrong one is not counted)
        ch, code = code_for(w, w.zhang, doc)
        tries = failed_attempts(w, w.zhang.cert.serial)
        go = sign_call(w, w.zhang, doc, ch, code, pin="000000")
        assert refused(w, go, ValidationError, "signer_cert").to_dict() == e.to_dict()
        assert failed_attempts(w, w.zhang.cert.serial) == tries
    # the seal's own record back: the code request with the seal goes through
    w.clock.advance(seconds=CODE_SPACING.total_seconds())
    assert ask().challenge_id


def test_the_platforms_own_crl_decides_a_signers_certificate(w: World, flow: Flow) -> None:
    """Where the platform is, its own CRL checks the signer's certificate (GB/T 38540 §7.3):
    no --crl needed. Good before the revocation; revoked after the signing: still VALID, the
    check says so; revoked before it (the date moved back in the database, the CRL re-signed):
    INVALID for 张三's signature only."""
    from sqlalchemy import update

    from yinxin.registry.ca import role_of

    def revocation(report, who: int) -> dict:
        checks = report.signatures[who].value["checks"]
        return {c["name"]: c for c in checks}["signer_certificate_revocation"]

    report = w.p.ofd_signing.verify(flow.second)
    assert report.valid, report.to_text()
    for who in (0, 1):
        check = revocation(report, who)
        assert check["ok"] is True and " / not on the CRL of " in check["detail"], check
    # a revocation in the signing's own second is not after it (the CRL's dates are to the
    # second): the frozen clock moves on first, as the tests before this one in the file do
    w.clock.advance(seconds=1)
    w.p.certificates.revoke(w.zhang.cert.serial, reason="key_compromise", actor=OFFICER)
    report = w.p.ofd_signing.verify(flow.second)
    assert report.valid, report.to_text()
    check = revocation(report, 0)
    assert check["ok"] is True and "after the signing time" in check["detail"], check
    signed_at = dt.datetime.fromisoformat(report.signatures[0].value["time_info"])
    with w.p.db.transaction() as s:
        s.execute(
            update(Certificate)
            .where(Certificate.serial_hex == w.zhang.cert.serial)
            .values(revoked_at=signed_at - dt.timedelta(hours=1))
        )
    w.p.status.publish_crl(role_of("", "issuing"))
    report = w.p.ofd_signing.verify(flow.second)
    assert not report.valid
    one, two = report.signatures
    assert not one.valid and two.valid  # 王五's certificate is not revoked
    check = revocation(report, 0)
    assert check["ok"] is False and "before the signing time" in check["detail"], check
    assert "[FAILED] 签章人证书吊销状态 / signer_certificate_revocation" in report.to_text()
    # a relying party's own CRL, added to the platform's, does not hide the platform's answer
    other = w.p.ofd_signing.verify(flow.second, crls=[w.p.status.current_crl("issuing")])
    assert not other.signatures[0].valid


def test_the_platforms_crl_older_than_a_signature_is_renewed_to_check_it(
    w: World, flow: Flow
) -> None:
    """The CRL the endpoint serves is re-signed only when a status changes, so a signature
    made after it — every signature made since the last revocation — found only that older
    CRL, which cannot speak for it: "not checked: the CRL given predates the signing time",
    on the platform's own certificate, though no one gave a CRL. The platform signs a current
    one (once: a second verification uses it) and the check says "not on the CRL of …"."""
    from asn1crypto import crl as a_crl

    def this_update(der: bytes) -> dt.datetime:
        return a_crl.CertificateList.load(der)["tbs_cert_list"]["this_update"].native

    old = w.p.status.current_crl("issuing")
    w.clock.advance(minutes=10)  # signed well after the CRL the endpoint serves
    ch, code = code_for(w, w.wang, flow.original, name="新合同.ofd")
    signed = sign_call(w, w.wang, flow.original, ch, code, document_name="新合同.ofd")()
    for verify in (w.p.ofd_signing.verify, w.p.ofd_signing.verify):
        report = verify(signed.data, at=w.clock.now())
        assert report.valid, report.to_text()
        value = report.signatures[0].value
        check = {c["name"]: c for c in value["checks"]}["signer_certificate_revocation"]
        assert check["ok"] is True and " / not on the CRL of " in check["detail"], check
    new = w.p.status.current_crl("issuing")
    assert new != old
    assert this_update(new) >= dt.datetime.fromisoformat(value["timestamp_time"])
    again = w.p.ofd_signing.verify(signed.data, at=w.clock.now())
    assert again.valid and w.p.status.current_crl("issuing") == new  # no CRL signed for it


def test_a_document_closed_by_its_signer_gets_no_code(w: World, flow: Flow) -> None:
    """An OFD whose earlier signature protects its signature list (ofdrw's default: closed by
    its signer, no more signatures) was sent a code — an SMS, a challenge — and refused only by
    the dry run after the PIN. The code request refuses it now, with the error signing gives
    (naming ``in``), nothing sent or written; signing refuses it before the PIN too."""
    from tests.integration.test_ofd import OFDRW_SAMPLE

    closed = OFDRW_SAMPLE.read_bytes()
    w.clock.advance(seconds=CODE_SPACING.total_seconds())
    sent = outbox_lines(w.outbox)
    ask = lambda: w.p.ofd_signing.request_confirmation(  # noqa: E731
        signer_subscriber_id=w.zhang.subscriber_id, document=closed, document_name="已封闭.ofd"
    )
    e = refused(w, ask, ValidationError, "in")
    assert "Signatures.xml" in e.message and "closed" in e.message
    assert outbox_lines(w.outbox) == sent
    # a code for another document and a wrong PIN: refused for the document, no PIN try
    ch, code = code_for(w, w.zhang, make_ofd([["服务合同", "", "乙方（签章）："]]))
    go = sign_call(
        w, w.zhang, closed, ch, code, pin="000000", placement=Placement(page=1, x=100, y=100)
    )
    assert refused(w, go, ValidationError, "in").message == e.message


def test_a_document_whose_signature_list_is_broken_gets_no_code(w: World, flow: Flow) -> None:
    """张三 and 王五's signed contract with its signature list broken (王五's entry removed, or
    OFD.xml naming no list: ``verify`` says INVALID) was sent a code and took one more
    signature. The code request refuses it now (``broken_signature`` naming ``in``), nothing
    sent or written."""
    from tests.integration.test_ofd import _broken_lists

    broken = _broken_lists(flow.second)
    for case in ("an entry removed", "OFD.xml naming no list"):
        assert not w.p.ofd_signing.verify(broken[case]).valid
        w.clock.advance(seconds=CODE_SPACING.total_seconds())
        sent = outbox_lines(w.outbox)
        ask = lambda doc=broken[case]: w.p.ofd_signing.request_confirmation(  # noqa: E731
            signer_subscriber_id=w.wang.subscriber_id, document=doc, document_name="列表.ofd"
        )
        e = refused(w, ask, ValidationError, "in")
        assert e.code == "broken_signature" and "Signatures.xml" in e.message, case
        assert outbox_lines(w.outbox) == sent


def test_a_document_whose_earlier_signature_is_broken_gets_no_code(w: World, flow: Flow) -> None:
    """张三's signed contract with a page edited afterwards (``verify`` says his signature is
    INVALID: the digest differs) was sent a code and signed: a new valid signature over the
    edit. The code request refuses it now (``broken_signature`` naming ``in``), nothing sent or
    written; signing refuses it before the PIN. A document signed by a CA the platform does not
    know, intact, still gets a code: that signature is INDETERMINATE here, not broken."""
    from tests.fixtures.ses_world import make_world
    from yinxin.ofd.sign import sign_ofd
    from yinxin.seals.ses_signature import SesOfdSigner

    signed = parts(flow.first.data)
    page = "Doc_0/Pages/Page_0/Content.xml"
    assert "服务内容".encode() in signed[page]
    signed[page] = signed[page].replace("服务内容".encode(), "服务范围".encode())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in signed.items():
            z.writestr(name, body)
    edited = buf.getvalue()
    assert not w.p.ofd_signing.verify(edited).signatures[0].references_ok
    w.clock.advance(seconds=CODE_SPACING.total_seconds())
    sent = outbox_lines(w.outbox)
    ask = lambda: w.p.ofd_signing.request_confirmation(  # noqa: E731
        signer_subscriber_id=w.wang.subscriber_id, document=edited, document_name="改过.ofd"
    )
    e = refused(w, ask, ValidationError, "in")
    assert e.code == "broken_signature" and f"/{page}" in e.message
    assert outbox_lines(w.outbox) == sent
    # a code for another document and a wrong PIN: refused for the document, no PIN try
    ch, code = code_for(w, w.wang, make_ofd([["服务合同", "", "乙方（签章）："]]))
    go = sign_call(
        w, w.wang, edited, ch, code, pin="000000", placement=Placement(page=1, x=90, y=90)
    )
    assert refused(w, go, ValidationError, "in").message == e.message
    # signed elsewhere, by a CA unknown here, intact: a code is sent
    other = make_world(w.clock.now())
    a = other.party_a
    foreign = sign_ofd(
        make_ofd(CONTRACT),
        SesOfdSigner(a.seal, a.key, a.cert, when=other.now),
        placement=Placement(page=1, x=60, y=60),
        when=other.now,
    ).data
    assert str(w.p.ofd_signing.verify(foreign).indication) == "INDETERMINATE"
    ch, code = code_for(w, w.wang, foreign, "外来.ofd")
    assert ch and code


def _zipped(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in files.items():
            z.writestr(name, body)
    return buf.getvalue()


def _page_at(doc: bytes, page: str) -> bytes:
    """``doc`` (``make_ofd``'s) with its first page's content at ``page``, a path a package
    made by hand may give it (GB/T 33190 sets no form for a part's name)."""
    files = parts(doc)
    old = "Doc_0/Pages/Page_0/Content.xml"
    files[page] = files.pop(old)
    relative = page.removeprefix("Doc_0/").encode()
    files["Doc_0/Document.xml"] = files["Doc_0/Document.xml"].replace(
        old.removeprefix("Doc_0/").encode(), relative
    )
    return _zipped(files)


def test_a_path_or_id_from_the_file_is_shown_whole_in_the_refusals_chinese(
    w: World, tmp_path: Path
) -> None:
    """An OFD refusal names the package's paths and its signatures' IDs, which the file's maker
    chose: a document root "Doc_0/a / b.xml" or one of English words, a page
    "Doc_0/Pages/a / b/Content.xml", an entry ID "first / one". Written unquoted in the
    Chinese half, the web pages' chineseDetail cut the message at the " / " in a path
    ("OFD 文件：缺少文档根节点 Doc_0/a") or showed nothing of a half reading as English; and
    the refusal of a broken signature list took its problem's halves at the first " / ", even
    one inside a path (a Chinese half ending "文件包中缺少 Doc_0/Signs/a"). Each is quoted
    now, and the problem split outside quotes: the Chinese half comes through
    POST /api/v1/ofd/code whole."""
    from starlette.testclient import TestClient

    from tests.fixtures.ses_world import make_world
    from tests.unit.test_chinese_detail import chinese_detail
    from yinxin.adapters.http.server import create_app
    from yinxin.ofd.sign import sign_ofd
    from yinxin.seals.ses_signature import SesOfdSigner

    # OFD.xml leading to a document root the package does not hold
    rootless = {}
    for root in ("Doc_0/a / b.xml", "Doc_0/my document.xml"):
        files = parts(make_ofd(CONTRACT))
        files["OFD.xml"] = files["OFD.xml"].replace(b"Doc_0/Document.xml", root.encode())
        rootless[root] = _zipped(files)
    # signed elsewhere (a CA unknown here: not broken by itself), then its page edited and its
    # entry's ID changed (the list is no signature's): a broken signature
    other = make_world(w.clock.now())
    a = other.party_a
    odd = "Doc_0/Pages/a / b/Content.xml"
    signed = sign_ofd(
        _page_at(make_ofd(CONTRACT), odd),
        SesOfdSigner(a.seal, a.key, a.cert, when=other.now),
        placement=Placement(page=1, x=60, y=60),
        when=other.now,
    ).data
    signs = "Doc_0/Signs/Signatures.xml"
    files = parts(signed)
    files[odd] = files[odd].replace("服务内容".encode(), "服务范围".encode())
    files[signs] = files[signs].replace(b'ID="s001"', b'ID="first / one"')
    broken = _zipped(files)
    # intact, its list naming one more "signature": outside the package, or not in it
    listed = []
    for where in (b"/../a / b.xml", b"a / b.xml"):
        files = parts(signed)
        files[signs] = files[signs].replace(
            b"</ofd:Signatures>",
            b'<ofd:Signature ID="s9 / extra" BaseLoc="' + where + b'"/></ofd:Signatures>',
        )
        listed.append(_zipped(files))

    key = w.p.api_keys.create(name="oa-quotes", role="integration", actor="test").secret
    details = []
    with TestClient(
        create_app(w.p, jobs=False),
        base_url="http://127.0.0.1:8000",
        headers={"Authorization": f"Bearer {key}"},
    ) as c:
        for doc in (*rootless.values(), broken, *listed):
            document = {"name": "合同.ofd", "content_base64": base64.b64encode(doc).decode()}
            r = c.post(
                "/api/v1/ofd/code",
                json={"signer_subscriber_id": w.zhang.subscriber_id, "document": document},
            )
            assert r.status_code == 422, r.text
            details.append(r.json()["detail"])
    shown = chinese_detail(tmp_path, details)
    assert shown[:2] == [f"OFD 文件：缺少文档根节点 “{root}”" for root in rootless], details
    assert shown[2] == (
        "OFD 文件：已有签名 “first / one”（“/Doc_0/Signs/Sign_0/Signature.xml”）与文档不符："
        f"“/{odd}” 在签署后被改动或移除，不能再签署"
    ), details[2]
    assert shown[3] == (
        f"OFD 文件：“{signs}” 的 Signature BaseLoc 位置 '/../a / b.xml' 指向文件包之外"
    ), details[3]
    assert shown[4] == (
        "OFD 文件：签名列表（Signatures.xml）与文件包中的签名不符：条目 “s9 / extra”："
        "文件包中缺少 “Doc_0/Signs/a / b.xml”，不能再签署"
    ), details[4]
