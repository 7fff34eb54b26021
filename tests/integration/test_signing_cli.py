"""``yinxin sign code|pdf|local`` and ``yinxin verify`` as a person at a terminal runs them:
the installed ``.venv/bin/yinxin`` in a subprocess, with ``YINXIN_HOME`` and
``YINXIN_CA_PASSPHRASE``, on a home built through the services (CA, an organization with a
contract seal granted to 王五, 张三 with a personal seal). One-time codes are read from the file
gateway's outbox, as the demo does. The real ``yinxin serve`` runs on the port the certificates
name: it is the TSA for ``sign local`` and the OCSP responder pdfsig asks.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from tests.codes import wrong_code
from tests.conftest import PASSPHRASE
from tests.fixtures.samples import contract_pdf, seal_png
from tests.integration.server import ROOT, free_port, running_server, yinxin_env
from tests.integration.signing_flow import (
    OFFICER,
    World,
    build_world,
    flip_signed_byte,
    need,
    need_quiet,
    new_platform,
    nss_trusting,
    outbox_lines,
    pdfsig,
    read_code,
)
from yinxin.app import Platform
from yinxin.store.models.notify import Notification

YINXIN = ROOT / ".venv" / "bin" / "yinxin"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def yinxin(
    home: Path,
    *args: str,
    passphrase: str | None = PASSPHRASE,
    base_url: str = "",
    timeout: float = 120,
    input: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the CLI; ``input`` is fed on standard input (secrets, one a line), else none."""
    cmd = [str(YINXIN)] if YINXIN.exists() else [sys.executable, "-m", "yinxin.adapters.cli"]
    extra = {"YINXIN_BASE_URL": base_url} if base_url else {}
    full_env = yinxin_env(home, passphrase, {**extra, **(env or {})})
    stdin = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
    return subprocess.run(
        [*cmd, *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(home),
        **stdin,
    )


def ok_json(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout)


@dataclass
class Home:
    path: Path
    w: World
    base_url: str
    contract: Path

    @property
    def p(self) -> Platform:
        return self.w.p

    def run(self, *args: str, **kw) -> subprocess.CompletedProcess[str]:
        return yinxin(self.path, *args, base_url=self.base_url, **kw)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Home:
    path = tmp_path_factory.mktemp("cli-home")
    base_url = f"http://127.0.0.1:{free_port()}"
    # the platform on the system clock, as the CLI processes see it
    p = new_platform(path, base_url=base_url)
    w = build_world(p)
    contract = path / "contract.pdf"
    contract.write_bytes(contract_pdf(2, title="技术服务合同"))
    yield Home(path, w, base_url, contract)
    p.close()


@pytest.fixture(scope="module")
def server(home):
    port = int(home.base_url.rsplit(":", 1)[1])
    with running_server(home.path, port=port, env={"YINXIN_BASE_URL": home.base_url}) as srv:
        yield srv


# --- platform signing: sign code → outbox → sign pdf → verify -----------------------------------
@dataclass
class Signed:
    jia_code: dict
    jia_sign: dict
    jia_pdf: Path
    wrong: subprocess.CompletedProcess[str]
    yi_pdf: Path
    yi_sign: dict
    records_after_wrong: int
    file_after_wrong: bool


@pytest.fixture(scope="module")
def signed(home) -> Signed:
    w = home.w
    # 甲方: 王五 for the organization, with its contract seal
    before = outbox_lines(w.outbox)
    jia_code = ok_json(
        home.run("sign", "code", "--in", str(home.contract), "--signer", str(w.jia.id), "--json")
    )
    code = read_code(w.outbox, w.jia.phone, after=before)
    jia_pdf = home.path / "contract-jia.pdf"
    # PIN and code on standard input, one a line: nothing secret on the command line (ps)
    jia_args = [
        "sign",
        "pdf",
        "--in",
        str(home.contract),
        "--out",
        str(jia_pdf),
        "--seal",
        w.jia.seal.es_id,
        "--signer",
        str(w.jia.id),
        "--challenge",
        jia_code["challenge_id"],
        "--anchor",
        "甲方（签章）",
        "--role",
        "甲方",
        "--json",
    ]
    assert code not in jia_args and w.jia.pin not in jia_args
    jia_sign = ok_json(home.run(*jia_args, input=f"{w.jia.pin}\n{code}\n"))
    # 乙方: 张三, personal seal; first a mistyped code, then the right one, locking the file
    before = outbox_lines(w.outbox)
    yi_code = ok_json(
        home.run("sign", "code", "--in", str(jia_pdf), "--signer", str(w.yi.id), "--json")
    )
    code = read_code(w.outbox, w.yi.phone, after=before)
    yi_pdf = home.path / "contract-signed.pdf"
    args = [
        "sign",
        "pdf",
        "--in",
        str(jia_pdf),
        "--out",
        str(yi_pdf),
        "--seal",
        w.yi.seal.es_id,
        "--signer",
        str(w.yi.id),
        "--challenge",
        yi_code["challenge_id"],
        "--anchor",
        "乙方（签章）",
        "--role",
        "乙方",
        "--lock",
        "--json",
    ]
    # the old options still work (for old scripts), with a warning that ps shows them
    wrong = home.run(*args, "--pin", w.yi.pin, "--code", f"{(int(code) + 1) % 10**6:06d}")
    assert "discouraged" in wrong.stderr
    records_after_wrong = len(home.p.signing.records())
    file_after_wrong = yi_pdf.exists() or yi_pdf.with_name(yi_pdf.name + ".part").exists()
    # the environment, as a script would set it
    yi_sign = ok_json(home.run(*args, env={"YINXIN_SEAL_PIN": w.yi.pin, "YINXIN_CODE": code}))
    return Signed(
        jia_code, jia_sign, jia_pdf, wrong, yi_pdf, yi_sign, records_after_wrong, file_after_wrong
    )


def test_sign_code_sends_the_code_to_the_registered_phone(home, signed):
    ch = signed.jia_code
    assert set(ch) >= {"challenge_id", "expires_at", "sent_to_masked"}
    assert ch["sent_to_masked"] == "137****7000"
    assert ch["document_sha256"] == sha(home.contract.read_bytes())
    with home.p.db.read() as s:
        bodies = [
            n.body
            for n in s.execute(
                select(Notification).where(Notification.template_id == "one_time_code")
            ).scalars()
        ]
    assert bodies and all("******" in b for b in bodies)  # the send log keeps no code


def test_sign_pdf_writes_the_signed_file(home, signed):
    w = home.w
    rec = signed.jia_sign
    data = signed.jia_pdf.read_bytes()
    assert rec["out"] == str(signed.jia_pdf)
    assert rec["sha256_before"] == sha(home.contract.read_bytes())
    assert rec["sha256_after"] == sha(data)
    assert rec["es_id"] == w.jia.seal.es_id and rec["role"] == "甲方"
    assert rec["level"] == "B-LT" and rec["lock"] is False
    assert rec["signer_subscriber_id"] == w.jia.id
    assert data.startswith(home.contract.read_bytes())
    assert not list(home.path.glob("*.part"))
    assert signed.yi_sign["lock"] is True
    assert [r.sha256_after for r in home.p.signing.records()] == [
        sha(data),
        sha(signed.yi_pdf.read_bytes()),
    ]


def test_a_wrong_code_is_refused_and_writes_nothing(home, signed):
    proc = signed.wrong
    assert proc.returncode == 5, proc.stdout + proc.stderr
    err = json.loads(proc.stdout)
    assert err["error"] == "wrong_code" and err["field"] == "code"
    assert signed.file_after_wrong is False  # no output file, not even a partial one
    assert signed.records_after_wrong == 1  # only 甲方's signature so far
    # the same challenge then took the right code
    assert signed.yi_pdf.exists() and not list(home.path.glob("*.part"))


def test_a_wrong_code_leaves_no_output_file(home, signed, tmp_path):
    """Checked on its own output path: the refused run creates nothing at all."""
    w = home.w
    out = tmp_path / "never.pdf"
    before = outbox_lines(w.outbox)
    org = home.w.org  # the organization itself signs with its seal (no member involved)
    ch = ok_json(
        home.run("sign", "code", "--in", str(home.contract), "--signer", str(org.id), "--json")
    )
    code = read_code(w.outbox, "13900139000", after=before)
    base = [
        "sign",
        "pdf",
        "--in",
        str(home.contract),
        "--out",
        str(out),
        "--seal",
        w.jia.seal.es_id,
        "--signer",
        str(org.id),
        "--challenge",
        ch["challenge_id"],
        "--anchor",
        "甲方（签章）",
        "--json",
    ]
    proc = home.run(*base, "--code", wrong_code(code), "--pin", w.jia.pin)
    assert proc.returncode == 5 and json.loads(proc.stdout)["field"] == "code"
    assert not out.exists() and not list(tmp_path.iterdir())
    # a wrong seal PIN: exit 5, the PIN named as the culprit, no file either
    proc = home.run(*base, "--code", code, "--pin", "000000")
    assert proc.returncode == 5, proc.stdout + proc.stderr
    err = json.loads(proc.stdout)
    assert err["error"] == "wrong_pin" and err["field"] == "pin" and "000000" not in proc.stdout
    assert not out.exists() and not list(tmp_path.iterdir())


def test_a_wrong_code_with_a_bad_placement_uses_no_try(home, signed, tmp_path):
    """``sign pdf`` with a wrong code and an ``--anchor`` the PDF does not hold, a ``--page``
    it has not, or a position where the seal runs off the page, used one of the code's five
    tries (exit 5, ``wrong_code``) though the PDF engine would refuse the placement anyway.
    The placement is checked before the code now: exit 2 naming the option typed (``anchor``,
    ``page``, ``x``; as with a right code), the try counter as it was. A wrong code with a
    good request still uses a try."""

    from yinxin.store.models.notify import IntentChallenge

    w = home.w
    out = tmp_path / "never.pdf"
    org = home.w.org
    codes_waited_out(w, org.id)
    before = outbox_lines(w.outbox)
    ch = ok_json(
        home.run("sign", "code", "--in", str(home.contract), "--signer", str(org.id), "--json")
    )["challenge_id"]
    code = read_code(w.outbox, "13900139000", after=before)
    wrong = wrong_code(code)

    def tries() -> int:
        with w.p.db.read() as s:
            return s.get(IntentChallenge, ch).failed_attempts

    base = ["sign", "pdf", "--in", str(home.contract), "--out", str(out)]
    base += ["--seal", w.jia.seal.es_id, "--signer", str(org.id), "--challenge", ch, "--json"]
    env = {"YINXIN_SEAL_PIN": w.jia.pin, "YINXIN_CODE": wrong}
    for placement, error, option in (
        (["--anchor", "丙方（签章）"], "anchor_not_found", "anchor"),
        (["--page", "9", "--x", "20", "--y", "20"], "page_out_of_range", "page"),
        # a page it has, the seal (40 mm wide) running off its right edge at x 200 mm
        (["--page", "1", "--x", "200", "--y", "20"], "outside_page", "x"),
    ):
        proc = home.run(*base, *placement, env=env)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        got = json.loads(proc.stdout)
        assert (got["error"], got["field"]) == (error, option), got
        assert tries() == 0, placement
    assert not out.exists()
    proc = home.run(*base, "--anchor", "甲方（签章）", env=env)
    assert proc.returncode == 5 and json.loads(proc.stdout)["error"] == "wrong_code"
    assert tries() == 1 and not out.exists()


def test_verify_the_signed_files(home, signed, tmp_path):
    need("pdfinfo", "pdftotext")
    for pdf, roles in ((signed.jia_pdf, ["甲方"]), (signed.yi_pdf, ["甲方", "乙方"])):
        report = tmp_path / f"{pdf.stem}-report.pdf"
        rep = ok_json(home.run("verify", str(pdf), "--json", "--report", str(report)))
        assert rep["valid"] is True and rep["sha256"] == sha(pdf.read_bytes())
        assert [s["role"] for s in rep["signatures"]] == roles
        for s in rep["signatures"]:
            assert s["valid"] and s["intact"] and s["trusted"] and s["level"] == "B-LT"
            assert s["timestamp_time"] and s["timestamp_valid"] is True
        info = subprocess.run(
            ["pdfinfo", str(report)], capture_output=True, text=True, check=True
        ).stdout
        assert any(line.split() == ["Pages:", "1"] for line in info.splitlines()), info
        text = subprocess.run(
            ["pdftotext", str(report), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert "电子签名验证报告" in text
    # a relying party needs no CA passphrase to verify
    plain = home.run("verify", str(signed.yi_pdf), passphrase=None)
    assert plain.returncode == 0, plain.stdout + plain.stderr


def test_a_relying_party_elsewhere_verifies_with_its_own_trust_anchor(home, signed, tmp_path):
    """No platform data directory on the relying party's machine: --trust ROOT.pem is enough,
    and without any anchor the refusal names the field."""
    elsewhere = tmp_path / "relying-party"
    elsewhere.mkdir()
    root = elsewhere / "root.pem"
    root.write_bytes(home.p.ca.certificate("root").public_bytes(serialization.Encoding.PEM))
    ok = yinxin(
        elsewhere, "verify", str(signed.yi_pdf), "--trust", str(root), "--json", passphrase=None
    )
    assert ok_json(ok)["valid"] is True
    none = yinxin(elsewhere, "verify", str(signed.yi_pdf), "--json", passphrase=None)
    assert none.returncode == 2 and json.loads(none.stdout)["field"] == "trust"
    stranger = yinxin(
        tmp_path,
        "verify",
        str(signed.yi_pdf),
        "--trust",
        str(make_foreign_root(tmp_path)),
        "--json",
        passphrase=None,
    )
    assert stranger.returncode == 1 and json.loads(stranger.stdout)["valid"] is False


def codes_waited_out(w, subscriber_id: int) -> None:
    """Move a subscriber's code requests two minutes back, as if the test had waited out the
    one-code-a-minute limit."""
    import datetime as dt

    from sqlalchemy import select

    from yinxin.store.models.notify import IntentChallenge

    with w.p.db.transaction() as s:
        q = select(IntentChallenge).where(IntentChallenge.subscriber_id == subscriber_id)
        for earlier in s.execute(q).scalars():
            earlier.created_at -= dt.timedelta(minutes=2)


def foreign_root(common_name: str = "Some other root"):  # noqa: ANN201
    """A self-signed CA certificate of another platform (cryptography's): a root our
    signers' certificates are not from."""
    from tests.certs import self_signed

    return self_signed(common_name, ca=True)[1]


def make_foreign_root(directory: Path) -> Path:
    path = directory / "foreign-root.pem"
    path.write_bytes(foreign_root().public_bytes(serialization.Encoding.PEM))
    return path


def test_pdfsig_trusts_the_cli_output(home, signed, server, tmp_path):
    need("pdfsig", "certutil")
    nss = nss_trusting(tmp_path / "nss", home.p.ca.certificate("root"))
    blocks = pdfsig(signed.yi_pdf, nss)
    assert len(blocks) == 2
    assert all("Signature is Valid." in b and "Certificate is Trusted." in b for b in blocks), (
        blocks
    )


def test_verify_exits_non_zero_when_not_all_valid(home, signed, tmp_path):
    broken, _ = flip_signed_byte(signed.yi_pdf.read_bytes())
    bad = tmp_path / "tampered.pdf"
    bad.write_bytes(broken)
    proc = home.run("verify", str(bad), "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["valid"] is False and [s["intact"] for s in rep["signatures"]] == [False, False]
    text = home.run("verify", str(bad))
    assert text.returncode == 1 and "INVALID" in text.stdout
    # unsigned: nothing to trust
    proc = home.run("verify", str(home.contract), "--json")
    assert proc.returncode == 1 and json.loads(proc.stdout)["valid"] is False
    # not a PDF, and no file at all: invalid input (exit 2) naming the field
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"hello, this is not a PDF")
    proc = home.run("verify", str(junk), "--json")
    assert proc.returncode == 2 and json.loads(proc.stdout)["field"] == "pdf"
    # nor an OFD (a relying party may have been handed one): not called "not a PDF"
    junk_ofd = tmp_path / "合同.ofd"
    junk_ofd.write_bytes(b"<html>502 Bad Gateway</html>")
    proc = home.run("verify", str(junk_ofd))
    assert proc.returncode == 2 and "neither a PDF nor an OFD" in proc.stderr, proc.stderr
    proc = home.run("verify", str(tmp_path / "missing.pdf"), "--json")
    assert proc.returncode == 2 and json.loads(proc.stdout)["field"] == "in"


def test_verify_of_several_files_calls_a_file_neither_pdf_nor_ofd_what_it_is(home, tmp_path):
    """``yinxin verify a.pdf b.ofd …`` said "不是 PDF 文件 / not a PDF file" of a file that is
    neither (an error page saved as .ofd) where ``yinxin verify b.ofd`` alone says "neither a
    PDF nor an OFD" — in process and with worker processes alike. Each says the latter now;
    a PDF cut short still gets the PAdES verifier's word for it."""
    junk = tmp_path / "合同.ofd"
    junk.write_bytes(b"<html>502 Bad Gateway</html>")
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(home.contract.read_bytes()[:200])
    alone = home.run("verify", str(cut), "--json")
    for jobs in ("1", "2"):
        args = ("verify", str(home.contract), str(junk), str(cut), "--jobs", jobs)
        proc = home.run(*args)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = proc.stdout.splitlines()
        assert "neither a PDF nor an OFD" in lines[1], (jobs, lines)
        assert "not a PDF file" not in proc.stdout, (jobs, proc.stdout)
        reports = json.loads(home.run(*args, "--json").stdout)
        assert reports[1]["field"] == "pdf", (jobs, reports)
        assert "neither a PDF nor an OFD" in reports[1]["message"], (jobs, reports)
        assert reports[2]["message"] == json.loads(alone.stdout)["message"], (jobs, reports)


# --- local signing with the subscriber's own key ------------------------------------------------
@dataclass
class LocalKit:
    key: Path
    cert: Path
    chain: list[Path]
    seal: Path


def local_kit(home: Home, directory: Path) -> LocalKit:
    """What a subscriber holding their own key has: key (never sent), certificate from a CSR,
    the CA chain, a seal image."""
    p = home.p
    sub = p.subscribers.add_person(name="赵六", id_number="11010519920815234X", phone="13900139002")
    p.subscribers.accept_agreement(sub.id, accepted_by="赵六")
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "赵六")]))
        .sign(key, hashes.SHA256())
    )
    app = p.certificates.apply(
        subscriber_id=sub.id,
        profile="person-signing",
        csr=csr.public_bytes(serialization.Encoding.PEM),
        actor="赵六",
    )
    p.certificates.pay(application_id=app.id, years=1, reference=f"T-{app.id}")
    cert = p.certificates.approve(app.id, officer=OFFICER)
    directory.mkdir(parents=True, exist_ok=True)
    kit = LocalKit(
        directory / "key.pem",
        directory / "cert.pem",
        [directory / "issuing.pem", directory / "root.pem"],
        directory / "seal.png",
    )
    kit.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    kit.cert.write_text(cert.pem)
    for path, role in zip(kit.chain, ("issuing", "root"), strict=True):
        path.write_bytes(p.ca.certificate(role).public_bytes(serialization.Encoding.PEM))
    kit.seal.write_bytes(seal_png("赵六"))
    return kit


