"""The running portal's services, built once per process from its Config.

Web requests, CLI commands and worker jobs all open their transactions here, so every edge
commits, rolls back and dispatches jobs the same way.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from app.config import Config
from app.keys import load_keys
from storage.db import make_engine, make_sessionmaker, transaction
from storage.encryption import EncryptedObjects
from storage.jobs import Job, RecordedJob, enqueue, resolve
from storage.objects import open_store
from storage.outbox import due_now, mark_done
from storage.s3_http import Limits
from storage.work import Services

if TYPE_CHECKING:
    from redis import Redis
    from rq import Queue

log = logging.getLogger(__name__)

# Seconds a hand-over to Redis after a commit may take (connect, then each reply): the request's
# work is done, and a Redis that does not answer leaves its jobs to the outbox relay.
DISPATCH_TIMEOUT = 1.0

_current: Runtime | None = None


def lost_job_finders() -> list[Callable[[Session], list[tuple[str, tuple[str, ...]]]]]:
    # Imported here, not at module load: the domain packages stay out of app start-up order.
    from mailbox.jobs import lost_jobs
    from mailbox.login_warnings import lost_warnings

    return [lost_jobs, lost_warnings]


class Runtime:
    def __init__(self, config: Config) -> None:
        self.config = config
        config.instance_path.mkdir(parents=True, exist_ok=True)
        # Keys first: a refusal (app/keys.py) must come before anything is opened or created.
        keys = load_keys(config)
        self.engine = make_engine(config.database_url)
        # Nothing here contacts the database, the object store or Redis: the portal starts
        # while they are away, and a request that needs one answers 503 until it is back.
        limits = Limits(
            connect=config.storage_connect_timeout,
            read=config.storage_timeout,
            retries=config.storage_retries,
        )
        self.objects = EncryptedObjects(open_store(config.storage_url, limits), keys.kek)
        self.keyring = keys.keyring
        # The config is the settings: mailbox.notifications.MailSettings names what it reads.
        services = Services(objects=self.objects, keyring=self.keyring, settings=config)
        self.sessions = make_sessionmaker(self.engine, services)
        self.redis: Redis | None = None
        self.queue: Queue | None = None
        self.dispatch_queue: Queue | None = None
        if config.redis_url:
            # Imported only with a Redis to talk to: commands such as `portal export` start
            # without it (the embedded profile has none).
            from redis import Redis
            from rq import Queue

            self.redis = Redis.from_url(config.redis_url)
            self.queue = Queue(config.queue_name, connection=self.redis)
            # A connection of its own with short timeouts (a worker sets long ones on
            # `self.redis` for its blocking dequeue): for the hand-over after commit and the relay.
            self.dispatch_queue = Queue(
                config.queue_name,
                connection=Redis.from_url(
                    config.redis_url,
                    socket_connect_timeout=DISPATCH_TIMEOUT,
                    socket_timeout=DISPATCH_TIMEOUT,
                ),
            )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        with transaction(self.sessions, self._dispatch) as session:
            yield session

    def _dispatch(self, _session: Session, jobs: list[RecordedJob]) -> None:
        """Hand over the jobs of a committed transaction, once; never raises: the work is
        committed, and the outbox relay hands over whatever this could not."""
        if self.dispatch_queue is None:
            for job in jobs:
                self.run_recorded(job)
            return
        from app.relay import hand_over

        try:
            hand_over(self.dispatch_queue, jobs)
        except Exception as error:
            log.warning("%d job(s) left to the outbox relay: %s", len(jobs), error)
            try:
                with self.sessions.begin() as session:
                    due_now(session, [job.id for job in jobs])
            except Exception as again:  # the relay finds them a minute later all the same
                log.warning("could not mark them due now: %s", again)

    def run_job(self, func: str, *args: Any, outbox_id: uuid.UUID | None = None) -> None:
        """Run one job in its own transaction; with `outbox_id`, mark its row done in it."""
        with self.transaction() as session:
            resolve(func)(session, *args)
            if outbox_id is not None:
                mark_done(session, outbox_id)

    def run_recorded(self, job: RecordedJob) -> None:
        """Run a job of the outbox in-process; a failure is logged, the relay runs it again."""
        try:
            self.run_job(job.func, *job.args, outbox_id=job.id)
        except Exception:
            log.exception("job %s failed; the outbox relay runs it again later", job.func)

    def run_job_safely(self, job: Job) -> None:
        # In-process jobs run after the request committed; a failure must not undo the
        # response. The database still says the work is due, so `recover` redoes it.
        try:
            self.run_job(job.func, *job.args)
        except Exception:
            log.exception("job %s failed; it will be found again by recovery", job.func)

    def recover(self) -> int:
        """Enqueue again every job whose effect the database shows as missing.

        The outbox makes this a second net: it catches jobs whose rows ran out of attempts,
        or were pruned, and work left by a portal older than the outbox."""
        with self.transaction() as session:
            found = [(f, a) for finder in lost_job_finders() for f, a in finder(session)]
            for func, args in found:
                enqueue(session, func, *args)
        return len(found)

    def close(self) -> None:
        self.engine.dispose()
        if self.redis is not None:
            self.redis.close()
        if self.dispatch_queue is not None:
            self.dispatch_queue.connection.close()


def set_current(runtime: Runtime) -> None:
    global _current
    _current = runtime


def current() -> Runtime:
    """This process's runtime; a worker builds it from the environment on its first job."""
    global _current
    if _current is None:
        _current = Runtime(Config.from_env())
    return _current


def perform(func: str, *args: Any) -> None:
    """What rq runs for the scheduler's periodic jobs: one job in its own transaction."""
    current().run_job(func, *args)


def perform_recorded(outbox_id: str, func: str, *args: Any) -> None:
    """What rq runs for a job of the outbox: the job, and its row marked done, in one
    transaction; an error reaches rq, which retries, and the row stays for the relay."""
    current().run_job(func, *args, outbox_id=uuid.UUID(outbox_id))
