"""``yinxin keys recrypt`` says what it changed — and a fresh install under AES-256-GCM has
nothing to re-encrypt.

The KEK file a fresh install makes (``YXKEK1``) is already sealed under AES-256-GCM. ``keys
recrypt --cipher aes-256-gcm`` rewrote it into the newer header format all the same and
reported ``kek_file 1 re-encrypted`` (``"kek_file": 1`` in ``recrypted`` with ``--json``,
"Recrypted 1 sealed secret(s)"), so an operator checking that nothing was ever under another
cipher was told that something had been. The file is left as it is now: 0 re-encrypted, 1
already aes-256-gcm, the file byte for byte the same; moving it to SM4 still rewrites it.
"""

from __future__ import annotations

import json

from tests.integration.server import yinxin_cli
from yinxin.app import Platform


def _env(p: Platform, cipher: str = "aes-256-gcm") -> dict[str, str]:
    return {"YINXIN_DATABASE_URL": p.settings.database_url, "YINXIN_DATA_CIPHER": cipher}


def test_a_fresh_install_has_nothing_to_recrypt_to_aes(platform: Platform) -> None:
    p = platform
    p.kek.ready()  # the KEK file a fresh install makes on first use
    kek = p.settings.keys_dir / "platform-kek.kek"
    before = kek.read_bytes()
    done = yinxin_cli(
        ["keys", "recrypt", "--cipher", "aes-256-gcm", "--json"], p.settings.home, env=_env(p)
    )
    out = json.loads(done.stdout)
    assert out["recrypted"]["kek_file"] == 0, out
    assert out["unchanged"]["kek_file"] == 1, out
    assert sum(out["recrypted"].values()) == 0, out
    assert kek.read_bytes() == before, "the KEK file was rewritten"

    done = yinxin_cli(["keys", "recrypt", "--cipher", "aes-256-gcm"], p.settings.home, env=_env(p))
    assert "Recrypted 0 sealed secret(s) to aes-256-gcm" in done.stdout, done.stdout
    assert "kek_file           0 re-encrypted, 1 already aes-256-gcm" in done.stdout, done.stdout
    assert "1 re-encrypted" not in done.stdout, done.stdout
    assert kek.read_bytes() == before

    # to SM4 the file is re-encrypted, and said so
    done = yinxin_cli(
        ["keys", "recrypt", "--cipher", "sm4-gcm", "--json"],
        p.settings.home,
        env=_env(p, "sm4-gcm"),
    )
    out = json.loads(done.stdout)
    assert out["recrypted"]["kek_file"] == 1 and out["unchanged"]["kek_file"] == 0, out
    assert kek.read_bytes() != before
