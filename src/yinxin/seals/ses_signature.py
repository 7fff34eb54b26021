"""The electronic seal signature of GB/T 38540-2020 (``SES_Signature`` v4): make, read, check.

An OFD reader (or a PDF reader of the Chinese convention) finds this record in
``SignedValue.dat`` and judges it alone: the seal it was made with travels inside it, and the
signer's certificate beside it. So the record must be self-contained and every check below is
done from its bytes plus the relying party's trusted certificates — no database.

Structure (GB/T 38540-2020 §7.1; checked against ofdrw ``org.ofdrw.gm.ses.v4.SES_Signature`` /
``TBS_Sign`` and ``SESV4Container``, which read and write the same)::

    SES_Signature ::= SEQUENCE {
        toSign          TBS_Sign,
        cert            OCTET STRING,          -- signer's X.509 certificate, DER
        signatureAlgID  OBJECT IDENTIFIER,     -- 1.2.156.10197.1.501 SM3withSM2
        signature       BIT STRING,            -- DER SEQUENCE {r, s} over DER(toSign)
        timeStamp       [0] EXPLICIT BIT STRING OPTIONAL }  -- RFC 3161 token over signature
    TBS_Sign ::= SEQUENCE {
        version         INTEGER (4),
        eseal           SESeal,                -- the seal, byte for byte as the maker made it
        timeInfo        GeneralizedTime,
        dataHash        BIT STRING,            -- SM3 of the signed data
        propertyInfo    IA5String,             -- OFD: path of Signature.xml in the package
        extDatas        [0] EXPLICIT ExtensionDatas OPTIONAL }

What is signed. For OFD the "data" is the ``Signature.xml`` file of that signature (which lists
the SM3 of every protected file), so ``dataHash`` = SM3(Signature.xml) and the SM2 signature is
over the DER of ``toSign`` with the default user ID ``1234567812345678`` — as ofdrw signs with
BouncyCastle's ``SM3WithSM2`` and as sm-crypto verifies with ``{der: true, hash: true}``. The
optional timestamp stamps the signature value (the BIT STRING's bytes), as ofdrw's
``TimeStampHook.apply(sigVal)`` does.

Verification (GB/T 38540-2020 §7.3, reported one check per step so a reader sees which failed):
format; signature value; signer certificate in the seal's certificate list; signer certificate
issued by a trusted certificate and valid at the signing time; seal (format, maker signature,
maker trusted, seal validity period covers the signing time); timestamp when present (imprint,
TSA signature, TSA trusted); document hash; revocation of the signer's certificate by its
issuer's CRL when the relying party hands one in (no OCSP, nothing fetched): without one the
report says "not checked" rather than passing it silently.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta

from asn1crypto import cms, core, tsp
from asn1crypto import crl as a_crl
from asn1crypto import x509 as a_x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

from yinxin.clock import asked_moment
from yinxin.errors import ValidationError, quoted
from yinxin.identity import serial_hex
from yinxin.indication import Indication, Outcome, from_checks, outcome
from yinxin.pdf import timestamps
from yinxin.pki import sm2
from yinxin.pki.keys import KeyHandle
from yinxin.seals.seal_types import SEAL_TYPE_PERSONAL
from yinxin.seals.seseal import (
    CERT_LIST_TYPE_CERTS,
    OID_ECDSA_SHA256,
    OID_ECDSA_SHA384,
    OID_RSA_SHA256,
    OID_SM2_SM3,
    ExtensionDatas,
    ParsedSeal,
    SESeal,
    UnusableKey,
    cert_spki,
    is_sm2_key,
    is_sm2_spki,
    key_spki,
    parse_seseal,
    same_key,
    unreadable,
    verify_seseal,
    verify_signed,
)

SES_SIGNATURE_VERSION = 4
_FIELD = "ses_signature"

# A relying party's trusted certificates, DER: seal makers, CAs, TSAs.
Trust = list[bytes]
# (DER of a TimeStampReq) -> DER of a TimeStampResp, as ``yinxin.pdf.timestamps.Timestamper``.
Timestamper = Callable[[bytes], bytes]


# --- ASN.1 ------------------------------------------------------------------------------------


class TBSSign(core.Sequence):
    _fields = [
        ("version", core.Integer),
        ("eseal", SESeal),
        ("time_info", core.GeneralizedTime),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("ext_datas", ExtensionDatas, {"explicit": 0, "optional": True}),
    ]


class SESSignature(core.Sequence):
    _fields = [
        ("to_sign", TBSSign),
        ("cert", core.OctetString),
        ("signature_alg_id", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]


class _TBSSignRead(TBSSign):
    """``TBS_Sign`` as read: the seal left as its bytes, read on its own by ``verify_seseal``,
    so a damaged seal is the ``seal`` check's failure, said as the seal's, not the whole
    record unreadable."""

    _fields = [("eseal", core.Any) if f[0] == "eseal" else f for f in TBSSign._fields]


class _SESSignatureRead(SESSignature):
    _fields = [("to_sign", _TBSSignRead) if f[0] == "to_sign" else f for f in SESSignature._fields]


# --- Python values ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedSesSignature:
    """A decoded record with the exact bytes that were signed (never re-encoded)."""

    version: int
    seal_der: bytes
    time_info: datetime
    data_hash: bytes
    property_info: str
    signer_cert_der: bytes
    sign_alg_oid: str
    signature: bytes
    timestamp_token: bytes | None
    signed_bytes: bytes  # DER of toSign as it appears in the record


@dataclass(frozen=True)
class Check:
    """One step of the standard's verification: passed (True), failed (False) or not done (None,
    with the reason in ``detail``).

    ``mendable``: a failure more evidence could settle — no trusted certificate vouches for the
    signer, the seal's maker or the TSA, a CRL that cannot be used, or a time-bound check made
    at a time nothing proves (a timestamp present but not shown good): the verdict is then
    INDETERMINATE, not INVALID (``yinxin.indication``). Never set on a check that passed."""

    name: str
    ok: bool | None
    detail: str
    mendable: bool = False

    def to_dict(self) -> dict:
        """As every report serialises it, with its ``outcome`` (``yinxin.indication.outcome``)
        said once here, so the API's callers and the web page read it instead of re-deriving
        it from ``ok`` and ``mendable``."""
        return {**asdict(self), "outcome": str(outcome(self))}


@dataclass(frozen=True)
class SesReport:
    """What ``verify_ses_signature`` found, flat so it serialises as is (``to_dict``)."""

    valid: bool
    checks: tuple[Check, ...]
    seal_name: str | None = None
    es_id: str | None = None
    seal_valid_start: datetime | None = None
    seal_valid_end: datetime | None = None
    signer: str | None = None
    signer_serial: str | None = None
    time_info: datetime | None = None
    timestamp_time: datetime | None = None
    property_info: str | None = None
    seal_picture_type: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def indication(self) -> Indication:
        """``TOTAL-PASSED`` when valid, ``TOTAL-FAILED`` when a check failed for good,
        else ``INDETERMINATE`` (see ``Check.mendable``); follows the checks as they are, so a
        verdict remade with more checks (``check_ofd_value``) says it anew."""
        return from_checks(self.valid, self.checks)

    def to_dict(self) -> dict:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
        out["checks"] = [c.to_dict() for c in self.checks]
        out["notes"] = list(self.notes)
        out["indication"] = str(self.indication)
        return out

    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.ok is False]


# --- helpers ----------------------------------------------------------------------------------


class UnreadableRecord(ValidationError):
    """A ``SES_Signature`` that cannot be read, with each half of why kept apart so a format
    that knows where the record lies (an OFD's ``SignedValue.dat``) can name it in both."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"电子签章：{zh} / electronic seal signature: {en}", field=_FIELD)
        self.zh, self.en = zh, en


def _bad(zh: str, en: str) -> UnreadableRecord:
    return UnreadableRecord(zh, en)


def _bi(zh: str, en: str) -> str:
    """A check's detail as every report says it: "中文 / English", the English as it always
    read (scripts and older reports match it)."""
    return f"{zh} / {en}"


def _when(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationError(f"{name} must be a timezone-aware datetime", field=name)
    return value.astimezone(UTC).replace(microsecond=0)


def _cert(der: bytes, name: str) -> a_x509.Certificate:
    try:
        cert = a_x509.Certificate.load(bytes(der), strict=True)
        cert.native  # noqa: B018 - parse every field now, not half-way through a check
        return cert
    except (ValueError, TypeError, KeyError, AttributeError):  # see _trusted
        raise ValidationError(f"{name} is not a DER X.509 certificate", field=name) from None


def _valid_at(cert: a_x509.Certificate, when: datetime) -> bool:
    validity = cert["tbs_certificate"]["validity"]
    return validity["not_before"].native <= when <= validity["not_after"].native


def _subject(cert: a_x509.Certificate) -> str:
    try:
        cn = cert.subject.native.get("common_name")
        return cn if isinstance(cn, str) else cert.subject.human_friendly
    except (ValueError, TypeError, KeyError, AttributeError):
        return "?"


def _sm3_digest(value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise ValidationError("data_hash must be the 32-byte SM3 digest", field="data_hash")
    return bytes(value)


def _digest(name: str, data: bytes) -> bytes:
    if name in ("sm3", sm2.OID_SM3):
        return sm2.sm3(data)
    h = hashlib.new(name, data)
    if h.name.startswith("shake"):  # its length is the caller's to choose: not a digest type
        raise ValueError(f"{name} is an extendable-output function")
    return h.digest()


def _cert_in_seal(seal: ParsedSeal, cert_der: bytes) -> tuple[bool, tuple[str, ...]]:
    """Is the signer's certificate one the seal lists (itself, or a digest of it)? And the
    digest types of the list not known here (they match nothing, so they are named)."""
    if seal.cert_list_type == CERT_LIST_TYPE_CERTS:
        return any(bytes(c) == cert_der for c in seal.info.cert_list), ()
    unknown: list[str] = []
    for kind, value in seal.cert_digests:
        name = (kind or "").strip().lower().replace("-", "")
        try:
            if _digest(name, cert_der) == value:
                return True, ()
        except ValueError:
            if kind not in unknown:
                unknown.append(kind)
    return False, tuple(unknown)


def _require_in_seal(seal: ParsedSeal, cert_der: bytes) -> None:
    if not _cert_in_seal(seal, bytes(cert_der))[0]:
        raise ValidationError(
            "the signer certificate is not in the seal's certificate list", field="signer_cert"
        )


def check_signer_in_seal(seal_der: bytes, cert_der: bytes) -> None:
    """Refuse, as ``build_ses_signature`` would (naming ``signer_cert``), a certificate the
    seal's certificate list does not name: no key plays a part, so a platform asks it before
    the signer's PIN is tried or a one-time code sent."""
    _require_in_seal(parse_seseal(seal_der), cert_der)


def _signer_in_seal(listed: bool, unknown: tuple[str, ...], every: bool) -> str:
    """The ``signer_in_seal`` detail; ``unknown``: the list's digest types not known here,
    ``every``: no other type was in the list (so nothing could be compared)."""
    if listed:
        return _bi(
            "签章人证书在印章的证书列表中",
            "the signer certificate is in the seal's certificate list",
        )
    names = "、".join(repr(k) for k in unknown)
    names_en = ", ".join(repr(k) for k in unknown)
    if unknown and every:
        return _bi(
            f"印章的证书列表使用无法识别的摘要算法 {names}，无法核对签章人证书是否在列表中",
            f"the seal's certificate list uses the digest algorithm {names_en}, which is not "
            "known: whether the signer certificate is in it cannot be checked",
        )
    if unknown:
        return _bi(
            f"签章人证书不在印章的证书列表中（列表中的摘要算法 {names} 无法识别）",
            "the signer certificate is not in the seal's certificate list (its digest "
            f"algorithm {names_en} is not known)",
        )
    return _bi(
        "签章人证书不在印章的证书列表中",
        "the signer certificate is not in the seal's certificate list",
    )


def _issued_by(cert: a_x509.Certificate, issuer_der: bytes) -> bool:
    """Does the CA certificate ``issuer_der`` name and sign ``cert``? (Its signature checked,
    whatever the key.)"""
    try:
        issuer = a_x509.Certificate.load(issuer_der)
        if issuer.subject != cert.issuer or not issuer.ca:
            return False  # an end-entity certificate vouches for itself only
        verify_signed(
            cert_spki(issuer_der),
            cert["signature_algorithm"]["algorithm"].dotted,
            cert["signature_value"].native,
            cert["tbs_certificate"].dump(),
        )
        return True
    except (ValueError, TypeError, KeyError, AttributeError, InvalidSignature):
        return False


def _trusted(cert_der: bytes, trust: Trust | None, when: datetime) -> tuple[bool | None, str, str]:
    """The certificate is one of ``trust`` or issued by one that was valid at ``when``.

    One step only: a relying party lists its root and issuing CA alike as trusted. Returns
    (None, …) when no trust was given, so that nothing is called trusted by default. The
    reason in Chinese and in English, apart: a timestamp's check puts it inside its own.
    """
    if trust is None:
        return None, "未提供受信任的证书", "no trusted certificate given"
    if any(bytes(t) == cert_der for t in trust):
        return True, "该证书本身受信任", "the certificate itself is trusted"
    try:  # a seal's maker certificate is read here for the first time when the seal failed
        cert = a_x509.Certificate.load(cert_der)
        cert.native  # noqa: B018 - parse every field now, not inside _issued_by's checks
    except (ValueError, TypeError, KeyError, AttributeError):  # AttributeError: asn1crypto
        # reading a value of an unexpected type (an ObjectDescriptor in a name) as ``native``
        return False, "该证书无法读取", "the certificate cannot be read"
    for anchor in trust:
        if _issued_by(cert, bytes(anchor)):
            issuer = a_x509.Certificate.load(bytes(anchor))
            if not _valid_at(issuer, when):
                return (
                    False,
                    f"由 {_subject(issuer)!r} 签发，但该证书当时不在有效期内",
                    f"issued by {_subject(issuer)!r}, which was not valid then",
                )
            return (
                True,
                f"由受信任的 {_subject(issuer)!r} 签发",
                f"issued by the trusted {_subject(issuer)!r}",
            )
    return False, "并非由任何受信任的证书签发", "not issued by any trusted certificate"


def _revocation(
    cert: a_x509.Certificate, crls: list[bytes] | None, trust: Trust | None, when: datetime
) -> tuple[bool | None, str, bool]:
    """The signer certificate's status at ``when`` from its issuer's CRL, if one is given.

    A CRL counts only when its signature verifies by a trusted certificate that issued the
    signer's, and it was issued after the signing time (an older one cannot speak for it).
    The last item: a failure that a usable CRL could settle (an untrusted or unreadable one),
    rather than a revocation before ``when``.
    """
    if not crls:
        return None, _bi("未提供证书吊销列表（CRL）", "no CRL given"), False
    found_older = False
    for raw in crls:
        try:
            crl = a_crl.CertificateList.load(bytes(raw))
            tbs = crl["tbs_cert_list"]
            if tbs["issuer"] != cert.issuer:
                continue
            signed_by = None
            for anchor in trust or []:
                issuer = a_x509.Certificate.load(bytes(anchor))
                if issuer.subject != cert.issuer:
                    continue
                try:
                    verify_signed(
                        cert_spki(bytes(anchor)),
                        crl["signature_algorithm"]["algorithm"].dotted,
                        crl["signature"].native,
                        tbs.dump(),
                    )
                    signed_by = issuer
                    break
                except (ValueError, InvalidSignature):
                    continue
            if signed_by is None:
                return (
                    False,
                    _bi(
                        "CRL 并非由该证书受信任的签发者签名",
                        "the CRL is not signed by a trusted issuer of the certificate",
                    ),
                    True,
                )
            this_update = tbs["this_update"].native
            for entry in tbs["revoked_certificates"]:
                if entry["user_certificate"].native == cert.serial_number:
                    revoked = entry["revocation_date"].native
                    if revoked <= when:
                        return (
                            False,
                            f"已于 {revoked.isoformat()} 吊销，早于签署时间 / "
                            f"revoked {revoked.isoformat()}, before the signing time",
                            False,
                        )
                    return (
                        True,
                        f"于 {revoked.isoformat()} 吊销，晚于签署时间 / "
                        f"revoked {revoked.isoformat()}, after the signing time",
                        False,
                    )
            if this_update >= when:
                return (
                    True,
                    f"未列于 {this_update.isoformat()} 的 CRL / "
                    f"not on the CRL of {this_update.isoformat()}",
                    False,
                )
            found_older = True
        except (ValueError, TypeError, KeyError, AttributeError):
            return False, _bi("CRL 无法读取", "a CRL cannot be read"), True
    if found_older:
        return None, _bi("所给 CRL 早于签署时间", "the CRL given predates the signing time"), False
    return None, _bi("没有该证书签发者的 CRL", "no CRL from the certificate's issuer"), False


def _stamp(timestamper: Timestamper, signature: bytes, hash_name: str) -> bytes:
    """An RFC 3161 token over ``signature``: SHA-256 through the PDF engine's client, SM3 (which
    that client does not ask for) with the same checks here — granted, our imprint, our nonce."""
    if hash_name != "sm3":
        return timestamps.timestamp(timestamper, _digest(hash_name, signature), hash_name)
    digest = sm2.sm3(signature)
    nonce = int.from_bytes(secrets.token_bytes(8), "big") >> 1 or 1
    request = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {
                "hash_algorithm": {"algorithm": sm2.OID_SM3},
                "hashed_message": digest,
            },
            "nonce": nonce,
            "cert_req": True,
        }
    ).dump()
    try:
        response = timestamper(request)
    except Exception as exc:  # a TSA outage is a refusal, not a crash
        raise ValidationError(
            f"the timestamp authority could not be reached ({exc})", field="timestamper"
        ) from exc
    try:
        resp = tsp.TimeStampResp.load(response)
        status = resp["status"]["status"].native
        if status not in ("granted", "granted_with_mods"):
            raise ValidationError(f"the TSA refused the request ({status})", field="timestamper")
        token = resp["time_stamp_token"]
        info = token["content"]["encap_content_info"]["content"].parsed
        imprint = info["message_imprint"]
        if (
            imprint["hash_algorithm"]["algorithm"].dotted != sm2.OID_SM3
            or imprint["hashed_message"].native != digest
            or info["nonce"].native != nonce
        ):
            raise ValidationError("the TSA stamped something else", field="timestamper")
        return token.dump()
    except (ValueError, TypeError, KeyError, AttributeError):
        raise ValidationError(
            "the timestamp reply is not a valid RFC 3161 response", field="timestamper"
        ) from None


# --- building ---------------------------------------------------------------------------------


def build_ses_signature(
    seal_der: bytes,
    data: bytes,
    *,
    property_info: str,
    signer_key: sm2.SM2PrivateKey | KeyHandle,
    signer_cert_der: bytes,
    time_info: datetime,
    timestamper: Timestamper | None = None,
    timestamp_hash: str = "sha256",
    data_hash: bytes | None = None,
) -> bytes:
    """Sign ``data`` with the seal: the DER ``SES_Signature`` v4 for ``SignedValue.dat``.

    ``data_hash``, when given, is the SM3 of the signed data computed by the caller (a PDF's
    ``/ByteRange`` bytes are hashed where they lie, never copied) and ``data`` is ignored.

    Refused before anything is signed (``ValidationError`` naming the field) when the result
    could not verify: the seal does not read, the signer's certificate is not in the seal's
    list or is not the key's, or ``time_info`` lies outside the seal's or the certificate's
    validity. ``timestamper`` (an RFC 3161 service) stamps the signature value with
    ``timestamp_hash`` (``sha256``, or ``sm3`` for an SM2 TSA that offers it).
    """
    seal = parse_seseal(seal_der)
    cert = _cert(signer_cert_der, "signer_cert")
    when = _when(time_info, "time_info")
    if not isinstance(property_info, str) or not property_info or not property_info.isascii():
        raise ValidationError(
            "property_info must be non-empty ASCII (IA5String)", field="property_info"
        )
    if not is_sm2_key(signer_key):
        raise ValidationError("the signer key must be an SM2 key (SM3withSM2)", field="signer_key")
    if not is_sm2_spki(cert_spki(signer_cert_der)) or not same_key(
        cert_spki(signer_cert_der), key_spki(signer_key)
    ):
        raise ValidationError(
            "the signer certificate does not belong to the signer key", field="signer_cert"
        )
    _require_in_seal(seal, signer_cert_der)
    if not seal.info.valid_start <= when <= seal.info.valid_end:
        raise ValidationError("the seal is not valid at the signing time", field="time_info")
    if not _valid_at(cert, when):
        raise ValidationError(
            "the signer certificate is not valid at the signing time", field="time_info"
        )
    to_sign = TBSSign(
        {
            "version": SES_SIGNATURE_VERSION,
            "eseal": SESeal.load(bytes(seal_der)),
            "time_info": when,
            "data_hash": sm2.sm3(bytes(data)) if data_hash is None else _sm3_digest(data_hash),
            "property_info": property_info,
        }
    )
    signed_bytes = to_sign.dump()
    if isinstance(signer_key, sm2.SM2PrivateKey):
        signature = signer_key.sign(signed_bytes, sm2.DEFAULT_UID)
    else:
        signature = signer_key.sign(signed_bytes, hashes.SM3())
    record = {
        "to_sign": to_sign,
        "cert": bytes(signer_cert_der),
        "signature_alg_id": OID_SM2_SM3,
        "signature": signature,
    }
    if timestamper is not None:
        record["time_stamp"] = _stamp(timestamper, signature, timestamp_hash)
    return SESSignature(record).dump()


# --- reading ----------------------------------------------------------------------------------


def parse_ses_signature(der: bytes) -> ParsedSesSignature:
    """Read a ``SES_Signature`` v4 without judging it (``verify_ses_signature`` judges)."""
    if not isinstance(der, bytes | bytearray) or not der:
        raise _bad("数据为空", "the record is empty")
    der = bytes(der)
    if (older := _older_version(der)) is not None:
        raise _bad(*older)
    try:
        sig = _SESSignatureRead.load(der, strict=True)
        if _SESSignatureRead.load(der, strict=True).dump(force=True) != der:
            raise _bad("数据不是 DER 编码", "the record is not in DER")
        to_sign = sig["to_sign"]
        version = to_sign["version"].native
        if version != SES_SIGNATURE_VERSION:
            raise _bad(
                f"不支持版本 {version}（仅支持 v4）",
                f"version {version} is not supported (only v4)",
            )
        time_info = to_sign["time_info"].native
        if not isinstance(time_info, datetime) or time_info.tzinfo is None:
            raise _bad(
                "签章时间 timeInfo 不是 UTC GeneralizedTime",
                "timeInfo is not a UTC GeneralizedTime",
            )
        ts = sig["time_stamp"]
        return ParsedSesSignature(
            version=version,
            seal_der=to_sign["eseal"].dump(),
            time_info=time_info.astimezone(UTC),
            data_hash=to_sign["data_hash"].native,
            property_info=to_sign["property_info"].native,
            signer_cert_der=sig["cert"].native,
            sign_alg_oid=sig["signature_alg_id"].dotted,
            signature=sig["signature"].native,
            timestamp_token=None if isinstance(ts, core.Void) else ts.native,
            signed_bytes=to_sign.dump(),
        )
    except ValidationError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise _bad(*unreadable(der, exc)) from None


def _older_version(der: bytes) -> tuple[str, str] | None:
    """(中文, English) when ``der`` is an ``SES_Signature`` of GM/T 0031-2014 (v1): two
    fields, ``toSign`` (which holds the certificate and algorithm) and ``signature``, as
    readers tell the versions apart (ofdrw's ``SESVersionHolder``); else None. Read loosely,
    so a v1 record is named as one instead of failing on its first field of another type."""
    try:
        outer = core.Sequence.load(der)
        if len(outer) != 2:
            return None
        version = outer[0][0]
        said = f" {version.native}" if isinstance(version, core.Integer) else ""
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
        return None
    return (
        f"这是 GM/T 0031-2014 格式的 SES_Signature（版本{said}，只有 toSign 与 signature 两项），"
        "仅支持 GB/T 38540 的 v4",
        f"this is an SES_Signature of GM/T 0031-2014 (version{said}: toSign and signature "
        "only); only GB/T 38540's v4 is read",
    )


def seal_picture(der: bytes) -> tuple[str, bytes, int, int] | None:
    """(type, data, width mm, height mm) of the seal inside a signature; None if unreadable.

    For drawing only (a page preview): it judges nothing."""
    try:
        info = parse_seseal(parse_ses_signature(der).seal_der).info
    except ValidationError:
        return None
    return info.picture_type, info.picture_data, info.width_mm, info.height_mm


# --- verifying --------------------------------------------------------------------------------


_SIGNATURE_OIDS = {
    ("ec", "sha256"): OID_ECDSA_SHA256,
    ("ec", "sha384"): OID_ECDSA_SHA384,
    ("rsa", "sha256"): OID_RSA_SHA256,
}


def time_settled(checks: Iterable[Check | dict]) -> bool:
    """Whether the time a signature's checks are judged at is settled: a good timestamp gives
    it, or there is none (GB/T 38540 then takes ``timeInfo`` as it is). When a timestamp is
    there but not shown good, a time-bound failure (revoked before, outside a validity, the
    platform's ``seal_status``) may yet be undone by trusting its TSA: it is ``mendable``."""
    stamp = next((c for c in checks if _name(c) == "timestamp"), None)
    return stamp is None or outcome(stamp) is Outcome.PASSED


def _name(check: Check | dict) -> str:
    return check["name"] if isinstance(check, dict) else check.name


def _check_timestamp(
    token: bytes, signature: bytes, trust: Trust | None
) -> tuple[bool | None, str, datetime | None, bool]:
    """An RFC 3161 token over the signature value: imprint, TSA signature, TSA trusted. The
    last item: a failure more evidence could settle (the TSA not shown trusted, its certificate
    not in the token) rather than a broken token."""
    try:
        info = cms.ContentInfo.load(token)
        signed = info["content"]
        tst = signed["encap_content_info"]["content"].parsed
        gen_time = tst["gen_time"].native.astimezone(UTC)
        imprint = tst["message_imprint"]
        alg = imprint["hash_algorithm"]["algorithm"]
        alg_name = "sm3" if alg.dotted == sm2.OID_SM3 else alg.native
        if _digest(alg_name, signature) != imprint["hashed_message"].native:
            return (
                False,
                _bi("时间戳所盖的是另一个签名值", "the timestamp stamps another signature value"),
                gen_time,
                False,
            )
        signer_info = signed["signer_infos"][0]
        digest_name = signer_info["digest_algorithm"]["algorithm"].native
        if digest_name == sm2.OID_SM3:
            digest_name = "sm3"
        attrs = signer_info["signed_attrs"]
        message_digest = next(
            a["values"][0].native for a in attrs if a["type"].native == "message_digest"
        )
        content = signed["encap_content_info"]["content"].contents
        if _digest(digest_name, content) != message_digest:
            return (
                False,
                _bi(
                    "时间戳的消息摘要值与其内容不符",
                    "the timestamp's message digest does not match its content",
                ),
                gen_time,
                False,
            )
        sid = signer_info["sid"].chosen
        tsa_der = None
        for choice in signed["certificates"]:
            c = choice.chosen
            if isinstance(sid, cms.IssuerAndSerialNumber):
                if c.issuer == sid["issuer"] and c.serial_number == sid["serial_number"].native:
                    tsa_der = c.dump()
            elif c.key_identifier == sid.native:
                tsa_der = c.dump()
        if tsa_der is None:
            return (
                False,
                _bi(
                    "时间戳未附带时间戳服务证书", "the timestamp does not carry its TSA certificate"
                ),
                gen_time,
                True,
            )
        spki = cert_spki(tsa_der)
        sig_alg = signer_info["signature_algorithm"]["algorithm"].dotted
        if is_sm2_spki(spki):
            sig_alg = OID_SM2_SM3
        elif sig_alg not in (OID_ECDSA_SHA256, OID_ECDSA_SHA384, OID_RSA_SHA256):
            family = (
                "ec" if a_x509.Certificate.load(tsa_der).public_key.algorithm == "ec" else "rsa"
            )
            sig_alg = _SIGNATURE_OIDS.get((family, digest_name), sig_alg)
        signed_attrs = b"\x31" + attrs.dump()[1:]  # signed as a SET OF (RFC 5652 §5.4)
        verify_signed(spki, sig_alg, signer_info["signature"].native, signed_attrs)
        ok, zh, en = _trusted(tsa_der, trust, gen_time)
        tsa = _subject(a_x509.Certificate.load(tsa_der))
        if ok is False:
            return (
                False,
                _bi(f"时间戳服务 {tsa!r} 不受信任：{zh}", f"the TSA {tsa!r} is not trusted: {en}"),
                gen_time,
                True,
            )
        return (
            ok,
            _bi(
                f"由 {tsa!r} 于 {gen_time.isoformat()} 加盖（{zh}）",
                f"stamped {gen_time.isoformat()} by {tsa!r} ({en})",
            ),
            gen_time,
            False,
        )
    except InvalidSignature:
        return (
            False,
            _bi(
                "时间戳服务对时间戳的签名验证不通过",
                "the TSA's signature over the timestamp does not verify",
            ),
            None,
            False,
        )
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, StopIteration):
        return False, _bi("时间戳无法读取", "the timestamp token cannot be read"), None, False


