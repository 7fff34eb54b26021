"""Software-made seal images: organization seals, personal name seals and cleaned-up scans.

The seal application rules say personal seals are "统一采用软件方式制作", so the platform must be
able to draw a seal that looks like one a carver would make, and draw it the same way every time:
the image is bound into signed documents, and a re-render that differed by one byte would make
two "identical" seals distinguishable.

Every seal is laid out once, in millimetres, as a list of filled shapes (ring, star, border, and
the glyph outlines taken from the font with fontTools). That single geometry is then drawn three
ways -- a PNG rasterised here with Pillow, an SVG of ``<path>`` elements and a hand-written
one-page PDF -- so the three forms cannot drift apart. Filling uses the non-zero winding rule in
all three, which is what the CFF outlines of Noto CJK are designed for.

Layout follows the usual proportions of Chinese official seals (40 mm: 1.2 mm rim, 14 mm star,
name around roughly 240-280 degrees of the upper arc, optional horizontal purpose text such as
合同专用章 under the star, optional seal code along the bottom) scaled with the diameter.
"""

from __future__ import annotations

import base64
import io
import logging
import math
import pathlib
import threading
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from fontTools.pens.basePen import BasePen
from fontTools.ttLib import TTCollection, TTFont
from PIL import Image, ImageChops, ImageDraw, ImageMath, ImageOps, UnidentifiedImageError

from yinxin.errors import ConfigurationError, TooLarge, ValidationError

log = logging.getLogger(__name__)

SEAL_RED: tuple[int, int, int] = (0xE6, 0x00, 0x12)
"""Chinese seal red (印泥红); the colour every software-made seal is drawn in."""

MAX_ORG_NAME_CHARS = 40
MAX_CENTER_TEXT_CHARS = 12
MAX_CODE_CHARS = 24
MIN_SCAN_SIDE_PX = 64
MIN_SCAN_CONTENT_PX = 40
# An upload is bounded by its bytes and by the pixels its header declares, both checked before
# any pixel is decoded: a 38 KB PNG can declare 39 megapixels and take 1.4 GB to decode. A seal
# 40 mm wide at 600 dpi is ~950 px, so 4000 px a side leaves room for any honest scan or photo.
MAX_SCAN_BYTES = 5 * 1024 * 1024
MAX_SCAN_SIDE_PX = 4000
MAX_SCAN_PIXELS = MAX_SCAN_SIDE_PX * MAX_SCAN_SIDE_PX

_FONT_DIRS = (
    pathlib.Path("/usr/share/fonts/opentype/noto"),
    pathlib.Path("/usr/share/fonts/opentype"),
    pathlib.Path("/usr/share/fonts/noto-cjk"),
    pathlib.Path("/usr/share/fonts/google-noto-cjk"),
    pathlib.Path("/usr/share/fonts"),
    pathlib.Path("/usr/local/share/fonts"),
)
_FONT_FAMILIES = {"song": "NotoSerifCJK", "hei": "NotoSansCJK"}

# Compound surnames keep their two characters together in the right-hand column of a
# three-character name seal, the way a carver would cut 欧阳|修 rather than 欧|阳修.
_COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 令狐 端木 独孤 南宫 西门 "
    "万俟 闻人 轩辕 澹台 公冶 宗政 濮阳 淳于 单于 太叔 申屠 仲孙 钟离 赫连 呼延 东郭 百里".split()
)

Point = tuple[float, float]
Rect = tuple[float, float, float, float]

# fontTools tables load lazily on first touch and are not safe to load from two threads at once;
# the API renders seals from a worker pool, so font access is serialised.
_FONT_LOCK = threading.RLock()


# --------------------------------------------------------------------------------------------
# Public data


@dataclass(frozen=True)
class GlyphBox:
    """Where one character's em box landed, in PNG pixels (y down).

    Tests and the layout's own collision checks reason about em boxes rather than ink, because
    the em box is what a typesetter spaces and the ink of CJK glyphs stays inside it.
    """

    char: str
    role: str  # "name", "center", "code" or "personal"
    center: Point
    corners: tuple[Point, Point, Point, Point]
    rotation_deg: float  # clockwise rotation of the glyph's up direction from the page's up


@dataclass(frozen=True)
class SealGeometry:
    """The numbers a caller or a test can check without re-deriving the layout (all in px)."""

    kind: str  # "organization", "personal" or "scan"
    width_px: int
    height_px: int
    px_per_mm: float
    center: Point
    ring_outer_radius: float | None = None
    ring_inner_radius: float | None = None
    star_center: Point | None = None
    star_radius: float | None = None  # radius of the star's points
    border_outer: Rect | None = None  # x0, y0, x1, y1
    border_inner: Rect | None = None
    glyphs: tuple[GlyphBox, ...] = ()


@dataclass(frozen=True)
class SealImage:
    png: bytes
    svg: bytes
    pdf: bytes
    width_mm: float
    height_mm: float
    dpi: int
    geometry: SealGeometry


# --------------------------------------------------------------------------------------------
# Fonts


