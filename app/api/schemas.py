"""The OpenAPI components: the JSON shapes the API takes and gives (JSON Schema 2020-12)."""

from __future__ import annotations

from typing import Any

from app.api.metadata import KINDS, MAX_BODY, MAX_EXTERNAL_REF

STR = {"type": "string"}
UUID = {"type": "string", "format": "uuid"}
TIME = {"type": ["string", "null"], "format": "date-time"}
LINKS = {"type": "object", "additionalProperties": {"type": "string"}}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS: dict[str, Any] = {
    "Recipient": {
        "type": "object",
        "description": "A person by AHVN13 (756.1234.5678.97) or an organisation by UID.",
        "oneOf": [
            {"required": ["ahvn13"], "properties": {"ahvn13": STR}, "additionalProperties": False},
            {"required": ["uid"], "properties": {"uid": STR}, "additionalProperties": False},
        ],
    },
    "DeliveryMetadata": {
        "type": "object",
        "additionalProperties": False,
        "required": ["recipient", "kind", "subject"],
        "properties": {
            "recipient": ref("Recipient"),
            "kind": {"type": "string", "enum": list(KINDS)},
            "subject": {"type": "string", "minLength": 1, "maxLength": 300},
            "body": {"type": ["string", "null"], "maxLength": MAX_BODY},
            "case_id": {
                "type": ["string", "null"],
                "format": "uuid",
                "description": "Add to this case file of your authority.",
            },
            "external_ref": {
                "type": ["string", "null"],
                "maxLength": MAX_EXTERNAL_REF,
                "description": "Your own file number: the delivery goes into the case file "
                "with this reference, which is opened if there is none yet.",
            },
            "reply_allowed": {"type": ["boolean", "null"], "default": True},
            "appeal_period_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 365},
            "seal": {
                "type": ["boolean", "null"],
                "default": False,
                "description": "Seal the PDFs with your authority's seal (PAdES); 422 if your "
                "authority has no seal.",
            },
        },
    },
    "CaseMessageMetadata": {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "subject"],
        "description": "As DeliveryMetadata without case_id and external_ref; the recipient "
        "defaults to the case file's recipient.",
        "properties": {
            "recipient": ref("Recipient"),
            "kind": {"type": "string", "enum": list(KINDS)},
            "subject": {"type": "string", "minLength": 1, "maxLength": 300},
            "body": {"type": ["string", "null"], "maxLength": MAX_BODY},
            "reply_allowed": {"type": ["boolean", "null"]},
            "appeal_period_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 365},
            "seal": {"type": ["boolean", "null"]},
        },
    },
    "DeliveryUpload": {
        "type": "object",
        "required": ["metadata", "files"],
        "properties": {
            "metadata": ref("DeliveryMetadata"),
            "files": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "contentMediaType": "application/pdf"},
            },
        },
    },
    "CaseMessageUpload": {
        "type": "object",
        "required": ["metadata", "files"],
        "properties": {
            "metadata": ref("CaseMessageMetadata"),
            "files": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "contentMediaType": "application/pdf"},
            },
        },
    },
    "DeliveryStatus": {
        "type": "string",
        "enum": ["accepted", "available", "opened", "deemed_delivered", "withdrawn"],
    },
    "DeliveryCreated": {
        "type": "object",
        "required": ["delivery_id", "case_id", "case_reference", "status", "links"],
        "properties": {
            "delivery_id": UUID,
            "case_id": UUID,
            "case_reference": STR,
            "status": ref("DeliveryStatus"),
            "available_at": TIME,
            "links": LINKS,
        },
    },
    "Signature": {
        "type": "object",
        "properties": {
            "field": STR,
            "signer": STR,
            "intact": {"type": "boolean"},
            "valid": {"type": "boolean"},
            "trusted": {"type": "boolean"},
            "signed_at": TIME,
        },
    },
    "Document": {
        "type": "object",
        "properties": {
            "id": UUID,
            "filename": STR,
            "media_type": STR,
            "size": {"type": "integer"},
            "sha256": STR,
            "signatures": {"type": "array", "items": ref("Signature")},
            "links": LINKS,
        },
    },
    "Delivery": {
        "allOf": [ref("DeliveryCreated")],
        "type": "object",
        "properties": {
            "kind": STR,
            "subject": STR,
            "external_ref": {"type": ["string", "null"]},
            "recipient": {
                "type": "object",
                "properties": {"name": STR, "ahvn13": STR, "uid": STR},
            },
            "accepted_at": TIME,
            "opened_at": TIME,
            "opened_by": {"type": ["string", "null"]},
            "deemed_at": TIME,
            "deemed_due_at": TIME,
            "withdrawn_at": TIME,
            "reply_allowed": {"type": "boolean"},
            "appeal_period_days": {"type": ["integer", "null"]},
            "due_date": {"type": ["string", "null"], "format": "date"},
            "documents": {"type": "array", "items": ref("Document")},
        },
    },
    "Receipt": {
        "type": "object",
        "description": "The signed receipt as filed in the case file. `jws` is a compact JWS "
        "(ES256, certificate chain in x5c) over {receipt, entry_hash}.",
        "required": ["receipt", "journal", "jws"],
        "properties": {
            "receipt": {"type": "object"},
            "journal": {
                "type": "object",
                "properties": {"case_id": UUID, "seq": {"type": "integer"}, "entry_hash": STR},
            },
            "jws": STR,
        },
    },
    "Case": {
        "type": "object",
        "properties": {
            "id": UUID,
            "reference": STR,
            "title": STR,
            "status": {"type": "string", "enum": ["open", "closed"]},
            "external_ref": {"type": ["string", "null"]},
            "created_at": TIME,
            "links": LINKS,
        },
    },
    "Event": {
        "type": "object",
        "properties": {
            "seq": {"type": "integer"},
            "at": TIME,
            "action": STR,
            "actor": STR,
            "data": {"type": "object"},
            "entry_hash": STR,
        },
    },
    "Message": {
        "type": "object",
        "properties": {
            "id": UUID,
            "direction": {"type": "string", "enum": ["outbound", "inbound"]},
            "kind": STR,
            "subject": STR,
            "body": STR,
            "created_at": TIME,
            "created_by": STR,
            "in_reply_to": {"type": ["string", "null"]},
            "documents": {"type": "array", "items": ref("Document")},
            "delivery": {
                "type": ["object", "null"],
                "properties": {
                    "delivery_id": UUID,
                    "status": ref("DeliveryStatus"),
                    "links": LINKS,
                },
            },
        },
    },
    "BatchFile": {
        "oneOf": [
            {
                "description": "A document sent inline",
                "type": "object",
                "additionalProperties": False,
                "required": ["filename", "content_base64"],
                "properties": {
                    "filename": STR,
                    "content_base64": {"type": "string", "contentEncoding": "base64"},
                },
            },
            {
                "description": "A document of one of the authority's case files, by id (e.g. "
                "a leaflet enclosed in every letter of a mailing); each letter's case file gets "
                "its own copy. `filename` renames the copy.",
                "type": "object",
                "additionalProperties": False,
                "required": ["document_id"],
                "properties": {"document_id": UUID, "filename": STR},
            },
        ]
    },
    "BatchItem": {
        "type": "object",
        "additionalProperties": False,
        "required": ["ref", "metadata", "files"],
        "properties": {
            "ref": {"type": "string", "minLength": 1, "maxLength": 200},
            "metadata": ref("DeliveryMetadata"),
            "files": {"type": "array", "minItems": 1, "items": ref("BatchFile")},
            "idempotency_key": {"type": "string", "minLength": 1, "maxLength": 200},
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
            "links": LINKS,
            "delivery_status": ref("DeliveryStatus"),
            "replayed": {"type": "boolean"},
            "problem": ref("Problem"),
        },
    },
    "BatchResponse": {
        "type": "object",
        "properties": {"results": {"type": "array", "items": ref("BatchResult")}},
    },
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details; `code` is stable, `detail` is for people.",
        "required": ["type", "title", "status", "code"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": STR,
            "status": {"type": "integer"},
            "detail": STR,
            "instance": STR,
            "code": {
                "type": "string",
                "examples": [
                    "invalid_input",
                    "recipient_not_reachable",
                    "idempotency_key_reused",
                    "request_in_progress",
                    "receipt_pending",
                    "receipt_not_available",
                    "already_delivered",
                    "unauthorized",
                    "not_found",
                    "bad_json",
                ],
            },
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["field", "detail"],
                    "properties": {"field": STR, "detail": STR},
                },
            },
        },
    },
}
