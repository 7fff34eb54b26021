"""The message worker in a process of its own, to be killed with SIGKILL at a random moment.

``python -m tests.stress.message_worker HOME STALE_SECONDS`` builds the platform from the
environment as ``yinxin worker`` does (``YINXIN_DATABASE_URL``, ``YINXIN_SMS_PROVIDER=http``,
``YINXIN_SMS_HTTP_URL``…; the system clock), prints ``ready`` and then runs the outbox for ever:
``send_pending`` and ``retry_failed(ignore_backoff=True)``, one message at a time, so a kill
strands at most one message mid-attempt. ``STALE_SECONDS`` shortens how long a queued row must
wait before it counts as interrupted (600 s in production), so that the next worker, started
seconds later, takes over what the killed one left; the harness's final run uses the default.
"""

from __future__ import annotations

import sys
import time


def main(home: str, stale_seconds: int) -> None:
    from yinxin.app import Platform
    from yinxin.notify.service import RetryPolicy
    from yinxin.settings import Settings

    p = Platform(Settings.from_env(home=home), migrate=False)
    notifier = p.notifier
    notifier.retry = RetryPolicy(
        max_attempts=notifier.retry.max_attempts, stale_seconds=stale_seconds
    )
    print("ready", flush=True)
    while True:
        done = notifier.send_pending(limit=1)
        done += notifier.retry_failed(limit=1, ignore_backoff=True)
        if not done:
            time.sleep(0.02)  # nothing due: what is left waits for its stale interval


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
