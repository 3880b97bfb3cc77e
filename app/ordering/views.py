"""GET/POST /services/<id>/order: the form of a service as its declaration describes it, and
the confirmation of an order. The view parses and renders; catalogue.ordering decides."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.catalogue.messages import message as field_message
from app.forms import intake_limits
from app.ordering import bp, followups, kept
from app.ordering.messages import STEP_STATUS, TOO_MANY_FILES
from app.views_common import not_found_on_denied
from app.web import actor, db, parse_id
from casefiles.documents import CheckedFile, Intake, Upload
from casefiles.errors import InvalidInput, NotFound
from casefiles.models import CaseFile
from casefiles.operations import get_case
from catalogue import registry
from catalogue.model import Service
from catalogue.models import Step
from catalogue.ordering import (
    MayNotOrder,
    OrderRefused,
    check_form,
    follow_up_source,
    may_order,
    order,
)
from catalogue.steps import service_of
from directory.actors import AccessDenied
from directory.models import Party, Role
from directory.routing import list_communes

Errors = dict[str, str]


def _service(service_id: str) -> Service:
    service = registry.default().get(service_id)
    if service is None:
        abort(404)
    return service


def _language() -> str:
    return str(get_locale() or "de")


@bp.route("/services/<service_id>/order", methods=["GET", "POST"])
@login_required
def order_view(service_id: str) -> str | Response | tuple[str, int]:
    service = _service(service_id)
    me = actor()
    if me.role != Role.RESIDENT:
        return _refused(_("Only residents and organisations can order services."))
    source, refusal = _follow_up_of(service)
    if refusal is not None:
        return refusal
    if request.method == "GET":
        try:
            party = may_order(db(), me, service)
        except MayNotOrder as exc:
            return _refused(_(exc.message))
        kept.forget()  # a fresh form: files kept for an earlier one are not offered
        values = _prefilled(service, party)
        if source is not None:  # what the resident's register data leaves open
            values = {**followups.prefilled_from_case(service, source, me), **values}
        return _form(service, values, {}, source=source)
    raw = _raw_answers(service)
    with _checked_uploads(service) as (files, upload_errors):
        try:
            if upload_errors:
                # The files were refused: show them with every other error of the form.
                _answers, found = check_form(db(), service, raw, files)
                raise OrderRefused({**found, **upload_errors})
            follow_up_of = source.id if source is not None else None
            case = order(
                db(), me, service.id, raw, files, follow_up_of=follow_up_of, language=_language()
            )
        except MayNotOrder as exc:
            return _refused(_(exc.message))
        except OrderRefused as exc:
            errors = _translated(exc.errors)
            return _shown_again(service, raw, files, errors, source=source), 422
        except InvalidInput as exc:  # the order cannot be routed: no office for the commune
            # Beside the field it comes from (a commune named in the form), else at the top.
            named = {f.name for f in service.fields()}
            where = exc.field if exc.field in named else ""
            routed = {where: _(exc.message, **exc.params)}
            return _shown_again(service, raw, files, routed, source=source), 422
    kept.forget()
    message = _("Your order was received. Reference: %(reference)s", reference=case.reference)
    flash(message, "success")
    return redirect(url_for("ordering.confirmation", case_id=case.id))


@bp.route("/orders/<case_id>")
@login_required
@not_found_on_denied
def confirmation(case_id: str) -> str:
    session = db()
    case = get_case(session, actor(), parse_id(case_id))
    if case.case_type is None:
        abort(404)
    # The declaration as ordered, even if the shipped file has changed since.
    service = service_of(session, case)
    steps = session.scalars(
        select(Step).where(Step.case_id == case.id).order_by(Step.position)
    ).all()
    language = _language()
    shown = [
        {
            "title": service.step(s.step_id).title.get(language),
            "status": service.step(s.step_id).status.get(language)
            if s.status.value in ("open", "claimed")
            else STEP_STATUS[s.status.value],
            "code": s.status.value,
            "authority": s.authority.name if s.authority else None,
        }
        for s in steps
        if any(d.id == s.step_id for d in service.steps)
    ]
    return render_template(
        "ordering/confirmation.html",
        case=case,
        service=service,
        language=language,
        steps=shown,
    )


def _refused(message: str, code: int = 403) -> tuple[str, int]:
    return render_template("error.html", code=code, message=message), code


def _follow_up_of(service: Service) -> tuple[CaseFile | None, tuple[str, int] | None]:
    """The case file named by `?from=` that this order is a follow-up of, or the refusal: 404
    for a case file the resident may not see, 422 for one whose type does not offer it."""
    wanted = request.args.get("from")
    if not wanted:
        return None, None
    try:
        return follow_up_source(db(), actor(), service, uuid.UUID(wanted)), None
    except InvalidInput:  # first: it is a ValueError too
        message = _(
            "«%(service)s» cannot be ordered as a follow-up of this case file.",
            service=service.title.get(_language()),
        )
        return None, _refused(message, 422)
    except (ValueError, NotFound, AccessDenied):  # ValueError: `from` is no case file id
        message = _("This case file does not exist, or you may not order a follow-up from it.")
        return None, _refused(message, 404)


def _raw_answers(service: Service) -> dict[str, str | list[str]]:
    """The submitted values of the service's fields (others are ignored); address fields
    arrive as name.street, name.postcode, name.town."""
    raw: dict[str, str | list[str]] = {}
    for key in request.form:
        if key == "csrf_token":
            continue
        values = request.form.getlist(key)
        raw[key] = values[0] if len(values) == 1 else values
    return raw


@contextlib.contextmanager
def _checked_uploads(service: Service) -> Iterator[tuple[dict[str, CheckedFile], Errors]]:
    """The file of each file field through the intake policy (before the transaction): a new
    upload, or the one kept from the form's last submission; and the refusals by field. The
    spools are closed afterwards."""
    files: dict[str, CheckedFile] = {}
    refused: Errors = {}
    try:
        with Intake(intake_limits()) as intake:
            for field in service.fields():
                if field.type != "file":
                    continue
                sent = [s for s in request.files.getlist(field.name) if s.filename]
                if len(sent) > 1:
                    refused[field.name] = str(TOO_MANY_FILES)
                    continue
                if sent:
                    upload = Upload(filename=sent[0].filename or "", stream=sent[0].stream)  # type: ignore[arg-type]
                elif request.form.get(f"drop_{field.name}"):
                    kept.drop(service.id, field.name)
                    continue
                else:
                    upload = kept.take(service.id, field.name)  # type: ignore[assignment]
                    if upload is None:
                        continue
                try:
                    files[field.name] = intake.check(upload, field=field.name, allowed=field.accept)
                except InvalidInput as exc:
                    refused[field.name] = _(exc.message, **exc.params)
        yield files, refused
    finally:
        for checked in files.values():
            checked.close()


def _shown_again(
    service: Service,
    raw: Mapping[str, Any],
    files: Mapping[str, CheckedFile],
    errors: Errors,
    *,
    source: CaseFile | None = None,
) -> str:
    """The form with its errors, the values as sent and the good files kept."""
    kept.keep(service.id, {name: f for name, f in files.items() if name not in errors})
    return _form(service, raw, errors, uploads=kept.kept_names(service.id), source=source)


def _translated(errors: Mapping[str, Any]) -> Errors:
    out: Errors = {}
    for name, error in errors.items():
        if isinstance(error, str):  # already a message (the intake policy's)
            out[name] = error
        else:
            out[name] = field_message(error)
    return out


def _prefilled(service: Service, party: Party) -> dict[str, Any]:
    """Values the declaration takes from the resident's register data (`prefill`)."""
    known = {
        "party.display_name": party.display_name,
        "party.given_name": party.given_name,
        "party.family_name": party.family_name,
        "party.date_of_birth": party.date_of_birth.isoformat() if party.date_of_birth else None,
        "party.ahvn13": party.ahvn13,
        "party.uid": party.uid,
        "party.email": party.email,
        "party.commune": str(party.bfs) if party.bfs else None,
    }
    values: dict[str, Any] = {}
    for field in service.fields():
        if field.prefill == "party.address":
            values[f"{field.name}.street"] = party.street or ""
            values[f"{field.name}.postcode"] = party.postcode or ""
            values[f"{field.name}.town"] = party.town or ""
        elif field.prefill in known and known[field.prefill]:
            values[field.name] = known[field.prefill]
    return values


def _form(
    service: Service,
    values: Mapping[str, Any],
    errors: Errors,
    *,
    uploads: Mapping[str, str] | None = None,
    source: CaseFile | None = None,
) -> str:
    language = _language()
    communes = []
    if any(f.type == "commune" for f in service.fields()):
        communes = [(str(c.bfs), c.name) for c in list_communes(db())]
    labels = {f.name: f.label.get(language) for f in service.fields()}
    choices = {
        f.name: [(c.value, c.label.get(language)) for c in f.choices] for f in service.fields()
    }
    return render_template(
        "ordering/form.html",
        service=service,
        language=language,
        values=values,
        errors=errors,
        labels=labels,
        choices=choices,
        communes=communes,
        uploads=uploads or {},
        source=source,
        source_title=followups.case_title(source) if source is not None else "",
    )
