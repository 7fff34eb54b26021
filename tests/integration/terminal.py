"""Running ``yinxin`` at a terminal that types nothing: a command that must refuse before any
secret is asked ends at once; one that asks waits at its prompt, which is the defect."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import subprocess
import sys
import termios
import time
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


def answered_at_a_terminal(
    args: list[str],
    env: dict[str, str],
    cwd: Path | str | None,
    answers: list[str],
    prompt: re.Pattern[bytes],
    timeout: float = 60,
) -> tuple[int, str, int]:
    """``yinxin ARGS`` at a terminal, ``answers`` typed one at each hidden prompt (``prompt``
    printed, echo off) and an end of input (^D) at any prompt after them, as an operator
    leaving it; the exit code, everything printed and how many prompts came."""
    master, slave = pty.openpty()
    seen, typed = b"", 0
    try:
        proc = yinxin_at(slave, args, env, cwd)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
            prompts = len(prompt.findall(seen))
            if prompts > typed and not termios.tcgetattr(slave)[3] & termios.ECHO:
                answer = answers[typed].encode() + b"\n" if typed < len(answers) else b"\x04"
                os.write(master, answer)
                typed += 1
            elif proc.poll() is not None and not ready:
                break
        else:
            proc.kill()
        code = proc.wait(timeout=30)
    finally:
        os.close(master)
        os.close(slave)
    return code, seen.decode(errors="replace"), len(prompt.findall(seen))
