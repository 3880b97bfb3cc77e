"""Configuration from PORTAL_* environment variables, with the embedded defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(f"PORTAL_{name}")
    return value if value not in (None, "") else default


@dataclass
class Config:
    instance_path: Path
    database_url: str
    storage_url: str
    redis_url: str | None
    keys_dir: Path
    kek: str | None  # base64 key-encryption key; None: a file in the instance folder
    secret_key: str | None
    max_upload_mb: int = 20
    base_url: str = "http://127.0.0.1:5000"
    queue_name: str = "portal"
    smtp_url: str | None = None  # smtp://user:pass@host:port, smtps://… ; None: log the notice
    mail_from: str = "Einwohnerportal Luzern <no-reply@portal.lu.ch>"
    testing: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: Any) -> Config:
        instance = Path(overrides.pop("instance_path", None) or _env("INSTANCE") or "instance")
        instance = instance.resolve()
        values: dict[str, Any] = {
            "instance_path": instance,
            "database_url": _env("DATABASE_URL", f"sqlite:///{instance / 'portal.sqlite3'}"),
            "storage_url": _env("STORAGE_URL", str(instance / "objects")),
            "redis_url": _env("REDIS_URL"),
            "keys_dir": Path(_env("KEYS_DIR", str(instance / "keys"))),  # type: ignore[arg-type]
            "kek": _env("KEK"),
            "secret_key": _env("SECRET_KEY"),
            "max_upload_mb": int(_env("MAX_UPLOAD_MB", "20")),  # type: ignore[arg-type]
            # The demo serves on PORT (make run), so its links and printed URL follow it.
            "base_url": _env("BASE_URL", f"http://127.0.0.1:{os.environ.get('PORT') or 5000}"),
            "queue_name": _env("QUEUE", "portal"),
            "smtp_url": _env("SMTP_URL"),
            "mail_from": _env("MAIL_FROM", "Einwohnerportal Luzern <no-reply@portal.lu.ch>"),
        }
        known = {f.name for f in fields(cls)}
        values.update({k: v for k, v in overrides.items() if k in known})
        values.setdefault("extra", {}).update(
            {k: v for k, v in overrides.items() if k not in known}
        )
        return cls(**values)

    def as_env(self) -> dict[str, str]:
        """The same configuration for a child process (a worker started by tests or the CLI)."""
        env = {
            "PORTAL_INSTANCE": str(self.instance_path),
            "PORTAL_DATABASE_URL": self.database_url,
            "PORTAL_STORAGE_URL": self.storage_url,
            "PORTAL_KEYS_DIR": str(self.keys_dir),
            "PORTAL_QUEUE": self.queue_name,
        }
        if self.redis_url:
            env["PORTAL_REDIS_URL"] = self.redis_url
        if self.kek:
            env["PORTAL_KEK"] = self.kek
        if self.smtp_url:
            env["PORTAL_SMTP_URL"] = self.smtp_url
        env["PORTAL_MAIL_FROM"] = self.mail_from
        env["PORTAL_BASE_URL"] = self.base_url
        return env
