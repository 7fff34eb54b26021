"""Verify many PDFs against the same trust roots, reusing what does not depend on the document.

A relying party checking an archive verifies hundreds of contracts signed under one CA: the
same root, issuing CA, TSA and OCSP responder certificates, the same root CRL, in every file.
:class:`Verifier` runs :func:`yinxin.pdf.verify.averify_pdf` on each file — the same code, the
same verdict and report as verifying that file on its own — with caches that live as long as
the verifier:

* the trust roots, parsed once (``_trust_manager``);
* whether each DSS / revocation-archival item (OCSP response, CRL, certificate) is usable, by
  its DER bytes: deciding it builds a throwaway pyHanko validation context per item;
* every cryptographic signature that verified (certificate, CRL, OCSP response, timestamp),
  by signature, digest of the signed bytes, key and algorithm — the issuing CA's signature on
  the TSA certificate is checked once per archive, not once per file;
* X.509 name comparisons and parsed certificate extensions, by the DER (``yinxin.pdf.accel``,
  also used for single files);
* DSS items parsed once by their DER, so the CA, TSA and responder certificates of every file
  are the same parsed objects;
* delegated OCSP responders (id-pkix-ocsp-nocheck) that passed pyHanko's check, reused only at
  moments within the responder's validity (``verify._ocsp_provenance`` says why that is all
  the moment can change);
* the (trust anchor, issuing CA) pairs whose paths pyHanko validated: later paths through
  them are checked directly (``yinxin.pdf.direct``: the moment-dependent checks and the whole
  leaf step again, pyHanko on any doubt; ``shortcut=False`` switches it off);
* parsed PDF objects by their bytes, each file getting its own copy (``accel._read_object``);
* the difference analysis's reverse-reference walk of a signed revision, reused for a file
  whose revision has the same skeleton up to renamed keys (``accel._load_reverse_xref_cache``);
* the certificates embedded in CMS and OCSP responses, one parsed (untagged) object per DER;
* the CA's CRL checks that depend on the CRL and certificates alone, on the CRL object
  (``accel.remembered``; a real archive shares its monthly root CRL, the bench's files each
  have their own).

Nothing else time-dependent is cached: each certificate path is still validated at the moment its
own document's timestamps prove, with that document's revocation data, so a batch never
carries a verdict from one file to another. One validation time is fixed for the whole batch
(``at``, or the moment the verifier was made) so that every report of one run says the same.

``verify_many(…, jobs=N)`` spreads the files over ``N`` worker processes: the caches above
are per process and pure CPU work in Python holds the interpreter lock, so a second core
helps only in a second process. Each worker builds one :class:`Verifier` with exactly this
one's options (the same fixed ``at``, policy, fetching flags, trust roots, shortcut flag) and
gets consecutive files in chunks, so its caches warm up as the parent's would; the results
come back in input order. Since no report depends on what a verifier cached (the tests check
reports with and without every cache), the reports are the same with any ``jobs``. The pool
is for the command line (one thread, forked at once); the HTTP server verifies one file per
request in process and never starts one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import gc
import math
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from yinxin.clock import asked_moment
from yinxin.errors import ValidationError, YinxinError
from yinxin.pdf import accel, direct
from yinxin.pdf import verify as _v
from yinxin.pdf.jobs import MAX_JOBS, check_jobs
from yinxin.pdf.verify import POLICIES, VerificationReport

#: ``jobs=0`` (automatic) uses every core only from this many PAdES files on: below it the
#: pool's start-up (a fork, or a fresh interpreter with pyHanko under spawn) and the per-worker
#: cold caches cost about what the second core saves.
AUTO_MIN_FILES = 8
#: Most files a worker is handed at once: enough to keep the pipe quiet, few enough that the
#: last worker does not finish a whole chunk alone while the others wait.
MAX_CHUNK = 8
#: Most bytes of one file read from a path: what ``yinxin verify`` takes of a file alone
#: (``MAX_DOCUMENT_INPUT`` of the command line; a test keeps them equal). Only one byte more
#: is read to tell a larger file, which is that file's error: ``/dev/zero`` among the files
#: read until memory ran out, and a file too large alone was judged beside another.
MAX_FILE = 50 * 1024 * 1024

Item = bytes | str | Path | tuple[str, bytes] | tuple[str, Path]


class WorkerFailed(YinxinError, exit_code=2, http_status=500, code="worker_failed"):
    """A worker process of ``verify_many(jobs>1)`` died (killed, out of memory, a crash in a
    C library); the batch gives no results rather than a list with holes."""


def available_cores() -> int:
    """The cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def resolve_jobs(jobs: int, files: int) -> int:
    """``jobs`` checked and made concrete: 0 means every available core when there are at
    least :data:`AUTO_MIN_FILES` files, else 1. Refuses a negative or absurd value naming
    ``jobs`` (:func:`yinxin.pdf.jobs.check_jobs`)."""
    if check_jobs(jobs) == 0:
        return available_cores() if files >= AUTO_MIN_FILES else 1
    return jobs


