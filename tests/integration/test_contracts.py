"""Contracts from the template library, checked by outside tools and end to end.

* Every template renders: ``pdffonts`` lists every font embedded, ``pdftotext`` gives back
  every filled value (as the contract prints it: dates in Chinese, amounts in figures and
  capitals), every page carries 第 N 页 共 M 页, and each party's anchor is found exactly once
  by the same search the sign flow uses.
* Filling refuses bad values naming the blank, and a refused draft leaves the database and the
  file store as they were.
* A contract (the 002 platform contract) is sent through a real sign flow: each party signs at
  its anchor, the contract becomes signed, the signed file validates in pyHanko and pdfsig, and
  each seal sits on its party's anchor.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import subprocess
from decimal import Decimal

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from tests import dbdump
from tests.integration.server import yinxin_cli, yinxin_json
from tests.integration.signing_flow import (
    World,
    build_world,
    need,
    need_quiet,
    new_platform,
    outbox_lines,
    pdfsig,
    read_code,
)
from tests.integration.test_sign_flows import _pyhanko_valid
from yinxin.contracts.render import (
    appendix_lines,
    check_printable,
    display,
    render_contract,
    schedule_lines,
)
from yinxin.contracts.service import ContractSigner, ContractState
from yinxin.contracts.templates import get_template, library
from yinxin.errors import Conflict, IllegalTransition, NotFound, ValidationError
from yinxin.pdf.sign import find_anchor
from yinxin.store.models import AuditEvent
from yinxin.store.models.contracts import Contract

EVERY = sorted(library())


def _squash(text: str) -> str:
    """Text as compared: without white space (a value may wrap onto the next line)."""
    return "".join(text.split())


def _tool(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.fixture
def world(tmp_path, clock) -> World:
    p = new_platform(tmp_path / "home", clock)
    yield build_world(p, clock)
    p.close()


def _values(w: World, code: str) -> dict:
    """The template's examples with the world's parties as 甲方 and 乙方: their names, and
    甲方's credit code where the contract gives one (乙方, a person, has none: a required
    credit-code blank keeps the template's example, which a person's seal is not held to)."""
    t = get_template(code)
    v = t.example_values()
    v[t.party("甲方").name] = w.org.name
    v[t.party("乙方").name] = w.person.name
    for b in t.blanks:
        if b.type == "uscc" and b.party == "甲方":
            v[b.name] = w.org.uscc
    return v


# --- every template ---------------------------------------------------------------------------
def test_the_library_holds_the_seed_templates():
    assert set(EVERY) == {
        "tech-service",
        "tech-service-developer",
        "tech-service-consultant",
        "tech-service-intermediary",
        "tech-service-notarized",
        "platform-integration",
        "om-service",
        "certificate-agreement",
        "seal-agreement",
    }
    assert [p.role for p in get_template("tech-service-intermediary").parties] == [
        "甲方",
        "乙方",
        "中介方",
    ]
    assert [p.role for p in get_template("tech-service-notarized").parties] == [
        "甲方",
        "乙方",
        "鉴证单位",
        "公证单位",
    ]


@pytest.mark.parametrize("code", EVERY)
def test_every_template_renders_with_fonts_text_pages_and_anchors(code, tmp_path):
    need("pdffonts", "pdftotext", "pdfinfo")
    t = get_template(code)
    values = t.fill(t.example_values())
    pdf = render_contract(t, values, number="HT-20260304-TEST01")
    path = tmp_path / f"{code}.pdf"
    path.write_bytes(pdf)

    # every font embedded (the "emb" column), and there are fonts
    rows = _tool("pdffonts", str(path)).splitlines()[2:]
    assert rows, "no fonts listed"
    for row in rows:
        cols = row.split()
        assert cols[-5] == "yes", row  # emb sub uni object ID: emb is fifth from the end

    # the filled values come back out, as the contract prints them (a paragraph may go on
    # over a page break: the page footers are taken out, as a reader skips them)
    raw = _tool("pdftotext", str(path), "-")
    footer = re.compile(r"^合同编号 HT-20260304-TEST01\s+第 (\d+) 页 共 (\d+) 页$")
    footers = [m.groups() for m in map(footer.match, raw.splitlines()) if m]
    text = _squash("\n".join(x for x in raw.splitlines() if not footer.match(x)))
    listed = {a.blank: a for a in t.appendices if a.kind == "list"}  # numbered when printed
    for b in t.blanks:
        if b.type == "price_lines":
            continue  # a table, checked cell by cell in test_contract_appendices.py
        shown = (
            schedule_lines(values[b.name])
            if b.type == "schedule"
            else appendix_lines(listed[b.name], values) or []
            if b.name in listed
            else [display(t, b, values)]
        )
        for line in shown:
            assert _squash(line) in text, (b.name, line)
    assert _squash(t.title) in text and "HT-20260304-TEST01" in text

    # page numbers on every page
    pages = int(re.search(r"Pages:\s+(\d+)", _tool("pdfinfo", str(path)))[1])
    assert footers == [(str(n), str(pages)) for n in range(1, pages + 1)]

    # each party's anchor exactly once, on the last page of the contract proper (the
    # signature blocks close it; appendices, each from a new page headed 附件, follow)
    first_appendix = next(
        (
            n
            for n in range(1, pages + 1)
            if _tool("pdftotext", "-f", str(n), "-l", str(n), str(path), "-")
            .lstrip()
            .startswith("附件")
        ),
        pages + 1,
    )
    for party in t.parties:
        hits = find_anchor(pdf, party.anchor)
        assert len(hits) == 1, (party.anchor, hits)
        assert hits[0].page == first_appendix - 1


def test_amounts_in_figures_capitals_and_tax():
    t = get_template("platform-integration")
    values = t.fill(t.example_values())
    shown = display(t, t.blank("price"), values)
    assert shown.startswith("¥1,740,000.00（大写：人民币壹佰柒拾肆万元整")
    # 002: 1 740 000 with tax at 6 %: net = 1 740 000 / 1.06 = 1 641 509.433… → 1 641 509.43
    assert "不含税价¥1,641,509.43" in shown and "税额¥98,490.57" in shown
    rows = values["schedule"]
    assert [r["amount"] for r in rows] == ["1305000.00", "435000.00"]
    assert display(t, t.blank("late_rate"), values) == "3%"
    om = get_template("om-service")
    # 003 第十条（一）2: 千分之五 of the unpaid fee a day — the example is the seed's rate
    assert display(om, om.blank("late_rate"), om.fill(om.example_values())) == "5‰"
    # the last instalment takes what rounding left: the rows add up to the total exactly
    dev = get_template("tech-service-developer")
    v = dev.example_values() | {
        "price": "100000.01",
        "schedule": [
            {"milestone": "预付", "percent": "33.33"},
            {"milestone": "验收", "percent": "33.33"},
            {"milestone": "质保", "percent": "33.34"},
        ],
    }
    rows = dev.fill(v)["schedule"]
    assert sum(Decimal(r["amount"]) for r in rows) == Decimal("100000.01")


def test_line_breaking_keeps_amounts_whole_and_punctuation_off_line_starts():
    """避头尾 and unbroken figures, at every width from a narrow column to a full line."""
    from pyhanko.pdf_utils.writer import PdfFileWriter

    from yinxin.contracts.render import NO_END, NO_START, _fonts, wrap

    fonts = _fonts(PdfFileWriter())
    text = (
        "甲方应于验收合格后三十个工作日内，向乙方支付合同总价款的75%，即¥1,305,000.00"
        "（大写：人民币壹佰叁拾万伍仟元整）；逾期的，每日按未付金额的0.5‰支付违约金。"
        "（以下无正文）"
    )
    for width in range(60, 460, 7):
        lines = wrap(fonts, text, 10.5, float(width), 21.0)
        assert "".join(lines) == text, width
        for ln in lines[1:]:
            assert ln[0] not in NO_START, (width, ln)
        for ln in lines[:-1]:
            assert ln[-1] not in NO_END, (width, ln)
        if width >= 120:  # wide enough for the figure on one line: never split
            assert any("¥1,305,000.00" in ln for ln in lines), (width, lines)


# --- refusals ----------------------------------------------------------------------------------
BAD = [
    ("tech-service", {"client_uscc": "91110108MA01YX0031"}, "values.client_uscc"),
    ("tech-service", {"date_signed": "2026-02-30"}, "values.date_signed"),
    ("tech-service", {"date_signed": "2026年13月1日"}, "values.date_signed"),
    ("tech-service", {"price": "12.345"}, "values.price"),
    ("tech-service", {"price": "-5"}, "values.price"),
    ("tech-service", {"price": 1.5}, "values.price"),
    ("tech-service", {"price": "一百万"}, "values.price"),
    ("tech-service", {"price": "0"}, "values.price"),
    ("tech-service", {"payment_days": "0"}, "values.payment_days"),
    ("tech-service", {"payment_days": "十五"}, "values.payment_days"),
    ("tech-service", {"penalty_percent": "101"}, "values.penalty_percent"),
    ("tech-service", {"client_phone": "12345"}, "values.client_phone"),
    ("tech-service", {"client_name": ""}, "values.client_name"),
    ("tech-service", {"client_name": "北京\u202e公司"}, "values.client_name"),
    ("tech-service", {"project": "乙方（签章）"}, "values.project"),
    (
        "platform-integration",
        {"price_lines": [{"service": "甲方（盖章）", "amount": "1740000"}]},
        "values.price_lines[1].service",
    ),
    ("tech-service", {"project": "a\nb"}, "values.project"),
    ("tech-service", {"no_such_blank": "x"}, "values.no_such_blank"),
    ("seal-agreement", {"id_number": "110105199003071238"}, "values.id_number"),
    ("seal-agreement", {"business_type": "吊销"}, "values.business_type"),
    ("om-service", {"end_date": "2025-03-01"}, "values.end_date"),
    ("om-service", {"late_rate": "2%"}, "values.late_rate"),
    # NFKC makes full-width digits ASCII; \d and int() also took Arabic-Indic ones
    ("tech-service", {"date_signed": "٢٠٢٦-٠٣-٠٤"}, "values.date_signed"),
    ("tech-service", {"payment_days": "١٥"}, "values.payment_days"),
    ("tech-service", {"penalty_percent": "٥"}, "values.penalty_percent"),
    (
        "platform-integration",
        {"schedule": [{"milestone": "验收后", "percent": "75"}]},
        "values.schedule",
    ),
    (
        "platform-integration",
        {
            "schedule": [
                {"milestone": "验收后", "percent": "75", "amount": "1300000"},
                {"milestone": "上线满一年", "percent": "25"},
            ]
        },
        "values.schedule[1].amount",
    ),
    (
        "platform-integration",
        {"schedule": [{"milestone": "", "percent": "100"}]},
        "values.schedule[1].milestone",
    ),
    (
        "platform-integration",
        {"schedule": [{"milestone": "验收后", "percent": "abc"}]},
        "values.schedule[1].percent",
    ),
]


@pytest.mark.parametrize(("code", "change", "field"), BAD)
def test_fill_refuses_a_bad_value_naming_the_blank(code, change, field):
    t = get_template(code)
    with pytest.raises(ValidationError) as e:
        t.fill(t.example_values() | change)
    assert e.value.field == field, e.value.message
    # the page shows it, the CLI and the API say it: in Chinese, the English after — a
    # misspelt blank too (it was English only beside its two-language neighbours)
    assert re.search(r"[\u4e00-\u9fff]", e.value.message.split(" / ")[0]), e.value.message
    # …beginning with the blank's label, as docs/contracts.md says (an anchor typed into a
    # value was refused without it: the CLI's line did not say which blank in Chinese)
    name = field.removeprefix("values.").split("[")[0]
    if name in {b.name for b in t.blanks}:
        assert e.value.message.startswith(t.blank(name).label), e.value.message


def test_a_character_the_font_cannot_draw_is_refused_saying_the_blanks_label():
    """The renderer's refusal of an emoji (no glyph) named the field but said only
    ``字符“😀”…无法在合同中排版``: the CLI's line did not say which blank in Chinese. It
    begins with the blank's label (and the row of a table) as ``fill``'s refusals do."""
    t = get_template("platform-integration")
    v = t.fill(t.example_values())
    cases = [
        ({"project": "平台😀"}, "values.project", "项目名称："),
        (
            {"price_lines": [{"service": "集成费😀", "amount": "1740000"}]},
            "values.price_lines[1].service",
            "费用明细：第 1 行",
        ),
    ]
    for change, field, said in cases:
        with pytest.raises(ValidationError) as e:
            check_printable(t, v | change, None)
        assert e.value.field == field, e.value.message
        assert e.value.message.startswith(said + "字符“😀”"), e.value.message
    with pytest.raises(ValidationError) as e:
        check_printable(t, v, "标题😀")
    assert e.value.field == "title" and e.value.message.startswith("标题：字符"), e.value.message


def test_a_bad_title_is_refused_in_chinese_then_english(tmp_path, clock):
    """The title is typed beside the blanks (``--title``, the form's 标题, the API's
    ``title``) and printed at the contract's head, but an empty, over-long or hidden-character
    title was refused in English only, while a blank's refusal says it in Chinese first."""
    p = new_platform(tmp_path / "home", clock)
    try:
        t = get_template("tech-service")
        for title in (" ", "长" * 201, "技术\u202e服务"):
            with pytest.raises(ValidationError) as e:
                p.contracts.preview("tech-service", t.example_values(), title=title)
            assert e.value.field == "title", e.value.message
            assert e.value.message.startswith("标题"), e.value.message
            assert " / " in e.value.message, e.value.message
    finally:
        p.close()


