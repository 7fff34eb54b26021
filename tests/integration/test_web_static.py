"""``/static/`` as a browser gets it from the real ``yinxin serve``: the types, the headers that
keep a file from being run as something else, the caching and its 304s, and what a missing
file, a directory or a path climbing out with ``..`` gets (docs/web.md, "Static files")."""

from __future__ import annotations

import mimetypes
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from tests.integration.server import running_server
from tests.integration.signing_flow import new_platform
from yinxin.adapters.http.inert import POLICY
from yinxin.adapters.web import STATIC, STATIC_POLICY, StaticAssets


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[httpx.Client]:
    home = tmp_path_factory.mktemp("static")
    new_platform(home).close()
    with running_server(home) as srv, httpx.Client(base_url=srv.base) as c:
        yield c


def raw_get(client: httpx.Client, target: str) -> tuple[int, bytes]:
    """GET ``target`` sent byte for byte (httpx would resolve ``..`` before sending it)."""
    url = client.base_url
    with socket.create_connection((url.host, url.port), timeout=10) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_static_files_are_typed_and_inert(site: httpx.Client) -> None:
    """Every static file says its type and forbids guessing another (``nosniff``), and a file
    opened directly as a document (the SVG favicon in a new tab) runs nothing: the API's inert
    policy. Before, ``/static/`` answers had neither header, so an SVG there would run its
    script as a page of this origin."""
    types = {
        "api.js": "text/javascript",
        "pages/verify.js": "text/javascript",
        "vendor/swagger-ui/swagger-ui-bundle.js": "text/javascript",
        "yinxin.css": "text/css",
        "favicon.svg": "image/svg+xml",
    }
    for name, kind in types.items():
        for query in ("", "?v=1"):
            r = site.get(f"/static/{name}{query}")
            assert r.status_code == 200, name
            assert r.headers["content-type"].split(";")[0] == kind, name
            assert r.headers.get("x-content-type-options") == "nosniff", name
            assert r.headers.get("content-security-policy") == STATIC_POLICY == POLICY.decode(), (
                name
            )
    # every file there, not only these
    for f in STATIC.rglob("*"):
        if f.is_file():
            r = site.head(f"/static/{f.relative_to(STATIC).as_posix()}")
            assert r.headers.get("x-content-type-options") == "nosniff", f


def test_static_304_keeps_its_caching(site: httpx.Client) -> None:
    """A 304 carries the Cache-Control the 200 would have (RFC 9110 §15.4.5, a MUST), for the
    plain URL (revalidated at each use) and the versioned one (a day); ETag and an equal
    If-Modified-Since (the same second, RFC 9110 §13.1.3: earlier or equal is not modified)
    both give it, a weak If-None-Match too (the weak comparison §13.1.2 asks for)."""
    for query, policy in (("", "no-cache"), ("?v=1", "public, max-age=86400")):
        full = site.get(f"/static/api.js{query}")
        etag, modified = full.headers["etag"], full.headers["last-modified"]
        for cond in (
            {"if-none-match": etag},
            {"if-none-match": f'"x", W/{etag}'},
            {"if-modified-since": modified},
        ):
            r = site.get(f"/static/api.js{query}", headers=cond)
            assert r.status_code == 304 and r.content == b"", cond
            assert r.headers.get("cache-control") == policy, (query, cond)
            assert r.headers.get("etag") == etag
        # a different ETag is answered in full even with a matching date: the ETag decides
        r = site.get(
            f"/static/api.js{query}",
            headers={"if-none-match": '"x"', "if-modified-since": modified},
        )
        assert r.status_code == 200 and r.content == full.content


def test_missing_directory_and_climbing_out(site: httpx.Client) -> None:
    """A missing file, a directory and ``..`` (plain, percent-encoded, with an encoded slash)
    are 404 with nothing of the file system shown; a browser gets the Chinese 404 page."""
    for path in ("/static/nope.js", "/static/pages", "/static/pages/", "/static/"):
        r = site.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("application/problem+json"), path
        page = site.get(path, headers={"accept": "text/html"})
        assert page.status_code == 404 and "页面不存在" in page.text, path
    r = site.post("/static/api.js")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
    secret = (STATIC.parent / "__init__.py").read_bytes()[:60]
    for target in (
        "/static/../__init__.py",
        "/static/%2e%2e/__init__.py",
        "/static/%2E%2E/__init__.py",
        "/static/..%2f__init__.py",
        "/static/%2e%2e%2f__init__.py",
        "/static/pages/../../__init__.py",
        "/static//etc/passwd",
        "/static/..\\__init__.py",
    ):
        status, body = raw_get(site, target)
        assert status in (400, 404), target
        assert secret not in body and b"root:" not in body, target


