"""A command line the signing verbs would refuse is refused before any secret is asked for.

``sign pdf --in a.pdf --out a.pdf`` asked for the seal PIN and the one-time code and only then
refused ``--out`` (exit 2, rightly, but after the signer had typed both); so did ``sign ofd``,
``sign ses-pdf`` and ``sign batch --challenge`` for an output over the input or into a missing
folder, an unreadable ``--in``, a bad ``--level``; ``authorization grant`` asked for the seal
PIN before reading ``--until``, ``flow sign`` the PIN and code before ``--client-ip``, and
``cert apply --platform-key`` the new key's PIN (twice) before ``--algorithm``; ``flow
sign`` and ``cert apply`` built the platform (the home's database) before judging theirs.
Each now makes the command line's own checks first (``read_in_check_out`` for the files): exit 2
naming the option, no prompt, no PIN read, nothing written. The document too, as its service
judges it before the code without the seal: ``sign ofd`` of a file that is no OFD or one closed
by its signer, an anchor or page it has not, a bad ``--role``; ``sign ses-pdf`` and ``sign
batch --challenge`` of no PDF, an anchor or page it has not (``check_document``,
``BatchSigning.check_documents``) asked for both secrets and then refused.
A placement refused names the option typed (``anchor``, ``page``), not ``placement``, the
services' name, which ``sign pdf``, ``sign ses-pdf`` and ``sign batch`` gave.

The subprocesses get no PIN or code in the environment and nothing on standard input: a
command that reached the secrets is refused naming ``pin`` (before the fix), one that checks
first names the option typed wrongly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.server import yinxin_cli, yinxin_env
from tests.integration.terminal import refused_at_a_terminal
from tests.integration.test_cli_out_over_input import _kit
from yinxin.ofd.make import make_ofd

CHALLENGE = ["--challenge", "0" * 32]
PLATFORM = ["--seal", "1", "--signer", "1", *CHALLENGE, "--anchor", "乙方"]
PDF = ["sign", "pdf", "--in", "a.pdf", *PLATFORM]
BATCH = ["sign", "batch", "a.pdf", "--seal", "1", "--signer", "1", *CHALLENGE, "--anchor", "乙方"]
GRANT = ["authorization", "grant", "--seal", "1", "--by", "1", "--max", "3"]

# what is typed, the option the refusal must name
CASES = {
    "sign pdf --out the input": ([*PDF, "--out", "a.pdf"], "out"),
    "sign pdf --out a link to the input": ([*PDF, "--out", "link.pdf"], "out"),
    "sign pdf --out in a missing folder": ([*PDF, "--out", "no-such/s.pdf"], "out"),
    "sign pdf --out a folder": ([*PDF, "--out", "."], "out"),
    "sign pdf --in missing": (["sign", "pdf", "--in", "no.pdf", *PLATFORM, "--out", "s.pdf"], "in"),
    "sign pdf --in no PDF": (
        ["sign", "pdf", "--in", "seal.png", *PLATFORM, "--out", "s.pdf"],
        "in",
    ),
    "sign pdf --anchor not in it": ([*PDF[:-1], "没有这段字", "--out", "s.pdf"], "anchor"),
    "sign pdf --page off it": (
        ["sign", "pdf", "--in", "a.pdf", *PLATFORM[:-2], "--page", "9", "--x", "1", "--y", "1"]
        + ["--out", "s.pdf"],
        "page",
    ),
    "sign pdf --level": ([*PDF, "--out", "s.pdf", "--level", "B-X"], "level"),
    "sign pdf --role": ([*PDF, "--out", "s.pdf", "--role", "路人"], "role"),
    "sign ofd --out the input": (
        ["sign", "ofd", "--in", "a.ofd", *PLATFORM, "--out", "a.ofd"],
        "out",
    ),
    "sign ses-pdf --out the input": (
        ["sign", "ses-pdf", "--in", "a.pdf", *PLATFORM, "--out", "a.pdf"],
        "out",
    ),
    "sign ses-pdf --out in a missing folder": (
        ["sign", "ses-pdf", "--in", "a.pdf", *PLATFORM, "--out", "no-such/s.pdf"],
        "out",
    ),
    "sign ofd --in no OFD": (
        ["sign", "ofd", "--in", "seal.png", *PLATFORM, "--out", "s.ofd"],
        "in",
    ),
    "sign ofd --in closed by its signer": (
        ["sign", "ofd", "--in", "a.ofd", *PLATFORM, "--out", "s.ofd"],
        "in",
    ),
    "sign ofd --anchor not in it": (
        ["sign", "ofd", "--in", "b.ofd", *PLATFORM[:-1], "没有这段字", "--out", "s.ofd"],
        "anchor",
    ),
    "sign ofd --page off it": (
        ["sign", "ofd", "--in", "b.ofd", *PLATFORM[:-2], "--page", "9", "--x", "1", "--y", "1"]
        + ["--out", "s.ofd"],
        "page",
    ),
    "sign ofd --role": (
        ["sign", "ofd", "--in", "b.ofd", *PLATFORM, "--out", "s.ofd", "--role", "路人"],
        "role",
    ),
    "sign ses-pdf --in no PDF": (
        ["sign", "ses-pdf", "--in", "seal.png", *PLATFORM, "--out", "s.pdf"],
        "in",
    ),
    "sign ses-pdf --anchor not in it": (
        ["sign", "ses-pdf", "--in", "a.pdf", *PLATFORM[:-1], "没有这段字", "--out", "s.pdf"],
        "anchor",
    ),
    "sign ses-pdf --page off it": (
        ["sign", "ses-pdf", "--in", "a.pdf", *PLATFORM[:-2], "--page", "9", "--x", "1"]
        + ["--y", "1", "--out", "s.pdf"],
        "page",
    ),
    "sign batch a file no PDF": (["sign", "batch", "seal.png", *BATCH[3:]], "files[0]"),
    "sign batch --anchor not in it": ([*BATCH[:-1], "没有这段字"], "anchor"),
    "sign batch --page off it": (
        [*BATCH[:-2], "--page", "9", "--x", "1", "--y", "1"],
        "page",
    ),
    "sign batch --out-dir missing": ([*BATCH, "--out-dir", "no-such"], "out_dir"),
    "sign batch --level": ([*BATCH, "--level", "B-X"], "level"),
    "authorization grant --until": ([*GRANT, "--until", "next week"], "until"),
    "flow sign --client-ip": (
        ["flow", "sign", "--link", "http://x/sign/abc", *CHALLENGE, "--client-ip", "here"],
        "client_ip",
    ),
    "cert apply --algorithm": (
        ["cert", "apply", "--subscriber-id", "1", "--profile", "individual", "--platform-key"]
        + ["--algorithm", "rsa-1"],
        "algorithm",
    ),
    "cert apply --csr missing": (
        ["cert", "apply", "--subscriber-id", "1", "--profile", "individual", "--csr", "no.pem"],
        "csr",
    ),
}


def _env(home: Path) -> dict[str, str]:
    """The subprocess's environment: YINXIN_HOME and the CA passphrase; no YINXIN_SEAL_PIN or
    YINXIN_CODE (``yinxin_env`` passes no YINXIN_ variable of this process on)."""
    return yinxin_env(home)


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_command_line_is_refused_before_the_secrets(tmp_path: Path, case: str) -> None:
    work = tmp_path / "work"
    _kit(work)
    # the kit's a.ofd is closed by its signer (sealing refuses it); b.ofd takes a seal
    (work / "b.ofd").write_bytes(make_ofd([["技术服务合同", "甲方：", "乙方："]]))
    before = sorted(p.name for p in work.iterdir())
    args, field = CASES[case]
    proc = yinxin_cli([*args, "--json"], tmp_path / "home", check=False, cwd=work)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["field"] == field, proc.stdout
    assert "PIN" not in proc.stderr and "code" not in proc.stderr.lower(), proc.stderr
    assert sorted(p.name for p in work.iterdir()) == before  # nothing written
    # no platform built: no home, no database, no challenge (flow sign and cert apply made
    # the home's database before judging --client-ip, --algorithm or --csr)
    assert not (tmp_path / "home").exists()


def test_flow_sign_with_an_unknown_link_is_refused_before_the_secrets(tmp_path: Path) -> None:
    """``flow sign --link`` a link no flow has (mistyped, or its flow finished) asked for the
    seal PIN and the one-time code, then refused the link; the link is the document here, and
    is judged before the secrets: ``unknown_link`` naming ``link`` (exit 3), no PIN read."""
    proc = yinxin_cli(
        ["flow", "sign", "--link", "http://x/sign/abc", *CHALLENGE, "--json"],
        tmp_path / "home",
        check=False,
        cwd=tmp_path,
    )
    refusal = json.loads(proc.stdout)
    assert refusal["field"] == "link" and refusal["error"] == "unknown_link", proc.stdout
    assert proc.returncode == 3, proc.stdout + proc.stderr


def test_sign_pdf_over_its_input_at_a_terminal_is_refused_without_a_prompt(
    tmp_path: Path,
) -> None:
    """At a terminal the PIN was asked for (``Seal PIN:``), then the code, then ``--out``
    refused; now the refusal comes at once, and no prompt is shown."""
    work = tmp_path / "work"
    _kit(work)
    code, text = refused_at_a_terminal([*PDF, "--out", "a.pdf"], _env(tmp_path / "home"), work)
    assert code == 2, text
    assert "PIN" not in text and "--out a.pdf" in text, text
