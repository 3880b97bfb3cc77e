"""Probes of the steps, fees and routing from the outside: another authority's ids through the
API and the office pages, forged and malformed outcomes, a forward to an office that does not
exist, odd query strings for the public routing endpoint. Every refusal is a 4xx (problem+json
in the API), never a 500, and stores nothing."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from casefiles.models import CaseAuthority, CaseFile, Document, JournalEntry
from catalogue.models import Fee, FeeStatus, Step, StepStatus
from mailbox.models import Message
from storage.blobs import Blob
from tests.api.support import API, Api, assert_problem, b64
from tests.api.test_steps_api import DOG
from tests.conftest import csrf_token, login, make_pdf, post_multipart
from tests.support import hostile
from tests.support.ordering_world import PASSWORD, actor_of, clerk_of, place


def _counts(runtime: Any) -> dict[str, int]:
    with runtime.sessions() as session:
        counted = {
            model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (CaseFile, JournalEntry, Message, Document, Blob, CaseAuthority)
        }
        counted["claimed_or_finished"] = (
            session.scalar(
                select(func.count()).select_from(Step).where(Step.status != StepStatus.OPEN)
            )
            or 0
        )
    counted["objects"] = sum(1 for _ in runtime.objects.store.iter_keys())
    return counted


def _no_500(response: Any) -> Any:
    assert response.status_code < 500, response.get_data(as_text=True)[:2000]
    return response


@pytest.fixture
def dog_step(runtime: Any, demo: dict[str, Any]) -> str:
    """Anna (Luzern) registers her dog: an open step at Stadt Luzern (the demo key's office)."""
    anna = actor_of(runtime, demo["resident"]["login"])
    case_id = place(runtime, anna, "hund-anmelden", DOG)
    with runtime.sessions() as session:
        return str(session.scalars(select(Step.id).where(Step.case_id == case_id)).one())


def _web_clerk(app: Any, runtime: Any, slug: str) -> FlaskClient:
    clerk_of(runtime, slug)
    client = app.test_client()
    login(client, {"login": f"clerk@{slug}.test", "password": PASSWORD})
    return client


def _token(client: FlaskClient) -> str:
    return csrf_token(client.get("/office/steps").get_data(as_text=True))


# --- The API: another authority's ids ------------------------------------------------------


def test_another_authoritys_step_is_404_for_every_verb(api, other_api, dog_step, runtime):
    before = _counts(runtime)
    assert_problem(other_api.get(f"/steps/{dog_step}"), 404)
    assert_problem(other_api.post_json(f"/steps/{dog_step}/claim"), 404)
    for body in (
        {"outcome": "done"},
        {"outcome": "forwarded", "to_authority": "lu-steuern", "reason": "Unsere Sache"},
        {"outcome": "rejected", "reason": "Nein"},
        {"outcome": "bogus"},  # even a malformed body: 404 first, nothing about the step said
    ):
        assert_problem(other_api.post_json(f"/steps/{dog_step}/outcome", body), 404)
    assert other_api.get("/steps?status=open").get_json()["items"] == []
    assert _counts(runtime) == before


@pytest.mark.parametrize("odd", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "%00"])
def test_odd_step_ids_are_404(api, odd):
    _no_500(api.client.get(f"{API}/steps/{odd}", headers=api.headers()))
    assert api.client.get(f"{API}/steps/{odd}", headers=api.headers()).status_code == 404
    assert api.client.post(f"{API}/steps/{odd}/claim", headers=api.headers()).status_code == 404


