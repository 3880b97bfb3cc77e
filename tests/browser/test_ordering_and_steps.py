"""Ordering and the steps of an order in a real browser: a resident orders with a bad field (the
error beside it and in the summary, the values kept), a clerk finds the step in the queue, claims
it and asks for information, the resident answers inside the dossier. In German on a desktop,
and in French on a 375 px phone. Elements are found by ids, names and structure."""

from __future__ import annotations

import concurrent.futures
import re
import uuid
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect
from sqlalchemy import select

from catalogue import steps
from catalogue.models import Step, StepStatus
from catalogue.outcomes import NeedsInformation
from tests.browser.test_catalogue import assert_fits
from tests.browser.test_core_loop import PHONE, SUBMIT, log_in
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
EMMEN = "emmen-einwohnerdienste"


def _step(runtime: Any, case_id: uuid.UUID, step_id: str) -> Step:
    with runtime.sessions() as session:
        row = session.scalars(
            select(Step).where(Step.case_id == case_id, Step.step_id == step_id)
        ).one()
        session.expunge(row)
        return row


def off_loop(work: Callable[[], Any]) -> Any:
    """Domain work (sealing runs asyncio.run) in a thread of its own: in this one Playwright's
    loop counts as running while the test uses the browser (tests/browser/conftest.py)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


def _ask(runtime: Any, case_id: uuid.UUID, question: str) -> Step:
    register = _step(runtime, case_id, "register")
    with runtime.transaction() as session:
        steps.record_outcome(session, clerk_of(runtime, EMMEN), register.id,
                             NeedsInformation(question))  # fmt: skip
    return register


def test_order_with_a_bad_field_then_the_clerk_asks_and_the_resident_answers(
    new_page: Any, demo: dict[str, Any], runtime: Any, shot: Any
) -> None:
    resident = new_page()
    log_in(resident, demo["resident"])  # Anna lives in Luzern and moves to Emmen
    resident.goto("/services")
    expect(resident.locator("main li.card").first).to_be_visible()
    shot(resident, "catalogue")

    # The form, with the plates left out although she has a vehicle.
    resident.goto("/services/umzug-melden/order")
    form = resident.locator("main form[enctype='multipart/form-data']")
    form.locator("#field-move_type").select_option("within_canton")
    form.locator("#field-move_date").fill("2026-11-30")
    form.locator("#field-new_commune").select_option("1024")
    form.locator("#field-new_address").fill("Gerliswilstrasse 10")
    form.locator("[name='new_address.postcode']").fill("6020")
    form.locator("[name='new_address.town']").fill("Emmenbrücke")
    form.locator("#field-has_vehicle").select_option("yes")
    form.locator(SUBMIT).click()

    # The error beside the field and in the summary at the top; the values are kept.
    summary = resident.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary.locator("a[href='#field-plate_numbers']")).to_have_count(1)
    expect(resident.locator("#field-plate_numbers-error")).to_be_visible()
    expect(resident.locator("#field-plate_numbers")).to_have_attribute("aria-invalid", "true")
    expect(resident.locator("#field-new_address")).to_have_value("Gerliswilstrasse 10")
    expect(resident.locator("#field-new_commune")).to_have_value("1024")
    expect(resident.locator("#field-move_date")).to_have_value("2026-11-30")
    shot(resident, "order-form")
    summary.locator("a[href='#field-plate_numbers']").click()
    expect(resident.locator("#field-plate_numbers")).to_be_focused()
    resident.keyboard.type("LU 248135")
    resident.locator(f"main form {SUBMIT}").click()
    expect(resident).to_have_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    case_id = uuid.UUID(resident.url.rsplit("/", 1)[-1])
    register = _step(runtime, case_id, "register")

    # The clerk of Emmen finds the step in the queue (filtered), claims it and asks.
    clerk_of(runtime, EMMEN)
    clerk = new_page()
    log_in(clerk, {"login": f"clerk@{EMMEN}.test", "password": PASSWORD})
    clerk.locator("nav.site-nav a[href='/office/steps']").click()
    filters = clerk.locator("main form[role='search']")
    filters.locator("#field-status").select_option("open")
    filters.locator("#field-service").select_option("umzug-melden")
    filters.locator(SUBMIT).click()
    expect(clerk).to_have_url(re.compile(r"status=open"))
    row = clerk.locator(
        "main tbody tr", has=clerk.locator(f"a[href='/office/steps/{register.id}']")
    )
    expect(row).to_have_count(1)
    shot(clerk, "step-queue")
    row.locator(f"form[action='/office/steps/{register.id}/claim'] {SUBMIT}").click()
    expect(clerk).to_have_url(re.compile(rf"/office/steps/{register.id}$"))
    expect(clerk.locator(".flash-success")).to_be_visible()
    assert _step(runtime, case_id, "register").status == StepStatus.CLAIMED
    expect(clerk.locator("main")).to_contain_text("Gerliswilstrasse 10")  # the order's answers

    ask = clerk.locator("main form", has=clerk.locator("input[name=kind][value=needs_information]"))
    expect(ask.locator("legend")).to_be_visible()
    ask.locator("#field-needs_information-question").fill("   ")  # blank: passes `required`
    ask.locator(SUBMIT).click()  # refused by the server beside the field, nothing stored
    expect(clerk.locator("#field-needs_information-question-error")).to_be_visible()
    assert _step(runtime, case_id, "register").status == StepStatus.CLAIMED
    ask = clerk.locator("main form", has=clerk.locator("input[name=kind][value=needs_information]"))
    ask.locator("#field-needs_information-question").fill("Bitte senden Sie den Mietvertrag.")
    ask.locator(SUBMIT).click()
    expect(clerk.locator(".flash-success")).to_be_visible()
    assert _step(runtime, case_id, "register").status == StepStatus.NEEDS_INFORMATION

    # Anna answers inside her dossier; the step goes back to the clerk.
    resident.goto(f"/cases/{case_id}")
    process = resident.locator("#process")
    expect(process).to_contain_text("Bitte senden Sie den Mietvertrag.")
    expect(process).to_contain_text("Ihre Angaben werden benötigt")
    expect(process.locator(".request-for-information strong")).to_contain_text(
        re.compile(r"\d\d\.\d\d\.\d{4}")
    )  # the deadline
    process.locator("#field-answer-text").fill("Der Mietvertrag folgt per Post.")
    process.locator(SUBMIT).click()
    expect(resident.locator(".flash-success")).to_be_visible()
    expect(resident.locator("#field-answer-text")).to_have_count(0)
    assert _step(runtime, case_id, "register").status == StepStatus.CLAIMED
    clerk.goto(f"/cases/{case_id}")
    expect(clerk.locator("#messages")).to_contain_text("Der Mietvertrag folgt per Post.")


def test_a_request_for_information_answered_in_french_on_a_phone(
    new_page: Any, demo: dict[str, Any], runtime: Any
) -> None:
    anna = actor_of(runtime, demo["resident"]["login"])
    case_id = off_loop(lambda: place(runtime, anna, "umzug-melden", MOVE))
    register = off_loop(lambda: _ask(runtime, case_id, "Merci d'envoyer le bail."))

    page: Page = new_page(viewport=PHONE)
    log_in(page, demo["resident"])
    page.goto(f"/cases/{case_id}?lang=fr")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    process = page.locator("#process")
    expect(process).to_contain_text("Vos informations sont requises")
    expect(process).to_contain_text("Inscription")  # the step's French title
    assert_fits(page)

    # An empty answer: the error beside the field, the step still waits.
    process.locator("#field-answer-text").fill("   ")
    process.locator(SUBMIT).click()
    expect(page.locator("#field-answer-text-error")).to_be_visible()
    assert _step(runtime, case_id, "register").status == StepStatus.NEEDS_INFORMATION
    assert_fits(page)
    page.locator("#field-answer-text").fill("Le bail est joint.")
    page.locator("#process " + SUBMIT).click()
    expect(page.locator(".flash-success")).to_be_visible()
    assert _step(runtime, case_id, "register").status == StepStatus.OPEN

    # The clerk's queue fits the phone too (the table scrolls on its own).
    clerk = new_page(viewport=PHONE)
    log_in(clerk, {"login": f"clerk@{EMMEN}.test", "password": PASSWORD})
    clerk.goto("/office/steps?lang=fr")
    expect(clerk.locator(f"main a[href='/office/steps/{register.id}']").first).to_be_visible()
    assert_fits(clerk)
    clerk.goto(f"/office/steps/{register.id}")
    expect(clerk.locator("main form.outcome-form")).to_have_count(5)
    assert_fits(clerk)
