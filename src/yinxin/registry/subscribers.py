"""Subscribers of three kinds, validated on entry, and their acceptance of the agreement."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib import resources

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yinxin.clock import Clock
from yinxin.errors import Conflict, NotFound, ValidationError
from yinxin.identity import (
    validate_id_document,
    validate_mobile,
    validate_name,
    validate_phone,
    validate_uscc,
)
from yinxin.store import audit
from yinxin.store.db import Database
from yinxin.store.models import AgreementAcceptance, Subscriber

KINDS = ("person", "organization", "device")


@dataclass(frozen=True)
class Agreement:
    name: str
    version: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@functools.cache
def current_agreement() -> Agreement:
    """The agreement text ships with the package; read once per process."""
    text = resources.files("yinxin.agreements").joinpath("subscriber-v1.md").read_text("utf-8")
    return Agreement("subscriber", "1", text)


def subscriber_dict(sub: Subscriber, *, reveal: bool = False) -> dict:
    """Plain data for adapters. ID numbers are masked unless the caller is entitled to see them."""
    out = {
        "id": sub.id,
        "kind": sub.kind,
        "name": sub.name,
        "created_at": sub.created_at.isoformat(),
    }
    if sub.kind == "person":
        num = sub.id_number or ""
        out.update(
            id_type=sub.id_type,
            id_number=num if reveal else (num[:3] + "*" * (len(num) - 7) + num[-4:]),
            phone=sub.phone if reveal else (sub.phone[:3] + "****" + sub.phone[-4:]),
            email=sub.email,
        )
    elif sub.kind == "organization":
        out.update(
            uscc=sub.uscc,
            legal_representative=sub.legal_representative,
            contact_name=sub.contact_name,
            contact_phone=sub.contact_phone,
            phone=sub.phone,
        )
    else:
        out.update(device_name=sub.device_name, organization_id=sub.organization_id)
    return out


class Subscribers:
    def __init__(self, db: Database, clock: Clock):
        self.db, self.clock = db, clock

    def add_person(
        self,
        *,
        name: str,
        id_number: str,
        phone: str,
        id_type: str = "id_card",
        email: str | None = None,
        actor: str = "ra",
    ) -> dict:
        name = validate_name(name, "name", 50)
        id_number = validate_id_document(id_type, id_number, "id_number")
        phone = validate_mobile(phone, "phone")
        if email is not None and ("@" not in email or len(email) > 200):
            raise ValidationError("not an e-mail address", field="email")
        with self.db.read() as s:
            known = s.execute(
                select(Subscriber.id).where(
                    Subscriber.kind == "person",
                    Subscriber.id_type == id_type,
                    Subscriber.id_number == id_number,
                )
            ).scalar_one_or_none()
        if known is not None:
            raise self._duplicate("person", known)
        return self._add(
            Subscriber(
                kind="person",
                name=name,
                id_type=id_type,
                id_number=id_number,
                phone=phone,
                email=email,
            ),
            actor,
        )

    def add_organization(
        self,
        *,
        name: str,
        uscc: str,
        legal_representative: str,
        contact_name: str,
        contact_phone: str,
        phone: str | None = None,
        actor: str = "ra",
    ) -> dict:
        name = validate_name(name, "name", 100)
        uscc = validate_uscc(uscc, "uscc")
        legal = validate_name(legal_representative, "legal_representative", 50)
        contact = validate_name(contact_name, "contact_name", 50)
        cphone = validate_phone(contact_phone, "contact_phone")
        mobile = (
            validate_mobile(phone, "phone")
            if phone
            else (cphone if cphone.startswith("1") else None)
        )
        with self.db.read() as s:
            known = s.execute(
                select(Subscriber.id).where(
                    Subscriber.kind == "organization", Subscriber.uscc == uscc
                )
            ).scalar_one_or_none()
        if known is not None:
            raise self._duplicate("organization", known)
        return self._add(
            Subscriber(
                kind="organization",
                name=name,
                uscc=uscc,
                legal_representative=legal,
                contact_name=contact,
                contact_phone=cphone,
                phone=mobile,
            ),
            actor,
        )

    def add_device(self, *, device_name: str, organization_id: int, actor: str = "ra") -> dict:
        device_name = validate_name(device_name, "device_name", 100)
        with self.db.read() as s:
            org = s.get(Subscriber, organization_id)
            if org is None or org.kind != "organization":
                raise ValidationError(
                    f"no organization subscriber with id {organization_id}", field="organization_id"
                )
        return self._add(
            Subscriber(
                kind="device",
                name=device_name,
                device_name=device_name,
                organization_id=organization_id,
            ),
            actor,
        )

    @staticmethod
    def _duplicate(kind: str, known: int | None) -> Conflict:
        """One person (ID document) or organization (credit code), one subscriber record."""
        which = f" as subscriber #{known}" if known is not None else ""
        if kind == "person":
            return Conflict(
                f"a person with this ID document is already registered{which}; use that record",
                field="id_number",
                code="duplicate",
            )
        return Conflict(
            f"an organization with this credit code is already registered{which}; use that record",
            field="uscc",
            code="duplicate",
        )

    def _add(self, sub: Subscriber, actor: str) -> dict:
        now = self.clock.now()
        sub.created_at = sub.updated_at = now
        lost_race = self._duplicate(sub.kind, None)
        with self.db.transaction() as s:
            s.add(sub)
            try:
                s.flush()
            except IntegrityError:
                # registered by a parallel call after the check above: the unique index decides
                raise lost_race from None
            audit.record(
                s,
                at=now,
                actor=actor,
                action="subscriber.registered",
                subject_type="subscriber",
                subject_id=sub.id,
                data={"kind": sub.kind, "name": sub.name},
            )
            return subscriber_dict(sub)

    def accept_agreement(
        self, subscriber_id: int, *, accepted_by: str, version: str | None = None
    ) -> dict:
        agreement = current_agreement()
        if version is not None and version != agreement.version:
            raise ValidationError(
                f"agreement version {version} is not the current one ({agreement.version})",
                field="version",
            )
        accepted_by = validate_name(accepted_by, "accepted_by")
        now = self.clock.now()
        with self.db.transaction() as s:
            self.get_row(s, subscriber_id)
            row = AgreementAcceptance(
                subscriber_id=subscriber_id,
                agreement=agreement.name,
                version=agreement.version,
                text_sha256=agreement.sha256,
                accepted_by=accepted_by,
                accepted_at=now,
            )
            s.add(row)
            audit.record(
                s,
                at=now,
                actor=accepted_by,
                action="subscriber.agreement_accepted",
                subject_type="subscriber",
                subject_id=subscriber_id,
                data={
                    "agreement": agreement.name,
                    "version": agreement.version,
                    "sha256": agreement.sha256,
                },
            )
            return {
                "subscriber_id": subscriber_id,
                "agreement": agreement.name,
                "version": agreement.version,
                "text_sha256": agreement.sha256,
                "accepted_by": accepted_by,
                "accepted_at": now.isoformat(),
            }

    @staticmethod
    def has_accepted(s: Session, subscriber_id: int) -> bool:
        agreement = current_agreement()
        return (
            s.execute(
                select(AgreementAcceptance.id).where(
                    AgreementAcceptance.subscriber_id == subscriber_id,
                    AgreementAcceptance.version == agreement.version,
                    AgreementAcceptance.text_sha256 == agreement.sha256,
                )
            ).first()
            is not None
        )

    @staticmethod
    def get_row(s: Session, subscriber_id: int) -> Subscriber:
        sub = s.get(Subscriber, subscriber_id)
        if sub is None:
            raise NotFound(f"no subscriber with id {subscriber_id}", field="subscriber_id")
        return sub

    def get(self, subscriber_id: int, *, reveal: bool = False) -> dict:
        with self.db.read() as s:
            return subscriber_dict(self.get_row(s, subscriber_id), reveal=reveal)

    def find_person(
        self, id_number: str, id_type: str = "id_card", *, reveal: bool = False
    ) -> dict | None:
        """The person registered with this ID document, if any (one document, one record)."""
        id_number = validate_id_document(id_type, id_number, "id_number")
        with self.db.read() as s:
            sub = s.execute(
                select(Subscriber).where(
                    Subscriber.kind == "person",
                    Subscriber.id_type == id_type,
                    Subscriber.id_number == id_number,
                )
            ).scalar_one_or_none()
            return subscriber_dict(sub, reveal=reveal) if sub else None

    def find_organization(self, uscc: str) -> dict | None:
        """The organization registered with this credit code, if any."""
        uscc = validate_uscc(uscc, "uscc")
        with self.db.read() as s:
            sub = s.execute(
                select(Subscriber).where(Subscriber.kind == "organization", Subscriber.uscc == uscc)
            ).scalar_one_or_none()
            return subscriber_dict(sub) if sub else None

    def list(self, kind: str | None = None) -> list[dict]:
        with self.db.read() as s:
            q = select(Subscriber).order_by(Subscriber.id)
            if kind:
                q = q.where(Subscriber.kind == kind)
            return [subscriber_dict(x) for x in s.execute(q).scalars()]
