"""The steps API for specialist applications, with a real key, every answer checked against
the OpenAPI document: the queue of the key's authority, one step, claiming and outcomes; another
authority's step is 404, a forged outcome is refused with the member named and stores nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from casefiles.models import JournalEntry
from catalogue.models import Step
from directory.api_clients import create_api_client
from directory.operations import find_authority
from mailbox.models import Delivery, Message, WebhookEvent
from tests.api.support import Api, assert_problem, b64, error_fields
from tests.conftest import make_pdf
from tests.functional.test_steps import MOVE
from tests.support.ordering_world import actor_of, place

DOG = {
    "dog_name": "Bello",
    "breed": "Labrador",
    "dog_birth_date": "2024-03-01",
    "microchip": "756098765432101",
    "kept_since": "2025-01-01",
    "previous_commune": "no",
}


def _journal_count(runtime: Any) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(JournalEntry)) or 0


@pytest.fixture
def dog_step(runtime: Any, demo: dict[str, Any]) -> str:
    """Anna (Luzern) registers her dog: a step at Stadt Luzern, the demo API client's office."""
    anna = actor_of(runtime, demo["resident"]["login"])
    case_id = place(runtime, anna, "hund-anmelden", DOG)
    with runtime.sessions() as session:
        return str(session.scalars(select(Step.id).where(Step.case_id == case_id)).one())


def test_queue_claim_and_decide(api: Api, other_api: Api, dog_step: str, runtime: Any):
    listed = api.get("/steps?status=open")
    assert listed.status_code == 200, listed.get_data(as_text=True)
    [item] = [i for i in listed.get_json()["items"] if i["id"] == dog_step]
    assert item["status"] == "open" and item["case"]["service"] == "hund-anmelden"
    assert item["authority"]["name"] == "Stadt Luzern, Einwohnerdienste"
    assert api.get("/steps?service=hund-anmelden").get_json()["items"][0]["id"] == dog_step
    assert api.get("/steps?status=done").get_json()["items"] == []
    # Another authority's key: not in its queue, 404 for everything.
    assert other_api.get("/steps?status=open").get_json()["items"] == []
    assert_problem(other_api.get(f"/steps/{dog_step}"), 404)
    assert_problem(other_api.post_json(f"/steps/{dog_step}/claim"), 404)
    assert_problem(other_api.post_json(f"/steps/{dog_step}/outcome", {"outcome": "done"}), 404)

    claimed = api.post_json(f"/steps/{dog_step}/claim")
    assert claimed.status_code == 200 and claimed.get_json()["claimed"] is True
    decided = api.post_json(
        f"/steps/{dog_step}/outcome",
        {
            "outcome": "decided",
            "subject": "Hundeanmeldung Bello",
            "body": "Ihr Hund ist angemeldet.",
            "appeal_days": 30,
            "fee": "80.00",
            "documents": [{"filename": "verfuegung.pdf", "content_base64": b64(make_pdf())}],
        },
    )
    assert decided.status_code == 200, decided.get_data(as_text=True)
    body = decided.get_json()
    assert body["status"] == "decided" and body["finished_at"]
    with runtime.sessions() as session:
        delivery = session.scalars(select(Delivery).join(Message)
                                   .where(Message.kind == "decision")).one()  # fmt: skip
        assert delivery.appeal_period_days == 30
        assert "CHF 80.00" in delivery.message.body
    assert_problem(api.post_json(f"/steps/{dog_step}/outcome", {"outcome": "done"}), 422)
    assert api.get(f"/steps/{dog_step}").get_json()["outcome"] == "decided"


