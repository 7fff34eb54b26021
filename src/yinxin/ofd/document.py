"""The first document of an OFD: its pages, their sizes, their text (to find an anchor) — read
only as far as placing a seal and drawing a preview need.

Coordinates are GB/T 33190's: millimetres, origin at the page's top left, y downwards. A
``TextObject`` has a ``Boundary`` (its box on the page) and ``TextCode`` runs whose ``X``/``Y``
(baseline start, inside the box) and ``DeltaX`` (advances, with the ``g n v`` shorthand for n
equal advances) place each character; where ``DeltaX`` is missing a character advances by the
font size (CJK) or half of it (ASCII), which is what readers assume for the common fonts.

A page may draw on template pages (``CommonData/TemplatePage``, named by the page's
``ofd:Template``): letterheads, footers, signature lines. Their content is the page's too, in
the page's coordinates, below the page's own (``ZOrder`` ``Background``, the default) or above
it (``Foreground``); a template named but not declared, or declared without its file, is
passed over, as a reader does. Each file is drawn once: a template named twice, or one that is
the page's own file (a cycle back to the page), adds no layer.
"""

from __future__ import annotations

import math
import posixpath
from dataclasses import dataclass

from yinxin.errors import ValidationError, quoted
from yinxin.ofd.package import OfdPackage, bad, loc, parse_xml, q

A4 = (210.0, 297.0)
# No page holds more characters (A4 has room for 62,000 of 1 mm); a hostile one may hold
# millions, each a few Python objects once placed
MAX_PART_CHARS = 200_000
# No coordinate, length or size of a page is beyond 100 m: a hostile file's "nan", "inf" or
# 1e300 would otherwise reach a stamp's box, a font size or an image's pixels.
MAX_MM = 100_000.0


# What a number or a box is, as a refusal names it: one label for both halves ("CTM"), or its
# Chinese and English labels apart where it names a part (``in_part``).
What = str | tuple[str, str]


def in_part(part: str, label: str) -> tuple[str, str]:
    """``label`` of the package's ``part`` for ``number`` and ``Box.parse``: the part's name
    ``quoted`` in the Chinese half (a package made by hand may name one "a / b"), the English
    half as it always read."""
    return f"{quoted(part)} {label}", f"{part} {label}"


def number(text: str | None, what: What, default: float | None = None) -> float:
    """A finite number of millimetres within ±``MAX_MM``; refused naming ``what`` — or, given
    a ``default`` (a reader's value for an attribute it cannot use), that default."""
    zh, en = (what, what) if isinstance(what, str) else what
    try:
        v = float(text or "")
    except ValueError:
        if default is not None:
            return default
        raise bad(f"{zh} 不是数字（{text!r}）", f"{en} is not a number ({text!r})") from None
    if not math.isfinite(v) or abs(v) > MAX_MM:
        if default is not None:
            return default
        raise bad(f"{zh} 超出范围（{text!r}）", f"{en} is out of range ({text!r})")
    return v


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float

    @classmethod
    def parse(cls, text: str | None, what: What) -> Box:
        zh, en = (what, what) if isinstance(what, str) else what
        parts = (text or "").split()
        if len(parts) != 4:
            raise bad(
                f"{zh} 不是“x y w h”形式的矩形（{text!r}）",
                f"{en} is not a box 'x y w h' ({text!r})",
            )
        x, y, w, h = (number(v, what) for v in parts)
        return cls(x, y, w, h)

    def __str__(self) -> str:
        return " ".join(_num(v) for v in (self.x, self.y, self.w, self.h))


def _num(v: float) -> str:
    return f"{v:.3f}".rstrip("0").rstrip(".") or "0"


@dataclass(frozen=True)
class TextRun:
    """One ``TextCode``: its characters and where each one is on the page (mm)."""

    text: str
    xs: tuple[float, ...]  # baseline x of each character
    y: float  # baseline
    size: float
    font_id: str | None
    color: tuple[int, int, int]


@dataclass(frozen=True)
class Page:
    index: int  # 0-based, in document order
    id: str  # the Page ID that StampAnnot/@PageRef names
    content: str  # package name of its Content.xml
    width: float
    height: float
    # package names of its content and its templates' in drawing order (empty: its own only)
    layers: tuple[str, ...] = ()

    @property
    def drawn(self) -> tuple[str, ...]:
        return self.layers or (self.content,)


