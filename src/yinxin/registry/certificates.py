"""Applications, review, issuance and the whole certificate lifecycle.

Every verb checks the table of allowed moves (``lifecycle.MOVES``) and all its inputs before it
writes anything; the change, any successor certificate, the status revision that tells CRL and
OCSP publishers to refresh, and the audit event are written in one transaction.

The PKI (``cryptography``, the authority, key generation and sealing, SM2) is imported inside
the verbs that parse, issue or seal, and the authority and key-encryption key are handed over
as callables asked for on first use: a listing or a lookup (``yinxin cert list``) loads and
builds none of it (issue 10: a simple verb answers in under 0.5 s).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import exists, func, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from yinxin.clock import Clock, beijing_date
from yinxin.errors import (
    ConfigurationError,
    Conflict,
    Forbidden,
    IllegalTransition,
    ValidationError,
)
from yinxin.identity import (
    normal_serial,
    refuse_hidden,
    serial_hex,
    validate_name,
)
from yinxin.registry import lifecycle
from yinxin.registry.fees import check_years, get_plan, yuan
from yinxin.registry.lifecycle import (
    ACTIVE,
    EXPIRED,
    FROZEN,
    LOST,
    ON_HOLD,
    PENDING,
    REVOCATION_REASONS,
    REVOKED,
    UNPAID,
    ApplicationState,
    CertificateState,
    HoldBy,
    HoldKind,
    check_application,
    check_revocation_reason,
)
from yinxin.registry.subscribers import (
    CONTACT_FIELDS,
    CONTACT_ONLY,
    DEVICE,
    NAME_MAX,
    PERSON,
    SUBJECT_NAME_MAX,
    Subscribers,
    masked_detail,
)
from yinxin.registry.views import (
    ApplicationView,
    CertificateView,
    KeyMode,
    LostCertificate,
    PaymentKind,
    PaymentView,
    RestoredCertificate,
    RevokedCertificate,
    SubmittedApplication,
    Successor,
    WrappedKeys,
    application_view,
    certificate_view,
    lost_view,
    payment_view,
    restored_view,
    revoked_view,
    submitted_view,
)
from yinxin.store.audit import event
from yinxin.store.db import Database, add_unique
from yinxin.store.models import (
    Application,
    Certificate,
    Payment,
    PlatformKey,
    StatusRevision,
    Subscriber,
)
from yinxin.store.queries import (
    holder_organization,
    of_organization,
    of_organization_held,
    one_or_404,
    paged,
    select_where,
)
from yinxin.transitions import listed

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

    from yinxin.pki.kek import PlatformKek
    from yinxin.registry.ca import CertificateAuthority

YEAR = dt.timedelta(days=365)
# a renewal repeating the certificate's latest one (same reference and years) this soon after
# it is that payment sent again (a retry after a lost reply, a double click), not another year
RENEWAL_REPLAY_WINDOW = dt.timedelta(hours=24)
MAX_CSR = 64 * 1024
# The most host names one device certificate carries (POST /api/v1/applications took no more
# already; public CAs cap theirs too, at 100 or so): 3000 made a 76 KB certificate.
MAX_DNS_NAMES = 20
# How far ahead expiry notices look, and how long before one is repeated, in days at most.
NOTICE_DAYS_MAX = 3650


def check_notice_days(days: int, field: str) -> None:
    """A notice window in days, refused by name before a date past year 9999 is asked for."""
    if not 0 <= days <= NOTICE_DAYS_MAX:
        raise ValidationError(
            f"{field} must be a whole number from 0 to {NOTICE_DAYS_MAX}", field=field
        )


def parse_csr(data: bytes | str) -> x509.CertificateSigningRequest:
    """Parse PEM or DER and check proof of possession; the CSR's subject is not trusted."""
    from cryptography import x509

    from yinxin.pki import sm2_x509
    from yinxin.pki.algorithms import algorithm_of

    raw = data.encode() if isinstance(data, str) else data
    if not raw or len(raw) > MAX_CSR:
        raise ValidationError("the CSR is empty or larger than 64 KiB", field="csr")
    try:
        csr = (
            x509.load_pem_x509_csr(raw)
            if raw.lstrip().startswith(b"-----")
            else x509.load_der_x509_csr(raw)
        )
        if sm2_x509.is_sm2(csr):  # SM3withSM2 under the default user ID (GM/T 0009)
            return sm2_x509.load_csr(raw)[0]
        valid = csr.is_signature_valid
    except (ValueError, TypeError):
        raise ValidationError("the CSR is not a well-formed PKCS#10 request", field="csr") from None
    if not valid:
        raise ValidationError(
            "the CSR's signature does not verify (no proof of possession)", field="csr"
        )
    key = sm2_x509.public_key_any(csr)
    algorithm_of(key)
    _refuse_weak_rsa_exponent(key)
    return csr


def _refuse_weak_rsa_exponent(key: PublicKeyTypes) -> None:
    """An RSA key's public exponent must be odd and 2^16 < e < 2^256: the CA/Browser Forum
    Baseline Requirements §6.1.6 (odd, 3 or more; SHOULD be in that range) and FIPS 186-4
    B.3.1 (shall), as common CAs hold to (Let's Encrypt takes 65537 alone). e = 3 was taken."""
    from yinxin.pki.algorithms import describe_exponent, weak_rsa_exponent

    e = weak_rsa_exponent(key)
    if e is not None:
        raise ValidationError(
            "the CSR's RSA public exponent must be an odd number above 2^16 and below "
            f"2^256 (65537 as usual; CA/Browser Forum Baseline Requirements 6.1.6), not "
            f"{describe_exponent(e)}",
            field="csr",
        )


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def check_dns_name(name: str) -> str:
    """An ASCII host name (internationalised names must come as A-labels, xn--…).

    Its last label, the top-level domain, is at least two characters and ends with a letter
    (RFC 3696 §2: no top-level domain is all-numeric; every A-label ends with a letter): so
    an IP address (``1.2.3.4``) or ``gw.example.123`` is no host name, which pkilint's
    ``pkix.invalid_domain_name_syntax`` found as an ERROR in certificates issued for them.
    An xn-- label must be an A-label IDNA 2008 (RFC 5891, what browsers and the CA/Browser
    Forum follow) decodes and encodes back to itself: ``xn--a`` (a control character, U+0080)
    or ``xn--zz`` (no Punycode) made certificates whose host names asn1crypto, reading them,
    could not decode, and ``xn--ls8h`` (an emoji, which only IDNA 2003 took) certificates no
    browser matches a host name against.

    A name written in Unicode (U-labels, ``网关.例子.中国``) is refused, naming its A-labels
    to give instead: the certificate carries A-labels only, and the list the applicant sent
    is the list the certificate names."""
    d = (name or "").strip().lower().rstrip(".")
    labels = d.split(".")
    if d and not d.isascii():
        raise ValidationError(
            f"{name!r} is not a DNS host name: give an internationalised name as its A-labels"
            f"{_a_labels_hint(d)}",
            field="dns_names",
        )
    if (
        not d
        or len(d) > 253
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or len(labels[-1]) < 2
        or not labels[-1][-1].isalpha()
    ):
        raise ValidationError(
            f"{name!r} is not a DNS host name (letters, digits and hyphens, ending in a "
            "top-level domain of two or more characters whose last is a letter; not an IP "
            "address; internationalised names as xn-- A-labels)",
            field="dns_names",
        )
    for label in labels:
        if label.startswith("xn--") and not _is_a_label(label):
            raise ValidationError(
                f"{name!r} is not a DNS host name: {label} is no internationalised label "
                "(IDNA 2008 does not decode it to a name that encodes back to it)",
                field="dns_names",
            )
    return d


def check_dns_names(names: list[str] | None) -> list[str] | None:
    """A device certificate's host names, each checked by ``check_dns_name``, in the order given.

    A name given again, however written (``GW.example.cn.`` is ``gw.example.cn``), is refused
    naming it rather than dropped: the applicant sees the list they sent was not what they
    meant, and the certificate never names one host twice. More than ``MAX_DNS_NAMES`` names
    are refused before any is read."""
    if names and len(names) > MAX_DNS_NAMES:
        raise ValidationError(
            f"{len(names)} DNS names given; a certificate carries at most {MAX_DNS_NAMES}",
            field="dns_names",
        )
    out: list[str] = []
    for name in names or []:
        d = check_dns_name(name)
        if d in out:
            raise ValidationError(
                f"{name!r} names the host {d} again (DNS names are compared in lower case, "
                "without a trailing dot); give each host name once",
                field="dns_names",
            )
        out.append(d)
    return out or None


def recheck_dns_names(
    names: list[str] | None, whose: str, then: str
) -> tuple[list[str] | None, list[str]]:
    """Host names stored before today's checks (an application's, a certificate's that a
    renewal, rekey or reissue would copy), checked again as a CA/Browser Forum CA re-validates
    names at each issuance. Returns the names to certify and the repeats folded away.

    A repeat (``GW.example.cn.`` beside ``gw.example.cn``: the same host) is folded silently,
    the caller noting it in the audit trail: the new certificate names the same hosts. A name
    today's checks refuse, or more than ``MAX_DNS_NAMES`` hosts, is refused naming
    ``dns_names``, ``whose`` list it is and what to do ``then``: certifying it again would
    carry the old release's mistake into a new certificate."""
    out: list[str] = []
    folded: list[str] = []
    for name in names or []:
        try:
            d = check_dns_name(name)
        except ValidationError as e:
            raise ValidationError(
                f"{whose} names a host today's checks refuse: {e.message}; {then}",
                field="dns_names",
            ) from None
        if d in out:
            folded.append(name)
        else:
            out.append(d)
    if len(out) > MAX_DNS_NAMES:
        raise ValidationError(
            f"{whose} names {len(out)} hosts; a certificate carries at most {MAX_DNS_NAMES}; "
            f"{then}",
            field="dns_names",
        )
    return out or None, folded


def _is_a_label(label: str) -> bool:
    """Whether an ``xn--`` label is an A-label: IDNA 2008 (the ``idna`` package; Python's own
    codec is IDNA 2003 and took ``xn--ls8h``, an emoji) decodes it, the decoded name is not
    plain ASCII, it encodes back to ``label``, and Python's codec (as asn1crypto reads host
    names) decodes it too."""
    import idna

    try:
        u = idna.decode(label)
        label.encode("ascii").decode("idna")
        return not u.isascii() and idna.encode(u).decode("ascii") == label
    except (idna.IDNAError, UnicodeError, ValueError):
        return False


