"""The OpenAPI components: the JSON shapes the API takes and gives (JSON Schema 2020-12)."""

from __future__ import annotations

from typing import Any

from app.api.metadata import (
    AHVN13_PATTERN,
    KINDS,
    MAX_BODY,
    MAX_EXTERNAL_REF,
    MAX_PERIOD_DAYS,
    MAX_REASON,
    MAX_SUBJECT,
    NO_NUL_PATTERN,
    TEXT_PATTERN,
    UID_PATTERN,
)

STR = {"type": "string"}
UUID = {"type": "string", "format": "uuid"}
TIME = {"type": ["string", "null"], "format": "date-time"}
# Text that must hold more than white space (the portal strips it) and no NUL.
TEXT = {"type": "string", "minLength": 1, "pattern": TEXT_PATTERN}
# A PDF as a multipart file part: `format: binary` is what client generators (and
# schemathesis) take for a file; `contentMediaType` says which kind, as OpenAPI 3.1 does.
PDF_PART = {
    "type": "string",
    "format": "binary",
    "contentMediaType": "application/pdf",
    "minLength": 1,
}
# What `idempotency.check_key` takes: 1 to 200 printable ASCII characters.
IDEMPOTENCY_KEY = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[ -~]+$"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(name: str) -> dict[str, Any]:
    return {"anyOf": [ref(name), {"type": "null"}]}


def links(*names: str, description: str) -> dict[str, Any]:
    # Named link objects: inline ones make client generators derive one model name from two
    # places (openapi-python-client dropped Delivery and DeliveryCreated over it).
    return {
        "type": "object",
        "description": description,
        "required": list(names),
        "properties": {name: STR for name in names},
    }


def _extends(base: str, properties: dict[str, Any]) -> dict[str, Any]:
    # allOf of the base and an object with the new members: the form generators merge.
    return {"allOf": [ref(base), {"type": "object", "properties": properties}]}


def _metadata_members(*, in_case: bool) -> dict[str, Any]:
    """The members of a delivery's metadata; within a case file without case_id/external_ref."""
    members: dict[str, Any] = {
        "recipient": ref("Recipient"),
        "kind": {"type": "string", "enum": list(KINDS)},
        "subject": {**TEXT, "maxLength": MAX_SUBJECT},
        "body": {"type": ["string", "null"], "maxLength": MAX_BODY, "pattern": NO_NUL_PATTERN},
        "case_id": {
            "type": ["string", "null"],
            "format": "uuid",
            "description": "Add to this case file of your authority (not with external_ref).",
        },
        "external_ref": {
            "type": ["string", "null"],
            "minLength": 1,
            "maxLength": MAX_EXTERNAL_REF,
            "pattern": TEXT_PATTERN,
            "description": "Your own file number: the delivery goes into the case file "
            "with this reference, which is opened if there is none yet (not with case_id).",
        },
        "reply_allowed": {"type": ["boolean", "null"], "default": True},
        "appeal_period_days": {
            "type": ["integer", "null"],
            "minimum": 1,
            "maximum": MAX_PERIOD_DAYS,
        },
        "seal": {
            "type": ["boolean", "null"],
            "default": False,
            "description": "Seal the PDFs with your authority's seal (PAdES); 422 if your "
            "authority has no seal.",
        },
    }
    if in_case:
        del members["case_id"], members["external_ref"]
        members["recipient"] = nullable("Recipient")
    return members


def _upload(metadata: str) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["metadata", "files"],
        "properties": {
            "metadata": ref(metadata),
            "files": {"type": "array", "minItems": 1, "items": PDF_PART},
        },
    }


