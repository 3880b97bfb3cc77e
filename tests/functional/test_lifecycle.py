"""Closing case files (issue 10): by the lead authority on the web and through the API, refused
while something still runs, read-only afterwards; retention from the case type or from the
configured default; the periodic sweep closing what is over; `portal verify` agreeing."""

from __future__ import annotations

import datetime as dt
import subprocess
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from app.config import Config, ConfigError
from casefiles.lifecycle import add_years, local_today
from casefiles.models import CaseFile, JournalEntry
from catalogue import lifecycle
from catalogue.models import Step
from catalogue.outcomes import Done
from mailbox.models import Delivery
from tests.api.support import Api
from tests.conftest import csrf_token, login, post_multipart, wait_for
from tests.functional.test_delivery_law import deliver, post_form
from tests.functional.test_verify_cli import run_verify
from tests.support.ordering_world import actor_of, answers_for, clerk_of, party_of, place, slug_of
from tests.support.services import portal_executable


def _latest(runtime: Any) -> Delivery:
    with runtime.sessions() as session:
        delivery = session.scalars(select(Delivery).order_by(Delivery.accepted_at.desc())).first()
        assert delivery is not None
        session.expunge(delivery)
        return delivery


def _case_of(runtime: Any, delivery: Delivery) -> CaseFile:
    with runtime.sessions() as session:
        case = session.get_one(Delivery, delivery.id).message.case
        session.expunge(case)
        return case


def _case(runtime: Any, case_id: uuid.UUID) -> CaseFile:
    with runtime.sessions() as session:
        case = session.get_one(CaseFile, case_id)
        session.expunge(case)
        return case


def _receipt_issued(runtime: Any, delivery_id: uuid.UUID) -> None:
    def issued() -> bool:
        with runtime.sessions() as session:
            return session.get_one(Delivery, delivery_id).receipt_document_id is not None

    wait_for(issued)


def _closed_entries(runtime: Any, case_id: uuid.UUID) -> list[dict[str, Any]]:
    with runtime.sessions() as session:
        stmt = select(JournalEntry.payload).where(
            JournalEntry.case_id == case_id, JournalEntry.action == "case.closed"
        )
        return list(session.scalars(stmt))


def _close_form(client: Any, case_id: uuid.UUID, **data: str) -> Any:
    return post_form(client, f"/cases/{case_id}", f"/office/cases/{case_id}/close", data)


