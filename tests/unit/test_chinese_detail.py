"""The web pages show a refusal's Chinese half (``chineseDetail`` in static/api.js), split at the
separator the server writes ("中文 / English", "…）/ English"), whatever either half quotes.
The function runs under node over refusals the server code itself makes (a contract blank,
an OFD part, a seal check), each with what a Chinese page must show."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.page_js import run_page_function
from yinxin.contracts.templates import get_template
from yinxin.errors import ValidationError, halves, quoted
from yinxin.ofd.document import Box
from yinxin.seals import ses_signature

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def chinese_detail(tmp_path: Path, details: list[str]) -> list[str | None]:
    """``chineseDetail`` of each detail, as the page's own api.js says it (run by node)."""
    return run_page_function(tmp_path, "api.js", "chineseDetail", details, "f(x)")


def refusal(call) -> str:
    """The detail the API would give for what ``call`` refuses."""
    with pytest.raises(ValidationError) as e:
        call()
    return e.value.message


def fill(code: str, **values: str) -> str:
    t = get_template(code)
    return refusal(lambda: t.fill({**t.example_values(), **values}))


def test_the_chinese_half_is_taken_at_the_servers_separator(tmp_path):
    when = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC).isoformat()
    signer = "北京某某科技有限公司"
    seal = "北京 / Beijing 合同专用章"
    cases = [
        # a seal check's detail: the English half starts with the quoted name (ses_signature)
        (
            ses_signature._bi(f"{signer!r} 的证书在 {when} 有效", f"{signer!r} valid at {when}"),
            f"'{signer}' 的证书在 {when} 有效",
        ),
        # a quoted name with " / " in it, in both halves
        (
            ses_signature._bi(
                f"电子印章 {seal!r}（1101）：制章者签名验证通过",
                f"seal {seal!r} (1101): maker signature verifies",
            ),
            f"电子印章 '{seal}'（1101）：制章者签名验证通过",
        ),
        # a bad value of two lowercase English words, quoted in the Chinese half
        (
            refusal(lambda: Box.parse("abc def", "StampAnnot Boundary")),
            "OFD 文件：StampAnnot Boundary 不是“x y w h”形式的矩形（'abc def'）",
        ),
        (
            fill("om-service", response_hours_workday="four hours"),
            "工作日响应时限（小时）：'four hours' 不是整数",
        ),
        # " / " between Chinese words in the Chinese half (the choices)
        (
            fill("platform-integration", settlement="wire transfer"),
            "结算方式：应为 转账 / 现金 之一",
        ),
        (fill("tech-service", price="12.345"), "本项目报酬：金额最多两位小数"),
        # the separator after a closing bracket (pdf/verify, contracts/service)
        (
            f"签署时证书不在有效期内（{when}）/ the certificate was not valid at {when}",
            f"签署时证书不在有效期内（{when}）",
        ),
        # the party's name as the contract gives it (contracts/parties), with " / " in it
        (
            "合同的甲方是“华信 / Huaxin Co”，印章 1101 属于“张三”，不能为甲方签章 / the contract "
            "names 甲方 'Huaxin / Huaxin Co'; seal 1101 is '张三''s",
            "合同的甲方是“华信 / Huaxin Co”，印章 1101 属于“张三”，不能为甲方签章",
        ),
        # a PDF name in the Chinese half is not the separator (no space after its slash)
        (
            "签名域的 /Lock 为 /All，不能再加签名 / the field's /Lock is /All",
            "签名域的 /Lock 为 /All，不能再加签名",
        ),
        # English that merely quotes a Chinese value: not shown
        ("cannot freeze seal '张三之印': it is revoked", None),
        ("cannot freeze seal 张三之印: it is revoked", None),
        # a Chinese half saying a library's English outside quotes: not shown
        (
            "OFD 文件：OFD.xml 不是格式正确的 XML（Opening and ending tag mismatch） / OFD: "
            "OFD.xml is not well-formed XML",
            None,
        ),
        ("note: String should have at most 500 characters", None),
        ("", None),
    ]
    got = chinese_detail(tmp_path, [d for d, _ in cases])
    assert [(d, g) for (d, _), g in zip(cases, got, strict=True)] == cases


