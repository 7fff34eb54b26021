"""An OFD file (GB/T 33190-2016) as a ZIP package of named parts, read with limits, written back.

Why parts are kept as bytes: a signature protects files by their SM3 over the exact bytes in
the package (``Reference/CheckValue``), so every part we do not change must go out byte for
byte as it came in; only the parts a signing adds or rewrites (``OFD.xml`` once,
``Signatures.xml``, the new ``Sign_N/`` files) are new bytes. Names are kept as the package has
them (no leading ``/``); ``loc`` resolves an ``ST_Loc`` — absolute (``/Doc_0/…``) or relative to
the directory of the file that names it — to such a name.

Limits: an OFD comes from a stranger (a relying party verifies what it was sent), so the
package is refused before anything is inflated when it has too many entries, an entry or the
whole would inflate past a bound (zip bombs), or a name tries to leave the package.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
import zlib
from dataclasses import dataclass, field

from lxml import etree

from yinxin.errors import ValidationError

NS = "http://www.ofdspec.org/2016"
NSMAP = {"ofd": NS}
MAX_ENTRIES = 10_000
MAX_ENTRY_BYTES = 256 * 1024 * 1024
MAX_TOTAL_BYTES = 512 * 1024 * 1024

_FIELD = "ofd"


def q(tag: str) -> str:
    """``ofd:tag`` in Clark notation, for lxml."""
    return f"{{{NS}}}{tag}"


def bad(message: str, field: str = _FIELD) -> ValidationError:
    return ValidationError(f"OFD: {message}", field=field)


def parse_xml(data: bytes, name: str) -> etree._Element:
    """Parse a part without network access, DTDs or entity expansion (XXE, billion laughs)."""
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise bad(f"{name} is not well-formed XML ({exc.msg})") from None
    if root is None:
        raise bad(f"{name} is empty")
    return root


def to_xml(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def loc(base_dir: str, target: str) -> str:
    """Resolve an ``ST_Loc`` named in a file of ``base_dir`` to a package name."""
    target = (target or "").strip().replace("\\", "/")
    if not target:
        raise bad("an empty location")
    joined = target[1:] if target.startswith("/") else posixpath.join(base_dir, target)
    norm = posixpath.normpath(joined)
    if norm.startswith("../") or norm == ".." or norm.startswith("/"):
        raise bad(f"location {target!r} leaves the package")
    return norm


@dataclass
class OfdPackage:
    """The parts of one OFD package, in their order; the first document's entry points."""

    parts: dict[str, bytes]
    doc_root: str = ""  # e.g. Doc_0/Document.xml
    signatures_loc: str | None = None  # e.g. Doc_0/Signs/Signatures.xml, when signed
    order: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, data: bytes) -> OfdPackage:
        if not isinstance(data, bytes | bytearray) or not data:
            raise bad("the file is empty")
        try:
            zf = zipfile.ZipFile(io.BytesIO(bytes(data)))
        except (zipfile.BadZipFile, ValueError, OSError):
            raise bad("the file is not a ZIP package (an OFD is one)") from None
        except NotImplementedError as exc:
            # a central directory asking for a ZIP version past 6.3 (a damaged or foreign
            # archive): zipfile says so with this, which would otherwise end in a traceback
            raise bad(f"the ZIP package cannot be read here ({exc})") from None
        with zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            if len(infos) > MAX_ENTRIES:
                raise bad(f"more than {MAX_ENTRIES} files in the package")
            total = 0
            parts: dict[str, bytes] = {}
            for info in infos:
                name = loc("", info.filename)
                if name in parts:
                    raise bad(f"{name} is in the package twice")
                if info.flag_bits & 0x1:
                    # zipfile would raise RuntimeError (a traceback, not a verdict) at open
                    raise bad(f"{name} is encrypted (an OFD package has no passwords)")
                if info.file_size > MAX_ENTRY_BYTES:
                    raise bad(f"{name} inflates past {MAX_ENTRY_BYTES} bytes")
                total += info.file_size
                if total > MAX_TOTAL_BYTES:
                    raise bad(f"the package inflates past {MAX_TOTAL_BYTES} bytes")
                try:
                    with zf.open(info) as f:
                        body = f.read(MAX_ENTRY_BYTES + 1)
                except (
                    zipfile.BadZipFile,
                    zlib.error,
                    OSError,
                    EOFError,
                    ValueError,
                    NotImplementedError,
                ):
                    raise bad(f"{name} cannot be read from the package (damaged?)") from None
                if len(body) != info.file_size:
                    raise bad(f"{name} does not inflate to its stated size")
                parts[name] = body
        pkg = cls(parts=parts, order=list(parts))
        pkg._entry_points()
        return pkg

    def _entry_points(self) -> None:
        if "OFD.xml" not in self.parts:
            raise bad("OFD.xml (the entry file) is missing")
        root = parse_xml(self.parts["OFD.xml"], "OFD.xml")
        if root.tag != q("OFD"):
            raise bad("OFD.xml is not an ofd:OFD document")
        body = root.find(q("DocBody"))
        doc_root = body.findtext(q("DocRoot")) if body is not None else None
        if not doc_root:
            raise bad("OFD.xml names no DocRoot")
        self.doc_root = loc("", doc_root)
        if self.doc_root not in self.parts:
            raise bad(f"the DocRoot {self.doc_root} is missing")
        sigs = body.findtext(q("Signatures"))
        self.signatures_loc = loc("", sigs) if sigs and sigs.strip() else None

    def get(self, name: str) -> bytes:
        try:
            return self.parts[name]
        except KeyError:
            raise bad(f"{name} is missing from the package") from None

    def put(self, name: str, data: bytes) -> None:
        if name not in self.parts:
            self.order.append(name)
        self.parts[name] = bytes(data)

    def to_bytes(self) -> bytes:
        """The package as a ZIP, parts in their order (``OFD.xml`` first for a new one)."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name in self.order:
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, self.parts[name])
        return buf.getvalue()
