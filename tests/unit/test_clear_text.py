"""The leak check the PIN tests use must still see a PIN in clear (tests/clear_text.py)."""

from __future__ import annotations

from tests.clear_text import in_clear


def test_a_pin_on_its_own_is_seen_and_one_inside_a_digest_is_not():
    for text in ("975310", '{"pin": "975310"}', "PIN 975310, refused", b"\x00975310\x01"):
        assert in_clear("975310", text), text
    # the run a fresh-clone run met: the six digits inside a SHA-256 of the audit chain
    for text in ("d7fd6d759753109fe0fbbd0f01125a35", "x975310", "9753101", b"ab975310cd"):
        assert not in_clear("975310", text), text
