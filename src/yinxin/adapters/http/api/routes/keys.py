"""API keys: an administrator makes them (the secret is in the answer, once), lists, revokes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from pydantic import Field

from yinxin.access.keys import ApiKeyView, ApiRole, Capability, IssuedKey, Principal
from yinxin.adapters.http.api.context import IsoDateTime, Page, Pages, Plat, Strict, allowed
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.api.responses import holds_secret

router = APIRouter(route_class=JsonRoute, tags=["api keys"])
Admin = Annotated[Principal, Depends(allowed(Capability.MANAGE_KEYS))]
KeyId = Annotated[int, Path(ge=1, le=2**62)]


class KeyIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    role: ApiRole
    organization_id: int | None = Field(None, ge=1, le=2**62)
    expires_at: IsoDateTime | None = None


@router.post("/api-keys", status_code=201, response_model=IssuedKey)
def create_key(body: KeyIn, response: Response, platform: Plat, principal: Admin):
    """The answer holds the secret: the only time it is shown."""
    holds_secret(response)  # the secret: kept by no cache, sealed for a retry
    return platform.api_keys.create(**body.model_dump(), actor=principal.actor)


@router.get("/api-keys", response_model=Page[ApiKeyView])
def list_keys(platform: Plat, _principal: Admin, pages: Pages):
    """Keys in id order, revoked ones included, a page at a time."""
    return pages.page(platform.api_keys.list(**pages.fetch()), lambda k: k.id)


@router.get("/api-keys/{key_id:int}", response_model=ApiKeyView)
def get_key(key_id: KeyId, platform: Plat, _principal: Admin):
    return platform.api_keys.get(key_id)


@router.post("/api-keys/{key_id:int}/revoke", response_model=ApiKeyView)
def revoke_key(key_id: KeyId, platform: Plat, principal: Admin):
    return platform.api_keys.revoke(key_id, actor=principal.actor)
