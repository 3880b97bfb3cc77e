"""The OpenAPI components of the batch endpoint (many deliveries in one request)."""

from __future__ import annotations

from typing import Any

from app.api.schemas import IDEMPOTENCY_KEY, STR, UUID, ref

BATCH_SCHEMAS: dict[str, Any] = {
    "BatchFile": {"oneOf": [ref("InlineFile"), ref("DocumentReference")]},
    "InlineFile": {
        "description": "A document sent inline",
        "type": "object",
        "additionalProperties": False,
        "required": ["filename", "content_base64"],
        "properties": {
            "filename": STR,
            "content_base64": {"type": "string", "contentEncoding": "base64"},
        },
    },
    "DocumentReference": {
        "description": "A document of one of the authority's case files, by id (e.g. "
        "a leaflet enclosed in every letter of a mailing); each letter's case file gets "
        "its own copy. `filename` renames the copy.",
        "type": "object",
        "additionalProperties": False,
        "required": ["document_id"],
        "properties": {"document_id": UUID, "filename": STR},
    },
    "BatchItem": {
        "type": "object",
        "additionalProperties": False,
        "required": ["ref", "metadata", "files"],
        "properties": {
            "ref": {"type": "string", "minLength": 1, "maxLength": 200},
            "metadata": ref("DeliveryMetadata"),
            "files": {"type": "array", "minItems": 1, "items": ref("BatchFile")},
            "idempotency_key": {**IDEMPOTENCY_KEY, "type": ["string", "null"]},
        },
    },
    "BatchRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["items"],
        "properties": {
            "items": {"type": "array", "minItems": 1, "maxItems": 1000, "items": ref("BatchItem")}
        },
    },
    "BatchResult": {
        "type": "object",
        "required": ["ref", "status"],
        "description": "`status` is the item's HTTP status: 201 with the members of "
        "DeliveryCreated (the delivery's status as `delivery_status`), otherwise `problem`.",
        "properties": {
            "ref": {"type": ["string", "null"]},
            "status": {"type": "integer"},
            "delivery_id": UUID,
            "case_id": UUID,
            "case_reference": STR,
            "links": ref("DeliveryLinks"),
            "delivery_status": ref("DeliveryStatus"),
            "replayed": {"type": "boolean"},
            "problem": ref("Problem"),
        },
    },
    "BatchResponse": {
        "type": "object",
        "properties": {"results": {"type": "array", "items": ref("BatchResult")}},
    },
}
