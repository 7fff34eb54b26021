"""The three outcomes of a verification, for every kind of signed document.

A signature that can no longer be *shown* good has not been shown bad. ETSI EN 319 102-1 says
so with its main indications, and every report here carries one beside ``valid`` (which stays
the one bit exit codes follow): the PAdES verifier (``yinxin.pdf.verify``) and the GB/T 38540
ones — the seal signature itself (``yinxin.seals.ses_signature``), a PDF sealed that way
(``yinxin.pdf.ses``) and an OFD (``yinxin.ofd.verify``). It lives here, below all of them,
because the OFD and PDF readers may not import each other's modules.

For the GB/T 38540 reports the rule is the checks' own: each check that did not pass says
whether more evidence could settle it (``mendable``: a certificate no trusted one vouches for,
a timestamp whose authority is not trusted, a time that rests on such a timestamp) or not (the
bytes changed, a signature that does not verify, a seal used outside its validity at a settled
time). :func:`from_checks` is that rule, applied wherever a verdict is made or remade.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any


class Indication(enum.StrEnum):
    """The three outcomes of ETSI EN 319 102-1 (its main indications), beside ``valid``.

    Why a third: a signature that can no longer be *shown* good is not a signature shown bad.
    Years on, a contract whose timestamp authority's certificate has expired with no archive
    timestamp after it, or whose chain ends at a root the relying party was not given, or whose
    certificate was revoked with nothing proving the signing came first, is "cannot be
    determined" — more evidence (an archive copy, the right root, a later timestamp) may settle
    it — while changed bytes, a signature value that does not verify, disallowed changes after
    signing, an unreadable signature, or a certificate revoked (or not yet valid) before the
    proven signing time are failures nothing can mend. ``valid`` is unchanged and stays the one
    bit every caller and exit code relies on: ``PASSED`` exactly when ``valid``."""

    PASSED = "TOTAL-PASSED"
    FAILED = "TOTAL-FAILED"
    INDETERMINATE = "INDETERMINATE"


#: How each indication is said: the document's verdict, and a signature's.
VERDICT_TEXT = {
    Indication.PASSED: "有效 / VALID",
    Indication.FAILED: "无效 / INVALID",
    Indication.INDETERMINATE: "无法确定 / INDETERMINATE",
}
SIGNATURE_VERDICT_TEXT = {
    Indication.PASSED: "有效 / valid",
    Indication.FAILED: "无效 / INVALID",
    Indication.INDETERMINATE: "无法确定 / indeterminate",
}


def indication(valid: bool, failed: bool) -> Indication:
    """``PASSED`` when valid; else ``FAILED`` when something nothing can mend went wrong,
    ``INDETERMINATE`` when it did not."""
    if valid:
        return Indication.PASSED
    return Indication.FAILED if failed else Indication.INDETERMINATE


class Outcome(enum.StrEnum):
    """One GB/T 38540 check's outcome, as every report says it (text, PDF, web)."""

    PASSED = "passed"
    FAILED = "failed"  # for good
    NOT_SHOWN = "not_shown"  # failed, but more evidence could settle it (``mendable``)
    NOT_CHECKED = "not_checked"


def outcome(check: Any) -> Outcome:
    """A check's outcome, from a ``Check`` or its dict (``ok``, ``mendable``)."""
    if isinstance(check, Mapping):
        ok, mendable = check.get("ok"), check.get("mendable", False)
    else:
        ok, mendable = check.ok, getattr(check, "mendable", False)
    if ok is None:
        return Outcome.NOT_CHECKED
    if ok:
        return Outcome.PASSED
    return Outcome.NOT_SHOWN if mendable else Outcome.FAILED


#: GB/T 38540's checks (``yinxin.seals.ses_signature``, and ``seal_status`` / ``seal_file`` the
#: platform and the OFD reader add) by their Chinese names: the text report prints them beside
#: the key, the PDF report and the web page (``Page.words``) alone. Here, below the OFD and PDF
#: readers, so that every report takes the one table.
CHECK_NAMES = {
    "format": "签章数据格式",
    "signature_method": "签名算法",
    "signature": "签章签名值",
    "signing_time": "签章时间",
    "timestamp": "时间戳",
    "seal": "印章数据（制章者签名）",
    "seal_maker_trusted": "制章者证书可信",
    "seal_validity": "印章有效期",
    "signer_in_seal": "签章人证书属于该印章",
    "signer_certificate_validity": "签章人证书有效期",
    "signer_certificate_trusted": "签章人证书可信",
    "signer_certificate_revocation": "签章人证书吊销状态",
    "document_hash": "文件摘要",
    "seal_status": "印章在本平台的状态",
    "seal_file": "OFD 中的印章文件",
}

#: a check's outcome in Chinese, as the PDF report and the web page say it
OUTCOME_WORDS = {
    Outcome.PASSED: "通过",
    Outcome.FAILED: "未通过",
    Outcome.NOT_SHOWN: "无法证明",
    Outcome.NOT_CHECKED: "未检查",
}


def from_checks(valid: bool, checks: Iterable[Any], *, failed: bool = False) -> Indication:
    """The indication of a GB/T 38540 verdict from its checks (``Check`` objects or their
    dicts): ``FAILED`` if ``failed`` (something outside the checks: a changed file, no
    signature) or any check failed for good."""
    return indication(valid, failed or any(outcome(c) is Outcome.FAILED for c in checks))


def worst(valid: bool, parts: Iterable[Indication], *, failed: bool = False) -> Indication:
    """A document's indication from its signatures': ``FAILED`` if one failed (or ``failed``:
    no signature, a file nothing protects), ``PASSED`` when valid, else ``INDETERMINATE``."""
    return indication(valid, failed or any(p == Indication.FAILED for p in parts))


__all__ = [
    "CHECK_NAMES",
    "OUTCOME_WORDS",
    "SIGNATURE_VERDICT_TEXT",
    "VERDICT_TEXT",
    "Indication",
    "Outcome",
    "from_checks",
    "indication",
    "outcome",
    "worst",
]
