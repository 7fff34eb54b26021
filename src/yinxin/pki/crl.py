"""Certificate revocation lists (RFC 5280 §5), fast enough for a million entries.

``cryptography``'s ``CertificateRevocationListBuilder`` is immutable: every
``add_revoked_certificate`` copies the whole list, so filling it entry by entry is quadratic, and
even handed a ready list it builds a Python object per entry first (see ``bench/crl`` for the
numbers). A CRL entry is tiny and fixed in shape (serial, time, optional reasonCode), so we let the
builder lay out everything *around* the entries (version, signature algorithm, issuer, times,
AKI and CRL number, with zero entries), write the revokedCertificates DER ourselves, splice it in
where RFC 5280 puts it (just before ``crlExtensions``), and sign the to-be-signed bytes with the
``KeyHandle``. The result is byte-for-byte what the builder would make from the same entries
(``tests/unit/test_crl.py`` checks this). The builder "signs" the layout with
``keys.layout_key``, which makes no private-key operation (that signature is discarded), so each
CRL costs one real signature, whether the key is in the process or in an HSM.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from yinxin.clock import whole_utc
from yinxin.errors import ConfigurationError, ValidationError
from yinxin.identity import serial_hex
from yinxin.pki import der, sm2_x509
from yinxin.pki.keys import KeyHandle, builder_key

# Our names → RFC 5280 §5.3.1 CRLReason values. "unspecified" (0) is accepted but never written:
# RFC 5280 says the reasonCode extension SHOULD be absent rather than carry unspecified.
REASONS: dict[str, int] = {
    "unspecified": 0,
    "key_compromise": 1,
    "ca_compromise": 2,
    "affiliation_changed": 3,
    "superseded": 4,
    "cessation_of_operation": 5,
    "certificate_hold": 6,
    "remove_from_crl": 8,
    "privilege_withdrawn": 9,
    "aa_compromise": 10,
}

# The same reasons as ``cryptography`` names them (for its builders and parsed objects).
REASON_FLAGS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key_compromise": x509.ReasonFlags.key_compromise,
    "ca_compromise": x509.ReasonFlags.ca_compromise,
    "affiliation_changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
    "certificate_hold": x509.ReasonFlags.certificate_hold,
    "remove_from_crl": x509.ReasonFlags.remove_from_crl,
    "privilege_withdrawn": x509.ReasonFlags.privilege_withdrawn,
    "aa_compromise": x509.ReasonFlags.aa_compromise,
}
REASON_NAMES: dict[x509.ReasonFlags, str] = {v: k for k, v in REASON_FLAGS.items()}

DER = serialization.Encoding.DER


@dataclass(frozen=True, slots=True)
class RevokedEntry:
    serial: int
    revoked_at: dt.datetime
    reason: str | None = None


def reason_code(reason: str | None) -> int | None:
    """The CRLReason to write, or None when the extension must be left out (absent/unspecified)."""
    if reason is None:
        return None
    try:
        code = REASONS[reason]
    except KeyError:
        raise ValidationError(
            f"unknown revocation reason {reason!r}; choose one of {', '.join(REASONS)}",
            field="reason",
        ) from None
    return code or None


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


# Extensions ::= SEQUENCE { Extension { extnID id-ce-cRLReasons, extnValue OCTET STRING {
# ENUMERATED } } }; critical is FALSE, the DEFAULT, so DER leaves it out.
_REASON_EXT = {
    code: b"\x30\x0c\x30\x0a\x06\x03\x55\x1d\x15\x04\x03\x0a\x01" + bytes((code,))
    for code in REASONS.values()
    if code
}


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _day_prefix(day: int) -> bytes:
    """Tag, length and date digits of a Time on ``day`` days after 1970-01-01."""
    d = _EPOCH + dt.timedelta(days=day)
    if 1950 <= d.year < 2050:
        return b"\x17\x0d" + d.strftime("%y%m%d").encode()
    return b"\x18\x0f" + d.strftime("%Y%m%d").encode()


def _encode_entries(entries: Iterable[RevokedEntry]) -> bytes:
    """The revokedCertificates SEQUENCE OF, or empty bytes when there are none.

    This is the hot loop for large CRLs, hence the caches: a Time is assembled from a per-day
    prefix and a per-second-of-day suffix instead of ``strftime`` on every entry.
    """
    parts: list[bytes] = []
    append = parts.append
    seen: set[int] = set()
    add = seen.add
    days: dict[int, bytes] = {}
    clock: dict[int, bytes] = {}
    exts: dict[str | None, bytes] = {None: b""}
    for e in entries:
        serial = e.serial
        if serial <= 0:
            raise ValidationError(f"serial {serial} is not a positive integer", field="serial")
        if serial in seen:
            raise ValidationError(f"serial {serial_hex(serial)} is listed twice", field="serial")
        add(serial)
        sb = serial.to_bytes((serial.bit_length() + 8) // 8, "big")
        if len(sb) > 20:  # RFC 5280 §4.1.2.2; also keeps every entry under 128 octets
            raise ValidationError(
                f"serial {serial_hex(serial)} is longer than 20 octets", field="serial"
            )

        t = e.revoked_at
        if t.tzinfo is None:
            raise ValidationError("revoked_at must carry a time zone", field="revoked_at")
        since = t - _EPOCH  # exact integer days and seconds, whatever the zone
        day, sec = since.days, since.seconds
        prefix = days.get(day)
        if prefix is None:
            prefix = days[day] = _day_prefix(day)
        suffix = clock.get(sec)
        if suffix is None:
            h, rest = divmod(sec, 3600)
            suffix = clock[sec] = b"%02d%02d%02dZ" % (h, *divmod(rest, 60))

        ext = exts.get(e.reason)
        if ext is None:
            code = reason_code(e.reason)
            if code == 8:
                raise ValidationError(
                    "remove_from_crl may only appear in a delta CRL", field="reason"
                )
            ext = exts[e.reason] = _REASON_EXT[code] if code else b""

        # SEQUENCE { INTEGER serial, Time, [Extensions] }, every length below 128
        body_len = 2 + len(sb) + len(prefix) + 7 + len(ext)  # suffix: HHMMSSZ
        append(b"\x30%c\x02%c%b%b%b%b" % (body_len, len(sb), sb, prefix, suffix, ext))
    if not parts:
        return b""
    body = b"".join(parts)
    return b"\x30" + _der_length(len(body)) + body


def _tlv(buf: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of element) of the DER element at ``pos``."""
    tag = buf[pos]
    n = buf[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[pos : pos + k], "big")
        pos += k
    return tag, pos, pos + n


