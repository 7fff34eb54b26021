"""Delivery gateways behind one interface, so real SMS and e-mail providers plug in later.

The built-in gateways deliver nowhere real: ``FileGateway`` writes each message to an outbox file
(the default: tests and demos read codes from it, and nothing is lost if nobody is watching), and
``ConsoleGateway`` prints it for a developer at a terminal. A provider gateway only has to turn a
rendered message into a provider call and raise ``DeliveryError`` when the provider refuses.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, TextIO, runtime_checkable

from yinxin.clock import Clock, SystemClock
from yinxin.errors import YinxinError

CHANNELS = ("sms", "email")


class DeliveryError(YinxinError):
    """The gateway could not hand the message over. ``permanent`` says a retry cannot help
    (a recipient the provider rejects), so the send log stops retrying it."""

    http_status = 502
    code = "delivery_failed"

    def __init__(self, message: str, *, permanent: bool = False, field: str | None = None):
        super().__init__(message, field=field)
        self.permanent = permanent


@runtime_checkable
class Gateway(Protocol):
    """One delivery channel.

    ``template_id`` and ``values`` are passed too because mainland SMS providers (Aliyun,
    Tencent Cloud) send only pre-registered templates with parameters, not free text; gateways
    that send text ignore them.
    """

    channel: str

    def send(
        self,
        recipient: str,
        subject: str,
        body: str,
        *,
        template_id: str | None = None,
        values: Mapping[str, object] | None = None,
    ) -> str:
        """Hand the message over; return the provider's message id or raise DeliveryError."""
        ...


def _check_channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {', '.join(CHANNELS)}")
    return channel


class LocalGateway:
    """What the built-in gateways share: each message gets a random id, and ``deliver`` puts
    it somewhere a person or a test can read it (raising ``DeliveryError`` if it cannot)."""

    channel: str

    def send(self, recipient: str, subject: str, body: str, **meta: object) -> str:
        message_id = uuid.uuid4().hex
        template_id = meta.get("template_id")
        self.deliver(
            message_id, recipient, subject, body, str(template_id) if template_id else None
        )
        return message_id

    def deliver(
        self, message_id: str, recipient: str, subject: str, body: str, template_id: str | None
    ) -> None:
        raise NotImplementedError


class FileGateway(LocalGateway):
    """Appends one JSON line per message to ``<outbox>/<channel>.jsonl`` and fsyncs it.

    The file holds one-time codes, so it is created readable by the owner only.
    """

    def __init__(self, outbox: str | Path, channel: str, *, clock: Clock | None = None):
        self.outbox = Path(outbox)
        self.channel = _check_channel(channel)
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self.outbox / f"{self.channel}.jsonl"

    def deliver(
        self, message_id: str, recipient: str, subject: str, body: str, template_id: str | None
    ) -> None:
        line = (
            json.dumps(
                {
                    "id": message_id,
                    "at": self.clock.now().isoformat(),
                    "channel": self.channel,
                    "to": recipient,
                    "template_id": template_id,
                    "subject": subject,
                    "body": body,
                },
                ensure_ascii=False,
                separators=(",", ":"),
            )
            + "\n"
        )
        data = line.encode("utf-8")
        try:
            with self._lock:
                created = not self.outbox.exists()
                self.outbox.mkdir(parents=True, exist_ok=True, mode=0o700)
                if created:
                    _fsync_dir(self.outbox.parent)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    # One write per line, so lines from several processes never interleave.
                    written = os.write(fd, data)
                    if written != len(data):
                        raise OSError("short write to the outbox")
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as e:
            raise DeliveryError(
                f"cannot write to the {self.channel} outbox: {e.strerror or type(e).__name__}"
            ) from None

    def read(self) -> list[dict]:
        """Every message in the outbox, oldest first (for tests, demos and operators)."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class ConsoleGateway(LocalGateway):
    """Prints each message; for a developer running the platform at a terminal."""

    def __init__(self, channel: str, stream: TextIO | None = None):
        self.channel = _check_channel(channel)
        self.stream = stream

    def deliver(
        self, message_id: str, recipient: str, subject: str, body: str, template_id: str | None
    ) -> None:
        out = self.stream or sys.stdout
        try:
            print(f"[{self.channel} → {recipient}] {subject}\n{body}\n", file=out, flush=True)
        except (OSError, ValueError) as e:
            raise DeliveryError(f"cannot print the message: {type(e).__name__}") from None
