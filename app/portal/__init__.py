from flask import Blueprint

bp = Blueprint("portal", __name__)

from app import dossier  # noqa: E402,F401  (shared dossier routes)
from app.portal import views  # noqa: E402,F401  (routes attach to bp)
