"""Which of the portal's dependencies an error says is away: the database, the object store or
Redis.

A request that meets one of them answers 503 with Retry-After (app/factory.py for pages,
app/api/problems.py for the API), and its transaction saves nothing and removes the objects it
stored (storage.db.Transaction); the client sends it again later, with the same
Idempotency-Key where it had one.
"""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from storage.db import is_unavailable
from storage.objects import StoreUnavailable

# Seconds: an outage lasts longer than a conflict between two requests (those answer "1").
RETRY_AFTER = "5"


def missing_dependency(error: BaseException) -> str | None:
    """ "database", "object store" or "redis" when `error`, or an error that led to it, says that
    it cannot be reached or did not answer in time; None for any other error.

    The chain counts: a rollback or cleanup that fails on the lost connection raises an error of
    its own, whose context is the loss.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if is_unavailable(current):
            return "database"
        if isinstance(current, StoreUnavailable):
            return "object store"
        if isinstance(current, RedisConnectionError | RedisTimeoutError):
            return "redis"
        current = current.__cause__ or current.__context__
    return None
