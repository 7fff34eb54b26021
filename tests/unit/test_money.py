"""Money: amounts, 人民币大写 both ways, tax lines, the ¥ format, exact instalments.

Anchored on the examples of the PBOC rules for filling in payment documents (《正确填写票据和
结算凭证的基本规定》), the amounts of seeds 002 and 003, and the ends of the range (0.01 and
10^12); then a round trip over many random amounts, every allowed form of each read back.
"""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from yinxin.contracts.money import (
    TaxLine,
    allocate,
    capitals,
    check_capitals,
    format_amount,
    from_capitals,
    parse_amount,
    parse_rate,
    with_tax,
    without_tax,
)
from yinxin.errors import ValidationError

D = Decimal

# (amount, canonical capitals) — the canonical form leaves out the optional 零
CAPITALS = [
    ("0.01", "壹分"),
    ("0.05", "伍分"),
    ("0.10", "壹角整"),
    ("0.55", "伍角伍分"),
    ("1", "壹元整"),
    ("1.02", "壹元零贰分"),
    ("1.50", "壹元伍角整"),
    ("10", "壹拾元整"),
    ("11", "壹拾壹元整"),
    ("100", "壹佰元整"),
    ("101", "壹佰零壹元整"),
    ("110", "壹佰壹拾元整"),
    ("1005", "壹仟零伍元整"),
    ("1680.32", "壹仟陆佰捌拾元叁角贰分"),  # PBOC example (also: …元零叁角贰分)
    ("325.04", "叁佰贰拾伍元零肆分"),  # PBOC example
    ("16409.02", "壹万陆仟肆佰零玖元零贰分"),  # PBOC example
    ("107000.53", "壹拾万柒仟元伍角叁分"),  # PBOC example (also: 壹拾万零柒仟元…)
    ("10500", "壹万零伍佰元整"),
    ("10050", "壹万零伍拾元整"),
    ("28000", "贰万捌仟元整"),  # 003 §4: 每年贰万捌仟元整 (¥28000.00)
    ("100000", "壹拾万元整"),
    ("435000", "肆拾叁万伍仟元整"),  # 002: the 25 % instalment
    ("1305000", "壹佰叁拾万伍仟元整"),  # 002: the 75 % instalment
    ("1740000", "壹佰柒拾肆万元整"),  # 002 §2.2: 人民币壹佰柒拾肆万元整
    ("1000100", "壹佰万零壹佰元整"),
    ("100000001", "壹亿零壹元整"),
    ("100001000", "壹亿壹仟元整"),  # 万位 zero, 千位 not: the 零 is optional (rule 3)
    ("500001234.50", "伍亿壹仟贰佰叁拾肆元伍角整"),
    ("100010001.10", "壹亿零壹万零壹元壹角整"),
    ("909090909.09", "玖亿零玖佰零玖万零玖佰零玖元零玖分"),
    ("123456789012.34", "壹仟贰佰叁拾肆亿伍仟陆佰柒拾捌万玖仟零壹拾贰元叁角肆分"),
    ("100000000000.01", "壹仟亿元零壹分"),
    ("999999999999.99", "玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
    ("1000000000000", "壹万亿元整"),
]


@pytest.mark.parametrize(("amount", "words"), CAPITALS)
def test_capitals_table(amount: str, words: str) -> None:
    assert capitals(amount) == words
    assert from_capitals(words) == D(amount)


@pytest.mark.parametrize(
    ("words", "amount"),
    [
        ("壹仟陆佰捌拾元零叁角贰分", "1680.32"),  # the optional 零 after 元
        ("壹拾万零柒仟元伍角叁分", "107000.53"),  # the optional 零 at 万
        ("壹拾万柒仟元零伍角叁分", "107000.53"),
        ("壹佰万零壹仟元整", "1001000"),
        ("壹亿零壹仟元整", "100001000"),  # the optional 零 over a whole zero section
        ("伍亿零壹仟贰佰叁拾肆元伍角", "500001234.50"),
        ("人民币壹佰柒拾肆万元整", "1740000"),
        ("贰万捌仟圆正", "28000"),  # 圆 and 正 are the older spellings
        ("人民币 壹佰柒拾肆万 元整", "1740000"),
        ("零元整", "0"),
        # 在"角"之后可以不写"整" — the PBOC's own example (一): ¥1,409.50
        ("人民币壹仟肆佰零玖元伍角", "1409.50"),
        ("壹元伍角", "1.50"),
        ("伍角", "0.50"),
        ("壹拾元零伍角", "10.50"),
        ("壹拾元伍角", "10.50"),
        # "如果金额数字书写中使用繁体字，如貳、陸、億、萬、圓的，也应受理"
        ("人民币壹佰柒拾肆萬元整", "1740000"),
        ("貳萬捌仟圓整", "28000"),
        ("壹億零陸元整", "100000006"),
    ],
)
def test_the_other_allowed_forms_are_read(words: str, amount: str) -> None:
    assert from_capitals(words) == D(amount)


@pytest.mark.parametrize(
    "words",
    [
        "",
        "整",
        "1740000",
        "壹佰柒拾肆万元",  # no 整
        "壹元伍角整整",  # 整 twice
        "壹元贰分整",  # 整 after 分, and 零 missing
        "伍角贰分整",  # 整 after 分
        "壹万伍佰元整",  # the required 零 missing
        "壹佰零零元整",  # doubled 零
        "壹拾万零零柒仟元整",
        "壹仟零陆佰元整",  # a 零 with no zero behind it
        "拾元整",  # 壹拾 keeps its 壹
        "壹亿零万元整",  # a unit without a digit
        "壹佰柒拾肆万元整整",
        "壹佰柒拾肆万美元整",
        "伍元伍角伍分伍厘",
        "壹万万元整",
        "壹仟亿万元整",
        "贰万亿元整",  # above 10^12
    ],
)
def test_malformed_capitals_are_refused(words: str) -> None:
    with pytest.raises(ValidationError) as err:
        from_capitals(words)
    assert err.value.field == "amount_in_capitals"


def test_the_refusal_says_what_to_write() -> None:
    with pytest.raises(ValidationError, match="壹万零伍佰元整"):
        from_capitals("壹万伍佰元整")


def test_round_trip_over_random_amounts_and_every_allowed_form() -> None:
    rng = random.Random(14)
    amounts = [D(rng.randrange(1, 10**14)) / 100 for _ in range(3000)]
    # zeros in every position are where the rules bite: draw amounts made mostly of zeros
    for _ in range(3000):
        digits = "".join(rng.choice("0000001") for _ in range(14)).lstrip("0") or "1"
        amounts.append(D(digits) / 100)
    for amount in amounts:
        if amount > 10**12:
            continue
        words = capitals(amount)
        assert from_capitals(words) == amount, words
        assert "零零" not in words and not words.startswith("零")
        assert words.endswith("分") != words.endswith("整")


@pytest.mark.parametrize("words", ["壹佰柒拾肆万", "壹佰柒拾肆万整", "人民币伍拾"])
def test_capitals_without_yuan_say_the_yuan_is_missing(words: str) -> None:
    """壹佰柒拾肆万 was refused as "the 角 and 分 are malformed": it has neither."""
    with pytest.raises(ValidationError, match="no 元") as err:
        from_capitals(words)
    assert err.value.field == "amount_in_capitals"
    assert "角 and 分" not in str(err.value)


def test_check_capitals_compares_words_and_figures() -> None:
    check_capitals(D("1740000"), "人民币壹佰柒拾肆万元整")
    with pytest.raises(ValidationError, match="¥1,470,000.00") as err:
        check_capitals(D("1470000"), "壹佰柒拾肆万元整")
    assert err.value.field == "amount_in_capitals"


def test_capitals_refuse_out_of_range() -> None:
    with pytest.raises(ValidationError) as err:
        capitals("1000000000000.01")
    assert err.value.field == "amount"
    with pytest.raises(ValidationError):
        capitals("-1")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1740000", "1740000.00"),
        ("1740000.5", "1740000.50"),
        ("1,740,000.00", "1740000.00"),
        ("¥1,740,000.00", "1740000.00"),
        ("￥ 28000", "28000.00"),
        (" 0.01 ", "0.01"),
        ("0", "0.00"),
        (1740000, "1740000.00"),
        (D("0.1"), "0.10"),
    ],
)
def test_parse_amount(text, value: str) -> None:
    parsed = parse_amount(text)
    assert parsed == D(value) and str(parsed) == value


