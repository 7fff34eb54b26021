"""Webhooks on a real platform, delivered over real HTTP to a receiver on 127.0.0.1.

The receiver checks every signature with the algorithm ``docs/webhooks.md`` documents, written
here again from the document (HMAC-SHA256 keyed with the secret over ``f"{t}.{body}"``, hex,
``Yinxin-Signature: t=…,v1=…``) rather than imported, and drops duplicates by
``Yinxin-Event-Id`` as a receiver should. The crash test SIGKILLs a deliverer in a child
process 50 times at random moments and then checks that every event arrived, and that the
receiver saw duplicates only under the same event id with the same body.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests import dbdump
from tests.conftest import PASSPHRASE, cli_env
from tests.fixtures.samples import contract_pdf
from tests.integration.server import yinxin_cli, yinxin_env, yinxin_json
from tests.integration.signing_flow import (
    ORG_PIN,
    PERSON_PIN,
    Party,
    World,
    build_world,
    outbox_lines,
    read_code,
)
from yinxin.app import Platform
from yinxin.errors import Conflict, IllegalTransition, NotFound, ValidationError
from yinxin.notify.webhooks import (
    EVENT_TYPES,
    DeliveryState,
    RetryPolicy,
    SubscriptionState,
    check_url,
)
from yinxin.settings import Settings
from yinxin.signing.flows import SignerSpec
from yinxin.store.models.webhooks import WebhookDelivery

ROOT = Path(__file__).resolve().parents[2]


# --- the receiver -----------------------------------------------------------------------------
def verify_signature(header: str, body: bytes, secrets: list[str]) -> int:
    """The documented check, from the document: returns t if one v1 matches a secret."""
    parts = [p.split("=", 1) for p in header.split(",")]
    t = [v for k, v in parts if k == "t"]
    sigs = [v for k, v in parts if k == "v1"]
    assert len(t) == 1 and sigs, header
    signed = t[0].encode() + b"." + body
    for secret in secrets:
        expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, s) for s in sigs):
            return int(t[0])
    raise AssertionError(f"no valid signature in {header!r}")


@dataclass
class Receipt:
    event_id: str
    event_type: str
    body: bytes
    t: int
    path: str
    signature: str

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP receiver on 127.0.0.1. ``answers`` are the statuses to give in turn (then
    200); ``delay`` seconds before answering; ``secrets`` checked on every request (a request
    without a valid signature is answered 400 and recorded in ``bad``)."""

    secrets: list[str] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    delay: float | tuple[float, float] = 0.0
    answer_body: bytes = b"ok"
    answer_type: str | None = None  # the answer's Content-Type (None: no such header)
    now: object = None  # a clock to check t against (None: time.time())
    received: list[Receipt] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    cut_short: int = 0  # requests whose body ended before its Content-Length
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Receiver:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if len(body) < length:
                    # the sender died mid-body (the crash test kills it at random): an HTTP
                    # server drops a request cut short, so no signature is checked on a part
                    with outer.lock:
                        outer.cut_short += 1
                    return
                status = outer.handle(self.path, dict(self.headers.items()), body)
                delay = outer.delay
                if isinstance(delay, tuple):
                    delay = random.uniform(*delay)
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    if outer.answer_type is not None:
                        self.send_header("Content-Type", outer.answer_type)
                    self.send_header("Content-Length", str(len(outer.answer_body)))
                    self.end_headers()
                    self.wfile.write(outer.answer_body)
                except OSError:  # the deliverer was killed or gave up waiting
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/yinxin?k=1"

    def handle(self, path: str, headers: dict, body: bytes) -> int:
        with self.lock:
            try:
                # the charset named: receivers defaulting to GBK would mis-read the UTF-8 body
                assert headers["Content-Type"] == "application/json; charset=utf-8"
                t = verify_signature(headers["Yinxin-Signature"], body, self.secrets)
                now = self.now.now().timestamp() if self.now is not None else time.time()
                assert abs(now - t) <= 300, (now, t)  # the documented tolerance
                doc = json.loads(body)
                assert doc["id"] == headers["Yinxin-Event-Id"]
                assert doc["type"] == headers["Yinxin-Event-Type"]
                assert set(doc) == {"id", "type", "created_at", "data"}
            except (AssertionError, KeyError, ValueError) as e:
                self.bad.append(repr(e))
                return 400
            self.received.append(
                Receipt(doc["id"], doc["type"], body, t, path, headers["Yinxin-Signature"])
            )
            return self.answers.pop(0) if self.answers else 200

    def unique(self) -> dict[str, Receipt]:
        """What a receiver keeps after dropping duplicates by event id."""
        out: dict[str, Receipt] = {}
        for r in self.received:
            out.setdefault(r.event_id, r)
        return out

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(**kw) -> Receiver:
        r = Receiver(**kw).start()
        made.append(r)
        return r

    yield make
    for r in made:
        r.stop()


def hook_platform(home: Path, clock=None, url: str | None = None, **settings) -> Platform:
    """A platform whose webhooks may call 127.0.0.1 (the receivers here)."""
    s = Settings(
        home=home,
        database_url=url or f"sqlite:///{home / 'yinxin.db'}",
        webhook_allow_private=True,
        **settings,
    )
    p = Platform(s, clock=clock, passphrase=PASSPHRASE)
    if not p.ca.is_initialised():
        p.ca.init("ec-p256")
    return p


@pytest.fixture
def hp(tmp_path, clock):
    p = hook_platform(tmp_path / "home", clock)
    yield p
    p.close()


def person_certificate(p: Platform, name: str, id_number: str, org: int | None = None):
    subs = p.subscribers
    person = subs.add_person(
        name=name, id_number=id_number, phone="13800138000", organization_id=org
    )
    subs.accept_agreement(person.id, accepted_by=name)
    app = p.certificates.apply(subscriber_id=person.id, profile="person-signing", pin=PERSON_PIN)
    p.certificates.pay(application_id=app.id, years=1, reference=f"T-{app.id}")
    return p.certificates.approve(app.id, officer="受理员")


def organization(p: Platform, name: str, uscc: str):
    org = p.subscribers.add_organization(
        name=name,
        uscc=uscc,
        legal_representative="李四",
        contact_name="王五",
        contact_phone="010-62345678",
        email="ops@example.cn",  # no mobile: notices go by e-mail
    )
    p.subscribers.accept_agreement(org.id, accepted_by="王五")
    return org


def pump(p: Platform, *, now: dt.datetime | None = None) -> list:
    """Dispatch everything, then deliver everything due (until nothing is)."""
    while p.webhooks.dispatch(limit=50):
        pass
    results = []
    while batch := p.webhooks.deliver_due(limit=50, now=now):
        results += batch
    return results


# --- events in order, signed --------------------------------------------------------------------
def _sign_turn(w: World, token: str, party: Party) -> None:
    w.clock.advance(minutes=7)  # the one-code-a-minute limit
    before = outbox_lines(w.outbox)
    ch = w.p.flows.request_code(token)
    code = read_code(w.outbox, party.phone, after=before)
    w.p.flows.sign(token, pin=party.pin, challenge_id=ch.challenge_id, code=code)


