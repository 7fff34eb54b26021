"""A filled template as an A4 PDF in Chinese: the contract the parties sign.

Why it is drawn this way:

* **Fonts**: the platform's one CJK machinery (``yinxin.pdf.report``: pyHanko's
  ``GlyphAccumulator`` embeds a subset of Noto CJK with a ToUnicode map), the same as the
  verification and evidence reports — every font is embedded (``pdffonts``) and the text comes
  back out of the file (``pdftotext``), which is also what lets the sign flow find the anchors.
* **Typography**: paragraphs indented by two characters; lines broken by measured width
  anywhere between Chinese characters but never inside a run of Latin letters or digits (an
  amount like ``¥1,305,000.00`` stays whole); closing punctuation never starts a line (it
  hangs at the end of the previous one) and opening brackets never end one (避头尾).
* **Amounts** are written in figures and in capitals (``yinxin.contracts.money``), with the
  tax line when the template says the price includes tax; a payment schedule is one line per
  instalment with its share and amount; an optional blank left empty shows “/”, as the seeds'
  instructions ask (“在该条款填写的空白处划（/）表示”).
* **Signature blocks**: one per party, two to a row, never split over a page; each holds the
  party's anchor text ``<role>（签章）`` — which appears nowhere else (the template loader and
  ``Template.fill`` refuse it elsewhere) — with room around it for a 40 mm seal centred on the
  anchor's end, where ``yinxin.pdf.sign`` puts it.
* **Page numbers** ``第 N 页 共 M 页`` and the contract number on every page, so a printed page
  is traced to its contract — appendix pages included.
* **Appendices** (附件, ``Template.appendices``) follow the signature blocks, each from a new
  page: ``附件 N`` and its title, then fixed text, a blank's text, a numbered list or a price
  table (含税价 per line with its 不含税价 from ``money.without_tax``, so net + tax = gross on
  every line, and the total in figures and capitals), closed by each party's seal block
  ``<role>（盖章）`` and its date — the seeds' own layout. The main anchors stay unique, so the
  default placement still seals the main blocks.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from io import BytesIO
from typing import Any

from yinxin.contracts.money import rate_text
from yinxin.contracts.templates import (
    _PLACEHOLDER,
    ROW_TEXT_KEYS,
    Appendix,
    Blank,
    Party,
    Template,
)
from yinxin.errors import ValidationError

A4 = (595.28, 841.89)
LEFT, RIGHT, TOP, BOTTOM = 72.0, 64.0, 72.0, 72.0
BODY, LEADING = 10.5, 10.5 * 1.75
HEAD = 11.5
TITLE = 18.0
ROW_H = 190.0  # one row of signature blocks: name, representative, the seal's room, date
APPENDIX_ROW_H = 150.0  # an appendix's seal blocks: anchor, the seal's room, date
APPENDIX_ANCHOR_DROP = 62.0
TABLE = 8.5  # price table text size
ANCHOR_DROP = 100.0  # from the top of a block to the anchor line (the seal's centre)
GREY = (0.4, 0.4, 0.4)
EMPTY = "/"
END_OF_TEXT = "（以下无正文）"

NO_START = set("，。、；：？！）》」』】〕〉…—％%,.;:!?)]}”’·")
NO_END = set("（《「『【〔〈([{“‘")
_LATIN = re.compile(r"[A-Za-z0-9¥￥$.,:/%+\-_@#&=]+")


def _squash_text(text: str) -> str:
    return "".join(text.split())


# --- values as the contract prints them ---------------------------------------------------------
def _dec(d: Decimal) -> str:
    """75 → "75", 7.50 → "7.5", 100 → "100" (never "1E+2")."""
    s = f"{d.normalize():f}"
    return s


def amount_text(value: str, tax_rate: str | None = None) -> str:
    """¥1,740,000.00（大写：人民币壹佰柒拾肆万元整）, with the tax line when the price includes
    tax: net = gross ÷ (1 + rate) rounded half up to the 分, tax = gross − net."""
    from yinxin.contracts.money import capitals, format_amount, without_tax

    out = f"{format_amount(value)}（大写：人民币{capitals(value)}"
    if tax_rate is not None:
        line = without_tax(value, Decimal(tax_rate))
        out += (
            f"；含税价，税率{rate_text(tax_rate)}，不含税价{format_amount(line.net)}，"
            f"税额{format_amount(line.tax)}，不含税价按四舍五入计至分"
        )
    return out + "）"


def date_text(value: str) -> str:
    d = dt.date.fromisoformat(value)
    return f"{d.year}年{d.month}月{d.day}日"


def schedule_lines(rows: list[dict]) -> list[str]:
    return [
        f"第{i}期：{r['milestone']}，支付合同总价款的{_dec(Decimal(r['percent']))}%，"
        f"即{amount_text(r['amount'])}。"
        for i, r in enumerate(rows, 1)
    ]


def display(t: Template, b: Blank, values: dict[str, Any]) -> str:
    """One blank's value as text in the contract ("/" when an optional blank is empty)."""
    v = values.get(b.name)
    if v is None:
        return EMPTY
    if b.type == "amount":
        return amount_text(v, values.get(b.tax_rate) if b.tax_rate else None)
    if b.type == "date":
        return date_text(v)
    if b.type == "percent":
        return f"{_dec(Decimal(v))}%"
    if b.type == "rate":
        return rate_text(v)
    if b.type == "schedule":
        return "；".join(schedule_lines(v))
    if b.type == "pdf":
        return f"PDF 文件，共 {v['pages']} 页（见附件）"
    if b.type == "price_lines":
        return "；".join(
            f"{r.get('item') or ''}{r['service']} {r['quantity']}{r['unit']} 含税"
            f"{amount_text(r['amount'])}"
            for r in v
        )
    return str(v)


