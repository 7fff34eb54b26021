"""A customer's PDF attached to a contract as an appendix (002's 附件 1《技术规范书》).

The pages are appended to the contract after the appendix heading, so whatever holds for the
contract must hold for them — that is what is checked here, before anything is stored, and a
refusal names the blank (``values.specification_pdf``):

* it is a PDF that opens (not truncated, not garbage) and is not encrypted: an encrypted file
  cannot be copied into the contract;
* at most ``MAX_PAGES`` pages and ``MAX_BYTES`` bytes, no rotated page (the page is drawn
  upright as its content stream is; a ``/Rotate`` would be lost);
* every font it uses is embedded (``pdffonts`` of the contract must read ``emb yes`` on every
  line, and a reader without the font would show other glyphs than the customer's);
* its text holds no signature anchor (``甲方（签章）``, ``乙方（盖章）`` …): the sign flow places
  seals by those texts, and one inside the customer's pages would move a seal there;
* it is not signed and not certified: a page is drawn from its content stream alone, so a
  signature (or a certification, DocMDP) cannot come along — nor the seal its widget shows —
  and a signed file taken in would leave the customer believing the contract carries their
  signature where it carries none (and a seal a signer drew into the page itself would stand
  there with no signature behind it). The file's signed fields are read by the walk every
  verifier here uses (``yinxin.pdf.fields.signature_fields``: the form and the pages' widgets),
  so a signature pdfsig lists is never missed. Empty signature fields are no signature:
  accepted (a place to sign, not the customer's words), their widgets not drawn either;
* nothing a printout of it shows lives outside its pages' content: a filled form field, a
  check mark, a typed comment (FreeText) or a stamp annotation is drawn by its annotation's
  appearance, which the page's content does not hold — it would vanish from the contract
  without a word, the customer's figure in the spec missing. Such a file is refused, naming
  the page and the fields, to be flattened (printed to PDF) first. Only what would print is
  counted: a printable, shown annotation whose appearance draws something (links, pop-ups,
  hidden or screen-only notes are not the document's text).

A blank of type ``pdf`` takes the file as base64 text and stores ``{sha256, pages, size}``;
the bytes go to the contracts' content-addressed store (``<documents>/contracts``) when the
draft is written. A revision may give that stored value back to keep the file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from io import BytesIO
from typing import Any

from yinxin.contracts.anchors import ANCHOR_TEXTS
from yinxin.errors import ValidationError

MAX_BYTES = 20 * 1024 * 1024
MAX_PAGES = 100
_SHA = re.compile(r"[0-9a-f]{64}")
_FONT_FILES = ("/FontFile", "/FontFile2", "/FontFile3")


def decode(raw: Any, label: str, where: str) -> bytes | None:
    """The PDF's bytes from a base64 string, or ``None`` for a stored reference (a dict)."""
    if isinstance(raw, dict):
        return None
    if not isinstance(raw, str):
        raise ValidationError(
            f"{label}：PDF 文件以 base64 文本提交 / a PDF as base64 text", field=where
        )
    text = re.sub(r"\s+", "", raw.strip())
    if text.startswith("data:"):  # a browser's data: URL
        text = text.partition(",")[2]
    if len(text) > (MAX_BYTES * 4) // 3 + 4:
        raise ValidationError(
            f"{label}：PDF 不得超过 {MAX_BYTES // (1024 * 1024)} MiB / too large", field=where
        )
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(f"{label}：不是 base64 文本 / not base64", field=where) from None


def reference(raw: dict, label: str, where: str) -> dict[str, Any]:
    """A stored attachment given back on revision: ``{sha256, pages, size}`` as stored."""
    sha, pages, size = raw.get("sha256"), raw.get("pages"), raw.get("size")
    if (
        set(raw) != {"sha256", "pages", "size"}
        or not isinstance(sha, str)
        or not _SHA.fullmatch(sha)
        or not isinstance(pages, int)
        or not isinstance(size, int)
    ):
        raise ValidationError(
            f"{label}：应为 PDF 文件（base64）或已存的 {{sha256, pages, size}} / a PDF or a "
            "stored attachment",
            field=where,
        )
    return {"sha256": sha, "pages": pages, "size": size}


