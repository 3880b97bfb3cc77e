"""Log in and out with a password (TOTP, passkeys and OpenID Connect come later); failed logins
are throttled per login name (`directory.throttle`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from app.auth import bp
from app.web import User, db, localtime, runtime
from directory import throttle
from directory.models import Role
from directory.operations import authenticate


def home_for(role: str) -> str:
    return url_for("office.index") if role == Role.CLERK.value else url_for("portal.inbox")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(home_for(current_user.role))
    error, status = None, 200
    login_name = request.form.get("login", "")
    if request.method == "POST":
        password = request.form.get("password", "")
        until = throttle.blocked_until(db(), login_name)
        # While blocked, even the right password is refused: that is what stops guessing.
        account = None if until else authenticate(db(), login_name, password)
        if account is None:
            if until is None:
                # Counted in a transaction of its own, as the failed request's is rolled back;
                # that one ends first (on SQLite it holds the write lock the count needs).
                db().rollback()
                with runtime().transaction() as counting:
                    until = throttle.record_failure(counting, login_name)
            error, status = _("Login or password is wrong."), 401
            if until is not None:
                error = _(
                    "Too many failed attempts with this login. For your protection, logging in "
                    "is blocked until %(time)s.",
                    time=localtime(until, "HH:mm"),
                )
                status = 429
        else:
            throttle.clear_failures(db(), login_name)
            lang = session.get("lang")
            session.clear()  # a fresh session on login: no fixation
            if lang:
                session["lang"] = lang
            user = User(account)
            login_user(user)
            return redirect(_safe_next(request.args.get("next")) or home_for(user.role))
    return render_template("auth/login.html", error=error, login=login_name), status  # type: ignore[return-value]


def _safe_next(target: str | None) -> str | None:
    # Only same-site paths: an open redirect would let a phishing link borrow our login page.
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    logout_user()
    session.clear()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))
