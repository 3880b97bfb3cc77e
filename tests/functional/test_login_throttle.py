"""Guessing passwords: five failures in a row block a login name for 15 minutes, even for the
right password; an unknown name is blocked just the same, so the answers never tell which
logins exist. A successful login starts the count again."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import update

from directory.models import LoginFailures
from directory.throttle import MAX_FAILURES
from tests.conftest import csrf_token, login


def attempt(client, name: str, password: str):
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"login": name, "password": password, "csrf_token": token})


def test_five_failures_block_the_login_even_for_the_right_password(client, demo, runtime):
    resident = demo["resident"]
    for _ in range(MAX_FAILURES - 1):
        wrong = attempt(client, resident["login"], "falsch")
        assert wrong.status_code == 401
        assert "Benutzername oder Passwort ist falsch." in wrong.get_data(as_text=True)
    fifth = attempt(client, resident["login"], "falsch")
    assert fifth.status_code == 429
    assert "Zu viele fehlgeschlagene Versuche" in fifth.get_data(as_text=True)

    right = attempt(client, resident["login"].upper(), resident["password"])  # same name
    assert right.status_code == 429
    assert client.get("/").status_code == 302  # still not logged in

    # Fifteen minutes later (the clock moved by moving the block's end):
    with runtime.transaction() as session:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        session.execute(update(LoginFailures).values(blocked_until=past))
    assert attempt(client, resident["login"], resident["password"]).status_code == 302


def test_an_unknown_login_is_blocked_like_a_known_one(client):
    statuses = [attempt(client, "niemand@example.ch", "x").status_code for _ in range(6)]
    assert statuses == [401, 401, 401, 401, 429, 429]


def test_a_successful_login_starts_the_count_again(app, demo, runtime):
    clerk = demo["clerk"]
    client = app.test_client()
    for _ in range(MAX_FAILURES - 1):
        assert attempt(client, clerk["login"], "falsch").status_code == 401
    login(client, clerk)
    other = app.test_client()
    for _ in range(MAX_FAILURES - 1):
        assert attempt(other, clerk["login"], "falsch").status_code == 401
    login(app.test_client(), clerk)  # four more failures did not block it


def test_the_login_name_is_not_stored_in_clear(client, demo, runtime):
    attempt(client, "mein-passwort-im-falschen-feld", "x")
    with runtime.sessions() as session:
        stored = [row.login_hash for row in session.query(LoginFailures)]
    assert len(stored) == 1 and "passwort" not in stored[0] and len(stored[0]) == 64


def test_parallel_guesses_are_all_counted(app, runtime):
    """Eight wrong passwords at once for one name: no error, and exactly the fifth blocks."""
    clients = [app.test_client() for _ in range(8)]
    tokens = [csrf_token(c.get("/login").get_data(as_text=True)) for c in clients]
    start = threading.Barrier(len(clients))
    statuses: list[int] = []

    def guess(client, token) -> None:
        start.wait()
        data = {"login": "ziel@example.ch", "password": "rate", "csrf_token": token}
        statuses.append(client.post("/login", data=data).status_code)

    threads = [
        threading.Thread(target=guess, args=pair) for pair in zip(clients, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [401] * (MAX_FAILURES - 1) + [429] * (9 - MAX_FAILURES)
    with runtime.sessions() as session:
        [row] = session.query(LoginFailures).all()
    # PostgreSQL may count all eight; SQLite serializes them, and the attempts after the block
    # starts are refused without being counted.
    assert MAX_FAILURES <= row.failures <= 8 and row.blocked_until is not None
