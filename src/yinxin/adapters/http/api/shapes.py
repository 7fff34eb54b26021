"""The shapes of a request's mobile and contact phone numbers, ID document numbers, unified
social credit codes and yuan amounts, stated in the OpenAPI document (``pattern``,
``examples``, ``description``) for a client generated from it.

Each pattern states the shape of what the service's own check takes (``yinxin.identity``,
``contracts.money.parse_amount``) and no less: whatever the service took before is still
taken, and the service's check — check digits and characters, real dates of birth, the
amount's bounds — stays the authority. A value of another shape is refused here, before the
route runs, ``422 invalid`` naming the field as every malformed body is.

The patterns are matched as Python's ``re`` reads them (``\\s`` is what ``str.strip`` strips,
as the service's own checks read it; digits are ``[0-9]``, as the services take them), not
pydantic's Rust engine, whose ``\\s`` lacks the four information separators U+001C–U+001F
that ``str.strip`` and the services' ``\\s`` take."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from yinxin.contracts.desk import MAX_TEXT as DESK_TEXT_MAX
from yinxin.errors import ValidationError
from yinxin.identity import (
    REASON_MAX,
    SERIAL_FORM,
    SERIAL_MAX_LENGTH,
    SERIAL_PATTERN,
    normal_serial,
)
from yinxin.notify.webhooks import PAUSE_REASON_MAX
from yinxin.pki.pinkeys import MAX_PIN, MIN_PIN
from yinxin.registry.certificates import MAX_REJECTION


def _shape(pattern: str, what: str, example: str, description: str) -> Any:
    """A text field of ``pattern``, refused (``shape``) as "must be ``what``" otherwise."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if compiled.fullmatch(value):
            return value
        raise PydanticCustomError("shape", "must be {what}", {"what": what})

    return Annotated[
        str,
        AfterValidator(check),
        Field(json_schema_extra={"pattern": pattern}, examples=[example], description=description),
    ]


_S = r"[\s-]*"  # the spaces and dashes validate_mobile takes anywhere in a number
_MOBILE = rf"{_S}(?:(?:\+|0{_S}0){_S}8{_S}6)?{_S}1{_S}[3-9](?:{_S}[0-9]){{9}}{_S}"
_W = r"\s*"  # the white space validate_phone takes anywhere in a landline number
_LANDLINE = (
    rf"{_W}0(?:{_W}[0-9]){{2,3}}{_W}-?(?:{_W}[0-9]){{7,8}}(?:{_W}-(?:{_W}[0-9]){{1,6}})?{_W}"
)
MOBILE_PATTERN = rf"^{_MOBILE}$"
CONTACT_PHONE_PATTERN = rf"^(?:{_LANDLINE}|{_MOBILE})$"

# 居民身份证 (GB 11643): 17 digits, the first a region 1–8, a date of birth, then a digit or X;
# or, by its id_type, a passport (5–17 letters and digits), 港澳 (H/M and 8–10 digits), 台湾
# (8 or 10 digits), 外国人永久居留身份证 (3 letters and 12 digits, or 9 and 17 characters)
_ID_CARD = r"[1-8][0-9]{5}(?:1[89]|2[0-9])[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
ID_NUMBER_PATTERN = (
    rf"^\s*(?:[A-Za-z0-9]{{5,17}}|{_ID_CARD}[0-9]{{3}}[0-9Xx]|9[0-9]{{16}}[0-9Xx])\s*$"
)

# 统一社会信用代码 (GB 32100): 18 characters of 0-9 and A-Y without I, O, S, V, Z (either case):
# the registration authority, its kind, a 6-digit region, the organization code, the check
_USCC_CHAR = "0-9A-HJ-NP-RTUWXYa-hj-np-rtuwxy"
USCC_PATTERN = rf"^[1-9ANYany][{_USCC_CHAR}][0-9]{{6}}[{_USCC_CHAR}]{{10}}$"

# yuan, at most two decimals (分), at most 15 digits before the point, thousands grouped by
# commas or not, an optional ¥ before it (parse_amount)
_YUAN = r"(?:0|[1-9][0-9]{0,14}|[1-9][0-9]{0,2}(?:,[0-9]{3}){1,4})(?:\.[0-9]{1,2})?"
AMOUNT_PATTERN = rf"^\s*(?:[¥￥]\s*)?{_YUAN}\s*$"

Mobile = _shape(
    MOBILE_PATTERN,
    "a mainland China mobile number: 11 digits starting 13–19, e.g. 13800138000",
    "13800138000",
    "a mainland China mobile number: 11 digits starting 13–19; +86 or 0086 before it, and "
    "spaces or dashes between the digits, are taken and left out",
)
ContactPhone = _shape(
    CONTACT_PHONE_PATTERN,
    "a mobile number (13800138000) or a landline with its area code (010-62345678)",
    "010-62345678",
    "a mobile number (as `phone`) or a landline with its area code: 0, 2–3 more digits, an "
    "optional dash, 7–8 digits, an optional dash and extension of 1–6 digits",
)
IdNumber = _shape(
    ID_NUMBER_PATTERN,
    "an ID document number: a resident ID card's 18 characters (17 digits, then a digit or X) "
    "or the 5–18 letters A–Z and digits of another document",
    "11010519491231002X",
    "by `id_type`: `id_card` (居民身份证, GB 11643) 18 characters, 17 digits (a region 1–8, "
    "the date of birth YYYYMMDD) then a digit or X, its check character verified by the "
    "server; `passport` 5–17 letters and digits; `hk_macao_permit` H or M and 8–10 digits; "
    "`taiwan_permit` 8 or 10 digits; `foreign_permanent_residence` 3 letters and 12 digits, "
    "or 18 characters starting 9. Letters A–Z only, either case (stored upper-case)",
)
Uscc = _shape(
    USCC_PATTERN,
    "a unified social credit code: 18 characters of 0-9 and A-Y without I, O, S, V, Z",
    "91350100M000100Y43",
    "统一社会信用代码 (GB 32100): 18 characters of 0-9 and A-Y without I, O, S, V, Z (either "
    "case, stored upper-case): the registration authority (1–9, A, N or Y), its kind, a "
    "6-digit region, the organization code and the check character, verified by the server",
)
Amount = _shape(
    AMOUNT_PATTERN,
    "an amount in yuan with at most two decimals, e.g. 305000.00",
    "305000.00",
    "yuan as decimal text, at most two decimals (分) and 15 digits before the point: 305000, "
    "305000.5, 305,000.00 or ¥305000.00; never a JSON number",
)
MobileOrEmpty = _shape(
    rf"^(?:{_MOBILE})?$",
    "a mainland China mobile number (11 digits starting 13–19, e.g. 13800138000) or empty",
    "13800138000",
    "a mainland China mobile number: 11 digits starting 13–19; +86 or 0086 before it, and "
    'spaces or dashes between the digits, are taken and left out; "" is none',
)


