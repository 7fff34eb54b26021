"""The one table of allowed certificate moves.

Each verb names the states it may start from (and, for a certificate on hold, which kind of
hold it may lift) and the state the certificate ends in. Anything not in the table is refused
with ``IllegalTransition`` before anything is written.
"""

from __future__ import annotations

from yinxin.transitions import Move, TransitionTable, move

ACTIVE, ON_HOLD, REVOKED, EXPIRED = "active", "on_hold", "revoked", "expired"
STATES = (ACTIVE, ON_HOLD, REVOKED, EXPIRED)


def _m(verb, title, frm, to, hold_kinds=None, issues_new=False) -> Move:
    return move(verb, title, frm, to, hold_kinds, creates=issues_new)


TABLE = TransitionTable(
    "certificate",
    "serial",
    ON_HOLD,
    [
        _m("freeze", "冻结 freeze (certificate hold)", {ACTIVE}, ON_HOLD),
        _m("unfreeze", "解冻 unfreeze", {ON_HOLD}, ACTIVE, {"frozen", "unpaid"}),
        _m("report_loss", "挂失 report loss (immediate hold)", {ACTIVE}, ON_HOLD),
        _m("restore", "恢复 restore after a loss report", {ON_HOLD}, ACTIVE, {"lost"}),
        _m("suspend_unpaid", "停止服务 stop for unpaid fees", {ACTIVE}, ON_HOLD),
        _m("revoke", "废除 revoke", {ACTIVE, ON_HOLD}, REVOKED),
        _m(
            "renew",
            "更新/续费 renew (same key, validity extended)",
            {ACTIVE},
            ACTIVE,
            issues_new=True,
        ),
        _m("rekey", "新的密钥对替代旧的密钥对 rekey", {ACTIVE}, REVOKED, issues_new=True),
        _m("change", "变更 change of subject data", {ACTIVE}, REVOKED, issues_new=True),
        _m(
            "reissue",
            "重发 reissue (new key)",
            {ACTIVE, ON_HOLD},
            REVOKED,
            {"lost", "frozen"},
            issues_new=True,
        ),
        _m("expire", "过期 expiry", {ACTIVE, ON_HOLD}, EXPIRED),
    ],
)
MOVES = TABLE.moves


def check_move(verb: str, state: str, hold_kind: str | None, serial: str) -> Move:
    return TABLE.check(verb, state, hold_kind, serial)


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
