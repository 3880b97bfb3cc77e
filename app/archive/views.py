"""The archive's list of closed case files and a case file's appraisal: propose, decide (four
eyes; approving a destruction is confirmed first), and the destroyed case file's record."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.archive import bp
from app.archive.common import (
    BADGES,
    DECISIONS,
    DISPOSITIONS,
    EXPORT_STATUS,
    REFUSALS,
    STATES,
    archivist,
    discard,
    language,
    message_of,
    refusal_status,
    state_of,
    states_of,
    today,
)
from app.views_common import not_found_on_denied
from app.web import db, parse_id
from casefiles import appraisal
from casefiles.archive_models import Appraisal, AppraisalStatus
from casefiles.destruction import destroyed
from casefiles.errors import InvalidInput, NotFound
from casefiles.export.jobs import exports_of
from casefiles.models import CaseStatus
from casefiles.operations import get_case
from catalogue import registry
from directory.models import Authority

PER_PAGE = 50
DATES = ("closed_from", "closed_to", "retention_due_by")
TEXTS = ("q", "authority", "case_type", "appraisal") + DATES


@bp.route("")
@login_required
def index() -> tuple[str, int] | str:
    me, session = archivist(), db()
    values = {name: request.args.get(name, "").strip() for name in TEXTS}
    errors: dict[str, str] = {}
    dates = {name: _date(values[name], name, errors) for name in DATES}
    authorities = session.scalars(select(Authority).order_by(Authority.name)).all()
    authority_id = next((a.id for a in authorities if str(a.id) == values["authority"]), None)
    lang = language()
    case_types = sorted((s.id, s.title.get(lang)) for s in registry.default().all())
    filters = appraisal.ArchiveFilters(
        q=values["q"] or None,
        authority_id=authority_id,
        case_type=values["case_type"] if values["case_type"] in dict(case_types) else None,
        appraisal=values["appraisal"] if values["appraisal"] in STATES else None,
        **dates,
    )
    try:
        result = appraisal.archive_cases(
            session, me, filters, page=_page(request.args.get("page", "")), per_page=PER_PAGE
        )
    except InvalidInput as exc:
        errors[exc.field if exc.field in values else ""] = message_of(exc)
        result = appraisal.ArchivePage([], 0, 1, 1)
    kept: dict[str, Any] = {k: v for k, v in values.items() if v and k not in errors}
    page = render_template(
        "archive/list.html",
        result=result,
        states=states_of(session, result.items),
        labels=STATES,
        badges=BADGES,
        authorities=[(str(a.id), a.name) for a in authorities],
        case_types=case_types,
        type_titles=dict(case_types),
        values=values,
        errors=errors,
        page_url=lambda n: url_for("archive.index", **kept, page=n),
    )
    return (page, 422) if errors else page


def _date(text: str, name: str, errors: dict[str, str]) -> dt.date | None:
    if not text:
        return None
    # ISO from a date picker; 31.12.2025 typed where a browser has none.
    for parse in (dt.date.fromisoformat, lambda t: dt.datetime.strptime(t, "%d.%m.%Y").date()):
        try:
            return parse(text)
        except ValueError:
            continue
    errors[name] = _("Enter a date like 31.12.2025.")
    return None


def _page(text: str) -> int:
    # ASCII digits only; a page past the last shows an empty table, not an error.
    return int(text) if text.isascii() and text.isdigit() and 0 < len(text) < 7 else 1


@bp.route("/cases/<case_id>")
@login_required
@not_found_on_denied
def case(case_id: str) -> str | tuple[str, int]:
    archivist()
    return render_case(parse_id(case_id))


def render_case(case_id: uuid.UUID, status: int = 200, **extra: Any) -> str | tuple[str, int]:
    """The case file's archival facts and forms; a destroyed one's record; else 404."""
    me, session = archivist(), db()
    try:
        case = get_case(session, me, case_id)
    except NotFound:
        record = destroyed(session, case_id)
        if record is None:
            abort(404)
        facts = record.payload
        return render_template(
            "archive/destroyed.html",
            record=record,
            facts=facts,
            closed_at=_when(facts.get("closed_at"), dt.datetime.fromisoformat),
            retention_until=_when(facts.get("retention_until"), dt.date.fromisoformat),
        )
    history = appraisal.appraisals_of(session, case.id)
    pending = appraisal.pending(session, case.id)
    approved = [a for a in history if a.status == AppraisalStatus.APPROVED]
    state = state_of(case, history)
    page = render_template(
        "archive/case.html",
        case=case,
        history=history,
        pending=pending,
        state=state,
        labels=STATES,
        badges=BADGES,
        dispositions=DISPOSITIONS,
        decisions=DECISIONS,
        type_title=_type_title(case.case_type),
        may_propose=(
            case.status == CaseStatus.CLOSED
            and pending is None
            and not approved
            and case.retention_until is not None
            and case.retention_until <= today()
        ),
        mine=pending is not None and pending.proposed_by == me.account_id,
        archive_approved=state == "approved_archive",
        exports=exports_of(session, me, case.id),
        export_labels=EXPORT_STATUS,
        values=extra.pop("values", {}),
        errors=extra.pop("errors", {}),
        **extra,
    )
    return (page, status) if status != 200 else page


def _when(text: Any, parse: Any) -> Any:
    try:
        return parse(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _type_title(case_type: str | None) -> str | None:
    service = registry.default().get(case_type or "")
    return service.title.get(language()) if service else case_type


@bp.route("/cases/<case_id>/propose", methods=["POST"])
@login_required
@not_found_on_denied
def propose(case_id: str) -> Response | str | tuple[str, int]:
    me, cid = archivist(), parse_id(case_id)
    values = {name: request.form.get(name, "") for name in ("disposition", "reason")}
    try:
        appraisal.propose(db(), me, cid, values["disposition"], values["reason"])
    except REFUSALS as exc:
        discard()
        field = getattr(exc, "field", "")
        key = field if field in values else ""
        return render_case(cid, refusal_status(exc), errors={key: message_of(exc)}, values=values)
    flash(_("Your proposal is recorded. A second archivist must now decide on it."), "success")
    return redirect(url_for("archive.case", case_id=cid))


def _appraisal(appraisal_id: str) -> Appraisal:
    row = db().get(Appraisal, parse_id(appraisal_id))
    if row is None:
        abort(404)
    return row


@bp.route("/appraisals/<appraisal_id>/approve")
@login_required
@not_found_on_denied
def confirm(appraisal_id: str) -> str | tuple[str, int] | Response:
    """Before approving a destruction: what it destroys, said plainly."""
    me = archivist()
    row = _appraisal(appraisal_id)
    if row.status != AppraisalStatus.PROPOSED or row.proposed_by == me.account_id:
        return redirect(url_for("archive.case", case_id=row.case_id))
    return render_confirm(row)


def render_confirm(row: Appraisal, status: int = 200, **extra: Any) -> str | tuple[str, int]:
    case = get_case(db(), archivist(), row.case_id)
    page = render_template(
        "archive/confirm.html", appraisal=row, case=case, dispositions=DISPOSITIONS,
        errors=extra.pop("errors", {}), values=extra.pop("values", {}),
    )  # fmt: skip
    return (page, status) if status != 200 else page


@bp.route("/appraisals/<appraisal_id>/decide", methods=["POST"])
@login_required
@not_found_on_denied
def decide(appraisal_id: str) -> Response | str | tuple[str, int]:
    me = archivist()
    row = _appraisal(appraisal_id)
    case_id, destroy = row.case_id, row.disposition.value == "destroy"
    decision = request.form.get("decision", "")
    note = request.form.get("note", "").strip() or None
    if decision not in ("approve", "reject"):
        return render_case(case_id, 422, errors={"": _("Choose to approve or to reject.")})
    approve = decision == "approve"
    unconfirmed = request.form.get("confirm") != "1"
    if approve and destroy and unconfirmed and row.proposed_by != me.account_id:
        # Destruction cannot be undone: it is approved only from the confirmation page.
        errors = {"confirm": _("Confirm that the case file is to be destroyed.")}
        return render_confirm(row, 422, errors=errors, values={"note": note or ""})
    try:
        appraisal.decide(db(), me, row.id, approve=approve, note=note)
    except REFUSALS as exc:
        discard()
        return render_case(case_id, refusal_status(exc), errors={"": message_of(exc)})
    if approve and destroy:
        flash(_("The case file has been destroyed. Its record is in the destruction register."),
              "success")  # fmt: skip
    elif approve:
        flash(_("Archiving is approved. Create the export for the archive now."), "success")
    else:
        flash(_("The proposal is rejected."), "success")
    return redirect(url_for("archive.case", case_id=case_id))


@bp.route("/cases/<case_id>/transfer", methods=["POST"])
@login_required
@not_found_on_denied
def transfer(case_id: str) -> Response | str | tuple[str, int]:
    me, cid = archivist(), parse_id(case_id)
    try:
        export_id = uuid.UUID(request.form.get("export_id", ""))
    except ValueError:
        return render_case(cid, 422, errors={"": _("Choose the export that was handed over.")})
    try:
        appraisal.mark_transferred(db(), me, cid, export_id)
    except REFUSALS as exc:
        discard()
        return render_case(cid, refusal_status(exc), errors={"": message_of(exc)})
    flash(_("The case file is marked as transferred to the archive."), "success")
    return redirect(url_for("archive.case", case_id=cid))
