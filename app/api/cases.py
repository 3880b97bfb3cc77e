"""Case files of the client's authority: finding them, their event log, their messages, and
answering within them; document downloads."""

from __future__ import annotations

import uuid
from typing import Any

from flask import request
from werkzeug.wrappers import Response as BaseResponse

from app.api import bp
from app.api.auth import current_actor
from app.api.idempotency import Answer, Digest, request_label, respond
from app.api.intake import checked_input, read_multipart, submit
from app.api.metadata import CASE_MESSAGE_MEMBERS
from app.api.problems import ValidationFailed
from app.api.representations import (
    case_detail,
    case_json,
    delivery_summary,
    event_json,
    message_json,
)
from app.downloads import attachment
from app.web import db
from casefiles.journal import entries
from casefiles.models import CaseFile
from casefiles.operations import get_case, get_document, list_cases, visible_cases
from catalogue.lifecycle import close
from mailbox.queries import case_messages
from storage.blobs import read_blob

LIST_LIMIT = 100
OCTET_STREAM = "application/octet-stream"


@bp.get("/cases", endpoint="list_cases")
def list_cases_view() -> dict[str, Any]:
    session, actor = db(), current_actor()
    unknown = sorted(set(request.args) - {"external_ref"})
    if unknown:
        raise ValidationFailed([(name, "is not a known query parameter") for name in unknown])
    ref = request.args.get("external_ref")
    if ref is not None and "\x00" in ref:
        # No case file has one (the document says so), and PostgreSQL refuses to compare it.
        raise ValidationFailed([("external_ref", "must not contain NUL")])
    if ref is None:
        cases = list_cases(session, actor, limit=LIST_LIMIT)
    else:
        stmt = visible_cases(actor).where(CaseFile.external_ref == ref.strip())
        cases = list(session.scalars(stmt))
    return {"cases": [case_json(c) for c in cases]}


@bp.get("/cases/<uuid:case_id>", endpoint="get_case_view")
def get_case_view(case_id: uuid.UUID) -> dict[str, Any]:
    return case_detail(get_case(db(), current_actor(), case_id))


@bp.post("/cases/<uuid:case_id>/close", endpoint="close_case")
def close_case_view(case_id: uuid.UUID) -> BaseResponse:
    """The lead authority closes the case file; answered again for the same Idempotency-Key."""
    digest = Digest(request_label())
    digest.add(request.get_data(cache=True))

    def work() -> Answer:
        case = close(db(), current_actor(), case_id)
        return Answer(case_detail(case))

    return respond(digest, work)


@bp.get("/cases/<uuid:case_id>/events", endpoint="case_events")
def case_events(case_id: uuid.UUID) -> dict[str, Any]:
    """The case file's journal as an event log; `after=<seq>` gives only what is new."""
    session = db()
    case = get_case(session, current_actor(), case_id)
    after = request.args.get("after", "0")
    # ASCII digits only: str.isdigit() also takes "²", which int() then refuses (a 500).
    if not after.isascii() or not after.isdigit():
        raise ValidationFailed([("after", "must be a sequence number (0 or more)")])
    events = [event_json(e) for e in entries(session, case) if e.seq > int(after)]
    return {
        "case_id": str(case.id),
        "case_reference": case.reference,
        "head_hash": case.head_hash,
        "events": events,
    }


@bp.get("/cases/<uuid:case_id>/messages", endpoint="case_messages_view")
def case_messages_view(case_id: uuid.UUID) -> dict[str, Any]:
    messages = case_messages(db(), current_actor(), case_id)
    return {"case_id": str(case_id), "messages": [message_json(m) for m in messages]}


@bp.post("/cases/<uuid:case_id>/messages", endpoint="answer")
def answer(case_id: uuid.UUID) -> BaseResponse:
    """The authority answers within the case: a delivery to the case's recipient."""
    submission = read_multipart()
    uploads = [(f.filename or "", f.stream) for f in submission.files]
    # Checked and sealed before the transaction begins, as in `create_delivery`.
    with checked_input(
        submission.metadata,
        uploads,
        allowed=CASE_MESSAGE_MEMBERS,
        recipient_required=False,
    ) as (meta, files):

        def work() -> Answer:
            delivery = submit(db(), current_actor(), meta, files, case_id=case_id)
            body = delivery_summary(delivery)
            return Answer(body, 201, {"Location": body["links"]["self"]})

        return respond(submission.digest, work)


@bp.get("/documents/<uuid:document_id>", endpoint="download")
def download(document_id: uuid.UUID) -> BaseResponse:
    session = db()
    version = get_document(session, current_actor(), document_id).current
    # The document's own type, unless the client asks for plain bytes (as the document allows).
    wanted = request.accept_mimetypes.best_match([version.media_type, OCTET_STREAM])
    return attachment(
        read_blob(session, version.blob),
        filename=version.filename,
        media_type=OCTET_STREAM if wanted == OCTET_STREAM else version.media_type,
        size=version.blob.size,
    )
