"""The applicant's identity documents (申请材料) with a certificate application: upload one
(the file as the body), list them, read one back. Scoped like the application: a subscriber
sees its own, an organization's contact its organization's, officers every one; another's
application answers 404 as if it did not exist."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from yinxin.adapters.http.api.context import Plat, Registrar, read_body
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.api.responses import binary_body, file_answer
from yinxin.adapters.http.api.routes.applications import ApplicationId, _scoped
from yinxin.registry.documents import MAX_DOCUMENT, DocumentKind, DocumentView

router = APIRouter(route_class=JsonRoute, tags=["applications"])
DocumentId = Annotated[int, Path(ge=1, le=2**62)]


@router.post(
    "/applications/{application_id:int}/documents",
    status_code=201,
    response_model=DocumentView,
    openapi_extra=binary_body("application/pdf", "image/jpeg", "image/png"),
)
async def upload_document(
    application_id: ApplicationId,
    request: Request,
    platform: Plat,
    principal: Registrar,
    kind: Annotated[DocumentKind, Query(description="what the document is")],
    name: Annotated[str | None, Query(max_length=200, description="the file's name")] = None,
):
    """One identity document for a pending application, as the body (PDF, JPEG or PNG, told
    apart by the file's magic bytes; at most 10 MiB; 10 per application). Refusals: ``kind``,
    ``body`` (``empty``, ``too_large``, ``unsupported_type``, ``type_mismatch``,
    ``too_many_documents``), ``application_id`` (not pending: ``illegal_transition``), ``name``
    (a control or invisible character such as NUL or U+202E: refused, never cleaned)."""
    await run_in_threadpool(_scoped, platform, principal, application_id)
    body = await read_body(request, MAX_DOCUMENT)
    return await run_in_threadpool(
        platform.application_documents.upload,
        application_id,
        body,
        kind=kind.value,
        actor=principal.actor,
        declared_type=request.headers.get("content-type"),
        file_name=name,
        name_field="name",
    )


@router.get("/applications/{application_id:int}/documents", response_model=list[DocumentView])
def list_documents(application_id: ApplicationId, platform: Plat, principal: Registrar):
    """The documents handed in with the application, oldest first."""
    _scoped(platform, principal, application_id)
    return platform.application_documents.list(application_id)


@router.get(
    "/applications/{application_id:int}/documents/{document_id:int}",
    response_class=Response,
    responses=file_answer("application/pdf", "image/jpeg", "image/png"),
)
def get_document(
    application_id: ApplicationId, document_id: DocumentId, platform: Plat, principal: Registrar
):
    """The document's file, shown in the browser (``inline``) with the type read at upload."""
    _scoped(platform, principal, application_id)
    doc, data = platform.application_documents.get(application_id, document_id)
    return Response(
        data,
        media_type=doc.media_type,
        headers={
            "Content-Disposition": disposition(doc),
            # an identity document (ID card, licence): kept by no cache, the browser's disk
            # cache of a shared desk computer included (it was private, max-age=300)
            "Cache-Control": "no-store",
            "ETag": f'"{doc.sha256}"',
        },
    )


_EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


def disposition(doc: DocumentView) -> str:
    """``inline`` with the applicant's file name (RFC 6266): ``filename*`` carries it whole,
    UTF-8 percent-encoded (Chinese kept; a quote, ``;`` or space cannot end the parameter or
    start another), after an ASCII ``filename`` built by the server (``document-7.png``) for a
    client that reads no ``filename*``. It was ``filename*`` alone: such a client named the
    file after the URL's last segment, a bare number with no extension."""
    fallback = f"document-{doc.id}.{_EXTENSIONS.get(doc.media_type, 'bin')}"
    name = doc.file_name or fallback
    return f"inline; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
