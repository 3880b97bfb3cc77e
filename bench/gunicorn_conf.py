"""gunicorn settings for the bench: production's own (gunicorn.conf.py), plus a mark per worker.

The bench measures what production runs: the same hooks (keys checked by the master, gc.freeze
after the app is loaded, metrics files of every worker) and settings; only its command line
differs (workers, timeout, log level), and the command line wins over any file.
"""

import importlib.util
import os
from pathlib import Path

# Loaded as a module of its own (not runpy: functions of a runpy namespace may break after it
# returns); gunicorn takes from here the names it knows as settings.
_spec = importlib.util.spec_from_file_location(
    "portal_gunicorn_conf", Path(__file__).resolve().parent.parent / "gunicorn.conf.py"
)
assert _spec is not None and _spec.loader is not None
_production = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_production)
globals().update({k: v for k, v in vars(_production).items() if not k.startswith("_")})


def post_worker_init(worker: object) -> None:
    _production.post_worker_init(worker)
    # The master listens before its workers have loaded the app (~2 s each here); the bench
    # waits for these marks so that booting is not counted as delivering.
    ready = os.environ.get("BENCH_READY_DIR")
    if ready:
        (Path(ready) / f"worker-{os.getpid()}").touch()
