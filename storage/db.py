"""The relational database: one declarative Base, engines, sessions and the transaction edge."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

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
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_sessionmaker(engine: Engine, info: dict[str, Any]) -> sessionmaker[Session]:
    """Sessions carry the services that operations need (object store, keyring) in `info`."""
    return sessionmaker(bind=engine, info=info, expire_on_commit=False)


AfterCommit = Callable[[Session, list[Any]], None]


class Transaction:
    """One unit of work: a session that is committed once, or rolled back, then closed.

    Jobs that operations enqueued are handed to `after_commit` only once the commit succeeded,
    so a worker never sees rows that do not exist yet.
    """

    def __init__(self, factory: Callable[[], Session], after_commit: AfterCommit | None = None):
        self.session = factory()
        self._after_commit = after_commit

    def commit(self) -> None:
        try:
            self.session.commit()
        except BaseException:
            self.rollback()
            raise
        jobs = self.session.info.pop("pending_jobs", [])
        self.session.info.pop("stored_keys", None)
        self.session.close()
        if self._after_commit and jobs:
            self._after_commit(self.session, jobs)

    def rollback(self) -> None:
        self.session.rollback()
        self.session.info.pop("pending_jobs", None)
        objects = self.session.info.get("objects")
        stored = self.session.info.pop("stored_keys", [])
        # Objects written by the failed transaction belong to nothing now.
        for key in stored:
            try:
                if objects is not None:
                    objects.delete(key)
            except OSError:
                log.warning("could not remove orphaned object %s", key)
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
