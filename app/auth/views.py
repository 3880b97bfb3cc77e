"""Log in and out with a password (TOTP, passkeys and OpenID Connect come later)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from app.auth import bp
from app.web import User, db
from directory.models import Role
from directory.operations import authenticate


def home_for(role: str) -> str:
    return url_for("office.index") if role == Role.CLERK.value else url_for("portal.inbox")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(home_for(current_user.role))
    error = None
    login_name = request.form.get("login", "")
    if request.method == "POST":
        account = authenticate(db(), login_name, request.form.get("password", ""))
        if account is None:
            error = _("Login or password is wrong.")
        else:
            lang = session.get("lang")
            session.clear()  # a fresh session on login: no fixation
            if lang:
                session["lang"] = lang
            user = User(account)
            login_user(user)
            return redirect(_safe_next(request.args.get("next")) or home_for(user.role))
    status = 401 if error else 200
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
