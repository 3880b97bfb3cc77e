"""Failed logins: guessing stays slow, and nobody who knows a login name can lock its owner out.

Two counts, kept only as hashes (people sometimes type their password into the login field):

- **Per login name and client** (a client is an address, or a device the name logged in from
  before): `pair_failures` failures in a row block that pair for `pair_block`, even for the
  right password. This is what stops one machine from guessing; everyone else is unaffected.
- **Per login name alone**, from anywhere: after `name_free_failures` the next attempt with the
  name has to wait a delay that doubles with each failure, up to `name_max_delay`. Guessing from
  many addresses gets slow, yet the owner waits minutes at worst, never a lock-out. A device the
  owner logged in from before (the app's device cookie) is not delayed at all. After
  `warn_after` failures the owner is told by e-mail (once per series; the app enqueues it).

Attempts refused by a block or a delay check no password and count nothing. Every attempt that
checks one is counted as failed *before* the check (`begin_attempt`) and cleared when it
succeeds (`record_success`): so parallel guesses cannot slip past a limit between the check and
the count. Counting is by the name typed, whether an account has it or not: an unknown name is
treated exactly like a known one, so the answers never tell which logins exist.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from directory.models import Account, LoginFailures, LoginPairFailures
from storage.db import Base, utcnow

Row = TypeVar("Row", bound=Base)


@dataclass(frozen=True)
class ThrottlePolicy:
    pair_failures: int = 5
    pair_block: dt.timedelta = dt.timedelta(minutes=15)
    name_free_failures: int = 5
    name_first_delay: dt.timedelta = dt.timedelta(seconds=1)
    name_max_delay: dt.timedelta = dt.timedelta(minutes=5)
    # A name without failures for this long starts a new series (count, delay and warning).
    name_window: dt.timedelta = dt.timedelta(hours=24)
    warn_after: int = 10

    def name_delay(self, failures: int) -> dt.timedelta | None:
        """How long the next attempt with a name waits after this many failures, if at all."""
        if failures < self.name_free_failures:
            return None
        doublings = min(failures - self.name_free_failures, 30)  # 2**30 s is past any maximum
        return min(self.name_first_delay * 2**doublings, self.name_max_delay)


POLICY = ThrottlePolicy()


@dataclass(frozen=True)
class Attempt:
    """One login attempt as the throttle saw it before the password was checked."""

    login_hash: str
    pair_hash: str
    # Set when the attempt is refused without checking the password: until when.
    refused_until: dt.datetime | None = None
    # The pair's block: in force (the attempt is refused), or starting if this attempt fails.
    blocked_until: dt.datetime | None = None
    # If this attempt fails, the owner may have to be warned (`record_failure` decides).
    warn: bool = False

    @property
    def refused(self) -> bool:
        return self.refused_until is not None


def login_hash(login: str) -> str:
    """The hash that stands for a typed login name (the login is compared case-insensitively)."""
    return hashlib.sha256(login.strip().lower().encode()).hexdigest()


def _pair_hash(name_hash: str, client: str) -> str:
    # The address is personal data too; hashed with the name, the table keeps neither in clear.
    return hashlib.sha256(f"{name_hash}\0{client}".encode()).hexdigest()


def begin_attempt(
    session: Session,
    login: str,
    client: str,
    *,
    known_device: bool = False,
    now: dt.datetime | None = None,
    policy: ThrottlePolicy = POLICY,
) -> Attempt:
    """Refuse the attempt (blocked pair, delayed name), or count it as failed until it succeeds.

    `client` names where it comes from ("address:…" or "device:…"); `known_device` says that the
    client is a device the name has logged in from before, which the name's delay spares.
    """
    now = now or utcnow()
    name_key = login_hash(login)
    pair_key = _pair_hash(name_key, client)
    # Rows are locked in this order (name, then pair) everywhere, so attempts never deadlock.
    name = _locked(session, LoginFailures, name_key, now)
    pair = _locked(session, LoginPairFailures, pair_key, now)
    if name.last_failure_at <= now - policy.name_window:
        name.failures, name.delayed_until = 0, None
        name.warn_due_at = name.warned_at = name.account_id = None
    if pair.blocked_until is not None and pair.blocked_until <= now:
        pair.failures, pair.blocked_until = 0, None  # a block that ran out starts a new count
    elif pair.last_failure_at <= now - policy.pair_block:
        pair.failures = 0  # failures spread over more than a block's length are forgiven
    if pair.blocked_until is not None:
        until = pair.blocked_until
        return Attempt(name_key, pair_key, refused_until=until, blocked_until=until)
    if not known_device and name.delayed_until is not None and name.delayed_until > now:
        return Attempt(name_key, pair_key, refused_until=name.delayed_until)

    pair.failures += 1
    pair.last_failure_at = now
    if pair.failures >= policy.pair_failures:
        pair.blocked_until = now + policy.pair_block
    name.failures += 1
    name.last_failure_at = now
    delay = policy.name_delay(name.failures)
    name.delayed_until = now + delay if delay else None
    session.flush()
    warn = name.failures >= policy.warn_after and name.warn_due_at is None
    return Attempt(name_key, pair_key, blocked_until=pair.blocked_until, warn=warn)


def record_failure(
    session: Session,
    login: str,
    attempt: Attempt,
    now: dt.datetime | None = None,
    policy: ThrottlePolicy = POLICY,
) -> bool:
    """After a failed attempt: whether the owner of the name is now to be warned (once a series).

    Only a name that belongs to an account has an owner to warn; the caller enqueues the
    warning job with `attempt.login_hash` when this says so.
    """
    if not attempt.warn:
        return False
    name = session.get(LoginFailures, attempt.login_hash, with_for_update=True)
    if name is None or name.warn_due_at is not None or name.failures < policy.warn_after:
        return False  # a success cleared the series meanwhile, or a parallel failure warns
    account_id = session.scalar(select(Account.id).where(Account.login == login.strip().lower()))
    if account_id is None:
        return False
    name.account_id = account_id
    name.warn_due_at = now or utcnow()
    session.flush()
    return True


def record_success(session: Session, attempt: Attempt) -> None:
    """A successful attempt clears its pair and the name's series (a warning still due stays)."""
    session.execute(
        delete(LoginPairFailures).where(LoginPairFailures.pair_hash == attempt.pair_hash)
    )
    name = session.get(LoginFailures, attempt.login_hash, with_for_update=True)
    if name is None:
        return
    if name.warn_due_at is not None and name.warned_at is None:
        name.failures, name.delayed_until = 0, None  # the owner is still told what happened
    else:
        session.delete(name)
    session.flush()


