"""Settings from the environment, with safe embedded defaults (SQLite, file-held keys)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    base_url: str = "http://127.0.0.1:8000"
    keystore: str = "file"  # "file" | "pkcs11"
    pkcs11_module: str | None = None
    pkcs11_token: str | None = None
    pkcs11_pin: str | None = None
    ca_algorithm: str = "ec-p256"
    otp_ttl_seconds: int = 300
    api_rate: float = 20.0  # API requests a second per caller on average (0: no limit)
    api_burst: int = 100  # … and at once
    api_max_body: int = 60 * 1024 * 1024  # a 50 MiB PDF with room for its JSON envelope
    sweep_seconds: float = 60.0  # how often the server expires sign flows past their deadline
    # webhooks may go to loopback and private networks (a receiver on the same host or LAN)
    webhook_allow_private: bool = False
    log_format: str = "text"  # "json": one JSON object per log line, with the request id
    access_log: bool = False  # one line per HTTP request (JSON when log_format is json)
    metrics_token: str | None = None  # if set, /metrics wants "Authorization: Bearer <it>"
    extra: dict = field(default_factory=dict)

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def documents_dir(self) -> Path:
        """Signed documents kept for archive renewal (content-addressed)."""
        return self.home / "documents"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @classmethod
    def from_env(cls, home: str | Path | None = None, **overrides) -> Settings:
        env = os.environ
        h = Path(home or env.get("YINXIN_HOME") or "var").resolve()
        values = dict(
            home=h,
            database_url=env.get("YINXIN_DATABASE_URL") or f"sqlite:///{h / 'yinxin.db'}",
            base_url=(env.get("YINXIN_BASE_URL") or "http://127.0.0.1:8000").rstrip("/"),
            keystore=env.get("YINXIN_KEYSTORE", "file"),
            pkcs11_module=env.get("YINXIN_PKCS11_MODULE"),
            pkcs11_token=env.get("YINXIN_PKCS11_TOKEN"),
            pkcs11_pin=env.get("YINXIN_PKCS11_PIN"),
            ca_algorithm=env.get("YINXIN_CA_ALGORITHM", "ec-p256"),
            api_rate=_number(env, "YINXIN_API_RATE", float),
            api_burst=_number(env, "YINXIN_API_BURST", int),
            sweep_seconds=_number(env, "YINXIN_SWEEP_SECONDS", float),
            webhook_allow_private=env.get("YINXIN_WEBHOOK_ALLOW_PRIVATE", "").lower()
            in ("1", "true", "yes"),
            log_format=env.get("YINXIN_LOG_FORMAT") or None,
            access_log=(env.get("YINXIN_ACCESS_LOG", "").lower() in ("1", "true", "yes")) or None,
            metrics_token=env.get("YINXIN_METRICS_TOKEN") or None,
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _number(env, name: str, kind: type):
    """A number from the environment, or None to keep the default; a bad one is refused."""
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = kind(raw)
    except ValueError:
        from yinxin.errors import ConfigurationError

        raise ConfigurationError(f"{name} must be a number, not {raw!r}", field=name) from None
    if value < 0:
        from yinxin.errors import ConfigurationError

        raise ConfigurationError(f"{name} must not be negative", field=name)
    return value
