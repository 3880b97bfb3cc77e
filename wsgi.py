"""WSGI entry point for production servers: `gunicorn wsgi:app`."""

import app as _portal  # noqa: F401  (puts the project root first on sys.path, see app/__init__.py)
from app import create_app

app = create_app()
