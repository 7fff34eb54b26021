"""The platform's HTTP server (``yinxin serve``).

The status protocols (CRL, OCSP, timestamps, CA certificates) are the hot path a relying party
hits, so they are served by a small ASGI function in front of FastAPI: no routing tables,
validation or JSON on the way. Everything else (health, the JSON API to come) goes to FastAPI.

Every protocol error is answered in the protocol's own terms (OCSP malformedRequest, RFC 3161
badDataFormat/badAlg) or as HTTP 4xx; oversize bodies are cut off at 64 KiB.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import os
from urllib.parse import unquote

from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from yinxin import __version__
from yinxin.app import Platform, build_platform
from yinxin.errors import YinxinError

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
CT_OCSP_REQ = b"application/ocsp-request"
CT_TSQ = b"application/timestamp-query"


async def _send(send, status: int, body: bytes, ctype: bytes, extra: list | None = None) -> None:
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]
    headers += extra or []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(send, status: int, message: str) -> None:
    body = json.dumps({"error": "bad_request", "message": message}).encode()
    await _send(send, status, body, b"application/json")


async def _read_body(receive, limit: int = MAX_BODY) -> bytes | None:
    """The request body, or None if it is larger than ``limit``."""
    chunks, size = [], 0
    more = True
    while more:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return None
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = msg.get("more_body", False)
    return b"".join(chunks)


CRL_CHECK_SECONDS = 300


async def _refresh_crls(status) -> None:
    """Re-sign CRLs before nextUpdate runs out even when nobody fetches them (current_crl
    re-signs when the status changed or nextUpdate is within CRL_REFRESH_BEFORE)."""
    while True:
        for role in ("issuing", "root"):
            try:
                await asyncio.get_running_loop().run_in_executor(None, status.current_crl, role)
            except Exception:  # keep serving; the next fetch or round tries again
                log.exception("CRL refresh for %s failed", role)
        await asyncio.sleep(CRL_CHECK_SECONDS)


def create_app(platform: Platform) -> object:
    status, ocsp, tsa = platform.status, platform.ocsp, platform.tsa
    @contextlib.asynccontextmanager
    async def lifespan(_app):
        task = asyncio.create_task(_refresh_crls(status))
        try:
            yield
        finally:
            task.cancel()

    api = FastAPI(title="Yinxin", version=__version__, lifespan=lifespan)

    @api.get("/healthz")
    def healthz() -> dict:
        return {"ok": True, "version": __version__}

    @api.exception_handler(YinxinError)
    async def _yinxin_error(_request, exc: YinxinError):
        return JSONResponse(exc.to_dict(), status_code=exc.http_status)

    def in_thread(fn, *args):
        return asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return await api(scope, receive, send)
        path: str = scope["path"]
        method: str = scope["method"]
        try:
            if path == "/ocsp" or path.startswith("/ocsp/"):
                if method == "POST":
                    body = await _read_body(receive)
                    if body is None:
                        return await _error(send, 413, "OCSP request larger than 64 KiB")
                    der = body
                elif method == "GET" and len(path) > 6:
                    try:
                        der = base64.b64decode(unquote(path[6:]), validate=False)
                    except (binascii.Error, ValueError):
                        return await _error(send, 400, "the GET path is not base64")
                else:
                    return await _error(send, 405, "use GET /ocsp/<base64> or POST /ocsp")
                resp = ocsp.respond(der)  # cached responses need no thread hop
                return await _send(send, 200, resp, b"application/ocsp-response",
                                   [(b"cache-control", b"max-age=60, public, no-transform")])
            if path == "/tsa":
                if method != "POST":
                    return await _error(send, 405, "POST an application/timestamp-query")
                body = await _read_body(receive)
                if body is None:
                    return await _error(send, 413, "timestamp request larger than 64 KiB")
                resp = await in_thread(tsa.respond, body)
                return await _send(send, 200, resp, b"application/timestamp-reply")
            if path.startswith("/crl/") and path.endswith(".crl") and method in ("GET", "HEAD"):
                role = path[5:-4]
                if role not in ("issuing", "root"):
                    return await _error(send, 404, f"no CRL named {role!r}")
                der = await in_thread(status.current_crl, role)
                return await _send(send, 200, der, b"application/pkix-crl")
            if path.startswith("/ca/") and path.endswith(".cer") and method in ("GET", "HEAD"):
                role = path[4:-4]
                if role not in ("issuing", "root", "ocsp", "root-ocsp", "tsa"):
                    return await _error(send, 404, f"no CA certificate named {role!r}")
                der = status.ca_certificate(role).public_bytes(Encoding.DER)
                return await _send(send, 200, der, b"application/pkix-cert")
        except YinxinError as e:
            return await _error(send, e.http_status if e.http_status < 500 else 503, e.message)
        except Exception:
            log.exception("status endpoint failure")
            return await _error(send, 500, "internal error")
        return await api(scope, receive, send)

    app.status = status  # type: ignore[attr-defined]
    app.ocsp = ocsp  # type: ignore[attr-defined]
    app.tsa = tsa  # type: ignore[attr-defined]
    return app


def app_from_env():
    """Factory for ``uvicorn --factory`` / several workers: each worker builds its platform from
    the environment (YINXIN_HOME, YINXIN_CA_PASSPHRASE …) — workers cannot prompt."""
    platform = build_platform(passphrase=os.environ.get("YINXIN_CA_PASSPHRASE"))
    return create_app(platform)
