"""A job whose rq worker died mid-job (kill -9) goes back on the queue at the relay's next round,
not when rq's timeout and maintenance find it (~14 minutes); jobs of live workers, here or on
another machine, stay as they are (services profile: rq on a Redis of the test's own).

The fault suite (tests/faults, `rq-worker-kill`) does the same with a real `portal worker`
killed mid-mailing; here the states are rq's own, made by a worker object in this process.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, Retry, SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.worker import Worker

from app.abandoned import release_abandoned
from app.relay import Relay
from app.runtime import Runtime
from tests.conftest import PROFILE
from tests.support.private_redis import PrivateRedis

pytestmark = pytest.mark.skipif(PROFILE != "services", reason="rq needs Redis")


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[Redis]:
    server = PrivateRedis(tmp_path)
    server.start()
    connection = Redis.from_url(server.url)
    yield connection
    connection.close()
    server.stop()


def started_by(queue: Queue, pid: int, hostname: str | None = None, retries: int = 3) -> Job:
    """A job that a worker of process `pid` (on `hostname`, else here) has started."""
    worker = SimpleWorker([queue], connection=queue.connection)
    worker.register_birth()
    queue.connection.hset(worker.key, "pid", pid)
    if hostname is not None:
        queue.connection.hset(worker.key, "hostname", hostname)
    retry = Retry(max=retries) if retries else None
    job = queue.enqueue("app.runtime.perform", "mailbox.jobs.sweep", retry=retry)
    assert queue.connection.lpop(queue.key) == job.id.encode()  # dequeued, as a worker does
    worker.prepare_execution(job)  # what rq's worker does before it runs the job
    worker.prepare_job_execution(job)
    assert job.get_status() == JobStatus.STARTED
    return job


def a_dead_pid() -> int:
    """The id of a process that ran here and ended (as a worker killed and reaped)."""
    with subprocess.Popen(["true"]) as proc:
        proc.wait(10)
    return proc.pid


def test_jobs_of_a_dead_worker_are_put_back_and_others_stay(redis: Redis) -> None:
    queue = Queue("abandoned", connection=redis)
    with subprocess.Popen(["sleep", "60"]) as alive:
        try:
            dead = started_by(queue, a_dead_pid())
            living = started_by(queue, alive.pid)
            remote = started_by(queue, a_dead_pid(), hostname="another-machine")
            waiting = queue.enqueue("app.runtime.perform", "mailbox.jobs.sweep")

            assert release_abandoned(queue) == 1
            assert release_abandoned(queue) == 0  # nothing more while the others live
        finally:
            alive.kill()

    dead.refresh()
    assert dead.get_status() == JobStatus.QUEUED and dead.retries_left == 2  # a try spent
    assert queue.job_ids == [dead.id, waiting.id]  # at the front
    registry = StartedJobRegistry(queue.name, connection=redis)
    assert sorted(registry.get_job_ids(cleanup=False)) == sorted([living.id, remote.id])
    assert living.get_status() == remote.get_status() == JobStatus.STARTED
    # The dead worker is off rq's lists; the others are still shown.
    pids = [w.pid for w in Worker.all(queue=queue)]
    assert len(pids) == 2 and alive.pid in pids


def test_a_job_that_keeps_killing_its_worker_fails_after_its_retries(redis: Redis) -> None:
    queue = Queue("abandoned", connection=redis)
    job = started_by(queue, a_dead_pid(), retries=0)

    assert release_abandoned(queue) == 1
    assert job.get_status() == JobStatus.FAILED  # rq's own handling: the outbox relay decides
    assert job.id in FailedJobRegistry(queue.name, connection=redis).get_job_ids()
    assert queue.job_ids == []


def test_the_relay_releases_them_in_its_rounds(runtime: Runtime, redis: Redis) -> None:
    url = redis.get_connection_kwargs()
    config = dataclasses.replace(
        runtime.config,
        redis_url=f"redis://{url['host']}:{url['port']}/0",
        queue_name="abandoned",
    )
    portal = Runtime(config)
    try:
        assert portal.dispatch_queue is not None
        job = started_by(portal.dispatch_queue, a_dead_pid())
        assert Relay(portal).run().released == 1
        assert job.get_status() == JobStatus.QUEUED
    finally:
        portal.close()
