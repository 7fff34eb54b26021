"""Faster, result-identical replacements for hot spots of pyHanko/asn1crypto, used only
while our verifier runs.

Profiling ``verify_pdf`` on a B-LT contract (cProfile, 2026-12-01) put half of the time in
pure-Python loops whose results do not need them:

* pyHanko's PDF reader reads a hex string (a signature's ``/Contents``, 48 000 hex digits for
  the 24 kB we reserve) one byte at a time through a generator: ~15 ms a signature.
  :func:`_read_hex_string` finds the closing ``>`` with one ``find`` and decodes with
  ``binascii``; anything unusual (a comment inside, a non-hex byte, no ``>`` before the end)
  goes to pyHanko's own function, so errors and odd inputs are pyHanko's.
* asn1crypto compares X.509 names (issuer matching, path building, OCSP/CRL issuer checks) by
  running stringprep over every attribute of both names, each time, on each new parse of the
  same certificate. :func:`_name_hashable` and :func:`_name_eq` memoise ``hashable`` and
  ``==`` of ``RDNSequence`` by the names' DER encodings, which is all the results depend on
  (and on the name object, see :func:`remembered`). ``Certificate.issuer_serial`` (pyHanko's
  ``read_dss`` keys every DSS certificate of every file by it, parsing each again), the parsed
  extensions and an object identifier's dotted text (:func:`_oid_dotted`) are shared by their
  bytes the same way. A DSS certificate and the CMS's copy of the same bytes are one object
  (:func:`shared_certificate`), so a signer's certificate is decoded once a file.
* pyHanko checks each CMS signature's signing-certificate attribute (``check_ess_certid``:
  hash the certificate, compare issuer and serial) five times a file, of the same few
  certificates; :func:`_check_ess_certid` answers by the two DER encodings (~1 ms a file).
  The whole check around it (:func:`_check_signing_certificate`: find the attribute, re-parse
  it) ran twice for the signature and twice for its timestamp token, and the certificate
  extraction before it (:func:`_extract_certs_for_validation`) twice for the signature: both
  are kept, by the attribute list's content and on the ``SignedData`` object.
* The PDF lexer reads tokens a byte at a time (``misc._read_until_class`` behind names and
  numbers, ``read_non_whitespace``, ``IndirectObject.read_from_stream``, ``_decode_name``),
  and ``HistoricalResolver._subsume_object`` builds and drops a ``Reference`` for every number
  and name it copies; the difference analysis reads and copies the whole object graph of the
  signed revision; in the 100-contract batch these cost ~15 % of the CPU time (issue 10,
  2026-12-01, A/B in one process). The replacements peek a chunk and use a regex, and hand
  anything unusual (comments, escapes, a run longer than the peek, end of stream) to pyHanko's
  function from the same stream position. ``tests/integration/test_pdf_batch.py`` checks
  value, error and stream position against the originals on random token soup, and whole
  reports with the replacements switched off.

* In an archive most objects of every file are byte for byte those of the others (the
  contract's pages, fonts and seal images; the catalogue, form and certificates), and pyHanko
  parses each of them again in each file. Inside :func:`objects` (a batch),
  :func:`_read_object` keeps a parsed copy of each plain indirect object by its exact bytes,
  from the object header to its ``endobj``, and hands out a copy bound to the asking reader
  (its container reference and the reader behind its indirect references) — what parsing
  those bytes in that reader builds (``_rehome``). Kept only when the parse provably read
  nothing else: not encrypted, not in an object stream, not a metadata stream, no indirect
  ``/Length``, and the reader consumed exactly that ``endobj`` after the object; and only from
  the second time those bytes are met (a file's own signature, DSS streams and appearance
  never come again: copying and holding them cost ~8 % of a batch). Any other object, and any
  type not listed in ``_rehome``, is parsed by pyHanko every time.

* The difference analysis walks every object of a signed revision to list the paths to each
  object (``HistoricalResolver._load_reverse_xref_cache``); in a batch,
  :func:`_load_reverse_xref_cache` answers from an earlier file's walk when the trailer and
  every object that walk read have the same *skeleton* (node kinds, keys, references, the
  ``/Type`` values: all the walk reads) up to a one-to-one renaming of keys, the names the
  walk reads fixed. ``tests/integration/test_pdf_batch.py`` compares every answer with
  pyHanko's walk of that revision in a fresh reader.
* pyHanko deep-copies every certificate of a CMS each time it extracts them (three times a
  file); :func:`_extract_certificate_info` shares one untagged copy per DER. It decodes every
  CMS attribute's type on each attribute lookup (~80 a file); :func:`_find_cms_attribute_iter`
  decodes each list's types once. ``DisallowWeakAlgorithmsPolicy`` ignores the moment, so its
  answer is kept by algorithm and key DER (:func:`_signature_algorithm_allowed`). Each
  signature check loads its public key from DER, in an archive mostly the same four keys;
  loaded keys are kept by DER (:class:`_KeyLoading`).

All are installed once, module-wide, but act only inside :func:`fast` (a context variable,
so threads and concurrent tasks outside a verification — and pyHanko called directly, as the
benchmark's reference is — see the original code). Everything else runs unchanged.
"""

from __future__ import annotations

import binascii
import contextlib
import contextvars
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from asn1crypto import core as a_core
from asn1crypto import x509 as a_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader, RawPdfPath
from pyhanko.sign import general
from pyhanko.sign.validation import ades, dss, generic_cms
from pyhanko_certvalidator import sig_validate
from pyhanko_certvalidator.policy_decl import DisallowWeakAlgorithmsPolicy

T = TypeVar("T")
K = TypeVar("K")
_ON: contextvars.ContextVar[bool] = contextvars.ContextVar("yinxin_pdf_accel", default=False)
_WHITESPACE = b" \n\r\t\f\x00"  # pyhanko.pdf_utils.misc.PDF_WHITESPACE
_CHUNK = 1 << 16
_NAMES_MAX = 4096

