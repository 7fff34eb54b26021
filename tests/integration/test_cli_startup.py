"""The ``yinxin`` command's start-up shortcuts change nothing a user sees.

``main()`` builds only the sub-group a command names (``adapters/cli/__init__.py``,
``_only_group``), and ``partial_unique`` indexes leave PostgreSQL's dialect unloaded on SQLite
(``store/models``). Each is checked against what it replaces: the full Typer tree (help,
errors, exit codes, output), and the ``postgresql_where`` index it used to build.
"""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys

import pytest
from rich.cells import cell_len
from sqlalchemy import Index, MetaData, text
from sqlalchemy.schema import CreateIndex
from typer.testing import CliRunner

from tests.integration.server import PASSPHRASE, yinxin_cli, yinxin_env
from tests.integration.signing_flow import build_world, new_platform
from yinxin.adapters.cli import _only_group, app
from yinxin.store.models import load_all

# the whole tree, named as click names ``python -m yinxin.adapters.cli`` in its messages
FULL_TREE = "from yinxin.adapters.cli import app; app(prog_name='python -m yinxin.adapters.cli')"


def _full(args: list[str], home) -> subprocess.CompletedProcess[str]:
    """``yinxin ARGS`` through the whole Typer tree, as ``main()`` ran before the shortcut."""
    return subprocess.run(
        [sys.executable, "-c", FULL_TREE, *args],
        env=yinxin_env(home, PASSPHRASE),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_group_parses_as_in_the_full_tree() -> None:
    """In-process, for every sub-group: its help, a mistyped verb and a verb's help are the
    same text and exit code from the cut-down root as from the full one."""
    runner = CliRunner()
    names = [g.name for g in app.registered_groups]
    assert len(names) >= 15 and "subscriber" in names and "seal" in names
    for name in names:
        light = _only_group([name])
        assert light is not None and light is not app
        assert [g.name for g in light.registered_groups] == [name]
        for args in ([name, "--help"], [name, "no-such-verb"], [name]):
            ours, full = runner.invoke(light, args), runner.invoke(app, args)
            assert (ours.exit_code, ours.output) == (full.exit_code, full.output), args
    # the full tree stays whole: the copy did not take its commands away
    assert len(app.registered_groups) == len(names) and app.registered_commands


@pytest.mark.parametrize(
    "argv",
    [[], ["--help"], ["verify", "x.pdf"], ["no-such-group"], ["subscribr"], ["-x", "subscriber"]],
)
def test_anything_but_a_group_gets_the_full_tree(argv: list[str]) -> None:
    """A top-level command (a lone command would become Typer's root), an option first or an
    unknown name (the "did you mean" needs every name) are not cut."""
    assert _only_group(argv) is None


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """An initialised data directory with one subscriber."""
    home = tmp_path_factory.mktemp("startup") / "home"
    yinxin_cli(["init"], home)
    yinxin_cli(
        [
            "subscriber",
            "add-person",
            "--name",
            "测试 甲",
            "--id-number",
            "11010519491231002X",
            "--phone",
            "13800138000",
        ],
        home,
    )
    return home


def test_installed_command_answers_as_the_full_tree(home) -> None:
    """Through ``python -m yinxin.adapters.cli`` (``main()``) and through the full tree, in
    new processes on an initialised home: same exit code, output and errors."""
    for args in (
        ["subscriber", "list", "--kind", "person", "--json"],
        ["audit", "verify"],
        ["cert", "list", "--bogus"],
        ["subscribr", "list"],
        ["subscriber", "show", "999"],  # not found: exit 3
    ):
        ours, full = yinxin_cli(args, home, check=False), _full(args, home)
        assert (ours.returncode, ours.stdout, ours.stderr) == (
            full.returncode,
            full.stdout,
            full.stderr,
        ), args
    listed = yinxin_cli(["subscriber", "list", "--json"], home).stdout
    assert "测试 甲" in listed


def test_a_simple_verb_imports_no_postgresql_dialect_nor_services_it_does_not_use(home):
    """``yinxin subscriber list`` on SQLite: no PostgreSQL dialect (its drivers), no PDF
    engine, no web framework — the imports ``-X importtime`` reports."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "yinxin.adapters.cli", "subscriber", "list"],
        env=yinxin_env(home, PASSPHRASE),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    assert "yinxin.store.models" in imported and "sqlalchemy.dialects.sqlite" in imported
    for heavy in ("sqlalchemy.dialects.postgresql", "asyncpg", "pyhanko", "fastapi"):
        assert heavy not in imported, heavy


# What a simple verb may load: printed by the command's own process when it exits.
MODULES_AT_EXIT = (
    "import atexit, gc, json, sys\n"
    "atexit.register(lambda: sys.stderr.write('\\nMODULES=' + json.dumps(sorted(sys.modules))"
    " + '\\nTHRESHOLD=' + json.dumps(gc.get_threshold()) + '\\n'))\n"
    "from yinxin.adapters.cli import main\n"
    "main()\n"
)
# Stacks no listing needs: the PDF and OFD engines, the web server, templates, image and font
# code, Alembic (the schema is current), PostgreSQL's dialect and drivers, and the services
# and command modules of other groups.
HEAVY = (
    "pyhanko",
    "pypdfium2",
    "PIL",
    "fontTools",
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic",
    "jinja2",
    "httpx",
    "alembic",
    "psycopg",
    "sqlalchemy.dialects.postgresql",
    "yinxin.pdf",
    "yinxin.ofd",
    "yinxin.signing",
    "yinxin.contracts",
    "yinxin.archive",
    "yinxin.handover",
    "yinxin.access",
    "yinxin.jobs",
    "yinxin.adapters.http",
    "yinxin.adapters.web",
)


def _modules_after(args: list[str], home) -> tuple[set[str], list[int]]:
    proc = subprocess.run(
        [sys.executable, "-c", MODULES_AT_EXIT, *args],
        env=yinxin_env(home, PASSPHRASE),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    found = dict(line.split("=", 1) for line in proc.stderr.splitlines() if "=" in line)
    return set(json.loads(found["MODULES"])), json.loads(found["THRESHOLD"])


# What no listing loads either: the PKI (``cryptography``, asn1crypto, our key, PIN, KEK and
# authority code). The certificates and the seal service get the authority and the KEK as
# callables (``app.py``) and import the PKI inside the verbs that parse, issue or seal.
NO_PKI = ("cryptography", "asn1crypto", "bcrypt", "yinxin.pki", "yinxin.registry.ca")


@pytest.fixture(scope="module")
def world_home(tmp_path_factory):
    """An initialised data directory with certificates (platform-held keys) and seals, so the
    listings below render rows."""
    home = tmp_path_factory.mktemp("startup-world") / "home"
    p = new_platform(home)
    try:
        w = build_world(p)
        assert len(p.certificates.list()) == 2 and len(p.seals.list()) == 2
        yield home, w.yi.seal.es_id
    finally:
        p.close()


@pytest.mark.parametrize(
    ("args", "cli_module", "light", "not_loaded"),
    [
        (["subscriber", "list"], None, True, ()),
        (["audit", "verify"], None, True, ()),
        # the notifier (gateways, templates, send log) is built when a change needs it
        (["cert", "list"], None, False, ("yinxin.notify", "yinxin.store.models.notify")),
        (["cert", "list", "--json"], None, False, ("yinxin.notify",)),
        # the seal service builds its key, record and issuance parts on first use
        (
            ["seal", "list"],
            "yinxin.adapters.cli.seals",
            False,
            (
                "yinxin.seals.pin",
                "yinxin.seals.records",
                "yinxin.seals.issuance",
                "yinxin.seals.seseal",
                "yinxin.seals.render",
            ),
        ),
        (["seal", "show", "{seal}"], "yinxin.adapters.cli.seals", False, ("yinxin.seals.pin",)),
    ],
)
def test_a_simple_verb_loads_its_own_group_and_no_heavy_stack(
    world_home, args, cli_module, light, not_loaded
):
    """The modules a simple verb's process holds when it exits, on a home with certificates
    and seals: of the command modules only ``common`` and the named group's; none of
    ``HEAVY`` and none of ``NO_PKI``; nor what ``not_loaded`` names for that verb; for the
    registry's subscriber list and the audit check also none of the table modules
    (``store.models.seals``…) beside the core tables. The collector ran with the one-shot
    threshold."""
    home, seal = world_home
    loaded, threshold = _modules_after([a.format(seal=seal) for a in args], home)

    def has(name: str) -> bool:
        return any(m == name or m.startswith(name + ".") for m in loaded)

    assert "yinxin.store.models" in loaded and "sqlalchemy.orm" in loaded  # the probe works
    assert "yinxin.registry.views" in loaded or args[0] == "audit"
    cli = {m for m in loaded if m.startswith("yinxin.adapters.cli.")}
    assert cli == {"yinxin.adapters.cli.common", *([cli_module] if cli_module else [])}
    assert [h for h in HEAVY if has(h)] == []
    assert [h for h in NO_PKI if has(h)] == []
    assert [h for h in not_loaded if has(h)] == []
    if light:
        assert {m for m in loaded if m.startswith("yinxin.store.models.")} == set()
    assert threshold[0] == 10_000


def test_long_running_commands_keep_the_collector_thresholds(home) -> None:
    """``serve`` and ``worker`` run for days: ``main()`` leaves their collector as Python's
    default (asked for their help here, which parses the same way and returns at once)."""
    _, threshold = _modules_after(["worker", "--help"], home)
    assert threshold == list(gc.get_threshold()) and threshold[0] != 10_000


def test_whole_tree_and_cut_down_roots_mount_the_same_objects() -> None:
    """``MOUNTED`` names every group and command the whole tree has besides the root's own,
    in ``--help`` order, and the cut-down root for a group holds the very Typer the whole tree
    mounts."""
    import yinxin.adapters.cli as cli

    tree = cli.full_tree()
    assert tree is app
    groups = [g.name for g in tree.registered_groups]
    commands = [c.name or c.callback.__name__ for c in tree.registered_commands]
    assert groups[:4] == ["subscriber", "cert", "audit", "plan"]
    assert commands[:3] == ["init", "demo", "serve"]
    assert groups[4:] == [n for n in cli.MOUNTED if n in groups]
    assert commands[3:] == [n for n in cli.MOUNTED if n in commands]
    assert set(groups[4:] + commands[3:]) == set(cli.MOUNTED)
    for g in tree.registered_groups:
        light = _only_group([g.name, "list"])
        assert light is not None
        assert light.registered_groups[0].typer_instance is g.typer_instance
    for name in commands:
        assert _only_group([name]) is None


def _commands(command, path: str = "yinxin"):
    for name, sub in getattr(command, "commands", {}).items():
        yield f"{path} {name}", sub
        yield from _commands(sub, f"{path} {name}")


def _panel_rows(output: str, title: str) -> list[tuple[int, str]]:
    """(room for the summary, the summary column's text) for each line of a help panel, in
    terminal cells (a Chinese character takes two); a continuation line's text starts with a
    space (its name column was empty)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"╭─ {title}"))
    rows, column = [], None
    for line in lines[start + 1 :]:
        if line.startswith("╰"):
            break
        inner = line[1:-1]
        if column is None:  # the first row has a name: the summary starts after its gap
            name_end = len(inner) - len(inner.lstrip()) + len(inner.split()[0])
            column = name_end + len(inner[name_end:]) - len(inner[name_end:].lstrip())
        rows.append(
            (
                cell_len(inner) - column - 1,
                " " + inner[column:] if not inner[:column].strip() else inner[column:],
            )
        )
    return rows


