"""What standard tools say about what the CA issues: ``openssl verify`` accepts every certificate
against the chain, pkilint finds nothing at WARNING or above on every profile, for EC P-256 and
RSA-3072 authorities; the CA inside a SoftHSM2 token; and the ``yinxin demo`` main job."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore
from sqlalchemy import select

from tests.clock import START
from tests.conftest import PASSPHRASE
from tests.integration.server import yinxin_env
from tests.integration.signing_flow import need, pdfsig, valid_for_pyhanko_offline
from tests.integration.test_ca_lifecycle import PIN, enrol, issue, make_csr, new_key, spki
from tests.softhsm import softhsm_token_in
from yinxin.app import Platform
from yinxin.clock import FrozenClock
from yinxin.contracts.render import NO_START
from yinxin.pki.pkcs11_store import Pkcs11Key
from yinxin.registry.ca import KEY_LABELS
from yinxin.settings import Settings
from yinxin.store.models import AuthorityCertificate

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
LINT = VENV_BIN / "lint_pkix_cert"
YINXIN = VENV_BIN / "yinxin"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")

# profile -> extra `openssl verify` options that must also pass for it
PURPOSES: dict[str, list[list[str]]] = {
    "issuing": [["-purpose", "crlsign"]],
    "ocsp": [["-purpose", "ocsphelper"]],
    "tsa": [["-purpose", "timestampsign"]],
    "person": [["-purpose", "smimesign"]],
    "person-platform-key": [["-purpose", "smimesign"]],
    "organization": [["-purpose", "smimesign"]],
    "device": [
        ["-purpose", "sslserver", "-verify_hostname", "gw01.example.cn"],
        ["-purpose", "sslclient"],
    ],
}


@dataclass
class Issued:
    algorithm: str
    dir: Path
    at: dt.datetime
    files: dict[str, Path]


def write(dir_: Path, name: str, cert: x509.Certificate | str) -> Path:
    f = dir_ / f"{name}.pem"
    f.write_bytes(
        cert.encode() if isinstance(cert, str) else cert.public_bytes(serialization.Encoding.PEM)
    )
    return f


def issue_every_profile(p: Platform, out: Path, algorithm: str) -> dict[str, Path]:
    subs = enrol(p)
    files = {
        role: write(out, role, p.ca.certificate(role))
        for role in ("root", "issuing", "ocsp", "tsa")
    }
    certs = {
        "person": issue(p, subs.person.id, csr=make_csr(new_key(algorithm))),
        "person-platform-key": issue(p, subs.person.id, pin=PIN, algorithm=algorithm),
        "organization": issue(
            p,
            subs.org.id,
            "organization-signing",
            csr=make_csr(new_key(algorithm)),
            plan="premium",
        ),
        "device": issue(
            p,
            subs.device.id,
            "device-tls",
            csr=make_csr(new_key(algorithm)),
            dns_names=["gw01.example.cn", "gw01-backup.example.cn"],
        ),
    }
    p.certificates.pay(serial=certs["person"].serial)
    certs["person-renewed"] = p.certificates.renew(certs["person"].serial, actor="t").certificate
    certs["organization-rekeyed"] = p.certificates.rekey(
        certs["organization"].serial, actor="t", csr=make_csr(new_key(algorithm))
    ).certificate
    certs["device-changed"] = p.certificates.change(
        certs["device"].serial, actor="t", updates={"device_name": "门禁网关-02"}
    ).certificate
    files.update({name: write(out, name, c.pem) for name, c in certs.items()})
    return files


@pytest.fixture(scope="module", params=["ec-p256", "rsa-3072"])
def issued(request, tmp_path_factory) -> Iterator[Issued]:
    algorithm = request.param
    home = tmp_path_factory.mktemp(f"tools-{algorithm}")
    p = Platform(
        Settings(home=home, database_url=f"sqlite:///{home / 'yinxin.db'}"),
        clock=FrozenClock(START),
        passphrase=PASSPHRASE,
    )
    try:
        p.ca.init(algorithm)
        out = home / "pem"
        out.mkdir()
        yield Issued(
            algorithm, out, START + dt.timedelta(hours=1), issue_every_profile(p, out, algorithm)
        )
    finally:
        p.close()


def openssl_verify(
    chain: Issued, cert: Path, *extra: str, untrusted: bool = True, ca: Path | None = None
) -> subprocess.CompletedProcess:
    cmd = [
        "openssl",
        "verify",
        "-x509_strict",
        "-attime",
        str(int(chain.at.timestamp())),
        "-CAfile",
        str(ca or chain.files["root"]),
    ]
    if untrusted:
        cmd += ["-untrusted", str(chain.files["issuing"])]
    return subprocess.run([*cmd, *extra, str(cert)], capture_output=True, text=True, timeout=60)


def lint(cert: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT), "lint", "-s", "WARNING", str(cert)], capture_output=True, text=True, timeout=120
    )


PROFILES = [
    "root",
    "issuing",
    "ocsp",
    "tsa",
    "person",
    "person-platform-key",
    "organization",
    "device",
    "person-renewed",
    "organization-rekeyed",
    "device-changed",
]


@pytest.mark.parametrize("name", PROFILES)
def test_openssl_verifies_against_the_chain(issued: Issued, name: str) -> None:
    f = issued.files[name]
    done = openssl_verify(issued, f)
    assert done.returncode == 0 and done.stdout.strip().endswith(": OK"), done.stdout + done.stderr
    for extra in PURPOSES.get(name, []):
        done = openssl_verify(issued, f, *extra)
        assert done.returncode == 0, (extra, done.stdout + done.stderr)
    cert = x509.load_pem_x509_certificate(f.read_bytes())
    expected_sig = "ecdsa" if issued.algorithm.startswith("ec") else "rsa"
    assert expected_sig in cert.signature_algorithm_oid._name.lower()


@pytest.mark.parametrize("name", PROFILES)
def test_pkilint_finds_nothing(issued: Issued, name: str) -> None:
    done = lint(issued.files[name])
    assert done.returncode == 0 and done.stdout.strip() == "", done.stdout + done.stderr


def test_the_tools_do_refuse_bad_certificates(issued: Issued, tmp_path: Path) -> None:
    """Controls: the same invocations fail on what they should fail on."""
    leaf = issued.files["person"]
    # without the issuing CA the chain cannot be built
    assert openssl_verify(issued, leaf, untrusted=False).returncode != 0
    # a flipped bit in the signature
    der = bytearray(
        x509.load_pem_x509_certificate(leaf.read_bytes()).public_bytes(serialization.Encoding.DER)
    )
    der[-5] ^= 0x01
    broken = tmp_path / "broken.pem"
    broken.write_bytes(
        x509.load_der_x509_certificate(bytes(der)).public_bytes(serialization.Encoding.PEM)
    )
    assert openssl_verify(issued, broken).returncode != 0
    # a server certificate for another host name; the TSA certificate used as a TLS server
    assert (
        openssl_verify(
            issued, issued.files["device"], "-verify_hostname", "other.example.cn"
        ).returncode
        != 0
    )
    assert openssl_verify(issued, issued.files["tsa"], "-purpose", "sslserver").returncode != 0
    # after the end of validity
    late = Issued(issued.algorithm, issued.dir, START + dt.timedelta(days=800), issued.files)
    assert openssl_verify(late, leaf).returncode != 0
    # pkilint complains about a bare self-signed certificate with no key usage
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bare")])
    bare = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(START)
        .not_valid_after(START + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    done = lint(write(tmp_path, "bare", bare))
    assert done.returncode != 0 and done.stdout.strip()


def test_device_certificate_carries_its_dns_names(issued: Issued) -> None:
    for name in ("device", "device-changed"):
        cert = x509.load_pem_x509_certificate(issued.files[name].read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == [
            "gw01.example.cn",
            "gw01-backup.example.cn",
        ]


# --- PKCS#11 -------------------------------------------------------------------------------------
def _delete_token_key(token, label: str) -> None:  # noqa: ANN001
    """Both halves of the key ``label`` taken out of the token, as another tool would."""
    for kind in ("privkey", "pubkey"):
        subprocess.run(
            ["pkcs11-tool", "--module", token.module, "--token-label", token.token_label]
            + ["--login", "--pin", token.pin, "--delete-object", "--type", kind]
            + ["--label", label],
            check=True,
            capture_output=True,
        )


def _hsm_settings(home: Path, token) -> Settings:
    return Settings(
        home=home,
        database_url=f"sqlite:///{home / 'yinxin.db'}",
        keystore="pkcs11",
        pkcs11_module=token.module,
        pkcs11_token=token.token_label,
        pkcs11_pin=token.pin,
    )


def test_a_ca_key_of_rsa_exponent_3_in_the_token_is_not_used(tmp_path: Path) -> None:
    """A CSR's RSA key of e = 3 is refused; the CA's own key in an HSM was not checked. ``ca
    init`` generates its keys (e = 65537) and takes none it finds (refused, naming them), so
    the way in is a key replaced in the token under the CA's label by another tool: the CA
    then refuses to sign with it, naming the key store, and issues nothing. So it does with a
    key of e = 65537 swapped in: it is not the key the CA certificate certifies, and what it
    signed no relying party could verify (it was signed with, unremarked)."""
    from tests.integration.test_pkcs11 import write_rsa_key
    from yinxin.errors import ConfigurationError, Conflict

    home = tmp_path / "home"
    with softhsm_token_in(tmp_path / "hsm", label="yinxin-ca") as token:
        # a key written before init under a label init would use: refused, not adopted
        write_rsa_key(token, "root-ca", tmp_path)
        p = Platform(_hsm_settings(tmp_path / "first", token), clock=FrozenClock(START))
        try:
            with pytest.raises(Conflict) as taken:
                p.ca.init("rsa-3072")
            assert taken.value.field == "keystore" and "'root-ca'" in taken.value.message
        finally:
            p.close()
        subprocess.run(
            ["pkcs11-tool", "--module", token.module, "--token-label", token.token_label]
            + ["--login", "--pin", token.pin, "--delete-object", "--type", "privkey"]
            + ["--label", "root-ca"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["pkcs11-tool", "--module", token.module, "--token-label", token.token_label]
            + ["--login", "--pin", token.pin, "--delete-object", "--type", "pubkey"]
            + ["--label", "root-ca"],
            check=True,
            capture_output=True,
        )
        p = Platform(_hsm_settings(home, token), clock=FrozenClock(START))
        try:
            p.ca.init("rsa-3072")
            issuing = p.ca.key("issuing").public_key()
            assert issuing.public_numbers().e == 65537  # type: ignore[union-attr]
            subs = enrol(p)
        finally:
            p.close()
        # the issuing CA's key replaced in the token by one of e = 3, under the same label
        _delete_token_key(token, KEY_LABELS["issuing"])
        write_rsa_key(token, KEY_LABELS["issuing"], tmp_path)
        p = Platform(_hsm_settings(home, token), clock=FrozenClock(START))
        try:
            count = p.certificates.count()
            with pytest.raises(ConfigurationError) as weak:
                issue(p, subs.person.id, csr=make_csr())
            assert weak.value.field == "keystore"
            assert "public exponent is 3" in weak.value.message
            assert f"'{KEY_LABELS['issuing']}'" in weak.value.message
            assert p.certificates.count() == count
        finally:
            p.close()
        # a key of e = 65537 made outside in its place: not the one the certificate certifies
        _delete_token_key(token, KEY_LABELS["issuing"])
        write_rsa_key(token, KEY_LABELS["issuing"], tmp_path, exponent=65537)
        p = Platform(_hsm_settings(home, token), clock=FrozenClock(START))
        try:
            with pytest.raises(ConfigurationError) as swapped:
                issue(p, subs.person.id, csr=make_csr())
            assert swapped.value.field == "keystore"
            assert "not the one the issuing certificate" in swapped.value.message
            assert p.certificates.count() == count
        finally:
            p.close()


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-3072"])
def test_ca_inside_a_softhsm_token(tmp_path: Path, algorithm: str) -> None:
    home = tmp_path / "home"
    with softhsm_token_in(tmp_path / "hsm", label="yinxin-ca") as token:
        settings = _hsm_settings(home, token)
        p = Platform(settings, clock=FrozenClock(START))  # no passphrase: none is needed
        try:
            info = p.ca.init(algorithm)
            assert info.keystore == "pkcs11"
            assert not (home / "keys").exists() or not any((home / "keys").iterdir())
            with p.db.read() as s:
                rows = s.execute(select(AuthorityCertificate)).scalars().all()
            assert {r.keystore for r in rows} == {"pkcs11"}
            for role, label in KEY_LABELS.items():
                key = p.ca.key(role)
                assert isinstance(key, Pkcs11Key) and key.native is None
                assert key.algorithm.name == algorithm
                private = key.private_object()
                assert private[Attribute.EXTRACTABLE] is False
                assert private[Attribute.SENSITIVE] is True
                assert private[Attribute.NEVER_EXTRACTABLE] is True
                assert private[Attribute.LABEL] == label
                assert spki(key.public_key()) == spki(p.ca.certificate(role).public_key())

            subs = enrol(p)
            person = issue(p, subs.person.id, csr=make_csr())
            platform_key = issue(p, subs.person.id, pin=PIN)
            out = tmp_path / "pem"
            out.mkdir()
            chain = Issued(
                algorithm,
                out,
                START + dt.timedelta(hours=1),
                {
                    "root": write(out, "root", p.ca.certificate("root")),
                    "issuing": write(out, "issuing", p.ca.certificate("issuing")),
                    "person": write(out, "person", person.pem),
                    "platform": write(out, "platform", platform_key.pem),
                    "tsa": write(out, "tsa", p.ca.certificate("tsa")),
                },
            )
            for name, f in chain.files.items():
                done = openssl_verify(chain, f)
                assert done.returncode == 0, (name, done.stdout + done.stderr)
                done = lint(f)
                assert done.returncode == 0 and not done.stdout.strip(), (name, done.stdout)
            assert p.verify_audit().ok
        finally:
            p.close()


# --- the demo ------------------------------------------------------------------------------------
def _run(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(YINXIN), *args],
        env=yinxin_env(home),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=home.parent,
        stdin=subprocess.DEVNULL,
    )


def _check_demo_contract(out: Path) -> None:
    """The contract the demo signs is the platform's 技术服务合同 template typeset by the
    contract renderer (not a canned file: one of those began a line with "，"), filled in for
    the demo's parties; the signed file is that contract plus two incremental signatures.
    Poppler's pdfsig checks their integrity and pyHanko's validator, offline and refusing any
    signature whose revocation data is missing, their trust against the root the demo
    published (pdfsig's own trust check wants the demo's OCSP address, where no server runs
    here, and with ``-no-ocsp`` NSS gives up on the chain)."""
    need("pdfsig", "certutil", "pdftotext")
    contract = (out / "contract.pdf").read_bytes()
    signed = (out / "contract-signed.pdf").read_bytes()
    assert signed.startswith(contract) and len(signed) > len(contract)
    text = subprocess.run(
        ["pdftotext", str(out / "contract.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    for words in (
        "技术服务合同",
        "委托方（甲方）：北京印信示范科技有限公司",
        "服务方（乙方）：张三",
    ):
        assert words in text.replace(" ", ""), words
    assert "依据《中华人民共和国民法典》" in text and "合同编号 DEMO-" in text
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert not [line for line in lines if line[0] in NO_START]  # 避头尾
    blocks = pdfsig(out / "contract-signed.pdf")
    assert len(blocks) == 2 and all("Signature is Valid." in b for b in blocks), blocks
    root = a_x509.Certificate.load(
        x509.load_pem_x509_certificate((out.parent / "ca" / "root.pem").read_bytes()).public_bytes(
            serialization.Encoding.DER
        )
    )
    reader = PdfFileReader(io.BytesIO(signed))
    dss = DocumentSecurityStore.read_dss(reader)
    for emb in reader.embedded_signatures:
        valid_for_pyhanko_offline(emb, dss, root)
    report = json.loads((out / "verification-report.json").read_text("utf-8"))
    assert report["valid"] is True


def test_the_demos_data_directory_is_private_whatever_the_umask(tmp_path: Path) -> None:
    """`make demo` without YINXIN_CA_PASSPHRASE: the demo made the data directory itself to keep
    its passphrase there, with the umask's mode (0755 under 022), and the signed-document store
    made ``documents/`` the same way (only its leaf folders 0700), so the contracts and the
    directory listing were open to every local user; operator-guide.md says the directory and
    its folders are created 0700 whatever the umask."""
    home = tmp_path / "demo-home"
    done = subprocess.run(
        [str(YINXIN), "demo", "--home", str(home)],
        env=yinxin_env(home, passphrase=None),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        umask=0o022,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    folders = [home, *(d for d in home.rglob("*") if d.is_dir())]
    assert {str(d.relative_to(tmp_path)): oct(d.stat().st_mode & 0o777) for d in folders} == {
        str(d.relative_to(tmp_path)): oct(0o700) for d in folders
    }


def test_demo_runs_twice_and_leaves_a_revoked_certificate(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    first = _run(home, "demo", "--home", str(home))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Demo finished" in first.stdout
    _check_demo_contract(home / "demo")
    listed = _run(home, "cert", "list", "--json", "--home", str(home))
    assert listed.returncode == 0, listed.stderr
    certs = json.loads(listed.stdout)["items"]
    assert len(certs) == 3
    assert [c["status"] for c in certs].count("revoked") == 1
    assert {c["profile"] for c in certs} == {"person-signing", "organization-signing", "device-tls"}
    first_org = next(c["serial"] for c in certs if c["profile"] == "organization-signing")

    second = _run(home, "demo", "--home", str(home))  # idempotent: safe to run again
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already initialised" in second.stdout
    certs = json.loads(_run(home, "cert", "list", "--json", "--home", str(home)).stdout)["items"]
    assert len(certs) == 6
    revoked = [c for c in certs if c["status"] == "revoked"]
    assert len(revoked) == 2
    assert all(c["revocation_reason"] == "no_longer_needed" and c["revoked_at"] for c in revoked)
    # the certificate the organization's seals are bound to, revoked at the desk: the next run
    # failed with "seal … cannot be used: its certificate … is revoked"; it binds the seals it
    # reuses to the certificate it has just issued
    gone = _run(home, "cert", "revoke", first_org, "--reason", "superseded", "--home", str(home))
    assert gone.returncode == 0, gone.stderr
    with_json = _run(home, "demo", "--json", "--home", str(home))
    assert with_json.returncode == 0, with_json.stdout + with_json.stderr
    result = json.loads(with_json.stdout)
    assert result["audit"]["ok"] is True and result["revoked"]
    assert result["verification_valid"] is True

    audit = _run(home, "audit", "verify", "--home", str(home))
    assert audit.returncode == 0, audit.stdout + audit.stderr
    orgs = json.loads(
        _run(
            home, "subscriber", "list", "--kind", "organization", "--json", "--home", str(home)
        ).stdout
    )["items"]
    assert len(orgs) == 1  # the organization is registered once, reused on later runs

    # what the demo wrote verifies with openssl against the CA it published
    ca = home / "ca"
    now = dt.datetime.now(dt.UTC)
    chain = Issued(
        "ec-p256", home / "demo", now, {"root": ca / "root.pem", "issuing": ca / "issuing.pem"}
    )
    pems = sorted((home / "demo").glob("*.pem"))
    assert len(pems) == 9
    for f in pems:
        done = openssl_verify(chain, f)
        assert done.returncode == 0, (f.name, done.stdout + done.stderr)
