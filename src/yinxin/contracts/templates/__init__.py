"""The contract template library: each template is data (a TOML file beside this module).

Why data and not code: a template is what a lawyer or an operator edits — the clause text, the
blanks and what each blank accepts — and it is versioned like an agreement: a stored contract
names its template's code **and version**, so a later edit of the text never changes what a
drafted or signed contract says. A file holds

* ``code``, ``version``, ``title``, ``source`` (which seed it comes from), ``description``;
* ``[[parties]]``: the signing roles (``甲方``, ``乙方``, ``中介方``, ``鉴证单位``, ``公证单位`` —
  the roles a sign flow knows), each with its title in this contract (委托方, 服务方 …) and the
  blanks that hold its name and representative; each party gets a signature block whose
  anchor text ``<role>（签章）`` appears nowhere else in the document, so the sign flow's
  anchor placement finds exactly one place for each seal;
* ``[[blanks]]``: named, typed blanks (see ``BLANK_TYPES``), required or optional, with an
  ``example`` (what the form shows as a hint, and what the tests fill every template with);
* ``[body] text``: the clauses, one paragraph a line, ``{{blank}}`` where a value goes
  (markup in ``yinxin.contracts.render``: ``## `` a heading, ``| `` a line without indent,
  ``- `` an item, ``{{schedule}}`` alone on a line one paragraph per instalment). It is a
  table of its own because TOML would give a key after ``[[blanks]]`` to the last blank.

``Template.fill(values)`` checks every value and returns the normalised ones (JSON-able
strings, lists for payment schedules): bad input is refused with a ``ValidationError`` naming
``values.<blank>`` (``values.schedule[2].percent`` for a row), before anything is stored.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import tomllib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

from yinxin.contracts.anchors import ANCHORS, ROLES, norm
from yinxin.contracts.parties import distinct_parties
from yinxin.errors import NotFound, ValidationError
from yinxin.identity import (
    hidden_character,
    validate_id_card,
    validate_name,
    validate_phone,
    validate_uscc,
)

#: Blank types: what each accepts and how it is stored (always a JSON-able value).
BLANK_TYPES: dict[str, str] = {
    "text": "one line of text (max_length, default 200)",
    "longtext": "several lines of text (max_length, default 2000)",
    "party": "a party's name: a person or an organization (plain printable text, ≤ 100)",
    "person": "a person's name (≤ 50)",
    "uscc": "unified social credit code, 18 characters with its check character (GB 32100)",
    "id_number": "citizen ID number, 18 characters with its check digit (GB 11643)",
    "phone": "a mobile number or a landline with area code (0395-3177966)",
    "place": "a place or an address (≤ 100)",
    "date": "a real calendar date: 2026-03-04 or 2026年3月4日",
    "amount": "money in yuan to the 分: 1740000, 1,740,000.00, ¥28000",
    "percent": "a percentage 0–100 with at most two decimals: 75 or 75%",
    "rate": "a rate: 6%, 0.06 or 0.5‰ (a fraction from 0 to 1)",
    "integer": "a whole number (min, max)",
    "choice": "one of the listed choices",
    "schedule": "payment schedule rows: milestone, percent (amounts follow from the total)",
    "pdf": "a PDF document as base64 text (fonts embedded, not encrypted, ≤ 100 pages, ≤ 20 MiB), "
    "stored as {sha256, pages, size}",
    "price_lines": "price table rows: item, service, quantity, unit, amount with tax, note "
    "(they add up to the total; net and tax follow from the total's tax rate)",
}
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Numbers in blanks are read after NFKC (full-width ２０２６ as 2026, what a Chinese input method
# types), then in ASCII digits only: \d and int() also took Arabic-Indic and other digits
_DATE_CN = re.compile(r"([0-9]{4})\s*年\s*([0-9]{1,2})\s*月\s*([0-9]{1,2})\s*日")
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z][a-z0-9_]*)\s*\}\}")
MAX_SCHEDULE_ROWS = 24
MAX_PRICE_LINES = 40
#: The text cells of a table blank's rows (a schedule's, a price table's): what is printed as
#: typed, so what is checked for anchor texts here and for glyphs by the renderer.
ROW_TEXT_KEYS = ("milestone", "item", "service", "unit", "note")
#: What an appendix holds (``[[appendices]]`` in a template file, drawn after the signature
#: blocks, each from a new page): fixed ``text`` written in the file, a ``document`` (a
#: ``longtext`` blank's paragraphs, e.g. the customer's technical specification), a ``list``
#: (a ``longtext`` blank, one numbered item a line), a ``price_table`` (a ``price_lines`` blank).
APPENDIX_KINDS = {
    "text": None,
    "document": "longtext",
    "list": "longtext",
    "price_table": "price_lines",
}


@dataclass(frozen=True)
class Blank:
    """One named blank of a template."""

    name: str
    label: str  # what the form and the errors call it, in Chinese
    type: str
    required: bool = True
    example: Any = None
    help: str = ""
    max_length: int | None = None
    min: Any = None  # integer / amount / percent bounds (as written in the file)
    max: Any = None
    choices: tuple[str, ...] = ()
    after: str | None = None  # date: must not be before this other date blank
    total: str | None = None  # schedule: the amount blank the rows divide
    tax_rate: str | None = None  # amount: a price with tax at this rate blank's rate
    party: str | None = None  # the role this blank describes, if any (甲方 …)


def party_label(title: str, role: str) -> str:
    """How a party is named wherever it is shown, as the contract prints it: 委托方（甲方）, and
    a party whose title is its role once (甲方, not 甲方（甲方）)."""
    return role if title == role else f"{title}（{role}）"


@dataclass(frozen=True)
class Party:
    """A signing party: its role (the sign flow's), its title here, and its blanks."""

    role: str
    title: str  # 委托方, 服务方, 证书订户 …
    name: str  # the blank holding its name
    representative: str | None = None  # the blank holding who signs for it, if any

    @property
    def anchor(self) -> str:
        """The text the seal is placed on: once in the signature block, nowhere else."""
        return f"{self.role}（签章）"

    @property
    def label(self) -> str:
        return party_label(self.title, self.role)

    @property
    def appendix_anchor(self) -> str:
        """The text of the party's block on each appendix page (``甲方（盖章）``, as the seeds
        write it there): different from the main anchor, so the sign flow's default placement
        still finds exactly one main block; a flow that wants a seal on an appendix too names
        this anchor and the appendix's page."""
        return f"{self.role}（盖章）"


@dataclass(frozen=True)
class Appendix:
    """One appendix (附件) of a template, drawn after the signature blocks from a new page,
    headed ``附件 <number>`` and ``title``, closed by each party's seal block and date.

    ``optional``: drawn only when its blank has a value (000's 技术模块附件); otherwise an
    empty blank is drawn as “/”, the seeds' mark for a blank left empty (002's 附件 1, which
    the contract refers to whether or not 甲方 has supplied it yet)."""

    number: str  # "1", "2", "一"
    title: str
    kind: str  # APPENDIX_KINDS
    blank: str | None = None
    text: str = field(default="", repr=False)
    optional: bool = False
    pdf_blank: str | None = None  # document: a pdf blank whose pages may stand in for the text


@dataclass(frozen=True)
class Template:
    code: str
    version: str
    title: str
    source: str
    description: str
    parties: tuple[Party, ...]
    blanks: tuple[Blank, ...]
    text: str = field(repr=False)
    appendices: tuple[Appendix, ...] = ()

    def blank(self, name: str) -> Blank:
        for b in self.blanks:
            if b.name == name:
                return b
        raise NotFound(f"template {self.code} has no blank {name!r}", field=f"values.{name}")

    def party(self, role: str) -> Party:
        for p in self.parties:
            if p.role == role:
                return p
        raise NotFound(f"template {self.code} has no party {role!r}", field="role")

    def example_values(self) -> dict[str, Any]:
        """Every blank's example: a complete, valid filling (the form's hints, the tests)."""
        return {b.name: b.example for b in self.blanks if b.example is not None}

    def fill(self, values: Any) -> dict[str, Any]:
        """The normalised values, or a ``ValidationError`` naming the first bad blank.

        Unknown names are refused (a misspelt blank would otherwise be silently dropped), a
        required blank must have a value, a value may not contain a signature anchor
        (``甲方（签章）``): typed into a blank it would move a party's seal, and no two parties
        may be one (``same_party``, naming the later one's name blank)."""
        if not isinstance(values, dict):
            raise ValidationError(
                "填写内容应为“填写项名称 → 值”的对象 / values are an object of blank → value",
                field="values",
            )
        known = {b.name for b in self.blanks}
        for name in values:
            if name not in known:  # said in Chinese too, as every other refusal of a value
                raise ValidationError(
                    f"模板 {self.code} 没有名为“{name}”的填写项 / template {self.code} has no "
                    f"blank {name!r}",
                    field=f"values.{name}",
                )
        out: dict[str, Any] = {}
        for b in self.blanks:
            raw = values.get(b.name)
            if _empty(raw):
                if b.required:
                    raise ValidationError(f"{b.label}：必填 / required", field=f"values.{b.name}")
                continue
            out[b.name] = _check(b, raw, f"values.{b.name}")
            _no_anchor(out[b.name], f"values.{b.name}", b.label)
        for b in self.blanks:  # checks between blanks, once each is valid on its own
            if b.type == "date" and b.after and b.name in out and b.after in out:
                if out[b.name] < out[b.after]:
                    other = self.blank(b.after).label
                    raise ValidationError(
                        f"{b.label}不得早于{other} / must not be before {b.after}",
                        field=f"values.{b.name}",
                    )
            if b.type == "schedule" and b.name in out:
                out[b.name] = _amounts(b, out[b.name], out.get(b.total) if b.total else None)
            if b.type == "price_lines" and b.name in out and b.total and b.total in out:
                _lines_add_up(self, b, out[b.name], out[b.total])
        # no party twice (甲方 pasted into 乙方's blank, or typed again in other width or case):
        # its seal would sign for both, the later party's blank named
        distinct_parties(
            [(p.role, out[p.name], f"values.{p.name}") for p in self.parties if p.name in out]
        )
        for a in self.appendices:  # an appendix is the text or the PDF, not both
            if a.pdf_blank and a.pdf_blank in out and a.blank in out:
                raise ValidationError(
                    f"附件 {a.number}《{a.title}》：填写文字或附上 PDF，二者择一 / give the text "
                    "or the PDF, not both",
                    field=f"values.{a.pdf_blank}",
                )
        return out


def _empty(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, list) and not v)


