"""Background work of the directory. Each job is idempotent: it may run twice, or late."""

from __future__ import annotations

from sqlalchemy.orm import Session

from directory import throttle
from directory.sessions import SessionPolicy, purge_sessions


def purge_logins(session: Session, idle_minutes: int, lifetime_hours: int) -> int:
    """Delete expired login sessions and spent failure counts; how many rows went.

    A session row past its time is refused anyway: purging only keeps the tables small and
    drops what is kept about people (hashed names and addresses) once it serves nothing.
    """
    policy = SessionPolicy.of(idle_minutes, lifetime_hours)
    return purge_sessions(session, policy) + throttle.purge(session)
