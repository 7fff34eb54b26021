"""A reusable signing world for service and CLI tests: two parties ready to sign a contract.

``build_world(platform, clock)`` registers, through the registry and seal services exactly as a
desk would:

* an organization with a platform-held key (organization-signing certificate under its seal
  PIN) and a contract seal (合同专用章), whose use is granted to a member, 王五 — 甲方;
* a person, 张三, with a platform-held key and a personal seal — 乙方.

``sign_as(world, party, pdf)`` then walks one signature the way a signer does: ask for a
one-time code, read it from the file gateway's outbox (``<home>/outbox/sms.jsonl``, the demo's
"phone"), confirm it for this document, and sign with the seal PIN at the party's anchor.
With a frozen clock, the clock is moved on before each code request, so the per-signer rate
limit (one code a minute, ten an hour) never refuses a test's next signature.

Also here, for both test modules: ways to tamper with a signed file (one byte inside a signed
range, an unsigned annotation or page, a swapped seal image) and the independent tools
(poppler's ``pdfsig`` with a throwaway NSS database trusting our root, pyHanko's validator).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import ValidationContext

from tests.conftest import PASSPHRASE
from yinxin.app import Platform
from yinxin.clock import FrozenClock
from yinxin.pdf.sign import Placement
from yinxin.registry.views import CertificateView, SubscriberView
from yinxin.seals.view import SealView
from yinxin.settings import Settings
from yinxin.signing.intent import Challenge
from yinxin.signing.service import SignedDocument

OFFICER = "受理员 陈静"
PROJECT = "百城e采平台项目"
ORG_NAME = "北京印信示范科技有限公司"
ORG_USCC = "91110108MA01YX0030"
ORG_PIN = "864200"
PERSON_PIN = "246810"
# Between two code requests of one signer: more than the one-minute minimum interval, and few
# enough per hour (< 10) that the hourly limit is never reached however many signatures a test
# makes.
CODE_SPACING = dt.timedelta(minutes=7)
CODE_RE = re.compile(r"验证码为\s*(\d{6})")
CODE_TEMPLATES = (  # sign, login, registration, new phone and current phone, a holder's
    "one_time_code",  # rekey or reissue, a holder's new e-mail (by e-mail: World.mailbox)
    "login_code",
    "registration_code",
    "phone_change_code",
    "phone_change_current_code",
    "certificate_key_code",
    "email_change_code",
    "email_confirm_code",  # …or, to a holder with no address yet, the registration's
    "email_change_current_code",  # …and to its current address (no mobile phone: World.mailbox)
)


@dataclass(frozen=True)
class Party:
    role: str  # 甲方 / 乙方
    subscriber: SubscriberView  # the person signing (a member for the organization's seal)
    seal: SealView
    pin: str
    phone: str

    @property
    def id(self) -> int:
        return self.subscriber.id

    @property
    def anchor(self) -> str:
        return f"{self.role}（签章）"


@dataclass
class World:
    p: Platform
    clock: FrozenClock | None  # None: the platform runs on the system clock (CLI tests)
    org: SubscriberView
    org_cert: CertificateView
    member: SubscriberView
    person: SubscriberView
    person_cert: CertificateView
    jia: Party  # 甲方: 王五 with the organization's contract seal
    yi: Party  # 乙方: 张三 with his personal seal

    @property
    def outbox(self) -> Path:
        return self.p.settings.outbox_dir / "sms.jsonl"

    @property
    def mailbox(self) -> Path:
        return self.p.settings.outbox_dir / "email.jsonl"


def _issue(p: Platform, subscriber_id: int, profile: str, **key) -> CertificateView:
    app = p.certificates.apply(subscriber_id=subscriber_id, profile=profile, **key)
    p.certificates.pay(application_id=app.id, years=1, reference=f"T-{app.id}")
    return p.certificates.approve(app.id, officer=OFFICER)


def _form(holder: str, id_number: str) -> dict:
    return {
        "business_type": "new",
        "project": PROJECT,
        "holder_name": holder,
        "id_type": "id_card",
        "id_number": id_number,
        "declaration_accepted": True,
    }


def new_platform(
    home: Path, clock: FrozenClock | None = None, base_url: str = "http://127.0.0.1:8000"
) -> Platform:
    """A platform on a SQLite file in ``home`` with its CA made (ec-p256); without ``clock`` it
    runs on the system clock, as CLI processes started by the test see it."""
    p = Platform(
        Settings(home=home, database_url=f"sqlite:///{home / 'yinxin.db'}", base_url=base_url),
        clock=clock,
        passphrase=PASSPHRASE,
    )
    p.ca.init("ec-p256")
    return p


def build_world(p: Platform, clock: FrozenClock | None = None) -> World:
    """Subscribers, certificates, seals and the grant; ``p`` must have an initialised CA."""
    subs = p.subscribers
    person = subs.add_person(name="张三", id_number="110105199003071239", phone="13800138000")
    member = subs.add_person(name="王五", id_number="350102198511223455", phone="13700137000")
    org = subs.add_organization(
        name=ORG_NAME,
        uscc=ORG_USCC,
        legal_representative="李四",
        contact_name="王五",
        contact_phone="010-62345678",
        phone="13900139000",
    )
    for sub, by in ((person, "张三"), (member, "王五"), (org, "王五（经办人）")):
        subs.accept_agreement(sub.id, accepted_by=by)
    person_cert = _issue(p, person.id, "person-signing", pin=PERSON_PIN)
    org_cert = _issue(p, org.id, "organization-signing", pin=ORG_PIN)
    contract_seal = p.seals.create(
        subscriber_id=org.id,
        kind="contract",
        certificate_serial=org_cert.serial,
        form=_form("王五", "350102198511223455"),
        code="1101080012346",
    )
    personal_seal = p.seals.create(
        subscriber_id=person.id,
        kind="personal",
        certificate_serial=person_cert.serial,
        form=_form("张三", "110105199003071239"),
    )
    p.seals.grant(contract_seal.es_id, member.id, actor=ORG_NAME)
    return World(
        p=p,
        clock=clock,
        org=org,
        org_cert=org_cert,
        member=member,
        person=person,
        person_cert=person_cert,
        jia=Party("甲方", member, contract_seal, ORG_PIN, "13700137000"),
        yi=Party("乙方", person, personal_seal, PERSON_PIN, "13800138000"),
    )


# --- the signer's phone ---------------------------------------------------------------------------
def outbox_lines(path: Path) -> int:
    return len(path.read_text("utf-8").splitlines()) if path.exists() else 0


def read_code(path: Path, phone: str, *, after: int = 0, wait: float = 5.0) -> str:
    """The one-time code in the newest message to ``phone`` among lines ``after`` onwards,
    waited for up to ``wait`` seconds: a server sends a login code after its answer."""
    deadline = time.monotonic() + wait
    while True:
        lines = path.read_text("utf-8").splitlines()[after:] if path.exists() else []
        for line in reversed(lines):
            msg = json.loads(line)
            if msg.get("to") == phone and msg.get("template_id") in CODE_TEMPLATES:
                m = CODE_RE.search(msg["body"])
                if m:
                    return m.group(1)
        if time.monotonic() >= deadline:
            raise AssertionError(f"no one-time code for {phone} in {path} after line {after}")
        time.sleep(0.05)


# --- the steps ------------------------------------------------------------------------------------
def request_code(
    w: World, party: Party, pdf: bytes, name: str = "技术服务合同.pdf"
) -> tuple[Challenge, str]:
    """Ask for a code for ``pdf``; returns the challenge and the code read from the outbox."""
    if w.clock is not None:
        w.clock.advance(seconds=CODE_SPACING.total_seconds())
    before = outbox_lines(w.outbox)
    ch = w.p.signing.request_confirmation(
        signer_subscriber_id=party.id, document=pdf, document_name=name
    )
    return ch, read_code(w.outbox, party.phone, after=before)


def confirm(w: World, party: Party, pdf: bytes, name: str = "技术服务合同.pdf") -> str:
    """Request code → read the outbox → confirm: the one-time confirmation token."""
    ch, code = request_code(w, party, pdf, name)
    return w.p.signing.confirm(
        ch.challenge_id, code, signer_subscriber_id=party.id, document=pdf
    ).confirmation_token


def sign_as(
    w: World,
    party: Party,
    pdf: bytes,
    *,
    lock: bool = False,
    token: str | None = None,
    pin: str | None = None,
    anchor: str | None = None,
    name: str = "技术服务合同.pdf",
    **kw,
) -> SignedDocument:
    """One signature by ``party`` on ``pdf`` at its anchor (``token`` skips the confirmation)."""
    token = token or confirm(w, party, pdf, name)
    return w.p.signing.sign(
        pdf,
        seal=party.seal.es_id,
        pin=pin or party.pin,
        signer_subscriber_id=party.id,
        confirmation_token=token,
        placement=Placement(anchor=anchor or party.anchor),
        role=party.role,
        lock=lock,
        document_name=name,
        **kw,
    )


# --- tampering ------------------------------------------------------------------------------------
def byte_ranges(pdf: bytes) -> list[list[int]]:
    """Each signature's /ByteRange, in file order."""
    return [
        [int(n) for n in m.groups()]
        for m in re.finditer(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    ]


def flip_signed_byte(pdf: bytes) -> tuple[bytes, int]:
    """Change one byte every signature covers: the first page's width, 595 → 596 (pt)."""
    pos = pdf.index(b"/MediaBox [0 0 595 842]") + len(b"/MediaBox [0 0 59")
    ranges = byte_ranges(pdf)
    assert ranges and all(a <= pos < a + n for a, n, _b, _m in ranges)
    out = bytearray(pdf)
    assert out[pos : pos + 1] == b"5"
    out[pos : pos + 1] = b"6"
    return bytes(out), pos


def _written(writer: IncrementalPdfFileWriter) -> bytes:
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def add_annotation(pdf: bytes, text: str = "已作废") -> bytes:
    """An unsigned incremental update adding a sticky note to the first page."""
    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page = w.root["/Pages"]["/Kids"][0].get_object()
    note = w.add_object(
        generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Annot"),
                generic.NameObject("/Subtype"): generic.NameObject("/Text"),
                generic.NameObject("/Rect"): generic.ArrayObject(
                    [generic.NumberObject(n) for n in (72, 700, 92, 720)]
                ),
                generic.NameObject("/Contents"): generic.TextStringObject(text),
            }
        )
    )
    page["/Annots"] = generic.ArrayObject([*page.get("/Annots", []), note])
    w.update_container(page)
    return _written(w)