def _text(b: Blank, raw: Any, where: str, default_max: int, multiline: bool = False) -> str:
    if not isinstance(raw, str):
        raise ValidationError(f"{b.label}：应为文字 / text expected", field=where)
    v = raw.strip()
    if multiline:
        v = "\n".join(" ".join(line.split()) for line in v.splitlines())
    else:
        if "\n" in v or "\r" in v:
            raise ValidationError(f"{b.label}：只能一行 / one line only", field=where)
        v = " ".join(v.split())
    found = hidden_character(v.replace("\n", " "))
    if found is not None:
        i, c = found
        raise ValidationError(
            f"{b.label}：第 {i + 1} 个字符 U+{ord(c):04X} 不可见 / contains an invisible "
            "or control character",
            field=where,
        )
    limit = b.max_length or default_max
    if len(v) > limit:
        raise ValidationError(f"{b.label}：最多 {limit} 个字符 / at most {limit}", field=where)
    return v


def _date(b: Blank, raw: Any, where: str) -> str:
    if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
        return raw.isoformat()
    if not isinstance(raw, str):
        raise ValidationError(f"{b.label}：日期如 2026-03-04 / a date", field=where)
    s = unicodedata.normalize("NFKC", raw).strip()
    m = _DATE_CN.fullmatch(s) or re.fullmatch(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})", s)
    if not m:
        raise ValidationError(
            f"{b.label}：{raw!r} 不是日期，应如 2026-03-04 或 2026年3月4日 / not a date",
            field=where,
        )
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3])).isoformat()
    except ValueError:
        raise ValidationError(
            f"{b.label}：{raw!r} 不是真实的日期 / no such day in the calendar", field=where
        ) from None