@dataclass
class BatchResult:
    """One file of a batch: its report, or why it could not be verified (not a PDF…)."""

    file_name: str
    report: VerificationReport | None
    error: ValidationError | None = None


class Verifier:
    """Holds the trust roots, the options and the caches for any number of files."""

    def __init__(
        self,
        trust_roots: list[x509.Certificate],
        *,
        at: dt.datetime | None = None,
        policy: str = "last-known",
        allow_fetching: bool = False,
        ocsp_urls_allowed: bool = False,
        shortcut: bool = True,
        at_asked: bool | None = None,
    ) -> None:
        """``shortcut=False`` leaves every certificate path to pyHanko (``yinxin.pdf.direct``);
        the reports are the same either way, which is what the tests check with it.
        ``at_asked`` as :func:`yinxin.pdf.verify.averify_pdf`'s (default: ``at`` given) — kept
        apart from ``at``, which every file shares, so a pool's workers judge alike."""
        if policy not in POLICIES:
            raise ValidationError(f"policy must be one of {', '.join(POLICIES)}", field="policy")
        at = asked_moment(at)  # a naive time refused naming ``at``, as averify_pdf does
        self.trust_roots = list(trust_roots)
        # one moment for every file; a moment asked about only when given (``at_asked``)
        self.at_asked = at is not None if at_asked is None else at_asked
        self.at = (at or dt.datetime.now(dt.UTC)).replace(microsecond=0)
        self.policy = policy
        self.allow_fetching = allow_fetching
        self.ocsp_urls_allowed = ocsp_urls_allowed
        self.shortcut = shortcut
        self._caches = _v._Caches()
        self._paths = direct.Learned() if shortcut else None
        self._objects = accel.ObjectStore()

    async def averify(self, pdf: bytes, *, file_name: str = "document.pdf") -> VerificationReport:
        """Exactly :func:`yinxin.pdf.verify.averify_pdf` with this verifier's options."""
        token = _v._CACHES.set(self._caches)
        try:
            with direct.learning(self._paths), accel.objects(self._objects):
                return await _v.averify_pdf(
                    pdf,
                    trust_roots=self.trust_roots,
                    file_name=file_name,
                    allow_fetching=self.allow_fetching,
                    at=self.at,
                    ocsp_urls_allowed=self.ocsp_urls_allowed,
                    policy=self.policy,
                    at_asked=self.at_asked,
                )
        finally:
            _v._CACHES.reset(token)

    def verify(self, pdf: bytes, *, file_name: str = "document.pdf") -> VerificationReport:
        return asyncio.run(self.averify(pdf, file_name=file_name))

    async def averify_many(
        self,
        items: Iterable[bytes | str | Path | tuple[str, bytes]],
        *,
        progress: Callable[[int, BatchResult], None] | None = None,
    ) -> list[BatchResult]:
        """One result per item, in order. An item is a path, PDF bytes, or ``(name, bytes)``.

        A file that cannot be read or is not a PDF gives a result with ``error`` set, never an
        exception, so one bad file does not stop an archive check. ``progress(i, result)`` is
        called after each file.
        """
        out: list[BatchResult] = []
        for i, item in enumerate(items):
            name, data, error = _load(item, i)
            if error is None:
                try:
                    with _garbage_per_file():
                        result = BatchResult(name, await self.averify(data, file_name=name))
                except ValidationError as e:
                    result = BatchResult(name, None, e)
            else:
                result = BatchResult(name, None, error)
            out.append(result)
            if progress is not None:
                progress(i, result)
        return out

    def verify_many(
        self,
        items: Iterable[Item],
        *,
        progress: Callable[[int, BatchResult], None] | None = None,
        jobs: int = 1,
    ) -> list[BatchResult]:
        """:meth:`averify_many`, in ``jobs`` worker processes when ``jobs > 1`` (0: automatic,
        :func:`resolve_jobs`). Same results, same order, ``progress`` in input order as the
        results arrive. A worker that dies raises :class:`WorkerFailed`. Not for a server's
        threads: the pool forks this process (spawn where fork is not available)."""
        if jobs == 1:  # the in-process path, items read as they come
            return asyncio.run(self.averify_many(items, progress=progress))
        items = list(items)
        workers = min(resolve_jobs(jobs, len(items)), len(items))
        if workers <= 1:
            return asyncio.run(self.averify_many(items, progress=progress))
        return self._verify_pooled(items, progress, workers)

    def options(self) -> dict:
        """Everything a worker needs to build a verifier that reports exactly as this one:
        picklable (trust roots as DER) for the spawn start method."""
        return {
            "trust_roots": [c.public_bytes(Encoding.DER) for c in self.trust_roots],
            "at": self.at,
            "at_asked": self.at_asked,
            "policy": self.policy,
            "allow_fetching": self.allow_fetching,
            "ocsp_urls_allowed": self.ocsp_urls_allowed,
            "shortcut": self.shortcut,
        }

    def _verify_pooled(
        self,
        items: list[Item],
        progress: Callable[[int, BatchResult], None] | None,
        workers: int,
    ) -> list[BatchResult]:
        """Ordered ``imap`` over a :class:`ProcessPoolExecutor` (not ``multiprocessing.Pool``:
        that one replaces a killed worker and waits forever for the task it lost). At most two
        chunks a worker are in flight, so an archive is never all in the pipe at once."""
        size = max(1, min(MAX_CHUNK, math.ceil(len(items) / (workers * 4))))
        chunks = iter([items[i : i + size] for i in range(0, len(items), size)])
        out: list[BatchResult] = []
        context = _pool_context()
        pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start_worker, initargs=(self.options(),)
        )
        try:
            pending: collections.deque[Future] = collections.deque()
            try:
                for chunk in chunks:  # the first submit starts the workers
                    pending.append(pool.submit(_work, chunk))
                    if len(pending) >= 2 * workers:
                        break
                while pending:
                    results = pending.popleft().result()
                    chunk = next(chunks, None)
                    if chunk is not None:
                        pending.append(pool.submit(_work, chunk))
                    for result in results:
                        out.append(result)
                        if progress is not None:
                            progress(len(out) - 1, result)
            except BrokenProcessPool:
                raise WorkerFailed(
                    f"a verification worker process ended abruptly (killed, out of memory or "
                    f"crashed) after {len(out)} of {len(items)} files; no result is given for "
                    f"this batch — run it again, or with jobs=1 (--jobs 1) to find the file"
                ) from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return out


