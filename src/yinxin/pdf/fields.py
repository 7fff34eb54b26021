"""The signed signature fields of a PDF, as a viewer sees them: one walk for every reader here.

pyHanko's ``enumerate_sig_fields`` (and ``PdfFileReader.embedded_signatures``, built on it)
skips a signature field without a name (/T), with everything under it, and reads nothing but
the form (/AcroForm /Fields); poppler (``pdfsig``, Okular, Evince) lists such fields too, and
the signature widgets it finds only among the pages' annotations. The PAdES verifier
(``yinxin.pdf.verify``), the GB/T 38540 seal-signature reader (``yinxin.pdf.ses``) and the
signers' look at the signatures a document already holds (``yinxin.pdf.sign``) all read
signatures through ``signature_fields`` below, so none is blind where another, or a viewer,
sees a signature — a broken one hidden there cannot make a file valid, or be signed over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

logger = logging.getLogger(__name__)

# what a report notes of a signature found only among a page's annotations
OUTSIDE_FORM = (
    "签名域不在文档表单中，只作为页面注释存在（部分阅读器仍会显示）/ the signature field is"
    " not in the document's form, only among a page's annotations (some viewers still show it)"
)


@dataclass(frozen=True)
class SignatureField:
    """A signed signature field: its qualified name, the field holding the value (/V), and
    whether it is reached from no form, only from a page's annotations."""

    name: str
    ref: generic.IndirectObject
    outside_form: bool = False


def signature_fields(reader: PdfFileReader) -> list[SignatureField]:
    """Every signed signature field of ``reader``, each once: those pyHanko's walk of the form
    lists (its order and names), then those it does not (see ``unlisted_signatures``).

    An unreadable /AcroForm raises as pyHanko's walk does; an unreadable part of what only
    this module reads hides nothing the form lists."""
    from pyhanko.sign.fields import enumerate_sig_fields  # pyhanko.sign: loaded when needed

    out: list[SignatureField] = []
    listed: set[generic.Reference] = set()
    for name, _, ref in enumerate_sig_fields(reader, filled_status=True):
        listed.add(ref.reference)
        out.append(SignatureField(name, ref))
    for name, ref, outside in unlisted_signatures(reader, listed):
        out.append(SignatureField(name, ref, outside))
    return out


# a hostile form or page tree cannot make the walks below take longer than this many nodes
_MAX_NODES = 100_000


def locks_document(emb: Any) -> bool:
    """Does this signature (a pyHanko ``EmbeddedPdfSignature``) forbid every later change but
    DSS and document timestamps?

    DocMDP P=1 (certification) and a field /Lock with /P 1 are what pyHanko reads as
    ``docmdp_level``; the /P 1 of a FieldMDP transform (PDF 2.0, what our last signer writes,
    the only place it can say so when sealing into a prepared field) it does not read, so it
    is looked up here — by the verifier and by the signer's check of the next seal alike.
    """
    from pyhanko.sign.fields import MDPPerm

    try:
        if emb.docmdp_level == MDPPerm.NO_CHANGES:
            return True
    except Exception:  # an unreadable /P is no lock we can rely on; pyHanko reports the rest
        pass
    try:
        for ref in emb.sig_object.get("/Reference") or []:
            ref = ref.get_object()
            if ref.get("/TransformMethod") == "/FieldMDP":
                if int(ref["/TransformParams"].get("/P", 0)) == 1:
                    return True
    except Exception:
        pass
    return False


def unlisted_signatures(
    reader: PdfFileReader, listed: set[generic.Reference]
) -> list[tuple[str, generic.IndirectObject, bool]]:
    """Signed signature fields that pyHanko's walk of the form (``enumerate_sig_fields``) does
    not list, each with its name and whether it is outside the form.

    pyHanko skips a field without a name (/T) and everything under it, and reads nothing but
    the form; poppler (``pdfsig``, Okular, Evince) lists such fields too, and the signature
    widgets it finds only among the pages' annotations. A signature a viewer shows must be in
    the report — else a file holding a broken or foreign signature there would be called
    valid here while the viewer flags it. ``listed`` (the fields already taken) grows as
    fields are found, so each is taken once; an unreadable part hides nothing the form lists.
    """
    out: list[tuple[str, generic.IndirectObject, bool]] = []
    budget = [_MAX_NODES]

    def take(name: str, ref: generic.IndirectObject, outside: bool) -> None:
        if ref.reference not in listed:
            listed.add(ref.reference)
            out.append((name, ref, outside))

    try:
        fields = reader.root["/AcroForm"]["/Fields"]
    except Exception:
        fields = None
    if isinstance(fields, generic.ArrayObject):
        for name, ref in _form_signatures(fields, budget):
            take(name, ref, False)
    for name, ref in _page_signatures(reader, budget):
        take(name, ref, True)
    return out