def encrypted(pdf: bytes) -> bytes:
    """``pdf`` under an owner password and an empty user password: it opens without one, and
    sealing refuses it ("encrypted")."""
    from pyhanko.pdf_utils.crypt import StandardSecurityHandler
    from pyhanko.pdf_utils.writer import copy_into_new_writer

    w = copy_into_new_writer(PdfFileReader(io.BytesIO(pdf)))
    w._assign_security_handler(StandardSecurityHandler.build_from_pw("owner", ""))
    return _written(w)


def add_page(pdf: bytes) -> bytes:
    """An unsigned incremental update appending a page ("supplementary terms")."""
    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    content = w.add_object(
        generic.StreamObject(
            stream_data=b"BT /Helv 24 Tf 72 700 Td (Supplementary terms: price x10) Tj ET"
        )
    )
    w.insert_page(
        generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Page"),
                generic.NameObject("/MediaBox"): generic.ArrayObject(
                    [generic.NumberObject(n) for n in (0, 0, 595, 842)]
                ),
                generic.NameObject("/Contents"): content,
            }
        )
    )
    return _written(w)


def seal_image_ref(reader: PdfFileReader, signature: int) -> generic.Reference:
    """The image XObject drawn in signature ``signature``'s (0-based) widget appearance."""
    form = reader.embedded_signatures[signature].sig_field["/AP"]["/N"]
    return form["/Resources"]["/XObject"].raw_get("/Im0").reference


