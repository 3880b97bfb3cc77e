"""Reading the rows of many records at once, as `portal verify` does (issue #8, Speed).

Rows read once for a check are read as Core rows, not ORM objects: building and tracking
thousands of objects cost more than the checks themselves.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection, Iterator
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    Table,
    Uuid,
    any_,
    bindparam,
    func,
    type_coerce,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.sqltypes import NullType


class IdBatch(tuple[uuid.UUID, ...]):
    """The ids of one batch of records, which a dozen queries select by (`among`): their
    array's text is made once, not for every query."""

    @functools.cached_property
    def array_text(self) -> str:
        return _array_text(self)


def _array_text(ids: Collection[uuid.UUID] | Collection[str]) -> str:
    # UUID objects unhyphenated (the server reads them so too), or UUIDs as text.
    return "{" + ",".join([i.hex if isinstance(i, uuid.UUID) else str(i) for i in ids]) + "}"


def among(
    session: Session, column: Any, ids: Collection[uuid.UUID] | Collection[str]
) -> ColumnElement[bool]:
    """`column IN ids`. On PostgreSQL as one array parameter (`= ANY(:ids)`): an IN list of
    hundreds of parameters is rendered, converted and planned again for every batch, an array
    keeps the statement's text the same, so the driver prepares it once. The array is sent as
    its text form and cast by the server: the driver's own array dumper inspects each element
    (a regular expression per UUID) and cost more than the query."""
    if _dialect(session) == "postgresql":
        text = ids.array_text if isinstance(ids, IdBatch) else _array_text(ids)
        # Untyped (not `::VARCHAR`), so that the server takes the parameter for an array and
        # parses it once; a cast of a text value would be evaluated again for every row.
        array = sql_cast(bindparam(None, text, type_=NullType()), ARRAY(column.type))
        return column == any_(array)  # type: ignore[no-any-return]
    return column.in_([uuid.UUID(i) if isinstance(i, str) else i for i in ids])  # type: ignore[no-any-return]


def driver_columns(
    session: Session, table: Table, *, typed: bool = False
) -> list[ColumnElement[Any]]:
    """The table's columns for rows that are only compared or hashed, each UUID as its text.

    A UUID is held as text by the records, and the comparisons need it so: building a UUID
    object for every value, then its text again, then hashing and comparing such objects (in
    Python) made comparing the rows with their records cost three times reading them
    (issue #8). On PostgreSQL the other columns come as the driver reads them too, without
    the ORM's conversions (UTC times, enums): the comparisons (casefiles/projection.py
    `normal`) take a time by its instant and an enum by its value, so they are the same on
    either form. SQLite keeps times without their offset: there they stay typed, and so they
    do with `typed` (an entry hash covers a time's exact ISO text, in UTC).
    """
    postgresql = _dialect(session) == "postgresql" and not typed
    columns: list[ColumnElement[Any]] = []
    for c in table.columns:
        if isinstance(c.type, Uuid):
            columns.append(as_text(session, c).label(c.name))
        else:
            columns.append(type_coerce(c, NullType()).label(c.name) if postgresql else c)
    return columns


def as_text(session: Session, column: Any) -> ColumnElement[Any]:
    """A UUID column as its text (`str(uuid)`), made by the database."""
    if _dialect(session) == "postgresql":
        return sql_cast(column, String)
    # SQLite (SQLAlchemy's Uuid there): 32 hex digits, hyphenated as `str(uuid)` is.
    digits = type_coerce(column, String)
    parts = [
        func.substr(digits, start, length, type_=String)
        for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
    ]
    joined: ColumnElement[str] = parts[0]
    for part in parts[1:]:
        joined = joined + "-" + part
    return func.lower(joined, type_=String)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def fetch_all(session: Session, stmt: Select[Any]) -> list[Row[Any]]:
    """All rows of `stmt` at once: fetching them one by one through the cursor costs a
    driver call per row (it did: a tenth of `portal verify`)."""
    return list(session.execute(stmt).all())


def row_dicts(session: Session, stmt: Select[Any]) -> Iterator[dict[str, Any]]:
    """The rows of `stmt` as plain dicts (column name → value), all fetched at once."""
    result = session.execute(stmt)
    names = tuple(result.keys())
    for values in result.all():
        yield dict(zip(names, values, strict=True))
