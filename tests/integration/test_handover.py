"""The data handover (002 §6.2.10, issue 14 §5): export a SQLite platform with real signed
documents, import it into a PostgreSQL instance, and find the same rows, the same files, an
intact audit chain and the same verdict for every signed PDF; refusals leave the target as it
was.

The source is built once for the module: the two-party signing world (``signing_flow``), one
contract signed by both (two archived versions), a parallel sign flow whose document both sign
(the flow file store: original and signed), an applicant's identity document (its own store), a
published CRL. Every refusal runs against one PostgreSQL target whose whole database and data
directory are compared before and after.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text

from tests import dbdump
from tests.clock import real_now
from tests.conftest import PASSPHRASE, cli_env
from tests.fixtures.samples import contract_pdf
from tests.integration.signing_flow import (
    build_world,
    new_platform,
    outbox_lines,
    read_code,
    sign_as,
)
from yinxin.app import Platform
from yinxin.clock import FrozenClock
from yinxin.contracts.templates import get_template
from yinxin.errors import Conflict, ValidationError
from yinxin.handover.service import FORMAT, verdict
from yinxin.settings import Settings
from yinxin.signing.flows import SignerSpec
from yinxin.store.models import AuditEvent

QUIET = {"capture_output": True, "text": True, "timeout": 30}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(40))


@dataclasses.dataclass
class Source:
    p: Platform
    export: Path
    counts: dict[str, int]  # rows per table at export time, counted with SQL
    audit_events: int
    signed: dict[str, bytes]  # every signed PDF the source keeps, by SHA-256


def _counts(p: Platform) -> dict[str, int]:
    with p.db.engine.connect() as conn:
        names = [n for n in inspect(conn).get_table_names() if n != "alembic_version"]
        q = conn.dialect.identifier_preparer.quote
        return {n: conn.execute(text(f"SELECT count(*) FROM {q(n)}")).scalar_one() for n in names}


def _flow_sign(w, token: str, party) -> None:
    before = outbox_lines(w.outbox)
    ch = w.p.flows.request_code(token)
    code = read_code(w.outbox, party.phone, after=before)
    w.p.flows.sign(token, pin=party.pin, challenge_id=ch.challenge_id, code=code)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Source:
    root = tmp_path_factory.mktemp("handover")
    clock = FrozenClock(real_now())
    p = new_platform(root / "source", clock)
    w = build_world(p, clock)
    first = sign_as(w, w.jia, contract_pdf(1, parties=("甲方", "乙方")))
    sign_as(w, w.yi, first.pdf, lock=True)
    flow = p.flows.create(
        "采购合同",
        documents=[("采购合同.pdf", contract_pdf(1, parties=("甲方", "乙方"), title="采购合同"))],
        signers=[
            SignerSpec(w.jia.id, w.jia.role, w.jia.seal.es_id, order=1),
            SignerSpec(w.yi.id, w.yi.role, w.yi.seal.es_id, order=1),
        ],
        order="parallel",
        deadline=clock.now() + dt.timedelta(days=1),
    )
    jia_token, yi_token = (link.token for link in p.flows.start(flow.id).links)
    clock.advance(minutes=7)
    _flow_sign(w, yi_token, w.yi)
    clock.advance(minutes=7)
    _flow_sign(w, jia_token, w.jia)
    pending = p.certificates.apply(
        subscriber_id=w.member.id, profile="person-signing", pin="135790"
    )
    p.application_documents.upload(pending.id, PNG, kind="id_front", actor="subscriber:王五")
    template = get_template("om-service")  # a contract from the library, its PDF in its store
    values = template.example_values()
    values[template.party("甲方").name] = w.org.name
    values[template.party("乙方").name] = w.person.name
    p.contracts.draft("om-service", values, owner_subscriber_id=w.org.id, actor="王五")
    p.status.publish_crl("issuing")
    later_table(p)
    with p.db.transaction() as s:
        s.execute(
            text(f"INSERT INTO later_notes VALUES {LATER_ROWS}"), {"blob": bytes(range(256)) * 8}
        )
    clock.advance(minutes=1)
    counts = _counts(p)
    events = p.verify_audit().events
    signed = {}
    for d in p.archive.documents(None):
        pdf = p.archive.document(d.id)[1]
        signed[hashlib.sha256(pdf).hexdigest()] = pdf
    signed_flow = p.flows.download(flow.id, p.flows.get(flow.id).documents[0].id).pdf
    signed[hashlib.sha256(signed_flow).hexdigest()] = signed_flow
    out = root / "export"
    report = p.handover.export(out, actor="移交经办人")
    assert report.rows == sum(counts.values()) and report.tables == counts
    yield Source(p, out, counts, events, signed)
    p.close()


# A table no model and no migration knows, made on both sides as a later migration would: the
# handover carries it without a line of its code changed. Row 1 refers to row 2 (a forward
# self-reference), which the import can only satisfy by setting it after both rows are in.
LATER_ROWS = (
    "(1, 2, '后来的表：第一行', '2026-01-02 03:04:05.678901', :blob, true), "
    "(2, NULL, 'second', NULL, NULL, false)"
)


def later_table(p: Platform) -> None:
    pg = p.db.engine.dialect.name == "postgresql"
    with p.db.transaction() as s:
        s.execute(
            text(
                "CREATE TABLE later_notes (id INTEGER PRIMARY KEY, "
                "parent_id INTEGER REFERENCES later_notes(id), note TEXT NOT NULL, "
                f"noted_at {'TIMESTAMP' if pg else 'DATETIME'}, blob {'BYTEA' if pg else 'BLOB'}, "
                "done BOOLEAN)"
            )
        )


def _target(root: Path, url: str, clock=None) -> Platform:
    q = Platform(
        Settings(home=root, database_url=url, base_url="http://127.0.0.1:8000"),
        clock=clock or FrozenClock(real_now()),
        passphrase=PASSPHRASE,
    )
    later_table(q)
    return q


def _home_files(home: Path) -> dict[str, bytes]:
    """Every file under a data directory except the database's own."""
    return {
        str(f.relative_to(home)): f.read_bytes()
        for f in sorted(home.rglob("*"))
        if f.is_file() and not f.name.startswith("yinxin.db")
    }


