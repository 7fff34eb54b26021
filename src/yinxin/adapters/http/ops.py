"""What an operator watches: request ids, metrics, access logs, readiness.

``Observed`` wraps the whole server (status protocols and API): every request gets an id
(``yinxin.context``; answered in ``X-Request-Id``), is counted and timed per endpoint
(``ocsp``, ``tsa``, ``crl``, ``ca``, ``health``, ``metrics``, or the API route's template
such as ``/api/v1/flows/{flow_id}``: bounded label values, never raw paths), and — when the
access log is on — logged as one JSON line (signing-link tokens masked). ``/metrics`` answers
in Prometheus' text format, adding what is read at scrape time: each CRL's age, the message
outbox, webhook deliveries and job runs (when those tables exist). ``/readyz`` says whether
this process can serve: the database answers and is migrated, the CA's certificates load.

Per-request cost on the OCSP hot path is a counter, a histogram observation, a request id and
a context variable: about 4–5 µs (measured with a do-nothing app behind it).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections.abc import Iterable
from typing import Any

from cryptography import x509
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text

from yinxin.adapters.http.asgi import Wrapper, respond
from yinxin.context import new_request_id, request_id

access_log = logging.getLogger("yinxin.access")
log = logging.getLogger(__name__)
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# a signing link is a bearer secret, in the API's paths and in the page the SMS opens
_TOKEN = re.compile(r"^((?:/api/v1)?/sign/)[^/]+")
# a route's path convertor (``{flow_id:int}``): not part of the template the label names
_CONVERTOR = re.compile(r"\{([^}:]+):[^}]*\}")


def mask_link(path: str) -> str:
    """``path`` with a signing link's token masked (``/api/v1/sign/***/code``)."""
    return _TOKEN.sub(r"\1***", path)


def endpoint_of(scope) -> str:
    """A bounded label for the request's endpoint."""
    path: str = scope["path"]
    if path == "/ocsp" or path.startswith("/ocsp/"):
        return "ocsp"
    if path == "/tsa":
        return "tsa"
    if path.startswith("/crl/"):
        return "crl"
    if path.startswith("/ca/"):
        return "ca"
    if path in ("/healthz", "/readyz"):
        return "health"
    if path == "/metrics":
        return "metrics"
    route = scope.get("route")
    template = _CONVERTOR.sub(r"{\1}", getattr(route, "path", None) or "")
    if template:  # routers may hold their path without the /api/v1 they are mounted under
        api = path.startswith("/api/v1/") and not template.startswith("/api/v1")
        return "/api/v1" + template if api else template
    return "api:unmatched" if path.startswith("/api/") else "other"


class _PlatformState(Collector):
    """Gauges read at scrape time from the platform's own records."""

    def __init__(self, platform):
        self.platform = platform

    def collect(self) -> Iterable[GaugeMetricFamily]:
        p = self.platform
        age = GaugeMetricFamily(
            "yinxin_crl_age_seconds",
            "Seconds since the current CRL's thisUpdate",
            labels=["issuer"],
        )
        now = p.clock.now()
        try:
            roles = p.status.crl_roles()  # every hierarchy's issuing CA and root
        except Exception:  # no database yet: no sample
            roles = []
        for role in roles:
            try:
                crl = x509.load_der_x509_crl(p.status.current_crl(role))
                age.add_metric([role], (now - crl.last_update_utc).total_seconds())
            except Exception:  # no CA yet, or the key store is closed: no sample
                continue
        yield age
        counts = [
            (
                "yinxin_outbox_messages",
                "Messages in the send log by status",
                "SELECT status, COUNT(*) FROM notifications GROUP BY status",
                ["status"],
            ),
            (
                "yinxin_webhook_deliveries",
                "Webhook deliveries by state",
                "SELECT state, COUNT(*) FROM webhook_deliveries GROUP BY state",
                ["state"],
            ),
            (
                "yinxin_job_runs",
                "Job runs by job and state",
                "SELECT job, state, COUNT(*) FROM job_runs GROUP BY job, state",
                ["job", "state"],
            ),
        ]
        for name, doc, sql, labels in counts:
            try:
                with p.db.read() as s:
                    rows = s.execute(text(sql)).all()
            except Exception:  # the table does not exist in this version: no metric
                continue
            g = GaugeMetricFamily(name, doc, labels=labels)
            for *keys, n in rows:
                g.add_metric([str(k) for k in keys], float(n))
            yield g