# the finest rate a blank takes: 15 decimals (0.000000000000001), written in 17 characters at
# most; an obligation keeps its penalty rate as text of 20 (PostgreSQL refuses a longer one)
RATE_QUANTUM = Decimal("1e-15")


def _decimal_bound(
    value: Decimal, b: Blank, where: str, unit: str = "", said: Callable[[Any], str] = str
) -> None:
    """Refuse ``value`` outside the blank's ``min``/``max``, each bound said by ``said`` (a
    rate's as the contract prints it: 1%（0.01）) and ``unit``."""
    if b.min is not None and value < Decimal(str(b.min)):
        raise ValidationError(
            f"{b.label}：不得小于 {said(b.min)}{unit} / below {b.min}", field=where
        )
    if b.max is not None and value > Decimal(str(b.max)):
        raise ValidationError(
            f"{b.label}：不得大于 {said(b.max)}{unit} / above {b.max}", field=where
        )


def _rate_said(bound: Any) -> str:
    """A rate's bound as the contract prints a rate, its fraction after it: 1%（0.01）."""
    from yinxin.contracts.money import rate_text

    return f"{rate_text(str(bound))}（{bound}）"


def _plain(d: Decimal) -> str:
    """A percentage stored in one form however it was typed: 5.00 → "5", 7.50 → "7.5", 100 →
    "100" (never "1E+2"), as the contract prints it."""
    return f"{d.normalize():f}"


