"""Certificate names holding characters newer than Unicode 3.2.

pyHanko compares names as RFC 5280 asks, through asn1crypto's RFC 4518 string preparation,
which refuses "unassigned code points" by RFC 3454's table A.1: Unicode 3.2's table. Every
character assigned since then made the preparation raise, so no certification path through a
certificate naming one was ever built. That covers emoji, CJK Extension C and later, and
U+9FA6–U+9FFF, which includes rare characters (生僻字) in people's names. A subscriber named
with one signed with a certificate that chained correctly and was still judged "untrusted",
while OpenSSL and NSS (poppler's ``pdfsig``) accept the chain.

Here table A.1 is this Python's Unicode: a code point is refused only while it is still
unassigned (category Cn). Nothing else of the preparation changes: the mapping, NFKC, the
other prohibited tables. Every character Unicode 3.2 assigned is still assigned (Unicode's
stability policy), so any two names that could be compared before compare exactly as
before; only names that raised are now compared.

The preparation also ran RFC 3454's bidirectional check, which RFC 4518 §2.5 leaves out
("Bidirectional characters are ignored"): a name with right-to-left script beside
left-to-right — an organization named in Chinese and Uyghur, 新疆喀什 قەشقەر … — or not at
both ends (ئابدۇرېھىم 2) raised "malformed bidirectional sequence", and a certificate the
platform had issued for it, which OpenSSL and pkilint accept, made no path. No
right-to-left character is of table D.1 here, so the check never raises; it only ever
raised, never changed a prepared name, so names compared before compare as before.
"""

from __future__ import annotations

import stringprep
import types
import unicodedata

from asn1crypto import x509 as a_x509


def _still_unassigned(code: str) -> bool:
    return unicodedata.category(code) == "Cn"


# ``stringprep`` as ``asn1crypto.x509`` sees it: the same functions, but A.1 is the set of
# code points still unassigned today
_TABLES = types.SimpleNamespace(
    **{k: v for k, v in vars(stringprep).items() if not k.startswith("_")},
)
_TABLES.in_table_a1 = _still_unassigned


def _no_bidi_check(code: str) -> bool:
    """RFC 4518 §2.5: bidirectional characters are ignored (table D.1 is asked by the check
    alone)."""
    return False


_TABLES.in_table_d1 = _no_bidi_check


def install() -> None:
    """Idempotent; only ``asn1crypto.x509``'s reference changes (the ``idna`` codec and
    everything else keep the real ``stringprep``)."""
    a_x509.stringprep = _TABLES
