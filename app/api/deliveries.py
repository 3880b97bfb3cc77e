"""Deliveries: deliver, follow the status, fetch the receipt, withdraw."""

from __future__ import annotations

import uuid

from flask import request
from werkzeug.wrappers import Response as BaseResponse

from app.api import bp
from app.api.auth import current_actor
from app.api.idempotency import Answer, Digest, request_label, respond
from app.api.intake import checked_input, read_json_body, read_multipart, submit
from app.api.metadata import MAX_REASON
from app.api.problems import ApiProblem, ValidationFailed
from app.api.representations import delivery_detail, delivery_summary
from app.downloads import attachment
from app.web import db
from mailbox.jobs import DELIVERED
from mailbox.operations import withdraw_delivery
from mailbox.queries import get_delivery, receipt_files
from storage.blobs import blob_bytes, read_blob

SMALL_BODY = 64 * 1024


@bp.post("/deliveries")
def create_delivery() -> BaseResponse:
    submission = read_multipart()
    uploads = [(f.filename or "", f.stream) for f in submission.files]
    # Checked and sealed before `respond` looks up the Idempotency-Key: the transaction (and
    # SQLite's write lock) begins only after the files have been parsed.
    with checked_input(submission.metadata, uploads) as (meta, files):

        def work() -> Answer:
            delivery = submit(db(), current_actor(), meta, files)
            body = delivery_summary(delivery)
            return Answer(body, 201, {"Location": body["links"]["self"]})

        return respond(submission.digest, work)


# Named "get_delivery" for the links; the function's own name would shadow the domain query.
@bp.get("/deliveries/<uuid:delivery_id>", endpoint="get_delivery")
def get_delivery_view(delivery_id: uuid.UUID) -> dict[str, object]:
    return delivery_detail(get_delivery(db(), current_actor(), delivery_id))


@bp.get("/deliveries/<uuid:delivery_id>/receipt")
def delivery_receipt(delivery_id: uuid.UUID) -> BaseResponse:
    session = db()
    delivery = get_delivery(session, current_actor(), delivery_id)
    if delivery.status not in DELIVERED:
        raise ApiProblem(
            404,
            "Not Found",
            "There is no receipt: the delivery has not been opened or deemed delivered.",
            code="receipt_not_available",
        )
    files = receipt_files(session, delivery)
    if files is None:
        raise ApiProblem(
            409,
            "Receipt pending",
            "The delivery is delivered; its sealed receipt is being issued. Retry shortly.",
            code="receipt_pending",
            headers={"Retry-After": "2"},
        )
    offered = ["application/json", "application/pdf"]
    # No Accept header at all means anything goes: the JSON.
    wanted = (
        request.accept_mimetypes.best_match(offered) if request.accept_mimetypes else offered[0]
    )
    if wanted is None:
        raise ApiProblem(
            406, "Not Acceptable", "The receipt is application/json or application/pdf."
        )
    if wanted == "application/pdf":
        blob = files.pdf.blob
        response = attachment(
            read_blob(session, blob), filename=files.pdf.filename, media_type=wanted, size=blob.size
        )
    else:
        # The stored document itself, byte for byte: what was signed is what is handed out.
        signed = blob_bytes(session, files.json.blob)
        response = attachment(signed, filename=files.json.filename, media_type="application/json")
    response.headers["Vary"] = "Accept"
    return response


@bp.post("/deliveries/<uuid:delivery_id>/withdraw")
def withdraw(delivery_id: uuid.UUID) -> BaseResponse:
    data = read_json_body(SMALL_BODY, required=False)
    digest = Digest(request_label())
    raw = request.get_data(cache=True)
    digest.add(raw)

    def work() -> Answer:
        reason = _reason(data, sent=bool(raw))
        delivery = withdraw_delivery(db(), current_actor(), delivery_id, reason)
        return Answer(delivery_detail(delivery))

    return respond(digest, work)


def _reason(data: object, *, sent: bool) -> str:
    """The reason from an optional body {"reason": string or null}; a JSON `null` body is no
    object, unlike an empty body."""
    if data is None and not sent:
        return ""
    if not isinstance(data, dict):
        raise ValidationFailed([("body", "must be a JSON object")])
    errors = [(name, "is not a known member") for name in sorted(set(data) - {"reason"})]
    reason = data.get("reason", "")
    if reason is not None and not isinstance(reason, str):
        errors.append(("reason", "must be a string"))
    elif reason and (len(reason) > MAX_REASON or "\x00" in reason):
        errors.append(("reason", f"has at most {MAX_REASON} characters, no NUL"))
    if errors:
        raise ValidationFailed(errors)
    return reason or ""
