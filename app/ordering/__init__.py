"""Ordering a service: the form built from its declaration, and the confirmation."""

from flask import Blueprint

bp = Blueprint("ordering", __name__)

from app.ordering import followups, views  # noqa: E402,F401  (routes and globals attach to bp)
