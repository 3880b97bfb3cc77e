"""Follow-ups ordered from inside a dossier: the holder is offered the case type's follow-ups,
the form comes pre-filled from the case file (its reference and the original order's answers,
read from the order's JSON filing), the new case file and the original link to each other in
their journals and dossiers, and a forged `from` (another resident's case file, a case type that
does not offer the service) is refused with a clear message and stores nothing."""

from __future__ import annotations

import dataclasses
import html
import re
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.ordering import followups
from app.web import db
from casefiles.models import CaseFile, Document, JournalEntry
from catalogue import registry, steps
from catalogue.models import Step
from directory.actors import Actor
from directory.models import Account
from mailbox.models import Message
from tests.conftest import csrf_token, login, post_multipart
from tests.functional.test_verify_cli import run_verify
from tests.support.ordering_world import PASSWORD, actor_of, clerk_of

EXTENSION = "fristerstreckung-steuererklaerung"
INSTALMENTS = "ratenzahlung-steuern"
EXTENSION_ANSWERS = {
    "tax_year": "2025",
    "tax_reference": "LU-4711.0815",
    "requested_until": "until_1130",
    "reason": "Krankheit im Frühling.",
}
INSTALMENT_ANSWERS = {
    "bill": "final",
    "amount_open": "4800",
    "monthly_rate": "400",
    "reason": "Arbeitslos seit Oktober.",
}


def _place(client: FlaskClient, url: str, answers: dict[str, str]) -> Any:
    page = client.get(url)
    assert page.status_code == 200, page.get_data(as_text=True)
    token = csrf_token(page.get_data(as_text=True))
    return post_multipart(client, url, {"csrf_token": token, **answers})


def _case_id(response: Any) -> uuid.UUID:
    assert response.status_code == 302, response.get_data(as_text=True)
    return uuid.UUID(response.headers["Location"].rsplit("/", 1)[-1])


def _extension(anna: FlaskClient) -> uuid.UUID:
    return _case_id(_place(anna, f"/services/{EXTENSION}/order", EXTENSION_ANSWERS))


def _value(page: str, name: str) -> str | None:
    """The value an <input name=...> is shown with (or the selected option of a <select>)."""
    tag = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', page)
    if tag:
        value = re.search(r'value="([^"]*)"', tag.group(0))
        return html.unescape(value.group(1)) if value else None
    select_ = re.search(rf'<select[^>]*name="{re.escape(name)}".*?</select>', page, re.S)
    if select_:
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', select_.group(0))
        return chosen.group(1) if chosen else None
    return None


def _counts(runtime: Any) -> dict[str, int]:
    with runtime.sessions() as session:
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (CaseFile, Document, JournalEntry, Message, Step)
        }


def _journal(runtime: Any, case_id: uuid.UUID, action: str) -> list[dict[str, Any]]:
    with runtime.sessions() as session:
        return list(
            session.scalars(
                select(JournalEntry.payload)
                .where(JournalEntry.case_id == case_id, JournalEntry.action == action)
                .order_by(JournalEntry.seq)
            )
        )


