"""What a command imports says nothing on stderr of its own.

cryptography 51 (what a fresh ``make setup`` installs) deprecates DSA and warns on importing its
DSA module, which pyHanko's signer imports at its top: every ``yinxin sign …`` or ``verify``
printed "CryptographyDeprecationWarning: DSA is deprecated …" and the source line before its
own answer, so the first line of stderr was no longer the error line. The platform signs with
no DSA key; the warning is silenced where the package is imported, as the long-name one is.
"""

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module",
    ["pyhanko.sign.signers.pdf_cms", "yinxin.pdf.sign", "yinxin.pdf.verify"],
)
def test_importing_the_signing_engine_prints_no_warning(module: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    # as a command starts: the package first, then what the verb needs
    run = subprocess.run(
        [sys.executable, "-c", f"import yinxin, {module}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == "", run.stderr
