"""The hash-chained audit trail: any edit or deletion is detected and the first broken event named,
by ``Platform.verify_audit()`` and by ``yinxin audit verify``."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from tests.conftest import PASSPHRASE
from yinxin.adapters.cli import app
from yinxin.app import Platform
from yinxin.identity import id_card_check_char
from yinxin.store.models import AuditEvent, AuditHead


def person_id(n: int) -> str:
    body = f"11010519900307{n:03d}"
    return body + id_card_check_char(body)


@pytest.fixture
def chain(platform: Platform, clock) -> Platform:
    """An initialised CA (4 events) plus a few registrations: 10 events in all."""
    for i in range(6):
        clock.advance(minutes=1)
        platform.subscribers.add_person(
            name=f"测试{i}", id_number=person_id(i), phone=f"1380013{i:04d}", actor=f"ra-{i}"
        )
    return platform


def events(p: Platform) -> list[AuditEvent]:
    with p.db.read() as s:
        return list(s.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars())


def tamper(p: Platform, seq: int, **values) -> None:
    with p.db.transaction() as s:
        n = s.execute(update(AuditEvent).where(AuditEvent.seq == seq).values(**values)).rowcount
        assert n == 1


def drop(p: Platform, seq: int) -> None:
    with p.db.transaction() as s:
        assert s.execute(delete(AuditEvent).where(AuditEvent.seq == seq)).rowcount == 1


def cli_verify(p: Platform, *extra: str):
    return CliRunner().invoke(
        app,
        ["audit", "verify", "--home", str(p.settings.home), *extra],
        env={"YINXIN_CA_PASSPHRASE": PASSPHRASE, "YINXIN_DATABASE_URL": p.settings.database_url},
    )


def assert_broken_at(p: Platform, seq: int) -> None:
    v = p.verify_audit()
    assert not v.ok
    assert v.first_broken == seq, v
    assert v.events == seq - 1  # everything before it verified
    assert v.problem
    res = cli_verify(p)
    assert res.exit_code != 0
    assert f"event {seq}" in res.stderr, res.stderr
    res = cli_verify(p, "--json")
    assert res.exit_code != 0
    out = json.loads(res.stdout)
    assert out["ok"] is False and out["first_broken"] == seq


def test_an_untouched_chain_verifies(chain: Platform) -> None:
    evs = events(chain)
    assert [e.seq for e in evs] == list(range(1, len(evs) + 1))
    assert len(evs) == 11  # init: 5 authority certificates; then the desk work
    assert evs[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in zip(evs, evs[1:], strict=False))
    v = chain.verify_audit()
    assert v.ok and v.events == 11 and v.first_broken is None
    res = cli_verify(chain)
    assert res.exit_code == 0, res.output
    assert "11 audit events" in res.stdout
    assert json.loads(cli_verify(chain, "--json").stdout) == v.to_dict()


def test_each_event_is_chained_as_it_is_written(chain: Platform, clock) -> None:
    before = events(chain)
    chain.subscribers.add_person(name="新人", id_number=person_id(99), phone="13900000000")
    after = events(chain)
    assert [e.hash for e in after[:-1]] == [e.hash for e in before]
    new = after[-1]
    assert new.seq == before[-1].seq + 1 and new.prev_hash == before[-1].hash
    assert new.action == "subscriber.registered" and new.at == clock.now()
    with chain.db.read() as s:
        head = s.get(AuditHead, 1)
        assert (head.seq, head.hash) == (new.seq, new.hash)
    assert chain.verify_audit().events == len(after)


MIDDLE = 6


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda e: {"data": e.data.replace("测试", "改动")}, id="data"),
        pytest.param(
            lambda e: {"data": json.dumps({**json.loads(e.data), "extra": 1})}, id="data-added-key"
        ),
        pytest.param(lambda e: {"action": "subscriber.deleted"}, id="action"),
        pytest.param(lambda e: {"actor": "somebody-else"}, id="actor"),
        pytest.param(lambda e: {"at": e.at - dt.timedelta(seconds=1)}, id="at"),
        pytest.param(lambda e: {"at": e.at + dt.timedelta(days=365)}, id="at-year"),
        pytest.param(lambda e: {"subject_id": "999"}, id="subject_id"),
        pytest.param(lambda e: {"subject_type": "certificate"}, id="subject_type"),
        pytest.param(lambda e: {"hash": "f" * 64}, id="hash"),
        pytest.param(lambda e: {"prev_hash": "0" * 64}, id="prev_hash"),
    ],
)
def test_editing_a_middle_event_is_detected_there(chain: Platform, change) -> None:
    ev = events(chain)[MIDDLE - 1]
    values = change(ev)
    assert any(getattr(ev, k) != v for k, v in values.items()), "the change must change something"
    tamper(chain, MIDDLE, **values)
    assert_broken_at(chain, MIDDLE)


@pytest.mark.parametrize("seq", [1, 10], ids=["first", "last"])
def test_editing_the_first_or_last_event_is_detected(chain: Platform, seq: int) -> None:
    tamper(chain, seq, actor="mallory")
    assert_broken_at(chain, seq)


def test_putting_an_edit_back_makes_the_chain_whole_again(chain: Platform) -> None:
    original = events(chain)[MIDDLE - 1].actor
    tamper(chain, MIDDLE, actor="mallory")
    assert not chain.verify_audit().ok
    tamper(chain, MIDDLE, actor=original)
    assert chain.verify_audit().ok


def test_an_edit_with_its_own_hash_recomputed_breaks_the_next_link(chain: Platform) -> None:
    from yinxin.store.audit import _link, _payload

    ev = events(chain)[MIDDLE - 1]  # detached: the edit below stays in memory
    ev.actor = "mallory"
    tamper(chain, MIDDLE, actor="mallory", hash=_link(ev.prev_hash, _payload(ev)))
    assert_broken_at(chain, MIDDLE + 1)


@pytest.mark.parametrize("seq", [1, 2, MIDDLE, 9])
def test_deleting_an_event_before_the_last_is_detected(chain: Platform, seq: int) -> None:
    drop(chain, seq)
    assert_broken_at(chain, seq)
    assert "missing" in chain.verify_audit().problem


def test_deleting_the_last_event_is_detected(chain: Platform) -> None:
    drop(chain, 10)
    assert_broken_at(chain, 10)


def test_deleting_the_last_events_is_detected(chain: Platform) -> None:
    for seq in (10, 9, 8):
        drop(chain, seq)
    assert_broken_at(chain, 8)


def test_deleting_every_event_is_detected(chain: Platform) -> None:
    with chain.db.transaction() as s:
        s.execute(delete(AuditEvent))
    assert_broken_at(chain, 1)


def test_deleting_the_head_is_detected(chain: Platform) -> None:
    with chain.db.transaction() as s:
        s.execute(delete(AuditHead))
    v = chain.verify_audit()
    assert not v.ok
    res = cli_verify(chain)
    assert res.exit_code != 0


def test_swapping_two_events_is_detected(chain: Platform) -> None:
    a, b = events(chain)[3:5]
    cols = ("at", "actor", "action", "subject_type", "subject_id", "data", "prev_hash", "hash")
    tamper(chain, a.seq, **{c: getattr(b, c) for c in cols})
    tamper(chain, b.seq, **{c: getattr(a, c) for c in cols})
    assert_broken_at(chain, a.seq)
