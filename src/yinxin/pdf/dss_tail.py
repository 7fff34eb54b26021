"""The difference analysis of a signature followed by one revision that only adds to the DSS.

A contract the platform hands out is B-LT: its last signature's revision is followed by one
more, written by the same signer, that adds to the Document Security Store (the chain, OCSP
responses and CRLs) — a new DSS, or the first signer's grown — and may rewrite the ``/Info``
dictionary's dates. pyHanko's difference analysis (``StandardDiffPolicy.review_file``) judges
that revision ``LTA_UPDATES`` after running every rule over it: the catalogue, ``/Info``, the
DSS, XMP metadata, the form, object and xref streams, orphans, and a walk of every object of
the signed revision listing the paths to each (to catch an old object pointing at a number only
the new revision defines). In a batch that analysis was ~18 % of a file's verification.

:class:`DssTailPolicy` answers ``LTA_UPDATES`` itself only when the revision is *exactly* that
shape, checked here rule by rule and at least as strict as pyHanko's rules in every point;
anything else — more than one later revision, a hybrid xref section, an object stream, a freed
object, any object of the signed revision rewritten other than the catalogue, ``/Info`` and the
DSS dictionary itself, a catalogue key other than ``/DSS`` changed, a trailer key other than
``/Size``/``/Prev``/``/ID`` changed, a DSS or VRI entry pyHanko would not take, an object
neither reached from the DSS nor ``/Info`` — is handed to pyHanko's own ``review_file``
unchanged, so it can only ever agree with pyHanko or defer to it. What the shape must satisfy,
against the rule of pyHanko 0.38 it stands for:

* ``XrefStreamRule``: the revision's cross-reference section is a table, or a stream that is a
  new object;
* ``CatalogModificationRule``: the catalogue keeps every key and value (references compared
  as references, direct values compared exactly) but ``/DSS``, which it gains or changes;
* ``DocInfoRule`` (``safe_whitelist``): ``/Info`` is the same reference, a dictionary before and
  after (never a stream), holding no reference, and the signed revision reaches that object
  only through the trailer's ``/Info`` (its recorded usages are exactly that path);
* ``DSSCompareRule`` with ``compare_key_refs``/``safe_whitelist``: the DSS is a new object, a
  direct dictionary, or the old DSS object rewritten in place — a dictionary before and after,
  reached in the signed revision only as ``/Root/DSS``; it keeps every key the old DSS had and
  holds only ``/Type /DSS``, ``/Certs``, ``/CRLs``, ``/OCSPs`` — arrays (new, or the old DSS's
  own array object untouched) of references to streams that are new or were listed in the old
  DSS — and ``/VRI``: the old one untouched, or one that keeps every old entry exactly and adds
  entries whose keys are 40 upper-case hex digits and whose values are dictionaries of
  ``/Cert``, ``/CRL``, ``/OCSP`` (arrays of new stream references), ``/TS`` (a new stream
  reference) and ``/Type``/``/TU`` (direct values); a new stream's dictionary refers to nothing
  but a new ``/Length`` number;
* the policy's check that every object written in the revision is explained: each new object
  is reached from the DSS (no orphans, which pyHanko would let through), and none is named by
  any object of the signed revision (``_get_usages_of_ref`` on the same walk pyHanko makes,
  answered in a batch by ``accel``); form fields, annotations, pages, metadata: untouched,
  since no other object of the signed revision is rewritten.

``tests/integration/test_pdf_dss_tail.py`` checks each refusal with a file pyHanko itself
judges (each fails with its check taken out), and that every file the shortcut takes is one
pyHanko judges ``LTA_UPDATES``.
"""

from __future__ import annotations

import re

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.reader import PdfFileReader, RawPdfPath
from pyhanko.pdf_utils.xref import XRefSectionType
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    DiffPolicy,
    DiffResult,
    ModificationLevel,
    SuspiciousModification,
)

