"""The clerk's step queue (/office/steps): the steps of ordered services at the clerk's
authority, filtered by status and service; claiming; one step with its case file, the answers of
the order, its documents and the outcome forms. The view parses and renders; catalogue.steps
decides (and refuses what does not fit: the transaction of a 4xx answer is rolled back)."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from app.forms import uploaded_files
from app.office import bp
from app.office.views import clerk
from app.ordering.messages import STEP_STATUS
from app.views_common import not_found_on_denied
from app.web import db, parse_id
from casefiles.documents import CheckedFile
from casefiles.models import CaseFile, Document, JournalEntry
from catalogue import automatic, registry, steps
from catalogue.model import Field, Service
from catalogue.models import Step, StepStatus
from catalogue.outcomes import Decided, Done, Forwarded, NeedsInformation, Outcome, Rejected
from directory.actors import Actor
from directory.errors import InvalidInput
from directory.models import Authority
from mailbox.deadlines import ZURICH
from mailbox.queries import case_messages, visible_documents
from storage.blobs import read_blob

# The outcome forms of a step page, in the order a clerk reads them; each posts `kind`.
KINDS = ("done", "needs_information", "decided", "forwarded", "rejected")
# Every text box of the outcome forms, kept after a refusal.
TEXTS = ("note", "question", "days", "subject", "body", "appeal_days", "fee", "to_authority",
         "reason")  # fmt: skip
ACTIVE = (StepStatus.OPEN, StepStatus.CLAIMED)


def language() -> str:
    return str(get_locale() or "de")[:2]


def last_day(due_at: dt.datetime | None) -> dt.date | None:
    """The last day to answer: due_at is the end of that day in Lucerne (catalogue.information)."""
    if due_at is None:
        return None
    return (due_at.astimezone(ZURICH) - dt.timedelta(seconds=1)).date()


@bp.app_template_global("step_last_day")
def _step_last_day(due_at: dt.datetime | None) -> dt.date | None:
    return last_day(due_at)


def discard() -> None:
    """Roll back what a refused action may have begun; the page is then read afresh."""
    tx = g.pop("tx", None)
    if tx is not None:
        tx.rollback()


@bp.route("/steps")
@login_required
def step_queue() -> str:
    me = clerk()
    status_arg = request.args.get("status", "")
    status = StepStatus(status_arg) if status_arg in StepStatus._value2member_map_ else None
    service_arg = request.args.get("service", "")
    catalogue = registry.default()
    service = service_arg if catalogue.get(service_arg) is not None else None
    mine = request.args.get("mine") == "1"
    rows = steps.queue(db(), me, status=status, service=service, mine=mine, limit=200)
    lang = language()
    return render_template(
        "office/steps.html",
        rows=[(row, _titles(row, lang)) for row in rows],
        statuses=STEP_STATUS,
        services=[(s.id, s.title.get(lang)) for s in catalogue.all()],
        status=status.value if status else "",
        service=service or "",
        mine=mine,
        me=me,
    )


def _titles(row: Step, lang: str) -> tuple[str, str]:
    """The service's and the step's titles as the case file was ordered."""
    service = registry.default().get(row.case.case_type or "")
    try:
        spec = service.step(row.step_id) if service else None
    except StopIteration:
        spec = None
    return (service.title.get(lang) if service else row.case.case_type or "",
            spec.title.get(lang) if spec else row.step_id)  # fmt: skip


@bp.route("/steps/<step_id>")
@login_required
@not_found_on_denied
def step_view(step_id: str) -> str:
    return render_step(parse_id(step_id))


def render_step(step_id: uuid.UUID, **extra: Any) -> str:
    session, me = db(), clerk()
    step = steps.get_step(session, me, step_id)
    case = step.case
    service = steps.service_of(session, case)
    lang = language()
    messages = case_messages(session, me, case.id)
    others = session.scalars(
        select(Authority).where(Authority.id != step.authority_id).order_by(Authority.name)
    ).all()
    return render_template(
        "office/steps_detail.html",
        step=step,
        case=case,
        service_title=service.title.get(lang),
        step_title=service.step(step.step_id).title.get(lang),
        answers=_answers(service, ordered_answers(session, case), lang),
        documents=visible_documents(session, me, case, messages),
        statuses=STEP_STATUS,
        authorities=[(a.slug, a.name) for a in others],
        actionable=step.status in ACTIVE and step.claimed_by in (None, me.account_id),
        me=me,
        values=extra.pop("values", {}),
        errors=extra.pop("errors", {}),
        **extra,
    )


def ordered_answers(session: Session, case: CaseFile) -> dict[str, Any]:
    """The order's answers: from the case.ordered entry if it holds them, else from the JSON
    filing of the form that the entry names (the entry itself keeps only their digest)."""
    answers = dict(automatic.ordered_answers(session, case))
    if answers:
        return answers
    payload = session.scalar(
        select(JournalEntry.payload).where(
            JournalEntry.case_id == case.id, JournalEntry.action == "case.ordered"
        )
    )
    document_id = (payload or {}).get("form_json")
    document = session.get(Document, uuid.UUID(document_id)) if document_id else None
    if document is None or document.case_id != case.id:
        return {}
    filed = json.loads(b"".join(read_blob(session, document.current.blob)))
    return dict(filed.get("answers") or {})


def _answers(service: Service, answers: dict[str, Any], lang: str) -> list[tuple[str, str]]:
    """The order's answers with the declaration's labels, in the form's order."""
    shown = []
    for field in service.fields():
        if field.name in answers:
            shown.append((field.label.get(lang), _shown(field, answers[field.name], lang)))
    return shown


