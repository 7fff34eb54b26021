"""``yinxin demo`` on a data directory ``yinxin init`` made (the README's order: init, then the
demo) with no YINXIN_CA_PASSPHRASE.

The demo asked for nothing: it generated a passphrase of its own, kept it in
``.demo-passphrase`` and went on — the subscribers were registered and accepted the agreement,
then the first issuance refused "wrong CA passphrase" (exit 5). Each run left another
half-done round of demo subscribers and a kept passphrase that opened nothing. Now the CA's
key is opened first with its own passphrase: asked for once at a terminal (an existing
passphrase, as every other command asks it), refused without one (exit 7 naming
``passphrase``); a wrong one is refused (exit 5) with nothing written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.integration.server import ROOT, yinxin_cli, yinxin_env, yinxin_json
from tests.integration.terminal import answered_at_a_terminal

SECRET = "the-operators-ca-passphrase"
PROMPT = re.compile(rb"passphrase: ")


def _demo_at_a_terminal(home: Path, answer: str) -> tuple[int, str, int]:
    """``yinxin demo`` at a terminal with no YINXIN_CA_PASSPHRASE, typing ``answer`` at the
    first hidden prompt and an end of input (^D) at any other; the exit code, everything
    printed and how many prompts came."""
    env = yinxin_env(home, None)
    return answered_at_a_terminal(["demo"], env, str(ROOT), [answer], PROMPT, timeout=240)


def _subscribers(home: Path) -> list:
    return yinxin_json(["subscriber", "list"], home, passphrase=None)["items"]  # type: ignore[index]


def test_the_demo_on_a_ca_yinxin_init_made_asks_its_passphrase_first(tmp_path: Path) -> None:
    home = tmp_path / "home"
    yinxin_cli(["init"], home, passphrase=SECRET)
    kept = home / ".demo-passphrase"

    code, text, prompts = _demo_at_a_terminal(home, "not-the-passphrase")
    assert prompts == 1, f"asked {prompts} time(s): {text!r}"
    assert code == 5 and "wrong CA passphrase" in text, text
    assert _subscribers(home) == [] and not kept.exists()

    bare = yinxin_cli(["demo", "--json"], home, passphrase=None, check=False)
    assert bare.returncode == 7, bare.stdout + bare.stderr
    assert json.loads(bare.stdout)["field"] == "passphrase"
    assert "YINXIN_CA_PASSPHRASE" in json.loads(bare.stdout)["message"]
    assert _subscribers(home) == [] and not kept.exists()

    code, text, prompts = _demo_at_a_terminal(home, SECRET)
    assert prompts == 1, f"asked {prompts} time(s): {text!r}"
    assert code == 0 and "Demo finished" in text, text
    assert SECRET not in text and not kept.exists()
    assert _subscribers(home)  # its people, organization and device
