"""The login session in the browser: a signed cookie that holds a token of `directory.sessions`.

Flask's cookie session is signed, not revocable: a copy stays valid as long as the secret key.
So it only carries the token, and every request asks the database whether that session still
lives (`load_user`). Logout and a new password delete rows there, and a saved cookie is dead.
"""

from __future__ import annotations

from flask import g, session

from app.web import User, db, runtime, short_transaction
from directory.models import Account
from directory.sessions import SessionPolicy, end_session, resume_session, start_session

SESSION_FIELD = "portal_session"


def policy() -> SessionPolicy:
    config = runtime().config
    return SessionPolicy.of(config.session_idle_minutes, config.session_max_hours)


def load_user(user_id: str) -> User | None:
    """Flask-Login's user loader: the account of a live session, or None (anonymous)."""
    if g.get("database_unavailable"):
        return None  # the error page must not meet the failing database again
    token = session.get(SESSION_FIELD)
    user = None
    if isinstance(token, str):
        # A short transaction of its own, as the API's key check has: the request's own (and
        # SQLite's write lock) then begins with the view's first query, after its uploads have
        # been checked (app/forms.py).
        with short_transaction() as tx:
            account = resume_session(tx, token, policy())
            if account is not None and str(account.id) == user_id:
                user = User(account)
    if user is None:
        forget()
    return user


def begin(account: Account) -> User:
    """Start a server-side session for the account in a fresh cookie session (no fixation)."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    session[SESSION_FIELD] = start_session(db(), account)
    return User(account)


def renew(token: str) -> None:
    """Keep the browser logged in with a new token (after a password change ended the old)."""
    session[SESSION_FIELD] = token


def end() -> None:
    """End this browser's server-side session, then forget it in the cookie."""
    token = session.get(SESSION_FIELD)
    if isinstance(token, str):
        end_session(db(), token)
    forget()


def forget() -> None:
    # Only what logs in is dropped; the chosen language stays.
    for key in (SESSION_FIELD, "_user_id", "_fresh", "_id"):
        session.pop(key, None)
