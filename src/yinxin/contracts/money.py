"""Money in contracts: exact decimal amounts, 人民币大写, tax lines and the ¥ format.

A contract states its price twice — in figures and in Chinese capitals (人民币大写) — and a
mismatch between the two is a classic defect of a drafted contract, so the platform writes the
capitals itself and checks capitals typed by a person against the figures. Amounts are
``Decimal`` to the 分 (two places) everywhere: a ``float`` cannot hold 0.1 exactly, and an
amount like ``0.30000000000000004`` that leaked from one must be refused, not rounded silently.

The capitals follow the rules of the People's Bank of China for filling in payment documents
(《支付结算办法》附件一 《正确填写票据和结算凭证的基本规定》):

* 元 closes the integer part; an amount that ends at 元 takes 整, one that ends at 角 may
  (壹元伍角整 or 壹元伍角: "在角之后可以不写整"), one with 分 does not (壹佰柒拾肆万元整,
  壹元伍角贰分);
* one 零 stands for a run of zeros between digits (壹仟零伍元整, 壹万零伍拾元整);
* when the 万 or 元 position is zero but the next lower position is not, the 零 may be
  written or left out (壹拾万零柒仟元 = 壹拾万柒仟元); when the 角 is zero and the 分 is not,
  元 is followed by 零 (壹万陆仟肆佰零玖元零贰分);
* 壹拾 keeps its 壹 (壹拾万元整, not 拾万元整).

:func:`capitals` writes one canonical form; :func:`from_capitals` accepts every form those
rules allow (and 圆 for 元, 正 for 整, a leading 人民币) and refuses anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal, InvalidOperation

from yinxin.errors import ValidationError

CENT = Decimal("0.01")
#: The largest amount written in capitals: 壹万亿元整 (10^12), far above any contract's price.
MAX_CAPITALS = Decimal(10) ** 12
#: Digits before the point that :func:`parse_amount` takes (千万亿): beyond any contract, and
#: well inside the 28 significant digits of the decimal context the arithmetic runs in.
MAX_DIGITS = 15

DIGITS = "零壹贰叁肆伍陆柒捌玖"
_SMALL_UNITS = ("", "拾", "佰", "仟")
_SECTION_UNITS = ("", "万", "亿", "万亿")

# [0-9], not \d: \d also takes ２ and ٥, which Decimal reads, so "1２3" was taken as 123 where
# "１２３" was refused
_PLAIN = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]{1,2})?")
_GROUPED = re.compile(r"[1-9][0-9]{0,2}(?:,[0-9]{3})+(?:\.[0-9]{1,2})?")

#: The rounding rules a contract may name for its tax line, by the name written in it.
ROUNDINGS = {
    "half_up": ROUND_HALF_UP,  # 四舍五入 — what Chinese invoices use
    "half_even": ROUND_HALF_EVEN,  # 银行家舍入
    "down": ROUND_DOWN,  # 舍去
    "up": ROUND_UP,  # 进位
}


def parse_amount(text: str | int | Decimal, *, field: str = "amount") -> Decimal:
    """An amount of money from what a person typed, as a ``Decimal`` with two places.

    Accepts ``1740000``, ``1740000.5``, ``1,740,000.00`` and a leading ``¥``/``￥``. Refuses,
    naming ``field``: a ``float`` (its binary artefacts are exactly what this guards against),
    a negative sign, more than two decimals, exponents, NaN/Infinity, leading zeros and
    anything that is not a number.
    """
    if isinstance(text, bool) or isinstance(text, float):
        raise ValidationError(
            "give the amount as text or a Decimal, not a binary float",
            field=field,
        )
    if isinstance(text, int):
        text = str(text)
    if isinstance(text, Decimal):
        if not text.is_finite():
            raise ValidationError("not a finite amount", field=field)
        if text < 0:
            raise ValidationError("an amount cannot be negative", field=field)
        if text.adjusted() >= MAX_DIGITS:
            raise ValidationError(
                f"an amount has at most {MAX_DIGITS} digits before the point",
                field=field,
            )
        if text != text.quantize(CENT, rounding=ROUND_HALF_UP):
            raise ValidationError(
                f"an amount has at most two decimals (分), got {text}", field=field
            )
        return text.quantize(CENT)
    if not isinstance(text, str):
        raise ValidationError("not an amount", field=field)
    raw = text.strip()
    if raw[:1] in ("¥", "￥"):
        raw = raw[1:].strip()
    if raw.startswith("-"):
        raise ValidationError("an amount cannot be negative", field=field)
    # with or without thousands separators (1,000,000.001 said only "not an amount")
    if re.fullmatch(r"(?:[0-9]+|[1-9][0-9]{0,2}(?:,[0-9]{3})+)\.[0-9]{3,}", raw):
        raise ValidationError(f"an amount has at most two decimals (分), got {raw!r}", field=field)
    if len(raw.replace(",", "").split(".")[0]) > MAX_DIGITS:
        raise ValidationError(
            f"an amount has at most {MAX_DIGITS} digits before the point", field=field
        )
    if _PLAIN.fullmatch(raw):
        digits = raw
    elif _GROUPED.fullmatch(raw):
        digits = raw.replace(",", "")
    else:
        raise ValidationError(f"{text!r} is not an amount like 1740000.00", field=field)
    try:
        return Decimal(digits).quantize(CENT)
    except InvalidOperation as exc:  # pragma: no cover - the patterns admit only digits
        raise ValidationError(f"{text!r} is not an amount", field=field) from exc


def parse_rate(text: str | Decimal, *, field: str = "rate") -> Decimal:
    """A tax or penalty rate: ``0.06``, ``6%``, ``0.5‰`` — a ``Decimal`` fraction in [0, 1].

    Floats are refused for the same reason as in :func:`parse_amount`.
    """
    if isinstance(text, bool) or isinstance(text, float):
        raise ValidationError("give the rate as text or a Decimal", field=field)
    if isinstance(text, Decimal):
        value = text
    elif isinstance(text, str):
        raw = text.strip()
        scale = Decimal(1)
        if raw.endswith("%"):
            raw, scale = raw[:-1].strip(), Decimal("0.01")
        elif raw.endswith("‰"):
            raw, scale = raw[:-1].strip(), Decimal("0.001")
        if not re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", raw):
            raise ValidationError(f"{text!r} is not a rate like 0.06 or 6%", field=field)
        value = Decimal(raw) * scale
    else:
        raise ValidationError("not a rate", field=field)
    if not value.is_finite() or value < 0 or value > 1:
        raise ValidationError("a rate lies between 0 and 1 (0% and 100%)", field=field)
    return value.normalize() if value else Decimal(0)


def rate_text(value: str) -> str:
    """A rate as a contract prints it: 0.06 → 6%, 0.0005 → 0.5‰ (a per-mille rate is written
    as the seeds write it)."""
    v = Decimal(value)
    pct = v * 100
    if v and (v < Decimal("0.01") or pct != pct.quantize(Decimal("0.01"))):
        return f"{(v * 1000).normalize():f}‰"
    return f"{pct.normalize():f}%"


def _check_capitals_range(amount: Decimal, field: str) -> Decimal:
    amount = parse_amount(amount, field=field)
    if amount > MAX_CAPITALS:
        raise ValidationError(
            f"capitals are written up to 10^12 (壹万亿元), got {amount}", field=field
        )
    return amount


def _section(value: int) -> str:
    """0 < value < 10000 in capitals, with one 零 for each run of inner zeros."""
    out: list[str] = []
    digits = f"{value:04d}"
    pending_zero = False
    started = False
    for i, ch in enumerate(digits):
        d = int(ch)
        if d == 0:
            pending_zero = started
            continue
        if pending_zero:
            out.append("零")
            pending_zero = False
        out.append(DIGITS[d] + _SMALL_UNITS[3 - i])
        started = True
    return "".join(out)


def _integer(value: int, *, zero_at_gap: bool) -> str:
    """The integer part (> 0) in capitals, without 元.

    Between two sections (万, 亿) a 零 is required where the lower section lacks its 仟
    (壹万零伍佰, 壹亿零壹元). Where the lower section has its 仟 and the zeros before it end at
    the 万 position — the higher section's last digit is zero (壹拾万零柒仟 = 壹拾万柒仟) or a
    whole section is zero (壹亿零壹仟 = 壹亿壹仟) — it is optional (rule 3: "数字中间连续有几个
    0，万位、元位也是0，但千位、角位不是0时…可以只写一个零字，也可以不写零字"):
    ``zero_at_gap`` writes it then.
    """
    sections: list[int] = []
    while value:
        sections.append(value % 10000)
        value //= 10000
    out: list[str] = []
    gap = False
    previous = 0
    for index in range(len(sections) - 1, -1, -1):
        section = sections[index]
        if section == 0:
            gap = bool(out)
            continue
        if out and (section < 1000 or (zero_at_gap and (gap or previous % 10 == 0))):
            out.append("零")
        out.append(_section(section) + _SECTION_UNITS[index])
        gap = False
        previous = section
    return "".join(out)


def _write(amount: Decimal, *, zero_at_gap: bool, zero_after_yuan: bool) -> str:
    cents = int(amount * 100)
    yuan, jiao, fen = cents // 100, cents // 10 % 10, cents % 10
    if cents == 0:
        return "零元整"
    out = _integer(yuan, zero_at_gap=zero_at_gap) + "元" if yuan else ""
    if jiao:
        if yuan and yuan % 10 == 0 and zero_after_yuan:
            out += "零"
        out += DIGITS[jiao] + "角"
    elif fen and yuan:
        out += "零"
    if fen:
        out += DIGITS[fen] + "分"
    else:
        out += "整"
    return out


def capitals(amount: Decimal | str | int, *, field: str = "amount") -> str:
    """The amount in 人民币大写, canonical form: 1740000 → 壹佰柒拾肆万元整.

    From 0.01 to 10^12 (and 0 → 零元整). The canonical form leaves out every 零 the rules
    make optional (壹拾万柒仟元伍角叁分, 壹仟陆佰捌拾元叁角贰分) and writes every one they
    require (壹万零伍佰元整, 壹万陆仟肆佰零玖元零贰分); :func:`from_capitals` accepts the
    forms with the optional 零 as well.
    """
    amount = _check_capitals_range(amount, field)
    return _write(amount, zero_at_gap=False, zero_after_yuan=False)


def _variants(amount: Decimal) -> set[str]:
    return {
        _write(amount, zero_at_gap=gap, zero_after_yuan=after)
        for gap in (True, False)
        for after in (True, False)
    }


_SECTION_TEXT = re.compile(f"[{DIGITS}拾佰仟]+")
#: "如果金额数字书写中使用繁体字，如貳、陸、億、萬、圓的，也应受理" — read as the simplified
#: forms (圆 is the older spelling of 元)
_TRADITIONAL = str.maketrans(
    {"貳": "贰", "陸": "陆", "億": "亿", "萬": "万", "圓": "元", "圆": "元"}
)


def _parse_section(text: str, field: str, original: str) -> int:
    """壹仟零伍 → 1005; the exact placement of 零 is checked later against the rules."""
    if not text or not _SECTION_TEXT.fullmatch(text):
        raise ValidationError(f"{original!r} is not an amount in capitals", field=field)
    total, digit = 0, None
    for ch in text:
        if ch in DIGITS:
            digit = DIGITS.index(ch)
            continue
        unit = 10 ** _SMALL_UNITS.index(ch)
        if not digit:
            raise ValidationError(f"{original!r}: {ch} without a digit before it", field=field)
        total += digit * unit
        digit = None
    return total + (digit or 0)


def _parse_integer(text: str, field: str, original: str) -> int:
    total = 0
    rest = text
    for unit_text, power in (("万亿", 12), ("亿", 8), ("万", 4)):
        if unit_text in rest:
            head, rest = rest.split(unit_text, 1)
            if unit_text == "亿" and "万" in head:
                raise ValidationError(f"{original!r} is not an amount in capitals", field=field)
            total += _parse_section(head.strip("零") or "?", field, original) * 10**power
    rest = rest.lstrip("零") if total else rest
    if rest:
        total += _parse_section(rest, field, original)
    return total


def from_capitals(text: str, *, field: str = "amount_in_capitals") -> Decimal:
    """The amount that a text in 人民币大写 states — the reverse check of :func:`capitals`.

    Accepts the forms the bank rules allow (optional 零 at a gap, 零 after 元 before a 角,
    整 after a 角 written or not, the traditional 貳 陸 億 萬 圓 they say must be accepted),
    圆 for 元, 正 for 整, a leading 人民币 and spaces; refuses everything else, naming
    ``field``: a missing or misplaced 整, a unit without a digit, doubled 零, Arabic digits…
    """
    if not isinstance(text, str):
        raise ValidationError("not a text", field=field)
    norm = re.sub(r"\s+", "", text).translate(_TRADITIONAL).replace("正", "整")
    if norm.startswith("人民币"):
        norm = norm[3:]
    if not norm or len(norm) > 64 or not re.fullmatch(f"[{DIGITS}拾佰仟万亿元角分整]+", norm):
        raise ValidationError(f"{text!r} is not an amount in capitals", field=field)
    body = norm[:-1] if norm.endswith("整") else norm
    if "元" in body:
        int_text, dec_text = body.split("元", 1)
        if not int_text:
            raise ValidationError(f"{text!r}: nothing before 元", field=field)
    else:
        int_text, dec_text = "", body
    yuan = 0 if int_text in ("", "零") else _parse_integer(int_text, field, text)
    m = re.fullmatch(f"零?(?:([{DIGITS[1:]}])角)?(?:([{DIGITS[1:]}])分)?", dec_text)
    if not m and "元" not in body:
        # 壹佰柒拾肆万: everything before the 角 and 分 was read as them; say what is missing
        raise ValidationError(
            f"{text!r}: no 元 — the yuan are written before 元, as in 壹佰元整", field=field
        )
    if not m:
        raise ValidationError(f"{text!r}: the 角 and 分 are malformed", field=field)
    jiao = DIGITS.index(m.group(1)) if m.group(1) else 0
    fen = DIGITS.index(m.group(2)) if m.group(2) else 0
    value = Decimal(yuan * 100 + jiao * 10 + fen) / 100
    value = value.quantize(CENT)
    if value > MAX_CAPITALS:
        raise ValidationError("capitals are written up to 10^12", field=field)
    # 在"角"之后可以不写"整": the 整 after a 角 is optional (PBOC's own example: ¥1,409.50 →
    # 人民币壹仟肆佰零玖元伍角), so a text ending in 角 is read as if it carried it
    written = norm + "整" if norm.endswith("角") else norm
    if written not in _variants(value):
        raise ValidationError(
            f"{text!r} is not written by the rules; for {format_amount(value)} "
            f"write {capitals(value)}",
            field=field,
        )
    return value


def format_amount(amount: Decimal | str | int) -> str:
    """¥1,740,000.00 — the figures as a contract or a receipt prints them."""
    if isinstance(amount, Decimal) and amount < 0:
        return "-" + format_amount(-amount)
    value = parse_amount(amount)
    return f"¥{value:,.2f}"


def check_capitals(amount: Decimal, text: str, *, field: str = "amount_in_capitals") -> None:
    """Refuse capitals that do not state ``amount`` (the figures and words of a contract)."""
    stated = from_capitals(text, field=field)
    if stated != parse_amount(amount):
        raise ValidationError(
            f"the capitals state {format_amount(stated)} but the figures "
            f"{format_amount(amount)}; write {capitals(amount)}",
            field=field,
        )


def _rounding(name: str) -> str:
    try:
        return ROUNDINGS[name]
    except KeyError:
        raise ValidationError(
            f"one of {', '.join(ROUNDINGS)}, not {name!r}", field="rounding"
        ) from None


@dataclass(frozen=True)
class TaxLine:
    """One line of a price table: net + tax = gross, exactly, each to the 分.

    ``net`` is 不含税价, ``gross`` 含税价, ``tax`` the difference (never rounded on its own,
    so the three always add up).
    """

    net: Decimal
    rate: Decimal
    tax: Decimal
    gross: Decimal
    rounding: str = "half_up"

    def as_dict(self) -> dict[str, str]:
        return {
            "net": str(self.net),
            "rate": str(self.rate),
            "tax": str(self.tax),
            "gross": str(self.gross),
            "rounding": self.rounding,
        }


def with_tax(price: Decimal | str, rate: Decimal | str, rounding: str = "half_up") -> TaxLine:
    """The line from a price without tax: gross = price × (1 + rate), rounded to the 分.

    ``rounding`` is the rule the contract states (``half_up`` = 四舍五入 by default).
    """
    net = parse_amount(price, field="price")
    rate = parse_rate(rate)
    gross = (net * (1 + rate)).quantize(CENT, rounding=_rounding(rounding))
    return TaxLine(net=net, rate=rate, tax=gross - net, gross=gross, rounding=rounding)


def without_tax(gross: Decimal | str, rate: Decimal | str, rounding: str = "half_up") -> TaxLine:
    """The line from a price with tax (how 002's table reads): net = gross ÷ (1 + rate).

    002 附件 2 states 53 400 含税 at 6 % and 50 377.36 不含税: 53 400 ÷ 1.06 = 50 377.358…
    → 50 377.36, tax 3 022.64.
    """
    total = parse_amount(gross, field="gross")
    rate = parse_rate(rate)
    net = (total / (1 + rate)).quantize(CENT, rounding=_rounding(rounding))
    return TaxLine(net=net, rate=rate, tax=total - net, gross=total, rounding=rounding)


def allocate(
    total: Decimal | str, shares: list[Decimal], *, field: str = "amount"
) -> list[Decimal]:
    """Split ``total`` by fractional ``shares`` (summing to 1) into amounts that add up exactly.

    Each part is rounded half-up to the 分 except the last, which takes what is left — the
    usual way a contract's 75 % / 25 % instalments are written so that they sum to the price.
    """
    amount = parse_amount(total, field=field)
    if not shares or any(s < 0 for s in shares) or sum(shares) != 1:
        raise ValidationError("fractions that add up to 1 (100 %)", field="shares")
    parts = [(amount * s).quantize(CENT, rounding=ROUND_HALF_UP) for s in shares[:-1]]
    parts.append(amount - sum(parts, Decimal(0)))
    return parts
