"""Reading the page tree and appending one incremental update to a PDF we did not write.

pyHanko's reader parses (it copes with xref streams, object streams, hybrid files, broken
offsets); the update itself is written here. A signature update adds a handful of objects and
rewrites one or two, so serialising them directly is cheaper than pyHanko's general writer,
and it lets the signer know exactly where ``/ByteRange`` and ``/Contents`` land. The update uses
the same kind of cross-reference section as the revision before it (a table after a table, a
stream after a stream), as ISO 32000-2 §7.5.6 asks of incremental updates.
"""

from __future__ import annotations

import io
import os
import zlib
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

_INHERITED = ("/MediaBox", "/CropBox", "/Rotate", "/Resources")


def dget(d, key: str, default=None):
    """``d[key]`` dereferenced (pyHanko's ``dict.get`` returns indirect references as-is)."""
    try:
        return d[key]
    except (KeyError, TypeError):
        return default


@dataclass
class Page:
    index: int  # 0-based
    ref: generic.Reference
    obj: generic.DictionaryObject
    mediabox: tuple[float, float, float, float]
    cropbox: tuple[float, float, float, float]
    rotate: int
    resources: generic.DictionaryObject
    # /UserUnit (PDF 1.6): points per user-space unit on this page, 1 unless it says otherwise;
    # Acrobat and MuPDF show the page that much larger (poppler ignores it)
    user_unit: float = 1.0

    @property
    def box(self) -> tuple[float, float, float, float]:
        """The visible area: CropBox clipped to MediaBox, as (x0, y0, x1, y1)."""
        m, c = self.mediabox, self.cropbox
        box = (max(m[0], c[0]), max(m[1], c[1]), min(m[2], c[2]), min(m[3], c[3]))
        return box if box[2] > box[0] and box[3] > box[1] else m


# Far beyond PDF's own page limit (14,400 units, ISO 32000 annex C): a rectangle past it is a
# hostile or broken file's, treated as absent (an integer of 400 digits raised OverflowError).
_MAX_UNITS = 1e6


def _rect(value) -> tuple[float, float, float, float] | None:
    try:
        x0, y0, x1, y1 = (float(v) for v in value)
    except (TypeError, ValueError, OverflowError):
        return None
    if not all(abs(v) <= _MAX_UNITS for v in (x0, y0, x1, y1)):  # also false for nan
        return None
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _is_leaf(node: generic.DictionaryObject) -> bool:
    kind = dget(node, "/Type")
    return not (kind == "/Pages" or (kind is None and "/Kids" in node))


def _inherit(node: generic.DictionaryObject, attrs: dict) -> dict:
    out = dict(attrs)
    for key in _INHERITED:
        if key in node:
            out[key] = node[key]
    return out


def _make_page(index: int, ref, node, attrs: dict) -> Page:
    media = _rect(attrs.get("/MediaBox")) or (0.0, 0.0, 595.0, 842.0)
    crop = _rect(attrs.get("/CropBox")) or media
    try:
        rotate = int(attrs.get("/Rotate", 0) or 0) % 360
    except (TypeError, ValueError):
        rotate = 0
    if rotate % 90:
        rotate = 0
    resources = attrs.get("/Resources")
    if not isinstance(resources, generic.DictionaryObject):
        resources = generic.DictionaryObject()
    try:  # not inheritable (ISO 32000-2 table 31); a nonsense value is read as absent
        unit = float(dget(node, "/UserUnit", 1.0))
    except (TypeError, ValueError, OverflowError):
        unit = 1.0
    if not 0.01 <= unit <= 1000:  # also false for nan
        unit = 1.0
    return Page(index, ref.reference, node, media, crop, rotate, resources, unit)


class PageTree:
    """The document's pages, found on demand.

    Signing usually needs one page (the last, or a numbered one); parsing every page object
    of a long contract to find it costs more than the signature. ``tree[i]`` descends using
    the ``/Count`` of each node and parses only the nodes on the way; iterating walks all.
    Inconsistent ``/Count`` values fall back to the full walk.
    """

    def __init__(self, reader: PdfFileReader):
        self.reader = reader
        self.root_ref = reader.root.raw_get("/Pages")
        if not isinstance(self.root_ref, generic.IndirectObject):
            raise ValueError("/Pages is not an indirect object")
        node = self.root_ref.get_object()
        if not isinstance(node, generic.DictionaryObject):
            raise ValueError("/Pages is not a dictionary")
        if _is_leaf(node):
            self.count = 1
        else:
            self.count = int(dget(node, "/Count", 0))
        if self.count < 0:
            raise ValueError("negative page count")
        self._all: list[Page] | None = None

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        return iter(self.all())

    def all(self) -> list[Page]:
        if self._all is None:
            self._all = list_pages(self.reader)
            self.count = len(self._all)
        return self._all

    def __getitem__(self, index: int) -> Page:
        if self._all is not None:
            return self._all[index]
        try:
            return self._descend(index)
        except (ValueError, TypeError, KeyError, IndexError):
            return self.all()[index]

    def _descend(self, index: int) -> Page:
        ref = self.root_ref
        attrs: dict = {}
        wanted = index
        for _depth in range(64):
            node = ref.get_object()
            attrs = _inherit(node, attrs)
            if _is_leaf(node):
                if index != 0:
                    raise ValueError("page tree /Count is inconsistent")
                return _make_page(wanted, ref, node, attrs)
            kids = list(node.raw_get("/Kids"))
            if int(dget(node, "/Count", -1)) == len(kids):
                candidate = kids[index]
                cand = candidate.get_object()
                if isinstance(cand, generic.DictionaryObject) and _is_leaf(cand):
                    return _make_page(wanted, candidate, cand, _inherit(cand, attrs))
            for kid in kids:
                kid_obj = kid.get_object()
                size = 1 if _is_leaf(kid_obj) else int(dget(kid_obj, "/Count", 0))
                if index < size:
                    ref = kid
                    break
                index -= size
            else:
                raise ValueError("page index beyond the page tree")
        raise ValueError("page tree too deep")