def _prepared_and_certified(contract: bytes, kit: LocalKit) -> bytes:
    """The contract as Acrobat or WPS prepares it: empty fields 甲方签章 and 乙方签章 on its
    last page, then certified (DocMDP P=2: form filling and signing permitted) by pyHanko
    with ``kit``'s key, a certificate of this platform's CA."""
    from tests.integration.pdf_inputs_corpus import prepared_and_certified

    def pem(path: Path) -> x509.Certificate:
        return x509.load_pem_x509_certificate(path.read_bytes())

    key = serialization.load_pem_private_key(kit.key.read_bytes(), None)
    return prepared_and_certified(contract, key, pem(kit.cert), [pem(c) for c in kit.chain], page=1)


def test_a_certified_contract_is_sealed_into_its_prepared_fields(home, tmp_path):
    """A contract certified with P=2 and prepared with 甲方签章 and 乙方签章 was refused
    (`certified`) at `sign code` already: every seal made a new field, which breaks such a
    certification. `sign fields` lists the empty fields; `sign pdf --field` seals into one
    (a placement beside it refused naming the option, before the code is used); after both
    parties the certification holds (verify: valid; pdfsig: every signature valid)."""
    # a platform of its own: the module's signers may have been sent a code < 60 s ago
    base_url = f"http://127.0.0.1:{free_port()}"
    p = new_platform(tmp_path / "home", base_url=base_url)
    try:
        _sealed_into_prepared_fields(
            Home(tmp_path / "home", build_world(p), base_url, home.contract), tmp_path
        )
    finally:
        p.close()


