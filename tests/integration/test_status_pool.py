"""Status lookups from many threads leave every session connection free.

``StatusService.lookup`` (every OCSP request, every signature's revocation evidence) kept a raw
connection per thread, taken from the sessions' pool and never returned. A server's thread
pool has 40 threads; once 15 of them had looked a status up (the pool's 5 + 10), every session
of the process waited 30 s and failed — the concurrent-signing stress test's intermittent 500s.
Lookups now use ``Database.lookup_engine`` and hold a connection only while the query runs.
"""

from __future__ import annotations

import asyncio
import threading

from sqlalchemy import text

from yinxin.app import Platform
from yinxin.registry.status import Answer

THREADS = 24  # more than the sessions' pool holds (5 + 10)


def test_lookups_from_many_live_threads_hold_no_connection(any_platform: Platform) -> None:
    p = any_platform
    serial = p.ca.certificate("issuing").serial_number  # not a subscriber's: "unknown"
    answers: list[Answer] = []
    looked, finish = threading.Barrier(THREADS + 1), threading.Event()

    def work() -> None:
        answers.append(p.status.lookup(serial).status)
        looked.wait(timeout=60)
        finish.wait(timeout=60)  # the thread (and anything it keeps per thread) stays alive

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for t in threads:
        t.start()
    try:
        looked.wait(timeout=60)
        assert answers == [Answer.UNKNOWN] * THREADS
        for engine in {p.db.engine, p.db.read_engine}:
            assert engine.pool.checkedout() == 0, engine.pool.status()
        with p.db.read() as s:  # a session still gets a connection at once
            assert s.execute(text("SELECT 1")).scalar() == 1
        assert p.db.lookup_engine.pool.checkedout() == 0  # each query gave its connection back
    finally:
        finish.set()
        for t in threads:
            t.join(timeout=60)


def test_an_event_loop_keeps_one_lookup_connection(any_platform: Platform) -> None:
    """``yinxin serve`` answers OCSP in its event loop: that thread keeps its connection (a
    checkout per request cost ~20 µs of ~170), from the lookup pool, never the sessions'."""
    p = any_platform
    serial = p.ca.certificate("issuing").serial_number

    async def twice() -> None:
        for _ in range(2):
            assert p.status.lookup(serial).status == Answer.UNKNOWN

    asyncio.run(twice())
    assert p.db.lookup_engine.pool.checkedout() == 1
    assert p.db.engine.pool.checkedout() == 0
    p.status.close()
    assert p.db.lookup_engine.pool.checkedout() == 0
