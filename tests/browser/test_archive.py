"""The archivists' workbench in a real browser: archivist A proposes to archive a closed case
file with the keyboard, archivist B approves, makes an export and watches its progress bar
finish, downloads the package (a zip with bagit.txt) and marks the case file transferred; a
destruction proposed by A is confirmed by B, after which the dossier is gone (404) and the
archive shows the register's record. On a desktop, and the list on a 375 px phone."""

from __future__ import annotations

import re
import uuid
import zipfile
from typing import Any

from playwright.sync_api import Page, expect

from casefiles.models import CaseStatus
from tests.browser.test_catalogue import assert_fits
from tests.browser.test_core_loop import PHONE, SUBMIT, log_in
from tests.browser.test_ordering_and_steps import off_loop
from tests.support.archive_world import case_row, close_cases

SECOND = "archiv2@staatsarchiv.demo"


def _open_case(page: Page, reference_of: uuid.UUID) -> None:
    page.locator(f"main a[href='/archive/cases/{reference_of}']").click()
    expect(page).to_have_url(re.compile(rf"/archive/cases/{reference_of}$"))


def _propose_with_the_keyboard(page: Page, disposition: str, reason: str) -> None:
    form = page.locator("#propose form")
    form.locator(f"#disposition-{disposition}").check()
    page.locator("#field-reason").focus()
    page.keyboard.type(reason)
    page.keyboard.press("Tab")
    expect(form.locator(SUBMIT)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".flash-success")).to_be_visible()
    # The proposer has no buttons: a second archivist must decide.
    expect(page.locator("#pending .four-eyes")).to_be_visible()
    expect(page.locator("#pending form")).to_have_count(0)


def test_appraise_approve_export_download_and_transfer(
    new_page: Any, demo: dict[str, Any], runtime: Any, shot: Any, tmp_path: Any
) -> None:
    ids = off_loop(lambda: close_cases(runtime, ["Wohnsitzbestätigung 2014"], document=True))
    off_loop(lambda: close_cases(runtime, ["Hundebewilligung 2013", "Parkkarte Zone B 2012"],
                                 disposition="destroy"))  # fmt: skip
    off_loop(lambda: close_cases(runtime, ["Baubewilligung Gartenhaus"], years=10))
    case_id = ids[0]

    first = new_page()
    log_in(first, demo["archivist"])
    expect(first).to_have_url(re.compile(r"/archive$"))  # the archivist's landing page
    expect(first.locator("main table caption")).to_be_visible()
    expect(first.locator("main tbody tr")).to_have_count(4)
    shot(first, "archive-list")
    # Filter with the keyboard: type into the search box and press Enter.
    first.locator("#field-q").fill("Wohnsitz")
    first.keyboard.press("Enter")
    expect(first).to_have_url(re.compile(r"q=Wohnsitz"))
    expect(first.locator("main tbody tr")).to_have_count(1)
    _open_case(first, case_id)
    _propose_with_the_keyboard(first, "archive", "Historisch wertvoll: erste Bestätigung")

    second = new_page()
    log_in(second, demo[SECOND])
    second.goto(f"/archive/cases/{case_id}")
    decide = second.locator("#pending form")
    expect(decide).to_be_visible()
    decide.locator("button[name=decision][value=approve]").click()
    expect(second.locator(".flash-success")).to_be_visible()
    expect(second.locator("#export form")).to_be_visible()
    shot(second, "archive-case")

    second.locator("#packaging-bagit").check()
    second.locator(f"#export form {SUBMIT}").click()
    expect(second).to_have_url(re.compile(r"/archive/exports/[0-9a-f-]{36}$"))
    bar = second.locator("progress#export-bar")
    expect(bar).to_be_visible()
    expect(second.locator("#export-download-link")).to_be_visible(timeout=60_000)
    assert bar.evaluate("b => b.value === b.max && b.max > 0")
    expect(second.locator("#export-text")).not_to_be_empty()
    shot(second, "archive-export")
    with second.expect_download() as info:
        second.locator("#export-download-link").click()
    path = tmp_path / "package.zip"
    info.value.save_as(path)
    with zipfile.ZipFile(path) as package:
        names = package.namelist()
    assert any(n.endswith("/bagit.txt") for n in names), names

    second.goto(f"/archive/cases/{case_id}")
    transfer = second.locator("#exports form")
    transfer.locator(SUBMIT).click()
    expect(second.locator(".flash-success")).to_be_visible()
    row = case_row(runtime, case_id)
    assert row is not None and row.status == CaseStatus.TRANSFERRED
    expect(second.locator("#exports form")).to_have_count(0)


def test_destruction_confirmed_by_a_second_archivist(
    new_page: Any, demo: dict[str, Any], runtime: Any
) -> None:
    (case_id,) = off_loop(
        lambda: close_cases(runtime, ["Parkkarte 2012"], disposition="destroy", document=True)
    )
    first = new_page()
    log_in(first, demo["archivist"])
    _open_case(first, case_id)
    reference = first.locator("main .breadcrumbs li[aria-current=page]").inner_text()
    _propose_with_the_keyboard(first, "destroy", "Ohne bleibenden Wert")

    second = new_page(viewport=PHONE)
    log_in(second, demo[SECOND])
    assert_fits(second)  # the list on a phone
    _open_case(second, case_id)
    assert_fits(second)
    second.locator("#pending a[href$='/approve']").click()
    expect(second).to_have_url(re.compile(r"/archive/appraisals/[0-9a-f-]{36}/approve$"))
    expect(second.locator(".warning-card")).to_be_visible()
    assert_fits(second)
    # Without the confirmation the browser itself holds the form back; with the keyboard:
    second.locator("#field-confirm").focus()
    second.keyboard.press("Space")
    expect(second.locator("#field-confirm")).to_be_checked()
    second.locator("main form button[name=decision][value=approve]").click()
    expect(second).to_have_url(re.compile(rf"/archive/cases/{case_id}$"))
    expect(second.locator("main h1")).to_contain_text(reference)
    expect(second.locator("main")).to_contain_text("Ohne bleibenden Wert")
    assert case_row(runtime, case_id) is None
    response = second.goto(f"/cases/{case_id}")
    assert response is not None and response.status == 404