_orig_hex = generic.read_hex_string_from_stream
_orig_until_class = misc._read_until_class
_orig_non_ws = misc.read_non_whitespace
_orig_decode_name = generic._decode_name
_orig_indirect = generic.IndirectObject.read_from_stream
_orig_subsume = HistoricalResolver._subsume_object
_orig_read_object = PdfFileReader._read_object
_orig_reverse_xrefs = HistoricalResolver._load_reverse_xref_cache
_orig_hashable = a_x509.RDNSequence.hashable
_orig_eq = a_x509.RDNSequence.__eq__
_orig_cert_ext = a_x509.Certificate._set_extensions
_orig_issuer_serial = a_x509.Certificate.issuer_serial
_orig_dotted = a_core.ObjectIdentifier.dotted
_orig_ess_certid = generic_cms.check_ess_certid
_orig_cert_info = general.extract_certificate_info
_orig_certs_for_validation = generic_cms.extract_certs_for_validation
_orig_check_signing_cert = generic_cms._check_signing_certificate
_orig_attribute_iter = general.find_cms_attribute_iter
_untagged: dict[tuple[type, bytes], object] = {}
_orig_sig_allowed = DisallowWeakAlgorithmsPolicy.signature_algorithm_allowed
_sig_allowed: dict[tuple, object] = {}
_ess: dict[tuple[bytes, type, bytes], bool] = {}
_signing_certs: dict[tuple[bytes, bytes], bool] = {}  # (attributes' content, certificate): passed
_issuer_serials: dict[bytes, bytes] = {}
_dotted: dict[bytes, str] = {}  # an object identifier's content octets -> its dotted text
_names: dict[bytes, str] = {}
_equal: dict[tuple[bytes, bytes], bool] = {}
# certificate DER -> the attributes asn1crypto's ``_set_extensions`` set on a certificate
_CERT_EXT_ATTRS = tuple(
    n for n in vars(a_x509.Certificate) if n.endswith("_value") and n.startswith("_")
)
_cert_ext: dict[bytes, tuple[set[str], dict[str, object]]] = {}
_public_keys: dict[bytes, object] = {}  # SubjectPublicKeyInfo DER -> cryptography's key


def _kept(memo: dict[K, T], key: K, compute: Callable[[], T]) -> T:
    """``memo[key]``, computed the first time it is asked. A memo that has reached
    ``_NAMES_MAX`` entries is emptied first, so an archive of many distinct certificates
    costs recomputation, never unbounded memory. Exceptions are not kept."""
    value = memo.get(key)
    if value is None:
        value = compute()
        if len(memo) >= _NAMES_MAX:
            memo.clear()
        memo[key] = value
    return value


def forget() -> None:
    """Drop every answer kept module-wide (the memos above, by DER).

    They live as long as the process, so a second batch in one process starts with the first
    one's certificates, names and attributes already decoded: right for a server, but not
    what a relying party's first run over an archive gets. A benchmark calls this before each
    timed round so every round starts as cold as the first."""
    for memo in (
        _untagged,
        _sig_allowed,
        _ess,
        _signing_certs,
        _issuer_serials,
        _dotted,
        _names,
        _equal,
        _cert_ext,
        _public_keys,
    ):
        memo.clear()


@contextlib.contextmanager
def fast() -> Iterator[None]:
    token = _ON.set(True)
    try:
        yield
    finally:
        _ON.reset(token)


@dataclass
class ObjectStore:
    """Parsed indirect objects of one batch by their bytes (:func:`_read_object`)."""

    parsed: dict[tuple, object] = field(default_factory=dict)
    size: int = 0  # bytes of the keys held
    hits: int = 0
    sighted: set[int] = field(default_factory=set)  # hashes of keys parsed once, not kept
    # the same keys -> (skeleton, its dictionary keys) of the object (``_described``)
    skeletons: dict[tuple, tuple[object, frozenset]] = field(default_factory=dict)
    walks: list[_Walk] = field(default_factory=list)  # ``_load_reverse_xref_cache``
    walk_hits: int = 0

    def clear(self) -> None:
        self.parsed.clear()
        self.skeletons.clear()
        self.size = 0


@dataclass(frozen=True)
class _Walk:
    """One reverse-reference walk of a signed revision, as ``_load_reverse_xref_cache``
    keeps it: the trailer's and each read object's (skeleton, keys), and the paths found."""

    trailer: tuple[object, frozenset]
    visited: tuple[tuple[tuple[int, int], tuple[object, frozenset]], ...]
    paths: dict[tuple[int, int], frozenset]


_OBJECTS: contextvars.ContextVar[ObjectStore | None] = contextvars.ContextVar(
    "yinxin_pdf_objects", default=None
)
_OBJECTS_MAX_BYTES = 64 << 20
_SIGHTED_MAX = 1 << 18


@contextlib.contextmanager
def objects(store: ObjectStore | None) -> Iterator[None]:
    """Share parsed objects through ``store`` inside (``None``: parse everything)."""
    token = _OBJECTS.set(store)
    try:
        yield
    finally:
        _OBJECTS.reset(token)


def _read_hex_string(stream):
    if not _ON.get():
        return _orig_hex(stream)
    start = stream.tell()
    data = b""
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:  # no closing ">": pyHanko's error
            stream.seek(start)
            return _orig_hex(stream)
        data += chunk
        end = data.find(b">", 1)
        if end >= 0:
            break
    body = data[1:end]
    if b"%" in body:  # a comment inside a hex string: rare, leave it to pyHanko
        stream.seek(start)
        return _orig_hex(stream)
    body = body.translate(None, _WHITESPACE)
    if body.translate(None, generic.HEX_DIGITS):  # a non-hex byte: pyHanko's error
        stream.seek(start)
        return _orig_hex(stream)
    if len(body) % 2:
        body += b"0"
    stream.seek(start + end + 1)
    return generic.pdf_string(binascii.unhexlify(body))


# what ``_read_until_class`` reads byte by byte: how far a token goes, one regex per class
_NOT_IN: dict[bytes, re.Pattern[bytes]] = {}
_PEEK = 64
# bytes a name may hold unescaped (``_decode_name``): printable, no delimiter, no ``#``
_NAME_PLAIN = bytes(b for b in range(0x21, 0x7F) if b not in misc.PDF_DELIMITERS and b != 0x23)


def _read_until_class(class_chars: bytes, stream, maxchars=None):
    """``misc._read_until_class`` (behind ``read_until_delimiter`` / ``_whitespace``) with one
    read and a regex instead of a generator over single bytes: same bytes returned, same
    ``end`` flag, the stream left at the same position (after the stopping byte, or at EOF,
    or after ``maxchars`` bytes)."""
    if not _ON.get():
        return _orig_until_class(class_chars, stream, maxchars)
    pattern = _NOT_IN.get(class_chars)
    if pattern is None:
        pattern = _NOT_IN[class_chars] = re.compile(b"[^" + re.escape(class_chars) + b"]*")
    limit = maxchars or None  # the original treats 0 as no limit
    start = stream.tell()
    data = b""
    while True:
        want = _PEEK if limit is None else min(_PEEK, limit - len(data))
        if want <= 0:  # maxchars bytes read, none of them stopping: no EOF
            stream.seek(start + len(data))
            return data, False
        chunk = stream.read(want)
        n = pattern.match(chunk).end()
        if n < len(chunk):  # stopped at a byte of the class, consumed as the original does
            stream.seek(start + len(data) + n + 1)
            return data + chunk[:n], False
        data += chunk
        if len(chunk) < want:  # end of stream
            return data, True


