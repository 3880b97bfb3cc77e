"""Jobs that rq still counts as running although their worker is dead, put back on the queue.

A worker killed outright (`kill -9`, the out-of-memory killer) leaves its job in rq's registry
of started jobs. rq finds it only once the job's time is up (its timeout plus a minute) and a
worker's maintenance (every ten minutes) cleans the registry: the job and its outbox row waited
up to ~14 minutes (seen in the fault suite, tests/faults). A supervisor restarts the worker in
seconds, so the portal looks sooner: the outbox relay (`app/relay.py`, in `portal scheduler`
every few seconds and in each `portal worker` as it starts) calls `release_abandoned`.

A worker counts as dead when its hash in Redis is gone (its heartbeats stopped: rq's own sign),
or when it ran on this machine and its process no longer does. A worker of another machine
that lives there is left to rq's own timeout: nothing here can see its process.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from redis import Redis
from rq import Queue, worker_registration
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.utils import parse_composite_key
from rq.worker import Worker

log = logging.getLogger(__name__)


def release_abandoned(queue: Queue) -> int:
    """Put the started jobs of dead workers back at the front of `queue` (or, with rq's
    retries spent, let rq fail them); how many were released."""
    redis = queue.connection
    registry = StartedJobRegistry(queue.name, connection=redis)
    entries = [_text(e) for e in registry.connection.zrange(registry.key, 0, -1)]
    if not entries:
        return 0
    with redis.pipeline(transaction=False) as pipe:
        for entry in entries:
            pipe.hget(Execution.from_composite_key(entry, redis).key, "worker_name")
        names = [_text(name) if name else "" for name in pipe.execute()]
    dead = {name for name in set(names) if name and _is_dead(redis, name)}
    released = 0
    spent = False
    for entry, name in zip(entries, names, strict=True):
        if name in dead:
            released += 1
            spent |= not _release(queue, registry, entry, name)
    if spent:
        # rq's own handling of an expired job: the failure callback, then the failed registry.
        registry.cleanup()
    for name in dead:
        _forget_worker(queue, name)
    if released:
        log.warning("%d job(s) of dead rq worker(s) %s put back", released, sorted(dead))
    return released


def _release(queue: Queue, registry: StartedJobRegistry, entry: str, worker: str) -> bool:
    """Requeue one job at the front; False when its retries are spent (left to rq's cleanup,
    its execution now expired)."""
    redis = queue.connection
    job_id, execution_id = parse_composite_key(entry)
    try:
        job = Job.fetch(job_id, connection=redis)
    except NoSuchJobError:
        redis.zrem(registry.key, entry)
        return True
    if job.get_status(refresh=False) != JobStatus.STARTED:
        return True  # finished meanwhile; rq removes the entry with its result
    if not job.retries_left:
        redis.zadd(registry.key, {entry: 0}, xx=True)
        return False
    # A death counts as a failed try, as in rq's cleanup: a job that kills its worker every
    # time stops after its retries. Requeued at once, not after rq's retry interval: that goes
    # through rq's scheduler, which may itself have died with the worker.
    job.retries_left -= 1
    execution = Execution(execution_id, job_id, connection=redis, worker_name=worker)
    with redis.pipeline() as pipe:
        pipe.multi()  # one transaction (rq's enqueue_job wants it begun before any command)
        execution.delete(job, pipe)
        queue.enqueue_job(job, pipeline=pipe, at_front=True)
        pipe.execute()
    return True


def _is_dead(redis: Redis, name: str) -> bool:
    key = Worker.redis_worker_namespace_prefix + name
    hostname, pid = redis.hmget(key, ["hostname", "pid"])
    if hostname is None or pid is None:
        return True  # its hash expired: its heartbeats stopped
    if _text(hostname) != socket.gethostname():
        return False
    number = int(pid)
    # A record of this very process id that is not this process: an earlier process of the
    # same id (a restarted container whose worker runs as the same pid).
    return number == os.getpid() or not _running(number)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process of that id
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc to ask: alive as far as can be told
    # A killed process that its parent has not reaped yet (a zombie) still has its id.
    return stat.rpartition(")")[2].split()[0] != "Z"


def _forget_worker(queue: Queue, name: str) -> None:
    """Take a dead worker off rq's lists, so that monitoring stops showing it as alive."""
    key = Worker.redis_worker_namespace_prefix + name
    worker = Worker.find_by_key(key, connection=queue.connection)
    if worker is not None:
        with queue.connection.pipeline() as pipe:
            worker_registration.unregister(worker, pipe)
            pipe.delete(worker.key)
            pipe.execute()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
