"""``verify_many(jobs=N)`` and ``yinxin verify FILE… --jobs N`` (issue 10, archive verification):
the PAdES files of an archive are verified by a pool of worker processes, and nothing a user
sees may depend on it — the same reports in the same order, ``progress`` in input order, a
file that cannot be read still a result, and a worker that dies a clear error, never a hang or
a list with holes.

Every wait on the pool is bounded by polling (under ``faketime`` a timed ``Thread.join`` waits
for the thread to end, so it cannot bound anything).
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import pickle
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.integration.test_pdf_batch import _archive
from tests.integration.test_pdf_verify import Docs
from tests.integration.test_verify_cli import YINXIN, refused
from tests.integration.test_verify_cli import verify as run_cli
from yinxin.errors import ValidationError
from yinxin.pdf import batch
from yinxin.pdf.batch import MAX_JOBS, Verifier, WorkerFailed, resolve_jobs

OFD_SAMPLE = Path(__file__).parent.parent / "fixtures" / "ofd" / "ofdrw-V4RideRight.ofd"


@pytest.fixture(scope="module")
def docs() -> Docs:
    return Docs()


def _at(docs: Docs) -> dt.datetime:
    return docs.pki.now + dt.timedelta(minutes=5)


def _seen(results: list[batch.BatchResult]) -> list[tuple]:
    """Everything a caller can read of a batch's results."""
    return [
        (
            r.file_name,
            r.report.to_dict() if r.report is not None else None,
            (type(r.error), r.error.to_dict()) if r.error is not None else None,
        )
        for r in results
    ]


def _wait(thread: threading.Thread, seconds: float) -> None:
    """Join by polling, so a hang fails the test instead of hanging the suite."""
    deadline = time.monotonic() + seconds
    while thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not thread.is_alive(), f"verify_many still running after {seconds} s: a hang"


@pytest.mark.parametrize("policy", ["last-known", "strict"])
def test_any_jobs_gives_the_same_reports_in_the_same_order(docs, policy, tmp_path):
    """The varied archive (valid, tampered, revoked, untrusted, odd OCSP responders, B-T to
    B-LTA…) plus a file on disk, one that is not a PDF and a path that cannot be read: jobs 1,
    2 and 3 give equal results, and ``progress`` sees index 0, 1, 2… with the result that ends
    up at that index, while worker processes exist."""
    on_disk = tmp_path / "on-disk.pdf"
    on_disk.write_bytes(docs.blt)
    items = [*_archive(docs), on_disk, ("junk.pdf", b"not a pdf"), tmp_path / "missing.pdf"]
    items.append(docs.two)  # bare bytes: named document.pdf
    random.Random(10).shuffle(items)
    at = _at(docs)
    runs = {}
    for jobs in (1, 2, 3):
        calls: list[tuple[int, str, int]] = []

        def progress(i: int, result: batch.BatchResult, calls=calls) -> None:
            calls.append((i, result.file_name, len(multiprocessing.active_children())))

        v = Verifier([docs.pki.root], at=at, policy=policy)
        results = v.verify_many(items, progress=progress, jobs=jobs)
        assert [(i, name) for i, name, _ in calls] == [
            (i, r.file_name) for i, r in enumerate(results)
        ]
        workers = {n for _, _, n in calls}
        assert workers == ({0} if jobs == 1 else {jobs}), (jobs, workers)
        assert {r.report.verified_at for r in results if r.report} == {v.at}
        if jobs > 1:  # a worker sends the report back, not the parsed PDF behind its strings
            assert max(len(pickle.dumps(r)) for r in results) < 8_000
        runs[jobs] = _seen(results)
    assert runs[2] == runs[1] and runs[3] == runs[1]
    # the set really is mixed, so "equal" compares something
    by_name = {name: (rep, err) for name, rep, err in runs[1]}
    assert by_name["blt.pdf"][0]["valid"] and not by_name["tampered.pdf"][0]["valid"]
    assert not by_name["revoked_dss.pdf"][0]["valid"] and by_name["on-disk.pdf"][0]["valid"]
    assert by_name["missing.pdf"][1][1]["field"] == "in"
    assert by_name["junk.pdf"][1][1]["field"] == "pdf" and by_name["document.pdf"][0]["valid"]
    assert multiprocessing.active_children() == []  # the pool is gone after the call


