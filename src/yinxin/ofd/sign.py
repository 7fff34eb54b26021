"""Sign an OFD with a seal (GB/T 33190-2016 §18, with the signature value of GB/T 38540).

What one signing adds to the package, in this order (the order matters: each file that exists
when the digests are taken is protected by them):

1. ``OFD.xml`` gets ``DocBody/Signatures`` → ``/Doc_0/Signs/Signatures.xml`` (first signing).
2. ``Doc_0/Signs/Sign_N/Seal.esl``: the seal (``SESeal``) the signature is made with.
3. ``Signatures.xml`` lists the new signature (``ID``, ``Type="Seal"``, ``BaseLoc``) and the
   new ``MaxSignId``.
4. ``Sign_N/Signature.xml``: ``SignedInfo`` (Provider, SignatureMethod, SignatureDateTime,
   ``References CheckMethod=SM3`` with the SM3 of **every file of the package but
   Signatures.xml**, the ``StampAnnot`` placing the seal, ``Seal/BaseLoc``) and the location of
   the signature value.
5. ``Sign_N/SignedValue.dat``: the signature value over ``Signature.xml`` — here a GB/T 38540
   ``SES_Signature`` made by the signer (``SealSigner.sign``).

Signatures.xml is left out of the references so that later signers can add themselves (ofdrw's
``SignMode.ContinueSign``): each earlier signature still protects every file it saw, including
the earlier signers' ``Signature.xml`` and ``SignedValue.dat``. A document whose existing
signature protects ``Signatures.xml`` (ofdrw's default ``WholeProtected``) was closed by its
signer; adding a signature would break that one, so it is refused.

This module knows nothing of SM2 or seals' ASN.1: the signer object brings the seal bytes and
makes the value (``yinxin.seals.ses_signature.SesOfdSigner``). The document engine stays at the
``pdf`` layer, usable by a relying party without a platform.
"""

from __future__ import annotations

import base64
import posixpath
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from lxml import etree

from yinxin.errors import ValidationError, quoted
from yinxin.ofd.document import Box, Page, find_anchor, page_at, read_document
from yinxin.ofd.package import NSMAP, OfdPackage, bad, loc, parse_xml, q, to_xml
from yinxin.ofd.verify import ValueChecker, check_unbroken
from yinxin.pki.sm2 import OID_SM3, sm3

SIGNATURES_DEFAULT = "Doc_0/Signs/Signatures.xml"
PROVIDER = ("yinxin", "Yinxin", "1.0")


class SealSigner(Protocol):
    """What signing needs of the party that makes the signature value."""

    @property
    def signature_method(self) -> str:
        """``SignatureMethod``: the OID of the value's algorithm (1.2.156.10197.1.501)."""
        ...

    @property
    def seal(self) -> bytes | None:
        """The seal (``Seal.esl``), or None for a signature without one."""
        ...

    @property
    def seal_size_mm(self) -> tuple[float, float]:
        """Width and height of the seal's picture: the stamp's box on the page."""
        ...

    def sign(self, signature_xml: bytes, property_info: str) -> bytes:
        """The content of ``SignedValue.dat`` for this exact ``Signature.xml``."""
        ...


@dataclass(frozen=True)
class Placement:
    """Where the seal goes: centred on ``anchor`` text (its last occurrence, on ``page`` when
    given), or centred at ``x``/``y`` (mm from the top left) on ``page`` (1 = first, -1 = last;
    default last)."""

    anchor: str | None = None
    page: int | None = None
    x: float | None = None
    y: float | None = None


@dataclass(frozen=True)
class SignedOfd:
    data: bytes
    signature_id: str
    signature_xml: str  # package name of Sign_N/Signature.xml
    page: int  # 1-based
    boundary: str  # the stamp's box "x y w h" in mm


def _page_of(pages: tuple[Page, ...], number: int | None) -> Page:
    """Page ``number`` (1 = first, -1 = last; None: the last), refused naming ``page``."""
    return page_at(pages, -1 if number is None else number)


def _stamp_box(pkg: OfdPackage, placement: Placement, size: tuple[float, float]):
    doc = read_document(pkg)
    w, h = size
    if placement.anchor is not None:
        if placement.x is not None or placement.y is not None:
            raise bad(
                "定位文字与坐标只能给出其一",
                "give an anchor or a position, not both",
                field="anchor",
            )
        only = (_page_of(doc.pages, placement.page),) if placement.page is not None else None
        page, hit = find_anchor(pkg, doc, placement.anchor, only)
        cx, cy = hit.x + hit.w / 2, hit.y + hit.h / 2
    else:
        if placement.x is None or placement.y is None:
            raise bad(
                "请给出定位文字，或印章中心的 x、y 坐标（毫米）",
                "give an anchor text, or x and y (mm) of the seal's centre",
                field="x",
            )
        page = _page_of(doc.pages, placement.page)
        cx, cy = float(placement.x), float(placement.y)
        for value, name, limit in ((cx, "x", page.width), (cy, "y", page.height)):
            if not 0 <= value <= limit:
                raise bad(
                    f"{name} 为 {value:g} 毫米，超出页面范围（0–{limit:g}）",
                    f"{name} {value:g} mm is off the page (0–{limit:g})",
                    field=name,
                )
    box = Box(round(cx - w / 2, 3), round(cy - h / 2, 3), w, h)
    return page, box


