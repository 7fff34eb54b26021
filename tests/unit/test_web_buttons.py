"""A button outside a form is wired by its page's script (static/pages/<template>.js), often
only after an ``await`` (the session read, the page's data loaded), and so is a form's own
``type="button"`` button (预览 PDF, 填入示例, 添加签署方). Until then such a button was on the
screen and on, and a click did nothing at all — no request, no word — where a form not yet
bound says 页面正在加载 (static/forms.js). So every such button that shows when the page opens
is rendered ``disabled data-needs-script`` and switched on by api.js ``bindButton`` as its
listener is attached: it cannot be clicked before it works. (A button shown hidden, or inside a
hidden section or a ``<template>``, is shown by the script itself, after it has bound it.)"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "src" / "yinxin" / "adapters" / "web"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
VOID |= {"track", "wbr"}


class _Buttons(HTMLParser):
    """The buttons outside any form, and those of type="button" in one, that are not hidden
    (nor in a hidden element, nor in a ``<template>``) when the page is first shown: (line,
    attributes)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []  # (tag, hides what it holds)
        self.found: list[tuple[int, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        shown = not any(hides for _, hides in self.stack) and "hidden" not in a
        in_form = any(t == "form" for t, _ in self.stack)
        if tag == "button" and shown and (not in_form or a.get("type") == "button"):
            self.found.append((self.getpos()[0], a))
        if tag not in VOID:
            self.stack.append((tag, "hidden" in a or tag == "template"))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return


def _shown_buttons() -> dict[str, list[tuple[int, dict[str, str | None]]]]:
    out = {}
    for template in sorted((WEB / "templates").glob("*.html")):
        parser = _Buttons()
        parser.feed(template.read_text(encoding="utf-8"))
        if parser.found:
            out[template.name] = parser.found
    return out


def test_the_buttons_a_script_binds_start_off_until_it_has():
    shown = _shown_buttons()
    # the pages that have such buttons now (a new one is checked the same way)
    pages = {"desk_service.html", "desk_audit.html", "my_certificate.html"}
    assert pages | {"contract_new.html", "flow_new.html"} <= set(shown)
    for name, buttons in shown.items():
        for line, attrs in buttons:
            where = f"{name}:{line} {attrs}"
            assert "disabled" in attrs and "data-needs-script" in attrs, where
        script = WEB / "static" / "pages" / name.replace(".html", ".js")
        assert "bindButton(" in script.read_text(encoding="utf-8"), f"{name}: bindButton"


def test_bind_button_switches_the_button_on():
    api = (WEB / "static" / "api.js").read_text(encoding="utf-8")
    body = api.split("export function bindButton(", 1)[1].split("\n}\n", 1)[0]
    assert "addEventListener" in body
    assert "button.disabled = false" in body
