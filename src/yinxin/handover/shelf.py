"""Exports kept on the platform itself, for the administrator's API and the staff web page.

``yinxin export DIR`` writes a handover folder wherever the operator says; over HTTP there is
no such choice, so the folders live under ``<home>/exports/<UTC timestamp>/`` (a name such as
``20261201T142827Z``, ``-2``, ``-3``… added when two are made in the same second). The shelf
makes them with the same ``Handover`` service, reads their summary back from ``manifest.json``,
streams a folder as a zip archive and deletes it. Every act is on the audit trail:
``export.created`` (the name and the manifest's SHA-256: the anchor a later download is
checked against), ``export.downloaded``, ``export.download_refused`` and ``export.deleted``.

**A folder changed after export is not handed out.** Before any byte goes out, every file is
read once: it must be listed in the manifest with its size and SHA-256, nothing unlisted may be
there, and the manifest's own SHA-256 must be the one recorded when the export was made (a
forger who edits a table and restates its hash in the manifest is caught by the last check).
That same pass computes the archive's SHA-256 and length: the archive is *deterministic*
(stored entries, sorted, time stamps from the manifest), so the second pass, which streams it,
gives the very bytes the first pass hashed, and the answer carries the digest in its headers.
Neither pass holds more than one chunk of a file in memory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from yinxin.clock import Clock
from yinxin.errors import Conflict, NotFound, ValidationError, quoted
from yinxin.handover.service import FORMAT, MANIFEST, Handover
from yinxin.store import audit
from yinxin.store.db import Database

FOLDER = "exports"
# a UTC time stamp in ISO 8601 basic format, with a counter for a second export in one second
NAME_RE = re.compile(r"^[0-9]{8}T[0-9]{6}Z(?:-[0-9]{1,3})?$")
NAME_PATTERN = NAME_RE.pattern
NAME_SHOWN = 40  # the characters of a refused name a refusal repeats


def name_refusal(name: object) -> str:
    """Why ``name`` is no export's name, in Chinese and English ("中文 / English", the given
    name quoted in the Chinese half: ``errors.quoted``), saying what a good one is — the
    service's refusal and the API's (``routes/exports``), which had pydantic's "String should
    match pattern '^[0-9]{8}T…'" and "String should have at least 16 characters"."""
    text = str(name)
    if len(text) > NAME_SHOWN:
        text = text[:NAME_SHOWN] + "…"
    return (
        f"{quoted(text)} 不是导出的名称：导出以其 UTC 时间戳命名，如 20261201T142827Z"
        "（同一秒内的下一个导出另加 -2、-3…）/ "
        f"{text!r} is not an export's name: an export is named by its UTC time stamp, such as "
        "20261201T142827Z (the next one made in the same second adds -2, -3…)"
    )


def is_name(name: object) -> bool:
    """Whether ``name`` is an export's name: the whole of it (``NAME_RE``'s ``$`` lets a
    trailing newline through ``match``)."""
    return isinstance(name, str) and NAME_RE.fullmatch(name) is not None


CHUNK = 1 << 20
SUBJECT = "export"


@dataclass(frozen=True)
class ExportSummary:
    """What an export holds, read from its manifest; ``manifest_as_exported`` says whether the
    manifest's SHA-256 is still the one recorded on the audit trail when it was made."""

    name: str
    format: str
    format_version: int
    exported_at: dt.datetime | None  # None: the manifest no longer reads
    schema_revisions: list[str]
    tables: dict[str, int]
    rows: int
    files: int
    file_bytes: int
    signed_files: int
    manifest_sha256: str
    manifest_as_exported: bool


@dataclass(frozen=True)
class Archive:
    """A zip archive of one export, ready to stream: ``chunks`` yields its ``size`` bytes whose
    SHA-256 is ``sha256`` (computed by the check before anything was sent)."""

    name: str
    filename: str
    size: int
    sha256: str
    chunks: Iterator[bytes]


