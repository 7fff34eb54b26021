"""Two guards in front of the API routes, as plain ASGI: rate limits and idempotent POSTs.

**Rate limits.** A token bucket per caller (the SHA-256 of its ``Authorization`` header or its
browser session cookie, or its address when it sends neither): ``rate`` requests a second on
average, ``burst`` at once. Over it, the answer is 429 with ``Retry-After`` (whole seconds until
a token is back), the same number as the body's ``retry_after``.

**Idempotency.** A POST with an ``Idempotency-Key`` header is claimed for its caller before it
runs (``yinxin.access.idempotency``); a retry with the same key and the same request gets the
first answer back, byte for byte, and acts no second time. An answer that only asks for more
(``202`` ``code_required``: a code sent by SMS, marked by the route with ``NOT_KEPT``) is not
kept: it gives the key back, so the same key completes the request with the code. The request
body is read here (up to ``max_body``) to hash it, then handed on unchanged. It is hashed
with the ``Content-Type`` as the route reads them (``as_read``): no body, to a route that takes
none as ``{}``, is ``{}`` sent as JSON, so a retry without the ``{}`` the first sent (or the
other way round) is the same request, given the first answer. A replay is sent
only while the credential that made the request still stands (``Credentials``): the answer
kept may hold a secret (a new API key's, a flow's signing links), and a key revoked or expired
since — or a session ended — must not read it back for the rest of the 24 hours.

A POST that opens a browser session (``SESSION_OPENING``: the logins, the public
self-registration) is refused with an ``Idempotency-Key`` (422 ``idempotency_not_supported``),
before it runs: its answer's worth is in its ``Set-Cookie`` headers, which are not kept (the
session's secret is never stored), so a replay would hand back the body without them — a
"success" that logs no one in, while the first request has used the one-time code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from yinxin.access.idempotency import Idempotency
from yinxin.access.sessions import CSRF_HEADER, SESSION_COOKIE, check_csrf
from yinxin.adapters.http.api.problems import CHALLENGE, PROBLEM, problem_body
from yinxin.adapters.http.api.responses import HOLDS_SECRET, NOT_KEPT
from yinxin.adapters.http.asgi import ClientGone, read_body, respond
from yinxin.adapters.http.ops import mask_link
from yinxin.app import Platform
from yinxin.errors import Forbidden, YinxinError

PREFIX = "/api/"
#: the POSTs whose answer sets the session cookies: no Idempotency-Key on them (see above)
SESSION_OPENING = frozenset(
    {
        "/api/v1/sessions/staff",
        "/api/v1/sessions/subscriber",
        "/api/v1/public/registrations/persons",
        "/api/v1/public/registrations/organizations",
    }
)
_PROBLEM = PROBLEM.encode()
_NOT_KEPT = NOT_KEPT.encode()
_HOLDS_SECRET = HOLDS_SECRET.encode()
_MARKS = (_NOT_KEPT, _HOLDS_SECRET)


#: the ``Content-Type`` and body of a request (its ASGI scope) as its route reads them
#: (``json_body.BodyAsRead``): what the fingerprint of an Idempotency-Key is made of
AsRead = Callable[[dict, bytes, bytes], tuple[bytes, bytes]]


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class RateLimiter:
    rate: float  # tokens a second; 0 switches the limit off
    burst: int
    buckets: dict[str, _Bucket] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, who: str, now: float | None = None) -> float:
        """0 if the caller may go on, else the seconds until it may."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        with self.lock:
            b = self.buckets.get(who)
            if b is None:
                if len(self.buckets) > 100_000:  # forget idle callers rather than grow
                    self.buckets.clear()
                b = self.buckets[who] = _Bucket(float(self.burst), now)
            b.tokens = min(float(self.burst), b.tokens + (now - b.at) * self.rate)
            b.at = now
            if b.tokens >= 1:
                b.tokens -= 1
                return 0.0
            return (1 - b.tokens) / self.rate


def _header(scope, name: bytes) -> bytes | None:
    for k, v in scope.get("headers", ()):
        if k == name:
            return v
    return None


def _session(scope) -> bytes | None:
    """The browser session cookie's value, if the request carries one."""
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    name = SESSION_COOKIE.encode() + b"="
    for part in raw.split(b";"):
        part = part.strip()
        if part.startswith(name):
            return part[len(name) :] or None
    return None


def _credential(scope) -> bytes:
    """What identifies the caller: the Authorization header, else the session cookie."""
    auth = _header(scope, b"authorization")
    if auth:
        return auth
    session = _session(scope)
    return b"session:" + session if session else b""