@dataclass(frozen=True)
class Document:
    path: str  # Document.xml
    pages: tuple[Page, ...]
    public_res: tuple[str, ...]
    document_res: tuple[str, ...]
    max_unit_id: int


def _physical_box(area, default: tuple[float, float], part: str) -> tuple[float, float]:
    """Width and height of a ``CT_PageArea`` element's ``PhysicalBox``, else ``default``.

    GB/T 33190 names that element ``PageArea`` in ``CommonData`` (the document's default) and
    ``Area`` in a page (§7.7, ``ofd:Page/ofd:Area/ofd:PhysicalBox``); the caller finds it."""
    text = area.findtext(q("PhysicalBox")) if area is not None else None
    if not text:
        return default
    b = Box.parse(text, in_part(part, "PhysicalBox"))
    return (b.w, b.h)


# A template's ZOrder, as a Layer's Type (GB/T 33190 Table 15); anything else is the default
_Z_ORDER = {"Background": 0, "Body": 1, "Foreground": 2}


def read_document(pkg: OfdPackage) -> Document:
    doc_xml = parse_xml(pkg.get(pkg.doc_root), pkg.doc_root)
    if doc_xml.tag != q("Document"):
        raise bad(
            f"{quoted(pkg.doc_root)} 不是 ofd:Document 文档",
            f"{pkg.doc_root} is not an ofd:Document",
        )
    base = posixpath.dirname(pkg.doc_root)
    common = doc_xml.find(q("CommonData"))
    page_area = common.find(q("PageArea")) if common is not None else None
    default = _physical_box(page_area, A4, pkg.doc_root)
    declared = [] if common is None else common.findall(q("TemplatePage"))
    templates = {t.get("ID", "").strip(): t.get("BaseLoc", "") for t in declared}
    template_orders = {t.get("ID", "").strip(): t.get("ZOrder") for t in declared}
    template_sizes: dict[str, tuple[float, float] | None] = {}
    template_parts: dict[str, str | None] = {}

    def template_part(template_id: str) -> str | None:
        """The content file of a template page, well-formed; None if it is not declared or
        its file is not there (a reader passes over it). Its ``BaseLoc`` and its XML are
        refused as a page's would be."""
        if template_id not in template_parts:
            part = None
            if templates.get(template_id):
                part = loc(base, templates[template_id], pkg.doc_root, "TemplatePage BaseLoc")
                if part in pkg.parts:
                    parse_xml(pkg.parts[part], part)
                else:
                    part = None
            template_parts[template_id] = part
        return template_parts[template_id]

    def template_size(template_id: str) -> tuple[float, float] | None:
        """The size a template page's own ``Area`` gives, or None (no such template, no
        file, no ``Area``): a reader then goes on to the next template or the default."""
        if template_id not in template_sizes:
            size = None
            if templates.get(template_id):
                part = loc(base, templates[template_id], pkg.doc_root, "TemplatePage BaseLoc")
                if part in pkg.parts:
                    area = parse_xml(pkg.parts[part], part).find(q("Area"))
                    if area is not None and area.findtext(q("PhysicalBox")):
                        size = _physical_box(area, default, part)
            template_sizes[template_id] = size
        return template_sizes[template_id]

    def page_facts(content: str) -> tuple[float, float, tuple[str, ...]]:
        """Width, height and drawn files of a page whose content is ``content``."""
        page_xml = parse_xml(pkg.get(content), content)
        # its own Area, else its templates' (§7.7), else the document's default
        page_default = next(
            (
                size
                for t in page_xml.findall(q("Template"))
                if (size := template_size(t.get("TemplateID", "").strip())) is not None
            ),
            default,
        )
        width, height = _physical_box(page_xml.find(q("Area")), page_default, content)
        # (order, content): templates in the order the page names them, then the page itself,
        # sorted stably by ZOrder, as ofdrw's PageInfo#getOrderRelatedPageList
        layers: list[tuple[int, str]] = []
        # the page itself is no template of itself: a template whose BaseLoc is the page's
        # own file (a cycle back to it) is drawn once, as the page, not under or over it too
        named: set[str] = {content}
        for t in page_xml.findall(q("Template")):
            tid = t.get("TemplateID", "").strip()
            part = template_part(tid)
            if part is None or part in named:
                continue  # named again, or the page itself: drawn once
            named.add(part)
            order = (t.get("ZOrder") or template_orders.get(tid) or "").strip()
            layers.append((_Z_ORDER.get(order, 0), part))
        layers.append((_Z_ORDER["Body"], content))
        layers.sort(key=lambda layer: layer[0])
        return width, height, tuple(part for _, part in layers)

    pages_el = doc_xml.find(q("Pages"))
    pages: list[Page] = []
    # a content file's facts, read once however many pages name it (a hostile Document.xml
    # may name one large file for a million pages)
    facts: dict[str, tuple[float, float, tuple[str, ...]]] = {}
    for i, page_el in enumerate([] if pages_el is None else pages_el.findall(q("Page"))):
        content = loc(base, page_el.get("BaseLoc", ""), pkg.doc_root, "Page BaseLoc")
        if content not in facts:
            facts[content] = page_facts(content)
        width, height, drawn = facts[content]
        pages.append(Page(i, page_el.get("ID", ""), content, width, height, drawn))
    if not pages:
        raise bad(f"{quoted(pkg.doc_root)} 没有页面", f"{pkg.doc_root} has no pages")

    def res(tag: str) -> tuple[str, ...]:
        if common is None:
            return ()
        return tuple(
            loc(base, e.text or "", pkg.doc_root, tag) for e in common.findall(q(tag)) if e.text
        )

    try:
        max_unit = int(common.findtext(q("MaxUnitID")) or 0) if common is not None else 0
    except ValueError:
        max_unit = 0
    return Document(pkg.doc_root, tuple(pages), res("PublicRes"), res("DocumentRes"), max_unit)


