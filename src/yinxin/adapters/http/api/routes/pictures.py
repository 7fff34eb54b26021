"""Pages of a document as pictures, shared by the sender's routes (``flows``) and the signer's
(``links``): the web pages show PNGs drawn by PDFium (``yinxin.pdf.render``), never a PDF
viewer or a script from elsewhere.

A drawn page is kept in a small in-process cache under the document's SHA-256, the page and the
width (a document's bytes never change under one hash), and answered with that as its ETag, so a
page scrolled past again, or opened by the other party, is not drawn twice.
"""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from typing import Annotated

from fastapi import Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel

from yinxin.adapters.http.api.context import read_body
from yinxin.adapters.http.api.responses import MAX_PDF, checked_pdf
from yinxin.errors import ValidationError
from yinxin.pdf.render import PageSize, page_sizes, render_page
from yinxin.signing.flows import FlowFile

CACHE_ENTRIES = 96  # about 5 MB of pictures at 800 px
# the page and the width a picture's route takes, the sender's and the signer's alike (types:
# FastAPI copies an ``Annotated`` type's ``Query``, never one shared as a default)
PageNo = Annotated[int, Path(ge=1, le=10000)]
Width = Annotated[int, Query(ge=100, le=2000, description="pixels")]  # default 800
# what a page's address may carry to be cached per version of the document (the web pages: the
# start of its sha256); not read, since the route answers the version it has (default none)
Version = Annotated[
    str | None,
    Query(
        alias="v",
        max_length=64,
        description="not read: a version tag (the start of the document's sha256) a client "
        "may add so that a cache keeps each version's pictures apart",
    ),
]


class DocumentPages(BaseModel):
    document_id: int
    name: str
    sha256: str  # the version drawn: a picture's URL may carry it to be cached per version
    pages: list[PageSize]


class PreviewPage(BaseModel):
    page: int
    width_mm: float
    height_mm: float
    png_base64: str


class PagePreview(BaseModel):
    page_count: int
    pages: list[PreviewPage]


class _Cache:
    def __init__(self, size: int):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_pictures = _Cache(CACHE_ENTRIES)
_sizes = _Cache(CACHE_ENTRIES)


def sizes_of(sha256: str, pdf: bytes) -> list[PageSize]:
    found = _sizes.get(sha256)
    if found is None:
        found = page_sizes(pdf)
        _sizes.put(sha256, found)
    return found


def pages_of(f: FlowFile) -> DocumentPages:
    return DocumentPages(
        document_id=f.document_id, name=f.name, sha256=f.sha256, pages=sizes_of(f.sha256, f.pdf)
    )


def _has(if_none_match: str | None, tag: str) -> bool:
    """Whether ``If-None-Match`` names ``tag``: ``*``, or any of its list compared weakly (RFC
    9110 §13.1.2, ``W/`` ignored). It was the whole header compared with the tag, so a proxy
    that weakens ETags or a list of several was sent the picture again each time."""
    if not if_none_match:
        return False
    sent = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in sent or tag in sent


def page_png(request: Request, f: FlowFile, page: int, width: int) -> Response:
    """The PNG of one page, or 304 when the browser has this very picture."""
    tag = f'"{f.sha256[:32]}-{page}-{width}"'
    headers = {"ETag": tag, "Cache-Control": "private, no-cache"}
    if _has(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    key = (f.sha256, page, width)
    png = _pictures.get(key)
    if png is None:
        png = render_page(f.pdf, page, width)
        _pictures.put(key, png)
    return Response(png, media_type="image/png", headers=headers)


async def preview(request: Request, *, first: int, count: int, width: int) -> PagePreview:
    """Pages ``first``… of the PDF in the request body (drawn, then forgotten)."""
    body = checked_pdf(await read_body(request, MAX_PDF), "body")

    def draw() -> PagePreview:
        try:
            sizes = page_sizes(body)
        except ValidationError as e:
            raise ValidationError(e.message, field="body") from None
        if first > len(sizes):
            raise ValidationError(
                f"the document has {len(sizes)} page(s); there is no page {first}", field="first"
            )
        out = [
            PreviewPage(
                page=s.page,
                width_mm=s.width_mm,
                height_mm=s.height_mm,
                png_base64=base64.b64encode(render_page(body, s.page, width)).decode(),
            )
            for s in sizes[first - 1 : first - 1 + count]
        ]
        return PagePreview(page_count=len(sizes), pages=out)

    return await run_in_threadpool(draw)
