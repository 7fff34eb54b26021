"""A prepared field's seed values (/SV) judged with the signer's certificate before the
signer's code is asked for or checked: a batch's code (and so a sign flow's link), `sign pdf
--field`, and a sign flow's create naming the field for a signer.

Before, ``check_field`` had no certificate and judged no seed value: the code was sent (an
SMS, a minute before the next), typed in, checked (a wrong one counted against it) and the
PIN tried, and only sealing refused — a seal that could never be made; a flow naming a field
whose /Cert another certificate meets was created, and every signer after that one stuck.
What the check lets through is sealed and verifies with pyHanko's validator (which judges the
seed values); what it refuses pyHanko calls failed (test_pdf_sign_into_field).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import shutil
from pathlib import Path

import pytest
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from tests import dbdump
from tests.dbdump import count
from tests.fixtures.samples import contract_pdf
from tests.integration.signing_flow import World, outbox_lines, read_code
from tests.page_js import run_page_function
from yinxin.errors import ValidationError
from yinxin.signing.batch import BatchItem
from yinxin.signing.flows import SignerSpec
from yinxin.store.models.signing import SignatureRecord

A_BOX = (60, 120, 220, 220)
B_BOX = (330, 120, 490, 220)


def _asn1(pem: str) -> a_x509.Certificate:
    return a_x509.Certificate.load(
        x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)
    )


def _contract(w: World, case: str) -> bytes:
    """A contract with 甲方签章 (seed values of ``case``) and 乙方签章 prepared."""
    flags = fields.SigCertConstraintFlags
    sv = {
        # 甲方's field asks for 乙方's certificate: the contract seal cannot meet it
        "subject-other": fields.SigSeedValueSpec(
            cert=fields.SigCertConstraints(flags=flags.SUBJECT, subjects=[_asn1(w.person_cert.pem)])
        ),
        "subject-ours": fields.SigSeedValueSpec(
            cert=fields.SigCertConstraints(flags=flags.SUBJECT, subjects=[_asn1(w.org_cert.pem)])
        ),
        "reasons-other": fields.SigSeedValueSpec(
            flags=fields.SigSeedValFlags.REASONS, reasons=["同意"]
        ),
        "timestamp": fields.SigSeedValueSpec(
            timestamp_required=True, timestamp_server_url="http://127.0.0.1:9/tsa"
        ),
        "mdp": fields.SigSeedValueSpec(
            seed_signature_type=fields.SeedSignatureType(fields.MDPPerm(2))
        ),
    }[case]
    writer = IncrementalPdfFileWriter(io.BytesIO(contract_pdf(1)))
    fields.append_signature_field(
        writer, fields.SigFieldSpec("甲方签章", box=A_BOX, on_page=0, seed_value_dict=sv)
    )
    fields.append_signature_field(writer, fields.SigFieldSpec("乙方签章", box=B_BOX, on_page=0))
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _items(pdf: bytes, role: str = "甲方") -> list[BatchItem]:
    return [BatchItem(pdf, "技术服务合同.pdf", role=role, field_name="甲方签章")]


@pytest.mark.parametrize(
    "case, level, named",
    [
        ("subject-other", None, "/Cert"),
        ("reasons-other", None, "/Reasons"),
        ("timestamp", "B-B", "/TimeStamp"),
    ],
)
def test_a_batch_gets_no_code_for_a_field_its_seal_cannot_meet(world, case, level, named):
    """The code for a batch with its seal (a flow's link asks the same way) is refused naming
    items[i].field_name, with no SMS and nothing stored: it was sent, and sealing refused."""
    w, p = world, world.p
    pdf = _contract(w, case)
    mark, before = outbox_lines(w.outbox), dbdump.dump(p)
    with pytest.raises(ValidationError) as e:
        p.batch.request_code(
            signer_subscriber_id=w.jia.id, items=_items(pdf), seal=w.jia.seal.es_id, level=level
        )
    assert (e.value.field, e.value.code) == ("items[0].field_name", "seed_value"), e.value.message
    assert "'甲方签章'" in e.value.message and named in e.value.message, e.value.message
    assert outbox_lines(w.outbox) == mark  # no SMS
    assert dbdump.diff(before, dbdump.dump(p)) == []


def _second_seal(w: World, algorithm: str | None = None) -> str:
    """王五 given a personal seal of his own (``algorithm``: its key's, e.g. ``sm2``) beside
    the contract seal his grant lets him use; its esID."""
    from tests.integration.signing_flow import PERSON_PIN, _form, _issue

    key = {"algorithm": algorithm} if algorithm else {}
    if algorithm:
        w.p.ca.add_hierarchy(algorithm)
    cert = _issue(w.p, w.member.id, "person-signing", pin=PERSON_PIN, **key)
    return w.p.seals.create(
        subscriber_id=w.member.id,
        kind="personal",
        certificate_serial=cert.serial,
        form=_form("王五", "350102198511223455"),
    ).es_id


def test_signing_is_refused_on_the_seed_value_before_the_code_is_checked(world):
    """A code asked for without the seal where it cannot be told (`sign code` without
    --field, a batch's code without its seal by a signer with two seals): the signing is
    refused on the seed value before the code is checked or the PIN tried — a mistyped code
    costs no try (the challenge's row unchanged), a right one stays usable."""
    w, p = world, world.p
    pdf = _contract(w, "subject-other")
    # one document
    before = outbox_lines(w.outbox)
    ch = p.signing.request_confirmation(
        signer_subscriber_id=w.jia.id, document=pdf, document_name="技术服务合同.pdf"
    )
    code = read_code(w.outbox, w.jia.phone, after=before)
    wrong = "000000" if code != "000000" else "111111"
    snap = dbdump.dump(p)
    with pytest.raises(ValidationError) as e:
        p.signing.sign(
            pdf,
            seal=w.jia.seal.es_id,
            pin=w.jia.pin,
            signer_subscriber_id=w.jia.id,
            challenge_id=ch.challenge_id,
            code=wrong,
            role="甲方",
            field_name="甲方签章",
        )
    assert (e.value.field, e.value.code) == ("field_name", "seed_value"), e.value.message
    assert dbdump.diff(snap, dbdump.dump(p)) == []  # the wrong code was not counted
    # a batch, its signer able to sign with two seals: which one is not known at the code
    _second_seal(w)
    w.clock.advance(minutes=7)
    before = outbox_lines(w.outbox)
    ch = p.batch.request_code(signer_subscriber_id=w.jia.id, items=_items(pdf))  # no seal
    code = read_code(w.outbox, w.jia.phone, after=before)
    wrong = "000000" if code != "000000" else "111111"
    snap = dbdump.dump(p)
    with pytest.raises(ValidationError) as e:
        p.batch.sign(
            _items(pdf),
            seal=w.jia.seal.es_id,
            pin=w.jia.pin,
            signer_subscriber_id=w.jia.id,
            challenge_id=ch.challenge_id,
            code=wrong,
        )
    assert (e.value.field, e.value.code) == ("items[0].field_name", "seed_value"), e.value.message
    assert dbdump.diff(snap, dbdump.dump(p)) == []


def _flow(w: World, pdf: bytes, *signers: SignerSpec, order: str = "sequential"):  # noqa: ANN202
    return w.p.flows.create(
        "技术服务合同",
        documents=[("技术服务合同.pdf", pdf)],
        signers=list(signers),
        order=order,
        deadline=w.clock.now() + dt.timedelta(days=3),
    )


def _jia(w: World, turn: int) -> SignerSpec:
    return SignerSpec(w.jia.id, "甲方", w.jia.seal.es_id, order=turn, field_name="甲方签章")


def _yi(w: World, turn: int) -> SignerSpec:
    return SignerSpec(w.yi.id, "乙方", w.yi.seal.es_id, order=turn, field_name="乙方签章")


@pytest.mark.parametrize(
    "case, turns, named",
    [
        ("subject-other", (1, 2), "/Cert"),  # another certificate's field
        ("reasons-other", (1, 2), "/Reasons"),  # a reason "甲方签章" is not
        ("mdp", (2, 1), "/MDP"),  # a certification, and 乙方 signs before
    ],
)
def test_a_flow_naming_a_field_its_signer_cannot_meet_is_not_created(world, case, turns, named):
    """Refused at create naming signers[0].field_name, nothing stored: before, the flow was
    made, and 甲方's link refused at sealing, leaving every signer after 甲方 stuck."""
    w, p = world, world.p
    pdf = _contract(w, case)
    before, mark = dbdump.dump(p), outbox_lines(w.outbox)
    with pytest.raises(ValidationError) as e:
        _flow(w, pdf, _jia(w, turns[0]), _yi(w, turns[1]))
    assert (e.value.field, e.value.code) == ("signers[0].field_name", "seed_value"), e.value.message
    assert "'甲方签章'" in e.value.message and named in e.value.message, e.value.message
    assert dbdump.diff(before, dbdump.dump(p)) == [] and outbox_lines(w.outbox) == mark


def _sign_link(w: World, token: str, party) -> object:  # noqa: ANN001
    w.clock.advance(minutes=7)
    before = outbox_lines(w.outbox)
    ch = w.p.flows.request_code(token)
    code = read_code(w.outbox, party.phone, after=before)
    return w.p.flows.sign(token, pin=party.pin, challenge_id=ch.challenge_id, code=code)


def _both_sign(w, flow, first, second):  # noqa: ANN202
    """``first`` then ``second`` seal through their links; the completed flow PDF's
    signatures (the /Sig ones, in order) and our root as pyHanko's validator takes it."""
    p = w.p
    links = {link.subscriber_id: link.token for link in p.flows.start(flow.id).links}
    _sign_link(w, links[first.id], first)
    done = _sign_link(w, links[second.id], second)
    assert done.flow.state == "completed"
    (doc,) = done.flow.documents
    signed = p.flows.download(flow.id, doc.id).pdf
    root = a_x509.Certificate.load(p.ca.certificate("root").public_bytes(Encoding.DER))
    sigs = [
        e
        for e in PdfFileReader(io.BytesIO(signed)).embedded_signatures
        if e.sig_object_type == "/Sig"
    ]
    return sigs, root


@pytest.mark.parametrize(
    "case, turns, order",
    [
        ("subject-ours", (1, 2), "sequential"),  # the field asks for 甲方's own certificate
        ("mdp", (1, 2), "sequential"),  # 甲方 signs first: the certification is made
    ],
)
def test_a_field_its_signer_can_meet_is_sealed_and_verifies(world, case, turns, order):
    """What the check lets through at create is sealed through the links into its field and
    verifies with pyHanko's validator, which judges the field's seed values."""
    w = world
    pdf = _contract(w, case)
    flow = _flow(w, pdf, _jia(w, turns[0]), _yi(w, turns[1]), order=order)
    sigs, root = _both_sign(w, flow, w.jia, w.yi)
    assert [e.field_name for e in sigs] == ["甲方签章", "乙方签章"]
    for emb in sigs:
        st = validate_pdf_signature(
            emb, ValidationContext(trust_roots=[root], allow_fetching=False)
        )
        assert st.intact and st.valid and st.trusted and st.seed_value_ok, st.pretty_print_details()
        assert st.bottom_line, st.pretty_print_details()


def test_an_sm2_seal_is_not_a_crash_at_the_seed_check(world):
    """An SM2 seal's certificate has a key ``cryptography`` cannot read: the seed-value check
    does not fail with an error of its own when the code is asked for. The seal is refused for
    what it is — an SM2 key makes no PDF (PAdES) signature — naming ``seal``, before any code
    is sent (``SigningService.check_pdf_seal``; it was sent, and sealing refused the key once
    the PIN had opened it)."""
    from tests.integration.signing_flow import PERSON_PIN, _form, _issue

    w, p = world, world.p
    p.ca.add_hierarchy("sm2")
    cert = _issue(p, w.member.id, "person-signing", pin=PERSON_PIN, algorithm="sm2")
    seal = p.seals.create(
        subscriber_id=w.member.id,
        kind="personal",
        certificate_serial=cert.serial,
        form=_form("王五", "350102198511223455"),
    )
    pdf = _contract(w, "subject-other")
    mark = outbox_lines(w.outbox)
    with pytest.raises(ValidationError) as e:
        p.batch.request_code(
            signer_subscriber_id=w.member.id, items=_items(pdf, "乙方"), seal=seal.es_id
        )
    assert (e.value.field, e.value.code) == ("seal", "unsupported_algorithm"), e.value
    assert outbox_lines(w.outbox) == mark  # no code sent


@pytest.mark.parametrize("how", ["batch", "one document"])
def test_a_code_without_the_seal_is_judged_with_the_signers_only_seal(world, how):
    """王五 can sign a PDF with one seal only (the contract seal his grant names; an SM2 seal
    of his own signs OFDs): a code asked for without naming it (a batch's code without
    ``seal``, ``sign code --field``) is judged with it — refused naming the field, the
    message naming the seal, no SMS, nothing stored. Before, the code was sent, and the
    signing refused once it was typed in."""
    w, p = world, world.p
    _second_seal(w, "sm2")
    pdf = _contract(w, "subject-other")
    mark, before = outbox_lines(w.outbox), dbdump.dump(p)
    with pytest.raises(ValidationError) as e:
        if how == "batch":
            p.batch.request_code(signer_subscriber_id=w.jia.id, items=_items(pdf))
        else:
            p.signing.request_confirmation(
                signer_subscriber_id=w.jia.id,
                document=pdf,
                document_name="技术服务合同.pdf",
                field_name="甲方签章",
                role="甲方",
            )
    field = "items[0].field_name" if how == "batch" else "field_name"
    assert (e.value.field, e.value.code) == (field, "seed_value"), e.value.message
    assert "'甲方签章'" in e.value.message and "/Cert" in e.value.message, e.value.message
    assert w.jia.seal.es_id in e.value.message, e.value.message
    assert outbox_lines(w.outbox) == mark  # no SMS
    assert dbdump.diff(before, dbdump.dump(p)) == []


def test_a_single_documents_code_naming_the_field_and_seal_is_judged(world):
    """``request_confirmation`` with ``field_name`` and ``seal`` (``sign code --field
    --seal``): the field is judged with that seal, its role, level and lock as ``sign`` will
    be given them — a timestamp at B-B refused, nothing sent; a field the seal can meet gets
    its code; a field already signed or of another name's type is refused as ``sign`` would."""
    w, p = world, world.p
    pdf = _contract(w, "timestamp")
    mark, before = outbox_lines(w.outbox), dbdump.dump(p)
    ask = {
        "signer_subscriber_id": w.yi.id,
        "document": pdf,
        "document_name": "技术服务合同.pdf",
        "seal": w.yi.seal.es_id,
        "role": "乙方",
    }
    with pytest.raises(ValidationError) as e:
        p.signing.request_confirmation(**ask, field_name="甲方签章", level="B-B")
    assert (e.value.field, e.value.code) == ("field_name", "seed_value"), e.value.message
    assert "/TimeStamp" in e.value.message, e.value.message
    with pytest.raises(ValidationError) as e:
        p.signing.request_confirmation(**ask, field_name="甲方签章", level="B-X")
    assert e.value.field == "level", e.value.message
    assert outbox_lines(w.outbox) == mark and dbdump.diff(before, dbdump.dump(p)) == []
    ch = p.signing.request_confirmation(**ask, field_name="甲方签章", level="B-T")
    assert ch.challenge_id and outbox_lines(w.outbox) == mark + 1


def _api_doc(pdf: bytes, role: str = "甲方") -> dict:
    import base64

    return {
        "name": "技术服务合同.pdf",
        "content_base64": base64.b64encode(pdf).decode(),
        "field_name": "甲方签章",
        "role": role,
    }


def test_the_apis_batch_code_judges_the_field_with_the_seal_and_level(world, client):
    """``POST /batches/code``: without ``seal`` the signer's only seal judges the field; its
    ``level`` (validated as ``/batches/sign`` does) judges a /TimeStamp seed value — 422
    naming ``items[0].field_name`` (or ``level``), no SMS, nothing stored. Before, the
    request had no ``level`` (422 as an unknown field) and, without ``seal``, the code was
    sent for a seal that could never be made."""
    w, p = world, world.p
    secret = p.api_keys.create(name="oa", role="integration", actor="t").secret
    h = {"Authorization": f"Bearer {secret}"}

    def ask(case: str, **more) -> object:
        body = {"signer_subscriber_id": w.jia.id, "documents": [_api_doc(_contract(w, case))]}
        return client.post("/api/v1/batches/code", json={**body, **more}, headers=h)

    ask("reasons-other", seal=w.jia.seal.es_id)  # the key's first use is written now
    mark, before = outbox_lines(w.outbox), dbdump.dump(p)
    named_field = "items[0].field_name"
    for case, more, field, named in [
        ("subject-other", {}, named_field, "/Cert"),
        ("timestamp", {"level": "B-B"}, named_field, "/TimeStamp"),
        ("timestamp", {"level": "B-B", "seal": w.jia.seal.es_id}, named_field, "/TimeStamp"),
        ("timestamp", {"level": "B-X"}, "level", None),
    ]:  # fmt: skip
        r = ask(case, **more)
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["field"] == field, body
        if named:
            assert body["code"] == "seed_value" and named in body["detail"], body
            assert "甲方签章" in body["detail"], body
    assert outbox_lines(w.outbox) == mark  # no SMS
    assert dbdump.diff(before, dbdump.dump(p)) == []
    schema = client.get("/api/v1/openapi.json").json()["components"]["schemas"]["BatchCodeIn"]
    assert "level" in schema["properties"], schema
    r = ask("timestamp", level="B-T")  # a level that timestamps: the code is sent
    assert r.status_code == 201, r.text
    assert outbox_lines(w.outbox) == mark + 1


# --- field locks (FieldMDP) ---------------------------------------------------------------------


def _other_platform_key():  # noqa: ANN202
    """A key and self-signed certificate of another platform, which signed before ours."""
    from tests.certs import self_signed

    return self_signed("别家签约平台")


def _a_wrong_code_for_jia(w, pdf: bytes, mark: int, **more):  # noqa: ANN202
    """甲方 asks for a code for ``pdf`` (it is sent) and signs with a wrong one: the refusal
    raised, and the database as it was before the signing (a wrong code counted would show)."""
    ch = w.p.signing.request_confirmation(
        signer_subscriber_id=w.jia.id, document=pdf, document_name="技术服务合同.pdf"
    )
    code = read_code(w.outbox, w.jia.phone, after=mark)
    snap = dbdump.dump(w.p)
    with pytest.raises(ValidationError) as e:
        w.p.signing.sign(
            pdf,
            seal=w.jia.seal.es_id,
            pin=w.jia.pin,
            signer_subscriber_id=w.jia.id,
            challenge_id=ch.challenge_id,
            code="000000" if code != "000000" else "111111",
            role="甲方",
            **more,
        )
    return e, snap


def locked_by_intermediary(
    locked: str = "甲方签章", pdf: bytes | None = None, action: str = "include"
) -> bytes:
    """A contract (``pdf``, or the sample) whose 中介方签章 — its /Lock naming ``locked``
    (FieldMDP /Include; ``exclude``: every field but it) — another platform has signed: the
    fields it locks can no longer be sealed."""
    from pyhanko.sign import signers

    from tests.integration.pdf_inputs_corpus import pyhanko_signer

    lock = fields.FieldMDPSpec(fields.FieldMDPAction(f"/{action.title()}"), fields=[locked])
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf or contract_pdf(1)))
    for spec in (
        fields.SigFieldSpec("中介方签章", box=(60, 300, 220, 400), on_page=0, field_mdp_spec=lock),
        fields.SigFieldSpec("甲方签章", box=A_BOX, on_page=0),
        fields.SigFieldSpec("乙方签章", box=B_BOX, on_page=0),
    ):
        fields.append_signature_field(writer, spec)
    buf = io.BytesIO()
    writer.write(buf)
    key, cert = _other_platform_key()
    meta = signers.PdfSignatureMetadata(
        field_name="中介方签章", subfilter=fields.SigSeedSubFilter.PADES
    )
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(buf.getvalue())), meta, signer=pyhanko_signer(key, cert)
    )
    return out.getvalue()


