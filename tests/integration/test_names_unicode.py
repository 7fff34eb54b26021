"""A signer named with a character newer than Unicode 3.2 is trusted when their chain is.

asn1crypto's RFC 4518 preparation (what pyHanko compares names with) refused every code point
Unicode 3.2 had not assigned, so no path was built through such a certificate and its
signatures were "untrusted": emoji, CJK Extension C and later, U+9FA6–U+9FFF — rare characters
in Chinese names (生僻字). ``yinxin.pdf.names`` takes table A.1 from this Python's Unicode.
``openssl verify`` is the outside judge that the chains are sound; a code point unassigned
still, and private use, are refused as before; the ``stringprep`` module itself is untouched.
"""

from __future__ import annotations

import subprocess

import pytest
from cryptography.hazmat.primitives import serialization

from tests.integration import pdf_factory as f
from yinxin.pdf.batch import Verifier
from yinxin.pdf.verify import verify_pdf

LATER = ["张\U0002a700", "李\u9fa6", "王五😀"]  # CJK Ext C (5.2), URO 4.1, emoji (6.1)
# right-to-left beside left-to-right, or not at both ends: RFC 4518 §2.5 ignores bidi, which
# asn1crypto checked ("malformed bidirectional sequence")
BIDI = ["新疆喀什 قەشقەر سودا", "ئابدۇرېھىم 2"]


@pytest.fixture(scope="module")
def pki():
    return f.build_pki()


def _pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize("name", LATER + BIDI)
def test_a_later_character_in_the_name_chains(pki, name, tmp_path) -> None:
    signer = pki.new_signer(name)
    for n, cert in (("leaf", signer.cert), ("issuing", pki.issuing), ("root", pki.root)):
        (tmp_path / f"{n}.pem").write_bytes(_pem(cert))
    ok = subprocess.run(
        ["openssl", "verify", "-CAfile", "root.pem", "-untrusted", "issuing.pem", "leaf.pem"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and ok.stdout.strip().endswith(": OK"), ok.stdout + ok.stderr
    pdf = f.sign(f.contract_pdf(), signer, pki)
    report = verify_pdf(pdf, trust_roots=[pki.root])
    assert report.valid, report.to_text()
    assert report.signatures[0].signer_name == name and report.signatures[0].trusted
    assert Verifier([pki.root], shortcut=False).verify(pdf).valid  # pyHanko's own path check


@pytest.mark.parametrize("name", ["赵\u0378", "钱\ue000"])  # unassigned today; private use
def test_what_the_preparation_refuses_still_makes_no_path(pki, name) -> None:
    pdf = f.sign(f.contract_pdf(), pki.new_signer(name), pki)
    report = verify_pdf(pdf, trust_roots=[pki.root])
    assert not report.valid and not report.signatures[0].trusted


def test_only_asn1crypto_sees_the_current_table() -> None:
    import stringprep

    from asn1crypto import x509 as a_x509

    import yinxin.pdf.verify  # noqa: F401  (installs the table)

    assert stringprep.in_table_a1("\U0002a700")  # the module itself is untouched
    assert not a_x509.stringprep.in_table_a1("\U0002a700")
    assert a_x509.stringprep.in_table_a1("\u0378")
