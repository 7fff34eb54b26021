"""A one-page A4 PDF of a verification report, in Chinese, that prints and files like paper.

Why pyHanko's own font machinery: the platform already depends on pyHanko, and its
``GlyphAccumulator`` (HarfBuzz shaping + fontTools subsetting, the code that draws CJK text in
signature stamps) embeds a subset of a CFF-flavoured OpenType font as a CIDFontType0 with a
ToUnicode map — so the report shows the same on any viewer and ``pdftotext`` gets the Chinese
back. reportlab cannot embed CFF outlines (Noto CJK is CFF) and would fall back to a
non-embedded Adobe CID font. The one extra requirement is ``uharfbuzz`` (pyHanko's
``opentype`` extra).

Noto Sans CJK ships as a TrueType Collection; HarfBuzz and ``GlyphAccumulator`` read the first
face of a file only, so the Simplified-Chinese face is copied out of the collection (raw
tables, no re-compilation: ~0.3 s) into memory first. Set ``YINXIN_CJK_FONT`` (and optionally
``YINXIN_CJK_FONT_BOLD``) to an .otf/.ttf/.ttc path on systems without the Debian font paths.

Layout is done here by hand (a label/value table per signature, lines wrapped by measured
width) because the page must stay one page: fonts shrink step by step until everything fits,
and signatures that still do not fit are summarised in a line pointing at the JSON report.
The file's own problems take at most the room left above the first two signatures' tables at
the smallest size; any more are counted in one line, also pointing at the JSON report.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

from yinxin.errors import ConfigurationError
from yinxin.identity import shown
from yinxin.indication import (
    CHECK_NAMES,
    OUTCOME_WORDS,
    SIGNATURE_VERDICT_TEXT,
    Indication,
    Outcome,
    outcome,
)
from yinxin.pdf.verify import (
    SignatureReport,
    VerificationReport,
    _fmt_time,
    describe_certificate_status,
    describe_changes,
    describe_integrity,
    describe_timestamp,
    issuer_display,
    seal_display,
)
from yinxin.pdf.words import CHANGE_WORDS, COVERAGE_WORDS, bilingual

A4 = (595.28, 841.89)
MARGIN = 48.0
LABEL_W = 118.0
PAD = 3.5
GREEN = (0.05, 0.45, 0.15)
RED = (0.75, 0.05, 0.05)
AMBER = (0.65, 0.4, 0.0)
#: the colour each outcome is printed in
TONE = {Indication.PASSED: GREEN, Indication.FAILED: RED, Indication.INDETERMINATE: AMBER}
GREY_FILL = (0.94, 0.94, 0.94)
NOTE_GREY = (0.3, 0.3, 0.3)  # a note about the file: said, but no problem

_FONT_DIRS = [
    "/usr/share/fonts/opentype/noto",  # Debian/Ubuntu fonts-noto-cjk
    "/usr/share/fonts/noto-cjk",  # Arch
    "/usr/share/fonts/google-noto-sans-cjk-ttc",  # Fedora
    "/usr/share/fonts/google-noto-cjk",
    "/usr/share/fonts/truetype/noto",
]


# ---------------------------------------------------------------------------------------------
# fonts


def _find_font(bold: bool) -> str:
    env = os.environ.get("YINXIN_CJK_FONT_BOLD" if bold else "YINXIN_CJK_FONT")
    if env and Path(env).is_file():
        return env
    weight = "Bold" if bold else "Regular"
    for d in _FONT_DIRS:
        for name in (
            f"NotoSansCJK-{weight}.ttc",
            f"NotoSansCJKsc-{weight}.otf",
            f"NotoSerifCJK-{weight}.ttc",
        ):
            p = Path(d) / name
            if p.is_file():
                return str(p)
    if bold:
        return _find_font(False)  # a regular face drawn bold is better than no report
    raise ConfigurationError(
        "没有可用的中文字体 / no CJK font found: install fonts-noto-cjk or set YINXIN_CJK_FONT",
        field="font",
    )


@functools.lru_cache(maxsize=4)
def _face_bytes(path: str) -> bytes:
    """One face as a standalone OpenType file: the Simplified-Chinese one of a collection.

    Cached: a server that renders many reports pays the copy once per weight (~16 MB each).
    """
    from fontTools.ttLib import TTCollection, TTFont

    data = Path(path).read_bytes()
    if data[:4] != b"ttcf":
        return data
    coll = TTCollection(BytesIO(data), lazy=True)
    index = 0
    for i, font in enumerate(coll.fonts):
        ps = str(font["name"].getDebugName(6) or "")
        if ps.lower().endswith(("sc-regular", "sc-bold")) or "cjksc" in ps.lower():
            index = i
            break
    face = TTFont(BytesIO(data), fontNumber=index, lazy=True)
    out = BytesIO()
    face.save(out, reorderTables=False)
    return out.getvalue()


@functools.lru_cache(maxsize=4)
def _coverage(path: str) -> frozenset[int]:
    """The code points the face has glyphs for, read once per process."""
    from fontTools.ttLib import TTFont

    return frozenset(TTFont(BytesIO(_face_bytes(path)), lazy=True).getBestCmap())


class _Fonts:
    """The two embedded faces and a per-character width cache for line breaking."""

    def __init__(self, writer: PdfFileWriter, face: Callable[[str], bytes] | None = None):
        """``face(path)`` gives a face's bytes: by default the file's own (``_face_bytes``);
        contracts pass their layout-free copy (``yinxin.contracts.render._plain_face``)."""
        face = face or _face_bytes
        try:
            from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
        except ImportError as e:  # uharfbuzz / fontTools missing
            raise ConfigurationError(
                f"PDF 报告需要 pyHanko 的 opentype 组件 / the PDF report needs pyHanko's opentype"
                f" extra (uharfbuzz, fonttools): {e}",
                field="font",
            ) from None
        regular, bold = _find_font(False), _find_font(True)
        # Each text run is drawn in its own BT/ET, so one engine per face serves every size.
        self.engines = {
            "R": GlyphAccumulator(writer, BytesIO(face(regular)), 10),
            "B": GlyphAccumulator(writer, BytesIO(face(bold)), 10),
        }
        self.fake_bold = bold == regular
        self.covers = {"R": _coverage(regular), "B": _coverage(bold)}
        self._widths: dict[tuple[str, str], float] = {}

    def drawable(self, text: str, face: str) -> str:
        """``text`` with each character the face has no glyph for (an emoji in a signer's
        name) written as its escape: HarfBuzz would give it glyph 0, which the CFF writer
        cannot encode, and the whole report would fail."""
        covers = self.covers[face]
        if all(ord(ch) in covers for ch in text):
            return text
        return "".join(
            ch if ord(ch) in covers else ch.encode("unicode_escape").decode("ascii") for ch in text
        )

    def width(self, text: str, face: str, size: float) -> float:
        total = 0.0
        for ch in text:
            key = (face, ch)
            w = self._widths.get(key)
            if w is None:  # a character without a glyph measures as its drawn escape
                drawn = self.drawable(ch, face)
                w = self._widths[key] = sum(
                    self.engines[face].shape(c, with_actual_text=False).x_advance for c in drawn
                )
            total += w
        return total * size

    def resources(self) -> generic.DictionaryObject:
        return generic.DictionaryObject(
            {pdf_name(f"/F{k}"): e.as_resource() for k, e in self.engines.items()}
        )


# ---------------------------------------------------------------------------------------------
# drawing


@dataclass
class _Canvas:
    fonts: _Fonts
    ops: list[bytes]

    def text(
        self,
        x: float,
        y: float,
        s: str,
        *,
        size: float,
        face: str = "R",
        color: tuple[float, float, float] = (0, 0, 0),
    ) -> None:
        if not s:
            return
        shaped = self.fonts.engines[face].shape(self.fonts.drawable(s, face)).graphics_ops
        mode = b" 2 Tr 0.35 w" if face == "B" and self.fonts.fake_bold else b""
        self.ops.append(
            b"q %.3f %.3f %.3f rg %.3f %.3f %.3f RG BT /F%s %.2f Tf%s %.2f %.2f Td "
            % (*color, *color, face.encode(), size, mode, x, y)
            + shaped
            + b" ET Q"
        )

    def rect(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        *,
        fill=None,
        stroke=(0.6, 0.6, 0.6),
        width: float = 0.5,
    ) -> None:
        parts = [b"q %.2f w" % width]
        if fill:
            parts.append(b"%.3f %.3f %.3f rg" % fill)
        if stroke:
            parts.append(b"%.3f %.3f %.3f RG" % stroke)
        op = b"B" if fill and stroke else (b"f" if fill else b"S")
        parts.append(b"%.2f %.2f %.2f %.2f re %s Q" % (x, y, w, h, op))
        self.ops.append(b" ".join(parts))

    def line(self, x1: float, y1: float, x2: float, y2: float, width: float = 0.8) -> None:
        self.ops.append(
            b"q %.2f w 0.3 0.3 0.3 RG %.2f %.2f m %.2f %.2f l S Q" % (width, x1, y1, x2, y2)
        )


_BREAK_AFTER = set(" ,;/，；、）)]】：:")


def _wrap(fonts: _Fonts, text: str, face: str, size: float, max_w: float) -> list[str]:
    """Greedy line breaking by measured width; CJK may break anywhere, Latin prefers spaces."""
    lines: list[str] = []
    for para in text.split("\n"):
        line, last_break = "", -1  # last_break: index in ``line`` after which we may break
        for ch in para:
            if line and fonts.width(line + ch, face, size) > max_w:
                if 0 <= last_break < len(line) - 1 and not _is_cjk(ch):
                    lines.append(line[: last_break + 1].rstrip())
                    line = line[last_break + 1 :].lstrip()
                else:
                    lines.append(line.rstrip())
                    line = ""
                last_break = -1
                if ch == " " and not line:
                    continue
            line += ch
            if ch in _BREAK_AFTER or _is_cjk(ch):
                last_break = len(line) - 1
        lines.append(line.rstrip())
    return lines or [""]


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x2E80 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0xFF00 <= o <= 0xFFEF


def _rows(s: SignatureReport) -> list[tuple[str, str]]:
    verdict = SIGNATURE_VERDICT_TEXT[s.indication]
    if s.level:
        verdict += f"（{s.level}）"
    extra = [shown(f"· {p}") for p in s.problems]
    rows = [
        (
            "签署人 Signer",
            f"{s.signer_name}（{s.signer_subject}）" if s.signer_subject else s.signer_name or "—",
        ),
        ("角色 Role", s.role or "—"),
        ("印章 Seal", seal_display(s)),
        ("证书序列号 Serial", s.certificate_serial or "—"),
        ("签发机构 Issuer", issuer_display(s) or "—"),
        (
            "签署时间 Signed at",
            f"{_fmt_time(s.signing_time)}（签署人自报 / claimed）" if s.signing_time else "—",
        ),
        ("时间戳 Timestamp", describe_timestamp(s)),
        ("证书状态 Certificate", describe_certificate_status(s)),
        ("文档完整性 Integrity", describe_integrity(s)),
        ("签署后修改 Changes", describe_changes(s)),
    ]
    # the document's text (names, field, TSA, problems) on its own lines of the table only
    return [(label, shown(value)) for label, value in rows] + [
        ("结论 Verdict", "\n".join([verdict, *extra]))
    ]


@dataclass(frozen=True)
class _Card:
    """One signature's table as the page draws it, whatever kind of report it came from: its
    heading (after "签名 n："), outcome, label/value rows (the document's text already through
    ``shown``) and the one line it shrinks to when the page has no room for the table."""

    heading: str
    indication: Indication
    rows: list[tuple[str, str]]
    summary: str


@dataclass(frozen=True)
class _Sheet:
    """The page: titles, the file's facts, the overall outcome, the cards. ``noun`` is what a
    signature is called (签名 for PAdES, 电子签章 for GB/T 38540), ``short`` its heading word."""

    title: str
    subtitle: str
    noun: str
    short: str
    file_name: str
    info: list[tuple[str, str]]
    indication: Indication
    problems: list[str]
    cards: list[_Card]
    # remarks about the file that make nothing invalid (a moment asked about left evidence
    # out), under its problems in grey: said once for the file, not under every signature
    notes: list[str] = field(default_factory=list)


def _pades_card(s: SignatureReport) -> _Card:
    who = "，".join(x for x in (s.role, seal_display(s) if s.seal_name else None) if x)
    when = _fmt_time(s.timestamp_time) if s.timestamp_time else "无时间戳 / no timestamp"
    summary = shown(
        s.signer_name
        + (f"（{who}）" if who else "")
        + f" — {when} — {SIGNATURE_VERDICT_TEXT[s.indication]}"
        + (f"（{s.level}）" if s.level else "")
    )
    return _Card(shown(s.field_name), s.indication, _rows(s), summary)


def _pades_sheet(report: VerificationReport) -> _Sheet:
    count = f"{len(report.signatures)}" + (
        f"（另有文档时间戳 {report.document_timestamps} 个 / document timestamps）"
        if report.document_timestamps
        else ""
    )
    return _Sheet(
        title="电子签名验证报告",
        subtitle="Electronic Signature Verification Report",
        noun="签名",
        short="签名",
        file_name=report.file_name,
        info=[
            ("文件 File", shown(report.file_name)),
            ("SHA-256", report.sha256),
            ("验证时间 Verified at", _fmt_time(report.verified_at)),
            ("签名数量 Signatures", count),
        ],
        indication=report.indication,
        problems=list(report.problems),
        cards=[_pades_card(s) for s in report.signatures],
        notes=list(report.notes),
    )


SEAL_KINDS = {"pdf-ses": "PDF（GB/T 38540 电子签章）", "ofd": "OFD（GB/T 38540 电子签章）"}


def _iso_time(value: object) -> str:
    return _fmt_time(dt.datetime.fromisoformat(str(value))) if value else "—"


def _seal_card(s, kind: str) -> _Card:
    """A signature of a GB/T 38540 PDF (``SesPdfSignature``) or of an OFD
    (``OfdSignatureReport``): seal, signer, times, where, integrity, then every check — its
    detail only where it did not pass."""
    v = s.value or {}
    checks = v.get("checks", [])
    stamp = next((c for c in checks if c.get("name") == "timestamp"), None)
    if v.get("timestamp_time"):
        timestamp = _iso_time(v["timestamp_time"]) + (
            f"（{OUTCOME_WORDS[outcome(stamp)]}）" if stamp is not None else ""
        )
    else:
        timestamp = "无时间戳 / no timestamp"
    if kind == "ofd":
        pages = sorted({st.page for st in s.stamps})
        where = "、".join(f"第 {p} 页" for p in pages) if pages else "—"
        integrity = f"{s.files_protected} 个文件 / files，" + (
            "未能核对摘要 / digests not checked"
            if not s.digests_checked
            else "摘要一致 / all digests match"
            if s.references_ok
            else "摘要不一致 / MISMATCH"
        )
        heading = v.get("seal_name") or s.id
    else:
        where = f"第 {s.page} 页 / page {s.page}" if s.page else "—"
        integrity = (
            bilingual(COVERAGE_WORDS, s.coverage)
            + "；签章后修改 / changes after："
            + bilingual(CHANGE_WORDS, s.changes_after)
        )
        heading = v.get("seal_name") or s.field_name
    lines = []
    for c in checks:
        name = CHECK_NAMES.get(c.get("name", ""), c.get("name", ""))
        said = outcome(c)
        detail = "" if said is Outcome.PASSED else f" — {c.get('detail', '')}"
        lines.append(shown(f"{OUTCOME_WORDS[said]}：{name}{detail}"))  # one line, whatever it says
    rows = [
        (
            "印章 Seal",
            f"{v['seal_name']}（印章编码 {v.get('es_id') or '—'}）" if v.get("seal_name") else "—",
        ),
        (
            "签章人 Signer",
            f"{v['signer']}（证书序列号 {v.get('signer_serial') or '—'}）"
            if v.get("signer")
            else "—",
        ),
        (
            "签章时间 Signed at",
            f"{_iso_time(v['time_info'])}（签章人自报 / claimed）" if v.get("time_info") else "—",
        ),
        ("时间戳 Timestamp", timestamp),
        ("印章位置 Stamp", where),
        ("文件完整性 Integrity", integrity),
    ]
    verdict = SIGNATURE_VERDICT_TEXT[s.indication]
    extra = [f"· {p}" for p in s.problems]
    summary = f"{heading} — {v.get('signer') or '—'} — {_iso_time(v.get('time_info'))} — {verdict}"
    return _Card(
        shown(heading),
        s.indication,
        [(label, shown(value)) for label, value in rows]
        + [("检查项 Checks", "\n".join(lines) or "—")]
        + [("结论 Verdict", "\n".join([verdict, *map(shown, extra)]))],
        shown(summary),
    )


def _seal_sheet(report) -> _Sheet:
    """An OFD's (``OfdFileReport``) or a GB/T 38540 PDF's (``SesPdfReport``) page."""
    problems = list(report.problems)
    if report.kind == "pdf-ses":
        problems += list(report.notes)
    return _Sheet(
        title="电子签章验证报告",
        subtitle="Electronic Seal Signature Verification Report (GB/T 38540)",
        noun="电子签章",
        short="签章",
        file_name=report.file_name,
        info=[
            ("文件 File", shown(report.file_name)),
            ("文件类型 Kind", SEAL_KINDS.get(report.kind, report.kind)),
            ("SHA-256", report.sha256),
            ("验证时间 Verified at", _fmt_time(report.verified_at)),
            ("签章数量 Seal signatures", str(len(report.signatures))),
        ],
        indication=report.indication,
        problems=problems,
        cards=[_seal_card(s, report.kind) for s in report.signatures],
    )


@dataclass
class _Style:
    body: float
    leading: float
    head: float

    @classmethod
    def steps(cls) -> Iterator[_Style]:
        for body in (9.0, 8.5, 8.0, 7.5, 7.0, 6.5, 6.0):
            yield cls(body, body * 1.32, body + 1.5)


def _heading(fonts: _Fonts, card: _Card, number: str, st: _Style, width: float) -> list[str]:
    """A table's heading, "签名 1：<field name> — <verdict>", wrapped to the page's width: the
    field name is the document's, of any length, and unwrapped a long one pushed the
    signature's verdict off the page."""
    head = f"{number}：{card.heading} — {SIGNATURE_VERDICT_TEXT[card.indication]}"
    return _wrap(fonts, head, "B", st.head, width)


