"""An output that cannot be written is refused before the work, not after it.

``sign local`` and ``ofd sign`` read the key, signed — asking the TSA for a timestamp with
``--tsa-url`` — and only then found that ``--out`` named a folder that does not exist, or a
folder: the signature and the timestamp request were spent for an error. Each now checks
``--out`` first (``writable``, as ``sign pdf`` does before the code is used up): exit 2 naming
``out``, nothing written, no timestamp asked for."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests import dbdump
from tests.conftest import cli_env
from tests.fixtures.samples import contract_pdf
from tests.fixtures.ses_world import make_world
from tests.integration.test_cli_out_over_input import _kit
from yinxin.adapters.cli import app as cli_app
from yinxin.app import Platform
from yinxin.ofd.make import make_ofd

TSA = ["--tsa-url", "http://127.0.0.1:9/tsa"]
LOCAL = ["sign", "local", "--in", "a.pdf", "--key", "key.pem", "--cert", "cert.pem", *TSA]
OFD_SIGN = ["ofd", "sign", "--in", "doc.ofd", "--seal", "a.esl", "--key", "a.key"]
OFD_SIGN += ["--cert", "a.der", "--anchor", "乙方（签章）", *TSA]
COMMANDS = {"sign local": LOCAL, "ofd sign": OFD_SIGN}
# a folder that does not exist; a folder (here and elsewhere)
TARGETS = {"missing folder": "no-such-folder/out", "folder": "sub", "this folder": "."}


def _ofd_kit(work: Path) -> None:
    """An OFD with the anchor, and party A's real SESeal, SM2 key and certificate: ``ofd sign``
    gets as far as writing."""
    party = make_world(dt.datetime.now(dt.UTC)).party_a
    (work / "doc.ofd").write_bytes(make_ofd([["技术服务合同", "", "乙方（签章）："]]))
    (work / "a.esl").write_bytes(party.seal)
    (work / "a.key").write_bytes(party.key.private_bytes_pkcs8(None))
    (work / "a.der").write_bytes(party.cert)


def _files(work: Path) -> dict[str, bytes | str | None]:
    return {
        str(x.relative_to(work)): os.readlink(x)
        if x.is_symlink()
        else None
        if x.is_dir()
        else x.read_bytes()
        for x in work.rglob("*")
    }


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_unwritable_out_is_refused_before_signing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, target: str
) -> None:
    work = tmp_path / "work"
    _kit(work)
    _ofd_kit(work)
    (work / "sub").mkdir()
    monkeypatch.chdir(work)
    asked: list[bytes] = []

    def tsa(self, request_der: bytes) -> bytes:  # the TSA is never reached: no request sent
        asked.append(request_der)
        raise AssertionError("a timestamp was asked for")

    monkeypatch.setattr("yinxin.pdf.timestamps.HttpTimestamper.__call__", tsa)
    files = _files(work)
    out = TARGETS[target]
    res = CliRunner().invoke(cli_app, [*COMMANDS[command], "--out", out, "--json"])
    assert res.exit_code == 2, res.output
    err = json.loads(res.stdout)
    assert err["field"] == "out", err
    assert asked == []
    assert _files(work) == files  # nothing written, nothing left behind


def test_the_ofd_kit_signs_when_out_is_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refusals above are of --out, not of a kit that could not be signed with."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.pdf").write_bytes(contract_pdf(1))
    _ofd_kit(work)
    monkeypatch.chdir(work)
    args = [a for a in OFD_SIGN if a not in TSA]
    res = CliRunner().invoke(cli_app, [*args, "--out", "s.ofd", "--json"])
    assert res.exit_code == 0, res.output
    assert (work / "s.ofd").exists()


@pytest.mark.parametrize("run", ["first", "second"])
def test_sign_batch_refuses_an_output_that_is_a_hard_link_to_an_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: str
) -> None:
    """``sign batch x.pdf y.pdf`` with y.pdf a hard link of x-signed.pdf: x's signed file was
    to go over the second input, by another name. Outputs were compared with the inputs by
    resolved path, which a hard link escapes; now by the rule of every other ``--out``
    (``not_the_input``: the same file), both runs refusing it naming files[0] and files[1]."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "x.pdf").write_bytes(contract_pdf(1))
    (work / "x-signed.pdf").write_bytes(contract_pdf(1, title="另一份合同"))
    os.link(work / "x-signed.pdf", work / "y.pdf")
    monkeypatch.chdir(work)
    files = _files(work)
    args = ["sign", "batch", "x.pdf", "y.pdf", "--seal", "1", "--signer", "1"]
    args += ["--anchor", "乙方（签章）", "--json"]
    args += ["--challenge", "0" * 32] if run == "second" else []
    env = {"YINXIN_SEAL_PIN": "123456", "YINXIN_CODE": "123456", "YINXIN_HOME": str(tmp_path)}
    res = CliRunner().invoke(cli_app, args, env=env)
    assert res.exit_code == 2, res.output
    err = json.loads(res.stdout)
    assert err["field"] == "files[0]" and "files[1]" in err["message"], err
    assert _files(work) == files


@pytest.mark.parametrize("target", ["no-such-folder/doc.pdf", "."])
def test_archive_export_refuses_an_unwritable_out_before_reading_the_document(
    platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    """``archive export`` read the kept document (and checked its hash) before finding that
    --out could not be written; ``flow download`` and ``contract pdf`` check --out first. Now it
    does too: a bad --out is refused naming it, whatever the document (here: none)."""
    monkeypatch.chdir(tmp_path)
    env = cli_env(platform)
    before = dbdump.dump(platform)
    res = CliRunner().invoke(
        cli_app, ["archive", "export", "999", "--out", target, "--json"], env=env
    )
    assert res.exit_code == 2, res.output
    assert json.loads(res.stdout)["field"] == "out", res.stdout
    assert not (tmp_path / "no-such-folder").exists()
    assert dbdump.dump(platform) == before
