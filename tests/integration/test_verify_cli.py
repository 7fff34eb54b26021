"""``yinxin verify`` exit codes and side effects as a relying party meets them (issue 9, item 12).

Exit 0 means every signature is VALID and 1 means the verdict is INVALID, so nothing else may
exit 1: an unreadable or malformed ``--trust`` file or a ``--report`` that cannot be written is
invalid input (exit 2, the field named, no traceback). And a relying party with only
``--trust root.pem`` on a bare machine must not find a data directory (``./var/yinxin.db``)
created by reading a PDF. Each case runs the installed command in a subprocess, in a temporary
working directory, with no ``YINXIN_*`` variable unless the case is about the platform's home.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.clock import START
from tests.fixtures.samples import contract_pdf
from tests.integration import pdf_factory as f
from tests.integration.server import ROOT
from tests.integration.signing_flow import build_world, flip_signed_byte, new_platform, sign_as
from yinxin.clock import FrozenClock

YINXIN = ROOT / ".venv" / "bin" / "yinxin"


@dataclass
class Signed:
    home: Path  # the platform's data directory (a CA, the signers)
    pdf: Path
    tampered: Path
    root_pem: bytes
    at: str  # --at: the platform's frozen clock runs ahead of the real one while signing


@pytest.fixture(scope="module")
def signed(tmp_path_factory) -> Iterator[Signed]:
    home = tmp_path_factory.mktemp("verify-cli-home")
    clock = FrozenClock(START)
    p = new_platform(home, clock)
    w = build_world(p, clock)
    pdf = sign_as(w, w.jia, contract_pdf(1, title="技术服务合同")).pdf
    files = tmp_path_factory.mktemp("verify-cli-files")
    (files / "signed.pdf").write_bytes(pdf)
    (files / "tampered.pdf").write_bytes(flip_signed_byte(pdf)[0])
    yield Signed(
        home,
        files / "signed.pdf",
        files / "tampered.pdf",
        p.ca.certificate("root").public_bytes(serialization.Encoding.PEM),
        (clock.now() + dt.timedelta(minutes=1)).isoformat(),
    )
    p.close()


def verify(cwd: Path, *args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YINXIN_")}
    env["PYTHONPATH"] = os.environ.get("FUZZ_SRC", str(ROOT / "src"))
    if home is not None:
        env["YINXIN_HOME"] = str(home)
    cmd = [str(YINXIN)] if YINXIN.exists() else [sys.executable, "-m", "yinxin.adapters.cli"]
    return subprocess.run(
        [*cmd, "verify", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def refused(proc: subprocess.CompletedProcess[str], field: str) -> dict:
    """Exit 2 with a JSON error naming ``field``, and no traceback anywhere."""
    assert proc.returncode == 2, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    err = json.loads(proc.stdout)
    assert err["error"] == "invalid" and err["field"] == field, err
    return err


@pytest.fixture
def bare(tmp_path, signed) -> Path:
    """A relying party's working directory: the root certificate and nothing else."""
    d = tmp_path / "relying-party"
    d.mkdir()
    (d / "root.pem").write_bytes(signed.root_pem)
    return d


