"""The verdict of a PIN tried on a platform-held key, recorded on the key row.

A seal's signature and a holder's rekey both open the same kind of key with a PIN, and a wrong
PIN must count toward one lock whichever of them tried it (``MAX_PIN_FAILURES`` in a row lock
the key and every seal on it until an RA officer releases it). The slow part, scrypt, runs
before this and outside any lock; the verdict is then recorded in one short transaction holding
the key row (``FOR UPDATE``), so each attempt takes effect at its own commit as if all were made
one after another: counts are exact and no attempt is judged on a key locked meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from yinxin.errors import Conflict, Forbidden
from yinxin.store.db import Database
from yinxin.store.models import PlatformKey

# wrong PINs in a row that lock a platform-held key (and every seal on it) until an RA officer
# releases it: counted on the key, whether the PIN was tried to sign or to rekey
MAX_PIN_FAILURES = 5


T = TypeVar("T")


def tried(attempt: Callable[[], T]) -> T | None:
    """What ``attempt`` (opening the key with a PIN: the slow part, run before any lock) gives,
    or None for a wrong PIN — the verdict ``record_pin_verdict`` then records; any other
    refusal is raised as it is."""
    try:
        return attempt()
    except Forbidden as e:
        if e.code != "wrong_pin":
            raise
        return None


def record_pin_verdict(
    db: Database,
    key_id: int,
    blob: bytes,
    right: bool,
    *,
    locked: Callable[[], Forbidden],
    changed: Callable[[], Conflict],
    locking: Callable[[Session, PlatformKey], Forbidden],
    wrong: Callable[[int], Forbidden],
) -> None:
    """Record whether the PIN tried on ``blob`` (the sealed key as read before trying) was
    ``right``: a right one clears the counter and returns; a wrong one adds exactly one and is
    refused after the commit — counting it is the point of this write — by ``wrong(left)``, or,
    the fifth, locks the key and is refused by what ``locking`` answers (it audits in the same
    transaction). A key locked meanwhile is refused by ``locked()`` — the same words for a right
    and a wrong PIN, so losing the race reveals nothing — and a key resealed meanwhile (a PIN
    change, a recrypt) by ``changed()``; neither attempt is counted."""
    with db.transaction() as s:
        k = s.execute(
            select(PlatformKey).where(PlatformKey.id == key_id).with_for_update()
        ).scalar_one()
        if k.locked:
            raise locked()
        if k.sealed_key != blob:
            raise changed()
        if right:
            if k.failed_attempts:
                k.failed_attempts = 0
            return
        k.failed_attempts += 1
        if k.failed_attempts >= MAX_PIN_FAILURES:
            k.locked = True
            refusal = locking(s, k)
        else:
            refusal = wrong(MAX_PIN_FAILURES - k.failed_attempts)
    raise refusal