def _read_non_whitespace(stream, seek_back=False, allow_eof=False):
    """``misc.read_non_whitespace``: skip PDF whitespace with one read; comments, end of
    stream and a run of whitespace longer than the peek go to pyHanko's function."""
    if not _ON.get():
        return _orig_non_ws(stream, seek_back, allow_eof)
    start = stream.tell()
    chunk = stream.read(_PEEK)
    i = len(chunk) - len(chunk.lstrip(_WHITESPACE))
    if i == len(chunk) or chunk[i] == 0x25:  # all whitespace / EOF, or a comment (%)
        stream.seek(start)
        return _orig_non_ws(stream, seek_back, allow_eof)
    stream.seek(start + i + (0 if seek_back else 1))
    return chunk[i : i + 1]


def _decode_name(name_bytes: bytes):
    """``generic._decode_name`` for the usual name — printable ASCII, no ``#`` escape — is its
    ASCII text; anything else (escapes, bytes that must have been escaped) is pyHanko's."""
    if _ON.get() and not name_bytes.translate(None, _NAME_PLAIN):
        return generic.NameObject("/" + name_bytes.decode("ascii"))
    return _orig_decode_name(name_bytes)


# ``IndirectObject.read_from_stream``: the id and generation end at a byte ``bytes.isspace``
# knows; the ``R`` comes after PDF whitespace (``read_non_whitespace``)
_INDIRECT = re.compile(
    rb"[ \t\n\r\x0b\x0c]*([0-9]+)[ \t\n\r\x0b\x0c]+([0-9]+)[ \t\n\r\x0b\x0c][ \n\r\t\x0c\x00]*R"
)


def _read_indirect(stream, container_ref):
    """``IndirectObject.read_from_stream`` for the usual ``12 0 R``: one read and a regex
    instead of a byte at a time. Object number 0, comments, long runs of whitespace, anything
    not matched go to pyHanko's function from the same position (and its errors)."""
    if not _ON.get():
        return _orig_indirect(stream, container_ref)
    start = stream.tell()
    m = _INDIRECT.match(stream.read(_PEEK))
    if m is None or int(m.group(1)) == 0:
        stream.seek(start)
        return _orig_indirect(stream, container_ref)
    stream.seek(start + m.end())
    return generic.IndirectObject(int(m.group(1)), int(m.group(2)), container_ref.get_pdf_handler())


def _subsume_object(self, obj):
    """``HistoricalResolver._subsume_object``: the same copies, minus a ``Reference`` built and
    dropped for every number, name and string (the original makes one for each object before
    it looks at the type; here a primitive's container reference is only read, so a missing one
    fails the same way). Encrypted objects go to pyHanko's function."""
    if not _ON.get():
        return _orig_subsume(self, obj)
    return _subsume(self, obj)


def _subsume(self, obj):
    if isinstance(obj, generic.DecryptedObjectProxy):
        return _orig_subsume(self, obj)
    ref = obj.get_container_ref()
    if isinstance(obj, generic.IndirectObject):
        ref.idnum, ref.generation  # noqa: B018 — what the original reads, and fails on
        return generic.IndirectObject(idnum=obj.idnum, generation=obj.generation, pdf=self)
    if not isinstance(obj, generic.DictionaryObject | generic.ArrayObject):
        ref.idnum, ref.generation  # noqa: B018
        return obj
    container_ref = generic.Reference(idnum=ref.idnum, generation=ref.generation, pdf=self)
    if isinstance(obj, generic.StreamObject):
        result = generic.StreamObject(
            {k: _subsume(self, v) for k, v in obj.items()}, encoded_data=obj.encoded_data
        )
    elif isinstance(obj, generic.DictionaryObject):
        result = generic.DictionaryObject({k: _subsume(self, v) for k, v in obj.items()})
    else:
        result = generic.ArrayObject(_subsume(self, v) for v in obj)
    result.container_ref = container_ref
    return result


def _name_hashable(self) -> str:
    """``RDNSequence.hashable`` (stringprep of every attribute) by the name's DER, and kept on
    the name object too (:func:`remembered`): a file asks it of the same few name objects ~27
    times, and their DER, re-checked for changes by asn1crypto's ``dump``, cost more than the
    answer's lookup."""
    if not _ON.get():
        return _orig_hashable.fget(self)
    return remembered(self, "hashable", (), lambda: _hashable_by_der(self))


def _hashable_by_der(name) -> str:
    return _kept(_names, der(name), lambda: _orig_hashable.fget(name))


def _name_eq(self, other) -> bool:
    """``RDNSequence.__eq__`` by the two names' DER, and kept on the name object for the other
    (:func:`remembered`), as ``hashable`` is."""
    if not _ON.get() or not isinstance(other, a_x509.RDNSequence):
        return _orig_eq(self, other)
    return remembered(self, "eq", (other,), lambda: _equal_by_der(self, other))


def _equal_by_der(name, other) -> bool:
    return _kept(_equal, (der(name), der(other)), lambda: _orig_eq(name, other))


def _cert_set_extensions(self) -> None:
    """``Certificate._set_extensions`` by the certificate's DER: the parsed extension values
    (read-only to every caller) of the first certificate with these bytes, shared."""
    if not _ON.get():
        return _orig_cert_ext(self)
    encoded = der(self)
    hit = _cert_ext.get(encoded)
    if hit is None:
        _orig_cert_ext(self)
        hit = (
            frozenset(self._critical_extensions),
            {n: v for n in _CERT_EXT_ATTRS if (v := self.__dict__.get(n)) is not None},
        )
        if len(_cert_ext) >= _NAMES_MAX:
            _cert_ext.clear()
        _cert_ext[encoded] = hit
        return None
    critical, values = hit
    self._critical_extensions = set(critical)
    for n, v in values.items():
        setattr(self, n, v)
    self._processed_extensions = True
    return None


def _cert_issuer_serial(self) -> bytes:
    """``Certificate.issuer_serial`` (SHA-256 of the issuer name, ``:``, the serial) by the
    certificate's DER. pyHanko's ``read_dss`` computes it for every DSS certificate of every
    file, parsing each again; the value depends on nothing but those bytes."""
    if not _ON.get() or self._issuer_serial is not None:
        return _orig_issuer_serial.fget(self)
    value = _kept(_issuer_serials, der(self), lambda: _orig_issuer_serial.fget(self))
    self._issuer_serial = value
    return value


