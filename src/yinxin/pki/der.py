"""Just enough DER to write a CMS signature and read a timestamp reply without an ASN.1 library.

asn1crypto re-encodes whole object trees whenever a parsed value is placed inside a new one
(certificates inside SignedData, the token inside a SignerInfo), and that re-encoding is most
of the cost of a PAdES signature. The structures we emit are fixed, so we splice pre-encoded
pieces together instead; the reader only walks headers and never decodes what it skips.
"""

from __future__ import annotations

from asn1crypto import core
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SEQUENCE = 0x30
SET = 0x31
INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
BOOLEAN = 0x01
GENERALIZED_TIME = 0x18


def spki(public_key) -> bytes:
    """A public key's DER SubjectPublicKeyInfo: how two keys are compared for being the same."""
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, *content: bytes) -> bytes:
    body = b"".join(content)
    return bytes([tag]) + length(len(body)) + body


def seq(*content: bytes) -> bytes:
    return tlv(SEQUENCE, *content)


def set_of(*items: bytes) -> bytes:
    """A DER SET OF: members sorted by their encodings (X.690 §11.6)."""
    return tlv(SET, *sorted(items))


def integer(value: int) -> bytes:
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)
    return tlv(INTEGER, raw)


def octet_string(value: bytes) -> bytes:
    return tlv(OCTET_STRING, value)


def oid(dotted: str) -> bytes:
    return core.ObjectIdentifier(dotted).dump()


def read(buf: bytes | memoryview, pos: int = 0) -> tuple[int, int, int]:
    """Return (tag, content start, content end) of the element at ``pos``."""
    end_of_buf = len(buf)
    if pos + 2 > end_of_buf:
        raise ValueError("truncated DER")
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise ValueError("high-tag-number form is not used here")
    first = buf[pos + 1]
    pos += 2
    if first < 0x80:
        size = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > end_of_buf:
            raise ValueError("bad DER length")
        size = int.from_bytes(buf[pos : pos + count], "big")
        pos += count
    if pos + size > end_of_buf:
        raise ValueError("truncated DER")
    return tag, pos, pos + size


def children(buf: bytes | memoryview, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """The elements inside [start, end): (tag, element start, content start, content end)."""
    out = []
    pos = start
    while pos < end:
        tag, c0, c1 = read(buf, pos)
        out.append((tag, pos, c0, c1))
        pos = c1
    if pos != end:
        raise ValueError("DER element overruns its parent")
    return out


def stray_elements(value: core.Asn1Value) -> bool:
    """Whether a parsed SEQUENCE, or one inside its declared fields, holds elements its type
    does not declare. asn1crypto places fields in order and keeps whatever it could not place
    (a field out of order or given twice, an element the type has not) as unread extra
    children, without an error even under ``strict``: a TimeStampReq with certReq before its
    nonce read as one without a nonce. Such bytes are not the type, so a reader refuses them."""
    if isinstance(value, core.Sequence):
        declared = len(value._fields)
        if declared and len(value) > declared:
            return True
        return any(stray_elements(value[i]) for i in range(min(len(value), declared)))
    if isinstance(value, core.SequenceOf):
        return any(stray_elements(item) for item in value)
    return False


def warm_asn1() -> int:
    """Set up every asn1crypto class loaded so far, once, before threads share them.

    asn1crypto builds a class's lookup tables the first time the class is used, and publishes
    the empty table before filling it (``ObjectIdentifier._setup``: ``_reverse_map = {}``, then
    the loop). A thread that meets the table half filled takes a name such as ``"tst_info"`` for
    a dotted OID and fails (``invalid literal for int()``): seen as a failed timestamp when eight
    clients signed at once against a fresh server. Instantiating each class here runs its set-up
    in one thread; a class that needs arguments still gets its set-up, which runs first. Returns
    how many classes were newly set up (for a test)."""
    from asn1crypto import algos, cms, crl, csr, keys, ocsp, pdf, tsp, x509  # noqa: F401

    done = 0
    todo = [core.Asn1Value]
    seen: set[type] = set()
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
        if cls in core._SETUP_CLASSES:
            continue
        try:
            cls()  # Asn1Value.__init__ runs the class's set-up before anything else
        except Exception:  # noqa: S112 — only the set-up matters, not the value
            pass
        done += cls in core._SETUP_CLASSES
    return done
