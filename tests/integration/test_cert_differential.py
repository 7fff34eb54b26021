"""Certificates issued every way the registry issues them, each judged by tools we did not write:
``openssl verify -x509_strict`` (with the ``-purpose`` the profile is for) against our chain,
``openssl x509 -text``, pkilint's ``lint_pkix_cert`` (no finding of WARNING or worse: none is
accepted) and, for ECDSA and RSA, pyHanko's path validation (what judges our signatures).

One CA per key algorithm (``ec-p256``, ``ec-p384``, ``rsa-3072``, ``sm2``), made once for the
module; under each, every profile the platform issues — its own root, issuing CA, OCSP
responders and TSA, and a person's, an organization's (the profiles seals are bound to) and a
device's certificate — for every subscriber key algorithm the CA takes, by CSR and
platform-held; under P-256, every role that rolls over, rolled, and certificates issued
after. Beside them the subject edge cases (Chinese names at the 64-character bound, a name
given with spaces around it, Uyghur beside Chinese, IDN host names as A-labels), the CSRs
whose requests must not be honoured (basicConstraints CA:TRUE, keyCertSign, SANs,
anyExtendedKeyUsage, an empty subject), and what must be refused, naming the field, with
nothing written: names over the bound, with control characters, unassigned code points or
U+FFFD; U-label, IP-address or malformed xn-- host names; a CSR whose signature does not
verify; RSA-1024, RSA-4096, P-192 and secp256k1 keys, RSA keys whose public exponent is 3 or
above 2^256 (BR §6.1.6); a host name given twice, more host names than a certificate carries.
Serial numbers: positive, at most 20 octets, unique.

Documented choices checked here: the CSR's subject and extensions are never read (the subject
comes from the subscriber's record, the extensions from the profile); names are stripped of the
spaces around them (``identity.validate_name``); a key already certified may be certified again,
for the same or another subscriber (operator-guide.md, "same key": a loss or key-compromise
revocation then reaches every certificate of it). The platform writes no e-mail address into a
certificate, so there is no rfc822Name to judge.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import math
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pkilint.bin.lint_pkix_cert import main as lint_pkix_cert
from pyhanko_certvalidator import CertificateValidator, ValidationContext

from tests.clock import START
from tests.conftest import PASSPHRASE
from tests.dbdump import dump
from tests.integration.test_ca_lifecycle import PIN, enrol, id_number, issue, new_key, uscc
from yinxin.app import Platform
from yinxin.clock import FrozenClock
from yinxin.errors import ValidationError
from yinxin.pdf import names
from yinxin.pki import sm2, sm2_x509
from yinxin.registry.ca import ROLLABLE
from yinxin.registry.certificates import MAX_DNS_NAMES
from yinxin.settings import Settings

pytestmark = [
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed"),
    # pkilint's key checks name DSA, which cryptography has deprecated
    pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning"),
]

PEM = serialization.Encoding.PEM
DISTID = "distid:1234567812345678"  # GM/T 0009's default SM2 user ID, as we sign with
CA_ALGORITHMS = ("ec-p256", "ec-p384", "rsa-3072", "sm2")
# the subscriber key algorithms each CA certifies (an ECDSA or RSA CA refuses SM2 keys)
KEY_ALGORITHMS = {
    "ec-p256": ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072"),
    "ec-p384": ("ec-p384", "rsa-2048"),
    "rsa-3072": ("rsa-3072", "ec-p256"),
    "sm2": ("sm2", "ec-p256"),
}
LEAF = [["-purpose", "any"]]
# profile -> the `openssl verify` purposes its certificates must pass
PURPOSES: dict[str, list[list[str]]] = {
    "root": [["-purpose", "crlsign"]],
    "issuing": [["-purpose", "crlsign"]],
    "ocsp": [["-purpose", "ocsphelper"]],
    "root-ocsp": [["-purpose", "ocsphelper"]],
    "tsa": [["-purpose", "timestampsign"]],
    "person": [["-purpose", "smimesign"]],
    "organization": [["-purpose", "smimesign"]],
    "device": [["-purpose", "sslserver"], ["-purpose", "sslclient"]],
}
# the CA certificate each issued certificate's chain runs through under the root
UNDER = {"root": None, "issuing": "root", "ocsp": "issuing", "root-ocsp": "root", "tsa": "root"}


@dataclass
class Issued:
    """One certificate to judge: where its PEM is, its profile and its CA's files."""

    path: Path
    profile: str  # a key of PURPOSES
    ca: str  # the CA algorithm
    subject_cn: str | None = None  # the common name it must carry, as written in the record