def test_a_field_an_earlier_signature_locked_is_refused_before_any_code(world):
    """甲方签章 locked by the intermediary's signature (FieldMDP): a batch's code (with the seal
    or without), `sign pdf --field` with a wrong code and a flow naming it for 甲方 are refused
    naming the field (``field_locked``), with no SMS, no try of the code and nothing stored.
    Before, the code was sent (and a wrong one counted) and the flow made: only sealing
    refused it, after the code, and a flow's 甲方 and everyone after were stuck."""
    w, p = world, world.p
    pdf = locked_by_intermediary()
    before, mark = dbdump.dump(p), outbox_lines(w.outbox)
    for seal in (w.jia.seal.es_id, None):
        with pytest.raises(ValidationError) as e:
            p.batch.request_code(signer_subscriber_id=w.jia.id, items=_items(pdf), seal=seal)
        assert (e.value.field, e.value.code) == ("items[0].field_name", "field_locked"), (
            e.value.message
        )
        assert "'甲方签章'" in e.value.message and "'中介方签章'" in e.value.message
    with pytest.raises(ValidationError) as e:
        _flow(w, pdf, _jia(w, 1), _yi(w, 2))
    assert (e.value.field, e.value.code) == ("signers[0].field_name", "field_locked"), (
        e.value.message
    )
    assert dbdump.diff(before, dbdump.dump(p)) == [] and outbox_lines(w.outbox) == mark
    # `sign code` has no field: its code is sent; `sign pdf --field` is refused before it
    e, snap = _a_wrong_code_for_jia(w, pdf, mark, field_name="甲方签章")
    assert (e.value.field, e.value.code) == ("field_name", "field_locked"), e.value.message
    assert dbdump.diff(snap, dbdump.dump(p)) == []  # the wrong code was not counted
    # the field the lock does not name: the flow is made
    assert _flow(w, pdf, _yi(w, 1)).id


