"""Faster, result-identical replacements for three hot spots of pyHanko/asn1crypto, used only
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
  ``==`` of ``RDNSequence`` by the names' DER encodings, which is all the results depend on.

Both are installed once, module-wide, but act only inside :func:`fast` (a context variable,
so threads and concurrent tasks outside a verification — and pyHanko called directly, as the
benchmark's reference is — see the original code). Everything else runs unchanged.
"""

from __future__ import annotations

import binascii
import contextlib
import contextvars
from collections.abc import Iterator

from asn1crypto import x509 as a_x509
from pyhanko.pdf_utils import generic

_ON: contextvars.ContextVar[bool] = contextvars.ContextVar("yinxin_pdf_accel", default=False)
_WHITESPACE = b" \n\r\t\f\x00"  # pyhanko.pdf_utils.misc.PDF_WHITESPACE
_CHUNK = 1 << 16
_NAMES_MAX = 4096

_orig_hex = generic.read_hex_string_from_stream
_orig_hashable = a_x509.RDNSequence.hashable
_orig_eq = a_x509.RDNSequence.__eq__
_orig_cert_ext = a_x509.Certificate._set_extensions
_names: dict[bytes, str] = {}
_equal: dict[tuple[bytes, bytes], bool] = {}
# certificate DER -> the attributes asn1crypto's ``_set_extensions`` set on a certificate
_CERT_EXT_ATTRS = tuple(
    n for n in vars(a_x509.Certificate) if n.endswith("_value") and n.startswith("_")
)
_cert_ext: dict[bytes, tuple[set[str], dict[str, object]]] = {}


@contextlib.contextmanager
def fast() -> Iterator[None]:
    token = _ON.set(True)
    try:
        yield
    finally:
        _ON.reset(token)


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


def _name_hashable(self) -> str:
    if not _ON.get():
        return _orig_hashable.fget(self)
    der = self.dump()
    value = _names.get(der)
    if value is None:
        value = _orig_hashable.fget(self)
        if len(_names) >= _NAMES_MAX:
            _names.clear()
        _names[der] = value
    return value


def _name_eq(self, other) -> bool:
    if not _ON.get() or not isinstance(other, a_x509.RDNSequence):
        return _orig_eq(self, other)
    key = (self.dump(), other.dump())
    value = _equal.get(key)
    if value is None:
        value = _orig_eq(self, other)
        if len(_equal) >= _NAMES_MAX:
            _equal.clear()
        _equal[key] = value
    return value


def _cert_set_extensions(self) -> None:
    """``Certificate._set_extensions`` by the certificate's DER: the parsed extension values
    (read-only to every caller) of the first certificate with these bytes, shared."""
    if not _ON.get():
        return _orig_cert_ext(self)
    der = self.dump()
    hit = _cert_ext.get(der)
    if hit is None:
        _orig_cert_ext(self)
        hit = (
            frozenset(self._critical_extensions),
            {n: v for n in _CERT_EXT_ATTRS if (v := self.__dict__.get(n)) is not None},
        )
        if len(_cert_ext) >= _NAMES_MAX:
            _cert_ext.clear()
        _cert_ext[der] = hit
        return None
    critical, values = hit
    self._critical_extensions = set(critical)
    for n, v in values.items():
        setattr(self, n, v)
    self._processed_extensions = True
    return None


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


install()
