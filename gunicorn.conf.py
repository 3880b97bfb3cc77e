"""gunicorn's settings, read from the folder it starts in: `gunicorn wsgi:app` (README)."""

import app as _portal  # noqa: F401  (puts the project root first on sys.path, see app/__init__.py)
from app.keys import refuse_before_workers

# Keys beside the data with PostgreSQL: the master refuses in one line before booting workers.
on_starting = refuse_before_workers