def test_the_lead_authority_closes_on_the_web(app, demo, pdf, runtime, tmp_path):
    clerk, resident = app.test_client(), app.test_client()
    login(clerk, demo["clerk"])
    login(resident, demo["resident"])
    deliver(clerk, demo["resident"]["ahvn13"], pdf("Verfügung"), appeal_period_days="30")
    delivery = _latest(runtime)
    case = _case_of(runtime, delivery)

    page = clerk.get(f"/cases/{case.id}?lang=en").get_data(as_text=True)
    assert "Close case file" in page and f"/office/cases/{case.id}/close" in page
    # Not yet opened: refused with a sentence the clerk can act on, nothing closed.
    refused = _close_form(clerk, case.id, confirm="1")
    assert refused.status_code == 409
    assert "has not been opened or deemed delivered yet" in refused.get_data(as_text=True)
    unconfirmed = _close_form(clerk, case.id)
    assert unconfirmed.status_code == 422
    assert _case(runtime, case.id).status == "open"

    post_form(resident, f"/messages/{delivery.id}", f"/messages/{delivery.id}/open")
    _receipt_issued(runtime, delivery.id)
    # Another authority's clerk does not even see it.
    other = app.test_client()
    login(other, demo["other_clerk"])
    assert other.post(f"/office/cases/{case.id}/close", data={"confirm": "1"}).status_code in (
        400,
        404,
    )
    done = _close_form(clerk, case.id, confirm="1")
    assert done.status_code == 302, done.get_data(as_text=True)[:500]
    closed = _case(runtime, case.id)
    assert closed.status == "closed" and closed.closed_at is not None
    # A plain delivery: the configured default (10 years), to be archived.
    assert closed.retention_until == add_years(local_today(), 10)
    assert closed.disposition == "archive"
    [payload] = _closed_entries(runtime, case.id)
    assert payload["retention_years"] == 10 and payload["automatic"] is False
    assert payload["retention_until"] == closed.retention_until.isoformat()

    page = clerk.get(f"/cases/{case.id}?lang=en").get_data(as_text=True)
    assert "This case file is closed" in page and "Close case file" not in page
    # Read-only: the resident's reply is refused with the reason, nothing added.
    reply_page = resident.get(f"/cases/{case.id}?lang=en").get_data(as_text=True)
    assert "This case file is closed" in reply_page and "/reply" not in reply_page
    answer = {"csrf_token": csrf_token(reply_page), "text": "Noch eine Frage"}
    refused_reply = post_multipart(resident, f"/cases/{case.id}/reply?lang=en", answer)
    assert refused_reply.status_code == 422
    assert "This case file is closed" in refused_reply.get_data(as_text=True)
    again = _close_form(clerk, case.id, confirm="1")
    assert again.status_code == 409
    assert len(_closed_entries(runtime, case.id)) == 1

    result = run_verify(runtime, str(case.id), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_api_closes_with_a_real_key(app, demo, pdf, runtime, tmp_path):
    api = Api(app.test_client(), demo["api_client"]["api_key"])
    resident = app.test_client()
    login(resident, demo["resident"])
    metadata = {"recipient": {"ahvn13": demo["resident"]["ahvn13"]}, "subject": "Bewilligung",
                "kind": "letter", "external_ref": "GEV-2026-77"}  # fmt: skip
    created = api.deliver(metadata)
    assert created.status_code == 201, created.get_json()
    case_id = created.get_json()["case_id"]
    delivery_id = created.get_json()["delivery_id"]

    busy = api.post_json(f"/cases/{case_id}/close")
    assert busy.status_code == 409 and busy.get_json()["code"] == "not_closable"
    post_form(resident, f"/messages/{delivery_id}", f"/messages/{delivery_id}/open")
    _receipt_issued(runtime, uuid.UUID(delivery_id))

    with runtime.transaction() as session:  # a second application of the tax office
        from directory.api_clients import create_api_client, create_api_key
        from directory.operations import find_authority

        client = create_api_client(session, find_authority(session, "lu-steuern"), "Steuern")
        _key, token = create_api_key(session, client)
    foreign = Api(app.test_client(), token).post_json(f"/cases/{case_id}/close")
    assert foreign.status_code == 404

    closed = api.post_json(f"/cases/{case_id}/close")
    assert closed.status_code == 200, closed.get_json()
    body = closed.get_json()
    assert body["status"] == "closed" and body["closed_at"]
    assert body["retention_until"] == add_years(local_today(), 10).isoformat()
    assert api.get(f"/cases/{case_id}").get_json()["status"] == "closed"

    twice = api.post_json(f"/cases/{case_id}/close")
    assert twice.status_code == 409 and twice.get_json()["code"] == "case_closed"
    # Nothing enters a closed case file: not an answer in it, not a letter under its reference.
    answer = api.deliver(
        {"subject": "Nachtrag", "kind": "letter"}, path=f"/cases/{case_id}/messages"
    )
    assert answer.status_code == 409, answer.get_json()
    assert answer.get_json()["code"] == "case_closed"
    assert "closed" in answer.get_json()["detail"]
    by_ref = api.deliver(metadata)
    assert by_ref.status_code == 409 and by_ref.get_json()["code"] == "case_closed"
    events = api.get(f"/cases/{case_id}/events").get_json()["events"]
    assert events[-1]["action"] == "case.closed"

    result = run_verify(runtime, case_id, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_retention_by_kind_from_the_configuration(app, demo, pdf, runtime, monkeypatch):
    monkeypatch.setattr(runtime.config, "retention_years_by_kind", {"letter": 3, "invoice": 7})
    clerk = app.test_client()
    login(clerk, demo["clerk"])
    deliver(clerk, demo["resident"]["ahvn13"], pdf("Brief"), kind="letter", subject="Hinweis")
    delivery = _latest(runtime)
    case = _case_of(runtime, delivery)
    post_form(clerk, f"/cases/{case.id}", f"/office/deliveries/{delivery.id}/withdraw")
    assert _close_form(clerk, case.id, confirm="1").status_code == 302
    assert _case(runtime, case.id).retention_until == add_years(local_today(), 3)


def test_february_29_is_kept_until_february_28():
    assert add_years(dt.date(2024, 2, 29), 1) == dt.date(2025, 2, 28)
    assert add_years(dt.date(2024, 2, 29), 4) == dt.date(2028, 2, 29)
    assert add_years(dt.date(2026, 3, 1), 10) == dt.date(2036, 3, 1)


def _sweep(runtime: Any, as_of: dt.datetime) -> int:
    with runtime.transaction() as session:
        return lifecycle.sweep(session, as_of.isoformat())


def test_the_sweep_closes_when_the_periods_have_run_out(app, demo, pdf, runtime, tmp_path):
    """Deemed delivered (nobody opened it) and its appeal period over: closed by itself."""
    from tests.functional.test_delivery_law import sweep as deliveries_sweep

    clerk = app.test_client()
    login(clerk, demo["clerk"])
    deliver(clerk, demo["resident"]["ahvn13"], pdf("Verfügung"), appeal_period_days="30")
    delivery = _latest(runtime)
    case = _case_of(runtime, delivery)
    now = dt.datetime.now(dt.UTC)
    assert _sweep(runtime, now) >= 0 and _case(runtime, case.id).status == "open"

    assert delivery.available_at is not None
    deemed_at = delivery.available_at + dt.timedelta(days=8)
    assert deliveries_sweep(runtime, deemed_at.isoformat(), tmp_path).returncode == 0
    _receipt_issued(runtime, delivery.id)
    with runtime.sessions() as session:
        due = session.get_one(Delivery, delivery.id).due_date
    assert due is not None
    # On the period's last day it still runs; the day after, the case file closes.
    last_day = dt.datetime.combine(due, dt.time(12), tzinfo=dt.UTC)
    _sweep(runtime, last_day)
    assert _case(runtime, case.id).status == "open"
    _sweep(runtime, last_day + dt.timedelta(days=1))
    closed = _case(runtime, case.id)
    assert closed.status == "closed"
    [payload] = _closed_entries(runtime, case.id)
    assert payload["automatic"] is True and payload["disposition"] == "archive"
    with runtime.sessions() as session:
        actor = session.scalars(
            select(JournalEntry.actor_kind).where(
                JournalEntry.case_id == case.id, JournalEntry.action == "case.closed"
            )
        ).one()
    assert actor == "system"
    result = run_verify(runtime, str(case.id), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_sweep_closes_a_done_process_with_its_types_retention(app, demo, runtime, tmp_path):
    """An ordered service (dog deregistration: 5 years, then destroy) closes once its one step
    is done; an open step keeps it open."""
    from catalogue import registry, steps

    resident = actor_of(runtime, demo["resident"]["login"])
    service = registry.default().get("hund-abmelden")
    assert service is not None
    raw, files = answers_for(service, party_of(runtime, resident))
    case_id = place(runtime, resident, "hund-abmelden", raw, files)
    assert _sweep(runtime, dt.datetime.now(dt.UTC)) >= 0
    assert _case(runtime, case_id).status == "open"  # its step is open

    with runtime.sessions() as session:
        step = session.scalars(select(Step).where(Step.case_id == case_id)).one()
        step_id, authority_id = step.id, step.authority_id
    office = clerk_of(runtime, slug_of(runtime, authority_id) or "")
    with runtime.transaction() as session:
        steps.claim(session, office, step_id)
        steps.record_outcome(session, office, step_id, Done("Abgemeldet"))
    _sweep(runtime, dt.datetime.now(dt.UTC))
    closed = _case(runtime, case_id)
    assert closed.status == "closed"
    assert closed.retention_until == add_years(local_today(), 5)
    assert closed.disposition == "destroy"
    result = run_verify(runtime, str(case_id), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_scheduler_runs_the_sweep(runtime):
    from app.workers import periodic_jobs

    jobs = {j.name: j.func for j in periodic_jobs(runtime, 60, 0, 0)}
    assert jobs["close-cases"] == "catalogue.lifecycle.sweep"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RETENTION_DEFAULT_YEARS", "ten", "PORTAL_RETENTION_DEFAULT_YEARS must be a number"),
        ("RETENTION_YEARS", "decision=10,brief=5", "is not KIND=YEARS"),
        ("RETENTION_YEARS", "letter=-1", "must be a number of years"),
        ("AFTER_TRANSFER", "burn", "PORTAL_AFTER_TRANSFER must be one of keep, destroy"),
    ],
)
def test_a_bad_retention_setting_is_refused(monkeypatch, name, value, message):
    monkeypatch.setenv(f"PORTAL_{name}", value)
    with pytest.raises(ConfigError) as refused:
        Config.from_env()
    assert message in str(refused.value)


def test_the_portal_refuses_to_start_with_a_bad_setting(runtime, tmp_path):
    """One line naming the variable, no traceback (every command reads the settings first)."""
    name, value = "RETENTION_YEARS", "decision=zehn"
    env = {"PATH": "/usr/bin:/bin", **runtime.config.as_env(), f"PORTAL_{name}": value}
    started = subprocess.run(
        [portal_executable(), "deliveries", "sweep"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode != 0
    assert "PORTAL_RETENTION_YEARS (decision) must be a number of years" in started.stderr
    assert "Traceback" not in started.stderr


def test_good_retention_settings_are_read(monkeypatch):
    monkeypatch.setenv("PORTAL_RETENTION_DEFAULT_YEARS", "12")
    monkeypatch.setenv("PORTAL_RETENTION_YEARS", "decision=10, letter=5")
    monkeypatch.setenv("PORTAL_AFTER_TRANSFER", "destroy")
    config = Config.from_env()
    assert config.retention_default_years == 12
    assert config.retention_years_by_kind == {"decision": 10, "letter": 5}
    assert config.after_transfer == "destroy"
    assert (
        Config.from_env(**{"instance_path": config.instance_path}).as_env()[
            "PORTAL_RETENTION_YEARS"
        ]
        == "decision=10,letter=5"
    )
