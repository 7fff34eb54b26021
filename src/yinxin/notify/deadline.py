"""A limit on one whole exchange with a remote server (a webhook try, one e-mail's SMTP session,
one SMS provider request).

Socket timeouts bound each connect, read and write, not the exchange: a server answering one
byte just inside the timeout holds the caller for as long as it likes — past a webhook's lease,
past the send log's ``stale_seconds`` — while another process sends the same thing again.
``Deadline`` starts a timer thread when entered; when it fires it shuts down every socket
handed to ``watch`` (and any handed to it later), which wakes a read or write blocked on it
with an error. The caller then fails the exchange and asks ``reason()`` why.

The timer thread waits with ``clock.stopped`` (short relative sleeps), not ``threading.Timer``,
whose timed wait never ends under a shifted clock (``faketime``: the limit never came).

Over httpx, pass ``trace`` as the request's ``trace`` extension (httpcore's public hook) and
send ``Connection: close``, so each exchange opens its own connection and the deadline is
handed its socket as it connects.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from yinxin.clock import stopped

TICK = 0.05  # how often the timer thread looks; an exchange's end frees it at most this late


class Deadline:
    """``with Deadline(seconds) as d:`` around the exchange; ``d.watch(sock)`` for each socket
    it opens; afterwards ``d.reason()`` says whether the limit ended it."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._owned: list[socket.socket] = []
        self._lock = threading.Lock()
        self._over = threading.Event()  # the exchange has ended: the timer thread stops

    def __enter__(self) -> Deadline:
        threading.Thread(target=self._count, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._over.set()
            for sock in self._owned:
                sock.close()
            self._owned.clear()

    def watch(self, sock: socket.socket, *, own: bool = False) -> None:
        """Cut ``sock`` when the limit is reached (at once if it already has been). With
        ``own`` the deadline closes it on exit: a duplicate made for the deadline alone."""
        with self._lock:
            self._sockets.append(sock)
            if own:
                self._owned.append(sock)
            if self.expired:
                _cut(sock)

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: watch each stream the exchange connects (TCP, then TLS over
        it). A pooled connection reused from an earlier request is not seen: hence the fresh
        connection (``Connection: close``) the module docstring asks for."""
        if event.endswith((".connect_tcp.complete", ".start_tls.complete")):
            stream = info.get("return_value")
            get_extra_info = getattr(stream, "get_extra_info", None)
            sock = get_extra_info("socket") if get_extra_info is not None else None
            if isinstance(sock, socket.socket):
                self.watch(sock)

    def _count(self) -> None:
        if not stopped(self._over, self.seconds, tick=TICK):
            self._expire()

    def _expire(self) -> None:
        with self._lock:
            if self._over.is_set():  # the exchange ended as the limit came: nothing to cut
                return
            self.expired = True
            for sock in self._sockets:
                _cut(sock)

    def reason(self) -> str | None:
        """Why the exchange failed, if the limit ended it."""
        return f"no complete answer within {self.seconds:g} s" if self.expired else None


def _cut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed
        pass