def test_values_that_are_not_an_object_are_refused_in_chinese_then_english():
    """A list or text where the blank → value object belongs (an API body's ``values``): said
    in both languages, as every other refusal of ``fill`` is, naming ``values``."""
    t = get_template("tech-service")
    for bad in ([], "price=1", 7):
        with pytest.raises(ValidationError) as e:
            t.fill(bad)
        assert e.value.field == "values", e.value.message
        assert re.search(r"[\u4e00-\u9fff]", e.value.message.split(" / ")[0]), e.value.message


def test_full_width_digits_are_read_as_the_ascii_ones_nfkc_makes_them():
    """The blanks normalise by NFKC (what a Chinese input method types): a date, a number of
    days, a percentage and a rate in full-width digits fill as the ASCII ones."""
    t = get_template("tech-service")
    filled = t.fill(
        t.example_values()
        | {"date_signed": "２０２６年３月４日", "payment_days": "１５", "penalty_percent": "５％"}
    )
    assert (filled["date_signed"], filled["payment_days"], filled["penalty_percent"]) == (
        "2026-03-04",
        15,
        "5",
    )
    om = get_template("om-service")
    assert om.fill(om.example_values() | {"late_rate": "０.０５‰"})["late_rate"] == "0.00005"


def test_amounts_are_read_like_the_other_number_blanks():
    """The amount blanks (an amount, a schedule row's amount, a price line's 含税价) were the
    only number blanks not read after NFKC, so a full-width ￥１，７４０，０００ was refused
    where ２０２６年３月４日 and ７５％ were taken, and every refusal said 金额最多两位小数
    whatever was wrong (``abc``, ``-5``). Now they are NFKC-normalised then read by
    ``parse_amount`` (ASCII digits): full-width taken, other scripts' digits refused naming the
    blank, and the refusal says what is wrong."""
    t = get_template("platform-integration")
    v = t.example_values()
    rows = [dict(r) for r in v["schedule"]]
    rows[0]["amount"] = "１，３０５，０００．００"
    lines = [dict(r) for r in v["price_lines"]]
    lines[1]["amount"] = "１６８６６００"
    filled = t.fill(
        v | {"price": "￥１，７４０，０００．００", "schedule": rows, "price_lines": lines}
    )
    assert filled["price"] == "1740000.00"
    assert filled["schedule"][0]["amount"] == "1305000.00"
    assert filled["price_lines"][1]["amount"] == "1686600.00"
    lines[1]["amount"] = "١٦٨٦٦٠٠"
    rows[0]["amount"] = "-1305000"
    for change, field, said in (
        ({"price": "١٧٤٠٠٠٠"}, "values.price", "不是金额"),
        ({"price": "abc"}, "values.price", "'abc' 不是金额"),
        ({"price": "{what}{0}"}, "values.price", "'{what}{0}' 不是金额"),
        ({"price": "-1740000"}, "values.price", "金额不能为负数"),
        ({"price": 1740000.5}, "values.price", "金额写作文字"),
        ({"price": "1740000.001"}, "values.price", "金额最多两位小数"),
        ({"schedule": rows}, "values.schedule[1].amount", "第 1 期金额不能为负数"),
        ({"price_lines": lines}, "values.price_lines[2].amount", "第 2 行含税价"),
    ):
        with pytest.raises(ValidationError) as e:
            t.fill(v | change)
        assert e.value.field == field and said in e.value.message, e.value.message


def test_identifier_blanks_read_full_width_as_the_other_blanks_do():
    """A phone, ID number or credit code typed by a Chinese input method in full-width
    (``１３９００１３９０００``) was refused ``must be 11 digits`` — eleven digits were typed —
    or ``half-width`` in English after the Chinese, where a full-width date or amount beside it
    was taken. They are NFKC-normalised first now, as the other blanks, and stored in ASCII;
    what NFKC leaves outside ASCII (other scripts' digits) is still refused naming the blank."""
    from yinxin.identity import id_card_check_char

    t = get_template("certificate-agreement")
    first17 = "11010519491231002"
    id_number = first17 + id_card_check_char(first17)
    wide = str.maketrans(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-",
        "０１２３４５６７８９ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ－",
    )
    filled = t.fill(
        t.example_values()
        | {
            "subscriber_uscc": "91110108MA01YX0030".translate(wide),
            "subscriber_id_number": id_number.translate(wide),
            "subscriber_phone": "13900139000".translate(wide),
        }
    )
    assert (
        filled["subscriber_uscc"],
        filled["subscriber_id_number"],
        filled["subscriber_phone"],
    ) == ("91110108MA01YX0030", id_number, "13900139000")
    landline = t.fill(t.example_values() | {"subscriber_phone": "０１０－６２３４５６７８"})
    assert landline["subscriber_phone"] == "010-62345678"
    for name, typed in (
        ("subscriber_phone", "١٣٩٠٠١٣٩٠٠٠"),
        ("subscriber_id_number", id_number[:-1] + "٨"),
        ("subscriber_uscc", "91110108MA01YX003٠"),
    ):
        with pytest.raises(ValidationError) as e:
            t.fill(t.example_values() | {name: typed})
        assert e.value.field == f"values.{name}", e.value.message
        assert re.search(r"[\u4e00-\u9fff]", e.value.message.split(" / ")[0]), e.value.message