_DSS_ARRAYS = ("/Certs", "/CRLs", "/OCSPs")
_VRI_ARRAYS = ("/Cert", "/CRL", "/OCSP")
_VRI_KEY = re.compile(r"/[A-Z0-9]{40}")  # pyhanko.sign.diff_analysis.constants.VRI_KEY_PATTERN
_TRAILER_FREE = frozenset(("/Size", "/Prev", "/ID"))
_PRIMITIVES = (
    generic.NumberObject,
    generic.FloatObject,
    generic.BooleanObject,
    generic.NameObject,
    generic.NullObject,
)
_STRINGS = (generic.TextStringObject, generic.ByteStringObject)


class _NotTheShape(Exception):
    """The revision is not the plain DSS tail: pyHanko reviews it."""


class DssTailPolicy(DiffPolicy):
    """pyHanko's default policy, with the plain DSS-only tail answered directly."""

    def __init__(self, standard: DiffPolicy = DEFAULT_DIFF_POLICY) -> None:
        self.standard = standard

    def apply(self, old, new, field_mdp_spec=None, doc_mdp=None) -> DiffResult:
        return self.standard.apply(old, new, field_mdp_spec, doc_mdp)

    def review_file(
        self, reader, base_revision, field_mdp_spec=None, doc_mdp=None
    ) -> DiffResult | SuspiciousModification:
        if isinstance(base_revision, int) and dss_tail(reader, base_revision):
            return DiffResult(ModificationLevel.LTA_UPDATES, set())
        return self.standard.review_file(reader, base_revision, field_mdp_spec, doc_mdp)


def dss_tail(reader: PdfFileReader, base: int) -> bool:
    """Is the revision after ``base`` the file's last, and one that only adds a DSS?"""
    try:
        return _dss_tail(reader, base)
    except (_NotTheShape, misc.PdfError, KeyError, TypeError, ValueError, IndexError):
        return False


