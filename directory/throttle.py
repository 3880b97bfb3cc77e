"""Failed logins, counted per login name: after MAX_FAILURES in a row the name is blocked for a
while, even for the right password, so that nobody can try passwords against an account at the
speed of the server.

Counted by the name typed, whether an account has it or not: an unknown name is blocked exactly
like a known one, so the answer never tells which logins exist. The name is kept only as a hash
(people sometimes type their password into the login field).
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from directory.models import LoginFailures
from storage.db import utcnow

MAX_FAILURES = 5
BLOCK = dt.timedelta(minutes=15)


def _key(login: str) -> str:
    return hashlib.sha256(login.strip().lower().encode()).hexdigest()


def blocked_until(
    session: Session, login: str, now: dt.datetime | None = None
) -> dt.datetime | None:
    """When logging in with this name is possible again, if it is blocked now."""
    row = session.get(LoginFailures, _key(login))
    if row is None or row.blocked_until is None or row.blocked_until <= (now or utcnow()):
        return None
    return row.blocked_until


def record_failure(
    session: Session, login: str, now: dt.datetime | None = None
) -> dt.datetime | None:
    """Count a failed login; the end of the block if this failure starts one."""
    now = now or utcnow()
    key = _key(login)
    # Guesses arrive in parallel: the row is created if missing without a unique violation,
    # then locked, so that no failure is lost between two requests.
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    new = {"login_hash": key, "failures": 0, "last_failure_at": now}
    session.execute(insert(LoginFailures).values(new).on_conflict_do_nothing())
    row = session.get_one(LoginFailures, key, with_for_update=True, populate_existing=True)
    if row.blocked_until is not None and row.blocked_until <= now:
        row.failures, row.blocked_until = 0, None  # a block that ran out starts a new count
    row.failures += 1
    row.last_failure_at = now
    if row.failures >= MAX_FAILURES:
        row.blocked_until = now + BLOCK
    session.flush()
    return row.blocked_until


def clear_failures(session: Session, login: str) -> None:
    """A successful login starts the count again."""
    session.execute(delete(LoginFailures).where(LoginFailures.login_hash == _key(login)))
