"""Finding a piece of text (an anchor such as "甲方（签章）") and where it sits on the page.

PDFium (Chrome's PDF engine, through pypdfium2) reads the text: it follows the text and
graphics state, form XObjects, ``ToUnicode`` maps, the predefined CJK CMaps and the standard
fonts' real metrics, and it is maintained against the PDFs the world actually writes. The
hand-written content-stream reader it replaced (700 lines) covered only the layouts we had
tested and was faster on no document measured (on par for a 100-page Chinese contract, 1.6–8×
slower elsewhere: ``bench/anchors``, ``docs/benchmarks.md``), so the engine does the reading
and this module keeps only what is ours: how a label is matched and what box a hit gets.

Matching ignores white space and compares NFKC forms, character by character, so "甲方(签章)"
finds "甲方（签章）", and a label that PDFium splits with a generated space or line break (a
kerned ``TJ``, a label across several ``Tj``) is still one hit. A hit's box is the union of its
characters' *loose* boxes — advance width by the font's ascent and descent, in PDF user space
(``/Rotate`` and the page box origin not applied) — the box a reader sees as the label, not the
ink of its glyphs; the seal is centred on its end (``pdf_sign._layout``).
"""

from __future__ import annotations

import functools
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pypdfium2 costs ~70 ms to import: only anchor searches pay for it
    from pypdfium2 import PdfTextPage


@dataclass(frozen=True)
class AnchorHit:
    """One occurrence of the anchor text: 1-based page and box in PDF points (user space)."""

    page: int
    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1
    text: str


class AnchorReadError(ValueError):
    """PDFium could not open the document to read its text."""


# PDFium is not thread-safe, not even across documents (pypdfium2's documentation): every call
# into it from this process goes through this lock (the HTTP server signs in worker threads).
_PDFIUM = threading.Lock()


@functools.lru_cache(maxsize=4096)
def _normalise(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if not ch.isspace())


def _textpages(
    pdf: bytes, pages: Iterable[int] | None, reverse: bool
) -> Iterator[tuple[int, PdfTextPage]]:
    """Each asked page's text (0-based index, text page), under the PDFium lock; the text page
    is closed when the caller asks for the next one or stops. Raises ``AnchorReadError`` when
    PDFium cannot open the document."""
    import pypdfium2 as pdfium

    with _PDFIUM:
        try:
            doc = pdfium.PdfDocument(pdf)
        except pdfium.PdfiumError as exc:
            raise AnchorReadError(str(exc)) from None
        try:
            count = len(doc)
            order = [i for i in (range(count) if pages is None else pages) if 0 <= i < count]
            for index in reversed(order) if reverse else order:
                page = doc[index]
                textpage = page.get_textpage()
                try:
                    yield index, textpage
                finally:
                    textpage.close()
                    page.close()
        finally:
            doc.close()


def find_text(
    pdf: bytes, needle: str, pages: Iterable[int] | None = None, *, last_page: bool = False
) -> list[AnchorHit]:
    """Every place where ``needle`` appears, page by page in content order.

    ``pages`` are 0-based indices to search (all pages when None; indices past the end are
    skipped). With ``last_page`` only the hits on the last page that has any are returned,
    reading from the end: a seal goes on the last occurrence, which in a contract is on its
    last page, and PDFium spends ~5–10 ms building a CJK page's text, so a 100-page contract
    is not read through for it. Raises ``AnchorReadError`` when PDFium cannot open the
    document.
    """
    target = _normalise(needle)
    if not target:
        return []
    hits: list[AnchorHit] = []
    pages_read = _textpages(pdf, pages, last_page)
    try:
        for index, textpage in pages_read:
            found = _search_page(textpage, target, index + 1)
            if found and last_page:
                return found
            hits += found
    finally:
        pages_read.close()  # the lock and the document are let go now, not at collection
    return hits


def first_of(pdf: bytes, needles: Iterable[str]) -> str | None:
    """The first of ``needles`` the document's text holds (matched as :func:`find_text`
    matches), reading each page once whatever the number of needles; ``None`` when none is
    there. Raises ``AnchorReadError`` when PDFium cannot open the document."""
    wanted = [(n, _normalise(n)) for n in needles]
    pages_read = _textpages(pdf, None, False)
    try:
        for _index, textpage in pages_read:
            text = _normalise.__wrapped__(_page_text(textpage))  # a page is not worth caching
            for needle, norm in wanted:
                if norm and norm in text:
                    return needle
    finally:
        pages_read.close()
    return None


def _page_text(textpage: PdfTextPage) -> str:
    """The page's characters, one string index per PDFium character index."""
    n = textpage.count_chars()
    text = textpage.get_text_range(0, n) if n > 0 else ""
    if len(text) != n:  # PDFium left characters out of its text or added some: read each one
        from pypdfium2 import raw

        text = "".join(chr(raw.FPDFText_GetUnicode(textpage.raw, k)) for k in range(n))
    return text


def _search_page(textpage: PdfTextPage, target: str, page: int) -> list[AnchorHit]:
    text = _page_text(textpage)
    chars: list[str] = []
    owner: list[int] = []
    for k, ch in enumerate(text):
        for norm in _normalise(ch):
            chars.append(norm)
            owner.append(k)
    haystack = "".join(chars)
    hits = []
    start = haystack.find(target)
    while start >= 0:
        used = sorted(set(owner[start : start + len(target)]))
        boxes = [textpage.get_charbox(k, loose=True) for k in used]
        bbox = (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
        hits.append(AnchorHit(page=page, bbox=bbox, text="".join(text[k] for k in used)))
        start = haystack.find(target, start + len(target))
    return hits
