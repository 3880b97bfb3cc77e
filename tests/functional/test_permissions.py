"""Who may see what: every route against every role, including other people's records."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from casefiles.models import DocumentVersion
from mailbox.models import Delivery
from tests.conftest import login
from tests.functional.test_core_loop import deliver_letter


@pytest.fixture
def world(app, demo, pdf, runtime):
    """One delivery from the city to the first resident, and its ids."""
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    response = deliver_letter(clerk, demo["resident"]["ahvn13"], pdf())
    assert response.status_code == 302
    with runtime.sessions() as session:
        delivery = session.scalars(select(Delivery)).one()
        version = session.scalars(select(DocumentVersion)).one()
        return {
            "message": f"/messages/{delivery.id}",
            "case": f"/cases/{delivery.message.case_id}",
            "document": f"/documents/{version.id}",
        }


ROUTES = ["/", "/cases", "/office/", "/office/deliver", "message", "case", "document"]
# role -> expected status per route (302 to login for the anonymous; 302 for a resident's
# document before the delivery is opened: it leads to the message with the legal notice).
EXPECTED = {
    "anonymous": [302, 302, 302, 302, 302, 302, 302],
    "resident": [200, 200, 403, 403, 200, 200, 302],
    "other_resident": [200, 200, 403, 403, 404, 404, 404],
    "clerk": [302, 200, 200, 200, 302, 200, 200],
    "other_clerk": [302, 200, 200, 200, 404, 404, 404],
    # Archivists see closed case files only (issue 10); this one is open.
    "archivist": [302, 200, 403, 403, 404, 404, 404],
}
MATRIX = [
    (role, route, status)
    for role, statuses in EXPECTED.items()
    for route, status in zip(ROUTES, statuses, strict=True)
]


@pytest.mark.parametrize(("role", "route", "status"), MATRIX)
def test_access_matrix(app, demo, world, role, route, status):
    client = app.test_client()
    if role != "anonymous":
        login(client, demo[role])
    response = client.get(world.get(route, route))
    assert response.status_code == status
    if role == "anonymous":
        assert "/login" in response.headers["Location"]


def test_other_resident_sees_nothing_in_lists(app, demo, world):
    client = app.test_client()
    login(client, demo["other_resident"])
    assert world["message"] not in client.get("/").get_data(as_text=True)
    assert world["case"] not in client.get("/cases").get_data(as_text=True)


def test_other_resident_cannot_open_a_foreign_delivery(app, demo, world, runtime):
    client = app.test_client()
    login(client, demo["other_resident"])
    page = client.get("/cases").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(world["message"] + "/open", data={"csrf_token": token})
    assert response.status_code == 404
    with runtime.sessions() as session:
        assert session.scalars(select(Delivery)).one().status == "available"


def test_login_redirect_stays_on_site(client, demo):
    page = client.get("/login?next=https://evil.example/")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    response = client.post(
        "/login?next=https://evil.example/",
        data={
            "login": demo["resident"]["login"],
            "password": demo["resident"]["password"],
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    assert "evil.example" not in response.headers["Location"]


def test_pages_send_security_headers(client, demo):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    set_cookie = client.get("/login?lang=fr").headers.get("Set-Cookie", "")
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
