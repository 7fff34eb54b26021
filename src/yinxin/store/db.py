"""Engine, sessions and the unit of work; migrations run through Alembic at start-up.

Alembic is loaded only when the schema is behind: at every other start-up one query compares
the database's revision with the heads the migration scripts declare (read from their source).
"""

from __future__ import annotations

import ast
import functools
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from yinxin.store.types import Int4

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str, *, writer: bool = True) -> Engine:
    """An engine; on SQLite a writer engine takes the write lock at BEGIN (so two writers queue
    instead of deadlocking on lock upgrade) while a reader engine never takes it.

    A SQLite reader begins a plain (deferred) transaction and refuses writes (``query_only``):
    the driver's own transaction handling begins one only before a write, so each SELECT of a
    ``Database.read()`` ran on its own and a read of several statements could mix two moments.
    Now its first SELECT takes a WAL snapshot that the rest of the read shares."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        if writer:

            @event.listens_for(engine, "begin")
            def _begin(conn):  # pragma: no cover - trivial
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        else:

            @event.listens_for(engine, "connect")
            def _reader(dbapi_conn, _record):  # pragma: no cover - trivial
                dbapi_conn.isolation_level = None  # the driver begins nothing; we do, below
                dbapi_conn.execute("PRAGMA query_only=ON")

            @event.listens_for(engine, "begin")
            def _begin_read(conn):  # pragma: no cover - trivial
                conn.exec_driver_sql("BEGIN")

        engine.dialect._yinxin_sqlite = True  # type: ignore[attr-defined]
        return engine
    return postgres_engine(url, pool_pre_ping=True)


class _Int4Parameter(BigInteger):
    """How an ``Int4`` value is bound on PostgreSQL: as a BIGINT (see ``postgres_engine``)."""

    render_bind_cast = True


def postgres_engine(url: str, **options) -> Engine:
    """An engine on PostgreSQL that gives the values of the models' ``int`` columns (``Int4``:
    ids, foreign keys, counts) as BIGINT.

    Those columns are INTEGER there (int4), while the API and the CLI take ids up to 2**62 and
    SQLite's ids are 64-bit. SQLAlchemy's psycopg dialect casts a parameter to its column's
    type (``WHERE id = %(id)s::INTEGER``), so looking a row up by an id past 2**31 - 1 failed
    as "integer out of range" (an HTTP 500) where SQLite found no row. Cast to BIGINT the value
    compares with the INTEGER column (its index still serves: int4 = int8 is one of btree's
    integer operators) and finds nothing, as on SQLite; a write of a value past INTEGER is
    still refused by the column. Other whole numbers (SQLAlchemy's own catalog queries, a
    BIGINT or SMALLINT column, a LIMIT) keep their casts."""
    engine = create_engine(_driver_url(url), **options)
    engine.dialect.colspecs = {**engine.dialect.colspecs, Int4: _Int4Parameter}
    return engine


def _driver_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    with engine.begin() as conn:
        upgrade(conn)


def upgrade(conn: Connection, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` on ``conn``, in its transaction."""
    from alembic import command

    cfg = alembic_config(conn.engine.url.render_as_string(hide_password=False))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


def script_heads() -> frozenset[str] | None:
    """The head revisions of the migration scripts, read from their ``revision`` and
    ``down_revision`` assignments without loading Alembic; ``None`` when a script does not
    state them as plain literals (then only Alembic can tell)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        stated: dict[str, object] = {}
        for node in _top_statements(path):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                target, value = node.target, node.value
            else:
                continue
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                try:
                    stated[target.id] = ast.literal_eval(value)
                except ValueError:
                    return None
        revision, down = stated.get("revision"), stated.get("down_revision", ())
        if not isinstance(revision, str):
            return None
        if down is None or isinstance(down, str):
            down = () if down is None else (down,)
        if not (isinstance(down, tuple | list) and all(isinstance(d, str) for d in down)):
            return None
        revisions.add(revision)
        parents.update(down)
    return frozenset(revisions - parents) or None


_FIRST_DEF = re.compile(rb"^(?:async\s+)?def\s", re.M)
_NAMES_STATED = re.compile(rb"^(?:revision|down_revision)\b", re.M)


def _top_statements(path: Path) -> list[ast.stmt]:
    """The top-level statements of a migration script up to its first top-level ``def``, or
    all of them when that part alone cannot tell ``revision`` and ``down_revision``.

    Parsing every script in full took ~50 ms of each command's start-up; the assignments
    stand above ``upgrade()``. The head alone gives the same statements as the whole file:
    a cut at a line starting ``def`` inside a string or bracket leaves that unclosed, and
    parsing fails, so the whole file is parsed; a cut outside one is a statement boundary.
    If the rest of the file has a line starting with either name (a later assignment would
    win), the whole file is parsed too."""
    source = path.read_bytes()
    cut = _FIRST_DEF.search(source)
    if cut is not None and not _NAMES_STATED.search(source, cut.start()):
        try:
            return ast.parse(source[: cut.start()], str(path)).body
        except SyntaxError:
            pass
    return ast.parse(source, str(path)).body


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (``None`` for in-memory or other databases)."""
    if not url.startswith("sqlite"):
        return None
    name = make_url(url).database
    return Path(name) if name and name != ":memory:" else None


