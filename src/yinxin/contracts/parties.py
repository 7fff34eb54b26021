"""A party of a signed paper and the seal offered for it: the seal's owner (the subscriber it
was issued to, a person or an organization) must be the party the paper names — by name,
and by credit code or ID card number where the paper gives one. Used by the contracts of the
template library (``Contracts.start_signing``) and the service desk's record (``Desk.start_
record_flow``), so the two papers match a party to a seal the same way."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from yinxin.errors import NotFound, ValidationError
from yinxin.store.models import Subscriber


def same_name(a: str) -> str:
    """A party's name as compared with a seal owner's: NFKC (so full-width （） and ASCII ()
    are one, as Chinese company names are written with either), white space trimmed and
    runs of it made one space, case folded."""
    return " ".join(unicodedata.normalize("NFKC", str(a)).split()).casefold()


def distinct_parties(parties: Sequence[tuple[str, str, str]], *, field: str | None = None) -> None:
    """Refuse a paper naming one party twice: ``parties`` are (role, name, field) in the
    paper's order, compared as a seal's owner is (:func:`same_name`, so a name pasted into both
    blanks, or typed again in other width, case or spacing, is the same). The later of the two
    is named (its ``field``, or ``field`` when the caller knows better: a correction names the
    name it was given). One rule for the template library's contracts (``Template.fill``) and
    the service desk's (``add_contract``, ``correct_parties``, ``adopt``): a contract whose
    甲方 is its 乙方 takes one seal for both, a party confirming its own work as the other."""
    seen: dict[str, str] = {}
    for role, name, where in parties:
        key = same_name(name)
        if key in seen:
            first = seen[key]
            raise ValidationError(
                f"{first}与{role}不能是同一方（“{name}”）/ {first} and {role} name the same "
                f"party {name!r}",
                field=field or where,
                code="same_party",
            )
        seen[key] = role


def seal_of_party(
    s: Session,
    seal_ref: int | str | None,
    role: str,
    named: object,
    *,
    where: str,
    paper: tuple[str, str] = ("合同", "contract"),
    credit_codes: Iterable[str] = (),
    id_numbers: Iterable[str] = (),
) -> None:
    """Refuse ``seal_ref`` for ``role`` unless its owner is the party ``named``: the names
    equal once normalised (:func:`same_name`); each of ``id_numbers`` (the party's 居民身份证号码
    as the paper gives it) the owner's, if the owner is a person; each of ``credit_codes``
    (its 统一社会信用代码) the owner's, if the owner has one. A paper naming 甲方 北京某某科技
    有限公司 is not sealed with another organization's seal, nor 甲方 张三 with a namesake's.
    ``paper`` is the paper's name in Chinese and English for the message (合同 / contract,
    记录单 / service record); the refusal names ``where`` with code ``not_the_party``."""
    from yinxin.seals.rows import seal_row

    zh, en = paper
    if seal_ref is None or str(seal_ref).strip() == "":
        raise ValidationError("每位签署人都须有印章 / each signer needs a seal", field=where)
    try:
        seal = seal_row(s, seal_ref)
    except NotFound:
        raise NotFound(f"没有印章 {seal_ref} / no seal {seal_ref}", field=where) from None
    holder = s.get(Subscriber, seal.subscriber_id)
    label = seal.es_id or seal.id
    if holder is None or not isinstance(named, str) or same_name(named) != same_name(holder.name):
        whose = holder.name if holder is not None else "?"
        raise ValidationError(
            f"{zh}的{role}是“{named}”，印章 {label} 属于“{whose}”，不能为{role}签章 / the "
            f"{en} names {role} {named!r}; seal {label} is {whose!r}'s",
            field=where,
            code="not_the_party",
        )
    for number in id_numbers:
        if number and holder.kind == "person":
            _same_id_card(role, str(number), holder, label, where, paper)
    for code in credit_codes:
        if not code or not holder.uscc:
            continue
        if unicodedata.normalize("NFKC", str(code)).strip().upper() != holder.uscc.upper():
            raise ValidationError(
                f"{zh}写明{role}的统一社会信用代码为 {code}，印章 {label} 所属的“{holder.name}”"
                f"为 {holder.uscc}，不能为{role}签章 / the {en} gives {role}'s credit "
                f"code {code}; seal {label} is {holder.name!r}'s, code {holder.uscc}",
                field=where,
                code="not_the_party",
            )


def _same_id_card(
    role: str,
    number: str,
    holder: Subscriber,
    label: str | int,
    where: str,
    paper: tuple[str, str],
) -> None:
    """Refuse a person's seal for a party whose 居民身份证号码 the paper gives when the seal
    owner's is another (compared as stored: NFKC, upper-case, so an x check digit is X) or
    the owner registered with another ID document: a namesake's seal is not the party's. The
    numbers are shown masked, as everywhere else."""
    from yinxin.seals.rows import mask

    zh, en = paper
    given = unicodedata.normalize("NFKC", number).strip().upper()
    theirs = (holder.id_number or "").strip().upper() if holder.id_type == "id_card" else ""
    if given == theirs:
        return
    said = f"为 {mask(theirs)}" if theirs else "登记的证件不是居民身份证"
    told = f"number {mask(theirs)}" if theirs else "registered with another ID document"
    raise ValidationError(
        f"{zh}写明{role}的居民身份证号码为 {mask(given)}，印章 {label} 所属的“{holder.name}”"
        f"{said}，不能为{role}签章 / the {en} gives {role}'s ID card number {mask(given)}; "
        f"seal {label} is {holder.name!r}'s, {told}",
        field=where,
        code="not_the_party",
    )
