"""Deterministic mutations of signed PDFs for the verifier fuzz run (issue 9, item 12).

Each mutator takes the original bytes and a seeded ``random.Random`` and returns the mutated
bytes (or ``None`` when it does not apply to this file). Mutations aim where a verifier's
parsing is most exposed: the signed ranges and the ``/Contents`` holes between them, the
``/ByteRange`` arrays, cross-reference sections (classic tables and streams), object streams,
the Document Security Store, numbers and names anywhere (object numbers, lengths, offsets,
``/Kids`` and ``/Parent`` links that can be turned into cycles), truncation and splices.

Whether a mutation tampered with signed bytes is decided afterwards, from the bytes alone
(:func:`tampered`), not from what the mutator meant to do: a mutator may miss, shift, or hit
more than it aimed at.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")
CONTENTS_HEX = re.compile(rb"/Contents\s*<([0-9A-Fa-f]*)>")
NUMBER = re.compile(rb"(?<![0-9A-Za-z./#])-?\d+(?![0-9A-Za-z.])")
NAME = re.compile(rb"/[A-Za-z][A-Za-z0-9]*")
# (?<!\d): a match starts only at the start of a digit run, or the zero-padded /Contents strings
# (kilobytes of digits) make every scan quadratic
REF = re.compile(rb"(?<!\d)(\d+)\s+(\d+)\s+R\b")
XREF_TABLE = re.compile(rb"\bxref\s*\r?\n.*?(?=\btrailer\b)", re.S)
TYPE_XREF = re.compile(rb"/Type\s*/XRef\b")
TYPE_OBJSTM = re.compile(rb"/Type\s*/ObjStm\b")
OBJ_HEADER = re.compile(rb"(?<!\d)\d+\s+\d+\s+obj\b")
STREAM_DATA = re.compile(rb"stream\r?\n(.*?)endstream", re.S)
DSS_REF = re.compile(rb"/DSS\s+(\d+)\s+0\s+R")
EOF = re.compile(rb"%%EOF\r?\n?")


@dataclass(frozen=True)
class Layout:
    """Where a file's signatures put their signed bytes, and the ``/Contents`` holes."""

    ranges: list[tuple[int, int]]  # [start, end) of every signed stretch, all signatures
    holes: list[tuple[int, int]]  # [start, end) of every /Contents hex string, with <>
    # per signature (and document timestamp): where its /ByteRange entry is, its two stretches
    signatures: list[tuple[int, list[tuple[int, int]]]]

    @classmethod
    def of(cls, pdf: bytes) -> Layout:
        ranges, holes, signatures = [], [], []
        for m in BYTE_RANGE.finditer(pdf):
            a, b, c, d = (int(x) for x in m.groups())
            mine = [(a, a + b), (c, c + d)]
            ranges += mine
            holes.append((a + b, c))
            signatures.append((m.start(), mine))
        return cls(ranges, holes, signatures)


def tampered(original: bytes, mutated: bytes, layout: Layout) -> tuple[int, ...]:
    """The signatures (indices into ``layout.signatures``, file order) whose signed bytes
    changed or went missing.

    A signature whose dictionary is cut off with the end of the file is not tampered with but
    gone: the file is then an earlier version. Every other change of a signed byte counts.
    """
    return tuple(
        i
        for i, (at, stretches) in enumerate(layout.signatures)
        if at < len(mutated) and any(original[s:e] != mutated[s:e] for s, e in stretches)
    )


def _flip(data: bytearray, pos: int, rng: random.Random) -> None:
    data[pos] ^= rng.randrange(1, 256)


def _pick(rng: random.Random, spans: list[tuple[int, int]]) -> int | None:
    spans = [(s, e) for s, e in spans if e > s]
    if not spans:
        return None
    s, e = rng.choice(spans)
    return rng.randrange(s, e)


def _replace(pdf: bytes, start: int, end: int, new: bytes) -> bytes:
    return pdf[:start] + new + pdf[end:]


# --- byte flips -------------------------------------------------------------------------------
def flip_signed(pdf: bytes, rng: random.Random) -> bytes | None:
    """One byte inside a signed range."""
    pos = _pick(rng, Layout.of(pdf).ranges)
    if pos is None:
        return None
    out = bytearray(pdf)
    _flip(out, pos, rng)
    return bytes(out)


