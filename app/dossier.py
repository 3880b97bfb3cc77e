"""The dossier (case file) pages and downloads, shared by residents, clerks and archivists."""

from __future__ import annotations

import uuid
from typing import Any

from flask import redirect, render_template, url_for
from flask_login import login_required
from werkzeug.wrappers import Response as BaseResponse

from app.downloads import attachment
from app.portal import bp
from app.presenters import KIND_LABELS, STATUS_LABELS, timeline
from app.views_common import not_found_on_denied
from app.web import actor, db, parse_id
from casefiles.journal import entries
from casefiles.operations import get_case, list_cases
from directory.models import Role
from mailbox.queries import (
    OpeningRequired,
    case_messages,
    readable_version,
    visible_documents,
    visible_entries,
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
    parties = case.parties
    if me.role == Role.RESIDENT:  # a resident sees no other party (see mailbox.queries)
        parties = [p for p in parties if p.party_id == me.party_id]
    return render_template(
        "cases/detail.html",
        case=case,
        parties=parties,
        timeline=timeline(visible_entries(session, me, case, entries(session, case))),
        messages=messages,
        kinds=KIND_LABELS,
        statuses=STATUS_LABELS,
        documents=visible_documents(session, me, case, messages),
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
    return attachment(
        read_blob(session, version.blob),
        filename=version.filename,
        media_type=version.media_type,
        size=version.blob.size,
    )