def test_a_relying_party_with_trust_creates_nothing(bare, signed):
    ok = verify(bare, str(signed.pdf), "--trust", "root.pem", "--at", signed.at, "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["valid"] is True
    bad = verify(bare, str(signed.tampered), "--trust", "root.pem", "--at", signed.at)
    assert bad.returncode == 1 and "INVALID" in bad.stdout, bad.stdout + bad.stderr
    with_report = verify(
        bare, str(signed.pdf), "--trust", "root.pem", "--at", signed.at, "--report", "report.pdf"
    )
    assert with_report.returncode == 0, with_report.stderr
    assert (bare / "report.pdf").read_bytes().startswith(b"%PDF-")
    # no anchor at all: invalid input naming --trust, and still nothing created
    refused(verify(bare, str(signed.pdf), "--json"), "trust")
    assert sorted(p.name for p in bare.iterdir()) == ["report.pdf", "root.pem"]


def test_the_platform_home_still_supplies_its_own_root(tmp_path, signed):
    """Where the CA is initialised, no --trust is needed (the platform path is kept)."""
    proc = verify(tmp_path, str(signed.pdf), "--at", signed.at, "--json", home=signed.home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["valid"] is True


@pytest.mark.parametrize(
    "content",
    [
        b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        b"-----BEGIN CERTIFICATE-----\n!!!! not base64 !!!!\n-----END CERTIFICATE-----\n",
        b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
        b"\x30\x82\x01\x00garbage",
        b"",
    ],
    ids=["bad-der-in-pem", "bad-base64", "no-certificate", "bad-der", "empty"],
)
def test_a_malformed_trust_file_is_invalid_input(bare, signed, content):
    (bare / "bad.pem").write_bytes(content)
    refused(verify(bare, str(signed.pdf), "--trust", "bad.pem", "--json"), "trust")
    text = verify(bare, str(signed.pdf), "--trust", "bad.pem")
    assert text.returncode == 2 and "Traceback" not in text.stderr, text.stderr
    assert "[trust]" in text.stderr and "bad.pem" in text.stderr, text.stderr


def test_a_missing_trust_file_is_invalid_input(bare, signed):
    err = refused(verify(bare, str(signed.pdf), "--trust", "nowhere.pem", "--json"), "trust")
    assert "nowhere.pem" in err["message"]


def test_an_endless_trust_file_is_refused_after_the_bound(bare, signed):
    """``--trust`` was read whole: ``--trust /dev/zero`` (or a disk image named by mistake) read
    on until memory ran out, a MemoryError traceback, exit 1 — the INVALID verdict's code. Now
    it is read to a certificate bundle's bound, as ``ofd verify --trust`` is, and refused
    naming trust, exit 2; nothing created."""
    for files in ([signed.pdf], [signed.pdf, signed.pdf]):
        args = [*map(str, files), "--trust", "/dev/zero", "--at", signed.at, "--json"]
        err = refused(verify(bare, *args), "trust")
        assert "/dev/zero is larger than 50 MB" in err["message"], err
    text = verify(bare, str(signed.pdf), "--trust", "/dev/zero")
    assert text.stderr.startswith("error [trust]: /dev/zero is larger"), text.stderr
    assert sorted(p.name for p in bare.iterdir()) == ["root.pem"]


def test_a_missing_or_malformed_crl_is_invalid_input_beside_a_pades_file(bare, signed):
    """``--crl`` is read whatever the file is: beside one PAdES PDF it was ignored (exit 0),
    beside two it was refused."""
    (bare / "junk.crl").write_bytes(b"not a CRL")
    for crl in ("nowhere.crl", "junk.crl"):
        for files in ([signed.pdf], [signed.pdf, signed.pdf]):
            args = [*map(str, files), "--trust", "root.pem", "--at", signed.at, "--crl", crl]
            err = refused(verify(bare, *args, "--json"), "crl")
            assert crl in err["message"]


def test_an_unwritable_report_is_invalid_input(bare, signed):
    for target in ("no-such-folder/report.pdf", "."):  # a missing folder; a folder
        refused(
            verify(
                bare,
                str(signed.pdf),
                "--trust",
                "root.pem",
                "--at",
                signed.at,
                "--report",
                target,
                "--json",
            ),
            "report",
        )
    # a refused report leaves no partial file behind
    assert sorted(p.name for p in bare.iterdir()) == ["root.pem"]


def test_many_files_in_one_call(bare, signed):
    """One line per file (a JSON list with --json), exit code of the worst file, nothing
    created; a file that cannot be read is an error for that file (exit 2), not a crash."""
    args = ("--trust", "root.pem", "--at", signed.at)
    both = verify(bare, str(signed.pdf), str(signed.pdf), *args)
    assert both.returncode == 0, both.stdout + both.stderr
    assert both.stdout.count("VALID ") == 2 and "2/2" in both.stdout, both.stdout
    mixed = verify(bare, str(signed.pdf), str(signed.tampered), *args, "--json")
    assert mixed.returncode == 1, mixed.stdout + mixed.stderr
    reports = json.loads(mixed.stdout)
    assert [r["valid"] for r in reports] == [True, False]
    assert [r["file_name"] for r in reports] == ["signed.pdf", "tampered.pdf"]
    # the same verdicts as one file at a time
    alone = json.loads(verify(bare, str(signed.tampered), *args, "--json").stdout)
    assert reports[1] == alone
    missing = verify(bare, str(signed.pdf), "nowhere.pdf", str(signed.tampered), *args, "--json")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr, missing.stderr
    out = json.loads(missing.stdout)
    assert out[1]["error"] == "invalid" and out[1]["field"] == "in"
    assert [out[0]["valid"], out[2]["valid"]] == [True, False]
    # a bad trust file is still refused before any work, and --report wants one file
    (bare / "bad.pem").write_bytes(b"garbage")
    refused(verify(bare, str(signed.pdf), str(signed.pdf), "--trust", "bad.pem", "--json"), "trust")
    refused(
        verify(bare, str(signed.pdf), str(signed.pdf), *args, "--report", "r.pdf", "--json"),
        "report",
    )
    assert sorted(p.name for p in bare.iterdir()) == ["bad.pem", "root.pem"]


def test_an_endless_file_among_many_is_an_error_for_that_file(bare, signed):
    """One file is read to a document's bound (50 MB), many were read whole: ``verify a.pdf
    /dev/zero b.pdf`` read on until memory ran out (a MemoryError traceback, exit 1, no line
    for any file). Now that file is an error of its own naming ``in``, exit 2, the others
    verified; in this process and in the workers alike."""
    args = ("--trust", "root.pem", "--at", signed.at, "--json")
    for jobs in ("1", "2"):
        files = (str(signed.pdf), "/dev/zero", str(signed.tampered))
        proc = verify(bare, *files, *args, "--jobs", jobs)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        out = json.loads(proc.stdout)
        assert (out[1]["error"], out[1]["field"]) == ("invalid", "in"), out[1]
        assert "/dev/zero is larger than 50 MB" in out[1]["message"], out[1]
        assert [out[0]["valid"], out[2]["valid"]] == [True, False], jobs
    assert sorted(p.name for p in bare.iterdir()) == ["root.pem"]


def test_indeterminate_is_said_apart_from_invalid(bare, signed):
    """Trusting another root, the intact contract cannot be shown good (无法确定) while the
    tampered one is invalid whatever the root: a line each, the count, exit 1 for both, and
    ``indication`` in the JSON."""
    other = f.build_pki("Another Root CA", tag="-other").root
    (bare / "other.pem").write_bytes(other.public_bytes(serialization.Encoding.PEM))
    args = ("--trust", "other.pem", "--at", signed.at)
    one = verify(bare, str(signed.pdf), *args)
    assert one.returncode == 1, one.stdout + one.stderr
    assert one.stdout.rstrip().endswith("结论 / Verdict: 无法确定 / INDETERMINATE"), one.stdout
    both = verify(bare, str(signed.pdf), str(signed.tampered), *args)
    assert both.returncode == 1, both.stdout + both.stderr
    lines = both.stdout.splitlines()
    assert lines[0].startswith("INDETERMINATE signed.pdf (1 signature): "), lines
    assert lines[1].startswith("INVALID       tampered.pdf (1 signature): "), lines
    assert lines[2] == "0/2 有效 / valid，1 无法确定 / indeterminate", lines
    reports = json.loads(
        verify(bare, str(signed.pdf), str(signed.tampered), *args, "--json").stdout
    )
    assert [r["indication"] for r in reports] == ["INDETERMINATE", "TOTAL-FAILED"]
    assert [r["signatures"][0]["indication"] for r in reports] == ["INDETERMINATE", "TOTAL-FAILED"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_files_of_the_same_name_are_told_apart_by_their_path(bare, signed, jobs):
    """``yinxin verify 2023/contract.pdf 2024/contract.pdf`` printed two lines both reading
    contract.pdf (and two JSON reports with that file_name), so which one was INVALID could
    not be told. A name another file of the call shares is now the path as typed; a name of
    its own stays the name, by this process or the workers alike."""
    for year, source in (("2023", signed.pdf), ("2024", signed.tampered)):
        (bare / year).mkdir()
        (bare / year / "contract.pdf").write_bytes(source.read_bytes())
    args = ("--trust", "root.pem", "--at", signed.at, "-j", jobs)
    typed = ["2023/contract.pdf", "2024/contract.pdf", str(signed.pdf)]
    proc = verify(bare, *typed, *args)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("VALID         2023/contract.pdf (1 signature)"), lines
    assert lines[1].startswith("INVALID       2024/contract.pdf (1 signature): "), lines
    assert lines[2].startswith("VALID         signed.pdf (1 signature)"), lines
    reports = json.loads(verify(bare, *typed, *args, "--json").stdout)
    assert [r["file_name"] for r in reports] == [*typed[:2], "signed.pdf"]
    assert [r["valid"] for r in reports] == [True, False, True]


def test_many_files_with_the_platform_home(tmp_path, signed):
    proc = verify(tmp_path, str(signed.pdf), str(signed.pdf), "--at", signed.at, home=signed.home)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_moment_no_zone_can_turn_to_utc_is_invalid_input(bare, signed):
    """``--at 0001-01-01T00:00:00+14:00`` is ISO 8601 but before the first moment Python holds
    in UTC: writing the report's 验证时间 crashed with a traceback (exit 1), and the JSON
    verdict judged the signature TOTAL-FAILED "at" it."""
    for moment in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        args = [str(signed.pdf), "--trust", "root.pem", "--at", moment]
        err = refused(verify(bare, *args, "--report", "report.pdf", "--json"), "at")
        assert "1000-01-01T00:00:00Z" in err["message"]
    assert sorted(p.name for p in bare.iterdir()) == ["root.pem"]


def test_a_moment_without_a_zone_is_refused_naming_at(bare, signed):
    """``--at 2031-06-01T00:00`` (or a bare date) was read as UTC without a word: typed by a
    relying party in Beijing, eight hours off the moment meant — across a timestamp's time, a
    different verdict. ``POST /verify`` and ``desk --at`` refuse a time without its zone; so
    does ``verify --at`` now: exit 2 naming at, with the zone to add, nothing written."""
    naive = dt.datetime.fromisoformat(signed.at).replace(tzinfo=None, second=0, microsecond=0)
    for moment, shown in (
        (naive.isoformat(timespec="minutes"), naive.isoformat(timespec="minutes")),
        (naive.date().isoformat(), f"{naive.date().isoformat()}T00:00"),
    ):
        args = [str(signed.pdf), "--trust", "root.pem", "--at", moment]
        err = refused(verify(bare, *args, "--report", "report.pdf", "--json"), "at")
        assert "no time zone" in err["message"], err
        assert f"{shown}Z" in err["message"] and f"{shown}+08:00" in err["message"], err
    assert sorted(p.name for p in bare.iterdir()) == ["root.pem"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_file_past_the_bound_is_refused_in_many_files_as_alone(bare, signed, jobs):
    """One file over 50 MB is refused naming ``in`` (exit 2, one byte past the bound read);
    beside another it was read whole — ``yinxin verify /dev/zero a.pdf`` read until memory
    ran out — and judged. Now it is that file's error, the others still judged, by this
    process or the workers alike."""
    from yinxin.adapters.cli.common import MAX_DOCUMENT_INPUT

    big = bare / "big.pdf"
    with big.open("wb") as out:  # sparse: no 50 MB written
        out.write(b"%PDF-1.7\n")
        out.truncate(MAX_DOCUMENT_INPUT + 1)
    args = ("--trust", "root.pem", "--at", signed.at, "--json", "-j", jobs)
    alone = refused(verify(bare, str(big), *args), "in")
    assert "larger than 50 MB" in alone["message"]
    many = verify(bare, str(big), str(signed.pdf), *args)
    assert many.returncode == 2 and "Traceback" not in many.stderr, many.stdout + many.stderr
    first, second = json.loads(many.stdout)
    assert first["field"] == "in" and "larger than 50 MB" in first["message"], first
    assert first["file_name"] == "big.pdf" and second["valid"] is True


def test_the_report_is_never_written_over_the_file_verified(bare, signed):
    """``--report contract.pdf`` beside ``contract.pdf`` replaced the signed contract with its
    report (exit 0): the relying party lost the evidence it was checking. Refused naming
    ``report`` before any work, under the same name, another spelling or a symbolic link."""
    contract = bare / "contract.pdf"
    contract.write_bytes(signed.pdf.read_bytes())
    (bare / "link.pdf").symlink_to(contract)
    args = ("--trust", "root.pem", "--at", signed.at, "--json")
    for target in ("contract.pdf", "./contract.pdf", str(contract), "link.pdf"):
        err = refused(verify(bare, "contract.pdf", *args, "--report", target), "report")
        assert "contract.pdf" in err["message"], err
        assert contract.read_bytes() == signed.pdf.read_bytes(), target
    assert sorted(p.name for p in bare.iterdir()) == ["contract.pdf", "link.pdf", "root.pem"]


def test_a_bad_policy_is_refused_whatever_the_file(bare, signed):
    """``--policy`` was looked at only by the PAdES verifier: beside one OFD ``--policy
    strcit`` printed the verdict (exit 1) while beside two it was refused. Now it is refused
    naming policy, exit 2, with one file or many, OFD or PDF."""
    from yinxin.adapters.cli.verify import POLICIES as CLI_POLICIES
    from yinxin.pdf.verify import POLICIES

    assert CLI_POLICIES == POLICIES
    ofd = ROOT / "tests" / "fixtures" / "ofd" / "ofdrw-V4RideRight.ofd"
    for files in ([ofd], [ofd, ofd], [signed.pdf]):
        args = [*map(str, files), "--trust", "root.pem", "--policy", "strcit", "--json"]
        err = refused(verify(bare, *args), "policy")
        assert err["message"] == "policy must be one of last-known, strict", err
    assert sorted(p.name for p in bare.iterdir()) == ["root.pem"]