def _percent(b: Blank, raw: Any, where: str) -> Decimal:
    if isinstance(raw, bool) or isinstance(raw, float):
        raise ValidationError(f"{b.label}：百分比写作文字，如 75 / as text", field=where)
    s = unicodedata.normalize("NFKC", str(raw)).strip().removesuffix("%").strip()
    if not re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,2})?", s):
        raise ValidationError(
            f"{b.label}：{raw!r} 不是百分比，如 75 或 75% / not a percentage", field=where
        )
    try:
        v = Decimal(s)
    except InvalidOperation:  # pragma: no cover - the pattern admits digits only
        raise ValidationError(f"{b.label}：不是百分比 / not a percentage", field=where) from None
    if v > 100:
        raise ValidationError(f"{b.label}：百分比不超过 100 / at most 100%", field=where)
    _decimal_bound(v, b, where, "%")
    return v


# what an amount's refusal says in Chinese, by parse_amount's (English) reason; ``{what}`` is
# 金额 or 含税价, and a reason not listed is said as "{what}应如 …，'abc' 不是金额"
_AMOUNT_REASONS = (
    ("binary float", '{what}写作文字，如 "1740000"'),
    ("cannot be negative", "{what}不能为负数"),
    ("at most two decimals", "{what}最多两位小数"),
    ("digits before the point", "{what}的整数部分最多 15 位"),
)


def _amount(raw: Any, before: str, what: str, where: str) -> Decimal:
    """An amount typed into a blank or a row, read like the other number blanks: after NFKC
    (full-width ￥１，７４０，０００．００ as ¥1,740,000.00), then by ``parse_amount`` (ASCII
    digits only, so other scripts' digits are refused), at most 10^12 (the contract writes it
    in capitals too); the refusal names ``where`` and says in Chinese what is wrong,
    ``before`` (the blank's label, the row) ahead of it."""
    from yinxin.contracts.money import MAX_CAPITALS, format_amount, parse_amount

    text = unicodedata.normalize("NFKC", raw).strip() if isinstance(raw, str) else raw
    try:
        v = parse_amount(text, field=where)
    except ValidationError as e:
        said = next(
            (cn.format(what=what) for en, cn in _AMOUNT_REASONS if en in e.message),
            f"{what}应如 1740000、1,740,000.00 或 ¥28000（最多两位小数），{raw!r} 不是金额",
        )
        raise ValidationError(f"{before}{said} / {e.message}", field=where) from None
    if v > MAX_CAPITALS:  # the contract prints it in capitals too, written up to 壹万亿元
        top = format_amount(MAX_CAPITALS)
        raise ValidationError(
            f"{before}{what}不得超过 {top}（壹万亿元，合同中的大写金额写到此为止）/ at most "
            f"{top}: amounts are also printed in capitals, written up to 10^12",
            field=where,
        )
    return v


# the identifier blanks: their check (yinxin.identity, whose messages are English) and what
# the refusal says in Chinese before it, as the other blanks' refusals do
_IDENTIFIERS: dict[str, tuple[Callable[..., str], str]] = {
    "uscc": (validate_uscc, "校验不通过，应为18位统一社会信用代码（GB 32100）"),
    "id_number": (validate_id_card, "校验不通过，应为18位居民身份证号码（GB 11643）"),
    "phone": (validate_phone, "应为11位手机号码或带区号的固定电话，如 010-62345678"),
}