def list_pages(reader: PdfFileReader) -> list[Page]:
    """All pages in order, with inherited attributes resolved; cycles are refused."""
    out: list[Page] = []
    root_ref = reader.root.raw_get("/Pages")
    seen: set = set()

    def walk(ref, inherited: dict) -> None:
        if not isinstance(ref, generic.IndirectObject):
            raise ValueError("page tree node is not an indirect object")
        if ref.reference in seen:
            raise ValueError("page tree has a cycle")
        seen.add(ref.reference)
        node = ref.get_object()
        if not isinstance(node, generic.DictionaryObject):
            raise ValueError("page tree node is not a dictionary")
        attrs = _inherit(node, inherited)
        if not _is_leaf(node):
            for kid in dget(node, "/Kids", []):
                walk(kid, attrs)
            return
        out.append(_make_page(len(out), ref, node, attrs))

    walk(root_ref, {})
    return out


def page_content(page: Page) -> bytes:
    contents = dget(page.obj, "/Contents")
    if contents is None:
        return b""
    if isinstance(contents, generic.StreamObject):
        return contents.data
    parts = []
    for item in contents:
        obj = item.get_object()
        if isinstance(obj, generic.StreamObject):
            parts.append(obj.data)
    return b"\n".join(parts)


def serialise(obj: generic.PdfObject) -> bytes:
    buf = io.BytesIO()
    obj.write_to_stream(buf, None)
    return buf.getvalue()


class Update:
    """Objects for one incremental update, rendered after the bytes of the previous revision."""

    def __init__(self, reader: PdfFileReader, base_length: int):
        self.reader = reader
        self.base_length = base_length
        self.next_num = int(reader.trailer["/Size"])
        self.objects: dict[int, tuple[int, bytes]] = {}  # num -> (generation, body)
        self.stream_xref = bool(reader.has_xref_stream)

    def new(self) -> int:
        num = self.next_num
        self.next_num += 1
        return num

    def put(self, num: int, body: bytes, generation: int = 0) -> None:
        self.objects[num] = (generation, body)

    def put_obj(self, num: int, obj: generic.PdfObject, generation: int = 0) -> None:
        self.put(num, serialise(obj), generation)

    def replace(self, ref: generic.Reference, obj: generic.PdfObject) -> None:
        self.put_obj(ref.idnum, obj, ref.generation)

    def add(self, body: bytes) -> int:
        num = self.new()
        self.put(num, body)
        return num

    def add_stream(self, dictionary: bytes, data: bytes, *, compress: bool = False) -> int:
        """``dictionary`` is the inside of ``<< >>`` without ``/Length`` (and ``/Filter``)."""
        if compress:
            data = zlib.compress(data, 6)
            dictionary += b" /Filter /FlateDecode"
        return self.add(
            b"<<" + dictionary + b" /Length %d>>\nstream\n" % len(data) + data + b"\nendstream"
        )

    def render(self, lead: bytes = b"") -> tuple[bytes, dict[int, int]]:
        """The update's bytes, and each object's offset *within them* (after ``lead``)."""
        reader = self.reader
        out = bytearray(lead)
        offsets: dict[int, int] = {}
        for num in sorted(self.objects):
            generation, body = self.objects[num]
            offsets[num] = len(out)
            out += b"%d %d obj\n" % (num, generation) + body + b"\nendobj\n"
        trailer = reader.trailer
        entries = [b"/Root " + serialise(trailer.raw_get("/Root"))]
        if "/Info" in trailer:
            entries.append(b"/Info " + serialise(trailer.raw_get("/Info")))
        try:
            first_id = trailer["/ID"][0]
            first = bytes(getattr(first_id, "original_bytes", first_id))
        except (KeyError, IndexError, TypeError):
            first = os.urandom(16)
        entries.append(b"/ID [<%s> <%s>]" % (first.hex().encode(), os.urandom(16).hex().encode()))
        entries.append(b"/Prev %d" % reader.last_startxref)
        xref_at = len(out)
        nums = sorted(offsets)
        base = self.base_length
        if self.stream_xref:
            xnum = self.new()
            nums.append(xnum)
            offsets[xnum] = xref_at
            rows = b"".join(
                b"\x01"
                + (base + offsets[n]).to_bytes(5, "big")
                + self.objects.get(n, (0, b""))[0].to_bytes(2, "big")
                for n in nums
            )
            index = b" ".join(b"%d %d" % run for run in _runs(nums))
            data = zlib.compress(rows, 6)
            out += (
                b"%d 0 obj\n<</Type /XRef /Size %d /W [1 5 2] /Index [%s] %s"
                b" /Filter /FlateDecode /Length %d>>\nstream\n"
                % (xnum, self.next_num, index, b" ".join(entries), len(data))
                + data
                + b"\nendstream\nendobj\n"
            )
        else:
            out += b"xref\n"
            for start, count in _runs(nums):
                out += b"%d %d\n" % (start, count)
                for n in range(start, start + count):
                    out += b"%010d %05d n\r\n" % (base + offsets[n], self.objects[n][0])
            out += b"trailer\n<</Size %d %s>>\n" % (self.next_num, b" ".join(entries))
        out += b"startxref\n%d\n%%%%EOF\n" % (base + xref_at)
        return bytes(out), offsets


def _runs(nums: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for n in nums:
        if runs and runs[-1][0] + runs[-1][1] == n:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((n, 1))
    return runs