def _sealed_into_prepared_fields(home: Home, tmp_path: Path) -> None:
    w = home.w
    kit = local_kit(home, tmp_path / "kit")
    pdf = tmp_path / "certified.pdf"
    pdf.write_bytes(_prepared_and_certified(home.contract.read_bytes(), kit))
    listed = ok_json(home.run("sign", "fields", "--in", str(pdf), "--json"))
    assert [(f["name"], f["page"]) for f in listed] == [("甲方签章", 2), ("乙方签章", 2)]
    # `sign batch`: without --field refused (certified), the fields named; a placement beside
    # --field refused naming it; no code sent either way
    batch = ["sign", "batch", str(pdf), "--seal", w.jia.seal.es_id, "--signer", str(w.jia.id)]
    before = outbox_lines(w.outbox)
    plain = home.run(*batch, "--anchor", "甲方（签章）", "--json")
    assert plain.returncode == 2, plain.stdout + plain.stderr
    assert json.loads(plain.stdout)["error"] == "certified"
    assert "'甲方签章', '乙方签章'" in json.loads(plain.stdout)["message"]
    both = home.run(*batch, "--field", "甲方签章", "--page", "1", "--x", "1", "--y", "1", "--json")
    assert both.returncode == 2 and json.loads(both.stdout)["field"] == "page", both.stdout
    assert outbox_lines(w.outbox) == before
    current = pdf
    for party, field in ((w.jia, "甲方签章"), (w.yi, "乙方签章")):
        before = outbox_lines(w.outbox)
        challenge = ok_json(
            home.run("sign", "code", "--in", str(current), "--signer", str(party.id), "--json")
        )
        code = read_code(w.outbox, party.phone, after=before)
        out = tmp_path / f"{field}.pdf"
        args = [
            "sign", "pdf", "--in", str(current), "--out", str(out), "--seal",
            party.seal.es_id, "--signer", str(party.id), "--challenge",
            challenge["challenge_id"], "--role", party.role, "--field", field, "--json",
        ]  # fmt: skip
        both = home.run(*args, "--anchor", "甲方（签章）", input=f"{party.pin}\n{code}\n")
        assert both.returncode == 2, both.stdout + both.stderr
        assert json.loads(both.stdout)["field"] == "anchor" and not out.exists()
        ok_json(home.run(*args, input=f"{party.pin}\n{code}\n"))  # the code still works
        current = out
    assert ok_json(home.run("sign", "fields", "--in", str(current), "--json")) == []
    rep = ok_json(home.run("verify", str(current), "--json"))
    assert rep["valid"] is True, rep
    assert [s["field_name"] for s in rep["signatures"]] == ["Certification", "甲方签章", "乙方签章"]
    if need_quiet("pdfsig"):
        blocks = pdfsig(current)
        assert len(blocks) == 3 and all("Signature is Valid." in b for b in blocks), blocks