def _shown(field: Field, value: Any, lang: str) -> str:
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, dict):
        if "filename" in value:
            return str(value["filename"])
        return ", ".join(str(value.get(k, "")) for k in ("street", "postcode", "town"))
    if field.type == "choice":
        for choice in field.choices:
            if choice.value == value:
                return choice.label.get(lang)
    return "" if value is None else str(value)


@bp.route("/steps/<step_id>/claim", methods=["POST"])
@login_required
@not_found_on_denied
def step_claim(step_id: str) -> Response | tuple[str, int]:
    return _transition(step_id, steps.claim, _("You have claimed this step."))


@bp.route("/steps/<step_id>/release", methods=["POST"])
@login_required
@not_found_on_denied
def step_release(step_id: str) -> Response | tuple[str, int]:
    return _transition(step_id, steps.release, _("The step is back in the queue."))


def _transition(
    step_id: str, action: Callable[[Any, Actor, uuid.UUID], Step], done: str
) -> Response | tuple[str, int]:
    me, sid = clerk(), parse_id(step_id)
    try:
        action(db(), me, sid)
    except InvalidInput as exc:
        discard()
        return render_step(sid, errors={"": _(exc.message, **exc.params)}), 409
    flash(done, "success")
    return redirect(url_for("office.step_view", step_id=sid))


@bp.route("/steps/<step_id>/outcome", methods=["POST"])
@login_required
@not_found_on_denied
def step_outcome(step_id: str) -> Response | tuple[str, int]:
    me, sid = clerk(), parse_id(step_id)
    kind = request.form.get("kind", "")
    values = {name: request.form.get(name, "") for name in TEXTS}
    try:
        if kind not in KINDS:
            raise InvalidInput(
                "kind", "This outcome does not exist. Choose one of the forms below."
            )
        with uploaded_files("files") as files:
            step = steps.record_outcome(db(), me, sid, _outcome(kind, values, files))
    except InvalidInput as exc:
        key = f"{kind}-{exc.field}" if kind in KINDS and exc.field in TEXTS + ("files",) else ""
        errors = {key: _(exc.message, **exc.params)}
        discard()
        return render_step(sid, errors=errors, values={"kind": kind, **values}), 422
    flash(_("Recorded: %(status)s.", status=STEP_STATUS[step.status.value]), "success")
    if step.authority_id != me.authority_id:  # forwarded: no longer this authority's step
        return redirect(url_for("office.step_queue"))
    return redirect(url_for("office.step_view", step_id=sid))


def _outcome(kind: str, values: dict[str, str], files: list[CheckedFile]) -> Outcome:
    if kind == "done":
        return Done(values["note"])
    if kind == "needs_information":
        return NeedsInformation(values["question"], _days("days", values["days"]))
    if kind == "forwarded":
        return Forwarded(values["to_authority"], values["reason"])
    if kind == "rejected":
        return Rejected(values["reason"])
    return Decided(
        subject=values["subject"],
        body=values["body"],
        uploads=files,
        appeal_days=_days("appeal_days", values["appeal_days"]),
        fee=_fee(values["fee"]),
    )


def _days(name: str, text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses (a 500 before).
    if not re.fullmatch(r"[0-9]{1,6}", text):
        raise InvalidInput(name, "A period is between 1 and 365 days.")
    return int(text)


def _fee(text: str) -> decimal.Decimal | None:
    text = text.strip().replace("'", "").replace(",", ".")
    if not text:
        return None
    try:
        return decimal.Decimal(text)
    except decimal.InvalidOperation:
        raise InvalidInput("fee", "A fee is an amount in francs above 0.") from None
