"""Errors that adapters turn into exit codes and HTTP statuses.

Every refusal the platform makes is a ``YinxinError`` carrying a machine-readable ``code`` and,
where one input is to blame, the ``field`` that was wrong, so the CLI and the API can name it
without parsing messages. Messages never contain key material or PINs.
"""

from __future__ import annotations

import re


class YinxinError(Exception):
    """Base of every refusal. ``exit_code`` is the CLI's, ``http_status`` the API's.

    A kind of refusal names its three in the class statement (``class NotFound(YinxinError,
    exit_code=3, http_status=404, code="not_found")``); one that leaves some out, or sets them
    in its body, keeps its parent's for the others.
    """

    exit_code = 1
    http_status = 400
    code = "error"

    def __init_subclass__(
        cls,
        *,
        exit_code: int | None = None,
        http_status: int | None = None,
        code: str | None = None,
        **kwargs,
    ):
        super().__init_subclass__(**kwargs)
        given = {"exit_code": exit_code, "http_status": http_status, "code": code}
        for name, value in given.items():
            if value is not None:
                setattr(cls, name, value)

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def to_dict(self) -> dict:
        out = {"error": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


class ValidationError(YinxinError, exit_code=2, http_status=422, code="invalid"):
    """Input that is malformed or fails a check digit; names the field."""


class TooLarge(ValidationError, http_status=413, code="too_large"):
    """A file or body over its limit: the API's 413 (as its request-body guard answers an
    oversized body), the CLI's exit 2 like any bad input; names the field carrying it."""


class NotFound(YinxinError, exit_code=3, http_status=404, code="not_found"):
    """No such subscriber, certificate, seal, key, document…"""


class IllegalTransition(YinxinError, exit_code=4, http_status=409, code="illegal_transition"):
    """A lifecycle verb that the table of allowed moves does not permit from the current state."""


class Forbidden(YinxinError, exit_code=5, http_status=403, code="forbidden"):
    """Wrong PIN, wrong passphrase, a member without authorization, a locked seal."""


class Conflict(YinxinError, exit_code=6, http_status=409, code="conflict"):
    """The change collides with what is already there (a duplicate, a race lost)."""


class ConfigurationError(YinxinError, exit_code=7, http_status=500, code="configuration"):
    """The platform is set up wrongly or a dependency (key store, HSM, database) refuses."""


# A refusal the platform words in two languages reads "中文 / English" (or "…）/ English"). A
# value the user or their file chose (a package path, a signature's ID, a seal's esID) is quoted
# in the Chinese half: unquoted, one holding " / " was taken for the separator — the web
# pages' ``chineseDetail`` (static/api.js) and ``halves`` cut the message there — and one of
# English words made the half read as English, which the pages then did not show at all.
_QUOTE_PAIRS = (("“", "”"), ("「", "」"), ("《", "》"))
_CLOSES = {"'": "'", '"': '"', "“": "”", "「": "」", "《": "》"}
_CJK = re.compile(r"[\u3400-\u9fff]")
# in '…' (Python's repr of a value holding both ' and ") a backslash escapes the next character
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"[^\"]*\"|“[^”]*”|「[^」]*」|《[^》]*》")


def quoted(value: object) -> str:
    """``value`` in quotes for a refusal's Chinese half: “…”, or 「…」 or 《…》 for a value
    holding ” (the first pair whose closing mark it does not hold, so it cannot end them early;
    one holding all three has its ” shown as ″)."""
    text = str(value)
    for opening, closing in _QUOTE_PAIRS:
        if closing not in text:
            return f"{opening}{text}{closing}"
    return "“" + text.replace("”", "″") + "”"


def _separator(text: str, quotes: bool) -> int:
    """Where ``chineseDetail`` finds the separator (the same rule, in Python): a "/" after a
    space or a closing bracket with a space after it, outside quotes (with ``quotes``), Chinese
    before it and no Chinese character right after it; -1 when there is none."""
    open_: str | None = None
    escaped = False
    for i, c in enumerate(text):
        if open_:
            if escaped:
                escaped = False
            elif c == "\\" and open_ == "'":
                escaped = True  # \' or \\ inside Python's '…' (a repr): not its end
            elif c == open_:
                open_ = None
            continue
        if quotes and c in _CLOSES:
            if c == "'" and i and text[i - 1].isascii() and text[i - 1].isalpha():
                continue  # an apostrophe inside a word ("seal's") opens no quote
            open_ = _CLOSES[c]
            continue
        if c != "/" or i == 0 or not (text[i - 1].isspace() or text[i - 1] in "）)"):
            continue
        if not text[i + 1 : i + 2].isspace():
            continue
        after = text[i + 1 :].lstrip()
        if after and not _CJK.match(after[0]) and _CJK.search(_QUOTED.sub("", text[:i])):
            return i
    return -1


def halves(message: str) -> tuple[str, str]:
    """A "中文 / English" message as its Chinese and English halves, split where the web pages
    split it (not at a " / " inside a quoted value); a message of one language is both."""
    at = _separator(message, True)
    if at < 0:
        at = _separator(message, False)
    if at < 0:
        return message, message
    return message[:at].rstrip(), message[at + 1 :].lstrip()
