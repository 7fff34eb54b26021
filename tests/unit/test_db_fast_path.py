"""Start-up does not load Alembic when the schema is already current: ``Database.migrate``
compares the database's revision with the heads the migration scripts declare."""

from __future__ import annotations

import subprocess
import sys

from alembic.script import ScriptDirectory

from yinxin.store import db as db_module
from yinxin.store.db import Database, alembic_config, script_heads


def test_the_heads_read_from_the_scripts_are_alembics() -> None:
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script_heads() == frozenset(scripts.get_heads())


def test_a_current_database_is_not_migrated_again(tmp_path, monkeypatch) -> None:
    db = Database(f"sqlite:///{tmp_path / 'y.db'}")
    try:
        assert not db.at_head()  # new: no alembic_version table
        db.migrate()
        assert db.at_head()

        def refuse(_engine):
            raise AssertionError("Alembic ran on a current database")

        monkeypatch.setattr(db_module, "migrate", refuse)
        db.migrate()
    finally:
        db.dispose()


def test_a_database_behind_the_scripts_is_migrated(tmp_path, monkeypatch) -> None:
    db = Database(f"sqlite:///{tmp_path / 'y.db'}")
    try:
        db.migrate()
        with db.transaction() as s:
            s.execute(db_module.text("UPDATE alembic_version SET version_num = '0005'"))
        assert not db.at_head()
        ran = []
        monkeypatch.setattr(db_module, "migrate", ran.append)
        db.migrate()
        assert ran == [db.engine]
    finally:
        db.dispose()


def test_a_plain_start_up_imports_no_alembic(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'y.db'}"
    Database(url).migrate()
    code = (
        "import sys; from yinxin.store.db import Database; "
        f"Database({url!r}).migrate(); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