def test_a_signer_placing_a_new_field_an_earlier_lock_covers_is_not_created(world):
    """The intermediary's signature locks every field but 甲方签章 (/Exclude), so a new field
    too: a flow whose 乙方 places the seal beside the fields was created (the document has an
    empty field, so its own check let it through), and 乙方 was refused at sealing. Refused
    at create naming signers[1].placement (``field_locked``); 甲方 into 甲方签章 alone is made."""
    w, p = world, world.p
    pdf = locked_by_intermediary(action="exclude")
    before, mark = dbdump.dump(p), outbox_lines(w.outbox)
    with pytest.raises(ValidationError) as e:
        _flow(w, pdf, _jia(w, 1), _yi_placed(w, 2))
    assert (e.value.field, e.value.code) == ("signers[1].placement", "field_locked"), (
        e.value.message
    )
    assert "'中介方签章'" in e.value.message, e.value.message
    assert dbdump.diff(before, dbdump.dump(p)) == [] and outbox_lines(w.outbox) == mark
    assert _flow(w, pdf, _jia(w, 1)).id


def test_a_new_field_an_earlier_lock_covers_gets_no_code_or_no_try(world):
    """The intermediary's signature locks every field (/Exclude naming none of them, a new
    one too): `sign code` sent the code (the document has empty fields, so a field could
    still be named), and sealing refused whatever came. Refused now (``pdf``,
    ``field_locked``) with no SMS. With one field left free (/Exclude), the code is sent (that
    field can be sealed), and `sign pdf` placing the seal beside the fields with a wrong code
    is refused before the code is checked — before, the wrong code was counted, and a right
    one spent on a seal sealing refused."""
    w, p = world, world.p
    every = locked_by_intermediary(action="exclude", locked="(none)")
    before, mark = dbdump.dump(p), outbox_lines(w.outbox)
    with pytest.raises(ValidationError) as e:
        p.signing.request_confirmation(
            signer_subscriber_id=w.jia.id, document=every, document_name="技术服务合同.pdf"
        )
    assert (e.value.field, e.value.code) == ("pdf", "field_locked"), e.value.message
    assert dbdump.diff(before, dbdump.dump(p)) == [] and outbox_lines(w.outbox) == mark
    pdf = locked_by_intermediary(action="exclude")  # 甲方签章 free
    e, snap = _a_wrong_code_for_jia(w, pdf, mark)
    assert (e.value.field, e.value.code) == ("pdf", "field_locked"), e.value.message
    assert "'中介方签章'" in e.value.message, e.value.message
    assert dbdump.diff(snap, dbdump.dump(p)) == []  # the wrong code was not counted


