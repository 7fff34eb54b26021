"""Row lookups and small value helpers shared by every part of the seal service.

Each part (applications, holds, grants, PIN, files) finds a seal, its subscriber and its
certificate the same way and refuses the same way, so those lookups live once, here, below all
of them. Functions take the caller's ``Session``: the caller decides whether it reads or writes
and whether the row is locked.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from yinxin.errors import Forbidden, NotFound, ValidationError
from yinxin.identity import normal_serial as serial_as_stored
from yinxin.identity import refuse_hidden, validate_name
from yinxin.registry import lifecycle as cert_lifecycle
from yinxin.seals.catalogue import KINDS
from yinxin.store import audit
from yinxin.store.models import Certificate, PlatformKey, Subscriber
from yinxin.store.models.seals import Seal
from yinxin.store.queries import one_or_404


# --- values -------------------------------------------------------------------------------------
def mask(num: str | None) -> str | None:
    """An ID number with its middle hidden, as shown unless ``reveal`` is asked for."""
    if not num:
        return num
    return num[:3] + "*" * (len(num) - 7) + num[-4:] if len(num) > 8 else "*" * len(num)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def whole(t: dt.datetime) -> dt.datetime:
    """GeneralizedTime in the record is whole seconds; keep the table's values identical."""
    return t.astimezone(dt.UTC).replace(microsecond=0)


def normal_serial(serial: str, field: str = "certificate_serial") -> str:
    """The serial as stored (:func:`yinxin.identity.normal_serial`), refused naming ``field``."""
    return serial_as_stored(serial, field)


def actor_name(actor: str, field: str = "actor") -> str:
    """Who acts, as it goes into the audit trail (checked like any other name)."""
    return validate_name(actor, field, 100)


def note_text(note: str | None) -> str | None:
    """A move's or a grant's note as the record keeps it: lines allowed, nothing hidden."""
    if note is None:
        return None
    return refuse_hidden(note.replace("\r\n", "\n"), "note", lines=True)


def audit_seal(s: Session, es_id: str, verb: str, actor: str, now: dt.datetime, data: dict) -> None:
    """Record ``seal.<verb>`` on the seal ``es_id`` in the audit chain, in the caller's
    transaction."""
    audit.event(s, now, actor, f"seal.{verb}", es_id, data)


# --- rows ---------------------------------------------------------------------------------------
def seal_row(s: Session, ref: int | str, lock: bool = False) -> Seal:
    """A seal by database id (int, or a short digit string) or by its 14+ digit esID."""
    q = select(Seal)
    text = str(ref).strip()
    # ASCII digits only: isdigit() took "²", which int() refuses, and "１", read as seal 1
    if isinstance(ref, int) or (text.isascii() and text.isdigit() and len(text) < 14):
        q = q.where(Seal.id == int(text))
    else:
        q = q.where(Seal.es_id == text)
    return one_or_404(s, q, f"no seal {text or '(empty)'}", field="seal", lock=lock)


def subscriber_row(s: Session, subscriber_id: int, field: str = "subscriber_id") -> Subscriber:
    sub = s.get(Subscriber, subscriber_id) if isinstance(subscriber_id, int) else None
    if sub is None:
        raise NotFound(f"no subscriber with id {subscriber_id}", field=field)
    return sub


def certificate_and_key(s: Session, seal: Seal) -> tuple[Certificate, PlatformKey | None]:
    """The seal's certificate and, if the platform holds its key, that key's row."""
    cert = s.get(Certificate, seal.certificate_id)
    key = s.get(PlatformKey, cert.platform_key_id) if cert.platform_key_id else None
    return cert, key


def require_valid_certificate(cert: Certificate, now: dt.datetime) -> None:
    if cert.status != cert_lifecycle.ACTIVE or cert.not_after <= now:
        state = cert.status + (f" ({cert.hold_kind})" if cert.hold_kind else "")
        if cert.status == cert_lifecycle.ACTIVE:
            state = "past its end date"
        raise Forbidden(
            f"certificate {cert.serial_hex} is {state}: a seal needs a valid certificate",
            field="certificate_serial",
            code="certificate_not_valid",
        )


def certificate_for(
    s: Session,
    serial: str | None,
    sub: Subscriber,
    kind: str,
    now: dt.datetime,
    *,
    lock: bool = False,
) -> Certificate:
    """The certificate a seal of ``kind`` for ``sub`` may be bound to, valid right now; with
    ``lock``, its row held for the transaction (:func:`held_certificate`)."""
    spec = KINDS[kind]
    if not serial:
        raise ValidationError(
            f"a seal needs a valid certificate (004 填表说明): give the serial of "
            f"{sub.name}'s active {spec.profile} certificate, or apply for one first",
            field="certificate_serial",
            code="certificate_required",
        )
    q = select(Certificate).where(Certificate.serial_hex == normal_serial(serial))
    if lock:
        q = _held(q)
    cert = one_or_404(s, q, f"no certificate with serial {serial}", field="certificate_serial")
    if cert.subscriber_id != sub.id:
        raise ValidationError(
            f"certificate {cert.serial_hex} belongs to another subscriber",
            field="certificate_serial",
            code="certificate_mismatch",
        )
    if cert.profile != spec.profile:
        raise ValidationError(
            f"a {kind} seal ({spec.title}) needs a {spec.profile} "
            f"certificate; {cert.serial_hex} is {cert.profile}",
            field="certificate_serial",
            code="certificate_mismatch",
        )
    require_valid_certificate(cert, now)
    return cert


def _held(q):
    return q.with_for_update(read=True).execution_options(populate_existing=True)


def held_certificate(s: Session, certificate_id: int) -> Certificate:
    """The certificate's row, held for the transaction (``FOR SHARE`` on PostgreSQL; SQLite's
    writer transaction holds the write lock) and read as it is now: a seal bound to it in this
    transaction is bound to a certificate that was valid at the commit — a revocation or hold
    committing meanwhile waits, or is seen."""
    return s.execute(
        _held(select(Certificate).where(Certificate.id == certificate_id))
    ).scalar_one()


def seals_on_key_id(s: Session, key_id: int, *, lock: bool = False) -> list[Seal]:
    """Every seal opened by one platform key, and so by one PIN; with ``lock``, their rows
    held for the transaction (taken in id order, so two callers never wait on each other
    crosswise) and read as they are now, even the ones the session already holds."""
    q = (
        select(Seal)
        .join(Certificate, Seal.certificate_id == Certificate.id)
        .where(Certificate.platform_key_id == key_id)
        .order_by(Seal.id)
    )
    if lock:
        q = q.with_for_update(of=Seal).execution_options(populate_existing=True)
    return list(s.execute(q).scalars())


def seals_on_key(s: Session, row: Seal, *, lock: bool = False) -> list[Seal]:
    """Every seal opened by ``row``'s key (``row`` alone when the subscriber holds the key);
    ``lock`` as for :func:`seals_on_key_id`."""
    cert = s.get(Certificate, row.certificate_id)
    if cert.platform_key_id:
        return seals_on_key_id(s, cert.platform_key_id, lock=lock)
    if lock:
        seal_row(s, row.id, lock=True)
    return [row]