def purge(session: Session, now: dt.datetime | None = None, policy: ThrottlePolicy = POLICY) -> int:
    """Delete counts that no longer restrict anything; how many rows went."""
    now = now or utcnow()
    pairs = session.execute(
        delete(LoginPairFailures).where(
            LoginPairFailures.last_failure_at <= now - policy.pair_block,
            or_(LoginPairFailures.blocked_until.is_(None), LoginPairFailures.blocked_until <= now),
        )
    )
    old = now - policy.name_window
    names = session.execute(
        delete(LoginFailures).where(
            LoginFailures.last_failure_at <= old,
            # A warning still due is kept until its recovery window has passed too.
            or_(
                LoginFailures.warn_due_at.is_(None),
                LoginFailures.warned_at.is_not(None),
                LoginFailures.warn_due_at <= old,
            ),
        )
    )
    return int(pairs.rowcount) + int(names.rowcount)  # type: ignore[attr-defined]


def _locked(session: Session, model: type[Row], key: str, now: dt.datetime) -> Row:
    # Attempts arrive in parallel: the row is created if missing without a unique violation,
    # then locked, so that no attempt is lost between two requests.
    insert: Any = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    column = model.__mapper__.primary_key[0]
    new = {column.key: key, "failures": 0, "last_failure_at": now}
    session.execute(insert(model).values(new).on_conflict_do_nothing())
    return session.get_one(model, key, with_for_update=True, populate_existing=True)
