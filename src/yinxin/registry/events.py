"""The registry's audit events, in one line each: the subject's type is the action's first word.

``event(s, now, actor, "certificate.revoke", serial, {...})`` records what ``audit.record``
records (in the caller's transaction, hash-chained), with ``subject_type="certificate"``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from yinxin.store import audit


def event(
    s: Session,
    now: dt.datetime,
    actor: str,
    action: str,
    subject_id: str | int,
    data: dict,
    *,
    subject_type: str | None = None,
) -> None:
    audit.record(
        s,
        at=now,
        actor=actor,
        action=action,
        subject_type=subject_type or action.split(".", 1)[0],
        subject_id=subject_id,
        data=data,
    )
