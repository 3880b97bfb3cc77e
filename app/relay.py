"""The outbox relay: jobs that are committed but not done are handed over again.

Right after a commit the request (or job, or command) hands its jobs to rq once, quickly
(`Runtime._dispatch`); when that fails, or Redis loses them later (a restart without
persistence), or rq gives up on a failing job, the row in the outbox (`storage/outbox.py`) is
still there and not done. The relay looks at such rows when they are due:

- with rq: it asks Redis about the job's latest attempt. Gone: handed over again at once.
  Failed for good (rq's own retries spent): again after a growing wait. Finished: the row is
  marked done. Still queued or running: looked at again later.
- in-process (embedded): a row not done by its time failed (or its process died): run again,
  after a growing wait.

It runs in `portal scheduler` every few seconds, in each `portal worker` as it starts, and in the
sweep thread of the embedded `portal serve`: nobody has to run a command after an outage.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis import Redis
from rq import Queue, Retry
from rq.job import Job as RqJob
from rq.job import JobStatus

from app.abandoned import release_abandoned
from storage.db import utcnow
from storage.jobs import RecordedJob
from storage.outbox import FIRST_LOOK, OutboxJob, claim_due, handed_over, prune_done, retry_wait

if TYPE_CHECKING:
    from app.runtime import Runtime

log = logging.getLogger(__name__)

BATCH = 500  # rows looked at in one round; the next round takes the rest
RETRY = Retry(max=5, interval=[5, 30, 120, 600, 1800])  # rq's own retries of a failing job
GAVE_UP = {JobStatus.FAILED.value, JobStatus.STOPPED.value, JobStatus.CANCELED.value}
STILL_IN_RQ = dt.timedelta(minutes=5)  # queued or running: look again this much later
PRUNE_EVERY = dt.timedelta(minutes=10)


def hand_over(queue: Queue, jobs: Sequence[RecordedJob]) -> None:
    """Put `jobs` on rq's queue in one round trip, each under its attempt's id."""
    queue.enqueue_many(
        [
            Queue.prepare_data(
                "app.runtime.perform_recorded",
                args=(str(job.id), job.func, *job.args),
                job_id=job.run_id,
                retry=RETRY,
            )
            for job in jobs
        ]
    )


@dataclass
class RelayRound:
    looked_at: int = 0  # rows that were due
    handed_over: int = 0
    done: int = 0  # rq had finished them; the job's own mark was not seen yet
    waiting: int = 0  # still in rq's hands, or failed and waiting for their next attempt
    released: int = 0  # started by an rq worker that died, put back (app/abandoned.py)


class Relay:
    """Hands over, from one process, the outbox rows that are due (see the module)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._pruned_at: dt.datetime | None = None

    def run(self) -> RelayRound:
        """One round; raises when the database or Redis cannot be reached (nothing changes)."""
        now = utcnow()
        report = RelayRound()
        queue = self.runtime.dispatch_queue
        if queue is not None:
            # Jobs of a worker killed mid-job: back on the queue now, not when rq's timeout and
            # maintenance find them (~14 minutes); their rows are then done as usual.
            report.released = release_abandoned(queue)
        with self.runtime.sessions.begin() as session:
            rows = claim_due(session, now, BATCH)
            report.looked_at = len(rows)
            if queue is None:
                jobs = [handed_over(r, now, retry_wait(r.attempts + 1)) for r in rows]
            else:
                jobs = self._sort(queue.connection, rows, now, report)
            if self._pruned_at is None or now - self._pruned_at > PRUNE_EVERY:
                prune_done(session, now)
                self._pruned_at = now
        # After the commit, as for any transaction: a job never runs before its row says so.
        report.handed_over = len(jobs)
        if jobs:
            log.info("outbox relay: handing over %d job(s)", len(jobs))
            if queue is None:
                for job in jobs:
                    self.runtime.run_recorded(job)
            else:
                hand_over(queue, jobs)
        return report

    def _sort(
        self, redis: Redis, rows: list[OutboxJob], now: dt.datetime, report: RelayRound
    ) -> list[RecordedJob]:
        """The rows to hand over again, after asking rq about each one's latest attempt."""
        with redis.pipeline(transaction=False) as pipe:
            for row in rows:
                pipe.hget(RqJob.key_for(row.recorded().run_id), "status")
            statuses = pipe.execute()
        jobs = []
        for row, raw in zip(rows, statuses, strict=True):
            status = raw.decode() if isinstance(raw, bytes) else raw
            if status is None:  # lost (Redis restarted, or the first hand-over failed)
                jobs.append(handed_over(row, now, FIRST_LOOK))
            elif status == JobStatus.FINISHED.value:
                row.done_at = now
                report.done += 1
            elif status in GAVE_UP and row.dispatched_at + retry_wait(row.attempts) <= now:
                jobs.append(handed_over(row, now, FIRST_LOOK))
            elif status in GAVE_UP:
                row.next_attempt_at = row.dispatched_at + retry_wait(row.attempts)
                report.waiting += 1
            else:
                row.next_attempt_at = now + STILL_IN_RQ
                report.waiting += 1
        return jobs
