"""The faults of the fault suite (tests/faults) and `bench/faults.py`, done to a running
deployment (tests/support/deployment.py) whose services are reached through TCP proxies
(tests/support/outages.py): a part cut off or silent, connections terminated, a process killed.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

from rq.registry import StartedJobRegistry
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.config import Config
from app.runtime import Runtime
from tests.support.deployment import Deployment
from tests.support.mailing import Mailing
from tests.support.outages import Proxied

TIMEOUT = 120.0  # seconds to wait for the moment a fault needs (a request, a job in flight)
# The portal's database connections carry the name of their process ("portal-gunicorn", …),
# so that a fault can see what the web workers do, and end the portal's connections (only them)
# with pg_terminate_backend.
APPLICATION_NAME = "portal-{}"
PROCESSES = ("gunicorn", "worker", "scheduler")

FAULTS = {
    "none": "no fault: the baseline",
    "s3-cut": "S3 refuses connections, open ones closed",
    "s3-blackhole": "S3 accepts connections and never answers",
    "redis-cut": "Redis refuses connections, open ones closed",
    "database-cut": "PostgreSQL refuses connections, open ones closed",
    "database-terminate": "pg_terminate_backend of the portal's connections, mid-batch",
    "web-worker-kill": "kill -9 of a gunicorn worker, mid-batch",
    "rq-worker-kill": "kill -9 of `portal worker` mid-job; a new one started",
}
# More than the loopback's socket buffers hold (~2.5 MB and less pass unharmed without the
# fix in app/web.py `_read_the_rest`), less than the size limit (21 MB).
LARGE_BYTES = 8 << 20
_CUTS = {"s3-cut": "s3", "s3-blackhole": "s3", "redis-cut": "redis", "database-cut": "database"}


def hurt(
    fault: str,
    outage: float,
    runtime: Runtime,
    deployment: Deployment,
    proxied: Proxied,
    mailing: Mailing,
    window: dict[str, Any],
) -> str:
    """Do `fault` now; note when it started and ended in `window`; what it hit."""
    if fault == "none":
        window["started"] = window["ended"] = time.monotonic()
        return ""
    if fault in _CUTS:
        proxy = proxied.proxies[_CUTS[fault]]
        window["started"] = time.monotonic()
        proxy.cut(blackhole=fault.endswith("blackhole"))
        if fault == "database-cut":
            # A request larger than the sockets' buffers, whose API key check fails before its
            # body is read: the client must get the 503, not a reset connection.
            padding = b"x" * LARGE_BYTES
            window["probe"] = mailing.probe(b'{"items": [], "padding": "' + padding + b'"}')
        time.sleep(max(0.0, window["started"] + outage - time.monotonic()))
        proxy.restore()
        window["ended"] = time.monotonic()
        return f"{outage:g} s"
    if fault == "web-worker-kill":
        pid = deployment.serving_web_worker()
        window["started"] = window["ended"] = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        return f"worker {pid}"
    if fault == "database-terminate":
        # Mid-batch: when a web worker's transaction has run a while (not the short ones
        # around it, whose connection the pool would test and replace unharmed).
        in_batch = text(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"
            " AND datname = current_database() AND now() - xact_start > interval '30 ms'"
        )
        web = {"name": APPLICATION_NAME.format("gunicorn")}
        wait_until(lambda: scalar(runtime, in_batch, web), TIMEOUT, "a batch's transaction")
        window["started"] = window["ended"] = time.monotonic()
        ended = scalar(
            runtime,
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name LIKE :names AND datname = current_database()"
            ),
            {"names": APPLICATION_NAME.format("%")},
        )
        return f"{ended} connections"
    # rq-worker-kill: when it runs a job (rq's registry of started jobs, asked directly).
    assert runtime.redis is not None and runtime.queue is not None
    started = StartedJobRegistry(runtime.queue.name, connection=runtime.redis)
    wait_until(lambda: runtime.redis.zcard(started.key) > 0, TIMEOUT, "a job to start")  # type: ignore[union-attr]
    window["started"] = time.monotonic()
    pid = deployment.kill_worker()
    window["ended"] = time.monotonic()  # the new worker runs from here
    return f"worker {pid}"


def process_settings(config: Config) -> dict[str, dict[str, str]]:
    """Each process's database URL, with its name for PostgreSQL (`application_name`)."""
    url = make_url(config.database_url)
    return {
        process: {
            "PORTAL_DATABASE_URL": url.update_query_dict(
                {"application_name": APPLICATION_NAME.format(process)}
            ).render_as_string(False)
        }
        for process in PROCESSES
    }


def scalar(runtime: Runtime, query: Any, params: dict[str, str]) -> Any:
    with runtime.engine.begin() as conn:
        return conn.execute(query, params).scalar_one()


def wait_until(
    condition: Callable[[], Any],
    timeout: float,
    what: str,
    describe: Callable[[], str] | None = None,
) -> None:
    """Poll `condition` until it holds; a TimeoutError saying `what` (and `describe()`)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            state = f"; {describe()}" if describe is not None else ""
            raise TimeoutError(f"{what}: not done within {timeout} s{state}")
        time.sleep(0.2)