def _check(b: Blank, raw: Any, where: str) -> Any:
    """One value of one blank, normalised."""
    from yinxin.contracts.money import parse_rate

    t = b.type
    if t == "text":
        return _text(b, raw, where, 200)
    if t == "longtext":
        return _text(b, raw, where, 2000, multiline=True)
    if t in ("party", "person", "place"):
        v = _text(b, raw, where, {"party": 100, "person": 50, "place": 100}[t])
        return validate_name(v, field=where, max_len=b.max_length or 100)
    if t in _IDENTIFIERS:
        validate, said = _IDENTIFIERS[t]
        try:  # read after NFKC as the number blanks: full-width １３９… is 139…, stored in ASCII
            return validate(unicodedata.normalize("NFKC", str(raw)), field=where)
        except ValidationError as e:
            raise ValidationError(f"{b.label}：{said} / {e.message}", field=where) from None
    if t == "date":
        return _date(b, raw, where)
    if t == "amount":
        v = _amount(raw, f"{b.label}：", "金额", where)
        _decimal_bound(v, b, where, " 元")
        return str(v)
    if t == "percent":
        return _plain(_percent(b, raw, where))
    if t == "rate":
        if isinstance(raw, bool) or isinstance(raw, float):  # str() would hide it from parse_rate
            raise ValidationError(
                f'{b.label}：比率写作文字，如 "6%" 或 "0.5‰" / as text, not a binary float',
                field=where,
            )
        try:
            text = raw if isinstance(raw, Decimal) else unicodedata.normalize("NFKC", str(raw))
            v = parse_rate(text, field=where)
        except ValidationError as e:
            raise ValidationError(
                f"{b.label}：比率如 6%、0.06 或 0.5‰ / {e.message}", field=where
            ) from None
        _decimal_bound(v, b, where, said=_rate_said)
        if v != v.quantize(RATE_QUANTUM):  # kept as text of 20 characters (penalty_rate)
            raise ValidationError(
                f"{b.label}：比率最多 15 位小数 / a rate has at most 15 decimals (0.5‰ is 0.0005)",
                field=where,
            )
        return str(v)
    if t == "integer":
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise ValidationError(f"{b.label}：应为整数 / a whole number", field=where)
        s = unicodedata.normalize("NFKC", str(raw)).strip()
        if not re.fullmatch(r"-?[0-9]{1,12}", s):
            raise ValidationError(f"{b.label}：{raw!r} 不是整数 / not a whole number", field=where)
        n = int(s)
        if b.min is not None and n < int(b.min):
            raise ValidationError(f"{b.label}：不得小于 {b.min} / below {b.min}", field=where)
        if b.max is not None and n > int(b.max):
            raise ValidationError(f"{b.label}：不得大于 {b.max} / above {b.max}", field=where)
        return n
    if t == "choice":
        v = str(raw).strip()
        if v not in b.choices:
            raise ValidationError(
                f"{b.label}：应为 {' / '.join(b.choices)} 之一 / one of the choices", field=where
            )
        return v
    if t == "schedule":
        if not isinstance(raw, list) or len(raw) > MAX_SCHEDULE_ROWS:
            raise ValidationError(
                f"{b.label}：付款安排是 1–{MAX_SCHEDULE_ROWS} 行 / 1–{MAX_SCHEDULE_ROWS} rows",
                field=where,
            )
        rows = []
        for i, row in enumerate(raw, 1):
            at = f"{where}[{i}]"
            if not isinstance(row, dict) or set(row) - {"milestone", "percent", "amount"}:
                raise ValidationError(
                    f"{b.label}：第 {i} 行应有 milestone、percent（可选 amount）/ a row is "
                    "{milestone, percent[, amount]}",
                    field=at,
                )
            milestone = _text(
                Blank("milestone", f"{b.label}第{i}期付款条件", "text", max_length=300),
                row.get("milestone", ""),
                f"{at}.milestone",
                300,
            )
            if not milestone:
                raise ValidationError(
                    f"{b.label}：第 {i} 期的付款条件必填 / milestone required",
                    field=f"{at}.milestone",
                )
            percent = _percent(
                Blank("percent", f"{b.label}第{i}期比例", "percent"),
                row.get("percent", ""),
                f"{at}.percent",
            )
            if percent <= 0:
                raise ValidationError(
                    f"{b.label}：第 {i} 期比例应大于 0 / above 0", field=f"{at}.percent"
                )
            given = row.get("amount")
            amount = (
                None
                if _empty(given)
                else str(_amount(given, f"{b.label}：第 {i} 期", "金额", f"{at}.amount"))
            )
            rows.append({"milestone": milestone, "percent": _plain(percent), "amount": amount})
        total = sum(Decimal(r["percent"]) for r in rows)
        if total != 100:
            raise ValidationError(
                f"{b.label}：各期比例合计应为 100%，现为 {total}% / percentages must add up to 100",
                field=where,
            )
        return rows
    if t == "price_lines":
        return _price_lines(b, raw, where)
    if t == "pdf":
        from yinxin.contracts import attachments

        data = attachments.decode(raw, b.label, where)
        if data is None:
            return attachments.reference(raw, b.label, where)
        return attachments.inspect(data, b.label, where)
    raise ValidationError(f"unknown blank type {t!r}", field=where)  # pragma: no cover


