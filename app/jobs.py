"""Jobs of the application layer itself (not of a domain package)."""

from __future__ import annotations

from sqlalchemy.orm import Session


def recover(_session: Session) -> None:
    """Periodically enqueue again whatever the database shows as due but not done."""
    from app.runtime import current

    current().recover()
