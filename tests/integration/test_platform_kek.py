"""Issue 9 item 5: a copy of ``yinxin.db`` alone gives up no platform-held key, whatever the PIN.

Platform-held keys are sealed under the holder's PIN (scrypt) *and* encrypted under the
platform's key-encryption key (KEK), which lives in the key store (an encrypted file under the CA
passphrase, or an AES key inside the PKCS#11 token), never in the database. Data files are
private to the platform's user.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import uuid
from pathlib import Path

import pytest
from pkcs11 import Attribute
from sqlalchemy import select

from tests.conftest import PASSPHRASE
from tests.integration.test_seals import PIN_ZHANG, key_row, personal_seal, world
from tests.softhsm import SoftHsmToken, softhsm_token  # noqa: F401
from yinxin.app import Platform
from yinxin.errors import ConfigurationError, Forbidden, YinxinError
from yinxin.pki.kek import KEK_LABEL, PlatformKek
from yinxin.pki.keys import FileKeyStore
from yinxin.pki.pinkeys import is_wrapped, open_private_key, seal_private_key
from yinxin.pki.pkcs11_store import Pkcs11KeyStore
from yinxin.settings import Settings
from yinxin.store.models import AuditEvent, Certificate, PlatformKey
from yinxin.store.models.webhooks import WebhookSubscription


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def copy_database(p: Platform, to: Path) -> None:
    """What a thief gets: a consistent copy of the database file, nothing else."""
    to.mkdir(parents=True)
    src = sqlite3.connect(p.settings.home / "yinxin.db")
    dst = sqlite3.connect(to / "yinxin.db")
    src.backup(dst)
    src.close()
    dst.close()


def label_of(p: Platform, serial: str) -> str:
    with p.db.read() as s:
        return s.execute(
            select(PlatformKey.label)
            .join(Certificate, Certificate.platform_key_id == PlatformKey.id)
            .where(Certificate.serial_hex == serial)
        ).scalar_one()


def test_a_copied_database_and_the_right_pin_open_no_key(platform, make_platform, tmp_path):
    p = platform
    w = world(p)
    seal = personal_seal(w)
    _, _, blob = key_row(p, w.zhang_cert.serial)
    label = label_of(p, w.zhang_cert.serial)
    assert is_wrapped(blob)
    # the PIN alone opens nothing: the blob is encrypted under the KEK too
    with pytest.raises(ConfigurationError) as e:
        open_private_key(blob, PIN_ZHANG, label)
    assert e.value.field == "keystore"

    thief_home = tmp_path / "thief"
    copy_database(p, thief_home)
    # a platform on the copy has no key store of the original: no KEK, no key, no count
    thief = make_platform(home=thief_home, init=False, passphrase="the thief's passphrase")
    with pytest.raises(ConfigurationError):
        thief.seals.unlock_for_signing(seal.es_id, PIN_ZHANG)
    # nor does it make a KEK of its own: the database holds secrets wrapped under one
    with pytest.raises(ConfigurationError) as e:
        thief.kek.encrypt(b"anything", b"context")
    assert e.value.code == "kek_missing"
    assert not (thief_home / "keys" / f"{KEK_LABEL}.kek").exists()
    # and one made all the same (the key store asked directly) does not open it either
    PlatformKek(thief.keystore).ready()
    with pytest.raises(ConfigurationError) as e:
        thief.seals.unlock_for_signing(seal.es_id, PIN_ZHANG)
    assert "key-encryption key" in e.value.message
    assert key_row(thief, w.zhang_cert.serial)[0] == 0  # never counted as a wrong PIN
    # the copied keys directory without the CA passphrase is no better
    (thief_home / "keys").mkdir(exist_ok=True)
    for f in (p.settings.home / "keys").glob(f"{KEK_LABEL}*"):
        (thief_home / "keys" / f.name).write_bytes(f.read_bytes())
    guess = make_platform(home=thief_home, init=False, passphrase="still the wrong one")
    with pytest.raises(Forbidden) as e:
        guess.seals.unlock_for_signing(seal.es_id, PIN_ZHANG)
    assert e.value.code == "bad_passphrase"

    # the platform itself, with its key store, still opens it with the PIN
    unlocked = p.seals.unlock_for_signing(seal.es_id, PIN_ZHANG)
    assert unlocked.key.public_key() is not None
    assert open_private_key(blob, PIN_ZHANG, label, kek=p.kek).native is not None


def test_nothing_new_is_sealed_under_a_kek_the_database_was_not_made_with(
    platform, make_platform, tmp_path
):
    """Only opening a stored blob checked the KEK: with another installation's
    ``keys/platform-kek.kek`` in place, a new platform-held key (or any new secret) was sealed
    under it, so the database ended up with blobs under two KEKs. Now sealing is refused
    ``kek_mismatch`` (nothing written) when the KEK opens none of the database's secrets (here
    platform-held keys alone); the check is made once per process after it succeeds, and a
    database with nothing wrapped yet takes any KEK."""
    p = platform
    w = world(p)
    home = tmp_path / "moved"
    copy_database(p, home)
    moved = make_platform(home=home, init=False)
    PlatformKek(moved.keystore).ready()  # another installation's KEK in its keys directory
    with p.db.read() as s:
        keys_before = s.execute(select(PlatformKey.label).order_by(PlatformKey.id)).all()
    with pytest.raises(ConfigurationError) as e:
        moved.kek.encrypt(b"anything", b"context")
    assert e.value.code == "kek_mismatch" and e.value.field == "keystore"
    assert "restore the keys directory" in e.value.message
    for seal_new in (
        lambda: moved.certificates.apply(
            subscriber_id=w.li.id, profile="person-signing", pin="Li-pin-830417"
        ),
        lambda: moved.webhooks.subscribe("https://hooks.example.com/a", ["*"], None, "test"),
    ):
        with pytest.raises(ConfigurationError) as e:
            seal_new()
        assert e.value.code == "kek_mismatch"
    with moved.db.read() as s:
        assert s.execute(select(PlatformKey.label).order_by(PlatformKey.id)).all() == keys_before
        assert s.execute(select(WebhookSubscription.id)).first() is None

    # the right KEK: asked of the database once, then never again in this process
    asked = []
    opens = p.recrypt.kek_opens_database
    kek = PlatformKek(p.keystore, opens_database=lambda: asked.append(1) or opens())
    for _ in range(3):
        kek.decrypt(kek.encrypt(b"x", b"context"), b"context")
    assert asked == [1]
    # a fresh database, nothing wrapped yet: any KEK seals (and the first blob is then its)
    fresh = make_platform()
    assert fresh.recrypt.kek_opens_database() is None
    fresh.webhooks.subscribe("https://hooks.example.com/a", ["*"], None, "test")
    assert fresh.recrypt.kek_opens_database() is True


def test_keys_sealed_before_the_kek_keep_working_and_can_be_wrapped(platform):
    p = platform
    w = world(p)
    seal = personal_seal(w)
    label = label_of(p, w.zhang_cert.serial)
    inner = open_private_key(key_row(p, w.zhang_cert.serial)[2], PIN_ZHANG, label, kek=p.kek)
    legacy = seal_private_key(inner.native, PIN_ZHANG, label)  # the format without a KEK
    assert not is_wrapped(legacy)
    with p.db.transaction() as s:
        s.execute(
            select(PlatformKey).where(PlatformKey.label == label)
        ).scalar_one().sealed_key = legacy
    assert p.seals.unlock_for_signing(seal.es_id, PIN_ZHANG)  # old format still opens
    assert p.certificates.wrap_legacy_keys(actor="operator").wrapped == [label]
    blob = key_row(p, w.zhang_cert.serial)[2]
    assert is_wrapped(blob)
    assert p.seals.unlock_for_signing(seal.es_id, PIN_ZHANG)
    assert p.certificates.wrap_legacy_keys(actor="operator").wrapped == []
    assert p.verify_audit().ok
    # on the KEK it was wrapped under (its label the subject id), as data.recrypted is: it was
    # recorded as on a platform_key, so 审计日志 said 平台托管密钥 <the KEK's label>
    with p.db.transaction() as s:
        ev = s.execute(
            select(AuditEvent).where(AuditEvent.action == "platform_keys.wrapped")
        ).scalar_one()
        assert (ev.subject_type, ev.subject_id) == ("platform_kek", p.kek.label)


def test_data_files_are_private(tmp_path, clock):
    home = tmp_path / "fresh"
    old = os.umask(0o022)
    try:
        p = Platform(
            Settings(home=home, database_url=f"sqlite:///{home / 'yinxin.db'}"),
            clock=clock,
            passphrase=PASSPHRASE,
        )
        p.ca.init("ec-p256")
        p.kek.encrypt(b"x", b"y")
        assert mode(home) == 0o700
        assert mode(home / "keys") == 0o700
        files = [home / "yinxin.db", home / "yinxin.db-wal", home / "yinxin.db-shm"]
        assert all(f.exists() for f in files)
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert {mode(f) for f in (home / "keys").iterdir()} == {0o600}
        p.close()
        # a database left readable by others (made by an older version) is tightened
        os.chmod(home / "yinxin.db", 0o644)
        p = Platform(
            Settings(home=home, database_url=f"sqlite:///{home / 'yinxin.db'}"),
            clock=clock,
            passphrase=PASSPHRASE,
        )
        assert mode(home / "yinxin.db") == 0o600
        p.close()
    finally:
        os.umask(old)


def test_the_file_kek_is_one_key_under_the_passphrase(tmp_path):
    keys = tmp_path / "keys"
    a = PlatformKek(lambda: FileKeyStore(keys, PASSPHRASE))
    blob = a.encrypt(b"secret", b"label")
    b = PlatformKek(lambda: FileKeyStore(keys, PASSPHRASE))  # another process, same store
    assert b.decrypt(blob, b"label") == b"secret"
    with pytest.raises(ConfigurationError):
        b.decrypt(blob, b"another label")  # bound to its label
    with pytest.raises(Forbidden):
        PlatformKek(lambda: FileKeyStore(keys, "not the passphrase")).decrypt(blob, b"label")
    assert PASSPHRASE.encode() not in (keys / f"{KEK_LABEL}.kek").read_bytes()


def test_the_pkcs11_kek_is_a_non_extractable_aes_key_in_the_token(
    softhsm_token: SoftHsmToken,
) -> None:
    label = f"kek-{uuid.uuid4().hex[:10]}"
    with Pkcs11KeyStore(*softhsm_token) as store:
        kek = PlatformKek(lambda: store, label=label)
        blob = kek.encrypt(b"sealed key bytes", b"sub-1-abc")
        obj = store.secret_object(label)
        assert obj[Attribute.SENSITIVE] and not obj[Attribute.EXTRACTABLE]
        assert obj[Attribute.VALUE_LEN] == 32
        sealed = seal_private_key(
            open_private_key(
                seal_private_key(_ec_key(), "135790", "sub-1-abc"), "135790", "sub-1-abc"
            ).native,
            "135790",
            "sub-1-abc",
            kek=kek,
        )
        assert is_wrapped(sealed)
    with Pkcs11KeyStore(*softhsm_token) as again:  # a new session finds the same key
        kek2 = PlatformKek(lambda: again, label=label)
        assert kek2.decrypt(blob, b"sub-1-abc") == b"sealed key bytes"
        assert open_private_key(sealed, "135790", "sub-1-abc", kek=kek2).native is not None
        with pytest.raises(YinxinError):
            PlatformKek(lambda: again, label=label + "-other").decrypt(blob, b"sub-1-abc")


def _ec_key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())