def _a_labels_hint(name: str) -> str:
    """`` (xn--….xn--…)``: the A-labels of a host name written in Unicode, when IDNA 2008
    has them; empty when it has none (an emoji, a symbol), which no host name may carry."""
    import idna

    try:
        return f" ({idna.encode(name).decode('ascii')})"
    except (idna.IDNAError, UnicodeError, ValueError):
        return "; IDNA 2008 gives this one none (it takes no emoji or symbol)"


def pub_der(key: PublicKeyTypes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# The revocation reasons that say the key is compromised (RFC 5280 keyCompromise).
COMPROMISE_REASONS = tuple(
    r for r, (rfc, _) in REVOCATION_REASONS.items() if rfc == "key_compromise"
)


def key_sha256(public_key: PublicKeyTypes) -> str:
    """The key's fingerprint as ``Certificate.spki_sha256`` keeps it: SHA-256 of its DER
    SubjectPublicKeyInfo as ``cryptography`` writes it (an EC point uncompressed, however the
    CSR carried it)."""
    return hashlib.sha256(pub_der(public_key)).hexdigest()


NEW_KEY_PAIR = "generate a new key pair and send its CSR"

# The class of the PostgreSQL advisory locks named by a certified key's fingerprint ("YK").
KEY_LOCKS = 0x594B


def lock_key(s: Session, fingerprint: str | None) -> None:
    """Hold, until the transaction ends, the lock named by a key's fingerprint: an issuance
    for the key (``refuse_compromised``) and a lifecycle verb on a certificate of it (a
    revocation for key compromise, a loss report) take turns, so each sees what the other
    committed — without it, on PostgreSQL, a revocation for key compromise missed a
    certificate of the key committed at the same moment, and an issuance missed the
    revocation. The lifecycle verbs take it before the certificate's row lock (``_cert_row``),
    always in that order. SQLite: a writer transaction holds the database's write lock from
    ``BEGIN``, nothing to add. Two keys whose fingerprints begin alike only take turns."""
    if fingerprint and s.get_bind().dialect.name == "postgresql":
        k = int(fingerprint[:8], 16) - 2**31  # a signed int4
        s.execute(text("SELECT pg_advisory_xact_lock(:c, :k)"), {"c": KEY_LOCKS, "k": k})


def refuse_compromised(
    s: Session, public_key: PublicKeyTypes, *, field: str = "csr", then: str = NEW_KEY_PAIR
) -> None:
    """A CA never certifies a key known to be compromised: refuse (422 ``compromised_key``,
    naming ``field``) a key that any certificate — anyone's, in any state — was revoked for
    as compromised (key_compromise, stolen_or_forged; a reissue after a loss too) or holds
    reported lost (on hold as lost, or expired so). One indexed look-up (``spki_sha256``),
    under the key's lock (:func:`lock_key`), held until the issuance commits. Asked early
    too, in a read session (``Certificates.check_new_key``, before a holder's code is sent):
    a courtesy, the lock held only while it looks — the call in the issuing transaction is
    the rule, and stays."""
    fingerprint = key_sha256(public_key)
    lock_key(s, fingerprint)
    hit = s.execute(
        select(Certificate.serial_hex, Certificate.revocation_reason)
        .where(
            Certificate.spki_sha256 == fingerprint,
            or_(
                Certificate.revocation_reason.in_(COMPROMISE_REASONS),
                Certificate.hold_kind == LOST,
            ),
        )
        .order_by(Certificate.id)
        .limit(1)
    ).first()
    if hit is None:
        return
    why = (
        "was revoked because its key was compromised"
        if hit.revocation_reason in COMPROMISE_REASONS
        else "is reported lost"
    )
    raise ValidationError(
        f"the key to certify is the key of certificate {hit.serial_hex}, which {why}: a key "
        f"known to be compromised is never certified again; {then}",
        field=field,
        code="compromised_key",
    )


def _refuse_past_ca_freeze(cert: Certificate, verb: str, by: HoldBy) -> None:
    """A holder's ``verb`` (reissue) would revoke ``cert`` and issue an active successor: not
    past a freeze the CA imposed — held as a freeze, or as a loss reported over it (restored,
    it goes back to that freeze) — which the CA lifts (as ``unfreeze`` refuses the holder)."""
    if by != HoldBy.HOLDER or cert.hold_by == HoldBy.HOLDER:
        return
    if cert.hold_kind == FROZEN or (cert.hold_kind == LOST and cert.previous_hold_kind == FROZEN):
        raise Forbidden(
            f"证书 {cert.serial_hex} 由认证机构冻结，持有人不能自行补办，请联系受理点"
            f"（the certification authority imposed this freeze: {verb} is the CA's）",
            field="hold_by",
            code="frozen_by_ca",
        )


VERB_NAMES = {"rekey": "更新密钥", "reissue": "补办"}
# What a rekey's or reissue's audit event records as its ``proof`` (the kind, never the value):
PROOF_PIN = "current_pin"  # the holder's own rekey of a platform-held key, by its current PIN
PROOF_CODE = "sms_code"  # the holder's own, by the code sent by SMS to the registered phone
PROOF_IN_PERSON = "in_person"  # the desk's (CLI, staff, unbound key): identity checked in person


def _needs_code(cert: Certificate, verb: str, by: HoldBy) -> bool:
    """Whether the holder's ``verb`` is proved by a code sent by SMS to the registered phone:
    a reissue (the key lost or its PIN forgotten), and a rekey of a key the holder holds
    (the platform cannot check it); a rekey of a platform-held key is proved by its PIN."""
    if by != HoldBy.HOLDER:
        return False
    return verb == "reissue" or (verb == "rekey" and cert.platform_key_id is None)


def _one_key_source(csr: object, pin: object) -> None:
    if (csr is None) == (pin is None):
        raise ValidationError(
            "give either a CSR (you hold the key) or a PIN (the platform "
            "holds the key, sealed under that PIN)",
            field="csr",
        )


def _refuse_the_old_key(cert: Certificate, old_cert, csr, verb: str) -> None:
    """A rekey or reissue certifies a new key: not a CSR for the key it replaces — after a
    loss, the key reported lost would be back in force under a fresh certificate. The keys are
    compared, not their encodings: a CSR may carry an EC point compressed (02/03 ‖ X), which
    the certificate issued for it writes uncompressed (04 ‖ X ‖ Y)."""
    from yinxin.pki import sm2_x509

    if pub_der(sm2_x509.public_key_any(parse_csr(csr))) == sm2_x509.cert_spki(old_cert):
        raise ValidationError(
            f"the CSR is for the key of certificate {cert.serial_hex}, the key a {verb} "
            "replaces: generate a new key pair and send its CSR",
            field="csr",
            code="same_key",
        )


def _carried_dns_names(
    old: Certificate, old_cert: x509.Certificate, verb: str
) -> tuple[list[str] | None, list[str]]:
    """The host names ``old`` names, checked again for its successor (``recheck_dns_names``):
    the names to certify, and the repeats folded away."""
    from cryptography import x509

    try:
        san = old_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        dns = san.value.get_values_for_type(x509.DNSName) or None
    except x509.ExtensionNotFound:
        dns = None
    return recheck_dns_names(
        dns,
        f"certificate {old.serial_hex}",
        f"no {verb} carries them into a new certificate: reissue it with a "
        f"corrected list at the desk (yinxin cert reissue {old.serial_hex} --dns "
        f"NAME …; dns_names in POST /api/v1/certificates/{old.serial_hex}/reissue)",
    )


def _recheck_application_names(
    stored: str | None, application_id: int
) -> tuple[list[str] | None, list[str]]:
    """An application's stored host names (its JSON list) checked again for its approval
    (``recheck_dns_names``): before the CA key is opened, and again in the transaction."""
    return recheck_dns_names(
        json.loads(stored) if stored else None,
        f"application {application_id}",
        f"reject application {application_id} (the applicant applies again with a "
        "corrected list of host names)",
    )


def _approvable(
    s: Session, app: Application
) -> tuple[lifecycle.Move[ApplicationState], list[str] | None, list[str], Payment]:
    """What approving ``app`` takes — its transition, its stored host names checked again by
    today's rules (before the fee is taken), the fee paid and not yet consumed — or the
    refusal. Asked before the CA key is opened (no passphrase typed for an approval refused
    anyway) and again in the approval's transaction: one rule, in one order."""
    decision = check_application("approve", app.state, app.id)
    dns_names, folded = _recheck_application_names(app.dns_names, app.id)
    pay = (
        s.execute(
            select(Payment).where(Payment.application_id == app.id, Payment.consumed_at.is_(None))
        )
        .scalars()
        .first()
    )
    if pay is None:
        raise Forbidden(
            f"the fee for application {app.id} has not been received",
            field="payment",
            code="unpaid",
        )
    return decision, dns_names, folded, pay


def _refuse_renewed(s: Session, cert: Certificate, verb: str) -> None:
    """Refuse ``verb`` on a certificate that already has a successor, naming the one to act on:
    only the newest of a line is renewed, paid for, rekeyed, reissued or changed."""
    successor = s.execute(
        select(Certificate.serial_hex).where(Certificate.predecessor_id == cert.id)
    ).scalar_one_or_none()
    if successor is not None:
        raise IllegalTransition(
            f"certificate {cert.serial_hex} was already renewed as {successor}; {verb} that one",
            field="serial",
        )


def subject_for(sub: Subscriber, org: Subscriber | None) -> x509.Name:
    """The certificate subject follows the subscriber kind (001 §一.4)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    def name(oid: x509.ObjectIdentifier, value: str) -> x509.NameAttribute:
        # RFC 5280 bounds a CN (and an O) at 64 characters; cryptography counts UTF-8 bytes,
        # which refused any Chinese name over 21 characters at issuance. Checked in characters.
        if len(value) > SUBJECT_NAME_MAX:
            raise ValidationError(
                f"the name has {len(value)} characters; a certificate's subject holds at most "
                f"{SUBJECT_NAME_MAX} (RFC 5280)",
                field="name",
                code="name_too_long",  # only a name stored before that bound reaches here
            )
        return x509.NameAttribute(oid, value, _validate=False)

    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "CN")]
    if sub.kind == PERSON:
        # A stable pseudonymous identifier tells two people of the same name apart without
        # publishing the ID number in every certificate.
        pid = hashlib.sha256(f"{sub.id_type}:{sub.id_number}".encode()).hexdigest()[:20].upper()
        attrs += [
            name(NameOID.COMMON_NAME, sub.name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, f"PID-{pid}"),
        ]
    elif sub.kind == "organization":
        attrs += [
            name(NameOID.ORGANIZATION_NAME, sub.name),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"NTRCN-{sub.uscc}"),
            name(NameOID.COMMON_NAME, sub.name),
        ]
    else:
        if org is not None:
            attrs.append(name(NameOID.ORGANIZATION_NAME, org.name))
        attrs.append(name(NameOID.COMMON_NAME, sub.device_name or sub.name))
    return x509.Name(attrs)


def in_force_state(c: Certificate, now: dt.datetime) -> str:
    """The state a lifecycle verb acts on: ``expired`` once the certificate's notAfter has
    passed, whether or not the expiry sweep (``expire_due``, hourly — and never where no
    worker runs) has marked the row yet. Read from the row alone, a certificate months past its
    end was renewed — a new certificate for its key, with no new application —, paid for,
    frozen, or refused a rekey with a bare "not_after must be later than not_before"."""
    if c.status in (ACTIVE, ON_HOLD) and c.not_after <= now:
        return EXPIRED
    return c.status


def state_for(verb: str, c: Certificate, now: dt.datetime) -> str:
    """:func:`in_force_state`, except for ``expire`` itself, which moves the stored state."""
    return c.status if verb == "expire" else in_force_state(c, now)


def _mark_revoked(
    c: Certificate, reason: str | None, at: dt.datetime, requested_at: dt.datetime, actor: str
) -> None:
    """The revocation's record on the row: when and why, who asked and when; no hold left."""
    c.revoked_at, c.revocation_reason = at, reason
    c.revocation_requested_at, c.revocation_requested_by = requested_at, actor
    c.hold_kind, c.previous_hold_kind = None, None


PAYMENT_REFERENCE_MAX = 100  # what payments.reference holds


def _payment_reference(reference: str | None) -> str | None:
    """A receipt or transfer reference as one line of plain text, its runs of white space
    one space (a retry typed " R-7 " is R-7's), a blank one none; longer than the column
    (a database error on PostgreSQL) or with a hidden character refused, naming reference."""
    if reference is None:
        return None
    reference = " ".join(reference.split()) or None
    if reference is None:
        return None
    if len(reference) > PAYMENT_REFERENCE_MAX:
        raise ValidationError(
            f"a payment reference is at most {PAYMENT_REFERENCE_MAX} characters",
            field="reference",
        )
    return refuse_hidden(reference, "reference")


# the longest rejection reason kept: several lines of explanation to the applicant, as a
# service-desk text (``contracts.desk.MAX_TEXT``)
MAX_REJECTION = 4000


class Certificates:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        ca: Callable[[], CertificateAuthority],
        *,
        kek: Callable[[], PlatformKek] | None = None,
    ):
        """``ca`` and ``kek`` are called when a verb first needs them (the composition root
        builds each on first use), so a query builds neither."""
        self.db, self.clock, self._ca = db, clock, ca
        # Platform-held keys are sealed under the PIN and this key-encryption key (without
        # one, under the PIN alone: the format of keys made before it existed).
        self._kek = kek
        # Called after a status change commits (in-process publishers refresh at once).
        self.on_status_change: list[Callable[[str], None]] = []
        # Called after a certificate is issued and committed.
        self.on_issued: list[Callable[[CertificateView], None]] = []
        # Called inside a certificate change's transaction when it moves the holder's mobile
        # number or e-mail, with the session, the subscriber row and the old value: the same
        # notices to the old number and address as ``Subscribers.update`` writes (the
        # composition root hands both services the same lists).
        self.phone_changed: list[Callable[[Session, Subscriber, str], None]] = []
        self.email_changed: list[Callable[[Session, Subscriber, str], None]] = []
        self.phone_ended: list[Callable[[Session, int, int | None, str], None]] = []
        # Called *inside* the transaction of an issuance ("issued") or a status change (the
        # lifecycle verb that made it: "freeze", "unfreeze", "restore", "expire"…) with the
        # session and the row: what they write (the holder's notice, as
        # a transactional outbox row) commits or rolls back with the change itself, so a crash
        # after the commit cannot lose it. They must not call out of the process.
        self.in_transaction: list[Callable[[Session, Certificate, str], None]] = []
        # The same for an application, with "submitted" or "rejected" (and after the commit,
        # its id to ``on_application``): the applicant hears that it was received, and why it
        # was rejected (an approval is told by the certificate's "issued").
        self.application_in_transaction: list[Callable[[Session, Application, str], None]] = []
        self.on_application: list[Callable[[int], None]] = []

    @property
    def ca(self) -> CertificateAuthority:
        return self._ca()

    @property
    def kek(self) -> PlatformKek | None:
        return self._kek() if self._kek is not None else None

    # --- helpers -------------------------------------------------------------------------------
    def _cert_row(self, s: Session, serial: str, lock: bool = False) -> Certificate:
        serial = normal_serial(serial)
        q = select(Certificate).where(Certificate.serial_hex == serial)
        missing = f"no certificate with serial {serial}"
        if lock and s.get_bind().dialect.name == "postgresql":
            # the key's lock first, then the row's: the order every verb takes them in
            fp = s.execute(
                select(Certificate.spki_sha256).where(Certificate.serial_hex == serial)
            ).scalar_one_or_none()
            lock_key(s, fp)
        return one_or_404(s, q, missing, field="serial", lock=lock)

    def _new_key(
        self,
        s: Session,
        sub: Subscriber,
        *,
        csr: bytes | str | None,
        pin: str | None,
        algorithm: str,
    ) -> tuple[PublicKeyTypes, bytes | None, PlatformKey | None]:
        _one_key_source(csr, pin)
        from cryptography.hazmat.primitives import serialization

        from yinxin.pki import sm2_x509
        from yinxin.pki.algorithms import get_algorithm
        from yinxin.pki.pinkeys import check_pin, seal_private_key

        if csr is not None:
            req = parse_csr(csr)
            pk = sm2_x509.public_key_any(req)
            return pk, req.public_bytes(serialization.Encoding.DER), None
        check_pin(pin)
        alg = get_algorithm(algorithm)
        key = alg.generate()
        label = f"sub-{sub.id}-{os.urandom(6).hex()}"
        row = PlatformKey(
            subscriber_id=sub.id,
            label=label,
            algorithm=alg.name,
            public_key_der=pub_der(key.public_key()),
            sealed_key=seal_private_key(key, pin, label, kek=self.kek),
            failed_attempts=0,
            locked=False,
            created_at=self.clock.now(),
        )
        s.add(row)
        s.flush()
        return key.public_key(), None, row

    def _kek_ready(self, pin: str | None) -> None:
        """Before a transaction that seals a new key: check the PIN and open (or create) the
        KEK, so the key store is never opened while the database write lock is held."""
        from yinxin.pki.pinkeys import check_pin

        if pin is not None:
            check_pin(pin)
            if (kek := self.kek) is not None:
                kek.ready()

    def wrap_legacy_keys(self, *, actor: str = "operator") -> WrappedKeys:
        """Encrypt every platform-held key still sealed under its PIN alone (made before the
        KEK) under the KEK as well. Needs no PIN: the PIN-sealed blob is wrapped as it is."""
        from yinxin.pki.pinkeys import is_wrapped, wrap_sealed

        kek = self.kek  # asked for once: each read of the property asks the composition root
        if kek is None:
            raise ConfigurationError("no platform key-encryption key configured", field="keystore")
        kek.ready()
        now = self.clock.now()
        with self.db.transaction() as s:
            rows = (
                s.execute(select(PlatformKey).order_by(PlatformKey.id).with_for_update())
                .scalars()
                .all()
            )
            wrapped = []
            for k in rows:
                if not is_wrapped(k.sealed_key):
                    k.sealed_key = wrap_sealed(k.sealed_key, k.label, kek)
                    wrapped.append(k.label)
            if wrapped:
                event(
                    s,
                    now,
                    actor,
                    "platform_keys.wrapped",
                    kek.label,
                    subject_type="platform_kek",
                    data={"labels": wrapped, "kek": kek.label},
                )
        return WrappedKeys(wrapped)

    def _bump(self, s: Session, role: str = "issuing") -> None:
        s.execute(
            update(StatusRevision)
            .where(StatusRevision.issuer_role == role)
            .values(revision=StatusRevision.revision + 1)
        )

    def _issue(
        self,
        s: Session,
        *,
        sub: Subscriber,
        profile_name: str,
        public_key: PublicKeyTypes,
        not_before: dt.datetime,
        not_after: dt.datetime,
        plan: str,
        paid_until: dt.datetime | None,
        platform_key_id: int | None,
        predecessor_id: int | None,
        application_id: int | None,
        dns_names: list[str] | None,
        key_field: str = "csr",
        then: str = NEW_KEY_PAIR,
    ) -> Certificate:
        """Build, sign and add the certificate row. Refused first (``refuse_compromised``,
        naming ``key_field``) when the key is one known to be compromised."""
        from cryptography.hazmat.primitives import serialization

        from yinxin.pki.authority import build_certificate, new_serial
        from yinxin.pki.profiles import get_profile
        from yinxin.pki.sm2 import SM2PublicKey

        refuse_compromised(s, public_key, field=key_field, then=then)
        # the subscriber's key algorithm picks the hierarchy: an SM2 key goes to the SM2
        # issuing CA when one stands beside the default (docs/national-algorithms.md, "Side by
        # side"), so one person can hold an ECDSA and an SM2 certificate at once
        issuer_role = self.ca.issuing_role_for(public_key, s)
        issuer = self.ca.issuer(issuer_role)
        if isinstance(public_key, SM2PublicKey) and issuer.key.algorithm.family != "sm2":
            raise ValidationError(
                "an SM2 key is certified by an SM2 CA only; this CA's keys are "
                f"{issuer.key.algorithm.name} (see yinxin ca add-hierarchy --algorithm sm2, "
                "or yinxin init --algorithm sm2)",
                field="csr" if platform_key_id is None else "algorithm",
            )
        org = s.get(Subscriber, sub.organization_id) if sub.organization_id else None
        while True:  # a collision of 127 random bits will not happen, but never reuse a serial
            serial = new_serial()
            hexs = serial_hex(serial)
            if not s.execute(select(Certificate.id).where(Certificate.serial_hex == hexs)).first():
                break
        cert = build_certificate(
            profile=get_profile(profile_name),
            subject=subject_for(sub, org),
            public_key=public_key,
            issuer=issuer,
            not_before=not_before,
            not_after=not_after,
            serial=serial,
            dns_names=dns_names,
        )
        row = Certificate(
            serial_hex=hexs,
            issuer_role=issuer_role,
            subscriber_id=sub.id,
            organization_id=holder_organization(sub),
            application_id=application_id,
            profile=profile_name,
            subject=cert.subject.rfc4514_string(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            status=ACTIVE,
            der=cert.public_bytes(serialization.Encoding.DER),
            platform_key_id=platform_key_id,
            predecessor_id=predecessor_id,
            plan=plan,
            paid_until=paid_until,
            spki_sha256=key_sha256(public_key),
            status_version=1,
            created_at=self.clock.now(),
        )
        s.add(row)
        s.flush()
        return row

    @staticmethod
    def _record_issued(
        s: Session, now: dt.datetime, actor: str, cert: Certificate, **data: str | None
    ) -> None:
        event(
            s,
            now,
            actor,
            "certificate.issued",
            cert.serial_hex,
            {"profile": cert.profile, "subject": cert.subject, **data},
        )

    def _within(self, s: Session, row: Certificate, event: str) -> None:
        for cb in self.in_transaction:
            cb(s, row, event)

    def _application_within(self, s: Session, app: Application, event: str) -> None:
        for cb in self.application_in_transaction:
            cb(s, app, event)

    def _application_changed(self, application_id: int) -> None:
        for cb in self.on_application:
            cb(application_id)

    def _notify(self, serial: str) -> None:
        for cb in self.on_status_change:
            cb(serial)

    def _issued(self, cert: CertificateView) -> None:
        for cb in self.on_issued:
            cb(cert)

    # --- application, payment, review ------------------------------------------------------------
    def apply(
        self,
        *,
        subscriber_id: int,
        profile: str,
        csr: bytes | str | None = None,
        pin: str | None = None,
        plan: str = "standard",
        years: int = 1,
        acceptance_point: str = "总部受理点",
        dns_names: list[str] | None = None,
        algorithm: str = "ec-p256",
        actor: str = "applicant",
    ) -> SubmittedApplication:
        from yinxin.pki.profiles import get_profile

        prof = get_profile(profile)
        acceptance_point = validate_name(acceptance_point, "acceptance_point")
        get_plan(plan)
        check_years(years)
        dns_names = check_dns_names(dns_names)
        if csr is None:
            self._kek_ready(pin)
        now = self.clock.now()
        with self.db.transaction() as s:
            sub = Subscribers.get_row(s, subscriber_id)
            if sub.kind not in prof.subscriber_kinds:
                raise ValidationError(
                    f"profile {profile} is not for {sub.kind} subscribers", field="profile"
                )
            if dns_names and profile != "device-tls":
                raise ValidationError(
                    "DNS names are only for device certificates", field="dns_names"
                )
            if not Subscribers.has_accepted(s, subscriber_id):
                raise Forbidden(
                    "the subscriber has not accepted the current subscriber agreement (001 §五.2)",
                    field="agreement",
                    code="agreement_required",
                )
            pk, csr_der, pkey = self._new_key(s, sub, csr=csr, pin=pin, algorithm=algorithm)
            if csr is not None:
                refuse_compromised(s, pk)
            app = Application(
                subscriber_id=sub.id,
                purpose="new",
                profile=profile,
                key_mode=KeyMode.CSR if csr is not None else KeyMode.PLATFORM,
                csr_der=csr_der,
                public_key_der=pub_der(pk),
                platform_key_id=pkey.id if pkey else None,
                plan=plan,
                dns_names=json.dumps(dns_names) if dns_names else None,
                acceptance_point=acceptance_point,
                state=PENDING,
                submitted_at=now,
            )
            s.add(app)
            s.flush()
            event(
                s,
                now,
                actor,
                "application.submitted",
                app.id,
                {
                    "subscriber_id": sub.id,
                    "profile": profile,
                    "plan": plan,
                    "years": years,
                    "key_mode": app.key_mode,
                },
            )
            self._application_within(s, app, "submitted")
            out = submitted_view(app, years)
        self._application_changed(out.id)
        return out

    def pay(
        self,
        *,
        application_id: int | None = None,
        serial: str | None = None,
        years: int = 1,
        reference: str | None = None,
        actor: str = "cashier",
    ) -> PaymentView:
        """Record a payment: the first fee for an application, or a renewal for a certificate.

        An application's first fee is recorded once: a second payment for it is refused
        (``Conflict``, ``already_paid``) unless it repeats the recorded one exactly (same
        ``reference`` and years), which returns the recorded payment marked ``replayed`` — a
        cashier's retry after a lost reply must not charge twice. Renewals add up by design,
        except a renewal that repeats the certificate's latest one exactly (same ``reference``
        and years, within :data:`RENEWAL_REPLAY_WINDOW` of it): that is the same payment sent
        again, returned marked ``replayed``, nothing charged or extended. Without a reference
        every renewal is a new one.
        """
        check_years(years)
        if (application_id is None) == (serial is None):
            raise ValidationError(
                "pay for either an application or a certificate serial", field="application_id"
            )
        reference = _payment_reference(reference)
        now = self.clock.now()
        with self.db.transaction() as s:
            if application_id is not None:
                pay = self._first_fee(s, application_id, years, reference)
                if pay.id is not None:  # the recorded payment, asked for again
                    return payment_view(pay, replayed=True)
            else:
                pay = self._renewal_fee(s, serial, years, reference, now)
                if pay.id is not None:  # the latest renewal, asked for again
                    return payment_view(pay, replayed=True)
            pay.reference, pay.paid_at = reference, now
            paid_already = Conflict(
                f"the fee for application {application_id} was already paid",
                field="application_id",
                code="already_paid",
            )
            add_unique(s, pay, lost_race=paid_already)
            event(
                s,
                now,
                actor,
                f"payment.{pay.kind}",
                pay.id,
                {
                    "amount_yuan": yuan(pay.amount_fen),
                    "plan": pay.plan,
                    "years": years,
                    "application_id": application_id,
                    "serial": serial,
                    "reference": reference,
                },
            )
            return payment_view(pay)

    def _first_fee(
        self, s: Session, application_id: int, years: int, reference: str | None
    ) -> Payment:
        """A new payment of an application's first fee, or the one recorded already when this
        is its exact repetition (same reference and years)."""
        app = self._app_row(s, application_id)
        check_application("pay", app.state, application_id)
        paid = (
            s.execute(
                select(Payment).where(
                    Payment.application_id == app.id, Payment.kind == PaymentKind.NEW
                )
            )
            .scalars()
            .first()
        )
        if paid is not None:
            if reference is not None and paid.reference == reference and paid.years == years:
                return paid
            raise Conflict(
                f"the fee for application {application_id} was already "
                f"paid (payment {paid.id}, reference "
                f"{paid.reference or 'none'})",
                field="application_id",
                code="already_paid",
            )
        plan = get_plan(app.plan)
        return Payment(
            subscriber_id=app.subscriber_id,
            application_id=app.id,
            plan=plan.code,
            kind=PaymentKind.NEW,
            years=years,
            amount_fen=plan.first_amount(years),
        )

    def _renewal_fee(
        self, s: Session, serial: str, years: int, reference: str | None, now: dt.datetime
    ) -> Payment:
        """A renewal payment: the certificate's service is paid ``years`` further ahead (a
        renewal may then extend its validity to that date); or, when this is the exact
        repetition of the certificate's latest renewal (same reference and years, within
        :data:`RENEWAL_REPLAY_WINDOW`), that one."""
        cert = self._cert_row(s, serial, lock=True)  # held: two retries at once take turns
        if reference is not None:
            latest = s.scalars(
                select(Payment)
                .where(Payment.certificate_id == cert.id, Payment.kind == PaymentKind.RENEWAL)
                .order_by(Payment.id.desc())
                .limit(1)
            ).first()
            if (
                latest is not None
                and latest.reference == reference
                and latest.years == years
                and latest.paid_at > now - RENEWAL_REPLAY_WINDOW
            ):
                return latest
        state = in_force_state(cert, now)
        if state in (REVOKED, EXPIRED):
            raise IllegalTransition(
                f"certificate {cert.serial_hex} is {state}; apply for a new one",
                field="serial",
            )
        # A renewed certificate stays active beside its renewal, but only the renewal can be
        # renewed again (``_successor``): a fee taken on the old one pays for nothing.
        _refuse_renewed(s, cert, "pay for")
        plan = get_plan(cert.plan)
        cert.paid_until = max(cert.paid_until or now, now) + years * YEAR
        return Payment(
            subscriber_id=cert.subscriber_id,
            certificate_id=cert.id,
            plan=plan.code,
            kind=PaymentKind.RENEWAL,
            years=years,
            amount_fen=plan.renewal_amount(years),
            consumed_at=now,
        )

    @staticmethod
    def _app_row(s: Session, application_id: int) -> Application:
        """The application, row-locked until the transaction ends (``SELECT … FOR UPDATE`` on
        PostgreSQL; SQLite writers already hold the database's write lock from ``BEGIN``).

        Every decision on an application (pay, approve, reject) reads its state through here,
        so two processes deciding at once take turns and the second sees the first's outcome.
        """
        q = select(Application).where(Application.id == application_id)
        missing = f"no application {application_id}"
        return one_or_404(s, q, missing, field="application_id", lock=True)

    def approve(
        self, application_id: int, *, officer: str, validity_years: int | None = None
    ) -> CertificateView:
        from yinxin.pki import sm2_x509

        officer = self._officer(officer)
        # judged before the key is opened (a prompt for the CA passphrase at a terminal), and
        # 0 refused: it read as "none given" and issued for the years paid
        if validity_years is not None:
            check_years(validity_years, "validity_years")
        # load the CA key first (the one that will sign: this application's key picks the
        # hierarchy): a wrong passphrase writes nothing, and no key is read under the write lock.
        # What the approval refuses anyway — no such application, one decided already, host
        # names stored before today's checks that they refuse, its fee not received — is
        # refused before, in the transaction's order: opening the key asks for the CA
        # passphrase at a terminal, which was typed for nothing (the transaction checks all of
        # it again).
        with self.db.read() as s:
            row = one_or_404(
                s,
                select(Application).where(Application.id == application_id),
                f"no application {application_id}",
                field="application_id",
            )
            _approvable(s, row)
            spki = row.public_key_der
        role = "issuing" if spki is None else self.ca.issuing_role_for(sm2_x509.load_spki_any(spki))
        self.ca.issuer(role)
        now = self.clock.now()
        with self.db.transaction() as s:
            app = self._app_row(s, application_id)
            decision, dns_names, folded, pay = _approvable(s, app)
            # Compare-and-set as well as the row lock: the payment is consumed by exactly one
            # approval, whatever isolation level the database runs at.
            taken = s.execute(
                update(Payment)
                .where(Payment.id == pay.id, Payment.consumed_at.is_(None))
                .values(consumed_at=now)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:
                raise Conflict(
                    f"the fee for application {application_id} was consumed by "
                    "another approval meanwhile",
                    field="application_id",
                    code="retry",
                )
            years = check_years(pay.years if validity_years is None else validity_years)
            sub = Subscribers.get_row(s, app.subscriber_id)
            pk = sm2_x509.load_spki_any(app.public_key_der)
            cert = self._issue(
                s,
                sub=sub,
                profile_name=app.profile,
                public_key=pk,
                not_before=now,
                not_after=now + years * YEAR,
                plan=app.plan,
                paid_until=now + pay.years * YEAR,
                platform_key_id=app.platform_key_id,
                predecessor_id=None,
                application_id=app.id,
                dns_names=dns_names,
                then=f"reject application {application_id} (the applicant applies again with "
                "a CSR for a new key pair)",
            )
            pay.consumed_at, pay.certificate_id = now, cert.id
            app.state, app.decided_at, app.officer = decision.to_state, now, officer
            app.certificate_id = cert.id
            self._within(s, cert, "issued")
            approved: dict = {"serial": cert.serial_hex}
            if folded:  # the repeats an older release stored, certified once
                approved["dns_names_folded"] = folded
            event(s, now, officer, "application.approved", app.id, approved)
            self._record_issued(
                s,
                now,
                officer,
                cert,
                not_after=cert.not_after.isoformat(),
                acceptance_point=app.acceptance_point,
            )
            out = certificate_view(cert)
        self._issued(out)
        return out

    @staticmethod
    def _officer(officer: str | None) -> str:
        """The RA officer's name goes into the application and the audit trail: a real name."""
        if not (officer or "").strip():
            raise ValidationError("the RA officer must be named", field="officer")
        return validate_name(officer, "officer")

    def reject(self, application_id: int, *, officer: str, reason: str) -> ApplicationView:
        """Reject a pending application with the officer's reason, kept as written (several
        lines allowed, up to :data:`MAX_REJECTION` characters: it is the applicant's
        explanation, not a one-line reason as :func:`identity.reason_text` takes). A blank one
        is refused in Chinese and English, as every other reason (it was said in English
        alone); the API's body leaves its lengths to these refusals (``shapes.RejectionReason``:
        its 500 had been the only bound, and without one a body's 60 MiB would be kept)."""
        if not (reason or "").strip():
            raise ValidationError("须写明驳回原因 / a rejection needs a reason", field="reason")
        reason = reason.strip().replace("\r\n", "\n")
        if len(reason) > MAX_REJECTION:
            raise ValidationError(
                f"驳回原因最多 {MAX_REJECTION} 个字符（此处 {len(reason)} 个） / a rejection's "
                f"reason is at most {MAX_REJECTION} characters (this one: {len(reason)})",
                field="reason",
            )
        reason = refuse_hidden(reason, "reason", lines=True)
        officer = self._officer(officer)
        now = self.clock.now()
        with self.db.transaction() as s:
            app = self._app_row(s, application_id)
            decision = check_application("reject", app.state, application_id)
            app.state, app.decided_at = decision.to_state, now
            app.officer, app.reason = officer, reason
            event(s, now, officer, "application.rejected", app.id, {"reason": reason})
            self._application_within(s, app, "rejected")
            out = application_view(app)
        self._application_changed(out.id)
        return out

    # --- lifecycle -------------------------------------------------------------------------------
    def _simple(
        self,
        verb: str,
        serial: str,
        actor: str,
        *,
        hold_kind: HoldKind | None = None,
        data: dict | None = None,
        check: Callable[[Session, Certificate], None] | None = None,
        same_key: bool = False,
        hold_by: HoldBy | None = None,
    ) -> tuple[CertificateView, list[str]]:
        """``verb`` on one certificate; with ``same_key``, also on each other certificate in
        force for the same key (:meth:`_same_key`) that the verb may move — a lost key is lost
        in every certificate of the holder's that holds it, and one found again is found in
        each (a compromised one, anyone's: :meth:`revoke`). Its view, and the serials of the
        other certificates of the key it moved."""
        now = self.clock.now()
        also: list[str] = []
        with self.db.transaction() as s:
            c = self._cert_row(s, serial, lock=True)
            move = lifecycle.check_move(verb, state_for(verb, c, now), c.hold_kind, c.serial_hex)
            if check:
                check(s, c)
            self._move(
                s, c, move.to_state, verb, actor, now, hold_kind, data or {}, hold_by=hold_by
            )
            for other in self._same_key(s, c) if same_key else ():
                try:
                    m = lifecycle.check_move(
                        verb, state_for(verb, other, now), other.hold_kind, other.serial_hex
                    )
                except IllegalTransition:
                    continue  # e.g. already lost, or frozen when the loss is restored
                if check:
                    check(s, other)
                more = {**(data or {}), "same_key_as": c.serial_hex}
                self._move(s, other, m.to_state, verb, actor, now, hold_kind, more)
                also.append(other.serial_hex)
            out = certificate_view(c)
        for changed in (out.serial, *also):
            self._notify(changed)
        return out, also

    def _move(
        self,
        s: Session,
        c: Certificate,
        to_state: str,
        verb: str,
        actor: str,
        now: dt.datetime,
        hold_kind: HoldKind | None,
        data: dict,
        *,
        hold_by: HoldBy | None = None,
    ) -> None:
        """``hold_by``: who imposed a hold that begins now (a freeze); a loss reported over a
        freeze, and its restore back to that freeze, keep the freeze's."""
        before = c.status
        if to_state == ACTIVE and c.hold_kind == LOST and c.previous_hold_kind:
            # restored after a loss reported over a freeze or a stop for unpaid fees: the medium
            # is found, but the earlier hold was never lifted — back to it, still held since
            # it began (``held_at`` unchanged), not active
            to_state = ON_HOLD
            c.hold_kind, c.previous_hold_kind = c.previous_hold_kind, None
            data = {**data, "hold_kind": c.hold_kind}
        elif to_state == ON_HOLD and before == ON_HOLD:
            # a loss reported over another hold: the key's loss is recorded (hold kind lost,
            # lifted only by restore or reissue) and the hold it replaces remembered for
            # restore. ``held_at`` stays: the certificate has been held since that hold
            # began, and the CRL, OCSP and a later revocation's invalidity date say so.
            c.hold_kind, c.previous_hold_kind = hold_kind, c.hold_kind
            data = {**data, "previous_hold_kind": c.previous_hold_kind}
        elif to_state == ON_HOLD:
            c.hold_kind, c.held_at, c.hold_by = hold_kind, now, hold_by
        elif to_state == ACTIVE:
            c.hold_kind, c.held_at, c.previous_hold_kind, c.hold_by = None, None, None, None
        c.status = to_state
        c.status_version += 1
        self._bump(s, c.issuer_role)
        self._within(s, c, verb)
        event(
            s,
            now,
            actor,
            f"certificate.{verb}",
            c.serial_hex,
            {"from": before, "to": c.status, **data},
        )

    def _same_key(self, s: Session, c: Certificate, *, anyone: bool = False) -> list[Certificate]:
        """The other certificates in force (active or held) for ``c``'s key, locked, found by
        the indexed fingerprint (``spki_sha256``; 0027 filled the rows before it, issuance
        fills each new one): the subscriber's own — a renewal keeps the key, and the
        certificate it renewed stays valid until its own end — or with ``anyone`` everyone's:
        a key known to be compromised is compromised in each."""
        q = select(Certificate).where(
            Certificate.spki_sha256 == c.spki_sha256,
            Certificate.id != c.id,
            Certificate.status.in_([ACTIVE, ON_HOLD]),
        )
        if anyone:
            lock_key(s, c.spki_sha256)  # taken by ``_cert_row`` already: an issuance waits
        else:
            q = q.where(Certificate.subscriber_id == c.subscriber_id)
        return list(s.execute(q.order_by(Certificate.id).with_for_update()).scalars())

    def freeze(
        self, serial: str, *, actor: str, note: str | None = None, by: HoldBy = HoldBy.CA
    ) -> CertificateView:
        """冻结. ``by``: who imposes it (the adapter knows: ``HoldBy``) — the holder lifts only
        a freeze the holder asked for."""
        by = HoldBy(by)
        return self._simple(
            "freeze",
            serial,
            actor,
            hold_kind=FROZEN,
            data={"note": note, "hold_by": str(by)},
            hold_by=by,
        )[0]

    def report_loss(self, serial: str, *, actor: str) -> LostCertificate:
        """挂失: the certificate on hold as lost, and with it the holder's other certificates in
        force for the key (``same_key_held`` names them). Another subscriber's certificate of
        the key is not held — its holder lost nothing — but no certificate is issued for the
        key while the loss stands (``compromised_key``), and a revocation for key compromise,
        or a reissue after the loss, revokes every certificate of the key, anyone's."""
        out, also = self._simple("report_loss", serial, actor, hold_kind=LOST, same_key=True)
        return lost_view(out, also)

    def restore(self, serial: str, *, actor: str) -> RestoredCertificate:
        """解除挂失: the medium was found. The certificate, and with it the holder's other
        certificates of the key held as lost (``same_key_released`` names them), back in force
        — or back to the freeze or stop for unpaid fees a loss was reported over."""
        out, also = self._simple("restore", serial, actor, same_key=True)
        return restored_view(out, also)

    def unfreeze(self, serial: str, *, actor: str, by: HoldBy = HoldBy.CA) -> CertificateView:
        """解冻. ``by`` the holder: refused (403, ``hold_by``) for a freeze the CA imposed."""
        now = self.clock.now()
        by = HoldBy(by)

        def releasable(s: Session, c: Certificate) -> None:
            if by == HoldBy.HOLDER and c.hold_kind == FROZEN and c.hold_by != HoldBy.HOLDER:
                raise Forbidden(
                    f"证书 {c.serial_hex} 由认证机构冻结，持有人不能自行解冻，请联系受理点"
                    "（the certification authority imposed this freeze: it lifts it）",
                    field="hold_by",
                    code="frozen_by_ca",
                )
            if c.hold_kind == UNPAID and (c.paid_until is None or c.paid_until <= now):
                raise Forbidden(
                    f"certificate {c.serial_hex} was stopped for unpaid fees; "
                    "record the payment first",
                    field="payment",
                    code="unpaid",
                )
            # A loss reported on a renewal (or on the certificate it renewed) leaves this one
            # frozen, not lost, when it was frozen then: released, the lost key would sign again
            # under it. The key is found again by restoring the lost one (which restores only
            # the lost ones: this freeze stays), or replaced by reissuing it.
            lost = [o.serial_hex for o in self._same_key(s, c) if o.hold_kind == LOST]
            if lost:
                raise IllegalTransition(
                    f"cannot unfreeze certificate {c.serial_hex}: its key is reported lost "
                    f"(certificate {lost[0]}); restore or reissue that one first",
                    field="serial",
                )

        return self._simple("unfreeze", serial, actor, check=releasable)[0]

    def revoke(
        self, serial: str, *, reason: str, actor: str, requested_at: dt.datetime | None = None
    ) -> RevokedCertificate:
        """废除, at once; the request time and the effective time recorded. For key compromise
        (``COMPROMISE_REASONS``) every other certificate in force for the key — the holder's
        renewal, and anyone's that certifies the same key (CA/B Forum BR 4.9.1.1) — is revoked
        with it, in the same transaction, as key_compromise, each with its own audit event
        (``same_key_as``), notice and CRL entry: ``same_key_revoked`` names them. A certificate
        on hold reported lost is revoked as key_compromise whatever ``reason`` says (the audit
        event keeps it as ``requested_reason``): its key stays refused."""
        check_revocation_reason(reason)
        now = self.clock.now()
        req = requested_at or now
        if req.tzinfo is None or req > now:
            raise ValidationError(
                "the request time must be a timezone-aware time not in the future",
                field="requested_at",
            )

        also: list[str] = []
        with self.db.transaction() as s:
            c = self._cert_row(s, serial, lock=True)
            lifecycle.check_move("revoke", state_for("revoke", c, now), c.hold_kind, c.serial_hex)
            # A request cannot precede the certificate it asks to revoke: the CRL and the
            # evidence would say revocation was asked for before the certificate existed. The
            # check is on the certificate named; another in force for the same key may well be
            # younger than a key-compromise report about that key.
            if req < c.not_before:
                raise ValidationError(
                    f"the request time must not be before certificate {c.serial_hex} "
                    f"was issued ({c.not_before.isoformat()})",
                    field="requested_at",
                )
            times = {"requested_at": req.isoformat(), "effective_at": now.isoformat()}
            asked = reason
            if c.hold_kind == LOST and reason not in COMPROMISE_REASONS:
                # A key reported lost may be in anyone's hands: revoked for whatever reason, it
                # is revoked as compromised — on the row (so ``refuse_compromised`` goes on
                # refusing it once the lost hold is gone), the CRL, OCSP and the notice.
                reason = "key_compromise"
            _mark_revoked(c, reason, now, req, actor)
            data = {"reason": reason, "rfc5280": REVOCATION_REASONS[reason][0]}
            if asked != reason:
                data["requested_reason"] = asked
            data.update(times)
            self._move(s, c, REVOKED, "revoke", actor, now, None, data)
            if reason in COMPROMISE_REASONS:
                also = self._revoke_same_key(s, c, reason, actor, now, requested_at=req, data=times)
            out = revoked_view(c, also)
        for changed in (out.serial, *also):
            self._notify(changed)
        return out

    def _successor(
        self,
        verb: str,
        serial: str,
        *,
        actor: str,
        csr=None,
        pin=None,
        algorithm: str = "ec-p256",
        new_key: bool,
        revoke_reason: str | None,
        subject_updates: dict | None = None,
        by: HoldBy = HoldBy.CA,
        proof: Callable[[Session], None] | None = None,
        proved: str | None = None,
        dns_names: list[str] | None = None,
    ) -> Successor:
        """``proved``: how the holder proved a ``verb`` the code does not prove (the rekey of
        a platform-held key: ``PROOF_PIN``, checked before); recorded, as the code or the
        desk's in-person check is, in the audit event of a rekey or reissue (``proof``).

        The successor names the old certificate's hosts, checked again (``recheck_dns_names``:
        repeats folded and noted in the audit event, a name refused today refused), unless
        ``dns_names`` gives a new list (a reissue at the desk), checked as an application's."""
        from cryptography import x509

        from yinxin.pki import sm2_x509

        if dns_names is not None:
            if by == HoldBy.HOLDER:
                raise Forbidden(
                    "a new list of host names is checked by the CA: reissue at the desk",
                    field="dns_names",
                )
            new_names: list[str] | None = check_dns_names(dns_names) or []  # [] names none
        else:
            new_names = None
        # what refuses the verb whatever is proved — no such certificate, a state it is not
        # allowed from, a successor it has, unpaid service — before the CA key is opened: at a
        # terminal that asks for the CA passphrase, which was typed for nothing (checked again
        # in the transaction below)
        with self.db.read() as s:
            self._precheck(s, self._cert_row(s, serial), verb, by, self.clock.now())
        self.ca.issuer("issuing")
        if new_key and csr is None:
            self._kek_ready(pin)
        now = self.clock.now()
        with self.db.transaction() as s:
            old = self._cert_row(s, serial, lock=True)
            if new_names and old.profile != "device-tls":
                raise ValidationError(
                    "DNS names are only for device certificates", field="dns_names"
                )
            move = self._precheck(s, old, verb, by, now)
            needs_code = _needs_code(old, verb, by)
            if needs_code:
                if proof is None:
                    raise Forbidden(
                        f"持有人自行{VERB_NAMES.get(verb, verb)}证书 {old.serial_hex} 需要发送到"
                        "登记手机号的短信验证码（a holder's own "
                        f"{verb} needs the code sent by SMS to the registered phone: "
                        "challenge_id and code)",
                        field="code",
                        code="code_required",
                    )
                proof(s)  # the code is used up in this transaction, with the issuance
            sub = Subscribers.get_row(s, old.subscriber_id)
            if subject_updates:
                old_phone, old_email = sub.phone, sub.email
                subject_updates = self._apply_updates(sub, subject_updates)
                sub.updated_at = now
                for hooks, was, now_is in (
                    (self.phone_changed, old_phone, sub.phone),
                    (self.email_changed, old_email, sub.email),
                ):
                    if was and now_is != was:
                        for cb in hooks:
                            cb(s, sub, was)
                if sub.phone != old_phone:
                    for end in self.phone_ended:
                        end(s, sub.id, None, actor)
            if verb == "renew":
                if old.paid_until is None or old.paid_until <= old.not_after:
                    raise Forbidden(
                        f"renewing {old.serial_hex} needs a renewal payment first "
                        f"(paid until {beijing_date(old.paid_until) if old.paid_until else '—'})",
                        field="payment",
                        code="unpaid",
                    )
                not_after, paid_until = old.paid_until, old.paid_until
            else:
                not_after, paid_until = old.not_after, old.paid_until
            old_cert = x509.load_der_x509_certificate(old.der)
            if new_key and csr is not None:
                _refuse_the_old_key(old, old_cert, csr, verb)
            if new_key:
                pk, _, pkey = self._new_key(s, sub, csr=csr, pin=pin, algorithm=algorithm)
                pkey_id = pkey.id if pkey else None
            else:
                pk, pkey_id = sm2_x509.public_key_any(old_cert), old.platform_key_id
            dns, folded = new_names or None, []
            if new_names is None:  # a device's DNS names carry over to its successor
                dns, folded = _carried_dns_names(old, old_cert, verb)
            new = self._issue(
                s,
                sub=sub,
                profile_name=old.profile,
                public_key=pk,
                not_before=now,
                not_after=not_after,
                plan=old.plan,
                paid_until=paid_until,
                platform_key_id=pkey_id,
                predecessor_id=old.id,
                application_id=old.application_id,
                dns_names=dns,
                key_field="csr" if new_key else "serial",
                then=NEW_KEY_PAIR if new_key else f"rekey certificate {old.serial_hex} instead",
            )
            before = old.status
            if move.to_state == REVOKED:
                old.status = REVOKED
                _mark_revoked(old, revoke_reason, now, now, actor)
                old.status_version += 1
                self._bump(s, old.issuer_role)
                self._within(s, old, verb)
            self._within(s, new, "issued")
            data = {
                "from": before,
                "to": old.status,
                "successor": new.serial_hex,
                "reason": revoke_reason,
                "updates": subject_updates or None,
            }
            if folded:  # the repeats an older release certified, named once in the successor
                data["dns_names_folded"] = folded
            if new_names is not None:
                data["dns_names"] = new_names
            if verb in VERB_NAMES:  # a new key: which proof it was issued on (never the proof)
                data["proof"] = (
                    PROOF_CODE
                    if needs_code
                    else proved or (PROOF_IN_PERSON if by != HoldBy.HOLDER else None)
                )
            event(s, now, actor, f"certificate.{verb}", old.serial_hex, data)
            self._record_issued(s, now, actor, new, predecessor=old.serial_hex, via=verb)
            also = (
                self._revoke_same_key(s, old, revoke_reason, actor, now, spare=new.id)
                if move.to_state == REVOKED and revoke_reason is not None
                else []
            )
            out = Successor(
                previous=certificate_view(old),
                certificate=certificate_view(new),
                same_key_revoked=also,
            )
        for changed in (out.previous.serial, *also):
            self._notify(changed)
        self._issued(out.certificate)
        return out

    def _precheck(
        self, s: Session, old: Certificate, verb: str, by: HoldBy, now: dt.datetime
    ) -> lifecycle.Move[CertificateState]:
        """What refuses ``verb`` on ``old`` whoever proves what: its state, a freeze the CA
        imposed (to a holder), a successor it already has, unpaid service."""
        move = lifecycle.check_move(verb, in_force_state(old, now), old.hold_kind, old.serial_hex)
        _refuse_past_ca_freeze(old, verb, by)
        # one successor per certificate: a renewed certificate stays valid beside its
        # renewal, and a rekey, reissue or change of it would leave that renewal — same
        # key, old data — valid on a branch of its own
        _refuse_renewed(s, old, verb)
        if verb != "renew" and old.paid_until is not None and old.paid_until <= now:
            # the successor carries the paid-until date: it would be in force unpaid
            raise Forbidden(
                f"the service of certificate {old.serial_hex} is paid only until "
                f"{beijing_date(old.paid_until)}: record the renewal payment first, then {verb}",
                field="payment",
                code="unpaid",
            )
        return move

    def check_successor(self, verb: str, serial: str, *, by: HoldBy = HoldBy.CA) -> bool:
        """Refuse now, reading only, a ``verb`` (rekey, reissue) that would be refused whatever
        the caller proves — before a code is sent for it or a PIN is counted. Whether the
        holder's ``verb`` needs a code sent by SMS (True) or the current PIN (False)."""
        from cryptography import x509

        with self.db.read() as s:
            old = self._cert_row(s, serial)
            self._precheck(s, old, verb, by, self.clock.now())
            # a holder names no new host names: old ones refused today refuse it now, no code
            # sent for an issuance that would refuse them
            _carried_dns_names(old, x509.load_der_x509_certificate(old.der), verb)
            return _needs_code(old, verb, by)

    def check_new_key(
        self,
        verb: str,
        serial: str,
        *,
        csr: bytes | str | None,
        pin: str | None,
        algorithm: str,
    ) -> None:
        """Refuse now, reading only, the new key of a rekey or reissue as the issuance would
        (422 naming ``csr``, ``pin`` or ``algorithm``): neither or both of a CSR and a PIN, a
        CSR that is none, whose signature does not verify, of an algorithm not issued for,
        for the key replaced (``same_key``) or for a key known to be compromised
        (``compromised_key``: ``refuse_compromised``), a new PIN that breaks the rules, an
        unknown algorithm. Asked before a holder's code is sent, so that no SMS goes out for a
        new key the issuance would refuse, and before it is checked, so that a request refused
        for its input uses none of the code's tries (a wrong code with it did, and the refusal
        named the code). A courtesy, not the rule: a key reported compromised after this look
        is refused by the issuance itself (``_issue``, under the key's lock, in its
        transaction)."""
        from cryptography import x509

        from yinxin.pki import sm2_x509
        from yinxin.pki.algorithms import get_algorithm
        from yinxin.pki.pinkeys import check_pin

        _one_key_source(csr, pin)
        if csr is None:
            check_pin(pin)
            get_algorithm(algorithm)
            return
        with self.db.read() as s:
            old = self._cert_row(s, serial)
            _refuse_the_old_key(old, x509.load_der_x509_certificate(old.der), csr, verb)
            refuse_compromised(s, sm2_x509.public_key_any(parse_csr(csr)))

    def _prove_current_pin(self, serial: str, pin: str | None) -> None:
        """A holder's rekey of a platform-held key: ``pin`` must open the key it replaces. A
        wrong PIN is counted on the key as a seal PIN is (``seals.pin``): the fifth in a row
        locks the key, and every seal on it, until an RA officer releases it."""
        from yinxin.pki.pinkeys import open_sealed
        from yinxin.store.pin_attempts import MAX_PIN_FAILURES, record_pin_verdict, tried

        if not isinstance(pin, str) or not pin:
            raise ValidationError(
                "更新密钥需要输入该证书当前的 PIN（current_pin: the PIN of the key replaced）",
                field="current_pin",
                code="current_pin_required",
            )
        locked = Forbidden(
            f"该证书的密钥已因连续 {MAX_PIN_FAILURES} 次 PIN 错误被锁定，请联系受理点解锁或"
            "办理补办（the key is locked after wrong PINs）",
            field="current_pin",
            code="pin_locked",
        )
        with self.db.read() as s:
            c = self._cert_row(s, serial)
            key = s.get(PlatformKey, c.platform_key_id) if c.platform_key_id else None
            if key is None:
                return
            if key.locked:
                raise locked
            key_id, blob, label, hexserial = key.id, key.sealed_key, key.label, c.serial_hex
        # the slow part (scrypt) outside any lock
        right = tried(lambda: open_sealed(blob, pin, label, kek=self.kek)) is not None
        now = self.clock.now()

        def locking(s: Session, k: PlatformKey) -> Forbidden:
            data = {"failed_attempts": k.failed_attempts, "key": k.label}
            event(s, now, "system", "certificate.pin_locked", hexserial, data)
            return locked

        record_pin_verdict(
            self.db,
            key_id,
            blob,
            right,
            locked=lambda: locked,
            changed=lambda: Conflict(
                "the PIN was changed meanwhile; try again", field="current_pin", code="retry"
            ),
            locking=locking,
            wrong=lambda left: Forbidden(
                f"当前 PIN 错误，还可尝试 {left} 次（wrong current PIN）",
                field="current_pin",
                code="wrong_pin",
            ),
        )

    def _revoke_same_key(
        self,
        s: Session,
        c: Certificate,
        reason: str,
        actor: str,
        now: dt.datetime,
        *,
        spare: int | None = None,
        requested_at: dt.datetime | None = None,
        data: dict | None = None,
    ) -> list[str]:
        """Revoke the other certificates in force for ``c``'s key when ``c`` is revoked — by
        ``revoke`` for key compromise, or by a rekey, change or reissue: the serials revoked.
        ``spare`` is the successor just issued (a change keeps the key). A renewal's
        predecessor stays valid beside it, so acting on the renewal alone left the predecessor
        certifying a key replaced (rekey, reissue), compromised or bound to the old subject
        data (change) — the branch of its own that ``_successor`` refuses to make from the
        predecessor's side. For key compromise (a revocation so, a reissue after a loss) it is
        every certificate of the key, anyone's (:meth:`_same_key` with ``anyone``), each
        revoked as key_compromise; otherwise the holder's own, for ``reason``. One past
        its end (expired, swept or not) is no longer in force and is left as it is."""
        compromised = reason in COMPROMISE_REASONS
        rows = self._same_key(s, c, anyone=compromised)
        reason = "key_compromise" if compromised else reason
        done = []
        for other in rows:
            if other.id == spare:
                continue
            try:
                lifecycle.check_move(
                    "revoke", state_for("revoke", other, now), other.hold_kind, other.serial_hex
                )
            except IllegalTransition:
                continue
            _mark_revoked(other, reason, now, requested_at or now, actor)
            more = {
                "reason": reason,
                "rfc5280": REVOCATION_REASONS[reason][0],
                **(data or {}),
                "same_key_as": c.serial_hex,
            }
            self._move(s, other, REVOKED, "revoke", actor, now, None, more)
            done.append(other.serial_hex)
        return done

    @staticmethod
    def _apply_updates(sub: Subscriber, updates: dict) -> dict:
        """Apply a change's checked values to the subscriber; the values as stored, those
        given (for the audit event, its phone numbers and e-mail masked)."""
        # the subject's name, and the contact details ``subscriber update`` takes for the kind
        allowed = {
            PERSON: {"name", *CONTACT_FIELDS[PERSON]},
            "organization": {"name", *CONTACT_FIELDS["organization"]},
            "device": {"device_name"},
        }[sub.kind]
        applied = {}
        for k, v in updates.items():
            if v is None:
                continue
            if k not in allowed:
                raise ValidationError(f"{k} cannot be changed for a {sub.kind} subscriber", field=k)
            if k in ("name", "device_name"):
                v = validate_name(v, k, NAME_MAX[sub.kind])
            else:  # checked as at registration and by ``subscriber update``
                v = Subscribers.contact_value(k, v)
            setattr(sub, k, v)
            applied[k] = masked_detail(k, v)
            if k == "device_name":
                sub.name = v
        return applied

    def renew(self, serial: str, *, actor: str) -> Successor:
        return self._successor("renew", serial, actor=actor, new_key=False, revoke_reason=None)

    def rekey(
        self,
        serial: str,
        *,
        actor: str,
        csr=None,
        pin=None,
        algorithm: str = "ec-p256",
        by: HoldBy = HoldBy.CA,
        current_pin: str | None = None,
        proof: Callable[[Session], None] | None = None,
    ) -> Successor:
        """A new certificate for a new key; the old one is revoked as superseded.

        ``by`` the holder (a web session, a key bound to an organization — the desk checked
        no one): a platform-held key is replaced only with its ``current_pin`` (a wrong one
        counts toward the key's lock; refused 422/403 naming ``current_pin``), a key the
        holder holds only with ``proof``, the code sent by SMS to the registered phone used
        up in the issuance's transaction (403 ``code_required`` without it)."""
        pin_proved = by == HoldBy.HOLDER and not self.check_successor("rekey", serial, by=by)
        if pin_proved:
            self._prove_current_pin(serial, current_pin)
        return self._new_key_successor(
            "rekey",
            serial,
            actor,
            csr,
            pin,
            algorithm,
            lost=False,
            by=by,
            proof=proof,
            proved=PROOF_PIN if pin_proved else None,
        )

    def change(self, serial: str, *, actor: str, updates: dict) -> Successor:
        """变更: a new certificate for the same key with the new subject data. Its refusals are
        said for every caller (``POST /api/v1/certificates/{serial}/change``, ``yinxin cert
        change``): they name the fields both take, and both ways to change a contact detail."""
        given = [k for k, v in updates.items() if v is not None]
        if {"name", "device_name"} & set(given):
            # A change of the subject judges what it carries before the certificate is looked
            # up: ``cert change 99999 --name 新名 --phone 12`` said "no certificate 99999",
            # and the phone was refused only once the serial was right. The name's bound is
            # its kind's (a person's 50) and what the kind may change needs the row: both
            # are judged again there (``_apply_updates``). Contact details alone are refused
            # with the way to change them, which names the subscriber: after the lookup.
            for k in given:
                if k in ("name", "device_name"):
                    validate_name(updates[k], k, SUBJECT_NAME_MAX)
                elif k in CONTACT_ONLY:
                    Subscribers.contact_value(k, updates[k])
        with self.db.read() as s:
            sub = s.get(Subscriber, self._cert_row(s, serial).subscriber_id)
            assert sub is not None  # a certificate's subscriber is never deleted
            sub_id, kind = sub.id, sub.kind
        if not given:
            if kind == DEVICE:
                raise ValidationError(
                    "nothing to change: give the new device_name", field="device_name"
                )
            raise ValidationError(
                "nothing to change: give the new name, with any contact details changed with it",
                field="name",
            )
        if set(given) <= set(CONTACT_ONLY):
            # none of it is in the subject: revoking the certificate for it was needless
            options = " ".join(f"--{k.replace('_', '-')} …" for k in given)
            raise ValidationError(
                f"{', '.join(given)} is not in the certificate subject: change it on the "
                f"subscriber's record: PATCH /api/v1/subscribers/{sub_id} with "
                f"{', '.join(given)}, or yinxin subscriber update {sub_id} {options} "
                "(no certificate is revoked)",
                field=given[0],
                code="not_in_subject",
            )
        return self._successor(
            "change",
            serial,
            actor=actor,
            new_key=False,
            revoke_reason="subject_changed",
            subject_updates=updates,
        )

    def reissue(
        self,
        serial: str,
        *,
        actor: str,
        csr=None,
        pin=None,
        algorithm: str = "ec-p256",
        by: HoldBy = HoldBy.CA,
        proof: Callable[[Session], None] | None = None,
        dns_names: list[str] | None = None,
    ) -> Successor:
        """A new key and certificate, e.g. after a loss report (the old one is then revoked as
        compromised; otherwise as superseded). ``by`` the holder: refused (403, ``hold_by``)
        for a certificate under a freeze the CA imposed, a loss reported over it included;
        and, the PIN being lost or forgotten, only with ``proof``: the code sent by SMS to the
        registered phone, used up in the issuance's transaction (403 ``code_required``).

        ``dns_names``: a device certificate's new list of host names, checked as an
        application's, given by the CA (a holder is refused, 403 ``dns_names``): the way to
        replace a certificate whose names today's checks refuse, which no renewal or rekey
        copies."""
        with self.db.read() as s:
            lost = self._cert_row(s, serial).hold_kind == LOST
        return self._new_key_successor(
            "reissue",
            serial,
            actor,
            csr,
            pin,
            algorithm,
            lost=lost,
            by=by,
            proof=proof,
            dns_names=dns_names,
        )

    def _new_key_successor(
        self,
        verb: str,
        serial: str,
        actor: str,
        csr,
        pin,
        algorithm: str,
        *,
        lost: bool,
        by: HoldBy = HoldBy.CA,
        proof: Callable[[Session], None] | None = None,
        proved: str | None = None,
        dns_names: list[str] | None = None,
    ) -> Successor:
        return self._successor(
            verb,
            serial,
            actor=actor,
            csr=csr,
            pin=pin,
            algorithm=algorithm,
            new_key=True,
            revoke_reason="key_compromise" if lost else "superseded",
            by=by,
            proof=proof,
            proved=proved,
            dns_names=dns_names,
        )

    def _due(self, *where) -> list[str]:
        """Serials of the certificates matching ``where`` (for the scheduler's sweeps), in the
        order they were issued, as seals and flows are swept (by id)."""
        with self.db.read() as s:
            q = select(Certificate.serial_hex).where(*where).order_by(Certificate.id)
            return list(s.execute(q).scalars())

    def due_to_expire(self) -> list[str]:
        """The certificates :meth:`expire_due` would mark expired now, changing nothing: what
        ``yinxin cert expire`` asks the CA passphrase for before the first change."""
        now = self.clock.now()
        return self._due(Certificate.status.in_([ACTIVE, ON_HOLD]), Certificate.not_after <= now)

    def expire_due(self, *, actor: str = "scheduler") -> list[str]:
        """Mark every certificate past its notAfter as expired (run by the scheduler)."""
        due = self.due_to_expire()
        for serial in due:
            self._simple("expire", serial, actor)
        return due

    def due_unpaid(self) -> list[str]:
        """The certificates :meth:`suspend_unpaid` would stop now, changing nothing."""
        now = self.clock.now()
        return self._due(
            Certificate.status == ACTIVE,
            Certificate.paid_until.is_not(None),
            Certificate.paid_until <= now,
            Certificate.not_after > now,
        )

    def suspend_unpaid(self, *, actor: str = "scheduler") -> list[str]:
        """Stop certificates whose service is paid up to a date that has passed (000 篇七)."""
        due = self.due_unpaid()
        for serial in due:
            self._simple("suspend_unpaid", serial, actor, hold_kind=UNPAID)
        return due

    def issuer_roles(self, serials: Sequence[str]) -> list[str]:
        """The CAs (roles, sorted) that issued ``serials``: whose CRLs a status change of them
        re-signs, so whose keys the change needs. An unknown serial counts for none."""
        found: set[str] = set()
        with self.db.read() as s:
            for at in range(0, len(serials), 500):  # a sweep's thousands: under SQL's limits
                part = list(serials[at : at + 500])
                q = select(Certificate.issuer_role).where(Certificate.serial_hex.in_(part))
                found.update(r or "issuing" for r in s.execute(q.distinct()).scalars())
        return sorted(found)

    def expiring(self, within_days: int = 30) -> list[CertificateView]:
        """Certificates due for a renewal notice (001 §二.6).

        A certificate already renewed is not: it stays active beside its renewal until its own
        end, but it cannot be renewed again (its successor is), so "please renew" would ask the
        holder for what was done — and for a second renewal fee (``pay`` refuses that too)."""
        check_notice_days(within_days, "days")
        now = self.clock.now()
        successor = aliased(Certificate)
        with self.db.read() as s:
            rows = s.execute(
                select(Certificate)
                .where(
                    Certificate.status == ACTIVE,
                    Certificate.not_after <= now + dt.timedelta(days=within_days),
                    ~exists().where(successor.predecessor_id == Certificate.id),
                )
                .order_by(Certificate.not_after, Certificate.id)  # ends alike: as issued
            ).scalars()
            return [certificate_view(c) for c in rows]

    @staticmethod
    def payment_due_where(now: dt.datetime, within_days: int) -> tuple:
        """What makes a certificate due for a payment reminder: active, its paid service
        ending within ``within_days`` (not yet ended: ``suspend_unpaid`` takes those), ending
        before its validity does (otherwise it expires first and is never stopped), and not
        renewed (its renewal carries the payment on)."""
        successor = aliased(Certificate)
        return (
            Certificate.status == ACTIVE,
            Certificate.paid_until.is_not(None),
            Certificate.paid_until > now,
            Certificate.paid_until <= now + dt.timedelta(days=within_days),
            Certificate.not_after > Certificate.paid_until,
            ~exists().where(successor.predecessor_id == Certificate.id),
        )

    def payment_due(self, within_days: int = 7) -> list[CertificateView]:
        """Certificates whose paid service ends within ``within_days`` and would then be
        stopped for unpaid fees (000 篇七), soonest first: the payment reminder's list."""
        check_notice_days(within_days, "days")
        now = self.clock.now()
        with self.db.read() as s:
            rows = s.execute(
                select(Certificate)
                .where(*self.payment_due_where(now, within_days))
                .order_by(Certificate.paid_until, Certificate.id)
            ).scalars()
            return [certificate_view(c) for c in rows]

    # --- queries ---------------------------------------------------------------------------------
    def get(self, serial: str) -> CertificateView:
        with self.db.read() as s:
            return certificate_view(self._cert_row(s, serial))

    def list(
        self,
        *,
        subscriber_id: int | None = None,
        status: str | None = None,
        organization_id: int | None = None,
        same_key_as: str | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[CertificateView]:
        """Certificates in issue order; ``organization_id`` narrows to the organization's own
        and its members' (an organization-bound API key), ``after``/``limit`` page.
        ``same_key_as`` narrows to the holder's other certificates in force for that
        certificate's key: what a change, a revocation or a loss of it moves too, so the desk
        can say so before it asks (the same query as :meth:`_same_key`, unlocked)."""
        status = listed(CertificateState, status, "status")  # before the database is opened
        with self.db.read() as s:
            q = select_where(Certificate, subscriber_id=subscriber_id, status=status)
            if same_key_as is not None:
                c = self._cert_row(s, same_key_as)
                q = q.where(
                    Certificate.spki_sha256 == c.spki_sha256,
                    Certificate.id != c.id,
                    Certificate.subscriber_id == c.subscriber_id,
                    Certificate.status.in_([ACTIVE, ON_HOLD]),
                )
            q = q.where(of_organization_held(s, Certificate, organization_id))
            q = paged(q, Certificate.id, after=after, limit=limit)
            return [certificate_view(c) for c in s.execute(q).scalars()]

    def applications(
        self,
        state: str | None = PENDING,
        *,
        organization_id: int | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[ApplicationView]:
        state = listed(ApplicationState, state, "state")  # judged before the database is opened
        with self.db.read() as s:
            q = select_where(Application, state=state)
            q = q.where(of_organization(Application.subscriber_id, organization_id))
            q = paged(q, Application.id, after=after, limit=limit)
            return [application_view(a) for a in s.execute(q).scalars()]

    def application(self, application_id: int) -> ApplicationView:
        with self.db.read() as s:
            missing = f"no application {application_id}"
            q = select(Application).where(Application.id == application_id)
            return application_view(one_or_404(s, q, missing, field="application_id"))

    def payments(self, application_id: int) -> list[PaymentView]:
        """The payments recorded for an application (its first fee; none while unpaid): what
        the applicant's page and the reviewer's desk show next to the application."""
        app = self.application(application_id)  # NotFound for an unknown one
        with self.db.read() as s:
            rows = s.execute(
                select(Payment).where(Payment.application_id == app.id).order_by(Payment.id)
            ).scalars()
            return [payment_view(p) for p in rows]

    def count(self) -> int:
        with self.db.read() as s:
            return s.execute(select(func.count(Certificate.id))).scalar_one()
