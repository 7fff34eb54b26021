"""Throwaway SoftHSM2 tokens for tests, so HSM code paths run against a real PKCS#11 library.

SoftHSM2 finds its tokens through the file named by ``SOFTHSM2_CONF``, read at
``C_Initialize``. Each token here lives in its own temporary directory with its own config, so
tests never touch the system token directory and need no root. Test modules use the fixture with
``from tests.softhsm import softhsm_token``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest

MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)
DEFAULT_LABEL = "yinxin-test"
DEFAULT_PIN = "246810"
DEFAULT_SO_PIN = "13579111"


class SoftHsmToken(NamedTuple):
    """What a ``Pkcs11KeyStore`` needs; unpacks as ``module, token_label, pin``."""

    module: str
    token_label: str
    pin: str


def find_module() -> str | None:
    """The SoftHSM2 PKCS#11 library: ``$SOFTHSM2_MODULE`` if set, else the usual places."""
    configured = os.environ.get("SOFTHSM2_MODULE")
    if configured:
        return configured if os.path.isfile(configured) else None
    return next((p for p in MODULE_CANDIDATES if os.path.isfile(p)), None)


def unavailable_reason() -> str | None:
    """Why SoftHSM2 cannot be used here, or ``None`` when it can."""
    if shutil.which("softhsm2-util") is None:
        return "softhsm2-util is not installed (Debian: apt-get install softhsm2)"
    if find_module() is None:
        return "libsofthsm2.so not found (set SOFTHSM2_MODULE to its path)"
    return None


@contextmanager
def softhsm_token_in(
    directory: Path,
    label: str = DEFAULT_LABEL,
    pin: str = DEFAULT_PIN,
    so_pin: str = DEFAULT_SO_PIN,
) -> Iterator[SoftHsmToken]:
    """Initialise a fresh token under ``directory`` and point ``SOFTHSM2_CONF`` at it.

    The previous ``SOFTHSM2_CONF`` is restored on exit. Stores opened on the token must be
    closed before exit: the PKCS#11 library only rereads the config once nothing uses it.
    """
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    module = find_module()
    assert module is not None
    directory = Path(directory)
    tokens = directory / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
        "slots.removable = false\n"
    )
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    cmd = ["softhsm2-util", "--init-token", "--free", "--label", label]
    cmd += ["--so-pin", so_pin, "--pin", pin]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"softhsm2-util --init-token failed: {done.stderr.strip()}")
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    try:
        yield SoftHsmToken(module, label, pin)
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsmToken]:
    """One token for the whole test session; tests share it, so they use distinct key labels."""
    with softhsm_token_in(tmp_path_factory.mktemp("softhsm")) as token:
        yield token
