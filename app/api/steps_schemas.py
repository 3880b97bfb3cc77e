"""The OpenAPI description of the steps API (app/api/steps.py): its paths and schemas,
merged into the document by app/api/openapi.py."""

from __future__ import annotations

from typing import Any

from app.api.steps import MAX_DOCUMENTS, SLUG
from catalogue import outcomes
from catalogue.models import StepStatus


def _id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "string", "format": "uuid"}}  # fmt: skip


def _ok(schema: str, text: str) -> dict[str, Any]:
    return {
        "description": text,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _problems(*statuses: int) -> dict[str, Any]:
    return {str(s): {"$ref": f"#/components/responses/Problem{s}"} for s in (*statuses, 405, 503)}


_IDEMPOTENCY = {"$ref": "#/components/parameters/IdempotencyKey"}
PATHS: dict[str, Any] = {
    "/steps": {"get": {
        "operationId": "listSteps",
        "summary": "Your authority's steps of ordered services (its work queue)",
        "description": "Without `status`: the steps in work (open, claimed, needs_information) "
        "and finished ones; waiting and skipped steps only when asked for by status.",
        "parameters": [
            {"name": "status", "in": "query", "schema": {"type": "string",
                                                          "enum": [s.value for s in StepStatus]}},
            {"name": "service", "in": "query", "schema": {"type": "string", "pattern": SLUG}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                         "maximum": 500}},
            {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0,
                                                          "maximum": 1000000}},
        ],
        "responses": {"200": _ok("StepList", "Steps, oldest opened first"), **_problems(401, 422)},
    }},
    "/steps/{step_id}": {"get": {
        "operationId": "getStep",
        "summary": "One step of your authority",
        "parameters": [_id("step_id")],
        "responses": {"200": _ok("Step", "The step"), **_problems(401, 404)},
    }},
    "/steps/{step_id}/claim": {"post": {
        "operationId": "claimStep",
        "summary": "Take an open step into work",
        "description": "422 when the step is not open (waiting, finished, asking the resident).",
        "parameters": [_id("step_id"), _IDEMPOTENCY],
        "responses": {"200": _ok("Step", "Claimed"), **_problems(401, 404, 409, 422)},
    }},
    "/steps/{step_id}/outcome": {"post": {
        "operationId": "recordStepOutcome",
        "summary": "Record a step's outcome: done, decided, needs_information, forwarded, "
        "rejected",
        "description": "decided delivers a decision to the resident (the PDFs in `documents`, "
        "sealed; without documents the portal writes one from subject and body), with the "
        "appeal period; needs_information asks the resident with a deadline (LU holidays "
        "count); forwarded hands the step to another authority (slug); rejected refuses the "
        "order and ends the other steps. A step that is not open or claimed answers 422 and "
        "nothing is stored.",
        "parameters": [_id("step_id"), _IDEMPOTENCY],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/StepOutcome"}}}},
        "responses": {"200": _ok("Step", "The step afterwards"),
                      **_problems(400, 401, 404, 409, 413, 415, 422)},
    }},
}  # fmt: skip
_NULLABLE_TEXT = {"type": ["string", "null"]}
_DAYS = {"type": ["integer", "null"], "minimum": 1, "maximum": 365}


def _OPTIONAL(limit: int) -> dict[str, Any]:  # noqa: N802  (reads as a constant)
    return {"type": "string", "maxLength": limit, "pattern": "^[^\\u0000]*$"}


def _REQUIRED(limit: int) -> dict[str, Any]:  # noqa: N802
    # Something besides white space, and no NUL (the texts are stripped).
    return {"type": "string", "maxLength": limit, "pattern": "^\\s*[^\\s\\u0000][^\\u0000]*$"}


def _variant(kind: str, members: dict[str, Any], required: list[str] | None = None) -> dict:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["outcome", *(required or [])],
        "properties": {"outcome": {"type": "string", "const": kind}, **members},
    }


_TIME = {"type": ["string", "null"], "format": "date-time"}
SCHEMAS: dict[str, Any] = {
    "Step": {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "step", "title", "status", "case", "authority", "claimed",
                     "opened_at", "due_at", "finished_at", "outcome", "note"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "step": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "string", "enum": [s.value for s in StepStatus]},
            "case": {"type": "object", "additionalProperties": False,
                     "required": ["id", "reference", "service", "version"],
                     "properties": {"id": {"type": "string", "format": "uuid"},
                                    "reference": {"type": "string"},
                                    "service": _NULLABLE_TEXT,
                                    "version": {"type": ["integer", "null"]}}},
            "authority": {"type": "object", "additionalProperties": False,
                          "required": ["id", "name"],
                          "properties": {"id": {"type": "string"}, "name": {"type": "string"}}},
            "claimed": {"type": "boolean"},
            "opened_at": _TIME, "due_at": _TIME, "finished_at": _TIME,
            "outcome": _NULLABLE_TEXT, "note": _NULLABLE_TEXT,
        },
    },
    "StepList": {
        "type": "object", "additionalProperties": False, "required": ["items", "limit", "offset"],
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Step"}},
                       "limit": {"type": "integer"}, "offset": {"type": "integer"}},
    },
    "OutcomeDocument": {
        "type": "object",
        "additionalProperties": False,
        "required": ["filename", "content_base64"],
        "properties": {
            "filename": {"type": "string", "maxLength": 200},
            "content_base64": {
                "type": "string",
                "contentEncoding": "base64",
                "contentMediaType": "application/pdf",
            },
        },
    },
    "StepOutcome": {
        "description": "One of the outcomes, by `outcome`; each takes its own members only.",
        "oneOf": [
            _variant("done", {"note": _OPTIONAL(outcomes.MAX_NOTE)}),
            _variant(
                "decided",
                {
                    "subject": _REQUIRED(outcomes.MAX_SUBJECT),
                    "body": _OPTIONAL(outcomes.MAX_BODY),
                    "appeal_days": _DAYS,
                    "fee": {
                        "type": ["string", "null"],
                        "description": "Francs as text; 0 or null: no fee",
                        "pattern": "^[0-9]{1,5}(\\.[0-9]{1,2})?$",
                    },
                    "documents": {
                        "type": "array",
                        "maxItems": MAX_DOCUMENTS,
                        "items": {"$ref": "#/components/schemas/OutcomeDocument"},
                    },
                },
                ["subject"],
            ),
            _variant(
                "needs_information",
                {"question": _REQUIRED(outcomes.MAX_BODY), "days": _DAYS},
                ["question"],
            ),
            _variant(
                "forwarded",
                {"to_authority": _REQUIRED(100), "reason": _REQUIRED(outcomes.MAX_NOTE)},
                ["to_authority", "reason"],
            ),
            _variant("rejected", {"reason": _REQUIRED(outcomes.MAX_NOTE)}, ["reason"]),
        ],
    },
}  # fmt: skip