def test_forged_outcomes_are_refused_and_store_nothing(api: Api, dog_step: str, runtime: Any):
    before = _journal_count(runtime)
    path = f"/steps/{dog_step}/outcome"
    cases = [
        ({"outcome": "approved"}, {"outcome"}),
        ({"outcome": "done", "subject": "x"}, {"subject"}),
        ({"outcome": "decided", "body": "ohne Betreff"}, {"subject"}),
        ({"outcome": "decided", "subject": "S", "fee": 80}, {"fee"}),
        ({"outcome": "decided", "subject": "S", "appeal_days": 0}, {"appeal_days"}),
        (
            {"outcome": "decided", "subject": "S",
             "documents": [{"filename": "a.pdf", "content_base64": "***"}]},
            {"documents[0].content_base64"},
        ),
        (
            {"outcome": "decided", "subject": "S",
             "documents": [{"filename": "a.pdf", "content_base64": b64(b"not a pdf")}]},
            {"documents[0].content_base64"},
        ),
        ({"outcome": "needs_information", "question": ""}, {"question"}),
        ({"outcome": "needs_information", "question": "Q", "days": 400}, {"days"}),
        ({"outcome": "forwarded", "to_authority": "lu-migration"}, {"reason"}),
        ({"outcome": "rejected", "reason": None}, {"reason"}),
    ]  # fmt: skip
    for body, fields in cases:
        problem = assert_problem(api.post_json(path, body), 422)
        assert error_fields(problem) == fields, (body, problem)
    unknown = api.post_json(path, {"outcome": "forwarded", "to_authority": "nowhere",
                                   "reason": "weil"})  # fmt: skip
    assert "nowhere" in assert_problem(unknown, 422)["detail"]
    assert_problem(api.post_json(path, [1, 2]), 422)
    bad = api.client.post(
        "/api/v1" + path, data="{", headers=api.headers({"Content-Type": "application/json"})
    )
    assert_problem(bad, 400)
    assert_problem(api.get("/steps?status=nonsense"), 422)
    assert_problem(api.get("/steps?limit=0"), 422)
    assert_problem(api.get("/steps/not-a-uuid"), 404)
    assert _journal_count(runtime) == before
    assert api.get(f"/steps/{dog_step}").get_json()["status"] == "open"


def test_asking_and_forwarding_through_the_api(api: Api, dog_step: str, runtime: Any):
    asked = api.post_json(
        f"/steps/{dog_step}/outcome",
        {"outcome": "needs_information", "question": "Impfausweis?", "days": 10},
    )
    assert asked.status_code == 200, asked.get_data(as_text=True)
    assert asked.get_json()["status"] == "needs_information" and asked.get_json()["due_at"]
    assert asked.get_json()["note"] == "Impfausweis?"
    assert_problem(api.post_json(f"/steps/{dog_step}/claim"), 422)  # waiting for the answer


def test_a_step_opening_at_an_authority_reaches_its_webhook(
    api: Api, runtime: Any, demo: dict[str, Any]
):
    with runtime.transaction() as session:
        road = find_authority(session, "lu-strassenverkehrsamt")
        assert road is not None
        create_api_client(session, road, "Fahrzeugregister", webhook_url="http://127.0.0.1:9/hook")
    anna = actor_of(runtime, demo["resident"]["login"])
    moved = dict(MOVE, new_commune="1061", **{"new_address.town": "Luzern",
                                               "new_address.postcode": "6003"})  # fmt: skip
    case_id = place(runtime, anna, "umzug-melden", moved)

    def assigned() -> list[dict[str, Any]]:
        with runtime.sessions() as session:
            events = session.scalars(select(WebhookEvent.payload)).all()
        return [e["data"] for e in events if e["type"] == "step.assigned"]

    assert assigned() == []  # the vehicle step waits for the registration
    with runtime.sessions() as session:
        register = session.scalars(
            select(Step.id).where(Step.case_id == case_id, Step.step_id == "register")
        ).one()
    done = api.post_json(f"/steps/{register}/outcome", {"outcome": "done", "note": "ok"})
    assert done.status_code == 200, done.get_data(as_text=True)
    [event] = assigned()
    assert event["step"] == "vehicle" and event["case_id"] == str(case_id)
    assert event["status"] == "open" and event["service"] == "umzug-melden"
