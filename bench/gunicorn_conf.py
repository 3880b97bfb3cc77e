"""gunicorn settings for the bench (and a sensible start for production).

After a worker has loaded the app, its ~200,000 objects (modules, SQLAlchemy mappers, Flask)
are moved out of the garbage collector's sight: a mass mailing allocates a lot, and every full
collection would walk them all again (~0.2 s of a 1000-letter request otherwise).
"""

import gc
import os
from pathlib import Path

from app.keys import refuse_before_workers

# As in gunicorn.conf.py: keys refused in one line by the master, before any worker boots.
on_starting = refuse_before_workers


def post_worker_init(worker: object) -> None:
    gc.freeze()
    # The master listens before its workers have loaded the app (~2 s each here); the bench
    # waits for these marks so that booting is not counted as delivering.
    ready = os.environ.get("BENCH_READY_DIR")
    if ready:
        (Path(ready) / f"worker-{os.getpid()}").touch()
