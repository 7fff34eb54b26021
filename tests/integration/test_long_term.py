"""Contracts that stay provable for decades (PAdES B-LT / B-LTA), judged in the past tense.

Every time here is derived from the real clock: the platform's clock starts at the test's start
and is moved forward; every validator is given the moment explicitly (our verifier's ``at``,
pyHanko's ``--validation-time`` under ``faketime`` so its own "now" agrees). No network: the
files must carry everything.

The decades test walks the renewal schedule an operator runs daily (``archive renew``), at the
days where something is due: the first archive timestamp (day 1), a status refresh (day 400),
a TSA rollover (day 1500), the issuing CA's re-certification and a second TSA rollover (day
2970), and, after the first issuing-CA certificate and two TSA certificates have expired, a
last refresh (day 3700). A copy left unrenewed since day 1 is judged too: it must fail, or the
schedule would prove nothing.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select

from tests.conftest import cli_env
from tests.fixtures.samples import contract_pdf
from tests.integration.server import own_key_certificate
from tests.integration.signing_flow import build_world, need, nss_trusting, pdfsig, sign_as
from yinxin.app import Platform
from yinxin.pdf.sign import RevocationData, SignRequest, sign_pdf
from yinxin.pdf.verify import VerificationReport, verify_pdf
from yinxin.pki.keys import SoftwareKey
from yinxin.store.files import FileStore
from yinxin.store.models import AuditEvent

DAY = dt.timedelta(days=1)


def verify_at(
    p: Platform, pdf: bytes, at: dt.datetime, policy: str = "last-known"
) -> VerificationReport:
    """Our verifier as a relying party runs it: the file, the root, a moment; no database."""
    return verify_pdf(pdf, trust_roots=[p.ca.certificate("root")], at=at, policy=policy)


def explain(rep: VerificationReport) -> str:
    return rep.to_text()


def pyhanko_ades(p: Platform, pdf: bytes, at: dt.datetime, tmp: Path) -> str:
    """pyHanko's AdES validator (``pyhanko sign adesverify``), strict, offline, at ``at``:
    run under ``faketime`` so that pyHanko's own "now" is ``at`` too."""
    need("faketime")
    exe = str(Path(sys.executable).parent / "pyhanko")
    f = tmp / f"ades-{at:%Y%m%d}.pdf"
    f.write_bytes(pdf)
    root = tmp / "root.pem"
    root.write_bytes(p.ca.certificate("root").public_bytes(serialization.Encoding.PEM))
    stamp = at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    out = subprocess.run(
        [
            "faketime",
            "-f",
            f"@{stamp}",
            exe,
            "sign",
            "adesverify",
            "--validation-time",
            at.astimezone(dt.UTC).isoformat(),
            "--trust",
            str(root),
            "--trust-replace",
            str(f),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={"TZ": "UTC", "PATH": "/usr/bin:/bin"},
    )
    return out.stdout + out.stderr


def ades_trusted(text: str) -> int:
    """How many signatures pyHanko reports INTACT:TRUSTED (one line each: field, fingerprint,
    verdicts); any UNTRUSTED line counts as none at all."""
    lines = [x for x in text.splitlines() if x.startswith("Signature")]
    if any(":UNTRUSTED" in x for x in lines):
        return 0
    return sum(":INTACT:TRUSTED" in x for x in lines)


def signed_contract(make_platform, clock):
    p = make_platform("sqlite")
    w = build_world(p, clock)
    first = sign_as(w, w.jia, contract_pdf(2))
    second = sign_as(w, w.yi, first.pdf, lock=True)
    return p, w, second.pdf


def timestamp_time(rep: VerificationReport) -> dt.datetime:
    return rep.signatures[0].timestamp_time


# --- B-LT as signed ------------------------------------------------------------------------------
def test_b_lt_verifies_days_and_a_year_later_offline(make_platform, clock, tmp_path) -> None:
    p, w, pdf = signed_contract(make_platform, clock)
    signed_at = clock.now()
    for days in (0, 3, 100, 400):
        rep = verify_at(p, pdf, signed_at + days * DAY)
        assert rep.valid, f"+{days} d\n{explain(rep)}"
        assert rep.policy == "last-known" and rep.verified_at == signed_at + days * DAY
        for s in rep.signatures:
            # judged at the timestamp's time, from the embedded data alone
            assert s.certificate_checked_at == s.timestamp_time
            assert s.revocation_source == "embedded" and s.revoked is False
            assert s.level == "B-LT"
    # at +400 d the signer's certificate (one year) had expired: the timestamp carries it
    assert w.person_cert.not_after < signed_at + 400 * DAY


def test_strict_policy_asks_for_status_valid_now(make_platform, clock, tmp_path) -> None:
    p, _w, pdf = signed_contract(make_platform, clock)
    t0 = clock.now()
    # the newest timestamp's chain rests on root-signed status that lives 90 days
    assert verify_at(p, pdf, t0 + 3 * DAY, policy="strict").valid
    late = verify_at(p, pdf, t0 + 120 * DAY, policy="strict")
    assert not late.valid and late.policy == "strict"
    assert verify_at(p, pdf, t0 + 120 * DAY).valid  # last known status: still valid
    # pyHanko's strict AdES validator agrees on the signing day and three days later
    for days in (0, 3):
        text = pyhanko_ades(p, pdf, t0 + days * DAY + dt.timedelta(minutes=30), tmp_path)
        assert ades_trusted(text) == 2, text


# --- revocation before and after -----------------------------------------------------------------
def test_revoked_after_signing_stays_valid(make_platform, clock, tmp_path) -> None:
    p, w, pdf = signed_contract(make_platform, clock)
    clock.advance(days=2)
    p.certificates.revoke(w.person_cert.serial, reason="key_compromise", actor="t")
    # the archive adds the new status ("revoked since day 2") and a document timestamp
    report = p.archive.renew()
    assert report.renewed and not report.failed
    renewed = p.archive.document(report.renewed[-1])[1]
    rep = verify_at(p, renewed, clock.now() + DAY)
    assert rep.valid, explain(rep)
    assert all(s.revoked is False for s in rep.signatures)


def test_revoked_before_the_timestamp_is_invalid(make_platform, clock) -> None:
    p = make_platform("sqlite")
    key, cert_info = own_key_certificate(p, name="李雷")
    cert = x509.load_pem_x509_certificate(cert_info.pem.encode())
    clock.advance(hours=1)
    p.certificates.revoke(cert_info.serial, reason="key_compromise", actor="t")
    clock.advance(hours=1)
    # signed anyway with the compromised key, after the revocation: the embedded status says so
    signed = sign_pdf(
        SignRequest(
            pdf=contract_pdf(1),
            key=SoftwareKey("own", key),
            certificate=cert,
            chain=p.ca.chain(),
            stamp=None,
            placement=None,
            timestamper=p.tsa,
            level="B-LT",
            revocation=lambda: RevocationData(
                ocsp_responses=[
                    p.ocsp.fresh(cert),
                    p.ocsp.fresh(p.ca.certificate("issuing")),
                    p.ocsp.fresh(p.tsa.certificate()),
                ],
                certificates=[*p.ca.responder_certificates(), p.tsa.certificate(), *p.ca.chain()],
            ),
            signing_time=clock.now(),
        )
    )
    rep = verify_at(p, signed, clock.now() + DAY)
    assert not rep.valid
    (s,) = rep.signatures
    assert s.revoked is True and s.intact and s.timestamp_valid
    assert any("吊销" in x for x in s.problems), explain(rep)


# --- what a relying party is told when a timestamp does not count --------------------------------
UNTRUSTED = "does not chain to a trusted root"


def test_a_validation_time_before_a_timestamp_is_named_not_called_an_untrusted_tsa(
    make_platform, clock
) -> None:
    """A relying party asking "was it valid then?" with ``--at`` before the signing, or a renewed
    file with ``--at`` before its archive timestamp: the timestamp did not exist yet, and the
    report says so — it was told its TSA did not chain to the root it had given."""
    p, _w, pdf = signed_contract(make_platform, clock)
    t0 = clock.now()
    clock.set(t0 + DAY)
    # the TSA rolled over on day 1: its new certificate did not exist at t0 + 1 h
    assert p.ca.ensure_current("tsa", 100 * 365 * DAY, actor="t")
    assert p.archive.renew().renewed
    renewed = p.archive.document(p.archive.documents()[0].id)[1]

    before_signing = verify_at(p, pdf, t0 - DAY)
    assert before_signing.indication == "INDETERMINATE", explain(before_signing)
    for s in before_signing.signatures:
        assert not any(UNTRUSTED in x for x in s.problems), explain(before_signing)
        assert any("after the validation time" in x for x in s.problems), explain(before_signing)

    # the archive timestamp made after the validation time is left out as evidence (it was
    # INDETERMINATE, "made after the validation time", until the rule below): the file is
    # judged as the B-LT copy it was then
    between = verify_at(p, renewed, t0 + dt.timedelta(hours=1))
    assert between.indication == "TOTAL-PASSED", explain(between)
    assert all(any(LEFT_OUT in n for n in s.notes) for s in between.signatures), explain(between)
    assert {s.level for s in between.signatures} == {"B-LT"}, explain(between)


LEFT_OUT = "left out as evidence"


def said_once(rep: VerificationReport, day3: str, tmp: Path) -> None:
    """What was left out concerns the file, not one signature: a reader of a two-signature
    contract was told it under each signature (five times for five), and the PDF report, which
    shows no signature's notes, did not say it at all. It is the report's own note now — once
    in the JSON's new top-level ``notes`` (each signature keeps its copy: added, not moved),
    once in the text report and once on the PDF report, where poppler reads it back in
    Chinese."""
    assert len(rep.signatures) == 2, explain(rep)
    assert len(rep.notes) == 1 and LEFT_OUT in rep.notes[0] and day3 in rep.notes[0], rep.notes
    assert json.loads(rep.to_json())["notes"] == rep.notes
    assert explain(rep).count(LEFT_OUT) == 1, explain(rep)
    need("pdftotext")
    from yinxin.pdf.report import render_report_pdf

    pdf = tmp / "report.pdf"
    pdf.write_bytes(render_report_pdf(rep))
    run = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True)
    seen = "".join(run.stdout.split())  # wrapped lines joined back
    assert seen.count("未作为证据") == 1 and "".join(day3.split()) in seen, run.stdout