# what the heights are reckoned with: as wide as any table's number ("签名 1" … "签章 99")
_ANY_NUMBER = "签名 00"


def _table_height(fonts: _Fonts, card: _Card, st: _Style, width: float) -> float:
    heading = _heading(fonts, card, _ANY_NUMBER, st, width)
    h = st.head * 1.9 + (len(heading) - 1) * st.head * 1.3  # heading lines
    for label, value in card.rows:
        face = "B" if label.startswith("结论") else "R"
        n = max(
            len(_wrap(fonts, value, face, st.body, width - LABEL_W - 2 * PAD)),
            len(_wrap(fonts, label, "R", st.body, LABEL_W - 2 * PAD)),
        )
        h += n * st.leading + 2 * PAD
    return h + 10


def render_report_pdf(report) -> bytes:
    """One A4 page: title, file and hash, overall verdict, one table per signature — for a
    PAdES ``VerificationReport``, and for the GB/T 38540 reports (``kind`` ``pdf-ses``, a
    ``SesPdfReport``; ``ofd``, an ``OfdFileReport``), whose tables list every check."""
    kind = getattr(report, "kind", "pdf")
    return _render(_pades_sheet(report) if kind == "pdf" else _seal_sheet(report))


def _render(sheet: _Sheet) -> bytes:
    w = PdfFileWriter()
    w.document_meta.title = f"{sheet.title} — {shown(sheet.file_name)}"
    w.document_meta.creator = "Yinxin 印信"
    fonts = _Fonts(w)
    c = _Canvas(fonts, [])
    page_w, page_h = A4
    x0, width = MARGIN, page_w - 2 * MARGIN
    y = page_h - MARGIN

    # title and file
    title = sheet.title
    c.text(x0 + (width - fonts.width(title, "B", 20)) / 2, y - 20, title, size=20, face="B")
    sub = sheet.subtitle
    c.text(
        x0 + (width - fonts.width(sub, "R", 10)) / 2, y - 36, sub, size=10, color=(0.3, 0.3, 0.3)
    )
    y -= 50
    c.line(x0, y, x0 + width, y)
    y -= 16
    for label, value in sheet.info:
        c.text(x0, y, label, size=9, color=(0.3, 0.3, 0.3))
        for i, ln in enumerate(_wrap(fonts, value, "R", 9, width - LABEL_W)):
            c.text(x0 + LABEL_W, y - i * 12, ln, size=9)
            if i:
                y -= 12
        y -= 14

    # overall verdict, bold
    verdict = (
        "总体结论 / Overall："
        + {
            Indication.PASSED: f"有效 VALID — 全部{sheet.noun}验证通过",
            Indication.FAILED: "无效 INVALID",
            Indication.INDETERMINATE: "无法确定 INDETERMINATE — 未发现篡改，但证据不足以证明有效",
        }[sheet.indication]
    )
    # within the margins: INDETERMINATE's line is wider than the page's text (548 pt of 499)
    # and ran to the paper's edge, where a printer cuts "证明有效" off; its explanation after
    # " — " goes on a line of its own (and any line still too wide is wrapped)
    parts = [verdict]
    if fonts.width(verdict, "B", 14) > width and " — " in verdict:
        head, why = verdict.split(" — ", 1)
        parts = [head, "— " + why]
    for i, ln in enumerate(ln for part in parts for ln in _wrap(fonts, part, "B", 14, width)):
        y -= 18 if i else 14
        c.text(x0, y, ln, size=14, face="B", color=TONE[sheet.indication])
    y -= 8
    # the file's problems take the room left above the signatures (the first two tables at the
    # smallest size, at most half the page): a package with eighty unprotected files drew all
    # eighty past the footer and off the page, the signatures' tables with them
    footer_h = 30.0
    cards = sheet.cards
    styles = list(_Style.steps())
    tables = sum(_table_height(fonts, card, styles[-1], width) for card in cards[:2])
    keep = MARGIN + footer_h + 14 + min(tables, A4[1] / 2)
    said = [(p, RED) for p in sheet.problems] + [(n, NOTE_GREY) for n in sheet.notes]
    lines = [(_wrap(fonts, shown("· " + p), "R", 9, width), tone) for p, tone in said]
    room = int((y - keep) // 12)
    if sum(len(wrapped) for wrapped, _ in lines) > room:
        drawn: list[tuple[list[str], tuple[float, float, float]]] = []
        for wrapped, tone in lines:
            if sum(len(w) for w, _ in drawn) + len(wrapped) > room - 2:  # two for the count
                break
            drawn.append((wrapped, tone))
        more = len(lines) - len(drawn)
        note = (
            f"· 另有 {more} 条问题未列出，详见 JSON 报告 / {more} more problem(s) not shown;"
            " see the JSON report"
        )
        lines = [*drawn, (_wrap(fonts, note, "R", 9, width), RED)]
    for wrapped, tone in lines:
        for ln in wrapped:
            y -= 12
            c.text(x0, y, ln, size=9, color=tone)
    y -= 14

    # signature tables: shrink until they fit; signatures that still do not fit get one
    # summary line each, and if even those do not fit, a count pointing at the JSON report
    avail = y - MARGIN - footer_h
    chosen, tabled = styles[-1], 0
    for st in styles:
        heights = [_table_height(fonts, card, st, width) for card in cards]
        if sum(heights) <= avail:
            chosen, tabled = st, len(cards)
            break
    else:
        # too many for full tables: the largest size that still shows two in full
        for st in styles:
            heights = [_table_height(fonts, card, st, width) for card in cards]
            k = _fit(heights, st.leading + 1, avail)
            chosen, tabled = st, k
            if k >= min(2, len(cards)):
                break
    for i, card in enumerate(cards[:tabled], 1):
        y = _draw_table(c, fonts, card, f"{sheet.short} {i}", chosen, x0, y, width)
    rest = cards[tabled:]
    room = int(max(0.0, y - MARGIN - footer_h - 14) // (chosen.leading + 1))
    listed = rest if len(rest) <= room else rest[: max(0, room - 1)]
    for i, card in enumerate(listed, tabled + 1):
        y -= chosen.leading + 1
        tone = (0, 0, 0) if card.indication is Indication.PASSED else TONE[card.indication]
        line = _one_line(fonts, f"{sheet.short} {i}：{card.summary}", chosen.body, width)
        c.text(x0, y, line, size=chosen.body, color=tone)
    if len(listed) < len(rest):
        more = len(rest) - len(listed)
        c.text(
            x0,
            y - chosen.leading - 2,
            f"另有 {more} 个{sheet.noun}未列出，详见 JSON 报告 / {more}"
            f" more signature(s) not shown; see the JSON report",
            size=chosen.body,
            color=RED,
        )

    # footer
    foot = (
        "本报告依据文件本身所含的签名、时间戳与吊销信息及所列信任根生成 / generated by Yinxin"
        " from the file itself and the given trust roots"
    )
    for i, ln in enumerate(_wrap(fonts, foot, "R", 7, width)):
        c.text(x0, MARGIN - 4 - i * 9 + 9, ln, size=7, color=(0.45, 0.45, 0.45))

    stream = generic.StreamObject(stream_data=b"\n".join(c.ops))
    stream.compress()
    res = generic.DictionaryObject({pdf_name("/Font"): fonts.resources()})
    w.insert_page(PageObject(w.add_object(stream), (0, 0, page_w, page_h), res))
    out = BytesIO()
    w.write(out)
    return out.getvalue()


def _one_line(fonts: _Fonts, text: str, size: float, width: float) -> str:
    """A signature's summary line ("签名 n：<names> — <time> — <verdict>") within ``width``:
    the room is counted in lines, so it is not wrapped; the names (its first part) give way,
    cut with "…", never the time or the verdict after them (the last two parts: a name, the
    document's, may hold " — " itself). Drawn whole, a company's name and its seal's ran the
    verdict off the page."""
    if fonts.width(text, "R", size) <= width or " — " not in text:
        return text
    names, *rest = text.rsplit(" — ", 2)
    tail = "… — " + " — ".join(rest)
    while names and fonts.width(names + tail, "R", size) > width:
        names = names[:-1]
    return names + tail


def _fit(heights: list[float], line_h: float, avail: float) -> int:
    """How many full tables fit when every other signature takes one summary line."""
    for k in range(len(heights), -1, -1):
        if sum(heights[:k]) + (len(heights) - k) * line_h + 14 <= avail:
            return k
    return 0


def _draw_table(
    c: _Canvas,
    fonts: _Fonts,
    card: _Card,
    number: str,
    st: _Style,
    x0: float,
    y: float,
    width: float,
) -> float:
    tone = TONE[card.indication]
    for i, ln in enumerate(_heading(fonts, card, number, st, width)):
        if i:
            y -= st.head * 1.3
        c.text(x0, y - st.head, ln, size=st.head, face="B", color=tone)
    y -= st.head * 1.9
    for label, value in card.rows:
        is_verdict = label.startswith("结论")
        face = "B" if is_verdict else "R"
        vlines = _wrap(fonts, value, face, st.body, width - LABEL_W - 2 * PAD)
        llines = _wrap(fonts, label, "R", st.body, LABEL_W - 2 * PAD)
        h = max(len(vlines), len(llines)) * st.leading + 2 * PAD
        c.rect(x0, y - h, LABEL_W, h, fill=GREY_FILL)
        c.rect(x0 + LABEL_W, y - h, width - LABEL_W, h)
        base = y - PAD - st.body
        for i, ln in enumerate(llines):
            c.text(x0 + PAD, base - i * st.leading, ln, size=st.body, color=(0.2, 0.2, 0.2))
        for i, ln in enumerate(vlines):
            color = tone if is_verdict else (0, 0, 0)
            c.text(
                x0 + LABEL_W + PAD,
                base - i * st.leading,
                ln,
                size=st.body,
                face=face if i == 0 else "R",
                color=color,
            )
        y -= h
    return y - 10


__all__ = ["SEAL_KINDS", "render_report_pdf"]
