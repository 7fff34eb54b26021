"""Draw one OFD page as a PNG, seals included, so a person can see what was signed where.

A preview, not a print engine: text (``TextObject`` runs at their positions, in one CJK face),
images (``ImageObject`` with their ``CTM``), straight-line paths (``PathObject`` with M/L/Z
``AbbreviatedData``, stroked) and, last and on top, the stamps of every signature on that page
(``StampAnnot``'s box filled with the seal's own picture, taken from the signature value by
the ``picture_of`` callback — ``yinxin.seals.ses_signature.seal_picture`` for GB/T 38540; a
``Clip`` draws only its part, so a cross-page seal shows one strip per page). A page's template
pages are drawn as its content, each in its turn: ``Background`` ones under the page's own,
``Foreground`` ones over it; in each, its ``Layer``s by ``Type`` (``Background``, ``Body``,
``Foreground``), each layer's objects in the order written. Curves, clipping paths and
rotations are not drawn.

The face: ``YINXIN_CJK_FONT`` when set, else the first Noto CJK / WenQuanYi / AR PL file found in
the usual Debian font directories (the Simplified-Chinese face of a collection).
"""

from __future__ import annotations

import functools
import io
import itertools
import math
import os
import posixpath
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from yinxin.errors import ConfigurationError, ValidationError
from yinxin.ofd.document import Box, TextRun, number, object_runs, page_at, read_document
from yinxin.ofd.package import OfdPackage, bad, loc, parse_xml, q

# (signed value) -> (picture type, picture bytes, width mm, height mm), or None
PictureOf = Callable[[bytes], "tuple[str, bytes, int, int] | None"]

_FONTS = [
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),  # SC face of the collection
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
]
MAX_PIXELS = 40_000_000


@functools.cache
def _font_file() -> tuple[str, int]:
    env = os.environ.get("YINXIN_CJK_FONT")
    if env:
        if not Path(env).is_file():
            raise ConfigurationError(f"YINXIN_CJK_FONT={env} is not a file")
        return env, 2 if env.endswith(".ttc") and "Noto" in env else 0
    for path, index in _FONTS:
        if Path(path).is_file():
            return path, index
    raise ConfigurationError("no CJK font found: install fonts-noto-cjk or set YINXIN_CJK_FONT")


MAX_GLYPH_PX = 1024  # taller text is drawn at this size: FreeType refuses huge sizes
# What drawing a page's text may cost: each character is drawn on its own (~50 µs, ~1.5 ms at
# MAX_GLYPH_PX). No page holds more (A4 has room for 62,000 characters of 1 mm; a full page
# at 600 dpi is 35 million pixels), a hostile one may hold millions: refused, not drawn.
MAX_GLYPHS = 200_000
MAX_GLYPH_AREA = 4_000_000_000  # the squares of their sizes in pixels, summed
# and its pictures' (ImageObjects and stamps): each is decoded and scaled on its own (~26 ns a
# pixel); a scanned page is one picture or a few, a hostile page may name a million
MAX_PICTURES = 10_000
MAX_PICTURE_AREA = 400_000_000  # pixels decoded and drawn, summed


# and its lines (PathObject): drawn pixel by pixel along their length (~30 ns a pixel), wide
# ones as polygons; a page's rules and tables come to a few million pixels at 600 dpi
MAX_LINE_LENGTH = 100_000_000  # pixels of length, summed
MAX_LINE_AREA = 4_000_000_000  # pixels of length times width, summed


class _LineCost:
    """What a page's lines have cost so far; refused past the bounds, naming the page."""

    def __init__(self, number: int) -> None:
        self.number, self.length, self.area = number, 0.0, 0.0

    def add(self, points: list[tuple[float, float]], width: int) -> None:
        length = sum(math.dist(a, b) for a, b in itertools.pairwise(points))
        self.length += length
        self.area += length * width
        if self.length > MAX_LINE_LENGTH or self.area > MAX_LINE_AREA:
            what = "长度" if self.length > MAX_LINE_LENGTH else "长度乘以线宽"
            bound = MAX_LINE_LENGTH if self.length > MAX_LINE_LENGTH else MAX_LINE_AREA
            en = "" if self.length > MAX_LINE_LENGTH else " (length times width)"
            raise bad(
                f"第 {self.number} 页要绘制的线条过多（{what}超过 {bound:.0e} 像素）；可降低 dpi",
                f"page {self.number} has too many lines to draw (more than {bound:.0e} "
                f"pixels of line{en}); a lower dpi may do",
            )


