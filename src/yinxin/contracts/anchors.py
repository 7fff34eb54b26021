"""A contract's signing roles and their signature anchors (``甲方（签章）`` …).

A sign flow places each party's seal where its anchor text stands, so such a text may appear
in a signature block and nowhere else: the templates check their own text and every value
against the anchors, and an attached PDF (``attachments``) is refused if it holds one. Both
read them from here.
"""

from __future__ import annotations

import unicodedata

#: The parties that may sign a contract, as the seeds name them.
ROLES = ("甲方", "乙方", "丙方", "中介方", "鉴证单位", "公证单位")


def norm(s: str) -> str:
    """As the anchor search compares text: NFKC, white space ignored."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", s) if not ch.isspace())


#: Every signing role's anchor: only a signature block may contain one — the main block's
#: ``甲方（签章）`` and an appendix block's ``甲方（盖章）`` (the seed's wording there).
ANCHOR_TEXTS = tuple(f"{role}（{word}）" for role in ROLES for word in ("签章", "盖章"))
#: The same, normalised, as a value or a template's text is searched for them.
ANCHORS = tuple(norm(a) for a in ANCHOR_TEXTS)