class _Sink:
    """An unseekable file for ``zipfile`` to write into; ``take`` hands out what it has."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        return None

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


class Modified(Exception):
    """A file of the folder does not match its manifest (raised inside the archive writer)."""


class ExportShelf:
    """Exports under ``<home>/exports``, made with ``handover`` and audited in ``db``."""

    def __init__(self, handover: Handover, db: Database, clock: Clock, home: Path):
        self.handover = handover
        self.db = db
        self.clock = clock
        self.root = Path(home) / FOLDER

    # --- making -------------------------------------------------------------------------------
    def create(self, *, actor: str, verify: bool = True) -> ExportSummary:
        """Export the whole platform into a new folder named by the current UTC time."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder = self._reserve()
        try:
            report = self.handover.export(folder, actor=actor, verify=verify)
        except BaseException:
            # the reserved folder is still empty: the service writes beside it and renames
            with _ignore_os():
                folder.rmdir()
            raise
        with self.db.transaction() as s:
            audit.record(
                s,
                at=self.clock.now(),
                actor=actor,
                action="export.created",
                subject_type=SUBJECT,
                subject_id=folder.name,
                data={
                    "manifest_sha256": report.manifest_sha256,
                    "rows": report.rows,
                    "files": report.files,
                },
            )
        return self.get(folder.name)

    def _reserve(self) -> Path:
        """A new empty folder named by the time: ``mkdir`` is atomic, so two exports made in
        the same second (two workers) cannot take the same name."""
        stamp = self.clock.now().astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        for n in range(1, 1000):
            name = stamp if n == 1 else f"{stamp}-{n}"
            try:
                (self.root / name).mkdir(mode=0o700)
            except FileExistsError:
                continue
            return self.root / name
        raise Conflict("too many exports in one second", field="name")

    # --- reading ------------------------------------------------------------------------------
    def list(self) -> list[ExportSummary]:
        """Every finished export, newest first (a folder still being written has no manifest
        yet and is not shown)."""
        if not self.root.is_dir():
            return []
        names = sorted(
            (
                p.name
                for p in self.root.iterdir()
                if NAME_RE.match(p.name) and not p.is_symlink() and (p / MANIFEST).is_file()
            ),
            reverse=True,
        )
        recorded = self._recorded()
        return [self._listed(n, recorded.get(n)) for n in names]

    def _listed(self, name: str, recorded: str | None) -> ExportSummary:
        """The summary, or for a folder whose manifest no longer reads, what can be said of it:
        one broken folder must not hide the others, nor itself (it can still be deleted)."""
        try:
            return self._summary(name, recorded)
        except Conflict:
            raw = (self.root / name / MANIFEST).read_bytes()
            return ExportSummary(
                name=name,
                format="",
                format_version=0,
                exported_at=None,
                schema_revisions=[],
                tables={},
                rows=0,
                files=0,
                file_bytes=0,
                signed_files=0,
                manifest_sha256=hashlib.sha256(raw).hexdigest(),
                manifest_as_exported=False,
            )

    def get(self, name: str) -> ExportSummary:
        folder = self._folder(name)
        if not (folder / MANIFEST).is_file():
            raise NotFound(f"export {name} is not finished (no manifest)", field="name")
        return self._summary(name, self._recorded(name).get(name))

    def _folder(self, name: str) -> Path:
        """The folder of ``name``, refused (422) unless it is a time-stamp name and (404)
        unless it is a real folder directly under the exports folder."""
        if not is_name(name):
            raise ValidationError(name_refusal(name), field="name")
        folder = self.root / name
        if folder.is_symlink() or not folder.is_dir():
            raise NotFound(f"no export named {name}", field="name")
        return folder

    def _recorded(self, name: str | None = None) -> dict[str, str]:
        """Name → the manifest SHA-256 recorded by ``export.created``."""
        with self.db.read() as s:
            events = audit.events(
                s, limit=1_000_000, action="export.created", subject_type=SUBJECT, subject_id=name
            )
        return {e.subject_id: e.data.get("manifest_sha256", "") for e in events}

    def _manifest(self, folder: Path) -> tuple[dict, str]:
        raw = (folder / MANIFEST).read_bytes()
        try:
            m = json.loads(raw)
        except ValueError:
            m = None
        if not isinstance(m, dict) or m.get("format") != FORMAT:
            raise Conflict(
                f"export {folder.name}: manifest.json is not a {FORMAT} manifest",
                field="name",
                code="export_modified",
            )
        return m, hashlib.sha256(raw).hexdigest()

    def _summary(self, name: str, recorded: str | None) -> ExportSummary:
        m, sha = self._manifest(self.root / name)
        try:
            tables = {n: int(t["rows"]) for n, t in m["tables"].items()}
            files = m["files"]
            return ExportSummary(
                name=name,
                format=m["format"],
                format_version=int(m["format_version"]),
                exported_at=_moment(m["exported_at"]),
                schema_revisions=list(m["source"]["schema_revisions"]),
                tables=tables,
                rows=sum(tables.values()),
                files=len(files),
                file_bytes=sum(int(f["size"]) for f in files.values()),
                signed_files=len(m.get("signed_files") or {}),
                manifest_sha256=sha,
                manifest_as_exported=recorded == sha,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise Conflict(
                f"export {name}: manifest.json is malformed",
                field="name",
                code="export_modified",
            ) from None

    # --- download -----------------------------------------------------------------------------
    def archive(self, name: str, *, actor: str, download: bool = True) -> Archive:
        """The export as a zip archive, checked first (module note); a folder that does not
        match what was exported is refused (409 ``export_modified``) and the refusal audited.
        ``download=False`` (an HTTP HEAD: the size and hash, not the bytes) is checked the
        same but not recorded as ``export.downloaded``."""
        folder = self._folder(name)
        if not (folder / MANIFEST).is_file():
            raise NotFound(f"export {name} is not finished (no manifest)", field="name")
        try:
            try:
                m, msha = self._manifest(folder)
            except Conflict:
                raise Modified("manifest.json does not read as a manifest") from None
            recorded = self._recorded(name).get(name)
            if recorded != msha:
                raise Modified(
                    "manifest.json is not the manifest recorded when the export was made"
                    if recorded
                    else "no export of this name is recorded on the audit trail"
                )
            entries = _entries(folder, m)
            h, size = hashlib.sha256(), 0
            for chunk in _zip(folder, entries, _stamp(m)):
                h.update(chunk)
                size += len(chunk)
        except Modified as e:
            self._audit(actor, "export.download_refused", name, {"problem": str(e)})
            raise Conflict(
                f"export {name} was changed after it was made ({e}); it is not handed out",
                field="name",
                code="export_modified",
            ) from None
        if download:
            self._audit(
                actor,
                "export.downloaded",
                name,
                {"manifest_sha256": msha, "archive_sha256": h.hexdigest(), "size": size},
            )
        return Archive(
            name=name,
            filename=f"yinxin-export-{name}.zip",
            size=size,
            sha256=h.hexdigest(),
            chunks=_zip(folder, entries, _stamp(m)),
        )

    # --- deleting -----------------------------------------------------------------------------
    def delete(self, name: str, *, actor: str) -> None:
        """Remove the folder (a finished export or one left empty by a crash). A crash during
        the export also left the half-written copy the service was filling beside it
        (``.<name>.part-*``: subscribers' identity data, hidden from the listing and out of
        reach of the API), so that goes too: deleting the empty folder is the recovery."""
        folder = self._folder(name)
        sha = None
        with _ignore_os():
            sha = hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()
        shutil.rmtree(folder)
        for part in self.root.glob(f".{name}.part-*"):
            if part.is_dir() and not part.is_symlink():
                shutil.rmtree(part)
        self._audit(actor, "export.deleted", name, {"manifest_sha256": sha})

    def _audit(self, actor: str, action: str, name: str, data: dict) -> None:
        with self.db.transaction() as s:
            audit.record(
                s,
                at=self.clock.now(),
                actor=actor,
                action=action,
                subject_type=SUBJECT,
                subject_id=name,
                data=data,
            )


class _ignore_os:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, _value, _tb) -> bool:
        return kind is not None and issubclass(kind, OSError)


