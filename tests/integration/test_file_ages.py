"""The clean-ups that judge a file by its age (``Archive.sweep``, ``SealFiles.repair``) measure
it by the file system's clock, which writes the mtimes, not by the process clock: the two differ
in a container with a shifted clock, on a network file system, and under ``faketime``. Before,
with the process clock ahead every file looked old (a file being written right now was swept
as stale) and with it behind none did."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from yinxin.app import Platform

PDF = b"%PDF-1.7\n" + "合同 正文".encode() * 50
SHIFT = 400 * 86400.0  # faketime -f '+400d'


@contextmanager
def process_clock(shift: float) -> Iterator[None]:
    """The process clock ``shift`` seconds off the file system's (which the kernel keeps)."""
    with pytest.MonkeyPatch.context() as m:
        real = time.time
        m.setattr(time, "time", lambda: real() + shift)
        yield


def aged(path: Path, seconds: float) -> None:
    """Set ``path``'s mtime ``seconds`` before the file system's now: its own mtime, just
    written by the kernel (``os.utime(path, None)`` would take the process clock's under
    faketime)."""
    t = path.stat().st_mtime - seconds
    os.utime(path, (t, t))


@pytest.mark.parametrize("shift", [SHIFT, -SHIFT], ids=["ahead", "behind"])
def test_the_archive_sweep_judges_age_by_the_file_system(platform: Platform, shift) -> None:
    """An unreferenced file just written (a signing whose commit is on its way) is kept and
    one two hours old is removed, whichever way the process clock is off. Before, with the
    clock ahead both were swept, with it behind neither."""
    store = platform.archive.files
    fresh = store.put(PDF)
    old = store.put(PDF + b"%%EOF\n")
    aged(store.root / old[:2] / f"{old}.pdf", 2 * 3600)
    with process_clock(shift):
        assert platform.archive.sweep(older_than=dt.timedelta(hours=1)) == 1
    assert [k for k, _ in store.keys()] == [fresh]
    # no marker left, nor the swept file's folder, empty now (fresh's is another: a1, ae)
    assert {p.name for p in store.root.iterdir()} == {fresh[:2]}


@pytest.mark.parametrize("shift", [SHIFT, -SHIFT], ids=["ahead", "behind"])
def test_the_seal_files_repair_judges_age_by_the_file_system(platform: Platform, shift) -> None:
    """A folder of no committed seal made just now (a creation in progress in another
    process) is left alone and one older than the grace is removed, whichever way the process
    clock is off. Before, with the clock ahead both were removed, with it behind neither."""
    base = platform.settings.home / "seals"
    base.mkdir(exist_ok=True)
    fresh, old = base / ".11000026999998-new-abc123", base / "11000026999999"
    for folder in (fresh, old):
        folder.mkdir()
        (folder / "seal.png").write_bytes(b"png")
    aged(old, 600)
    with process_clock(shift):
        report = platform.seals.repair_files(grace_seconds=300)
    assert report.removed == [old.name]
    assert sorted(p.name for p in base.iterdir()) == [fresh.name]  # no marker left behind