def make_private(path: Path) -> None:
    """Create the SQLite file readable by its owner only, and take group and other bits off an
    existing one (and its ``-wal``/``-shm``). SQLite gives the ``-wal`` and ``-shm`` files the
    mode of the database file, so creating that one 0600 keeps all three private: they hold
    subscriber data and the sealed keys."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = p.stat().st_mode & 0o777
            if mode & 0o077:
                os.chmod(p, mode & 0o700)
        except FileNotFoundError:
            pass


def add_unique(s: Session, row: object, *, lost_race: Exception) -> None:
    """Add ``row`` and write it now, so that a unique index decides between two parallel calls
    that both passed the service's check for an existing row before either wrote (PostgreSQL):
    the second one is refused with ``lost_race``. Build ``lost_race`` before the call: a failed
    flush expires the session's objects, and reading one then would query again."""
    s.add(row)
    try:
        s.flush()
    except IntegrityError:
        raise lost_race from None


class Database:
    def __init__(self, url: str):
        self.url = url
        db_file = sqlite_path(url)
        if db_file is not None:
            make_private(db_file)
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if url.startswith("sqlite"):
            self.read_engine = make_engine(url, writer=False)
        else:
            # One snapshot for the whole read: READ COMMITTED, PostgreSQL's default, gives
            # each statement its own, so a read of several statements (a page of obligations,
            # then their payments) could show a row committed between two of them next to
            # rows read before it. The option engine shares the writer's pool; SQLAlchemy sets
            # both characteristics on checkout and resets them when the connection returns.
            self.read_engine = self.engine.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        self._readers = sessionmaker(self.read_engine, expire_on_commit=False)

    @functools.cached_property
    def lookup_engine(self) -> Engine:
        """For one-row reads on a hot path (``StatusService.lookup``, every OCSP request and
        every signature's revocation evidence): a small pool of its own, each connection in
        autocommit and checked out for one query only, with no ping before it.

        These reads used to keep a raw connection per thread, taken from the sessions' pool and
        never given back: once more threads had looked up a status than that pool holds (5 + 10;
        a server's thread pool has 40), every session of the process waited 30 s and failed
        (the concurrent-signing stress test's 500s). Here a query holds its connection only
        while it runs and never waits for another one, so neither pool can starve."""
        if self.url.startswith("sqlite"):
            return make_engine(self.url, writer=False)
        return postgres_engine(
            self.url,
            pool_size=4,
            max_overflow=12,
            pool_use_lifo=True,
            isolation_level="AUTOCOMMIT",
        )

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: everything in it commits together or not at all."""
        session = self._sessions()
        try:
            with session.begin():
                yield session
        finally:
            session.close()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only look at one moment of the database: every statement in it sees the same
        snapshot (PostgreSQL: REPEATABLE READ READ ONLY; SQLite: one read transaction), so a
        commit made meanwhile shows in none of them, and a write is refused. Don't wait in one
        for another process's commit: open a new read per look. Objects stay readable
        afterwards (close() does not expire them)."""
        session = self._readers()
        try:
            yield session
        finally:
            session.close()

    @contextmanager
    def exclusive(self, key: int) -> Iterator[Session]:
        """A transaction that holds a database-wide lock named by ``key`` until it ends: for
        rare one-off jobs that must not run twice at once across processes (creating the
        platform KEK). PostgreSQL: a transaction-level advisory lock; SQLite: the write lock,
        which a writer transaction takes at ``BEGIN``."""
        with self.transaction() as s:
            self.lock(s, key)
            yield s

    def lock(self, s: Session, key: int) -> None:
        """Hold the database-wide lock named by ``key`` (a signed 64-bit integer) until the
        transaction of ``s`` ends, waiting for whoever holds it: on PostgreSQL a
        transaction-level advisory lock, on SQLite the write lock, which a writer transaction
        took at ``BEGIN``. What ``s`` reads after it, another holder's commit included, decides
        before anyone else with the key may: a check-then-write with no unique index to decide
        it (``Subscribers`` claiming a self-registration's mobile number)."""
        if self.engine.dialect.name == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        else:
            s.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock is ours

    def migrate(self) -> None:
        """Bring the schema to the newest migration; a database already there costs one query."""
        if not self.at_head():
            migrate(self.engine)

    @contextmanager
    def setting_up(self) -> Iterator[None]:
        """The schema brought to the newest migration for a block that fills it (``yinxin
        init``). On PostgreSQL both are one transaction: the migration runs on a connection
        whose transaction every session of this database joins (a block's own transaction is
        a savepoint in it) and commits when the block ends; if the block raises, it is rolled
        back, tables and all, and the database is as it was — a new one empty, one at an older
        schema still at it. On SQLite (a new file the caller removes) it migrates first."""
        if self.engine.dialect.name != "postgresql" or self.at_head():
            self.migrate()
            yield
            return
        with self.engine.connect() as conn, conn.begin():
            upgrade(conn)
            joined = sessionmaker(
                bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
            )
            sessions, readers = self._sessions, self._readers
            self._sessions = self._readers = joined
            try:
                yield
            finally:
                self._sessions, self._readers = sessions, readers

    def at_head(self) -> bool:
        """Whether the database is at exactly the heads of the migration scripts."""
        heads = script_heads()
        if heads is None:
            return False
        try:
            with self.read_engine.connect() as conn:
                current = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
                return frozenset(current) == heads
        except SQLAlchemyError:  # no alembic_version table: a new database
            return False

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()
        if "lookup_engine" in self.__dict__:
            self.lookup_engine.dispose()
