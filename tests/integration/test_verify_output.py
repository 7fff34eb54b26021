"""A verification report cannot be forged or broken by the document it is about.

The text a document brings — its signer's name (any certificate's CN: the forger makes their
own), a signature field's name, the file's name, a problem quoting either — was printed as
it came. A CN ending in "\\n\\n结论 / Verdict: 有效 / VALID" then ESC[8m put a VALID verdict line
in the report of an INVALID file and hid every line after it on a terminal (the true verdict
too); ESC[2K and a carriage return in a field name erased its line. And ``--report`` failed
with a traceback on any character the report's font has no glyph for (an emoji in a CN).
Now such characters are written as escapes (``yinxin.identity.shown``) in the text report,
the one-line-a-file listing and the PDF report, and a character without a glyph as its code.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization

from tests.integration import pdf_factory as f
from tests.integration.test_verify_cli import verify
from yinxin.identity import shown
from yinxin.pdf.words import (
    CHANGE_WORDS,
    COVERAGE_WORDS,
    REVOCATION_SOURCE_WORDS,
    bilingual,
)

FORGED = "张三\n\n结论 / Verdict: 有效 / VALID\x1b[8m"
FIELD = "Sig\x1b[2K\rX"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("verify-output")
    pki, stranger = f.build_pki(), f.build_pki("Someone Else's Root")
    plain = f.contract_pdf()
    (d / "forged.pdf").write_bytes(f.sign(plain, pki.new_signer(FORGED), pki, field_name=FIELD))
    (d / "emoji.pdf").write_bytes(
        f.sign(plain, pki.new_signer("张三\u202e😀"), pki, field_name="签名😀")
    )
    (d / "root.pem").write_bytes(pki.root.public_bytes(serialization.Encoding.PEM))
    (d / "other.pem").write_bytes(stranger.root.public_bytes(serialization.Encoding.PEM))
    return d


def _plain(out: str) -> None:
    assert not any(c in out for c in "\x1b\r\u202e"), repr(out)


def test_a_forged_name_adds_no_verdict_and_hides_nothing(files) -> None:
    proc = verify(files, "forged.pdf", "--trust", "other.pem")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    _plain(proc.stdout)
    # another root than the signer's: not shown good, not shown bad either
    verdicts = [ln for ln in proc.stdout.splitlines() if ln.startswith("结论")]
    assert verdicts == ["结论 / Verdict: 无法确定 / INDETERMINATE"], proc.stdout
    assert proc.stdout.rstrip().endswith("结论 / Verdict: 无法确定 / INDETERMINATE")
    assert "签署人 / Signer:         张三\\n\\n结论 / Verdict: 有效 / VALID\\x1b[8m" in proc.stdout
    assert "[1] Sig\\x1b[2K\\rX — 无法确定 / indeterminate" in proc.stdout


def test_each_file_keeps_one_line_in_a_listing(files) -> None:
    (files / "line\x1b[2K\r.pdf").write_bytes((files / "forged.pdf").read_bytes())
    proc = verify(files, "forged.pdf", "line\x1b[2K\r.pdf", "--trust", "other.pem", "--jobs", "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    _plain(proc.stdout)
    lines = proc.stdout.splitlines()
    assert len(lines) == 3 and lines[-1] == "0/2 有效 / valid，2 无法确定 / indeterminate", lines
    assert lines[1].startswith("INDETERMINATE line\\x1b[2K\\r.pdf (1 signature): "), lines


def test_the_pdf_report_draws_what_its_font_lacks_as_codes(files) -> None:
    for name in ("emoji.pdf", "forged.pdf"):
        report = files / f"{name}.report.pdf"
        proc = verify(files, name, "--trust", "root.pem", "--report", report.name)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        text = subprocess.run(
            ["pdftotext", str(report), "-"], capture_output=True, text=True, check=True
        ).stdout
        _plain(text)
        if name == "emoji.pdf":
            assert "签名 1：签名\\U0001f600" in text, text
            assert "张三\\u202e\\U0001f600" in text, text
        else:
            assert "张三\\n\\n结论 / Verdict: 有效 / VALID\\x1b[8m" in text.replace("\n", ""), text


def test_shown_escapes_only_what_hides_or_breaks_text() -> None:
    assert shown("张三 Zhang-San, 北京（2026）") == "张三 Zhang-San, 北京（2026）"
    assert shown("a\nb\tc\x1bd\u202ee\u200bf\u2028g") == "a\\nb\\tc\\x1bd\\u202ee\\u200bf\\u2028g"


def test_the_text_and_pdf_reports_say_coverage_changes_and_status_alike(files) -> None:
    """One table each (``yinxin.pdf.words``), the same words in the text report, the PDF report
    and the web page (tests/e2e/test_web.py): not the raw value in one and a paraphrase in
    another."""
    pki = f.build_pki()
    signed = f.sign(f.contract_pdf(), pki.new_signer("李四"), pki, revinfo="dss")
    (files / "blt.pdf").write_bytes(signed)
    (files / "blt-root.pem").write_bytes(pki.root.public_bytes(serialization.Encoding.PEM))
    facts = json.loads(verify(files, "blt.pdf", "--trust", "blt-root.pem", "--json").stdout)
    sig = facts["signatures"][0]
    # a B-LT file: the signature covers its revision, the DSS came after it, status embedded
    assert (sig["coverage"], sig["changes_after"], sig["revocation_source"]) == (
        "entire_revision",
        "allowed",
        "embedded",
    ), sig
    said = [
        bilingual(COVERAGE_WORDS, "entire_revision"),
        bilingual(CHANGE_WORDS, "allowed"),
        bilingual(REVOCATION_SOURCE_WORDS, "embedded"),
    ]
    proc = verify(files, "blt.pdf", "--trust", "blt-root.pem", "--report", "blt-report.pdf")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pdf_text = subprocess.run(
        ["pdftotext", str(files / "blt-report.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    squeezed = "".join(pdf_text.split())  # the table wraps lines; pdftotext spaces glyphs
    for words in said:
        assert words in proc.stdout, (words, proc.stdout)
        assert "".join(words.split()) in squeezed, (words, pdf_text)
    assert "entire_revision" not in proc.stdout and "entire_revision" not in pdf_text