def test_a_forward_to_no_authority_is_refused_and_stores_nothing(api, dog_step, runtime):
    assert api.post_json(f"/steps/{dog_step}/claim").status_code == 200
    before = _counts(runtime)
    for target in (
        "no-such-office",
        "",
        "x" * 5000,
        "LU-STEUERN",
        "lu-steuern\x00",
        str(uuid.uuid4()),
        "stadt-luzern-einwohnerdienste",  # itself
    ):
        body = {"outcome": "forwarded", "to_authority": target, "reason": "Falsch zugestellt"}
        problem = assert_problem(_no_500(api.post_json(f"/steps/{dog_step}/outcome", body)), 422)
        assert problem["detail"], target
    assert _counts(runtime) == before
    with runtime.sessions() as session:
        assert session.get_one(Step, uuid.UUID(dog_step)).status == StepStatus.CLAIMED


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "done",
        {"outcome": None},
        {"outcome": "done", "note": ["a"]},
        {"outcome": "done", "note": "x" * 200_000},
        {"outcome": "done", "note": "a\x00b"},
        {"outcome": "rejected", "reason": {"de": "nein"}},
        {"outcome": "needs_information", "question": "Welche Rasse?", "days": "30"},
        {"outcome": "needs_information", "question": "Welche Rasse?", "days": -1},
        {"outcome": "needs_information", "question": "Welche Rasse?", "days": 10**30},
        {"outcome": "needs_information", "question": "Welche Rasse?", "days": True},
        {"outcome": "needs_information", "question": "Welche Rasse?", "days": 1.5},
        {"outcome": "decided", "subject": "S", "fee": "1e5"},
        {"outcome": "decided", "subject": "S", "fee": "-1.00"},
        {"outcome": "decided", "subject": "S", "fee": 20},
        {"outcome": "decided", "subject": "S", "fee": "NaN"},
        {"outcome": "decided", "subject": "S", "appeal_days": 10**30},
        {"outcome": "decided", "subject": "S", "documents": "a.pdf"},
        {"outcome": "decided", "subject": "S", "documents": [{"filename": "a.pdf"}]},
        {
            "outcome": "decided",
            "subject": "S",
            "documents": [{"filename": "a.pdf", "content_base64": "!!!not base64!!!"}],
        },
        {"outcome": "decided", "subject": "S", "documents": [None, 1, "x"]},
    ],
    ids=lambda b: repr(b)[:40],
)
def test_malformed_outcomes_are_422_and_store_nothing(api, dog_step, runtime, body):
    assert api.post_json(f"/steps/{dog_step}/claim").status_code == 200
    before = _counts(runtime)
    response = _no_500(
        api.client.post(f"{API}/steps/{dog_step}/outcome", json=body, headers=api.headers())
    )
    assert response.status_code in (400, 415, 422), response.status_code
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert _counts(runtime) == before


@pytest.mark.parametrize("kind", [[], {}, ["done"]], ids=["list", "object", "list-of-kind"])
def test_an_outcome_kind_that_is_no_string_is_422(api, dog_step, runtime, kind):
    assert api.post_json(f"/steps/{dog_step}/claim").status_code == 200
    before = _counts(runtime)
    response = api.client.post(
        f"{API}/steps/{dog_step}/outcome", json={"outcome": kind}, headers=api.headers()
    )
    assert response.status_code == 422, response.status_code
    assert _counts(runtime) == before


def test_a_hostile_pdf_in_a_decision_is_refused_and_stores_nothing(api, dog_step, runtime):
    assert api.post_json(f"/steps/{dog_step}/claim").status_code == 200
    before = _counts(runtime)
    for make in (hostile.javascript_open_action, hostile.launch_link, hostile.embedded_file):
        body = {
            "outcome": "decided",
            "subject": "Hund",
            "body": "Registriert.",
            "documents": [{"filename": "v.pdf", "content_base64": b64(make())}],
        }
        assert_problem(_no_500(api.post_json(f"/steps/{dog_step}/outcome", body)), 422)
    assert _counts(runtime) == before


def test_an_outcome_on_a_finished_step_is_refused(api, dog_step, runtime):
    assert api.post_json(f"/steps/{dog_step}/claim").status_code == 200
    done = api.post_json(f"/steps/{dog_step}/outcome", {"outcome": "done", "note": "Erledigt"})
    assert done.status_code == 200, done.get_data(as_text=True)
    before = _counts(runtime)
    for body in (
        {"outcome": "done"},
        {"outcome": "rejected", "reason": "Doch nicht"},
        {
            "outcome": "decided",
            "subject": "S",
            "documents": [{"filename": "a.pdf", "content_base64": b64(make_pdf())}],
        },
    ):
        response = _no_500(api.post_json(f"/steps/{dog_step}/outcome", body))
        assert response.status_code in (409, 422), response.status_code
    assert _no_500(api.post_json(f"/steps/{dog_step}/claim")).status_code in (409, 422)
    assert _counts(runtime) == before


