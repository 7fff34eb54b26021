"""A PDF sealed the GB/T 38540 way with platform seals: the service, the CLI, HTTP, ``verify``.

The SM2 platform of ``test_ofd_platform`` (its ``w`` fixture: ``yinxin init --algorithm sm2``,
张三 with a personal SM2 seal, 王五 granted the organization's SM2 contract seal, 李雷 with an
ECDSA seal). 张三 seals a contract PDF through the service with code + PIN; 王五 seals the result
in turn with ``yinxin sign ses-pdf-code`` / ``yinxin sign ses-pdf`` as real subprocesses; both
signatures are VALID by ``SesPdfSigning.verify`` and by ``yinxin verify`` where the platform is
(no ``--trust``); the record, the archive and the audit event are as for OFD. Refusals write
nothing. Over HTTP: ``/api/v1/ses-pdf/code`` + ``/sign``, then ``/api/v1/verifications`` judges
the result, and an OFD, by their content.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import subprocess

import pytest
from sqlalchemy import select

from tests.dbdump import dump
from tests.fixtures.samples import contract_pdf
from tests.integration.server import yinxin_cli
from tests.integration.signing_flow import CODE_SPACING, encrypted, outbox_lines, read_code
from tests.integration.test_ofd_platform import (  # noqa: F401 - w: the fixture
    World,
    api_with_a_wrong_code,
    refused,
    w,
)
from yinxin.errors import ValidationError
from yinxin.ofd.make import make_ofd
from yinxin.pdf.ses import der_length
from yinxin.pdf.sign import Placement
from yinxin.seals.ses_signature import parse_ses_signature
from yinxin.store.models import AuditEvent
from yinxin.store.models.archive import ArchivedDocument
from yinxin.store.models.signing import SignatureRecord


def code_for(w: World, who, doc: bytes) -> tuple[str, str]:
    w.clock.advance(seconds=CODE_SPACING.total_seconds())
    before = outbox_lines(w.outbox)
    ch = w.p.ses_pdf_signing.request_confirmation(
        signer_subscriber_id=who.subscriber_id, document=doc, document_name="合同.pdf"
    )
    return ch.challenge_id, read_code(w.outbox, who.phone, after=before)


def sign_call(w: World, who, doc: bytes, challenge: str, code: str, **kw):
    args = {
        "seal": who.seal.es_id,
        "pin": who.pin,
        "signer_subscriber_id": who.subscriber_id,
        "challenge_id": challenge,
        "code": code,
        "placement": Placement(anchor="乙方"),
        "role": "乙方",
        "document_name": "合同.pdf",
    }
    args.update(kw)
    return lambda: w.p.ses_pdf_signing.sign(doc, **args)


@pytest.fixture(scope="module")
def flow(w: World):  # noqa: F811 - the imported fixture
    original = contract_pdf(2, title="技术服务合同")
    ch, code = code_for(w, w.zhang, original)
    first = sign_call(w, w.zhang, original, ch, code)()
    src, out = w.home / "ses-after-zhang.pdf", w.home / "ses-after-wang.pdf"
    src.write_bytes(first.data)
    before = outbox_lines(w.outbox)
    r = yinxin_cli(
        ["sign", "ses-pdf-code", "--in", str(src), "--signer", str(w.wang.subscriber_id)]
        + ["--json"],
        w.home,
    )
    challenge = json.loads(r.stdout)["challenge_id"]
    code2 = read_code(w.outbox, w.wang.phone, after=before)
    r = yinxin_cli(
        ["sign", "ses-pdf", "--in", str(src), "--out", str(out), "--seal", w.wang.seal.es_id]
        + ["--signer", str(w.wang.subscriber_id), "--challenge", challenge]
        + ["--anchor", "甲方", "--role", "甲方", "--json"],
        w.home,
        env={"YINXIN_SEAL_PIN": w.wang.pin, "YINXIN_CODE": code2},
    )
    return original, first, out.read_bytes(), json.loads(r.stdout)


def test_two_platform_seals_in_turn_verify(w: World, flow) -> None:  # noqa: F811
    original, first, second, second_json = flow
    assert first.signature_id == "SES1" and second_json["field_name"] == "SES2"
    report = w.p.ses_pdf_signing.verify(second, at=w.clock.now())
    assert report.valid and len(report.signatures) == 2, report.to_text()
    for sig, who in zip(report.signatures, (w.zhang, w.wang), strict=True):
        checks = {c["name"]: c["ok"] for c in sig.value["checks"]}
        assert checks["timestamp"] is True and checks["seal_maker_trusted"] is True
        # the platform's own CRL checks the signer's certificate: no --crl needed here
        assert checks["signer_certificate_revocation"] is True
        assert sig.value["es_id"] == who.seal.es_id
    # the value: SM2, the platform's SM2 TSA, the seal made by the SM2 issuing CA
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields

    reader = PdfFileReader(io.BytesIO(second))
    for _name, ref, _f in enumerate_sig_fields(reader, filled_status=True):
        raw = bytes(ref.get_object()["/Contents"])
        value = parse_ses_signature(raw[: der_length(raw)])
        assert value.sign_alg_oid == "1.2.156.10197.1.501" and value.timestamp_token
    # `yinxin verify` where the platform is: its root and issuing CA are the trust
    (w.home / "v.pdf").write_bytes(second)
    at = (w.clock.now()).isoformat()
    r = yinxin_cli(["verify", str(w.home / "v.pdf"), "--at", at, "--json"], w.home, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["kind"] == "pdf-ses"
    bad = bytearray(second)
    bad[len(original) // 2] ^= 0x01
    (w.home / "bad.pdf").write_bytes(bytes(bad))
    r = yinxin_cli(["verify", str(w.home / "bad.pdf"), "--at", at], w.home, check=False)
    assert r.returncode == 1 and "无效 / INVALID" in r.stdout


def test_record_archive_and_audit(w: World, flow) -> None:  # noqa: F811
    original, first, second, second_json = flow
    rec = first.record
    assert rec.level == "B-T" and rec.role == "乙方" and rec.es_id == w.zhang.seal.es_id
    assert rec.sha256_before == hashlib.sha256(original).hexdigest()
    assert rec.sha256_after == hashlib.sha256(first.data).hexdigest()
    with w.p.db.read() as s:
        archived = s.execute(
            select(ArchivedDocument).where(ArchivedDocument.signature_record_id == rec.id)
        ).scalar_one()
        event = s.execute(
            select(AuditEvent).where(
                AuditEvent.action == "document.signed", AuditEvent.subject_id == str(rec.id)
            )
        ).scalar_one()
        wang = s.execute(
            select(SignatureRecord).where(SignatureRecord.id == second_json["id"])
        ).scalar_one()
    data = json.loads(event.data) if isinstance(event.data, str) else event.data
    assert data["format"] == "pdf-ses" and data["sub_filter"] == "/GBT38540.SES"
    assert archived.sha256 == rec.sha256_after
    assert w.p.archive.signed_file(rec.sha256_after, rec.id) == first.data
    assert wang.sha256_before == rec.sha256_after and wang.role == "甲方"
    assert wang.sha256_after == hashlib.sha256(second).hexdigest()


def test_refusals_write_nothing(w: World, flow) -> None:  # noqa: F811
    original = flow[0]
    # an ECDSA seal: named, before its PIN is tried
    ch, code = code_for(w, w.li, original)
    refused(w, sign_call(w, w.li, original, ch, code), ValidationError, "seal")
    # an anchor that is not there: refused before the code is used; the code then signs
    ch, code = code_for(w, w.zhang, original)
    refused(
        w,
        sign_call(w, w.zhang, original, ch, code, placement=Placement(anchor="丙方（签章）")),
        ValidationError,
        "placement",
    )
    # not a PDF, one cut short or one encrypted (each was sent a code): no code is sent
    before = outbox_lines(w.outbox)
    for bad in (make_ofd([["x"]]), original[: len(original) // 2], encrypted(original)):
        refused(
            w,
            lambda bad=bad: w.p.ses_pdf_signing.request_confirmation(
                signer_subscriber_id=w.zhang.subscriber_id, document=bad, document_name="x"
            ),
            ValidationError,
            "pdf",
        )
    assert outbox_lines(w.outbox) == before
    # the CLI: no placement, or an ECDSA seal — exit 2 naming the field, no file, no record
    (w.home / "orig.pdf").write_bytes(original)
    records = dump(w.p)["signature_records"]
    base = ["sign", "ses-pdf", "--in", str(w.home / "orig.pdf"), "--out", str(w.home / "x.pdf")]
    for extra, field in (
        (["--seal", w.zhang.seal.es_id, "--signer", str(w.zhang.subscriber_id)], "placement"),
        (
            ["--seal", w.li.seal.es_id, "--signer", str(w.li.subscriber_id), "--anchor", "乙方"],
            "seal",
        ),
    ):
        r = yinxin_cli(
            [*base, *extra, "--challenge", ch, "--json"],
            w.home,
            env={"YINXIN_SEAL_PIN": w.li.pin, "YINXIN_CODE": code},
            check=False,
        )
        assert r.returncode == 2 and json.loads(r.stdout)["field"] == field, r.stdout + r.stderr
    assert not (w.home / "x.pdf").exists() and dump(w.p)["signature_records"] == records
    signed = sign_call(w, w.zhang, original, ch, code)()
    assert w.p.ses_pdf_signing.verify(signed.data, at=w.clock.now()).valid


def test_http_sign_and_verify_by_content(w: World, flow) -> None:  # noqa: F811
    from starlette.testclient import TestClient

    from yinxin.adapters.http.server import create_app

    key = w.p.api_keys.create(name="oa-ses", role="integration", actor="test").secret
    doc = contract_pdf(1, title="委托合同")
    document = {"name": "委托合同.pdf", "content_base64": base64.b64encode(doc).decode()}
    with TestClient(
        create_app(w.p, jobs=False),
        base_url="http://127.0.0.1:8000",
        headers={"Authorization": f"Bearer {key}"},
    ) as c:
        w.clock.advance(seconds=CODE_SPACING.total_seconds())
        before_sms = outbox_lines(w.outbox)
        r = c.post(
            "/api/v1/ses-pdf/code",
            json={"signer_subscriber_id": w.zhang.subscriber_id, "document": document},
        )
        assert r.status_code == 201, r.text
        body = {
            "signer_subscriber_id": w.zhang.subscriber_id,
            "document": document,
            "seal": w.zhang.seal.es_id,
            "pin": w.zhang.pin,
            "challenge_id": r.json()["challenge_id"],
            "code": read_code(w.outbox, w.zhang.phone, after=before_sms),
            "placement": {"anchor": "乙方"},
            "role": "乙方",
        }
        records = dump(w.p)["signature_records"]
        r = c.post("/api/v1/ses-pdf/sign", json={**body, "pin": "000000"})
        assert r.status_code == 403 and r.json()["field"] == "pin", r.text
        r = c.post(
            "/api/v1/ses-pdf/sign",
            json={**body, "seal": w.li.seal.es_id, "signer_subscriber_id": w.li.subscriber_id},
        )
        assert r.status_code == 422 and r.json()["field"] == "seal", r.text
        assert dump(w.p)["signature_records"] == records
        r = c.post("/api/v1/ses-pdf/sign", json=body)
        assert r.status_code == 200, r.text
        signed = base64.b64decode(r.json()["content_base64"])
        assert r.json()["signature_id"] == "SES1"
        # the verification route judges it by content, and an OFD too; the PDF report: PAdES only
        at = {"at": w.clock.now().isoformat()}
        pdf_head = {"Content-Type": "application/pdf"}
        r = c.post("/api/v1/verifications", content=signed, headers=pdf_head, params=at)
        assert r.status_code == 200 and r.json()["kind"] == "pdf-ses", r.text
        assert r.json()["valid"] is True and r.json()["indication"] == "TOTAL-PASSED"
        assert [s["indication"] for s in r.json()["signatures"]] == ["TOTAL-PASSED"]
        r = c.post(
            "/api/v1/verifications",
            content=signed,
            headers=pdf_head,
            params={**at, "format": "pdf", "file_name": "合同.pdf"},
        )
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/pdf")
        text = subprocess.run(
            ["pdftotext", "-layout", "-", "-"],
            input=r.content,
            capture_output=True,
            check=True,
        ).stdout.decode()
        for words in ("电子签章验证报告", "合同.pdf", "有效 VALID — 全部电子签章验证通过"):
            assert words in text, (words, text)
        assert "通过：印章在本平台的状态" in text and "未通过" not in text, text
        r = c.post(
            "/api/v1/verifications",
            content=make_ofd([["未签名"]]),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert r.status_code == 200 and r.json()["kind"] == "ofd", r.text
        assert r.json()["valid"] is False and r.json()["problems"] == [
            "文档未签名 / the document is not signed"
        ]
        assert r.json()["indication"] == "TOTAL-FAILED"  # no signature is nothing to wait for


# --- last: it revokes 王五's contract seal -----------------------------------------------------
def test_a_seal_revoked_here_before_the_signing_is_invalid(w: World, flow) -> None:  # noqa: F811
    """GB/T 38540 has no seal status service; the platform knows its own seals. Revoked after
    王五 signed: still VALID, the check says so. Had it been revoked before (the revocation time
    moved back in the database: a key used outside the platform after 废止), INVALID — by the
    service and by `yinxin verify` where the platform is; an OFD he sealed alike."""
    from sqlalchemy import update

    from yinxin.store.models.seals import Seal

    second = flow[2]
    # an OFD sealed by 王五 too, before the revocation (the same check for OFD)
    from yinxin.ofd.sign import Placement as OfdPlacement

    ofd = make_ofd([["合同", "", "甲方（签章）："]])
    w.clock.advance(seconds=CODE_SPACING.total_seconds())
    before = outbox_lines(w.outbox)
    ch = w.p.ofd_signing.request_confirmation(
        signer_subscriber_id=w.wang.subscriber_id, document=ofd, document_name="合同.ofd"
    )
    ofd = w.p.ofd_signing.sign(
        ofd,
        seal=w.wang.seal.es_id,
        pin=w.wang.pin,
        signer_subscriber_id=w.wang.subscriber_id,
        challenge_id=ch.challenge_id,
        code=read_code(w.outbox, w.wang.phone, after=before),
        placement=OfdPlacement(anchor="甲方（签章）"),
    ).data
    w.clock.advance(seconds=5)
    at = w.clock.now()
    w.p.seals.revoke(w.wang.seal.es_id, reason="holder_request", actor="受理员 陈静")
    report = w.p.ses_pdf_signing.verify(second, at=at)
    assert report.valid, report.to_text()
    assert report.to_dict()["indication"] == "TOTAL-PASSED"
    status = {c["name"]: c for c in report.signatures[1].value["checks"]}["seal_status"]
    assert status["ok"] is True and "after the signing" in status["detail"]
    assert status["outcome"] == "passed"
    with w.p.db.transaction() as s:
        s.execute(
            update(Seal)
            .where(Seal.es_id == w.wang.seal.es_id)
            .values(revoked_at=at - dt.timedelta(days=1))
        )
    report = w.p.ses_pdf_signing.verify(second, at=at)
    assert not report.valid
    one, two = report.signatures
    assert one.valid and not two.valid  # 张三's seal is not revoked
    assert any("before the signing" in p for p in two.problems)
    status = {c["name"]: c for c in two.value["checks"]}["seal_status"]
    assert status["outcome"] == "failed", status
    # revoked before a signing its timestamp proves: INVALID for good, not "cannot tell"
    assert [s["indication"] for s in report.to_dict()["signatures"]] == [
        "TOTAL-PASSED",
        "TOTAL-FAILED",
    ]
    assert report.to_text().endswith("结论 / Verdict: 无效 / INVALID")
    (w.home / "revoked.pdf").write_bytes(second)
    r = yinxin_cli(
        ["verify", str(w.home / "revoked.pdf"), "--at", at.isoformat()], w.home, check=False
    )
    assert r.returncode == 1 and "[FAILED] 印章在本平台的状态 / seal_status" in r.stdout, (
        r.stdout + r.stderr
    )
    # the OFD alike: by the service, and by `yinxin verify` where the platform is
    report = w.p.ofd_signing.verify(ofd, at=at)
    checks = {c["name"]: c for c in report.signatures[0].value["checks"]}
    assert not report.valid and checks["seal_status"]["ok"] is False
    assert checks["seal_status"]["outcome"] == "failed"
    assert report.to_dict()["indication"] == "TOTAL-FAILED"
    (w.home / "revoked.ofd").write_bytes(ofd)
    r = yinxin_cli(
        ["verify", str(w.home / "revoked.ofd"), "--at", at.isoformat(), "--json"],
        w.home,
        check=False,
    )
    assert r.returncode == 1 and json.loads(r.stdout)["kind"] == "ofd", r.stdout + r.stderr
    assert json.loads(r.stdout)["indication"] == "TOTAL-FAILED"


def test_http_a_wrong_code_with_a_bad_placement_uses_no_try(w: World, flow) -> None:  # noqa: F811
    """``POST /api/v1/ses-pdf/sign`` with a wrong code and an anchor text the PDF does not hold,
    a page it has not, or a position where the seal (at its own size) runs off the page, used
    one of the code's tries and answered ``403 wrong_code``; the placement is checked before
    the code now (``422`` naming ``placement``, the try counter as it was). A wrong code with a
    good request still uses a try."""
    doc = contract_pdf(1, title="咨询合同")
    document = {"name": "咨询合同.pdf", "content_base64": base64.b64encode(doc).decode()}
    ch, code = code_for(w, w.zhang, doc)
    with api_with_a_wrong_code(w, document, ch, code) as (c, body, tries):
        records = dump(w.p)["signature_records"]
        for placement, code_name in (
            ({"anchor": "丙方"}, "anchor_not_found"),
            ({"page": 9, "x_mm": 20, "y_mm": 20}, "page_out_of_range"),
            # a page it has, the seal at its own size running off the right edge
            ({"page": 1, "x_mm": 200, "y_mm": 20}, "outside_page"),
        ):
            r = c.post("/api/v1/ses-pdf/sign", json={**body, "placement": placement})
            assert r.status_code == 422 and r.json()["field"] == "placement", r.text
            assert r.json()["code"] == code_name, r.text
            assert tries() == 0, placement
        good = {**body, "placement": {"anchor": "乙方"}}
        r = c.post("/api/v1/ses-pdf/sign", json=good)
        assert r.status_code == 403 and r.json()["code"] == "wrong_code", r.text
        assert tries() == 1
        assert dump(w.p)["signature_records"] == records
        r = c.post("/api/v1/ses-pdf/sign", json={**good, "code": code})
        assert r.status_code == 200, r.text


def test_an_altered_earlier_seal_signature_gets_no_code(w: World, flow) -> None:  # noqa: F811
    """A PDF whose earlier GB/T 38540 seal signature no longer matches it (a byte it covers
    changed, a page added after it) was sent a code — an SMS, a challenge — and refused only by
    the dry run after the PIN. The code request refuses it now with signing's error
    (``broken_signature`` naming ``pdf``), nothing sent or written; signing refuses it before
    the PIN."""
    from tests.integration.signing_flow import add_page, flip_signed_byte

    signed = flow[1].data
    w.clock.advance(seconds=CODE_SPACING.total_seconds())
    sent = outbox_lines(w.outbox)
    for bad in (flip_signed_byte(signed)[0], add_page(signed)):
        ask = lambda bad=bad: w.p.ses_pdf_signing.request_confirmation(  # noqa: E731
            signer_subscriber_id=w.wang.subscriber_id, document=bad, document_name="x.pdf"
        )
        e = refused(w, ask, ValidationError, "pdf")
        assert e.code == "broken_signature", e.to_dict()
        assert outbox_lines(w.outbox) == sent
        # with a code for another document and a wrong PIN: the document's error, no PIN try
        ch, code = code_for(w, w.wang, flow[0])
        go = sign_call(w, w.wang, bad, ch, code, pin="000000", placement=Placement(anchor="甲方"))
        assert refused(w, go, ValidationError, "pdf").to_dict() == e.to_dict()
        sent = outbox_lines(w.outbox)


def test_the_platforms_crl_older_than_a_seal_signature_is_renewed(w: World, flow) -> None:  # noqa: F811
    """As for OFD (test_ofd_platform): a PDF sealed after the CRL the endpoint serves was
    signed read "not checked: the CRL given predates the signing time" where the platform is;
    the platform signs a current CRL once and the check says "not on the CRL of …"."""
    original = flow[0]
    old = w.p.status.current_crl("issuing")
    w.clock.advance(minutes=10)  # sealed well after the CRL the endpoint serves
    ch, code = code_for(w, w.zhang, original)  # 王五's seal is revoked by a test above
    signed = sign_call(w, w.zhang, original, ch, code)()
    crls = []
    for _ in range(2):
        report = w.p.ses_pdf_signing.verify(signed.data, at=w.clock.now())
        assert report.valid, report.to_text()
        checks = {c["name"]: c for c in report.signatures[0].value["checks"]}
        check = checks["signer_certificate_revocation"]
        assert check["ok"] is True and " / not on the CRL of " in check["detail"], check
        crls.append(w.p.status.current_crl("issuing"))
    assert crls[0] != old and crls[1] == crls[0]  # renewed once, not at every verification


def test_the_text_report_says_the_seals_page_in_both_languages(w: World, flow) -> None:  # noqa: F811
    """The text report's stamp line was "印章位置 / stamp: page 1": its Chinese half in
    English, where an OFD's reads "第 1 页 … / page 1 …"."""
    report = w.p.ses_pdf_signing.verify(flow[2], at=w.clock.now())
    text = report.to_text()
    pages = [sig.page for sig in report.signatures]
    assert len(pages) == 2 and all(pages), pages
    for page in pages:
        assert f"  印章位置 / stamp: 第 {page} 页 / page {page}\n" in text, text


def test_the_text_report_says_the_signed_revision_in_both_languages(w: World, flow) -> None:  # noqa: F811
    """Each signature's title line read "签名 / signature Signature1 (/GBT38540.SES, revision
    2)": the revision it signs in English only, where the rest of the line and an OFD's title
    are "中文 / English". It reads "第 2 版 / revision 2" now, the same number in both."""
    report = w.p.ses_pdf_signing.verify(flow[2], at=w.clock.now())
    text = report.to_text()
    assert len(report.signatures) == 2, text
    for sig in report.signatures:
        n = sig.revision + 1
        title = f"签名 / signature {sig.field_name} (/GBT38540.SES, 第 {n} 版 / revision {n}): "
        assert f"\n{title}" in text, text
    assert ", revision " not in text, text
