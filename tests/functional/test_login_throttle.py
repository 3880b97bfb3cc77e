"""Guessing passwords, from the user's side (issue 6, "Anyone can lock anyone out").

Five failures with one login name from one client block that pair for a while, even for the
right password; the owner elsewhere is only slowed down (a delay that grows with the name's
failures, never a lock-out), and a browser the owner logged in with before is not slowed at all.
The owner is told by e-mail after repeated failures. An unknown login name is treated exactly
like a known one. Clients are told apart by their address (`environ_base`).

Time is moved, not waited for: `let_delays_pass` moves the end of the name's delay into the past,
as the clock would.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading

import pytest
from sqlalchemy import select, update

from app import create_app
from directory.models import LoginFailures, LoginPairFailures
from directory.throttle import POLICY
from tests.conftest import csrf_token, login, wait_for

A = "198.51.100.7"
B = "203.0.113.20"
WRONG = "Benutzername oder Passwort ist falsch."
GUESS = "geraten-1234"


def attempt(client, name: str, password: str, address: str = A, **headers):
    environ = {"REMOTE_ADDR": address}
    page = client.get("/login", environ_base=environ)
    data = {"login": name, "password": password, "csrf_token": csrf_token(page.get_data(True))}
    return client.post("/login", data=data, environ_base=environ, headers=headers)


def let_delays_pass(runtime) -> None:
    """As if the login names' delays had run out (the pairs' blocks stay)."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with runtime.transaction() as session:
        session.execute(update(LoginFailures).values(delayed_until=past))


def retry_after(response) -> int:
    return int(response.headers["Retry-After"])


def guess_from_many_addresses(app, runtime, name: str, count: int):
    """`count` wrong passwords, each from an address of its own, waiting out each delay."""
    responses = []
    for n in range(count):
        let_delays_pass(runtime)
        responses.append(attempt(app.test_client(), name, GUESS, f"192.0.2.{n + 1}"))
    return responses


def test_five_failures_block_that_address_while_the_owner_elsewhere_logs_in(app, demo, runtime):
    resident = demo["resident"]
    attacker = app.test_client()
    for _ in range(POLICY.pair_failures - 1):
        wrong = attempt(attacker, resident["login"], "falsch")
        assert wrong.status_code == 401
        assert WRONG in wrong.get_data(as_text=True)
    fifth = attempt(attacker, resident["login"], "falsch")
    assert fifth.status_code == 429
    assert 14 * 60 < retry_after(fifth) <= 15 * 60

    # From address A even the right password is refused now: that is what stops guessing.
    right = attempt(attacker, resident["login"].upper(), resident["password"])  # same name
    assert right.status_code == 429
    assert attacker.get("/").status_code == 302  # not logged in

    # The owner at address B, in a browser never used before, is slowed down a moment only.
    owner = app.test_client()
    slowed = attempt(owner, resident["login"], resident["password"], B)
    assert slowed.status_code == 429
    assert retry_after(slowed) <= 2
    let_delays_pass(runtime)
    assert attempt(owner, resident["login"], resident["password"], B).status_code == 302
    assert owner.get("/").status_code == 200

    # The owner's success did not lift the block of address A.
    assert attempt(attacker, resident["login"], resident["password"]).status_code == 429
    # Fifteen minutes later (the clock moved by moving the block's end) A may try again.
    with runtime.transaction() as session:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        session.execute(update(LoginPairFailures).values(blocked_until=past))
    assert attempt(attacker, resident["login"], resident["password"]).status_code == 302


def test_the_owners_usual_browser_is_never_slowed_by_guesses_elsewhere(app, demo, runtime):
    resident = demo["resident"]
    owner = app.test_client()
    login(owner, resident)  # this browser now counts as a device of the login
    owner.post("/logout", data={"csrf_token": csrf_token(owner.get("/").get_data(True))})

    guess_from_many_addresses(app, runtime, resident["login"], 12)
    with runtime.sessions() as session:
        name = session.scalars(select(LoginFailures)).one()
    assert name.failures == 12 and name.delayed_until is not None
    stranger = attempt(app.test_client(), resident["login"], resident["password"], B)
    assert stranger.status_code == 429  # a new browser waits, even with the right password

    # The owner's browser logs in at once, even from an address that guessed too.
    assert attempt(owner, resident["login"], resident["password"], "192.0.2.1").status_code == 302
    assert owner.get("/").status_code == 200


def test_delays_grow_with_failures_from_many_addresses_up_to_a_few_minutes(app, runtime):
    client_for = app.test_client
    delays = []
    for n in range(16):
        let_delays_pass(runtime)
        wrong = attempt(client_for(), "ziel@example.ch", "rate", f"192.0.2.{n + 1}")
        assert wrong.status_code == 401  # every guess from a fresh address is checked
        early = attempt(client_for(), "ziel@example.ch", "rate", f"198.18.0.{n + 1}")
        if early.status_code == 429:
            delays.append(retry_after(early))
            assert f"{retry_after(early)} " in early.get_data(as_text=True)
    max_delay = int(POLICY.name_max_delay.total_seconds())
    assert delays[:6] == [1, 2, 4, 8, 16, 32]
    assert delays == sorted(delays) and delays[-1] == max_delay == 300


