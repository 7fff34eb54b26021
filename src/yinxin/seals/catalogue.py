"""The kinds of seal and the rules of the application form (004 I, II, V), with no database.

Kept apart from the verbs so that a new kind (a 发票专用章, say) or a new form rule is one entry
or one function here, and so that the CLI, the coming HTTP API and the tests can read the same
catalogue without pulling in the service. Everything here is plain data or a pure check; the
verbs in ``seals.applications`` apply it inside their transactions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from yinxin.errors import Conflict, TooLarge, ValidationError
from yinxin.identity import validate_id_document, validate_name
from yinxin.seals.seal_types import SEAL_TYPE_ORGANIZATION, SEAL_TYPE_PERSONAL
from yinxin.store.models import Subscriber

if TYPE_CHECKING:
    from yinxin.seals.render import SealImage

YEAR = dt.timedelta(days=365)


class SealKind(StrEnum):
    """The kinds of seal (004 I); each equals the string stored in ``seals.kind``."""

    ORGANIZATION = "organization"  # 公章
    CONTRACT = "contract"  # 合同专用章
    FINANCE = "finance"  # 财务专用章
    PERSONAL = "personal"  # 个人名章


class ImageSource(StrEnum):
    """How the seal's picture was made."""

    SOFTWARE = "software"
    SCAN = "scan"


class BusinessType(StrEnum):
    """The application form's business types (004 II)."""

    NEW = "new"
    RENEW = "renew"
    CHANGE = "change"
    CANCEL = "cancel"


@dataclass(frozen=True)
class KindSpec:
    """What a kind of seal is bound to and how its picture is made."""

    title: str
    profile: str  # the certificate profile a seal of this kind must be bound to
    subscriber_kind: str
    seal_type: int  # SESeal property type
    suffix: str = ""  # appended to the organization's name in the seal's name
    center_text: str | None = None  # horizontal text under the star
    scan_width_mm: float = 40.0


KINDS: dict[SealKind, KindSpec] = {
    SealKind.ORGANIZATION: KindSpec(
        "公章", "organization-signing", "organization", SEAL_TYPE_ORGANIZATION
    ),
    SealKind.CONTRACT: KindSpec(
        "合同专用章",
        "organization-signing",
        "organization",
        SEAL_TYPE_ORGANIZATION,
        "合同专用章",
        "合同专用章",
    ),
    SealKind.FINANCE: KindSpec(
        "财务专用章",
        "organization-signing",
        "organization",
        SEAL_TYPE_ORGANIZATION,
        "财务专用章",
        "财务专用章",
    ),
    SealKind.PERSONAL: KindSpec(
        "个人名章", "person-signing", "person", SEAL_TYPE_PERSONAL, scan_width_mm=18.0
    ),
}
ORGANIZATION_KINDS = frozenset(k for k, v in KINDS.items() if v.subscriber_kind == "organization")

# The administrative region (GB/T 2260) that opens every esID this platform makes.
DEFAULT_REGION = "110000"


def check_region_code(region_code: str) -> str:
    """A GB/T 2260 region code: six digits."""
    if not (len(region_code) == 6 and region_code.isdigit()):
        raise ValidationError("the region code must be 6 digits (GB/T 2260)", field="region_code")
    return region_code


BUSINESS_TYPES: dict[BusinessType, str] = {
    BusinessType.NEW: "新申请",
    BusinessType.RENEW: "续费",
    BusinessType.CHANGE: "变更",
    BusinessType.CANCEL: "注销",
}

