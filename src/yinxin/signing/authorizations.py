"""Authorized automatic signing (静默签署 / 自动签署授权): an organization lets the platform
apply one of its seals without a one-time code, within limits it signed.

**Granting.** An administrator of the organization — the seal's holder or a member holding the
seal's grant (用印授权) — gives the seal PIN once, through the same door as a signature
(``Seals.unlock_for_signing``: usability, grant, PIN counting). The terms — which seal and
certificate, for which counterparties (subscriber ids) and/or sign flows (either list empty =
any), up to how many documents, valid from when until when, granted by whom — are written as
canonical JSON and **signed with the seal's own key**, so the organization's consent is evidence
of the same strength as its seal, and any later change to the stored terms (a raised limit, a
widened scope) is detected: every use rebuilds the terms from the row and verifies the
signature before the key is touched.

**The key.** Signing without the PIN needs the key without the PIN: it is encrypted again under a
fresh per-authorization secret, itself encrypted under the platform KEK (``pki.authkeys``), and
kept on the authorization's row — never in clear. Withdrawal, exhaustion and expiry delete that
copy (crypto-shredding); the PIN-sealed original is untouched.

**A member's grant.** An authorization made by a member takes its documents from the uses of the
member's seal grant (用印次数) when it is made (``seal_grant_id`` names that grant); withdrawal or
expiry gives the documents it did not sign back to the grant in the same commit, audited. Each
use checks that grant is still in force for it (``seals.grants.authorization_grant_state``: not
withdrawn, not past its end, its person the organization's — used up by the authorization's own
documents is fine): a leaving employee's grant withdrawn, their authorization signs nothing more
(``grant_not_in_force``), kept for the organization to withdraw; views show ``grant_state``.

**Use** (``BatchSigning.sign_authorized``) is checked twice: before signing (refusing a
withdrawn, exhausted, expired or out-of-scope authorization at once, without touching the key)
and again in the transaction that records the signatures, holding the authorization's row
(``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's writer transaction holds the database's write
lock from its start). That transaction decrements the remaining count and audits
``authorization.used`` with the documents' hashes, so two uses racing for the last document
cannot both commit.

States (``AuthorizationState``): active → withdrawn | exhausted | expired, in ``LIFECYCLE``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from yinxin.clock import Clock
from yinxin.errors import Forbidden, NotFound, ValidationError, YinxinError
from yinxin.identity import reason_text
from yinxin.pki.algorithms import algorithm_of
from yinxin.pki.authkeys import open_for_authorization, wrap_for_authorization
from yinxin.pki.kek import PlatformKek
from yinxin.results import from_row
from yinxin.seals.catalogue import ORGANIZATION_KINDS
from yinxin.seals.grants import (
    GRANT_NOT_IN_FORCE,
    OTHER_ORGANIZATION,
    authorization_grant_state,
    outside,
    seal_organization,
)
from yinxin.seals.pin import SealMaterial
from yinxin.seals.rows import actor_name, audit_seal, certificate_and_key, seal_row
from yinxin.seals.service import Seals, UnlockedSeal
from yinxin.seals.usability import problem
from yinxin.store import audit
from yinxin.store.db import Database
from yinxin.store.models import Certificate, Subscriber
from yinxin.store.models.authorizations import SigningAuthorization
from yinxin.store.models.flows import SignFlow, SignFlowSigner
from yinxin.store.models.seals import Seal, SealGrant
from yinxin.store.queries import by_id, paged, select_where
from yinxin.transitions import TransitionTable, listed, move

MAX_DOCUMENTS = 100_000
MAX_SCOPE = 1000  # ids in one list of counterparties or flows
TERMS_VERSION = 1
# how the refusal of an authorization whose grant is not in force says the grant's state
_GRANT_STATE_ZH = {"withdrawn": "已撤销", "expired": "已过期", "none": "不存在"}


def _check_flows(s: Session, flow_ids: Sequence[int], seal: Seal) -> None:
    """Refuse a sign flow that does not exist yet, or that the seal's organization has no part
    in, naming ``flow_ids``, before anything is written.

    An id not yet used would have covered whichever flow later got it; a flow the
    organization neither owns nor signs in (with this seal or as itself) is not one it can
    authorize. A flow's signers are fixed when it is created, so this can be told now."""
    for fid in flow_ids:
        flow = s.get(SignFlow, fid)
        if flow is None:
            raise NotFound(f"no sign flow {fid}", field="flow_ids")
        if flow.owner_subscriber_id == seal.subscriber_id:
            continue
        signs = select(SignFlowSigner.id).where(
            SignFlowSigner.flow_id == fid,
            or_(
                SignFlowSigner.seal_id == seal.id,
                SignFlowSigner.subscriber_id == seal.subscriber_id,
            ),
        )
        if s.execute(signs.limit(1)).first() is None:
            raise ValidationError(
                f"sign flow {fid} is neither owned nor signed by subscriber "
                f"{seal.subscriber_id}, the holder of seal {seal.es_id}",
                field="flow_ids",
            )