def _oid_dotted(self) -> str:
    """``ObjectIdentifier.dotted`` by the identifier's content octets. asn1crypto decodes the
    base-128 digits of every identifier it meets, a few thousand a batch (each certificate,
    attribute, extension and algorithm names its type by one), from a vocabulary of a few
    dozen; the text depends on nothing but those octets."""
    contents = self.contents
    if self._dotted is not None or type(contents) is not bytes or not _ON.get():
        return _orig_dotted.fget(self)
    text = _kept(_dotted, contents, lambda: _orig_dotted.fget(self))
    self._dotted = text
    return text


def _check_ess_certid(cert, certid) -> bool:
    """pyHanko's ``check_ess_certid`` (does a signing-certificate attribute name this
    certificate: its hash, then issuer and serial) by the two DER encodings and the attribute's
    type, which picks the hash. pyHanko asks it five times a file, mostly of the same TSA and
    signer certificates; the answer depends on nothing else. Errors are not kept."""
    if not _ON.get():
        return _orig_ess_certid(cert, certid)
    key = (der(cert), type(certid), der(certid))
    return _kept(_ess, key, lambda: bool(_orig_ess_certid(cert, certid)))


def _extract_certificate_info(signed_data):
    """pyHanko's ``extract_certificate_info`` (the CMS's certificates, untagged, the signer's
    picked out), with each certificate's untagged copy shared by its class and DER.

    pyHanko deep-copies every certificate of a CMS each time it asks (``untag()``), three
    times a file for the signature and its timestamp token, and then parses each copy again
    to find the signer and to build path registries. A copy of the same bytes has the same
    content, and pyHanko only reads certificates (as the DSS items shared per DER in
    ``verify._load``), so one copy per DER serves every ask. Same steps and errors otherwise.
    """
    if not _ON.get():
        return _orig_cert_info(signed_data)
    certs = []
    attr_certs = []
    for c in signed_data["certificates"]:
        cert = _untag(c.chosen)
        if c.name == "certificate":
            certs.append(cert)
        elif c.name == "v2_attr_cert":
            attr_certs.append(cert)
    signer_info = general.extract_signer_info(signed_data)
    signer_cert, other_certs = general._partition_certs(certs, signer_info)
    return general.SignedDataCerts(
        signer_cert=signer_cert, other_certs=other_certs, attribute_certs=attr_certs
    )


def _extract_certs_for_validation(signed_data):
    """pyHanko's ``extract_certs_for_validation`` (the CMS's certificates, and the check that
    the signing-certificate attribute names the signer's), once per parsed ``SignedData``.

    pyHanko calls it twice for a PDF signature (its embedded-signature object, then the basic
    validation), each time untagging the certificates, finding and re-parsing the attribute
    and hashing the certificate; the answer depends on nothing but the object, which nothing
    mutates. Each caller gets its own lists, as from pyHanko. Errors are not kept."""
    if not _ON.get():
        return _orig_certs_for_validation(signed_data)
    got = remembered(
        signed_data, "certs_for_validation", (), lambda: _orig_certs_for_validation(signed_data)
    )
    return general.SignedDataCerts(
        signer_cert=got.signer_cert,
        other_certs=list(got.other_certs),
        attribute_certs=list(got.attribute_certs),
    )


def _check_signing_certificate(cert, signed_attrs) -> None:
    """pyHanko's ``_check_signing_certificate`` (the signing-certificate attribute, found and
    re-parsed, names ``cert``) by the content of the attribute list and the certificate's DER.

    pyHanko checks the signature's and the timestamp token's twice each, ~0.12 ms a check:
    taking the certificates (the list as tagged inside ``SignerInfo``), then checking the
    signature's integrity (an untagged copy). The two differ only in the tag, so the key is
    the list's content octets; the answer depends on nothing else. A refusal is not kept: it
    is raised again each time."""
    if not _ON.get():
        return _orig_check_signing_cert(cert, signed_attrs)
    signed_attrs.dump()  # brings ``contents`` up to date if anything was changed
    key = (signed_attrs.contents, der(cert))
    _kept(_signing_certs, key, lambda: _signing_cert_passes(cert, signed_attrs))
    return None


def _signing_cert_passes(cert, signed_attrs) -> bool:
    _orig_check_signing_cert(cert, signed_attrs)  # raises if it does not
    return True


def _find_cms_attribute_iter(attrs, name):
    """pyHanko's ``find_cms_attribute_iter`` with each attribute's type read once per
    attribute list: pyHanko looks up the signature's and the timestamp token's attributes by
    type ~80 times a file, decoding every attribute's type each time. If a type does not
    decode, pyHanko's own generator runs, so errors surface where they did."""
    held = getattr(attrs, "__dict__", None)  # a parsed attribute list, not a plain sequence
    if not _ON.get() or not attrs or held is None:
        yield from _orig_attribute_iter(attrs, name)
        return
    types = held.get("_yinxin_types")
    if types is None:
        try:
            types = [(attr["type"].native, attr) for attr in attrs]
            attrs._yinxin_types = types
        except Exception:
            yield from _orig_attribute_iter(attrs, name)
            return
    for kind, attr in types:
        if kind == name:
            yield from attr["values"]


def shared_certificate(encoded: bytes) -> a_x509.Certificate:
    """The one parsed certificate per DER that :func:`_extract_certificate_info` also hands
    out for a CMS's copy of the same bytes (``_untag``): a verifier that loads a DSS or CMS
    certificate through this gets the object pyHanko's extraction gets, so a signer's
    certificate, new in every file, is decoded (names, extensions, key) once a file, not
    once for the DSS and again for the signature."""
    return _kept(_untagged, (a_x509.Certificate, encoded), lambda: a_x509.Certificate.load(encoded))


def _untag(value):
    return _kept(_untagged, (type(value), value.dump()), value.untag)


class _KeyLoading:
    """``cryptography``'s ``serialization`` module as pyHanko's signature check sees it, with
    ``load_der_public_key`` kept by the key's DER inside :func:`fast`.

    ``_validate_raw`` loads the public key from its DER for every signature it checks (~20 µs
    for a P-256 key, which OpenSSL validates as it loads), and in an archive five of a file's
    six checks are by the same keys: the issuing CA's on each certificate, the responder's on
    each OCSP response, the root's on each CRL, the TSA's on each token. A loaded key is an
    immutable object; a DER that does not load raises again each time."""

    def __getattr__(self, name: str) -> Any:
        return getattr(serialization, name)

    @staticmethod
    def load_der_public_key(data: bytes, *args: Any, **kwargs: Any) -> Any:
        if not _ON.get() or args or kwargs:
            return serialization.load_der_public_key(data, *args, **kwargs)
        encoded = bytes(data)
        return _kept(_public_keys, encoded, lambda: serialization.load_der_public_key(encoded))