def fill_text(t: Template, line: str, values: dict[str, Any]) -> str:
    return _PLACEHOLDER.sub(lambda m: display(t, t.blank(m[1]), values), line)


_NUMBERED = re.compile(r"^\s*(?:\d{1,3}\s*[.、．)）]|[（(]\d{1,3}[)）])\s*")


def appendix_lines(a: Appendix, values: dict[str, Any]) -> list[str] | None:
    """What an appendix prints, one paragraph a line (``None``: an optional appendix whose blank
    is empty is not drawn). A ``list`` is numbered here — a number typed before an item
    (``1.``, ``2、``, ``（3）``) is replaced, not doubled; a ``price_table`` is drawn by
    ``price_rows`` instead and returns no lines."""
    if a.kind == "text":
        return [ln.strip() for ln in a.text.strip().splitlines() if ln.strip()]
    v = values.get(a.blank or "")
    if v is None or v == "" or v == []:
        return None if a.optional else [EMPTY]
    if a.kind == "price_table":
        return []
    lines = [ln.strip() for ln in str(v).splitlines() if ln.strip()]
    if a.kind == "list":
        return [f"{i}. {_NUMBERED.sub('', ln)}" for i, ln in enumerate(lines, 1)]
    return lines


PRICE_HEAD = (
    "项目名称",
    "服务类型",
    "数量",
    "单位",
    "不含税价（元）",
    "税率",
    "含税价（元）",
    "备注",
)
PRICE_COLS = (86.0, 74.0, 28.0, 28.0, 64.0, 32.0, 64.0)  # the last column takes the rest


def price_rows(rows: list[dict], rate: str) -> list[tuple[str, ...]]:
    """The 费用明细表's rows as printed: each line's 含税价 split with ``money.without_tax``
    (net rounded half up to the 分, tax = gross − net: net + tax = gross exactly, as the seed's
    53 400 = 50 377.36 + 3 022.64)."""
    from yinxin.contracts.money import format_amount, without_tax

    out = []
    for r in rows:
        line = without_tax(r["amount"], Decimal(rate))
        out.append(
            (
                r.get("item") or "",
                r["service"],
                str(r.get("quantity", 1)),
                r.get("unit") or "项",
                format_amount(line.net).lstrip("¥"),
                rate_text(rate),
                format_amount(line.gross).lstrip("¥"),
                r.get("note") or "",
            )
        )
    return out