def page_at(pages: tuple[Page, ...], number: int) -> Page:
    """Page ``number`` of ``pages`` (1 = first, -1 = last), refused naming ``page`` in both
    halves — one wording for placing a seal and for drawing a page."""
    if isinstance(number, bool) or not isinstance(number, int) or number == 0:
        raise bad(
            "页码须为页号（1 为第一页，-1 为最后一页）",
            "page must be a page number (1 = first, -1 = last)",
            field="page",
        )
    index = number - 1 if number > 0 else len(pages) + number
    if not 0 <= index < len(pages):
        raise bad(
            f"文档中没有第 {number} 页（共 {len(pages)} 页）",
            f"page {number} is not in the document ({len(pages)} pages)",
            field="page",
        )
    return pages[index]


def _deltas(text: str | None, n: int, size: float, chars: str, part: str) -> list[float]:
    """The advances after each character: ``DeltaX`` expanded, or the size-based default.
    Only the ``n - 1`` advances the run uses are expanded: a ``g`` count of a billion costs
    nothing."""
    out: list[float] = []
    need = max(n - 1, 0)
    if text:
        tokens = text.split()
        i = 0
        while i < len(tokens) and len(out) < need:
            if tokens[i] == "g" and i + 2 < len(tokens):
                try:
                    count = int(tokens[i + 1])
                except ValueError:
                    raise bad(
                        f"{quoted(part)} DeltaX 的重复次数无效（{tokens[i + 1]!r}）",
                        f"{part} DeltaX has a repeat count {tokens[i + 1]!r}",
                    ) from None
                if count < 0:
                    raise bad(
                        f"{quoted(part)} DeltaX 的重复次数为负数（{count}）",
                        f"{part} DeltaX repeats a negative count ({count})",
                    )
                out += [number(tokens[i + 2], in_part(part, "DeltaX"))] * min(
                    count, need - len(out)
                )
                i += 3
            else:
                out.append(number(tokens[i], in_part(part, "DeltaX")))
                i += 1
    for i in range(len(out), n - 1):
        out.append(size if not chars[i].isascii() else size / 2)
    return out[: max(n - 1, 0)]


def _color(el) -> tuple[int, int, int]:
    fill = el.find(q("FillColor"))
    if fill is None or not fill.get("Value"):
        return (0, 0, 0)
    try:
        r, g, b = (int(float(v)) for v in fill.get("Value").split()[:3])
        return (r, g, b)
    except (ValueError, OverflowError):  # not three numbers, or one infinite: black
        return (0, 0, 0)


def part_runs(pkg: OfdPackage, page: Page, part: str, root=None) -> list[TextRun]:
    """The ``TextCode`` runs of one content file of ``page`` (its own, or a template's).

    A text object the page's own content cannot place is refused; one of a template's is
    passed over, as a template no reader can use is. ``root``: the file, already parsed."""
    if root is None:
        root = parse_xml(pkg.get(part), part)
    runs: list[TextRun] = []
    count = 0
    for obj in root.iter(q("TextObject")):
        got = object_runs(page, part, obj)
        count += sum(len(r.text) for r in got)
        if count > MAX_PART_CHARS:
            raise bad(
                f"{quoted(part)} 中的文字超过 {MAX_PART_CHARS} 个字符（一页容纳不下）",
                f"{part} has more than {MAX_PART_CHARS} characters of text (no page holds "
                "that many)",
            )
        runs += got
    return runs


