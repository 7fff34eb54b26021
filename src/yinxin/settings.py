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
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