# --- fonts ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _plain_face(path: str) -> bytes:
    """The report's CJK face without its OpenType layout tables (GSUB, GPOS, GDEF, BASE).

    Horizontal Chinese needs none of them, and pyHanko's subsetter drops them anyway — but
    only after fontTools has decompiled them, which is two thirds of the time a contract
    takes to render (≈2 s of ≈3 s per face). Without them HarfBuzz shapes one glyph per
    character, which also keeps Latin text free of ligatures (``fi`` stays two letters for
    ``pdftotext``). Cached per face: a server renders many contracts."""
    from fontTools.ttLib import TTFont

    from yinxin.pdf.report import _face_bytes

    font = TTFont(BytesIO(_face_bytes(path)), lazy=True)
    for tag in ("GSUB", "GPOS", "GDEF", "BASE"):
        if tag in font:
            del font[tag]
    out = BytesIO()
    font.save(out, reorderTables=False)
    return out.getvalue()


@functools.lru_cache(maxsize=1)
def _coverage() -> frozenset[int]:
    """The code points both faces can draw (a character outside them has no glyph: the PDF
    would show a box and ``pdftotext`` would not give it back)."""
    from yinxin.pdf.report import _coverage, _find_font

    return _coverage(_find_font(False)) & _coverage(_find_font(True))  # the plain faces' cmap


def check_printable(template: Template, values: dict[str, Any], title: str | None) -> None:
    """Refuse, naming the blank, a value with a character the contract's font cannot draw
    (an emoji, a rare character outside the font, a non-character): a signed contract must
    say exactly what was typed."""
    covered = _coverage()

    def check(text: str, where: str, said: str) -> None:
        # ``said``: the blank's label (and row) first, as every refusal of ``fill`` begins
        for ch in text:
            if ch != "\n" and ord(ch) not in covered:
                raise ValidationError(
                    f"{said}字符“{ch}”（U+{ord(ch):04X}）无法在合同中排版 / the contract font "
                    "has no glyph for this character",
                    field=where,
                )

    if title:
        check(title, "title", "标题：")
    for b in template.blanks:
        v = values.get(b.name)
        if isinstance(v, str):
            check(v, f"values.{b.name}", f"{b.label}：")
        elif isinstance(v, list):
            for i, row in enumerate(v, 1):
                for key in ROW_TEXT_KEYS:
                    if key in row:
                        at, said = f"values.{b.name}[{i}].{key}", f"{b.label}：第 {i} 行"
                        check(str(row[key] or ""), at, said)


def _fonts(writer: Any) -> Any:
    """The report machinery's two faces (``yinxin.pdf.report._Fonts``), plain."""
    from yinxin.pdf.report import _Fonts

    return _Fonts(writer, face=_plain_face)


# --- layout ------------------------------------------------------------------------------------
def _tokens(text: str) -> list[str]:
    """Runs of Latin letters, digits and their punctuation stay whole; anything else is one
    character (a Chinese line may break between any two of them)."""
    out: list[str] = []
    pos = 0
    for m in _LATIN.finditer(text):
        out.extend(text[pos : m.start()])
        out.append(m[0])
        pos = m.end()
    out.extend(text[pos:])
    return out