def test_sign_local_with_own_key_and_the_platform_tsa(home, server, tmp_path):
    kit = local_kit(home, tmp_path / "kit")
    out = tmp_path / "local.pdf"
    args = [
        "sign",
        "local",
        "--in",
        str(home.contract),
        "--out",
        str(out),
        "--key",
        str(kit.key),
        "--cert",
        str(kit.cert),
        "--chain",
        str(kit.chain[0]),
        "--chain",
        str(kit.chain[1]),
        "--seal-image",
        str(kit.seal),
        "--anchor",
        "乙方（签章）",
        "--role",
        "乙方",
        "--tsa-url",
        server.url("/tsa"),
        "--json",
    ]
    res = ok_json(home.run(*args))
    assert res == {"out": str(out), "level": "B-T"}
    rep = ok_json(home.run("verify", str(out), "--json"))
    assert rep["valid"] is True
    (s,) = rep["signatures"]
    assert s["signer_name"] == "赵六" and s["role"] == "乙方" and s["level"] == "B-T"
    assert s["intact"] and s["trusted"] and s["timestamp_valid"] is True
    assert s["timestamp_time"] and "Timestamp" in (s["timestamp_authority"] or "")
    assert s["revocation_source"] == "none"  # B-T: nothing embedded, and verify is offline
    if need_quiet("pdfsig"):
        blocks = pdfsig(out)
        assert len(blocks) == 1 and "Signature is Valid." in blocks[0]

    # a key that is not the certificate's: refused, nothing written
    other = tmp_path / "other.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    out2 = tmp_path / "mismatch.pdf"
    bad = [a if a != str(kit.key) else str(other) for a in args]
    bad[bad.index(str(out))] = str(out2)
    proc = home.run(*bad)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["error"] == "key_mismatch"
    assert not out2.exists() and not list(tmp_path.glob("*.part"))


def self_signed_kit(directory: Path) -> LocalKit:
    """A key, a self-signed certificate for it and a seal image: what ``sign local`` reads
    before it signs (a refusal before signing needs no certificate from the platform)."""
    import datetime as dt

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "赵六")])
    now = dt.datetime.now(dt.UTC)
    cert = x509.CertificateBuilder(
        name, name, key.public_key(), 1, now, now + dt.timedelta(days=1)
    ).sign(key, hashes.SHA256())
    kit = LocalKit(directory / "key.pem", directory / "cert.pem", [], directory / "seal.png")
    kit.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    kit.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    kit.seal.write_bytes(seal_png("赵六"))
    return kit


