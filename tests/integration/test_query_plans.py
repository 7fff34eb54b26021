"""Every paged list reads a page through an index that holds its order, on SQLite and on
PostgreSQL: a page of a CA's millions of audit events, notifications, job runs, deliveries or
obligations must not scan the table nor sort what its filter kept before the first row comes.

Each list is asked as the API and the CLI ask it (the service call, with the filters they
offer, a first page and a deep one: ``after`` near the end), the SQL it runs captured as it
runs, and each database asked for that SQL's plan: SQLite ``EXPLAIN QUERY PLAN`` (no ``USE
TEMP B-TREE FOR ORDER BY``, no ``SCAN`` of a table without an index when the list is
narrowed), PostgreSQL ``EXPLAIN`` after 20 000 rows a table and ``ANALYZE`` (no Sort, no Seq
Scan of the listed table), so the planner's choice is the one it makes at volume. A change that
loses an index (or a query that stops matching it) fails here; no timing is asserted (the
figures are ``bench/pages``)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Table, event

from yinxin.app import Platform
from yinxin.jobs.runs import history
from yinxin.store.models import Base

N = 20_000  # rows a seeded table holds: enough for PostgreSQL's statistics to prefer an index
BASE = 1_000_000  # the seeded rows' ids start here, past anything the platform wrote itself
DEEP = BASE + N - 20  # an ``after`` near the end: a deep page
ORG = BASE  # the seeded organization: every 10th seeded subscriber is its member
SUBSCRIPTION = BASE  # the seeded webhook subscription holding every seeded delivery

Lister = Callable[[Platform], Any]


def _value(table: Table, column: Any, i: int) -> Any:
    """A plausible value of ``column`` for the ``i``-th seeded row: unique where a column must
    be (it holds ``i``), a seeded parent's id for a foreign key."""
    if column.primary_key:
        return BASE + i
    if column.foreign_keys:
        return None if column.nullable else BASE
    kind = getattr(column.type, "impl_instance", column.type).python_type
    if kind is bool:
        return False
    if kind is int:
        return i
    if kind is float:
        return 1.0
    if kind is Decimal:
        return Decimal(1)
    if kind is dt.datetime:
        return dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i)
    if kind is dt.date:
        return dt.date(2026, 1, 1) + dt.timedelta(days=i % 700)
    if kind is bytes:
        return b"x"
    length = getattr(column.type, "length", None) or 40
    return f"v{i}"[:length]


def seed_rows(conn: Any, name: str, n: int, **vary: Callable[[int], Any]) -> None:
    """``n`` rows in table ``name``, each column plausible (``_value``), those in ``vary``
    from their function of the row's number: the spread the plans are asked under."""
    table = Base.metadata.tables[name]
    for start in range(0, n, 20_000):  # a batch at a time: bench/pages seeds 200 000
        rows = []
        for i in range(start, min(n, start + 20_000)):
            row = {c.name: _value(table, c, i) for c in table.columns}
            row.update({k: f(i) for k, f in vary.items()})
            rows.append(row)
        conn.execute(table.insert(), rows)


def _held_by(holder: int) -> int:
    """A seeded certificate's or seal's ``organization_id`` (``holder_organization``): the
    seeded organization for its members (every 10th seeded subscriber), else the holder."""
    return ORG if (holder - BASE) % 10 == 1 else holder