@dataclass
class World:
    at: dt.datetime
    dir: Path
    cas: dict[str, dict[str, Path]] = field(default_factory=dict)  # algorithm -> role -> PEM
    certs: dict[str, Issued] = field(default_factory=dict)
    platforms: dict[str, Platform] = field(default_factory=dict)
    refusals: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # case -> field


def _csr(key, name: x509.Name | None = None, extensions=()) -> bytes:
    """A CSR for ``key`` (SM2 through ``sm2_x509``), with ``extensions`` requested."""
    name = name if name is not None else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    if isinstance(key, sm2.SM2PrivateKey):
        return sm2_x509.build_csr(name, key, key.public_key()).public_bytes(PEM)
    builder = x509.CertificateSigningRequestBuilder().subject_name(name)
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    return builder.sign(key, hashes.SHA256()).public_bytes(PEM)


def _key(algorithm: str):
    if algorithm == "sm2":
        return sm2.generate()
    if algorithm == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm == "rsa-2048":
        return rsa.generate_private_key(65537, 2048)
    return new_key(algorithm)


def _platform(home: Path, algorithm: str) -> Platform:
    p = Platform(
        Settings(home=home, database_url=f"sqlite:///{home / 'yinxin.db'}"),
        clock=FrozenClock(START),
        passphrase=PASSPHRASE,
    )
    p.ca.init(algorithm)
    return p


def _refused(w: World, case: str, fn) -> None:
    """Run ``fn``, which must be refused with nothing written: record the field named (or what
    came instead)."""
    p = w.platforms["ec-p256"]
    before = dump(p)
    try:
        fn()
    except ValidationError as e:
        w.refusals[case] = (e.field, e.message) if dump(p) == before else (None, "wrote rows")
    except Exception as e:  # noqa: BLE001 - a crash is the finding
        w.refusals[case] = (None, f"{type(e).__name__}: {e}")
    else:
        w.refusals[case] = (None, "accepted, not refused")


def _issue_under(w: World, p: Platform, ca: str) -> None:
    out = w.dir / ca
    out.mkdir()

    def keep(name: str, pem: str, profile: str, cn: str | None = None) -> None:
        f = out / f"{name}.pem"
        f.write_text(pem)
        w.certs[f"{ca}/{name}"] = Issued(f, profile, ca, cn)

    w.cas[ca] = {}
    for role in UNDER:
        f = out / f"ca-{role}.pem"
        f.write_bytes(p.ca.certificate(role).public_bytes(PEM))
        w.cas[ca][role] = f
        w.certs[f"{ca}/{role}"] = Issued(f, role, ca)
    subs = enrol(p)
    for alg in KEY_ALGORITHMS[ca]:
        keep(f"person-csr-{alg}", issue(p, subs.person.id, csr=_csr(_key(alg))).pem, "person")
        org = issue(p, subs.org.id, "organization-signing", csr=_csr(_key(alg)), plan="premium").pem
        keep(f"organization-csr-{alg}", org, "organization")
        dev = issue(
            p, subs.device.id, "device-tls", csr=_csr(_key(alg)), dns_names=["gw01.example.cn"]
        ).pem
        keep(f"device-csr-{alg}", dev, "device")
    for alg in KEY_ALGORITHMS[ca][:1]:
        person = issue(p, subs.person.id, pin=PIN, algorithm=alg).pem
        keep(f"person-platform-{alg}", person, "person")
        org = issue(p, subs.org.id, "organization-signing", pin=PIN, algorithm=alg).pem
        keep(f"organization-platform-{alg}", org, "organization")


def _rsa_with_exponent_from(e: int) -> rsa.RSAPrivateKey:
    """An RSA-2048 key whose public exponent is the first odd number from ``e`` it can have."""
    base = rsa.generate_private_key(65537, 2048).private_numbers()
    p, q = base.p, base.q
    lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
    e |= 1
    while math.gcd(e, lam) != 1:
        e += 2
    d = pow(e, -1, lam)
    return rsa.RSAPrivateNumbers(
        p, q, d, d % (p - 1), d % (q - 1), rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(e, p * q)
    ).private_key()