@pytest.mark.parametrize("rolled_over", [False, True], ids=["same-tsa", "tsa-rolled-over"])
def test_archive_timestamps_made_after_the_validation_time_are_left_out(
    make_platform, clock, tmp_path, rolled_over
) -> None:
    """A file renewed on day 1 and again on day 3, checked ``--at`` day 2: the day-3 archive
    timestamp did not exist then, yet with the same TSA certificate it was taken as the proof
    that the day-1 one held (judged at day 3, after the validation time) and the file was VALID
    without a word; with the TSA rolled over before day 3 the same question was INDETERMINATE
    ("made after the validation time"). ETSI EN 319 102-1 validates at a time with the proofs
    of existence up to it: both are now judged with the day-1 timestamp as the newest (at day
    2), VALID, each signature noting what was left out. pyHanko's AdES validator at day 2
    (offline, its clock at day 2 too) reports both signatures INTACT:TRUSTED, in both cases."""
    p, _w, _pdf = signed_contract(make_platform, clock)
    t0 = clock.now()
    doc = p.archive.documents()[0].id
    clock.set(t0 + DAY)
    assert p.archive.renew().renewed
    once = p.archive.document(doc)[1]
    clock.set(t0 + 3 * DAY)
    if rolled_over:
        assert p.ca.ensure_current("tsa", 100 * 365 * DAY, actor="t")
    assert p.archive.renew(force=True).renewed
    twice = p.archive.document(doc)[1]
    assert PdfFileReader(io.BytesIO(twice)).embedded_signatures[-1].sig_object_type == (
        "/DocTimeStamp"
    )
    between = t0 + 2 * DAY
    rep = verify_at(p, twice, between)
    assert rep.indication == "TOTAL-PASSED" and rep.document_timestamps == 2, explain(rep)
    day3 = (t0 + 3 * DAY).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
    for s in rep.signatures:
        # kept in each signature's notes for the JSON's existing readers
        assert any(LEFT_OUT in n and day3 in n for n in s.notes), explain(rep)
        assert s.level == "B-LTA" and s.timestamp_checked_at <= between, explain(rep)
    said_once(rep, day3, tmp_path)
    # the same verdict as the copy as it stood at day 2
    assert verify_at(p, once, between).indication == rep.indication
    # once it exists, the day-3 timestamp is evidence: nothing left out
    later = verify_at(p, twice, t0 + 4 * DAY)
    assert later.valid and not any(LEFT_OUT in n for s in later.signatures for n in s.notes)
    text = pyhanko_ades(p, twice, between, tmp_path)
    assert ades_trusted(text) == 2, text


