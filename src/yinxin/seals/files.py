"""The seal folder ``<home>/seals/<esID>/``: writing it with the commit, checking and repairing it.

The database is the record of truth; the folder holds copies (``seal.png``, ``.svg``, ``.pdf``
and the SESeal record ``seal.ses``) because those files are what gets handed out and archived.
A verb names its files inside ``SealFiles.transaction``; they are written to a temporary
folder, fsynced and renamed into place just before the commit, and put back as they were if the
commit fails, so a refused or failed action leaves none and a committed seal has its files.
A crash between the rename and the commit leaves files ahead of the database at worst, which
``status`` reports and ``repair`` / ``write`` put right from the database.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from yinxin.errors import YinxinError
from yinxin.seals.rows import seal_row, sha
from yinxin.store.db import Database
from yinxin.store.files import file_system_now, fsync_dir
from yinxin.store.models.seals import Seal

log = logging.getLogger(__name__)

FileSet = tuple[str, dict[str, bytes]]  # (esID, file name → bytes)


class FileState(StrEnum):
    """A file under a seal's folder, against the database's copy (the record of truth)."""

    OK = "ok"
    MISSING = "missing"
    UNREADABLE = "unreadable"
    CHANGED = "changed"  # its SHA-256 differs from the database's copy


@dataclass(frozen=True)
class WrittenFiles:
    """A seal's folder written again from the database."""

    es_id: str
    directory: Path
    files: list[str]


@dataclass(frozen=True)
class FilesRepair:
    """What ``repair`` did under ``<home>/seals/``: folders removed, seals' files rewritten."""

    removed: list[str]
    rewritten: list[str]


def file_set(seal: Seal) -> FileSet:
    """The files a seal's folder must hold, taken from its row."""
    return seal.es_id, {
        "seal.png": seal.png,
        "seal.svg": seal.svg,
        "seal.pdf": seal.pdf,
        "seal.ses": seal.seseal,
    }


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class FileSwap:
    """A seal folder just renamed into place, with the folder it replaced kept aside."""

    def __init__(self, base: Path, target: Path, old: Path | None):
        self.base, self.target, self.old = base, target, old

    def done(self) -> None:
        if self.old is not None:
            shutil.rmtree(self.old, ignore_errors=True)

    def undo(self) -> None:
        """The commit failed: the folder must show what the database still says."""
        shutil.rmtree(self.target, ignore_errors=True)
        if self.old is not None:
            try:
                self.old.rename(self.target)
            except OSError as e:  # leave it for repair; the database is still right
                log.warning("could not restore %s after a failed commit: %s", self.target, e)
        try:
            fsync_dir(self.base)
        except OSError:
            pass


@dataclass
class StagedFiles:
    """What a transaction body hands to ``SealFiles.transaction``: the files its commit must
    carry."""

    files: FileSet | None = None
    swap: FileSwap | None = None


