from flask import Blueprint

bp = Blueprint("office", __name__)

from app.office import fees, lifecycle, steps, views  # noqa: E402,F401  (routes attach to bp)
