"""Errors as `application/problem+json` (RFC 9457), for every path under the API prefix.

Each problem carries a machine-readable `code` (also the last part of its `type` URI), so a
specialist application can act on it without parsing `detail`; validation problems list the
members at fault in `errors`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from app import outages
from directory.actors import AccessDenied
from directory.errors import InvalidInput, NotFound
from storage.db import is_transient

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
# A tag URI (RFC 4151) names a problem type without promising a page behind it (RFC 9457 3.1.1).
TYPE_BASE = "tag:portal.lu.ch,2026:problems:"

# Domain error codes whose HTTP status is not 422.
_STATUS_OF_CODE = {
    "already_delivered": 409,
    # A closed case file, one that cannot be closed yet, an appraisal in the wrong state
    # (casefiles/lifecycle.py, casefiles/appraisal.py); the same person deciding twice.
    "case_closed": 409,
    "not_closable": 409,
    "appraisal_conflict": 409,
    "four_eyes": 403,
}

_CODE_OF_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class ApiProblem(Exception):
    """Raised by API code to answer with a problem; the handler renders it."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        code: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.code = code or _CODE_OF_STATUS.get(status, "error")
        self.errors = errors
        self.headers = headers or {}

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if request:
            body["instance"] = request.path
        if self.errors is not None:
            body["errors"] = self.errors
        return body

    def response(self) -> Response:
        response = Response(
            json.dumps(self.as_json(), ensure_ascii=False), self.status, mimetype=MEDIA_TYPE
        )
        response.headers.update(self.headers)
        return response


class ValidationFailed(ApiProblem):
    """Several members at fault at once: 422 with one entry per member."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        listed = [{"field": field, "detail": detail} for field, detail in errors]
        detail = "; ".join(f"{e['field']}: {e['detail']}" for e in listed)
        super().__init__(422, "Invalid input", detail, code="invalid_input", errors=listed)


def from_invalid_input(exc: InvalidInput) -> ApiProblem:
    """A domain InvalidInput as a problem; its `code`, where the domain has one, is kept."""
    code = getattr(exc, "code", None) or "invalid_input"
    status = _STATUS_OF_CODE.get(code, 422)
    title = {422: "Invalid input", 403: "Forbidden"}.get(status, "Conflict")
    detail = str(exc)
    errors = [{"field": exc.field, "detail": detail}]
    return ApiProblem(status, title, detail, code=code, errors=errors)


def from_http_exception(exc: HTTPException) -> ApiProblem:
    status = exc.code or 500
    title = exc.name if exc.code else "Internal Server Error"
    detail = exc.description or title
    headers = {}
    if status == 405 and exc.response is None:
        allowed = getattr(exc, "valid_methods", None)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
    return ApiProblem(status, title, detail, headers=headers)


def not_found(what: str = "resource") -> ApiProblem:
    return ApiProblem(
        404, "Not Found", f"There is no such {what}, or it belongs to another authority."
    )


def init_problems(bp: Blueprint, prefix: str) -> None:
    """Answer every error under `prefix` with a problem, never with the HTML error pages."""

    @bp.errorhandler(ApiProblem)
    def _problem(exc: ApiProblem) -> Response:
        return exc.response()

    @bp.errorhandler(InvalidInput)
    def _invalid(exc: InvalidInput) -> Response:
        return from_invalid_input(exc).response()

    @bp.errorhandler(NotFound)
    @bp.errorhandler(AccessDenied)
    def _not_found(exc: Exception) -> Response:
        # What another authority owns answers exactly like what does not exist.
        return not_found().response()

    def _http(exc: HTTPException) -> Response:
        return from_http_exception(exc).response()

    # Code-specific handlers win over class handlers in Flask's lookup, and the app has its own
    # HTML handler for 413; registering the codes on the blueprint puts ours first.
    for status in _CODE_OF_STATUS:
        if status != 500:
            bp.register_error_handler(status, _http)
    bp.register_error_handler(HTTPException, _http)

    @bp.errorhandler(OperationalError)
    def _database(exc: OperationalError) -> Response:
        if is_transient(exc):
            log.warning("database conflict on %s %s: %s", request.method, request.path, exc.orig)
        else:
            log.exception("database unavailable on %s %s", request.method, request.path)
        return _unavailable("1" if is_transient(exc) else outages.RETRY_AFTER)

    def _unavailable(retry_after: str) -> Response:
        return ApiProblem(
            503,
            "Service Unavailable",
            "The portal is busy right now; nothing was saved. Send the request again (with the "
            "same Idempotency-Key, if it had one).",
            headers={"Retry-After": retry_after},
        ).response()

    @bp.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # A lost database connection (also raw psycopg errors), the object store or Redis away.
        missing = outages.missing_dependency(exc)
        if missing is not None:
            log.warning("%s unavailable on %s %s: %s", missing, request.method, request.path, exc)
            return _unavailable(outages.RETRY_AFTER)
        log.exception("unexpected error on %s %s", request.method, request.path)
        return ApiProblem(
            500,
            "Internal Server Error",
            "Something went wrong on our side. Nothing was saved. Please try again.",
        ).response()

    @bp.before_app_request
    def _unrouted() -> Response | None:
        # A URL under the prefix that matches no route (404) or no method (405) never reaches
        # the blueprint, so its handlers would not apply; answer before dispatching instead.
        error = request.routing_exception
        if (
            request.path.startswith(prefix)
            and isinstance(error, HTTPException)
            and (error.code or 0) >= 400
        ):
            return from_http_exception(error).response()
        return None