def test_a_missed_renewal_is_reported_as_the_tsa_expired_alone(make_platform, clock) -> None:
    """A copy renewed once and checked after its archive timestamp's TSA certificate expired:
    the report named the missed renewal and also called the TSA untrusted, which it is not (the
    root the relying party gave is its root) — a reader would hunt for the wrong trust anchor."""
    p, _w, _pdf = signed_contract(make_platform, clock)
    t0 = clock.now()
    clock.set(t0 + DAY)
    assert p.archive.renew().renewed
    renewed = p.archive.document(p.archive.documents()[0].id)[1]
    late = p.tsa.certificate().not_valid_after_utc + 30 * DAY
    rep = verify_at(p, renewed, late)
    assert rep.indication == "INDETERMINATE", explain(rep)
    assert any("TSA certificate has expired" in x for x in rep.problems), explain(rep)
    assert not any(UNTRUSTED in x for x in rep.problems), explain(rep)


def test_a_tsa_whose_certificate_expired_stamps_nothing_and_the_renewal_fails(
    make_platform, clock
) -> None:
    """The platform was not renewed for years and the TSA could not be rolled over (its
    issuer's key unavailable: a warning). The renewal went on with the expired TSA
    certificate: every document got an archive timestamp no validator accepts, and the run said
    "1 renewed, 0 failed", exit 0. A TSA must not stamp outside its certificate's validity
    (RFC 3161 §2.4.2, ETSI EN 319 421): the stamp is refused, the document fails and is kept as
    it was."""
    from yinxin.pdf.timestamps import TimestampError, timestamp

    p, _w, _pdf = signed_contract(make_platform, clock)
    doc_id = p.archive.documents()[0].id
    before = p.archive.document(doc_id)
    clock.set(p.tsa.certificate().not_valid_after_utc + 30 * DAY)
    (p.settings.keys_dir / "root-ca.key.pem").unlink()  # the TSA cannot be rolled over

    with pytest.raises(TimestampError, match="expired"):
        timestamp(p.tsa, hashlib.sha256(b"x").digest(), "sha256")

    report = p.archive.renew()
    assert any(w.startswith("tsa not rolled over") for w in report.warnings), report
    assert not report.renewed and [f.id for f in report.failed] == [doc_id], report
    assert "expired" in report.failed[0].error, report
    after = p.archive.document(doc_id)
    assert after == before  # row and bytes as they were


