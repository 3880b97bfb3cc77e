"""The jobs outbox: every background job is a row, written in the transaction of the work.

A job that a transaction asked for exists exactly when that transaction committed: the row says
so, whatever happens to Redis or to the process afterwards. Right after the commit the job is
handed to rq (or run in-process); the relay (`app/relay.py`) hands over again the rows that are
not done when they should be, and the job marks its row done in its own transaction.

Rows carry no legal meaning: they are operational marks, pruned a day after they are done.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Index, String, delete, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.db import Base, UTCDateTime, utcnow
from storage.jobs import RecordedJob

# When the relay first looks at a row that is not done: the job had time to run by then.
FIRST_LOOK = dt.timedelta(seconds=60)
# A job that failed for good (rq's own retries spent, or an in-process run raised) is run again
# after these waits, by attempt; after the last one the row stays undone for an operator to see.
RETRY_WAITS = tuple(
    dt.timedelta(seconds=s) for s in (60, 300, 1800, 7200, 6 * 3600, 12 * 3600, 24 * 3600)
)
MAX_ATTEMPTS = len(RETRY_WAITS) + 1
KEEP_DONE = dt.timedelta(days=1)


class OutboxJob(Base):
    __tablename__ = "job_outbox"
    # The relay's query: undone rows by when they are due (`done_at IS NULL` leads the index).
    __table_args__ = (Index("ix_job_outbox_due", "done_at", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    func: Mapped[str] = mapped_column(String(200))
    args: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # The latest hand-over (to rq, or an in-process run) and how many there were.
    dispatched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int]
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def recorded(self) -> RecordedJob:
        return RecordedJob(self.id, self.func, tuple(self.args), self.attempts)


def insert_jobs(session: Session, jobs: Sequence[RecordedJob]) -> None:
    """Write the rows of `jobs` in one statement (an executemany), as handed over now."""
    now = utcnow()
    rows = [
        {
            "id": job.id,
            "func": job.func,
            "args": list(job.args),
            "created_at": now,
            "dispatched_at": now,
            "attempts": job.attempt,
            "next_attempt_at": now + FIRST_LOOK,
            "done_at": None,
        }
        for job in jobs
    ]
    session.execute(insert(OutboxJob), rows)


def mark_done(session: Session, job_id: uuid.UUID) -> None:
    """The job finished: in the job's own transaction, so the row is done exactly with its work."""
    session.execute(
        update(OutboxJob)
        .where(OutboxJob.id == job_id, OutboxJob.done_at.is_(None))
        .values(done_at=utcnow())
    )


def due_now(session: Session, job_ids: Sequence[uuid.UUID]) -> None:
    """Ask the relay to hand these over at its next round (the hand-over after commit failed)."""
    session.execute(
        update(OutboxJob).where(OutboxJob.id.in_(job_ids)).values(next_attempt_at=utcnow())
    )


def claim_due(session: Session, now: dt.datetime, limit: int) -> list[OutboxJob]:
    """Undone rows whose time to be looked at has come, locked against a second relay."""
    return list(
        session.scalars(
            select(OutboxJob)
            .where(
                OutboxJob.done_at.is_(None),
                OutboxJob.next_attempt_at <= now,
                OutboxJob.attempts < MAX_ATTEMPTS,
            )
            .order_by(OutboxJob.next_attempt_at)
            .limit(limit)
            # Relays may run at once (scheduler, a starting worker); each takes other rows.
            # SQLite ignores the clause: its writers take turns anyway.
            .with_for_update(skip_locked=True)
        )
    )


def retry_wait(attempts: int) -> dt.timedelta:
    """How long after its latest hand-over a failed job waits before it runs again."""
    return RETRY_WAITS[min(attempts, len(RETRY_WAITS)) - 1]


def handed_over(row: OutboxJob, now: dt.datetime, look_again: dt.timedelta) -> RecordedJob:
    """Count one more hand-over of `row`; the job to hand over, under its new attempt."""
    row.attempts += 1
    row.dispatched_at = now
    row.next_attempt_at = now + look_again
    return row.recorded()


def prune_done(session: Session, now: dt.datetime) -> int:
    """Delete rows done more than a day ago; how many went."""
    result = session.execute(delete(OutboxJob).where(OutboxJob.done_at < now - KEEP_DONE))
    return int(getattr(result, "rowcount", 0) or 0)