def _first_time(ref: Any, seen: set[int]) -> bool:
    """Whether an object is met for the first time (a font or form shared by many pages is
    looked at once); a direct object, which nothing else can share, always is."""
    key = getattr(ref, "idnum", None)
    if key is None:
        return True
    if key in seen:
        return False
    seen.add(key)
    return True


def _unembedded(resources: Any, seen: set[int], out: list[str], depth: int = 0) -> None:
    """Names of the fonts used under ``resources`` (forms included) that are not embedded."""
    if resources is None or depth > 8:
        return
    resources = resources.get_object()
    fonts = resources.get("/Font")
    for name, ref in fonts.get_object().items() if fonts is not None else []:
        if not _first_time(ref, seen):
            continue
        font = ref.get_object()
        if font.get("/Subtype") == "/Type3":  # glyphs drawn by the file itself
            continue
        target = font
        if font.get("/Subtype") == "/Type0":
            target = font["/DescendantFonts"].get_object()[0].get_object()
        desc = target.get("/FontDescriptor")
        desc = desc.get_object() if desc is not None else None
        if desc is None or not any(k in desc for k in _FONT_FILES):
            out.append(str(font.get("/BaseFont", name)).lstrip("/"))
    xobjects = resources.get("/XObject")
    for _name, ref in xobjects.get_object().items() if xobjects is not None else []:
        if not _first_time(ref, seen):
            continue
        form = ref.get_object()
        if form.get("/Subtype") == "/Form":
            _unembedded(form.get("/Resources"), seen, out, depth + 1)


def _signatures(reader: Any) -> tuple[list[str], bool]:
    """The names of the file's signed signature fields (in the form and among the pages'
    widgets, as ``pdfsig`` lists them) and whether it is certified (a DocMDP entry in the
    catalogue's /Perms, even if the signature it names cannot be found)."""
    from yinxin.pdf.fields import signature_fields

    names = [f.name for f in signature_fields(reader)]
    perms = reader.root.get("/Perms")
    perms = perms.get_object() if perms is not None else None
    certified = hasattr(perms, "get") and perms.get("/DocMDP") is not None
    return names, certified


_NOT_CONTENT = ("/Link", "/Popup")
_HIDDEN, _PRINT, _NO_VIEW = 2, 4, 32  # annotation flags (/F), ISO 32000-1 12.5.3


def _undrawn(pages: list[Any]) -> list[tuple[int, str]]:
    """``(page number, name)`` of each annotation a printout of the file shows and the
    contract would not: printable, not hidden, its normal appearance (in its /AS state) a
    stream that draws something. A form field is named by its (partial) name, another
    annotation by its kind; an empty signature field is a place to sign, not counted."""
    from yinxin.pdf.incremental import dget

    out: list[tuple[int, str]] = []
    for page in pages:
        annots = dget(page.obj, "/Annots")
        for ref in annots if isinstance(annots, list) else []:
            a = ref.get_object()
            if not hasattr(a, "get") or dget(a, "/Subtype") in _NOT_CONTENT:
                continue
            flags = int(dget(a, "/F", 0))
            if flags & (_HIDDEN | _NO_VIEW) or not flags & _PRINT:
                continue
            ap = dget(dget(a, "/AP", {}), "/N")
            if hasattr(ap, "get") and not hasattr(ap, "data"):  # states: the one shown
                ap = dget(ap, str(dget(a, "/AS", "")))
            if not getattr(ap, "data", b"").strip():
                continue
            field, name = a, None
            for _ in range(32):  # a widget's field: itself or up its /Parent chain
                name = name or dget(field, "/T")
                parent = dget(field, "/Parent")
                if "/FT" in field or not hasattr(parent, "get"):
                    break
                field = parent
            if dget(field, "/FT") == "/Sig" and dget(field, "/V") is None:
                continue
            kind = str(dget(a, "/Subtype", "")).lstrip("/")
            out.append((page.index + 1, str(name) if name is not None else kind))
    return out


