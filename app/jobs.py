"""Jobs of the application layer itself (not of a domain package)."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

log = logging.getLogger(__name__)


def recover(_session: Session) -> None:
    """Periodically enqueue again whatever the database shows as due but not done."""
    from app.runtime import current

    current().recover()


def collect_garbage(_session: Session, grace_hours: float) -> None:
    """Periodically delete stored objects that no row points at (left by killed processes)."""
    import datetime as dt

    from app.runtime import current
    from storage.gc import collect_garbage as collect

    runtime = current()
    report = collect(
        runtime.sessions, runtime.objects.store, grace=dt.timedelta(hours=float(grace_hours))
    )
    log.info(
        "storage gc: %d object(s) scanned, %d orphan(s) deleted, %d younger than %s h kept",
        report.scanned,
        report.deleted,
        report.too_young,
        grace_hours,
    )
