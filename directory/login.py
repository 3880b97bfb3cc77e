"""A password check behind the login throttle (`directory.throttle`), with its transactions: the
one operation that the login page and the password form share. The web layer adds only where an
attempt comes from (address or known device), the device cookie and the words it shows.

Three transactions take part, in this order:

- the caller's own (`work`, the request's) is rolled back first: on SQLite its reads hold a
  lock that the count below would wait for;
- the attempt is counted in a transaction of its own, committed before the slow password
  check, so that the count holds no lock meanwhile and stands even if the check fails;
- a failure that makes the name's owner due for a warning is recorded in another short one,
  which also enqueues the warning (`warn`), so it is sent even though the request fails.

A success clears the count in `work`, with whatever the check changed there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

from sqlalchemy.orm import Session

from directory import throttle

T = TypeVar("T")

# A new transaction, committed when its block ends without an error (`Runtime.transaction`).
Transactions = Callable[[], AbstractContextManager[Session]]
# Enqueue the warning to the owner of a login name (by its hash) in this transaction.
Warn = Callable[[Session, str], None]


class LoginRefused(Exception):
    """The password was not checked, or this failure blocked the login name from this client:
    no attempt before `until`."""

    def __init__(self, until: dt.datetime, *, blocked: bool, new_block: bool = False) -> None:
        super().__init__(f"refused until {until.isoformat()}")
        self.until = until
        self.blocked = blocked  # the name is blocked from this client (else only delayed)
        self.new_block = new_block  # this very failure started the block


def check_password(
    work: Session,
    transaction: Transactions,
    login_name: str,
    client: str,
    check: Callable[[], T | None],
    *,
    known_device: bool,
    warn: Warn,
) -> T | None:
    """Run a password check for this login behind the throttle: its result, or None if wrong.

    `client` names where the attempt comes from ("address:…" or "device:…"), `known_device`
    says that the name has logged in from that device before. Raises LoginRefused when the
    throttle refuses the attempt, or when this failure blocks the name from this client.
    """
    work.rollback()
    with transaction() as counting:
        attempt = throttle.begin_attempt(counting, login_name, client, known_device=known_device)
    if attempt.refused_until is not None:
        raise LoginRefused(attempt.refused_until, blocked=attempt.blocked_until is not None)
    result = check()
    if result is not None:
        throttle.record_success(work, attempt)
        return result
    if attempt.warn:
        work.rollback()  # the check's reads end before the write (SQLite's lock, as above)
        with transaction() as recording:
            if throttle.record_failure(recording, login_name, attempt):
                warn(recording, attempt.login_hash)
    if attempt.blocked_until is not None:
        raise LoginRefused(attempt.blocked_until, blocked=True, new_block=True)
    return None