# --- the archive ---------------------------------------------------------------------------------
def test_archive_keeps_every_version_and_renews_once(make_platform, clock, tmp_path) -> None:
    p, _w, pdf = signed_contract(make_platform, clock)
    docs = p.archive.documents(None)
    assert [d.state for d in docs] == ["superseded", "active"]
    active = docs[-1]
    assert active.sha256 == hashlib.sha256(pdf).hexdigest()
    assert p.archive.document(active.id)[1] == pdf
    clock.advance(days=1)
    first = p.archive.renew()
    assert first.renewed == [active.id] and first.checked == 1
    again = p.archive.renew()  # idempotent: nothing is due a second time
    assert again.renewed == [] and again.refreshed == [] and again.not_due == 1
    view, renewed = p.archive.document(active.id)
    assert view.level == "B-LTA" and view.renewals == 1
    assert renewed.startswith(pdf)  # an incremental update: every signed byte kept
    reader = PdfFileReader(io.BytesIO(renewed))
    assert [e.sig_object_type for e in reader.embedded_signatures] == [
        "/Sig",
        "/Sig",
        "/DocTimeStamp",
    ]
    rep = verify_at(p, renewed, clock.now())
    assert rep.valid and rep.document_timestamps == 1
    assert all(s.level == "B-LTA" for s in rep.signatures), explain(rep)
    with p.db.read() as s:
        events = (
            s.execute(select(AuditEvent).where(AuditEvent.action == "document.archive_renewed"))
            .scalars()
            .all()
        )
        assert len(events) == 1 and json.loads(events[0].data)["sha256_before"] == active.sha256
    assert p.verify_audit().ok
    need("pdfsig", "certutil")
    f = tmp_path / "renewed.pdf"
    f.write_bytes(renewed)
    blocks = pdfsig(f, nss_trusting(tmp_path / "nss", p.ca.certificate("root")))
    sigs = [b for b in blocks if "ETSI.CAdES.detached" in b]
    assert len(sigs) == 2 and all("Signature is Valid" in b for b in sigs)


def test_a_renewal_leaves_no_empty_folder_under_documents(make_platform, clock) -> None:
    """``archive renew`` replaces each renewed version's file and removed the old one, but not
    its two-character folder: ``documents/`` gathered an empty folder a renewal. The folder
    goes with the file when nothing else is in it; every kept version is still read back."""
    p, _w, pdf = signed_contract(make_platform, clock)
    root = p.settings.documents_dir
    active = p.archive.documents(None)[-1]
    for _ in range(3):
        clock.advance(days=1)
        assert p.archive.renew(force=True).renewed == [active.id]
    shards = [d for d in root.iterdir() if len(d.name) == 2 and d.is_dir()]
    assert [d.name for d in shards if not any(d.iterdir())] == []
    assert not (root / active.sha256[:2] / f"{active.sha256}.pdf").exists()
    for d in p.archive.documents(None):
        assert p.archive.document(d.id)[1].startswith(pdf[:100])


def test_archive_refuses_bad_arguments_and_reports_a_changed_file(make_platform, clock) -> None:
    p, _w, _pdf = signed_contract(make_platform, clock)
    from yinxin.errors import ValidationError

    with pytest.raises(ValidationError) as e:
        p.archive.renew(margin=dt.timedelta(hours=1))
    assert e.value.field == "margin"
    with pytest.raises(ValidationError) as e:
        p.archive.renew(refresh=dt.timedelta(days=200))
    assert e.value.field == "refresh"
    active = p.archive.documents()[0]
    path = p.settings.home / active.path
    path.write_bytes(path.read_bytes() + b"% tampered\n")
    report = p.archive.renew(force=True)
    assert report.renewed == [] and [f.id for f in report.failed] == [active.id]
    assert "changed" in report.failed[0].error
    assert p.archive.documents()[0] == active  # nothing recorded for it


