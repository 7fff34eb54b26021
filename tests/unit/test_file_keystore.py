"""The file key store's private keys reach the disk before anything refers to them."""

from __future__ import annotations

import os

import pytest

from yinxin.pki import keys as keys_mod
from yinxin.pki.der import spki
from yinxin.pki.keys import FileKeyStore


@pytest.mark.parametrize("algorithm", ["ec-p256", "sm2"])
def test_a_generated_key_is_fsynced_with_its_directory_entry(
    tmp_path, monkeypatch, algorithm: str
) -> None:
    """``init`` and a rollover commit the certificate right after ``generate``: the key file and
    its rename must be durable by then. Before, neither was fsynced, so a power cut could keep
    the committed certificate and an empty (or no) key file — a TSA or CA that cannot sign."""
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(keys_mod.os, "fsync", fsync)
    directory = tmp_path / "keys"
    store = FileKeyStore(directory, "a passphrase of the CA")
    key = store.generate("tsa-2", algorithm)
    assert [p for p in synced if p.startswith(f"{directory}/tsa-2.")]  # the file, before its rename
    assert str(directory) in synced  # then the directory holding the new name
    assert spki(store.load("tsa-2").public_key()) == spki(key.public_key())
