"""The seal PIN (印章密码) and the door to signing: usability, PIN checks, lockout, PIN change.

**The seal PIN is the PIN that seals the certificate's key** (``yinxin.pki.pinkeys``). The
platform never stores it; wrong guesses are counted on the key (``platform_keys``), which locks
after ``MAX_PIN_FAILURES``, because every seal on that key opens with the same secret and
guessing on one seal must count against all of them. A locked key is released only by an RA
officer (``SealPins.release``). Seals on a subscriber-held key (CSR certificates) are made and
managed by the platform but sign on the holder's own machine, never here.

Whether a seal can sign now, PIN aside, is ``seals.usability.problem``'s, read from the current
rows at use time; ``SealPins.unlock_for_signing`` asks it, then checks the PIN, and is the one
door the signing service uses. The only write a refused call makes is the wrong-PIN counter:
counting is the whole point of it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from cryptography import x509
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from yinxin.clock import Clock
from yinxin.errors import Conflict, Forbidden, IllegalTransition, ValidationError
from yinxin.pki.kek import PlatformKek
from yinxin.pki.keys import KeyHandle
from yinxin.pki.pinkeys import (
    check_pin,
    needs_reseal,
    open_sealed,
    private_of,
    reseal,
    seal_private_key,
)
from yinxin.registry import lifecycle as cert_lifecycle
from yinxin.results import from_row
from yinxin.seals import lifecycle
from yinxin.seals.catalogue import ORGANIZATION_KINDS, SealKind
from yinxin.seals.grants import usable_grants, use_grant
from yinxin.seals.rows import (
    actor_name,
    audit_seal,
    certificate_and_key,
    seal_row,
    seals_on_key_id,
)
from yinxin.seals.usability import MAX_PIN_FAILURES, locked_refusal, problem
from yinxin.store.db import Database
from yinxin.store.models import Certificate, PlatformKey
from yinxin.store.models.seals import Seal, SealGrant
from yinxin.store.pin_attempts import record_pin_verdict, tried

T = TypeVar("T")


@dataclass(frozen=True)
class SealMaterial:
    """What the signing service needs to put the seal on a page and into the signature.

    Not the PDF engine's ``signing.pdf_sign.SealStamp`` (image and size only): this one also
    carries the seal's identity, its current GB/T 38540 record and the certificate it is bound
    to, which the signing workflow records with the signature.
    """

    seal_id: int
    es_id: str
    kind: SealKind
    name: str
    png: bytes
    width_mm: float
    height_mm: float
    seseal: bytes  # the current GB/T 38540 record, DER
    certificate_serial: str

    @classmethod
    def of(cls, seal: Seal, certificate: Certificate) -> SealMaterial:
        """The material of a seal row and the certificate row it is bound to: what a PIN
        unlock and an authorization's automatic signing both hand the signing service."""
        return from_row(
            cls,
            seal,
            seal_id=seal.id,
            kind=SealKind(seal.kind),
            certificate_serial=certificate.serial_hex,
        )


@dataclass(frozen=True)
class SealUsability:
    """Whether the seal could sign now for this member (or its holder), PIN aside, and if not,
    why (``code`` and ``reason`` as the refusal would give them)."""

    seal_id: int
    es_id: str
    member_subscriber_id: int | None  # None: the holder itself
    usable: bool
    code: str | None
    reason: str | None


@dataclass(frozen=True)
class PinChecked(SealUsability):
    """A usable seal whose PIN was also tried, and opened its key."""

    pin_ok: bool
    certificate_serial: str


@dataclass(frozen=True)
class PinChange:
    """A changed seal PIN: when, and every live seal it opens (one key, one PIN)."""

    es_id: str
    pin_changed_at: dt.datetime
    seals: list[str]


class UnlockedSeal(NamedTuple):
    key: KeyHandle
    certificate: x509.Certificate
    stamp: SealMaterial


def _key_for_pin_change(s: Session, row: Seal) -> PlatformKey:
    lifecycle.check_manageable("change the PIN", row.state, row.es_id)
    cert = s.get(Certificate, row.certificate_id)
    if cert.platform_key_id is None:
        raise Forbidden(
            f"seal {row.es_id}'s key is held by the subscriber (CSR): its PIN is "
            "yours to manage on your own device",
            field="seal",
            code="subscriber_held_key",
        )
    if cert.status in (cert_lifecycle.REVOKED, cert_lifecycle.EXPIRED):
        raise Forbidden(
            f"certificate {cert.serial_hex} is {cert.status}; its key is no longer used",
            field="certificate",
            code="certificate_not_valid",
        )
    key = s.get(PlatformKey, cert.platform_key_id)
    if key.locked:
        raise locked_refusal(row.es_id)
    return key


