"""Signing an OFD with a platform seal: the PDF signing workflow, with a GB/T 38540 signature.

The same three conditions as a PDF signature (``yinxin.signing.service``): the seal and its
certificate are usable now, the holder's seal PIN opens the platform-held key, and the signer
confirmed intent with a one-time code for *this* document's SHA-256 — the code is checked
after the PIN (a mistyped PIN never burns a code) and consumed in the transaction that records
the signature. Record, archive and ``document.signed`` audit event are written by the PDF
service's own ``record_signatures``, so an OFD signature reads like any other in the records,
the archive and the audit trail.

What differs is the signature itself. An OFD seal signature is a GB/T 38540 ``SES_Signature``
v4 over the signature's ``Signature.xml`` (``yinxin.ofd.sign`` + ``SesOfdSigner``): SM2 with
SM3 only, so the seal's certificate must hold an SM2 key (an ECDSA seal is refused by name
before its PIN is tried), and the seal's SESeal record — made by the SM2 issuing CA — travels
inside the signature. The value is stamped by the platform's TSA with an SM3 imprint. The
level recorded is ``B-T``: signed and timestamped, no embedded revocation data (an OFD has no
DSS; the relying party checks revocation against the CRL) and no archive renewal.

A document closed by an earlier signer is refused before any code is sent (it needs no key).
Everything else that could refuse the signature (placement off the page, anchor not found, a
seal whose certificate list does not name the signer) is tried on a throw-away signature
*before* the code is confirmed, so such a refusal leaves the database as it was and the code
unused.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace

from asn1crypto import crl as a_crl
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from yinxin.clock import asked_moment
from yinxin.errors import NotFound, ValidationError, YinxinError
from yinxin.indication import Outcome, outcome
from yinxin.ofd.package import OfdPackage
from yinxin.ofd.sign import Placement, check_open, check_placement, sign_ofd
from yinxin.ofd.verify import OfdReport, verify_ofd
from yinxin.pdf.sign import Level
from yinxin.registry.ca import role_of
from yinxin.seals.lifecycle import state_name
from yinxin.seals.rows import seal_row
from yinxin.seals.ses_signature import (
    Check,
    SesOfdSigner,
    check_ofd_value,
    check_signer_in_seal,
    time_settled,
)
from yinxin.seals.seseal import cert_spki, is_sm2_spki
from yinxin.signing.intent import Challenge
from yinxin.signing.service import (
    Role,
    SignatureEntry,
    SignatureRecordView,
    SignerCredentials,
    SigningService,
    sha256_hex,
)
from yinxin.store.models import Certificate

logger = logging.getLogger(__name__)

MAX_OFD = 50 * 1024 * 1024
LEVEL = Level.B_T  # signed and timestamped; see the module docstring
DER = serialization.Encoding.DER


@dataclass(frozen=True)
class SignedOfdDocument:
    """The signed OFD and its record; ``signature_id``/``page``/``boundary``: the signature and
    stamp just added (``None`` on a replay, which added nothing); ``replayed`` as for PDF."""

    data: bytes
    record: SignatureRecordView
    signature_id: str | None = None
    page: int | None = None
    boundary: str | None = None
    replayed: bool = False


@dataclass(frozen=True)
class _Made:
    """One signature made by a format's engine: the file, what was added, the record details."""

    data: bytes
    signature_id: str
    page: int
    boundary: str
    details: dict


def _read_ofd(document: bytes) -> OfdPackage:
    """The package, or a refusal naming ``ofd`` (empty, too large, not an OFD)."""
    if not document or len(document) > MAX_OFD:
        raise ValidationError("the document is empty or larger than 50 MiB", field="ofd")
    return OfdPackage.read(document)  # refuses a non-ZIP, a ZIP without OFD.xml (field ofd)