def test_every_command_is_listed_with_a_one_line_summary() -> None:
    """Each command in a ``--help`` list has a summary, and it is the first paragraph of its
    own help with the line breaks of the source joined: Typer's rich lists kept them, so a
    summary over two source lines showed as ragged half-lines. Five commands had none."""
    import typer

    runner = CliRunner()
    listed = list(_commands(typer.main.get_command(app)))
    assert len(listed) > 150
    for path, command in listed:
        summary = command.short_help or command.help or ""  # what the list shows
        assert summary.strip(), f"{path} has no summary"
        assert "\n" not in summary, path
        own = (command.help or "").split("\n\n")[0]
        assert summary == " ".join(own.split()), path
        # the help is read in a terminal: no reStructuredText literals (``x``) left in it
        assert "``" not in (command.help or ""), path
    # as shown: in the commands panel every line of a summary but its last is full (the
    # next word would not have fitted), as rich wraps one text
    for args in ([], ["cert"], ["seal"], ["sign"], ["ca"], ["jobs"]):
        rows = _panel_rows(runner.invoke(app, [*args, "--help"]).output, "Commands")
        for row, following in zip(rows, rows[1:], strict=False):
            width, text = row
            if following[1].startswith(" "):  # the row below continues this summary
                nxt = following[1].split()[0]
                assert cell_len(text.rstrip()) + 1 + cell_len(nxt) > width, (args, text, nxt)
    assert "Reject an application" in runner.invoke(app, ["cert", "--help"]).output


