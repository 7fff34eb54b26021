"""The README's main job: initialise if needed, then walk a person, an organization and a
device through getting certificates (one revoked), printing what happened.

Re-running it is safe: the CA is initialised once and each run adds a fresh round of
applications. The demo's CA passphrase comes from YINXIN_CA_PASSPHRASE, or is generated once
and kept in ``<home>/.demo-passphrase`` (mode 0600) — fine for a demo, not for production. A
CA the demo did not make (``yinxin init`` ran first) opens under its own passphrase: asked for
at a terminal (``ask``), checked before anything is written.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from yinxin.app import Platform, build_platform
from yinxin.errors import ConfigurationError
from yinxin.identity import id_card_check_char, org_code_check_char, uscc_check_char
from yinxin.registry.views import OrganizationView, SubscriberView
from yinxin.seals.view import SealView
from yinxin.settings import Settings

PERSON_SEAL_PIN = "246810"  # demo PINs; real holders choose their own
ORG_SEAL_PIN = "864200"


def demo_passphrase(home: Path) -> str:
    """The passphrase of a CA the demo makes: YINXIN_CA_PASSPHRASE, the one it kept, or a new
    one, kept."""
    env = os.environ.get("YINXIN_CA_PASSPHRASE")
    if env:
        return env
    f = home / ".demo-passphrase"
    if f.exists():
        return f.read_text().strip()
    # private as the platform makes it (0700): this runs before the platform opens the home
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    p = secrets.token_urlsafe(24)
    fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(p)
    return p


def sample_id_number() -> str:
    body = "11010519900307123"
    return body + id_card_check_char(body)


def _unregistered(p, sample: str) -> str:
    """``sample`` if no person holds it yet, else the next sequence number of the same region
    and birth date that is free (one person, one record: a demo re-run needs new people)."""
    body = sample[:17]
    for seq in range(int(body[14:]), int(body[14:]) + 1000):
        candidate = body[:14] + f"{seq % 1000:03d}"
        number = candidate + id_card_check_char(candidate)
        if p.subscribers.find_person(number) is None:
            return number
    raise RuntimeError("no free sample ID number left for the demo")


def sample_uscc() -> str:
    org = "MA01YX00"
    body = "91110108" + org + org_code_check_char(org)
    return body + uscc_check_char(body)


def subscriber_csr(key_path: Path, common_name: str) -> bytes:
    """What a subscriber does on their own machine: make a key and a CSR. The key stays there."""
    key = ec.generate_private_key(ec.SECP256R1())
    for folder in (key_path.parent.parent, key_path.parent):  # demo/, demo/subscriber-side/
        folder.mkdir(exist_ok=True, mode=0o700)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


class _Say:
    def __init__(self, console: Console | None):
        self.console = console
        self.steps: list[str] = []

    def __call__(self, text: str) -> None:
        """``text`` is rich markup: the demo's own words and data, its paths escaped (the
        CLI's console reads no markup in plain strings)."""
        self.steps.append(text)
        if self.console:
            self.console.print(Text.from_markup(text, emoji=False))


def run_demo(
    home: Path | str | None = None,
    console: Console | None = None,
    ask: Callable[[], str] | None = None,
) -> dict:
    """The demo on ``home``. ``ask``: where the passphrase of a CA the demo did not make comes
    from when YINXIN_CA_PASSPHRASE does not give it (the CLI: a prompt at a terminal).

    On a data directory ``yinxin init`` had made, the demo generated a passphrase of its own,
    kept it in ``.demo-passphrase`` and went on: the subscribers were registered, then every
    issuance refused "wrong CA passphrase" — a half-run demo each time, and a kept passphrase
    that opened nothing. Such a CA's key is opened first now, with its own passphrase."""
    settings = Settings.from_env(home=home)
    say = _Say(console)
    p: Platform

    def passphrase() -> str:
        env = os.environ.get("YINXIN_CA_PASSPHRASE")
        kept = settings.home / ".demo-passphrase"
        if env or kept.exists() or not p.ca.is_initialised():
            return demo_passphrase(settings.home)
        given = ask() if ask else ""
        if not given:
            raise ConfigurationError(
                "this data directory's CA was not made by the demo (yinxin init made it): give "
                "its passphrase in YINXIN_CA_PASSPHRASE, or run the demo at a terminal to be "
                "asked for it",
                field="passphrase",
            )
        return given

    p = build_platform(settings, passphrase=passphrase)
    try:
        if p.ca.is_initialised():
            p.ca.key("issuing")  # its passphrase checked before anything is written
        return _run(p, settings, say)
    finally:
        p.close()