@pytest.mark.parametrize(
    "text",
    [
        0.1 + 0.2,  # a float, and its artefact
        "0.30000000000000004",
        1.5,
        "-5",
        "¥-5",
        D("-0.01"),
        "1.005",
        D("1.005"),
        "1e5",
        "NaN",
        "Infinity",
        D("NaN"),
        "01",
        "1.",
        ".5",
        "1,74,000",
        "12,3456",
        "壹佰",
        # \d took other digits after an ASCII first one, where "１２３" was refused
        "1２3",
        "1,２34.50",
        "10.٥",
        "",
        "abc",
        None,
        True,
    ],
)
def test_parse_amount_refuses(text) -> None:
    with pytest.raises(ValidationError) as err:
        parse_amount(text, field="price")
    assert err.value.field == "price"


@pytest.mark.parametrize("text", ["1,000,000.001", "¥1,305,000.125", "1740000.001"])
def test_three_decimals_are_said_so_with_or_without_separators(text) -> None:
    """``1,000,000.001`` (as a bank statement writes it) was refused as "is not an amount
    like 1740000.00", where ``1000000.001`` said what was wrong: more than two decimals."""
    with pytest.raises(ValidationError) as err:
        parse_amount(text, field="amount")
    assert err.value.field == "amount"
    assert "at most two decimals" in err.value.message, err.value.message