_KEY_LOADING = _KeyLoading()


def _signature_algorithm_allowed(self, algo, moment, public_key):
    """``DisallowWeakAlgorithmsPolicy.signature_algorithm_allowed`` by the policy's settings,
    the algorithm's DER and the key's DER. That policy "ignores the time parameter completely"
    (its docstring, and its code reads only the algorithm name, the key size and the digest),
    and the answer is a frozen dataclass, so one answer serves every moment. pyHanko asks it
    six times a file, for the same two or three (algorithm, key) pairs of an archive. Only the
    class itself is memoised: a subclass may override what it reads."""
    if not _ON.get() or type(self) is not DisallowWeakAlgorithmsPolicy:
        return _orig_sig_allowed(self, algo, moment, public_key)
    try:
        key = (
            frozenset(self.weak_hash_algos),
            frozenset(self.weak_signature_algos),
            self.rsa_key_size_threshold,
            self.dsa_key_size_threshold,
            der(algo),
            None if public_key is None else der(public_key),
        )
    except Exception:
        return _orig_sig_allowed(self, algo, moment, public_key)
    return _kept(_sig_allowed, key, lambda: _orig_sig_allowed(self, algo, moment, public_key))


class _Uncacheable(Exception):
    pass


# The primitive types a parsed object is built of, each with the built-in type whose value it
# carries (None: none, a plain object). ``_copy`` makes what ``copy.copy`` makes of them
# (``__reduce_ex__(4)``: ``cls.__new__(cls, *__getnewargs__())`` plus the instance dict) without
# its generic dispatch, which was a tenth of a batch's object reading.
_PRIMITIVES: dict[type, type | None] = {
    generic.NumberObject: int,
    generic.NameObject: str,
    generic.TextStringObject: str,
    generic.ByteStringObject: bytes,
    generic.BooleanObject: None,
    generic.NullObject: None,
}


def _copy(obj, t, base):
    new = object.__new__(t) if base is None else base.__new__(t, base(obj))
    state = obj.__dict__
    if state:
        new.__dict__.update(state)
    return new


def _rehome(obj, container_ref, handler):
    """A copy of a parsed object as the reader behind ``handler`` would have parsed the same
    bytes: every node's ``container_ref`` is the object's reference in that reader, indirect
    references point into it, a stream has its encoded data and nothing decoded yet (as
    ``DictionaryObject.read_from_stream`` builds it). Dictionary keys carry no reference and
    are shared, as are the encoded bytes. A type not listed is not copied: ``_Uncacheable``."""
    t = type(obj)
    if t is generic.DictionaryObject:
        new = generic.DictionaryObject(
            {k: _rehome(v, container_ref, handler) for k, v in obj.items()}
        )
    elif t is generic.StreamObject:
        if obj._data is not None or obj._handler is not None:
            raise _Uncacheable
        new = generic.StreamObject(
            {k: _rehome(v, container_ref, handler) for k, v in obj.items()},
            encoded_data=obj._encoded_data,
        )
    elif t is generic.ArrayObject:
        new = generic.ArrayObject([_rehome(v, container_ref, handler) for v in obj])
    elif t is generic.IndirectObject:
        new = generic.IndirectObject(obj.idnum, obj.generation, handler)
    elif t is generic.FloatObject:
        new = t(str(obj))  # C decimal's __copy__ returns the very object: a copy must be new
    elif t in _PRIMITIVES:
        new = _copy(obj, t, _PRIMITIVES[t])
    else:
        raise _Uncacheable
    new.container_ref = container_ref
    return new


def remembered(holder: object, kind: str, objects: tuple, decide: Callable[[], T]) -> T:
    """``decide()``, remembered on ``holder`` (a parsed asn1crypto object) for ``kind`` and
    these other parsed objects, by identity.

    For answers that depend only on the content of ``holder`` and ``objects`` — never on the
    moment — since nothing mutates parsed objects. Keyed by identity rather than DER, because
    re-encoding a large structure for a key cost more than some answers; the entry holds the
    objects, so an id cannot be reused while it is kept. Exceptions are not kept. A holder
    without an attribute dictionary just decides."""
    held = getattr(holder, "__dict__", None)
    if held is None:
        return decide()
    memo = held.get("_yinxin_remembered")
    if memo is None:
        memo = held["_yinxin_remembered"] = {}
    key = (kind, *map(id, objects))
    hit = memo.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], objects, strict=True)):
        return hit[1]
    value = decide()
    memo[key] = (objects, value)
    return value


def der(obj: Any) -> bytes:
    """``obj.dump()`` of a parsed asn1crypto object, kept on the object after the first call.

    The same premise as :func:`remembered`: nothing mutates parsed objects, so their encoding
    cannot change. asn1crypto's ``dump`` walks every parsed child to look for a change before
    it answers (~8 µs for a certificate whose fields have been read); the batch keys its memos
    by DER, and asks it of the same shared CA, TSA and responder certificates, their names and
    keys, some forty times a file. An object without an attribute dictionary is dumped."""
    held = getattr(obj, "__dict__", None)
    if held is None:
        return obj.dump()
    value = held.get("_yinxin_der")
    if value is None:
        value = held["_yinxin_der"] = obj.dump()
    return value


def _object_key(reader, data: bytes, marker, idnum: int, generation: int) -> tuple | None:
    """What the batch keys a parsed object by: its bytes from the header at ``marker`` to the
    first ``endobj``, its number and generation, the reader's strictness; ``None`` for an
    object not at a plain offset (in an object stream, freed) or without an ``endobj``."""
    if type(marker) is not int:
        return None
    end = data.find(b"endobj", marker)
    if end < 0:
        return None
    return (data[marker : end + 6], idnum, generation, bool(reader.strict))


