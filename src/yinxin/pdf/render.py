"""Pages of a PDF as pictures, for people to read and to place a seal by clicking.

The web pages show a document as PNG images of its pages (no PDF viewer in the browser, no
script from elsewhere): the sender clicks where a seal goes, the signer reads every page on a
phone and then sees their seal on the signed version. PDFium (through pypdfium2, as for the
anchors) draws the page as it is displayed — ``/Rotate`` applied, annotations and signature
appearances included, so a seal just made shows.

A page's size is reported in millimetres as displayed, with the origin at the lower-left
corner, which is how ``yinxin.pdf.sign.Placement`` takes ``x_mm``/``y_mm``: a click at a
fraction (fx, fy) of the picture from its top-left corner is (fx·width, (1−fy)·height) mm.

PDFium is not thread-safe: every call goes through the same lock as ``yinxin.pdf.anchors``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from yinxin.errors import ValidationError
from yinxin.pdf.anchors import _PDFIUM

MM_PER_PT = 25.4 / 72
MIN_WIDTH, MAX_WIDTH = 100, 2000  # pixels of a rendered page


@dataclass(frozen=True)
class PageSize:
    """One page as displayed: 1-based number, size in mm."""

    page: int
    width_mm: float
    height_mm: float


def _open(pdf: bytes):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(pdf)
    except pdfium.PdfiumError:
        raise ValidationError(
            "the PDF cannot be read (damaged, encrypted or without pages)", field="pdf"
        ) from None


def _displayed(page) -> tuple[float, float]:
    """Width and height in points as the page is displayed. PDFium's page size has the
    quarter turn of ``/Rotate`` applied already (``CPDF_Page`` swaps them); swapping them again
    here told the web page a landscape page was portrait, so a click on a rotated page was
    taken at the wrong place and the page was drawn wider than asked."""
    return page.get_size()


def _user_units(pdf: bytes, count: int) -> list[float]:
    """Each page's ``/UserUnit`` (points per unit), which PDFium's sizes leave out and sealing
    applies (``yinxin.pdf.sign``: millimetres of the page as Acrobat and MuPDF show it). Read
    with the signing engine's page tree; 1 for every page when it cannot be read or says none
    (without object streams the name is in the file's bytes if anywhere)."""
    ones = [1.0] * count
    if b"/UserUnit" not in pdf and b"/ObjStm" not in pdf:
        return ones
    from pyhanko.pdf_utils.reader import PdfFileReader

    from yinxin.pdf.incremental import list_pages

    try:
        units = [p.user_unit for p in list_pages(PdfFileReader(io.BytesIO(pdf), strict=False))]
    except Exception:  # untrusted input PDFium read and pyHanko does not: as without
        return ones
    return units if len(units) == count else ones


def page_sizes(pdf: bytes) -> list[PageSize]:
    """Every page's displayed size in mm (``/Rotate`` and ``/UserUnit`` applied)."""
    out = _page_sizes(pdf)
    units = _user_units(pdf, len(out))
    return [
        PageSize(s.page, round(s.width_mm * u, 2), round(s.height_mm * u, 2))
        for s, u in zip(out, units, strict=True)
    ]


def _page_sizes(pdf: bytes) -> list[PageSize]:
    with _PDFIUM:
        doc = _open(pdf)
        try:
            out = []
            for i in range(len(doc)):
                page = doc[i]
                try:
                    w, h = _displayed(page)
                finally:
                    page.close()
                out.append(PageSize(i + 1, w * MM_PER_PT, h * MM_PER_PT))
            return out
        finally:
            doc.close()


def render_page(pdf: bytes, page: int, width_px: int = 800) -> bytes:
    """Page ``page`` (1-based) as a PNG ``width_px`` wide (white background, displayed
    orientation). Refuses a page the document does not have, naming ``page``."""
    if not isinstance(width_px, int) or not MIN_WIDTH <= width_px <= MAX_WIDTH:
        raise ValidationError(f"width must be {MIN_WIDTH}–{MAX_WIDTH} pixels", field="width")
    with _PDFIUM:
        doc = _open(pdf)
        try:
            # the seals are signature widgets: PDFium draws form fields only with forms loaded
            doc.init_forms()
            if not isinstance(page, int) or not 1 <= page <= len(doc):
                raise ValidationError(
                    f"the document has {len(doc)} page(s); there is no page {page}", field="page"
                )
            p = doc[page - 1]
            try:
                w, _h = _displayed(p)
                bitmap = p.render(scale=width_px / w, may_draw_forms=True, fill_color=(255,) * 4)
                try:
                    image = bitmap.to_pil()
                finally:
                    bitmap.close()
            finally:
                p.close()
        finally:
            doc.close()
    # a page is text on white and a few colours of seals: 128 colours keep it sharp at about a
    # quarter of the size (≈45 KB for an A4 page 800 px wide), which a phone notices
    from PIL import Image

    small = image.convert("RGB").quantize(128, method=Image.Quantize.FASTOCTREE)
    out = io.BytesIO()
    small.save(out, format="PNG", compress_level=6)
    return out.getvalue()


__all__ = ["PageSize", "page_sizes", "render_page"]
