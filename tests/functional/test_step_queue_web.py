"""The clerk's step queue on the web (/office/steps) and the resident's answer inside the
dossier, through the HTTP client: the queue filtered by status and service, claiming, every
outcome (done, needs information, forward, reject, decided with a PDF), another authority's 404
for the step and the case file, a forged outcome refused with nothing stored, and CSRF."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from casefiles.models import CaseFile, JournalEntry
from catalogue.models import Step, StepStatus
from mailbox.models import Delivery, Message
from tests.conftest import csrf_token, login, post_multipart
from tests.support.ordering_world import PASSWORD, actor_of, clerk_of, place

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


def _client(app: Flask, login_name: str, password: str = PASSWORD) -> FlaskClient:
    client = app.test_client()
    login(client, {"login": login_name, "password": password})
    return client


def _clerk(app: Flask, runtime: Any, slug: str) -> FlaskClient:
    clerk_of(runtime, slug)
    return _client(app, f"clerk@{slug}.test")


def _steps(runtime: Any, case_id: uuid.UUID) -> dict[str, Step]:
    with runtime.sessions() as session:
        rows = session.scalars(select(Step).where(Step.case_id == case_id)).all()
        for row in rows:
            session.expunge(row)
        return {r.step_id: r for r in rows}


def _counts(runtime: Any) -> tuple[int, int, int]:
    with runtime.sessions() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(m)) or 0
            for m in (JournalEntry, Message, Delivery)
        )


def _post(client: FlaskClient, page: str, action: str, data: dict[str, Any]) -> Any:
    """Post a form of `page` as a browser would: with the page's CSRF token."""
    html = client.get(page).get_data(as_text=True)
    return post_multipart(client, action, {"csrf_token": csrf_token(html), **data})