def find_cjk_font(style: str = "song") -> pathlib.Path:
    """Locate a Noto CJK font file; "song" is the serif (宋体-like), "hei" the sans (黑体).

    Bold is preferred because a seal is a stamp: hairline strokes of the regular weight vanish
    once the name is compressed to fit the arc. When the serif is not installed the sans is
    used instead (and logged) so a missing package degrades the look rather than the service.
    """
    if style not in _FONT_FAMILIES:
        raise ValidationError(f"unknown font style {style!r}; use 'song' or 'hei'", field="font")
    order = [style] + [s for s in ("song", "hei") if s != style]
    for candidate in order:
        found = _find_family(_FONT_FAMILIES[candidate])
        if found is not None:
            if candidate != style:
                log.warning(
                    "font style %r not installed, falling back to %r (%s)", style, candidate, found
                )
            return found
    raise ConfigurationError(
        "no Noto CJK font found; install fonts-noto-cjk (Debian) or google-noto-cjk-fonts",
        code="font_missing",
    )


def _find_family(family: str) -> pathlib.Path | None:
    patterns = (
        f"{family}-Bold.ttc",
        f"{family}-Regular.ttc",
        f"{family}sc-Bold.otf",
        f"{family}sc-Regular.otf",
        f"{family}SC-Bold.otf",
        f"{family}SC-Regular.otf",
    )
    for directory in _FONT_DIRS:
        if not directory.is_dir():
            continue
        for pattern in patterns:
            direct = directory / pattern
            if direct.is_file():
                return direct
        for pattern in patterns:
            hits = sorted(directory.rglob(pattern))
            if hits:
                return hits[0]
    return None


@dataclass(frozen=True)
class _Face:
    """A loaded font face with the few metrics the layout needs, and an outline cache."""

    font: TTFont
    cmap: dict[int, str]
    ascent: float
    descent: float
    units_per_em: int

    def advance(self, char: str) -> float:
        with _FONT_LOCK:
            return float(self.font["hmtx"][self.cmap[ord(char)]][0])

    def has(self, char: str) -> bool:
        return ord(char) in self.cmap


def _load_face(path: str) -> _Face:
    """Open the Simplified Chinese face; the TTC also holds JP/KR/TC/HK faces whose glyph forms
    differ (e.g. 说, 骨), and a Chinese seal must use the mainland forms."""
    with _FONT_LOCK:
        return _load_face_locked(path)


@lru_cache(maxsize=4)
def _load_face_locked(path: str) -> _Face:
    if path.lower().endswith((".ttc", ".otc")):
        collection = TTCollection(path, lazy=True)
        index = _sc_face_index(collection)
        font = collection.fonts[index]
    else:
        font = TTFont(path, lazy=True)
    os2 = font["OS/2"]
    ascent, descent = float(os2.sTypoAscender), float(os2.sTypoDescender)
    upem = int(font["head"].unitsPerEm)
    if ascent - descent <= 0:
        ascent, descent = 0.88 * upem, -0.12 * upem
    return _Face(
        font=font, cmap=dict(font.getBestCmap()), ascent=ascent, descent=descent, units_per_em=upem
    )


def _sc_face_index(collection: TTCollection) -> int:
    fallback = 0
    for index, font in enumerate(collection.fonts):
        name = font["name"].getDebugName(4) or ""
        words = name.split()
        if "SC" in words and "Mono" not in words:
            return index
        if "CN" in words:
            fallback = index
    return fallback