def test_a_certification_field_in_a_parallel_flow_is_not_created(world):
    """甲方签章 asks (/SV /MDP P=2) for a certification, which only the document's first
    signature can give. In a parallel flow whoever signs first decides: it was created, and
    had 乙方 signed first, 甲方's seal was refused (test_a_certification_seed_on_a_signed_
    document_is_refused) and the flow stuck. Refused at create naming signers[0].field_name;
    sequential with 甲方 first it is made, sealed and verifies (the parametrized test above)."""
    w, p = world, world.p
    pdf = _contract(w, "mdp")
    before, mark = dbdump.dump(p), outbox_lines(w.outbox)
    with pytest.raises(ValidationError) as e:
        _flow(w, pdf, _jia(w, 1), _yi(w, 1), order="parallel")
    assert (e.value.field, e.value.code) == ("signers[0].field_name", "seed_value"), e.value.message
    assert "/MDP" in e.value.message and "parallel" in e.value.message, e.value.message
    assert dbdump.diff(before, dbdump.dump(p)) == [] and outbox_lines(w.outbox) == mark
    # a parallel flow of one signer: that signer is first
    assert _flow(w, pdf, _jia(w, 1), order="parallel").id


def _jia_locks(case: str) -> bytes:
    """A contract whose 甲方签章 forbids something of the seals after it: its /Lock covers
    乙方签章 (``include``), or every field but 乙方签章 (``exclude``: a new one too), or ends
    the document (``p1``: a lock naming another field, with /P 1), or its seed value asks for
    a certification permitting form filling (``mdp``)."""
    from tests.integration.test_pdf_sign_into_field import _edit_lock

    lock = sv = None
    if case == "include":
        lock = fields.FieldMDPSpec(fields.FieldMDPAction.INCLUDE, fields=["乙方签章"])
    elif case == "exclude":
        lock = fields.FieldMDPSpec(fields.FieldMDPAction.EXCLUDE, fields=["乙方签章"])
    elif case == "p1":
        lock = fields.FieldMDPSpec(fields.FieldMDPAction.INCLUDE, fields=["丙方签章"])
    else:
        sv = fields.SigSeedValueSpec(
            seed_signature_type=fields.SeedSignatureType(fields.MDPPerm(2))
        )
    writer = IncrementalPdfFileWriter(io.BytesIO(contract_pdf(1)))
    for spec in (
        fields.SigFieldSpec(
            "甲方签章", box=A_BOX, on_page=0, field_mdp_spec=lock, seed_value_dict=sv
        ),
        fields.SigFieldSpec("乙方签章", box=B_BOX, on_page=0),
        fields.SigFieldSpec("丙方签章", box=(60, 300, 220, 400), on_page=0),
    ):
        fields.append_signature_field(writer, spec)
    buf = io.BytesIO()
    writer.write(buf)
    return _edit_lock(buf.getvalue(), "甲方签章", "/P", 1) if case == "p1" else buf.getvalue()