def verify_ses_signature(
    der: bytes,
    data: bytes,
    *,
    trust: Trust | None = None,
    crls: list[bytes] | None = None,
    at: datetime | None = None,
) -> SesReport:
    """Check a ``SES_Signature`` over ``data`` by GB/T 38540's procedure; never raises for a
    bad record (a verdict is a result, not an error).

    ``at`` is the verification moment (a relying party re-checks "as of" a day, years later):
    when given, a ``signing_time`` check requires the signing time (the timestamp's, else
    ``timeInfo``) not to lie after it — a signature cannot prove a moment still to come. Every
    other check is judged at the signing time, as GB/T 38540 §7.3 asks, so an expired seal or
    certificate does not spoil a signature made while they were valid.

    ``trust`` lists the relying party's trusted certificates (DER): the seal maker (or its
    CA), the signer's issuing CA, the TSA (or its CA). Without it, every trust check is reported
    "not checked" and the verdict is INVALID: a record consistent only with itself proves
    nothing about who made it. ``crls`` (DER) are the signer's issuer's CRLs: one issued after
    the signing time and signed by a trusted issuer decides the revocation check; without one
    the check is "not checked" and does not decide the verdict.

    A verdict that is not VALID is INVALID (``TOTAL-FAILED``) or, when every failure is one
    more evidence could settle, INDETERMINATE (``SesReport.indication``, ``Check.mendable``).

    An ``at`` without a time zone is refused naming ``at`` (``clock.asked_moment``, as every
    other verifier): it was read as the machine's local time — a caller in Beijing meaning UTC
    was judged eight hours off — the one thing this raises for rather than reports.
    """
    at = asked_moment(at)
    checks: list[Check] = []
    notes: list[str] = []

    def check(name: str, ok: bool | None, detail: str, mendable: bool = False) -> None:
        checks.append(Check(name, ok, detail, mendable and ok is False))

    try:
        parsed = parse_ses_signature(der)
    except ValidationError as exc:
        check("format", False, str(exc))
        return SesReport(valid=False, checks=tuple(checks))
    if parsed.sign_alg_oid != OID_SM2_SM3:
        check(
            "format",
            False,
            _bi(
                f"签名算法 {parsed.sign_alg_oid} 不是 SM3withSM2",
                f"signatureAlgID {parsed.sign_alg_oid} is not SM3withSM2",
            ),
        )
        return SesReport(valid=False, checks=tuple(checks), time_info=parsed.time_info)
    try:
        cert = _cert(parsed.signer_cert_der, "cert")
        signer_spki = cert_spki(parsed.signer_cert_der)
    except ValidationError:
        check(
            "format",
            False,
            _bi(
                "签章人证书无法读取：cert 字段不是 DER 编码的 X.509 证书",
                "the signer certificate cannot be read: the cert field is not a DER X.509 "
                "certificate",
            ),
        )
        return SesReport(valid=False, checks=tuple(checks), time_info=parsed.time_info)
    check("format", True, "格式 SES_Signature v4，算法 SM3withSM2 / SES_Signature v4, SM3withSM2")
    signer = _subject(cert)
    serial = serial_hex(cert.serial_number)

    # 1. the signature value, by the signer certificate's key
    try:
        verify_signed(signer_spki, parsed.sign_alg_oid, parsed.signature, parsed.signed_bytes)
        check(
            "signature",
            True,
            _bi(f"{signer!r} 的 SM2 签名验证通过", f"SM2 signature by {signer!r} verifies"),
        )
    except InvalidSignature:
        check(
            "signature",
            False,
            _bi("签名值与所签内容不符", "the signature value does not match the signed content"),
        )
    except UnusableKey as exc:
        zh, en = exc.said("签章人证书", "the signer certificate")
        check(
            "signature", False, _bi(f"签名无法验证：{zh}", f"the signature cannot be checked: {en}")
        )

    # 2. the signing time: the timestamp's when there is one (it is evidence), else timeInfo
    when = parsed.time_info
    ts_time = None
    if parsed.timestamp_token is not None:
        ok, detail, ts_time, mendable = _check_timestamp(
            parsed.timestamp_token, parsed.signature, trust
        )
        check("timestamp", ok, detail, mendable)
        if ts_time is not None and ok:
            when = ts_time
    else:
        notes.append(
            "没有时间戳：签署时间为签章人自报（timeInfo） / "
            "no timestamp: the signing time is the signer's own claim (timeInfo)"
        )
    settled = time_settled(checks)
    if at is not None:
        moment = at.astimezone(UTC)
        early = when <= moment + timedelta(seconds=1)
        check(
            "signing_time",
            early,
            _bi(
                f"签署于 {when.isoformat()}，按 {moment.isoformat()} 验证",
                f"signed {when.isoformat()}, verified as of {moment.isoformat()}",
            )
            if early
            else _bi(
                f"签署于 {when.isoformat()}，晚于验证时刻 {moment.isoformat()}",
                f"signed {when.isoformat()}, after the verification moment {moment.isoformat()}",
            ),
            not settled,
        )

    # 3. the seal: its own checks, then who made it, then its validity at the signing time
    seal = None
    try:
        seal = verify_seseal(parsed.seal_der)
        check(
            "seal",
            True,
            _bi(
                f"电子印章 {seal.info.name!r}（{quoted(seal.info.es_id)}）：制章者签名验证通过",
                f"seal {seal.info.name!r} ({seal.info.es_id}): maker signature verifies",
            ),
        )
    except ValidationError as exc:
        check("seal", False, str(exc))
        try:
            seal = parse_seseal(parsed.seal_der)
        except ValidationError:
            seal = None
    if seal is not None:
        ok, zh, en = _trusted(seal.maker_cert_der, trust, seal.info.create_date)
        check("seal_maker_trusted", ok, _bi(zh, en), mendable=True)
        in_period = seal.info.valid_start <= when <= seal.info.valid_end
        start, end = seal.info.valid_start.isoformat(), seal.info.valid_end.isoformat()
        check(
            "seal_validity",
            in_period,
            _bi(
                f"印章有效期 {start} – {end}"
                + ("" if in_period else f"；签署于 {when.isoformat()}，不在其内"),
                f"seal valid {start} – {end}"
                + ("" if in_period else f"; signed {when.isoformat()}, outside it"),
            ),
            not settled,
        )
        listed, unknown = _cert_in_seal(seal, parsed.signer_cert_der)
        every = len(unknown) == len({k for k, _ in seal.cert_digests})
        check("signer_in_seal", listed, _signer_in_seal(listed, unknown, every))

    # 4. the signer certificate: valid at the signing time, issued by a trusted certificate
    cert_ok = _valid_at(cert, when)
    check(
        "signer_certificate_validity",
        cert_ok,
        _bi(
            f"{signer!r} 的证书在 {when.isoformat()} 有效",
            f"{signer!r} valid at {when.isoformat()}",
        )
        if cert_ok
        else _bi(
            f"{signer!r} 的证书在 {when.isoformat()} 无效",
            f"{signer!r} not valid at {when.isoformat()}",
        ),
        not settled,
    )
    ok, zh, en = _trusted(parsed.signer_cert_der, trust, when)
    check("signer_certificate_trusted", ok, _bi(zh, en), mendable=True)
    ok, why, mendable = _revocation(cert, crls, trust, when)
    check("signer_certificate_revocation", ok, why, mendable or not settled)

    # 5. the document: SM3 of the signed data
    matches = sm2.sm3(bytes(data)) == parsed.data_hash
    check(
        "document_hash",
        matches,
        _bi("所签数据的 SM3 摘要值与 dataHash 一致", "SM3 of the signed data matches dataHash")
        if matches
        else _bi("所签数据已被改动（SM3 摘要值不符）", "the signed data was changed (SM3 differs)"),
    )

    required = [
        c for c in checks if not (c.name == "signer_certificate_revocation" and c.ok is None)
    ]
    valid = all(c.ok is True for c in required) and seal is not None
    return SesReport(
        valid=valid,
        checks=tuple(checks),
        seal_name=seal.info.name if seal else None,
        es_id=seal.info.es_id if seal else None,
        seal_valid_start=seal.info.valid_start if seal else None,
        seal_valid_end=seal.info.valid_end if seal else None,
        signer=signer,
        signer_serial=serial,
        time_info=parsed.time_info,
        timestamp_time=ts_time,
        property_info=parsed.property_info,
        seal_picture_type=seal.info.picture_type if seal else None,
        notes=tuple(notes),
    )