class _ContourPen(BasePen):
    """Collects outlines as (start, segments) contours; a segment is 1 point (line) or 3 (cubic)."""

    def __init__(self) -> None:
        super().__init__(glyphSet=None)
        self.contours: list[_RawContour] = []
        self._start: Point | None = None
        self._segments: list[tuple[Point, ...]] = []

    def _moveTo(self, pt: Point) -> None:
        self._flush()
        self._start = pt

    def _lineTo(self, pt: Point) -> None:
        self._segments.append((pt,))

    def _curveToOne(self, pt1: Point, pt2: Point, pt3: Point) -> None:
        self._segments.append((pt1, pt2, pt3))

    def _closePath(self) -> None:
        self._flush()

    def _endPath(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if self._start is not None and self._segments:
            self.contours.append((self._start, tuple(self._segments)))
        self._start = None
        self._segments = []


_RawContour = tuple[Point, tuple[tuple[Point, ...], ...]]


def _glyph_outline(path: str, char: str) -> tuple[_RawContour, ...]:
    with _FONT_LOCK:
        return _glyph_outline_locked(path, char)


@lru_cache(maxsize=2048)
def _glyph_outline_locked(path: str, char: str) -> tuple[_RawContour, ...]:
    face = _load_face(path)
    pen = _ContourPen()
    face.font.getGlyphSet()[face.cmap[ord(char)]].draw(pen)
    return tuple(pen.contours)


# --------------------------------------------------------------------------------------------
# Geometry model (millimetres, y down)


@dataclass(frozen=True)
class _Contour:
    start: Point
    segments: tuple[tuple[Point, ...], ...]


@dataclass(frozen=True)
class _Shape:
    kind: str  # "ring", "star", "border", "glyph"
    label: str
    contours: tuple[_Contour, ...]


@dataclass(frozen=True)
class _Box:
    """An oriented rectangle in mm: centre, unit reading direction ``t``, unit "up" ``u``."""

    char: str
    role: str
    center: Point
    t: Point
    u: Point
    width: float
    height: float

    def corners(self) -> tuple[Point, Point, Point, Point]:
        cx, cy = self.center
        hw, hh = self.width / 2, self.height / 2
        out = []
        for sx, sy in ((-1, 1), (1, 1), (1, -1), (-1, -1)):
            out.append(
                (
                    cx + sx * hw * self.t[0] + sy * hh * self.u[0],
                    cy + sx * hw * self.t[1] + sy * hh * self.u[1],
                )
            )
        return (out[0], out[1], out[2], out[3])


@dataclass
class _Layout:
    width_mm: float
    height_mm: float
    shapes: list[_Shape]
    boxes: list[_Box]
    ring: tuple[float, float] | None = None  # outer, inner radius
    star_radius: float | None = None
    border_outer: Rect | None = None
    border_inner: Rect | None = None


def _glyph_shape(face_path: str, box: _Box) -> _Shape:
    """Map the character's em box (advance x [descent, ascent]) onto ``box``."""
    face = _load_face(face_path)
    adv = face.advance(box.char)
    em_h = face.ascent - face.descent
    kx, ky = box.width / adv, box.height / em_h
    mid_x, mid_y = adv / 2, (face.ascent + face.descent) / 2
    (tx, ty), (ux, uy) = box.t, box.u
    cx, cy = box.center

    def tr(p: Point) -> Point:
        lx, ly = (p[0] - mid_x) * kx, (p[1] - mid_y) * ky
        return (cx + lx * tx + ly * ux, cy + lx * ty + ly * uy)

    contours = tuple(
        _Contour(tr(start), tuple(tuple(tr(p) for p in seg) for seg in segments))
        for start, segments in _glyph_outline(face_path, box.char)
    )
    return _Shape("glyph", box.char, contours)


_KAPPA = 4 * (math.sqrt(2) - 1) / 3


def _circle(cx: float, cy: float, r: float, clockwise: bool) -> _Contour:
    """A circle as four cubic Béziers (radial error 0.027 %, far below a pixel)."""
    k = _KAPPA * r
    if clockwise:  # on screen (y down): top, right, bottom, left
        start = (cx, cy - r)
        segs = (
            ((cx + k, cy - r), (cx + r, cy - k), (cx + r, cy)),
            ((cx + r, cy + k), (cx + k, cy + r), (cx, cy + r)),
            ((cx - k, cy + r), (cx - r, cy + k), (cx - r, cy)),
            ((cx - r, cy - k), (cx - k, cy - r), (cx, cy - r)),
        )
    else:
        start = (cx, cy - r)
        segs = (
            ((cx - k, cy - r), (cx - r, cy - k), (cx - r, cy)),
            ((cx - r, cy + k), (cx - k, cy + r), (cx, cy + r)),
            ((cx + k, cy + r), (cx + r, cy + k), (cx + r, cy)),
            ((cx + r, cy - k), (cx + k, cy - r), (cx, cy - r)),
        )
    return _Contour(start, segs)


def _rect(x0: float, y0: float, x1: float, y1: float, clockwise: bool) -> _Contour:
    pts = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    if not clockwise:
        pts = [pts[0]] + pts[:0:-1]
    return _Contour(pts[0], tuple((p,) for p in pts[1:]) + ((pts[0],),))


def _star(cx: float, cy: float, r: float) -> _Contour:
    """A regular five-pointed star, one point straight up, as one simple polygon."""
    inner = r * math.cos(math.radians(72)) / math.cos(math.radians(36))
    pts = []
    for i in range(10):
        radius = r if i % 2 == 0 else inner
        a = math.radians(36 * i)
        pts.append((cx + radius * math.sin(a), cy - radius * math.cos(a)))
    return _Contour(pts[0], tuple((p,) for p in pts[1:]) + ((pts[0],),))


def _boxes_overlap(a: Sequence[Point], b: Sequence[Point]) -> bool:
    """Separating-axis test for two convex quadrilaterals."""
    for poly in (a, b):
        for i in range(len(poly)):
            x1, y1 = poly[i]
            x2, y2 = poly[(i + 1) % len(poly)]
            nx, ny = y1 - y2, x2 - x1
            pa = [nx * x + ny * y for x, y in a]
            pb = [nx * x + ny * y for x, y in b]
            if max(pa) <= min(pb) or max(pb) <= min(pa):
                return False
    return True


# --------------------------------------------------------------------------------------------
# Input checks


def _check_number(value: float, lo: float, hi: float, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"{field} must be a number", field=field)
    if not lo <= value <= hi:
        raise ValidationError(f"{field} must be between {lo:g} and {hi:g}", field=field)
    return float(value)


def _check_dpi(dpi: int) -> int:
    if isinstance(dpi, bool) or not isinstance(dpi, int):
        raise ValidationError("dpi must be an integer", field="dpi")
    if not 72 <= dpi <= 1200:
        raise ValidationError("dpi must be between 72 and 1200", field="dpi")
    return dpi


def _check_text(value: object, field: str, lo: int, hi: int, face: _Face) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text", field=field)
    text = unicodedata.normalize("NFC", value.strip())
    if not text:
        raise ValidationError(f"{field} is empty", field=field)
    if len(text) < lo or len(text) > hi:
        raise ValidationError(
            f"{field} must have {lo} to {hi} characters, got {len(text)}", field=field
        )
    for ch in text:
        if ch.isspace() or unicodedata.category(ch)[0] in "CZ":
            raise ValidationError(f"{field} contains a space or control character", field=field)
        if not face.has(ch):
            raise ValidationError(f"{field}: character {ch!r} is not in the seal font", field=field)
    return text


# --------------------------------------------------------------------------------------------
# Organization seal


def render_organization_seal(
    name: str,
    *,
    center_text: str | None = None,
    code: str | None = None,
    diameter_mm: float = 40.0,
    dpi: int = 600,
    font: str = "song",
) -> SealImage:
    """Draw a round organization seal (公章; with ``center_text`` a 合同/财务专用章).

    The name is spread over an arc that widens with its length and is squeezed horizontally
    once the arc is full, so both a 2-character and a 25-character name fill the rim the way a
    seal engraver would set them; characters stand upright on the arc (tops outward).
    """
    face_path = str(find_cjk_font(font))
    face = _load_face(face_path)
    diameter = _check_number(diameter_mm, 20.0, 80.0, "diameter_mm")
    dpi = _check_dpi(dpi)
    name = _check_text(name, "name", 2, MAX_ORG_NAME_CHARS, face)
    if center_text is not None:
        center_text = _check_text(center_text, "center_text", 1, MAX_CENTER_TEXT_CHARS, face)
    if code is not None:
        code = _check_text(code, "code", 1, MAX_CODE_CHARS, face)
        if not all(ch.isascii() and (ch.isalnum() or ch == "-") for ch in code):
            raise ValidationError("code may only hold ASCII letters, digits and '-'", field="code")
    layout = _layout_organization(face_path, name, center_text, code, diameter)
    return _finish(layout, dpi, "organization")


def _layout_organization(
    face_path: str, name: str, center_text: str | None, code: str | None, d: float
) -> _Layout:
    face = _load_face(face_path)
    c = d / 2
    r_outer = d / 2 - 0.0025 * d
    r_inner = r_outer - 0.03 * d
    star_r = 0.175 * d
    shapes = [
        _Shape("ring", "", (_circle(c, c, r_outer, True), _circle(c, c, r_inner, False))),
        _Shape("star", "", (_star(c, c, star_r),)),
    ]
    boxes: list[_Box] = []

    # Name around the upper arc. Weights let half-width characters (Latin, digits) take half
    # a cell so a mixed name is still evenly spaced.
    weights = [face.advance(ch) / face.units_per_em for ch in name]
    units = sum(weights)
    height = d * min(0.165, max(0.125, 0.165 - 0.0025 * max(0.0, units - 10)))
    r_top = r_inner - 0.02 * d
    r_mid = r_top - height / 2
    r_bottom = r_top - height
    cap = 240.0 if center_text else 280.0
    arc = math.radians(min(cap, 40.0 + 25.0 * units))
    per_unit = arc / units
    gap = 0.012 * d
    squeeze = 1.0
    for w in weights:
        fit = 2 * r_bottom * math.tan(per_unit * w / 2) - gap
        squeeze = min(squeeze, fit / (height * w))
    angle = -arc / 2
    for ch, w in zip(name, weights, strict=True):
        phi = angle + per_unit * w / 2
        angle += per_unit * w
        t = (math.cos(phi), math.sin(phi))
        u = (math.sin(phi), -math.cos(phi))
        boxes.append(
            _Box(
                ch, "name", (c + r_mid * u[0], c + r_mid * u[1]), t, u, height * w * squeeze, height
            )
        )

    # Seal code along the lower arc: small, upright towards the centre, read left to right.
    code_boxes: list[_Box] = []
    if code:
        k_height = 0.065 * d
        k_outer = r_inner - 0.015 * d
        k_inner = k_outer - k_height
        k_mid = k_outer - k_height / 2
        cell = 0.6 * k_height * (face.units_per_em / (face.ascent - face.descent))
        track = 0.12 * k_height
        room = 2 * math.pi - arc - 2 * math.radians(14)
        span = len(code) * (cell + track) / k_inner
        k_squeeze = min(1.0, room / span) if span > 0 else 1.0
        pitch = (cell + track) * k_squeeze / k_inner
        for i, ch in enumerate(code):
            beta = (i - (len(code) - 1) / 2) * pitch
            t = (math.cos(beta), -math.sin(beta))
            u = (-math.sin(beta), -math.cos(beta))
            centre = (c - k_mid * u[0], c - k_mid * u[1])
            code_boxes.append(_Box(ch, "code", centre, t, u, cell * k_squeeze, k_height))
        boxes.extend(code_boxes)

    # Purpose text (合同专用章 ...) centred under the star; squeezed until it clears the name.
    if center_text:
        c_height = 0.11 * d
        top = c + star_r * math.cos(math.radians(36)) + 0.025 * d
        cy = top + c_height / 2
        c_gap = 0.01 * d
        c_weights = [face.advance(ch) / face.units_per_em for ch in center_text]
        placed: list[_Box] = []
        squeeze_c = 1.0
        while True:
            widths = [c_height * w * squeeze_c for w in c_weights]
            total = sum(widths) + c_gap * (len(widths) - 1)
            x = c - total / 2
            placed = []
            for ch, w in zip(center_text, widths, strict=True):
                placed.append(
                    _Box(ch, "center", (x + w / 2, cy), (1.0, 0.0), (0.0, -1.0), w, c_height)
                )
                x += w + c_gap
            if _clear(placed, boxes, c, r_inner - 0.015 * d):
                break
            squeeze_c -= 0.02
            if squeeze_c < 0.3:
                raise ValidationError(
                    "center_text does not fit under the star with this name", field="center_text"
                )
        boxes.extend(placed)

    for box in boxes:
        shapes.append(_glyph_shape(face_path, box))
    return _Layout(d, d, shapes, boxes, ring=(r_outer, r_inner), star_radius=star_r)


def _clear(new: list[_Box], existing: list[_Box], c: float, radius: float) -> bool:
    for box in new:
        corners = box.corners()
        if any(math.hypot(x - c, y - c) > radius for x, y in corners):
            return False
        if any(_boxes_overlap(corners, other.corners()) for other in existing):
            return False
    return True


# --------------------------------------------------------------------------------------------
# Personal seal


def render_personal_seal(
    name: str,
    *,
    border: bool = True,
    size_mm: float = 18.0,
    dpi: int = 600,
    font: str = "song",
) -> SealImage:
    """Draw a square personal name seal (个人名章), read top-to-bottom, right-to-left.

    Layouts follow the carver's conventions: two characters stand side by side as two tall
    columns (surname on the right); three characters put a single-character surname alone and
    full height in the right column with the given name stacked on the left, or a compound
    surname (欧阳, 司马 ...) stacked on the right with the given name full height on the left;
    four characters make a 2x2 grid.
    """
    face_path = str(find_cjk_font(font))
    face = _load_face(face_path)
    size = _check_number(size_mm, 8.0, 60.0, "size_mm")
    dpi = _check_dpi(dpi)
    name = _check_text(name, "name", 2, 4, face)
    if not isinstance(border, bool):
        raise ValidationError("border must be true or false", field="border")
    return _finish(_layout_personal(face_path, name, border, size), dpi, "personal")


def _layout_personal(face_path: str, name: str, border: bool, s: float) -> _Layout:
    margin = 0.02 * s
    border_w = 0.055 * s
    if border:
        inner0 = margin + border_w
        text0 = inner0 + 0.04 * s
    else:
        inner0 = margin
        text0 = margin
    text1 = s - text0
    gutter = 0.04 * s
    col_w = (text1 - text0 - gutter) / 2
    row_h = (text1 - text0 - gutter) / 2
    right_x = text1 - col_w
    left_x = text0
    full = text1 - text0

    # cells: (char, x0, y0, w, h)
    cells: list[tuple[str, float, float, float, float]] = []
    if len(name) == 2:
        cells = [(name[0], right_x, text0, col_w, full), (name[1], left_x, text0, col_w, full)]
    elif len(name) == 3 and name[:2] in _COMPOUND_SURNAMES:
        cells = [
            (name[0], right_x, text0, col_w, row_h),
            (name[1], right_x, text0 + row_h + gutter, col_w, row_h),
            (name[2], left_x, text0, col_w, full),
        ]
    elif len(name) == 3:
        cells = [
            (name[0], right_x, text0, col_w, full),
            (name[1], left_x, text0, col_w, row_h),
            (name[2], left_x, text0 + row_h + gutter, col_w, row_h),
        ]
    else:
        cells = [
            (name[0], right_x, text0, col_w, row_h),
            (name[1], right_x, text0 + row_h + gutter, col_w, row_h),
            (name[2], left_x, text0, col_w, row_h),
            (name[3], left_x, text0 + row_h + gutter, col_w, row_h),
        ]

    boxes = [
        _Box(ch, "personal", (x + w / 2, y + h / 2), (1.0, 0.0), (0.0, -1.0), w, h)
        for ch, x, y, w, h in cells
    ]
    shapes: list[_Shape] = []
    outer = inner = None
    if border:
        outer = (margin, margin, s - margin, s - margin)
        inner = (inner0, inner0, s - inner0, s - inner0)
        shapes.append(
            _Shape("border", "", (_rect(*outer, clockwise=True), _rect(*inner, clockwise=False)))
        )
    shapes.extend(_glyph_shape(face_path, box) for box in boxes)
    return _Layout(s, s, shapes, boxes, border_outer=outer, border_inner=inner)


# --------------------------------------------------------------------------------------------
# Drawing the one geometry three ways


def _finish(layout: _Layout, dpi: int, kind: str) -> SealImage:
    width_px = max(1, round(layout.width_mm * dpi / 25.4))
    height_px = max(1, round(layout.height_mm * dpi / 25.4))
    k = width_px / layout.width_mm  # px per mm; the image edge is exactly the seal edge
    alpha = _rasterize(layout.shapes, k, width_px, height_px)
    png = _png_from_alpha(alpha, dpi)
    svg = _svg(layout)
    pdf = _pdf(layout)
    c = (layout.width_mm / 2 * k, layout.height_mm / 2 * k)

    def pt(p: Point) -> Point:
        return (p[0] * k, p[1] * k)

    def rect_px(r: Rect | None) -> Rect | None:
        return None if r is None else (r[0] * k, r[1] * k, r[2] * k, r[3] * k)

    glyphs = []
    for b in layout.boxes:
        q = b.corners()
        glyphs.append(
            GlyphBox(
                char=b.char,
                role=b.role,
                center=pt(b.center),
                corners=(pt(q[0]), pt(q[1]), pt(q[2]), pt(q[3])),
                rotation_deg=math.degrees(math.atan2(b.u[0], -b.u[1])),
            )
        )
    geometry = SealGeometry(
        kind=kind,
        width_px=width_px,
        height_px=height_px,
        px_per_mm=k,
        center=c,
        ring_outer_radius=None if layout.ring is None else layout.ring[0] * k,
        ring_inner_radius=None if layout.ring is None else layout.ring[1] * k,
        star_center=c if layout.star_radius is not None else None,
        star_radius=None if layout.star_radius is None else layout.star_radius * k,
        border_outer=rect_px(layout.border_outer),
        border_inner=rect_px(layout.border_inner),
        glyphs=tuple(glyphs),
    )
    return SealImage(
        png=png,
        svg=svg,
        pdf=pdf,
        width_mm=layout.width_mm,
        height_mm=layout.height_mm,
        dpi=dpi,
        geometry=geometry,
    )


def _flatten(contour: _Contour, scale: float, tolerance: float) -> list[Point]:
    """Polyline of a contour in (sub)pixels; curve steps from the control polygon's length so
    the result depends only on the geometry, never on timing or platform."""
    pts = [(contour.start[0] * scale, contour.start[1] * scale)]
    for seg in contour.segments:
        if len(seg) == 1:
            pts.append((seg[0][0] * scale, seg[0][1] * scale))
            continue
        p0 = pts[-1]
        p1, p2, p3 = ((p[0] * scale, p[1] * scale) for p in seg)
        length = math.dist(p0, p1) + math.dist(p1, p2) + math.dist(p2, p3)
        steps = max(2, min(64, int(math.sqrt(length / tolerance)) + 1))
        for i in range(1, steps + 1):
            t = i / steps
            mt = 1 - t
            a, b, c2, d = mt * mt * mt, 3 * mt * mt * t, 3 * mt * t * t, t * t * t
            pts.append(
                (
                    a * p0[0] + b * p1[0] + c2 * p2[0] + d * p3[0],
                    a * p0[1] + b * p1[1] + c2 * p2[1] + d * p3[1],
                )
            )
    return pts


def _signed_area(pts: Sequence[Point]) -> float:
    area = 0.0
    for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1], strict=True):
        area += x1 * y2 - x2 * y1
    return area / 2


