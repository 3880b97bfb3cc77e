"""Bearer API keys: each request acts as one API client of one authority."""

from __future__ import annotations

from flask import Blueprint, g, request

from app.api.problems import ApiProblem
from app.web import runtime
from directory.actors import Actor
from directory.api_clients import authenticate_api_key

# Endpoints anyone may read: the API's own description and the routing rules (app/api/routing.py).
PUBLIC_ENDPOINTS = {"api.openapi", "api.routing"}


def current_actor() -> Actor:
    """The API client this request acts as (set by the blueprint's before_request)."""
    return g.api_actor  # type: ignore[no-any-return]


def _unauthorized(detail: str, error: str | None = None) -> ApiProblem:
    challenge = 'Bearer realm="api"'
    if error:
        challenge += f', error="{error}"'
    return ApiProblem(
        401, "Unauthorized", detail, code="unauthorized", headers={"WWW-Authenticate": challenge}
    )


def _bearer_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Send your API key as 'Authorization: Bearer <key>'.")
    return token.strip()


def init_auth(bp: Blueprint) -> None:
    @bp.before_request
    def _authenticate() -> None:
        if request.endpoint in PUBLIC_ENDPOINTS:
            return
        token = _bearer_token()
        # A short transaction of its own: the key's last_used_at update would otherwise hold a
        # row lock on the key for the whole request and serialize a client's parallel requests.
        with runtime().transaction() as session:
            client = authenticate_api_key(session, token)
            actor = Actor.for_api_client(client) if client is not None else None
        if actor is None:
            raise _unauthorized("This API key is unknown or revoked.", "invalid_token")
        g.api_actor = actor
