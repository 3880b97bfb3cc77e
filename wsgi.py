"""WSGI entry point for production servers: `gunicorn wsgi:app`."""

import sys

import app as _portal  # noqa: F401  (puts the project root first on sys.path, see app/__init__.py)
from app import create_app
from app.keys import KeySetupError

try:
    app = create_app()
except KeySetupError as error:
    # One line for the operator instead of a traceback per worker. Exit status 4 is gunicorn's
    # "App failed to load": the master stops instead of booting new workers again and again.
    print(f"portal: {error}", file=sys.stderr)
    raise SystemExit(4) from None
