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
    kek: str | None  # base64 key-encryption key; None: see kek_ref, kek_file (app/keys.py)
    secret_key: str | None
    max_upload_mb: int = 20
    max_pages: int = 2000  # intake policy: longer PDFs are refused (casefiles/documents.py)
    check_seconds: float = 5.0  # … and so is a file whose check takes longer than this
    base_url: str = "http://127.0.0.1:5000"
    queue_name: str = "portal"
    smtp_url: str | None = None  # smtp://user:pass@host:port, smtps://… ; None: log the notice
    mail_from: str = "Einwohnerportal Luzern <no-reply@portal.lu.ch>"
    testing: bool = False
    kek_ref: str | None = None  # pkcs11:token=…;object=… : the KEK inside a PKCS#11 token
    kek_file: Path | None = None  # a base64 KEK file that exists, outside the instance folder
    allow_local_keys: bool = False  # accept keys beside the data with PostgreSQL (app/keys.py)
    session_idle_minutes: int = 30  # a login session ends after this long without a request
    session_max_hours: int = 12  # … and this long after the login in any case
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-For/-Proto count
    # The S3 object store (storage/s3_http.py): seconds to connect and to wait for each answer,
    # further tries of a failed call, and the most all S3 calls of one web request may take.
    storage_connect_timeout: float = 2.0
    storage_timeout: float = 5.0
    storage_retries: int = 2
    storage_budget: float = 15.0
    metrics_token: str | None = None  # bearer token of /metrics; None: no /metrics (app/ops.py)
    ops_timeout: float = 2.0  # seconds /readyz and /metrics wait for each part
    # RFC 3161 time-stamps for anchors and receipt seals: a TSA's URL, and a PEM file with the
    # root(s) its certificate chains to; without a URL the portal's own TSA key signs them.
    tsa_url: str | None = None
    tsa_ca_file: Path | None = None
    anchor_interval: int = 3600  # seconds between two anchors of the case files' heads
    # Retention of closed case files (catalogue/lifecycle.py): years for plain deliveries by
    # the kind of their messages, else the default; ordered services declare their own.
    retention_default_years: int = 10
    retention_years_by_kind: dict[str, int] = field(default_factory=dict)
    after_transfer: str = "keep"  # "keep" or "destroy" a case file the archive has taken over
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
            "kek_ref": _env("KEK_REF"),
            "kek_file": Path(kek_file) if (kek_file := _env("KEK_FILE")) else None,
            "allow_local_keys": _env("ALLOW_LOCAL_KEYS") == "1",
            "secret_key": _env("SECRET_KEY"),
            "max_upload_mb": int(_env("MAX_UPLOAD_MB", "20")),  # type: ignore[arg-type]
            "max_pages": int(_env("MAX_PAGES", "2000")),  # type: ignore[arg-type]
            "check_seconds": float(_env("CHECK_SECONDS", "5")),  # type: ignore[arg-type]
            # The demo serves on PORT (make run), so its links and printed URL follow it.
            "base_url": _env("BASE_URL", f"http://127.0.0.1:{os.environ.get('PORT') or 5000}"),
            "queue_name": _env("QUEUE", "portal"),
            "smtp_url": _env("SMTP_URL"),
            "mail_from": _env("MAIL_FROM", "Einwohnerportal Luzern <no-reply@portal.lu.ch>"),
            "session_idle_minutes": int(_env("SESSION_IDLE_MINUTES", "30")),  # type: ignore[arg-type]
            "session_max_hours": int(_env("SESSION_MAX_HOURS", "12")),  # type: ignore[arg-type]
            "trusted_proxies": int(_env("TRUSTED_PROXIES", "0")),  # type: ignore[arg-type]
            "storage_connect_timeout": float(_env("STORAGE_CONNECT_TIMEOUT", "2")),  # type: ignore[arg-type]
            "storage_timeout": float(_env("STORAGE_TIMEOUT", "5")),  # type: ignore[arg-type]
            "storage_retries": int(_env("STORAGE_RETRIES", "2")),  # type: ignore[arg-type]
            "storage_budget": float(_env("STORAGE_BUDGET", "15")),  # type: ignore[arg-type]
            "metrics_token": _env("METRICS_TOKEN"),
            "ops_timeout": float(_env("OPS_TIMEOUT", "2")),  # type: ignore[arg-type]
            "tsa_url": _env("TSA_URL"),
            "tsa_ca_file": Path(tsa_ca) if (tsa_ca := _env("TSA_CA")) else None,
            "anchor_interval": int(_env("ANCHOR_INTERVAL", "3600")),  # type: ignore[arg-type]
            "retention_default_years": _years(
                "RETENTION_DEFAULT_YEARS", _env("RETENTION_DEFAULT_YEARS", "10")
            ),
            "retention_years_by_kind": _by_kind(_env("RETENTION_YEARS")),
            "after_transfer": _choice(
                "AFTER_TRANSFER", _env("AFTER_TRANSFER", "keep"), ("keep", "destroy")
            ),
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
        if self.kek_ref:
            env["PORTAL_KEK_REF"] = self.kek_ref
        if self.kek_file:
            env["PORTAL_KEK_FILE"] = str(self.kek_file)
        if self.allow_local_keys:
            env["PORTAL_ALLOW_LOCAL_KEYS"] = "1"
        if self.smtp_url:
            env["PORTAL_SMTP_URL"] = self.smtp_url
        env["PORTAL_MAIL_FROM"] = self.mail_from
        env["PORTAL_STORAGE_CONNECT_TIMEOUT"] = str(self.storage_connect_timeout)
        env["PORTAL_STORAGE_TIMEOUT"] = str(self.storage_timeout)
        env["PORTAL_STORAGE_RETRIES"] = str(self.storage_retries)
        env["PORTAL_STORAGE_BUDGET"] = str(self.storage_budget)
        env["PORTAL_BASE_URL"] = self.base_url
        if self.tsa_url:
            env["PORTAL_TSA_URL"] = self.tsa_url
        if self.tsa_ca_file:
            env["PORTAL_TSA_CA"] = str(self.tsa_ca_file)
        env["PORTAL_ANCHOR_INTERVAL"] = str(self.anchor_interval)
        env["PORTAL_RETENTION_DEFAULT_YEARS"] = str(self.retention_default_years)
        if self.retention_years_by_kind:
            env["PORTAL_RETENTION_YEARS"] = ",".join(
                f"{kind}={years}" for kind, years in self.retention_years_by_kind.items()
            )
        env["PORTAL_AFTER_TRANSFER"] = self.after_transfer
        return env