def verify_many(
    items: Iterable[Item],
    *,
    trust_roots: list[x509.Certificate],
    at: dt.datetime | None = None,
    policy: str = "last-known",
    allow_fetching: bool = False,
    ocsp_urls_allowed: bool = False,
    progress: Callable[[int, BatchResult], None] | None = None,
    jobs: int = 1,
) -> list[BatchResult]:
    """Verify every item with one :class:`Verifier` (``jobs``: :meth:`Verifier.verify_many`)."""
    verifier = Verifier(
        trust_roots,
        at=at,
        policy=policy,
        allow_fetching=allow_fetching,
        ocsp_urls_allowed=ocsp_urls_allowed,
    )
    return verifier.verify_many(items, progress=progress, jobs=jobs)


def _pool_context() -> multiprocessing.context.BaseContext:
    """fork on Linux: the worker starts from the parent's imported modules in milliseconds
    (callers fork from one thread: the CLI). spawn elsewhere (macOS system frameworks are not
    fork-safe; Windows has no fork): a fresh interpreter imports this module."""
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


# the worker process's verifier, built once by the pool's initializer
_WORKER: Verifier | None = None


def _start_worker(options: dict) -> None:
    """Build the worker's verifier. Ctrl-C reaches the whole process group: the parent alone
    handles it (cancels what is queued, lets the running chunks end, reaps the workers), so
    the workers ignore it instead of each printing a traceback."""
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    options = dict(options)
    roots = [x509.load_der_x509_certificate(der) for der in options.pop("trust_roots")]
    _WORKER = Verifier(roots, **options)