def test_sign_local_refuses_a_seal_image_that_is_no_image(home, tmp_path):
    """``--seal-image`` was opened by PIL with no guard: a file that is no image, a missing one
    or a folder ended in a traceback (exit 1). Now invalid input naming seal_image, no file."""
    kit = self_signed_kit(tmp_path)
    (tmp_path / "seal.txt").write_text("not an image")
    out = tmp_path / "out.pdf"
    for image in ("seal.txt", "missing.png", "."):
        proc = home.run(
            "sign",
            "local",
            "--in",
            str(home.contract),
            "--out",
            str(out),
            "--key",
            str(kit.key),
            "--cert",
            str(kit.cert),
            "--seal-image",
            str(tmp_path / image),
            "--page",
            "1",
            "--x",
            "10",
            "--y",
            "10",
            "--json",
        )
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        assert json.loads(proc.stdout)["field"] == "seal_image"
    assert not out.exists() and not list(tmp_path.glob("*.part"))


def test_sign_local_reads_its_key_and_certificates_within_a_bound_naming_each(home, tmp_path):
    """``--key``, ``--cert`` and ``--chain`` were read whole (``--key /dev/zero`` read on until
    memory ran out, a MemoryError traceback) and a ``--chain`` file that was no certificate was
    blamed on ``--cert``. Now each is read to the bound of a PEM file and refused naming its own
    option, exit 2, nothing written."""
    from yinxin.adapters.cli.common import MAX_PEM_INPUT

    kit = self_signed_kit(tmp_path)
    big = tmp_path / "big.pem"
    big.write_bytes(b"-----BEGIN CERTIFICATE-----\n" + b"A" * MAX_PEM_INPUT)
    (tmp_path / "junk.pem").write_text("not a certificate")
    out = tmp_path / "out.pdf"
    files = {"--key": str(kit.key), "--cert": str(kit.cert)}
    cases = [
        ("--key", str(big), "key", "larger than 256 KB"),
        ("--key", "/dev/zero", "key", "larger than 256 KB"),
        ("--cert", str(big), "cert", "larger than 256 KB"),
        ("--chain", str(big), "chain", "larger than 256 KB"),
        ("--chain", str(tmp_path / "junk.pem"), "chain", "not a certificate"),
        ("--chain", str(tmp_path), "chain", "cannot read"),
    ]
    for option, path, field, says in cases:
        given = {**files, option: path}
        args = [a for pair in given.items() for a in pair]
        proc = home.run("sign", "local", "--in", str(home.contract), "--out", str(out), *args)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, (option, proc.stderr)
        assert proc.stderr.startswith(f"error [{field}]: ") and says in proc.stderr, proc.stderr
    assert not out.exists() and not list(tmp_path.glob("*.part"))


def test_sign_local_says_a_wrong_key_password_as_ofd_sign_does(home, tmp_path):
    """A wrong or missing --key-password and a key file that cannot be read were one refusal,
    `invalid` on `key`, exit 2 (`ofd sign` says `bad_passphrase`, exit 5, on `key_password`):
    now the password's refusals are the password's, a damaged key file still the key's."""
    kit = self_signed_kit(tmp_path)
    key = serialization.load_pem_private_key(kit.key.read_bytes(), None)
    locked = tmp_path / "locked.pem"
    locked.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret-z6"),
        )
    )
    cut = tmp_path / "cut.pem"
    text = locked.read_text().splitlines()
    cut.write_text("\n".join([*text[:3], text[-1]]) + "\n")  # an encrypted key cut short
    out = tmp_path / "out.pdf"
    cases = [
        (locked, "not-secret-z6", 5, "bad_passphrase", "key_password"),
        (locked, "", 5, "forbidden", "key_password"),
        (cut, "secret-z6", 2, "invalid", "key"),
        (locked, "secret-z6", 0, None, None),
    ]
    for path, password, status, code, field in cases:
        proc = home.run(
            "sign", "local", "--in", str(home.contract), "--out", str(out), "--key", str(path),
            "--cert", str(kit.cert), "--json", env={"YINXIN_KEY_PASSWORD": password},
        )  # fmt: skip
        assert proc.returncode == status, (path.name, password, proc.stdout + proc.stderr)
        if code is not None:
            body = json.loads(proc.stdout)
            assert (body["error"], body.get("field")) == (code, field), body
            assert "secret-z6" not in proc.stdout + proc.stderr
            assert not out.exists()