def _edge_cases(w: World, p: Platform) -> None:
    """Subjects and CSRs at the edges, under the P-256 CA."""
    out = w.dir / "edge"
    out.mkdir()
    s = p.subscribers

    def keep(name: str, pem: str, profile: str, cn: str) -> None:
        f = out / f"{name}.pem"
        f.write_text(pem)
        w.certs[f"edge/{name}"] = Issued(f, profile, "ec-p256", cn)

    def accepted(sub):
        s.accept_agreement(sub.id, accepted_by=sub.name)
        return sub

    org64 = accepted(
        s.add_organization(
            name="北京" * 31 + "公司",  # 64 characters, 192 octets of UTF-8
            uscc=uscc(64),
            legal_representative="李四",
            contact_name="王五",
            contact_phone="010-62345678",
            phone="13900139064",
        )
    )
    dev64 = accepted(s.add_device(device_name="门禁网关" * 16, organization_id=org64.id))
    person50 = accepted(
        s.add_person(name="欧阳" * 25, id_number=id_number(50), phone="13800138050", actor="t")
    )
    spaced = accepted(
        s.add_person(name="  Zhang  San ", id_number=id_number(51), phone="13800138051", actor="t")
    )
    keep(
        "organization-64",
        issue(p, org64.id, "organization-signing", plan="premium").pem,
        "organization",
        org64.name,
    )
    idn = ["xn--fsqu00a.xn--fiqs8s", "xn--55qx5d.example.cn", "gw-01.EXAMPLE.cn."]
    keep(
        "device-64-idn",
        issue(p, dev64.id, "device-tls", dns_names=idn).pem,
        "device",
        "门禁网关" * 16,
    )
    # as many host names as one certificate carries
    most = [f"gw{n}.example.cn" for n in range(MAX_DNS_NAMES)]
    keep(
        "device-most-names",
        issue(p, dev64.id, "device-tls", dns_names=most).pem,
        "device",
        "门禁网关" * 16,
    )
    keep("person-50", issue(p, person50.id).pem, "person", "欧阳" * 25)
    keep("person-spaced", issue(p, spaced.id).pem, "person", "Zhang  San")
    # right-to-left script beside Chinese, or not at both ends: RFC 4518 §2.5 ignores bidi
    uyghur = "新疆喀什 قەشقەر سودا شىركىتى"
    bilingual = accepted(
        s.add_organization(
            name=uyghur,
            uscc=uscc(66),
            legal_representative="艾力",
            contact_name="王五",
            contact_phone="010-62345678",
            phone="13900139066",
        )
    )
    keep(
        "organization-bidi",
        issue(p, bilingual.id, "organization-signing").pem,
        "organization",
        uyghur,
    )
    rtl_digit = accepted(
        s.add_person(name="ئابدۇرېھىم 2", id_number=id_number(67), phone="13800138067", actor="t")
    )
    keep("person-bidi", issue(p, rtl_digit.id).pem, "person", "ئابدۇرېھىم 2")

    subs = enrol(p, 70)
    asked = _csr(
        new_key(),
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Root CA of evil")]),
        [
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (x509.KeyUsage(True, True, True, True, True, True, True, False, False), True),
            (x509.SubjectAlternativeName([x509.DNSName("evil.example.com")]), False),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]), False),
        ],
    )
    keep("person-csr-asks-ca", issue(p, subs.person.id, csr=asked).pem, "person", subs.person.name)
    keep(
        "device-csr-asks-ca",
        issue(p, subs.device.id, "device-tls", csr=asked, dns_names=["gw70.example.cn"]).pem,
        "device",
        subs.device.name,
    )
    empty = _csr(new_key(), x509.Name([]))
    keep("person-csr-empty-subject", issue(p, subs.person.id, csr=empty).pem, "person", None)
    # a key already certified, certified again: for its holder and for another subscriber
    again = new_key()
    keep("same-key-1", issue(p, subs.person.id, csr=_csr(again)).pem, "person", None)
    keep("same-key-2", issue(p, subs.person.id, csr=_csr(again)).pem, "person", None)
    keep("same-key-other", issue(p, person50.id, csr=_csr(again)).pem, "person", None)

    # --- what must be refused -------------------------------------------------------------
    def org_named(name: str, n: int):
        return lambda: s.add_organization(
            name=name,
            uscc=uscc(n),
            legal_representative="李四",
            contact_name="王五",
            contact_phone="010-62345678",
            phone="13900139000",
        )

    def person_named(name: str, n: int):
        return lambda: s.add_person(
            name=name, id_number=id_number(n), phone="13800138000", actor="t"
        )

    _refused(w, "organization name of 65", org_named("北京" * 32 + "司", 65))
    _refused(w, "person name of 51", person_named("欧" * 51, 52))
    _refused(
        w,
        "device name of 65",
        lambda: s.add_device(device_name="门" * 65, organization_id=org64.id),
    )
    _refused(w, "name with NUL", person_named("张\x00三", 53))
    _refused(w, "name with a control character", person_named("张\x1b[31m三", 54))
    _refused(w, "name with a line break", org_named("北京\n公司", 55))
    _refused(w, "empty name", person_named(" \t ", 56))
    # code points this Python's Unicode does not assign (U+0378; the noncharacters U+FFFF and
    # U+FDD0): pyHanko's path validation refuses a certificate naming one
    # ("X.509 Name objects may not contain unassigned code points"), openssl and pkilint not
    _refused(w, "name with an unassigned code point", person_named("张\u0378三", 57))
    _refused(w, "name with a noncharacter", org_named("北京\uffff公司", 58))
    # U+FFFD, what a lost character was decoded as: refused by the same preparation
    _refused(w, "name with the replacement character", person_named("张\ufffd", 59))
    _refused(
        w,
        "device name with a noncharacter",
        lambda: s.add_device(device_name="门禁\ufdd0", organization_id=org64.id),
    )
    device = subs.device.id
    bad_names = ("例子.中国", "1.2.3.4", "a.b", "gw.example.123", "*.example.cn", "localhost")
    # A-labels that are no IDNA: U+0080, a control character; a truncated Punycode string
    bad_names += ("xn--a.example.cn", "xn--zz.example.cn")
    # an emoji A-label: IDNA 2003 (Python's codec) decodes it, IDNA 2008 (RFC 5891, what
    # browsers and the CA/Browser Forum follow) refuses it; pkilint takes it, so we judge
    bad_names += ("xn--ls8h.example.cn", "gw.xn--ls8h.cn")
    for bad in bad_names:
        _refused(
            w,
            f"DNS name {bad}",
            lambda bad=bad: issue(p, device, "device-tls", dns_names=[bad]),
        )
    # the same host name again, however written (upper case, a trailing dot): refused naming
    # it, not written into the certificate twice or three times
    _refused(
        w,
        "DNS name repeated",
        lambda: issue(
            p,
            device,
            "device-tls",
            dns_names=["gw.example.cn", "GW.example.cn.", "gw.example.cn"],
        ),
    )
    # more host names than one certificate carries (3000 made a 76 KB certificate)
    _refused(
        w,
        "DNS names, one more than the cap",
        lambda: issue(
            p,
            device,
            "device-tls",
            dns_names=[f"gw{n}.example.cn" for n in range(MAX_DNS_NAMES + 1)],
        ),
    )
    person = subs.person.id
    broken = bytearray(
        x509.load_pem_x509_csr(_csr(new_key())).public_bytes(serialization.Encoding.DER)
    )
    broken[-3] ^= 1
    _refused(w, "CSR with a bad signature", lambda: issue(p, person, csr=bytes(broken)))
    weak = {
        "RSA-1024": rsa.generate_private_key(65537, 1024),
        "RSA-4096": rsa.generate_private_key(65537, 4096),
        "P-192": ec.generate_private_key(ec.SECP192R1()),
        "secp256k1": ec.generate_private_key(ec.SECP256K1()),
        # CA/B Forum BR §6.1.6, FIPS 186-4 B.3.1: an odd exponent with 2^16 < e < 2^256
        "RSA-2048 exponent 3": rsa.generate_private_key(3, 2048),
        "RSA-2048 exponent 2^256+1 or more": _rsa_with_exponent_from(2**256 + 1),
    }
    for label, key in weak.items():
        _refused(w, f"{label} key", lambda key=key: issue(p, person, csr=_csr(key)))
    _refused(w, "not a CSR", lambda: issue(p, person, csr=b"-----BEGIN CERTIFICATE REQUEST-----"))


