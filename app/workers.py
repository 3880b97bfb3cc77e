"""The long-running processes: `portal worker` and `portal scheduler` on Redis, and the embedded
server's background loop. Each outlives an outage of Redis (or of the database) and goes on by
itself when it is back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import SimpleWorker, worker_registration
from rq.cron import CronScheduler
from rq.exceptions import StopRequested
from rq.job import Job as RqJob
from rq.queue import Queue
from rq.worker import WorkerStatus

from app.relay import BATCH, Relay
from app.runtime import Runtime, perform
from storage.db import is_unavailable
from storage.jobs import Job

log = logging.getLogger(__name__)

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
MAX_WAIT = 10.0  # seconds between two tries to reach Redis again, at most


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    func: str
    args: tuple[Any, ...]
    every: int  # seconds
    timeout: int | None = None  # rq's job timeout, when the default (180 s) is too short


def periodic_jobs(
    runtime: Runtime, sweep_every: int, gc_every_hours: float, gc_grace_hours: float
) -> list[PeriodicJob]:
    """What runs by itself: the sweep, the purge of logins, recovery, anchors and the object
    store's gc."""
    config = runtime.config
    jobs = [
        PeriodicJob("sweep", "mailbox.jobs.sweep", (), sweep_every),
        PeriodicJob(
            "purge-logins",
            "directory.jobs.purge_logins",
            # Expired login sessions and spent failure counts: the configured times decide.
            (config.session_idle_minutes, config.session_max_hours),
            max(sweep_every, 3600),
        ),
        PeriodicJob("recover", "app.jobs.recover", (), max(sweep_every, 600)),
        # The case files' heads, time-stamped: what `portal verify` holds the journals to.
        PeriodicJob("anchor", "casefiles.jobs.anchor", (), max(1, config.anchor_interval)),
        # Requests for information: reminders before, the declared expiry after the deadline.
        PeriodicJob("information", "catalogue.information.sweep", (), max(sweep_every, 600)),
        # Case files whose process and periods are over are closed (retention starts).
        PeriodicJob("close-cases", "catalogue.lifecycle.sweep", (), max(sweep_every, 3600)),
    ]
    if gc_every_hours > 0:
        # A full listing of the store: hours for a large one, not rq's default three minutes.
        every = max(60, int(gc_every_hours * 3600))
        grace = (gc_grace_hours,)
        jobs.append(PeriodicJob("storage-gc", "app.jobs.collect_garbage", grace, every, 6 * 3600))
    return jobs


def relay_backlog(runtime: Runtime, rounds: int = 20) -> None:
    """Hand over what the outbox holds (a worker's start); an outage is logged, not raised."""
    relay = Relay(runtime)

    def drain() -> None:
        for _ in range(rounds):
            if relay.run().looked_at < BATCH:
                return

    def recover() -> None:
        if found := runtime.recover():
            log.info("recovery found %d job(s) due but not done", found)

    # Either may fail in an outage; the scheduler's relay and recovery go on later.
    run_logged("outbox relay at start", drain)
    run_logged("recovery at start", recover)


