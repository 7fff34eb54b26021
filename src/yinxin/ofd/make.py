"""A plain OFD written from lines of text: the test documents, and a sample to try signing on.

Each line is one ``TextObject`` with one ``TextCode`` whose ``DeltaX`` lists every advance
(full width for CJK, half for ASCII), so any reader places the characters exactly where our
anchor search computes them. The font is named (宋体), not embedded: every OFD reader maps it
to a Song/Serif CJK face it has, as the ofdrw samples do.
"""

from __future__ import annotations

from lxml import etree

from yinxin.ofd.package import NSMAP, OfdPackage, q, to_xml

_E = etree.Element
_S = etree.SubElement


def _advances(text: str, size: float) -> str:
    return " ".join(f"{size if not c.isascii() else size / 2:g}" for c in text[:-1])


def make_ofd(
    pages: list[list[str]],
    *,
    size: float = 4.2,
    line_gap: float = 3.0,
    margin: float = 25.0,
    doc_id: str = "00000000000000000000000000000000",
    creation_date: str = "2025-01-01",
) -> bytes:
    """An A4 OFD, one page per list of lines, text in black 宋体 at ``size`` mm."""
    if not pages or any(not isinstance(p, list) for p in pages):
        raise ValueError("pages must be a non-empty list of lists of lines")
    ofd = _E(q("OFD"), nsmap=NSMAP, Version="1.0", DocType="OFD")
    body = _S(ofd, q("DocBody"))
    info = _S(body, q("DocInfo"))
    _S(info, q("DocID")).text = doc_id
    _S(info, q("CreationDate")).text = creation_date
    _S(info, q("Creator")).text = "yinxin"
    _S(body, q("DocRoot")).text = "Doc_0/Document.xml"

    res = _E(q("Res"), nsmap=NSMAP, BaseLoc="Res")
    fonts = _S(res, q("Fonts"))
    _S(fonts, q("Font"), ID="1", FontName="宋体", FamilyName="宋体")
    next_id = 2

    doc = _E(q("Document"), nsmap=NSMAP)
    common = _S(doc, q("CommonData"))
    area = _S(common, q("PageArea"))
    _S(area, q("PhysicalBox")).text = "0 0 210 297"
    _S(common, q("PublicRes")).text = "PublicRes.xml"
    max_unit = _S(common, q("MaxUnitID"))
    pages_el = _S(doc, q("Pages"))

    pkg = OfdPackage(parts={}, order=[])
    page_parts = []
    for i, lines in enumerate(pages):
        page_id = next_id
        next_id += 1
        _S(pages_el, q("Page"), ID=str(page_id), BaseLoc=f"Pages/Page_{i}/Content.xml")
        page = _E(q("Page"), nsmap=NSMAP)
        content = _S(page, q("Content"))
        layer = _S(content, q("Layer"), ID=str(next_id))
        next_id += 1
        y = margin
        for line in lines:
            if line:
                width = sum(size if not c.isascii() else size / 2 for c in line)
                obj = _S(
                    layer,
                    q("TextObject"),
                    ID=str(next_id),
                    Boundary=f"{margin:g} {y:g} {width + size:g} {size * 1.4:g}",
                    Font="1",
                    Size=f"{size:g}",
                )
                next_id += 1
                code = _S(obj, q("TextCode"), X="0", Y=f"{size:g}")
                if len(line) > 1:
                    code.set("DeltaX", _advances(line, size))
                code.text = line
            y += size + line_gap
        page_parts.append((f"Doc_0/Pages/Page_{i}/Content.xml", to_xml(page)))
    max_unit.text = str(next_id - 1)
    pkg.put("OFD.xml", to_xml(ofd))
    pkg.put("Doc_0/Document.xml", to_xml(doc))
    pkg.put("Doc_0/PublicRes.xml", to_xml(res))
    for name, data in page_parts:
        pkg.put(name, data)
    return pkg.to_bytes()