def _read_object(self, ref, marker, never_decrypt=False, as_metadata_stream=False):
    """``PdfFileReader._read_object`` for a plain indirect object met before in this batch
    (same bytes from its header to its ``endobj``): a copy bound to this reader. See the
    module docstring for what is never shared."""
    store = _OBJECTS.get()
    data = getattr(self, "_yinxin_bytes", None)
    if (
        store is None
        or data is None
        or not _ON.get()
        or type(marker) is not int
        or as_metadata_stream
        or self.encrypted
    ):
        return _orig_read_object(self, ref, marker, never_decrypt, as_metadata_stream)
    key = _object_key(self, data, marker, ref.idnum, ref.generation)
    if key is None:
        return _orig_read_object(self, ref, marker, never_decrypt, as_metadata_stream)
    end = len(key[0]) + marker - 6  # where ``endobj`` starts
    template = store.parsed.get(key)
    if template is not None:
        store.hits += 1
        return _rehome(template, generic.Reference(ref.idnum, ref.generation, self), self)
    result = _orig_read_object(self, ref, marker, never_decrypt, as_metadata_stream)
    # the reader stopped right after *this* endobj (and whitespace): the object's value came
    # from these bytes alone, not from a stream that contains the word, nor from elsewhere
    pos = self.stream.tell()
    if pos < end + 6 or data[end + 6 : pos].translate(None, _WHITESPACE):
        return result
    if isinstance(result, generic.StreamObject) and isinstance(
        result.raw_get("/Length"), generic.IndirectObject
    ):
        return result  # its length came from another object
    if not _sighted_before(store, key):
        return result
    try:
        template = _rehome(result, None, None)
    except _Uncacheable:
        return result
    _make_room(store, key)
    store.parsed[key] = template
    return result


def _sighted_before(store: ObjectStore, key: tuple) -> bool:
    """Has ``key`` come before in this batch? (It is noted as come, now.) What is derived
    from an object's bytes is kept from the second sighting on: most of a file's own objects
    (its signature, DSS streams, seal appearance) never come again, and copying and holding
    each cost more than deriving it again for the few that do."""
    sighting = hash(key)
    if sighting in store.sighted:
        return True
    if len(store.sighted) >= _SIGHTED_MAX:
        store.sighted.clear()
    store.sighted.add(sighting)
    return False


def _make_room(store: ObjectStore, key: tuple) -> None:
    """Count ``key``'s bytes as held, emptying the store first if they would pass its bound."""
    if store.size + len(key[0]) > _OBJECTS_MAX_BYTES:
        store.clear()
    store.size += len(key[0])


# Keys the reverse-reference walk reads by name (pyHanko 0.38, reader.py): never renamed.
_NAMED = frozenset(("/Root", "/Pages", "/Kids", "/Type", "/Parent", "/P", "/K", "/StructTreeRoot"))
_WALKS_MAX = 8  # walks a batch keeps: an archive has a few document structures, not many
_MISSING: tuple = ("missing",)  # a sentinel, compared by identity


def _load_reverse_xref_cache(self) -> None:
    """``HistoricalResolver._load_reverse_xref_cache`` — the difference analysis's walk over
    every object of the signed revision, listing each path from the trailer to each object —
    answered from a walk of an earlier file of the batch that provably comes out the same.

    What the walk reads (pyHanko 0.38, read line by line): the trailer and, of each object it
    reads through this resolver, the node kinds (dictionary or stream, array, reference,
    anything else), the dictionary keys, the referenced object numbers, and the values under
    ``/Type`` (the page tree compares them with ``/Pages``, the structure tree with
    ``/StructElem``); no other string, number or stream content. Its result is the set of key
    and index paths to each object. That is the *skeleton* (:func:`_skeleton`). After a walk,
    the objects it read (recorded on the way) and their skeletons are kept with its result. A
    later file whose trailer and those same objects, as its resolver reads them, have the same
    skeletons up to a one-to-one renaming of keys walks an isomorphic graph the same way, so
    its paths are the kept ones with the keys renamed (contracts differ in such keys: each
    seal appearance names its image ``/Img<uuid>``). The keys the walk reads by name
    (``_NAMED``) must match exactly. Skeletons come from the batch's parsed copy of each
    object's bytes (``_read_object``), else, for an object of plain syntax, from its bytes
    (``_plain_skeleton``), else from reading the object as the walk would. An
    encrypted file, or no match: pyHanko walks. The paths are fresh sets with references bound
    to this resolver.
    """
    if self._indirect_object_access_cache is not None:
        return None
    store = _OBJECTS.get()
    reader = self.reader
    if (
        store is None
        or not _ON.get()
        or getattr(reader, "_yinxin_bytes", None) is None
        or reader.encrypted
    ):
        return _orig_reverse_xrefs(self)
    try:
        trailer = _described(self.trailer_view)
    except Exception:
        return _orig_reverse_xrefs(self)
    seen: dict[tuple[int, int], tuple] = {}
    for walk in store.walks:
        names = _renaming(walk, trailer, self, store, seen)
        if names is None:
            continue
        store.walk_hits += 1
        self._indirect_object_access_cache = {
            generic.Reference(idnum, generation, self): (
                {_renamed(path, names) for path in found} if names else set(found)
            )
            for (idnum, generation), found in walk.paths.items()
        }
        return None
    read: dict[tuple[int, int], None] = {}
    resolve = self.get_object

    def recording(ref, *args, **kwargs):
        read[(ref.idnum, ref.generation)] = None
        return resolve(ref, *args, **kwargs)

    self.get_object = recording
    try:
        _orig_reverse_xrefs(self)
    finally:
        del self.get_object
    if len(store.walks) >= _WALKS_MAX:
        return None
    visited = tuple((ref, _skeleton_at(self, store, ref, seen)) for ref in read)
    if all(described is not _MISSING for _, described in visited):
        paths = {
            (ref.idnum, ref.generation): frozenset(found)
            for ref, found in self._indirect_object_access_cache.items()
        }
        store.walks.append(_Walk(trailer, visited, paths))
    return None


def _renaming(walk: _Walk, trailer, resolver, store: ObjectStore, seen) -> dict | None:
    """The renaming of keys (kept walk's → this file's) under which every skeleton the walk
    read is this file's, or ``None``. Only keys that differ are returned."""
    names: dict[str, str] = {}
    back: dict[str, str] = {}
    if not _alike(walk.trailer, trailer, names, back):
        return None
    for ref, described in walk.visited:
        mine = _skeleton_at(resolver, store, ref, seen)
        if mine is _MISSING or not _alike(described, mine, names, back):
            return None
    return {old: new for old, new in names.items() if old != new}


def _alike(a: tuple, b: tuple, names: dict, back: dict) -> bool:
    """Skeletons equal up to the renaming being built (one-to-one, ``_NAMED`` fixed)."""
    if a[0] == b[0]:  # the same skeleton: each of its keys stands for itself
        return all(names.setdefault(k, k) == k and back.setdefault(k, k) == k for k in a[1])
    return _same_shape(a[0], b[0], names, back)


