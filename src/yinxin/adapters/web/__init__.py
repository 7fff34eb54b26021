"""The Chinese web interface: page shells served by ``yinxin serve``, data through ``/api/v1``.

The web adds no way around the API. A page here is a server-rendered shell (Jinja2: the
shared layout, headings, empty forms and tables); everything it shows or does afterwards is a
browser ``fetch`` to ``/api/v1`` through ``static/api.js`` (the session cookie, the CSRF
header, an ``Idempotency-Key`` per form submission, Chinese errors next to the fields). So the
pages hold no database session and no service call, and whatever the web can do, the API can
do, with the same roles, scope and audit.

To add a page: put its template in ``templates/`` (``{% extends "base.html" %}``, or
``_desk.html``/``_my.html`` for the desk's and the account's tabs; base.html writes the ``Page``
title as its heading and loads its script, ``static/pages/<template name>.js``), and append a
``Page`` to ``PAGES`` (or call ``add_page`` before ``mount_web``). ``section`` puts it in the
header's navigation; ``login`` says which session its script expects (``requireSession`` in
``api.js`` sends anyone else to the right login page — the shell itself is public, the data is
not). Assets are plain files in ``static/`` (no CDN, no build step), served at ``/static/`` with
a version query so a new release is never mixed with cached old files.

``mount_web(app, platform)`` is called by ``adapters/http/server.py``; this package imports
nothing of the HTTP adapter, so the dependency points one way only.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles

from yinxin import __version__
from yinxin.app import Platform

HERE = Path(str(resources.files("yinxin.adapters.web")))
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"


@dataclass(frozen=True)
class Page:
    """One page: its path, template and title; ``nav`` puts it in the header's menu under that
    label; ``login`` is ``"staff"``, ``"subscriber"`` or None (public). ``words``: the wording
    the page's script shares with the rest of the platform (e.g. the verification page's check
    names, the same as the PDF report's), written into the shell as JSON (``#page-words``) so
    it is said in one place, Python, and the script does not keep a copy."""

    path: str
    template: str
    title: str
    nav: str | None = None
    login: str | None = None
    description: str = ""
    words: Callable[[], Mapping[str, Any]] | None = None


def _verification_words() -> dict[str, Any]:
    """What the verification page says of a report: a PDF signature's coverage, changes after
    signing and revocation source (``yinxin.pdf.words``, the Chinese half), and of a GB/T
    38540 report each check's name, each check's outcome (the API gives it as ``outcome``)
    and the kinds of sealed file — as the text and PDF reports say them."""
    from yinxin.indication import CHECK_NAMES, OUTCOME_WORDS
    from yinxin.pdf.report import SEAL_KINDS
    from yinxin.pdf.words import CHANGE_WORDS, COVERAGE_WORDS, REVOCATION_SOURCE_WORDS, chinese

    return {
        "checks": CHECK_NAMES,
        "outcomes": {str(k): v for k, v in OUTCOME_WORDS.items()},
        "seal_kinds": SEAL_KINDS,
        "coverage": chinese(COVERAGE_WORDS),
        "changes": chinese(CHANGE_WORDS),
        "revocation_sources": chinese(REVOCATION_SOURCE_WORDS),
    }


PAGES: list[Page] = [
    Page("/", "home.html", "首页", nav="首页", description="电子认证与电子印章服务平台"),
    Page("/services", "services.html", "证书与印章服务", nav="证书与印章服务"),
    Page("/verify", "verify.html", "验证签名文件", nav="验证文件", words=_verification_words),
    Page("/agreement", "agreement.html", "电子认证服务协议", nav="服务协议"),
    Page("/status", "status.html", "证书状态服务", nav="证书状态服务"),
    Page("/login", "login.html", "用户登录"),
    Page("/staff/login", "staff_login.html", "工作人员登录"),
    Page("/my", "my.html", "我的账户", login="subscriber"),
    Page("/desk", "desk.html", "受理工作台", login="staff"),
    # self-service, seals and the RA desk (docs/web.md, "Self-service, seals and the RA desk")
    Page("/register", "register.html", "在线注册"),
    Page("/my/agreement", "my_agreement.html", "服务协议", login="subscriber"),
    Page("/my/contact", "my_contact.html", "联系方式", login="subscriber"),
    Page("/my/apply", "my_apply.html", "申请证书", login="subscriber"),
    Page("/my/certificates", "my_certificates.html", "证书与申请", login="subscriber"),
    Page("/my/certificate", "my_certificate.html", "证书详情", login="subscriber"),
    Page("/my/seals", "my_seals.html", "电子印章", login="subscriber"),
    Page("/my/seals/apply", "seal_apply.html", "电子印章申请", login="subscriber"),
    Page("/my/seal", "my_seal.html", "印章详情", login="subscriber"),
    Page("/desk/applications", "desk_applications.html", "审核证书申请", login="staff"),
    Page("/desk/certificates", "desk_certificates.html", "证书管理", login="staff"),
    Page("/desk/seals", "desk_seals.html", "印章管理", login="staff"),
    Page("/desk/audit", "desk_audit.html", "审计日志", login="staff"),
    Page("/desk/service", "desk_service.html", "运维服务台", login="staff"),  # docs/service-desk.md
    Page("/desk/exports", "desk_exports.html", "数据移交", login="staff"),  # docs/handover.md
    # sending contracts and signing them (docs/web.md, "Contracts and signing")
    Page("/flows", "flows.html", "合同签署", nav="合同签署", login="subscriber"),
    Page("/flows/new", "flow_new.html", "发起签署", login="subscriber"),
    Page("/flows/{flow_id}", "flow.html", "签署详情", login="subscriber"),
    # contracts from the template library (docs/contracts.md)
    Page("/contracts", "contracts.html", "合同", nav="合同", login="subscriber"),
    Page("/contracts/new", "contract_new.html", "起草合同", login="subscriber"),
    Page("/contracts/{contract_id}", "contract.html", "合同详情", login="subscriber"),
    # contract terms tracked after signing (docs/obligations.md)
    Page("/obligations", "obligations.html", "履约跟踪", login="subscriber"),
    Page("/sign/{token}", "sign.html", "签署文件", description="通过短信链接签署文件"),
    Page("/batch", "batch.html", "批量签署", login="subscriber"),
]


# the page of an address that matches none of the above (never routed itself)
NOT_FOUND = Page("/404", "not_found.html", "页面不存在")


def add_page(page: Page) -> None:
    """Register a page (before ``mount_web``); a path given twice replaces the first."""
    PAGES[:] = [p for p in PAGES if p.path != page.path] + [page]


def asset_version() -> str:
    """A short digest of every static file: the ``?v=`` of asset URLs."""
    h = hashlib.sha256(__version__.encode())
    for f in sorted(STATIC.rglob("*")):
        if f.is_file():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:10]


def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


# what a static file opened as a document may do: nothing (the API's answers get the same,
# ``adapters/http/inert.py``); ignored for a script, a stylesheet or a picture a page loads
STATIC_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"


# The type of each kind of file we ship, by its suffix — not Python's ``mimetypes``, which
# reads the host's /etc/mime.types (and others): a host mapping ``.js`` to ``text/plain`` had
# every page's module scripts refused by the browser (a module script must be served as
# JavaScript; with ``nosniff`` a stylesheet must be ``text/css``). A suffix not listed is
# ``application/octet-stream``; the files without one are the vendored licence texts.
STATIC_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".md": "text/markdown",
    "": "text/plain",
}


class StaticAssets(StaticFiles):
    """Static files: a day's cache life at a URL that carries the version (``?v=``); checked
    again on every use at a plain one — the modules pages import by their plain URL
    (``/static/api.js``), so that each is loaded once per page, must not be a day stale after
    an upgrade (an unchanged file costs a 304, which says the same Cache-Control: RFC 9110
    §15.4.5 asks it, and before it said none).

    Each is sent its type from ``STATIC_TYPES``, whatever the host's mime.types says, with
    ``nosniff`` and ``STATIC_POLICY``: before, neither, so an SVG here opened in
    a tab would have run its script as a page of this origin. The ETag is a digest of the
    file's bytes, not Starlette's of its date and size: an install that keeps the archive's
    dates (reproducible builds set them all to one instant) or two edits in one second left a
    changed file of the same size with the same ETag, and browsers kept the old script (a 304)
    beside the new pages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (inode, ctime, mtime, size) → ETag; ctime cannot be set back, so a rewritten file
        # is read again whatever dates it was given
        self._etags: dict[tuple[str, int, int, int, int], str] = {}

    def _etag(self, full_path: Any, st: os.stat_result) -> str:
        key = (str(full_path), st.st_ino, st.st_ctime_ns, st.st_mtime_ns, st.st_size)
        etag = self._etags.get(key)
        if etag is None:
            digest = hashlib.sha256(Path(full_path).read_bytes()).hexdigest()[:32]
            etag = self._etags[key] = f'"{digest}"'
        return etag

    def file_response(
        self, full_path: Any, stat_result: os.stat_result, scope: Any, status_code: int = 200
    ) -> Response:
        kind = STATIC_TYPES.get(Path(full_path).suffix.lower(), "application/octet-stream")
        response = FileResponse(
            full_path, status_code=status_code, stat_result=stat_result, media_type=kind
        )
        versioned = b"v=" in scope.get("query_string", b"")
        response.headers["ETag"] = self._etag(full_path, stat_result)
        response.headers["Cache-Control"] = "public, max-age=86400" if versioned else "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = STATIC_POLICY
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