# --- Fees --------------------------------------------------------------------------------


def _decided_dog_fee(api: Api, dog_step: str, runtime: Any) -> str:
    assert api.post_json(f"/steps/{dog_step}/claim").status_code == 200
    decided = api.post_json(
        f"/steps/{dog_step}/outcome",
        {
            "outcome": "decided",
            "subject": "Hund registriert",
            "body": "Bello ist registriert.",
            "appeal_days": 30,
        },
    )
    assert decided.status_code == 200, decided.get_data(as_text=True)
    with runtime.sessions() as session:
        step = session.get_one(Step, uuid.UUID(dog_step))
        return str(session.scalars(select(Fee.id).where(Fee.case_id == step.case_id)).one())


def test_another_authoritys_fee_cannot_be_marked_paid(api, other_api, dog_step, runtime, app):
    fee_id = _decided_dog_fee(api, dog_step, runtime)
    before = _counts(runtime)
    assert_problem(other_api.post_json(f"/fees/{fee_id}/paid", {"paid": True}), 404)
    assert_problem(other_api.post_json(f"/fees/{fee_id}/paid", "garbage"), 404)
    # On the office pages: the tax office's clerk gets 404, a made-up id 404.
    taxes = _web_clerk(app, runtime, "lu-steuern")
    token = _token(taxes)
    assert taxes.post(f"/office/fees/{fee_id}/paid", data={"csrf_token": token}).status_code == 404
    for odd in (str(uuid.uuid4()), "not-a-uuid"):
        assert taxes.post(f"/office/fees/{odd}/paid", data={"csrf_token": token}).status_code == 404
    # The right office without the token: 400, nothing changes.
    luzern = _web_clerk(app, runtime, "stadt-luzern-einwohnerdienste")
    assert luzern.post(f"/office/fees/{fee_id}/paid").status_code == 400
    assert _counts(runtime) == before
    with runtime.sessions() as session:
        assert session.get_one(Fee, uuid.UUID(fee_id)).status == FeeStatus.BILLED


# --- The office pages ----------------------------------------------------------------------


def test_another_authoritys_step_on_the_office_pages_is_404(app, dog_step, runtime):
    taxes = _web_clerk(app, runtime, "lu-steuern")
    token = _token(taxes)
    before = _counts(runtime)
    assert taxes.get(f"/office/steps/{dog_step}").status_code == 404
    assert (
        taxes.post(f"/office/steps/{dog_step}/claim", data={"csrf_token": token}).status_code == 404
    )
    assert (
        taxes.post(f"/office/steps/{dog_step}/release", data={"csrf_token": token}).status_code
        == 404
    )
    outcome = {
        "csrf_token": token,
        "kind": "forwarded",
        "to_authority": "lu-steuern",
        "reason": "Wir übernehmen",
    }
    assert taxes.post(f"/office/steps/{dog_step}/outcome", data=outcome).status_code == 404
    for odd in ("not-a-uuid", str(uuid.uuid4())):
        assert taxes.get(f"/office/steps/{odd}").status_code == 404
    assert dog_step not in taxes.get("/office/steps").get_data(as_text=True)
    assert _counts(runtime) == before


