"""The archivists' workbench (/archive): closed case files, appraisal with four eyes, exports
and their hand-over, destruction. The views parse and render; casefiles.appraisal,
casefiles.export.jobs and casefiles.destruction decide."""

from flask import Blueprint

bp = Blueprint("archive", __name__)

from app.archive import exports, views  # noqa: E402,F401  (routes attach to bp)