def wrap(fonts: Any, text: str, size: float, width: float, indent: float = 0.0) -> list[str]:
    """Lines of at most ``width`` points (the first ``indent`` narrower), with 避头尾: a
    closing mark hangs at the end of a full line rather than start the next, an opening one
    moves down with what it opens."""
    lines: list[str] = []
    line, used, avail = "", 0.0, width - indent
    for tok in _tokens(text):
        w = fonts.width(tok, "R", size)
        if line and used + w > avail and tok[0] not in NO_START:
            carry = ""
            if line[-1] in NO_END and len(line) > 1:
                carry, line = line[-1], line[:-1]
            lines.append(line.rstrip())
            line, avail = carry, width
            used = fonts.width(carry, "R", size) if carry else 0.0
            if tok == " " and not line:
                continue
        if not line and w > avail:  # a Latin run longer than a line: break it by character
            for ch in tok:
                cw = fonts.width(ch, "R", size)
                if line and used + cw > avail:
                    lines.append(line)
                    line, used, avail = "", 0.0, width
                line += ch
                used += cw
            continue
        line += tok
        used += w
    lines.append(line.rstrip())
    return lines


def _justified(cv: Any, fonts: Any, x: float, y: float, text: str, target: float | None) -> None:
    """One body line; a full line is set flush to both margins (两端对齐) by spacing its
    characters evenly (the PDF's character spacing, ``Tc``) — the last line of a paragraph,
    and a line that would need more than a quarter of a character between each, stay as
    they are."""
    if not text:
        return
    spacing = 0.0
    if target is not None and len(text) > 1:
        extra = (target - fonts.width(text, "R", BODY)) / (len(text) - 1)
        if 0 < extra <= BODY / 4:
            spacing = extra
    shaped = fonts.engines["R"].shape(text).graphics_ops
    cv.ops.append(
        b"q 0 0 0 rg 0 0 0 RG BT /FR %.2f Tf %.3f Tc %.2f %.2f Td " % (BODY, spacing, x, y)
        + shaped
        + b" ET Q"
    )


class _Pages:
    """Pages as lists of drawing operators, a cursor, and a new page when one is full."""

    def __init__(self, fonts: Any):
        from yinxin.pdf.report import _Canvas

        self.fonts, self._canvas = fonts, _Canvas
        self.pages: list[list[bytes]] = []
        self.xobjects: dict[int, dict[str, Any]] = {}  # page index → form XObjects it draws
        self.c = None
        self.y = 0.0
        self.new()

    def new(self) -> None:
        self.c = self._canvas(self.fonts, [])
        self.pages.append(self.c.ops)
        self.y = A4[1] - TOP

    def need(self, h: float) -> Any:
        if self.y - h < BOTTOM:
            self.new()
        return self.c