class ConfigError(ValueError):
    """A PORTAL_* setting the portal cannot work with: it refuses to start, naming it."""


# The kinds of message an authority delivers (mailbox.models.MessageKind, outbound ones).
RETENTION_KINDS = ("decision", "letter", "invoice", "information")


def _years(name: str, value: str | None) -> int:
    text = (value or "").strip()
    if not text.isascii() or not text.isdigit() or not 0 <= int(text) <= 200:
        raise ConfigError(f"PORTAL_{name} must be a number of years from 0 to 200, not {value!r}")
    return int(text)


def _by_kind(value: str | None) -> dict[str, int]:
    """PORTAL_RETENTION_YEARS: "decision=10,letter=5" (kinds of RETENTION_KINDS)."""
    found: dict[str, int] = {}
    for part in (value or "").split(","):
        if not part.strip():
            continue
        kind, sep, years = part.partition("=")
        kind = kind.strip()
        if not sep or kind not in RETENTION_KINDS:
            raise ConfigError(
                f"PORTAL_RETENTION_YEARS: {part.strip()!r} is not KIND=YEARS with a kind of "
                + ", ".join(RETENTION_KINDS)
            )
        found[kind] = _years(f"RETENTION_YEARS ({kind})", years)
    return found


def _choice(name: str, value: str | None, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"PORTAL_{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value