def _yi_placed(w: World, turn: int) -> SignerSpec:
    return SignerSpec(w.yi.id, "乙方", w.yi.seal.es_id, order=turn)


@pytest.mark.parametrize(
    "case, yi, order, turns, code",
    [
        ("include", "field", "sequential", (1, 2), "field_locked"),
        ("include", "field", "parallel", (1, 1), "field_locked"),
        ("p1", "field", "sequential", (1, 2), "locked"),
        ("p1", "placed", "sequential", (1, 2), "locked"),
        ("mdp", "placed", "sequential", (1, 2), "certified"),
        # every field but 乙方签章: a new field beside it is locked too
        ("exclude", "placed", "sequential", (1, 2), "field_locked"),
    ],
)
def test_a_signer_an_earlier_signers_field_forbids_is_not_created(
    world, case, yi, order, turns, code
):
    """甲方's field locks 乙方's (or ends the document, or certifies it for its own fields
    while 乙方 places a new one), and 乙方 signs after 甲方 (or, in a parallel flow, may): the
    flow was created, 甲方 sealed, and 乙方 was refused at sealing — dead on arrival. Refused
    at create naming 乙方's field (or placement) with the code sealing gives."""
    w, p = world, world.p
    pdf = _jia_locks(case)
    second = _yi(w, turns[1]) if yi == "field" else _yi_placed(w, turns[1])
    before, mark = dbdump.dump(p), outbox_lines(w.outbox)
    with pytest.raises(ValidationError) as e:
        _flow(w, pdf, _jia(w, turns[0]), second, order=order)
    named = "signers[1].field_name" if yi == "field" else "signers[1].placement"
    assert (e.value.field, e.value.code) == (named, code), e.value.message
    assert "'甲方签章'" in e.value.message, e.value.message
    assert dbdump.diff(before, dbdump.dump(p)) == [] and outbox_lines(w.outbox) == mark