def _run(p, settings: Settings, say: _Say) -> dict:
    home = settings.home
    shown = escape(str(home))  # a path is shown as it is, whatever brackets it holds
    result: dict = {"home": str(home)}
    if not p.ca.is_initialised():
        info = p.ca.init(settings.ca_algorithm)
        say(f"[bold]1. Certificate authority initialised[/] in {shown} ({info.algorithm})")
        for role, c in info.certificates.items():
            say(f"   {role:8} serial {c.serial[:16]}…  {c.subject}")
    else:
        say(f"[bold]1. Certificate authority already initialised[/] in {shown}")
    ca_dir = home / "ca"
    ca_dir.mkdir(exist_ok=True, mode=0o700)
    for role in ("root", "issuing", "ocsp", "tsa"):
        (ca_dir / f"{role}.pem").write_bytes(
            p.ca.certificate(role).public_bytes(serialization.Encoding.PEM)
        )

    subs, certs = p.subscribers, p.certificates
    say("[bold]2. Subscribers registered[/] (identity numbers checked: GB 11643, GB 32100)")
    # one person, one record: a later demo run walks a new person through (the next sample ID
    # number) and reuses the organization
    person = subs.add_person(
        name="张三", id_number=_unregistered(p, sample_id_number()), phone="13800138000"
    )
    say(f"   person        #{person.id} {person.name}  ID {person.id_number}")
    org = subs.find_organization(sample_uscc()) or subs.add_organization(
        name="北京印信示范科技有限公司",
        uscc=sample_uscc(),
        legal_representative="李四",
        contact_name="王五",
        contact_phone="010-62345678",
        phone="13900139000",
    )
    say(f"   organization  #{org.id} {org.name}  USCC {org.uscc}")
    device = subs.add_device(device_name="门禁网关-01", organization_id=org.id)
    say(f"   device        #{device.id} {device.name} (owned by #{org.id})")
    for sub, by in ((person, "张三"), (org, "王五（经办人）"), (device, "王五（经办人）")):
        subs.accept_agreement(sub.id, accepted_by=by)
    say("   each accepted the subscriber agreement v1 (recorded with the text's SHA-256)")

    say("[bold]3. Applications[/] → review at the acceptance point → issuance")
    keys_dir = home / "demo" / "subscriber-side"
    apps = [
        (
            "person",
            certs.apply(
                subscriber_id=person.id,
                profile="person-signing",
                pin=PERSON_SEAL_PIN,
                plan="standard",
                actor="张三",
            ),
            "platform-held key, sealed under the holder's PIN",
        ),
        (
            "organization",
            certs.apply(
                subscriber_id=org.id,
                profile="organization-signing",
                plan="premium",
                pin=ORG_SEAL_PIN,
                actor="王五",
            ),
            "platform-held key under the organization's seal PIN (cloud certificate)",
        ),
        (
            "device",
            certs.apply(
                subscriber_id=device.id,
                profile="device-tls",
                plan="standard",
                csr=subscriber_csr(keys_dir / f"device-{device.id}.key.pem", "gw01"),
                dns_names=["gw01.demo.yinxin.cn"],
                actor="王五",
            ),
            "device's own key (CSR; the key never reaches the platform), DNS name",
        ),
    ]
    issued = {}
    for kind, app, how in apps:
        pay = certs.pay(application_id=app.id, years=1, reference=f"DEMO-{app.id}")
        cert = certs.approve(app.id, officer="受理员 陈静")
        issued[kind] = cert
        say(
            f"   {kind:13} application #{app.id} ({how}); fee ¥{pay.amount_yuan} paid;"
            f" approved → serial {cert.serial}"
        )
        (home / "demo").mkdir(exist_ok=True, mode=0o700)
        (home / "demo" / f"{kind}-{cert.serial}.pem").write_text(cert.pem)

    rejected = certs.apply(
        subscriber_id=person.id, profile="person-signing", pin="135790", actor="张三"
    )
    certs.reject(rejected.id, officer="受理员 陈静", reason="身份证复印件不清晰，请重新提交")
    say(f"   application #{rejected.id} rejected with a reason (unreadable ID copy)")

    say("[bold]4. Lifecycle[/]")
    s_person = issued["person"].serial
    certs.freeze(s_person, actor="张三")
    certs.unfreeze(s_person, actor="受理员 陈静")
    say(f"   person cert {s_person[:12]}… frozen and unfrozen")
    revoked = certs.revoke(
        issued["device"].serial, reason="no_longer_needed", actor="王五（书面申请）"
    )
    say(
        f"   device cert {revoked.serial[:12]}… revoked (no longer needed): requested "
        f"{revoked.revocation_requested_at.isoformat()}, effective {revoked.revoked_at.isoformat()}"
    )
    result["certificates"] = {k: v.serial for k, v in issued.items()}
    result["revoked"] = revoked.serial

    result.update(_seals_and_signing(p, home, say, person, org, issued))

    v = p.verify_audit()
    say(
        f"[bold]8. Audit trail[/]: {v.events} events, hash chain "
        f"{'intact' if v.ok else 'BROKEN at ' + str(v.first_broken)}"
    )
    result["audit"] = v.to_dict()
    result["steps"] = say.steps
    return result