def _same_shape(a, b, names: dict, back: dict) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] == "D":
        if len(a[1]) != len(b[1]):
            return False
        for (ka, va), (kb, vb) in zip(a[1], b[1], strict=True):
            if ka != kb and (ka in _NAMED or kb in _NAMED):
                return False
            if names.setdefault(ka, kb) != kb or back.setdefault(kb, ka) != ka:
                return False
            if not _same_shape(va, vb, names, back):
                return False
        return True
    if a[0] == "A":
        return len(a[1]) == len(b[1]) and all(
            _same_shape(x, y, names, back) for x, y in zip(a[1], b[1], strict=True)
        )
    return a == b


def _renamed(path: RawPdfPath, names: dict) -> RawPdfPath:
    return RawPdfPath(*(e if isinstance(e, int) else names.get(e, e) for e in path.path))


def _skeleton_at(self, store: ObjectStore, ref: tuple[int, int], seen: dict) -> tuple:
    """(skeleton, keys) of object ``ref`` as this resolver reads it: from the batch's parsed
    copy of the bytes it would parse (the current xref entry if the object has not changed
    since the revision, else the revision's entry, as ``get_object`` picks), else by reading
    it; ``_MISSING`` if that fails."""
    if ref in seen:
        return seen[ref]
    reader = self.reader
    result = _MISSING
    try:
        reference = generic.Reference(*ref)
        try:
            last = reader.xrefs.get_last_change(reference)
        except KeyError:
            last = None
        if last is not None and last <= self.revision:
            marker = reader.xrefs[reference]
        else:
            marker = reader.xrefs.get_historical_ref(reference, self.revision)
        key = _object_key(reader, reader._yinxin_bytes, marker, ref[0], ref[1])
        if key is not None:
            result = store.skeletons.get(key, _MISSING)
            if result is _MISSING and (template := store.parsed.get(key)) is not None:
                result = store.skeletons[key] = _described(template, top=True)
        if result is _MISSING and last is not None and last <= self.revision:
            # what get_object would subsume: the reader's parse, if it has one
            obj = reader.cache_get_indirect_object(ref[1], ref[0])
            if obj is not None and not isinstance(obj, generic.DecryptedObjectProxy):
                result = _described(obj, top=True)
        if result is _MISSING and key is not None:
            # an object of plain syntax the walk read but no reader of the batch parsed (a
            # page, a font, a file's own seal appearance): read from its bytes
            result = _plain_skeleton(key[0], ref)
            if result is not _MISSING and _sighted_before(store, key):
                _make_room(store, key)
                store.skeletons[key] = result
        if result is _MISSING:
            obj = self.get_object(generic.Reference(ref[0], ref[1], self))
            result = _described(obj, top=True)
    except Exception:
        result = _MISSING
    seen[ref] = result
    return result