def test_a_follow_up_is_offered_prefilled_and_linked_both_ways(anna, app, demo, runtime, tmp_path):
    original = _extension(anna)
    with runtime.sessions() as session:
        reference = session.get_one(CaseFile, original).reference

    # The dossier offers the case type's follow-ups to its holder.
    dossier = anna.get(f"/cases/{original}").get_data(as_text=True)
    offer = f"/services/{INSTALMENTS}/order?from={original}"
    assert 'id="follow-ups"' in dossier
    assert f'href="{offer}"' in dossier

    # The form is pre-filled from the case file: the original order's answers of the same
    # name (tax year, taxpayer number) and the register data; what is new stays empty.
    form = anna.get(offer)
    assert form.status_code == 200
    page = form.get_data(as_text=True)
    assert _value(page, "tax_year") == "2025"
    assert _value(page, "tax_reference") == "LU-4711.0815"
    assert _value(page, "amount_open") in (None, "")
    assert "Krankheit im Frühling." not in page  # free text belongs to its own request
    assert reference in page  # the notice names the case file it follows
    assert f'action="/services/{INSTALMENTS}/order?from={original}"' in page

    token = csrf_token(page)
    answers = {"tax_year": "2025", "tax_reference": "LU-4711.0815", **INSTALMENT_ANSWERS}
    follow_up = _case_id(post_multipart(anna, offer, {"csrf_token": token, **answers}))
    assert follow_up != original

    # A new case file of the follow-up service, linked to the original in both journals.
    with runtime.sessions() as session:
        new = session.get_one(CaseFile, follow_up)
        assert new.case_type == INSTALMENTS
        new_reference = new.reference
    (ordered,) = _journal(runtime, follow_up, "case.ordered")
    assert ordered["follow_up_of"] == {"case_id": str(original), "reference": reference}
    (linked,) = _journal(runtime, original, "case.follow_up_ordered")
    assert linked["case_id"] == str(follow_up)
    assert linked["reference"] == new_reference
    assert linked["service"] == INSTALMENTS

    # Each dossier shows the link to the other; the history says what happened in words.
    back = anna.get(f"/cases/{original}").get_data(as_text=True)
    assert f'href="/cases/{follow_up}"' in back
    assert new_reference in back
    assert "case.follow_up_ordered" not in back
    forth = anna.get(f"/cases/{follow_up}").get_data(as_text=True)
    assert f'href="/cases/{original}"' in forth
    assert "case.ordered" not in forth

    # The tax office's clerk sees the original case file with the follow-up named, not linked
    # (the instalment plan is the commune's), and is offered nothing to order.
    clerk = app.test_client()
    login(clerk, demo["steuern@lu.demo"])
    seen = clerk.get(f"/cases/{original}").get_data(as_text=True)
    assert new_reference in seen
    assert f'href="/cases/{follow_up}"' not in seen
    assert "?from=" not in seen
    assert clerk.get(f"/services/{INSTALMENTS}/order?from={original}").status_code == 403
    # The commune's tax office sees the instalment case file naming the one it follows.
    clerk_of(runtime, "stadt-luzern-steueramt")
    commune = app.test_client()
    login(commune, {"login": "clerk@stadt-luzern-steueramt.test", "password": PASSWORD})
    seen = commune.get(f"/cases/{follow_up}").get_data(as_text=True)
    assert reference in seen
    assert f'href="/cases/{original}"' not in seen

    result = run_verify(runtime, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_french_form_of_a_follow_up_is_prefilled_too(anna, runtime):
    original = _extension(anna)
    page = anna.get(f"/services/{INSTALMENTS}/order?from={original}&lang=fr").get_data(as_text=True)
    assert "Paiement échelonné des impôts" in page
    assert "Prolongation du délai pour la déclaration d&#39;impôt" in page  # what it follows
    assert _value(page, "tax_year") == "2025"


def test_another_residents_case_file_cannot_be_named(anna, beat, runtime):
    original = _extension(anna)
    offer = f"/services/{INSTALMENTS}/order?from={original}"
    assert 'href="/services/' not in beat.get(f"/cases/{original}").get_data(as_text=True)
    refused = beat.get(offer)
    assert refused.status_code == 404
    # A clear message, in the reader's language (German is the portal's default).
    assert "Folgeleistung" in refused.get_data(as_text=True)
    english = beat.get(offer + "&lang=en")
    assert english.status_code == 404
    assert "order a follow-up from it" in english.get_data(as_text=True)
    beat.get("/services?lang=de")  # back to German for what follows
    assert "LU-4711.0815" not in refused.get_data(as_text=True)

    # A forged POST with Beat's own form token: refused, nothing stored.
    token = csrf_token(beat.get(f"/services/{INSTALMENTS}/order").get_data(as_text=True))
    before = _counts(runtime)
    answers = {"tax_year": "2025", **INSTALMENT_ANSWERS, "csrf_token": token}
    response = post_multipart(beat, offer, answers)
    assert response.status_code == 404
    assert _counts(runtime) == before
    assert _journal(runtime, original, "case.follow_up_ordered") == []


@pytest.mark.parametrize("forged", ["not-a-uuid", str(uuid.uuid4())])
def test_a_case_file_that_does_not_exist_is_404(anna, forged):
    response = anna.get(f"/services/{INSTALMENTS}/order?from={forged}")
    assert response.status_code == 404


def test_a_service_the_case_type_does_not_offer_is_refused(anna, runtime):
    original = _extension(anna)
    forged = f"/services/hund-anmelden/order?from={original}"
    page = anna.get(forged)
    assert page.status_code == 422
    assert "«Hund anmelden»" in page.get_data(as_text=True)  # the message names the service

    token = csrf_token(anna.get("/services/hund-anmelden/order").get_data(as_text=True))
    before = _counts(runtime)
    response = post_multipart(anna, forged, {"csrf_token": token, "dog_name": "Bello"})
    assert response.status_code == 422
    assert _counts(runtime) == before
    # The extension does not offer itself either.
    assert anna.get(f"/services/{EXTENSION}/order?from={original}").status_code == 422


def test_a_case_file_that_was_not_ordered_offers_nothing(anna, runtime, demo):
    # An ordered case file whose type offers no follow-ups (the residence certificate).
    certificate = _case_id(
        _place(anna, "/services/wohnsitzbestaetigung/order", {"purpose": "employer"})
    )
    dossier = anna.get(f"/cases/{certificate}").get_data(as_text=True)
    assert 'id="follow-ups"' not in dossier
    refused = anna.get(f"/services/{INSTALMENTS}/order?from={certificate}")
    assert refused.status_code == 422


def test_the_prefill_ignores_a_filing_that_does_not_match_its_digest(anna, runtime):
    """The answers are read from the order's JSON filing only if they are what the journal's
    digest says; a changed journal digest (standing for a swapped filing) prefills nothing of
    the original order, the register data still comes."""
    original = _extension(anna)
    with runtime.transaction() as session:
        entry = session.scalars(
            select(JournalEntry).where(
                JournalEntry.case_id == original, JournalEntry.action == "case.ordered"
            )
        ).one()
        # Outside the domain, on purpose: what a broken store would hand back.
        entry.payload = {**entry.payload, "answers_sha256": "0" * 64}
    page = anna.get(f"/services/{INSTALMENTS}/order?from={original}").get_data(as_text=True)
    assert _value(page, "tax_year") in (None, "")
    assert _value(page, "tax_reference") in (None, "")


def test_the_history_names_steps_by_their_title_not_by_the_action(anna, demo, runtime):
    """A clerk claims the extension's step: the resident's history names the step as declared,
    in the reader's language, never `step.claimed`."""
    original = _extension(anna)
    with runtime.transaction() as session:
        account = session.scalars(
            select(Account).where(Account.login == demo["steuern@lu.demo"]["login"])
        ).one()
        decide = session.scalars(
            select(Step).where(Step.case_id == original, Step.step_id == "decide")
        ).one()
        steps.claim(session, Actor.for_account(account), decide.id)
    page = anna.get(f"/cases/{original}").get_data(as_text=True)
    history = page[page.index('id="journal-title"') :]
    assert "Gesuch prüfen und entscheiden" in history
    assert "step.claimed" not in history
    french = anna.get(f"/cases/{original}?lang=fr").get_data(as_text=True)
    assert "Examiner la demande et décider" in french[french.index('id="journal-title"') :]


def test_declared_prefills_take_the_case_file_and_the_named_answer(anna, app, demo, runtime):
    """`prefill: case.reference` and `prefill: answer.NAME` (a field named differently from the
    original's) as a declaration may write them, read with the resident's rights."""
    original = _extension(anna)
    shipped = registry.default().get(INSTALMENTS)
    assert shipped is not None
    base = shipped.form[0]  # a text field
    form = (
        dataclasses.replace(base, name="steuernummer", prefill="answer.tax_reference"),
        dataclasses.replace(base, name="dossier", prefill="case.reference"),
        dataclasses.replace(base, name="titel", prefill="case.title"),
        dataclasses.replace(base, name="nummer_extern", prefill="case.external_ref"),
    )
    service = dataclasses.replace(shipped, form=form, attachments=())
    anna_actor = actor_of(runtime, demo["resident"]["login"])
    beat_actor = actor_of(runtime, demo["other_resident"]["login"])
    with app.test_request_context("/"):
        case = db().get_one(CaseFile, original)
        values = followups.prefilled_from_case(service, case, anna_actor)
        assert values == {
            "steuernummer": "LU-4711.0815",
            "dossier": case.reference,
            "titel": case.title,
        }  # no external reference: an ordered case file has none
        # Read with the reader's rights: another resident gets nothing of the answers.
        assert followups.ordered_answers(case, beat_actor) == {}