def _row_text(
    b: Blank,
    row: dict,
    i: int,
    key: str,
    label: str,
    limit: int,
    *,
    required: bool = False,
    default: str = "",
) -> str:
    """One text cell of a table row, checked as a one-line text blank."""
    at = f"values.{b.name}[{i}].{key}"
    v = row.get(key)
    if _empty(v):
        if required:
            raise ValidationError(f"{b.label}：第 {i} 行的{label}必填 / required", field=at)
        return default
    return _text(Blank(key, f"{b.label}第{i}行{label}", "text"), v, at, limit)


def _price_lines(b: Blank, raw: Any, where: str) -> list[dict]:
    """Rows of a price table (002 附件 2 费用明细表): ``item`` (项目名称, optional — the seed
    writes it once for the rows under it), ``service`` (服务类型), ``quantity`` (a whole
    number, default 1), ``unit`` (单位, default 项), ``amount`` (含税价 of the line, yuan to
    the 分) and ``note`` (备注, optional)."""
    if not isinstance(raw, list) or len(raw) > MAX_PRICE_LINES:
        raise ValidationError(
            f"{b.label}：费用明细是 1–{MAX_PRICE_LINES} 行 / 1–{MAX_PRICE_LINES} rows", field=where
        )
    keys = {"item", "service", "quantity", "unit", "amount", "note"}
    rows = []
    for i, row in enumerate(raw, 1):
        at = f"{where}[{i}]"
        if not isinstance(row, dict) or set(row) - keys:
            raise ValidationError(
                f"{b.label}：第 {i} 行应有 service、amount（可选 item、quantity、unit、note）"
                " / a row is {item?, service, quantity?, unit?, amount, note?}",
                field=at,
            )

        service = _row_text(b, row, i, "service", "服务类型", 100, required=True)
        item = _row_text(b, row, i, "item", "项目名称", 100)
        unit = _row_text(b, row, i, "unit", "单位", 10, default="项")
        note = _row_text(b, row, i, "note", "备注", 100)
        q = row.get("quantity", 1)
        q = q if isinstance(q, bool) else unicodedata.normalize("NFKC", str(q)).strip()
        if isinstance(q, bool) or not re.fullmatch(r"[0-9]{1,7}", q) or int(q) < 1:
            raise ValidationError(
                f"{b.label}：第 {i} 行数量应为正整数 / a whole number from 1",
                field=f"{at}.quantity",
            )
        if _empty(row.get("amount")):
            raise ValidationError(
                f"{b.label}：第 {i} 行的含税价必填 / required", field=f"{at}.amount"
            )
        amount = _amount(row["amount"], f"{b.label}：第 {i} 行", "含税价", f"{at}.amount")
        if amount <= 0:
            raise ValidationError(
                f"{b.label}：第 {i} 行含税价应大于 0 / above 0", field=f"{at}.amount"
            )
        rows.append(
            {
                "item": item,
                "service": service,
                "quantity": int(str(q).strip()),
                "unit": unit,
                "amount": str(amount),
                "note": note,
            }
        )
    return rows