def _text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def test_queue_claim_outcomes_and_the_residents_answer(app, runtime, demo, pdf):
    anna = actor_of(runtime, demo["resident"]["login"])
    case_id = place(runtime, anna, "umzug-melden", MOVE)
    rows = _steps(runtime, case_id)
    register, deregister = rows["register"].id, rows["deregister"].id
    emmen = _clerk(app, runtime, "emmen-einwohnerdienste")
    page = f"/office/steps/{register}"

    # The queue: Emmen's own step, filtered by status and by service.
    queue = _text(emmen.get("/office/steps"))
    assert f"/office/steps/{register}" in queue and f"/office/steps/{deregister}" not in queue
    assert "Umzug" in queue
    assert f"/office/steps/{register}" in _text(
        emmen.get("/office/steps?status=open&service=umzug-melden")
    )
    assert f"/office/steps/{register}" not in _text(emmen.get("/office/steps?status=decided"))
    assert f"/office/steps/{register}" not in _text(
        emmen.get("/office/steps?service=hund-anmelden")
    )
    assert emmen.get("/office/steps?status=nonsense&service=<x>").status_code == 200

    # Claim it; now it is in "mine".
    response = _post(emmen, "/office/steps", f"/office/steps/{register}/claim", {})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert _steps(runtime, case_id)["register"].status == StepStatus.CLAIMED
    assert f"/office/steps/{register}" in _text(emmen.get("/office/steps?mine=1"))
    html = _text(emmen.get(page))  # the step with the order's answers
    assert "Gerliswilstrasse 10, 6020, Emmenbrücke" in html and "LU 248135" in html

    # A request for information without a question: the error beside the field, nothing stored.
    before = _counts(runtime)
    response = _post(emmen, page, f"{page}/outcome", {"kind": "needs_information", "question": " ",
                                                     "days": "10"})  # fmt: skip
    assert response.status_code == 422
    html = _text(response)
    assert 'id="field-needs_information-question-error"' in html
    assert 'href="#field-needs_information-question"' in html  # the error summary links to it
    assert 'value="10"' in html  # what was typed is kept
    assert _counts(runtime) == before
    assert _steps(runtime, case_id)["register"].status == StepStatus.CLAIMED

    # A forged outcome and a forward to nowhere: clear refusals, nothing stored.
    response = _post(emmen, page, f"{page}/outcome", {"kind": "approved", "note": "x"})
    assert response.status_code == 422
    assert "does not exist" in _text(response) or "gibt es nicht" in _text(response)
    response = _post(emmen, page, f"{page}/outcome",
                     {"kind": "forwarded", "to_authority": "nowhere", "reason": "x"})  # fmt: skip
    assert response.status_code == 422 and "nowhere" in _text(response)
    assert _counts(runtime) == before

    # Ask Anna for the lease.
    question = "Bitte reichen Sie den Mietvertrag nach."
    response = _post(emmen, page, f"{page}/outcome", {"kind": "needs_information",
                                                     "question": question})  # fmt: skip
    assert response.status_code == 302, _text(response)
    asked = _steps(runtime, case_id)["register"]
    assert asked.status == StepStatus.NEEDS_INFORMATION and asked.due_at is not None

    # Anna sees the request with its deadline in her dossier and answers it there.
    resident = _client(app, demo["resident"]["login"], demo["resident"]["password"])
    dossier = f"/cases/{case_id}"
    html = _text(resident.get(dossier))
    assert question in html and "field-answer-text" in html
    assert "Umzug" in html  # the timeline names the steps
    answer = f"/cases/{case_id}/steps/{register}/answer"
    response = _post(resident, dossier, answer, {"text": ""})  # an empty answer
    assert response.status_code == 422
    assert 'id="field-answer-text-error"' in _text(response)
    assert _steps(runtime, case_id)["register"].status == StepStatus.NEEDS_INFORMATION
    # Another resident cannot answer it (404), nor a clerk.
    beat = _client(app, demo["other_resident"]["login"], demo["other_resident"]["password"])
    assert _post(beat, "/cases", answer, {"text": "Ich"}).status_code == 404
    response = _post(resident, dossier, answer, {
        "text": "Der Mietvertrag liegt bei.",
        "files": [(io.BytesIO(pdf("Mietvertrag")), "mietvertrag.pdf")],
    })  # fmt: skip
    assert response.status_code == 302, _text(response)
    assert _steps(runtime, case_id)["register"].status == StepStatus.CLAIMED
    assert "Der Mietvertrag liegt bei." in _text(emmen.get(f"/cases/{case_id}"))
    # Answering again (the form of an old page): refused with the reason, nothing stored.
    before = _counts(runtime)
    response = _post(resident, dossier, answer, {"text": "Nochmals"})
    assert response.status_code == 422
    assert "error-summary" in _text(response) and "Nochmals" not in _text(emmen.get(dossier))
    assert _counts(runtime) == before
    # A step named under another case file's address: 404.
    other_case = place(runtime, anna, "umzug-melden", MOVE)
    assert _post(resident, dossier, f"/cases/{other_case}/steps/{register}/answer",
                 {"text": "x"}).status_code == 404  # fmt: skip

    # Done: the road traffic office's step opens.
    response = _post(emmen, page, f"{page}/outcome", {"kind": "done", "note": "Angemeldet"})
    assert response.status_code == 302
    rows = _steps(runtime, case_id)
    assert rows["register"].status == StepStatus.DONE
    assert rows["vehicle"].status == StepStatus.OPEN

    # Luzern (the demo clerk) may not see Emmen's step; Kriens sees neither step nor file.
    luzern = _client(app, demo["clerk"]["login"], demo["clerk"]["password"])
    assert luzern.get(page).status_code == 404
    kriens = _clerk(app, runtime, "kriens-einwohnerdienste")
    assert kriens.get(f"/office/steps/{deregister}").status_code == 404
    assert kriens.get(f"/cases/{case_id}").status_code == 404
    assert (
        _post(kriens, "/office/steps", f"/office/steps/{deregister}/claim", {}).status_code == 404
    )

    # Luzern forwards its step to Kriens, which now sees the case file and decides with a PDF.
    luzern_page = f"/office/steps/{deregister}"
    response = _post(luzern, luzern_page, f"{luzern_page}/outcome", {
        "kind": "forwarded", "to_authority": "kriens-einwohnerdienste", "reason": "Zuständig",
    })  # fmt: skip
    assert response.status_code == 302
    assert luzern.get(luzern_page).status_code == 404
    assert kriens.get(f"/cases/{case_id}").status_code == 200
    assert luzern_page in _text(kriens.get("/office/steps?status=open"))
    _post(kriens, luzern_page, f"{luzern_page}/claim", {})
    before = _counts(runtime)
    response = _post(kriens, luzern_page, f"{luzern_page}/outcome", {
        "kind": "decided", "subject": "Abmeldebestätigung", "appeal_days": "dreissig",
    })  # fmt: skip
    assert response.status_code == 422
    assert 'id="field-decided-appeal_days-error"' in _text(response)
    assert 'value="Abmeldebestätigung"' in _text(response)
    response = _post(kriens, luzern_page, f"{luzern_page}/outcome", {
        "kind": "decided", "subject": "Abmeldebestätigung",
        "files": [(io.BytesIO(b"not a pdf at all"), "abmeldung.pdf")],
    })  # fmt: skip
    assert response.status_code == 422
    assert 'id="field-decided-files-error"' in _text(response)
    assert _counts(runtime) == before
    response = _post(kriens, luzern_page, f"{luzern_page}/outcome", {
        "kind": "decided", "subject": "Abmeldebestätigung", "body": "Sie sind abgemeldet.",
        "appeal_days": "30", "fee": "20.00",
        "files": [(io.BytesIO(pdf("Abmeldebestätigung")), "abmeldung.pdf")],
    })  # fmt: skip
    assert response.status_code == 302, _text(response)
    assert _steps(runtime, case_id)["deregister"].status == StepStatus.DECIDED
    html = _text(resident.get(dossier))
    assert "Abmeldebestätigung" in html

    # The road traffic office rejects its step; the resident's timeline shows every status.
    road = _clerk(app, runtime, "lu-strassenverkehrsamt")
    vehicle = f"/office/steps/{rows['vehicle'].id}"
    reason = "Kein Fahrzeug auf Ihren Namen."
    response = _post(road, vehicle, f"{vehicle}/outcome", {"kind": "rejected", "reason": reason})
    assert response.status_code == 302, _text(response)
    assert _steps(runtime, case_id)["vehicle"].status == StepStatus.REJECTED
    html = _text(resident.get(dossier))
    for label in ("Erledigt", "Entschieden", "Abgelehnt"):
        assert label in html
    # A finished step takes no outcome any more.
    response = _post(road, vehicle, f"{vehicle}/outcome", {"kind": "done"})
    assert response.status_code == 422


