"""Verify the signatures of an OFD: the package half here, the signature value by a checker.

For each signature listed in ``Signatures.xml`` (GB/T 33190 §18):

* every ``Reference`` of its ``Signature.xml``: the file exists and its digest (SM3, or SHA-256
  where a producer chose it) equals ``CheckValue`` — a changed page, resource or earlier
  signature shows up here, naming the file;
* the signature value (``SignedValue.dat``) over the exact bytes of ``Signature.xml``: judged by
  the ``ValueChecker`` handed in (GB/T 38540 ``SES_Signature``:
  ``yinxin.seals.ses_signature.check_ofd_value``), which also compares ``Seal.esl`` with the seal
  inside the value;
* its stamps (``StampAnnot``): which page, which box.

Then the package as a whole: every file must be protected by some signature — named in one's
references, or one signature's own ``Signature.xml``/``SignedValue.dat`` — except the signature
list itself. A file slipped in after the last signature makes the verdict INVALID, as does a
damaged package (a flipped byte inside a deflated part fails its CRC).

The list itself is protected by no signature (later signers add to it), so it is checked against
what the protected files say: a signature the package carries (an ``ofd:Signature`` part, a
``SignedValue.dat``) that the list does not name, an entry naming a signature already named, and
an order in which a signature precedes one it protects (that one was made first) are problems of
the document — INVALID naming them. Otherwise deleting signer A's entry from a document signed
by A then B left a VALID report of B alone, B's references still covering A's files.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import posixpath
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from yinxin.errors import ValidationError, halves, quoted
from yinxin.identity import shown
from yinxin.indication import (
    CHECK_NAMES,
    SIGNATURE_VERDICT_TEXT,
    VERDICT_TEXT,
    Indication,
    Outcome,
    from_checks,
    outcome,
    worst,
)
from yinxin.ofd.document import read_document
from yinxin.ofd.package import OfdPackage, bad, loc, parse_xml, q
from yinxin.pki.sm2 import OID_SM3, sm3

NOT_SIGNED = "文档未签名 / the document is not signed"

_DIGESTS = {
    "sm3": sm3,
    OID_SM3: sm3,
    "sha256": lambda b: hashlib.sha256(b).digest(),
    "sha-256": lambda b: hashlib.sha256(b).digest(),
    "2.16.840.1.101.3.4.2.1": lambda b: hashlib.sha256(b).digest(),
}


class ValueVerdict(Protocol):
    valid: bool

    def to_dict(self) -> dict: ...  # a ``SesReport``'s: ``checks`` with ``ok`` and ``mendable``


class ValueChecker(Protocol):
    def __call__(
        self,
        signature_xml: bytes,
        signed_value: bytes,
        method: str,
        seal_file: bytes | None,
        name: str,  # where the value lies in the package, for its problems to name it
    ) -> ValueVerdict: ...


@dataclass(frozen=True)
class Stamp:
    page: int  # 1-based; 0 when PageRef names no page
    page_id: str
    boundary: str


@dataclass(frozen=True)
class OfdSignatureReport:
    id: str
    type: str
    signature_xml: str
    method: str | None
    date_time: str | None
    valid: bool
    references_ok: bool
    files_protected: int
    problems: tuple[str, ...]
    stamps: tuple[Stamp, ...]
    value: dict[str, Any] = field(default_factory=dict)
    # False when no digest could be compared (an unaccepted CheckMethod, an unreadable
    # Signature.xml): said as "not checked", never as a mismatch no one found
    digests_checked: bool = True
    # the files its references cover that were changed or removed after signing (their digest
    # compared and differing): a break, as a value that does not verify over its own data is
    changed: tuple[str, ...] = ()

    @property
    def indication(self) -> Indication:
        """``TOTAL-FAILED`` for a file digest that differs, a problem of the package's, no
        value, or a check of the value failed for good; ``INDETERMINATE`` when only mendable
        checks failed (``yinxin.indication``). Read from ``value``'s checks as they stand, so
        a check added later (the platform's ``seal_status``) counts."""
        failed = not self.references_ok or bool(self.problems) or not self.value
        return from_checks(self.valid, self.value.get("checks", ()), failed=failed)

    def to_dict(self) -> dict:
        return {**asdict(self), "indication": str(self.indication)}


@dataclass(frozen=True)
class OfdReport:
    valid: bool
    signatures: tuple[OfdSignatureReport, ...]
    unprotected: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def indication(self) -> Indication:
        """``TOTAL-FAILED`` if a signature's is, or there is none, or a file is protected by
        none; ``TOTAL-PASSED`` when valid; else ``INDETERMINATE``."""
        return worst(
            self.valid,
            (s.indication for s in self.signatures),
            failed=not self.signatures or bool(self.unprotected) or bool(self.problems),
        )

    def to_dict(self) -> dict:
        out = asdict(self)
        out["signatures"] = [s.to_dict() for s in self.signatures]
        out["indication"] = str(self.indication)
        return out

    def to_text(self) -> str:
        lines = []
        for s in self.signatures:
            where = [
                f"  印章位置 / stamp: 第 {st.page} 页，位置 {st.boundary} 毫米 / "
                f"page {st.page}, box {st.boundary} mm"
                for st in s.stamps
            ]
            n = s.files_protected
            if not s.digests_checked:
                zh, en = "未能核对", "not checked"
            else:
                zh, en = ("全部一致", "all match") if s.references_ok else ("有不一致", "MISMATCH")
            where.append(f"  文件摘要 / file digests: {n} 个文件，{zh} / {n} files, {en}")
            lines += signature_lines(
                f"签名 / signature {s.id} ({s.signature_xml})",
                s.indication,
                s.value,
                where,
                s.problems,
            )
        for name in self.unprotected:
            lines.append(f"! 未受保护的文件 / file not protected by any signature: /{name}")
        for p in self.problems:
            lines.append(f"! {p}")
        return report_text(lines, self.indication)


_MARK = {
    Outcome.PASSED: "ok",
    Outcome.FAILED: "FAILED",
    Outcome.NOT_SHOWN: "not shown",
    Outcome.NOT_CHECKED: "not checked",
}


def report_text(lines: list[str], indication: Indication) -> str:
    """A seal-signature report's text (OFD's here, a GB/T 38540 PDF's in ``yinxin.pdf.ses``):
    its ``lines``, then the verdict last, as the PAdES report ends; every line passed through
    ``shown``, so the document's text cannot add or hide a line."""
    return "\n".join(map(shown, [*lines, "结论 / Verdict: " + VERDICT_TEXT[indication]]))


def signature_lines(
    title: str, indication: Indication, value: dict[str, Any], where: list[str], problems
) -> list[str]:
    """One signature's block of a seal-signature report, the same for OFD and a GB/T 38540 PDF:
    its verdict, who sealed with which seal when (``value``: a ``SesReport`` dict), ``where``
    (the format's own lines: stamp, coverage), every check — a failure more evidence could
    settle marked "not shown" — then the problems."""
    lines = [f"{title}: {SIGNATURE_VERDICT_TEXT[indication]}"]
    if value.get("seal_name"):
        lines.append(f"  印章 / seal: {value['seal_name']} ({value.get('es_id')})")
    if value.get("signer"):
        lines.append(f"  签章人 / signer: {value['signer']} (serial {value.get('signer_serial')})")
    if value.get("time_info"):
        lines.append(f"  签章时间 / time: {value['time_info']}")
    if value.get("timestamp_time"):
        lines.append(f"  时间戳 / timestamp: {value['timestamp_time']}")
    lines += where
    for c in value.get("checks", []):
        name = c["name"]
        said = f"{CHECK_NAMES[name]} / {name}" if name in CHECK_NAMES else name
        lines.append(f"  [{_MARK[outcome(c)]}] {said}: {c['detail']}")
    lines += [f"  ! {p}" for p in problems]
    return lines


def _check_references(
    pkg: OfdPackage, sig_root, sig_name: str, digests: dict | None = None
) -> tuple[bool, int, list[str], set, bool, list[str]]:
    """(all digests match, how many References, problems, the files named, whether any digest
    could be compared at all, the files changed or removed after signing).

    ``digests``: (method, file) -> digest, kept across a verification's signatures: a file
    named by many references (a hostile list may name one large file a million times) is
    digested once."""
    digests = {} if digests is None else digests
    base = posixpath.dirname(sig_name)
    refs = sig_root.find(f"{q('SignedInfo')}/{q('References')}")
    if refs is None:
        return (
            False,
            0,
            [
                f"{quoted(sig_name)} 没有 References（所保护文件的列表） / "
                f"{sig_name} has no References"
            ],
            set(),
            False,
            [],
        )
    method = (refs.get("CheckMethod") or "MD5").strip()
    digest = _DIGESTS.get(method.lower()) or _DIGESTS.get(method)
    if digest is None:
        return (
            False,
            len(refs.findall(q("Reference"))),
            [
                f"{quoted(sig_name)} 的摘要算法 CheckMethod {method!r} 不被接受"
                "（应为 SM3 或 SHA-256） / "
                f"{sig_name}: CheckMethod {method!r} is not accepted (SM3 or SHA-256)"
            ],
            set(),
            False,
            [],
        )
    problems: list[str] = []
    covered: set[str] = set()
    changed: list[str] = []
    count = 0
    size = len(digest(b""))
    for ref in refs.findall(q("Reference")):
        count += 1
        try:
            name = loc(base, ref.get("FileRef", ""), sig_name, "Reference FileRef")
        except ValidationError as exc:
            problems.append(str(exc))
            continue
        covered.add(name)
        try:
            expected = base64.b64decode(
                (ref.findtext(q("CheckValue")) or "").strip(), validate=True
            )
        except (binascii.Error, ValueError):
            problems.append(
                f"{quoted('/' + name)} 的摘要值 CheckValue 不是 base64 编码 / "
                f"/{name}: CheckValue is not base64"
            )
            continue
        if len(expected) != size:  # no digest of this method: the file is not what differs
            kind = "SM3" if digest is sm3 else "SHA-256"
            problems.append(
                f"{quoted(sig_name)} 中 {quoted('/' + name)} 的摘要值 CheckValue "
                f"长 {len(expected)} 字节，不是 "
                f"{kind} 摘要值（{size} 字节） / {sig_name}: the CheckValue of /{name} is "
                f"{len(expected)} bytes, not an {kind} digest ({size} bytes)"
            )
        elif name not in pkg.parts:
            changed.append(name)
            problems.append(
                f"文件包中缺少 {quoted('/' + name)} / /{name} is missing from the package"
            )
        elif _digest_of(pkg, name, digest, digests) != expected:
            changed.append(name)
            problems.append(
                f"{quoted('/' + name)} 在签署后被改动（摘要值不符） / "
                f"/{name} was changed after signing (digest differs)"
            )
    if count == 0:
        problems.append(
            f"{quoted(sig_name)} 的 References 未列出任何文件 / "
            f"{sig_name}: References lists no file"
        )
    return not problems, count, problems, covered, count > 0, changed


def _digest_of(pkg: OfdPackage, name: str, digest, digests: dict) -> bytes:
    if (digest, name) not in digests:
        digests[(digest, name)] = digest(pkg.parts[name])
    return digests[(digest, name)]


def verify_ofd(data: bytes, check_value: ValueChecker) -> OfdReport:
    """Judge every signature of an OFD; a damaged or unsigned package is an INVALID report."""
    try:
        pkg = OfdPackage.read(data)
        doc = read_document(pkg)
    except ValidationError as exc:
        return OfdReport(valid=False, signatures=(), problems=(str(exc),))
    page_index = {p.id: p.index + 1 for p in doc.pages}
    if pkg.signatures_loc is None:
        # signatures in the package that OFD.xml no longer leads to: damaged, not unsigned
        unlisted = _unlisted(pkg, set(), set())
        if not unlisted:
            return OfdReport(valid=False, signatures=(), problems=(NOT_SIGNED,))
        nameless = bad(
            "OFD.xml 未指明签名列表，文件包中却有签名",
            "OFD.xml names no signature list, but the package holds signatures",
        )
        return OfdReport(valid=False, signatures=(), problems=(str(nameless), *unlisted))
    if pkg.signatures_loc not in pkg.parts:
        # the package was signed (OFD.xml names the list): a damaged file, not an unsigned
        # one, and the signatures it still holds are named as the list no longer does
        gone = bad(
            f"OFD.xml 指明的签名列表 {quoted(pkg.signatures_loc)} 不在文件包中",
            f"the signature list {pkg.signatures_loc} that OFD.xml names is missing from the "
            "package",
        )
        problems = (str(gone), *_unlisted(pkg, set(), set()))
        return OfdReport(valid=False, signatures=(), problems=problems)
    try:
        sigs_root = parse_xml(pkg.parts[pkg.signatures_loc], pkg.signatures_loc)
    except ValidationError as exc:
        return OfdReport(valid=False, signatures=(), problems=(str(exc),))
    if sigs_root.tag != q("Signatures"):  # as signing refuses it; its signatures unlisted
        foreign = bad(
            f"{quoted(pkg.signatures_loc)} 不是 ofd:Signatures 签名列表",
            f"{pkg.signatures_loc} is not an ofd:Signatures list",
        )
        problems = (str(foreign), *_unlisted(pkg, set(), set()))
        return OfdReport(valid=False, signatures=(), problems=problems)
    signs_dir = posixpath.dirname(pkg.signatures_loc)
    protected: set[str] = {pkg.signatures_loc}
    reports: list[OfdSignatureReport] = []
    list_problems: list[str] = []
    listed: dict[str, str] = {}  # Signature.xml -> the ID of the entry naming it
    digests: dict = {}  # (method, file) -> digest, each file digested once
    values: set[str] = set()  # the listed signatures' SignedValue.dat
    covers: list[tuple[str, set[str]]] = []  # (Signature.xml, files it protects), list order
    for entry in sigs_root.findall(q("Signature")):
        sid, kind = entry.get("ID", "?"), entry.get("Type") or "Seal"
        try:
            name = loc(signs_dir, entry.get("BaseLoc", ""), pkg.signatures_loc, "Signature BaseLoc")
        except ValidationError as exc:
            reports.append(
                OfdSignatureReport(
                    sid, kind, "?", None, None, False, False, 0, (str(exc),), (), {}, False
                )
            )
            continue
        if name in listed:
            list_problems.append(
                f"Signatures.xml 两次列出 {quoted('/' + name)}"
                f"（条目 {quoted(listed[name])} 和 {quoted(sid)}）："
                "签名列表在签署后被改动 / "
                f"Signatures.xml names /{name} twice (entries {listed[name]} and {sid}): "
                "the list was changed after signing"
            )
            continue
        if sid in listed.values():
            list_problems.append(
                f"Signatures.xml 将同一 ID {quoted(sid)} 给了两个签名 / "
                f"Signatures.xml gives the ID {sid} to two signatures"
            )
        listed[name] = sid
        try:
            sig_bytes = pkg.get(name)
            sig_root = parse_xml(sig_bytes, name)
            if sig_root.tag != q("Signature"):  # what the list names must be a signature
                raise bad(
                    f"{quoted(name)} 不是 ofd:Signature 签名文件", f"{name} is not an ofd:Signature"
                )
        except ValidationError as exc:
            reports.append(
                OfdSignatureReport(
                    sid, kind, "?", None, None, False, False, 0, (str(exc),), (), {}, False
                )
            )
            continue
        base = posixpath.dirname(name)
        info = sig_root.find(q("SignedInfo"))
        method = info.findtext(q("SignatureMethod")) if info is not None else None
        when = info.findtext(q("SignatureDateTime")) if info is not None else None
        refs_ok, count, problems, covered, compared, changed = _check_references(
            pkg, sig_root, name, digests
        )
        protected |= covered | {name}
        covers.append((name, covered))
        stamps = tuple(
            Stamp(
                page_index.get(s.get("PageRef", ""), 0), s.get("PageRef", ""), s.get("Boundary", "")
            )
            for s in (info.findall(q("StampAnnot")) if info is not None else [])
        )
        value: dict[str, Any] = {}
        value_ok = False
        try:
            value_name = loc(base, sig_root.findtext(q("SignedValue")) or "", name, "SignedValue")
            values.add(value_name)
            signed_value = pkg.get(value_name)
            protected.add(value_name)
            seal_loc = info.findtext(f"{q('Seal')}/{q('BaseLoc')}") if info is not None else None
            seal_file = pkg.get(loc(base, seal_loc, name, "Seal BaseLoc")) if seal_loc else None
            verdict = check_value(sig_bytes, signed_value, method or "", seal_file, value_name)
            value, value_ok = verdict.to_dict(), bool(verdict.valid)
        except ValidationError as exc:
            problems.append(str(exc))
        for st in stamps:
            if st.page == 0:
                problems.append(
                    f"印章所在页 {st.page_id!r} 不在文档中 / "
                    f"a stamp names page {st.page_id!r}, which is not in the document"
                )
        reports.append(
            OfdSignatureReport(
                id=sid,
                type=kind,
                signature_xml=name,
                method=method,
                date_time=when,
                valid=refs_ok and value_ok and not problems,
                references_ok=refs_ok,
                files_protected=count,
                problems=tuple(problems),
                stamps=stamps,
                value=value,
                digests_checked=compared,
                changed=tuple(changed),
            )
        )
    unprotected = tuple(sorted(n for n in pkg.parts if n not in protected))
    none = f"{quoted(pkg.signatures_loc)} 未列出任何签名 / {pkg.signatures_loc} lists no signature"
    problems = list_problems if reports else [none, *list_problems]
    problems += _unlisted(pkg, set(listed), values)
    problems += _out_of_order(covers)
    valid = bool(reports) and all(r.valid for r in reports) and not unprotected and not problems
    return OfdReport(valid, tuple(reports), unprotected, tuple(problems))


class _NotJudged:
    valid = False

    def to_dict(self) -> dict:
        return {}


def _not_judged(*_args: Any) -> _NotJudged:
    return _NotJudged()


def check_unbroken(data: bytes, check_value: ValueChecker | None = None) -> None:
    """Refuse (``broken_signature`` naming ``in``) a document one of whose signatures is
    broken, as one more signature must not seal what was changed under it: a file its
    references cover changed or removed after signing (its digest compared and differing), or,
    judged by ``check_value`` when given, a value that does not verify over its own
    ``Signature.xml`` (the ``signature`` or ``document_hash`` check failed); or whose signature
    list no longer says what the package holds (``_list_problem``): the new document would be
    INVALID with the new signature in it.

    Only a break: what cannot be decided — a digest method not accepted, an untrusted or
    foreign certificate chain, no timestamp, no CRL, a value that is no ``SES_Signature`` — is
    INDETERMINATE at worst and refuses nothing, so a document signed elsewhere takes a
    signature here. The checks are ``verify_ofd``'s own; a damaged or unsigned package is left
    to the reading that signing does anyway."""
    report = verify_ofd(data, check_value or _not_judged)
    for s in report.signatures:
        oks = {c.get("name"): c.get("ok") for c in s.value.get("checks", ())}
        failed = [n for n in ("signature", "document_hash") if oks.get(n) is False]
        if not s.changed and not failed:
            continue
        if s.changed:
            files = ", ".join(f"/{n}" for n in s.changed)
            zh = f"{'、'.join(quoted('/' + n) for n in s.changed)} 在签署后被改动或移除"
            en = f"{files} was changed or removed after signing"
        else:
            zh = "签名值与所签的 Signature.xml 不符"
            en = "its signature value does not verify over its Signature.xml"
        raise ValidationError(
            f"OFD 文件：已有签名 {quoted(s.id)}（{quoted('/' + s.signature_xml)}）与文档不符："
            f"{zh}，不能再签署 / "
            f"OFD: existing signature {s.id} (/{s.signature_xml}) does not match the document: "
            f"{en}; refusing to add a signature to it",
            field="in",
            code="broken_signature",
        )
    problem = _list_problem(data, report)
    if problem is not None:
        zh, en = _halves(problem)
        raise ValidationError(
            f"OFD 文件：签名列表（Signatures.xml）与文件包中的签名不符：{zh}，不能再签署 / "
            f"OFD: the signature list (Signatures.xml) does not match the signatures in the "
            f"package: {en}; refusing to add a signature to it",
            field="in",
            code="broken_signature",
        )


def _halves(problem: str) -> tuple[str, str]:
    """A report's "中文 / English" problem as its two halves, without their "OFD" prefixes."""
    zh, en = halves(problem)
    return zh.removeprefix("OFD 文件："), en.removeprefix("OFD: ")


def _list_problem(data: bytes, report: OfdReport) -> str | None:
    """What ``verify_ofd`` found wrong with a signed document's list (``report`` its verdict):
    an entry naming no readable signature, an ID or file named twice, signatures out of order,
    a signature the package holds that the list (or OFD.xml, naming none or a missing list)
    leaves out. None for an unsigned document, and for a list that is not one, which signing's
    own reading refuses."""
    if report.signatures:
        for s in report.signatures:
            if s.signature_xml == "?":  # the entry's BaseLoc, or the file it names, unusable
                zh, en = _halves(s.problems[0] if s.problems else "")
                return f"条目 {quoted(s.id)}：{zh} / entry {s.id}: {en}"
        return report.problems[0] if report.problems else None
    try:
        pkg = OfdPackage.read(data)
        at = pkg.signatures_loc
        if (
            at is not None
            and at in pkg.parts
            and parse_xml(pkg.parts[at], at).tag != q("Signatures")
        ):
            return None
    except ValidationError:
        return None
    found = _unlisted(pkg, set(), set())
    return found[0] if found else None


def _unlisted(pkg: OfdPackage, listed: set[str], values: set[str]) -> list[str]:
    """Signatures in the package that ``Signatures.xml`` does not name.

    A later signature protects an earlier one's files, not the list: with the earlier entry
    deleted its files are still protected and nothing else would show that it is there. A
    signature is found by what its files are, not by a folder convention: a part whose root is
    ``ofd:Signature`` (only parts holding ``SignedInfo``, which every one has, are parsed), or a
    ``SignedValue.dat`` no listed signature takes as its value, outside their folders."""
    found: list[str] = []
    folders = {posixpath.dirname(name) for name in listed}  # their values are judged there
    for name, body in pkg.parts.items():
        if name in listed or b"SignedInfo" not in body:
            continue
        try:
            is_signature = parse_xml(body, name).tag == q("Signature")
        except ValidationError:
            continue
        if is_signature:
            found.append(name)
            folders.add(posixpath.dirname(name))
    for name in pkg.parts:
        if posixpath.basename(name) == "SignedValue.dat" and name not in values:
            if posixpath.dirname(name) not in folders:
                found.append(name)
    return [
        f"{quoted('/' + name)} 是 Signatures.xml 未列出的签名（签名列表在签署后被改动） / "
        f"/{name} is a signature that Signatures.xml does not list (the list was changed "
        "after signing)"
        for name in sorted(found)
    ]


def _out_of_order(covers: list[tuple[str, set[str]]]) -> list[str]:
    """A listed signature that protects one listed after it: the list is not in signing order
    (each signer appends), so entries were moved or their ``BaseLoc`` swapped — the report's
    order and IDs would tell a relying party who signed first wrongly."""
    out = []
    for i, (name, covered) in enumerate(covers):
        for later, _ in covers[i + 1 :]:
            if later in covered:
                out.append(
                    f"Signatures.xml 将 {quoted('/' + name)} 列在它所保护（先于它签署）的 "
                    f"{quoted('/' + later)} 之前："
                    "签名列表在签署后被改动 / "
                    f"Signatures.xml lists /{name} before /{later}, which it protects (was "
                    "made earlier): the list was changed after signing"
                )
    return out
