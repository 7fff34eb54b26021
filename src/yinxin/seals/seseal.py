"""The electronic seal record of GB/T 38540-2020 (``SESeal``, version 4), byte for byte.

An OFD signature (``SES_Signature``) embeds the seal it was made with, and a relying party's
reader re-checks the seal maker's signature over it. So each seal keeps one DER record that is
made once, stored as-is and never re-encoded; this module makes, reads and checks that record.

Structure (GB/T 38540-2020 §6.1; field names as in the standard, types checked against ofdrw
``org.ofdrw.gm.ses.v4`` / ``v1.SES_Header`` / ``v1.SES_ESPictrueInfo`` / ``v1.ExtensionDatas``
and the OpenSSL templates of ``Chingliu/gm_0031_38540_verifier`` ``38540.cpp``)::

    SESeal ::= SEQUENCE {
        eSealInfo    SES_SealInfo,
        cert         OCTET STRING,            -- maker's X.509 certificate, DER
        signAlgID    OBJECT IDENTIFIER,
        signedValue  BIT STRING }
    SES_SealInfo ::= SEQUENCE {
        header       SES_Header,
        esID         IA5String,
        property     SES_ESPropertyInfo,
        picture      SES_ESPictureInfo,
        extDatas     ExtensionDatas OPTIONAL }  -- untagged here ([0] only in TBS_Sign)
    SES_Header ::= SEQUENCE { ID IA5String ("ES"), version INTEGER (4), Vid IA5String }
    SES_ESPropertyInfo ::= SEQUENCE {
        type INTEGER, name UTF8String, certListType INTEGER, certList SES_CertList,
        createDate GeneralizedTime, validStart GeneralizedTime, validEnd GeneralizedTime }
    SES_CertList ::= CHOICE { certs CertInfoList, certDigestList CertDigestList }
    CertInfoList ::= SEQUENCE OF OCTET STRING          -- signer certificates, DER
    CertDigestList ::= SEQUENCE OF CertDigestObj
    CertDigestObj ::= SEQUENCE { type PrintableString, value OCTET STRING }
    SES_ESPictureInfo ::= SEQUENCE { type IA5String, data OCTET STRING,
                                     width INTEGER, height INTEGER }   -- width/height in mm
    ExtensionDatas ::= SEQUENCE OF ExtData
    ExtData ::= SEQUENCE { extnID OBJECT IDENTIFIER, critical BOOLEAN DEFAULT FALSE,
                           extnValue OCTET STRING }

Both CHOICE alternatives of ``SES_CertList`` are untagged SEQUENCE OFs, so the tag cannot tell
them apart; like ofdrw (``SES_CertList.getInstance(certListType, …)``) we pick the alternative
from ``certListType`` (1 = certificates, 2 = certificate digests) through an asn1crypto spec
callback instead of a ``core.Choice``.

Signed bytes. The maker signs exactly the DER of ``eSealInfo`` (the whole ``SES_SealInfo`` TLV)
and nothing else: not ``cert``, not ``signAlgID``. Sources: the standard's definition of
signedValue, "制章者对电子印章格式中印章信息域 SES_SealInfo，按 SEQUENCE 方式组成的信息内容进行
数字签名所得的结果", and its generation step that signs the seal information just assembled (as
quoted in a published walk-through of GM/T 0031-2025 that lists every change from GB/T
38540-2020 and leaves this one unchanged); ofdrw's v4 ``SESealTest`` (signs and verifies
``SES_SealInfo.getEncoded("DER")``); ``Chingliu/gm_0031_38540_verifier`` (``i2d_SESv4_SealInfo``
in ``check_seal_signvalue``); OfdSharp ``Ses/V4/SeSeal.cs`` (same wording). The verification
step names the seal info, the maker certificate and signAlgID together because all three are
needed to check the signature, not because all three are signed. A seal signed over
cert and signAlgID as well would fail in every one of those readers.

Algorithms. The standard assumes SM2 with SM3 (signAlgID ``1.2.156.10197.1.501``,
sm2sign-with-sm3): a maker key that is an ``yinxin.pki.sm2.SM2PrivateKey`` (or a ``KeyHandle`` of
family ``"sm2"``) signs with the default user ID ``1234567812345678`` (GM/T 0009), the signature
DER ``SEQUENCE {r, s}`` as ofdrw and every reader in the field expect. Our older CA keys are ECDSA
(P-256 + SHA-256, or P-384 + SHA-384) and RSA (PKCS#1 v1.5 + SHA-256); for those signAlgID is the
X.509 signature OID that matches the key. ``verify_signed`` is the one place that checks a
signature by OID, shared with ``yinxin.seals.ses_signature``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import core, keys
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from yinxin.errors import ValidationError
from yinxin.pki import sm2
from yinxin.pki.der import spki
from yinxin.pki.keys import KeyHandle

# the ``type`` codes, named where the seal catalogue reads them without this codec; re-exported
from yinxin.seals.seal_types import SEAL_TYPE_ORGANIZATION as SEAL_TYPE_ORGANIZATION
from yinxin.seals.seal_types import SEAL_TYPE_PERSONAL as SEAL_TYPE_PERSONAL

SESEAL_HEADER_ID = "ES"
SESEAL_VERSION = 4

CERT_LIST_TYPE_CERTS = 1  # certList holds the signers' certificates
CERT_LIST_TYPE_DIGESTS = 2  # certList holds digests of the signers' certificates

OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
OID_ECDSA_SHA384 = "1.2.840.10045.4.3.3"
OID_RSA_SHA256 = "1.2.840.113549.1.1.11"
OID_SM2_SM3 = "1.2.156.10197.1.501"

# signAlgID -> (key family, hash). One table for signing and verifying, so both agree.
_SIGN_ALGS: dict[str, tuple[str, type[hashes.HashAlgorithm]]] = {
    OID_ECDSA_SHA256: ("ec", hashes.SHA256),
    OID_ECDSA_SHA384: ("ec", hashes.SHA384),
    OID_RSA_SHA256: ("rsa", hashes.SHA256),
    OID_SM2_SM3: ("sm2", hashes.SM3),
}

_FIELD = "seseal"


# --- ASN.1 ------------------------------------------------------------------------------------


class SESHeader(core.Sequence):
    _fields = [
        ("id", core.IA5String),
        ("version", core.Integer),
        ("vid", core.IA5String),
    ]


class CertInfoList(core.SequenceOf):
    _child_spec = core.OctetString


class CertDigestObj(core.Sequence):
    _fields = [
        ("type", core.PrintableString),
        ("value", core.OctetString),
    ]


class CertDigestList(core.SequenceOf):
    _child_spec = CertDigestObj


def _cert_list_spec(property_info: SESESPropertyInfo) -> type[core.Asn1Value] | None:
    """Resolve the untagged CHOICE ``SES_CertList`` by ``certListType``, as the standard implies."""
    kind = property_info["cert_list_type"].native
    if kind == CERT_LIST_TYPE_CERTS:
        return CertInfoList
    if kind == CERT_LIST_TYPE_DIGESTS:
        return CertDigestList
    return None  # left as Any; parse_seseal refuses it


class SESESPropertyInfo(core.Sequence):
    _fields = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list_type", core.Integer),
        ("cert_list", core.Any),
        ("create_date", core.GeneralizedTime),
        ("valid_start", core.GeneralizedTime),
        ("valid_end", core.GeneralizedTime),
    ]
    _spec_callbacks = {"cert_list": _cert_list_spec}


class SESESPictureInfo(core.Sequence):
    _fields = [
        ("type", core.IA5String),
        ("data", core.OctetString),
        ("width", core.Integer),
        ("height", core.Integer),
    ]


class ExtData(core.Sequence):
    _fields = [
        ("extn_id", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extn_value", core.OctetString),
    ]


class ExtensionDatas(core.SequenceOf):
    _child_spec = ExtData


class SESSealInfo(core.Sequence):
    _fields = [
        ("header", SESHeader),
        ("es_id", core.IA5String),
        ("property", SESESPropertyInfo),
        ("picture", SESESPictureInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),
    ]


class SESeal(core.Sequence):
    _fields = [
        ("e_seal_info", SESSealInfo),
        ("cert", core.OctetString),
        ("sign_alg_id", core.ObjectIdentifier),
        ("signed_value", core.OctetBitString),
    ]


# --- Python values ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SealInfo:
    """What a seal says, in Python types; ``build_seseal`` turns it into ``SES_SealInfo``."""

    es_id: str
    seal_type: int
    name: str
    cert_list: list[bytes]  # DER certificates of the seal's signer(s)
    create_date: datetime
    valid_start: datetime
    valid_end: datetime
    picture_type: str
    picture_data: bytes
    width_mm: int
    height_mm: int
    vid: str = "yinxin"  # header vendor id


@dataclass(frozen=True)
class ExtDataValue:
    extn_id: str
    critical: bool
    extn_value: bytes


@dataclass(frozen=True)
class ParsedSeal:
    """A decoded record plus the exact bytes the maker signed, so callers never re-encode."""

    info: SealInfo
    maker_cert_der: bytes
    sign_alg_oid: str
    signature: bytes
    signed_bytes: bytes  # DER of eSealInfo exactly as it appears in the record
    cert_list_type: int = CERT_LIST_TYPE_CERTS
    # (type, digest) pairs when certListType is 2; ``info.cert_list`` is then empty
    cert_digests: tuple[tuple[str, bytes], ...] = ()
    ext_datas: tuple[ExtDataValue, ...] = ()


# --- building ---------------------------------------------------------------------------------


def _ia5(value: str, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{name} must be a non-empty string", field=name)
    if not value.isascii() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValidationError(f"{name} must be printable ASCII (IA5String)", field=name)
    return value


def _when(value: datetime, name: str) -> datetime:
    """Whole seconds in UTC, so that the record reads back as the very value that went in."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationError(f"{name} must be a timezone-aware datetime", field=name)
    if value.microsecond:
        raise ValidationError(f"{name} must be whole seconds (GeneralizedTime)", field=name)
    return value.astimezone(UTC)