def test_a_rate_blank_refuses_a_binary_float_like_amount_and_percent_blanks():
    """The rate blank read ``str(value)``, so a JSON number reached ``parse_rate`` as text and
    its float artefact was stored: 0.1**4 + 0.2**5 filled as ``0.0004200000000000001``, and
    5e-05 was refused as the text '5e-05'. Now a float is refused naming the blank (as the
    amount and percent blanks refuse one); text and Decimal are read as before."""
    om = get_template("om-service")
    v = om.example_values()
    for given in (0.1**4 + 0.2**5, 0.0005, 5e-05):
        with pytest.raises(ValidationError) as e:
            om.fill(v | {"late_rate": given})
        assert e.value.field == "values.late_rate" and "比率写作文字" in e.value.message
    assert om.fill(v | {"late_rate": Decimal("0.0005")})["late_rate"] == "0.0005"
    assert om.fill(v | {"late_rate": "0.5‰"})["late_rate"] == "0.0005"


def test_a_rate_over_its_bound_is_refused_in_the_form_it_was_typed():
    """A rate blank takes 6%, 0.06 and 0.5‰, but its bound was said as the template file
    writes it: 2% over a 1% daily late rate was refused as 不得大于 0.01 (0.01 what — 1%,
    0.01%?). Now the bound is said as the contract prints a rate, its fraction after it."""
    om = get_template("om-service")
    with pytest.raises(ValidationError) as e:
        om.fill(om.example_values() | {"late_rate": "2%"})
    assert e.value.field == "values.late_rate"
    assert "不得大于 1%（0.01）" in e.value.message, e.value.message
    pi = get_template("platform-integration")
    with pytest.raises(ValidationError) as e:
        pi.fill(pi.example_values() | {"tax_rate": "25%"})
    assert "不得大于 20%（0.2）" in e.value.message, e.value.message
    assert pi.fill(pi.example_values() | {"tax_rate": "20%"})["tax_rate"] == "0.2"


def test_an_amount_beyond_what_capitals_write_is_refused_at_its_blank(world):
    """A contract prints every amount in capitals, which are written up to 壹万亿元 (10^12);
    a price of 10^13 passed the blank (parse_amount takes 15 digits) and the renderer then
    refused it naming ``amount``, in English only, not the blank. Now the blank refuses it,
    named and said in Chinese, and nothing is written; 10^12 itself is drafted."""
    p = world.p
    before = dbdump.dump(p)
    for code, name in (("tech-service", "price"), ("om-service", "annual_fee")):
        with pytest.raises(ValidationError) as e:
            p.contracts.draft(code, _values(world, code) | {name: "10000000000000"}, actor="t")
        assert e.value.field == f"values.{name}", e.value.to_dict()
        assert "不得超过" in e.value.message and "壹万亿元" in e.value.message
    rows = [{"milestone": "验收后", "percent": "100", "amount": "10000000000000"}]
    t = get_template("tech-service-developer")
    with pytest.raises(ValidationError) as e:
        t.fill(t.example_values() | {"schedule": rows})
    assert e.value.field == "values.schedule[1].amount", e.value.to_dict()
    assert dbdump.dump(p) == before
    top = p.contracts.draft(
        "om-service", _values(world, "om-service") | {"annual_fee": "1000000000000"}, actor="t"
    )
    assert top.values["annual_fee"] == "1000000000000.00"


def test_a_longtext_blank_of_several_lines_in_the_body_is_drafted_one_paragraph_a_line(
    world, tmp_path
):
    """A ``longtext`` blank takes several lines (the page's textarea); where the clause text
    holds it alone on a line (tech-service's 服务内容, the notarized contract's 履行期限 …) its
    line breaks reached the font shaper, which has no glyph for them: drafting raised a bare
    ValueError (HTTP 500, CLI exit 1) and nothing said why. Now each of its lines is a
    paragraph of the clause."""
    need("pdftotext")
    p = world.p
    lines = ["第一项：数据治理（含 ETL）与接口对接。", "第二项：系统运维，7×24 小时响应。"]
    for code, name in (("tech-service", "service_content"), ("tech-service-notarized", "term")):
        c = p.contracts.draft(code, _values(world, code) | {name: "\n".join(lines)}, actor="t")
        assert c.values[name] == "\n".join(lines)
        out = tmp_path / f"{code}.pdf"
        out.write_bytes(p.contracts.pdf(c.id).pdf)
        text = _tool("pdftotext", "-layout", str(out), "-")
        got = [ln.strip() for ln in text.splitlines() if ln.strip() in lines]
        assert got == lines, text


def test_a_percentage_is_stored_in_one_form_however_it_was_typed(world):
    """A percentage was stored as typed (``5``, ``5.0``, ``5.00`` three different values of
    one 5%), unlike amounts (to the 分) and rates (normalised), so revising 5 to 5.00 was
    taken as a change and recorded a revision whose contract read the same. Now a percentage
    is stored in its shortest form, as it is printed (5, 7.5)."""
    t = get_template("tech-service")
    for typed, stored in (("5.00", "5"), ("７.５０％", "7.5"), ("100.0", "100"), ("0.50", "0.5")):
        assert t.fill(t.example_values() | {"penalty_percent": typed})["penalty_percent"] == stored
    pi = get_template("platform-integration")
    rows = [{"milestone": "验收后", "percent": "75.00"}, {"milestone": "一年后", "percent": "25.0"}]
    got = pi.fill(pi.example_values() | {"schedule": rows})["schedule"]
    assert [r["percent"] for r in got] == ["75", "25"]
    p = world.p
    c = p.contracts.draft("tech-service", _values(world, "tech-service"), actor="t")
    with pytest.raises(ValidationError) as e:
        p.contracts.revise(
            c.id, c.values | {"penalty_percent": f"{c.values['penalty_percent']}.00"}
        )
    assert e.value.code == "nothing_to_change"


def test_a_missing_required_blank_is_named():
    t = get_template("platform-integration")
    v = t.example_values()
    del v["provider_uscc"]
    with pytest.raises(ValidationError) as e:
        t.fill(v)
    assert e.value.field == "values.provider_uscc"
    # an optional one may be left out: it prints as "/"
    t2 = get_template("tech-service")
    v2 = t2.example_values()
    del v2["maintenance_fee"]
    assert "maintenance_fee" not in t2.fill(v2)
    assert display(t2, t2.blank("maintenance_fee"), t2.fill(v2)) == "/"


def test_a_refused_draft_writes_nothing(world):
    p = world.p
    store = p.settings.documents_dir / "contracts"
    before = dbdump.dump(p)
    files = sorted(store.rglob("*")) if store.exists() else []
    cases = [
        (("tech-service", _values(world, "tech-service") | {"price": "1.001"}), "values.price"),
        # a character the contract's font cannot draw would not be in the signed text
        (
            ("tech-service", _values(world, "tech-service") | {"project": "项目😀"}),
            "values.project",
        ),
        (("nope", {}), "template"),
        (("tech-service", "not a dict"), "values"),
    ]
    for (code, values), field in cases:
        with pytest.raises((ValidationError, NotFound)) as e:
            p.contracts.draft(code, values, actor="王五")
        assert e.value.field == field
    with pytest.raises(ValidationError) as e:
        p.contracts.draft(
            "tech-service", _values(world, "tech-service"), owner_subscriber_id=world.person.id
        )
    assert e.value.field == "owner_subscriber_id"
    # the title the parties sign under reads as it is stored
    with pytest.raises(ValidationError) as e:
        p.contracts.draft(
            "tech-service", _values(world, "tech-service"), title="运维合同\u202e", actor="王五"
        )
    assert e.value.field == "title" and "U+202E" in e.value.message
    assert dbdump.dump(p) == before
    assert (sorted(store.rglob("*")) if store.exists() else []) == files


# --- the lifecycle -----------------------------------------------------------------------------
NO_REASON = ("须写明原因（1–500 个字符）", "give the reason (1–500 characters)")


def test_a_contract_withdrawn_without_a_reason_is_told_so_in_both_languages(world):
    """Withdrawing a contract (撤回: ``contract cancel``, ``POST /contracts/{id}/cancel``)
    with a blank reason was told "a reason of 1–500 characters", English alone, while its
    hidden-character refusal and a flow's own blank reason speak Chinese too; over the API an
    empty reason was pydantic's "reason: String should have at least 1 character" besides.
    Every one is 须写明原因（1–500 个字符） / give the reason (1–500 characters) now (the
    services' one rule, ``identity.reason_text``), naming ``reason``, exit 2 / 422, nothing
    written; the contract stays a draft."""
    from tests.conftest import cli_env, cli_refuses
    from tests.integration.api_world import keyed_client, problem_of
    from yinxin.errors import halves

    w, p = world, world.p
    c = p.contracts.draft("tech-service", _values(w, "tech-service"), actor="王五")
    secret = p.api_keys.create(name="oa", role="administrator", actor="t").secret
    with keyed_client(p, secret) as api:
        before = dbdump.dump(p)
        for reason in ("", "  ", "变" * 501):
            r = api.post(f"/api/v1/contracts/{c.id}/cancel", json={"reason": reason})
            body = problem_of(r, 422, "reason", "invalid")
            assert halves(body["detail"]) == NO_REASON, (reason[:3], body)
    for reason in ("", " "):
        args = ["contract", "cancel", str(c.id), "--reason", reason]
        cli_refuses(cli_env(p), args, "reason", NO_REASON)
    assert dbdump.diff(before, dbdump.dump(p)) == []
    assert p.contracts.get(c.id).state == ContractState.DRAFTED


