"""Login sessions kept on the server: a session lives exactly as long as its row.

The browser's (signed) cookie carries a random token; the row is keyed by the token's SHA-256,
so neither a copy of the database nor a log line holding a row can be turned into a cookie.
Logging out deletes the one row of that browser; changing the password deletes every row of
the account. A cookie saved before either is worthless afterwards, because a signed cookie
alone proves nothing here: every request looks its token up.

A session also ends by itself: after `SessionPolicy.idle` without a request, and in any case
`SessionPolicy.lifetime` after the login.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from directory.models import Account, LoginSession
from storage.db import utcnow


@dataclass(frozen=True)
class SessionPolicy:
    idle: dt.timedelta = dt.timedelta(minutes=30)
    lifetime: dt.timedelta = dt.timedelta(hours=12)
    # `last_seen_at` is written at most this often: one write per request would serialize a
    # person's parallel requests on the row (and, on SQLite, on the database).
    touch_every: dt.timedelta = dt.timedelta(minutes=1)

    @classmethod
    def of(cls, idle_minutes: int, lifetime_hours: int) -> SessionPolicy:
        """From the configuration (PORTAL_SESSION_IDLE_MINUTES, PORTAL_SESSION_MAX_HOURS)."""
        return cls(
            idle=dt.timedelta(minutes=idle_minutes), lifetime=dt.timedelta(hours=lifetime_hours)
        )


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, account: Account, now: dt.datetime | None = None) -> str:
    """Open a session for the account; the token to keep in the browser's cookie."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    session.add(
        LoginSession(
            token_hash=_hash(token), account_id=account.id, created_at=now, last_seen_at=now
        )
    )
    session.flush()
    return token


def resume_session(
    session: Session, token: str, policy: SessionPolicy, now: dt.datetime | None = None
) -> Account | None:
    """The active account whose live session this token is, or None (ended, expired)."""
    now = now or utcnow()
    row = session.get(LoginSession, _hash(token))
    if row is None:
        return None
    if row.last_seen_at + policy.idle <= now or row.created_at + policy.lifetime <= now:
        session.delete(row)
        session.flush()
        return None
    if not row.account.is_active:
        return None
    if now - row.last_seen_at >= policy.touch_every:
        row.last_seen_at = now
        session.flush()
    return row.account


def end_session(session: Session, token: str) -> None:
    """Log this browser out: its token opens nothing any more."""
    session.execute(delete(LoginSession).where(LoginSession.token_hash == _hash(token)))


def end_all_sessions(session: Session, account_id: uuid.UUID) -> int:
    """Log the account out everywhere (a new password, say); how many sessions ended."""
    result = session.execute(delete(LoginSession).where(LoginSession.account_id == account_id))
    return int(result.rowcount)  # type: ignore[attr-defined]


def purge_sessions(session: Session, policy: SessionPolicy, now: dt.datetime | None = None) -> int:
    """Delete the rows of sessions that have expired; they would be refused anyway."""
    now = now or utcnow()
    result = session.execute(
        delete(LoginSession).where(
            or_(
                LoginSession.last_seen_at <= now - policy.idle,
                LoginSession.created_at <= now - policy.lifetime,
            )
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