def mount_web(app: FastAPI, platform: Platform) -> None:
    """Serve the pages and ``/static/`` from ``app`` (the FastAPI app of ``yinxin serve``)."""
    from yinxin.signing.intent import code_minutes

    env = _environment()
    version = asset_version()
    nav = [(p.path, p.nav) for p in PAGES if p.nav]
    common = {
        "nav": nav,
        "v": version,
        "version": __version__,
        "base_url": platform.settings.base_url,
        # how long a login code lives, as its SMS says (YINXIN_OTP_TTL_SECONDS): login.html
        "code_minutes": code_minutes(platform.settings.otp_ttl_seconds),
    }
    app.mount("/static", StaticAssets(directory=str(STATIC)), name="static")

    for page in list(PAGES):
        app.add_api_route(
            page.path,
            _renderer(page, env.get_template(page.template), common),
            methods=["GET"],
            include_in_schema=False,
            response_class=HTMLResponse,
            name=f"page:{page.path}",
        )

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> RedirectResponse:
        return RedirectResponse(f"/static/favicon.svg?v={version}", status_code=301)

    _api_docs(app, env, version)
    _not_found_page(app, env.get_template(NOT_FOUND.template), common)


def _api_docs(app: FastAPI, env: Any, version: str) -> None:
    """The interactive API documentation (Swagger UI) beside the OpenAPI document, with its
    script and styles from ``static/vendor/swagger-ui`` — FastAPI's own page loads them from
    a CDN, which left it blank on a closed network and told the CDN who read it — and no
    call to the online validator. Its own page (``api_docs.html``, started by
    ``static/api-docs.js``), not FastAPI's, whose inline ``<script>`` needs a policy that lets
    any inline script run: this one is sent with the pages' headers and a Content-Security-
    Policy as strict as theirs (it had none: no CSP, no ``nosniff``, and it could be framed)."""
    if not app.openapi_url:
        return
    template = env.get_template("api_docs.html")
    context = {"title": f"{app.title} — 开放接口文档", "openapi_url": app.openapi_url, "v": version}

    @app.get(app.openapi_url.rsplit("/", 1)[0] + "/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        started = time.perf_counter()
        return HTMLResponse(template.render(**context), headers=_headers(started))


def _not_found_page(app: FastAPI, template, common: dict) -> None:
    """A person whose browser opens an address that is no page (a mistyped or cut-off link)
    gets a Chinese page saying so, with the way back, and status 404 — not the API's
    ``application/problem+json``, which is what every other client still gets (``/api/…``,
    status protocols, scripts: anything that does not ask for HTML)."""
    from starlette.exceptions import HTTPException

    api_handler = app.exception_handlers[HTTPException]

    async def handler(request: Request, exc: HTTPException):
        if exc.status_code == 404 and _browser_navigation(request):
            started = time.perf_counter()
            html = template.render(**common, page=NOT_FOUND, path=request.url.path)
            return HTMLResponse(html, status_code=404, headers=_headers(started))
        return await api_handler(request, exc)

    app.add_exception_handler(HTTPException, handler)


def _browser_navigation(request: Request) -> bool:
    """A browser opening a page: GET or HEAD, asking for HTML, outside the API."""
    return (
        request.method in ("GET", "HEAD")
        and "text/html" in request.headers.get("accept", "")
        and not request.url.path.startswith("/api/")
    )


def _renderer(page: Page, template, common: dict):
    """The route of one page: its shell, rendered with the shared context."""
    words = dict(page.words()) if page.words else None

    def render(request: Request) -> HTMLResponse:
        started = time.perf_counter()
        html = template.render(**common, page=page, path=request.url.path, words=words)
        return HTMLResponse(html, headers=_headers(started))

    return render


def _headers(started: float) -> dict[str, str]:
    """A page's headers: never cached stale, the render's time, this server's scripts only."""
    took = (time.perf_counter() - started) * 1000
    return {
        "Cache-Control": "no-cache",
        "Server-Timing": f"render;dur={took:.2f}",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Content-Security-Policy": CSP,
    }


# scripts and styles from this server only: a page cannot be made to load code from elsewhere
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