def test_the_owner_is_told_by_email_once_after_repeated_failures(app, demo, runtime, smtp_messages):
    resident = demo["resident"]
    guess_from_many_addresses(app, runtime, resident["login"], POLICY.warn_after - 1)
    assert not smtp_messages
    guess_from_many_addresses(app, runtime, resident["login"], 1)

    [warning] = wait_for(lambda: list(smtp_messages))
    assert warning["To"].addresses[0].addr_spec == resident["login"]
    assert "Anmeldeversuche" in warning["Subject"]
    text = warning.get_content()
    assert f"{POLICY.warn_after} Mal" in text
    assert "nicht gesperrt" in text
    assert f"{runtime.config.base_url}/account/password" in text
    assert GUESS not in text  # nothing of what was typed

    # More failures in the same series send nothing more.
    guess_from_many_addresses(app, runtime, resident["login"], 3)
    with runtime.sessions() as session:
        assert session.scalars(select(LoginFailures.warned_at)).one() is not None
    assert len(smtp_messages) == 1


def test_an_unknown_login_is_treated_exactly_like_a_known_one(app, demo, runtime, smtp_messages):
    def story(name: str) -> list[tuple[int, str | None, str]]:
        seen = []
        for n in range(POLICY.warn_after + 2):
            if n % 2 == 0:
                let_delays_pass(runtime)
            response = attempt(app.test_client(), name, "falsch", f"192.0.2.{n % 6}")
            page = re.sub(r'name="csrf_token" value="[^"]*"', "", response.get_data(as_text=True))
            text = re.sub(r"\d", "0", page)
            seen.append((response.status_code, response.headers.get("Retry-After"), text))
        return seen

    known = story(demo["resident"]["login"])
    unknown = story("niemand@example.ch")
    assert [s[:2] for s in known] == [s[:2] for s in unknown]
    assert {s[0] for s in known} == {401, 429}
    # The same pages, but for the typed name in the form.
    assert [s[2].replace(demo["resident"]["login"], "X") for s in known] == [
        s[2].replace("niemand@example.ch", "X") for s in unknown
    ]


def test_a_successful_login_starts_the_count_again(app, demo):
    clerk = demo["clerk"]
    client = app.test_client()
    for _ in range(POLICY.pair_failures - 1):
        assert attempt(client, clerk["login"], "falsch").status_code == 401
    assert attempt(client, clerk["login"], clerk["password"]).status_code == 302
    other = app.test_client()
    for _ in range(POLICY.pair_failures - 1):
        assert attempt(other, clerk["login"], "falsch").status_code == 401
    assert attempt(app.test_client(), clerk["login"], clerk["password"]).status_code == 302


def test_login_names_and_addresses_are_not_stored_in_clear(client, runtime):
    attempt(client, "mein-passwort-im-falschen-feld", "x", "192.0.2.99")
    with runtime.sessions() as session:
        stored = [row.login_hash for row in session.scalars(select(LoginFailures))]
        stored += [row.pair_hash for row in session.scalars(select(LoginPairFailures))]
    assert len(stored) == 2
    for value in stored:
        assert len(value) == 64 and "passwort" not in value and "192.0.2" not in value


def test_a_forged_forwarded_for_header_changes_nothing(app, demo):
    """Without PORTAL_TRUSTED_PROXIES, X-Forwarded-For is anybody's claim: ignored."""
    resident = demo["resident"]
    for n in range(POLICY.pair_failures):
        attempt(
            app.test_client(), resident["login"], "falsch", A, **{"X-Forwarded-For": f"10.{n}.0.1"}
        )
    fresh = app.test_client()
    blocked = attempt(
        fresh, resident["login"], resident["password"], A, **{"X-Forwarded-For": "10.9.9.9"}
    )
    assert blocked.status_code == 429 and retry_after(blocked) > 60


@pytest.fixture
def proxied_app(runtime):
    """The portal behind one reverse proxy of ours (PORTAL_TRUSTED_PROXIES=1)."""
    application = create_app(dataclasses.replace(runtime.config, trusted_proxies=1))
    application.extensions["portal"].close()
    application.extensions["portal"] = runtime
    return application


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(proxied_app, demo, runtime):
    resident = demo["resident"]
    proxy = "10.0.0.2"
    for _ in range(POLICY.pair_failures):
        attempt(
            proxied_app.test_client(), resident["login"], "falsch", proxy, **{"X-Forwarded-For": A}
        )
    blocked = attempt(
        proxied_app.test_client(),
        resident["login"],
        resident["password"],
        proxy,
        **{"X-Forwarded-For": A},
    )
    assert blocked.status_code == 429 and retry_after(blocked) > 60
    let_delays_pass(runtime)
    owner = attempt(
        proxied_app.test_client(),
        resident["login"],
        resident["password"],
        proxy,
        **{"X-Forwarded-For": B},
    )
    assert owner.status_code == 302


def test_parallel_guesses_are_all_counted(app, runtime):
    """Eight wrong passwords at once from one address: exactly five are checked."""
    clients = [app.test_client() for _ in range(8)]
    environ = {"REMOTE_ADDR": A}
    tokens = [csrf_token(c.get("/login", environ_base=environ).get_data(True)) for c in clients]
    start = threading.Barrier(len(clients))
    statuses: list[int] = []

    def guess(client, token) -> None:
        start.wait()
        data = {"login": "ziel@example.ch", "password": "rate", "csrf_token": token}
        statuses.append(client.post("/login", data=data, environ_base=environ).status_code)

    threads = [
        threading.Thread(target=guess, args=pair) for pair in zip(clients, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    limit = POLICY.pair_failures
    # Four wrong answers, the fifth blocks the pair, and three are refused unchecked.
    assert sorted(statuses) == [401] * (limit - 1) + [429] * (9 - limit)
    with runtime.sessions() as session:
        pair = session.scalars(select(LoginPairFailures)).one()
        name = session.scalars(select(LoginFailures)).one()
    assert pair.failures == limit and pair.blocked_until is not None
    assert name.failures == limit
