"""Kill the message worker mid-delivery 50 times: every message arrives, duplicates share their id.

A platform (SQLite file, then PostgreSQL) whose SMS gateway is the generic HTTP adapter pointed
at a receiver on 127.0.0.1 — a thread that records every request (its body, the ``message_id``
field and the ``Idempotency-Key`` header) the moment it arrives, then answers after a small
random delay, so kills land before, during and after the HTTP call. 40 messages are written to
the outbox (``enqueue`` inside a transaction, as ``registry/notices.py`` does). Then 50 times a
worker process (``message_worker``) runs the outbox and is SIGKILLed at a random moment. Last,
the outbox is run to completion in this process on a clock moved past the attempt-expiry
interval (``RetryPolicy.stale_seconds``, 600 s on the notifier's clock), as a worker started ten
minutes later would.

Checked: every message is ``sent`` in the send log; the receiver got every message; a message
it got more than once carried the same message id every time (in the body and the header), so
a receiver can drop the repeats; every request it got is a message of the log, with that
message's recipient and values under that message's id. Kill moments come from a seeded
generator, so a failure can be replayed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import OUTPUT
from yinxin.app import Platform
from yinxin.clock import FrozenClock, SystemClock
from yinxin.notify.service import Outgoing, RetryPolicy, Status
from yinxin.settings import MessageSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
KILLS = 50
MESSAGES = 40
WORKER_STALE_SECONDS = 1  # the workers here take over a killed one's message after 1 s
# Rows carry their attempt limit; 5 (the default) could be used up by kills alone, and a row
# given up would hide whether the kills lose messages. The highest count seen is reported.
MAX_ATTEMPTS = KILLS + 10
DEADLINE_SECONDS = 100  # the whole test, start to end


@dataclass
class Request:
    key: str  # the body's message_id
    header: str | None  # Idempotency-Key
    doc: dict


@dataclass
class Receiver:
    """The SMS provider's stand-in: records each request as it arrives (before answering),
    then answers 200 with an id after ``delay`` seconds drawn at random."""

    delay: tuple[float, float] = (0.05, 0.2)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Receiver:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                doc = json.loads(body)
                with outer.lock:
                    outer.requests.append(
                        Request(doc.get("message_id"), self.headers.get("Idempotency-Key"), doc)
                    )
                    n = len(outer.requests)
                time.sleep(random.uniform(*outer.delay))
                out = json.dumps({"id": f"r-{n}"}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:  # the worker was killed while waiting
                    pass

            def log_message(self, *args) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                pass  # a killed worker's connection breaks; that is the point

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/sms/send"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def platform_for(home: Path, url: str, sms_url: str, clock=None) -> Platform:
    messages = MessageSettings(sms_provider="http", sms_http_url=sms_url, sms_http_auth="none")
    return Platform(Settings(home=home, database_url=url, messages=messages), clock=clock)


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_fifty_kills_mid_delivery_every_message_arrives_duplicates_share_their_id(
    db: str, tmp_path: Path, request
) -> None:
    started = time.monotonic()
    home = tmp_path / "home"
    url = (
        request.getfixturevalue("pg_cluster").new_database()
        if db == "postgres"
        else f"sqlite:///{home / 'yinxin.db'}"
    )
    rx = Receiver().start()
    p = platform_for(home, url, rx.url)  # the system clock, as the workers have
    try:
        p.notifier.retry = RetryPolicy(max_attempts=MAX_ATTEMPTS)
        expected: dict[str, tuple[str, str]] = {}  # serial -> (recipient, name)
        for i in range(MESSAGES):
            values = {"name": f"订户{i:02d}", "serial": f"5E{i:04X}", "not_after": "2027-01-01"}
            phone = f"138{i:08d}"
            with p.db.transaction() as s:
                p.notifier.enqueue(s, Outgoing("sms", phone, "certificate_issued", values))
            expected[values["serial"]] = (phone, values["name"])

        rng = random.Random(20250312)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "src"),
            "YINXIN_DATABASE_URL": url,
            "YINXIN_SMS_PROVIDER": "http",
            "YINXIN_SMS_HTTP_URL": rx.url,
            "YINXIN_SMS_HTTP_AUTH": "none",
        }
        cmd = [sys.executable, "-m", "tests.stress.message_worker", str(home)]
        cmd.append(str(WORKER_STALE_SECONDS))
        kills, per_worker = 0, []
        for _ in range(KILLS):
            child = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, cwd=str(ROOT))
            assert child.stdout.readline().strip() == b"ready"
            seen = len(rx.requests)
            time.sleep(rng.uniform(0.0, 0.35))
            child.send_signal(signal.SIGKILL)
            child.wait()
            child.stdout.close()
            kills += 1
            per_worker.append(len(rx.requests) - seen)
        assert kills == KILLS
        during_kills = len(rx.requests)
        left_queued = sum(1 for v in p.notifier.log(limit=1000) if v.status == Status.QUEUED)

        # A worker started after the attempt-expiry interval finishes what the kills left.
        later = FrozenClock(
            SystemClock().now() + dt.timedelta(seconds=p.notifier.retry.stale_seconds + 60)
        )
        q = platform_for(home, url, rx.url, clock=later)
        try:
            for _ in range(MESSAGES * 2):
                if not q.notifier.retry_failed(ignore_backoff=True):
                    break
            log = q.notifier.log(limit=1000, reveal=True)
        finally:
            q.close()
    finally:
        rx.stop()
        p.close()

    # every message is sent in the send log
    assert len(log) == MESSAGES
    assert Counter(v.status for v in log) == {Status.SENT: MESSAGES}, [
        (v.id, v.status, v.error) for v in log if v.status != Status.SENT
    ]
    by_key = {v.message_key: v for v in log}
    assert len(by_key) == MESSAGES  # one key per message
    # every request is a message of the log, under that message's key, in the body and header
    got: dict[str, list[Request]] = defaultdict(list)
    for r in rx.requests:
        assert r.header == r.key, (r.header, r.key)
        assert r.key in by_key, f"sent but not in the log: {r.key} {r.doc}"
        row = by_key[r.key]
        assert r.doc["to"] == row.recipient
        assert r.doc["params"]["serial"] in expected
        assert expected[r.doc["params"]["serial"]] == (row.recipient, r.doc["params"]["name"])
        got[r.key].append(r)
    # the receiver got every message; a message got twice came with the same id both times
    assert set(got) == set(by_key)
    keys_of_serial: dict[str, set[str]] = defaultdict(set)
    for r in rx.requests:
        keys_of_serial[r.doc["params"]["serial"]].add(r.key)
    assert set(keys_of_serial) == set(expected)
    assert all(len(keys) == 1 for keys in keys_of_serial.values()), keys_of_serial
    for requests in got.values():
        assert len({json.dumps(r.doc, sort_keys=True) for r in requests}) == 1  # same body

    duplicates = len(rx.requests) - MESSAGES
    repeated = sum(1 for requests in got.values() if len(requests) > 1)
    attempts = sum(v.attempts for v in log)
    elapsed = time.monotonic() - started
    summary = (
        f"{db}: {KILLS} kills, {MESSAGES} messages, {len(rx.requests)} requests "
        f"({during_kills} while killing), {duplicates} duplicates over {repeated} messages, "
        f"all under their own message id; {attempts} attempts in the log "
        f"(most for one message: {max(v.attempts for v in log)}); {left_queued} left "
        f"mid-attempt by the last kills; workers that reached the provider: "
        f"{sum(1 for n in per_worker if n)}; {elapsed:.1f} s"
    )
    print("\n" + summary)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with (OUTPUT / "message-kills.txt").open("a", encoding="utf-8") as f:
        f.write(summary + "\n")
    # the kills did land mid-delivery: some message was sent again after its worker died
    assert duplicates >= 1 and attempts > MESSAGES
    assert elapsed < DEADLINE_SECONDS
