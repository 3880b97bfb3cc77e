"""The service catalogue for residents: /services (search, grouped by topic and level) and
/services/<id> (one service: help, fee, who is responsible for this resident, what to bring).
Ordering itself is app/ordering (/services/<id>/order)."""

from flask import Blueprint

bp = Blueprint("catalogue", __name__)

from app.catalogue import views  # noqa: E402,F401  (routes attach to bp)

__all__ = ["bp"]