def _amounts(b: Blank, rows: list[dict], total: str | None) -> list[dict]:
    """Each row's amount from the total (the last row takes what rounding left, so the rows
    add up to the total exactly); an amount typed in a row must be that one."""
    from yinxin.contracts.money import allocate, format_amount

    if total is None:
        if any(r["amount"] is None for r in rows):
            raise ValidationError(
                f"{b.label}：没有总价时每期须写明金额 / each row needs its amount",
                field=f"values.{b.name}",
            )
        return rows
    parts = allocate(total, [Decimal(r["percent"]) / 100 for r in rows])
    out = []
    for i, (r, amount) in enumerate(zip(rows, parts, strict=True), 1):
        if r["amount"] is not None and Decimal(r["amount"]) != amount:
            raise ValidationError(
                f"{b.label}：第 {i} 期金额应为 {format_amount(amount)}（总价的 {r['percent']}%），"
                f"而不是 {format_amount(r['amount'])} / the amount does not match the percentage",
                field=f"values.{b.name}[{i}].amount",
            )
        out.append({**r, "amount": str(amount)})
    return out


def _lines_add_up(t: Template, b: Blank, rows: list[dict], total: str) -> None:
    """The price table's lines add up to the contract's price: the table and the clause that
    states the price cannot say two different things."""
    from yinxin.contracts.money import format_amount

    got = sum((Decimal(r["amount"]) for r in rows), Decimal(0))
    if got != Decimal(total):
        raise ValidationError(
            f"{b.label}：各行含税价合计 {format_amount(got)}，应等于{t.blank(b.total).label}"
            f" {format_amount(total)} / the lines must add up to {b.total}",
            field=f"values.{b.name}",
        )


def _no_anchor(value: Any, where: str, label: str) -> None:
    """Refuse an anchor text typed into a value, naming the value (a table's cell) and, as
    every refusal of ``fill`` does, saying the blank's label (and the row) first."""
    texts = (
        [(value, where, f"{label}：")]
        if isinstance(value, str)
        else [
            (str(v), f"{where}[{i}].{k}", f"{label}：第 {i} 行")
            for i, r in enumerate(value, 1)
            for k, v in r.items()
            if k in ROW_TEXT_KEYS
        ]
        if isinstance(value, list)
        else []
    )
    for text, at, said in texts:
        n = norm(text)
        if any(a in n for a in ANCHORS):
            raise ValidationError(
                f"{said}不得包含签章位置文字（如“甲方（签章）”）/ must not contain a signature "
                "anchor text",
                field=at,
            )