class _PictureCost:
    """What a page's pictures have cost so far; refused past the bounds, naming the page."""

    def __init__(self, number: int) -> None:
        self.number, self.pictures, self.area = number, 0, 0

    def add(self, pictures: int, pixels: int) -> None:
        self.pictures += pictures
        self.area += pixels
        if self.pictures > MAX_PICTURES:
            raise bad(
                f"第 {self.number} 页要绘制的图片过多（超过 {MAX_PICTURES} 张）",
                f"page {self.number} has too many pictures to draw (more than "
                f"{MAX_PICTURES} pictures)",
            )
        if self.area > MAX_PICTURE_AREA:
            raise bad(
                f"第 {self.number} 页要绘制的图片过多（解码与绘制超过 {MAX_PICTURE_AREA:.0e} 像素）"
                "；可降低 dpi",
                f"page {self.number} has too many pictures to draw (more than "
                f"{MAX_PICTURE_AREA:.0e} pixels of them decoded and drawn); a lower dpi may do",
            )


@functools.lru_cache(maxsize=64)
def _font(px: int) -> ImageFont.FreeTypeFont:
    path, index = _font_file()
    return ImageFont.truetype(path, min(max(px, 1), MAX_GLYPH_PX), index=index)


def _resources(pkg: OfdPackage, paths: tuple[str, ...]) -> dict[str, str]:
    """ID -> package name of every MultiMedia file the document's resource files declare."""
    out: dict[str, str] = {}
    for res_name in paths:
        if res_name not in pkg.parts:
            continue
        root = parse_xml(pkg.parts[res_name], res_name)
        base = loc(posixpath.dirname(res_name), root.get("BaseLoc") or ".", res_name, "BaseLoc")
        for media in root.iter(q("MultiMedia")):
            file = media.findtext(q("MediaFile"))
            if media.get("ID") and file:
                try:
                    out[media.get("ID")] = loc(base, file)
                except ValidationError:
                    continue
    return out


def _paste_picture(
    canvas: Image.Image,
    data: bytes,
    box: Box,
    scale: float,
    cost: _PictureCost,
    clip: Box | None = None,
) -> bool:
    """Draw a picture into ``box`` (mm); with ``clip`` (mm, relative to the box, as a
    ``StampAnnot``'s ``Clip``) only that part of it — a cross-page seal's strip.

    Only the part that lies on the page is scaled, straight to its pixels there: a box of
    100 m a side (a hostile file's) costs no more than one of the page's size. A picture of
    more pixels than a page may have is not drawn (False), as one that cannot be read. Each
    is counted in ``cost``, decoded and drawn."""
    cost.add(1, 0)
    try:
        pic = Image.open(io.BytesIO(data))
        if pic.width * pic.height > MAX_PIXELS:
            return False
        cost.add(0, pic.width * pic.height)
        pic.load()
    except (OSError, ValueError, Image.DecompressionBombError):
        return False
    x, y = box.x * scale, box.y * scale
    w, h = max(box.w * scale, 1.0), max(box.h * scale, 1.0)
    x0, y0, x1, y1 = x, y, x + w, y + h
    if clip is not None:
        x0, y0 = max(x0, x + clip.x * scale), max(y0, y + clip.y * scale)
        x1 = min(x1, x + (clip.x + clip.w) * scale)
        y1 = min(y1, y + (clip.y + clip.h) * scale)
    # the pixels of the page it covers (a cross-page seal's box runs past the edge)
    cx0, cy0 = max(int(x0), 0), max(int(y0), 0)
    cx1, cy1 = min(int(x1), canvas.width), min(int(y1), canvas.height)
    if cx1 <= cx0 or cy1 <= cy0:
        return True
    cost.add(0, (cx1 - cx0) * (cy1 - cy0))
    sx, sy = pic.width / w, pic.height / h  # picture pixels per page pixel
    source = (
        min(max((cx0 - x) * sx, 0.0), pic.width),
        min(max((cy0 - y) * sy, 0.0), pic.height),
        min(max((cx1 - x) * sx, 0.0), pic.width),
        min(max((cy1 - y) * sy, 0.0), pic.height),
    )
    part = pic.convert("RGBA").resize((cx1 - cx0, cy1 - cy0), Image.LANCZOS, box=source)
    canvas.alpha_composite(part, (cx0, cy0))
    return True


