"""Structurally different PDFs, as other producers write them, for the differential test.

Every builder returns ``bytes``; none reads a file. pymupdf, pyHanko's writer and hand-written
bytes stand in for Word, WPS, LibreOffice, scanners and other signing platforms.
"""

from __future__ import annotations

import io
import re
import zlib

import pymupdf
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

A4 = (595, 842)


def mupdf(pages: int = 1, *, save: dict | None = None, edit=None, size=A4) -> bytes:
    """Plain black-text pages by MuPDF; ``edit(doc)`` before saving, ``save`` its options."""
    doc = pymupdf.open()
    for n in range(pages):
        page = doc.new_page(width=size[0], height=size[1])
        page.insert_text((72, 100), f"Contract page {n + 1}", fontsize=14)
    if edit is not None:
        edit(doc)
    out = doc.tobytes(**(save or {}))
    doc.close()
    return out


def pages_dict(pdf: bytes, change) -> bytes:
    """An incremental update by pyHanko's writer in which ``change(writer)`` edits objects."""
    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    change(w)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def handmade(objs: dict[int, bytes], *, version: bytes = b"1.4", trailer: bytes = b"") -> bytes:
    """A classic file: numbered object bodies, one xref table."""
    out = bytearray(b"%PDF-" + version + b"\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for num in sorted(objs):
        offsets[num] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (num, objs[num])
    size = max(objs) + 1
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for num in range(1, size):
        out += b"%010d 00000 n \n" % offsets[num] if num in offsets else b"0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        size,
        trailer,
        xref,
    )
    return bytes(out)


def _content(text: str) -> bytes:
    body = b"BT /F1 14 Tf 72 770 Td (%s) Tj ET" % text.encode()
    return b"<< /Length %d >>\nstream\n%s\nendstream" % (len(body), body)


FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def deep_tree(pages: int = 8, depth: int = 4) -> bytes:
    """Pages under ``depth`` levels of /Pages nodes, MediaBox and Rotate inherited from the
    root node (a landscape A4 shown turned), resources from an intermediate node."""
    objs: dict[int, bytes] = {1: b"<< /Type /Catalog /Pages 2 0 R >>", 3: FONT}
    objs[4] = _content("Deep page tree")
    nxt = [5]

    def new() -> int:
        nxt[0] += 1
        return nxt[0] - 1

    def node(parent: int, num: int, level: int, count: int) -> None:
        if level == depth or count == 1:
            kids = []
            for _ in range(count):
                leaf = new()
                objs[leaf] = b"<< /Type /Page /Parent %d 0 R /Contents 4 0 R >>" % num
                kids.append(leaf)
        else:
            half = count // 2
            kids = []
            for part in (half, count - half):
                kid = new()
                node(num, kid, level + 1, part)
                kids.append(kid)
        extra = b" /Resources << /Font << /F1 3 0 R >> >>" if level == 1 else b""
        par = b" /Parent %d 0 R" % parent if parent else b""
        objs[num] = b"<< /Type /Pages%s /Kids [%s] /Count %d%s >>" % (
            par,
            b" ".join(b"%d 0 R" % k for k in kids),
            count,
            extra,
        )

    objs[2] = b""
    node(0, 2, 0, pages)
    objs[2] = objs[2][:-2] + b" /MediaBox [0 0 842 595] /Rotate 90 >>"
    return handmade(objs, version=b"1.3")


