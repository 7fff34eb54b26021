"""Batch signing (批量签署: up to 100 documents, one PIN entry, one code over the list of their
hashes) and signing authorizations (自动签署授权: an organization lets the platform apply its
seal without a code, within limits it signed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from yinxin.access.keys import Capability, Principal
from yinxin.adapters.http.api.context import (
    IsoDateTime,
    Page,
    Pages,
    Plat,
    Strict,
    allowed,
    client_ip,
    scope_filter,
    scope_owned,
    scope_subscriber,
    state_filter,
)
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.api.routes.documents import (
    DocumentIn,
    Id,
    PlacementIn,
    SealRef,
    SignedDocumentOut,
    pdf_of,
)
from yinxin.adapters.http.api.shapes import Reason
from yinxin.signing.authorizations import (
    MAX_DOCUMENTS,
    AuthorizationState,
    AuthorizationView,
    TermsCheck,
)
from yinxin.signing.batch import BatchItem
from yinxin.signing.intent import Challenge

router = APIRouter(route_class=JsonRoute, tags=["batch signing and authorizations"])
AuthorizationStateFilter = state_filter(AuthorizationState)
Signer = Annotated[Principal, Depends(allowed(Capability.FLOWS))]
AuthId = Annotated[int, Path(ge=1, le=2**62)]


class BatchDocumentIn(DocumentIn):
    placement: PlacementIn | None = None
    role: str | None = Field(None, max_length=20)
    field_name: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description=(
            "an empty signature field the document was prepared with (甲方签章): the seal goes "
            "into it, at its rectangle, and no placement is given; a document certified to "
            "permit form filling (DocMDP P=2/P=3) is sealed only so. Refused (422, naming "
            "documents[i].field_name) for a field already signed, of another type, locked, or "
            "with seed values the seal cannot meet"
        ),
    )


class BatchCodeIn(Strict):
    signer_subscriber_id: int = Field(ge=1, le=2**62)
    documents: list[BatchDocumentIn] = Field(min_length=1, max_length=100)
    seal: SealRef | None = Field(
        None,
        description=(
            "the seal the batch will be signed with (id or esID); given, a batch it could not "
            "sign is refused before any code is sent, as /batches/sign would refuse it before "
            "the PIN (e.g. 403 grant_used_up: the signer's seal grant has fewer uses left than "
            "there are documents); not given, a prepared field's seed values are judged "
            "with the signer's only seal that signs a PDF, if it has only one"
        ),
    )
    level: str | None = Field(
        None,
        max_length=8,
        description=(
            "the level /batches/sign will be given (B-B, B-T, B-LT, B-LTA; refused as there, "
            "422 naming level): a prepared field asking for a timestamp (/SV /TimeStamp) is "
            "then judged before any code is sent. Not given: judged at /batches/sign"
        ),
    )


class BatchSignIn(BatchCodeIn):
    seal: SealRef
    pin: str = Field(min_length=1, max_length=200)
    challenge_id: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=12)
    level: str = Field("B-LT", max_length=8, description="B-B, B-T, B-LT or B-LTA")


class BatchOut(BaseModel):
    documents: list[SignedDocumentOut]
    challenge_id: str | None
    authorization_id: int | None


class AuthorizationGrantIn(Strict):
    seal: SealRef
    pin: str = Field(min_length=1, max_length=200, description="the seal PIN, given once")
    granted_by_subscriber_id: int = Field(ge=1, le=2**62)
    max_documents: int = Field(ge=1, le=MAX_DOCUMENTS)
    valid_until: IsoDateTime
    valid_from: IsoDateTime | None = None
    counterparties: list[Id] = Field(default_factory=list, max_length=100)
    flow_ids: list[Id] = Field(default_factory=list, max_length=100)


class WithdrawIn(Strict):
    reason: Reason


def _items(body: BatchCodeIn) -> list[BatchItem]:
    return [
        BatchItem(
            pdf=pdf_of(d, f"documents[{i}].content_base64"),
            document_name=d.name,
            placement=d.placement.placement() if d.placement else None,
            role=d.role,
            field_name=d.field_name,
        )
        for i, d in enumerate(body.documents)
    ]


@router.post("/batches/code", status_code=201, response_model=Challenge)
def batch_code(body: BatchCodeIn, platform: Plat, principal: Signer):
    """One code for the whole list; its SMS says how many documents it covers. With ``seal``,
    a batch that seal could not sign for the signer gets no code (the refusal /batches/sign
    would give before the PIN); nor does a prepared field whose seed values that seal (or,
    not named, the signer's only seal) cannot meet at ``level``."""
    scope_subscriber(platform, principal, body.signer_subscriber_id, field="signer_subscriber_id")
    return platform.batch.request_code(
        signer_subscriber_id=body.signer_subscriber_id,
        items=_items(body),
        actor=principal.actor,
        seal=body.seal,
        level=body.level,
    )


@router.post("/batches/sign", response_model=BatchOut)
def batch_sign(body: BatchSignIn, request: Request, platform: Plat, principal: Signer):
    """Every document signed, or none (the code then stays usable)."""
    scope_subscriber(platform, principal, body.signer_subscriber_id, field="signer_subscriber_id")
    result = platform.batch.sign(
        _items(body),
        seal=body.seal,
        pin=body.pin,
        signer_subscriber_id=body.signer_subscriber_id,
        challenge_id=body.challenge_id,
        code=body.code,
        level=body.level,
        client_ip=client_ip(request),
        actor=principal.actor,
    )
    return BatchOut(
        documents=[SignedDocumentOut.of(d) for d in result.documents],
        challenge_id=result.challenge_id,
        authorization_id=result.authorization_id,
    )


def _scoped(platform, principal: Principal, authorization_id: int) -> AuthorizationView:
    auth = platform.authorizations.get(authorization_id)
    scope_owned(
        platform,
        principal,
        auth.holder_subscriber_id,
        missing=f"no authorization {authorization_id}",
        field="authorization_id",
    )
    return auth


@router.post("/authorizations", status_code=201, response_model=AuthorizationView)
def grant(body: AuthorizationGrantIn, platform: Plat, principal: Signer):
    scope_subscriber(
        platform, principal, body.granted_by_subscriber_id, field="granted_by_subscriber_id"
    )
    seal = platform.seals.get(body.seal)  # another organization's: as a seal that does not exist
    scope_owned(
        platform, principal, seal.subscriber_id, missing=f"no seal {body.seal}", field="seal"
    )
    return platform.authorizations.grant(
        body.seal,
        pin=body.pin,
        granted_by_subscriber_id=body.granted_by_subscriber_id,
        max_documents=body.max_documents,
        valid_until=body.valid_until,
        valid_from=body.valid_from,
        counterparties=body.counterparties,
        flow_ids=body.flow_ids,
        actor=principal.actor,
    )


@router.get("/authorizations", response_model=Page[AuthorizationView])
def list_authorizations(
    platform: Plat,
    principal: Signer,
    pages: Pages,
    holder_subscriber_id: int | None = Query(None, ge=1, le=2**62),
    state: AuthorizationStateFilter | None = None,
):
    """Authorizations in id order, a page at a time; an organization's key: those it holds
    (or, filtered, those a subscriber in its scope holds)."""
    if holder_subscriber_id is not None:  # another organization's or no subscriber: 404
        scope_filter(platform, principal, holder_subscriber_id, field="holder_subscriber_id")
    holder = holder_subscriber_id or principal.organization_id
    rows = platform.authorizations.list(holder, state=state, **pages.fetch())
    return pages.page(rows, lambda a: a.id)


@router.get("/authorizations/{authorization_id:int}", response_model=AuthorizationView)
def get_authorization(authorization_id: AuthId, platform: Plat, principal: Signer):
    return _scoped(platform, principal, authorization_id)


@router.get("/authorizations/{authorization_id:int}/terms", response_model=TermsCheck)
def check_terms(authorization_id: AuthId, platform: Plat, principal: Signer):
    """The signed terms, checked: the row still says them and the seal's key signed them."""
    _scoped(platform, principal, authorization_id)
    return platform.authorizations.verify_terms(authorization_id)


@router.post("/authorizations/{authorization_id:int}/withdraw", response_model=AuthorizationView)
def withdraw(authorization_id: AuthId, body: WithdrawIn, platform: Plat, principal: Signer):
    """Ends it at once; the platform's copy of the key is deleted in the same commit."""
    _scoped(platform, principal, authorization_id)
    return platform.authorizations.withdraw(
        authorization_id, actor=principal.actor, reason=body.reason
    )
