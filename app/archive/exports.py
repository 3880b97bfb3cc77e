"""Exports for the archive: requesting one for an approved case file, its page with a
progress bar (refreshed by static/archive-export.js, or by a meta refresh without JavaScript),
its state as JSON, and the package's download."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.wrappers import Response

from app.archive import bp
from app.archive.common import (
    EXPORT_STATUS,
    REFUSALS,
    archivist,
    discard,
    message_of,
    refusal_status,
)
from app.archive.views import render_case
from app.downloads import attachment
from app.views_common import not_found_on_denied
from app.web import db, parse_id
from casefiles.archive_models import Export, ExportStatus
from casefiles.errors import NotFound
from casefiles.export.format import PACKAGINGS
from casefiles.export.jobs import export_of, package_stream, request_export
from directory.actors import AccessDenied


@bp.route("/cases/<case_id>/exports", methods=["POST"])
@login_required
@not_found_on_denied
def export_create(case_id: str) -> Response | str | tuple[str, int]:
    me, cid = archivist(), parse_id(case_id)
    packaging = request.form.get("packaging", "")
    if packaging not in PACKAGINGS:
        errors = {"packaging": _("Choose BagIt or eCH-0160.")}
        return render_case(cid, 422, errors=errors)
    try:
        export = request_export(db(), me, cid, packaging)
    except REFUSALS as exc:
        discard()
        return render_case(cid, refusal_status(exc), errors={"": message_of(exc)})
    flash(_("The export is being made. This page shows its progress."), "success")
    return redirect(url_for("archive.export_view", export_id=export.id))


def _export(export_id: str) -> Export:
    try:
        return export_of(db(), archivist(), parse_id(export_id))
    except (NotFound, AccessDenied):
        abort(404)


@bp.route("/exports/<export_id>.json")
@login_required
@not_found_on_denied
def export_status(export_id: str) -> Response:
    return jsonify(_state(_export(export_id)))


def _state(export: Export) -> dict[str, Any]:
    done = export.status == ExportStatus.DONE
    return {
        "status": export.status.value,
        "label": str(EXPORT_STATUS[export.status]),
        "done_items": export.done_items,
        "total_items": export.total_items,
        "text": _progress_text(export),
        "finished": export.status in (ExportStatus.DONE, ExportStatus.FAILED),
        "download": url_for("archive.export_download", export_id=export.id) if done else None,
    }


def _progress_text(export: Export) -> str:
    if export.total_items:
        return _(
            "%(done)d of %(total)d items packed",
            done=export.done_items,
            total=export.total_items,
        )
    return str(EXPORT_STATUS[export.status])


@bp.route("/exports/<export_id>")
@login_required
@not_found_on_denied
def export_view(export_id: str) -> str:
    export = _export(export_id)
    return render_template("archive/export.html", export=export, state=_state(export))


@bp.route("/exports/<export_id>/download")
@login_required
@not_found_on_denied
def export_download(export_id: str) -> Response:
    me, eid = archivist(), parse_id(export_id)
    try:
        chunks, filename, size = package_stream(db(), me, eid)
    except (NotFound, AccessDenied):
        abort(404)
    except REFUSALS as exc:
        flash(message_of(exc), "error")
        return redirect(url_for("archive.export_view", export_id=eid))
    return attachment(chunks, filename=filename, media_type="application/zip", size=size)
