"""The floor of a mass delivery: its bytes and rows written raw, with nothing of the portal."""

from __future__ import annotations

import io
import time
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from storage.objects import FolderStore

# Every table a delivery writes to (the residents, the authority and its key exist before).
BULK_TABLES = (
    "blobs",
    "case_files",
    "case_parties",
    "documents",
    "document_versions",
    "messages",
    "message_documents",
    "deliveries",
    "journal_entries",
    "idempotency_records",
    "webhook_events",
)
_FIXED = 24 + 16 + 16 + 4 + 8  # tuple header, two uuids, an int, a timestamp


def write_files(folder: Path, contents: list[bytes]) -> float:
    """Seconds to store `contents` with FolderStore.put, one durable put after the other."""
    store = FolderStore(folder)
    keys = [f"{n[:3]}/{n}" for n in (uuid.uuid4().hex for _ in contents)]  # as EncryptedObjects
    started = time.perf_counter()
    for key, data in zip(keys, contents, strict=True):
        store.put(key, io.BytesIO(data))
    return time.perf_counter() - started


def average_width(engine: Engine, tables: tuple[str, ...]) -> int:
    """The average size in bytes of the rows in `tables` (pg_column_size of whole rows)."""
    size = count = 0
    with engine.connect() as conn:
        for table in tables:
            stmt = f"SELECT coalesce(sum(pg_column_size(t.*)), 0), count(*) FROM {table} t"  # noqa: S608
            table_size, table_count = conn.execute(text(stmt)).one()
            size += int(table_size)
            count += int(table_count)
    return size // max(count, 1)


def copy_rows(engine: Engine, count: int, width: int) -> float:
    """Seconds to COPY `count` rows of about `width` bytes into a scratch table, committed."""
    filler = "x" * max(width - _FIXED - 10, 1)
    lines = [
        f"{uuid.uuid4()}\t{uuid.uuid4()}\t{i}\t2026-11-28 12:00:00+00\tbench\t{filler}\n"
        for i in range(count)
    ]
    data = "".join(lines).encode()
    del lines
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        with driver.cursor() as cur:
            cur.execute(
                "CREATE TABLE bench_floor (id uuid PRIMARY KEY, ref uuid, seq int,"
                " at timestamptz, label text, payload text)"
            )
        driver.commit()
        started = time.perf_counter()
        with driver.cursor() as cur, cur.copy("COPY bench_floor FROM STDIN") as copy:
            for start in range(0, len(data), 1 << 20):
                copy.write(data[start : start + (1 << 20)])
        driver.commit()
        seconds = time.perf_counter() - started
        with driver.cursor() as cur:
            cur.execute("DROP TABLE bench_floor")
        driver.commit()
    finally:
        raw.close()
    return seconds
