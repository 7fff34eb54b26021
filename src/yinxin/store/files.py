"""Files the platform keeps (signed documents), behind one small interface.

Objects are named by the SHA-256 of their content, so a name never points at other bytes and
writing the same content twice is harmless. Writes go to a temporary file that is fsynced and
renamed into place: a crash leaves either the whole object or none (a stray ``.part`` at most,
which ``Archive.sweep`` removes once it is old). Each write has a temporary file of its own
(``<key>.pdf.<random>.part``): two processes writing the same content at once (the same PDF
uploaded twice) must not truncate each other's file or rename it from under the other. Files
and folders are private to the owner (0600/0700). An object store (S3-compatible) can stand
behind the same three calls later.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

from yinxin.errors import NotFound, YinxinError

log = logging.getLogger(__name__)

# a leftover temporary file: <key>.pdf.part (earlier versions) or <key>.pdf.<random>.part
_PART_RE = re.compile(r"^([0-9a-f]{64})\.pdf(\.[0-9a-f]{1,64})?\.part$")


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable: the directory entry itself must reach the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_system_now(directory: Path, seen: Iterable[float] = ()) -> float:
    """Now by the clock of the file system ``directory`` is on, to judge a file's age by its
    mtime. That clock (the kernel's, an NFS server's) writes the mtimes; the process clock may
    differ from it (a container with a shifted clock, a network file system, ``faketime``),
    and a file just written would then look old, or an old one new. Read as the mtime of an
    empty file made in ``directory`` and removed at once. Where none can be made (read-only,
    full), the newest of ``seen`` (mtimes read there) and of the directory's own: the file
    system's clock has come at least that far, so a file never looks older than it is."""
    marker = directory / f".now-{secrets.token_hex(6)}"
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        times = list(seen)
        try:
            times.append(directory.stat().st_mtime)
        except OSError:
            pass
        log.warning(
            "cannot make a file in %s to read the file system's time (%s): ages are judged "
            "against the newest modification time there",
            directory,
            e.strerror or e,
        )
        return max(times, default=float("-inf"))  # nothing seen: nothing looks old
    try:
        return os.fstat(fd).st_mtime
    finally:
        os.close(fd)
        marker.unlink(missing_ok=True)


def private_folders(folder: Path) -> list[Path]:
    """Make ``folder`` and each missing folder above it 0700, top down, and return those made
    (in that order). ``mkdir(parents=True, mode=…)`` gives the mode to the last folder only,
    the ones above it the umask's (0755 under 022: ``documents/`` open to every local user)."""
    missing: list[Path] = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)
    return missing[::-1]


class FileStore:
    def __init__(self, root: Path):
        self.root = root

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise NotFound(f"no stored file {key!r}", field="key")
        return self.root / key[:2] / f"{key}.pdf"

    def put(self, data: bytes) -> str:
        """Store ``data`` durably under its SHA-256 and return it. Callers commit the record
        that refers to the object right after, so the rename (and a folder made for it) is
        fsynced too: a file fsynced but not its directory entry can vanish in a power cut
        while the committed record survives, a record without its file."""
        key = hashlib.sha256(data).hexdigest()
        path = self._path(key)
        if path.exists() and path.stat().st_size == len(data) and self._intact(path, key):
            return key  # a damaged copy (same size, other bytes) is written over: a repair
        # this write's own temporary file: a shared name let a concurrent put of the same
        # content truncate it or rename it away (then os.replace here failed)
        tmp = path.with_name(f"{path.name}.{secrets.token_hex(6)}.part")
        made: list[Path] = []
        for attempt in range(5):
            made += private_folders(path.parent)
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                break
            except FileNotFoundError:
                # the folder, empty, was tidied away (``_tidy``) between its making and this
                # file: made again; once the file is in it, no tidying removes it
                if attempt == 4:
                    raise
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(path.parent)
        for folder in reversed(made):  # a folder made here: its own entry in its parent
            fsync_dir(folder.parent)
        return key

    @staticmethod
    def _intact(path: Path, key: str) -> bool:
        """Whether the file at ``path`` still holds the bytes named ``key`` (read in chunks)."""
        h = hashlib.sha256()
        try:
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        except FileNotFoundError:
            return False
        return h.hexdigest() == key

    def get(self, key: str) -> bytes:
        """The object's bytes, checked against its name: a changed file is an error."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"stored file {key} is missing", field="key") from None
        if hashlib.sha256(data).hexdigest() != key:
            raise YinxinError(f"stored file {key} was changed on disk", field="key", code="corrupt")
        return data

    def keys(self) -> list[tuple[str, float]]:
        """Every stored object's key with its modification time (and leftover ``.part`` files
        under the name ``<key>[.<random>].part``, for :meth:`delete_part` without the
        ``.part``), for sweeping what no record refers to."""
        if not self.root.is_dir():
            return []
        out = []
        for path in self.root.glob("??/*"):
            name = path.name
            try:
                # listed, then gone: a put renamed its temporary file into place, or a renewal
                # removed the version it replaced — nothing to sweep, not a failed run
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                continue
            part = _PART_RE.match(name)
            if part:
                out.append((f"{part[1]}{part[2] or ''}.part", mtime))
            elif name.endswith(".pdf"):
                out.append((name[:-4], mtime))
        return out

    def now(self, seen: Iterable[float] = ()) -> float:
        """Now by the store's own clock, against which the times :meth:`keys` gives are
        judged (``seen``: those times, a fallback, see :func:`file_system_now`)."""
        return file_system_now(self.root, seen)

    def delete_part(self, name: str) -> None:
        """Remove one leftover temporary file, named as :meth:`keys` gives it (without
        ``.part``): ``<key>`` (written by earlier versions) or ``<key>.<random>``."""
        key, _, token = name.partition(".")
        if token and not re.fullmatch(r"[0-9a-f]{1,64}", token):
            raise NotFound(f"no stored file {name!r}", field="key")
        suffix = f".{token}" if token else ""
        path = self._path(key).with_name(f"{key}.pdf{suffix}.part")
        path.unlink(missing_ok=True)
        self._tidy(path.parent)

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        self._tidy(path.parent)

    @staticmethod
    def _tidy(folder: Path) -> None:
        """Remove the two-character folder a deletion left empty: archive renewals and sweeps
        left them behind under ``documents/``, one per replaced version. ``rmdir`` removes an
        empty folder only, in one step, so a folder with anything in it stays; a ``put`` that
        made the folder and finds it gone before its file is in makes it again."""
        try:
            os.rmdir(folder)
        except OSError:  # not empty (in use), gone already
            return
        fsync_dir(folder.parent)

    def relative(self, key: str) -> str:
        return str(self._path(key).relative_to(self.root.parent))
