"""The data handover (数据移交, 002 §6.2.10) over HTTP: an administrator makes an export of the
whole platform, lists, downloads and deletes them (``yinxin.handover.shelf``).

Administrators only: the export holds every subscriber's identity data and every document, so
no other role may list or make one (403). A caller bound to an organization (an organization
administrator's key, a bound integration key, a subscriber's session) is answered about a named
export as about anything else outside its organization: 404, as if it did not exist.

Import stays a CLI verb (``yinxin import``): the instance it fills is empty, with no
administrator to call an API.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from yinxin.access.keys import ApiRole, Principal
from yinxin.adapters.http.api.context import Plat, get_caller
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.asgi import HEAD_ONLY
from yinxin.errors import Forbidden, NotFound
from yinxin.handover.shelf import NAME_PATTERN, ExportSummary, is_name, name_refusal

router = APIRouter(route_class=JsonRoute, tags=["data handover"])


def _export_name(value: str) -> str:
    """The name, refused (422 naming ``name``) in the service's words, which say what a good
    one is in Chinese and English, where pydantic's ``pattern`` and ``min_length`` had said
    "String should match pattern '^[0-9]{8}T…'" or "should have at least 16 characters"."""
    if not is_name(value):
        raise PydanticCustomError("export_name", "{why}", {"why": name_refusal(value)})
    return value


# the shape is still documented (``pattern``, the lengths) for clients; the check is the
# validator's, so a refusal says what a good name is
Name = Annotated[
    str,
    AfterValidator(_export_name),
    Path(
        description="the export's UTC time stamp",
        examples=["20261201T142827Z"],
        json_schema_extra={"minLength": 16, "maxLength": 20, "pattern": NAME_PATTERN},
    ),
]
ZIP = {
    200: {
        "content": {"application/zip": {}},
        "description": "the folder as a zip archive; `X-Archive-SHA256` and `Repr-Digest` "
        "give its SHA-256, `Content-Length` its size",
    }
}


def administrator(principal: Principal = Depends(get_caller)) -> Principal:
    """The caller, refused (403) unless it is an administrator."""
    if principal.role != ApiRole.ADMINISTRATOR:
        raise Forbidden("data handover is for administrators", field="role")
    return principal


def administrator_of(name: Name, principal: Principal = Depends(get_caller)) -> Principal:
    """For a named export: an organization-bound caller is told it is not there (404), any
    other caller but an administrator is refused (403)."""
    if principal.organization_id is not None:
        raise NotFound(f"no export named {name}", field="name")
    return administrator(principal)


Admin = Annotated[Principal, Depends(administrator)]
AdminOf = Annotated[Principal, Depends(administrator_of)]


@router.post("/exports", status_code=201, response_model=ExportSummary)
def make_export(platform: Plat, principal: Admin):
    """Export everything into ``<home>/exports/<UTC time stamp>/`` (docs/handover.md). Takes
    seconds (every signed file is verified to record its verdict); send an Idempotency-Key to
    retry safely."""
    return platform.exports.create(actor=principal.actor)


@router.get("/exports", response_model=list[ExportSummary])
def list_exports(platform: Plat, _principal: Admin):
    """Finished exports, newest first."""
    return platform.exports.list()


@router.get("/exports/{name}", response_model=ExportSummary)
def get_export(name: Name, platform: Plat, _principal: AdminOf):
    return platform.exports.get(name)


@router.get("/exports/{name}/archive", response_class=StreamingResponse, responses=ZIP)
def download_export(name: Name, request: Request, platform: Plat, principal: AdminOf):
    """The folder as a zip archive, streamed. Every file is checked against the manifest (and
    the manifest against the SHA-256 recorded when the export was made) before the answer
    starts: a changed folder is refused with 409 ``export_modified``. A HEAD gets the same
    headers (size, SHA-256) and is not recorded as a download."""
    head = bool(request.scope.get(HEAD_ONLY))
    a = platform.exports.archive(name, actor=principal.actor, download=not head)
    digest = base64.b64encode(bytes.fromhex(a.sha256)).decode()
    return StreamingResponse(
        a.chunks,
        media_type="application/zip",
        headers={
            "Content-Length": str(a.size),
            "Content-Disposition": f'attachment; filename="{a.filename}"',
            "X-Archive-SHA256": a.sha256,
            "Repr-Digest": f"sha-256=:{digest}:",
            "Cache-Control": "no-store",
        },
    )


@router.delete("/exports/{name}", status_code=204, response_class=Response)
def delete_export(name: Name, platform: Plat, principal: AdminOf):
    platform.exports.delete(name, actor=principal.actor)
    return Response(status_code=204)