def test_a_commands_own_help_reads_as_paragraphs() -> None:
    """Below the summary, ``--help`` kept the docstring's source line breaks and wrapped each
    line again at the terminal's width ("… YINXIN_CODE, standard" / "input (…"): in every
    paragraph of every command's help, each line but the last is full, as one wrapped text."""
    import typer

    runner = CliRunner()
    ragged = []
    for path, command in _commands(typer.main.get_command(app)):
        if getattr(command, "commands", None):
            continue
        out = runner.invoke(app, [*path.split()[1:], "--help"], terminal_width=80).output
        lines = out.splitlines()
        start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("Usage:"))
        end = next(i for i, line in enumerate(lines) if line.startswith("╭"))
        body = [line.rstrip() for line in lines[start + 1 : end]]
        for line, below in zip(body, body[1:], strict=False):
            text, nxt = line.strip(), below.strip()
            if not text or not nxt or nxt.startswith(("-", "*", "•")) or line.startswith("   "):
                continue
            if cell_len(line) + 1 + cell_len(nxt.split()[0]) <= 79:
                ragged.append((path, text, nxt))
    assert ragged == []


def _help_of(path: str) -> str:
    import typer

    command = typer.main.get_command(app)
    for word in path.split()[:-1]:
        command = command.commands[word]
    option = path.split()[-1]
    return next(p.help for p in command.params if p.name == option)


