"""SESeal v4 records: real keys, real certificates, and a decoder we did not write (OpenSSL).

The seal record is what other vendors' OFD readers will check, so the tests lean on outside
judges: ``openssl asn1parse`` for the structure and ``cryptography`` for the maker signature.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from PIL import Image, ImageDraw

from yinxin.errors import ValidationError
from yinxin.pki.keys import SoftwareKey
from yinxin.seals.seseal import (
    OID_ECDSA_SHA256,
    OID_RSA_SHA256,
    OID_SM2_SM3,
    SEAL_TYPE_ORGANIZATION,
    CertDigestList,
    ExtDataValue,
    ExtensionDatas,
    SealInfo,
    SESeal,
    SESSealInfo,
    build_seseal,
    parse_seseal,
    verify_seseal,
)

SEAL_NAME = "北京印信电子认证服务有限公司合同专用章"
NOW = datetime(2025, 3, 1, 8, 30, 0, tzinfo=UTC)


def _self_signed(key, common_name: str) -> bytes:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "北京印信电子认证服务有限公司"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def _png() -> bytes:
    img = Image.new("RGBA", (96, 96), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.ellipse((4, 4, 91, 91), outline=(220, 0, 0, 255), width=5)
    draw.polygon(
        [
            (48, 28),
            (54, 44),
            (70, 44),
            (57, 54),
            (62, 70),
            (48, 60),
            (34, 70),
            (39, 54),
            (26, 44),
            (42, 44),
        ],
        fill=(220, 0, 0, 255),
    )
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def maker_ec():
    key = ec.generate_private_key(ec.SECP256R1())
    return SoftwareKey("seal-maker", key), _self_signed(key, "印信制章者")


@pytest.fixture(scope="module")
def signer_cert() -> bytes:
    return _self_signed(ec.generate_private_key(ec.SECP256R1()), "合同专用章签章者")


@pytest.fixture(scope="module")
def info(signer_cert) -> SealInfo:
    return SealInfo(
        es_id="11010800000000012025000001",
        seal_type=SEAL_TYPE_ORGANIZATION,
        name=SEAL_NAME,
        cert_list=[signer_cert],
        create_date=NOW,
        valid_start=NOW,
        valid_end=NOW + timedelta(days=3 * 365),
        picture_type="PNG",
        picture_data=_png(),
        width_mm=40,
        height_mm=40,
    )


@pytest.fixture(scope="module")
def seal_der(info, maker_ec) -> bytes:
    key, cert = maker_ec
    return build_seseal(info, key, cert)


def _flip(der: bytes, needle: bytes, offset: int = 0) -> bytes:
    at = der.index(needle) + offset
    assert der.count(needle) == 1
    return der[:at] + bytes([der[at] ^ 0x01]) + der[at + 1 :]


def test_parse_gives_back_the_values(seal_der, info, maker_ec):
    parsed = parse_seseal(seal_der)
    assert parsed.info == info
    assert parsed.maker_cert_der == maker_ec[1]
    assert parsed.sign_alg_oid == OID_ECDSA_SHA256
    assert parsed.cert_list_type == 1
    assert parsed.ext_datas == ()


def test_der_round_trip_is_byte_exact(seal_der):
    assert SESeal.load(seal_der).dump() == seal_der
    assert SESeal.load(seal_der).dump(force=True) == seal_der


def test_signed_bytes_are_the_der_of_eSealInfo_only(seal_der):
    parsed = parse_seseal(seal_der)
    seal = SESeal.load(seal_der)
    assert parsed.signed_bytes == seal["e_seal_info"].dump()
    # eSealInfo is the first element of the outer SEQUENCE, verbatim.
    header_len = 2 + (seal_der[1] & 0x7F if seal_der[1] & 0x80 else 0)
    assert seal_der[header_len : header_len + len(parsed.signed_bytes)] == parsed.signed_bytes


def test_verify_ok_and_pinned(seal_der, maker_ec, info):
    parsed = verify_seseal(seal_der)
    assert parsed.info == info
    verify_seseal(seal_der, trusted_maker_certs=[maker_ec[1]], at=NOW + timedelta(days=10))


def test_signature_checks_with_cryptography_directly(seal_der):
    parsed = parse_seseal(seal_der)
    cert = x509.load_der_x509_certificate(parsed.maker_cert_der)
    cert.public_key().verify(parsed.signature, parsed.signed_bytes, ec.ECDSA(hashes.SHA256()))


def test_tampered_picture_fails(seal_der, info):
    bad = _flip(seal_der, info.picture_data[40:72])
    with pytest.raises(ValidationError) as err:
        verify_seseal(bad)
    assert err.value.field == "seseal"


def test_tampered_name_fails(seal_der):
    bad = _flip(seal_der, SEAL_NAME.encode("utf-8"), offset=3)
    assert parse_seseal(bad).info.name != SEAL_NAME
    with pytest.raises(ValidationError) as err:
        verify_seseal(bad)
    assert err.value.field == "seseal"


def test_tampered_signature_fails(seal_der):
    sig = parse_seseal(seal_der).signature
    bad = _flip(seal_der, sig, offset=len(sig) // 2)
    with pytest.raises(ValidationError) as err:
        verify_seseal(bad)
    assert err.value.field == "seseal"


def test_untrusted_maker_is_refused(seal_der):
    other = _self_signed(ec.generate_private_key(ec.SECP256R1()), "别的制章者")
    with pytest.raises(ValidationError, match="trusted"):
        verify_seseal(seal_der, trusted_maker_certs=[other])


def test_outside_validity_is_refused(seal_der):
    with pytest.raises(ValidationError, match="validity"):
        verify_seseal(seal_der, at=NOW + timedelta(days=4 * 365))


@pytest.mark.parametrize(
    "der",
    [b"", b"\x30\x00", b"\x04\x03abc", b"not asn.1 at all"],
)
def test_malformed_is_a_validation_error(der):
    with pytest.raises(ValidationError) as err:
        verify_seseal(der)
    assert err.value.field == "seseal"


def test_trailing_garbage_is_refused(seal_der):
    with pytest.raises(ValidationError):
        parse_seseal(seal_der + b"\x00")


def test_rsa_3072_maker(info):
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    cert = _self_signed(key, "印信制章者 RSA")
    der = build_seseal(info, SoftwareKey("seal-maker-rsa", key), cert)
    parsed = verify_seseal(der, trusted_maker_certs=[cert])
    assert parsed.sign_alg_oid == OID_RSA_SHA256
    assert parsed.info == info
    key.public_key().verify(
        parsed.signature, parsed.signed_bytes, padding.PKCS1v15(), hashes.SHA256()
    )


def test_maker_cert_must_match_the_key(info, maker_ec):
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ValidationError) as err:
        build_seseal(info, SoftwareKey("other", other), maker_ec[1])
    assert err.value.field == "maker_cert"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"es_id": "印章1"}, "es_id"),
        ({"cert_list": []}, "cert_list"),
        ({"cert_list": [b"junk"]}, "cert_list"),
        ({"valid_end": NOW - timedelta(days=1)}, "valid_end"),
        ({"create_date": NOW.replace(tzinfo=None)}, "create_date"),
        ({"create_date": NOW.replace(microsecond=5)}, "create_date"),
        ({"width_mm": 0}, "width_mm"),
        ({"picture_data": b""}, "picture_data"),
    ],
)
def test_bad_input_names_the_field(info, maker_ec, change, field):
    values = {**info.__dict__, **change}
    with pytest.raises(ValidationError) as err:
        build_seseal(SealInfo(**values), *maker_ec)
    assert err.value.field == field


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_asn1parse_sees_the_standard_structure(seal_der, info, maker_ec):
    out = subprocess.run(
        ["openssl", "asn1parse", "-inform", "DER"],
        input=seal_der,
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8")
    line = re.compile(
        r"^\s*\d+:d=(?P<depth>\d+)\s+hl=\d+\s+l=\s*\d+\s+(?:prim|cons):\s*"
        r"(?P<type>[A-Z0-9 ]+?)\s*(?:\[HEX DUMP\])?(?::(?P<value>.*))?$"
    )
    seen = []
    for text in out.splitlines():
        m = line.match(text)
        assert m, text
        seen.append((int(m["depth"]), m["type"], m["value"] or ""))

    def hexdump(data: bytes) -> str:
        return data.hex().upper()

    assert seen == [
        (0, "SEQUENCE", ""),  # SESeal
        (1, "SEQUENCE", ""),  # eSealInfo
        (2, "SEQUENCE", ""),  # header
        (3, "IA5STRING", "ES"),
        (3, "INTEGER", "04"),
        (3, "IA5STRING", "yinxin"),
        (2, "IA5STRING", info.es_id),  # esID
        (2, "SEQUENCE", ""),  # property
        (3, "INTEGER", "01"),  # type: organization
        (3, "UTF8STRING", SEAL_NAME),
        (3, "INTEGER", "01"),  # certListType: certificates
        (3, "SEQUENCE", ""),  # certList
        (4, "OCTET STRING", hexdump(info.cert_list[0])),
        (3, "GENERALIZEDTIME", "20250301083000Z"),
        (3, "GENERALIZEDTIME", "20250301083000Z"),
        (3, "GENERALIZEDTIME", "20280229083000Z"),
        (2, "SEQUENCE", ""),  # picture
        (3, "IA5STRING", "PNG"),
        (3, "OCTET STRING", hexdump(info.picture_data)),
        (3, "INTEGER", "28"),  # 40 mm
        (3, "INTEGER", "28"),
        (1, "OCTET STRING", hexdump(maker_ec[1])),  # cert
        (1, "OBJECT", "ecdsa-with-SHA256"),  # signAlgID
        (1, "BIT STRING", ""),  # signedValue
    ]


def _resign(seal_info, key, cert: bytes, alg: str = OID_ECDSA_SHA256) -> bytes:
    """A record made outside build_seseal, as another vendor's tool might make it."""
    signature = key.sign(seal_info.dump(), ec.ECDSA(hashes.SHA256()))
    return SESeal(
        {"e_seal_info": seal_info, "cert": cert, "sign_alg_id": alg, "signed_value": signature}
    ).dump()