# --- decades --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_renewed_in_time_a_contract_outlives_its_cas_and_tsas(
    make_platform, clock, tmp_path
) -> None:
    p, w, pdf = signed_contract(make_platform, clock)
    t0 = clock.now()
    first_issuing = p.ca.certificate("issuing")
    first_tsa = p.tsa.certificate()
    doc_id = p.archive.documents()[0].id
    unrenewed = None
    for day in (1, 400, 1500, 2970, 3700):
        clock.set(t0 + day * DAY)
        report = p.archive.renew()
        assert not report.failed, report
        assert report.renewed or report.refreshed, (day, report)
        current = p.archive.document(doc_id)[1]
        if day == 1:
            unrenewed = current
        rep = verify_at(p, current, clock.now())
        assert rep.valid, f"day {day}\n{explain(rep)}"
    end = clock.now()
    # the world has moved on: the signer, the first issuing-CA certificate and the first two
    # TSA certificates have expired; the issuing CA was re-certified, the TSA rolled over
    assert first_issuing.not_valid_after_utc < end and first_tsa.not_valid_after_utc < end
    assert len(p.ca.certificates("tsa")) == 3
    assert p.ca.certificate("issuing").public_key() == first_issuing.public_key()
    final = p.archive.document(doc_id)[1]
    assert (
        PdfFileReader(io.BytesIO(final)).embedded_signatures[-1].sig_object_type == "/DocTimeStamp"
    )
    # the copy renewed only once fails: its archive timestamp's TSA certificate has expired
    assert not verify_at(p, unrenewed, end).valid
    # pyHanko's strict AdES validator, offline, at the same moment
    text = pyhanko_ades(p, final, end + dt.timedelta(minutes=10), tmp_path)
    assert ades_trusted(text) == 2, text
    need("pdfsig", "certutil")
    f = tmp_path / "final.pdf"
    f.write_bytes(final)
    blocks = pdfsig(f, nss_trusting(tmp_path / "nss", p.ca.certificate("root")))
    sigs = [b for b in blocks if "ETSI.CAdES.detached" in b]
    assert len(sigs) == 2 and all("Signature is Valid" in b for b in sigs)