def test_every_option_says_what_it_is_and_lists_the_values_it_takes() -> None:
    """66 of ~730 options had no help at all (cert apply --profile/--plan/--algorithm, cert
    list --status, seal list --state, sign pdf --x/--y…): a desk officer had to read the code
    for the values. Where an option takes one of a set, its help names every member."""
    import typer

    from yinxin.identity import ID_TYPES
    from yinxin.pki.algorithms import ALGORITHMS
    from yinxin.pki.profiles import SUBSCRIBER_PROFILES
    from yinxin.registry.fees import PLANS
    from yinxin.registry.lifecycle import ApplicationState, CertificateState
    from yinxin.registry.views import SubscriberKind
    from yinxin.seals.catalogue import SealKind
    from yinxin.seals.lifecycle import SealState
    from yinxin.signing.service import Role
    from yinxin.transitions import filter_values

    bare = [
        f"{path} --{p.name}"
        for path, command in _commands(typer.main.get_command(app))
        for p in command.params
        if type(p).__name__ == "TyperOption" and not (p.help or "").strip()
    ]
    assert bare == []
    for path, values in (
        ("subscriber add-person id_type", ID_TYPES),
        ("subscriber list kind", [k.value for k in SubscriberKind]),
        ("cert apply profile", [p.name for p in SUBSCRIBER_PROFILES]),
        ("cert apply plan", PLANS),
        ("cert apply algorithm", ALGORITHMS),
        ("cert applications state", [s.value for s in ApplicationState]),
        ("cert list status", [s.value for s in CertificateState]),
        ("seal list state", filter_values(SealState)),  # not "none": no row is in it
        ("seal list kind", [k.value for k in SealKind]),
        ("sign pdf role", [r.value for r in Role]),
        ("sign local role", [r.value for r in Role]),
        ("sign ofd role", [r.value for r in Role]),
    ):
        shown = _help_of(path)
        missing = [v for v in values if v not in re.findall(r"[\w-]+", shown)]
        assert missing == [], (path, shown)


def test_close_platforms_closes_a_platform_whose_last_reference_is_gone(tmp_path, monkeypatch):
    """A command's platform dies by reference count when its lambda returns, while its
    database engine, linked in cycles, keeps the connection open until the collector comes:
    from ``track_platforms()`` on (``main()`` calls it) ``platform()`` keeps each one, and
    ``close_platforms()`` closes it. Outside ``main()`` nothing is kept."""
    from yinxin.adapters.cli import common

    monkeypatch.setattr(common, "_built", None)  # as in a process that never ran main()
    home = tmp_path / "home"

    def db_open() -> bool:
        return any(
            os.path.realpath(f"/proc/self/fd/{fd}").startswith(str(home))
            for fd in os.listdir("/proc/self/fd")
            if os.path.exists(f"/proc/self/fd/{fd}")
        )

    assert common.platform(home).subscribers.list(None) == []
    assert common._built is None and db_open()  # untracked: left to the collector
    gc.collect()
    assert not db_open()
    common.track_platforms()
    assert common.platform(home).subscribers.list(None) == []
    assert db_open()  # the platform is gone, its connection is not
    common.close_platforms()
    assert not db_open() and not (home / "yinxin.db-wal").exists()
    assert common._built == []


