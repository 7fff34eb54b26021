"""The one table of allowed seal moves, and the seal agreement's revocation reasons.

Like ``yinxin.registry.lifecycle`` for certificates: each verb names the states it may start
from (and, out of a hold, which kind of hold it lifts) and the state the seal ends in. The
service checks the table before it writes anything, so an illegal move is refused with
``IllegalTransition`` and leaves no trace.

A seal's usability also depends on things outside this table, checked at use time: its
certificate's current status, the PIN lock on its key, and (for organization seals) the
member's authorization.
"""

from __future__ import annotations

from yinxin.errors import IllegalTransition
from yinxin.transitions import Move, TransitionTable, move

NONE = "none"  # before the seal exists: the only state ``create`` starts from
ACTIVE, FROZEN, CANCELLED, REVOKED, EXPIRED = "active", "frozen", "cancelled", "revoked", "expired"
STATES = (ACTIVE, FROZEN, CANCELLED, REVOKED, EXPIRED)
FINAL = frozenset({CANCELLED, REVOKED, EXPIRED})

# Why a frozen seal is on hold: an officer's or holder's freeze (004 §七 冻结), or a reported
# PIN leak (004 §六/§七), which may only be lifted after the PIN has been changed.
HOLD_FROZEN, HOLD_PIN_LEAK = "frozen", "pin_leak"

# States in which the seal's data may still be managed (grants, PIN) although it cannot sign.
MANAGEABLE = frozenset({ACTIVE, FROZEN})


def _m(
    verb: str,
    title: str,
    frm: set[str],
    to: str,
    hold_kinds: set[str] | None = None,
    new_record: bool = False,
) -> Move:
    return move(verb, title, frm, to, hold_kinds, creates=new_record)


TABLE = TransitionTable(
    "seal",
    "seal",
    FROZEN,
    [
        _m("create", "新申请 create", {NONE}, ACTIVE, new_record=True),
        _m("renew", "续费 renew (validity extended)", {ACTIVE}, ACTIVE, new_record=True),
        _m("change", "变更 change (new image or data)", {ACTIVE}, ACTIVE, new_record=True),
        _m("cancel", "注销 cancel (final)", {ACTIVE, FROZEN}, CANCELLED),
        _m("freeze", "冻结 freeze", {ACTIVE}, FROZEN),
        _m(
            "report_pin_leak",
            "印章密码泄漏 report a leaked or lost PIN (freeze)",
            {ACTIVE, FROZEN},
            FROZEN,
        ),
        _m("unfreeze", "解冻 unfreeze", {FROZEN}, ACTIVE, {HOLD_FROZEN, HOLD_PIN_LEAK}),
        _m("revoke", "废止 revoke (final)", {ACTIVE, FROZEN}, REVOKED),
        _m("expire", "过期 expiry", {ACTIVE, FROZEN}, EXPIRED),
    ],
)
MOVES = TABLE.moves


def check_move(verb: str, state: str, hold_kind: str | None, es_id: str) -> Move:
    return TABLE.check(verb, state, hold_kind, es_id)


def check_manageable(action: str, state: str, es_id: str) -> None:
    """Grants and PIN changes make no sense on a seal that can never be used again."""
    if state not in MANAGEABLE:
        raise IllegalTransition(f"cannot {action} on seal {es_id}: it is {state}", field="seal")


# The seal usage agreement's grounds for revocation (004 §十一), in its order.
REVOCATION_REASONS: dict[str, str] = {
    "false_data": "用户申请电子印章时，提供的资料不真实",
    "unpaid_fees": "用户没有按照规定及时缴纳电子印章服务费用",
    "breach_of_agreement": "用户未履行本协议书约定的义务",
    "holder_request": "用户要求作废电子印章",
    "holder_ceased_to_exist": "用户主体消亡",
    "unreported_change": "用户电子印章中的相关信息变更而未以书面形式向印章服务平台提出变更请求",
    "other": "其他情况（法律或法规要求等）",
}