def hybrid() -> bytes:
    """A hybrid-reference file (ISO 32000 §7.5.8.4): a classic table for old readers and an
    /XRefStm the trailer names for the page objects kept in an object stream."""
    head = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    offs: dict[int, int] = {}

    def put(num: int, body: bytes) -> None:
        offs[num] = len(head)
        head.extend(b"%d 0 obj\n%s\nendobj\n" % (num, body))

    put(1, b"<< /Type /Catalog /Pages 2 0 R >>")
    put(5, FONT)
    put(6, _content("Hybrid reference file"))
    # objects 2 (Pages) and 3 (Page) inside object stream 4
    o2 = b"<< /Type /Pages /Kids [3 0 R] /Count 1 /MediaBox [0 0 595 842] >>"
    o3 = b"<< /Type /Page /Parent 2 0 R /Contents 6 0 R /Resources << /Font << /F1 5 0 R >> >> >>"
    header = b"2 0 3 %d " % (len(o2) + 1)
    data = header + o2 + b" " + o3
    put(
        4,
        b"<< /Type /ObjStm /N 2 /First %d /Length %d >>\nstream\n%s\nendstream"
        % (len(header), len(data), data),
    )
    # the xref stream: 2 and 3 compressed in 4
    rows = b"\x02" + (4).to_bytes(3, "big") + b"\x00" + b"\x02" + (4).to_bytes(3, "big") + b"\x01"
    xs_at = len(head)
    head.extend(
        b"7 0 obj\n<< /Type /XRef /Size 8 /Index [2 2] /W [1 3 1] /Length %d >>\nstream\n%s"
        b"\nendstream\nendobj\n" % (len(rows), rows)
    )
    xref = len(head)
    # the table leaves out what the stream lists (as Word does): 0-1 and 4-7
    head.extend(b"xref\n0 2\n0000000000 65535 f \n%010d 00000 n \n4 4\n" % offs[1])
    for num in (4, 5, 6):
        head.extend(b"%010d 00000 n \n" % offs[num])
    head.extend(b"%010d 00000 n \n" % xs_at)
    head.extend(
        b"trailer\n<< /Size 8 /Root 1 0 R /XRefStm %d >>\nstartxref\n%d\n%%%%EOF\n" % (xs_at, xref)
    )
    return bytes(head)


def linearized(pages: int = 3) -> bytes:
    """A file laid out as a linearized one: the linearization dictionary first, a first-page
    cross-reference section at the top whose trailer has /Prev to the main one at the end
    (hint stream values are placeholders, as readers that do not use them ignore them)."""
    objs: dict[int, bytes] = {}
    n = pages
    # numbering as linearizers do: first-page objects high, the rest low
    # 1..: catalog 1, pages 2, font 3, contents 4.., pages 4+n..
    objs[1] = b"<< /Type /Catalog /Pages 2 0 R >>"
    kids = b" ".join(b"%d 0 R" % (4 + n + i) for i in range(n))
    objs[2] = b"<< /Type /Pages /Kids [%s] /Count %d /MediaBox [0 0 595 842] >>" % (kids, n)
    objs[3] = FONT
    for i in range(n):
        objs[4 + i] = _content(f"Linearized page {i + 1}")
        objs[4 + n + i] = (
            b"<< /Type /Page /Parent 2 0 R /Contents %d 0 R /Resources << /Font << /F1 3 0 R >>"
            b" >> >>" % (4 + i)
        )
    lin = 4 + 2 * n  # the linearization dictionary
    hint = lin + 1
    size = hint + 1
    first_page_objs = [lin, 1, 2, 3, 4, 4 + n, hint]
    rest = [k for k in objs if k not in first_page_objs]
    head = b"%PDF-1.6\n%\xe2\xe3\xcf\xd3\n"
    lin_fmt = b"<< /Linearized 1 /L %010d /H [ %010d %010d ] /O %d /E %010d /N %d /T %010d >>"
    top_fmt = (
        b"xref\n%d %d\n" % (lin, 2)
        + b"%010d 00000 n \n" * 2
        + b"trailer\n<< /Size %d /Root 1 0 R /Prev %%010d /ID [<00112233445566778899aabbccddeeff>"
        b" <00112233445566778899aabbccddeeff>] >>\nstartxref\n0\n%%%%EOF\n" % size
    )
    hint_data = b"\x00" * 16
    objs[hint] = b"<< /S 0 /Length %d >>\nstream\n%s\nendstream" % (len(hint_data), hint_data)
    # two passes: offsets depend on the lengths of the fixed-width fields only
    offsets: dict[int, int] = {}
    vals = dict(L=0, H0=0, H1=0, E=0, T=0, main=0)
    for _ in range(2):
        out = bytearray(head)
        offsets[lin] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (
            lin,
            lin_fmt % (vals["L"], vals["H0"], vals["H1"], 4 + n, vals["E"], n, vals["T"]),
        )
        top = top_fmt % (0, 0, vals["main"])
        top_at = len(out)
        out += top
        for num in [1, 2, 3, 4, 4 + n, hint]:
            offsets[num] = len(out)
            out += b"%d 0 obj\n%s\nendobj\n" % (num, objs[num])
        vals["H0"], vals["H1"] = offsets[hint], len(out) - offsets[hint]
        vals["E"] = len(out)
        for num in rest:
            offsets[num] = len(out)
            out += b"%d 0 obj\n%s\nendobj\n" % (num, objs[num])
        main = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % lin
        for num in range(1, lin):
            out += b"%010d 00000 n \n" % offsets[num]
        out += b"trailer\n<< /Size %d >>\nstartxref\n%d\n%%%%EOF\n" % (lin, top_at)
        vals["main"], vals["T"], vals["L"] = main, main, len(out)
    # fill the top table now that offsets are known
    top = (
        b"xref\n%d %d\n" % (lin, 2)
        + b"%010d 00000 n \n" % offsets[lin]
        + b"%010d 00000 n \n" % offsets[hint]
        + top_fmt[top_fmt.index(b"trailer") :] % vals["main"]
    )
    out[top_at : top_at + len(top)] = top
    return bytes(out)