def _seed_all(p: Platform) -> None:
    """The big tables a CA grows, a parent row for each foreign key, then ANALYZE."""
    states = ["sent"] * 8 + ["failed", "queued"]
    with p.db.engine.begin() as conn:
        seed_rows(
            conn,
            "subscribers",
            N,
            organization_id=lambda i: ORG if i % 10 == 1 else None,
            # the seeded organization, and every 10th subscriber besides (no member): the
            # contracts' owners (an organization owns a contract, never a person)
            kind=lambda i: "organization" if i % 10 == 0 else "person",
        )
        seed_rows(
            conn,
            "contracts",
            N // 4,  # each tracked (contract_tracking), four obligations each
            owner_subscriber_id=lambda i: BASE + (i % 20) * 10,  # 20 organizations
            state=lambda i: "cancelled" if i % 100 == 0 else "signed",
            template_code=lambda i: f"t{i % 3}",
        )
        seed_rows(
            conn,
            "sign_flows",
            N,
            owner_subscriber_id=lambda i: BASE + i % 100,
            state=lambda i: "cancelled" if i % 100 == 0 else "completed",
        )
        seed_rows(
            conn,
            "certificates",
            N,
            subscriber_id=lambda i: BASE + i % 100,
            organization_id=lambda i: _held_by(BASE + i % 100),
            status=lambda i: "revoked" if i % 100 == 0 else "active",
        )
        seed_rows(
            conn,
            "seals",
            N,
            subscriber_id=lambda i: BASE + i % 100,
            organization_id=lambda i: _held_by(BASE + i % 100),
            state=lambda i: "revoked" if i % 100 == 0 else "active",
            kind=lambda i: f"k{i}",  # one live seal of a kind per holder
        )
        seed_rows(
            conn,
            "applications",
            N,
            state=lambda i: "pending" if i % 100 == 0 else "approved",
        )
        seed_rows(
            conn,
            "archived_documents",
            N,
            state=lambda i: "superseded" if i % 100 == 0 else "active",
        )
        seed_rows(
            conn,
            "signing_authorizations",
            N,
            holder_subscriber_id=lambda i: BASE + i % 100,
            state=lambda i: "withdrawn" if i % 100 == 0 else "active",
        )
        seed_rows(
            conn,
            "contract_tracking",
            N // 4,
            contract_id=lambda i: BASE + i,
            stage=lambda i: "live",
        )
        seed_rows(
            conn,
            "obligations",
            N,
            contract_id=lambda i: BASE + i // 4,
            due_on=lambda i: (
                None if i % 3 == 0 else dt.date(2026, 1, 1) + dt.timedelta(days=i % 700)
            ),
            state=lambda i: "open",
        )
        seed_rows(
            conn,
            "audit_events",
            N,
            seq=lambda i: BASE + i,
            action=lambda i: f"action.{i % 4}",
            subject_type=lambda i: ("certificate", "seal", "flow", "contract")[i % 4],
            subject_id=lambda i: str(i % 5),
        )
        seed_rows(
            conn,
            "notifications",
            N,
            status=lambda i: states[i % 10],
            subscriber_id=lambda i: BASE + i % 4,
        )
        seed_rows(
            conn,
            "job_runs",
            N,
            job=lambda i: f"job{i % 12}",
            state=lambda i: "failed" if i % 25 == 0 else "done",
        )
        seed_rows(conn, "desk_contracts", 20, contract_id=lambda i: None)
        seed_rows(
            conn,
            "service_requests",
            N,
            contract_id=lambda i: BASE + i % 20,
            # years of requests closed, a few open: a rare state and a common one
            state=lambda i: "open" if i % 200 == 0 else "record_signed",
            notice_at=lambda i: (
                dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=(i * 37) % N)
            ),
            record_flow_id=lambda i: None,
        )
        seed_rows(
            conn,
            "webhook_subscriptions",
            3,
            state=lambda i: "active",
            owner_organization_id=lambda i: None,
        )
        seed_rows(
            conn,
            "webhook_deliveries",
            N,
            subscription_id=lambda i: BASE + i % 3,
            state=lambda i: "failed" if i % 4 == 0 else "delivered",
        )
        conn.exec_driver_sql("ANALYZE")  # both: the planner's statistics of these rows


