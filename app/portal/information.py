"""The process of an ordered service inside the dossier: the timeline of its steps (a template
global the dossier page includes, cases/_timeline.html) and the resident's answer to a request
for information, with text and files. catalogue.steps decides who may answer what."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flask import abort, flash, g, redirect, url_for
from flask import request as http_request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response as BaseResponse

from app.forms import IMAGES_AND_PDF, uploaded_files
from app.portal.blueprint import bp
from app.portal.dossier import render_case
from app.views_common import not_found_on_denied
from app.web import actor, db, parse_id
from casefiles.errors import NotFound
from casefiles.models import CaseFile
from catalogue import steps
from catalogue.models import Step, StepStatus
from directory.actors import AccessDenied
from directory.errors import InvalidInput
from directory.models import Role
from mailbox.deadlines import ZURICH


@dataclass
class ProcessStep:
    """One line of the resident's timeline, in the reader's language."""

    id: str
    title: str
    status: str
    state: str
    authority: str
    when: dt.datetime | None
    question: str | None = None
    last_day: dt.date | None = None


@dataclass
class Process:
    ordered_at: dt.datetime
    steps: list[ProcessStep] = field(default_factory=list)
    done_at: dt.datetime | None = None


@bp.app_template_global("case_process")
def case_process(case: CaseFile) -> Process | None:
    """The steps of an ordered case file as the reader may see them; None for other files."""
    if case.case_type is None:
        return None
    language = str(get_locale() or "de")[:2]
    try:
        items = steps.timeline(db(), actor(), case)
    except (NotFound, AccessDenied):
        return None
    process = Process(ordered_at=case.created_at)
    for item in items:
        process.steps.append(ProcessStep(
            id=str(item.step_id), title=item.title.get(language),
            status=item.status_label.get(language), state=item.state.value,
            authority=item.authority_name,
            when=item.finished_at or item.opened_at, question=item.question,
            last_day=_last_day(item.due_at) if item.state == StepStatus.NEEDS_INFORMATION else None,
        ))  # fmt: skip
    if items and all(i.state.finished for i in items):
        process.done_at = max((i.finished_at for i in items if i.finished_at), default=None)
    return process


def _last_day(due_at: dt.datetime | None) -> dt.date | None:
    # due_at is the end of the last day in Lucerne (catalogue.information.deadline).
    if due_at is None:
        return None
    return (due_at.astimezone(ZURICH) - dt.timedelta(seconds=1)).date()


@bp.route("/cases/<case_id>/steps/<step_id>/answer", methods=["POST"])
@login_required
@not_found_on_denied
def answer(case_id: str, step_id: str) -> BaseResponse | tuple[str, int]:
    me = actor()
    if me.role != Role.RESIDENT:
        abort(403)
    cid, sid = parse_id(case_id), parse_id(step_id)
    step = db().get(Step, sid)
    if step is None or step.case_id != cid:
        raise NotFound("step")
    text = http_request.form.get("text", "")
    try:
        with uploaded_files("files", IMAGES_AND_PDF) as files:
            steps.answer_information(db(), me, sid, text, files)
    except InvalidInput as exc:
        tx = g.pop("tx", None)  # nothing of the refused answer stays; the page is read afresh
        if tx is not None:
            tx.rollback()
        return render_case(
            cid,
            answer_errors={f"answer-{exc.field}": _(exc.message, **exc.params)},
            answer_text=text,
            answer_step=str(sid),
        ), 422
    flash(_("Your answer was sent. The authority continues with your order."), "success")
    return redirect(url_for("portal.case", case_id=cid) + "#process")