def _moment(text: object) -> dt.datetime:
    """The manifest's ``exported_at`` (``2026-12-01T13:42:07.000000Z``) as an aware UTC
    datetime; anything else is a ``ValueError`` (the manifest does not read)."""
    if not isinstance(text, str) or not text.endswith("Z"):
        raise ValueError(f"exported_at {text!r} is not a UTC time")
    moment = dt.datetime.fromisoformat(text[:-1])
    if moment.tzinfo is not None:
        raise ValueError(f"exported_at {text!r} is not a UTC time")
    return moment.replace(tzinfo=dt.UTC)


def _stamp(m: dict) -> tuple[int, int, int, int, int, int]:
    """The entries' time stamp: when the export was made (so the archive is the same bytes
    each time it is built)."""
    try:
        t = dt.datetime.fromisoformat(str(m["exported_at"]).replace("Z", "+00:00"))
        return (max(t.year, 1980), t.month, t.day, t.hour, t.minute, t.second)
    except (KeyError, ValueError):
        return (1980, 1, 1, 0, 0, 0)


def _entries(folder: Path, m: dict) -> list[tuple[str, str | None, int]]:
    """(path in the folder, SHA-256, size) of every file, the manifest first with no hash of
    its own; refused (``Modified``) when the folder's files are not exactly the listed ones."""
    expected: dict[str, tuple[str, int]] = {}
    try:
        for t in m["tables"].values():
            expected[str(t["file"])] = (str(t["sha256"]), int(t["size"]))
        for key, f in m["files"].items():
            expected[f"files/{key}"] = (str(key), int(f["size"]))
        for path, f in m["readable"].items():
            expected[str(path)] = (str(f["sha256"]), int(f["size"]))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise Modified("manifest.json is malformed") from None
    present: set[str] = set()
    for p in folder.rglob("*"):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink():
            raise Modified(f"{rel} is a symbolic link")
        if p.is_file():
            present.add(rel)
    present.discard(MANIFEST)
    extra = sorted(present - set(expected))
    if extra:
        raise Modified(f"{extra[0]} is not in the manifest")
    missing = sorted(set(expected) - present)
    if missing:
        raise Modified(f"{missing[0]} is missing")
    manifest_size = (folder / MANIFEST).stat().st_size
    return [(MANIFEST, None, manifest_size)] + [
        (rel, sha, size) for rel, (sha, size) in sorted(expected.items())
    ]


def _zip(folder: Path, entries: list[tuple[str, str | None, int]], stamp: tuple) -> Iterator[bytes]:
    """The archive's bytes, chunk by chunk: entries stored (not compressed: the files are
    mostly PDFs and images already), under ``<folder name>/``, each file checked against its
    SHA-256 and size while it is read (``Modified`` if it differs)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as zf:  # type: ignore[arg-type]
        for rel, sha, size in entries:
            info = zipfile.ZipInfo(f"{folder.name}/{rel}", date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o600 << 16
            info.file_size = size
            h, got = hashlib.sha256(), 0
            with (folder / rel).open("rb") as src, zf.open(info, "w") as dst:
                while chunk := src.read(CHUNK):
                    h.update(chunk)
                    got += len(chunk)
                    dst.write(chunk)
                    if out := sink.take():
                        yield out
            if got != size or (sha is not None and h.hexdigest() != sha):
                raise Modified(f"{rel} does not match its SHA-256 or size in the manifest")
        # closing writes the central directory
    if out := sink.take():
        yield out


__all__ = ["Archive", "ExportShelf", "ExportSummary", "NAME_PATTERN", "is_name", "name_refusal"]