# --- files made elsewhere -------------------------------------------------------------------------
def test_a_b_lta_made_by_pyhanko_and_renewed_in_time_stays_valid() -> None:
    """A B-LTA made by pyHanko with another CA, renewed at +300 d (before its first TSA
    certificate expires at +365 d) by a second TSA: valid just after, and still at +400 and
    +500 d, after the first TSA certificate expired (once: VALID at +400, "certificate not
    valid" at +500, because the older timestamps were judged at the validation time)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    from tests.integration import pdf_factory as pf
    from yinxin.pki.algorithms import get_algorithm
    from yinxin.pki.authority import base_name, build_certificate
    from yinxin.pki.profiles import PROFILES

    pki = pf.build_pki("Elsewhere Root CA", tag="-lta")
    signer = pki.new_signer("张三")
    pdf = pf.add_document_timestamp(pf.sign(pf.contract_pdf(), signer, pki, revinfo="dss"), pki)
    at = pki.now + 300 * DAY
    key = get_algorithm("rsa-2048").generate()  # pyHanko's dummy TSA signs with RSA only
    tsa2 = build_certificate(
        profile=PROFILES["tsa"],
        subject=base_name("Elsewhere TSA 2"),
        public_key=key.public_key(),
        issuer=pki.issuer,
        not_before=at - dt.timedelta(hours=1),
        not_after=at + 1000 * DAY,
    )
    root_crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.root.subject)
        .last_update(at)
        .next_update(at + 30 * DAY)
        .add_extension(x509.CRLNumber(2), critical=False)
        .sign(pki.root_key.native, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    pdf = append_dss_for_test(
        pdf,
        [pki.ocsp_response(pki.tsa.cert, produced_at=at), pki.ocsp_response(tsa2, produced_at=at)],
        [root_crl],
        [tsa2, pki.ocsp.cert],
    )
    stamper = DummyTimeStamper(
        tsa_cert=pf._a_cert(tsa2),
        tsa_key=pf._a_key(key),
        fixed_dt=at + dt.timedelta(minutes=1),
        certs_to_embed=pf.SimpleCertificateStore.from_certs(
            [pf._a_cert(c) for c in (pki.issuing, pki.root)]
        ),
    )
    pdf = (
        PdfTimeStamper(stamper, field_name="DocTimeStamp2")
        .timestamp_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), "sha256")
        .getvalue()
    )
    for days in (301, 400, 500):
        rep = verify_pdf(pdf, trust_roots=[pki.root], at=pki.now + days * DAY)
        assert rep.valid, f"+{days} d\n{explain(rep)}"
        assert rep.document_timestamps == 2
    assert pki.tsa.cert.not_valid_after_utc < pki.now + 400 * DAY


def test_status_data_added_after_the_validation_time_is_no_evidence_then() -> None:
    """A B-T signature (no status embedded) whose file got a DSS two days later with the
    signer's OCSP response, checked at +1 d: that response did not exist then, yet pyHanko
    (``retroactive_revinfo``, the signer judged at its timestamp's time) took it, and the report
    said "not revoked, embedded" — what a relying party at +1 d could not have known. Status
    data made after the validation time is left out now: "revocation not checked", as the file
    stood at +1 d; at +3 d the response counts."""
    from tests.integration import pdf_factory as pf

    pki = pf.build_pki("Elsewhere Root CA", tag="-later-status")
    signer = pki.new_signer("李四")
    pdf = pf.sign(pf.contract_pdf(), signer, pki)
    later = pki.now + 2 * DAY
    pdf = append_dss_for_test(
        pdf, [pki.ocsp_response(signer.cert, produced_at=later)], [], [pki.ocsp.cert]
    )
    then = verify_pdf(pdf, trust_roots=[pki.root], at=pki.now + DAY)
    s = then.signatures[0]
    assert (s.revocation_source, s.revoked) == ("none", None), explain(then)
    assert then.valid, explain(then)  # soft-fail, as a B-T file without status data
    now = verify_pdf(pdf, trust_roots=[pki.root], at=pki.now + 3 * DAY)
    s = now.signatures[0]
    assert (s.revocation_source, s.revoked) == ("embedded", False), explain(now)


def test_status_data_a_little_ahead_of_the_readers_clock_counts_when_no_moment_is_asked() -> None:
    """Only a moment asked about (``at``) leaves out what was made after it. Without one,
    "now" is the reader's own clock: a responder whose clock runs half a minute ahead made
    nothing "after" the verification, and leaving its answer out reported a file signed a
    moment ago as "revocation not checked". Asked about that same moment, it is left out."""
    from tests.integration import pdf_factory as pf

    pki = pf.build_pki("Elsewhere Root CA", tag="-ahead")
    signer = pki.new_signer("李四")
    pdf = pf.sign(pf.contract_pdf(), signer, pki)
    ahead = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=30)
    pdf = append_dss_for_test(
        pdf, [pki.ocsp_response(signer.cert, produced_at=ahead)], [], [pki.ocsp.cert]
    )
    now = verify_pdf(pdf, trust_roots=[pki.root])
    s = now.signatures[0]
    assert (s.revocation_source, s.revoked) == ("embedded", False), explain(now)
    asked = verify_pdf(pdf, trust_roots=[pki.root], at=now.verified_at)
    s = asked.signatures[0]
    assert (s.revocation_source, s.revoked) == ("none", None), explain(asked)


def append_dss_for_test(
    pdf: bytes, ocsps: list[bytes], crls: list[bytes], certs: list[x509.Certificate]
) -> bytes:
    from yinxin.pdf.sign import append_dss

    return append_dss(pdf, RevocationData(ocsp_responses=ocsps, crls=crls, certificates=certs))


def test_a_full_disk_during_renewal_is_a_failure_reported_not_a_crash(
    make_platform, clock, monkeypatch
) -> None:
    """The renewed file cannot be written (no space left): the document is listed among the
    failures with the cause and kept as it was; before, the OSError ended the run (and the
    CLI) with a traceback, no report, no later document renewed."""
    p, _w, pdf = signed_contract(make_platform, clock)
    active = p.archive.documents()[0]

    def full(_self, _data: bytes) -> str:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FileStore, "put", full)
    clock.advance(days=1)
    report = p.archive.renew()
    assert report.renewed == [] and [f.id for f in report.failed] == [active.id]
    assert "No space left on device" in report.failed[0].error
    assert p.archive.documents()[0] == active
    assert p.archive.document(active.id)[1] == pdf
    monkeypatch.undo()
    assert p.archive.renew().renewed == [active.id]  # with room again, it is renewed


def test_a_wrong_ca_passphrase_is_refused_before_any_document_not_failed_for_each(
    make_platform, clock
) -> None:
    """A wrong CA passphrase (the same for every key) was reported as every kept document's
    failure, one line each, exit 1, each document trying the key again; now the run is
    refused up front as every other command refuses it, nothing rolled over or renewed."""
    from yinxin.errors import Forbidden

    p, _w, pdf = signed_contract(make_platform, clock)
    active = p.archive.documents()[0]
    with p.db.read() as s:
        events = len(s.execute(select(AuditEvent)).scalars().all())
    wrong = make_platform(init=False, home=p.settings.home, passphrase="not-the-passphrase")
    clock.advance(days=1)
    with pytest.raises(Forbidden) as e:
        wrong.archive.renew(force=True)
    assert e.value.field == "passphrase" and e.value.code == "bad_passphrase"
    assert p.archive.documents() == [active] and p.archive.document(active.id)[1] == pdf
    with p.db.read() as s:
        assert len(s.execute(select(AuditEvent)).scalars().all()) == events
    assert p.archive.renew().renewed == [active.id]  # with the right one, it is renewed


def test_a_too_short_ca_passphrase_is_refused_before_any_document(make_platform, clock) -> None:
    """A CA passphrase too short to be the one (a truncated YINXIN_CA_PASSPHRASE) was not the
    key store failing to open but one key's trouble: with nothing due the daily run said "1 not
    due", exit 0 (the scheduler's job ``done``) every day; on the day a renewal came due each
    document failed on its own line. Now it is refused up front like a wrong one, naming
    ``passphrase``, nothing written."""
    from yinxin.errors import ValidationError

    p, _w, pdf = signed_contract(make_platform, clock)
    active = p.archive.documents()[0]
    assert p.archive.renew().renewed == [active.id]  # B-LTA: nothing due tomorrow
    kept = p.archive.document(active.id)[1]
    short = make_platform(init=False, home=p.settings.home, passphrase="short")
    clock.advance(days=1)
    for force in (False, True):
        with pytest.raises(ValidationError) as e:
            short.archive.renew(force=force)
        assert e.value.field == "passphrase", e.value
    assert p.archive.document(active.id)[1] == kept


def test_archive_list_prints_each_time_with_its_zone(make_platform, clock) -> None:
    """``archive list`` printed ``timestamp 2026-12-05  TSA to 2031-12-04``: a day with no hour
    nor zone (a UTC day, the day before in Beijing until 08:00) and ``None`` for a version not
    timestamped, where every other command prints ``2026-12-05 23:48 UTC`` and ``—``."""
    import re

    from sqlalchemy import update
    from typer.testing import CliRunner

    from yinxin.adapters.cli import app as cli_app
    from yinxin.store.models.archive import ArchivedDocument

    p, _w, _pdf = signed_contract(make_platform, clock)
    with p.db.transaction() as s:  # the first version as if kept without a timestamp
        first = p.archive.documents(None)[0].id
        s.execute(
            update(ArchivedDocument)
            .where(ArchivedDocument.id == first)
            .values(newest_timestamp_at=None, tsa_not_after=None)
        )
    res = CliRunner().invoke(cli_app, ["archive", "list", "--all"], env=cli_env(p))
    assert res.exit_code == 0, res.output
    when = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"
    lines = res.stdout.splitlines()
    assert re.search(r"timestamp —  TSA to —  renewals 0$", lines[0]), res.stdout
    assert re.search(rf"timestamp {when}  TSA to {when}  renewals 0$", lines[1]), res.stdout


def test_archive_renew_prints_its_report_alone_on_stdout(make_platform, clock) -> None:
    """The progress bar was drawn on stdout: the report a cron job mails began with the blank
    line the bar left behind (and a refusal's too, before its error on stderr)."""
    from typer.testing import CliRunner

    from yinxin.adapters.cli import app as cli_app

    p, _w, _pdf = signed_contract(make_platform, clock)
    res = CliRunner().invoke(cli_app, ["archive", "renew", "--force"], env=cli_env(p))
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("1 renewed, "), repr(res.stdout)
    assert res.stderr == "", repr(res.stderr)
    env = cli_env(p, YINXIN_CA_PASSPHRASE="not-the-passphrase")
    res = CliRunner().invoke(cli_app, ["archive", "renew"], env=env)
    assert res.exit_code == 5, res.output
    assert res.stdout == "" and res.stderr.startswith("error [passphrase]: "), repr(res.output)


def test_archive_export_refuses_an_out_that_names_no_file(make_platform, clock, tmp_path) -> None:
    """``archive export 1 --out ""`` (an empty variable in a script: the path ``.``) ended in a
    ValueError traceback ("PosixPath('.') has an empty name"), exit 1; now it is refused naming
    ``out``, exit 2, nothing written."""
    from typer.testing import CliRunner

    from yinxin.adapters.cli import app as cli_app

    p, _w, _pdf = signed_contract(make_platform, clock)
    doc = str(p.archive.documents()[0].id)
    for out in ("", ".", str(tmp_path)):
        res = CliRunner().invoke(cli_app, ["archive", "export", doc, "--out", out], env=cli_env(p))
        assert res.exit_code == 2, (out, res.output)
        assert res.exception is None or isinstance(res.exception, SystemExit), (out, res.output)
        assert res.stderr.startswith("error [out]: "), (out, res.stderr)
    assert not list(tmp_path.glob("*.part")) and not list(Path().glob("*.part"))


def test_renewal_of_a_data_directory_without_an_authority_is_refused(make_platform) -> None:
    """``archive renew`` (and its daily job) on a data directory with no certificate authority
    — a cron line with a mistyped ``--home`` — said "0 renewed … of 0 kept documents", exit 0,
    the job ``done``, every day, while the real archive went unrenewed; the CRL job on the same
    directory fails. Now it is refused the same way: not initialised (run `yinxin init`)."""
    from typer.testing import CliRunner

    from yinxin.adapters.cli import app as cli_app
    from yinxin.errors import NotFound

    p = make_platform(init=False)
    with pytest.raises(NotFound) as e:
        p.archive.renew()
    assert e.value.field == "home" and "yinxin init" in e.value.message
    res = CliRunner().invoke(cli_app, ["archive", "renew"], env=cli_env(p))
    assert res.exit_code == 3, res.output
    assert res.stdout == "" and res.stderr.startswith("error [home]: "), repr(res.output)


def test_a_margin_that_would_roll_the_tsa_over_at_every_run_is_refused(
    make_platform, clock
) -> None:
    """The TSA is rolled over when its certificate (5 years) has less than twice the margin
    left: ``--margin-days`` past 912 (up to the 3650 taken) rolled it over at every run, a new
    key and certificate each day, and past 1825 renewed every document at every run too (a
    timestamp added each day), where a daily run is meant to find nothing due. The margin is
    at most 730 days now (a fresh TSA certificate then serves a year before its rollover), and
    at that margin the run after a renewal rolls over and renews nothing."""
    from yinxin.errors import ValidationError

    p, _w, _pdf = signed_contract(make_platform, clock)
    for days in (731, 1000, 3650):
        with pytest.raises(ValidationError) as e:
            p.archive.renew(margin=dt.timedelta(days=days))
        assert e.value.field == "margin" and "730" in e.value.message
    margin = dt.timedelta(days=730)
    first = p.archive.renew(margin=margin)
    assert len(first.renewed) == 1 and first.rolled_over == [] and first.failed == []
    clock.advance(days=366)  # the TSA certificate has less than twice the margin left
    rolled = p.archive.renew(margin=margin)
    assert "tsa" in [r.role for r in rolled.rolled_over] and rolled.failed == []
    clock.advance(days=1)
    again = p.archive.renew(margin=margin)
    assert again.rolled_over == [] and again.renewed == [] and again.not_due == 1


def test_a_version_renewed_before_the_next_party_signs_is_superseded(make_platform, clock) -> None:
    """Party A signs, the nightly renewal stamps A's version (its file and hash change), party B
    signs the next day over the bytes A's signature made. A's version must become superseded;
    before, it was looked up by the hash B signed over only, stayed active beside B's, and was
    renewed and refreshed for ever as a current document."""
    p = make_platform("sqlite")
    w = build_world(p, clock)
    first = sign_as(w, w.jia, contract_pdf(2))
    clock.advance(days=1)
    assert p.archive.renew().renewed == [p.archive.documents()[0].id]
    second = sign_as(w, w.yi, first.pdf, lock=True)
    docs = p.archive.documents(None)
    assert [(d.state, d.renewals) for d in docs] == [("superseded", 1), ("active", 0)]
    assert docs[-1].sha256 == hashlib.sha256(second.pdf).hexdigest()
    clock.advance(days=1)
    report = p.archive.renew()
    assert report.renewed == [docs[-1].id] and report.checked == 1


@pytest.mark.parametrize("gate", ["listed", "built"])
def test_two_renewals_at_once_report_the_other_runs_renewal_not_a_missing_file(
    make_platform, clock, gate
) -> None:
    """Two ``archive renew`` runs at once (two threads, one archive): run B lists the due
    document before run A renews it, then goes on only once A has committed and deleted the
    old file. B read "stored file … is missing" and reported a failure (exit 1) — nothing was
    lost — or, when it had built its own renewal first (``built``), counted the document as
    "not due". It now says the document was renewed by another run, fails nothing, and leaves
    one file and one renewal behind. The order is forced with events (set in ``finally``, so a
    failing run cannot leave the other waiting), not with timed waits."""
    import threading

    p, _w, _pdf = signed_contract(make_platform, clock)
    archive = p.archive
    [doc] = archive.documents()
    clock.advance(days=1)
    b_listed, a_done = threading.Event(), threading.Event()
    documents, renew_one, store = archive.documents, archive._renew_one, archive.store

    def listing(*args, **kwargs):
        out = documents(*args, **kwargs)
        if threading.current_thread().name == "B" and gate == "listed":
            b_listed.set()
            a_done.wait()
        return out

    def renewing(*args, **kwargs):
        if threading.current_thread().name == "A":
            b_listed.wait()
            try:
                return renew_one(*args, **kwargs)
            finally:
                a_done.set()
        return renew_one(*args, **kwargs)

    def storing(pdf: bytes) -> str:
        if threading.current_thread().name == "B" and gate == "built":
            b_listed.set()
            a_done.wait()
        return store(pdf)

    archive.documents, archive._renew_one, archive.store = listing, renewing, storing
    reports: dict[str, object] = {}

    def run(name: str) -> None:
        try:
            reports[name] = archive.renew()
        except BaseException as e:  # noqa: BLE001 - kept for the assertion below
            reports[name] = e
        finally:
            b_listed.set()
            a_done.set()

    threads = [threading.Thread(target=run, args=(n,), name=n) for n in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a, b = reports["A"], reports["B"]
    assert not isinstance(a, BaseException) and not isinstance(b, BaseException), reports
    assert a.renewed == [doc.id] and a.failed == []
    assert b.failed == [], b.failed
    assert b.renewed == [] and b.renewed_elsewhere == [doc.id] and b.not_due == 0
    view, pdf = archive.document(doc.id)
    assert view.renewals == 1 and view.level == "B-LTA"
    files = {k for k, _ in archive.files.keys()}
    assert view.sha256 in files and doc.sha256 not in files  # B's own renewal was removed
    assert len([k for k in files if not k.endswith(".part")]) == len(
        {d.sha256 for d in archive.documents(None)}
    )
