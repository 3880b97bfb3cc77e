"""Steps for specialist applications: the authority's queue, one step, claiming, outcomes.

The key's authority only: another authority's step answers 404, like everything else here.
An outcome is one JSON document; a decision's PDFs come inline as base64 (as in batches)."""

from __future__ import annotations

import binascii
import contextlib
import decimal
import io
import re
import uuid
from typing import Any

import pybase64
from flask import request
from werkzeug.wrappers import Response as BaseResponse

from app.api import bp
from app.api.auth import current_actor
from app.api.idempotency import Answer, Digest, request_label, respond
from app.api.intake import read_json_body
from app.api.problems import ValidationFailed
from app.api.representations import iso
from app.web import db
from casefiles.documents import CheckedFile, Upload, check_upload
from casefiles.errors import InvalidInput
from catalogue import outcomes, steps
from catalogue.models import Step, StepStatus

MAX_OUTCOME_BYTES = 12 * 1024 * 1024  # up to three decision PDFs of ~3 MB as base64
MAX_DOCUMENTS = 3
SLUG = "^[a-z][a-z0-9-]{1,62}$"
_MEMBERS = {
    "done": {"note"},
    "decided": {"subject", "body", "appeal_days", "fee", "documents"},
    "needs_information": {"question", "days"},
    "forwarded": {"to_authority", "reason"},
    "rejected": {"reason"},
}
_QUERY = ("status", "service", "limit", "offset")


def step_body(step: Step) -> dict[str, Any]:
    """A step as the API shows it (the declaration's title in German, the portal's language)."""
    case = step.case
    title = step.step_id
    # A step the declaration no longer names keeps its id as title.
    with contextlib.suppress(LookupError, StopIteration):
        title = steps.service_of(db(), case).step(step.step_id).title.de
    return {
        "id": str(step.id),
        "step": step.step_id,
        "title": title,
        "status": step.status.value,
        "case": {
            "id": str(case.id),
            "reference": case.reference,
            "service": case.case_type,
            "version": case.case_type_version,
        },
        "authority": {
            "id": str(step.authority_id),
            "name": step.authority.name if step.authority else "",
        },  # fmt: skip
        "claimed": step.status == StepStatus.CLAIMED,
        "opened_at": iso(step.opened_at),
        "due_at": iso(step.due_at),
        "finished_at": iso(step.finished_at),
        "outcome": step.outcome,
        "note": step.note,
    }


def _query() -> tuple[StepStatus | None, str | None, int, int]:
    args = request.args
    problems = [(n, "is not a known query parameter") for n in sorted(args) if n not in _QUERY]
    status = None
    if "status" in args:
        try:
            status = StepStatus(args["status"])
        except ValueError:
            problems.append(("status", f"must be one of {', '.join(s.value for s in StepStatus)}"))
    service = args.get("service")
    if service is not None and not re.fullmatch(SLUG, service):
        problems.append(("service", "must be a service id such as umzug-melden"))
    numbers = {}
    for name, default, top in (("limit", 50, 500), ("offset", 0, 1_000_000)):
        text = args.get(name, str(default))
        if not re.fullmatch(r"[0-9]{1,7}", text) or not (name == "offset" or int(text) >= 1) \
                or int(text) > top:  # fmt: skip
            problems.append((name, f"must be a whole number up to {top}"))
        else:
            numbers[name] = int(text)
    if problems:
        raise ValidationFailed(problems)
    return status, service, numbers["limit"], numbers["offset"]


@bp.get("/steps", endpoint="list_steps")
def list_steps() -> dict[str, Any]:
    status, service, limit, offset = _query()
    found = steps.queue(db(), current_actor(), status=status, service=service, limit=limit,
                        offset=offset)  # fmt: skip
    return {"items": [step_body(s) for s in found], "limit": limit, "offset": offset}


@bp.get("/steps/<uuid:step_id>", endpoint="get_step")
def get_step(step_id: uuid.UUID) -> dict[str, Any]:
    return step_body(steps.get_step(db(), current_actor(), step_id))


@bp.post("/steps/<uuid:step_id>/claim", endpoint="claim_step")
def claim_step(step_id: uuid.UUID) -> BaseResponse:
    digest = Digest(request_label())

    def work() -> Answer:
        return Answer(step_body(steps.claim(db(), current_actor(), step_id)))

    return respond(digest, work)