class AuthorizationState(StrEnum):
    """Where an authorization stands (equal to the string stored in its row)."""

    NONE = "none"  # before it exists: what ``grant`` starts from
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    EXHAUSTED = "exhausted"
    EXPIRED = "expired"


_A = AuthorizationState
LIFECYCLE = TransitionTable(
    "signing authorization",
    "authorization_id",
    hold_state=None,
    moves=[
        move("grant", "authorize automatic signing", {_A.NONE}, _A.ACTIVE, creates=True),
        move("use", "sign documents under it", {_A.ACTIVE}, _A.ACTIVE),
        move("withdraw", "the organization withdraws it", {_A.ACTIVE}, _A.WITHDRAWN),
        move("exhaust", "its last document was signed", {_A.ACTIVE}, _A.EXHAUSTED),
        move("expire", "its end passed", {_A.ACTIVE}, _A.EXPIRED),
    ],
)


@dataclass(frozen=True)
class AuthorizationView:
    """One signing authorization, its terms and where it stands (never its key)."""

    id: int
    seal_id: int
    es_id: str
    holder_subscriber_id: int
    granted_by: str
    granted_by_subscriber_id: int | None
    certificate_serial: str
    counterparties: tuple[int, ...]  # () = any
    flow_ids: tuple[int, ...]  # () = any
    max_documents: int
    used_documents: int
    remaining: int
    valid_from: dt.datetime
    valid_until: dt.datetime
    state: AuthorizationState
    terms_sha256: str
    key_held: bool  # False once the wrapped key copy is deleted
    created_at: dt.datetime
    ended_at: dt.datetime | None
    ended_by: str | None
    end_reason: str | None
    # made by a member (not the seal's holder): where the grant it was made under stands now
    # (``seals.grants.authorization_grant_state``) — anything but ``active`` and it authorises
    # nothing, though ``state`` may still say active (kept, for the organization to withdraw).
    # None: made by the holder, who needs no grant
    grant_state: str | None

    @classmethod
    def of(cls, s: Session, r: SigningAuthorization, now: dt.datetime) -> AuthorizationView:
        """The row as shown, with its grant's state read from the current rows at ``now``."""
        seal = s.get(Seal, r.seal_id)
        by = r.granted_by_subscriber_id
        grant = None
        if seal is not None and by is not None and by != seal.subscriber_id:
            grant = authorization_grant_state(s, seal, by, r.seal_grant_id, now)
        return from_row(
            cls,
            r,
            grant_state=grant,
            counterparties=tuple(json.loads(r.counterparties)),
            flow_ids=tuple(json.loads(r.flow_ids)),
            remaining=r.max_documents - r.used_documents,
            state=AuthorizationState(r.state),
            terms_sha256=hashlib.sha256(r.terms.encode("utf-8")).hexdigest(),
            key_held=r.wrapped_key is not None,
        )


@dataclass(frozen=True)
class TermsCheck:
    """Whether the stored terms are the ones the seal's key signed, and the row still says
    them."""

    authorization_id: int
    ok: bool
    reason: str | None
    terms: str
    terms_sha256: str


