"""``yinxin export`` on a disk that fills up (or a file it may not read) midway: a refusal
naming the folder and the cause, nothing left behind, no export on the audit trail. Before,
the OSError ran out of the service: a traceback from the CLI, a 500 from ``POST /exports``."""

from __future__ import annotations

import errno
import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import cli_env
from yinxin.adapters.cli import app as cli_app
from yinxin.app import Platform
from yinxin.errors import ValidationError, YinxinError
from yinxin.handover import service as handover_service
from yinxin.store.files import FileStore
from yinxin.store.models import AuditEvent


def _disk_full(monkeypatch) -> None:
    """The manifest, the last file an export writes, meets a full disk."""
    real = handover_service._write_private

    def write(path, data: bytes) -> None:
        if path.name == handover_service.MANIFEST:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(handover_service, "_write_private", write)


def _exports(p: Platform) -> list[str]:
    with p.db.read() as s:
        q = select(AuditEvent.action).where(AuditEvent.action == "handover.exported")
        return list(s.execute(q).scalars())


def test_a_full_disk_is_refused_naming_the_folder(platform: Platform, tmp_path, monkeypatch):
    p = platform
    _disk_full(monkeypatch)
    parent = tmp_path / "移交 盘"
    parent.mkdir()
    with pytest.raises(YinxinError) as e:
        p.handover.export(parent / "2026-12-01", verify=False)
    assert e.value.field == "directory" and e.value.code == "export_not_written"
    assert "No space left on device" in e.value.message
    assert list(parent.iterdir()) == []  # no half-written folder, no .part folder
    assert _exports(p) == []


def test_the_cli_says_so_without_a_traceback(platform: Platform, tmp_path, monkeypatch):
    p = platform
    _disk_full(monkeypatch)
    env = cli_env(p)
    out = tmp_path / "out"
    res = CliRunner().invoke(cli_app, ["export", str(out), "--no-verify"], env=env)
    assert res.exit_code == 1, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert "[directory]" in res.output and "No space left on device" in res.output
    assert not out.exists() and [x.name for x in tmp_path.iterdir() if "out" in x.name] == []
    assert _exports(p) == []


def test_an_import_meeting_a_full_disk_is_refused_and_leaves_the_target_empty(
    make_platform, tmp_path, monkeypatch
):
    """The import puts the kept files into the target's stores inside its transaction; a full
    disk there rolls everything back and is refused naming ``target`` (before: the OSError
    ran out of ``yinxin import``, a traceback)."""
    source = make_platform()
    kept = source.archive.store(b"%PDF-1.7\n" + "一份已签合同".encode() * 300)
    source.archive.store(b"%PDF-1.7\n" + "另一份".encode() * 300)
    folder = tmp_path / "移交 2026-12-01"
    source.handover.export(folder, verify=False)
    target = make_platform(init=False)
    real_put = FileStore.put
    placed: list[str] = []

    def put(self, data: bytes) -> str:
        if placed:
            raise OSError(errno.ENOSPC, "No space left on device")
        placed.append(real_put(self, data))
        return placed[-1]

    monkeypatch.setattr(FileStore, "put", put)
    with pytest.raises(YinxinError) as e:
        target.handover.import_(folder, verify=False)
    assert e.value.field == "target" and e.value.code == "import_not_written"
    assert (
        "No space left on device" in e.value.message and "nothing was imported" in e.value.message
    )
    monkeypatch.undo()
    assert not list((target.settings.documents_dir).rglob("*.pdf"))  # the file placed is gone
    with target.db.read() as s:
        assert s.execute(select(AuditEvent.action)).first() is None
    report = target.handover.import_(folder, verify=False)  # with room, it goes through
    assert report.files >= 1 and target.archive.files.get(kept)