def _positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationError(f"{name} must be a positive integer", field=name)
    return value


def _load_cert(der: bytes, name: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(bytes(der))
    except (ValueError, TypeError, x509.InvalidVersion):
        raise ValidationError(f"{name} is not a DER X.509 certificate", field=name) from None


def _sign_alg_for(maker_key: KeyHandle | sm2.SM2PrivateKey) -> str:
    if is_sm2_key(maker_key):
        return OID_SM2_SM3
    family, hash_name = maker_key.algorithm.family, maker_key.algorithm.hash.name
    for oid, (fam, hash_cls) in _SIGN_ALGS.items():
        if fam == family and hash_cls.name == hash_name:
            return oid
    raise ValidationError(
        f"no seal signature algorithm for a {maker_key.algorithm.name} key", field="maker_key"
    )


def _seal_info_asn1(info: SealInfo) -> SESSealInfo:
    if isinstance(info.seal_type, bool) or not isinstance(info.seal_type, int):
        raise ValidationError("seal_type must be an integer", field="seal_type")
    if not isinstance(info.name, str) or not info.name.strip():
        raise ValidationError("name must be a non-empty string", field="name")
    if not info.cert_list:
        raise ValidationError("a seal needs at least one signer certificate", field="cert_list")
    for der in info.cert_list:
        _load_cert(der, "cert_list")
    if not isinstance(info.picture_data, bytes | bytearray) or not info.picture_data:
        raise ValidationError("picture_data must be non-empty bytes", field="picture_data")
    create = _when(info.create_date, "create_date")
    start = _when(info.valid_start, "valid_start")
    end = _when(info.valid_end, "valid_end")
    if end <= start:
        raise ValidationError("valid_end must be after valid_start", field="valid_end")
    return SESSealInfo(
        {
            "header": {
                "id": SESEAL_HEADER_ID,
                "version": SESEAL_VERSION,
                "vid": _ia5(info.vid, "vid"),
            },
            "es_id": _ia5(info.es_id, "es_id"),
            "property": {
                "type": info.seal_type,
                "name": info.name,
                "cert_list_type": CERT_LIST_TYPE_CERTS,
                "cert_list": CertInfoList([bytes(c) for c in info.cert_list]),
                "create_date": create,
                "valid_start": start,
                "valid_end": end,
            },
            "picture": {
                "type": _ia5(info.picture_type, "picture_type"),
                "data": bytes(info.picture_data),
                "width": _positive_int(info.width_mm, "width_mm"),
                "height": _positive_int(info.height_mm, "height_mm"),
            },
        }
    )


def _cert_valid_at(cert: x509.Certificate, when: datetime) -> bool:
    return cert.not_valid_before_utc <= when <= cert.not_valid_after_utc


def is_sm2_key(key: object) -> bool:
    if isinstance(key, sm2.SM2PrivateKey):
        return True
    algorithm = getattr(key, "algorithm", None)
    return getattr(algorithm, "family", None) == "sm2"


def key_spki(key: KeyHandle | sm2.SM2PrivateKey) -> bytes:
    public = key.public_key()
    if isinstance(public, sm2.SM2PublicKey):
        return public.spki_der()
    if hasattr(public, "spki_der"):
        return public.spki_der()
    return spki(public)


def cert_spki(cert_der: bytes) -> bytes:
    """The SubjectPublicKeyInfo DER of a certificate, SM2 ones included.

    ``cryptography`` reads an SM2 certificate but refuses its key (the curve is unknown to it),
    so the key is taken out with asn1crypto, which does not care which curve it is.
    """
    return a_x509.Certificate.load(bytes(cert_der))["tbs_certificate"][
        "subject_public_key_info"
    ].dump()


def is_sm2_spki(spki_der: bytes) -> bool:
    """Whether the key is an SM2 one; a key that cannot be read, or of an algorithm asn1crypto
    does not know (it raises KeyError for one, unless pyhanko's certificate validator has
    been loaded to tolerate it), is not."""
    try:
        info = keys.PublicKeyInfo.load(spki_der)
        params = info["algorithm"]["parameters"]
        return (
            info["algorithm"]["algorithm"].native == "ec"
            and isinstance(params, keys.ECDomainParameters)
            and params.name == "named"
            and params.chosen.dotted == sm2.OID_SM2
        )
    except (ValueError, TypeError, KeyError):
        return False


def same_key(a_spki: bytes, b_spki: bytes) -> bool:
    """Equal keys, whatever each encoder wrote around the point (SM2 keys are sometimes written
    with the SM2 algorithm OID instead of id-ecPublicKey)."""
    if a_spki == b_spki:
        return True
    try:
        a, b = keys.PublicKeyInfo.load(a_spki), keys.PublicKeyInfo.load(b_spki)
        return bytes(a["public_key"]) == bytes(b["public_key"]) and is_sm2_spki(
            a_spki
        ) == is_sm2_spki(b_spki)
    except (ValueError, TypeError, KeyError):  # KeyError: an algorithm asn1crypto does not know
        return False


class UnusableKey(ValueError):
    """Why ``verify_signed`` checked nothing, in both halves, for whichever certificate holds
    the key: ``said("签章人证书", "the signer certificate")`` -> (中文, English)."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en.replace(" of {cert}", ""))  # as it read before
        self.zh, self.en = zh, en

    def said(self, cert_zh: str, cert_en: str) -> tuple[str, str]:
        return self.zh.format(cert=cert_zh), self.en.format(cert=cert_en)


def verify_signed(spki_der: bytes, sign_alg_oid: str, signature: bytes, data: bytes) -> None:
    """Check ``signature`` over ``data`` by the key ``spki_der`` under ``sign_alg_oid``.

    Raises ``InvalidSignature`` for a signature that does not match and ``UnusableKey`` (a
    ``ValueError``) when the algorithm is unknown or does not fit the key (a different
    failure: nothing was checked). SM2 uses the default user ID, as GB/T 38540 and GM/T 0009
    prescribe for seals.
    """
    if sign_alg_oid not in _SIGN_ALGS:
        raise UnusableKey(
            f"不支持签名算法 {sign_alg_oid}", f"signature algorithm {sign_alg_oid} is not supported"
        )
    mismatch = UnusableKey(
        f"签名算法 {sign_alg_oid} 与{{cert}}中的公钥类型不符",
        "signAlgID does not match the key of {cert}",
    )
    family, hash_cls = _SIGN_ALGS[sign_alg_oid]
    if family == "sm2":
        if not is_sm2_spki(spki_der):
            raise UnusableKey(
                "签名算法 SM3withSM2 要求 SM2 公钥，{cert}中的公钥不是 SM2 公钥",
                "signAlgID SM3withSM2 (SM2) does not match the key of {cert}",
            )
        try:
            public = sm2.load_public_spki(spki_der)
        except ValidationError:
            raise UnusableKey(
                "{cert}中的 SM2 公钥无法读取", "the SM2 public key of {cert} cannot be read"
            ) from None
        public.verify(bytes(signature), data, sm2.DEFAULT_UID)
        return
    try:
        public_key = serialization.load_der_public_key(spki_der)
    except UnsupportedAlgorithm:
        raise mismatch from None
    if family == "ec" and isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(bytes(signature), data, ec.ECDSA(hash_cls()))
    elif family == "rsa" and isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(bytes(signature), data, padding.PKCS1v15(), hash_cls())
    else:
        raise mismatch


def build_seseal(
    info: SealInfo, maker_key: KeyHandle | sm2.SM2PrivateKey, maker_cert_der: bytes
) -> bytes:
    """Make the DER ``SESeal`` v4 record, signed by the maker (our CA) over ``eSealInfo``."""
    maker_cert = _load_cert(maker_cert_der, "maker_cert")
    if not same_key(cert_spki(maker_cert_der), key_spki(maker_key)):
        raise ValidationError(
            "the maker certificate does not belong to the maker key", field="maker_cert"
        )
    sign_alg = _sign_alg_for(maker_key)
    seal_info = _seal_info_asn1(info)
    if not _cert_valid_at(maker_cert, seal_info["property"]["create_date"].native):
        raise ValidationError(
            "the maker certificate is not valid at the seal's create_date", field="create_date"
        )
    signed_bytes = seal_info.dump()
    if isinstance(maker_key, sm2.SM2PrivateKey):
        signature = maker_key.sign(signed_bytes, sm2.DEFAULT_UID)
    else:
        signature = maker_key.sign(signed_bytes, _SIGN_ALGS[sign_alg][1]())
    seal = SESeal(
        {
            "e_seal_info": seal_info,
            "cert": bytes(maker_cert_der),
            "sign_alg_id": sign_alg,
            "signed_value": signature,
        }
    )
    return seal.dump()


# --- reading ----------------------------------------------------------------------------------


_TRUNCATED = re.compile(r"Insufficient data - (\d+) bytes requested but only (\d+) available")
_TRAILING = re.compile(r"Extra data - (\d+) bytes of trailing data")
_MISSING = re.compile(r'Field "(\w+)" is missing')
_WRONG_TYPE = re.compile(r"Error parsing ([\w.]+) - (?:tag|class|method) should have been")
_BAD_TIME = re.compile(r"to a asn1crypto\.core\.(GeneralizedTime|UTCTime)")


def _standard_name(field: str) -> str:
    """asn1crypto's field name as the standard spells it: ``signature_alg_id`` ->
    ``signatureAlgID``, ``e_seal_info`` -> ``eSealInfo``."""
    head, *rest = field.split("_")
    return head + "".join("ID" if w == "id" else w[:1].upper() + w[1:] for w in rest)


def unreadable(der: bytes, exc: Exception) -> tuple[str, str]:
    """Why a DER record (``SESeal``, ``SES_Signature``) could not be read, as (中文, English),
    from what asn1crypto raised: a relying party is told "truncated", "not DER", "the field
    cert is missing", never the parser's exception class."""
    if der[:1] != b"\x30":
        found = f"0x{der[0]:02x}"
        return (
            f"不是 DER 编码的 ASN.1 结构（应以 SEQUENCE 的 0x30 开头，实为 {found}）",
            f"not a DER-encoded ASN.1 structure (a SEQUENCE, 0x30, expected; {found} found)",
        )
    said = str(exc)
    if m := _TRUNCATED.search(said):
        return (
            f"数据不完整，已被截断（需要 {m[1]} 字节，只有 {m[2]} 字节）",
            f"the data is truncated ({m[1]} bytes needed, {m[2]} there)",
        )
    if m := _TRAILING.search(said):
        bytes_ = "byte" if m[1] == "1" else "bytes"
        return (f"数据末尾多出 {m[1]} 字节", f"{m[1]} {bytes_} of trailing data follow it")
    if m := _MISSING.search(said):
        name = _standard_name(m[1])
        return (f"缺少字段 {name}", f"the field {name} is missing")
    if m := _WRONG_TYPE.search(said):
        kind = m[1].rsplit(".", 1)[-1]
        return (
            f"结构与标准不符（此处应为 {kind} 的字段类型不对）",
            f"the structure is not the standard's (a field that should be {kind} is not)",
        )
    if m := _BAD_TIME.search(said):
        return (f"时间字段不是合法的 {m[1]}", f"a time field is not a valid {m[1]}")
    if isinstance(exc, UnicodeDecodeError):
        return ("某个字符串字段的编码无效", "a string field is not validly encoded")
    return ("数据结构与标准不符", "the structure is not the standard's")


def _bad(zh: str, en: str) -> ValidationError:
    """A refusal, or a ``seal`` check's detail, as every report says it: "中文 / English"."""
    return ValidationError(f"电子印章：{zh} / electronic seal: {en}", field=_FIELD)


def _aware(value: object, name: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise _bad(f"{name} 不是 UTC GeneralizedTime", f"{name} is not a UTC GeneralizedTime")
    return value.astimezone(UTC)


def _decode(der: bytes) -> ParsedSeal:
    try:
        seal = SESeal.load(der, strict=True)
        # DER only: a BER variant would verify against bytes nobody else re-derives.
        if SESeal.load(der, strict=True).dump(force=True) != der:
            raise _bad("数据不是 DER 编码", "the record is not in DER")
        seal_info = seal["e_seal_info"]
        header = seal_info["header"]
        if header["id"].native != SESEAL_HEADER_ID:
            raise _bad(
                f"头部标识为 {header['id'].native!r}，而非 'ES'",
                f"header ID is {header['id'].native!r}, not 'ES'",
            )
        if header["version"].native != SESEAL_VERSION:
            raise _bad(
                f"不支持版本 {header['version'].native}（仅支持 v4）",
                f"version {header['version'].native} is not supported (only v4)",
            )
        prop = seal_info["property"]
        list_type = prop["cert_list_type"].native
        if list_type not in (CERT_LIST_TYPE_CERTS, CERT_LIST_TYPE_DIGESTS):
            raise _bad(
                f"证书列表类型 certListType {list_type} 既不是 1 也不是 2",
                f"certListType {list_type} is neither 1 nor 2",
            )
        cert_list: list[bytes] = []
        digests: tuple[tuple[str, bytes], ...] = ()
        if list_type == CERT_LIST_TYPE_CERTS:
            cert_list = [c.native for c in prop["cert_list"]]
        else:
            digests = tuple((d["type"].native, d["value"].native) for d in prop["cert_list"])
        picture = seal_info["picture"]
        ext = seal_info["ext_datas"]
        ext_datas = tuple(
            ExtDataValue(e["extn_id"].dotted, e["critical"].native, e["extn_value"].native)
            for e in ([] if isinstance(ext, core.Void) else ext)
        )
        info = SealInfo(
            es_id=seal_info["es_id"].native,
            seal_type=prop["type"].native,
            name=prop["name"].native,
            cert_list=cert_list,
            create_date=_aware(prop["create_date"].native, "createDate"),
            valid_start=_aware(prop["valid_start"].native, "validStart"),
            valid_end=_aware(prop["valid_end"].native, "validEnd"),
            picture_type=picture["type"].native,
            picture_data=picture["data"].native,
            width_mm=picture["width"].native,
            height_mm=picture["height"].native,
            vid=header["vid"].native,
        )
        return ParsedSeal(
            info=info,
            maker_cert_der=seal["cert"].native,
            sign_alg_oid=seal["sign_alg_id"].dotted,
            signature=seal["signed_value"].native,
            signed_bytes=seal_info.dump(),
            cert_list_type=list_type,
            cert_digests=digests,
            ext_datas=ext_datas,
        )
    except ValidationError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise _bad(*unreadable(der, exc)) from None


def parse_seseal(der: bytes) -> ParsedSeal:
    """Read a ``SESeal`` v4 record without judging its signature (see ``verify_seseal``)."""
    if not isinstance(der, bytes | bytearray) or not der:
        raise _bad("数据为空", "the record is empty")
    return _decode(bytes(der))


def verify_seseal(
    der: bytes,
    trusted_maker_certs: list[bytes] | None = None,
    *,
    at: datetime | None = None,
) -> ParsedSeal:
    """Check format, maker signature and validity period (GB/T 38540 §6.3); chains are PKI's.

    ``trusted_maker_certs`` pins the maker: the embedded certificate must be one of them,
    byte for byte. Without it, only the record's own consistency is checked, which proves
    nothing about who made it. ``at``, when given, must lie within the seal's validity period.
    """
    parsed = parse_seseal(der)
    if trusted_maker_certs is not None and not any(
        parsed.maker_cert_der == bytes(c) for c in trusted_maker_certs
    ):
        raise _bad(
            "制章者证书不是受信任的制章者", "the maker certificate is not a trusted seal maker"
        )
    if parsed.sign_alg_oid not in _SIGN_ALGS:
        raise _bad(
            f"不支持签名算法 {parsed.sign_alg_oid}",
            f"signature algorithm {parsed.sign_alg_oid} is not supported",
        )
    try:
        maker_cert = x509.load_der_x509_certificate(parsed.maker_cert_der)
        maker_spki = cert_spki(parsed.maker_cert_der)
    except (ValueError, TypeError, x509.InvalidVersion):  # not a ValueError: a version 16
        raise _bad("制章者证书无法读取", "the maker certificate cannot be read") from None
    try:
        verify_signed(maker_spki, parsed.sign_alg_oid, parsed.signature, parsed.signed_bytes)
    except UnusableKey as exc:
        zh, en = exc.said("制章者证书", "the maker certificate")
        raise _bad(f"制章者证书无法用于验证：{zh}", en) from None
    except InvalidSignature:
        raise _bad(
            "制章者签名与电子印章不符", "the maker's signature does not match the seal"
        ) from None
    if not _cert_valid_at(maker_cert, parsed.info.create_date):
        raise _bad(
            "制作印章时制章者证书不在有效期内",
            "the maker certificate was not valid when the seal was made",
        )
    if parsed.info.valid_end <= parsed.info.valid_start:
        raise _bad(
            "有效期结束时间 validEnd 不晚于开始时间 validStart", "validEnd is not after validStart"
        )
    if at is not None:
        if not isinstance(at, datetime) or at.tzinfo is None:
            raise ValidationError("at must be a timezone-aware datetime", field="at")
        when = at.astimezone(UTC)
        if not parsed.info.valid_start <= when <= parsed.info.valid_end:
            raise _bad("电子印章不在有效期内", "the seal is outside its validity period")
    return parsed