def _rolled_over(w: World, p: Platform) -> None:
    """Every role that rolls over (the issuing CA re-certified, the responders and the TSA on
    new keys), rolled once under the P-256 CA; a certificate issued after, under the new
    issuing CA certificate."""
    out = w.dir / "rolled"
    out.mkdir()
    ca = "ec-p256-rolled"
    w.cas[ca] = {"root": w.cas["ec-p256"]["root"]}
    for role in ROLLABLE:
        p.ca.rollover(role, actor="t")
    for role in ROLLABLE:
        f = out / f"ca-{role}.pem"
        f.write_bytes(p.ca.certificate(role).public_bytes(PEM))
        w.cas[ca][role] = f
        w.certs[f"{ca}/{role}"] = Issued(f, role, ca)
    subs = enrol(p, 80)
    for name, profile, sub, kw in [
        ("person", "person-signing", subs.person.id, {}),
        ("device", "device-tls", subs.device.id, {"dns_names": ["gw80.example.cn"]}),
    ]:
        f = out / f"{name}.pem"
        f.write_text(issue(p, sub, profile, **kw).pem)
        w.certs[f"{ca}/{name}"] = Issued(f, name, ca)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("certdiff")
    w = World(START + dt.timedelta(hours=1), base)
    try:
        for ca in CA_ALGORITHMS:
            (base / f"home-{ca}").mkdir()
            p = w.platforms[ca] = _platform(base / f"home-{ca}", ca)
            _issue_under(w, p, ca)
        _edge_cases(w, w.platforms["ec-p256"])
        _rolled_over(w, w.platforms["ec-p256"])
        yield w
    finally:
        for p in w.platforms.values():
            p.close()


