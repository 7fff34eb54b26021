"""Issue 9 item 9: a seal's files under ``<home>/seals/<esID>/`` are in place before its row
commits, gone again if the commit fails, checked by ``seal verify``, and leftovers of a crash are
cleaned."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.conftest import cli_env
from tests.integration.test_seals import ZHANG, form, personal_seal, world
from yinxin.app import Platform
from yinxin.store.models.seals import Seal

FILES = ["seal.pdf", "seal.png", "seal.ses", "seal.svg"]


class Crash(Exception):
    """Stands for the database refusing the commit (disk full, lost connection)."""


@contextmanager
def at_commit(hook: Callable[[Session], None]) -> Iterator[None]:
    event.listen(Session, "before_commit", hook)
    try:
        yield
    finally:
        event.remove(Session, "before_commit", hook)


def listing(p: Platform) -> list[str]:
    root = p.settings.home / "seals"
    return sorted(str(x.relative_to(root)) for x in root.rglob("*")) if root.exists() else []


def seal_verify_cli(p: Platform, es_id: str):
    env = cli_env(p)
    from yinxin.adapters.cli import app

    return CliRunner().invoke(app, ["seal", "verify", es_id, "--json"], env=env)


def test_files_are_in_place_before_the_row_commits(platform: Platform) -> None:
    p = platform
    w = world(p)
    seen: dict[str, list[str]] = {}

    def look(session: Session) -> None:
        if any(isinstance(o, Seal) for o in session.identity_map.values()):
            seen["at_commit"] = listing(p)

    with at_commit(look):
        seal = personal_seal(w)
    es_id = seal.es_id
    assert seen["at_commit"] == [es_id] + [f"{es_id}/{f}" for f in FILES]
    assert listing(p) == seen["at_commit"]  # and no temporary folder left
    checked = p.seals.verify_record(es_id)
    assert checked.ok and checked.files == {f: "ok" for f in FILES}


def test_a_failed_commit_leaves_no_files_and_keeps_the_old_ones(platform: Platform) -> None:
    p = platform
    w = world(p)

    def boom(session: Session) -> None:
        if any(isinstance(o, Seal) for o in session.identity_map.values()):
            raise Crash("commit refused")

    with at_commit(boom), pytest.raises(Crash):
        personal_seal(w)
    assert listing(p) == []
    with p.db.read() as s:
        assert s.execute(select(Seal)).scalars().all() == []

    seal = personal_seal(w)
    es_id = seal.es_id
    before = {f: (p.seals.files_dir(es_id) / f).read_bytes() for f in FILES}
    with at_commit(boom), pytest.raises(Crash):
        p.seals.change(es_id, form=form(ZHANG, "change", project="另一个运用项目"))
    after = {f: (p.seals.files_dir(es_id) / f).read_bytes() for f in FILES}
    assert after == before
    assert listing(p) == [es_id] + [f"{es_id}/{f}" for f in FILES]
    assert p.seals.verify_record(es_id).ok


def test_seal_verify_checks_the_files(platform: Platform) -> None:
    p = platform
    w = world(p)
    es_id = personal_seal(w).es_id
    folder = p.seals.files_dir(es_id)
    (folder / "seal.png").unlink()
    (folder / "seal.ses").write_bytes(b"not the record")
    checked = p.seals.verify_record(es_id)
    assert not checked.ok
    assert checked.files["seal.png"] == "missing"
    assert checked.files["seal.ses"] == "changed"
    assert "seal.png" in checked.problem and "write-files" in checked.problem
    res = seal_verify_cli(p, es_id)
    assert res.exit_code == 1 and not json.loads(res.stdout)["ok"], res.output
    p.seals.write_files(es_id)
    assert p.seals.verify_record(es_id).ok
    assert seal_verify_cli(p, es_id).exit_code == 0


def test_leftovers_of_a_crash_are_cleaned(platform: Platform) -> None:
    p = platform
    w = world(p)
    es_id = personal_seal(w).es_id
    base = p.settings.home / "seals"
    # what kill -9 leaves: a half-written temporary folder, an old copy, and the folder of a
    # seal whose row never committed
    (base / f".{es_id}-new-abc123").mkdir()
    (base / f".{es_id}-new-abc123" / "seal.png").write_bytes(b"half")
    (base / f".{es_id}-old-0badf00d").mkdir()
    (base / "11000026999999").mkdir()
    (base / "11000026999999" / "seal.png").write_bytes(b"orphan")
    (p.seals.files_dir(es_id) / "seal.svg").unlink()
    report = p.seals.repair_files(grace_seconds=0)
    assert sorted(report.removed) == sorted(
        [f".{es_id}-new-abc123", f".{es_id}-old-0badf00d", "11000026999999"]
    )
    assert report.rewritten == [es_id]
    assert listing(p) == [es_id] + [f"{es_id}/{f}" for f in FILES]
    assert p.seals.verify_record(es_id).ok
