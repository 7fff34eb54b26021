"""Bad input of every kind: a clear error naming the field, and the database exactly as it was
(every table, every row, every column dumped before and after). Through the services, on SQLite
and PostgreSQL, and through the ``yinxin`` command line.

Also: no private key, PIN or CA passphrase in clear in the database, the logs or error output.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from typer.testing import CliRunner

from tests.clear_text import in_clear
from tests.clock import real_now
from tests.conftest import PASSPHRASE, cli_env
from tests.dbdump import cells, diff, dump
from tests.integration.server import free_port, yinxin_cli, yinxin_env
from tests.integration.test_ca_lifecycle import (
    PIN,
    enrol,
    id_number,
    issue,
    make_csr,
    spki,
    uscc,
)
from yinxin.adapters.cli import app as cli_app
from yinxin.app import Platform
from yinxin.clock import FrozenClock
from yinxin.errors import (
    ConfigurationError,
    Conflict,
    Forbidden,
    IllegalTransition,
    NotFound,
    ValidationError,
    YinxinError,
)
from yinxin.pki.pinkeys import open_private_key
from yinxin.registry.certificates import MAX_DNS_NAMES
from yinxin.registry.views import ApplicationView, CertificateView, SubscriberView
from yinxin.settings import Settings
from yinxin.store.models import PlatformKey

ROOT = Path(__file__).resolve().parents[2]
YINXIN = ROOT / ".venv" / "bin" / "yinxin"
OTHER_PASSPHRASE = "a different passphrase entirely"


# --- a world with something in every state -----------------------------------------------------
@dataclass
class World:
    p: Platform
    person: SubscriberView
    org: SubscriberView
    device: SubscriberView
    stranger: SubscriberView  # registered, has not accepted the agreement
    active: CertificateView
    frozen: CertificateView
    lost: CertificateView
    revoked: CertificateView
    platform_cert: CertificateView
    renewed: CertificateView  # active, with an active renewal beside it (same key)
    unpaid_app: ApplicationView
    paid_app: ApplicationView
    approved_app_id: int
    make_platform: Callable[..., Platform]


def build_world(p: Platform, make_platform) -> World:
    subs = enrol(p)
    stranger = p.subscribers.add_person(name="陌生人", id_number=id_number(77), phone="13700001111")
    active = issue(p, subs.person.id)
    frozen = issue(p, subs.person.id)
    p.certificates.freeze(frozen.serial, actor="t")
    lost = issue(p, subs.person.id)
    p.certificates.report_loss(lost.serial, actor="t")
    revoked = issue(p, subs.org.id, "organization-signing")
    p.certificates.revoke(revoked.serial, reason="no_longer_needed", actor="t")
    platform_cert = issue(p, subs.person.id, pin=PIN)
    renewed = issue(p, subs.person.id)
    p.certificates.pay(serial=renewed.serial, years=1)
    p.certificates.renew(renewed.serial, actor="t")
    unpaid = p.certificates.apply(
        subscriber_id=subs.person.id, profile="person-signing", csr=make_csr()
    )
    paid = p.certificates.apply(
        subscriber_id=subs.person.id, profile="person-signing", csr=make_csr()
    )
    p.certificates.pay(application_id=paid.id)
    approved_id = p.certificates.applications("approved")[0].id
    return World(
        p,
        subs.person,
        subs.org,
        subs.device,
        stranger,
        active,
        frozen,
        lost,
        revoked,
        platform_cert,
        renewed,
        unpaid,
        paid,
        approved_id,
        make_platform,
    )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def shared_world(request, tmp_path_factory) -> Iterator[World]:
    """One world per database for the whole table of refusals: a refusal changes nothing (each
    case checks exactly that), so the cases can share it."""
    home = tmp_path_factory.mktemp("refusals")
    url = (
        request.getfixturevalue("pg_cluster").new_database()
        if request.param == "postgres"
        else f"sqlite:///{home / 'yinxin.db'}"
    )
    clock = FrozenClock(real_now())
    made: list[Platform] = []

    def make(
        *, init: bool = True, home: Path = home, url: str = url, passphrase: str = PASSPHRASE
    ) -> Platform:
        p = Platform(Settings(home=home, database_url=url), clock=clock, passphrase=passphrase)
        made.append(p)
        if init and not p.ca.is_initialised():
            p.ca.init("ec-p256")
        return p

    yield build_world(make(), make)
    for p in made:
        p.close()


@pytest.fixture
def world(any_platform: Platform, make_platform) -> World:
    return build_world(any_platform, make_platform)


# an RSA-2048 key with public exponent 3, which a CSR may not bring (made once: slow to make)
RSA_E3 = rsa.generate_private_key(3, 2048)


def tampered_csr() -> bytes:
    """A well-formed CSR whose signature no longer verifies (one signature byte flipped)."""
    der = bytearray(make_csr(der=True))
    csr = x509.load_der_x509_csr(bytes(der))
    sig = csr.signature
    at = bytes(der).rindex(sig) + len(sig) - 3
    der[at] ^= 0x01
    broken = x509.load_der_x509_csr(bytes(der))  # still parses
    assert broken.signature != sig and not broken.is_signature_valid
    return bytes(der)


def csr_with(key) -> bytes:
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .sign(key, algorithm)
        .public_bytes(serialization.Encoding.PEM)
    )


def future(w: World) -> dt.datetime:
    return w.p.clock.now() + dt.timedelta(minutes=5)


def wrong_passphrase_approve(w: World) -> None:
    other = w.make_platform(
        init=False,
        home=w.p.settings.home,
        url=w.p.settings.database_url,
        passphrase=OTHER_PASSPHRASE,
    )
    other.certificates.approve(w.paid_app.id, officer="受理员")


def wrong_pin(w: World) -> None:
    with w.p.db.read() as s:
        pk = s.execute(select(PlatformKey)).scalar_one()
    open_private_key(pk.sealed_key, PIN[:-1] + "0", pk.label, kek=w.p.kek)


CASES: list[tuple[str, Callable[[World], object], type[YinxinError], str]] = [
    # identity
    (
        "bad ID card check digit",
        lambda w: w.p.subscribers.add_person(
            name="李雷",
            id_number=id_number(5)[:17] + ("0" if id_number(5)[17] != "0" else "1"),
            phone="13800138000",
        ),
        ValidationError,
        "id_number",
    ),
    (
        "bad ID card date",
        lambda w: w.p.subscribers.add_person(
            name="李雷", id_number="110105199002300011", phone="13800138000"
        ),
        ValidationError,
        "id_number",
    ),
    (
        "unknown ID type",
        lambda w: w.p.subscribers.add_person(
            name="李雷", id_type="library_card", id_number="12345", phone="13800138000"
        ),
        ValidationError,
        "id_type",
    ),
    (
        "bad USCC check character",
        lambda w: w.p.subscribers.add_organization(
            name="某公司",
            uscc=uscc(9)[:17] + ("0" if uscc(9)[17] != "0" else "1"),
            legal_representative="甲",
            contact_name="乙",
            contact_phone="010-62345678",
        ),
        ValidationError,
        "uscc",
    ),
    (
        "duplicate USCC",
        lambda w: w.p.subscribers.add_organization(
            name="同码公司",
            uscc=uscc(0),
            legal_representative="甲",
            contact_name="乙",
            contact_phone="010-62345678",
            email="ops@example.cn",  # no mobile: notices go by e-mail
        ),
        Conflict,
        "uscc",
    ),
    (
        "bad phone",
        lambda w: w.p.subscribers.add_person(
            name="李雷", id_number=id_number(6), phone="1380013800"
        ),
        ValidationError,
        "phone",
    ),
    (
        "bad contact phone",
        lambda w: w.p.subscribers.add_organization(
            name="某公司",
            uscc=uscc(9),
            legal_representative="甲",
            contact_name="乙",
            contact_phone="12345",
        ),
        ValidationError,
        "contact_phone",
    ),
    (
        "bad e-mail",
        lambda w: w.p.subscribers.add_person(
            name="李雷", id_number=id_number(6), phone="13800138000", email="not-an-address"
        ),
        ValidationError,
        "email",
    ),
    (
        "empty name",
        lambda w: w.p.subscribers.add_person(
            name="  ", id_number=id_number(6), phone="13800138000"
        ),
        ValidationError,
        "name",
    ),
    (
        "device of a person",
        lambda w: w.p.subscribers.add_device(device_name="x", organization_id=w.person.id),
        ValidationError,
        "organization_id",
    ),
    (
        "old agreement version",
        lambda w: w.p.subscribers.accept_agreement(
            w.stranger.id, accepted_by="陌生人", version="0"
        ),
        ValidationError,
        "version",
    ),
    (
        "agreement for nobody",
        lambda w: w.p.subscribers.accept_agreement(10**6, accepted_by="x"),
        NotFound,
        "subscriber_id",
    ),
    # CSRs
    (
        "malformed CSR (PEM garbage)",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id,
            profile="person-signing",
            csr=b"-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n"
            b"-----END CERTIFICATE REQUEST-----\n",
        ),
        ValidationError,
        "csr",
    ),
    (
        "malformed CSR (DER garbage)",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id, profile="person-signing", csr=os.urandom(300)
        ),
        ValidationError,
        "csr",
    ),
    (
        "truncated CSR",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id, profile="person-signing", csr=make_csr(der=True)[:-10]
        ),
        ValidationError,
        "csr",
    ),
    (
        "empty CSR",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id, profile="person-signing", csr=b""
        ),
        ValidationError,
        "csr",
    ),
    (
        "a certificate instead of a CSR",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id, profile="person-signing", csr=w.active.pem.encode()
        ),
        ValidationError,
        "csr",
    ),
    (
        "CSR with a broken signature",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id, profile="person-signing", csr=tampered_csr()
        ),
        ValidationError,
        "csr",
    ),
    (
        "CSR with an Ed25519 key",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id,
            profile="person-signing",
            csr=csr_with(ed25519.Ed25519PrivateKey.generate()),
        ),
        ValidationError,
        "csr",
    ),
    (
        "CSR with an RSA-1024 key",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id,
            profile="person-signing",
            csr=csr_with(rsa.generate_private_key(65537, 1024)),
        ),
        ValidationError,
        "csr",
    ),
    (
        "CSR with a P-521 key",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id,
            profile="person-signing",
            csr=csr_with(ec.generate_private_key(ec.SECP521R1())),
        ),
        ValidationError,
        "csr",
    ),
    # 256 and 384 bits, but not P-256/P-384: the curve was matched by its size alone
    (
        "CSR with a secp256k1 key",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id,
            profile="person-signing",
            csr=csr_with(ec.generate_private_key(ec.SECP256K1())),
        ),
        ValidationError,
        "csr",
    ),
    (
        "CSR with a brainpoolP384r1 key",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id,
            profile="person-signing",
            csr=csr_with(ec.generate_private_key(ec.BrainpoolP384R1())),
        ),
        ValidationError,
        "csr",
    ),
    (
        "both CSR and PIN",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id, profile="person-signing", csr=make_csr(), pin=PIN
        ),
        ValidationError,
        "csr",
    ),
    (
        "neither CSR nor PIN",
        lambda w: w.p.certificates.apply(subscriber_id=w.person.id, profile="person-signing"),
        ValidationError,
        "csr",
    ),
    # applications
    (
        "unknown profile",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id, profile="person-encryption", csr=make_csr()
        ),
        ValidationError,
        "profile",
    ),
    (
        "a CA profile",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id, profile="issuing-ca", csr=make_csr()
        ),
        ValidationError,
        "profile",
    ),
    (
        "profile for the wrong subscriber kind",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id, profile="device-tls", csr=make_csr()
        ),
        ValidationError,
        "profile",
    ),
    (
        "organization profile for a device",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.device.id, profile="organization-signing", csr=make_csr()
        ),
        ValidationError,
        "profile",
    ),
    (
        "DNS names on a person certificate",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id,
            profile="person-signing",
            csr=make_csr(),
            dns_names=["x.example.cn"],
        ),
        ValidationError,
        "dns_names",
    ),
    (
        "a DNS name with a space and !",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.device.id,
            profile="device-tls",
            csr=make_csr(),
            dns_names=["bad name!.example.cn"],
        ),
        ValidationError,
        "dns_names",
    ),
    (
        "a DNS name that is not an A-label",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.device.id,
            profile="device-tls",
            csr=make_csr(),
            dns_names=["网关.example.cn"],
        ),
        ValidationError,
        "dns_names",
    ),
    (
        "an emoji A-label (xn--ls8h: IDNA 2003 took it, IDNA 2008 does not)",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.device.id,
            profile="device-tls",
            csr=make_csr(),
            dns_names=["gw.example.cn", "xn--ls8h.example.cn"],
        ),
        ValidationError,
        "dns_names",
    ),
    (
        "an empty DNS label",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.device.id,
            profile="device-tls",
            csr=make_csr(),
            dns_names=["gw..example.cn"],
        ),
        ValidationError,
        "dns_names",
    ),
    (
        "a DNS name given twice, once in capitals with a trailing dot",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.device.id,
            profile="device-tls",
            csr=make_csr(),
            dns_names=["gw.example.cn", "GW.example.cn."],
        ),
        ValidationError,
        "dns_names",
    ),
    (
        "one DNS name more than a certificate carries",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.device.id,
            profile="device-tls",
            csr=make_csr(),
            dns_names=[f"gw{n}.example.cn" for n in range(MAX_DNS_NAMES + 1)],
        ),
        ValidationError,
        "dns_names",
    ),
    (
        "an RSA key with public exponent 3 (BR 6.1.6: odd, above 2^16)",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id,
            profile="person-signing",
            csr=make_csr(RSA_E3),
        ),
        ValidationError,
        "csr",
    ),
    (
        "a rekey to an RSA key with public exponent 3",
        lambda w: w.p.certificates.rekey(w.active.serial, actor="t", csr=make_csr(RSA_E3)),
        ValidationError,
        "csr",
    ),
    (
        "no agreement accepted",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.stranger.id, profile="person-signing", csr=make_csr()
        ),
        Forbidden,
        "agreement",
    ),
    (
        "no agreement accepted (platform key)",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.stranger.id, profile="person-signing", pin=PIN
        ),
        Forbidden,
        "agreement",
    ),
    (
        "unknown subscriber",
        lambda w: w.p.certificates.apply(
            subscriber_id=10**6, profile="person-signing", csr=make_csr()
        ),
        NotFound,
        "subscriber_id",
    ),
    (
        "unknown plan",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id, profile="person-signing", csr=make_csr(), plan="gold"
        ),
        ValidationError,
        "plan",
    ),
    (
        "zero years",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id, profile="person-signing", csr=make_csr(), years=0
        ),
        ValidationError,
        "years",
    ),
    (
        "PIN too short",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id, profile="person-signing", pin="12345"
        ),
        ValidationError,
        "pin",
    ),
    (
        "unknown key algorithm",
        lambda w: w.p.certificates.apply(
            subscriber_id=w.person.id, profile="person-signing", pin=PIN, algorithm="dsa-1024"
        ),
        ValidationError,
        "algorithm",
    ),
    # payment and review
    (
        "unpaid approval",
        lambda w: w.p.certificates.approve(w.unpaid_app.id, officer="受理员"),
        Forbidden,
        "payment",
    ),
    (
        "approve twice",
        lambda w: w.p.certificates.approve(w.approved_app_id, officer="受理员"),
        IllegalTransition,
        "application_id",
    ),
    (
        "approve without an officer",
        lambda w: w.p.certificates.approve(w.paid_app.id, officer=" "),
        ValidationError,
        "officer",
    ),
    (
        "approve an unknown application",
        lambda w: w.p.certificates.approve(10**6, officer="受理员"),
        NotFound,
        "application_id",
    ),
    (
        "pay for a decided application",
        lambda w: w.p.certificates.pay(application_id=w.approved_app_id),
        IllegalTransition,
        "application_id",
    ),
    (
        "pay for both",
        lambda w: w.p.certificates.pay(application_id=w.paid_app.id, serial=w.active.serial),
        ValidationError,
        "application_id",
    ),
    (
        "pay six years",
        lambda w: w.p.certificates.pay(serial=w.active.serial, years=6),
        ValidationError,
        "years",
    ),
    (
        # the column holds 100: on PostgreSQL a longer one was a database error, on SQLite kept
        "pay with a reference over 100 characters",
        lambda w: w.p.certificates.pay(serial=w.active.serial, reference="R" * 101),
        ValidationError,
        "reference",
    ),
    (
        "pay with a hidden character in the reference",
        lambda w: w.p.certificates.pay(serial=w.active.serial, reference="R-\u202e9"),
        ValidationError,
        "reference",
    ),
    (
        "renewal fee for a revoked certificate",
        lambda w: w.p.certificates.pay(serial=w.revoked.serial),
        IllegalTransition,
        "serial",
    ),
    (
        "reject without a reason",
        lambda w: w.p.certificates.reject(w.unpaid_app.id, officer="受理员", reason="  "),
        ValidationError,
        "reason",
    ),
    (
        "reject a decided application",
        lambda w: w.p.certificates.reject(w.approved_app_id, officer="受理员", reason="x"),
        IllegalTransition,
        "application_id",
    ),
    ("wrong CA passphrase", wrong_passphrase_approve, Forbidden, "passphrase"),
    # illegal transitions
    (
        "unfreeze a revoked certificate",
        lambda w: w.p.certificates.unfreeze(w.revoked.serial, actor="t"),
        IllegalTransition,
        "serial",
    ),
    (
        "unfreeze an active certificate",
        lambda w: w.p.certificates.unfreeze(w.active.serial, actor="t"),
        IllegalTransition,
        "serial",
    ),
    (
        "unfreeze a lost certificate",
        lambda w: w.p.certificates.unfreeze(w.lost.serial, actor="t"),
        IllegalTransition,
        "serial",
    ),
    (
        "renew a revoked certificate",
        lambda w: w.p.certificates.renew(w.revoked.serial, actor="t"),
        IllegalTransition,
        "serial",
    ),
    (
        "renew a frozen certificate",
        lambda w: w.p.certificates.renew(w.frozen.serial, actor="t"),
        IllegalTransition,
        "serial",
    ),
    (
        "renew without paying",
        lambda w: w.p.certificates.renew(w.active.serial, actor="t"),
        Forbidden,
        "payment",
    ),
    # a renewed certificate has its successor: a second one (a rekey, reissue or change of
    # it) would leave the renewal — same key, old data — valid on a branch of its own
    (
        "renew a renewed certificate",
        lambda w: w.p.certificates.renew(w.renewed.serial, actor="t"),
        IllegalTransition,
        "serial",
    ),
    (
        "rekey a renewed certificate",
        lambda w: w.p.certificates.rekey(w.renewed.serial, actor="t", csr=make_csr()),
        IllegalTransition,
        "serial",
    ),
    (
        "reissue a renewed certificate",
        lambda w: w.p.certificates.reissue(w.renewed.serial, actor="t", csr=make_csr()),
        IllegalTransition,
        "serial",
    ),
    (
        "change a renewed certificate",
        lambda w: w.p.certificates.change(w.renewed.serial, actor="t", updates={"name": "新名"}),
        IllegalTransition,
        "serial",
    ),
    (
        "restore a frozen-not-lost certificate",
        lambda w: w.p.certificates.restore(w.frozen.serial, actor="t"),
        IllegalTransition,
        "serial",
    ),
    (
        "restore an active certificate",
        lambda w: w.p.certificates.restore(w.active.serial, actor="t"),
        IllegalTransition,
        "serial",
    ),
    (
        "revoke twice",
        lambda w: w.p.certificates.revoke(w.revoked.serial, reason="key_compromise", actor="t"),
        IllegalTransition,
        "serial",
    ),
    (
        "freeze twice",
        lambda w: w.p.certificates.freeze(w.frozen.serial, actor="t"),
        IllegalTransition,
        "serial",
    ),
    (
        "report loss of a revoked certificate",
        lambda w: w.p.certificates.report_loss(w.revoked.serial, actor="t"),
        IllegalTransition,
        "serial",
    ),
    (
        "rekey a revoked certificate",
        lambda w: w.p.certificates.rekey(w.revoked.serial, actor="t", csr=make_csr()),
        IllegalTransition,
        "serial",
    ),
    (
        "rekey a frozen certificate",
        lambda w: w.p.certificates.rekey(w.frozen.serial, actor="t", csr=make_csr()),
        IllegalTransition,
        "serial",
    ),
    (
        "change a revoked certificate",
        lambda w: w.p.certificates.change(w.revoked.serial, actor="t", updates={"name": "新名"}),
        IllegalTransition,
        "serial",
    ),
    (
        "reissue a revoked certificate",
        lambda w: w.p.certificates.reissue(w.revoked.serial, actor="t", csr=make_csr()),
        IllegalTransition,
        "serial",
    ),
    (
        "unknown serial",
        lambda w: w.p.certificates.freeze("abcdef0123", actor="t"),
        NotFound,
        "serial",
    ),
    # bad input to lifecycle verbs
    (
        "unknown revocation reason",
        lambda w: w.p.certificates.revoke(w.active.serial, reason="bored", actor="t"),
        ValidationError,
        "reason",
    ),
    (
        "requested_at in the future",
        lambda w: w.p.certificates.revoke(
            w.active.serial, reason="key_compromise", actor="t", requested_at=future(w)
        ),
        ValidationError,
        "requested_at",
    ),
    (
        "requested_at without a timezone",
        lambda w: w.p.certificates.revoke(
            w.active.serial,
            reason="key_compromise",
            actor="t",
            requested_at=w.p.clock.now().replace(tzinfo=None) - dt.timedelta(hours=1),
        ),
        ValidationError,
        "requested_at",
    ),
    (
        "rekey with a broken CSR",
        lambda w: w.p.certificates.rekey(w.active.serial, actor="t", csr=tampered_csr()),
        ValidationError,
        "csr",
    ),
    (
        "reissue with a short PIN",
        lambda w: w.p.certificates.reissue(w.lost.serial, actor="t", pin="123"),
        ValidationError,
        "pin",
    ),
    (
        "change with a bad phone",
        lambda w: w.p.certificates.change(
            w.active.serial, actor="t", updates={"name": "新名字", "phone": "110"}
        ),
        ValidationError,
        "phone",
    ),
    (
        "change a field the kind does not have",
        lambda w: w.p.certificates.change(
            w.active.serial, actor="t", updates={"legal_representative": "某人"}
        ),
        ValidationError,
        "legal_representative",
    ),
    (
        "change nothing",
        lambda w: w.p.certificates.change(w.active.serial, actor="t", updates={"name": None}),
        ValidationError,
        "name",  # a field the API and the CLI take, not the service's argument
    ),
    ("wrong PIN", wrong_pin, Forbidden, "pin"),
]


@pytest.mark.parametrize(("name", "action", "error", "field"), CASES, ids=[c[0] for c in CASES])
def test_refusal_names_the_field_and_changes_nothing(
    shared_world: World, name: str, action, error: type[YinxinError], field: str
) -> None:
    world = shared_world
    before = dump(world.p)
    assert sum(len(rows) for rows in before.values()) > 30  # the world is not empty
    with pytest.raises(YinxinError) as info:
        action(world)
    e = info.value
    assert isinstance(e, error), (type(e).__name__, e.to_dict())
    assert e.field == field, e.to_dict()
    assert e.message and len(e.message) >= 5
    assert e.to_dict()["field"] == field and e.to_dict()["error"] == e.code
    after = dump(world.p)
    assert diff(before, after) == [], diff(before, after)
    assert after == before
    assert world.p.verify_audit().ok


def test_a_payment_reference_is_kept_as_one_plain_line(sqlite_world: World) -> None:
    """A receipt reference typed with spaces around it or inside it is the same reference (a
    cashier's retry of " R-7 " is R-7's replay, not a second renewal charged); a blank one
    is none, as if not given (it was kept as "" and matched as a reference)."""
    p, serial = sqlite_world.p, sqlite_world.active.serial
    first = p.certificates.pay(serial=serial, reference="  R-7\t 2026 ")
    assert first.reference == "R-7 2026" and not first.replayed
    again = p.certificates.pay(serial=serial, reference="R-7 2026")
    assert again.replayed and again.id == first.id
    blank = p.certificates.pay(serial=serial, reference="   ")
    assert blank.reference is None and not blank.replayed


def test_a_refused_step_can_be_retried_correctly(world: World) -> None:
    """After a refusal nothing is left half-done: the corrected request goes through."""
    with pytest.raises(Forbidden):
        world.p.certificates.approve(world.unpaid_app.id, officer="受理员")
    world.p.certificates.pay(application_id=world.unpaid_app.id)
    assert world.p.certificates.approve(world.unpaid_app.id, officer="受理员").status == "active"


# --- the command line ---------------------------------------------------------------------------
def csr_file(tmp_path: Path, data: bytes, name: str) -> str:
    f = tmp_path / name
    f.write_bytes(data)
    return str(f)


def cli_cases(w: World, tmp: Path) -> list[tuple[str, list[str], str, int]]:
    wrong_check = id_number(5)[:17] + ("0" if id_number(5)[17] != "0" else "1")
    bad_uscc = uscc(9)[:17] + ("0" if uscc(9)[17] != "0" else "1")
    person, stranger, device = str(w.person.id), str(w.stranger.id), str(w.device.id)
    future_at = (real_now() + dt.timedelta(days=1)).isoformat()  # the CLI runs on the real clock
    return [
        (
            "bad ID",
            [
                "subscriber",
                "add-person",
                "--name",
                "李雷",
                "--id-number",
                wrong_check,
                "--phone",
                "13800138000",
            ],
            "id_number",
            2,
        ),
        (
            "bad USCC",
            [
                "subscriber",
                "add-organization",
                "--name",
                "某公司",
                "--uscc",
                bad_uscc,
                "--legal-representative",
                "甲",
                "--contact-name",
                "乙",
                "--contact-phone",
                "010-62345678",
            ],
            "uscc",
            2,
        ),
        (
            "bad phone",
            [
                "subscriber",
                "add-person",
                "--name",
                "李雷",
                "--id-number",
                id_number(6),
                "--phone",
                "110",
            ],
            "phone",
            2,
        ),
        (
            "malformed CSR",
            [
                "cert",
                "apply",
                "--subscriber-id",
                person,
                "--profile",
                "person-signing",
                "--csr",
                csr_file(tmp, b"garbage", "g.csr"),
            ],
            "csr",
            2,
        ),
        (
            "missing CSR file",
            [
                "cert",
                "apply",
                "--subscriber-id",
                person,
                "--profile",
                "person-signing",
                "--csr",
                str(tmp / "nope.csr"),
            ],
            "csr",
            2,
        ),
        (
            "broken CSR signature",
            [
                "cert",
                "apply",
                "--subscriber-id",
                person,
                "--profile",
                "person-signing",
                "--csr",
                csr_file(tmp, tampered_csr(), "t.der"),
            ],
            "csr",
            2,
        ),
        *(
            (
                f"{option} beside a CSR",
                [
                    "cert",
                    "apply",
                    "--subscriber-id",
                    person,
                    "--profile",
                    "person-signing",
                    "--csr",
                    csr_file(tmp, make_csr(), f"{field}.csr"),
                    *more,
                ],
                field,
                2,
            )
            for option, more, field in (
                ("--pin", ["--pin", "123456"], "pin"),
                ("--pin-stdin", ["--pin-stdin"], "pin_stdin"),
                ("--algorithm", ["--algorithm", "sm2"], "algorithm"),
            )
        ),
        # the service's dns_names and application_id, named by the options typed
        (
            "--dns on a person certificate",
            [
                "cert",
                "apply",
                "--subscriber-id",
                person,
                "--profile",
                "person-signing",
                "--csr",
                csr_file(tmp, make_csr(), "dns.csr"),
                "--dns",
                "x.example.cn",
            ],
            "dns",
            2,
        ),
        (
            "--dns naming a host twice",
            [
                "cert",
                "apply",
                "--subscriber-id",
                device,
                "--profile",
                "device-tls",
                "--csr",
                csr_file(tmp, make_csr(), "dns-twice.csr"),
                "--dns",
                "gw.example.cn",
                "--dns",
                "gw.example.cn.",
            ],
            "dns",
            2,
        ),
        (
            "--dns naming an emoji A-label (IDNA 2003 only)",
            [
                "cert",
                "apply",
                "--subscriber-id",
                device,
                "--profile",
                "device-tls",
                "--csr",
                csr_file(tmp, make_csr(), "dns-emoji.csr"),
                "--dns",
                "xn--ls8h.example.cn",
            ],
            "dns",
            2,
        ),
        (
            "--dns given once more than a certificate carries",
            [
                "cert",
                "apply",
                "--subscriber-id",
                device,
                "--profile",
                "device-tls",
                "--csr",
                csr_file(tmp, make_csr(), "dns-many.csr"),
                *(a for n in range(MAX_DNS_NAMES + 1) for a in ("--dns", f"gw{n}.example.cn")),
            ],
            "dns",
            2,
        ),
        ("pay for nothing", ["cert", "pay"], "application", 2),
        (
            "pay for an unknown application",
            ["cert", "pay", "--application", "999999"],
            "application",
            3,
        ),
        (
            "pay for a decided application",
            ["cert", "pay", "--application", str(w.approved_app_id)],
            "application",
            4,
        ),
        (
            "--pin beside a CSR to rekey",
            ["cert", "rekey", "01", "--csr", csr_file(tmp, make_csr(), "r.csr"), "--pin", "1"],
            "pin",
            2,
        ),
        (
            "unknown profile",
            [
                "cert",
                "apply",
                "--subscriber-id",
                person,
                "--profile",
                "nope",
                "--csr",
                csr_file(tmp, make_csr(), "ok.csr"),
            ],
            "profile",
            2,
        ),
        (
            "wrong kind",
            [
                "cert",
                "apply",
                "--subscriber-id",
                person,
                "--profile",
                "device-tls",
                "--csr",
                csr_file(tmp, make_csr(), "ok2.csr"),
            ],
            "profile",
            2,
        ),
        (
            "no agreement",
            [
                "cert",
                "apply",
                "--subscriber-id",
                stranger,
                "--profile",
                "person-signing",
                "--csr",
                csr_file(tmp, make_csr(), "ok3.csr"),
            ],
            "agreement",
            5,
        ),
        (
            "short PIN",
            [
                "cert",
                "apply",
                "--subscriber-id",
                person,
                "--profile",
                "person-signing",
                "--platform-key",
                "--pin",
                "12345",
            ],
            "pin",
            2,
        ),
        (
            "unpaid",
            ["cert", "approve", str(w.unpaid_app.id), "--officer", "受理员"],
            "payment",
            5,
        ),
        ("unfreeze revoked", ["cert", "unfreeze", w.revoked.serial], "serial", 4),
        ("renew revoked", ["cert", "renew", w.revoked.serial], "serial", 4),
        ("restore frozen", ["cert", "restore", w.frozen.serial], "serial", 4),
        (
            "revoke twice",
            ["cert", "revoke", w.revoked.serial, "--reason", "key_compromise"],
            "serial",
            4,
        ),
        (
            "unknown reason",
            ["cert", "revoke", w.active.serial, "--reason", "bored"],
            "reason",
            2,
        ),
        (
            "future request",
            [
                "cert",
                "revoke",
                w.active.serial,
                "--reason",
                "key_compromise",
                "--requested-at",
                future_at,
            ],
            "requested_at",
            2,
        ),
        (
            "bad request time",
            [
                "cert",
                "revoke",
                w.active.serial,
                "--reason",
                "key_compromise",
                "--requested-at",
                "yesterday",
            ],
            "requested_at",
            2,
        ),
        ("unknown serial", ["cert", "freeze", "abcdef"], "serial", 3),
    ]


def cli(w: World, args: list[str], passphrase: str = PASSPHRASE):
    env = cli_env(w.p, YINXIN_CA_PASSPHRASE=passphrase, YINXIN_PIN=None)
    return CliRunner().invoke(cli_app, args, env=env)


@pytest.fixture
def sqlite_world(platform: Platform, make_platform) -> World:
    return build_world(platform, make_platform)


def test_cli_refusals(sqlite_world: World, tmp_path: Path) -> None:
    w = sqlite_world
    failures = []
    for name, args, field, code in cli_cases(w, tmp_path):
        before = dump(w.p)
        res = cli(w, args)
        human = (res.exit_code, res.stdout, res.stderr)
        res_json = cli(w, [*args, "--json"])
        after = dump(w.p)
        if diff(before, after):
            failures.append(f"{name}: database changed: {diff(before, after)}")
        if human[0] != code:
            failures.append(f"{name}: exit {human[0]} (wanted {code}): {human[2]!r}")
        if f"[{field}]" not in human[2]:
            failures.append(f"{name}: the message does not name {field!r}: {human[2]!r}")
        if res_json.exit_code != code:
            failures.append(f"{name}: --json exit {res_json.exit_code}")
        try:
            out = json.loads(res_json.stdout)
        except ValueError:
            failures.append(f"{name}: --json printed {res_json.stdout!r}")
            continue
        if out.get("field") != field or not out.get("error") or not out.get("message"):
            failures.append(f"{name}: --json gave {out!r}")
    assert not failures, "\n".join(failures)


def test_cli_wrong_passphrase(sqlite_world: World) -> None:
    w = sqlite_world
    before = dump(w.p)
    args = ["cert", "approve", str(w.paid_app.id), "--officer", "受理员"]
    res = cli(w, args, passphrase=OTHER_PASSPHRASE)
    assert res.exit_code == 5
    assert "[passphrase]" in res.stderr
    res = cli(w, [*args, "--json"], passphrase=OTHER_PASSPHRASE)
    assert res.exit_code == 5
    assert json.loads(res.stdout) == {
        "error": "bad_passphrase",
        "message": "wrong CA passphrase",
        "field": "passphrase",
    }
    for r in (res.stdout, res.stderr):
        assert OTHER_PASSPHRASE not in r and PASSPHRASE not in r
    assert dump(w.p) == before


def test_a_damaged_ca_key_file_is_not_called_a_wrong_passphrase(sqlite_world: World) -> None:
    """A key file cut short, overwritten, emptied or swapped for an unencrypted key was
    reported as "wrong CA passphrase" (exit 5), sending the operator to retype a correct
    passphrase. It is a configuration error naming the key store and the file; the wrong
    passphrase is still that; nothing is written either way."""
    w = sqlite_world
    keyfile = next(w.p.settings.home.rglob("issuing-ca.key.pem"))
    good = keyfile.read_bytes()
    plain = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    args = ["cert", "approve", str(w.paid_app.id), "--officer", "受理员"]
    before = dump(w.p)
    try:
        for damaged in (good[: len(good) // 2], b"", b"garbage\n", plain, good.replace(b"M", b"*")):
            keyfile.write_bytes(damaged)
            res = cli(w, args)
            assert res.exit_code == 7, (damaged[:40], res.stderr)
            assert "[keystore]" in res.stderr and str(keyfile) in res.stderr
            assert "passphrase" not in res.stderr
        keyfile.write_bytes(good)
        res = cli(w, args, passphrase=OTHER_PASSPHRASE)
        assert res.exit_code == 5 and "wrong CA passphrase" in res.stderr
        assert dump(w.p) == before
    finally:
        keyfile.write_bytes(good)
    assert cli(w, args).exit_code == 0


def test_a_missing_ca_key_is_a_key_store_error_not_a_missing_record(
    sqlite_world: World, tmp_path: Path
) -> None:
    """A database restored without its ``keys/`` folder (or with a file in its place, or a
    key file deleted) answered ``error [label]: no key labelled 'issuing-ca' in …/keys (code:
    not_found)``, exit 3 — the code for "no such record" and "not initialised" — on every
    command that signs, ``yinxin serve`` and ``yinxin worker`` included, and the API a ``404``
    for an application that exists. It is the key store's fault, as a damaged key file is:
    exit 7 naming ``keystore``, the path, and that the keys directory (or the HSM token) the
    database was made with is to be restored — the API's ``503``, as for a missing KEK.
    Nothing is written; with the folder back the same command works."""
    w = sqlite_world
    keys = next(w.p.settings.home.rglob("issuing-ca.key.pem")).parent
    aside = tmp_path / "keys-aside"
    args = ["cert", "approve", str(w.paid_app.id), "--officer", "受理员"]
    before = dump(w.p)
    keys.rename(aside)
    try:
        for case in ("no keys folder", "a file in its place", "the key file gone"):
            if case == "a file in its place":
                keys.write_text("not a folder")
            elif case == "the key file gone":
                keys.unlink()
                keys.mkdir(mode=0o700)
                for f in aside.iterdir():
                    if f.name != "issuing-ca.key.pem":
                        (keys / f.name).write_bytes(f.read_bytes())
            res = cli(w, [*args, "--json"])
            assert res.exit_code == 7, (case, res.stdout, res.stderr)
            out = json.loads(res.stdout)
            assert out["field"] == "keystore", (case, out)
            assert str(keys) in out["message"], (case, out)
            if case == "a file in its place":
                assert "a file is in the way" in out["message"], out
            else:
                assert "issuing-ca" in out["message"] and "restore" in out["message"], out
            assert dump(w.p) == before, case
            if case == "the key file gone":
                continue  # `serve` opens the OCSP responder's key at start, still there
            # the server refuses to start the same way, before it says "Serving on"
            served = yinxin_cli(
                ["serve", "--host", "127.0.0.1", "--port", "0"],
                w.p.settings.home,
                env={"YINXIN_DATABASE_URL": w.p.settings.database_url},
                check=False,
            )
            assert served.returncode == 7, (case, served.stdout, served.stderr)
            assert "[keystore]" in served.stderr and "Serving on" not in served.stdout, case
    finally:
        if keys.is_dir():
            for f in keys.iterdir():
                f.unlink()
            keys.rmdir()
        elif keys.exists():
            keys.unlink()
        aside.rename(keys)
    assert cli(w, args).exit_code == 0


def test_cli_wrong_passphrase_as_a_real_process(sqlite_world: World) -> None:
    w = sqlite_world
    before = dump(w.p)
    env = yinxin_env(
        w.p.settings.home, OTHER_PASSPHRASE, {"YINXIN_DATABASE_URL": w.p.settings.database_url}
    )
    done = subprocess.run(
        [str(YINXIN), "cert", "approve", str(w.paid_app.id), "--officer", "受理员", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 5, done.stderr
    assert json.loads(done.stdout)["field"] == "passphrase"
    assert OTHER_PASSPHRASE not in done.stdout + done.stderr
    assert dump(w.p) == before


# --- secrets stay secret -------------------------------------------------------------------------
def _needles(secret_texts: list[str], keys) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for t in secret_texts:
        out[f"text {t[:4]}…"] = t.encode("utf-8")
        out[f"text {t[:4]}… (utf-16)"] = t.encode("utf-16-le")
    for i, k in enumerate(keys):
        der = k.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        pem = k.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        out[f"key {i} PKCS#8 DER"] = der
        out[f"key {i} PKCS#8 PEM body"] = b"".join(pem.splitlines()[1:3])
        if isinstance(k, ec.EllipticCurvePrivateKey):
            scalar = k.private_numbers().private_value.to_bytes(32, "big")
            out[f"key {i} EC scalar"] = scalar
            out[f"key {i} EC scalar hex"] = scalar.hex().encode()
        if isinstance(k, rsa.RSAPrivateKey):
            d = k.private_numbers().d
            out[f"key {i} RSA d"] = d.to_bytes((d.bit_length() + 7) // 8, "big")
    return out


def _as_bytes(v) -> list[bytes]:
    if isinstance(v, bytes):
        return [v]
    s = str(v)
    return [s.encode("utf-8"), s.encode("utf-8").hex().encode()]


def test_no_private_key_or_pin_in_the_database_or_logs(
    platform: Platform, caplog, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    p = platform
    subs = enrol(p)
    certs = [issue(p, subs.person.id, pin=PIN) for _ in range(3)]
    certs.append(p.certificates.rekey(certs[0].serial, actor="t", pin=PIN).certificate)
    with pytest.raises(ValidationError):
        p.certificates.apply(
            subscriber_id=subs.person.id, profile="person-signing", pin="1234"
        )  # too short, refused
    with p.db.read() as s:
        sealed = s.execute(select(PlatformKey).order_by(PlatformKey.id)).scalars().all()
    assert len(sealed) == 4
    keys = [open_private_key(k.sealed_key, PIN, k.label, kek=p.kek).native for k in sealed]
    ca_keys = [p.ca.key(r).native for r in ("root", "issuing", "ocsp", "root-ocsp", "tsa")]
    with pytest.raises(Forbidden) as wrong:
        open_private_key(sealed[0].sealed_key, "Wr0ng-PIN-000000", sealed[0].label, kek=p.kek)
    needles = _needles([PIN, "Wr0ng-PIN-000000", PASSPHRASE], [*keys, *ca_keys])

    # positive control: the scan does find key material that is meant to be there (public keys)
    public = spki(keys[0].public_key())
    assert any(isinstance(v, bytes) and public in v for _, _, v in cells(p))

    found = []
    for table, column, value in cells(p):
        for blob in _as_bytes(value):
            found += [f"{table}.{column}: {n}" for n, b in needles.items() if b in blob]
    db_file = Path(p.settings.database_url.removeprefix("sqlite:///"))
    p.db.dispose()  # checkpoint the WAL into the file
    files = [f for f in db_file.parent.iterdir() if f.name.startswith(db_file.name)]
    for f in files:
        raw = f.read_bytes()
        found += [f"{f.name}: {n}" for n, b in needles.items() if b in raw]
    logs = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    logs += str(wrong.value) + repr(wrong.value.to_dict())
    found += [
        f"log/error: {n}"
        for n, b in needles.items()
        if b in logs.encode("utf-8") or b.hex() in logs
    ]
    for k in keys + ca_keys:
        assert "PRIVATE" not in repr(k)
    assert found == []


def test_ca_key_files_are_encrypted_and_private(platform: Platform) -> None:
    keys_dir = platform.settings.keys_dir
    files = sorted(keys_dir.iterdir())
    assert [f.name for f in files] == sorted(
        f"{label}.key.pem"
        for label in ("root-ca", "issuing-ca", "ocsp-responder", "root-ocsp-responder", "tsa")
    )
    for f in files:
        text = f.read_text()
        assert text.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----"), f
        assert "-----BEGIN PRIVATE KEY-----" not in text
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, (f, oct(f.stat().st_mode))
        with pytest.raises((TypeError, ValueError)):
            serialization.load_pem_private_key(f.read_bytes(), None)
        with pytest.raises(ValueError):
            serialization.load_pem_private_key(f.read_bytes(), b"not the passphrase")
        key = serialization.load_pem_private_key(f.read_bytes(), PASSPHRASE.encode())
        assert key.public_key() is not None


def test_cli_errors_do_not_show_the_pin_or_passphrase(sqlite_world: World) -> None:
    w = sqlite_world
    short_pin = "98765"
    res = cli(
        w,
        [
            "cert",
            "apply",
            "--subscriber-id",
            str(w.person.id),
            "--profile",
            "person-signing",
            "--platform-key",
            "--pin",
            short_pin,
        ],
    )
    assert res.exit_code == 2 and "[pin]" in res.stderr
    assert not in_clear(short_pin, res.stdout + res.stderr)
    res = cli(
        w,
        ["cert", "rekey", w.active.serial, "--platform-key", "--pin", PIN],
        passphrase=OTHER_PASSPHRASE,
    )
    assert res.exit_code == 5
    out = res.stdout + res.stderr
    assert not in_clear(PIN, out) and OTHER_PASSPHRASE not in out and PASSPHRASE not in out


def _unusable_homes(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], str, str]]:
    """(case, environment, field, words of the message) for a data directory or database the
    platform cannot open."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    yield "home is a file", {"YINXIN_HOME": str(a_file)}, "home", "a file is in the way"
    below = tmp_path / "a-file" / "home"
    yield "home below a file", {"YINXIN_HOME": str(below)}, "home", "a file is in the way"
    db_dir = tmp_path / "db-is-a-dir"
    (db_dir / "yinxin.db").mkdir(parents=True)
    yield "database is a directory", {"YINXIN_HOME": str(db_dir)}, "home", "unable to open"
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "yinxin.db").write_bytes(b"this is no SQLite file " * 100)
    yield "database is not one", {"YINXIN_HOME": str(garbage)}, "home", "not a database"
    url = f"postgresql://nobody:s3cret-pw@127.0.0.1:{free_port()}/none"
    yield "postgresql not answering", {"YINXIN_DATABASE_URL": url}, "YINXIN_DATABASE_URL", "refused"
    yield (
        "another kind of URL",
        {"YINXIN_DATABASE_URL": "mysql://x/y"},
        "YINXIN_DATABASE_URL",
        ("postgresql:// or sqlite:///"),
    )
    for memory in ("sqlite:///:memory:", "sqlite://"):  # a traceback: no such table
        yield "in memory", {"YINXIN_DATABASE_URL": memory}, "YINXIN_DATABASE_URL", "keeps nothing"