def _caller(scope) -> str:
    credential = _credential(scope)
    if credential:
        return hashlib.sha256(credential).hexdigest()
    client = scope.get("client") or ("?", 0)
    return hashlib.sha256(f"addr:{client[0]}".encode()).hexdigest()


def _problem(
    status: int, detail: str, code: str, field: str | None = None, extra: dict | None = None
) -> bytes:
    body = problem_body(status, detail, code=code, field=field, extra=extra)
    return json.dumps(body, ensure_ascii=False).encode()


@dataclass
class Credentials:
    """The check a route's ``get_caller`` makes, made again before a kept answer is replayed:
    a bearer key must still be valid, a session cookie still live (with its CSRF token, as an
    unsafe request needs). A request with neither is the public's, and so is one to a route
    that checks no caller (``OPEN``: public routes, logins, signing links — a stale cookie a
    browser still sends there must not turn a retried login into a 401): their kept answers are
    replayed as before."""

    OPEN = ("/api/v1/public/", "/api/v1/sessions/", "/api/v1/sign/")

    platform: Platform  # its key and session services, built when first asked

    def check(self, scope) -> None:
        """Raises the refusal the route itself would give (401, or 403 ``csrf``)."""
        if scope["path"].startswith(self.OPEN):
            return
        auth = (_header(scope, b"authorization") or b"").decode("latin-1")
        scheme, _, token = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            self.platform.api_keys.authenticate(token.strip())
            return
        cookie = _session(scope)
        if cookie:
            secret = cookie.decode("latin-1")
            self.platform.sessions.authenticate(secret)
            given = _header(scope, CSRF_HEADER.lower().encode())
            if not check_csrf(secret, given.decode("latin-1") if given else None):
                raise Forbidden(
                    "the CSRF token is missing or wrong; reload the page",
                    field="x-csrf-token",
                    code="csrf",
                )