def test_a_platform_that_fails_to_close_is_logged_and_the_others_still_closed(
    monkeypatch, caplog
) -> None:
    """The command has answered by then: a failing ``close()`` (a token gone, say) is logged,
    not raised over the command's exit code, and the platforms after it are still closed."""
    from yinxin.adapters.cli import common

    class Broken:
        def close(self) -> None:
            raise RuntimeError("token gone")

    class Fine:
        closed = False

        def close(self) -> None:
            self.closed = True

    fine = Fine()
    monkeypatch.setattr(common, "_built", [fine, Broken()])  # closed last to first
    common.close_platforms()
    assert fine.closed and common._built == []
    assert "closing the platform failed" in caplog.text and "token gone" in caplog.text


WATCH_COLLECT = (
    "import atexit, gc, sys\n"
    "calls = []\n"
    "real = gc.collect\n"
    "gc.collect = lambda *a: calls.append(a) or real(*a)\n"
    "atexit.register(lambda: sys.stderr.write("
    "f'\\ncollect={len(calls)} frozen={gc.get_freeze_count()}\\n'))\n"
    "from yinxin.adapters.cli import main\n"
    "main()\n"
)


@pytest.mark.parametrize(
    "args",
    [
        ["subscriber", "list"],
        ["audit", "verify"],
        ["cert", "list"],
        [
            *("subscriber", "add-person", "--name", "测试 丙", "--phone", "13800138002"),
            *("--id-number", "110105194912310062", "--json"),
        ],
    ],
)
def test_a_command_closes_its_database_itself_and_skips_the_teardown_without_collecting(home, args):
    """Through ``main()``: the command's platform is closed when it ends, so the process holds
    only the files it inherited and skips the teardown with no garbage collection at all;
    the database is closed and checkpointed (no WAL left)."""
    proc = subprocess.run(
        [sys.executable, "-c", WATCH_COLLECT, *args],
        env=yinxin_env(home, PASSPHRASE),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    report = proc.stderr.rsplit("collect=", 1)[1].split()
    assert report[0] == "0" and int(report[1].removeprefix("frozen=")) > 10_000, proc.stderr
    assert not (home / "yinxin.db-wal").exists()


def test_a_file_dropped_in_an_old_cycle_is_finalized_before_the_teardown_is_skipped(tmp_path):
    """A file the command dropped into a reference cycle, in the collector's oldest generation,
    is still open at the end: ``_skip_teardown`` collects everything, so the file is closed
    (finalized as before), and only then freezes."""
    from yinxin.adapters.cli import _open_files, _skip_teardown

    inherited = _open_files()
    assert inherited is not None

    class Holder:
        pass

    h = Holder()
    h.self = h  # a cycle: only the collector frees it
    h.file = (tmp_path / "dropped.txt").open("w")
    gc.collect()  # promoted to the oldest generation
    name = h.file.name
    del h
    assert any(target == name for target in _open_files().values())
    try:
        _skip_teardown(inherited)
        assert gc.get_freeze_count() > 0
        assert not any(target == name for target in _open_files().values())
    finally:
        gc.unfreeze()


def test_partial_unique_indexes_compile_as_before_on_postgresql_and_sqlite() -> None:
    """Each ``partial_unique`` index gives, on both dialects, the DDL of the index it replaced
    (``sqlite_where`` and ``postgresql_where`` both given), including its ``WHERE``."""
    from sqlalchemy.dialects import postgresql, sqlite

    partial = [ix for t in load_all().tables.values() for ix in t.indexes if ix.info.get("where")]
    assert {ix.name for ix in partial} >= {
        "uq_subscribers_person_id",
        "uq_subscribers_organization_uscc",
        "uq_payments_new_application",
        "uq_seals_live_kind",
    }
    for ix in partial:
        where = ix.info["where"]
        copy = ix.table.to_metadata(MetaData())  # the old-style index must not join our table
        old = Index(
            ix.name,
            *(copy.c[c.name] for c in ix.columns),
            unique=True,
            sqlite_where=text(where),
            postgresql_where=text(where),
        )
        for dialect in (postgresql.dialect(), sqlite.dialect()):
            ours = str(CreateIndex(ix).compile(dialect=dialect))
            assert ours == str(CreateIndex(old).compile(dialect=dialect))
            assert ours.endswith(f"WHERE {where}"), ours


def _full_parse(path):
    import ast

    return ast.parse(path.read_bytes(), str(path)).body


def test_migration_heads_read_from_the_scripts_heads_as_from_the_whole_files(monkeypatch):
    """``script_heads`` parses each script only up to its first ``def``: the same statements
    and the same heads as parsing every script in full, for the real scripts."""
    import ast

    from yinxin.store import db

    scripts = sorted((db.MIGRATIONS / "versions").glob("*.py"))
    assert len(scripts) >= 20
    for path in scripts:
        ours = [ast.dump(n) for n in db._top_statements(path)]
        full = [ast.dump(n) for n in _full_parse(path)]
        assert ours and ours == full[: len(ours)], path.name
    fast = db.script_heads()
    monkeypatch.setattr(db, "_top_statements", _full_parse)
    assert fast == db.script_heads() and fast


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('revision = "a"\ndown_revision = None\n\ndef upgrade():\n    pass\n', ("a", None)),
        # a docstring with a line starting "def": the head does not parse, the whole file does
        ('"""x\ndef f():\n"""\nrevision = "b"\ndown_revision = "a"\n', ("b", "a")),
        # a later assignment wins, as in the whole file
        ('revision = "c"\ndown_revision = "a"\ndef f():\n    pass\nrevision = "d"\n', ("d", "a")),
        ('revision = "e"\ndown_revision = "a"\nasync def f():\n    pass\n', ("e", "a")),
        ('down_revision = "a"\nrevision: str = "f"\n', ("f", "a")),
    ],
)
def test_migration_head_statements_match_the_whole_file(tmp_path, source, expected):
    """Scripts written to trip the shortcut: each gives the assignments a full parse gives."""
    from yinxin.store import db

    path = tmp_path / "m.py"
    path.write_text(source)

    def stated(body) -> tuple:
        values = {}
        for node in body:
            target = node.targets[0] if hasattr(node, "targets") else getattr(node, "target", None)
            if getattr(target, "id", None) in ("revision", "down_revision"):
                values[target.id] = node.value.value
        return values.get("revision"), values.get("down_revision")

    assert stated(db._top_statements(path)) == stated(_full_parse(path)) == expected


