"""Who may change what: the state-changing routes (open, withdraw, reply, mark handled, consent)
against every role. A refused request answers 403 or 404 and changes nothing."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from directory.consent import active_consent
from directory.models import Party
from mailbox.models import Delivery, Direction, Message
from tests.conftest import login, make_pdf, post_multipart
from tests.functional.test_core_loop import deliver_letter


def _token(client) -> str:
    page = client.get("/cases").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _post(client, path: str, **data):
    return client.post(path, data={"csrf_token": _token(client), **data})


@pytest.fixture
def world(app, demo, runtime):
    """An opened delivery with a reply from its resident, and a second one not yet opened."""
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    for subject in ("Erster Brief", "Zweiter Brief"):
        assert deliver_letter(clerk, demo["resident"]["ahvn13"], make_pdf(), subject).status_code
    resident = app.test_client()
    login(resident, demo["resident"])
    with runtime.sessions() as session:
        first, second = (
            session.scalars(select(Delivery).join(Message).where(Message.subject == subject)).one()
            for subject in ("Erster Brief", "Zweiter Brief")
        )
        ids = {"opened": first.id, "unopened": second.id, "case": first.message.case_id}
    assert _post(resident, f"/messages/{ids['opened']}/open").status_code == 302
    sent = post_multipart(
        resident,
        f"/cases/{ids['case']}/reply",
        {
            "csrf_token": _token(resident),
            "text": "Meine Antwort",
            "files": [(io.BytesIO(make_pdf("Beilage")), "beilage.pdf")],
        },
    )
    assert sent.status_code == 302
    with runtime.sessions() as session:
        ids["reply"] = session.scalars(
            select(Message.id).where(Message.direction == Direction.INBOUND)
        ).one()
    return ids


def _state(runtime):
    """Everything the routes below may change."""
    with runtime.sessions() as session:
        deliveries = sorted((str(d.id), d.status.value) for d in session.scalars(select(Delivery)))
        messages = session.scalar(select(func.count()).select_from(Message))
        handled = session.scalar(select(func.count()).where(Message.handled_at.is_not(None)))
        consents = sorted(
            (p.display_name, active_consent(session, p.id) is not None)
            for p in session.scalars(select(Party))
        )
    return deliveries, messages, handled, consents


ROLES = ["resident", "other_resident", "clerk", "other_clerk", "archivist"]
# route -> status per role in ROLES; 302 is the one allowed to act (it changes the state). A
# resident's route answers anyone else 404, as for what does not exist; the office's routes
# answer a non-clerk 403 (the office as such is closed to them) and another office's clerk 404.
EXPECTED = {
    "open": [302, 404, 404, 404, 404],
    "withdraw": [403, 403, 302, 404, 403],
    "reply": [302, 404, 404, 404, 404],
    "handled": [403, 403, 302, 404, 403],
}


def _request(client, route: str, ids):
    if route == "open":
        return _post(client, f"/messages/{ids['unopened']}/open")
    if route == "withdraw":
        return _post(client, f"/office/deliveries/{ids['unopened']}/withdraw", reason="Irrtum")
    if route == "reply":
        return _post(client, f"/cases/{ids['case']}/reply", text="Noch etwas")
    return _post(client, f"/office/replies/{ids['reply']}/handled")


@pytest.mark.parametrize(
    ("route", "role", "status"),
    [
        (route, role, s)
        for route, codes in EXPECTED.items()
        for role, s in zip(ROLES, codes, strict=True)
    ],
)
def test_state_changing_routes(app, demo, runtime, world, route, role, status):
    client = app.test_client()
    login(client, demo[role])
    before = _state(runtime)
    response = _request(client, route, world)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    if status == 302:
        assert _state(runtime) != before
    else:
        assert _state(runtime) == before


@pytest.mark.parametrize("role", ROLES)
def test_consent_changes_only_ones_own(app, demo, runtime, role):
    client = app.test_client()
    login(client, demo[role])
    before = dict(_state(runtime)[3])
    response = _post(client, "/settings", consent="revoke")
    assert response.status_code == 302
    after = dict(_state(runtime)[3])
    changed = {name for name in before if before[name] != after[name]}
    assert changed == ({demo[role]["name"]} if role.endswith("resident") else set())


def test_a_write_without_csrf_token_is_refused(app, demo, runtime, world):
    client = app.test_client()
    login(client, demo["resident"])
    before = _state(runtime)
    response = client.post(f"/messages/{world['unopened']}/open")
    assert response.status_code == 400
    assert _state(runtime) == before
