"""An output written over one of the command's own input files is refused.

``sign pdf --in a.pdf --out a.pdf`` (and ``sign ofd``, ``sign ses-pdf``, ``ofd sign``) replaced
the document given with the signed one, ``sign local --out key.pem`` the signer's private key
with the PDF, ``ofd sign --out seal.esl`` the seal, ``verify --report root.pem --trust root.pem``
the trust anchor with the report. Each output that is an input — by name, another spelling
(``./a.pdf``) or a link — is now refused naming the output option, exit 2, before anything is
written or stored (``not_the_input``, as ``ofd render``/``make``, ``verify --report`` over the
file verified and ``contract preview`` already did)."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from PIL import Image
from typer.testing import CliRunner

from tests import dbdump
from tests.certs import self_signed
from tests.conftest import cli_env
from tests.fixtures.samples import contract_pdf
from yinxin.adapters.cli import app as cli_app
from yinxin.app import Platform

OFD = Path(__file__).resolve().parents[1] / "fixtures" / "ofd" / "ofdrw-V4RideRight.ofd"
PLATFORM = ["--seal", "1", "--signer", "1", "--challenge", "0" * 32, "--anchor", "乙方"]


def _kit(work: Path) -> None:
    """The input files, each real enough that the command would get to writing its output: a
    PDF, an OFD, a P-256 key and its own certificate, a PNG, a CRL."""
    work.mkdir()
    (work / "a.pdf").write_bytes(contract_pdf(1))
    (work / "a.ofd").write_bytes(OFD.read_bytes())
    key, cert = self_signed("赵六")
    name, now = cert.subject, dt.datetime.now(dt.UTC)
    (work / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (work / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (work / "root.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(name)
        .last_update(now - dt.timedelta(days=1))
        .next_update(now + dt.timedelta(days=7))
        .sign(key, hashes.SHA256())
    )
    (work / "ca.crl").write_bytes(crl.public_bytes(serialization.Encoding.DER))
    png = io.BytesIO()
    Image.new("RGBA", (40, 40), (255, 0, 0, 128)).save(png, "PNG")
    (work / "seal.png").write_bytes(png.getvalue())
    (work / "seal.esl").write_bytes(b"\x30\x03\x02\x01\x01")
    (work / "link.pdf").symlink_to(work / "a.pdf")


LOCAL = ["--key", "key.pem", "--cert", "cert.pem", "--chain", "root.pem"]
LOCAL += ["--seal-image", "seal.png", "--anchor", "乙方（签章）"]
OFD_SIGN = ["--seal", "seal.esl", "--key", "key.pem", "--cert", "cert.pem", "--anchor", "乙方"]

CASES = {
    "sign pdf": (["sign", "pdf", "--in", "a.pdf", *PLATFORM, "--out", "a.pdf"], "out"),
    "sign pdf ./": (["sign", "pdf", "--in", "a.pdf", *PLATFORM, "--out", "./a.pdf"], "out"),
    "sign pdf link": (["sign", "pdf", "--in", "a.pdf", *PLATFORM, "--out", "link.pdf"], "out"),
    "sign ofd": (["sign", "ofd", "--in", "a.ofd", *PLATFORM, "--out", "a.ofd"], "out"),
    "sign ses-pdf": (["sign", "ses-pdf", "--in", "a.pdf", *PLATFORM, "--out", "a.pdf"], "out"),
    "sign local in": (["sign", "local", "--in", "a.pdf", *LOCAL, "--out", "a.pdf"], "out"),
    "sign local key": (["sign", "local", "--in", "a.pdf", *LOCAL, "--out", "key.pem"], "out"),
    "sign local cert": (["sign", "local", "--in", "a.pdf", *LOCAL, "--out", "cert.pem"], "out"),
    "sign local chain": (["sign", "local", "--in", "a.pdf", *LOCAL, "--out", "root.pem"], "out"),
    "sign local seal": (["sign", "local", "--in", "a.pdf", *LOCAL, "--out", "seal.png"], "out"),
    "ofd sign in": (["ofd", "sign", "--in", "a.ofd", *OFD_SIGN, "--out", "a.ofd"], "out"),
    "ofd sign seal": (["ofd", "sign", "--in", "a.ofd", *OFD_SIGN, "--out", "seal.esl"], "out"),
    "ofd sign key": (["ofd", "sign", "--in", "a.ofd", *OFD_SIGN, "--out", "key.pem"], "out"),
    "ofd sign cert": (["ofd", "sign", "--in", "a.ofd", *OFD_SIGN, "--out", "cert.pem"], "out"),
    "verify trust": (["verify", "a.pdf", "--trust", "root.pem", "--report", "root.pem"], "report"),
    "verify crl": (
        ["verify", "a.pdf", "--trust", "root.pem", "--crl", "ca.crl", "--report", "ca.crl"],
        "report",
    ),
}


def _files(work: Path) -> dict[str, bytes | str]:
    return {x.name: os.readlink(x) if x.is_symlink() else x.read_bytes() for x in work.iterdir()}


@pytest.mark.parametrize("case", list(CASES))
def test_an_output_over_an_input_is_refused_naming_it(
    platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    args, field = CASES[case]
    work = tmp_path / "work"  # the platform's home is in tmp_path too
    _kit(work)
    monkeypatch.chdir(work)
    env = cli_env(platform, YINXIN_SEAL_PIN="123456", YINXIN_CODE="123456")
    files, before = _files(work), dbdump.dump(platform)
    res = CliRunner().invoke(cli_app, [*args, "--json"], env=env)
    assert res.exit_code == 2, res.output
    err = json.loads(res.stdout)
    assert err["field"] == field and "give the output another name" in err["message"], err
    assert err["message"].startswith(f"--{field} {Path(args[-1])} is "), err
    assert _files(work) == files  # nothing replaced, nothing left behind
    assert dbdump.dump(platform) == before