def test_cert_digest_list_and_ext_datas_are_read(seal_der, maker_ec, signer_cert):
    key = maker_ec[0].native
    seal_info = SESeal.load(seal_der)["e_seal_info"].copy()
    digest = hashlib.sha256(signer_cert).digest()
    prop = seal_info["property"]
    prop["cert_list_type"] = 2
    prop["cert_list"] = CertDigestList([{"type": "SHA256", "value": digest}])
    seal_info["ext_datas"] = ExtensionDatas(
        [{"extn_id": "1.2.3.4", "critical": True, "extn_value": b"x"}]
    )
    der = _resign(SESSealInfo.load(seal_info.dump(force=True)), key, maker_ec[1])
    parsed = verify_seseal(der, trusted_maker_certs=[maker_ec[1]])
    assert parsed.cert_list_type == 2
    assert parsed.cert_digests == (("SHA256", digest),)
    assert parsed.info.cert_list == []
    assert parsed.ext_datas == (ExtDataValue("1.2.3.4", True, b"x"),)


def test_sm2_oid_over_an_ecdsa_maker_is_refused(seal_der, maker_ec):
    seal_info = SESeal.load(seal_der)["e_seal_info"]
    der = _resign(seal_info, maker_ec[0].native, maker_ec[1], alg=OID_SM2_SM3)
    assert parse_seseal(der).sign_alg_oid == OID_SM2_SM3
    with pytest.raises(ValidationError, match="SM2"):
        verify_seseal(der)


def test_ber_encoding_is_refused(seal_der):
    # same content, outer SEQUENCE re-framed with an indefinite length (BER, not DER)
    assert seal_der[:2] == b"\x30\x82"
    ber = b"\x30\x80" + seal_der[4:] + b"\x00\x00"
    with pytest.raises(ValidationError, match="DER"):
        parse_seseal(ber)


def test_wrong_version_is_refused(seal_der, maker_ec):
    seal_info = SESeal.load(seal_der)["e_seal_info"].copy()
    seal_info["header"]["version"] = 1
    der = _resign(SESSealInfo.load(seal_info.dump(force=True)), maker_ec[0].native, maker_ec[1])
    with pytest.raises(ValidationError, match="v4"):
        parse_seseal(der)