def _layout_builder(
    issuer_cert: x509.Certificate,
    crl_number: int,
    this_update: dt.datetime,
    next_update: dt.datetime,
    revoked: list[x509.RevokedCertificate] | None = None,
) -> x509.CertificateRevocationListBuilder:
    try:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key())
    # The constructor takes the entries as one list; add_revoked_certificate would copy per entry.
    return x509.CertificateRevocationListBuilder(
        issuer_name=issuer_cert.subject,
        last_update=this_update,
        next_update=next_update,
        extensions=[
            x509.Extension(aki.oid, False, aki),
            x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(crl_number)),
        ],
        revoked_certificates=revoked or [],
    )


def _check(
    issuer_cert: x509.Certificate,
    key: KeyHandle,
    crl_number: int,
    this_update: dt.datetime,
    next_update: dt.datetime,
) -> tuple[dt.datetime, dt.datetime]:
    if der.spki(key.public_key()) != sm2_x509.cert_spki(issuer_cert):
        raise ConfigurationError(
            f"key {key.label!r} does not belong to the CRL issuer certificate", field="key"
        )
    if not 0 <= crl_number < 1 << 159:  # RFC 5280 §5.2.3: at most 20 octets
        raise ValidationError(
            "crl_number must be a non-negative 20-octet integer", field="crl_number"
        )
    this_update = whole_utc(this_update, "this_update")
    next_update = whole_utc(next_update, "next_update")
    if next_update <= this_update:
        raise ValidationError("next_update must be later than this_update", field="next_update")
    return this_update, next_update


