"""Request bodies as they arrive: the multipart delivery (metadata + PDF parts) and small JSON
bodies, read once, hashed for idempotency and turned into checked input for the domain."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, cast

from flask import request
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from app.api.auth import current_actor
from app.api.idempotency import Digest, request_label
from app.api.metadata import DELIVERY_MEMBERS, Metadata, parse_json, parse_metadata
from app.api.problems import ApiProblem, ValidationFailed
from app.forms import intake_limits, prepared_for_delivery
from casefiles.documents import CheckedFile, Intake, Upload
from directory.actors import Actor
from directory.errors import InvalidInput
from directory.operations import party_number
from mailbox import reachability
from mailbox.bulk import ItemResult, Letter, deliver_many
from mailbox.models import Delivery
from mailbox.operations import deliver
from mailbox.replies import answer_in_case

PARTS = ("metadata", "files")
CHUNK = 64 * 1024


@dataclass
class Submission:
    """A multipart delivery as received: the raw metadata, the file parts and their digest."""

    metadata: bytes
    files: list[FileStorage]
    digest: Digest


def read_multipart() -> Submission:
    """The parts of a multipart delivery; the digest covers what the parts carry, not the
    boundary, so a client that retries with a fresh encoding of the same request matches."""
    if request.mimetype != "multipart/form-data":
        raise ApiProblem(
            415,
            "Unsupported Media Type",
            "Send a delivery as multipart/form-data with the parts 'metadata' and 'files'.",
        )
    form, uploads = request.form, request.files
    # Werkzeug files a part without a name under None (typed str, which it is not).
    names: set[str | None] = {*form, *uploads}
    named = {name for name in names if name}
    errors = [(name, "is not a known part") for name in sorted(named - set(PARTS))]
    if named != names:
        # A part without a name has no member to blame: "parts" stands for the body's parts.
        errors.append(("parts", "every part needs a name: 'metadata' or 'files'"))
    metadata = [v.encode() for v in form.getlist("metadata")]
    metadata += [f.stream.read() for f in uploads.getlist("metadata")]
    if len(metadata) != 1:
        errors.append(("metadata", "send exactly one part 'metadata' (JSON)"))
    if form.getlist("files"):
        errors.append(("files", "each part 'files' must be a file with a filename"))
    if errors:
        raise ValidationFailed(errors)
    digest = Digest(request_label())
    digest.add(metadata[0])
    files = uploads.getlist("files")
    for part in files:
        digest.add((part.filename or "").encode())
        digest.add_stream(_chunks(part.stream))
        part.stream.seek(0)
    return Submission(metadata[0], files, digest)


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


def read_json_body(max_bytes: int, *, required: bool) -> Any:
    """A small JSON request body (None when empty and not required); 400 when it is no JSON."""
    request.max_content_length = max_bytes
    raw = request.get_data(cache=True)
    if not raw and not required:
        return None
    if request.mimetype != "application/json":
        raise ApiProblem(415, "Unsupported Media Type", "Send the body as application/json.")
    try:
        return parse_json(raw, "body")
    except ValidationFailed:
        raise ApiProblem(
            400, "Bad Request", "The body is not valid JSON.", code="bad_json"
        ) from None


@contextlib.contextmanager
def checked_input(
    metadata: Any,
    uploads: Sequence[tuple[str, IO[bytes]]],
    *,
    allowed: frozenset[str] = DELIVERY_MEMBERS,
    recipient_required: bool = True,
    intake: Intake | None = None,
) -> Iterator[tuple[Metadata, list[CheckedFile]]]:
    """Metadata (raw JSON or parsed) and files checked together, every fault named at once;
    the files are checked by the intake policy (in `intake`, if given, for many items) and
    sealed or validated, so call it before the transaction; their spools are closed afterwards."""
    errors: list[tuple[str, str]] = []
    meta: Metadata | None = None
    try:
        if isinstance(metadata, bytes):
            metadata = parse_json(metadata)
        meta = parse_metadata(metadata, allowed=allowed, recipient_required=recipient_required)
    except ValidationFailed as exc:
        errors += [(e["field"], e["detail"]) for e in exc.errors or []]
    files: list[CheckedFile] = []
    try:
        if not uploads:
            errors.append(("files", "attach at least one PDF document"))
        with contextlib.ExitStack() as own:
            checker = intake or own.enter_context(Intake(intake_limits()))
            for n, (filename, stream) in enumerate(uploads):
                try:
                    # Werkzeug's parts and BytesIO are binary streams; Upload's type is narrower.
                    upload = Upload(filename=filename, stream=cast(BinaryIO, stream))
                    files.append(checker.check(upload, field=f"files[{n}]"))
                except InvalidInput as exc:
                    errors.append((exc.field, str(exc)))
        prepared: list[CheckedFile] = []
        if not errors and meta is not None:
            try:
                prepared = prepared_for_delivery(current_actor(), files, seal=meta.options.seal)
            except InvalidInput as exc:
                errors.append((exc.field, str(exc)))
        if errors:
            raise ValidationFailed(errors)
        assert meta is not None
        yield meta, prepared
    finally:
        for checked in files:
            checked.close()


def submit(
    session: Session,
    actor: Actor,
    meta: Metadata,
    files: Sequence[CheckedFile],
    case_id: uuid.UUID | None = None,
) -> Delivery:
    """Deliver checked input: a new delivery, or an answer within a case file."""
    recipient_id = None
    if meta.recipient is not None:
        number = party_number(ahvn13=meta.recipient.ahvn13, uid=meta.recipient.uid)
        recipient_id = reachability.recipient(session, actor, number).id
    if case_id is not None:
        return answer_in_case(
            session,
            actor,
            case_id,
            recipient_id=recipient_id,
            kind=meta.kind,
            subject=meta.subject,
            files=files,
            body=meta.body,
            options=meta.options,
        )
    return deliver(
        session,
        actor,
        recipient_id=recipient_id,
        kind=meta.kind,
        subject=meta.subject,
        files=files,
        body=meta.body,
        options=meta.options,
    )


def submit_many(
    session: Session, actor: Actor, inputs: Sequence[tuple[Metadata, Sequence[CheckedFile]]]
) -> list[ItemResult]:
    """Deliver many checked inputs as one mailing (recipients looked up in one query)."""
    named = [
        (m.recipient.ahvn13, m.recipient.uid) if m.recipient else (None, None) for m, _ in inputs
    ]
    found = reachability.recipients(session, actor, reachability.numbers_of(named))
    results: list[ItemResult | None] = [None] * len(inputs)
    letters: list[tuple[int, Letter]] = []
    for i, ((meta, files), party) in enumerate(zip(inputs, found, strict=True)):
        if isinstance(party, InvalidInput):
            results[i] = ItemResult(error=party)
        else:
            letter = Letter(party.id, meta.kind, meta.subject, files, meta.body, meta.options)
            letters.append((i, letter))
    delivered = deliver_many(session, actor, [letter for _, letter in letters])
    for (i, _), result in zip(letters, delivered, strict=True):
        results[i] = result
    return [r if r is not None else ItemResult() for r in results]