def _dss_tail(reader: PdfFileReader, base: int) -> bool:
    xrefs = reader.xrefs
    rev = base + 1
    if xrefs.total_revisions != base + 2:
        return False
    meta = xrefs.get_xref_container_info(rev)
    if meta.xref_section_type == XRefSectionType.STANDARD and meta.stream_ref is None:
        xref_stream = None
    elif meta.xref_section_type == XRefSectionType.STREAM and meta.stream_ref is not None:
        xref_stream = meta.stream_ref  # XrefStreamRule: a new one, checked below
    else:
        return False  # a hybrid file: pyHanko's
    if xrefs.object_streams_used_in(rev) or xrefs.refs_freed_in_revision(rev):
        return False
    old = reader.get_historical_resolver(base)
    new = reader.get_historical_resolver(rev)  # the last revision: what ``reader`` reads
    root_ref = new.root_ref
    if old.root_ref != root_ref:
        return False
    old_trailer, new_trailer = old.trailer_view, new.trailer_view
    for key in (set(old_trailer) | set(new_trailer)) - _TRAILER_FREE:
        if key not in old_trailer or key not in new_trailer:
            return False
        if not _same(old_trailer.raw_get(key), new_trailer.raw_get(key)):
            return False
    info = new_trailer.raw_get("/Info") if "/Info" in new_trailer else None
    info_ref = info.reference if isinstance(info, generic.IndirectObject) else None

    old_root = old.root
    old_dss_raw = old_root.raw_get("/DSS") if "/DSS" in old_root else None
    old_dss_ref = old_dss_raw.reference if _is_ref(old_dss_raw) else None

    fresh: set[generic.Reference] = set()
    info_rewritten = dss_rewritten = False
    if xref_stream is not None and not old.is_ref_unassignable(xref_stream):
        return False
    for ref in xrefs.explicit_refs_in_revision(rev):
        if ref in (root_ref, xref_stream):
            continue
        if ref == info_ref:
            info_rewritten = True
        elif ref == old_dss_ref:
            dss_rewritten = True  # the DSS updated in place, as pyHanko's add_dss does
        elif old.is_ref_unassignable(ref):
            fresh.add(ref)
        else:
            return False  # an object of the signed revision rewritten
    if info_rewritten:
        for obj in (old(info_ref), reader.get_object(info_ref)):
            if not _dictionary(obj):
                return False
        if _refers(reader.get_object(info_ref)):
            return False

    new_root = reader.root
    if "/DSS" not in new_root or set(new_root) != set(old_root) | {"/DSS"}:
        return False
    if not all(_same(old_root.raw_get(k), new_root.raw_get(k)) for k in old_root if k != "/DSS"):
        return False
    old_dss = _old_dss(old, old_root)

    tail = _Tail(reader, fresh, old_dss)
    new_dss_raw = new_root.raw_get("/DSS")
    if _is_ref(new_dss_raw) and new_dss_raw.reference == old_dss_ref:
        # safe_whitelist: the same reference, a dictionary before and after (never a stream)
        dss = reader.get_object(old_dss_ref)
        if not _dictionary(dss):
            return False
    else:
        dss = tail.dictionary(new_dss_raw)
    if not set(dss) <= {"/Type", "/VRI", *_DSS_ARRAYS} or not set(old_dss) <= set(dss):
        return False
    if "/Type" in dss and dss.raw_get("/Type") != "/DSS":
        return False
    for key in _DSS_ARRAYS:
        if key in dss:
            tail.streams(dss.raw_get(key), old_dss.raw_get(key) if key in old_dss else None)
    if "/VRI" in dss:
        old_vri_raw = old_dss.raw_get("/VRI") if "/VRI" in old_dss else None
        raw = dss.raw_get("/VRI")
        if not (_is_ref(raw) and _is_ref(old_vri_raw) and raw.reference == old_vri_raw.reference):
            old_vri = _old_dictionary(old, old_vri_raw)
            vri = tail.dictionary(raw)
            for key in old_vri:  # DSSCompareRule._check_vri: every old entry, unchanged
                if key not in vri or not _same(old_vri.raw_get(key), vri.raw_get(key)):
                    return False
            for key in set(vri) - set(old_vri):
                if not _VRI_KEY.fullmatch(key):
                    return False
                entry = tail.dictionary(vri.raw_get(key))
                if not set(entry) <= {"/Type", "/TU", "/TS", *_VRI_ARRAYS}:
                    return False
                for part in _VRI_ARRAYS:
                    if part in entry:
                        tail.streams(entry.raw_get(part), None)
                if "/TS" in entry:
                    tail.stream(entry.raw_get("/TS"))
                for part in ("/Type", "/TU"):
                    if part in entry and _refers(entry.raw_get(part)):
                        return False
        # else: the signed revision's own /VRI object, not rewritten: unchanged
    if tail.reached != fresh:
        return False  # an object the DSS does not reach
    old._load_reverse_xref_cache()
    if any(old._get_usages_of_ref(ref) for ref in fresh):
        return False  # the signed revision already named a number this revision defines
    if dss_rewritten and old._get_usages_of_ref(old_dss_ref) != {RawPdfPath("/Root", "/DSS")}:
        return False  # the old DSS object is reached some other way too
    return not info_rewritten or old._get_usages_of_ref(info_ref) == {RawPdfPath("/Info")}


