"""Issue 15 §4: a platform that keeps its secrets under SM4, and ``yinxin keys recrypt``.

A platform with ``YINXIN_DATA_CIPHER=sm4-gcm`` issues platform-held keys under a PIN, signs a PDF
with one (checked by the platform's verifier), and keeps webhook, staff TOTP and authorization
secrets under SM4. ``keys recrypt`` moves everything to AES and back without losing a secret
(each is compared with what it was); the PIN layer follows at the key's next signature. Wrong
PINs, changed blobs and a recrypt that meets a blob it cannot open are refused, the last with
the database, files and audit trail unchanged. Blobs written before ciphers were named (the
formats of the previous release, rebuilt here byte for byte) still open and are recrypted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import struct
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import PASSPHRASE
from tests.fixtures.samples import contract_pdf
from tests.integration.signing_flow import World, build_world, sign_as
from tests.integration.test_seals import refused
from tests.softhsm import SoftHsmToken, softhsm_token  # noqa: F401
from yinxin.access.staff import _aad as staff_aad
from yinxin.adapters.cli import app as cli
from yinxin.app import Platform
from yinxin.clock import FrozenClock
from yinxin.errors import ConfigurationError, Forbidden, NotFound, ValidationError
from yinxin.notify.webhooks import _aad as webhook_aad
from yinxin.pki import pinkeys
from yinxin.pki.authkeys import open_for_authorization
from yinxin.pki.ciphers import AES_256_GCM, SM4_CBC_HMAC_SM3, SM4_GCM
from yinxin.pki.kek import PlatformKek
from yinxin.pki.keys import FileKeyStore
from yinxin.pki.pkcs11_store import Pkcs11KeyStore
from yinxin.recrypt import KINDS
from yinxin.settings import Settings
from yinxin.store.models import AuditEvent, PlatformKey
from yinxin.store.models.access import StaffUser
from yinxin.store.models.authorizations import SigningAuthorization
from yinxin.store.models.webhooks import WebhookSubscription


def sm4_platform(
    home: Path, clock: FrozenClock, cipher: str = SM4_GCM, url: str | None = None
) -> Platform:
    url = url or f"sqlite:///{home / 'yinxin.db'}"
    return Platform(
        Settings(home=home, database_url=url, data_cipher=cipher),
        clock=clock,
        passphrase=PASSPHRASE,
    )


def same_home(p: Platform, clock: FrozenClock, cipher: str) -> Platform:
    """The same installation restarted with another ``YINXIN_DATA_CIPHER``."""
    return sm4_platform(p.settings.home, clock, cipher, p.settings.database_url)


def keys(p: Platform) -> dict[str, bytes]:
    with p.db.read() as s:
        return {k.label: bytes(k.sealed_key) for k in s.execute(select(PlatformKey)).scalars()}


def label_of(p: Platform, subscriber_id: int) -> str:
    with p.db.read() as s:
        return s.execute(
            select(PlatformKey.label).where(PlatformKey.subscriber_id == subscriber_id)
        ).scalar_one()


def pin_layers(p: Platform) -> dict[str, str]:
    """Each platform key's PIN-layer cipher, by label."""
    return {lab: pinkeys.layers(b, lab, p.kek)[1] for lab, b in keys(p).items()}


def secrets_in_clear(p: Platform) -> dict[str, object]:
    """Every sealed secret opened (with the KEK; platform keys by their public key, since their
    PIN layer needs the PIN): what must survive every recrypt unchanged."""
    out: dict[str, object] = {}
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with p.db.read() as s:
        for k in s.execute(select(PlatformKey)).scalars():
            out[k.label] = bytes(k.public_key_der)
        for w in s.execute(select(WebhookSubscription)).scalars():
            out[f"webhook-{w.id}"] = p.kek.decrypt(w.secret_wrapped, webhook_aad(w.id))
        for u in s.execute(select(StaffUser)).scalars():
            out[f"staff-{u.username}"] = p.kek.decrypt(
                u.totp_secret_encrypted, staff_aad(u.username)
            )
        for a in s.execute(select(SigningAuthorization)).scalars():
            key = open_for_authorization(a.wrapped_key, f"authorization-{a.id}", p.kek)
            out[f"authorization-{a.id}"] = key.public_key().public_bytes(*fmt)
    return out


