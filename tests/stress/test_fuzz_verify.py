"""``yinxin verify`` against hostile files: over 300 mutated signed contracts (issue 9, item 12).

Real contracts are signed through the platform (two parties, B-LT, the second locking; a
certification with a document timestamp; a B-LTA file written with cross-reference and object
streams), then mutated deterministically (``tests/stress/pdf_mutations.py``, one fixed seed):
byte flips inside and outside the signed ranges, truncation, duplicated and removed xref
sections, mangled ``/ByteRange``, ``/Contents``, DSS entries and object streams, numbers,
names, links and splices. For every file:

* no traceback — a report, or ``ValidationError(field="pdf")`` for a file that is not a
  readable PDF;
* no hang — each file within ``FILE_LIMIT`` seconds;
* no file whose signed bytes changed is reported VALID.

A sample also goes through the installed command, from a bare directory with only
``--trust root.pem``: exit 0 / 1 / 2 exactly as the in-process verdict says, no traceback on
stderr, and no data directory created. Failing inputs are kept under
``tests/output/fuzz/`` to be replayed.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter

from tests.clock import START
from tests.conftest import OUTPUT
from tests.fixtures.samples import contract_pdf
from tests.integration.server import ROOT
from tests.integration.signing_flow import build_world, new_platform, sign_as
from tests.stress.pdf_mutations import Case, Layout, mutate_all
from yinxin.clock import FrozenClock
from yinxin.errors import ValidationError
from yinxin.pdf.verify import VerificationReport, verify_pdf

SEED = 20260912
PER_SOURCE = 80  # 4 sources: 320 files
FILE_LIMIT = 20.0  # seconds per file in process; a typical one takes 0.1–0.4 s
CLI_SAMPLE = 30
CLI_LIMIT = 90.0  # seconds per command, interpreter start-up included
YINXIN = ROOT / ".venv" / "bin" / "yinxin"
KEEP = OUTPUT / "fuzz"


def xref_streams(pdf: bytes) -> bytes:
    """The same document rewritten with a cross-reference stream and every non-stream object
    in an object stream, so that those structures get mutated too."""
    reader = PdfFileReader(io.BytesIO(pdf))
    w = PdfFileWriter(init_page_tree=False, stream_xrefs=True)
    root = w.import_object(reader.root, obj_stream=w.prepare_object_stream())
    w.objects[(w.root_ref.generation, w.root_ref.idnum)] = root
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


@dataclass
class Corpus:
    sources: dict[str, bytes]
    root: x509.Certificate
    at: dt.datetime  # the moment every verification is made as of
    # per source, per /ByteRange in file order: (field name, is a document timestamp)
    signatures: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)


def signatures_in(pdf: bytes) -> list[tuple[str, bool]]:
    """(field name, document timestamp?) of every signature, in the file order of their
    /ByteRange entries (the order ``Layout`` numbers them in)."""
    reader = PdfFileReader(io.BytesIO(pdf))
    by_range = {
        tuple(int(x) for x in e.sig_object["/ByteRange"]): (
            e.field_name,
            e.sig_object_type == "/DocTimeStamp",
        )
        for e in reader.embedded_signatures
    }
    return [
        by_range[tuple(x for r in stretches for x in (r[0], r[1] - r[0]))]
        for _at, stretches in Layout.of(pdf).signatures
    ]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Iterator[Corpus]:
    home = tmp_path_factory.mktemp("fuzz-home")
    clock = FrozenClock(START)
    p = new_platform(home, clock)
    w = build_world(p, clock)
    contract = contract_pdf(2, title="技术服务合同")
    jia = sign_as(w, w.jia, contract).pdf
    sources = {
        "blt": jia,  # one signature, B-LT: DSS in an unsigned revision
        "locked": sign_as(w, w.yi, jia, lock=True).pdf,  # two, the second locks (FieldMDP)
        "certified": sign_as(w, w.yi, contract, lock=True, level="B-LTA").pdf,  # DocMDP P=1
        "xrefstm": sign_as(w, w.jia, xref_streams(contract), level="B-LTA").pdf,
    }
    corpus = Corpus(
        sources,
        p.ca.certificate("root"),
        clock.now() + dt.timedelta(minutes=1),
        {name: signatures_in(pdf) for name, pdf in sources.items()},
    )
    for name, pdf in sources.items():  # the invariants only mean something if these hold
        rep = verify(corpus, pdf)
        assert rep.valid, f"{name}:\n{rep.to_text()}"
    assert b"/ObjStm" in sources["xrefstm"] and b"/XRef" in sources["xrefstm"]
    yield corpus
    p.close()


@pytest.fixture(scope="module")
def cases(corpus) -> list[Case]:
    out = mutate_all(corpus.sources, PER_SOURCE, SEED)
    assert len(out) >= 300
    return out


def verify(corpus: Corpus, pdf: bytes) -> VerificationReport:
    return verify_pdf(pdf, trust_roots=[corpus.root], file_name="fuzz.pdf", at=corpus.at)


class TooSlow(Exception):
    pass


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the verification of one file after ``seconds`` (a hang is a failure too)."""

    def expired(_sig, _frame):
        raise TooSlow(f"no verdict within {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def keep(case: Case) -> Path:
    KEEP.mkdir(parents=True, exist_ok=True)
    path = KEEP / f"{case.name}.pdf"
    path.write_bytes(case.data)
    return path


def outcome(corpus: Corpus, case: Case) -> tuple[str, str | None]:
    """("valid" | "earlier" | "invalid" | "refused" | "hang" | "crash", a failure message or
    None) for one mutated file; "earlier": VALID as an earlier version (``still_there``)."""
    try:
        with time_limit(FILE_LIMIT):
            rep = verify(corpus, case.data)
            rep.to_json()
            rep.to_text()
    except TooSlow as e:
        return "hang", f"{case.name}: {e}"
    except ValidationError as e:
        if e.field != "pdf":
            return "refused", f"{case.name}: ValidationError names {e.field!r}, not 'pdf'"
        return "refused", None
    except Exception:
        return "crash", f"{case.name}: {traceback.format_exc(limit=-8)}"
    if rep.valid and case.tampered:
        if still_there(corpus, case, rep):
            return "valid", f"{case.name}: signed bytes changed, yet VALID\n{rep.to_text()}"
        return "earlier", None  # the tampered signature is no longer part of the document
    return ("valid" if rep.valid else "invalid"), None


def still_there(corpus: Corpus, case: Case, rep: VerificationReport) -> list[str]:
    """The tampered signatures the report still counts.

    A mutation can take a signature out of the document rather than break it — truncation at
    the end of an earlier revision, or a later cross-reference section overwritten with an
    earlier one, so that the last revision's objects are no longer part of the document. The
    file then *is* an earlier version (anyone can produce that one), the report rightly no
    longer mentions the signature, and the remaining ones are judged on everything after
    them. What must never happen is a signature whose bytes changed counted in a VALID report.
    """
    names = corpus.signatures[case.source]
    reported = {s.field_name for s in rep.signatures}
    timestamps = sum(is_dts for _n, is_dts in names)
    return [
        name
        for name, is_dts in (names[i] for i in case.hit)
        if (rep.document_timestamps >= timestamps if is_dts else name in reported)
    ]


def test_no_traceback_no_hang_no_tampered_valid(corpus, cases):
    started = time.monotonic()
    tally: Counter[str] = Counter()
    failures = []
    for case in cases:
        verdict, failure = outcome(corpus, case)
        tally[verdict] += 1
        if failure:
            failures.append(f"{failure}\n  (kept as {keep(case)})")
    elapsed = time.monotonic() - started
    print(
        f"{len(cases)} mutated files in {elapsed:.0f} s: {dict(tally)}; "
        f"by mutation: {dict(Counter(c.mutator for c in cases))}"
    )
    assert not failures, f"{len(failures)} of {len(cases)} failed:\n" + "\n".join(failures)
    # the corpus exercises every outcome a relying party can get
    assert tally["refused"] and tally["invalid"] and tally["valid"]
    assert sum(c.tampered for c in cases) >= 100


def _env() -> dict[str, str]:
    """A relying party's environment: no YINXIN_* at all (no home, no passphrase)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("YINXIN_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    return env


def test_the_command_on_a_sample(corpus, cases, tmp_path):
    """Exit codes from the installed command, run where there is no platform at all."""
    bare = tmp_path / "relying-party"
    bare.mkdir()
    root = bare / "root.pem"
    root.write_bytes(corpus.root.public_bytes(serialization.Encoding.PEM))
    sample = random.Random(SEED).sample(cases, CLI_SAMPLE)
    files = tmp_path / "files"
    files.mkdir()
    cmd = [str(YINXIN)] if YINXIN.exists() else [sys.executable, "-m", "yinxin.adapters.cli"]
    at = corpus.at.isoformat()
    # in process first (the time limit needs the main thread), then the command must agree
    verdicts = {case.name: outcome(corpus, case)[0] for case in sample}

    def run(i_case: tuple[int, Case]) -> str | None:
        i, case = i_case
        pdf = files / f"{case.name}.pdf"
        pdf.write_bytes(case.data)
        expected = verdicts[case.name]
        args = [*cmd, "verify", str(pdf), "--trust", str(root), "--at", at, "--json"]
        report = tmp_path / f"{case.name}-report.pdf"
        if i % 3 == 0:  # the one-page PDF report is rendered from hostile reports too
            args += ["--report", str(report)]
        proc = subprocess.run(
            args,
            cwd=bare,
            env=_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_LIMIT,
        )
        want = {"valid": 0, "earlier": 0, "invalid": 1, "refused": 2}.get(expected, -1)
        if "Traceback" in proc.stderr or proc.returncode != want:
            return (
                f"{case.name}: exit {proc.returncode}, expected {want} ({expected})\n"
                f"{proc.stderr[-3000:]}\n  (kept as {keep(case)})"
            )
        out = json.loads(proc.stdout)
        if want == 2:
            return None if out.get("field") == "pdf" else f"{case.name}: {out}"
        if out["valid"] is not (want == 0):
            return f"{case.name}: JSON verdict {out['valid']} but exit {proc.returncode}"
        if i % 3 == 0 and not report.read_bytes().startswith(b"%PDF-"):
            return f"{case.name}: no report written"
        return None

    with ThreadPoolExecutor(max_workers=2) as ex:
        failures = [f for f in ex.map(run, enumerate(sample)) if f]
    assert not failures, "\n".join(failures)
    # a relying party's verification leaves nothing behind in its working directory
    assert sorted(p.name for p in bare.iterdir()) == ["root.pem"]
