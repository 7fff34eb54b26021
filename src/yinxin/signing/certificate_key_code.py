"""A holder's own rekey (更新密钥) or reissue (补办) online, proved by a code sent by SMS.

A new certificate in the holder's name under a key (and PIN) the caller chooses is the most a
stolen web session or organization key could get: so a holder's own reissue — the key lost or
its PIN forgotten, nothing else to prove — and rekey of a key the holder holds (a CSR: the
platform cannot check the old key) take effect only with the one-time code sent to the
registered mobile number. The same machinery as signing codes (``signing.intent``: kept as an
HMAC under the server's secret, five wrong codes kill it, it expires with
``YINXIN_OTP_TTL_SECONDS``, rate-limited per subscriber, audited), bound to this subscriber,
this verb and this certificate, and used up in the transaction that issues the successor — a
successor refused on its way gives the code back. A rekey of a platform-held key is proved by
its current PIN instead (``Certificates.rekey``).

A device has no phone (its notices go to its organization): the code for its certificate goes
to its organization's registered phone, and is checked against it. A holder with no registered
mobile phone at all (an organization registered at the desk with a landline contact phone) is
refused ``no_phone``, told to register one at the desk (online it could be proved by nothing:
``signing.phone_change``) or to have the desk do it: the code never goes to the contact phone,
which may be a landline and is changed online without any proof.

A desk officer (the CLI, a staff session, a key bound to no organization) has checked the
holder's identity in person and needs neither.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from yinxin.errors import ValidationError
from yinxin.registry.certificates import VERB_NAMES, Certificates
from yinxin.registry.lifecycle import HoldBy
from yinxin.signing.intent import CERTIFICATE_KEY, Challenge, IntentConfirmation
from yinxin.store.models import Subscriber


class CertificateKeyCodes:
    def __init__(self, certificates: Certificates, intent: IntentConfirmation):
        self.certificates, self.intent = certificates, intent

    def _bound(self, subscriber_id: int, verb: str, serial: str) -> str:
        return self.intent.binding(f"certificate_key:{verb}:{subscriber_id}:{serial}")

    def _answering(self, subscriber_id: int) -> int:
        """Whose registered phone receives the code: the holder's; for a device, which has
        none, its organization's (where its notices go)."""
        with self.certificates.db.read() as s:
            sub = s.get(Subscriber, subscriber_id)
            if sub is not None and sub.kind == "device" and sub.organization_id:
                return sub.organization_id
            return subscriber_id

    @staticmethod
    def _verb(verb: str) -> str:
        if verb not in VERB_NAMES:
            raise ValidationError(f"no code is sent for {verb!r}", field="verb")
        return verb

    def request(self, verb: str, serial: str, *, actor: str) -> Challenge:
        """Send a code to the holder's registered phone for ``verb`` on ``serial`` — after the
        checks that would refuse it anyway (state, a freeze the CA imposed, a successor)."""
        verb = self._verb(verb)
        self.certificates.check_successor(verb, serial, by=HoldBy.HOLDER)
        cert = self.certificates.get(serial)
        who = self._answering(cert.subscriber_id)
        try:
            return self.intent.request_code(
                who,
                purpose=CERTIFICATE_KEY,
                document_sha256=self._bound(cert.subscriber_id, verb, cert.serial),
                document_name=f"{VERB_NAMES[verb]}证书 {cert.serial[:16]}",
                actor=actor,
            )
        except ValidationError as e:
            if e.code != "no_phone":
                raise
            name = VERB_NAMES[verb]
            raise ValidationError(
                f"未登记手机号，无法发送{name}所需的短信验证码：请到受理点登记手机号，或到受理点"
                f"办理{name}（受理员当面核验身份，无需验证码）(no registered mobile phone to "
                f"send the code to: register a mobile phone at the desk — online, a first "
                f"mobile phone has nothing to be proved by (subscriber {who}) — or have the "
                f"desk do the {verb})",
                field="phone",
                code="no_phone",
            ) from None

    def proof(
        self, verb: str, serial: str, *, challenge_id: str, code: str, actor: str
    ) -> Callable[[Session], None]:
        """Check the code now (a wrong one is counted and refused before anything else) and
        give what uses it up inside the issuance's transaction."""
        verb = self._verb(verb)
        cert = self.certificates.get(serial)
        bound = self._bound(cert.subscriber_id, verb, cert.serial)
        return self.intent.checked_proof(
            challenge_id,
            code,
            subscriber_id=self._answering(cert.subscriber_id),
            document_sha256=bound,
            purpose=CERTIFICATE_KEY,
            by=f"certificate-{verb}",
            actor=actor,
        )