def test_sign_local_refuses_a_password_for_a_key_that_has_none(home, tmp_path):
    """--key-password (or YINXIN_KEY_PASSWORD) with an unencrypted key was refused as a key
    file that cannot be read, on `key` ("wrong file or password"), sending the user after a
    good file: now on `key_password`, saying the key has no password, exit 2, the password
    not shown, nothing written; `ofd sign` refuses it alike."""
    kit = self_signed_kit(tmp_path)
    out = tmp_path / "out.pdf"
    proc = home.run(
        "sign", "local", "--in", str(home.contract), "--out", str(out), "--key", str(kit.key),
        "--cert", str(kit.cert), "--json", env={"YINXIN_KEY_PASSWORD": "secret-z7"},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    body = json.loads(proc.stdout)
    assert (body["error"], body.get("field")) == ("invalid", "key_password"), body
    assert "not encrypted" in body["message"], body
    assert "secret-z7" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_sign_local_refuses_an_sm2_key_naming_it(home, tmp_path):
    """An SM2 key (as `ofd sign` takes) ended `sign local` in a traceback, exit 1
    (cryptography's UnsupportedAlgorithm): refused on `key`, exit 2, nothing written."""
    from yinxin.pki import sm2

    kit = self_signed_kit(tmp_path)
    key = tmp_path / "sm2.pem"
    key.write_bytes(sm2.generate().private_bytes_pkcs8(None))
    out = tmp_path / "out.pdf"
    proc = home.run(
        "sign", "local", "--in", str(home.contract), "--out", str(out), "--key", str(key),
        "--cert", str(kit.cert), "--json",
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    body = json.loads(proc.stdout)
    assert (body["error"], body["field"]) == ("invalid", "key") and "SM2" in body["message"]
    assert not out.exists()


def test_sign_local_refusals_name_its_options(home, tmp_path):
    """A file that is no PDF and a TSA that cannot be reached were refused naming the signer's
    parameters, `pdf` and `timestamper`, no option of `sign local`: now `in` and `tsa_url`, code
    and exit status unchanged, nothing written."""
    kit = self_signed_kit(tmp_path)
    (tmp_path / "not.pdf").write_bytes(b"hello, not a PDF")
    out = tmp_path / "out.pdf"
    cases = [
        (["--in", str(tmp_path / "not.pdf")], "not_pdf", "in"),
        (["--in", str(home.contract), "--tsa-url", "http://127.0.0.1:9/tsa"], "timestamp_failed",
         "tsa_url"),
    ]  # fmt: skip
    for more, code, field in cases:
        proc = home.run(
            "sign", "local", *more, "--out", str(out), "--key", str(kit.key), "--cert",
            str(kit.cert), "--json",
        )  # fmt: skip
        assert proc.returncode == 2, proc.stdout + proc.stderr
        body = json.loads(proc.stdout)
        assert (body["error"], body["field"]) == (code, field), body
        assert not out.exists()


def test_sign_batch_refuses_an_unwritable_out_dir_before_a_code_is_sent(home, tmp_path):
    """The first run of ``sign batch`` sent a code for files whose ``--out-dir`` did not exist:
    an SMS and the 60 s wait spent before the second run refused it. Both runs check now."""
    w = home.w
    before = outbox_lines(w.outbox)
    args = [
        "sign",
        "batch",
        str(home.contract),
        "--seal",
        w.yi.seal.es_id,
        "--signer",
        str(w.yi.id),
        "--anchor",
        "乙方（签章）",
        "--out-dir",
        str(tmp_path / "no-such-folder"),
        "--json",
    ]
    for more in ([], ["--challenge", "0" * 32]):
        proc = home.run(*args, *more, env={"YINXIN_SEAL_PIN": w.yi.pin, "YINXIN_CODE": "000000"})
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert json.loads(proc.stdout)["field"] == "out_dir"
    assert outbox_lines(w.outbox) == before  # no code was sent


def test_sign_batch_refuses_two_files_that_would_be_written_to_one(home, tmp_path):
    """``sign batch a/x.pdf b/x.pdf --out-dir out`` (or one file named twice) wrote both signed
    files to out/x-signed.pdf: the second replaced the first, while both signatures were
    recorded and the code used up. Both runs refuse it now, naming the second file, before a
    code is sent or used."""
    w = home.w
    for d in ("a", "b", "out"):
        (tmp_path / d).mkdir()
    (tmp_path / "a" / "x.pdf").write_bytes(home.contract.read_bytes())
    (tmp_path / "b" / "x.pdf").write_bytes(contract_pdf(1, title="另一份合同"))
    before = outbox_lines(w.outbox)
    cases = [
        [str(tmp_path / "a" / "x.pdf"), str(tmp_path / "b" / "x.pdf"), "--out-dir"],
        [str(home.contract), str(home.contract), "--out-dir"],
    ]
    for files in cases:
        args = ["sign", "batch", *files, str(tmp_path / "out"), "--seal", w.yi.seal.es_id]
        args += ["--signer", str(w.yi.id), "--anchor", "乙方（签章）", "--json"]
        for more in ([], ["--challenge", "0" * 32]):
            proc = home.run(
                *args, *more, env={"YINXIN_SEAL_PIN": w.yi.pin, "YINXIN_CODE": "000000"}
            )
            assert proc.returncode == 2, proc.stdout + proc.stderr
            out = json.loads(proc.stdout)
            assert out["field"] == "files[1]" and "files[0]" in out["message"], out
    assert outbox_lines(w.outbox) == before  # no code was sent
    assert list((tmp_path / "out").iterdir()) == []


def test_sign_batch_refuses_an_input_its_output_would_replace(home, tmp_path):
    """``sign batch x.pdf x-signed.pdf``: the first file's signed copy, x-signed.pdf, would be
    written over the second input once both were signed (the code used up). Both runs refuse
    it now, naming the first file and the input, before a code is sent or used; the inputs
    stay as they were."""
    w = home.w
    x = tmp_path / "x.pdf"
    x.write_bytes(home.contract.read_bytes())
    second = tmp_path / "x-signed.pdf"
    second.write_bytes(contract_pdf(1, title="另一份合同"))
    kept = second.read_bytes()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x-signed.pdf").write_bytes(kept)
    before = outbox_lines(w.outbox)
    cases = [
        [str(x), str(second)],
        [str(x), str(tmp_path / "out" / "x-signed.pdf"), "--out-dir", str(tmp_path / "out")],
    ]
    for files in cases:
        args = ["sign", "batch", *files, "--seal", w.yi.seal.es_id]
        args += ["--signer", str(w.yi.id), "--anchor", "乙方（签章）", "--json"]
        for more in ([], ["--challenge", "0" * 32]):
            proc = home.run(
                *args, *more, env={"YINXIN_SEAL_PIN": w.yi.pin, "YINXIN_CODE": "000000"}
            )
            assert proc.returncode == 2, proc.stdout + proc.stderr
            out = json.loads(proc.stdout)
            assert out["field"] == "files[0]" and "files[1]" in out["message"], out
    assert outbox_lines(w.outbox) == before  # no code was sent
    assert second.read_bytes() == kept and (tmp_path / "out" / "x-signed.pdf").read_bytes() == kept
    assert not (tmp_path / "x-signed-signed.pdf").exists()


def test_sign_batch_sends_no_code_for_a_seal_the_signer_cannot_use(home, tmp_path):
    """The first run of ``sign batch`` sent a code whatever ``--seal`` said; a signer without
    the seal's grant (or with too few uses left on it) learnt it only at the second run, the
    SMS spent. The first run now asks with the seal: refused (exit 5) naming --signer (the
    grant's member), no code sent."""
    w = home.w
    before = outbox_lines(w.outbox)
    args = ["sign", "batch", str(home.contract), "--seal", w.jia.seal.es_id]
    args += ["--signer", str(w.yi.id), "--anchor", "乙方（签章）", "--json"]
    proc = home.run(*args)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    out = json.loads(proc.stdout)
    assert (out["error"], out["field"]) == ("not_authorized", "signer"), out
    assert outbox_lines(w.outbox) == before  # no code was sent


def test_sign_batch_sends_no_code_for_a_placement_signing_refuses(home, tmp_path):
    """The first run of ``sign batch`` sent a code for files where ``--anchor`` is not found,
    ``--page`` is past the end or the seal at ``--x/--y`` runs off the page: the second run
    refused it, the SMS spent. The first run refuses it now, as the second (exit 2, the same
    error naming the file's placement), no code sent."""
    w = home.w
    before = outbox_lines(w.outbox)
    base = ["sign", "batch", str(home.contract), "--seal", w.yi.seal.es_id]
    base += ["--signer", str(w.yi.id), "--json"]
    for where, error in (
        (["--anchor", "丙方（签章）"], "anchor_not_found"),
        (["--page", "9", "--x", "20", "--y", "20"], "page_out_of_range"),
        (["--page", "1", "--x", "200", "--y", "20"], "outside_page"),
    ):
        proc = home.run(*base, *where)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        out = json.loads(proc.stdout)
        assert (out["error"], out["field"]) == (error, "items[0].placement"), out
    assert outbox_lines(w.outbox) == before  # no code was sent


def test_an_empty_anchor_is_refused_not_taken_for_no_anchor(home, tmp_path):
    """``--anchor "$BLOCK"`` with BLOCK unset signed with the seal in the default corner of the
    last page (exit 0): an empty anchor is refused now, naming anchor, nothing written."""
    kit = self_signed_kit(tmp_path)
    out = tmp_path / "out.pdf"
    args = ["--in", str(home.contract), "--out", str(out), "--key", str(kit.key)]
    args += ["--cert", str(kit.cert), "--seal-image", str(kit.seal), "--anchor", "", "--json"]
    proc = home.run("sign", "local", *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert json.loads(proc.stdout) == {
        "error": "invalid",
        "message": "the anchor text is empty",
        "field": "anchor",
    }
    assert not out.exists()


def test_sign_code_sends_no_code_for_a_pdf_cut_short(home, tmp_path):
    """A PDF cut short (a copy interrupted) passed ``sign code``'s header check and a code was
    sent; ``sign pdf`` then refused the file as truncated, the code typed in for nothing."""
    w = home.w
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(home.contract.read_bytes()[:4000])
    before = outbox_lines(w.outbox)
    proc = home.run("sign", "code", "--in", str(cut), "--signer", str(w.yi.id), "--json")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["field"] == "in"  # the option, not the service's pdf
    assert outbox_lines(w.outbox) == before


def test_sign_refusals_name_the_options_typed(home, tmp_path):
    """``sign code|pdf --signer`` unknown was refused naming ``subscriber_id`` (or
    ``signer_subscriber_id``), a signer without the seal's grant ``member_subscriber_id`` and
    ``--in`` that is no PDF ``pdf``: the services' names. Each names the option now (--json's
    ``field`` and the error line), exit code unchanged, no code sent and nothing written."""
    w = home.w
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"hello, this is not a PDF")
    out = tmp_path / "out.pdf"
    sign = ["sign", "pdf", "--out", str(out), "--challenge", "0" * 32, "--anchor", "甲方（签章）"]
    env = {"YINXIN_SEAL_PIN": w.jia.pin, "YINXIN_CODE": "000000"}
    before = outbox_lines(w.outbox)
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    seal = ["--seal", w.jia.seal.es_id]
    cases = [
        (["sign", "code", "--in", str(home.contract), "--signer", "999999"], "signer", 3),
        (["sign", "code", "--in", str(junk), "--signer", str(w.yi.id)], "in", 2),
        ([*sign, "--in", str(empty), *seal, "--signer", str(w.jia.id)], "in", 2),
        ([*sign, "--in", str(home.contract), *seal, "--signer", "999999"], "signer", 2),
    ]
    for args, option, code in cases:
        proc = home.run(*args, "--json", env=env)
        assert proc.returncode == code, (args, proc.stdout + proc.stderr)
        assert json.loads(proc.stdout)["field"] == option, (
            args,
            proc.stdout,
        )
        text = home.run(*args, env=env)
        assert f"[{option}]" in text.stderr.splitlines()[0], (args, text.stderr)
    assert outbox_lines(w.outbox) == before
    assert not out.exists()


def test_sign_local_refuses_placement_without_a_seal_image(home, tmp_path):
    """``sign local --page 99`` (or --anchor, --x, --y, --width) without ``--seal-image``
    signed, exit 0, an invisible signature: the option placed nothing and said nothing. Each
    is refused now naming it, exit 2, nothing written; without them it signs as before."""
    kit = self_signed_kit(tmp_path)
    out = tmp_path / "out.pdf"
    args = ["--in", str(home.contract), "--out", str(out), "--key", str(kit.key)]
    args += ["--cert", str(kit.cert)]
    for option, value in (("page", "99"), ("anchor", "甲方（签章）"), ("x", "10"), ("width", "30")):
        proc = home.run("sign", "local", *args, f"--{option}", value, "--json")
        assert proc.returncode == 2, proc.stdout + proc.stderr
        got = json.loads(proc.stdout)
        assert got["field"] == option and "--seal-image" in got["message"], got
        assert not out.exists()
    ok_json(home.run("sign", "local", *args, "--json"))
    assert out.exists()
    out.unlink()
    ok_json(
        home.run(
            "sign",
            "local",
            *args,
            "--seal-image",
            str(kit.seal),
            "--anchor",
            "甲方（签章）",
            "--json",
        )
    )
    assert out.exists()


def _seed_field(contract: bytes, sv) -> bytes:  # noqa: ANN001
    """``contract`` with an empty 乙方签章 field carrying the seed values ``sv``."""
    import io

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields

    writer = IncrementalPdfFileWriter(io.BytesIO(contract))
    spec = fields.SigFieldSpec("乙方签章", box=(330, 120, 490, 220), on_page=0, seed_value_dict=sv)
    fields.append_signature_field(writer, spec)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _yi_signs_with_a_wrong_code(home, pdf: Path, before: int):  # noqa: ANN202
    """乙方 asks `sign code` for ``pdf`` (the code is sent) and runs `sign pdf --field 乙方签章`
    with a wrong one, which must exit 2: its JSON refusal, the output path (never to exist),
    and the challenge."""
    w, yi = home.w, home.w.yi
    ch = ok_json(home.run("sign", "code", "--in", str(pdf), "--signer", str(yi.id), "--json"))
    code = read_code(w.outbox, yi.phone, after=before)
    out = pdf.parent / "never.pdf"
    args = [
        "sign", "pdf", "--in", str(pdf), "--out", str(out), "--seal", yi.seal.es_id,
        "--signer", str(yi.id), "--challenge", ch["challenge_id"], "--role", "乙方",
        "--field", "乙方签章", "--json",
    ]  # fmt: skip
    proc = home.run(*args, env={"YINXIN_SEAL_PIN": yi.pin, "YINXIN_CODE": wrong_code(code)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    return json.loads(proc.stdout), out, ch


def _no_try_used(w, ch: dict) -> None:
    """The challenge counts no failed try: the refusal came before the code was checked."""
    from yinxin.store.models.notify import IntentChallenge

    with w.p.db.read() as s:
        assert s.get(IntentChallenge, ch["challenge_id"]).failed_attempts == 0


def test_seed_values_the_seal_cannot_meet_are_refused_before_the_code(home, tmp_path):
    """`sign batch --field` (first run, with --seal and --level B-B) on a field asking for a
    timestamp, and `sign pdf --field` with a wrong code on a field asking (/Cert /Subject)
    for the organization's certificate: exit 2 ``seed_value`` with no SMS sent and no try of
    the code used. Before, the batch's code was sent, and `sign pdf` counted the wrong code
    (exit 5) — with a right one, sealing refused after the code and the PIN."""

    from asn1crypto import x509 as a_x509
    from pyhanko.sign import fields

    w = home.w
    yi = w.yi
    codes_waited_out(w, yi.id)
    contract = home.contract.read_bytes()
    stamped = tmp_path / "timestamp.pdf"
    stamped.write_bytes(
        _seed_field(
            contract,
            fields.SigSeedValueSpec(
                timestamp_required=True, timestamp_server_url="http://127.0.0.1:9/tsa"
            ),
        )
    )
    before = outbox_lines(w.outbox)
    batch = ["sign", "batch", str(stamped), "--seal", yi.seal.es_id, "--signer", str(yi.id)]
    proc = home.run(*batch, "--field", "乙方签章", "--role", "乙方", "--level", "B-B", "--json")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    got = json.loads(proc.stdout)
    assert got["error"] == "seed_value" and "/TimeStamp" in got["message"], got
    assert outbox_lines(w.outbox) == before  # no SMS

    org = a_x509.Certificate.load(
        x509.load_pem_x509_certificate(w.org_cert.pem.encode()).public_bytes(
            serialization.Encoding.DER
        )
    )
    theirs = tmp_path / "theirs.pdf"
    flags = fields.SigCertConstraintFlags
    theirs.write_bytes(
        _seed_field(
            contract,
            fields.SigSeedValueSpec(
                cert=fields.SigCertConstraints(flags=flags.SUBJECT, subjects=[org])
            ),
        )
    )
    got, out, ch = _yi_signs_with_a_wrong_code(home, theirs, before)
    assert (got["error"], got["field"]) == ("seed_value", "field"), got
    assert "/Cert" in got["message"] and not out.exists()
    _no_try_used(w, ch)


def test_sign_code_with_the_field_judges_its_seed_values_before_the_sms(home, tmp_path):
    """`sign code --field` judges the field with the seal `sign pdf` will use — `--seal`, or
    the signer's only seal — and its --role/--level/--lock: a field asking for the
    organization's certificate of 张三 (one seal, his own) exits 2 ``seed_value`` naming
    ``field``, with no SMS and no challenge row; so does --level B-B on a field asking for a
    timestamp, and --lock without --field (naming ``lock``). Before, `sign code` took no
    --field: the code was sent and `sign pdf` refused once it was typed in. A field the seal
    meets gets its code."""

    from asn1crypto import x509 as a_x509
    from pyhanko.sign import fields

    from tests.dbdump import count
    from yinxin.store.models.notify import IntentChallenge

    w = home.w
    yi = w.yi
    codes_waited_out(w, yi.id)
    contract = home.contract.read_bytes()
    org = a_x509.Certificate.load(
        x509.load_pem_x509_certificate(w.org_cert.pem.encode()).public_bytes(
            serialization.Encoding.DER
        )
    )
    flags = fields.SigCertConstraintFlags
    theirs = tmp_path / "theirs.pdf"
    theirs.write_bytes(
        _seed_field(
            contract,
            fields.SigSeedValueSpec(
                cert=fields.SigCertConstraints(flags=flags.SUBJECT, subjects=[org])
            ),
        )
    )
    stamped = tmp_path / "timestamp.pdf"
    stamped.write_bytes(
        _seed_field(
            contract,
            fields.SigSeedValueSpec(
                timestamp_required=True, timestamp_server_url="http://127.0.0.1:9/tsa"
            ),
        )
    )
    code = ["sign", "code", "--signer", str(yi.id), "--field", "乙方签章", "--role", "乙方"]
    before = outbox_lines(w.outbox)
    challenges = count(w.p, IntentChallenge)
    for args, named in [
        (["--in", str(theirs)], "/Cert"),  # his only seal, not named
        (["--in", str(theirs), "--seal", yi.seal.es_id], "/Cert"),
        (["--in", str(stamped), "--level", "B-B"], "/TimeStamp"),
    ]:
        proc = home.run(*code, *args, "--json")
        assert proc.returncode == 2, proc.stdout + proc.stderr
        got = json.loads(proc.stdout)
        assert (got["error"], got["field"]) == ("seed_value", "field"), got
        assert named in got["message"] and "乙方签章" in got["message"], got
    # --lock says how the field is sealed: without --field it was a code for nothing judged
    proc = home.run("sign", "code", "--in", str(theirs), "--signer", str(yi.id), "--lock", "--json")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["field"] == "lock", proc.stdout
    assert outbox_lines(w.outbox) == before  # no SMS
    assert count(w.p, IntentChallenge) == challenges
    ok_json(home.run(*code, "--in", str(stamped), "--json"))  # B-LT timestamps
    assert outbox_lines(w.outbox) == before + 1


def test_sign_code_without_the_field_on_a_certified_contract_no_field_takes(home, tmp_path):
    """A contract certified with P=2 whose two empty fields both ask (/SV /Cert) for the
    organization's certificate: 张三's only seal can go into neither, and a new field breaks
    the certification. `sign code` without --field sent the code (the document had empty
    fields) and `sign pdf` refused whatever came after it; it exits 2 now, ``seed_value``
    naming ``field`` and both fields, with no SMS and no challenge row."""
    from tests.dbdump import count
    from tests.integration.test_seed_values_first import certified_with_fields
    from yinxin.store.models.notify import IntentChallenge

    w = home.w
    codes_waited_out(w, w.yi.id)
    pdf = tmp_path / "certified.pdf"
    pdf.write_bytes(certified_with_fields(w, "cert-other", asked=w.org_cert.pem))
    before, challenges = outbox_lines(w.outbox), count(w.p, IntentChallenge)
    proc = home.run("sign", "code", "--in", str(pdf), "--signer", str(w.yi.id), "--json")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    got = json.loads(proc.stdout)
    assert (got["error"], got["field"]) == ("seed_value", "field"), got
    assert "甲方签章" in got["message"] and "乙方签章" in got["message"], got
    assert outbox_lines(w.outbox) == before and count(w.p, IntentChallenge) == challenges


def test_sign_pdf_into_a_field_an_earlier_signature_locked_exits_2_before_the_code(home, tmp_path):
    """`sign pdf --field 乙方签章` on a contract whose intermediary's signature locks 乙方签章
    (FieldMDP): exit 2 ``field_locked`` naming the field, the wrong code given not counted.
    Before, the code was checked (exit 5, a try used) — with a right one, sealing refused
    after the code and the PIN."""

    from tests.integration.test_seed_values_first import locked_by_intermediary

    w = home.w
    yi = w.yi
    codes_waited_out(w, yi.id)
    locked = tmp_path / "locked.pdf"
    locked.write_bytes(locked_by_intermediary("乙方签章", home.contract.read_bytes()))
    before = outbox_lines(w.outbox)
    got, out, ch = _yi_signs_with_a_wrong_code(home, locked, before)
    assert (got["error"], got["field"]) == ("field_locked", "field"), got
    assert "'乙方签章'" in got["message"] and "'中介方签章'" in got["message"], got
    assert not out.exists()
    _no_try_used(w, ch)