def _manifest(d: Path) -> dict:
    return json.loads((d / "manifest.json").read_text("utf-8"))


# --- the round trip ----------------------------------------------------------------------------
def test_export_is_open_and_complete(source):
    """Every table the database has is exported with its row count; every kept file and large
    cell is there under its SHA-256; secrets stay ciphertext; certificates come as PEM too."""
    m = _manifest(source.export)
    assert m["format"] == FORMAT and m["format_version"] == 1
    assert m["source"]["dialect"] == "sqlite"
    with source.p.db.engine.connect() as conn:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    assert m["source"]["schema_revisions"] == revision
    assert {n: t["rows"] for n, t in m["tables"].items()} == source.counts
    for name, t in m["tables"].items():
        data = (source.export / t["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == t["sha256"] and len(data) == t["size"]
        assert len(data.splitlines()) == t["rows"], name
    for key, f in m["files"].items():
        data = (source.export / "files" / key).read_bytes()
        assert hashlib.sha256(data).hexdigest() == key and len(data) == f["size"]
    # the stores: archived versions, the flow's original and signed file, the applicant's PNG,
    # the drafted contract's PDF
    stores = {s for f in m["files"].values() for s in f["stores"]}
    assert {
        "documents",
        "documents/flows",
        "documents/applications",
        "documents/contracts",
    } <= stores
    assert set(source.signed) <= set(m["files"])
    assert set(m["signed_files"]) == set(source.signed)
    assert all(v["valid"] for v in m["signed_files"].values())
    assert hashlib.sha256(PNG).hexdigest() in m["files"]
    # seal images and SESeal records as files, referenced from their rows
    seals = [json.loads(x) for x in (source.export / "tables/seals.jsonl").read_text().splitlines()]
    png = seals[0]["png"]["file"]
    assert (
        m["files"][png]["media_type"] == "image/png" and "seals.png" in m["files"][png]["columns"]
    )
    # typed cells: datetimes ISO 8601 UTC, small bytes base64
    subscriber = json.loads(
        (source.export / "tables/subscribers.jsonl").read_text().splitlines()[0]
    )
    assert subscriber["created_at"].endswith("Z") and "T" in subscriber["created_at"]
    # a platform-held key is exported as the ciphertext the database holds, never opened
    with source.p.db.engine.connect() as conn:
        sealed = conn.execute(text("SELECT sealed_key FROM platform_keys ORDER BY id")).scalars()
        sealed = [bytes(x) for x in sealed]
    rows = (source.export / "tables/platform_keys.jsonl").read_text().splitlines()
    exported = []
    for r in rows:
        cell = json.loads(r)["sealed_key"]
        exported.append(
            base64.b64decode(cell["base64"])
            if "base64" in cell
            else (source.export / "files" / cell["file"]).read_bytes()
        )
    assert exported == sealed
    every = b"".join(p.read_bytes() for p in source.export.rglob("*") if p.is_file())
    assert b"PRIVATE KEY" not in every
    # certificates readable with openssl
    pems = sorted((source.export / "pem").glob("certificates-*.pem"))
    assert len(pems) == source.counts["certificates"]
    crls = sorted((source.export / "pem").glob("crls-*.crl.pem"))
    assert len(crls) == source.counts["crls"] >= 1
    for path, tool in [*((x, "x509") for x in pems), *((x, "crl") for x in crls)]:
        run = subprocess.run(["openssl", tool, "-in", str(path), "-noout", "-issuer"], **QUIET)
        assert run.returncode == 0 and "CN" in run.stdout, (path, run.stderr)
    # the export itself is on the source's audit trail
    last = source.p.audit_events(after=source.audit_events)
    assert [e.action for e in last] == ["handover.exported"]
    assert last[0].actor == "移交经办人"
    # a folder that is not empty is not written into, and the refusal leaves nothing behind
    before = sorted(source.export.parent.iterdir())
    with pytest.raises(ValidationError) as e:
        source.p.handover.export(source.export)
    assert e.value.field == "directory"
    assert sorted(source.export.parent.iterdir()) == before
    assert len(source.p.audit_events(after=source.audit_events)) == 1


@pytest.mark.postgres
def test_round_trip_sqlite_to_postgres(source, pg_cluster, tmp_path):
    home = tmp_path / "target"
    q = _target(home, pg_cluster.new_database())
    try:
        report = q.handover.import_(source.export)
        assert report.ok, report
        assert report.audit_ok and report.audit_events == source.audit_events
        assert report.signed_files == len(source.signed) == report.signed_files_same >= 3
        assert report.rebuilt == {"seal_folders": 2}
        # identical row counts, counted on PostgreSQL
        assert _counts(q) == source.counts
        # the table no code knows came along, its forward self-reference set after the rows
        with q.db.engine.connect() as conn:
            later = conn.execute(
                text("SELECT id, parent_id, note, blob FROM later_notes ORDER BY id")
            )
            rows = [tuple(r) for r in later]
        assert rows == [
            (1, 2, "后来的表：第一行", bytes(range(256)) * 8),
            (2, None, "second", None),
        ]
        # identical content: the target exported again gives the same table files, byte for byte
        again = q.handover.export(tmp_path / "again")
        m1, m2 = _manifest(source.export), _manifest(tmp_path / "again")
        assert m2["source"]["dialect"] == "postgresql"
        for name in m1["tables"]:
            assert m2["tables"][name]["sha256"] == m1["tables"][name]["sha256"], name
        assert m2["files"] == m1["files"]
        assert again.signed_files == len(source.signed)
        # the audit chain verifies on the target, and every signed PDF it keeps verifies the same
        assert q.verify_audit().ok
        for d in q.archive.documents(None):
            pdf = q.archive.document(d.id)[1]
            key = hashlib.sha256(pdf).hexdigest()
            assert pdf == source.signed[key]
            mine = verdict(q.signing.verify(pdf, file_name=f"{key}.pdf"))
            theirs = verdict(source.p.signing.verify(pdf, file_name=f"{key}.pdf"))
            assert mine == theirs and mine["valid"] and len(mine["signatures"]) >= 1
        # seal folders are written again from the rows
        seal_files = sorted((source.p.settings.home / "seals").glob("*/seal.*"))
        assert len(seal_files) == 8  # two seals: png, svg, pdf, ses
        for src in seal_files:
            rel = src.relative_to(source.p.settings.home)
            assert (home / rel).read_bytes() == src.read_bytes(), rel
        # the target goes on: sequences continue after the imported ids, the chain grows
        before = max(json.loads(x)["id"] for x in _lines(source.export, "subscribers"))
        added = q.subscribers.add_person(
            name="孙七", id_number="110101199001011237", phone="13500135000"
        )
        assert added.id == before + 1
        assert q.verify_audit().ok
        # with the source's key store and passphrase the target's CA signs
        shutil.copytree(source.p.settings.keys_dir, home / "keys", dirs_exist_ok=True)
        q.status.publish_crl("issuing")
        with q.db.read() as s:
            assert s.execute(select(func.count(AuditEvent.seq))).scalar_one() > report.audit_events
    finally:
        q.close()


def _lines(d: Path, table: str) -> list[str]:
    return (d / "tables" / f"{table}.jsonl").read_text("utf-8").splitlines()


# --- refusals -----------------------------------------------------------------------------------
def _copy(source: Source, tmp_path: Path, name: str) -> Path:
    d = tmp_path / name
    shutil.copytree(source.export, d)
    return d


def _rewrite_manifest(d: Path, change) -> None:
    m = _manifest(d)
    change(m)
    (d / "manifest.json").write_text(json.dumps(m, ensure_ascii=False), "utf-8")


def _restate(d: Path, table: str) -> None:
    """Make the manifest agree with a table file that was edited (an insider's forgery)."""
    data = (d / "tables" / f"{table}.jsonl").read_bytes()

    def change(m):
        m["tables"][table]["sha256"] = hashlib.sha256(data).hexdigest()
        m["tables"][table]["size"] = len(data)

    _rewrite_manifest(d, change)


def _signed_key(d: Path) -> str:
    return sorted(_manifest(d)["signed_files"])[0]


def _flip_file(d: Path) -> None:
    p = d / "files" / _signed_key(d)
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 1
    p.write_bytes(bytes(data))


def _flip_table(d: Path) -> None:
    p = d / "tables" / "subscribers.jsonl"
    p.write_text(p.read_text("utf-8").replace("张三", "张叁", 1), "utf-8")


def _extra_file(d: Path) -> None:
    (d / "files" / ("0" * 64)).write_bytes(b"not listed")


def _missing_file(d: Path) -> None:
    (d / "files" / _signed_key(d)).unlink()


def _more_rows_claimed(d: Path) -> None:
    def change(m):
        m["tables"]["subscribers"]["rows"] += 1

    _rewrite_manifest(d, change)


def _other_revision(d: Path) -> None:
    def change(m):
        m["source"]["schema_revisions"] = ["0012"]

    _rewrite_manifest(d, change)


def _other_hash_claimed(d: Path) -> None:
    def change(m):
        key = _signed_key(d)
        m["tables"]["seals"]["sha256"] = key  # a real hash, of another file

    _rewrite_manifest(d, change)


def _broken_chain(d: Path) -> None:
    """An audit event's actor edited and the manifest restated to match: every hash holds but
    the chain does not; found inside the transaction, after rows and files went in."""
    p = d / "tables" / "audit_events.jsonl"
    lines = p.read_text("utf-8").splitlines()
    ev = json.loads(lines[2])
    ev["actor"] = ev["actor"] + "（改）"
    lines[2] = json.dumps(ev, ensure_ascii=False, separators=(",", ":"))
    p.write_text("\n".join(lines) + "\n", "utf-8")
    _restate(d, "audit_events")


def _bad_cell(d: Path) -> None:
    p = d / "tables" / "subscribers.jsonl"
    p.write_text(p.read_text("utf-8").replace('Z"', '"', 1), "utf-8")  # a naive datetime
    _restate(d, "subscribers")


def _duplicate_row(d: Path) -> None:
    """A row given twice, the manifest restated: the database's key refuses it."""
    p = d / "tables" / "subscribers.jsonl"
    lines = p.read_text("utf-8").splitlines()
    p.write_text("\n".join([*lines, lines[-1]]) + "\n", "utf-8")
    _restate(d, "subscribers")

    def change(m):
        m["tables"]["subscribers"]["rows"] += 1

    _rewrite_manifest(d, change)


REFUSALS = [
    ("tampered file", _flip_file, "files", "hash_mismatch"),
    ("tampered table", _flip_table, "files", "hash_mismatch"),
    ("unlisted file", _extra_file, "files", "unlisted_file"),
    ("missing file", _missing_file, "files", "missing_file"),
    ("manifest claims more rows", _more_rows_claimed, "files", "hash_mismatch"),
    ("manifest names another hash", _other_hash_claimed, "files", "hash_mismatch"),
    ("manifest names another revision", _other_revision, "schema_revision", "schema_revision"),
    ("audit chain broken", _broken_chain, "tables", "audit_chain_broken"),
    ("cell of the wrong type", _bad_cell, "files", "handover_refused"),
    ("row given twice", _duplicate_row, "tables", "rows_refused"),
]


@pytest.mark.postgres
def test_refusals_leave_the_target_unchanged(source, pg_cluster, tmp_path):
    home = tmp_path / "target"
    q = _target(home, pg_cluster.new_database())
    try:
        (home / "documents").mkdir(parents=True, exist_ok=True)
        before, files_before = dbdump.dump(q), _home_files(home)
        for name, spoil, field, code in REFUSALS:
            d = _copy(source, tmp_path, name.replace(" ", "-"))
            spoil(d)
            with pytest.raises(ValidationError) as e:
                q.handover.import_(d)
            assert (e.value.field, e.value.code) == (field, code), (name, e.value.message)
            assert dbdump.diff(before, dbdump.dump(q)) == [], name
            assert _home_files(home) == files_before, name
        # the manifest's own hash, given out of band, catches any edit of the manifest
        d = _copy(source, tmp_path, "restated")
        _flip_table(d)
        _restate(d, "subscribers")
        wanted = source.p.audit_events(action="handover.exported")[0].data["manifest_sha256"]
        with pytest.raises(ValidationError) as e:
            q.handover.import_(d, manifest_sha256=wanted)
        assert e.value.code == "manifest_mismatch" and e.value.field == "manifest"
        assert dbdump.diff(before, dbdump.dump(q)) == []
        # a target that holds data is refused, and stays as it is
        q.subscribers.add_person(name="孙七", id_number="110101199001011237", phone="13500135000")
        before, files_before = dbdump.dump(q), _home_files(home)
        with pytest.raises(Conflict) as c:
            q.handover.import_(source.export, manifest_sha256=wanted)
        assert c.value.field == "target" and "not empty" in c.value.message
        assert dbdump.diff(before, dbdump.dump(q)) == [] and _home_files(home) == files_before
    finally:
        q.close()


# --- the command line ---------------------------------------------------------------------------
def _cli(home: Path, url: str, *args: str):
    """``yinxin ARGS`` in this process (the real command, without a new interpreter's start-up)."""
    from typer.testing import CliRunner

    from yinxin.adapters.cli import app

    env = cli_env(home, YINXIN_DATABASE_URL=url, COLUMNS="300")
    return CliRunner().invoke(app, list(args), env=env)


def test_export_into_the_empty_current_folder(source, tmp_path, monkeypatch):
    """``cd /media/handover && yinxin export .``: the folder is new or empty, as asked. ``.``
    has no name, so the export was written one level up and ``Path(".").rmdir()`` failed with
    EINVAL after all the work (a traceback, exit 1). Now the path is made absolute first."""
    here = tmp_path / "handover"
    here.mkdir()
    monkeypatch.chdir(here)
    r = _cli(source.p.settings.home, source.p.settings.database_url, "export", ".", "--json")
    assert r.exit_code == 0, r.output
    made = json.loads(r.stdout)
    assert made["directory"] == str(here)
    assert (
        hashlib.sha256((here / "manifest.json").read_bytes()).hexdigest() == made["manifest_sha256"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["handover"]  # nothing left beside it


def test_cli_export_and_import(source, tmp_path):
    """``yinxin export DIR`` and ``yinxin import DIR`` with ``--json``; a refusal names its field
    with exit code 2 and writes nothing."""
    out = tmp_path / "cli-export"
    home = source.p.settings.home
    r = _cli(home, source.p.settings.database_url, "export", str(out), "--json")
    assert r.exit_code == 0, r.output
    made = json.loads(r.stdout)
    assert made["rows"] >= sum(source.counts.values())
    assert made["signed_files"] == len(source.signed)
    assert (
        hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest() == made["manifest_sha256"]
    )
    spoiled = tmp_path / "spoiled"
    shutil.copytree(out, spoiled)
    _flip_file(spoiled)
    target = tmp_path / "cli-target"
    url = f"sqlite:///{target / 'yinxin.db'}"
    bad = _cli(target, url, "import", str(spoiled), "--json")
    assert bad.exit_code == 2, bad.output
    problem = json.loads(bad.stdout)
    assert problem["field"] == "files" and problem["error"] == "hash_mismatch"
    # the export is checked before the receiving data directory is opened: none is left behind
    # (an empty, migrated yinxin.db was)
    assert not target.exists()
    bad = _cli(target, url, "import", str(spoiled))
    assert bad.exit_code == 2 and "error [files]:" in bad.stderr
    assert "does not match the manifest" in bad.stderr
    _target(target, url).close()  # the later table, as the later migration would make it
    done = _cli(target, url, "import", str(out), "--manifest-sha256", made["manifest_sha256"])
    assert done.exit_code == 0, done.output
    assert "audit chain verifies" in done.stdout
    assert f"signed files verifying as on the source: {len(source.signed)}/" in done.stdout
    again = _cli(target, url, "import", str(out), "--json")
    assert again.exit_code == 6 and json.loads(again.stdout)["field"] == "target"