_DRAWN = (q("PathObject"), q("ImageObject"), q("TextObject"))
# a Layer's Type (GB/T 33190 Table 15): Body, the default, Background under it, Foreground over
_LAYER_ORDER = {"Background": 0, "Body": 1, "Foreground": 2}


def _in_order(root) -> list:
    """The objects of a content file we draw, in drawing order: its layers by ``Type``
    (stably: layers of one type as written), each layer's objects as written."""
    content = root.find(q("Content"))
    layers = [] if content is None else content.findall(q("Layer"))
    if not layers:
        return list(root.iter(*_DRAWN))
    layers.sort(key=lambda layer: _LAYER_ORDER.get((layer.get("Type") or "").strip(), 1))
    return [obj for layer in layers for obj in layer.iter(*_DRAWN)]


def _draw_path(draw: ImageDraw.ImageDraw, obj, scale: float, cost: _LineCost) -> None:
    """Stroke one ``PathObject``'s M/L/Z ``AbbreviatedData`` (black)."""
    try:
        box = Box.parse(obj.get("Boundary"), "PathObject Boundary")
    except ValidationError:
        return
    data = (obj.findtext(q("AbbreviatedData")) or "").split()
    width = number(obj.get("LineWidth"), "LineWidth", default=0.353) * scale
    points: list[tuple[float, float]] = []
    start = None
    i = 0
    while i < len(data):
        op = data[i]
        try:
            if op in ("M", "L") and i + 2 < len(data):
                x, y = number(data[i + 1], "path"), number(data[i + 2], "path")
                pt = ((box.x + x) * scale, (box.y + y) * scale)
                if op == "M":
                    if len(points) > 1:
                        cost.add(points, max(int(width), 1))
                        draw.line(points, fill=(0, 0, 0), width=max(int(width), 1))
                    points, start = [pt], pt
                else:
                    points.append(pt)
                i += 3
                continue
            if op == "Z" and start is not None:
                points.append(start)
        except (ValidationError, IndexError):
            break
        i += 1
    if len(points) > 1:
        cost.add(points, max(int(width), 1))
        draw.line(points, fill=(0, 0, 0), width=max(int(width), 1))


def render_page(
    data: bytes,
    page: int = 1,
    *,
    dpi: int = 150,
    picture_of: PictureOf | None = None,
) -> bytes:
    """PNG of page ``page`` (1 = first, -1 = last) at ``dpi``, the seals stamped on it."""
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 36 <= dpi <= 600:
        raise bad("dpi 须为 36 至 600 的整数", "dpi must be an integer from 36 to 600", field="dpi")
    pkg = OfdPackage.read(data)
    doc = read_document(pkg)
    pg = page_at(doc.pages, page)
    index = pg.index
    scale = dpi / 25.4  # pixels per mm
    size = (max(int(pg.width * scale), 1), max(int(pg.height * scale), 1))
    if size[0] * size[1] > MAX_PIXELS:
        raise bad(
            f"第 {index + 1} 页在 {dpi} dpi 下过大（{size[0]}×{size[1]} 像素，至多 "
            f"{MAX_PIXELS:.0e}），无法绘制；可降低 dpi",
            f"page {index + 1} is too large to draw at {dpi} dpi ({size[0]}×{size[1]} pixels, "
            f"at most {MAX_PIXELS:.0e}); a lower dpi may do",
            field="dpi",
        )
    canvas = Image.new("RGBA", size, (255, 255, 255, 255))
    draw = ImageDraw.Draw(canvas)

    media = _resources(pkg, doc.public_res + doc.document_res)
    # its Background templates, itself, its Foreground templates; each one's objects in order,
    # a text object with its runs (all of them read, and their cost judged, before drawing)
    objects = []
    glyphs = 0
    for part in pg.drawn:
        for obj in _in_order(parse_xml(pkg.get(part), part)):
            runs = object_runs(pg, part, obj) if obj.tag == q("TextObject") else None
            objects.append((obj, runs))
            glyphs += sum(len(r.text) for r in runs or ())
            if glyphs > MAX_GLYPHS:  # refused as soon as it is seen: millions are not kept
                _check_text_cost([runs for _, runs in objects if runs], scale, index + 1)
    _check_text_cost([runs for _, runs in objects if runs], scale, index + 1)
    cost = _PictureCost(index + 1)
    lines = _LineCost(index + 1)
    for obj, runs in objects:
        if obj.tag == q("PathObject"):
            _draw_path(draw, obj, scale, lines)
        elif obj.tag == q("ImageObject"):
            name = media.get(obj.get("ResourceID", ""))
            if name and name in pkg.parts:
                try:
                    box = Box.parse(obj.get("Boundary"), "ImageObject Boundary")
                except ValidationError:
                    continue
                _paste_picture(canvas, pkg.parts[name], box, scale, cost)
        for run in runs or ():
            font = _font(int(run.size * scale))
            for ch, x in zip(run.text, run.xs, strict=True):
                draw.text((x * scale, run.y * scale), ch, font=font, fill=run.color, anchor="ls")

    pictures: dict[bytes, tuple[str, bytes, int, int] | None] = {}  # a seal's, read once
    for box, clip, signed_value in _stamps_on(pkg, pg.id):
        if picture_of and signed_value and signed_value not in pictures:
            pictures[signed_value] = picture_of(signed_value)
        picture = pictures.get(signed_value) if signed_value else None
        drawn = False
        if picture is not None and picture[0].lower() in ("png", "jpg", "jpeg", "bmp", "gif"):
            drawn = _paste_picture(canvas, picture[1], box, scale, cost, clip)
        if not drawn:  # a seal we cannot draw is still shown as where it is
            cost.add(1, 0)
            draw.rectangle(
                [box.x * scale, box.y * scale, (box.x + box.w) * scale, (box.y + box.h) * scale],
                outline=(200, 0, 0),
                width=max(int(scale / 2), 1),
            )
    out = io.BytesIO()
    canvas.convert("RGB").save(out, "PNG")
    return out.getvalue()