class _Tail:
    """Reads the DSS of the last revision, noting each new object it reaches. Besides the
    objects the revision adds, a DSS array may keep the streams the signed revision's DSS
    listed (``DSSCompareRule`` lets a DSS grow) and an array the old DSS held, unchanged; any
    other reference, or a value of another kind, ends the shortcut."""

    def __init__(
        self,
        reader: PdfFileReader,
        fresh: set[generic.Reference],
        old_dss: generic.DictionaryObject,
    ) -> None:
        self.reader, self.fresh = reader, fresh
        self.reached: set[generic.Reference] = set()
        self.kept = _listed(old_dss)  # the old DSS's streams, which a new array may name again

    def _take(self, raw):
        if isinstance(raw, generic.IndirectObject):
            ref = raw.reference
            if ref not in self.fresh:
                raise _NotTheShape
            self.reached.add(ref)
            return self.reader.get_object(ref)
        return raw

    def dictionary(self, raw) -> generic.DictionaryObject:
        obj = self._take(raw)
        if not _dictionary(obj):
            raise _NotTheShape
        return obj

    def streams(self, raw, old_raw) -> None:
        """An array of stream references: a new one, or the old DSS's own array (``old_raw``)
        named again, not rewritten; either way every item a stream (``_assert_stream_refs``)."""
        if _is_ref(raw) and _is_ref(old_raw) and raw.reference == old_raw.reference:
            array = self.reader.get_object(raw.reference)
        else:
            array = self._take(raw)
        if not isinstance(array, generic.ArrayObject):
            raise _NotTheShape
        for item in array:
            if _is_ref(item) and item.reference in self.kept:
                if not isinstance(self.reader.get_object(item.reference), generic.StreamObject):
                    raise _NotTheShape
            else:
                self.stream(item)

    def stream(self, raw) -> None:
        if not isinstance(raw, generic.IndirectObject):
            raise _NotTheShape  # pyHanko asks for references to streams
        stream = self._take(raw)
        if not isinstance(stream, generic.StreamObject):
            raise _NotTheShape
        for key in stream:
            value = stream.raw_get(key)
            if key == "/Length" and isinstance(value, generic.IndirectObject):
                if not isinstance(self._take(value), generic.NumberObject):
                    raise _NotTheShape
            elif _refers(value):
                raise _NotTheShape


def _old_dss(old, old_root) -> generic.DictionaryObject:
    """The signed revision's DSS (empty if none): a dictionary, never a stream, and if it was
    referenced, by a reference (``safe_whitelist``: the new DSS must then be a new object or a
    direct dictionary, which ``_Tail.dictionary`` asks)."""
    if "/DSS" not in old_root:
        return generic.DictionaryObject()
    return _old_dictionary(old, old_root.raw_get("/DSS"))


def _old_dictionary(old, raw) -> generic.DictionaryObject:
    if raw is None:
        return generic.DictionaryObject()
    obj = old(raw.reference) if _is_ref(raw) else raw
    if not _dictionary(obj):
        raise _NotTheShape
    return obj


def _listed(old_dss: generic.DictionaryObject) -> set[generic.Reference]:
    """The stream references in the old DSS's /Certs, /CRLs and /OCSPs arrays."""
    out: set[generic.Reference] = set()
    for key in _DSS_ARRAYS:
        if key in old_dss:
            array = old_dss[key]
            if isinstance(array, generic.ArrayObject):
                out.update(item.reference for item in array if _is_ref(item))
    return out


def _is_ref(value) -> bool:
    return isinstance(value, generic.IndirectObject)


def _dictionary(obj) -> bool:
    return isinstance(obj, generic.DictionaryObject) and not isinstance(obj, generic.StreamObject)


def _refers(value) -> bool:
    """Does a direct value hold an indirect reference anywhere inside it?"""
    if isinstance(value, generic.IndirectObject):
        return True
    if isinstance(value, generic.DictionaryObject):
        return any(_refers(value.raw_get(k)) for k in value)
    if isinstance(value, generic.ArrayObject):
        return any(_refers(v) for v in value)
    return False


def _same(a, b) -> bool:
    """The same raw value: references by number, direct values exactly (a string by its bytes
    as written), never a stream."""
    if isinstance(a, generic.IndirectObject):
        return isinstance(b, generic.IndirectObject) and a.reference == b.reference
    if isinstance(a, generic.StreamObject) or isinstance(b, generic.StreamObject):
        return False
    if isinstance(a, generic.DictionaryObject):
        return (
            isinstance(b, generic.DictionaryObject)
            and a.keys() == b.keys()
            and all(_same(a.raw_get(k), b.raw_get(k)) for k in a)
        )
    if isinstance(a, generic.ArrayObject):
        return (
            isinstance(b, generic.ArrayObject)
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, _STRINGS):
        return isinstance(b, _STRINGS) and a.original_bytes == b.original_bytes
    if isinstance(a, _PRIMITIVES):
        return type(a) is type(b) and a == b
    return False


DIFF_POLICY = DssTailPolicy()