def populate(w: World, clock: FrozenClock) -> dict[str, str]:
    """A webhook, a staff account and an automatic-signing authorization on top of the
    world's two platform-held keys; returns the secrets as the platform handed them out."""
    p = w.p
    hook = p.webhooks.subscribe("https://hooks.example.com/yinxin", ["*"], None, "operator")
    staff = p.staff.add("chenjing", password="a long staff password", role="ra_officer", actor="op")
    totp = parse_qs(urlparse(staff.totp_uri).query)["secret"][0]
    p.authorizations.grant(
        w.jia.seal.es_id,
        pin=w.jia.pin,
        granted_by_subscriber_id=w.member.id,
        max_documents=5,
        valid_until=clock.now() + dt.timedelta(days=30),
        counterparties=[w.person.id],
        actor="王五（管理员）",
    )
    return {"webhook": hook.secret, "totp": totp}


def kek_file(p: Platform) -> bytes:
    return (p.settings.keys_dir / "platform-kek.kek").read_bytes()


def audit_of(p: Platform, action: str) -> list[AuditEvent]:
    with p.db.read() as s:
        return list(s.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars())


def census(p: Platform) -> dict[str, dict[str, int]]:
    return p.recrypt.census().counts


def signed_and_verified(w: World) -> None:
    signed = sign_as(w, w.yi, contract_pdf())
    report = w.p.signing.verify(signed.pdf)
    assert report.valid, report.to_text()


def make_world(tmp_path: Path, clock: FrozenClock, url: str | None = None) -> World:
    p = sm4_platform(tmp_path / "home", clock, url=url)
    p.ca.init("ec-p256")
    return build_world(p, clock)


@pytest.fixture
def world(tmp_path: Path, clock: FrozenClock) -> World:
    return make_world(tmp_path, clock)


