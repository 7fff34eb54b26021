"""Whether a seal can sign right now, PIN aside, decided from the current rows (``problem``).

**Usability is decided at use time from the database**: the seal's state and validity, the
certificate's *current* status (a frozen or revoked certificate stops its seals at once,
without touching the seal rows), the key lock (after ``MAX_PIN_FAILURES`` wrong PINs) and, for
organization seals, the member's authorization (``seals.grants``). The PIN itself is
``seals.pin``'s; this part reads rows only, so showing a seal (``SealView.usable``, a listing)
loads none of the key and PIN code.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from yinxin.clock import beijing_date, beijing_day
from yinxin.errors import Forbidden
from yinxin.registry import lifecycle as cert_lifecycle
from yinxin.seals.catalogue import ORGANIZATION_KINDS
from yinxin.seals.grants import grant_refusal
from yinxin.seals.lifecycle import SealState
from yinxin.store.models import Certificate, PlatformKey
from yinxin.store.models.seals import Seal
from yinxin.store.pin_attempts import MAX_PIN_FAILURES


def locked_refusal(es_id: str) -> Forbidden:
    """The one reply to any attempt on a locked key, whatever PIN it carried."""
    return Forbidden(
        f"seal {es_id} is locked after {MAX_PIN_FAILURES} wrong PINs; an RA officer must unlock it",
        field="pin",
        code="seal_locked",
    )


# Why a seal cannot sign, in Chinese, by the refusal's code: the Chinese half of a refusal that
# quotes ``problem``'s English reason (a contract's or a flow's signer whose seal is unusable).
_UNUSABLE_ZH = {
    "seal_not_active": "印章不是启用状态",
    "seal_expired": "印章不在有效期内",
    "certificate_not_valid": "印章的证书不可用",
    "not_authorized": "未获用印授权",
    "grant_expired": "用印授权期限已过",
    "grant_used_up": "用印次数已用完",
    "other_organization": "被授权人不属于用印单位",
    "subscriber_held_key": "证书密钥由订户自行持有，不能在平台上签章",
    "seal_locked": "PIN 多次输错，印章已锁定",
}


def unusable_zh(code: str | None) -> str:
    """What ``problem``'s refusal with ``code`` says, in Chinese (a general word for a code
    this table does not know yet, rather than none)."""
    return _UNUSABLE_ZH.get(code or "", "印章现在不能签章")


def problem(
    s: Session,
    seal: Seal,
    cert: Certificate,
    key: PlatformKey | None,
    member_subscriber_id: int | None,
    now: dt.datetime,
    uses: int = 1,
) -> Forbidden | None:
    """Why the seal cannot sign right now (PIN aside), or None; reads current rows only. A
    member acting under a grant needs ``uses`` signings left on it (a batch: its documents)."""
    if seal.state != SealState.ACTIVE:
        hold = f" ({seal.hold_kind})" if seal.hold_kind else ""
        return Forbidden(
            f"seal {seal.es_id} is {seal.state}{hold}", field="seal", code="seal_not_active"
        )
    if not seal.valid_start <= now < seal.valid_end:
        return Forbidden(
            f"seal {seal.es_id} is outside its validity "
            f"({beijing_day(seal.valid_start)} to {beijing_date(seal.valid_end)})",
            field="seal",
            code="seal_expired",
        )
    if cert.status != cert_lifecycle.ACTIVE or cert.not_after <= now:
        state = cert.status + (f" ({cert.hold_kind})" if cert.hold_kind else "")
        return Forbidden(
            f"seal {seal.es_id} cannot be used: its certificate "
            f"{cert.serial_hex} is "
            f"{state if cert.status != cert_lifecycle.ACTIVE else 'past its end'}",
            field="certificate",
            code="certificate_not_valid",
        )
    if member_subscriber_id is not None:
        if seal.kind in ORGANIZATION_KINDS:
            refusal = grant_refusal(s, seal, member_subscriber_id, now, uses)
            if refusal is not None:
                return refusal
        elif member_subscriber_id != seal.subscriber_id:
            return Forbidden(
                f"personal seal {seal.es_id} is used by its holder only",
                field="member_subscriber_id",
                code="not_authorized",
            )
    if key is None:
        return Forbidden(
            f"seal {seal.es_id} is bound to certificate {cert.serial_hex}, "
            "whose key the subscriber holds (CSR): it cannot sign on the "
            "platform; sign locally with your own key, this seal's image and "
            "its SESeal record",
            field="seal",
            code="subscriber_held_key",
        )
    if key.locked:
        return locked_refusal(seal.es_id)
    return None
