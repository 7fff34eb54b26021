#!/usr/bin/env python3
"""SM2 signing and verifying speed: ``yinxin.pki.sm2`` against ``openssl speed sm2``, side by side.

Run as ``.venv/bin/python bench/sm2.py [--rounds N] [--seconds S]`` (or ``bench/sm2.py``: it
re-executes itself with the repo's virtualenv). Each round runs ``openssl speed -mr -seconds S
sm2`` (the same libcrypto this process binds to) and then our ``SM2PrivateKey.sign`` /
``SM2PublicKey.verify`` for S seconds each, on the same work ``openssl speed`` does per
operation: a fresh digest-sign context with the default user ID and one 20-byte message, i.e.
Z_A, SM3 and the SM2 signature every time. Rounds alternate between the two so that load from
other processes on the machine falls on both alike; the figures are medians over the rounds and
the ratio ours / OpenSSL (target for signing: at least 0.90, issue 15 §5).

Two clocks, both reported: ``openssl speed`` divides by the CPU time it used (user time) unless
given ``-elapsed``, so "cpu" compares its default run with our process's CPU time over the same
loop (user + system: a little against us), and "wall" compares ``openssl speed -elapsed`` with
our wall time. On a machine that other work shares, wall-clock rates of both sides fall with the
load and swing from round to round; the CPU-time ratio is the one that measures the code.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PY = ROOT / ".venv" / "bin" / "python"

try:
    import yinxin  # noqa: F401
except ImportError:
    if VENV_PY.exists() and Path(sys.executable) != VENV_PY and not os.environ.get("YX_REEXEC"):
        os.environ["YX_REEXEC"] = "1"
        os.execv(str(VENV_PY), [str(VENV_PY), __file__, *sys.argv[1:]])
    raise

from yinxin.pki import sm2  # noqa: E402

MESSAGE = b"\x00" * 20  # openssl speed signs a 20-byte buffer
_MR_LINE = re.compile(r"^\+F7:\d+:256:[^:]*:([0-9.]+):([0-9.]+)$", re.M)


def openssl_rates(seconds: int, *, elapsed: bool) -> tuple[float, float]:
    """(sign/s, verify/s) from ``openssl speed -mr`` for SM2 over CurveSM2."""
    cmd = ["openssl", "speed", "-mr", "-seconds", str(seconds), "sm2"]
    if elapsed:
        cmd.insert(2, "-elapsed")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = _MR_LINE.search(out)
    if not m:
        raise SystemExit(f"no SM2 line in openssl speed output:\n{out}")
    return float(m.group(1)), float(m.group(2))


def rates(op, seconds: float) -> tuple[float, float]:
    """(per CPU second, per wall second) of ``op()`` run back to back for ``seconds``."""
    n = 0
    cpu0, start = time.process_time(), time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            op()
        n += 50
        now = time.perf_counter()
        if now >= deadline:
            return n / (time.process_time() - cpu0), n / (now - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=1)
    args = ap.parse_args()

    key = sm2.generate()
    public = key.public_key()
    signature = key.sign(MESSAGE)
    public.verify(signature, MESSAGE)  # the loop below times a verification that succeeds

    # series[(clock, op)] = ([ours…], [openssl…])
    series: dict[tuple[str, str], tuple[list[float], list[float]]] = {
        (c, o): ([], []) for c in ("cpu", "wall") for o in ("sign", "verify")
    }
    for i in range(args.rounds):
        for clock, elapsed in (("cpu", False), ("wall", True)):
            s, v = openssl_rates(args.seconds, elapsed=elapsed)
            series[clock, "sign"][1].append(s)
            series[clock, "verify"][1].append(v)
        for op, fn in (
            ("sign", lambda: key.sign(MESSAGE)),
            ("verify", lambda: public.verify(signature, MESSAGE)),
        ):
            cpu, wall = rates(fn, args.seconds)
            series["cpu", op][0].append(cpu)
            series["wall", op][0].append(wall)
        print(
            f"round {i + 1}: "
            + "  ".join(
                f"{o} {c} ours {series[c, o][0][-1]:7.1f} openssl {series[c, o][1][-1]:7.1f}"
                for c, o in series
            ),
            flush=True,
        )
    med = statistics.median
    print()
    print(f"{'SM2 (CurveSM2, SM3, default ID)':34} {'ours/s':>10} {'openssl/s':>10} {'ratio':>7}")
    for (clock, op), (ours, theirs) in series.items():
        label = f"{op} (per {clock} second)"
        print(f"{label:34} {med(ours):10.1f} {med(theirs):10.1f} {med(ours) / med(theirs):7.3f}")
    version = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout
    load = os.getloadavg()[0]
    print(
        f"medians of {args.rounds} rounds of {args.seconds} s; {version.strip()}; "
        f"{os.cpu_count()} CPUs, load average {load:.2f}"
    )


if __name__ == "__main__":
    main()