def check_placement(data: bytes, placement: Placement) -> None:
    """Refuse, as ``sign_ofd`` would and before anything is signed, a placement the document
    does not take: an anchor it does not hold (on ``page`` if given), a page it has not, a
    position off the page — each naming its field. The seal's size plays no part in these."""
    _stamp_box(OfdPackage.read(data), placement, (0.0, 0.0))


def _sign_id(number: int, style: str) -> str:
    return f"s{number:03d}" if style == "s" else str(number)


def _max_sign_id(text: str | None, part: str) -> tuple[int, str]:
    """``MaxSignId`` as a number and its style (``s001``, the recommended form, or ``1``)."""
    if not text or not text.strip():
        return 0, "s"
    m = re.fullmatch(r"\s*([sS]?)0*(\d*)\s*", text)
    if not m:
        raise bad(
            f"{quoted(part)} 中的 MaxSignId 无法读取（{text!r}）",
            f"{part} has an unreadable MaxSignId {text!r}",
        )
    return int(m.group(2) or 0), ("s" if m.group(1) else "n")


def _ids_in_use(pkg: OfdPackage, signatures_root, signs_dir: str) -> list[int]:
    """The numbers of every signature ID and stamp ID already given (they share one counter)."""
    ids = [sig.get("ID") or "" for sig in signatures_root.findall(q("Signature"))]
    for sig in signatures_root.findall(q("Signature")):
        try:
            name = loc(signs_dir, sig.get("BaseLoc", ""))
        except ValidationError:
            continue
        if name in pkg.parts:
            ids += [
                st.get("ID") or "" for st in parse_xml(pkg.parts[name], name).iter(q("StampAnnot"))
            ]
    out = []
    for text in ids:
        m = re.fullmatch(r"\s*[sS]?0*(\d+)\s*", text)
        if m:
            out.append(int(m.group(1)))
    return out


def _protects(pkg: OfdPackage, signatures_root, signs_dir: str, target: str) -> bool:
    """Whether a signature of the list ``target`` (``signatures_root``) protects the list."""
    for sig in signatures_root.findall(q("Signature")):
        name = loc(signs_dir, sig.get("BaseLoc", ""), target, "Signature BaseLoc")
        if name not in pkg.parts:
            continue
        root = parse_xml(pkg.parts[name], name)
        base = posixpath.dirname(name)
        for ref in root.iter(q("Reference")):
            try:
                if loc(base, ref.get("FileRef", "")) == target:
                    return True
            except ValueError:
                continue
    return False


def _open_list(pkg: OfdPackage):
    """The document's signature list (``None`` before the first signing), refused when it is
    not one or when an earlier signature protects it: the document was closed by its signer."""
    signatures_loc = pkg.signatures_loc
    if signatures_loc is None or signatures_loc not in pkg.parts:
        return None
    sigs_root = parse_xml(pkg.parts[signatures_loc], signatures_loc)
    if sigs_root.tag != q("Signatures"):
        raise bad(
            f"{quoted(signatures_loc)} 不是 ofd:Signatures 签名列表",
            f"{signatures_loc} is not an ofd:Signatures list",
        )
    if _protects(pkg, sigs_root, posixpath.dirname(signatures_loc), signatures_loc):
        raise bad(
            "签名列表（Signatures.xml）已受先前签名保护：签署人已封闭该文档，再加签名会使先前签名失效",
            "an earlier signature protects the signature list (Signatures.xml): the document "
            "was closed by its signer and one more signature would break that one",
            field="in",
        )
    return sigs_root


def check_open(data: bytes, check_existing: ValueChecker | None = None) -> None:
    """Refuse, as ``sign_ofd`` would and before anything is signed, a document that takes no
    more signatures: its signature list unreadable, or protected by an earlier signature (the
    document closed by its signer), or an earlier signature or the list broken
    (``broken_signature``: ``check_unbroken``, ``check_existing`` judging the values). No key
    plays a part, so a platform asks this before a signer's one-time code is sent."""
    _open_list(OfdPackage.read(data))
    check_unbroken(data, check_existing)


