"""Closing a case file from its dossier page (issue 10): a confirmed form for the clerks of the
authority that leads it; what still runs is shown as the form's error."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response

from app.office import bp
from app.office.views import clerk
from app.portal.dossier import render_case
from app.views_common import not_found_on_denied
from app.web import db, parse_id
from catalogue.lifecycle import close
from directory.errors import InvalidInput


@bp.route("/cases/<case_id>/close", methods=["POST"])
@login_required
@not_found_on_denied
def close_case(case_id: str) -> Response | tuple[str, int]:
    me = clerk()
    case_uuid = parse_id(case_id)
    if request.form.get("confirm") != "1":
        message = _("Confirm that the case file is finished and may be closed.")
        return render_case(case_uuid, close_errors={"confirm": message}), 422
    try:
        close(db(), me, case_uuid)
    except InvalidInput as exc:
        return render_case(case_uuid, close_errors={"confirm": _(exc.message, **exc.params)}), 409
    flash(_("The case file was closed. It is now read-only."), "success")
    return redirect(url_for("portal.case", case_id=case_uuid))
