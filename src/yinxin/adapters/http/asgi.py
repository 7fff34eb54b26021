"""The two raw ASGI moves the server's fast paths share: answer with a whole body, and read a
whole request body within a limit. The status protocols (``server``), the API guards
(``api.guards``) and the metrics endpoint (``ops``) answer without FastAPI, so they use these.
"""

from __future__ import annotations

from collections.abc import Iterable

# set in the scope of a HEAD the server answers as its GET (RFC 9110 9.3.2): a route whose GET
# also records something (an export's download on the audit trail) leaves the record out
HEAD_ONLY = "yinxin.head_only"


class Wrapper:
    """An ASGI app around another (``self.app``) that the server still reaches through: the
    status fast paths are found as ``app.status``, ``app.ocsp`` … on whichever wrapper is
    outermost, so every wrapper answers for the attributes of the app inside it."""

    def __init__(self, app):
        self.app = app

    def __getattr__(self, name):
        return getattr(self.app, name)


class ClientGone(Exception):
    """The client went away (or was cut off by a timeout) before its body was read."""


async def respond(
    send, status: int, body: bytes, content_type: bytes, extra: Iterable = ()
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    headers += extra
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive, limit: int) -> bytes | None:
    """The request body, or None if it is larger than ``limit``; ``ClientGone`` if the
    connection closed first (nobody is left to answer)."""
    chunks, size = [], 0
    more = True
    while more:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise ClientGone
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = msg.get("more_body", False)
    return b"".join(chunks)