def test_etag_follows_the_bytes_not_the_date(tmp_path: Path) -> None:
    """A file replaced by one of the same size with the same modification time (an install
    that keeps the archive's dates — reproducible builds set them all to one instant — or two
    edits in one second) gets a new ETag, so a browser revalidating ``/static/api.js`` by its
    ETag is given the new script, not a 304 for the old one. Before, the ETag was a digest of
    the date and the size alone."""
    app = Starlette(routes=[Mount("/static", StaticAssets(directory=str(tmp_path)))])
    f = tmp_path / "api.js"
    when = 1_700_000_000
    f.write_bytes(b"export const WAIT = 30;\n")
    os.utime(f, (when, when))
    with TestClient(app) as c:
        first = c.get("/static/api.js")
        f.write_bytes(b"export const WAIT = 60;\n")
        os.utime(f, (when, when))
        again = c.get("/static/api.js", headers={"if-none-match": first.headers["etag"]})
        assert again.status_code == 200 and again.content == b"export const WAIT = 60;\n"
        assert again.headers["etag"] != first.headers["etag"]
        assert again.headers["last-modified"] == first.headers["last-modified"]
        # unchanged bytes keep their ETag: still a 304
        same = c.get("/static/api.js", headers={"if-none-match": again.headers["etag"]})
        assert same.status_code == 304


def test_types_do_not_follow_the_hosts_mime_types(tmp_path: Path, monkeypatch) -> None:
    """The type of a static file was Python's ``mimetypes`` guess, which reads the host's
    /etc/mime.types: on a host whose file maps ``js`` to ``text/plain`` (and ``css``, ``svg``
    with it) every page's module scripts were sent as plain text, which a browser refuses to
    run, and with ``nosniff`` the stylesheets were refused too — the pages blank. The files
    we ship now have their types from our own table, whatever the host says."""
    hostile = tmp_path / "mime.types"
    hostile.write_text(
        "text/plain\tjs mjs css svg md\napplication/x-hostile\tLICENSE\n", encoding="ascii"
    )
    # mimetypes.init replaces these module globals; monkeypatch puts the host's back after
    for name in ("inited", "_db", "types_map", "common_types", "encodings_map", "suffix_map"):
        monkeypatch.setattr(mimetypes, name, getattr(mimetypes, name))
    mimetypes.init([str(hostile)])
    assert mimetypes.guess_type("api.js")[0] == "text/plain"  # the host's word, as set up
    expected = {
        ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".svg": "image/svg+xml",
        ".md": "text/markdown; charset=utf-8",
        "": "text/plain; charset=utf-8",  # the vendored LICENSE and NOTICE
    }
    app = Starlette(routes=[Mount("/static", StaticAssets(directory=str(STATIC)))])
    shipped = [f for f in STATIC.rglob("*") if f.is_file()]
    assert {f.suffix for f in shipped} <= set(expected), {f.suffix for f in shipped}
    with TestClient(app) as c:
        for f in shipped:
            name = f.relative_to(STATIC).as_posix()
            for r in (c.get(f"/static/{name}"), c.head(f"/static/{name}?v=1")):
                assert r.status_code == 200, name
                assert r.headers["content-type"] == expected[f.suffix], (name, r.headers)
                assert r.headers["x-content-type-options"] == "nosniff", name
        # a suffix we do not ship is not guessed either
        (tmp_path / "notes.txt").write_text("x", encoding="ascii")
        other = Starlette(routes=[Mount("/s", StaticAssets(directory=str(tmp_path)))])
        with TestClient(other) as o:
            r = o.get("/s/notes.txt")
            assert r.headers["content-type"] == "application/octet-stream", r.headers