def test_the_locked_signer_first_is_sealed_and_verifies(world):
    """The same fields with 乙方 first: 甲方's lock then covers a field already signed, which
    it permits. Made, sealed through the links, and pyHanko's validator calls both intact,
    valid, trusted, with their locks and seed values kept (docmdp_ok)."""
    w = world
    pdf = _jia_locks("include")
    flow = _flow(w, pdf, _jia(w, 2), _yi(w, 1))
    sigs, root = _both_sign(w, flow, w.yi, w.jia)
    assert [e.field_name for e in sigs] == ["乙方签章", "甲方签章"]
    assert sigs[1].fieldmdp is not None and sigs[1].fieldmdp.is_locked("乙方签章")
    for emb in sigs:
        st = validate_pdf_signature(
            emb, ValidationContext(trust_roots=[root], allow_fetching=False)
        )
        assert st.intact and st.valid and st.trusted and st.docmdp_ok, st.pretty_print_details()
        assert st.bottom_line, st.pretty_print_details()


def certified_with_fields(w: World, case: str, asked: str | None = None) -> bytes:
    """A contract another platform certified (DocMDP P=2: a seal may go only into its empty
    fields 甲方签章 and 乙方签章). ``case``: ``cert-other``, both fields ask (/SV /Cert) for
    张三's certificate, which the contract seal cannot meet; ``one-free``, only 甲方签章 does;
    ``locked``, the certification locks both (FieldMDP /Include); ``single``, 甲方签章 is its
    only field, free. ``asked``: the
    certificate (PEM) the fields ask for instead of 张三's."""
    from pyhanko.sign import signers

    from tests.integration.pdf_inputs_corpus import pyhanko_signer

    person = fields.SigSeedValueSpec(
        cert=fields.SigCertConstraints(
            flags=fields.SigCertConstraintFlags.SUBJECT,
            subjects=[_asn1(asked or w.person_cert.pem)],
        )
    )
    sv = {
        "cert-other": (person, person),
        "one-free": (person, None),
        "locked": (None, None),
        "single": (None, None),
    }[case]
    lock = (
        fields.FieldMDPSpec(fields.FieldMDPAction.INCLUDE, fields=["甲方签章", "乙方签章"])
        if case == "locked"
        else None
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(contract_pdf(1)))
    for spec in (
        fields.SigFieldSpec("Certification", box=(0, 0, 0, 0), on_page=0, field_mdp_spec=lock),
        fields.SigFieldSpec("甲方签章", box=A_BOX, on_page=0, seed_value_dict=sv[0]),
        fields.SigFieldSpec("乙方签章", box=B_BOX, on_page=0, seed_value_dict=sv[1]),
    )[: 2 if case == "single" else 3]:
        fields.append_signature_field(writer, spec)
    buf = io.BytesIO()
    writer.write(buf)
    key, cert = _other_platform_key()
    meta = signers.PdfSignatureMetadata(
        field_name="Certification",
        subfilter=fields.SigSeedSubFilter.PADES,
        certify=True,
        docmdp_permissions=fields.MDPPerm.FILL_FORMS,
    )
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(buf.getvalue())), meta, signer=pyhanko_signer(key, cert)
    )
    return out.getvalue()


