"""Subscribers of three kinds, validated on entry, and their acceptance of the agreement."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from sqlalchemy import ColumnElement, Select, and_, case, or_, select
from sqlalchemy.orm import Session, aliased

from yinxin.agreements import current_agreement
from yinxin.clock import Clock
from yinxin.errors import Conflict, NotFound, ValidationError
from yinxin.identity import (
    validate_email,
    validate_id_document,
    validate_mobile,
    validate_name,
    validate_phone,
    validate_uscc,
)
from yinxin.registry.views import (
    AgreementAcceptanceView,
    SubscriberKind,
    SubscriberView,
    acceptance_view,
    subscriber_view,
)
from yinxin.store.audit import event
from yinxin.store.db import Database, add_unique
from yinxin.store.models import AgreementAcceptance, Subscriber
from yinxin.store.queries import of_organization, paged, select_where
from yinxin.transitions import listed

KINDS = tuple(SubscriberKind)
PERSON, ORGANIZATION, DEVICE = SubscriberKind
# The longest name a certificate's subject can carry: RFC 5280's ub-common-name and
# ub-organization-name, 64 characters. An organization's or device's name becomes its
# certificate's CN (and O), so a longer one is refused at registration, not at issuance.
SUBJECT_NAME_MAX = 64
# the longest name of each kind (a person's 50 is within the subject's bound)
NAME_MAX = {PERSON: 50, ORGANIZATION: SUBJECT_NAME_MAX, DEVICE: SUBJECT_NAME_MAX}
# The details a subscriber of each kind may change on the record alone: none of them is in a
# certificate's subject (``certificates.subject_for``: a person's name and a digest of the ID
# document, an organization's name and credit code, a device's name), so no certificate is
# revoked for them — an organization's legal representative (法定代表人) among them. A device has
# none: its notices go to its organization.
CONTACT_FIELDS: dict[str, tuple[str, ...]] = {
    PERSON: ("phone", "email"),
    ORGANIZATION: ("phone", "email", "legal_representative", "contact_name", "contact_phone"),
    DEVICE: (),
}
# every contact field of any kind: changed on the record alone, never by a certificate change
CONTACT_ONLY = tuple(dict.fromkeys(k for fields in CONTACT_FIELDS.values() for k in fields))
# What the certificate subject is made from (or identifies the subscriber by): changed only by a
# certificate change, which issues a certificate with the new data and revokes the old one.
SUBJECT_FIELDS = ("name", "id_type", "id_number", "uscc", "device_name")


def masked_detail(field: str, value: str | None) -> str | None:
    """A subscriber's detail as the audit trail keeps it: phone numbers and e-mail addresses
    masked as listings show them; names as written (names are in the trail as they are)."""
    if not value or field not in ("phone", "contact_phone", "email"):
        return value
    if field == "email":
        local, _, domain = value.partition("@")
        return local[:1] + "***@" + domain
    return value[:3] + "*" * max(len(value) - 7, 1) + value[-4:] if len(value) > 7 else "****"


class Subscribers:
    def __init__(self, db: Database, clock: Clock):
        self.db, self.clock = db, clock
        # Called *inside* the transaction of a change of the registered mobile number with the
        # session, the row (already changed) and the old number: the notice to the old number
        # (a transactional outbox row) commits or rolls back with the change.
        self.phone_changed: list[Callable[[Session, Subscriber, str], None]] = []
        # The same for a change of e-mail, with the old address (told by e-mail).
        self.email_changed: list[Callable[[Session, Subscriber, str], None]] = []
        # Called inside the transaction of a change of the registered mobile number with the
        # session, the subscriber's id, the browser session making the change (None: the
        # desk) and the change's actor: ends what the old number opened — the subscriber's
        # other sessions, the codes still waiting — audited as done by that actor.
        self.phone_ended: list[Callable[[Session, int, int | None, str], None]] = []
        # Called after an update commits, with the subscriber's id (sends what it wrote).
        self.after_update: list[Callable[[int], None]] = []

    def add_person(
        self,
        *,
        name: str,
        id_number: str,
        phone: str,
        id_type: str = "id_card",
        email: str | None = None,
        organization_id: int | None = None,
        actor: str = "ra",
        sole_phone: bool = False,
        within: Callable[[Session, int], None] | None = None,
    ) -> SubscriberView:
        """A person; ``organization_id``: registered under that organization (its staff), so
        the organization's administrator sees and manages them. ``sole_phone``: the first
        account with this mobile number, or none (the self-registration's rule, ``claim_phone``);
        the desk's may share one. ``within``: called in the registering transaction with the
        new id (``_add``)."""
        name = validate_name(name, "name", NAME_MAX[PERSON])
        id_number = validate_id_document(id_type, id_number, "id_number")
        phone = validate_mobile(phone, "phone")
        if email is not None:
            email = validate_email(email, "email")
        if organization_id is not None:
            self._organization(organization_id)
        return self._add(
            Subscriber(
                kind=PERSON,
                name=name,
                id_type=id_type,
                id_number=id_number,
                phone=phone,
                email=email,
                organization_id=organization_id,
            ),
            actor,
            unique=_person(id_type, id_number),
            sole_phone=sole_phone,
            within=within,
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
        email: str | None = None,
        actor: str = "ra",
        sole_phone: bool = False,
        within: Callable[[Session, int], None] | None = None,
    ) -> SubscriberView:
        """An organization; ``sole_phone`` and ``within`` as for a person (``add_person``)."""
        name = validate_name(name, "name", SUBJECT_NAME_MAX)
        uscc = validate_uscc(uscc, "uscc")
        legal = validate_name(legal_representative, "legal_representative", 50)
        contact = validate_name(contact_name, "contact_name", 50)
        cphone = validate_phone(contact_phone, "contact_phone")
        mobile = (
            validate_mobile(phone, "phone")
            if phone
            else (cphone if cphone.startswith("1") else None)
        )
        if email is not None:
            email = validate_email(email, "email")
        if mobile is None and email is None:
            # expiry and revocation notices, one-time codes: with no mobile number and no
            # e-mail they would reach nobody (a device's go to its organization, a person's
            # mobile number is required)
            raise ValidationError(
                "an organization needs a mobile number (phone, or a contact_phone that is a "
                "mobile number) or an e-mail for its notices and one-time codes: "
                f"contact_phone {masked_detail('contact_phone', cphone)} is a landline",
                field="phone",
                code="no_contact",
            )
        return self._add(
            Subscriber(
                kind=ORGANIZATION,
                name=name,
                uscc=uscc,
                legal_representative=legal,
                contact_name=contact,
                contact_phone=cphone,
                phone=mobile,
                email=email,
            ),
            actor,
            unique=_organization(uscc),
            sole_phone=sole_phone,
            within=within,
        )

    def add_device(
        self, *, device_name: str, organization_id: int, actor: str = "ra"
    ) -> SubscriberView:
        device_name = validate_name(device_name, "device_name", SUBJECT_NAME_MAX)
        self._organization(organization_id)
        return self._add(
            Subscriber(
                kind=DEVICE,
                name=device_name,
                device_name=device_name,
                organization_id=organization_id,
            ),
            actor,
        )

    def _organization(self, organization_id: int) -> None:
        with self.db.read() as s:
            org = s.get(Subscriber, organization_id)
            if org is None or org.kind != ORGANIZATION:
                raise ValidationError(
                    f"no organization subscriber with id {organization_id}", field="organization_id"
                )

    @staticmethod
    def _duplicate(kind: str, known: int | None) -> Conflict:
        """One person (ID document) or organization (credit code), one subscriber record."""
        which = f" as subscriber #{known}" if known is not None else ""
        if kind == PERSON:
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

    def _add(
        self,
        sub: Subscriber,
        actor: str,
        unique: Select | None = None,
        *,
        sole_phone: bool = False,
        within: Callable[[Session, int], None] | None = None,
    ) -> SubscriberView:
        """Register ``sub``, unless ``unique`` (the query for the same person or organization)
        finds one already, or, ``sole_phone``, a person or organization has its mobile number
        (``claim_phone``, in the transaction that registers it). ``within``: called in that
        transaction with the new subscriber's id, once it is inserted, for what must be written
        with the registration or not at all (the self-registration marks its code used and
        opens the session there); its failure writes nothing of either."""
        if unique is not None:
            with self.db.read() as s:
                known = s.execute(unique.with_only_columns(Subscriber.id)).scalar_one_or_none()
            if known is not None:
                raise self._duplicate(sub.kind, known)
        now = self.clock.now()
        sub.created_at = sub.updated_at = now
        lost_race = self._duplicate(sub.kind, None)
        with self.db.transaction() as s:
            if sole_phone and sub.phone:
                self.claim_phone(s, sub.phone)
            add_unique(s, sub, lost_race=lost_race)
            event(
                s, now, actor, "subscriber.registered", sub.id, {"kind": sub.kind, "name": sub.name}
            )
            if within is not None:
                within(s, sub.id)
            return subscriber_view(sub)

    def update(
        self,
        subscriber_id: int,
        changes: dict,
        *,
        actor: str,
        phone_proof: Callable[[Session, str], None] | None = None,
        email_proof: Callable[[Session, str], None] | None = None,
        session_id: int | None = None,
    ) -> SubscriberView:
        """Change a subscriber's contact details (``CONTACT_FIELDS`` of its kind: mobile phone,
        e-mail, an organization's legal representative, contact person and phone) on the record
        alone: none is in a
        certificate's subject, so no certificate is reissued or revoked. An empty ``email``
        removes the address (told to it, as a new one is), when a mobile number remains for
        the notices.

        Every value is checked as at registration, all before anything is written; a field of
        the certificate subject (name, ID document, credit code, device name) is refused
        pointing to ``cert change``, and anything else the kind does not have is refused by
        name. Written with an audit event (the old and new values masked); a new mobile number
        is told to the old one (``phone_changed``) and a new e-mail to the old address
        (``email_changed``), in the same transaction.

        ``phone_proof``: called in the transaction with the new number when the number changes
        — a holder's own change uses up there the codes sent to the registered number and to
        the new one (``signing.phone_change``), so the codes and the change commit together;
        its refusal writes nothing. Without it (the desk, who checked the holder in person) the
        change is immediate. ``email_proof`` likewise, with the new address, when a new one
        (not its removal) is written: a holder's own change uses up there the code sent to it.
        A new number also ends the subscriber's browser sessions but
        ``session_id``, the one making the change, and its codes still waiting
        (``phone_ended``), as ``actor``."""
        given = self._given(changes)
        now = self.clock.now()
        with self.db.transaction() as s:
            sub = self.get_row(s, subscriber_id)
            new = self._checked(sub, given)
            old_phone, old_email = sub.phone, sub.email
            diff = {
                k: {"from": masked_detail(k, getattr(sub, k)), "to": masked_detail(k, v)}
                for k, v in new.items()
                if getattr(sub, k) != v
            }
            if "phone" in diff and phone_proof is not None:
                phone_proof(s, new["phone"])
            if "email" in diff and new["email"] and email_proof is not None:
                email_proof(s, new["email"])
            for k, v in new.items():
                setattr(sub, k, v)
            if diff:
                sub.updated_at = now
                event(s, now, actor, "subscriber.updated", sub.id, {"changes": diff})
                if "phone" in diff:
                    for end in self.phone_ended:
                        end(s, sub.id, session_id, actor)
                if "phone" in diff and old_phone:
                    for cb in self.phone_changed:
                        cb(s, sub, old_phone)
                if "email" in diff and old_email:
                    for cb in self.email_changed:
                        cb(s, sub, old_email)
            out = subscriber_view(sub)
        if diff:
            for done in self.after_update:
                done(subscriber_id)
        return out

    def check(self, subscriber_id: int, changes: dict) -> dict[str, str | None]:
        """The change ``update`` would make, checked the same way but not written: the fields
        whose value it changes, with their new values."""
        given = self._given(changes)
        with self.db.read() as s:
            sub = self.get_row(s, subscriber_id)
            new = self._checked(sub, given)
            return {k: v for k, v in new.items() if getattr(sub, k) != v}

    @staticmethod
    def _given(changes: dict) -> dict:
        given = {k: v for k, v in changes.items() if v is not None}
        for k in given:
            if k in ("name", "device_name"):
                raise ValidationError(
                    f"{k} is in the certificate subject: change it with a certificate change "
                    f"(yinxin cert change SERIAL --{k.replace('_', '-')} …), which issues a "
                    "certificate with the new data and revokes the old one",
                    field=k,
                    code="in_subject",
                )
            if k in SUBJECT_FIELDS:
                raise ValidationError(
                    f"{k} identifies the subscriber in its certificates' subject and is not "
                    "changed on the record: subject data goes through a certificate change "
                    "(yinxin cert change), and another ID document or credit code is another "
                    "subscriber (register it)",
                    field=k,
                    code="in_subject",
                )
        if not given:
            # named as the first detail every kind with details has: "changes" was no field
            # the API's body or the CLI's options has
            raise ValidationError(
                "nothing to change: give the new "
                + ", ".join(CONTACT_ONLY[:-1])
                + f" or {CONTACT_ONLY[-1]}",
                field="phone",
            )
        # Each value judged now, before the subscriber is looked up: a bad phone number is
        # refused naming it whatever the id (it said "no subscriber 99" first, and the phone
        # was refused only once the id was right). What the kind may change needs the row
        # (``_checked``). An empty ``email`` is its removal, judged there.
        return {
            k: Subscribers.contact_value(k, v)
            if k in CONTACT_ONLY and not (k == "email" and isinstance(v, str) and not v.strip())
            else v
            for k, v in given.items()
        }

    def _checked(self, sub: Subscriber, given: dict) -> dict[str, str | None]:
        """The new values, each checked for this subscriber's kind. An empty ``email`` removes
        the address (it is optional, as at registration) — unless it is where the notices go:
        a subscriber with no mobile number keeps it."""
        allowed = CONTACT_FIELDS[sub.kind]
        for k in given:
            if k not in allowed:
                has = ", ".join(allowed) if allowed else "none: its notices go to its organization"
                raise ValidationError(
                    f"{k} cannot be changed for a {sub.kind} subscriber (contact details: {has})",
                    field=k,
                )
        new: dict[str, str | None] = {  # each value already checked (``_given``)
            k: v
            for k, v in given.items()
            if not (k == "email" and isinstance(v, str) and not v.strip())
        }
        if "email" in given and "email" not in new:
            if not new.get("phone", sub.phone):
                raise ValidationError(
                    "the e-mail is where this subscriber's notices go (no mobile number is "
                    "registered): give another address, or register a mobile number first",
                    field="email",
                )
            new["email"] = None
        return new

    @staticmethod
    def contact_value(field: str, value: str) -> str:
        """A contact detail checked by the validator registration uses for it (a certificate
        change that carries contact details checks them here too)."""
        if field == "phone":
            return validate_mobile(value, field)
        if field == "contact_phone":
            return validate_phone(value, field)
        if field == "email":
            return validate_email(value, field)
        return validate_name(value, field, 50)  # contact_name, legal_representative

    def accept_agreement(
        self, subscriber_id: int, *, accepted_by: str, version: str | None = None
    ) -> AgreementAcceptanceView:
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
            event(
                s,
                now,
                accepted_by,
                "subscriber.agreement_accepted",
                subscriber_id,
                {
                    "agreement": agreement.name,
                    "version": agreement.version,
                    "sha256": agreement.sha256,
                },
            )
            return acceptance_view(row)

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

    def get(self, subscriber_id: int, *, reveal: bool = False) -> SubscriberView:
        with self.db.read() as s:
            return subscriber_view(self.get_row(s, subscriber_id), reveal=reveal)

    def _find(self, query: Select, *, reveal: bool = False) -> SubscriberView | None:
        with self.db.read() as s:
            sub = s.execute(query).scalar_one_or_none()
            return subscriber_view(sub, reveal=reveal) if sub else None

    def find_person(
        self, id_number: str, id_type: str = "id_card", *, reveal: bool = False
    ) -> SubscriberView | None:
        """The person registered with this ID document, if any (one document, one record)."""
        id_number = validate_id_document(id_type, id_number, "id_number")
        return self._find(_person(id_type, id_number), reveal=reveal)

    def find_organization(self, uscc: str) -> SubscriberView | None:
        """The organization registered with this credit code, if any."""
        return self._find(_organization(validate_uscc(uscc, "uscc")))

    def list(
        self,
        kind: str | None = None,
        *,
        organization_id: int | None = None,
        reachable: bool | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[SubscriberView]:
        """Subscribers in registration order; ``organization_id`` narrows to the organization
        and the persons and devices registered under it, ``reachable`` to those whose notices
        can (``True``) or cannot (``False``) reach anyone (``views.reachable``), ``after``/
        ``limit`` page."""
        kind = listed(SubscriberKind, kind, "kind")  # judged before the database is opened
        with self.db.read() as s:
            q = select_where(Subscriber, kind=kind)
            q = q.where(of_organization(Subscriber.id, organization_id))
            if reachable is not None:
                q = q.where(~_unreachable() if reachable else _unreachable())
            q = paged(q, Subscriber.id, after=after, limit=limit)
            return [subscriber_view(x) for x in s.execute(q).scalars()]

    def acceptances(self, subscriber_id: int) -> list[AgreementAcceptanceView]:
        """The subscriber's acceptances of the agreement, oldest first (a self-service page
        asks whether the current version is among them before offering to apply)."""
        with self.db.read() as s:
            self.get_row(s, subscriber_id)
            rows = s.execute(
                select(AgreementAcceptance)
                .where(AgreementAcceptance.subscriber_id == subscriber_id)
                .order_by(AgreementAcceptance.id)
            ).scalars()
            return [acceptance_view(a) for a in rows]

    def phone_registered(self, phone: str) -> bool:
        """Whether a person or an organization already logs in with this mobile number (a
        login by phone needs the number to name one subscriber). A look, for an early answer:
        only ``claim_phone`` decides."""
        number = validate_mobile(phone, "phone")
        with self.db.read() as s:
            return _holder(s, number) is not None

    def claim_phone(self, s: Session, phone: str) -> None:
        """In the transaction ``s`` that registers an account with this mobile number: refuse
        it (``phone_taken``, 409) if a person or an organization has the number already, and
        hold the number's lock (``Database.lock``) until ``s`` ends, so a registration with the
        same number at the same moment waits for this one to commit and then finds it. There
        is no unique index to decide it: a person and an organization may share a number (the
        contact who is also a person), which the login asks to choose between; the
        self-registration gives a number its first account only."""
        key = hashlib.sha256(f"yinxin/phone-claim/v1:{phone}".encode()).digest()[:8]
        self.db.lock(s, int.from_bytes(key, "big", signed=True))
        if _holder(s, phone) is not None:
            raise phone_taken()

    def exists(self, subscriber_id: int) -> bool:
        with self.db.read() as s:
            return s.get(Subscriber, subscriber_id) is not None

    def in_organization(self, subscriber_id: int, organization_id: int) -> bool:
        """Whether the subscriber is the organization or registered under it."""
        with self.db.read() as s:
            sub = s.get(Subscriber, subscriber_id)
            return sub is not None and organization_id in (sub.id, sub.organization_id)


def phone_taken() -> Conflict:
    """The refusal of a registration whose mobile number a person or organization has."""
    return Conflict(
        "this mobile number is already registered; log in with it instead",
        field="phone",
        code="phone_registered",
    )


def _holder(s: Session, number: str) -> int | None:
    """A person or organization registered with this mobile number, if any."""
    q = select(Subscriber.id).where(
        Subscriber.phone == number, Subscriber.kind.in_((PERSON, ORGANIZATION))
    )
    return s.execute(q.limit(1)).scalar_one_or_none()


def _unreachable() -> ColumnElement[bool]:
    """In SQL, what ``views.reachable`` says is false: no mobile number and no e-mail on the
    record — for a device, none on its organization's, where its notices go."""

    def no_contact(row: type[Subscriber]) -> ColumnElement[bool]:
        return and_(
            or_(row.phone.is_(None), row.phone == ""), or_(row.email.is_(None), row.email == "")
        )

    owner = aliased(Subscriber)
    owner_reached = (
        select(owner.id)
        .where(owner.id == Subscriber.organization_id, owner.kind != DEVICE, ~no_contact(owner))
        .exists()
    )
    return case((Subscriber.kind == DEVICE, ~owner_reached), else_=no_contact(Subscriber))


def _person(id_type: str, id_number: str) -> Select:
    """The person holding this ID document (one document, one subscriber record)."""
    return select(Subscriber).where(
        Subscriber.kind == PERSON, Subscriber.id_type == id_type, Subscriber.id_number == id_number
    )


def _organization(uscc: str) -> Select:
    """The organization with this unified social credit code."""
    return select(Subscriber).where(Subscriber.kind == ORGANIZATION, Subscriber.uscc == uscc)
