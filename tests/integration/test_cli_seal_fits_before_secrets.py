"""A seal placed off its page is refused before the seal PIN and the code are asked for.

Whether a seal placed by ``--page``/``--x``/``--y`` fits its page depends on the seal's size,
kept in the database: ``sign ses-pdf``, ``sign pdf`` and ``sign batch --challenge`` found a
seal running off the page only after the PIN and the code had been typed (the services check
it before the code, but the CLI asked for both first). They now read the seal's size before
asking (the platform's ``check_fits``, no PIN) and refuse naming the option typed: ``x`` or
``y`` for a position off the page (the one that runs the seal off it: ``x`` was named even
when only ``--y`` was wrong), ``page`` for a page the document has not, ``anchor`` for an anchor
text it does not hold (these two were named ``placement``, the services' name, an option no
one types). Exit 2, no prompt, nothing written.

The subprocesses get no PIN or code in the environment and nothing on standard input: a
command that reached the secrets is refused naming ``pin``; at a terminal it waits at the
``Seal PIN:`` prompt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.dbdump import dump
from tests.fixtures.samples import contract_pdf
from tests.integration.server import yinxin_cli, yinxin_env
from tests.integration.terminal import refused_at_a_terminal
from tests.integration.test_ofd_platform import World, w  # noqa: F401 - w: the fixture

OFF = ["--page", "1", "--x", "500", "--y", "10"]  # 500 mm from the left: off an A4 page
# 500 mm up from the bottom, 20 mm from the left: only --y is wrong (named x before)
OFF_Y = ["--page", "1", "--x", "20", "--y", "500"]
CHALLENGE = ["--challenge", "0" * 32]


def _args(verb: str, w: World, seal: str, signer: int, where: list[str]) -> list[str]:
    who = ["--seal", seal, "--signer", str(signer), *CHALLENGE, *where]
    if verb == "batch":
        return ["sign", "batch", "a.pdf", *who, "--out-dir", "."]
    return ["sign", verb, "--in", "a.pdf", "--out", "s.pdf", *who]


# verb, where, the option the refusal must name
CASES = {
    "ses-pdf off the page": ("ses-pdf", OFF, "x"),
    "ses-pdf --anchor not in it": ("ses-pdf", ["--anchor", "没有这段字"], "anchor"),
    "ses-pdf --page off it": ("ses-pdf", ["--page", "9", "--x", "1", "--y", "1"], "page"),
    "pdf off the page": ("pdf", OFF, "x"),
    "batch off the page": ("batch", OFF, "x"),
    "ses-pdf --y off the page": ("ses-pdf", OFF_Y, "y"),
    "pdf --y off the page": ("pdf", OFF_Y, "y"),
    "batch --y off the page": ("batch", OFF_Y, "y"),
}


def _env(w: World) -> dict[str, str]:
    """The subprocess's environment: the world's home and database; no YINXIN_SEAL_PIN or
    YINXIN_CODE (``yinxin_env`` passes no YINXIN_ variable of this process on)."""
    return yinxin_env(w.home, extra=_database(w))


def _database(w: World) -> dict[str, str]:
    """The world's database, for a subprocess."""
    return {"YINXIN_DATABASE_URL": w.p.settings.database_url}


def _work(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.pdf").write_bytes(contract_pdf(1))
    return work


@pytest.mark.parametrize("case", list(CASES))
def test_a_seal_off_its_page_is_refused_before_the_secrets(
    w: World,  # noqa: F811
    tmp_path: Path,
    case: str,
) -> None:
    verb, where, option = CASES[case]
    # an SM2 seal for the GB/T 38540 verb, an ECDSA one for PAdES
    who = w.zhang if verb == "ses-pdf" else w.li
    work = _work(tmp_path)
    records = dump(w.p)["signature_records"]
    proc = yinxin_cli(
        [*_args(verb, w, who.seal.es_id, who.subscriber_id, where), "--json"],
        w.home,
        env=_database(w),
        check=False,
        cwd=work,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["field"] == option, proc.stdout
    assert sorted(p.name for p in work.iterdir()) == ["a.pdf"]  # nothing written
    assert dump(w.p)["signature_records"] == records


def test_sign_ses_pdf_off_the_page_at_a_terminal_shows_no_prompt(
    w: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    """At a terminal ``Seal PIN:`` was shown, then the code asked for, then the seal refused
    (outside_page naming placement); now the refusal comes at once, naming --x."""
    work = _work(tmp_path)
    args = _args("ses-pdf", w, w.zhang.seal.es_id, w.zhang.subscriber_id, OFF)
    code, text = refused_at_a_terminal(args, _env(w), work)
    assert code == 2, text
    assert "PIN" not in text and "[x]" in text and "does not fit" in text, text
    assert sorted(p.name for p in work.iterdir()) == ["a.pdf"]
