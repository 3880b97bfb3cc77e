"""The running portal's services, built once per process from its Config.

Web requests, CLI commands and worker jobs all open their transactions here, so every edge
commits, rolls back and dispatches jobs the same way.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from redis import Redis
from rq import Queue, Retry
from sqlalchemy.orm import Session

from app.config import Config
from app.keys import load_keys
from storage.db import make_engine, make_sessionmaker, transaction
from storage.encryption import EncryptedObjects
from storage.jobs import Job, resolve
from storage.objects import open_store

log = logging.getLogger(__name__)

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
        self.objects = EncryptedObjects(open_store(config.storage_url), keys.kek)
        self.keyring = keys.keyring
        settings = {
            "base_url": config.base_url,
            "smtp_url": config.smtp_url,
            "mail_from": config.mail_from,
        }
        self.sessions = make_sessionmaker(
            self.engine, {"objects": self.objects, "keyring": self.keyring, "settings": settings}
        )
        self.redis = Redis.from_url(config.redis_url) if config.redis_url else None
        self.queue = Queue(config.queue_name, connection=self.redis) if self.redis else None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        with transaction(self.sessions, self._dispatch) as session:
            yield session

    def _dispatch(self, _session: Session, jobs: list[Job]) -> None:
        if self.queue is None:
            for job in jobs:
                self.run_job_safely(job)
            return
        retry = Retry(max=5, interval=[5, 30, 120, 600, 1800])
        self.queue.enqueue_many(
            [Queue.prepare_data(perform, args=(job.func, *job.args), retry=retry) for job in jobs]
        )

    def run_job(self, func: str, *args: Any) -> None:
        with self.transaction() as session:
            resolve(func)(session, *args)

    def run_job_safely(self, job: Job) -> None:
        # In-process jobs run after the request committed; a failure must not undo the
        # response. The database still says the work is due, so `recover` redoes it.
        try:
            self.run_job(job.func, *job.args)
        except Exception:
            log.exception("job %s failed; it will be found again by recovery", job.func)

    def recover(self) -> int:
        """Enqueue again every job whose effect the database shows as missing."""
        with self.sessions() as session:
            jobs = [Job(f, a) for finder in lost_job_finders() for f, a in finder(session)]
        if jobs:
            self._dispatch(session, jobs)
        return len(jobs)

    def close(self) -> None:
        self.engine.dispose()
        if self.redis is not None:
            self.redis.close()


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
    """What rq runs: one domain job in its own transaction."""
    current().run_job(func, *args)