def _serial_of(value: str | None) -> str | None:
    """A certificate serial as the platform stores it (lower-case hex, no separators), OpenSSL's
    colon form and spaces taken; refused (``shape``) naming the form otherwise."""
    if value is None:
        return None
    try:
        return normal_serial(value)
    except ValidationError:
        raise PydanticCustomError("shape", "must be {what}", {"what": SERIAL_FORM}) from None


_SERIAL_SCHEMA: dict[str, Any] = {"pattern": SERIAL_PATTERN, "maxLength": SERIAL_MAX_LENGTH}
SERIAL_DESCRIPTION = (
    "a certificate serial number: hex digits (at most 40 after leading zeros), in either case, "
    "optionally separated by colons or spaces as `openssl x509 -text` prints it (7A:3F:01) "
    "and after an optional 0x; taken as the plain lower-case hex the platform answers"
)


def certificate_serial(
    description: str = SERIAL_DESCRIPTION, *, where: Any = Field, optional: bool = False
) -> Any:
    """A certificate serial field (``where``: ``Field``, or ``Path``/``Query`` for a request's
    path or query; ``optional``: or null), normalised to the stored form; refused naming the
    field and the form."""
    return Annotated[
        str | None if optional else str,
        AfterValidator(_serial_of),
        where(json_schema_extra=_SERIAL_SCHEMA, examples=["7a3f01"], description=description),
    ]


# Why a flow, a contract or an authorization is withdrawn, a flow declined, a payment reversed
# or a fact withdrawn: its lengths are stated for a client and left to the service's one rule
# (``identity.reason_text``, 1–500 characters once runs of white space are one space). The
# bodies' ``min_length``/``max_length`` refused an empty reason, or one over 500, first, with
# pydantic's English alone ("String should have at least 1 character"), where a blank one
# reached the service and was told 须写明原因（1–500 个字符） / give the reason …: one reason,
# two refusals. Now every one is the service's, the same field, code and words.
Reason = Annotated[
    str,
    Field(
        json_schema_extra={"minLength": 1, "maxLength": REASON_MAX},
        examples=["价格有误"],
        description="why, on one line: 1–500 characters, shown to every party",
    ),
]

# Why an application is rejected: the officer's explanation to the applicant, kept as written
# (line breaks too, up to 4,000 characters: ``Certificates.reject``), unlike :data:`Reason`. The
# body's ``min_length=1, max_length=500`` refused an empty one, or one over 500, with
# pydantic's English alone ("String should have at least 1 character"), where a blank one
# reached the service and the CLI took any length: now the service's rule and refusal
# (须写明驳回原因 / a rejection needs a reason) are the one answer.
RejectionReason = Annotated[
    str,
    Field(
        json_schema_extra={"minLength": 1, "maxLength": MAX_REJECTION},
        examples=["营业执照复印件不清晰"],
        description="why, kept on the application and shown to the applicant; several lines "
        "allowed",
    ),
]


# A service-desk text (a request's description, a pause's, cancellation's or correction's
# reason, a resolution, an inspection's findings: ``contracts.desk.MAX_TEXT``, 4,000 characters,
# several lines) and a webhook pause's optional reason (500, on one line): their lengths are
# stated for a client and left to the services' rules, as :data:`Reason`'s. The bodies'
# ``min_length``/``max_length`` refused an empty one, or one over the bound, with pydantic's
# English alone, where a blank one reached the service and was told in Chinese and English.
DeskText = Annotated[
    str,
    Field(
        json_schema_extra={"minLength": 1, "maxLength": DESK_TEXT_MAX},
        description="1–4,000 characters, several lines allowed",
    ),
]
PauseReason = Annotated[
    str,
    Field(
        json_schema_extra={"maxLength": PAUSE_REASON_MAX},
        description="why, on one line: at most 500 characters; blank is none",
    ),
]


# A new PIN (a seal's new or changed PIN, a platform-held key's): its lengths are stated for a
# client and left to the one rule (``pinkeys.check_pin``), as :data:`Reason`'s. The bodies'
# ``min_length=1, max_length=64`` (or 200) answered an empty PIN, or one over the bound, with
# pydantic's English alone, where one of five characters was told in Chinese and English.
NewPin = Annotated[
    str,
    Field(
        json_schema_extra={"minLength": MIN_PIN, "maxLength": MAX_PIN},
        description=f"{MIN_PIN}–{MAX_PIN} printable characters, no space at either end, no "
        "full-width (全角) letter or digit",
    ),
]
