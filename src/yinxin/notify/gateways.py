"""Delivery gateways behind one interface: the file outbox, the console, SMTP and SMS providers.

The built-in gateways deliver nowhere real: ``FileGateway`` writes each message to an outbox file
(the default: tests and demos read codes from it, and nothing is lost if nobody is watching), and
``ConsoleGateway`` prints it for a developer at a terminal. The real ones live beside this
module (``notify.email.SmtpGateway``, ``notify.sms``). A provider gateway only has to turn a
rendered message into a provider call and raise ``DeliveryError`` when the provider refuses.

Every gateway's ``send`` takes one ``Message``: the rendered text with the template id and
values, and for e-mail an HTML alternative and attachments. A gateway that can send attachments
says so with ``takes_attachments = True``; the notifier refuses a message with attachments for
any other, so a gateway written for text alone keeps working and just ignores the rest. The
message's ``message_key`` is its idempotency key (``yx-<id>-<nonce>``), the same on every
attempt of one message, for a gateway to hand to its provider so a message sent again after an
interrupted attempt is known as the same one (the file outbox writes it into the line).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Protocol, TextIO, runtime_checkable

from yinxin.clock import Clock, SystemClock
from yinxin.errors import ValidationError, YinxinError

CHANNELS = ("sms", "email")
# Most mail servers refuse messages over 25–50 MB, and base64 grows attachments by a third.
MAX_ATTACHMENTS_BYTES = 20 * 1024 * 1024
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")


class DeliveryError(YinxinError):
    """The gateway could not hand the message over. ``permanent`` says a retry cannot help
    (a recipient the provider rejects), so the send log stops retrying it."""

    http_status = 502
    code = "delivery_failed"

    def __init__(self, message: str, *, permanent: bool = False, field: str | None = None):
        super().__init__(message, field=field)
        self.permanent = permanent


class Attachment(NamedTuple):
    """A file sent with an e-mail (the signed PDF, the evidence report): a plain
    ``(filename, content_type, bytes)`` tuple is one too."""

    filename: str
    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def check_attachments(items: Iterable[Sequence[object]]) -> tuple[Attachment, ...]:
    """Attachments as ``Attachment``s, refused (naming the field) before anything is written:
    a file name is a name, not a path, and the content type is a ``type/subtype``."""
    out: list[Attachment] = []
    total = 0
    for item in items:
        try:
            filename, content_type, data = item
        except (TypeError, ValueError):
            raise ValidationError(
                "an attachment is (filename, content_type, bytes)", field="attachments"
            ) from None
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ValidationError("attachment content must be bytes", field="attachments")
        name = str(filename or "").strip()
        if (
            not name
            or len(name) > 200
            or any(c in name for c in "/\\")
            or any(ord(c) < 32 or ord(c) == 127 for c in name)
            or name in (".", "..")
        ):
            raise ValidationError(
                f"attachment name {name[:40]!r} must be a plain file name", field="attachments"
            )
        ctype = str(content_type or "").strip().lower()
        if not _CONTENT_TYPE.fullmatch(ctype):
            raise ValidationError(
                f"attachment {name}: content type {ctype[:40]!r} is not type/subtype",
                field="attachments",
            )
        total += len(data)
        out.append(Attachment(name, ctype, bytes(data)))
    if total > MAX_ATTACHMENTS_BYTES:
        raise ValidationError(
            f"attachments total {total} bytes; at most {MAX_ATTACHMENTS_BYTES}",
            field="attachments",
        )
    return tuple(out)


@dataclass(frozen=True)
class Message:
    """One rendered message as the notifier hands it to a gateway: one object, so the gateways'
    ``send`` share one signature instead of each spelling out the same keyword list.

    ``template_id`` and ``values`` travel too because mainland SMS providers (Aliyun, Tencent
    Cloud) send only pre-registered templates with parameters, not free text; gateways that send
    text ignore them. ``html`` (the HTML alternative of ``body``) is set for e-mail only, and
    ``attachments`` only for a gateway that ``takes_attachments``. ``message_key`` is the
    message's idempotency key, the same on every attempt (None when the notifier has none).
    """

    recipient: str
    subject: str
    body: str
    template_id: str | None = None
    values: Mapping[str, object] = field(default_factory=dict)
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    message_key: str | None = None


@runtime_checkable
class Gateway(Protocol):
    """One delivery channel. A gateway that can send attachments also has a class attribute
    ``takes_attachments = True`` (the notifier reads it with a default of False)."""

    channel: str

    def send(self, message: Message) -> str:
        """Hand the message over; return the provider's message id or raise DeliveryError."""
        ...


def _check_channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {', '.join(CHANNELS)}")
    return channel


@dataclass(frozen=True)
class LocalMessage:
    """One attempt as a built-in gateway delivers it: the message with its attachments checked
    and this attempt's random ``id``; one object, so each gateway's ``deliver`` need not spell
    them out."""

    id: str
    recipient: str
    subject: str
    body: str
    template_id: str | None
    attachments: tuple[Attachment, ...] = ()
    message_key: str | None = None


class LocalGateway:
    """What the built-in gateways share: each message gets a random id (this attempt's), and
    ``deliver`` puts it somewhere a person or a test can read it (raising ``DeliveryError`` if
    it cannot), with the message key when the notifier gives one (the same on every attempt)."""

    channel: str
    takes_attachments = True

    def send(self, message: Message) -> str:
        local = LocalMessage(
            uuid.uuid4().hex,
            message.recipient,
            message.subject,
            message.body,
            message.template_id or None,
            check_attachments(message.attachments),
            message.message_key or None,
        )
        self.deliver(local)
        return local.id

    def deliver(self, message: LocalMessage) -> None:
        raise NotImplementedError


class FileGateway(LocalGateway):
    """Appends one JSON line per message to ``<outbox>/<channel>.jsonl`` and fsyncs it.

    The file holds one-time codes, so it is created readable by the owner only. Attachments are
    listed by name, type, size and SHA-256, not copied. ``id`` is the attempt's, ``message_key``
    the message's: two lines with one key are one message written twice (a re-sent attempt).
    """

    def __init__(self, outbox: str | Path, channel: str, *, clock: Clock | None = None):
        self.outbox = Path(outbox)
        self.channel = _check_channel(channel)
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self.outbox / f"{self.channel}.jsonl"

    def deliver(self, message: LocalMessage) -> None:
        entry: dict[str, object] = {
            "id": message.id,
            "at": self.clock.now().isoformat(),
            "message_key": message.message_key,
            "channel": self.channel,
            "to": message.recipient,
            "template_id": message.template_id,
            "subject": message.subject,
            "body": message.body,
        }
        if message.attachments:
            entry["attachments"] = [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": len(a.data),
                    "sha256": a.sha256,
                }
                for a in message.attachments
            ]
        line = (
            json.dumps(
                entry,
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

    def deliver(self, message: LocalMessage) -> None:
        out = self.stream or sys.stdout
        files = "".join(
            f"[attachment: {a.filename}, {len(a.data)} bytes]\n" for a in message.attachments
        )
        key = f" ({message.message_key})" if message.message_key else ""
        head = f"[{self.channel} → {message.recipient}]{key} {message.subject}"
        try:
            print(f"{head}\n{message.body}\n{files}", file=out, flush=True)
        except (OSError, ValueError) as e:
            raise DeliveryError(f"cannot print the message: {type(e).__name__}") from None
