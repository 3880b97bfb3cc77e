"""The relational database: one declarative Base, engines, sessions and the transaction edge."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from storage.work import Services, unit_of

log = logging.getLogger(__name__)

# Named constraints make migrations reproducible on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite drops the offset; we store UTC there and attach it again on the way out, so code never
    compares naive and aware times.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; times are stored in UTC")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Errors after which running the whole transaction again can succeed: PostgreSQL's serialization
# failure, deadlock and lock timeout (`lock_timeout`), and SQLite's busy database.
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


def is_transient(error: BaseException) -> bool:
    """Whether `error` is a database conflict that a retry of the transaction may not meet."""
    if not isinstance(error, OperationalError):
        return False
    if getattr(error.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES:
        return True
    return "database is locked" in str(error.orig)


_UNAVAILABLE = (
    OperationalError,  # includes the conflicts above: busy is unavailable too
    InterfaceError,
    PoolTimeout,
    psycopg.OperationalError,  # AdminShutdown, a connection closed or refused
    psycopg.InterfaceError,
)


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database cannot be had right now: unreachable, its connection
    lost (a terminated backend, a restart, a failover), or every pooled connection busy. Raw
    psycopg errors count too: they escape SQLAlchemy's wrapping in driver-level code (COPY)."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, _UNAVAILABLE)


def is_connection_lost(error: BaseException) -> bool:
    """Whether `error` came with the loss of the connection it was sent on; for a COMMIT that
    means nobody knows whether it was applied."""
    return isinstance(error, DBAPIError) and error.connection_invalidated


# libpq waits for ever by default: for a host that does not answer (a failover, a partition) and
# for an answer on a connection whose peer vanished. Bounded, such a request answers 503 long
# before the web server's worker timeout. A value in the URL's query wins.
_PG_CONNECT_ARGS = {
    "connect_timeout": 5,  # seconds
    "keepalives_idle": 5,  # seconds of silence before the kernel asks whether the peer lives
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,  # milliseconds that sent data may stay unacknowledged
}


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL and a busy timeout (threads share it):
    30 s unless the URL sets one (`?timeout=SECONDS`)."""
    if url.startswith("sqlite"):
        connect_args: dict[str, Any] = {"check_same_thread": False}
        if "timeout" not in make_url(url).query:
            connect_args["timeout"] = 30
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # pysqlite's own transaction handling breaks SAVEPOINTs; let SQLAlchemy emit BEGIN.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # IMMEDIATE takes the write lock up front, so two writers queue instead of failing.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    given = make_url(url).query
    connect_args = {k: v for k, v in _PG_CONNECT_ARGS.items() if k not in given}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def make_sessionmaker(engine: Engine, services: Services) -> sessionmaker[Session]:
    """Sessions that carry the services operations need (`storage.work.services_of`). A test
    makes one on a connection of its own with `sessions(bind=connection, …)`."""
    return sessionmaker(bind=engine, info={Services: services}, expire_on_commit=False)


AfterCommit = Callable[[Session, list[Any]], None]


class Transaction:
    """One unit of work: a session that is committed once, or rolled back, then closed.

    Jobs that operations enqueued are handed to `after_commit` only once the commit succeeded,
    so a worker never sees rows that do not exist yet. Objects stored by work that is rolled back
    are removed again, whether or not the rollback itself got through to the database.
    """

    def __init__(self, factory: Callable[[], Session], after_commit: AfterCommit | None = None):
        self.session = factory()
        self._after_commit = after_commit

    def commit(self) -> None:
        try:
            self.session.commit()
        except BaseException as error:
            # A connection lost during COMMIT leaves its outcome unknown: if the rows were
            # saved, their objects must stay. `portal storage gc` removes them if not.
            self._end(remove_objects=not is_connection_lost(error))
            raise
        jobs = unit_of(self.session).committed()  # written to the outbox by the commit
        self.session.close()
        if self._after_commit and jobs:
            self._after_commit(self.session, jobs)

    def rollback(self) -> None:
        """Roll back and close; never raises for a database that is gone (there is then
        nothing left to roll back: the server ends the transaction with the connection)."""
        self._end(remove_objects=True)

    def _end(self, *, remove_objects: bool) -> None:
        try:
            self.session.rollback()
        except Exception as error:
            if not is_unavailable(error):
                raise
            log.warning("rollback failed, the connection is gone: %s", error)
        finally:
            try:
                # Even when the rollback failed: these rows are not saved.
                unit_of(self.session).undo(remove_objects=remove_objects)
            finally:
                self.session.close()


@contextlib.contextmanager
def transaction(
    factory: Callable[[], Session], after_commit: AfterCommit | None = None
) -> Iterator[Session]:
    """The transaction edge for CLI commands and jobs: commit on success, else roll back."""
    tx = Transaction(factory, after_commit)
    try:
        yield tx.session
    except BaseException:
        tx.rollback()
        raise
    tx.commit()
