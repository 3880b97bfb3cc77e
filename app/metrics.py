"""Prometheus metrics: requests are counted in each process, the rest is read at scrape time.

Under gunicorn every worker is a process of its own. With PROMETHEUS_MULTIPROC_DIR set (by
gunicorn.conf.py, before prometheus_client is first imported) each process keeps its counts in
files there, and a scrape adds up the files of all workers, alive or gone. What lives in the
database or in Redis (deliveries by state, the outbox, rq's registries) is read once per scrape
instead of being counted in every process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.registry import Collector
from rq import Queue, Worker
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from app.probes import Outcome, Probes
from mailbox.models import Delivery, DeliveryStatus
from storage.db import utcnow
from storage.outbox import MAX_ATTEMPTS, OutboxJob

# From a quick page to a batch of a hundred letters.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Any other method is counted as "other": a label must never take values a client invents.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# rq's registries of the portal's queue. A job that failed and waits for its next try is
# "scheduled" (app/runtime.py retries with intervals); one that used up its tries is "failed".
_RQ_REGISTRIES = ("started", "scheduled", "deferred", "failed")
# Where the request's matched endpoint is left for the WSGI wrapper (app/ops.py sets it): the
# request context, and with it `request.url_rule`, is gone once the app returns.
ENDPOINT_KEY = "portal.endpoint"
_LOCK_NAME = ".lock"  # not *.db: prometheus_client never reads it


def multiprocess_dir() -> str | None:
    """The folder of per-process files, if this process writes its figures there.

    prometheus_client chooses once, at its first import; a folder named only later would be
    read by scrapes but never written, so it counts only if the choice was made with it.
    """
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return path if path and getattr(values.ValueClass, "_multiprocess", False) else None


class HttpMetrics:
    """Requests by endpoint, method and status, with their latency, fed by a WSGI wrapper."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "portal_http_requests",
            "HTTP requests answered, by Flask endpoint (never the raw path), method and status.",
            ["endpoint", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "portal_http_request_duration_seconds",
            "Seconds until the response started, by Flask endpoint and method.",
            ["endpoint", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def wrap(self, wsgi_app: Callable[..., Any]) -> Callable[..., Any]:
        def counted(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            status = ["500"]  # what an exception that escapes the app amounts to

            def start(code: str, headers: Any, exc_info: Any = None) -> Any:
                status[0] = code.split(" ", 1)[0]
                return start_response(code, headers, exc_info)

            started = time.perf_counter()
            try:
                return wsgi_app(environ, start)
            finally:
                endpoint, method = _endpoint(environ), environ.get("REQUEST_METHOD", "")
                method = method if method in _METHODS else "other"
                self.requests.labels(endpoint, method, status[0]).inc()
                self.latency.labels(endpoint, method).observe(time.perf_counter() - started)

        return counted


def _endpoint(environ: dict[str, Any]) -> str:
    return str(environ.get(ENDPOINT_KEY, "unmatched"))


class ScrapeCollector(Collector):
    """Figures read from the database and Redis when Prometheus asks, within the timeout."""

    def __init__(self, probes: Callable[[], Probes]) -> None:
        self._probes = probes  # asked at scrape time: the app's runtime decides

    def collect(self) -> Iterable[Metric]:
        probes = self._probes()
        looks: dict[str, Callable[[], Any]] = {"database": lambda: _database(probes)}
        if probes.redis() is not None:
            looks["redis"] = lambda: _redis(probes)
        # Named apart from /readyz's looks: a run in progress is shared only by the same look.
        ran = probes.run({f"metrics-{name}": look for name, look in looks.items()})
        outcomes = {name: ran[f"metrics-{name}"] for name in looks}
        up = GaugeMetricFamily(
            "portal_metrics_source_up",
            "1 when this scrape could read the source's figures, 0 when it failed or timed out.",
            labels=["source"],
        )
        for source, outcome in outcomes.items():
            up.add_metric([source], 1 if outcome.ok else 0)
        yield up
        yield from _database_families(outcomes["database"])
        if "redis" in outcomes and outcomes["redis"].ok:
            yield from _rq_families(probes.runtime.config.queue_name, outcomes["redis"].value)


def _database(probes: Probes) -> dict[str, Any]:
    with probes.connection() as conn:
        rows = conn.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
        deliveries = {status.value: count for status, count in rows}
        return {"deliveries": deliveries, "outbox": _outbox(conn)}


def _redis(probes: Probes) -> dict[str, int]:
    client = probes.redis()
    queue = Queue(probes.runtime.config.queue_name, connection=client)
    # One round trip, and read-only: a registry's `count` would first clean it up.
    with client.pipeline(transaction=False) as pipe:  # type: ignore[union-attr]
        pipe.llen(queue.key)
        for name in _RQ_REGISTRIES:
            pipe.zcard(getattr(queue, f"{name}_job_registry").key)
        counts = pipe.execute()
    figures = dict(zip(("queued", *_RQ_REGISTRIES), counts, strict=True))
    figures["workers"] = Worker.count(connection=client, queue=queue)
    return figures


def _outbox(conn: Connection) -> dict[str, float]:
    """The jobs outbox (storage/outbox.py): rows not done, those given up, the oldest's age."""
    undone = OutboxJob.done_at.is_(None)
    given_up = func.count().filter(OutboxJob.attempts >= MAX_ATTEMPTS)
    query = select(func.count(), given_up, func.min(OutboxJob.created_at)).where(undone)
    depth, stuck, oldest = conn.execute(query).one()
    age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
    return {"depth": depth, "given_up": stuck, "oldest_seconds": max(0.0, age)}


def _database_families(outcome: Outcome) -> Iterator[Metric]:
    if not outcome.ok:
        return
    deliveries = GaugeMetricFamily(
        "portal_deliveries", "Deliveries by legal state.", labels=["state"]
    )
    counts = outcome.value["deliveries"]
    for state in DeliveryStatus:  # every state, also at 0: a dashboard's line never vanishes
        deliveries.add_metric([state.value], counts.get(state.value, 0))
    yield deliveries
    outbox = outcome.value["outbox"]
    yield GaugeMetricFamily(
        "portal_outbox_depth",
        "Jobs recorded with their work's transaction and not done yet (handed to the queue or "
        "waiting for the relay).",
        value=outbox["depth"],
    )
    yield GaugeMetricFamily(
        "portal_outbox_given_up",
        "Outbox jobs not done after their last attempt: they wait for an operator.",
        value=outbox["given_up"],
    )
    yield GaugeMetricFamily(
        "portal_outbox_oldest_seconds",
        "Age of the oldest outbox job not done yet (0 when there is none).",
        value=outbox["oldest_seconds"],
    )


def _rq_families(queue: str, figures: dict[str, int]) -> Iterator[Metric]:
    jobs = GaugeMetricFamily(
        "portal_jobs",
        "rq jobs by state: queued (waiting for a worker), started, scheduled (waiting for "
        "a retry's interval), deferred, failed (out of tries).",
        labels=["queue", "state"],
    )
    for state in ("queued", *_RQ_REGISTRIES):
        jobs.add_metric([queue, state], figures[state])
    yield jobs
    workers = GaugeMetricFamily(
        "portal_rq_workers", "rq workers registered for the queue.", labels=["queue"]
    )
    workers.add_metric([queue], figures["workers"])
    yield workers


# --- several processes (gunicorn) ---------------------------------------------------------------


class _Locked(Collector):
    """The per-process files, read under a shared lock: never while a gone worker's are folded."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.inner = multiprocess.MultiProcessCollector(None, path=path)

    def collect(self) -> Iterable[Metric]:
        with _lock(self.path, fcntl.LOCK_SH):
            return list(self.inner.collect())


def multiprocess_registry(path: str) -> CollectorRegistry:
    """A registry for one scrape that adds up the files of every worker."""
    registry = CollectorRegistry()
    registry.register(_Locked(path))
    return registry


@contextlib.contextmanager
def _lock(path: str, kind: int) -> Iterator[None]:
    with open(os.path.join(path, _LOCK_NAME), "a+b") as handle:
        fcntl.flock(handle, kind)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def empty_folder(path: str) -> None:
    """gunicorn's master, when it starts: figures of an earlier run are no part of this one."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.unlink(os.path.join(path, name))


def fold_gone_worker(pid: int, path: str) -> None:
    """gunicorn's child_exit: fold a gone worker's counts into one archive file per kind.

    prometheus_client's `mark_process_dead` removes only live gauges' files; the counters and
    histograms of every worker that `max_requests` recycles would stay, and every scrape would
    read more files, for ever. Folded, the totals stay as they were and the folder stays small.
    """
    multiprocess.mark_process_dead(pid, path)
    with _lock(path, fcntl.LOCK_EX):
        for kind in ("counter", "histogram"):
            gone = os.path.join(path, f"{kind}_{pid}.db")
            if not os.path.exists(gone):
                continue
            archive = os.path.join(path, f"{kind}_archive.db")
            sources = [f for f in (archive, gone) if os.path.exists(f)]
            merged = multiprocess.MultiProcessCollector.merge(sources, accumulate=False)
            _write(archive + ".new", merged)  # not *.db, so no scrape reads it half written
            os.replace(archive + ".new", archive)
            os.unlink(gone)


def _write(filename: str, metrics: Iterable[Metric]) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(filename)
    target = MmapedDict(filename)
    try:
        for metric in metrics:
            for sample in metric.samples:
                names = list(sample.labels)
                label_values = [sample.labels[name] for name in names]
                key = mmap_key(metric.name, sample.name, names, label_values, metric.documentation)
                target.write_value(key, sample.value, sample.timestamp or 0.0)
    finally:
        target.close()