SCHEMAS: dict[str, Any] = {
    "Recipient": {
        "type": "object",
        "description": "A person by AHVN13 (756.1234.5678.97) or an organisation by UID "
        "(CHE-123.456.788). A number with a wrong check digit is refused (422); one of "
        "nobody registered, or of someone without consent, answers recipient_not_reachable.",
        "oneOf": [ref("PersonNumber"), ref("OrganisationNumber")],
    },
    "PersonNumber": {
        "type": "object",
        "additionalProperties": False,
        "required": ["ahvn13"],
        "properties": {"ahvn13": {"type": "string", "pattern": AHVN13_PATTERN}},
    },
    "OrganisationNumber": {
        "type": "object",
        "additionalProperties": False,
        "required": ["uid"],
        "properties": {"uid": {"type": "string", "pattern": UID_PATTERN}},
    },
    "DeliveryMetadata": {
        "type": "object",
        "additionalProperties": False,
        "required": ["recipient", "kind", "subject"],
        "properties": _metadata_members(in_case=False),
        # case_id or external_ref, not both (null stands for not given). Said this way round:
        # schemathesis 4.32 fails on `not` beside a multipart file, and a top-level anyOf makes
        # openapi-python-client split the model in two.
        "dependentSchemas": {
            "external_ref": {
                "anyOf": [
                    {"properties": {"external_ref": {"type": "null"}}},
                    {"properties": {"case_id": {"type": "null"}}},
                ]
            }
        },
    },
    "CaseMessageMetadata": {
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "subject"],
        "description": "As DeliveryMetadata without case_id and external_ref; the recipient "
        "defaults to the case file's recipient.",
        "properties": _metadata_members(in_case=True),
    },
    "DeliveryUpload": _upload("DeliveryMetadata"),
    "CaseMessageUpload": _upload("CaseMessageMetadata"),
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
            "links": ref("DeliveryLinks"),
        },
    },
    "DeliveryLinks": links(
        "self",
        "receipt",
        "withdraw",
        "case",
        "events",
        "messages",
        description="Where to follow a delivery (self, receipt, withdraw) and its case file.",
    ),
    "DocumentLinks": links("download", description="Where to fetch the document's bytes."),
    "CaseLinks": links("self", "events", "messages", description="Where to follow a case file."),
    "SelfLink": links("self", description="The resource itself."),
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
            "links": ref("DocumentLinks"),
        },
    },
    "Delivery": _extends(
        "DeliveryCreated",
        {
            "kind": STR,
            "subject": STR,
            "external_ref": {"type": ["string", "null"]},
            "recipient": ref("PartyInfo"),
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
    ),
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
            "status": {
                "type": "string",
                "enum": ["open", "closed", "transferred"],
                "description": "closed: read-only, kept until `retention_until`; transferred: "
                "handed over to the archive",
            },
            "external_ref": {"type": ["string", "null"]},
            "created_at": TIME,
            "closed_at": TIME,
            "retention_until": {"type": ["string", "null"], "format": "date"},
            "links": ref("CaseLinks"),
        },
    },
    "CaseDetail": _extends("Case", {"parties": {"type": "array", "items": ref("PartyInfo")}}),
    "PartyInfo": {
        "type": "object",
        "description": "A person (ahvn13) or an organisation (uid) by name; `role` in a case file.",
        "properties": {"name": STR, "ahvn13": STR, "uid": STR, "role": STR},
    },
    "CaseList": {
        "type": "object",
        "properties": {"cases": {"type": "array", "items": ref("Case")}},
    },
    "EventLog": {
        "type": "object",
        "properties": {
            "case_id": UUID,
            "case_reference": STR,
            "head_hash": {"type": ["string", "null"]},
            "events": {"type": "array", "items": ref("Event")},
        },
    },
    "MessageList": {
        "type": "object",
        "properties": {
            "case_id": UUID,
            "messages": {"type": "array", "items": ref("Message")},
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
            "delivery": nullable("MessageDelivery"),
        },
    },
    "MessageDelivery": {
        "type": "object",
        "description": "The delivery of an outbound message",
        "properties": {
            "delivery_id": UUID,
            "status": ref("DeliveryStatus"),
            "links": ref("SelfLink"),
        },
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
                    "case_closed",
                    "not_closable",
                    "unauthorized",
                    "not_found",
                    "bad_json",
                ],
            },
            "errors": {"type": "array", "items": ref("ProblemError")},
        },
    },
    "ProblemError": {
        "type": "object",
        "required": ["field", "detail"],
        "properties": {
            "field": {
                "type": "string",
                "description": "The member at fault as a path (`metadata.subject`, "
                "`recipient.ahvn13`, `files[0]`, `items[3].ref`); `body` for a request body "
                "as a whole, `parts` for a multipart part without a name.",
            },
            "detail": STR,
        },
    },
    "WithdrawRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "reason": {
                "type": ["string", "null"],
                "maxLength": MAX_REASON,
                "pattern": NO_NUL_PATTERN,
                "description": "Shown to nobody but the case file's journal; null or absent "
                "for none.",
            }
        },
    },
}
