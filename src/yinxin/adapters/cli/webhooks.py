"""``yinxin webhook …``: subscriptions (subscribe, list, pause, resume, rotate the secret,
delete), the delivery log, and the two steps a scheduler runs (``dispatch``: audit trail →
deliveries; ``deliver``: send what is due)."""

from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path

import typer

from yinxin.adapters.cli.common import (
    AFTER,
    HOME,
    JSON,
    LIMIT,
    OPERATOR,
    Platform,
    moment,
    on_platform,
    page_of,
    platform,
    run,
    show_once,
)
from yinxin.errors import YinxinError

webhook_app = typer.Typer(
    no_args_is_help=True, help="Webhooks: integrations told what happened, signed and retried."
)


@webhook_app.command("subscribe")
def webhook_subscribe(
    url: str = typer.Option(..., help="The receiver, http:// or https://."),
    event: list[str] = typer.Option(
        ..., "--event", help="An event type (repeat it), or * for every one."
    ),
    organization: int | None = typer.Option(
        None, help="Only events about this organization subscriber (default: every event)."
    ),
    description: str | None = typer.Option(None, help="What the receiver is (shown in lists)."),
    home: Path | None = HOME,
    actor: str = OPERATOR,
    as_json: bool = JSON,
) -> None:
    """Subscribe a receiver; the signing secret is printed once — store it now."""

    def make():
        try:
            return platform(home).webhooks.subscribe(
                url, event, organization, actor, description=description
            )
        except YinxinError as e:
            # the service's names (events[1], owner_organization_id) for --event and
            # --organization: a refusal named fields no option of the command is called
            field = e.field or ""
            if re.fullmatch(r"events(\[\d+\])?", field):
                field = "event"
            elif field == "owner_organization_id":
                field = "organization"
            else:
                raise
            raise type(e)(e.message, field=field, code=e.code) from None

    def show(issued) -> None:
        w = issued.subscription
        scope = f"organization {w.owner_organization_id}" if w.owner_organization_id else "all"
        show_once(f"webhook {w.id} → {w.url} ({', '.join(w.events)}; {scope})", issued.secret)

    run(as_json, make, show)


@webhook_app.command("list")
@on_platform()
def webhook_list(
    deleted: bool = typer.Option(False, "--deleted", help="Include deleted subscriptions."),
    limit: int = LIMIT,
    after: int | None = AFTER,
    p: Platform = HOME,
) -> object:
    """Subscriptions in id order, a page at a time (never the secrets)."""
    return page_of(functools.partial(p.webhooks.list, include_deleted=deleted), limit, after)


SUBSCRIPTION = typer.Argument(..., help="The subscription's id (webhook list).")
# the API's overlap_seconds, and the service's bound: at most 7 days
MAX_OVERLAP = 7 * 86400


@webhook_app.command("pause")
@on_platform()
def webhook_pause(
    subscription_id: int = SUBSCRIPTION,
    reason: str | None = typer.Option(None, help="Why (kept on the subscription and audited)."),
    p: Platform = HOME,
    actor: str = OPERATOR,
) -> object:
    """Stop deliveries; what is due waits, and new events wait for it, until it is resumed."""
    return p.webhooks.pause(subscription_id, actor=actor, reason=reason)


@webhook_app.command("resume")
@on_platform()
def webhook_resume(
    subscription_id: int = SUBSCRIPTION, p: Platform = HOME, actor: str = OPERATOR
) -> object:
    """Deliver again: the deliveries that waited are tried at the next run."""
    return p.webhooks.resume(subscription_id, actor=actor)


@webhook_app.command("rotate-secret")
def webhook_rotate_secret(
    subscription_id: int = SUBSCRIPTION,
    overlap: int = typer.Option(
        0,
        min=0,
        max=MAX_OVERLAP,
        help=f"Seconds the old secret keeps signing too (0–{MAX_OVERLAP}, at most 7 days).",
    ),
    home: Path | None = HOME,
    actor: str = OPERATOR,
    as_json: bool = JSON,
) -> None:
    """A new signing secret, printed once — store it now; with --overlap the old one signs
    beside it for that long, so the receiver can switch without losing events."""

    def make():
        return platform(home).webhooks.rotate_secret(
            subscription_id, actor=actor, overlap=dt.timedelta(seconds=overlap)
        )

    def show(issued) -> None:
        w = issued.subscription
        old = (
            f"; the old secret signs too until {moment(w.previous_secret_until)}"
            if w.previous_secret_until
            else "; the old secret no longer signs"
        )
        show_once(f"webhook {w.id} → {w.url}: new secret{old}", issued.secret)

    run(as_json, make, show)


@webhook_app.command("delete")
@on_platform()
def webhook_delete(
    subscription_id: int = SUBSCRIPTION, p: Platform = HOME, actor: str = OPERATOR
) -> object:
    """Final: deliveries not yet made are given up and the secret is destroyed."""
    return p.webhooks.delete(subscription_id, actor=actor)


@webhook_app.command("deliveries")
@on_platform()
def webhook_deliveries(
    subscription_id: int = typer.Argument(..., help="The subscription's id (webhook list)."),
    after: int | None = AFTER,
    limit: int = LIMIT,
    state: str | None = typer.Option(None, help="pending, leased, delivered, failed or given_up."),
    p: Platform = HOME,
) -> object:
    """The delivery log of a subscription, oldest first, each delivery with its tries, a page
    at a time as the API's ("more: --after N" ends a page with more): oldest first, a page
    cut without a word would hide the recent deliveries behind the first fifty."""
    return page_of(
        functools.partial(p.webhooks.deliveries, subscription_id, state=state), limit, after
    )


@webhook_app.command("dispatch")
@on_platform()
def webhook_dispatch(
    # the service clamps to 1–10000; said here, so `--limit 0` or `-5` is refused, not run as 1
    limit: int = typer.Option(
        500, min=1, max=10_000, help="Audit events to read at most (1–10000)."
    ),
    p: Platform = HOME,
) -> object:
    """Turn new audit events into deliveries (safe to run anywhere, any number at once)."""
    return {"enqueued": p.webhooks.dispatch(limit=limit)}


@webhook_app.command("deliver")
@on_platform()
def webhook_deliver(
    # the service clamps to 1–1000; said here, so `--limit 0` or `-5` is refused, not run as 1
    limit: int = typer.Option(50, min=1, max=1000, help="Deliveries to try at most (1–1000)."),
    p: Platform = HOME,
) -> object:
    """Send the deliveries that are due (first tries and retries whose back-off has passed)."""
    return {"tried": p.webhooks.deliver_due(limit=limit)}