def render_contract(
    template: Template,
    values: dict[str, Any],
    *,
    number: str,
    title: str | None = None,
    attachments: Mapping[str, bytes] | None = None,
) -> bytes:
    """The contract as PDF bytes: ``values`` as ``Template.fill`` returned them;
    ``attachments`` the bytes of each attached PDF by SHA-256 (a ``pdf`` blank's value)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

    check_printable(template, values, title)
    heading_title = title or template.title
    w = PdfFileWriter()
    w.document_meta.title = f"{heading_title}（{number}）"
    w.document_meta.creator = "Yinxin 印信"
    w.document_meta.subject = f"{template.code} v{template.version}"
    fonts = _fonts(w)
    pg = _Pages(fonts)
    width = A4[0] - LEFT - RIGHT

    # title and number
    c = pg.c
    for ln in wrap(fonts, heading_title, TITLE, width):
        tw = fonts.width(ln, "B", TITLE)
        pg.y -= TITLE * 1.3
        c.text(LEFT + (width - tw) / 2, pg.y, ln, size=TITLE, face="B")
    no = f"合同编号：{number}"
    pg.y -= 20
    c.text(LEFT + width - fonts.width(no, "R", 9), pg.y, no, size=9, color=GREY)
    pg.y -= 10

    def paragraph(text: str, indent: float, *, hanging: float = 0.0) -> None:
        lines = wrap(fonts, text, BODY, width - hanging, indent)
        # no orphan and no widow: a paragraph broken over a page keeps two lines on each side
        room = int((pg.y - BOTTOM) // LEADING)
        split = None  # the line that starts the next page
        if len(lines) > room:
            if room < 2 or len(lines) < 4:
                pg.new()  # the whole paragraph goes over
            else:
                split = room - 1 if len(lines) - room < 2 else room
        for i, ln in enumerate(lines):
            if i == split:
                pg.new()
            cv = pg.need(LEADING)
            pg.y -= LEADING
            x = LEFT + (indent if i == 0 else hanging)
            last = i == len(lines) - 1
            _justified(cv, fonts, x, pg.y, ln, LEFT + width - x if not last else None)

    def markup(raw: str) -> None:
        """One line of clause text: ``## `` a heading, ``| `` no indent, ``- `` an item, a
        ``{{schedule}}`` alone one paragraph per instalment, else an indented paragraph."""
        line = raw.strip()
        if not line:
            return
        if line.startswith("## "):
            text = " ".join(fill_text(template, line[3:].strip(), values).split())
            cv = pg.need(HEAD * 2 + LEADING * 2)  # a heading never ends a page alone
            pg.y -= HEAD * 1.9
            cv.text(LEFT, pg.y, text, size=HEAD, face="B")
            pg.y -= HEAD * 0.3
            return
        whole = _PLACEHOLDER.fullmatch(line)
        if whole and template.blank(whole[1]).type == "schedule":
            rows = values.get(whole[1]) or []
            for ln in schedule_lines(rows) if rows else [EMPTY]:
                paragraph(ln, 2 * BODY)
            return
        # a longtext value holds line breaks (no glyph in the font): each of its lines is a
        # paragraph of its own, set as the line of clause text that holds it
        if line.startswith("| "):
            text, indent, hanging = fill_text(template, line[2:].strip(), values), 0.0, 0.0
        elif line.startswith("- "):
            text, indent = fill_text(template, line[2:].strip(), values), 2 * BODY
            hanging = 2 * BODY
        else:
            text, indent, hanging = fill_text(template, line, values), 2 * BODY, 0.0
        for part in text.split("\n"):
            if part.strip():
                paragraph(part.strip(), indent, hanging=hanging)

    for raw in template.text.strip().splitlines():
        markup(raw)

    # signature blocks, two to a row. The text ends with “（以下无正文）”, and a page that holds
    # only signature blocks says whose signature page it is: a signature page cannot be moved
    # under another contract's text unnoticed (it also carries the number in its footer).
    if _squash_text(template.text.strip().splitlines()[-1]) != "（以下无正文）":
        paragraph(END_OF_TEXT, 0.0)
    pg.y -= 14
    col = width / 2
    parties = list(template.parties)

    def party_rows(
        row_h: float, note: str, draw: Callable[[Any, float, float, Party], None], *, rule: bool
    ) -> None:
        """The parties' blocks two to a row, ``row_h`` high; a row that begins a page says
        whose signature page it is (``note``), and with ``rule`` a line runs above the first
        row and above each page's first row. ``draw(cv, x, top, party)`` fills one block."""
        for k in range(0, len(parties), 2):
            page_before = len(pg.pages)
            cv = pg.need(row_h)
            fresh = len(pg.pages) != page_before
            if fresh:  # the blocks begin a page of their own
                for ln in wrap(fonts, note, BODY, width):
                    pg.y -= LEADING
                    cv.text(LEFT, pg.y, ln, size=BODY, color=GREY)
                pg.y -= 10
            if rule and (k == 0 or fresh):
                cv.line(LEFT, pg.y, LEFT + width, pg.y, width=0.5)
            top = pg.y
            for j, party in enumerate(parties[k : k + 2]):
                draw(cv, LEFT + j * col, top, party)
            pg.y = top - row_h

    def signature_block(cv: Any, x: float, top: float, party: Party) -> None:
        name = values.get(party.name) or EMPTY
        y = top
        for ln in wrap(fonts, f"{party.label}：{name}", BODY, col - 12)[:3]:
            y -= LEADING
            cv.text(x, y, ln, size=BODY)
        if party.representative:
            rep = values.get(party.representative) or EMPTY
            y -= LEADING
            cv.text(x, y, f"法定代表人或委托代理人：{rep}", size=BODY)
        cv.text(x, top - ANCHOR_DROP, party.anchor, size=12, face="B")
        cv.text(x, top - ROW_H + 16, "签署日期：以可信时间戳为准", size=9, color=GREY)

    def appendix_block(cv: Any, x: float, top: float, party: Party) -> None:
        cv.text(x, top - APPENDIX_ANCHOR_DROP, party.appendix_anchor, size=12, face="B")
        cv.text(x, top - APPENDIX_ROW_H + 16, "日期：以可信时间戳为准", size=9, color=GREY)

    party_rows(
        ROW_H,
        f"（本页无正文，为《{heading_title}》（合同编号 {number}）之签署页）",
        signature_block,
        rule=True,
    )

    # appendices, each from a new page, closed by every party's seal block and date
    for a in template.appendices:
        lines = appendix_lines(a, values)
        if lines is None:
            continue
        pg.new()
        c = pg.c
        pg.y -= HEAD * 1.2
        c.text(LEFT, pg.y, f"附件 {a.number}", size=HEAD, face="B")
        for ln in wrap(fonts, a.title, 15.0, width):
            pg.y -= 15.0 * 1.6
            c.text(LEFT + (width - fonts.width(ln, "B", 15.0)) / 2, pg.y, ln, size=15.0, face="B")
        pg.y -= 8
        attached = values.get(a.pdf_blank) if a.pdf_blank else None
        if a.kind == "document" and attached:
            data = (attachments or {}).get(attached["sha256"])
            if data is None:
                raise ValidationError(
                    f"附件 {a.number} 的 PDF 不在手边 / the attached PDF is not at hand",
                    field=f"values.{a.pdf_blank}",
                )
            try:
                _attached_pages(w, pg, fonts, data, f"附件 {a.number}《{a.title}》", width)
            except Exception as e:  # noqa: BLE001 - inspected, yet a parser may still balk
                raise ValidationError(
                    f"附件 {a.number} 的 PDF 无法并入合同（{type(e).__name__}）/ the attached "
                    "PDF cannot be copied into the contract",
                    field=f"values.{a.pdf_blank}",
                ) from None
        elif a.kind == "price_table":
            _price_table(pg, fonts, template, a, values, width)
        elif a.kind == "list":
            for ln in lines:
                paragraph(ln, 2 * BODY, hanging=2 * BODY)
        elif a.kind == "document":  # the customer's words, as typed: no markup, no blanks
            for ln in lines:
                paragraph(ln, 2 * BODY)
        else:
            for ln in lines:
                markup(ln)
        pg.y -= 14
        note = f"（本页无正文，为附件 {a.number}《{a.title}》之签章页）"
        party_rows(APPENDIX_ROW_H, note, appendix_block, rule=False)

    # footers: number, template, page N of M
    total = len(pg.pages)
    for i, ops in enumerate(pg.pages, 1):
        cv = pg._canvas(fonts, ops)
        foot = f"合同编号 {number}　　第 {i} 页 共 {total} 页"
        fw = fonts.width(foot, "R", 8.5)
        cv.text(LEFT + (width - fw) / 2, BOTTOM - 36, foot, size=8.5, color=GREY)

    font_res = fonts.resources()
    for i, ops in enumerate(pg.pages):
        res = generic.DictionaryObject({pdf_name("/Font"): font_res})
        if i in pg.xobjects:
            res[pdf_name("/XObject")] = generic.DictionaryObject(
                {pdf_name(f"/{k}"): v for k, v in pg.xobjects[i].items()}
            )
        stream = generic.StreamObject(stream_data=b"\n".join(ops))
        stream.compress()
        w.insert_page(PageObject(w.add_object(stream), (0, 0, A4[0], A4[1]), res))
    out = BytesIO()
    w.write(out)
    return out.getvalue()