def test_certificate_seal_and_flow_events_arrive_in_order_and_signed(hp, clock, receivers):
    rx = receivers(now=clock)
    issued = hp.webhooks.subscribe(rx.url, ["*"], None, "集成管理员", description="OA")
    view, secret = issued
    rx.secrets.append(secret)
    assert secret.startswith("whsec_") and view.state == SubscriptionState.ACTIVE
    # before anything happened: nothing to send, and the subscription's own event is not sent
    assert pump(hp) == []

    w = build_world(hp, clock)  # two certificates, two seals, a grant
    hp.certificates.revoke(w.person_cert.serial, reason="key_compromise", actor="受理员")
    # a certificate for the person again, and a two-party flow owned by the organization
    w2_cert = person_certificate(hp, "赵六", "110101198001010053")
    flow = hp.flows.create(
        "技术服务合同",
        documents=[("合同.pdf", contract_pdf(1, parties=("甲方", "乙方")))],
        signers=[
            SignerSpec(w.jia.id, w.jia.role, w.jia.seal.es_id, order=1),
        ],
        deadline=clock.now() + dt.timedelta(days=3),
        owner_subscriber_id=w.org.id,
        actor="经办人",
    )
    started = hp.flows.start(flow.id)
    _sign_turn(w, started.links[0].token, w.jia)

    results = pump(hp)
    assert all(r.state == DeliveryState.DELIVERED for r in results), results
    assert rx.bad == []
    got = [(r.event_type, r.json["data"]) for r in rx.received]
    types = [t for t, _ in got]
    assert types == [
        "certificate.issued",  # 张三's
        "certificate.issued",  # the organization's
        "seal.changed",  # contract seal created
        "seal.changed",  # personal seal created
        "seal.changed",  # grant to 王五
        "certificate.revoked",
        "certificate.issued",  # 赵六's
        "flow.started",
        "flow.signed",
        "flow.completed",
    ], types
    # in the audit trail's order, each event once, the right subjects
    seqs = [d["audit_seq"] for _, d in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert len({r.event_id for r in rx.received}) == len(rx.received)
    assert got[0][1]["subject_id"] == w.person_cert.serial
    assert got[0][1]["holder_subscriber_id"] == w.person.id
    assert got[5][1]["subject_id"] == w.person_cert.serial
    assert got[5][1]["details"]["reason"] == "key_compromise"
    assert got[6][1]["subject_id"] == w2_cert.serial
    assert got[2][1]["subject_id"] == w.jia.seal.es_id and got[2][1]["action"] == "seal.create"
    assert got[4][1]["action"] == "seal.grant"
    assert {d["subject_id"] for t, d in got if t.startswith("flow.")} == {str(flow.id)}
    assert got[7][1]["owner_subscriber_id"] == w.org.id
    assert got[7][1]["organization_ids"] == [w.org.id]
    for r in rx.received:
        assert r.path == "/hooks/yinxin?k=1"
        assert r.json["created_at"].endswith("Z")
    # nothing secret in what was sent: PINs, ID numbers, the signing link, the secret itself
    sent = b"".join(r.body for r in rx.received).decode()
    for s in (ORG_PIN, PERSON_PIN, "110105199003071239", started.links[0].token, secret):
        assert s not in sent
    # the secret is nowhere in the database in clear
    assert not any(secret in str(v) for v in dbdump.cells(hp))
    # the delivery log: one try each, delivered
    log = hp.webhooks.deliveries(view.id, limit=100)
    assert [d.event_id for d in log] == [r.event_id for r in rx.received]
    assert all(d.state == "delivered" and len(d.tries) == 1 for d in log)
    assert all(d.tries[0].http_status == 200 and d.tries[0].outcome == "delivered" for d in log)
    assert log[0].payload == rx.received[0].json
    # a second round sends nothing more
    assert pump(hp) == [] and hp.webhooks.dispatch() == 0
    assert hp.verify_audit().ok


def test_event_types_filter_and_later_subscriptions_get_later_events_only(hp, receivers):
    rx = receivers()
    first = person_certificate(hp, "张三", "110105199003071239")
    view, secret = hp.webhooks.subscribe(rx.url, ["certificate.revoked"], None, "op")
    rx.secrets.append(secret)
    hp.certificates.freeze(first.serial, actor="op")
    hp.certificates.unfreeze(first.serial, actor="op")
    hp.certificates.revoke(first.serial, reason="no_longer_needed", actor="op")
    pump(hp)
    assert [r.event_type for r in rx.received] == ["certificate.revoked"]
    assert rx.received[0].json["data"]["details"]["to"] == "revoked"


# --- retries ------------------------------------------------------------------------------------
def test_500_twice_then_200_three_tries_in_the_log_delivered_once(hp, clock, receivers):
    rx = receivers(answers=[500, 500], now=clock)
    view, secret = hp.webhooks.subscribe(rx.url, ["certificate.issued"], None, "op")
    rx.secrets.append(secret)
    person_certificate(hp, "张三", "110105199003071239")
    assert hp.webhooks.dispatch() == 1
    t0 = clock.now()
    [r1] = hp.webhooks.deliver_due()
    assert (r1.state, r1.http_status, r1.attempt) == (DeliveryState.FAILED, 500, 1)
    # 30 s ± 20 % later, not before
    assert t0 + dt.timedelta(seconds=24) <= r1.next_attempt_at <= t0 + dt.timedelta(seconds=36)
    assert hp.webhooks.deliver_due() == []  # not due yet
    clock.set(r1.next_attempt_at)
    [r2] = hp.webhooks.deliver_due()
    assert (r2.state, r2.http_status, r2.attempt) == (DeliveryState.FAILED, 500, 2)
    gap = r2.next_attempt_at - clock.now()
    assert dt.timedelta(seconds=48) <= gap <= dt.timedelta(seconds=72)  # 1 min ± 20 %
    clock.set(r2.next_attempt_at)
    [r3] = hp.webhooks.deliver_due()
    assert (r3.state, r3.http_status, r3.attempt) == (DeliveryState.DELIVERED, 200, 3)
    clock.advance(hours=2)
    assert hp.webhooks.deliver_due() == []
    [d] = hp.webhooks.deliveries(view.id)
    assert d.state == "delivered" and d.attempts == 3 and d.finished_at == r2.next_attempt_at
    assert [(a.number, a.http_status, a.outcome) for a in d.tries] == [
        (1, 500, "failed"),
        (2, 500, "failed"),
        (3, 200, "delivered"),
    ]
    assert d.tries[0].error.startswith("HTTP 500")
    # three requests, one event id, the same body; the receiver keeps one
    assert len(rx.received) == 3 and len(rx.unique()) == 1
    assert len({r.body for r in rx.received}) == 1
    assert len({r.t for r in rx.received}) == 3  # each try signed at its own time


def test_a_refusal_is_logged_in_the_charset_the_receiver_names(hp, clock, receivers):
    """A receiver on a GBK platform answers in GBK and says so; the log reads it that way. A
    charset Python does not know is read as UTF-8."""
    refusal = "签名校验失败：时间戳过期"
    gbk = receivers(
        answers=[500],
        now=clock,
        answer_type="text/plain; charset=gbk",
        answer_body=refusal.encode("gbk"),
    )
    unknown = receivers(
        answers=[503],
        now=clock,
        answer_type="text/plain; charset=x-no-such-charset",
        answer_body=refusal.encode("utf-8"),
    )
    for rx in (gbk, unknown):
        _, secret = hp.webhooks.subscribe(rx.url, ["certificate.issued"], None, "op")
        rx.secrets.append(secret)
    person_certificate(hp, "张三", "110105199003071239")
    assert hp.webhooks.dispatch() == 2
    results = hp.webhooks.deliver_due()
    assert sorted(r.error for r in results) == [f"HTTP 500: {refusal}", f"HTTP 503: {refusal}"]


def test_failing_for_a_day_is_given_up_with_every_try_logged(hp, clock, receivers):
    rx = receivers(answers=[503] * 1000, now=clock)
    view, secret = hp.webhooks.subscribe(rx.url, ["*"], None, "op")
    rx.secrets.append(secret)
    person_certificate(hp, "张三", "110105199003071239")
    hp.webhooks.dispatch()
    start = clock.now()
    gaps = []
    while True:
        [r] = hp.webhooks.deliver_due()
        if r.state == DeliveryState.GIVEN_UP:
            break
        gaps.append((r.next_attempt_at - clock.now()).total_seconds())
        clock.set(r.next_attempt_at)
    assert clock.now() == start + dt.timedelta(hours=24)  # the last try at the day's end
    assert max(gaps) <= 3600 * 1.2 and gaps[0] <= 36
    assert all(b >= a * 0.6 for a, b in zip(gaps, gaps[1:7], strict=False))  # doubling
    [d] = hp.webhooks.deliveries(view.id)
    assert d.state == "given_up" and d.attempts == len(gaps) + 1 == len(d.tries)
    assert 25 <= d.attempts <= 40
    assert all(a.outcome == "failed" and a.http_status == 503 for a in d.tries)
    clock.advance(days=1)
    assert hp.webhooks.deliver_due() == []


def test_410_gone_pauses_the_subscription_and_resume_delivers(hp, clock, receivers):
    rx = receivers(answers=[410], now=clock)
    view, secret = hp.webhooks.subscribe(rx.url, ["*"], None, "op")
    rx.secrets.append(secret)
    c = person_certificate(hp, "张三", "110105199003071239")
    hp.webhooks.dispatch()
    [r] = hp.webhooks.deliver_due()
    assert r.http_status == 410
    assert hp.webhooks.get(view.id).state == SubscriptionState.PAUSED
    assert "410" in hp.webhooks.get(view.id).state_reason
    # paused: nothing is tried, and events meanwhile are not enqueued for it
    hp.certificates.freeze(c.serial, actor="op")
    clock.advance(hours=1)
    assert hp.webhooks.dispatch() == 0 and hp.webhooks.deliver_due() == []
    hp.webhooks.resume(view.id, actor="op")
    [r2] = hp.webhooks.deliver_due()
    assert (r2.state, r2.event_id) == (DeliveryState.DELIVERED, r.event_id)
    actions = [e.action for e in hp.audit_events(subject_type="webhook_subscription")]
    assert actions == ["webhook.subscribed", "webhook.paused", "webhook.resumed"]


def test_a_slow_answer_is_retried_with_the_same_event_id_and_the_receiver_drops_it(
    tmp_path, clock, receivers
):
    """Duplicate suppression: the receiver took the event but answered after the deliverer's
    timeout; the retry carries the same event id and body, and the receiver keeps one."""
    p = hook_platform(tmp_path / "slow", clock)
    p.webhooks.retry = RetryPolicy(timeout_seconds=0.3)
    rx = receivers(delay=1.0, now=clock)
    view, secret = p.webhooks.subscribe(rx.url, ["*"], None, "op")
    rx.secrets.append(secret)
    person_certificate(p, "张三", "110105199003071239")
    p.webhooks.dispatch()
    [r1] = p.webhooks.deliver_due()
    assert r1.state == DeliveryState.FAILED and "timed out" in r1.error
    rx.delay = 0.0
    clock.advance(minutes=2)
    [r2] = p.webhooks.deliver_due()
    assert r2.state == DeliveryState.DELIVERED and r2.event_id == r1.event_id
    assert len(rx.received) == 2 and len(rx.unique()) == 1
    assert rx.received[0].body == rx.received[1].body
    p.close()


def test_a_receiver_trickling_its_answer_cannot_hold_a_try_past_its_lease(tmp_path, clock):
    """Each read has its timeout, but a receiver sending one byte just inside it would hold the
    try (and every delivery behind it) for as long as it likes, past the lease, while another
    deliverer sends the event again. A try ends after half the lease in all."""
    server = socket.create_server(("127.0.0.1", 0))
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Slow: " + b"z" * 40 + b"\r\n\r\n"
    sent = threading.Event()

    def trickle() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            try:
                for byte in answer:  # each byte well inside the read timeout
                    conn.sendall(bytes([byte]))
                    time.sleep(0.25)
                sent.set()
            except OSError:  # the deliverer cut the connection
                pass

    threading.Thread(target=trickle, daemon=True).start()
    p = hook_platform(tmp_path / "trickle", clock)
    p.webhooks.retry = RetryPolicy(timeout_seconds=1.0, lease_seconds=2.0)
    view, _ = p.webhooks.subscribe(
        f"http://127.0.0.1:{server.getsockname()[1]}/x", ["*"], None, "op"
    )
    person_certificate(p, "张三", "110105199003071239")
    p.webhooks.dispatch()
    [r] = p.webhooks.deliver_due()
    assert r.state == DeliveryState.FAILED, r
    assert r.error == "no complete answer within 1 s"
    assert not sent.is_set()
    [d] = p.webhooks.deliveries(view.id)
    assert [(t.outcome, t.error) for t in d.tries] == [("failed", r.error)]
    server.close()
    p.close()


def test_a_slow_batch_does_not_let_a_second_deliverer_send_its_later_deliveries(
    tmp_path, clock, receivers
):
    """A lease covers one try. Each try here takes 25 s of the platform's time (inside the
    30 s a try may last); while the third is under way a second deliverer runs. It must find
    only the delivery nobody has started — not the ones the first deliverer claimed with the
    batch a minute ago and has not reached yet — so every event is sent once, and no try is
    logged as interrupted or late."""
    p = hook_platform(tmp_path / "batch", clock)
    rx = receivers(now=clock)
    view, secret = p.webhooks.subscribe(rx.url, ["certificate.issued"], None, "op")
    rx.secrets.append(secret)
    for name, id_number in (
        ("张三", "110105199003071239"),
        ("李四", "11010519491231002X"),
        ("王五", "110101198001010053"),
        ("赵六", "350102198511223455"),
    ):
        person_certificate(p, name, id_number)
    assert p.webhooks.dispatch() == 4
    second: list = []
    took = rx.handle

    def slow_handle(path: str, headers: dict, body: bytes) -> int:
        status = took(path, headers, body)
        clock.advance(seconds=25)
        if len(rx.received) == 3 and not second:
            second.append(p.webhooks.deliver_due())  # another deliverer, meanwhile
        return status

    rx.handle = slow_handle
    first = p.webhooks.deliver_due(limit=10)
    assert [r.state for r in first + second[0]] == [DeliveryState.DELIVERED] * 4
    assert len(rx.received) == len(rx.unique()) == 4
    outcomes = [t.outcome for d in p.webhooks.deliveries(view.id) for t in d.tries]
    assert outcomes == ["delivered"] * 4
    p.close()


def test_json_logs_do_not_show_a_receivers_url_query(hp, receivers):
    """A receiver URL's query may carry the receiver's token (the audit trail keeps the URL
    without it). ``YINXIN_LOG_FORMAT=json`` puts the root logger at INFO, where httpx logs
    every request with its full URL: the deliveries must not put the query into the logs."""
    import logging

    from yinxin.adapters.http.ops import json_logging

    rx = receivers()
    url = rx.url.replace("?k=1", "?token=s3cr3t-token")
    view, secret = hp.webhooks.subscribe(url, ["*"], None, "op")
    rx.secrets.append(secret)
    person_certificate(hp, "张三", "110105199003071239")
    hp.webhooks.dispatch()
    root, httpx_log = logging.getLogger(), logging.getLogger("httpx")
    saved = (root.handlers[:], root.level, httpx_log.level)
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    try:
        json_logging()
        root.addHandler(Keep())
        [r] = hp.webhooks.deliver_due()
    finally:
        root.handlers[:], _, _ = saved
        root.setLevel(saved[1])
        httpx_log.setLevel(saved[2])
    assert r.state == DeliveryState.DELIVERED and len(rx.received) == 1
    assert not [line for line in lines if "s3cr3t-token" in line], lines


# --- secrets ------------------------------------------------------------------------------------
def test_rotation_with_overlap_signs_with_both_secrets_then_the_new_only(hp, clock, receivers):
    view, old = hp.webhooks.subscribe("http://127.0.0.1:9/x", ["*"], None, "op")
    rx = receivers(secrets=[old], now=clock)
    hp.webhooks.delete(view.id, actor="op")
    view, old = hp.webhooks.subscribe(rx.url, ["*"], None, "op")
    rx.secrets[:] = [old]
    _v, new = hp.webhooks.rotate_secret(view.id, actor="op", overlap=dt.timedelta(hours=1))
    assert new != old
    c = person_certificate(hp, "张三", "110105199003071239")
    pump(hp)
    [first] = rx.received
    assert not rx.bad  # the old secret still verifies
    assert first.signature.count("v1=") == 2  # signed with both
    rx.secrets[:] = [new]
    hp.certificates.freeze(c.serial, actor="op")
    pump(hp)
    assert len(rx.received) == 2 and not rx.bad  # the new one verifies too
    clock.advance(hours=2)
    rx.secrets[:] = [old]  # after the overlap the old secret no longer signs
    hp.certificates.unfreeze(c.serial, actor="op")
    hp.webhooks.dispatch()
    [r] = hp.webhooks.deliver_due()
    assert r.http_status == 400 and len(rx.bad) == 1
    rx.secrets[:] = [new]
    clock.advance(minutes=2)
    [r] = hp.webhooks.deliver_due()
    assert r.state == DeliveryState.DELIVERED
    assert rx.received[-1].signature.count("v1=") == 1  # the new secret only
    # deleted: the secret is destroyed, deliveries given up, no more verbs
    gone = hp.webhooks.delete(view.id, actor="op")
    assert gone.state == SubscriptionState.DELETED
    assert hp.webhooks.deliveries(view.id, state="given_up") == []
    hp.certificates.freeze(c.serial, actor="op")
    assert hp.webhooks.dispatch() == 0  # a deleted subscription gets nothing more
    with pytest.raises(IllegalTransition):
        hp.webhooks.rotate_secret(view.id, actor="op")
    with pytest.raises(IllegalTransition):
        hp.webhooks.resume(view.id, actor="op")


def test_unsafe_urls_are_refused_unless_allowed(tmp_path, clock, receivers):
    p = Platform(
        Settings(home=tmp_path / "strict", database_url=f"sqlite:///{tmp_path / 's.db'}"),
        clock=clock,
        passphrase=PASSPHRASE,
    )
    p.ca.init("ec-p256")
    hooks = p.webhooks
    assert hooks.allow_private is False
    for url in (
        "http://127.0.0.1/x",
        "http://localhost:8080/x",
        "https://10.1.2.3/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://[::ffff:192.168.1.1]/x",
        "http://app.localhost/x",
        # IPv4 in other IPv6 forms, reached through a NAT64 gateway, a 6to4 relay or the kernel
        "http://[64:ff9b::a00:1]/x",  # 10.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",  # 169.254.169.254
        "http://[64:ff9b:1::808:808]/x",  # the local-use NAT64 prefix
        "http://[2002:c0a8:101::1]/x",  # 6to4 of 192.168.1.1
        "http://[::7f00:1]/x",  # IPv4-compatible 127.0.0.1
    ):
        with pytest.raises(ValidationError) as e:
            hooks.subscribe(url, ["*"], None, "op")
        assert (e.value.field, e.value.code) == ("url", "unsafe_url"), url
    for url in ("http://[64:ff9b::808:808]/x", "http://[2002:808:808::1]/x"):
        assert check_url(url, allow_private=False) == url  # a public IPv4 host behind them
    for url in ("ftp://example.com/x", "https://user:pw@example.com/x", "example.com", ""):
        with pytest.raises(ValidationError) as e:
            hooks.subscribe(url, ["*"], None, "op")
        assert e.value.field == "url"
    with pytest.raises(ValidationError) as e:
        hooks.subscribe("https://example.com/x", ["certificate.issued", "nope"], None, "op")
    assert e.value.field == "events[1]"
    with pytest.raises(ValidationError) as e:
        hooks.subscribe("https://example.com/x", ["*"], 999, "op")
    assert e.value.field == "owner_organization_id"
    assert hooks.list() == []  # nothing half-written
    # a subscription made while private targets were allowed is still refused at sending time
    rx = receivers()
    hooks.allow_private = True
    view, secret = hooks.subscribe(rx.url, ["*"], None, "op")
    hooks.allow_private = False
    person_certificate(p, "张三", "110105199003071239")
    hooks.dispatch()
    [r] = hooks.deliver_due()
    assert r.state == DeliveryState.FAILED and "non-public address 127.0.0.1" in r.error
    assert rx.received == []
    p.close()


def test_a_name_rebound_to_loopback_after_the_check_is_not_connected_to(
    tmp_path, clock, receivers, monkeypatch
):
    """DNS rebinding: the receiver's name answers a public address to the check made before
    the try and 127.0.0.1 (where a service listens) to any later lookup. The try used to
    resolve the name again when it connected and POSTed to 127.0.0.1; it now connects to the
    address that was checked, and only to it."""
    p = Platform(
        Settings(home=tmp_path / "strict", database_url=f"sqlite:///{tmp_path / 's.db'}"),
        clock=clock,
        passphrase=PASSPHRASE,
    )
    p.ca.init("ec-p256")
    rx = receivers()
    view, secret = p.webhooks.subscribe(
        f"http://rebind.example:{rx.server.server_port}/hooks", ["*"], None, "op"
    )
    rx.secrets.append(secret)
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.create_connection
    lookups: list[str] = []
    connects: list[tuple] = []

    def getaddrinfo(host, port, *args, **kw):
        if host != "rebind.example":
            return real_getaddrinfo(host, port, *args, **kw)
        lookups.append(host)
        address = "93.184.216.34" if len(lookups) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    def create_connection(address, *args, **kw):
        connects.append(address)
        if address[0] == "93.184.216.34":  # the checked public address: nobody there
            raise ConnectionRefusedError(111, "Connection refused")
        return real_connect(address, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    person_certificate(p, "张三", "110105199003071239")
    p.webhooks.dispatch()
    [r] = p.webhooks.deliver_due()
    assert rx.received == [] and rx.bad == []  # the service on 127.0.0.1 was never called
    assert r.state == DeliveryState.FAILED and r.http_status is None
    assert "Connection refused" in r.error, r.error
    assert lookups == ["rebind.example"]  # resolved once, for the check
    assert connects == [("93.184.216.34", rx.server.server_port)]
    # a name answering a private address to the check is still refused before any connection
    [r] = p.webhooks.deliver_due(now=clock.now() + dt.timedelta(hours=1))
    assert r.state == DeliveryState.FAILED and "non-public address 127.0.0.1" in r.error
    assert lookups == ["rebind.example"] * 2 and len(connects) == 1
    assert rx.received == []
    p.close()


def test_urls_the_client_could_never_send_to_are_refused_when_subscribing(hp):
    """``urlsplit`` drops a tab or line break without a word, so such a URL passed the checks,
    got a secret, and then failed every try for a day ("Invalid non-printable ASCII
    character"); so did a host httpx cannot encode. They are refused at once, naming url."""
    for url in (
        "https://oa.example.com/yinxin/\nhook",
        "https://oa.example.com/yin\txin",
        "https://oa.example.com/a\x00b",
        "https://oa.example.com/a b",
        "https://xn--/hook",
        "https://0177.0.0.1/hook",
    ):
        with pytest.raises(ValidationError) as e:
            hp.webhooks.subscribe(url, ["*"], None, "op")
        assert e.value.field == "url", url
    assert hp.webhooks.list() == []
    view, _ = hp.webhooks.subscribe("https://例子.测试/回调?k=%20", ["*"], None, "op")
    assert view.url == "https://例子.测试/回调?k=%20"


# --- organization scope -------------------------------------------------------------------------
def test_an_organizations_subscription_gets_its_own_organizations_events_only(hp, receivers):
    org_a = organization(hp, "北京甲方科技有限公司", "91110108MA01YX0030")
    org_b = organization(hp, "上海乙方信息有限公司", "91310000MA1FL0000N")
    rx_a, rx_b, rx_all = receivers(), receivers(), receivers()
    for rx, owner in ((rx_a, org_a.id), (rx_b, org_b.id), (rx_all, None)):
        _v, secret = hp.webhooks.subscribe(rx.url, ["*"], owner, "op")
        rx.secrets.append(secret)
    a1 = person_certificate(hp, "王五", "350102198511223455", org=org_a.id)
    b1 = person_certificate(hp, "钱七", "110105199003071239", org=org_b.id)
    loner = person_certificate(hp, "赵六", "110101198001010053")  # in no organization
    hp.certificates.revoke(b1.serial, reason="no_longer_needed", actor="op")
    hp.certificates.freeze(a1.serial, actor="op")
    pump(hp)
    assert not (rx_a.bad or rx_b.bad or rx_all.bad)

    def seen(rx):
        return [(r.event_type, r.json["data"]["subject_id"]) for r in rx.received]

    assert seen(rx_a) == [
        ("certificate.issued", a1.serial),
        ("certificate.status_changed", a1.serial),
    ]
    assert seen(rx_b) == [("certificate.issued", b1.serial), ("certificate.revoked", b1.serial)]
    assert seen(rx_all) == [
        ("certificate.issued", a1.serial),
        ("certificate.issued", b1.serial),
        ("certificate.issued", loner.serial),
        ("certificate.revoked", b1.serial),
        ("certificate.status_changed", a1.serial),
    ]
    # the same event has the same id wherever it goes
    assert rx_a.received[0].event_id == rx_all.received[0].event_id
    # an organization's caller sees and changes its own subscriptions only
    [mine] = hp.webhooks.list(organization_id=org_a.id)
    with pytest.raises(NotFound):
        hp.webhooks.get(mine.id, organization_id=org_b.id)
    with pytest.raises(NotFound):
        hp.webhooks.pause(mine.id, actor="b", organization_id=org_b.id)
    with pytest.raises(NotFound):
        hp.webhooks.deliveries(mine.id, organization_id=org_b.id)


# --- the crash test -----------------------------------------------------------------------------
CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from yinxin.app import Platform
    from yinxin.notify.webhooks import RetryPolicy
    from yinxin.settings import Settings

    home = Path(sys.argv[1])
    p = Platform(
        Settings(home=home, database_url=f"sqlite:///{home / 'yinxin.db'}",
                 webhook_allow_private=True),
        passphrase=sys.argv[2],
    )
    p.webhooks.retry = RetryPolicy(lease_seconds=1)
    p.kek.ready()
    print("ready", flush=True)
    while True:
        p.webhooks.dispatch(limit=3)
        p.webhooks.deliver_due(limit=2)
    """
)


def test_fifty_kills_mid_delivery_lose_nothing_and_duplicates_share_their_event_id(
    tmp_path, receivers
):
    home = tmp_path / "crash"
    p = hook_platform(home)  # the system clock, as the child processes have
    rx = receivers(delay=(0.01, 0.06))
    view, secret = p.webhooks.subscribe(rx.url, ["*"], None, "op")
    rx.secrets.append(secret)
    c = person_certificate(p, "张三", "110105199003071239")
    for _ in range(20):
        p.certificates.freeze(c.serial, actor="op")
        p.certificates.unfreeze(c.serial, actor="op")
    expected = 41  # issued + 40 status changes
    rng = random.Random(12)
    kills = 0
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for _ in range(50):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(home), PASSPHRASE],
            stdout=subprocess.PIPE,
            env=env,
            cwd=str(ROOT),
        )
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.25))
        child.send_signal(signal.SIGKILL)
        child.wait()
        kills += 1
    # then run to completion (leases of killed deliverers run out after a second)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        pump(p, now=p.clock.now() + dt.timedelta(seconds=5))
        left = dbdump.count(p, WebhookDelivery, WebhookDelivery.state != DeliveryState.DELIVERED)
        total = dbdump.count(p, WebhookDelivery)
        if total == expected and left == 0:
            break
        time.sleep(0.2)
    assert kills == 50
    assert rx.bad == []
    log = p.webhooks.deliveries(view.id, limit=1000)
    assert len(log) == expected and all(d.state == "delivered" for d in log)
    # every event arrived; one event id per audit event; a duplicate is the same body
    unique = rx.unique()
    assert set(unique) == {d.event_id for d in log}
    assert sorted(r.json["data"]["audit_seq"] for r in unique.values()) == sorted(
        d.audit_seq for d in log
    )
    by_id: dict[str, set[bytes]] = {}
    for r in rx.received:
        by_id.setdefault(r.event_id, set()).add(r.body)
    assert all(len(bodies) == 1 for bodies in by_id.values())
    duplicates = len(rx.received) - len(unique)
    interrupted = sum(1 for d in log for a in d.tries if a.outcome == "interrupted")
    tries = Counter(a.outcome for d in log for a in d.tries)
    print(
        f"\n50 kills: {len(rx.received)} requests for {expected} events, {duplicates} "
        f"duplicates (same event id), tries {dict(tries)}, {rx.cut_short} cut short"
    )
    assert interrupted >= 1  # some kills did land mid-delivery
    p.close()


# --- PostgreSQL: two dispatchers and two deliverers at once -------------------------------------
@pytest.mark.postgres
def test_two_dispatchers_and_two_deliverers_on_postgres_enqueue_and_send_once(
    pg_cluster, tmp_path, receivers
):
    url = pg_cluster.new_database()
    p1 = hook_platform(tmp_path / "w1", url=url)
    p2 = hook_platform(tmp_path / "w1", url=url)  # a second worker: same keys, same database
    rx1, rx2 = receivers(), receivers()
    for rx in (rx1, rx2):
        _v, secret = p1.webhooks.subscribe(rx.url, ["*"], None, "op")
        rx.secrets.append(secret)
    c = person_certificate(p1, "张三", "110105199003071239")
    for _ in range(15):
        p1.certificates.freeze(c.serial, actor="op")
        p1.certificates.unfreeze(c.serial, actor="op")
    events = 31
    start = threading.Barrier(2)
    errors: list[BaseException] = []
    counts = {1: 0, 2: 0}

    def dispatcher(p: Platform, n: int) -> None:
        try:
            start.wait()
            for _ in range(40):
                counts[n] += p.webhooks.dispatch(limit=2)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=dispatcher, args=(p, n)) for n, p in ((1, p1), (2, p2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert counts[1] + counts[2] == events * 2 and counts[1] and counts[2]
    start = threading.Barrier(2)
    sent = {1: 0, 2: 0}
    results: list = []

    def deliverer(p: Platform, n: int) -> None:
        try:
            start.wait()
            while batch := p.webhooks.deliver_due(limit=3):
                sent[n] += len(batch)
                results.extend(batch)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=deliverer, args=(p, n)) for n, p in ((1, p1), (2, p2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sent[1] + sent[2] == events * 2
    assert {r.state for r in results} == {DeliveryState.DELIVERED}, [r.error for r in results]
    for rx in (rx1, rx2):
        assert not rx.bad
        assert len(rx.received) == events == len(rx.unique())  # each event once
        seqs = [r.json["data"]["audit_seq"] for r in rx.received]
        assert len(set(seqs)) == events
    assert {r.event_id for r in rx1.received} == {r.event_id for r in rx2.received}
    p1.close()
    p2.close()


# --- HTTP API and CLI ---------------------------------------------------------------------------
def test_api_routes_scope_and_capability(hp, receivers):
    from fastapi.testclient import TestClient

    from yinxin.adapters.http.api import build_api

    org_a = organization(hp, "北京甲方科技有限公司", "91110108MA01YX0030")
    org_b = organization(hp, "上海乙方信息有限公司", "91310000MA1FL0000N")
    keys = {
        "admin": hp.api_keys.create(name="admin", role="administrator", actor="t").secret,
        "officer": hp.api_keys.create(name="desk", role="ra_officer", actor="t").secret,
        "integration": hp.api_keys.create(name="oa", role="integration", actor="t").secret,
        "a": hp.api_keys.create(
            name="a", role="organization_admin", organization_id=org_a.id, actor="t"
        ).secret,
        "b": hp.api_keys.create(
            name="b", role="organization_admin", organization_id=org_b.id, actor="t"
        ).secret,
    }
    api = TestClient(build_api(hp))

    def call(who, method, path, **kw):
        headers = {"Authorization": f"Bearer {keys[who]}"}
        return api.request(method, "/api/v1" + path, headers=headers, **kw)

    rx = receivers()
    body = {"url": rx.url, "events": ["certificate.issued", "certificate.revoked"]}
    assert call("officer", "POST", "/webhooks", json=body).status_code == 403
    r = call("a", "POST", "/webhooks", json={**body, "organization_id": org_b.id})
    assert r.status_code == 422 and r.json()["field"] == "organization_id"
    r = call("a", "POST", "/webhooks", json=body)
    assert r.status_code == 201, r.text
    made = r.json()
    sub_id, secret = made["subscription"]["id"], made["secret"]
    rx.secrets.append(secret)
    assert made["subscription"]["owner_organization_id"] == org_a.id
    r = call("integration", "POST", "/webhooks", json={**body, "url": "ftp://x"})
    assert r.status_code == 422 and r.json()["field"] == "url"
    everything = receivers()
    r = call("integration", "POST", "/webhooks", json={"url": everything.url, "events": ["*"]})
    assert r.status_code == 201 and r.json()["subscription"]["owner_organization_id"] is None
    # lists and reads: an organization sees its own only; the administrator sees all
    assert call("a", "GET", "/webhooks").json() == {"items": [made["subscription"]], "next": None}
    assert call("b", "GET", "/webhooks").json() == {"items": [], "next": None}
    # a page at a time, as the other lists (it was a bare list of every subscription)
    first = call("admin", "GET", "/webhooks?limit=1").json()
    assert [w["id"] for w in first["items"]] == [sub_id] and first["next"] == str(sub_id)
    rest = call("admin", "GET", f"/webhooks?limit=1&after={first['next']}").json()
    assert len(rest["items"]) == 1 and rest["items"][0]["id"] > sub_id and rest["next"] is None
    for query, named in (("limit=0", "limit"), ("limit=201", "limit"), ("after=-1", "after")):
        r = call("admin", "GET", f"/webhooks?{query}")
        assert r.status_code == 422 and r.json()["field"] == named, r.text
    assert call("b", "GET", f"/webhooks/{sub_id}").status_code == 404
    assert call("b", "POST", f"/webhooks/{sub_id}/pause", json={}).status_code == 404
    assert len(call("admin", "GET", "/webhooks").json()) == 2
    assert secret not in call("a", "GET", f"/webhooks/{sub_id}").text
    # pause, resume, rotate
    r = call("a", "POST", f"/webhooks/{sub_id}/pause", json={"reason": "maintenance"})
    assert r.json()["state"] == "paused"
    assert call("a", "POST", f"/webhooks/{sub_id}/pause", json={}).status_code == 409
    assert call("a", "POST", f"/webhooks/{sub_id}/resume").json()["state"] == "active"
    r = call("a", "POST", f"/webhooks/{sub_id}/rotate-secret", json={"overlap_seconds": 600})
    assert r.status_code == 200 and r.json()["secret"] != secret
    rx.secrets.append(r.json()["secret"])
    # events and the delivery log, in cursor pages
    for i, name in enumerate(("王五", "钱七", "孙八")):
        ids = ("350102198511223455", "110105199003071239", "110101198001010053")
        person_certificate(hp, name, ids[i], org=org_a.id)
    pump(hp)
    assert len(rx.received) == 3 and not rx.bad
    page1 = call("a", "GET", f"/webhooks/{sub_id}/deliveries?limit=2").json()
    assert len(page1["items"]) == 2 and page1["next"]
    page2 = call("a", "GET", f"/webhooks/{sub_id}/deliveries?limit=2&after={page1['next']}")
    items = page1["items"] + page2.json()["items"]
    assert page2.json()["next"] is None and len(items) == 3
    assert [d["event_id"] for d in items] == [r.event_id for r in rx.received]
    assert items[0]["tries"][0]["http_status"] == 200 and items[0]["state"] == "delivered"
    assert call("b", "GET", f"/webhooks/{sub_id}/deliveries").status_code == 404
    # delete (both spellings refuse the second time)
    assert call("a", "DELETE", f"/webhooks/{sub_id}").json()["state"] == "deleted"
    assert call("a", "POST", f"/webhooks/{sub_id}/delete").status_code == 409


def test_cli_subscribe_dispatch_deliver_and_the_log(tmp_path, receivers):
    home = tmp_path / "cli"
    p = hook_platform(home)
    person_certificate(p, "张三", "110105199003071239")
    p.close()
    rx = receivers()
    env = {"YINXIN_WEBHOOK_ALLOW_PRIVATE": "1"}
    out = yinxin_cli(
        ["webhook", "subscribe", "--url", rx.url, "--event", "certificate.revoked"],
        home,
        env=env,
    )
    sub_line, secret = out.stdout.splitlines()[:2]
    assert sub_line.startswith("webhook 1 → ") and secret.startswith("whsec_")
    rx.secrets.append(secret)
    refused = yinxin_cli(
        ["webhook", "subscribe", "--url", "http://127.0.0.1/x", "--event", "*"],
        home,
        check=False,
    )
    assert refused.returncode == 2 and "[url]" in refused.stderr
    serial = yinxin_json(["cert", "list", "--json"], home)["items"][0]["serial"]
    yinxin_cli(["cert", "revoke", serial, "--reason", "key_compromise"], home)
    assert yinxin_json(["webhook", "dispatch", "--json"], home, env=env) == {"enqueued": 1}
    tried = yinxin_json(["webhook", "deliver", "--json"], home, env=env)["tried"]
    assert [t["state"] for t in tried] == ["delivered"]
    assert [r.event_type for r in rx.received] == ["certificate.revoked"] and not rx.bad
    [d] = yinxin_json(["webhook", "deliveries", "1", "--json"], home)["items"]  # a page
    assert d["event_id"] == rx.received[0].event_id and d["tries"][0]["outcome"] == "delivered"
    [w] = yinxin_json(["webhook", "list", "--json"], home)["items"]  # a page
    assert w["events"] == ["certificate.revoked"] and secret not in json.dumps(w)


def test_a_key_compromise_sends_a_revoked_event_for_each_certificate_of_the_key(hp, receivers):
    """A revocation for key compromise revokes every certificate of the key, anyone's: each is
    told to subscribers as its own ``certificate.revoked``, as a revocation of it alone is."""
    from tests.integration.test_ca_lifecycle import enrol, issue, make_csr, new_key

    a, b = enrol(hp), enrol(hp, n=1)
    key = new_key()
    mine = issue(hp, a.person.id, csr=make_csr(key))
    theirs = issue(hp, b.person.id, csr=make_csr(key))
    rx = receivers()
    _v, secret = hp.webhooks.subscribe(rx.url, ["certificate.revoked"], None, "op")
    rx.secrets.append(secret)
    hp.certificates.revoke(mine.serial, reason="key_compromise", actor="op")
    pump(hp)
    assert not rx.bad
    got = [(r.event_type, r.json["data"]["subject_id"]) for r in rx.received]
    assert got == [("certificate.revoked", mine.serial), ("certificate.revoked", theirs.serial)]
    assert rx.received[1].json["data"]["details"]["same_key_as"] == mine.serial


def test_a_star_beside_an_unknown_event_type_is_refused_like_the_unknown_type_alone(hp):
    """``["*", "flow.complete"]`` (a typo beside the star) subscribed to every type, the typo
    unseen, where ``["flow.complete", "*"]`` and ``["flow.complete"]`` were refused: every
    name given is checked whatever its place, naming the one that is unknown."""
    for events, named in (
        (["*", "flow.complete"], "events[1]"),
        (["flow.completed", "*", ""], "events[2]"),
        (["flow.complete", "*"], "events[0]"),
    ):
        with pytest.raises(ValidationError) as e:
            hp.webhooks.subscribe("https://oa.example.com/yinxin", events, None, "op")
        assert e.value.field == named, events
        assert "flow.complete'" in e.value.message or "''" in e.value.message
    assert hp.webhooks.list() == []  # nothing written
    view, _ = hp.webhooks.subscribe("https://oa.example.com/yinxin", ["*", "*"], None, "op")
    assert len(view.events) == len(EVENT_TYPES)
    view, _ = hp.webhooks.subscribe(
        "https://oa.example.com/other", ["flow.completed", "*"], None, "op"
    )
    assert len(view.events) == len(EVENT_TYPES)


def test_api_an_unknown_organization_is_refused_naming_the_bodys_organization_id(hp):
    """``{"organization_id": 99999}`` was refused naming ``owner_organization_id``, a field the
    body has not (the service's name); the refusal names ``organization_id`` now."""
    from fastapi.testclient import TestClient

    from yinxin.adapters.http.api import build_api

    person = hp.subscribers.add_person(
        name="张三", id_number="110105199003071239", phone="13800138000"
    )
    admin = hp.api_keys.create(name="admin", role="administrator", actor="t").secret
    api = TestClient(build_api(hp), headers={"Authorization": f"Bearer {admin}"})
    body = {"url": "https://oa.example.com/yinxin", "events": ["*"]}
    for org in (99999, person.id):  # none, and a person, not an organization
        r = api.post("/api/v1/webhooks", json={**body, "organization_id": org})
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "organization_id", r.text
    assert hp.webhooks.list() == []


def test_a_description_or_pause_reason_with_a_hidden_character_is_refused(hp):
    """A description or pause reason holding ESC[8m (which hid every later line of
    ``webhook list`` in a terminal before its escaping), a NUL or U+202E was kept as given;
    they are refused naming the field, as every other text a person reads, nothing written."""
    url = "https://oa.example.com/yinxin"
    for text in ("OA\x1b[8m", "a\x00b", "OA\u202e系统"):
        with pytest.raises(ValidationError) as e:
            hp.webhooks.subscribe(url, ["*"], None, "op", description=text)
        assert e.value.field == "description"
        assert "U+" in e.value.message
    assert hp.webhooks.list() == []
    view, _ = hp.webhooks.subscribe(url, ["*"], None, "op", description=" 办公 系统\t(OA) ")
    assert view.description == "办公 系统 (OA)"
    audit_before = len(hp.audit_events(limit=1000))
    for text in ("维护\x1b[2J", "x\u200by"):
        with pytest.raises(ValidationError) as e:
            hp.webhooks.pause(view.id, actor="op", reason=text)
        assert e.value.field == "reason"
    assert hp.webhooks.get(view.id).state == SubscriptionState.ACTIVE
    assert len(hp.audit_events(limit=1000)) == audit_before
    paused = hp.webhooks.pause(view.id, actor="op", reason="系统\n维护")
    assert paused.state_reason == "系统 维护"


def test_a_private_address_in_a_shorthand_ipv4_form_is_refused_when_subscribing(hp):
    """``http://2130706433/``, ``http://127.1/``, ``http://0x7f.0.0.1/`` and ``http://0/`` are
    127.0.0.1 and 0.0.0.0 to the resolver (inet_aton), so every try was refused as a
    non-public address for a day — but subscribing took them, with a secret, as the "address
    written in the URL" check read only dotted quads. They are refused when subscribing now,
    code unsafe_url; the same forms of a public address are kept (they can be sent to)."""
    hooks = hp.webhooks
    hooks.allow_private = False
    for url in (
        "http://2130706433/x",  # 127.0.0.1
        "http://127.1/x",
        "http://0x7f.0.0.1/x",
        "http://0x7f000001/x",
        "http://0/x",  # 0.0.0.0
        "http://10.1/x",  # 10.0.0.1
        "http://0xa9.254.169.254/latest/meta-data",  # 169.254.169.254
        "http://192.168.257/x",  # 192.168.1.1
    ):
        with pytest.raises(ValidationError) as e:
            hooks.subscribe(url, ["*"], None, "op")
        assert (e.value.field, e.value.code) == ("url", "unsafe_url"), url
    assert hooks.list() == []
    for url in ("http://134744072/x", "http://0x8.8.8.8/x", "https://deadbeef.example/x"):
        assert check_url(url, allow_private=False) == url  # 8.8.8.8; a name


def test_a_key_with_a_long_name_subscribes_and_is_audited(any_platform) -> None:
    """An API key's name may be 100 characters; the actor it writes, ``api:<prefix>:<name>``,
    was then 117, past ``audit_events.actor`` and ``webhook_subscriptions.created_by`` (100):
    on PostgreSQL every audited call of such a key answered 500 ("value too long for type
    character varying(100)"), the subscription not made. The actor is cut to 100 characters
    (the prefix, which names the key, is whole)."""
    from fastapi.testclient import TestClient

    from yinxin.adapters.http.api import build_api

    p = any_platform
    issued = p.api_keys.create(name="集成" * 50, role="administrator", actor="t")
    api = TestClient(
        build_api(p),
        headers={"Authorization": f"Bearer {issued.secret}"},
        raise_server_exceptions=False,
    )
    body = {"url": "https://oa.example.com/yinxin", "events": ["*"], "description": "OA"}
    r = api.post("/api/v1/webhooks", json=body)
    assert r.status_code == 201, r.text
    made = r.json()["subscription"]
    assert made["created_by"].startswith(f"api:{issued.key.prefix}:集成")
    assert len(made["created_by"]) == 100
    r = api.post(f"/api/v1/webhooks/{made['id']}/pause", json={"reason": "维护"})
    assert r.status_code == 200, r.text
    [ev] = p.audit_events(action="webhook.paused")
    assert ev.actor == made["created_by"]


def test_answers_holding_a_secret_are_not_stored_by_caches(hp) -> None:
    """The answers that show a webhook secret (subscribe, rotate-secret) or an API key's secret
    (POST /api-keys), once, had no Cache-Control, where a login's answer says no-store: a
    browser or proxy cache could keep the secret. They say no-store now."""
    from fastapi.testclient import TestClient

    from yinxin.adapters.http.api import build_api

    admin = hp.api_keys.create(name="admin", role="administrator", actor="t").secret
    api = TestClient(build_api(hp), headers={"Authorization": f"Bearer {admin}"})
    r = api.post("/api/v1/webhooks", json={"url": "https://oa.example.com/y", "events": ["*"]})
    assert r.status_code == 201 and r.json()["secret"].startswith("whsec_")
    assert r.headers.get("cache-control") == "no-store"
    sid = r.json()["subscription"]["id"]
    r = api.post(f"/api/v1/webhooks/{sid}/rotate-secret", json={})
    assert r.status_code == 200 and r.headers.get("cache-control") == "no-store"
    r = api.post("/api/v1/api-keys", json={"name": "oa", "role": "integration"})
    assert r.status_code == 201 and r.headers.get("cache-control") == "no-store"


def test_a_secret_kept_for_an_idempotent_retry_is_sealed_in_the_database(hp) -> None:
    """POST /webhooks (or /api-keys) with an Idempotency-Key kept its answer — the signing
    secret, the API key — in idempotency_records as plain bytes for 24 hours: a copy of the
    database (or an export) had the secret the docs say it cannot have. The answer is kept
    sealed under the platform KEK now; the retry still gets it back byte for byte."""
    from starlette.testclient import TestClient

    from yinxin.adapters.http.server import create_app
    from yinxin.store.models.access import IdempotencyRecord

    admin = hp.api_keys.create(name="admin", role="administrator", actor="t").secret
    for role in hp.status.crl_roles():
        hp.status.current_crl(role)
    with TestClient(
        create_app(hp, jobs=False),
        base_url="http://127.0.0.1:8000",
        headers={"Authorization": f"Bearer {admin}"},
    ) as api:
        asks = [
            ("/api/v1/webhooks", b'{"url":"https://oa.example.com/y","events":["*"]}', "hook-1"),
            ("/api/v1/api-keys", b'{"name":"oa","role":"integration"}', "key-1"),
        ]
        for path, body, key in asks:
            headers = {"Content-Type": "application/json", "Idempotency-Key": key}
            first = api.post(path, content=body, headers=headers)
            assert first.status_code == 201, first.text
            secret = first.json()["secret"]
            again = api.post(path, content=body, headers=headers)
            assert again.headers.get("idempotent-replayed") == "true"
            assert again.status_code == 201 and again.content == first.content
            with hp.db.read() as s:
                kept = [r.body for r in s.query(IdempotencyRecord).all()]
            assert kept and all(secret.encode() not in (b or b"") for b in kept), path
    assert len(hp.webhooks.list()) == 1 and len(hp.api_keys.list()) == 2


def test_a_sealed_kept_answer_that_can_no_longer_be_read_is_refused_not_run_again(hp) -> None:
    """A retry whose kept answer was sealed under a KEK that cannot open it any more (the KEK
    changed within the day) is refused, 409 naming Idempotency-Key: running it again would
    make a second subscription or key; without a KEK such an answer is not kept at all."""
    from yinxin.access.idempotency import Idempotency
    from yinxin.errors import Conflict

    class Lost:
        def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
            return hp.kek.encrypt(plaintext, aad)

        def decrypt(self, blob: bytes, aad: bytes) -> bytes:
            raise ValueError("another KEK")

    ask = {"caller": "c" * 64, "key": "k1", "method": "POST", "path": "/api/v1/webhooks"}
    kept = Idempotency(hp.db, hp.clock, Lost())
    assert kept.claim(**ask, request_sha256="0" * 64) is None
    kept.answer(
        caller=ask["caller"], key="k1", status_code=201, content_type="x", body=b"s", sealed=True
    )
    with pytest.raises(Conflict) as e:
        kept.claim(**ask, request_sha256="0" * 64)
    assert e.value.field == "Idempotency-Key" and e.value.code == "idempotency_answer_unreadable"
    bare = Idempotency(hp.db, hp.clock)
    other = {**ask, "key": "k2"}
    assert bare.claim(**other, request_sha256="0" * 64) is None
    bare.answer(
        caller=ask["caller"], key="k2", status_code=201, content_type="x", body=b"s", sealed=True
    )
    assert bare.claim(**other, request_sha256="0" * 64) is None  # not kept: runs again


def test_refusals_naming_a_role_read_as_english(hp) -> None:
    """ "a administrator key is not bound to an organization", "a organization_admin key may
    not do this": the article is "an" before a vowel now."""
    from fastapi.testclient import TestClient

    from yinxin.adapters.http.api import build_api

    org = organization(hp, "北京甲方科技有限公司", "91110108MA01YX0030")
    with pytest.raises(ValidationError) as e:
        hp.api_keys.create(name="k", role="administrator", organization_id=org.id, actor="t")
    assert e.value.message == "an administrator key is not bound to an organization"
    secret = hp.api_keys.create(
        name="a", role="organization_admin", organization_id=org.id, actor="t"
    ).secret
    api = TestClient(build_api(hp), headers={"Authorization": f"Bearer {secret}"})
    r = api.get("/api/v1/api-keys")
    assert r.status_code == 403
    assert r.json()["detail"] == "an organization_admin key may not do this (manage_keys)"


def _cli(p: Platform, *args: str):
    from typer.testing import CliRunner

    from yinxin.adapters.cli import app as cli_app

    return CliRunner().invoke(cli_app, list(args), env=cli_env(p))


def test_cli_pauses_resumes_and_deletes_a_subscription_as_the_api_does(hp) -> None:
    """``yinxin webhook`` could subscribe and list but not pause, resume or delete: an operator
    without an API key could not stop a subscription at all. Each is the service's verb now,
    recorded under ``--actor``."""
    view, _secret = hp.webhooks.subscribe("http://127.0.0.1:9/x", ["*"], None, "operator")
    by = ("--actor", "运维 张三")
    res = _cli(hp, "webhook", "pause", str(view.id), "--reason", "接收方维护", *by)
    assert res.exit_code == 0, res.output
    w = hp.webhooks.get(view.id)
    assert w.state == SubscriptionState.PAUSED and w.state_reason == "接收方维护"
    res = _cli(hp, "webhook", "resume", str(view.id), "--json", "--actor", "运维 张三")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["state"] == "active"
    res = _cli(hp, "webhook", "delete", str(view.id), "--actor", "运维 张三")
    assert res.exit_code == 0, res.output
    assert hp.webhooks.get(view.id).state == SubscriptionState.DELETED
    events = hp.audit_events(subject_type="webhook_subscription")
    assert [(e.action, e.actor) for e in events][-3:] == [
        ("webhook.paused", "运维 张三"),
        ("webhook.resumed", "运维 张三"),
        ("webhook.deleted", "运维 张三"),
    ]


def test_cli_rotate_secret_prints_the_new_secret_once_and_list_never(hp, clock) -> None:
    """``webhook rotate-secret ID`` prints the new secret once, as ``subscribe`` does (the
    summary, the secret alone on the next line, the advice on standard error); the old one
    signs too for ``--overlap`` seconds; ``webhook list`` shows neither."""
    view, old = hp.webhooks.subscribe("http://127.0.0.1:9/x", ["*"], None, "operator")
    res = _cli(hp, "webhook", "rotate-secret", str(view.id), "--overlap", "3600")
    assert res.exit_code == 0, res.output
    summary, secret = res.stdout.splitlines()
    assert summary.startswith(f"webhook {view.id} ") and secret.startswith("whsec_")
    assert secret != old and res.stdout.count(secret) == 1
    assert "not shown again" in res.stderr and secret not in res.stderr
    w = hp.webhooks.get(view.id)
    assert w.previous_secret_until is not None
    with hp.db.read() as s:
        from yinxin.notify.webhooks import _aad
        from yinxin.store.models.webhooks import WebhookSubscription

        row = s.get(WebhookSubscription, view.id)
        assert hp.kek.decrypt(row.secret_wrapped, _aad(view.id)).decode() == secret
    for args in (["webhook", "list"], ["webhook", "list", "--json"]):
        listed = _cli(hp, *args)
        assert listed.exit_code == 0 and secret not in listed.output and old not in listed.output
    res = _cli(hp, "webhook", "rotate-secret", str(view.id), "--json")
    assert res.exit_code == 0, res.output
    again = json.loads(res.stdout)
    assert again["secret"].startswith("whsec_") and again["secret"] != secret
    assert again["subscription"]["previous_secret_until"] is None  # no --overlap: none


def test_cli_webhook_verbs_refuse_and_write_nothing(hp) -> None:
    """An unknown id exits 3; a move the subscription's state does not allow (pause a paused
    one, resume an active one, delete a deleted one, rotate a deleted one's secret) is refused
    as the service refuses it, exit 4; bad input exits 2 naming the option. Nothing written."""
    paused, _ = hp.webhooks.subscribe("http://127.0.0.1:9/a", ["*"], None, "operator")
    hp.webhooks.pause(paused.id, actor="operator")
    active, _ = hp.webhooks.subscribe("http://127.0.0.1:9/b", ["*"], None, "operator")
    gone, _ = hp.webhooks.subscribe("http://127.0.0.1:9/c", ["*"], None, "operator")
    hp.webhooks.delete(gone.id, actor="operator")
    cases = [
        (["pause", "999999"], 3, "subscription_id"),
        (["resume", "999999"], 3, "subscription_id"),
        (["rotate-secret", "999999"], 3, "subscription_id"),
        (["delete", "999999"], 3, "subscription_id"),
        (["pause", str(paused.id)], 4, "state"),
        (["resume", str(active.id)], 4, "state"),
        (["rotate-secret", str(gone.id)], 4, "state"),
        (["delete", str(gone.id)], 4, "state"),
        (["pause", str(active.id), "--reason", "a\u202eb"], 2, "reason"),
    ]
    before = dbdump.dump(hp)
    for args, code, field_ in cases:
        res = _cli(hp, "webhook", *args, "--json")
        assert res.exit_code == code, (args, res.output)
        assert json.loads(res.stdout)["field"] == field_, (args, res.stdout)
    for overlap in ("-1", "604801", "1h"):
        res = _cli(hp, "webhook", "rotate-secret", str(active.id), "--overlap", overlap)
        assert res.exit_code == 2, (overlap, res.output)
        assert "'--overlap'" in res.stderr and "whsec_" not in res.output
    # a new secret is wrapped under the KEK: without the CA passphrase, refused before it is made
    from typer.testing import CliRunner

    from yinxin.adapters.cli import app as cli_app

    env = cli_env(hp, YINXIN_CA_PASSPHRASE="")
    res = CliRunner().invoke(cli_app, ["webhook", "rotate-secret", str(active.id)], env=env)
    assert res.exit_code == 7 and "[passphrase]" in res.stderr and "whsec_" not in res.output
    assert dbdump.dump(hp) == before


def test_cli_subscribe_records_the_actor_given(hp) -> None:
    """``webhook subscribe`` recorded every subscription as made by ``operator`` and took no
    ``--actor``, where the group's other verbs (pause, resume, rotate-secret, delete) record
    who acts; it records ``--actor`` now (``operator`` when it is left out)."""
    url = "http://127.0.0.1:9/x"
    base = ["webhook", "subscribe", "--url", url, "--event", "*", "--json"]
    env = {"YINXIN_WEBHOOK_ALLOW_PRIVATE": "1"}
    from typer.testing import CliRunner

    from yinxin.adapters.cli import app as cli_app

    res = CliRunner().invoke(cli_app, [*base, "--actor", "运维 张三"], env=cli_env(hp, **env))
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["subscription"]["created_by"] == "运维 张三"
    other = [*base[:3], "http://127.0.0.1:9/y", *base[4:]]  # one subscription per receiver
    res = CliRunner().invoke(cli_app, other, env=cli_env(hp, **env))
    assert json.loads(res.stdout)["subscription"]["created_by"] == "operator"
    events = hp.audit_events(subject_type="webhook_subscription")
    assert [(e.action, e.actor) for e in events][-2:] == [
        ("webhook.subscribed", "运维 张三"),
        ("webhook.subscribed", "operator"),
    ]


# --- one active subscription per receiver ---------------------------------------------------------
def test_a_receiver_already_subscribed_is_refused_over_the_api_naming_the_first(hp) -> None:
    """The same URL could be subscribed twice (another secret each time): every event was then
    delivered twice to the one receiver. An owner's second active subscription to the same
    receiver (the scheme's and host's case, a default port and an empty path do not make
    another) is refused 409 naming ``url`` and the subscription that has it; nothing is
    written. Another path, another organization, or a URL whose subscription was deleted
    subscribes."""
    from fastapi.testclient import TestClient

    from yinxin.adapters.http.api import build_api

    org = organization(hp, "北京甲方科技有限公司", "91110108MA01YX0030")
    admin = hp.api_keys.create(name="admin", role="administrator", actor="t").secret
    api = TestClient(build_api(hp), headers={"Authorization": f"Bearer {admin}"})
    first = api.post("/api/v1/webhooks", json={"url": "https://oa.example.com", "events": ["*"]})
    assert first.status_code == 201, first.text
    first_id = first.json()["subscription"]["id"]
    before = dbdump.dump(hp)
    for url in ("https://oa.example.com/", "HTTPS://OA.Example.COM:443", "https://oa.example.com"):
        r = api.post("/api/v1/webhooks", json={"url": url, "events": ["flow.completed"]})
        assert r.status_code == 409, (url, r.text)
        assert r.json()["field"] == "url" and r.json()["code"] == "duplicate", r.text
        assert f"webhook subscription {first_id}" in r.json()["detail"], r.text
        assert "whsec_" not in r.text
    assert dbdump.dump(hp) == before
    # not the same receiver: another path (its case kept), another port, another owner
    for body in (
        {"url": "https://oa.example.com/Hook", "events": ["*"]},
        {"url": "https://oa.example.com/hook", "events": ["*"]},
        {"url": "https://oa.example.com:8443/", "events": ["*"]},
        {"url": "https://oa.example.com/", "events": ["*"], "organization_id": org.id},
    ):
        assert api.post("/api/v1/webhooks", json=body).status_code == 201, body
    # a deleted subscription leaves its URL free
    assert api.delete(f"/api/v1/webhooks/{first_id}").status_code == 200
    again = api.post("/api/v1/webhooks", json={"url": "https://OA.example.com", "events": ["*"]})
    assert again.status_code == 201, again.text


def test_a_paused_subscription_does_not_hold_its_url_but_is_not_resumed_beside_a_twin(
    hp, receivers
) -> None:
    """A paused subscription (by its owner, or by a 410) lets the receiver be subscribed
    again; resuming the paused one beside the new one is then refused, 409 naming the active
    one, and it stays paused. Each event reaches the receiver once."""
    rx = receivers()
    old, _ = hp.webhooks.subscribe(rx.url, ["*"], None, "op")
    hp.webhooks.pause(old.id, actor="op")
    new, secret = hp.webhooks.subscribe(rx.url.replace("http:", "HTTP:"), ["*"], None, "op")
    rx.secrets.append(secret)
    with pytest.raises(Conflict) as e:
        hp.webhooks.resume(old.id, actor="op")
    assert e.value.field == "url" and f"webhook subscription {new.id}" in e.value.message
    assert hp.webhooks.get(old.id).state == SubscriptionState.PAUSED
    person_certificate(hp, "张三", "110105199003071239")
    pump(hp)
    ids = [r.event_id for r in rx.received]
    assert ids and len(ids) == len(set(ids))
    hp.webhooks.delete(new.id, actor="op")
    assert hp.webhooks.resume(old.id, actor="op").state == SubscriptionState.ACTIVE


def test_cli_subscribe_refuses_a_receiver_already_subscribed_and_writes_nothing(hp) -> None:
    """``yinxin webhook subscribe`` the same receiver again: exit 6 (a conflict), the message
    naming the subscription that has it, no secret printed, nothing written."""
    first, _ = hp.webhooks.subscribe("https://oa.example.com/yinxin", ["*"], None, "op")
    before = dbdump.dump(hp)
    args = ["webhook", "subscribe", "--url", "https://OA.EXAMPLE.COM/yinxin", "--event", "*"]
    res = _cli(hp, *args)
    assert res.exit_code == 6, res.output
    assert f"webhook subscription {first.id}" in res.stderr and "whsec_" not in res.output
    res = _cli(hp, *args, "--json")
    assert res.exit_code == 6, res.output
    refusal = json.loads(res.stdout)
    assert (refusal["field"], refusal["error"]) == ("url", "duplicate"), refusal
    assert f"webhook subscription {first.id}" in refusal["message"]
    assert dbdump.dump(hp) == before


def test_the_database_refuses_a_twin_a_parallel_request_checked_too_early(
    any_platform, monkeypatch
) -> None:
    """Two processes subscribing one receiver at once both find no twin before either
    writes (PostgreSQL): the unique index refuses the second, as a conflict naming ``url``,
    and writes nothing of it — a resume likewise. Simulated by a check that finds nothing."""
    from yinxin.notify.webhooks import Webhooks

    p = any_platform
    url = "https://oa.example.com/yinxin"
    first = p.webhooks.subscribe(url, ["*"], None, "op").subscription
    paused = p.webhooks.subscribe(url + "/", ["*"], None, "op").subscription
    p.webhooks.pause(paused.id, actor="op")
    p.webhooks.subscribe(url.upper().replace("/YINXIN", "/yinxin/"), ["*"], None, "op")
    before = dbdump.dump(p)
    monkeypatch.setattr(Webhooks, "_active_twin", staticmethod(lambda *_: None))
    with pytest.raises(Conflict) as e:
        p.webhooks.subscribe(url.replace("oa.", "OA."), ["*"], None, "op")
    assert e.value.field == "url" and e.value.code == "duplicate"
    with pytest.raises(Conflict) as e:
        p.webhooks.resume(paused.id, actor="op")
    assert e.value.field == "url"
    assert dbdump.dump(p) == before
    assert p.webhooks.get(first.id).state == SubscriptionState.ACTIVE


def _one_delivery_due(home: Path, receivers) -> tuple[Platform, Receiver]:
    """A platform at ``home`` with one subscription to everything at a new receiver (its
    secret known to the receiver) and one delivery due: a certificate's issue dispatched."""
    p = hook_platform(home)
    rx = receivers()
    rx.secrets.append(p.webhooks.subscribe(rx.url, ["*"], None, "运维").secret)
    person_certificate(p, "张三", "110105199003071239")
    assert p.webhooks.dispatch() == 1
    return p, rx


def test_deliver_without_the_ca_passphrase_is_refused_before_any_try_is_spent(
    tmp_path, receivers
) -> None:
    """A cron line (docs/webhooks.md, "Running it") whose environment lacks the passphrase, or
    has a wrong one, cannot open the secrets: it exits as every command that needs the key
    store does (7, 5) and claims nothing. Before, it exited 0 and logged a failed try against
    each due delivery — the receiver's record, though the receiver was never called — so a day
    of such runs gave every event up."""
    home = tmp_path / "home"
    p, rx = _one_delivery_due(home, receivers)
    p.close()
    env = {"YINXIN_WEBHOOK_ALLOW_PRIVATE": "1"}
    for passphrase, code, said in (
        (None, 7, "[passphrase]"),
        ("not the passphrase", 5, "wrong CA passphrase"),
    ):
        out = yinxin_cli(["webhook", "deliver"], home, passphrase=passphrase, env=env, check=False)
        assert (out.returncode, said in out.stderr) == (code, True), out
        [d] = yinxin_json(["webhook", "deliveries", "1"], home)["items"]
        assert (d["state"], d["attempts"], d["tries"]) == ("pending", 0, [])
    assert rx.received == []
    tried = yinxin_json(["webhook", "deliver"], home, env=env)["tried"]
    assert [(t["state"], t["attempt"]) for t in tried] == [("delivered", 1)]
    assert len(rx.received) == 1 and not rx.bad


def test_the_deliver_jobs_result_counts_tries_and_deliveries_apart(hp, clock, receivers) -> None:
    """``yinxin jobs runs`` is where an operator of ``yinxin serve`` sees the deliverer: a run
    whose every try failed said ``delivered: 1`` (it counted tries); it now says both."""
    from yinxin.jobs import Runner, last_runs

    rx = receivers(answers=[500], now=clock)
    rx.secrets.append(hp.webhooks.subscribe(rx.url, ["*"], None, "运维").secret)
    person_certificate(hp, "张三", "110105199003071239")
    clock.advance(minutes=1)
    r = Runner(hp, name="a")
    r.tick()  # dispatch, then the first try: 500
    assert last_runs(hp.db)["webhooks.deliver"].result == "1 tried, 0 delivered"
    clock.advance(minutes=2)  # past the first back-off (30 s ± 20 %)
    r.tick()
    assert last_runs(hp.db)["webhooks.deliver"].result == "1 tried, 1 delivered"
    assert [x.event_type for x in rx.received] == ["certificate.issued"] * 2 and not rx.bad


def test_cli_delivery_log_pages_and_says_more_come(hp, receivers) -> None:
    """The log is oldest first: ``yinxin webhook deliveries ID`` cut it at --limit without a
    word, so past 50 deliveries an operator saw the oldest ones and never the recent failures,
    nor that more came. It pages as ``webhook list`` does: ``more: --after N`` ending a page
    with more, ``--json`` ``{"items": […], "next_after": N}`` (before, a bare list)."""
    rx = receivers()
    rx.secrets.append(hp.webhooks.subscribe(rx.url, ["*"], None, "运维").secret)
    for name, number in (
        ("张三", "110105199003071239"),
        ("李四", "11010519491231002X"),
        ("王五", "110105194912310038"),
    ):
        person_certificate(hp, name, number)
    assert len(pump(hp)) == 3
    first, second, third = (d.id for d in hp.webhooks.deliveries(1))
    out = _cli(hp, "webhook", "deliveries", "1", "--limit", "2")
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert [ln.split()[0] for ln in lines] == [f"#{first}", f"#{second}", "more:"]
    assert lines[-1] == f"more: --after {second}"
    page = json.loads(_cli(hp, "webhook", "deliveries", "1", "--limit", "2", "--json").stdout)
    assert ([d["id"] for d in page["items"]], page["next_after"]) == ([first, second], second)
    rest = _cli(hp, "webhook", "deliveries", "1", "--after", str(second), "--json").stdout
    assert json.loads(rest)["next_after"] is None
    assert [d["id"] for d in json.loads(rest)["items"]] == [third]
    out = _cli(hp, "webhook", "deliveries", "1", "--state", "delivered", "--json").stdout
    assert [d["state"] for d in json.loads(out)["items"]] == ["delivered"] * 3


def test_pause_and_rotate_secret_take_no_body_when_there_is_nothing_to_say(hp) -> None:
    """Every member of a pause's body (``reason``) and of a rotation's (``overlap_seconds``) may
    be left out, and resume and delete take no body; yet a POST with none was ``422`` "body:
    Field required", in English alone. No body is the empty one now: paused with no reason,
    rotated with no overlap. A body given is judged as before."""
    from fastapi.testclient import TestClient

    from yinxin.adapters.http.api import build_api

    admin = hp.api_keys.create(name="admin", role="administrator", actor="t").secret
    api = TestClient(build_api(hp), headers={"Authorization": f"Bearer {admin}"})
    view, old = hp.webhooks.subscribe("https://oa.example.com/yinxin", ["*"], None, "op")
    url = f"/api/v1/webhooks/{view.id}"
    r = api.post(f"{url}/pause")
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["state_reason"]) == ("paused", None)
    assert api.post(f"{url}/resume").status_code == 200
    r = api.post(f"{url}/rotate-secret")
    assert r.status_code == 200, r.text
    assert r.json()["secret"] not in (None, old)
    assert r.json()["subscription"]["previous_secret_until"] is None
    for path, body, field_ in (
        ("pause", {"reason": "x" * 501}, "reason"),
        ("pause", {"note": "x"}, "note"),
        ("rotate-secret", {"overlap_seconds": -1}, "overlap_seconds"),
    ):
        r = api.post(f"{url}/{path}", json=body)
        assert r.status_code == 422 and r.json()["field"] == field_, r.text
    assert api.post("/api/v1/webhooks/999999/pause").status_code == 404
    doc = api.get("/api/v1/openapi.json").json()["paths"]
    for path in ("pause", "rotate-secret"):
        assert not doc[f"/api/v1/webhooks/{{subscription_id}}/{path}"]["post"]["requestBody"].get(
            "required"
        )


def test_cli_judges_a_pause_reason_before_the_subscription(hp) -> None:
    """``webhook pause ID --reason`` of more than 500 characters was cut to its first 500
    without a word (the API refuses it), and for an id of no subscription said "not found"
    first; it is refused naming ``reason``, exit 2, whatever the id. A blank reason is none
    (it was kept as an empty one, listed blank where none is "-")."""
    view, _ = hp.webhooks.subscribe("http://127.0.0.1:9/x", ["*"], None, "operator")
    before = dbdump.dump(hp)
    for sid in ("999999", str(view.id)):
        res = _cli(hp, "webhook", "pause", sid, "--reason", "维护" * 251, "--json")
        assert res.exit_code == 2, (sid, res.output)
        assert json.loads(res.stdout)["field"] == "reason" and "500" in res.stdout
    assert dbdump.dump(hp) == before
    res = _cli(hp, "webhook", "pause", str(view.id), "--reason", " \t ", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["state_reason"] is None
    assert hp.webhooks.get(view.id).state_reason is None


def test_a_worker_whose_key_store_lacks_the_kek_blocks_deliveries_with_one_warning(
    tmp_path, receivers
) -> None:
    """A worker (or ``serve``) running for weeks on a key store that cannot open the secrets —
    ``keys/platform-kek.kek`` not restored after a move, a token without the key — failed the
    ``webhooks.deliver`` job every period, forever: an ERROR line and a ``failed`` run each
    minute, each saying the same. The deliveries were already left untouched; now the run is
    recorded as blocked (done, ``WARNING blocked …`` with the reason, in its one INFO line as
    every run's), the log says so once at WARNING, and once the key store is right again the
    waiting delivery goes out."""
    from yinxin.jobs import Runner, history

    home = tmp_path / "home"
    p, rx = _one_delivery_due(home, receivers)
    kek = home / "keys" / "platform-kek.kek"
    kek.rename(tmp_path / "kek.away")
    env = yinxin_env(home, extra={"YINXIN_WEBHOOK_ALLOW_PRIVATE": "1", "YINXIN_SWEEP_SECONDS": "1"})
    worker = subprocess.Popen(
        [sys.executable, "-m", "yinxin.adapters.cli", "worker", "--name", "w1", "--tick", "0.2"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        end = time.monotonic() + 60
        while len(history(p.db, job="webhooks.deliver")) < 3:
            assert time.monotonic() < end and worker.poll() is None, "the worker ran no deliverer"
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=30)[0]
    assert worker.returncode == 0, output
    deliver_runs = history(p.db, job="webhooks.deliver")
    assert {r.state for r in deliver_runs} == {"done"}, deliver_runs
    for r in deliver_runs:
        assert r.result.startswith("WARNING blocked"), r.result
        assert "platform-kek" in r.result and "deliveries wait" in r.result
    said = [line for line in output.splitlines() if "webhooks.deliver" in line]
    assert not [line for line in said if " ERROR " in line], output
    warned = [line for line in output.splitlines() if " WARNING yinxin" in line and "kek" in line]
    assert len(warned) == 1 and "webhooks.deliver blocked" in warned[0], output
    [d] = p.webhooks.deliveries(1)
    assert (d.state, d.attempts) == ("pending", 0) and rx.received == []
    # in one process, as a worker left running: blocked, then the KEK file back, delivered
    p.close()  # its KEK was opened while the secret was made
    p = hook_platform(home)
    runner = Runner(p, name="after")
    assert runner.run_now("webhooks.deliver").result.startswith("WARNING blocked")
    (tmp_path / "kek.away").rename(kek)
    time.sleep(1.1)  # a manual run's period is its second
    out = runner.run_now("webhooks.deliver")
    assert (out.state, out.result) == ("done", "1 tried, 1 delivered"), out
    assert len(rx.received) == 1 and not rx.bad
    p.close()


def test_a_pause_reason_over_500_characters_is_refused_in_both_languages(hp) -> None:
    """A pause reason over 500 characters was refused over the API by the body's schema,
    "reason: String should have at most 500 characters" (pydantic's English alone, which the
    web pages cannot show in Chinese), and by the CLI "at most 500 characters (this one: 501)",
    English alone beside its hidden-character refusal's two languages. Both are the service's
    refusal now, 422 / exit 2 naming ``reason``, in Chinese and English; the subscription stays
    active, nothing written. Blank is still no reason."""
    from tests.integration.api_world import keyed_client, problem_of
    from yinxin.errors import halves

    view, _secret = hp.webhooks.subscribe("http://127.0.0.1:9/x", ["*"], None, "operator")
    said = ("暂停原因最多 500 个字符（此处 501 个）", "at most 500 characters (this one: 501)")
    admin = hp.api_keys.create(name="admin", role="administrator", actor="t").secret
    with keyed_client(hp, admin) as api:
        before = dbdump.dump(hp)
        r = api.post(f"/api/v1/webhooks/{view.id}/pause", json={"reason": "维" * 501})
        assert halves(problem_of(r, 422, "reason", "invalid")["detail"]) == said, r.text
        res = _cli(hp, "webhook", "pause", str(view.id), "--reason", "维" * 501, "--json")
        err = json.loads(res.stdout)
        assert (res.exit_code, err["field"], err["error"]) == (2, "reason", "invalid"), err
        assert halves(err["message"]) == said, err
        assert dbdump.diff(before, dbdump.dump(hp)) == []
        r = api.post(f"/api/v1/webhooks/{view.id}/pause", json={"reason": "维" * 500})
        assert r.status_code == 200 and r.json()["state_reason"] == "维" * 500, r.text
