"""Running ``yinxin`` at a terminal that types nothing: a command that must refuse before any
secret is asked ends at once; one that asks waits at its prompt, which is the defect."""

from __future__ import annotations

import fcntl
import os
import pty
import subprocess
import sys
import termios
from pathlib import Path


def yinxin_at(
    slave: int, args: list[str], env: dict[str, str], cwd: Path | str | None, *, pipes=False
) -> subprocess.Popen:
    """``yinxin ARGS`` started with the terminal ``slave`` (of ``pty.openpty()``) as its
    standard input and controlling terminal, so that it may prompt as it would for an operator;
    its output goes to that terminal too, or to pipes read apart (``pipes``)."""
    out = subprocess.PIPE if pipes else slave
    return subprocess.Popen(
        [sys.executable, "-m", "yinxin.adapters.cli", *args],
        env=env,
        stdin=slave,
        stdout=out,
        stderr=out,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )


def refused_at_a_terminal(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """``yinxin ARGS`` with a terminal as its standard input (and controlling terminal) on
    which nothing is typed; the exit code and everything printed. A prompt (``Seal PIN:``)
    would wait there: after 30 s the process is killed and the test fails, saying so."""
    master, slave = pty.openpty()
    try:
        proc = yinxin_at(slave, args, env, cwd, pipes=True)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # waiting at the prompt for a PIN never typed
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"it waited for a secret: {err.decode()!r}") from None
    finally:
        os.close(master)
        os.close(slave)
    return proc.returncode, (out + err).decode()