class Metrics:
    def __init__(self, platform):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "yinxin_http_requests",
            "HTTP requests by endpoint, method and status",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "yinxin_http_request_seconds",
            "Time to answer, by endpoint",
            ["endpoint"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_PlatformState(platform))

        # the labelled series by their labels: ``labels()`` validates and locks on every call,
        # half the cost of counting a request; the label values are bounded (endpoints)
        self._counts: dict[tuple[str, str, int], Any] = {}
        self._latencies: dict[str, Any] = {}

    def record(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        count = self._counts.get((endpoint, method, status))
        if count is None:
            count = self._counts[(endpoint, method, status)] = self.requests.labels(
                endpoint, method, str(status)
            )
        count.inc()
        latency = self._latencies.get(endpoint)
        if latency is None:
            latency = self._latencies[endpoint] = self.latency.labels(endpoint)
        latency.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class Observed(Wrapper):
    """The ASGI wrapper: request id, metrics, access log; serves ``/metrics``."""

    def __init__(self, app, platform, *, access: bool, metrics_token: str | None = None):
        super().__init__(app)
        self.platform = platform
        self.metrics = Metrics(platform)
        self.access, self.metrics_token = access, metrics_token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = None
        for k, v in scope.get("headers", ()):
            if k == b"x-request-id":
                given = v.decode("latin-1")
                break
        rid = new_request_id(given)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def sending(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {
                    **message,
                    "headers": [*message.get("headers", ()), (b"x-request-id", rid.encode())],
                }
            await send(message)

        try:
            if scope["path"] == "/metrics":
                await self._serve_metrics(scope, sending)
            else:
                await self.app(scope, receive, sending)
        finally:
            spent = time.perf_counter() - started
            endpoint = endpoint_of(scope)
            self.metrics.record(endpoint, scope["method"], status, spent)
            if self.access:
                principal = getattr(scope.get("state", {}).get("principal"), "prefix", None)
                access_log.info(
                    "request",
                    extra={
                        "request": {
                            "method": scope["method"],
                            "path": mask_link(scope["path"]),
                            "status": status,
                            "ms": round(spent * 1000, 2),
                            "endpoint": endpoint,
                            "client": (scope.get("client") or ("?",))[0],
                            "key": principal,
                        }
                    },
                )
            request_id.reset(token)

    async def _serve_metrics(self, scope, send) -> None:
        if scope["method"] not in ("GET", "HEAD"):  # a scrape reads; nothing else is served
            body = b"metrics are read with GET\n"
            await respond(send, 405, body, b"text/plain", [(b"allow", b"GET, HEAD")])
            return
        if self.metrics_token:
            auth = dict(scope.get("headers", ())).get(b"authorization", b"")
            if auth != b"Bearer " + self.metrics_token.encode():
                await respond(send, 401, b"metrics need the bearer token\n", b"text/plain")
                return
        import asyncio

        body = await asyncio.get_running_loop().run_in_executor(None, self.metrics.exposition)
        await respond(send, 200, body, b"text/plain; version=0.0.4; charset=utf-8")


def readiness(platform) -> tuple[bool, dict[str, str]]:
    """Each check's outcome in a word or a reason; ready when all are ``ok``."""
    checks: dict[str, str] = {}
    try:
        with platform.db.read() as s:
            s.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as e:  # the reason, never a password from the URL
        checks["database"] = f"unreachable: {type(e).__name__}"
    try:
        checks["migrations"] = "ok" if platform.db.at_head() else "behind: run the migrations"
    except Exception as e:
        checks["migrations"] = f"unknown: {type(e).__name__}"
    try:
        platform.status.ca_certificate("issuing")
        platform.status.ca_certificate("tsa")
        checks["authority"] = "ok"
    except Exception as e:
        checks["authority"] = f"not ready: {getattr(e, 'message', type(e).__name__)}"
    return all(v == "ok" for v in checks.values()), checks


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, and the record's
    ``request`` fields for access lines; exceptions as text."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid is not None:
            out["request_id"] = rid
        extra = getattr(record, "request", None)
        if isinstance(extra, dict):
            out.update(extra)
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def json_logging(level: int = logging.INFO) -> None:
    """Route every log line (ours, uvicorn's) through ``JsonFormatter`` on stderr.

    httpx is kept at WARNING: at INFO it logs every request it makes with its full URL, and
    the URLs the platform calls may carry credentials in their query — a webhook receiver's
    token (which the audit trail leaves out), an SMS provider's key. The platform logs its own
    line for what matters (a failed delivery, a failed message) without them."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
