"""A batch pauses the cyclic garbage collector per file and collects that file's garbage.

``pdf.batch._garbage_per_file`` exists for speed (docs/benchmarks.md): each verification leaves
thousands of objects in reference cycles that, left to the default thresholds, age into the
oldest generation and cost full collections. What must hold besides the unchanged reports
(``test_pdf_batch.py``): the collector is on again after the batch, a caller's decision to turn
it off is respected, and a file's cycles are freed right after it, not left to pile up.
"""

from __future__ import annotations

import gc
import weakref

import pytest

from tests.integration import pdf_factory as f
from yinxin.pdf import batch
from yinxin.pdf.batch import Verifier


@pytest.fixture(scope="module")
def signed() -> tuple[list[bytes], object]:
    pki = f.build_pki()
    plain = f.contract_pdf()
    docs = [f.sign(plain, pki.new_signer(f"签署人{i}"), pki, revinfo="dss") for i in range(3)]
    return docs, pki.root


def test_collector_is_on_after_a_batch_and_reports_are_valid(signed) -> None:
    docs, root = signed
    assert gc.isenabled()
    results = Verifier([root]).verify_many(docs)
    assert [r.report.valid for r in results] == [True, True, True]
    assert gc.isenabled()


def test_a_caller_that_turned_the_collector_off_keeps_it_off(signed, monkeypatch) -> None:
    docs, root = signed
    collected: list[int] = []
    monkeypatch.setattr(batch.gc, "collect", lambda generation=2: collected.append(generation))
    gc.disable()
    try:
        results = Verifier([root]).verify_many(docs)
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert [r.report.valid for r in results] == [True, True, True]
    assert collected == []  # nothing collected behind the caller's back


def test_each_file_is_collected_after_it(signed, monkeypatch) -> None:
    """A youngest-generation collection runs after each file, with the collector paused
    during the file; and the file's parsed document (reached through pyHanko's reader
    cycles) is gone after the batch although automatic collection never ran in between."""
    docs, root = signed
    calls: list[tuple[int, bool]] = []
    real_collect = gc.collect

    def collect(generation: int = 2) -> int:
        calls.append((generation, gc.isenabled()))
        return real_collect(generation)

    readers: list[weakref.ref] = []
    real_open = batch._v._open_reader

    def open_reader(pdf: bytes):
        assert not gc.isenabled()  # paused while the file is verified
        reader = real_open(pdf)
        readers.append(weakref.ref(reader))
        return reader

    monkeypatch.setattr(batch.gc, "collect", collect)
    monkeypatch.setattr(batch._v, "_open_reader", open_reader)
    results = Verifier([root]).verify_many(docs)
    assert [r.report.valid for r in results] == [True, True, True]
    assert calls == [(0, True)] * len(docs)
    assert len(readers) == len(docs)
    assert [r() for r in readers] == [None] * len(docs)  # no reader outlives its collection