class SealFiles:
    """Writes, checks and repairs the seal folders under ``<home>/seals/``."""

    def __init__(self, db: Database, home: Path):
        self.db = db
        self.base = Path(home) / "seals"

    def directory(self, es_id: str) -> Path:
        return self.base / es_id

    @contextmanager
    def transaction(self) -> Iterator[tuple[Session, StagedFiles]]:
        """A transaction whose seal files are in place before it commits, and gone if it does
        not: the body names the files (``staged.files``); they are renamed into place as the
        last step before the commit, and a failed commit puts the previous folder back."""
        staged = StagedFiles()
        try:
            with self.db.transaction() as s:
                yield s, staged
                if staged.files is not None:
                    staged.swap = self._install(*staged.files)
        except BaseException:
            if staged.swap is not None:
                staged.swap.undo()
            raise
        if staged.swap is not None:
            staged.swap.done()

    def _install(self, es_id: str, files: dict[str, bytes]) -> FileSwap:
        """Write the files into a fresh temporary folder and rename it into place, keeping the
        previous folder aside until the caller says ``done`` or ``undo``. The caller holds the
        seal's row lock (or its creating transaction), so no one else installs this seal's files
        now, and any leftovers of an earlier crash for it can go."""
        base = self.base
        try:
            base.mkdir(parents=True, exist_ok=True, mode=0o700)
            for leftover in base.glob(f".{es_id}-*"):
                shutil.rmtree(leftover, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{es_id}-new-", dir=base))
        except OSError as e:
            raise self._error(es_id, e) from None
        target, old = base / es_id, None
        try:
            for name, data in files.items():
                fd = os.open(tmp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
            fsync_dir(tmp)
            if target.exists():
                old = base / f".{es_id}-old-{os.urandom(4).hex()}"
                target.rename(old)
            tmp.rename(target)
            fsync_dir(base)
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if old is not None and not target.exists():
                old.rename(target)
            raise self._error(es_id, e) from None
        return FileSwap(base, target, old)

    @staticmethod
    def _error(es_id: str, e: OSError) -> YinxinError:
        return YinxinError(
            f"cannot write the files of seal {es_id} ({e.strerror or e}); nothing was changed",
            field="files",
            code="files_not_written",
        )

    def write(self, seal: int | str) -> WrittenFiles:
        """Write (again) a seal's files from the database, e.g. after they were lost."""
        with self.db.transaction() as s:  # the row lock keeps a renew or change out meanwhile
            es_id, files = file_set(seal_row(s, seal, lock=True))
            self._install(es_id, files).done()
        return WrittenFiles(es_id, self.directory(es_id), sorted(files))

    def status(self, es_id: str, files: dict[str, bytes]) -> dict[str, FileState]:
        """Each file under the seal's folder, against the database's copy."""
        folder = self.directory(es_id)
        out = {}
        for name, data in sorted(files.items()):
            try:
                on_disk = (folder / name).read_bytes()
            except FileNotFoundError:
                out[name] = FileState.MISSING
                continue
            except OSError:
                out[name] = FileState.UNREADABLE
                continue
            out[name] = FileState.OK if sha(on_disk) == sha(data) else FileState.CHANGED
        return out

    def repair(self, *, grace_seconds: float = 300) -> FilesRepair:
        """Put ``<home>/seals/`` in line with the database after a crash: remove temporary and
        superseded folders and folders of seals that never committed, and rewrite missing or
        changed files. Folders younger than ``grace_seconds`` that belong to no committed seal
        are left alone: they may be a creation in progress in another process."""
        base = self.base
        with self.db.read() as s:
            known = set(s.execute(select(Seal.es_id).where(Seal.es_id.is_not(None))).scalars())
        removed, rewritten = [], []
        now: float | None = None  # the file system's, read when a folder's age is wanted
        entries = sorted(base.iterdir()) if base.exists() else []
        for entry in entries:
            name = entry.name
            es_id = name[1:].split("-", 1)[0] if name.startswith(".") else name
            if es_id in known and not name.startswith("."):
                continue
            if now is None:  # its clock wrote the mtimes; the process clock may be off it
                now = file_system_now(base)
            try:
                young = now - entry.lstat().st_mtime < grace_seconds
            except FileNotFoundError:
                continue
            if es_id in known:  # a leftover of an install for a committed seal: under its lock
                with self.db.transaction() as s:
                    seal_row(s, es_id, lock=True)
                    if entry.exists():
                        _remove(entry)
                        removed.append(name)
            elif not young:
                _remove(entry)
                removed.append(name)
        for es_id in sorted(known):
            with self.db.read() as s:
                files = file_set(seal_row(s, es_id))[1]
            if any(v != FileState.OK for v in self.status(es_id, files).values()):
                self.write(es_id)
                rewritten.append(es_id)
        if removed or rewritten:
            log.info("seal files repaired: removed %s, rewritten %s", removed, rewritten)
        return FilesRepair(removed, rewritten)
