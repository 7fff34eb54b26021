"""Sample contracts and seal images, written without pyHanko, for tests, benchmarks and demos.

The signer must cope with PDFs that other software made, so the samples are written here byte by
byte rather than by the library that signs them: classic cross-reference tables or
cross-reference streams, optionally with object streams, any header version, and Chinese text
in an embedded, subset CID-keyed CFF font (Identity-H with a ``ToUnicode`` map) the way office
suites and PDF printers write it. Needs ``fontTools`` (a test-only dependency) and the Noto CJK
fonts; the seal image needs only Pillow.
"""

from __future__ import annotations

import functools
import io
import math
import zlib
from collections.abc import Sequence
from pathlib import Path

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
CJK_FONT_INDEX = 2  # "Noto Sans CJK SC" inside the collection

_CLAUSES = [
    "第一条 合同标的：乙方根据甲方的要求，为甲方提供电子签章平台的技术服务。",
    "第二条 服务期限：自本合同生效之日起一年，期满前三十日内双方可协商续签。",
    "第三条 价款与支付：合同总价为人民币壹拾万元整（¥100,000.00），分两期支付。",
    "第四条 双方的权利义务：甲方应按时支付价款，乙方应保证服务稳定可用。",
    "第五条 保密条款：任何一方不得向第三方披露在履行本合同过程中知悉的商业秘密。",
    "第六条 违约责任：任何一方违反本合同约定的，应赔偿由此给对方造成的损失。",
    "第七条 争议解决：因本合同引起的争议，双方应协商解决；协商不成的，提交仲裁。",
    "第八条 其他：本合同一式两份，双方各执一份，自双方签章之日起生效。",
]


def _hex(codes: Sequence[int]) -> bytes:
    return b"<" + "".join(f"{c:04X}" for c in codes).encode() + b">"


class _CJKFont:
    """A subset of Noto Sans CJK SC covering exactly the characters a sample uses."""

    def __init__(self, text: str):
        from fontTools import subset
        from fontTools.ttLib import TTFont

        font = TTFont(str(CJK_FONT), fontNumber=CJK_FONT_INDEX, lazy=True)
        options = subset.Options()
        options.name_IDs = ["*"]
        options.notdef_outline = True
        options.desubroutinize = True
        options.layout_features = []
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=text)
        subsetter.subset(font)
        self.cff = font["CFF "].compile(font)
        cmap = font.getBestCmap()
        hmtx = font["hmtx"]
        # In a CID-keyed CFF the glyph names are "cidNNNNN"; Identity-H content codes are CIDs.
        self.cid: dict[str, int] = {}
        self.width: dict[int, int] = {}
        for ch in set(text):
            name = cmap.get(ord(ch))
            if name is None:
                continue
            cid = int(name[3:]) if name.startswith("cid") else 0
            self.cid[ch] = cid
            self.width[cid] = hmtx[name][0]

    def codes(self, text: str) -> list[int]:
        return [self.cid[ch] for ch in text if ch in self.cid]

    def to_unicode(self) -> bytes:
        lines = [
            b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap",
            b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
            b"/CMapName /Adobe-Identity-UCS def /CMapType 2 def",
            b"1 begincodespacerange <0000> <FFFF> endcodespacerange",
        ]
        items = sorted((cid, ch) for ch, cid in self.cid.items())
        for start in range(0, len(items), 100):
            chunk = items[start : start + 100]
            lines.append(f"{len(chunk)} beginbfchar".encode())
            for cid, ch in chunk:
                utf16 = ch.encode("utf-16-be").hex().upper()
                lines.append(f"<{cid:04X}> <{utf16}>".encode())
            lines.append(b"endbfchar")
        lines.append(b"endcmap CMapName currentdict /CMap defineresource pop end end")
        return b"\n".join(lines)

    def w_array(self) -> bytes:
        parts = [f"{cid} [{w}]" for cid, w in sorted(self.width.items())]
        return ("[" + " ".join(parts) + "]").encode()