def _read_code(home: Path, phone: str) -> str:
    """The demo's "phone": the file gateway's outbox. A real gateway sends an SMS instead."""
    import json
    import re

    lines = (home / "outbox" / "sms.jsonl").read_text("utf-8").splitlines()
    for line in reversed(lines):
        msg = json.loads(line)
        if msg.get("to") == phone and msg.get("template_id") == "one_time_code":
            m = re.search(r"验证码为\s*(\d{6})", msg["body"])
            if m:
                return m.group(1)
    raise RuntimeError("no one-time code found in the outbox")


def _seals_and_signing(
    p, home: Path, say: _Say, person: SubscriberView, org: OrganizationView, issued: dict
) -> dict:
    from yinxin.pdf.report import render_report_pdf
    from yinxin.pdf.sign import Placement

    out: dict = {}
    say("[bold]5. Electronic seals[/] (made by software; SESeal records per GB/T 38540)")
    reveal = p.subscribers.get(person.id, reveal=True)
    member = p.subscribers.add_person(
        name="王五", id_number=_unregistered(p, sample_member_id()), phone="13700137000"
    )
    form = dict(
        business_type="new", project="百城e采平台项目", id_type="id_card", declaration_accepted=True
    )

    def org_seal_of(kind: str, code: str) -> SealView:
        # an organization keeps one live seal of each kind: a second demo run reuses it, bound
        # to this run's certificate if the one it had can no longer sign (revoked, expired)
        live = p.seals.list(subscriber_id=org.id, kind=kind, state="active")
        if live:
            if p.seals.usable(live[0].id).usable:
                return live[0]
            return p.seals.change(
                live[0].id, certificate_serial=issued["organization"].serial, actor="demo"
            )
        return p.seals.create(
            subscriber_id=org.id,
            kind=kind,
            certificate_serial=issued["organization"].serial,
            form={**form, "holder_name": "王五", "id_number": sample_member_id()},
            code=code,
        )

    org_seal = org_seal_of("organization", "1101080012345")
    contract_seal = org_seal_of("contract", "1101080012346")
    personal_seal = p.seals.create(
        subscriber_id=person.id,
        kind="personal",
        certificate_serial=issued["person"].serial,
        form={**form, "holder_name": "张三", "id_number": reveal.id_number},
    )
    for s in (org_seal, contract_seal, personal_seal):
        say(f"   {s.kind:13} esID {s.es_id}  {s.name}  → {escape(str(home / 'seals' / s.es_id))}")
    p.seals.grant(contract_seal.es_id, member.id, actor="北京印信示范科技有限公司")
    say(f"   the organization grants 王五 (#{member.id}) use of its contract seal (用印授权)")
    out["seals"] = [s.es_id for s in (org_seal, contract_seal, personal_seal)]

    say("[bold]6. Signing the contract[/] (seal PIN + one-time code, PAdES B-LT with timestamp)")
    doc = sample_contract(p, org, person)
    demo_dir = home / "demo"
    (demo_dir / "contract.pdf").write_bytes(doc)
    say(
        "   技术服务合同 filled in from the tech-service template and typeset → "
        f"{escape(str(demo_dir / 'contract.pdf'))}"
    )
    for role, signer, seal, pin, phone, lock in (
        ("甲方", member, contract_seal, ORG_SEAL_PIN, "13700137000", False),
        ("乙方", person, personal_seal, PERSON_SEAL_PIN, "13800138000", True),
    ):
        ch = p.signing.request_confirmation(
            signer_subscriber_id=signer.id, document=doc, document_name="技术服务合同.pdf"
        )
        token = p.signing.confirm(
            ch.challenge_id,
            _read_code(home, phone),
            signer_subscriber_id=signer.id,
            document=doc,
        )
        signed = p.signing.sign(
            doc,
            seal=seal.es_id,
            pin=pin,
            signer_subscriber_id=signer.id,
            confirmation_token=token.confirmation_token,
            placement=Placement(anchor=f"{role}（签章）"),
            role=role,
            lock=lock,
            document_name="技术服务合同.pdf",
        )
        doc = signed.pdf
        say(
            f"   {role}: {signer.name} — code sent to {ch.sent_to_masked}, confirmed; "
            f"sealed with {seal.name}{' (document locked)' if lock else ''}"
        )
    signed_path = demo_dir / "contract-signed.pdf"
    signed_path.write_bytes(doc)
    out["signed_pdf"] = str(signed_path)

    say("[bold]7. Verification[/] (what any relying party can run)")
    report = p.signing.verify(doc, file_name=signed_path.name)
    (demo_dir / "verification-report.json").write_text(report.to_json(), "utf-8")
    (demo_dir / "verification-report.pdf").write_bytes(render_report_pdf(report))
    for sig in report.signatures:
        say(
            f"   {sig.role or '-'} {sig.signer_name}: {'valid' if sig.valid else 'INVALID'}"
            f" (intact {sig.intact}, trusted {sig.trusted}, timestamp {sig.timestamp_time})"
        )
    say(
        f"   verdict: {'VALID' if report.valid else 'INVALID'} → {escape(str(signed_path))}, "
        f"{escape(str(demo_dir / 'verification-report.pdf'))}"
    )
    out["verification_valid"] = report.valid
    return out


def sample_contract(p: Platform, org: OrganizationView, person: SubscriberView) -> bytes:
    """The contract the two parties sign: the platform's own 技术服务合同 template (seed 000
    篇一) filled in for them and typeset by the contract renderer — what a drafted contract
    looks like, CJK line breaking (避头尾), signature blocks and all — rather than a canned
    file. Dated today in China and numbered ``DEMO-…``: it is not entered in the contract
    register (``yinxin contract`` drafts and sends real ones through sign flows)."""
    from yinxin.clock import BEIJING
    from yinxin.contracts.render import render_contract
    from yinxin.contracts.templates import get_template

    t = get_template("tech-service")
    today = p.clock.now().astimezone(BEIJING)
    values = {
        **t.example_values(),
        "client_name": org.name,
        "client_uscc": org.uscc,
        "client_representative": org.legal_representative,
        "provider_name": person.name,
        "date_signed": today.date().isoformat(),
    }
    number = f"DEMO-{today:%Y%m%d}-{person.id:04d}"
    return render_contract(t, t.fill(values), number=number, title=t.title, attachments={})


def sample_member_id() -> str:
    body = "11010819850615201"
    return body + id_card_check_char(body)
