"""Background jobs: recorded in the transaction that asks for them, dispatched after its commit.

A job is a dotted path to a function `f(session, *ids)` plus its ids. Jobs take ids, never ORM
objects, load their rows themselves and are idempotent, so running one twice is harmless and a
lost one can simply be run again (the database is the source of truth).

`enqueue` keeps the transaction's jobs (each once) in the session's unit of work
(`storage/work.py`) and writes them, as rows of the jobs outbox (`storage/outbox.py`), in one
statement when the transaction commits; a rollback, or the rollback of a savepoint, drops them
(`UnitOfWork.undo`). Only the committed ones are handed on (`Transaction.commit`).
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from storage.work import unit_of


@dataclass(frozen=True)
class Job:
    func: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class RecordedJob:
    """A job with its outbox row: what is handed to rq, or run in-process, after commit."""

    id: uuid.UUID
    func: str
    args: tuple[Any, ...]
    attempt: int = 1

    @property
    def run_id(self) -> str:
        """A name for this attempt of the job (rq's job id): the relay asks rq about it."""
        return f"outbox-{self.id.hex}-{self.attempt}"


def enqueue(session: Session, func: str, *args: Any) -> None:
    """Ask for `func(session, *args)` to run once this session's transaction has committed."""
    for arg in args:
        if not isinstance(arg, str | int):
            raise TypeError(f"job arguments are ids (str or int), not {type(arg).__name__}")
    unit_of(session).jobs.add(session, Job(func, tuple(args)))


def queued_jobs(session: Session) -> list[Job]:
    """The jobs this transaction asked for so far (written at its commit)."""
    return list(unit_of(session).jobs.queued)


def resolve(func: str) -> Callable[..., Any]:
    """The function a job names; only functions in a package's `jobs` module may run as jobs."""
    module_name, _, name = func.rpartition(".")
    if not module_name.endswith(".jobs"):
        raise ValueError(f"{func!r} is not in a jobs module")
    return getattr(importlib.import_module(module_name), name)  # type: ignore[no-any-return]


@dataclass
class Outbox:
    """One session's jobs: queued by its transaction, being written, written and committed.
    It is part of the session's unit of work (`storage.work.UnitOfWork.jobs`)."""

    queued: list[Job] = field(default_factory=list)
    seen: set[Job] = field(default_factory=set)
    writing: list[RecordedJob] = field(default_factory=list)
    committed: list[RecordedJob] = field(default_factory=list)
    listening: bool = False

    def add(self, session: Session, job: Job) -> None:
        if not self.listening:
            # On the first job only: sessions that never enqueue pay nothing.
            event.listen(session, "before_commit", self._write)
            event.listen(session, "after_commit", self._committed_now)
            event.listen(session, "after_transaction_end", self._ended)
            self.listening = True
        # Once per transaction: an operation may ask twice (the same delivery, say).
        if job not in self.seen:
            self.seen.add(job)
            self.queued.append(job)

    def mark(self) -> int:
        """Where the queued jobs end now: a savepoint's start."""
        return len(self.queued)

    def drop_since(self, mark: int) -> None:
        """Forget the jobs queued after `mark` (the savepoint that asked for them rolled back)."""
        del self.queued[mark:]
        self.seen = set(self.queued)

    def clear(self) -> None:
        """Forget every job (the transaction rolled back)."""
        self.queued, self.seen, self.writing, self.committed = [], set(), [], []

    def take_committed(self) -> list[RecordedJob]:
        """The jobs of the transactions that committed since the last call; they are handed on."""
        jobs, self.committed = self.committed, []
        return jobs

    def _write(self, session: Session) -> None:
        # A savepoint's commit also fires `before_commit`; the rows go with the outermost one.
        if session.in_nested_transaction() or not self.queued:
            return
        # Imported here: the outbox's model (storage.outbox) imports this module.
        from storage.outbox import insert_jobs

        self.writing = [RecordedJob(uuid.uuid4(), job.func, job.args) for job in self.queued]
        self.queued, self.seen = [], set()
        insert_jobs(session, self.writing)

    def _committed_now(self, session: Session) -> None:
        if not session.in_nested_transaction():
            self.committed.extend(self.writing)
            self.writing = []

    def _ended(self, _session: Session, transaction: SessionTransaction) -> None:
        # The outermost transaction is over (committed or not): what it queued goes with it.
        if transaction.parent is None:
            self.queued, self.seen, self.writing = [], set(), []
