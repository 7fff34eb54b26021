"""Finding a piece of text (an anchor such as "甲方（签章）") and where it sits on the page.

We read the content streams ourselves rather than shelling out to poppler's ``pdftotext -bbox``:
poppler only reports whole words, and in Chinese a "word" is often a whole line, so the anchor's
own box would have to be guessed from character counts; it also costs a process per document.
Here every glyph gets a box from the font's real advance widths (``/W``, ``/Widths``) and the
full text and graphics matrices, including form XObjects, ``TJ`` kerning, ``Tc``/``Tw``/``Tz``
and rise. Text is taken from ``ToUnicode`` maps first, then from the predefined Chinese,
Japanese and Korean CMaps (``UniGB-UCS2-H``, ``GBK-EUC-H``, …) and simple-font encodings, which
covers what office suites, PDF printers and report engines write. The tests check the boxes
against ``pdftotext -bbox`` as an independent locator.

Matching ignores white space and compares NFKC forms, so "甲方(签章)" finds "甲方（签章）" and a
label split across several ``Tj`` operators or kerned with ``TJ`` is still one hit.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from pyhanko.pdf_utils import generic

from yinxin.signing.incremental import dget

Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


@dataclass(frozen=True)
class AnchorHit:
    """One occurrence of the anchor text: 1-based page and box in PDF points (user space)."""

    page: int
    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1
    text: str


@dataclass
class Glyph:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float


def mul(m: Matrix, n: Matrix) -> Matrix:
    """``m`` then ``n`` (PDF row-vector convention: p' = p · m · n)."""
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (
        a * a2 + b * c2,
        a * b2 + b * d2,
        c * a2 + d * c2,
        c * b2 + d * d2,
        e * a2 + f * c2 + e2,
        e * b2 + f * d2 + f2,
    )


def apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    return x * m[0] + y * m[2] + m[4], x * m[1] + y * m[3] + m[5]


# --------------------------------------------------------------------------- tokenizer

_TOKEN = re.compile(
    rb"[\x00\t\n\x0c\r ]+|%[^\r\n]*"  # white space and comments
    rb"|(?P<num>[+-]?(?:\d+\.?\d*|\.\d+))(?![^\x00\t\n\x0c\r ()<>\[\]{}/%])"
    rb"|(?P<name>/[^\x00\t\n\x0c\r ()<>\[\]{}/%]*)"
    rb"|(?P<dict><<|>>)"
    rb"|(?P<hex><[0-9A-Fa-f\x00\t\n\x0c\r ]*>)"
    rb"|(?P<lit>\()"
    rb"|(?P<arr>[\[\]])"
    rb"|(?P<brace>[{}])"
    rb"|(?P<op>[^\x00\t\n\x0c\r ()<>\[\]{}/%]+)"
)
_ESCAPES = {
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("("): b"(",
    ord(")"): b")",
    ord("\\"): b"\\",
}
_INLINE_IMAGE_END = re.compile(rb"[\x00\t\n\x0c\r ]EI(?=[\x00\t\n\x0c\r ]|$)")


class Op:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


def _literal(data: bytes, pos: int) -> tuple[bytes, int]:
    """Parse a literal string whose "(" is at ``pos - 1``; return (bytes, position after ")")."""
    out = bytearray()
    depth = 1
    n = len(data)
    while pos < n:
        ch = data[pos]
        if ch == 0x5C:  # backslash
            pos += 1
            if pos >= n:
                break
            esc = data[pos]
            if esc in _ESCAPES:
                out += _ESCAPES[esc]
                pos += 1
            elif 0x30 <= esc <= 0x37:
                end = pos
                while end < n and end < pos + 3 and 0x30 <= data[end] <= 0x37:
                    end += 1
                out.append(int(data[pos:end], 8) & 0xFF)
                pos = end
            elif esc in (0x0D, 0x0A):  # line continuation
                pos += 1
                if esc == 0x0D and pos < n and data[pos] == 0x0A:
                    pos += 1
            else:
                out.append(esc)
                pos += 1
            continue
        if ch == 0x28:
            depth += 1
        elif ch == 0x29:
            depth -= 1
            if depth == 0:
                return bytes(out), pos + 1
        out.append(ch)
        pos += 1
    return bytes(out), n


def tokens(data: bytes):
    """Yield operands (numbers, names, strings, lists) and ``Op`` objects; skip inline images."""
    pos = 0
    n = len(data)
    stack: list[list] = []
    match = _TOKEN.match
    while pos < n:
        m = match(data, pos)
        if m is None:  # stray byte: skip it, as viewers do
            pos += 1
            continue
        pos = m.end()
        kind = m.lastgroup
        if kind is None or kind == "brace":
            continue
        if kind == "num":
            value: object = float(m.group())
        elif kind == "name":
            value = "/" + re.sub(
                rb"#([0-9A-Fa-f]{2})", lambda g: bytes([int(g.group(1), 16)]), m.group()[1:]
            ).decode("latin-1")
        elif kind == "hex":
            digits = re.sub(rb"[^0-9A-Fa-f]", b"", m.group())
            if len(digits) % 2:
                digits += b"0"
            value = bytes.fromhex(digits.decode())
        elif kind == "lit":
            value, pos = _literal(data, pos)
        elif kind == "arr" or kind == "dict":
            if m.group() in (b"[", b"<<"):
                stack.append([])
                continue
            if not stack:
                continue
            value = stack.pop()
        else:
            word = m.group()
            if word == b"BI":
                idx = data.find(b"ID", pos)
                end = _INLINE_IMAGE_END.search(data, idx + 3 if idx >= 0 else pos)
                pos = end.end() if end else n
                continue
            if word in (b"true", b"false", b"null"):
                value = word == b"true" if word != b"null" else None
            elif stack:
                value = word.decode("latin-1")  # stray keyword inside an array
            else:
                yield Op(word.decode("latin-1"))
                continue
        if stack:
            stack[-1].append(value)
        else:
            yield value


# --------------------------------------------------------------------------- fonts

_GLYPH_NAMES = {
    "space": " ",
    "exclam": "!",
    "quotedbl": '"',
    "numbersign": "#",
    "dollar": "$",
    "percent": "%",
    "ampersand": "&",
    "quotesingle": "'",
    "quoteright": "’",
    "parenleft": "(",
    "parenright": ")",
    "asterisk": "*",
    "plus": "+",
    "comma": ",",
    "hyphen": "-",
    "period": ".",
    "slash": "/",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "colon": ":",
    "semicolon": ";",
    "less": "<",
    "equal": "=",
    "greater": ">",
    "question": "?",
    "at": "@",
    "bracketleft": "[",
    "backslash": "\\",
    "bracketright": "]",
    "underscore": "_",
    "quoteleft": "‘",
    "braceleft": "{",
    "bar": "|",
    "braceright": "}",
    "asciitilde": "~",
    "bullet": "•",
    "endash": "–",
    "emdash": "—",
    "quotedblleft": "“",
    "quotedblright": "”",
    "yen": "¥",
}
_CMAP_CODECS = [
    ("UCS2", "utf-16-be"),
    ("UTF16", "utf-16-be"),
    ("UTF8", "utf-8"),
    ("GBK", "gbk"),
    ("GB-", "gbk"),
    ("GBpc", "gbk"),
    ("GBT", "gbk"),
    ("B5", "big5"),
    ("ETen", "big5"),
    ("HKscs", "big5hkscs"),
    ("RKSJ", "shift_jis"),
    ("EUC-H", "euc_jp"),
    ("EUC-V", "euc_jp"),
    ("KSC", "euc_kr"),
    ("KSCms", "cp949"),
]


def _glyph_name_text(name: str) -> str:
    if name in _GLYPH_NAMES:
        return _GLYPH_NAMES[name]
    if len(name) == 1:
        return name
    m = re.fullmatch(r"uni([0-9A-Fa-f]{4})+", name)
    if m:
        return "".join(chr(int(name[i : i + 4], 16)) for i in range(3, len(name), 4))
    m = re.fullmatch(r"u([0-9A-Fa-f]{4,6})", name)
    if m:
        return chr(int(m.group(1), 16))
    return ""


def _utf16(raw: bytes) -> str:
    return raw.decode("utf-16-be", errors="replace") if len(raw) >= 2 else raw.decode("latin-1")


@dataclass
class _CMap:
    code_lengths: dict[int, set[int]] = field(default_factory=dict)  # first byte -> lengths
    unicode: dict[tuple[int, int], str] = field(default_factory=dict)  # (len, code) -> text
    cids: dict[tuple[int, int], int] = field(default_factory=dict)
    cid_ranges: list[tuple[int, int, int, int]] = field(default_factory=list)  # len, lo, hi, cid


def parse_cmap(data: bytes) -> _CMap:
    """ToUnicode and embedded CID CMaps: codespace ranges, bfchar/bfrange, cidchar/cidrange."""
    cmap = _CMap()
    section = None
    operands: list = []
    for tok in tokens(data):
        if isinstance(tok, Op):
            word = tok.name
            if word.startswith("begin"):
                section = word[5:]
                operands = []
            elif word.startswith("end") and section:
                _cmap_section(cmap, section, operands)
                section = None
            continue
        if section:
            operands.append(tok)
    return cmap


def _cmap_section(cmap: _CMap, section: str, ops: list) -> None:
    if section == "codespacerange":
        for lo, hi in zip(ops[0::2], ops[1::2], strict=False):
            if isinstance(lo, bytes) and isinstance(hi, bytes) and lo and hi:
                for first in range(lo[0], hi[0] + 1):
                    cmap.code_lengths.setdefault(first, set()).add(len(lo))
    elif section == "bfchar":
        for src, dst in zip(ops[0::2], ops[1::2], strict=False):
            if isinstance(src, bytes) and isinstance(dst, bytes):
                cmap.unicode[(len(src), int.from_bytes(src, "big"))] = _utf16(dst)
    elif section == "bfrange":
        for lo, hi, dst in zip(ops[0::3], ops[1::3], ops[2::3], strict=False):
            if not (isinstance(lo, bytes) and isinstance(hi, bytes)):
                continue
            a, b, size = int.from_bytes(lo, "big"), int.from_bytes(hi, "big"), len(lo)
            if b - a > 0xFFFF:
                continue
            if isinstance(dst, list):
                for i, item in enumerate(dst[: b - a + 1]):
                    if isinstance(item, bytes):
                        cmap.unicode[(size, a + i)] = _utf16(item)
            elif isinstance(dst, bytes) and dst:
                base = int.from_bytes(dst, "big")
                for i in range(b - a + 1):
                    raw = (base + i).to_bytes(len(dst), "big")
                    cmap.unicode[(size, a + i)] = _utf16(raw)
    elif section == "cidchar":
        for src, cid in zip(ops[0::2], ops[1::2], strict=False):
            if isinstance(src, bytes) and isinstance(cid, float):
                cmap.cids[(len(src), int.from_bytes(src, "big"))] = int(cid)
    elif section == "cidrange":
        for lo, hi, cid in zip(ops[0::3], ops[1::3], ops[2::3], strict=False):
            if isinstance(lo, bytes) and isinstance(hi, bytes) and isinstance(cid, float):
                cmap.cid_ranges.append(
                    (len(lo), int.from_bytes(lo, "big"), int.from_bytes(hi, "big"), int(cid))
                )


def _num(value, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


class Font:
    """What text extraction needs from a font: code lengths, text, advance width, height."""

    def __init__(self, font: generic.DictionaryObject):
        self.subtype = dget(font, "/Subtype")
        self.to_unicode: _CMap | None = None
        try:
            tu = dget(font, "/ToUnicode")
            if isinstance(tu, generic.StreamObject):
                self.to_unicode = parse_cmap(tu.data)
        except Exception:  # noqa: BLE001 - a broken ToUnicode falls back to the encoding
            self.to_unicode = None
        self.composite = self.subtype == "/Type0"
        self.ascent, self.descent = 0.88, -0.12
        self.scale = 0.001
        self.codec: str | None = None
        self.encoding_cmap: _CMap | None = None
        self.identity = False
        if self.composite:
            self._init_composite(font)
        else:
            self._init_simple(font)

    # composite (CID) fonts -------------------------------------------------
    def _init_composite(self, font) -> None:
        enc = dget(font, "/Encoding")
        if isinstance(enc, generic.NameObject):
            name = str(enc)[1:]
            self.identity = name.startswith("Identity")
            if not self.identity:
                for marker, codec in _CMAP_CODECS:
                    if marker in name:
                        self.codec = codec
                        break
        elif isinstance(enc, generic.StreamObject):
            try:
                self.encoding_cmap = parse_cmap(enc.data)
            except Exception:  # noqa: BLE001
                self.encoding_cmap = None
        self.dw = 1000.0
        self.widths: dict[int, float] = {}
        try:
            desc = font["/DescendantFonts"][0].get_object()
            self.dw = _num(dget(desc, "/DW"), 1000.0)
            self._read_w(dget(desc, "/W"))
            self._read_descriptor(dget(desc, "/FontDescriptor"))
        except (KeyError, IndexError, TypeError):
            pass

    def _read_w(self, w) -> None:
        if not isinstance(w, generic.ArrayObject):
            return
        items = list(w)
        i = 0
        while i < len(items):
            first = int(_num(items[i]))
            nxt = items[i + 1] if i + 1 < len(items) else None
            if isinstance(nxt, generic.ArrayObject):
                for k, width in enumerate(nxt):
                    self.widths[first + k] = _num(width)
                i += 2
            elif i + 2 < len(items):
                last, width = int(_num(nxt)), _num(items[i + 2])
                if 0 <= last - first <= 0xFFFF:
                    for cid in range(first, last + 1):
                        self.widths[cid] = width
                i += 3
            else:
                break

    def _read_descriptor(self, desc) -> None:
        if isinstance(desc, generic.DictionaryObject):
            asc, dsc = _num(dget(desc, "/Ascent")), _num(dget(desc, "/Descent"))
            if asc > 0 and dsc <= 0 and asc - dsc > 100:
                self.ascent, self.descent = asc / 1000.0, dsc / 1000.0
            self.missing = _num(dget(desc, "/MissingWidth"), 0.0)

    # simple fonts ---------------------------------------------------------------
    def _init_simple(self, font) -> None:
        self.first_char = int(_num(dget(font, "/FirstChar"), 0))
        widths = dget(font, "/Widths")
        self.simple_widths = [_num(w) for w in widths] if isinstance(widths, list) else []
        self.missing = 0.0
        self._read_descriptor(dget(font, "/FontDescriptor"))
        if self.subtype == "/Type3":
            fm = dget(font, "/FontMatrix")
            if isinstance(fm, list) and len(fm) == 6:
                self.scale = abs(_num(fm[0], 0.001))
            self.ascent, self.descent = 0.8, -0.2
        base = "cp1252"
        self.differences: dict[int, str] = {}
        enc = dget(font, "/Encoding")
        if isinstance(enc, generic.DictionaryObject):
            base_enc = dget(enc, "/BaseEncoding")
            if base_enc == "/MacRomanEncoding":
                base = "mac_roman"
            code = 0
            for item in dget(enc, "/Differences", []):
                if isinstance(item, int | float) and not isinstance(item, bool):
                    code = int(item)
                elif isinstance(item, generic.NameObject):
                    self.differences[code] = _glyph_name_text(str(item)[1:])
                    code += 1
        elif enc == "/MacRomanEncoding":
            base = "mac_roman"
        self.base_codec = base

    # decoding -------------------------------------------------------------------
    def _code_length(self, data: bytes, pos: int) -> int:
        if not self.composite:
            return 1
        first = data[pos]
        for cmap in (self.encoding_cmap, self.to_unicode):
            if cmap is not None and cmap.code_lengths:
                lengths = cmap.code_lengths.get(first)
                if lengths:
                    return min(lengths)
        if self.codec in ("gbk", "big5", "big5hkscs", "euc_kr", "cp949", "euc_jp"):
            return 2 if first >= 0x81 else 1
        if self.codec == "shift_jis":
            return 2 if (0x81 <= first <= 0x9F or 0xE0 <= first <= 0xFC) else 1
        if self.codec == "utf-8":
            return 1 if first < 0x80 else (2 if first < 0xE0 else (3 if first < 0xF0 else 4))
        return 2

    def _cid(self, size: int, code: int) -> int:
        if self.encoding_cmap is not None:
            cid = self.encoding_cmap.cids.get((size, code))
            if cid is not None:
                return cid
            for length, lo, hi, start in self.encoding_cmap.cid_ranges:
                if length == size and lo <= code <= hi:
                    return start + code - lo
        return code if (self.identity or self.encoding_cmap is not None) else -1

    def decode(self, data: bytes):
        """Yield (text, width in text-space units, is single-byte space) per character code."""
        pos = 0
        n = len(data)
        while pos < n:
            size = min(self._code_length(data, pos), n - pos)
            raw = data[pos : pos + size]
            pos += size
            code = int.from_bytes(raw, "big")
            text = None
            if self.to_unicode is not None:
                text = self.to_unicode.unicode.get((size, code))
            if self.composite:
                if text is None and self.codec:
                    text = raw.decode(self.codec, errors="ignore")
                cid = self._cid(size, code)
                if cid >= 0:
                    width = self.widths.get(cid, self.dw)
                else:
                    width = self.dw if size > 1 else self.dw / 2
                yield text or "", width * self.scale, size == 1 and code == 32
            else:
                if text is None:
                    text = self.differences.get(code)
                if text is None:
                    text = raw.decode(self.base_codec, errors="ignore")
                idx = code - self.first_char
                if 0 <= idx < len(self.simple_widths):
                    width = self.simple_widths[idx]
                else:
                    width = self.missing or (250.0 if code == 32 else 500.0)
                yield text, width * self.scale, code == 32


# --------------------------------------------------------------------------- interpreter


@dataclass
class _State:
    ctm: Matrix = IDENTITY
    font: Font | None = None
    size: float = 0.0
    tc: float = 0.0
    tw: float = 0.0
    th: float = 1.0
    tl: float = 0.0
    rise: float = 0.0

    def copy(self) -> _State:
        return _State(self.ctm, self.font, self.size, self.tc, self.tw, self.th, self.tl, self.rise)


class TextExtractor:
    """Runs content streams far enough to know where every glyph is drawn."""

    MAX_DEPTH = 8

    def __init__(self) -> None:
        self._fonts: dict[object, Font] = {}

    def _font(self, resources, name) -> Font | None:
        try:
            ref = resources["/Font"].raw_get(name)
        except (KeyError, TypeError, AttributeError):
            return None
        key = ref.reference if isinstance(ref, generic.IndirectObject) else id(ref)
        font = self._fonts.get(key)
        if font is None:
            obj = ref.get_object() if isinstance(ref, generic.IndirectObject) else ref
            if not isinstance(obj, generic.DictionaryObject):
                return None
            font = self._fonts[key] = Font(obj)
        return font

    def page_glyphs(self, contents: bytes, resources, ctm: Matrix = IDENTITY) -> list[Glyph]:
        out: list[Glyph] = []
        self._run(contents, resources, _State(ctm=ctm), out, 0, set())
        return out

    def _run(self, data, resources, gs: _State, out, depth, seen) -> None:
        stack: list[_State] = []
        tm = tlm = IDENTITY
        operands: list = []
        for tok in tokens(data):
            if not isinstance(tok, Op):
                operands.append(tok)
                continue
            op = tok.name
            args = operands
            operands = []
            try:
                if op == "q":
                    stack.append(gs.copy())
                elif op == "Q":
                    if stack:
                        gs = stack.pop()
                elif op == "cm" and len(args) == 6:
                    gs.ctm = mul(tuple(map(float, args)), gs.ctm)
                elif op == "BT":
                    tm = tlm = IDENTITY
                elif op == "Tf" and len(args) == 2:
                    gs.font = self._font(resources, args[0])
                    gs.size = float(args[1])
                elif op == "Tc":
                    gs.tc = float(args[0])
                elif op == "Tw":
                    gs.tw = float(args[0])
                elif op == "Tz":
                    gs.th = float(args[0]) / 100.0
                elif op == "TL":
                    gs.tl = float(args[0])
                elif op == "Ts":
                    gs.rise = float(args[0])
                elif op in ("Td", "TD"):
                    tx, ty = float(args[0]), float(args[1])
                    if op == "TD":
                        gs.tl = -ty
                    tm = tlm = mul((1, 0, 0, 1, tx, ty), tlm)
                elif op == "Tm" and len(args) == 6:
                    tm = tlm = tuple(map(float, args))
                elif op == "T*":
                    tm = tlm = mul((1, 0, 0, 1, 0, -gs.tl), tlm)
                elif op == "Tj":
                    tm = self._show(args[0], gs, tm, out)
                elif op == "TJ":
                    for item in args[0]:
                        if isinstance(item, bytes):
                            tm = self._show(item, gs, tm, out)
                        elif isinstance(item, float):
                            tm = mul((1, 0, 0, 1, -item / 1000.0 * gs.size * gs.th, 0), tm)
                elif op in ("'", '"'):
                    if op == '"':
                        gs.tw, gs.tc = float(args[0]), float(args[1])
                    tm = tlm = mul((1, 0, 0, 1, 0, -gs.tl), tlm)
                    tm = self._show(args[-1], gs, tm, out)
                elif op == "Do" and depth < self.MAX_DEPTH:
                    self._form(args[0], resources, gs, out, depth, seen)
            except (IndexError, TypeError, ValueError, KeyError):
                continue  # a malformed operator is skipped, as viewers do

    def _form(self, name, resources, gs: _State, out, depth, seen) -> None:
        try:
            ref = resources["/XObject"].raw_get(name)
        except (KeyError, TypeError, AttributeError):
            return
        key = ref.reference if isinstance(ref, generic.IndirectObject) else id(ref)
        if key in seen:
            return
        xobj = ref.get_object()
        if not isinstance(xobj, generic.StreamObject) or dget(xobj, "/Subtype") != "/Form":
            return
        matrix = dget(xobj, "/Matrix")
        ctm = gs.ctm
        if isinstance(matrix, list) and len(matrix) == 6:
            ctm = mul(tuple(float(v) for v in matrix), ctm)
        inner = gs.copy()
        inner.ctm = ctm
        form_res = dget(xobj, "/Resources", resources)
        self._run(xobj.data, form_res, inner, out, depth + 1, seen | {key})

    def _show(self, data, gs: _State, tm: Matrix, out: list[Glyph]) -> Matrix:
        font = gs.font
        if font is None or not isinstance(data, bytes):
            return tm
        size, th = gs.size, gs.th
        for text, width, is_space in font.decode(data):
            trm = mul((size * th, 0, 0, size, 0, gs.rise), mul(tm, gs.ctm))
            corners = [
                apply(trm, 0, font.descent),
                apply(trm, width, font.descent),
                apply(trm, 0, font.ascent),
                apply(trm, width, font.ascent),
            ]
            xs = [p[0] for p in corners]
            ys = [p[1] for p in corners]
            if text:
                out.append(Glyph(text, min(xs), min(ys), max(xs), max(ys)))
            advance = (width * size + gs.tc + (gs.tw if is_space else 0.0)) * th
            tm = mul((1, 0, 0, 1, advance, 0), tm)
        return tm


def _normalise(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if not ch.isspace())


def search(glyphs: list[Glyph], needle: str, page: int) -> list[AnchorHit]:
    """Every place where ``needle`` appears in the page's glyph sequence (content order)."""
    target = _normalise(needle)
    if not target:
        return []
    chars: list[str] = []
    owner: list[int] = []
    for i, g in enumerate(glyphs):
        for ch in _normalise(g.text):
            chars.append(ch)
            owner.append(i)
    haystack = "".join(chars)
    hits = []
    start = haystack.find(target)
    while start >= 0:
        used = [glyphs[k] for k in sorted(set(owner[start : start + len(target)]))]
        bbox = (
            min(g.x0 for g in used),
            min(g.y0 for g in used),
            max(g.x1 for g in used),
            max(g.y1 for g in used),
        )
        hits.append(AnchorHit(page=page, bbox=bbox, text="".join(g.text for g in used)))
        start = haystack.find(target, start + len(target))
    return hits
