"""The authorities' workbench: delivering letters and decisions, following their status."""

from __future__ import annotations

from mailbox.operations import deliver
from mailbox.queries import sent_deliveries

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response

from app.office import bp
from app.presenters import KIND_LABELS, STATUS_LABELS
from app.web import actor, db
from casefiles.documents import CheckedFile, Upload, check_upload
from directory.actors import Actor
from directory.errors import InvalidInput
from directory.models import Role
from directory.operations import find_party, find_residents


def clerk() -> Actor:
    me = actor()
    if me.role != Role.CLERK:
        abort(403)
    return me


@bp.route("/")
@login_required
def index() -> str:
    me = clerk()
    return render_template(
        "office/index.html",
        deliveries=sent_deliveries(db(), me),
        kinds=KIND_LABELS,
        statuses=STATUS_LABELS,
    )


@bp.route("/deliver", methods=["GET", "POST"])
@login_required
def deliver_view() -> str | Response | tuple[str, int]:
    me = clerk()
    session = db()
    query = request.args.get("q", "")
    matches = find_residents(session, me, query) if query else []
    form = {
        "recipient": request.values.get("recipient", ""),
        "kind": request.form.get("kind", "decision"),
        "subject": request.form.get("subject", ""),
        "body": request.form.get("body", ""),
    }
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            delivery = _deliver_from_form(me, form)
        except InvalidInput as exc:
            errors[exc.field] = _(exc.message, **exc.params)
        else:
            flash(
                _("Delivered to the mailbox of %(name)s.", name=delivery.recipient.display_name),
                "success",
            )
            return redirect(url_for("portal.case", case_id=delivery.message.case_id))
    page = render_template(
        "office/deliver.html",
        form=form,
        errors=errors,
        query=query,
        matches=matches,
        kinds=KIND_LABELS,
    )
    return (page, 422) if errors else page


def _deliver_from_form(me: Actor, form: dict[str, str]) -> object:
    session = db()
    if not form["recipient"].strip():
        raise InvalidInput("recipient", "Choose a recipient.")
    recipient = find_party(session, me, form["recipient"])
    if not form["subject"].strip():
        raise InvalidInput("subject", "A subject is required.")
    files: list[CheckedFile] = []
    limit = current_app.config["PORTAL_MAX_UPLOAD_BYTES"]
    try:
        for storage in request.files.getlist("files"):
            if storage.filename:
                upload = Upload(filename=storage.filename, stream=storage.stream)
                files.append(check_upload(upload, max_bytes=limit))
        return deliver(
            session,
            me,
            recipient_id=recipient.id,
            kind=form["kind"],
            subject=form["subject"],
            body=form["body"],
            files=files,
        )
    finally:
        for checked in files:
            checked.close()