def test_parse_rate() -> None:
    assert parse_rate("0.06") == D("0.06")
    assert parse_rate("6%") == D("0.06")
    assert parse_rate("0.5‰") == D("0.0005")
    assert parse_rate("3%") == D("0.03")
    for bad in ["-0.06", "106%", "six", 0.06, "1e-2", "", "６%", "٠.٠٦"]:
        with pytest.raises(ValidationError) as err:
            parse_rate(bad)
        assert err.value.field == "rate"


def test_format_amount() -> None:
    assert format_amount(D("1740000")) == "¥1,740,000.00"
    assert format_amount("0.5") == "¥0.50"
    assert format_amount(D("999")) == "¥999.00"
    assert format_amount(D("-250")) == "-¥250.00"


def test_the_002_price_table_adds_up() -> None:
    """002 附件 2: two lines at 6 % stated with tax; net + tax = gross on each and in total."""
    maintenance = without_tax("53400", "0.06")
    integration = without_tax("1686600", "6%")
    assert maintenance == TaxLine(D("50377.36"), D("0.06"), D("3022.64"), D("53400.00"))
    assert integration.net == D("1591132.08")
    assert maintenance.gross + integration.gross == D("1740000")
    # read the other way, from the net prices in the table, each line gives back its gross:
    # 50377.36 × 1.06 = 53400.0016 → 53400.00; 1591132.08 × 1.06 = 1686600.0048 → 1686600.00
    assert with_tax("50377.36", "0.06") == maintenance
    assert with_tax("1591132.08", "0.06") == integration


@pytest.mark.parametrize(
    ("price", "rate", "rounding", "gross"),
    [
        ("100", "0.06", "half_up", "106.00"),
        ("0.25", "0.06", "half_up", "0.27"),  # 0.265 → 0.27
        ("0.25", "0.06", "half_even", "0.26"),  # 0.265 → 0.26
        ("0.25", "0.06", "down", "0.26"),
        ("0.01", "0.13", "up", "0.02"),
        ("0.01", "0.13", "half_up", "0.01"),
        ("1000", "0", "half_up", "1000.00"),
    ],
)
def test_with_tax_rounds_as_the_contract_says(price, rate, rounding, gross) -> None:
    line = with_tax(price, rate, rounding)
    assert line.gross == D(gross)
    assert line.net + line.tax == line.gross


def test_with_tax_refuses_bad_input() -> None:
    for args, field in [
        (("-1", "0.06"), "price"),
        (("100", "-0.06"), "rate"),
        (("100", "0.06", "nearest"), "rounding"),
    ]:
        with pytest.raises(ValidationError) as err:
            with_tax(*args)
        assert err.value.field == field


def test_tax_lines_add_up_over_many_prices() -> None:
    rng = random.Random(6)
    for _ in range(2000):
        price = D(rng.randrange(1, 10**10)) / 100
        for rate in ("0.06", "0.09", "0.13", "0.03"):
            for line in (with_tax(price, rate), without_tax(price, rate)):
                assert line.net + line.tax == line.gross
                assert line.tax == line.tax.quantize(D("0.01"))


def test_allocate_adds_up_exactly() -> None:
    assert allocate("1740000", [D("0.75"), D("0.25")]) == [D("1305000.00"), D("435000.00")]
    assert allocate("100", [D(1) / 3, D(1) / 3, 1 - 2 * (D(1) / 3)]) == [
        D("33.33"),
        D("33.33"),
        D("33.34"),
    ]
    rng = random.Random(2)
    for _ in range(500):
        total = D(rng.randrange(1, 10**9)) / 100
        assert sum(allocate(total, [D("0.3"), D("0.5"), D("0.2")])) == total
    with pytest.raises(ValidationError) as err:
        allocate("100", [D("0.75"), D("0.2")])
    assert err.value.field == "shares"