class _Objects:
    """Collects numbered objects and writes a whole file with either kind of cross-reference."""

    def __init__(self) -> None:
        self.objs: dict[int, bytes] = {}
        self.streams: set[int] = set()
        self.next = 1

    def reserve(self) -> int:
        n = self.next
        self.next += 1
        return n

    def put(self, num: int, body: bytes) -> int:
        self.objs[num] = body
        return num

    def add(self, body: bytes) -> int:
        return self.put(self.reserve(), body)

    def add_stream(self, data: bytes, extra: bytes = b"", compress: bool = True) -> int:
        num = self.reserve()
        self.put_stream(num, data, extra, compress)
        return num

    def put_stream(self, num: int, data: bytes, extra: bytes = b"", compress: bool = True) -> None:
        if compress:
            data = zlib.compress(data)
            extra += b" /Filter /FlateDecode"
        head = b"<< /Length %d%s >>\nstream\n" % (len(data), extra)
        self.objs[num] = head + data + b"\nendstream"
        self.streams.add(num)

    def write(
        self, root: int, info: int, *, version: str, xref: str, object_streams: bool
    ) -> bytes:
        out = io.BytesIO()
        out.write(b"%PDF-" + version.encode() + b"\n%\xe2\xe3\xcf\xd3\n")
        offsets: dict[int, tuple[int, int, int]] = {}  # num -> (type, a, b)
        packed: list[int] = []
        for num in sorted(self.objs):
            if object_streams and num not in self.streams:
                packed.append(num)
                continue
            offsets[num] = (1, out.tell(), 0)
            out.write(b"%d 0 obj\n" % num + self.objs[num] + b"\nendobj\n")
        if packed:
            stm = self.next
            self.next += 1
            head, body = io.BytesIO(), io.BytesIO()
            for i, num in enumerate(packed):
                head.write(b"%d %d " % (num, body.tell()))
                body.write(self.objs[num] + b"\n")
                offsets[num] = (2, stm, i)
            data = zlib.compress(head.getvalue() + body.getvalue())
            offsets[stm] = (1, out.tell(), 0)
            out.write(
                b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Length %d /Filter /FlateDecode >>\n"
                % (stm, len(packed), len(head.getvalue()), len(data))
                + b"stream\n"
                + data
                + b"\nendstream\nendobj\n"
            )
        file_id = b"<" + (b"%032x" % (len(self.objs) * 7919 + 12345)) + b">"
        if xref == "table":
            start = out.tell()
            size = max(offsets) + 1
            out.write(b"xref\n0 %d\n0000000000 65535 f \n" % size)
            for num in range(1, size):
                kind, off, _ = offsets.get(num, (0, 0, 0))
                out.write(b"%010d 00000 n \n" % off if kind == 1 else b"0000000000 65535 f \n")
            out.write(
                b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /ID [%s %s] >>\n"
                % (size, root, info, file_id, file_id)
            )
        else:
            xnum = self.next
            self.next += 1
            start = out.tell()
            offsets[xnum] = (1, start, 0)
            size = xnum + 1
            rows = io.BytesIO()
            for num in range(size):
                kind, a, b = offsets.get(num, (0, 0, 65535 if num == 0 else 0))
                rows.write(bytes([kind]) + a.to_bytes(4, "big") + b.to_bytes(2, "big"))
            data = zlib.compress(rows.getvalue())
            out.write(
                b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root %d 0 R /Info %d 0 R "
                b"/ID [%s %s] /Length %d /Filter /FlateDecode >>\nstream\n"
                % (xnum, size, root, info, file_id, file_id, len(data))
                + data
                + b"\nendstream\nendobj\n"
            )
        out.write(b"startxref\n%d\n%%%%EOF\n" % start)
        return out.getvalue()


def _wrap(text: str, per_line: int) -> list[str]:
    return [text[i : i + per_line] for i in range(0, len(text), per_line)]


