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

from yinxin.access.keys import ApiRole, Principal
from yinxin.adapters.http.api.context import Plat, get_caller
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.asgi import HEAD_ONLY
from yinxin.errors import Forbidden, NotFound
from yinxin.handover.shelf import NAME_PATTERN, ExportSummary

router = APIRouter(route_class=JsonRoute, tags=["data handover"])
Name = Annotated[
    str,
    Path(
        min_length=16,
        max_length=20,
        pattern=NAME_PATTERN,
        description="the export's UTC time stamp",
        examples=["20261201T142827Z"],
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