_NONZERO = [0] + [255] * 255


def _supersample(width_px: int) -> int:
    """4x4 coverage sampling, reduced for very large images to bound memory (~64 MB)."""
    return max(2, min(4, 8000 // max(width_px, 1)))


def _rasterize(shapes: Iterable[_Shape], k: float, width_px: int, height_px: int) -> Image.Image:
    """Coverage mask of the shapes: non-zero winding per shape, union across shapes.

    Pillow's polygon fill has no winding rule, so each contour is filled on its own and counted
    up (positive orientation) or down (negative); a pixel is inside where the counts differ.
    That is exactly the non-zero rule for simple contours, which font outlines are.
    """
    ss = _supersample(width_px)
    scale = k * ss
    w, h = width_px * ss, height_px * ss
    canvas = Image.new("L", (w, h), 0)
    for shape in shapes:
        polys = [[(x - 0.5, y - 0.5) for x, y in _flatten(c, scale, 0.6)] for c in shape.contours]
        polys = [p for p in polys if len(p) >= 3]
        if not polys:
            continue
        xs = [x for p in polys for x, _ in p]
        ys = [y for p in polys for _, y in p]
        x0, y0 = max(0, math.floor(min(xs)) - 1), max(0, math.floor(min(ys)) - 1)
        x1, y1 = min(w, math.ceil(max(xs)) + 2), min(h, math.ceil(max(ys)) + 2)
        if x1 <= x0 or y1 <= y0:
            continue
        size = (x1 - x0, y1 - y0)
        if len(polys) == 1:
            mask = Image.new("L", size, 0)
            ImageDraw.Draw(mask).polygon([(x - x0, y - y0) for x, y in polys[0]], fill=255)
        else:
            up = Image.new("L", size, 0)
            down = Image.new("L", size, 0)
            for poly in polys:
                target = up if _signed_area(poly) > 0 else down
                px0 = max(x0, math.floor(min(x for x, _ in poly)) - 1)
                py0 = max(y0, math.floor(min(y for _, y in poly)) - 1)
                px1 = min(x1, math.ceil(max(x for x, _ in poly)) + 2)
                py1 = min(y1, math.ceil(max(y for _, y in poly)) + 2)
                if px1 <= px0 or py1 <= py0:
                    continue
                one = Image.new("L", (px1 - px0, py1 - py0), 0)
                ImageDraw.Draw(one).polygon([(x - px0, y - py0) for x, y in poly], fill=1)
                rel = (px0 - x0, py0 - y0, px1 - x0, py1 - y0)
                target.paste(ImageChops.add(target.crop(rel), one), rel)
            mask = ImageChops.difference(up, down).point(_NONZERO)
        region = (x0, y0, x1, y1)
        canvas.paste(ImageChops.lighter(canvas.crop(region), mask), region)
    return canvas.reduce(ss) if ss > 1 else canvas


def _png_from_alpha(alpha: Image.Image, dpi: int) -> bytes:
    img = Image.new("RGBA", alpha.size, SEAL_RED + (0,))
    img.putalpha(alpha)
    return _png_bytes(img, dpi)


def _png_bytes(img: Image.Image, dpi: int) -> bytes:
    """PNG with only IHDR/pHYs/IDAT/IEND: no text or time chunks, so output is reproducible."""
    out = io.BytesIO()
    img.save(out, format="PNG", dpi=(dpi, dpi), compress_level=6)
    return out.getvalue()


def _num(v: float) -> str:
    s = f"{v:.4f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _path_ops(
    contours: Iterable[_Contour], fmt: str, tf: Callable[[Point], Point] | None = None
) -> str:
    """Serialise contours as SVG path data (``fmt="svg"``) or PDF path operators."""
    if tf is None:

        def tf(p: Point) -> Point:
            return p

    parts: list[str] = []
    for contour in contours:
        x, y = tf(contour.start)
        parts.append(f"M{_num(x)} {_num(y)}" if fmt == "svg" else f"{_num(x)} {_num(y)} m")
        for seg in contour.segments:
            coords = " ".join(f"{_num(a)} {_num(b)}" for a, b in (tf(p) for p in seg))
            if fmt == "svg":
                parts.append(("L" if len(seg) == 1 else "C") + coords)
            else:
                parts.append(coords + (" l" if len(seg) == 1 else " c"))
        parts.append("Z" if fmt == "svg" else "h")
    return ("" if fmt == "svg" else "\n").join(parts)


def _svg(layout: _Layout) -> bytes:
    red = "#{:02X}{:02X}{:02X}".format(*SEAL_RED)
    w, h = _num(layout.width_mm), _num(layout.height_mm)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w}mm" height="{h}mm" '
        f'viewBox="0 0 {w} {h}">',
        f'<g fill="{red}" fill-rule="nonzero" stroke="none">',
    ]
    for shape in layout.shapes:
        label = f' data-char="{_xml_escape(shape.label)}"' if shape.label else ""
        lines.append(f'<path class="{shape.kind}"{label} d="{_path_ops(shape.contours, "svg")}"/>')
    lines += ["</g>", "</svg>", ""]
    return "\n".join(lines).encode("utf-8")


