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

from enum import StrEnum

from yinxin.errors import IllegalTransition
from yinxin.transitions import Move, TransitionTable, move


class SealState(StrEnum):
    """Where a seal stands. As a ``StrEnum`` each state equals the string stored in the table."""

    NONE = "none"  # before the seal exists: the only state ``create`` starts from (no row has it)
    ACTIVE = "active"
    FROZEN = "frozen"
    CANCELLED = "cancelled"
    REVOKED = "revoked"
    EXPIRED = "expired"


# A state's Chinese name, as the web pages show it (api.js ``LABELS.seal``), for Chinese text
# the Python side writes (the English half keeps the raw value).
STATE_NAMES: dict[SealState, str] = {
    SealState.ACTIVE: "有效",
    SealState.FROZEN: "已冻结",
    SealState.CANCELLED: "已注销",
    SealState.REVOKED: "已吊销",
    SealState.EXPIRED: "已过期",
}


def state_name(state: str) -> str:
    """``state``'s Chinese name; an unknown value is shown as it is."""
    try:
        return STATE_NAMES.get(SealState(state), state)
    except ValueError:
        return state


class SealHoldKind(StrEnum):
    """Why a frozen seal is on hold: an officer's or holder's freeze (004 §七 冻结), or a reported
    PIN leak (004 §六/§七), which may only be lifted after the PIN has been changed."""

    FROZEN = "frozen"
    PIN_LEAK = "pin_leak"


STATES = tuple(x for x in SealState if x is not SealState.NONE)
FINAL = frozenset({SealState.CANCELLED, SealState.REVOKED, SealState.EXPIRED})

# States in which the seal's data may still be managed (grants, PIN) although it cannot sign.
MANAGEABLE = frozenset({SealState.ACTIVE, SealState.FROZEN})


_S, _H = SealState, SealHoldKind
TABLE: TransitionTable[SealState] = TransitionTable(
    "seal",
    "seal",
    _S.FROZEN,
    [
        move("create", "新申请 create", {_S.NONE}, _S.ACTIVE, creates=True),
        move("renew", "续费 renew (validity extended)", {_S.ACTIVE}, _S.ACTIVE, creates=True),
        # a seal frozen for a lost or leaked PIN is changed onto a new key (004 §七 lists 变更
        # as a remedy): the PIN it needed can no longer be given, so no PIN change can lift it
        move(
            "change",
            "变更 change (new image or data; out of a PIN-leak hold onto a new key)",
            {_S.ACTIVE, _S.FROZEN},
            _S.ACTIVE,
            {_H.PIN_LEAK},
            creates=True,
        ),
        move("cancel", "注销 cancel (final)", {_S.ACTIVE, _S.FROZEN}, _S.CANCELLED),
        move("freeze", "冻结 freeze", {_S.ACTIVE}, _S.FROZEN),
        move(
            "report_pin_leak",
            "印章密码泄漏 report a leaked or lost PIN (freeze)",
            {_S.ACTIVE, _S.FROZEN},
            _S.FROZEN,
        ),
        move("unfreeze", "解冻 unfreeze", {_S.FROZEN}, _S.ACTIVE, {_H.FROZEN, _H.PIN_LEAK}),
        move("revoke", "废止 revoke (final)", {_S.ACTIVE, _S.FROZEN}, _S.REVOKED),
        move("expire", "过期 expiry", {_S.ACTIVE, _S.FROZEN}, _S.EXPIRED),
    ],
)
MOVES = TABLE.moves


def check_move(verb: str, state: str, hold_kind: str | None, es_id: str) -> Move[SealState]:
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
