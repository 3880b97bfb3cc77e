"""The resident's side: inbox, messages, opening a delivery, consent (a reply is written in
the dossier: `app/portal/dossier.py`)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response

from app.portal.blueprint import bp
from app.presenters import KIND_LABELS, STATUS_LABELS
from app.views_common import not_found_on_denied
from app.web import actor, db, parse_id
from directory.consent import active_consent, give_consent, revoke_consent
from directory.models import Role
from directory.operations import get_party
from mailbox.operations import open_delivery
from mailbox.queries import InboxFilter, get_delivery, inbox, inbox_senders
from mailbox.replies import may_reply


def _optional_id(name: str):  # type: ignore[no-untyped-def]
    value = request.args.get(name)
    return parse_id(value) if value else None


@bp.route("/")
@login_required
def inbox_view() -> str | Response:
    me = actor()
    if me.role == Role.CLERK:
        return redirect(url_for("office.index"))
    if me.role == Role.ARCHIVIST:
        return redirect(url_for("archive.index"))
    if me.role != Role.RESIDENT:
        return redirect(url_for("portal.cases"))
    session = db()
    kind = request.args.get("kind") if request.args.get("kind") in KIND_LABELS else None
    status = request.args.get("status") if request.args.get("status") in STATUS_LABELS else None
    filters = InboxFilter(authority_id=_optional_id("authority"), kind=kind, status=status)
    return render_template(
        "portal/inbox.html",
        deliveries=inbox(session, me, filters),
        kinds=KIND_LABELS,
        statuses=STATUS_LABELS,
        senders=inbox_senders(session, me),
        filters=filters,
        consent=active_consent(session, me.party_id) if me.party_id else None,
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
        "portal/message.html",
        delivery=delivery,
        kinds=KIND_LABELS,
        statuses=STATUS_LABELS,
        may_reply=may_reply(me, delivery),
        errors={},
    )


@bp.route("/messages/<delivery_id>/open", methods=["POST"])
@login_required
@not_found_on_denied
def open_message(delivery_id: str) -> Response:
    delivery = open_delivery(db(), actor(), parse_id(delivery_id))
    return redirect(url_for("portal.message", delivery_id=delivery.id))


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings() -> str | Response:
    me = actor()
    if me.role != Role.RESIDENT:
        return redirect(url_for("portal.cases"))
    session = db()
    if request.method == "POST":
        if request.form.get("consent") == "give":
            give_consent(session, me)
            flash(_("You now receive letters and decisions electronically."), "success")
        elif request.form.get("consent") == "revoke":
            revoke_consent(session, me)
            flash(_("Authorities will send you paper mail again."), "info")
        return redirect(url_for("portal.settings"))
    return render_template(
        "portal/settings.html",
        consent=active_consent(session, me.party_id) if me.party_id else None,
        party=get_party(session, me, me.party_id) if me.party_id else None,
    )