def _label(authorization_id: int) -> str:
    return f"authorization-{authorization_id}"


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _whole(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.UTC).replace(microsecond=0)


def terms_of(r: SigningAuthorization) -> str:
    """The canonical JSON of the authorization's terms, rebuilt from its row's columns: what
    the seal's key signed at grant time, and what every use checks it against."""
    terms = {
        "version": TERMS_VERSION,
        "type": "yinxin-signing-authorization",
        "authorization_id": r.id,
        "seal_id": r.seal_id,
        "es_id": r.es_id,
        "certificate_serial": r.certificate_serial,
        "holder_subscriber_id": r.holder_subscriber_id,
        "granted_by": r.granted_by,
        "granted_by_subscriber_id": r.granted_by_subscriber_id,
        "counterparties": sorted(json.loads(r.counterparties)),
        "flow_ids": sorted(json.loads(r.flow_ids)),
        "max_documents": r.max_documents,
        "valid_from": _iso(r.valid_from),
        "valid_until": _iso(r.valid_until),
    }
    return json.dumps(terms, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _verify_signature(cert_der: bytes, signature: bytes, data: bytes) -> bool:
    public = x509.load_der_x509_certificate(cert_der).public_key()
    hash_alg = algorithm_of(public).hash
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, data, ec.ECDSA(hash_alg))
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, data, padding.PKCS1v15(), hash_alg)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _ids(values: Iterable[int] | None, field: str) -> list[int]:
    out: list[int] = []
    for v in values or ():
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValidationError(f"{field} must be positive whole numbers (ids)", field=field)
        out.append(v)
    if len(out) > MAX_SCOPE:
        raise ValidationError(f"at most {MAX_SCOPE} ids in {field}", field=field)
    return sorted(set(out))


