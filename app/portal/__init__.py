"""The resident's side and the dossier pages shared by everyone who may see a case file."""

from app.portal import dossier, information, views  # noqa: F401  (routes attach to bp)
from app.portal.blueprint import bp

__all__ = ["bp"]
