"""``ApiKeys.record_use`` on SQLite and PostgreSQL: due once a minute, written once, and not a
write at all when the key was used within the minute (the HTTP side: test_api)."""

from __future__ import annotations

import datetime as dt

from yinxin.app import Platform
from yinxin.clock import FrozenClock


def test_last_use_is_due_once_a_minute_and_written_once(any_platform: Platform, clock) -> None:
    keys = any_platform.api_keys
    assert isinstance(clock, FrozenClock)
    issued = keys.create(name="oa", role="integration", actor="test")
    first = keys.authenticate(issued.secret)
    assert first.use_due and keys.get(issued.key.id).last_used_at is None
    keys.record_use(issued.key.id)
    stamped = keys.get(issued.key.id).last_used_at
    assert stamped == clock.now()
    clock.advance(seconds=30)
    assert not keys.authenticate(issued.secret).use_due
    keys.record_use(issued.key.id)  # within the minute: the conditional update matches nothing
    assert keys.get(issued.key.id).last_used_at == stamped
    clock.advance(seconds=31)
    assert keys.authenticate(issued.secret).use_due
    keys.record_use(issued.key.id)
    keys.record_use(issued.key.id)  # a second request of that minute: no second write
    assert keys.get(issued.key.id).last_used_at == stamped + dt.timedelta(seconds=61)
