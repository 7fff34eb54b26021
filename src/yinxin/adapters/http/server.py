"""The platform's HTTP server (``yinxin serve``).

The status protocols (CRL, OCSP, timestamps, CA certificates) are the hot path a relying party
hits, so they are served by a small ASGI function in front of FastAPI: no routing tables,
validation or JSON on the way. Everything else (health, the JSON API to come) goes to FastAPI.

Every protocol error is answered in the protocol's own terms (OCSP malformedRequest, RFC 3161
badDataFormat/badAlg) or as HTTP 4xx; oversize bodies are cut off at 64 KiB, and a POST
declared as another media type than its protocol's is 415 (``wrong_media_type``).

``serve_http`` runs it under uvicorn with the limits a public responder needs (``Limits``):
uvicorn itself has no deadline for a request's headers or body and no connection cap that does
not also count idle keep-alive connections, so a few hundred slow clients could hold it for
ever. ``GuardedHttpToolsProtocol`` adds those deadlines and the cap, and ``event_loop`` accepts
every pending connection at once (libuv accepts one per loop iteration, which under load left
new connections seconds in the kernel's accept queue).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import errno
import functools
import gc
import hashlib
import json
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.responses import JSONResponse
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from yinxin import __version__
from yinxin.adapters.http.asgi import HEAD_ONLY, ClientGone, read_body, respond
from yinxin.adapters.http.inert import InertAnswers
from yinxin.adapters.http.ops import Observed, json_logging, readiness
from yinxin.adapters.http.privacy import PrivateAnswers
from yinxin.app import Platform, build_platform
from yinxin.errors import ConfigurationError, ValidationError, YinxinError
from yinxin.pki.ocsp import Answer as OcspAnswer
from yinxin.registry.ca import ROLES, SIDE_HIERARCHIES, is_ca_role, split_role

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
CT_OCSP_REQ = b"application/ocsp-request"
CT_TSQ = b"application/timestamp-query"
# what a binary body may also be labelled: some clients say so of any DER they send
CT_BINARY = b"application/octet-stream"


def wrong_media_type(scope, wanted: bytes) -> str | None:
    """The Content-Type a status-protocol POST declares when it is not one we read, else None.

    RFC 3161 §3.4 and RFC 6960 A.1.1 name the type a request is sent as. Real clients
    (``openssl ocsp -url``, pyHanko, Adobe, Java's and Windows' timestamp clients) send it;
    a bare body (no Content-Type) and ``application/octet-stream`` are taken too, as the same
    bytes. Anything else declared — a form (what ``curl --data-binary`` sends without ``-H``),
    text, JSON, the other protocol's type — was answered as if it were the request: a token for
    a body its sender labelled something else, or a DER rejection a form or JSON client cannot
    read. Parameters and case are ignored (RFC 9110 §8.3.1); one look over the headers."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            if media == wanted or media == CT_BINARY:
                return None
            return value.decode("latin-1")
    return None


# How long a shared cache may serve one OCSP answer before asking again: a revocation
# reaches every client behind a cache within a minute (the answer itself lives 7 days).
OCSP_MAX_AGE = 60


# a pre-signed answer is sent as the same bytes object for minutes: its dates and ETag are
# worked out once (a bytes object keeps its hash, so a lookup costs no pass over it)
@functools.lru_cache(maxsize=1024)
def _http_date(t: dt.datetime) -> bytes:
    return format_datetime(t.astimezone(dt.UTC), usegmt=True).encode()


def _etag_of(der: bytes) -> bytes:
    """An answer's ETag: the hex SHA-256 of its bytes, quoted."""
    return b'"' + hashlib.sha256(der).hexdigest().encode() + b'"'


# an OCSP answer's, remembered (a CRL's is kept by ``CrlHeaders``, one a role)
_etag = functools.lru_cache(maxsize=1024)(_etag_of)


# How long a shared cache may serve one CRL before asking again: a revocation publishes a new
# CRL at once, so a relying party behind a cache sees it within a minute (the CRL itself lives
# 7 days, the root's 90, and no cache keeps it past nextUpdate).
CRL_MAX_AGE = 60