def test_a_platform_on_sm4_signs_and_recrypts_to_aes_and_back(
    world: World, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    w, p = world, world.p
    handed_out = populate(w, clock)
    # everything new is under SM4: the KEK layer, the PIN layer (PBKDF2-HMAC-SM3), the rest
    for label, blob in keys(p).items():
        assert pinkeys.layers(blob, label, p.kek) == (SM4_GCM, SM4_GCM)
        assert blob[7 + len(p.kek.label) :].startswith(b"YXE1\x02")
    assert census(p) == {
        "platform_key": {SM4_GCM: 2},
        "platform_key_pin": {SM4_GCM: 2},
        "authorization_key": {SM4_GCM: 1},
        "webhook_secret": {SM4_GCM: 1},
        "staff_totp": {SM4_GCM: 1},
        "kek_file": {SM4_GCM: 1},  # made under the SM4 setting: PBKDF2-HMAC-SM3 + SM4-GCM
    }
    assert kek_file(p).startswith(b"YXKEK2\x02")
    before = secrets_in_clear(p)
    assert before["webhook-1"] == handed_out["webhook"].encode()
    assert before["staff-chenjing"] == handed_out["totp"].encode()
    signed_and_verified(w)

    # to AES: the operator sets YINXIN_DATA_CIPHER=aes-256-gcm and recrypts
    aes = same_home(p, clock, AES_256_GCM)
    seen: list[tuple[str, str]] = []
    r = aes.recrypt.run(AES_256_GCM, progress=lambda kind, what, i, n: seen.append((kind, what)))
    assert r.recrypted == {
        "platform_key": 2,
        "authorization_key": 1,
        "webhook_secret": 1,
        "staff_totp": 1,
        "kek_file": 1,
    }
    assert kek_file(p).startswith(b"YXKEK2\x01")
    assert r.note is None
    assert sorted(r.pin_layer_pending) == sorted(keys(p))  # the PIN layer waits for the PIN
    assert [k for k, _ in seen] == [
        "platform_key",
        "platform_key",
        "authorization_key",
        "webhook_secret",
        "staff_totp",
        "done",
        "kek_file",
    ]
    assert census(aes)["platform_key"] == {AES_256_GCM: 2}
    assert census(aes)["platform_key_pin"] == {SM4_GCM: 2}
    assert secrets_in_clear(aes) == before  # nothing lost
    # the next signature re-seals that key's PIN layer too, once (the other key waits)
    person, org = label_of(p, w.person.id), label_of(p, w.org.id)
    signed_and_verified(World(**{**w.__dict__, "p": aes}))
    assert pin_layers(aes) == {person: AES_256_GCM, org: SM4_GCM}
    with aes.db.read() as s:
        resealed = (
            s.execute(select(AuditEvent).where(AuditEvent.action == "seal.key_resealed"))
            .scalars()
            .all()
        )
        assert [json.loads(e.data)["key"] for e in resealed] == [person]
    signed_and_verified(World(**{**w.__dict__, "p": aes}))  # once: nothing more to move
    assert len(audit_of(aes, "seal.key_resealed")) == 1
    # a wrong PIN is still refused, and counted, under the new cipher
    with pytest.raises(Forbidden) as e:
        aes.seals.unlock_for_signing(w.yi.seal.es_id, "000000")
    assert e.value.code == "wrong_pin"

    # and back to SM4, through the command line, progress shown (on a terminal)
    monkeypatch.setenv("YINXIN_DATA_CIPHER", SM4_GCM)
    monkeypatch.setenv("YINXIN_CA_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: standard error is a terminal
    runner = CliRunner()
    out = runner.invoke(
        cli, ["keys", "recrypt", "--cipher", SM4_GCM, "--home", str(p.settings.home)]
    )
    assert out.exit_code == 0, out.output
    assert "[1/5] platform key" in out.output and "[5/5] staff totp staff chenjing" in out.output
    assert "Recrypted 6 sealed secret(s) to sm4-gcm" in out.output
    back = same_home(p, clock, SM4_GCM)
    assert secrets_in_clear(back) == before
    counts = census(back)
    assert counts["platform_key"] == {SM4_GCM: 2} and counts["webhook_secret"] == {SM4_GCM: 1}
    # a second run finds nothing to do; off a terminal (a cron job) it draws no progress, one
    # line per secret in the job's mail, and keeps the summary
    monkeypatch.setenv("TTY_COMPATIBLE", "0")
    quiet = runner.invoke(
        cli, ["keys", "recrypt", "--cipher", SM4_GCM, "--home", str(p.settings.home)]
    )
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == "" and "[1/5]" not in quiet.output
    assert quiet.stdout.startswith("Recrypted 0 sealed secret(s) to sm4-gcm\n")
    again = runner.invoke(
        cli, ["keys", "recrypt", "--cipher", "sm4-gcm", "--home", str(p.settings.home), "--json"]
    )
    assert again.exit_code == 0, again.output
    result = json.loads(again.output)
    assert sum(result["recrypted"].values()) == 0 and sum(result["unchanged"].values()) == 6
    # the key whose PIN layer moved to AES signs, and moves back to SM4 as it does
    assert pin_layers(back) == {person: AES_256_GCM, org: SM4_GCM}
    assert result["pin_layer_pending"] == [person]
    signed_and_verified(World(**{**w.__dict__, "p": back}))
    assert pin_layers(back) == {person: SM4_GCM, org: SM4_GCM}
    ciphers = runner.invoke(cli, ["keys", "ciphers", "--home", str(p.settings.home), "--json"])
    assert json.loads(ciphers.output)["counts"]["authorization_key"] == {SM4_GCM: 1}
    assert back.verify_audit().ok


def test_changed_blobs_and_wrong_pins_are_refused(world: World, clock: FrozenClock) -> None:
    w, p = world, world.p
    seal = w.yi.seal.es_id
    with pytest.raises(Forbidden) as e:
        p.seals.unlock_for_signing(seal, "135791")
    assert e.value.code == "wrong_pin"
    person_label = label_of(p, w.person.id)
    blob = keys(p)[person_label]
    for at in (len(blob) - 1, len(blob) - 40, 7 + len(p.kek.label) + 3):  # tag, body, header
        changed = bytearray(blob)
        changed[at] ^= 0x01
        with p.db.transaction() as s:
            s.execute(
                select(PlatformKey).where(PlatformKey.label == person_label)
            ).scalar_one().sealed_key = bytes(changed)
        with pytest.raises(ConfigurationError) as e:
            p.seals.unlock_for_signing(seal, w.yi.pin)
        assert e.value.code == "kek_mismatch"
        # the census names the damaged key (before: only "does not open this key", no label)
        with pytest.raises(ConfigurationError) as e:
            census(p)
        assert e.value.code == "kek_mismatch" and repr(person_label) in e.value.message
    # a changed blob is not a wrong PIN: only the one real wrong guess above was counted
    with p.db.read() as s:
        row = s.execute(select(PlatformKey).where(PlatformKey.label == person_label)).scalar_one()
        assert row.failed_attempts == 1 and not row.locked
    # the other construction refuses changes the same way
    kek = PlatformKek(p.keystore, cipher=SM4_CBC_HMAC_SM3)
    sealed = kek.encrypt(b"webhook secret", b"ctx")
    assert sealed.startswith(b"YXE1\x03") and kek.decrypt(sealed, b"ctx") == b"webhook secret"
    for at in (5, len(sealed) // 2, len(sealed) - 1):
        changed = bytearray(sealed)
        changed[at] ^= 0x80
        with pytest.raises(ConfigurationError):
            kek.decrypt(bytes(changed), b"ctx")
    with pytest.raises(ConfigurationError):
        kek.decrypt(sealed, b"another record")


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_a_recrypt_that_fails_changes_nothing(
    db: str, tmp_path: Path, clock: FrozenClock, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("pg_cluster").new_database() if db == "postgres" else None
    w = make_world(tmp_path, clock, url)
    p = w.p
    env = {"YINXIN_CA_PASSPHRASE": PASSPHRASE, "YINXIN_DATABASE_URL": p.settings.database_url}
    populate(w, clock)
    # the last webhook secret is damaged: the keys before it are recrypted in the session first
    with p.db.transaction() as s:
        hook = s.execute(select(WebhookSubscription)).scalars().one()
        damaged = bytearray(hook.secret_wrapped)
        damaged[-3] ^= 0x10
        hook.secret_wrapped = bytes(damaged)
    file_before = kek_file(p)
    err = refused(p, lambda: p.recrypt.run(AES_256_GCM), ConfigurationError, code="kek_mismatch")
    assert kek_file(p) == file_before  # the KEK's file is left as it was too
    assert "webhook secret 'webhook 1 secret_wrapped'" in err.message
    assert "nothing was re-encrypted" in err.message
    assert census(p)["platform_key"] == {SM4_GCM: 2}
    # bad input: an unknown cipher, at the command line, names the field; nothing changes
    err = refused(p, lambda: p.recrypt.run("sm4-ecb"), ValidationError, code="unknown_cipher")
    assert err.field == "cipher"
    out = CliRunner().invoke(
        cli,
        ["keys", "recrypt", "--cipher", "des", "--home", str(p.settings.home)],
        env=env,
    )
    assert out.exit_code == 2 and "[cipher]" in out.output
    out = CliRunner().invoke(
        cli,
        ["keys", "recrypt", "--cipher", "aes-256-gcm", "--home", str(p.settings.home)],
        env=env,
    )
    assert out.exit_code == 7 and "does not open" in out.output
    assert census(p)["platform_key"] == {SM4_GCM: 2}


def _old_release_blob(key, pin: str, label: str, kek_key) -> bytes:
    """A platform key exactly as the release before SM4 sealed it: scrypt + AES-GCM under the
    PIN (JSON header without a cipher, the label alone as associated data), then AES-GCM under
    the KEK with the nonce first and no header."""
    params = {"n": 2**14, "r": 8, "p": 1}
    salt, nonce = os.urandom(16), os.urandom(12)
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    k = Scrypt(salt=salt, length=32, **params).derive(pin.encode())
    ct = AESGCM(k).encrypt(nonce, der, label.encode())
    header = json.dumps({"kdf": "scrypt", **params}, sort_keys=True).encode()
    inner = b"YXPK1" + struct.pack(">H", len(header)) + header + salt + nonce + ct
    n2 = os.urandom(12)
    outer = n2 + kek_key.encrypt(n2, inner, b"yinxin-platform-key:" + label.encode())
    name = b"platform-kek"
    return b"YXPK2" + struct.pack(">H", len(name)) + name + outer


def test_blobs_of_the_previous_release_open_and_move(tmp_path: Path, clock: FrozenClock) -> None:
    p = sm4_platform(tmp_path / "home", clock, AES_256_GCM)
    p.ca.init("ec-p256")
    w = build_world(p, clock)
    label = label_of(p, w.person.id)
    native = pinkeys.open_private_key(keys(p)[label], w.yi.pin, label, kek=p.kek).native
    p.kek.ready()
    old = _old_release_blob(native, w.yi.pin, label, p.keystore().secret("platform-kek"))
    with p.db.transaction() as s:
        s.execute(
            select(PlatformKey).where(PlatformKey.label == label)
        ).scalar_one().sealed_key = old
    hook = p.webhooks.subscribe("https://hooks.example.com/a", ["*"], None, "operator")
    nonce = os.urandom(12)  # the previous release's webhook secret: nonce first, no header
    old_secret = nonce + p.keystore().secret("platform-kek").encrypt(
        nonce, hook.secret.encode(), webhook_aad(hook.subscription.id)
    )
    with p.db.transaction() as s:
        s.execute(select(WebhookSubscription)).scalars().one().secret_wrapped = old_secret
    # it opens as it is, in an AES deployment, and signs
    assert pinkeys.layers(old, label, p.kek) == (AES_256_GCM, AES_256_GCM)
    assert not pinkeys.needs_reseal(old, AES_256_GCM, p.kek)  # same ciphers: left alone
    signed_and_verified(w)
    assert keys(p)[label] == old
    # recrypt to SM4 moves both; the signature then moves the PIN layer
    sm4 = same_home(p, clock, SM4_GCM)
    assert kek_file(p).startswith(b"YXKEK1")  # the previous release's KEK file
    r = sm4.recrypt.run(SM4_GCM)
    assert r.recrypted["kek_file"] == 1 and kek_file(p).startswith(b"YXKEK2\x02")
    # a process started afterwards opens the resealed file (and a wrong passphrase does not)
    fresh = same_home(p, clock, SM4_GCM)
    assert secrets_in_clear(fresh)[f"webhook-{hook.subscription.id}"] == hook.secret.encode()
    with pytest.raises(Forbidden) as e:
        FileKeyStore(p.settings.keys_dir, "not the passphrase").secret("platform-kek")
    assert e.value.code == "bad_passphrase"
    changed = bytearray(kek_file(p))
    changed[-5] ^= 0x01
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "platform-kek.kek").write_bytes(bytes(changed))
    with pytest.raises(Forbidden):
        FileKeyStore(tmp_path / "copy", PASSPHRASE).secret("platform-kek")
    assert r.recrypted["webhook_secret"] == 1 and label in r.pin_layer_pending
    assert secrets_in_clear(sm4)[f"webhook-{hook.subscription.id}"] == hook.secret.encode()
    assert census(sm4)["webhook_secret"] == {SM4_GCM: 1}
    signed_and_verified(World(**{**w.__dict__, "p": sm4}))
    assert pinkeys.layers(keys(sm4)[label], label, sm4.kek) == (SM4_GCM, SM4_GCM)
    assert json.loads(_inner_header(sm4, label))["kdf"] == "pbkdf2-sm3"


def _inner_header(p: Platform, label: str) -> bytes:
    blob = keys(p)[label]
    inner = p.kek.decrypt(blob[7 + len(p.kek.label) :], b"yinxin-platform-key:" + label.encode())
    (n,) = struct.unpack(">H", inner[5:7])
    return inner[7 : 7 + n]


def test_sm4_under_a_pkcs11_kek_is_refused_not_weakened(softhsm_token: SoftHsmToken) -> None:
    """The token's KEK is an unextractable AES key: SM4 keys cannot be derived from it here,
    so SM4 is refused up front (and AES still works through the token)."""
    label = f"kek-{uuid.uuid4().hex[:10]}"
    with Pkcs11KeyStore(*softhsm_token) as store:
        kek = PlatformKek(lambda: store, label=label, cipher=SM4_GCM)
        with pytest.raises(ConfigurationError) as e:
            kek.encrypt(b"x", b"y")
        assert e.value.code == "cipher_unsupported" and e.value.field == "YINXIN_DATA_CIPHER"
        with pytest.raises(ConfigurationError):
            kek.supports(SM4_CBC_HMAC_SM3)
        blob = kek.encrypt(b"x", b"y", cipher=AES_256_GCM)
        assert blob.startswith(b"YXE1\x01") and kek.decrypt(blob, b"y") == b"x"


def test_census_before_any_kek_exists(make_platform) -> None:
    """``keys ciphers`` on a platform that has sealed nothing yet: no KEK file to count."""
    p = make_platform()
    assert not (p.settings.keys_dir / "platform-kek.kek").exists()
    assert census(p) == {k: {} for k in (*KINDS, "platform_key_pin")}


def test_a_recrypt_without_the_kek_its_secrets_need_makes_none(
    tmp_path: Path, clock: FrozenClock
) -> None:
    """``keys recrypt`` where the key store lacks the KEK the secrets are wrapped under (a
    database imported, its ``keys/`` not copied yet) made a new, unrelated KEK file, then
    refused "does not open … nothing was re-encrypted" (kek_mismatch): a file written, the
    census's "restore the keys directory" (kek_missing) turned into a mismatch, and a restore
    that skips existing files (cp -n, rsync --ignore-existing) kept the wrong KEK. Now it is
    refused kek_missing and nothing is written."""
    w = make_world(tmp_path, clock)
    kek = w.p.settings.keys_dir / "platform-kek.kek"
    kept = kek.read_bytes()
    kek.unlink()
    p = same_home(w.p, clock, SM4_GCM)  # a new process: no KEK in memory
    err = refused(p, lambda: p.recrypt.run(AES_256_GCM), ConfigurationError, code="kek_missing")
    assert "restore the keys directory" in err.message
    assert not kek.exists()
    kek.write_bytes(kept)  # the key store restored: the recrypt goes through
    assert same_home(w.p, clock, SM4_GCM).recrypt.run(AES_256_GCM).recrypted["platform_key"] == 2


def test_nothing_new_is_sealed_under_a_new_kek_where_the_secrets_need_the_old_one(
    tmp_path: Path, clock: FrozenClock
) -> None:
    """A platform whose database holds secrets wrapped under a KEK its key store lacks (a
    database imported, its ``keys/`` not copied yet): adding a staff account, subscribing a
    webhook or applying for a platform-held key made a new, unrelated KEK file and sealed the
    new secret under it, a key lost as soon as the real ``keys/`` is restored (and one that
    opens none of the old secrets). Each is now refused kek_missing (restore the keys
    directory) with no KEK file made and the database unchanged; with the key store restored
    they go through."""
    w = make_world(tmp_path, clock)
    populate(w, clock)
    kek = w.p.settings.keys_dir / "platform-kek.kek"
    kept = kek.read_bytes()
    kek.unlink()
    p = same_home(w.p, clock, SM4_GCM)  # a new process: no KEK in memory
    attempts = {
        "staff": lambda: p.staff.add(
            "lina", password="a long staff password", role="ra_officer", actor="op"
        ),
        "webhook": lambda: p.webhooks.subscribe("https://hooks.example.com/b", ["*"], None, "op"),
        "platform key": lambda: p.certificates.apply(
            subscriber_id=w.member.id, profile="person-signing", pin="135790"
        ),
    }
    for what, attempt in attempts.items():
        err = refused(p, attempt, ConfigurationError, code="kek_missing")
        assert "restore the keys directory" in err.message, what
        assert not kek.exists(), what
    kek.write_bytes(kept)  # the key store restored: the same work goes through
    p = same_home(w.p, clock, SM4_GCM)
    for attempt in attempts.values():
        attempt()
    assert kek.read_bytes() == kept
    assert len(secrets_in_clear(p)) == 8  # old and new open under the one KEK


def test_a_fresh_platform_makes_its_kek_at_first_need(make_platform) -> None:
    """Where nothing is wrapped yet the KEK is made on demand, as before."""
    p = make_platform()
    kek = p.settings.keys_dir / "platform-kek.kek"
    assert not kek.exists()
    p.staff.add("lina", password="a long staff password", role="ra_officer", actor="op")
    assert kek.exists()


def test_a_pkcs11_kek_is_not_made_where_secrets_are_wrapped(softhsm_token: SoftHsmToken) -> None:
    """The same rule with the KEK inside a token: missing, and secrets wrapped under one, it is
    refused kek_missing and the token gets no key; with nothing wrapped it is made."""
    label = f"kek-{uuid.uuid4().hex[:10]}"
    with Pkcs11KeyStore(*softhsm_token) as store:
        kek = PlatformKek(lambda: store, label=label, anything_wrapped=lambda: True)
        with pytest.raises(ConfigurationError) as e:
            kek.encrypt(b"x", b"y")
        assert e.value.code == "kek_missing" and "restore the keys directory" in e.value.message
        with pytest.raises(NotFound):
            store.secret_object(label)
        fresh = PlatformKek(lambda: store, label=label, anything_wrapped=lambda: False)
        assert fresh.decrypt(fresh.encrypt(b"x", b"y"), b"y") == b"x"
        store.secret_object(label)
