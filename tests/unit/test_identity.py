"""Identity validators (GB 11643 ID card, GB 32100 credit code, GB 11714 organization code, phones).

Anchored on published examples (the GB 11643 sample number, credit codes of real companies) and
checked by properties that hold for any correct check-character scheme: exactly one check
character completes a body, and every single-character substitution is caught.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest

from yinxin.errors import ValidationError
from yinxin.identity import (
    USCC_CHARSET,
    id_card_check_char,
    org_code_check_char,
    uscc_check_char,
    validate_id_card,
    validate_id_document,
    validate_mobile,
    validate_name,
    validate_phone,
    validate_uscc,
)

GB11643_SAMPLE = "11010519491231002X"  # the example in GB 11643-1999 itself
REAL_USCC = [
    "91350100M000100Y43",
    "91110000802100433B",
    "911100001000080343",
    "91310000717866186P",
    "9144030071526726XG",
]
ID_CHECK_CHARS = "0123456789X"


def refused(fn, *args, field: str, words: str | None = None, **kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        fn(*args, **kwargs)
    assert info.value.field == field, info.value.to_dict()
    assert info.value.to_dict()["field"] == field
    if words:
        assert words.lower() in info.value.message.lower(), info.value.message
    return info.value


def random_id_body(rng: random.Random) -> str:
    born = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(30000))
    region = f"{rng.randint(1, 8)}{rng.randrange(10**5):05d}"
    return region + born.strftime("%Y%m%d") + f"{rng.randrange(1000):03d}"


# --- GB 11643 --------------------------------------------------------------------------------
def test_the_standards_own_sample_id_number_is_accepted() -> None:
    assert validate_id_card(GB11643_SAMPLE) == GB11643_SAMPLE
    assert validate_id_card(" " + GB11643_SAMPLE.lower() + " ") == GB11643_SAMPLE
    assert id_card_check_char(GB11643_SAMPLE[:17]) == "X"


def test_exactly_one_check_digit_completes_an_id_number() -> None:
    rng = random.Random(11643)
    for _ in range(300):
        body = random_id_body(rng)
        good = [c for c in ID_CHECK_CHARS if _accepts(validate_id_card, body + c)]
        assert good == [id_card_check_char(body)], body


def _accepts(fn, value: str) -> bool:
    try:
        fn(value)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("wrong", [c for c in ID_CHECK_CHARS if c != "X"])
def test_a_wrong_check_digit_is_refused_naming_the_field(wrong: str) -> None:
    e = refused(
        validate_id_card, GB11643_SAMPLE[:17] + wrong, field="id_number", words="check digit"
    )
    assert "GB 11643" in e.message


def test_every_single_digit_typo_in_the_body_is_caught() -> None:
    rng = random.Random(7)
    body = "11010519900307123"
    number = body + id_card_check_char(body)
    caught = 0
    for pos in range(17):
        for d in "0123456789":
            if d == number[pos]:
                continue
            typo = number[:pos] + d + number[pos + 1 :]
            if pos >= 6 and pos < 14 and not _real_birth_date(typo):
                continue  # refused for the date instead; also fine, counted separately below
            assert not _accepts(validate_id_card, typo), typo
            caught += 1
    assert caught > 100
    # transposing two different adjacent digits is caught too (weights differ mod 11)
    for _ in range(50):
        b = random_id_body(rng)
        n = b + id_card_check_char(b)
        i = rng.randrange(16)
        if n[i] == n[i + 1] or n[i + 1] == "X":
            continue
        swapped = n[:i] + n[i + 1] + n[i] + n[i + 2 :]
        if 6 <= i < 14 and not _real_birth_date(swapped):
            continue
        assert not _accepts(validate_id_card, swapped), (n, swapped)


def _real_birth_date(number: str) -> bool:
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return 1880 <= born.year and born <= dt.date.today()


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("", "17 digits"),
        ("1101051949123100", "17 digits"),  # too short
        ("11010519491231002XX", "17 digits"),
        ("11010519491231002Y", "17 digits"),
        ("910105194912310020", "region"),
        ("110105194902300020", "date of birth"),  # 30 February
        ("110105187001010020", "out of range"),
    ],
)
def test_malformed_id_numbers(value: str, words: str) -> None:
    refused(validate_id_card, value, field="id_number", words=words)


FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@pytest.mark.parametrize(
    ("fn", "ascii_value"),
    [
        (validate_id_card, GB11643_SAMPLE),
        (validate_mobile, "13800138000"),
        (validate_phone, "0591-87760022"),
    ],
)
@pytest.mark.parametrize("table", [FULLWIDTH, ARABIC_INDIC], ids=["fullwidth", "arabic-indic"])
def test_non_ascii_digits_are_refused_or_normalised(fn, ascii_value: str, table) -> None:
    """Python's ``\\d`` and ``int()`` take any Unicode digit; what is stored must be ASCII, or
    the same person gets two ID numbers (and two certificate subject identifiers)."""
    odd = ascii_value[:-2] + ascii_value[-2:-1].translate(table) + ascii_value[-1]
    assert odd != ascii_value
    try:
        stored = fn(odd)
    except ValidationError:
        return
    assert stored.isascii() and stored == fn(ascii_value), stored


def test_a_birth_date_in_the_future_is_refused() -> None:
    # two days ahead, not one: the validator asks for today again, and a midnight passed in
    # between made "tomorrow" its today (accepted)
    ahead = dt.date.today() + dt.timedelta(days=2)
    body = "110105" + ahead.strftime("%Y%m%d") + "002"
    refused(
        validate_id_card, body + id_card_check_char(body), field="id_number", words="out of range"
    )
    # the same number is fine for a validator told that "today" is later
    later = ahead + dt.timedelta(days=1)
    assert validate_id_card(body + id_card_check_char(body), today=later)


def test_field_name_is_the_callers() -> None:
    with pytest.raises(ValidationError) as info:
        validate_id_card(GB11643_SAMPLE[:17] + "0", field="holder_id")
    assert info.value.field == "holder_id"


# --- GB 32100 / GB 11714 -----------------------------------------------------------------------
@pytest.mark.parametrize("code", REAL_USCC)
def test_real_credit_codes_are_accepted(code: str) -> None:
    assert validate_uscc(code) == code
    assert validate_uscc(code.lower()) == code
    assert uscc_check_char(code[:17]) == code[17]
    # positions 9–17 are the organization code with its own GB 11714 check character
    assert org_code_check_char(code[8:16]) == code[16]


@pytest.mark.parametrize("code", REAL_USCC)
def test_every_wrong_check_character_is_refused(code: str) -> None:
    for c in USCC_CHARSET:
        if c == code[17]:
            continue
        refused(validate_uscc, code[:17] + c, field="uscc", words="check character")


def test_every_single_character_substitution_in_a_credit_code_is_caught() -> None:
    code = REAL_USCC[0]
    for pos in range(2, 17):  # positions 0-1 have their own rules, tested below
        for c in USCC_CHARSET:
            if c == code[pos] or (2 <= pos < 8 and not c.isdigit()):
                continue
            typo = code[:pos] + c + code[pos + 1 :]
            assert not _accepts(validate_uscc, typo), typo


def test_exactly_one_check_character_completes_a_credit_code() -> None:
    rng = random.Random(32100)
    for _ in range(200):
        org = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
        body = "91" + f"{rng.randrange(10**6):06d}" + org + org_code_check_char(org)
        good = [c for c in USCC_CHARSET if _accepts(validate_uscc, body + c)]
        assert good == [uscc_check_char(body)], body


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("", "18 characters"),
        ("91350100M000100Y4", "18 characters"),
        ("91350100M000100Y433", "18 characters"),
        ("91350100M00010OY43", "without I, O, S, V, Z"),  # letter O
        ("91350100M000100I43", "18 characters"),  # letter I
        ("01350100M000100Y43", "registration authority"),
        ("9135A100M000100Y43", "region code"),
    ],
)
def test_malformed_credit_codes(value: str, words: str) -> None:
    refused(validate_uscc, value, field="uscc", words=words)


# --- phones ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("13800138000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("0086-19912345678", "19912345678"),
        ("138-0013-8000", "13800138000"),
    ],
)
def test_mobile_numbers_are_normalised(raw: str, normal: str) -> None:
    assert validate_mobile(raw) == normal


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "1380013800",
        "138001380001",
        "12800138000",
        "23800138000",
        "1380013800a",
        "+1 13800138000",
        "010-62345678",
    ],
)
def test_bad_mobile_numbers_are_refused(bad: str) -> None:
    refused(validate_mobile, bad, field="phone", words="mobile")
    refused(validate_mobile, bad, "contact_mobile", field="contact_mobile")


@pytest.mark.parametrize(
    "good", ["0591-87760022", "010-62345678", "01062345678", "0755-2345678-123", "13800138000"]
)
def test_contact_phones_may_be_landlines(good: str) -> None:
    assert validate_phone(good) == good.replace(" ", "")


@pytest.mark.parametrize("bad", ["12345", "591-87760022", "0591-876", "phone", ""])
def test_bad_contact_phones_are_refused(bad: str) -> None:
    # a landline is taken too, so the refusal names both (a mistyped landline was told "the
    # mobile number must be 11 digits", as if only a mobile number would do)
    e = refused(validate_phone, bad, field="contact_phone", words="landline")
    assert "area code" in e.message and "0591-87760022" in e.message


# --- other documents and names -------------------------------------------------------------------
def test_id_documents() -> None:
    assert validate_id_document("id_card", GB11643_SAMPLE) == GB11643_SAMPLE
    assert validate_id_document("passport", "e12345678") == "E12345678"
    assert validate_id_document("hk_macao_permit", "H12345678") == "H12345678"
    assert validate_id_document("taiwan_permit", "12345678") == "12345678"
    refused(
        validate_id_document,
        "id_card",
        GB11643_SAMPLE[:17] + "1",
        field="id_number",
        words="check digit",
    )
    refused(validate_id_document, "id_card", "110105491231002", field="id_number")  # 15-digit
    refused(validate_id_document, "driving_licence", "X1", field="id_type", words="unknown ID type")
    refused(validate_id_document, "passport", "AB", field="id_number", words="malformed")
    refused(validate_id_document, "hk_macao_permit", "X12345678", field="id_number")
    refused(validate_id_document, "taiwan_permit", "1234567８", field="id_number")
    refused(validate_id_document, "hk_macao_permit", "H1234567٨", field="id_number")


def test_names() -> None:
    assert validate_name("  张三 ") == "张三"
    refused(validate_name, "   ", field="name", words="empty")
    refused(validate_name, "a" * 51, "name", 50, field="name")
    refused(validate_name, "张\x00三", field="name")
    refused(validate_name, "张\n三", "legal_representative", field="legal_representative")


@pytest.mark.parametrize(
    "char",
    [
        "\u202e",
        "\u200b",
        "\u200d",
        "\ufeff",
        "\u2028",
        "\u2029",
        "\u0085",
        "\x7f",
        "\x1b",
        "\u2066",
    ],
)
def test_invisible_and_control_characters_are_refused_in_names(char: str) -> None:
    """A right-to-left override or a zero-width space in a name would put a different-looking
    or look-alike name into a certificate or onto a seal (issue 9, item 11)."""
    e = refused(
        validate_name,
        f"张{char}三",
        "holder_name",
        field="holder_name",
        words="invisible or control",
    )
    assert f"U+{ord(char):04X}" in e.message
    refused(validate_name, f"北京某某{char}科技有限公司", field="name")


def test_ordinary_names_with_spaces_and_punctuation_are_kept() -> None:
    assert validate_name("Zhang San") == "Zhang San"
    assert validate_name("北京某某（集团）有限公司") == "北京某某（集团）有限公司"
    assert validate_name("阿卜杜·热合曼") == "阿卜杜·热合曼"
    assert validate_name("张三\u3000") == "张三"  # an ideographic space at the end is trimmed
