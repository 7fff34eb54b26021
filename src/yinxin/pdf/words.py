"""How a PDF signature's coverage, its changes after signing and the source of its revocation
status are said, in Chinese and English.

One table each, because a relying party reads the same verdict in three places — the text
report (``yinxin verify``), the Chinese PDF report and the verification web page — and must
find the same words in all of them. The text and PDF reports print both languages
(:func:`bilingual`); the web page, which is in Chinese, gets the Chinese half through the
page shell (``adapters/web``: ``Page.words``). Nothing heavy is imported here, so the web
shell and the GB/T 38540 readers can take these without loading the verifier.
"""

from __future__ import annotations

from collections.abc import Mapping

#: ``SignatureReport.coverage`` (pyHanko's coverage levels; GB/T 38540 PDFs are judged the same)
COVERAGE_WORDS: dict[str, tuple[str, str]] = {
    "entire_file": ("覆盖整个文件", "entire file"),
    "entire_revision": ("覆盖签署时的文件版本", "entire signed revision"),
    "contiguous_block_from_start": ("覆盖文件开头的连续部分", "a block from the start"),
    "unclear": ("覆盖范围不明", "unclear"),
}

#: ``SignatureReport.changes_after``: what was added to the file after this signature
CHANGE_WORDS: dict[str, tuple[str, str]] = {
    "none": ("无", "none"),
    "allowed": ("仅有允许的修改（后续签名、表单、LTV 数据）", "allowed only"),
    "other": ("有不允许的修改", "disallowed changes"),
}

#: ``SignatureReport.revocation_source``: where the signer's certificate status came from
REVOCATION_SOURCE_WORDS: dict[str, tuple[str, str]] = {
    "embedded": ("文件内嵌的吊销信息", "embedded"),
    "online": ("在线查询", "online"),
    "none": ("未检查", "not checked"),
}


def bilingual(table: Mapping[str, tuple[str, str]], value: str) -> str:
    """``"中文 / English"`` for ``value``; a value the table does not know is shown as it is
    (a newer verifier's word must not vanish from an older report)."""
    words = table.get(value)
    return f"{words[0]} / {words[1]}" if words else value


def chinese(table: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """The Chinese half of a table, for the web page."""
    return {key: zh for key, (zh, _en) in table.items()}


__all__ = [
    "CHANGE_WORDS",
    "COVERAGE_WORDS",
    "REVOCATION_SOURCE_WORDS",
    "bilingual",
    "chinese",
]
