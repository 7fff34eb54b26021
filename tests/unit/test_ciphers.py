"""The data-at-rest ciphers (``yinxin.pki.ciphers``, issue 15 §4): known-answer vectors from the
standards, and each construction checked against an implementation nobody here wrote (the
``openssl`` command line: ``enc -sm4-cbc``, ``enc -sm4-ctr``, ``dgst -sm3 -mac HMAC``, ``kdf``).
"""

from __future__ import annotations

import os
import struct
import subprocess

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from yinxin.errors import ConfigurationError
from yinxin.pki import ciphers
from yinxin.pki.ciphers import (
    AES_256_GCM,
    CIPHERS,
    SM4_CBC_HMAC_SM3,
    SM4_GCM,
    derive_from_pin,
    get_cipher,
    sm3_kdf,
)
from yinxin.settings import Settings


def openssl(*args: str, data: bytes = b"") -> bytes:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def openssl_hex(*args: str) -> bytes:
    """The output of ``openssl kdf`` (hex with colons) as bytes."""
    return bytes.fromhex(openssl(*args).decode().strip().replace(":", ""))


# --- the primitives, by the standards' own examples ---------------------------------------------
def test_sm4_block_gb_t_32907_appendix_a() -> None:
    """GB/T 32907-2016 appendix A.1: key = plaintext = 0123456789abcdeffedcba9876543210."""
    k = bytes.fromhex("0123456789abcdeffedcba9876543210")
    enc = Cipher(algorithms.SM4(k), modes.ECB()).encryptor()
    assert (enc.update(k) + enc.finalize()).hex() == "681edf34d206965e86b3e94f536e4246"
    # and the openssl command line agrees
    assert openssl("enc", "-sm4-ecb", "-nopad", "-K", k.hex(), data=k).hex() == (
        "681edf34d206965e86b3e94f536e4246"
    )