def _get(node: generic.DictionaryObject, key: str) -> Any:
    """``node[key]`` with references followed, or None."""
    return node[key] if key in node else None


def _refs(array: Any) -> list[Any]:
    if not isinstance(array, generic.ArrayObject):
        return []
    return [array.raw_get(i) for i in range(len(array))]


def _form_signatures(
    fields: generic.ArrayObject, budget: list[int]
) -> list[tuple[str, generic.IndirectObject]]:
    """Every signed signature field of the form's tree, named or not."""
    out: list[tuple[str, generic.IndirectObject]] = []
    seen: set[generic.Reference] = set()
    # (reference, the names above it, the field type inherited from above)
    stack: list[tuple[Any, tuple[str, ...], Any]] = [(r, (), None) for r in reversed(_refs(fields))]
    while stack and budget[0] > 0:
        budget[0] -= 1
        ref, names, inherited = stack.pop()
        try:
            if not isinstance(ref, generic.IndirectObject) or ref.reference in seen:
                continue
            seen.add(ref.reference)
            node = ref.get_object()
            if not isinstance(node, generic.DictionaryObject):
                continue
            own = (*names, str(node["/T"])) if "/T" in node else names
            field_type = _get(node, "/FT") or inherited
            if field_type == "/Sig" and isinstance(_get(node, "/V"), generic.DictionaryObject):
                out.append((".".join(own) or "(unnamed field)", ref))
            stack.extend((k, own, field_type) for k in reversed(_refs(_get(node, "/Kids"))))
        except Exception as e:
            logger.info("form field unreadable: %s", e)
    return out


def _page_signatures(
    reader: PdfFileReader, budget: list[int]
) -> list[tuple[str, generic.IndirectObject]]:
    """The signed signature fields the pages' widget annotations belong to."""
    out: list[tuple[str, generic.IndirectObject]] = []
    seen: set[generic.Reference] = set()
    try:
        stack = [reader.root.raw_get("/Pages")]
    except Exception:
        return out
    while stack and budget[0] > 0:
        budget[0] -= 1
        ref = stack.pop()
        try:
            if not isinstance(ref, generic.IndirectObject) or ref.reference in seen:
                continue
            seen.add(ref.reference)
            node = ref.get_object()
            if not isinstance(node, generic.DictionaryObject):
                continue
            if "/Kids" in node:
                stack.extend(reversed(_refs(_get(node, "/Kids"))))
                continue
            for annot in _refs(_get(node, "/Annots")):
                found = _signature_field_of(annot)
                if found is not None:
                    out.append(found)
        except Exception as e:
            logger.info("page annotations unreadable: %s", e)
    return out


def _signature_field_of(
    widget_ref: generic.PdfObject,
) -> tuple[str, generic.IndirectObject] | None:
    """The signed signature field a page annotation belongs to, with its qualified name."""
    if not isinstance(widget_ref, generic.IndirectObject):
        return None
    widget = widget_ref.get_object()
    if not isinstance(widget, generic.DictionaryObject) or widget.get("/Subtype") != "/Widget":
        return None
    chain, objs = [widget_ref], [widget]
    while len(chain) < 32 and "/Parent" in objs[-1]:
        parent = objs[-1].raw_get("/Parent")
        if not isinstance(parent, generic.IndirectObject) or any(
            parent.reference == r.reference for r in chain
        ):
            break
        obj = parent.get_object()
        if not isinstance(obj, generic.DictionaryObject):
            break
        chain.append(parent)
        objs.append(obj)
    field_type = next((o["/FT"] for o in objs if "/FT" in o), None)
    holder = next((i for i, o in enumerate(objs) if "/V" in o), None)
    if field_type != "/Sig" or holder is None:
        return None
    if not isinstance(objs[holder]["/V"], generic.DictionaryObject):
        return None  # not signed (an empty or null value), as the form's walk skips it
    parts = [str(o["/T"]) for o in reversed(objs[holder:]) if "/T" in o]
    return ".".join(parts) or "(page annotation)", chain[holder]


__all__ = ["OUTSIDE_FORM", "SignatureField", "signature_fields", "unlisted_signatures"]