# The lists on the seeded tables: (name, table listed, the call). Each reads a page of its
# table in the order the list gives, narrowed as the API/CLI narrow it.
SEEDED: list[tuple[str, str, Lister]] = [
    ("audit first page", "audit_events", lambda p: p.audit_events(limit=101)),
    ("audit deep page", "audit_events", lambda p: p.audit_events(after=DEEP, limit=101)),
    ("audit by action", "audit_events", lambda p: p.audit_events(action="action.3", limit=101)),
    (
        "audit by action, deep",
        "audit_events",
        lambda p: p.audit_events(action="action.3", after=BASE + N * 3 // 4, limit=101),
    ),
    (
        "audit by subject",
        "audit_events",
        lambda p: p.audit_events(
            subject_type="seal", subject_id="1", after=BASE + N // 2, limit=101
        ),
    ),
    ("notices newest first", "notifications", lambda p: p.notifier.log(limit=50)),
    ("notices by status", "notifications", lambda p: p.notifier.log(status="failed")),
    ("notices of a subscriber", "notifications", lambda p: p.notifier.log(BASE + 3)),
    ("job runs", "job_runs", lambda p: history(p.db)),
    ("job runs of a job", "job_runs", lambda p: history(p.db, job="job3")),
    ("job runs in a state", "job_runs", lambda p: history(p.db, state="failed")),
    (
        "deliveries",
        "webhook_deliveries",
        lambda p: p.webhooks.deliveries(SUBSCRIPTION, after=BASE + N // 2),
    ),
    (
        "deliveries in a state",
        "webhook_deliveries",
        lambda p: p.webhooks.deliveries(SUBSCRIPTION, state="failed", after=BASE + N // 2),
    ),
    (
        "desk requests of a contract",
        "service_requests",
        lambda p: p.desk.list(contract="v3", limit=51),
    ),
    (
        "desk requests of a contract, newest first",
        "service_requests",
        lambda p: p.desk.list(contract="v3", after=BASE + N // 2, limit=51, order="newest"),
    ),
    ("desk requests open", "service_requests", lambda p: p.desk.list(state="open", limit=51)),
    (
        "desk requests closed, deep",
        "service_requests",
        lambda p: p.desk.list(state="record_signed", after=BASE + N // 2, limit=51),
    ),
    ("obligations first page", "obligations", lambda p: p.obligations.overview()),
    (
        "obligations deep page",
        "obligations",
        lambda p: p.obligations.overview(after=f"2027-06-10:{BASE + 10}:{BASE + 40}"),
    ),
    (
        "obligations overdue",
        "obligations",
        lambda p: p.obligations.overview(status="overdue", after=f"2026-03-01:{BASE}:{BASE}"),
    ),
    ("obligations pending", "obligations", lambda p: p.obligations.overview(status="pending")),
    (
        "obligations without a due date, deep",
        "obligations",
        lambda p: p.obligations.overview(after=f"none:{BASE + N // 8}:{BASE + N // 2}"),
    ),
    (
        "an organization's members",
        "subscribers",
        lambda p: p.subscribers.list(organization_id=ORG, after=BASE + 100, limit=51),
    ),
]

# The lists narrowed by one column and paged by id, their filter keeping many rows: each reads
# (column, id) in order, where PostgreSQL's index on the column alone sorted what it kept.
BY_ID: list[tuple[str, str, Lister]] = [
    (
        "flows of a big owner",
        "sign_flows",
        lambda p: p.flows.list(owner_subscriber_id=BASE + 3, after=BASE + N // 2),
    ),
    ("flows cancelled", "sign_flows", lambda p: p.flows.list(state="cancelled")),
    ("contracts cancelled", "contracts", lambda p: p.contracts.list(state="cancelled")),
    (
        "contracts of a big owner",
        "contracts",
        lambda p: p.contracts.list(owner_subscriber_id=BASE + 10, oldest_first=True),
    ),
    (
        "certificates revoked",
        "certificates",
        lambda p: p.certificates.list(status="revoked", limit=51),
    ),
    (
        "certificates of a big holder",
        "certificates",
        lambda p: p.certificates.list(subscriber_id=BASE + 3, after=BASE + N // 2, limit=51),
    ),
    ("seals of a big holder", "seals", lambda p: p.seals.list(subscriber_id=BASE + 3, limit=51)),
    ("seals revoked", "seals", lambda p: p.seals.list(state="revoked", limit=51)),
    (
        "applications pending",
        "applications",
        lambda p: p.certificates.applications(limit=51),
    ),
    ("archive superseded", "archived_documents", lambda p: p.archive.page("superseded")),
    (
        "authorizations of a big holder",
        "signing_authorizations",
        lambda p: p.authorizations.list(BASE + 3, limit=51),
    ),
    (
        "authorizations withdrawn",
        "signing_authorizations",
        lambda p: p.authorizations.list(state="withdrawn", limit=51),
    ),
    ("deliveries, first page", "webhook_deliveries", lambda p: p.webhooks.deliveries(SUBSCRIPTION)),
    (
        "certificates of a big organization",
        "certificates",
        lambda p: p.certificates.list(organization_id=ORG, limit=51),
    ),
    ("seals of a big organization", "seals", lambda p: p.seals.list(organization_id=ORG, limit=51)),
    (
        "certificates of an organization, deep",
        "certificates",
        lambda p: p.certificates.list(organization_id=ORG, after=BASE + N // 2, limit=51),
    ),
    (
        "seals of an organization, deep",
        "seals",
        lambda p: p.seals.list(organization_id=ORG, after=BASE + N // 2, limit=51),
    ),
    (
        "certificates of a person on their own as an organization",
        "certificates",
        lambda p: p.certificates.list(organization_id=BASE + 3, limit=51),
    ),
    (
        "seals of a member as an organization",
        "seals",
        lambda p: p.seals.list(organization_id=BASE + 1, limit=51),
    ),
]
# An organization's certificates and seals are its own and its members' (``of_organization``):
# before 0034 one whose members held many rows was read along the primary key, each row's
# holder looked up, and a small one's rows were found through its members and sorted. Each is
# a range of ``(organization_id, id)`` now (``of_organization_held``), whatever its size; a
# member named as the organization (a person's own session) reads its own, ``(subscriber_id,
# id)``.

# The lists on tables left empty here: SQLite plans them by its rules (no statistics), which
# are what it does at volume too; PostgreSQL's plan of an empty table says nothing.
UNSEEDED: list[tuple[str, str, Lister]] = [
    ("flows", "sign_flows", lambda p: p.flows.list(after=DEEP)),
    ("flows of an owner", "sign_flows", lambda p: p.flows.list(owner_subscriber_id=1, after=DEEP)),
    ("flows in a state", "sign_flows", lambda p: p.flows.list(state="completed", after=DEEP)),
    (
        "authorizations of a holder",
        "signing_authorizations",
        lambda p: p.authorizations.list(1, state="active", after=DEEP, limit=51),
    ),
    (
        "webhooks of an organization",
        "webhook_subscriptions",
        lambda p: p.webhooks.list(organization_id=1, after=DEEP, limit=51),
    ),
    ("api keys", "api_keys", lambda p: p.api_keys.list(after=DEEP, limit=51)),
    (
        "seals of a subscriber",
        "seals",
        lambda p: p.seals.list(subscriber_id=1, state="active", after=DEEP, limit=51),
    ),
    (
        "certificates by status",
        "certificates",
        lambda p: p.certificates.list(status="active", after=DEEP, limit=51),
    ),
    (
        "certificates of a subscriber",
        "certificates",
        lambda p: p.certificates.list(subscriber_id=1, status="active", after=DEEP, limit=51),
    ),
    (
        "applications of an organization",
        "applications",
        lambda p: p.certificates.applications(organization_id=1, after=DEEP, limit=51),
    ),
    ("contracts newest first", "contracts", lambda p: p.contracts.list(after=DEEP)),
    ("contracts in a state", "contracts", lambda p: p.contracts.list(state="signed", after=DEEP)),
    (
        "contracts of an owner",
        "contracts",
        # an owner that exists (an unknown one is refused before any page is read)
        lambda p: p.contracts.list(owner_subscriber_id=ORG, after=DEEP, oldest_first=True),
    ),
    ("desk contracts", "desk_contracts", lambda p: p.desk.contracts(after=DEEP, limit=51)),
    ("service requests", "service_requests", lambda p: p.desk.list(limit=51)),
    (
        "service requests newest first",
        "service_requests",
        lambda p: p.desk.list(limit=51, order="newest"),
    ),
    ("archive", "archived_documents", lambda p: p.archive.page(after=DEEP)),
]


@contextmanager
def _captured(p: Platform) -> Iterator[list[tuple[str, Any]]]:
    """The statements the platform's readers and writers run meanwhile, with their values;
    not a SQLite reader's ``BEGIN``, which starts its snapshot and reads nothing. On
    PostgreSQL the reader engine is the writer's with options (one pool, whose events both
    hear): it is listened to once."""
    got: list[tuple[str, Any]] = []

    def hear(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement != "BEGIN":
            got.append((statement, parameters))

    engines = {id(e.pool): e for e in (p.db.engine, p.db.read_engine)}.values()
    for e in engines:
        event.listen(e, "before_cursor_execute", hear)
    try:
        yield got
    finally:
        for e in engines:
            event.remove(e, "before_cursor_execute", hear)


def _page_queries(p: Platform, table: str, call: Lister) -> list[tuple[str, Any]]:
    """The page queries ``call`` runs: SELECTs from ``table`` with an ORDER BY and a LIMIT.
    What the call does with the seeded rows after reading them (they are plausible, not
    real: a view may refuse one) is not asked; the reading is."""
    with _captured(p) as got:
        try:
            call(p)
        except Exception:  # noqa: BLE001  (the queries ran; see the docstring)
            pass
    pages = [
        (sql, params)
        for sql, params in got
        if re.match(rf"\s*SELECT\b.*\bFROM {table}\b.*\bORDER BY\b.*\bLIMIT\b", sql, re.S)
    ]
    assert pages, f"no page query of {table} ran: {[s[:80] for s, _ in got]}"
    return pages


def _sqlite_plan(p: Platform, sql: str, params: Any) -> list[str]:
    with p.db.read_engine.connect() as c:
        return [r[3] for r in c.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)]


def _postgres_plan(p: Platform, sql: str, params: Any) -> list[str]:
    with p.db.read_engine.connect() as c:
        return [r[0] for r in c.exec_driver_sql("EXPLAIN " + sql, params)]


def _sqlite_faults(plan: list[str], table: str, narrowed: bool) -> list[str]:
    """What in a SQLite plan reads more than a page: a sort for the ORDER BY, a scan of a
    table (the listed one when narrowed, or any other)."""
    faults = [line for line in plan if "TEMP B-TREE" in line and "ORDER BY" in line]
    for line in plan:
        m = re.match(r"SCAN (\w+)$", line.strip())
        if m and (m[1] != table or narrowed):
            faults.append(line)
    return faults


def _postgres_faults(plan: list[str], table: str) -> list[str]:
    """What in a PostgreSQL plan reads more than a page: a sort, a sequential scan of the
    listed table."""
    return [
        line
        for line in plan
        if re.search(r"\b(Incremental )?Sort\b(?! Key)", line) or f"Seq Scan on {table} " in line
    ]


# What a narrowed list's filter must be in SQLite's plan: a constraint of the index it reads
# (``action=?``), so the rows it walks are the ones it keeps. A list walked along its order
# with the filter tested on every row (``SEARCH audit_events USING INDEX …(seq>?)`` for one
# action) reads the table for a rare value.
SQLITE_SEEKS: dict[str, str] = {
    "audit by action": "action=?",
    "audit by action, deep": "action=?",
    "audit by subject": "subject_id=?",
    "notices by status": "status=?",
    "notices of a subscriber": "subscriber_id=?",
    "job runs of a job": "job=?",
    "job runs in a state": "state=?",
    "deliveries": "subscription_id=?",
    "deliveries in a state": "state=?",
    "obligations overdue": "due_on<?",
    "obligations pending": "due_on=?",
    "obligations without a due date, deep": "due_on=?",
    "an organization's members": "organization_id=?",
    "flows of an owner": "owner_subscriber_id=?",
    "flows in a state": "state=?",
    "authorizations of a holder": "=?",
    "webhooks of an organization": "owner_organization_id=?",
    "seals of a subscriber": "subscriber_id=?",
    "certificates by status": "status=?",
    "certificates of a subscriber": "subscriber_id=?",
    "applications of an organization": "organization_id=?",
    "contracts in a state": "state=?",
    "contracts of an owner": "owner_subscriber_id=?",
    "archive": "state=?",
    "flows of a big owner": "owner_subscriber_id=?",
    "flows cancelled": "state=?",
    "contracts cancelled": "state=?",
    "contracts of a big owner": "owner_subscriber_id=?",
    "certificates revoked": "status=?",
    "certificates of a big holder": "subscriber_id=?",
    "seals of a big holder": "subscriber_id=?",
    "seals revoked": "state=?",
    "applications pending": "state=?",
    "archive superseded": "state=?",
    "authorizations of a big holder": "holder_subscriber_id=?",
    "authorizations withdrawn": "state=?",
    "deliveries, first page": "subscription_id=?",
    "certificates of a big organization": "organization_id=?",
    "seals of a big organization": "organization_id=?",
    "certificates of an organization, deep": "organization_id=?",
    "seals of an organization, deep": "organization_id=?",
    "certificates of a person on their own as an organization": "organization_id=?",
    "seals of a member as an organization": "subscriber_id=?",
    "desk requests of a contract": "contract_id=?",
    "desk requests of a contract, newest first": "contract_id=? AND notice_at<?",
    "desk requests open": "state=?",
    "desk requests closed, deep": "state=? AND notice_at>?",
}


@pytest.fixture(scope="module")
def sqlite_world(tmp_path_factory) -> Iterator[Platform]:
    from tests.clock import real_now
    from tests.conftest import PASSPHRASE, _settings
    from yinxin.clock import FrozenClock

    home = tmp_path_factory.mktemp("plans")
    p = Platform(
        _settings(home, f"sqlite:///{home / 'yinxin.db'}"),
        clock=FrozenClock(real_now()),
        passphrase=PASSPHRASE,
    )
    p.ca.init("ec-p256")
    _seed_all(p)
    yield p
    p.close()


@pytest.fixture(scope="module")
def postgres_world(request, tmp_path_factory) -> Iterator[Platform]:
    from tests.clock import real_now
    from tests.conftest import PASSPHRASE, _settings
    from yinxin.clock import FrozenClock

    url = request.getfixturevalue("pg_cluster").new_database()
    p = Platform(
        _settings(tmp_path_factory.mktemp("plans-pg"), url),
        clock=FrozenClock(real_now()),
        passphrase=PASSPHRASE,
    )
    p.ca.init("ec-p256")
    _seed_all(p)
    yield p
    p.close()


@pytest.mark.parametrize(("name", "table", "call"), SEEDED + BY_ID + UNSEEDED, ids=lambda x: x)
def test_sqlite_reads_a_page_in_index_order(sqlite_world, name, table, call) -> None:
    for sql, params in _page_queries(sqlite_world, table, call):
        plan = _sqlite_plan(sqlite_world, sql, params)
        assert not _sqlite_faults(plan, table, name in SQLITE_SEEKS), (name, plan, sql)
        seek = SQLITE_SEEKS.get(name)
        assert seek is None or any(seek in line for line in plan), (name, seek, plan, sql)


@pytest.mark.postgres
@pytest.mark.parametrize(("name", "table", "call"), SEEDED + BY_ID, ids=lambda x: x)
def test_postgres_reads_a_page_in_index_order(postgres_world, name, table, call) -> None:
    for sql, params in _page_queries(postgres_world, table, call):
        plan = _postgres_plan(postgres_world, sql, params)
        assert not _postgres_faults(plan, table), (name, "\n".join(plan), sql)
