"""Identity data validated on entry (pure functions, no storage).

Each validator returns the normalised value or raises ``ValidationError`` naming the field, so
a bad ID number is refused before anything is written.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from yinxin.clock import beijing_day
from yinxin.errors import ValidationError

# --- GB 11643: citizen identity number -------------------------------------------------------
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_card_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def _latin_upper(value: str, field: str) -> str:
    """``value`` stripped and upper-cased, refused naming ``field`` if it holds a letter outside
    A–Z: Python upper-cases ß to SS, ı to I, ﬀ to FF, so such a number became one its holder
    never wrote (E1234567ß stored as E1234567SS, in a certificate's subject too)."""
    v = (value or "").strip()
    if not v.isascii():
        raise ValidationError(
            "must be written in the letters A–Z and digits 0–9 (half-width)", field=field
        )
    return v.upper()


def validate_id_card(value: str, field: str = "id_number", today: dt.date | None = None) -> str:
    v = _latin_upper(value, field)
    if not re.fullmatch(r"[0-9]{17}[0-9X]", v):
        raise ValidationError(
            "the ID card number must be 17 digits followed by a digit or X", field=field
        )
    if v[0] not in "12345678":
        raise ValidationError("the ID card number has an unknown region code", field=field)
    try:
        born = dt.date(int(v[6:10]), int(v[10:12]), int(v[12:14]))
    except ValueError:
        raise ValidationError(
            "the ID card number's date of birth is not a real date", field=field
        ) from None
    # "today" is Beijing's: the host's local day (``date.today()``) on a server in UTC is
    # yesterday from 00:00 to 08:00 Beijing time, and refused a baby born today
    if born > (today or beijing_day(dt.datetime.now(dt.UTC))) or born.year < 1880:
        raise ValidationError("the ID card number's date of birth is out of range", field=field)
    if id_card_check_char(v[:17]) != v[17]:
        raise ValidationError("the ID card number's check digit is wrong (GB 11643)", field=field)
    return v


# --- GB 32100: unified social credit code ----------------------------------------------------
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def org_code_check_char(first8: str) -> str:
    """GB 11714 organization code check character (positions 9–17 of a USCC)."""

    def val(c: str) -> int:
        return int(c) if c.isdigit() else ord(c) - ord("A") + 10

    c = 11 - sum(val(ch) * w for ch, w in zip(first8, _ORG_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(c, str(c))


def validate_uscc(value: str, field: str = "uscc") -> str:
    v = _latin_upper(value, field)
    if len(v) != 18 or any(c not in USCC_CHARSET for c in v):
        raise ValidationError(
            "the unified social credit code must be 18 characters from 0-9 and A-Y "
            "(without I, O, S, V, Z)",
            field=field,
        )
    if v[0] not in "123456789ANY":
        raise ValidationError(
            "the unified social credit code has an unknown registration authority", field=field
        )
    if not v[2:8].isdigit():
        raise ValidationError(
            "the unified social credit code's region code must be digits", field=field
        )
    if uscc_check_char(v[:17]) != v[17]:
        raise ValidationError(
            "the unified social credit code's check character is wrong (GB 32100)", field=field
        )
    return v


# --- phone numbers ----------------------------------------------------------------------------
def validate_mobile(value: str, field: str = "phone") -> str:
    """A mainland China mobile number (the registered phone one-time codes go to)."""
    v = re.sub(r"[\s-]", "", value or "")
    if v.startswith("+86"):
        v = v[3:]
    elif v.startswith("0086"):
        v = v[4:]
    if not re.fullmatch(r"1[3-9][0-9]{9}", v):
        raise ValidationError(
            "the mobile number must be 11 digits starting 13–19 (optionally +86)", field=field
        )
    return v


def validate_phone(value: str, field: str = "contact_phone") -> str:
    """A mobile number or a landline with area code, e.g. 0591-87760022."""
    v = re.sub(r"\s", "", value or "")
    if re.fullmatch(r"0[0-9]{2,3}-?[0-9]{7,8}(-[0-9]{1,6})?", v):
        return v
    try:
        return validate_mobile(v, field=field)
    except ValidationError:  # not only a mobile number would do: say what else is taken
        raise ValidationError(
            "must be a mobile number (11 digits starting 13–19, optionally +86) or a landline "
            "with its area code, e.g. 0591-87760022",
            field=field,
        ) from None


def validate_email(value: str, field: str = "email") -> str:
    """An e-mail address notices can go to: ``local@domain.tld``, no spaces, nothing hidden,
    at most 200 characters (the notifier refuses anything less at sending time)."""
    v = (value or "").strip()
    local, at, domain = v.partition("@")
    if (
        not (local and at and "." in domain.strip("."))
        or "@" in domain
        or len(v) > 200
        or any(c.isspace() for c in v)
    ):
        raise ValidationError("not an e-mail address (name@example.com)", field=field)
    return refuse_hidden(v, field)


# --- other documents ---------------------------------------------------------------------------
ID_TYPES = {
    "id_card": "居民身份证",
    "passport": "护照",
    "hk_macao_permit": "港澳居民来往内地通行证",
    "taiwan_permit": "台湾居民来往大陆通行证",
    "foreign_permanent_residence": "外国人永久居留身份证",
}


def validate_id_document(id_type: str, number: str, field: str = "id_number") -> str:
    if id_type not in ID_TYPES:
        raise ValidationError(
            f"unknown ID type {id_type!r}; choose one of {', '.join(ID_TYPES)}", field="id_type"
        )
    if id_type in ("id_card", "foreign_permanent_residence") and len((number or "").strip()) == 18:
        if id_type == "id_card":
            return validate_id_card(number, field)
    v = _latin_upper(number, field)
    patterns = {
        "passport": r"[A-Z0-9]{5,17}",
        "hk_macao_permit": r"[HM][0-9]{8,10}",
        "taiwan_permit": r"[0-9]{8}([0-9]{2})?",
        "foreign_permanent_residence": r"[A-Z]{3}[0-9]{12}|9[0-9]{16}[0-9X]",
    }
    if id_type == "id_card" or not re.fullmatch(patterns[id_type], v):
        raise ValidationError(f"the {ID_TYPES[id_type]} number is malformed", field=field)
    return v


# Control (Cc), format (Cf: bidi overrides, zero-width and joiner characters, BOM), line and
# paragraph separators (Zl, Zp), surrogates (Cs) and private-use (Co) characters. In a name they
# can only hide or disguise text: U+202E makes "张三" display reversed, U+200B makes two
# different-looking-alike names. Such a name would go into a certificate subject or onto a seal.
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co"})


def hidden_character(value: str) -> tuple[int, str] | None:
    """The position and character of the first control or invisible character, or None."""
    for i, c in enumerate(value):
        if unicodedata.category(c) in HIDDEN_CATEGORIES:
            return i, c
    return None


def shown(value: str) -> str:
    """``value`` as plain text on one line: each hidden character written as its escape
    (``\\n``, ``\\x1b``, ``\\u202e``).

    For text a document or certificate brings (a signer's name, a field name, a file name): in
    a verification report it must not forge lines ("结论 / Verdict: 有效 / VALID" after a line
    break in a certificate's CN), drive the terminal (ESC[8m hid every line after it, the true
    verdict too) or reverse what follows it."""
    if hidden_character(value) is None:
        return value
    return "".join(
        c.encode("unicode_escape", "backslashreplace").decode("ascii")
        if unicodedata.category(c) in HIDDEN_CATEGORIES
        else c
        for c in value
    )


def refuse_hidden(value: str, field: str, *, lines: bool = False, label: str = "") -> str:
    """``value`` as it is when nothing in it is hidden, else a :class:`ValidationError` naming
    ``field``, the character and its position. ``lines``: line breaks (``\n``) are text.
    ``label``: what the reader calls the field (``标题``), said first, where neighbouring
    refusals begin with it (a contract's blanks).

    For what another party reads or signs — a flow's or contract's title, a document's name,
    a reason — as much as for names: U+202E shows a title reversed to the signer who consents
    to it, and U+200B makes two titles that look alike different.

    Refused in Chinese and English ("中文 / English", as the contract blanks' own hidden-
    character refusal): the Chinese half says the position and the code point, the English
    also the character's name, as it always read (scripts match it)."""
    found = hidden_character(value.replace("\n", " ") if lines else value)
    if found is not None:
        i, c = found
        said = f"{label}：" if label else ""
        raise ValidationError(
            f"{said}第 {i + 1} 个字符 U+{ord(c):04X} 是不可见字符或控制字符，"
            "须为可打印的普通文字 / "
            f"contains an invisible or control character U+{ord(c):04X} "
            f"({unicodedata.name(c, unicodedata.category(c))}) at position {i + 1}; "
            "it must be plain printable text",
            field=field,
        )
    return value


REASON_MAX = 500
NO_REASON = "须写明原因（1–500 个字符） / give the reason (1–500 characters)"


def reason_text(value: object, field: str = "reason") -> str:
    """Why something is withdrawn, declined, cancelled or reversed, on one line (runs of white
    space one space): shown to every party, so 1–500 characters and nothing hidden.

    The one rule of the services' reasons (a sign flow's 撤回 and 拒签, a contract's 撤回, an
    authorization's withdrawal, an obligation's 冲正 and withdrawn fact), refused naming
    ``field`` in Chinese and English (:data:`NO_REASON`), as :func:`refuse_hidden` says a
    hidden character: each had written it in its own words, some in English alone. The API's
    reason bodies leave the lengths to it, so an empty reason and a blank one are refused
    alike."""
    reason = " ".join(str(value or "").split())
    if not reason or len(reason) > REASON_MAX:
        raise ValidationError(NO_REASON, field=field)
    return refuse_hidden(reason, field)


def refuse_unassigned(value: str, field: str) -> str:
    """``value`` unless it holds a code point this Python's Unicode does not assign (category
    Cn: unassigned, or a noncharacter such as U+FFFF) or U+FFFD, the replacement character,
    else a :class:`ValidationError` naming ``field`` and the character.

    A name goes into certificates and signed records, which pyHanko compares through RFC 4518
    string preparation: with an unassigned code point it raises ("X.509 Name objects may not
    contain unassigned code points", ``yinxin.pdf.names``), and with U+FFFD ("may not contain
    the replacement character"), so no path through a certificate naming one was validated,
    while the certificate was issued."""
    for i, c in enumerate(value):
        if unicodedata.category(c) == "Cn":
            raise ValidationError(
                f"contains U+{ord(c):04X} at position {i + 1}, a code point Unicode "
                f"{unicodedata.unidata_version} does not assign (or a noncharacter); "
                "it must be text of assigned characters",
                field=field,
            )
        if c == "\ufffd":  # refused by the same preparation
            raise ValidationError(
                f"contains U+FFFD at position {i + 1}, the replacement character a lost "
                "character was decoded as; write the name as it is",
                field=field,
            )
    return value


def validate_name(value: str, field: str = "name", max_len: int = 100) -> str:
    """A name as people write it: any script, spaces and punctuation, nothing hidden and no
    code point Unicode does not assign."""
    v = (value or "").strip()
    if not v:
        raise ValidationError("must not be empty", field=field)
    refuse_hidden(v, field)
    refuse_unassigned(v, field)
    if len(v) > max_len:
        raise ValidationError(f"must be at most {max_len} printable characters", field=field)
    return v


# --- certificate serial numbers --------------------------------------------------------------
SERIAL_MAX_DIGITS = 40  # RFC 5280 4.1.2.2: at most 20 octets
SERIAL_MAX_LENGTH = 120  # as written: 20 octets colon-separated, a leading 00:, spaces, 0x
SERIAL_FORM = (
    "a certificate serial number: hex digits (at most 40), optionally separated by colons "
    "or spaces as OpenSSL prints it, e.g. 7a3f01 or 7A:3F:01"
)
# the digits, after an optional 0x, in groups separated by a colon (spaces around it taken)
# or by spaces: 7a3f01, 0x7A3F01, 7A:3F:01, 7a 3f 01
SERIAL_PATTERN = r"^\s*(?:0[xX])?[0-9A-Fa-f]+(?:(?:\s*:\s*|\s+)[0-9A-Fa-f]+)*\s*$"
_SERIAL = re.compile(SERIAL_PATTERN)


def serial_hex(number: int) -> str:
    """A certificate's serial number as the platform writes it everywhere — stored, answered,
    printed by the CLI, in file names, the audit trail and the verification reports:
    lower-case hex with no leading zeros, the form :func:`normal_serial` gives. One writer,
    so that a relying party comparing a report with ``yinxin cert show`` sees one number (the
    report wrote whole octets, ``0a1b…``, the rest ``a1b…``). ``openssl x509 -serial`` prints
    the same number in upper case, whole octets (``serial=0A1B…``); every lookup takes that."""
    if number < 0:  # RFC 5280 forbids it; a foreign certificate may still carry one
        return "-" + serial_hex(-number)
    return format(number, "x")


def normal_serial(value: str, field: str = "serial") -> str:
    """A certificate's serial number as the platform stores it: lower-case hex, no
    separators, no ``0x``, no leading zeros (``0`` for zero). OpenSSL's colon form
    (``7A:3F:01``, as ``openssl x509 -text`` prints it) and spaces between the digits are
    taken; anything else is refused naming ``field`` and the form expected."""
    v = value or ""
    if len(v) > SERIAL_MAX_LENGTH or not _SERIAL.fullmatch(v):
        raise ValidationError(f"{field}: must be {SERIAL_FORM}", field=field)
    digits = re.sub(r"[\s:]", "", v).lower().removeprefix("0x").lstrip("0") or "0"
    if len(digits) > SERIAL_MAX_DIGITS:
        raise ValidationError(f"{field}: must be {SERIAL_FORM}", field=field)
    return digits
