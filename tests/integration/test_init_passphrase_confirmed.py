"""``yinxin init`` at a terminal asks for the new CA passphrase twice.

It asked once (``CA passphrase:``, hidden) and encrypted the five new CA keys under whatever
was typed: a slip of the finger made a CA — a root certificate that lasts twenty years —
whose keys open under a passphrase nobody knows, found out at the first revocation. Every
other prompt for a new secret asks again (``staff add``'s password, the web's PINs). A
passphrase given in ``YINXIN_CA_PASSPHRASE`` is taken as it is, as before.
"""

from __future__ import annotations

import re
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from tests.integration.server import ROOT, yinxin_env
from tests.integration.terminal import answered_at_a_terminal

FIRST = "the-new-ca-passphrase"
SLIP = "the-new-ca-passphrasf"
PROMPT = re.compile(rb"(passphrase|confirmation): ")


def _init_at_a_terminal(home: Path, answers: list[str]) -> tuple[int, str, int]:
    """``yinxin init`` at a terminal with no YINXIN_CA_PASSPHRASE, typing ``answers`` one at
    each hidden prompt; the exit code, everything printed and how many prompts came. A prompt
    after the answers are used up gets an end of input (^D), as an operator leaving it."""
    env = yinxin_env(home, None)
    return answered_at_a_terminal(["init"], env, str(ROOT), answers, PROMPT)


def _opens(home: Path, secret: str) -> bool:
    pem = (home / "keys" / "root-ca.key.pem").read_bytes()
    try:
        serialization.load_pem_private_key(pem, secret.encode())
    except ValueError:
        return False
    return True


def test_init_asks_the_new_passphrase_again_and_takes_no_slip(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, text, prompts = _init_at_a_terminal(home, [FIRST, SLIP, FIRST, FIRST])
    assert prompts == 4, f"asked {prompts} time(s): {text!r}"
    assert "do not match" in text, text
    assert code == 0 and "Initialised" in text, text
    assert FIRST not in text and SLIP not in text
    assert _opens(home, FIRST) and not _opens(home, SLIP)


def test_init_left_at_the_second_prompt_makes_nothing(tmp_path: Path) -> None:
    """Typed once and never confirmed (the operator walked away, or ^D): no CA is made, and
    the data directory this call would have made is not left behind."""
    home = tmp_path / "home"
    code, text, prompts = _init_at_a_terminal(home, [FIRST])
    assert prompts == 2, f"asked {prompts} time(s): {text!r}"
    assert code != 0, text
    assert not home.exists(), sorted(p.name for p in home.rglob("*"))
