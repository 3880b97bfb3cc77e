"""`directory.login.check_password` without Flask: which transaction each step of a guarded
password check writes in, against the real database of the profile. (The user's side, with
addresses, devices and the owner's e-mail, is tests/functional/test_login_throttle.py.)"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from directory import throttle
from directory.identifiers import make_ahvn13
from directory.login import LoginRefused, check_password
from directory.models import LoginFailures, LoginPairFailures, Role
from directory.operations import create_account, register_person
from directory.throttle import POLICY


def pair_failures(runtime, login: str, client: str) -> int:
    pair_hash = throttle._pair_hash(throttle.login_hash(login), client)
    with runtime.sessions() as session:
        row = session.get(LoginPairFailures, pair_hash)
        return 0 if row is None else row.failures


def fresh_login() -> str:
    return f"login-{uuid.uuid4().hex[:12]}@example.ch"


def test_a_failure_is_counted_though_the_callers_work_is_rolled_back(runtime):
    login, client = fresh_login(), "address:192.0.2.1"
    with runtime.sessions() as work:
        result = check_password(
            work, runtime.transaction, login, client, lambda: None, known_device=False, warn=_no
        )
        assert result is None
        work.rollback()  # the request fails (401): its transaction is rolled back
    assert pair_failures(runtime, login, client) == 1


def test_a_success_clears_the_count_in_the_callers_transaction(runtime):
    login, client = fresh_login(), "address:192.0.2.2"
    with runtime.sessions() as work:
        check_password(
            work, runtime.transaction, login, client, lambda: None, known_device=False, warn=_no
        )
    with runtime.sessions() as work:
        assert check_password(
            work, runtime.transaction, login, client, lambda: "ok", known_device=False, warn=_no
        )
        work.rollback()  # a success whose request fails after all: the count stands
    assert pair_failures(runtime, login, client) == 2
    with runtime.sessions() as work:
        assert check_password(
            work, runtime.transaction, login, client, lambda: "ok", known_device=False, warn=_no
        )
        work.commit()
    assert pair_failures(runtime, login, client) == 0


def test_the_failure_that_blocks_says_so_and_later_ones_are_not_checked(runtime):
    login, client = fresh_login(), "address:192.0.2.3"
    checked = []

    def wrong() -> None:
        checked.append(1)
        return None

    with runtime.sessions() as work:
        for _ in range(POLICY.pair_failures - 1):
            # Known device: the name's delay spares it, only the pair's block applies.
            check_password(
                work, runtime.transaction, login, client, wrong, known_device=True, warn=_no
            )
        with pytest.raises(LoginRefused) as blocking:
            check_password(
                work, runtime.transaction, login, client, wrong, known_device=True, warn=_no
            )
        assert blocking.value.blocked and blocking.value.new_block
        with pytest.raises(LoginRefused) as refused:
            check_password(
                work, runtime.transaction, login, client, lambda: "ok", known_device=True, warn=_no
            )
        assert refused.value.blocked and not refused.value.new_block
        assert refused.value.until == blocking.value.until
    assert len(checked) == POLICY.pair_failures  # the password was not checked when refused


def test_the_owner_is_warned_once_in_a_committed_transaction_of_its_own(runtime):
    login = fresh_login()
    with runtime.transaction() as session:
        person = register_person(
            session,
            given_name="Lena",
            family_name="Test",
            ahvn13=make_ahvn13(800_000_000 + uuid.uuid4().int % 99_999_999),
        )
        create_account(
            session,
            login=login,
            password="ein-langes-Passwort",
            role=Role.RESIDENT,
            display_name="Lena Test",
            party=person,
        )
    warned: list[str] = []

    def warn(session, login_hash: str) -> None:
        assert session.in_transaction()
        warned.append(login_hash)

    for n in range(POLICY.warn_after + 2):
        with runtime.sessions() as work:
            # Each guess from another device: no pair is blocked, the name is not delayed.
            check_password(
                work,
                runtime.transaction,
                login,
                f"device:{n}",
                lambda: None,
                known_device=True,
                warn=warn,
            )
            work.rollback()
    assert warned == [throttle.login_hash(login)]
    with runtime.sessions() as session:
        name = session.scalar(
            select(LoginFailures).where(LoginFailures.login_hash == throttle.login_hash(login))
        )
        assert name is not None and name.warn_due_at is not None


def _no(_session, _login_hash: str) -> None:
    raise AssertionError("no warning expected")