def sign_ofd(
    data: bytes,
    signer: SealSigner,
    *,
    placement: Placement,
    when: datetime,
    check_existing: ValueChecker | None = None,
) -> SignedOfd:
    """Add one seal signature to an OFD (the first, or one more after earlier signers).

    An earlier signature that is broken refuses it (``broken_signature`` naming ``in``): a
    file it covers changed after signing, or — with ``check_existing``, the verifier's value
    checker (``check_ofd_value``) — its value not verifying over its own data. What cannot be
    decided (an untrusted chain, an unknown digest method) refuses nothing."""
    if not isinstance(when, datetime) or when.tzinfo is None:
        raise bad("when 须为带时区的时间", "when must be a timezone-aware datetime", field="when")
    pkg = OfdPackage.read(data)
    check_unbroken(bytes(data), check_existing)
    page, box = _stamp_box(pkg, placement, signer.seal_size_mm)

    # 1. the signature list, created (and named in OFD.xml) on first signing
    if pkg.signatures_loc is None or pkg.signatures_loc not in pkg.parts:
        signatures_loc = pkg.signatures_loc or SIGNATURES_DEFAULT
        sigs_root = etree.Element(q("Signatures"), nsmap=NSMAP)
        if pkg.signatures_loc is None:
            ofd = parse_xml(pkg.parts["OFD.xml"], "OFD.xml")
            body = ofd.find(q("DocBody"))
            after = body.find(q("Versions"))
            if after is None:
                after = body.find(q("DocRoot"))
            el = etree.Element(q("Signatures"))
            el.text = "/" + signatures_loc
            after.addnext(el)
            pkg.put("OFD.xml", to_xml(ofd))
            pkg.signatures_loc = signatures_loc
    else:
        signatures_loc = pkg.signatures_loc
        sigs_root = _open_list(pkg)
    signs_dir = posixpath.dirname(signatures_loc)

    # 2. the new Sign_N directory and identifiers
    n = 0
    while any(p.startswith(f"{signs_dir}/Sign_{n}/") for p in pkg.parts):
        n += 1
    sign_dir = f"{signs_dir}/Sign_{n}"
    signature_name = f"{sign_dir}/Signature.xml"
    value_name = f"{sign_dir}/SignedValue.dat"
    current, style = _max_sign_id(sigs_root.findtext(q("MaxSignId")), signatures_loc)
    for used in _ids_in_use(pkg, sigs_root, signs_dir):  # a MaxSignId that lags behind
        current = max(current, used)
    signature_id = _sign_id(current + 1, style)
    stamp_id = _sign_id(current + 2, style)

    seal = signer.seal
    if seal:
        pkg.put(f"{sign_dir}/Seal.esl", seal)

    # 3. the list: MaxSignId first, then the signatures (GB/T 33190 Signatures.xsd order)
    max_el = sigs_root.find(q("MaxSignId"))
    if max_el is None:
        max_el = etree.Element(q("MaxSignId"))
        sigs_root.insert(0, max_el)
    max_el.text = stamp_id
    etree.SubElement(
        sigs_root, q("Signature"), ID=signature_id, Type="Seal", BaseLoc="/" + signature_name
    )
    pkg.put(signatures_loc, to_xml(sigs_root))

    # 4. Signature.xml: digests of every file present now, but the signature list
    sig = etree.Element(q("Signature"), nsmap=NSMAP)
    info = etree.SubElement(sig, q("SignedInfo"))
    etree.SubElement(
        info,
        q("Provider"),
        ProviderName=PROVIDER[0],
        Company=PROVIDER[1],
        Version=PROVIDER[2],
    )
    etree.SubElement(info, q("SignatureMethod")).text = signer.signature_method
    etree.SubElement(info, q("SignatureDateTime")).text = when.astimezone(UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    refs = etree.SubElement(info, q("References"), CheckMethod=OID_SM3)
    for name in pkg.order:
        if name == signatures_loc:
            continue
        ref = etree.SubElement(refs, q("Reference"), FileRef="/" + name)
        etree.SubElement(ref, q("CheckValue")).text = base64.b64encode(sm3(pkg.parts[name])).decode(
            "ascii"
        )
    etree.SubElement(info, q("StampAnnot"), ID=stamp_id, PageRef=page.id, Boundary=str(box))
    if seal:
        seal_el = etree.SubElement(info, q("Seal"))
        etree.SubElement(seal_el, q("BaseLoc")).text = f"/{sign_dir}/Seal.esl"
    etree.SubElement(sig, q("SignedValue")).text = "/" + value_name
    signature_xml = to_xml(sig)
    pkg.put(signature_name, signature_xml)

    # 5. the value over Signature.xml, made by the signer
    pkg.put(value_name, signer.sign(signature_xml, "/" + signature_name))
    return SignedOfd(pkg.to_bytes(), signature_id, signature_name, page.index + 1, str(box))
