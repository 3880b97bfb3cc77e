"""The resident's side: inbox, messages, opening a delivery, downloads."""

from __future__ import annotations

from mailbox.operations import open_delivery
from mailbox.queries import get_delivery, inbox

from flask import redirect, render_template, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from app.portal import bp
from app.presenters import KIND_LABELS, STATUS_LABELS
from app.views_common import not_found_on_denied
from app.web import actor, db, parse_id
from directory.models import Role


@bp.route("/")
@login_required
def inbox_view() -> str | Response:
    me = actor()
    if me.role == Role.CLERK:
        return redirect(url_for("office.index"))
    if me.role != Role.RESIDENT:
        return redirect(url_for("portal.cases"))
    return render_template(
        "portal/inbox.html", deliveries=inbox(db(), me), kinds=KIND_LABELS, statuses=STATUS_LABELS
    )


# The endpoint name "portal.inbox" reads better in templates than the function's.
bp.add_url_rule("/inbox", "inbox", inbox_view)


@bp.route("/messages/<delivery_id>")
@login_required
@not_found_on_denied
def message(delivery_id: str) -> str | Response:
    me = actor()
    delivery = get_delivery(db(), me, parse_id(delivery_id))
    if me.role != Role.RESIDENT:
        # Staff follow a delivery in its case file; the message page is the recipient's.
        return redirect(url_for("portal.case", case_id=delivery.message.case_id))
    return render_template(
        "portal/message.html", delivery=delivery, kinds=KIND_LABELS, statuses=STATUS_LABELS
    )


@bp.route("/messages/<delivery_id>/open", methods=["POST"])
@login_required
@not_found_on_denied
def open_message(delivery_id: str) -> Response:
    delivery = open_delivery(db(), actor(), parse_id(delivery_id))
    return redirect(url_for("portal.message", delivery_id=delivery.id))