def test_deleting_an_export_a_crash_left_removes_its_half_written_copy(platform: Platform):
    """A process killed while making an export over HTTP leaves the reserved folder empty and,
    beside it, the copy it was writing (``.<name>.part-*``, rows with identity data). Deleting
    the empty export — the documented recovery — removes that copy too; before, it stayed
    under ``<home>/exports`` for good, hidden from the listing and the API."""
    p = platform
    shelf = p.exports
    shelf.root.mkdir(mode=0o700, parents=True)
    name = "20261201T142827Z"
    (shelf.root / name).mkdir(mode=0o700)  # reserved, then the process died
    part = shelf.root / f".{name}.part-k3j2h1"
    (part / "tables").mkdir(parents=True)
    (part / "tables" / "subscribers.jsonl").write_text('{"id_number":"110105199003071239"}\n')
    other = shelf.root / ".20261202T000000Z.part-aaaaaa"  # another export's: not touched
    other.mkdir()
    shelf.delete(name, actor="admin")
    assert sorted(x.name for x in shelf.root.iterdir()) == [other.name]


@pytest.mark.parametrize("actor", ["", "   ", "王五\x1b[31m", "经办人" * 40])
def test_who_acts_is_checked_before_anything_is_written(
    platform: Platform, tmp_path, actor: str
) -> None:
    """``--actor`` goes on the audit trail (a 100-character column) after the work is done:
    an empty, hidden-character or over-long name used to be taken — written after the export
    folder was in place (PostgreSQL then refused it, the folder left without its audit
    record; SQLite kept a name a PostgreSQL import refuses), after the renewal's rollovers,
    after the recrypt's work. Now each is refused naming ``actor`` before anything changes."""
    p = platform
    with pytest.raises(ValidationError) as e:
        p.handover.export(tmp_path / "out", actor=actor, verify=False)
    assert e.value.field == "actor" and not (tmp_path / "out").exists()
    assert not [x for x in tmp_path.iterdir() if "out" in x.name]  # nor a .part folder
    with pytest.raises(ValidationError) as e:
        p.archive.renew(actor=actor)
    assert e.value.field == "actor"
    with pytest.raises(ValidationError) as e:
        p.recrypt.run("sm4-gcm", actor=actor)
    assert e.value.field == "actor"
    assert _exports(p) == []
    with p.db.read() as s:
        actions = set(s.execute(select(AuditEvent.action)).scalars())
    assert not actions & {"data.recrypted", "authority.certificate_rolled_over"}


def test_a_kept_file_changed_after_the_check_is_refused(make_platform, tmp_path) -> None:
    """The folder is checked, then loaded (a copy still arriving, a hand on the folder): a
    kept file that changed in between must refuse the import like a table file does. Before,
    the store put the new bytes under *their* hash, the import committed rows naming the old
    hash, and the target kept a file nothing refers to and missed the one its rows name."""
    source = make_platform()
    source.archive.store(b"%PDF-1.7\n" + "一份已签合同".encode() * 300)
    folder = tmp_path / "export"
    source.handover.export(folder, verify=False)
    target = make_platform(init=False)
    checked = type(target.handover).check_export(folder)
    (key,) = [k for k, f in checked.manifest["files"].items() if f["stores"]]
    (folder / "files" / key).write_bytes(b"%PDF-1.7\n changed after the check")
    with pytest.raises(YinxinError) as e:
        target.handover.import_(folder, verify=False, checked=checked)
    assert e.value.field == "files" and key in e.value.message
    assert not list(target.settings.documents_dir.rglob("*.pdf"))
    with target.db.read() as s:
        assert s.execute(select(AuditEvent.action)).first() is None


def test_an_unreadable_pdf_among_the_kept_files_does_not_stop_the_handover(
    make_platform, tmp_path
) -> None:
    """A kept file that says ``/ByteRange`` but that the verifier cannot read (an applicant's
    truncated PDF upload: only its first bytes are checked on upload) made the verifier's
    refusal end the export — no handover of the platform at all, the message naming ``pdf``
    and not the file. Now its verdict is that refusal, recorded in the manifest, and the
    import finds the same."""
    source = make_platform()
    broken = b"%PDF-1.7\n1 0 obj << /ByteRange [0 10 20 30] /Contents <00> >>\n"  # cut short
    key = FileStore(source.settings.documents_dir / "applications").put(broken)
    folder = tmp_path / "移交 export"
    report = source.handover.export(folder)
    assert report.signed_files == 1
    manifest = json.loads((folder / "manifest.json").read_text())
    got = manifest["signed_files"][key]
    assert got["valid"] is False and got["unreadable"]["field"] == "pdf"
    target = make_platform(init=False)
    imported = target.handover.import_(folder)
    assert imported.mismatches == [] and imported.signed_files_same == 1


