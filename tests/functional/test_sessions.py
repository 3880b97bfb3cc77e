"""Login sessions end on the server (issue 6, "Logging out does not end the session").

A copy of the session cookie, saved before logout or before a password change, opens nothing
afterwards; sessions also end after a while without requests and some hours after the login.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from directory.models import Account, LoginSession
from tests.conftest import csrf_token, login


def saved_cookie(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value  # type: ignore[no-any-return]


def browser_with(app, cookie: str):
    """Another browser that replays a saved session cookie."""
    replay = app.test_client()
    replay.set_cookie("session", cookie)
    return replay


def logout(client) -> None:
    token = csrf_token(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302


def change_password(client, current: str, new: str, repeated: str | None = None):
    token = csrf_token(client.get("/account/password").get_data(as_text=True))
    data = {
        "current_password": current,
        "new_password": new,
        "repeated_password": new if repeated is None else repeated,
        "csrf_token": token,
    }
    return client.post("/account/password", data=data)


def test_a_cookie_saved_before_logout_opens_nothing_afterwards(app, client, demo):
    login(client, demo["resident"])
    assert client.get("/").status_code == 200
    cookie = saved_cookie(client)
    assert browser_with(app, cookie).get("/").status_code == 200  # the copy works while logged in

    logout(client)
    for path in ("/", "/cases", "/settings", "/account/password"):
        replayed = browser_with(app, cookie).get(path)
        assert replayed.status_code == 302, path
        assert replayed.headers["Location"].startswith("/login")
    assert client.get("/").status_code == 302


def test_logout_ends_only_this_browsers_session(app, demo):
    phone, laptop = app.test_client(), app.test_client()
    login(phone, demo["resident"])
    login(laptop, demo["resident"])
    logout(phone)
    assert phone.get("/").status_code == 302
    assert laptop.get("/").status_code == 200


def test_a_signed_cookie_without_a_live_session_is_not_logged_in(app, demo, runtime):
    """The cookie is signed, but a signature alone proves nothing: the server must know it."""
    with runtime.sessions() as session:
        account_id = session.scalar(
            select(Account.id).where(Account.login == demo["resident"]["login"])
        )
    forged = app.test_client()
    with forged.session_transaction() as cookie_session:
        cookie_session["_user_id"] = str(account_id)  # as cookies said before sessions were kept
        cookie_session["_fresh"] = True
    assert forged.get("/").status_code == 302
    with forged.session_transaction() as cookie_session:
        cookie_session["portal_session"] = "a-token-nobody-issued"
    assert forged.get("/").status_code == 302


def test_a_password_change_ends_every_other_session_and_keeps_this_one(app, demo):
    resident = demo["resident"]
    here, elsewhere = app.test_client(), app.test_client()
    login(here, resident)
    login(elsewhere, resident)
    before = saved_cookie(here)

    changed = change_password(here, resident["password"], "ein-neues-Passwort-2026")
    assert changed.status_code == 302
    assert changed.headers["Location"] == "/account/password"
    assert here.get("/").status_code == 200  # this browser stays logged in, with a new token
    assert elsewhere.get("/").status_code == 302
    assert browser_with(app, before).get("/").status_code == 302  # its old cookie is dead too

    old = {**resident}
    new = {**resident, "password": "ein-neues-Passwort-2026"}
    fresh = app.test_client()
    page = fresh.get("/login")
    token = csrf_token(page.get_data(as_text=True))
    wrong = fresh.post(
        "/login", data={"login": old["login"], "password": old["password"], "csrf_token": token}
    )
    assert wrong.status_code == 401
    login(fresh, new)


@pytest.mark.parametrize(
    ("current", "new", "repeated", "field"),
    [
        ("{password}", "kurz", "kurz", "new_password"),
        ("{password}", "ein-neues-Passwort", "ein-anderes-Passwort", "repeated_password"),
        ("{password}", "{password}", "{password}", "new_password"),
        ("falsch-geraten", "ein-neues-Passwort", "ein-neues-Passwort", "current_password"),
    ],
)
def test_the_password_form_says_what_is_wrong(app, demo, current, new, repeated, field):
    resident = demo["resident"]
    client = app.test_client()
    login(client, resident)
    values = [v.format(password=resident["password"]) for v in (current, new, repeated)]
    response = change_password(client, *values)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'href="#field-{field}"' in html  # the error summary links to the field
    assert f'id="field-{field}-error"' in html
    assert client.get("/").status_code == 200  # nothing ended
    login(app.test_client(), resident)  # the password is unchanged


def test_the_password_form_is_labelled_and_linked_from_the_navigation(app, demo):
    for role in ("resident", "clerk", "archivist"):
        client = app.test_client()
        login(client, demo[role])
        page = client.get("/cases").get_data(as_text=True)
        assert 'href="/account/password"' in page, role
    form = client.get("/account/password").get_data(as_text=True)
    for name, autocomplete in [
        ("current_password", "current-password"),
        ("new_password", "new-password"),
        ("repeated_password", "new-password"),
    ]:
        assert f'<label class="field-label" for="field-{name}">' in form
        assert f'id="field-{name}" name="{name}"' in form
        assert f'autocomplete="{autocomplete}"' in form
    assert 'name="csrf_token"' in form


def test_guessing_through_the_password_form_is_throttled_like_the_login(app, demo):
    resident = demo["resident"]
    client = app.test_client()
    login(client, resident)
    statuses = [
        change_password(client, "falsch-geraten", "ein-neues-Passwort").status_code
        for _ in range(6)
    ]
    assert statuses == [422, 422, 422, 422, 429, 429]
    # Typing slips in the new password are not guesses: they cost no attempt.
    other = app.test_client()
    login(other, demo["other_resident"])
    slips = [change_password(other, "egal", "kurz").status_code for _ in range(6)]
    assert slips == [422] * 6


def test_sessions_end_after_idling_and_some_hours_after_the_login(app, demo, runtime):
    idle = dt.timedelta(minutes=runtime.config.session_idle_minutes)
    lifetime = dt.timedelta(hours=runtime.config.session_max_hours)
    now = dt.datetime.now(dt.UTC)

    idler = app.test_client()
    login(idler, demo["resident"])
    with runtime.transaction() as session:
        session.execute(
            update(LoginSession).values(last_seen_at=now - idle - dt.timedelta(minutes=1))
        )
    assert idler.get("/").status_code == 302

    busy = app.test_client()
    login(busy, demo["resident"])
    with runtime.transaction() as session:
        session.execute(update(LoginSession).values(last_seen_at=now - dt.timedelta(minutes=5)))
    assert busy.get("/").status_code == 200
    with runtime.sessions() as session:
        seen = session.scalars(select(LoginSession.last_seen_at)).one()
    assert seen > now - dt.timedelta(minutes=1)  # a request keeps the session alive

    with runtime.transaction() as session:
        session.execute(update(LoginSession).values(created_at=now - lifetime))
    assert busy.get("/").status_code == 302
    with runtime.sessions() as session:
        assert session.scalars(select(LoginSession)).all() == []  # expired rows are removed