# ``_plain_skeleton``'s tokens: a name of plain bytes (what ``_decode_name``
# reads as its ASCII text) ending at whitespace or a delimiter; a number as pyHanko reads one
# (the longest run of ``+,-.`` and digits, which must be one well-formed number)
_HEADER = re.compile(rb"([0-9]+)[ \n\r]+([0-9]+)[ \n\r]+obj")
_PLAIN_NAME = re.compile(rb"/([" + re.escape(_NAME_PLAIN) + rb"]+)(?=[ \n\r\t\f\x00()<>\[\]{}/%])")
_NUMBER_RUN = re.compile(rb"[+,\-.0-9]+")
_NUMBER = re.compile(rb"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_REF = re.compile(rb"([0-9]+)[ \n\r]+([0-9]+)[ \n\r]+R")
_ENDS = frozenset(b" \n\r\t\f\x00()<>[]{}/%")


class _NotPlain(Exception):
    """The bytes hold something ``_plain_skeleton`` leaves to pyHanko."""


def _plain_skeleton(raw: bytes, ref: tuple[int, int]) -> tuple:
    """``_described(obj, top=True)`` of the object pyHanko's reader parses from ``raw`` (its
    bytes from the header to the first ``endobj``), read from the bytes without building the
    object; ``_MISSING`` for anything but the plainest syntax.

    Each file of an archive has its own seal appearance stream (a new image name, the
    signing time in its text): the only object the walk check cannot take from an earlier
    file, and parsing it cost as much as the rest of the check. Only what pyHanko provably
    reads the same way is taken here: a dictionary (or a stream whose ``/Length`` is a
    direct integer and whose data ends at ``endstream``) of plain names, numbers,
    ``true``/``false``, references, arrays and dictionaries, no key twice, the header
    naming ``ref``. A string, comment, escaped name, ``null`` or anything unusual:
    ``_MISSING``, and the caller parses the object as before."""
    try:
        return _plain_object(raw, ref)
    except (_NotPlain, IndexError, ValueError):
        return _MISSING


def _plain_object(raw: bytes, ref: tuple[int, int]) -> tuple:
    m = _HEADER.match(raw)
    if m is None or (int(m.group(1)), int(m.group(2))) != ref:
        raise _NotPlain
    pos = _skip(raw, m.end())
    if not raw.startswith(b"<<", pos):
        raise _NotPlain
    keys: set[str] = set()
    top: dict = {}
    skeleton, pos = _plain_value(raw, pos, keys, top)
    pos = _skip(raw, pos)
    end = len(raw) - 6  # raw ends with the first endobj
    if raw.startswith(b"stream\n", pos):
        length = top.get("/Length")
        if type(length) is not int:
            raise _NotPlain
        pos = _skip(raw, pos + 7 + length)
        if not raw.startswith(b"endstream", pos):
            raise _NotPlain
        pos = _skip(raw, pos + 9)
    if pos != end:
        raise _NotPlain
    return skeleton, frozenset(keys)


def _skip(raw: bytes, pos: int) -> int:
    while pos < len(raw) and raw[pos] in _WHITESPACE:
        pos += 1
    return pos


def _plain_value(raw: bytes, pos: int, keys: set, top: dict | None = None) -> tuple:
    """(skeleton of the value at ``pos``, position after it); ``top`` collects the
    outermost dictionary's integer values (for ``/Length``)."""
    c = raw[pos]
    if raw.startswith(b"<<", pos):
        items: dict = {}
        pos = _skip(raw, pos + 2)
        while not raw.startswith(b">>", pos):
            m = _PLAIN_NAME.match(raw, pos)
            if m is None:
                raise _NotPlain
            key = generic.NameObject("/" + m.group(1).decode("ascii"))
            if key in items:
                raise _NotPlain
            pos = _skip(raw, m.end())
            if key == "/Type" and raw[pos] == 0x2F:  # a name: what _type_value records
                m = _PLAIN_NAME.match(raw, pos)
                if m is None:
                    raise _NotPlain
                value = generic.NameObject("/" + m.group(1).decode("ascii"))
                items[key] = ("T", type(value).__name__, repr(value))
                pos = m.end()
            else:
                run = _NUMBER_RUN.match(raw, pos)
                items[key], pos = _plain_value(raw, pos, keys)
                if key == "/Type" and items[key][0] not in ("D", "A", "R"):
                    raise _NotPlain  # _type_value would record this value's repr
                if top is not None and run is not None and items[key] == ("L",):
                    if run.group().isdigit():
                        top[key] = int(run.group())
            pos = _skip(raw, pos)
        keys.update(items)
        return ("D", tuple(items.items())), pos + 2
    if c == 0x5B:  # [
        values = []
        pos = _skip(raw, pos + 1)
        while raw[pos] != 0x5D:  # ]
            value, pos = _plain_value(raw, pos, keys)
            values.append(value)
            pos = _skip(raw, pos)
        return ("A", tuple(values)), pos + 1
    if c == 0x2F:  # /
        m = _PLAIN_NAME.match(raw, pos)
        if m is None:
            raise _NotPlain
        return ("L",), m.end()
    if 0x30 <= c <= 0x39:
        # pyHanko's test for a reference: its pattern on the next 20 bytes
        if generic.INDIRECT_PATTERN.match(raw[pos : pos + 20]) is not None:
            m = _REF.match(raw, pos)
            if m is None or m.end() >= len(raw) or raw[m.end()] not in _ENDS:
                raise _NotPlain
            if int(m.group(1)) == 0:  # object 0 is never an object: pyHanko refuses it
                raise _NotPlain
            return ("R", int(m.group(1)), int(m.group(2))), m.end()
    if c in b"+-.0123456789":
        run = _NUMBER_RUN.match(raw, pos)
        if run is None or _NUMBER.fullmatch(run.group()) is None:
            raise _NotPlain
        end = run.end()
        if end < len(raw) and raw[end] not in _ENDS:
            raise _NotPlain
        return ("L",), end
    for word in (b"true", b"false"):
        if raw.startswith(word, pos):
            end = pos + len(word)
            if end < len(raw) and raw[end] not in _ENDS:
                raise _NotPlain
            return ("L",), end
    raise _NotPlain


def _described(obj, top: bool = False) -> tuple[object, frozenset]:
    """(skeleton, the dictionary keys in it). An indirect object that is a bare value (a
    string, a number) counts with its value: a ``/Type`` may point to it."""
    keys: set[str] = set()
    if top and not isinstance(
        obj, generic.DictionaryObject | generic.ArrayObject | generic.IndirectObject
    ):
        return ("V", type(obj).__name__, repr(obj)), frozenset()
    return _skeleton(obj, keys), frozenset(keys)


def _skeleton(obj, keys: set) -> tuple:
    if isinstance(obj, generic.IndirectObject):
        return ("R", obj.idnum, obj.generation)
    if isinstance(obj, generic.DictionaryObject):
        keys.update(obj.keys())
        return (
            "D",
            tuple(
                (k, _type_value(v, keys) if k == "/Type" else _skeleton(v, keys))
                for k, v in obj.items()
            ),
        )
    if isinstance(obj, generic.ArrayObject):
        return ("A", tuple(_skeleton(v, keys) for v in obj))
    return ("L",)


def _type_value(value, keys: set) -> tuple:
    if isinstance(value, generic.DictionaryObject | generic.ArrayObject | generic.IndirectObject):
        return _skeleton(value, keys)
    return ("T", type(value).__name__, repr(value))


def install() -> None:
    """Idempotent. The reader looks ``read_hex_string_from_stream`` up in its module at call
    time, and ``hashable`` is a property of the class, so both take effect everywhere."""
    if generic.read_hex_string_from_stream is not _read_hex_string:
        generic.read_hex_string_from_stream = _read_hex_string
    if a_x509.RDNSequence.hashable.fget is not _name_hashable:
        a_x509.RDNSequence.hashable = property(_name_hashable)
    if a_x509.RDNSequence.__eq__ is not _name_eq:
        a_x509.RDNSequence.__eq__ = _name_eq
    if a_x509.Certificate._set_extensions is not _cert_set_extensions:
        a_x509.Certificate._set_extensions = _cert_set_extensions
    if a_x509.Certificate.issuer_serial.fget is not _cert_issuer_serial:
        a_x509.Certificate.issuer_serial = property(_cert_issuer_serial)
    if a_core.ObjectIdentifier.dotted.fget is not _oid_dotted:
        a_core.ObjectIdentifier.dotted = property(_oid_dotted)
    # looked up as module globals at call time; ``generic`` imported read_non_whitespace by name
    misc._read_until_class = _read_until_class
    misc.read_non_whitespace = _read_non_whitespace
    generic.read_non_whitespace = _read_non_whitespace
    generic._decode_name = _decode_name
    generic.IndirectObject.read_from_stream = staticmethod(_read_indirect)
    HistoricalResolver._subsume_object = _subsume_object
    HistoricalResolver._load_reverse_xref_cache = _load_reverse_xref_cache
    PdfFileReader._read_object = _read_object
    # ``_check_signing_certificate`` looks it up in its module at call time
    generic_cms.check_ess_certid = _check_ess_certid
    # pdf_embedded and cms_basic_validation look it up in generic_cms at call time, as
    # extract_certs_for_validation and validate_sig_integrity do _check_signing_certificate
    generic_cms.extract_certs_for_validation = _extract_certs_for_validation
    generic_cms._check_signing_certificate = _check_signing_certificate
    DisallowWeakAlgorithmsPolicy.signature_algorithm_allowed = _signature_algorithm_allowed
    # ``_validate_raw`` reads ``serialization.load_der_public_key`` from its module's namespace
    if sig_validate.serialization is serialization:
        sig_validate.serialization = _KEY_LOADING
    # each module that imported it by name looks it up in its own namespace at call time
    for module in (general, generic_cms, dss, ades):
        if getattr(module, "extract_certificate_info", None) is _orig_cert_info:
            module.extract_certificate_info = _extract_certificate_info
        if getattr(module, "find_cms_attribute_iter", None) is _orig_attribute_iter:
            module.find_cms_attribute_iter = _find_cms_attribute_iter


install()