def cache_headers(
    etag: bytes, this_update: dt.datetime, next_update: dt.datetime, now: dt.datetime, age: int
) -> list[tuple[bytes, bytes]]:
    """What a signed status answer (an OCSP response, a CRL) tells HTTP caches, from its own
    dates: Last-Modified its thisUpdate, Expires its nextUpdate, ``etag`` (hex SHA-256 of its
    bytes) and ``max-age, public, no-transform, must-revalidate``, the max-age at most ``age``
    seconds and never past nextUpdate."""
    left = int((next_update - now).total_seconds())
    max_age = max(0, min(age, left))
    return [
        (b"last-modified", _http_date(this_update)),
        (b"expires", _http_date(next_update)),
        (b"etag", etag),
        (b"cache-control", b"max-age=%d, public, no-transform, must-revalidate" % max_age),
    ]


def not_modified(scope, headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a GET or HEAD for an answer sent with ``headers`` (``cache_headers``) is answered
    304 (RFC 9110 §13.1, §13.2.2): If-None-Match, when sent, alone decides (weak comparison,
    ``*`` matches); else If-Modified-Since, when a valid date after Last-Modified. Not on the
    same second (the RFC's SHOULD, declined): HTTP dates count whole seconds and two answers
    can share one — a revocation signed in the second of the CRL or "good" OCSP answer a cache
    holds, or a CRL following one whose thisUpdate ran ahead (``status._after``) — and a 304
    would keep the stale one in the cache; If-None-Match (the ETag) has no such blind spot. A
    request without either (nearly all) costs one look over its headers."""
    none_match: list[bytes] = []
    since: bytes | None = None
    for name, value in scope.get("headers", ()):
        if name == b"if-none-match":
            none_match += (t.strip().removeprefix(b"W/") for t in value.split(b","))
        elif name == b"if-modified-since":
            since = value
    if (not none_match and since is None) or scope["method"] not in ("GET", "HEAD"):
        return False
    ours = dict(headers)
    etag, modified = ours.get(b"etag"), ours.get(b"last-modified")
    if etag is None or modified is None:
        return False  # no validators (a nonce, an error status): always in full
    if none_match:
        return b"*" in none_match or etag in none_match
    try:
        when = parsedate_to_datetime(since.decode("latin-1"))  # type: ignore[union-attr]
    except (TypeError, ValueError, IndexError):
        return False  # an invalid date is ignored (RFC 9110 §13.1.3)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return parsedate_to_datetime(modified.decode()) < when


async def respond_cached(
    send, scope, body: bytes, content_type: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    """``body`` with its caching ``headers``, or 304 Not Modified with the same headers and no
    body when the request's validators match them (``not_modified``)."""
    if not_modified(scope, headers):
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    await respond(send, 200, body, content_type, headers)


def ocsp_cache_headers(answer: OcspAnswer, now: dt.datetime) -> list[tuple[bytes, bytes]]:
    """What an OCSP answer tells HTTP caches (RFC 5019 §6.2, RFC 9919 §6.2), from the response
    itself. A nonce-less signed one: ``cache_headers`` (Last-Modified its thisUpdate, Expires
    its nextUpdate, an ETag of its bytes, ``max-age, public, no-transform, must-revalidate``).
    One echoing a nonce answers one request: ``private``, no shared cache keeps it. An error
    status (malformed, unauthorized, internal error) is not authoritative: ``no-store``, as the
    RFC asks of non-authoritative answers."""
    if answer.this_update is None or answer.next_update is None:
        return [(b"cache-control", b"no-store")]
    if answer.nonce:
        return [(b"cache-control", b"private, max-age=0, no-transform")]
    return cache_headers(
        _etag(answer.der), answer.this_update, answer.next_update, now, OCSP_MAX_AGE
    )


class CrlHeaders:
    """The caching headers of each role's CRL, worked out once per CRL: ``current_crl`` hands
    the same bytes object back until a new CRL is signed, so only a new one is parsed and
    hashed (one entry per role: a superseded CRL is not kept in memory)."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[bytes, bytes, dt.datetime, dt.datetime]] = {}

    def __call__(self, role: str, der: bytes, now: dt.datetime) -> list[tuple[bytes, bytes]]:
        seen = self._seen.get(role)
        if seen is None or seen[0] is not der:
            crl = x509.load_der_x509_crl(der)
            etag = _etag_of(der)
            next_update = crl.next_update_utc or crl.last_update_utc  # ours always have one
            seen = (der, etag, crl.last_update_utc, next_update)
            self._seen[role] = seen
        _, etag, this_update, next_update = seen
        return cache_headers(etag, this_update, next_update, now, CRL_MAX_AGE)


_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    500: "internal",
    503: "unavailable",
}


async def _error(
    send,
    status: int,
    message: str,
    *,
    allow: bytes | None = None,
    code: str | None = None,
    field: str | None = None,
) -> None:
    """A fast-lane refusal, ``{"error": code, "message": …}`` with the code the status means
    (it was ``bad_request`` for all), and ``field`` when one part of the request is at fault;
    a 405 names the methods the path takes (``Allow``)."""
    error = code or _CODES.get(status, "bad_request")
    refusal = {"error": error, "message": message}
    if field is not None:
        refusal["field"] = field
    body = json.dumps(refusal).encode()
    headers = [(b"allow", allow)] if allow is not None else []
    await respond(send, status, body, b"application/json", headers)


async def _media_error(send, declared: str, wanted: bytes, rfc: str) -> None:
    """415 for a status-protocol POST declared as another type (``wrong_media_type``)."""
    message = (
        f"the body was sent as {declared!r}; send the DER request with "
        f"Content-Type: {wanted.decode()} ({rfc})"
    )
    await _error(send, 415, message, field="Content-Type")


CRL_CHECK_SECONDS = 300


async def _refresh_crls_once(status) -> None:
    """One round: each CA's CRL re-signed if its status changed, none is stored yet or its
    nextUpdate is within CRL_REFRESH_BEFORE (``current_crl``); a failure is logged, not raised."""
    try:  # every hierarchy's (the SM2 one's too, once added)
        roles = await asyncio.get_running_loop().run_in_executor(None, status.crl_roles)
    except Exception:
        log.exception("CRL refresh: could not list the CAs")
        roles = ["issuing", "root"]
    for role in roles:
        try:
            await asyncio.get_running_loop().run_in_executor(None, status.current_crl, role)
        except Exception:  # keep serving; the next fetch or round tries again
            log.exception("CRL refresh for %s failed", role)


async def _refresh_crls(status) -> None:
    """Re-sign CRLs before nextUpdate runs out even when nobody fetches them, every
    CRL_CHECK_SECONDS after the first round, which the server's start-up awaits."""
    while True:
        await asyncio.sleep(CRL_CHECK_SECONDS)
        await _refresh_crls_once(status)


def mount_pages(api, platform: Platform) -> None:
    """The Chinese web pages (``adapters/web``) on the same app as the API they call; the web
    package imports nothing of this one."""
    from yinxin.adapters.web import mount_web

    mount_web(api, platform)


def create_app(platform: Platform, *, jobs: bool = True) -> object:
    """The server's ASGI app. With ``jobs`` it also runs the platform's time-driven jobs
    (``yinxin.jobs``: expiry, outbox, CRLs, notices…) while it serves; each job runs once per
    period however many server processes and ``yinxin worker`` processes there are."""
    from yinxin.pki.der import warm_asn1

    warm_asn1()  # before requests share asn1crypto's classes across threads
    status, ocsp, tsa = platform.status, platform.ocsp, platform.tsa

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        # the first round before the server answers: it ran beside the first requests, so a
        # new home's first CRLs were signed at some moment after /healthz said ready — a
        # caller reading the database then (a backup, a test's "nothing written") raced it
        await _refresh_crls_once(status)
        tasks = [asyncio.create_task(_refresh_crls(status))]
        runner = None
        if jobs:
            from yinxin.jobs import runner_for

            # named, as docs/jobs.md says runs are (host:pid:name), not by a thread number
            runner = runner_for(platform, name="serve").start()
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            if runner is not None:
                await asyncio.get_running_loop().run_in_executor(None, runner.stop, 30.0)

    from yinxin.adapters.http.api import build_api, guarded

    api = build_api(platform, lifespan=lifespan)
    mount_pages(api, platform)

    @api.get("/healthz", include_in_schema=False)
    def healthz() -> dict:
        """Alive: the process answers (no dependency checked)."""
        return {"ok": True, "version": __version__}

    @api.get("/readyz", include_in_schema=False)
    def readyz():
        """Ready: the database answers and is migrated, the CA's certificates load."""
        ready, checks = readiness(platform)
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    rest = guarded(api, platform)

    crl_headers = CrlHeaders()

    def in_thread(fn, *args):
        return asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return await rest(scope, receive, send)
        path: str = scope["path"]
        method: str = scope["method"]
        try:
            if path == "/ocsp" or path.startswith("/ocsp/"):
                if method == "POST":
                    if (declared := wrong_media_type(scope, CT_OCSP_REQ)) is not None:
                        return await _media_error(send, declared, CT_OCSP_REQ, "RFC 6960 A.1")
                    body = await read_body(receive, MAX_BODY)
                    if body is None:
                        return await _error(send, 413, "OCSP request larger than 64 KiB")
                    der = body
                elif method in ("GET", "HEAD") and len(path) > 6:
                    try:
                        der = base64.b64decode(unquote(path[6:]), validate=False)
                    except (binascii.Error, ValueError):
                        return await _error(send, 400, "the GET path is not base64")
                else:
                    # a GET carries its request in the path: /ocsp itself takes a POST only
                    allow = b"POST" if len(path) <= 6 else b"GET, HEAD, POST"
                    return await _error(
                        send, 405, "use GET /ocsp/<base64> or POST /ocsp", allow=allow
                    )
                answer = ocsp.answer(der)  # cached responses need no thread hop
                headers = ocsp_cache_headers(answer, status.clock.now())
                return await respond_cached(
                    send, scope, answer.der, b"application/ocsp-response", headers
                )
            if path == "/tsa" or path.startswith("/tsa/"):
                # /tsa: the default hierarchy's TSA; /tsa/sm2: the SM2 hierarchy's
                hierarchy = path[5:]
                if hierarchy and hierarchy not in SIDE_HIERARCHIES:
                    return await _error(send, 404, f"no TSA named {hierarchy!r}")
                if method != "POST":
                    return await _error(
                        send, 405, "POST an application/timestamp-query", allow=b"POST"
                    )
                if (declared := wrong_media_type(scope, CT_TSQ)) is not None:
                    return await _media_error(send, declared, CT_TSQ, "RFC 3161 §3.4")
                body = await read_body(receive, MAX_BODY)
                if body is None:
                    return await _error(send, 413, "timestamp request larger than 64 KiB")
                service = tsa.of(hierarchy)
                if hierarchy:
                    status.ca_certificate(service.role)  # 404 when there is no such hierarchy
                resp = await in_thread(service.respond, body)
                return await respond(send, 200, resp, b"application/timestamp-reply")
            crl = path.startswith("/crl/") and path.endswith(".crl")
            cer = path.startswith("/ca/") and path.endswith(".cer")
            if (crl or cer) and method not in ("GET", "HEAD"):
                what = "CRL" if crl else "CA certificate"
                return await _error(send, 405, f"a {what} is read with GET", allow=b"GET, HEAD")
            if crl:
                role = path[5:-4]
                if not is_ca_role(role):
                    return await _error(send, 404, f"no CRL named {role!r}")
                der = await in_thread(status.current_crl, role)
                headers = crl_headers(role, der, status.clock.now())
                return await respond_cached(send, scope, der, b"application/pkix-crl", headers)
            if cer:
                role = path[4:-4]
                if split_role(role)[1] not in ROLES:
                    return await _error(send, 404, f"no CA certificate named {role!r}")
                der = status.ca_certificate(role).public_bytes(Encoding.DER)
                return await respond(send, 200, der, b"application/pkix-cert")
        except ClientGone:
            return None
        except YinxinError as e:
            if e.http_status >= 500:
                return await _error(send, 503, e.message)
            return await _error(send, e.http_status, e.message, code=e.code)
        except Exception:
            log.exception("status endpoint failure")
            return await _error(send, 500, "internal error")
        if method == "HEAD":
            # HEAD is GET without the body (RFC 9110 9.3.2), as the CRLs and CA certificates
            # above answer it: FastAPI routes GET alone, so a load balancer's HEAD /healthz and
            # a client's HEAD on a download were 405. The server sends no body for a HEAD.
            # A route whose GET records something (an export's download on the audit trail)
            # reads HEAD_ONLY and leaves the record out: a HEAD is no download.
            scope = {**scope, "method": "GET", HEAD_ONLY: True}
        return await rest(scope, receive, send)

    app.status = status  # type: ignore[attr-defined]
    app.ocsp = ocsp  # type: ignore[attr-defined]
    app.tsa = tsa  # type: ignore[attr-defined]
    s = platform.settings
    # what caches may keep: answers through a signing link, and a caller's own API reads
    private = PrivateAnswers(app)
    # what a browser may do with an API answer opened as a page: nothing (no sniffing, no script)
    return Observed(
        InertAnswers(private), platform, access=s.access_log, metrics_token=s.metrics_token
    )


def app_from_env():
    """Factory for ``uvicorn --factory`` / several workers: each worker builds its platform from
    the environment (YINXIN_HOME, YINXIN_CA_PASSPHRASE …) — workers cannot prompt."""
    platform = build_platform(passphrase=os.environ.get("YINXIN_CA_PASSPHRASE"))
    if platform.settings.log_format == "json":
        json_logging()
    app = create_app(platform, jobs=os.environ.get("YINXIN_SERVE_JOBS") != "0")
    freeze_heap()
    return app


def freeze_heap() -> None:
    """Move everything alive now (modules, the platform, keys, caches: ~130,000 objects) out of
    the garbage collector's reach. They live as long as the process, yet every full collection
    walked them: 70–120 ms pauses every few seconds under load, each one added to the latency
    of every request waiting. Called once the app is built, in server processes only."""
    gc.collect()
    gc.freeze()


# --- serving: limits on what one client may hold -------------------------------------------


@dataclass(frozen=True)
class Limits:
    """What one client may hold of a server process, and for how long.

    A request's headers must be complete ``header_timeout`` seconds after the connection was
    accepted (first request) or after its first byte arrived (later requests on a keep-alive
    connection), and its body ``body_timeout`` seconds after its headers; a keep-alive
    connection idle for ``keep_alive_timeout`` seconds is closed. Headers larger than
    ``max_header_bytes`` are refused (431). A process serves at most ``max_connections``
    connections at once; the ones beyond are answered 503 (``Retry-After: 1``) as soon as their
    headers arrive and closed, or closed after ``REJECT_TIMEOUT`` seconds if nothing arrives:
    they are not counted, so they cannot push the count higher either.
    """

    header_timeout: float = 5.0
    body_timeout: float = 10.0
    keep_alive_timeout: float = 5.0
    max_connections: int = 1000
    max_header_bytes: int = 64 * 1024


REJECT_TIMEOUT = 1.0  # how long a connection over the limit may take to send its headers
ACCEPT_BATCH = 256  # connections accepted per readiness of the listening socket
ACCEPT_PAUSE = 0.1  # out of descriptors: stop accepting this long rather than spin
_IDLE, _HEAD, _BODY = 0, 1, 2  # where a connection is: between requests, in headers, in body


def _plain_response(status: int, message: str, extra: bytes = b"") -> bytes:
    """A complete HTTP/1.1 response that closes the connection, written straight to the
    transport by the protocol (no ASGI cycle exists yet when headers time out)."""
    body = message.encode()
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: %d\r\nconnection: close\r\n%s\r\n"
        % (status, HTTPStatus(status).phrase.encode(), len(body), extra)
    ) + body


async def _service_busy(scope, receive, send) -> None:
    """The ASGI app of a connection over the limit: 503 at once, and close."""
    body = json.dumps({"error": "busy", "message": "too many connections; retry"}).encode()
    await respond(
        send, 503, body, b"application/json", [(b"retry-after", b"1"), (b"connection", b"close")]
    )


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body deadlines and a connection cap.

    uvicorn arms a timer only between requests (keep-alive), so a client that connects and
    sends nothing, drips its headers, or declares a body and stops, holds the connection (and
    the ASGI task waiting for the body) for ever. Here one timer per connection covers the
    phase it is in; it is only armed when a request is split across reads or a connection is
    new, so a request that arrives whole (the OCSP case) costs no timer operation at all.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict,
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits: Limits = getattr(config, "limits", None) or Limits()
        self._phase = _HEAD  # a new connection owes us a request line
        self._timer: asyncio.TimerHandle | None = None
        self._timer_phase = _IDLE
        self._head_bytes = 0
        self._rejected = False

    # connection
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            # answered 503 by _service_busy once the request is read: closing at once, with
            # the request unread, would make the kernel send a reset instead of the answer
            self.connections.discard(self)
            self._rejected = True
            self.app = _service_busy
        self._arm(_HEAD)

    def connection_lost(self, exc: Exception | None) -> None:
        self._arm(_IDLE)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            self._arm(_IDLE)
            return
        phase = self._phase
        if phase == _HEAD:
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._give_up(431, "request headers too large")
                return
        if phase != self._timer_phase:
            self._arm(phase)

    # parser callbacks: only note the phase; data_received arms the timer after parsing
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = _HEAD
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._phase = _BODY

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._phase = _IDLE

    # the deadline
    def _arm(self, phase: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_phase = phase
        if phase == _IDLE:
            return
        if self._rejected:
            seconds = REJECT_TIMEOUT
        else:
            seconds = self.limits.header_timeout if phase == _HEAD else self.limits.body_timeout
        self._timer = self.loop.call_later(seconds, self._expired)

    def _expired(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._earlier_in_flight():
            # the request is waiting behind an earlier one on this connection (pipelining):
            # that one is the app's to finish; look again after another interval
            self._arm(self._phase)
            return
        what = "headers" if self._phase == _HEAD else "body"
        self._give_up(408, f"request {what} not received in time")

    def _earlier_in_flight(self) -> bool:
        """Is an earlier request on this connection still being answered?"""
        if self.pipeline:
            return True
        cycle = self.cycle  # in the body phase, the request being received; else the last one
        return self._phase == _HEAD and cycle is not None and not cycle.response_complete

    def _give_up(self, status: int, message: str) -> None:
        """Answer the request being received with ``status`` (unless it was answered already,
        or an earlier answer is still being written) and close the connection."""
        self._arm(_IDLE)
        cycle = self.cycle
        answer = not self._earlier_in_flight()
        if self._phase == _BODY and cycle is not None:
            if not cycle.response_complete:
                cycle.disconnected = True  # its app, waiting for the body, gets http.disconnect
            answer = answer and not cycle.response_started
        if answer:
            self.transport.write(_plain_response(status, message))
        self.transport.close()


class _Listener:
    """The part of ``asyncio.Server`` uvicorn uses (``close``, ``wait_closed``, ``sockets``),
    over an accept loop that takes every pending connection (up to ``ACCEPT_BATCH``) each
    time the listening socket is readable."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        backlog: int,
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._factory = protocol_factory
        self._pending: set[asyncio.Task] = set()
        self._closed = False
        self.sockets = [sock]
        sock.setblocking(False)
        sock.listen(backlog)
        loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log.warning("accept: %s", exc)  # this connection only; keep listening
                    return
                log.warning("accept: %s; pausing %.1f s", exc.strerror, ACCEPT_PAUSE)
                self._loop.remove_reader(self._sock.fileno())
                self._loop.call_later(ACCEPT_PAUSE, self._resume)
                return
            conn.setblocking(False)
            if conn.family in (socket.AF_INET, socket.AF_INET6):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self._loop.create_task(self._loop.connect_accepted_socket(self._factory, conn))
            self._pending.add(task)
            task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not set up an accepted connection: %s", task.exception())

    def _resume(self) -> None:
        if not self._closed:
            self._loop.add_reader(self._sock.fileno(), self._accept)

    def close(self) -> None:
        """Stop accepting (uvicorn closes the socket itself afterwards)."""
        if not self._closed:
            self._closed = True
            self._loop.remove_reader(self._sock.fileno())

    def is_serving(self) -> bool:
        return not self._closed

    async def wait_closed(self) -> None:
        return None


def event_loop() -> asyncio.AbstractEventLoop:
    """uvicorn's loop factory (``Config(loop=f"{__name__}:event_loop")``): uvloop, with
    ``create_server(sock=…)`` served by ``_Listener``. Since libuv 1.45 (libuv#3696) uvloop
    accepts one connection per loop iteration; when an iteration serves 200 busy
    connections (~50–150 ms), a burst of new ones waited seconds to be accepted — the
    requests over 2 s at 200 connections. Without uvloop, asyncio's own loop (which accepts
    up to the backlog at once)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        return asyncio.new_event_loop()

    class Loop(uvloop.Loop):  # type: ignore[misc, name-defined]
        async def create_server(
            self, protocol_factory, host=None, port=None, *, sock=None, backlog=100, **kwargs
        ):
            if sock is None or kwargs.get("ssl") is not None:
                return await super().create_server(
                    protocol_factory, host, port, sock=sock, backlog=backlog, **kwargs
                )
            return _Listener(self, sock, protocol_factory, backlog)

    return Loop()


class ServeConfig(uvicorn.Config):
    """uvicorn's config with our protocol, loop and ``Limits``; it travels (pickled) to each
    worker process, which is how the workers' protocols learn the limits."""

    def __init__(self, app: object, *, limits: Limits, **kwargs: Any) -> None:
        self.limits = limits
        super().__init__(
            app,
            http=GuardedHttpToolsProtocol,
            loop=f"{__name__}:event_loop",
            timeout_keep_alive=limits.keep_alive_timeout,  # type: ignore[arg-type]
            log_level="warning",
            access_log=False,
            **kwargs,
        )


def listening_socket(host: str, port: int) -> socket.socket:
    """The listening socket, made by us in every mode: with IPPROTO_TCP (uvicorn's own
    multi-worker socket loses TCP_NODELAY, and every keep-alive answer then waits ~40 ms for
    Nagle and the delayed ACK), and so that ``_Listener`` is the one accepting.

    An address that cannot be had is refused before anything is served, naming what to change:
    a host that is no address or name (``host``, invalid input), one this machine does not
    have, a port another process holds or one below 1024 without the privilege
    (configuration)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except socket.gaierror as e:
        sock.close()
        raise ValidationError(
            f"{host!r} is neither an IP address nor a name this machine resolves ({e.strerror})",
            field="host",
        ) from None
    except OSError as e:
        sock.close()
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise ConfigurationError(
            f"cannot listen on {where}: {e.strerror or e}{_BIND_HINTS.get(e.errno, '')}",
            field="host" if e.errno == errno.EADDRNOTAVAIL else "port",
        ) from None
    # Listen now, not when uvicorn starts: "Serving on" is printed next, and a client that
    # connected between the two (a health check, a script waiting for the line) was refused.
    # A connection made now waits in the backlog until the server accepts it (uvicorn's
    # create_server calls listen() again, with its own backlog).
    sock.listen(_BACKLOG)
    sock.set_inheritable(True)
    return sock


_BACKLOG = 2048  # uvicorn's default

_BIND_HINTS = {
    errno.EADDRINUSE: " — another process (another yinxin serve?) holds it; stop it or choose "
    "another --port",
    errno.EACCES: " — ports below 1024 need privileges; choose --port 1024 or above, or let a "
    "reverse proxy listen there",
    errno.EADDRNOTAVAIL: " — this machine has no such address; use 127.0.0.1, :: or 0.0.0.0",
}


def _ensure_descriptors(limits: Limits) -> Limits:
    """Raise the soft open-file limit to what ``max_connections`` needs (plus room for the
    database, keys and logs); if the hard limit is lower, serve fewer connections rather than
    fail on accept."""
    import resource

    need = limits.max_connections + 128
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        new = need if hard == resource.RLIM_INFINITY else min(need, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft < need:
            fewer = max(16, soft - 128)
            log.warning("open-file limit %d: serving at most %d connections", soft, fewer)
            return replace(limits, max_connections=fewer)
    return limits


def serve_http(
    app: object,
    *,
    host: str,
    port: int,
    workers: int = 1,
    limits: Limits | None = None,
    json_logs: bool = False,
    sock: socket.socket | None = None,
) -> None:
    """Run ``app`` (an ASGI app, or with ``workers`` > 1 the import string of a factory that
    each worker calls) on ``host``:``port`` until SIGINT/SIGTERM. ``json_logs``: uvicorn
    leaves logging alone (``json_logging`` has set it up). ``sock``: the listening socket,
    already bound (``listening_socket``), else it is made here."""
    limits = _ensure_descriptors(limits or Limits())
    sock = sock or listening_socket(host, port)
    logs = {"log_config": None} if json_logs else {}
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        config = ServeConfig(
            app, limits=limits, factory=True, host=host, port=port, workers=workers, **logs
        )
        Multiprocess(config, sockets=[sock]).run()
    else:
        freeze_heap()
        config = ServeConfig(app, limits=limits, host=host, port=port, **logs)
        uvicorn.Server(config).run(sockets=[sock])
