"""Password checks behind the login throttle (`directory.login`), from the web's side: which
client an attempt comes from, what the person is told, and which job warns the owner.

A client is the request's address, or a device the login name has logged in from before: the
device cookie, signed with the app's secret key, names the login (its hash) and a random device
id. Such a device has its own count (so guesses from a shared address do not block it) and is
spared the login name's delay, so the owner is never locked out by strangers' guesses from their
usual browser. The address is `request.remote_addr`: behind a reverse proxy it is the proxy's,
unless PORTAL_TRUSTED_PROXIES says how many proxies' X-Forwarded-For to believe (werkzeug's
ProxyFix, app/factory.py); a header from anyone else is never read.

The warning e-mail is a job of the mailbox package, enqueued here by name: `directory` decides
that it is due but may not import `mailbox` (arrows point down), the app layer may.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import secrets
from collections.abc import Callable
from typing import TypeVar

from flask import after_this_request, current_app, request
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from app.web import db, localtime, runtime
from directory import login, throttle
from storage.db import utcnow
from storage.jobs import enqueue

T = TypeVar("T")
log = logging.getLogger(__name__)

DEVICE_COOKIE = "portal_device"
DEVICE_MAX_AGE = dt.timedelta(days=180)
WARNING_JOB = "mailbox.jobs.warn_of_failed_logins"


class Refused(Exception):
    """The password was not checked (or the pair is blocked now): tell the person when to retry."""

    def __init__(self, message: str, until: dt.datetime) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = max(1, math.ceil((until - utcnow()).total_seconds()))


def guarded(login_name: str, check: Callable[[], T | None]) -> T | None:
    """Run a password check for this login behind the throttle: its result, or None if wrong.

    Raises Refused when the throttle refuses the attempt, or when this failure blocks the pair.
    """
    device = _device_of(login_name)
    client = f"device:{device}" if device else f"address:{request.remote_addr or 'unknown'}"
    try:
        result = login.check_password(
            db(),
            runtime().transaction,
            login_name,
            client,
            check,
            known_device=bool(device),
            warn=_warn,
        )
    except login.LoginRefused as refused:
        if refused.new_block:
            # For operators: a pair blocked is someone guessing (the name only as its hash).
            log.warning(
                "login name %s… blocked for %s (%s) until %s",
                throttle.login_hash(login_name)[:12],
                request.remote_addr,
                "known device" if device else "address",
                refused.until.isoformat(timespec="seconds"),
            )
        raise _refusal(refused) from None
    if result is not None:
        _remember_device(login_name, device)
    return result


def _warn(session: Session, login_hash: str) -> None:
    enqueue(session, WARNING_JOB, login_hash)


def _refusal(refused: login.LoginRefused) -> Refused:
    if refused.blocked:
        message = _(
            "Too many failed attempts with this login from here. For your protection, logging "
            "in from here is blocked until %(time)s.",
            time=localtime(refused.until, "HH:mm"),
        )
    else:
        seconds = max(1, math.ceil((refused.until - utcnow()).total_seconds()))
        message = _(
            "There were many failed attempts with this login. Please wait %(seconds)s seconds, "
            "then try again.",
            seconds=seconds,
        )
    return Refused(message, refused.until)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt="portal.device")


def _device_of(login_name: str) -> str | None:
    """The device id, if this browser has logged in with this login name before."""
    cookie = request.cookies.get(DEVICE_COOKIE)
    if not cookie:
        return None
    try:
        data = _serializer().loads(cookie, max_age=int(DEVICE_MAX_AGE.total_seconds()))
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("login") != throttle.login_hash(login_name):
        return None
    device = data.get("device")
    return device if isinstance(device, str) else None


def _remember_device(login_name: str, device: str | None) -> None:
    value = _serializer().dumps(
        {"login": throttle.login_hash(login_name), "device": device or secrets.token_urlsafe(16)}
    )

    @after_this_request
    def _set(response: Response) -> Response:
        response.set_cookie(
            DEVICE_COOKIE,
            value,
            max_age=DEVICE_MAX_AGE,
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
            httponly=True,
            samesite="Lax",
        )
        return response