def _replaying(body: bytes, receive):
    """An ASGI ``receive`` that hands on ``body``, already read from ``receive``, then waits
    on ``receive`` itself (which says when the client leaves)."""
    sent = False

    async def replay():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class Guards:
    def __init__(
        self,
        app,
        *,
        idempotency: Idempotency,
        limiter: RateLimiter,
        max_body: int,
        credentials: Credentials | None = None,
        as_read: AsRead | None = None,
    ):
        self.app, self.idempotency, self.limiter, self.max_body = (
            app,
            idempotency,
            limiter,
            max_body,
        )
        self.credentials = credentials
        self.as_read = as_read or _as_sent  # the request as its route reads it, to hash

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            return await self.app(scope, receive, send)
        caller = _caller(scope)
        wait = self.limiter.take(caller)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            extra = {"retry_after": retry}  # the wait in the body too, as the header says it
            body = _problem(429, "too many requests; slow down", "rate_limited", extra=extra)
            header = [(b"retry-after", str(retry).encode())]
            return await respond(send, 429, body, _PROBLEM, header)
        # The body limit, on every request: it was kept only on a POST with an Idempotency-Key,
        # so any caller — no key needed, the body is read before the key is checked — could
        # make the server hold a body of any size (1 GB: 3 GB of memory) before its 401. A
        # stated length over it is refused unread; a chunked body is read up to it, then handed
        # on (or refused).
        too_large = _problem(413, "the request body is too large", "too_large", "body")
        length = _header(scope, b"content-length")
        if length is not None:
            if length.strip().isdigit() and int(length) > self.max_body:
                return await respond(send, 413, too_large, _PROBLEM)
        elif _header(scope, b"transfer-encoding") is not None:
            try:
                body = await read_body(receive, self.max_body)
            except ClientGone:
                return None
            if body is None:
                return await respond(send, 413, too_large, _PROBLEM)
            receive = _replaying(body, receive)
        key = _header(scope, b"idempotency-key")
        if scope["method"] != "POST" or key is None:
            return await self.app(scope, receive, _without_not_kept(send))
        if scope["path"].rstrip("/") in SESSION_OPENING:
            out = _problem(
                422,
                "this request opens a session, whose cookies cannot be replayed: send it "
                "without Idempotency-Key (if its answer is lost, log in again with a new code)",
                "idempotency_not_supported",
                "Idempotency-Key",
            )
            return await respond(send, 422, out, _PROBLEM)
        return await self._idempotent(scope, receive, send, caller, key)

    async def _idempotent(self, scope, receive, send, caller: str, raw_key: bytes):
        try:
            body = await read_body(receive, self.max_body)
        except ClientGone:
            return None
        if body is None:
            out = _problem(413, "the request body is too large", "too_large", "body")
            return await respond(send, 413, out, _PROBLEM)
        path = scope["path"] + (
            "?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else ""
        )
        # keyed by the caller's credential (and a signing link's token, in the path): a body may
        # hold a PIN, and a plain hash of a six-digit PIN would be read back by brute force
        secret = _credential(scope) + b"\0" + path.encode()
        sent = (_header(scope, b"content-type") or b"", body)
        # the body as the route reads it: no body, to a route that takes none as {}, is {}
        read = self.as_read(scope, *sent)
        digest = _fingerprint(secret, path, *read)
        # a key kept under the bytes as sent (before the guard read an empty body as {}, for
        # the 24 hours after an upgrade) is the same request still
        same_as = [_fingerprint(secret, path, *sent)] if read != sent else []
        key = raw_key.decode("latin-1")
        try:
            stored = await run_in_threadpool(
                self.idempotency.claim,
                caller=caller,
                key=key,
                method="POST",
                # a signing link's token is a bearer secret: the record names the path without
                # it (the digest above binds the whole path, token and all)
                path=mask_link(path),
                request_sha256=digest,
                same_as=same_as,
            )
        except YinxinError as e:
            out = _problem(e.http_status, e.message, e.code, e.field)
            return await respond(send, e.http_status, out, _PROBLEM)
        if stored is not None:
            if self.credentials is not None:
                try:
                    await run_in_threadpool(self.credentials.check, scope)
                except YinxinError as e:
                    out = _problem(e.http_status, e.message, e.code, e.field)
                    extra = (
                        [(b"www-authenticate", CHALLENGE.encode())] if e.http_status == 401 else []
                    )
                    return await respond(send, e.http_status, out, _PROBLEM, extra)
            return await respond(
                send,
                stored.status_code,
                stored.body,
                stored.content_type.encode("latin-1"),
                [(b"idempotent-replayed", b"true")],
            )

        replay = _replaying(body, receive)
        status, ctype, out = 500, "", []

        answered = False
        kept = True
        sealed = False

        async def capture(message):
            # the answer is kept before its last byte goes out: a client that retries the
            # moment it has the answer must find it kept, not "still running"
            nonlocal status, ctype, answered, kept, sealed
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = []
                for k, v in message.get("headers", ()):
                    if k.lower() == b"content-type":
                        ctype = v.decode("latin-1")
                    if k.lower() == _NOT_KEPT:
                        kept = False
                    elif k.lower() == _HOLDS_SECRET:
                        sealed = True
                    else:
                        headers.append((k, v))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                out.append(message.get("body", b""))
                if not message.get("more_body", False) and not answered:
                    answered = True
                    if not kept:
                        # a 202 asking for a code: the same key is to complete the request
                        await run_in_threadpool(self.idempotency.release, caller=caller, key=key)
                    else:
                        await run_in_threadpool(
                            self.idempotency.answer,
                            caller=caller,
                            key=key,
                            status_code=status,
                            content_type=ctype,
                            body=b"".join(out),
                            sealed=sealed,
                        )
            await send(message)

        try:
            await self.app(scope, replay, capture)
        except BaseException:
            if not answered:
                await run_in_threadpool(self.idempotency.release, caller=caller, key=key)
            raise
        if not answered:  # the app ended without a complete answer: nothing to replay
            await run_in_threadpool(self.idempotency.release, caller=caller, key=key)


def _fingerprint(secret: bytes, path: str, content_type: bytes, body: bytes) -> str:
    """What a request under an Idempotency-Key is matched on: its path, Content-Type and body,
    under an HMAC keyed by ``secret``."""
    digest = hmac.new(secret, digestmod=hashlib.sha256)
    for part in (path.encode(), content_type, body):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def _as_sent(_scope, content_type: bytes, body: bytes) -> tuple[bytes, bytes]:
    """The request's ``Content-Type`` and body as sent (no route to read them for)."""
    return content_type, body


def _without_not_kept(send):
    """``send`` with the internal ``NOT_KEPT`` mark taken off: without an Idempotency-Key
    nothing reads it, and it is no business of the client's."""

    async def sending(message):
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in _MARKS]
            message = {**message, "headers": headers}
        await send(message)

    return sending