# --- OFD: the signer and the checker that ``yinxin.ofd`` calls ----------------------------------


class SesOfdSigner:
    """Makes ``SignedValue.dat`` for ``yinxin.ofd.sign.sign_ofd``: a ``SES_Signature`` over the
    signature's ``Signature.xml``, with the seal written beside it as ``Seal.esl``.

    Everything that could make the result invalid is checked here, before the document is
    touched (``build_ses_signature``'s refusals, at construction with a dry run of the checks).
    """

    signature_method = OID_SM2_SM3

    def __init__(
        self,
        seal_der: bytes,
        signer_key: sm2.SM2PrivateKey | KeyHandle,
        signer_cert_der: bytes,
        *,
        when: datetime,
        timestamper: Timestamper | None = None,
        timestamp_hash: str = "sha256",
    ) -> None:
        self._seal = parse_seseal(seal_der)
        self._seal_der = bytes(seal_der)
        self._key = signer_key
        self._cert = bytes(signer_cert_der)
        self._when = when
        self._timestamper = timestamper
        self._timestamp_hash = timestamp_hash
        # refuse now, not after the package was laid out: same checks, throw-away data
        build_ses_signature(
            self._seal_der,
            b"",
            property_info="/check",
            signer_key=signer_key,
            signer_cert_der=self._cert,
            time_info=when,
        )

    @property
    def seal(self) -> bytes:
        return self._seal_der

    @property
    def seal_size_mm(self) -> tuple[float, float]:
        return (float(self._seal.info.width_mm), float(self._seal.info.height_mm))

    def sign(self, signature_xml: bytes, property_info: str) -> bytes:
        return self._value(signature_xml, property_info)

    def _value(self, data: bytes, property_info: str, data_hash: bytes | None = None) -> bytes:
        """The ``SES_Signature`` over ``data`` (or over the caller's ``data_hash``) with this
        signer's seal, key, certificate, time and timestamper: what OFD and PDF both sign."""
        return build_ses_signature(
            self._seal_der,
            data,
            data_hash=data_hash,
            property_info=property_info,
            signer_key=self._key,
            signer_cert_der=self._cert,
            time_info=self._when,
            timestamper=self._timestamper,
            timestamp_hash=self._timestamp_hash,
        )


