"""The first answer to each ``Idempotency-Key``, so a retried POST acts once.

A caller (named by the SHA-256 of its credential, so no key is needed to look it up) sends a
POST with a key of its choosing. The first request claims the key (a row with no answer yet),
runs, and stores its answer; a retry with the same key and the same request gets that answer
back without running again; the same key with a different request is refused, as is a retry
while the first is still running. An answer of 5xx is not kept (nothing was done, or the
outcome is unknown to us, so a retry must be allowed to try again); a claim that never got its
answer (the process died) is taken over after ``ABANDONED``. Answers are kept for a day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from yinxin.clock import Clock
from yinxin.errors import Conflict, ValidationError
from yinxin.store.db import Database
from yinxin.store.models.access import IdempotencyRecord

KEPT = dt.timedelta(hours=24)
ABANDONED = dt.timedelta(minutes=10)
MAX_KEY = 200


class StillRunning(Conflict, code="idempotency_in_progress"):
    """The first request with this key has not answered yet."""

    def __init__(self) -> None:
        super().__init__(
            "the first request with this Idempotency-Key is still running; retry later",
            field="Idempotency-Key",
        )


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status_code: int
    content_type: str
    body: bytes


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise ValidationError(
            f"Idempotency-Key must be 1 to {MAX_KEY} printable characters",
            field="Idempotency-Key",
        )
    return key


def kept_path(path: str) -> str:
    """The request's path as its record keeps it: its first 500 characters, a control
    character written as it was sent (``%00``). The path is read decoded, and PostgreSQL
    refuses a NUL in text: a POST to ``/seals/a%00b/freeze`` with an Idempotency-Key failed
    there (500) where SQLite kept the record and the route answered."""
    return "".join(f"%{ord(c):02X}" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in path)[:500]


#: how a kept answer sealed under the platform KEK begins (one that shows a secret)
SEALED = b"yinxin-sealed-answer:"


class Sealer(Protocol):
    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def decrypt(self, blob: bytes, aad: bytes) -> bytes: ...


class Idempotency:
    """``kek``: seals the answers that show a secret (a webhook's, a new API key), so a copy
    of the database does not hold them; without it such answers are not kept."""

    def __init__(self, db: Database, clock: Clock, kek: Sealer | None = None):
        self.db, self.clock, self.kek = db, clock, kek
        self._purged_at: dt.datetime | None = None

    def claim(
        self,
        *,
        caller: str,
        key: str,
        method: str,
        path: str,
        request_sha256: str,
        same_as: Sequence[str] = (),
    ) -> StoredAnswer | None:
        """``None``: the key is ours now, run the request and ``answer``. A ``StoredAnswer``:
        the first request's answer, to send back as it is. ``same_as``: other fingerprints of
        this very request, a row kept under one of them being its own (the HTTP guard's of
        the bytes as sent, which it hashed before it hashed an empty body as ``{}``)."""
        check_key(key)
        kept = kept_path(path)
        now = self.clock.now()
        self._purge(now)
        for _ in range(2):  # a lost insert race reads the winner's row the second time
            try:
                with self.db.transaction() as s:
                    q = select(IdempotencyRecord).where(
                        IdempotencyRecord.caller == caller, IdempotencyRecord.key == key
                    )
                    row = s.execute(q.with_for_update()).scalar_one_or_none()
                    if row is None:
                        s.add(
                            IdempotencyRecord(
                                caller=caller,
                                key=key,
                                method=method,
                                path=kept,
                                request_sha256=request_sha256,
                                created_at=now,
                            )
                        )
                        return None
                    if (row.method, row.path) != (method, kept) or (
                        row.request_sha256 not in (request_sha256, *same_as)
                    ):
                        raise ValidationError(
                            "this Idempotency-Key was used for a different request",
                            field="Idempotency-Key",
                            code="idempotency_key_reused",
                        )
                    if row.status_code is not None:
                        return StoredAnswer(
                            row.status_code,
                            row.content_type or "",
                            self._unsealed(row.body or b"", caller, key),
                        )
                    if now - row.created_at < ABANDONED:
                        raise StillRunning()
                    row.created_at = now  # abandoned by a process that died: ours now
                    return None
            except IntegrityError:
                continue
        raise StillRunning()

    def answer(
        self,
        *,
        caller: str,
        key: str,
        status_code: int,
        content_type: str,
        body: bytes,
        sealed: bool = False,
    ) -> None:
        """Keep the answer; ``sealed`` (it shows a secret): under the KEK, or not at all."""
        if sealed and status_code < 500:
            try:
                if self.kek is None:
                    raise ValueError("no KEK")
                body = SEALED + self.kek.encrypt(body, _aad(caller, key))
            except Exception:  # not kept rather than kept in the clear; the answer still goes
                self.release(caller=caller, key=key)
                return
        with self.db.transaction() as s:
            q = select(IdempotencyRecord).where(
                IdempotencyRecord.caller == caller, IdempotencyRecord.key == key
            )
            row = s.execute(q).scalar_one_or_none()
            if row is None:
                return
            if status_code >= 500:
                s.delete(row)
                return
            row.status_code, row.content_type, row.body = status_code, content_type, body

    def _unsealed(self, body: bytes, caller: str, key: str) -> bytes:
        if not body.startswith(SEALED):
            return body
        try:
            if self.kek is None:
                raise ValueError("no KEK")
            return self.kek.decrypt(body[len(SEALED) :], _aad(caller, key))
        except Exception:  # the KEK changed since, or is not open here
            raise Conflict(
                "the first request with this Idempotency-Key succeeded; its answer showed a "
                "secret that can no longer be read back; look the result up instead",
                field="Idempotency-Key",
                code="idempotency_answer_unreadable",
            ) from None

    def release(self, *, caller: str, key: str) -> None:
        """Give a claim back when the request failed without an answer to keep."""
        with self.db.transaction() as s:
            s.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.caller == caller,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.status_code.is_(None),
                )
            )

    def _purge(self, now: dt.datetime) -> None:
        if self._purged_at is not None and now - self._purged_at < dt.timedelta(hours=1):
            return
        self._purged_at = now
        with self.db.transaction() as s:
            s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - KEPT))


def _aad(caller: str, key: str) -> bytes:
    return b"yinxin-idempotent-answer:" + caller.encode() + b"\0" + key.encode("utf-8", "replace")
