"""The content-addressed file store (``yinxin.store.files``): writes that cannot half happen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from yinxin.store import files as files_mod
from yinxin.store.files import FileStore

PDF = b"%PDF-1.7\n" + "合同 正文".encode() * 500


def test_two_writers_of_the_same_content_do_not_break_each_other(tmp_path, monkeypatch) -> None:
    """The same PDF put by two processes at once (uploaded twice): the other writer finishes
    between this one's write and its rename. Each has its own temporary file, so both succeed
    (with one shared ``.part`` this one's rename failed, FileNotFoundError)."""
    store = FileStore(tmp_path / "documents")
    real_replace = os.replace
    others: list[str] = []
    calls: list[str] = []

    def replace(src, dst) -> None:
        calls.append(str(src))
        if len(calls) == 1:
            others.append(store.put(PDF))  # the other writer, finishing first
        real_replace(src, dst)

    monkeypatch.setattr(files_mod.os, "replace", replace)
    key = store.put(PDF)
    assert others == [key]
    assert store.get(key) == PDF
    assert [p.name for p in (tmp_path / "documents").rglob("*") if p.is_file()] == [f"{key}.pdf"]


def test_leftover_temporary_files_are_listed_and_removed(tmp_path) -> None:
    """A write killed before its rename leaves its temporary file; ``keys`` lists it (and one
    of the name earlier versions used) so the archive's sweep can remove it, and only it."""
    store = FileStore(tmp_path / "documents")
    key = store.put(PDF)
    folder = tmp_path / "documents" / key[:2]
    (folder / f"{key}.pdf.0123456789ab.part").write_bytes(PDF[:10])
    (folder / f"{key}.pdf.part").write_bytes(PDF[:10])
    listed = sorted(k for k, _ in store.keys())
    assert listed == sorted([key, f"{key}.0123456789ab.part", f"{key}.part"])
    for name in listed:
        if name.endswith(".part"):
            store.delete_part(name[: -len(".part")])
    assert [p.name for p in folder.iterdir()] == [f"{key}.pdf"]
    with pytest.raises(Exception, match="no stored file"):
        store.delete_part(f"{key}./../../x")
    assert store.get(key) == PDF
    assert Path(folder / f"{key}.pdf").stat().st_mode & 0o777 == 0o600


def test_a_put_reaches_the_disk_with_its_folder_entries(tmp_path, monkeypatch) -> None:
    """The record that refers to an object is committed right after ``put``: the rename and
    the folders made for it must be on disk by then (fsync of each directory changed), or a
    power cut can keep the record and lose the file. Before, only the file itself was fsynced."""
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(files_mod.os, "fsync", fsync)
    root = tmp_path / "documents"
    key = FileStore(root).put(PDF)
    folder = root / key[:2]
    assert str(folder / f"{key}.pdf") not in synced  # the temporary file is fsynced, then renamed
    assert {str(folder), str(root), str(tmp_path)} <= set(synced)
    synced.clear()
    other = FileStore(root).put(PDF + b"%%EOF\n")  # a second object: its own folder is new
    assert str(root / other[:2]) in synced and str(root) in synced
    assert str(tmp_path) not in synced  # the root was there already


def test_putting_the_right_bytes_again_repairs_a_damaged_copy(tmp_path) -> None:
    """A stored file damaged on disk (a flipped byte: same size) is reported by ``get``;
    writing the right content again — the natural repair, from a backup or a new upload —
    must replace it. Before, ``put`` saw a file of the right size and kept the damaged one."""
    store = FileStore(tmp_path / "documents")
    key = store.put(PDF)
    path = tmp_path / "documents" / key[:2] / f"{key}.pdf"
    damaged = bytearray(PDF)
    damaged[100] ^= 0x01
    path.write_bytes(bytes(damaged))
    with pytest.raises(Exception, match="changed on disk"):
        store.get(key)
    assert store.put(PDF) == key
    assert store.get(key) == PDF


def test_a_file_gone_between_listing_and_stat_is_passed_over(tmp_path, monkeypatch) -> None:
    """The archive's sweep lists the store while signings and renewals go on: a temporary
    file renamed into place (or a replaced version removed) after the listing saw it made
    ``keys`` raise FileNotFoundError, which ended ``yinxin archive renew`` with a traceback."""
    store = FileStore(tmp_path / "documents")
    key = store.put(PDF)
    folder = tmp_path / "documents" / key[:2]
    vanished = folder / f"{key}.pdf.0123456789ab.part"
    real_glob = Path.glob

    def glob(self: Path, pattern: str):
        yield vanished  # listed, renamed away before its stat
        yield from real_glob(self, pattern)

    monkeypatch.setattr(Path, "glob", glob)
    assert [k for k, _ in store.keys()] == [key]


def test_the_file_system_now_is_read_from_a_file_made_there(tmp_path, monkeypatch) -> None:
    """Ages are judged against the mtime of a file made in the directory (the file system's
    clock, not the process's), which is removed again. Where none can be made (read-only,
    full) the newest time seen there stands in: never later than the file system's now."""
    store = FileStore(tmp_path / "documents")
    key = store.put(PDF)
    written = (tmp_path / "documents" / key[:2] / f"{key}.pdf").stat().st_mtime
    assert store.now() >= written
    assert sorted(p.name for p in (tmp_path / "documents").iterdir()) == [key[:2]]

    def refused(*_a, **_k) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files_mod.os, "open", refused)
    root_mtime = (tmp_path / "documents").stat().st_mtime
    assert store.now([written - 50, written + 7]) == max(written + 7, root_mtime)
    assert files_mod.file_system_now(tmp_path / "gone") == float("-inf")