@pytest.mark.parametrize(
    "case, code, named",
    [
        ("cert-other", "seed_value", "/Cert"),  # no field takes the contract seal
        ("locked", "field_locked", "'Certification'"),  # the certification locks both
    ],
)
def test_a_code_without_a_field_on_a_certified_contract_no_field_takes_is_refused(
    world, case, code, named
):
    """A contract certified with P=2 takes a seal only into its empty fields (a new field
    breaks the certification: sealing refuses it, ``certified``), and here none takes 甲方's
    seal. `sign code` without --field sent the code all the same — the document had empty
    fields — and sealing refused whatever came after it: no field (``certified``), either
    field (``seed_value`` / ``field_locked``). Refused now naming ``field_name`` with the
    field's code, each field named, no SMS and nothing stored; with the seal named or found
    (the signer's only PDF seal) alike."""
    w, p = world, world.p
    pdf = certified_with_fields(w, case)
    before, mark = dbdump.dump(p), outbox_lines(w.outbox)
    for seal in (None, w.jia.seal.es_id):
        with pytest.raises(ValidationError) as e:
            p.signing.request_confirmation(
                signer_subscriber_id=w.jia.id,
                document=pdf,
                document_name="技术服务合同.pdf",
                seal=seal,
            )
        assert (e.value.field, e.value.code) == ("field_name", code), e.value.message
        for said in ("'甲方签章'", "'乙方签章'", named, "P=2"):
            assert said in e.value.message, e.value.message
        if code == "seed_value" and seal is None:
            assert w.jia.seal.es_id in e.value.message, e.value.message  # the seal it judged
    assert dbdump.diff(before, dbdump.dump(p)) == [] and outbox_lines(w.outbox) == mark
    # what the refusal stands for: with a right code (sent past the check), sealing refuses
    # with no field and into each, and stores no signature
    for field_name in (None, "甲方签章", "乙方签章"):
        at = outbox_lines(w.outbox)
        ch = p.signing.intent.request_code(
            w.jia.id,
            purpose="sign",
            document_sha256=hashlib.sha256(pdf).hexdigest(),
            document_name="技术服务合同.pdf",
        )
        with pytest.raises(ValidationError) as e:
            p.signing.sign(
                pdf,
                seal=w.jia.seal.es_id,
                pin=w.jia.pin,
                signer_subscriber_id=w.jia.id,
                challenge_id=ch.challenge_id,
                code=read_code(w.outbox, w.jia.phone, after=at),
                role="甲方",
                field_name=field_name,
            )
        want = ("pdf", "certified") if field_name is None else ("field_name", code)
        assert (e.value.field, e.value.code) == want, e.value.message
        assert count(p, SignatureRecord) == 0
        w.clock.advance(minutes=2)  # one code a minute


def test_a_code_without_a_field_where_one_field_takes_the_seal_is_sent(world):
    """The same certified contract with 乙方签章 free of seed values: the seal can go there,
    so the code is sent, and sealing into that field with it verifies with pyHanko's
    validator (certification intact, the seal's field and trust judged)."""
    w, p = world, world.p
    pdf = certified_with_fields(w, "one-free")
    mark = outbox_lines(w.outbox)
    ch = p.signing.request_confirmation(
        signer_subscriber_id=w.jia.id, document=pdf, document_name="技术服务合同.pdf"
    )
    code = read_code(w.outbox, w.jia.phone, after=mark)
    signed = p.signing.sign(
        pdf,
        seal=w.jia.seal.es_id,
        pin=w.jia.pin,
        signer_subscriber_id=w.jia.id,
        challenge_id=ch.challenge_id,
        code=code,
        role="甲方",
        field_name="乙方签章",
    ).pdf
    root = a_x509.Certificate.load(p.ca.certificate("root").public_bytes(Encoding.DER))
    (cert_sig, ours) = PdfFileReader(io.BytesIO(signed)).embedded_signatures
    assert ours.field_name == "乙方签章"
    st = validate_pdf_signature(ours, ValidationContext(trust_roots=[root], allow_fetching=False))
    assert st.intact and st.valid and st.trusted and st.seed_value_ok, st.pretty_print_details()
    assert st.docmdp_ok, st.pretty_print_details()