def broken_startxref(pdf: bytes, shift: int = 7) -> bytes:
    """The last ``startxref`` pointing ``shift`` bytes off the real table (a common tool bug)."""
    m = list(re.finditer(rb"startxref\s+(\d+)", pdf))[-1]
    new = b"startxref\n%d" % (int(m.group(1)) + shift)
    return pdf[: m.start()] + new + pdf[m.end() :]


def compressed(data: bytes) -> bytes:
    return zlib.compress(data)


PREPARED_BOXES = (("甲方签章", (60, 80, 220, 200)), ("乙方签章", (330, 80, 490, 200)))


def prepared_and_certified(
    pdf: bytes,
    key,  # noqa: ANN001
    cert,  # noqa: ANN001
    chain=(),  # noqa: ANN001
    *,
    page: int = 0,
    locks: tuple[str, ...] = (),
) -> bytes:
    """``pdf`` as Acrobat or WPS prepares a contract: empty fields 甲方签章 and 乙方签章 on
    ``page`` (0-based), then certified (DocMDP P=2: form filling and signing permitted) by
    pyHanko with ``key`` and ``cert`` (cryptography objects; ``chain``: their issuers).
    ``locks``: the certification's field was prepared with a /Lock naming these fields
    (FieldMDP /Include, Acrobat's "mark as read-only after signing"), so they cannot be
    sealed into after it."""
    from pyhanko.sign import fields, signers

    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    for name, box in PREPARED_BOXES:
        fields.append_signature_field(w, fields.SigFieldSpec(name, box=box, on_page=page))
    if locks:
        lock = fields.FieldMDPSpec(fields.FieldMDPAction.INCLUDE, fields=list(locks))
        spec = fields.SigFieldSpec(
            "Certification", box=(0, 0, 0, 0), on_page=0, field_mdp_spec=lock
        )
        fields.append_signature_field(w, spec)
    buf = io.BytesIO()
    w.write(buf)
    signer = pyhanko_signer(key, cert, chain)
    meta = signers.PdfSignatureMetadata(
        field_name="Certification",
        subfilter=fields.SigSeedSubFilter.PADES,
        certify=True,
        docmdp_permissions=fields.MDPPerm.FILL_FORMS,
    )
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(buf.getvalue())),
        meta,
        signer=signer,
        new_field_spec=None
        if locks
        else fields.SigFieldSpec("Certification", box=(0, 0, 0, 0), on_page=0),
    )
    return out.getvalue()


def pyhanko_signer(key, cert, chain=()):  # noqa: ANN001, ANN201
    """pyHanko's ``SimpleSigner`` for ``key`` and ``cert`` (cryptography objects) with
    ``chain`` (their issuers): how another platform signs the files our engine must respect."""
    from asn1crypto import keys as a_keys
    from asn1crypto import x509 as a_x509
    from cryptography.hazmat.primitives import serialization
    from pyhanko.sign import signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    der = serialization.Encoding.DER

    def asn1(c):  # noqa: ANN001, ANN202
        return a_x509.Certificate.load(c.public_bytes(der))

    return signers.SimpleSigner(
        signing_cert=asn1(cert),
        signing_key=a_keys.PrivateKeyInfo.load(
            key.private_bytes(der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        ),
        cert_registry=SimpleCertificateStore.from_certs([asn1(c) for c in chain]),
    )
