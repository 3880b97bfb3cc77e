"""REST API for the authorities' specialist applications, under /api/v1 (see openapi.py)."""

from flask import Blueprint

from app.api.auth import init_auth
from app.api.problems import init_problems

bp = Blueprint("api", __name__)
init_problems(bp, "/api/")
init_auth(bp)

from app.api import batch, cases, deliveries, fees, openapi, routing, steps  # noqa: E402,F401  (routes attach to bp)