def seal_image_rgb(pdf: bytes, signature: int) -> bytes:
    """The stamp's pixels (RGB, decoded) as the file shows them now."""
    reader = PdfFileReader(io.BytesIO(pdf))
    return reader.get_object(seal_image_ref(reader, signature)).data


def swap_seal_image(pdf: bytes, signature: int) -> bytes:
    """An unsigned incremental update giving signature ``signature``'s stamp other pixels (the
    colours inverted): the same object number, new stream bytes."""
    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    ref = seal_image_ref(w.prev, signature)
    old = ref.get_object()
    new = generic.StreamObject(
        {
            generic.NameObject(k): v
            for k, v in old.items()
            if k not in ("/Length", "/Filter", "/DecodeParms")
        },
        stream_data=bytes(b ^ 0xFF for b in old.data),
    )
    new.compress()
    w.objects[(ref.generation, ref.idnum)] = new
    return _written(w)


# --- independent tools ----------------------------------------------------------------------------
def need(*tools: str) -> None:
    """Skip when a tool is missing, but fail in CI (where the tools are part of the image)."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        msg = f"needs {', '.join(missing)} (poppler-utils, libnss3-tools)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def need_quiet(tool: str) -> bool:
    """Whether ``tool`` is there, for optional extra checks (``need`` still fails in CI)."""
    try:
        need(tool)
    except pytest.skip.Exception:
        return False
    return True


def nss_trusting(directory: Path, root: x509.Certificate) -> Path:
    """A throwaway NSS database that trusts ``root``, as a relying party would set one up.

    The trust flags are "C,C,C": NSS keeps separate trust for TLS, e-mail (S/MIME) and object
    signing, and pdfsig checks a signer certificate for e-mail signing, so "C,," (TLS only)
    leaves the issuer untrusted.
    """
    directory.mkdir(parents=True, exist_ok=True)
    pem = directory / "root.pem"
    pem.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    subprocess.run(
        ["certutil", "-N", "-d", f"sql:{directory}", "--empty-password"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{directory}", "-n", "root", "-t", "C,C,C", "-i", str(pem)],
        check=True,
        capture_output=True,
    )
    return directory


def valid_for_pyhanko_offline(emb, dss: DocumentSecurityStore, root) -> None:
    """pyHanko's own verdict on one embedded signature, with fetching off: valid, intact and
    trusted now, with a trusted timestamp; and long-term — at the time the timestamp proves,
    revocation required (hard-fail) and nothing but what the file's DSS holds. ``root``: the
    trust anchor as asn1crypto's certificate."""
    st = validate_pdf_signature(emb, ValidationContext(trust_roots=[root], allow_fetching=False))
    assert st.intact and st.valid and st.trusted and st.bottom_line, st.pretty_print_details()
    assert st.timestamp_validity is not None and st.timestamp_validity.trusted
    kw = {
        "trust_roots": [root],
        "allow_fetching": False,
        "revocation_mode": "hard-fail",
        "moment": st.timestamp_validity.timestamp,
    }
    lt = validate_pdf_signature(emb, dss.as_validation_context(kw), dss.as_validation_context(kw))
    assert lt.bottom_line and lt.trusted and lt.revocation_details is None, (
        lt.pretty_print_details()
    )


