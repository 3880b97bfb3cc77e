"""The dossier (case file) pages and downloads, shared by residents, clerks and archivists, and
what a resident writes from inside a dossier."""

from __future__ import annotations

import uuid
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response as BaseResponse

from app.downloads import attachment
from app.forms import IMAGES_AND_PDF, uploaded_files
from app.portal.blueprint import bp
from app.presenters import KIND_LABELS, STATUS_LABELS, timeline
from app.views_common import not_found_on_denied
from app.web import actor, db, parse_id
from casefiles.journal import entries
from casefiles.operations import get_case, list_cases
from directory.errors import InvalidInput
from directory.models import Role
from mailbox.queries import (
    OpeningRequired,
    case_messages,
    readable_version,
    visible_documents,
    visible_entries,
)
from mailbox.replies import send_reply
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
        timeline=timeline(visible_entries(session, me, case, entries(session, case)), case),
        messages=messages,
        kinds=KIND_LABELS,
        statuses=STATUS_LABELS,
        documents=visible_documents(session, me, case, messages),
        errors=extra.pop("errors", {}),
        **extra,
    )


@bp.route("/cases/<case_id>/reply", methods=["POST"])
@login_required
@not_found_on_denied
def reply(case_id: str) -> BaseResponse | tuple[str, int]:
    me = actor()
    in_reply_to = request.form.get("in_reply_to")
    try:
        with uploaded_files("files", IMAGES_AND_PDF) as files:
            send_reply(
                db(),
                me,
                parse_id(case_id),
                text=request.form.get("text", ""),
                files=files,
                in_reply_to=parse_id(in_reply_to) if in_reply_to else None,
            )
    except InvalidInput as exc:
        return render_case(
            parse_id(case_id),
            errors={exc.field: _(exc.message, **exc.params)},
            reply_text=request.form.get("text", ""),
        ), 422
    flash(_("Your message was sent to the authority."), "success")
    return redirect(url_for("portal.case", case_id=case_id) + "#messages")


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