def test_draft_revise_list_cancel(world):
    p = world.p
    c = p.contracts.draft(
        "om-service", _values(world, "om-service"), owner_subscriber_id=world.org.id, actor="王五"
    )
    assert c.state == ContractState.DRAFTED
    assert re.fullmatch(r"HT-\d{8}-[2-9A-HJ-NP-Z]{6}", c.number)
    f = p.contracts.pdf(c.id)
    assert not f.signed and hashlib.sha256(f.pdf).hexdigest() == c.pdf_sha256 == f.sha256
    assert [x.name for x in c.parties] == [world.org.name, world.person.name]

    revised = p.contracts.revise(
        c.id,
        c.values | {"annual_fee": "30000"},
        title="软件运维服务合同（2026 年度）",
        actor="王五",
    )
    assert revised.values["annual_fee"] == "30000.00" and revised.pdf_sha256 != c.pdf_sha256
    assert revised.title == "软件运维服务合同（2026 年度）" and revised.number == c.number
    with pytest.raises(ValidationError) as e:
        p.contracts.revise(c.id, c.values | {"annual_fee": "x"})
    assert e.value.field == "values.annual_fee"
    assert p.contracts.get(c.id).pdf_sha256 == revised.pdf_sha256

    other = p.contracts.draft("seal-agreement", _values(world, "seal-agreement"), actor="t")
    page = p.contracts.list(limit=1)
    assert [x.id for x in page.items] == [other.id] and page.next_after == other.id
    assert [x.id for x in p.contracts.list(after=page.next_after).items] == [c.id]
    assert [x.id for x in p.contracts.list(owner_subscriber_id=world.org.id).items] == [c.id]
    assert [x.id for x in p.contracts.list(template="seal-agreement").items] == [other.id]
    for typo in ("seal-agrement", ""):  # was an empty page, "(none)", as if there were none
        with pytest.raises(ValidationError) as e:
            p.contracts.list(template=typo)
        assert e.value.field == "template" and "seal-agreement" in e.value.message
    with pytest.raises(ValidationError) as e:
        p.contracts.list(state="signing")
    assert e.value.field == "state"

    for reason in (" ", "需求\u200b变更"):
        with pytest.raises(ValidationError) as e:
            p.contracts.cancel(c.id, reason)
        assert e.value.field == "reason"
    done = p.contracts.cancel(c.id, "需求变更", actor="王五")
    assert done.state == ContractState.CANCELLED and done.reason == "需求变更"
    for verb in (
        lambda: p.contracts.cancel(c.id, "again"),
        lambda: p.contracts.revise(c.id, c.values),
        lambda: p.contracts.start_signing(c.id, [], deadline=p.clock.now() + dt.timedelta(days=1)),
    ):
        with pytest.raises(IllegalTransition):
            verb()
    with p.db.read() as s:
        actions = [
            e.action
            for e in s.query(AuditEvent).filter(AuditEvent.subject_type == "contract")
            if e.subject_id == str(c.id)
        ]
    assert actions == ["contract.drafted", "contract.revised", "contract.cancelled"]
    assert p.verify_audit().ok


def test_a_revision_made_on_an_older_version_is_refused_not_saved_over(world):
    """Two editors opened the same draft; the second to save silently replaced the first's
    revision. A revision now says which version it edited (``based_on``: the pdf_sha256 it
    read): one made on a version revised since is refused (409, ``stale``, naming
    ``based_on``) and writes nothing; a malformed one is refused (422) before anything."""
    p = world.p
    c = p.contracts.draft("om-service", _values(world, "om-service"), actor="王五")
    first = p.contracts.revise(
        c.id, c.values | {"annual_fee": "30000"}, based_on=c.pdf_sha256, actor="王五"
    )
    assert first.values["annual_fee"] == "30000.00"
    before = dbdump.dump(p)
    with pytest.raises(Conflict) as e:
        p.contracts.revise(
            c.id, c.values | {"annual_fee": "40000"}, based_on=c.pdf_sha256, actor="赵六"
        )
    assert e.value.field == "based_on" and e.value.code == "stale", e.value.to_dict()
    assert c.number in e.value.message
    # said in Chinese first, as its neighbour nothing_to_change is (the CLI prints it, exit 6)
    assert re.search(r"[\u4e00-\u9fff]", e.value.message.split(" / ")[0]), e.value.message
    for bad in ("abc", c.pdf_sha256.upper(), 7):
        with pytest.raises(ValidationError) as e:
            p.contracts.revise(c.id, c.values, based_on=bad)
        assert e.value.field == "based_on"
    assert dbdump.dump(p) == before
    assert p.contracts.get(c.id).values["annual_fee"] == "30000.00"
    # read again, the change redone on the version it now is: saved
    again = p.contracts.revise(
        c.id, first.values | {"annual_fee": "40000"}, based_on=first.pdf_sha256, actor="赵六"
    )
    assert again.values["annual_fee"] == "40000.00"
    # without based_on the later revision replaces the earlier one, as before
    assert p.contracts.revise(c.id, c.values).values["annual_fee"] == c.values["annual_fee"]


