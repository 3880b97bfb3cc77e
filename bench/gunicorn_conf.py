"""gunicorn settings for the bench (and a sensible start for production).

After a worker has loaded the app, its ~200,000 objects (modules, SQLAlchemy mappers, Flask)
are moved out of the garbage collector's sight: a mass mailing allocates a lot, and every full
collection would walk them all again (~0.2 s of a 1000-letter request otherwise).
"""

import gc


def post_worker_init(worker: object) -> None:
    gc.freeze()