# --- loading -------------------------------------------------------------------------------------
def _load(data: dict, source_name: str) -> Template:
    """A template from its parsed file, checked: a broken template fails at start-up (and in
    the tests), not when someone fills it in."""

    def bad(msg: str) -> ValueError:
        return ValueError(f"template file {source_name}: {msg}")

    blanks = []
    for raw in data.get("blanks", []):
        b = Blank(
            name=raw["name"],
            label=raw["label"],
            type=raw["type"],
            required=raw.get("required", True),
            example=raw.get("example"),
            help=raw.get("help", ""),
            max_length=raw.get("max_length"),
            min=raw.get("min"),
            max=raw.get("max"),
            choices=tuple(raw.get("choices", ())),
            after=raw.get("after"),
            total=raw.get("total"),
            tax_rate=raw.get("tax_rate"),
            party=raw.get("party"),
        )
        if not _NAME.fullmatch(b.name) or b.type not in BLANK_TYPES:
            raise bad(f"blank {b.name!r} has a bad name or type {b.type!r}")
        if b.type == "choice" and not b.choices:
            raise bad(f"choice blank {b.name} lists no choices")
        blanks.append(b)
    names = [b.name for b in blanks]
    if len(set(names)) != len(names):
        raise bad("a blank name is used twice")
    parties = tuple(
        Party(p["role"], p["title"], p["name"], p.get("representative"))
        for p in data.get("parties", [])
    )
    if not parties or len({p.role for p in parties}) != len(parties):
        raise bad("parties are missing or a role is used twice")
    for p in parties:
        if p.role not in ROLES:
            raise bad(f"role {p.role!r} is not a signing role ({', '.join(ROLES)})")
        for n in (p.name, p.representative):
            if n is not None and n not in names:
                raise bad(f"party {p.role} names an unknown blank {n!r}")
    t = Template(
        code=data["code"],
        version=str(data["version"]),
        title=data["title"],
        source=data.get("source", ""),
        description=data.get("description", ""),
        parties=parties,
        blanks=tuple(blanks),
        text=data["body"]["text"],
        appendices=tuple(
            Appendix(
                number=str(a["number"]),
                title=a["title"],
                kind=a["kind"],
                blank=a.get("blank"),
                text=a.get("text", ""),
                optional=a.get("optional", False),
                pdf_blank=a.get("pdf_blank"),
            )
            for a in data.get("appendices", [])
        ),
    )
    used = set(_PLACEHOLDER.findall(t.text))
    unknown = used - set(names)
    if unknown:
        raise bad(f"the text uses unknown blanks {sorted(unknown)}")
    for b in blanks:
        if b.after and b.after not in names:
            raise bad(f"blank {b.name} is after an unknown blank {b.after!r}")
        if b.total and (b.total not in names or t.blank(b.total).type != "amount"):
            raise bad(f"schedule {b.name} divides {b.total!r}, which is not an amount blank")
        if b.tax_rate and (b.tax_rate not in names or t.blank(b.tax_rate).type != "rate"):
            raise bad(f"amount {b.name} is taxed at {b.tax_rate!r}, which is not a rate blank")
    if any(a in norm(t.text) for a in ANCHORS):
        raise bad("the text contains a signature anchor: only the signature blocks may")
    for b in blanks:
        if b.type == "price_lines" and (not b.total or t.blank(b.total).type != "amount"):
            raise bad(f"price table {b.name} must name its total, an amount blank")
    numbers = [a.number for a in t.appendices]
    if len(set(numbers)) != len(numbers):
        raise bad("an appendix number is used twice")
    for a in t.appendices:
        if a.kind not in APPENDIX_KINDS:
            raise bad(f"appendix {a.number} has an unknown kind {a.kind!r}")
        want = APPENDIX_KINDS[a.kind]
        if want is None:
            if a.blank or not a.text.strip() or _PLACEHOLDER.search(a.text):
                raise bad(f"appendix {a.number} is fixed text: text, no blank, no {{{{…}}}}")
        elif a.blank not in names or t.blank(a.blank).type != want:
            raise bad(f"appendix {a.number} ({a.kind}) needs a {want} blank, not {a.blank!r}")
        if any(x in norm(a.text) for x in ANCHORS):
            raise bad(f"appendix {a.number} contains a signature anchor")
        if a.pdf_blank and (
            a.kind != "document" or a.pdf_blank not in names or t.blank(a.pdf_blank).type != "pdf"
        ):
            raise bad(f"appendix {a.number}: pdf_blank must be a pdf blank of a document")
    try:
        t.fill(t.example_values())
    except ValidationError as e:
        raise bad(f"the examples do not fill the template: {e.field}: {e.message}") from None
    return t


@functools.cache
def _every_version() -> dict[tuple[str, str], Template]:
    """Every template file shipped with the package, by (code, version), read and checked
    once a process. A new version of a template is a new file (``tech-service.v2.toml``) beside
    the old one, which stays while contracts drafted from it may still be revised: a stored
    contract always finds the text it was drafted from."""
    out: dict[tuple[str, str], Template] = {}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            t = _load(tomllib.loads(entry.read_text("utf-8")), entry.name)
            if (t.code, t.version) in out:
                raise ValueError(f"template {t.code} version {t.version} is defined twice")
            out[(t.code, t.version)] = t
    return out


def _version_key(version: str) -> tuple[int, ...] | tuple[str]:
    try:
        return tuple(int(x) for x in version.split("."))
    except ValueError:
        return (version,)


@functools.cache
def library() -> dict[str, Template]:
    """The current (highest) version of every template, by code: what new contracts use."""
    out: dict[str, Template] = {}
    for (code, _version), t in sorted(
        _every_version().items(), key=lambda kv: (kv[0][0], _version_key(kv[0][1]))
    ):
        out[code] = t
    return dict(sorted(out.items()))


def get_template(code: str, version: str | None = None) -> Template:
    """The template ``code``: its current version, or ``version`` when a stored contract asks
    for its own."""
    code = str(code or "").strip()
    t = library().get(code)
    if t is None:
        raise NotFound(f"no contract template {code!r}", field="template")
    if version is None or t.version == version:
        return t
    old = _every_version().get((code, str(version)))
    if old is None:
        raise NotFound(
            f"template {code} has no version {version} (current: {t.version})",
            field="template_version",
        )
    return old


__all__ = [
    "APPENDIX_KINDS",
    "BLANK_TYPES",
    "Appendix",
    "Blank",
    "Party",
    "Template",
    "get_template",
    "library",
]
