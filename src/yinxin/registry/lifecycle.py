"""The tables of allowed moves: certificates, and the applications that lead to them.

Each verb names the states it may start from (and, for a certificate on hold, which kind of
hold it may lift) and the state the subject ends in. Anything not in a table is refused with
``IllegalTransition`` before anything is written. The states are ``StrEnum``s: they equal the
strings the database stores, and results carry them typed.
"""

from __future__ import annotations

from enum import StrEnum

from yinxin.errors import ValidationError
from yinxin.transitions import Move, TransitionTable, move


class CertificateState(StrEnum):
    ACTIVE = "active"
    ON_HOLD = "on_hold"
    REVOKED = "revoked"
    EXPIRED = "expired"


class HoldKind(StrEnum):
    """Why a certificate is on hold: which verb may lift it."""

    FROZEN = "frozen"  # freeze → unfreeze
    UNPAID = "unpaid"  # stopped for unpaid fees → unfreeze once paid
    LOST = "lost"  # loss report → restore (or reissue); over a freeze: restore → that freeze


class HoldBy(StrEnum):
    """Who imposed a freeze (of a certificate or a seal), and so who may lift it: the holder
    lifts a freeze the holder asked for; a freeze imposed by the certification authority (the
    desk, on a court order or suspected misuse) is lifted by the authority only. The adapter
    says which: through the API a subscriber's own session or a key bound to an organization is
    the holder, staff and unbound keys are the CA; the CLI is the operator (the CA) unless
    ``--at-holder-request``. A freeze whose imposer was not recorded counts as the CA's."""

    HOLDER = "holder"
    CA = "ca"


class ApplicationState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


ACTIVE, ON_HOLD, REVOKED, EXPIRED = (
    CertificateState.ACTIVE,
    CertificateState.ON_HOLD,
    CertificateState.REVOKED,
    CertificateState.EXPIRED,
)
STATES = tuple(CertificateState)
FROZEN, UNPAID, LOST = HoldKind.FROZEN, HoldKind.UNPAID, HoldKind.LOST
PENDING, APPROVED, REJECTED = (
    ApplicationState.PENDING,
    ApplicationState.APPROVED,
    ApplicationState.REJECTED,
)

TABLE: TransitionTable[CertificateState] = TransitionTable(
    "certificate",
    "serial",
    ON_HOLD,
    [
        move("freeze", "冻结 freeze (certificate hold)", {ACTIVE}, ON_HOLD),
        move("unfreeze", "解冻 unfreeze", {ON_HOLD}, ACTIVE, {FROZEN, UNPAID}),
        # A loss is reported over a freeze or a stop for unpaid fees too: the key is lost all
        # the same. The hold it replaces is remembered (``previous_hold_kind``) and ``restore``
        # goes back to it, on hold, instead of to ``ACTIVE`` (``Certificates._move``).
        move(
            "report_loss",
            "挂失 report loss (immediate hold)",
            {ACTIVE, ON_HOLD},
            ON_HOLD,
            {FROZEN, UNPAID},
        ),
        move("restore", "恢复 restore after a loss report", {ON_HOLD}, ACTIVE, {LOST}),
        move("suspend_unpaid", "停止服务 stop for unpaid fees", {ACTIVE}, ON_HOLD),
        move("revoke", "废除 revoke", {ACTIVE, ON_HOLD}, REVOKED),
        move(
            "renew",
            "更新/续费 renew (same key, validity extended)",
            {ACTIVE},
            ACTIVE,
            creates=True,
        ),
        move("rekey", "新的密钥对替代旧的密钥对 rekey", {ACTIVE}, REVOKED, creates=True),
        move("change", "变更 change of subject data", {ACTIVE}, REVOKED, creates=True),
        move("reissue", "重发 reissue (new key)", {ACTIVE, ON_HOLD}, REVOKED, {LOST, FROZEN}, True),
        move("expire", "过期 expiry", {ACTIVE, ON_HOLD}, EXPIRED),
    ],
)
MOVES = TABLE.moves

# An application is paid for and decided while pending; a decision is final.
APPLICATIONS: TransitionTable[ApplicationState] = TransitionTable(
    "application",
    "application_id",
    None,
    [
        move("pay", "缴费 first fee", {PENDING}, PENDING),
        move("approve", "审核通过 approve: the certificate is issued", {PENDING}, APPROVED),
        move("reject", "驳回 reject, with a reason", {PENDING}, REJECTED),
    ],
)


def check_move(verb: str, state: str, hold_kind: str | None, serial: str) -> Move[CertificateState]:
    return TABLE.check(verb, state, hold_kind, serial)


def check_application(verb: str, state: str, application_id: int) -> Move[ApplicationState]:
    return APPLICATIONS.check(verb, state, None, str(application_id))


# The seeds' revocation reasons (001 §二.3, 000 篇七, 004 §十一) mapped onto RFC 5280 CRLReason.
REVOCATION_REASONS: dict[str, tuple[str, str]] = {
    # our name: (RFC 5280 reason name as used by yinxin.pki.crl, Chinese wording)
    "key_compromise": ("key_compromise", "与证书中的公钥相对应的私钥被泄密"),
    "no_longer_needed": ("cessation_of_operation", "证书不再需要用于原来的用途"),
    "fees_unpaid": ("privilege_withdrawn", "证书的服务费未按约定收到"),
    "false_application_data": ("privilege_withdrawn", "申请资料或信息不真实、不完整或不准确"),
    "stolen_or_forged": ("key_compromise", "数字证书已被盗用、冒用、伪造或篡改"),
    "harm_to_relying_parties": ("privilege_withdrawn", "其他可能对依赖方造成损害的情况"),
    "superseded": ("superseded", "新的密钥对替代旧的密钥对 / 重发"),
    "subject_changed": ("affiliation_changed", "证书主体信息变更"),
    "unspecified": ("unspecified", "其他情况"),
}


def check_revocation_reason(reason: str) -> None:
    """Refuse a revocation reason that is none of ours, naming ``reason``: the service's own
    check, public so ``cert revoke`` makes it before asking for the CA passphrase."""
    if reason not in REVOCATION_REASONS:
        raise ValidationError(
            f"unknown revocation reason {reason!r}; choose one of {', '.join(REVOCATION_REASONS)}",
            field="reason",
        )
