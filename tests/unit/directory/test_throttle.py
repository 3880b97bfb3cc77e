"""The throttle's arithmetic and bookkeeping, with a clock that is moved instead of waited for.

The user's side (two addresses, the owner's browser, the e-mail) is in
tests/functional/test_login_throttle.py; this pins the numbers and what is kept how long.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from directory import throttle
from directory.identifiers import make_ahvn13
from directory.jobs import purge_logins
from directory.models import LoginFailures, LoginPairFailures, LoginSession, Role
from directory.operations import create_account, register_person
from directory.sessions import SessionPolicy, resume_session, start_session
from directory.throttle import POLICY, begin_attempt, record_failure, record_success
from mailbox.login_warnings import lost_warnings

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def seconds(delta: dt.timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds()


def test_the_name_delay_doubles_from_one_second_to_five_minutes():
    delays = [seconds(POLICY.name_delay(n)) for n in range(16)]
    assert delays == [None] * 5 + [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert seconds(POLICY.name_delay(10_000)) == 300


def fail(session, login: str, client: str, at: dt.datetime) -> throttle.Attempt:
    attempt = begin_attempt(session, login, client, now=at)
    record_failure(session, login, attempt, now=at)
    return attempt


def test_a_block_and_a_series_run_out(db_session):
    for n in range(5):
        fail(db_session, "x@example.ch", "address:a", T0 + dt.timedelta(seconds=n * 300))
    last = T0 + dt.timedelta(seconds=1200)
    blocked = begin_attempt(db_session, "x@example.ch", "address:a", now=last)
    assert blocked.refused_until == last + POLICY.pair_block

    later = last + POLICY.pair_block
    again = begin_attempt(db_session, "x@example.ch", "address:a", now=later)
    assert not again.refused and again.blocked_until is None
    name = db_session.get(LoginFailures, throttle.login_hash("x@example.ch"))
    assert name is not None and name.failures == 6  # the name's series goes on

    next_day = later + POLICY.name_window
    begin_attempt(db_session, "x@example.ch", "address:b", now=next_day)
    db_session.refresh(name)
    assert name.failures == 1  # a quiet day starts a new series


def test_a_warning_is_due_once_a_series_and_only_for_an_account(db_session):
    person = register_person(
        db_session, given_name="Dora", family_name="Test", ahvn13=make_ahvn13(901234567)
    )
    create_account(
        db_session,
        login="dora@example.ch",
        password="ein-langes-Passwort",
        role=Role.RESIDENT,
        display_name="Dora Test",
        party=person,
    )
    due = []
    for n in range(POLICY.warn_after + 3):
        at = T0 + dt.timedelta(hours=n)  # each delay has long passed
        for login in ("dora@example.ch", "niemand@example.ch"):
            attempt = begin_attempt(db_session, login, f"address:{n}", now=at)
            if record_failure(db_session, login, attempt, now=at):
                due.append((login, n + 1))
    assert due == [("dora@example.ch", POLICY.warn_after)]
    [(job, (login_hash,))] = lost_warnings(db_session, now=T0 + dt.timedelta(hours=12))
    assert job == "mailbox.jobs.warn_of_failed_logins"
    assert login_hash == throttle.login_hash("dora@example.ch")

    # The owner logs in before the warning went out: the count starts again, the warning stays.
    at = T0 + dt.timedelta(hours=20)
    record_success(db_session, begin_attempt(db_session, "dora@example.ch", "address:x", now=at))
    row = db_session.get(LoginFailures, login_hash)
    assert row is not None and row.failures == 0 and row.warn_due_at is not None


def test_purging_keeps_what_still_restricts_or_logs_in(db_session):
    person = register_person(
        db_session, given_name="Emil", family_name="Test", ahvn13=make_ahvn13(901234568)
    )
    account = create_account(
        db_session,
        login="emil@example.ch",
        password="ein-langes-Passwort",
        role=Role.RESIDENT,
        display_name="Emil Test",
        party=person,
    )
    now = dt.datetime.now(dt.UTC)
    policy = SessionPolicy()
    live = start_session(db_session, account, now=now)
    start_session(db_session, account, now=now - policy.idle)  # idle too long
    for n in range(5):
        fail(db_session, "old@example.ch", "address:a", now - POLICY.name_window)
        fail(db_session, "new@example.ch", "address:a", now - dt.timedelta(seconds=n))

    purged = purge_logins(db_session, 30, 12)
    assert purged == 1 + 2  # the idle session; the old name and its pair
    assert db_session.scalar(select(func.count()).select_from(LoginSession)) == 1
    assert resume_session(db_session, live, policy) is not None
    assert db_session.scalar(select(func.count()).select_from(LoginFailures)) == 1
    assert db_session.scalar(select(func.count()).select_from(LoginPairFailures)) == 1
