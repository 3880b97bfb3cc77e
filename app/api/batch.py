"""Many deliveries in one request, for mass mailings: documents inline or referenced (see
`batch_files`), a result per item.

One transaction for the whole request. Every item is checked first (a bad one gets its problem,
the others go on), the idempotency keys of the good ones are claimed in one statement, and the
mailing goes to the bulk domain operation (`mailbox.bulk.deliver_many`), which writes nothing
for an item it refuses. An item that repeats a key of an earlier item of the same batch runs
last, on its own, and so replays the earlier one's answer as any retry would.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from flask import request
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from app.api import bp
from app.api import idempotency as idem
from app.api.auth import current_actor
from app.api.batch_files import Documents, add_to_digest, file_errors
from app.api.intake import checked_input, read_json_body, submit, submit_many
from app.api.metadata import Metadata, parse_metadata
from app.api.problems import ApiProblem, ValidationFailed, from_invalid_input, not_found
from app.api.representations import delivery_summary, iso, links
from app.forms import intake_limits
from app.web import db
from casefiles.documents import CheckedFile, Intake
from directory.actors import AccessDenied, Actor
from directory.errors import InvalidInput, NotFound
from mailbox import idempotency as key_store
from mailbox.bulk import Delivered, ItemResult
from mailbox.models import IdempotencyRecord
from signing.canonical import canonical_json_ascii
from storage.blobs import savepoint

log = logging.getLogger(__name__)

MAX_ITEMS = 1000
# 1000 letters of ~30 KB each are ~40 MB as base64; leave room for larger documents.
MAX_BYTES = 128 * 1024 * 1024
MAX_REF = 200
ITEM_MEMBERS = frozenset({"ref", "metadata", "files", "idempotency_key"})


@dataclass
class Item:
    ref: str
    metadata: Any
    files: list[dict[str, str]]
    key: str | None


# An item's metadata and files as checked before the transaction, or why they are refused.
_Checked = tuple[Metadata, list[CheckedFile]] | ApiProblem


@dataclass
class _Work:
    """A good item on its way through the mailing."""

    index: int
    item: Item
    digest: str
    meta: Metadata | None = None
    files: list[CheckedFile] = field(default_factory=list)
    claim: uuid.UUID | None = None  # the idempotency record claimed for its key


@bp.post("/deliveries/batch", endpoint="batch")
def batch() -> Response:
    data = read_json_body(MAX_BYTES, required=True)
    digest = idem.Digest(idem.request_label())
    digest.add(request.get_data(cache=True))
    return run_batch(data, digest)


def run_batch(data: Any, digest: idem.Digest) -> Response:
    """Check every item's documents, then deliver the good items in the request's transaction.

    The checks (intake policy, seals) parse every PDF; they run before `idem.respond` and
    `_deliver_all` begin the transaction, so a large mailing does not hold the database lock
    (SQLite's, for everyone) while it parses, however often it references a large document.
    """
    items = _items(data)
    _check_shapes(items)
    documents = Documents(current_actor())
    documents.read_all(items)  # in a short transaction of its own
    with contextlib.ExitStack() as spools:
        with Intake(intake_limits()) as intake:
            checked = [_checked(spools, intake, documents, raw) for raw in items]
        return idem.respond(digest, lambda: idem.Answer({"results": _deliver_all(items, checked)}))


def _deliver_all(items: list[Any], checked: list[_Checked]) -> list[dict[str, Any]]:
    """Deliver the items whose documents passed their checks; a result for each item."""
    session, actor = db(), current_actor()
    known = _known_keys(session, actor, items)
    results: list[dict[str, Any]] = [{}] * len(items)
    work: list[_Work] = []
    later: list[int] = []
    keys: set[str] = set()
    for index, raw in enumerate(items):
        try:
            item = _parse_item(raw)
            digest = _item_digest(item)
            if item.key is not None and item.key in known:
                results[index] = _replayed(item.ref, known[item.key], digest)
                continue
        except ApiProblem as exc:
            results[index] = _failed(_ref(raw), exc)
            continue
        if item.key is not None and item.key in keys:
            later.append(index)
            continue
        keys.add(item.key) if item.key is not None else None
        work.append(_Work(index, item, digest))
    work = [w for w in work if _take_checked(w, checked[w.index], results)]
    work = _claim(session, actor, work, results)
    outcomes = submit_many(session, actor, [(w.meta, w.files) for w in work])  # type: ignore[misc]
    _finish(session, work, outcomes, results, known if later else None)
    for index in later:
        results[index] = _run_item(session, actor, checked[index], items[index], known)
    return results


def _ref(raw: Any) -> str | None:
    return raw.get("ref") if isinstance(raw, dict) else None


def _items(data: Any) -> list[Any]:
    if not isinstance(data, dict):
        raise ValidationFailed([("body", "must be a JSON object with the member 'items'")])
    errors = [(name, "is not a known member") for name in sorted(set(data) - {"items"})]
    items = data.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        errors.append(("items", f"must be a list of 1 to {MAX_ITEMS} items"))
    if errors or not isinstance(items, list):
        raise ValidationFailed(errors)
    return items


def _check_shapes(items: list[Any]) -> None:
    """Refuse the whole request if an item breaks the document (types, members, lengths): that
    is a fault of the client's program, not of one letter. What the document cannot say (an
    unreachable recipient, a file that is no PDF, an unknown document) fails its item alone."""
    errors: list[tuple[str, str]] = []
    for index, raw in enumerate(items):
        at = f"items[{index}]"
        try:
            item = _parse_item(raw)
            parse_metadata(item.metadata, prefix=f"{at}.metadata.")
        except ValidationFailed as exc:
            for error in exc.errors or []:
                field = error["field"]
                if field.startswith(at):
                    errors.append((field, error["detail"]))
                else:
                    errors.append((at if field == "item" else f"{at}.{field}", error["detail"]))
    if errors:
        raise ValidationFailed(errors)


def _known_keys(session: Session, actor: Actor, items: list[Any]) -> dict[str, IdempotencyRecord]:
    """The stored answers for the items' keys, in one query rather than one per item."""
    wanted = {i.get("idempotency_key") for i in items if isinstance(i, dict)}
    assert actor.client_id is not None
    return key_store.known(session, actor.client_id, {k for k in wanted if isinstance(k, str)})


