"""Webhook subscriptions: subscribe (the secret is in the answer, once), list, pause, resume,
rotate the secret, delete, and read the delivery log. An organization's caller subscribes for
its organization and sees its own subscriptions only (``docs/webhooks.md``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import Field

from yinxin.access.keys import Capability, Principal
from yinxin.adapters.http.api.context import Page, Pages, Plat, Strict, allowed, state_filter
from yinxin.adapters.http.api.json_body import JsonRoute
from yinxin.adapters.http.api.responses import holds_secret
from yinxin.adapters.http.api.shapes import PauseReason
from yinxin.errors import ValidationError
from yinxin.notify.webhooks import (
    EVENT_TYPES,
    DeliveryState,
    DeliveryView,
    IssuedSubscription,
    SubscriptionView,
)

router = APIRouter(route_class=JsonRoute, tags=["webhooks"])
DeliveryStateFilter = state_filter(DeliveryState)
Hooks = Annotated[Principal, Depends(allowed(Capability.WEBHOOKS))]
SubscriptionId = Annotated[int, Path(ge=1, le=2**62)]


class SubscribeIn(Strict):
    url: str = Field(min_length=1, max_length=2000, examples=["https://oa.example.com/yinxin"])
    events: list[str] = Field(
        min_length=1,
        max_length=len(EVENT_TYPES) + 1,
        description=f"event types ({', '.join(EVENT_TYPES)}) or ['*'] for all",
        examples=[["certificate.revoked", "flow.completed"]],
    )
    description: str | None = Field(None, max_length=200)
    organization_id: int | None = Field(
        None,
        ge=1,
        le=2**62,
        description="only events about this organization (an organization's key: always its "
        "own); none: every event",
    )


class WebhookPauseIn(Strict):
    reason: PauseReason | None = None


class RotateIn(Strict):
    overlap_seconds: int = Field(
        0, ge=0, le=7 * 86400, description="the old secret keeps signing for this long"
    )


def _owner(principal: Principal, asked: int | None) -> int | None:
    bound = principal.organization_id
    if bound is not None and asked not in (None, bound):
        raise ValidationError(
            "an organization's key subscribes for its own organization only",
            field="organization_id",
        )
    return bound if bound is not None else asked


@router.post("/webhooks", status_code=201, response_model=IssuedSubscription)
def subscribe(body: SubscribeIn, response: Response, platform: Plat, principal: Hooks):
    """The answer holds the signing secret: the only time it is shown."""
    holds_secret(response)  # the secret: kept by no cache, sealed for a retry
    try:
        return platform.webhooks.subscribe(
            body.url,
            body.events,
            _owner(principal, body.organization_id),
            principal.actor,
            description=body.description,
        )
    except ValidationError as e:
        # the service's name for what this body calls organization_id (no such organization)
        if e.field != "owner_organization_id":
            raise
        raise ValidationError(e.message, field="organization_id", code=e.code) from None


@router.get("/webhooks", response_model=Page[SubscriptionView])
def list_subscriptions(platform: Plat, principal: Hooks, pages: Pages):
    """Subscriptions in id order, a page at a time (an organization's key: its own)."""
    rows = platform.webhooks.list(organization_id=principal.organization_id, **pages.fetch())
    return pages.page(rows, lambda w: w.id)


@router.get("/webhooks/{subscription_id:int}", response_model=SubscriptionView)
def get_subscription(subscription_id: SubscriptionId, platform: Plat, principal: Hooks):
    return platform.webhooks.get(subscription_id, organization_id=principal.organization_id)


@router.post("/webhooks/{subscription_id:int}/pause", response_model=SubscriptionView)
def pause(subscription_id: SubscriptionId, body: WebhookPauseIn, platform: Plat, principal: Hooks):
    return platform.webhooks.pause(
        subscription_id,
        actor=principal.actor,
        organization_id=principal.organization_id,
        reason=body.reason,
    )


@router.post("/webhooks/{subscription_id:int}/resume", response_model=SubscriptionView)
def resume(subscription_id: SubscriptionId, platform: Plat, principal: Hooks):
    return platform.webhooks.resume(
        subscription_id, actor=principal.actor, organization_id=principal.organization_id
    )


@router.post("/webhooks/{subscription_id:int}/rotate-secret", response_model=IssuedSubscription)
def rotate_secret(
    subscription_id: SubscriptionId,
    body: RotateIn,
    response: Response,
    platform: Plat,
    principal: Hooks,
):
    """A new secret, in the answer once; with ``overlap_seconds`` the old one signs too."""
    holds_secret(response)
    import datetime as dt

    return platform.webhooks.rotate_secret(
        subscription_id,
        actor=principal.actor,
        organization_id=principal.organization_id,
        overlap=dt.timedelta(seconds=body.overlap_seconds),
    )


@router.delete("/webhooks/{subscription_id:int}", response_model=SubscriptionView)
@router.post("/webhooks/{subscription_id:int}/delete", response_model=SubscriptionView)
def delete(subscription_id: SubscriptionId, platform: Plat, principal: Hooks):
    """Final: deliveries not yet made are given up and the secret is destroyed."""
    return platform.webhooks.delete(
        subscription_id, actor=principal.actor, organization_id=principal.organization_id
    )


@router.get("/webhooks/{subscription_id:int}/deliveries", response_model=Page[DeliveryView])
def deliveries(
    subscription_id: SubscriptionId,
    platform: Plat,
    principal: Hooks,
    pages: Pages,
    state: DeliveryStateFilter | None = Query(None),
):
    """The delivery log: each event sent to this subscription, oldest first, with every try."""
    rows = platform.webhooks.deliveries(
        subscription_id,
        state=state,
        organization_id=principal.organization_id,
        **pages.fetch(),
    )
    return pages.page(rows, lambda d: d.id)
