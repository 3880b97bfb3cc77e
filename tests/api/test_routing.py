"""GET /api/v1/routing from another portal's side: no key, the same rules as the portal's own
routing, problems for bad input; every answer checked against the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from catalogue import registry
from tests.api.support import API, documented


@pytest.fixture
def public(app: Flask, demo: dict[str, Any]) -> FlaskClient:
    """A client without any key or login, after the demo (communes, authorities) exists."""
    return app.test_client()


def get(client: FlaskClient, query: str, headers: dict[str, str] | None = None) -> Any:
    return documented(client, client.get(f"{API}/routing{query}", headers=headers or {}))


@pytest.mark.parametrize(
    ("query", "slug", "level"),
    [
        ("?service=wohnsitzbestaetigung&bfs=1061", "stadt-luzern-einwohnerdienste", "commune"),
        ("?service=wohnsitzbestaetigung&bfs=1024", "emmen-einwohnerdienste", "commune"),
        ("?service=betreibungsregisterauszug&bfs=1059", "betreibungsamt-luzern", "commune"),
        ("?service=betreibungsregisterauszug&bfs=1024", "betreibungsamt-emmen", "commune"),
        ("?service=niederlassungsbewilligung-c&bfs=1024", "lu-migration", "canton"),
    ],
)
def test_the_responsible_authority_without_a_key(
    public: FlaskClient, query: str, slug: str, level: str
) -> None:
    response = get(public, query)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["authority"]["slug"] == slug
    assert body["authority"]["level"] == level
    assert body["authority"]["name"] and body["authority"]["id"]
    assert body["service"] == query.split("=")[1].split("&")[0]


def test_a_step_with_its_own_office(public: FlaskClient) -> None:
    move = registry.default().get("umzug-melden")
    if move is None:
        pytest.skip("umzug-melden is not declared")
    offices = [s for s in move.steps if s.responsible and s.responsible.rule == "office"]
    assert offices
    step = offices[0]
    assert step.responsible is not None
    response = get(public, f"?service=umzug-melden&bfs=1058&step={step.id}")
    assert response.status_code == 200
    assert response.get_json()["authority"]["slug"] == step.responsible.authority
    missing = get(public, "?service=umzug-melden&bfs=1058&step=no_such_step")
    assert missing.status_code == 404


def test_an_api_key_is_not_needed_but_a_wrong_one_does_no_harm(public: FlaskClient) -> None:
    response = get(public, "?service=wohnsitzbestaetigung&bfs=1061", {"Authorization": "Bearer x"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("", 422, "service"),
        ("?service=wohnsitzbestaetigung", 422, "bfs"),
        ("?bfs=1061", 422, "service"),
        ("?service=wohnsitzbestaetigung&bfs=Luzern", 422, "bfs"),
        ("?service=wohnsitzbestaetigung&bfs=0", 422, "bfs"),
        ("?service=wohnsitzbestaetigung&bfs=10610", 422, "bfs"),
        ("?service=wohnsitzbestaetigung&bfs=-1", 422, "bfs"),
        ("?service=Wohnsitz%00&bfs=1061", 422, "service"),
        ("?service=wohnsitzbestaetigung&bfs=1061&colour=red", 422, "colour"),
        ("?service=gibt-es-nicht&bfs=1061", 404, None),
        ("?service=wohnsitzbestaetigung&bfs=9999", 404, None),
    ],
)
def test_bad_input_gets_a_problem(
    public: FlaskClient, query: str, status: int, field: str | None
) -> None:
    response = get(public, query)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    if field is not None:
        assert field in [e["field"] for e in problem["errors"]]
    else:
        assert problem["code"] == "not_found"


def test_a_commune_without_that_office_is_not_routable(public: FlaskClient, runtime: Any) -> None:
    from directory.models import Commune

    with runtime.transaction() as session:
        session.add(Commune(bfs=1199, name="Nirgendwil", canton="LU"))
    response = get(public, "?service=wohnsitzbestaetigung&bfs=1199")
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_routable"
    assert "Nirgendwil" in response.get_json()["detail"]


def test_writes_are_refused(public: FlaskClient) -> None:
    # Not an operation of the document, so openapi-core has nothing to check it against.
    response = public.post(f"{API}/routing?service=x&bfs=1")
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_the_document_lists_the_public_operation(public: FlaskClient) -> None:
    spec = public.get(f"{API}/openapi.json").get_json()
    operation = spec["paths"]["/routing"]["get"]
    assert operation["security"] == []
    assert {p["name"] for p in operation["parameters"]} == {"service", "bfs", "step"}
