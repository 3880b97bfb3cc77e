"""Fees for specialist applications: read a fee of the key's authority, mark it paid.

The billing authority only: another authority's fee answers 404. Marking a fee paid twice
answers 422 `already_paid` and changes nothing; with an Idempotency-Key a repeated request gets
the first answer again."""

from __future__ import annotations

import uuid
from typing import Any

from flask import request
from werkzeug.wrappers import Response as BaseResponse

from app.api import bp
from app.api.auth import current_actor
from app.api.idempotency import Answer, Digest, request_label, respond
from app.api.representations import iso
from app.web import db
from catalogue import fees
from catalogue.models import Fee, FeeStatus


def fee_body(fee: Fee) -> dict[str, Any]:
    """A fee as the API shows it (the amount as text: francs, two decimals, no float)."""
    return {
        "id": str(fee.id),
        "case_id": str(fee.case_id),
        "authority_id": str(fee.authority_id),
        "step_id": str(fee.step_id) if fee.step_id else None,
        "amount": f"{fees.amount_of(fee):.2f}",
        "currency": fee.currency,
        "due": fee.due,
        "reason": fee.reason,
        "account": fee.account,
        "reference": fee.reference,
        "status": fee.status.value,
        "billed_at": iso(fee.billed_at),
        "paid_at": iso(fee.paid_at),
    }


@bp.get("/fees/<uuid:fee_id>", endpoint="get_fee")
def get_fee(fee_id: uuid.UUID) -> dict[str, Any]:
    actor = current_actor()
    actor.require_authority()
    return fee_body(fees.get_fee(db(), actor, fee_id))


@bp.post("/fees/<uuid:fee_id>/paid", endpoint="mark_fee_paid")
def mark_fee_paid(fee_id: uuid.UUID) -> BaseResponse:
    # 404 for a fee of another authority, whatever else the request holds.
    actor = current_actor()
    actor.require_authority()
    fees.get_fee(db(), actor, fee_id)
    digest = Digest(request_label())
    digest.add(request.get_data(cache=True))

    def work() -> Answer:
        return Answer(fee_body(fees.mark_paid(db(), current_actor(), fee_id)))

    return respond(digest, work)


def _id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "string", "format": "uuid"}}  # fmt: skip


def _ok(text: str) -> dict[str, Any]:
    return {
        "description": text,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Fee"}}},
    }


def _problems(*statuses: int) -> dict[str, Any]:
    return {str(s): {"$ref": f"#/components/responses/Problem{s}"} for s in (*statuses, 405, 503)}


# Merged into the document by app/api/openapi.py.
PATHS: dict[str, Any] = {
    "/fees/{fee_id}": {"get": {
        "operationId": "getFee",
        "summary": "A fee your authority billed (with its QR-bill's account and reference)",
        "parameters": [_id("fee_id")],
        "responses": {"200": _ok("The fee"), **_problems(401, 404)},
    }},
    "/fees/{fee_id}/paid": {"post": {
        "operationId": "markFeePaid",
        "summary": "Mark a fee your authority billed as paid",
        "description": "The resident sees it in the dossier; steps that waited for a fee due "
        "before open. A fee already marked paid answers 422 already_paid and nothing changes.",
        "parameters": [_id("fee_id"), {"$ref": "#/components/parameters/IdempotencyKey"}],
        "responses": {"200": _ok("The fee, paid"), **_problems(401, 404, 409, 422)},
    }},
}  # fmt: skip
_TIME = {"type": ["string", "null"], "format": "date-time"}
SCHEMAS: dict[str, Any] = {
    "Fee": {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "case_id", "authority_id", "step_id", "amount", "currency", "due",
                     "reason", "account", "reference", "status", "billed_at", "paid_at"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "case_id": {"type": "string", "format": "uuid"},
            "authority_id": {"type": "string", "format": "uuid"},
            "step_id": {"type": ["string", "null"], "format": "uuid"},
            "amount": {"type": "string", "pattern": "^[0-9]{1,6}\\.[0-9]{2}$",
                       "description": "Francs, two decimals"},
            "currency": {"type": "string", "enum": ["CHF"]},
            "due": {"type": "string", "enum": ["before", "with_decision"]},
            "reason": {"type": "string"},
            "account": {"type": "string", "description": "The QR-IBAN printed on the bill"},
            "reference": {"type": "string",
                          "description": "QR reference (27 digits) or creditor reference (RF)"},
            "status": {"type": "string", "enum": [s.value for s in FeeStatus]},
            "billed_at": {"type": "string", "format": "date-time"},
            "paid_at": _TIME,
        },
    },
}  # fmt: skip