class OfdSigning:
    """``sign`` an OFD with a platform seal, ``request_confirmation`` for it, ``verify`` one
    with the platform's certificates as trust. Built on ``SigningService`` (same evidence,
    seals, intent and archive), beside it rather than inside it: the PDF service stays about
    PDF, and this one about the OFD engine and GB/T 38540."""

    def __init__(self, signing: SigningService):
        self.signing = signing
        self.db, self.clock, self.ca, self.tsa = signing.db, signing.clock, signing.ca, signing.tsa
        self.intent, self.archive = signing.intent, signing.archive

    # --- intent ------------------------------------------------------------------------------
    def request_confirmation(
        self,
        *,
        signer_subscriber_id: int,
        document: bytes,
        document_name: str,
        seal: int | str | None = None,
    ) -> Challenge:
        """Send the signer a one-time code for this OFD (意愿认证); a file that is not an OFD,
        or one closed by its earlier signer, is refused before any code is sent. ``seal``, if
        given, is the seal it will be signed with: one :meth:`sign` would refuse before the
        PIN (no such seal, not usable by this signer, not SM2, its certificate list not naming
        its certificate) gets no code either, refused with the same error."""
        self._read(document)
        if seal is not None:
            self._require_sm2_seal(seal)
            self.signing.seals.check_usable(seal, signer_subscriber_id)
        return self.intent.request_code(
            signer_subscriber_id,
            purpose="sign",
            document_sha256=sha256_hex(document),
            document_name=document_name,
        )

    # --- the document format: hooks a PDF seal signature (``signing.ses_pdf``) replaces -------
    placement_type: type = Placement

    @classmethod
    def _read(cls, document: bytes) -> None:
        """A refusal, before any code is sent, of what is not an OFD (naming ``ofd``) and of
        one that takes no more signatures — closed by its earlier signer, or an earlier
        signature broken (``broken_signature``), each naming ``in`` as signing refuses it: sent
        a code, the first was refused only by the dry run after the PIN, the second signed."""
        _read_ofd(document)
        # the earlier signatures' values, judged once per call: _make leaves them to this
        check_open(document, check_ofd_value(None))

    @classmethod
    def _check_placement(cls, document: bytes, placement) -> None:
        """What the document refuses of ``placement`` (an anchor it does not hold, a page it
        has not, a position off the page), found without the seal's key: before the code."""
        check_placement(document, placement)

    def _check_fits(self, document: bytes, seal: int | str, placement) -> None:
        """What the document refuses of the seal at its size, found without the seal's key:
        nothing for OFD (a position is the seal's centre, on the page; its size plays no part);
        a PDF seal signature (``signing.ses_pdf``) refuses one running off the page."""

    def _make(self, document, seal_der, key, cert_der, placement, now, timestamper) -> _Made:
        """One signature on ``document``; ``timestamper`` None is the dry run before the code
        is confirmed (no TSA call, nothing kept)."""
        signer = SesOfdSigner(
            seal_der,
            key,
            cert_der,
            when=now,
            timestamper=timestamper,
            timestamp_hash="sm3",
        )
        # the earlier signatures' values were judged once, by _read before the PIN (an SM2
        # verification each); sign_ofd compares their digests again, which costs next to nothing
        made = sign_ofd(document, signer, placement=placement, when=now)
        return _Made(
            made.data,
            made.signature_id,
            made.page,
            made.boundary,
            {
                "format": "ofd",
                "signature_xml": made.signature_xml,
                "page": made.page,
                "boundary": made.boundary,
            },
        )

    # --- signing -----------------------------------------------------------------------------
    @classmethod
    def check_document(cls, document: bytes, placement, role: str | None = None) -> Role | None:
        """What :meth:`sign` refuses of the document, the placement and the role without the
        seal or the database (not this format, closed or an earlier signature broken, no such
        anchor or page, a bad role), with its refusals and names; the role as sign records it.
        :meth:`sign` makes these checks first, and ``yinxin sign ofd|ses-pdf`` before asking
        for the PIN and the code: found after them, both had been typed for nothing (and a
        wrong code with them used one of its tries)."""
        cls._read(document)
        if not isinstance(placement, cls.placement_type):
            raise ValidationError("give an anchor text or a page and position", field="placement")
        _, role_ = SigningService.check_options(LEVEL, role)
        # a placement the document refuses is refused before the code is checked (the dry
        # run after the PIN needs the unlocked key)
        cls._check_placement(document, placement)
        return role_

    def check_seal(self, document: bytes, seal: int | str, placement) -> None:
        """What :meth:`sign` refuses of ``seal`` without its PIN, after :meth:`check_document`:
        a seal not found or not SM2 (naming ``seal``) and, for a PDF, the seal at its size
        running off the page (``outside_page`` naming ``placement``). ``yinxin sign
        ofd|ses-pdf`` makes these checks before asking for the PIN and the code: found by
        :meth:`sign`, both had been typed for nothing."""
        self._require_sm2_seal(seal)
        self._check_fits(document, seal, placement)

    def _require_sm2_seal(self, seal: int | str) -> None:
        """Refuse, naming the seal, one whose certificate is not SM2: GB/T 38540 signs with
        SM2 only, and an OFD reader would reject anything else; and, naming ``signer_cert`` as
        the signature would, one whose GB/T 38540 record's certificate list does not name the
        certificate it is bound to. Checked before the PIN, so a PIN typed for such a seal is
        not counted against it."""
        with self.db.read() as s:
            row = seal_row(s, seal)
            cert = s.get(Certificate, row.certificate_id)
            if cert is None:
                raise NotFound(f"seal {row.es_id} has no certificate", field="seal")
            if not is_sm2_spki(cert_spki(cert.der)):
                raise ValidationError(
                    f"seal {row.es_id} is bound to a non-SM2 certificate ({cert.serial_hex}): "
                    "a GB/T 38540 seal signature (OFD, or PDF the Chinese way) is made with "
                    "SM2 only; use a seal whose certificate comes from the SM2 hierarchy",
                    field="seal",
                )
            seseal, cert_der = bytes(row.seseal), bytes(cert.der)
        check_signer_in_seal(seseal, cert_der)

    def sign(
        self,
        document: bytes,
        *,
        seal: int | str,
        pin: str,
        signer_subscriber_id: int,
        placement: Placement,
        confirmation_token: str | None = None,
        challenge_id: str | None = None,
        code: str | None = None,
        role: str | None = None,
        document_name: str = "contract.ofd",
        client_ip: str | None = None,
    ) -> SignedOfdDocument:
        """One seal signature more on ``document`` (the first, or after earlier signers);
        ``client_ip``, when the request came over HTTP, is kept with the record."""
        role_ = self.check_document(document, placement, role)
        digest = sha256_hex(document)
        self.check_seal(document, seal, placement)
        who = SignerCredentials(
            seal, pin, signer_subscriber_id, confirmation_token, challenge_id, code
        )
        unlocked, previous = self.signing.unlock_or_replay(who, digest)
        if previous is not None:
            return SignedOfdDocument(previous.pdf, previous.record, replayed=True)
        stamp = unlocked.stamp
        cert_der = unlocked.certificate.public_bytes(DER)
        now = self.clock.now()
        # a dry run without the TSA: every refusal the OFD engine or GB/T 38540 can give comes
        # now, before the code is checked (a wrong one is counted) — nothing is kept of it
        self._make(document, stamp.seseal, unlocked.key, cert_der, placement, now, None)
        self.signing.check_intent(who, digest)
        # the TSA of the signer's certificate's hierarchy: the SM2 one beside a P-256 default
        tsa = self.tsa.of(self.ca.hierarchy_of(unlocked.certificate))
        made = self._make(
            document, stamp.seseal, unlocked.key, cert_der, placement, now, tsa.respond
        )
        signed = made.data
        # kept before the transaction, as for PDF: a crash leaves an unreferenced file, never a
        # record whose document cannot be found
        stored = self.archive.store(signed)
        record = self.signing.record_signed(
            SignatureEntry(
                document_name=document_name,
                digest=digest,
                signed=signed,
                stored=stored,
                role=role_,
                field_name=made.signature_id,
                details={**made.details, **({"client_ip": client_ip} if client_ip else {})},
            ),
            who=who,
            stamp=stamp,
            level=LEVEL,
            now=now,
        )
        return SignedOfdDocument(signed, record, made.signature_id, made.page, made.boundary)

    # --- verification ------------------------------------------------------------------------
    def trust(self) -> list[bytes]:
        """The platform's certificates a relying party here trusts (DER): the root (it issued
        the TSA and the issuing CA) and the issuing CA (seal maker and the signers' issuer;
        GB/T 38540 checks go one step, so the issuing CA is listed as well as the root)."""
        out = []
        for hierarchy in self.ca.hierarchies() or [""]:  # the SM2 one beside the default too
            for role in ("root", "issuing"):
                try:
                    out.append(self.ca.certificate(role_of(hierarchy, role)).public_bytes(DER))
                except NotFound:
                    continue
        return out

    def trust_with(self, extra_trust: list[bytes] | None) -> list[bytes]:
        """``trust()`` and the relying party's own certificates; none at all is refused, naming
        ``trust`` — the GB/T 38540 verify of either format."""
        trust = self.trust() + [bytes(c) for c in extra_trust or []]
        if not trust:
            raise ValidationError(
                "no trust anchor: the platform's CA is not initialised here; give --trust",
                field="trust",
            )
        return trust

    def own_crls(self) -> dict[str, bytes]:
        """The platform's current CRL of each of its issuing CAs, by role.

        GB/T 38540 checks the signer's certificate against a CRL of its issuer issued after the
        signing; a relying party elsewhere brings one (``--crl``). Here the platform has its
        own, as fresh as its CRL endpoint serves them (re-signed when a status changed), so a
        certificate it revoked before the signing fails the check without anyone fetching a
        CRL — before, the check read "not checked" unless ``--crl`` was given. A CA whose CRL
        cannot be made now (its key out of reach) is left out and logged: its certificates'
        check then reads "not checked", as it did. Only issuing CAs: a signer's certificate
        is never issued by a root, so a root's CRL would be fetched and parsed for nothing."""
        status = self.signing.ocsp.status
        own: dict[str, bytes] = {}
        for role in (role_of(h, "issuing") for h in self.ca.hierarchies()):
            try:
                own[role] = status.current_crl(role)
            except YinxinError as e:
                logger.warning("no current CRL of %s for a seal verification: %s", role, e.code)
        return own

    def crls_with(
        self, crls: list[bytes] | tuple[bytes, ...] = (), own: dict[str, bytes] | None = None
    ) -> list[bytes] | None:
        """The platform's own CRLs (``own_crls``, unless given), then the relying party's."""
        mine = self.own_crls() if own is None else own
        return [*mine.values(), *(bytes(c) for c in crls)] or None

    def renewed_crls(self, own: dict[str, bytes], values: list[dict]) -> dict[str, bytes] | None:
        """``own`` with a CRL signed now for each issuing CA whose current CRL predates a
        signature it must speak for; None when none does (the first verification stands).

        The endpoint's CRL is re-signed only when a status changes, so every signature made
        since the last one found only an older CRL, which cannot speak for it: the platform's
        own certificate read "not checked: the CRL given predates the signing time" although
        nobody gave a CRL and the platform knows its status now. ``values`` are the signatures'
        ``SesReport`` dicts. Only for what a CRL signed now settles and only the platform can
        have caused: the revocation check not made, the signature made by the certificate's
        key and the certificate issued by a trusted CA (so only its holder can ask for this),
        a certificate of ours by serial, a signing time not after now — once: the renewed CRL
        then postdates every signature made so far."""
        now = self.clock.now()
        stale: set[str] = set()
        for value in values:
            checks = {c.get("name"): c.get("ok") for c in value.get("checks", ())}
            when_text = value.get("timestamp_time") or value.get("time_info")
            serial = value.get("signer_serial")
            if (
                checks.get("signer_certificate_revocation", False) is not None
                or checks.get("signature") is not True
                or checks.get("signer_certificate_trusted") is not True
                or not when_text
                or not serial
            ):
                continue
            when = dt.datetime.fromisoformat(str(when_text))
            if when > now:
                continue
            with self.db.read() as s:
                role = s.scalar(
                    select(Certificate.issuer_role).where(Certificate.serial_hex == str(serial))
                )
            if role is None or role not in own or role in stale:
                continue
            this_update = a_crl.CertificateList.load(own[role])["tbs_cert_list"]["this_update"]
            if this_update.native < when:
                stale.add(role)
        if not stale:
            return None
        status = self.signing.ocsp.status
        renewed = dict(own)
        for role in sorted(stale):
            try:
                status.publish_crl(role)
                renewed[role] = status.current_crl(role)
            except YinxinError as e:
                logger.warning("no new CRL of %s for a seal verification: %s", role, e.code)
        return renewed

    def verify(
        self,
        data: bytes,
        *,
        extra_trust: list[bytes] | None = None,
        crls: list[bytes] = (),
        at: dt.datetime | None = None,
    ) -> OfdReport:
        """Every signature of an OFD, trusting the platform's root and issuing CA (plus any
        certificates the relying party adds); ``crls`` decide the revocation check; ``at`` is
        the verification moment (a signature cannot be later); the platform's own seals are
        looked up (``seal_status``) and its own CRLs added (``crls_with``)."""
        at = asked_moment(at)  # a naive time refused naming ``at`` (it was read as local time)
        trust = self.trust_with(extra_trust)
        own = self.own_crls()
        report = verify_ofd(data, check_ofd_value(trust, self.crls_with(crls, own), at))
        renewed = self.renewed_crls(own, [sig.value for sig in report.signatures])
        if renewed is not None:  # a signature newer than the platform's CRL: judged again
            report = verify_ofd(data, check_ofd_value(trust, self.crls_with(crls, renewed), at))
        signatures = []
        for sig in report.signatures:
            check = self.seal_status(sig.value)
            if check is None:
                signatures.append(sig)
                continue
            value = {**sig.value, "checks": [*sig.value.get("checks", []), check.to_dict()]}
            problems = sig.problems + self.status_problems(check)
            signatures.append(
                replace(
                    sig, value=value, valid=sig.valid and check.ok is not False, problems=problems
                )
            )
        valid = bool(signatures) and all(x.valid for x in signatures) and not report.unprotected
        return replace(report, signatures=tuple(signatures), valid=valid and not report.problems)

    def verify_file(
        self,
        data: bytes,
        *,
        file_name: str,
        extra_trust: list[bytes] | None = None,
        crls: list[bytes] = (),
        at: dt.datetime | None = None,
    ):
        """``verify`` as ``yinxin verify`` and ``POST /verifications`` show a file: an
        ``OfdFileReport`` (name, SHA-256, the moment, default now), as ``SesPdfSigning.verify``
        gives for a PDF."""
        from yinxin.seals.documents import OfdFileReport

        when = (asked_moment(at) or self.clock.now()).replace(microsecond=0)
        report = self.verify(data, extra_trust=extra_trust, crls=crls, at=when)
        return OfdFileReport(file_name, sha256_hex(data), when, report)

    @staticmethod
    def status_problems(check: Check) -> tuple[str, ...]:
        """What a ``seal_status`` check adds to the signature's problems: the seal revoked here
        before a settled signing time; a mendable failure is said by the check alone."""
        if outcome(check) is Outcome.FAILED:
            return (check.detail,)
        return ()

    def seal_status(self, value: dict) -> Check | None:
        """GB/T 38540 has no status service for seals, but the platform knows its own: a
        signature made (by its timestamp's time, else ``timeInfo``) once the seal was revoked
        here (废止, 004 §十一) fails; one made before it passes, as for a revoked certificate.
        A seal this platform did not make is "not checked". ``value``: a ``SesReport`` dict."""
        es_id = value.get("es_id")
        when_text = value.get("timestamp_time") or value.get("time_info")
        if not es_id or not when_text:
            return None
        when = dt.datetime.fromisoformat(str(when_text))
        with self.db.read() as s:
            try:
                row = seal_row(s, str(es_id))
            except NotFound:
                return Check(
                    "seal_status", None, "非本平台的电子印章 / not a seal of this platform"
                )
            revoked, reason, state = row.revoked_at, row.revocation_reason, row.state
        if revoked is not None and revoked.tzinfo is None:
            revoked = revoked.replace(tzinfo=dt.UTC)
        if revoked is None:
            return Check(
                "seal_status",
                True,
                f"电子印章 {es_id} 在本平台的状态为 {state_name(state)} / "
                f"seal {es_id} is {state} here",
            )
        if revoked <= when:
            return Check(
                "seal_status",
                False,
                f"印章已废止：电子印章 {es_id} 于 {revoked.isoformat()} 在本平台废止（{reason}），"
                f"早于签署 / seal {es_id} was revoked here {revoked.isoformat()} ({reason}), "
                "before the signing",
                mendable=not time_settled(value.get("checks", [])),  # as the value's own
            )
        return Check(
            "seal_status",
            True,
            f"电子印章 {es_id} 于 {revoked.isoformat()} 在本平台废止，晚于签署 / "
            f"seal {es_id} revoked here {revoked.isoformat()}, after the signing",
        )
