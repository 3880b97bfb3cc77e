"""The dossier (case file) pages and downloads, shared by residents, clerks and archivists."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from flask import Response, redirect, render_template, stream_with_context, url_for
from flask_login import login_required
from werkzeug.wrappers import Response as BaseResponse

from app.portal import bp
from app.presenters import KIND_LABELS, STATUS_LABELS, timeline
from app.views_common import not_found_on_denied
from app.web import actor, db, parse_id
from casefiles.journal import entries
from casefiles.operations import get_case, list_cases
from mailbox.queries import (
    OpeningRequired,
    case_messages,
    readable_version,
    withheld_documents,
)
from storage.blobs import read_blob


@bp.route("/cases")
@login_required
def cases() -> str:
    return render_template("cases/list.html", cases=list_cases(db(), actor()))


@bp.route("/cases/<case_id>")
@login_required
@not_found_on_denied
def case(case_id: str) -> str:
    return render_case(parse_id(case_id))


def render_case(case_id: uuid.UUID, **extra: Any) -> str:
    session = db()
    me = actor()
    case = get_case(session, me, case_id)
    messages = case_messages(session, me, case.id)
    hidden = withheld_documents(session, me, case.id, messages)
    return render_template(
        "cases/detail.html",
        case=case,
        timeline=timeline(entries(session, case)),
        messages=messages,
        kinds=KIND_LABELS,
        statuses=STATUS_LABELS,
        documents=[d for d in case.documents if d.id not in hidden],
        errors=extra.pop("errors", {}),
        **extra,
    )


@bp.route("/documents/<version_id>")
@login_required
@not_found_on_denied
def download(version_id: str) -> BaseResponse:
    session = db()
    try:
        version = readable_version(session, actor(), parse_id(version_id))
    except OpeningRequired as exc:
        return redirect(url_for("portal.message", delivery_id=exc.delivery_id))
    chunks = read_blob(session, version.blob)
    response = Response(stream_with_context(chunks), mimetype=version.media_type)
    response.headers["Content-Length"] = str(version.blob.size)
    response.headers["Content-Disposition"] = _disposition(version.filename)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