def _checked(
    spools: contextlib.ExitStack, intake: Intake, documents: Documents, raw: Any
) -> _Checked:
    """Decode and check an item's metadata and files (kept open in `spools`), sealed if asked;
    before the transaction."""
    try:
        item = _parse_item(raw)
        uploads = documents.uploads(item.files)
        return spools.enter_context(checked_input(item.metadata, uploads, intake=intake))
    except ApiProblem as exc:
        return exc


def _take_checked(work: _Work, checked: _Checked, results: list[dict[str, Any]]) -> bool:
    """The item's checked metadata and files into `work`; False (and its problem) if bad."""
    if isinstance(checked, ApiProblem):
        results[work.index] = _failed(work.item.ref, checked)
        return False
    work.meta, work.files = checked
    return True


def _claim(
    session: Session, actor: Actor, work: list[_Work], results: list[dict[str, Any]]
) -> list[_Work]:
    """Claim the items' keys at once; an item whose key another request holds answers with
    that request's result (or 409) instead of running."""
    assert actor.client_id is not None
    keyed = [w for w in work if w.item.key is not None]
    pairs = [(w.item.key, w.digest) for w in keyed if w.item.key is not None]
    claims = key_store.claim_keys(session, actor.client_id, pairs)
    for w, claim in zip(keyed, claims, strict=True):
        w.claim = claim
        if claim is None and w.item.key is not None:
            try:
                winner = idem.winner(session, actor.client_id, w.item.key, w.digest)
                results[w.index] = _replayed(w.item.ref, winner, w.digest)
            except ApiProblem as exc:
                results[w.index] = _failed(w.item.ref, exc)
    return [w for w in work if w.item.key is None or w.claim is not None]


def _finish(
    session: Session,
    work: list[_Work],
    outcomes: list[ItemResult],
    results: list[dict[str, Any]],
    known: dict[str, IdempotencyRecord] | None,
) -> None:
    """Each item's result; answers filed under the claimed keys, failed items' claims released
    (and, when later items repeat a key, the answers added to `known` for them)."""
    answers: list[tuple[uuid.UUID, dict[str, Any]]] = []
    released: list[uuid.UUID] = []
    for w, outcome in zip(work, outcomes, strict=True):
        if outcome.delivered is None:
            results[w.index] = _failed(w.item.ref, _problem(outcome.error))
            if w.claim is not None:
                released.append(w.claim)
            continue
        body = _summary(outcome.delivered)
        results[w.index] = _created(w.item.ref, 201, body)
        if w.claim is not None and w.item.key is not None:
            answers.append((w.claim, body))
            if known is not None:
                known[w.item.key] = IdempotencyRecord(
                    key=w.item.key, request_hash=w.digest, status_code=201, response=body
                )
    key_store.file_answers(session, answers)
    key_store.release(session, released)