def _xml_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


_PT_PER_MM = 72 / 25.4


def _pdf(layout: _Layout) -> bytes:
    h = layout.height_mm

    def tf(p: Point) -> Point:
        return (p[0] * _PT_PER_MM, (h - p[1]) * _PT_PER_MM)

    r, g, b = (v / 255 for v in SEAL_RED)
    ops = [f"{_num(r)} {_num(g)} {_num(b)} rg"]
    for shape in layout.shapes:
        ops.append(_path_ops(shape.contours, "pdf", tf))
        ops.append("f")
    content = "\n".join(ops).encode("ascii")
    return _pdf_document(layout.width_mm, layout.height_mm, content)


def _pdf_stream(dict_body: bytes, data: bytes) -> bytes:
    return (
        b"<< "
        + dict_body
        + b" /Length "
        + str(len(data)).encode()
        + b" >>\nstream\n"
        + data
        + b"\nendstream"
    )


def _pdf_document(
    width_mm: float,
    height_mm: float,
    content: bytes,
    resources: bytes = b"<< >>",
    extra: Sequence[bytes] = (),
) -> bytes:
    """A minimal PDF 1.4: catalog (1), pages (2), one page (3), its content (4), then ``extra``.

    Written by hand because PDF libraries stamp creation dates and random IDs, which would break
    reproducibility; ``extra`` objects are numbered from 5 in order, for ``resources`` to cite.
    """
    wpt, hpt = _num(width_mm * _PT_PER_MM), _num(height_mm * _PT_PER_MM)
    objects: list[bytes] = []
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
    objects.append(
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {wpt} {hpt}] /Contents 4 0 R ".encode()
        + b"/Resources "
        + resources
        + b" >>"
    )
    objects.append(_pdf_stream(b"/Filter /FlateDecode", zlib.compress(content, 9)))
    objects.extend(extra)

    out = bytearray(b"%PDF-1.4\n%\xe5\xb0\x81\xe5\x8d\xb0\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


# --------------------------------------------------------------------------------------------
# Uploaded scans


def image_from_scan(data: bytes, *, width_mm: float = 40.0, dpi: int = 600) -> SealImage:
    """Turn a scanned or photographed seal (PNG/JPEG) into a transparent seal image.

    The paper is removed by "colour to alpha" against white: each pixel is explained as ink of
    some opacity over white, so anti-aliased or lightly inked edges keep partial alpha and their
    true hue instead of a pink fringe. Near-white paper noise (JPEG speckle, paper tint) is cut
    to fully transparent, and the result is cropped to the ink and scaled to ``width_mm``.
    """
    width = _check_number(width_mm, 5.0, 100.0, "width_mm")
    dpi = _check_dpi(dpi)
    if not isinstance(data, bytes | bytearray | memoryview) or not data:
        raise ValidationError("no image data", field="image")
    if len(data) > MAX_SCAN_BYTES:
        raise TooLarge(f"seal image is larger than {MAX_SCAN_BYTES // 2**20} MiB", field="image")
    try:
        with Image.open(io.BytesIO(bytes(data))) as probe:  # reads the header only
            fmt = probe.format
            if fmt not in ("PNG", "JPEG"):
                raise ValidationError("seal image must be a PNG or JPEG", field="image")
            w, h = probe.size
            if max(w, h) > MAX_SCAN_SIDE_PX or w * h > MAX_SCAN_PIXELS:
                raise ValidationError(
                    f"seal image is {w}x{h} pixels; at most {MAX_SCAN_SIDE_PX}x"
                    f"{MAX_SCAN_SIDE_PX} pixels are accepted",
                    field="image",
                )
            probe.load()  # only now are the pixels decoded
            # Phone photos carry their rotation in EXIF; apply it so the seal comes out upright.
            src = ImageOps.exif_transpose(probe)
    except ValidationError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own limit, checked as it opens
        raise ValidationError(
            f"seal image has too many pixels; at most {MAX_SCAN_SIDE_PX}x{MAX_SCAN_SIDE_PX} "
            "pixels are accepted",
            field="image",
        ) from exc
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
    ) as exc:
        raise ValidationError("not a readable PNG or JPEG image", field="image") from exc
    if min(src.size) < MIN_SCAN_SIDE_PX:
        raise ValidationError(
            f"seal image is too small (at least {MIN_SCAN_SIDE_PX}x{MIN_SCAN_SIDE_PX} px)",
            field="image",
        )

    rgba = _flatten_onto_white(src)
    cleaned = _colour_to_alpha(rgba)
    solid = cleaned.getchannel("A").point([0] * 65 + [255] * 191)
    bbox = solid.getbbox()
    if bbox is None:
        raise ValidationError("no seal found: the image is blank or only background", field="image")
    if min(bbox[2] - bbox[0], bbox[3] - bbox[1]) < MIN_SCAN_CONTENT_PX:
        raise ValidationError("the seal in the image is too small to use", field="image")
    cropped = cleaned.crop(bbox)
    width_px = max(1, round(width * dpi / 25.4))
    height_px = max(1, round(width_px * cropped.height / cropped.width))
    scaled = cropped.resize((width_px, height_px), Image.Resampling.LANCZOS)
    k = width_px / width
    height = height_px / k
    png = _png_bytes(scaled, dpi)

    wm, hm = _num(width), _num(height)
    svg = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{wm}mm" height="{hm}mm" '
        f'viewBox="0 0 {wm} {hm}">\n'
        f'<image width="{wm}" height="{hm}" preserveAspectRatio="none" '
        f'href="data:image/png;base64,{base64.b64encode(png).decode("ascii")}"/>\n</svg>\n'
    ).encode()

    rgb = scaled.convert("RGB").tobytes()
    alpha = scaled.getchannel("A").tobytes()
    img_dict = (
        f"/Type /XObject /Subtype /Image /Width {width_px} /Height {height_px} "
        f"/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /FlateDecode "
        f"/SMask 6 0 R"
    ).encode()
    mask_dict = (
        f"/Type /XObject /Subtype /Image /Width {width_px} /Height {height_px} "
        f"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode"
    ).encode()
    content = f"q {_num(width * _PT_PER_MM)} 0 0 {_num(height * _PT_PER_MM)} 0 0 cm /Im1 Do Q"
    pdf = _pdf_document(
        width,
        height,
        content.encode("ascii"),
        resources=b"<< /XObject << /Im1 5 0 R >> >>",
        extra=(
            _pdf_stream(img_dict, zlib.compress(rgb, 6)),
            _pdf_stream(mask_dict, zlib.compress(alpha, 6)),
        ),
    )
    geometry = SealGeometry(
        kind="scan",
        width_px=width_px,
        height_px=height_px,
        px_per_mm=k,
        center=(width_px / 2, height_px / 2),
    )
    return SealImage(
        png=png, svg=svg, pdf=pdf, width_mm=width, height_mm=height, dpi=dpi, geometry=geometry
    )


