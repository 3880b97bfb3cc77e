"""A follow-up ordered from inside a dossier in a real browser: Anna's deadline extension for her
tax return offers the instalment plan; the form comes pre-filled from the case file, keeps its
link through a correction, and both dossiers link to each other. In German on a desktop and in
French on a 375 px phone. Elements are found by ids, names and structure."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.test_catalogue import assert_fits
from tests.browser.test_core_loop import PHONE, SUBMIT, log_in
from tests.browser.test_ordering_and_steps import off_loop
from tests.support.ordering_world import actor_of, place

EXTENSION = {
    "tax_year": "2025",
    "tax_reference": "LU-4711.0815",
    "requested_until": "until_1130",
    "reason": "Krankheit im Frühling.",
}
INSTALMENTS = "ratenzahlung-steuern"


def _extension(runtime: Any, demo: dict[str, Any]) -> uuid.UUID:
    anna = actor_of(runtime, demo["resident"]["login"])
    case_id: uuid.UUID = off_loop(
        lambda: place(runtime, anna, "fristerstreckung-steuererklaerung", EXTENSION)
    )
    return case_id


def _follow_up(page: Page, case_id: uuid.UUID, lang: str, title: str, *, phone: bool) -> uuid.UUID:
    page.goto(f"/cases/{case_id}?lang={lang}")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    section = page.locator("#follow-ups")
    offer = section.locator(f"a[href='/services/{INSTALMENTS}/order?from={case_id}']")
    expect(offer).to_have_text(title)
    if phone:
        assert_fits(page)
    offer.click()

    # The form, pre-filled from the case file and saying which one it follows.
    expect(page).to_have_url(re.compile(rf"/services/{INSTALMENTS}/order\?from={case_id}$"))
    expect(page.locator("h1")).to_contain_text(title)
    reference = page.locator(".follow-up-of a[href='/cases/" + str(case_id) + "']")
    expect(reference).to_have_count(1)
    expect(page.locator("#field-tax_year")).to_have_value("2025")
    expect(page.locator("#field-tax_reference")).to_have_value("LU-4711.0815")
    expect(page.locator("#field-amount_open")).to_have_value("")
    expect(page.locator("#field-reason")).to_have_value("")  # the extension's reasons stay there
    if phone:
        assert_fits(page)

    # A missing value: the error beside the field, the follow-up still knows its case file.
    form = page.locator("main form[enctype='multipart/form-data']")
    form.locator("#field-bill").select_option("final")
    form.locator("#field-amount_open").fill("4800")
    form.locator("#field-reason").fill("Arbeitslos seit Oktober.")
    form.locator(SUBMIT).click()
    expect(page.locator("#field-monthly_rate-error")).to_be_visible()
    expect(page.locator("#field-tax_year")).to_have_value("2025")
    expect(page.locator(".follow-up-of")).to_have_count(1)
    page.locator("#field-monthly_rate").fill("400")
    page.locator(f"main form {SUBMIT}").click()
    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    expect(page.locator(f".follow-up-of a[href='/cases/{case_id}']")).to_have_count(1)
    return uuid.UUID(page.url.rsplit("/", 1)[-1])


def _linked_both_ways(page: Page, original: uuid.UUID, follow_up: uuid.UUID, lang: str) -> None:
    page.goto(f"/cases/{follow_up}?lang={lang}")
    expect(page.locator(f"#follow-ups .follow-up-of a[href='/cases/{original}']")).to_have_count(1)
    history = page.locator("section[aria-labelledby='journal-title']")
    expect(history).not_to_contain_text("case.ordered")
    page.goto(f"/cases/{original}?lang={lang}")
    ordered = page.locator(f"#follow-ups .follow-ups-ordered a[href='/cases/{follow_up}']")
    expect(ordered).to_have_count(1)
    history = page.locator("section[aria-labelledby='journal-title']")
    expect(history).not_to_contain_text("case.follow_up_ordered")
    expect(history).to_contain_text(ordered.inner_text())  # the new case file's reference


def test_a_follow_up_from_a_dossier_in_german(
    new_page: Any, demo: dict[str, Any], runtime: Any
) -> None:
    original = _extension(runtime, demo)
    page: Page = new_page()
    log_in(page, demo["resident"])
    follow_up = _follow_up(page, original, "de", "Ratenzahlung für Steuern", phone=False)
    _linked_both_ways(page, original, follow_up, "de")

    # Beat cannot order from Anna's case file: he is told, nothing is offered.
    beat = new_page()
    log_in(beat, demo["other_resident"])
    response = beat.goto(f"/services/{INSTALMENTS}/order?from={original}")
    assert response is not None and response.status == 404
    expect(beat.locator("main form[enctype='multipart/form-data']")).to_have_count(0)


def test_a_follow_up_from_a_dossier_in_french_on_a_phone(
    new_page: Any, demo: dict[str, Any], runtime: Any
) -> None:
    original = _extension(runtime, demo)
    page: Page = new_page(viewport=PHONE)
    log_in(page, demo["resident"])
    follow_up = _follow_up(page, original, "fr", "Paiement échelonné des impôts", phone=True)
    _linked_both_ways(page, original, follow_up, "fr")
    assert_fits(page)