def test_step_forms_need_the_csrf_token(app, runtime, demo):
    anna = actor_of(runtime, demo["resident"]["login"])
    case_id = place(runtime, anna, "umzug-melden", MOVE)
    register = _steps(runtime, case_id)["register"].id
    emmen = _clerk(app, runtime, "emmen-einwohnerdienste")
    before = _counts(runtime)
    assert emmen.post(f"/office/steps/{register}/claim").status_code == 400
    response = emmen.post(f"/office/steps/{register}/outcome", data={"kind": "done"})
    assert response.status_code == 400
    assert _counts(runtime) == before
    assert _steps(runtime, case_id)["register"].status == StepStatus.OPEN
    # Claimed and released again: back in the queue for everyone.
    page = f"/office/steps/{register}"
    assert _post(emmen, page, f"{page}/claim", {}).status_code == 302
    assert _post(emmen, page, f"{page}/release", {}).status_code == 302
    assert _steps(runtime, case_id)["register"].status == StepStatus.OPEN
    response = _post(emmen, page, f"{page}/release", {})  # nothing to release
    assert response.status_code == 409 and "error-summary" in _text(response)


def test_the_queue_is_for_clerks_and_the_answer_for_residents(app, runtime, demo):
    resident = _client(app, demo["resident"]["login"], demo["resident"]["password"])
    assert resident.get("/office/steps").status_code == 403
    case_id = place(runtime, actor_of(runtime, demo["resident"]["login"]), "umzug-melden", MOVE)
    register = _steps(runtime, case_id)["register"].id
    assert resident.get(f"/office/steps/{register}").status_code == 403
    emmen = _clerk(app, runtime, "emmen-einwohnerdienste")
    response = _post(emmen, "/office/steps", f"/cases/{case_id}/steps/{register}/answer",
                     {"text": "x"})  # fmt: skip
    assert response.status_code == 403
    with runtime.sessions() as session:
        assert session.get_one(CaseFile, case_id).case_type == "umzug-melden"