def test_sm3_gb_t_32905_examples() -> None:
    """GB/T 32905-2016 appendix A: "abc" and "abcd" × 16."""
    for message, digest in (
        (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
        (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
    ):
        h = hashes.Hash(hashes.SM3())
        h.update(message)
        assert h.finalize().hex() == digest


def test_hmac_sm3_matches_openssl() -> None:
    key, message = os.urandom(32), os.urandom(100)
    h = hmac.HMAC(key, hashes.SM3())
    h.update(message)
    theirs = openssl("dgst", "-sm3", "-mac", "HMAC", "-macopt", f"hexkey:{key.hex()}", data=message)
    assert theirs.decode().split("= ")[1].strip() == h.finalize().hex()


def test_sm4_gcm_rfc_8998_vector() -> None:
    """RFC 8998 appendix A.1 (SM4-GCM): our cipher opens the published ciphertext and tag."""
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    nonce = bytes.fromhex("00001234567800000000ABCD")
    aad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    plaintext = bytes.fromhex(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
        "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
    )
    ct = bytes.fromhex(
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
    )
    tag = bytes.fromhex("83DE3541E4C2B58177E065A9BF7B62EC")
    sm4_gcm = CIPHERS[SM4_GCM]
    assert sm4_gcm.decrypt(key, nonce + ct + tag, aad) == plaintext
    with pytest.raises(InvalidTag):
        sm4_gcm.decrypt(key, nonce + ct + bytes([tag[0] ^ 1]) + tag[1:], aad)


# --- our constructions, against openssl --------------------------------------------------------
def _ghash(h: bytes, aad: bytes, ct: bytes) -> bytes:
    """GHASH of NIST SP 800-38D §6.4, written out here (not cryptography's)."""
    r = 0xE1 << 120
    hk = int.from_bytes(h, "big")

    def mul(x: int) -> int:
        z, v = 0, hk
        for i in range(127, -1, -1):
            if (x >> i) & 1:
                z ^= v
            v = (v >> 1) ^ r if v & 1 else v >> 1
        return z

    def blocks(data: bytes) -> list[bytes]:
        data += b"\0" * (-len(data) % 16)
        return [data[i : i + 16] for i in range(0, len(data), 16)]

    y = 0
    for b in [*blocks(aad), *blocks(ct), struct.pack(">QQ", len(aad) * 8, len(ct) * 8)]:
        y = mul(y ^ int.from_bytes(b, "big"))
    return y.to_bytes(16, "big")


def test_sm4_gcm_blob_matches_openssl_ctr_and_ghash() -> None:
    """SM4-GCM rebuilt from openssl's SM4 (ECB for H and the tag mask, CTR for the data) and
    a GHASH written here: our blob's ciphertext and tag are exactly GCM's."""
    key, plaintext, aad = os.urandom(16), os.urandom(77), b"yinxin-test:aad"
    blob = ciphers.seal(SM4_GCM, key, plaintext, aad)
    header, nonce, body = blob[:5], blob[5:17], blob[17:]
    ct, tag = body[:-16], body[-16:]
    assert header == b"YXE1\x02"
    h = openssl("enc", "-sm4-ecb", "-nopad", "-K", key.hex(), data=b"\0" * 16)
    j0 = nonce + b"\0\0\0\1"
    counter2 = nonce + b"\0\0\0\2"
    assert openssl("enc", "-sm4-ctr", "-K", key.hex(), "-iv", counter2.hex(), data=plaintext) == ct
    mask = openssl("enc", "-sm4-ecb", "-nopad", "-K", key.hex(), data=j0)
    expected = bytes(a ^ b for a, b in zip(_ghash(h, header + aad, ct), mask, strict=True))
    assert tag == expected


def test_sm4_cbc_hmac_sm3_matches_openssl() -> None:
    """openssl decrypts our SM4-CBC ciphertext and computes the same HMAC-SM3 tag over
    length(aad) || aad || iv || ciphertext, where aad starts with the blob's header."""
    key, plaintext, aad = os.urandom(48), os.urandom(50), b"yinxin-test:aad"
    blob = ciphers.seal(SM4_CBC_HMAC_SM3, key, plaintext, aad)
    header, iv, ct, tag = blob[:5], blob[5:21], blob[21:-32], blob[-32:]
    assert header == b"YXE1\x03" and len(ct) == 64  # 50 bytes padded to 4 blocks
    assert openssl("enc", "-d", "-sm4-cbc", "-K", key[:16].hex(), "-iv", iv.hex(), data=ct) == (
        plaintext
    )
    full_aad = header + aad
    mac_input = struct.pack(">Q", len(full_aad)) + full_aad + iv + ct
    theirs = openssl(
        "dgst", "-sm3", "-mac", "HMAC", "-macopt", f"hexkey:{key[16:].hex()}", data=mac_input
    )
    assert theirs.decode().split("= ")[1].strip() == tag.hex()


def test_sm3_kdf_matches_openssl_x963kdf() -> None:
    secret, info = os.urandom(32), b"yinxin-kek:platform-kek:sm4-gcm"
    for length in (16, 48, 100):
        theirs = openssl_hex(
            "kdf",
            "-keylen",
            str(length),
            "-kdfopt",
            "digest:SM3",
            "-kdfopt",
            f"hexsecret:{secret.hex()}",
            "-kdfopt",
            f"hexinfo:{info.hex()}",
            "X963KDF",
        )
        assert sm3_kdf(secret, length, info) == theirs
    # the GM/T 0003 form (no info): SM3(Z || 00000001) for the first 32 bytes
    h = hashes.Hash(hashes.SM3())
    h.update(secret + b"\0\0\0\1")
    assert sm3_kdf(secret, 32) == h.finalize()
    assert sm3_kdf(secret, 16, b"a") != sm3_kdf(secret, 16, b"b")


def test_pin_kdf_pbkdf2_sm3_matches_openssl() -> None:
    salt = os.urandom(16)
    ours = derive_from_pin("246810", salt, {"kdf": "pbkdf2-sm3", "iterations": 1000}, 16)
    theirs = openssl_hex(
        "kdf",
        "-keylen",
        "16",
        "-kdfopt",
        "digest:SM3",
        "-kdfopt",
        "pass:246810",
        "-kdfopt",
        f"hexsalt:{salt.hex()}",
        "-kdfopt",
        "iter:1000",
        "PBKDF2",
    )
    assert ours == theirs


# --- the envelope -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CIPHERS))
def test_every_cipher_round_trips_and_refuses_any_change(name: str) -> None:
    c = get_cipher(name)
    key, aad = os.urandom(c.key_length), b"record-7"
    blob = ciphers.seal(c, key, b"a secret worth keeping", aad)
    assert ciphers.cipher_of(blob) is c
    assert ciphers.unseal(c, key, blob, aad) == b"a secret worth keeping"
    for i in range(len(blob)):  # every single flipped byte, header included
        changed = bytearray(blob)
        changed[i] ^= 0x01
        other = ciphers.cipher_of(bytes(changed))
        with pytest.raises((InvalidTag, ValueError)):
            ciphers.unseal(other or c, key, bytes(changed), aad)
    with pytest.raises(InvalidTag):
        ciphers.unseal(c, key, blob, b"record-8")  # moved onto another record
    with pytest.raises(InvalidTag):
        ciphers.unseal(c, os.urandom(c.key_length), blob, aad)  # another key
    with pytest.raises(InvalidTag):
        ciphers.unseal(c, key, blob[:-1], aad)  # cut short


def test_a_header_swapped_to_another_cipher_does_not_open() -> None:
    """Both SM4 ciphers take 16-byte SM4 keys: relabelling a GCM blob as CBC must not help."""
    key = os.urandom(48)
    blob = ciphers.seal(SM4_CBC_HMAC_SM3, key, b"x" * 40, b"")
    relabelled = blob[:4] + bytes([CIPHERS[SM4_GCM].code]) + blob[5:]
    with pytest.raises(InvalidTag):
        ciphers.unseal(CIPHERS[SM4_GCM], key[:16], relabelled, b"")


def test_blobs_without_a_header_are_not_mistaken_for_one() -> None:
    assert ciphers.cipher_of(b"\x8f" * 12 + b"x" * 30) is None  # an old blob: nonce first
    assert ciphers.cipher_of(b"YXE1\x09" + b"x" * 30) is None  # an unknown code
    assert ciphers.cipher_of(b"YXE1") is None


def test_unknown_cipher_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigurationError) as e:
        get_cipher("sm4-ecb")
    assert e.value.field == "YINXIN_DATA_CIPHER" and e.value.code == "unknown_cipher"
    assert get_cipher(" SM4-GCM ").name == SM4_GCM


def test_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("YINXIN_DATA_CIPHER", raising=False)
    assert Settings.from_env(home=tmp_path).data_cipher == AES_256_GCM
    monkeypatch.setenv("YINXIN_DATA_CIPHER", "SM4-CBC-HMAC-SM3")
    assert Settings.from_env(home=tmp_path).data_cipher == SM4_CBC_HMAC_SM3
    monkeypatch.setenv("YINXIN_DATA_CIPHER", "des")
    with pytest.raises(ConfigurationError) as e:
        Settings.from_env(home=tmp_path)
    assert e.value.field == "YINXIN_DATA_CIPHER"


def test_pin_kdf_parameters_from_a_changed_header_are_bounded() -> None:
    """A stored header is data: absurd parameters are refused, not run for hours."""
    for params in (
        {"kdf": "pbkdf2-sm3", "iterations": 10**9},
        {"kdf": "pbkdf2-sm3", "iterations": 1},
        {"kdf": "scrypt", "n": 2**30, "r": 8, "p": 1},
        {"kdf": "argon9"},
    ):
        with pytest.raises(ValueError):
            derive_from_pin("246810", b"s" * 16, params, 16)


def test_settings_name_exactly_the_ciphers_there_are() -> None:
    # settings (core layer) validates YINXIN_DATA_CIPHER against its own list, without importing
    # pki: the two lists must not drift apart
    from yinxin import settings

    assert tuple(ciphers.CIPHERS) == settings.DATA_CIPHERS
