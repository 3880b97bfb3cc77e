"""Inserting many rows at once, in the caller's transaction.

On PostgreSQL the rows go in with COPY (~5x the rows/s of an executemany here, and far less work
for the server); elsewhere with an executemany of a Core insert. Either way the values pass
through the columns' SQLAlchemy types (UTC times, enums by value, JSON, UUIDs) and the columns'
Python defaults fill what a row leaves out, exactly as for a Core or ORM insert.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import psycopg
from sqlalchemy import Column, Table, insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.sql import FromClause


def insert_rows(session: Session, table: FromClause, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (column name -> value) into `table` (a model's `__table__`)."""
    assert isinstance(table, Table)
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    dialect = connection.dialect
    # Like an executemany, every row has the keys of the first.
    given = [c for c in table.columns if c.name in rows[0]]
    defaulted = [c for c in table.columns if c.name not in rows[0] and _has_default(c)]
    processors = [(c.name, c.type._cached_bind_processor(dialect)) for c in given]
    defaults = [_default_maker(c, dialect) for c in defaulted]
    names = ", ".join(dialect.identifier_preparer.quote(c.name) for c in [*given, *defaulted])
    driver = connection.connection.driver_connection
    assert driver is not None
    statement = f"COPY {table.name} ({names}) FROM STDIN"
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                values = [row[name] if p is None else p(row[name]) for name, p in processors]
                copy.write_row(values + [make() for make in defaults] if defaults else values)
    except psycopg.Error as error:
        raise _as_sqlalchemy_error(connection, driver, statement, error) from error


def _as_sqlalchemy_error(
    connection: Connection, driver: Any, statement: str, error: psycopg.Error
) -> StatementError:
    """What SQLAlchemy makes of a driver error it sees itself: its own exception class
    (OperationalError, IntegrityError, …), and for a lost connection the connection invalidated,
    so that the rollback that follows does not fail on it and callers see a lost connection."""
    dialect = connection.dialect
    lost = dialect.is_disconnect(cast(Any, error), driver, None)
    if lost:
        connection.invalidate(error)
    return DBAPIError.instance(
        statement,
        None,
        error,
        psycopg.Error,
        hide_parameters=True,
        dialect=dialect,
        connection_invalidated=lost,
    )


def _has_default(column: Column[Any]) -> bool:
    default = column.default
    return default is not None and bool(default.is_scalar or default.is_callable)


def _default_maker(column: Column[Any], dialect: Dialect) -> Callable[[], Any]:
    """The column's Python default as a function giving the value to store."""
    default: Any = column.default
    process = column.type._cached_bind_processor(dialect) or (lambda value: value)
    if default.is_scalar:
        value = process(default.arg)
        return lambda: value
    return lambda: process(default.arg(None))  # SQLAlchemy wraps a callable to take a context
