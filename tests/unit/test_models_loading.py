"""The table modules load on demand: a command declares only the tables it touches, and whoever
needs the whole schema gets it from ``load_all()``.

``yinxin.store.models`` holds the core tables; the modules beside it (seals, flows, desk…) are
imported by the services that use them. That is sound only if (1) ``TABLE_MODULES`` names every
module of the package, so ``load_all()`` is the whole schema; (2) each module, imported alone,
brings the tables its foreign keys name (SQLAlchemy resolves them when it sorts a flush or
creates a table) and its mappers configure; (3) Alembic's environment compares migrations with
the whole schema, not with whatever happened to be imported.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import yinxin.store.models as models

# One interpreter imports SQLAlchemy, then forks a child per case: each child starts with no
# table declared, imports the core and one module, and reports what resolved.
ALONE = """
import json, os, sys
import sqlalchemy.orm
names = sys.argv[1:]
for name in names:
    r, w = os.pipe()
    if os.fork() == 0:
        os.close(r)
        import yinxin.store.models as m
        if name:
            __import__(f"yinxin.store.models.{name}")
        sqlalchemy.orm.configure_mappers()
        unresolved = []
        for t in m.Base.metadata.tables.values():
            for fk in t.foreign_keys:
                try:
                    fk.column
                except Exception as e:
                    unresolved.append(f"{t.name}: {fk.target_fullname} ({type(e).__name__})")
        loaded = sorted(n for n in m.TABLE_MODULES if f"yinxin.store.models.{n}" in sys.modules)
        os.write(w, json.dumps({"name": name, "unresolved": unresolved, "loaded": loaded,
                                "tables": len(m.Base.metadata.tables)}).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(-1, 0)
    if os.waitstatus_to_exitcode(status) != 0 or not data:
        sys.exit(f"{name!r}: the child failed")
    print(data.decode())
"""


def test_table_modules_name_every_module_of_the_package() -> None:
    found = {m.name for m in pkgutil.iter_modules(models.__path__)}
    assert set(models.TABLE_MODULES) == found
    assert len(models.TABLE_MODULES) == len(set(models.TABLE_MODULES))


def test_each_module_alone_resolves_its_foreign_keys_and_configures() -> None:
    """In a new interpreter per module (and one for the core alone): every foreign key on the
    metadata resolves to a loaded table and every mapper configures. The core alone loads no
    table module, so a simple command declares only the core's tables."""
    names = ["", *models.TABLE_MODULES]
    proc = subprocess.run(
        [sys.executable, "-c", ALONE, *names], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["name"] for r in results] == names
    for r in results:
        assert r["unresolved"] == [], (r["name"], r["unresolved"])
        if r["name"]:
            assert r["name"] in r["loaded"]
        else:
            assert r["loaded"] == [] and 5 < r["tables"] < 20


def test_load_all_declares_every_table_the_migrations_create(tmp_path) -> None:
    """Alembic's ``check`` through the real environment (``migrations/env.py``) in a new
    interpreter, on a database the migrations built: no difference, which needs the
    environment's ``target_metadata`` to be the whole schema (a partial one shows every table
    left out as a table to drop)."""
    url = f"sqlite:///{tmp_path / 'y.db'}"
    code = (
        "import sys\n"
        "from alembic import command\n"
        "from yinxin.store.db import Database, alembic_config\n"
        f"db = Database({url!r}); db.migrate(); db.dispose()\n"
        "assert 'yinxin.store.models.seals' in sys.modules\n"
        f"command.check(alembic_config({url!r}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "No new upgrade operations detected" in proc.stdout + proc.stderr
    metadata = models.load_all()
    assert len(metadata.tables) >= 47 and "seals" in metadata.tables
