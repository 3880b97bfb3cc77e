"""The catalogue in a real browser: a resident searches by keyboard on a phone-size screen, sees
the office of her own commune, opens a service and finds the order button; nothing scrolls
sideways. In German and French. Elements are found by structure, not by their words."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.test_core_loop import PHONE, log_in


def assert_fits(page: Page) -> None:
    page.wait_for_load_state("load")
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[1] == PHONE["width"]
    assert widths[0] <= widths[1], f"{page.url} scrolls sideways: {widths}"


def test_a_resident_searches_the_catalogue_on_a_phone(
    new_page: Any, demo: dict[str, Any], shot: Any
) -> None:
    page = new_page(viewport=PHONE)
    log_in(page, demo["resident"])  # lives in Luzern
    page.locator("nav.site-nav a[href='/services']").click()
    expect(page).to_have_url(re.compile(r"/services$"))
    expect(page.locator("main h2").first).to_be_visible()
    assert_fits(page)
    shot(page, "catalogue-phone")

    search = page.locator("#field-q")
    search.focus()
    page.keyboard.type("Wohnsitzbestätigung")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/services\?q="))
    cards = page.locator("main li.card")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("Stadt Luzern, Einwohnerdienste")
    expect(cards.first).to_contain_text("CHF 20.00")
    assert_fits(page)

    cards.first.locator("h4 a").click()
    expect(page).to_have_url(re.compile(r"/services/wohnsitzbestaetigung$"))
    expect(page.locator("main h1")).to_have_text("Wohnsitzbestätigung")
    order = page.locator("main a.button-primary")
    expect(order).to_have_attribute("href", "/services/wohnsitzbestaetigung/order")
    assert_fits(page)
    shot(page, "catalogue-service-phone")

    # The same page in French: the service's own texts follow the language.
    page.goto("/services/wohnsitzbestaetigung?lang=fr")
    expect(page.locator("main h1")).to_have_text("Attestation de domicile")
    assert_fits(page)


def test_a_visitor_sees_the_catalogue_on_a_desktop(
    new_page: Any, demo: dict[str, Any], shot: Any
) -> None:
    page = new_page()
    page.goto("/services")
    expect(page.locator("main li.card").first).to_be_visible()
    # Every card links to a page of its own and shows a fee.
    assert page.locator("main li.card h4 a").count() == page.locator("main li.card").count()
    shot(page, "catalogue")