def flip_hole(pdf: bytes, rng: random.Random) -> bytes | None:
    """One byte inside a /Contents hex string (outside every signed range of its signature)."""
    pos = _pick(rng, Layout.of(pdf).holes)
    if pos is None:
        return None
    out = bytearray(pdf)
    out[pos] = rng.choice(b"0123456789abcdefABCDEFxz \n<>()")
    return bytes(out)


def flip_unsigned(pdf: bytes, rng: random.Random) -> bytes | None:
    """One byte after the last signed range (DSS revisions no timestamp covers yet)."""
    end = max((e for _s, e in Layout.of(pdf).ranges), default=0)
    if end >= len(pdf):
        return None
    out = bytearray(pdf)
    _flip(out, rng.randrange(end, len(pdf)), rng)
    return bytes(out)


def random_bits(pdf: bytes, rng: random.Random) -> bytes:
    """A handful of single-bit flips anywhere."""
    out = bytearray(pdf)
    for _ in range(rng.randint(1, 12)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def random_bytes(pdf: bytes, rng: random.Random) -> bytes:
    """A burst of random bytes overwriting a random stretch."""
    pos = rng.randrange(len(pdf))
    n = rng.randint(1, 64)
    return pdf[:pos] + rng.randbytes(n) + pdf[pos + n :]


# --- structure ----------------------------------------------------------------------------------
def truncate(pdf: bytes, rng: random.Random) -> bytes:
    """Cut the file anywhere, or just before/after one of its %%EOF markers."""
    eofs = [m.end() for m in EOF.finditer(pdf)]
    if eofs and rng.random() < 0.4:
        at = rng.choice(eofs) + rng.choice((-7, -3, -1, 0, 1))
    else:
        at = rng.randrange(len(pdf))
    return pdf[: max(0, at)]


def _objects_typed(pdf: bytes, type_re: re.Pattern[bytes]) -> list[tuple[int, int]]:
    """[start, end) of every indirect object whose dictionary has this /Type: found from the
    /Type entry back to its "N G obj" header and on to "endobj" (a regex spanning a whole
    object from every header costs seconds a file)."""
    spans = []
    for m in type_re.finditer(pdf):
        window = max(0, m.start() - 2048)
        headers = list(OBJ_HEADER.finditer(pdf, window, m.start()))
        end = pdf.find(b"endobj", m.end())
        if headers and end > 0:
            spans.append((headers[-1].start(), end + len(b"endobj")))
    return spans


@functools.lru_cache(maxsize=8)
def _xref_sections(pdf: bytes) -> list[tuple[int, int]]:
    return [m.span() for m in XREF_TABLE.finditer(pdf)] + _objects_typed(pdf, TYPE_XREF)


@functools.lru_cache(maxsize=8)
def _references(pdf: bytes) -> list[bytes]:
    """Object numbers used in "N G R" references anywhere in the file."""
    return [m[0] for m in REF.findall(pdf)]


@functools.lru_cache(maxsize=8)
def _link_spans(pdf: bytes) -> list[tuple[int, int]]:
    """The values (a reference or an array) of the structural keys in ``_LINK_KEYS``."""
    spans = []
    for key in _LINK_KEYS:
        for m in re.finditer(re.escape(key) + rb"\s*(\[[^\]]*\]|\d+\s+\d+\s+R)", pdf):
            spans.append(m.span(1))
    return spans


def duplicate_xref(pdf: bytes, rng: random.Random) -> bytes | None:
    """Copy one cross-reference section (table or stream) somewhere else: after itself, at
    the end of the file, or over another one."""
    sections = _xref_sections(pdf)
    if not sections:
        return None
    s, e = rng.choice(sections)
    chunk = pdf[s:e]
    where = rng.randrange(3)
    if where == 0:
        return pdf[:e] + b"\n" + chunk + pdf[e:]
    if where == 1:
        return pdf + b"\n" + chunk + b"\ntrailer\n<< /Size 3 >>\nstartxref\n%d\n%%%%EOF\n" % s
    s2, e2 = rng.choice(sections)
    return _replace(pdf, s2, e2, chunk)


def remove_xref(pdf: bytes, rng: random.Random) -> bytes | None:
    """Delete one cross-reference section, or blank it with spaces (offsets kept)."""
    sections = _xref_sections(pdf)
    if not sections:
        return None
    s, e = rng.choice(sections)
    if rng.random() < 0.5:
        return _replace(pdf, s, e, b"")
    return _replace(pdf, s, e, b" " * (e - s))


def mangle_byte_range(pdf: bytes, rng: random.Random) -> bytes | None:
    """Rewrite one /ByteRange: shifted, swapped, negative, huge, overlapping the hole, short,
    or not numbers at all."""
    ms = list(BYTE_RANGE.finditer(pdf))
    if not ms:
        return None
    m = rng.choice(ms)
    a, b, c, d = (int(x) for x in m.groups())
    n = len(pdf)
    choice = rng.choice(
        [
            [a, b + 1, c, d],
            [a, b, c - 1, d + 1],
            [c, d, a, b],
            [a, -b, c, d],
            [a, b, c, 10**12],
            [a, c + d, 0, 0],
            [0, n, 0, 0],
            [a, b, c],
            [a, b, c, d, a, b],
            [a + 1, b - 1, c, d],
            [a, b, c, d - 1],
            [0, 0, 0, 0],
            [a, b, b, d],
        ]
        + [[rng.randrange(n), rng.randrange(n), rng.randrange(n), rng.randrange(n)]]
    )
    text = b"/ByteRange [" + b" ".join(str(x).encode() for x in choice) + b"]"
    if rng.random() < 0.15:
        text = rng.choice(
            [
                b"/ByteRange 5 0 R",
                b"/ByteRange (abc)",
                b"/ByteRange [/a /b]",
                b"/ByteRange [0 1.5 2 3]",
                b"/ByteRange []",
            ]
        )
    old_len = m.end() - m.start()
    if len(text) < old_len:  # keep the length where we can, so only this entry changes
        text = text + b" " * (old_len - len(text))
    return _replace(pdf, m.start(), m.end(), text)


def mangle_contents(pdf: bytes, rng: random.Random) -> bytes | None:
    """Rewrite one /Contents hex string: emptied, cut, odd length, non-hex, random DER-ish
    bytes, zeroed, or another signature's value."""
    ms = list(CONTENTS_HEX.finditer(pdf))
    if not ms:
        return None
    m = rng.choice(ms)
    hexs = m.group(1)
    n = len(hexs)
    kind = rng.randrange(8)
    if kind == 0:
        new = b""
    elif kind == 1:
        new = hexs[: rng.randrange(n)] if n else b""
    elif kind == 2:
        new = hexs[:-1] if n else b"0"
    elif kind == 3:
        new = hexs[: n // 2] + b"zz" + hexs[n // 2 + 2 :]
    elif kind == 4:
        new = (b"30" + rng.randbytes(n // 2 - 1).hex().encode())[:n]
    elif kind == 5:
        new = b"0" * n
    elif kind == 6:
        other = rng.choice(ms).group(1)
        new = (other + b"0" * n)[:n]
    else:  # a valid prefix with the length field of the outer SEQUENCE changed
        new = hexs[:4] + b"ff" + hexs[6:]
    return _replace(pdf, m.start(1), m.end(1), new)


def _dss_body(pdf: bytes) -> tuple[int, int] | None:
    refs = DSS_REF.findall(pdf)
    if not refs:
        return None
    m = _last_object(pdf, refs[-1])
    return (m.start(1), m.end(1)) if m else None


def _last_object(pdf: bytes, num: bytes) -> re.Match[bytes] | None:
    """The newest definition of object ``num`` (an incremental update may redefine it)."""
    found = list(re.finditer(rb"(?<!\d)" + num + rb"\s+0\s+obj(.*?)endobj", pdf, re.S))
    return found[-1] if found else None


def mangle_dss(pdf: bytes, rng: random.Random) -> bytes | None:
    """Corrupt the newest DSS dictionary or one of the streams it lists."""
    span = _dss_body(pdf)
    if span is None:
        return None
    s, e = span
    body = pdf[s:e]
    kind = rng.randrange(6)
    if kind == 0:  # an entry renamed or retyped
        key = rng.choice([b"/OCSPs", b"/Certs", b"/CRLs", b"/VRI"])
        new = body.replace(key + b" [", key + rng.choice([b" 7 ", b" (x) [", b" << >> ["]), 1)
    elif kind == 1:  # references to objects that do not exist, or to the catalog
        new = re.sub(
            rb"\d+ 0 R",
            lambda _m: rng.choice([b"99999 0 R", b"1 0 R", b"0 0 R"]),
            body,
            count=rng.randint(1, 4),
        )
    elif kind == 2:  # the dictionary replaced by something else
        new = rng.choice([b" null ", b" [1 2 3] ", b" << /OCSPs 5 >> ", b" (DSS) "])
    elif kind == 3:  # a stream it lists, with bytes of its data flipped
        refs = REF.findall(body)
        if not refs:
            return None
        num = rng.choice(refs)[0]
        obj = _last_object(pdf, num)
        sd = STREAM_DATA.search(pdf, obj.start(), obj.end()) if obj else None
        if sd is None or sd.end(1) <= sd.start(1):
            return None
        out = bytearray(pdf)
        for _ in range(rng.randint(1, 6)):
            _flip(out, rng.randrange(sd.start(1), sd.end(1)), rng)
        return bytes(out)
    elif kind == 4:  # a nested /VRI with junk
        new = body.replace(b"<<", b"<< /VRI << /ABCD << /OCSP [1 0 R] /TU (x) >> >>", 1)
    else:  # keys dropped
        new = re.sub(rb"/(OCSPs|Certs|CRLs)", b"/Nope", body)
    if new == body:
        return None
    return _replace(pdf, s, e, new)


def mangle_object_streams(pdf: bytes, rng: random.Random) -> bytes | None:
    """Corrupt an object stream or a cross-reference stream: its data, /N, /First, /W,
    /Index, /Size or /Prev."""
    spans = _objects_typed(pdf, TYPE_OBJSTM) + _xref_sections(pdf)
    spans = [(s, e) for s, e in spans if pdf[s:e].rstrip().endswith(b"endobj")]
    if not spans:
        return None
    start, end = rng.choice(spans)
    obj = pdf[start:end]
    if rng.random() < 0.5:
        sd = STREAM_DATA.search(obj)
        if sd is None or sd.end(1) <= sd.start(1):
            return None
        out = bytearray(pdf)
        for _ in range(rng.randint(1, 4)):
            _flip(out, start + rng.randrange(sd.start(1), sd.end(1)), rng)
        return bytes(out)
    keys = [
        k
        for k in (b"/N ", b"/First ", b"/W ", b"/Index ", b"/Size ", b"/Prev ", b"/Length ")
        if k in obj
    ]
    if not keys:
        return None
    key = rng.choice(keys)
    value = rng.choice(
        [b"0", b"-1", b"99999999", b"[0 0 0]", b"[1 2]", b"[9 9 9]", b"[0 99999999]", b"(x)", b"1"]
    )
    new = re.sub(re.escape(key) + rb"(\[[^\]]*\]|-?\d+)", key + value, obj, count=1)
    return _replace(pdf, start, end, new)


# --- tokens anywhere ---------------------------------------------------------------------------
def mangle_number(pdf: bytes, rng: random.Random) -> bytes | None:
    """One number token (an object number, a length, an offset, a /Prev, a count…) changed."""
    ms = list(NUMBER.finditer(pdf, 0, len(pdf)))
    if not ms:
        return None
    m = rng.choice(ms)
    v = int(m.group())
    new = rng.choice([0, -1, v + 1, v - 1, v * 2, 2**31, 10**15, len(pdf), 1])
    return _replace(pdf, m.start(), m.end(), str(new).encode())


_LINK_KEYS = (
    b"/Parent",
    b"/Kids",
    b"/Fields",
    b"/V",
    b"/AcroForm",
    b"/Pages",
    b"/Root",
    b"/Info",
    b"/Annots",
    b"/P",
    b"/DSS",
    b"/Perms",
    b"/DocMDP",
    b"/Data",
)


def mangle_link(pdf: bytes, rng: random.Random) -> bytes | None:
    """Point a structural link elsewhere: at itself, the catalog, a missing object or a
    non-dictionary (cycles in /Kids, /Parent, /Fields must not hang the verifier)."""
    targets = _link_spans(pdf)
    if not targets:
        return None
    start, end = rng.choice(targets)
    nums = _references(pdf)
    own = rng.choice(nums) if nums else b"1"
    new_ref = rng.choice(
        [
            b"1 0 R",
            b"2 0 R",
            own + b" 0 R",
            b"99999 0 R",
            b"0 0 R",
            b"null",
            b"[" + own + b" 0 R " + own + b" 0 R]",
            b"[]",
            b"5",
            b"(x)",
        ]
    )
    return _replace(pdf, start, end, new_ref)


_NAMES = (
    b"/Sig",
    b"/DocTimeStamp",
    b"/FT",
    b"/Type",
    b"/Filter",
    b"/SubFilter",
    b"/Catalog",
    b"/Page",
    b"/Pages",
    b"/Annot",
    b"/Widget",
    b"/XRef",
    b"/ObjStm",
    b"/FlateDecode",
    b"/DocMDP",
    b"/FieldMDP",
    b"/TransformParams",
    b"/Lock",
    b"/SigFlags",
    b"/Reference",
)


def mangle_name(pdf: bytes, rng: random.Random) -> bytes | None:
    """One name token replaced by another name that matters to a verifier."""
    ms = list(NAME.finditer(pdf))
    if not ms:
        return None
    m = rng.choice(ms)
    return _replace(pdf, m.start(), m.end(), rng.choice(_NAMES))


def splice(pdf: bytes, rng: random.Random) -> bytes:
    """A chunk of the file copied over another place (a plausible but misplaced object)."""
    n = len(pdf)
    length = rng.randint(8, 4096)
    src = rng.randrange(n)
    dst = rng.randrange(n)
    chunk = pdf[src : src + length]
    if rng.random() < 0.5:
        return pdf[:dst] + chunk + pdf[dst + len(chunk) :]
    return pdf[:dst] + chunk + pdf[dst:]


Mutator = Callable[[bytes, random.Random], bytes | None]

MUTATORS: dict[str, Mutator] = {
    "flip_signed": flip_signed,
    "flip_hole": flip_hole,
    "flip_unsigned": flip_unsigned,
    "random_bits": random_bits,
    "random_bytes": random_bytes,
    "truncate": truncate,
    "duplicate_xref": duplicate_xref,
    "remove_xref": remove_xref,
    "mangle_byte_range": mangle_byte_range,
    "mangle_contents": mangle_contents,
    "mangle_dss": mangle_dss,
    "mangle_object_streams": mangle_object_streams,
    "mangle_number": mangle_number,
    "mangle_link": mangle_link,
    "mangle_name": mangle_name,
    "splice": splice,
}


@dataclass(frozen=True)
class Case:
    name: str  # source-mutator-index, for messages and file names
    source: str
    mutator: str
    data: bytes
    hit: tuple[int, ...]  # signatures (file order of their /ByteRange) whose signed bytes changed

    @property
    def tampered(self) -> bool:
        return bool(self.hit)


def mutate_all(sources: dict[str, bytes], per_source: int, seed: int) -> list[Case]:
    """``per_source`` distinct mutated files of every source, the mutators taken in turn so
    every kind is represented for every source; fully determined by ``seed``."""
    rng = random.Random(seed)
    names = list(MUTATORS)
    cases: list[Case] = []
    for src_name, pdf in sources.items():
        layout = Layout.of(pdf)
        seen: set[bytes] = {pdf}
        i = attempts = 0
        while i < per_source and attempts < per_source * 20:
            mname = names[attempts % len(names)]
            attempts += 1
            out = MUTATORS[mname](pdf, rng)
            if out is None or out in seen:
                continue
            seen.add(out)
            cases.append(
                Case(f"{src_name}-{mname}-{i}", src_name, mname, out, tampered(pdf, out, layout))
            )
            i += 1
    return cases
