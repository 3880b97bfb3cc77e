"""gunicorn's settings, read from the folder it starts in: `gunicorn wsgi:app` (README).

Production values; the command line overrides any of them (`--bind`, `--workers`, …).
PORTAL_WEB_WORKERS and PORTAL_WEB_TIMEOUT set the two that differ between machines.
"""

import gc
import os
import shutil
import tempfile
from typing import Any

# Memory, not disk. Only for mkdtemp (a private folder) and gunicorn's own mkstemp files.
_SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108

# Before the app (and with it prometheus_client) is imported below: prometheus_client decides
# at its first import, by whether this variable exists, to keep each process's figures in files
# of that folder, and only the files let /metrics add up every worker (app/metrics.py). The
# folder itself is read when a worker counts its first request; unless an operator names one,
# it is made when the master is ready (when_ready), so that a start that fails leaves nothing.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", "")

# The import puts the project root first on sys.path (see app/__init__.py).
import app as _portal  # noqa: E402,F401
from app.keys import refuse_before_workers  # noqa: E402
from app.metrics import empty_folder, fold_gone_worker  # noqa: E402

# Sync workers serve one request at a time: gunicorn's 2 × cores + 1, capped because each
# worker holds a whole copy of the app and its own database connections; past that, more
# machines behind the load balancer (DESIGN.md).
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
workers = int(os.environ.get("PORTAL_WEB_WORKERS") or min(2 * (_CORES or 1) + 1, 8))
# A worker silent this long is killed and replaced. The object store and Redis give up within
# seconds (storage/s3_http.py), so only a stuck worker should ever reach it.
timeout = int(os.environ.get("PORTAL_WEB_TIMEOUT") or 60)
graceful_timeout = 30  # on SIGTERM or SIGHUP, time for the requests in flight to finish
keepalive = 5  # sync workers close each connection; this counts for a threaded worker class
# Workers are replaced now and then, at different times, so that a slow leak never grows.
max_requests = 1000
max_requests_jitter = 100
# The heartbeat file is written every few seconds; on a disk, a busy disk could stall it.
worker_tmp_dir = _SHM
# gunicorn 25's control socket (~/.gunicorn/gunicorn.ctl): unused here, and masters of one user
# would share its path. Older gunicorns ignore the name.
control_socket_disable = True
accesslog = "-"
# Path without query string, no referrer, no user: a query or a referring URL can hold a token.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'


# Keys beside the data with PostgreSQL: the master refuses in one line before booting workers.
on_starting = refuse_before_workers


def when_ready(server: Any) -> None:
    # Listening, no worker yet: the folder for the workers' figures, one folder per master.
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    owner, _, made = os.environ.get("PORTAL_METRICS_DIR_MADE", "").partition(":")
    # None named, or the folder of the master that started this one (USR2) and still uses it.
    if not path or (path == made and owner != str(os.getpid())):
        path = tempfile.mkdtemp(prefix="portal-metrics-", dir=_SHM)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
        # In the environment, where a reload of this file (SIGHUP) still finds it.
        os.environ["PORTAL_METRICS_DIR_MADE"] = f"{os.getpid()}:{path}"
    # Figures of an earlier run in a folder that an operator named are no part of this one.
    empty_folder(path)


def post_worker_init(worker: object) -> None:
    # The loaded app's ~200,000 objects (modules, mappers, Flask) out of the collector's sight:
    # a large request would otherwise walk them all again in every full collection (bench/).
    gc.freeze()


def child_exit(server: Any, worker: Any) -> None:
    # In the master, for every worker that ended (recycled, killed or timed out): its counts
    # stay in the totals, its files go (prometheus_client's mark_process_dead, then folding).
    try:
        fold_gone_worker(worker.pid, os.environ["PROMETHEUS_MULTIPROC_DIR"])
    except Exception:
        # An exception here would end the master's main loop, and with it the whole server;
        # bookkeeping of figures is never worth that. The files stay and still count.
        server.log.exception("could not fold the metrics of worker %s", worker.pid)


def on_exit(server: Any) -> None:
    # The folder this master made goes with it; one an operator named stays theirs.
    owner, _, made = os.environ.get("PORTAL_METRICS_DIR_MADE", "").partition(":")
    if owner == str(os.getpid()) and made == os.environ["PROMETHEUS_MULTIPROC_DIR"]:
        shutil.rmtree(made, ignore_errors=True)
