"""The README's main job: initialise if needed, then walk a person, an organization and a
device through getting certificates (one revoked), printing what happened.

Re-running it is safe: the CA is initialised once and each run adds a fresh round of
applications. The demo's CA passphrase comes from YINXIN_CA_PASSPHRASE, or is generated once
and kept in ``<home>/.demo-passphrase`` (mode 0600) — fine for a demo, not for production.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from rich.console import Console
from sqlalchemy import select

from yinxin.app import build_platform
from yinxin.identity import id_card_check_char, org_code_check_char, uscc_check_char
from yinxin.settings import Settings
from yinxin.store.models import Subscriber


def demo_passphrase(home: Path) -> str:
    env = os.environ.get("YINXIN_CA_PASSPHRASE")
    if env:
        return env
    f = home / ".demo-passphrase"
    if f.exists():
        return f.read_text().strip()
    home.mkdir(parents=True, exist_ok=True)
    p = secrets.token_urlsafe(24)
    fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(p)
    return p


def sample_id_number() -> str:
    body = "11010519900307123"
    return body + id_card_check_char(body)


def sample_uscc() -> str:
    org = "MA01YX00"
    body = "91110108" + org + org_code_check_char(org)
    return body + uscc_check_char(body)


def subscriber_csr(key_path: Path, common_name: str) -> bytes:
    """What a subscriber does on their own machine: make a key and a CSR. The key stays there."""
    key = ec.generate_private_key(ec.SECP256R1())
    key_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


class _Say:
    def __init__(self, console: Console | None):
        self.console = console
        self.steps: list[str] = []

    def __call__(self, text: str) -> None:
        self.steps.append(text)
        if self.console:
            self.console.print(text)


def run_demo(home: Path | str | None = None, console: Console | None = None) -> dict:
    settings = Settings.from_env(home=home)
    say = _Say(console)
    passphrase = demo_passphrase(settings.home)
    p = build_platform(settings, passphrase=passphrase)
    try:
        return _run(p, settings, say)
    finally:
        p.close()


def _run(p, settings: Settings, say: _Say) -> dict:
    home = settings.home
    result: dict = {"home": str(home)}
    if not p.ca.is_initialised():
        info = p.ca.init(settings.ca_algorithm)
        say(f"[bold]1. Certificate authority initialised[/] in {home} ({info['algorithm']})")
        for role, c in info["certificates"].items():
            say(f"   {role:8} serial {c['serial'][:16]}…  {c['subject']}")
    else:
        say(f"[bold]1. Certificate authority already initialised[/] in {home}")
    ca_dir = home / "ca"
    ca_dir.mkdir(exist_ok=True)
    for role in ("root", "issuing", "ocsp", "tsa"):
        (ca_dir / f"{role}.pem").write_bytes(
            p.ca.certificate(role).public_bytes(serialization.Encoding.PEM))

    subs, certs = p.subscribers, p.certificates
    say("[bold]2. Subscribers registered[/] (identity numbers checked: GB 11643, GB 32100)")
    person = subs.add_person(name="张三", id_number=sample_id_number(), phone="13800138000")
    say(f"   person        #{person['id']} {person['name']}  ID {person['id_number']}")
    with p.db.read() as s:
        org_id = s.execute(select(Subscriber.id).where(Subscriber.uscc == sample_uscc())
                           ).scalar_one_or_none()
    org = (subs.get(org_id) if org_id else subs.add_organization(
        name="北京印信示范科技有限公司", uscc=sample_uscc(), legal_representative="李四",
        contact_name="王五", contact_phone="010-62345678", phone="13900139000"))
    say(f"   organization  #{org['id']} {org['name']}  USCC {org['uscc']}")
    device = subs.add_device(device_name="门禁网关-01", organization_id=org["id"])
    say(f"   device        #{device['id']} {device['name']} (owned by #{org['id']})")
    for sub, by in ((person, "张三"), (org, "王五（经办人）"), (device, "王五（经办人）")):
        subs.accept_agreement(sub["id"], accepted_by=by)
    say("   each accepted the subscriber agreement v1 (recorded with the text's SHA-256)")

    say("[bold]3. Applications[/] → review at the acceptance point → issuance")
    keys_dir = home / "demo" / "subscriber-side"
    apps = [
        ("person", certs.apply(subscriber_id=person["id"], profile="person-signing",
                               pin="246810", plan="standard", actor="张三"),
         "platform-held key, sealed under the holder's PIN"),
        ("organization", certs.apply(
            subscriber_id=org["id"], profile="organization-signing", plan="premium",
            csr=subscriber_csr(keys_dir / f"org-{org['id']}.key.pem", org["name"]),
            actor="王五"), "organization's own key (CSR; the key never reaches the platform)"),
        ("device", certs.apply(
            subscriber_id=device["id"], profile="device-tls", plan="standard",
            csr=subscriber_csr(keys_dir / f"device-{device['id']}.key.pem", "gw01"),
            dns_names=["gw01.demo.yinxin.cn"], actor="王五"), "device key (CSR), DNS name"),
    ]
    issued = {}
    for kind, app, how in apps:
        pay = certs.pay(application_id=app["id"], years=1, reference=f"DEMO-{app['id']}")
        cert = certs.approve(app["id"], officer="受理员 陈静")
        issued[kind] = cert
        say(f"   {kind:13} application #{app['id']} ({how}); fee ¥{pay['amount_yuan']} paid;"
            f" approved → serial {cert['serial']}")
        (home / "demo").mkdir(exist_ok=True)
        (home / "demo" / f"{kind}-{cert['serial']}.pem").write_text(cert["pem"])

    rejected = certs.apply(subscriber_id=person["id"], profile="person-signing", pin="135790",
                           actor="张三")
    certs.reject(rejected["id"], officer="受理员 陈静", reason="身份证复印件不清晰，请重新提交")
    say(f"   application #{rejected['id']} rejected with a reason (unreadable ID copy)")

    say("[bold]4. Lifecycle[/]")
    s_person = issued["person"]["serial"]
    certs.freeze(s_person, actor="张三")
    certs.unfreeze(s_person, actor="受理员 陈静")
    say(f"   person cert {s_person[:12]}… frozen and unfrozen")
    revoked = certs.revoke(issued["device"]["serial"], reason="no_longer_needed",
                           actor="王五（书面申请）")
    say(f"   device cert {revoked['serial'][:12]}… revoked (no longer needed): requested "
        f"{revoked['revocation_requested_at']}, effective {revoked['revoked_at']}")
    result["certificates"] = {k: v["serial"] for k, v in issued.items()}
    result["revoked"] = revoked["serial"]

    v = p.verify_audit()
    say(f"[bold]5. Audit trail[/]: {v.events} events, hash chain "
        f"{'intact' if v.ok else 'BROKEN at ' + str(v.first_broken)}")
    result["audit"] = v.to_dict()
    result["steps"] = say.steps
    return result
