"""Export the whole platform to a folder of open formats, and import such a folder into an empty
instance (002 §6.2.10: 平台采集存储的数据全量完整移交, the data readable and obtainable).

The export is generic: it walks the tables the database *has* (reflection), not a list written
here, so a table added by a later migration (contracts, the service desk…) is carried without
editing this module; likewise every content-addressed file store under the data directory is
found by its layout (``<store>/<2 hex>/<sha256>.pdf``). The folder holds

* ``tables/<table>.jsonl`` — one JSON object per row, columns typed as ``codec`` documents;
* ``files/<sha256>`` — every kept file (signed documents, flow originals, applicants'
  documents, attachments) and every large bytes cell (seal images, SESeal records), once each;
* ``pem/`` — readable PEM copies of the certificates and CRLs found in ``der`` columns;
* ``manifest.json`` — format version, the source's schema revision, per table its columns,
  kinds, row count, SHA-256 and size, per file its SHA-256, size, type and where it lives, and
  the verification verdict of every signed PDF on the source.

Secrets stay what they are: sealed keys, wrapped webhook secrets and TOTP seeds are exported
as their ciphertext, never decrypted. The key store itself (CA keys, the platform KEK) is not
part of the export; the receiver needs it (``<home>/keys`` and its passphrase, or the HSM).

The import refuses, before writing anything, a folder whose files do not match the manifest
(hash, size, an unlisted or missing file), a schema revision other than the target's, and a
target that holds data. Rows go in within one transaction (in foreign-key order; cyclic and
self references set afterwards; PostgreSQL sequences moved past the imported ids); the files
are put in place before the commit and removed again if it fails. Then the target checks its
audit chain and verifies every signed PDF, which must give the verdict the source gave.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import (
    Connection,
    MetaData,
    Table,
    bindparam,
    create_engine,
    func,
    select,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.sql.ddl import sort_tables_and_constraints

from yinxin import __version__
from yinxin.clock import Clock
from yinxin.errors import Conflict, ValidationError, YinxinError
from yinxin.handover.codec import CellError, decode, encode, kind_of, media_type, utc_text
from yinxin.identity import validate_name
from yinxin.store import audit
from yinxin.store.db import Database, alembic_config
from yinxin.store.files import FileStore

FORMAT = "yinxin-handover"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
# not rows of the platform: Alembic's own bookkeeping (the revision is in the manifest)
SKIP_TABLES = frozenset({"alembic_version"})
# folders under the data directory that are not data to hand over: the key store is handed
# over on its own (it is the secret that opens the ciphertexts), seal folders are copies that
# the import writes again from the rows
NOT_STORES = frozenset({"keys", "seals"})
OBJECT_RE = re.compile(r"^[0-9a-f]{64}\.pdf$")
SHA_RE = re.compile(r"^[0-9a-f]{64}$")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
BATCH = 500
CHUNK = 1 << 20
# a verdict's facts that depend on when it was computed, not on the file
VOLATILE = ("verified_at", "certificate_checked_at", "timestamp_checked_at")

Progress = Callable[[str, int, int | None], None]
Verifier = Callable[[bytes, str], dict]


def _no_progress(_stage: str, _done: int, _total: int | None) -> None:
    return None


def refusal(message: str, field: str = "manifest", code: str = "handover_refused") -> YinxinError:
    return ValidationError(message, field=field, code=code)


# --- results ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HandoverCounts:
    """What an export and an import both report of one manifest: where it is, its SHA-256, the
    schema revisions, rows per table and in all, and the number of files."""

    directory: str
    manifest_sha256: str
    schema_revisions: list[str]
    tables: dict[str, int]
    rows: int
    files: int

    @staticmethod
    def fields_of(directory: Path, manifest: dict, sha256: str, tables: dict[str, int]) -> dict:
        """The shared fields, as keyword arguments for either report."""
        return dict(
            directory=str(directory),
            manifest_sha256=sha256,
            schema_revisions=manifest["source"]["schema_revisions"],
            tables=tables,
            rows=sum(tables.values()),
            files=len(manifest["files"]),
        )


@dataclass(frozen=True)
class ExportReport(HandoverCounts):
    file_bytes: int
    signed_files: int


@dataclass(frozen=True)
class CheckedExport:
    """An export directory whose manifest and files :meth:`Handover.check_export` accepted."""

    directory: Path
    manifest: dict
    manifest_sha256: str


@dataclass(frozen=True)
class ImportReport(HandoverCounts):
    audit_ok: bool
    audit_events: int
    audit_problem: str | None
    signed_files: int
    signed_files_same: int
    mismatches: list[str] = field(default_factory=list)
    rebuilt: dict[str, int] = field(default_factory=dict)
    # the signed files verified here against a verdict the export recorded: none with
    # ``verify=False``, none of an export made without verdicts (``same`` is out of these)
    signed_files_compared: int = 0

    @property
    def ok(self) -> bool:
        return self.audit_ok and not self.mismatches


def verdict(report: Any) -> dict:
    """What must be the same on both sides: a verification report without the moments it was
    computed at."""
    d = report.to_dict() if hasattr(report, "to_dict") else dict(report)
    for key in VOLATILE:
        d.pop(key, None)
    for sig in d.get("signatures", []):
        for key in VOLATILE:
            sig.pop(key, None)
    return d


# --- reading the database -----------------------------------------------------------------------
@contextmanager
def _snapshot(db: Database) -> Iterator[Connection]:
    """A connection that sees one moment of the database across every table it reads: the
    reader engine's transaction (PostgreSQL's REPEATABLE READ READ ONLY, SQLite's read
    transaction, where WAL keeps writers going), as ``Database.read()`` has."""
    with db.read_engine.connect() as conn:
        conn.begin()
        try:
            yield conn
        finally:
            conn.rollback()


def _reflect(conn: Connection) -> dict[str, Table]:
    meta = MetaData()
    meta.reflect(bind=conn)
    return {name: t for name, t in meta.tables.items() if name not in SKIP_TABLES}


def _revisions(conn: Connection) -> list[str]:
    try:
        return sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except SQLAlchemyError:
        return []


def _order(table: Table) -> list:
    cols = list(table.primary_key.columns) or list(table.columns)
    return cols


def _columns(table: Table) -> list[dict]:
    return [
        {"name": c.name, "kind": kind_of(c.type), "nullable": bool(c.nullable)}
        for c in table.columns
    ]


def _rows(conn: Connection, table: Table) -> Iterator[Any]:
    """A table's rows in key order, streamed (the option is the statement's: set on the
    connection it would make every later statement a server-side cursor)."""
    stmt = select(table).order_by(*_order(table)).execution_options(yield_per=1000)
    yield from conn.execute(stmt)


def _line(row: dict) -> bytes:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def _file_stores(home: Path) -> dict[str, list[Path]]:
    """Every content-addressed object under ``home`` by store (its folder relative to
    ``home``): ``<store>/<first two hex>/<sha256>.pdf``, as ``yinxin.store.files`` lays out."""
    stores: dict[str, list[Path]] = {}
    if not home.is_dir():
        return stores
    for path in sorted(home.rglob("*.pdf")):
        rel = path.relative_to(home)
        if rel.parts[0] in NOT_STORES or not OBJECT_RE.match(path.name):
            continue
        if path.parent.name != path.name[:2] or len(rel.parts) < 3 or not path.is_file():
            continue
        stores.setdefault(str(rel.parent.parent), []).append(path)
    return stores


def _hash_file(path: Path) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _readable_copy(table: str, pk: str, value: bytes) -> tuple[str, bytes] | None:
    """A PEM copy of a certificate or CRL held in a ``der`` column (readable with ``openssl``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        cert = x509.load_der_x509_certificate(value)
        return f"pem/{table}-{pk}.pem", cert.public_bytes(Encoding.PEM)
    except ValueError:
        pass
    try:
        crl = x509.load_der_x509_crl(value)
        return f"pem/{table}-{pk}.crl.pem", crl.public_bytes(Encoding.PEM)
    except ValueError:
        return None


class _ExportWriter:
    """The export folder being written: table files, kept files by SHA-256, PEM copies."""

    def __init__(self, out: Path):
        self.out = out
        self.files: dict[str, dict] = {}
        self.readable: dict[str, dict] = {}
        self.tables: dict[str, dict] = {}
        self.rows = 0
        for sub in ("tables", "files", "pem"):
            (out / sub).mkdir(mode=0o700)

    def put_file(self, data: bytes, *, store: str | None = None, column: str | None = None) -> str:
        """Keep ``data`` once under its SHA-256, noting where it came from (a store, a
        column); returns the SHA-256."""
        key = hashlib.sha256(data).hexdigest()
        entry = self.files.get(key)
        if entry is None:
            _write_private(self.out / "files" / key, data)
            entry = self.files[key] = {
                "size": len(data),
                "media_type": media_type(data),
                "stores": [],
                "columns": [],
            }
        for bucket, name in (("stores", store), ("columns", column)):
            if name is not None and name not in entry[bucket]:
                entry[bucket].append(name)
        return key

    def table(self, conn: Connection, table: Table, tick: Callable[[int], None]) -> None:
        name = table.name
        if not NAME_RE.match(name):
            raise YinxinError(f"table name {name!r} cannot be exported", field="table")
        cols = _columns(table)
        pk = [c.name for c in table.primary_key.columns]
        putters = {
            c["name"]: functools.partial(self._put_cell, column=f"{name}.{c['name']}") for c in cols
        }
        der = any(c["name"] == "der" and c["kind"] == "bytes" for c in cols)
        h, size, n = hashlib.sha256(), 0, 0
        path = self.out / "tables" / f"{name}.jsonl"
        with path.open("wb") as f:
            path.chmod(0o600)
            for row in _rows(conn, table):
                m = row._mapping
                obj = {c["name"]: encode(c["kind"], m[c["name"]], putters[c["name"]]) for c in cols}
                if der and m["der"]:
                    self._readable(name, "-".join(str(m[k]) for k in pk), bytes(m["der"]))
                line = _line(obj)
                f.write(line)
                h.update(line)
                size, n, self.rows = size + len(line), n + 1, self.rows + 1
                if self.rows % 200 == 0:
                    tick(self.rows)
        self.tables[name] = {
            "file": f"tables/{name}.jsonl",
            "rows": n,
            "sha256": h.hexdigest(),
            "size": size,
            "primary_key": pk,
            "columns": cols,
        }

    def _put_cell(self, data: bytes, *, column: str) -> str:
        return self.put_file(data, column=column)

    def _readable(self, table: str, pk: str, der: bytes) -> None:
        copy = _readable_copy(table, pk, der)
        if copy:
            path, pem = copy
            _write_private(self.out / path, pem)
            self.readable[path] = {"sha256": hashlib.sha256(pem).hexdigest(), "size": len(pem)}


def _signed(path: Path) -> bool:
    """A PDF with at least one signature dictionary (``/ByteRange``) is verified."""
    return b"/ByteRange" in path.read_bytes()


# --- the service --------------------------------------------------------------------------------
class Handover:
    """Export and import of the whole platform; ``verify`` is the platform's PDF verifier
    (bytes, file name → report dict), ``rebuild`` the derived folders written again from the
    rows after an import (name → callable returning how many it wrote)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        home: Path,
        *,
        verify: Verifier,
        verify_audit: Callable[[], audit.AuditVerdict],
        rebuild: dict[str, Callable[[], int]] | None = None,
    ):
        self.db = db
        self.clock = clock
        self.home = Path(home)
        self._verify = verify
        self._verify_audit = verify_audit
        self._rebuild = rebuild or {}

    # --- export -------------------------------------------------------------------------------
    def export(
        self,
        directory: Path,
        *,
        actor: str = "operator",
        progress: Progress = _no_progress,
        verify: bool = True,
    ) -> ExportReport:
        """Write the whole platform into ``directory`` (new, or an empty folder); the folder
        appears complete or not at all (written beside it, renamed into place).

        The path is made absolute first: ``.`` (an empty current folder) has no name of its
        own, so the temporary folder went one level up under the name ``..part-…`` and
        ``Path(".").rmdir()`` failed with EINVAL, a traceback after the whole export."""
        directory = Path(directory).absolute()
        # who exports goes on the audit trail after the folder is in place: refused now, not
        # there (an empty or hidden name; one past the column's 100 characters, which
        # PostgreSQL refuses after the folder was written)
        actor = validate_name(actor, "actor", 100)
        if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
            raise ValidationError(
                f"{directory} exists and is not an empty folder", field="directory"
            )
        parent = directory.absolute().parent
        if not parent.is_dir():
            raise ValidationError(f"no folder {parent}", field="directory")
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.part-", dir=parent))
        except OSError as e:
            raise ValidationError(
                f"cannot write into {parent}: {e.strerror}", field="directory"
            ) from None
        try:
            manifest = self._write_export(tmp, progress, verify)
            data = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode()
            _write_private(tmp / MANIFEST, data + b"\n")
            manifest_sha = hashlib.sha256(data + b"\n").hexdigest()
            if directory.exists():
                directory.rmdir()
            os.replace(tmp, directory)
        except OSError as e:
            # a full disk or a file the platform may not read, midway: the operator's to
            # fix, so a refusal naming the folder and the cause, not a traceback (HTTP 500)
            shutil.rmtree(tmp, ignore_errors=True)
            raise YinxinError(
                f"the export could not be written ({e.strerror or e}"
                f"{f': {e.filename}' if e.filename else ''}); nothing was left in {parent}",
                field="directory",
                code="export_not_written",
            ) from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        tables = {n: t["rows"] for n, t in manifest["tables"].items()}
        with self.db.transaction() as s:
            audit.record(
                s,
                at=self.clock.now(),
                actor=actor,
                action="handover.exported",
                subject_type="platform",
                subject_id="all",
                data={
                    "manifest_sha256": manifest_sha,
                    "rows": sum(tables.values()),
                    "files": len(manifest["files"]),
                },
            )
        return ExportReport(
            **HandoverCounts.fields_of(directory, manifest, manifest_sha, tables),
            file_bytes=sum(f["size"] for f in manifest["files"].values()),
            signed_files=len(manifest["signed_files"]),
        )

    def _write_export(self, out: Path, progress: Progress, verify: bool) -> dict:
        w = _ExportWriter(out)
        with _snapshot(self.db) as conn:
            revisions = _revisions(conn)
            tables = _reflect(conn)
            total = sum(
                conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in tables.values()
            )
            progress("rows", 0, total)
            for name in sorted(tables):
                w.table(conn, tables[name], lambda done: progress("rows", done, total))
            progress("rows", w.rows, total)
            dialect = conn.dialect.name
            exported_at = self.clock.now()
        # the stores are content-addressed and append-only: an object written after the
        # snapshot is merely extra, one referenced by a snapshot row is there already
        objects = [(st, p) for st, paths in _file_stores(self.home).items() for p in paths]
        progress("files", 0, len(objects))
        for i, (store, path) in enumerate(objects, 1):
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != path.name[:64]:
                raise YinxinError(
                    f"stored file {path} was changed on disk; repair it before a handover",
                    field="files",
                    code="corrupt",
                )
            w.put_file(data, store=store)
            progress("files", i, len(objects))
        files, readable, tables_out = w.files, w.readable, w.tables
        signed = sorted(
            k
            for k, e in files.items()
            if e["media_type"] == "application/pdf" and _signed(out / "files" / k)
        )
        verdicts: dict[str, dict] = {}
        if verify:
            progress("verify", 0, len(signed))
            for i, key in enumerate(signed, 1):
                verdicts[key] = self._verdict((out / "files" / key).read_bytes(), key)
                progress("verify", i, len(signed))
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "exported_at": utc_text(exported_at),
            "source": {
                "software": f"yinxin {__version__}",
                "dialect": dialect,
                "schema_revisions": revisions,
            },
            "tables": tables_out,
            "files": {k: files[k] for k in sorted(files)},
            "readable": {k: readable[k] for k in sorted(readable)},
            "signed_files": verdicts if verify else {k: None for k in signed},
        }

    def _verdict(self, pdf: bytes, key: str) -> dict:
        """The verifier's verdict on a kept PDF; one it refuses to read (a truncated upload
        that says ``/ByteRange``) gets that refusal as its verdict. The handover carries every
        file whatever its state: one unreadable file must not stop the export of the whole
        platform, and the import then expects the same refusal."""
        try:
            return verdict(self._verify(pdf, f"{key}.pdf"))
        except YinxinError as e:
            return {
                "valid": False,
                "unreadable": {"field": e.field, "code": e.code, "message": e.message},
            }

    # --- import -------------------------------------------------------------------------------
    def import_(
        self,
        directory: Path,
        *,
        manifest_sha256: str | None = None,
        progress: Progress = _no_progress,
        verify: bool = True,
        checked: CheckedExport | None = None,
    ) -> ImportReport:
        """Load an export into this (empty) instance; see the module docstring for the order
        of checks. Every refusal is raised before a row or file is written. ``checked``: what
        :meth:`check_export` answered for this directory just before (not checked again)."""
        directory = Path(directory)
        if checked is None or checked.directory != directory:
            checked = self.check_export(directory, manifest_sha256, progress)
        manifest, msha = checked.manifest, checked.manifest_sha256
        created: list[tuple[FileStore, str]] = []
        try:
            with self.db.engine.connect() as conn, conn.begin():
                tables = self._check_target(conn, manifest)
                self._insert(conn, directory, manifest, tables, progress)
                self._place_files(directory, manifest, created, progress)
                with Session(bind=conn) as s:
                    chain = audit.verify(s)
                if not chain.ok:
                    raise refusal(
                        f"the audit chain of the export does not verify: {chain.problem} "
                        f"(event {chain.first_broken}); nothing was imported",
                        field="tables",
                        code="audit_chain_broken",
                    )
        except BaseException as e:
            for store, key in created:
                with suppress(OSError):
                    store.delete(key)
            if isinstance(e, SQLAlchemyError):  # a constraint the rows break, on this database
                raise refusal(
                    f"the database refused the rows ({type(getattr(e, 'orig', e)).__name__}: "
                    f"{str(getattr(e, 'orig', e)).splitlines()[0][:300]}); nothing was imported",
                    field="tables",
                    code="rows_refused",
                ) from None
            if isinstance(e, OSError):
                # a full disk or a folder it may not write, placing the files (or an export
                # file it may not read): rolled back above, so a refusal, not a traceback
                raise YinxinError(
                    f"the import could not be written ({e.strerror or e}"
                    f"{f': {e.filename}' if e.filename else ''}); nothing was imported",
                    field="target",
                    code="import_not_written",
                ) from None
            raise
        rebuilt = {name: fn() for name, fn in self._rebuild.items()}
        chain = self._verify_audit()
        signed = manifest["signed_files"]
        mismatches: list[str] = []
        same = compared = 0
        if verify:
            progress("verify", 0, len(signed))
            for i, (key, expected) in enumerate(sorted(signed.items()), 1):
                pdf = self._kept(directory, key, manifest["files"][key]["stores"])
                got = self._verdict(pdf, key)
                compared += expected is not None
                if expected is None or got == expected:
                    same += expected is not None
                else:
                    mismatches.append(key)
                progress("verify", i, len(signed))
        tables_n = {n: t["rows"] for n, t in manifest["tables"].items()}
        return ImportReport(
            **HandoverCounts.fields_of(directory, manifest, msha, tables_n),
            audit_ok=chain.ok,
            audit_events=chain.events,
            audit_problem=chain.problem,
            signed_files=len(signed),
            signed_files_same=same,
            mismatches=mismatches,
            rebuilt=rebuilt,
            signed_files_compared=compared,
        )

    # --- import: checks before anything is written ----------------------------------------
    @classmethod
    def check_export(
        cls, directory: Path, manifest_sha256: str | None = None, progress: Progress = _no_progress
    ) -> CheckedExport:
        """The export's manifest read and every file checked against it, needing no instance:
        ``yinxin import`` runs it before it opens (and so creates) the receiving data directory,
        so a refused export leaves no empty database behind."""
        directory = Path(directory)
        if manifest_sha256 is not None:
            # as pasted from the exporter's line (spaces around it, capitals): read as typed;
            # a slip (a digit short) is named as such, not taken for a changed export
            given = manifest_sha256.strip().lower()
            if not SHA_RE.match(given):
                raise refusal(
                    f"{manifest_sha256.strip()!r} is not a SHA-256 (64 hexadecimal digits, as "
                    "the exporter printed it)",
                    field="manifest_sha256",
                    code="invalid",
                )
            manifest_sha256 = given
        manifest, msha = cls._read_manifest(directory, manifest_sha256)
        cls._check_files(directory, manifest, progress)
        return CheckedExport(directory, manifest, msha)

    @staticmethod
    def _read_manifest(directory: Path, expected: str | None) -> tuple[dict, str]:
        path = directory / MANIFEST
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise refusal(f"cannot read {path}: {e.strerror}", field="directory") from None
        msha = hashlib.sha256(raw).hexdigest()
        if expected is not None and expected.lower() != msha:
            raise refusal(
                f"manifest.json has SHA-256 {msha}, not the {expected} given: it is not the "
                "manifest that was exported",
                code="manifest_mismatch",
            )
        try:
            m = json.loads(raw)
        except ValueError as e:
            raise refusal(f"manifest.json is not JSON: {e}") from None
        if not isinstance(m, dict) or m.get("format") != FORMAT:
            raise refusal(f"manifest.json is not a {FORMAT} manifest")
        if m.get("format_version") != FORMAT_VERSION:
            raise refusal(
                f"format version {m.get('format_version')!r} is not one this version reads "
                f"({FORMAT_VERSION})",
                code="format_version",
            )
        try:
            for name, t in m["tables"].items():
                if not NAME_RE.match(name) or t["file"] != f"tables/{name}.jsonl":
                    raise refusal(f"table entry {name!r} is malformed")
                if not (isinstance(t["rows"], int) and SHA_RE.match(t["sha256"])):
                    raise refusal(f"table entry {name!r} is malformed")
                if not all(c["kind"] in _KINDS for c in t["columns"]):
                    raise refusal(f"table {name!r} names an unknown column kind")
            for key, f in m["files"].items():
                if not SHA_RE.match(key) or not isinstance(f["size"], int):
                    raise refusal(f"file entry {key!r} is malformed")
                for store in f["stores"]:
                    _check_store(store)
            for path, f in m["readable"].items():
                if not re.match(r"^pem/[A-Za-z0-9_.-]+$", path) or not SHA_RE.match(f["sha256"]):
                    raise refusal(f"readable entry {path!r} is malformed")
            revs = m["source"]["schema_revisions"]
            if not (isinstance(revs, list) and all(isinstance(r, str) for r in revs)):
                raise refusal("source.schema_revisions is malformed")
            for key in m["signed_files"]:
                if key not in m["files"]:
                    raise refusal(f"signed file {key} is not among the files")
        except (KeyError, TypeError, AttributeError) as e:
            raise refusal(f"manifest.json is malformed ({e!r} missing or wrong)") from None
        return m, msha

    @staticmethod
    def _check_files(directory: Path, m: dict, progress: Progress) -> None:
        """Every file of the export is listed with its size and SHA-256, and no other is there."""
        expected: dict[str, tuple[str, int]] = {}
        for t in m["tables"].values():
            expected[t["file"]] = (t["sha256"], t["size"])
        for key, f in m["files"].items():
            expected[f"files/{key}"] = (key, f["size"])
        for path, f in m["readable"].items():
            expected[path] = (f["sha256"], f["size"])
        present = {
            str(p.relative_to(directory))
            for p in directory.rglob("*")
            if p.is_file() or p.is_symlink()
        }
        present.discard(MANIFEST)
        extra = sorted(present - set(expected))
        if extra:
            raise refusal(
                f"{extra[0]} is in the export but not in its manifest ({len(extra)} such)",
                field="files",
                code="unlisted_file",
            )
        progress("check", 0, len(expected))
        for i, (rel, (sha, size)) in enumerate(sorted(expected.items()), 1):
            path = directory / rel
            if rel not in present:
                raise refusal(
                    f"{rel} is missing from the export", field="files", code="missing_file"
                )
            if path.is_symlink():
                raise refusal(f"{rel} is a symbolic link", field="files", code="unlisted_file")
            got, got_size = _hash_file(path)
            if got != sha or got_size != size:
                raise refusal(
                    f"{rel} does not match the manifest (SHA-256 {got}, {got_size} bytes; "
                    f"the manifest says {sha}, {size} bytes)",
                    field="files",
                    code="hash_mismatch",
                )
            progress("check", i, len(expected))

    def _check_target(self, conn: Connection, m: dict) -> dict[str, Table]:
        """The target takes this export: same schema revision, same tables and columns, and
        no data (a freshly migrated database's own rows aside)."""
        revisions = _revisions(conn)
        want = m["source"]["schema_revisions"]
        if revisions != want:
            raise refusal(
                f"the export is of schema revision {', '.join(want) or 'none'}, this instance "
                f"is at {', '.join(revisions) or 'none'}: import it into an instance of the "
                "same version (then upgrade)",
                field="schema_revision",
                code="schema_revision",
            )
        tables = _reflect(conn)
        if set(tables) != set(m["tables"]):
            missing = sorted(set(m["tables"]) - set(tables))
            unknown = sorted(set(tables) - set(m["tables"]))
            raise refusal(
                f"the tables differ from this instance's: only in the export {missing}, only "
                f"here {unknown}",
                field="tables",
            )
        for name, t in m["tables"].items():
            # by name and kind: column order and nullability may differ between SQLite (batch
            # migrations rebuild tables) and PostgreSQL without changing what a row means
            here = {c["name"]: c["kind"] for c in _columns(tables[name])}
            if here != {c["name"]: c["kind"] for c in t["columns"]}:
                raise refusal(
                    f"the columns of table {name} differ from this instance's", field="tables"
                )
        seeds = _seed_rows(revisions)
        for name, table in tables.items():
            if conn.execute(select(func.count()).select_from(table)).scalar_one() == 0:
                continue
            here = [_plain_row(table, r) for r in _rows(conn, table)]
            if any(r not in seeds.get(name, []) for r in here):
                raise Conflict(
                    f"this instance is not empty (table {name} holds data): import only into a "
                    "new, empty instance",
                    field="target",
                )
        return tables

    # --- import: the rows, in one transaction ---------------------------------------------
    def _insert(
        self,
        conn: Connection,
        directory: Path,
        m: dict,
        tables: dict[str, Table],
        progress: Progress,
    ) -> None:
        ordered = sort_tables_and_constraints(list(tables.values()))
        cyclic = {fkc for t, fkcs in ordered if t is None for fkc in fkcs}
        sequence = [t for t, _ in ordered if t is not None]
        # what the migrations put in a new database (a cursor row…) gives way to the export's
        for table in reversed(sequence):
            conn.execute(table.delete())

        def get_file(key: str) -> bytes:
            if key not in m["files"]:
                raise CellError(f"file {key} is not in the manifest")
            data = (directory / "files" / key).read_bytes()
            if hashlib.sha256(data).hexdigest() != key:
                raise CellError(f"file {key} changed during the import")
            return data

        total, done = sum(t["rows"] for t in m["tables"].values()), 0
        progress("insert", 0, total)
        later: list[tuple[Table, list[str], list[dict]]] = []
        for table in sequence:
            spec = m["tables"][table.name]
            kinds = {c["name"]: c["kind"] for c in spec["columns"]}
            aware = {c.name for c in table.columns if getattr(c.type, "timezone", False)}
            pk = [c.name for c in table.primary_key.columns]
            deferred = _deferred_columns(table, cyclic) if pk else []
            updates: list[dict] = []
            batch: list[dict] = []
            h, n = hashlib.sha256(), 0
            with (directory / spec["file"]).open("rb") as f:
                for lineno, line in enumerate(f, 1):
                    h.update(line)
                    n += 1
                    row = _decode_row(table.name, lineno, line, kinds, aware, get_file)
                    if deferred and any(row[c] is not None for c in deferred):
                        updates.append(
                            {
                                **{f"_k_{c}": row[c] for c in pk},
                                **{f"_v_{c}": row[c] for c in deferred},
                            }
                        )
                        row = {**row, **{c: None for c in deferred}}
                    batch.append(row)
                    if len(batch) >= BATCH:
                        conn.execute(table.insert(), batch)
                        done += len(batch)
                        batch = []
                        progress("insert", done, total)
            if batch:
                conn.execute(table.insert(), batch)
                done += len(batch)
                progress("insert", done, total)
            if h.hexdigest() != spec["sha256"] or n != spec["rows"]:
                raise refusal(
                    f"{spec['file']} holds {n} rows, changed during the import or not the "
                    f"{spec['rows']} the manifest says",
                    field="files",
                    code="hash_mismatch",
                )
            if updates:
                later.append((table, deferred, updates))
        for table, deferred, updates in later:
            stmt = table.update().values({c: bindparam(f"_v_{c}") for c in deferred})
            for c in table.primary_key.columns:
                stmt = stmt.where(c == bindparam(f"_k_{c.name}"))
            for i in range(0, len(updates), BATCH):
                conn.execute(stmt, updates[i : i + BATCH])
        if conn.dialect.name == "postgresql":
            _move_sequences(conn, sequence)

    def _kept(self, directory: Path, key: str, stores: list[str]) -> bytes:
        """A signed file as the target now keeps it (read back from its store, checked against
        its name); a file kept only in a row's cell is read from the export."""
        if stores:
            return FileStore(self.home / stores[0]).get(key)
        return (directory / "files" / key).read_bytes()

    def _place_files(
        self, directory: Path, m: dict, created: list[tuple[FileStore, str]], progress: Progress
    ) -> None:
        """Put every kept file into its store, remembering the ones written here so a failed
        commit can take them away again (an object already there has the same bytes)."""
        placements = [(key, store) for key, f in m["files"].items() for store in f["stores"]]
        progress("files", 0, len(placements))
        for i, (key, store_name) in enumerate(placements, 1):
            store = FileStore(self.home / store_name)
            target = self.home / store.relative(key)
            if not target.exists():
                data = (directory / "files" / key).read_bytes()
                if hashlib.sha256(data).hexdigest() != key:
                    # changed since the check (a copy still arriving): the store would name
                    # the new bytes by their own hash while the rows name this one
                    raise refusal(
                        f"files/{key} changed during the import; nothing was imported",
                        field="files",
                        code="hash_mismatch",
                    )
                store.put(data)
                created.append((store, key))
            progress("files", i, len(placements))


_KINDS = frozenset(
    ("integer", "float", "numeric", "boolean", "text", "datetime", "date", "time", "bytes")
    + ("json", "uuid")
)


def _check_store(store: str) -> None:
    parts = Path(store).parts
    if (
        not isinstance(store, str)
        or not parts
        or Path(store).is_absolute()
        or any(p in ("..", ".", "") for p in parts)
        or parts[0] in NOT_STORES
        or not all(re.match(r"^[A-Za-z0-9_.-]+$", p) for p in parts)
    ):
        raise refusal(f"file store {store!r} is not a folder inside the data directory")


def _decode_row(
    table: str,
    lineno: int,
    line: bytes,
    kinds: dict[str, str],
    aware: set[str],
    get_file: Callable[[str], bytes],
) -> dict:
    where = f"tables/{table}.jsonl line {lineno}"
    try:
        obj = json.loads(line)
    except ValueError as e:
        raise refusal(f"{where} is not JSON: {e}", field="files") from None
    if not isinstance(obj, dict) or set(obj) != set(kinds):
        raise refusal(f"{where} does not have the table's columns", field="files")
    out = {}
    for name, value in obj.items():
        try:
            out[name] = decode(kinds[name], value, get_file, aware=name in aware)
        except CellError as e:
            raise refusal(f"{where}, column {name}: {e}", field="files") from None
    return out


def _deferred_columns(table: Table, cyclic: set) -> list[str]:
    """Columns of foreign keys that cannot be satisfied in table order (a reference to the
    same table or around a cycle): inserted empty, set once every row is in."""
    out: list[str] = []
    for fkc in table.foreign_key_constraints:
        if fkc.referred_table is table or fkc in cyclic:
            cols = list(fkc.columns)
            if all(c.nullable for c in cols) and not any(c.primary_key for c in cols):
                out.extend(c.name for c in cols if c.name not in out)
    return out


def _move_sequences(conn: Connection, tables: list[Table]) -> None:
    """After explicit ids, each serial/identity sequence continues after the largest one."""
    quote = conn.dialect.identifier_preparer.quote
    for table in tables:
        for col in table.primary_key.columns:
            seq = conn.execute(
                text("SELECT pg_get_serial_sequence(:t, :c)"),
                {"t": quote(table.name), "c": col.name},
            ).scalar()
            if seq is None:
                continue
            conn.execute(
                text(
                    f"SELECT setval(:s, COALESCE((SELECT MAX({quote(col.name)}) "
                    f"FROM {quote(table.name)}), 0) + 1, false)"
                ),
                {"s": seq},
            )


def _plain_row(table: Table, row: Any) -> str:
    """A row as comparable text (the export's own encoding, bytes inline)."""
    m = row._mapping
    return json.dumps(
        {
            c["name"]: encode(
                c["kind"],
                m[c["name"]],
                lambda d: hashlib.sha256(d).hexdigest(),
            )
            for c in _columns(table)
        },
        sort_keys=True,
        default=str,
    )


_SEEDS: dict[tuple[str, ...], dict[str, list[str]]] = {}


def _seed_rows(revisions: list[str]) -> dict[str, list[str]]:
    """The rows a freshly migrated database holds at ``revisions`` (a cursor row…), found by
    migrating a throwaway SQLite database: those do not make a target "not empty"."""
    key = tuple(revisions)
    if key in _SEEDS:
        return _SEEDS[key]
    from alembic import command

    with tempfile.TemporaryDirectory(prefix="yinxin-seed-") as d:
        url = f"sqlite:///{Path(d) / 'seed.db'}"
        engine = create_engine(url)
        try:
            cfg = alembic_config(url)
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                for rev in revisions or ["heads"]:
                    command.upgrade(cfg, rev)
            with engine.connect() as conn:
                out = {
                    name: [_plain_row(t, r) for r in _rows(conn, t)]
                    for name, t in _reflect(conn).items()
                }
        finally:
            engine.dispose()
    _SEEDS[key] = out
    return out


def read_lines(stream: IO[bytes]) -> Iterator[dict]:
    """The rows of one ``tables/*.jsonl`` file as JSON objects (for readers and tests)."""
    for line in stream:
        if line.strip():
            yield json.loads(line)


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ExportReport",
    "Handover",
    "ImportReport",
    "read_lines",
    "verdict",
]