@contextlib.contextmanager
def _garbage_per_file() -> Iterator[None]:
    """One file's verification with the cyclic garbage collector paused, and that file's
    garbage collected right after it (a youngest-generation collection).

    Each verification leaves ~18,000 objects in reference cycles (pyHanko's readers, their
    parsed objects and resolvers point at each other). With the collector's default
    thresholds they are still alive at several automatic collections, so they age into the
    oldest generation, where only full collections — which also walk every cached
    certificate and parsed object of the batch — free them: 1–2 full collections per 100
    files, 0.3–0.7 s each, 10–25 % of a batch's CPU time (gc callbacks, 2026-12-01). Paused,
    nothing of the file ages; the collection after it looks only at what the file allocated,
    frees its cycles, and moves what the caches kept one generation up. If the caller has
    turned the collector off, it stays off and nothing is collected here."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(0)


def _work(chunk: list[Item]) -> list[BatchResult]:
    """One chunk in a worker: the in-process path, with the worker's warm caches.

    The results are pickled back to the parent, so a report must hold plain values: a ``str``
    subclass from pyHanko (``TextStringObject``) keeps its PDF reader, and pickling would pull
    the whole parsed document along (~67 KB and ~3 ms to unpickle a file, more than the second
    core saves). :mod:`yinxin.pdf.verify` makes ``field_name`` plain ``str`` where it is read;
    test_verify_jobs checks the size of what comes back."""
    assert _WORKER is not None, "the pool's initializer builds the worker's verifier"
    return asyncio.run(_WORKER.averify_many(chunk))


def _load(item: Item, i: int) -> tuple[str, bytes, ValidationError | None]:
    """An item's name, bytes and why it could not be read: ``(name, Path)`` is the file at
    that path shown under ``name`` (``yinxin verify``: the path as typed, when another file of
    the call has the same name); a bare path is shown by its name."""
    if isinstance(item, tuple):
        name, body = item
        if isinstance(body, Path):
            return _read(body, str(name))
        return str(name), bytes(body), None
    if isinstance(item, bytes | bytearray | memoryview):
        return "document.pdf", bytes(item), None
    path = Path(item)
    return _read(path, path.name)


def _read(path: Path, name: str) -> tuple[str, bytes, ValidationError | None]:
    try:
        data = read_bounded(path)
    except OSError as e:
        return name, b"", ValidationError(f"cannot read {path}: {e.strerror}", field="in")
    if len(data) > MAX_FILE:
        message = f"{path} is larger than {MAX_FILE // (1024 * 1024)} MB, the most in takes"
        return name, b"", ValidationError(message, field="in")
    return name, data, None


def read_bounded(path: Path) -> bytes:
    """At most :data:`MAX_FILE` + 1 bytes of ``path`` (more than ``MAX_FILE``: too large)."""
    with path.open("rb") as f:
        return f.read(MAX_FILE + 1)


__all__ = [
    "MAX_FILE",
    "MAX_JOBS",
    "BatchResult",
    "Verifier",
    "WorkerFailed",
    "available_cores",
    "resolve_jobs",
    "verify_many",
]