def check_ofd_value(
    trust: Trust | None, crls: list[bytes] | None = None, at: datetime | None = None
) -> Callable[..., SesReport]:
    """The ``ValueChecker`` for ``yinxin.ofd.verify.verify_ofd``: GB/T 38540's checks over
    ``Signature.xml``, plus the OFD's own rules — ``SignatureMethod`` names the value's
    algorithm, ``Seal.esl`` is the very seal inside the value. An ``at`` without a zone is
    refused here, naming ``at``, before any document is read (``verify_ses_signature``)."""
    at = asked_moment(at)

    def check(
        signature_xml: bytes,
        signed_value: bytes,
        method: str,
        seal_file: bytes | None,
        name: str = "SignedValue.dat",
    ) -> SesReport:
        try:
            parse_ses_signature(signed_value)
        except UnreadableRecord as exc:
            # the part named in both halves; nothing else can be judged from it (a Seal.esl
            # compared with no seal at all was said to differ from it)
            said = _bi(
                f"{quoted(name)} 无法读取为电子签章数据（SES_Signature）：{exc.zh}",
                f"{name} cannot be read as an electronic seal signature (SES_Signature): {exc.en}",
            )
            return SesReport(valid=False, checks=(Check("format", False, said),))
        report = verify_ses_signature(signed_value, signature_xml, trust=trust, crls=crls, at=at)
        extra: list[Check] = []
        if method.strip() != OID_SM2_SM3 and method.strip().upper() not in ("SM2", "SM3WITHSM2"):
            extra.append(
                Check(
                    "signature_method",
                    False,
                    _bi(
                        f"签名方法 SignatureMethod {method!r} 不是 SM3withSM2",
                        f"SignatureMethod {method!r} is not SM3withSM2",
                    ),
                )
            )
        if seal_file is not None:
            try:
                inner = parse_ses_signature(signed_value).seal_der
                same = inner == bytes(seal_file)
            except ValidationError:
                same = False
            extra.append(
                Check(
                    "seal_file",
                    same,
                    _bi(
                        "Seal.esl 与签名中的电子印章一致",
                        "Seal.esl is the seal inside the signature",
                    )
                    if same
                    else _bi(
                        "Seal.esl 与签名中的电子印章不同",
                        "Seal.esl differs from the seal inside the signature",
                    ),
                )
            )
        if not extra:
            return report
        return replace(
            report,
            checks=report.checks + tuple(extra),
            valid=report.valid and all(c.ok for c in extra),
        )

    return check