def _flatten_onto_white(src: Image.Image) -> Image.Image:
    """Composite any existing transparency onto white so one rule handles every input mode."""
    rgba = src.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


# Opacity ramp on "distance from white" (255 - darkest channel): paper tints below LOW vanish,
# anything past HIGH is solid ink -- a scanned stamp is never fully saturated.
_SCAN_LOW, _SCAN_HIGH = 28, 190
_SCAN_RAMP = [
    0
    if v <= _SCAN_LOW
    else 255
    if v >= _SCAN_HIGH
    else round(255 * (v - _SCAN_LOW) / (_SCAN_HIGH - _SCAN_LOW))
    for v in range(256)
]


def _colour_to_alpha(rgb: Image.Image) -> Image.Image:
    r, g, b = rgb.split()
    darkest = ImageChops.darker(ImageChops.darker(r, g), b)
    mix = ImageChops.invert(darkest)  # how far from white, 0..255: the ink's mixing opacity
    alpha = mix.point(_SCAN_RAMP)
    channels = []
    for band in (r, g, b):
        # Un-mix from white: band = ink * a + 255 * (1 - a)  =>  ink = 255 - (255 - band) / a
        ink = ImageMath.lambda_eval(
            lambda e: e["convert"](255 - (255 - e["band"]) * 255 / e["max"](e["mix"], 1), "L"),
            band=band.convert("F"),
            mix=mix.convert("F"),
        )
        channels.append(ink)
    return Image.merge("RGBA", (*channels, alpha))