def _check_text_cost(texts: list[list[TextRun]], scale: float, number: int) -> None:
    """Refuse page ``number`` when its text would take longer to draw than any page's."""
    glyphs = area = 0
    for runs in texts:
        for run in runs:
            px = min(max(int(run.size * scale), 1), MAX_GLYPH_PX)
            glyphs += len(run.text)
            area += len(run.text) * px * px
    if glyphs > MAX_GLYPHS:
        raise bad(
            f"第 {number} 页要绘制的文字过多（{glyphs} 个字符，一页至多 {MAX_GLYPHS} 个）",
            f"page {number} has too much text to draw ({glyphs} characters, at most "
            f"{MAX_GLYPHS} on a page)",
        )
    if area > MAX_GLYPH_AREA:
        biggest = max(min(max(int(r.size * scale), 1), MAX_GLYPH_PX) for rs in texts for r in rs)
        raise bad(
            f"第 {number} 页要绘制的文字过多（{glyphs} 个字符，最大 {biggest} 像素，"
            f"共约 {area:.2e} 像素，至多 {MAX_GLYPH_AREA:.0e}）；可降低 dpi",
            f"page {number} has too much text to draw ({glyphs} characters of up to {biggest} "
            f"px, about {area:.2e} pixels, at most {MAX_GLYPH_AREA:.0e}); a lower dpi may do",
        )


def _stamps_on(pkg: OfdPackage, page_id: str) -> list[tuple[Box, Box | None, bytes | None]]:
    if pkg.signatures_loc is None or pkg.signatures_loc not in pkg.parts:
        return []
    signs_dir = posixpath.dirname(pkg.signatures_loc)
    out = []
    seen: set[str] = set()  # a file the list names again is read, and drawn, once
    for entry in parse_xml(pkg.parts[pkg.signatures_loc], pkg.signatures_loc).findall(
        q("Signature")
    ):
        try:
            name = loc(signs_dir, entry.get("BaseLoc", ""))
            if name in seen:
                continue
            seen.add(name)
            root = parse_xml(pkg.get(name), name)
            base = posixpath.dirname(name)
            value_name = loc(base, root.findtext(q("SignedValue")) or "")
        except ValidationError:
            continue
        value = pkg.parts.get(value_name)
        for st in root.iter(q("StampAnnot")):
            if st.get("PageRef") != page_id:
                continue
            try:
                box = Box.parse(st.get("Boundary"), "StampAnnot Boundary")
                clip = Box.parse(st.get("Clip"), "StampAnnot Clip") if st.get("Clip") else None
                out.append((box, clip, value))
            except ValidationError:
                continue
    return out