def openssl(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def verify(w: World, c: Issued, *extra: str) -> subprocess.CompletedProcess:
    """``openssl verify -x509_strict`` of ``c`` to its CA's root, the CA certificates between
    as untrusted. OpenSSL 3.0 applies an SM2 user ID (``-vfyopt distid:``) to the certificate
    asked about only, so an SM2 certificate is verified against its issuer alone
    (``-partial_chain``), each link of the SM2 chain being one of the certificates judged."""
    files = w.cas[c.ca]
    anchor = UNDER.get(c.profile, "issuing")
    args: list[str | Path] = ["verify", "-x509_strict", "-attime", str(int(w.at.timestamp()))]
    if c.ca == "sm2":
        args += ["-vfyopt", DISTID, "-partial_chain", "-CAfile", files[anchor or "root"]]
        return openssl(*args, *extra, c.path)
    args += ["-CAfile", files["root"]]
    while anchor not in (None, "root"):
        args += ["-untrusted", files[anchor]]
        anchor = UNDER[anchor]
    return openssl(*args, *extra, c.path)


def pkilint(path: Path) -> tuple[int, str]:
    """``lint_pkix_cert lint -s WARNING`` in this process (it starts slowly)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        rc = lint_pkix_cert(["lint", "-s", "WARNING", str(path)])
    return rc, out.getvalue().strip()


def test_openssl_and_pkilint_accept_every_issued_certificate(world: World) -> None:
    failures: list[str] = []
    for name, c in world.certs.items():
        for extra in [[], *PURPOSES[c.profile]]:
            done = verify(world, c, *extra)
            if done.returncode != 0 or not done.stdout.strip().endswith(": OK"):
                failures.append(f"{name} verify {extra}: {done.stdout}{done.stderr}".strip())
        text = openssl("x509", "-noout", "-text", "-nameopt", "utf8", "-in", c.path)
        if text.returncode != 0:
            failures.append(f"{name} x509 -text: {text.stderr}")
        elif c.profile not in ("root", "issuing") and "CA:FALSE" not in text.stdout:
            failures.append(f"{name}: not CA:FALSE\n{text.stdout}")
        elif c.profile in ("root", "issuing") and "CA:TRUE" not in text.stdout:
            failures.append(f"{name}: not CA:TRUE")
        rc, found = pkilint(c.path)
        if rc != 0 or found:
            failures.append(f"{name} pkilint: {found}")
    assert not failures, "\n".join(failures)


def _cert(c: Issued) -> a_x509.Certificate:
    return a_x509.Certificate.load(
        x509.load_pem_x509_certificate(c.path.read_bytes()).public_bytes(serialization.Encoding.DER)
    )


def test_pyhanko_validates_every_path(world: World) -> None:
    """pyHanko's certvalidator, which judges our signatures, builds and validates the path of
    every ECDSA and RSA certificate (it has no SM2), names compared as ``yinxin.pdf`` has it."""
    names.install()
    failures: list[str] = []
    checked = 0
    for name, c in world.certs.items():
        if c.ca == "sm2" or c.profile == "root":
            continue
        files = world.cas[c.ca]
        context = ValidationContext(
            trust_roots=[_cert(Issued(files["root"], "root", c.ca))],
            other_certs=[_cert(Issued(files[r], r, c.ca)) for r in ("issuing",)],
            allow_fetching=False,
            moment=world.at,
            revocation_mode="soft-fail",
        )
        try:
            validator = CertificateValidator(_cert(c), validation_context=context)
            asyncio.run(validator.async_validate_path())
            checked += 1
        except Exception as e:  # noqa: BLE001 - each refusal is a finding
            failures.append(f"{name}: {type(e).__name__}: {e}")
    assert not failures, "\n".join(failures)
    assert checked > 30


def test_subjects_are_the_records_utf8_and_within_bounds(world: World) -> None:
    for name, c in world.certs.items():
        cert = _cert(c)
        for rdn in cert.subject.chosen:
            for atv in rdn:
                kind, value = atv["type"].native, atv["value"]
                if kind == "country_name":
                    assert value.name == "printable_string" and value.native == "CN", name
                elif kind in ("common_name", "organization_name"):
                    # UTF8String, at most 64 characters (RFC 5280 ub-common-name, ub-organization)
                    assert value.name == "utf8_string", (name, kind, value.name)
                    assert 0 < len(value.native) <= 64, (name, kind)
                    assert value.native == value.native.strip(), name
        if c.subject_cn is not None:
            assert cert.subject.native["common_name"] == c.subject_cn, name
        # every host name reads back through IDNA (asn1crypto decodes A-labels with it)
        if cert.subject_alt_name_value is not None:
            assert all(isinstance(n, str) for n in cert.subject_alt_name_value.native), name
        # nothing the CSR asked for reaches the certificate
        assert "evil" not in str(cert.subject.native) + str(cert["tbs_certificate"].native), name
    asked = _cert(world.certs["edge/person-csr-asks-ca"])
    assert asked.basic_constraints_value.native == {"ca": False, "path_len_constraint": None}
    assert set(asked.key_usage_value.native) == {"digital_signature", "non_repudiation"}
    assert asked.subject_alt_name_value is None and asked.extended_key_usage_value is None
    device = _cert(world.certs["edge/device-csr-asks-ca"])
    assert device.subject_alt_name_value.native == ["gw70.example.cn"]
    assert device.extended_key_usage_value.native == ["server_auth", "client_auth"]
    idn = x509.load_pem_x509_certificate(world.certs["edge/device-64-idn"].path.read_bytes())
    san = idn.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [
        "xn--fsqu00a.xn--fiqs8s",
        "xn--55qx5d.example.cn",
        "gw-01.example.cn",
    ]
    most = x509.load_pem_x509_certificate(world.certs["edge/device-most-names"].path.read_bytes())
    san = most.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [
        f"gw{n}.example.cn" for n in range(MAX_DNS_NAMES)
    ]


def test_serials_are_positive_at_most_20_octets_and_unique(world: World) -> None:
    serials = [_cert(c).serial_number for c in world.certs.values()]
    assert all(0 < n and len(n.to_bytes((n.bit_length() + 8) // 8, "big")) <= 20 for n in serials)
    assert len(set(serials)) == len(serials)
    same = [_cert(world.certs[f"edge/same-key-{n}"]) for n in ("1", "2", "other")]
    assert len({c.public_key.dump() for c in same}) == 1


def test_what_must_be_refused_is_refused_naming_the_field(world: World) -> None:
    wanted = {
        "organization name of 65": "name",
        "person name of 51": "name",
        "device name of 65": "device_name",
        "name with NUL": "name",
        "name with a control character": "name",
        "name with a line break": "name",
        "empty name": "name",
        "name with an unassigned code point": "name",
        "name with a noncharacter": "name",
        "name with the replacement character": "name",
        "device name with a noncharacter": "device_name",
        "CSR with a bad signature": "csr",
        "RSA-1024 key": "csr",
        "RSA-4096 key": "csr",
        "P-192 key": "csr",
        "secp256k1 key": "csr",
        "RSA-2048 exponent 3 key": "csr",
        "RSA-2048 exponent 2^256+1 or more key": "csr",
        "not a CSR": "csr",
    }
    wanted |= {case: "dns_names" for case in world.refusals if case.startswith("DNS name")}
    got = {case: f for case, (f, _) in world.refusals.items()}
    assert got == wanted, {c: world.refusals[c] for c in got if got[c] != wanted.get(c)}