class SigningAuthorizations:
    """Grant, withdraw, show and check signing authorizations; open one for a batch."""

    def __init__(self, db: Database, clock: Clock, seals: Seals, kek: PlatformKek):
        self.db, self.clock, self.seals, self.kek = db, clock, seals, kek

    # --- grant -----------------------------------------------------------------------------------
    def grant(
        self,
        seal: int | str,
        *,
        pin: str,
        granted_by_subscriber_id: int,
        max_documents: int,
        valid_until: dt.datetime,
        counterparties: Sequence[int] = (),
        flow_ids: Sequence[int] = (),
        valid_from: dt.datetime | None = None,
        actor: str | None = None,
    ) -> AuthorizationView:
        """Authorize automatic signing with an organization seal; the PIN is given once, here."""
        now = self.clock.now()
        if isinstance(max_documents, bool) or not isinstance(max_documents, int):
            raise ValidationError("max_documents must be a whole number", field="max_documents")
        if not 1 <= max_documents <= MAX_DOCUMENTS:
            raise ValidationError(f"max_documents must be 1–{MAX_DOCUMENTS}", field="max_documents")
        for name, t in (("valid_until", valid_until), ("valid_from", valid_from)):
            if t is not None and (not isinstance(t, dt.datetime) or t.tzinfo is None):
                raise ValidationError("give a time with its time zone", field=name)
        start = _whole(valid_from or now)
        end = _whole(valid_until)
        if end <= now or end <= start:
            raise ValidationError(
                "valid_until must be in the future and after valid_from", field="valid_until"
            )
        parties = _ids(counterparties, "counterparties")
        flows = _ids(flow_ids, "flow_ids")
        actor = actor_name(actor or f"subscriber:{granted_by_subscriber_id}")
        with self.db.read() as s:
            row = seal_row(s, seal)
            if row.kind not in ORGANIZATION_KINDS:
                raise ValidationError(
                    "automatic signing is authorized for organization seals only",
                    field="seal",
                )
            if s.get(Subscriber, granted_by_subscriber_id) is None:
                raise NotFound(
                    f"no subscriber {granted_by_subscriber_id}", field="granted_by_subscriber_id"
                )
            for sid in parties:
                if s.get(Subscriber, sid) is None:
                    raise NotFound(f"no subscriber {sid}", field="counterparties")
            _check_flows(s, flows, row)
        # the door every signature goes through: usable seal, holder or granted member, PIN
        unlocked = self.seals.unlock_for_signing(
            seal, pin, member_subscriber_id=granted_by_subscriber_id
        )
        native = unlocked.key.native
        if native is None:  # pragma: no cover - seal keys are platform-held software keys
            raise ValidationError("this seal's key cannot be copied for automatic signing")
        self.kek.ready()  # open (or create) the KEK before the transaction
        with self.db.transaction() as s:
            srow = seal_row(s, unlocked.stamp.seal_id, lock=True)
            # frozen, revoked or the member's grant withdrawn since the PIN was checked: no
            # authorization (a copy of the key that signs without the PIN) is made. A member
            # hands on no more than the grant allows: its documents are taken from the grant's
            # uses (用印次数) now, and it ends no later than the grant (授权期限)
            g = self.seals.hold_usable(
                s, unlocked.stamp, granted_by_subscriber_id, uses=max_documents
            )
            if g is not None and g.valid_until is not None and end > g.valid_until:
                raise ValidationError(
                    f"valid_until is after grant #{g.id} of seal {srow.es_id} to subscriber "
                    f"#{granted_by_subscriber_id} ends ({_iso(g.valid_until)}): an automatic-"
                    "signing authorization may not outlast it",
                    field="valid_until",
                )
            LIFECYCLE.check("grant", _A.NONE, None, "(new)")
            r = SigningAuthorization(
                seal_id=srow.id,
                es_id=srow.es_id,
                holder_subscriber_id=srow.subscriber_id,
                granted_by=actor,
                granted_by_subscriber_id=granted_by_subscriber_id,
                seal_grant_id=g.id if g is not None else None,
                certificate_serial=unlocked.stamp.certificate_serial,
                counterparties=json.dumps(parties),
                flow_ids=json.dumps(flows),
                max_documents=max_documents,
                used_documents=0,
                valid_from=start,
                valid_until=end,
                state=_A.ACTIVE,
                terms="",
                terms_signature=b"",
                created_at=now,
            )
            s.add(r)
            s.flush()
            r.terms = terms_of(r)
            r.terms_signature = unlocked.key.sign(r.terms.encode("utf-8"))
            r.wrapped_key = wrap_for_authorization(native, _label(r.id), self.kek)
            view = AuthorizationView.of(s, r, now)
            self._audit(s, r, "granted", actor, now, {"terms": json.loads(r.terms)})
        return view

    # --- withdraw, read --------------------------------------------------------------------------
    def withdraw(self, authorization_id: int, *, actor: str, reason: str) -> AuthorizationView:
        """End the authorization at once; its copy of the key is deleted in the same commit."""
        actor = actor_name(actor)
        reason = reason_text(reason)
        now = self.clock.now()
        with self.db.transaction() as s:
            r = self._row(s, authorization_id, lock=True)
            self._end(s, r, "withdraw", actor, now, reason)
            return AuthorizationView.of(s, r, now)

    def get(self, authorization_id: int) -> AuthorizationView:
        now = self.clock.now()
        with self.db.read() as s:
            return AuthorizationView.of(s, self._row(s, authorization_id), now)

    def list(
        self,
        holder_subscriber_id: int | None = None,
        *,
        state: str | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[AuthorizationView]:
        """Authorizations in id order (oldest first), ``after``/``limit`` page as the other
        listings do (``yinxin authorization list``)."""
        state = listed(AuthorizationState, state, "state")
        now = self.clock.now()
        with self.db.read() as s:
            q = select_where(
                SigningAuthorization, holder_subscriber_id=holder_subscriber_id, state=state
            )
            q = paged(q, SigningAuthorization.id, after=after, limit=limit)
            return [AuthorizationView.of(s, r, now) for r in s.execute(q).scalars()]

    def verify_terms(self, authorization_id: int) -> TermsCheck:
        """Check the stored terms: the row still says them, and the seal's key signed them."""
        with self.db.read() as s:
            r = self._row(s, authorization_id)
            reason = self._terms_problem(s, r)
            return TermsCheck(
                r.id,
                reason is None,
                reason,
                r.terms,
                hashlib.sha256(r.terms.encode("utf-8")).hexdigest(),
            )

    def expire_due(self) -> int:
        """Mark every active authorization past its end expired, deleting its key copy (for a
        scheduled job; use refuses an overdue one by itself)."""
        now = self.clock.now()
        with self.db.transaction() as s:
            rows = (
                s.execute(
                    select(SigningAuthorization)
                    .where(
                        SigningAuthorization.state == _A.ACTIVE,
                        SigningAuthorization.valid_until <= now,
                    )
                    .with_for_update()
                )
                .scalars()
                .all()
            )
            n = 0
            for r in rows:
                self._end(s, r, "expire", "system", now, "its end passed")
                n += 1
            return n

    # --- use (for BatchSigning) ------------------------------------------------------------------
    def open_for_use(
        self,
        authorization_id: int,
        *,
        documents: int,
        flow_id: int | None,
        counterparty_subscriber_id: int | None,
    ) -> tuple[UnlockedSeal, AuthorizationView]:
        """Everything checked, then the seal key from the authorization's copy: what a batch
        signs with. An authorization found past its end is marked expired (and its key copy
        deleted) before the refusal."""
        now = self.clock.now()
        with self.db.read() as s:
            r = self._row(s, authorization_id)
            refusal = self._refusal(s, r, documents, flow_id, counterparty_subscriber_id, now)
            if refusal is None:
                seal = s.get(Seal, r.seal_id)
                cert, _key = certificate_and_key(s, seal)
                stamp = SealMaterial.of(seal, cert)
                certificate = x509.load_der_x509_certificate(cert.der)
                blob = r.wrapped_key
                view = AuthorizationView.of(s, r, now)
        if refusal is not None:
            if refusal.code == "authorization_expired" and r.state == _A.ACTIVE:
                with self.db.transaction() as s:
                    row = self._row(s, authorization_id, lock=True)
                    if row.state == _A.ACTIVE:
                        self._end(s, row, "expire", "system", now, "its end passed")
            raise refusal
        assert blob is not None
        key = open_for_authorization(blob, _label(view.id), self.kek)
        fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if key.public_key().public_bytes(*fmt) != certificate.public_key().public_bytes(*fmt):
            raise Forbidden(
                "the authorization's key copy does not belong to the seal's certificate",
                field="authorization_id",
                code="authorization_key",
            )
        return UnlockedSeal(key, certificate, stamp), view

    def use(
        self,
        s: Session,
        authorization_id: int,
        *,
        documents: Sequence[tuple[str, str]],
        flow_id: int | None,
        counterparty_subscriber_id: int | None,
        stamp: SealMaterial,
        actor: str,
        now: dt.datetime,
    ) -> AuthorizationView:
        """Count ``documents`` (names and SHA-256) against the authorization in the caller's
        transaction, holding its row: checked again, decremented, audited; the last document
        exhausts it (and deletes its key copy).

        ``stamp`` is the seal as :meth:`open_for_use` handed it out. After the authorization's
        row, the seal's and its certificate's rows are held (``SealPins.hold_usable``, as on
        every signing path) before they are checked, so a seal frozen or revoked meanwhile
        either refuses this use or waits for it to be recorded, never lands in between."""
        r = self._row(s, authorization_id, lock=True)
        self.seals.hold_usable(s, stamp, None)
        refusal = self._refusal(s, r, len(documents), flow_id, counterparty_subscriber_id, now)
        if refusal is not None:
            raise refusal
        LIFECYCLE.check("use", r.state, None, str(r.id))
        r.used_documents += len(documents)
        data = {
            "documents": [{"name": n, "sha256": h} for n, h in documents],
            "count": len(documents),
            "remaining": r.max_documents - r.used_documents,
            "flow_id": flow_id,
            "counterparty_subscriber_id": counterparty_subscriber_id,
            "terms_sha256": hashlib.sha256(r.terms.encode("utf-8")).hexdigest(),
        }
        self._audit(s, r, "used", actor, now, data)
        if r.used_documents >= r.max_documents:
            self._end(s, r, "exhaust", "system", now, "its last document was signed")
        return AuthorizationView.of(s, r, now)

    # --- inside ----------------------------------------------------------------------------------
    @staticmethod
    def _row(s: Session, authorization_id: int, lock: bool = False) -> SigningAuthorization:
        return by_id(
            s,
            SigningAuthorization,
            authorization_id,
            field="authorization_id",
            not_number="authorization_id must be a whole number",
            missing=f"no signing authorization {authorization_id}",
            lock=lock,
            refresh=lock,  # a locked row is read afresh: another writer may have moved it
        )

    def _terms_problem(self, s: Session, r: SigningAuthorization) -> str | None:
        if r.terms != terms_of(r):
            return "the stored terms differ from the authorization's columns"
        cert = s.execute(
            select(Certificate).where(Certificate.serial_hex == r.certificate_serial)
        ).scalar_one_or_none()
        if cert is None:
            return "the certificate that signed the terms is unknown"
        if not _verify_signature(cert.der, r.terms_signature, r.terms.encode("utf-8")):
            return "the terms' signature does not verify with the seal's certificate"
        return None

    def _refusal(
        self,
        s: Session,
        r: SigningAuthorization,
        documents: int,
        flow_id: int | None,
        counterparty: int | None,
        now: dt.datetime,
    ) -> YinxinError | None:
        """Why this use of the authorization is refused now, or None."""
        field = "authorization_id"
        if r.state != _A.ACTIVE:
            return Forbidden(
                f"signing authorization {r.id} is {r.state}",
                field=field,
                code=f"authorization_{r.state}",
            )
        if now >= r.valid_until:
            return Forbidden(
                f"signing authorization {r.id} ended at {_iso(r.valid_until)}",
                field=field,
                code="authorization_expired",
            )
        if now < r.valid_from:
            return Forbidden(
                f"signing authorization {r.id} starts at {_iso(r.valid_from)}",
                field=field,
                code="authorization_not_yet_valid",
            )
        problem_text = self._terms_problem(s, r)
        if problem_text is not None:
            return Forbidden(
                f"signing authorization {r.id} cannot be trusted: {problem_text}",
                field=field,
                code="authorization_tampered",
            )
        flows, parties = json.loads(r.flow_ids), json.loads(r.counterparties)
        if flows and flow_id not in flows:
            return Forbidden(
                f"signing authorization {r.id} does not cover sign flow {flow_id}",
                field="flow_id",
                code="authorization_scope",
            )
        if parties and counterparty not in parties:
            return Forbidden(
                f"signing authorization {r.id} does not cover counterparty {counterparty}",
                field="counterparty_subscriber_id",
                code="authorization_scope",
            )
        left = r.max_documents - r.used_documents
        if documents > left:
            return Forbidden(
                f"signing authorization {r.id} allows {left} more document(s), not {documents}",
                field=field,
                code="authorization_limit",
            )
        seal = s.get(Seal, r.seal_id)
        cert, key = certificate_and_key(s, seal)
        if cert.serial_hex != r.certificate_serial:
            return Forbidden(
                f"seal {seal.es_id} is now bound to another certificate than the one "
                "authorized; grant a new authorization",
                field=field,
                code="authorization_certificate",
            )
        if r.wrapped_key is None:
            return Forbidden(
                f"signing authorization {r.id} holds no key", field=field, code="authorization_key"
            )
        # made by a member under a grant (not the holder): that grant must still be in force
        # for it — not withdrawn nor past its end (its being used up by the authorization's own
        # documents, taken when it was made, does not count), its person not another
        # organization's (a grant made before ``seal grant`` refused one, or a person moved
        # since). A grant not in force authorises nothing, so neither does what was made under it
        by = r.granted_by_subscriber_id
        if by is not None and by != seal.subscriber_id:
            state = authorization_grant_state(s, seal, by, r.seal_grant_id, now)
            if state == OTHER_ORGANIZATION:
                owner = seal_organization(s, seal)
                elsewhere = outside(s.get(Subscriber, by), owner)
                return Forbidden(
                    f"signing authorization {r.id} was made by subscriber #{by}, registered "
                    f"under organization #{elsewhere}, not under #{owner} whose seal "
                    f"{seal.es_id} this is: its grant is not in force; withdraw the "
                    "authorization (用印授权不生效：授权人不属于用印单位)",
                    field="seal",
                    code=OTHER_ORGANIZATION,
                )
            if state != "active":
                grant = f"grant #{r.seal_grant_id}" if r.seal_grant_id else "a grant"
                zh = _GRANT_STATE_ZH.get(state, "不生效")
                return Forbidden(
                    f"signing authorization {r.id} was made by subscriber #{by} under {grant} "
                    f"to use seal {seal.es_id}, and that grant is not in force ({state}): it "
                    "authorises nothing; withdraw the authorization "
                    f"(用印授权{zh}，自动签署授权不再生效，请撤销)",
                    field="seal",
                    code=GRANT_NOT_IN_FORCE,
                )
        return problem(s, seal, cert, key, None, now)

    def _end(
        self,
        s: Session,
        r: SigningAuthorization,
        verb: str,
        actor: str,
        now: dt.datetime,
        reason: str,
    ) -> None:
        """Move to withdrawn / exhausted / expired and delete the key copy, audited. The
        documents it did not sign go back to the member's seal grant they were taken from."""
        r.state = LIFECYCLE.check(verb, r.state, None, str(r.id)).to_state
        returned = self._return_uses(s, r, actor, now)
        if s.bind.dialect.name == "sqlite":
            # the deleted blob's bytes are overwritten in the file, not just unlinked
            s.execute(text("PRAGMA secure_delete=ON"))
        r.wrapped_key = None
        r.ended_at, r.ended_by, r.end_reason = now, actor[:100], reason
        past = {"withdraw": "withdrawn", "exhaust": "exhausted", "expire": "expired"}[verb]
        data = {"reason": reason, "used_documents": r.used_documents, "key_deleted": True}
        if returned:
            data["returned_uses"] = {"seal_grant_id": r.seal_grant_id, "uses": returned}
        self._audit(s, r, past, actor, now, data)

    @staticmethod
    def _return_uses(s: Session, r: SigningAuthorization, actor: str, now: dt.datetime) -> int:
        """Give the member's seal grant back the documents the ending authorization did not
        sign (taken from its uses when the authorization was made), in the caller's transaction,
        holding the grant's row; the number given back. Those signed stay counted; a grant
        withdrawn or past its end meanwhile gets them back too (its count stays true) but is
        not revived. The seal's history records it (``seal.grant_uses_returned``)."""
        left = r.max_documents - r.used_documents
        if r.seal_grant_id is None or left <= 0:
            return 0
        g = s.execute(
            select(SealGrant)
            .where(SealGrant.id == r.seal_grant_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if g is None:
            return 0
        returned = min(left, g.uses)
        g.uses -= returned
        audit_seal(
            s,
            r.es_id,
            "grant_uses_returned",
            actor,
            now,
            {
                "grant_id": g.id,
                "member_subscriber_id": g.member_subscriber_id,
                "authorization_id": r.id,
                "uses": returned,
                "uses_now": g.uses,
            },
        )
        return returned

    @staticmethod
    def _audit(
        s: Session, r: SigningAuthorization, verb: str, actor: str, now: dt.datetime, data: dict
    ) -> None:
        data = {"seal": r.es_id, "holder_subscriber_id": r.holder_subscriber_id, **data}
        audit.event(
            s, now, actor, f"authorization.{verb}", r.id, data, subject_type="signing_authorization"
        )
