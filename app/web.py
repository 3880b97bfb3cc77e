"""Request plumbing: the per-request transaction, the logged-in actor, locale and times."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Flask, abort, current_app, g, request, session
from flask_babel import format_date, format_datetime
from flask_login import UserMixin, current_user
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from app.outages import missing_dependency
from app.runtime import Runtime
from directory.actors import Actor
from directory.models import Account
from storage.db import Transaction
from storage.s3_http import end_budget, start_budget

LANGUAGES = ("de", "fr", "it", "en")
_CHUNK = 64 * 1024


def runtime() -> Runtime:
    return current_app.extensions["portal"]  # type: ignore[no-any-return]


def db() -> Session:
    """This request's session; its transaction is committed or rolled back at the edge."""
    if "tx" not in g:
        rt = runtime()
        g.tx = Transaction(rt.sessions, rt._dispatch)
    return g.tx.session  # type: ignore[no-any-return]


@contextlib.contextmanager
def short_transaction() -> Iterator[Session]:
    """A transaction of its own for a few reads and small writes before the request's work
    (the login session, what the intake checks need), committed at once; the request's own
    if that has begun already (on SQLite it holds the lock, and a second would wait for it).

    On SQLite the request's transaction takes the write lock at its first statement; what runs
    before it (parsing an upload, say) then holds no lock.
    """
    session = db()
    if session.in_transaction():
        yield session
        return
    with runtime().transaction() as short:
        yield short


def init_request_transaction(app: Flask) -> None:
    @app.before_request
    def _storage_budget() -> None:
        # No request may reach the server's worker timeout waiting for the object store.
        g.storage_budget = start_budget(runtime().config.storage_budget)

    # Registered first, so it runs last (after the commit): Flask runs these in reverse.
    @app.after_request
    def _read_the_rest(response: Any) -> Any:
        # An answer given before the request's body was read (the API key check meets a
        # database outage: 503) reached the client of a large upload as a reset connection:
        # gunicorn's sync worker closes the socket after answering, and closing it with unread
        # data resets it, so the client lost the 503 and its Retry-After (the fault bench saw
        # ~100 resets in a 30 s outage, bench/faults.py). Reading the rest costs what serving the
        # request would have; a body past the size limit is not read (werkzeug's stream refuses
        # it with a 413), so its connection still resets, as it did before.
        with contextlib.suppress(HTTPException, OSError):
            while request.stream.read(_CHUNK):
                pass
        return response

    @app.after_request
    def _security_headers(response: Any) -> Any:
        # No inline scripts or styles anywhere, so the policy can be strict.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; object-src 'none'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    # Registered after the headers, so it runs before them (Flask runs these in reverse): an
    # answer that replaces the view's gets the headers too.
    @app.after_request
    def _commit(response: Any) -> Any:
        tx = g.pop("tx", None)
        if tx is not None:
            if response.status_code >= 400:
                tx.rollback()
            else:
                try:
                    tx.commit()
                except Exception as error:
                    if missing_dependency(error) is None:
                        raise
                    # The commit met an outage: the view's answer cannot stand, the 503 does.
                    return current_app.make_response(current_app.handle_user_exception(error))
        return response

    @app.teardown_request
    def _rollback(_exc: BaseException | None) -> None:
        tx = g.pop("tx", None)
        if tx is not None:
            tx.rollback()
        budget = g.pop("storage_budget", None)
        if budget is not None:
            end_budget(budget)


class User(UserMixin):
    """The Flask-Login user: an account's actor, detached from any session."""

    def __init__(self, account: Account) -> None:
        self.actor = Actor.for_account(account)
        self.id = str(account.id)
        self.display_name = account.display_name
        self.role = account.role.value


def actor() -> Actor:
    if not current_user.is_authenticated:
        abort(401)
    return current_user.actor  # type: ignore[no-any-return]


def parse_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        abort(404)


def select_locale() -> str:
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        session["lang"] = chosen
    # German is the portal's language unless the person chose another.
    return session.get("lang", "de")  # type: ignore[no-any-return]


def localdate(value: dt.date | None) -> str:
    return "–" if value is None else format_date(value, "dd.MM.yyyy")


def localtime(value: dt.datetime | None, fmt: str = "dd.MM.yyyy, HH:mm") -> str:
    """A UTC time as the people of Lucerne read it (Europe/Zurich)."""
    if value is None:
        return "–"
    return format_datetime(value, fmt)