# 004 §V 申请人声明, word for word; its hash is recorded with every application.
DECLARATION = (
    "申请人在此郑重声明：本人在电子印章相关业务中提供的资料完全真实。"
    "本人愿意承担由于提供的资料虚假失实而导致的一切后果。"
)
DECLARATION_SHA256 = hashlib.sha256(DECLARATION.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SealForm:
    """The seal application form (004 I, II, V) as filled in by the applicant."""

    business_type: BusinessType
    project: str
    holder_name: str
    id_type: str
    id_number: str
    declaration_accepted: bool

    def holder_columns(self) -> dict[str, str]:
        """The form's holder and project as the columns of a seal and of an application."""
        return {
            "project": self.project,
            "holder_name": self.holder_name,
            "holder_id_type": self.id_type,
            "holder_id_number": self.id_number,
        }

    def validated(self) -> SealForm:
        if self.business_type not in BUSINESS_TYPES:
            raise ValidationError(
                f"unknown business type {self.business_type!r}; choose one "
                f"of {', '.join(BUSINESS_TYPES)}",
                field="business_type",
            )
        if self.declaration_accepted is not True:
            raise ValidationError(
                "the applicant must accept the declaration (申请人声明) that "
                "the data given is true",
                field="declaration_accepted",
                code="declaration_required",
            )
        return replace(
            self,
            business_type=BusinessType(self.business_type),
            project=validate_name(self.project, "project", 200),
            holder_name=validate_name(self.holder_name, "holder_name", 50),
            id_number=validate_id_document(self.id_type, self.id_number, "id_number"),
        )


def coerce_form(form: SealForm | dict | None, business_type: str) -> SealForm | None:
    """A form given as a dataclass or as the CLI's/API's dict, validated for ``business_type``."""
    if form is None:
        return None
    if isinstance(form, dict):
        form = SealForm(**{"business_type": business_type, **form})
    form = form.validated()
    if form.business_type != business_type:
        raise ValidationError(
            f"the form is for {form.business_type}, not {business_type}", field="business_type"
        )
    return form


def check_holder(sub: Subscriber, kind: str, form: SealForm) -> None:
    """A personal seal is its subscriber's own: the form must name that very person."""
    if kind != SealKind.PERSONAL:
        return
    if form.id_type != sub.id_type or form.id_number != (sub.id_number or "").upper():
        raise ValidationError(
            "the holder's ID document on the form is not the subscriber's "
            "(a personal seal is made only for the certificate's holder)",
            field="id_number",
            code="holder_mismatch",
        )
    if form.holder_name != sub.name:
        raise ValidationError(
            f"the holder's name on the form is not the subscriber's ({sub.name})",
            field="holder_name",
            code="holder_mismatch",
        )


def seal_name(sub: Subscriber, kind: str) -> str:
    return sub.name + KINDS[kind].suffix


def drawn_name(kind: str, name: str) -> str:
    """The name a software-made image of a seal called ``name`` shows (organization or holder)."""
    suffix = KINDS[kind].suffix
    return name[: len(name) - len(suffix)] if suffix else name


def check_scan(scan: bytes | None) -> str | None:
    """The SHA-256 of an uploaded scan, refusing an empty or oversized one before decoding."""
    if scan is None:
        return None
    if not isinstance(scan, bytes | bytearray) or not scan:
        raise ValidationError("the uploaded seal scan is empty", field="scan")
    from yinxin.seals.render import MAX_SCAN_BYTES  # Pillow and fonts load only to draw

    if len(scan) > MAX_SCAN_BYTES:  # refused before anything reads it as an image
        raise TooLarge(
            f"the uploaded seal scan is larger than {MAX_SCAN_BYTES // 2**20} MiB", field="scan"
        )
    return hashlib.sha256(bytes(scan)).hexdigest()


@dataclass
class ImagePlan:
    """Inputs of the seal picture; compared before and after drawing to catch a race.

    Drawing is slow and needs no lock, so the verbs plan the picture in one read, draw it with
    no transaction open, and plan again under the row lock: if the two plans differ, what was
    drawn no longer matches the data (``same_image``).
    """

    source: ImageSource
    kind: SealKind
    text: str  # the name drawn (organization or holder)
    center_text: str | None
    code: str | None
    scan_sha256: str | None = None

    def draw(self, scan: bytes | None) -> SealImage:
        from yinxin.seals.render import (
            image_from_scan,
            render_organization_seal,
            render_personal_seal,
        )

        if self.source == ImageSource.SCAN:
            assert scan is not None
            return image_from_scan(scan, width_mm=KINDS[self.kind].scan_width_mm)
        if self.kind == SealKind.PERSONAL:
            return render_personal_seal(self.text)
        return render_organization_seal(self.text, center_text=self.center_text, code=self.code)


def same_image(planned: ImagePlan, now: ImagePlan) -> None:
    if planned != now:
        raise Conflict(
            "the seal's data changed while its image was being drawn; try again",
            field="seal",
            code="retry",
        )