def test_spawn_workers_report_the_same(docs, monkeypatch):
    """Where there is no fork (macOS, Windows) the pool spawns fresh interpreters that get the
    options by pickling — trust roots as DER, the fixed moment, policy, flags."""
    monkeypatch.setattr(batch, "_pool_context", lambda: multiprocessing.get_context("spawn"))
    at = _at(docs) + dt.timedelta(days=3650)  # ten years on: the moment must reach the workers
    items = [("bt.pdf", docs.bt), ("blt.pdf", docs.blt), ("tampered.pdf", docs.tampered)]
    items += [("revoked.pdf", docs.revoked_dss), ("blta.pdf", docs.blta), b"%PDF-1.7 junk"]
    ours = Verifier([docs.pki.root], at=at, policy="strict", shortcut=False)
    alone = Verifier([docs.pki.root], at=at, policy="strict", shortcut=False)
    assert _seen(ours.verify_many(items, jobs=2)) == _seen(alone.verify_many(items))


def test_a_killed_worker_ends_the_batch_with_a_clear_error(docs):
    """SIGKILL to a worker while files are left: WorkerFailed (no list at all), promptly, and
    no worker process left behind."""
    items = [(f"{i}.pdf", docs.blt) for i in range(80)]
    v = Verifier([docs.pki.root], at=_at(docs))
    killed: list[int] = []
    outcome: dict[str, object] = {}

    def progress(i: int, result: batch.BatchResult) -> None:
        if not killed:
            victim = multiprocessing.active_children()[0]
            os.kill(victim.pid, signal.SIGKILL)
            killed.append(i)

    def run() -> None:
        try:
            outcome["results"] = v.verify_many(items, progress=progress, jobs=2)
        except Exception as e:  # noqa: BLE001 - the test inspects whatever came out
            outcome["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    _wait(thread, 60)
    assert killed == [0]
    assert "results" not in outcome, "a batch with a dead worker returned a list"
    error = outcome["error"]
    assert isinstance(error, WorkerFailed), repr(error)
    assert error.exit_code == 2 and error.code == "worker_failed"
    assert "worker process ended abruptly" in error.message and "of 80 files" in error.message
    assert multiprocessing.active_children() == []


def test_jobs_is_checked_and_automatic_means_enough_files(docs, monkeypatch):
    for bad in (-1, MAX_JOBS + 1, 10**9, True, 2.0, "2"):
        with pytest.raises(ValidationError) as e:
            resolve_jobs(bad, 100)
        assert e.value.field == "jobs"
    with pytest.raises(ValidationError) as e:  # refused before any work, not per file
        Verifier([docs.pki.root]).verify_many([b"not a pdf"], jobs=-1)
    assert e.value.field == "jobs"
    monkeypatch.setattr(batch, "available_cores", lambda: 2)
    assert [resolve_jobs(0, n) for n in (0, 1, 7, 8, 500)] == [1, 1, 1, 2, 2]
    assert resolve_jobs(5, 1) == 5 and resolve_jobs(1, 500) == 1
    monkeypatch.setattr(batch, "available_cores", lambda: 1)
    assert resolve_jobs(0, 500) == 1
    if hasattr(os, "sched_getaffinity"):  # the CPUs this process may run on
        monkeypatch.undo()
        assert batch.available_cores() == len(os.sched_getaffinity(0))


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def archive(docs, tmp_path_factory) -> Path:
    """A relying party's folder: PAdES PDFs (valid, tampered, revoked, untrusted, two
    signatures…), an OFD (verified in the parent, untrusted here: INVALID), a file that is not
    a PDF, and the root."""
    d = tmp_path_factory.mktemp("verify-jobs")
    (d / "root.pem").write_bytes(docs.pki.root.public_bytes(serialization.Encoding.PEM))
    for name, pdf in _archive(docs):
        (d / name).write_bytes(pdf)
    (d / "ride.ofd").write_bytes(OFD_SAMPLE.read_bytes())
    (d / "junk.pdf").write_bytes(b"junk")
    return d


def _files(archive: Path) -> list[str]:
    pdfs = sorted(p.name for p in archive.glob("*.pdf") if p.name != "junk.pdf")
    # the parent's files between, before and after the pool's
    return ["ride.ofd", *pdfs[:5], "junk.pdf", "ride.ofd", *pdfs[5:], "missing.pdf", "ride.ofd"]


def test_the_cli_prints_the_same_with_any_jobs(archive, docs):
    """A mixed list (PAdES, OFD, not a PDF, a missing file): the same JSON list, the same
    lines and exit code with --jobs 1, --jobs 2 and automatic (≥ 8 PAdES files)."""
    files = _files(archive)
    args = ("--trust", "root.pem", "--at", _at(docs).isoformat())
    one = run_cli(archive, *files, *args, "--json", "--jobs", "1")
    assert one.returncode == 2, one.stdout + one.stderr  # the missing file
    reports = json.loads(one.stdout)
    assert [r["file_name"] for r in reports] == [Path(f).name for f in files]
    assert [r.get("kind") for r in reports].count("ofd") == 3
    assert sum(1 for r in reports if r.get("valid")) >= 10
    assert sum(1 for r in reports if r.get("valid") is False) >= 5  # tampered, revoked, OFD…
    for extra in (("--jobs", "2"), ()):
        many = run_cli(archive, *files, *args, "--json", *extra)
        assert (many.returncode, json.loads(many.stdout)) == (2, reports), extra
        assert "Traceback" not in many.stderr, many.stderr
    text1 = run_cli(archive, *files, *args, "-j", "1")
    text2 = run_cli(archive, *files, *args, "-j", "2")
    assert (text2.returncode, text2.stdout) == (text1.returncode, text1.stdout) == (2, text1.stdout)
    lines = text1.stdout.splitlines()
    assert len(lines) == len(files) + 1 and lines[0].startswith("INDETERMINATE ride.ofd")


def test_the_cli_refuses_a_bad_jobs_value(archive, docs):
    pdf = str(archive / "blt.pdf")
    for value, files in (("-1", [pdf]), (str(MAX_JOBS + 1), [pdf, pdf])):  # one file or many
        err = refused(
            run_cli(archive, *files, "--trust", "root.pem", "-j", value, "--json"), "jobs"
        )
        assert value in err["message"]
    not_a_number = run_cli(archive, pdf, pdf, "--trust", "root.pem", "--jobs", "many")
    assert not_a_number.returncode == 2 and "Traceback" not in not_a_number.stderr


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_the_cli_fails_clearly_when_a_worker_is_killed(archive, docs):
    """``yinxin verify`` of 150 files, a worker SIGKILLed from outside: exit 2 and one JSON
    error, no partial list, no traceback, no worker left running."""
    blt = str(archive / "blt.pdf")
    env = {k: v for k, v in os.environ.items() if not k.startswith("YINXIN_")}
    env["PYTHONPATH"] = os.environ.get("FUZZ_SRC", str(Path(__file__).parents[2] / "src"))
    cmd = [str(YINXIN)] if YINXIN.exists() else [sys.executable, "-m", "yinxin.adapters.cli"]
    args = [*cmd, "verify", *[blt] * 150, "--trust", "root.pem", "--at", _at(docs).isoformat()]
    proc = subprocess.Popen(
        [*args, "--json", "-j", "2"],
        cwd=archive,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while not workers and proc.poll() is None and time.monotonic() < deadline:
            workers = _children(proc.pid)
            time.sleep(0.005)
        assert workers, "no worker process appeared"
        os.kill(workers[0], signal.SIGKILL)
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is not None, "yinxin verify still running: a hang"
        out, err = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2, out + err
    assert "Traceback" not in err, err
    answer = json.loads(out)
    assert answer["error"] == "worker_failed" and "of 150 files" in answer["message"], answer
    deadline = time.monotonic() + 10
    while not all(_gone(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(w) for w in workers), workers