def test_a_data_directory_or_database_that_cannot_be_opened_is_a_clear_error(
    tmp_path: Path,
) -> None:
    """Each ended in the driver's or pathlib's traceback (exit 1). Now a configuration error
    (exit 7) naming the setting and the reason, in text and JSON, through the service and the
    command line; nothing is written (the file that is no database keeps its bytes), and a
    password in the URL is not repeated."""
    for case, env, field, words in list(_unusable_homes(tmp_path)):
        home = Path(env.get("YINXIN_HOME", tmp_path / "unused-home")).resolve()
        url = env.get("YINXIN_DATABASE_URL", f"sqlite:///{home / 'yinxin.db'}")
        before = sorted(str(p) for p in tmp_path.rglob("*"))
        garbage = tmp_path / "garbage" / "yinxin.db"
        garbage_bytes = garbage.read_bytes()
        with pytest.raises(ConfigurationError) as e:
            Platform(Settings.from_env(home=home, database_url=url), passphrase=PASSPHRASE)
        assert e.value.field == field and words in e.value.message, (case, e.value.message)
        res = CliRunner().invoke(
            cli_app, ["cert", "list"], env={"YINXIN_HOME": None, "YINXIN_DATABASE_URL": None, **env}
        )
        assert res.exit_code == 7, (case, res.exit_code, res.stderr, res.exception)
        assert f"error [{field}]" in res.stderr and words in res.stderr, (case, res.stderr)
        assert "Traceback" not in res.stderr + res.stdout and "s3cret-pw" not in res.stderr
        res = CliRunner().invoke(
            cli_app,
            ["cert", "list", "--json"],
            env={"YINXIN_HOME": None, "YINXIN_DATABASE_URL": None, **env},
        )
        assert res.exit_code == 7 and json.loads(res.stdout)["field"] == field, case
        assert sorted(str(p) for p in tmp_path.rglob("*")) == before, case
        assert garbage.read_bytes() == garbage_bytes, case