class ResilientWorker(SimpleWorker):
    """rq's SimpleWorker, except that it waits out a Redis outage instead of exiting.

    rq 3's work loop (rq/worker/base.py `BaseWorker.work`) quits on any error but a dequeue
    timeout, and only its dequeue retries a lost connection. Here the other Redis calls of a
    loop turn wait for Redis with backoff and then carry on, and the worker registers itself
    again whenever Redis has forgotten it (a restart without persistence empties `rq:workers`),
    so that rq's monitoring sees it. A job whose bookkeeping in Redis failed half-way is left to
    the outbox relay: its row says whether it was done.
    """

    def _set_ip_address(self, connection: Any) -> None:
        # Asked of Redis while the worker is built (signals are not handled yet): wait here.
        wait = 1.0
        while True:
            try:
                super()._set_ip_address(connection)
                return
            except REDIS_DOWN as error:
                log.warning("Redis is unreachable (%s); the worker waits for it", error)
                time.sleep(wait)
                wait = min(wait * 2, MAX_WAIT)

    def request_stop(self, signum: Any, frame: Any) -> None:
        # When idle, rq raises StopRequested from the signal handler and sets no flag. Raised
        # wherever the process happens to be, it can be lost: logging swallows an exception
        # raised while it writes a record (and much is logged while Redis is away), redis-py
        # may turn it into a connection error, which is waited out here. Seen in tests: the
        # worker then ignored SIGTERM. The flag makes the stop stand (`_wait_for_redis`).
        self._stop_requested = True
        super().request_stop(signum, frame)

    def register_birth(self) -> None:
        self._retrying(super().register_birth)

    def subscribe(self) -> None:
        self._retrying(super().subscribe)

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[RqJob, Queue] | None:
        # Never give up here: `None` would end the work loop as if the queue were drained.
        return self._retrying(super().dequeue_job_and_maintain_ttl, timeout, max_idle_time)

    def set_state(self, state: str, pipeline: Any = None) -> None:
        if pipeline is not None:
            super().set_state(state, pipeline)
            return
        self._guarded(super().set_state, state)

    def check_for_suspension(self, burst: bool) -> None:
        self._guarded(super().check_for_suspension, burst)

    def run_maintenance_tasks(self) -> None:
        self._guarded(super().run_maintenance_tasks)

    def _start_scheduler(self, *args: Any, **kwargs: Any) -> None:
        # Skipped while Redis is away: the maintenance tasks start rq's scheduler later.
        self._guarded(super()._start_scheduler, *args, **kwargs)

    def execute_job(self, job: RqJob, queue: Queue) -> None:
        try:
            super().execute_job(job, queue)
        except REDIS_DOWN as error:
            # One job at a time in this process: nothing of this one is to be kept.
            self.executions.clear()
            self._wait_for_redis(error)
            self.set_state(WorkerStatus.IDLE)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)
            return
        try:
            with self.connection.pipeline() as pipe:
                super().heartbeat(timeout, pipe)
                # HSET answers 1 for a field it created: the worker's hash was gone.
                forgotten = pipe.execute()[0] == 1
            if forgotten:
                self._register_again()
        except REDIS_DOWN as error:
            self._wait_for_redis(error)

    def teardown(self) -> None:
        try:
            super().teardown()
        except REDIS_DOWN as error:
            # The worker's hash expires by its TTL; nothing else to leave tidy.
            self.log.warning("Worker %s: could not register its end: %s", self.name, error)

    def _retrying(self, call: Callable[..., Any], *args: Any) -> Any:
        while True:
            try:
                return call(*args)
            except REDIS_DOWN as error:
                self._wait_for_redis(error)

    def _guarded(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        try:
            call(*args, **kwargs)
        except REDIS_DOWN as error:
            self._wait_for_redis(error)

    def _wait_for_redis(self, error: Exception) -> None:
        self.log.warning("Worker %s: Redis is unreachable (%s); waiting for it", self.name, error)
        wait = 1.0
        while True:
            # A stop signal's own note to Redis may fail in here; the request itself stands.
            with contextlib.suppress(*REDIS_DOWN):
                time.sleep(wait)
            if self._stop_requested:
                raise StopRequested()
            try:
                self.connection.ping()
                if self.birth_date is not None:  # born already: tell Redis again
                    self._register_again()
            except REDIS_DOWN:
                wait = min(wait * 2, MAX_WAIT)
                continue
            self.log.warning("Worker %s: Redis is back", self.name)
            if self.last_cleaned_at is not None:
                # rq's scheduler (a child process that puts retries due back on the queue) dies
                # with the connection; the maintenance restarts it: at the next turn, not in
                # ten minutes.
                self.last_cleaned_at -= dt.timedelta(seconds=self.maintenance_interval)
            return

    def _register_again(self) -> None:
        """What `register_birth` writes, without its check for a live worker of this name:
        that worker is this one, whose hash survived while its registration did not."""
        with self.connection.pipeline() as pipe:
            pipe.hset(self.key, mapping={**self.serialize(), "state": self.get_state()})
            worker_registration.register(self, pipe)
            pipe.expire(self.key, self.worker_ttl + 60)
            pipe.execute()
        self.log.info("Worker %s: registered again", self.name)


class ResilientCron(CronScheduler):
    """rq's cron scheduler that outlives Redis outages and runs a `tick` (the outbox relay).

    rq's loop (rq/cron.py `CronScheduler.start`) ends the process at the first Redis error. This
    one is the same loop, with the error waited out with backoff; its heartbeat registers the
    scheduler again when Redis has forgotten it. A cron job that could not be enqueued stays
    due and goes at the next turn.
    """

    def __init__(self, connection: Any, tick: Callable[[], object], tick_every: float) -> None:
        super().__init__(connection=connection, logging_level="WARNING")
        self._tick = tick
        self._tick_every = tick_every
        self._stopping = False

    def _request_stop(self, signum: Any, frame: Any) -> None:
        # As in ResilientWorker.request_stop: the raised StopRequested may turn into a Redis
        # error inside redis-py; the flag keeps the stop.
        self._stopping = True
        super()._request_stop(signum, frame)

    def start(self) -> None:
        self._install_signal_handlers()
        born = False
        wait = 1.0
        try:
            while not self._stopping:
                try:
                    if not born:
                        self.register_birth()
                        born = True
                    if self.enqueue_jobs():
                        self.save()
                    self.heartbeat()
                    wait = 1.0
                except REDIS_DOWN as error:
                    self.log.warning("Scheduler: Redis is unreachable (%s); retrying", error)
                    time.sleep(wait)
                    wait = min(wait * 2, MAX_WAIT)
                    continue
                run_logged("outbox relay", self._tick)
                time.sleep(min(self.calculate_sleep_interval(), self._tick_every))
        except (KeyboardInterrupt, StopRequested):
            self.log.info("CronScheduler %s: stopping", self.name)
        finally:
            # Without Redis its registry entry goes stale, and rq cleans it up.
            with contextlib.suppress(*REDIS_DOWN):
                self.register_death()


def run_logged(what: str, call: Callable[[], object]) -> None:
    """Run `call`; an outage (Redis, the database) is one line in the log, any other error a
    traceback. Never raises (but for stop requests): a loop that calls this must go on."""
    try:
        call()
    except (StopRequested, KeyboardInterrupt):
        raise
    except REDIS_DOWN as error:
        log.warning("%s: Redis is unreachable: %s", what, error)
    except Exception as error:
        if is_unavailable(error):
            log.warning("%s: the database is unreachable: %s", what, error)
        else:
            log.exception("%s failed; tried again at its next turn", what)


def start_background_loop(
    runtime: Runtime, jobs: list[PeriodicJob], relay_every: float
) -> threading.Event:
    """Embedded `portal serve` has no scheduler: a daemon thread relays the outbox every few
    seconds and runs the periodic jobs, each first at the start. Nothing it meets ends it but
    the event returned, once set."""
    relay = Relay(runtime)
    stop = threading.Event()

    def loop() -> None:
        due = dict.fromkeys((job.name for job in jobs), 0.0)
        while not stop.is_set():
            run_logged("outbox relay", relay.run)
            for job in jobs:
                if due[job.name] <= time.monotonic():
                    due[job.name] = time.monotonic() + job.every
                    # run_job_safely logs a failure; the job runs again at its next turn.
                    run = functools.partial(runtime.run_job_safely, Job(job.func, job.args))
                    run_logged(job.name, run)
            stop.wait(relay_every)

    threading.Thread(target=loop, name="portal-background", daemon=True).start()
    return stop


def start_scheduler(runtime: Runtime, jobs: list[PeriodicJob], relay_every: float) -> None:
    """`portal scheduler`: rq's cron enqueues the periodic jobs, the relay runs in between."""
    assert runtime.queue is not None and runtime.redis is not None
    cron = ResilientCron(runtime.redis, Relay(runtime).run, relay_every)
    for job in jobs:
        cron.register(
            perform,
            runtime.queue.name,
            args=(job.func, *job.args),
            interval=job.every,
            job_timeout=job.timeout,
            name=job.name,
        )
    cron.start()
