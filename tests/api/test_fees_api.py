"""The fees API with a real key, every answer checked against the OpenAPI document: a dog's
registration decided through the API bills its fee with a QR-bill; the billing authority reads
it and marks it paid; another authority gets 404; marking it twice is refused (422 already_paid)
and changes nothing; an Idempotency-Key replays the first answer."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from casefiles.models import JournalEntry
from catalogue.models import Fee, Step
from tests.api.support import Api, assert_problem
from tests.api.test_steps_api import DOG
from tests.support.ordering_world import actor_of, place


def _decided_dog(api: Api, runtime: Any, demo: dict[str, Any]) -> str:
    """Anna registers her dog at Stadt Luzern (the demo key's office), which decides it."""
    anna = actor_of(runtime, demo["resident"]["login"])
    case_id = place(runtime, anna, "hund-anmelden", DOG)
    with runtime.sessions() as session:
        step_id = session.scalars(select(Step.id).where(Step.case_id == case_id)).one()
    assert api.post_json(f"/steps/{step_id}/claim").status_code == 200
    decided = api.post_json(f"/steps/{step_id}/outcome", {
        "outcome": "decided", "subject": "Hund registriert", "body": "Bello ist registriert.",
        "appeal_days": 30,
    })  # fmt: skip
    assert decided.status_code == 200, decided.get_data(as_text=True)
    with runtime.sessions() as session:
        return str(session.scalars(select(Fee.id).where(Fee.case_id == case_id)).one())


def _paid_entries(runtime: Any) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(JournalEntry).where(
            JournalEntry.action == "fee.paid")) or 0  # fmt: skip


def test_read_and_mark_paid(api: Api, other_api: Api, runtime: Any, demo: dict[str, Any]):
    fee_id = _decided_dog(api, runtime, demo)
    shown = api.get(f"/fees/{fee_id}")
    assert shown.status_code == 200, shown.get_data(as_text=True)
    body = shown.get_json()
    assert body["amount"] == "120.00" and body["currency"] == "CHF"
    assert body["due"] == "with_decision" and body["status"] == "billed"
    assert body["account"].startswith("CH") and len(body["reference"]) == 27
    assert body["paid_at"] is None

    # Another authority's key: 404, whatever it asks; nothing changes.
    assert_problem(other_api.get(f"/fees/{fee_id}"), 404)
    assert_problem(other_api.post_json(f"/fees/{fee_id}/paid"), 404)
    assert_problem(api.get(f"/fees/{uuid.uuid4()}"), 404)
    assert_problem(api.post_json(f"/fees/{uuid.uuid4()}/paid"), 404)
    assert _paid_entries(runtime) == 0

    key = {"Idempotency-Key": "pay-" + fee_id}
    paid = api.post_json(f"/fees/{fee_id}/paid", headers=key)
    assert paid.status_code == 200, paid.get_data(as_text=True)
    assert paid.get_json()["status"] == "paid" and paid.get_json()["paid_at"]
    again = api.post_json(f"/fees/{fee_id}/paid", headers=key)  # the same request replayed
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    twice = api.post_json(f"/fees/{fee_id}/paid")  # a second, new request
    problem = assert_problem(twice, 422)
    assert problem["code"] == "already_paid" and "already" in problem["detail"]
    assert _paid_entries(runtime) == 1
    assert api.get(f"/fees/{fee_id}").get_json()["status"] == "paid"


def test_without_a_key_nothing(api: Api, runtime: Any, demo: dict[str, Any]):
    fee_id = _decided_dog(api, runtime, demo)
    anonymous = Api(api.client, "lu_not-a-key")
    assert_problem(anonymous.get(f"/fees/{fee_id}"), 401)
    assert_problem(anonymous.post_json(f"/fees/{fee_id}/paid"), 401)
    assert_problem(api.get("/fees/not-a-uuid"), 404)
    assert _paid_entries(runtime) == 0
