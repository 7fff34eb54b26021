"""``store.queries.by_id``: one row by its id, refused before any query when the id is not a
whole number, ``NotFound`` naming the field when there is no such row — as the contract and
sign-flow services answer through it."""

from __future__ import annotations

import pytest

from yinxin.errors import NotFound, ValidationError
from yinxin.store.models.flows import SignFlow
from yinxin.store.queries import by_id


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


def test_the_row_is_found_and_locked_when_asked(make_platform, clock) -> None:
    p = make_platform(init=False)
    with p.db.transaction() as s:
        row = SignFlow(
            title="t",
            owner_subscriber_id=None,
            created_by="test",
            state="draft",
            signing_order="parallel",
            deadline=clock.now(),
            created_at=clock.now(),
        )
        s.add(row)
        s.flush()
        made = row.id
    with p.db.transaction() as s:
        for lock in (False, True):
            got = by_id(s, SignFlow, made, field="flow_id", not_number="-", missing="-", lock=lock)
            assert got.id == made and got.title == "t"