def test_halves_splits_a_refusal_where_the_page_does(tmp_path):
    """``errors.halves`` (the server's split, as OFD's list problems are re-worded with it)
    and the page's chineseDetail take the same Chinese half: not at a " / " inside a value
    ``quoted`` in it — “…”, or 「…」 for a value holding ” — nor inside a quoted location."""
    cases = [
        (
            f"OFD 文件：缺少文档根节点 {quoted('Doc_0/a / b.xml')} / OFD: the DocRoot "
            "Doc_0/a / b.xml is missing",
            "OFD 文件：缺少文档根节点 “Doc_0/a / b.xml”",
        ),
        (
            f"OFD 文件：{quoted('Doc_0/my part.xml')} 为空 / OFD: Doc_0/my part.xml is empty",
            "OFD 文件：“Doc_0/my part.xml” 为空",
        ),
        (
            f"条目 {quoted('a ” / b')}：位置 '/../a / b.xml' 指向文件包之外 / entry a ” / b: "
            "location '/../a / b.xml' leaves the package",
            "条目 「a ” / b」：位置 '/../a / b.xml' 指向文件包之外",
        ),
        (
            f"签署时证书不在有效期内（{quoted('x / y')}）/ the certificate was not valid",
            "签署时证书不在有效期内（“x / y”）",
        ),
    ]
    details = [d for d, _ in cases]
    assert chinese_detail(tmp_path, details) == [zh for _, zh in cases]
    assert [halves(d)[0] for d in details] == [zh for _, zh in cases]
    assert halves("only English / here") == ("only English / here",) * 2


def test_a_seals_id_from_the_file_is_shown_whole_in_the_seal_check(tmp_path):
    """A seal's esID is the seal maker's (any printable ASCII in a seal made elsewhere): the
    seal check said it unquoted, "电子印章 '北京…'（ES / seal one）：…", and the page's
    chineseDetail cut the Chinese half at its " / " ('…（ES'). It is quoted now."""
    from tests.fixtures.ses_world import make_world

    w = make_world(datetime.now(UTC))
    a = w.party_a
    detail = _seal_check_detail(w, "ES / seal one", a.name)
    assert chinese_detail(tmp_path, [detail]) == [
        f"电子印章 '{a.name}'（“ES / seal one”）：制章者签名验证通过"
    ], detail


def test_a_name_holding_both_quotes_is_not_cut_inside_its_python_quotes(tmp_path):
    """A seal check quotes the seal's name the Python way (``{name!r}``); a name holding both '
    and " is written '北京\\'某" / Beijing…', the apostrophe escaped. The page's chineseDetail
    (and errors.halves) took that \\' for the end of the quote, so the " after it opened a quote
    never closed, and the message was cut at the first " / " anywhere — inside the name: the
    Chinese half and part of the English were shown. A backslash inside '…' now escapes the
    next character, as in the repr that wrote it. The seal is made and verified for real."""
    from tests.fixtures.ses_world import make_world

    w = make_world(datetime.now(UTC))
    name = "北京'某\" / Beijing 合同专用章"
    detail = _seal_check_detail(w, "1101", name)
    zh = f"电子印章 {name!r}（“1101”）：制章者签名验证通过"
    assert "\\'" in zh and detail.startswith(zh + " / "), detail
    assert chinese_detail(tmp_path, [detail]) == [zh], detail
    assert halves(detail) == (zh, detail[len(zh) + 3 :]), detail


def _seal_check_detail(w, es_id: str, name: str) -> str:
    """The seal check's detail of a GB/T 38540 signature made and verified for real with a seal
    of ``es_id`` and ``name`` (party A's certificate, the world's seal maker)."""
    from tests.fixtures.ses_world import make_seal

    a = w.party_a
    seal = make_seal(w.ca_key, w.ca, a.cert, es_id=es_id, name=name, personal=False, now=w.now)
    der = ses_signature.build_ses_signature(
        seal,
        b"data",
        property_info="test",
        signer_key=a.key,
        signer_cert_der=a.cert,
        time_info=w.now,
    )
    report = ses_signature.verify_ses_signature(der, b"data", trust=w.trust)
    return next(c.detail for c in report.checks if c.name == "seal")


def test_a_hidden_character_and_a_blank_reason_are_shown_in_chinese(tmp_path):
    """``refuse_hidden`` (a name, title, reason or address holding U+202E, a NUL, ESC…) and a
    sign flow's blank reason (撤回, 拒签) were English only: the page's chineseDetail found no
    Chinese half and showed the field's general message. Their Chinese half is shown now, split
    where ``halves`` splits it, the character's (upper-case) name staying in the English."""
    from yinxin.identity import reason_text, refuse_hidden
    from yinxin.pki.pinkeys import check_pin

    details = [
        refusal(lambda: refuse_hidden("张\u202e三", "name")),
        refusal(lambda: refuse_hidden("a\x1bb", "reason")),
        refusal(lambda: reason_text(" ")),
        refusal(lambda: check_pin("864\u200b2097", "new_pin")),  # a new seal PIN
    ]
    zh = [
        "第 2 个字符 U+202E 是不可见字符或控制字符，须为可打印的普通文字",
        "第 2 个字符 U+001B 是不可见字符或控制字符，须为可打印的普通文字",
        "须写明原因（1–500 个字符）",
        "PIN 中有不可见字符或控制字符，须为可打印字符",
    ]
    assert chinese_detail(tmp_path, details) == zh, details
    assert [halves(d)[0] for d in details] == zh
    assert halves(details[0])[1] == (
        "contains an invisible or control character U+202E (RIGHT-TO-LEFT OVERRIDE) at "
        "position 2; it must be plain printable text"
    )
