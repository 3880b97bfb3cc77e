"""A key per case file: every object of a case file belongs to the key group named by the case
file's id (storage.group_keys), so destroying that key destroys the case file's objects in the
store and in every backup of their rows (casefiles.destruction).

Objects stored before migration 0013 had their data keys wrapped by the KEK itself;
`portal storage rewrap` (run by `portal db upgrade`) moves them under their case file's key
with `case_blobs_to_rewrap`, without rewriting a single object.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from casefiles.archive_models import Export
from casefiles.models import Document, DocumentVersion
from storage.blobs import Blob
from storage.group_keys import rewrap_ungrouped, unwrap_grouped

Transactions = Callable[[], AbstractContextManager[Session]]  # e.g. Runtime.transaction


def case_blobs_to_rewrap(session: Session, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(blob id, case file id) of objects of case files still wrapped by the KEK; at most
    `limit`. Document versions and export packages are a case file's objects."""
    versions = (
        select(DocumentVersion.blob_id.label("blob_id"), Document.case_id.label("case_id"))
        .join(Document, Document.id == DocumentVersion.document_id)
        .join(Blob, Blob.id == DocumentVersion.blob_id)
        .where(Blob.group_id.is_(None))
    )
    exports = (
        select(Export.blob_id.label("blob_id"), Export.case_id.label("case_id"))
        .join(Blob, Blob.id == Export.blob_id)
        .where(Blob.group_id.is_(None))
    )
    both = union_all(versions, exports).subquery()
    stmt = select(both.c.blob_id, both.c.case_id).order_by(both.c.blob_id).limit(limit)
    # A blob is one case file's (a version belongs to one document); the first pair wins.
    pairs = {blob_id: case_id for blob_id, case_id in session.execute(stmt)}
    return list(pairs.items())


def rewrap_all(transaction: Transactions, batch: int = 500) -> int:
    """Rewrap every case file's objects still wrapped by the KEK, a transaction per batch
    (`transaction()` gives a context manager yielding a session); how many were rewrapped."""
    return _loop(transaction, lambda s: rewrap_ungrouped(s, case_blobs_to_rewrap, batch))


def unwrap_all(transaction: Transactions, batch: int = 500) -> int:
    """Wrap every grouped object's data key by the KEK again (before downgrading past 0013)."""
    return _loop(transaction, lambda s: unwrap_grouped(s, batch))


def _loop(transaction: Transactions, step: Callable[[Session], int]) -> int:
    total = 0
    while True:
        with transaction() as session:
            done = step(session)
        total += done
        if not done:
            return total
