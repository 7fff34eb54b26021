"""``yinxin notify …``: the send log of messages to holders and its outbox."""

from __future__ import annotations

import typer

from yinxin.adapters.cli.common import HOME, LOG_LIMIT, Platform, on_platform
from yinxin.errors import NotFound, ValidationError

notify_app = typer.Typer(
    no_args_is_help=True, help="Messages to holders: the send log and its outbox."
)


@notify_app.command("retry")
@on_platform()
def notify_retry(
    all_: bool = typer.Option(
        False, "--all", help="Ignore the back-off: retry every failed message now."
    ),
    p: Platform = HOME,
) -> object:
    """Send what is due: outbox messages never sent (their process stopped after the commit)
    and failed ones whose back-off has passed. Run it from a scheduler, e.g. every minute."""
    return {"sent": p.notifier.retry_failed(ignore_backoff=all_)}


@notify_app.command("log")
@on_platform()
def notify_log(
    subscriber_id: int | None = typer.Option(None, help="Only messages to this subscriber."),
    status: str | None = typer.Option(None, help="pending, queued, sent or failed."),
    limit: int = LOG_LIMIT,
    p: Platform = HOME,
) -> object:
    """The send log, newest first (recipients masked)."""
    if subscriber_id is not None:
        # a mistyped id matched no message and printed "(none)", as if the holder had been
        # sent nothing: refused, as ``jobs runs --job`` refuses a job that does not exist
        try:
            p.subscribers.get(subscriber_id)
        except NotFound:
            raise ValidationError(f"no subscriber {subscriber_id}", field="subscriber_id") from None
    return p.notifier.log(subscriber_id, limit, status=status)
