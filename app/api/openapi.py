"""The API's description, OpenAPI 3.1, written by hand next to the code it describes."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

from app.api import bp
from app.api import fees as fees_api
from app.api import routing as routing_api
from app.api import steps_schemas as steps_api
from app.api.metadata import NO_NUL_PATTERN
from app.api.schemas import IDEMPOTENCY_KEY, SCHEMAS, ref
from app.api.schemas_batch import BATCH_SCHEMAS

JSON = "application/json"
PROBLEM = "application/problem+json"
BINARY = {"type": "string", "format": "binary"}
OCTET_STREAM = "application/octet-stream"
# What the portal stores and so serves: delivered PDFs, residents' images, receipts (PDF and
# JSON), listed one by one rather than as */*; and application/octet-stream, the same bytes for
# a client that asks for it. Generators that know no PDF or image type (openapi-python-client)
# take the first type they know for the response, so octet-stream comes before JSON: they then
# hand out the bytes rather than parse a PDF as JSON.
DOCUMENT_TYPES = ("application/pdf", "image/png", "image/jpeg", OCTET_STREAM, JSON)
IDEMPOTENCY = {"$ref": "#/components/parameters/IdempotencyKey"}


def _id(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _problems(*statuses: int) -> dict[str, Any]:
    # Any request can meet a database conflict (503), so every operation lists it; and a method
    # that another route of the same URL takes (GET /deliveries/batch) answers 405.
    return {str(s): {"$ref": f"#/components/responses/Problem{s}"} for s in (*statuses, 405, 503)}


def _upload(schema: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": ref(schema),
                "encoding": {
                    "metadata": {"contentType": JSON},
                    "files": {"contentType": "application/pdf"},
                },
            }
        },
    }


_CREATED = {
    "description": "Delivered into the recipient's mailbox",
    "headers": {
        "Location": {"schema": {"type": "string"}},
        "Idempotent-Replayed": {"$ref": "#/components/headers/IdempotentReplayed"},
    },
    "content": {JSON: {"schema": ref("DeliveryCreated")}},
}

PATHS: dict[str, Any] = {
    "/deliveries": {
        "post": {
            "operationId": "createDelivery",
            "summary": "Deliver a letter or decision into a resident's or company's mailbox",
            "description": "Refused with 422 and code `recipient_not_reachable` when the "
            "recipient has no account or has not consented to electronic delivery: send it on "
            "paper. Nothing is stored for a refused delivery.",
            "parameters": [IDEMPOTENCY],
            "requestBody": _upload("DeliveryUpload"),
            "responses": {"201": _CREATED, **_problems(401, 409, 413, 415, 422)},
        }
    },
    "/deliveries/batch": {
        "post": {
            "operationId": "createDeliveries",
            "summary": "Many deliveries in one request, documents inline, a result per item",
            "description": "A request that breaks this document anywhere (an item's types, "
            "members or lengths) is refused whole with 422, `errors` naming `items[i].member`, "
            "and nothing is delivered. Otherwise each item succeeds or fails on its own (status "
            "201 or a problem: an unreachable recipient, a file that is no PDF, an unknown "
            "document); an item's `idempotency_key` makes it safe to send again.",
            "parameters": [IDEMPOTENCY],
            "requestBody": {"required": True, "content": {JSON: {"schema": ref("BatchRequest")}}},
            "responses": {
                "200": _json(ref("BatchResponse"), "One result per item, in order"),
                **_problems(400, 401, 409, 413, 415, 422),
            },
        }
    },
    "/deliveries/{delivery_id}": {
        "get": {
            "operationId": "getDelivery",
            "summary": "A delivery's status, times, recipient and documents",
            "parameters": [_id("delivery_id")],
            "responses": {"200": _json(ref("Delivery"), "The delivery"), **_problems(401, 404)},
        }
    },
    "/deliveries/{delivery_id}/receipt": {
        "get": {
            "operationId": "getReceipt",
            "summary": "The sealed receipt: signed JSON, or the PAdES-sealed PDF",
            "description": "404 (`receipt_not_available`) until the delivery is opened or deemed "
            "delivered; 409 (`receipt_pending`, with Retry-After) while it is being issued.",
            "parameters": [_id("delivery_id")],
            "responses": {
                "200": {
                    "description": "The receipt",
                    "content": {
                        JSON: {"schema": ref("Receipt")},
                        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                    },
                },
                **_problems(401, 404, 406, 409),
            },
        }
    },
    "/deliveries/{delivery_id}/withdraw": {
        "post": {
            "operationId": "withdrawDelivery",
            "summary": "Recall a delivery that has not been opened or deemed delivered",
            "parameters": [_id("delivery_id"), IDEMPOTENCY],
            "requestBody": {
                "required": False,
                "content": {JSON: {"schema": ref("WithdrawRequest")}},
            },
            "responses": {
                "200": _json(ref("Delivery"), "Withdrawn"),
                **_problems(400, 401, 404, 409, 415, 422),
            },
        }
    },
    "/cases": {
        "get": {
            "operationId": "listCases",
            "summary": "Your authority's case files, or the one with your external reference",
            "parameters": [
                {
                    "name": "external_ref",
                    "in": "query",
                    "schema": {"type": "string", "pattern": NO_NUL_PATTERN},
                }
            ],
            "responses": {
                "200": _json(ref("CaseList"), "Case files, newest first"),
                **_problems(401, 422),
            },
        }
    },
    "/cases/{case_id}": {
        "get": {
            "operationId": "getCase",
            "summary": "A case file with its parties",
            "parameters": [_id("case_id")],
            "responses": {
                "200": _json(ref("CaseDetail"), "The case file"),
                **_problems(401, 404),
            },
        }
    },
    "/cases/{case_id}/close": {
        "post": {
            "operationId": "closeCase",
            "summary": "Close one of your authority's case files (it becomes read-only)",
            "description": "Only the authority leading the case file may close it. 409 "
            "`not_closable` while a step is open, a delivery is not yet opened, deemed "
            "delivered or withdrawn, or its receipt is being issued; 409 `case_closed` when it "
            "is closed already. The retention date comes from the case type, or for plain "
            "deliveries from the portal's per-kind default.",
            "parameters": [_id("case_id"), IDEMPOTENCY],
            "responses": {
                "200": _json(ref("CaseDetail"), "The closed case file"),
                # 422: a malformed Idempotency-Key.
                **_problems(401, 404, 409, 422),
            },
        }
    },
    "/cases/{case_id}/events": {
        "get": {
            "operationId": "getCaseEvents",
            "summary": "The case file's journal as an event log (like parcel tracking)",
            "parameters": [
                _id("case_id"),
                {
                    "name": "after",
                    "in": "query",
                    "description": "Only events with a greater seq",
                    "schema": {"type": "integer", "minimum": 0},
                },
            ],
            "responses": {
                "200": _json(ref("EventLog"), "Events in order"),
                **_problems(401, 404, 422),
            },
        }
    },
    "/cases/{case_id}/messages": {
        "get": {
            "operationId": "getCaseMessages",
            "summary": "Messages of the case file, both directions, oldest first",
            "parameters": [_id("case_id")],
            "responses": {
                "200": _json(ref("MessageList"), "Messages"),
                **_problems(401, 404),
            },
        },
        "post": {
            "operationId": "answerInCase",
            "summary": "Answer within the case file: a delivery to its recipient",
            "parameters": [_id("case_id"), IDEMPOTENCY],
            "requestBody": _upload("CaseMessageUpload"),
            "responses": {"201": _CREATED, **_problems(401, 404, 409, 413, 415, 422)},
        },
    },
    "/documents/{document_id}": {
        "get": {
            "operationId": "downloadDocument",
            "summary": "Download a document of one of your case files",
            "parameters": [_id("document_id")],
            "responses": {
                "200": {
                    "description": "The document's current version, in its own media type "
                    "(the Document's `media_type`), always as an attachment",
                    "headers": {"Content-Disposition": {"schema": {"type": "string"}}},
                    # A stored JSON document (a signed receipt) comes back as parsed JSON of
                    # any shape; every other type is bytes.
                    "content": {t: {"schema": {} if t == JSON else BINARY} for t in DOCUMENT_TYPES},
                },
                **_problems(401, 404),
            },
        }
    },
}

_PROBLEM_TEXTS = {
    400: "Malformed request (the body is not JSON)",
    401: "No API key, or an unknown or revoked one (see WWW-Authenticate)",
    404: "No such resource, or one of another authority",
    405: "The method is not allowed on this URL; Allow lists those that are",
    406: "The media type asked for in Accept is not offered",
    409: "Conflict; the problem's code says which (already_delivered, receipt_pending, "
    "request_in_progress, case_closed, not_closable)",
    413: "The request is too large",
    415: "Wrong request media type",
    422: "Invalid input; `errors` names the members at fault",
    503: "Busy (a database conflict) or briefly unavailable; nothing was saved. Send the request "
    "again after Retry-After seconds, with the same Idempotency-Key if it had one",
}

_PROBLEM_HEADERS = {
    401: {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}},
    405: {"Allow": {"required": True, "schema": {"type": "string"}}},
    503: {"Retry-After": {"schema": {"type": "string"}}},
}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Einwohnerportal Luzern: API for specialist applications",
        "version": "1.0.0",
        "description": "Deliver letters and decisions into residents' secure mailboxes and "
        "follow their legal delivery. Every request acts for one authority (the API key's); "
        "what belongs to another authority answers 404. Errors are RFC 9457 problems.",
        "license": {"name": "EUPL-1.2", "identifier": "EUPL-1.2"},
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearer": []}],
    "paths": {**PATHS, **routing_api.PATHS, **steps_api.PATHS, **fees_api.PATHS},
    "components": {
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key of your specialist application (lu_…), created "
                "with `portal api-keys create --authority ID`.",
            }
        },
        "parameters": {
            "IdempotencyKey": {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Send the same request again with the same key to get the first "
                "answer again (with Idempotent-Replayed: true) instead of a second delivery. "
                "The same key with a different request answers 422 idempotency_key_reused.",
                "schema": IDEMPOTENCY_KEY,
            }
        },
        "headers": {
            "IdempotentReplayed": {
                "description": "true when this is the stored answer to an earlier request",
                "schema": {"type": "string", "enum": ["true"]},
            }
        },
        "responses": {
            f"Problem{status}": {
                "description": text,
                "content": {PROBLEM: {"schema": ref("Problem")}},
                **({"headers": _PROBLEM_HEADERS[status]} if status in _PROBLEM_HEADERS else {}),
            }
            for status, text in _PROBLEM_TEXTS.items()
        },
        "schemas": {
            **SCHEMAS,
            **BATCH_SCHEMAS,
            **routing_api.SCHEMAS,
            **steps_api.SCHEMAS,
            **fees_api.SCHEMAS,
        },
    },
}


@bp.get("/openapi.json", endpoint="openapi")
def openapi() -> Response:
    # In the order written, not with Flask's sorted keys: generators take the first media type
    # they know (see DOCUMENT_TYPES), and people read paths in the order they were grouped.
    return Response(json.dumps(SPEC, ensure_ascii=False), mimetype=JSON)