def next_crl_number(latest: int | None, this_update: dt.datetime) -> int:
    """The CRL number of a CA's next CRL, signed with ``this_update``, after its ``latest``
    (None: the CA's first): the larger of ``latest + 1`` and ``this_update`` in Unix seconds.

    RFC 5280 §5.2.3 wants CRL numbers "monotonically increasing". ``latest + 1`` alone is so
    only while the database is never older than what the CA published: restored from a backup,
    it numbered its next CRLs with numbers already published with other content, which a
    relying party holding the later one took for stale. A number that follows the clock is above
    that of any CRL signed in an earlier second, whatever database signs it; CRLs of one second
    still count up by one (a burst runs ahead of the clock by its count, until the clock passes
    it). Unix seconds fit the BigInteger column and 20 octets for ever; numbers stored by the
    old rule are far below them, so the first CRL under this rule simply jumps ahead. The one
    rule every CRL of the platform is numbered by (``StatusService.publish_crl``)."""
    seconds = int(whole_utc(this_update, "this_update").timestamp())
    return max(seconds, 0 if latest is None else latest + 1)


def build_crl(
    *,
    issuer_cert: x509.Certificate,
    key: KeyHandle,
    entries: Iterable[RevokedEntry],
    crl_number: int,
    this_update: dt.datetime,
    next_update: dt.datetime,
    via_builder: bool = False,
) -> bytes:
    """A signed v2 CRL (DER) with AKI and CRL number, entries in the order given.

    ``via_builder`` makes the same CRL through ``cryptography``'s builder alone: the reference
    the fast path is checked and benchmarked against. Too slow for large CRLs; the service does
    not use it."""
    this_update, next_update = _check(issuer_cert, key, crl_number, this_update, next_update)
    layout = functools.partial(_layout_builder, issuer_cert, crl_number, this_update, next_update)
    make = _signed_via_builder if via_builder else _signed_spliced
    return make(layout, key, entries)


# The reference path under its own name, for tests and benchmarks.
build_crl_via_builder = functools.partial(build_crl, via_builder=True)


# The CRL's builder laid out around the entries given (none by default).
_Layout = Callable[..., x509.CertificateRevocationListBuilder]


def _signed_spliced(layout: _Layout, key: KeyHandle, entries: Iterable[RevokedEntry]) -> bytes:
    revoked = _encode_entries(entries)
    alg = key.algorithm
    draft = layout().sign(*sm2_x509.layout_signer(key)).public_bytes(DER)
    if alg.family == "sm2":  # laid out for a placeholder: name SM3withSM2 instead
        _, body, _ = _tlv(draft, 0)
        _, _, tbs_end = _tlv(draft, body)
        draft = (
            draft[:body]
            + sm2_x509.sm2_algorithm_in(draft[body:tbs_end])
            + sm2_x509.SM3_WITH_SM2_ALGORITHM
            + draft[tbs_end + len(sm2_x509.SM3_WITH_SM2_ALGORITHM) :]
        )

    # CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue }
    _, body, _ = _tlv(draft, 0)
    _, tbs_body, tbs_end = _tlv(draft, body)
    sigalg = draft[tbs_end : _tlv(draft, tbs_end)[2]]
    if revoked:
        # revokedCertificates goes right before crlExtensions ([0]), which we always write.
        pos = tbs_body
        while draft[pos] != 0xA0:
            pos = _tlv(draft, pos)[2]
        content = draft[tbs_body:pos] + revoked + draft[pos:tbs_end]
        tbs = b"\x30" + _der_length(len(content)) + content
    else:
        tbs = draft[body:tbs_end]

    signature = key.sign(tbs, alg.hash)
    bits = b"\x03" + _der_length(len(signature) + 1) + b"\x00" + signature
    inner = tbs + sigalg + bits
    return b"\x30" + _der_length(len(inner)) + inner


def _signed_via_builder(layout: _Layout, key: KeyHandle, entries: Iterable[RevokedEntry]) -> bytes:
    revoked = []
    for e in entries:
        rb = x509.RevokedCertificateBuilder(
            serial_number=e.serial, revocation_date=whole_utc(e.revoked_at, "revoked_at")
        )
        if reason_code(e.reason) is not None:
            rb = rb.add_extension(x509.CRLReason(REASON_FLAGS[e.reason]), critical=False)
        revoked.append(rb.build())
    return layout(revoked).sign(builder_key(key), key.algorithm.hash).public_bytes(DER)