@pytest.mark.parametrize(
    "values",
    [
        {"kind": "forwarded", "to_authority": "no-such-office", "reason": "Falsch"},
        {"kind": "forwarded", "to_authority": "", "reason": "Falsch"},
        {"kind": "needs_information", "question": "Rasse?", "days": "²"},
        {"kind": "needs_information", "question": "Rasse?", "days": "9" * 400},
        {"kind": "needs_information", "question": "Rasse?", "days": "0"},
        {"kind": "decided", "subject": "S", "body": "B", "fee": "NaN"},
        {"kind": "decided", "subject": "S", "body": "B", "fee": "Infinity"},
        {"kind": "decided", "subject": "S", "body": "B", "fee": "1e999999"},
        {"kind": "decided", "subject": "S", "body": "B", "fee": "-20"},
        {"kind": "decided", "subject": "S", "body": "B", "appeal_days": "٣٠٠٠"},
        {"kind": "nonsense"},
        {"kind": ""},
        # PostgreSQL text holds no NUL: a 500 there unless refused first.
        {"kind": "done", "note": "Erledigt\x00"},
        {"kind": "rejected", "reason": "Nein\x00"},
        {"kind": "needs_information", "question": "Rasse\x00?", "days": "10"},
        {"kind": "forwarded", "to_authority": "lu-steuern", "reason": "Steuern\x00"},
        {"kind": "decided", "subject": "S\x00", "body": "B"},
        {"kind": "decided", "subject": "S", "body": "B\x00"},
    ],
    ids=lambda v: "-".join(f"{k}={str(x)[:12]}" for k, x in v.items() if k != "csrf_token"),
)
def test_forged_outcomes_on_the_office_page_are_refused(app, dog_step, runtime, values):
    luzern = _web_clerk(app, runtime, "stadt-luzern-einwohnerdienste")
    token = _token(luzern)
    assert (
        luzern.post(f"/office/steps/{dog_step}/claim", data={"csrf_token": token}).status_code
        == 302
    )
    before = _counts(runtime)
    response = _no_500(
        luzern.post(f"/office/steps/{dog_step}/outcome", data={"csrf_token": token, **values})
    )
    assert response.status_code in (409, 422), response.status_code
    assert _counts(runtime) == before
    with runtime.sessions() as session:
        assert session.get_one(Step, uuid.UUID(dog_step)).status == StepStatus.CLAIMED


# --- The public routing endpoint -----------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "service=wohnsitzbestaetigung&bfs=0",
        "service=wohnsitzbestaetigung&bfs=-1",
        "service=wohnsitzbestaetigung&bfs=99999999",
        "service=wohnsitzbestaetigung&bfs=Luzern",
        "service=wohnsitzbestaetigung&bfs=",
        "service=wohnsitzbestaetigung",
        "bfs=1061",
        "",
        "service=wohnsitzbestaetigung&bfs=%D9%A1%D9%A0%D9%A6%D9%A1",  # Arabic-Indic 1061
        "service=wohnsitzbestaetigung&bfs=1061%00",
        "service=wohnsitzbestaetigung&bfs=+1061",
        "service=wohnsitzbestaetigung&bfs=1061.0",
        "service=WOHNSITZ&bfs=1061",
        "service=wohnsitzbestaetigung&bfs=1061&step=%00",
        "service=wohnsitzbestaetigung&bfs=1061&extra=1",
        "service=" + "a" * 5000 + "&bfs=1061",
    ],
)
def test_odd_routing_queries_are_422(app, demo, query):
    response = _no_500(app.test_client().get(f"{API}/routing?{query}"))
    assert response.status_code == 422, (query[:80], response.status_code)
    assert response.headers["Content-Type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "query, code",
    [
        ("service=no-such-service&bfs=1061", 404),
        ("service=wohnsitzbestaetigung&bfs=9999", 404),
        ("service=wohnsitzbestaetigung&bfs=1061&step=nope", 404),
        ("service=wohnsitzbestaetigung&bfs=1061", 200),
        ("service=wohnsitzbestaetigung&bfs=01061", 422),  # five digits: no BFS number
    ],
)
def test_routing_answers(app, demo, query, code):
    response = _no_500(app.test_client().get(f"{API}/routing?{query}"))
    assert response.status_code == code, (query, response.get_data(as_text=True)[:300])


def test_repeated_routing_parameters_are_refused(app, demo):
    """?bfs=1061&bfs=1024: which one did the caller mean? Taking the first silently answers
    for a commune the caller may not have meant."""
    client = app.test_client()
    for query in (
        "service=wohnsitzbestaetigung&bfs=1061&bfs=1024",
        "service=wohnsitzbestaetigung&service=hund-anmelden&bfs=1061",
    ):
        response = _no_500(client.get(f"{API}/routing?{query}"))
        assert response.status_code == 422, (query, response.status_code)


