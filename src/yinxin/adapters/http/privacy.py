"""What caches may keep, said in one place for the answers that hold someone's documents.

A signing link (``/sign/{token}``, and the API reads behind its page, ``/api/v1/sign/{token}/…``)
is a bearer secret: whoever holds the URL reads the contract. Every answer on such a path — the
page, the flow, the PDF, its pages as pictures, a refusal — is sent ``Cache-Control: no-store``
(no browser disk cache nor shared proxy keeps the contract under its token-bearing URL) and
``Referrer-Policy: no-referrer`` (a link followed from the page does not carry the URL along),
whatever the route set.

An API answer to a request with a credential (an API key, a session cookie) holds that
caller's data (certificates, contracts, flows, evidence): one whose route says nothing of
caching is sent ``Cache-Control: no-store`` — not ``private, no-cache``, which still lets the
browser write the answer to disk, where it outlives a logout on a shared computer; the API's
reads are cheap to ask again. A route that chose its own (a page picture revalidated by its
ETag, ``/public/…`` reads cached for five minutes) keeps it; CRLs, OCSP, CA certificates,
``/static/`` and the pages are not touched."""

from __future__ import annotations

import re

from yinxin.access.sessions import SESSION_COOKIE
from yinxin.adapters.http.asgi import Wrapper

# the page the SMS opens and the API paths behind it (as ``ops.mask_link`` masks them)
_LINK = re.compile(r"^(?:/api/v1)?/sign/")
_API = "/api/v1/"
_CACHE, _REFERRER = b"cache-control", b"referrer-policy"
_SESSION = SESSION_COOKIE.encode() + b"="


def _with_credential(scope) -> bool:
    """The request carries an ``Authorization`` header or the session cookie."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization" and value:
            return True
        if name == b"cookie" and any(
            part.strip().startswith(_SESSION) for part in value.split(b";")
        ):
            return True
    return False


class PrivateAnswers(Wrapper):
    """The ASGI wrapper that sets the headers above on the way out."""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path: str = scope["path"]
        if _LINK.match(path):
            replace = [(_CACHE, b"no-store"), (_REFERRER, b"no-referrer")]
            default: list[tuple[bytes, bytes]] = []
        elif path.startswith(_API) and _with_credential(scope):
            replace, default = [], [(_CACHE, b"no-store")]
        else:
            return await self.app(scope, receive, send)
        names = {n for n, _ in replace}

        async def sending(message):
            if message["type"] == "http.response.start":
                headers = [(n, v) for n, v in message.get("headers", ()) if n.lower() not in names]
                present = {n.lower() for n, _ in headers}
                headers += replace + [(n, v) for n, v in default if n not in present]
                message = {**message, "headers": headers}
            await send(message)

        return await self.app(scope, receive, sending)