def _signed_refusal(names: list[str], certified: bool) -> str:
    """Why a signed or certified file is refused, and the two ways on: the unsigned file, or
    the signed one as its own document of a sign flow (which keeps its signatures)."""
    # the names are the file's: quoted, so the page shows the Chinese half whole
    quoted = "、".join(f"“{n}”" for n in names[:5]) + ("等" if len(names) > 5 else "")
    if names:
        what = f"PDF 已有 {len(names)} 个签名（{quoted}）" + (
            "，其中含认证签名" if certified else ""
        )
        english = f"the PDF carries {len(names)} signature(s)" + (
            ", a certification among them" if certified else ""
        )
    else:
        what, english = "PDF 带有认证签名（DocMDP）", "the PDF carries a certification"
    return (
        f"{what}，并入合同后签名无法保留；请附未签名的文件，或将已签名的文件作为单独文件"
        f"发起签署 / {english} that cannot survive being drawn into the contract: "
        "attach the unsigned file, or send the signed one as its own document in a sign flow"
    )


def inspect(data: bytes, label: str, where: str) -> dict[str, Any]:
    """``{sha256, pages, size}`` of an acceptable attachment, or a refusal naming ``where``."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    from yinxin.pdf.incremental import list_pages

    def refuse(why: str) -> ValidationError:
        return ValidationError(f"{label}：{why}", field=where)

    if len(data) > MAX_BYTES:
        raise refuse(f"PDF 不得超过 {MAX_BYTES // (1024 * 1024)} MiB / too large")
    if not data.lstrip()[:5] == b"%PDF-":
        raise refuse("不是 PDF 文件 / not a PDF")
    try:
        reader = PdfFileReader(BytesIO(data), strict=False)
        if reader.encrypted:
            raise refuse("PDF 已加密，无法附入合同 / the PDF is encrypted")
        pages = list_pages(reader)  # /Rotate and /Resources inherited from the tree
        if len(pages) != int(reader.root["/Pages"]["/Count"]):  # what the renderer counts
            raise ValueError("the page tree's /Count is not its number of pages")
        if not 1 <= len(pages) <= MAX_PAGES:
            raise refuse(f"PDF 应有 1–{MAX_PAGES} 页 / 1–{MAX_PAGES} pages")
        missing: list[str] = []
        seen: set[int] = set()
        for i, page in enumerate(pages, 1):
            if page.rotate:
                raise refuse(f"第 {i} 页是旋转页面，请先转正 / page {i} is rotated")
            _unembedded(page.resources, seen, missing)
        signed, certified = _signatures(reader)
        undrawn = [] if signed or certified else _undrawn(pages)
    except ValidationError:
        raise
    except Exception as e:  # noqa: BLE001 - any malformed file
        # a file someone else made may break the parser in any way: it is refused, not a 500
        raise refuse(f"PDF 无法读取（{type(e).__name__}）/ the PDF cannot be read") from None
    if signed or certified:
        raise refuse(_signed_refusal(signed, certified))
    if undrawn:
        first = undrawn[0][0]
        names = "、".join(f"“{n}”" for _, n in undrawn[:5]) + ("等" if len(undrawn) > 5 else "")
        raise refuse(
            f"PDF 有 {len(undrawn)} 处表单内容或批注（第 {first} 页起：{names}）只存在于注释中，"
            "不会画入合同；请先拼合到页面（如“打印为 PDF”）后再附 / "
            f"{len(undrawn)} form field(s) or annotation(s) (from page {first}) would not be "
            "drawn into the contract: flatten them into the pages (print to PDF) first"
        )
    if missing:
        # the names are the file's, in any language: quoted, so the page shows the Chinese
        # half whole even where a name holds " / " or English words (chineseDetail)
        names = "、".join(f"“{n}”" for n in sorted(set(missing))[:5])
        raise refuse(f"PDF 使用了未嵌入的字体（{names}），请嵌入字体后再附 / fonts not embedded")
    from yinxin.pdf.anchors import AnchorReadError, first_of

    try:  # as the sign flow's search reads it: every page once, NFKC, white space ignored
        found = first_of(data, ANCHOR_TEXTS)
    except AnchorReadError:
        raise refuse("PDF 无法读取 / the PDF cannot be read") from None
    if found:
        raise refuse(
            f"PDF 中含有签章位置文字“{found}”，会使印章盖错位置 / it contains a signature "
            "anchor text"
        )
    return {"sha256": hashlib.sha256(data).hexdigest(), "pages": len(pages), "size": len(data)}


__all__ = ["MAX_BYTES", "MAX_PAGES", "decode", "inspect", "reference"]
