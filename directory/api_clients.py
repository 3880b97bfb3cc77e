"""API clients (authorities' specialist applications) and their bearer keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.errors import InvalidInput
from directory.models import ApiClient, ApiKey, Authority
from storage.blobs import objects_of
from storage.db import utcnow
from storage.secrets import SecretBox

KEY_PREFIX = "lu_"


def create_api_client(
    session: Session, authority: Authority, name: str, webhook_url: str | None = None
) -> ApiClient:
    """Register a specialist application of an authority."""
    if webhook_url and not webhook_url.startswith(("https://", "http://")):
        raise InvalidInput("webhook_url", "A webhook URL starts with https://.")
    client = ApiClient(authority_id=authority.id, name=name.strip(), webhook_url=webhook_url)
    client.authority = authority
    session.add(client)
    session.flush()
    return client


def create_api_key(session: Session, client: ApiClient) -> tuple[ApiKey, str]:
    """A new bearer key; the plain key is returned once and only its hash is kept."""
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(client_id=client.id, prefix=token[:12], key_hash=_digest(token))
    session.add(key)
    session.flush()
    return key, token


def authenticate_api_key(session: Session, token: str) -> ApiClient | None:
    """The client a presented bearer key belongs to, or None (revoked, unknown, malformed)."""
    if not token.startswith(KEY_PREFIX) or len(token) > 200:
        return None
    digest = _digest(token)
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    # The lookup is by hash already; compare again in constant time out of habit.
    if key is None or key.revoked_at is not None or not hmac.compare_digest(key.key_hash, digest):
        return None
    key.last_used_at = utcnow()
    return key.client


def set_webhook_secret(session: Session, client: ApiClient) -> str:
    """A new HMAC secret for the client's webhooks, stored encrypted; returned once."""
    # The Standard Webhooks form: receivers pass it as it is to the libraries of that standard.
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    client.webhook_secret = _secrets(session).encrypt(secret.encode())
    session.flush()
    return secret


def webhook_secret(session: Session, client: ApiClient) -> bytes | None:
    """The client's HMAC secret, decrypted, to sign an event."""
    if client.webhook_secret is None:
        return None
    return _secrets(session).decrypt(client.webhook_secret)


def _secrets(session: Session) -> SecretBox:
    return SecretBox(objects_of(session).kek)


def revoke_api_key(session: Session, key_id: uuid.UUID) -> None:
    """Stop a key from working at once."""
    key = session.get(ApiKey, key_id)
    if key is not None and key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()


def _digest(token: str) -> str:
    # Keys carry 256 bits of randomness, so a plain SHA-256 is enough (no slow password hash).
    return hashlib.sha256(token.encode()).hexdigest()
