"""Every audit action the platform writes has a Chinese name on the desk's 审计日志
(static/pages/desk_audit.js ACTIONS): one without is listed as 其他操作 with its English code.
The actions are read from the source: the literal ``"<subject>.<verb>"`` passed to the audit
helpers, and the verbs given to ``audit_seal`` (``seal.<verb>``)."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "yinxin"
AUDIT_JS = SRC / "adapters" / "web" / "static" / "pages" / "desk_audit.js"

# an audit call's action: action="x.y", or "x.y" as an argument of event / _audit / record
LITERAL = re.compile(
    r"""(?:action\s*=\s*|(?:event|_audit|_audit_registration|record)\([^()"]*?,\s*)"""
    r""""([a-z_]+\.[a-z_]+)\""""
)
SEAL_VERB = re.compile(r"""audit_seal\(\s*[^,()"]+,\s*[^,()"]+,\s*"([a-z_]+)\"""")  # its third


def written() -> set[str]:
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        text = path.read_text("utf-8")
        found |= set(LITERAL.findall(text))
        found |= {f"seal.{v}" for v in SEAL_VERB.findall(text)}
    return found


def named() -> set[str]:
    text = AUDIT_JS.read_text("utf-8")
    block = text[text.index("const ACTIONS = {") : text.index("};", text.index("const ACTIONS"))]
    return set(re.findall(r'"([a-z_]+\.[a-z_]+)":', block))


def test_every_audit_action_written_has_a_chinese_name():
    actions = written()
    assert {"registration.code_requested", "seal.pin_changed", "signing.batch_signed"} <= actions
    assert sorted(actions - named()) == []
