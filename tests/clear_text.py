"""Whether a secret (a PIN, a one-time code) stands in clear in some text or bytes.

A six-digit PIN turns up by chance inside the long runs of hex and base64 a database and a
log are full of (digests, hash chains, serials, key identifiers): 975310 was found inside a
SHA-256 of the audit chain once, failing a test for a leak that was not there. A secret in
clear stands as a value of its own — a whole column, a JSON string, a word of a message — so
it counts only where no letter or digit borders it. Check each value of a table on its own,
so that neighbouring columns cannot border it either."""

from __future__ import annotations

import re


def in_clear(secret: str, text: str | bytes) -> bool:
    pattern = rb"(?<![0-9A-Za-z])" + re.escape(secret.encode()) + rb"(?![0-9A-Za-z])"
    data = text if isinstance(text, bytes) else text.encode()
    return re.search(pattern, data) is not None
