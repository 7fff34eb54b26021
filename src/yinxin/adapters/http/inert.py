"""API answers a browser cannot be made to run as a page.

Anything under ``/api/`` holds text strangers typed (names, titles, reasons, file names) or
bytes they uploaded (an application's scanned documents), and a browser can be sent to open
such an answer directly, as a page of this origin, with the person's session cookie. The
pages carry their own Content-Security-Policy (``adapters/web``); the API's answers carried
none, nor ``X-Content-Type-Options``. Each answer under ``/api/`` is now sent, unless its
route set its own:

* ``X-Content-Type-Options: nosniff`` — the browser takes the declared type, never guesses
  HTML out of an uploaded picture or a JSON body;
* ``Content-Security-Policy: default-src 'none'; frame-ancestors 'none'; sandbox`` — opened
  as a document (a JSON body, a problem, a seal's SVG, a scanned ID card in a new tab), it
  loads nothing, runs no script and cannot be framed by another site. A PDF is left without
  it: a browser's PDF viewer does not show a sandboxed document, and the desk opens the
  uploaded PDFs in a new tab.

The Swagger UI page at ``/api/v1/docs`` sets its own policy (the pages'), which is kept."""

from __future__ import annotations

from yinxin.adapters.http.asgi import Wrapper

_API = "/api/"
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_CSP = b"content-security-policy"
POLICY = b"default-src 'none'; frame-ancestors 'none'; sandbox"
_PDF = b"application/pdf"


class InertAnswers(Wrapper):
    """The ASGI wrapper that adds the headers above to the answers under ``/api/``."""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(_API):
            return await self.app(scope, receive, send)

        async def sending(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                given = {n.lower(): v for n, v in headers}
                if _NOSNIFF[0] not in given:
                    headers.append(_NOSNIFF)
                pdf = given.get(b"content-type", b"").lower().startswith(_PDF)
                if _CSP not in given and not pdf:
                    headers.append((_CSP, POLICY))
                message = {**message, "headers": headers}
            await send(message)

        return await self.app(scope, receive, sending)