def _attached_pages(w: Any, pg: _Pages, fonts: Any, data: bytes, name: str, width: float) -> None:
    """The customer's PDF (checked by ``contracts.attachments.inspect``), each page imported
    whole as a form XObject and drawn scaled to the text area of its own A4 page — the first
    under the appendix heading, the next ones under a “（续）” line — with a hairline frame, so
    the contract's footer (number, 第 N 页 共 M 页) runs over them too."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(BytesIO(data), strict=False)
    n = int(reader.root["/Pages"]["/Count"])
    for k in range(n):
        if k:
            pg.new()
            pg.y -= BODY
            pg.c.text(LEFT, pg.y, f"{name}（续，第 {k + 1} 页 共 {n} 页）", size=9, color=GREY)
            pg.y -= 6
        ref = w.import_page_as_xobject(reader, k)
        x0, y0, x1, y1 = (float(v) for v in ref.get_object()["/BBox"])
        box_h = pg.y - 4 - BOTTOM
        scale = min(width / (x1 - x0), box_h / (y1 - y0), 1.0)
        dw, dh = (x1 - x0) * scale, (y1 - y0) * scale
        tx, ty = LEFT + (width - dw) / 2, pg.y - 4 - dh
        key = f"Att{len(pg.pages)}x{k}"
        pg.xobjects.setdefault(len(pg.pages) - 1, {})[key] = ref
        pg.c.ops.append(
            b"q %.5f 0 0 %.5f %.3f %.3f cm /%s Do Q"
            % (scale, scale, tx - x0 * scale, ty - y0 * scale, key.encode())
        )
        pg.c.rect(tx, ty, dw, dh, stroke=(0.75, 0.75, 0.75), width=0.4)
        pg.y = ty


def _price_table(
    pg: _Pages,
    fonts: Any,
    template: Template,
    a: Appendix,
    values: dict[str, Any],
    width: float,
) -> None:
    """附件 2 费用明细表 as the seed draws it: a ruled table, one row per price line (the
    header repeated when it goes over a page), then 含税总价 in capitals and in figures; the
    lines are taxed at the rate of the total they add up to."""
    from yinxin.contracts.money import capitals, format_amount

    b = template.blank(a.blank or "")
    rows = values.get(b.name) or []
    total = values.get(b.total or "") or "0"
    rate = values.get(template.blank(b.total or "").tax_rate or "") or "0"
    cols = [*PRICE_COLS, width - sum(PRICE_COLS)]
    pad, lead = 3.0, TABLE * 1.45

    def cell_lines(cells: tuple[str, ...], widths: list[float]) -> list[list[str]]:
        return [
            wrap(fonts, c, TABLE, w - 2 * pad) if c else [""]
            for c, w in zip(cells, widths, strict=True)
        ]

    def draw(cells: tuple[str, ...], face: str = "R", widths: list[float] | None = None) -> None:
        widths = widths or cols
        wrapped = cell_lines(cells, widths)
        h = max(len(w) for w in wrapped) * lead + 2 * pad
        if pg.y - h < BOTTOM:  # a row never splits; the header comes again on the new page
            pg.new()
            if face == "R" and widths is cols:
                draw(PRICE_HEAD, "B")
        cv, top, x = pg.c, pg.y, LEFT
        for lines, w in zip(wrapped, widths, strict=True):
            cv.rect(x, top - h, w, h, stroke=(0.3, 0.3, 0.3), width=0.5)
            y = top - pad
            for ln in lines:
                y -= lead
                cv.text(x + pad, y + (lead - TABLE) / 2, ln, size=TABLE, face=face)
            x += w
        pg.y = top - h

    draw(PRICE_HEAD, "B")
    for cells in price_rows(rows, rate):
        draw(cells)
    label = sum(cols[:4])
    rest = width - label
    draw(("含税总价（人民币大写）", f"人民币{capitals(total)}"), "R", [label, rest])
    draw(("含税总价（元）", format_amount(total)), "R", [label, rest])


__all__ = [
    "amount_text",
    "appendix_lines",
    "price_rows",
    "date_text",
    "display",
    "rate_text",
    "render_contract",
    "schedule_lines",
    "wrap",
]
