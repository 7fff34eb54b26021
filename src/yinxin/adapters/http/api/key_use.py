"""An API key's ``last_used_at``, written when a request made with it succeeds.

Not in the authentication dependency: there the answer is not known yet, and a refused
request (a 4xx for a bad field, a 403, a 409) must leave the database exactly as it was. Here
the response's status is seen before it is sent, so the stamp is on disk when the caller has
its answer. ``Principal.use_due`` (set by ``ApiKeys.authenticate`` from the row it read) keeps
this to one write a key a minute; a browser session (``key_id`` 0) is not a key.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from yinxin.access.keys import ApiKeys, Principal


class KeyUse:
    """ASGI wrapper: after a 2xx/3xx answer to a request authenticated by a key, record it."""

    def __init__(self, app, keys: ApiKeys):
        self.app, self.keys = app, keys

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        # the dict request.state writes into (get_caller puts the principal there)
        state = scope.setdefault("state", {})

        async def sending(message):
            if message["type"] == "http.response.start" and message["status"] < 400:
                principal = state.get("principal")
                if isinstance(principal, Principal) and principal.key_id and principal.use_due:
                    await run_in_threadpool(self.keys.record_use, principal.key_id)
            await send(message)

        return await self.app(scope, receive, sending)
