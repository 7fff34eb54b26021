"""``store.queries``: ``by_id`` (one row by its id, refused before any query when the id is
not a whole number, ``NotFound`` naming the field when there is no such row — as the contract
and sign-flow services answer through it) and ``paged``/``cut`` (a page one row longer than
asked, in either id order, and the cursor for the next)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from yinxin.adapters.cli import app
from yinxin.errors import NotFound, ValidationError
from yinxin.jobs import history
from yinxin.store.models.flows import SignFlow
from yinxin.store.queries import by_id, cut, paged, select_where


def _refusal(fn, kind: type[Exception]) -> Exception:
    with pytest.raises(kind) as e:
        fn()
    return e.value


@pytest.mark.parametrize("bad", [True, "1", 1.0, None])
def test_an_id_that_is_not_a_whole_number_is_refused_naming_the_field(make_platform, bad) -> None:
    p = make_platform(init=False)
    e = _refusal(lambda: p.flows.get(bad), ValidationError)
    assert (e.message, e.field) == ("a flow id is a number", "flow_id")
    e = _refusal(lambda: p.contracts.get(bad), ValidationError)
    assert (e.message, e.field) == ("a contract id is a number", "contract_id")


def test_an_id_with_no_row_is_not_found_naming_the_field(make_platform) -> None:
    p = make_platform(init=False)
    e = _refusal(lambda: p.flows.get(404), NotFound)
    assert (e.message, e.field) == ("no sign flow 404", "flow_id")
    e = _refusal(lambda: p.contracts.get(404), NotFound)
    assert (e.message, e.field) == ("no contract 404", "contract_id")


def _flows(p, clock, n: int) -> list[int]:
    with p.db.transaction() as s:
        rows = [
            SignFlow(
                title="t",
                owner_subscriber_id=None,
                created_by="test",
                state="draft",
                signing_order="parallel",
                deadline=clock.now(),
                created_at=clock.now(),
            )
            for _ in range(n)
        ]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def test_the_row_is_found_and_locked_when_asked(make_platform, clock) -> None:
    p = make_platform(init=False)
    (made,) = _flows(p, clock, 1)
    with p.db.transaction() as s:
        for lock in (False, True):
            got = by_id(s, SignFlow, made, field="flow_id", not_number="-", missing="-", lock=lock)
            assert got.id == made and got.title == "t"


@pytest.mark.parametrize("newest_first", [False, True])
def test_pages_in_either_order_end_with_no_cursor(make_platform, clock, newest_first) -> None:
    p = make_platform(init=False)
    made = _flows(p, clock, 5)
    want = sorted(made, reverse=newest_first)
    seen, after = [], None
    with p.db.read() as s:
        for _ in range(3):
            q = paged(
                select_where(SignFlow), SignFlow.id, after=after, limit=3, newest_first=newest_first
            )
            rows, after = cut(list(s.execute(q).scalars()), 2)
            seen.append([r.id for r in rows])
    assert seen == [want[:2], want[2:4], want[4:]]
    assert after is None  # the last page says so
    assert cut([], 2) == ([], None)


def test_refresh_reads_the_row_again_over_what_the_session_holds(make_platform, clock) -> None:
    p = make_platform(init=False)
    (made,) = _flows(p, clock, 1)
    with p.db.transaction() as s, s.no_autoflush:
        held = by_id(s, SignFlow, made, field="flow_id", not_number="-", missing="-")
        held.title = "changed in memory only"
        again = by_id(s, SignFlow, made, field="flow_id", not_number="-", missing="-")
        assert again is held and again.title == "changed in memory only"
        again = by_id(s, SignFlow, made, field="flow_id", not_number="-", missing="-", refresh=True)
        assert again is held and again.title == "t"  # as stored


def test_one_or_404_answers_for_staff_users_and_application_documents(make_platform) -> None:
    p = make_platform(init=False)
    e = _refusal(lambda: p.staff.get(" Nobody "), NotFound)  # looked up as "nobody"
    assert (e.message, e.field) == ("no staff user ' Nobody '", "username")
    e = _refusal(lambda: p.staff.unlock("nobody", actor="t"), NotFound)  # the locking read
    assert (e.message, e.field) == ("no staff user 'nobody'", "username")
    e = _refusal(lambda: p.application_documents.get(1, 7), NotFound)
    assert (e.message, e.field) == ("no document 7", "document_id")


LISTINGS = [
    ("certificates", lambda p, v: p.certificates.list(status=v), "status", "revoked"),
    ("applications", lambda p, v: p.certificates.applications(v), "state", "rejected"),
    ("seal states", lambda p, v: p.seals.list(state=v), "state", "frozen"),
    ("seal kinds", lambda p, v: p.seals.list(kind=v), "kind", "finance"),
    ("subscribers", lambda p, v: p.subscribers.list(v), "kind", "device"),
    ("job runs", lambda p, v: history(p.db, state=v), "state", "failed"),
]


@pytest.mark.parametrize(
    ("what", "listing", "field", "known"), LISTINGS, ids=[x[0] for x in LISTINGS]
)
def test_a_listing_filter_that_is_no_state_or_kind_is_refused(
    make_platform, what, listing, field, known
) -> None:
    """A misspelt filter matched no row, and the empty answer read as "there are none"
    (``yinxin cert list --status revokd`` printed nothing and exited 0). It is refused naming
    the field and the values it takes; a real one, and none, still answer."""
    p = make_platform(init=False)
    e = _refusal(lambda: listing(p, "revokd"), ValidationError)
    assert e.field == field and "revokd" in e.message and known in e.message
    assert listing(p, known) == [] and listing(p, None) == [] and listing(p, "") == []


def test_the_command_line_refuses_a_misspelt_filter_with_exit_2(make_platform) -> None:
    p = make_platform(init=False)
    home = str(p.settings.home)
    for args in (["cert", "list", "--status", "revokd"], ["seal", "list", "--kind", "公章"]):
        r = CliRunner().invoke(app, [*args, "--home", home])
        assert r.exit_code == 2, r.output
        assert "must be one of" in r.output and args[-1] in r.output
    r = CliRunner().invoke(app, ["cert", "list", "--status", "revoked", "--home", home])
    assert r.exit_code == 0 and r.stdout == "" and r.stderr == "(none)\n"  # empty, and said