def object_runs(page: Page, part: str, obj) -> list[TextRun]:
    """The runs of one ``TextObject`` of ``part``: refused if the page's own content cannot
    place it, none if a template's cannot (see ``part_runs``)."""
    try:
        return _object_runs(obj, part)
    except ValidationError:
        if part == page.content:
            raise
        return []


def _object_runs(obj, part: str) -> list[TextRun]:
    """The runs of one ``TextObject`` of ``part``, in page coordinates."""
    runs: list[TextRun] = []
    box = Box.parse(obj.get("Boundary"), in_part(part, "TextObject Boundary"))
    size = number(obj.get("Size"), "TextObject Size", default=3.5)
    scale, dx0, dy0 = 1.0, 0.0, 0.0
    if obj.get("CTM"):
        try:
            a, _b, _c, d, e, f = (number(v, "CTM") for v in obj.get("CTM").split())
            scale, dx0, dy0 = (abs(a) + abs(d)) / 2 or 1.0, e, f
        except (ValueError, ValidationError):  # not six numbers: drawn as if absent
            pass
    color = _color(obj)
    x_prev = y_prev = 0.0
    for code in obj.findall(q("TextCode")):
        chars = code.text or ""
        if not chars:
            continue
        x = number(code.get("X"), in_part(part, "TextCode X")) if code.get("X") else x_prev
        y = number(code.get("Y"), in_part(part, "TextCode Y")) if code.get("Y") else y_prev
        adv = _deltas(code.get("DeltaX"), len(chars), size, chars, part)
        xs = [x]
        for a in adv:
            xs.append(xs[-1] + a)
        xs = xs[: len(chars)]
        page_xs = tuple(box.x + dx0 + v * scale for v in xs)
        runs.append(
            TextRun(
                chars,
                page_xs,
                box.y + dy0 + y * scale,
                size * scale,
                obj.get("Font"),
                color,
            )
        )
        last = adv[-1] if adv else size
        x_prev, y_prev = xs[-1] + last, y
    return runs


def find_anchor(
    pkg: OfdPackage, doc: Document, anchor: str, pages: tuple[Page, ...] | None = None
) -> tuple[Page, Box]:
    """The last place ``anchor`` is written (in ``pages``, default all), as a box (mm) on its
    page; refused if absent. The last, as ``yinxin sign pdf`` takes it: a contract's signature
    block ("甲方（签章）") follows every mention of the party in its text.

    Text split over several ``TextCode`` runs of one line is found too: the runs of a page are
    joined in order before searching, as a reader would show them. A page's templates are
    searched as its content (each on its own, nothing found across two of them): the last
    place is in the one drawn last — a ``Foreground`` template, the page, a ``Background`` one.
    """
    if not anchor or not anchor.strip():
        raise bad("定位文字为空", "the anchor text is empty", field="anchor")
    # a template's text, read once however many pages draw on it; only the text is kept, the
    # places of its characters read again for the file the anchor is found in
    read: dict[tuple[str, bool], str] = {}
    for page in reversed(pages if pages is not None else doc.pages):
        for part in reversed(page.drawn):
            key = (part, part == page.content)
            if key not in read:
                read[key] = "".join(r.text for r in part_runs(pkg, page, part))
            at = read[key].rfind(anchor)
            if at >= 0:
                chars = [  # (char, x, baseline, size)
                    (c, x, r.y, r.size)
                    for r in part_runs(pkg, page, part)
                    for c, x in zip(r.text, r.xs, strict=True)
                ]
                return page, _anchor_box(chars[at : at + len(anchor)])
    raise bad(
        f"文档中找不到定位文字 {anchor!r}",
        f"the anchor text {anchor!r} is not in the document",
        field="anchor",
    )


def _anchor_box(hit: list[tuple[str, float, float, float]]) -> Box:
    x0 = hit[0][1]
    last = hit[-1]
    x1 = last[1] + (last[3] if not last[0].isascii() else last[3] / 2)
    size = max(c[3] for c in hit)
    top = min(c[2] for c in hit) - size * 0.88
    return Box(x0, top, x1 - x0, size * 1.1)