@bp.post("/steps/<uuid:step_id>/outcome", endpoint="step_outcome")
def step_outcome(step_id: uuid.UUID) -> BaseResponse:
    # 404 for a step the key's authority does not have, whatever the body.
    steps.get_step(db(), current_actor(), step_id)
    data = read_json_body(MAX_OUTCOME_BYTES, required=True)
    digest = Digest(request_label())
    digest.add(request.get_data(cache=True))
    outcome = _outcome(data)  # files checked by the intake policy before the transaction
    try:

        def work() -> Answer:
            return Answer(step_body(steps.record_outcome(db(), current_actor(), step_id, outcome)))

        return respond(digest, work)
    finally:
        if isinstance(outcome, outcomes.Decided):
            for f in outcome.uploads:
                if isinstance(f, CheckedFile):
                    f.close()


def _text(data: dict[str, Any], name: str, errors: list[tuple[str, str]], *,
          required: bool = True) -> str:  # fmt: skip
    value = data.get(name, "" if not required else None)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or "\x00" in value:
        errors.append((name, "is required, a text" if required else "must be a text"))
        return ""
    return value


def _days(data: dict[str, Any], name: str, errors: list[tuple[str, str]]) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 365:
        errors.append((name, "must be a whole number of days from 1 to 365"))
        return None
    return value


def _outcome(data: Any) -> outcomes.Outcome:
    """The outcome the body describes, every fault named at once (422)."""
    if not isinstance(data, dict):
        raise ValidationFailed([("body", "must be a JSON object")])
    kind = data.get("outcome")
    if not isinstance(kind, str) or kind not in _MEMBERS:
        raise ValidationFailed([("outcome", f"must be one of {', '.join(_MEMBERS)}")])
    errors = [(n, "is not a member of this outcome") for n in sorted(set(data) - _MEMBERS[kind]
                                                                     - {"outcome"})]  # fmt: skip
    result: outcomes.Outcome
    if kind == "done":
        result = outcomes.Done(_text(data, "note", errors, required=False))
    elif kind == "decided":
        fee = None
        if data.get("fee") is not None:
            raw = data["fee"]
            if not isinstance(raw, str) or not re.fullmatch(r"[0-9]{1,5}(\.[0-9]{1,2})?", raw):
                errors.append(("fee", 'must be an amount in francs as text, such as "20.00"'))
            elif decimal.Decimal(raw) > 0:  # 0: no fee
                fee = decimal.Decimal(raw)
        documents = _documents(data.get("documents"), errors)
        result = outcomes.Decided(
            _text(data, "subject", errors), _text(data, "body", errors, required=False),
            documents, _days(data, "appeal_days", errors), fee,
        )  # fmt: skip
    elif kind == "needs_information":
        result = outcomes.NeedsInformation(_text(data, "question", errors),
                                           _days(data, "days", errors))  # fmt: skip
    elif kind == "forwarded":
        result = outcomes.Forwarded(_text(data, "to_authority", errors),
                                    _text(data, "reason", errors))  # fmt: skip
    else:
        result = outcomes.Rejected(_text(data, "reason", errors))
    if errors:
        if isinstance(result, outcomes.Decided):
            for f in result.uploads:
                if isinstance(f, CheckedFile):
                    f.close()
        raise ValidationFailed(errors)
    return result


def _documents(value: Any, errors: list[tuple[str, str]]) -> list[Upload | CheckedFile]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_DOCUMENTS:
        errors.append(("documents", f"must be a list of at most {MAX_DOCUMENTS} documents"))
        return []
    files: list[Upload | CheckedFile] = []
    for n, item in enumerate(value):
        where = f"documents[{n}]"
        if (
            not isinstance(item, dict)
            or set(item) != {"filename", "content_base64"}
            or not isinstance(item["filename"], str)
            or not isinstance(item["content_base64"], str)
        ):
            errors.append((where, 'must be {"filename": text, "content_base64": text}'))
            continue
        try:
            data = pybase64.b64decode(item["content_base64"], validate=True)
        except (binascii.Error, ValueError):
            errors.append((f"{where}.content_base64", "is not valid base64"))
            continue
        try:
            files.append(check_upload(Upload(item["filename"][:200], io.BytesIO(data)),
                                      field=f"{where}.content_base64"))  # fmt: skip
        except InvalidInput as exc:
            errors.append((exc.field, str(exc)))
    return files
