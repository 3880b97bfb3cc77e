"""Posting events to the authorities' specialist applications (webhooks), signed.

The signature follows the Standard Webhooks scheme (https://www.standardwebhooks.com). Each event is
one POST of its JSON payload (compact, keys sorted, UTF-8: the same bytes on every attempt) with:

    Content-Type:      application/json
    Webhook-Id:        the event id; the same on every retry, so a receiver drops duplicates by it
    Webhook-Timestamp: the attempt's time in Unix seconds
    Webhook-Signature: v1,<base64 of HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>

The secret, as `portal api-keys create` shows it, is `whsec_` and 32 random bytes in base64: the
form the Standard Webhooks libraries take, and the signature is made with the reference library
(`standardwebhooks`). A receiver verifies with any of those libraries before it trusts anything
in the body, e.g. in Python `standardwebhooks.Webhook(secret).verify(raw_body, headers)`, which
also refuses a timestamp more than 5 minutes away (a replayed request). It answers 2xx once the
event is stored, and ignores an event id it has seen before.

Any other answer (or none within 10 s) is a failed attempt: it is retried with backoff
(30 s × 2^attempts, at most 6 h apart) and given up after 10 attempts.
"""

from __future__ import annotations

import datetime as dt
import http.client
import logging
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from directory.api_clients import webhook_secret
from directory.models import ApiClient
from mailbox.models import WebhookEvent
from signing.canonical import canonical_json
from storage.db import utcnow

log = logging.getLogger(__name__)

TIMEOUT = 10  # seconds
MAX_ATTEMPTS = 10  # mailbox.jobs.lost_jobs stops finding an event after as many attempts
BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_CAP = dt.timedelta(hours=6)
USER_AGENT = "Einwohnerportal-Luzern-Webhooks/1"


class WebhookFailed(Exception):
    """One attempt failed; the attempt is recorded and the job should be retried."""


def post_event(session: Session, event_id: uuid.UUID) -> None:
    """POST one event to its client's webhook, once it succeeded never again.

    Raises WebhookFailed after recording a failed attempt (attempts, last_error,
    next_attempt_at on the row): the caller commits that record and lets the job be retried.
    """
    # The row lock makes a concurrent second run wait, then find delivered_at set.
    event = session.get(WebhookEvent, event_id, with_for_update={"key_share": True})
    if event is None or event.delivered_at is not None or event.attempts >= MAX_ATTEMPTS:
        return
    client = session.get_one(ApiClient, event.client_id)
    try:
        url = _checked_url(client.webhook_url)
        secret = webhook_secret(session, client)
        if not secret:
            raise _Refused("the client has no webhook secret")
        _post(url, secret, event)
    except (_Refused, OSError, http.client.HTTPException) as exc:  # urllib's are OSErrors
        _record_failure(session, event, _describe(exc))
        if event.attempts >= MAX_ATTEMPTS:
            log.warning(
                "webhook event %s (%s) for client %s given up after %d attempts: %s",
                event.id,
                event.type,
                event.client_id,
                event.attempts,
                event.last_error,
            )
            return
        raise WebhookFailed(f"webhook event {event.id}: {event.last_error}") from None
    event.delivered_at = utcnow()
    event.next_attempt_at = None
    session.flush()


def canonical_body(payload: Mapping[str, Any]) -> bytes:
    """The bytes that are posted and signed: the portal's canonical JSON (signing/canonical.py)."""
    return canonical_json(payload)


def sign(secret: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The Webhook-Signature value (`v1,` and the base64 HMAC-SHA256 of id.timestamp.body)."""
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return Webhook(secret.decode()).sign(msg_id, moment, body.decode())  # type: ignore[no-any-return]


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the given number of failed attempts."""
    return min(BACKOFF_BASE * 2 ** min(attempts, 20), BACKOFF_CAP)


class _Refused(Exception):
    """The event cannot be posted as configured (no URL, unsafe URL, no secret)."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect would send the signed event somewhere the client never registered.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _checked_url(url: str | None) -> str:
    if not url:
        raise _Refused("the client has no webhook URL")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise _Refused("the webhook URL is not an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise _Refused("the webhook URL contains credentials; refused")
    return url


def _post(url: str, secret: bytes, event: WebhookEvent) -> None:
    body = canonical_body(event.payload)
    msg_id = str(event.id)
    timestamp = int(time.time())
    request = urllib.request.Request(  # noqa: S310  (the scheme is checked: http(s) only)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Webhook-Id": msg_id,
            "Webhook-Timestamp": str(timestamp),
            "Webhook-Signature": sign(secret, msg_id, timestamp, body),
        },
    )
    # urlopen raises HTTPError for any status outside 2xx (redirects included, see above).
    with _opener.open(request, timeout=TIMEOUT) as response:
        response.read(65536)  # drain a little so the connection closes cleanly; never stored


def _record_failure(session: Session, event: WebhookEvent, error: str) -> None:
    event.attempts += 1
    event.last_error = error[:500]
    event.next_attempt_at = (
        utcnow() + backoff(event.attempts) if event.attempts < MAX_ATTEMPTS else None
    )
    session.flush()


def _describe(exc: Exception) -> str:
    """A short reason for the row: status or socket error, never the URL or the body."""
    if isinstance(exc, urllib.error.HTTPError):
        exc.close()  # the error response holds an open socket
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return f"{type(exc.reason).__name__}: {exc.reason}"[:200]
    if isinstance(exc, _Refused):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:200]