def explained(tmp_path: Path, refusals: list[ValidationError]) -> list[str]:
    """What the 发起签署 page shows for each flow refusal (``explainSigners`` of its
    flow_labels.js, run by node over the API's field, code and detail)."""
    given = [{"field": e.field, "code": e.code, "detail": e.message} for e in refusals]
    call = "f({ ...x, problem: { detail: x.detail } }).problem.detail"
    return run_page_function(tmp_path, "pages/flow_labels.js", "explainSigners", given, call)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_a_certified_contract_with_one_field_for_two_signers_says_what_to_do(world, tmp_path):
    """A contract certified with P=2 and one empty field, 甲方签章, in a flow of two signers:
    乙方 naming 甲方签章 too (``field_taken``) or no field (``certified``) was refused saying
    only that the field was 甲方's, or offering 甲方签章 again — the starter could not tell
    the document lacks a field per signer. Both now say so, and what to do (prepare a field
    for every signer before certifying, or do not certify), in English from the service and
    in Chinese on the page; nothing stored. A contract with a field left free keeps the plain
    refusal ("各签署方须盖入不同的签名域")."""
    w, p = world, world.p
    single = certified_with_fields(w, "single")
    before, mark = dbdump.dump(p), outbox_lines(w.outbox)
    refusals = []
    for yi, code in (
        (
            SignerSpec(w.yi.id, "乙方", w.yi.seal.es_id, order=2, field_name="甲方签章"),
            "field_taken",
        ),
        (SignerSpec(w.yi.id, "乙方", w.yi.seal.es_id, order=2), "certified"),
    ):
        with pytest.raises(ValidationError) as e:
            _flow(w, single, _jia(w, 1), yi)
        assert (e.value.field, e.value.code) == ("signers[1].field_name", code), e.value.message
        for said in (
            "1 empty signature field ('甲方签章' signer 0's)",
            "one empty field per signer",
            "before certifying it (or do not certify it)",
        ):
            assert said in e.value.message, e.value.message
        refusals.append(e.value)
    two = certified_with_fields(w, "one-free")  # 甲方签章 is left when 乙方签章 is taken
    with pytest.raises(ValidationError) as e:
        _flow(
            w,
            two,
            _yi(w, 1),
            SignerSpec(w.jia.id, "甲方", w.jia.seal.es_id, order=2, field_name="乙方签章"),
        )
    assert e.value.code == "field_taken" and "per signer" not in e.value.message, e.value.message
    refusals.append(e.value)
    assert dbdump.diff(before, dbdump.dump(p)) == [] and outbox_lines(w.outbox) == mark
    hint = "请在认证前为每个签署方各预留一个签名域（或不认证该合同）"
    shown = explained(tmp_path, refusals)
    assert hint in shown[0] and hint in shown[1], shown
    assert shown[2] == "各签署方须盖入不同的签名域", shown


def _signed_three_times(w: World) -> bytes:
    """A contract prepared with 甲方签章 and 乙方签章, then signed three times by another
    platform into fields of its own: what a flow's create validates again and again."""
    from pyhanko.sign import signers

    from tests.integration.pdf_inputs_corpus import pyhanko_signer

    writer = IncrementalPdfFileWriter(io.BytesIO(contract_pdf(1)))
    for name, box in (("甲方签章", A_BOX), ("乙方签章", B_BOX)):
        fields.append_signature_field(writer, fields.SigFieldSpec(name, box=box, on_page=0))
    buf = io.BytesIO()
    writer.write(buf)
    pdf = buf.getvalue()
    key, cert = _other_platform_key()
    for n in range(3):
        meta = signers.PdfSignatureMetadata(
            field_name=f"见证{n}", subfilter=fields.SigSeedSubFilter.PADES
        )
        box = (60 + 120 * n, 420, 160 + 120 * n, 500)
        pdf = signers.sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(pdf)),
            meta,
            signer=pyhanko_signer(key, cert),
            new_field_spec=fields.SigFieldSpec(f"见证{n}", box=box, on_page=0),
        ).getvalue()
    return pdf


def test_a_flow_create_validates_earlier_signatures_once_for_fields_and_placements(
    world, monkeypatch
):
    """A contract with empty fields and three earlier signatures, 甲方 into 甲方签章 and 乙方
    placed beside the fields: create judged the same "may a new field go here" twice —
    whether the certification allows only the fields (``prepared_of``) and whether 乙方's new
    field is refused (``_new_field_refusal``) — each validating every earlier signature again
    (for three: about 26 ms a time on a quiet core, 0.2 s on two busy ones). It is shared:
    the signatures are validated twice in all (the document's own check, then that), not
    three times; the flow is made as before."""
    import yinxin.pdf.sign as engine

    w = world
    pdf = _signed_three_times(w)
    calls = []
    real = engine._check_existing_signatures

    def counted(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        calls.append(kw.get("into_field", False))
        return real(*args, **kw)

    monkeypatch.setattr(engine, "_check_existing_signatures", counted)
    flow = _flow(w, pdf, _jia(w, 1), _yi_placed(w, 2))
    assert flow.id
    assert len(calls) == 2, calls


def test_sign_without_a_field_on_a_certified_contract_is_refused_before_the_code(world):
    """A contract certified with P=2 with a field the seal can go into gets its code without
    a field named (the field is named at signing). `sign pdf` then given no field was checked
    for a lock only, so a wrong code was counted against the challenge before sealing
    refused the new field (``certified``). Refused now as sealing refuses it (``pdf``,
    ``certified``, offering the empty fields) before the code is checked: nothing counted."""
    w = world
    pdf = certified_with_fields(w, "one-free")
    e, snap = _a_wrong_code_for_jia(w, pdf, outbox_lines(w.outbox))
    assert (e.value.field, e.value.code) == ("pdf", "certified"), e.value.message
    assert "'甲方签章', '乙方签章'" in e.value.message, e.value.message
    assert dbdump.diff(snap, dbdump.dump(w.p)) == []  # the wrong code was not counted
