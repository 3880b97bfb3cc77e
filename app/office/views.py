"""The authorities' workbench: delivering, following deliveries, the queue of replies."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response

from app.forms import prepared_for_delivery, uploaded_files
from app.office import bp
from app.presenters import KIND_LABELS, STATUS_LABELS
from app.views_common import not_found_on_denied
from app.web import actor, db, parse_id
from directory.actors import Actor
from directory.errors import InvalidInput
from directory.models import Role
from directory.operations import find_residents
from mailbox import reachability
from mailbox.models import Delivery
from mailbox.operations import DeliveryOptions, deliver, withdraw_delivery
from mailbox.queries import reply_queue, sent_deliveries
from mailbox.replies import mark_handled

DELIVERABLE_KINDS = {k: v for k, v in KIND_LABELS.items() if k != "reply"}


def clerk() -> Actor:
    me = actor()
    if me.role != Role.CLERK:
        abort(403)
    return me


@bp.route("/")
@login_required
def index() -> str:
    me = clerk()
    session = db()
    status = request.args.get("status") if request.args.get("status") in STATUS_LABELS else None
    return render_template(
        "office/index.html",
        deliveries=sent_deliveries(session, me, status=status),
        kinds=KIND_LABELS,
        statuses=STATUS_LABELS,
        status=status,
        open_replies=len(reply_queue(session, me)),
    )


@bp.route("/deliver", methods=["GET", "POST"])
@login_required
def deliver_view() -> str | Response | tuple[str, int]:
    me = clerk()
    query = request.args.get("q", "")
    matches = find_residents(db(), me, query) if query else []
    form = {
        "recipient": request.values.get("recipient", ""),
        "kind": request.form.get("kind", "decision"),
        "subject": request.form.get("subject", ""),
        "body": request.form.get("body", ""),
        "appeal_period_days": request.form.get("appeal_period_days", ""),
        "reply_allowed": request.method == "GET" or bool(request.form.get("reply_allowed")),
        "seal": bool(request.form.get("seal")),
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
        kinds=DELIVERABLE_KINDS,
    )
    return (page, 422) if errors else page


def _deliver_from_form(me: Actor, form: dict[str, object]) -> Delivery:
    number = reachability.number_typed(str(form["recipient"]))
    period_text = str(form["appeal_period_days"]).strip()
    if period_text and not (period_text.isascii() and period_text.isdigit()):  # not "²"
        raise InvalidInput("appeal_period_days", "A period is between 1 and 365 days.")
    for name in ("subject", "body"):  # PostgreSQL text holds no NUL: refused, not a 500
        if "\x00" in str(form[name]):
            raise InvalidInput(name, "This field contains characters that are not allowed.")
    options = DeliveryOptions(
        appeal_period_days=int(period_text) if period_text else None,
        reply_allowed=bool(form["reply_allowed"]),
        seal=bool(form["seal"]),
    )
    with uploaded_files("files") as checked:
        # Checked and sealed before this view's first query (see app/forms.py).
        files = prepared_for_delivery(me, checked, seal=options.seal)
        session = db()
        recipient = reachability.recipient(session, me, number)
        return deliver(
            session,
            me,
            recipient_id=recipient.id,
            kind=str(form["kind"]),
            subject=str(form["subject"]),
            body=str(form["body"]),
            files=files,
            options=options,
        )


@bp.route("/deliveries/<delivery_id>/withdraw", methods=["POST"])
@login_required
@not_found_on_denied
def withdraw(delivery_id: str) -> Response:
    me = clerk()
    try:
        delivery = withdraw_delivery(
            db(), me, parse_id(delivery_id), reason=request.form.get("reason", "")
        )
    except InvalidInput as exc:
        flash(_(exc.message, **exc.params), "error")
        return redirect(request.referrer or url_for("office.index"))
    flash(_("The delivery was withdrawn."), "success")
    return redirect(url_for("portal.case", case_id=delivery.message.case_id))


@bp.route("/replies")
@login_required
def replies() -> str:
    me = clerk()
    show_all = request.args.get("all") == "1"
    return render_template(
        "office/replies.html",
        messages=reply_queue(db(), me, include_handled=show_all),
        show_all=show_all,
    )


@bp.route("/replies/<message_id>/handled", methods=["POST"])
@login_required
@not_found_on_denied
def reply_handled(message_id: str) -> Response:
    mark_handled(db(), clerk(), parse_id(message_id))
    flash(_("Marked as handled."), "success")
    return redirect(url_for("office.replies"))