def test_every_folder_the_store_makes_is_private_whatever_the_umask(tmp_path) -> None:
    """A store rooted below a folder not made yet (``documents/applications``, the first
    upload of an install) made the folders above its root with the umask's mode, 0755 under
    022: ``documents/`` listed every stored document's name to every local user, where
    operator-guide.md says the data directory's folders are 0700 whatever the umask. The home
    itself (already there) keeps its mode."""
    home = tmp_path / "home"
    home.mkdir(mode=0o750)
    os.chmod(home, 0o750)
    old = os.umask(0o022)
    try:
        key = FileStore(home / "documents" / "applications").put(PDF)
    finally:
        os.umask(old)
    made = [home / "documents", home / "documents" / "applications"]
    made.append(made[-1] / key[:2])
    assert {str(d.relative_to(home)): oct(d.stat().st_mode & 0o777) for d in made} == {
        str(d.relative_to(home)): oct(0o700) for d in made
    }
    assert oct(home.stat().st_mode & 0o777) == oct(0o750)


def test_a_deletion_removes_the_folder_it_left_empty_and_no_other(tmp_path) -> None:
    """``delete`` (a renewal's replaced version, a sweep) left its two-character folder
    behind, empty: ``documents/`` filled with them. The folder goes once empty, a folder still
    holding a file (or a leftover ``.part``) stays, the store's root always stays."""
    root = tmp_path / "documents"
    store = FileStore(root)
    keys = {store.put(PDF + bytes([i])) for i in range(40)}
    shared = next(k for k in keys if any(o != k and o[:2] == k[:2] for o in keys))
    alone = next(k for k in keys if not any(o != k and o[:2] == k[:2] for o in keys))
    store.delete(shared)
    assert (root / shared[:2]).is_dir()  # another file is in it
    store.delete(alone)
    assert not (root / alone[:2]).exists()
    for key in keys - {shared, alone}:
        store.delete(key)
    assert root.is_dir() and list(root.iterdir()) == []
    key = store.put(PDF)  # and a folder made again when needed
    (root / key[:2] / f"{key}.pdf.0123456789ab.part").write_bytes(PDF[:10])
    store.delete(key)
    assert (root / key[:2]).is_dir()  # the leftover is in it
    store.delete_part(f"{key}.0123456789ab")
    assert list(root.iterdir()) == []


def test_a_put_whose_new_folder_is_tidied_away_makes_it_again(tmp_path, monkeypatch) -> None:
    """A deletion in another process tidies the shard folder a put has just made, empty, away
    before the put's file is in it: the put makes it again rather than failing."""
    root = tmp_path / "documents"
    store = FileStore(root)
    real = files_mod.private_folders
    calls: list[Path] = []

    def private_folders(folder: Path) -> list[Path]:
        made = real(folder)
        calls.append(folder)
        if len(calls) == 1:
            FileStore._tidy(folder)  # the other process's deletion, in between
        return made

    monkeypatch.setattr(files_mod, "private_folders", private_folders)
    key = store.put(PDF)
    assert len(calls) == 2 and store.get(key) == PDF
