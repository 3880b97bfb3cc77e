"""Log in and out with a password (TOTP, passkeys and OpenID Connect come later), and change it.

A login is a session on the server (`app.auth.sessions`): logging out or changing the password
ends it there, whatever copy of the cookie exists. Password checks, at the login and in the
password form alike, run behind the throttle (`app.auth.guard`, `directory.throttle`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from app.auth import bp, sessions
from app.auth.guard import Refused, guarded
from app.web import actor, db
from directory.actors import Actor
from directory.errors import InvalidInput
from directory.models import Role
from directory.operations import (
    MIN_PASSWORD_LENGTH,
    authenticate,
    change_password,
    check_new_password,
    get_account,
)


def home_for(role: str) -> str:
    if role == Role.ARCHIVIST.value:
        return url_for("archive.index")
    return url_for("office.index") if role == Role.CLERK.value else url_for("portal.inbox")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(home_for(current_user.role))
    error, status, headers = None, 200, {}
    login_name = request.form.get("login", "")
    if request.method == "POST":
        password = request.form.get("password", "")
        try:
            account = guarded(login_name, lambda: authenticate(db(), login_name, password))
        except Refused as refused:
            error, status = refused.message, 429
            headers = {"Retry-After": str(refused.retry_after)}
        else:
            if account is not None:
                user = sessions.begin(account)
                login_user(user)
                return redirect(_safe_next(request.args.get("next")) or home_for(user.role))
            error, status = _("Login or password is wrong."), 401
    page = render_template("auth/login.html", error=error, login=login_name)
    return page, status, headers  # type: ignore[return-value]


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
    sessions.end()  # on the server: a saved copy of the cookie opens nothing afterwards
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password() -> str | Response:
    me = actor()
    errors: dict[str, str] = {}
    status, headers = 200, {}
    if request.method == "POST":
        form = {
            name: request.form.get(name, "")
            for name in ("current_password", "new_password", "repeated_password")
        }
        try:
            token = _change_password(me, **form)
        except Refused as refused:
            errors["current_password"] = refused.message
            status, headers = 429, {"Retry-After": str(refused.retry_after)}
        except InvalidInput as exc:
            errors[exc.field] = _(exc.message, **exc.params)
            status = 422
        else:
            sessions.renew(token)
            flash(_("Your password is changed. Every other session was logged out."), "success")
            return redirect(url_for("auth.password"))
    page = render_template("auth/password.html", errors=errors, min_length=MIN_PASSWORD_LENGTH)
    return page, status, headers  # type: ignore[return-value]


def _change_password(
    me: Actor, current_password: str, new_password: str, repeated_password: str
) -> str:
    # The new password is checked first: a typing slip there costs no attempt at the throttle.
    check_new_password(current_password, new_password, repeated_password)
    account = get_account(db(), me.account_id) if me.account_id else None
    if account is None:
        raise InvalidInput("current_password", "The current password is wrong.")

    def change() -> str | None:
        try:
            return change_password(
                db(), me, current=current_password, new=new_password, repeated=repeated_password
            )
        except InvalidInput as exc:
            if exc.field == "current_password":
                return None  # a failed attempt, counted by the throttle
            raise

    token = guarded(account.login, change)
    if token is None:
        raise InvalidInput("current_password", "The current password is wrong.")
    return token