def _problem(error: Exception | None) -> ApiProblem:
    if isinstance(error, InvalidInput):
        return from_invalid_input(error)
    return not_found()


def _summary(delivered: Delivered) -> dict[str, Any]:
    """The answer to a new delivery, as `delivery_summary` gives it for a single one."""
    delivery_id, case_id = delivered.delivery_id, delivered.case_id
    return {
        "delivery_id": str(delivery_id),
        "case_id": str(case_id),
        "case_reference": delivered.case_reference,
        "status": delivered.status.value,
        "available_at": iso(delivered.available_at),
        "links": links(delivery_id, case_id),
    }


def _run_item(
    session: Session,
    actor: Actor,
    checked: _Checked,
    raw: Any,
    known: dict[str, IdempotencyRecord],
) -> dict[str, Any]:
    """One item on its own, as a retry of an earlier item with the same key runs."""
    ref = _ref(raw)
    client_id = actor.client_id
    assert client_id is not None
    try:
        item = _parse_item(raw)
        digest = _item_digest(item)
        if item.key is not None and item.key in known:
            return _replayed(ref, known[item.key], digest)
        with savepoint(session):
            claimed = None
            if item.key is not None:
                claimed = key_store.claim(session, client_id, item.key, digest)
                if claimed is None:  # a concurrent request holds the key
                    return _replayed(ref, idem.winner(session, client_id, item.key, digest), digest)
            if isinstance(checked, ApiProblem):
                raise checked
            meta, files = checked
            delivery = submit(session, actor, meta, files)
            body = delivery_summary(delivery)
            if claimed is not None:
                key_store.complete(claimed, 201, body)
                known[claimed.key] = claimed
        return _created(ref, 201, body)
    except ApiProblem as exc:
        return _failed(ref, exc)
    except InvalidInput as exc:
        return _failed(ref, from_invalid_input(exc))
    except (NotFound, AccessDenied):
        return _failed(ref, not_found())


def _parse_item(raw: Any) -> Item:
    if not isinstance(raw, dict):
        raise ValidationFailed([("item", "must be a JSON object")])
    errors = [(name, "is not a known member") for name in sorted(set(raw) - ITEM_MEMBERS)]
    ref = raw.get("ref")
    if not isinstance(ref, str) or not 1 <= len(ref) <= MAX_REF:
        errors.append(("ref", f"is required: a string of 1 to {MAX_REF} characters"))
    if "metadata" not in raw:
        errors.append(("metadata", "is required"))
    files = raw.get("files")
    if not isinstance(files, list) or not files:
        errors.append(("files", "must be a list of at least one document"))
        files = []
    errors += file_errors(files)
    key = raw.get("idempotency_key")
    if key is not None:
        try:
            idem.check_key(key, "idempotency_key")
        except ApiProblem:
            errors.append(("idempotency_key", "must be 1 to 200 printable ASCII characters"))
    if errors:
        raise ValidationFailed(errors)
    return Item(ref=ref, metadata=raw["metadata"], files=files, key=key)  # type: ignore[arg-type]


def _item_digest(item: Item) -> str:
    digest = idem.Digest("batch item")
    # Not canonical_json: the metadata is not checked yet (it may hold a NaN), and digests of
    # earlier items are stored with their keys; the ASCII variant keeps both working.
    digest.add(canonical_json_ascii(item.metadata))
    add_to_digest(digest, item.files)
    return digest.hexdigest()


def _replayed(ref: str | None, record: IdempotencyRecord, digest: str) -> dict[str, Any]:
    idem.check_same_request(record, digest)
    return _created(ref, record.status_code, record.response) | {"replayed": True}


def _created(ref: str | None, status: int, body: dict[str, Any]) -> dict[str, Any]:
    # `status` of a result is its HTTP status; the delivery's own is `delivery_status`.
    result = {k: v for k, v in body.items() if k != "status"}
    return {"ref": ref, "status": status, **result, "delivery_status": body.get("status")}


def _failed(ref: str | None, problem: ApiProblem) -> dict[str, Any]:
    return {"ref": ref, "status": problem.status, "problem": problem.as_json()}