def test_an_odd_period_on_the_delivery_form_is_422(app, demo, runtime):
    """The office's delivery form (not new in this issue, probed while here): "²" passed
    str.isdigit() and then failed in int() with a 500."""
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    page = clerk.get("/office/deliver")
    before = _counts(runtime)
    response = _no_500(
        clerk.post(
            "/office/deliver",
            data={
                "csrf_token": csrf_token(page.get_data(as_text=True)),
                "recipient": demo["resident"]["ahvn13"],
                "kind": "decision",
                "subject": "Verfügung",
                "body": "Text",
                "appeal_period_days": "²",
            },
        )
    )
    assert response.status_code == 422
    assert _counts(runtime) == before


@pytest.mark.parametrize("field", ["subject", "body"])
def test_a_nul_in_a_delivery_from_the_office_page_is_no_500(app, demo, runtime, field):
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    page = clerk.get("/office/deliver")
    data = {
        "csrf_token": csrf_token(page.get_data(as_text=True)),
        "recipient": demo["resident"]["ahvn13"],
        "kind": "decision",
        "subject": "Verfügung",
        "body": "Text",
        "files": (io.BytesIO(make_pdf()), "v.pdf"),
    }
    data[field] += "\x00"
    before = _counts(runtime)
    response = _no_500(post_multipart(clerk, "/office/deliver", data))
    assert response.status_code == 422
    assert _counts(runtime) == before


@pytest.mark.parametrize("query", ["q=%00", "q=" + "a" * 10000, "q=%E2%80%AE", "topic=%00&level=x"])
def test_odd_catalogue_searches_are_no_500(app, demo, query):
    assert _no_500(app.test_client().get(f"/services?{query}")).status_code in (200, 400, 422)


@pytest.mark.parametrize(
    "query",
    [
        "status=bogus",
        "status=",
        "status=open&status=done",
        "limit=-1",
        "limit=0",
        "limit=99999999999999999999",
        "limit=abc",
        "offset=-5",
        "offset=1e3",
        "service=%00",
        "service=" + "a" * 3000,
        "mine=perhaps",
    ],
)
def test_odd_queue_queries_get_no_500(api, dog_step, query):
    response = _no_500(api.client.get(f"{API}/steps?{query}", headers=api.headers()))
    assert response.status_code in (200, 422), (query[:40], response.status_code)
    if response.status_code == 422:
        assert response.headers["Content-Type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "query",
    [
        "status=bogus",
        "status=open&service=%00",
        "service=" + "a" * 3000,
        "mine=2",
        "offset=-1",
        "page=abc",
        "limit=%00",
    ],
)
def test_odd_queue_filters_on_the_office_page_get_no_500(app, runtime, dog_step, query):
    luzern = _web_clerk(app, runtime, "stadt-luzern-einwohnerdienste")
    response = _no_500(luzern.get(f"/office/steps?{query}"))
    assert response.status_code in (200, 400, 422), (query[:40], response.status_code)


def test_a_waiting_step_cannot_be_claimed_or_decided(app, runtime, demo):
    """A move: the steps after the first wait; their office cannot jump the queue."""
    from tests.functional.test_steps import MOVE

    anna = actor_of(runtime, demo["resident"]["login"])
    case_id = place(runtime, anna, "umzug-melden", MOVE)
    with runtime.sessions() as session:
        waiting = [
            (s.id, s.authority.slug)
            for s in session.scalars(select(Step).where(Step.case_id == case_id))
            if s.status == StepStatus.WAITING and s.authority is not None
        ]
    assert waiting, "the move has no waiting step to probe"
    step_id, slug = waiting[0]
    office = _web_clerk(app, runtime, slug)
    token = _token(office)
    before = _counts(runtime)
    claimed = _no_500(office.post(f"/office/steps/{step_id}/claim", data={"csrf_token": token}))
    assert claimed.status_code == 409, claimed.status_code
    outcome = {"csrf_token": token, "kind": "done", "note": "Vorgezogen"}
    decided = _no_500(office.post(f"/office/steps/{step_id}/outcome", data=outcome))
    assert decided.status_code in (409, 422), decided.status_code
    assert _counts(runtime) == before
    with runtime.sessions() as session:
        assert session.get_one(Step, step_id).status == StepStatus.WAITING
