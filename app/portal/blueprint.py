"""The portal blueprint on its own, so that its route modules import it without importing the
package that imports them (no import circle)."""

from flask import Blueprint

bp = Blueprint("portal", __name__)
