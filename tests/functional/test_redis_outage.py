"""Redis goes away and comes back (services profile): committed work is answered as done, its
jobs wait in the outbox, and `portal worker` and `portal scheduler` live through the outage and
do them afterwards, with nobody running a command.

The test has a Redis of its own (the suite's worker keeps the suite's) and kills it as a crash
would; it comes back empty, as a Redis without persistence does.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import cron_scheduler_registry
from sqlalchemy import select

from app import create_app
from app.config import Config
from app.runtime import Runtime
from storage.outbox import OutboxJob
from tests.api.support import Api, letter
from tests.conftest import PROFILE, wait_for
from tests.support.private_redis import PrivateRedis
from tests.support.services import portal_executable

pytestmark = pytest.mark.skipif(PROFILE != "services", reason="the embedded profile has no Redis")


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


def start(command: str, config: Config, folder: Path) -> subprocess.Popen[bytes]:
    """`portal worker` or `portal scheduler`, run as an operator would, logging to a file."""
    env = {
        **os.environ,
        **config.as_env(),
        "PORTAL_RELAY_INTERVAL": "0.5",
        "PORTAL_GC_INTERVAL_HOURS": "0",
    }
    with (folder / f"{command}.log").open("ab") as log:
        return subprocess.Popen(
            [portal_executable(), "-v", command],
            env=env,
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def notice_rows(runtime: Runtime) -> list[OutboxJob]:
    with runtime.sessions() as session:
        query = select(OutboxJob).where(OutboxJob.func == "mailbox.jobs.send_notice")
        return list(session.scalars(query))


def test_a_redis_outage_delays_jobs_but_fails_and_loses_nothing(
    runtime, demo, smtp_messages, private_redis, tmp_path
):
    # The suite's worker relays the outbox as it starts (to the suite's Redis): let it be done.
    wait_for(lambda: runtime.redis.smembers("rq:workers"), timeout=60)
    config = dataclasses.replace(
        runtime.config, redis_url=private_redis.url, queue_name=f"outage-{tmp_path.name}"
    )
    redis = Redis.from_url(private_redis.url)
    portal = Runtime(config)
    app = create_app(config)
    app.extensions["portal"].close()
    app.extensions["portal"] = portal
    api = Api(app.test_client(), demo["api_client"]["api_key"])
    private_redis.stop()  # down before anything starts
    processes = [start("worker", config, tmp_path), start("scheduler", config, tmp_path)]
    try:
        for round_ in (1, 2):
            began = time.monotonic()
            response = api.deliver(letter(demo))
            assert response.status_code == 201, response.get_data(as_text=True)
            assert time.monotonic() - began < 10  # no waiting for Redis in the request
            delivery_id = response.get_json()["delivery_id"]
            # Committed with the delivery, not done yet. (Recovery, which the scheduler runs
            # now and then, may have asked for an earlier notice again: done, or a no-op.)
            [row] = [r for r in notice_rows(runtime) if r.args == [delivery_id]]
            assert row.done_at is None
            time.sleep(3)  # a few rounds of the worker's and the scheduler's waiting
            assert [p.poll() for p in processes] == [None, None]
            assert len(smtp_messages) == round_ - 1

            private_redis.start()  # empty: whatever rq had is gone
            wait_for(lambda: len(smtp_messages) == round_, timeout=60)  # noqa: B023
            assert smtp_messages[-1]["To"].addresses[0].addr_spec == demo["resident"]["login"]
            wait_for(lambda: all(r.done_at for r in notice_rows(runtime)), timeout=30)
            # Both registered (again), so rq's monitoring sees them, and both still run.
            wait_for(lambda: redis.smembers("rq:workers"), timeout=30)
            wait_for(lambda: cron_scheduler_registry.get_keys(redis), timeout=30)
            assert [p.poll() for p in processes] == [None, None]
            private_redis.stop()  # as a crash would: now with both running
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(15)
        portal.close()
        redis.close()
    for process, name in zip(processes, ("worker", "scheduler"), strict=True):
        assert process.returncode == 0, (tmp_path / f"{name}.log").read_text()[-3000:]
