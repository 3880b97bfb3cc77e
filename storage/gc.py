"""Objects that no row points at, found and removed.

A transaction that stores documents and then rolls back removes them again (`Transaction`), but a
process killed between storing an object and committing its row cannot: the object stays, with
nobody able to read it (its data key was only ever in the lost row). `collect_garbage` lists the
store, asks the database in batches which keys it knows, and deletes the rest once they are older
than a grace period, so that the objects of transactions still running are never touched.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.blobs import Blob
from storage.db import utcnow
from storage.objects import ObjectStore

log = logging.getLogger(__name__)

BATCH = 1000
DEFAULT_GRACE = dt.timedelta(hours=24)


@dataclass
class GarbageReport:
    scanned: int = 0
    too_young: int = 0  # orphans within the grace period: maybe a transaction still running
    orphans: list[str] = field(default_factory=list)
    deleted: int = 0
    temporary_files: int = 0


def collect_garbage(
    sessions: Callable[[], Session],
    store: ObjectStore,
    *,
    grace: dt.timedelta = DEFAULT_GRACE,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> GarbageReport:
    """Delete the objects in `store` that no blob row names and that are older than `grace`
    (with `dry_run`, only report them)."""
    if grace < dt.timedelta(0):
        raise ValueError("the grace period cannot be negative")
    cutoff = (now or utcnow()) - grace
    report = GarbageReport()
    for batch in _batches(store.iter_objects()):
        report.scanned += len(batch)
        known = _known_keys(sessions, store.backend, [key for key, _ in batch])
        for key, modified in batch:
            if key in known:
                continue
            if modified >= cutoff:
                report.too_young += 1
                continue
            report.orphans.append(key)
            if not dry_run:
                store.delete(key)
                report.deleted += 1
    if not dry_run:
        report.temporary_files = store.remove_stale_temps(cutoff)
    if report.deleted or report.temporary_files:
        log.info(
            "removed %d orphaned objects and %d temporary files from the %s store",
            report.deleted,
            report.temporary_files,
            store.backend,
        )
    return report


def _batches(
    objects: Iterator[tuple[str, dt.datetime]],
) -> Iterator[list[tuple[str, dt.datetime]]]:
    while batch := list(itertools.islice(objects, BATCH)):
        yield batch


def _known_keys(sessions: Callable[[], Session], backend: str, keys: list[str]) -> set[str]:
    # A short read transaction a batch: listing a large bucket takes long, and holding one
    # transaction open for all of it would keep PostgreSQL from vacuuming meanwhile.
    with sessions() as session:
        stmt = select(Blob.key).where(Blob.backend == backend, Blob.key.in_(keys))
        return set(session.scalars(stmt))
