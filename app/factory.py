"""create_app: one Flask app per call, nothing created at import time."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, g, render_template, request
from flask_babel import Babel, get_locale
from flask_babel import gettext as _
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from app import outages, web
from app.config import Config
from app.outages import missing_dependency
from app.runtime import Runtime
from storage.db import is_transient

log = logging.getLogger(__name__)
# A conflict or a database that is briefly away: the request can be sent again in a moment.
RETRY_AFTER = {"Retry-After": "1"}
# The database, the object store or Redis away (app/outages.py): come back in a few seconds.
OUTAGE = {"Retry-After": outages.RETRY_AFTER}


def create_app(config: Config | dict[str, Any] | None = None) -> Flask:
    if not isinstance(config, Config):
        config = Config.from_env(**(config or {}))
    app = Flask(__name__, instance_path=str(config.instance_path), instance_relative_config=True)
    runtime = Runtime(config)
    app.extensions["portal"] = runtime
    app.config.update(
        SECRET_KEY=config.secret_key or _instance_secret(config.instance_path),
        MAX_CONTENT_LENGTH=(config.max_upload_mb + 1) * 1024 * 1024,
        PORTAL_MAX_UPLOAD_BYTES=config.max_upload_mb * 1024 * 1024,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.base_url.startswith("https"),
        BABEL_DEFAULT_LOCALE="de",
        BABEL_DEFAULT_TIMEZONE="Europe/Zurich",
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        TESTING=config.testing,
        WTF_CSRF_TIME_LIMIT=None,  # the session bounds the token; a long form must not expire
    )
    Babel(app, locale_selector=web.select_locale)
    csrf = CSRFProtect(app)
    _init_login(app)
    if config.trusted_proxies:
        # Only behind proxies we run is X-Forwarded-For the client's address (login throttle,
        # logs); from anyone else the header is a claim, and it is ignored.
        n = config.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    web.init_request_transaction(app)
    _init_templates(app)
    _init_errors(app)

    from app.api import bp as api_bp
    from app.archive import bp as archive_bp
    from app.auth import bp as auth_bp
    from app.catalogue import bp as catalogue_bp
    from app.office import bp as office_bp
    from app.ordering import bp as ordering_bp
    from app.portal import bp as portal_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(portal_bp)
    app.register_blueprint(office_bp, url_prefix="/office")
    app.register_blueprint(archive_bp, url_prefix="/archive")
    app.register_blueprint(catalogue_bp)
    app.register_blueprint(ordering_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    # Bearer-key requests carry no session cookie, so there is no cross-site request to forge.
    csrf.exempt(api_bp)
    # /healthz, /readyz, /metrics and the request metrics around the whole app (app/ops.py).
    from app import ops

    ops.init_app(app)
    return app


def _instance_secret(instance: Path) -> str:
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _init_login(app: Flask) -> None:
    manager = LoginManager(app)
    manager.login_view = "auth.login"
    manager.login_message = None  # the login page says what it needs itself

    # A login is a session on the server: the loader asks it on every request (app/auth).
    from app.auth.sessions import load_user

    manager.user_loader(load_user)


def _init_templates(app: Flask) -> None:
    app.jinja_env.filters["localtime"] = web.localtime
    app.jinja_env.filters["localdate"] = web.localdate
    app.jinja_env.globals["LANGUAGES"] = web.LANGUAGES

    @app.context_processor
    def _context() -> dict[str, Any]:
        return {"current_locale": str(get_locale() or "de")}


def _init_errors(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError) -> tuple[str, int]:
        message = _("The form had expired or came from elsewhere. Please try again.")
        return render_template("error.html", code=400, message=message), 400

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(error: RequestEntityTooLarge) -> tuple[str, int]:
        limit = app.config["PORTAL_MAX_UPLOAD_BYTES"] // (1024 * 1024)
        message = _("The upload is larger than %(limit)s MB.", limit=limit)
        return render_template("error.html", code=413, message=message), 413

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> tuple[str, int]:
        code = error.code or 500
        messages = {
            401: _("Please log in."),
            403: _("You may not do this."),
            404: _("This page does not exist, or you may not see it."),
            405: _("This action is not possible here."),
        }
        message = messages.get(code, error.description or "")
        return render_template("error.html", code=code, message=message), code

    @app.errorhandler(OperationalError)
    def _database(error: OperationalError) -> tuple[str, int, dict[str, str]]:
        if is_transient(error):
            log.warning("database conflict on %s %s: %s", request.method, request.path, error.orig)
        else:
            log.exception("database unavailable on %s %s", request.method, request.path)
        return _unavailable("database", RETRY_AFTER if is_transient(error) else OUTAGE)

    def _unavailable(missing: str, headers: dict[str, str]) -> tuple[str, int, dict[str, str]]:
        message = _("The portal is busy right now. Nothing was saved. Please try again.")
        # Without its database the page is rendered as for a visitor (see load_user).
        g.database_unavailable = missing == "database"
        return render_template("error.html", code=503, message=message), 503, headers

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> tuple[str, int] | tuple[str, int, dict[str, str]]:
        missing = missing_dependency(error)
        if missing is not None:
            log.warning("%s unavailable on %s %s: %s", missing, request.method, request.path, error)
            return _unavailable(missing, OUTAGE)
        log.exception("unexpected error on %s %s", request.method, request.path)
        message = _("Something went wrong on our side. Nothing was saved. Please try again.")
        return render_template("error.html", code=500, message=message), 500