def test_the_progress_bars_leave_stdout_to_the_report(platform: Platform, tmp_path):
    """The progress bars were drawn on stdout: piped or redirected (a cron job's mail, ``>
    export.log``) the report began with a blank line the bar left behind, and with stdout
    redirected on a terminal no progress was shown at all. They are on stderr now, and only
    when it is a terminal; stdout is the report alone."""
    p = platform
    env = cli_env(p)
    out = tmp_path / "out"
    res = CliRunner().invoke(cli_app, ["export", str(out), "--no-verify"], env=env)
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("Exported "), repr(res.stdout)
    assert res.stderr == "", repr(res.stderr)
    res = CliRunner().invoke(cli_app, ["import", str(out), "--no-verify"], env=env)
    assert res.exit_code == 6, res.output  # this instance is not empty: refused, the error first
    assert res.stdout == "" and res.stderr.startswith("error [target]: "), repr(res.output)


def test_an_import_says_which_signed_files_it_did_not_compare(make_platform, tmp_path) -> None:
    """``import --no-verify`` (or an export made with ``--no-verify``, which records no
    verdicts) said "signed files verifying as on the source: 0/1", as if none verified, where
    none was compared; now the report counts the files compared and says why the others were
    not, in the text and in ``signed_files_compared`` of ``--json``."""
    source = make_platform()
    broken = b"%PDF-1.7\n1 0 obj << /ByteRange [0 10 20 30] /Contents <00> >>\n"
    FileStore(source.settings.documents_dir / "applications").put(broken)
    with_verdicts, without = tmp_path / "with", tmp_path / "without"
    source.handover.export(with_verdicts)
    source.handover.export(without, verify=False)

    def import_(folder, *args: str):
        target = make_platform(init=False)
        env = cli_env(target)
        res = CliRunner().invoke(cli_app, ["import", str(folder), *args], env=env)
        assert res.exit_code == 0, res.output
        return res.stdout

    out = import_(with_verdicts)
    assert "signed files verifying as on the source: 1/1\n" in out, out
    out = import_(with_verdicts, "--no-verify")
    assert "0/1" not in out and "1 signed file(s) not verified again (--no-verify)" in out, out
    out = import_(without)
    assert "0/1" not in out, out
    assert "1 signed file(s) not compared: the export recorded no verdicts" in out, out
    got = json.loads(import_(with_verdicts, "--no-verify", "--json"))
    assert got["signed_files"] == 1 and got["signed_files_compared"] == 0
    assert got["signed_files_same"] == 0 and got["mismatches"] == []


def test_the_manifest_hash_given_is_read_as_typed_or_refused_as_no_hash(
    make_platform, tmp_path
) -> None:
    """``--manifest-sha256`` pasted with the spaces around it (the exporter prints it between
    two) or one digit short was refused "it is not the manifest that was exported": a false
    alarm of a changed export for a copying slip. Spaces are dropped now, and what is not 64
    hexadecimal digits is refused as such, naming manifest_sha256, before the folder is read."""
    source = make_platform()
    folder = tmp_path / "export"
    made = source.handover.export(folder, verify=False)
    check = type(source.handover).check_export
    assert check(folder, f"  {made.manifest_sha256.upper()}\n").manifest_sha256 == (
        made.manifest_sha256
    )
    for typo in (made.manifest_sha256[:63], made.manifest_sha256 + "0", "sha256:abc", ""):
        with pytest.raises(ValidationError) as e:
            check(tmp_path / "no such folder", typo)
        assert e.value.field == "manifest_sha256", typo
        assert "64 hexadecimal digits" in e.value.message, e.value.message
    other = "0" * 64
    with pytest.raises(YinxinError) as e:
        check(folder, other)
    assert e.value.code == "manifest_mismatch"