class SealPins:
    """Checks the seal PIN against the key it seals, counts wrong ones, changes and unlocks."""

    def __init__(self, db: Database, clock: Clock, kek: PlatformKek | None = None):
        self.db, self.clock = db, clock
        self.kek = kek  # the second lock on seal keys (``yinxin.pki.kek``)

    # --- use -------------------------------------------------------------------------------------
    def usable(self, seal: int | str, member_subscriber_id: int | None = None) -> SealUsability:
        """Whether the seal could sign now for this member (or its holder), PIN aside."""
        with self.db.read() as s:
            row, cert, key, member_subscriber_id, p = self._state(s, seal, member_subscriber_id)
            return SealUsability(
                seal_id=row.id,
                es_id=row.es_id,
                member_subscriber_id=member_subscriber_id,
                usable=p is None,
                code=p.code if p else None,
                reason=p.message if p else None,
            )

    def check_usable(
        self, seal: int | str, member_subscriber_id: int | None = None, *, uses: int = 1
    ) -> None:
        """Refuse now, as ``unlock_for_signing`` would before trying a PIN, a seal that could not
        make ``uses`` signatures for this member (or its holder): no such seal, the seal or its
        certificate not usable, no grant, or a grant past its end or with fewer uses left. Reads
        rows only, writes nothing: what a code request asks before sending an SMS that could
        not be used."""
        with self.db.read() as s:
            *_, p = self._state(s, seal, member_subscriber_id, uses)
        if p is not None:
            raise p

    def usable_by(self, subscriber_id: int) -> list[int]:
        """The ids of the seals this subscriber could sign with now, PIN aside: its own and
        those a grant in force lets it use, each as ``check_usable`` judges it. What a code
        request that names no seal is judged with when there is only one (the seal is then
        known before the SMS, as if it had been named)."""
        with self.db.read() as s:
            q = (
                select(Seal.id)
                .where(
                    or_(
                        Seal.subscriber_id == subscriber_id,
                        usable_grants(subscriber_id, self.clock.now()),
                    )
                )
                .order_by(Seal.id)
            )
            ids = list(s.execute(q).scalars())
            return [i for i in ids if self._state(s, i, subscriber_id)[-1] is None]

    def _state(self, s: Session, seal: int | str, member_subscriber_id: int | None, uses: int = 1):
        """The seal's row, certificate and key as they are now, who acts (``None``: the holder
        itself), and what would stop ``uses`` signatures (``None``: nothing, PIN aside)."""
        row = seal_row(s, seal)
        if member_subscriber_id == row.subscriber_id:
            member_subscriber_id = None
        cert, key = certificate_and_key(s, row)
        return (
            row,
            cert,
            key,
            member_subscriber_id,
            problem(s, row, cert, key, member_subscriber_id, self.clock.now(), uses),
        )

    def hold_usable(
        self,
        s: Session,
        material: SealMaterial,
        member_subscriber_id: int | None,
        uses: int = 1,
    ) -> SealGrant | None:
        """In the transaction that records a signature made with ``material``: refuse it as
        ``unlock_for_signing`` would if the seal stopped being usable since it was unlocked —
        frozen, revoked, the member's grant withdrawn, the certificate held or revoked, the key
        locked — or was bound to another certificate meanwhile.

        The seal's and its certificate's rows are held until the transaction ends (``FOR
        SHARE`` on PostgreSQL, so signatures with one seal do not queue behind each other;
        SQLite's writer transaction holds the write lock from ``BEGIN``). A verb that stops the
        seal (it locks the seal's or the certificate's row first) thus commits either before —
        and the signature is refused — or after it is recorded, never in between: a signature
        is not recorded, nor its file handed out, after the seal was stopped. Call it before
        the transaction writes anything (the first audit event locks the chain's head, which
        the stopping verbs take after their row).

        A member acting under a grant spends ``uses`` of it (the signatures the transaction
        records; 0 for a step that records none): the grant's row is held ``FOR UPDATE`` and
        its count raised here, or the signing refused if it is past its end or has too few
        uses left (``seals.grants.use_grant``); that grant is returned (``None``: the holder
        acts, or ``uses`` is 0)."""
        now = self.clock.now()
        row = s.execute(
            select(Seal).where(Seal.id == material.seal_id).with_for_update(read=True)
        ).scalar_one()
        cert = s.execute(
            select(Certificate)
            .where(Certificate.id == row.certificate_id)
            .with_for_update(read=True)
        ).scalar_one()
        key = s.get(PlatformKey, cert.platform_key_id) if cert.platform_key_id else None
        member = None if member_subscriber_id == row.subscriber_id else member_subscriber_id
        refusal = problem(s, row, cert, key, member, now)
        if refusal is None and cert.serial_hex != material.certificate_serial:
            refusal = Conflict(
                f"seal {row.es_id} was bound to certificate {cert.serial_hex} while signing; "
                "sign again",
                field="seal",
                code="retry",
            )
        if refusal is not None:
            raise refusal
        if member is not None and row.kind in ORGANIZATION_KINDS and uses:
            return use_grant(s, row, member, now, uses)
        return None

    def can_use(self, seal: int | str, person_subscriber_id: int) -> bool:
        """May this person use this seal now: authorized, and seal and certificate valid."""
        return self.usable(seal, person_subscriber_id).usable

    def unlock_for_signing(
        self,
        seal: int | str,
        pin: str,
        member_subscriber_id: int | None = None,
        *,
        uses: int = 1,
    ) -> UnlockedSeal:
        """The signing service's door: every check against current rows, then the PIN.

        ``member_subscriber_id`` is the person acting for an organization (must hold a grant
        with ``uses`` signings left: a batch's documents, refused before any is signed);
        ``None`` or the holder's own id means the holder acts itself. A wrong PIN is counted and
        committed although the call is refused; the fifth in a row locks the key (and so every
        seal on it).
        """
        if not isinstance(pin, str) or not pin:
            raise ValidationError("the seal PIN is needed", field="pin")
        with self.db.read() as s:
            row, cert, key, member_subscriber_id, p = self._state(
                s, seal, member_subscriber_id, uses
            )
            if p is not None:
                raise p
            assert key is not None
            key_id, blob, label = key.id, key.sealed_key, key.label
            stamp = SealMaterial.of(row, cert)
            certificate = x509.load_der_x509_certificate(cert.der)
        handle, pin_cipher = self.judge(
            key_id,
            blob,
            label,
            row.es_id,
            pin,
            lambda b, p, lab: open_sealed(b, p, lab, kek=self.kek),
        )
        if needs_reseal(blob, pin_cipher, self.kek):
            self._reseal_to_cipher(key_id, blob, handle, pin, row.es_id)
        return UnlockedSeal(handle, certificate, stamp)

    def _reseal_to_cipher(
        self, key_id: int, blob: bytes, handle: KeyHandle, pin: str, es_id: str
    ) -> None:
        """Seal a key again, with the PIN just proven, under the deployment's cipher: after
        ``yinxin keys recrypt`` (which cannot open the PIN layer without the PIN) or a change
        of ``YINXIN_DATA_CIPHER``, each key moves over entirely at its next signature. Once:
        the new blob is written only if the stored one is still the one opened."""
        assert self.kek is not None
        new_blob = seal_private_key(private_of(handle), pin, handle.label, kek=self.kek)
        with self.db.transaction() as s:
            k = s.execute(
                select(PlatformKey).where(PlatformKey.id == key_id).with_for_update()
            ).scalar_one()
            if k.sealed_key != blob:  # changed meanwhile (a PIN change, a recrypt): keep it
                return
            k.sealed_key = new_blob
            audit_seal(
                s,
                es_id,
                "key_resealed",
                "system",
                self.clock.now(),
                {"key": k.label, "cipher": self.kek.cipher.name},
            )

    def judge(
        self,
        key_id: int,
        blob: bytes,
        label: str,
        es_id: str,
        pin: str,
        attempt: Callable[[bytes, str, str], T],
    ) -> T:
        """Try ``pin`` on the key and record the verdict; the attempt counts only there.

        The slow part (scrypt) runs outside any lock, so parallel attempts do not queue behind
        it and, on SQLite, do not hold the database's write lock. The verdict is then recorded
        in one short transaction holding the key row (``FOR UPDATE``): if the key was locked
        meanwhile, the attempt is refused with the locked reply — the same words for a right
        and a wrong PIN, so losing the race reveals nothing — and is not counted; otherwise a
        wrong PIN adds exactly one to the counter (the fifth locks the key) and a right one
        clears it. Each attempt thus takes effect at its own commit, as if all were made one
        after another: counts are exact and no attempt is judged on a locked key.
        """
        result = tried(lambda: attempt(blob, pin, label))
        now = self.clock.now()

        def locking(s: Session, k: PlatformKey) -> Forbidden:
            seals = [x.es_id for x in seals_on_key_id(s, key_id)]
            audit_seal(
                s,
                es_id,
                "pin_locked",
                "system",
                now,
                {"failed_attempts": k.failed_attempts, "key": k.label, "seals": seals},
            )
            return Forbidden(
                f"wrong seal PIN; seal {es_id} is now locked after "
                f"{MAX_PIN_FAILURES} wrong PINs: an RA officer must unlock it",
                field="pin",
                code="seal_locked",
            )

        def wrong(left: int) -> Forbidden:
            return Forbidden(
                f"wrong seal PIN ({left} attempt{'s' if left != 1 else ''} "
                "left before the seal locks)",
                field="pin",
                code="wrong_pin",
            )

        record_pin_verdict(
            self.db,
            key_id,
            blob,
            result is not None,
            locked=lambda: locked_refusal(es_id),
            changed=lambda: Conflict(
                "the seal PIN was changed meanwhile; try again", field="pin", code="retry"
            ),
            locking=locking,
            wrong=wrong,
        )
        assert result is not None  # a wrong PIN was refused above
        return result

    # --- PIN management --------------------------------------------------------------------------
    def change_pin(
        self, seal: int | str, *, old_pin: str, new_pin: str, actor: str = "holder"
    ) -> PinChange:
        """Re-encrypt the seal's key under a new PIN; the PIN never reaches the audit trail."""
        actor = actor_name(actor)
        check_pin(new_pin, "new_pin")
        if not isinstance(old_pin, str) or not old_pin:
            raise ValidationError("the current seal PIN is needed", field="pin")
        if new_pin == old_pin:
            raise ValidationError("the new PIN must differ from the current one", field="new_pin")
        with self.db.read() as s:
            row = seal_row(s, seal)
            key = _key_for_pin_change(s, row)
            key_id, blob, label, es_id = key.id, key.sealed_key, key.label, row.es_id
        # a wrong current PIN counts like any other attempt
        new_blob = self.judge(
            key_id,
            blob,
            label,
            es_id,
            old_pin,
            lambda b, pin, lab: reseal(b, pin, new_pin, lab, kek=self.kek),
        )
        now = self.clock.now()
        with self.db.transaction() as s:
            row = seal_row(s, seal, lock=True)
            key = _key_for_pin_change(s, row)
            k = s.execute(
                select(PlatformKey).where(PlatformKey.id == key.id).with_for_update()
            ).scalar_one()
            if k.sealed_key != blob:
                raise Conflict(
                    "the seal PIN was changed meanwhile; try again with the new one",
                    field="pin",
                    code="retry",
                )
            k.sealed_key, k.failed_attempts = new_blob, 0
            affected = [x for x in seals_on_key_id(s, k.id) if x.state in lifecycle.MANAGEABLE]
            for other in affected:
                other.pin_changed_at = now
            seals = [x.es_id for x in affected]
            audit_seal(s, row.es_id, "pin_changed", actor, now, {"key": k.label, "seals": seals})
            return PinChange(es_id=row.es_id, pin_changed_at=now, seals=seals)

    @staticmethod
    def release(s: Session, row: Seal, *, officer: str, note: str | None, now: dt.datetime) -> None:
        """An RA officer releases the PIN lock on the seal's key, in the caller's transaction
        (which holds the seal row and answers with the seal's view)."""
        cert = s.get(Certificate, row.certificate_id)
        k = (
            s.execute(
                select(PlatformKey).where(PlatformKey.id == cert.platform_key_id).with_for_update()
            ).scalar_one()
            if cert.platform_key_id
            else None
        )
        if k is None or not k.locked:
            raise IllegalTransition(f"seal {row.es_id} is not locked", field="seal")
        k.locked, k.failed_attempts = False, 0
        data = {"key": k.label, "note": note, "seals": [x.es_id for x in seals_on_key_id(s, k.id)]}
        audit_seal(s, row.es_id, "unlock", officer, now, data)
