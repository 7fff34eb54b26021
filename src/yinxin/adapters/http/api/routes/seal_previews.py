"""A preview of a seal's picture from the application form's fields, creating nothing.

The seal application page draws the seal as the applicant types (the centre text, the seal
code) or picks a scan, so what is handed in is what was seen. The picture is drawn by the same
functions as the seal itself (``seals.render`` through ``seals.catalogue``: the holder's
registered name, the kind's default centre text), at a lower resolution (200 dpi: ~30 ms
instead of ~150 ms). Nothing is written and nothing is audited; the holder must be in the
caller's scope, like every seal route.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import Field

from yinxin.access.keys import Capability, Principal
from yinxin.adapters.http.api.context import Plat, Strict, allowed, scope_subscriber
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.api.responses import PNG
from yinxin.adapters.http.api.routes.seals import MAX_SCAN_BASE64, _scan_bytes, scan_named
from yinxin.errors import ValidationError
from yinxin.seals.catalogue import KINDS, ImagePlan, ImageSource, SealKind, check_scan

router = APIRouter(route_class=JsonRoute, tags=["seals"])
SealUser = Annotated[Principal, Depends(allowed(Capability.SEALS))]
PREVIEW_DPI = 200


class SealPreviewIn(Strict):
    subscriber_id: int = Field(ge=1, le=2**62, description="the holder (its registered name)")
    kind: SealKind
    center_text: str | None = Field(None, max_length=40)
    code: str | None = Field(None, max_length=40)
    scan_base64: str | None = Field(None, max_length=MAX_SCAN_BASE64)


@router.post(
    "/seal-previews",
    response_class=Response,
    responses=PNG,
)
def preview(body: SealPreviewIn, platform: Plat, principal: SealUser):
    """The seal picture the form would make (PNG, 200 dpi), from its fields; creates nothing.
    Refusals name the field, as the real application would (``center_text``, ``code``,
    ``kind``, ``scan_base64``)."""
    from yinxin.seals.render import image_from_scan, render_organization_seal, render_personal_seal

    scope_subscriber(platform, principal, body.subscriber_id)
    sub = platform.subscribers.get(body.subscriber_id)
    spec = KINDS[body.kind]
    if sub.kind != spec.subscriber_kind:
        raise ValidationError(
            f"a {body.kind} seal ({spec.title}) is for {spec.subscriber_kind} subscribers",
            field="kind",
        )
    personal = body.kind == SealKind.PERSONAL
    center = (body.center_text or "").strip() or None
    code = (body.code or "").strip() or None
    if personal and (center or code):
        raise ValidationError(
            "a personal seal has no centre text or code",
            field="center_text" if center else "code",
        )
    with scan_named():
        scan = _scan_bytes(body.scan_base64)
        plan = ImagePlan(
            ImageSource.SCAN if scan else ImageSource.SOFTWARE,
            body.kind,
            sub.name,
            None if personal else (center or spec.center_text),
            code,
            check_scan(scan),
        )
        if plan.source == ImageSource.SCAN:
            assert scan is not None
            image = image_from_scan(scan, width_mm=spec.scan_width_mm, dpi=PREVIEW_DPI)
        elif personal:
            image = render_personal_seal(plan.text, dpi=PREVIEW_DPI)
        else:
            image = render_organization_seal(
                plan.text, center_text=plan.center_text, code=plan.code, dpi=PREVIEW_DPI
            )
    return Response(image.png, media_type="image/png", headers={"Cache-Control": "no-store"})