WATCH_EXIT = (
    "import atexit, gc, sys\n"
    "atexit.register(lambda: sys.stderr.write(f'frozen={gc.get_freeze_count()}\\n'))\n"
    "from yinxin.adapters.cli import main\n"
    "main()\n"
)


def test_a_command_ends_with_its_database_closed_and_checkpointed(tmp_path):
    """``main()`` collects what the command dropped before it lets the interpreter skip the
    teardown: a write through the installed command leaves no WAL behind (its connection was
    closed and checkpointed, as before), the row is there for the next process, and the exit
    code is the command's."""
    home = tmp_path / "home"
    yinxin_cli(["init"], home)
    env = yinxin_env(home, PASSPHRASE)
    add = [
        *("subscriber", "add-person", "--name", "测试 乙", "--phone", "13800138001"),
        *("--id-number", "110105194912310046", "--json"),
    ]
    proc = subprocess.run(
        [sys.executable, "-c", WATCH_EXIT, *add], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    frozen = int(proc.stderr.rsplit("frozen=", 1)[1])
    assert frozen > 10_000  # the teardown was skipped
    db = home / "yinxin.db"
    assert db.exists() and not db.with_name("yinxin.db-wal").exists()
    assert "测试 乙" in yinxin_cli(["subscriber", "list", "--json"], home).stdout
    again = subprocess.run(
        [sys.executable, "-c", WATCH_EXIT, *add], env=env, capture_output=True, text=True
    )
    assert again.returncode != 0 and "frozen=" in again.stderr  # refused, code kept


def test_the_teardown_is_kept_while_the_command_holds_a_file(tmp_path) -> None:
    """A file (or database, or socket) the command opened and still holds at the end keeps
    the interpreter's full teardown, whose finalisers may need to close it."""
    import gc

    from yinxin.adapters.cli import _open_files, _skip_teardown

    inherited = _open_files()
    assert inherited is not None
    held = (tmp_path / "held.txt").open("w")
    try:
        _skip_teardown(inherited)
        assert gc.get_freeze_count() == 0
    finally:
        held.close()
    try:
        _skip_teardown(inherited)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # this test process goes on collecting as before