# --- PDF: the signer and the checker that ``yinxin.pdf.ses`` calls -------------------------------


class SesPdfSigner(SesOfdSigner):
    """Makes the ``/Contents`` of a PDF seal signature for ``yinxin.pdf.ses.sign_ses_pdf``: a
    ``SES_Signature`` whose ``dataHash`` is the SM3 of the ``/ByteRange`` bytes (computed by
    the PDF engine where they lie), and the seal's own picture and size for the widget.

    The same refusals as for OFD, made at construction (a dry run), before the PDF is laid out.
    """

    @property
    def stamp(self):
        """The widget's picture: the seal's image at the seal's size (GB/T 38540 ``SES_
        ESPictrueInfo``); any raster format Pillow reads (PNG, JPEG, GIF, BMP)."""
        from yinxin.pdf.sign import SealStamp

        info = self._seal.info
        kind = "personal" if info.seal_type == SEAL_TYPE_PERSONAL else "organization"
        return SealStamp(
            info.picture_data, float(info.width_mm), float(info.height_mm), info.name, kind
        )

    @property
    def signer_name(self) -> str:
        return _subject(_cert(self._cert, "signer_cert"))

    def sign_digest(self, data_hash: bytes, property_info: str) -> bytes:
        return self._value(b"", property_info, data_hash)


def check_pdf_value(
    trust: Trust | None, crls: list[bytes] | None = None, at: datetime | None = None
) -> Callable[[bytes, bytes], SesReport]:
    """The checker for ``yinxin.pdf.ses.verify_ses_pdf``: GB/T 38540's checks of the DER in
    ``/Contents`` over the ``/ByteRange`` bytes, as of ``at`` (one without a zone refused
    here, naming ``at``, as ``verify_ses_pdf`` refuses it)."""
    at = asked_moment(at)

    def check(der: bytes, data: bytes) -> SesReport:
        return verify_ses_signature(der, data, trust=trust, crls=crls, at=at)

    return check