def test_a_new_template_version_leaves_old_drafts_on_theirs(world):
    """Version 2 of a template beside version 1: new drafts take 2, a draft of 1 is revised
    and rendered from 1, and both print what their own version says."""
    import dataclasses

    from yinxin.contracts import templates as lib

    p = world.p
    old = p.contracts.draft("tech-service", _values(world, "tech-service"), actor="t")
    v1 = get_template("tech-service")
    v2 = dataclasses.replace(
        v1, version="2", text=v1.text + "\n## 九、新增条款\n第二版新增的条款。"
    )
    versions = lib._every_version()
    versions[("tech-service", "2")] = v2
    lib.library.cache_clear()
    try:
        assert get_template("tech-service").version == "2"
        new = p.contracts.draft("tech-service", _values(world, "tech-service"), actor="t")
        assert (new.template_version, old.template_version) == ("2", "1")
        revised = p.contracts.revise(old.id, old.values | {"price": "130000"}, actor="t")
        assert revised.template_version == "1"

        def text_of(c) -> str:
            pdf = p.contracts.pdf(c.id).pdf
            out = subprocess.run(
                ["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True
            )
            return _squash(out.stdout.decode())

        assert "第二版新增的条款" in text_of(new) and "第二版新增的条款" not in text_of(revised)
        with pytest.raises(NotFound) as e:
            get_template("tech-service", "7")
        assert e.value.field == "template_version"
    finally:
        del versions[("tech-service", "2")]
        lib.library.cache_clear()
    assert get_template("tech-service").version == "1"


def _signers(w: World) -> list[ContractSigner]:
    return [
        ContractSigner("乙方", w.yi.id, w.yi.seal.es_id),  # any order: turns follow the template
        ContractSigner("甲方", w.jia.id, w.jia.seal.es_id),
    ]


def _sign(w: World, token: str, party) -> None:
    w.clock.advance(minutes=7)  # the one-code-a-minute limit of intent confirmation
    before = outbox_lines(w.outbox)
    ch = w.p.flows.request_code(token)
    code = read_code(w.outbox, party.phone, after=before)
    w.p.flows.sign(token, pin=party.pin, challenge_id=ch.challenge_id, code=code)


def test_the_002_contract_is_signed_at_each_anchor_through_a_sign_flow(world, tmp_path):
    w, p = world, world.p
    c = p.contracts.draft(
        "platform-integration",
        _values(w, "platform-integration"),
        owner_subscriber_id=w.org.id,
        actor="王五",
    )
    deadline = p.clock.now() + dt.timedelta(days=3)

    # signers that do not match the parties are refused, naming the field, and nothing changes
    before = dbdump.dump(p)
    refusals = [
        ([ContractSigner("甲方", w.jia.id, w.jia.seal.es_id)], "signers"),
        ([*_signers(w), ContractSigner("中介方", w.person.id, w.yi.seal.es_id)], "signers[2].role"),
        ([*_signers(w)[:1], ContractSigner("乙方", w.jia.id, w.jia.seal.es_id)], "signers[1].role"),
        ([_signers(w)[0], ContractSigner("甲方", w.jia.id, "11000099999999")], "signers[1].seal"),
        (
            [_signers(w)[0], ContractSigner("甲方", w.org.id, w.yi.seal.es_id)],
            "signers[1].seal",
        ),
    ]
    for signers, field in refusals:
        with pytest.raises((ValidationError, NotFound)) as e:
            p.contracts.start_signing(c.id, signers, deadline=deadline, actor="王五")
        assert e.value.field == field, (field, e.value.message)
        if field.endswith(("signers", ".role")):  # a party missing, unknown or twice: said
            # in Chinese first, as not_the_party beside them (they were English only)
            said = e.value.message.split(" / ")[0]
            assert re.search(r"[\u4e00-\u9fff]{2}", said.replace("甲方", "").replace("乙方", "")), (
                e.value.message
            )
    assert dbdump.dump(p) == before

    sent = p.contracts.start_signing(c.id, _signers(w), deadline=deadline, actor="王五")
    assert sent.contract.state == ContractState.OUT_FOR_SIGNING
    flow = p.flows.get(sent.contract.flow_id)
    assert sorted((x.role, x.order) for x in flow.signers) == [("乙方", 2), ("甲方", 1)]
    assert {x.placements[0].anchor for x in flow.signers} == {"甲方（签章）", "乙方（签章）"}
    assert flow.documents[0].original_sha256 == c.pdf_sha256
    with pytest.raises(IllegalTransition):  # out for signing: no second flow, no revision
        p.contracts.start_signing(c.id, _signers(w), deadline=deadline)
    with pytest.raises(IllegalTransition):
        p.contracts.revise(c.id, c.values)

    links = {link.role: link.token for link in sent.links}
    _sign(w, links["甲方"], w.jia)
    assert p.contracts.get(c.id).state == ContractState.OUT_FOR_SIGNING
    _sign(w, links["乙方"], w.yi)

    done = p.contracts.get(c.id)  # the completed flow is taken into account on read
    final = p.flows.get(done.flow_id)
    assert done.state == ContractState.SIGNED
    assert done.signed_sha256 == final.documents[0].current_sha256
    assert done.signed_at == final.finished_at
    f = p.contracts.pdf(c.id)
    assert f.signed and hashlib.sha256(f.pdf).hexdigest() == done.signed_sha256
    original = p.contracts.files.get(c.pdf_sha256)
    assert f.pdf.startswith(original)  # incremental updates over the rendered contract
    with pytest.raises(IllegalTransition):
        p.contracts.cancel(c.id, "too late")

    # two valid signatures, and each party's seal sits on its anchor's end
    assert _pyhanko_valid(f.pdf, p.ca.certificate("root")) == 2
    reader = PdfFileReader(io.BytesIO(f.pdf))
    by_role = {}
    for sig in reader.embedded_signatures:
        reason = str(sig.sig_object.get("/Reason", ""))
        rect = [float(x) for x in sig.sig_field["/Rect"]]
        by_role["甲方" if "甲方" in reason else "乙方"] = rect
    assert set(by_role) == {"甲方", "乙方"}
    for role, (x0, y0, x1, y1) in by_role.items():
        [hit] = find_anchor(original, f"{role}（签章）")
        ax1, ay0, ay1 = hit.bbox[2], hit.bbox[1], hit.bbox[3]
        assert abs((x0 + x1) / 2 - ax1) < 1.0, (role, by_role[role], hit.bbox)
        assert abs((y0 + y1) / 2 - (ay0 + ay1) / 2) < 1.0
    if need_quiet("pdfsig"):
        path = tmp_path / "signed.pdf"
        path.write_bytes(f.pdf)
        blocks = pdfsig(path)
        assert len(blocks) == 2 and all("Signature is Valid." in b for b in blocks), blocks

    with p.db.read() as s:
        actions = [
            e.action
            for e in s.query(AuditEvent).filter(AuditEvent.subject_type == "contract")
            if e.subject_id == str(c.id)
        ]
    assert actions == ["contract.drafted", "contract.sent", "contract.signed"]
    p.contracts.get(c.id)  # settling is idempotent: no second event
    with p.db.read() as s:
        n = s.query(AuditEvent).filter(AuditEvent.action == "contract.signed").count()
    assert n == 1 and p.verify_audit().ok


def test_a_party_is_sealed_only_with_a_seal_of_the_party_the_contract_names(world):
    """A contract naming 甲方 北京某某科技有限公司 is not sent for signing with another
    organization's seal, nor 乙方 张三 with someone else's; a credit code the contract gives
    must be the seal owner's too. The refusal names ``signers[i].seal`` and writes nothing:
    no flow, no notice."""
    w, p = world, world.p
    deadline = p.clock.now() + dt.timedelta(days=3)
    cases = [
        ({"client_name": "北京某某科技有限公司"}, "signers[1].seal", "北京某某科技有限公司"),
        ({"provider_name": "李雷"}, "signers[0].seal", "李雷"),
        ({"client_uscc": "91110108MA01YX0043"}, "signers[1].seal", "91110108MA01YX0043"),
    ]
    for change, field, named in cases:
        c = p.contracts.draft(
            "platform-integration",
            _values(w, "platform-integration") | change,
            owner_subscriber_id=w.org.id,
            actor="王五",
        )
        before, sms = dbdump.dump(p), outbox_lines(w.outbox)
        with pytest.raises(ValidationError) as e:
            p.contracts.start_signing(c.id, _signers(w), deadline=deadline, actor="王五")
        assert (e.value.field, e.value.code) == (field, "not_the_party"), e.value.message
        assert named in e.value.message and "不能为" in e.value.message, e.value.message
        assert dbdump.dump(p) == before and outbox_lines(w.outbox) == sms
        assert p.contracts.get(c.id).state == ContractState.DRAFTED
    assert not p.flows.list().items

    # the name as the drafter typed it: full-width or ASCII brackets, spaces around, NFKC
    from yinxin.contracts.parties import same_name as _same_name

    assert _same_name(" 北京印信（示范）科技有限公司 ") == _same_name("北京印信(示范)科技有限公司")
    assert _same_name("北京印信示范科技有限公司") != _same_name("北京印信示范科技有限公")
    c = p.contracts.draft(
        "platform-integration",
        _values(w, "platform-integration") | {"client_name": f" {w.org.name}　"},
        owner_subscriber_id=w.org.id,
        actor="王五",
    )
    sent = p.contracts.start_signing(c.id, _signers(w), deadline=deadline, actor="王五")
    assert sent.contract.state == ContractState.OUT_FOR_SIGNING


PERSON_ID = "110105199003071239"  # 张三's, as build_world registers him


def _seal_agreement(w: World, **change: str):
    """A 电子印章申请表 between 甲方 张三 (the person, with the ID number the contract gives)
    and 乙方 the organization; its signers: 张三 with his personal seal, 王五 with the
    organization's."""
    values = get_template("seal-agreement").example_values() | {
        "holder_name": w.person.name,
        "id_number": PERSON_ID,
        "platform_name": w.org.name,
    }
    c = w.p.contracts.draft(
        "seal-agreement", values | change, owner_subscriber_id=w.org.id, actor="王五"
    )
    signers = [
        ContractSigner("甲方", w.person.id, w.yi.seal.es_id),
        ContractSigner("乙方", w.member.id, w.jia.seal.es_id),
    ]
    return c, signers


def test_a_person_party_is_sealed_only_by_the_holder_of_the_id_number_the_contract_gives(world):
    """A contract naming 甲方 张三 with 居民身份证号码 350102198511223455 was sent for signing
    with the seal of 张三 whose ID number is 110105199003071239: only the name was compared,
    so any namesake's seal was taken. Now the ID number the contract gives must be the seal
    owner's: refused naming ``signers[0].seal`` (``not_the_party``), the number shown masked
    as elsewhere, nothing written; the owner's own number is taken."""
    w, p = world, world.p
    deadline = p.clock.now() + dt.timedelta(days=3)
    other = "350102198511223455"
    c, signers = _seal_agreement(w, id_number=other)
    before, sms = dbdump.dump(p), outbox_lines(w.outbox)
    with pytest.raises(ValidationError) as e:
        p.contracts.start_signing(c.id, signers, deadline=deadline, actor="王五")
    assert (e.value.field, e.value.code) == ("signers[0].seal", "not_the_party"), e.value.message
    msg = e.value.message
    assert "居民身份证号码" in msg and "甲方" in msg and "不能为" in msg, msg
    assert "350***********3455" in msg and "110***********1239" in msg, msg
    assert other not in msg and PERSON_ID not in msg, msg
    assert dbdump.dump(p) == before and outbox_lines(w.outbox) == sms
    assert p.contracts.get(c.id).state == ContractState.DRAFTED
    assert not p.flows.list().items

    # a 张三 registered with a passport has no 居民身份证号码 to match: not the party either
    from tests.integration.signing_flow import PERSON_PIN, _form, _issue

    abroad = p.subscribers.add_person(
        name=w.person.name, id_type="passport", id_number="E12345678", phone="13600136000"
    )
    p.subscribers.accept_agreement(abroad.id, accepted_by=w.person.name)
    cert = _issue(p, abroad.id, "person-signing", pin=PERSON_PIN)
    form = _form(w.person.name, "E12345678") | {"id_type": "passport"}
    seal = p.seals.create(
        subscriber_id=abroad.id, kind="personal", certificate_serial=cert.serial, form=form
    )
    c, signers = _seal_agreement(w)
    signers[0] = ContractSigner("甲方", abroad.id, seal.es_id)
    with pytest.raises(ValidationError) as e:
        p.contracts.start_signing(c.id, signers, deadline=deadline, actor="王五")
    assert (e.value.field, e.value.code) == ("signers[0].seal", "not_the_party"), e.value.message
    assert "another ID document" in e.value.message, e.value.message
    assert PERSON_ID not in e.value.message and "E12345678" not in e.value.message

    sent = p.contracts.start_signing(c.id, _seal_agreement(w)[1], deadline=deadline, actor="王五")
    assert sent.contract.state == ContractState.OUT_FOR_SIGNING


def test_a_person_party_without_an_id_number_is_matched_by_name_only(world):
    """The 电子认证服务协议's 甲方 ID number is optional: left out, the party is matched by its
    name as before, and a person's seal of that name is taken."""
    w, p = world, world.p
    values = get_template("certificate-agreement").example_values() | {
        "subscriber_name": w.person.name,
        "ca_name": w.org.name,
    }
    values.pop("subscriber_uscc", None)
    values.pop("subscriber_id_number", None)
    c = p.contracts.draft(
        "certificate-agreement", values, owner_subscriber_id=w.org.id, actor="王五"
    )
    signers = [
        ContractSigner("甲方", w.person.id, w.yi.seal.es_id),
        ContractSigner("乙方", w.member.id, w.jia.seal.es_id),
    ]
    deadline = p.clock.now() + dt.timedelta(days=3)
    sent = p.contracts.start_signing(c.id, signers, deadline=deadline, actor="王五")
    assert sent.contract.state == ContractState.OUT_FOR_SIGNING


def test_a_cancelled_flow_returns_the_contract_to_draft_and_cancel_ends_the_flow(world):
    w, p = world, world.p
    c = p.contracts.draft("tech-service", _values(w, "tech-service"), actor="王五")
    deadline = p.clock.now() + dt.timedelta(days=3)
    sent = p.contracts.start_signing(c.id, _signers(w), deadline=deadline, actor="王五")
    p.flows.cancel(sent.contract.flow_id, "条款有误", actor="王五")
    # the minute job settles it without a reader (so its event, and webhook, follow at once)
    from yinxin.jobs.registry import by_name, default_jobs

    job = by_name(default_jobs(p), "contracts.settle")
    assert job.run(p) == f"settled: [{c.id}]"
    assert job.run(p) == "settled: []"
    back = p.contracts.get(c.id)
    assert back.state == ContractState.DRAFTED and back.flow_id is None
    assert "条款有误" in back.reason

    # corrected and sent again; cancelling the contract cancels its flow and kills the links
    fixed = p.contracts.revise(c.id, c.values | {"price": "130000"}, actor="王五")
    again = p.contracts.start_signing(fixed.id, _signers(w), deadline=deadline, actor="王五")
    assert again.contract.flow_id != sent.contract.flow_id
    gone = p.contracts.cancel(c.id, "不再需要", actor="王五")
    assert gone.state == ContractState.CANCELLED
    assert p.flows.get(again.contract.flow_id).state == "cancelled"
    with pytest.raises(IllegalTransition):
        p.flows.signer_for_link(again.links[0].token)
    with p.db.read() as s:
        row = s.get(Contract, c.id)
        assert row.state == "cancelled" and row.flow_id == again.contract.flow_id


def test_a_contract_whose_flow_passed_its_deadline_reads_returned_before_the_sweep(world):
    """A contract out for signing whose flow's deadline passed, before ``flows.expire`` ran,
    still read 签署中 (``out_for_signing``, listed under it) in ``contracts.get``/``list``,
    ``GET /contracts/{id}`` and ``contract show`` while its flow read 已过期, and could be
    neither revised nor sent again. The flow can no longer be signed, extended or withdrawn,
    so settling treats it as expired (``flows.effective_state``): the contract is returned to
    draft, 签署流程 N 已过期, and can be corrected and sent again; the flow itself is not
    written until its sweep runs."""
    from typer.testing import CliRunner

    from tests.conftest import cli_env
    from tests.integration.api_world import keyed_client
    from yinxin.adapters.cli import app as cli_app
    from yinxin.store.models.flows import SignFlow

    w, p = world, world.p
    c = p.contracts.draft("tech-service", _values(w, "tech-service"), actor="王五")
    deadline = p.clock.now() + dt.timedelta(days=3)
    sent = p.contracts.start_signing(c.id, _signers(w), deadline=deadline, actor="王五")
    flow_id = sent.contract.flow_id
    # the deadline passes, on this test's clock and on the system clock the CLI reads
    with p.db.transaction() as s:
        s.get(SignFlow, flow_id).deadline = p.clock.now() - dt.timedelta(minutes=1)
    assert p.flows.get(flow_id).state == "expired"

    got = p.contracts.get(c.id)
    assert got.state == ContractState.DRAFTED and got.flow_id is None, got
    assert got.reason == f"签署流程 {flow_id} 已过期"
    assert p.contracts.list(state="out_for_signing").items == ()
    assert [x.id for x in p.contracts.list(state="drafted").items] == [c.id]
    with p.db.read() as s:
        assert s.get(SignFlow, flow_id).state == "started"  # the flow is the sweep's to write
        returned = s.query(AuditEvent).filter_by(action="contract.returned").one()
        assert json.loads(returned.data)["flow_state"] == "expired"
    secret = p.api_keys.create(name="oa", role="administrator", actor="t").secret
    with keyed_client(p, secret) as api:
        body = api.get(f"/api/v1/contracts/{c.id}").json()
        assert (body["state"], body["flow_id"]) == ("drafted", None), body
    shown = CliRunner().invoke(cli_app, ["contract", "show", str(c.id), "--json"], env=cli_env(p))
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["state"] == "drafted"

    # corrected and sent again; the sweep later expires the old flow and changes nothing here
    fixed = p.contracts.revise(c.id, c.values | {"price": "130000"}, actor="王五")
    again = p.contracts.start_signing(fixed.id, _signers(w), deadline=deadline, actor="王五")
    assert again.contract.state == ContractState.OUT_FOR_SIGNING
    assert p.flows.expire_due().expired == (flow_id,)
    assert p.contracts.settle() == []
    assert p.contracts.get(c.id).flow_id == again.contract.flow_id

    # withdrawing a contract whose flow lapsed: the contract is cancelled, the flow (which
    # can no longer be withdrawn) is not touched and is left to expire
    with p.db.transaction() as s:
        s.get(SignFlow, again.contract.flow_id).deadline = p.clock.now() - dt.timedelta(minutes=1)
    gone = p.contracts.cancel(c.id, "不再需要", actor="王五")
    assert gone.state == ContractState.CANCELLED and gone.reason == "不再需要"
    assert p.flows.get(again.contract.flow_id).state == "expired"
    with p.db.read() as s:
        assert s.get(SignFlow, again.contract.flow_id).state == "started"


def test_a_contract_changed_while_its_flow_was_made_is_not_sent(world, monkeypatch):
    """The flow is made outside the contract's transaction: a revision in between is caught
    by the compare-and-set, and the new flow is cancelled."""
    w, p = world, world.p
    c = p.contracts.draft("tech-service", _values(w, "tech-service"), actor="王五")
    real_create = p.flows.create

    def create_then_revise(*a, **kw):
        flow = real_create(*a, **kw)
        p.contracts.revise(c.id, c.values | {"price": "99999"}, actor="其他人")
        return flow

    monkeypatch.setattr(p.flows, "create", create_then_revise)
    with pytest.raises(Conflict) as e:
        p.contracts.start_signing(c.id, _signers(w), deadline=p.clock.now() + dt.timedelta(days=1))
    assert e.value.code == "contract_changed"
    assert p.contracts.get(c.id).state == ContractState.DRAFTED
    [flow] = p.flows.list().items
    assert flow.state == "cancelled"


def test_draft_list_and_settle_on_sqlite_and_postgresql(any_platform):
    """The rows, the JSON values, the locking reads and the settling query on both databases:
    a contract sent and its flow cancelled comes back as a draft; a refused draft writes
    nothing."""
    p = any_platform
    org = p.subscribers.add_organization(
        name="北京印信示范科技有限公司",
        uscc="91110108MA01YX0030",
        legal_representative="李四",
        contact_name="王五",
        contact_phone="010-62345678",
        email="ops@example.cn",  # no mobile: notices go by e-mail
    )
    t = get_template("platform-integration")
    before = dbdump.dump(p)
    with pytest.raises(ValidationError) as e:
        p.contracts.draft(t.code, t.example_values() | {"tax_rate": "300%"}, actor="t")
    assert e.value.field == "values.tax_rate"
    assert dbdump.dump(p) == before
    c = p.contracts.draft(t.code, t.example_values(), owner_subscriber_id=org.id, actor="t")
    assert p.contracts.get(c.id).values["schedule"][0]["amount"] == "1305000.00"
    assert [x.id for x in p.contracts.list(owner_subscriber_id=org.id).items] == [c.id]
    # a flow that ended is taken into account on read: here one made by hand, then cancelled
    from yinxin.store.models.flows import SignFlow

    now = p.clock.now()
    with p.db.transaction() as s:
        flow = SignFlow(
            title="t",
            created_by="t",
            state="cancelled",
            signing_order="sequential",
            deadline=now + dt.timedelta(days=1),
            created_at=now,
            finished_at=now,
            reason="拒签：金额有误",
        )
        s.add(flow)
        s.flush()
        row = s.get(Contract, c.id)
        row.state, row.flow_id = "out_for_signing", flow.id
    back = p.contracts.get(c.id)
    assert back.state == ContractState.DRAFTED and "金额有误" in back.reason
    assert p.contracts.cancel(c.id, "作废", actor="t").state == ContractState.CANCELLED
    assert p.verify_audit().ok


# --- the command line ---------------------------------------------------------------------------
def test_cli_template_lines_its_blanks_up_and_names_an_appendixs_pdf_blank(tmp_path):
    """``yinxin contract template platform-integration``: the type column was 9 wide, so
    ``price_lines`` pushed its required/optional word out of line; and 附件 1 read ``(from
    specification)`` only, though docs/contracts.md gives it either way, as the text or as
    the ``specification_pdf`` blank's PDF — the one blank ``--attach`` takes."""
    home = tmp_path / "cli"
    new_platform(home).close()
    out = yinxin_cli(["contract", "template", "platform-integration"], home).stdout
    rows = [ln for ln in out.splitlines() if re.search(r" (required|optional) ", ln)]
    assert len(rows) == len(get_template("platform-integration").blanks), out
    assert len({re.search(r" (required|optional) ", ln).start() for ln in rows}) == 1, out
    [spec] = [ln for ln in out.splitlines() if "附件 1《技术规范书》" in ln]
    assert "specification_pdf" in spec, spec


def test_cli_templates_draft_and_a_refusal(tmp_path):
    home = tmp_path / "cli"
    p = new_platform(home)  # the CLI process runs on the system clock
    p.close()
    listed = yinxin_json(["contract", "templates"], home)
    assert {t["code"] for t in listed} == set(EVERY)
    drafted = yinxin_json(["contract", "draft", "tech-service", "--example"], home)
    assert drafted["state"] == "drafted" and drafted["values"]["price"] == "120000.00"
    bad = yinxin_cli(
        [
            "contract",
            "draft",
            "tech-service",
            "--example",
            "--set",
            "date_signed=2026-02-29",
            "--json",
        ],
        home,
        check=False,
    )
    assert bad.returncode == 2, bad.stderr
    assert '"field": "values.date_signed"' in bad.stdout
    out = tmp_path / "c.pdf"
    got = yinxin_json(["contract", "pdf", str(drafted["id"]), "--out", str(out)], home)
    assert got["sha256"] == drafted["pdf_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    # revise: on the version read now, or refused when --based-on names an older one
    d = str(drafted["id"])
    revised = yinxin_json(["contract", "revise", d, "--set", "payment_days=30"], home)
    assert revised["values"]["payment_days"] == 30
    stale = yinxin_cli(
        ["contract", "revise", d, "--set", "payment_days=45", "--based-on", drafted["pdf_sha256"]],
        home,
        check=False,
    )
    assert stale.returncode == 6 and "based_on" in stale.stdout + stale.stderr, stale
    again = ["contract", "revise", d, "--set", "payment_days=45", "--based-on"]
    assert yinxin_json([*again, revised["pdf_sha256"]], home)["values"]["payment_days"] == 45


def test_cli_a_blank_given_twice_is_refused_not_the_last_taken(tmp_path):
    """``--set payment_days=30 --set payment_days=45`` drafted with 45 (the last ``--set``
    taken, the first dropped without a word), as did a blank given by ``--set`` and
    ``--attach``; a ``--signer`` key given twice is refused, and so is this now, naming the
    option, exit 2, nothing drafted. ``--set`` over ``--values`` or ``--example`` still
    overrides."""
    home = tmp_path / "cli"
    p = new_platform(home)  # the CLI process runs on the system clock
    p.close()
    pdf = tmp_path / "spec.pdf"
    pdf.write_bytes(b"%PDF-1.7\n%%EOF\n")
    draft = ["contract", "draft", "tech-service", "--example", "--json"]
    cases = [
        (["--set", "payment_days=30", "--set", "payment_days=45"], "set"),
        (["--set", "payment_days=30", "--set", " payment_days =45"], "set"),
        (["--attach", f"specification_pdf={pdf}", "--attach", f"specification_pdf={pdf}"],
         "attach"),
        (["--set", "specification_pdf=x", "--attach", f"specification_pdf={pdf}"], "attach"),
    ]  # fmt: skip
    for more, field in cases:
        r = yinxin_cli([*draft, *more], home, check=False)
        assert r.returncode == 2, (more, r.stdout, r.stderr)
        err = json.loads(r.stdout)
        assert err["field"] == field and "twice" in err["message"], err
    assert yinxin_json(["contract", "list"], home)["items"] == []
    drafted = yinxin_json([*draft, "--set", "payment_days=30"], home)
    assert drafted["values"]["payment_days"] == 30


def test_cli_a_values_file_with_a_member_given_twice_is_refused(tmp_path):
    """``--values v.json`` holding ``{"payment_days": 30, "payment_days": 45}`` drafted with
    45 (Python's json keeps the last; another reader of the file may take the first), where
    the API refuses such a body. Now it is refused naming values, exit 2, nothing drafted."""
    home = tmp_path / "cli"
    p = new_platform(home)  # the CLI process runs on the system clock
    p.close()
    v = tmp_path / "v.json"
    v.write_text('{"payment_days": 30, "payment_days": 45}', "utf-8")
    args = ["contract", "draft", "tech-service", "--example", "--values", str(v), "--json"]
    r = yinxin_cli(args, home, check=False)
    assert r.returncode == 2, (r.stdout, r.stderr)
    err = json.loads(r.stdout)
    assert err["field"] == "values" and "'payment_days' is given twice" in err["message"], err
    assert yinxin_json(["contract", "list"], home)["items"] == []
    v.write_text('{"payment_days": 45}', "utf-8")
    assert yinxin_json(args, home)["values"]["payment_days"] == 45


def test_a_revision_that_changes_nothing_is_refused_and_writes_nothing(world, tmp_path):
    """Revising a draft with the values and title it already has rendered the PDF again and
    wrote a ``contract.revised`` event (and a new ``pdf_sha256``: the PDF's dates differ) for a
    revision that changed nothing. Now it is refused (422 / exit 2, field ``values``, code
    ``nothing_to_change``) and nothing is written; the same values written differently (a
    full-width digit, the amount with separators) are the same values."""
    p = world.p
    c = p.contracts.draft("om-service", _values(world, "om-service"), actor="王五")
    store = p.settings.documents_dir / "contracts"
    before, files = dbdump.dump(p), sorted(store.rglob("*"))
    fee = c.values["annual_fee"]
    for values, title in (
        (c.values, None),
        (c.values, c.title),
        (c.values | {"annual_fee": f"¥{Decimal(fee):,}"}, f"  {c.title} "),
    ):
        with pytest.raises(ValidationError) as e:
            p.contracts.revise(c.id, values, title=title, based_on=c.pdf_sha256, actor="王五")
        assert e.value.field == "values" and e.value.code == "nothing_to_change", e.value
        assert "没有修改" in e.value.message
    assert dbdump.dump(p) == before and sorted(store.rglob("*")) == files
    # a new title alone, or one value, is a change
    titled = p.contracts.revise(c.id, c.values, title="年度运维合同", actor="王五")
    assert titled.title == "年度运维合同" and titled.pdf_sha256 != c.pdf_sha256


def test_cli_revise_that_changes_nothing_is_refused_exit_2(tmp_path):
    home = tmp_path / "cli"
    new_platform(home).close()
    drafted = yinxin_json(["contract", "draft", "tech-service", "--example"], home)
    d = str(drafted["id"])
    days = str(drafted["values"]["payment_days"])
    same = yinxin_cli(
        ["contract", "revise", d, "--set", f"payment_days={days}", "--json"], home, check=False
    )
    assert same.returncode == 2, same
    assert '"field": "values"' in same.stdout and "nothing_to_change" in same.stdout, same.stdout
    shown = yinxin_json(["contract", "show", d], home)
    assert shown["pdf_sha256"] == drafted["pdf_sha256"]


def test_a_contract_naming_one_party_twice_is_refused(world, tmp_path):
    """A contract of the library drafted with 甲方 and 乙方 the same party (one name pasted
    into both blanks, or typed again in other width, case or spacing) was drafted, and could be
    sent for signing: one seal would sign for both. The names are compared as a seal's owner is
    (``same_name``, the service desk's rule), refused naming the later party's name blank
    (``same_party``; 422 in the API, exit 2 in the CLI), on drafting and on revising, for every
    pair of parties (中介方 too), and nothing is written."""
    from starlette.testclient import TestClient

    from tests.integration.api_world import problem_of
    from yinxin.adapters.http.server import create_app

    p = world.p
    a = world.org.name
    ok = p.contracts.draft("om-service", _values(world, "om-service"), actor="王五")
    store = p.settings.documents_dir / "contracts"
    before, files = dbdump.dump(p), sorted(store.rglob("*"))
    cases = [
        ("om-service", {"provider_name": a}, "values.provider_name"),
        ("platform-integration", {"provider_name": f" {a}  "}, "values.provider_name"),
        (
            "tech-service",
            {"client_name": "Acme（中国） 公司", "provider_name": "ACME(中国)  公司"},
            "values.provider_name",
        ),
        # 乙方 again as the intermediary: the later of the two is named
        (
            "tech-service-intermediary",
            {"intermediary_name": world.person.name},
            "values.intermediary_name",
        ),
    ]
    for code, change, field in cases:
        with pytest.raises(ValidationError) as e:
            p.contracts.draft(code, _values(world, code) | change, actor="王五")
        assert (e.value.field, e.value.code) == (field, "same_party"), e.value
        assert "不能是同一方" in e.value.message
    with pytest.raises(ValidationError) as e:
        p.contracts.revise(ok.id, ok.values | {"provider_name": a.upper()}, actor="王五")
    assert (e.value.field, e.value.code) == ("values.provider_name", "same_party")
    assert dbdump.dump(p) == before and sorted(store.rglob("*")) == files
    key = p.api_keys.create(
        name="甲方管理员", role="organization_admin", organization_id=world.org.id, actor="t"
    ).secret
    before = dbdump.dump(p)
    with TestClient(create_app(p, jobs=False), base_url="http://127.0.0.1:8000") as c:
        body = {"template": "om-service", "values": _values(world, "om-service")}
        body["values"]["provider_name"] = a
        r = c.post("/api/v1/contracts", json=body, headers={"Authorization": f"Bearer {key}"})
        problem_of(r, 422, "values.provider_name", "same_party")
    # the app publishes its CRLs on starting: every other table is as it was
    assert dbdump.dump(p) | {"crls": []} == before | {"crls": []}
    home = tmp_path / "cli"
    new_platform(home).close()
    draft = ["contract", "draft", "platform-integration", "--example", "--json"]
    same = ["--set", "client_name=ＡＢＣ 公司", "--set", "provider_name=abc  公司"]
    res = yinxin_cli([*draft, *same], home, check=False)
    assert res.returncode == 2, res
    assert json.loads(res.stdout)["field"] == "values.provider_name", res.stdout
    assert yinxin_json(["contract", "list"], home)["items"] == []


def _both(err: dict, english: str) -> None:
    """``err``'s message is "中文 / English": a Chinese half, then ``english`` (the words it
    had alone before, some followed by the parser's own detail)."""
    from yinxin.errors import halves

    zh, en = halves(err.get("message") or err.get("detail"))
    assert zh != en and re.search(r"[\u4e00-\u9fff]", zh), err
    assert en.startswith(english), (en, english)


def test_cli_values_and_owner_refusals_are_said_in_chinese_then_english(world, tmp_path):
    """A contract's blanks are refused in Chinese, then English; the ``--values`` file, a
    ``--set``/``--attach`` of another form or given twice, and an ``--owner`` that is no
    organization were refused in English alone beside them (``'x' is not name=value``, "the
    owner must be an organization: …"). Each is "中文 / English" now, the English as it was,
    under the same field and exit code, nothing drafted."""
    from typer.testing import CliRunner

    from tests.conftest import cli_env
    from yinxin.adapters.cli import app as cli_app

    w, p = world, world.p
    v = tmp_path / "v.json"
    draft = ["contract", "draft", "tech-service", "--example"]
    files = [
        (b'{"payment_days": 30, "payment_days": 45}', f"{v}: 'payment_days' is given twice"),
        (b"\xff{}", f"{v} is not UTF-8 JSON: "),
        (b"[" * 100_000 + b"]" * 100_000, f"{v} is nested too deeply"),
        (b"[1]", f"{v} must hold a JSON object of blank name → value, not a list"),
    ]
    cases = [
        (["--set", "payment_days=30", "--set", "payment_days=45"], 2, "set",
         "payment_days is given twice (by --set or --attach); give each blank once"),
        (["--set", "payment_days"], 2, "set", "'payment_days' is not name=value"),
        (["--attach", "specification_pdf"], 2, "attach",
         "'specification_pdf' is not name=file.pdf"),
        (["--owner", str(w.person.id)], 2, "owner",
         f"the owner must be an organization: subscriber {w.person.id} is a person"),
        (["--owner", "99999"], 3, "owner", "no subscriber 99999"),
    ]  # fmt: skip
    env = cli_env(p)
    before = dbdump.dump(p)
    for data, english in files:
        v.write_bytes(data)
        r = CliRunner().invoke(cli_app, [*draft, "--values", str(v), "--json"], env=env)
        assert r.exit_code == 2, (english, r.stdout, r.stderr)
        err = json.loads(r.stdout)
        assert err["field"] == "values", err
        _both(err, english)
    for more, code, field, english in cases:
        r = CliRunner().invoke(cli_app, [*draft, *more, "--json"], env=env)
        assert r.exit_code == code, (more, r.stdout, r.stderr)
        err = json.loads(r.stdout)
        assert err["field"] == field, err
        _both(err, english)
    listed = ["contract", "list", "--owner", str(w.person.id), "--json"]
    r = CliRunner().invoke(cli_app, listed, env=env)
    assert r.exit_code == 2 and json.loads(r.stdout)["field"] == "owner", r.stdout
    _both(json.loads(r.stdout), "the owner must be an organization")
    r = CliRunner().invoke(cli_app, [*draft, "--set", "payment_days"], env=env)
    assert r.exit_code == 2 and r.stderr.startswith("error [set]: 'payment_days' 应为"), r.stderr
    assert "/ 'payment_days' is not name=value" in r.stderr, r.stderr
    assert dbdump.diff(before, dbdump.dump(p)) == []
    assert not p.contracts.list().items


def test_send_refusals_of_the_deadline_and_an_unusable_seal_are_said_in_both_languages(world):
    """``contract send``'s ``--days``/``--deadline`` refusals, a deadline past or beyond a
    year (the API's too), and a signer's seal the signer may not use (a member whose grant was
    withdrawn) were English alone, where the party's wrong seal beside them (not_the_party)
    is said in Chinese first. Each is "中文 / English" now — field, code, exit code and HTTP
    status as before — and nothing is written: no flow, the contract a draft."""
    from typer.testing import CliRunner

    from tests.conftest import cli_env
    from tests.integration.api_world import keyed_client, problem_of
    from yinxin.adapters.cli import app as cli_app

    w, p = world, world.p
    c = p.contracts.draft(
        "tech-service",
        _values(w, "tech-service"),
        owner_subscriber_id=w.org.id,
        actor="王五",
    )
    now = p.clock.now()
    past, far = now - dt.timedelta(days=1), now + dt.timedelta(days=400)
    signers = [
        f"role=甲方,subscriber={w.jia.id},seal={w.jia.seal.es_id}",
        f"role=乙方,subscriber={w.yi.id},seal={w.yi.seal.es_id}",
    ]
    send = ["contract", "send", str(c.id), *(x for s in signers for x in ("--signer", s))]
    cases = [
        (["--days", "3", "--deadline", far.isoformat()], "days",
         "give --days or --deadline, not both"),
        (["--days", "0"], "days", "days must be a whole number from 1 to 366"),
        (["--deadline", "tomorrow"], "deadline", "not an ISO 8601 time"),
        (["--deadline", past.isoformat()], "deadline", "the deadline is in the past"),
        (["--deadline", far.isoformat()], "deadline", "the deadline must be within a year"),
    ]  # fmt: skip
    env = cli_env(p)
    secret = p.api_keys.create(name="oa", role="administrator", actor="t").secret
    p.seals.withdraw(w.jia.seal.es_id, w.member.id, actor=w.org.name)
    unusable = (
        f"seal {w.jia.seal.es_id} cannot be used by subscriber {w.member.id}: subscriber "
        f"#{w.member.id} is not authorized to use seal {w.jia.seal.es_id}"
    )
    with keyed_client(p, secret) as api:
        before = dbdump.dump(p)
        for more, field, english in cases:
            r = CliRunner().invoke(cli_app, [*send, *more, "--json"], env=env)
            assert r.exit_code == 2, (more, r.stdout, r.stderr)
            err = json.loads(r.stdout)
            assert err["field"] == field, err
            _both(err, english)
        r = CliRunner().invoke(cli_app, [*send, "--days", "3", "--json"], env=env)
        assert r.exit_code == 2, (r.stdout, r.stderr)
        err = json.loads(r.stdout)
        assert (err["field"], err["error"]) == ("signers[0].seal", "not_authorized"), err
        _both(err, unusable)
        nowhere = [*send[:3], "--signer", f"role=甲方,subscriber={w.jia.id},seal=11000026999999"]
        r = CliRunner().invoke(cli_app, [*nowhere, *send[5:], "--days", "3", "--json"], env=env)
        assert r.exit_code == 3, (r.stdout, r.stderr)
        err = json.loads(r.stdout)
        assert err["field"] == "signers[0].seal", err
        _both(err, "no seal 11000026999999")

        def body(deadline: dt.datetime) -> dict:
            return {
                "deadline": deadline.isoformat(),
                "signers": [
                    {"role": "甲方", "subscriber_id": w.jia.id, "seal": w.jia.seal.es_id},
                    {"role": "乙方", "subscriber_id": w.yi.id, "seal": w.yi.seal.es_id},
                ],
            }

        url = f"/api/v1/contracts/{c.id}/signing"
        for when, english in ((past, "the deadline is in the past"), (far, "within a year")):
            r = api.post(url, json=body(when))
            _both(problem_of(r, 422, "deadline", "invalid"), english.split("within")[0])
        r = api.post(url, json=body(now + dt.timedelta(days=3)))
        _both(problem_of(r, 422, "signers[0].seal", "not_authorized"), unusable)
        drafts = {"template": "tech-service", "values": _values(w, "tech-service")}
        r = api.post("/api/v1/contracts", json=drafts | {"owner_subscriber_id": w.person.id})
        _both(problem_of(r, 422, "owner_subscriber_id"), "the owner must be an organization")
        r = api.post("/api/v1/contracts", json=drafts | {"owner_subscriber_id": 99999})
        _both(problem_of(r, 404, "owner_subscriber_id"), "no subscriber 99999")
        assert dbdump.diff(before, dbdump.dump(p)) == []
    assert p.contracts.get(c.id).state == ContractState.DRAFTED
    assert not p.flows.list().items
