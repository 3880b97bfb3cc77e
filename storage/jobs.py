"""Background jobs: recorded during a transaction, dispatched after its commit.

A job is a dotted path to a function `f(session, *ids)` plus its ids. Jobs take ids, never ORM
objects, load their rows themselves and are idempotent, so running one twice is harmless and a
lost one can simply be enqueued again (the database is the source of truth).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Job:
    func: str
    args: tuple[Any, ...]


def enqueue(session: Session, func: str, *args: Any) -> None:
    """Ask for `func(session, *args)` to run after this session's transaction commits."""
    for arg in args:
        if not isinstance(arg, str | int):
            raise TypeError(f"job arguments are ids (str or int), not {type(arg).__name__}")
    pending = session.info.setdefault("pending_jobs", [])
    job = Job(func, tuple(args))
    if job not in pending:
        pending.append(job)


def resolve(func: str) -> Callable[..., Any]:
    """The function a job names; only functions in a package's `jobs` module may run as jobs."""
    module_name, _, name = func.rpartition(".")
    if not module_name.endswith(".jobs"):
        raise ValueError(f"{func!r} is not in a jobs module")
    return getattr(importlib.import_module(module_name), name)  # type: ignore[no-any-return]
