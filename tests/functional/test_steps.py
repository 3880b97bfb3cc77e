"""The steps of an ordered service at the authorities that take part: the queue, claiming,
every outcome (a request for information answered by the resident, a forward, a decision, done,
a refusal), the resident's timeline, the journal naming the acting authority, and access for no
one else. A forged or impossible outcome stores nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from casefiles.errors import InvalidInput, NotFound
from casefiles.journal import entries
from casefiles.models import CaseAuthority, CaseFile, JournalEntry
from catalogue import information, steps
from catalogue.models import Step, StepStatus
from catalogue.outcomes import Decided, Done, Forwarded, NeedsInformation, Rejected
from directory.actors import AccessDenied, Actor
from mailbox.models import Delivery, Message, WebhookEvent
from tests.functional.test_verify_cli import run_verify
from tests.support.ordering_world import actor_of, clerk_of, place, slug_of

MOVE = {
    "move_type": "within_canton",
    "move_date": "2026-11-30",
    "new_commune": "1024",
    "new_address.street": "Gerliswilstrasse 10",
    "new_address.postcode": "6020",
    "new_address.town": "Emmenbrücke",
    "has_vehicle": "yes",
    "plate_numbers": "LU 248135",
}


def _rows(runtime: Any, case_id: uuid.UUID) -> dict[str, Step]:
    with runtime.sessions() as session:
        rows = session.scalars(select(Step).where(Step.case_id == case_id)).all()
        for row in rows:
            session.expunge(row)
        return {r.step_id: r for r in rows}


def _act(runtime: Any, fn: Any, *args: Any, **kw: Any) -> Any:
    with runtime.transaction() as session:
        result = fn(session, *args, **kw)
        return getattr(result, "status", result)


def _journal(runtime: Any, case_id: uuid.UUID) -> list[JournalEntry]:
    with runtime.sessions() as session:
        found = entries(session, session.get_one(CaseFile, case_id))
        for e in found:
            session.expunge(e)
        return found


def _count(runtime: Any, model: Any) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def moved(runtime: Any, demo: dict[str, Any]) -> tuple[Actor, uuid.UUID]:
    """Anna (Luzern) moves to Emmen with her car: Emmen registers (the lead), Luzern
    deregisters, the road traffic office follows once she is registered."""
    anna = actor_of(runtime, demo["resident"]["login"])
    return anna, place(runtime, anna, "umzug-melden", MOVE)


def test_a_move_runs_through_three_authorities(runtime, demo, moved, tmp_path):
    anna, case_id = moved
    rows = _rows(runtime, case_id)
    assert {k: (slug_of(runtime, r.authority_id), r.status) for k, r in rows.items()} == {
        "register": ("emmen-einwohnerdienste", StepStatus.OPEN),
        "deregister": ("stadt-luzern-einwohnerdienste", StepStatus.OPEN),
        "vehicle": ("lu-strassenverkehrsamt", StepStatus.WAITING),
    }
    emmen = clerk_of(runtime, "emmen-einwohnerdienste")
    luzern = actor_of(runtime, demo["clerk"]["login"])  # Sandra Meier, Stadt Luzern
    road = clerk_of(runtime, "lu-strassenverkehrsamt")
    kriens = clerk_of(runtime, "kriens-einwohnerdienste")

    # Each authority's queue holds its own step only; another's answers 404.
    with runtime.sessions() as session:
        assert [s.step_id for s in steps.queue(session, emmen)] == ["register"]
        assert [s.step_id for s in steps.queue(session, luzern, service="umzug-melden")] == [
            "deregister"
        ]
        assert steps.queue(session, road) == []  # waiting: nobody's work yet
        with pytest.raises(NotFound):
            steps.get_step(session, luzern, rows["register"].id)
        with pytest.raises(NotFound):
            steps.get_step(session, kriens, rows["deregister"].id)
    with pytest.raises(NotFound):
        _act(runtime, steps.claim, kriens, rows["register"].id)

    # Emmen claims and asks; the deadline counts LU holidays; Anna answers in her dossier.
    assert _act(runtime, steps.claim, emmen, rows["register"].id) == StepStatus.CLAIMED
    with runtime.sessions() as session:
        assert [s.step_id for s in steps.queue(session, emmen, mine=True)] == ["register"]
    question = "Bitte reichen Sie den Mietvertrag nach."
    status = _act(
        runtime, steps.record_outcome, emmen, rows["register"].id, NeedsInformation(question)
    )
    assert status == StepStatus.NEEDS_INFORMATION
    asked = _rows(runtime, case_id)["register"]
    day, end = information.deadline(asked.opened_at or dt.datetime.now(dt.UTC), 30)
    assert asked.due_at is not None and asked.due_at.date() >= day - dt.timedelta(days=40)
    with runtime.sessions() as session:
        case = session.get_one(CaseFile, case_id)
        line = steps.timeline(session, anna, case)
    assert [i.state for i in line] == [
        StepStatus.NEEDS_INFORMATION, StepStatus.OPEN, StepStatus.WAITING,
    ]  # fmt: skip
    assert line[0].question == question and line[0].status_label.de
    assert line[0].authority_name == "Gemeinde Emmen, Einwohnerdienste"
    beat = actor_of(runtime, demo["other_resident"]["login"])
    with pytest.raises(NotFound):  # another resident's step
        _act(runtime, steps.answer_information, beat, rows["register"].id, "Hier", [])
    _act(runtime, steps.answer_information, anna, rows["register"].id, "Liegt bei.", [])
    assert _rows(runtime, case_id)["register"].status == StepStatus.CLAIMED

    # Done: the road traffic office's step opens, and it now sees the case file.
    _act(runtime, steps.record_outcome, emmen, rows["register"].id, Done("Angemeldet"))
    assert _rows(runtime, case_id)["vehicle"].status == StepStatus.OPEN
    with runtime.sessions() as session:
        assert [s.step_id for s in steps.queue(session, road)] == ["vehicle"]
        parts = session.scalars(
            select(CaseAuthority.authority_id).where(CaseAuthority.case_id == case_id)
        ).all()
    assert {slug_of(runtime, a) for a in parts} >= {"lu-strassenverkehrsamt"}

    # Luzern forwards its step to Kriens, which now sees the case and decides it.
    with runtime.sessions() as session:
        from casefiles.operations import get_case

        with pytest.raises(NotFound):
            get_case(session, kriens, case_id)
    _act(runtime, steps.record_outcome, luzern, rows["deregister"].id,
         Forwarded("kriens-einwohnerdienste", "Zuständigkeit Kriens"))  # fmt: skip
    with runtime.sessions() as session:
        assert get_case(session, kriens, case_id).id == case_id
        with pytest.raises(NotFound):
            steps.get_step(session, luzern, rows["deregister"].id)
    decided = Decided("Abmeldebestätigung", "Sie sind abgemeldet.", [], appeal_days=30)
    _act(runtime, steps.record_outcome, kriens, rows["deregister"].id, decided)
    with runtime.sessions() as session:
        delivery = session.scalars(
            select(Delivery)
            .join(Message)
            .where(Message.case_id == case_id, Message.kind == "decision")
        ).one()
        assert delivery.appeal_period_days == 30
        assert "Rechtsmittelbelehrung" in delivery.message.body
        document = delivery.message.documents[0].current
        assert document.signatures and document.signatures[0]["intact"]

    _act(runtime, steps.record_outcome, road, rows["vehicle"].id, Done())
    journal = _journal(runtime, case_id)
    actions = [e.action for e in journal]
    for what in ("claimed", "information_requested", "information_answered", "done", "opened",
                 "forwarded", "decided"):  # fmt: skip
        assert f"step.{what}" in actions, actions
    assert actions[-1] == steps.PROCESS_DONE
    named = {e.payload["authority"]["name"] for e in journal if e.action.startswith("step.")}
    assert {"Gemeinde Emmen, Einwohnerdienste", "Stadt Kriens, Einwohnerdienste"} <= named
    with runtime.sessions() as session:
        line = steps.timeline(session, anna, session.get_one(CaseFile, case_id))
        assert all(i.state.finished for i in line)
        assert line[1].status_label.fr == "Décidé"
        events = session.scalars(select(WebhookEvent.type)).all()
    assert set(events) <= {"case.ordered", "step.assigned", "delivery.available",
                           "case.reply_received"}  # fmt: skip
    done = run_verify(runtime, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_forged_and_impossible_outcomes_store_nothing(runtime, demo, moved):
    anna, case_id = moved
    rows = _rows(runtime, case_id)
    emmen = clerk_of(runtime, "emmen-einwohnerdienste")
    luzern = actor_of(runtime, demo["clerk"]["login"])
    before = _count(runtime, JournalEntry)
    with pytest.raises(InvalidInput, match="authority"):
        _act(runtime, steps.record_outcome, emmen, rows["register"].id,
             Forwarded("no-such-office", "weil"))  # fmt: skip
    with pytest.raises(InvalidInput):
        _act(runtime, steps.record_outcome, emmen, rows["register"].id, "done")  # not an Outcome
    with pytest.raises(InvalidInput):
        _act(runtime, steps.record_outcome, emmen, rows["register"].id, Rejected("  "))
    with pytest.raises(InvalidInput):
        _act(runtime, steps.record_outcome, emmen, rows["register"].id,
             NeedsInformation("Frage", days=0))  # fmt: skip
    with pytest.raises(NotFound):  # Luzern's clerk, Emmen's step
        _act(runtime, steps.record_outcome, luzern, rows["register"].id, Done())
    with pytest.raises(AccessDenied):  # a resident is no authority (404 on the web and API)
        _act(runtime, steps.claim, anna, rows["register"].id)
    with pytest.raises(InvalidInput):  # nothing was asked
        _act(runtime, steps.answer_information, anna, rows["register"].id, "Hallo", [])
    with pytest.raises(InvalidInput):  # waiting for the registration
        _act(runtime, steps.record_outcome, clerk_of(runtime, "lu-strassenverkehrsamt"),
             rows["vehicle"].id, Done())  # fmt: skip
    assert _count(runtime, JournalEntry) == before
    _act(runtime, steps.record_outcome, emmen, rows["register"].id, Done())
    after = _count(runtime, JournalEntry)
    with pytest.raises(InvalidInput):  # finished
        _act(runtime, steps.record_outcome, emmen, rows["register"].id, Done())
    with pytest.raises(InvalidInput):
        _act(runtime, steps.claim, emmen, rows["register"].id)
    assert _count(runtime, JournalEntry) == after


def test_a_refusal_ends_the_other_steps(runtime, demo, moved):
    anna, case_id = moved
    rows = _rows(runtime, case_id)
    emmen = clerk_of(runtime, "emmen-einwohnerdienste")
    _act(runtime, steps.record_outcome, emmen, rows["register"].id, Rejected("Adresse unbekannt"))
    after = _rows(runtime, case_id)
    assert after["register"].status == StepStatus.REJECTED
    assert {after["deregister"].status, after["vehicle"].status} == {StepStatus.SKIPPED}
    actions = [e.action for e in _journal(runtime, case_id)]
    assert actions[-1] == steps.PROCESS_DONE
    with runtime.sessions() as session:
        letter = session.scalars(
            select(Message).where(Message.case_id == case_id, Message.kind == "letter")
        ).one()
        assert letter.subject.startswith("Ablehnung")


def test_a_residence_certificate_is_issued_without_a_clerk(runtime, demo, tmp_path):
    anna = actor_of(runtime, demo["resident"]["login"])
    case_id = place(runtime, anna, "wohnsitzbestaetigung", {"purpose": "employer"}, language="fr")
    rows = _rows(runtime, case_id)
    assert rows["issue"].status == StepStatus.DECIDED
    with runtime.sessions() as session:
        message = session.scalars(
            select(Message).where(
                Message.case_id == case_id, Message.subject == "Attestation de domicile"
            )
        ).one()
        assert "CHF 20.00" in message.body and "Anna" in message.body
        version = message.documents[0].current
        assert version.signatures and version.signatures[0]["intact"]
        assert message.delivery is not None
    actions = [e.action for e in _journal(runtime, case_id)]
    assert actions[-2:] == ["step.decided", steps.PROCESS_DONE]
    done = run_verify(runtime, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_without_an_address_the_certificate_waits_for_a_clerk(runtime, demo):
    anna = actor_of(runtime, demo["resident"]["login"])
    from directory.models import Party

    with runtime.transaction() as session:
        session.get_one(Party, anna.party_id).street = None
    case_id = place(runtime, anna, "wohnsitzbestaetigung", {"purpose": "employer"})
    assert _rows(runtime, case_id)["issue"].status == StepStatus.OPEN
    clerk = actor_of(runtime, demo["clerk"]["login"])
    with runtime.sessions() as session:
        assert [s.step_id for s in steps.queue(session, clerk)] == ["issue"]


def test_an_unanswered_request_is_reminded_then_expires_as_declared(runtime, demo):
    anna = actor_of(runtime, demo["resident"]["login"])
    case_id = place(runtime, anna, "umzug-melden", MOVE)
    step_id = _rows(runtime, case_id)["register"].id
    emmen = clerk_of(runtime, "emmen-einwohnerdienste")
    _act(runtime, steps.record_outcome, emmen, step_id, NeedsInformation("Mietvertrag?", days=10))
    due = _rows(runtime, case_id)["register"].due_at
    assert due is not None
    with runtime.transaction() as session:  # long before: nothing
        assert information.sweep(session, dt.datetime.now(dt.UTC).isoformat()) == {
            "reminded": 0, "expired": 0}  # fmt: skip
    reminder_time = (due.replace(tzinfo=dt.UTC) - dt.timedelta(days=3)).isoformat()
    for expected in (1, 0):  # once only
        with runtime.transaction() as session:
            assert information.sweep(session, reminder_time)["reminded"] == expected
    late = (due.replace(tzinfo=dt.UTC) + dt.timedelta(minutes=1)).isoformat()
    with runtime.transaction() as session:
        assert information.sweep(session, late)["expired"] == 1
    row = _rows(runtime, case_id)["register"]
    assert row.status == StepStatus.OPEN and row.due_at is None  # umzug: on_expiry continue
    actions = [e.action for e in _journal(runtime, case_id)]
    assert {"step.reminded", "step.expired", "step.reopened"} <= set(actions)
    with runtime.sessions() as session:
        kinds = session.scalars(select(Message.subject).where(Message.case_id == case_id)).all()
    assert any(k.startswith("Erinnerung") for k in kinds)


def test_an_unanswered_request_refuses_the_order_when_declared(runtime, demo):
    """zivilstandsdokumente declares on_expiry: reject."""
    from catalogue import registry
    from tests.functional.test_every_service import _pay_fee_first, _slugs
    from tests.support.ordering_world import answers_for, party_of

    anna = actor_of(runtime, demo["resident"]["login"])
    service = registry.default().get("zivilstandsdokumente")
    assert service is not None and service.steps[0].information is not None
    assert service.steps[0].information.on_expiry == "reject"
    raw, files = answers_for(service, party_of(runtime, anna))
    case_id = place(runtime, anna, service.id, raw, files)
    slugs = _slugs(runtime)
    _pay_fee_first(runtime, case_id, slugs)  # the fee comes first
    [row] = _rows(runtime, case_id).values()
    clerk = clerk_of(runtime, "lu-zivilstandsamt")
    _act(runtime, steps.record_outcome, clerk, row.id, NeedsInformation("Welcher Jahrgang?"))
    due = _rows(runtime, case_id)[row.step_id].due_at
    assert due is not None
    late = (due.replace(tzinfo=dt.UTC) + dt.timedelta(hours=1)).isoformat()
    with runtime.transaction() as session:
        assert information.sweep(session, late)["expired"] == 1
    assert _rows(runtime, case_id)[row.step_id].status == StepStatus.REJECTED
    actions = [e.action for e in _journal(runtime, case_id)]
    ours = [a for a in actions if a.startswith("step.") or a == steps.PROCESS_DONE]
    assert ours[-3:] == ["step.expired", "step.rejected", steps.PROCESS_DONE]
    assert "delivery.accepted" in actions[actions.index("step.expired") :]  # the refusal letter
