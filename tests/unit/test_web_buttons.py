"""A button outside a form is wired by its page's script (static/pages/<template>.js), often
only after an ``await`` (the session read, the page's data loaded), and so is a form's own
``type="button"`` button (预览 PDF, 填入示例, 添加签署方). Until then such a button was on the
screen and on, and a click did nothing at all — no request, no word — where a form not yet
bound says 页面正在加载 (static/forms.js). So every such button that shows when the page opens
is rendered ``disabled data-needs-script`` and switched on by api.js ``bindButton`` as its
listener is attached: it cannot be clicked before it works. (A button shown hidden, or inside a
hidden section or a ``<template>``, is shown by the script itself, after it has bound it.)
A file input or a drop zone shown at once is wired before the script awaits anything (a file
picked meanwhile was ignored; tests/e2e/test_web_loading.py shows it in a browser)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "src" / "yinxin" / "adapters" / "web"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
VOID |= {"track", "wbr"}


class _Shown(HTMLParser):
    """A template read with the elements open at each tag: ``shown`` says none of them hides
    what it holds (``hidden``, or a ``<template>``); ``take`` sees every start tag."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []  # (tag, hides what it holds)

    def take(self, tag: str, a: dict[str, str | None], shown: bool) -> None:
        raise NotImplementedError

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.take(tag, a, not any(hides for _, hides in self.stack))
        if tag not in VOID:
            self.stack.append((tag, "hidden" in a or tag == "template"))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return


class _Buttons(_Shown):
    """The buttons outside any form, and those of type="button" in one, that are not hidden
    (nor in a hidden element, nor in a ``<template>``) when the page is first shown: (line,
    attributes)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[int, dict[str, str | None]]] = []

    def take(self, tag: str, a: dict[str, str | None], shown: bool) -> None:
        shown = shown and "hidden" not in a
        in_form = any(t == "form" for t, _ in self.stack)
        if tag == "button" and shown and (not in_form or a.get("type") == "button"):
            self.found.append((self.getpos()[0], a))


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


class _FileControls(_Shown):
    """The file inputs (its own ``hidden`` aside: a label, the drop zone, is what shows) and the
    drop zones not inside a hidden element nor a ``<template>`` when the page is first shown:
    (id, is a drop zone)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, bool]] = []

    def take(self, tag: str, a: dict[str, str | None], shown: bool) -> None:
        if shown and tag == "input" and a.get("type") == "file":
            self.found.append((a.get("id") or "", False))
        if shown and "hidden" not in a and "dropzone" in (a.get("class") or "").split():
            self.found.append((a.get("id") or "", True))


def _before_the_first_await(script: str) -> str:
    """What a page script runs before its first top-level ``await`` (an unindented line)."""
    lines = script.splitlines()
    for i, line in enumerate(lines):
        if line[:1] not in ("", " ", "/", "}", ")", "]") and re.search(r"\bawait\b", line):
            return "\n".join(lines[:i])
    return script


def test_a_file_input_or_drop_zone_shown_at_once_is_wired_before_the_script_awaits():
    """A file picked or dropped while the page's first requests run (the session, the page's
    data) was ignored without a word on 发起签署 and, before, on 批量签署: a file input or a drop
    zone shown when the page opens gets its listener before the script awaits anything."""
    pages = set()
    for template in sorted((WEB / "templates").glob("*.html")):
        parser = _FileControls()
        parser.feed(template.read_text(encoding="utf-8"))
        if not parser.found:
            continue
        pages.add(template.name)
        script = WEB / "static" / "pages" / template.name.replace(".html", ".js")
        early = _before_the_first_await(script.read_text(encoding="utf-8"))
        for ident, zone in parser.found:
            where = f"{template.name}: #{ident}"
            assert ident and f'"{ident}"' in early, where
            event = "drop" if zone else "change"
            assert f'addEventListener("{event}"' in early, where
    assert {"flow_new.html", "batch.html", "verify.html"} <= pages