@functools.lru_cache(maxsize=16)
def contract_pdf(
    pages: int = 1,
    *,
    xref: str = "table",
    object_streams: bool = False,
    version: str = "1.4",
    parties: tuple[str, ...] = ("甲方", "乙方"),
    title: str = "技术服务合同",
) -> bytes:
    """A Chinese contract of ``pages`` A4 pages; the signature block is at the foot of the last.

    Each party gets a line "<party>（签章）：" in the signature block, so anchors can find them.
    """
    if xref not in ("table", "stream"):
        raise ValueError("xref must be 'table' or 'stream'")
    if object_streams and xref != "stream":
        raise ValueError("object streams need a cross-reference stream")
    body_lines: list[str] = []
    n = 0
    per_page, last_page = 28, 18  # the last page keeps room for the signature block
    while len(body_lines) < per_page * (pages - 1) + last_page:
        body_lines.extend(_wrap(_CLAUSES[n % len(_CLAUSES)], 36))
        n += 1
    body_lines = body_lines[: per_page * (pages - 1) + last_page]
    sig_labels = [f"{p}（签章）：" for p in parties]
    date_line = "日期：2026年   月   日"
    latin = "Contract No. YX-2026-0001  Page"
    all_text = title + "".join(body_lines) + "".join(sig_labels) + date_line + latin + "0123456789 "
    font = _CJKFont(all_text)

    objs = _Objects()
    catalog, pages_num, info = objs.reserve(), objs.reserve(), objs.reserve()
    font_file = objs.add_stream(font.cff, b" /Subtype /CIDFontType0C")
    descriptor = objs.add(
        b"<< /Type /FontDescriptor /FontName /ABCDEF+NotoSansCJKsc-Regular /Flags 4 "
        b"/FontBBox [-1000 -1000 3000 1000] /ItalicAngle 0 /Ascent 880 /Descent -120 "
        b"/CapHeight 733 /StemV 80 /FontFile3 %d 0 R >>" % font_file
    )
    cidfont = objs.add(
        b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /ABCDEF+NotoSansCJKsc-Regular "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
        b"/FontDescriptor %d 0 R /DW 1000 /W %s >>" % (descriptor, font.w_array())
    )
    to_unicode = objs.add_stream(font.to_unicode())
    type0 = objs.add(
        b"<< /Type /Font /Subtype /Type0 /BaseFont /ABCDEF+NotoSansCJKsc-Regular "
        b"/Encoding /Identity-H /DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>"
        % (cidfont, to_unicode)
    )
    helv = objs.add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    resources = objs.add(b"<< /Font << /F1 %d 0 R /F2 %d 0 R >> >>" % (type0, helv))

    page_nums = []
    for p in range(pages):
        ops = [b"0 0 0 rg"]
        y = 770.0
        if p == 0:
            codes = font.codes(title)
            ops.append(b"BT /F1 20 Tf 1 0 0 1 237 %.1f Tm %s Tj ET" % (y, _hex(codes)))
            y -= 40
        ops.append(b"BT /F2 9 Tf 400 810 Td (Contract No. YX-2026-0001  Page %d) Tj ET" % (p + 1))
        end = per_page * (p + 1) if p < pages - 1 else len(body_lines)
        for line in body_lines[per_page * p : end]:
            codes = font.codes(line)
            # Kerning-style TJ arrays, as office suites write them, for every other line.
            if len(codes) > 6 and int(y) % 2:
                mid = len(codes) // 2
                text = b"[%s -20 %s]" % (_hex(codes[:mid]), _hex(codes[mid:]))
                ops.append(b"BT /F1 12 Tf 72 %.1f Td %s TJ ET" % (y, text))
            else:
                ops.append(b"BT /F1 12 Tf 72 %.1f Td %s Tj ET" % (y, _hex(codes)))
            y -= 20
        if p == pages - 1:
            for i, label in enumerate(sig_labels):
                x = 72 if i % 2 == 0 else 320
                ys = 300 - 100 * (i // 2)
                ops.append(
                    b"BT /F1 12 Tf 1 0 0 1 %d %d Tm %s Tj 0 -30 Td %s Tj ET"
                    % (x, ys, _hex(font.codes(label)), _hex(font.codes(date_line)))
                )
        content = objs.add_stream(b"\n".join(ops))
        page_nums.append(
            objs.add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Resources %d 0 R "
                b"/Contents %d 0 R >>" % (pages_num, resources, content)
            )
        )
    kids = b" ".join(b"%d 0 R" % k for k in page_nums)
    objs.put(pages_num, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages))
    objs.put(catalog, b"<< /Type /Catalog /Pages %d 0 R >>" % pages_num)
    objs.put(info, b"<< /Producer (yinxin samples) /Title <FEFF6280672F670D52A15408540C> >>")
    return objs.write(catalog, info, version=version, xref=xref, object_streams=object_streams)


@functools.lru_cache(maxsize=16)
def seal_png(name: str = "印信科技有限公司", *, px: int = 480, rgb=(214, 32, 32)) -> bytes:
    """A round red company seal (star in the middle, name along the rim) on transparency."""
    from PIL import Image, ImageDraw, ImageFont

    scale = 2  # draw large, then downsample for smooth edges
    size = px * scale
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    colour = (*rgb, 235)
    border = size // 28
    draw.ellipse((border, border, size - border, size - border), outline=colour, width=border)
    cx = cy = size / 2
    r_star = size * 0.16
    star = []
    for k in range(10):
        r = r_star if k % 2 == 0 else r_star * 0.38
        a = -math.pi / 2 + k * math.pi / 5
        star.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    draw.polygon(star, fill=colour)
    font = ImageFont.truetype(str(CJK_FONT), int(size * 0.11), index=CJK_FONT_INDEX)
    chars = list(name)
    span = math.radians(min(240, 26 * len(chars)))
    radius = size * 0.34
    for i, ch in enumerate(chars):
        a = -math.pi / 2 - span / 2 + span * (i + 0.5) / len(chars)
        glyph = Image.new("RGBA", (int(size * 0.14),) * 2, (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text(
            (glyph.width / 2, glyph.height / 2), ch, font=font, fill=colour, anchor="mm"
        )
        glyph = glyph.rotate(-math.degrees(a + math.pi / 2), resample=Image.BICUBIC)
        gx = cx + radius * math.cos(a) - glyph.width / 2
        gy = cy + radius * math.sin(a) - glyph.height / 2
        img.alpha_composite(glyph, (int(gx), int(gy)))
    img = img.resize((px, px), Image.LANCZOS)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()
