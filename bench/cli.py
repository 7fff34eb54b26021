#!/usr/bin/env python3
"""Time the ``yinxin`` command's start-up: a verb that opens the database, against its peers.

Run as ``.venv/bin/python bench/cli.py [--rounds 9] [--home DIR]``. A data directory is made
once with ``yinxin init`` (a throwaway passphrase) unless ``--home`` names an initialised one.
Then, in each round and in the same order, every command runs once as a fresh process:

  * ``python -c pass`` — the interpreter's own start, the floor;
  * ``yinxin --help`` — Typer, rich and every command module, no service;
  * ``yinxin subscriber list``, ``audit verify``, ``seal list``, ``cert list`` — the issue-10
    "simple verb": settings, the SQLite database opened, one query, a rendered answer.

Rounds interleave the commands, so a neighbour's burst of load falls on all of them alike (the
machine is shared and noisy). Printed: the median and the fastest wall time of each command,
its median CPU time (user + system of the child, from ``wait4``, which load moves far less),
and each verb's median against ``--help`` and against ``python -c pass``. ``--rev`` adds a
second checkout (a ``git worktree`` of REV) run alternately in the same rounds, for before/after.

Runs are timed as a user's: each tree (and the virtualenv) is byte-compiled first and the
children run without ``PYTHONDONTWRITEBYTECODE``, so they load cached byte-code instead of
compiling every changed module on each start (a shell with that variable set would otherwise
time the compiler). The output says so.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv" / "bin" / "python"
VERBS = [["subscriber", "list"], ["audit", "verify"], ["seal", "list"], ["cert", "list"]]


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run; a failing command is an error, not a figure."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err}")
    return wall, usage.ru_utime + usage.ru_stime


def compile_tree(src: Path) -> None:
    """Byte-compile ``src`` and the virtualenv's packages, as an installed package has them
    (a few third-party files that are not Python 3, such as templates, may fail: ignored)."""
    if not compileall.compile_dir(src, quiet=1, workers=0):
        raise SystemExit(f"byte-compiling {src} failed")
    for site in (ROOT / ".venv" / "lib").glob("python3*/site-packages"):
        compileall.compile_dir(site, quiet=2, workers=0)


def command(args: list[str]) -> list[str]:
    """``yinxin ARGS`` as the console script runs it (``PYTHONPATH`` picks the tree)."""
    return [str(PY), "-c", "from yinxin.adapters.cli import main; main()", *args]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--home", type=Path, help="an initialised data directory (default: make one)")
    ap.add_argument("--rev", help="also time this git revision (a worktree), alternately")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="yinxin-bench-cli-"))
    env = dict(os.environ, YINXIN_CA_PASSPHRASE="bench-cli-passphrase", NO_COLOR="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's run reads and keeps byte-code caches
    home = args.home or tmp / "home"
    env["YINXIN_HOME"] = str(home)
    trees = {"ours": ROOT / "src"}
    try:
        if args.rev:
            wt = tmp / "rev"
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(wt), args.rev],
                check=True,
                capture_output=True,
            )
            trees = {f"rev {args.rev}": wt / "src", "ours": ROOT / "src"}
        for src in trees.values():
            compile_tree(src)
        if not args.home:
            e = dict(env, PYTHONPATH=str(ROOT / "src"))
            run_once(command(["init"]), e)

        cases: list[tuple[str, str, list[str]]] = [("-", "python -c pass", [str(PY), "-c", "pass"])]
        for label in trees:
            cases.append((label, "yinxin --help", command(["--help"])))
            for verb in VERBS:
                cases.append((label, "yinxin " + " ".join(verb), command(verb)))
        walls: dict[int, list[float]] = {i: [] for i in range(len(cases))}
        cpus: dict[int, list[float]] = {i: [] for i in range(len(cases))}
        for _ in range(args.rounds):
            for i, (label, _name, argv) in enumerate(cases):
                src = trees.get(label, ROOT / "src")
                w, c = run_once(argv, dict(env, PYTHONPATH=str(src)))
                walls[i].append(w)
                cpus[i].append(c)

        med = {i: statistics.median(walls[i]) for i in walls}
        load = os.getloadavg()[0]
        print(f"{args.rounds} interleaved rounds, load average {load:.1f}, {os.cpu_count()} cores")
        print("byte-code compiled first; children run without PYTHONDONTWRITEBYTECODE")
        print(
            f"{'tree':<14} {'command':<26} {'wall median':>11} {'fastest':>8} {'CPU median':>10}"
            f" {'÷ --help':>8} {'÷ pass':>7}"
        )
        helps = {label: i for i, (label, name, _) in enumerate(cases) if name == "yinxin --help"}
        for i, (label, name, _) in enumerate(cases):
            ratio_help = med[i] / med[helps[label]] if label in helps else float("nan")
            print(
                f"{label:<14} {name:<26} {med[i] * 1000:>9.0f}ms {min(walls[i]) * 1000:>6.0f}ms"
                f" {statistics.median(cpus[i]) * 1000:>8.0f}ms {ratio_help:>7.2f}×"
                f" {med[i] / med[0]:>6.2f}×"
            )
    finally:
        if args.rev:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp / "rev")],
                capture_output=True,
            )
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if not PY.exists():
        sys.exit(f"no virtualenv at {PY}: run scripts/setup.sh")
    main()