def pdfsig(path: Path, nss: Path | None = None, *options: str) -> list[str]:
    """pdfsig's text, one block per signature (``options`` such as ``-no-ocsp`` go first)."""
    cmd = ["pdfsig", *options, *(["-nssdir", f"sql:{nss}"] if nss else []), str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    return out.split("Signature #")[1:]


def count_earlier_checks(monkeypatch) -> list[int]:
    """Each judging of a document's earlier signatures (``yinxin.pdf.sign``'s check, ~12 ms a
    signature), from now on: the list grows by how many signatures each one judged."""
    import yinxin.pdf.sign as pdf_sign

    judged: list[int] = []
    real = pdf_sign._check_existing_signatures

    def counted(reader, **kw):
        judged.append(len(reader.embedded_signatures))
        return real(reader, **kw)

    monkeypatch.setattr(pdf_sign, "_check_existing_signatures", counted)
    return judged


# --- a sign flow wholly through ``yinxin`` subprocesses ------------------------------------------
def cli_party(x: Party, more: str = "") -> str:
    """A ``flow create --signer`` value for ``x`` (its subscriber, role and seal) and ``more``
    keys (``",order=1,field.0=甲方签章"``)."""
    return f"subscriber={x.id},role={x.role},seal={x.seal.es_id}{more}"


def cli_flow_create(home: Path, docs: list[Path], *signers: str) -> subprocess.CompletedProcess:
    """``yinxin flow create --json`` of ``docs`` for ``signers`` (``cli_party``), unchecked: the
    caller reads the exit code and the JSON (a flow, or a refusal)."""
    from tests.integration.server import yinxin_cli

    args = ["flow", "create", "--title", "合同", "--days", "3"]
    for d in docs:
        args += ["--doc", str(d)]
    for s in signers:
        args += ["--signer", s]
    return yinxin_cli([*args, "--json"], home, check=False)


def cli_sign_through_links(w: World, home: Path, flow_id: str) -> list[dict]:
    """Start flow ``flow_id`` and have 甲方 then 乙方 sign it through their links, each with
    two ``yinxin flow sign`` runs (the code asked for, read from the outbox, then the PIN and
    the code): what each second run answered, in order."""
    from tests.integration.server import yinxin_json

    links = [x["url"] for x in yinxin_json(["flow", "start", flow_id], home)["links"]]
    answers = []
    for party, link in zip((w.jia, w.yi), links, strict=True):
        before = outbox_lines(w.outbox)
        ch = yinxin_json(["flow", "sign"], home, env={"YINXIN_SIGN_LINK": link})
        code = read_code(w.outbox, party.phone, after=before)
        answers.append(
            yinxin_json(
                ["flow", "sign", "--challenge", ch["challenge_id"]],
                home,
                env={"YINXIN_SIGN_LINK": link, "YINXIN_SEAL_PIN": party.pin, "YINXIN_CODE": code},
            )
        )
    return answers
